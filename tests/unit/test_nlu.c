/* test_nlu.c - parley-nlu pre/post-processing without a model: whitespace words from token
 * offsets, window merging, softmax, BIO spans, punctuation/capitalization rebuild, label
 * maps; and the service's request checks with no model loaded. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "nlu.h"
#include "nrpc_worker.h"
#include "riva/proto/riva_nlp.pb-c.h"
#include "wordpiece.h"

static const char vocab[] = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n"
                            "how\nare\nyou\ndoing\ntoday\ndon\n'\nt\nstop\n,\nboston\nz\n##u\n"
                            "##r\n##i\n##c\n##h\nhello\n.\nusa\nquoted\n";

static struct pl_wordpiece *tok(void) {
    struct pl_wordpiece *t = NULL;
    ck_assert_int_eq(pl_wordpiece_create_from_buffer(vocab, strlen(vocab), NULL, &t), PL_OK);
    return t;
}

/* Whitespace words of text: tokenize, then group. */
static int32_t words_of(struct pl_wordpiece *t, const char *text, struct pl_nlu_word **w) {
    int32_t n = 0, nw = 0;
    int32_t *ids = NULL, *wids = NULL;
    struct pl_token_offset *offs = NULL;
    ck_assert_int_eq(pl_wordpiece_tokenize(t, text, strlen(text), &n, &ids, &wids, &offs), PL_OK);
    ck_assert_int_eq(pl_nlu_words(text, strlen(text), offs, n, w, &nw), PL_OK);
    pl_free(ids);
    pl_free(wids);
    pl_free(offs);
    return nw;
}

START_TEST(test_words) {
    struct pl_wordpiece *t = tok();
    struct pl_nlu_word *w = NULL;
    /* "don't" is 3 tokens, "stop," 2; the NBSP (U+00A0) separates words; ü is 2 bytes */
    const char *text = "  don't stop,\tboston\xc2\xa0zurich züri";
    int32_t n = words_of(t, text, &w);
    ck_assert_int_eq(n, 5);
    ck_assert_int_eq(w[0].first_token, 0);
    ck_assert_int_eq(w[0].last_token, 2);
    ck_assert_int_eq(w[0].byte_start, 2);
    ck_assert_int_eq(w[0].byte_end, 7);
    ck_assert_int_eq(w[1].first_token, 3);
    ck_assert_int_eq(w[1].last_token, 4);
    ck_assert_int_eq(w[2].byte_start, 14);
    ck_assert_int_eq(w[2].byte_end, 20);
    ck_assert_int_eq(w[3].byte_start, 22); /* after the 2-byte NBSP */
    ck_assert_int_eq(w[3].char_start, 21);
    ck_assert_int_eq(w[3].char_end, 27);
    ck_assert_int_eq(w[4].byte_end - w[4].byte_start, 5); /* "züri": 5 bytes, 4 chars */
    ck_assert_int_eq(w[4].char_end - w[4].char_start, 4);
    pl_free(w);

    /* no tokens: no words */
    ck_assert_int_eq(pl_nlu_words("", 0, NULL, 0, &w, &n), PL_OK);
    ck_assert_int_eq(n, 0);
    ck_assert_ptr_null(w);
    /* offsets outside the text or out of order */
    struct pl_token_offset bad[2] = {{0, 3, 0, 3}, {2, 9, 2, 9}};
    ck_assert_int_eq(pl_nlu_words("abc def", 7, bad, 2, &w, &n), PL_E_INVALID_ARG);
    struct pl_token_offset back[2] = {{4, 7, 4, 7}, {0, 3, 0, 3}};
    ck_assert_int_eq(pl_nlu_words("abc def", 7, back, 2, &w, &n), PL_E_INVALID_ARG);
    pl_wordpiece_destroy(t);
}
END_TEST

/* Window merge: every merged row must come from a window where the token has its most
 * context, and the merged offsets must be the whole text's token offsets. */
START_TEST(test_merge_windows) {
    struct pl_wordpiece *t = tok();
    char text[1024] = "";
    for (int i = 0; i < 37; i++) strcat(text, i % 3 ? "how are " : "boston ");
    size_t len = strlen(text);
    int32_t n = 0, *ids = NULL, *wids = NULL;
    struct pl_token_offset *offs = NULL;
    ck_assert_int_eq(pl_wordpiece_tokenize(t, text, len, &n, &ids, &wids, &offs), PL_OK);
    struct pl_window_opts wo = {12, 5, 0};
    struct pl_windows *w = NULL;
    ck_assert_int_eq(pl_wordpiece_windows(t, NULL, 0, text, len, &wo, &w), PL_OK);
    ck_assert_int_gt(w->n, 5);
    ck_assert_int_eq(w->n_text_tokens, n);
    /* row of window wi, token i = {wi, i} */
    float **rows = calloc((size_t)w->n, sizeof *rows);
    for (int wi = 0; wi < w->n; wi++) {
        rows[wi] = calloc((size_t)w->windows[wi].n * 2, sizeof(float));
        for (int i = 0; i < w->windows[wi].n; i++) {
            rows[wi][2 * i] = (float)wi;
            rows[wi][2 * i + 1] = (float)i;
        }
    }
    float *out = calloc((size_t)n * 2, sizeof(float));
    struct pl_token_offset *mo = calloc((size_t)n, sizeof *mo);
    ck_assert_int_eq(pl_nlu_merge_windows(w, (const float *const *)rows, 2, out, mo), PL_OK);
    for (int g = 0; g < n; g++) {
        int wi = (int)out[2 * g], i = (int)out[2 * g + 1];
        const struct pl_encoding *e = &w->windows[wi];
        ck_assert_int_ge(e->seq[i], 0);
        ck_assert_int_eq(e->max_context[i], 1);
        ck_assert_int_eq(mo[g].byte_start, offs[g].byte_start);
        ck_assert_int_eq(mo[g].byte_end, offs[g].byte_end);
        /* the window token really is text token g */
        int k = 0;
        for (int j = 0; j < i; j++) k += e->seq[j] >= 0;
        ck_assert_int_eq(e->window_start + k, g);
    }
    /* inconsistent windows are refused */
    w->n_text_tokens -= 3;
    ck_assert_int_eq(pl_nlu_merge_windows(w, (const float *const *)rows, 2, out, mo), PL_E_INVALID_ARG);
    w->n_text_tokens += 3;
    for (int wi = 0; wi < w->n; wi++) free(rows[wi]);
    free(rows);
    free(out);
    free(mo);
    pl_windows_destroy(w);
    pl_free(ids);
    pl_free(wids);
    pl_free(offs);
    pl_wordpiece_destroy(t);
}
END_TEST

