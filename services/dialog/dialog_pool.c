/*
 * dialog_pool.c - the action pool (dialog_svc.h): where the turns that call out of the process
 * run (a webhook, a `nats` action, the knowledge base through parley-qa), so that waiting for
 * an answer holds none of the worker's handler threads. A handler thread runs a text turn as
 * far as it can without calling out (pl__dlgsvc_text_turn_local); a turn that must call out
 * is queued here, on its stream's lane, and finished by a pool thread; every other user's
 * turns go on on the handler threads meanwhile. A spoken turn comes here the same way from
 * its stream's voice thread (pl__dlgconv_queue_spoken).
 *
 * A lane is a FIFO of jobs that run one at a time, in order (a Converse stream's turns must
 * be answered in the order they came); lanes with work wait in one ready list, taken in turn
 * (a lane runs one job, then goes to the back), so a stream with many queued turns does not
 * starve the others. The pool is bounded (dialog.action_threads): when every pool thread
 * waits on a slow service, further calling-out turns queue; turns that need nothing outside
 * never do.
 *
 * A job may park its lane (a turn that waits for a webhook: dialog_http.c makes the call on
 * its I/O thread): the pool thread returns to other lanes at once, the lane stays held (its
 * later jobs wait), and pl__dlg_lane_resume puts the job's continuation first in the lane
 * when the answer comes. So no pool thread ever waits on a webhook.
 */
#include <time.h>

#include "alloc.h"
#include "dialog_svc.h"
#include "log.h"
#include "util.h"

#define LANE_MAX_JOBS 256 /* queued turns of one stream before RESOURCE_EXHAUSTED */

struct job {
    void (*run)(void *arg); /* runs and frees arg */
    void (*drop)(void *arg); /* frees arg without running (the lane closed) */
    void *arg;
    struct job *next;
};

struct pl__dlg_lane {
    struct pl__dlg_pool *pool;
    struct job *head, *tail;
    int n_jobs;
    bool ready;   /* in the pool's ready list */
    bool running; /* a job of it runs now */
    bool parked;  /* its job waits for a webhook on the I/O thread: no thread, lane held */
    bool closed;  /* freed (and on_closed called) once the running job returns */
    void (*on_closed)(void *ud);
    void *closed_ud;
    void (*on_idle)(void *ud); /* pl__dlg_lane_on_idle's: runs once the lane has no work */
    void *idle_ud;
    struct pl__dlg_lane *next_ready;
};

struct pl__dlg_pool {
    pthread_mutex_t mu;
    pthread_cond_t work; /* a lane became ready, or the pool stops */
    pthread_cond_t idle; /* a lane ran out of work */
    struct pl__dlg_lane *ready_head, *ready_tail;
    pthread_t *threads;
    int n_threads;
    int n_lanes; /* not yet freed: none should be left when the pool is destroyed */
    bool stopping;
};

/* Free l (its pool's lock not held). */
static void lane_free(struct pl__dlg_lane *l) {
    struct pl__dlg_pool *p = l->pool;
    pthread_mutex_lock(&p->mu);
    p->n_lanes--;
    pthread_mutex_unlock(&p->mu);
    pl_free(l);
}

static void ready_push(struct pl__dlg_pool *p, struct pl__dlg_lane *l) {
    l->ready = true;
    l->next_ready = NULL;
    if (p->ready_tail) p->ready_tail->next_ready = l;
    else p->ready_head = l;
    p->ready_tail = l;
    pthread_cond_signal(&p->work);
}

static void ready_remove(struct pl__dlg_pool *p, struct pl__dlg_lane *l) {
    struct pl__dlg_lane *prev = NULL;
    for (struct pl__dlg_lane *x = p->ready_head; x; prev = x, x = x->next_ready) {
        if (x != l) continue;
        if (prev) prev->next_ready = x->next_ready;
        else p->ready_head = x->next_ready;
        if (p->ready_tail == x) p->ready_tail = prev;
        break;
    }
    l->ready = false;
}

/* Unlink every queued job of l (the caller drops them outside the lock). */
static struct job *take_jobs(struct pl__dlg_lane *l) {
    struct job *j = l->head;
    l->head = l->tail = NULL;
    l->n_jobs = 0;
    return j;
}

static void drop_jobs(struct job *j) {
    while (j) {
        struct job *next = j->next;
        if (j->drop) j->drop(j->arg);
        pl_free(j);
        j = next;
    }
}

