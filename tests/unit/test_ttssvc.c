/*
 * test_ttssvc.c - parley-tts's streaming Ogg/Opus writer (services/tts/tts_opus.c): a tone
 * written in blocks of odd sizes decodes (libsndfile, common/audio.h) to the same length at
 * the same rate and frequency; one block or many give streams of the same length; bad rates
 * are refused; an empty stream is still a valid one.
 */
#include <check.h>
#include <math.h>
#include <string.h>

#include "alloc.h"
#include "audio.h"
#include "tts_service_impl.h"

static float *tone(size_t n, int rate, double hz) {
    float *x = pl_malloc(n * sizeof *x);
    for (size_t i = 0; i < n; i++) x[i] = (float)(0.4 * sin(2 * M_PI * hz * (double)i / rate));
    return x;
}

/* Write x[0..n) in blocks of the sizes in sizes[] (cycled); OUT: the whole stream. */
static void write_stream(int rate, const float *x, size_t n, const size_t *sizes, int n_sizes,
                         uint8_t **out, size_t *len) {
    struct pl__tts_opus *o = NULL;
    ck_assert_int_eq(pl__tts_opus_create(rate, &o), PL_OK);
    uint8_t *all = NULL;
    size_t nall = 0;
    size_t off = 0;
    for (int k = 0;; k++) {
        size_t b = sizes[k % n_sizes];
        if (b > n - off) b = n - off;
        bool last = off + b == n;
        uint8_t *p = NULL;
        size_t pn = 0;
        ck_assert_int_eq(pl__tts_opus_write(o, x + off, b, last, &p, &pn), PL_OK);
        all = pl_realloc(all, nall + pn + 1);
        if (pn) memcpy(all + nall, p, pn);
        nall += pn;
        pl_free(p);
        off += b;
        if (last) break;
    }
    pl__tts_opus_destroy(o);
    *out = all;
    *len = nall;
}

static double zero_cross_hz(const struct pl_audio *a) {
    size_t z = 0;
    for (size_t i = 1; i < a->n_frames; i++) z += (a->samples[i - 1] < 0) != (a->samples[i] < 0);
    return (double)z / 2 / ((double)a->n_frames / a->sample_rate);
}

START_TEST(test_opus_stream_decodes) {
    static const int rates[] = {8000, 16000, 24000, 48000};
    for (size_t r = 0; r < sizeof rates / sizeof rates[0]; r++) {
        int rate = rates[r];
        size_t n = (size_t)(1.2345 * rate);
        float *x = tone(n, rate, 440.0);
        static const size_t odd[] = {1, 333, 4096, 17, 2500};
        size_t one[] = {n};
        uint8_t *s1 = NULL, *s2 = NULL;
        size_t l1 = 0, l2 = 0;
        write_stream(rate, x, n, odd, 5, &s1, &l1);
        write_stream(rate, x, n, one, 1, &s2, &l2);
        ck_assert(l1 > 100 && memcmp(s1, "OggS", 4) == 0);
        struct pl_audio *a = NULL, *b = NULL;
        struct pl_audio_info info;
        ck_assert_msg(pl_audio_decode(s1, l1, NULL, &a, &info) == PL_OK, "%s", pl_last_error());
        ck_assert_int_eq(info.container, PL_AUDIO_CONTAINER_OGG_OPUS);
        ck_assert_int_eq(pl_audio_decode(s2, l2, NULL, &b, NULL), PL_OK);
        /* libsndfile decodes at the input rate of the header when Opus supports it */
        ck_assert_int_eq(a->sample_rate, rate);
        ck_assert_msg(a->n_frames == n, "rate %d: %zu frames decoded, %zu written", rate,
                      a->n_frames, n);
        ck_assert_int_eq(b->n_frames, a->n_frames);
        double hz = zero_cross_hz(a);
        ck_assert_msg(fabs(hz - 440.0) < 10.0, "rate %d: %.1f Hz", rate, hz);
        pl_audio_destroy(a);
        pl_audio_destroy(b);
        pl_free(s1);
        pl_free(s2);
        pl_free(x);
    }
}
END_TEST

START_TEST(test_opus_edges) {
    struct pl__tts_opus *o = NULL;
    ck_assert_int_eq(pl__tts_opus_create(44100, &o), PL_E_INVALID_ARG);
    ck_assert_ptr_null(o);
    ck_assert_int_eq(pl__tts_opus_create(22050, &o), PL_E_INVALID_ARG);
    /* nothing but the end: headers and one padded packet, a valid empty stream */
    ck_assert_int_eq(pl__tts_opus_create(16000, &o), PL_OK);
    uint8_t *p = NULL;
    size_t n = 0;
    ck_assert_int_eq(pl__tts_opus_write(o, NULL, 0, true, &p, &n), PL_OK);
    ck_assert(n > 0 && memcmp(p, "OggS", 4) == 0);
    struct pl_audio *a = NULL;
    pl_status st = pl_audio_decode(p, n, NULL, &a, NULL);
    ck_assert_msg(st == PL_OK && a->n_frames == 0, "%s", pl_last_error());
    pl_audio_destroy(a);
    pl_free(p);
    pl__tts_opus_destroy(o);
    /* exactly whole packets, then an empty last write */
    ck_assert_int_eq(pl__tts_opus_create(8000, &o), PL_OK);
    float *x = tone(1600, 8000, 300.0);
    uint8_t *q = NULL;
    size_t nq = 0;
    ck_assert_int_eq(pl__tts_opus_write(o, x, 1600, false, &p, &n), PL_OK);
    ck_assert_int_eq(pl__tts_opus_write(o, NULL, 0, true, &q, &nq), PL_OK);
    uint8_t *all = pl_malloc(n + nq);
    memcpy(all, p, n);
    memcpy(all + n, q, nq);
    ck_assert_int_eq(pl_audio_decode(all, n + nq, NULL, &a, NULL), PL_OK);
    ck_assert_int_eq(a->n_frames, 1600);
    pl_audio_destroy(a);
    pl_free(all);
    pl_free(p);
    pl_free(q);
    pl_free(x);
    pl__tts_opus_destroy(o);
    pl__tts_opus_destroy(NULL);
}
END_TEST

Suite *pl_ttssvc_suite(void) {
    Suite *s = suite_create("ttssvc");
    TCase *tc = tcase_create("opus");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_opus_stream_decodes);
    tcase_add_test(tc, test_opus_edges);
    suite_add_tcase(s, tc);
    return s;
}
