/*
 * nrpc_worker.c - the worker side of Parley's NATS RPC.
 *
 * Threads:
 *   - NATS delivery threads (one per subscription) decode the subject, apply
 *     backpressure and queue jobs. A unary rpc whose handler has been quick
 *     (opts.inline_max_us) runs on its delivery thread instead when nothing
 *     waits and a handler slot is free (run_inline): no hand-off to a handler
 *     thread, which costs a wake-up and a context switch per request.
 *   - n_threads handler threads take jobs from one queue: a unary request, a
 *     stream open, or "run the pending events of session X". A session is in
 *     the queue at most once (its `scheduled` flag), so its events run in
 *     order and never two at once, while different sessions run in parallel.
 *   - a timer thread sends heartbeats and cancels sessions whose client went
 *     silent.
 * Sessions live under `parley.<svc>.session.<worker id>.<n>`, one wildcard
 * subscription per worker; the client never parses the session subject.
 * Sessions are in nrpc_worker_session.c; shared internals in nrpc_worker_impl.h.
 */
#include "nrpc_worker.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "log.h"
#include "httpd.h"
#include "nrpc_worker_impl.h"
#include "util.h"

/* ---- small helpers --------------------------------------------------------------------------- */

bool pl_worker_ctx_expired(const struct pl_worker_ctx *ctx) {
    return ctx && ctx->deadline_us > 0 && pl_time_mono_us() >= ctx->deadline_us;
}

void pl__wk_ctx_from_msg(struct pl_worker *w, struct rpc *r, natsMsg *msg, int64_t received_us,
                         struct pl_worker_ctx *ctx) {
    memset(ctx, 0, sizeof *ctx);
    ctx->service = w->service;
    ctx->rpc = r ? r->name : "";
    ctx->received_us = received_us;
    const char *id = pl__nrpc_hdr(msg, PL_NRPC_H_REQUEST_ID);
    if (id && pl_request_id_valid(id)) {
        snprintf(ctx->request_id, sizeof ctx->request_id, "%s", id);
    } else {
        char fresh[PL_REQUEST_ID_LEN];
        pl_request_id_new(fresh);
        memcpy(ctx->request_id, fresh, sizeof fresh);
    }
    /* the time left when the client published, counted from when the message arrived here */
    int64_t left = 0;
    /* a time left beyond 2^30 s counts as no deadline, as the gateway reads gRPC's: the sum
     * would overflow int64 for values near its maximum (found by tests/fuzz/fuzz_nats_msg.c) */
    if (pl__nrpc_hdr_i64(msg, PL_NRPC_H_TIMEOUT, &left) && left > 0 &&
        left <= ((int64_t)1 << 30) * 1000000)
        ctx->deadline_us = received_us + left;
    const char *user = pl__nrpc_hdr(msg, PL_NRPC_H_USER);
    if (user) pl__nrpc_copy_token(ctx->user, sizeof ctx->user, user);
}

int pl__wk_hb_every(const struct pl_worker *w, natsMsg *msg) {
    int64_t v = 0;
    if (!pl__nrpc_hdr_i64(msg, PL_NRPC_H_HEARTBEAT, &v) || v <= 0 || v >= w->o.heartbeat_ms)
        return w->o.heartbeat_ms;
    return v < TIMER_TICK_MS ? TIMER_TICK_MS : (int)v;
}

static struct rpc *find_rpc(struct pl_worker *w, const char *name) {
    for (struct rpc *r = w->rpcs; r; r = r->next)
        if (name && strcmp(r->name, name) == 0) return r;
    return NULL;
}

/* Reply with a status (and no payload) to `reply`. */
void pl__wk_reply_status(struct pl_worker *w, const char *reply, int code, const char *err) {
    natsMsg *m = NULL;
    if (!reply || !*reply) return;
    if (pl__nrpc_msg(&m, reply, NULL, NULL, 0, NULL, -1, false, code, err) == PL_OK)
        (void)pl__nrpc_publish(w->nc, m);
}

size_t pl__wk_frame_limit(struct pl_worker *w) { return pl__nrpc_frame_limit(w->nc, 0); }

/* The client-facing text for a failed handler: its PL_ERR message, or the status name. */
void pl__wk_handler_error(pl_status st, char *buf, size_t cap) {
    const char *e = pl_last_error();
    if (!e || !*e) e = pl_status_str(st);
    /* a failed allocation's message names what was being built ("nlu: tokens"): say why */
    bool oom = st == PL_E_NOMEM && !strstr(e, "out of memory");
    snprintf(buf, cap, "%s%s", oom ? "out of memory: " : "", e);
}

/* The one place a unary handler runs (NATS request, large request as a stream, or
 * pl_worker_call): clear the thread's error, call, time it; on failure drop whatever the
 * handler left in out and log the failure once, here, where it is answered. */
