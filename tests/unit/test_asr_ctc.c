/* test_asr_ctc.c - CTC decoding: ARPA loading and backoff scores computed by
 * hand, gzip, hostile ARPA files, greedy decoding with times and confidences
 * (characters and SentencePiece), beam search where the LM and boosting
 * change the answer, n-best, partial results, long inputs (GC), errors, OOM. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "alloc.h"
#include "asr_ctc.h"
#include "asr_lm.h"

#define LN10 2.302585092994045684

static const char toy_arpa[] = "\\data\\\n"
                               "ngram 1=9\n"
                               "ngram 2=8\n"
                               "ngram 3=4\n"
                               "\n"
                               "\\1-grams:\n"
                               "-99\t<s>\t-0.30\n"
                               "-0.60\t</s>\n"
                               "-1.20\t<unk>\n"
                               "-0.90\ta\t-0.25\n"
                               "-0.80\tab\t-0.20\n"
                               "-1.10\tba\t-0.15\n"
                               "-1.30\tcab\t-0.10\n"
                               "-1.00\tabc\t-0.30\n"
                               "-1.40 c -0.05\n" /* spaces instead of tabs */
                               "\n"
                               "\\2-grams:\n"
                               "-0.40\t<s> a\t-0.10\n"
                               "-0.50\t<s> ab\t-0.20\n"
                               "-0.30\ta ba\t-0.15\n"
                               "-0.70\tab c\t-0.12\n"
                               "-0.20\tba </s>\n"
                               "-0.45\tc cab\t-0.05\n"
                               "-0.35\tabc a\t-0.10\n"
                               "-0.25\tcab </s>\n"
                               "\n"
                               "\\3-grams:\n"
                               "-0.10\t<s> a ba\n"
                               "-0.15\ta ba </s>\n"
                               "-0.20\t<s> ab c\n"
                               "-0.05\tab c cab\n"
                               "\n"
                               "\\end\\\n";

static struct pl_asr_lm *toy_lm(void) {
    struct pl_asr_lm *lm = NULL;
    pl_status st = pl_asr_lm_load_buffer(toy_arpa, strlen(toy_arpa), &lm);
    ck_assert_msg(st == PL_OK, "%s", pl_last_error());
    return lm;
}

static int32_t wid(const struct pl_asr_lm *lm, const char *w) {
    return pl_asr_lm_word_id(lm, w, strlen(w));
}

static void check_toy_scores(const struct pl_asr_lm *lm) {
    ck_assert_int_eq(pl_asr_lm_order(lm), 3);
    ck_assert_uint_eq(pl_asr_lm_count(lm, 1), 9);
    ck_assert_uint_eq(pl_asr_lm_count(lm, 3), 4);
    ck_assert(pl_asr_lm_has_unk(lm));
    struct pl_asr_lm_state s, s2;
    pl_asr_lm_begin(lm, &s);
    double a = pl_asr_lm_score(lm, &s, wid(lm, "a"), -10, &s);
    ck_assert(fabs(a - (-0.40 * LN10)) < 1e-9); /* bigram <s> a */
    double ba = pl_asr_lm_score(lm, &s, wid(lm, "ba"), -10, &s);
    ck_assert(fabs(ba - (-0.10 * LN10)) < 1e-9); /* trigram <s> a ba */
    double c = pl_asr_lm_score(lm, &s, wid(lm, "c"), -10, &s2);
    /* no "a ba c", bow(a ba) -0.15; no "ba c", bow(ba) -0.15; p(c) -1.40 */
    ck_assert_msg(fabs(c - (-1.70 * LN10)) < 1e-9, "%g", c / LN10);
    double e = pl_asr_lm_end(lm, &s); /* trigram a ba </s> */
    ck_assert(fabs(e - (-0.15 * LN10)) < 1e-9);
    /* an unknown word scores oov_logp; the history holds <unk> */
    pl_asr_lm_begin(lm, &s);
    double u = pl_asr_lm_score(lm, &s, -1, -7.5, &s2);
    ck_assert(u == -7.5);
    ck_assert_int_eq(s2.n, 2);
    ck_assert_int_eq(s2.w[1], wid(lm, "<unk>"));
    ck_assert(pl_asr_lm_score(lm, &s, wid(lm, "<unk>"), -7.5, &s2) == -7.5);
    ck_assert_int_eq(wid(lm, "zzz"), -1);
    ck_assert_int_eq(pl_asr_lm_word_id(lm, "abc", 2), wid(lm, "ab"));
    ck_assert(pl_asr_lm_is_prefix(lm, "ca", 2));
    ck_assert(pl_asr_lm_is_prefix(lm, "cab", 3));
    ck_assert(!pl_asr_lm_is_prefix(lm, "cb", 2));
    ck_assert(!pl_asr_lm_is_prefix(lm, "<u", 2)); /* markers are not words */
    ck_assert(pl_asr_lm_is_prefix(lm, "", 0));
}

START_TEST(arpa_scores_by_hand) {
    struct pl_asr_lm *lm = toy_lm();
    check_toy_scores(lm);
    pl_asr_lm_destroy(lm);
}
END_TEST

