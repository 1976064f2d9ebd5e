/*
 * nrpc_batcher.h - dynamic batching of requests for one model.
 *
 * Requests queue up; a batch forms when max_batch_size requests wait or
 * max_queue_delay_us after the oldest one arrived, whichever comes first, and
 * runs on one of n_instances model instances (one thread each) through the
 * run callback. Each request gets its own output and status.
 *
 *   struct pl_batch_req r;
 *   pl_batch_req_init(&r, input, deadline_mono_us);
 *   PL_TRY(pl_batcher_submit(b, &r));
 *   pl_batcher_wait(b, &r, -1);           // or a done callback
 *   if (r.status == PL_OK) use(r.output); else log(r.error);
 *
 * Requests are caller-owned storage: a request must stay valid until it is
 * done (pl_batcher_wait returned PL_OK, or its done callback ran).
 *
 * Thread-safety: submit/wait/cancel from any thread.
 */
#ifndef PL_NRPC_BATCHER_H
#define PL_NRPC_BATCHER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

struct pl_metrics;
struct pl_batch_req;

typedef void (*pl_batch_done_fn)(struct pl_batch_req *r, void *ud);

struct pl_batch_req {
    void *input;      /* the caller's request (borrowed by the batcher) */
    int length;       /* optional: the request's padded dimension (tokens); with
                         opts.bucket_by_length a batch gathers requests of close lengths.
                         0 = unknown */
    void *output;     /* set by run (ownership is between caller and run) */
    pl_status status; /* final status; valid once done */
    char error[256];  /* message when status != PL_OK */
    int64_t
        deadline_us; /* pl_time_mono_us() deadline; 0 = none. Expired in queue -> PL_E_TIMEOUT */
    pl_batch_done_fn done; /* optional: runs once when done (on a batcher thread, or on the
                              caller's thread for cancel); may free the request */
    void *done_ud;
    /* private */
    int64_t enqueued_us;
    struct pl_batch_req *next;
    int state;    /* 0 new, 1 queued, 2 running, 3 done */
    void *waiter; /* the condition variable of the thread in pl_batcher_wait (b->lock) */
};

/* Zero r and set input and deadline. */
void pl_batch_req_init(struct pl_batch_req *r, void *input, int64_t deadline_us);
/* For run: fail one request of a batch with a formatted message. */
void pl_batch_req_fail(struct pl_batch_req *r, pl_status s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Run one batch on model instance `instance` (0..n_instances-1): set
 * reqs[i]->output, and fail single requests with pl_batch_req_fail. A non-OK
 * return fails every request not failed already with that status and
 * pl_last_error(). reqs are in arrival order (of the requests the batch took). */
typedef pl_status (*pl_batch_run_fn)(void *ud, int instance, struct pl_batch_req **reqs, int n);

struct pl_batcher_opts {
    int max_batch_size;         /* >= 1 (default 8) */
    int64_t max_queue_delay_us; /* >= 0 (default 1000) */
    int n_instances;            /* >= 1 (default 1) */
    int max_queue; /* queued requests before submit says PL_E_EXHAUSTED; 0 = unbounded */
    struct pl_metrics *metrics; /* optional: count batch sizes and durations into it (borrowed) */
    const char *model;          /* model label for metrics */
    /* When more requests queue than a batch holds: the oldest one and the queued requests
     * whose length is closest to it (among the first 4 x max_batch_size), so that a batch
     * padded to its longest request wastes less. Every request still becomes the oldest in
     * time, so none starves. false: arrival order. */
    bool bucket_by_length;
};
#define PL_BATCHER_OPTS_INIT                                                                       \
    { 8, 1000, 1, 0, NULL, NULL, false }

struct pl_batcher;

/* OUT: *out; opts copied, ud borrowed. Starts the instance threads. */
pl_status pl_batcher_create(const struct pl_batcher_opts *opts, pl_batch_run_fn run, void *ud,
                            struct pl_batcher **out);

/* Queue r. PL_E_EXHAUSTED if the queue is full, PL_E_CANCELLED after
 * shutdown began (then r is not queued and done does not run). */
pl_status pl_batcher_submit(struct pl_batcher *b, struct pl_batch_req *r);

/* Wait until r is done, at most timeout_us (< 0: forever). PL_OK when done
 * (r->status holds the outcome), PL_E_TIMEOUT otherwise. Only r's completion
 * wakes the caller (one thread may wait on r at a time). Do not use on a
 * request whose done callback frees it. */
pl_status pl_batcher_wait(struct pl_batcher *b, struct pl_batch_req *r, int64_t timeout_us);

/* Cancel r if it is still queued: it completes with PL_E_CANCELLED (done
 * runs on this thread) and true is returned. false if it already runs or is done. */
bool pl_batcher_cancel(struct pl_batcher *b, struct pl_batch_req *r);

/* Stop taking requests, complete every queued request with PL_E_CANCELLED
 * ("shutting down"), let running batches finish, join threads, free.
 * NULL is a no-op. */
void pl_batcher_destroy(struct pl_batcher *b);

/* Counters for tests and metrics. */
struct pl_batcher_stats {
    int64_t batches;   /* run() calls */
    int64_t requests;  /* requests run */
    int max_batch;     /* largest batch formed */
    int64_t expired;   /* deadlines that expired in the queue */
    int64_t cancelled; /* cancelled while queued (including shutdown) */
    int64_t lengths;   /* sum of the lengths of the requests run */
    int64_t padded;    /* sum over batches of size x longest length: lengths/padded is the
                          share of a padded batch that is real */
};
void pl_batcher_stats(struct pl_batcher *b, struct pl_batcher_stats *out);

#ifdef __cplusplus
}
#endif
#endif
