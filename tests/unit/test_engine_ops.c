/*
 * test_engine_ops.c - every CPU op x dtype x shape against the scalar
 * reference mode, for every kernel family this CPU can run (generic, avx2,
 * avx512, avx512bf16), including the sequence ops of the ASR model and the VAD. Checks NMSE per op (normalized by max(sum ref^2, n)), NaN/Inf, and guard bytes around outputs.
 * The seed is printed on failure.
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "backend.h"
#include "tensor.h"

#define GUARD 64
#define SEED 12345u

static uint32_t rng_state;
static float frand(void) {
    rng_state = rng_state * 1664525u + 1013904223u;
    return ((rng_state >> 8) / 16777216.0f) * 2.0f - 1.0f;
}

/* A test arena: one host buffer, tensors placed with guard bytes between. */
struct arena {
    struct pl_backend *be;
    struct pl_buffer *buf;
    struct pl_ctx *ctx;
    size_t used;
};

static void arena_init(struct arena *a, struct pl_backend *be, size_t size) {
    a->be = be;
    ck_assert_int_eq(pl_backend_buffer_alloc(be, size, &a->buf), PL_OK);
    memset(pl_buffer_base(a->buf), 0xA5, size);
    ck_assert_int_eq(pl_ctx_create(256, &a->ctx), PL_OK);
    a->used = GUARD;
}

static void arena_deinit(struct arena *a) {
    pl_buffer_free(a->buf);
    pl_ctx_destroy(a->ctx);
}

static void place(struct arena *a, struct pl_tensor *t) {
    ck_assert_int_eq(pl_tensor_place(t, a->buf, a->used), PL_OK);
    a->used += (pl_tensor_nbytes(t) + GUARD + 63) & ~(size_t)63;
}

static struct pl_tensor *leaf(struct arena *a, enum pl_dtype dt, int nd, const int64_t *shape) {
    struct pl_tensor *t;
    ck_assert_int_eq(pl_tensor_new(a->ctx, dt, nd, shape, &t), PL_OK);
    place(a, t);
    int64_t n = pl_tensor_nelements(t);
    for (int64_t i = 0; i < n; i++) {
        float v = frand();
        switch (dt) {
        case PL_DTYPE_F32: ((float *)t->data)[i] = v; break;
        case PL_DTYPE_F16: ((uint16_t *)t->data)[i] = pl_f32_to_f16(v); break;
        case PL_DTYPE_BF16: ((uint16_t *)t->data)[i] = pl_f32_to_bf16(v); break;
        case PL_DTYPE_I8: ((int8_t *)t->data)[i] = (int8_t)(v * 127); break;
        default: ((int32_t *)t->data)[i] = 0;
        }
    }
    return t;
}

static bool guards_ok(const struct pl_tensor *t) {
    const unsigned char *p = t->data;
    size_t nb = pl_tensor_nbytes(t);
    for (int i = 1; i <= GUARD; i++)
        if (p[-i] != 0xA5 || p[nb + i - 1] != 0xA5) return false;
    return true;
}

static struct pl_backend *be_ref;
static const char *families[] = {"generic", "avx2", "avx512", "avx512bf16", "avx2vnni", "avx512novnni"};
/* avx512bf16 differs from avx512 only in the bf16 GEMM: run it in the bf16 tests only */
static bool with_bf16_family;

/* avx2vnni differs from avx2 only in the packed int8 GEMM, avx512novnni from avx512 only in
 * the int8 GEMMs (avx2's): run them on int8 Linear ops only */
static bool is_int8_linear(const struct pl_tensor *t) {
    return t->op == PL_OP_LINEAR && t->src[1] && t->src[1]->dtype == PL_DTYPE_I8;
}

/* Compute op tensor `t` (placed) with cpu-ref into t, then with each kernel
 * family into a clone, compare. */
static void check_op(struct arena *a, struct pl_tensor *t, double tol, const char *what) {
    struct pl_graph *g;
    ck_assert_int_eq(pl_graph_create(4, &g), PL_OK);
    place(a, t);
    ck_assert_int_eq(pl_graph_add(g, t), PL_OK);
    ck_assert_msg(pl_backend_graph_compute(be_ref, g) == PL_OK, "%s: ref failed: %s", what,
                  pl_last_error());
    int64_t n = pl_tensor_nelements(t);
    const float *ref = t->data;
    for (int64_t i = 0; i < n; i++) ck_assert_msg(isfinite(ref[i]), "%s: ref output not finite", what);
    ck_assert_msg(guards_ok(t), "%s: ref wrote outside its output", what);
    for (size_t f = 0; f < PL_ARRAY_LEN(families); f++) {
        setenv("PARLEY_CPU_KERNELS", families[f], 1);
        struct pl_backend *be;
        ck_assert_int_eq(pl_backend_create("cpu", &be), PL_OK);
        /* CPU lacks the family, or the portable family on a large output (it is
         * covered on the small shapes; keeps the sanitizer run short). */
        if (strcmp(pl_backend_cpu_kernels(be), families[f]) != 0 || (f == 0 && n > 4096) ||
            (f == 3 && !with_bf16_family) || (f >= 4 && !is_int8_linear(t))) {
            pl_backend_destroy(be);
            continue;
        }
        /* 3 threads (more than this machine has) for the SIMD families. */
        for (int threads = 1; threads <= 3; threads += strcmp(families[f], "generic") ? 2 : 3) {
            ck_assert_int_eq(pl_backend_cpu_set_threads(be, threads), PL_OK);
            struct pl_tensor *t2 = pl_ctx_n_tensors(a->ctx) < 255 ? NULL : NULL;
            ck_assert_int_eq(pl_tensor_new(a->ctx, t->dtype, t->n_dims, t->shape, &t2), PL_OK);
            t2->op = t->op;
            memcpy(t2->src, t->src, sizeof t->src);
            memcpy(t2->op_params, t->op_params, sizeof t->op_params);
            place(a, t2);
            pl_graph_reset(g);
            ck_assert_int_eq(pl_graph_add(g, t2), PL_OK);
            ck_assert_msg(pl_backend_graph_compute(be, g) == PL_OK, "%s: %s failed: %s", what,
                          families[f], pl_last_error());
            double num = 0, den = 0;
            const float *out = t2->data;
            for (int64_t i = 0; i < n; i++) {
                ck_assert_msg(isfinite(out[i]), "%s [%s]: output %lld not finite (seed %u)", what,
                              families[f], (long long)i, SEED);
                num += ((double)out[i] - ref[i]) * ((double)out[i] - ref[i]);
                den += (double)ref[i] * ref[i];
            }
            /* Error relative to the output's energy, but never finer than an
             * absolute error per element (values of order 1). */
            double nmse = num / fmax(den, (double)n);
            ck_assert_msg(nmse <= tol, "%s [%s, %d threads]: nmse %g > %g (seed %u)", what,
                          families[f], threads, nmse, tol, SEED);
            ck_assert_msg(guards_ok(t2), "%s [%s]: wrote outside its output", what, families[f]);
        }
        pl_backend_destroy(be);
    }
    unsetenv("PARLEY_CPU_KERNELS");
    pl_graph_destroy(g);
}

