/*
 * test_vad.c - the Silero VAD in the engine (engine/models/vad.c) without
 * the Python reference: broken weight files fail with PL_E_FORMAT naming the
 * tensor, bad calls fail without touching the state, states are independent
 * and reset is a fresh start, allocation failures are clean, and speed in
 * windows per second on one thread (31.25 windows = 1 s of audio).
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "models/vad.h"

static char g_weights[512];

static void weights_setup(void) {
    const char *d = getenv("PARLEY_SOURCE_DIR");
    snprintf(g_weights, sizeof g_weights, "%s/models/vad-silero/model.safetensors",
             d && *d ? d : ".");
}

static struct pl_vad *load_vad(void) {
    struct pl_vad *v = NULL;
    ck_assert_msg(pl_vad_create(g_weights, &v) == PL_OK, "%s", pl_last_error());
    return v;
}

/* A test signal: a chirp with bursts, silence and a little noise. */
static float *make_signal(size_t n, unsigned seed) {
    float *a = pl_malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        double t = (double)i / 16000.0;
        double env = fmod(t, 1.0) < 0.6 ? 0.3 : 0.0;
        a[i] = (float)(env * sin(2 * M_PI * (150 + 100 * sin(3 * t)) * t) +
                       0.002 * ((double)((seed >> 8) & 0xffff) / 65535.0 - 0.5));
    }
    return a;
}

/* --- broken weight files ------------------------------------------------ */

/* Write a safetensors file with the tensors of the real one, except that
 * `drop` is left out and `reshape` (if any) gets shape `shape`. */
static void write_variant(const char *path, const char *drop, const char *reshape,
                          const char *shape, const char *dtype) {
    const char *py = getenv("PL_PYTHON");
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "%s - <<'EOF'\n"
             "import json, struct\n"
             "b = open('%s', 'rb').read(); n = struct.unpack('<Q', b[:8])[0]\n"
             "h = json.loads(b[8:8 + n]); data = b[8 + n:]\n"
             "out, blob = {}, b''\n"
             "for k, v in h.items():\n"
             "    if k == '__metadata__' or k == '%s': continue\n"
             "    t = data[v['data_offsets'][0]:v['data_offsets'][1]]\n"
             "    shp = v['shape']\n"
             "    if k == '%s':\n"
             "        shp = json.loads('%s'); cnt = 1\n"
             "        for d in shp: cnt *= d\n"
             "        t = bytes(4 * cnt)\n"
             "    out[k] = {'dtype': '%s' if k == '%s' else v['dtype'], 'shape': shp,\n"
             "              'data_offsets': [len(blob), len(blob) + len(t)]}\n"
             "    blob += t\n"
             "hj = json.dumps(out).encode()\n"
             "open('%s', 'wb').write(struct.pack('<Q', len(hj)) + hj + blob)\n"
             "EOF",
             py && *py ? py : "/usr/bin/python3", g_weights, drop ? drop : "",
             reshape ? reshape : "", shape ? shape : "[]", dtype ? dtype : "F32",
             reshape ? reshape : "", path);
    ck_assert_msg(system(cmd) == 0, "python failed");
}

static void expect_format(const char *drop, const char *reshape, const char *shape,
                          const char *dtype, const char *name) {
    char path[] = "/tmp/pl_vadw_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    write_variant(path, drop, reshape, shape, dtype);
    struct pl_vad *v = (struct pl_vad *)1;
    pl_status st = pl_vad_create(path, &v);
    unlink(path);
    ck_assert_msg(st == PL_E_FORMAT, "status %d (%s)", st, pl_last_error());
    ck_assert_ptr_null(v);
    ck_assert_msg(strstr(pl_last_error(), name) != NULL, "message '%s' lacks %s", pl_last_error(),
                  name);
}

START_TEST(test_bad_files) {
    struct pl_vad *v = NULL;
    ck_assert_int_eq(pl_vad_create("/nonexistent/vad.safetensors", &v), PL_E_IO);
    ck_assert_ptr_null(v);
    ck_assert_int_eq(pl_vad_create(NULL, &v), PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_vad_create(g_weights, NULL), PL_E_INVALID_ARG);
    expect_format("lstm_cell.bias_hh", NULL, NULL, NULL, "lstm_cell.bias_hh missing");
    expect_format(NULL, "conv2.weight", "[64, 128, 5]", NULL, "conv2.weight has shape [64,128,5]");
    expect_format(NULL, "stft_conv.weight", "[258, 256]", NULL, "stft_conv.weight");
    expect_format(NULL, "final_conv.bias", "[1]", "I32", "final_conv.bias is I32");
    /* not a safetensors file at all */
    char path[] = "/tmp/pl_vadw_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "hello, world, not weights", 25), 25);
    close(fd);
    ck_assert_int_eq(pl_vad_create(path, &v), PL_E_FORMAT);
    unlink(path);
}
END_TEST

