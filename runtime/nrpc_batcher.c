/*
 * nrpc_batcher.c - dynamic batching: one queue, n_instances threads.
 *
 * An idle instance waits for the queue's first request, then waits until
 * max_batch_size requests are queued or max_queue_delay_us passed since that
 * first request arrived, takes up to max_batch_size of them in arrival order
 * (or, with bucket_by_length, the oldest and those closest to its length),
 * answers the ones whose deadline already passed with PL_E_TIMEOUT and runs
 * the rest. Several instances share the queue, so batches run in parallel.
 *
 * Wake-ups cost the most here on a small machine (a service has tens of
 * threads waiting on requests), so each one is aimed: a submit wakes one
 * instance and only when one can act (the queue was empty or a batch filled),
 * an instance that leaves requests behind wakes the next, and a completion
 * wakes only the thread waiting for that request (its own condition
 * variable), never every waiter.
 */
#include "nrpc_batcher.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "log.h"
#include "nrpc_metrics.h"
#include "util.h"

enum { RQ_NEW = 0, RQ_QUEUED = 1, RQ_RUNNING = 2, RQ_DONE = 3 };

struct instance {
    struct pl_batcher *b;
    int index;
    pthread_t thread;
    struct pl_batch_req **batch; /* max_batch_size slots, allocated at create */
    struct pl_batch_req **cand;  /* LOOKAHEAD x max_batch_size slots (bucket_by_length) */
};

#define LOOKAHEAD 4 /* bucket_by_length looks this many batches deep into the queue */

struct pl_batcher {
    struct pl_batcher_opts o;
    pl_batch_run_fn run;
    void *ud;
    pthread_mutex_t lock;
    pthread_cond_t cv; /* queue changed or stopping */
    struct pl_batch_req *head, *tail;
    int n_queued;
    bool stopping;
    struct instance *inst;
    int n_started;
    struct pl_batcher_stats stats;
    struct pl_metrics_model mm;
    bool have_metrics;
};

void pl_batch_req_init(struct pl_batch_req *r, void *input, int64_t deadline_us) {
    memset(r, 0, sizeof *r);
    r->input = input;
    r->deadline_us = deadline_us;
}

void pl_batch_req_fail(struct pl_batch_req *r, pl_status s, const char *fmt, ...) {
    if (!r) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->error, sizeof r->error, fmt, ap);
    va_end(ap);
    r->status = s == PL_OK ? PL_E_INTERNAL : s;
}

/* Mark r done and run its callback; r may be freed by the callback. */
static void complete(struct pl_batcher *b, struct pl_batch_req *r) {
    pl_batch_done_fn fn = r->done;
    void *ud = r->done_ud;
    pthread_mutex_lock(&b->lock);
    r->state = RQ_DONE;
    if (r->waiter) pthread_cond_signal(r->waiter);
    pthread_mutex_unlock(&b->lock);
    if (fn) fn(r, ud);
}

