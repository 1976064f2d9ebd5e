/* asr_net.cu - the ASR acoustic model's offline forward on the device
 * (pl_cuda_asr_*, pl_cuda.h; the network is engine/models/asr_model.h's).
 *
 * Host orchestration only: the kernels are asr_dwconv.cu, bias_act.cu,
 * asr_log_softmax.cu and cuBLAS (gemm.cu). A batch of utterances is laid out
 * [utterance][frame][channel] with every utterance padded to the longest at
 * each level (rows[i] = ceil(rows[i-1] / stride)); per-utterance lengths go
 * with it (lens[i][b], on the device) so each depthwise conv reads its own
 * utterance's zero padding, never a neighbour's frames or stale rows. The
 * pointwise GEMMs run over every padded row (cheap, and those rows are
 * always written before they are read), and only each utterance's valid
 * rows are copied back.
 *
 * Three activation buffers: x (layer input/output), d (depthwise output)
 * and r (a block's residual, later its output): per block r = res(x); each
 * sub-block d = dw(x), x = relu(pw(d)) except the last, which accumulates
 * onto r (GEMM beta = 1) and then r = relu(r + pb); x and r swap. */
#include <string.h>

#include "cuda_impl.h"
#include "models/asr_model.h"

#define ASR_MAX_FRAMES (1 << 20)
#define ASR_MAX_BATCH 4096
#define ASR_MAX_CH 65536

struct asr_conv {
    int cin, cout, k, s, d, left;
    float *dw, *pw, *pb; /* device, inside a->weights */
};

struct asr_block {
    int first, n, cin, c;
    float *rw, *rb;
};

struct pl_cuda_asr {
    struct pl_cuda_ctx *ctx;
    int n_mels, vocab, n_convs, n_blocks, dec_c, max_ch, tail;
    struct asr_conv *convs;
    struct asr_block *blocks;
    float *dec_w, *dec_b;
    float *weights; /* one device allocation for every weight */
};

static pl_status check_view(const struct pl_asr_model_view *v) {
    if (v->n_mels < 1 || v->n_mels > ASR_MAX_CH || v->vocab_size < 1 ||
        v->vocab_size > ASR_MAX_CH || v->n_convs < 2 || v->n_convs > 4096 || v->n_blocks < 0 ||
        v->n_blocks > v->n_convs - 2 || !v->convs || (v->n_blocks && !v->blocks) || !v->dec_w ||
        !v->dec_b)
        return PL_ERR(PL_E_INVALID_ARG,
                      "cuda asr: bad model view (n_mels %d, vocab %d, %d convs, %d blocks)",
                      v->n_mels, v->vocab_size, v->n_convs, v->n_blocks);
    int cin = v->n_mels;
    for (int i = 0; i < v->n_convs; i++) {
        const struct pl_asr_conv_view *c = &v->convs[i];
        if (c->cin != cin || c->cout < 1 || c->cout > ASR_MAX_CH || c->kernel < 1 ||
            c->kernel > 4096 || c->stride < 1 || c->stride > 4096 || c->dilation < 1 ||
            c->dilation > 4096 || c->left < 0 || c->right < 0 ||
            (int64_t)c->left + c->right != (int64_t)c->dilation * (c->kernel - 1) || !c->dw ||
            !c->pw || !c->pb)
            return PL_ERR(PL_E_INVALID_ARG,
                          "cuda asr: conv %d: cin %d (want %d), cout %d, kernel %d, stride %d, "
                          "dilation %d, left %d, right %d invalid",
                          i, c->cin, cin, c->cout, c->kernel, c->stride, c->dilation, c->left,
                          c->right);
        cin = c->cout;
    }
    if (v->dec_c != cin)
        return PL_ERR(PL_E_INVALID_ARG, "cuda asr: decoder takes %d channels, the encoder gives %d",
                      v->dec_c, cin);
    int next = 1;
    for (int i = 0; i < v->n_blocks; i++) {
        const struct pl_asr_block_view *b = &v->blocks[i];
        if (b->first != next || b->n < 1 || b->first + b->n > v->n_convs - 1 || !b->rw || !b->rb)
            return PL_ERR(PL_E_INVALID_ARG, "cuda asr: block %d covers convs %d..+%d (want %d..)",
                          i, b->first, b->n, next);
        if (b->cin != v->convs[b->first].cin || b->c != v->convs[b->first + b->n - 1].cout)
            return PL_ERR(PL_E_INVALID_ARG, "cuda asr: block %d channels %d -> %d do not match", i,
                          b->cin, b->c);
        for (int j = 0; j < b->n; j++)
            if (v->convs[b->first + j].stride != 1)
                return PL_ERR(PL_E_INVALID_ARG, "cuda asr: block %d has a strided conv", i);
        next = b->first + b->n;
    }
    if (next != v->n_convs - 1)
        return PL_ERR(PL_E_INVALID_ARG, "cuda asr: blocks end at conv %d, the epilogue is %d", next,
                      v->n_convs - 1);
    return PL_OK;
}

