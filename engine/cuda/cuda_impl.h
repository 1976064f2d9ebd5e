/*
 * cuda_impl.h - private to engine/cuda: the context struct, error mapping,
 * argument checks and small device helpers shared by the .cu files.
 * Included only from CUDA translation units.
 */
#ifndef PL_CUDA_IMPL_H
#define PL_CUDA_IMPL_H

#include <cublas_v2.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <limits.h>

#include "alloc.h"
#include "log.h"
#include "pl_cuda.h"
#include "status.h"

/* Kernel-reported error bits (ctx->d_err). */
#define PL__CUDA_ERR_EMBED_ID 1u
#define PL__CUDA_ERR_EMBED_TYPE 2u
#define PL__CUDA_ERR_EMBED_POS 4u
#define PL__CUDA_ERR_GET_ROWS 8u

struct pl__pool_block {
    void *ptr;
    size_t size;
    bool in_use;
};

struct pl_cuda_ctx {
    int dev;
    int sm_count;
    int cc;        /* compute capability major*10+minor */
    int clock_khz; /* SM clock, 0 if unknown */
    char name[256];
    cudaStream_t stream;
    cublasHandle_t blas;
    void *blas_ws; /* cuBLAS workspace (set once so cuBLAS never allocates) */
    size_t blas_ws_size;
    unsigned int *d_err; /* device word where kernels OR in PL__CUDA_ERR_* bits */
    bool tf32;
    bool capturing; /* between pl_cuda_capture_begin and _end */
    int n_graphs;   /* live pl_cuda_graph objects (the pool keeps its blocks) */
    /* pool */
    struct pl__pool_block *blocks;
    int n_blocks, cap_blocks;
    int64_t pool_mallocs;
};

/* Map a failed CUDA runtime call to PL_E_BACKEND with its error string. */
#define PL_CUDA_CHECK(call)                                                                        \
    do {                                                                                           \
        cudaError_t pl__ce = (call);                                                               \
        if (pl__ce != cudaSuccess)                                                                 \
            return PL_ERR(PL_E_BACKEND, "%s: %s (%s)", #call, cudaGetErrorString(pl__ce),         \
                          cudaGetErrorName(pl__ce));                                               \
    } while (0)

