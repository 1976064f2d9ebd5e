/*
 * alloc.h - Parley's allocation wrappers.
 *
 * All Parley code allocates through these so that (1) the bytes and blocks
 * in use are accounted (pl_alloc_stats) and (2) tests can make any
 * allocation fail (pl_alloc_fail_after, pl_alloc_set_fault) to prove that
 * every constructor cleans up and reports PL_E_NOMEM.
 *
 * Thread-safety: every function here may be called from any thread.
 * Memory from pl_malloc/pl_calloc/pl_realloc/pl_strdup is released with
 * pl_free; memory from pl_aligned_alloc with pl_aligned_free. pl_free(NULL)
 * and pl_aligned_free(NULL) are no-ops.
 */
#ifndef PL_ALLOC_H
#define PL_ALLOC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

void *pl_malloc(size_t n);
void *pl_calloc(size_t count, size_t size); /* NULL on overflow of count*size */
void *pl_realloc(void *p, size_t n);        /* on NULL return p stays valid */
void pl_free(void *p);
char *pl_strdup(const char *s);
char *pl_strndup(const char *s, size_t n); /* copies at most n bytes, NUL-terminates */

/* align: a power of two >= sizeof(void *). Contents are uninitialized. */
void *pl_aligned_alloc(size_t align, size_t n);
void pl_aligned_free(void *p);

struct pl_alloc_stats {
    int64_t bytes_in_use;  /* requested bytes currently live */
    int64_t blocks_in_use; /* live allocations */
    int64_t bytes_peak;    /* high-water mark of bytes_in_use */
    int64_t total_allocs;  /* allocations since start (successful) */
    int64_t failed_allocs; /* allocations that returned NULL (injected or real) */
};

void pl_alloc_stats(struct pl_alloc_stats *out);

/*
 * Fault injection (tests only).
 *
 * pl_alloc_fail_after(n): the allocation after the next n succeeds fails,
 * and so does every one after it until pl_alloc_fail_after(-1) disarms it.
 * pl_alloc_fail_after(0) makes the very next allocation fail.
 *
 * pl_alloc_set_fault(fn, ud): fn is asked before each allocation of n bytes
 * and makes it fail by returning non-zero. NULL removes the hook.
 *
 * Both are process-wide; tests that use them should run in a forked child.
 */
void pl_alloc_fail_after(int64_t n);
typedef int (*pl_alloc_fault_fn)(size_t n, void *ud);
void pl_alloc_set_fault(pl_alloc_fault_fn fn, void *ud);

#ifdef __cplusplus
}
#endif
#endif