static void setup(void) {
    rng_state = SEED;
    ck_assert_int_eq(pl_backend_create("cpu-ref", &be_ref), PL_OK);
}
static void teardown(void) { pl_backend_destroy(be_ref); }

START_TEST(test_linear) {
    static const int shapes[][3] = {{1, 1, 1},   {3, 4, 8},     {5, 7, 13},   {17, 64, 96},
                                    {4, 9, 1030}, {200, 70, 33}, {2, 130, 64}, {7, 3, 300}};
    enum pl_dtype dts[] = {PL_DTYPE_F32, PL_DTYPE_F16, PL_DTYPE_BF16, PL_DTYPE_I8};
    for (size_t s = 0; s < PL_ARRAY_LEN(shapes); s++)
        for (size_t d = 0; d < PL_ARRAY_LEN(dts); d++)
            for (int act = 0; act < PL_ACT_COUNT; act++) {
                if (act > 0 && (s % 2 == 1 || d > 0)) continue; /* keep the matrix fast */
                struct arena a;
                arena_init(&a, be_ref, 16 << 20);
                int64_t m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
                struct pl_tensor *x = leaf(&a, PL_DTYPE_F32, 2, (int64_t[]){m, k});
                struct pl_tensor *w = leaf(&a, dts[d], 2, (int64_t[]){n, k});
                struct pl_tensor *b = s % 3 ? leaf(&a, PL_DTYPE_F32, 1, (int64_t[]){n}) : NULL;
                struct pl_tensor *sc = dts[d] == PL_DTYPE_I8
                                           ? leaf(&a, PL_DTYPE_F32, 1, (int64_t[]){n})
                                           : NULL;
                if (sc)
                    for (int64_t i = 0; i < n; i++) ((float *)sc->data)[i] = fabsf(((float *)sc->data)[i]) * 0.01f + 1e-3f;
                struct pl_tensor *y;
                ck_assert_int_eq(pl_op_linear(a.ctx, x, w, sc, b, (enum pl_act)act, &y), PL_OK);
                char what[96];
                snprintf(what, sizeof what, "linear %lldx%lldx%lld %s act %d", (long long)m,
                         (long long)n, (long long)k, pl_dtype_name(dts[d]), act);
                check_op(&a, y, 1e-9, what);
                arena_deinit(&a);
            }
}
END_TEST

/* The packed int8 GEMM (AVX-512, AVX2 and AVX-VNNI families): int8 weights packed at load
 * (pl_backend_cpu_pack_weight), dequantization, bias and activation in its
 * registers. Tails of every tile dimension: rows 12/8/4/2/1 and their sums
 * (AVX-512), 6 and 5-1 (AVX2, AVX-VNNI), a 32-column panel and its 16-column
 * halves, K not a multiple of 4; one
 * thread (tasks of 64 columns x 192 rows) and three (check_op); the packed
 * bytes (one panel entry and a column sum). Families without it must ignore
 * w->packed. */
