/*
 * test_endpoint.c - the endpointing state machine (engine/asr/endpoint.c):
 * exact event frames on synthetic probability sequences (start, first-pass
 * EOU with re-arming, end, VAD and CTC blank combined), EndpointingConfig
 * presence semantics and defaults, invalid values, chunk-size invariance,
 * finish, the quiet tail; and on real speech through the Silero VAD (engine/models/vad.c):
 * two words separated by silence give two utterances where the words are,
 * silence and white noise give none.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "audio.h"
#include "endpoint.h"
#include "models/vad.h"

#define MAX_EV 64

struct evlog {
    struct pl_endpoint_event ev[MAX_EV];
    int n;
};

static void on_event(void *ud, const struct pl_endpoint_event *ev) {
    struct evlog *l = ud;
    ck_assert_int_lt(l->n, MAX_EV);
    l->ev[l->n++] = *ev;
}

static void expect(const struct evlog *l, int i, enum pl_endpoint_event_type type, int64_t frame,
                   int64_t begin, int64_t last) {
    ck_assert_msg(i < l->n, "event %d missing (%d events)", i, l->n);
    const struct pl_endpoint_event *e = &l->ev[i];
    ck_assert_msg(e->type == type && e->frame == frame && e->begin == begin && e->last == last,
                  "event %d: type %d frame %lld begin %lld last %lld; want %d %lld %lld %lld", i,
                  e->type, (long long)e->frame, (long long)e->begin, (long long)e->last, type,
                  (long long)frame, (long long)begin, (long long)last);
}

/* frame_ms 10; start 50 ms (5 frames) x 0.6 -> 3; stop 100 ms x 0.8 -> 8;
 * EOU 40 ms x 1.0 -> 4. */
static struct pl_endpoint *small_ep(void) {
    struct pl_endpoint_config c = {.has_start_history = true,
                                   .start_history = 50,
                                   .has_start_threshold = true,
                                   .start_threshold = 0.6f,
                                   .has_stop_history = true,
                                   .stop_history = 100,
                                   .has_stop_threshold = true,
                                   .stop_threshold = 0.8f,
                                   .has_stop_history_eou = true,
                                   .stop_history_eou = 40,
                                   .has_stop_threshold_eou = true,
                                   .stop_threshold_eou = 1.0f};
    struct pl_endpoint_params p;
    ck_assert_msg(pl_endpoint_params_resolve(&c, 10, &p) == PL_OK, "%s", pl_last_error());
    ck_assert_int_eq(p.start_frames, 5);
    ck_assert_int_eq(p.start_need, 3);
    ck_assert_int_eq(p.stop_frames, 10);
    ck_assert_int_eq(p.stop_need, 8);
    ck_assert_int_eq(p.eou_frames, 4);
    ck_assert_int_eq(p.eou_need, 4);
    struct pl_endpoint *ep = NULL;
    ck_assert_int_eq(pl_endpoint_create(&p, &ep), PL_OK);
    return ep;
}

/* Fill v[from, to) with x. */
static void fill(float *v, int from, int to, float x) {
    for (int i = from; i < to; i++) v[i] = x;
}

START_TEST(test_two_utterances) {
    float v[81];
    fill(v, 0, 81, 0.0f);
    fill(v, 10, 30, 0.9f);
    fill(v, 50, 55, 0.9f);
    struct pl_endpoint *ep = small_ep();
    struct evlog l = {0};
    ck_assert_int_eq(pl_endpoint_feed(ep, v, NULL, 81, on_event, &l), PL_OK);
    ck_assert_int_eq(l.n, 6);
    expect(&l, 0, PL_ENDPOINT_START, 12, 10, 12);
    expect(&l, 1, PL_ENDPOINT_EOU, 33, 10, 29);
    expect(&l, 2, PL_ENDPOINT_END, 37, 10, 29);
    expect(&l, 3, PL_ENDPOINT_START, 52, 50, 52);
    expect(&l, 4, PL_ENDPOINT_EOU, 58, 50, 54);
    expect(&l, 5, PL_ENDPOINT_END, 62, 50, 54);
    ck_assert_int_eq(l.ev[2].utterance, 0);
    ck_assert_int_eq(l.ev[5].utterance, 1);
    ck_assert(!pl_endpoint_in_speech(ep));
    ck_assert_int_eq(pl_endpoint_frames(ep), 81);
    pl_endpoint_destroy(ep);
}
END_TEST