pl_status pl__wk_invoke(struct pl_worker *w, struct rpc *r, const struct pl_worker_ctx *ctx,
                        const uint8_t *req, size_t n, struct pl_worker_out *out) {
    out->data = NULL;
    out->len = 0;
    pl_clear_error();
    int64_t t0 = pl_time_mono_us();
    pl__wk_fault_begin();
    pl_status st = r->fn(r->ud, ctx, req, n, out);
    pl__wk_fault_end();
    int64_t dt = pl_time_mono_us() - t0;
    pl_metric_observe(w->mm.compute_us, (double)dt);
    if (dt > w->o.inline_max_us)
        atomic_store_explicit(&r->fast_runs, 0, memory_order_relaxed);
    else if (atomic_load_explicit(&r->fast_runs, memory_order_relaxed) < PL_WORKER_INLINE_STREAK)
        atomic_fetch_add_explicit(&r->fast_runs, 1, memory_order_relaxed);
    if (st != PL_OK) {
        pl_free(out->data);
        out->data = NULL;
        out->len = 0;
        PL_LOGI("%s.%s: %s: %s (%zu bytes in, %.1f ms)", w->service, r->name, pl_status_str(st),
                pl_last_error(), n, dt / 1000.0);
    } else {
        PL_LOGD("%s.%s: %zu bytes in, %zu out, %.1f ms", w->service, r->name, n, out->len,
                dt / 1000.0);
    }
    return st;
}

/* ---- queue ------------------------------------------------------------------------------------
 */

static void queue_job_locked(struct pl_worker *w, struct job *j) {
    if (w->q_tail)
        w->q_tail->next = j;
    else
        w->q_head = j;
    w->q_tail = j;
}

void pl__wk_push_job_locked(struct pl_worker *w, struct job *j) {
    queue_job_locked(w, j);
    pthread_cond_signal(&w->cv);
}

/* Log refusals at most once a second so that an overload does not flood the log. */
static void note_refusal(struct pl_worker *w, const char *rpc) {
    long long n = atomic_fetch_add(&w->refused, 1) + 1;
    long long now = pl_time_mono_ms(), last = atomic_load(&w->refused_logged_ms);
    if (now - last < 1000 || !atomic_compare_exchange_strong(&w->refused_logged_ms, &last, now))
        return;
    PL_LOGW("%s.%s: queue full (%d): %lld request(s) refused so far with RESOURCE_EXHAUSTED",
            w->service, rpc, w->o.queue_capacity, n);
}

/* Queue msg as a job of type JOB_UNARY or JOB_OPEN for rpc r, or refuse it at once with
 * RESOURCE_EXHAUSTED (queue full, no room for another stream, out of memory). Takes msg. */
static void enqueue_or_refuse(struct pl_worker *w, struct rpc *r, natsMsg *msg,
                              enum job_type type) {
    const char *reply = natsMsg_GetReply(msg);
    bool open = type == JOB_OPEN;
    struct job *j = pl_calloc(1, sizeof *j);
    pthread_mutex_lock(&w->lock);
    bool full = w->q_new >= w->o.queue_capacity ||
                (open && w->n_sessions - w->n_ending + w->pending_opens >= w->o.max_streams);
    if (j && !full) {
        j->type = type;
        j->msg = msg;
        j->rpc = r;
        j->received_us = pl_time_mono_us();
        j->hb_ms = j->received_us / 1000;
        j->hb_every_ms = pl__wk_hb_every(w, msg);
        w->q_new++;
        if (open) w->pending_opens++;
        queue_job_locked(w, j);
    }
    pthread_mutex_unlock(&w->lock);
    if (j && !full) {
        /* after the unlock: the handler thread it wakes does not then wait for this lock */
        pthread_cond_signal(&w->cv);
        return;
    }
    pl_free(j);
    note_refusal(w, r->name);
    pl__wk_reply_status(w, reply, PL_GRPC_RESOURCE_EXHAUSTED,
                        !j     ? "worker out of memory"
                        : open ? "worker has no room for another stream"
                               : "worker queue is full, try again later");
    pl_metrics_std_request(w->metrics, w->model, r->name, PL_GRPC_RESOURCE_EXHAUSTED);
    natsMsg_Destroy(msg);
}

static bool run_inline(struct pl_worker *w, struct rpc *r, natsSubscription *sub, natsMsg *msg);

/* Delivery callback of a unary subject: run it here (a quick rpc), else queue or refuse at
 * once. */
static void on_unary(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure) {
    (void)nc;
    struct rpc *r = closure;
    if (run_inline(r->w, r, sub, msg)) return;
    enqueue_or_refuse(r->w, r, msg, JOB_UNARY);
}

/* Delivery callback of parley.<svc>.stream.open. */
static void on_open(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure) {
    (void)nc;
    (void)sub;
    struct pl_worker *w = closure;
    const char *rpc_name = pl__nrpc_hdr(msg, PL_NRPC_H_RPC);
    struct rpc *r = find_rpc(w, rpc_name);
    if (!r) {
        char e[200];
        snprintf(e, sizeof e, "service %s has no rpc '%.100s'", w->service,
                 rpc_name ? rpc_name : "(none)");
        pl__wk_reply_status(w, natsMsg_GetReply(msg), PL_GRPC_UNIMPLEMENTED, e);
        natsMsg_Destroy(msg);
        return;
    }
    enqueue_or_refuse(w, r, msg, JOB_OPEN);
}

/* ---- jobs ------------------------------------------------------------------------------------ */

/* Count a finished unary request (before its answer goes out, so that a
 * client that scrapes /metrics right after its reply sees it). */
static void count_unary(struct pl_worker *w, struct job *j, int code) {
    pl_metric_observe(w->mm.request_us, (double)(pl_time_mono_us() - j->received_us));
    pl_metrics_std_request(w->metrics, w->model, j->rpc->name, code);
}

