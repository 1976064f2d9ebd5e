/* add_layernorm.cu - fused (x + bias + residual) -> LayerNorm, one block per row.
 *
 * Two passes over the row for mean and variance (centred, so no cancellation),
 * a third writes. The row is re-read from global memory (L1/L2 hits for BERT
 * sizes) instead of shared memory so that any row length works. Only the
 * last pass writes, and each element is read and written by the same thread
 * there, so out may alias x or residual. */
#include "cuda_impl.h"

template <typename T>
__device__ __forceinline__ float ln_in(const T *x, const T *bias, const T *res, int64_t c) {
    float v = pl__tof(x[c]);
    if (bias) v += pl__tof(bias[c]);
    if (res) v += pl__tof(res[c]);
    return v;
}

template <typename T>
__global__ void add_ln_kernel(T *out, const T *x, const T *bias, const T *res, const T *gamma,
                              const T *beta, int64_t rows, int64_t cols, float eps) {
    __shared__ float sh[32];
    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const T *xr = x + r * cols;
        const T *rr = res ? res + r * cols : nullptr;
        T *orow = out + r * cols;
        float s = 0.0f;
        for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) s += ln_in(xr, bias, rr, c);
        const float mean = pl__block_sum(s, sh) / (float)cols;
        float q = 0.0f;
        for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
            const float d = ln_in(xr, bias, rr, c) - mean;
            q += d * d;
        }
        const float var = pl__block_sum(q, sh) / (float)cols;
        const float rstd = rsqrtf(var + eps);
        for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
            const float v = (ln_in(xr, bias, rr, c) - mean) * rstd;
            orow[c] = pl__fromf<T>(v * pl__tof(gamma[c]) + pl__tof(beta[c]));
        }
        /* the next row's first block_sum starts with a barrier, so no thread
         * overwrites sh while another still reads this row's results */
    }
}

extern "C" pl_status pl_cuda_add_layernorm(struct pl_cuda_ctx *ctx, enum pl_cuda_dtype dt,
                                           void *out, const void *x, const void *bias,
                                           const void *residual, const void *gamma,
                                           const void *beta, int64_t rows, int64_t cols,
                                           float eps) {
    int64_t n = 0;
    PL_TRY(pl__cuda_enter(ctx, dt, "add_layernorm"));
    PL_TRY(pl__cuda_check_dim(rows, INT64_MAX / 16, "add_layernorm", "rows"));
    PL_TRY(pl__cuda_check_dim(cols, INT_MAX, "add_layernorm", "cols"));
    PL_TRY(pl__cuda_mul(rows, cols, &n, "add_layernorm"));
    if (!out || !x || !gamma || !beta)
        return PL_ERR(PL_E_INVALID_ARG, "cuda add_layernorm: NULL out, x, gamma or beta");
    if (!(eps > 0.0f) || eps != eps)
        return PL_ERR(PL_E_INVALID_ARG, "cuda add_layernorm: eps must be > 0");

    const int threads = pl__cuda_row_threads(cols);
    const unsigned grid = (unsigned)(rows < (1 << 30) ? rows : (1 << 30));
    if (dt == PL_CUDA_F32)
        add_ln_kernel<float><<<grid, threads, 0, ctx->stream>>>(
            (float *)out, (const float *)x, (const float *)bias, (const float *)residual,
            (const float *)gamma, (const float *)beta, rows, cols, eps);
    else
        add_ln_kernel<__half><<<grid, threads, 0, ctx->stream>>>(
            (__half *)out, (const __half *)x, (const __half *)bias, (const __half *)residual,
            (const __half *)gamma, (const __half *)beta, rows, cols, eps);
    PL_CUDA_CHECK_LAUNCH("add_layernorm");
    return PL_OK;
}