/* Elements of a weight region, rounded up to 64 floats (256 bytes). */
static int64_t region(int64_t n) { return (n + 63) / 64 * 64; }

extern "C" pl_status pl_cuda_asr_create(struct pl_cuda_ctx *ctx, const struct pl_asr_model_view *v,
                                        struct pl_cuda_asr **out) {
    pl_status st = PL_OK;
    struct pl_cuda_asr *a = NULL;
    int64_t total = 0, off = 0;
    float *base = NULL;
    if (!out) return PL_ERR(PL_E_INVALID_ARG, "cuda asr: out is NULL");
    *out = NULL;
    if (!v) return PL_ERR(PL_E_INVALID_ARG, "cuda asr: view is NULL");
    PL_TRY(pl__cuda_enter(ctx, PL_CUDA_F32, "asr_create"));
    PL_TRY(check_view(v));

    a = (struct pl_cuda_asr *)pl_calloc(1, sizeof *a);
    if (!a) return PL_ERR(PL_E_NOMEM, "cuda asr: out of memory");
    a->ctx = ctx;
    a->n_mels = v->n_mels;
    a->tail = v->tail_frames < 0 ? 0 : v->tail_frames;
    a->vocab = v->vocab_size;
    a->n_convs = v->n_convs;
    a->n_blocks = v->n_blocks;
    a->dec_c = v->dec_c;
    a->convs = (struct asr_conv *)pl_calloc((size_t)v->n_convs, sizeof *a->convs);
    a->blocks = (struct asr_block *)pl_calloc((size_t)v->n_blocks + 1, sizeof *a->blocks);
    if (!a->convs || !a->blocks) {
        st = PL_ERR(PL_E_NOMEM, "cuda asr: out of memory");
        goto fail;
    }
    a->max_ch = v->n_mels > v->vocab_size ? v->n_mels : v->vocab_size;
    for (int i = 0; i < v->n_convs; i++) {
        const struct pl_asr_conv_view *c = &v->convs[i];
        total += region((int64_t)c->kernel * c->cin) + region((int64_t)c->cout * c->cin) +
                 region(c->cout);
        if (c->cout > a->max_ch) a->max_ch = c->cout;
        if (c->cin > a->max_ch) a->max_ch = c->cin;
    }
    for (int i = 0; i < v->n_blocks; i++)
        total += region((int64_t)v->blocks[i].c * v->blocks[i].cin) + region(v->blocks[i].c);
    total += region((int64_t)v->vocab_size * v->dec_c) + region(v->vocab_size);
    PL_TRY_GOTO(st, pl_cuda_malloc(ctx, (size_t)total * sizeof(float), (void **)&a->weights));
    base = a->weights;

#define PUT(dst, src, count)                                                                       \
    do {                                                                                           \
        const int64_t pl__n = (count);                                                             \
        (dst) = base + off;                                                                        \
        PL_TRY_GOTO(st, pl_cuda_memcpy_h2d(ctx, (dst), (src), (size_t)pl__n * sizeof(float)));     \
        off += region(pl__n);                                                                      \
    } while (0)
    for (int i = 0; i < v->n_convs; i++) {
        const struct pl_asr_conv_view *c = &v->convs[i];
        struct asr_conv *g = &a->convs[i];
        g->cin = c->cin;
        g->cout = c->cout;
        g->k = c->kernel;
        g->s = c->stride;
        g->d = c->dilation;
        g->left = c->left;
        PUT(g->dw, c->dw, (int64_t)c->kernel * c->cin);
        PUT(g->pw, c->pw, (int64_t)c->cout * c->cin);
        PUT(g->pb, c->pb, c->cout);
    }
    for (int i = 0; i < v->n_blocks; i++) {
        const struct pl_asr_block_view *b = &v->blocks[i];
        struct asr_block *g = &a->blocks[i];
        g->first = b->first;
        g->n = b->n;
        g->cin = b->cin;
        g->c = b->c;
        PUT(g->rw, b->rw, (int64_t)b->c * b->cin);
        PUT(g->rb, b->rb, b->c);
    }
    PUT(a->dec_w, v->dec_w, (int64_t)v->vocab_size * v->dec_c);
    PUT(a->dec_b, v->dec_b, v->vocab_size);
#undef PUT
    if (off != total) {
        st = PL_ERR(PL_E_INTERNAL, "cuda asr: weights fill %lld of %lld floats", (long long)off,
                    (long long)total);
        goto fail;
    }
    PL_TRY_GOTO(st, pl_cuda_ctx_sync(ctx));
    PL_LOGD("cuda asr: %d convs, %d blocks, %.1f MB of weights on %s", a->n_convs, a->n_blocks,
            (double)total * 4 / 1e6, pl_cuda_ctx_device_name(ctx));
    *out = a;
    return PL_OK;
fail:
    pl_cuda_asr_destroy(a);
    return st;
}