START_TEST(test_softmax) {
    float x[3] = {1000.f, 1001.f, 999.f};
    pl_nlu_softmax(x, 3);
    ck_assert(fabsf(x[0] + x[1] + x[2] - 1.f) < 1e-6f);
    ck_assert(isfinite(x[0]) && x[1] > x[0] && x[0] > x[2]);
    ck_assert(fabsf(x[1] - 0.66524f) < 1e-4f);
    ck_assert_int_eq(pl_nlu_argmax(x, 3), 1);
    float tie[3] = {2.f, 2.f, 1.f};
    ck_assert_int_eq(pl_nlu_argmax(tie, 3), 0);
}
END_TEST

START_TEST(test_bio) {
    const char *labels[] = {"O", "B-city", "I-city", "B-PER", "I-PER", "PER"};
    /* B-city I-city O I-city B-city B-city I-PER PER O */
    int32_t tags[] = {1, 2, 0, 2, 1, 1, 4, 5, 0};
    float sc[] = {0.9f, 0.7f, 1.f, 0.5f, 0.6f, 0.4f, 0.8f, 0.6f, 1.f};
    struct pl_nlu_span *sp = NULL;
    int32_t n = 0;
    ck_assert_int_eq(pl_nlu_bio_decode(labels, 6, tags, sc, 9, &sp, &n), PL_OK);
    ck_assert_int_eq(n, 5);
    int32_t want[5][2] = {{0, 1}, {3, 3}, {4, 4}, {5, 5}, {6, 7}};
    const char *types[5] = {"city", "city", "city", "city", "PER"};
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(sp[i].first_word, want[i][0]);
        ck_assert_int_eq(sp[i].last_word, want[i][1]);
        ck_assert_int_eq(sp[i].type_len, (int)strlen(types[i]));
        ck_assert(memcmp(sp[i].type, types[i], strlen(types[i])) == 0);
    }
    ck_assert(fabsf(sp[0].score - 0.8f) < 1e-6f);
    ck_assert(fabsf(sp[4].score - 0.7f) < 1e-6f);
    ck_assert(fabsf(sp[3].score - 0.4f) < 1e-6f);
    pl_free(sp);
    /* a span of one type does not continue into another type's I- tag */
    int32_t t2[] = {1, 4};
    ck_assert_int_eq(pl_nlu_bio_decode(labels, 6, t2, NULL, 2, &sp, &n), PL_OK);
    ck_assert_int_eq(n, 2);
    ck_assert(sp[0].score == 1.f);
    pl_free(sp);
    /* all outside: no spans */
    int32_t t3[] = {0, 0};
    ck_assert_int_eq(pl_nlu_bio_decode(labels, 6, t3, NULL, 2, &sp, &n), PL_OK);
    ck_assert_int_eq(n, 0);
    ck_assert_ptr_null(sp);
    int32_t t4[] = {0, 6};
    ck_assert_int_eq(pl_nlu_bio_decode(labels, 6, t4, NULL, 2, &sp, &n), PL_E_INVALID_ARG);
    int32_t t5[] = {-1};
    ck_assert_int_eq(pl_nlu_bio_decode(labels, 6, t5, NULL, 1, &sp, &n), PL_E_INVALID_ARG);
}
END_TEST

START_TEST(test_bio_viterbi) {
    const char *labels[] = {"O", "B-city", "I-city", "B-time", "I-time"};
    /* argmax would give O I-city I-city (a span opened by I-); the best valid path turns the
     * first I-city into B-city */
    const float w0[] = {0.9f, 0.02f, 0.04f, 0.02f, 0.02f};
    const float w1[] = {0.05f, 0.40f, 0.45f, 0.05f, 0.05f};
    const float w2[] = {0.05f, 0.05f, 0.80f, 0.05f, 0.05f};
    const float *rows[] = {w0, w1, w2};
    int32_t out[3];
    uint8_t *bio = NULL;
    ck_assert_int_eq(pl_nlu_bio_transitions(labels, 5, &bio), PL_OK);
    ck_assert_ptr_nonnull(bio);
    ck_assert_int_eq(pl_nlu_bio_viterbi(bio, 5, rows, 3, out), PL_OK);
    ck_assert_int_eq(out[0], 0);
    ck_assert_int_eq(out[1], 1);
    ck_assert_int_eq(out[2], 2);
    /* I- of another type may not continue a span; a first word may not be I- */
    const float v0[] = {0.05f, 0.05f, 0.60f, 0.25f, 0.05f};
    const float v1[] = {0.05f, 0.05f, 0.05f, 0.05f, 0.80f};
    const float *rows2[] = {v0, v1};
    ck_assert_int_eq(pl_nlu_bio_viterbi(bio, 5, rows2, 2, out), PL_OK);
    ck_assert_int_eq(out[0], 3); /* B-time: the only start I-time may follow */
    ck_assert_int_eq(out[1], 4);
    /* O then I-city is invalid: O O (ln .9 + ln .05) beats B-city I-city (ln .02 + ln .8) */
    const float *rows3[] = {w0, w2};
    ck_assert_int_eq(pl_nlu_bio_viterbi(bio, 5, rows3, 2, out), PL_OK);
    ck_assert_int_eq(out[0], 0);
    ck_assert_int_ne(out[1], 2);
    /* a first word never takes I-: B-city I-city */
    const float *rows5[] = {w1, w2};
    ck_assert_int_eq(pl_nlu_bio_viterbi(bio, 5, rows5, 2, out), PL_OK);
    ck_assert_int_eq(out[0], 1);
    ck_assert_int_eq(out[1], 2);
    const char *io[] = {"O", "PER"};
    const float u0[] = {0.3f, 0.7f};
    const float *rows4[] = {u0};
    uint8_t *none = NULL;
    ck_assert_int_eq(pl_nlu_bio_transitions(io, 2, &none), PL_OK);
    ck_assert_ptr_null(none); /* no I- label: not a BIO set, plain argmax */
    ck_assert_int_eq(pl_nlu_bio_viterbi(none, 2, rows4, 1, out), PL_OK);
    ck_assert_int_eq(out[0], 1);
    ck_assert_int_eq(pl_nlu_bio_viterbi(bio, 5, rows, 0, out), PL_OK);
    ck_assert_int_eq(pl_nlu_bio_viterbi(bio, 5, NULL, 3, out), PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_nlu_bio_transitions(NULL, 5, &none), PL_E_INVALID_ARG);
    pl_free(bio);
}
END_TEST

