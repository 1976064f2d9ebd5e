/*
 * alloc.c - accounted allocation with fault injection.
 *
 * Each block carries a 16-byte header holding its requested size, so that
 * pl_free can keep bytes_in_use exact without asking the C library. The
 * header keeps the returned pointer aligned like malloc's (max_align_t).
 */
#include "alloc.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define HDR 16

static _Atomic int64_t bytes_in_use, blocks_in_use, bytes_peak, total_allocs, failed_allocs;
static _Atomic int64_t fail_countdown = -1; /* <0: disarmed */
static _Atomic(pl_alloc_fault_fn) fault_fn;
static void *_Atomic fault_ud;

/* Decide whether the next allocation of n bytes must fail. */
static int should_fail(size_t n) {
    pl_alloc_fault_fn fn = atomic_load(&fault_fn);
    if (fn && fn(n, atomic_load(&fault_ud))) return 1;

    int64_t c = atomic_load(&fail_countdown);
    while (c > 0) {
        if (atomic_compare_exchange_weak(&fail_countdown, &c, c - 1)) return 0;
    }
    return c == 0;
}

static void account(int64_t delta_bytes, int64_t delta_blocks) {
    int64_t now = atomic_fetch_add(&bytes_in_use, delta_bytes) + delta_bytes;
    atomic_fetch_add(&blocks_in_use, delta_blocks);
    if (delta_blocks > 0) atomic_fetch_add(&total_allocs, 1);
    int64_t peak = atomic_load(&bytes_peak);
    while (now > peak && !atomic_compare_exchange_weak(&bytes_peak, &peak, now)) {
    }
}

void *pl_malloc(size_t n) {
    if (n > SIZE_MAX - HDR || should_fail(n)) {
        atomic_fetch_add(&failed_allocs, 1);
        return NULL;
    }
    unsigned char *b = malloc(n + HDR);
    if (!b) {
        atomic_fetch_add(&failed_allocs, 1);
        return NULL;
    }
    memcpy(b, &n, sizeof n);
    account((int64_t)n, 1);
    return b + HDR;
}

void *pl_calloc(size_t count, size_t size) {
    if (size && count > SIZE_MAX / size) {
        atomic_fetch_add(&failed_allocs, 1);
        return NULL;
    }
    void *p = pl_malloc(count * size);
    if (p) memset(p, 0, count * size);
    return p;
}

void *pl_realloc(void *p, size_t n) {
    if (!p) return pl_malloc(n);
    unsigned char *b = (unsigned char *)p - HDR;
    size_t old;
    memcpy(&old, b, sizeof old);
    if (n > SIZE_MAX - HDR || should_fail(n)) {
        atomic_fetch_add(&failed_allocs, 1);
        return NULL;
    }
    unsigned char *nb = realloc(b, n + HDR);
    if (!nb) {
        atomic_fetch_add(&failed_allocs, 1);
        return NULL;
    }
    memcpy(nb, &n, sizeof n);
    account((int64_t)n - (int64_t)old, 0);
    return nb + HDR;
}

void pl_free(void *p) {
    if (!p) return;
    unsigned char *b = (unsigned char *)p - HDR;
    size_t n;
    memcpy(&n, b, sizeof n);
    account(-(int64_t)n, -1);
    free(b);
}

char *pl_strndup(const char *s, size_t n) {
    size_t len = strnlen(s, n);
    char *d = pl_malloc(len + 1);
    if (!d) return NULL;
    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

char *pl_strdup(const char *s) { return pl_strndup(s, SIZE_MAX); }

/*
 * Aligned blocks: over-allocate, align inside, and keep the raw pointer and
 * size just below the aligned address.
 */
void *pl_aligned_alloc(size_t align, size_t n) {
    if (align < sizeof(void *) || (align & (align - 1))) return NULL;
    size_t extra = align + 2 * sizeof(size_t);
    if (n > SIZE_MAX - extra || should_fail(n)) {
        atomic_fetch_add(&failed_allocs, 1);
        return NULL;
    }
    unsigned char *raw = malloc(n + extra);
    if (!raw) {
        atomic_fetch_add(&failed_allocs, 1);
        return NULL;
    }
    uintptr_t a = ((uintptr_t)raw + 2 * sizeof(size_t) + align - 1) & ~(uintptr_t)(align - 1);
    size_t *meta = (size_t *)a - 2;
    meta[0] = (size_t)(a - (uintptr_t)raw);
    meta[1] = n;
    account((int64_t)n, 1);
    return (void *)a;
}

void pl_aligned_free(void *p) {
    if (!p) return;
    size_t *meta = (size_t *)p - 2;
    account(-(int64_t)meta[1], -1);
    free((unsigned char *)p - meta[0]);
}

void pl_alloc_stats(struct pl_alloc_stats *out) {
    out->bytes_in_use = atomic_load(&bytes_in_use);
    out->blocks_in_use = atomic_load(&blocks_in_use);
    out->bytes_peak = atomic_load(&bytes_peak);
    out->total_allocs = atomic_load(&total_allocs);
    out->failed_allocs = atomic_load(&failed_allocs);
}

void pl_alloc_fail_after(int64_t n) { atomic_store(&fail_countdown, n < 0 ? -1 : n); }

void pl_alloc_set_fault(pl_alloc_fault_fn fn, void *ud) {
    atomic_store(&fault_ud, ud);
    atomic_store(&fault_fn, fn);
}
