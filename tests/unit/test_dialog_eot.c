/*
 * test_dialog_eot.c - end of turn (dialog/dialog_eot.c): which words can end an English
 * utterance after a short pause, the decision with the NLU's intent score and with a pending
 * prompt, and the pipeline keys that configure it (asr.end_of_turn_silence_ms,
 * asr.end_of_turn_min_confidence, asr.end_of_turn_fall_st) with their errors naming file,
 * line and key; the tone before a pause (pl_dlg_eot_prosody): the pitch of synthetic glides,
 * and a real reader's comma that holds her pitch against her clause end that falls.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "audio.h"
#include "dialog.h"

/* The pitch slopes (semitones per second) at or under which the voice falls and above which
 * it rises in parley-dialog's default (dialog.end_of_turn_fall_slope, end_of_turn_rise_slope). */
#define FALL_SLOPE (-10.0f)
#define RISE_SLOPE 0.0f
#define TONE(p) pl_dlg_eot_tone_of(p, FALL_SLOPE, RISE_SLOPE)

START_TEST(test_words_complete) {
    /* complete requests and answers */
    static const char *const done[] = {
        "play some jazz", "book a table for four", "what's the weather in boston",
        "seven", "yes", "turn it on", "log in", "thank you", "Add it to my playlist.",
        "rate this book five stars", "I'd like that", "  book it  ", "it's ok", NULL,
    };
    for (const char *const *t = done; *t; t++)
        ck_assert_msg(pl_dlg_eot_words_complete(*t), "'%s' should look complete", *t);
    /* a pause after these words is a pause inside the turn */
    static const char *const open[] = {
        "book a table for", "play the", "add this song to", "i want to", "salt and",
        "coffee or", "a", "um", "play jazz uh", "the weather in boston and", "book a table at",
        "Play it, and", "I", "it's", "because", "", "   ", ",.!", NULL,
    };
    for (const char *const *t = open; *t; t++)
        ck_assert_msg(!pl_dlg_eot_words_complete(*t), "'%s' should not look complete", *t);
    ck_assert(!pl_dlg_eot_words_complete(NULL));
    /* the last word, not a word inside another */
    ck_assert(pl_dlg_eot_words_complete("play andy"));
    ck_assert(pl_dlg_eot_words_complete("go to toronto"));
    ck_assert(!pl_dlg_eot_words_complete("from toronto TO"));
}
END_TEST

START_TEST(test_judge) {
    /* words first: an open ending waits whatever the NLU or the prompt says */
    ck_assert_int_eq(pl_dlg_eot_judge("book a table for", false, 0.99f, 0.9f),
                     PL_DLG_EOT_WAIT_WORDS);
    ck_assert_int_eq(pl_dlg_eot_judge("four and", true, -1, 0.9f), PL_DLG_EOT_WAIT_WORDS);
    /* complete words: the NLU is asked, its confidence decides */
    ck_assert_int_eq(pl_dlg_eot_judge("play some jazz", false, -1, 0.9f), PL_DLG_EOT_ASK_NLU);
    ck_assert_int_eq(pl_dlg_eot_judge("play some jazz", false, 0.97f, 0.9f),
                     PL_DLG_EOT_END_INTENT);
    ck_assert_int_eq(pl_dlg_eot_judge("play some jazz", false, 0.9f, 0.9f),
                     PL_DLG_EOT_END_INTENT);
    ck_assert_int_eq(pl_dlg_eot_judge("oh my god", false, 0.6f, 0.9f), PL_DLG_EOT_WAIT_INTENT);
    /* the answer to the prompt just spoken ends the turn without the NLU */
    ck_assert_int_eq(pl_dlg_eot_judge("four", true, -1, 0.9f), PL_DLG_EOT_END_ANSWER);
    ck_assert(strstr(pl_dlg_eot_verdict_name(PL_DLG_EOT_END_INTENT), "end"));
    ck_assert(strstr(pl_dlg_eot_verdict_name(PL_DLG_EOT_WAIT_WORDS), "wait"));
}
END_TEST


/* A voiced-like glide from f_a to f_b Hz (harmonics, so the tracker has a period to find) for
 * dur seconds, then pause seconds of silence, at rate. */