START_TEST(test_eou_rearms) {
    float v[40];
    fill(v, 0, 40, 0.0f);
    fill(v, 0, 10, 1.0f);
    fill(v, 14, 20, 1.0f);
    struct pl_endpoint *ep = small_ep();
    struct evlog l = {0};
    ck_assert_int_eq(pl_endpoint_feed(ep, v, NULL, 40, on_event, &l), PL_OK);
    ck_assert_int_eq(l.n, 4);
    expect(&l, 0, PL_ENDPOINT_START, 2, 0, 2);
    expect(&l, 1, PL_ENDPOINT_EOU, 13, 0, 9);
    expect(&l, 2, PL_ENDPOINT_EOU, 23, 0, 19);
    expect(&l, 3, PL_ENDPOINT_END, 27, 0, 19);
    pl_endpoint_destroy(ep);
}
END_TEST

/* VAD and blank must agree: speech by one of them only starts nothing, and
 * during an utterance a frame they disagree on does not count as silence. */
START_TEST(test_vad_and_blank) {
    enum { N = 60 };
    float vad[N], blank[N];
    fill(vad, 0, N, 0.0f);
    fill(blank, 0, N, 1.0f);
    fill(vad, 0, 10, 0.9f);                   /* VAD only: noise the recognizer ignores */
    fill(blank, 10, 20, 0.1f);                /* CTC only */
    fill(vad, 25, 45, 0.9f);                  /* utterance: VAD speech throughout, */
    blank[26] = blank[28] = blank[30] = 0.2f; /* tokens at 26, 28, 30, */
    blank[44] = 0.2f;                         /* and 44 */
    struct pl_endpoint *ep = small_ep();
    struct evlog l = {0};
    ck_assert_int_eq(pl_endpoint_feed(ep, vad, blank, N, on_event, &l), PL_OK);
    /* 26, 28, 30 voiced -> START at 30 (window 26..30), begin 26; frames 31..43
     * disagree (VAD speech, blank) -> no EOU/END; silence from 45: EOU at 48,
     * END when 8 of the last 10 are silent: 45..52 -> 52. */
    ck_assert_int_eq(l.n, 3);
    expect(&l, 0, PL_ENDPOINT_START, 30, 26, 30);
    expect(&l, 1, PL_ENDPOINT_EOU, 48, 26, 44);
    expect(&l, 2, PL_ENDPOINT_END, 52, 26, 44);
    pl_endpoint_destroy(ep);
}
END_TEST

/* BLANK_ENDS (parley-asr's default "vad+blank"): a start still needs both, but
 * silence is the model's blank: a stretch the VAD takes for speech without a
 * word (noise) ends the utterance, and a word the VAD misses keeps it open
 * (with the VAD alone the same audio is cut in the middle of that word). */
static void blank_ends_case(float *vad, float *blank, int n) {
    fill(vad, 0, n, 0.0f);
    fill(blank, 0, n, 1.0f);
    fill(vad, 0, 10, 0.9f);    /* noise the VAD takes for speech: no word */
    fill(blank, 10, 20, 0.1f); /* tokens the VAD does not hear alone: no start */
    fill(vad, 25, 45, 0.9f);   /* utterance 1: tokens at 26, 28, 30, then noise only */
    blank[26] = blank[28] = blank[30] = 0.2f;
    fill(vad, 50, 55, 0.9f); /* utterance 2: tokens at 50..52, then the VAD misses */
    fill(blank, 50, 53, 0.1f);
    for (int t = 56; t <= 68; t += 3) blank[t] = 0.2f; /* a word at 56..68 */
}

