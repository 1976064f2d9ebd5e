/*
 * cpu_selfcheck.c - a dependency-free check of the CPU kernel families for
 * machines that lack the rest of Parley's build (e.g. a GPU box with
 * AVX-512): every op on a few shapes, each family the CPU has against the
 * scalar reference (NMSE, NaN/Inf), then GEMM GFLOP/s and, with --encoder, the
 * latency of a BERT-base-shaped encoder built from ops (f32 and int8, 1 and 2
 * threads). Built and run by engine/cpu/selfcheck.sh; exit status 0 = all
 * within tolerance.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "tensor.h"
#include "util.h"

/* clients/bench/peak.c, compiled twice by selfcheck.sh. */
double pl_bench_peak_avx2(int64_t iters, float *sink);
double pl_bench_peak_avx512(int64_t iters, float *sink);

static uint32_t rng = 7;
static float frand(void) {
    rng = rng * 1664525u + 1013904223u;
    return ((rng >> 8) / 16777216.0f) * 2.0f - 1.0f;
}

static struct pl_buffer *buf;
static size_t used;
static struct pl_ctx *ctx;

static void place(struct pl_tensor *t) {
    if (pl_tensor_place(t, buf, used) != PL_OK) {
        fprintf(stderr, "arena full\n");
        exit(2);
    }
    used += (pl_tensor_nbytes(t) + 127) & ~(size_t)63;
}

static struct pl_tensor *leaf(enum pl_dtype dt, int nd, const int64_t *shape) {
    struct pl_tensor *t;
    pl_tensor_new(ctx, dt, nd, shape, &t);
    place(t);
    for (int64_t i = 0; i < pl_tensor_nelements(t); i++) {
        float v = frand();
        if (dt == PL_DTYPE_F32) ((float *)t->data)[i] = v;
        else if (dt == PL_DTYPE_I8) ((int8_t *)t->data)[i] = (int8_t)(v * 127);
        else if (dt == PL_DTYPE_F16) ((uint16_t *)t->data)[i] = pl_f32_to_f16(v);
        else if (dt == PL_DTYPE_BF16) ((uint16_t *)t->data)[i] = pl_f32_to_bf16(v);
        else ((int32_t *)t->data)[i] = 1;
    }
    return t;
}

static int failures;

static void compare_tol(struct pl_backend *ref, struct pl_backend *fast, struct pl_tensor *t,
                        const char *what, double tol) {
    struct pl_graph *g;
    pl_graph_create(2, &g);
    place(t);
    pl_graph_add(g, t);
    int64_t n = pl_tensor_nelements(t);
    if (pl_backend_graph_compute(ref, g) != PL_OK) {
        printf("FAIL %s: ref: %s\n", what, pl_last_error());
        failures++;
        return;
    }
    float *want = malloc((size_t)n * 4);
    memcpy(want, t->data, (size_t)n * 4);
    memset(t->data, 0xff, (size_t)n * 4);
    if (pl_backend_graph_compute(fast, g) != PL_OK) {
        printf("FAIL %s: %s\n", what, pl_last_error());
        failures++;
    } else {
        double num = 0, den = 0;
        int bad = 0;
        for (int64_t i = 0; i < n; i++) {
            float v = ((float *)t->data)[i];
            if (!isfinite(v)) bad = 1;
            num += ((double)v - want[i]) * ((double)v - want[i]);
            den += (double)want[i] * want[i];
        }
        double nmse = num / fmax(den, (double)n);
        int ok = !bad && nmse <= tol;
        printf("%s %-40s nmse %.2e\n", ok ? "ok  " : "FAIL", what, nmse);
        failures += !ok;
    }
    free(want);
    pl_graph_destroy(g);
}

static void compare(struct pl_backend *ref, struct pl_backend *fast, struct pl_tensor *t, const char *what) {
    compare_tol(ref, fast, t, what, 1e-9);
}

/* BERT-base-shaped encoder (12 x 768, FFN 3072) built from ops with random
 * weights; returns the median forward time in ms at 1 x seq. */
