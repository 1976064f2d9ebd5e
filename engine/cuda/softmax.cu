/* softmax.cu - masked, scaled softmax over rows: one warp per row (rows up to
 * 1024 elements, held in registers), else one block per row.
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

/* Rows of at most 32*PL elements: one warp per row, the row kept in
 * registers (PL per lane, indexed only with unrolled constants), shuffles
 * instead of shared memory and barriers. Masked elements hold -inf until
 * the exp, then 0. */
template <typename T, int PL>
__global__ void softmax_warp_kernel(T *out, const T *in, const int32_t *mask, int64_t mask_div,
                                    int64_t rows, int n, float scale) {
    const int lane = threadIdx.x & 31;
    const int64_t wpb = blockDim.x >> 5;
    for (int64_t r = (int64_t)blockIdx.x * wpb + (threadIdx.x >> 5); r < rows;
         r += (int64_t)gridDim.x * wpb) {
        const T *ir = in + r * n;
        T *orow = out + r * n;
        const int32_t *mr = mask ? mask + (r / mask_div) * n : nullptr;
        float v[PL];
        float mx = -INFINITY;
#pragma unroll
        for (int i = 0; i < PL; i++) {
            const int j = lane + i * 32;
            v[i] = -INFINITY;
            if (j < n && (!mr || mr[j] != 0)) v[i] = pl__tof(ir[j]) * scale;
            mx = fmaxf(mx, v[i]);
        }
        mx = pl__warp_max(mx);
        if (mx == -INFINITY) { /* every element masked: zeros (warp-uniform branch) */
#pragma unroll
            for (int i = 0; i < PL; i++)
                if (lane + i * 32 < n) orow[lane + i * 32] = pl__fromf<T>(0.0f);
            continue;
        }
        float s = 0.0f;
#pragma unroll
        for (int i = 0; i < PL; i++) {
            v[i] = v[i] == -INFINITY ? 0.0f : __expf(v[i] - mx);
            s += v[i];
        }
        const float inv = 1.0f / pl__warp_sum(s);
#pragma unroll
        for (int i = 0; i < PL; i++)
            if (lane + i * 32 < n) orow[lane + i * 32] = pl__fromf<T>(v[i] * inv);
    }
}

template <typename T>
static void launch_softmax(struct pl_cuda_ctx *ctx, T *out, const T *in, const int32_t *mask,
                           int64_t mask_div, int64_t rows, int64_t n, float scale) {
    if (n <= 1024) {
        const int warps = 4; /* rows per block */
        int64_t grid = (rows + warps - 1) / warps;
        const int64_t cap = (int64_t)(ctx->sm_count > 0 ? ctx->sm_count : 80) * 16;
        if (grid > cap) grid = cap;
        const dim3 g((unsigned)grid), b(32 * warps);
        const int ni = (int)n;
        if (n <= 32)
            softmax_warp_kernel<T, 1><<<g, b, 0, ctx->stream>>>(out, in, mask, mask_div, rows, ni, scale);
        else if (n <= 64)
            softmax_warp_kernel<T, 2><<<g, b, 0, ctx->stream>>>(out, in, mask, mask_div, rows, ni, scale);
        else if (n <= 128)
            softmax_warp_kernel<T, 4><<<g, b, 0, ctx->stream>>>(out, in, mask, mask_div, rows, ni, scale);
        else if (n <= 256)
            softmax_warp_kernel<T, 8><<<g, b, 0, ctx->stream>>>(out, in, mask, mask_div, rows, ni, scale);
        else if (n <= 512)
            softmax_warp_kernel<T, 16><<<g, b, 0, ctx->stream>>>(out, in, mask, mask_div, rows, ni, scale);
        else
            softmax_warp_kernel<T, 32><<<g, b, 0, ctx->stream>>>(out, in, mask, mask_div, rows, ni, scale);
        return;
    }
    const int threads = pl__cuda_row_threads(n);
    const unsigned grid = (unsigned)(rows < (1 << 30) ? rows : (1 << 30));
    softmax_kernel<T><<<grid, threads, 0, ctx->stream>>>(out, in, mask, mask_div, rows, n, scale);
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

    if (dt == PL_CUDA_F32)
        launch_softmax<float>(ctx, (float *)out, (const float *)in, mask, mask_div, rows, n,
                              scale);
    else
        launch_softmax<__half>(ctx, (__half *)out, (const __half *)in, mask, mask_div, rows, n,
                               scale);
    PL_CUDA_CHECK_LAUNCH("softmax");
    return PL_OK;
}
