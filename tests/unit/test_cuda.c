/*
 * test_cuda.c - the CUDA kernels against plain-C double-precision references.
 *
 * Every op runs for f32 and f16 storage over several shapes (odd sizes, one
 * element, rows longer than a block, BERT sizes). Each output is checked for
 * NaN/Inf, against the reference by NMSE with a threshold per op and dtype,
 * and for writes outside its buffer: outputs live in the middle of a larger
 * device allocation whose guard bytes are checked after every op. Failures
 * print the op, dtype, shape and the seed (PL_TEST_SEED overrides it).
 *
 * Without a CUDA device the suite prints "skipped: no CUDA device" and runs
 * nothing. The device is probed in a forked child so that the Check runner
 * (which forks once per test) never forks a process that initialized CUDA.
 *
 * A Check suite (pl_cuda_suite) or, compiled with PL_TEST_NO_CHECK (the
 * PARLEY_ENGINE_ONLY build, which has no Check), a program with its own main
 * that runs the same cases (tests/CMakeLists.txt, OWN_MAIN).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "alloc.h"
#include "pl_cuda.h"

#ifndef PL_TEST_NO_CHECK
#include <check.h>
#endif

#define GUARD 256
#define CANARY 0xA5

static uint64_t g_seed = 20261127;
static uint64_t g_rng;

/* ---- host helpers -------------------------------------------------------- */

static uint64_t rng_next(void) {
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return g_rng;
}
static float rng_uniform(float lo, float hi) {
    return lo + (hi - lo) * (float)((rng_next() >> 11) * (1.0 / 9007199254740992.0));
}
static void fill(float *v, int64_t n, float lo, float hi) {
    for (int64_t i = 0; i < n; i++) v[i] = rng_uniform(lo, hi);
}

static uint16_t f2h(float f) {
    uint32_t x, ax, sign, e, mant, h, rem;
    memcpy(&x, &f, 4);
    sign = (x >> 16) & 0x8000u;
    ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) return (uint16_t)(sign | 0x7c00u | (ax > 0x7f800000u ? 0x200u : 0));
    if (ax >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u);
    if (ax < 0x38800000u) {
        float af;
        memcpy(&af, &ax, 4);
        return (uint16_t)(sign | (uint32_t)lrintf(af * 16777216.0f));
    }
    e = (ax >> 23) - 127 + 15;
    mant = ax & 0x7fffffu;
    h = (e << 10) | (mant >> 13);
    rem = mant & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) h++;
    return (uint16_t)(sign | h);
}
static float h2f(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu, b;
    float f;
    if (e == 0) {
        f = ldexpf((float)m, -24);
        return sign ? -f : f;
    }
    b = e == 31 ? (sign | 0x7f800000u | (m << 13)) : (sign | ((e - 15 + 127) << 23) | (m << 13));
    memcpy(&f, &b, 4);
    return f;
}
static void round_to(enum pl_cuda_dtype dt, float *v, int64_t n) {
    if (dt == PL_CUDA_F16)
        for (int64_t i = 0; i < n; i++) v[i] = h2f(f2h(v[i]));
}

static const char *dtn(enum pl_cuda_dtype dt) { return dt == PL_CUDA_F16 ? "f16" : "f32"; }

/* ---- device buffers with guard bytes --------------------------------------- */

struct gbuf {
    unsigned char *base; /* device: GUARD canary bytes, n data bytes, GUARD canary bytes */
    void *p;             /* base + GUARD */
    size_t n;
};

static struct pl_cuda_ctx *g_ctx;
static int g_fail;

#define T_FAIL(...)                                                                                \
    do {                                                                                           \
        fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                       \
        fprintf(stderr, __VA_ARGS__);                                                              \
        fprintf(stderr, " (seed %llu)\n", (unsigned long long)g_seed);                             \
        g_fail++;                                                                                  \
    } while (0)

#define T_OK(expr)                                                                                 \
    do {                                                                                           \
        pl_status t__s = (expr);                                                                   \
        if (t__s != PL_OK) {                                                                       \
            T_FAIL("%s -> %s: %s", #expr, pl_status_str(t__s), pl_last_error());                   \
            return;                                                                                \
        }                                                                                          \
    } while (0)

static int gb_alloc(struct gbuf *g, size_t n) {
    memset(g, 0, sizeof *g);
    if (pl_cuda_malloc(g_ctx, n + 2 * GUARD, (void **)&g->base) != PL_OK) {
        T_FAIL("device alloc of %zu bytes: %s", n, pl_last_error());
        return -1;
    }
    g->p = g->base + GUARD;
    g->n = n;
    if (pl_cuda_memset(g_ctx, g->base, CANARY, n + 2 * GUARD) != PL_OK) {
        T_FAIL("memset: %s", pl_last_error());
        return -1;
    }
    return 0;
}
static void gb_free(struct gbuf *g) {
    pl_cuda_free(g_ctx, g->base);
    memset(g, 0, sizeof *g);
}

/* Upload n floats as dt into a fresh guarded buffer; v is rounded to what the
 * device holds (so references see the same inputs). */
static int gb_up(struct gbuf *g, enum pl_cuda_dtype dt, float *v, int64_t n) {
    size_t es = pl_cuda_dtype_size(dt);
    void *tmp = pl_malloc((size_t)n * es);
    int rc = -1;
    round_to(dt, v, n);
    if (!tmp) return -1;
    if (dt == PL_CUDA_F16)
        for (int64_t i = 0; i < n; i++) ((uint16_t *)tmp)[i] = f2h(v[i]);
    else
        memcpy(tmp, v, (size_t)n * 4);
    if (gb_alloc(g, (size_t)n * es) == 0) {
        if (pl_cuda_memcpy_h2d(g_ctx, g->p, tmp, (size_t)n * es) == PL_OK)
            rc = 0;
        else
            T_FAIL("upload: %s", pl_last_error());
    }
    pl_free(tmp);
    return rc;
}
static int gb_up_i32(struct gbuf *g, const int32_t *v, int64_t n) {
    if (gb_alloc(g, (size_t)n * 4)) return -1;
    if (pl_cuda_memcpy_h2d(g_ctx, g->p, v, (size_t)n * 4) != PL_OK) {
        T_FAIL("upload: %s", pl_last_error());
        return -1;
    }
    return 0;
}

/* Download n elements of dt as floats; checks the guard bytes. */
static int gb_down(const struct gbuf *g, enum pl_cuda_dtype dt, float *out, int64_t n,
                   const char *what) {
    size_t total = g->n + 2 * GUARD, es = pl_cuda_dtype_size(dt);
    unsigned char *h = pl_malloc(total);
    int rc = 0;
    if (!h) return -1;
    if (pl_cuda_memcpy_d2h(g_ctx, h, g->base, total) != PL_OK) {
        T_FAIL("%s: download: %s: %s", what, pl_status_str(pl_last_status()), pl_last_error());
        pl_free(h);
        return -1;
    }
    for (size_t i = 0; i < GUARD; i++) {
        if (h[i] != CANARY || h[GUARD + g->n + i] != CANARY) {
            T_FAIL("%s: guard bytes overwritten (%s, byte %zu)", what,
                   h[i] != CANARY ? "before" : "after", i);
            rc = -1;
            break;
        }
    }
    for (int64_t i = 0; i < n; i++) {
        if (dt == PL_CUDA_F16) {
            uint16_t u;
            memcpy(&u, h + GUARD + (size_t)i * es, 2);
            out[i] = h2f(u);
        } else {
            memcpy(&out[i], h + GUARD + (size_t)i * es, 4);
        }
    }
    pl_free(h);
    return rc;
}

/* NMSE of y against ref, plus a NaN/Inf check. */
static int cmp(const char *what, const float *y, const double *ref, int64_t n, double thr) {
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(y[i])) {
            T_FAIL("%s: element %lld is %f", what, (long long)i, (double)y[i]);
            return -1;
        }
        double d = (double)y[i] - ref[i];
        num += d * d;
        den += ref[i] * ref[i];
    }
    double nmse = den > 0 ? num / den : num / (double)(n > 0 ? n : 1);
    if (!(nmse <= thr)) {
        T_FAIL("%s: nmse %.3g > %.3g", what, nmse, thr);
        return -1;
    }
    return 0;
}

