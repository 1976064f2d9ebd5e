/* asr_dwconv.cu - depthwise 1-D convolution over time on time-major frames
 * (the ASR acoustic model's depthwise layers, engine/models/asr_model.h).
 *
 * One thread per output element (utterance b, frame t, channel c); threads
 * of a block run along the channels, so every tap reads a contiguous row
 * segment. Frames outside 0 .. len[b]-1 of an utterance are the zero
 * padding: they are never read (a select, not a multiply by a mask, so
 * whatever the padded rows of the buffer hold cannot leak into a result). */
#include <stdint.h>

#include "cuda_impl.h"

template <typename T>
__global__ void asr_dwconv_kernel(T *y, const T *x, const T *w, const int32_t *len, int64_t batch,
                                  int64_t x_rows, int64_t y_rows, int64_t ch, int k, int stride,
                                  int dil, int pad_left) {
    const int64_t n = batch * y_rows * ch;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x) {
        const int64_t c = i % ch;
        const int64_t row = i / ch;
        const int64_t b = row / y_rows, t = row % y_rows;
        int64_t valid = x_rows;
        if (len) {
            const int64_t l = len[b];
            valid = l < 0 ? 0 : (l < x_rows ? l : x_rows);
        }
        const T *xb = x + b * x_rows * ch + c;
        const int64_t t0 = t * stride - pad_left;
        float acc = 0.0f;
        for (int j = 0; j < k; j++) {
            const int64_t ti = t0 + (int64_t)j * dil;
            if (ti >= 0 && ti < valid)
                acc += pl__tof(w[(int64_t)j * ch + c]) * pl__tof(xb[ti * ch]);
        }
        y[i] = pl__fromf<T>(acc);
    }
}

extern "C" pl_status pl_cuda_asr_dwconv(struct pl_cuda_ctx *ctx, enum pl_cuda_dtype dt, void *y,
                                        const void *x, const void *w, const int32_t *len,
                                        int64_t batch, int64_t x_rows, int64_t y_rows, int64_t ch,
                                        int k, int stride, int dil, int pad_left) {
    int64_t nx = 0, ny = 0, nw = 0;
    PL_TRY(pl__cuda_enter(ctx, dt, "asr_dwconv"));
    PL_TRY(pl__cuda_check_dim(batch, INT32_MAX, "asr_dwconv", "batch"));
    PL_TRY(pl__cuda_check_dim(x_rows, INT32_MAX, "asr_dwconv", "x_rows"));
    PL_TRY(pl__cuda_check_dim(y_rows, INT32_MAX, "asr_dwconv", "y_rows"));
    PL_TRY(pl__cuda_check_dim(ch, INT32_MAX, "asr_dwconv", "ch"));
    PL_TRY(pl__cuda_check_dim(k, 4096, "asr_dwconv", "k"));
    PL_TRY(pl__cuda_check_dim(stride, 4096, "asr_dwconv", "stride"));
    PL_TRY(pl__cuda_check_dim(dil, 4096, "asr_dwconv", "dilation"));
    if (pad_left < 0 || (int64_t)pad_left > (int64_t)dil * (k - 1))
        return PL_ERR(PL_E_INVALID_ARG, "cuda asr_dwconv: pad_left %d outside 0..%lld", pad_left,
                      (long long)dil * (k - 1));
    PL_TRY(pl__cuda_mul(batch, x_rows, &nx, "asr_dwconv"));
    PL_TRY(pl__cuda_mul(nx, ch, &nx, "asr_dwconv"));
    PL_TRY(pl__cuda_mul(batch, y_rows, &ny, "asr_dwconv"));
    PL_TRY(pl__cuda_mul(ny, ch, &ny, "asr_dwconv"));
    PL_TRY(pl__cuda_mul(k, ch, &nw, "asr_dwconv"));
    if (!y || !x || !w) return PL_ERR(PL_E_INVALID_ARG, "cuda asr_dwconv: NULL pointer");
    if (y == x) return PL_ERR(PL_E_INVALID_ARG, "cuda asr_dwconv: y aliases x");
    const int threads = 256;
    const unsigned grid = pl__cuda_grid(ny, threads, ctx->sm_count);
    if (dt == PL_CUDA_F32)
        asr_dwconv_kernel<float><<<grid, threads, 0, ctx->stream>>>(
            (float *)y, (const float *)x, (const float *)w, len, batch, x_rows, y_rows, ch, k,
            stride, dil, pad_left);
    else
        asr_dwconv_kernel<__half><<<grid, threads, 0, ctx->stream>>>(
            (__half *)y, (const __half *)x, (const __half *)w, len, batch, x_rows, y_rows, ch, k,
            stride, dil, pad_left);
    PL_CUDA_CHECK_LAUNCH("asr_dwconv");
    return PL_OK;
}
