/*
 * nrpc_worker_impl.h - internals of the worker shared by nrpc_worker.c (queue,
 * threads, unary requests, lifetime, drain) and nrpc_worker_session.c
 * (streaming sessions). Not a public API.
 */
#ifndef PL_NRPC_WORKER_IMPL_H
#define PL_NRPC_WORKER_IMPL_H

#include <nats/nats.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "nrpc_impl.h"
#include "nrpc_metrics.h"
#include "nrpc_worker.h"
#include "util.h"

#define N_SBUCKETS 64
#define MAX_SESSION_EVENTS 4096
#define ACK_EVERY 16 /* client frames taken between two Kind:ack frames, at most */
#define TIMER_TICK_MS 50

struct rpc {
    char *name;
    bool stream;
    pl_worker_unary_fn fn;
    const struct pl_worker_stream_i *iface;
    void *ud;
    natsSubscription *sub;       /* unary rpcs */
    natsSubscription *shard_sub; /* parley.<svc>.shard.<K>.<rpc> when opts.shard is set */
    struct pl_worker *w;
    /* handler runs in a row that took at most opts.inline_max_us (capped): at
     * PL_WORKER_INLINE_STREAK or more the rpc may run on its delivery thread */
    atomic_int fast_runs;
    struct rpc *next;
};

enum job_type { JOB_UNARY, JOB_OPEN, JOB_SESSION };

struct job {
    enum job_type type;
    natsMsg *msg;
    struct rpc *rpc;
    struct pl_worker_session *sess;
    int64_t received_us;
    int64_t hb_ms;               /* unary: last heartbeat to its reply subject (w->lock) */
    int hb_every_ms;             /* its heartbeat interval (pl__wk_hb_every; an open: its session's) */
    struct job *next;
    struct job *run_prev, *run_next; /* unary, running: w->running (w->lock) */
};

enum ev_type { EV_FRAME, EV_CANCEL, EV_OVERFLOW, EV_FAIL /* pl_worker_session_fail */ };

struct sess_ev {
    enum ev_type type;
    natsMsg *msg;
    struct sess_ev *next;
};

struct pl_worker_session {
    struct pl_worker *w;
    uint64_t id;
    atomic_int refs;
    char client_inbox[256];
    struct pl_worker_session *next; /* bucket chain (w->lock) */
    /* guarded by w->lock */
    struct sess_ev *ev_head, *ev_tail;
    int n_ev;
    bool scheduled;
    bool dead; /* closed: events are dropped */
    bool timeout_fired;
    int64_t last_recv_ms;
    int64_t client_seq; /* highest Parley-Seq the client's frames and heartbeats have named */
    int fail_code; /* gRPC code given by pl_worker_session_fail or _end (EV_FAIL) */
    bool final_given; /* pl_worker_session_fail or _end ran: EV_FAIL queued */
    bool ending; /* the final frame went out: counted in n_ending and in the metrics */
    /* guarded by lock: the send side */
    pthread_mutex_t lock;
    int64_t send_seq;
    int64_t last_send_ms;
    int hb_every_ms; /* heartbeat interval (pl__wk_hb_every of the open) */
    bool closed;
    bool opened;               /* the open reply went out: frames may follow */
    int64_t ack_frames, ack_bytes; /* the last Kind:ack sent (0: none yet) */
    struct pl__nrpc_buf early; /* messages sent before that (length-prefixed) */
    /* owned by the (single) thread running the session's events */
    struct rpc *rpc;
    struct pl_worker_ctx ctx;
    void *state;
    bool unary_mode;
    int n_msgs;
    int64_t recv_seq;
    int64_t taken_bytes; /* bytes of the client's data frames taken so far */
    int64_t acked_seq;   /* recv_seq told to the client in the last Kind:ack */
    bool end_deferred;   /* on_end called pl_worker_session_defer_end */
    struct pl__nrpc_buf asm_buf;
    struct pl__nrpc_buf unary_req;
};

