/* encoder.cu - one post-LN BERT encoder layer from the fused kernels:
 * QKV GEMM -> attention (split + bias, scores, masked softmax, context,
 * merge) -> output GEMM -> bias + residual + LayerNorm -> FFN1 GEMM ->
 * bias + GELU -> FFN2 GEMM -> bias + residual + LayerNorm.
 * Scratch buffers come from the pool, so a warmed-up context runs a layer
 * without any cudaMalloc. */
#include "cuda_impl.h"

extern "C" pl_status pl_cuda_encoder_layer(struct pl_cuda_ctx *ctx, enum pl_cuda_dtype dt,
                                           const struct pl_cuda_layer_weights *w,
                                           const struct pl_cuda_layer_shape *sh, void *x,
                                           const int32_t *mask) {
    pl_status st = PL_OK;
    void *big = NULL, *attn = NULL;
    int64_t tokens = 0, nbig = 0, nh = 0, wide = 0;
    const size_t es = pl_cuda_dtype_size(dt);

    PL_TRY(pl__cuda_enter(ctx, dt, "encoder_layer"));
    if (!w || !sh || !x) return PL_ERR(PL_E_INVALID_ARG, "cuda encoder_layer: NULL argument");
    if (!w->qkv_w || !w->o_w || !w->ln1_g || !w->ln1_b || !w->ff1_w || !w->ff2_w || !w->ln2_g ||
        !w->ln2_b)
        return PL_ERR(PL_E_INVALID_ARG, "cuda encoder_layer: a weight pointer is NULL");
    PL_TRY(pl__cuda_check_dim(sh->hidden, INT_MAX, "encoder_layer", "hidden"));
    PL_TRY(pl__cuda_check_dim(sh->heads, sh->hidden, "encoder_layer", "heads"));
    PL_TRY(pl__cuda_check_dim(sh->ffn, INT_MAX, "encoder_layer", "ffn"));
    if (sh->hidden % sh->heads)
        return PL_ERR(PL_E_INVALID_ARG, "cuda encoder_layer: hidden %lld not divisible by %lld heads",
                      (long long)sh->hidden, (long long)sh->heads);
    PL_TRY(pl__cuda_check_dim(sh->batch, INT_MAX, "encoder_layer", "batch"));
    PL_TRY(pl__cuda_check_dim(sh->seq, INT_MAX, "encoder_layer", "seq"));
    PL_TRY(pl__cuda_mul(sh->batch, sh->seq, &tokens, "encoder_layer"));
    wide = 3 * sh->hidden > sh->ffn ? 3 * sh->hidden : sh->ffn;
    PL_TRY(pl__cuda_mul(tokens, wide, &nbig, "encoder_layer"));
    PL_TRY(pl__cuda_mul(tokens, sh->hidden, &nh, "encoder_layer"));

    const int64_t H = sh->hidden, hd = sh->hidden / sh->heads;
    const float scale = 1.0f / sqrtf((float)hd);
    PL_TRY_GOTO(st, pl_cuda_pool_alloc(ctx, (size_t)nbig * es, &big));
    PL_TRY_GOTO(st, pl_cuda_pool_alloc(ctx, (size_t)nh * es, &attn));

    /* attention block */
    PL_TRY_GOTO(st, pl_cuda_linear(ctx, dt, x, w->qkv_w, NULL, big, tokens, 3 * H, H,
                                   PL_CUDA_ACT_NONE));
    PL_TRY_GOTO(st, pl_cuda_attention(ctx, dt, attn, big, w->qkv_b, mask, sh->batch, sh->seq,
                                      sh->heads, hd, scale));
    PL_TRY_GOTO(st, pl_cuda_linear(ctx, dt, attn, w->o_w, NULL, big, tokens, H, H,
                                   PL_CUDA_ACT_NONE));
    PL_TRY_GOTO(st, pl_cuda_add_layernorm(ctx, dt, x, big, w->o_b, x, w->ln1_g, w->ln1_b, tokens,
                                          H, sh->eps));
    /* feed-forward block */
    PL_TRY_GOTO(st, pl_cuda_linear(ctx, dt, x, w->ff1_w, w->ff1_b, big, tokens, sh->ffn, H,
                                   sh->act));
    PL_TRY_GOTO(st, pl_cuda_linear(ctx, dt, big, w->ff2_w, NULL, attn, tokens, H, sh->ffn,
                                   PL_CUDA_ACT_NONE));
    PL_TRY_GOTO(st, pl_cuda_add_layernorm(ctx, dt, x, attn, w->ff2_b, x, w->ln2_g, w->ln2_b,
                                          tokens, H, sh->eps));
fail:
    pl_cuda_pool_free(ctx, attn);
    pl_cuda_pool_free(ctx, big);
    return st;
}