static double encoder_ms(struct pl_backend *be, int seq, bool int8, int iters) {
    const int64_t h = 768, ff = 3072, nl = 12;
    struct pl_buffer *wb;
    struct pl_ctx *wc;
    struct pl_graph *g;
    if (pl_backend_buffer_alloc(be, (size_t)600 << 20, &wb) || pl_ctx_create(4096, &wc) || pl_graph_create(256, &g))
        exit(2);
    struct pl_buffer *save_buf = buf;
    struct pl_ctx *save_ctx = ctx;
    size_t save_used = used;
    buf = wb;
    ctx = wc;
    used = 0;
    struct pl_tensor *x = leaf(PL_DTYPE_F32, 3, (int64_t[]){1, seq, h});
    for (int64_t l = 0; l < nl; l++) {
        struct pl_tensor *w[4], *sc[4], *b[4], *y;
        const int64_t shp[4][2] = {{3 * h, h}, {h, h}, {ff, h}, {h, ff}};
        for (int i = 0; i < 4; i++) {
            w[i] = leaf(int8 ? PL_DTYPE_I8 : PL_DTYPE_F32, 2, shp[i]);
            if (!int8)
                for (int64_t e = 0; e < shp[i][0] * shp[i][1]; e++) ((float *)w[i]->data)[e] *= 0.05f;
            sc[i] = int8 ? leaf(PL_DTYPE_F32, 1, (int64_t[]){shp[i][0]}) : NULL;
            if (sc[i])
                for (int64_t e = 0; e < shp[i][0]; e++) ((float *)sc[i]->data)[e] = 4e-4f;
            b[i] = leaf(PL_DTYPE_F32, 1, (int64_t[]){shp[i][0]});
        }
        struct pl_tensor *g1 = leaf(PL_DTYPE_F32, 1, &h), *b1 = leaf(PL_DTYPE_F32, 1, &h);
        struct pl_tensor *g2 = leaf(PL_DTYPE_F32, 1, &h), *b2 = leaf(PL_DTYPE_F32, 1, &h);
        struct pl_tensor *qkv, *att, *ao, *x1, *f, *fo;
        pl_op_linear(ctx, x, w[0], sc[0], b[0], 0, &qkv); place(qkv); pl_graph_add(g, qkv);
        pl_op_attention(ctx, qkv, NULL, 12, 0.125f, &att); place(att); pl_graph_add(g, att);
        pl_op_linear(ctx, att, w[1], sc[1], b[1], 0, &ao); place(ao); pl_graph_add(g, ao);
        pl_op_layer_norm(ctx, ao, x, g1, b1, 1e-12f, &x1); place(x1); pl_graph_add(g, x1);
        pl_op_linear(ctx, x1, w[2], sc[2], b[2], PL_ACT_GELU_ERF, &f); place(f); pl_graph_add(g, f);
        pl_op_linear(ctx, f, w[3], sc[3], b[3], 0, &fo); place(fo); pl_graph_add(g, fo);
        pl_op_layer_norm(ctx, fo, x1, g2, b2, 1e-12f, &y); place(y); pl_graph_add(g, y);
        x = y;
    }
    double ts[64];
    pl_backend_graph_compute(be, g);
    for (int i = 0; i < iters; i++) {
        int64_t t0 = pl_time_mono_ns();
        pl_backend_graph_compute(be, g);
        ts[i] = (double)(pl_time_mono_ns() - t0) * 1e-6;
    }
    for (int i = 0; i < iters; i++)
        for (int j = i + 1; j < iters; j++)
            if (ts[j] < ts[i]) {
                double t = ts[i];
                ts[i] = ts[j];
                ts[j] = t;
            }
    pl_graph_destroy(g);
    pl_ctx_destroy(wc);
    pl_buffer_free(wb);
    buf = save_buf;
    ctx = save_ctx;
    used = save_used;
    return ts[iters / 2];
}