START_TEST(test_bad_calls) {
    struct pl_vad *vad = load_vad();
    struct pl_vad_state *s = NULL, *fresh = NULL;
    ck_assert_int_eq(pl_vad_state_create(NULL, &s), PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_vad_state_create(vad, NULL), PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_vad_state_create(vad, &s), PL_OK);
    ck_assert_int_eq(pl_vad_state_create(vad, &fresh), PL_OK);
    float *sig = make_signal(4096, 1);
    float p = -1, q = -1;
    ck_assert_int_eq(pl_vad_process(s, NULL, &p), PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_vad_process(s, sig, NULL), PL_E_INVALID_ARG);
    float bad[PL_VAD_WINDOW];
    memcpy(bad, sig, sizeof bad);
    bad[100] = NAN;
    ck_assert_int_eq(pl_vad_process(s, bad, &p), PL_E_INVALID_ARG);
    bad[100] = INFINITY;
    ck_assert_int_eq(pl_vad_feed(s, bad, PL_VAD_WINDOW, NULL, NULL), PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_vad_state_windows(s), 0);
    ck_assert_uint_eq(pl_vad_state_pending(s), 0);
    ck_assert_int_eq(pl_vad_feed(s, NULL, 5, NULL, NULL), PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_vad_feed(s, NULL, 0, NULL, NULL), PL_OK);
    /* the failed calls left the state untouched */
    ck_assert_int_eq(pl_vad_process(s, sig, &p), PL_OK);
    ck_assert_int_eq(pl_vad_process(fresh, sig, &q), PL_OK);
    ck_assert(p == q && p >= 0 && p <= 1);
    /* a partial window blocks pl_vad_process */
    ck_assert_int_eq(pl_vad_feed(s, sig, 100, NULL, NULL), PL_OK);
    ck_assert_int_eq(pl_vad_process(s, sig, &p), PL_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(pl_last_error(), "partial window"));
    /* too little room: nothing consumed */
    float out[2];
    size_t n_out = 9;
    ck_assert_int_eq(pl_vad_feed_array(s, sig, 1100, out, 1, &n_out), PL_E_INVALID_ARG);
    ck_assert_uint_eq(n_out, 0);
    ck_assert_uint_eq(pl_vad_state_pending(s), 100);
    ck_assert_int_eq(pl_vad_feed_array(s, sig, 1100, out, 2, &n_out), PL_OK);
    ck_assert_uint_eq(n_out, 2);
    ck_assert_uint_eq(pl_vad_state_pending(s), 1200 - 1024);
    ck_assert_int_eq(pl_vad_state_windows(s), 3);
    ck_assert_int_eq(pl_vad_feed_array(s, sig, 10, NULL, 0, &n_out), PL_OK);
    ck_assert_int_eq(pl_vad_feed_array(s, sig, 10, out, 2, NULL), PL_E_INVALID_ARG);
    pl_free(sig);
    pl_vad_state_destroy(s);
    pl_vad_state_destroy(fresh);
    pl_vad_state_destroy(NULL);
    pl_vad_destroy(vad);
    pl_vad_destroy(NULL);
}
END_TEST

/* Interleaved states do not interfere; reset equals a new state; the LSTM
 * state matters (the same window gives different outputs in different
 * histories). */
