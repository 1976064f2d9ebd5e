/*
 * test_cuda_backend.c - the "cuda" engine backend against the "cpu-ref"
 * backend (the scalar oracle), op by op through the engine's graph API.
 *
 * Each case builds one graph, places it in a buffer of each backend, uploads
 * the same leaf data, computes, and compares the output (NMSE per op, plus
 * NaN/Inf), the sequence ops of the ASR model and the VAD included. Error
 * cases: an out-of-range token id gives PL_E_INVALID_ARG from
 * graph_compute, a bf16 Linear weight PL_E_UNSUPPORTED.
 *
 * Without a CUDA device it prints "skipped: no CUDA device" and runs nothing
 * (the device is probed in a forked child, as in test_cuda.c). Like
 * test_cuda.c, a Check suite or, with PL_TEST_NO_CHECK, a program with its
 * own main (the PARLEY_ENGINE_ONLY build).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "alloc.h"
#include "backend.h"
#include "pl_cuda.h"
#include "tensor.h"

#ifndef PL_TEST_NO_CHECK
#include <check.h>
#endif

static uint64_t g_seed = 777;
static uint64_t g_rng;
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
            goto out;                                                                              \
        }                                                                                          \
    } while (0)

static float frand(float lo, float hi) {
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return lo + (hi - lo) * (float)((g_rng >> 11) * (1.0 / 9007199254740992.0));
}

/* A case: leaves with host data, one output node, a graph. */
#define MAX_LEAVES 12
struct tcase {
    struct pl_ctx *ctx;
    struct pl_graph *g;
    struct pl_tensor *leaf[MAX_LEAVES];
    void *data[MAX_LEAVES]; /* host data of each leaf (owned) */
    int n_leaves;
    struct pl_tensor *out;
};

static struct pl_tensor *leaf(struct tcase *c, enum pl_dtype dt, int nd, const int64_t *shape,
                              float lo, float hi) {
    struct pl_tensor *t = NULL;
    if (c->n_leaves >= MAX_LEAVES || pl_tensor_new(c->ctx, dt, nd, shape, &t) != PL_OK) return NULL;
    int64_t n = pl_tensor_nelements(t);
    void *d = pl_malloc(pl_tensor_nbytes(t) ? pl_tensor_nbytes(t) : 1);
    if (!d) return NULL;
    for (int64_t i = 0; i < n; i++) {
        float v = frand(lo, hi);
        if (dt == PL_DTYPE_F32) ((float *)d)[i] = v;
        else if (dt == PL_DTYPE_F16) ((uint16_t *)d)[i] = pl_f32_to_f16(v);
        else if (dt == PL_DTYPE_BF16) ((uint16_t *)d)[i] = pl_f32_to_bf16(v);
        else if (dt == PL_DTYPE_I32) ((int32_t *)d)[i] = (int32_t)floorf(v); /* ids: [lo, hi) */
        else ((int8_t *)d)[i] = (int8_t)v;
    }
    c->leaf[c->n_leaves] = t;
    c->data[c->n_leaves++] = d;
    return t;
}

static void case_free(struct tcase *c) {
    for (int i = 0; i < c->n_leaves; i++) pl_free(c->data[i]);
    pl_graph_destroy(c->g);
    pl_ctx_destroy(c->ctx);
    memset(c, 0, sizeof *c);
}

/* Place every tensor of the case in one buffer of be, upload leaves, compute,
 * download the output into host (f32). Returns the graph_compute status. */
