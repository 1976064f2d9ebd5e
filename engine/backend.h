/*
 * backend.h - compute backends (CPU, CUDA) and their memory buffers.
 *
 * A backend owns device memory (struct pl_buffer) and runs graphs
 * (tensor.h). Create one by name:
 *
 *     struct pl_backend *be;
 *     PL_TRY(pl_backend_create("cpu", &be));     // or "cpu-ref", "cuda", "cuda:1"
 *     ... pl_backend_buffer_alloc(be, n, &buf); pl_tensor_place(t, buf, 0);
 *     ... pl_backend_graph_compute(be, g);
 *     pl_backend_destroy(be);
 *
 * "cpu" picks the fastest kernels the CPU supports at run time (AVX-512,
 * AVX2+FMA, else portable C); "cpu-ref" is the scalar reference mode that
 * tests use as the oracle. "cuda" exists only when Parley was built with the
 * CUDA backend; otherwise pl_backend_create returns PL_E_UNSUPPORTED.
 *
 * An op a backend cannot run is an error (PL_E_UNSUPPORTED naming the op);
 * there is no silent fallback to another backend.
 *
 * Thread-safety: a backend runs one graph at a time (callers serialize
 * graph_compute per backend); buffers may be read concurrently.
 */
#ifndef PL_BACKEND_H
#define PL_BACKEND_H

#include <stdbool.h>
#include <stddef.h>

#include "status.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

struct pl_backend;
struct pl_buffer;

/* Create a backend by name: "cpu", "cpu-ref", "cuda" (= "cuda:0"), "cuda:N".
 * Errors: PL_E_INVALID_ARG (unknown name), PL_E_UNSUPPORTED (not built in),
 * PL_E_BACKEND (device failure), PL_E_NOMEM.
 * OUT: *out, caller owns; free with pl_backend_destroy(). */
pl_status pl_backend_create(const char *name, struct pl_backend **out);
/* Same, with n_threads worker threads for a CPU backend ("cpu": 1..256, 0 =
 * the default; ignored by other backends). Models that run one graph per
 * stream use 1 and leave the cores to their other streams. */
pl_status pl_backend_create_threads(const char *name, int n_threads, struct pl_backend **out);
/* Destroying NULL is a no-op. Buffers of the backend must be freed first. */
void pl_backend_destroy(struct pl_backend *be);
/* "cpu", "cpu-ref", "cuda:0" ...; borrowed for the backend's lifetime. */
const char *pl_backend_name(const struct pl_backend *be);
/* True when the backend's buffers live in host memory (data pointers can be
 * read directly by the CPU). */
bool pl_backend_is_host(const struct pl_backend *be);

/* Allocate n bytes (aligned to at least 64) of backend memory. Thread-safe:
 * a shared model's backend allocates its per-stream buffers from any thread.
 * A buffer may be read and written by graphs of another backend of the same
 * kind and device (host memory for CPU backends; one device's memory for
 * "cuda:N"), so per-stream state can move between compute backends.
 * OUT: *out, caller owns; free with pl_buffer_free(). */
pl_status pl_backend_buffer_alloc(struct pl_backend *be, size_t n, struct pl_buffer **out);
/* Wrap host memory [ptr, ptr+n) as a buffer without copying (zero-copy
 * weights from an mmap). The memory must outlive the buffer. Backends whose
 * memory is not host memory return PL_E_UNSUPPORTED.
 * OUT: *out, caller owns; free with pl_buffer_free() (does not free ptr). */
pl_status pl_backend_buffer_from_host(struct pl_backend *be, void *ptr, size_t n,
                                      struct pl_buffer **out);
void pl_buffer_free(struct pl_buffer *buf); /* NULL is a no-op */
size_t pl_buffer_size(const struct pl_buffer *buf);
/* Base address (a device pointer for device buffers). */
void *pl_buffer_base(const struct pl_buffer *buf);

/* Copy n bytes from host src into t's data at byte offset off, or from t to
 * host dst. Errors: PL_E_INVALID_ARG (t unplaced, range outside t),
 * PL_E_BACKEND. */
pl_status pl_backend_tensor_set(struct pl_backend *be, struct pl_tensor *t, const void *src,
                                size_t off, size_t n);
pl_status pl_backend_tensor_get(struct pl_backend *be, const struct pl_tensor *t, void *dst,
                                size_t off, size_t n);

/* True when the backend can run op tensor `op` with its dtypes and shapes. */
bool pl_backend_supports_op(const struct pl_backend *be, const struct pl_tensor *op);
/* Run every node of g in order. Errors: PL_E_UNSUPPORTED (an op the backend
 * cannot run; nothing is computed), PL_E_INVALID_ARG (bad input data, e.g. a
 * token id out of range), PL_E_BACKEND. */
