/*
 * nrpc_worker.h - the worker side of Parley's NATS RPC (docs/nats-protocol.md).
 *
 * Every service process is a pl_worker: it connects to NATS, subscribes each
 * registered unary rpc on `parley.<svc>.<rpc>` and the stream-open subject
 * `parley.<svc>.stream.open` in queue group `<svc>`, and runs handlers on a
 * pool of threads fed by a bounded queue.
 *
 *   struct pl_worker_opts o = PL_WORKER_OPTS_INIT;  o.service = "nlu";
 *   struct pl_worker *w;
 *   PL_TRY(pl_worker_create(&o, &w));
 *   pl_worker_add_unary(w, "punctuate_text", punctuate, model);
 *   pl_worker_add_stream(w, "streaming_recognize", &asr_stream_iface, model);
 *   PL_TRY(pl_worker_start(w));         // subscribes; HTTP side port if http_port >= 0
 *   pl_worker_set_ready(w, true);       // /readyz answers 200 from now on
 *   pl_worker_install_signals(w);       // SIGTERM/SIGINT -> pl_worker_stop
 *   pl_worker_wait(w);                  // until stopped and drained
 *   pl_worker_destroy(w);
 *
 * Unary handlers receive the raw request bytes (they unpack protobuf
 * themselves; an unpack failure is their PL_E_INVALID_ARG) and return the
 * response bytes. The pl_status they return becomes the gRPC status by the
 * table in docs/nats-protocol.md; the message is pl_last_error() of the
 * handler's thread (set with PL_ERR), so it reaches the client.
 *
 * Backpressure: a unary request or stream open that finds the queue full is
 * answered RESOURCE_EXHAUSTED at once. A unary request whose deadline passed
 * while it waited is answered DEADLINE_EXCEEDED without running the handler.
 *
 * Liveness: while a unary request waits in the queue or runs, the worker sends
 * a heartbeat (Parley-Kind: hb, empty) to its reply subject every heartbeat_ms,
 * so that a client can tell a slow request from a worker that died with it.
 * An open stream's heartbeats (both ways) carry the sender's last sequence
 * number, so that a lost last frame is noticed: the session ends UNAVAILABLE.
 *
 * Drain: pl_worker_stop() drains the subscriptions (no new work is taken),
 * finishes queued and running requests and open streams (bounded by
 * drain_timeout_ms, after which streams are cancelled; at once when the NATS
 * connection is gone, as they cannot finish then), then closes NATS.
 */
#ifndef PL_NRPC_WORKER_H
#define PL_NRPC_WORKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nrpc.h"
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

struct pl_metrics;

struct pl_worker_opts {
    const char *service;  /* "nlu": subjects parley.<service>.*, queue group <service>; required */
    const char *nats_url; /* NULL = $PARLEY_NATS_URL or nats://127.0.0.1:4222 */
    int n_threads;        /* handler threads (default 2) */
    int queue_capacity;   /* queued unary requests + stream opens before RESOURCE_EXHAUSTED (256) */
    int max_streams;      /* concurrent streams before opens are refused RESOURCE_EXHAUSTED (256);
                           * a stream stops counting when its final frame goes out */
    int heartbeat_ms;     /* stream heartbeat interval (1000) */
    int stream_timeout_ms; /* client silence that frees a session (5000) */
    int drain_timeout_ms;  /* how long pl_worker_stop waits for in-flight work (30000) */
    int http_port;         /* side port for /metrics /healthz /readyz: -1 none, 0 ephemeral */
    const char *http_host; /* bind address of the side port (default "127.0.0.1") */
    const char *model;     /* model label for metrics (default: service) */
    /* registry to count into (borrowed); NULL = the worker makes its own */
    struct pl_metrics *metrics;
    bool connect_retry; /* NATS not up yet: start anyway and connect in the background
                           (/readyz says 503 until connected); false = start fails */
    /* Partitioned state (docs/deployment.md, "Dialog shards"): besides parley.<svc>.<rpc>,
     * every rpc and the stream open are also served on parley.<svc>.shard.<K>.<rpc> and
     * parley.<svc>.shard.<K>.stream.open. "K" (0..PL_NRPC_MAX_SHARDS-1): that shard only;
     * "*": every shard (one replica that holds every session); NULL: no shard subjects. */
    const char *shard;
    /* A unary rpc whose last PL_WORKER_INLINE_STREAK handler runs each took at most this many
     * microseconds runs on the NATS delivery thread that received the request, when no job
     * waits in the queue, no other request waits on its subscription and a handler slot is
     * free: one thread hand-off (a futex wake and a context switch) less per request. A run
     * over the limit sends the rpc back to the handler threads until it has a new streak.
     * Handler slots stay n_threads in all (inline runs count). 0: the default (100), < 0:
     * never (every request goes through the queue). */
    int inline_max_us;
};
#define PL_WORKER_INLINE_STREAK 16
#define PL_WORKER_OPTS_INIT                                                                        \
    { NULL, NULL, 2, 256, 256, 1000, 5000, 30000, -1, NULL, NULL, NULL, false, NULL, 0 }

