/*
 * test_asrcuda.c - the ASR acoustic model's CUDA path (engine/cuda/asr_*.cu):
 *
 *   dwconv       pl_cuda_asr_dwconv vs a double-precision C reference and vs
 *                the CPU model's own depthwise kernel on the explicitly
 *                zero-padded utterance (various K, stride, dilation, right
 *                context, odd T and C, batches of unequal lengths; rows past
 *                an utterance's length hold NaN and must never be read)
 *   log_softmax  pl_cuda_log_softmax vs a double reference (also in place)
 *   model        a random-weight model written here (config.json +
 *                model.safetensors) run by pl_cuda_asr_forward vs the CPU
 *                forward (pl_asr_model_forward): max abs diff <= 1e-4 for
 *                T = 1, short and long inputs, one at a time and as one
 *                padded batch; output row counts = pl_asr_model_n_out()
 *   bad_args     errors, not crashes, for bad arguments and views
 *
 * Without a CUDA device the suite prints "skipped: no CUDA device" and runs
 * nothing (ctest reports it skipped). The device is probed in a forked child
 * so the Check runner never forks a process that initialized CUDA.
 * PL_TEST_SEED overrides the random seed.
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "alloc.h"
#include "models/asr_dwconv.h"
#include "models/asr_model.h"
#include "pl_cuda.h"

#define TOL_MODEL 1e-4

static uint64_t g_seed = 20261127, g_rng;

static uint64_t rng_next(void) {
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return g_rng;
}
static float rnd(float lo, float hi) {
    return lo + (hi - lo) * (float)((rng_next() >> 11) * (1.0 / 9007199254740992.0));
}
static void fill(float *v, size_t n, float lo, float hi) {
    for (size_t i = 0; i < n; i++) v[i] = rnd(lo, hi);
}
static void seed(void) {
    const char *s = getenv("PL_TEST_SEED");
    if (s && *s) g_seed = strtoull(s, NULL, 10);
    g_rng = g_seed ? g_seed : 1;
}

#define OK(expr)                                                                                   \
    do {                                                                                           \
        pl_status pl__s = (expr);                                                                  \
        ck_assert_msg(pl__s == PL_OK, "%s: %s", #expr, pl_last_error());                           \
    } while (0)

static struct pl_cuda_ctx *ctx_open(void) {
    struct pl_cuda_ctx *ctx = NULL;
    OK(pl_cuda_ctx_create(0, &ctx));
    return ctx;
}

static void *dev_upload(struct pl_cuda_ctx *ctx, const void *src, size_t n) {
    void *d = NULL;
    OK(pl_cuda_malloc(ctx, n, &d));
    OK(pl_cuda_memcpy_h2d(ctx, d, src, n));
    return d;
}

/* ---- depthwise conv ------------------------------------------------------------ */

struct dw_case {
    int k, s, d, right, ch, x_rows, batch;
};

/* Storage dtype f16: convert the device copies of x and w to half, run the
 * kernel in half, convert y back; the host copies of x and w are replaced by
 * their half-rounded values so the references see what the kernel saw. */
static void *to_half(struct pl_cuda_ctx *ctx, void *d32, float *host, size_t n) {
    void *d16 = NULL;
    OK(pl_cuda_malloc(ctx, n * 2, &d16));
    OK(pl_cuda_f32_to_f16(ctx, d16, d32, (int64_t)n));
    OK(pl_cuda_f16_to_f32(ctx, d32, d16, (int64_t)n));
    OK(pl_cuda_memcpy_d2h(ctx, host, d32, n * sizeof *host));
    return d16;
}