START_TEST(test_word_starts_upper) {
    const char *t = "John lives in \xc3\x89vora, \"Paris\" and iPhone  U.S.";
    size_t n = strlen(t);
    ck_assert(pl_nlu_word_starts_upper(t, n, 0));          /* John */
    ck_assert(pl_nlu_word_starts_upper(t, n, 3));          /* inside John */
    ck_assert(!pl_nlu_word_starts_upper(t, n, 5));         /* lives */
    const char *ev = strstr(t, "\xc3\x89vora");
    ck_assert(pl_nlu_word_starts_upper(t, n, (size_t)(ev - t) + 2)); /* Evora, 2-byte E-acute */
    const char *pa = strstr(t, "Paris");
    ck_assert(!pl_nlu_word_starts_upper(t, n, (size_t)(pa - t))); /* the word starts with a quote */
    const char *ip = strstr(t, "iPhone");
    ck_assert(!pl_nlu_word_starts_upper(t, n, (size_t)(ip - t) + 1));
    const char *us = strstr(t, "U.S.");
    ck_assert(pl_nlu_word_starts_upper(t, n, (size_t)(us - t) + 2));
    ck_assert(!pl_nlu_word_starts_upper(t, n, n));         /* out of range */
    ck_assert(!pl_nlu_word_starts_upper(NULL, 0, 0));
}
END_TEST

/* the class of the word that starts at the first occurrence of w in t, and at its last byte */
static int case_class_at(const char *t, const char *w) {
    const char *at = strstr(t, w);
    ck_assert_ptr_nonnull(at);
    size_t n = strlen(t), b = (size_t)(at - t);
    int c = pl_nlu_word_case_class(t, n, b);
    ck_assert_int_eq(pl_nlu_word_case_class(t, n, b + strlen(w) - 1), c);
    return c;
}

START_TEST(test_word_case_class) {
    const char *t = "John lives in \xc3\x89vora , (Reuters) EU U.S. SOCCER I a iPhone 1996 0-1 "
                    "McDonald \xc3\x89TAT \"Paris\" - \xe4\xb8\xad\xe6\x96\x87 x2 A.";
    ck_assert_int_eq(case_class_at(t, "John"), 1);
    ck_assert_int_eq(case_class_at(t, "lives"), 0);
    ck_assert_int_eq(case_class_at(t, "\xc3\x89vora"), 1);  /* 2-byte E-acute */
    ck_assert_int_eq(case_class_at(t, ","), 0);
    ck_assert_int_eq(case_class_at(t, "(Reuters)"), 1);      /* the first letter counts */
    ck_assert_int_eq(case_class_at(t, "EU"), 2);
    ck_assert_int_eq(case_class_at(t, "U.S."), 2);
    ck_assert_int_eq(case_class_at(t, "SOCCER"), 2);
    size_t n = strlen(t);
    /* one-byte words between spaces: their byte */
    ck_assert_int_eq(pl_nlu_word_case_class(t, n, (size_t)(strstr(t, " I ") - t) + 1), 1);
    ck_assert_int_eq(pl_nlu_word_case_class(t, n, (size_t)(strstr(t, " a ") - t) + 1), 0);
    ck_assert_int_eq(pl_nlu_word_case_class(t, n, (size_t)(strstr(t, " - ") - t) + 1), 0);
    ck_assert_int_eq(case_class_at(t, "iPhone"), 3);
    ck_assert_int_eq(case_class_at(t, "1996"), 3);
    ck_assert_int_eq(case_class_at(t, "0-1"), 3);
    ck_assert_int_eq(case_class_at(t, "McDonald"), 1);
    ck_assert_int_eq(case_class_at(t, "\xc3\x89TAT"), 2);
    ck_assert_int_eq(case_class_at(t, "\"Paris\""), 1);
    ck_assert_int_eq(case_class_at(t, "\xe4\xb8\xad\xe6\x96\x87"), 0); /* Lo: no case */
    ck_assert_int_eq(case_class_at(t, "x2"), 3);
    ck_assert_int_eq(case_class_at(t, "A."), 1);
    ck_assert_int_eq(pl_nlu_word_case_class(t, n, n), 0); /* out of range */
    ck_assert_int_eq(pl_nlu_word_case_class(NULL, 0, 0), 0);
    ck_assert_int_eq(pl_nlu_word_case_class("AB\xff", 3, 0), 2); /* a bad byte is skipped */
}
END_TEST

START_TEST(test_label_maps) {
    ck_assert_int_eq(pl_nlu_case_of_label("UPPER"), PL_NLU_CASE_UPPER);
    ck_assert_int_eq(pl_nlu_case_of_label("Capitalized"), PL_NLU_CASE_CAPITALIZE);
    ck_assert_int_eq(pl_nlu_case_of_label("U"), PL_NLU_CASE_CAPITALIZE);
    ck_assert_int_eq(pl_nlu_case_of_label("lower"), PL_NLU_CASE_LOWER);
    ck_assert_int_eq(pl_nlu_case_of_label("O"), PL_NLU_CASE_LOWER);
    ck_assert_str_eq(pl_nlu_mark_of_label("O"), "");
    ck_assert_str_eq(pl_nlu_mark_of_label(""), "");
    ck_assert_str_eq(pl_nlu_mark_of_label("?"), "?");
    ck_assert_str_eq(pl_nlu_mark_of_label(","), ",");
    ck_assert_str_eq(pl_nlu_task_name(PL_NLU_TASK_INTENT_SLOT), "joint_intent_slot");
    ck_assert_str_eq(pl_nlu_task_name(PL_NLU_TASK_PUNCT), "punctuation_capitalization");
}
END_TEST

