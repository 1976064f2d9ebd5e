/* test_asr_features.c - log-mel front end: streaming equals whole-utterance
 * features for arbitrary chunkings, normalization modes, filterbank shape,
 * a pure tone lands in the right mel bin, bad options and input. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "asr_features.h"

static float *make_signal(size_t n, unsigned seed) {
    float *x = malloc(sizeof(float) * (n ? n : 1));
    srand(seed);
    for (size_t i = 0; i < n; i++) {
        double t = (double)i / 16000.0;
        x[i] = (float)(0.3 * sin(2 * M_PI * 440 * t) + 0.2 * sin(2 * M_PI * 2500 * t * (1 + t)) +
                       0.05 * ((double)rand() / RAND_MAX - 0.5));
    }
    return x;
}

static struct pl_asr_fe *fe_with(enum pl_asr_norm norm, double dither) {
    struct pl_asr_fe_opts o;
    pl_asr_fe_opts_default(&o);
    o.norm = norm;
    o.dither = dither;
    o.running_init_frames = 50;
    struct pl_asr_fe *fe = NULL;
    ck_assert_msg(pl_asr_fe_create(&o, &fe) == PL_OK, "%s", pl_last_error());
    return fe;
}

/* Feed x in chunks of the sizes in `sizes` (cycled) and compare with the
 * whole-utterance features exactly (bit for bit). */
static void check_stream(struct pl_asr_fe *fe, const float *x, size_t n, const size_t *sizes,
                         int n_sizes) {
    float *whole = NULL;
    size_t nf = 0;
    ck_assert_int_eq(pl_asr_fe_compute(fe, x, n, &whole, &nf), PL_OK);
    ck_assert_uint_eq(nf, 1 + n / 160);
    struct pl_asr_fe_stream *s = NULL;
    ck_assert_int_eq(pl_asr_fe_stream_create(fe, &s), PL_OK);
    float *got = malloc(sizeof(float) * nf * 80);
    size_t have = 0, pos = 0;
    for (int k = 0; pos < n; k++) {
        size_t c = sizes[k % n_sizes];
        if (c > n - pos)
            c = n - pos;
        float *f = NULL;
        size_t m = 0;
        ck_assert_int_eq(pl_asr_fe_stream_feed(s, x + pos, c, &f, &m), PL_OK);
        ck_assert_uint_le(have + m, nf);
        if (m)
            memcpy(got + have * 80, f, sizeof(float) * m * 80);
        have += m;
        pl_free(f);
        pos += c;
    }
    float *f = NULL;
    size_t m = 0;
    ck_assert_int_eq(pl_asr_fe_stream_finish(s, &f, &m), PL_OK);
    ck_assert_uint_eq(have + m, nf);
    if (m)
        memcpy(got + have * 80, f, sizeof(float) * m * 80);
    pl_free(f);
    for (size_t i = 0; i < nf * 80; i++)
        ck_assert_msg(got[i] == whole[i], "frame %zu bin %zu: stream %g whole %g", i / 80, i % 80,
                      got[i], whole[i]);
    /* feeding after finish is an error */
    ck_assert_int_eq(pl_asr_fe_stream_feed(s, x, 1, &f, &m), PL_E_INVALID_ARG);
    /* reset: the same again gives the same frames */
    pl_asr_fe_stream_reset(s);
    ck_assert_int_eq(pl_asr_fe_stream_feed(s, x, n, &f, &m), PL_OK);
    for (size_t i = 0; i < m * 80; i++)
        ck_assert(f[i] == whole[i]);
    pl_free(f);
    pl_asr_fe_stream_destroy(s);
    free(got);
    pl_free(whole);
}

START_TEST(stream_equals_whole) {
    static const size_t a[] = {1}, b[] = {160}, c[] = {37, 1000, 3, 401, 0, 2048}, d[] = {16000},
                        e[] = {399, 400, 401};
    const size_t *all[] = {a, b, c, d, e};
    const int ns[] = {1, 1, 6, 1, 3};
    enum pl_asr_norm norms[] = {PL_ASR_NORM_NONE, PL_ASR_NORM_RUNNING};
    size_t lens[] = {0, 1, 159, 160, 200, 201, 4321, 16000};
    float *x = make_signal(16000, 7);
    for (int nm = 0; nm < 2; nm++) {
        struct pl_asr_fe *fe = fe_with(norms[nm], nm ? 1e-5 : 0);
        for (size_t li = 0; li < PL_ARRAY_LEN(lens); li++)
            for (int k = 0; k < 5; k++) {
                if (k == 0 && lens[li] != 4321)
                    continue; /* sample by sample: one length */
                check_stream(fe, x, lens[li], all[k], ns[k]);
            }
        pl_asr_fe_destroy(fe);
    }
    free(x);
}
END_TEST

