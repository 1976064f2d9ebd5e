/* log_softmax.cu - row-wise log-softmax (PL_OP_LOG_SOFTMAX; the CTC output
 * over the vocabulary): out[r,j] = in[r,j] - max_r - log(sum_j exp(in[r,j] - max_r)).
 *
 * One block per row (grid-stride over rows), f32 max and sum through the
 * shared block reductions; expf/logf (not the fast intrinsics) so results
 * stay within 1e-6 of the CPU's double-sum form. out may alias in: the last
 * pass writes each element from the thread that read it. */
#include "cuda_impl.h"

template <typename T>
__global__ void log_softmax_kernel(T *out, const T *in, int64_t rows, int64_t n) {
    __shared__ float sh[32];
    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const T *ir = in + r * n;
        T *orow = out + r * n;
        float mx = -INFINITY;
        for (int64_t j = threadIdx.x; j < n; j += blockDim.x) mx = fmaxf(mx, pl__tof(ir[j]));
        mx = pl__block_max(mx, sh);
        float s = 0.0f;
        for (int64_t j = threadIdx.x; j < n; j += blockDim.x) s += expf(pl__tof(ir[j]) - mx);
        s = pl__block_sum(s, sh);
        const float lse = mx + logf(s);
        for (int64_t j = threadIdx.x; j < n; j += blockDim.x)
            orow[j] = pl__fromf<T>(pl__tof(ir[j]) - lse);
    }
}

extern "C" pl_status pl_cuda_log_softmax(struct pl_cuda_ctx *ctx, enum pl_cuda_dtype dt, void *out,
                                         const void *in, int64_t rows, int64_t n) {
    int64_t total = 0;
    PL_TRY(pl__cuda_enter(ctx, dt, "log_softmax"));
    PL_TRY(pl__cuda_check_dim(rows, INT64_MAX / 16, "log_softmax", "rows"));
    PL_TRY(pl__cuda_check_dim(n, INT_MAX, "log_softmax", "n"));
    PL_TRY(pl__cuda_mul(rows, n, &total, "log_softmax"));
    if (!out || !in) return PL_ERR(PL_E_INVALID_ARG, "cuda log_softmax: NULL in or out");
    const int threads = pl__cuda_row_threads(n);
    const unsigned grid = (unsigned)(rows < (1 << 30) ? rows : (1 << 30));
    if (dt == PL_CUDA_F32)
        log_softmax_kernel<float>
            <<<grid, threads, 0, ctx->stream>>>((float *)out, (const float *)in, rows, n);
    else
        log_softmax_kernel<__half>
            <<<grid, threads, 0, ctx->stream>>>((__half *)out, (const __half *)in, rows, n);
    PL_CUDA_CHECK_LAUNCH("log_softmax");
    return PL_OK;
}