/* Per-request context handed to handlers; borrowed for the handler call
 * (for streams: until on_end/on_cancel returns). The handler thread's log
 * request id (pl_log_set_request_id) is set to request_id while it runs. */
struct pl_worker_ctx {
    const char *service; /* "nlu" */
    const char *rpc;     /* "punctuate_text" */
    char request_id[65]; /* from Parley-Request-Id, or a fresh one */
    /* The request's deadline on this process's monotonic clock (pl_time_mono_us()); 0 =
     * none. Made once, from Parley-Timeout-Us and the arrival time; handlers pass it on
     * as is (pl_batch_req_init, pl_nrpc_meta.deadline_us). */
    int64_t deadline_us;
    char user[129];      /* Parley-User; "" if none */
    int64_t received_us; /* pl_time_mono_us() when the request arrived */
};

/* True if ctx has a deadline and it has passed. */
bool pl_worker_ctx_expired(const struct pl_worker_ctx *ctx);

/* Response bytes of a unary handler: set data (allocated with pl_malloc; the
 * worker frees it) and len. Leave NULL/0 for an empty response. */
struct pl_worker_out {
    uint8_t *data;
    size_t len;
};

/* A unary handler. req is borrowed for the call. Runs on a handler thread, or, when it has
 * been quick (opts.inline_max_us), on the NATS delivery thread that received the request;
 * several calls may run at once (at most n_threads). */
typedef pl_status (*pl_worker_unary_fn)(void *ud, const struct pl_worker_ctx *ctx,
                                        const uint8_t *req, size_t n, struct pl_worker_out *out);

struct pl_worker_session;

/*
 * A streaming rpc. Calls for one session are serialized (never two at once)
 * and in order, but may run on different handler threads.
 *   on_open    session accepted; set *state. A non-OK return refuses the stream
 *              with that status (nothing else is called). Messages sent from
 *              on_open are held until the client has the session subject.
 *   on_message one whole client message (borrowed). A non-OK return ends the
 *              stream with that status (Kind:error), then on_cancel runs.
 *   on_end     the client half-closed: send what is left, return the final
 *              status (sent as Kind:end). Last call of the session, unless it
 *              defers the end (pl_worker_session_defer_end).
 *   on_cancel  the client cancelled or went silent, the worker is stopping, or
 *              on_message failed: free the state, send nothing. Last call.
 * Exactly one of on_end/on_cancel runs after a successful on_open; free the
 * state there. The session pointer is valid until that call returns. A deferred
 * end is the exception: on_end returns without ending the stream, and on_cancel
 * runs last (after pl_worker_session_end, or at a cancel that comes first).
 * Flow control: once the handler has taken client frames (on_message returned, or a part of
 * a larger message was buffered) the worker acknowledges them (Kind:ack: frames and bytes;
 * every 16 frames and whenever the session's queue is empty), so that a client can keep
 * what waits for this handler under a window (pl_nrpc_stream_unacked). A client that sends
 * without looking still meets the queue's cap: 4096 frames, then RESOURCE_EXHAUSTED.
 */
struct pl_worker_stream_i {
    pl_status (*on_open)(void *ud, struct pl_worker_session *s, const struct pl_worker_ctx *ctx,
                         void **state);
    pl_status (*on_message)(void *state, struct pl_worker_session *s, const uint8_t *data,
                            size_t n);
    pl_status (*on_end)(void *state, struct pl_worker_session *s);
    void (*on_cancel)(void *state, struct pl_worker_session *s);
};

/* Send one message to the client (copied; framed and cut into frames as
 * needed). Usable from any thread while the session is valid (see above);
 * PL_E_CANCELLED once the session has ended or been cancelled. */
pl_status pl_worker_session_send(struct pl_worker_session *s, const void *data, size_t n);
/* End the stream with status st and message msg from any thread (a thread of the
 * handler's own, e.g. one that runs queued work for the stream), as if on_message had
 * returned st: the error goes to the client at once, later sends return PL_E_CANCELLED, and
 * on_cancel runs on a handler thread (after a call in progress returns). Nothing happens
 * when the session has already ended. The caller must hold the session (a retain, or a
 * handler call in progress). Thread-safe. */
void pl_worker_session_fail(struct pl_worker_session *s, pl_status st, const char *msg);
/* Called from on_end only: the stream does not end when on_end returns (its return value is
 * then ignored) but stays open, holding no handler thread, until a thread of the handler's
 * own calls pl_worker_session_end (for a client that half-closed while answers it is owed
 * still wait on something outside the process). When the client cancels or goes silent, or
 * the worker stops, before that, on_cancel runs at once on a handler thread; after
 * pl_worker_session_end it runs too. Either way on_cancel is the session's last call. */
void pl_worker_session_defer_end(struct pl_worker_session *s);
/* End a deferred stream with status st (PL_OK: a normal end) and message msg, from any
 * thread: the final frame goes to the client at once, later sends return PL_E_CANCELLED, and
 * on_cancel runs on a handler thread. Nothing happens when the session has already ended or
 * failed. The caller must hold the session (a retain). Thread-safe. */