/* Every op on a few shapes, `fast` (one kernel family) against the reference. */
static void check_ops(struct pl_backend *ref, struct pl_backend *fast) {
    static const int lin[][3] = {{1, 1, 1}, {5, 7, 13}, {17, 64, 96}, {4, 9, 1030}, {200, 70, 33}, {130, 100, 768}};
    /* every weight type, as stored (the unpacked kernels) and packed at load as the encoders'
     * weights are (f16 has no packed form); activations that are bf16 values already, so that
     * the bf16 GEMM is exact up to its f32 sums */
    enum pl_dtype dts[] = {PL_DTYPE_F32, PL_DTYPE_I8, PL_DTYPE_F16, PL_DTYPE_BF16};
    for (size_t s = 0; s < sizeof lin / sizeof lin[0]; s++)
        for (size_t d = 0; d < 8; d++) {
            enum pl_dtype dt = dts[d % 4];
            int packed = d >= 4;
            if (packed && dt == PL_DTYPE_F16) continue;
            /* every activation for f32 and packed bf16 (their epilogues), act 0 for the rest */
            int act_step = dt == PL_DTYPE_F32 || (packed && dt == PL_DTYPE_BF16) ? 1 : PL_ACT_COUNT;
            for (int act = 0; act < PL_ACT_COUNT; act += act_step) {
                int64_t m = lin[s][0], n = lin[s][1], k = lin[s][2];
                struct pl_tensor *x = leaf(PL_DTYPE_F32, 2, (int64_t[]){m, k});
                if (dt == PL_DTYPE_BF16)
                    for (int64_t i = 0; i < m * k; i++)
                        ((float *)x->data)[i] = pl_bf16_to_f32(pl_f32_to_bf16(((float *)x->data)[i]));
                struct pl_tensor *w = leaf(dt, 2, (int64_t[]){n, k});
                struct pl_tensor *b = leaf(PL_DTYPE_F32, 1, (int64_t[]){n});
                struct pl_tensor *sc = NULL, *y;
                if (dt == PL_DTYPE_I8) {
                    sc = leaf(PL_DTYPE_F32, 1, (int64_t[]){n});
                    for (int64_t i = 0; i < n; i++) ((float *)sc->data)[i] = 0.01f + 0.001f * (float)(i % 7);
                }
                pl_op_linear(ctx, x, w, sc, b, act, &y);
                struct pl_buffer *pk = NULL;
                if (packed && pl_backend_cpu_pack_weight(fast, w, &pk) != PL_OK) exit(2);
                char what[96];
                snprintf(what, sizeof what, "linear %lldx%lldx%lld %s%s act %d", (long long)m, (long long)n,
                         (long long)k, pl_dtype_name(dt), pk ? " packed" : "", act);
                if (!packed || pk) compare(ref, fast, y, what);
                pl_buffer_free(pk);
                pl_ctx_reset(ctx);
                used = 0;
            }
        }
    static const int att[][4] = {{1, 1, 8, 2}, {2, 5, 12, 3}, {3, 37, 64, 4}, {2, 20, 768, 12}, {1, 130, 96, 2}};
    for (size_t s = 0; s < sizeof att / sizeof att[0]; s++) {
        int64_t b = att[s][0], sn = att[s][1], h = att[s][2];
        struct pl_tensor *qkv = leaf(PL_DTYPE_F32, 3, (int64_t[]){b, sn, 3 * h});
        struct pl_tensor *mask = leaf(PL_DTYPE_I32, 2, (int64_t[]){b, sn}), *y;
        for (int64_t i = 0; i < b * sn; i++) ((int32_t *)mask->data)[i] = (i % sn) < sn - (i / sn);
        pl_op_attention(ctx, qkv, mask, att[s][3], 0.125f, &y);
        char what[96];
        snprintf(what, sizeof what, "attention %lldx%lldx%lld", (long long)b, (long long)sn, (long long)h);
        compare(ref, fast, y, what);
        /* products in bf16 where the family has them (bf16 precision): its rounding */
        pl_op_attention(ctx, qkv, mask, att[s][3], 0.125f, &y);
        pl_op_attention_prec(y, PL_ATT_BF16);
        snprintf(what, sizeof what, "attention bf16 %lldx%lldx%lld", (long long)b, (long long)sn, (long long)h);
        compare_tol(ref, fast, y, what, 2e-5);
        struct pl_tensor *g = leaf(PL_DTYPE_F32, 1, (int64_t[]){3 * h}), *be = leaf(PL_DTYPE_F32, 1, (int64_t[]){3 * h});
        pl_op_layer_norm(ctx, qkv, NULL, g, be, 1e-12f, &y);
        compare(ref, fast, y, "layer_norm");
        pl_op_softmax(ctx, qkv, NULL, 0.7f, &y);
        compare(ref, fast, y, "softmax");
        pl_op_act(ctx, qkv, g, PL_ACT_GELU_ERF, &y);
        compare(ref, fast, y, "bias+gelu");
        pl_ctx_reset(ctx);
        used = 0;
    }
}