static void check_dwconv(struct pl_cuda_ctx *ctx, const struct dw_case *c, enum pl_cuda_dtype dt) {
    const int span = c->d * (c->k - 1), left = span - c->right;
    const int y_rows = (c->x_rows + c->s - 1) / c->s;
    const size_t nx = (size_t)c->batch * c->x_rows * c->ch, ny = (size_t)c->batch * y_rows * c->ch;
    float *x = pl_malloc(nx * sizeof *x), *w = pl_malloc((size_t)c->k * c->ch * sizeof *w);
    float *y = pl_malloc(ny * sizeof *y);
    int32_t *len = pl_malloc((size_t)c->batch * sizeof *len);
    ck_assert(x && w && y && len);
    fill(x, nx, -1, 1);
    fill(w, (size_t)c->k * c->ch, -1, 1);
    for (int b = 0; b < c->batch; b++) {
        /* first full length, then 0, 1 and random lengths */
        len[b] = b == 0   ? c->x_rows
                 : b == 1 ? 0
                 : b == 2 ? 1
                          : (int32_t)(rng_next() % (uint64_t)(c->x_rows + 1));
        if (len[b] > c->x_rows) len[b] = c->x_rows;
        for (int t = len[b]; t < c->x_rows; t++) /* never read */
            for (int ch = 0; ch < c->ch; ch++) x[((size_t)b * c->x_rows + t) * c->ch + ch] = NAN;
    }
    void *dx = dev_upload(ctx, x, nx * sizeof *x),
         *dw = dev_upload(ctx, w, (size_t)c->k * c->ch * 4);
    void *dlen = dev_upload(ctx, len, (size_t)c->batch * sizeof *len), *dy = NULL;
    OK(pl_cuda_malloc(ctx, ny * sizeof *y, &dy));
    if (dt == PL_CUDA_F32) {
        OK(pl_cuda_asr_dwconv(ctx, PL_CUDA_F32, dy, dx, dw, dlen, c->batch, c->x_rows, y_rows,
                              c->ch, c->k, c->s, c->d, left));
    } else {
        void *hx = to_half(ctx, dx, x, nx), *hw = to_half(ctx, dw, w, (size_t)c->k * c->ch), *hy;
        OK(pl_cuda_malloc(ctx, ny * 2, &hy));
        OK(pl_cuda_asr_dwconv(ctx, PL_CUDA_F16, hy, hx, hw, dlen, c->batch, c->x_rows, y_rows,
                              c->ch, c->k, c->s, c->d, left));
        OK(pl_cuda_f16_to_f32(ctx, dy, hy, (int64_t)ny));
        pl_cuda_free(ctx, hx);
        pl_cuda_free(ctx, hw);
        pl_cuda_free(ctx, hy);
    }
    OK(pl_cuda_memcpy_d2h(ctx, y, dy, ny * sizeof *y));

    /* 1: the definition, in double, for every row (f16: relative to the
     * output's half rounding) */
    double worst = 0;
    for (int b = 0; b < c->batch; b++)
        for (int t = 0; t < y_rows; t++)
            for (int ch = 0; ch < c->ch; ch++) {
                double acc = 0;
                for (int j = 0; j < c->k; j++) {
                    int ti = t * c->s + j * c->d - left;
                    if (ti >= 0 && ti < len[b])
                        acc += (double)w[(size_t)j * c->ch + ch] *
                               x[((size_t)b * c->x_rows + ti) * c->ch + ch];
                }
                float got = y[((size_t)b * y_rows + t) * c->ch + ch];
                ck_assert_msg(isfinite(got), "dwconv k%d s%d d%d r%d: non-finite at b%d t%d c%d",
                              c->k, c->s, c->d, c->right, b, t, ch);
                double e = fabs(got - acc);
                if (dt == PL_CUDA_F16) e = e / (fabs(acc) * (1.0 / 1024) + 1e-4) * 1e-5;
                if (e > worst) worst = e;
            }
    ck_assert_msg(worst <= 1e-5,
                  "dwconv %s k%d s%d d%d right%d C%d T%d: max diff %g vs double (seed %llu)",
                  dt == PL_CUDA_F16 ? "f16" : "f32", c->k, c->s, c->d, c->right, c->ch, c->x_rows,
                  worst, (unsigned long long)g_seed);
    if (dt == PL_CUDA_F16) goto done;

    /* 2: the CPU model's kernel on [left zeros][utterance][right zeros], for
     * the ceil(len / s) rows the CPU model computes */
    pl_asr_dwconv_fn cpu = pl__asr_dwconv_select(true);
    for (int b = 0; b < c->batch; b++) {
        int n_out = (len[b] + c->s - 1) / c->s;
        if (!n_out) continue;
        size_t np = (size_t)(left + len[b] + c->right);
        float *xp = pl_calloc(np * c->ch, sizeof *xp), *yc = pl_malloc((size_t)n_out * c->ch * 4);
        ck_assert(xp && yc);
        memcpy(xp + (size_t)left * c->ch, x + (size_t)b * c->x_rows * c->ch,
               (size_t)len[b] * c->ch * sizeof *xp);
        cpu(n_out, c->ch, c->k, c->d, c->s, xp, w, yc);
        for (size_t i = 0; i < (size_t)n_out * c->ch; i++) {
            float got = y[(size_t)b * y_rows * c->ch + i];
            ck_assert_msg(fabsf(got - yc[i]) <= 1e-5f,
                          "dwconv k%d s%d d%d right%d: utterance %d (len %d) row %zu: %g vs CPU %g",
                          c->k, c->s, c->d, c->right, b, len[b], i / (size_t)c->ch, got, yc[i]);
        }
        pl_free(xp);
        pl_free(yc);
    }
done:
    pl_cuda_free(ctx, dx);
    pl_cuda_free(ctx, dw);
    pl_cuda_free(ctx, dlen);
    pl_cuda_free(ctx, dy);
    pl_free(x);
    pl_free(w);
    pl_free(y);
    pl_free(len);
}