START_TEST(test_linear_i8_packed) {
    static const int shapes[][3] = {{1, 1, 1},    {3, 17, 5},    {13, 33, 64}, {27, 70, 257},
                                    {11, 96, 768}, {200, 130, 7}, {7, 40, 3072}, {25, 16, 30},
                                    {10, 48, 36}};
    struct pl_backend *fast;
    ck_assert_int_eq(pl_backend_create("cpu", &fast), PL_OK);
    for (size_t s = 0; s < PL_ARRAY_LEN(shapes); s++)
        for (int act = 0; act < PL_ACT_COUNT; act++) {
            if (act > 1 && s % 2) continue; /* keep the matrix fast */
            struct arena a;
            arena_init(&a, be_ref, 32 << 20);
            int64_t m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
            struct pl_tensor *x = leaf(&a, PL_DTYPE_F32, 2, (int64_t[]){m, k});
            struct pl_tensor *w = leaf(&a, PL_DTYPE_I8, 2, (int64_t[]){n, k});
            struct pl_tensor *b = (s + act) % 2 ? leaf(&a, PL_DTYPE_F32, 1, (int64_t[]){n}) : NULL;
            struct pl_tensor *sc = leaf(&a, PL_DTYPE_F32, 1, (int64_t[]){n});
            for (int64_t i = 0; i < n; i++)
                ((float *)sc->data)[i] = fabsf(((float *)sc->data)[i]) * 0.01f + 1e-3f;
            const int8_t *wd = w->data;
            struct pl_buffer *pk = NULL;
            ck_assert_int_eq(pl_backend_cpu_pack_weight(fast, w, &pk), PL_OK);
            ck_assert(!pk == !w->packed);
            if (pk) {
                const int8_t *p = w->packed;
                int64_t kp = (k + 3) / 4 * 4, np = (n + 31) / 32 * 32;
                if (n > 1 && k > 1) ck_assert_int_eq(p[4 + 1], wd[k + 1]); /* row 1, K byte 1 */
                int32_t s0 = 0;
                for (int64_t l = 0; l < k; l++) s0 += wd[l];
                int32_t got;
                memcpy(&got, p + np * kp, sizeof got);
                ck_assert_int_eq(got, 128 * s0); /* column 0's sum after the panels */
            }
            struct pl_tensor *y;
            ck_assert_int_eq(pl_op_linear(a.ctx, x, w, sc, b, (enum pl_act)act, &y), PL_OK);
            char what[96];
            snprintf(what, sizeof what, "linear int8 %lldx%lldx%lld act %d packed %d%s", (long long)m,
                     (long long)n, (long long)k, act, pk != NULL, b ? " bias" : "");
            check_op(&a, y, 1e-9, what);
            pl_buffer_free(pk);
            arena_deinit(&a);
        }
    pl_backend_destroy(fast);
}
END_TEST

/* bf16 weights (models in "precision": "bf16"): packed at load into K pairs
 * for AVX-512 BF16's vdpbf16ps where the family has it, else widened into the
 * f32 panels; each family also runs the other family's packing (the layout
 * it cannot read is left alone: packed_dtype). Activations that are bf16
 * values already make the bf16 GEMM exact up to f32 sums (tight tolerance),
 * tails of every tile dimension (rows 12/8/4/2/1, a panel and its halves, an
 * odd K); then activations of full f32 precision, rounded by the GEMM
 * (relative error 2^-9 per product). */
START_TEST(test_linear_bf16) {
    static const int shapes[][3] = {{1, 1, 1},   {3, 17, 5},   {13, 33, 64},  {27, 70, 257},
                                    {11, 96, 768}, {200, 130, 7}, {7, 40, 3072}, {25, 16, 30}};
    struct pl_backend *fast, *wide;
    ck_assert_int_eq(pl_backend_create("cpu", &fast), PL_OK);
    setenv("PARLEY_CPU_KERNELS", "avx2", 1);
    ck_assert_int_eq(pl_backend_create("cpu", &wide), PL_OK);
    unsetenv("PARLEY_CPU_KERNELS");
    bool bf16 = strcmp(pl_backend_cpu_kernels(fast), "avx512bf16") == 0;
    with_bf16_family = true;
    for (size_t s = 0; s < PL_ARRAY_LEN(shapes); s++)
        for (int act = 0; act < 2; act++)
            for (int packer = 0; packer < 3; packer++) { /* none, the best family, avx2 */
                struct arena a;
                arena_init(&a, be_ref, 32 << 20);
                int64_t m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
                struct pl_tensor *x = leaf(&a, PL_DTYPE_F32, 2, (int64_t[]){m, k});
                float *xd = x->data;
                for (int64_t i = 0; i < m * k; i++) xd[i] = pl_bf16_to_f32(pl_f32_to_bf16(xd[i]));
                struct pl_tensor *w = leaf(&a, PL_DTYPE_BF16, 2, (int64_t[]){n, k});
                struct pl_tensor *b = (s + act) % 2 ? leaf(&a, PL_DTYPE_F32, 1, (int64_t[]){n}) : NULL;
                struct pl_buffer *pk = NULL;
                if (packer) {
                    ck_assert_int_eq(pl_backend_cpu_pack_weight(packer == 1 ? fast : wide, w, &pk),
                                     PL_OK);
                    ck_assert(!pk == !w->packed);
                }
                if (pk && packer == 1 && bf16) {
                    ck_assert_int_eq(w->packed_dtype, PL_DTYPE_BF16);
                    const uint16_t *p = w->packed, *wd = w->data;
                    if (n > 1 && k > 1) ck_assert_int_eq(p[2 + 1], wd[k + 1]); /* row 1, K 1 */
                } else if (pk) {
                    ck_assert_int_eq(w->packed_dtype, PL_DTYPE_F32);
                    ck_assert(((const float *)w->packed)[0] == pl_bf16_to_f32(*(uint16_t *)w->data));
                }
                struct pl_tensor *y;
                ck_assert_int_eq(pl_op_linear(a.ctx, x, w, NULL, b, (enum pl_act)act, &y), PL_OK);
                char what[96];
                snprintf(what, sizeof what, "linear bf16 %lldx%lldx%lld act %d packer %d%s",
                         (long long)m, (long long)n, (long long)k, act, packer, b ? " bias" : "");
                check_op(&a, y, 1e-9, what);
                if (packer == 1 && s % 2 == 0) { /* full-precision activations */
                    for (int64_t i = 0; i < m * k; i++) xd[i] += 1e-3f * frand();
                    struct pl_tensor *y2;
                    ck_assert_int_eq(pl_op_linear(a.ctx, x, w, NULL, b, (enum pl_act)act, &y2), PL_OK);
                    snprintf(what, sizeof what, "linear bf16 %lldx%lldx%lld act %d, f32 activations",
                             (long long)m, (long long)n, (long long)k, act);
                    check_op(&a, y2, 1e-5, what);
                }
                pl_buffer_free(pk);
                arena_deinit(&a);
            }
    with_bf16_family = false;
    pl_backend_destroy(wide);
    pl_backend_destroy(fast);
}
END_TEST