void pl_worker_session_end(struct pl_worker_session *s, pl_status st, const char *msg);
/* Keep the session object alive past on_end/on_cancel (e.g. for a batcher
 * thread that may still hold results): every retain needs one release. After
 * the end, pl_worker_session_send on a retained session returns
 * PL_E_CANCELLED. Thread-safe. */
void pl_worker_session_retain(struct pl_worker_session *s);
void pl_worker_session_release(struct pl_worker_session *s);
/* The context of the session (borrowed like the session). */
const struct pl_worker_ctx *pl_worker_session_ctx(struct pl_worker_session *s);

struct pl_worker;

/* Validate options and allocate; nothing connects yet. opts is copied.
 * OUT: *out, destroy with pl_worker_destroy(). */
pl_status pl_worker_create(const struct pl_worker_opts *opts, struct pl_worker **out);

/* Register rpcs before pl_worker_start. rpc is the snake-case name
 * ("punctuate_text"); copied. ud/iface are borrowed for the worker's life.
 * A unary rpc may also arrive as a stream (large request): the worker runs
 * the same handler. PL_E_INVALID_ARG for a bad or duplicate name. */
pl_status pl_worker_add_unary(struct pl_worker *w, const char *rpc, pl_worker_unary_fn fn,
                              void *ud);
pl_status pl_worker_add_stream(struct pl_worker *w, const char *rpc,
                               const struct pl_worker_stream_i *iface, void *ud);

/* One entry of a service's rpc table. */
struct pl_worker_unary {
    const char *rpc;       /* snake-case name ("punctuate_text") */
    pl_worker_unary_fn fn; /* its handler */
};
/* Register every unary rpc of rpcs[0..n) with the same ud (a service's table):
 *   static const struct pl_worker_unary rpcs[] = {{"analyze_intent", rpc_analyze_intent}, ...};
 *   PL_TRY(pl_worker_add_unaries(w, rpcs, sizeof rpcs / sizeof rpcs[0], svc));
 * Errors as pl_worker_add_unary (the rpcs before the bad one stay registered). */
pl_status pl_worker_add_unaries(struct pl_worker *w, const struct pl_worker_unary *rpcs, size_t n,
                                void *ud);

/*
 * Run the unary handler registered for rpc on the calling thread, outside NATS (tests,
 * benchmarks, a process that serves itself): the same lookup, context (request id from the
 * thread's log id or a fresh one; deadline_us on the pl_time_mono_us() clock, 0 = none) and
 * error handling as a request from NATS. Works before pl_worker_start (no connection needed).
 * Returns the handler's status; out (caller owns out->data, pl_free) is empty unless PL_OK.
 * PL_E_UNSUPPORTED for an rpc not registered or registered as a stream, PL_E_TIMEOUT for a
 * deadline already passed. Thread-safe once registration is over.
 */
pl_status pl_worker_call(struct pl_worker *w, const char *rpc, int64_t deadline_us,
                         const uint8_t *req, size_t n, struct pl_worker_out *out);

/* Start the handler threads and the side port, connect (with reconnect and
 * backoff) and subscribe. PL_E_UNAVAILABLE if NATS cannot be reached (unless
 * opts.connect_retry). */
pl_status pl_worker_start(struct pl_worker *w);

/* What /readyz reports together with the NATS connection (default false). */
void pl_worker_set_ready(struct pl_worker *w, bool ready);

/* Begin a graceful drain (see top). Returns at once; async-signal-safe
 * (it only sets a flag and writes to a pipe). */
void pl_worker_stop(struct pl_worker *w);

/* Reload hook (models, config): runs on the thread in pl_worker_wait after
 * pl_worker_reload() or SIGHUP, while requests go on being served. A non-OK
 * return is logged; the service keeps its old state. Set before
 * pl_worker_install_signals. fn/ud borrowed. */
typedef pl_status (*pl_worker_reload_fn)(void *ud);
void pl_worker_set_reload(struct pl_worker *w, pl_worker_reload_fn fn, void *ud);
/* Ask for a reload. Returns at once; async-signal-safe. */
void pl_worker_reload(struct pl_worker *w);

/* Make SIGTERM and SIGINT call pl_worker_stop(w), and SIGHUP pl_worker_reload(w)
 * when a reload hook is set (one worker per process). */
pl_status pl_worker_install_signals(struct pl_worker *w);

/* Block until pl_worker_stop() was called and the drain finished; runs the
 * reload hook meanwhile when asked. */
void pl_worker_wait(struct pl_worker *w);

/* Stop (if running), drain, join threads, free. NULL is a no-op. */
void pl_worker_destroy(struct pl_worker *w);

/* The metrics registry the worker counts into (borrowed). */
struct pl_metrics *pl_worker_metrics(struct pl_worker *w);
/* Bound side port (after start), or -1. */
int pl_worker_http_port(const struct pl_worker *w);

#ifdef __cplusplus
}
#endif
#endif