START_TEST(arpa_order_five_backoff_chain) {
    static const char five[] = "\\data\\\nngram 1=7\nngram 2=4\nngram 3=3\nngram 4=2\nngram 5=1\n\n"
                               "\\1-grams:\n-1.0 <s> -0.5\n-1.1 </s>\n-1.2 a -0.1\n-1.3 b -0.2\n"
                               "-1.4 c -0.3\n-1.5 d -0.4\n-1.6 x\n\n"
                               "\\2-grams:\n-0.5 a b -0.01\n-0.6 b c -0.02\n-0.7 c d -0.03\n"
                               "-0.8 d x\n\n"
                               "\\3-grams:\n-0.4 a b c -0.04\n-0.45 b c d -0.05\n-0.3 c d x\n\n"
                               "\\4-grams:\n-0.2 a b c d -0.06\n-0.25 b c d x\n\n"
                               "\\5-grams:\n-0.1 <s> a b c d\n\n\\end\\\n";
    struct pl_asr_lm *lm = NULL;
    ck_assert_msg(pl_asr_lm_load_buffer(five, strlen(five), &lm) == PL_OK, "%s", pl_last_error());
    ck_assert_int_eq(pl_asr_lm_order(lm), 5);
    struct pl_asr_lm_state s;
    pl_asr_lm_begin(lm, &s);
    const char *seq[] = {"a", "b", "c", "d"};
    double got[4],
        want[4] = {-0.5 + -1.2, -0.5, -0.4, -0.1}; /* bow(<s>) + p(a); a b; a b c; 5-gram */
    for (int i = 0; i < 4; i++)
        got[i] = pl_asr_lm_score(lm, &s, wid(lm, seq[i]), -10, &s);
    for (int i = 0; i < 4; i++)
        ck_assert_msg(fabs(got[i] - want[i] * LN10) < 1e-9, "%d: %g", i, got[i] / LN10);
    ck_assert_int_eq(s.n, 4); /* history: a b c d */
    /* x after "a b c d": no 5-gram, bow(a b c d) -0.06 + 4-gram b c d x -0.25 */
    struct pl_asr_lm_state t;
    double x = pl_asr_lm_score(lm, &s, wid(lm, "x"), -10, &t);
    ck_assert_msg(fabs(x - (-0.31) * LN10) < 1e-9, "%g", x / LN10);
    /* </s> after "a b c d": bows -0.06 (abcd) -0.05 (bcd) -0.03 (cd) -0.4 (d) + p(</s>) -1.1 */
    double e = pl_asr_lm_end(lm, &s);
    ck_assert_msg(fabs(e - (-1.64) * LN10) < 1e-9, "%g", e / LN10);
    pl_asr_lm_destroy(lm);
}
END_TEST

/* The loader's fast path for plain decimals ("-1.234567") gives the very doubles strtod gives
 * for the same numbers written in other forms (exponents), which take the strtod path. */
START_TEST(arpa_number_forms_agree) {
    static const char plain[] = "\\data\\\nngram 1=4\nngram 2=1\n\n\\1-grams:\n"
                                "-99\t<s>\t-0.123457\n-0.301030\t</s>\n-1.234567\ta\t.5\n"
                                "-.7\tb\n\n\\2-grams:\n-0.000001\ta b\n\n\\end\\\n";
    static const char expo[] = "\\data\\\nngram 1=4\nngram 2=1\n\n\\1-grams:\n"
                               "-99\t<s>\t-1.23457e-1\n-3.01030E-1\t</s>\n-1234567e-6\ta\t5e-1\n"
                               "-7e-1\tb\n\n\\2-grams:\n-1e-6\ta b\n\n\\end\\\n";
    struct pl_asr_lm *a = NULL, *b = NULL;
    ck_assert_msg(pl_asr_lm_load_buffer(plain, strlen(plain), &a) == PL_OK, "%s", pl_last_error());
    ck_assert_msg(pl_asr_lm_load_buffer(expo, strlen(expo), &b) == PL_OK, "%s", pl_last_error());
    const char *seq[] = {"a", "b", "b", "a"};
    struct pl_asr_lm_state sa, sb;
    pl_asr_lm_begin(a, &sa);
    pl_asr_lm_begin(b, &sb);
    for (int i = 0; i < 4; i++) {
        double x = pl_asr_lm_score(a, &sa, wid(a, seq[i]), -10, &sa);
        double y = pl_asr_lm_score(b, &sb, wid(b, seq[i]), -10, &sb);
        ck_assert_msg(x == y, "%d: %.17g vs %.17g", i, x, y);
    }
    ck_assert(pl_asr_lm_end(a, &sa) == pl_asr_lm_end(b, &sb));
    /* by hand: bow(a) .5 + p(b) -.7 after "a" is the 2-gram; p(b | b) = -.7 */
    pl_asr_lm_begin(a, &sa);
    double x = pl_asr_lm_score(a, &sa, wid(a, "a"), -10, &sa);
    ck_assert_msg(fabs(x - (-0.123457 - 1.234567) * LN10) < 1e-12, "%.17g", x / LN10);
    x = pl_asr_lm_score(a, &sa, wid(a, "b"), -10, &sa);
    ck_assert_msg(fabs(x - (-0.000001) * LN10) < 1e-15, "%.17g", x / LN10);
    pl_asr_lm_destroy(a);
    pl_asr_lm_destroy(b);
}
END_TEST

