/*
 * nrpc.h - Parley's NATS RPC client: connection, unary calls and streams.
 *
 * This is the client half of docs/nats-protocol.md (the worker half is
 * nrpc_worker.h). The gateway and parley-dialog use it to call workers.
 *
 *   struct pl_nrpc_conn *c;
 *   struct pl_nrpc_conn_opts o = PL_NRPC_CONN_OPTS_INIT;  o.url = "nats://127.0.0.1:4222";
 *   PL_TRY(pl_nrpc_conn_create(&o, &c));
 *   struct pl_nrpc_meta m = {.request_id = id, .deadline_us = pl_time_mono_us() + 5000000};
 *   struct pl_nrpc_reply r;
 *   pl_nrpc_call(c, "parley.nlu.punctuate_text", req, n, &m, 5000, &r);
 *   if (r.code == PL_GRPC_OK) use(r.data, r.len); else fail(r.code, r.message);
 *   pl_nrpc_reply_deinit(&r);
 *   pl_nrpc_conn_destroy(c);
 *
 * Threads. One connection is shared by any number of threads. Every call and
 * stream of a connection is served by two internal threads: the NATS delivery
 * thread of the connection's reply inbox (it runs the callbacks below) and a
 * timer thread (deadlines, heartbeats, silent-worker detection; it may run
 * on_end callbacks too). Callbacks must therefore return quickly and must not
 * wait for another call's callback; they may call the send/close/cancel/
 * destroy functions of any call or stream, including their own.
 *
 * Large messages. A request larger than the server's max_payload goes as a
 * stream (Parley-Rpc = the unary rpc) and a response larger than it comes
 * back in numbered frames; both are invisible to the caller. Stream messages
 * of any size are cut into frames and reassembled the same way.
 */
#ifndef PL_NRPC_H
#define PL_NRPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* gRPC status codes carried in Parley-Status (the numbers are gRPC's). */
enum pl_grpc_code {
    PL_GRPC_OK = 0,
    PL_GRPC_CANCELLED = 1,
    PL_GRPC_UNKNOWN = 2,
    PL_GRPC_INVALID_ARGUMENT = 3,
    PL_GRPC_DEADLINE_EXCEEDED = 4,
    PL_GRPC_NOT_FOUND = 5,
    PL_GRPC_RESOURCE_EXHAUSTED = 8,
    PL_GRPC_UNIMPLEMENTED = 12,
    PL_GRPC_INTERNAL = 13,
    PL_GRPC_UNAVAILABLE = 14,
    PL_GRPC_DATA_LOSS = 15,
    PL_GRPC_UNAUTHENTICATED = 16,
};

/* Header names and values of the protocol (docs/nats-protocol.md). */
#define PL_NRPC_H_REQUEST_ID "Parley-Request-Id"
#define PL_NRPC_H_TIMEOUT "Parley-Timeout-Us"
#define PL_NRPC_H_USER "Parley-User"
#define PL_NRPC_H_RPC "Parley-Rpc"
#define PL_NRPC_H_SESSION "Parley-Session"
#define PL_NRPC_H_KIND "Parley-Kind"
#define PL_NRPC_H_SEQ "Parley-Seq"
#define PL_NRPC_H_MORE "Parley-More"
#define PL_NRPC_H_STATUS "Parley-Status"
#define PL_NRPC_H_ERROR "Parley-Error"
#define PL_NRPC_H_HEARTBEAT "Parley-Heartbeat-Ms"

/* Map a pl_status to the gRPC code a worker answers with (the table in
 * docs/nats-protocol.md). PL_E_UNSUPPORTED maps to INVALID_ARGUMENT here;
 * the worker itself answers UNIMPLEMENTED for an rpc it does not serve. */
int pl_nrpc_code_from_status(pl_status s);
/* The reverse, for code that wants a pl_status ("UNAVAILABLE" -> PL_E_UNAVAILABLE). */
pl_status pl_nrpc_status_from_code(int code);
/* "UNAVAILABLE", ... ; "UNKNOWN" for numbers it does not know. Static storage. */
const char *pl_grpc_code_name(int code);

