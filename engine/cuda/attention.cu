/* attention.cu - multi-head self-attention core: split QKV into heads,
 * scores = Q K^T * scale (strided-batched GEMM over batch*heads), masked
 * softmax, context = P V (second strided-batched GEMM), merge heads.
 *
 * Scratch: Q|K|V per head (3 * tokens * hidden) and the scores
 * (batch*heads*seq*seq), both from the pool. The context is written over Q,
 * which the scores GEMM has consumed by then (same stream, in order). */
#include "cuda_impl.h"

extern "C" pl_status pl_cuda_attention(struct pl_cuda_ctx *ctx, enum pl_cuda_dtype dt, void *out,
                                       const void *qkv, const void *qkv_bias,
                                       const int32_t *mask, int64_t batch, int64_t seq,
                                       int64_t heads, int64_t head_dim, float scale) {
    pl_status st = PL_OK;
    void *qkvh = NULL, *scores = NULL;
    int64_t tokens = 0, hidden = 0, part = 0, bh = 0, ss = 0, n_scores = 0;
    const size_t es = pl_cuda_dtype_size(dt);

    PL_TRY(pl__cuda_enter(ctx, dt, "attention"));
    PL_TRY(pl__cuda_check_dim(batch, INT_MAX, "attention", "batch"));
    PL_TRY(pl__cuda_check_dim(seq, INT_MAX, "attention", "seq"));
    PL_TRY(pl__cuda_check_dim(heads, INT_MAX, "attention", "heads"));
    PL_TRY(pl__cuda_check_dim(head_dim, INT_MAX, "attention", "head_dim"));
    if (!out || !qkv) return PL_ERR(PL_E_INVALID_ARG, "cuda attention: NULL qkv or out");
    if (out == qkv) return PL_ERR(PL_E_INVALID_ARG, "cuda attention: out aliases qkv");
    if (scale != scale) return PL_ERR(PL_E_INVALID_ARG, "cuda attention: scale is NaN");
    PL_TRY(pl__cuda_mul(batch, seq, &tokens, "attention"));
    PL_TRY(pl__cuda_mul(heads, head_dim, &hidden, "attention"));
    PL_TRY(pl__cuda_mul(tokens, hidden, &part, "attention"));
    PL_TRY(pl__cuda_mul(batch, heads, &bh, "attention"));
    PL_TRY(pl__cuda_mul(seq, seq, &ss, "attention"));
    PL_TRY(pl__cuda_mul(bh, ss, &n_scores, "attention"));
    PL_TRY(pl__cuda_check_dim(bh, INT_MAX, "attention", "batch*heads"));

    PL_TRY_GOTO(st, pl_cuda_pool_alloc(ctx, (size_t)part * 3 * es, &qkvh));
    PL_TRY_GOTO(st, pl_cuda_pool_alloc(ctx, (size_t)n_scores * es, &scores));
    PL_TRY_GOTO(st, pl_cuda_qkv_split(ctx, dt, qkvh, qkv, qkv_bias, batch, seq, heads, head_dim));
    {
        char *q = (char *)qkvh, *k = q + (size_t)part * es, *v = k + (size_t)part * es;
        struct pl_cuda_gemm g = {};
        g.ab_type = dt;
        g.c_type = dt;
        g.batch = bh;
        /* scores[S,S] = scale * Q[S,D] K[S,D]^T per (batch, head) */
        g.trans_a = false;
        g.trans_b = true;
        g.m = seq;
        g.n = seq;
        g.k = head_dim;
        g.alpha = scale;
        g.beta = 0.0f;
        g.a = q;
        g.lda = head_dim;
        g.stride_a = seq * head_dim;
        g.b = k;
        g.ldb = head_dim;
        g.stride_b = seq * head_dim;
        g.c = scores;
        g.ldc = seq;
        g.stride_c = ss;
        PL_TRY_GOTO(st, pl_cuda_gemm(ctx, &g));
        PL_TRY_GOTO(st, pl_cuda_softmax(ctx, dt, scores, scores, mask, heads * seq, bh * seq,
                                        seq, 1.0f));
        /* context[S,D] = P[S,S] V[S,D], written over Q */
        g.trans_b = false;
        g.m = seq;
        g.n = head_dim;
        g.k = seq;
        g.alpha = 1.0f;
        g.a = scores;
        g.lda = seq;
        g.stride_a = ss;
        g.b = v;
        g.ldb = head_dim;
        g.stride_b = seq * head_dim;
        g.c = q;
        g.ldc = head_dim;
        g.stride_c = seq * head_dim;
        PL_TRY_GOTO(st, pl_cuda_gemm(ctx, &g));
        PL_TRY_GOTO(st, pl_cuda_merge_heads(ctx, dt, out, q, batch, seq, heads, head_dim));
    }
fail:
    pl_cuda_pool_free(ctx, scores);
    pl_cuda_pool_free(ctx, qkvh);
    return st;
}