START_TEST(arpa_plain_and_gzip_files) {
    char plain[] = "/tmp/pl_asr_arpa_XXXXXX";
    int fd = mkstemp(plain);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, toy_arpa, strlen(toy_arpa)), (ssize_t)strlen(toy_arpa));
    close(fd);
    char gzp[64];
    snprintf(gzp, sizeof gzp, "%s.gz", plain);
    gzFile g = gzopen(gzp, "wb");
    ck_assert_ptr_nonnull(g);
    ck_assert_int_eq(gzwrite(g, toy_arpa, (unsigned)strlen(toy_arpa)), (int)strlen(toy_arpa));
    gzclose(g);
    struct pl_asr_lm *lm = NULL;
    ck_assert_int_eq(pl_asr_lm_load(plain, &lm), PL_OK);
    check_toy_scores(lm);
    pl_asr_lm_destroy(lm);
    ck_assert_int_eq(pl_asr_lm_load(gzp, &lm), PL_OK);
    check_toy_scores(lm);
    pl_asr_lm_destroy(lm);
    /* a corrupt gzip stream is a format error */
    FILE *f = fopen(gzp, "r+b");
    fseek(f, 20, SEEK_SET);
    fputs("garbagegarbage", f);
    fclose(f);
    lm = NULL;
    pl_status st = pl_asr_lm_load(gzp, &lm);
    ck_assert_msg(st == PL_E_FORMAT || st == PL_E_IO, "%d", st);
    ck_assert_ptr_null(lm);
    ck_assert_int_eq(pl_asr_lm_load("/nonexistent/x.arpa", &lm), PL_E_IO);
    unlink(plain);
    unlink(gzp);
}
END_TEST

static pl_status load_str(const char *s) {
    struct pl_asr_lm *lm = NULL;
    pl_status st = pl_asr_lm_load_buffer(s, strlen(s), &lm);
    if (st != PL_OK)
        ck_assert_ptr_null(lm);
    pl_asr_lm_destroy(lm);
    return st;
}

START_TEST(arpa_hostile) {
    static const char *fmt_bad[] = {
        "",
        "no data here\n",
        "\\data\\\nngram 1=2\n\n\\1-grams:\n-1\t</s>\n\\end\\\n",           /* count */
        "\\data\\\nngram 1=1\n\n\\1-grams:\n-1\t</s>\n",                    /* no end */
        "\\data\\\nngram 1=1\n\n\\1-grams:\nabc\t</s>\n\\end\\\n",          /* number */
        "\\data\\\nngram 1=1\n\n\\1-grams:\n0.5\t</s>\n\\end\\\n",          /* p > 1 */
        "\\data\\\nngram 1=1\n\n\\1-grams:\n-1.5.2\t</s>\n\\end\\\n",
        "\\data\\\nngram 1=1\n\n\\1-grams:\n-\t</s>\n\\end\\\n",
        "\\data\\\nngram 1=1\n\n\\1-grams:\n--1\t</s>\n\\end\\\n",
        "\\data\\\nngram 1=1\n\n\\1-grams:\n-1\t</s>\t.\n\\end\\\n",
        "\\data\\\nngram 1=2\n\n\\1-grams:\n-1\t</s>\n-1\t</s>\n\\end\\\n", /* repeated */
        "\\data\\\nngram 1=1\nngram 2=1\n\n\\1-grams:\n-1\t</s>\n\n\\2-grams:\n-1\t</s> "
        "x\n\\end\\\n",
        "\\data\\\nngram 1=1\n\n\\2-grams:\n-1\t</s>\n\\end\\\n", /* section */
        "\\data\\\nngram 1=1\n\n\\1-grams:\n-1\n\\end\\\n",       /* fields */
        "\\data\\\nngram 1=1\n\n\\1-grams:\n-1\t</s>\t-0.1\textra\n\\end\\\n",
        "\\data\\\nngram 1=1\n\n\\1-grams:\n-1\ta\n\\end\\\n", /* no </s> */
        "\\data\\\nngram 2=1\n",                               /* order gap */
        "\\data\\\nngram 1=x\n",
        "\\data\\\nngram 1=1\n\n\\1-grams:\n-1\t</s>\t-0.1x\n\\end\\\n",
        "\\data\\\nngram 1=1\n\n-1\t</s>\n\\end\\\n", /* no section */
        "\\data\\\nngram 1=999999999999\n",
        "\\data\\\nngram 1=200000000\nngram 2=200000000\n\n\\1-grams:\n-1\t</s>\n\\end\\\n",
    };
    for (size_t i = 0; i < PL_ARRAY_LEN(fmt_bad); i++)
        ck_assert_msg(load_str(fmt_bad[i]) == PL_E_FORMAT, "case %zu: %s", i, pl_last_error());
    /* a header claiming more n-grams than the bytes can hold is refused before allocating */
    ck_assert_int_eq(load_str(fmt_bad[PL_ARRAY_LEN(fmt_bad) - 1]), PL_E_FORMAT);
    ck_assert_msg(strstr(pl_last_error(), "claims") != NULL, "%s", pl_last_error());
    ck_assert_int_eq(load_str("\\data\\\nngram 1=1\nngram 2=1\nngram 3=1\nngram 4=1\nngram "
                              "5=1\nngram 6=1\n"),
                     PL_E_UNSUPPORTED);
    /* every truncation of a valid file fails cleanly or loads */
    size_t n = strlen(toy_arpa);
    for (size_t k = 0; k < n; k++) {
        struct pl_asr_lm *lm = NULL;
        pl_status st = pl_asr_lm_load_buffer(toy_arpa, k, &lm);
        ck_assert_msg(st == PL_E_FORMAT || st == PL_OK, "truncated at %zu: %d", k, st);
        pl_asr_lm_destroy(lm);
    }
    ck_assert_int_eq(pl_asr_lm_load_buffer(NULL, 5, NULL), PL_E_INVALID_ARG);
    /* random byte mutations: a clean error or a model, never a crash (ASan run) */
    char *buf = malloc(n);
    const char alphabet[] = "\\\n\t -0123456789.=abgrmsn<>/";
    srand(99);
    for (int it = 0; it < 3000; it++) {
        memcpy(buf, toy_arpa, n);
        int muts = 1 + rand() % 4;
        for (int m = 0; m < muts; m++)
            buf[rand() % n] =
                (rand() % 4) ? alphabet[rand() % (sizeof alphabet - 1)] : (char)(rand() % 256);
        struct pl_asr_lm *lm = NULL;
        pl_status st = pl_asr_lm_load_buffer(buf, n, &lm);
        ck_assert_msg(st == PL_OK || st == PL_E_FORMAT || st == PL_E_UNSUPPORTED,
                      "mutation %d: %d %s", it, st, pl_last_error());
        if (st == PL_OK) {
            struct pl_asr_lm_state s1;
            pl_asr_lm_begin(lm, &s1);
            for (int32_t w = -1; w < (int32_t)pl_asr_lm_count(lm, 1); w++) {
                double v = pl_asr_lm_score(lm, &s1, w, -10, &s1);
                ck_assert(v == v);
            }
            double e = pl_asr_lm_end(lm, &s1);
            ck_assert(e == e);
        }
        pl_asr_lm_destroy(lm);
    }
    free(buf);
}
END_TEST

