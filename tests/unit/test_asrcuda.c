/*
 * test_asrcuda.c - the ASR acoustic model on the "cuda" backend against the
 * same model on "cpu" (engine/models/asr_state.c runs the same graphs on
 * both; the CUDA kernels are checked op by op in test_cuda_backend.c):
 *
 *   random_models  random-weight models written here (config.json +
 *                  model.safetensors; odd channel counts, dilation, strides 2
 *                  and 3, a strided epilogue, V > 256, no blocks): whole
 *                  utterances one at a time and as one batch (T = 0, 1, 2, 37,
 *                  250, 1001), max abs diff <= 1e-4 from the CPU; the same
 *                  utterances fed in chunks of 16 frames on the device equal
 *                  the device's full forward (incremental state in device
 *                  buffers); output row counts = pl_asr_model_n_out()
 *   shipped        models/asr-en-quartznet on 4 s of features: max abs diff
 *                  <= 2e-3 (17 layers of 256 channels: cuBLAS and the CPU kernels
 *                  sum in different orders) and the same argmax on >= 99% of
 *                  the frames
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
#include "backend.h"
#include "models/asr_model.h"
#include "test_engine_util.h"

#define TOL_MODEL 1e-4
#define TOL_CHUNKS 1e-4
#define TOL_SHIPPED 2e-3

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
        ck_assert_msg(pl__s == PL_OK, "%s: %s (%s)", #expr, pl_status_str(pl__s),                 \
                      pl_last_error());                                                            \
    } while (0)

static struct pl_asr_model *load_on(const char *dir, const char *device) {
    struct pl_asr_model_options o = {.device = device};
    struct pl_asr_model *m = NULL;
    OK(pl_asr_model_load(dir, &o, &m));
    return m;
}


/* Feed feats in chunks of `chunk` frames, then finish. Returns the rows written. */
static int run_chunks(struct pl_asr_state *s, const float *feats, int T, int chunk, int n_mels,
                      int V, float *out) {
    float *tmp = pl_malloc((size_t)pl_asr_state_max_out(s) * V * sizeof(float));
    int done = 0, k;
    ck_assert_ptr_nonnull(tmp);
    pl_asr_state_reset(s);
    for (int off = 0; off < T; off += chunk) {
        int n = T - off < chunk ? T - off : chunk;
        OK(pl_asr_state_feed(s, feats + (size_t)off * n_mels, n, tmp, &k));
        memcpy(out + (size_t)done * V, tmp, (size_t)k * V * sizeof(float));
        done += k;
    }
    OK(pl_asr_state_finish(s, tmp, &k));
    memcpy(out + (size_t)done * V, tmp, (size_t)k * V * sizeof(float));
    pl_free(tmp);
    return done + k;
}

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

static void check_model(const struct model_geo *geo, int mi) {
    char dir[64];
    snprintf(dir, sizeof dir, "/tmp/pl_asrcuda_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    write_model(dir, geo);
    struct pl_asr_model *m = load_on(dir, "cpu"), *g = load_on(dir, "cuda");
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
    ck_assert_msg(strncmp(pl_asr_model_device(g), "cuda", 4) == 0, "device %s",
                  pl_asr_model_device(g));
    const struct pl_asr_model_config *cfg = pl_asr_model_get_config(m);
    const int V = cfg->vocab_size, NM = cfg->n_mels;
    enum { NT = 6 };
    static const int lens[NT] = {1, 2, 37, 1001, 0, 250};
    float *feats[NT], *cpu[NT], *gpu[NT], *chunked;
    int n_cpu[NT], n_gpu[NT], max_no = 0;
    struct pl_asr_state *s = NULL, *gs[NT];
    struct pl_asr_batch *gb = NULL;
    OK(pl_asr_state_create(m, 0, &s));
    OK(pl_asr_batch_create(g, NT, 0, &gb));
    for (int i = 0; i < NT; i++) {
        int no = pl_asr_model_n_out(m, lens[i]);
        ck_assert_int_eq(pl_asr_model_n_out(g, lens[i]), no);
        max_no = no > max_no ? no : max_no;
        feats[i] = pl_malloc(((size_t)lens[i] + 1) * NM * 4);
        cpu[i] = pl_malloc(((size_t)no + 1) * V * 4);
        gpu[i] = pl_malloc(((size_t)no + 1) * V * 4);
        ck_assert(feats[i] && cpu[i] && gpu[i]);
        fill(feats[i], (size_t)lens[i] * NM, -2, 2);
        OK(pl_asr_model_forward(s, feats[i], lens[i], cpu[i], &n_cpu[i]));
        ck_assert_int_eq(n_cpu[i], no);
        OK(pl_asr_state_create(g, 0, &gs[i]));
    }
    chunked = pl_malloc(((size_t)max_no + 1) * V * 4);
    ck_assert_ptr_nonnull(chunked);
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 0) { /* one at a time, through each state's private batch */
            for (int i = 0; i < NT; i++)
                OK(pl_asr_model_forward(gs[i], feats[i], lens[i], gpu[i], &n_gpu[i]));
        } else { /* one batch */
            for (int i = 0; i < NT; i++) memset(gpu[i], 0, (size_t)(n_cpu[i] + 1) * V * 4);
            OK(pl_asr_batch_forward(gb, gs, NT, (const float *const *)feats, lens, gpu, n_gpu));
        }
        for (int i = 0; i < NT; i++) {
            ck_assert_int_eq(n_gpu[i], n_cpu[i]);
            double worst = pl_test_max_diff(gpu[i], cpu[i], (size_t)n_cpu[i] * V);
            ck_assert_msg(worst <= TOL_MODEL,
                          "model %d T=%d (%s): max abs diff %g vs the CPU forward (seed %llu)", mi,
                          lens[i], pass ? "batched" : "alone", worst, (unsigned long long)g_seed);
        }
    }
    /* incremental state in device buffers: chunks of 16 frames == the full forward */
    for (int i = 0; i < NT; i++) {
        int n = run_chunks(gs[i], feats[i], lens[i], 16, NM, V, chunked);
        ck_assert_int_eq(n, n_gpu[i]);
        double d = pl_test_max_diff(chunked, gpu[i], (size_t)n * V);
        ck_assert_msg(d <= TOL_CHUNKS, "model %d T=%d: chunks of 16 differ by %g on the device",
                      mi, lens[i], d);
    }
    for (int i = 0; i < NT; i++) {
        pl_asr_state_destroy(gs[i]);
        pl_free(feats[i]);
        pl_free(cpu[i]);
        pl_free(gpu[i]);
    }
    pl_free(chunked);
    pl_asr_batch_destroy(gb);
    pl_asr_state_destroy(s);
    pl_asr_model_destroy(g);
    pl_asr_model_destroy(m);
}

