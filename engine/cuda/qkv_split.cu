/* qkv_split.cu - fused QKV GEMM output -> per-head Q, K, V (+ bias), and the
 * inverse layout change for the attention context (merge heads).
 *
 * Both kernels walk the [tokens, columns] side in order so that reads
 * (split) or writes (merge) are coalesced; the other side moves in runs of
 * head_dim contiguous elements. */
#include "cuda_impl.h"

/* One block per token (grid-stride): the token's batch and position are
 * computed once, the column split uses 32-bit arithmetic (3*hidden fits an
 * int; checked at launch). Reads are coalesced along the token's row; writes
 * go out in runs of head_dim. */
template <typename T>
__global__ void qkv_split_kernel(T *out, const T *qkv, const T *bias, int64_t tokens, int64_t seq,
                                 int heads, int hd) {
    const int hidden = heads * hd, w = 3 * hidden;
    const int64_t part = tokens * hidden; /* elements of each of Q, K, V */
    for (int64_t t = blockIdx.x; t < tokens; t += gridDim.x) {
        const int64_t b = t / seq, s = t - b * seq;
        const T *src = qkv + t * w;
        T *base = out + (b * heads * seq + s) * hd; /* head 0 of Q for this token */
        for (int c = threadIdx.x; c < w; c += blockDim.x) {
            const int which = c / hidden, cc = c - which * hidden;
            const int h = cc / hd, d = cc - h * hd;
            float v = pl__tof(src[c]);
            if (bias) v += pl__tof(bias[c]);
            base[which * part + (int64_t)h * seq * hd + d] = pl__fromf<T>(v);
        }
    }
}

template <typename T>
__global__ void merge_heads_kernel(T *out, const T *in, int64_t tokens, int64_t seq, int heads,
                                   int hd) {
    const int hidden = heads * hd;
    for (int64_t t = blockIdx.x; t < tokens; t += gridDim.x) {
        const int64_t b = t / seq, s = t - b * seq;
        const T *base = in + (b * heads * seq + s) * hd;
        T *dst = out + t * hidden;
        for (int c = threadIdx.x; c < hidden; c += blockDim.x) {
            const int h = c / hd, d = c - h * hd;
            dst[c] = base[(int64_t)h * seq * hd + d];
        }
    }
}

static unsigned token_grid(int64_t tokens, int sm_count) {
    const int64_t cap = (int64_t)(sm_count > 0 ? sm_count : 80) * 16;
    return (unsigned)(tokens < cap ? tokens : cap);
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
    if (hidden > INT_MAX / 3)
        return PL_ERR(PL_E_INVALID_ARG, "cuda %s: hidden %lld too large", op, (long long)hidden);
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
    const unsigned grid = token_grid(tokens, ctx->sm_count);
    if (dt == PL_CUDA_F32)
        qkv_split_kernel<float><<<grid, 256, 0, ctx->stream>>>(
            (float *)out, (const float *)qkv, (const float *)bias, tokens, seq, (int)heads,
            (int)head_dim);
    else
        qkv_split_kernel<__half><<<grid, 256, 0, ctx->stream>>>(
            (__half *)out, (const __half *)qkv, (const __half *)bias, tokens, seq, (int)heads,
            (int)head_dim);
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
    const unsigned grid = token_grid(tokens, ctx->sm_count);
    if (dt == PL_CUDA_F32)
        merge_heads_kernel<float><<<grid, 256, 0, ctx->stream>>>(
            (float *)out, (const float *)in, tokens, seq, (int)heads, (int)head_dim);
    else
        merge_heads_kernel<__half><<<grid, 256, 0, ctx->stream>>>(
            (__half *)out, (const __half *)in, tokens, seq, (int)heads, (int)head_dim);
    PL_CUDA_CHECK_LAUNCH("merge_heads");
    return PL_OK;
}
