/*
 * client_rpc.h - the gRPC C core plumbing under libparley-client and the `parley` commands:
 * channels (plaintext or TLS), the API-key metadata, one unary call, and a bidirectional call
 * (struct pl__rpc_stream) with one send and one receive outstanding at a time on its own
 * completion queue. Internal: not installed; the public API is parley/client.h.
 *
 * A stream is driven by its owner's loop:
 *
 *     struct pl__rpc_stream s;
 *     PL_TRY(pl__rpc_stream_open(&s, ch, method, api_key, timeout_ms, &first.base));
 *     while (!pl__rpc_stream_done(&s)) {
 *         int tag = pl__rpc_stream_next(&s, gpr_inf_future(GPR_CLOCK_MONOTONIC));
 *         if (tag < 0) break;
 *         if (tag == PL__RPC_RECV && s.recv) { use(s.recv); pl__rpc_stream_recv_more(&s); }
 *         if (pl__rpc_stream_can_send(&s)) ... pl__rpc_stream_send(&s, &m.base) or _close_send
 *     }
 *     ... s.status, s.details ...
 *     pl__rpc_stream_deinit(&s);
 *
 * Thread-safety: a channel may be shared; each stream belongs to one thread at a time.
 */
#ifndef PL_CLIENT_RPC_H
#define PL_CLIENT_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include "proto_util.h"
#include "status.h"

/* A channel to target (host:port) sending and receiving messages up to 1 GiB (a whole audio
 * file fits in one RecognizeRequest). tls: verify the server with ca_pem (NULL = the system's
 * roots); server_name (NULL = target's host) overrides the name checked. grpc_init() must
 * have been called. OUT: *out (caller owns; grpc_channel_destroy). Errors: PL_E_INTERNAL. */
pl_status pl__rpc_channel(const char *target, bool tls, const char *ca_pem,
                          const char *server_name, grpc_channel **out);

/* The call's initial metadata: "authorization: Bearer <api_key>", or none when api_key is
 * NULL. Send n entries of md; pl__rpc_auth_deinit() after the call. */
struct pl__rpc_auth {
    grpc_metadata md;
    size_t n;
};
void pl__rpc_auth_init(struct pl__rpc_auth *a, const char *api_key);
void pl__rpc_auth_deinit(struct pl__rpc_auth *a);

/* A finished call's gRPC status and details (a NUL-terminated copy, caller owns: pl_free). */
struct pl__rpc_result {
    grpc_status_code status;
    char *details;
};

/*
 * One unary call of method ("/nvidia.riva.nlp.RivaLanguageUnderstanding/PunctuateText") with
 * the request bytes, at most timeout_ms. *r gets the status and details (details NULL when
 * OK); on GRPC_STATUS_OK *resp holds the response bytes (caller owns, pl_free), else NULL.
 * Returns PL_OK when the call ran (whatever its status), PL_E_NOMEM / PL_E_INTERNAL when it
 * could not.
 */
pl_status pl__rpc_unary(grpc_channel *ch, const char *method, const char *api_key,
                        const void *req, size_t n, int64_t timeout_ms, struct pl__rpc_result *r,
                        uint8_t **resp, size_t *resp_len);

/* m packed into a byte buffer for GRPC_OP_SEND_MESSAGE (caller owns, grpc_byte_buffer_destroy),
 * or NULL when it cannot be packed. */
grpc_byte_buffer *pl__rpc_pack(const ProtobufCMessage *m);

/* A received byte buffer unpacked as a message of descriptor d. OUT: *out (caller owns,
 * pl_proto_free). Errors: pl_proto_unpack's. */
pl_status pl__rpc_unpack(grpc_byte_buffer *bb, const ProtobufCMessageDescriptor *d,
                         ProtobufCMessage **out);

/* Tags of a stream's completion-queue events, as pl__rpc_stream_next returns them. */
enum { PL__RPC_STATUS = 1, PL__RPC_SEND = 2, PL__RPC_RECV = 3 };

struct pl__rpc_stream {
    grpc_completion_queue *cq;
    grpc_call *call;
    struct pl__rpc_auth auth;
    grpc_metadata_array init_md, trail_md;
    grpc_status_code status; /* valid once status_done */
    grpc_slice details;
    grpc_byte_buffer *recv;  /* after a PL__RPC_RECV event: the message, NULL at the end */
    grpc_byte_buffer *out;   /* the message being sent */
    bool send_busy, closed, recv_done, status_done;
};

/*
 * Start a bidirectional call of method on ch: receive the status, send the initial metadata
 * (the API key when not NULL) with first (NULL: metadata only), and wait for the first
 * message. The whole call has timeout_ms. Errors: PL_E_NOMEM, PL_E_INTERNAL (a batch did not
 * start); *s needs no deinit then.
 */
pl_status pl__rpc_stream_open(struct pl__rpc_stream *s, grpc_channel *ch, const char *method,
                              const char *api_key, int64_t timeout_ms,
                              const ProtobufCMessage *first);

/* Wait up to deadline for one event and account for it. Returns its tag, 0 on timeout, -1
 * when the queue ended (it does not before deinit). After PL__RPC_RECV with s->recv set, use
 * the message and call pl__rpc_stream_recv_more. */
int pl__rpc_stream_next(struct pl__rpc_stream *s, gpr_timespec deadline);

/* Free the received message and ask for the next one. */
void pl__rpc_stream_recv_more(struct pl__rpc_stream *s);

/* Nothing being sent, the client side open and the call not over. */
bool pl__rpc_stream_can_send(const struct pl__rpc_stream *s);

/* Start sending m (pl__rpc_stream_can_send must be true). Errors: PL_E_NOMEM,
 * PL_E_INTERNAL. */
pl_status pl__rpc_stream_send(struct pl__rpc_stream *s, const ProtobufCMessage *m);

/* Half-close the client side (pl__rpc_stream_can_send must be true). */
pl_status pl__rpc_stream_close_send(struct pl__rpc_stream *s);

/* Everything received and the status too. */
bool pl__rpc_stream_done(const struct pl__rpc_stream *s);

/* Cancel the call when it is not done, drain and free everything; a zeroed s is a no-op. */
void pl__rpc_stream_deinit(struct pl__rpc_stream *s);

/* The details of a finished stream as a NUL-terminated string (caller owns: gpr_free). */
char *pl__rpc_stream_details(const struct pl__rpc_stream *s);

#endif