static void *pool_main(void *ud) {
    struct pl__dlg_pool *p = ud;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->ready_head && !p->stopping) pthread_cond_wait(&p->work, &p->mu);
        struct pl__dlg_lane *l = p->ready_head;
        if (!l) break; /* stopping and nothing left */
        ready_remove(p, l);
        struct job *j = l->head;
        l->head = j->next;
        if (!l->head) l->tail = NULL;
        l->n_jobs--;
        l->running = true;
        pthread_mutex_unlock(&p->mu);
        j->run(j->arg);
        pl_free(j);
        pthread_mutex_lock(&p->mu);
        if (!l->parked && !l->head && !l->closed && l->on_idle) {
            /* the lane's last job is done: told while the lane is still held (running), so
               that a close meanwhile waits for this call before on_closed frees anything */
            void (*idle)(void *) = l->on_idle;
            l->on_idle = NULL;
            pthread_mutex_unlock(&p->mu);
            idle(l->idle_ud);
            pthread_mutex_lock(&p->mu);
        }
        l->running = false;
        if (l->parked) continue; /* pl__dlg_lane_resume brings its job back */
        if (l->closed) {
            struct job *rest = take_jobs(l);
            pthread_mutex_unlock(&p->mu);
            drop_jobs(rest);
            if (l->on_closed) l->on_closed(l->closed_ud);
            lane_free(l);
            pthread_mutex_lock(&p->mu);
            continue;
        }
        if (l->head) ready_push(p, l); /* to the back: one job per lane in turn */
        else pthread_cond_broadcast(&p->idle);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

pl_status pl__dlg_pool_create(int n_threads, struct pl__dlg_pool **out) {
    *out = NULL;
    if (n_threads < 1) return PL_ERR(PL_E_INVALID_ARG, "action pool: %d threads", n_threads);
    struct pl__dlg_pool *p = pl_calloc(1, sizeof *p);
    if (!p || !(p->threads = pl_calloc((size_t)n_threads, sizeof *p->threads))) {
        pl_free(p);
        return PL_ERR(PL_E_NOMEM, "action pool");
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->work, NULL);
    pthread_cond_init(&p->idle, NULL);
    for (; p->n_threads < n_threads; p->n_threads++) {
        if (pthread_create(&p->threads[p->n_threads], NULL, pool_main, p) != 0) {
            pl__dlg_pool_destroy(p);
            return PL_ERR(PL_E_NOMEM, "action pool: cannot start thread %d of %d", p->n_threads + 1,
                          n_threads);
        }
    }
    *out = p;
    return PL_OK;
}

void pl__dlg_pool_destroy(struct pl__dlg_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->stopping = true;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n_threads; i++) pthread_join(p->threads[i], NULL);
    if (p->n_lanes) /* a stream whose turn still waits for a call out: its answer would come
                       to a pool that is gone (tests look for this line) */
        PL_LOGE("action pool stopped with %d lane(s) still open", p->n_lanes);
    pthread_cond_destroy(&p->idle);
    pthread_cond_destroy(&p->work);
    pthread_mutex_destroy(&p->mu);
    pl_free(p->threads);
    pl_free(p);
}

pl_status pl__dlg_lane_create(struct pl__dlg_pool *p, struct pl__dlg_lane **out) {
    *out = pl_calloc(1, sizeof **out);
    if (!*out) return PL_ERR(PL_E_NOMEM, "lane");
    (*out)->pool = p;
    pthread_mutex_lock(&p->mu);
    p->n_lanes++;
    pthread_mutex_unlock(&p->mu);
    return PL_OK;
}

pl_status pl__dlg_lane_push(struct pl__dlg_lane *l, void (*run)(void *), void (*drop)(void *),
                            void *arg) {
    struct pl__dlg_pool *p = l->pool;
    struct job *j = pl_calloc(1, sizeof *j);
    if (!j) return PL_ERR(PL_E_NOMEM, "lane");
    j->run = run;
    j->drop = drop;
    j->arg = arg;
    pthread_mutex_lock(&p->mu);
    if (l->n_jobs >= LANE_MAX_JOBS) {
        pthread_mutex_unlock(&p->mu);
        pl_free(j);
        return PL_ERR(PL_E_EXHAUSTED, "%d turns of this stream wait for an answer already",
                      LANE_MAX_JOBS);
    }
    if (l->tail) l->tail->next = j;
    else l->head = j;
    l->tail = j;
    l->n_jobs++;
    if (!l->ready && !l->running && !l->parked) ready_push(p, l); /* parked: after resume */
    pthread_mutex_unlock(&p->mu);
    return PL_OK;
}