static void run_unary(struct pl_worker *w, struct job *j) {
    struct pl_worker_ctx ctx;
    struct pl_worker_out out = {0};
    char err[512];
    const char *reply = natsMsg_GetReply(j->msg);
    int code;
    pl__wk_ctx_from_msg(w, j->rpc, j->msg, j->received_us, &ctx);
    pl_log_set_request_id(ctx.request_id);
    int64_t now = pl_time_mono_us();
    pl_metric_observe(w->mm.queue_us, (double)(now - j->received_us));
    if (pl_worker_ctx_expired(&ctx)) {
        code = PL_GRPC_DEADLINE_EXCEEDED;
        count_unary(w, j, code);
        pl__wk_reply_status(w, reply, code, "deadline exceeded before the worker started");
        goto done;
    }
    pl_status st = pl__wk_invoke(w, j->rpc, &ctx, (const uint8_t *)natsMsg_GetData(j->msg),
                                 (size_t)natsMsg_GetDataLength(j->msg), &out);
    code = pl_nrpc_code_from_status(st);
    count_unary(w, j, code);
    if (st != PL_OK) {
        pl__wk_handler_error(st, err, sizeof err);
        pl__wk_reply_status(w, reply, code, err);
    } else if (reply && *reply) {
        size_t lim = pl__wk_frame_limit(w);
        pl_status ps;
        if (out.len <= lim) {
            ps = pl__nrpc_publish_data(w->nc, reply, out.data, out.len);
        } else { /* a response larger than one message: numbered frames to the reply subject */
            int64_t seq = 0;
            ps = pl__nrpc_publish_frames(w->nc, reply, NULL, out.data, out.len, lim, &seq);
        }
        if (ps != PL_OK)
            PL_LOGW("%s.%s: reply lost: %s", w->service, j->rpc->name, pl_last_error());
    }
    pl_free(out.data);
done:
    pl_log_set_request_id(NULL);
}

/* The running unary jobs (w->lock held): the timer sends their heartbeats. */
static void running_link(struct pl_worker *w, struct job *j) {
    j->run_prev = NULL;
    j->run_next = w->running;
    if (w->running) w->running->run_prev = j;
    w->running = j;
}

static void running_unlink(struct pl_worker *w, struct job *j) {
    if (j->run_prev)
        j->run_prev->run_next = j->run_next;
    else
        w->running = j->run_next;
    if (j->run_next) j->run_next->run_prev = j->run_prev;
}

/* Run a unary request on the delivery thread that received it (see the top), if r has been
 * quick, nothing waits (the queue, r's subscription) and a handler slot is free; false
 * leaves msg to the caller. The request is a running job like any other: counted in
 * in_flight (the drain waits for it, the handler threads keep to n_threads in all) and on
 * the running list (its heartbeats). */
static bool run_inline(struct pl_worker *w, struct rpc *r, natsSubscription *sub, natsMsg *msg) {
    int pending = 0;
    if (w->o.inline_max_us < 0 ||
        atomic_load_explicit(&r->fast_runs, memory_order_relaxed) < PL_WORKER_INLINE_STREAK ||
        natsSubscription_GetPending(sub, &pending, NULL) != NATS_OK || pending > 0)
        return false;
    struct job j;
    memset(&j, 0, sizeof j);
    j.type = JOB_UNARY;
    j.msg = msg;
    j.rpc = r;
    j.received_us = pl_time_mono_us();
    j.hb_ms = j.received_us / 1000;
    j.hb_every_ms = pl__wk_hb_every(w, msg);
    pthread_mutex_lock(&w->lock);
    if (w->q_head || w->in_flight >= w->o.n_threads || w->threads_stop) {
        pthread_mutex_unlock(&w->lock);
        return false;
    }
    w->in_flight++;
    running_link(w, &j);
    pthread_mutex_unlock(&w->lock);
    run_unary(w, &j);
    pthread_mutex_lock(&w->lock);
    running_unlink(w, &j);
    w->in_flight--;
    bool queued = w->q_head != NULL; /* a handler thread may wait for the slot */
    pthread_cond_broadcast(&w->idle_cv);
    pthread_mutex_unlock(&w->lock);
    if (queued) pthread_cond_signal(&w->cv);
    pl__nrpc_msg_release(msg);
    return true;
}

