/*
 * test_asr_model.c - the ASR acoustic model (engine/models/asr_model.c,
 * asr_state.c) against the PyTorch reference (tests/reference/asr_model_ref.py:
 * random weights exported through train/asr/model.py, float64 reference
 * forward): the shipped geometry and an odd one (channels not a multiple of
 * 16, dilation, stride 3, strided epilogue, zero right context), on the "cpu"
 * backend (SIMD kernels) and on "cpu-ref" (the scalar oracle): max |diff| <=
 * 1e-4. Incremental states: every chunk size (and random chunk sequences)
 * gives the full forward's output within 1e-5; feeding allocates nothing.
 * Broken model directories fail with the right status naming the problem.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "models/asr_model.h"
#include "test_engine_util.h"

#define TOL_REF 1e-4
#define TOL_STREAM 1e-5

/* Reference directories: <refdir>/{default,small,tiny}, made once per run by
 * the unchecked fixture (one Python start-up for every test). */
static char refdir[64];

static void sh(const char *cmd) { ck_assert_msg(system(cmd) == 0, "command failed: %s", cmd); }

static void make_tmp(char *dir, size_t n) {
    snprintf(dir, n, "/tmp/pl_asrm_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void rm_tmp(const char *dir) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    sh(cmd);
}

static void suite_setup(void) {
    make_tmp(refdir, sizeof refdir);
    const char *py = getenv("PL_PYTHON"), *src = getenv("PARLEY_SOURCE_DIR");
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s %s/tests/reference/asr_model_ref.py --suite %s >/dev/null",
             py ? py : "/usr/bin/python3", src ? src : ".", refdir);
    if (system(cmd) != 0) {
        rm_tmp(refdir);
        ck_abort_msg("reference failed: %s", cmd);
    }
}

static void suite_teardown(void) { rm_tmp(refdir); }

/* dir = the reference directory `name` (asr_model_ref.py SUITE lists its cases). */
static void gen(char *dir, size_t n, const char *name) { snprintf(dir, n, "%s/%s", refdir, name); }

static float *read_f32(const char *dir, const char *name, size_t want) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    float *p = pl_malloc(want * sizeof(float) + 4);
    ck_assert_uint_eq(fread(p, sizeof(float), want + 1, f), want);
    fclose(f);
    return p;
}


static struct pl_asr_model *load(const char *dir, bool ref) {
    struct pl_asr_model_options o = {.device = ref ? "cpu-ref" : "cpu"};
    struct pl_asr_model *m = NULL;
    pl_status st = pl_asr_model_load(dir, &o, &m);
    ck_assert_msg(st == PL_OK, "load %s: %s", dir, pl_last_error());
    return m;
}

/* Stream a whole utterance in chunks given by sizes[] (cycled; a size of 0
 * feeds nothing). Returns the row count written to out. */
static int run_chunks(struct pl_asr_state *s, const float *feats, int T, const int *sizes,
                      int n_sizes, float *out, int n_mels, int V) {
    pl_asr_state_reset(s);
    int done = 0, k = 0, off = 0, i = 0;
    float *tmp = pl_malloc((size_t)pl_asr_state_max_out(s) * V * sizeof(float));
    while (off < T) {
        int n = sizes[i++ % n_sizes];
        if (n > T - off) n = T - off;
        ck_assert_msg(pl_asr_state_feed(s, feats + (size_t)off * n_mels, n, tmp, &k) == PL_OK,
                      "feed: %s", pl_last_error());
        ck_assert_int_le(k, pl_asr_state_max_out(s));
        memcpy(out + (size_t)done * V, tmp, (size_t)k * V * sizeof(float));
        done += k;
        off += n;
    }
    ck_assert_int_eq(pl_asr_state_finish(s, tmp, &k), PL_OK);
    memcpy(out + (size_t)done * V, tmp, (size_t)k * V * sizeof(float));
    pl_free(tmp);
    return done + k;
}

/*
 * Parity on every case of dir's reference, with SIMD and generic kernels,
 * then streaming equivalence on the largest case.
 */
