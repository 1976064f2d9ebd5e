/*
 * test_vad_ref.c - Silero VAD (engine/models/vad.c) against the PyTorch
 * reference of the published architecture (tests/reference/vad_ref.py,
 * float64) on the shipped weights and real audio (speech-commands words,
 * an LJ Speech sentence, silence, white noise): every window's probability
 * within 1e-4. The same audio fed in random chunk sizes gives bit-identical
 * probabilities to window-by-window processing.
 */
#include <check.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "models/vad.h"

#define TOL_REF 1e-4

static char g_dir[64];

static void sh(const char *cmd) { ck_assert_msg(system(cmd) == 0, "command failed: %s", cmd); }

static const char *data_dir(void) {
    const char *d = getenv("PARLEY_DATA_DIR");
    return d && *d ? d : "/work/shared/data";
}

static void weights_path(char *buf, size_t n) {
    const char *src = getenv("PARLEY_SOURCE_DIR");
    snprintf(buf, n, "%s/models/vad-silero/model.safetensors", src && *src ? src : ".");
}

static float *read_all(const char *name, size_t *n_out) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long bytes = ftell(f);
    fseek(f, 0, SEEK_SET);
    ck_assert_int_gt(bytes, 0);
    size_t n = (size_t)bytes / sizeof(float);
    float *p = pl_malloc(n * sizeof(float));
    ck_assert_uint_eq(fread(p, sizeof(float), n, f), n);
    fclose(f);
    *n_out = n;
    return p;
}

static void setup(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/pl_vadref_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(g_dir));
    const char *py = getenv("PL_PYTHON"), *src = getenv("PARLEY_SOURCE_DIR");
    char cmd[2048];
    char wp[1024];
    weights_path(wp, sizeof wp);
    snprintf(cmd, sizeof cmd, "%s %s/tests/reference/vad_ref.py %s --data %s --weights %s",
             py && *py ? py : "/usr/bin/python3", src ? src : ".", g_dir, data_dir(), wp);
    sh(cmd);
}

static void teardown(void) {
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    sh(cmd);
}

static void parity(bool generic) {
    if (generic)
        setenv("PL_VAD_GENERIC", "1", 1);
    else
        unsetenv("PL_VAD_GENERIC");
    size_t n_audio, n_ref;
    float *audio = read_all("audio.f32", &n_audio);
    float *ref = read_all("probs.f32", &n_ref);
    ck_assert_uint_eq(n_ref, n_audio / PL_VAD_WINDOW);
    ck_assert_uint_gt(n_ref, 200);

    char wp[512];
    weights_path(wp, sizeof wp);
    struct pl_vad *vad = NULL;
    ck_assert_msg(pl_vad_create(wp, &vad) == PL_OK, "%s", pl_last_error());
    struct pl_vad_state *s = NULL;
    ck_assert_int_eq(pl_vad_state_create(vad, &s), PL_OK);

    float *got = pl_malloc(n_ref * sizeof(float));
    double worst = 0;
    size_t worst_at = 0, n_speech = 0;
    for (size_t k = 0; k < n_ref; k++) {
        ck_assert_int_eq(pl_vad_process(s, audio + k * PL_VAD_WINDOW, &got[k]), PL_OK);
        double d = fabs((double)got[k] - (double)ref[k]);
        if (!(d <= worst)) {
            worst = d;
            worst_at = k;
        }
        n_speech += ref[k] > 0.5f;
    }
    fprintf(stderr,
            "vad parity (%s kernel): %zu windows, max |diff| %.3g (window %zu), %zu speech "
            "windows\n",
            generic ? "portable" : "default", n_ref, worst, worst_at, n_speech);
    ck_assert_msg(worst <= TOL_REF, "window %zu: C %.7f vs ref %.7f", worst_at, got[worst_at],
                  ref[worst_at]);
    ck_assert_uint_gt(n_speech, 50); /* the signal really has speech */

    /* Random chunk sizes (0..2000 samples) give the very same numbers. */
    pl_vad_state_reset(s);
    float *fed = pl_malloc(n_ref * sizeof(float));
    size_t off = 0, n_fed = 0;
    unsigned seed = 7;
    while (off < n_audio) {
        seed = seed * 1103515245u + 12345u;
        size_t len = (seed >> 8) % 2001;
        if (len > n_audio - off) len = n_audio - off;
        size_t got_n = 0;
        ck_assert_int_eq(pl_vad_feed_array(s, audio + off, len, fed + n_fed, n_ref - n_fed, &got_n),
                         PL_OK);
        n_fed += got_n;
        off += len;
        ck_assert_uint_eq((size_t)pl_vad_state_windows(s), n_fed);
    }
    ck_assert_uint_eq(n_fed, n_ref);
    ck_assert_uint_eq(pl_vad_state_pending(s), n_audio % PL_VAD_WINDOW);
    ck_assert_msg(memcmp(fed, got, n_ref * sizeof(float)) == 0, "chunked feed differs");

    pl_free(fed);
    pl_free(got);
    pl_vad_state_destroy(s);
    pl_vad_destroy(vad);
    pl_free(audio);
    pl_free(ref);
}

START_TEST(test_parity) {
    parity(false);
    parity(true);
}
END_TEST

Suite *pl_vad_ref_suite(void) {
    Suite *su = suite_create("vad_ref");
    TCase *tc = tcase_create("parity");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_parity);
    suite_add_tcase(su, tc);
    return su;
}