static float *glide(int rate, float f_a, float f_b, float dur, float pause, size_t *n) {
    size_t ns = (size_t)(dur * (float)rate), np = (size_t)(pause * (float)rate);
    float *x = calloc(ns + np, sizeof *x);
    ck_assert_ptr_nonnull(x);
    double ph = 0;
    for (size_t i = 0; i < ns; i++) {
        double f = f_a + (f_b - f_a) * (double)i / (double)ns;
        ph += 2 * M_PI * f / rate;
        x[i] = (float)(0.3 * sin(ph) + 0.2 * sin(2 * ph) + 0.1 * sin(3 * ph));
    }
    *n = ns + np;
    return x;
}

START_TEST(test_prosody_glides) {
    static const int rates[] = {8000, 16000, 22050, 44100};
    for (int r = 0; r < 4; r++) {
        size_t n;
        /* a level 150 Hz: the median and the end at 150 Hz, no slope, no fall */
        float *x = glide(rates[r], 150, 150, 1.0f, 0.2f, &n);
        struct pl_dlg_eot_prosody p;
        ck_assert_msg(pl_dlg_eot_prosody(x, n, rates[r], &p), "level at %d Hz", rates[r]);
        ck_assert_msg(fabsf(p.f0_median_hz - 150) < 3 && fabsf(p.f0_end_hz - 150) < 3,
                      "%d Hz: median %.1f end %.1f", rates[r], p.f0_median_hz, p.f0_end_hz);
        ck_assert_msg(fabsf(p.f0_slope_st) < 2, "%d Hz: slope %.1f", rates[r], p.f0_slope_st);
        ck_assert(fabsf(p.speech_end_s - 1.0f) <= 0.02f && fabsf(p.pause_s - 0.2f) <= 0.02f);
        ck_assert_int_eq(pl_dlg_eot_tone_of(&p, FALL_SLOPE, 2), PL_DLG_EOT_TONE_LEVEL);
        free(x);
        /* 220 -> 140 Hz over a second: the end a few semitones under the middle, falling at
         * about 12*log2(220/140) = 7.8 semitones per second */
        x = glide(rates[r], 220, 140, 1.0f, 0.2f, &n);
        ck_assert(pl_dlg_eot_prosody(x, n, rates[r], &p));
        ck_assert_msg(fabsf(p.f0_end_hz - 142) < 6, "%d Hz: end %.1f", rates[r], p.f0_end_hz);
        ck_assert_msg(p.f0_slope_st < -5 && p.f0_slope_st > -12, "%d Hz: slope %.1f",
                      rates[r], p.f0_slope_st);
        ck_assert_msg(p.f0_end_rel_st < -2, "%d Hz: end %.1f st", rates[r], p.f0_end_rel_st);
        ck_assert_int_eq(pl_dlg_eot_tone_of(&p, -5, RISE_SLOPE), PL_DLG_EOT_TONE_FALLS);
        ck_assert_int_eq(pl_dlg_eot_tone_of(&p, -15, RISE_SLOPE), /* not that fast */
                         PL_DLG_EOT_TONE_LEVEL);
        free(x);
        /* the same rising: no fall */
        x = glide(rates[r], 140, 220, 1.0f, 0.2f, &n);
        ck_assert(pl_dlg_eot_prosody(x, n, rates[r], &p));
        ck_assert_msg(p.f0_slope_st > 5 && p.f0_end_rel_st > 2, "%d Hz: %.1f %.1f",
                      rates[r], p.f0_slope_st, p.f0_end_rel_st);
        ck_assert_int_eq(TONE(&p), PL_DLG_EOT_TONE_RISES);
        free(x);
    }
    /* silence, noise and too little audio: no tone */
    size_t n = 16000;
    float *z = calloc(n, sizeof *z);
    struct pl_dlg_eot_prosody p;
    ck_assert(!pl_dlg_eot_prosody(z, n, 16000, &p));
    srand(7);
    for (size_t i = 0; i < n; i++) z[i] = (float)rand() / (float)RAND_MAX - 0.5f;
    ck_assert(!pl_dlg_eot_prosody(z, n, 16000, &p));
    ck_assert(!pl_dlg_eot_prosody(z, 100, 16000, &p));
    ck_assert(!pl_dlg_eot_prosody(NULL, 0, 16000, &p));
    ck_assert_int_eq(TONE(NULL), PL_DLG_EOT_TONE_UNKNOWN);
    ck_assert_int_eq(TONE(&p), PL_DLG_EOT_TONE_UNKNOWN); /* what a failed measure leaves */
    free(z);
}
END_TEST