int main(int argc, char **argv) {
    struct pl_backend *ref, *fast;
    if (pl_backend_create("cpu-ref", &ref)) return 2;
    pl_backend_buffer_alloc(ref, (size_t)256 << 20, &buf);
    pl_ctx_create(512, &ctx);
    if (pl_backend_create("cpu", &fast)) return 2;
    /* every lower family this CPU has (PARLEY_CPU_KERNELS), then the best, whose speed follows */
    static const char *const lower[] = {"avx2", "avx2vnni", "avx512novnni", "avx512"};
    for (size_t f = 0; f < sizeof lower / sizeof lower[0]; f++) {
        struct pl_backend *be;
        setenv("PARLEY_CPU_KERNELS", lower[f], 1);
        if (pl_backend_create("cpu", &be)) return 2;
        const char *name = pl_backend_cpu_kernels(be);
        if (strcmp(name, lower[f]) == 0 && strcmp(name, pl_backend_cpu_kernels(fast)) != 0) {
            printf("kernels: %s (a lower family)\n", name);
            check_ops(ref, be);
        }
        pl_backend_destroy(be);
    }
    unsetenv("PARLEY_CPU_KERNELS");
    printf("kernels: %s, threads %d\n", pl_backend_cpu_kernels(fast), pl_backend_cpu_threads(fast));
    check_ops(ref, fast);
    /* FMA peak of one core, for "% of peak". */
    float sink;
    __builtin_cpu_init();
    int avx512 = __builtin_cpu_supports("avx512f");
    double peak = avx512 ? pl_bench_peak_avx512(200000000, &sink) : pl_bench_peak_avx2(200000000, &sink);
    printf("measured %s FMA peak: %.1f GFLOP/s per core\n", avx512 ? "AVX-512" : "AVX2", peak / 1e9);
    /* GEMM speed, BERT shapes. */
    static const int gs[][3] = {{4096, 768, 768}, {4096, 3072, 768}, {128, 768, 768}};
    int nthr[] = {1, pl_backend_cpu_threads(fast)};
    for (int ti = 0; ti < 2; ti++) {
        pl_backend_cpu_set_threads(fast, nthr[ti]);
        for (int s = 0; s < 3; s++) {
            pl_ctx_reset(ctx);
            used = 0;
            int64_t m = gs[s][0], n = gs[s][1], k = gs[s][2];
            struct pl_tensor *x = leaf(PL_DTYPE_F32, 2, (int64_t[]){m, k}), *w = leaf(PL_DTYPE_F32, 2, (int64_t[]){n, k});
            struct pl_tensor *wq = leaf(PL_DTYPE_I8, 2, (int64_t[]){n, k}), *sc = leaf(PL_DTYPE_F32, 1, (int64_t[]){n});
            struct pl_tensor *y, *yq;
            pl_op_linear(ctx, x, w, NULL, NULL, 0, &y);
            place(y);
            pl_op_linear(ctx, x, wq, sc, NULL, 0, &yq);
            place(yq);
            struct pl_graph *g, *gq;
            pl_graph_create(1, &g);
            pl_graph_create(1, &gq);
            pl_graph_add(g, y);
            pl_graph_add(gq, yq);
            double best = 1e30, bestq = 1e30;
            for (int r = 0; r < 6; r++) {
                int64_t t0 = pl_time_mono_ns();
                pl_backend_graph_compute(fast, g);
                int64_t t1 = pl_time_mono_ns();
                pl_backend_graph_compute(fast, gq);
                int64_t t2 = pl_time_mono_ns();
                if (r) {
                    best = fmin(best, (double)(t1 - t0) * 1e-9);
                    bestq = fmin(bestq, (double)(t2 - t1) * 1e-9);
                }
            }
            double fl = 2.0 * m * n * k;
            printf("gemm %5lldx%lldx%lld threads %2d: f32 %7.1f GFLOP/s (%4.1f%% of peak), int8 %7.1f GOP/s (%.2fx f32)\n",
                   (long long)m, (long long)n, (long long)k, nthr[ti], fl / best / 1e9,
                   100.0 * fl / best / (peak * nthr[ti]), fl / bestq / 1e9, best / bestq);
            pl_graph_destroy(g);
            pl_graph_destroy(gq);
        }
    }
    if (argc > 1 && strcmp(argv[1], "--encoder") == 0) {
        printf("BERT-base-shaped encoder (ops only, random weights), median of 5, wall ms:\n");
        for (int t = 1; t <= 2; t++) {
            pl_backend_cpu_set_threads(fast, t);
            for (int si = 0; si < 4; si++) {
                int seq = (int[]){16, 64, 128, 384}[si];
                double f32 = encoder_ms(fast, seq, false, 5), i8 = encoder_ms(fast, seq, true, 5);
                printf("  threads %d 1x%-4d f32 %8.2f ms  int8 %8.2f ms  (int8 %.2fx faster)\n", t, seq, f32, i8,
                       f32 / i8);
            }
        }
    }
    printf("%s: %d failures\n", failures ? "FAILED" : "PASSED", failures);
    return failures ? 1 : 0;
}