extern "C" void pl_cuda_asr_destroy(struct pl_cuda_asr *a) {
    if (!a) return;
    if (a->weights) pl_cuda_free(a->ctx, a->weights);
    pl_free(a->convs);
    pl_free(a->blocks);
    pl_free(a);
}

extern "C" int pl_cuda_asr_n_out(const struct pl_cuda_asr *a, int n_frames) {
    if (!a || n_frames <= 0) return 0;
    int n = n_frames + a->tail;
    for (int i = 0; i < a->n_convs; i++) n = (n + a->convs[i].s - 1) / a->convs[i].s;
    return n;
}

/* Separable conv i: d = dw(x) at level i -> i+1, then y = pw(d) + pb with act
 * (y = x: the GEMM writes the next level into x's buffer). */
static pl_status run_conv(struct pl_cuda_asr *a, int i, int n, const int64_t *rows,
                          const int32_t *d_len, float *x, float *d, float *y,
                          enum pl_cuda_act act) {
    const struct asr_conv *c = &a->convs[i];
    PL_TRY(pl_cuda_asr_dwconv(a->ctx, PL_CUDA_F32, d, x, c->dw, d_len + (int64_t)i * n, n, rows[i],
                              rows[i + 1], c->cin, c->k, c->s, c->d, c->left));
    return pl_cuda_linear(a->ctx, PL_CUDA_F32, d, c->pw, c->pb, y, n * rows[i + 1], c->cout, c->cin,
                          act);
}