START_TEST(test_punct_rebuild) {
    struct pl_wordpiece *t = tok();
    struct pl_nlu_word *w = NULL;
    /* a word typed with a capital stays as typed ("ARE"); whitespace is kept */
    const char *text = " how ARE you  doing today\n";
    int32_t n = words_of(t, text, &w);
    ck_assert_int_eq(n, 5);
    enum pl_nlu_case cases[] = {PL_NLU_CASE_CAPITALIZE, PL_NLU_CASE_LOWER, PL_NLU_CASE_LOWER,
                                PL_NLU_CASE_LOWER, PL_NLU_CASE_LOWER};
    const char *marks[] = {"", "", "", ",", "?"};
    char *out = NULL;
    ck_assert_int_eq(pl_nlu_punct_rebuild(text, strlen(text), w, n, cases, marks, &out), PL_OK);
    ck_assert_str_eq(out, " How ARE you  doing, today?\n");
    pl_free(out);
    pl_free(w);
    /* all-capitals input has no case to keep: every word takes the model's */
    text = "HOW ARE YOU";
    n = words_of(t, text, &w);
    ck_assert_int_eq(n, 3);
    const char *m1[] = {"", "", "?"};
    ck_assert_int_eq(pl_nlu_punct_rebuild(text, strlen(text), w, n, cases, m1, &out), PL_OK);
    ck_assert_str_eq(out, "How are you?");
    pl_free(out);
    pl_free(w);

    /* UPPER; words typed with punctuation around them (read without it) stay as typed and take
     * a mark only when nothing is typed after them */
    text = "usa hello. 'quoted";
    char *mt = NULL;
    ck_assert_int_eq(pl_nlu_punct_model_text(text, strlen(text), &mt), PL_OK);
    ck_assert_str_eq(mt, "usa hello   quoted");
    n = words_of(t, mt, &w);
    ck_assert_int_eq(n, 3);
    enum pl_nlu_case c2[] = {PL_NLU_CASE_UPPER, PL_NLU_CASE_CAPITALIZE, PL_NLU_CASE_CAPITALIZE};
    const char *m2[] = {",", ".", "."};
    ck_assert_int_eq(pl_nlu_punct_rebuild(text, strlen(text), w, n, c2, m2, &out), PL_OK);
    ck_assert_str_eq(out, "USA, hello. 'quoted.");
    pl_free(out);
    pl_free(mt);
    /* Unicode letters: É, ß (utf8proc maps it to U+1E9E), Greek typed in capitals (kept) */
    const char *u = "émile straße ΣΟΦΙΑ";
    struct pl_nlu_word *uw = NULL;
    int32_t un = words_of(t, u, &uw);
    ck_assert_int_eq(un, 3);
    enum pl_nlu_case c3[] = {PL_NLU_CASE_CAPITALIZE, PL_NLU_CASE_UPPER, PL_NLU_CASE_CAPITALIZE};
    const char *m3[] = {"", "", "."};
    ck_assert_int_eq(pl_nlu_punct_rebuild(u, strlen(u), uw, un, c3, m3, &out), PL_OK);
    ck_assert_str_eq(out, "Émile STRAẞE ΣΟΦΙΑ.");
    pl_free(out);
    pl_free(uw);
    /* words outside the text */
    w[2].byte_end = 100;
    ck_assert_int_eq(pl_nlu_punct_rebuild(text, strlen(text), w, n, c2, m2, &out), PL_E_INVALID_ARG);
    ck_assert_ptr_null(out);
    pl_free(w);
    pl_wordpiece_destroy(t);
}
END_TEST

START_TEST(test_punct_model_text) {
    /* punctuation and symbols at the ends of words become spaces, one per byte; inner marks,
     * digits, non-Latin letters and the whitespace (NBSP) stay */
    const char *text = "Loona (stylized as LOO\xce\xa0\xce\x94, Korean: \xec\x9d\xb4\xeb\x8b\xac\xec\x9d\x98 "
                       "\xec\x86\x8c\xeb\x85\x80; lit. ''Girl $103 \xe2\x82\xa9" "111 12:45 A.M. -- "
                       "micro-organisms\xc2\xa0(x)";
    const char *want = "Loona  stylized as LOO\xce\xa0\xce\x94  Korean  \xec\x9d\xb4\xeb\x8b\xac\xec\x9d\x98 "
                       "\xec\x86\x8c\xeb\x85\x80  lit    Girl  103    111 12:45 A.M     "
                       "micro-organisms\xc2\xa0 x ";
    char *mt = NULL;
    ck_assert_int_eq(pl_nlu_punct_model_text(text, strlen(text), &mt), PL_OK);
    ck_assert_str_eq(mt, want);
    ck_assert_uint_eq(strlen(mt), strlen(text));
    pl_free(mt);
    /* no word character at all: unchanged (the model reads it as typed) */
    ck_assert_int_eq(pl_nlu_punct_model_text("?! ...", 6, &mt), PL_OK);
    ck_assert_str_eq(mt, "?! ...");
    pl_free(mt);

    /* the whole path: read the stripped copy, rebuild the typed text */
    struct pl_wordpiece *t = tok();
    struct pl_nlu_word *w = NULL;
    text = "can you see LOO\xce\xa0\xce\x94, (stylized) lit. $103 pm";
    ck_assert_int_eq(pl_nlu_punct_model_text(text, strlen(text), &mt), PL_OK);
    int32_t n = words_of(t, mt, &w);
    ck_assert_int_eq(n, 8);
    enum pl_nlu_case cases[] = {PL_NLU_CASE_CAPITALIZE, PL_NLU_CASE_LOWER, PL_NLU_CASE_LOWER, PL_NLU_CASE_LOWER,
                                PL_NLU_CASE_CAPITALIZE, PL_NLU_CASE_CAPITALIZE, PL_NLU_CASE_LOWER,
                                PL_NLU_CASE_UPPER};
    const char *marks[] = {"", "", ",", ",", ".", ".", ",", "?"};
    char *out = NULL;
    ck_assert_int_eq(pl_nlu_punct_rebuild(text, strlen(text), w, n, cases, marks, &out), PL_OK);
    ck_assert_str_eq(out, "Can you see, LOO\xce\xa0\xce\x94, (stylized) lit. $103, PM?");
    pl_free(out);
    pl_free(mt);
    pl_free(w);
    pl_wordpiece_destroy(t);
}
END_TEST

START_TEST(test_model_load_errors) {
    struct pl_nlu_model *m = NULL;
    ck_assert(!pl_nlu_model_probe("/nonexistent-parley-model", NULL));
    ck_assert_int_eq(pl_nlu_model_load("/nonexistent-parley-model", "x", NULL, &m), PL_E_IO);
    ck_assert_ptr_null(m);
    ck_assert_ptr_nonnull(strstr(pl_last_error(), "config.json"));
}
END_TEST

/* One rpc through the runtime's dispatch (a worker that is never started: no NATS). */
static pl_status nlu_call(struct pl_nlu_service *s, const char *rpc, const uint8_t *req, size_t n,
                          struct pl_worker_out *out) {
    struct pl_worker_opts o = PL_WORKER_OPTS_INIT;
    o.service = "nlu";
    struct pl_worker *w = NULL;
    ck_assert_int_eq(pl_worker_create(&o, &w), PL_OK);
    ck_assert_int_eq(pl_nlu_service_register(s, w), PL_OK);
    pl_status st = pl_worker_call(w, rpc, 0, req, n, out);
    pl_worker_destroy(w);
    return st;
}

static pl_status call_punct(struct pl_nlu_service *s, const char *rpc, char **texts, size_t n,
                            const char *model) {
    Nvidia__Riva__Nlp__TextTransformRequest rq = NVIDIA__RIVA__NLP__TEXT_TRANSFORM_REQUEST__INIT;
    Nvidia__Riva__Nlp__NLPModelParams mp = NVIDIA__RIVA__NLP__NLPMODEL_PARAMS__INIT;
    rq.text = texts;
    rq.n_text = n;
    if (model) {
        mp.model_name = (char *)model;
        rq.model = &mp;
    }
    uint8_t buf[4096];
    size_t len = nvidia__riva__nlp__text_transform_request__pack(&rq, buf);
    struct pl_worker_out out = {0};
    pl_status st = nlu_call(s, rpc, buf, len, &out);
    pl_free(out.data);
    return st;
}