static double *dalloc(int64_t n) { return pl_calloc((size_t)(n > 0 ? n : 1), sizeof(double)); }
static float *falloc(int64_t n) { return pl_calloc((size_t)(n > 0 ? n : 1), sizeof(float)); }

/* ---- references (double) ------------------------------------------------- */

static void ref_gemm(int ta, int tb, int64_t m, int64_t n, int64_t k, double alpha,
                     const float *a, int64_t lda, const float *b, int64_t ldb, double beta,
                     const float *c0, double *c, int64_t ldc) {
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double s = 0;
            for (int64_t p = 0; p < k; p++) {
                double av = ta ? a[p * lda + i] : a[i * lda + p];
                double bv = tb ? b[j * ldb + p] : b[p * ldb + j];
                s += av * bv;
            }
            c[i * ldc + j] = alpha * s + (beta != 0 ? beta * c0[i * ldc + j] : 0);
        }
}

static double ref_act(double v, enum pl_cuda_act act) {
    switch (act) {
    case PL_CUDA_ACT_GELU_ERF: return 0.5 * v * (1 + erf(v / sqrt(2.0)));
    case PL_CUDA_ACT_GELU_TANH:
        return 0.5 * v * (1 + tanh(sqrt(2.0 / M_PI) * (v + 0.044715 * v * v * v)));
    case PL_CUDA_ACT_TANH: return tanh(v);
    case PL_CUDA_ACT_RELU: return v > 0 ? v : 0;
    case PL_CUDA_ACT_SIGMOID: return 1 / (1 + exp(-v));
    default: return v;
    }
}

static void ref_ln(const double *y, int64_t cols, const float *g, const float *b, double eps,
                   double *out) {
    double mean = 0, var = 0;
    for (int64_t c = 0; c < cols; c++) mean += y[c];
    mean /= (double)cols;
    for (int64_t c = 0; c < cols; c++) var += (y[c] - mean) * (y[c] - mean);
    var /= (double)cols;
    for (int64_t c = 0; c < cols; c++) out[c] = (y[c] - mean) / sqrt(var + eps) * g[c] + b[c];
}

static void ref_softmax_row(const double *x, const int32_t *m, int64_t n, double scale,
                            double *out) {
    double mx = -INFINITY, s = 0;
    for (int64_t j = 0; j < n; j++)
        if (!m || m[j]) mx = fmax(mx, x[j] * scale);
    for (int64_t j = 0; j < n; j++) out[j] = 0;
    if (mx == -INFINITY) return;
    for (int64_t j = 0; j < n; j++)
        if (!m || m[j]) s += exp(x[j] * scale - mx);
    for (int64_t j = 0; j < n; j++)
        if (!m || m[j]) out[j] = exp(x[j] * scale - mx) / s;
}

/* qkv [B*S, 3H] (+bias) -> out [B*S, H] */
static void ref_attention(const double *qkv, const float *bias, const int32_t *mask, int64_t B,
                          int64_t S, int64_t nh, int64_t hd, double scale, double *out) {
    int64_t H = nh * hd, W = 3 * H;
    double *sc = dalloc(S), *p = dalloc(S);
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < nh; h++)
            for (int64_t i = 0; i < S; i++) {
                for (int64_t j = 0; j < S; j++) {
                    double s = 0;
                    for (int64_t d = 0; d < hd; d++) {
                        int64_t qc = h * hd + d, kc = H + h * hd + d;
                        double q = qkv[(b * S + i) * W + qc] + (bias ? bias[qc] : 0);
                        double k = qkv[(b * S + j) * W + kc] + (bias ? bias[kc] : 0);
                        s += q * k;
                    }
                    sc[j] = s;
                }
                ref_softmax_row(sc, mask ? mask + b * S : NULL, S, scale, p);
                for (int64_t d = 0; d < hd; d++) {
                    int64_t vc = 2 * H + h * hd + d;
                    double s = 0;
                    for (int64_t j = 0; j < S; j++)
                        s += p[j] * (qkv[(b * S + j) * W + vc] + (bias ? bias[vc] : 0));
                    out[(b * S + i) * H + h * hd + d] = s;
                }
            }
    pl_free(sc);
    pl_free(p);
}

/* ---- tests ------------------------------------------------------------------ */

static double thr_for(enum pl_cuda_dtype dt, double f32, double f16) {
    return dt == PL_CUDA_F16 ? f16 : f32;
}