START_TEST(test_blank_ends) {
    enum { N = 100 };
    float vad[N], blank[N];
    blank_ends_case(vad, blank, N);
    struct pl_endpoint_config c = {.has_start_history = true,
                                   .start_history = 50,
                                   .has_start_threshold = true,
                                   .start_threshold = 0.6f,
                                   .has_stop_history = true,
                                   .stop_history = 100,
                                   .has_stop_threshold = true,
                                   .stop_threshold = 0.8f,
                                   .has_stop_history_eou = true,
                                   .stop_history_eou = 40,
                                   .has_stop_threshold_eou = true,
                                   .stop_threshold_eou = 1.0f};
    struct pl_endpoint_params p;
    ck_assert_int_eq(pl_endpoint_params_resolve(&c, 10, &p), PL_OK);
    ck_assert_int_eq(p.combine, PL_ENDPOINT_COMBINE_AGREE); /* the resolved default */
    p.combine = PL_ENDPOINT_COMBINE_BLANK_ENDS;
    struct pl_endpoint *ep = NULL;
    ck_assert_int_eq(pl_endpoint_create(&p, &ep), PL_OK);
    struct evlog l = {0};
    ck_assert_int_eq(pl_endpoint_feed(ep, vad, blank, N, on_event, &l), PL_OK);
    /* utterance 1: START at 30 (26, 28, 30 voiced); 31.. are blank, so silent although
     * the VAD says speech: EOU at 34 (31..34), END at 38 (31..38 = 8 of 10).
     * utterance 2: START at 52 (50..52; windows count from 39); the VAD is silent from 55
     * but the tokens every 3 frames from 56 to 68 leave at most 7 silent frames in every
     * window of 10 and never 4 in a row: END only at 72 (63..72 holds 65, 68), where the
     * END check comes before the EOU one. */
    ck_assert_int_eq(l.n, 5);
    expect(&l, 0, PL_ENDPOINT_START, 30, 26, 30);
    expect(&l, 1, PL_ENDPOINT_EOU, 34, 26, 30);
    expect(&l, 2, PL_ENDPOINT_END, 38, 26, 30);
    expect(&l, 3, PL_ENDPOINT_START, 52, 50, 52);
    expect(&l, 4, PL_ENDPOINT_END, 72, 50, 52);
    pl_endpoint_destroy(ep);

    /* the same frames under AGREE: the noise after utterance 1 holds it open (frames the
     * inputs disagree on count nowhere) */
    p.combine = PL_ENDPOINT_COMBINE_AGREE;
    ck_assert_int_eq(pl_endpoint_create(&p, &ep), PL_OK);
    memset(&l, 0, sizeof l);
    ck_assert_int_eq(pl_endpoint_feed(ep, vad, blank, 45, on_event, &l), PL_OK);
    ck_assert_int_eq(l.n, 1);
    expect(&l, 0, PL_ENDPOINT_START, 30, 26, 30);
    ck_assert(pl_endpoint_in_speech(ep));
    pl_endpoint_destroy(ep);

    /* the VAD alone cuts utterance 2 inside the word it misses: END at 62 (55..62) */
    ep = small_ep();
    memset(&l, 0, sizeof l);
    ck_assert_int_eq(pl_endpoint_feed(ep, vad + 45, NULL, N - 45, on_event, &l), PL_OK);
    ck_assert_int_eq(l.n, 3);
    expect(&l, 0, PL_ENDPOINT_START, 52 - 45, 50 - 45, 52 - 45);
    expect(&l, 2, PL_ENDPOINT_END, 62 - 45, 50 - 45, 54 - 45);
    pl_endpoint_destroy(ep);

    /* a bad combine value is refused */
    p.combine = 7;
    ck_assert_int_eq(pl_endpoint_create(&p, &ep), PL_E_INVALID_ARG);
}
END_TEST

