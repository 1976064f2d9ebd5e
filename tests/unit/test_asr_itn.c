/* test_asr_itn.c - inverse text normalization of numbers and the profanity
 * filter: a table of inputs and expected outputs, the shipped word list,
 * hostile input and OOM. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "asr_itn.h"

static const char *cases[][2] = {
    {"twenty five", "25"},
    {"one hundred and three", "103"},
    {"one hundred three", "103"},
    {"two thousand twenty", "2020"},
    {"two thousand and five", "2005"},
    {"three point five", "3.5"},
    {"zero point two five", "0.25"},
    {"twenty first", "21st"},
    {"the twenty second of may", "the 22nd of may"},
    {"one hundredth", "100th"},
    {"the eleventh hour", "the 11th hour"},
    {"five percent", "5%"},
    {"two point five percent", "2.5%"},
    {"one two three", "123"},
    {"call nine one one now", "call 911 now"},
    {"four oh four", "404"},
    {"nineteen ninety five", "1995"},
    {"nineteen oh five", "1905"},
    {"twenty twenty", "2020"},
    {"nineteen hundred", "1900"},
    {"twenty five hundred", "2500"},
    {"three million two hundred thousand", "3200000"},
    {"one of them", "one of them"},
    {"the first time", "the first time"},
    {"no one knows", "no one knows"},
    {"five dollars", "$5"},
    {"minus four", "-4"},
    {"it is minus twelve degrees", "it is -12 degrees"},
    {"twelve", "12"},
    {"Twenty Five apples", "25 apples"},
    {"I have twenty five, you have three.", "I have 25, you have three."},
    {"ten thirty", "10 30"}, /* a year needs a first group >= 11 */
    {"five five hundred", "five 500"},
    {"rock and roll and one hundred and", "rock and roll and 100 and"},
    {"  extra   spaces  ", "extra spaces"},
    {"", ""},
    {"hundred", "hundred"},
    {"thousand five", "thousand five"},
    {"minus", "minus"},
    {"point five", "point five"},
    {"seven hundred seventy seven", "777"},
    {"one billion", "1000000000"},
    {"sixty sixth street", "66th street"},
    {"in eighteen sixty five the war ended", "in 1865 the war ended"},
    {"the nineteen sixties", "the 1960s"},
    {"it costs five dollars and fifty cents.", "it costs $5.50."},
    {"five dollars and a cent", "$5 and a cent"},
    {"one thousand and one nights", "1001 nights"},
    {"about one point five million", "about 1.5 million"},
};

START_TEST(numbers_table) {
    int fails = 0;
    for (size_t i = 0; i < PL_ARRAY_LEN(cases); i++) {
        char *out = NULL;
        ck_assert_int_eq(pl_asr_itn_numbers(cases[i][0], &out), PL_OK);
        if (strcmp(out, cases[i][1]) != 0) {
            fprintf(stderr, "itn(\"%s\") = \"%s\", expected \"%s\"\n", cases[i][0], out,
                    cases[i][1]);
            fails++;
        }
        pl_free(out);
    }
    ck_assert_int_eq(fails, 0);
}
END_TEST

START_TEST(numbers_hostile) {
    char *out = NULL;
    ck_assert_int_eq(pl_asr_itn_numbers(NULL, &out), PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_asr_itn_numbers("x", NULL), PL_E_INVALID_ARG);
    /* long runs: digits, scales, words that look like numbers */
    size_t n = 200000;
    char *big = malloc(n + 1);
    const char *pat[] = {"one ", "nine hundred ", "thousand ", "and ", "point ", "oh ", "percent "};
    size_t p = 0;
    srand(5);
    while (p + 16 < n) {
        const char *w = pat[rand() % 7];
        memcpy(big + p, w, strlen(w));
        p += strlen(w);
    }
    big[p] = '\0';
    ck_assert_int_eq(pl_asr_itn_numbers(big, &out), PL_OK);
    ck_assert_ptr_nonnull(out);
    pl_free(out);
    memset(big, '1', n);
    big[n] = '\0';
    ck_assert_int_eq(pl_asr_itn_numbers(big, &out), PL_OK);
    ck_assert_str_eq(out, big);
    pl_free(out);
    free(big);
    ck_assert_int_eq(pl_asr_itn_numbers("nine nine nine nine nine nine nine nine nine nine nine "
                                        "nine nine nine nine nine nine nine nine nine nine",
                                        &out),
                     PL_OK);
    ck_assert_str_eq(out, "999999999999999999999");
    pl_free(out);
}
END_TEST