/* --- decoding ---------------------------------------------------------------- */

static const char *chars[] = {" ", "a", "b", "c", "<blank>"};
enum { SP = 0, A = 1, B = 2, C = 3, BL = 4 };

static struct pl_asr_vocab *char_vocab(void) {
    struct pl_asr_vocab *v = NULL;
    ck_assert_int_eq(pl_asr_vocab_create(chars, 5, -1, PL_ASR_VOCAB_AUTO, &v), PL_OK);
    ck_assert_int_eq(pl_asr_vocab_kind(v), PL_ASR_VOCAB_CHARS);
    ck_assert_int_eq(pl_asr_vocab_blank(v), 4);
    return v;
}

/* Row t: probability p on token k, the rest spread evenly. */
static void set_row(float *row, int V, int k, double p) {
    for (int i = 0; i < V; i++)
        row[i] = (float)log((1 - p) / (V - 1));
    row[k] = (float)log(p);
}

/* Row with two tokens sharing most of the mass. */
static void set_row2(float *row, int V, int k1, double p1, int k2, double p2) {
    double rest = (1 - p1 - p2) / (V - 2);
    for (int i = 0; i < V; i++)
        row[i] = (float)log(rest);
    row[k1] = (float)log(p1);
    row[k2] = (float)log(p2);
}

START_TEST(greedy_chars_times_confidence) {
    struct pl_asr_vocab *v = char_vocab();
    int seq[] = {A, A, BL, B, SP, C, C, BL, C, BL};
    float lp[10 * 5];
    for (int t = 0; t < 10; t++)
        set_row(lp + t * 5, 5, seq[t], t == 8 ? 0.5 : 0.9);
    struct pl_asr_decode_opts o;
    pl_asr_decode_opts_default(&o);
    o.frame_ms = 40;
    struct pl_asr_nbest *nb = NULL;
    ck_assert_int_eq(pl_asr_ctc_greedy(v, lp, 10, 5, &o, &nb), PL_OK);
    ck_assert_int_eq(nb->n, 1);
    struct pl_asr_hyp *h = &nb->hyps[0];
    ck_assert_str_eq(h->text, "ab cc");
    ck_assert_int_eq(h->n_words, 2);
    ck_assert_str_eq(h->words[0].text, "ab");
    ck_assert_int_eq(h->words[0].start_ms, 0);
    ck_assert_int_eq(h->words[0].end_ms, 160);
    ck_assert_int_eq(h->words[1].start_ms, 200);
    ck_assert_int_eq(h->words[1].end_ms, 360);
    ck_assert(fabsf(h->words[0].confidence - 0.9f) < 1e-5);
    ck_assert(fabsf(h->words[1].confidence - 0.7f) < 1e-5); /* mean of 0.9 and 0.5 */
    pl_asr_nbest_destroy(nb);
    o.confidence_min = 1;
    ck_assert_int_eq(pl_asr_ctc_greedy(v, lp, 10, 5, &o, &nb), PL_OK);
    ck_assert(fabsf(nb->hyps[0].words[1].confidence - 0.5f) < 1e-5);
    pl_asr_nbest_destroy(nb);
    /* no frames: empty transcript */
    ck_assert_int_eq(pl_asr_ctc_greedy(v, NULL, 0, 5, &o, &nb), PL_OK);
    ck_assert_str_eq(nb->hyps[0].text, "");
    ck_assert_int_eq(nb->hyps[0].n_words, 0);
    pl_asr_nbest_destroy(nb);
    /* errors */
    ck_assert_int_eq(pl_asr_ctc_greedy(v, lp, 10, 4, &o, &nb), PL_E_INVALID_ARG);
    ck_assert_ptr_null(nb);
    lp[13] = NAN;
    ck_assert_int_eq(pl_asr_ctc_greedy(v, lp, 10, 5, &o, &nb), PL_E_INVALID_ARG);
    ck_assert(strstr(pl_last_error(), "[2][3]") != NULL);
    pl_asr_vocab_destroy(v);
}
END_TEST