static void gemm_case(enum pl_cuda_dtype ab, enum pl_cuda_dtype ct, int ta, int tb, int64_t m,
                      int64_t n, int64_t k, int64_t batch, int64_t pad, float alpha, float beta) {
    int64_t lda = (ta ? m : k) + pad, ldb = (tb ? k : n) + pad, ldc = n + pad;
    int64_t sa = (ta ? k : m) * lda, sb = (tb ? n : k) * ldb, sc = m * ldc;
    float *a = falloc(sa * batch), *b = falloc(sb * batch), *c0 = falloc(sc * batch),
          *y = falloc(sc * batch);
    double *ref = dalloc(sc * batch);
    struct gbuf ga, gb, gc;
    char what[160];
    memset(&ga, 0, sizeof ga), memset(&gb, 0, sizeof gb), memset(&gc, 0, sizeof gc);
    snprintf(what, sizeof what, "gemm %s->%s ta=%d tb=%d m=%lld n=%lld k=%lld batch=%lld pad=%lld",
             dtn(ab), dtn(ct), ta, tb, (long long)m, (long long)n, (long long)k,
             (long long)batch, (long long)pad);
    fill(a, sa * batch, -1, 1);
    fill(b, sb * batch, -1, 1);
    fill(c0, sc * batch, -1, 1);
    if (gb_up(&ga, ab, a, sa * batch) || gb_up(&gb, ab, b, sb * batch) ||
        gb_up(&gc, ct, c0, sc * batch))
        goto out;
    struct pl_cuda_gemm g = {.ab_type = ab, .c_type = ct, .trans_a = ta, .trans_b = tb, .m = m,
                             .n = n, .k = k, .batch = batch, .alpha = alpha, .beta = beta,
                             .a = ga.p, .lda = lda, .stride_a = sa, .b = gb.p, .ldb = ldb,
                             .stride_b = sb, .c = gc.p, .ldc = ldc, .stride_c = sc};
    if (pl_cuda_gemm(g_ctx, &g) != PL_OK) {
        T_FAIL("%s: %s", what, pl_last_error());
        goto out;
    }
    for (int64_t i = 0; i < batch; i++)
        ref_gemm(ta, tb, m, n, k, alpha, a + i * sa, lda, b + i * sb, ldb, beta, c0 + i * sc,
                 ref + i * sc, ldc);
    /* padding columns of C must be untouched: the reference keeps c0 there */
    for (int64_t i = 0; i < batch * m; i++)
        for (int64_t j = n; j < ldc; j++) ref[i * ldc + j] = c0[i * ldc + j];
    if (gb_down(&gc, ct, y, sc * batch, what) == 0)
        cmp(what, y, ref, sc * batch, thr_for(ct, 1e-10, 2e-6));
out:
    gb_free(&ga), gb_free(&gb), gb_free(&gc);
    pl_free(a), pl_free(b), pl_free(c0), pl_free(y), pl_free(ref);
}

static void run_gemm(void) {
    static const int64_t shapes[][3] = {{1, 1, 1}, {7, 13, 5}, {33, 65, 17}, {64, 64, 64},
                                        {128, 768, 768}, {3, 3072, 64}};
    enum pl_cuda_dtype types[][2] = {{PL_CUDA_F32, PL_CUDA_F32},
                                     {PL_CUDA_F16, PL_CUDA_F16},
                                     {PL_CUDA_F16, PL_CUDA_F32}};
    for (size_t t = 0; t < 3; t++)
        for (size_t s = 0; s < PL_ARRAY_LEN(shapes); s++)
            for (int tr = 0; tr < 4; tr++)
                gemm_case(types[t][0], types[t][1], tr & 1, tr >> 1, shapes[s][0], shapes[s][1],
                          shapes[s][2], 1, 0, 1.0f, 0.0f);
    for (size_t t = 0; t < 3; t++) {
        gemm_case(types[t][0], types[t][1], 0, 1, 17, 9, 33, 3, 3, 0.5f, 0.75f);
        gemm_case(types[t][0], types[t][1], 1, 0, 16, 24, 8, 5, 0, -1.25f, 1.0f);
        gemm_case(types[t][0], types[t][1], 0, 0, 128, 64, 128, 24, 0, 0.125f, 0.0f);
    }
}

static void run_linear_act(void) {
    static const int64_t shapes[][3] = {{1, 1, 1}, {5, 37, 19}, {64, 3072, 768}};
    for (int dti = 0; dti < 2; dti++)
        for (size_t s = 0; s < PL_ARRAY_LEN(shapes); s++)
            for (int act = 0; act <= PL_CUDA_ACT_SIGMOID; act++)
                for (int with_bias = 0; with_bias < 2; with_bias++) {
                    /* the BERT-sized shape only for the forms BERT uses (CPU time) */
                    if (s == 2 && (act > PL_CUDA_ACT_GELU_TANH || !with_bias)) continue;
                    enum pl_cuda_dtype dt = (enum pl_cuda_dtype)dti;
                    int64_t m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
                    float *x = falloc(m * k), *w = falloc(n * k), *bias = falloc(n),
                          *y = falloc(m * n);
                    double *ref = dalloc(m * n);
                    struct gbuf gx, gw, gbias, gy;
                    char what[128];
                    memset(&gbias, 0, sizeof gbias);
                    memset(&gy, 0, sizeof gy);
                    snprintf(what, sizeof what, "linear %s act=%d bias=%d m=%lld n=%lld k=%lld",
                             dtn(dt), act, with_bias, (long long)m, (long long)n, (long long)k);
                    fill(x, m * k, -1, 1);
                    fill(w, n * k, -0.1f, 0.1f);
                    fill(bias, n, -1, 1);
                    if (gb_up(&gx, dt, x, m * k) || gb_up(&gw, dt, w, n * k) ||
                        (with_bias && gb_up(&gbias, dt, bias, n)) ||
                        gb_alloc(&gy, (size_t)(m * n) * pl_cuda_dtype_size(dt)))
                        goto next;
                    if (pl_cuda_linear(g_ctx, dt, gx.p, gw.p, with_bias ? gbias.p : NULL, gy.p,
                                       m, n, k, (enum pl_cuda_act)act) != PL_OK) {
                        T_FAIL("%s: %s", what, pl_last_error());
                        goto next;
                    }
                    ref_gemm(0, 1, m, n, k, 1, x, k, w, k, 0, NULL, ref, n);
                    for (int64_t i = 0; i < m; i++)
                        for (int64_t j = 0; j < n; j++) {
                            /* f16: the GEMM result is rounded to half before the bias */
                            double v = ref[i * n + j];
                            if (dt == PL_CUDA_F16) v = h2f(f2h((float)v));
                            ref[i * n + j] =
                                ref_act(v + (with_bias ? bias[j] : 0), (enum pl_cuda_act)act);
                        }
                    if (gb_down(&gy, dt, y, m * n, what) == 0)
                        cmp(what, y, ref, m * n, thr_for(dt, 1e-10, 4e-6));
                next:
                    gb_free(&gx), gb_free(&gw), gb_free(&gbias), gb_free(&gy);
                    pl_free(x), pl_free(w), pl_free(bias), pl_free(y), pl_free(ref);
                }
}

