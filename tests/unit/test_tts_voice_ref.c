/*
 * test_tts_voice_ref.c - the neural voice (engine/tts/tts_voice.c) against the
 * PyTorch recipe (train/tts/model.py through tests/reference/tts_voice_ref.py,
 * float64) on random weights: the three predictors, the mel frames with given
 * durations, pitch and energy, and the vocoder's samples (torch.istft) within
 * 1e-4 of the largest reference value, on "cpu" (best kernels, then the
 * portable family), "cpu-ref" and, when a GPU is present, "cuda". The
 * vocoder's output is the same whatever block size it streams in. Then the
 * sentence API (chunks, durations, cancel) and loading errors.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "backend.h"
#include "tts_voice_impl.h"

#define TOL 1e-4

static char g_dir[64];

static void sh(const char *cmd) { ck_assert_msg(system(cmd) == 0, "command failed: %s", cmd); }

static void *read_all(const char *name, size_t elem, size_t *n_out) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long bytes = ftell(f);
    fseek(f, 0, SEEK_SET);
    ck_assert_int_gt(bytes, 0);
    size_t n = (size_t)bytes / elem;
    void *p = pl_malloc(n * elem);
    ck_assert_uint_eq(fread(p, elem, n, f), n);
    fclose(f);
    *n_out = n;
    return p;
}

static void setup(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/pl_ttsref_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(g_dir));
    const char *py = getenv("PL_PYTHON"), *src = getenv("PARLEY_SOURCE_DIR");
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s %s/tests/reference/tts_voice_ref.py %s",
             py && *py ? py : "/usr/bin/python3", src && *src ? src : ".", g_dir);
    sh(cmd);
}

static void teardown(void) {
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    sh(cmd);
}

/* max |a - b| / max(1e-3, max |b|) */
static double rel_diff(const float *a, const float *b, size_t n) {
    double worst = 0, big = 1e-3;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= worst)) worst = d;
        if (fabs(b[i]) > big) big = fabs(b[i]);
    }
    return worst / big;
}

struct sink {
    float *v;
    size_t n, cap;
    int calls;
    int stop_after; /* 0: never */
};

static int collect(void *ud, const float *pcm, size_t n) {
    struct sink *s = ud;
    if (s->n + n > s->cap) {
        s->cap = (s->n + n) * 2;
        s->v = pl_realloc(s->v, s->cap * sizeof(float));
        ck_assert_ptr_nonnull(s->v);
    }
    memcpy(s->v + s->n, pcm, n * sizeof(float));
    s->n += n;
    s->calls++;
    return s->stop_after && s->calls >= s->stop_after;
}

static void load(const char *backend, struct pl_tts_voice **v) {
    char dir[128];
    snprintf(dir, sizeof dir, "%s/voice", g_dir);
    struct pl_tts_voice_opts o = {.backend = backend};
    ck_assert_msg(pl_tts_voice_load(dir, &o, v) == PL_OK, "%s", pl_last_error());
}

static void parity(const char *backend, const char *family) {
    if (family) setenv("PARLEY_CPU_KERNELS", family, 1);
    else unsetenv("PARLEY_CPU_KERNELS");
    size_t n, nd, np, ne, nl, nmel, nwav;
    int32_t *tok = read_all("tokens.i32", 4, &n);
    int32_t *dur = read_all("dur.i32", 4, &nd);
    float *pin = read_all("pin.f32", 4, &np), *ein = read_all("ein.f32", 4, &ne);
    float *rlogd = read_all("logd.f32", 4, &nl), *rp = read_all("pitch.f32", 4, &np);
    float *re = read_all("energy.f32", 4, &ne);
    float *rmel = read_all("mel.f32", 4, &nmel), *rwav = read_all("wav.f32", 4, &nwav);
    ck_assert_uint_eq(nd, n);
    struct pl_tts_voice *v;
    load(backend, &v);
    ck_assert_int_eq(pl_tts_voice_n_mels(v), 80);
    float *logd = pl_malloc(n * 3 * sizeof(float)), *p = logd + n, *e = p + n;
    float *mel = NULL;
    size_t T = 0;
    ck_assert_msg(pl_tts_voice_acoustic(v, tok, n, dur, pin, ein, logd, p, e, &mel, &T) == PL_OK,
                  "%s", pl_last_error());
    ck_assert_uint_eq(T * 80, nmel);
    double dl = rel_diff(logd, rlogd, n), dp = rel_diff(p, rp, n), de = rel_diff(e, re, n);
    double dm = rel_diff(mel, rmel, nmel);

    struct sink whole = {0}, small = {0};
    ck_assert_int_eq(pl_tts_voice_vocode(v, rmel, T, 0, collect, &whole), PL_OK);
    ck_assert_int_eq(pl_tts_voice_vocode(v, rmel, T, 7, collect, &small), PL_OK);
    ck_assert_uint_eq(whole.n, nwav);
    ck_assert_uint_eq(small.n, nwav);
    ck_assert_int_gt(small.calls, 10);
    double dw = rel_diff(whole.v, rwav, nwav), ds = rel_diff(small.v, whole.v, nwav);
    fprintf(stderr,
            "tts voice parity (%s, %s): logd %.2g pitch %.2g energy %.2g mel %.2g (%zu frames) "
            "wav %.2g (%zu samples), 7-frame blocks vs whole %.2g\n",
            backend, family ? family : "best", dl, dp, de, dm, T, dw, nwav, ds);
    ck_assert_double_le(dl, TOL);
    ck_assert_double_le(dp, TOL);
    ck_assert_double_le(de, TOL);
    ck_assert_double_le(dm, TOL);
    ck_assert_double_le(dw, TOL);
    ck_assert_double_le(ds, 1e-5);
    pl_free(whole.v);
    pl_free(small.v);
    pl_free(mel);
    pl_free(logd);
    pl_tts_voice_destroy(v);
    pl_free(tok);
    pl_free(dur);
    pl_free(pin);
    pl_free(ein);
    pl_free(rlogd);
    pl_free(rp);
    pl_free(re);
    pl_free(rmel);
    pl_free(rwav);
}