START_TEST(test_defaults_and_presence) {
    struct pl_endpoint_params p;
    ck_assert_int_eq(pl_endpoint_params_resolve(NULL, 10, &p), PL_OK);
    ck_assert_int_eq(p.start_frames, 30);
    ck_assert_int_eq(p.start_need, 6);
    ck_assert_int_eq(p.stop_frames, 80);
    ck_assert_int_eq(p.stop_need, 79);
    ck_assert_int_eq(p.eou_frames, 24);
    ck_assert_int_eq(p.eou_need, 22);
    /* 40 ms frames (an acoustic model with stride 4): same durations */
    ck_assert_int_eq(pl_endpoint_params_resolve(NULL, 40, &p), PL_OK);
    ck_assert_int_eq(p.start_frames, 8);
    ck_assert_int_eq(p.stop_frames, 20);
    ck_assert_int_eq(p.eou_frames, 6);

    /* explicit zeros are values, not "unset" */
    struct pl_endpoint_config c = {.has_start_threshold = true,
                                   .start_threshold = 0.0f,
                                   .has_stop_history = true,
                                   .stop_history = 0,
                                   .has_stop_history_eou = true,
                                   .stop_history_eou = -1};
    ck_assert_int_eq(pl_endpoint_params_resolve(&c, 10, &p), PL_OK);
    ck_assert_int_eq(p.start_frames, 30); /* unset: default */
    ck_assert_int_eq(p.start_need, 1);
    ck_assert_int_eq(p.stop_frames, 1);
    ck_assert_int_eq(p.stop_need, 1);
    ck_assert_int_eq(p.eou_frames, 0); /* negative: first pass off */
    struct pl_endpoint *ep = NULL;
    ck_assert_int_eq(pl_endpoint_create(&p, &ep), PL_OK);
    float v[6] = {0, 0.8f, 0.7f, 0.1f, 0.9f, 0.0f};
    struct evlog l = {0};
    ck_assert_int_eq(pl_endpoint_feed(ep, v, NULL, 6, on_event, &l), PL_OK);
    ck_assert_int_eq(l.n, 4);
    expect(&l, 0, PL_ENDPOINT_START, 1, 1, 1);
    expect(&l, 1, PL_ENDPOINT_END, 3, 1, 2);
    expect(&l, 2, PL_ENDPOINT_START, 4, 4, 4);
    expect(&l, 3, PL_ENDPOINT_END, 5, 4, 4);
    pl_endpoint_destroy(ep);

    /* the same fields unset give the defaults back */
    memset(&c, 0, sizeof c);
    c.start_threshold = 0.0f;
    c.stop_history = 0;
    ck_assert_int_eq(pl_endpoint_params_resolve(&c, 10, &p), PL_OK);
    ck_assert_int_eq(p.start_need, 6);
    ck_assert_int_eq(p.stop_frames, 80);
    /* 0.3 x 10 is 3 frames, not 4 (float rounding) */
    c = (struct pl_endpoint_config){.has_start_history = true,
                                    .start_history = 100,
                                    .has_start_threshold = true,
                                    .start_threshold = 0.3f};
    ck_assert_int_eq(pl_endpoint_params_resolve(&c, 10, &p), PL_OK);
    ck_assert_int_eq(p.start_need, 3);
}
END_TEST

START_TEST(test_invalid) {
    struct pl_endpoint_params p;
    struct pl_endpoint_config c = {.has_start_history = true, .start_history = -5};
    ck_assert_int_eq(pl_endpoint_params_resolve(&c, 10, &p), PL_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(pl_last_error(), "start_history"));
    c = (struct pl_endpoint_config){.has_stop_threshold = true, .stop_threshold = 1.5f};
    ck_assert_int_eq(pl_endpoint_params_resolve(&c, 10, &p), PL_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(pl_last_error(), "stop_threshold"));
    c = (struct pl_endpoint_config){.has_start_threshold = true, .start_threshold = NAN};
    ck_assert_int_eq(pl_endpoint_params_resolve(&c, 10, &p), PL_E_INVALID_ARG);
    c = (struct pl_endpoint_config){.has_stop_history = true, .stop_history = 3600000};
    ck_assert_int_eq(pl_endpoint_params_resolve(&c, 10, &p), PL_E_INVALID_ARG);
    c = (struct pl_endpoint_config){.has_stop_threshold_eou = true, .stop_threshold_eou = 2.0f};
    ck_assert_int_eq(pl_endpoint_params_resolve(&c, 10, &p), PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_endpoint_params_resolve(NULL, 0, &p), PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_endpoint_params_resolve(NULL, 10, NULL), PL_E_INVALID_ARG);

    struct pl_endpoint *ep = NULL;
    ck_assert_int_eq(pl_endpoint_params_resolve(NULL, 10, &p), PL_OK);
    struct pl_endpoint_params bad = p;
    bad.stop_need = bad.stop_frames + 1;
    ck_assert_int_eq(pl_endpoint_create(&bad, &ep), PL_E_INVALID_ARG);
    ck_assert_ptr_null(ep);
    ck_assert_int_eq(pl_endpoint_create(NULL, &ep), PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_endpoint_create(&p, &ep), PL_OK);
    float v[3] = {0.9f, NAN, 0.9f};
    struct evlog l = {0};
    ck_assert_int_eq(pl_endpoint_feed(ep, v, NULL, 3, on_event, &l), PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_endpoint_frames(ep), 0);
    ck_assert_int_eq(pl_endpoint_feed(ep, NULL, NULL, 3, on_event, &l), PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_endpoint_feed(ep, NULL, NULL, 0, on_event, &l), PL_OK);
    ck_assert_int_eq(l.n, 0);
    pl_endpoint_destroy(ep);
    pl_endpoint_destroy(NULL);
}
END_TEST

/* Random sequences: any chunking gives the events of frame-by-frame feeding;
 * finish closes an open utterance; reset starts over. */