START_TEST(dwconv) {
    seed();
    struct pl_cuda_ctx *ctx = ctx_open();
    static const struct dw_case cases[] = {
        {1, 1, 1, 0, 1, 1, 1},    {1, 1, 1, 0, 33, 17, 3},  {3, 1, 1, 1, 33, 17, 4},
        {3, 2, 1, 0, 45, 301, 5}, {5, 2, 1, 4, 45, 301, 3}, {5, 2, 1, 2, 200, 99, 4},
        {7, 1, 3, 9, 70, 257, 5}, {7, 1, 3, 0, 37, 3, 4},   {11, 3, 2, 10, 51, 1001, 3},
        {4, 1, 2, 3, 129, 64, 4}, {3, 3, 1, 0, 23, 100, 5}, {33, 1, 1, 16, 31, 200, 4},
    };
    for (size_t i = 0; i < PL_ARRAY_LEN(cases); i++) {
        check_dwconv(ctx, &cases[i], PL_CUDA_F32);
        check_dwconv(ctx, &cases[i], PL_CUDA_F16);
    }
    OK(pl_cuda_ctx_sync(ctx));
    pl_cuda_ctx_destroy(ctx);
}
END_TEST

/* ---- log-softmax ------------------------------------------------------------------ */

START_TEST(log_softmax) {
    seed();
    struct pl_cuda_ctx *ctx = ctx_open();
    static const int shapes[][2] = {{1, 1}, {7, 29}, {300, 33}, {5, 257}, {3, 1025}, {2, 5000}};
    for (size_t si = 0; si < PL_ARRAY_LEN(shapes); si++) {
        const int rows = shapes[si][0], n = shapes[si][1];
        const size_t cnt = (size_t)rows * n;
        float *x = pl_malloc(cnt * 4), *y = pl_malloc(cnt * 4);
        ck_assert(x && y);
        fill(x, cnt, -20, 20);
        void *dx = dev_upload(ctx, x, cnt * 4), *dy = NULL;
        OK(pl_cuda_malloc(ctx, cnt * 4, &dy));
        for (int inplace = 0; inplace < 3; inplace++) {
            if (inplace == 2) { /* f16 storage, in place; x becomes its half-rounded self */
                OK(pl_cuda_memcpy_h2d(ctx, dx, x, cnt * 4));
                void *h = to_half(ctx, dx, x, cnt);
                OK(pl_cuda_log_softmax(ctx, PL_CUDA_F16, h, h, rows, n));
                OK(pl_cuda_f16_to_f32(ctx, dy, h, (int64_t)cnt));
                OK(pl_cuda_memcpy_d2h(ctx, y, dy, cnt * 4));
                pl_cuda_free(ctx, h);
            } else if (inplace) {
                OK(pl_cuda_log_softmax(ctx, PL_CUDA_F32, dx, dx, rows, n));
                OK(pl_cuda_memcpy_d2h(ctx, y, dx, cnt * 4));
            } else {
                OK(pl_cuda_log_softmax(ctx, PL_CUDA_F32, dy, dx, rows, n));
                OK(pl_cuda_memcpy_d2h(ctx, y, dy, cnt * 4));
            }
            for (int r = 0; r < rows; r++) {
                const float *p = x + (size_t)r * n;
                double mx = p[0], s = 0;
                for (int j = 1; j < n; j++) mx = p[j] > mx ? p[j] : mx;
                for (int j = 0; j < n; j++) s += exp(p[j] - mx);
                for (int j = 0; j < n; j++) {
                    double want = p[j] - mx - log(s), got = y[(size_t)r * n + j];
                    double tol = inplace == 2 ? fabs(want) / 1024 + 1e-4 : 2e-5;
                    ck_assert_msg(fabs(got - want) <= tol,
                                  "log_softmax [%d,%d]%s row %d col %d: %g vs %g", rows, n,
                                  inplace == 2 ? " f16"
                                  : inplace    ? " in place"
                                               : "",
                                  r, j, got, want);
                }
            }
        }
        pl_cuda_free(ctx, dx);
        pl_cuda_free(ctx, dy);
        pl_free(x);
        pl_free(y);
    }
    pl_cuda_ctx_destroy(ctx);
}
END_TEST