/* The tone of the 2 s of a before cut_s (the check runs about 200 ms into a pause; at the
 * recording's end, what it has). */
static bool tone_at(const struct pl_audio *a, double cut_s, struct pl_dlg_eot_prosody *p) {
    size_t end = (size_t)(cut_s * a->sample_rate);
    if (end > a->n_frames) end = a->n_frames;
    size_t start = end > 2 * (size_t)a->sample_rate ? end - 2 * (size_t)a->sample_rate : 0;
    return pl_dlg_eot_prosody(a->samples + start, end - start, a->sample_rate, p);
}

START_TEST(test_prosody_real) {
    /* LJ Speech LJ042-0095 (not one of the latency bench's recordings): "to attend a
     * university in Moscow, | but they gave him a monthly allowance of 700 rubles a month |".
     * After "Moscow," the reader pauses about 300 ms holding her pitch up (the sentence goes
     * on); at "a month" her voice falls to the bottom of her range. */
    const char *d = getenv("PARLEY_DATA_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/speech/ljspeech-real/wavs/LJ042-0095.flac",
             d && *d ? d : "/work/shared/data");
    struct pl_audio *a = NULL;
    ck_assert_msg(pl_audio_decode_file(path, NULL, &a, NULL) == PL_OK, "%s", pl_last_error());
    ck_assert_int_eq(a->channels, 1);
    struct pl_dlg_eot_prosody comma, end;
    ck_assert(tone_at(a, 2.31 + 0.2, &comma));
    ck_assert(tone_at(a, 6.41 + 0.2, &end));
    /* the same speaker: the same middle of her range at both pauses, within 3 semitones */
    ck_assert_msg(fabsf(12.0f * log2f(comma.f0_median_hz / end.f0_median_hz)) < 3,
                  "median %.0f vs %.0f Hz", comma.f0_median_hz, end.f0_median_hz);
    ck_assert_msg(comma.pause_s > 0.1f && end.pause_s > 0.1f, "pauses %.2f %.2f",
                  comma.pause_s, end.pause_s);
    ck_assert_msg(end.f0_end_rel_st < comma.f0_end_rel_st - 3, "end %.1f st, comma %.1f st",
                  end.f0_end_rel_st, comma.f0_end_rel_st);
    ck_assert_msg(end.f0_slope_st < comma.f0_slope_st - 10, "slope: end %.0f, comma %.0f st/s",
                  end.f0_slope_st, comma.f0_slope_st);
    ck_assert_msg(TONE(&end) == PL_DLG_EOT_TONE_FALLS, "end %.1f st, %.0f st/s",
                  end.f0_end_rel_st, end.f0_slope_st);
    ck_assert_msg(TONE(&comma) == PL_DLG_EOT_TONE_RISES, "comma %.1f st, %.0f st/s",
                  comma.f0_end_rel_st, comma.f0_slope_st);
    /* and the verdicts: words that can end either way; the tone decides, even against an NLU
     * that would have ended the turn at the comma (the check does not ask it) */
    ck_assert_int_eq(pl_dlg_eot_judge_tone("to attend a university in moscow", false,
                                           TONE(&comma), 0.999f, 0.99f),
                     PL_DLG_EOT_WAIT_TONE);
    ck_assert_int_eq(pl_dlg_eot_judge_tone("a monthly allowance of seven hundred rubles a month",
                                           false, TONE(&end), 0.3f, 0.99f),
                     PL_DLG_EOT_END_TONE);
    pl_audio_destroy(a);
}
END_TEST

