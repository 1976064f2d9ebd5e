/*
 * bench_cuda.c - GPU benchmark of Parley's CUDA kernels.
 *
 *   bench_cuda [--quick]      (bench_cuda --probe: exit 0 with a device, 77 without)
 *
 * 1. GEMM TFLOP/s for the BERT-base shapes (tokens x N x K with tokens = 128
 *    and 4096 = 32 x 128) in f32, f32 with TF32 tensor cores, and f16, plus a
 *    4096^3 square, against the device's peak computed from its SM count and
 *    clock (Hopper: 256 f32 FLOP/clk/SM on CUDA cores, 2048 dense tf32 and
 *    4096 dense f16 FLOP/clk/SM on tensor cores).
 * 2. A BERT-base encoder stack (12 layers x 768, 12 heads, FFN 3072, random
 *    weights, each layer its own weights) at batch 1, 8, 32 x 128 tokens:
 *    latency per forward pass (median and p90 over timed passes, after warm-up).
 * 3. A per-kernel time breakdown of one layer at batch 32 x 128 (f32, f16).
 * Every result also prints as a line "RESULT <key> <value>" for scripts.
 * Exit status: 0 on success, 1 on a CUDA error, 77 when there is no device.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "pl_cuda.h"

#define CHECK(expr)                                                                                \
    do {                                                                                           \
        pl_status b__s = (expr);                                                                   \
        if (b__s != PL_OK) {                                                                       \
            fprintf(stderr, "bench_cuda: %s: %s: %s\n", #expr, pl_status_str(b__s),               \
                    pl_last_error());                                                              \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t rng = 88172645463325252ull;
static float frand(float r) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return r * (2.0f * (float)((rng >> 40) * (1.0 / 16777216.0)) - 1.0f);
}

/* Device buffer of n elements of dt filled with uniform values in [-r, r]
 * (or [1-r, 1+r] when around_one). */
