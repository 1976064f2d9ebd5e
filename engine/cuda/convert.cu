/* convert.cu - f32 <-> f16 conversion on the device. */
#include "cuda_impl.h"

__global__ void f32_to_f16_kernel(__half *dst, const float *src, int64_t n) {
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x)
        dst[i] = __float2half_rn(src[i]);
}

__global__ void f16_to_f32_kernel(float *dst, const __half *src, int64_t n) {
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x)
        dst[i] = __half2float(src[i]);
}

extern "C" pl_status pl_cuda_f32_to_f16(struct pl_cuda_ctx *ctx, void *dst, const float *src,
                                        int64_t n) {
    PL_TRY(pl__cuda_enter(ctx, PL_CUDA_F16, "f32_to_f16"));
    PL_TRY(pl__cuda_check_dim(n, INT64_MAX / 16, "f32_to_f16", "n"));
    if (!dst || !src) return PL_ERR(PL_E_INVALID_ARG, "cuda f32_to_f16: NULL pointer");
    f32_to_f16_kernel<<<pl__cuda_grid(n, 256, ctx->sm_count), 256, 0, ctx->stream>>>(
        (__half *)dst, src, n);
    PL_CUDA_CHECK_LAUNCH("f32_to_f16");
    return PL_OK;
}

extern "C" pl_status pl_cuda_f16_to_f32(struct pl_cuda_ctx *ctx, float *dst, const void *src,
                                        int64_t n) {
    PL_TRY(pl__cuda_enter(ctx, PL_CUDA_F16, "f16_to_f32"));
    PL_TRY(pl__cuda_check_dim(n, INT64_MAX / 16, "f16_to_f32", "n"));
    if (!dst || !src) return PL_ERR(PL_E_INVALID_ARG, "cuda f16_to_f32: NULL pointer");
    f16_to_f32_kernel<<<pl__cuda_grid(n, 256, ctx->sm_count), 256, 0, ctx->stream>>>(
        dst, (const __half *)src, n);
    PL_CUDA_CHECK_LAUNCH("f16_to_f32");
    return PL_OK;
}