static void check_dir(const char *dir, const int *cases, int n_cases) {
    for (int ref = 0; ref < 2; ref++) {
        struct pl_asr_model *m = load(dir, ref);
        const struct pl_asr_model_config *c = pl_asr_model_get_config(m);
        int V = c->vocab_size;
        struct pl_asr_state *s;
        ck_assert_int_eq(pl_asr_state_create(m, 64, &s), PL_OK);
        double worst = 0;
        for (int i = 0; i < n_cases; i++) {
            int T = cases[i], To = pl_asr_model_n_out(m, T);
            char name[64];
            snprintf(name, sizeof name, "feats_%d.f32", i);
            float *x = read_f32(dir, name, (size_t)T * c->n_mels);
            snprintf(name, sizeof name, "logp_%d.f32", i);
            float *want = read_f32(dir, name, (size_t)To * V);
            float *got = pl_malloc(((size_t)To * V + 1) * sizeof(float));
            int n = -1;
            ck_assert_msg(pl_asr_model_forward(s, x, T, got, &n) == PL_OK, "forward: %s",
                          pl_last_error());
            ck_assert_int_eq(n, To);
            double d = pl_test_max_diff(got, want, (size_t)To * V);
            ck_assert_msg(d <= TOL_REF, "%s %s T=%d: max |diff| %g > %g", dir,
                          pl_asr_model_device(m), T, d, TOL_REF);
            if (d > worst) worst = d;
            pl_free(x);
            pl_free(want);
            pl_free(got);
        }
        fprintf(stderr, "asr model %s (%s): %d cases, max |diff| vs PyTorch %.3g\n", dir,
                pl_asr_model_device(m), n_cases, worst);
        pl_asr_state_destroy(s);
        pl_asr_model_destroy(m);
    }

    /* streaming == full forward, largest case, many chunkings */
    struct pl_asr_model *m = load(dir, false);
    const struct pl_asr_model_config *c = pl_asr_model_get_config(m);
    int V = c->vocab_size, big = 0;
    for (int i = 1; i < n_cases; i++)
        if (cases[i] > cases[big]) big = i;
    int T = cases[big], To = pl_asr_model_n_out(m, T);
    char name[64];
    snprintf(name, sizeof name, "feats_%d.f32", big);
    float *x = read_f32(dir, name, (size_t)T * c->n_mels);
    float *full = pl_malloc(((size_t)To * V + 1) * sizeof(float));
    float *part = pl_malloc(((size_t)To * V + 1) * sizeof(float));
    struct pl_asr_state *whole, *s;
    ck_assert_int_eq(pl_asr_state_create(m, T, &whole), PL_OK);
    ck_assert_int_eq(pl_asr_model_forward(whole, x, T, full, NULL), PL_OK);
    ck_assert_int_eq(pl_asr_state_create(m, 37, &s), PL_OK);
    double worst = 0;
    static const int fixed[] = {1, 2, 3, 4, 5, 7, 8, 16, 31, 37};
    for (size_t f = 0; f < sizeof fixed / sizeof fixed[0]; f++) {
        int n = run_chunks(s, x, T, &fixed[f], 1, part, c->n_mels, V);
        ck_assert_int_eq(n, To);
        double d = pl_test_max_diff(part, full, (size_t)To * V);
        ck_assert_msg(d <= TOL_STREAM, "chunk %d: max |chunked - full| %g", fixed[f], d);
        if (d > worst) worst = d;
    }
    unsigned seed = 7;
    for (int r = 0; r < 5; r++) {
        int sizes[16];
        for (int i = 0; i < 16; i++)
            sizes[i] = (int)((seed = seed * 1103515245u + 12345u) >> 16) % 38;
        sizes[0] = sizes[0] ? sizes[0] : 1;
        int n = run_chunks(s, x, T, sizes, 16, part, c->n_mels, V);
        ck_assert_int_eq(n, To);
        double d = pl_test_max_diff(part, full, (size_t)To * V);
        ck_assert_msg(d <= TOL_STREAM, "random chunks %d: max |chunked - full| %g", r, d);
        if (d > worst) worst = d;
    }
    fprintf(stderr, "asr model %s: streaming T=%d, chunk sizes 1..37: max |chunked - full| %.3g\n",
            dir, T, worst);
    /* batches: every case at once, random chunks, states finishing at different steps */
    {
        struct pl_asr_batch *b;
        ck_assert_int_eq(pl_asr_batch_create(m, n_cases, 37, &b), PL_OK);
        struct pl_asr_state *ss[16];
        float *xs[16], *want[16], *got[16], *outs[16];
        const float *fp[16];
        int off[16], done[16], nf[16], no[16], To_[16];
        bool fin[16], ended[16];
        ck_assert_int_le(n_cases, 16);
        for (int i = 0; i < n_cases; i++) {
            ck_assert_int_eq(pl_asr_state_create(m, 40, &ss[i]), PL_OK);
            snprintf(name, sizeof name, "feats_%d.f32", i);
            xs[i] = read_f32(dir, name, (size_t)cases[i] * c->n_mels);
            To_[i] = pl_asr_model_n_out(m, cases[i]);
            want[i] = pl_malloc(((size_t)To_[i] * V + 1) * sizeof(float));
            got[i] = pl_malloc(((size_t)To_[i] * V + 1) * sizeof(float));
            outs[i] = pl_malloc((size_t)pl_asr_state_max_out(ss[i]) * V * sizeof(float));
            ck_assert_int_eq(pl_asr_model_forward(whole, xs[i], cases[i], want[i], NULL), PL_OK);
            pl_asr_state_reset(ss[i]);
            off[i] = done[i] = 0;
            ended[i] = false;
        }
        int left = n_cases;
        while (left) {
            struct pl_asr_state *bs[16];
            float *bo[16];
            int k = 0, idx[16];
            for (int i = 0; i < n_cases; i++) {
                if (ended[i]) continue;
                seed = seed * 1103515245u + 12345u;
                if ((seed >> 20) % 5 == 0) continue; /* this state sits this step out */
                int n = (int)((seed >> 8) % 38);
                if (n > cases[i] - off[i]) n = cases[i] - off[i];
                idx[k] = i;
                bs[k] = ss[i];
                fp[k] = xs[i] + (size_t)off[i] * c->n_mels;
                nf[k] = n;
                fin[k] = off[i] + n == cases[i];
                bo[k] = outs[i];
                off[i] += n;
                k++;
            }
            ck_assert_msg(pl_asr_batch_step(b, bs, k, fp, nf, fin, bo, no) == PL_OK, "batch: %s",
                          pl_last_error());
            for (int j = 0; j < k; j++) {
                int i = idx[j];
                ck_assert_int_le(done[i] + no[j], To_[i]);
                memcpy(got[i] + (size_t)done[i] * V, outs[i], (size_t)no[j] * V * sizeof(float));
                done[i] += no[j];
                if (fin[j]) {
                    ended[i] = true;
                    left--;
                }
            }
        }
        for (int i = 0; i < n_cases; i++) {
            ck_assert_int_eq(done[i], To_[i]);
            double d = pl_test_max_diff(got[i], want[i], (size_t)To_[i] * V);
            ck_assert_msg(d <= TOL_STREAM, "batch case %d: max |batched - full| %g", i, d);
            if (d > worst) worst = d;
            pl_free(xs[i]);
            pl_free(want[i]);
            pl_free(got[i]);
            pl_free(outs[i]);
        }
        /* whole utterances batched: the same rows as one by one */
        {
            const float *fx[16];
            float *ox[16];
            int nx[16], onx[16];
            for (int i = 0; i < n_cases; i++) {
                snprintf(name, sizeof name, "feats_%d.f32", i);
                xs[i] = read_f32(dir, name, (size_t)cases[i] * c->n_mels);
                fx[i] = xs[i];
                nx[i] = cases[i];
                ox[i] = got[i] = pl_malloc(((size_t)To_[i] * V + 1) * sizeof(float));
                want[i] = pl_malloc(((size_t)To_[i] * V + 1) * sizeof(float));
                ck_assert_int_eq(pl_asr_model_forward(whole, xs[i], cases[i], want[i], NULL),
                                 PL_OK);
            }
            for (int th = 1; th <= 2; th++) {
                ck_assert_int_eq(pl_asr_batch_set_threads(b, th), PL_OK);
                ck_assert_msg(pl_asr_batch_forward(b, ss, n_cases, fx, nx, ox, onx) == PL_OK,
                              "batch forward: %s", pl_last_error());
                for (int i = 0; i < n_cases; i++) {
                    ck_assert_int_eq(onx[i], To_[i]);
                    double d = pl_test_max_diff(got[i], want[i], (size_t)To_[i] * V);
                    ck_assert_msg(d <= TOL_STREAM, "batch forward (%d threads) case %d: %g", th, i,
                                  d);
                    if (d > worst) worst = d;
                }
            }
            ck_assert_int_eq(pl_asr_batch_set_threads(b, 0), PL_E_INVALID_ARG);
            for (int i = 0; i < n_cases; i++) {
                ck_assert_int_eq(onx[i], To_[i]);
                double d = pl_test_max_diff(got[i], want[i], (size_t)To_[i] * V);
                ck_assert_msg(d <= TOL_STREAM, "batch forward case %d: %g", i, d);
                if (d > worst) worst = d;
                pl_free(xs[i]);
                pl_free(got[i]);
                pl_free(want[i]);
            }
        }
        /* misuse is refused before anything changes */
        const float *nofeat = NULL;
        struct pl_asr_state *dup[2] = {ss[0], ss[0]};
        float *ob[2] = {part, part};
        const float *fb[2] = {nofeat, nofeat};
        int nb[2] = {0, 0}, nob[2];
        ck_assert_int_eq(pl_asr_batch_step(b, dup, 2, fb, nb, NULL, ob, nob), PL_E_INVALID_ARG);
        ck_assert_int_eq(pl_asr_batch_step(b, ss, 1, fb, nb, NULL, ob, nob),
                         PL_E_INVALID_ARG); /* finished */
        pl_asr_state_reset(ss[0]);
        nb[0] = 38;
        ck_assert_int_eq(pl_asr_batch_step(b, ss, 1, fb, nb, NULL, ob, nob), PL_E_INVALID_ARG);
        ck_assert_int_eq(pl_asr_batch_step(b, ss, n_cases + 1, fb, nb, NULL, ob, nob),
                         PL_E_INVALID_ARG);
        for (int i = 0; i < n_cases; i++)
            pl_asr_state_destroy(ss[i]);
        pl_asr_batch_destroy(b);
        fprintf(stderr,
                "asr model %s: batch of %d states == their full forwards (max |diff| %.3g)\n", dir,
                n_cases, worst);
    }
    /* a feed allocates nothing */
    struct pl_alloc_stats a0, a1;
    float *tmp = pl_malloc((size_t)pl_asr_state_max_out(s) * V * sizeof(float));
    int k;
    pl_asr_state_reset(s);
    pl_alloc_stats(&a0);
    for (int off = 0; off + 37 <= T; off += 37)
        ck_assert_int_eq(pl_asr_state_feed(s, x + (size_t)off * c->n_mels, 37, tmp, &k), PL_OK);
    ck_assert_int_eq(pl_asr_state_finish(s, tmp, &k), PL_OK);
    pl_alloc_stats(&a1);
    ck_assert_int_eq(a1.total_allocs, a0.total_allocs);
    pl_free(tmp);
    pl_asr_state_destroy(s);
    pl_asr_state_destroy(whole);
    pl_free(x);
    pl_free(full);
    pl_free(part);
    pl_asr_model_destroy(m);
}