static void abs_time_us(struct timespec *ts, int64_t mono_deadline_us) {
    /* pthread_cond_timedwait uses CLOCK_REALTIME: translate the monotonic deadline */
    int64_t left = mono_deadline_us - pl_time_mono_us();
    if (left < 0) left = 0;
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += (time_t)(left / 1000000);
    ts->tv_nsec += (long)(left % 1000000) * 1000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static void unlink_head(struct pl_batcher *b) {
    struct pl_batch_req *r = b->head;
    b->head = r->next;
    if (!b->head) b->tail = NULL;
    b->n_queued--;
    r->next = NULL;
}

static int length_gap(const struct pl_batch_req *r, int target) {
    int d = r->length - target;
    return d < 0 ? -d : d;
}

/* bucket_by_length, more queued than a batch holds (b->lock held): mark the oldest request
 * and the cap - 1 closest to its length among the first LOOKAHEAD x cap (earlier first on
 * a tie) as RQ_RUNNING, then move the marked ones, in arrival order, to the queue's front,
 * so that the caller takes exactly them from the head. */
static void pick_by_length(struct pl_batcher *b, struct instance *in, int cap) {
    struct pl_batch_req **cand = in->cand;
    int n = 0;
    for (struct pl_batch_req *r = b->head; r && n < LOOKAHEAD * cap; r = r->next) cand[n++] = r;
    int target = cand[0]->length;
    cand[0]->state = RQ_RUNNING;
    for (int k = 1; k < cap && k < n; k++) {
        int best = -1;
        for (int i = 1; i < n; i++) {
            if (cand[i]->state == RQ_RUNNING) continue;
            if (best < 0 || length_gap(cand[i], target) < length_gap(cand[best], target)) best = i;
        }
        cand[best]->state = RQ_RUNNING;
    }
    /* relink: the marked ones first (arrival order), then the others (arrival order) */
    struct pl_batch_req *rest = cand[n - 1]->next, *first = NULL, **tail_first = &first;
    struct pl_batch_req *others = NULL, **tail_others = &others;
    for (int i = 0; i < n; i++) {
        struct pl_batch_req ***t = cand[i]->state == RQ_RUNNING ? &tail_first : &tail_others;
        **t = cand[i];
        *t = &cand[i]->next;
    }
    *tail_others = rest;
    *tail_first = others ? others : rest;
    b->head = first;
    if (!rest) { /* the tail moved when the list's last node was a candidate */
        struct pl_batch_req *last = first;
        while (last->next) last = last->next;
        b->tail = last;
    }
    for (int i = 0; i < n; i++) cand[i]->state = RQ_QUEUED;
}

static void *instance_main(void *arg) {
    struct instance *in = arg;
    struct pl_batcher *b = in->b;
    int cap = b->o.max_batch_size;
    struct pl_batch_req **batch = in->batch;
    struct pl_batch_req *expired = NULL;
    pthread_mutex_lock(&b->lock);
    for (;;) {
        while (!b->head && !b->stopping) pthread_cond_wait(&b->cv, &b->lock);
        if (b->stopping) break;
        /* form a batch: enough requests, or the first one waited long enough */
        while (b->head && !b->stopping && b->n_queued < cap) {
            int64_t due = b->head->enqueued_us + b->o.max_queue_delay_us;
            if (pl_time_mono_us() >= due) break;
            struct timespec ts;
            abs_time_us(&ts, due);
            pthread_cond_timedwait(&b->cv, &b->lock, &ts);
        }
        if (b->stopping) break;
        if (!b->head) continue; /* another instance took them */
        int n = 0, longest = 0;
        int64_t now = pl_time_mono_us();
        if (b->o.bucket_by_length && b->n_queued > cap) pick_by_length(b, in, cap);
        while (b->head && n < cap) {
            struct pl_batch_req *r = b->head;
            unlink_head(b);
            if (r->deadline_us && now >= r->deadline_us) {
                r->state = RQ_RUNNING;
                r->status = PL_E_TIMEOUT;
                snprintf(r->error, sizeof r->error, "deadline exceeded after %lld us in the queue",
                         (long long)(now - r->enqueued_us));
                r->next = expired;
                expired = r;
                b->stats.expired++;
                continue;
            }
            r->state = RQ_RUNNING;
            r->status = PL_OK;
            r->error[0] = 0;
            batch[n++] = r;
            b->stats.lengths += r->length;
            if (r->length > longest) longest = r->length;
        }
        if (n) {
            b->stats.batches++;
            b->stats.requests += n;
            b->stats.padded += (int64_t)n * longest;
            if (n > b->stats.max_batch) b->stats.max_batch = n;
        }
        if (b->head) pthread_cond_signal(&b->cv); /* what is left: another idle instance */
        pthread_mutex_unlock(&b->lock);

        while (expired) {
            struct pl_batch_req *r = expired;
            expired = r->next;
            r->next = NULL;
            complete(b, r);
        }
        if (n) {
            if (b->have_metrics) {
                for (int i = 0; i < n; i++)
                    pl_metric_observe(b->mm.queue_us, (double)(now - batch[i]->enqueued_us));
                pl_metric_observe(b->mm.batch_size, n);
                pl_metric_add(b->mm.execution_count, 1);
                pl_metric_add(b->mm.inference_count, n);
            }
            pl_clear_error();
            int64_t t0 = pl_time_mono_us();
            pl_status st = b->run(b->ud, in->index, batch, n);
            if (b->have_metrics)
                pl_metric_observe(b->mm.compute_us, (double)(pl_time_mono_us() - t0));
            if (st != PL_OK) {
                const char *e = pl_last_error();
                for (int i = 0; i < n; i++) {
                    if (batch[i]->status != PL_OK) continue;
                    batch[i]->status = st;
                    snprintf(batch[i]->error, sizeof batch[i]->error, "%s",
                             e && *e ? e : pl_status_str(st));
                }
            }
            for (int i = 0; i < n; i++) complete(b, batch[i]);
        }
        pthread_mutex_lock(&b->lock);
    }
    pthread_mutex_unlock(&b->lock);
    return NULL;
}

pl_status pl_batcher_create(const struct pl_batcher_opts *opts, pl_batch_run_fn run, void *ud,
                            struct pl_batcher **out) {
    struct pl_batcher_opts o = PL_BATCHER_OPTS_INIT;
    pl_status st = PL_OK;
    if (!out || !run) return PL_ERR(PL_E_INVALID_ARG, "batcher: NULL argument");
    *out = NULL;
    if (opts) o = *opts;
    if (o.max_batch_size < 1 || o.max_queue_delay_us < 0 || o.n_instances < 1 || o.max_queue < 0 ||
        o.max_batch_size > 65536 || o.n_instances > 256)
        return PL_ERR(PL_E_INVALID_ARG,
                      "batcher: bad options (max_batch_size %d, max_queue_delay_us %lld, "
                      "n_instances %d, max_queue %d)",
                      o.max_batch_size, (long long)o.max_queue_delay_us, o.n_instances,
                      o.max_queue);
    struct pl_batcher *b = pl_calloc(1, sizeof *b);
    if (!b) return PL_ERR(PL_E_NOMEM, "batcher");
    b->o = o;
    b->o.model = NULL; /* not kept: only used for the metric labels below */
    b->run = run;
    b->ud = ud;
    pthread_mutex_init(&b->lock, NULL);
    pthread_cond_init(&b->cv, NULL);
    if (o.metrics) {
        PL_TRY_GOTO(st, pl_metrics_std_model(o.metrics, o.model ? o.model : "model", &b->mm));
        b->have_metrics = true;
    }
    b->inst = pl_calloc((size_t)o.n_instances, sizeof *b->inst);
    if (!b->inst) {
        st = PL_ERR(PL_E_NOMEM, "batcher instances");
        goto fail;
    }
    for (int i = 0; i < o.n_instances; i++) {
        b->inst[i].batch = pl_calloc((size_t)o.max_batch_size, sizeof(struct pl_batch_req *));
        if (o.bucket_by_length)
            b->inst[i].cand =
                pl_calloc((size_t)o.max_batch_size * LOOKAHEAD, sizeof(struct pl_batch_req *));
        if (!b->inst[i].batch || (o.bucket_by_length && !b->inst[i].cand)) {
            st = PL_ERR(PL_E_NOMEM, "batcher: batch of %d", o.max_batch_size);
            goto fail;
        }
    }
    for (int i = 0; i < o.n_instances; i++) {
        b->inst[i].b = b;
        b->inst[i].index = i;
        if (pthread_create(&b->inst[i].thread, NULL, instance_main, &b->inst[i]) != 0) {
            st = PL_ERR(PL_E_INTERNAL, "batcher: thread %d: %s", i, strerror(errno));
            goto fail;
        }
        b->n_started++;
    }
    *out = b;
    return PL_OK;
fail:
    pl_batcher_destroy(b);
    return st;
}

pl_status pl_batcher_submit(struct pl_batcher *b, struct pl_batch_req *r) {
    if (!b || !r) return PL_ERR(PL_E_INVALID_ARG, "batcher submit: NULL argument");
    pl_status st = PL_OK;
    pthread_mutex_lock(&b->lock);
    if (b->stopping) {
        st = PL_ERR(PL_E_CANCELLED, "batcher is shutting down");
    } else if (r->state == RQ_QUEUED || r->state == RQ_RUNNING) {
        st = PL_ERR(PL_E_INVALID_ARG, "batcher submit: request already submitted");
    } else if (b->o.max_queue && b->n_queued >= b->o.max_queue) {
        st = PL_ERR(PL_E_EXHAUSTED, "batcher queue full (%d requests)", b->o.max_queue);
    } else {
        r->state = RQ_QUEUED;
        r->status = PL_OK;
        r->error[0] = 0;
        r->output = NULL;
        r->next = NULL;
        r->enqueued_us = pl_time_mono_us();
        if (b->tail)
            b->tail->next = r;
        else
            b->head = r;
        b->tail = r;
        b->n_queued++;
        /* an instance can act when the queue was empty (an idle one starts a batch) or a
         * batch is full (one forming a batch stops waiting for the delay); otherwise the
         * instance forming a batch, or the next one to finish, takes it */
        if (b->n_queued == 1 || b->n_queued == b->o.max_batch_size) pthread_cond_signal(&b->cv);
    }
    pthread_mutex_unlock(&b->lock);
    return st;
}

pl_status pl_batcher_wait(struct pl_batcher *b, struct pl_batch_req *r, int64_t timeout_us) {
    if (!b || !r) return PL_ERR(PL_E_INVALID_ARG, "batcher wait: NULL argument");
    int64_t due = timeout_us < 0 ? 0 : pl_time_mono_us() + timeout_us;
    pl_status st = PL_OK;
    pthread_cond_t cv; /* complete() signals this one thread, not every waiter */
    pthread_cond_init(&cv, NULL);
    pthread_mutex_lock(&b->lock);
    r->waiter = &cv;
    while (r->state != RQ_DONE) {
        if (timeout_us < 0) {
            pthread_cond_wait(&cv, &b->lock);
            continue;
        }
        if (pl_time_mono_us() >= due) {
            st = PL_ERR(PL_E_TIMEOUT, "batch request not done within %lld us",
                        (long long)timeout_us);
            break;
        }
        struct timespec ts;
        abs_time_us(&ts, due);
        pthread_cond_timedwait(&cv, &b->lock, &ts);
    }
    r->waiter = NULL;
    pthread_mutex_unlock(&b->lock);
    pthread_cond_destroy(&cv);
    return st;
}

bool pl_batcher_cancel(struct pl_batcher *b, struct pl_batch_req *r) {
    if (!b || !r) return false;
    bool found = false;
    pthread_mutex_lock(&b->lock);
    if (r->state == RQ_QUEUED) {
        struct pl_batch_req *prev = NULL;
        for (struct pl_batch_req *p = b->head; p; prev = p, p = p->next) {
            if (p != r) continue;
            if (prev)
                prev->next = r->next;
            else
                b->head = r->next;
            if (b->tail == r) b->tail = prev;
            b->n_queued--;
            r->next = NULL;
            r->state = RQ_RUNNING; /* no longer queued; complete() finishes it */
            r->status = PL_E_CANCELLED;
            snprintf(r->error, sizeof r->error, "cancelled while queued");
            b->stats.cancelled++;
            found = true;
            break;
        }
    }
    pthread_mutex_unlock(&b->lock);
    if (found) complete(b, r);
    return found;
}

void pl_batcher_destroy(struct pl_batcher *b) {
    if (!b) return;
    pthread_mutex_lock(&b->lock);
    b->stopping = true;
    struct pl_batch_req *q = b->head;
    b->head = b->tail = NULL;
    b->n_queued = 0;
    for (struct pl_batch_req *r = q; r; r = r->next) {
        r->state = RQ_RUNNING;
        r->status = PL_E_CANCELLED;
        snprintf(r->error, sizeof r->error, "batcher shutting down");
        b->stats.cancelled++;
    }
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->lock);
    while (q) {
        struct pl_batch_req *r = q;
        q = r->next;
        r->next = NULL;
        complete(b, r);
    }
    for (int i = 0; i < b->n_started; i++) pthread_join(b->inst[i].thread, NULL);
    for (int i = 0; b->inst && i < b->o.n_instances; i++) {
        pl_free(b->inst[i].batch);
        pl_free(b->inst[i].cand);
    }
    pl_free(b->inst);
    pthread_cond_destroy(&b->cv);
    pthread_mutex_destroy(&b->lock);
    pl_free(b);
}

void pl_batcher_stats(struct pl_batcher *b, struct pl_batcher_stats *out) {
    if (!b || !out) return;
    pthread_mutex_lock(&b->lock);
    *out = b->stats;
    pthread_mutex_unlock(&b->lock);
}