static void *handler_main(void *arg) {
    struct pl_worker *w = arg;
    pthread_mutex_lock(&w->lock);
    for (;;) {
        /* a free slot too: inline runs (run_inline) hold slots without a handler thread */
        while ((!w->q_head || w->in_flight >= w->o.n_threads) && !w->threads_stop)
            pthread_cond_wait(&w->cv, &w->lock);
        if (!w->q_head) break;
        struct job *j = w->q_head;
        w->q_head = j->next;
        if (!w->q_head) w->q_tail = NULL;
        if (j->type != JOB_SESSION) w->q_new--;
        if (j->type == JOB_UNARY) running_link(w, j);
        w->in_flight++;
        pthread_mutex_unlock(&w->lock);
        switch (j->type) {
        case JOB_UNARY: run_unary(w, j); break;
        case JOB_OPEN: pl__wk_run_open(w, j); break;
        case JOB_SESSION: pl__wk_run_session_job(w, j->sess); break;
        }
        pthread_mutex_lock(&w->lock);
        if (j->type == JOB_UNARY) running_unlink(w, j); /* the timer reads its message */
        w->in_flight--;
        pthread_cond_broadcast(&w->idle_cv);
        pthread_mutex_unlock(&w->lock);
        pl__nrpc_msg_release(j->msg);
        pl_free(j);
        pthread_mutex_lock(&w->lock);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

/* ---- timer ----------------------------------------------------------------------------------- */

/* Reply subjects of the unary requests held here (queued or running) whose heartbeat is due,
 * copied (w->lock held) so that they are published after the lock is released. */
struct hb_due {
    char (*subj)[128];
    size_t n, cap;
};

static void unary_hb_collect(struct job *j, int64_t now, struct hb_due *d) {
    if (j->type != JOB_UNARY || now - j->hb_ms < j->hb_every_ms) return;
    const char *reply = natsMsg_GetReply(j->msg);
    if (!reply || !*reply || strlen(reply) >= sizeof d->subj[0]) return;
    if (d->n == d->cap) {
        size_t nc = d->cap ? d->cap * 2 : 64;
        char(*p)[128] = pl_realloc(d->subj, nc * sizeof *p);
        if (!p) return;
        d->subj = p;
        d->cap = nc;
    }
    memcpy(d->subj[d->n++], reply, strlen(reply) + 1);
    j->hb_ms = now;
}

static void unary_hb_send(struct pl_worker *w, struct hb_due *d) {
    for (size_t i = 0; i < d->n; i++) {
        natsMsg *m = NULL;
        if (pl__nrpc_msg(&m, d->subj[i], NULL, NULL, 0, "hb", -1, false, -1, NULL) == PL_OK)
            (void)pl__nrpc_publish(w->nc, m);
    }
    d->n = 0;
}

static void *timer_main(void *arg) {
    struct pl_worker *w = arg;
    struct pl_worker_session **hb = NULL;
    size_t cap = 0;
    struct hb_due due = {NULL, 0, 0};
    pthread_mutex_lock(&w->lock);
    while (!w->timer_stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += TIMER_TICK_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&w->timer_cv, &w->lock, &ts);
        if (w->timer_stop) break;
        int64_t now = pl_time_mono_ms();
        size_t n = 0;
        for (struct job *j = w->q_head; j; j = j->next) unary_hb_collect(j, now, &due);
        for (struct job *j = w->running; j; j = j->run_next) unary_hb_collect(j, now, &due);
        if ((size_t)w->n_sessions > cap) {
            size_t nc = (size_t)w->n_sessions * 2;
            struct pl_worker_session **p = pl_realloc(hb, nc * sizeof *p);
            if (!p) continue;
            hb = p;
            cap = nc;
        }
        for (int b = 0; b < N_SBUCKETS; b++) {
            for (struct pl_worker_session *s = w->sbuckets[b]; s; s = s->next) {
                if (!s->timeout_fired && now - s->last_recv_ms >= w->o.stream_timeout_ms) {
                    s->timeout_fired = true;
                    PL_LOGW("session %" PRIu64 " (%s): client silent for %d ms, freeing it", s->id,
                            s->ctx.request_id, w->o.stream_timeout_ms);
                    pl__wk_session_push_locked(w, s, EV_CANCEL, NULL);
                }
                if (n < cap) {
                    atomic_fetch_add(&s->refs, 1);
                    hb[n++] = s;
                }
            }
        }
        pthread_mutex_unlock(&w->lock);
        unary_hb_send(w, &due);
        for (size_t i = 0; i < n; i++) {
            pl__wk_session_heartbeat(hb[i], now);
            pl__wk_session_release(hb[i]);
        }
        pl__nrpc_msg_release_flush(); /* what the last tick's requests left */
        pthread_mutex_lock(&w->lock);
    }
    pthread_mutex_unlock(&w->lock);
    pl_free(hb);
    pl_free(due.subj);
    return NULL;
}

/* ---- HTTP side port -------------------------------------------------------------------------- */

static int http_handler(void *ud, const char *method, const char *path, struct pl_strbuf *body,
                        const char **content_type) {
    (void)method;
    struct pl_worker *w = ud;
    if (strcmp(path, "/metrics") == 0) {
        *content_type = "text/plain; version=0.0.4; charset=utf-8";
        return pl_metrics_render(w->metrics, body) == PL_OK ? 200 : 500;
    }
    if (strcmp(path, "/healthz") == 0) {
        pl_strbuf_append(body, "ok\n");
        return 200;
    }
    if (strcmp(path, "/readyz") == 0) {
        bool nats_ok = w->nc && natsConnection_Status(w->nc) == NATS_CONN_STATUS_CONNECTED;
        bool ready = atomic_load(&w->ready) && !atomic_load(&w->stop_requested);
        pl_strbuf_appendf(body, "nats %s, service %s\n", nats_ok ? "connected" : "disconnected",
                          ready ? "ready" : "not ready");
        return nats_ok && ready ? 200 : 503;
    }
    pl_strbuf_append(body, "not found\n");
    return 404;
}

/* ---- lifetime -------------------------------------------------------------------------------- */

static bool valid_name(const char *s) {
    if (!s || !*s || strlen(s) > 63) return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
            return false;
    return true;
}

pl_status pl_worker_create(const struct pl_worker_opts *opts, struct pl_worker **out) {
    pl_status st = PL_OK;
    if (!opts || !out) return PL_ERR(PL_E_INVALID_ARG, "worker: NULL argument");
    *out = NULL;
    if (!valid_name(opts->service) || strcmp(opts->service, "stream") == 0 ||
        strcmp(opts->service, "session") == 0)
        return PL_ERR(PL_E_INVALID_ARG, "worker: bad service name '%s' (want [a-z0-9_-]+)",
                      opts->service ? opts->service : "(null)");
    PL_TRY(pl__wk_fault_setup(getenv("PARLEY_FAULT_ALLOC"))); /* tests only: nrpc_fault.c */
    struct pl_worker *w = pl_calloc(1, sizeof *w);
    if (!w) return PL_ERR(PL_E_NOMEM, "worker");
    w->o = *opts;
    w->stop_pipe[0] = w->stop_pipe[1] = -1;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cv, NULL);
    pthread_cond_init(&w->idle_cv, NULL);
    pthread_cond_init(&w->timer_cv, NULL);
    atomic_init(&w->stop_requested, false);
    atomic_init(&w->reload_requested, false);
    atomic_init(&w->ready, false);
    atomic_init(&w->refused, 0);
    atomic_init(&w->refused_logged_ms, -1000000);
    if (w->o.n_threads <= 0) w->o.n_threads = 2;
    if (w->o.queue_capacity <= 0) w->o.queue_capacity = 256;
    if (w->o.max_streams <= 0) w->o.max_streams = 256;
    if (w->o.heartbeat_ms <= 0) w->o.heartbeat_ms = 1000;
    if (w->o.stream_timeout_ms <= 0) w->o.stream_timeout_ms = 5000;
    if (w->o.drain_timeout_ms <= 0) w->o.drain_timeout_ms = 30000;
    if (w->o.inline_max_us == 0) w->o.inline_max_us = 100;
    w->service = pl_strdup(opts->service);
    w->url = pl_strdup(pl__nrpc_default_url(opts->nats_url));
    w->model = pl_strdup(opts->model && *opts->model ? opts->model : opts->service);
    w->http_host = pl_strdup(opts->http_host && *opts->http_host ? opts->http_host : "127.0.0.1");
    if (!w->service || !w->url || !w->model || !w->http_host) {
        st = PL_ERR(PL_E_NOMEM, "worker");
        goto fail;
    }
    if (opts->shard) {
        char probe[80];
        snprintf(probe, sizeof probe, "x.shard.%s", opts->shard);
        if (strcmp(opts->shard, "*") != 0 && !pl__nrpc_svc_valid(probe)) {
            st = PL_ERR(PL_E_INVALID_ARG, "worker %s: shard '%s' is neither '*' nor 0..%d",
                        w->service, opts->shard, PL_NRPC_MAX_SHARDS - 1);
            goto fail;
        }
        if (!(w->shard = pl_strdup(opts->shard))) {
            st = PL_ERR(PL_E_NOMEM, "worker");
            goto fail;
        }
    }
    w->o.shard = w->shard;
    w->o.service = w->service;
    w->o.nats_url = w->url;
    w->o.model = w->model;
    w->o.http_host = w->http_host;
    if (pipe2(w->stop_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
        st = PL_ERR(PL_E_IO, "worker: pipe: %s", strerror(errno));
        goto fail;
    }
    if (opts->metrics) {
        w->metrics = opts->metrics;
    } else {
        PL_TRY_GOTO(st, pl_metrics_create(&w->metrics));
        w->own_metrics = true;
    }
    PL_TRY_GOTO(st, pl_metrics_std_model(w->metrics, w->model, &w->mm));
    pl_metric_set(w->mm.ready, 0);
    char id[PL_REQUEST_ID_LEN];
    pl_request_id_new(id);
    memcpy(w->wid, id, sizeof id);
    snprintf(w->sess_prefix, sizeof w->sess_prefix, "parley.%s.session.%s.", w->service, w->wid);
    *out = w;
    return PL_OK;
fail:
    pl_worker_destroy(w);
    return st;
}

static pl_status add_rpc(struct pl_worker *w, const char *name, bool stream, pl_worker_unary_fn fn,
                         const struct pl_worker_stream_i *iface, void *ud) {
    if (!w || !valid_name(name) || (stream ? !iface || !iface->on_open : !fn))
        return PL_ERR(PL_E_INVALID_ARG, "worker: bad rpc '%s'", name ? name : "(null)");
    if (w->started) return PL_ERR(PL_E_INVALID_ARG, "worker: add rpc %s after start", name);
    if (find_rpc(w, name) || strcmp(name, "stream") == 0 || strcmp(name, "session") == 0)
        return PL_ERR(PL_E_INVALID_ARG, "worker: rpc '%s' registered twice or reserved", name);
    struct rpc *r = pl_calloc(1, sizeof *r);
    if (!r || !(r->name = pl_strdup(name))) {
        pl_free(r);
        return PL_ERR(PL_E_NOMEM, "worker: rpc %s", name);
    }
    r->stream = stream;
    r->fn = fn;
    r->iface = iface;
    r->ud = ud;
    r->w = w;
    atomic_init(&r->fast_runs, 0);
    r->next = w->rpcs;
    w->rpcs = r;
    return PL_OK;
}

pl_status pl_worker_add_unary(struct pl_worker *w, const char *rpc, pl_worker_unary_fn fn,
                              void *ud) {
    return add_rpc(w, rpc, false, fn, NULL, ud);
}

pl_status pl_worker_add_stream(struct pl_worker *w, const char *rpc,
                               const struct pl_worker_stream_i *iface, void *ud) {
    return add_rpc(w, rpc, true, NULL, iface, ud);
}

pl_status pl_worker_add_unaries(struct pl_worker *w, const struct pl_worker_unary *rpcs, size_t n,
                                void *ud) {
    if (n && !rpcs) return PL_ERR(PL_E_INVALID_ARG, "worker: NULL rpc table");
    for (size_t i = 0; i < n; i++) PL_TRY(add_rpc(w, rpcs[i].rpc, false, rpcs[i].fn, NULL, ud));
    return PL_OK;
}

pl_status pl_worker_call(struct pl_worker *w, const char *rpc, int64_t deadline_us,
                         const uint8_t *req, size_t n, struct pl_worker_out *out) {
    if (!out) return PL_ERR(PL_E_INVALID_ARG, "worker call: NULL out");
    out->data = NULL;
    out->len = 0;
    if (!w || !rpc || (n && !req)) return PL_ERR(PL_E_INVALID_ARG, "worker call: NULL argument");
    struct rpc *r = find_rpc(w, rpc);
    if (!r) return PL_ERR(PL_E_UNSUPPORTED, "rpc '%s' is not served by parley-%s", rpc, w->service);
    if (r->stream)
        return PL_ERR(PL_E_UNSUPPORTED, "rpc '%s' of parley-%s is a stream", rpc, w->service);
    struct pl_worker_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.service = w->service;
    ctx.rpc = r->name;
    ctx.received_us = pl_time_mono_us();
    ctx.deadline_us = deadline_us > 0 ? deadline_us : 0;
    const char *id = pl_log_request_id();
    if (id && pl_request_id_valid(id)) {
        snprintf(ctx.request_id, sizeof ctx.request_id, "%s", id);
    } else {
        char fresh[PL_REQUEST_ID_LEN];
        pl_request_id_new(fresh);
        memcpy(ctx.request_id, fresh, sizeof fresh);
    }
    if (pl_worker_ctx_expired(&ctx))
        return PL_ERR(PL_E_TIMEOUT, "rpc '%s': deadline exceeded before it started", rpc);
    return pl__wk_invoke(w, r, &ctx, req, n, out);
}

static pl_status subscribe(struct pl_worker *w, natsSubscription **sub, const char *subj,
                           const char *queue, natsMsgHandler cb, void *closure) {
    natsStatus ns = queue ? natsConnection_QueueSubscribe(sub, w->nc, subj, queue, cb, closure)
                          : natsConnection_Subscribe(sub, w->nc, subj, cb, closure);
    if (ns != NATS_OK)
        return PL_ERR(PL_E_UNAVAILABLE, "subscribe %s: %s", subj, natsStatus_GetText(ns));
    (void)natsSubscription_SetPendingLimits(*sub, 1 << 20, 512 << 20);
    return PL_OK;
}

pl_status pl_worker_start(struct pl_worker *w) {
    pl_status st = PL_OK;
    char subj[256];
    if (!w) return PL_ERR(PL_E_INVALID_ARG, "worker start: NULL worker");
    if (w->started) return PL_ERR(PL_E_INVALID_ARG, "worker %s started twice", w->service);
    if (!w->rpcs) return PL_ERR(PL_E_INVALID_ARG, "worker %s: no rpc registered", w->service);
    w->started = true;
    w->threads = pl_calloc((size_t)w->o.n_threads, sizeof *w->threads);
    if (!w->threads) return PL_ERR(PL_E_NOMEM, "worker threads");
    for (int i = 0; i < w->o.n_threads; i++) {
        if (pthread_create(&w->threads[i], NULL, handler_main, w) != 0)
            return PL_ERR(PL_E_INTERNAL, "worker: handler thread: %s", strerror(errno));
        w->n_threads_started++;
    }
    if (pthread_create(&w->timer, NULL, timer_main, w) != 0)
        return PL_ERR(PL_E_INTERNAL, "worker: timer thread");
    w->timer_started = true;
    if (w->o.http_port >= 0)
        PL_TRY(pl_httpd_create(w->http_host, w->o.http_port, http_handler, w, &w->httpd));

    char name[96];
    snprintf(name, sizeof name, "parley-%s", w->service);
    struct pl__nrpc_connect_opts co = {.url = w->url,
                                       .name = name,
                                       .connect_timeout_ms = 2000,
                                       .max_reconnect = -1,
                                       .reconnect_wait_ms = 100,
                                       .retry_on_failed_connect = w->o.connect_retry};
    PL_TRY(pl__nrpc_connect(&co, &w->nc, &w->nopts));
    snprintf(subj, sizeof subj, "%s*", w->sess_prefix);
    PL_TRY(subscribe(w, &w->sess_sub, subj, NULL, pl__wk_on_session, w));
    for (struct rpc *r = w->rpcs; r; r = r->next) {
        if (r->stream) continue;
        snprintf(subj, sizeof subj, "parley.%s.%s", w->service, r->name);
        PL_TRY(subscribe(w, &r->sub, subj, w->service, on_unary, r));
        if (!w->shard) continue;
        snprintf(subj, sizeof subj, "parley.%s.shard.%s.%s", w->service, w->shard, r->name);
        PL_TRY(subscribe(w, &r->shard_sub, subj, w->service, on_unary, r));
    }
    snprintf(subj, sizeof subj, "parley.%s.stream.open", w->service);
    PL_TRY(subscribe(w, &w->open_sub, subj, w->service, on_open, w));
    if (w->shard) {
        snprintf(subj, sizeof subj, "parley.%s.shard.%s.stream.open", w->service, w->shard);
        PL_TRY(subscribe(w, &w->open_shard_sub, subj, w->service, on_open, w));
    }
    bool connected = natsConnection_Status(w->nc) == NATS_CONN_STATUS_CONNECTED;
    natsStatus ns = connected ? natsConnection_FlushTimeout(w->nc, 2000) : NATS_OK;
    if (ns != NATS_OK)
        st = PL_ERR(PL_E_UNAVAILABLE, "flush subscriptions: %s", natsStatus_GetText(ns));
    char shown[256]; /* logs never show the URL's credentials */
    pl_url_redact(w->url, shown, sizeof shown);
    if (st == PL_OK && !connected)
        PL_LOGW("worker %s: NATS at %s not reachable yet; connecting in the background", w->service,
                shown);
    if (st == PL_OK)
        PL_LOGI("worker %s serving on NATS %s (id %s)%s", w->service, shown, w->wid,
                w->httpd ? ", side port up" : "");
    return st;
}

void pl_worker_set_ready(struct pl_worker *w, bool ready) {
    if (!w) return;
    atomic_store(&w->ready, ready);
    pl_metric_set(w->mm.ready, ready ? 1 : 0);
}

void pl_worker_stop(struct pl_worker *w) {
    if (!w) return;
    atomic_store(&w->stop_requested, true);
    char c = 1;
    ssize_t k = write(w->stop_pipe[1], &c, 1); /* async-signal-safe */
    (void)k;
}

void pl_worker_set_reload(struct pl_worker *w, pl_worker_reload_fn fn, void *ud) {
    if (!w) return;
    w->reload_fn = fn;
    w->reload_ud = ud;
}

void pl_worker_reload(struct pl_worker *w) {
    if (!w) return;
    atomic_store(&w->reload_requested, true);
    char c = 2;
    ssize_t k = write(w->stop_pipe[1], &c, 1); /* async-signal-safe */
    (void)k;
}

static struct pl_worker *sig_worker;

static void on_signal(int sig) {
    if (!sig_worker) return;
    if (sig == SIGHUP)
        pl_worker_reload(sig_worker);
    else
        pl_worker_stop(sig_worker);
}

pl_status pl_worker_install_signals(struct pl_worker *w) {
    if (!w) return PL_ERR(PL_E_INVALID_ARG, "worker signals: NULL worker");
    sig_worker = w;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGTERM, &sa, NULL) != 0 || sigaction(SIGINT, &sa, NULL) != 0 ||
        (w->reload_fn && sigaction(SIGHUP, &sa, NULL) != 0))
        return PL_ERR(PL_E_INTERNAL, "sigaction: %s", strerror(errno));
    return PL_OK;
}