/* What a streamed final does (services/asr/asr_stream.c renorm_utt): the log-mels a stream
 * kept, with the frames near the ends of a sub-range [a, b) recomputed by pl_asr_fe_logmel,
 * normalized per utterance by pl_asr_fe_normalize, equal pl_asr_fe_compute on x[a, b)
 * bit for bit; pl_asr_fe_logmel alone gives any frames of that signal. */
START_TEST(kept_logmel_renormalized) {
    float *x = make_signal(16000, 3);
    struct pl_asr_fe *run = fe_with(PL_ASR_NORM_RUNNING, 0), *pf = fe_with(PL_ASR_NORM_PER_FEATURE, 0);
    struct pl_asr_fe_stream *s = NULL;
    ck_assert_int_eq(pl_asr_fe_stream_create(run, &s), PL_OK);
    size_t nk = 7;
    ck_assert_ptr_null(pl_asr_fe_stream_logmel(s, &nk));
    ck_assert_uint_eq(nk, 0);
    pl_asr_fe_stream_keep_logmel(s, true);
    for (size_t pos = 0; pos < 16000; pos += 1600) { /* 100 ms chunks */
        float *f = NULL;
        size_t m = 0;
        ck_assert_int_eq(pl_asr_fe_stream_feed(s, x + pos, 1600, &f, &m), PL_OK);
        pl_free(f);
    }
    const double *kept = pl_asr_fe_stream_logmel(s, &nk);
    ck_assert_ptr_nonnull(kept);
    ck_assert_uint_eq(nk, (16000 - 240) / 160 + 1); /* complete windows only */
    const size_t ranges[][2] = {{0, 16000}, {1600, 9000}, {4800, 16000}, {160, 1000}};
    for (size_t r = 0; r < PL_ARRAY_LEN(ranges); r++) {
        size_t a = ranges[r][0], b = ranges[r][1], n = b - a, k = a / 160, nf = 1 + n / 160;
        double *lm = malloc(sizeof(double) * nf * 80);
        float *mine = malloc(sizeof(float) * nf * 80);
        for (size_t j = 0; j < nf; j++) {
            long long lo = (long long)j * 160 - 200, hi = lo + 400;
            if (lo >= 1 && hi <= (long long)n && k + j < nk)
                memcpy(lm + j * 80, kept + (k + j) * 80, sizeof(double) * 80);
            else
                ck_assert_int_eq(pl_asr_fe_logmel(pf, x + a, n, j, j + 1, lm + j * 80), PL_OK);
        }
        ck_assert_int_eq(pl_asr_fe_normalize(pf, lm, nf, mine), PL_OK);
        float *whole = NULL;
        size_t nw = 0;
        ck_assert_int_eq(pl_asr_fe_compute(pf, x + a, n, &whole, &nw), PL_OK);
        ck_assert_uint_eq(nw, nf);
        for (size_t i = 0; i < nf * 80; i++)
            ck_assert_msg(mine[i] == whole[i], "range %zu frame %zu bin %zu: %g vs %g", r, i / 80,
                          i % 80, mine[i], whole[i]);
        /* every frame by pl_asr_fe_logmel: the same */
        ck_assert_int_eq(pl_asr_fe_logmel(pf, x + a, n, 0, nf, lm), PL_OK);
        ck_assert_int_eq(pl_asr_fe_normalize(pf, lm, nf, mine), PL_OK);
        ck_assert_int_eq(memcmp(mine, whole, sizeof(float) * nf * 80), 0);
        pl_free(whole);
        free(lm);
        free(mine);
    }
    pl_asr_fe_stream_reset(s);
    ck_assert_ptr_null(pl_asr_fe_stream_logmel(s, &nk));
    ck_assert_uint_eq(nk, 0);
    double one[80];
    struct pl_asr_fe *dith = fe_with(PL_ASR_NORM_PER_FEATURE, 1e-5);
    ck_assert_int_eq(pl_asr_fe_logmel(dith, x, 100, 0, 1, one), PL_E_UNSUPPORTED);
    ck_assert_int_eq(pl_asr_fe_logmel(pf, x, 100, 2, 1, one), PL_E_INVALID_ARG);
    pl_asr_fe_destroy(dith);
    pl_asr_fe_stream_destroy(s);
    pl_asr_fe_destroy(run);
    pl_asr_fe_destroy(pf);
    free(x);
}
END_TEST