START_TEST(greedy_sentencepiece) {
    const char *toks[] = {"<blank>", "\xe2\x96\x81he", "llo", "\xe2\x96\x81wor",
                          "ld",      "\xe2\x96\x81",   "s"};
    struct pl_asr_vocab *v = NULL;
    ck_assert_int_eq(pl_asr_vocab_create(toks, 7, 0, PL_ASR_VOCAB_AUTO, &v), PL_OK);
    ck_assert_int_eq(pl_asr_vocab_kind(v), PL_ASR_VOCAB_SPM);
    /* "▁he llo ▁wor ld ▁ s" -> "hello world s" */
    int seq[] = {1, 0, 2, 2, 3, 0, 4, 5, 6, 0};
    float lp[10 * 7];
    for (int t = 0; t < 10; t++)
        set_row(lp + t * 7, 7, seq[t], 0.8);
    struct pl_asr_nbest *nb = NULL;
    ck_assert_int_eq(pl_asr_ctc_greedy(v, lp, 10, 7, NULL, &nb), PL_OK);
    ck_assert_str_eq(nb->hyps[0].text, "hello world s");
    ck_assert_int_eq(nb->hyps[0].n_words, 3);
    ck_assert_int_eq(nb->hyps[0].words[1].start_ms, 4 * 40);
    ck_assert_int_eq(nb->hyps[0].words[1].end_ms, 7 * 40);
    pl_asr_nbest_destroy(nb);
    /* the beam search without LM agrees on this clear input */
    struct pl_asr_beam *b = NULL;
    ck_assert_int_eq(pl_asr_beam_create(v, NULL, NULL, NULL, 0, &b), PL_OK);
    ck_assert_int_eq(pl_asr_beam_feed(b, lp, 10, 7), PL_OK);
    ck_assert_int_eq(pl_asr_beam_finish(b, &nb), PL_OK);
    ck_assert_str_eq(nb->hyps[0].text, "hello world s");
    ck_assert_int_eq(nb->hyps[0].words[0].start_ms, 0);
    pl_asr_nbest_destroy(nb);
    pl_asr_beam_destroy(b);
    pl_asr_vocab_destroy(v);
}
END_TEST

/* "a" then a frame where "c" (0.5) beats "b" (0.4): acoustically "ac". */
static void ambiguous(float *lp) {
    set_row(lp + 0 * 5, 5, A, 0.95);
    set_row(lp + 1 * 5, 5, BL, 0.95);
    set_row2(lp + 2 * 5, 5, C, 0.5, B, 0.4);
    set_row(lp + 3 * 5, 5, BL, 0.95);
}

static double g_unk_prefix = 0;

static char *decode(const struct pl_asr_vocab *v, const struct pl_asr_lm *lm, double alpha,
                    const struct pl_asr_boost *bo, int nbo, int nalt, struct pl_asr_nbest **keep) {
    float lp[4 * 5];
    ambiguous(lp);
    struct pl_asr_decode_opts o;
    pl_asr_decode_opts_default(&o);
    o.unk_prefix_penalty = g_unk_prefix;
    o.lm_alpha = alpha;
    o.lm_beta = 0;
    o.max_alternatives = nalt;
    struct pl_asr_beam *b = NULL;
    ck_assert_int_eq(pl_asr_beam_create(v, lm, &o, bo, nbo, &b), PL_OK);
    ck_assert_int_eq(pl_asr_beam_feed(b, lp, 4, 5), PL_OK);
    struct pl_asr_nbest *nb = NULL;
    ck_assert_int_eq(pl_asr_beam_finish(b, &nb), PL_OK);
    ck_assert_int_eq(pl_asr_beam_feed(b, lp, 1, 5), PL_E_INVALID_ARG);
    pl_asr_beam_destroy(b);
    char *t = strdup(nb->hyps[0].text);
    if (keep)
        *keep = nb;
    else
        pl_asr_nbest_destroy(nb);
    return t;
}

