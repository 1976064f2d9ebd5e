/* threadpool.c - see threadpool.h. */
#include "threadpool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "alloc.h"
#include "util.h"

struct pl_threadpool {
    int n_threads;
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t cv_work; /* workers wait here for a new generation */
    pthread_cond_t cv_done; /* the caller waits here for workers to finish */
    atomic_int generation;  /* bumped for each run */
    atomic_int next_task;
    atomic_int n_active; /* workers still inside the current run */
    int n_tasks;
    pl_task_fn fn;
    void *arg;
    bool stop;
    int64_t wait_ns; /* caller's wall time waiting for workers (pl_threadpool_take_wait_ns) */
};

struct worker_arg {
    struct pl_threadpool *pool;
    int id;
};

static void drain(struct pl_threadpool *p, int thread) {
    for (;;) {
        int t = atomic_fetch_add_explicit(&p->next_task, 1, memory_order_relaxed);
        if (t >= p->n_tasks) break;
        p->fn(p->arg, t, thread);
    }
}

static void *worker_main(void *v) {
    struct worker_arg *wa = v;
    struct pl_threadpool *p = wa->pool;
    int id = wa->id;
    pl_free(wa);
    int seen = 0;
    for (;;) {
        /* Spin a little: graphs issue many short ops back to back. */
        int gen = seen;
        for (int i = 0; i < 10000; i++) { /* ~0.3 ms */
            gen = atomic_load_explicit(&p->generation, memory_order_acquire);
            if (gen != seen) break;
            __builtin_ia32_pause();
        }
        if (gen == seen) {
            pthread_mutex_lock(&p->mu);
            while (!p->stop && atomic_load(&p->generation) == seen)
                pthread_cond_wait(&p->cv_work, &p->mu);
            bool stop = p->stop;
            gen = atomic_load(&p->generation);
            pthread_mutex_unlock(&p->mu);
            if (stop) return NULL;
        }
        seen = gen;
        drain(p, id);
        if (atomic_fetch_sub_explicit(&p->n_active, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->cv_done);
            pthread_mutex_unlock(&p->mu);
        }
    }
}

pl_status pl_threadpool_create(int n_threads, struct pl_threadpool **out) {
    *out = NULL;
    if (n_threads < 1 || n_threads > 256)
        return PL_ERR(PL_E_INVALID_ARG, "thread pool: %d threads (1..256)", n_threads);
    struct pl_threadpool *p = pl_calloc(1, sizeof *p);
    if (!p) return PL_ERR(PL_E_NOMEM, "thread pool: out of memory");
    p->n_threads = n_threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv_work, NULL);
    pthread_cond_init(&p->cv_done, NULL);
    if (n_threads > 1) {
        p->threads = pl_calloc((size_t)n_threads - 1, sizeof *p->threads);
        if (!p->threads) goto nomem;
        for (int i = 1; i < n_threads; i++) {
            struct worker_arg *wa = pl_malloc(sizeof *wa);
            if (!wa) goto partial;
            wa->pool = p;
            wa->id = i;
            if (pthread_create(&p->threads[i - 1], NULL, worker_main, wa) != 0) {
                pl_free(wa);
                goto partial;
            }
            continue;
        partial:
            p->n_threads = i; /* destroy joins only the started ones */
            pl_threadpool_destroy(p);
            return PL_ERR(PL_E_NOMEM, "thread pool: cannot start thread %d", i);
        }
    }
    *out = p;
    return PL_OK;
nomem:
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv_work);
    pthread_cond_destroy(&p->cv_done);
    pl_free(p);
    return PL_ERR(PL_E_NOMEM, "thread pool: out of memory");
}

void pl_threadpool_destroy(struct pl_threadpool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    pthread_cond_broadcast(&p->cv_work);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n_threads; i++) pthread_join(p->threads[i - 1], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv_work);
    pthread_cond_destroy(&p->cv_done);
    pl_free(p->threads);
    pl_free(p);
}

int pl_threadpool_size(const struct pl_threadpool *p) { return p->n_threads; }

void pl_threadpool_run(struct pl_threadpool *p, int n_tasks, pl_task_fn fn, void *arg) {
    if (n_tasks <= 0) return;
    if (p->n_threads == 1 || n_tasks == 1) {
        for (int t = 0; t < n_tasks; t++) fn(arg, t, 0);
        return;
    }
    p->fn = fn;
    p->arg = arg;
    p->n_tasks = n_tasks;
    atomic_store(&p->next_task, 0);
    atomic_store(&p->n_active, p->n_threads - 1);
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add_explicit(&p->generation, 1, memory_order_release);
    pthread_cond_broadcast(&p->cv_work);
    pthread_mutex_unlock(&p->mu);
    drain(p, 0);
    if (!atomic_load_explicit(&p->n_active, memory_order_acquire)) return;
    int64_t t0 = pl_time_mono_ns();
    /* Wait for workers: spin first, then sleep. */
    for (int i = 0; i < 10000 && atomic_load_explicit(&p->n_active, memory_order_acquire); i++)
        __builtin_ia32_pause();
    if (atomic_load(&p->n_active)) {
        pthread_mutex_lock(&p->mu);
        while (atomic_load(&p->n_active)) pthread_cond_wait(&p->cv_done, &p->mu);
        pthread_mutex_unlock(&p->mu);
    }
    p->wait_ns += pl_time_mono_ns() - t0;
}

int64_t pl_threadpool_take_wait_ns(struct pl_threadpool *p) {
    int64_t ns = p->wait_ns;
    p->wait_ns = 0;
    return ns;
}