struct pl_worker {
    char *service, *url, *model, *http_host, *shard;
    struct pl_worker_opts o;
    struct rpc *rpcs;
    natsConnection *nc;
    natsOptions *nopts;
    natsSubscription *open_sub, *sess_sub;
    natsSubscription *open_shard_sub; /* parley.<svc>.shard.<K>.stream.open */
    char wid[PL_REQUEST_ID_LEN];
    char sess_prefix[160]; /* "parley.<svc>.session.<wid>." */

    pthread_mutex_t lock;
    pthread_cond_t cv;      /* work queued or stopping */
    pthread_cond_t idle_cv; /* a job finished / a session closed */
    struct job *q_head, *q_tail;
    struct job *running; /* unary jobs running, queued or inline (their heartbeats) */
    int q_new;     /* queued unary + open jobs (what capacity bounds) */
    int in_flight; /* jobs running, on handler threads or inline; at most o.n_threads */
    struct pl_worker_session *sbuckets[N_SBUCKETS];
    int n_sessions;
    int n_ending;  /* of those, sessions whose final frame is out: no longer count as open */
    int pending_opens;
    uint64_t next_sid;

    pthread_t *threads;
    int n_threads_started;
    bool threads_stop;
    pthread_t timer;
    bool timer_started;
    bool timer_stop;
    pthread_cond_t timer_cv;

    atomic_bool stop_requested;
    atomic_bool reload_requested;
    pl_worker_reload_fn reload_fn;
    void *reload_ud;
    atomic_bool ready;
    int stop_pipe[2];
    bool started, drained;

    struct pl_httpd *httpd;
    struct pl_metrics *metrics;
    bool own_metrics;
    struct pl_metrics_model mm;
    /* refusals are logged at most once a second, with a count */
    atomic_llong refused, refused_logged_ms;
};

/* Shared helpers (nrpc_worker.c). */
void pl__wk_ctx_from_msg(struct pl_worker *w, struct rpc *r, natsMsg *msg, int64_t received_us,
                         struct pl_worker_ctx *ctx);
void pl__wk_reply_status(struct pl_worker *w, const char *reply, int code, const char *err);
size_t pl__wk_frame_limit(struct pl_worker *w);
void pl__wk_handler_error(pl_status st, char *buf, size_t cap);

/* Allocation-failure injection around handler calls (nrpc_fault.c; PARLEY_FAULT_ALLOC, tests
 * only). setup: parse the spec and install the hook (NULL or "": off; PL_E_INVALID_ARG for a
 * bad spec). begin/end bracket one handler call on the calling thread. */
pl_status pl__wk_fault_setup(const char *spec);
void pl__wk_fault_begin(void);
void pl__wk_fault_end(void);
int64_t pl__wk_fault_failed(void); /* allocations failed so far */
/* Run r's unary handler (see nrpc_worker.c); out is reset first and empty on failure. */
pl_status pl__wk_invoke(struct pl_worker *w, struct rpc *r, const struct pl_worker_ctx *ctx,
                        const uint8_t *req, size_t n, struct pl_worker_out *out);
void pl__wk_push_job_locked(struct pl_worker *w, struct job *j);

/* Sessions (nrpc_worker_session.c). */
void pl__wk_session_release(struct pl_worker_session *s);
/* Queue an event for s and schedule it (w->lock held); takes msg. */
void pl__wk_session_push_locked(struct pl_worker *w, struct pl_worker_session *s, enum ev_type type,
                                natsMsg *msg);
/* Delivery callback of parley.<svc>.session.<wid>.* */
void pl__wk_on_session(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure);
/* Handler thread: run the pending events of s / a stream open. */
void pl__wk_run_session_job(struct pl_worker *w, struct pl_worker_session *s);
void pl__wk_run_open(struct pl_worker *w, struct job *j);
/* The heartbeat interval for a request or stream open: the worker's heartbeat_ms, or the
 * client's Parley-Heartbeat-Ms when shorter (a client that gives up after a shorter silence),
 * at least TIMER_TICK_MS. */
int pl__wk_hb_every(const struct pl_worker *w, natsMsg *msg);
/* Timer thread: Kind:hb to the client when nothing went out for heartbeat_ms (see the .c). */
void pl__wk_session_heartbeat(struct pl_worker_session *s, int64_t now_ms);

#endif