/* ---- random models ----------------------------------------------------------------- */

struct conv_geo {
    int channels, kernel, stride, dilation, right, repeat;
};
struct model_geo {
    int n_mels, vocab;
    struct conv_geo pro, epi, blocks[4];
    int n_blocks;
};

/* A safetensors file being written: JSON header entries and the data. */
struct st_writer {
    char *hdr;
    size_t hlen, hcap;
    float *data;
    size_t n, cap;
};

static void st_add(struct st_writer *w, const char *name, const int *shape, int nd) {
    size_t count = 1;
    for (int i = 0; i < nd; i++) count *= (size_t)shape[i];
    int fan_in = nd >= 2 ? shape[1] * (nd == 3 ? shape[2] : 1) : 4;
    float a = 1.5f / sqrtf((float)fan_in);
    if (w->n + count > w->cap) {
        size_t nc = (w->n + count) * 2;
        float *p = pl_realloc(w->data, nc * sizeof *p);
        ck_assert(p);
        w->data = p;
        w->cap = nc;
    }
    fill(w->data + w->n, count, -a, a);
    char e[512];
    int o = snprintf(e, sizeof e, "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[", w->hlen > 1 ? "," : "",
                     name);
    for (int i = 0; i < nd; i++)
        o += snprintf(e + o, sizeof e - (size_t)o, "%s%d", i ? "," : "", shape[i]);
    snprintf(e + o, sizeof e - (size_t)o, "],\"data_offsets\":[%zu,%zu]}", w->n * 4,
             (w->n + count) * 4);
    size_t el = strlen(e);
    if (w->hlen + el + 2 > w->hcap) {
        size_t nc = (w->hlen + el + 2) * 2;
        char *p = pl_realloc(w->hdr, nc);
        ck_assert(p);
        w->hdr = p;
        w->hcap = nc;
    }
    memcpy(w->hdr + w->hlen, e, el + 1);
    w->hlen += el;
    w->n += count;
}

static void add_sep(struct st_writer *w, const char *prefix, int cin, const struct conv_geo *g) {
    char name[128];
    snprintf(name, sizeof name, "%s.dw.weight", prefix);
    st_add(w, name, (int[]){cin, 1, g->kernel}, 3);
    snprintf(name, sizeof name, "%s.pw.weight", prefix);
    st_add(w, name, (int[]){g->channels, cin, 1}, 3);
    snprintf(name, sizeof name, "%s.pw.bias", prefix);
    st_add(w, name, (int[]){g->channels}, 1);
}

static void conv_json(FILE *f, const struct conv_geo *g) {
    fprintf(f,
            "{\"channels\": %d, \"kernel\": %d, \"stride\": %d, \"dilation\": %d, \"right\": %d, "
            "\"repeat\": %d}",
            g->channels, g->kernel, g->stride, g->dilation, g->right, g->repeat ? g->repeat : 1);
}