/* No model loaded: request checks still answer INVALID_ARGUMENT, and the task UNAVAILABLE. */
START_TEST(test_service_without_models) {
    struct pl_nlu_service_opts o = {0};
    o.model_dir = "/nonexistent-parley-models";
    o.max_text_bytes = 16;
    o.max_texts = 2;
    struct pl_nlu_service *s = NULL;
    ck_assert_int_eq(pl_nlu_service_create(&o, &s), PL_OK);
    ck_assert_int_eq(pl_nlu_service_n_models(s), 0);
    char *one[] = {"how are you"};
    ck_assert_int_eq(call_punct(s, "punctuate_text", one, 1, NULL), PL_E_UNAVAILABLE);
    ck_assert_ptr_nonnull(strstr(pl_last_error(), "no punctuation model"));
    ck_assert_int_eq(call_punct(s, "punctuate_text", one, 1, "pm"), PL_E_NOT_FOUND);
    ck_assert_ptr_nonnull(strstr(pl_last_error(), "'pm'"));
    char *empty[] = {""};
    ck_assert_int_eq(call_punct(s, "punctuate_text", empty, 1, NULL), PL_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(pl_last_error(), "text[0] is empty"));
    char *big[] = {"this text is longer than sixteen bytes"};
    ck_assert_int_eq(call_punct(s, "transform_text", big, 1, NULL), PL_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(pl_last_error(), "too long"));
    char *three[] = {"a", "b", "c"};
    ck_assert_int_eq(call_punct(s, "punctuate_text", three, 3, NULL), PL_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(pl_last_error(), "too many texts"));
    ck_assert_int_eq(call_punct(s, "punctuate_text", NULL, 0, NULL), PL_E_INVALID_ARG);
    /* garbage and non-UTF-8 bytes */
    struct pl_worker_out out = {0};
    const uint8_t garbage[] = {0x0a, 0x50, 'x'};
    ck_assert_int_eq(nlu_call(s, "analyze_intent", garbage, 3, &out), PL_E_INVALID_ARG);
    const uint8_t bad_utf8[] = {0x0a, 0x03, 'a', 0xff, 'b'};
    ck_assert_int_eq(nlu_call(s, "analyze_intent", bad_utf8, 5, &out), PL_E_INVALID_ARG);
    ck_assert_int_eq(nlu_call(s, "classify_text", bad_utf8, 5, &out), PL_E_INVALID_ARG);
    const uint8_t ok_query[] = {0x0a, 0x02, 'h', 'i'};
    ck_assert_int_eq(nlu_call(s, "analyze_entities", ok_query, 4, &out), PL_E_UNAVAILABLE);
    ck_assert_int_eq(nlu_call(s, "nope", ok_query, 4, &out), PL_E_UNSUPPORTED);
    /* GetRivaNLPConfig: empty list; a named model is NOT_FOUND */
    ck_assert_int_eq(nlu_call(s, "get_riva_nlp_config", NULL, 0, &out), PL_OK);
    pl_free(out.data);
    out.data = NULL;
    const uint8_t named[] = {0x0a, 0x01, 'x'};
    ck_assert_int_eq(nlu_call(s, "get_riva_nlp_config", named, 3, &out), PL_E_NOT_FOUND);
    pl_nlu_service_destroy(s);
}
END_TEST


/* ---- with tiny random models (tests/integration/nlu_tiny.py, made at test time) ---------- */

static char g_models[512];

static void make_models(void) {
    const char *src = getenv("PARLEY_SOURCE_DIR"), *py = getenv("PL_PYTHON");
    ck_assert_msg(src != NULL, "PARLEY_SOURCE_DIR is not set");
    snprintf(g_models, sizeof g_models, "/tmp/pl_nlu_unit_%d", (int)getpid());
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s %s/tests/integration/nlu_tiny.py %s", py && *py ? py : "/usr/bin/python3",
             src, g_models);
    ck_assert_int_eq(system(cmd), 0);
}

static void remove_models(void) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_models);
    ck_assert_int_eq(system(cmd), 0);
}

static Nvidia__Riva__Nlp__AnalyzeIntentResponse *intent_call(struct pl_nlu_service *s, const char *q,
                                                             pl_status *st) {
    Nvidia__Riva__Nlp__AnalyzeIntentRequest rq = NVIDIA__RIVA__NLP__ANALYZE_INTENT_REQUEST__INIT;
    rq.query = (char *)q;
    size_t n = nvidia__riva__nlp__analyze_intent_request__get_packed_size(&rq);
    uint8_t *buf = malloc(n + 1);
    nvidia__riva__nlp__analyze_intent_request__pack(&rq, buf);
    struct pl_worker_out out = {0};
    *st = nlu_call(s, "analyze_intent", buf, n, &out);
    free(buf);
    if (*st != PL_OK) return NULL;
    Nvidia__Riva__Nlp__AnalyzeIntentResponse *r =
        nvidia__riva__nlp__analyze_intent_response__unpack(NULL, out.len, out.data);
    pl_free(out.data);
    ck_assert_ptr_nonnull(r);
    return r;
}

/* AnalyzeIntent of q by model (NULL: none named): the packed answer (caller frees .data). */
static struct pl_worker_out intent_packed(struct pl_nlu_service *s, const char *q, const char *model) {
    Nvidia__Riva__Nlp__AnalyzeIntentRequest rq = NVIDIA__RIVA__NLP__ANALYZE_INTENT_REQUEST__INIT;
    Nvidia__Riva__Nlp__AnalyzeIntentOptions op = NVIDIA__RIVA__NLP__ANALYZE_INTENT_OPTIONS__INIT;
    rq.query = (char *)q;
    if (model) {
        op.domain = (char *)model;
        rq.options = &op;
    }
    uint8_t buf[1024];
    size_t n = nvidia__riva__nlp__analyze_intent_request__pack(&rq, buf);
    struct pl_worker_out out = {0};
    ck_assert_int_eq(nlu_call(s, "analyze_intent", buf, n, &out), PL_OK);
    return out;
}