START_TEST(beam_lm_and_boost_change_the_answer) {
    struct pl_asr_vocab *v = char_vocab();
    struct pl_asr_lm *lm = toy_lm();
    char *t = decode(v, NULL, 0, NULL, 0, 1, NULL);
    ck_assert_str_eq(t, "ac"); /* acoustics alone */
    free(t);
    t = decode(v, lm, 1.0, NULL, 0, 1, NULL);
    ck_assert_str_eq(t, "ab"); /* "ab" is in the LM, "ac" is <unk> */
    free(t);
    struct pl_asr_boost bo[] = {{"ac", 20.0f}};
    t = decode(v, lm, 1.0, bo, 1, 1, NULL);
    ck_assert_str_eq(t, "ac"); /* boosted back */
    free(t);
    /* a phrase boosts only words that extend a match of its start */
    struct pl_asr_boost bo2[] = {{"zz ac", 20.0f}};
    t = decode(v, lm, 1.0, bo2, 1, 1, NULL);
    ck_assert_str_eq(t, "ab");
    free(t);
    /* n-best: distinct texts, best first, scores not increasing */
    struct pl_asr_nbest *nb = NULL;
    t = decode(v, lm, 1.0, NULL, 0, 4, &nb);
    ck_assert_int_ge(nb->n, 3);
    ck_assert_int_le(nb->n, 4);
    ck_assert_str_eq(nb->hyps[0].text, "ab");
    for (int i = 1; i < nb->n; i++) {
        ck_assert(nb->hyps[i].score <= nb->hyps[i - 1].score);
        for (int j = 0; j < i; j++)
            ck_assert_str_ne(nb->hyps[i].text, nb->hyps[j].text);
    }
    /* score = acoustic + alpha * lm (beta 0, no boost) */
    ck_assert(fabs(nb->hyps[0].score - (nb->hyps[0].acoustic + nb->hyps[0].lm)) < 1e-9);
    /* lm of "ab": P(ab|<s>) + P(</s>|<s> ab) = -0.5 + (bow(<s> ab) -0.2 + p(</s>|ab)=
     * bow(ab) -0.2 + p(</s>) -0.6) */
    ck_assert_msg(fabs(nb->hyps[0].lm - (-0.5 - 0.2 - 0.2 - 0.6) * LN10) < 1e-9, "%g",
                  nb->hyps[0].lm / LN10);
    pl_asr_nbest_destroy(nb);
    free(t);
    /* without the LM the alternatives follow the acoustics: "ac" (0.5), "ab" (0.4) */
    t = decode(v, NULL, 0.0, NULL, 0, 3, &nb);
    ck_assert_int_ge(nb->n, 2);
    ck_assert_str_eq(nb->hyps[0].text, "ac");
    ck_assert_str_eq(nb->hyps[1].text, "ab");
    ck_assert(fabs((nb->hyps[0].score - nb->hyps[1].score) - log(0.5 / 0.4)) < 1e-3);
    pl_asr_nbest_destroy(nb);
    free(t);
    /* the unknown-prefix penalty alone (alpha 0): "ac" begins no LM word */
    g_unk_prefix = -5;
    t = decode(v, lm, 0.0, NULL, 0, 1, NULL);
    ck_assert_str_eq(t, "ab");
    free(t);
    /* ... but a boosted word is exempt: a boost of 1 is enough then */
    struct pl_asr_boost bo3[] = {{"ac", 1.0f}};
    t = decode(v, lm, 0.0, bo3, 1, 1, NULL);
    ck_assert_str_eq(t, "ac");
    free(t);
    g_unk_prefix = 0;
    pl_asr_lm_destroy(lm);
    pl_asr_vocab_destroy(v);
}
END_TEST

START_TEST(beam_partial_results) {
    struct pl_asr_vocab *v = char_vocab();
    struct pl_asr_lm *lm = toy_lm();
    /* "ab c cab" spoken clearly; partial after each frame */
    int seq[] = {A, BL, B, SP, C, BL, SP, C, A, B, BL};
    float lp[11 * 5];
    for (int t = 0; t < 11; t++)
        set_row(lp + t * 5, 5, seq[t], 0.97);
    struct pl_asr_beam *b = NULL;
    ck_assert_int_eq(pl_asr_beam_create(v, lm, NULL, NULL, 0, &b), PL_OK);
    struct pl_asr_nbest *p = NULL;
    ck_assert_int_eq(pl_asr_beam_partial(b, &p), PL_OK); /* before any frame */
    ck_assert_str_eq(p->hyps[0].text, "");
    pl_asr_nbest_destroy(p);
    const char *expect[] = {"a",    "a",      "ab",      "ab",       "ab c",    "ab c",
                            "ab c", "ab c c", "ab c ca", "ab c cab", "ab c cab"};
    for (int t = 0; t < 11; t++) {
        ck_assert_int_eq(pl_asr_beam_feed(b, lp + t * 5, 1, 5), PL_OK);
        ck_assert_int_eq(pl_asr_beam_partial(b, &p), PL_OK);
        ck_assert_msg(strcmp(p->hyps[0].text, expect[t]) == 0, "t=%d: \"%s\"", t, p->hyps[0].text);
        ck_assert_int_le(p->hyps[0].n_stable_words, p->hyps[0].n_words);
        if (t == 10)
            ck_assert_int_ge(p->hyps[0].n_stable_words, 1);
        pl_asr_nbest_destroy(p);
    }
    struct pl_asr_nbest *nb = NULL;
    ck_assert_int_eq(pl_asr_beam_finish(b, &nb), PL_OK);
    ck_assert_str_eq(nb->hyps[0].text, "ab c cab");
    ck_assert_int_eq(nb->hyps[0].words[2].start_ms, 7 * 40);
    ck_assert_int_eq(pl_asr_beam_finish(b, &p), PL_E_INVALID_ARG);
    pl_asr_nbest_destroy(nb);
    /* reset: decode again, same result */
    pl_asr_beam_reset(b);
    ck_assert_int_eq(pl_asr_beam_feed(b, lp, 11, 5), PL_OK);
    ck_assert_int_eq(pl_asr_beam_finish(b, &nb), PL_OK);
    ck_assert_str_eq(nb->hyps[0].text, "ab c cab");
    pl_asr_nbest_destroy(nb);
    pl_asr_beam_destroy(b);
    pl_asr_lm_destroy(lm);
    pl_asr_vocab_destroy(v);
}
END_TEST