/* The packed GEMM (AVX-512 and AVX2 families): weights packed at load
 * (pl_backend_cpu_pack_weight), the bias and activation in its registers:
 * tails of every tile dimension (rows 12/8/6/5/4/3/2/1, a 32-column panel and its
 * 16-column halves, the K block), every activation; the same shapes unpacked
 * (the other kernel). Both families' pack_b give the same bytes (one layout,
 * made at load by the selected family, read by the other in check_op).
 * Families without it must ignore w->packed. */
START_TEST(test_linear_packed) {
    static const int shapes[][3] = {{1, 1, 1},      {7, 33, 5},    {11, 70, 257}, {64, 96, 300},
                                    {200, 130, 520}, {13, 64, 768}, {75, 17, 16},  {17, 40, 9},
                                    {2, 50, 40},     {3, 24, 130},
                                    /* 1 thread: 600 = 3 x 160 + 120 rows; 3 row blocks */
                                    {200, 600, 130}, {400, 100, 70}};
    struct pl_backend *fast, *fast2 = NULL;
    ck_assert_int_eq(pl_backend_create("cpu", &fast), PL_OK);
    setenv("PARLEY_CPU_KERNELS", "avx2", 1);
    ck_assert_int_eq(pl_backend_create("cpu", &fast2), PL_OK);
    unsetenv("PARLEY_CPU_KERNELS");
    if (strcmp(pl_backend_cpu_kernels(fast2), "avx2") != 0 ||
        strcmp(pl_backend_cpu_kernels(fast), "avx2") == 0) { /* only one of them here */
        pl_backend_destroy(fast2);
        fast2 = NULL;
    }
    for (size_t s = 0; s < PL_ARRAY_LEN(shapes); s++)
        for (int act = 0; act < PL_ACT_COUNT; act++)
            for (int packed = 0; packed < 2; packed++) {
                struct arena a;
                arena_init(&a, be_ref, 16 << 20);
                int64_t m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
                struct pl_tensor *x = leaf(&a, PL_DTYPE_F32, 2, (int64_t[]){m, k});
                struct pl_tensor *w = leaf(&a, PL_DTYPE_F32, 2, (int64_t[]){n, k});
                struct pl_tensor *b =
                    (s + act) % 2 ? leaf(&a, PL_DTYPE_F32, 1, (int64_t[]){n}) : NULL;
                struct pl_buffer *pk = NULL, *pk2 = NULL;
                if (packed) {
                    ck_assert_int_eq(pl_backend_cpu_pack_weight(fast, w, &pk), PL_OK);
                    ck_assert(!pk == !w->packed);
                    if (pk && n * k >= 4)
                        ck_assert(((const float *)w->packed)[1] == ((const float *)w->data)[k] ||
                                  n == 1); /* column 1 of the panel is row 1 of w */
                    if (pk && fast2) { /* the AVX2 family packs the same bytes; use its copy */
                        ck_assert_int_eq(pl_backend_cpu_pack_weight(fast2, w, &pk2), PL_OK);
                        ck_assert_ptr_nonnull(pk2);
                        ck_assert(w->packed == pl_buffer_base(pk2));
                        ck_assert(memcmp(pl_buffer_base(pk), pl_buffer_base(pk2),
                                         (size_t)((n + 31) / 32 * 32 * k) * sizeof(float)) == 0);
                    }
                }
                struct pl_tensor *y;
                ck_assert_int_eq(pl_op_linear(a.ctx, x, w, NULL, b, (enum pl_act)act, &y), PL_OK);
                char what[96];
                snprintf(what, sizeof what, "linear %lldx%lldx%lld act %d packed %d%s",
                         (long long)m, (long long)n, (long long)k, act, packed, b ? " bias" : "");
                check_op(&a, y, 1e-9, what);
                pl_buffer_free(pk2);
                pl_buffer_free(pk);
                arena_deinit(&a);
            }
    /* not a placed 2-D weight */
    struct arena a;
    arena_init(&a, be_ref, 1 << 20);
    struct pl_tensor *v = leaf(&a, PL_DTYPE_F32, 1, (int64_t[]){8});
    struct pl_buffer *pk = (struct pl_buffer *)1;
    ck_assert_int_eq(pl_backend_cpu_pack_weight(fast, v, &pk), PL_E_INVALID_ARG);
    ck_assert_ptr_null(pk);
    arena_deinit(&a);
    if (fast2) pl_backend_destroy(fast2);
    pl_backend_destroy(fast);
}
END_TEST