START_TEST(test_service_with_models) {
    make_models();
    struct pl_nlu_service_opts o = {0};
    o.model_dir = g_models;
    o.max_windows = 8;
    struct pl_nlu_service *s = NULL;
    ck_assert_int_eq(pl_nlu_service_create(&o, &s), PL_OK);
    /* intent, ner, punct, textcls; "broken" (a missing tensor) and "notnlu" skipped */
    ck_assert_int_eq(pl_nlu_service_n_models(s), 4);
    const struct pl_nlu_model *m = pl_nlu_service_model(s, 0);
    ck_assert_str_eq(m->name, "intent");
    ck_assert_int_eq(m->task, PL_NLU_TASK_INTENT_SLOT);
    ck_assert_int_eq(m->max_batch_size, 4);
    ck_assert_str_eq(m->domain, "snips");

    const char *q = "book a table for two at an italian restaurant in boston tomorrow";
    pl_status st;
    Nvidia__Riva__Nlp__AnalyzeIntentResponse *r = intent_call(s, q, &st);
    ck_assert_int_eq(st, PL_OK);
    ck_assert_ptr_nonnull(r->intent);
    ck_assert(!strcmp(r->intent->class_name, "BookRestaurant") ||
              !strcmp(r->intent->class_name, "GetWeather") || !strcmp(r->intent->class_name, "PlayMusic"));
    ck_assert(r->intent->score > 0.f && r->intent->score <= 1.f);
    for (size_t i = 0; i < r->n_slots; i++) {
        const Nvidia__Riva__Nlp__TokenClassValue *v = r->slots[i];
        ck_assert_int_eq(v->n_span, 1);
        ck_assert_int_eq((int)strlen(v->token), (int)(v->span[0]->end - v->span[0]->start));
        ck_assert(memcmp(q + v->span[0]->start, v->token, strlen(v->token)) == 0); /* ASCII */
        ck_assert_ptr_null(strstr(v->label[0]->class_name, "B-"));
    }
    nvidia__riva__nlp__analyze_intent_response__free_unpacked(r, NULL);

    /* 4 windows of 16 tokens fit the limit of 8 ... */
    char long_q[2048] = "";
    for (int i = 0; i < 30; i++) strcat(long_q, "boston ");
    r = intent_call(s, long_q, &st);
    ck_assert_int_eq(st, PL_OK);
    nvidia__riva__nlp__analyze_intent_response__free_unpacked(r, NULL);
    /* ... 80 words need 11 */
    for (int i = 0; i < 50; i++) strcat(long_q, "boston ");
    ck_assert_ptr_null(intent_call(s, long_q, &st));
    ck_assert_int_eq(st, PL_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(pl_last_error(), "windows"));
    ck_assert_ptr_null(intent_call(s, "\x01\x02", &st));
    ck_assert_int_eq(st, PL_E_INVALID_ARG);

    /* the model API directly: windows merged back to one row per token */
    struct pl_nlu_model *ner = (struct pl_nlu_model *)pl_nlu_service_model(s, 1);
    const char *texts[2] = {long_q, "john smith"};
    size_t lens[2] = {30 * 7, strlen(texts[1])}; /* the first 30 words */
    struct pl_nlu_limits lim = {100};
    struct pl_nlu_result *res = NULL;
    ck_assert_int_eq(pl_nlu_model_run(ner, texts, lens, 2, &lim, 0, &res), PL_OK);
    ck_assert_int_eq(res[0].n_tokens, 30);
    ck_assert_int_gt(res[0].n_windows, 1);
    ck_assert_int_eq(res[1].n_tokens, 2);
    for (int t = 0; t < res[0].n_tokens; t++) {
        float sum = 0;
        for (int c = 0; c < ner->heads[0].n_labels; c++) sum += res[0].probs[0][t * ner->heads[0].n_labels + c];
        ck_assert(fabsf(sum - 1.f) < 1e-4f);
        ck_assert_int_eq(res[0].offs[t].byte_start, 7 * t);
    }
    pl_nlu_results_destroy(res, 2);

    /* hostile input: random bytes, and random printable/UTF-8 texts, to every rpc; any
     * status is fine, a crash or a sanitizer report is not */
    static const char *rpcs[] = {"analyze_intent", "classify_text", "classify_tokens",
                                 "analyze_entities", "punctuate_text", "transform_text",
                                 "get_riva_nlp_config"};
    static const char *pieces[] = {"boston ", "é", "\xe2\x80\x83", ",", "  ", "\t", "zürich", "'",
                                   "book ", "北", "\x7f", "?", "TODAY "};
    unsigned seed = 12345;
    uint8_t buf[512];
    int ok = 0;
    for (int it = 0; it < 350; it++) {
        size_t n;
        if (it % 2 == 0) {
            n = (size_t)(rand_r(&seed) % (int)sizeof buf);
            for (size_t i = 0; i < n; i++) buf[i] = (uint8_t)rand_r(&seed);
        } else { /* a valid message: field 1 (query / text) with random pieces */
            char text[200] = "";
            int k = rand_r(&seed) % 12;
            for (int j = 0; j < k; j++) strcat(text, pieces[rand_r(&seed) % 13]);
            size_t tl = strlen(text);
            buf[0] = 0x0a;
            buf[1] = (uint8_t)tl;
            memcpy(buf + 2, text, tl);
            n = tl + 2;
        }
        struct pl_worker_out out = {0};
        pl_status rs = nlu_call(s, rpcs[it % 7], buf, n, &out);
        ck_assert_msg(rs == PL_OK || rs == PL_E_INVALID_ARG || rs == PL_E_NOT_FOUND,
                      "iteration %d (%s): %s", it, rpcs[it % 7], pl_last_error());
        ck_assert(rs == PL_OK || out.data == NULL);
        ok += rs == PL_OK;
        pl_free(out.data);
    }
    ck_assert_int_gt(ok, 30);
    pl_nlu_service_destroy(s);
    remove_models();
}
END_TEST