#define PL_CUBLAS_CHECK(call)                                                                      \
    do {                                                                                           \
        cublasStatus_t pl__bs = (call);                                                            \
        if (pl__bs != CUBLAS_STATUS_SUCCESS)                                                       \
            return PL_ERR(PL_E_BACKEND, "%s: %s", #call, cublasGetStatusString(pl__bs));           \
    } while (0)

/* After a kernel launch: launch configuration errors surface here. */
#define PL_CUDA_CHECK_LAUNCH(what)                                                                 \
    do {                                                                                           \
        cudaError_t pl__le = cudaGetLastError();                                                   \
        if (pl__le != cudaSuccess)                                                                 \
            return PL_ERR(PL_E_BACKEND, "%s: kernel launch failed: %s", (what),                    \
                          cudaGetErrorString(pl__le));                                             \
    } while (0)

/* Common entry checks: a context, a valid dtype, and its device current. */
pl_status pl__cuda_enter(struct pl_cuda_ctx *ctx, enum pl_cuda_dtype dt, const char *op);

/* 0 < v <= max, else PL_E_INVALID_ARG naming op and what. */
static inline pl_status pl__cuda_check_dim(int64_t v, int64_t max, const char *op,
                                           const char *what) {
    if (v <= 0 || v > max)
        return PL_ERR(PL_E_INVALID_ARG, "cuda %s: %s = %lld out of range (1..%lld)", op, what,
                      (long long)v, (long long)max);
    return PL_OK;
}

/* The geometry of a 1-D op over time-major sequences [n_seq][t][ch] with a kernel of k taps,
 * a stride and a dilation (dwconv, im2col): every size positive and in range. */
static inline pl_status pl__cuda_check_seq(const char *op, int64_t n_seq, int64_t t_in,
                                           int64_t t_out, int64_t ch, int k, int stride,
                                           int dil) {
    PL_TRY(pl__cuda_check_dim(n_seq, INT32_MAX, op, "n_seq"));
    PL_TRY(pl__cuda_check_dim(t_in, INT32_MAX, op, "t_in"));
    PL_TRY(pl__cuda_check_dim(t_out, INT32_MAX, op, "t_out"));
    PL_TRY(pl__cuda_check_dim(ch, INT32_MAX, op, "ch"));
    PL_TRY(pl__cuda_check_dim(k, 4096, op, "k"));
    PL_TRY(pl__cuda_check_dim(stride, 4096, op, "stride"));
    return pl__cuda_check_dim(dil, 4096, op, "dilation");
}

/* a*b without overflow past INT64_MAX/16 (so byte counts fit in size_t). */
static inline pl_status pl__cuda_mul(int64_t a, int64_t b, int64_t *out, const char *op) {
    const int64_t lim = INT64_MAX / 16;
    if (a < 0 || b < 0 || (a != 0 && b > lim / a))
        return PL_ERR(PL_E_INVALID_ARG, "cuda %s: size %lld x %lld overflows", op, (long long)a,
                      (long long)b);
    *out = a * b;
    return PL_OK;
}

/* Grid size for a grid-stride loop over n elements with `threads` per block. */
static inline unsigned int pl__cuda_grid(int64_t n, int threads, int sm_count) {
    int64_t blocks = (n + threads - 1) / threads;
    int64_t cap = (int64_t)(sm_count > 0 ? sm_count : 80) * 32;
    if (blocks > cap) blocks = cap;
    if (blocks < 1) blocks = 1;
    return (unsigned int)blocks;
}

/* ---- device helpers -------------------------------------------------------- */

__device__ __forceinline__ float pl__tof(float x) { return x; }
__device__ __forceinline__ float pl__tof(__half x) { return __half2float(x); }

template <typename T> __device__ __forceinline__ T pl__fromf(float x);
template <> __device__ __forceinline__ float pl__fromf<float>(float x) { return x; }
template <> __device__ __forceinline__ __half pl__fromf<__half>(float x) {
    return __float2half_rn(x);
}

/* Two adjacent elements at once (float2 / __half2 loads and stores). */
__device__ __forceinline__ void pl__unpack2(float2 v, float &a, float &b) {
    a = v.x;
    b = v.y;
}
__device__ __forceinline__ void pl__unpack2(__half2 v, float &a, float &b) {
    a = __low2float(v);
    b = __high2float(v);
}
__device__ __forceinline__ void pl__pack2(float2 &v, float a, float b) { v = make_float2(a, b); }
__device__ __forceinline__ void pl__pack2(__half2 &v, float a, float b) {
    v = __floats2half2_rn(a, b);
}

__device__ __forceinline__ float pl__warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ __forceinline__ float pl__warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

/* Sum / max over the block. blockDim.x must be a multiple of 32 (<= 1024);
 * sh is __shared__ float[32]. Every thread gets the result. */
__device__ __forceinline__ float pl__block_sum(float v, float *sh) {
    const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5;
    const int nw = (int)(blockDim.x >> 5);
    v = pl__warp_sum(v);
    __syncthreads(); /* sh may still be read from a previous call */
    if (lane == 0) sh[wid] = v;
    __syncthreads();
    if (wid == 0) {
        float t = lane < nw ? sh[lane] : 0.0f;
        t = pl__warp_sum(t);
        if (lane == 0) sh[0] = t;
    }
    __syncthreads();
    return sh[0];
}
__device__ __forceinline__ float pl__block_max(float v, float *sh) {
    const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5;
    const int nw = (int)(blockDim.x >> 5);
    v = pl__warp_max(v);
    __syncthreads();
    if (lane == 0) sh[wid] = v;
    __syncthreads();
    if (wid == 0) {
        float t = lane < nw ? sh[lane] : -INFINITY;
        t = pl__warp_max(t);
        if (lane == 0) sh[0] = t;
    }
    __syncthreads();
    return sh[0];
}

/* Threads per block for a row-wise kernel over rows of n elements. */
static inline int pl__cuda_row_threads(int64_t n) {
    int64_t t = (n + 31) / 32 * 32;
    if (t < 32) t = 32;
    if (t > 256) t = 256;
    return (int)t;
}

#endif