START_TEST(test_parity_cpu) {
    parity("cpu", NULL);
    parity("cpu", "generic");
    parity("cpu-ref", NULL);
    unsetenv("PARLEY_CPU_KERNELS");
}
END_TEST

START_TEST(test_parity_cuda) {
    struct pl_backend *be = NULL;
    if (pl_backend_create("cuda", &be) != PL_OK) {
        fprintf(stderr, "tts voice parity on cuda: skipped (no CUDA backend or device)\n");
        return;
    }
    pl_backend_destroy(be);
    parity("cuda", NULL);
}
END_TEST

/* "hello, world?" as the front end would give it (phones by id). */
static void sentence(struct pl_tts_sentence *s, struct pl_tts_item *it, uint8_t *ph) {
    size_t n = 0;
    ck_assert_int_eq(pl_tts_phones_parse("HH AH0 L OW1", 12, ph, 16, &n), PL_OK);
    ck_assert_int_eq(pl_tts_phones_parse("W ER1 L D", 9, ph + 4, 16, &n), PL_OK);
    struct pl_tts_prosody pr = {1, 1, 1, 0};
    memset(it, 0, 4 * sizeof *it);
    it[0] = (struct pl_tts_item){.kind = PL_TTS_ITEM_WORD, .text = "hello", .phones = ph,
                                 .n_phones = 4, .prosody = pr};
    it[1] = (struct pl_tts_item){.kind = PL_TTS_ITEM_PAUSE, .text = ",",
                                 .punct = PL_TTS_PUNCT_COMMA, .pause_ms = 200, .prosody = pr};
    it[2] = (struct pl_tts_item){.kind = PL_TTS_ITEM_WORD, .text = "world", .phones = ph + 4,
                                 .n_phones = 4, .prosody = pr};
    it[3] = (struct pl_tts_item){.kind = PL_TTS_ITEM_PAUSE, .text = "?",
                                 .punct = PL_TTS_PUNCT_QUESTION, .pause_ms = 400, .prosody = pr};
    *s = (struct pl_tts_sentence){.items = it, .n_items = 4};
}