START_TEST(test_chunking_finish_reset) {
    enum { N = 3000 };
    float *vad = pl_malloc(N * sizeof(float)), *blank = pl_malloc(N * sizeof(float));
    unsigned seed = 42;
    float level = 0.0f;
    for (int i = 0; i < N; i++) {
        seed = seed * 1103515245u + 12345u;
        if ((seed >> 16) % 97 == 0) level = level > 0.5f ? 0.1f : 0.9f; /* switch regime */
        vad[i] = level + (float)((seed >> 8) % 100) / 500.0f - 0.1f;
        blank[i] = ((seed >> 4) % 3 == 0) ? 1.0f - vad[i] : 0.95f;
    }
    struct pl_endpoint_params p;
    ck_assert_int_eq(pl_endpoint_params_resolve(NULL, 10, &p), PL_OK);
    struct pl_endpoint *ep = NULL;
    ck_assert_int_eq(pl_endpoint_create(&p, &ep), PL_OK);
    static struct evlog a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(pl_endpoint_feed(ep, vad + i, blank + i, 1, on_event, &a), PL_OK);
    pl_endpoint_finish(ep, on_event, &a);
    ck_assert_int_gt(a.n, 4);
    pl_endpoint_reset(ep);
    for (int off = 0; off < N;) {
        seed = seed * 1103515245u + 12345u;
        int len = (int)((seed >> 8) % 300);
        if (len > N - off) len = N - off;
        ck_assert_int_eq(pl_endpoint_feed(ep, vad + off, blank + off, (size_t)len, on_event, &b),
                         PL_OK);
        off += len;
    }
    pl_endpoint_finish(ep, on_event, &b);
    ck_assert_int_eq(a.n, b.n);
    for (int i = 0; i < a.n; i++) /* field by field: padding differs */
        expect(&b, i, a.ev[i].type, a.ev[i].frame, a.ev[i].begin, a.ev[i].last);
    /* events alternate START (EOU)* END, utterances count up */
    int utt = 0;
    bool open = false;
    for (int i = 0; i < a.n; i++) {
        const struct pl_endpoint_event *e = &a.ev[i];
        ck_assert_int_eq(e->utterance, utt);
        if (e->type == PL_ENDPOINT_START) {
            ck_assert(!open);
            open = true;
        } else {
            ck_assert(open);
            ck_assert_int_le(e->begin, e->last);
            ck_assert_int_le(e->last, e->frame);
            if (e->type == PL_ENDPOINT_END) {
                open = false;
                utt++;
            }
        }
    }
    ck_assert(!open);

    /* finish on an open utterance */
    pl_endpoint_reset(ep);
    struct evlog l = {0};
    float on[40];
    fill(on, 0, 40, 1.0f);
    ck_assert_int_eq(pl_endpoint_feed(ep, on, NULL, 40, on_event, &l), PL_OK);
    ck_assert(pl_endpoint_in_speech(ep));
    pl_endpoint_finish(ep, on_event, &l);
    ck_assert_int_eq(l.n, 2);
    expect(&l, 0, PL_ENDPOINT_START, 5, 0, 5);
    expect(&l, 1, PL_ENDPOINT_END, 40, 0, 39);
    ck_assert(l.ev[1].at_finish);
    ck_assert(!pl_endpoint_in_speech(ep));
    pl_endpoint_finish(ep, on_event, &l); /* nothing open: no event */
    ck_assert_int_eq(l.n, 2);
    pl_endpoint_destroy(ep);
    pl_free(vad);
    pl_free(blank);
}
END_TEST

/* --- real audio through the VAD ------------------------------------------ */

static const char *data_dir(void) {
    const char *d = getenv("PARLEY_DATA_DIR");
    return d && *d ? d : "/work/shared/data";
}

static struct pl_vad *g_vad;

static void vad_setup(void) {
    char wp[512];
    const char *src = getenv("PARLEY_SOURCE_DIR");
    snprintf(wp, sizeof wp, "%s/models/vad-silero/model.safetensors", src && *src ? src : ".");
    ck_assert_msg(pl_vad_create(wp, &g_vad) == PL_OK, "%s", pl_last_error());
}

static void vad_teardown(void) {
    pl_vad_destroy(g_vad);
    g_vad = NULL;
}