static void run_layernorm(void) {
    static const int64_t shapes[][2] = {{1, 1}, {5, 7}, {33, 768}, {4, 1500}, {3, 4097}};
    for (int dti = 0; dti < 2; dti++)
        for (size_t s = 0; s < PL_ARRAY_LEN(shapes); s++)
            for (int variant = 0; variant < 4; variant++) {
                /* variant bit 0: residual, bit 1: bias; variant 3 also runs in place */
                enum pl_cuda_dtype dt = (enum pl_cuda_dtype)dti;
                int64_t rows = shapes[s][0], cols = shapes[s][1], n = rows * cols;
                int has_res = variant & 1, has_bias = (variant >> 1) & 1, inplace = variant == 3;
                float *x = falloc(n), *res = falloc(n), *bias = falloc(cols), *g = falloc(cols),
                      *b = falloc(cols), *y = falloc(n);
                double *ref = dalloc(n), *row = dalloc(cols);
                struct gbuf gx, gres, gbias, gg, gb, gy;
                char what[128];
                memset(&gres, 0, sizeof gres), memset(&gbias, 0, sizeof gbias);
                memset(&gy, 0, sizeof gy);
                snprintf(what, sizeof what, "add_layernorm %s res=%d bias=%d inplace=%d [%lld,%lld]",
                         dtn(dt), has_res, has_bias, inplace, (long long)rows, (long long)cols);
                fill(x, n, -2, 3);
                fill(res, n, -1, 1);
                fill(bias, cols, -1, 1);
                fill(g, cols, 0.5f, 1.5f);
                fill(b, cols, -0.5f, 0.5f);
                if (gb_up(&gx, dt, x, n) || (has_res && gb_up(&gres, dt, res, n)) ||
                    (has_bias && gb_up(&gbias, dt, bias, cols)) || gb_up(&gg, dt, g, cols) ||
                    gb_up(&gb, dt, b, cols) ||
                    (!inplace && gb_alloc(&gy, (size_t)n * pl_cuda_dtype_size(dt))))
                    goto next;
                if (pl_cuda_add_layernorm(g_ctx, dt, inplace ? gres.p : gy.p, gx.p,
                                          has_bias ? gbias.p : NULL, has_res ? gres.p : NULL,
                                          gg.p, gb.p, rows, cols, 1e-5f) != PL_OK) {
                    T_FAIL("%s: %s", what, pl_last_error());
                    goto next;
                }
                for (int64_t r = 0; r < rows; r++) {
                    for (int64_t c = 0; c < cols; c++)
                        row[c] = (double)x[r * cols + c] + (has_bias ? bias[c] : 0) +
                                 (has_res ? res[r * cols + c] : 0);
                    ref_ln(row, cols, g, b, 1e-5, ref + r * cols);
                }
                if (gb_down(inplace ? &gres : &gy, dt, y, n, what) == 0)
                    cmp(what, y, ref, n, thr_for(dt, 1e-10, 4e-6));
            next:
                gb_free(&gx), gb_free(&gres), gb_free(&gbias), gb_free(&gg), gb_free(&gb);
                gb_free(&gy);
                pl_free(x), pl_free(res), pl_free(bias), pl_free(g), pl_free(b), pl_free(y);
                pl_free(ref), pl_free(row);
            }
}

static void run_softmax(void) {
    static const int64_t shapes[][3] = {{1, 1, 1}, {6, 77, 3}, {24, 128, 12}, {4, 512, 2},
                                        {3, 1000, 1},
                                        {5, 33, 5},  {2, 3000, 1}};
    for (int dti = 0; dti < 2; dti++)
        for (size_t s = 0; s < PL_ARRAY_LEN(shapes); s++)
            for (int masked = 0; masked < 2; masked++) {
                enum pl_cuda_dtype dt = (enum pl_cuda_dtype)dti;
                int64_t rows = shapes[s][0], n = shapes[s][1], div = shapes[s][2];
                int64_t mrows = (rows + div - 1) / div;
                float *x = falloc(rows * n), *y = falloc(rows * n);
                int32_t *mask = pl_calloc((size_t)(mrows * n), sizeof(int32_t));
                double *ref = dalloc(rows * n), *xd = dalloc(n);
                struct gbuf gx, gm;
                char what[128];
                float scale = 0.37f;
                memset(&gm, 0, sizeof gm);
                snprintf(what, sizeof what, "softmax %s masked=%d rows=%lld n=%lld div=%lld",
                         dtn(dt), masked, (long long)rows, (long long)n, (long long)div);
                fill(x, rows * n, -8, 8);
                for (int64_t i = 0; i < mrows * n; i++) mask[i] = (rng_next() % 4) != 0;
                /* one mask row fully excluded: its rows must come out as zeros */
                if (masked && mrows > 1)
                    for (int64_t j = 0; j < n; j++) mask[n + j] = 0;
                if (gb_up(&gx, dt, x, rows * n) || (masked && gb_up_i32(&gm, mask, mrows * n)))
                    goto next;
                if (pl_cuda_softmax(g_ctx, dt, gx.p, gx.p, masked ? gm.p : NULL, div, rows, n,
                                    scale) != PL_OK) {
                    T_FAIL("%s: %s", what, pl_last_error());
                    goto next;
                }
                for (int64_t r = 0; r < rows; r++) {
                    for (int64_t j = 0; j < n; j++) xd[j] = x[r * n + j];
                    ref_softmax_row(xd, masked ? mask + (r / div) * n : NULL, n, scale,
                                    ref + r * n);
                }
                if (gb_down(&gx, dt, y, rows * n, what) == 0)
                    cmp(what, y, ref, rows * n, thr_for(dt, 1e-10, 4e-6));
            next:
                gb_free(&gx), gb_free(&gm);
                pl_free(x), pl_free(y), pl_free(mask), pl_free(ref), pl_free(xd);
            }
}

static void attention_case(enum pl_cuda_dtype dt, int64_t B, int64_t S, int64_t nh, int64_t hd,
                           int masked) {
    int64_t H = nh * hd, T = B * S, W = 3 * H;
    float *qkv = falloc(T * W), *bias = falloc(W), *y = falloc(T * H), *split = falloc(3 * T * H);
    int32_t *mask = pl_calloc((size_t)T, sizeof(int32_t));
    double *ref = dalloc(T * H), *qd = dalloc(T * W), *sref = dalloc(3 * T * H);
    struct gbuf gq, gb, gm, gy, gs;
    char what[128];
    double scale = 1.0 / sqrt((double)hd);
    memset(&gm, 0, sizeof gm), memset(&gy, 0, sizeof gy), memset(&gs, 0, sizeof gs);
    snprintf(what, sizeof what, "attention %s masked=%d B=%lld S=%lld heads=%lld hd=%lld", dtn(dt),
             masked, (long long)B, (long long)S, (long long)nh, (long long)hd);
    fill(qkv, T * W, -1.5f, 1.5f);
    fill(bias, W, -0.5f, 0.5f);
    for (int64_t b = 0; b < B; b++) { /* row b keeps S - b*S/(B+1) tokens (>= 1) */
        int64_t len = S - b * S / (B + 1);
        for (int64_t s = 0; s < S; s++) mask[b * S + s] = s < len;
    }
    if (gb_up(&gq, dt, qkv, T * W) || gb_up(&gb, dt, bias, W) ||
        (masked && gb_up_i32(&gm, mask, T)) ||
        gb_alloc(&gy, (size_t)(T * H) * pl_cuda_dtype_size(dt)) ||
        gb_alloc(&gs, (size_t)(3 * T * H) * pl_cuda_dtype_size(dt)))
        goto out;
    /* the split on its own */
    if (pl_cuda_qkv_split(g_ctx, dt, gs.p, gq.p, gb.p, B, S, nh, hd) != PL_OK) {
        T_FAIL("%s: split: %s", what, pl_last_error());
        goto out;
    }
    for (int64_t t = 0; t < T; t++)
        for (int64_t c = 0; c < W; c++) {
            int64_t which = c / H, h = (c % H) / hd, d = c % hd, b = t / S, s = t % S;
            double v = (double)qkv[t * W + c] + bias[c];
            if (dt == PL_CUDA_F16) v = h2f(f2h((float)v));
            sref[which * T * H + ((b * nh + h) * S + s) * hd + d] = v;
        }
    if (gb_down(&gs, dt, split, 3 * T * H, "qkv_split") == 0)
        cmp("qkv_split", split, sref, 3 * T * H, thr_for(dt, 1e-14, 1e-12));
    /* the whole attention */
    if (pl_cuda_attention(g_ctx, dt, gy.p, gq.p, gb.p, masked ? gm.p : NULL, B, S, nh, hd,
                          (float)scale) != PL_OK) {
        T_FAIL("%s: %s", what, pl_last_error());
        goto out;
    }
    for (int64_t i = 0; i < T * W; i++) qd[i] = qkv[i];
    ref_attention(qd, bias, masked ? mask : NULL, B, S, nh, hd, scale, ref);
    if (gb_down(&gy, dt, y, T * H, what) == 0) cmp(what, y, ref, T * H, thr_for(dt, 1e-10, 2e-5));
out:
    gb_free(&gq), gb_free(&gb), gb_free(&gm), gb_free(&gy), gb_free(&gs);
    pl_free(qkv), pl_free(bias), pl_free(y), pl_free(split), pl_free(mask);
    pl_free(ref), pl_free(qd), pl_free(sref);
}