static bool nats_up(struct pl_worker *w) {
    return w->nc && natsConnection_Status(w->nc) == NATS_CONN_STATUS_CONNECTED;
}

/* Wait on idle_cv until the queue is empty and nothing runs (and, with
 * sessions_too, no session is open) or the monotonic deadline passes. Open
 * sessions cannot finish without NATS: with sessions_too, a lost connection
 * ends the wait at once. */
static bool wait_idle(struct pl_worker *w, int64_t deadline_ms, bool sessions_too) {
    pthread_mutex_lock(&w->lock);
    for (;;) {
        bool idle = w->q_new == 0 && w->in_flight == 0 && (!sessions_too || w->n_sessions == 0);
        if (idle || pl_time_mono_ms() >= deadline_ms || (sessions_too && !nats_up(w))) {
            pthread_mutex_unlock(&w->lock);
            return idle;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 20 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&w->idle_cv, &w->lock, &ts);
    }
}

/* Drain one subscription: the server stops sending, what it already sent is
 * delivered. Waits in short steps so that a lost connection (the drain can
 * then never complete) does not hold the stop for the whole drain timeout. */
static void drain_sub(struct pl_worker *w, natsSubscription *sub, int64_t deadline_ms) {
    if (!sub) return;
    if (!nats_up(w) || natsSubscription_Drain(sub) != NATS_OK) {
        (void)natsSubscription_Unsubscribe(sub); /* local only while disconnected */
        return;
    }
    while (natsSubscription_WaitForDrainCompletion(sub, 100) != NATS_OK) {
        if (!nats_up(w) || pl_time_mono_ms() >= deadline_ms) {
            (void)natsSubscription_Unsubscribe(sub);
            return;
        }
    }
}