/* Append the speech-commands clip word/file to buf at *n. */
static void append_word(float *buf, size_t cap, size_t *n, const char *word, const char *file) {
    char path[768];
    snprintf(path, sizeof path, "%s/speech/speech-commands/speech_commands_v0.01/%s/%s", data_dir(),
             word, file);
    struct pl_audio *a = NULL;
    ck_assert_msg(pl_audio_decode_file(path, NULL, &a, NULL) == PL_OK, "%s: %s", path,
                  pl_last_error());
    ck_assert_int_eq(a->sample_rate, 16000);
    ck_assert_int_eq(a->channels, 1);
    ck_assert_uint_le(*n + a->n_frames, cap);
    memcpy(buf + *n, a->samples, a->n_frames * sizeof(float));
    *n += a->n_frames;
    pl_audio_destroy(a);
}

static void append_silence(float *buf, size_t cap, size_t *n, size_t len, float noise_rms,
                           unsigned *seed) {
    ck_assert_uint_le(*n + len, cap);
    for (size_t i = 0; i < len; i++) {
        /* sum of 4 uniforms: roughly Gaussian, variance 4/12 */
        float g = 0;
        for (int k = 0; k < 4; k++) {
            *seed = *seed * 1103515245u + 12345u;
            g += (float)((*seed >> 8) & 0xffff) / 65535.0f - 0.5f;
        }
        buf[*n + i] = noise_rms * g * 1.7320508f;
    }
    *n += len;
}

struct vad_frames {
    struct pl_endpoint *ep;
    struct evlog *log;
};

/* Each 32 ms VAD window's probability drives the 10 ms frames that start in
 * it (window k covers frames with 160 f in [512 k, 512 k + 512)). */
static void on_window(void *ud, int64_t w, float prob) {
    struct vad_frames *vf = ud;
    int64_t f0 = (w * 512 + 159) / 160, f1 = ((w + 1) * 512 + 159) / 160;
    for (int64_t f = f0; f < f1; f++)
        ck_assert_int_eq(pl_endpoint_feed(vf->ep, &prob, NULL, 1, on_event, vf->log), PL_OK);
}

/* Run audio through the VAD in 100 ms chunks and the endpointer (defaults). */
static void run_audio(const float *audio, size_t n, struct evlog *log) {
    struct pl_vad_state *vs = NULL;
    ck_assert_int_eq(pl_vad_state_create(g_vad, &vs), PL_OK);
    struct pl_endpoint_params p;
    ck_assert_int_eq(pl_endpoint_params_resolve(NULL, 10, &p), PL_OK);
    struct vad_frames vf = {NULL, log};
    ck_assert_int_eq(pl_endpoint_create(&p, &vf.ep), PL_OK);
    for (size_t off = 0; off < n; off += 1600) {
        size_t len = n - off < 1600 ? n - off : 1600;
        ck_assert_int_eq(pl_vad_feed(vs, audio + off, len, on_window, &vf), PL_OK);
    }
    pl_endpoint_finish(vf.ep, on_event, log);
    pl_endpoint_destroy(vf.ep);
    pl_vad_state_destroy(vs);
}

static int count_type(const struct evlog *l, enum pl_endpoint_event_type t) {
    int c = 0;
    for (int i = 0; i < l->n; i++) c += l->ev[i].type == t;
    return c;
}

/* Two words separated by 1.5 s give two utterances, each inside its word's
 * clip, each ended by silence (not by finish), each with an EOU first. */
static void two_words(float noise_rms) {
    size_t cap = 16000 * 6, n = 0;
    float *a = pl_malloc(cap * sizeof(float));
    unsigned seed = 99;
    append_silence(a, cap, &n, 8000, noise_rms, &seed);
    size_t w1 = n;
    append_word(a, cap, &n, "yes", "439c84f4_nohash_1.wav");
    append_silence(a, cap, &n, 24000, noise_rms, &seed);
    size_t w2 = n;
    append_word(a, cap, &n, "seven", "37e8db82_nohash_1.wav");
    append_silence(a, cap, &n, 16000, noise_rms, &seed);
    if (noise_rms > 0) /* the words get the same background */
        for (size_t i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            if ((i >= w1 && i < w1 + 16000) || (i >= w2 && i < w2 + 16000))
                a[i] += noise_rms * ((float)((seed >> 8) & 0xffff) / 65535.0f - 0.5f) * 3.46f;
        }
    static struct evlog l;
    memset(&l, 0, sizeof l);
    run_audio(a, n, &l);
    for (int i = 0; i < l.n; i++)
        fprintf(stderr, "noise %.3f: event %d frame %lld begin %lld last %lld\n", (double)noise_rms,
                l.ev[i].type, (long long)l.ev[i].frame, (long long)l.ev[i].begin,
                (long long)l.ev[i].last);
    ck_assert_int_eq(count_type(&l, PL_ENDPOINT_START), 2);
    ck_assert_int_eq(count_type(&l, PL_ENDPOINT_END), 2);
    ck_assert_int_ge(count_type(&l, PL_ENDPOINT_EOU), 2);
    int k = 0;
    size_t words[2] = {w1, w2};
    for (int i = 0; i < l.n; i++) {
        const struct pl_endpoint_event *e = &l.ev[i];
        if (e->type != PL_ENDPOINT_END) continue;
        ck_assert(!e->at_finish);
        int64_t wb = (int64_t)words[k] / 160, we = (int64_t)(words[k] + 16000) / 160;
        ck_assert_int_ge(e->begin, wb);
        ck_assert_int_le(e->last, we + 10);       /* the VAD window may straddle the end */
        ck_assert_int_ge(e->frame - e->last, 78); /* ended by stop_history of silence */
        k++;
    }
    pl_free(a);
}