void pl__dlg_lane_park(struct pl__dlg_lane *l) {
    pthread_mutex_lock(&l->pool->mu);
    l->parked = true;
    pthread_mutex_unlock(&l->pool->mu);
}

void pl__dlg_lane_unpark(struct pl__dlg_lane *l) {
    pthread_mutex_lock(&l->pool->mu);
    l->parked = false;
    pthread_mutex_unlock(&l->pool->mu);
}

void pl__dlg_lane_resume(struct pl__dlg_lane *l, void (*run)(void *), void (*drop)(void *),
                         void *arg) {
    struct pl__dlg_pool *p = l->pool;
    struct job *j = pl_calloc(1, sizeof *j);
    pthread_mutex_lock(&p->mu);
    l->parked = false;
    if (l->closed || !j) { /* the stream has gone (or no memory): the job is dropped */
        bool free_now = l->closed && !l->running;
        pthread_mutex_unlock(&p->mu);
        pl_free(j);
        if (drop) drop(arg);
        if (free_now) {
            if (l->on_closed) l->on_closed(l->closed_ud);
            lane_free(l);
        } else if (!j) {
            void (*idle)(void *) = NULL;
            pthread_mutex_lock(&p->mu);
            if (!l->running && l->head && !l->ready) {
                ready_push(p, l);
            } else if (!l->running && !l->head) {
                pthread_cond_broadcast(&p->idle);
                idle = l->on_idle;
                l->on_idle = NULL;
            }
            pthread_mutex_unlock(&p->mu);
            if (idle) idle(l->idle_ud);
        }
        return;
    }
    j->run = run;
    j->drop = drop;
    j->arg = arg;
    j->next = l->head; /* first: it goes on before the lane's later jobs */
    l->head = j;
    if (!l->tail) l->tail = j;
    l->n_jobs++;
    if (!l->running && !l->ready) ready_push(p, l);
    pthread_mutex_unlock(&p->mu);
}

bool pl__dlg_lane_busy(struct pl__dlg_lane *l) {
    pthread_mutex_lock(&l->pool->mu);
    bool busy = l->head || l->running || l->parked;
    pthread_mutex_unlock(&l->pool->mu);
    return busy;
}

bool pl__dlg_lane_on_idle(struct pl__dlg_lane *l, void (*on_idle)(void *ud), void *ud) {
    pthread_mutex_lock(&l->pool->mu);
    bool busy = l->head || l->running || l->parked;
    if (busy) {
        l->on_idle = on_idle;
        l->idle_ud = ud;
    }
    pthread_mutex_unlock(&l->pool->mu);
    return busy;
}

bool pl__dlg_lane_wait(struct pl__dlg_lane *l, int64_t timeout_ms) {
    struct pl__dlg_pool *p = l->pool;
    int64_t until = pl_time_mono_us() + timeout_ms * 1000;
    pthread_mutex_lock(&p->mu);
    bool busy;
    while ((busy = l->head || l->running || l->parked) && pl_time_mono_us() < until) {
        struct timespec ts; /* a short slice: the condition uses the realtime clock */
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 50 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&p->idle, &p->mu, &ts);
    }
    pthread_mutex_unlock(&p->mu);
    return !busy;
}

void pl__dlg_lane_close(struct pl__dlg_lane *l, void (*on_closed)(void *ud), void *ud) {
    if (!l) {
        if (on_closed) on_closed(ud);
        return;
    }
    struct pl__dlg_pool *p = l->pool;
    pthread_mutex_lock(&p->mu);
    struct job *rest = take_jobs(l);
    if (l->ready) ready_remove(p, l);
    bool running = l->running || l->parked;
    if (running) { /* the pool thread (or the resumed job's drop) finishes it, then calls
                      on_closed and frees the lane */
        l->closed = true;
        l->on_closed = on_closed;
        l->closed_ud = ud;
    }
    pthread_mutex_unlock(&p->mu);
    drop_jobs(rest);
    if (running) return;
    lane_free(l);
    if (on_closed) on_closed(ud);
}
