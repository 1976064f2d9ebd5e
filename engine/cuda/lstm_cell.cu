/* lstm_cell.cu - one LSTMCell step (PL_OP_LSTM_CELL), PyTorch gate order
 * i, f, g, o: for row b and unit j, the gates are gx[b, q*H + j] (+ gh, the
 * recurrent product, when given); c' = sigmoid(f) c + sigmoid(i) tanh(g),
 * h' = sigmoid(o) tanh(c'); out = [h' (batch x H) | c' (batch x H)]. One
 * thread per (b, j); expf/tanhf, not the fast intrinsics. */
#include <stdint.h>

#include "cuda_impl.h"

__device__ __forceinline__ float lstm_sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

template <typename T>
__global__ void lstm_cell_kernel(T *out, const T *gx, const T *gh, const T *c, int64_t batch,
                                 int64_t hidden) {
    const int64_t n = batch * hidden;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x) {
        const int64_t b = i / hidden, j = i % hidden, g0 = b * 4 * hidden + j;
        float g[4];
        for (int q = 0; q < 4; q++) {
            g[q] = pl__tof(gx[g0 + q * hidden]);
            if (gh) g[q] += pl__tof(gh[g0 + q * hidden]);
        }
        const float cn = lstm_sigmoid(g[1]) * pl__tof(c[i]) + lstm_sigmoid(g[0]) * tanhf(g[2]);
        out[n + i] = pl__fromf<T>(cn);
        out[i] = pl__fromf<T>(lstm_sigmoid(g[3]) * tanhf(cn));
    }
}

extern "C" pl_status pl_cuda_lstm_cell(struct pl_cuda_ctx *ctx, enum pl_cuda_dtype dt, void *out,
                                       const void *gx, const void *gh, const void *c,
                                       int64_t batch, int64_t hidden) {
    int64_t n = 0;
    PL_TRY(pl__cuda_enter(ctx, dt, "lstm_cell"));
    PL_TRY(pl__cuda_check_dim(batch, INT32_MAX, "lstm_cell", "batch"));
    PL_TRY(pl__cuda_check_dim(hidden, INT32_MAX, "lstm_cell", "hidden"));
    PL_TRY(pl__cuda_mul(batch, 4 * hidden, &n, "lstm_cell"));
    if (!out || !gx || !c) return PL_ERR(PL_E_INVALID_ARG, "cuda lstm_cell: NULL pointer");
    if (out == gx || out == gh || out == c)
        return PL_ERR(PL_E_INVALID_ARG, "cuda lstm_cell: out aliases an input");
    const unsigned grid = pl__cuda_grid(batch * hidden, 256, ctx->sm_count);
    if (dt == PL_CUDA_F32)
        lstm_cell_kernel<float><<<grid, 256, 0, ctx->stream>>>(
            (float *)out, (const float *)gx, (const float *)gh, (const float *)c, batch, hidden);
    else
        lstm_cell_kernel<__half><<<grid, 256, 0, ctx->stream>>>(
            (__half *)out, (const __half *)gx, (const __half *)gh, (const __half *)c, batch,
            hidden);
    PL_CUDA_CHECK_LAUNCH("lstm_cell");
    return PL_OK;
}