/* Random phrases of number words (with punctuation): no crash, and digits
 * only ever replace number words (the output is never longer than the input
 * plus "$", "-" and "%" signs). */
START_TEST(numbers_random_phrases) {
    static const char *vocab[] = {
        "zero",     "one",    "two",     "five",      "nine",      "ten",        "twelve",
        "nineteen", "twenty", "ninety",  "hundred",   "thousand",  "million",    "trillion",
        "first",    "third",  "twelfth", "twentieth", "hundredth", "thousandth", "and",
        "oh",       "point",  "percent", "dollars",   "cents",     "minus",      "sixties",
        "the",      "a",      "five,",   "point.",    "hundred!",  "and?",       "dollars;",
        "oh:",      "One",    "TWENTY",  "cent"};
    srand(17);
    char in[512];
    for (int it = 0; it < 5000; it++) {
        size_t p = 0;
        int nw = 1 + rand() % 9;
        for (int k = 0; k < nw; k++) {
            const char *w = vocab[rand() % PL_ARRAY_LEN(vocab)];
            p += (size_t)snprintf(in + p, sizeof in - p, "%s%s", k ? " " : "", w);
        }
        char *out = NULL;
        ck_assert_int_eq(pl_asr_itn_numbers(in, &out), PL_OK);
        ck_assert_msg(strlen(out) <= strlen(in) + 2, "\"%s\" -> \"%s\"", in, out);
        pl_free(out);
    }
}
END_TEST

START_TEST(profanity_masks_words) {
    const char *words[] = {"Fuck", "shit", "damn"};
    struct pl_asr_profanity *p = NULL;
    ck_assert_int_eq(pl_asr_profanity_create(words, 3, &p), PL_OK);
    char *out = NULL;
    ck_assert_int_eq(
        pl_asr_profanity_filter(p, "what the FUCK, oh shit. shitake damned damn!", &out), PL_OK);
    ck_assert_str_eq(out, "what the F***, oh s***. shitake damned d***!");
    pl_free(out);
    ck_assert_int_eq(pl_asr_profanity_filter(p, "", &out), PL_OK);
    ck_assert_str_eq(out, "");
    pl_free(out);
    pl_asr_profanity_destroy(p);
    const char *bad[] = {"ok", ""};
    ck_assert_int_eq(pl_asr_profanity_create(bad, 2, &p), PL_E_INVALID_ARG);
    ck_assert_ptr_null(p);
    ck_assert_int_eq(pl_asr_profanity_load("/nonexistent", &p), PL_E_IO);
    /* the shipped list */
    char path[4096];
    const char *src = getenv("PARLEY_SOURCE_DIR");
    ck_assert_ptr_nonnull(src);
    snprintf(path, sizeof path, "%s/models/asr-lm/profanity.txt", src);
    ck_assert_int_eq(pl_asr_profanity_load(path, &p), PL_OK);
    ck_assert_int_eq(pl_asr_profanity_filter(p, "well fuck this bullshit", &out), PL_OK);
    ck_assert_str_eq(out, "well f*** this b*******");
    pl_free(out);
    pl_asr_profanity_destroy(p);
    pl_asr_profanity_destroy(NULL);
}
END_TEST

START_TEST(oom_cleanup) {
    const char *words[] = {"fuck", "shit"};
    for (int k = 0; k < 40; k++) {
        struct pl_asr_profanity *p = NULL;
        char *a = NULL, *b = NULL;
        pl_alloc_fail_after(k);
        pl_status st = pl_asr_itn_numbers("twenty five percent of one two three fuck", &a);
        if (st == PL_OK)
            st = pl_asr_profanity_create(words, 2, &p);
        if (st == PL_OK)
            st = pl_asr_profanity_filter(p, a, &b);
        pl_alloc_fail_after(-1);
        ck_assert(st == PL_OK || st == PL_E_NOMEM);
        if (st == PL_OK)
            ck_assert_str_eq(b, "25% of 123 f***");
        pl_free(a);
        pl_free(b);
        pl_asr_profanity_destroy(p);
    }
    struct pl_alloc_stats as;
    pl_alloc_stats(&as);
    ck_assert_int_eq(as.blocks_in_use, 0);
}
END_TEST

Suite *pl_asr_itn_suite(void) {
    Suite *s = suite_create("asr_itn");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, numbers_table);
    tcase_add_test(tc, numbers_hostile);
    tcase_add_test(tc, numbers_random_phrases);
    tcase_add_test(tc, profanity_masks_words);
    tcase_add_test(tc, oom_cleanup);
    suite_add_tcase(s, tc);
    return s;
}