START_TEST(parity_default) {
    char dir[128];
    gen(dir, sizeof dir, "default");
    static const int cases[] = {1, 2, 3, 7, 100, 333};
    check_dir(dir, cases, 6);
    /* the shipped geometry: stride 2, 77 frames of look-ahead */
    struct pl_asr_model *m = load(dir, false);
    ck_assert_int_eq(pl_asr_model_get_config(m)->stride, 2);
    ck_assert_int_eq(pl_asr_model_get_config(m)->right_context, 77);
    ck_assert_int_eq(pl_asr_model_get_config(m)->vocab_size, 29);
    ck_assert_str_eq(pl_asr_model_token(m, 1), " ");
    ck_assert_ptr_null(pl_asr_model_token(m, 29));
    pl_asr_model_destroy(m);
}
END_TEST

START_TEST(parity_odd_geometry) {
    char dir[128];
    gen(dir, sizeof dir, "small");
    static const int cases[] = {1, 2, 5, 6, 7, 12, 13, 50, 241};
    check_dir(dir, cases, 9);
}
END_TEST

START_TEST(state_contract) {
    char dir[128];
    gen(dir, sizeof dir, "tiny");
    struct pl_asr_model *m = load(dir, false);
    const struct pl_asr_model_config *c = pl_asr_model_get_config(m);
    struct pl_asr_state *s;
    ck_assert_int_eq(pl_asr_state_create(m, -1, &s), PL_E_INVALID_ARG);
    ck_assert_ptr_null(s);
    ck_assert_int_eq(pl_asr_state_create(m, 1 << 20, &s), PL_E_INVALID_ARG);
    struct pl_asr_batch *b = (struct pl_asr_batch *)1;
    ck_assert_int_eq(pl_asr_batch_create(m, 4096, 65536, &b), PL_E_UNSUPPORTED);
    ck_assert_ptr_null(b);
    ck_assert_int_eq(pl_asr_batch_create(m, 0, 16, &b), PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_asr_state_create(m, 4, &s), PL_OK);
    float x[16 * 8] = {0}, out[64 * 29];
    int k = -1;
    ck_assert_int_eq(pl_asr_state_feed(s, x, 5, out, &k), PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_asr_state_feed(s, NULL, 2, out, &k), PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_asr_state_feed(s, x, 0, out, &k), PL_OK);
    ck_assert_int_eq(k, 0);
    /* nothing fed: no output at all */
    ck_assert_int_eq(pl_asr_state_finish(s, out, &k), PL_OK);
    ck_assert_int_eq(k, 0);
    ck_assert_int_eq(pl_asr_state_feed(s, x, 1, out, &k), PL_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(pl_last_error(), "finished"));
    ck_assert_int_eq(pl_asr_state_finish(s, out, &k), PL_E_INVALID_ARG);
    pl_asr_state_reset(s);
    /* output lags by the look-ahead: 4 frames give nothing yet (tiny: 2 + 2*1*2 + 1*2 = 8) */
    ck_assert_int_eq(c->right_context, 8);
    ck_assert_int_eq(pl_asr_state_feed(s, x, 4, out, &k), PL_OK);
    ck_assert_int_eq(k, 0);
    ck_assert_int_eq(pl_asr_state_feed(s, x, 4, out, &k), PL_OK);
    ck_assert_int_eq(k, 0);
    ck_assert_int_eq(pl_asr_state_feed(s, x, 4, out, &k), PL_OK);
    ck_assert_int_gt(k, 0);
    ck_assert_int_eq(pl_asr_state_frames_in(s), 12);
    ck_assert_int_eq(pl_asr_state_finish(s, out, &k), PL_OK);
    ck_assert_int_eq(pl_asr_state_frames_out(s), 6);
    ck_assert_int_eq(pl_asr_model_n_out(m, 12), 6);
    /* zero-length forward */
    ck_assert_int_eq(pl_asr_model_forward(s, NULL, 0, out, &k), PL_OK);
    ck_assert_int_eq(k, 0);
    /* log-probs normalize */
    for (int i = 0; i < 16 * 8; i++)
        x[i] = (float)sin(i * 0.37) * 3;
    ck_assert_int_eq(pl_asr_model_forward(s, x, 16, out, &k), PL_OK);
    ck_assert_int_eq(k, 8);
    for (int r = 0; r < k; r++) {
        double sum = 0;
        for (int v = 0; v < c->vocab_size; v++)
            sum += exp(out[r * c->vocab_size + v]);
        ck_assert_double_eq_tol(sum, 1.0, 1e-5);
    }
    pl_asr_state_destroy(s);
    pl_asr_model_destroy(m);
}
END_TEST

