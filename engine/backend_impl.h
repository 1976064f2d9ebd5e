/*
 * backend_impl.h - what a backend implements (STYLE.md section 5).
 *
 * Not for backend users: they call the pl_backend_*() wrappers of
 * backend.h, which check arguments and handle NULL optional slots.
 *
 * A backend fills a static const struct pl_backend_i and creates a struct
 * pl_backend with api_version = PL_BACKEND_API_VERSION, iface = that table
 * and ctx = its private state. Buffers it allocates set buffer->iface.free
 * and buffer->backend. Tensor data pointers are buffer->base + offset.
 *
 * Contract for graph_compute: nodes run in order; each node's sources are
 * placed (leaf or earlier node). Before computing anything the backend should
 * check supports_op for every node and return PL_E_UNSUPPORTED naming the
 * first unsupported op (no silent fallback). Op semantics: tensor.h.
 */
#ifndef PL_BACKEND_IMPL_H
#define PL_BACKEND_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "status.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PL_BACKEND_API_VERSION 1

struct pl_backend_i {
    const char *(*name)(const struct pl_backend *be);
    void (*destroy)(struct pl_backend *be);
    pl_status (*buffer_alloc)(struct pl_backend *be, size_t n, struct pl_buffer **out);
    pl_status (*tensor_set)(struct pl_backend *be, struct pl_tensor *t, const void *src, size_t off,
                            size_t n);
    pl_status (*tensor_get)(struct pl_backend *be, const struct pl_tensor *t, void *dst,
                            size_t off, size_t n);
    bool (*supports_op)(const struct pl_backend *be, const struct pl_tensor *op);
    pl_status (*graph_compute)(struct pl_backend *be, struct pl_graph *g);
    pl_status (*synchronize)(struct pl_backend *be); /* optional: NULL = synchronous */
    /* optional: NULL = PL_E_UNSUPPORTED (device memory) */
    pl_status (*buffer_from_host)(struct pl_backend *be, void *ptr, size_t n,
                                  struct pl_buffer **out);
    bool is_host; /* buffers are host memory */
};

struct pl_backend {
    uint32_t api_version; /* PL_BACKEND_API_VERSION */
    struct pl_backend_i iface;
    void *ctx; /* backend private state */
};

struct pl_buffer_i {
    void (*free)(struct pl_buffer *buf); /* frees base (if owned), ctx and buf itself */
};

struct pl_buffer {
    struct pl_buffer_i iface;
    struct pl_backend *backend; /* the backend that made it (borrowed) */
    void *base;                 /* host or device address */
    size_t size;                /* bytes */
    void *ctx;                  /* backend private */
};

/* Defined by the CUDA backend (engine/cuda/) when it is built. dev >= 0.
 * OUT: *out, caller owns; free with pl_backend_destroy(). */
pl_status pl_backend_cuda_create(int dev, struct pl_backend **out);

/* Defined by the CPU backend (engine/cpu/). use_ref selects the scalar mode;
 * n_threads 0 = the default (PARLEY_THREADS or the core count; 1 for ref). */
pl_status pl__backend_cpu_create(bool use_ref, int n_threads, struct pl_backend **out);

#ifdef __cplusplus
}
#endif
#endif