START_TEST(test_synth_api) {
    struct pl_tts_voice *v;
    load("cpu", &v);
    ck_assert_int_eq(pl_tts_voice_sample_rate(v), 16000);
    ck_assert_str_eq(pl_tts_voice_language(v), "en-US");
    ck_assert_double_eq_tol(pl_tts_voice_frame_seconds(v), 0.016, 1e-9);
    struct pl_tts_sentence s;
    struct pl_tts_item it[4];
    uint8_t ph[16];
    sentence(&s, it, ph);
    /* A break of 1 s in the middle: forced, so at least 62 frames of audio. */
    it[1].punct = PL_TTS_PUNCT_NONE;
    it[1].pause_ms = 1000;
    struct pl_tts_synth_opts o = {.chunk_frames = 8};
    struct pl_tts_synth_info info;
    struct sink k = {0};
    ck_assert_msg(pl_tts_voice_synth(v, &s, &o, collect, &k, &info) == PL_OK, "%s",
                  pl_last_error());
    /* BOS, 4 phones, the break, 4 phones, the end of a question */
    ck_assert_uint_eq(info.n_symbols, 11);
    ck_assert_double_eq_tol(info.durations[5], 1.0, 0.01);
    ck_assert_uint_eq(info.n_samples, k.n);
    ck_assert_uint_ge(k.n, 16000);
    ck_assert_int_gt(k.calls, 5);
    for (size_t i = 0; i < k.n; i++) ck_assert(k.v[i] >= -1.0f && k.v[i] <= 1.0f);
    pl_tts_synth_info_free(&info);

    /* The consumer stops it after the second chunk. */
    struct sink c = {.stop_after = 2};
    ck_assert_int_eq(pl_tts_voice_synth(v, &s, &o, collect, &c, &info), PL_E_CANCELLED);
    ck_assert_int_eq(c.calls, 2);
    ck_assert_ptr_null(info.durations);

    /* No closing punctuation: the end token is added and takes the last word's prosody (rate
     * 2 here), which the predicted log-duration of the same tokens gives exactly. */
    it[0].prosody.rate = it[2].prosody.rate = 2.0f;
    struct pl_tts_sentence open_end = {.items = it + 2, .n_items = 1};
    struct sink e = {0};
    ck_assert_int_eq(pl_tts_voice_synth(v, &open_end, NULL, collect, &e, &info), PL_OK);
    ck_assert_uint_eq(info.n_symbols, 6); /* BOS W ER1 L D EOS */
    int32_t toks[6] = {PL_TTS_TOK_BOS, 0, 0, 0, 0, PL_TTS_TOK_EOS};
    for (int i = 0; i < 4; i++) toks[1 + i] = (int32_t)ph[4 + i] + 1;
    float logd[6];
    ck_assert_int_eq(pl_tts_voice_acoustic(v, toks, 6, NULL, NULL, NULL, logd, NULL, NULL, NULL,
                                           NULL),
                     PL_OK);
    for (int i = 0; i < 6; i++) {
        float d = (expf(logd[i]) - 1.0f) / (i == 0 ? 1.0f : 2.0f);
        long want = d > 0 ? lrintf(d > 1000 ? 1000 : d) : 0;
        ck_assert_int_eq(lrint(info.durations[i] / 0.016), want);
    }
    pl_tts_synth_info_free(&info);
    pl_free(e.v);
    it[0].prosody.rate = it[2].prosody.rate = 1.0f;

    /* Only pauses: nothing to say, no callback. */
    struct sink none = {0};
    struct pl_tts_sentence only = {.items = it + 3, .n_items = 1};
    ck_assert_int_eq(pl_tts_voice_synth(v, &only, NULL, collect, &none, NULL), PL_OK);
    ck_assert_int_eq(none.calls, 0);
    ck_assert_int_eq(pl_tts_voice_synth(NULL, &s, NULL, collect, &none, NULL), PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_tts_voice_synth(v, &s, NULL, NULL, NULL, NULL), PL_E_INVALID_ARG);
    int32_t bad = 99;
    ck_assert_int_eq(pl_tts_voice_acoustic(v, &bad, 1, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
                                           NULL),
                     PL_E_INVALID_ARG);
    pl_free(k.v);
    pl_free(c.v);
    pl_tts_voice_destroy(v);
}
END_TEST

START_TEST(test_load_errors) {
    struct pl_tts_voice *v = (void *)1;
    ck_assert_int_eq(pl_tts_voice_load("/nonexistent/voice", NULL, &v), PL_E_IO);
    ck_assert_ptr_null(v);
    char cmd[1024], dir[128];
    snprintf(dir, sizeof dir, "%s/bad", g_dir);
    /* one more decoder block than the weights have */
    snprintf(cmd, sizeof cmd,
             "mkdir -p %s && cp %s/voice/model.safetensors %s/ && sed 's/\"n_dec\": 5/\"n_dec\": "
             "6/' %s/voice/config.json > %s/config.json",
             dir, g_dir, dir, g_dir, dir);
    sh(cmd);
    ck_assert_int_eq(pl_tts_voice_load(dir, NULL, &v), PL_E_FORMAT);
    ck_assert_msg(strstr(pl_last_error(), "ac.dec.5.conv.weight") != NULL, "%s", pl_last_error());
    /* other channel count: wrong shapes */
    snprintf(cmd, sizeof cmd,
             "sed 's/\"channels\": 128/\"channels\": 96/' %s/voice/config.json > %s/config.json",
             g_dir, dir);
    sh(cmd);
    ck_assert_int_eq(pl_tts_voice_load(dir, NULL, &v), PL_E_FORMAT);
    ck_assert_msg(strstr(pl_last_error(), "shape") != NULL, "%s", pl_last_error());
    /* not a voice */
    snprintf(cmd, sizeof cmd, "echo '{\"model_type\": \"bert\"}' > %s/config.json", dir);
    sh(cmd);
    ck_assert_int_eq(pl_tts_voice_load(dir, NULL, &v), PL_E_FORMAT);
    /* truncated weights */
    snprintf(cmd, sizeof cmd,
             "cp %s/voice/config.json %s/ && head -c 5000 %s/voice/model.safetensors > "
             "%s/model.safetensors",
             g_dir, dir, g_dir, dir);
    sh(cmd);
    ck_assert_int_ne(pl_tts_voice_load(dir, NULL, &v), PL_OK);
    ck_assert_ptr_null(v);
}
END_TEST

Suite *pl_tts_voice_ref_suite(void) {
    Suite *su = suite_create("tts_voice_ref");
    TCase *tc = tcase_create("voice");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_parity_cpu);
    tcase_add_test(tc, test_parity_cuda);
    tcase_add_test(tc, test_synth_api);
    tcase_add_test(tc, test_load_errors);
    suite_add_tcase(su, tc);
    return su;
}