START_TEST(random_models) {
    seed();
    for (size_t i = 0; i < PL_ARRAY_LEN(g_models); i++) check_model(&g_models[i], (int)i);
}
END_TEST

START_TEST(shipped) {
    seed();
    const char *src = getenv("PARLEY_SOURCE_DIR");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/models/asr-en-quartznet", src ? src : ".");
    struct pl_asr_model *m = load_on(dir, "cpu"), *g = load_on(dir, "cuda");
    const struct pl_asr_model_config *c = pl_asr_model_get_config(m);
    const int T = 400, V = c->vocab_size, To = pl_asr_model_n_out(m, T);
    float *x = pl_malloc((size_t)T * c->n_mels * 4), *a = pl_malloc(((size_t)To + 1) * V * 4),
          *b = pl_malloc(((size_t)To + 1) * V * 4);
    ck_assert(x && a && b);
    /* log-mel-like features: a smooth spectrum that moves, plus noise */
    for (int t = 0; t < T; t++)
        for (int f = 0; f < c->n_mels; f++)
            x[(size_t)t * c->n_mels + f] =
                (float)(sin(0.07 * t + 0.2 * f) * 1.5 - 0.02 * f) + rnd(-0.3f, 0.3f);
    struct pl_asr_state *s, *gs;
    int na, nb, agree = 0;
    OK(pl_asr_state_create(m, 64, &s));
    OK(pl_asr_state_create(g, 64, &gs));
    OK(pl_asr_model_forward(s, x, T, a, &na));
    OK(pl_asr_model_forward(gs, x, T, b, &nb));
    ck_assert_int_eq(na, To);
    ck_assert_int_eq(nb, To);
    for (int r = 0; r < To; r++) {
        int ia = 0, ib = 0;
        for (int v = 1; v < V; v++) {
            if (a[(size_t)r * V + v] > a[(size_t)r * V + ia]) ia = v;
            if (b[(size_t)r * V + v] > b[(size_t)r * V + ib]) ib = v;
        }
        agree += ia == ib;
    }
    double d = pl_test_max_diff(a, b, (size_t)To * V);
    fprintf(stderr, "asr model on %s: max |cuda - cpu| %.3g, argmax agrees on %d/%d frames\n",
            pl_asr_model_device(g), d, agree, To);
    ck_assert_msg(d <= TOL_SHIPPED, "shipped model: max |cuda - cpu| %g", d);
    ck_assert_int_ge(agree * 100, To * 99);
    pl_asr_state_destroy(s);
    pl_asr_state_destroy(gs);
    pl_asr_model_destroy(m);
    pl_asr_model_destroy(g);
    pl_free(x);
    pl_free(a);
    pl_free(b);
}
END_TEST

Suite *pl_asrcuda_suite(void) {
    Suite *s = suite_create("asrcuda");
    if (!pl_test_have_backend("cuda")) {
        printf("skipped: no CUDA device\n");
        fflush(stdout);
        return s;
    }
    TCase *tc = tcase_create("asrcuda");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, random_models);
    tcase_add_test(tc, shipped);
    suite_add_tcase(s, tc);
    return s;
}