/* ---- connection ---------------------------------------------------------------------------- */

struct pl_nrpc_conn_opts {
    const char *url;        /* "nats://127.0.0.1:4222"; NULL = $PARLEY_NATS_URL or that default */
    const char *name;       /* connection name shown by nats-server; may be NULL */
    int connect_timeout_ms; /* per attempt (default 2000) */
    int max_reconnect;      /* reconnect attempts after a loss, -1 = forever (default -1) */
    int reconnect_wait_ms;  /* first backoff; doubles per attempt up to 2 s (default 100) */
    bool retry_on_failed_connect; /* keep trying in the background when the first connect fails */
    int heartbeat_ms;             /* stream heartbeat interval (default 1000) */
    int stream_timeout_ms;        /* stream silence that ends it with UNAVAILABLE (default 5000) */
};
#define PL_NRPC_CONN_OPTS_INIT                                                                     \
    { NULL, NULL, 2000, -1, 100, false, 1000, 5000 }

struct pl_nrpc_conn;

/* Connect. Fails with PL_E_UNAVAILABLE when the server cannot be reached
 * (unless retry_on_failed_connect). opts may be NULL (all defaults).
 * OUT: *out, destroy with pl_nrpc_conn_destroy(). Thread-safe to call. */
pl_status pl_nrpc_conn_create(const struct pl_nrpc_conn_opts *opts, struct pl_nrpc_conn **out);

/* End every open call and stream with CANCELLED (their callbacks run before
 * this returns; none run after), flush and close. Streams must still be
 * released with pl_nrpc_stream_destroy (allowed after this). NULL is a no-op.
 * Must not be called from a callback of this connection. */
void pl_nrpc_conn_destroy(struct pl_nrpc_conn *c);

/* The server's max_payload in bytes (0 while never connected). */
int64_t pl_nrpc_conn_max_payload(const struct pl_nrpc_conn *c);
/* Largest data bytes one frame carries (max_payload less room for headers). */
size_t pl_nrpc_conn_frame_limit(const struct pl_nrpc_conn *c);
/* Override the frame limit (tests: force chunking with a small value; 0 = automatic). */
void pl_nrpc_conn_set_frame_limit(struct pl_nrpc_conn *c, size_t n);
/* True while connected (false while reconnecting or closed). */
bool pl_nrpc_conn_connected(const struct pl_nrpc_conn *c);
/* The underlying natsConnection (a `natsConnection *`), borrowed; for code
 * that needs plain NATS next to RPC (e.g. events). Do not close it. */
void *pl_nrpc_conn_nats(struct pl_nrpc_conn *c);

/* ---- session shards ------------------------------------------------------------------------ */

/* A service whose state is partitioned (parley-dialog's sessions, docs/deployment.md) serves
 * shard K's sessions on subjects parley.<svc>.shard.<K>.<rpc> (and
 * parley.<svc>.shard.<K>.stream.open); the session id names its shard. */
#define PL_NRPC_MAX_SHARDS 256

/* The shard a session id names: its first two hex digits (0..255). -1 when id is not 32
 * lowercase hex digits (then it names no shard: route it to the plain subject). */
int pl_nrpc_shard_of_id(const char *id);

/* ---- request metadata ---------------------------------------------------------------------- */

/* What travels as request headers. All pointers are borrowed for the call;
 * NULL or 0 leaves the header out. request_id NULL: a fresh one is made. */
struct pl_nrpc_meta {
    const char *request_id; /* Parley-Request-Id; checked with pl_request_id_valid() */
    /* The request's deadline: pl_time_mono_us() microseconds (this process's monotonic
     * clock); 0 = none. The same name and unit as pl_worker_ctx.deadline_us and
     * pl_batch_req.deadline_us. It travels as Parley-Timeout-Us, the time left when the
     * message is published, so no two hosts need agreeing clocks. */
    int64_t deadline_us;
    const char *user;       /* Parley-User */
};

/* ---- unary --------------------------------------------------------------------------------- */