/* Rewrite dir/config.json through a sed expression; load must fail with st
 * and a message containing what. */
static void expect_bad(const char *dir, const char *py_edit, pl_status st, const char *what) {
    char cmd[2048], bad[160];
    snprintf(bad, sizeof bad, "%s/bad", dir);
    const char *py = getenv("PL_PYTHON");
    snprintf(cmd, sizeof cmd,
             "rm -rf '%s' && mkdir '%s' && cp '%s/config.json' '%s/model.safetensors' '%s/' && "
             "%s - '%s' <<'EOF'\nimport json, sys, os\nd = sys.argv[1]\n"
             "c = json.load(open(d + '/config.json'))\n%s\n"
             "json.dump(c, open(d + '/config.json', 'w'))\nEOF",
             bad, bad, dir, dir, bad, py ? py : "/usr/bin/python3", bad, py_edit);
    sh(cmd);
    struct pl_asr_model *m = (struct pl_asr_model *)1;
    pl_status got = pl_asr_model_load(bad, NULL, &m);
    ck_assert_msg(got == st, "%s: got %s (%s), want %s", py_edit, pl_status_str(got),
                  pl_last_error(), pl_status_str(st));
    ck_assert_ptr_null(m);
    ck_assert_msg(strstr(pl_last_error(), what) != NULL, "%s: message '%s' lacks '%s'", py_edit,
                  pl_last_error(), what);
}

