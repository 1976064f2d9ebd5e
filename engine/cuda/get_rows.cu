/* get_rows.cu - dst[r,:] = src[idx[r],:] (row gather, e.g. the [CLS] rows or
 * the tokens a head reads). Indices come from the device: one out of range
 * reads row 0 and is reported by the next pl_cuda_ctx_sync(). */
#include "cuda_impl.h"

template <typename T>
__global__ void get_rows_kernel(T *dst, const T *src, const int32_t *idx, int64_t n_idx,
                                int64_t n_rows, int64_t cols, unsigned int *err) {
    for (int64_t r = blockIdx.x; r < n_idx; r += gridDim.x) {
        int64_t i = idx[r];
        if (i < 0 || i >= n_rows) {
            if (threadIdx.x == 0) atomicOr(err, PL__CUDA_ERR_GET_ROWS);
            i = 0;
        }
        for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) dst[r * cols + c] = src[i * cols + c];
    }
}

extern "C" pl_status pl_cuda_get_rows(struct pl_cuda_ctx *ctx, enum pl_cuda_dtype dt, void *dst,
                                      const void *src, const int32_t *idx, int64_t n_idx,
                                      int64_t n_rows, int64_t cols) {
    int64_t n = 0;
    PL_TRY(pl__cuda_enter(ctx, dt, "get_rows"));
    PL_TRY(pl__cuda_check_dim(n_idx, INT64_MAX / 16, "get_rows", "n_idx"));
    PL_TRY(pl__cuda_check_dim(n_rows, INT64_MAX / 16, "get_rows", "n_rows"));
    PL_TRY(pl__cuda_check_dim(cols, INT64_MAX / 16, "get_rows", "cols"));
    PL_TRY(pl__cuda_mul(n_rows, cols, &n, "get_rows"));
    PL_TRY(pl__cuda_mul(n_idx, cols, &n, "get_rows"));
    if (!dst || !src || !idx) return PL_ERR(PL_E_INVALID_ARG, "cuda get_rows: NULL pointer");
    const int threads = pl__cuda_row_threads(cols);
    const unsigned grid = (unsigned)(n_idx < (1 << 30) ? n_idx : (1 << 30));
    if (dt == PL_CUDA_F32)
        get_rows_kernel<float><<<grid, threads, 0, ctx->stream>>>(
            (float *)dst, (const float *)src, idx, n_idx, n_rows, cols, ctx->d_err);
    else
        get_rows_kernel<__half><<<grid, threads, 0, ctx->stream>>>(
            (__half *)dst, (const __half *)src, idx, n_idx, n_rows, cols, ctx->d_err);
    PL_CUDA_CHECK_LAUNCH("get_rows");
    return PL_OK;
}
