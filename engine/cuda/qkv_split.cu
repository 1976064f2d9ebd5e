/* qkv_split.cu - fused QKV GEMM output -> per-head Q, K, V (+ bias), and the
 * inverse layout change for the attention context (merge heads).
 *
 * Both kernels walk the [tokens, columns] side in order so that reads
 * (split) or writes (merge) are coalesced; the other side moves in runs of
 * head_dim contiguous elements. */
#include "cuda_impl.h"

template <typename T>
__global__ void qkv_split_kernel(T *out, const T *qkv, const T *bias, int64_t tokens,
                                 int64_t seq, int64_t heads, int64_t hd) {
    const int64_t hidden = heads * hd, w = 3 * hidden, total = tokens * w;
    const int64_t part = tokens * hidden; /* elements of each of Q, K, V */
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (int64_t)gridDim.x * blockDim.x) {
        const int64_t t = i / w, c = i - t * w;
        const int64_t which = c / hidden, cc = c - which * hidden;
        const int64_t h = cc / hd, d = cc - h * hd;
        const int64_t b = t / seq, s = t - b * seq;
        float v = pl__tof(qkv[i]);
        if (bias) v += pl__tof(bias[c]);
        out[which * part + ((b * heads + h) * seq + s) * hd + d] = pl__fromf<T>(v);
    }
}

template <typename T>
__global__ void merge_heads_kernel(T *out, const T *in, int64_t tokens, int64_t seq,
                                   int64_t heads, int64_t hd) {
    const int64_t hidden = heads * hd, total = tokens * hidden;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (int64_t)gridDim.x * blockDim.x) {
        const int64_t t = i / hidden, cc = i - t * hidden;
        const int64_t h = cc / hd, d = cc - h * hd;
        const int64_t b = t / seq, s = t - b * seq;
        out[i] = in[((b * heads + h) * seq + s) * hd + d];
    }
}

static pl_status heads_check(int64_t batch, int64_t seq, int64_t heads, int64_t hd,
                             int64_t *tokens, const char *op) {
    int64_t hidden = 0, n = 0;
    PL_TRY(pl__cuda_check_dim(batch, INT_MAX, op, "batch"));
    PL_TRY(pl__cuda_check_dim(seq, INT_MAX, op, "seq"));
    PL_TRY(pl__cuda_check_dim(heads, INT_MAX, op, "heads"));
    PL_TRY(pl__cuda_check_dim(hd, INT_MAX, op, "head_dim"));
    PL_TRY(pl__cuda_mul(batch, seq, tokens, op));
    PL_TRY(pl__cuda_mul(heads, hd, &hidden, op));
    PL_TRY(pl__cuda_mul(*tokens, hidden, &n, op));
    PL_TRY(pl__cuda_mul(n, 3, &n, op));
    return PL_OK;
}

extern "C" pl_status pl_cuda_qkv_split(struct pl_cuda_ctx *ctx, enum pl_cuda_dtype dt, void *out,
                                       const void *qkv, const void *bias, int64_t batch,
                                       int64_t seq, int64_t heads, int64_t head_dim) {
    int64_t tokens = 0;
    PL_TRY(pl__cuda_enter(ctx, dt, "qkv_split"));
    PL_TRY(heads_check(batch, seq, heads, head_dim, &tokens, "qkv_split"));
    if (!out || !qkv) return PL_ERR(PL_E_INVALID_ARG, "cuda qkv_split: NULL in or out");
    if (out == qkv) return PL_ERR(PL_E_INVALID_ARG, "cuda qkv_split: out aliases qkv");
    const int64_t total = tokens * heads * head_dim * 3;
    const unsigned grid = pl__cuda_grid(total, 256, ctx->sm_count);
    if (dt == PL_CUDA_F32)
        qkv_split_kernel<float><<<grid, 256, 0, ctx->stream>>>(
            (float *)out, (const float *)qkv, (const float *)bias, tokens, seq, heads, head_dim);
    else
        qkv_split_kernel<__half><<<grid, 256, 0, ctx->stream>>>(
            (__half *)out, (const __half *)qkv, (const __half *)bias, tokens, seq, heads,
            head_dim);
    PL_CUDA_CHECK_LAUNCH("qkv_split");
    return PL_OK;
}

extern "C" pl_status pl_cuda_merge_heads(struct pl_cuda_ctx *ctx, enum pl_cuda_dtype dt,
                                         void *out, const void *in, int64_t batch, int64_t seq,
                                         int64_t heads, int64_t head_dim) {
    int64_t tokens = 0;
    PL_TRY(pl__cuda_enter(ctx, dt, "merge_heads"));
    PL_TRY(heads_check(batch, seq, heads, head_dim, &tokens, "merge_heads"));
    if (!out || !in) return PL_ERR(PL_E_INVALID_ARG, "cuda merge_heads: NULL in or out");
    if (out == in) return PL_ERR(PL_E_INVALID_ARG, "cuda merge_heads: out aliases in");
    const int64_t total = tokens * heads * head_dim;
    const unsigned grid = pl__cuda_grid(total, 256, ctx->sm_count);
    if (dt == PL_CUDA_F32)
        merge_heads_kernel<float><<<grid, 256, 0, ctx->stream>>>(
            (float *)out, (const float *)in, tokens, seq, heads, head_dim);
    else
        merge_heads_kernel<__half><<<grid, 256, 0, ctx->stream>>>(
            (__half *)out, (const __half *)in, tokens, seq, heads, head_dim);
    PL_CUDA_CHECK_LAUNCH("merge_heads");
    return PL_OK;
}