/* Long peaky input: many prefixes (the pool is compacted several times);
 * without an LM the best path is the greedy one. */
START_TEST(beam_long_input_equals_greedy) {
    struct pl_asr_vocab *v = char_vocab();
    size_t T = 6000;
    float *lp = malloc(sizeof(float) * T * 5);
    srand(11);
    for (size_t t = 0; t < T; t++) {
        int k = rand() % 5;
        set_row2(lp + t * 5, 5, k, 0.93, (k + 1) % 5, 0.05);
    }
    struct pl_asr_nbest *g = NULL, *nb = NULL;
    ck_assert_int_eq(pl_asr_ctc_greedy(v, lp, T, 5, NULL, &g), PL_OK);
    struct pl_asr_decode_opts o;
    pl_asr_decode_opts_default(&o);
    o.lm_beta = 0;
    o.beam_width = 8;
    struct pl_asr_beam *b = NULL;
    ck_assert_int_eq(pl_asr_beam_create(v, NULL, &o, NULL, 0, &b), PL_OK);
    for (size_t t = 0; t < T; t += 500)
        ck_assert_int_eq(pl_asr_beam_feed(b, lp + t * 5, 500, 5), PL_OK);
    ck_assert_int_eq(pl_asr_beam_finish(b, &nb), PL_OK);
    ck_assert_str_eq(nb->hyps[0].text, g->hyps[0].text);
    ck_assert_int_eq(nb->hyps[0].n_words, g->hyps[0].n_words);
    for (int i = 0; i < g->hyps[0].n_words; i++) {
        ck_assert_int_eq(nb->hyps[0].words[i].start_ms, g->hyps[0].words[i].start_ms);
        ck_assert_int_eq(nb->hyps[0].words[i].end_ms, g->hyps[0].words[i].end_ms);
    }
    pl_asr_nbest_destroy(g);
    pl_asr_nbest_destroy(nb);
    pl_asr_beam_destroy(b);
    pl_asr_vocab_destroy(v);
    free(lp);
}
END_TEST

/* The acoustic model's vocab.txt layout (docs/asr-model.md): "<blank>", " ",
 * a..z, "'" one per line, blank 0. */
START_TEST(vocab_file_of_the_acoustic_model) {
    char path[] = "/tmp/pl_asr_vocab_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    FILE *f = fdopen(fd, "w");
    fputs("<blank>\n \n", f);
    for (char c = 'a'; c <= 'z'; c++)
        fprintf(f, "%c\r\n", c); /* CRLF is accepted too */
    fputs("'\n", f);
    fclose(f);
    struct pl_asr_vocab *v = NULL;
    ck_assert_int_eq(pl_asr_vocab_load(path, 0, PL_ASR_VOCAB_CHARS, &v), PL_OK);
    ck_assert_int_eq(pl_asr_vocab_size(v), 29);
    ck_assert_int_eq(pl_asr_vocab_blank(v), 0);
    /* "it's a" = i t ' s _ a */
    int seq[] = {10, 21, 28, 20, 1, 2, 0};
    float lp[7 * 29];
    for (int t = 0; t < 7; t++)
        set_row(lp + t * 29, 29, seq[t], 0.9);
    struct pl_asr_nbest *nb = NULL;
    ck_assert_int_eq(pl_asr_ctc_greedy(v, lp, 7, 29, NULL, &nb), PL_OK);
    ck_assert_str_eq(nb->hyps[0].text, "it's a");
    pl_asr_nbest_destroy(nb);
    pl_asr_vocab_destroy(v);
    unlink(path);
}
END_TEST