/* Write dir/config.json and dir/model.safetensors with random weights. */
static void write_model(const char *dir, const struct model_geo *m) {
    char path[512];
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f,
            "{\"model_type\": \"parley_quartznet_ctc\", \"n_mels\": %d, \"blank\": 0, \"vocab\": [",
            m->n_mels);
    for (int i = 0; i < m->vocab; i++) fprintf(f, "%s\"t%d\"", i ? ", " : "", i);
    fprintf(f, "], \"prologue\": ");
    conv_json(f, &m->pro);
    fprintf(f, ", \"blocks\": [");
    for (int i = 0; i < m->n_blocks; i++) {
        if (i) fprintf(f, ", ");
        conv_json(f, &m->blocks[i]);
    }
    fprintf(f, "], \"epilogue\": ");
    conv_json(f, &m->epi);
    fprintf(f, "}\n");
    ck_assert_int_eq(fclose(f), 0);

    struct st_writer w = {0};
    w.hdr = pl_strdup("{");
    w.hlen = 1;
    w.hcap = 2;
    ck_assert_ptr_nonnull(w.hdr);
    int cin = m->n_mels;
    add_sep(&w, "encoder.prologue", cin, &m->pro);
    cin = m->pro.channels;
    for (int i = 0; i < m->n_blocks; i++) {
        const struct conv_geo *b = &m->blocks[i];
        char prefix[96];
        for (int j = 0; j < b->repeat; j++) {
            snprintf(prefix, sizeof prefix, "encoder.blocks.%d.sub.%d", i, j);
            add_sep(&w, prefix, j ? b->channels : cin, b);
        }
        snprintf(prefix, sizeof prefix, "encoder.blocks.%d.res.weight", i);
        st_add(&w, prefix, (int[]){b->channels, cin, 1}, 3);
        snprintf(prefix, sizeof prefix, "encoder.blocks.%d.res.bias", i);
        st_add(&w, prefix, (int[]){b->channels}, 1);
        cin = b->channels;
    }
    add_sep(&w, "encoder.epilogue", cin, &m->epi);
    st_add(&w, "decoder.weight", (int[]){m->vocab, m->epi.channels, 1}, 3);
    st_add(&w, "decoder.bias", (int[]){m->vocab}, 1);
    /* close the header, pad it with spaces to a multiple of 8 */
    size_t hl = w.hlen + 1;
    size_t padded = (hl + 7) / 8 * 8;
    char *h = pl_malloc(padded);
    ck_assert_ptr_nonnull(h);
    memcpy(h, w.hdr, w.hlen);
    h[w.hlen] = '}';
    memset(h + hl, ' ', padded - hl);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    uint64_t n8 = padded;
    unsigned char le[8];
    for (int i = 0; i < 8; i++) le[i] = (unsigned char)(n8 >> (8 * i));
    ck_assert(fwrite(le, 1, 8, f) == 8);
    ck_assert(fwrite(h, 1, padded, f) == padded);
    ck_assert(fwrite(w.data, 4, w.n, f) == w.n);
    ck_assert_int_eq(fclose(f), 0);
    pl_free(h);
    pl_free(w.hdr);
    pl_free(w.data);
}

static const struct model_geo g_models[] = {
    /* stride-2 prologue, two blocks with dilation and odd channel counts */
    {.n_mels = 23,
     .vocab = 29,
     .pro = {45, 5, 2, 1, 1, 1},
     .blocks = {{37, 7, 1, 2, 3, 2}, {70, 3, 1, 1, 0, 3}},
     .n_blocks = 2,
     .epi = {51, 9, 1, 2, 8, 1}},
    /* stride 3 then a strided epilogue, kernel-1 block, V > 256 */
    {.n_mels = 80,
     .vocab = 300,
     .pro = {64, 3, 3, 1, 0, 1},
     .blocks = {{33, 1, 1, 1, 0, 1}, {96, 11, 1, 1, 5, 2}},
     .n_blocks = 2,
     .epi = {40, 5, 2, 3, 12, 1}},
    /* no blocks at all */
    {.n_mels = 17,
     .vocab = 5,
     .pro = {19, 3, 1, 1, 2, 1},
     .n_blocks = 0,
     .epi = {7, 2, 2, 1, 1, 1}},
};