/* The outcome of a unary call. code is always set. On PL_GRPC_OK, data/len is
 * the response message (data may be NULL when len == 0); otherwise message is
 * the error text for the client. Free with pl_nrpc_reply_deinit(). */
struct pl_nrpc_reply {
    int code;      /* enum pl_grpc_code */
    uint8_t *data; /* owned; pl_free */
    size_t len;
    char *message; /* owned; "" when code == 0; never NULL after a call */
};
void pl_nrpc_reply_deinit(struct pl_nrpc_reply *r);

/*
 * Call `subject` ("parley.<svc>.<rpc>") with the request bytes and wait for
 * the outcome, at most timeout_ms (<= 0: until meta->deadline_us, or 30 s).
 *   - no worker subscribed   -> UNAVAILABLE at once
 *   - timeout or deadline    -> DEADLINE_EXCEEDED
 *   - worker Parley-Status   -> that code and Parley-Error
 *   - connection down/closed -> UNAVAILABLE at once (also for calls and streams in
 *                               flight when the connection drops; cnats reconnects)
 *   - worker silent          -> UNAVAILABLE "worker stopped responding": nothing (no
 *                               reply, no heartbeat) for the connection's stream_timeout_ms;
 *                               a worker sends a heartbeat every heartbeat_ms while it holds
 *                               the request, so this means the worker or its NATS node died
 * OUT: *out (always filled, even on a non-OK return; deinit it).
 * Returns PL_OK whenever the call produced an outcome (check out->code);
 * PL_E_INVALID_ARG for a bad subject or arguments. Thread-safe; blocks the
 * calling thread (never call it from a callback of this connection).
 */
pl_status pl_nrpc_call(struct pl_nrpc_conn *c, const char *subject, const void *req, size_t n,
                       const struct pl_nrpc_meta *meta, int timeout_ms, struct pl_nrpc_reply *out);

/* pl_nrpc_call for a responder that is not a Parley worker (a dialog spec's nats action):
 * it sends no heartbeats, so only timeout_ms and the deadline bound the call. */
pl_status pl_nrpc_call_external(struct pl_nrpc_conn *c, const char *subject, const void *req,
                                size_t n, const struct pl_nrpc_meta *meta, int timeout_ms,
                                struct pl_nrpc_reply *out);

/* Asynchronous unary call: the same as pl_nrpc_call but returns at once;
 * done(ud, reply) runs exactly once from an internal thread (or, on a non-OK
 * return, never). The reply is borrowed for the callback; to keep its bytes,
 * move them out (set reply->data = NULL) - the library frees what is left. */
typedef void (*pl_nrpc_done_fn)(void *ud, struct pl_nrpc_reply *reply);
pl_status pl_nrpc_call_async(struct pl_nrpc_conn *c, const char *subject, const void *req, size_t n,
                             const struct pl_nrpc_meta *meta, int timeout_ms, pl_nrpc_done_fn done,
                             void *ud);

/* pl_nrpc_call_async for a responder that is not a Parley worker (no heartbeats: only
 * timeout_ms and the deadline bound the call), as pl_nrpc_call_external. */
pl_status pl_nrpc_call_external_async(struct pl_nrpc_conn *c, const char *subject,
                                      const void *req, size_t n, const struct pl_nrpc_meta *meta,
                                      int timeout_ms, pl_nrpc_done_fn done, void *ud);

/* ---- streams ------------------------------------------------------------------------------- */

struct pl_nrpc_stream;

/* Callbacks of a stream opened in callback mode. All run on the connection's
 * internal threads, one at a time per stream, in order. */
struct pl_nrpc_stream_cbs {
    /* A whole (reassembled) message from the worker; data borrowed for the call. */
    void (*on_message)(void *ud, const uint8_t *data, size_t n);
    /* The stream ended: code 0 = worker finished OK; otherwise the worker's
     * error, UNAVAILABLE (no worker / worker went silent / frames lost on the
     * way, seen by a sequence gap or a heartbeat's sequence number), DATA_LOSS
     * (a broken frame sequence), DEADLINE_EXCEEDED, CANCELLED
     * (pl_nrpc_stream_cancel or conn destroy). Runs exactly once; no callback
     * of the stream runs after it. message borrowed for the call. */
    void (*on_end)(void *ud, int code, const char *message);
};