static void *dev_random(struct pl_cuda_ctx *ctx, enum pl_cuda_dtype dt, int64_t n, float r,
                        int around_one) {
    float *h = pl_malloc((size_t)n * sizeof(float));
    void *d = NULL, *tmp = NULL;
    if (!h) {
        fprintf(stderr, "bench_cuda: out of host memory\n");
        exit(1);
    }
    for (int64_t i = 0; i < n; i++) h[i] = (around_one ? 1.0f : 0.0f) + frand(r);
    CHECK(pl_cuda_malloc(ctx, (size_t)n * pl_cuda_dtype_size(dt), &d));
    if (dt == PL_CUDA_F32) {
        CHECK(pl_cuda_memcpy_h2d(ctx, d, h, (size_t)n * 4));
    } else {
        CHECK(pl_cuda_malloc(ctx, (size_t)n * 4, &tmp));
        CHECK(pl_cuda_memcpy_h2d(ctx, tmp, h, (size_t)n * 4));
        CHECK(pl_cuda_f32_to_f16(ctx, d, tmp, n));
        CHECK(pl_cuda_ctx_sync(ctx));
        pl_cuda_free(ctx, tmp);
    }
    pl_free(h);
    return d;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* ---- GEMM ------------------------------------------------------------------- */

struct mode {
    const char *name;
    enum pl_cuda_dtype dt;
    int tf32;
    double flop_per_clk_sm; /* dense peak per SM per clock (Hopper) */
};

static void bench_gemm(struct pl_cuda_ctx *ctx, const struct mode *md, int64_t m, int64_t n,
                       int64_t k, double peak_tflops, int quick) {
    size_t es = pl_cuda_dtype_size(md->dt);
    void *a = dev_random(ctx, md->dt, m * k, 1.0f, 0);
    void *b = dev_random(ctx, md->dt, n * k, 1.0f, 0);
    void *c = NULL;
    CHECK(pl_cuda_malloc(ctx, (size_t)(m * n) * es, &c));
    pl_cuda_ctx_set_tf32(ctx, md->tf32);
    struct pl_cuda_gemm g = {.ab_type = md->dt, .c_type = md->dt, .trans_b = true, .m = m,
                             .n = n, .k = k, .batch = 1, .alpha = 1.0f, .a = a, .lda = k,
                             .b = b, .ldb = k, .c = c, .ldc = n};
    for (int i = 0; i < 3; i++) CHECK(pl_cuda_gemm(ctx, &g));
    CHECK(pl_cuda_ctx_sync(ctx));
    /* size the timed run to about 0.2 s (0.05 s quick) */
    double t0 = now_s();
    CHECK(pl_cuda_gemm(ctx, &g));
    CHECK(pl_cuda_ctx_sync(ctx));
    double one = now_s() - t0;
    int iters = (int)((quick ? 0.05 : 0.2) / (one > 1e-6 ? one : 1e-6));
    if (iters < 5) iters = 5;
    if (iters > 2000) iters = 2000;
    t0 = now_s();
    for (int i = 0; i < iters; i++) CHECK(pl_cuda_gemm(ctx, &g));
    CHECK(pl_cuda_ctx_sync(ctx));
    double t = (now_s() - t0) / iters;
    double tflops = 2.0 * (double)m * (double)n * (double)k / t / 1e12;
    printf("  gemm %-5s %5lld x %5lld x %5lld  %9.1f us  %7.1f TFLOP/s  %5.1f%% of peak\n",
           md->name, (long long)m, (long long)n, (long long)k, t * 1e6, tflops,
           peak_tflops > 0 ? 100.0 * tflops / peak_tflops : 0.0);
    printf("RESULT gemm_%s_%lldx%lldx%lld_tflops %.2f\n", md->name, (long long)m, (long long)n,
           (long long)k, tflops);
    pl_cuda_ctx_set_tf32(ctx, 0);
    pl_cuda_free(ctx, a);
    pl_cuda_free(ctx, b);
    pl_cuda_free(ctx, c);
}

/* ---- encoder stack ---------------------------------------------------------- */

#define N_LAYERS 12
#define HID 768
#define HEADS 12
#define FFN 3072

static void bench_encoder(struct pl_cuda_ctx *ctx, const struct mode *md, const int64_t *batches,
                          int n_batches, int64_t seq, int quick) {
    struct pl_cuda_layer_weights w[N_LAYERS];
    const float rh = 1.0f / sqrtf((float)HID), rf = 1.0f / sqrtf((float)FFN);
    pl_cuda_ctx_set_tf32(ctx, md->tf32);
    for (int l = 0; l < N_LAYERS; l++) {
        w[l].qkv_w = dev_random(ctx, md->dt, 3 * HID * HID, rh, 0);
        w[l].qkv_b = dev_random(ctx, md->dt, 3 * HID, 0.1f, 0);
        w[l].o_w = dev_random(ctx, md->dt, HID * HID, rh, 0);
        w[l].o_b = dev_random(ctx, md->dt, HID, 0.1f, 0);
        w[l].ln1_g = dev_random(ctx, md->dt, HID, 0.1f, 1);
        w[l].ln1_b = dev_random(ctx, md->dt, HID, 0.1f, 0);
        w[l].ff1_w = dev_random(ctx, md->dt, (int64_t)FFN * HID, rh, 0);
        w[l].ff1_b = dev_random(ctx, md->dt, FFN, 0.1f, 0);
        w[l].ff2_w = dev_random(ctx, md->dt, (int64_t)HID * FFN, rf, 0);
        w[l].ff2_b = dev_random(ctx, md->dt, HID, 0.1f, 0);
        w[l].ln2_g = dev_random(ctx, md->dt, HID, 0.1f, 1);
        w[l].ln2_b = dev_random(ctx, md->dt, HID, 0.1f, 0);
    }
    for (int bi = 0; bi < n_batches; bi++) {
        int64_t batch = batches[bi], tokens = batch * seq;
        struct pl_cuda_layer_shape sh = {.batch = batch, .seq = seq, .hidden = HID,
                                         .heads = HEADS, .ffn = FFN, .eps = 1e-12f,
                                         .act = PL_CUDA_ACT_GELU_ERF};
        int32_t *mask_h = pl_malloc((size_t)tokens * 4);
        void *mask = NULL;
        if (!mask_h) exit(1);
        for (int64_t i = 0; i < tokens; i++) mask_h[i] = 1;
        CHECK(pl_cuda_malloc(ctx, (size_t)tokens * 4, &mask));
        CHECK(pl_cuda_memcpy_h2d(ctx, mask, mask_h, (size_t)tokens * 4));
        void *x = dev_random(ctx, md->dt, tokens * HID, 1.0f, 0);
        struct pl_cuda_pool_stats p0, p1;
        const int warm = 3, runs = quick ? 5 : 30;
        double times[64];
        for (int r = 0; r < warm + runs; r++) {
            if (r == warm) pl_cuda_pool_stats(ctx, &p0);
            double t0 = now_s();
            for (int l = 0; l < N_LAYERS; l++)
                CHECK(pl_cuda_encoder_layer(ctx, md->dt, &w[l], &sh, x, mask));
            CHECK(pl_cuda_ctx_sync(ctx));
            if (r >= warm) times[r - warm] = (now_s() - t0) * 1e3;
        }
        pl_cuda_pool_stats(ctx, &p1);
        qsort(times, (size_t)runs, sizeof times[0], cmp_double);
        double med = times[runs / 2], p90 = times[(runs * 9) / 10 < runs ? (runs * 9) / 10 : runs - 1];
        /* FLOPs of the GEMMs alone: 2 * tokens * (4 H^2 + 2 H F) + attention 4 * B * S^2 * H */
        double flop = N_LAYERS * (2.0 * (double)tokens * (4.0 * HID * HID + 2.0 * HID * FFN) +
                                  4.0 * (double)batch * (double)seq * (double)seq * HID);
        printf("  encoder %-5s 12x768 batch %2lld x %lld: median %8.3f ms  p90 %8.3f ms  "
               "%9.0f tokens/s  %6.1f TFLOP/s  (pool mallocs while timed: %lld)\n",
               md->name, (long long)batch, (long long)seq, med, p90, (double)tokens / med * 1e3,
               flop / (med * 1e-3) / 1e12, (long long)(p1.device_mallocs - p0.device_mallocs));
        printf("RESULT encoder_%s_b%lld_s%lld_ms %.3f\n", md->name, (long long)batch,
               (long long)seq, med);
        /* the same forward pass captured once as a CUDA graph and replayed */
        struct pl_cuda_graph *gr = NULL;
        CHECK(pl_cuda_capture_begin(ctx));
        for (int l = 0; l < N_LAYERS; l++)
            CHECK(pl_cuda_encoder_layer(ctx, md->dt, &w[l], &sh, x, mask));
        CHECK(pl_cuda_capture_end(ctx, &gr));
        for (int r = 0; r < warm + runs; r++) {
            double t0 = now_s();
            CHECK(pl_cuda_graph_launch(gr));
            CHECK(pl_cuda_ctx_sync(ctx));
            if (r >= warm) times[r - warm] = (now_s() - t0) * 1e3;
        }
        qsort(times, (size_t)runs, sizeof times[0], cmp_double);
        printf("  encoder %-5s 12x768 batch %2lld x %lld as a CUDA graph: median %8.3f ms\n",
               md->name, (long long)batch, (long long)seq, times[runs / 2]);
        printf("RESULT encoder_graph_%s_b%lld_s%lld_ms %.3f\n", md->name, (long long)batch,
               (long long)seq, times[runs / 2]);
        pl_cuda_graph_destroy(gr);
        pl_cuda_free(ctx, x);
        pl_cuda_free(ctx, mask);
        pl_free(mask_h);
    }
    pl_cuda_pool_trim(ctx);
    for (int l = 0; l < N_LAYERS; l++) {
        const void *ptrs[12] = {w[l].qkv_w, w[l].qkv_b, w[l].o_w,   w[l].o_b,   w[l].ln1_g, w[l].ln1_b,
                                w[l].ff1_w, w[l].ff1_b, w[l].ff2_w, w[l].ff2_b, w[l].ln2_g, w[l].ln2_b};
        for (int i = 0; i < 12; i++) pl_cuda_free(ctx, (void *)ptrs[i]);
    }
    pl_cuda_ctx_set_tf32(ctx, 0);
}

/* ---- one layer, kernel by kernel ---------------------------------------------- */

typedef pl_status (*step_fn)(struct pl_cuda_ctx *ctx, void *arg);

struct bd {
    enum pl_cuda_dtype dt;
    int64_t batch, seq;
    void *x, *qkv, *qkvh, *scores, *attn, *big, *out, *mask;
    void *wqkv, *bqkv, *wo, *bo, *g, *b, *w1, *b1, *w2, *b2;
    struct pl_cuda_gemm gemm;
};

static pl_status st_gemm(struct pl_cuda_ctx *ctx, void *a) {
    return pl_cuda_gemm(ctx, &((struct bd *)a)->gemm);
}

static double time_step(struct pl_cuda_ctx *ctx, step_fn fn, void *arg, int iters) {
    for (int i = 0; i < 3; i++) CHECK(fn(ctx, arg));
    CHECK(pl_cuda_ctx_sync(ctx));
    double t0 = now_s();
    for (int i = 0; i < iters; i++) CHECK(fn(ctx, arg));
    CHECK(pl_cuda_ctx_sync(ctx));
    return (now_s() - t0) / iters * 1e6;
}

#define BD_STEP(name, body)                                                                        \
    static pl_status name(struct pl_cuda_ctx *ctx, void *a_) {                                     \
        struct bd *a = a_;                                                                         \
        const int64_t T = a->batch * a->seq;                                                       \
        (void)T;                                                                                   \
        return body;                                                                               \
    }
BD_STEP(st_split, pl_cuda_qkv_split(ctx, a->dt, a->qkvh, a->qkv, a->bqkv, a->batch, a->seq, HEADS,
                                    HID / HEADS))
BD_STEP(st_softmax, pl_cuda_softmax(ctx, a->dt, a->scores, a->scores, a->mask, HEADS * a->seq,
                                    a->batch * HEADS * a->seq, a->seq, 1.0f))
BD_STEP(st_merge, pl_cuda_merge_heads(ctx, a->dt, a->attn, a->qkvh, a->batch, a->seq, HEADS,
                                      HID / HEADS))
BD_STEP(st_attention, pl_cuda_attention(ctx, a->dt, a->attn, a->qkv, a->bqkv, a->mask, a->batch,
                                        a->seq, HEADS, HID / HEADS, 0.125f))
BD_STEP(st_ln, pl_cuda_add_layernorm(ctx, a->dt, a->out, a->big, a->bo, a->x, a->g, a->b, T, HID,
                                     1e-12f))
BD_STEP(st_gelu, pl_cuda_bias_act(ctx, a->dt, a->big, a->b1, T, FFN, PL_CUDA_ACT_GELU_ERF))

static void set_gemm(struct bd *a, int64_t batch, int tb, int64_t m, int64_t n, int64_t k,
                     const void *A, int64_t lda, int64_t sa, const void *B, int64_t ldb,
                     int64_t sb, void *C, int64_t ldc, int64_t sc) {
    struct pl_cuda_gemm g = {.ab_type = a->dt, .c_type = a->dt, .trans_b = tb, .m = m, .n = n,
                             .k = k, .batch = batch, .alpha = 1.0f, .a = A, .lda = lda,
                             .stride_a = sa, .b = B, .ldb = ldb, .stride_b = sb, .c = C,
                             .ldc = ldc, .stride_c = sc};
    a->gemm = g;
}

static void bench_breakdown(struct pl_cuda_ctx *ctx, const struct mode *md, int64_t batch,
                            int64_t seq) {
    struct bd a = {.dt = md->dt, .batch = batch, .seq = seq};
    const int64_t T = batch * seq, S = seq, D = HID / HEADS, BH = batch * HEADS;
    const int it = 50;
    int32_t *mh = pl_malloc((size_t)T * 4);
    if (!mh) exit(1);
    for (int64_t i = 0; i < T; i++) mh[i] = 1;
    pl_cuda_ctx_set_tf32(ctx, md->tf32);
    a.x = dev_random(ctx, md->dt, T * HID, 1, 0);
    a.qkv = dev_random(ctx, md->dt, T * 3 * HID, 1, 0);
    a.qkvh = dev_random(ctx, md->dt, T * 3 * HID, 1, 0);
    a.scores = dev_random(ctx, md->dt, BH * S * S, 1, 0);
    a.attn = dev_random(ctx, md->dt, T * HID, 1, 0);
    a.big = dev_random(ctx, md->dt, T * FFN, 1, 0);
    a.out = dev_random(ctx, md->dt, T * HID, 1, 0);
    a.wqkv = dev_random(ctx, md->dt, 3 * HID * HID, 0.03f, 0);
    a.bqkv = dev_random(ctx, md->dt, 3 * HID, 0.1f, 0);
    a.wo = dev_random(ctx, md->dt, HID * HID, 0.03f, 0);
    a.bo = dev_random(ctx, md->dt, HID, 0.1f, 0);
    a.g = dev_random(ctx, md->dt, HID, 0.1f, 1);
    a.b = dev_random(ctx, md->dt, HID, 0.1f, 0);
    a.w1 = dev_random(ctx, md->dt, (int64_t)FFN * HID, 0.03f, 0);
    a.b1 = dev_random(ctx, md->dt, FFN, 0.1f, 0);
    a.w2 = dev_random(ctx, md->dt, (int64_t)HID * FFN, 0.02f, 0);
    a.b2 = dev_random(ctx, md->dt, HID, 0.1f, 0);
    CHECK(pl_cuda_malloc(ctx, (size_t)T * 4, &a.mask));
    CHECK(pl_cuda_memcpy_h2d(ctx, a.mask, mh, (size_t)T * 4));
    char *q = a.qkvh, *k = q + (size_t)T * HID * pl_cuda_dtype_size(md->dt),
         *v = k + (size_t)T * HID * pl_cuda_dtype_size(md->dt);
    double t[12], total = 0;
    const char *names[12] = {"qkv gemm", "qkv split+bias", "scores gemm (batched)",
                             "masked softmax", "context gemm (batched)", "merge heads",
                             "attention (split..merge)", "out-proj gemm", "bias+res+layernorm",
                             "ffn1 gemm", "bias+gelu", "ffn2 gemm"};
    set_gemm(&a, 1, 1, T, 3 * HID, HID, a.x, HID, 0, a.wqkv, HID, 0, a.qkv, 3 * HID, 0);
    t[0] = time_step(ctx, st_gemm, &a, it);
    t[1] = time_step(ctx, st_split, &a, it);
    set_gemm(&a, BH, 1, S, S, D, q, D, S * D, k, D, S * D, a.scores, S, S * S);
    t[2] = time_step(ctx, st_gemm, &a, it);
    t[3] = time_step(ctx, st_softmax, &a, it);
    set_gemm(&a, BH, 0, S, D, S, a.scores, S, S * S, v, D, S * D, q, D, S * D);
    t[4] = time_step(ctx, st_gemm, &a, it);
    t[5] = time_step(ctx, st_merge, &a, it);
    t[6] = time_step(ctx, st_attention, &a, it);
    set_gemm(&a, 1, 1, T, HID, HID, a.attn, HID, 0, a.wo, HID, 0, a.big, HID, 0);
    t[7] = time_step(ctx, st_gemm, &a, it);
    t[8] = time_step(ctx, st_ln, &a, it);
    set_gemm(&a, 1, 1, T, FFN, HID, a.out, HID, 0, a.w1, HID, 0, a.big, FFN, 0);
    t[9] = time_step(ctx, st_gemm, &a, it);
    t[10] = time_step(ctx, st_gelu, &a, it);
    set_gemm(&a, 1, 1, T, HID, FFN, a.big, FFN, 0, a.w2, FFN, 0, a.out, HID, 0);
    t[11] = time_step(ctx, st_gemm, &a, it);
    printf("  one layer, %s, batch %lld x %lld, microseconds per kernel:\n", md->name,
           (long long)batch, (long long)seq);
    for (int i = 0; i < 12; i++) {
        if (i != 6) printf("    %-26s %9.1f\n", names[i], t[i]);
        printf("RESULT layer_%s_b%lld_%d_us %.1f\n", md->name, (long long)batch, i, t[i]);
    }
    total = t[0] + t[6] + t[7] + t[8] * 2 + t[9] + t[10] + t[11];
    printf("    %-26s %9.1f (split..merge as one call)\n", names[6], t[6]);
    printf("    %-26s %9.1f (x12 layers = %.2f ms)\n", "layer total", total, total * 12 / 1e3);
    void *ptrs[] = {a.x, a.qkv, a.qkvh, a.scores, a.attn, a.big, a.out, a.wqkv, a.bqkv, a.wo,
                    a.bo, a.g, a.b, a.w1, a.b1, a.w2, a.b2, a.mask};
    for (size_t i = 0; i < sizeof ptrs / sizeof ptrs[0]; i++) pl_cuda_free(ctx, ptrs[i]);
    pl_free(mh);
    pl_cuda_pool_trim(ctx);
    pl_cuda_ctx_set_tf32(ctx, 0);
}

int main(int argc, char **argv) {
    int quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
    int probe = argc > 1 && strcmp(argv[1], "--probe") == 0;
    int n = 0;
    struct pl_cuda_ctx *ctx = NULL;

    CHECK(pl_cuda_device_count(&n));
    if (n < 1) {
        printf("skipped: no CUDA device\n");
        return 77;
    }
    if (probe) { /* for scripts: exit 0 when a device is there, 77 when not */
        printf("%d CUDA device(s)\n", n);
        return 0;
    }
    CHECK(pl_cuda_ctx_create(0, &ctx));
    const int sms = pl_cuda_ctx_sm_count(ctx), khz = pl_cuda_ctx_clock_khz(ctx);
    const double ghz = khz / 1e6;
    printf("device: %s, %d SMs, sm_%d, SM clock %.3f GHz (as reported)\n",
           pl_cuda_ctx_device_name(ctx), sms, pl_cuda_ctx_compute_capability(ctx), ghz);
    const struct mode modes[] = {{"f32", PL_CUDA_F32, 0, 256.0},
                                 {"tf32", PL_CUDA_F32, 1, 2048.0},
                                 {"f16", PL_CUDA_F16, 0, 4096.0}};
    for (int i = 0; i < 3; i++) {
        double peak = sms * modes[i].flop_per_clk_sm * khz * 1e3 / 1e12;
        printf("peak %-4s (dense, from SMs x clock): %.1f TFLOP/s\n", modes[i].name, peak);
        printf("RESULT peak_%s_tflops %.1f\n", modes[i].name, peak);
    }
    printf("(H100 SXM spec sheet, dense: f32 67, tf32 495, f16 989 TFLOP/s)\n\n");

    printf("GEMM, row-major x[M,K] . w[N,K]^T (BERT-base shapes):\n");
    static const int64_t shapes[][3] = {{128, 2304, 768}, {128, 768, 768},  {128, 3072, 768},
                                        {128, 768, 3072}, {4096, 2304, 768}, {4096, 768, 768},
                                        {4096, 3072, 768}, {4096, 768, 3072}, {4096, 4096, 4096}};
    for (int i = 0; i < 3; i++) {
        double peak = sms * modes[i].flop_per_clk_sm * khz * 1e3 / 1e12;
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            bench_gemm(ctx, &modes[i], shapes[s][0], shapes[s][1], shapes[s][2], peak, quick);
    }
    printf("\nBERT-base encoder stack (12 layers x 768, 12 heads, FFN 3072), seq 128:\n");
    static const int64_t batches[] = {1, 8, 32};
    for (int i = 0; i < 3; i++) bench_encoder(ctx, &modes[i], batches, 3, 128, quick);
    printf("\nOne encoder layer kernel by kernel (batch 32 x 128):\n");
    bench_breakdown(ctx, &modes[0], 32, 128);
    bench_breakdown(ctx, &modes[2], 32, 128);
    pl_cuda_ctx_destroy(ctx);
    return 0;
}