START_TEST(test_rowwise) {
    static const int shapes[][2] = {{1, 1}, {3, 7}, {16, 768}, {5, 33}, {70, 130}};
    for (size_t s = 0; s < PL_ARRAY_LEN(shapes); s++) {
        struct arena a;
        arena_init(&a, be_ref, 8 << 20);
        int64_t r = shapes[s][0], h = shapes[s][1];
        struct pl_tensor *x = leaf(&a, PL_DTYPE_F32, 2, (int64_t[]){r, h});
        for (int64_t i = 0; i < r * h; i++) ((float *)x->data)[i] *= 6.0f; /* reach GELU tails */
        struct pl_tensor *x2 = leaf(&a, PL_DTYPE_F32, 2, (int64_t[]){r, h});
        struct pl_tensor *bias = leaf(&a, PL_DTYPE_F32, 1, (int64_t[]){h});
        struct pl_tensor *g = leaf(&a, PL_DTYPE_F32, 1, (int64_t[]){h});
        struct pl_tensor *be = leaf(&a, PL_DTYPE_F32, 1, (int64_t[]){h});
        struct pl_tensor *mask = leaf(&a, PL_DTYPE_I32, 2, (int64_t[]){r, h});
        for (int64_t i = 0; i < r * h; i++) ((int32_t *)mask->data)[i] = (i % 5) != 3;
        char what[64];
        for (int act = 0; act < PL_ACT_COUNT; act++) {
            struct pl_tensor *y;
            ck_assert_int_eq(pl_op_act(a.ctx, x, act % 2 ? bias : NULL, act, &y), PL_OK);
            snprintf(what, sizeof what, "act %d [%lld,%lld]", act, (long long)r, (long long)h);
            check_op(&a, y, 1e-11, what);
        }
        struct pl_tensor *y;
        ck_assert_int_eq(pl_op_add(a.ctx, x, x2, &y), PL_OK);
        check_op(&a, y, 1e-14, "add");
        ck_assert_int_eq(pl_op_layer_norm(a.ctx, x, x2, g, be, 1e-12f, &y), PL_OK);
        check_op(&a, y, 1e-10, "layer_norm+residual");
        ck_assert_int_eq(pl_op_layer_norm(a.ctx, x, NULL, g, be, 1e-5f, &y), PL_OK);
        check_op(&a, y, 1e-10, "layer_norm");
        ck_assert_int_eq(pl_op_softmax(a.ctx, x, NULL, 0.5f, &y), PL_OK);
        check_op(&a, y, 1e-11, "softmax");
        ck_assert_int_eq(pl_op_softmax(a.ctx, x, mask, 1.0f, &y), PL_OK);
        check_op(&a, y, 1e-11, "softmax masked");
        arena_deinit(&a);
    }
}
END_TEST

/* The fused kernels' cases: key blocks of 64 with tails (130, 300), query
 * blocks of 6 with tails, head sizes below 8, not a multiple of 16 (48) or of
 * 8 (20, 12), above 64 (80); {batch, seq, hidden, heads}. */
static const int att_shapes[][4] = {{1, 1, 8, 2},    {2, 5, 12, 3},    {3, 37, 64, 4},
                                    {1, 130, 96, 2}, {2, 20, 768, 12}, {1, 300, 128, 2},
                                    {2, 70, 160, 2}, {2, 9, 60, 3},    {1, 70, 36, 3}};

/* An attention node over random qkv for att_shapes[s]: masked 0 (none), 1 (a
 * tail per batch row), 2 (every third key); Q and K times qk_gain; every input
 * rounded to bf16 when exact. */
static struct pl_tensor *attention_case(struct arena *a, size_t s, int masked, float qk_gain,
                                        bool exact, char *what, size_t what_len) {
    int64_t b = att_shapes[s][0], sn = att_shapes[s][1], h = att_shapes[s][2];
    int nh = att_shapes[s][3];
    struct pl_tensor *qkv = leaf(a, PL_DTYPE_F32, 3, (int64_t[]){b, sn, 3 * h});
    float *x = qkv->data;
    for (int64_t i = 0; i < b * sn * 3 * h; i++) {
        if (i % (3 * h) < 2 * h) x[i] *= qk_gain;
        if (exact) x[i] = pl_bf16_to_f32(pl_f32_to_bf16(x[i]));
    }
    struct pl_tensor *mask = NULL;
    if (masked) {
        mask = leaf(a, PL_DTYPE_I32, 2, (int64_t[]){b, sn});
        for (int64_t i = 0; i < b; i++)
            for (int64_t j = 0; j < sn; j++)
                ((int32_t *)mask->data)[i * sn + j] =
                    masked == 1 ? j < sn - i * sn / 3 || j == 0 : (j % 3 != 1);
    }
    struct pl_tensor *y;
    ck_assert_int_eq(pl_op_attention(a->ctx, qkv, mask, nh, 1.0f / sqrtf((float)(h / nh)), &y), PL_OK);
    snprintf(what, what_len, "attention %lldx%lldx%lld/%d mask %d", (long long)b, (long long)sn,
             (long long)h, nh, masked);
    return y;
}

START_TEST(test_attention) {
    for (size_t s = 0; s < PL_ARRAY_LEN(att_shapes); s++)
        for (int masked = 0; masked < 3; masked++) {
            struct arena a;
            arena_init(&a, be_ref, 8 << 20);
            char what[96];
            struct pl_tensor *y = attention_case(&a, s, masked, 1.0f, false, what, sizeof what);
            check_op(&a, y, 1e-10, what);
            arena_deinit(&a);
        }
}
END_TEST

/* PL_ATT_BF16 (the avx512bf16 family's attention_bf16; the other families
 * compute in f32): test_attention's cases with Q and K scaled up so that the
 * softmax is peaked (a wrong key weighs), against the f32 reference on inputs
 * that are exact in bf16 (then only the bf16 probabilities and the order of
 * the sums differ; measured NMSE <= 6e-8) and on full-precision inputs (the
 * kernel's own rounding of Q, K and V; <= 2.5e-6). A V pair stored in the
 * wrong order fails at 0.36, the last pair of d left out at 0.07. */