/* Broken model directories fail with errors that name the file and the problem. */
START_TEST(test_model_files_broken) {
    make_models();
    char dir[600], cmd[1400];
    struct pl_nlu_model *m = NULL;
    snprintf(dir, sizeof dir, "%s/broken", g_models);
    ck_assert_int_eq(pl_nlu_model_load(dir, "broken", NULL, &m), PL_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(pl_last_error(), "slot_classifier.weight"));
    snprintf(dir, sizeof dir, "%s/notnlu", g_models);
    ck_assert(!pl_nlu_model_probe(dir, NULL));
    ck_assert_int_ne(pl_nlu_model_load(dir, "notnlu", NULL, &m), PL_OK);
    /* truncated weights */
    snprintf(dir, sizeof dir, "%s/intent", g_models);
    snprintf(cmd, sizeof cmd, "truncate -s 1000 %s/model.safetensors", dir);
    ck_assert_int_eq(system(cmd), 0);
    ck_assert_int_eq(pl_nlu_model_load(dir, "intent", NULL, &m), PL_E_FORMAT);
    ck_assert_ptr_null(m);
    /* missing vocabulary */
    snprintf(dir, sizeof dir, "%s/ner", g_models);
    snprintf(cmd, sizeof cmd, "rm %s/vocab.txt", dir);
    ck_assert_int_eq(system(cmd), 0);
    ck_assert_int_eq(pl_nlu_model_load(dir, "ner", NULL, &m), PL_E_IO);
    /* a head whose labels do not match its tensor */
    snprintf(dir, sizeof dir, "%s/textcls", g_models);
    snprintf(cmd, sizeof cmd, "sed -i 's/\"negative\"/\"negative\", \"neutral\"/' %s/config.json", dir);
    ck_assert_int_eq(system(cmd), 0);
    ck_assert_int_eq(pl_nlu_model_load(dir, "textcls", NULL, &m), PL_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(pl_last_error(), "classifier.weight"));
    /* the punctuation model still loads */
    snprintf(dir, sizeof dir, "%s/punct", g_models);
    ck_assert_int_eq(pl_nlu_model_load(dir, "punct", NULL, &m), PL_OK);
    ck_assert_int_eq(m->task, PL_NLU_TASK_PUNCT);
    ck_assert_int_ge(m->head_second, 0);
    pl_nlu_model_destroy(m);
    remove_models();
}
END_TEST

/* Rewrite dir/config.json's "variants" (a JSON text; "" removes it). */
static void set_variants(const char *dir, const char *json) {
    const char *py = getenv("PL_PYTHON");
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "%s -c 'import json,sys; p=sys.argv[1]+\"/config.json\"; c=json.load(open(p)); "
             "c.pop(\"variants\", None); v=sys.argv[2]; c.update({\"variants\": json.loads(v)} "
             "if v else {}); json.dump(c, open(p, \"w\"))' %s '%s'",
             py && *py ? py : "/usr/bin/python3", dir, json);
    ck_assert_int_eq(system(cmd), 0);
}

/* Variants: listing and validation, a variant's own precision/batching, the base's domain, and
 * the service serving "<dir>-<variant>" next to the model. */
START_TEST(test_model_variants) {
    make_models();
    char dir[600];
    char **v = NULL;
    int nv = -1;
    snprintf(dir, sizeof dir, "%s/intent", g_models);
    ck_assert_int_eq(pl_nlu_model_variants(dir, &v, &nv), PL_OK);
    ck_assert_int_eq(nv, 0);
    ck_assert_ptr_null(v);
    /* malformed declarations name the problem */
    set_variants(dir, "{\"bad name\": {}}");
    ck_assert_int_eq(pl_nlu_model_variants(dir, &v, &nv), PL_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(pl_last_error(), "variant name"));
    set_variants(dir, "{\"x\": 3}");
    ck_assert_int_eq(pl_nlu_model_variants(dir, &v, &nv), PL_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(pl_last_error(), "not an object"));
    set_variants(dir, "{\"x\": {\"threads\": 2}}");
    ck_assert_int_eq(pl_nlu_model_variants(dir, &v, &nv), PL_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(pl_last_error(), "variants.x.threads"));
    ck_assert_ptr_null(v);
    set_variants(dir, "[1]");
    ck_assert_int_eq(pl_nlu_model_variants(dir, &v, &nv), PL_E_FORMAT);
    /* two good ones, listed sorted */
    set_variants(dir, "{\"int8\": {\"precision\": \"int8\"}, \"b1\": {\"batching\": "
                      "{\"max_batch_size\": 1, \"max_queue_delay_us\": 0, "
                      "\"by_length\": false}}}");
    ck_assert_int_eq(pl_nlu_model_variants(dir, &v, &nv), PL_OK);
    ck_assert_int_eq(nv, 2);
    ck_assert_str_eq(v[0], "b1");
    ck_assert_str_eq(v[1], "int8");
    pl_nlu_variants_free(v, nv);

    struct pl_nlu_model *m = NULL, *q = NULL;
    struct pl_nlu_model_opts o = PL_NLU_MODEL_OPTS_INIT;
    o.variant = "nope";
    ck_assert_int_eq(pl_nlu_model_load(dir, "intent-nope", &o, &m), PL_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(pl_last_error(), "'nope'"));
    ck_assert_ptr_null(m);
    ck_assert_int_eq(pl_nlu_model_load(dir, "intent", NULL, &m), PL_OK);
    o.variant = "int8";
    o.precision = "f32"; /* the variant's own precision wins over the service's */
    ck_assert_int_eq(pl_nlu_model_load(dir, "intent-int8", &o, &q), PL_OK);
    ck_assert_str_eq(q->variant, "int8");
    ck_assert_str_eq(q->domain, "snips");
    ck_assert_int_eq(q->max_batch_size, 4);
    ck_assert_ptr_null(m->variant);
    const char *text = "book a table for two at an italian restaurant in boston tomorrow";
    size_t len = strlen(text);
    struct pl_nlu_result *ra = NULL, *rb = NULL;
    ck_assert_int_eq(pl_nlu_model_run(m, &text, &len, 1, NULL, 0, &ra), PL_OK);
    ck_assert_int_eq(pl_nlu_model_run(q, &text, &len, 1, NULL, 0, &rb), PL_OK);
    ck_assert_int_eq(ra->n_tokens, rb->n_tokens);
    float worst = 0.f, diff = 0.f;
    for (int k = 0; k < m->n_heads; k++) {
        int n = m->heads[k].n_labels * (m->heads[k].tokens ? ra->n_tokens : 1);
        for (int i = 0; i < n; i++) {
            float d = fabsf(ra->probs[k][i] - rb->probs[k][i]);
            worst = d > worst ? d : worst;
            diff += d;
        }
    }
    ck_assert_msg(worst < 0.05f, "int8 vs f32 probabilities differ by %g", worst);
    ck_assert_msg(diff > 0.f, "the int8 variant gives the f32 scores bit for bit: not quantized?");
    pl_nlu_results_destroy(ra, 1);
    pl_nlu_results_destroy(rb, 1);
    pl_nlu_model_destroy(q);
    q = NULL;
    o.variant = "b1";
    o.precision = NULL;
    ck_assert_int_eq(pl_nlu_model_load(dir, "intent-b1", &o, &q), PL_OK);
    ck_assert_int_eq(q->max_batch_size, 1);
    ck_assert_int_eq((int)q->max_queue_delay_us, 0);
    ck_assert(!q->batch_by_length); /* batches in arrival order */
    ck_assert(m->batch_by_length);  /* the default: batches gather close lengths */
    pl_nlu_model_destroy(q);
    q = NULL;
    set_variants(dir, "{\"bl\": {\"batching\": {\"by_length\": 1}}}"); /* not a boolean */
    o.variant = "bl";
    ck_assert_int_eq(pl_nlu_model_load(dir, "intent-bl", &o, &q), PL_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(pl_last_error(), "batching.by_length"));
    ck_assert_ptr_null(q);
    set_variants(dir, "{\"int8\": {\"precision\": \"int8\"}, \"b1\": {\"batching\": "
                      "{\"max_batch_size\": 1, \"max_queue_delay_us\": 0, "
                      "\"by_length\": false}}}");

    /* two forward instances, batches of 2: six texts spread over both give the same scores */
    struct pl_nlu_model_opts o2 = PL_NLU_MODEL_OPTS_INIT;
    o2.instances = 2;
    o2.max_batch_size = 2;
    o2.max_queue_delay_us = 0;
    ck_assert_int_eq(pl_nlu_model_load(dir, "intent", &o2, &q), PL_OK);
    ck_assert_int_eq(q->n_instances, 2);
    const char *six[6] = {text, "what is the weather in boston", "play some music", text,
                          "book a table", "tomorrow in boston"};
    size_t lens6[6];
    for (int i = 0; i < 6; i++) lens6[i] = strlen(six[i]);
    ck_assert_int_eq(pl_nlu_model_run(m, six, lens6, 6, NULL, 0, &ra), PL_OK);
    ck_assert_int_eq(pl_nlu_model_run(q, six, lens6, 6, NULL, 0, &rb), PL_OK);
    for (int i = 0; i < 6; i++)
        for (int k = 0; k < m->n_heads; k++) {
            int n = m->heads[k].n_labels * (m->heads[k].tokens ? ra[i].n_tokens : 1);
            for (int x = 0; x < n; x++)
                ck_assert_msg(fabsf(ra[i].probs[k][x] - rb[i].probs[k][x]) < 1e-5f,
                              "text %d head %d: %g vs %g", i, k, ra[i].probs[k][x], rb[i].probs[k][x]);
        }
    pl_nlu_results_destroy(ra, 6);
    pl_nlu_results_destroy(rb, 6);
    pl_nlu_model_destroy(q);
    o2.instances = 65;
    ck_assert_int_eq(pl_nlu_model_load(dir, "intent", &o2, &q), PL_E_INVALID_ARG);
    pl_nlu_model_destroy(m);

    /* the service: each variant right after its model; a broken list skips only the variants */
    snprintf(dir, sizeof dir, "%s/ner", g_models);
    set_variants(dir, "{\"x\": {\"threads\": 2}}");
    struct pl_nlu_service_opts so = {0};
    so.model_dir = g_models;
    struct pl_nlu_service *s = NULL;
    ck_assert_int_eq(pl_nlu_service_create(&so, &s), PL_OK);
    ck_assert_int_eq(pl_nlu_service_n_models(s), 6);
    const char *want[] = {"intent", "intent-b1", "intent-int8", "ner", "punct", "textcls"};
    for (int i = 0; i < 6; i++) ck_assert_str_eq(pl_nlu_service_model(s, i)->name, want[i]);
    pl_nlu_service_destroy(s);

    /* nlu.default_models: a request naming no model gets the first loaded model of the list
     * (a name not loaded is passed over), not the first by directory name; the int8 variant's
     * scores differ from the f32 model's, so the answer shows which model gave it */
    so.default_models = " absent, ner, intent-int8 ";
    ck_assert_int_eq(pl_nlu_service_create(&so, &s), PL_OK);
    struct pl_worker_out none = intent_packed(s, text, NULL), i8 = intent_packed(s, text, "intent-int8"),
                         f32 = intent_packed(s, text, "intent");
    ck_assert(none.len == i8.len && !memcmp(none.data, i8.data, none.len));
    ck_assert(none.len != f32.len || memcmp(none.data, f32.data, none.len));
    pl_free(none.data);
    pl_free(i8.data);
    pl_free(f32.data);
    pl_nlu_service_destroy(s);
    remove_models();
}
END_TEST