static void check_model(struct pl_cuda_ctx *ctx, const struct model_geo *geo, int mi) {
    char dir[64];
    snprintf(dir, sizeof dir, "/tmp/pl_asrcuda_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    write_model(dir, geo);
    struct pl_asr_model *m = NULL;
    OK(pl_asr_model_load(dir, NULL, &m));
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
    const struct pl_asr_model_config *cfg = pl_asr_model_get_config(m);
    const int V = cfg->vocab_size, NM = cfg->n_mels;

    struct pl_asr_model_view *view = NULL;
    struct pl_cuda_asr *g = NULL;
    OK(pl_asr_model_view_create(m, &view));
    ck_assert_int_eq(view->n_convs, cfg->n_convs);
    OK(pl_cuda_asr_create(ctx, view, &g));
    pl_asr_model_view_destroy(view); /* the device copy must not need it */
    struct pl_asr_stream *s = NULL;
    OK(pl_asr_stream_create(m, 0, &s));

    enum { NT = 6 };
    static const int lens[NT] = {1, 2, 37, 1001, 0, 250};
    float *feats[NT], *cpu[NT], *gpu[NT];
    int n_cpu[NT], n_gpu[NT];
    for (int i = 0; i < NT; i++) {
        int no = pl_asr_model_n_out(m, lens[i]);
        ck_assert_int_eq(pl_cuda_asr_n_out(g, lens[i]), no);
        feats[i] = pl_malloc(((size_t)lens[i] + 1) * NM * 4);
        cpu[i] = pl_malloc(((size_t)no + 1) * V * 4);
        gpu[i] = pl_malloc(((size_t)no + 1) * V * 4);
        ck_assert(feats[i] && cpu[i] && gpu[i]);
        fill(feats[i], (size_t)lens[i] * NM, -2, 2);
        OK(pl_asr_model_forward(s, feats[i], lens[i], cpu[i], &n_cpu[i]));
        ck_assert_int_eq(n_cpu[i], no);
    }
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 0) { /* one at a time */
            for (int i = 0; i < NT; i++)
                OK(pl_cuda_asr_forward(g, 1, (const float *const *)&feats[i], &lens[i], &gpu[i],
                                       &n_gpu[i]));
        } else { /* one padded batch */
            for (int i = 0; i < NT; i++) memset(gpu[i], 0, (size_t)(n_cpu[i] + 1) * V * 4);
            OK(pl_cuda_asr_forward(g, NT, (const float *const *)feats, lens, gpu, n_gpu));
        }
        for (int i = 0; i < NT; i++) {
            ck_assert_int_eq(n_gpu[i], n_cpu[i]);
            double worst = 0;
            for (size_t e = 0; e < (size_t)n_cpu[i] * V; e++) {
                ck_assert_msg(isfinite(gpu[i][e]), "model %d T=%d: non-finite log-prob", mi,
                              lens[i]);
                double d = fabs((double)gpu[i][e] - cpu[i][e]);
                if (d > worst) worst = d;
            }
            ck_assert_msg(worst <= TOL_MODEL,
                          "model %d T=%d (%s): max abs diff %g vs the CPU forward (seed %llu)", mi,
                          lens[i], pass ? "batched" : "alone", worst, (unsigned long long)g_seed);
        }
    }
    for (int i = 0; i < NT; i++) {
        pl_free(feats[i]);
        pl_free(cpu[i]);
        pl_free(gpu[i]);
    }
    pl_asr_stream_destroy(s);
    pl_cuda_asr_destroy(g);
    pl_asr_model_destroy(m);
}

START_TEST(model) {
    seed();
    struct pl_cuda_ctx *ctx = ctx_open();
    for (size_t i = 0; i < PL_ARRAY_LEN(g_models); i++) check_model(ctx, &g_models[i], (int)i);
    pl_cuda_ctx_destroy(ctx);
}
END_TEST