static void run_attention(void) {
    for (int dti = 0; dti < 2; dti++)
        for (int masked = 0; masked < 2; masked++) {
            enum pl_cuda_dtype dt = (enum pl_cuda_dtype)dti;
            attention_case(dt, 1, 1, 1, 1, masked);
            attention_case(dt, 2, 7, 3, 4, masked);
            attention_case(dt, 3, 33, 2, 16, masked);
            attention_case(dt, 2, 128, 12, 64, masked);
        }
}

static void embed_case(enum pl_cuda_dtype dt, int64_t B, int64_t S, int64_t H, int with_type,
                       int with_mask, int32_t pos_offset, int bad) {
    int64_t V = 50, P = S + 4, NT = 2, T = B * S;
    float *word = falloc(V * H), *pos = falloc(P * H), *type = falloc(NT * H), *g = falloc(H),
          *b = falloc(H), *y = falloc(T * H);
    int32_t *ids = pl_calloc((size_t)T, 4), *tt = pl_calloc((size_t)T, 4),
            *mask = pl_calloc((size_t)T, 4);
    double *ref = dalloc(T * H), *row = dalloc(H);
    struct gbuf gw, gp, gt, gg, gbb, gy, gi, gtt, gm;
    char what[128];
    memset(&gt, 0, sizeof gt), memset(&gtt, 0, sizeof gtt), memset(&gm, 0, sizeof gm);
    memset(&gy, 0, sizeof gy);
    snprintf(what, sizeof what, "embed %s B=%lld S=%lld H=%lld type=%d mask=%d off=%d bad=%d",
             dtn(dt), (long long)B, (long long)S, (long long)H, with_type, with_mask, pos_offset,
             bad);
    fill(word, V * H, -1, 1), fill(pos, P * H, -1, 1), fill(type, NT * H, -1, 1);
    fill(g, H, 0.5f, 1.5f), fill(b, H, -0.5f, 0.5f);
    for (int64_t i = 0; i < T; i++) {
        ids[i] = (int32_t)(rng_next() % (uint64_t)V);
        tt[i] = (int32_t)(rng_next() % (uint64_t)NT);
        mask[i] = (i % S) < S - (i / S); /* row b has b padded positions */
    }
    if (bad) ids[T - 1] = bad > 0 ? (int32_t)V : -1;
    if (gb_up(&gw, dt, word, V * H) || gb_up(&gp, dt, pos, P * H) ||
        (with_type && gb_up(&gt, dt, type, NT * H)) || gb_up(&gg, dt, g, H) ||
        gb_up(&gbb, dt, b, H) || gb_up_i32(&gi, ids, T) || (with_type && gb_up_i32(&gtt, tt, T)) ||
        (with_mask && gb_up_i32(&gm, mask, T)) ||
        gb_alloc(&gy, (size_t)(T * H) * pl_cuda_dtype_size(dt)))
        goto out;
    struct pl_cuda_embed_args a = {.ids = gi.p, .type_ids = with_type ? gtt.p : NULL,
                                   .mask = with_mask ? gm.p : NULL, .word = gw.p, .pos = gp.p,
                                   .type = with_type ? gt.p : NULL, .gamma = gg.p, .beta = gbb.p,
                                   .batch = B, .seq = S, .hidden = H, .vocab = V, .n_pos = P,
                                   .n_types = NT, .pos_offset = pos_offset, .pad_pos = 1,
                                   .eps = 1e-12f};
    if (pl_cuda_embed(g_ctx, dt, gy.p, &a) != PL_OK) {
        T_FAIL("%s: %s", what, pl_last_error());
        goto out;
    }
    pl_status st = pl_cuda_ctx_sync(g_ctx);
    if (bad) {
        if (st != PL_E_INVALID_ARG) T_FAIL("%s: sync gave %s, want PL_E_INVALID_ARG", what,
                                           pl_status_str(st));
        if (pl_cuda_ctx_sync(g_ctx) != PL_OK) T_FAIL("%s: error flag not cleared", what);
        ids[T - 1] = 0; /* the kernel reads row 0 instead */
    } else if (st != PL_OK) {
        T_FAIL("%s: sync: %s", what, pl_last_error());
        goto out;
    }
    for (int64_t t = 0; t < T; t++) {
        int64_t s = t % S, pid = (!with_mask || mask[t]) ? pos_offset + s : 1;
        for (int64_t c = 0; c < H; c++)
            row[c] = (double)word[ids[t] * H + c] + pos[pid * H + c] +
                     (with_type ? type[tt[t] * H + c] : 0);
        ref_ln(row, H, g, b, 1e-12, ref + t * H);
    }
    if (gb_down(&gy, dt, y, T * H, what) == 0) cmp(what, y, ref, T * H, thr_for(dt, 1e-10, 4e-6));
out:
    gb_free(&gw), gb_free(&gp), gb_free(&gt), gb_free(&gg), gb_free(&gbb), gb_free(&gy);
    gb_free(&gi), gb_free(&gtt), gb_free(&gm);
    pl_free(word), pl_free(pos), pl_free(type), pl_free(g), pl_free(b), pl_free(y);
    pl_free(ids), pl_free(tt), pl_free(mask), pl_free(ref), pl_free(row);
}

static void run_embed(void) {
    for (int dti = 0; dti < 2; dti++) {
        enum pl_cuda_dtype dt = (enum pl_cuda_dtype)dti;
        embed_case(dt, 1, 1, 1, 0, 0, 0, 0);
        embed_case(dt, 2, 9, 33, 1, 0, 0, 0);
        embed_case(dt, 3, 16, 768, 1, 1, 2, 0);
        embed_case(dt, 2, 5, 1030, 0, 1, 0, 0);
        embed_case(dt, 2, 5, 64, 1, 1, 0, 1);
        embed_case(dt, 2, 5, 64, 0, 0, 0, -1);
    }
}

