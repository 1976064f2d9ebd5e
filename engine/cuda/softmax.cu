/* softmax.cu - masked, scaled softmax over rows, one block per row.
 *
 * Max pass, sum-of-exp pass, write pass, all in f32. Masked elements count as
 * -inf and are written as 0; a row whose every element is masked is written
 * as zeros (not NaN). out may alias in: only the last pass writes, each
 * element by the thread that reads it. */
#include "cuda_impl.h"

template <typename T>
__global__ void softmax_kernel(T *out, const T *in, const int32_t *mask, int64_t mask_div,
                               int64_t rows, int64_t n, float scale) {
    __shared__ float sh[32];
    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const T *ir = in + r * n;
        T *orow = out + r * n;
        const int32_t *mr = mask ? mask + (r / mask_div) * n : nullptr;
        float mx = -INFINITY;
        for (int64_t j = threadIdx.x; j < n; j += blockDim.x)
            if (!mr || mr[j] != 0) mx = fmaxf(mx, pl__tof(ir[j]) * scale);
        mx = pl__block_max(mx, sh);
        if (mx == -INFINITY) { /* every element masked (or -inf): zeros */
            for (int64_t j = threadIdx.x; j < n; j += blockDim.x) orow[j] = pl__fromf<T>(0.0f);
            continue;
        }
        float s = 0.0f;
        for (int64_t j = threadIdx.x; j < n; j += blockDim.x)
            if (!mr || mr[j] != 0) s += __expf(pl__tof(ir[j]) * scale - mx);
        s = pl__block_sum(s, sh);
        const float inv = 1.0f / s;
        for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
            float v = 0.0f;
            if (!mr || mr[j] != 0) v = __expf(pl__tof(ir[j]) * scale - mx) * inv;
            orow[j] = pl__fromf<T>(v);
        }
    }
}

extern "C" pl_status pl_cuda_softmax(struct pl_cuda_ctx *ctx, enum pl_cuda_dtype dt, void *out,
                                     const void *in, const int32_t *mask, int64_t mask_div,
                                     int64_t rows, int64_t n, float scale) {
    int64_t total = 0;
    PL_TRY(pl__cuda_enter(ctx, dt, "softmax"));
    PL_TRY(pl__cuda_check_dim(rows, INT64_MAX / 16, "softmax", "rows"));
    PL_TRY(pl__cuda_check_dim(n, INT_MAX, "softmax", "n"));
    PL_TRY(pl__cuda_mul(rows, n, &total, "softmax"));
    PL_TRY(pl__cuda_check_dim(mask_div, INT64_MAX, "softmax", "mask_div"));
    if (!out || !in) return PL_ERR(PL_E_INVALID_ARG, "cuda softmax: NULL in or out");
    if (scale != scale) return PL_ERR(PL_E_INVALID_ARG, "cuda softmax: scale is NaN");

    const int threads = pl__cuda_row_threads(n);
    const unsigned grid = (unsigned)(rows < (1 << 30) ? rows : (1 << 30));
    if (dt == PL_CUDA_F32)
        softmax_kernel<float><<<grid, threads, 0, ctx->stream>>>(
            (float *)out, (const float *)in, mask, mask_div, rows, n, scale);
    else
        softmax_kernel<__half><<<grid, threads, 0, ctx->stream>>>(
            (__half *)out, (const __half *)in, mask, mask_div, rows, n, scale);
    PL_CUDA_CHECK_LAUNCH("softmax");
    return PL_OK;
}