START_TEST(bad_args) {
    seed();
    struct pl_cuda_ctx *ctx = ctx_open();
    float *d = NULL;
    OK(pl_cuda_malloc(ctx, 4096, (void **)&d));
    /* pad_left past the span, zero sizes, NULLs, aliasing */
    ck_assert_int_eq(
        pl_cuda_asr_dwconv(ctx, PL_CUDA_F32, d + 512, d, d, NULL, 1, 4, 4, 8, 3, 1, 1, 3),
        PL_E_INVALID_ARG);
    ck_assert_int_eq(
        pl_cuda_asr_dwconv(ctx, PL_CUDA_F32, d + 512, d, d, NULL, 1, 0, 4, 8, 3, 1, 1, 1),
        PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_cuda_asr_dwconv(ctx, PL_CUDA_F32, NULL, d, d, NULL, 1, 4, 4, 8, 3, 1, 1, 1),
                     PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_cuda_asr_dwconv(ctx, PL_CUDA_F32, d, d, d, NULL, 1, 4, 4, 8, 3, 1, 1, 1),
                     PL_E_INVALID_ARG);
    ck_assert_int_eq(
        pl_cuda_asr_dwconv(NULL, PL_CUDA_F32, d + 512, d, d, NULL, 1, 4, 4, 8, 3, 1, 1, 1),
        PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_cuda_log_softmax(ctx, PL_CUDA_F32, d, d, 0, 4), PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_cuda_log_softmax(ctx, PL_CUDA_F32, NULL, d, 1, 4), PL_E_INVALID_ARG);

    /* views with broken geometry */
    char dir[64];
    snprintf(dir, sizeof dir, "/tmp/pl_asrcuda_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    write_model(dir, &g_models[0]);
    struct pl_asr_model *m = NULL;
    OK(pl_asr_model_load(dir, NULL, &m));
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
    struct pl_asr_model_view *v = NULL;
    struct pl_cuda_asr *g = NULL;
    OK(pl_asr_model_view_create(m, &v));
    struct pl_asr_conv_view *cv = (struct pl_asr_conv_view *)v->convs;
    cv[1].cin++;
    ck_assert_int_eq(pl_cuda_asr_create(ctx, v, &g), PL_E_INVALID_ARG);
    ck_assert_ptr_null(g);
    cv[1].cin--;
    cv[2].left++;
    ck_assert_int_eq(pl_cuda_asr_create(ctx, v, &g), PL_E_INVALID_ARG);
    cv[2].left--;
    v->dec_c++;
    ck_assert_int_eq(pl_cuda_asr_create(ctx, v, &g), PL_E_INVALID_ARG);
    v->dec_c--;
    ck_assert_int_eq(pl_cuda_asr_create(ctx, NULL, &g), PL_E_INVALID_ARG);
    OK(pl_cuda_asr_create(ctx, v, &g));
    pl_asr_model_view_destroy(v);

    /* forward: bad counts and lengths; all-empty utterances are fine */
    float buf[64];
    float *outs[2] = {buf, buf + 32};
    const float *fe[2] = {NULL, NULL};
    int lens[2] = {0, 0}, n_out[2] = {7, 7};
    ck_assert_int_eq(pl_cuda_asr_forward(g, 0, fe, lens, outs, n_out), PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_cuda_asr_forward(NULL, 1, fe, lens, outs, n_out), PL_E_INVALID_ARG);
    OK(pl_cuda_asr_forward(g, 2, fe, lens, outs, n_out));
    ck_assert_int_eq(n_out[0], 0);
    ck_assert_int_eq(n_out[1], 0);
    lens[1] = -1;
    ck_assert_int_eq(pl_cuda_asr_forward(g, 2, fe, lens, outs, n_out), PL_E_INVALID_ARG);
    lens[1] = 3; /* 3 frames but no data */
    ck_assert_int_eq(pl_cuda_asr_forward(g, 2, fe, lens, outs, n_out), PL_E_INVALID_ARG);
    pl_cuda_asr_destroy(g);
    pl_asr_model_destroy(m);
    pl_cuda_free(ctx, d);
    pl_cuda_ctx_destroy(ctx);
}
END_TEST

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

Suite *pl_asrcuda_suite(void) {
    Suite *s = suite_create("asrcuda");
    if (!have_device()) {
        printf("skipped: no CUDA device\n");
        fflush(stdout);
        return s;
    }
    TCase *tc = tcase_create("asrcuda");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, dwconv);
    tcase_add_test(tc, log_softmax);
    tcase_add_test(tc, model);
    tcase_add_test(tc, bad_args);
    suite_add_tcase(s, tc);
    return s;
}