START_TEST(bad_model_dirs) {
    char dir[128], cmd[512];
    gen(dir, sizeof dir, "tiny");
    struct pl_asr_model *m = NULL;
    char miss[160];
    snprintf(miss, sizeof miss, "%s/nope", dir);
    ck_assert_int_eq(pl_asr_model_load(miss, NULL, &m), PL_E_IO);
    ck_assert_int_eq(pl_asr_model_load(NULL, NULL, &m), PL_E_INVALID_ARG);
    expect_bad(dir, "c['model_type'] = 'bert'", PL_E_UNSUPPORTED, "model_type");
    expect_bad(dir, "c['prologue']['right'] = 99", PL_E_FORMAT, "right context");
    expect_bad(dir, "c['blocks'][0]['kernel'] = 7", PL_E_FORMAT,
               "encoder.blocks.0.sub.0.dw.weight");
    expect_bad(dir, "c['blocks'][0]['channels'] = 17", PL_E_FORMAT,
               "encoder.blocks.0.sub.0.pw.weight");
    expect_bad(dir, "c['vocab'] = c['vocab'][:5]", PL_E_FORMAT, "decoder.weight");
    expect_bad(dir, "c['blocks'].append(dict(c['blocks'][0]))", PL_E_FORMAT, "encoder.blocks.1");
    expect_bad(dir, "c['blocks'][0]['stride'] = 2", PL_E_UNSUPPORTED, "strided");
    expect_bad(dir, "c['prologue']['channels'] = -3", PL_E_FORMAT, "prologue");
    expect_bad(dir, "c['vocab'][3] = 7", PL_E_FORMAT, "vocab[3]");
    expect_bad(dir, "c['blank'] = 100", PL_E_FORMAT, "blank");
    expect_bad(dir, "c['epilogue'] = 5", PL_E_FORMAT, "epilogue");
    /* truncated weights and a garbage config */
    snprintf(cmd, sizeof cmd, "truncate -s 1000 '%s/bad/model.safetensors'", dir);
    sh(cmd);
    ck_assert_int_eq(pl_asr_model_load(dir, NULL, &m), PL_OK);
    pl_asr_model_destroy(m);
    char bad[160];
    snprintf(bad, sizeof bad, "%s/bad", dir);
    ck_assert_int_eq(pl_asr_model_load(bad, NULL, &m), PL_E_FORMAT);
    snprintf(cmd, sizeof cmd,
             "cp '%s/model.safetensors' '%s/' && echo '{\"vocab\": [' > '%s/config.json'", dir, bad,
             bad);
    sh(cmd);
    ck_assert_int_eq(pl_asr_model_load(bad, NULL, &m), PL_E_FORMAT);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", bad);
    sh(cmd);
}
END_TEST

Suite *pl_asr_model_suite(void) {
    Suite *s = suite_create("asr_model");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_unchecked_fixture(tc, suite_setup, suite_teardown);
    tcase_add_test(tc, parity_default);
    tcase_add_test(tc, parity_odd_geometry);
    tcase_add_test(tc, state_contract);
    tcase_add_test(tc, bad_model_dirs);
    suite_add_tcase(s, tc);
    return s;
}
