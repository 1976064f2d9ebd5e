/* add.cu - element-wise dst = a + b. */
#include "cuda_impl.h"

template <typename T> __global__ void add_kernel(T *dst, const T *a, const T *b, int64_t n) {
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x)
        dst[i] = pl__fromf<T>(pl__tof(a[i]) + pl__tof(b[i]));
}

extern "C" pl_status pl_cuda_add(struct pl_cuda_ctx *ctx, enum pl_cuda_dtype dt, void *dst,
                                 const void *a, const void *b, int64_t n) {
    PL_TRY(pl__cuda_enter(ctx, dt, "add"));
    PL_TRY(pl__cuda_check_dim(n, INT64_MAX / 16, "add", "n"));
    if (!dst || !a || !b) return PL_ERR(PL_E_INVALID_ARG, "cuda add: NULL pointer");
    const unsigned grid = pl__cuda_grid(n, 256, ctx->sm_count);
    if (dt == PL_CUDA_F32)
        add_kernel<float><<<grid, 256, 0, ctx->stream>>>((float *)dst, (const float *)a,
                                                         (const float *)b, n);
    else
        add_kernel<__half><<<grid, 256, 0, ctx->stream>>>((__half *)dst, (const __half *)a,
                                                          (const __half *)b, n);
    PL_CUDA_CHECK_LAUNCH("add");
    return PL_OK;
}