START_TEST(tone_peaks_in_right_bin) {
    struct pl_asr_fe *fe = fe_with(PL_ASR_NORM_NONE, 0);
    const double *fb = pl_asr_fe_filterbank(fe);
    /* each filter is a triangle with a positive peak; centres increase */
    int prev_peak = -1;
    for (int m = 0; m < 80; m++) {
        int pk = 0;
        for (int k = 0; k < 257; k++)
            if (fb[m * 257 + k] > fb[m * 257 + pk])
                pk = k;
        ck_assert_msg(fb[m * 257 + pk] > 0, "filter %d empty", m);
        ck_assert_int_ge(pk, prev_peak);
        prev_peak = pk;
    }
    float *x = malloc(sizeof(float) * 8000);
    for (int i = 0; i < 8000; i++)
        x[i] = (float)(0.5 * sin(2 * M_PI * 1000.0 * i / 16000));
    float *f = NULL;
    size_t nf = 0;
    ck_assert_int_eq(pl_asr_fe_compute(fe, x, 8000, &f, &nf), PL_OK);
    /* pre-emphasis tilts, but the 1 kHz tone dominates: the best bin's filter
     * must contain 1 kHz (bin 32 of the 512-point FFT) */
    const float *mid = f + (nf / 2) * 80;
    int best = 0;
    for (int m = 1; m < 80; m++)
        if (mid[m] > mid[best])
            best = m;
    ck_assert_msg(fb[best * 257 + 32] > 0, "peak in mel bin %d", best);
    /* silence = log(guard) exactly */
    float z[800] = {0};
    pl_free(f);
    ck_assert_int_eq(pl_asr_fe_compute(fe, z, 800, &f, &nf), PL_OK);
    ck_assert_uint_eq(nf, 6);
    for (size_t i = 0; i < nf * 80; i++)
        ck_assert(fabsf(f[i] - logf(5.9604644775390625e-08f)) < 1e-4);
    pl_free(f);
    free(x);
    pl_asr_fe_destroy(fe);
}
END_TEST

START_TEST(per_feature_and_fixed) {
    float *x = make_signal(12000, 3);
    struct pl_asr_fe *raw = fe_with(PL_ASR_NORM_NONE, 0), *pf = fe_with(PL_ASR_NORM_PER_FEATURE, 0);
    float *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    ck_assert_int_eq(pl_asr_fe_compute(raw, x, 12000, &a, &na), PL_OK);
    ck_assert_int_eq(pl_asr_fe_compute(pf, x, 12000, &b, &nb), PL_OK);
    ck_assert_uint_eq(na, nb);
    float mean[80], sd[80];
    for (int m = 0; m < 80; m++) {
        double s = 0, s2 = 0, bs = 0;
        for (size_t t = 0; t < na; t++)
            s += a[t * 80 + m];
        s /= na;
        for (size_t t = 0; t < na; t++) {
            s2 += (a[t * 80 + m] - s) * (a[t * 80 + m] - s);
            bs += b[t * 80 + m];
        }
        ck_assert(fabs(bs / nb) < 1e-4); /* zero mean */
        mean[m] = (float)s;
        sd[m] = (float)(sqrt(s2 / (na - 1)) + 1e-5);
    }
    /* FIXED with the utterance's own statistics reproduces PER_FEATURE */
    struct pl_asr_fe_opts o;
    pl_asr_fe_opts_default(&o);
    o.norm = PL_ASR_NORM_FIXED;
    o.norm_mean = mean;
    o.norm_std = sd;
    struct pl_asr_fe *fx = NULL;
    ck_assert_int_eq(pl_asr_fe_create(&o, &fx), PL_OK);
    float *c = NULL;
    size_t nc = 0;
    ck_assert_int_eq(pl_asr_fe_compute(fx, x, 12000, &c, &nc), PL_OK);
    for (size_t i = 0; i < nc * 80; i++)
        ck_assert_msg(fabsf(c[i] - b[i]) < 1e-3, "%zu", i);
    /* per-feature cannot stream */
    struct pl_asr_fe_stream *s = NULL;
    ck_assert_int_eq(pl_asr_fe_stream_create(pf, &s), PL_E_UNSUPPORTED);
    ck_assert_ptr_null(s);
    pl_free(a);
    pl_free(b);
    pl_free(c);
    pl_asr_fe_destroy(raw);
    pl_asr_fe_destroy(pf);
    pl_asr_fe_destroy(fx);
    free(x);
}
END_TEST