/* The graceful drain (see nrpc_worker.h). */
static void drain(struct pl_worker *w) {
    int64_t deadline = pl_time_mono_ms() + w->o.drain_timeout_ms;
    PL_LOGI("worker %s draining", w->service);
    atomic_store(&w->ready, false);
    /* stop taking new work: drained subscriptions deliver what they hold, then end */
    for (struct rpc *r = w->rpcs; r; r = r->next) {
        drain_sub(w, r->sub, deadline);
        drain_sub(w, r->shard_sub, deadline);
    }
    drain_sub(w, w->open_sub, deadline);
    drain_sub(w, w->open_shard_sub, deadline);
    /* queued and running requests finish; open streams until their clients end them */
    (void)wait_idle(w, deadline, false);
    if (!wait_idle(w, deadline, true)) {
        /* streams still open at the deadline, or NATS is gone: cancel them */
        pthread_mutex_lock(&w->lock);
        if (w->n_sessions)
            PL_LOGW("worker %s: %s, cancelling %d stream(s)", w->service,
                    nats_up(w) ? "drain timeout" : "NATS connection lost", w->n_sessions);
        for (int b = 0; b < N_SBUCKETS; b++)
            for (struct pl_worker_session *s = w->sbuckets[b]; s; s = s->next)
                pl__wk_session_push_locked(w, s, EV_CANCEL, NULL);
        pthread_mutex_unlock(&w->lock);
        (void)wait_idle(w, pl_time_mono_ms() + 5000, false);
        pthread_mutex_lock(&w->lock);
        int64_t end = pl_time_mono_ms() + 5000;
        while (w->n_sessions && pl_time_mono_ms() < end) {
            pthread_mutex_unlock(&w->lock);
            pl_sleep_ms(10);
            pthread_mutex_lock(&w->lock);
        }
        pthread_mutex_unlock(&w->lock);
    }
    pthread_mutex_lock(&w->lock);
    w->threads_stop = true;
    w->timer_stop = true;
    pthread_cond_broadcast(&w->cv);
    pthread_cond_broadcast(&w->timer_cv);
    pthread_mutex_unlock(&w->lock);
    for (int i = 0; i < w->n_threads_started; i++) pthread_join(w->threads[i], NULL);
    w->n_threads_started = 0;
    if (w->timer_started) pthread_join(w->timer, NULL);
    w->timer_started = false;
    drain_sub(w, w->sess_sub, pl_time_mono_ms() + 2000);
    if (nats_up(w)) (void)natsConnection_FlushTimeout(w->nc, 1000);
    w->drained = true;
    PL_LOGI("worker %s drained", w->service);
}