START_TEST(test_states) {
    struct pl_vad *vad = load_vad();
    enum { W = 60 };
    float *a = make_signal(W * PL_VAD_WINDOW, 3), *b = make_signal(W * PL_VAD_WINDOW, 4);
    float pa[W], pb[W], ia[W], ib[W];
    struct pl_vad_state *s1, *s2;
    ck_assert_int_eq(pl_vad_state_create(vad, &s1), PL_OK);
    ck_assert_int_eq(pl_vad_state_create(vad, &s2), PL_OK);
    for (int k = 0; k < W; k++) ck_assert_int_eq(pl_vad_process(s1, a + k * 512, &pa[k]), PL_OK);
    pl_vad_state_reset(s1);
    for (int k = 0; k < W; k++) ck_assert_int_eq(pl_vad_process(s1, b + k * 512, &pb[k]), PL_OK);
    pl_vad_state_reset(s1);
    for (int k = 0; k < W; k++) {
        ck_assert_int_eq(pl_vad_process(s1, a + k * 512, &ia[k]), PL_OK);
        ck_assert_int_eq(pl_vad_process(s2, b + k * 512, &ib[k]), PL_OK);
    }
    ck_assert(memcmp(pa, ia, sizeof pa) == 0);
    ck_assert(memcmp(pb, ib, sizeof pb) == 0);
    /* history matters: window 30 of a after a's past vs after b's past */
    pl_vad_state_reset(s2);
    float alone;
    for (int k = 0; k < 30; k++) ck_assert_int_eq(pl_vad_process(s2, b + k * 512, &alone), PL_OK);
    ck_assert_int_eq(pl_vad_process(s2, a + 30 * 512, &alone), PL_OK);
    ck_assert(alone != pa[30]);
    pl_vad_state_destroy(s1);
    pl_vad_state_destroy(s2);
    pl_free(a);
    pl_free(b);
    pl_vad_destroy(vad);
}
END_TEST

START_TEST(test_oom) {
    for (int64_t k = 0;; k++) {
        pl_alloc_fail_after(k);
        struct pl_vad *v = NULL;
        pl_status st = pl_vad_create(g_weights, &v);
        pl_alloc_fail_after(-1);
        if (st == PL_OK) {
            ck_assert_int_gt(k, 3);
            pl_vad_destroy(v);
            break;
        }
        ck_assert_int_eq(st, PL_E_NOMEM);
        ck_assert_ptr_null(v);
    }
    struct pl_vad *v = load_vad();
    struct pl_vad_state *s = NULL;
    pl_alloc_fail_after(0);
    ck_assert_int_eq(pl_vad_state_create(v, &s), PL_E_NOMEM);
    pl_alloc_fail_after(-1);
    ck_assert_ptr_null(s);
    pl_vad_destroy(v);
}
END_TEST

START_TEST(test_speed) {
    struct pl_vad *vad = load_vad();
    struct pl_vad_state *s;
    ck_assert_int_eq(pl_vad_state_create(vad, &s), PL_OK);
    enum { W = 1000 };
    float *a = make_signal(W * PL_VAD_WINDOW, 5);
    /* thread CPU time: the shared build machine's load does not count */
    struct timespec t0, t1, c0, c1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
    float p, sum = 0;
    for (int k = 0; k < W; k++) {
        ck_assert_int_eq(pl_vad_process(s, a + k * 512, &p), PL_OK);
        sum += p;
    }
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double wall = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    double cpu = (double)(c1.tv_sec - c0.tv_sec) + 1e-9 * (double)(c1.tv_nsec - c0.tv_nsec);
    double wps = W / cpu;
    fprintf(stderr,
            "vad speed: %d windows, %.3f s CPU (%.3f s wall): %.0f windows/s = %.0fx real time, "
            "%.1f us/window (1 thread)\n",
            W, cpu, wall, wps, wps / 31.25, 1e6 * cpu / W);
    ck_assert(sum > 0);
    ck_assert_msg(wps > 31.25 * 3, "%.0f windows/s is not 3x real time", wps);
    pl_free(a);
    pl_vad_state_destroy(s);
    pl_vad_destroy(vad);
}
END_TEST

/* A batch of streams gives exactly what each stream gives alone, for batch
 * sizes around the kernel's 4-row blocking; bad batches change nothing. */