static pl_status run_on(struct pl_backend *be, struct tcase *c, float *host) {
    struct pl_buffer *buf = NULL;
    size_t total = 0, off = 0;
    pl_status st = PL_OK;
    for (int i = 0; i < c->n_leaves; i++) total += (pl_tensor_nbytes(c->leaf[i]) + 255) & ~(size_t)255;
    for (int i = 0; i < c->g->n_nodes; i++)
        total += (pl_tensor_nbytes(c->g->nodes[i]) + 255) & ~(size_t)255;
    PL_TRY(pl_backend_buffer_alloc(be, total, &buf));
    for (int i = 0; i < c->n_leaves; i++) {
        PL_TRY_GOTO(st, pl_tensor_place(c->leaf[i], buf, off));
        PL_TRY_GOTO(st, pl_backend_tensor_set(be, c->leaf[i], c->data[i], 0,
                                              pl_tensor_nbytes(c->leaf[i])));
        off += (pl_tensor_nbytes(c->leaf[i]) + 255) & ~(size_t)255;
    }
    for (int i = 0; i < c->g->n_nodes; i++) {
        PL_TRY_GOTO(st, pl_tensor_place(c->g->nodes[i], buf, off));
        off += (pl_tensor_nbytes(c->g->nodes[i]) + 255) & ~(size_t)255;
    }
    PL_TRY_GOTO(st, pl_backend_graph_compute(be, c->g));
    PL_TRY_GOTO(st, pl_backend_tensor_get(be, c->out, host, 0, pl_tensor_nbytes(c->out)));
fail:
    pl_buffer_free(buf);
    return st;
}

static struct pl_backend *g_cpu, *g_cuda;

/* Run the case on both backends and compare. */
static void compare(struct tcase *c, const char *what, double thr) {
    int64_t n = pl_tensor_nelements(c->out);
    float *a = pl_malloc((size_t)n * 4), *b = pl_malloc((size_t)n * 4);
    double num = 0, den = 0;
    if (!a || !b) goto out;
    T_OK(run_on(g_cpu, c, a));
    T_OK(run_on(g_cuda, c, b));
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(b[i])) {
            T_FAIL("%s: cuda element %lld is %f", what, (long long)i, (double)b[i]);
            goto out;
        }
        num += ((double)b[i] - a[i]) * ((double)b[i] - a[i]);
        den += (double)a[i] * a[i];
    }
    double nmse = den > 0 ? num / den : num;
    if (!(nmse <= thr)) T_FAIL("%s: nmse %.3g > %.3g", what, nmse, thr);
out:
    pl_free(a);
    pl_free(b);
}

static int case_init(struct tcase *c) {
    memset(c, 0, sizeof *c);
    if (pl_ctx_create(64, &c->ctx) != PL_OK || pl_graph_create(16, &c->g) != PL_OK) {
        T_FAIL("ctx/graph: %s", pl_last_error());
        return -1;
    }
    return 0;
}