START_TEST(test_audio_two_words) { two_words(0.0f); }
END_TEST

START_TEST(test_audio_two_words_in_noise) { two_words(0.003f); }
END_TEST

START_TEST(test_audio_silence_and_noise) {
    size_t cap = 16000 * 3, n = 0;
    float *a = pl_malloc(cap * sizeof(float));
    unsigned seed = 5;
    append_silence(a, cap, &n, cap, 0.0f, &seed);
    struct evlog l = {0};
    run_audio(a, n, &l);
    ck_assert_int_eq(l.n, 0);
    n = 0;
    append_silence(a, cap, &n, cap, 0.01f, &seed);
    run_audio(a, n, &l);
    ck_assert_int_eq(l.n, 0);
    pl_free(a);
}
END_TEST

/* The quiet tail: speech whose VAD probability stays high 10 frames after its energy fell
 * 50 dB (the VAD's hangover). EOU 120 ms x 0.9 (11 of 12 frames), stop 400 ms x 0.98. */
static struct pl_endpoint *tail_ep(float gate_db) {
    struct pl_endpoint_config c = {.has_start_history = true,
                                   .start_history = 50,
                                   .has_start_threshold = true,
                                   .start_threshold = 0.6f,
                                   .has_stop_history = true,
                                   .stop_history = 400,
                                   .has_stop_history_eou = true,
                                   .stop_history_eou = 120};
    struct pl_endpoint_params p;
    ck_assert_int_eq(pl_endpoint_params_resolve(&c, 10, &p), PL_OK);
    ck_assert_int_eq(p.eou_need, 11);
    ck_assert(p.tail_gate_db == 0.0f && p.tail_confirm == PL_ENDPOINT_TAIL_CONFIRM);
    p.tail_gate_db = gate_db;
    struct pl_endpoint *ep = NULL;
    ck_assert_int_eq(pl_endpoint_create(&p, &ep), PL_OK);
    return ep;
}