/* nlu.model_aliases: malformed tables are refused naming the entry; an alias of a model that
 * is not loaded is NOT_FOUND naming the alias and its model. */
START_TEST(test_model_aliases) {
    static const struct {
        const char *spec, *err;
    } bad[] = {{"a=b,broken", "'broken'"}, {"=b", "'=b'"}, {"a= ", "'a= '"}, {"a=b, a=c", "'a' given twice"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct pl_nlu_service_opts o = {0};
        o.model_dir = "/nonexistent-parley-models";
        o.model_aliases = bad[i].spec;
        struct pl_nlu_service *s = NULL;
        ck_assert_int_eq(pl_nlu_service_create(&o, &s), PL_E_INVALID_ARG);
        ck_assert_ptr_null(s);
        ck_assert_msg(strstr(pl_last_error(), bad[i].err), "%s: %s", bad[i].spec, pl_last_error());
    }
    struct pl_nlu_service_opts o = {0};
    o.model_dir = "/nonexistent-parley-models";
    o.model_aliases = " pm = punct-model ,, other=x";
    struct pl_nlu_service *s = NULL;
    ck_assert_int_eq(pl_nlu_service_create(&o, &s), PL_OK);
    char *one[] = {"how are you"};
    ck_assert_int_eq(call_punct(s, "punctuate_text", one, 1, "pm"), PL_E_NOT_FOUND);
    ck_assert_ptr_nonnull(strstr(pl_last_error(), "'pm' (an alias of 'punct-model'"));
    pl_nlu_service_destroy(s);
}
END_TEST

Suite *pl_nlu_suite(void) {
    Suite *s = suite_create("nlu");
    TCase *tc = tcase_create("post");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_words);
    tcase_add_test(tc, test_merge_windows);
    tcase_add_test(tc, test_softmax);
    tcase_add_test(tc, test_bio);
    tcase_add_test(tc, test_bio_viterbi);
    tcase_add_test(tc, test_word_starts_upper);
    tcase_add_test(tc, test_word_case_class);
    tcase_add_test(tc, test_label_maps);
    tcase_add_test(tc, test_punct_rebuild);
    tcase_add_test(tc, test_punct_model_text);
    tcase_add_test(tc, test_model_load_errors);
    tcase_add_test(tc, test_service_without_models);
    tcase_add_test(tc, test_model_aliases);
    suite_add_tcase(s, tc);
    TCase *tm = tcase_create("models");
    tcase_set_timeout(tm, 120);
    tcase_add_test(tm, test_service_with_models);
    tcase_add_test(tm, test_model_files_broken);
    tcase_add_test(tm, test_model_variants);
    suite_add_tcase(s, tm);
    return s;
}
