/* complex_abs.cu - magnitudes of complex numbers stored as halves of each
 * row (PL_OP_COMPLEX_ABS): y[r, i] = sqrt(x[r, i]^2 + x[r, n + i]^2) for a
 * [rows, 2n] input (real parts first, as an STFT computed as a Conv1d lays
 * them out). */
#include <stdint.h>

#include "cuda_impl.h"

template <typename T>
__global__ void complex_abs_kernel(T *y, const T *x, int64_t rows, int64_t n) {
    const int64_t total = rows * n;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (int64_t)gridDim.x * blockDim.x) {
        const int64_t r = i / n, j = i % n;
        const float re = pl__tof(x[r * 2 * n + j]), im = pl__tof(x[r * 2 * n + n + j]);
        y[i] = pl__fromf<T>(sqrtf(re * re + im * im));
    }
}

extern "C" pl_status pl_cuda_complex_abs(struct pl_cuda_ctx *ctx, enum pl_cuda_dtype dt, void *y,
                                         const void *x, int64_t rows, int64_t n) {
    int64_t total = 0;
    PL_TRY(pl__cuda_enter(ctx, dt, "complex_abs"));
    PL_TRY(pl__cuda_check_dim(rows, INT64_MAX / 16, "complex_abs", "rows"));
    PL_TRY(pl__cuda_check_dim(n, INT32_MAX, "complex_abs", "n"));
    PL_TRY(pl__cuda_mul(rows, 2 * n, &total, "complex_abs"));
    if (!y || !x) return PL_ERR(PL_E_INVALID_ARG, "cuda complex_abs: NULL pointer");
    if (y == x) return PL_ERR(PL_E_INVALID_ARG, "cuda complex_abs: y aliases x");
    const unsigned grid = pl__cuda_grid(rows * n, 256, ctx->sm_count);
    if (dt == PL_CUDA_F32)
        complex_abs_kernel<float>
            <<<grid, 256, 0, ctx->stream>>>((float *)y, (const float *)x, rows, n);
    else
        complex_abs_kernel<__half>
            <<<grid, 256, 0, ctx->stream>>>((__half *)y, (const __half *)x, rows, n);
    PL_CUDA_CHECK_LAUNCH("complex_abs");
    return PL_OK;
}
