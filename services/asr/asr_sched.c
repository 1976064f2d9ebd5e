/*
 * asr_sched.c - cross-stream scheduler of streaming model steps (asr_sched.h).
 *
 * Queued steps form a FIFO of requests that live on their callers' stacks. The scheduler
 * thread sleeps on `work` until a step arrives, gathers (see asr_sched.h), detaches up to
 * max_batch requests from the head, runs them as one pl_asr_batch_step outside the lock,
 * marks them done and wakes the callers on `done`.
 */
#include "asr_sched.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "log.h"
#include "models/asr_model.h"
#include "nrpc_metrics.h"
#include "util.h"

struct sched_req {
    struct pl_asr_state *st;
    const float *feats;
    int n_frames, n_out;
    bool finish, done;
    float *out;
    pl_status status;
    int64_t t_enq_us;
    struct sched_req *next;
};

struct pl_asrsvc_sched {
    struct pl_asrsvc_sched_opts o;
    struct pl_asr_batch *b;
    pthread_t th;
    bool started, stop;
    pthread_mutex_t mu;
    pthread_cond_t work, done;
    struct sched_req *head, *tail;
    int nq;
    int expected; /* streams announced to step soon */
    struct pl_asrsvc_sched_stats stats;
    struct pl_metric *m_batch, *m_steps, *m_wait;
};

void pl_asrsvc_sched_opts_default(struct pl_asrsvc_sched_opts *o) {
    memset(o, 0, sizeof *o);
    o->max_batch = PL_ASRSVC_SCHED_MAX_BATCH;
    o->max_chunk = 256;
    o->max_wait_us = 2000;
}

/* Absolute CLOCK_MONOTONIC time of mono microsecond t (the condvars wait on that clock). */
static struct timespec ts_of_us(int64_t t) {
    struct timespec ts;
    ts.tv_sec = (time_t)(t / 1000000);
    ts.tv_nsec = (long)(t % 1000000) * 1000;
    return ts;
}

static void *sched_main(void *ud) {
    struct pl_asrsvc_sched *s = ud;
    struct pl_asr_state *streams[PL_ASRSVC_SCHED_MAX_BATCH];
    const float *feats[PL_ASRSVC_SCHED_MAX_BATCH];
    int nf[PL_ASRSVC_SCHED_MAX_BATCH], no[PL_ASRSVC_SCHED_MAX_BATCH];
    bool fin[PL_ASRSVC_SCHED_MAX_BATCH];
    float *outs[PL_ASRSVC_SCHED_MAX_BATCH];
    struct sched_req *take[PL_ASRSVC_SCHED_MAX_BATCH];
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->stop && s->nq == 0) pthread_cond_wait(&s->work, &s->mu);
        if (s->nq == 0) break; /* stopping and nothing left */
        /* gather: more streams may be about to queue their steps */
        if (s->o.max_wait_us > 0) {
            struct timespec dl = ts_of_us(s->head->t_enq_us + s->o.max_wait_us);
            while (!s->stop && s->nq < s->o.max_batch && s->expected > 0)
                if (pthread_cond_timedwait(&s->work, &s->mu, &dl) == ETIMEDOUT) break;
        }
        int n = 0;
        int64_t now = pl_time_mono_us();
        while (s->head && n < s->o.max_batch) {
            struct sched_req *r = s->head;
            s->head = r->next;
            take[n] = r;
            streams[n] = r->st;
            feats[n] = r->feats;
            nf[n] = r->n_frames;
            fin[n] = r->finish;
            outs[n] = r->out;
            no[n] = 0;
            pl_metric_observe(s->m_wait, (double)(now - r->t_enq_us));
            n++;
        }
        if (!s->head) s->tail = NULL;
        s->nq -= n;
        pthread_mutex_unlock(&s->mu);
        pl_status st = pl_asr_batch_step(s->b, streams, n, feats, nf, fin, outs, no);
        if (st != PL_OK) PL_LOGE("streaming model step of %d streams: %s", n, pl_last_error());
        pl_metric_observe(s->m_batch, (double)n);
        pl_metric_add(s->m_steps, 1);
        pthread_mutex_lock(&s->mu);
        for (int i = 0; i < n; i++) {
            take[i]->status = st;
            take[i]->n_out = no[i];
            take[i]->done = true;
        }
        s->stats.steps++;
        s->stats.stream_steps += n;
        if (n > s->stats.max_seen) s->stats.max_seen = n;
        pthread_cond_broadcast(&s->done);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

