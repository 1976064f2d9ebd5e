/*
 * client_impl.h - libparley-client's private structs and helpers (parley/client.h is the API).
 */
#ifndef PL_CLIENT_IMPL_H
#define PL_CLIENT_IMPL_H

#include "client_rpc.h"
#include "parley/client.h"

struct pl_client {
    grpc_channel *ch;
    char *target;
    char *api_key; /* NULL = none */
    int64_t timeout_ms;
};

/* What a stream sends its audio and text as, and how it reads what comes back. */
struct pl_client_stream_i {
    /* The request carrying n bytes of audio / one text / a control; NULL = not supported. */
    pl_status (*send_audio)(struct pl_client_stream *s, const void *audio, size_t n);
    pl_status (*send_text)(struct pl_client_stream *s, const char *text);
    pl_status (*end_utterance)(struct pl_client_stream *s);
    /* One received message: decode it and run the user's callback (non-zero = cancel). */
    pl_status (*on_message)(struct pl_client_stream *s, grpc_byte_buffer *bb);
};

struct pl_client_stream {
    const struct pl_client_stream_i *iface;
    struct pl__rpc_stream rpc;
    const char *rpc_name; /* "StreamingRecognize" */
    void *cb;             /* the user's callback, of the type the iface knows */
    void *ud;
    pl_status st;         /* first failure (a callback's cancel, a bad message); PL_OK */
    bool finished;
    void *impl;           /* the iface's own state */
};

/* One unary call of method (full "/pkg.Service/Rpc") on c: pack req, call, unpack the answer as
 * d. Failures set the thread's message ("<Rpc>: <CODE>: details") and gRPC status.
 * OUT: *out (caller owns; pl_proto_free). */
pl_status pl__client_call(struct pl_client *c, const char *method, const ProtobufCMessage *req,
                          const ProtobufCMessageDescriptor *d, ProtobufCMessage **out);

/* Open a stream of method with the first message (NULL: none yet). OUT: *out. */
pl_status pl__client_stream_open(struct pl_client *c, const char *method,
                                 const struct pl_client_stream_i *iface,
                                 const ProtobufCMessage *first, void *cb, void *ud,
                                 struct pl_client_stream **out);

/* Send m on s once the previous message has gone (running callbacks meanwhile). */
pl_status pl__client_stream_send(struct pl_client_stream *s, const ProtobufCMessage *m);

/* A local failure: message as PL_ERR, and the gRPC status -1. */
pl_status pl__client_fail(pl_status st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A failed call: the thread's gRPC status = code, message "<rpc>: <CODE>: <details>". */
pl_status pl__client_grpc_fail(const char *rpc, int code, const char *details);

/* The status of a callback that asked to stop: PL_E_CANCELLED "<rpc>: cancelled by the
 * callback". */
pl_status pl__client_cb_cancel(struct pl_client_stream *s);

/* The last path component of a method ("/a.B/Rpc" -> "Rpc"). */
const char *pl__client_rpc_name(const char *method);

/* The proto value of an encoding (nvidia.riva.AudioEncoding: the same numbers). */
static inline int pl__client_encoding(enum pl_client_encoding e) { return (int)e; }

#endif