pl_status pl_backend_graph_compute(struct pl_backend *be, struct pl_graph *g);
/* Wait for queued work (no-op for synchronous backends). */
pl_status pl_backend_synchronize(struct pl_backend *be);

/* ---- CPU backend specifics (PL_E_INVALID_ARG when be is not a CPU backend) */

/* Switch between optimized kernels (false) and the scalar reference (true). */
pl_status pl_backend_cpu_set_ref(struct pl_backend *be, bool use_ref);
/* Worker threads for this backend's graphs (1..256). Default: PARLEY_THREADS
 * or the number of online cores. */
pl_status pl_backend_cpu_set_threads(struct pl_backend *be, int n_threads);
int pl_backend_cpu_threads(const struct pl_backend *be);
/* Kernel family in use: "ref", "generic", "avx2", "avx512", "avx512bf16".
 * Static storage. */
const char *pl_backend_cpu_kernels(const struct pl_backend *be);

/* Pack the f32 Linear weight w [N, K] (placed) into the fast kernels' GEMM
 * layout (32-column panels: p[(q * K + l) * 32 + j] = w[32q + j][l], zero
 * past N) in a new host buffer, and point w->packed at it; an int8 weight
 * into the int8 GEMM's layout (32-column panels of 4-byte K groups, then the
 * column sums; cpu_impl.h); a bf16 weight into the bf16 GEMM's layout
 * (32-column panels of K pairs) where the family has one (AVX-512 BF16),
 * else its f32 values into the f32 layout. When the kernel family has no
 * packed GEMM for w's type (or w is f16), nothing is made: *out = NULL.
 * w's data is untouched (the reference mode and other readers use it).
 * OUT: *out, caller owns; free with pl_buffer_free() after the last graph
 * that uses w. Errors: PL_E_INVALID_ARG (not a CPU backend, w not a placed
 * 2-D tensor), PL_E_NOMEM. */
pl_status pl_backend_cpu_pack_weight(struct pl_backend *be, struct pl_tensor *w,
                                     struct pl_buffer **out);

/* Profile of the fast CPU ops by kind of work (PARLEY_PROFILE=1 at creation,
 * or pl_backend_cpu_set_profile). Each kernel section is timed with its
 * thread's CPU clock, so a loaded machine's neighbours do not inflate it;
 * sections run on every pool thread and add up. */
enum pl_cpu_prof_cat {
    PL_CPU_PROF_GEMM = 0,     /* Linear: the GEMM itself (f32 and int8) */
    PL_CPU_PROF_EPILOGUE,     /* Linear: bias + activation (+ int8 dequantization) */
    PL_CPU_PROF_PACK,         /* f16/bf16 weight panels, activation quantization, K^T */
    PL_CPU_PROF_ATT_SCORES,   /* attention: Q . K^T */
    PL_CPU_PROF_ATT_SOFTMAX,  /* attention: scale, mask, exp, normalize */
    PL_CPU_PROF_ATT_VALUE,    /* attention: P . V */
    PL_CPU_PROF_ATT_FUSED,    /* attention in one pass per block of queries (all three) */
    PL_CPU_PROF_LAYER_NORM,   /* residual add + LayerNorm */
    PL_CPU_PROF_EMBED,        /* embeddings + LayerNorm */
    PL_CPU_PROF_ELEMWISE,     /* standalone bias/activation, adds, copies, row gathers */
    PL_CPU_PROF_OTHER,        /* every other op (conv, LSTM, softmax, ...) */
    PL_CPU_PROF_COUNT
};
struct pl_cpu_profile {
    double cpu_ms[PL_CPU_PROF_COUNT]; /* thread CPU time in each kind, all threads */
    double total_cpu_ms; /* process CPU time inside graph_compute: the rest of it is the
                            pool (workers spinning for work, waking, joining) */
    double wall_ms;      /* wall time inside graph_compute */
    double wait_ms;      /* wall time the calling thread waited for workers after its tasks */
    int64_t graphs;      /* graph_compute calls counted */
};
/* Turn profiling on (zeroing the counters) or off. */
pl_status pl_backend_cpu_set_profile(struct pl_backend *be, bool on);
/* OUT: *out, the counters since profiling was last turned on. */
pl_status pl_backend_cpu_profile(const struct pl_backend *be, struct pl_cpu_profile *out);
/* "gemm", "epilogue", ...: static storage; "?" for a value out of range. */
const char *pl_cpu_prof_name(int cat);

#ifdef __cplusplus
}
#endif
#endif