START_TEST(test_quiet_tail) {
    enum { N = 160 };
    float v[N], e[N], floor_e[N];
    fill(v, 0, N, 0.05f);
    fill(v, 10, 60, 0.9f); /* the VAD: speech 10..59 */
    fill(e, 0, N, 1e-5f);
    fill(e, 10, 50, 1.0f); /* the sound: 10..49, then 50 dB under */
    fill(floor_e, 0, N, 0.02f);
    fill(floor_e, 10, 50, 1.0f); /* a noise floor 17 dB under the voice: never quiet */
    /* off (and without energies): the EOU pause counts from the VAD's last speech, frame 59:
     * 11 silent frames 60..70 */
    for (int mode = 0; mode < 2; mode++) {
        struct pl_endpoint *ep = tail_ep(mode == 0 ? 0.0f : 30.0f);
        struct evlog l = {0};
        ck_assert_int_eq(mode == 1 ? pl_endpoint_feed(ep, v, NULL, N, on_event, &l)
                                   : pl_endpoint_feed_energy(ep, v, NULL, e, N, on_event, &l),
                         PL_OK);
        ck_assert_int_eq(l.n, 3);
        expect(&l, 0, PL_ENDPOINT_START, 12, 10, 12);
        expect(&l, 1, PL_ENDPOINT_EOU, 70, 10, 59);
        expect(&l, 2, PL_ENDPOINT_END, 99, 10, 59);
        pl_endpoint_destroy(ep);
    }
    /* on: two silent frames (60, 61) confirm it, and the quiet frames 50..59 before them
     * count for the EOU window: the pause ends at frame 61, 120 ms after the sound stopped
     * (frame 50). The stop window and the last voiced frame are the VAD's. */
    struct pl_endpoint *ep = tail_ep(30.0f);
    struct evlog l = {0};
    ck_assert_int_eq(pl_endpoint_feed_energy(ep, v, NULL, e, N, on_event, &l), PL_OK);
    ck_assert_int_eq(l.n, 3);
    expect(&l, 1, PL_ENDPOINT_EOU, 61, 10, 59);
    expect(&l, 2, PL_ENDPOINT_END, 99, 10, 59);
    /* the same frame by frame (the run spans the calls) */
    pl_endpoint_reset(ep);
    memset(&l, 0, sizeof l);
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(pl_endpoint_feed_energy(ep, v + i, NULL, e + i, 1, on_event, &l), PL_OK);
    expect(&l, 1, PL_ENDPOINT_EOU, 61, 10, 59);
    /* a loud frame inside the VAD's tail: the quiet run starts after it (frame 56): 56..61
     * are 6 of the 11, so the EOU comes at frame 66 */
    e[55] = 0.5f;
    pl_endpoint_reset(ep);
    memset(&l, 0, sizeof l);
    ck_assert_int_eq(pl_endpoint_feed_energy(ep, v, NULL, e, N, on_event, &l), PL_OK);
    expect(&l, 1, PL_ENDPOINT_EOU, 66, 10, 59);
    e[55] = 1e-5f;
    /* a noise floor within the gate: nothing is quiet, nothing changes */
    pl_endpoint_reset(ep);
    memset(&l, 0, sizeof l);
    ck_assert_int_eq(pl_endpoint_feed_energy(ep, v, NULL, floor_e, N, on_event, &l), PL_OK);
    expect(&l, 1, PL_ENDPOINT_EOU, 70, 10, 59);
    /* a quiet stretch the VAD never calls silent (a pause it hears through) ends nothing */
    float v2[N];
    fill(v2, 0, N, 0.05f);
    fill(v2, 10, 100, 0.9f);
    pl_endpoint_reset(ep);
    memset(&l, 0, sizeof l);
    ck_assert_int_eq(pl_endpoint_feed_energy(ep, v2, NULL, e, 100, on_event, &l), PL_OK);
    ck_assert_int_eq(l.n, 1); /* START only */
    /* bad energies: nothing consumed */
    float bad = -1.0f, nan_e = NAN;
    int64_t t = pl_endpoint_frames(ep);
    ck_assert_int_eq(pl_endpoint_feed_energy(ep, v, NULL, &bad, 1, on_event, &l),
                     PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_endpoint_feed_energy(ep, v, NULL, &nan_e, 1, on_event, &l),
                     PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_endpoint_frames(ep), t);
    pl_endpoint_destroy(ep);
    /* bad gates */
    struct pl_endpoint_params p;
    ck_assert_int_eq(pl_endpoint_params_resolve(NULL, 10, &p), PL_OK);
    p.tail_gate_db = -1.0f;
    ck_assert_int_eq(pl_endpoint_create(&p, &ep), PL_E_INVALID_ARG);
    p.tail_gate_db = NAN;
    ck_assert_int_eq(pl_endpoint_create(&p, &ep), PL_E_INVALID_ARG);
    p.tail_gate_db = 30.0f;
    p.tail_confirm = 0;
    ck_assert_int_eq(pl_endpoint_create(&p, &ep), PL_E_INVALID_ARG);
}
END_TEST

Suite *pl_endpoint_suite(void) {
    Suite *su = suite_create("endpoint");
    TCase *tc = tcase_create("synthetic");
    tcase_add_test(tc, test_two_utterances);
    tcase_add_test(tc, test_eou_rearms);
    tcase_add_test(tc, test_vad_and_blank);
    tcase_add_test(tc, test_blank_ends);
    tcase_add_test(tc, test_defaults_and_presence);
    tcase_add_test(tc, test_invalid);
    tcase_add_test(tc, test_chunking_finish_reset);
    tcase_add_test(tc, test_quiet_tail);
    suite_add_tcase(su, tc);
    TCase *ta = tcase_create("audio");
    tcase_add_checked_fixture(ta, vad_setup, vad_teardown);
    tcase_set_timeout(ta, 60);
    tcase_add_test(ta, test_audio_two_words);
    tcase_add_test(ta, test_audio_two_words_in_noise);
    tcase_add_test(ta, test_audio_silence_and_noise);
    suite_add_tcase(su, ta);
    return su;
}
