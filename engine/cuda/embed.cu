/* embed.cu - word + position + token-type embedding gather, then LayerNorm;
 * one block per token.
 *
 * Ids come from the device, so a bad id cannot be refused before launch: the
 * kernel reads row 0 instead (never out of bounds) and ORs a bit into the
 * context's error word, which pl_cuda_ctx_sync() turns into PL_E_INVALID_ARG. */
#include "cuda_impl.h"

template <typename T>
__device__ __forceinline__ float emb_in(const T *w, const T *p, const T *ty, int64_t c) {
    float v = pl__tof(w[c]) + pl__tof(p[c]);
    if (ty) v += pl__tof(ty[c]);
    return v;
}

template <typename T>
__global__ void embed_kernel(T *out, const int32_t *ids, const int32_t *type_ids,
                             const int32_t *mask, const T *word, const T *pos, const T *type,
                             const T *gamma, const T *beta, int64_t tokens, int64_t seq,
                             int64_t hidden, int64_t vocab, int64_t n_pos, int64_t n_types,
                             int32_t pos_offset, int32_t pad_pos, float eps, unsigned int *err) {
    __shared__ float sh[32];
    for (int64_t t = blockIdx.x; t < tokens; t += gridDim.x) {
        const int64_t s = t % seq;
        int64_t id = ids[t];
        if (id < 0 || id >= vocab) {
            if (threadIdx.x == 0) atomicOr(err, PL__CUDA_ERR_EMBED_ID);
            id = 0;
        }
        int64_t pid = (!mask || mask[t] != 0) ? (int64_t)pos_offset + s : (int64_t)pad_pos;
        if (pid < 0 || pid >= n_pos) {
            if (threadIdx.x == 0) atomicOr(err, PL__CUDA_ERR_EMBED_POS);
            pid = 0;
        }
        const T *ty = nullptr;
        if (type) {
            int64_t tt = type_ids ? type_ids[t] : 0;
            if (tt < 0 || tt >= n_types) {
                if (threadIdx.x == 0) atomicOr(err, PL__CUDA_ERR_EMBED_TYPE);
                tt = 0;
            }
            ty = type + tt * hidden;
        }
        const T *w = word + id * hidden, *p = pos + pid * hidden;
        T *o = out + t * hidden;
        float sum = 0.0f;
        for (int64_t c = threadIdx.x; c < hidden; c += blockDim.x) sum += emb_in(w, p, ty, c);
        const float mean = pl__block_sum(sum, sh) / (float)hidden;
        float q = 0.0f;
        for (int64_t c = threadIdx.x; c < hidden; c += blockDim.x) {
            const float d = emb_in(w, p, ty, c) - mean;
            q += d * d;
        }
        const float rstd = rsqrtf(pl__block_sum(q, sh) / (float)hidden + eps);
        for (int64_t c = threadIdx.x; c < hidden; c += blockDim.x) {
            const float v = (emb_in(w, p, ty, c) - mean) * rstd;
            o[c] = pl__fromf<T>(v * pl__tof(gamma[c]) + pl__tof(beta[c]));
        }
    }
}

extern "C" pl_status pl_cuda_embed(struct pl_cuda_ctx *ctx, enum pl_cuda_dtype dt, void *out,
                                   const struct pl_cuda_embed_args *a) {
    int64_t tokens = 0, n = 0;
    PL_TRY(pl__cuda_enter(ctx, dt, "embed"));
    if (!a || !out) return PL_ERR(PL_E_INVALID_ARG, "cuda embed: NULL args or out");
    PL_TRY(pl__cuda_check_dim(a->batch, INT_MAX, "embed", "batch"));
    PL_TRY(pl__cuda_check_dim(a->seq, INT_MAX, "embed", "seq"));
    PL_TRY(pl__cuda_check_dim(a->hidden, INT_MAX, "embed", "hidden"));
    PL_TRY(pl__cuda_check_dim(a->vocab, INT64_MAX / 16, "embed", "vocab"));
    PL_TRY(pl__cuda_check_dim(a->n_pos, INT64_MAX / 16, "embed", "n_pos"));
    PL_TRY(pl__cuda_mul(a->batch, a->seq, &tokens, "embed"));
    PL_TRY(pl__cuda_mul(tokens, a->hidden, &n, "embed"));
    PL_TRY(pl__cuda_mul(a->vocab, a->hidden, &n, "embed"));
    PL_TRY(pl__cuda_mul(a->n_pos, a->hidden, &n, "embed"));
    if (a->type) {
        PL_TRY(pl__cuda_check_dim(a->n_types, INT64_MAX / 16, "embed", "n_types"));
        PL_TRY(pl__cuda_mul(a->n_types, a->hidden, &n, "embed"));
    }
    if (!a->ids || !a->word || !a->pos || !a->gamma || !a->beta)
        return PL_ERR(PL_E_INVALID_ARG, "cuda embed: NULL ids, word, pos, gamma or beta");
    if (!(a->eps > 0.0f)) return PL_ERR(PL_E_INVALID_ARG, "cuda embed: eps must be > 0");

    const int threads = pl__cuda_row_threads(a->hidden);
    const unsigned grid = (unsigned)(tokens < (1 << 30) ? tokens : (1 << 30));
    if (dt == PL_CUDA_F32)
        embed_kernel<float><<<grid, threads, 0, ctx->stream>>>(
            (float *)out, a->ids, a->type_ids, a->mask, (const float *)a->word,
            (const float *)a->pos, (const float *)a->type, (const float *)a->gamma,
            (const float *)a->beta, tokens, a->seq, a->hidden, a->vocab, a->n_pos, a->n_types,
            a->pos_offset, a->pad_pos, a->eps, ctx->d_err);
    else
        embed_kernel<__half><<<grid, threads, 0, ctx->stream>>>(
            (__half *)out, a->ids, a->type_ids, a->mask, (const __half *)a->word,
            (const __half *)a->pos, (const __half *)a->type, (const __half *)a->gamma,
            (const __half *)a->beta, tokens, a->seq, a->hidden, a->vocab, a->n_pos, a->n_types,
            a->pos_offset, a->pad_pos, a->eps, ctx->d_err);
    PL_CUDA_CHECK_LAUNCH("embed");
    return PL_OK;
}
