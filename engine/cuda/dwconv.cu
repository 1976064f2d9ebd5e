/* dwconv.cu - depthwise 1-D convolution over time on time-major frames,
 * without padding (PL_OP_DWCONV; the ASR acoustic model's depthwise layers,
 * whose zero padding and streaming context are in the window the caller
 * passes).
 *
 * One thread per output element (sequence q, frame t, channel c); threads of
 * a block run along the channels, so every tap reads a contiguous row
 * segment. f32 accumulation in tap order. */
#include <stdint.h>

#include "cuda_impl.h"

template <typename T>
__global__ void dwconv_kernel(T *y, const T *x, const T *w, const T *bias, int64_t n_seq,
                              int64_t t_in, int64_t t_out, int64_t ch, int k, int stride, int dil) {
    const int64_t n = n_seq * t_out * ch;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x) {
        const int64_t c = i % ch, row = i / ch;
        const int64_t q = row / t_out, t = row % t_out;
        const T *xp = x + (q * t_in + t * stride) * ch + c;
        float acc = 0.0f;
        for (int j = 0; j < k; j++) acc += pl__tof(w[(int64_t)j * ch + c]) * pl__tof(xp[(int64_t)j * dil * ch]);
        if (bias) acc += pl__tof(bias[c]);
        y[i] = pl__fromf<T>(acc);
    }
}

extern "C" pl_status pl_cuda_dwconv(struct pl_cuda_ctx *ctx, enum pl_cuda_dtype dt, void *y,
                                    const void *x, const void *w, const void *bias, int64_t n_seq,
                                    int64_t t_in, int64_t t_out, int64_t ch, int k, int stride,
                                    int dil) {
    int64_t nx = 0, ny = 0;
    PL_TRY(pl__cuda_enter(ctx, dt, "dwconv"));
    PL_TRY(pl__cuda_check_seq("dwconv", n_seq, t_in, t_out, ch, k, stride, dil));
    if ((t_out - 1) * stride + (int64_t)dil * (k - 1) >= t_in)
        return PL_ERR(PL_E_INVALID_ARG, "cuda dwconv: %lld outputs need more than %lld frames",
                      (long long)t_out, (long long)t_in);
    PL_TRY(pl__cuda_mul(n_seq, t_in, &nx, "dwconv"));
    PL_TRY(pl__cuda_mul(nx, ch, &nx, "dwconv"));
    PL_TRY(pl__cuda_mul(n_seq, t_out, &ny, "dwconv"));
    PL_TRY(pl__cuda_mul(ny, ch, &ny, "dwconv"));
    if (!y || !x || !w) return PL_ERR(PL_E_INVALID_ARG, "cuda dwconv: NULL pointer");
    if (y == x) return PL_ERR(PL_E_INVALID_ARG, "cuda dwconv: y aliases x");
    const int threads = 256;
    const unsigned grid = pl__cuda_grid(ny, threads, ctx->sm_count);
    if (dt == PL_CUDA_F32)
        dwconv_kernel<float><<<grid, threads, 0, ctx->stream>>>(
            (float *)y, (const float *)x, (const float *)w, (const float *)bias, n_seq, t_in,
            t_out, ch, k, stride, dil);
    else
        dwconv_kernel<__half><<<grid, threads, 0, ctx->stream>>>(
            (__half *)y, (const __half *)x, (const __half *)w, (const __half *)bias, n_seq, t_in,
            t_out, ch, k, stride, dil);
    PL_CUDA_CHECK_LAUNCH("dwconv");
    return PL_OK;
}