START_TEST(test_judge_tone) {
    enum pl_dlg_eot_tone F = PL_DLG_EOT_TONE_FALLS, R = PL_DLG_EOT_TONE_RISES,
                         L = PL_DLG_EOT_TONE_LEVEL, U = PL_DLG_EOT_TONE_UNKNOWN;
    /* the tone never overrides the words; the answer to a prompt needs no tone */
    ck_assert_int_eq(pl_dlg_eot_judge_tone("book a table for", false, F, 0.2f, 0.99f),
                     PL_DLG_EOT_WAIT_WORDS);
    ck_assert_int_eq(pl_dlg_eot_judge_tone("four", true, R, -1, 0.99f), PL_DLG_EOT_END_ANSWER);
    /* a fall or a rise decides without the NLU, whatever its score */
    ck_assert_int_eq(pl_dlg_eot_judge_tone("play jazz", false, F, -1, 0.99f),
                     PL_DLG_EOT_END_TONE);
    ck_assert_int_eq(pl_dlg_eot_judge_tone("play jazz", false, R, 0.999f, 0.99f),
                     PL_DLG_EOT_WAIT_TONE);
    /* a level or unknown tone leaves it to the NLU */
    ck_assert_int_eq(pl_dlg_eot_judge_tone("play jazz", false, U, -1, 0.99f),
                     PL_DLG_EOT_ASK_NLU);
    ck_assert_int_eq(pl_dlg_eot_judge_tone("play jazz", false, L, -1, 0.99f),
                     PL_DLG_EOT_ASK_NLU);
    ck_assert_int_eq(pl_dlg_eot_judge_tone("play jazz", false, L, 0.999f, 0.99f),
                     PL_DLG_EOT_END_INTENT);
    ck_assert_int_eq(pl_dlg_eot_judge_tone("play jazz", false, L, 0.9f, 0.99f),
                     PL_DLG_EOT_WAIT_INTENT);
    ck_assert_int_eq(pl_dlg_eot_judge_tone("play jazz", false, U, 0.995f, 0.99f),
                     PL_DLG_EOT_END_INTENT);
    ck_assert_int_eq(pl_dlg_eot_judge_tone("play jazz", false, U, 0.5f, 0.99f),
                     PL_DLG_EOT_WAIT_INTENT);
    ck_assert(strstr(pl_dlg_eot_verdict_name(PL_DLG_EOT_END_TONE), "fell"));
    ck_assert(strstr(pl_dlg_eot_verdict_name(PL_DLG_EOT_WAIT_TONE), "wait"));
}
END_TEST

static const char *pipeline_error(const char *text) {
    struct pl_dlg_pipeline *p = NULL;
    if (pl_dlg_pipeline_parse("p.json", text, strlen(text), &p) == PL_OK) {
        pl_dlg_pipeline_destroy(p);
        return NULL;
    }
    return pl_last_error();
}

