/*
 * threadpool.h - a small fork-join pool for the CPU backend.
 *
 * pl_threadpool_run(pool, n_tasks, fn, arg) calls fn(arg, task, thread) for
 * every task in [0, n_tasks) on the pool's threads (the calling thread is
 * thread 0 and takes part) and returns when all are done. Tasks are handed
 * out through an atomic counter. Workers spin briefly, then sleep on a
 * condition variable, so a pool costs nothing when idle.
 *
 * Thread-safety: one pl_threadpool_run at a time per pool (the CPU backend
 * serializes graphs). fn must be safe to call concurrently.
 */
#ifndef PL_THREADPOOL_H
#define PL_THREADPOOL_H

#include <stdint.h>

#include "status.h"

struct pl_threadpool;

typedef void (*pl_task_fn)(void *arg, int task, int thread);

/* n_threads >= 1 (1 = no extra threads). OUT: *out, caller owns; free with
 * pl_threadpool_destroy(). */
pl_status pl_threadpool_create(int n_threads, struct pl_threadpool **out);
void pl_threadpool_destroy(struct pl_threadpool *pool); /* NULL is a no-op; joins */
int pl_threadpool_size(const struct pl_threadpool *pool);
void pl_threadpool_run(struct pl_threadpool *pool, int n_tasks, pl_task_fn fn, void *arg);
/* Wall ns the calling thread has waited for workers after finishing its
 * own tasks, since the last call; resets the counter. Call from the thread
 * that runs the pool. */
int64_t pl_threadpool_take_wait_ns(struct pl_threadpool *pool);

#endif
