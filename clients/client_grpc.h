/*
 * client_grpc.h - gRPC plumbing shared by the commands that call the gateway (transcribe,
 * ask, chat, perf --dialog): the channel, the API-key metadata, the report of a failed call,
 * one unary call, and protobuf messages to and from byte buffers. Internal (not an API); it
 * wraps the plumbing of libparley-client (clients/c/client_rpc.h), whose stream helper
 * (pl__rpc_stream) `parley transcribe --stream` and `parley synthesize --stream` use.
 *
 * Thread-safety: none needed (the client is single-threaded); each struct belongs to one call.
 */
#ifndef PL_CLIENT_GRPC_H
#define PL_CLIENT_GRPC_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <grpc/grpc.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>

#include "client_rpc.h"
#include "proto_util.h"

/* An insecure channel to server (host:port) that sends and receives messages up to 1 GiB
 * (a whole audio file fits in one RecognizeRequest): pl__rpc_channel (clients/c/client_rpc.h).
 * grpc_init() must have been called; the caller owns the channel (grpc_channel_destroy). */
static inline grpc_channel *pl_client_channel(const char *server) {
    grpc_channel *ch = NULL;
    pl__rpc_channel(server, false, NULL, NULL, &ch);
    return ch;
}

/*
 * The channel of a command's --server, --tls-ca: plaintext when tls_ca is NULL, else TLS that
 * verifies the gateway with that PEM CA bundle. NULL, with "parley <cmd>: <why>" printed,
 * when the CA file cannot be read or the channel cannot be made (the command exits 2).
 * grpc_init() must have been called; the caller owns the channel (grpc_channel_destroy).
 */
grpc_channel *pl_client_channel_tls(const char *cmd, const char *server, const char *tls_ca);

/* Print s as a quoted JSON string ("a\"b\n") on f: the --json output of the commands. */
void pl_client_json_str(FILE *f, const char *s);

/* The call's initial metadata: "authorization: Bearer <api_key>", or none when api_key is
 * NULL. Send n entries of md (NULL when n is 0); pl_client_auth_deinit() after the call. */
struct pl_client_auth {
    grpc_metadata md;
    size_t n;
};

static inline void pl_client_auth_init(struct pl_client_auth *a, const char *api_key) {
    a->n = 0;
    if (!api_key) return;
    char auth[512];
    snprintf(auth, sizeof auth, "Bearer %s", api_key);
    a->md.key = grpc_slice_from_static_string("authorization");
    a->md.value = grpc_slice_from_copied_string(auth);
    a->n = 1;
}

static inline grpc_metadata *pl_client_auth_md(struct pl_client_auth *a) {
    return a->n ? &a->md : NULL;
}

static inline void pl_client_auth_deinit(struct pl_client_auth *a) {
    if (a->n) grpc_slice_unref(a->md.value);
    a->n = 0;
}

/* Print "parley <cmd>: <server>: status <code>: <details>" on stderr. */
static inline void pl_client_print_status(const char *cmd, const char *server,
                                          grpc_status_code status, grpc_slice details) {
    char *d = grpc_slice_to_c_string(details);
    fprintf(stderr, "parley %s: %s: status %d: %s\n", cmd, server, (int)status, d);
    gpr_free(d);
}

/*
 * One unary call of method (e.g. "/nvidia.riva.nlp.RivaLanguageUnderstanding/NaturalQuery")
 * on ch with the request bytes, at most timeout_ms, with the API key when not NULL. Returns
 * the gRPC status (GRPC_STATUS_OK: *resp holds the response bytes, caller owns, pl_free; on
 * any other status *resp is NULL and the status and details are printed as "parley <cmd>:
 * ..."). grpc_init() must have been called.
 */
grpc_status_code pl_client_unary(grpc_channel *ch, const char *cmd, const char *server,
                                 const char *method, const char *api_key, const void *req,
                                 size_t n, int64_t timeout_ms, uint8_t **resp, size_t *resp_len);

/* m packed into a byte buffer for GRPC_OP_SEND_MESSAGE (caller owns, grpc_byte_buffer_destroy),
 * or NULL when it cannot be packed. */
grpc_byte_buffer *pl_client_pack(const ProtobufCMessage *m);

/* A received byte buffer unpacked as a message of descriptor d. OUT: *out (caller owns,
 * pl_proto_free). Errors: pl_proto_unpack's. */
pl_status pl_client_unpack(grpc_byte_buffer *bb, const ProtobufCMessageDescriptor *d,
                           ProtobufCMessage **out);

#endif