START_TEST(test_batch) {
    struct pl_vad *vad = load_vad();
    enum { S = 9, W = 12 };
    struct pl_vad_state *solo[S], *bat[S];
    float *sig[S];
    for (int b = 0; b < S; b++) {
        ck_assert_int_eq(pl_vad_state_create(vad, &solo[b]), PL_OK);
        ck_assert_int_eq(pl_vad_state_create(vad, &bat[b]), PL_OK);
        sig[b] = make_signal(W * PL_VAD_WINDOW, 10 + (unsigned)b);
    }
    for (int n = 1; n <= S; n++) {
        for (int b = 0; b < S; b++) {
            pl_vad_state_reset(solo[b]);
            pl_vad_state_reset(bat[b]);
        }
        for (int k = 0; k < W; k++) {
            const float *in[S];
            float pb[S], ps;
            for (int b = 0; b < n; b++) in[b] = sig[b] + k * PL_VAD_WINDOW;
            ck_assert_int_eq(pl_vad_process_batch(bat, in, n, pb), PL_OK);
            for (int b = 0; b < n; b++) {
                ck_assert_int_eq(pl_vad_process(solo[b], in[b], &ps), PL_OK);
                ck_assert_msg(ps == pb[b], "n %d stream %d window %d: %.9g vs %.9g", n, b, k,
                              (double)pb[b], (double)ps);
            }
        }
    }
    /* errors leave every state alone */
    const float *in[3] = {sig[0], sig[1], sig[2]};
    float pb[3];
    struct pl_vad_state *dup[3] = {bat[0], bat[1], bat[0]};
    int64_t w0 = pl_vad_state_windows(bat[0]);
    ck_assert_int_eq(pl_vad_process_batch(dup, in, 3, pb), PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_vad_process_batch(bat, in, 0, pb), PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_vad_process_batch(bat, in, PL_VAD_MAX_BATCH + 1, pb), PL_E_INVALID_ARG);
    float bad[PL_VAD_WINDOW];
    memcpy(bad, sig[2], sizeof bad);
    bad[511] = NAN;
    const float *in_bad[3] = {sig[0], sig[1], bad};
    ck_assert_int_eq(pl_vad_process_batch(bat, in_bad, 3, pb), PL_E_INVALID_ARG);
    struct pl_vad *other = load_vad();
    struct pl_vad_state *os = NULL;
    ck_assert_int_eq(pl_vad_state_create(other, &os), PL_OK);
    struct pl_vad_state *mixed[2] = {bat[0], os};
    ck_assert_int_eq(pl_vad_process_batch(mixed, in, 2, pb), PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_vad_feed(bat[1], sig[1], 10, NULL, NULL), PL_OK);
    ck_assert_int_eq(pl_vad_process_batch(bat, in, 2, pb), PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_vad_state_windows(bat[0]), w0);
    pl_vad_state_destroy(os);
    pl_vad_destroy(other);
    for (int b = 0; b < S; b++) {
        pl_vad_state_destroy(solo[b]);
        pl_vad_state_destroy(bat[b]);
        pl_free(sig[b]);
    }
    pl_vad_destroy(vad);
}
END_TEST

/* 32 streams: one batch call per 32 ms versus 32 single calls. */
START_TEST(test_batch_speed) {
    struct pl_vad *vad = load_vad();
    enum { S = 32, W = 60 };
    struct pl_vad_state *st[S];
    for (int b = 0; b < S; b++) ck_assert_int_eq(pl_vad_state_create(vad, &st[b]), PL_OK);
    float *a = make_signal(W * PL_VAD_WINDOW, 6);
    double cpu[2];
    for (int mode = 0; mode < 2; mode++) {
        struct timespec c0, c1;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
        for (int k = 0; k < W; k++) {
            const float *in[S];
            float p[S];
            for (int b = 0; b < S; b++) in[b] = a + k * PL_VAD_WINDOW;
            if (mode)
                ck_assert_int_eq(pl_vad_process_batch(st, in, S, p), PL_OK);
            else
                for (int b = 0; b < S; b++)
                    ck_assert_int_eq(pl_vad_process(st[b], in[b], &p[b]), PL_OK);
        }
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
        cpu[mode] = (double)(c1.tv_sec - c0.tv_sec) + 1e-9 * (double)(c1.tv_nsec - c0.tv_nsec);
        for (int b = 0; b < S; b++) pl_vad_state_reset(st[b]);
    }
    fprintf(stderr,
            "vad %d streams: %.1f us/window one by one, %.1f us/window batched (%.2fx); "
            "batched, %d real-time streams use %.1f%% of a core\n",
            S, 1e6 * cpu[0] / (S * W), 1e6 * cpu[1] / (S * W), cpu[0] / cpu[1], S,
            100.0 * cpu[1] / (W * 0.032));
    pl_free(a);
    for (int b = 0; b < S; b++) pl_vad_state_destroy(st[b]);
    pl_vad_destroy(vad);
}
END_TEST

Suite *pl_vad_suite(void) {
    Suite *su = suite_create("vad");
    TCase *tc = tcase_create("vad");
    tcase_add_checked_fixture(tc, weights_setup, NULL);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_bad_files);
    tcase_add_test(tc, test_bad_calls);
    tcase_add_test(tc, test_states);
    tcase_add_test(tc, test_oom);
    tcase_add_test(tc, test_speed);
    tcase_add_test(tc, test_batch);
    tcase_add_test(tc, test_batch_speed);
    suite_add_tcase(su, tc);
    return su;
}