START_TEST(test_attention_bf16) {
    with_bf16_family = true;
    for (size_t s = 0; s < PL_ARRAY_LEN(att_shapes); s++)
        for (int masked = 0; masked < 3; masked++)
            for (int exact = 0; exact < 2; exact++) {
                struct arena a;
                arena_init(&a, be_ref, 8 << 20);
                char what[96];
                struct pl_tensor *y = attention_case(&a, s, masked, 3.0f, exact, what, sizeof what);
                ck_assert_int_eq(pl_op_attention_prec(y, PL_ATT_BF16), PL_OK);
                strncat(what, exact ? ", bf16" : ", bf16 products of f32 inputs",
                        sizeof what - strlen(what) - 1);
                check_op(&a, y, exact ? 1e-6 : 2e-5, what);
                arena_deinit(&a);
            }
    with_bf16_family = false;
    /* the precision is an attention node's, and f32 or bf16 */
    struct arena a;
    arena_init(&a, be_ref, 1 << 20);
    struct pl_tensor *qkv = leaf(&a, PL_DTYPE_F32, 3, (int64_t[]){1, 2, 6}), *y;
    ck_assert_int_eq(pl_op_attention_prec(qkv, PL_ATT_BF16), PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_op_attention(a.ctx, qkv, NULL, 1, 1.0f, &y), PL_OK);
    ck_assert_int_eq(pl_op_attention_prec(y, (enum pl_att_prec)7), PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_op_attention_prec(y, PL_ATT_F32), PL_OK);
    arena_deinit(&a);
}
END_TEST

START_TEST(test_embed_get_rows) {
    struct arena a;
    arena_init(&a, be_ref, 8 << 20);
    int64_t b = 3, s = 9, h = 45, v = 50, p = 20; /* h: 16-wide, 8-wide and masked tails */
    struct pl_embed_args e = {0};
    e.ids = leaf(&a, PL_DTYPE_I32, 2, (int64_t[]){b, s});
    e.type_ids = leaf(&a, PL_DTYPE_I32, 2, (int64_t[]){b, s});
    e.mask = leaf(&a, PL_DTYPE_I32, 2, (int64_t[]){b, s});
    for (int64_t i = 0; i < b * s; i++) {
        ((int32_t *)e.ids->data)[i] = (int32_t)((i * 7) % v);
        ((int32_t *)e.type_ids->data)[i] = (int32_t)(i % 2);
        ((int32_t *)e.mask->data)[i] = (i % s) < s - (i / s);
    }
    e.word = leaf(&a, PL_DTYPE_F32, 2, (int64_t[]){v, h});
    e.pos = leaf(&a, PL_DTYPE_F32, 2, (int64_t[]){p, h});
    e.type = leaf(&a, PL_DTYPE_F32, 2, (int64_t[]){2, h});
    e.gamma = leaf(&a, PL_DTYPE_F32, 1, (int64_t[]){h});
    e.beta = leaf(&a, PL_DTYPE_F32, 1, (int64_t[]){h});
    e.eps = 1e-12f;
    e.pos_offset = 2;
    e.pad_pos = 1;
    struct pl_tensor *y;
    ck_assert_int_eq(pl_op_embed(a.ctx, &e, &y), PL_OK);
    check_op(&a, y, 1e-10, "embed");
    struct pl_tensor *idx = leaf(&a, PL_DTYPE_I32, 1, (int64_t[]){b});
    for (int64_t i = 0; i < b; i++) ((int32_t *)idx->data)[i] = (int32_t)(i * s);
    struct pl_tensor *r;
    ck_assert_int_eq(pl_op_get_rows(a.ctx, y, idx, &r), PL_OK);
    check_op(&a, r, 0, "get_rows");

    /* Bad data is an error, not a crash: id out of range, too many positions. */
    struct pl_graph *g;
    ck_assert_int_eq(pl_graph_create(2, &g), PL_OK);
    ((int32_t *)e.ids->data)[4] = (int32_t)v;
    ck_assert_int_eq(pl_op_embed(a.ctx, &e, &y), PL_OK);
    place(&a, y);
    ck_assert_int_eq(pl_graph_add(g, y), PL_OK);
    struct pl_backend *fast;
    ck_assert_int_eq(pl_backend_create("cpu", &fast), PL_OK);
    ck_assert_int_eq(pl_backend_graph_compute(fast, g), PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_backend_graph_compute(be_ref, g), PL_E_INVALID_ARG);
    ((int32_t *)e.ids->data)[4] = 0;
    y->op_params[1] = (int32_t)p; /* positions past the table */
    ck_assert_int_eq(pl_backend_graph_compute(fast, g), PL_E_INVALID_ARG);
    ((int32_t *)idx->data)[1] = 1000;
    pl_graph_reset(g);
    ck_assert_int_eq(pl_graph_add(g, r), PL_OK);
    ck_assert_int_eq(pl_backend_graph_compute(fast, g), PL_E_INVALID_ARG);
    pl_backend_destroy(fast);
    pl_graph_destroy(g);
    arena_deinit(&a);
}
END_TEST

/* The ops of the streaming acoustic model and the VAD: depthwise conv over
 * time (several kernels, strides, dilations, channel counts around the SIMD
 * widths, a batch of sequences), im2col and a Conv1d as im2col + linear,
 * log-softmax, complex magnitudes, the LSTM cell, add + activation, copy. */