#define LEAF(var, ...)                                                                             \
    do {                                                                                           \
        if (!((var) = leaf(__VA_ARGS__))) {                                                        \
            T_FAIL("leaf %s: %s", #var, pl_last_error());                                          \
            goto out;                                                                              \
        }                                                                                          \
    } while (0)

static void t_linear(void) {
    static const int64_t shapes[][3] = {{1, 1, 1}, {7, 33, 19}, {2 * 64, 768, 768}};
    const enum pl_dtype wts[] = {PL_DTYPE_F32, PL_DTYPE_F16};
    for (size_t s = 0; s < 3; s++)
        for (int wi = 0; wi < 2; wi++)
            for (int act = 0; act < PL_ACT_COUNT; act++) {
                struct tcase c;
                struct pl_tensor *x, *w, *b, *y;
                char what[96];
                int64_t m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
                snprintf(what, sizeof what, "linear w=%s act=%d [%lld,%lld,%lld]",
                         pl_dtype_name(wts[wi]), act, (long long)m, (long long)n, (long long)k);
                if (case_init(&c)) return;
                LEAF(x, &c, PL_DTYPE_F32, 2, (int64_t[]){m, k}, -1, 1);
                LEAF(w, &c, wts[wi], 2, (int64_t[]){n, k}, -0.2f, 0.2f);
                LEAF(b, &c, PL_DTYPE_F32, 1, (int64_t[]){n}, -1, 1);
                T_OK(pl_op_linear(c.ctx, x, w, NULL, act % 2 ? b : NULL, (enum pl_act)act, &y));
                T_OK(pl_graph_add(c.g, y));
                c.out = y;
                compare(&c, what, wts[wi] == PL_DTYPE_F16 ? 2e-5 : 1e-9);
            out:
                case_free(&c);
            }
}

static void t_rowwise(void) {
    static const int64_t shapes[][2] = {{1, 1}, {9, 77}, {64, 768}, {3, 3000}};
    for (size_t s = 0; s < 4; s++) {
        int64_t r = shapes[s][0], n = shapes[s][1];
        struct tcase c;
        struct pl_tensor *x, *res, *g, *b, *mask, *y1, *y2, *y3, *y4;
        char what[96];
        snprintf(what, sizeof what, "act+add+layer_norm+softmax [%lld,%lld]", (long long)r,
                 (long long)n);
        if (case_init(&c)) return;
        LEAF(x, &c, PL_DTYPE_F32, 2, (int64_t[]){r, n}, -2, 2);
        LEAF(res, &c, PL_DTYPE_F32, 2, (int64_t[]){r, n}, -1, 1);
        LEAF(g, &c, PL_DTYPE_F32, 1, (int64_t[]){n}, 0.5f, 1.5f);
        LEAF(b, &c, PL_DTYPE_F32, 1, (int64_t[]){n}, -0.5f, 0.5f);
        LEAF(mask, &c, PL_DTYPE_I32, 2, (int64_t[]){r, n}, 0, 1.999f);
        T_OK(pl_op_act(c.ctx, x, b, PL_ACT_GELU_TANH, &y1));
        T_OK(pl_op_add(c.ctx, y1, res, &y2));
        T_OK(pl_op_layer_norm(c.ctx, y2, x, g, b, 1e-5f, &y3));
        T_OK(pl_op_softmax(c.ctx, y3, mask, 0.7f, &y4));
        T_OK(pl_graph_add(c.g, y1));
        T_OK(pl_graph_add(c.g, y2));
        T_OK(pl_graph_add(c.g, y3));
        T_OK(pl_graph_add(c.g, y4));
        c.out = y4;
        compare(&c, what, 1e-9);
        c.out = y3;
        compare(&c, "layer_norm alone", 1e-9);
    out:
        case_free(&c);
    }
}

static void t_embed_attention(void) {
    static const int64_t shapes[][4] = {{1, 1, 8, 1}, {2, 9, 32, 4}, {3, 64, 768, 12}};
    for (size_t s = 0; s < 3; s++)
        for (int bad = 0; bad < 2; bad++) {
            int64_t B = shapes[s][0], S = shapes[s][1], H = shapes[s][2], nh = shapes[s][3];
            int64_t V = 100, P = S + 2;
            struct tcase c;
            struct pl_tensor *ids, *tt, *mask, *word, *pos, *type, *g, *b, *wqkv, *e, *qkv, *att,
                *idx, *rows;
            char what[96];
            snprintf(what, sizeof what, "embed+linear+attention+get_rows B=%lld S=%lld H=%lld",
                     (long long)B, (long long)S, (long long)H);
            if (case_init(&c)) return;
            LEAF(ids, &c, PL_DTYPE_I32, 2, (int64_t[]){B, S}, 0, (float)V - 0.01f);
            LEAF(tt, &c, PL_DTYPE_I32, 2, (int64_t[]){B, S}, 0, 1.99f);
            LEAF(mask, &c, PL_DTYPE_I32, 2, (int64_t[]){B, S}, 1, 1.5f);
            LEAF(word, &c, PL_DTYPE_F32, 2, (int64_t[]){V, H}, -1, 1);
            LEAF(pos, &c, PL_DTYPE_F32, 2, (int64_t[]){P, H}, -1, 1);
            LEAF(type, &c, PL_DTYPE_F32, 2, (int64_t[]){2, H}, -1, 1);
            LEAF(g, &c, PL_DTYPE_F32, 1, (int64_t[]){H}, 0.5f, 1.5f);
            LEAF(b, &c, PL_DTYPE_F32, 1, (int64_t[]){H}, -0.5f, 0.5f);
            LEAF(wqkv, &c, PL_DTYPE_F32, 2, (int64_t[]){3 * H, H}, -0.1f, 0.1f);
            LEAF(idx, &c, PL_DTYPE_I32, 1, (int64_t[]){B}, 0, 0.5f);
            /* pad the tail of every row after the first, and pick row b*S as [CLS] */
            int32_t *m = c.data[2], *ix = c.data[9];
            for (int64_t bb = 1; bb < B; bb++)
                for (int64_t q = S - bb * S / (B + 1); q < S; q++) m[bb * S + q] = 0;
            for (int64_t bb = 0; bb < B; bb++) ix[bb] = (int32_t)(bb * S);
            if (bad) ((int32_t *)c.data[0])[B * S - 1] = (int32_t)V;
            struct pl_embed_args ea = {.ids = ids, .word = word, .pos = pos, .type = type,
                                       .type_ids = tt, .gamma = g, .beta = b, .mask = mask,
                                       .eps = 1e-12f, .pos_offset = 1, .pad_pos = 0};
            T_OK(pl_op_embed(c.ctx, &ea, &e));
            T_OK(pl_op_linear(c.ctx, e, wqkv, NULL, NULL, PL_ACT_NONE, &qkv));
            T_OK(pl_op_attention(c.ctx, qkv, mask, (int)nh, 1.0f / sqrtf((float)(H / nh)), &att));
            T_OK(pl_op_get_rows(c.ctx, att, idx, &rows));
            T_OK(pl_graph_add(c.g, e));
            T_OK(pl_graph_add(c.g, qkv));
            T_OK(pl_graph_add(c.g, att));
            T_OK(pl_graph_add(c.g, rows));
            if (bad) {
                float *tmp = pl_malloc((size_t)pl_tensor_nbytes(rows));
                c.out = rows;
                pl_status st = tmp ? run_on(g_cuda, &c, tmp) : PL_E_NOMEM;
                if (st != PL_E_INVALID_ARG)
                    T_FAIL("%s: bad id gave %s, want PL_E_INVALID_ARG", what, pl_status_str(st));
                pl_free(tmp);
                goto out;
            }
            c.out = e;
            compare(&c, "embed", 1e-9);
            c.out = att;
            compare(&c, what, 1e-9);
            c.out = rows;
            compare(&c, "get_rows", 1e-9);
        out:
            case_free(&c);
        }
}

/* The sequence ops of the ASR acoustic model and the VAD: depthwise conv,
 * a Conv1d as im2col + linear, then the row-wise ones. */
static void t_dwconv(void) {
    static const int64_t dw[][6] = {/* T, C, K, stride, dilation, sequences */
                                    {1, 1, 1, 1, 1, 1}, {40, 64, 11, 2, 1, 1},
                                    {33, 100, 5, 1, 2, 3}, {300, 256, 33, 1, 1, 2}};
    for (size_t i = 0; i < 4; i++) {
        struct tcase c;
        struct pl_tensor *x, *w, *b, *y;
        int64_t sh[3] = {dw[i][5], dw[i][0], dw[i][1]};
        char what[96];
        snprintf(what, sizeof what, "dwconv T%lld C%lld K%lld s%lld d%lld x%lld", (long long)sh[1],
                 (long long)sh[2], (long long)dw[i][2], (long long)dw[i][3], (long long)dw[i][4],
                 (long long)sh[0]);
        if (case_init(&c)) return;
        LEAF(x, &c, PL_DTYPE_F32, sh[0] > 1 ? 3 : 2, sh[0] > 1 ? sh : sh + 1, -1, 1);
        LEAF(w, &c, PL_DTYPE_F32, 2, (int64_t[]){dw[i][2], dw[i][1]}, -0.5f, 0.5f);
        LEAF(b, &c, PL_DTYPE_F32, 1, (int64_t[]){dw[i][1]}, -1, 1);
        T_OK(pl_op_dwconv(c.ctx, x, w, i % 2 ? b : NULL, (int)dw[i][3], (int)dw[i][4], &y));
        T_OK(pl_graph_add(c.g, y));
        c.out = y;
        compare(&c, what, 1e-10);
    out:
        case_free(&c);
    }
}

static void t_conv1d(void) {
    static const int ic[][7] = {/* T, C, K, stride, dilation, pad left, pad right */
                                {4, 129, 3, 1, 1, 1, 1}, {4, 128, 3, 2, 1, 1, 1},
                                {640, 1, 256, 128, 1, 0, 0}, {9, 7, 4, 3, 2, 5, 0}};
    for (size_t i = 0; i < 4; i++)
        for (int64_t nb = 1; nb <= 3; nb += 2) {
            struct tcase c;
            struct pl_tensor *x, *w, *b, *cols, *y;
            int64_t sh[3] = {nb, ic[i][0], ic[i][1]}, k = ic[i][2];
            char what[96];
            snprintf(what, sizeof what, "conv1d = im2col + linear T%d C%d K%d s%d x%lld", ic[i][0],
                     ic[i][1], ic[i][2], ic[i][3], (long long)nb);
            if (case_init(&c)) return;
            LEAF(x, &c, PL_DTYPE_F32, nb > 1 ? 3 : 2, nb > 1 ? sh : sh + 1, -1, 1);
            LEAF(w, &c, PL_DTYPE_F32, 2, (int64_t[]){24, k * ic[i][1]}, -0.1f, 0.1f);
            LEAF(b, &c, PL_DTYPE_F32, 1, (int64_t[]){24}, -1, 1);
            T_OK(pl_op_im2col(c.ctx, x, ic[i][2], ic[i][3], ic[i][4], ic[i][5], ic[i][6], &cols));
            T_OK(pl_op_linear(c.ctx, cols, w, NULL, b, PL_ACT_RELU, &y));
            T_OK(pl_graph_add(c.g, cols));
            T_OK(pl_graph_add(c.g, y));
            c.out = cols;
            compare(&c, "im2col", 0);
            c.out = y;
            compare(&c, what, 1e-9);
        out:
            case_free(&c);
        }
}

static void t_rowseq(void) {
    static const int64_t rows[][2] = {{1, 1}, {7, 29}, {64, 129}, {3, 3000}};
    for (size_t i = 0; i < 4; i++) {
        struct tcase c;
        struct pl_tensor *x, *x2, *cst, *ls, *ab, *cp, *ad, *ls2, *l1, *l2;
        int64_t r = rows[i][0], n = rows[i][1];
        if (case_init(&c)) return;
        LEAF(x, &c, PL_DTYPE_F32, 2, (int64_t[]){r, 4 * n}, -6, 6);
        LEAF(x2, &c, PL_DTYPE_F32, 2, (int64_t[]){r, 4 * n}, -3, 3);
        LEAF(cst, &c, PL_DTYPE_F32, 2, (int64_t[]){r, n}, -2, 2);
        T_OK(pl_op_log_softmax(c.ctx, x, &ls));
        T_OK(pl_op_complex_abs(c.ctx, x, &ab));
        T_OK(pl_op_copy(c.ctx, x, &cp));
        T_OK(pl_op_add_act(c.ctx, x, x2, PL_ACT_RELU, &ad));
        T_OK(pl_op_add_act(c.ctx, x, x2, PL_ACT_SIGMOID, &ls2));
        T_OK(pl_op_lstm_cell(c.ctx, x, x2, cst, &l1));
        T_OK(pl_op_lstm_cell(c.ctx, x2, NULL, cst, &l2));
        struct pl_tensor *nodes[] = {ls, ab, cp, ad, ls2, l1, l2};
        const char *names[] = {"log_softmax", "complex_abs", "copy", "add+relu", "add+sigmoid",
                               "lstm_cell", "lstm_cell (no h gates)"};
        for (int k = 0; k < 7; k++) T_OK(pl_graph_add(c.g, nodes[k]));
        for (int k = 0; k < 7; k++) {
            c.out = nodes[k];
            compare(&c, names[k], k == 2 ? 0 : 1e-10);
        }
    out:
        case_free(&c);
    }
}

static void t_unsupported(void) {
    struct tcase c;
    struct pl_tensor *x, *w, *y;
    float tmp[4];
    if (case_init(&c)) return;
    LEAF(x, &c, PL_DTYPE_F32, 2, (int64_t[]){2, 2}, -1, 1);
    LEAF(w, &c, PL_DTYPE_BF16, 2, (int64_t[]){2, 2}, -1, 1);
    T_OK(pl_op_linear(c.ctx, x, w, NULL, NULL, PL_ACT_NONE, &y));
    T_OK(pl_graph_add(c.g, y));
    c.out = y;
    if (pl_backend_supports_op(g_cuda, y)) T_FAIL("cuda claims bf16 Linear weights");
    pl_status st = run_on(g_cuda, &c, tmp);
    if (st != PL_E_UNSUPPORTED) T_FAIL("bf16 Linear gave %s, want PL_E_UNSUPPORTED",
                                       pl_status_str(st));
out:
    case_free(&c);
}

typedef void (*test_fn)(void);

static int run_one(const char *name, test_fn fn) {
    const char *env = getenv("PL_TEST_SEED");
    if (env && *env) g_seed = strtoull(env, NULL, 10);
    g_rng = g_seed ? g_seed : 1;
    g_fail = 0;
    if (pl_backend_create("cpu-ref", &g_cpu) != PL_OK ||
        pl_backend_create("cuda", &g_cuda) != PL_OK) {
        fprintf(stderr, "FAIL %s: backends: %s\n", name, pl_last_error());
        pl_backend_destroy(g_cpu);
        g_cpu = NULL;
        return 1;
    }
    if (strcmp(pl_backend_name(g_cuda), "cuda:0") != 0 || pl_backend_is_host(g_cuda))
        T_FAIL("backend name %s / is_host", pl_backend_name(g_cuda));
    fn();
    pl_backend_destroy(g_cuda);
    pl_backend_destroy(g_cpu);
    g_cuda = g_cpu = NULL;
    return g_fail;
}

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

static const struct {
    const char *name;
    test_fn fn;
} tests[] = {{"linear", t_linear},
             {"rowwise", t_rowwise},
             {"embed_attention", t_embed_attention},
             {"dwconv", t_dwconv},
             {"conv1d", t_conv1d},
             {"sequence_rows", t_rowseq},
             {"unsupported", t_unsupported}};

#ifdef PL_TEST_NO_CHECK
int main(void) {
    int failed = 0;
    if (!have_device()) {
        printf("skipped: no CUDA device\n");
        return 0;
    }
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
        int f = run_one(tests[i].name, tests[i].fn);
        printf("backend %-16s %s\n", tests[i].name, f ? "FAILED" : "ok");
        fflush(stdout);
        failed += f ? 1 : 0;
    }
    printf("%d of %zu CUDA backend tests failed\n", failed, sizeof tests / sizeof tests[0]);
    return failed ? 1 : 0;
}
#else
START_TEST(test_backend_ops) {
    int i = _i;
    int f = run_one(tests[i].name, tests[i].fn);
    ck_assert_msg(f == 0, "%s: %d failures (see stderr; seed %llu)", tests[i].name, f,
                  (unsigned long long)g_seed);
}
END_TEST

Suite *pl_cuda_backend_suite(void) {
    Suite *s = suite_create("cuda_backend");
    if (!have_device()) {
        printf("skipped: no CUDA device\n");
        fflush(stdout);
        return s;
    }
    TCase *tc = tcase_create("ops");
    tcase_set_timeout(tc, 240);
    tcase_add_loop_test(tc, test_backend_ops, 0, (int)(sizeof tests / sizeof tests[0]));
    suite_add_tcase(s, tc);
    return s;
}
#endif