void pl_worker_wait(struct pl_worker *w) {
    if (!w || w->drained) return;
    while (!atomic_load(&w->stop_requested)) {
        if (atomic_exchange(&w->reload_requested, false) && w->reload_fn) {
            PL_LOGI("worker %s: reload requested", w->service);
            pl_clear_error();
            pl_status st = w->reload_fn(w->reload_ud);
            if (st != PL_OK)
                PL_LOGE("worker %s: reload failed, still serving the old state: %s", w->service,
                        pl_last_error());
            continue;
        }
        struct timespec ts = {0, 50 * 1000000L};
        char buf[16];
        ssize_t k = read(w->stop_pipe[0], buf, sizeof buf);
        if (k <= 0) nanosleep(&ts, NULL); /* non-blocking pipe: poll the flags */
    }
    drain(w);
}

void pl_worker_destroy(struct pl_worker *w) {
    if (!w) return;
    if (w->started && !w->drained) {
        pl_worker_stop(w);
        pl_worker_wait(w);
    }
    if (pl__wk_fault_failed() > 0)
        PL_LOGW("fault injection: %lld allocations failed in handlers",
                (long long)pl__wk_fault_failed());
    pl_httpd_destroy(w->httpd);
    for (struct rpc *r = w->rpcs; r;) {
        struct rpc *n = r->next;
        if (r->sub) natsSubscription_Destroy(r->sub);
        if (r->shard_sub) natsSubscription_Destroy(r->shard_sub);
        pl_free(r->name);
        pl_free(r);
        r = n;
    }
    if (w->open_sub) natsSubscription_Destroy(w->open_sub);
    if (w->open_shard_sub) natsSubscription_Destroy(w->open_shard_sub);
    if (w->sess_sub) natsSubscription_Destroy(w->sess_sub);
    if (w->nc) {
        natsConnection_Close(w->nc);
        natsConnection_Destroy(w->nc);
    }
    natsOptions_Destroy(w->nopts);
    pl__nrpc_msg_release_flush();
    /* queued jobs can remain only if start failed half-way */
    for (struct job *j = w->q_head; j;) {
        struct job *n = j->next;
        if (j->msg) natsMsg_Destroy(j->msg);
        if (j->sess) pl__wk_session_release(j->sess);
        pl_free(j);
        j = n;
    }
    for (int b = 0; b < N_SBUCKETS; b++) {
        for (struct pl_worker_session *s = w->sbuckets[b]; s;) {
            struct pl_worker_session *n = s->next;
            pthread_mutex_lock(&s->lock);
            s->closed = true; /* a retained session must not reach the freed connection */
            pthread_mutex_unlock(&s->lock);
            pl__wk_session_release(s);
            s = n;
        }
    }
    if (sig_worker == w) sig_worker = NULL;
    if (w->own_metrics) pl_metrics_destroy(w->metrics);
    if (w->stop_pipe[0] >= 0) close(w->stop_pipe[0]);
    if (w->stop_pipe[1] >= 0) close(w->stop_pipe[1]);
    pl_free(w->threads);
    pl_free(w->service);
    pl_free(w->url);
    pl_free(w->model);
    pl_free(w->http_host);
    pl_free(w->shard);
    pthread_cond_destroy(&w->cv);
    pthread_cond_destroy(&w->idle_cv);
    pthread_cond_destroy(&w->timer_cv);
    pthread_mutex_destroy(&w->lock);
    pl_free(w);
}

struct pl_metrics *pl_worker_metrics(struct pl_worker *w) {
    return w ? w->metrics : NULL;
}

int pl_worker_http_port(const struct pl_worker *w) {
    return w && w->httpd ? pl_httpd_port(w->httpd) : -1;
}