START_TEST(test_pipeline_keys) {
    const char *ok = "{\"pipeline\": \"x\", \"dialog\": {},\n \"asr\": {\"end_of_turn_silence_ms\": "
                     "150, \"end_of_turn_min_confidence\": 0.8}}";
    struct pl_dlg_pipeline *p = NULL;
    ck_assert_msg(pl_dlg_pipeline_parse("p.json", ok, strlen(ok), &p) == PL_OK, "%s",
                  pl_last_error());
    ck_assert_int_eq(p->asr.eot_silence_ms, 150);
    ck_assert(p->asr.eot_min_confidence > 0.79f && p->asr.eot_min_confidence < 0.81f);
    pl_dlg_pipeline_destroy(p);
    const char *off = "{\"pipeline\": \"x\", \"dialog\": {}, \"asr\": {\"end_of_turn_silence_ms\": -1}}";
    ck_assert(pl_dlg_pipeline_parse("p.json", off, strlen(off), &p) == PL_OK);
    ck_assert_int_eq(p->asr.eot_silence_ms, -1);
    ck_assert(p->asr.eot_min_confidence == 0.0f); /* the service's */
    pl_dlg_pipeline_destroy(p);
    const char *e = pipeline_error("{\"pipeline\": \"x\", \"dialog\": {},\n \"asr\": {\n "
                                   "\"end_of_turn_silence_ms\": 20}}");
    ck_assert_msg(e && strstr(e, "p.json:3: asr.end_of_turn_silence_ms: 20 is out of range: 0 "
                                 "(the service's), -1 (off) or 50..5000"), "%s", e ? e : "(ok)");
    e = pipeline_error("{\"pipeline\": \"x\", \"dialog\": {},\n \"asr\": "
                       "{\"end_of_turn_silence_ms\": 9000}}");
    ck_assert_msg(e && strstr(e, "asr.end_of_turn_silence_ms: 9000 is out of range"), "%s",
                  e ? e : "(ok)");
    e = pipeline_error("{\"pipeline\": \"x\", \"dialog\": {},\n \"asr\": "
                       "{\"end_of_turn_min_confidence\": 1.5}}");
    ck_assert_msg(e && strstr(e, "p.json:2: asr.end_of_turn_min_confidence: expected a number in "
                                 "0..1"), "%s", e ? e : "(ok)");
    e = pipeline_error("{\"pipeline\": \"x\", \"dialog\": {},\n \"asr\": "
                       "{\"end_of_turn_min_confidence\": \"high\"}}");
    ck_assert_msg(e && strstr(e, "asr.end_of_turn_min_confidence"), "%s", e ? e : "(ok)");
    static const struct { const char *v; int want; } tones[] = {{"true", 1}, {"false", -1}};
    for (int i = 0; i < 2; i++) {
        char doc[160];
        snprintf(doc, sizeof doc, "{\"pipeline\": \"x\", \"dialog\": {}, \"asr\": "
                 "{\"end_of_turn_tone\": %s}}", tones[i].v);
        ck_assert(pl_dlg_pipeline_parse("p.json", doc, strlen(doc), &p) == PL_OK);
        ck_assert_int_eq(p->asr.eot_tone, tones[i].want);
        pl_dlg_pipeline_destroy(p);
        p = NULL;
    }
    ck_assert(pl_dlg_pipeline_parse("p.json", off, strlen(off), &p) == PL_OK);
    ck_assert_int_eq(p->asr.eot_tone, 0); /* absent: the service's */
    pl_dlg_pipeline_destroy(p);
    e = pipeline_error("{\"pipeline\": \"x\", \"dialog\": {},\n \"asr\": "
                       "{\"end_of_turn_tone\": \"yes\"}}");
    ck_assert_msg(e && strstr(e, "p.json:2: asr.end_of_turn_tone: expected true or false"), "%s",
                  e ? e : "(ok)");
    /* the end-of-turn classifier: absent = the service's (NULL), "" = none, a name */
    ck_assert(pl_dlg_pipeline_parse("p.json", off, strlen(off), &p) == PL_OK);
    ck_assert(p->asr.eot_model == NULL && p->asr.eot_min_complete == 0.0f);
    pl_dlg_pipeline_destroy(p);
    static const char *const models[] = {"nlu-eot", ""};
    for (int i = 0; i < 2; i++) {
        char doc[200];
        snprintf(doc, sizeof doc, "{\"pipeline\": \"x\", \"dialog\": {}, \"asr\": "
                 "{\"end_of_turn_model\": \"%s\", \"end_of_turn_min_complete\": 0.8}}", models[i]);
        ck_assert_msg(pl_dlg_pipeline_parse("p.json", doc, strlen(doc), &p) == PL_OK, "%s",
                      pl_last_error());
        ck_assert_str_eq(p->asr.eot_model, models[i]);
        ck_assert(p->asr.eot_min_complete > 0.79f && p->asr.eot_min_complete < 0.81f);
        pl_dlg_pipeline_destroy(p);
        p = NULL;
    }
    e = pipeline_error("{\"pipeline\": \"x\", \"dialog\": {},\n \"asr\": "
                       "{\"end_of_turn_model\": 3}}");
    ck_assert_msg(e && strstr(e, "p.json:2: asr.end_of_turn_model: expected a string"), "%s",
                  e ? e : "(ok)");
    e = pipeline_error("{\"pipeline\": \"x\", \"dialog\": {},\n \"asr\": "
                       "{\"end_of_turn_min_complete\": -0.5}}");
    ck_assert_msg(e && strstr(e, "p.json:2: asr.end_of_turn_min_complete: expected a number in "
                                 "0..1"), "%s", e ? e : "(ok)");
}
END_TEST

Suite *pl_dialog_eot_suite(void) {
    Suite *s = suite_create("dialog_eot");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_words_complete);
    tcase_add_test(tc, test_judge);
    tcase_add_test(tc, test_pipeline_keys);
    tcase_add_test(tc, test_judge_tone);
    tcase_add_test(tc, test_prosody_glides);
    tcase_add_test(tc, test_prosody_real);
    suite_add_tcase(s, tc);
    return s;
}