pl_status pl_asrsvc_sched_create(const struct pl_asr_model *am, const struct pl_asrsvc_sched_opts *o,
                              struct pl_asrsvc_sched **out) {
    if (!am || !out) return PL_ERR(PL_E_INVALID_ARG, "pl_asrsvc_sched_create: NULL argument");
    *out = NULL;
    struct pl_asrsvc_sched_opts d;
    if (!o) {
        pl_asrsvc_sched_opts_default(&d);
        o = &d;
    }
    if (o->max_batch < 1 || o->max_batch > PL_ASRSVC_SCHED_MAX_BATCH)
        return PL_ERR(PL_E_INVALID_ARG, "stream scheduler: max batch %d, want 1..%d", o->max_batch,
                      PL_ASRSVC_SCHED_MAX_BATCH);
    if (o->max_chunk < 1 || o->max_chunk > 4096)
        return PL_ERR(PL_E_INVALID_ARG, "stream scheduler: max chunk %d frames, want 1..4096",
                      o->max_chunk);
    if (o->max_wait_us < 0 || o->max_wait_us > 1000000)
        return PL_ERR(PL_E_INVALID_ARG, "stream scheduler: max wait %lld us, want 0..1000000",
                      (long long)o->max_wait_us);
    pl_status st = PL_OK;
    struct pl_asrsvc_sched *s = pl_calloc(1, sizeof *s);
    if (!s) return PL_ERR(PL_E_NOMEM, "stream scheduler");
    s->o = *o;
    s->o.model = NULL;
    pthread_mutex_init(&s->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->work, &ca);
    pthread_condattr_destroy(&ca);
    pthread_cond_init(&s->done, NULL);
    PL_TRY_GOTO(st, pl_asr_batch_create(am, o->max_batch, o->max_chunk, &s->b));
    if (o->metrics) {
        char labels[300];
        snprintf(labels, sizeof labels, "model=\"%s\"", o->model ? o->model : "");
        s->m_batch = pl_metrics_histogram(o->metrics, "parley_asr_stream_batch_size",
                                          "streams advanced by one batched streaming model step",
                                          labels, NULL, -1);
        s->m_steps = pl_metrics_counter(o->metrics, "parley_asr_stream_steps_total",
                                        "batched streaming model steps run", labels);
        s->m_wait = pl_metrics_histogram(o->metrics, "parley_asr_stream_wait_us",
                                         "time a stream's model step waited for its batch (us)",
                                         labels, NULL, 0);
    }
    if (pthread_create(&s->th, NULL, sched_main, s) != 0) {
        st = PL_ERR(PL_E_INTERNAL, "stream scheduler: cannot start its thread");
        goto fail;
    }
    s->started = true;
    *out = s;
    return PL_OK;
fail:
    pl_asrsvc_sched_destroy(s);
    return st;
}

void pl_asrsvc_sched_destroy(struct pl_asrsvc_sched *s) {
    if (!s) return;
    if (s->started) {
        pthread_mutex_lock(&s->mu);
        s->stop = true;
        pthread_cond_broadcast(&s->work);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->th, NULL);
    }
    pl_asr_batch_destroy(s->b);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->work);
    pthread_cond_destroy(&s->done);
    pl_free(s);
}

void pl_asrsvc_sched_expect(struct pl_asrsvc_sched *s, int delta) {
    if (!s) return;
    pthread_mutex_lock(&s->mu);
    s->expected += delta;
    if (s->expected < 0) s->expected = 0;
    if (delta < 0) pthread_cond_signal(&s->work); /* a gathering step may wait for it */
    pthread_mutex_unlock(&s->mu);
}

pl_status pl_asrsvc_sched_step(struct pl_asrsvc_sched *s, struct pl_asr_state *st, const float *feats,
                            int n_frames, bool finish, float *out, int *n_out, bool expected) {
    if (!s || !st || !out || !n_out || n_frames < 0 || n_frames > s->o.max_chunk ||
        (n_frames > 0 && !feats)) {
        if (s && expected) pl_asrsvc_sched_expect(s, -1);
        return PL_ERR(PL_E_INVALID_ARG, "pl_asrsvc_sched_step: bad arguments (%d frames)", n_frames);
    }
    *n_out = 0;
    struct sched_req r;
    memset(&r, 0, sizeof r);
    r.st = st;
    r.feats = n_frames ? feats : NULL;
    r.n_frames = n_frames;
    r.finish = finish;
    r.out = out;
    pthread_mutex_lock(&s->mu);
    if (expected && s->expected > 0) s->expected--;
    if (s->stop) {
        pthread_mutex_unlock(&s->mu);
        return PL_ERR(PL_E_UNAVAILABLE, "stream scheduler is stopping");
    }
    r.t_enq_us = pl_time_mono_us();
    if (s->tail)
        s->tail->next = &r;
    else
        s->head = &r;
    s->tail = &r;
    s->nq++;
    pthread_cond_signal(&s->work);
    while (!r.done) pthread_cond_wait(&s->done, &s->mu);
    pthread_mutex_unlock(&s->mu);
    if (r.status != PL_OK) return PL_ERR(r.status, "batched streaming model step failed");
    *n_out = r.n_out;
    return PL_OK;
}

void pl_asrsvc_sched_get_stats(struct pl_asrsvc_sched *s, struct pl_asrsvc_sched_stats *out) {
    memset(out, 0, sizeof *out);
    if (!s) return;
    pthread_mutex_lock(&s->mu);
    *out = s->stats;
    pthread_mutex_unlock(&s->mu);
}