/* One BERT layer, reference in double from the same (rounded) weights. */
static void ref_layer(const float *x0, const int32_t *mask, int64_t B, int64_t S, int64_t H,
                      int64_t nh, int64_t F, float *const *w, double *out) {
    /* w: qkv_w, qkv_b, o_w, o_b, ln1_g, ln1_b, ff1_w, ff1_b, ff2_w, ff2_b, ln2_g, ln2_b */
    int64_t T = B * S;
    double *qkv = dalloc(T * 3 * H), *att = dalloc(T * H), *a = dalloc(T * H), *f = dalloc(T * F),
           *row = dalloc(H > F ? H : F);
    for (int64_t t = 0; t < T; t++)
        for (int64_t j = 0; j < 3 * H; j++) {
            double s = 0;
            for (int64_t p = 0; p < H; p++) s += (double)x0[t * H + p] * w[0][j * H + p];
            qkv[t * 3 * H + j] = s;
        }
    ref_attention(qkv, w[1], mask, B, S, nh, H / nh, 1.0 / sqrt((double)(H / nh)), att);
    for (int64_t t = 0; t < T; t++) {
        for (int64_t j = 0; j < H; j++) {
            double s = w[3][j] + x0[t * H + j];
            for (int64_t p = 0; p < H; p++) s += att[t * H + p] * w[2][j * H + p];
            row[j] = s;
        }
        ref_ln(row, H, w[4], w[5], 1e-12, a + t * H);
    }
    for (int64_t t = 0; t < T; t++)
        for (int64_t j = 0; j < F; j++) {
            double s = w[7][j];
            for (int64_t p = 0; p < H; p++) s += a[t * H + p] * w[6][j * H + p];
            f[t * F + j] = ref_act(s, PL_CUDA_ACT_GELU_ERF);
        }
    for (int64_t t = 0; t < T; t++) {
        for (int64_t j = 0; j < H; j++) {
            double s = w[9][j] + a[t * H + j];
            for (int64_t p = 0; p < F; p++) s += f[t * F + p] * w[8][j * F + p];
            row[j] = s;
        }
        ref_ln(row, H, w[10], w[11], 1e-12, out + t * H);
    }
    pl_free(qkv), pl_free(att), pl_free(a), pl_free(f), pl_free(row);
}

static void layer_case(enum pl_cuda_dtype dt, int64_t B, int64_t S, int64_t H, int64_t nh,
                       int64_t F) {
    int64_t T = B * S;
    const int64_t sizes[12] = {3 * H * H, 3 * H, H * H, H, H, H, F * H, F, H * F, H, H, H};
    const int64_t fan_in[12] = {H, 0, H, 0, 0, 0, H, 0, F, 0, 0, 0};
    float *w[12] = {0}, *x = falloc(T * H), *y = falloc(T * H);
    struct gbuf gw[12], gx, gm;
    int32_t *mask = pl_calloc((size_t)T, 4);
    double *ref = dalloc(T * H);
    char what[128];
    struct pl_cuda_pool_stats ps0, ps1;
    memset(gw, 0, sizeof gw), memset(&gx, 0, sizeof gx), memset(&gm, 0, sizeof gm);
    snprintf(what, sizeof what, "encoder_layer %s B=%lld S=%lld H=%lld heads=%lld ffn=%lld",
             dtn(dt), (long long)B, (long long)S, (long long)H, (long long)nh, (long long)F);
    for (int i = 0; i < 12; i++) {
        float r = fan_in[i] ? 1.0f / sqrtf((float)fan_in[i]) : 0.2f;
        w[i] = falloc(sizes[i]);
        if (i == 4 || i == 10)
            fill(w[i], sizes[i], 0.8f, 1.2f); /* LayerNorm gammas */
        else
            fill(w[i], sizes[i], -r, r);
        if (gb_up(&gw[i], dt, w[i], sizes[i])) goto out;
    }
    fill(x, T * H, -1, 1);
    for (int64_t t = 0; t < T; t++) mask[t] = (t % S) < S - (t / S) * 3; /* row b: 3b padded */
    if (gb_up_i32(&gm, mask, T) || gb_up(&gx, dt, x, T * H)) goto out;
    struct pl_cuda_layer_weights lw = {gw[0].p, gw[1].p, gw[2].p, gw[3].p,  gw[4].p,  gw[5].p,
                                       gw[6].p, gw[7].p, gw[8].p, gw[9].p, gw[10].p, gw[11].p};
    struct pl_cuda_layer_shape shape = {.batch = B, .seq = S, .hidden = H, .heads = nh,
                                        .ffn = F, .eps = 1e-12f, .act = PL_CUDA_ACT_GELU_ERF};
    if (pl_cuda_encoder_layer(g_ctx, dt, &lw, &shape, gx.p, gm.p) != PL_OK) {
        T_FAIL("%s: %s", what, pl_last_error());
        goto out;
    }
    ref_layer(x, mask, B, S, H, nh, F, w, ref);
    if (gb_down(&gx, dt, y, T * H, what) == 0) cmp(what, y, ref, T * H, thr_for(dt, 1e-9, 5e-5));
    /* a second pass with the same shapes allocates no device memory */
    pl_cuda_pool_stats(g_ctx, &ps0);
    if (pl_cuda_encoder_layer(g_ctx, dt, &lw, &shape, gx.p, gm.p) != PL_OK ||
        pl_cuda_ctx_sync(g_ctx) != PL_OK) {
        T_FAIL("%s: second pass: %s", what, pl_last_error());
        goto out;
    }
    pl_cuda_pool_stats(g_ctx, &ps1);
    if (ps1.device_mallocs != ps0.device_mallocs || ps1.blocks_in_use != 0)
        T_FAIL("%s: second pass made %lld device allocations, %lld blocks still in use", what,
               (long long)(ps1.device_mallocs - ps0.device_mallocs),
               (long long)ps1.blocks_in_use);
out:
    for (int i = 0; i < 12; i++) gb_free(&gw[i]), pl_free(w[i]);
    gb_free(&gx), gb_free(&gm);
    pl_free(x), pl_free(y), pl_free(mask), pl_free(ref);
}

static void run_encoder_layer(void) {
    for (int dti = 0; dti < 2; dti++) {
        layer_case((enum pl_cuda_dtype)dti, 1, 1, 8, 2, 16);
        layer_case((enum pl_cuda_dtype)dti, 3, 16, 64, 4, 256);
        layer_case((enum pl_cuda_dtype)dti, 2, 40, 96, 3, 200);
    }
}

/* A captured encoder layer replays to the same bits as a direct call; a pool
 * allocation during capture is refused, not a crash. */