/*
 * Open a stream to service `svc` ("asr") carrying `rpc` ("streaming_recognize").
 * Returns at once: the open request is in flight; messages sent before the
 * worker answers are queued and go out in order once it does. If the open
 * fails (no worker: UNAVAILABLE; refused: its status) the stream ends with
 * on_end / pl_nrpc_stream_recv reporting it. Callbacks never run on the
 * calling thread during this call (only pl_nrpc_stream_cancel runs on_end
 * on its caller's thread).
 * cbs NULL selects pull mode: messages queue inside the stream and are taken
 * with pl_nrpc_stream_recv(). cbs is copied.
 * OUT: *out; release with pl_nrpc_stream_destroy() (always, even after the end).
 */
pl_status pl_nrpc_stream_open(struct pl_nrpc_conn *c, const char *svc, const char *rpc,
                              const struct pl_nrpc_meta *meta, const struct pl_nrpc_stream_cbs *cbs,
                              void *ud, struct pl_nrpc_stream **out);

/* Send one message (copied; cut into frames when larger than the frame limit).
 * Never blocks on the worker. PL_E_CANCELLED after the stream ended, half-
 * closed or was cancelled. Thread-safe (sends from several threads are
 * serialized; each message stays whole). */
pl_status pl_nrpc_stream_send(struct pl_nrpc_stream *s, const void *data, size_t n);

/* Half-close: no more messages from the client (Kind:end). The worker may go
 * on sending and ends the stream with its status. Thread-safe. */
pl_status pl_nrpc_stream_close_send(struct pl_nrpc_stream *s);

/* Give up: tells the worker (Kind:cancel) and ends the stream locally with
 * CANCELLED (on_end runs, unless the stream had already ended). Thread-safe;
 * a no-op after the end. */
void pl_nrpc_stream_cancel(struct pl_nrpc_stream *s);

/* Pull mode only: wait up to timeout_ms (< 0: forever) for the next message.
 * Returns PL_OK with *data (caller owns, pl_free; may be NULL when *n == 0)
 * and *n; PL_E_TIMEOUT when nothing came in time (the stream goes on);
 * PL_E_CANCELLED once the stream has ended and every message was taken:
 * then *code / *message (borrowed until destroy) tell how it ended.
 * code/message may be NULL. One receiving thread at a time. */
pl_status pl_nrpc_stream_recv(struct pl_nrpc_stream *s, int timeout_ms, uint8_t **data, size_t *n,
                              int *code, const char **message);

/* Flow control: bytes and messages sent on the stream (queued before the open included)
 * that the worker has not taken yet. A worker acknowledges each client frame once its handler
 * has processed it (Kind:ack frames, see nrpc_worker.h), so a sender that keeps *bytes (or
 * *msgs) under a window of its own bounds what waits for the worker, whatever the client's
 * pace. Either pointer may be NULL. Thread-safe. */
void pl_nrpc_stream_unacked(struct pl_nrpc_stream *s, int64_t *bytes, int64_t *frames);

/* Callback mode: on_ack(ud) runs (like on_message: on the connection's thread, never after
 * on_end) each time an ack lowers what pl_nrpc_stream_unacked says; a sender that stopped at
 * its window sends again from there. Set it before sending anything. Thread-safe. */
void pl_nrpc_stream_set_on_ack(struct pl_nrpc_stream *s, void (*on_ack)(void *ud));

/* True once the stream has ended; then code and message (may be NULL) tell how. */
bool pl_nrpc_stream_ended(struct pl_nrpc_stream *s, int *code, const char **message);

/* Wait for a callback of this stream running on another thread to return,
 * cancel the stream if still open (telling the worker; on_end does NOT run),
 * and free. No callback runs after this returns.
 * May be called from the stream's own callbacks. NULL is a no-op. */
void pl_nrpc_stream_destroy(struct pl_nrpc_stream *s);

#ifdef __cplusplus
}
#endif
#endif
