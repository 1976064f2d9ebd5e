/*
 * nrpc_fault.c - allocation failures injected into a worker's request handlers, for the fault
 * tests (docs/operations.md, "Fault tests"). Off unless PARLEY_FAULT_ALLOC is set:
 *
 *   PARLEY_FAULT_ALLOC="requests=N[,step=S][,first=F]"
 *
 * The first N handler calls of the process (a unary request, a stream's open, each stream
 * message and its end), counted in the order they start, each fail one allocation: call k
 * (0-based) fails the (F + k*S)-th pl_malloc/pl_calloc/pl_realloc/pl_strdup it makes on its
 * own thread (F defaults to 1, S to 1), so N calls sweep the allocation points of the request
 * path one by one, as curl's torture tests do for a whole program. A call that makes fewer
 * allocations runs untouched. After N calls nothing fails. Allocations on other threads (NATS
 * callbacks, batcher threads, timers) and in libraries that do not allocate through
 * pl_malloc (SQLite, cnats, protobuf-c's own) are never failed.
 *
 * The hook is process-wide (pl_alloc_set_fault); the per-call state is thread-local, so
 * handler threads do not disturb each other's counts.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "log.h"
#include "nrpc_worker_impl.h"

static int64_t fault_requests, fault_step = 1, fault_first = 1;
static _Atomic int64_t fault_started; /* handler calls begun while armed */
static _Atomic int64_t fault_failed;  /* allocations failed so far */

static _Thread_local struct {
    int depth;      /* nested handler calls (pl_worker_call from a handler) */
    int64_t target; /* the allocation of this call to fail (1-based); 0: none */
    int64_t count;  /* allocations made by this call so far */
} tl;

static int fault_hook(size_t n, void *ud) {
    (void)n;
    (void)ud;
    if (tl.target <= 0 || ++tl.count != tl.target) return 0;
    atomic_fetch_add(&fault_failed, 1);
    return 1;
}

/* Parse "key=value" pairs separated by commas into the settings above. */
static pl_status parse(const char *spec) {
    const char *p = spec;
    while (*p) {
        const char *eq = strchr(p, '='), *end = strchr(p, ',');
        if (!end) end = p + strlen(p);
        if (!eq || eq > end)
            return PL_ERR(PL_E_INVALID_ARG, "PARLEY_FAULT_ALLOC '%s': want key=value pairs "
                          "(requests=N,step=S,first=F)", spec);
        char *num_end = NULL;
        long long v = strtoll(eq + 1, &num_end, 10);
        size_t klen = (size_t)(eq - p);
        int64_t *field = klen == 8 && !strncmp(p, "requests", 8) ? &fault_requests
                         : klen == 4 && !strncmp(p, "step", 4)   ? &fault_step
                         : klen == 5 && !strncmp(p, "first", 5)  ? &fault_first
                                                                 : NULL;
        if (!field || num_end != end || v < 1)
            return PL_ERR(PL_E_INVALID_ARG, "PARLEY_FAULT_ALLOC '%s': '%.*s' (keys requests, "
                          "step, first; values >= 1)", spec, (int)(end - p), p);
        *field = v;
        p = *end ? end + 1 : end;
    }
    if (fault_requests < 1)
        return PL_ERR(PL_E_INVALID_ARG, "PARLEY_FAULT_ALLOC '%s': requests=N is required", spec);
    return PL_OK;
}

pl_status pl__wk_fault_setup(const char *spec) {
    if (!spec || !*spec) return PL_OK;
    PL_TRY(parse(spec));
    pl_alloc_set_fault(fault_hook, NULL);
    PL_LOGW("fault injection (PARLEY_FAULT_ALLOC=%s): the first %lld handler calls each fail "
            "one allocation (call k: allocation %lld + k*%lld)", spec, (long long)fault_requests,
            (long long)fault_first, (long long)fault_step);
    return PL_OK;
}

void pl__wk_fault_begin(void) {
    if (fault_requests < 1 || tl.depth++ > 0) return;
    int64_t k = atomic_fetch_add(&fault_started, 1);
    tl.count = 0;
    tl.target = k < fault_requests ? fault_first + k * fault_step : 0;
}

void pl__wk_fault_end(void) {
    if (fault_requests < 1 || --tl.depth > 0) return;
    tl.target = 0;
}

int64_t pl__wk_fault_failed(void) { return atomic_load(&fault_failed); }
