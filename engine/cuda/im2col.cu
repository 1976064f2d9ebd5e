/* im2col.cu - the frames a 1-D convolution reads, laid out for a GEMM
 * (PL_OP_IM2COL): y[q, t, j*ch + c] = x[q, t*stride + j*dil - pad_left, c],
 * 0 outside the sequence. One thread per output element, consecutive threads
 * on consecutive channels (contiguous reads and writes). */
#include <stdint.h>

#include "cuda_impl.h"

template <typename T>
__global__ void im2col_kernel(T *y, const T *x, int64_t n_seq, int64_t t_in, int64_t t_out,
                              int64_t ch, int k, int stride, int dil, int pad_left) {
    const int64_t width = (int64_t)k * ch, n = n_seq * t_out * width;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x) {
        const int64_t col = i % width, row = i / width;
        const int64_t q = row / t_out, t = row % t_out, j = col / ch, c = col % ch;
        const int64_t src = t * stride + j * dil - pad_left;
        y[i] = src >= 0 && src < t_in ? x[(q * t_in + src) * ch + c] : pl__fromf<T>(0.0f);
    }
}

extern "C" pl_status pl_cuda_im2col(struct pl_cuda_ctx *ctx, enum pl_cuda_dtype dt, void *y,
                                    const void *x, int64_t n_seq, int64_t t_in, int64_t t_out,
                                    int64_t ch, int k, int stride, int dil, int pad_left) {
    int64_t ny = 0;
    PL_TRY(pl__cuda_enter(ctx, dt, "im2col"));
    PL_TRY(pl__cuda_check_seq("im2col", n_seq, t_in, t_out, ch, k, stride, dil));
    if (pad_left < 0 || (int64_t)pad_left > (int64_t)dil * (k - 1))
        return PL_ERR(PL_E_INVALID_ARG, "cuda im2col: pad_left %d outside 0..%lld", pad_left,
                      (long long)dil * (k - 1));
    PL_TRY(pl__cuda_mul(n_seq, t_out, &ny, "im2col"));
    PL_TRY(pl__cuda_mul(ny, ch * k, &ny, "im2col"));
    if (!y || !x) return PL_ERR(PL_E_INVALID_ARG, "cuda im2col: NULL pointer");
    const int threads = 256;
    const unsigned grid = pl__cuda_grid(ny, threads, ctx->sm_count);
    if (dt == PL_CUDA_F32)
        im2col_kernel<float><<<grid, threads, 0, ctx->stream>>>(
            (float *)y, (const float *)x, n_seq, t_in, t_out, ch, k, stride, dil, pad_left);
    else
        im2col_kernel<__half><<<grid, threads, 0, ctx->stream>>>(
            (__half *)y, (const __half *)x, n_seq, t_in, t_out, ch, k, stride, dil, pad_left);
    PL_CUDA_CHECK_LAUNCH("im2col");
    return PL_OK;
}