START_TEST(bad_options_and_input) {
    struct pl_asr_fe_opts o;
    struct pl_asr_fe *fe = NULL;
    pl_asr_fe_opts_default(&o);
    o.n_fft = 500;
    ck_assert_int_eq(pl_asr_fe_create(&o, &fe), PL_E_INVALID_ARG);
    ck_assert_ptr_null(fe);
    ck_assert(strstr(pl_last_error(), "n_fft") != NULL);
    pl_asr_fe_opts_default(&o);
    o.win_length = 1024;
    ck_assert_int_eq(pl_asr_fe_create(&o, &fe), PL_E_INVALID_ARG);
    pl_asr_fe_opts_default(&o);
    o.hop_length = 0;
    ck_assert_int_eq(pl_asr_fe_create(&o, &fe), PL_E_INVALID_ARG);
    pl_asr_fe_opts_default(&o);
    o.n_mels = 0;
    ck_assert_int_eq(pl_asr_fe_create(&o, &fe), PL_E_INVALID_ARG);
    pl_asr_fe_opts_default(&o);
    o.f_max = 9000;
    ck_assert_int_eq(pl_asr_fe_create(&o, &fe), PL_E_INVALID_ARG);
    pl_asr_fe_opts_default(&o);
    o.norm = PL_ASR_NORM_FIXED;
    ck_assert_int_eq(pl_asr_fe_create(&o, &fe), PL_E_INVALID_ARG);
    pl_asr_fe_opts_default(&o);
    o.preemph = 1.5;
    ck_assert_int_eq(pl_asr_fe_create(&o, &fe), PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_asr_fe_create(NULL, NULL), PL_E_INVALID_ARG);
    /* NULL opts = defaults */
    ck_assert_int_eq(pl_asr_fe_create(NULL, &fe), PL_OK);
    float x[1000] = {0}, *f = NULL;
    size_t nf = 0;
    x[500] = NAN;
    ck_assert_int_eq(pl_asr_fe_compute(fe, x, 1000, &f, &nf), PL_E_INVALID_ARG);
    ck_assert_ptr_null(f);
    ck_assert_int_eq(pl_asr_fe_compute(fe, NULL, 10, &f, &nf), PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_asr_fe_compute(fe, NULL, 0, &f, &nf), PL_OK);
    ck_assert_uint_eq(nf, 1);
    pl_free(f);
    pl_asr_fe_destroy(fe);
    pl_asr_fe_destroy(NULL);
    pl_asr_fe_stream_destroy(NULL);
}
END_TEST

START_TEST(oom_cleanup) {
    float *x = make_signal(4000, 1);
    for (int k = 0; k < 40; k++) {
        struct pl_asr_fe *fe = NULL;
        struct pl_asr_fe_stream *s = NULL;
        float *f = NULL;
        size_t nf = 0;
        pl_alloc_fail_after(k);
        pl_status st = pl_asr_fe_create(NULL, &fe);
        if (st == PL_OK)
            st = pl_asr_fe_compute(fe, x, 4000, &f, &nf);
        pl_free(f);
        f = NULL;
        if (st == PL_OK) {
            struct pl_asr_fe_opts o;
            pl_asr_fe_opts_default(&o);
            o.norm = PL_ASR_NORM_RUNNING;
            pl_asr_fe_destroy(fe);
            fe = NULL;
            st = pl_asr_fe_create(&o, &fe);
            if (st == PL_OK)
                st = pl_asr_fe_stream_create(fe, &s);
            if (st == PL_OK)
                st = pl_asr_fe_stream_feed(s, x, 4000, &f, &nf);
        }
        pl_alloc_fail_after(-1);
        ck_assert(st == PL_OK || st == PL_E_NOMEM);
        pl_free(f);
        pl_asr_fe_stream_destroy(s);
        pl_asr_fe_destroy(fe);
    }
    struct pl_alloc_stats as;
    pl_alloc_stats(&as);
    ck_assert_int_eq(as.blocks_in_use, 0);
    free(x);
}
END_TEST

Suite *pl_asr_features_suite(void) {
    Suite *s = suite_create("asr_features");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, stream_equals_whole);
    tcase_add_test(tc, kept_logmel_renormalized);
    tcase_add_test(tc, tone_peaks_in_right_bin);
    tcase_add_test(tc, per_feature_and_fixed);
    tcase_add_test(tc, bad_options_and_input);
    tcase_add_test(tc, oom_cleanup);
    suite_add_tcase(s, tc);
    return s;
}