START_TEST(test_sequence_ops) {
    static const int dw[][6] = {/* T, C, K, stride, dilation, batch */
                                {1, 1, 1, 1, 1, 1},   {8, 5, 3, 1, 1, 1},    {40, 64, 11, 2, 1, 1},
                                {33, 100, 5, 1, 2, 2}, {50, 256, 33, 1, 1, 1}, {47, 80, 13, 3, 2, 3},
                                {30, 129, 7, 2, 3, 1}};
    for (size_t i = 0; i < PL_ARRAY_LEN(dw); i++)
        for (int bias = 0; bias < 2; bias++) {
            struct arena a;
            arena_init(&a, be_ref, 16 << 20);
            int64_t t = dw[i][0], c = dw[i][1], k = dw[i][2], b = dw[i][5];
            int64_t shape[3] = {b, t, c};
            struct pl_tensor *x = leaf(&a, PL_DTYPE_F32, b > 1 ? 3 : 2, b > 1 ? shape : shape + 1);
            struct pl_tensor *w = leaf(&a, PL_DTYPE_F32, 2, (int64_t[]){k, c});
            struct pl_tensor *bs = bias ? leaf(&a, PL_DTYPE_F32, 1, (int64_t[]){c}) : NULL;
            struct pl_tensor *y;
            ck_assert_int_eq(pl_op_dwconv(a.ctx, x, w, bs, dw[i][3], dw[i][4], &y), PL_OK);
            ck_assert_int_eq(y->shape[y->n_dims - 2], (t - dw[i][4] * (k - 1) - 1) / dw[i][3] + 1);
            char what[96];
            snprintf(what, sizeof what, "dwconv T%lld C%lld K%lld s%d d%d B%lld bias %d",
                     (long long)t, (long long)c, (long long)k, dw[i][3], dw[i][4], (long long)b,
                     bias);
            check_op(&a, y, 1e-10, what);
            arena_deinit(&a);
        }
    static const int ic[][7] = {/* T, C, K, stride, dilation, pad left, pad right */
                                {4, 129, 3, 1, 1, 1, 1}, {4, 128, 3, 2, 1, 1, 1}, {640, 1, 256, 128, 1, 0, 0},
                                {9, 7, 4, 3, 2, 5, 0},   {3, 2, 2, 1, 1, 0, 1}};
    for (size_t i = 0; i < PL_ARRAY_LEN(ic); i++)
        for (int b = 1; b <= 2; b++) {
            struct arena a;
            arena_init(&a, be_ref, 16 << 20);
            int64_t t = ic[i][0], c = ic[i][1], k = ic[i][2], shape[3] = {b, t, c};
            struct pl_tensor *x = leaf(&a, PL_DTYPE_F32, b > 1 ? 3 : 2, b > 1 ? shape : shape + 1);
            struct pl_tensor *y, *z;
            ck_assert_int_eq(pl_op_im2col(a.ctx, x, ic[i][2], ic[i][3], ic[i][4], ic[i][5], ic[i][6], &y),
                             PL_OK);
            char what[96];
            snprintf(what, sizeof what, "im2col T%lld C%lld K%lld s%d d%d pad %d/%d B%d", (long long)t,
                     (long long)c, (long long)k, ic[i][3], ic[i][4], ic[i][5], ic[i][6], b);
            check_op(&a, y, 0, what);
            /* a Conv1d: im2col, then a linear layer with a [C_out, K*C] weight + ReLU */
            struct pl_tensor *w = leaf(&a, PL_DTYPE_F32, 2, (int64_t[]){9, k * c});
            struct pl_tensor *bias = leaf(&a, PL_DTYPE_F32, 1, (int64_t[]){9});
            ck_assert_int_eq(pl_op_linear(a.ctx, y, w, NULL, bias, PL_ACT_RELU, &z), PL_OK);
            check_op(&a, z, 1e-9, "conv1d as im2col + linear");
            arena_deinit(&a);
        }
    static const int rows[][2] = {{1, 1}, {3, 29}, {17, 258}, {64, 1024}};
    for (size_t i = 0; i < PL_ARRAY_LEN(rows); i++) {
        struct arena a;
        arena_init(&a, be_ref, 64 << 20);
        int64_t r = rows[i][0], n = rows[i][1];
        struct pl_tensor *x = leaf(&a, PL_DTYPE_F32, 2, (int64_t[]){r, 2 * n});
        for (int64_t e = 0; e < 2 * r * n; e++) ((float *)x->data)[e] *= 8.0f;
        struct pl_tensor *x2 = leaf(&a, PL_DTYPE_F32, 2, (int64_t[]){r, 2 * n});
        struct pl_tensor *y;
        ck_assert_int_eq(pl_op_log_softmax(a.ctx, x, &y), PL_OK);
        check_op(&a, y, 1e-12, "log_softmax");
        ck_assert_int_eq(pl_op_complex_abs(a.ctx, x, &y), PL_OK);
        ck_assert_int_eq(y->shape[1], n);
        check_op(&a, y, 1e-12, "complex_abs");
        ck_assert_int_eq(pl_op_copy(a.ctx, x, &y), PL_OK);
        check_op(&a, y, 0, "copy");
        for (int act = 0; act < PL_ACT_COUNT; act++) {
            ck_assert_int_eq(pl_op_add_act(a.ctx, x, x2, (enum pl_act)act, &y), PL_OK);
            check_op(&a, y, 1e-11, "add + act");
        }
        /* LSTM cell: B = r rows, H = n / 2 (gates 4H = 2n); with and without the h gates */
        if (n % 2 == 0) {
            struct pl_tensor *c = leaf(&a, PL_DTYPE_F32, 2, (int64_t[]){r, n / 2});
            ck_assert_int_eq(pl_op_lstm_cell(a.ctx, x, x2, c, &y), PL_OK);
            ck_assert(y->shape[0] == 2 && y->shape[1] == r && y->shape[2] == n / 2);
            check_op(&a, y, 1e-11, "lstm_cell");
            ck_assert_int_eq(pl_op_lstm_cell(a.ctx, x, NULL, c, &y), PL_OK);
            check_op(&a, y, 1e-11, "lstm_cell without h gates");
        }
        arena_deinit(&a);
    }
    /* Shapes that cannot work are refused by the constructors. */
    struct arena a;
    arena_init(&a, be_ref, 1 << 20);
    struct pl_tensor *x = leaf(&a, PL_DTYPE_F32, 2, (int64_t[]){4, 8});
    struct pl_tensor *w = leaf(&a, PL_DTYPE_F32, 2, (int64_t[]){5, 8}), *w7 = leaf(&a, PL_DTYPE_F32, 2, (int64_t[]){3, 7});
    struct pl_tensor *y = (struct pl_tensor *)1, *v;
    ck_assert_int_eq(pl_op_dwconv(a.ctx, x, w, NULL, 1, 1, &y), PL_E_INVALID_ARG); /* 4 < 5 taps */
    ck_assert_ptr_null(y);
    ck_assert_int_eq(pl_op_dwconv(a.ctx, x, w7, NULL, 1, 1, &y), PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_op_dwconv(a.ctx, x, w, NULL, 0, 1, &y), PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_op_im2col(a.ctx, x, 3, 1, 1, 3, 0, &y), PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_op_im2col(a.ctx, x, 6, 1, 1, 0, 0, &y), PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_op_lstm_cell(a.ctx, x, NULL, x, &y), PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_op_complex_abs(a.ctx, w7, &y), PL_E_INVALID_ARG);
    /* views: rows of a placed tensor, refused outside it */
    ck_assert_int_eq(pl_tensor_view_rows(a.ctx, x, 1, 2, &v), PL_OK);
    ck_assert_ptr_eq(v->data, (float *)x->data + 8);
    ck_assert_int_eq(v->shape[0], 2);
    ck_assert_int_eq(pl_tensor_view_rows(a.ctx, x, 3, 2, &v), PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_tensor_view(a.ctx, x, 1, (int64_t[]){4}, -1, &v), PL_E_INVALID_ARG);
    arena_deinit(&a);
}
END_TEST