START_TEST(beam_bad_arguments) {
    struct pl_asr_vocab *v = char_vocab();
    struct pl_asr_beam *b = NULL;
    struct pl_asr_decode_opts o;
    pl_asr_decode_opts_default(&o);
    o.beam_width = 0;
    ck_assert_int_eq(pl_asr_beam_create(v, NULL, &o, NULL, 0, &b), PL_E_INVALID_ARG);
    pl_asr_decode_opts_default(&o);
    o.max_alternatives = 100;
    ck_assert_int_eq(pl_asr_beam_create(v, NULL, &o, NULL, 0, &b), PL_E_INVALID_ARG);
    struct pl_asr_boost empty[] = {{"   ", 1.0f}}, inf[] = {{"a", INFINITY}}, nul[] = {{NULL, 1}};
    ck_assert_int_eq(pl_asr_beam_create(v, NULL, NULL, empty, 1, &b), PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_asr_beam_create(v, NULL, NULL, inf, 1, &b), PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_asr_beam_create(v, NULL, NULL, nul, 1, &b), PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_asr_beam_create(v, NULL, NULL, NULL, 3, &b), PL_E_INVALID_ARG);
    ck_assert_ptr_null(b);
    ck_assert_int_eq(pl_asr_beam_create(v, NULL, NULL, NULL, 0, &b), PL_OK);
    float lp[5] = {0, -INFINITY, -1, -2, NAN};
    ck_assert_int_eq(pl_asr_beam_feed(b, lp, 1, 5), PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_asr_beam_feed(b, lp, 1, 6), PL_E_INVALID_ARG);
    lp[4] = -0.5f; /* -inf is a valid log-probability */
    ck_assert_int_eq(pl_asr_beam_feed(b, lp, 1, 5), PL_OK);
    pl_asr_beam_destroy(b);
    const char *one[] = {"a"}, *nul2[] = {"a", NULL};
    struct pl_asr_vocab *w = NULL;
    ck_assert_int_eq(pl_asr_vocab_create(one, 1, 0, PL_ASR_VOCAB_AUTO, &w), PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_asr_vocab_create(nul2, 2, 0, PL_ASR_VOCAB_AUTO, &w), PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_asr_vocab_create(chars, 5, 5, PL_ASR_VOCAB_AUTO, &w), PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_asr_vocab_load("/nonexistent", 0, PL_ASR_VOCAB_AUTO, &w), PL_E_IO);
    ck_assert_ptr_null(w);
    pl_asr_vocab_destroy(v);
    pl_asr_nbest_destroy(NULL);
    pl_asr_beam_destroy(NULL);
    pl_asr_lm_destroy(NULL);
}
END_TEST

START_TEST(oom_cleanup) {
    float lp[11 * 5];
    int seq[] = {A, BL, B, SP, C, BL, SP, C, BL, A, BL};
    for (int t = 0; t < 11; t++)
        set_row2(lp + t * 5, 5, seq[t], 0.6, (seq[t] + 1) % 5, 0.3);
    struct pl_asr_boost bo[] = {{"ab c", 2.0f}};
    for (int k = 0; k < 200; k++) {
        struct pl_asr_lm *lm = NULL;
        struct pl_asr_vocab *v = NULL;
        struct pl_asr_beam *b = NULL;
        struct pl_asr_nbest *nb = NULL, *p = NULL;
        pl_alloc_fail_after(k);
        pl_status st = pl_asr_lm_load_buffer(toy_arpa, strlen(toy_arpa), &lm);
        if (st == PL_OK)
            st = pl_asr_vocab_create(chars, 5, -1, PL_ASR_VOCAB_AUTO, &v);
        if (st == PL_OK)
            st = pl_asr_beam_create(v, lm, NULL, bo, 1, &b);
        if (st == PL_OK)
            st = pl_asr_beam_feed(b, lp, 11, 5);
        if (st == PL_OK)
            st = pl_asr_beam_partial(b, &p);
        if (st == PL_OK)
            st = pl_asr_beam_finish(b, &nb);
        if (st == PL_OK) {
            pl_asr_nbest_destroy(nb);
            nb = NULL;
            st = pl_asr_ctc_greedy(v, lp, 11, 5, NULL, &nb);
        }
        pl_alloc_fail_after(-1);
        ck_assert_msg(st == PL_OK || st == PL_E_NOMEM, "k=%d st=%d %s", k, st, pl_last_error());
        pl_asr_nbest_destroy(nb);
        pl_asr_nbest_destroy(p);
        pl_asr_beam_destroy(b);
        pl_asr_vocab_destroy(v);
        pl_asr_lm_destroy(lm);
    }
    struct pl_alloc_stats as;
    pl_alloc_stats(&as);
    ck_assert_int_eq(as.blocks_in_use, 0);
}
END_TEST

Suite *pl_asr_ctc_suite(void) {
    Suite *s = suite_create("asr_ctc");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, arpa_scores_by_hand);
    tcase_add_test(tc, arpa_order_five_backoff_chain);
    tcase_add_test(tc, arpa_number_forms_agree);
    tcase_add_test(tc, arpa_plain_and_gzip_files);
    tcase_add_test(tc, arpa_hostile);
    tcase_add_test(tc, greedy_chars_times_confidence);
    tcase_add_test(tc, greedy_sentencepiece);
    tcase_add_test(tc, beam_lm_and_boost_change_the_answer);
    tcase_add_test(tc, beam_partial_results);
    tcase_add_test(tc, beam_long_input_equals_greedy);
    tcase_add_test(tc, vocab_file_of_the_acoustic_model);
    tcase_add_test(tc, beam_bad_arguments);
    tcase_add_test(tc, oom_cleanup);
    suite_add_tcase(s, tc);
    return s;
}