static void run_graph(void) {
    const int64_t B = 2, S = 24, H = 64, nh = 4, F = 128, T = B * S;
    const int64_t sizes[12] = {3 * H * H, 3 * H, H * H, H, H, H, F * H, F, H * F, H, H, H};
    float *w[12] = {0}, *x = falloc(T * H), *y1 = falloc(T * H), *y2 = falloc(T * H);
    struct gbuf gw[12], gx1, gx2, gx0;
    struct pl_cuda_graph *graph = NULL;
    void *big = NULL;
    memset(gw, 0, sizeof gw), memset(&gx1, 0, sizeof gx1), memset(&gx2, 0, sizeof gx2);
    memset(&gx0, 0, sizeof gx0);
    for (int i = 0; i < 12; i++) {
        w[i] = falloc(sizes[i]);
        fill(w[i], sizes[i], i == 4 || i == 10 ? 0.8f : -0.1f, i == 4 || i == 10 ? 1.2f : 0.1f);
        if (gb_up(&gw[i], PL_CUDA_F16, w[i], sizes[i])) goto out;
    }
    fill(x, T * H, -1, 1);
    if (gb_up(&gx0, PL_CUDA_F16, x, T * H) || gb_up(&gx1, PL_CUDA_F16, x, T * H) ||
        gb_up(&gx2, PL_CUDA_F16, x, T * H))
        goto out;
    struct pl_cuda_layer_weights lw = {gw[0].p, gw[1].p, gw[2].p, gw[3].p,  gw[4].p,  gw[5].p,
                                       gw[6].p, gw[7].p, gw[8].p, gw[9].p, gw[10].p, gw[11].p};
    struct pl_cuda_layer_shape shape = {.batch = B, .seq = S, .hidden = H, .heads = nh, .ffn = F,
                                        .eps = 1e-12f, .act = PL_CUDA_ACT_GELU_TANH};
    T_OK(pl_cuda_encoder_layer(g_ctx, PL_CUDA_F16, &lw, &shape, gx1.p, NULL)); /* warms the pool */
    T_OK(pl_cuda_capture_begin(g_ctx));
    if (pl_cuda_ctx_sync(g_ctx) != PL_E_INVALID_ARG) T_FAIL("sync allowed during capture");
    pl_status st = pl_cuda_encoder_layer(g_ctx, PL_CUDA_F16, &lw, &shape, gx2.p, NULL);
    pl_status st2 = pl_cuda_capture_end(g_ctx, &graph);
    if (st != PL_OK || st2 != PL_OK) {
        T_FAIL("capture: %s / %s: %s", pl_status_str(st), pl_status_str(st2), pl_last_error());
        goto out;
    }
    for (int rep = 0; rep < 3; rep++) { /* replay on fresh input each time */
        T_OK(pl_cuda_memcpy_d2d(g_ctx, gx2.p, gx0.p, gx0.n));
        T_OK(pl_cuda_graph_launch(graph));
    }
    if (gb_down(&gx1, PL_CUDA_F16, y1, T * H, "direct") || gb_down(&gx2, PL_CUDA_F16, y2, T * H, "graph"))
        goto out;
    { /* same kernels on the same data: equal up to cuBLAS algorithm choice under capture */
        double *r1 = dalloc(T * H);
        for (int64_t i = 0; i < T * H; i++) r1[i] = y1[i];
        cmp("graph replay vs direct call", y2, r1, T * H, 1e-6);
        pl_free(r1);
    }
    /* a pool allocation the warm-up did not make: refused during capture */
    T_OK(pl_cuda_capture_begin(g_ctx));
    st = pl_cuda_pool_alloc(g_ctx, (size_t)1 << 30, &big);
    if (st != PL_E_BACKEND || big) T_FAIL("pool alloc during capture gave %s", pl_status_str(st));
    struct pl_cuda_graph *empty = NULL;
    (void)pl_cuda_capture_end(g_ctx, &empty);
    pl_cuda_graph_destroy(empty);
    T_OK(pl_cuda_ctx_sync(g_ctx));
out:
    pl_cuda_graph_destroy(graph);
    for (int i = 0; i < 12; i++) gb_free(&gw[i]), pl_free(w[i]);
    gb_free(&gx0), gb_free(&gx1), gb_free(&gx2);
    pl_free(x), pl_free(y1), pl_free(y2);
}

/* Bad arguments return PL_E_INVALID_ARG and queue nothing. */
static void run_bad_args(void) {
    struct pl_cuda_ctx *c2 = NULL;
    void *p = NULL;
    struct gbuf a;
    int n = -1;
#define EXPECT_INVALID(expr)                                                                       \
    do {                                                                                           \
        pl_status t__s = (expr);                                                                   \
        if (t__s != PL_E_INVALID_ARG) T_FAIL("%s -> %s, want PL_E_INVALID_ARG", #expr,            \
                                             pl_status_str(t__s));                                 \
    } while (0)
    T_OK(pl_cuda_device_count(&n));
    if (n < 1) T_FAIL("device count %d inside a GPU test", n);
    EXPECT_INVALID(pl_cuda_ctx_create(-1, &c2));
    EXPECT_INVALID(pl_cuda_ctx_create(n, &c2));
    if (c2) T_FAIL("ctx_create failure left *out set");
    EXPECT_INVALID(pl_cuda_malloc(g_ctx, 0, &p));
    EXPECT_INVALID(pl_cuda_pool_alloc(g_ctx, 0, &p));
    if (gb_alloc(&a, 4096)) return;
    struct pl_cuda_gemm g = {.ab_type = PL_CUDA_F32, .c_type = PL_CUDA_F32, .m = 4, .n = 4,
                             .k = 4, .batch = 1, .alpha = 1, .a = a.p, .lda = 4, .b = a.p,
                             .ldb = 4, .c = a.p, .ldc = 4};
    T_OK(pl_cuda_gemm(g_ctx, &g));
    g.lda = 3;
    EXPECT_INVALID(pl_cuda_gemm(g_ctx, &g));
    g.lda = 4, g.k = 0;
    EXPECT_INVALID(pl_cuda_gemm(g_ctx, &g));
    g.k = 4, g.m = (int64_t)1 << 40;
    EXPECT_INVALID(pl_cuda_gemm(g_ctx, &g));
    g.m = 4, g.a = NULL;
    EXPECT_INVALID(pl_cuda_gemm(g_ctx, &g));
    g.a = a.p, g.ab_type = (enum pl_cuda_dtype)7;
    EXPECT_INVALID(pl_cuda_gemm(g_ctx, &g));
    EXPECT_INVALID(pl_cuda_gemm(NULL, &g));
    EXPECT_INVALID(pl_cuda_bias_act(g_ctx, PL_CUDA_F32, a.p, NULL, 0, 4, PL_CUDA_ACT_RELU));
    EXPECT_INVALID(pl_cuda_bias_act(g_ctx, PL_CUDA_F32, a.p, NULL, 4, 4, (enum pl_cuda_act)9));
    EXPECT_INVALID(pl_cuda_add_layernorm(g_ctx, PL_CUDA_F32, a.p, a.p, NULL, NULL, NULL, a.p, 2,
                                         4, 1e-5f));
    EXPECT_INVALID(pl_cuda_add_layernorm(g_ctx, PL_CUDA_F16, a.p, a.p, NULL, NULL, a.p, a.p, 2,
                                         4, 0.0f));
    EXPECT_INVALID(pl_cuda_softmax(g_ctx, PL_CUDA_F32, a.p, a.p, NULL, 0, 2, 4, 1.0f));
    EXPECT_INVALID(pl_cuda_softmax(g_ctx, PL_CUDA_F32, a.p, a.p, NULL, 1, 2, -4, 1.0f));
    EXPECT_INVALID(pl_cuda_attention(g_ctx, PL_CUDA_F32, a.p, a.p, NULL, NULL, 1, 4, 2, 2, 1.0f));
    EXPECT_INVALID(pl_cuda_attention(g_ctx, PL_CUDA_F32, (char *)a.p + 1024, a.p, NULL, NULL,
                                     (int64_t)1 << 40, (int64_t)1 << 40, 2, 2, 1.0f));
    EXPECT_INVALID(pl_cuda_qkv_split(g_ctx, PL_CUDA_F16, a.p, a.p, NULL, 1, 1, 1, 1));
    EXPECT_INVALID(pl_cuda_embed(g_ctx, PL_CUDA_F32, a.p, NULL));
    EXPECT_INVALID(pl_cuda_memcpy_h2d(g_ctx, NULL, &n, 4));
    EXPECT_INVALID(pl_cuda_encoder_layer(g_ctx, PL_CUDA_F32, NULL, NULL, a.p, NULL));
    T_OK(pl_cuda_ctx_sync(g_ctx));
    gb_free(&a);
#undef EXPECT_INVALID
}