START_TEST(test_api_errors) {
    struct pl_backend *be;
    ck_assert_int_eq(pl_backend_create("tpu", &be), PL_E_INVALID_ARG);
    ck_assert_ptr_null(be);
    pl_status st = pl_backend_create("cuda:x", &be);
    ck_assert(st == PL_E_INVALID_ARG);
    struct pl_ctx *ctx;
    ck_assert_int_eq(pl_ctx_create(3, &ctx), PL_OK);
    struct pl_tensor *x, *w, *y;
    ck_assert_int_eq(pl_tensor_new(ctx, PL_DTYPE_F32, 5, (int64_t[]){1, 1, 1, 1, 1}, &x), PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_tensor_new(ctx, PL_DTYPE_F32, 2, (int64_t[]){INT64_MAX / 2, 4}, &x), PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_tensor_new_2d(ctx, PL_DTYPE_F32, 2, 3, &x), PL_OK);
    ck_assert_int_eq(pl_tensor_new_2d(ctx, PL_DTYPE_F32, 4, 5, &w), PL_OK);
    ck_assert_int_eq(pl_op_linear(ctx, x, w, NULL, NULL, PL_ACT_NONE, &y), PL_E_INVALID_ARG);
    ck_assert_ptr_null(y);
    ck_assert_int_eq(pl_tensor_new_2d(ctx, PL_DTYPE_I8, 4, 3, &w), PL_OK);
    ck_assert_int_eq(pl_op_linear(ctx, x, w, NULL, NULL, PL_ACT_NONE, &y), PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_tensor_new_1d(ctx, PL_DTYPE_F32, 4, &y), PL_E_EXHAUSTED);
    pl_ctx_destroy(ctx);
    /* f16/bf16 conversions round-trip representable values. */
    float vals[] = {0.0f, 1.0f, -2.5f, 65504.0f, 6.1035156e-05f, 5.9604645e-08f, 0.333251953125f};
    for (size_t i = 0; i < PL_ARRAY_LEN(vals); i++)
        ck_assert_float_eq(pl_f16_to_f32(pl_f32_to_f16(vals[i])), vals[i]);
    ck_assert(isinf(pl_f16_to_f32(pl_f32_to_f16(1e6f))));
    ck_assert_float_eq(pl_bf16_to_f32(pl_f32_to_bf16(1.5f)), 1.5f);
}
END_TEST

Suite *pl_engine_ops_suite(void) {
    Suite *s = suite_create("engine_ops");
    TCase *tc = tcase_create("ops");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_linear);
    tcase_add_test(tc, test_linear_packed);
    tcase_add_test(tc, test_linear_i8_packed);
    tcase_add_test(tc, test_linear_bf16);
    tcase_add_test(tc, test_rowwise);
    tcase_add_test(tc, test_attention);
    tcase_add_test(tc, test_attention_bf16);
    tcase_add_test(tc, test_embed_get_rows);
    tcase_add_test(tc, test_sequence_ops);
    tcase_add_test(tc, test_api_errors);
    suite_add_tcase(s, tc);
    return s;
}