extern "C" pl_status pl_cuda_asr_forward(struct pl_cuda_asr *a, int n, const float *const *feats,
                                         const int *n_frames, float *const *out, int *n_out) {
    pl_status st = PL_OK;
    int64_t *rows = NULL;
    int32_t *lens = NULL, *d_len = NULL;
    float *bx = NULL, *bd = NULL, *br = NULL, *x, *d, *r;
    int64_t elems = 0, tmax = 0;
    size_t nb = 0;
    int L = 0, V = 0;

    if (!a || !feats || !n_frames || !out)
        return PL_ERR(PL_E_INVALID_ARG, "cuda asr forward: NULL argument");
    if (n < 1 || n > ASR_MAX_BATCH)
        return PL_ERR(PL_E_INVALID_ARG, "cuda asr forward: %d utterances outside 1..%d", n,
                      ASR_MAX_BATCH);
    for (int b = 0; b < n; b++) {
        if (n_out) n_out[b] = 0;
        if (n_frames[b] < 0 || n_frames[b] > ASR_MAX_FRAMES || (n_frames[b] && !feats[b]) ||
            !out[b])
            return PL_ERR(PL_E_INVALID_ARG,
                          "cuda asr forward: utterance %d: %d frames (0..%d) or NULL data", b,
                          n_frames[b], ASR_MAX_FRAMES);
        if (n_frames[b] > tmax) tmax = n_frames[b];
    }
    if (tmax == 0) return PL_OK;
    tmax += a->tail; /* every utterance with frames is followed by a->tail zero frames */
    PL_TRY(pl__cuda_enter(a->ctx, PL_CUDA_F32, "asr_forward"));
    L = a->n_convs;
    V = a->vocab;
    /* rows are largest at level 0 (strides only shrink them) */
    PL_TRY(pl__cuda_mul(tmax * n, a->max_ch, &elems, "asr_forward"));
    if (elems > INT_MAX)
        return PL_ERR(PL_E_INVALID_ARG,
                      "cuda asr forward: %d utterances x %lld frames x %d channels is too large "
                      "for one batch (split it)",
                      n, (long long)tmax, a->max_ch);

    rows = (int64_t *)pl_calloc((size_t)L + 1, sizeof *rows);
    lens = (int32_t *)pl_calloc(((size_t)L + 1) * (size_t)n, sizeof *lens);
    if (!rows || !lens) {
        st = PL_ERR(PL_E_NOMEM, "cuda asr forward: out of memory");
        goto fail;
    }
    rows[0] = tmax;
    for (int b = 0; b < n; b++) lens[b] = n_frames[b] ? n_frames[b] + a->tail : 0;
    for (int i = 0; i < L; i++) {
        const int s = a->convs[i].s;
        rows[i + 1] = (rows[i] + s - 1) / s;
        for (int b = 0; b < n; b++)
            lens[(size_t)(i + 1) * n + b] = (lens[(size_t)i * n + b] + s - 1) / s;
    }

    nb = (size_t)elems * sizeof(float);
    PL_TRY_GOTO(st, pl_cuda_pool_alloc(a->ctx, nb, (void **)&bx));
    PL_TRY_GOTO(st, pl_cuda_pool_alloc(a->ctx, nb, (void **)&bd));
    PL_TRY_GOTO(st, pl_cuda_pool_alloc(a->ctx, nb, (void **)&br));
    PL_TRY_GOTO(st, pl_cuda_pool_alloc(a->ctx, ((size_t)L + 1) * (size_t)n * sizeof(int32_t),
                                       (void **)&d_len));
    PL_TRY_GOTO(
        st, pl_cuda_memcpy_h2d(a->ctx, d_len, lens, ((size_t)L + 1) * (size_t)n * sizeof(int32_t)));
    for (int b = 0; b < n; b++) {
        if (!n_frames[b]) continue;
        float *dst = bx + (size_t)b * tmax * a->n_mels;
        PL_TRY_GOTO(st, pl_cuda_memcpy_h2d(a->ctx, dst, feats[b],
                                           (size_t)n_frames[b] * a->n_mels * sizeof(float)));
        if (a->tail)
            PL_TRY_GOTO(st, pl_cuda_memset(a->ctx, dst + (size_t)n_frames[b] * a->n_mels, 0,
                                           (size_t)a->tail * a->n_mels * sizeof(float)));
    }

    x = bx;
    d = bd;
    r = br;
    PL_TRY_GOTO(st, run_conv(a, 0, n, rows, d_len, x, d, x, PL_CUDA_ACT_RELU));
    for (int bi = 0; bi < a->n_blocks; bi++) {
        const struct asr_block *blk = &a->blocks[bi];
        const int64_t m = n * rows[blk->first];
        /* r = residual of the block's input */
        PL_TRY_GOTO(st, pl_cuda_linear(a->ctx, PL_CUDA_F32, x, blk->rw, blk->rb, r, m, blk->c,
                                       blk->cin, PL_CUDA_ACT_NONE));
        for (int j = 0; j < blk->n; j++) {
            const int i = blk->first + j;
            if (j < blk->n - 1) {
                PL_TRY_GOTO(st, run_conv(a, i, n, rows, d_len, x, d, x, PL_CUDA_ACT_RELU));
                continue;
            }
            const struct asr_conv *c = &a->convs[i];
            PL_TRY_GOTO(st, pl_cuda_asr_dwconv(a->ctx, PL_CUDA_F32, d, x, c->dw,
                                               d_len + (int64_t)i * n, n, rows[i], rows[i + 1],
                                               c->cin, c->k, c->s, c->d, c->left));
            struct pl_cuda_gemm g;
            memset(&g, 0, sizeof g);
            g.ab_type = PL_CUDA_F32;
            g.c_type = PL_CUDA_F32;
            g.trans_b = true;
            g.m = m;
            g.n = c->cout;
            g.k = c->cin;
            g.batch = 1;
            g.alpha = 1.0f;
            g.beta = 1.0f; /* onto the residual */
            g.a = d;
            g.lda = c->cin;
            g.b = c->pw;
            g.ldb = c->cin;
            g.c = r;
            g.ldc = c->cout;
            PL_TRY_GOTO(st, pl_cuda_gemm(a->ctx, &g));
            PL_TRY_GOTO(
                st, pl_cuda_bias_act(a->ctx, PL_CUDA_F32, r, c->pb, m, c->cout, PL_CUDA_ACT_RELU));
            float *t = x;
            x = r;
            r = t;
        }
    }
    PL_TRY_GOTO(st, run_conv(a, L - 1, n, rows, d_len, x, d, x, PL_CUDA_ACT_RELU));
    PL_TRY_GOTO(st, pl_cuda_linear(a->ctx, PL_CUDA_F32, x, a->dec_w, a->dec_b, d, n * rows[L], V,
                                   a->dec_c, PL_CUDA_ACT_NONE));
    PL_TRY_GOTO(st, pl_cuda_log_softmax(a->ctx, PL_CUDA_F32, d, d, n * rows[L], V));
    for (int b = 0; b < n; b++) {
        const int32_t k = lens[(size_t)L * n + b];
        if (k > 0)
            PL_TRY_GOTO(st, pl_cuda_memcpy_d2h(a->ctx, out[b], d + (size_t)b * rows[L] * V,
                                               (size_t)k * V * sizeof(float)));
        if (n_out) n_out[b] = k;
    }
    PL_TRY_GOTO(st, pl_cuda_ctx_sync(a->ctx));
fail:
    pl_cuda_pool_free(a->ctx, bx);
    pl_cuda_pool_free(a->ctx, bd);
    pl_cuda_pool_free(a->ctx, br);
    pl_cuda_pool_free(a->ctx, d_len);
    pl_free(rows);
    pl_free(lens);
    if (st != PL_OK && n_out)
        for (int b = 0; b < n; b++) n_out[b] = 0;
    return st;
}