static void run_pool(void) {
    void *p1 = NULL, *p2 = NULL, *p3 = NULL;
    struct pl_cuda_pool_stats st;
    T_OK(pl_cuda_pool_alloc(g_ctx, 1000, &p1));
    T_OK(pl_cuda_pool_alloc(g_ctx, 5000, &p2));
    if (((uintptr_t)p1 & 255) || ((uintptr_t)p2 & 255)) T_FAIL("pool blocks not 256-aligned");
    pl_cuda_pool_free(g_ctx, p1);
    T_OK(pl_cuda_pool_alloc(g_ctx, 900, &p3)); /* reuses p1's block */
    if (p3 != p1) T_FAIL("pool did not reuse a free block of the right size");
    pl_cuda_pool_free(g_ctx, p3);
    T_OK(pl_cuda_pool_alloc(g_ctx, 100, &p3)); /* too small for p1's block (> 2x) */
    if (p3 == p1) T_FAIL("pool handed out a block more than twice the request");
    pl_cuda_pool_stats(g_ctx, &st);
    if (st.device_mallocs != 3 || st.blocks != 3 || st.blocks_in_use != 2)
        T_FAIL("pool stats: mallocs %lld blocks %lld in use %lld", (long long)st.device_mallocs,
               (long long)st.blocks, (long long)st.blocks_in_use);
    pl_cuda_pool_free(g_ctx, p2);
    pl_cuda_pool_free(g_ctx, p3);
    pl_cuda_pool_trim(g_ctx);
    pl_cuda_pool_stats(g_ctx, &st);
    if (st.blocks != 0 || st.bytes_reserved != 0) T_FAIL("pool trim kept %lld blocks",
                                                         (long long)st.blocks);
}

/* ---- runners ----------------------------------------------------------------- */

typedef void (*test_fn)(void);

/* Set up a context, run fn, tear down. Returns the number of failures. */
static int run_one(const char *name, test_fn fn) {
    const char *env = getenv("PL_TEST_SEED");
    if (env && *env) g_seed = strtoull(env, NULL, 10);
    g_rng = g_seed ? g_seed : 1;
    g_fail = 0;
    if (pl_cuda_ctx_create(0, &g_ctx) != PL_OK) {
        fprintf(stderr, "FAIL %s: context: %s\n", name, pl_last_error());
        return 1;
    }
    fn();
    pl_status st = pl_cuda_ctx_sync(g_ctx);
    if (st != PL_OK) T_FAIL("%s: final sync: %s", name, pl_last_error());
    pl_cuda_ctx_destroy(g_ctx);
    g_ctx = NULL;
    return g_fail;
}

static const struct {
    const char *name;
    test_fn fn;
} tests[] = {
    {"pool", run_pool},         {"bad_args", run_bad_args},   {"gemm", run_gemm},
    {"linear_act", run_linear_act}, {"layernorm", run_layernorm}, {"softmax", run_softmax},
    {"attention", run_attention}, {"embed", run_embed},       {"encoder_layer", run_encoder_layer},
    {"graph", run_graph},
};

/* Probe for a device in a child so this process never initializes CUDA. */
static int have_device(void) {
    pid_t pid = fork();
    int status = 0;
    if (pid < 0) return 0;
    if (pid == 0) {
        int n = 0;
        if (pl_cuda_device_count(&n) != PL_OK) n = 0;
        _exit(n > 0 ? 3 : 4);
    }
    if (waitpid(pid, &status, 0) != pid) return 0;
    return WIFEXITED(status) && WEXITSTATUS(status) == 3;
}

#ifdef PL_TEST_NO_CHECK
int main(void) {
    int failed = 0;
    if (!have_device()) {
        printf("skipped: no CUDA device\n");
        return 0;
    }
    for (size_t i = 0; i < PL_ARRAY_LEN(tests); i++) {
        int f = run_one(tests[i].name, tests[i].fn);
        printf("%-14s %s\n", tests[i].name, f ? "FAILED" : "ok");
        fflush(stdout);
        failed += f ? 1 : 0;
    }
    printf("%d of %zu CUDA tests failed\n", failed, PL_ARRAY_LEN(tests));
    return failed ? 1 : 0;
}
#else
#define CK_CASE(n)                                                                                 \
    START_TEST(test_##n) {                                                                         \
        int f = run_one(#n, run_##n);                                                              \
        ck_assert_msg(f == 0, "%s: %d failures (see stderr; seed %llu)", #n, f,                    \
                      (unsigned long long)g_seed);                                                 \
    }                                                                                              \
    END_TEST
CK_CASE(pool)
CK_CASE(bad_args)
CK_CASE(gemm)
CK_CASE(linear_act)
CK_CASE(layernorm)
CK_CASE(softmax)
CK_CASE(attention)
CK_CASE(embed)
CK_CASE(encoder_layer)
CK_CASE(graph)

Suite *pl_cuda_suite(void) {
    Suite *s = suite_create("cuda");
    if (!have_device()) {
        printf("skipped: no CUDA device\n");
        fflush(stdout);
        return s;
    }
    TCase *tc = tcase_create("kernels");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_pool);
    tcase_add_test(tc, test_bad_args);
    tcase_add_test(tc, test_gemm);
    tcase_add_test(tc, test_linear_act);
    tcase_add_test(tc, test_layernorm);
    tcase_add_test(tc, test_softmax);
    tcase_add_test(tc, test_attention);
    tcase_add_test(tc, test_embed);
    tcase_add_test(tc, test_encoder_layer);
    tcase_add_test(tc, test_graph);
    suite_add_tcase(s, tc);
    (void)tests;
    return s;
}
#endif
