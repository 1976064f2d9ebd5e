/* test_tts_front.c - the TTS text front end: a table of normalizations (every
 * category), sentence splitting, phones and IPA, lexicons (the real CMU
 * dictionary: the suite fails without it), custom dictionaries, SSML success
 * and every error, hostile input, OOM. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "tts_front.h"

#ifndef PARLEY_SHARED_DATA
#error "PARLEY_SHARED_DATA must name ../shared/data"
#endif
#define CMUDICT PARLEY_SHARED_DATA "/lexicon/cmudict.dict"

static struct pl_tts_lexicon *cmu_load(void) {
    struct pl_tts_lexicon *lex = NULL;
    pl_status st = pl_tts_lexicon_load_cmu(CMUDICT, &lex);
    if (st != PL_OK)
        ck_abort_msg("cannot load %s: %s", CMUDICT, pl_last_error());
    return lex;
}

/* input, expected normalized text (lexicon: CMU) */
static const char *norm_cases[][2] = {
    /* cardinals */
    {"I have 5 apples", "i have five apples"},
    {"0", "zero"},
    {"13", "thirteen"},
    {"42", "forty two"},
    {"100", "one hundred"},
    {"1,234,567", "one million two hundred thirty four thousand five hundred sixty seven"},
    {"-12", "minus twelve"},
    {"It was -5 outside", "it was minus five outside"},
    {"3000000000000", "three trillion"},
    {"999,999,999,999,999",
     "nine hundred ninety nine trillion nine hundred ninety nine billion nine hundred ninety nine "
     "million nine hundred ninety nine thousand nine hundred ninety nine"},
    {"1234567890123456789", "one two three four five six seven eight nine zero one two three four "
                            "five six seven eight nine"},
    {"007", "zero zero seven"},
    /* ordinals */
    {"1st", "first"},
    {"22nd", "twenty second"},
    {"103rd", "one hundred third"},
    {"the 4th time", "the fourth time"},
    {"11th", "eleventh"},
    {"20th", "twentieth"},
    /* decimals */
    {"3.14", "three point one four"},
    {"0.5", "zero point five"},
    {".5", "point five"},
    /* money */
    {"$5", "five dollars"},
    {"$1", "one dollar"},
    {"$3.50", "three dollars fifty cents"},
    {"$0.99", "ninety nine cents"},
    {"\xc2\xa3" "20", "twenty pounds"},
    {"\xe2\x82\xac" "1.2 million", "one point two million euros"},
    {"$5m", "five million dollars"},
    {"5 cents", "five cents"},
    {"$1,000", "one thousand dollars"},
    /* percentages */
    {"50%", "fifty percent"},
    {"3.5%", "three point five percent"},
    {"5-10%", "five to ten percent"},
    /* dates */
    {"2024-03-05", "march fifth twenty twenty four"},
    {"March 5, 2024", "march fifth twenty twenty four"},
    {"5 March 2024", "the fifth of march twenty twenty four"},
    {"03/05/2024", "march fifth twenty twenty four"},
    {"25/12/2024", "december twenty fifth twenty twenty four"},
    {"on Jan. 1st", "on january first"},
    {"March 2024", "march twenty twenty four"},
    /* years */
    {"in 1984", "in nineteen eighty four"},
    {"in 2005", "in two thousand five"},
    {"since 1905", "since nineteen oh five"},
    {"by 2010", "by twenty ten"},
    {"1900 AD", "nineteen hundred a d"},
    {"1984 people", "one thousand nine hundred eighty four people"},
    {"the 1990s", "the nineteen nineties"},
    {"1990-2000", "nineteen ninety to two thousand"},
    /* times */
    {"3:30 pm", "three thirty p m"},
    {"at 3pm", "at three p m"},
    {"15:45", "fifteen forty five"},
    {"10:05 a.m.", "ten oh five a m."}, /* a.m. at the end also ends the sentence */
    {"at 10 a.m. today", "at ten a m today"},
    {"7:00", "seven o'clock"},
    {"at noon", "at noon"},
    /* units */
    {"5 km", "five kilometers"},
    {"1 km", "one kilometer"},
    {"10kg", "ten kilograms"},
    {"3 ft", "three feet"},
    {"20\xc2\xb0" "C", "twenty degrees celsius"},
    {"100 mph", "one hundred miles per hour"},
    {"5 MB", "five megabytes"},
    {"2.5GHz", "two point five gigahertz"},
    /* abbreviations */
    {"Dr. Smith", "doctor smith"},
    {"Mr. and Mrs. Jones", "mister and missus jones"},
    {"St. Peter", "saint peter"},
    {"Main St.", "main street."},
    {"apples, pears, etc.", "apples, pears, et cetera."},
    {"cats vs. dogs", "cats versus dogs"},
    {"fruit, e.g. apples", "fruit, for example apples"},
    /* acronyms */
    {"the FBI", "the f b i"},
    {"NASA", "nasa"},
    {"XQZ", "x q z"},
    {"MP3", "m p three"},
    /* urls and e-mail */
    {"https://example.com/a", "example dot com slash a"},
    {"www.parley.io", "w w w dot parley dot io"},
    {"ann.lee@mail.org", "ann dot lee at mail dot org"},
    /* phone numbers */
    {"555-123-4567", "five five five, one two three, four five six seven"},
    {"(555) 123-4567", "five five five, one two three, four five six seven"},
    {"+1-800-555-0199", "plus one, eight zero zero, five five five, zero one nine nine"},
    /* ranges and symbols */
    {"5-10", "five to ten"},
    {"pages 10-20", "pages ten to twenty"},
    {"A & B", "a and b"},
    {"R&D", "r and d"},
    {"%", "percent"},
    {"#1", "number one"},
    {"1/2", "one half"},
    {"3/4 of it", "three quarters of it"},
    {"2/3", "two thirds"},
    {"7/16", "seven over sixteen"},
    {"version 2.0.1", "version two point zero point one"},
    /* punctuation */
    {"Hello, world!", "hello, world!"},
    {"Really?", "really?"},
    {"Wait; no: yes.", "wait; no: yes."},
    {"well-known", "well known"},
    {"\"Quoted\" (text)", "quoted text"},
    {"Don't stop", "don't stop"},
    {"Caf\xc3\xa9 \xc3\x89t\xc3\xa9", "caf\xc3\xa9 \xc3\xa9t\xc3\xa9"},
    {"wait... what", "wait, what"},
    {"", ""},
    {"?!...", ""},
    {"\xf0\x9f\x98\x80\xf0\x9f\x98\x80", ""},
    {"hi \xf0\x9f\x98\x80 there", "hi there"},
    {"a\x01" "b\x7f" "c", "a b c"},
};

START_TEST(normalize_table) {
    struct pl_tts_lexicon *cmu = cmu_load();
    const struct pl_tts_lexicon *lex[1] = {cmu};
    struct pl_tts_norm_opts o = {.lexicons = lex, .n_lexicons = 1};
    int bad = 0;
    size_t n = sizeof norm_cases / sizeof norm_cases[0];
    ck_assert_uint_ge(n, 60);
    for (size_t i = 0; i < n; i++) {
        char *out = NULL;
        pl_status st = pl_tts_normalize_text(norm_cases[i][0], &o, &out);
        if (st != PL_OK) {
            fprintf(stderr, "case %zu '%s': error %s\n", i, norm_cases[i][0], pl_last_error());
            bad++;
            continue;
        }
        if (strcmp(out, norm_cases[i][1]) != 0) {
            fprintf(stderr, "case %zu '%s':\n  got  '%s'\n  want '%s'\n", i, norm_cases[i][0], out,
                    norm_cases[i][1]);
            bad++;
        }
        pl_free(out);
    }
    pl_tts_lexicon_destroy(cmu);
    ck_assert_int_eq(bad, 0);
}
END_TEST

START_TEST(normalize_spans) {
    const char *text = "Dr. Smith paid $3.50, ok.";
    struct pl_tts_tokens t;
    pl_tts_tokens_init(&t);
    ck_assert_int_eq(pl_tts_normalize(text, strlen(text), NULL, NULL, 100, &t), PL_OK);
    /* doctor smith paid three dollars fifty cents , ok . */
    ck_assert_uint_eq(t.n, 10);
    ck_assert_str_eq(t.v[0].text, "doctor");
    ck_assert_uint_eq(t.v[0].src_start, 100);
    ck_assert_uint_eq(t.v[0].src_end, 103);
    ck_assert_str_eq(t.v[3].text, "three");
    ck_assert_uint_eq(t.v[3].src_start, 115);
    ck_assert_uint_eq(t.v[3].src_end, 120);
    ck_assert_int_eq(t.v[7].kind, PL_TTS_TOK_PUNCT);
    ck_assert_int_eq(t.v[7].punct, PL_TTS_PUNCT_COMMA);
    ck_assert_int_eq(t.v[9].punct, PL_TTS_PUNCT_PERIOD);
    pl_tts_tokens_deinit(&t);
}
END_TEST

START_TEST(normalize_bad_input) {
    char *out = NULL;
    ck_assert_int_eq(pl_tts_normalize_text("abc \xff def", NULL, &out), PL_E_INVALID_ARG);
    ck_assert_ptr_null(out);
    ck_assert_ptr_nonnull(strstr(pl_last_error(), "invalid UTF-8 at byte 4"));
    ck_assert_int_eq(pl_tts_normalize_text("\xc3", NULL, &out), PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_tts_normalize_text("\xed\xa0\x80", NULL, &out), PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_tts_normalize_text(NULL, NULL, &out), PL_E_INVALID_ARG);
    /* 100 kB of mixed text */
    size_t cap = 100 * 1024;
    char *big = malloc(cap + 1);
    const char *piece = "On 2024-03-05 Dr. Smith paid $3.50 for 10kg (5%) at 3:30 pm; call 555-123-4567! ";
    size_t len = 0, pl = strlen(piece);
    while (len + pl <= cap) {
        memcpy(big + len, piece, pl);
        len += pl;
    }
    big[len] = '\0';
    ck_assert_int_eq(pl_tts_normalize_text(big, NULL, &out), PL_OK);
    ck_assert_ptr_nonnull(strstr(out, "march fifth twenty twenty four"));
    pl_free(out);
    /* random bytes made valid: never crash */
    srand(7);
    for (int k = 0; k < 200; k++) {
        char buf[64];
        for (int i = 0; i < 63; i++)
            buf[i] = (char)(1 + rand() % 127);
        buf[63] = '\0';
        ck_assert_int_eq(pl_tts_normalize_text(buf, NULL, &out), PL_OK);
        pl_free(out);
    }
    free(big);
}
END_TEST

START_TEST(say_as_modes) {
    static const struct {
        enum pl_tts_say_as as;
        const char *fmt, *in, *want;
    } cases[] = {
        {PL_TTS_SAY_CHARACTERS, "", "abc1", "a b c one"},
        {PL_TTS_SAY_CARDINAL, "", "1,024", "one thousand twenty four"},
        {PL_TTS_SAY_ORDINAL, "", "3", "third"},
        {PL_TTS_SAY_ORDINAL, "", "21st", "twenty first"},
        {PL_TTS_SAY_DATE, "dmy", "05/03/2024", "the fifth of march twenty twenty four"},
        {PL_TTS_SAY_DATE, "mdy", "03/05/2024", "march fifth twenty twenty four"},
        {PL_TTS_SAY_DATE, "ymd", "2024-03-05", "march fifth twenty twenty four"},
        {PL_TTS_SAY_DATE, "", "12/25", "december twenty fifth"},
        {PL_TTS_SAY_TIME, "", "3:30pm", "three thirty p m"},
        {PL_TTS_SAY_TELEPHONE, "", "+1 555 0100", "plus one, five five five, zero one zero zero"},
        {PL_TTS_SAY_CARDINAL, "", "twelve", "twelve"}, /* not a number: read normally */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct pl_tts_norm_opts o = {.say_as = cases[i].as};
        strcpy(o.date_format, cases[i].fmt);
        char *out = NULL;
        ck_assert_int_eq(pl_tts_normalize_text(cases[i].in, &o, &out), PL_OK);
        ck_assert_msg(strcmp(out, cases[i].want) == 0, "say-as %zu: got '%s' want '%s'", i, out,
                      cases[i].want);
        pl_free(out);
    }
}
END_TEST

/* sentence texts of a raw split, joined by " | " */
static char *split_join(const char *text) {
    struct pl_tts_span *sp = NULL;
    size_t n = 0;
    ck_assert_int_eq(pl_tts_split_text(text, strlen(text), &sp, &n), PL_OK);
    static char buf[1024];
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (i)
            strcat(buf, " | ");
        strncat(buf, text + sp[i].start, sp[i].end - sp[i].start);
    }
    pl_free(sp);
    return buf;
}

START_TEST(split_text_rules) {
    ck_assert_str_eq(split_join("Hello there. How are you? Fine!"),
                     "Hello there. | How are you? | Fine!");
    ck_assert_str_eq(split_join("Dr. Smith met Mr. Jones. They talked."),
                     "Dr. Smith met Mr. Jones. | They talked.");
    ck_assert_str_eq(split_join("J. R. R. Tolkien wrote it. Yes."),
                     "J. R. R. Tolkien wrote it. | Yes.");
    ck_assert_str_eq(split_join("Pi is 3.14 roughly. See example.com/a.b for more."),
                     "Pi is 3.14 roughly. | See example.com/a.b for more.");
    ck_assert_str_eq(split_join("Mail ann.lee@mail.org now. Thanks."),
                     "Mail ann.lee@mail.org now. | Thanks.");
    ck_assert_str_eq(split_join("Apples, pears, etc. are fruit. Etc. Done."),
                     "Apples, pears, etc. are fruit. | Etc. | Done.");
    ck_assert_str_eq(split_join("He said \"Stop.\" Then left."), "He said \"Stop.\" | Then left.");
    ck_assert_str_eq(split_join("first paragraph\n\nsecond one"), "first paragraph | second one");
    ck_assert_str_eq(split_join("a wrapped\nline"), "a wrapped\nline");
    ck_assert_str_eq(split_join("List:\n- one\n- two"), "List: | - one | - two");
    ck_assert_str_eq(split_join("   "), "");
}
END_TEST

START_TEST(split_tokens_cap) {
    /* 30 words with a comma after word 20 and "and" before word 26: cap 25 */
    char text[512] = "";
    for (int i = 0; i < 30; i++) {
        strcat(text, i == 25 ? "and" : "word");
        strcat(text, i == 19 ? ", " : " ");
    }
    struct pl_tts_tokens t;
    pl_tts_tokens_init(&t);
    ck_assert_int_eq(pl_tts_normalize(text, strlen(text), NULL, NULL, 0, &t), PL_OK);
    struct pl_tts_span *sp = NULL;
    size_t n = 0;
    ck_assert_int_eq(pl_tts_split_tokens(t.v, t.n, 25, &sp, &n), PL_OK);
    ck_assert_uint_eq(n, 2);
    ck_assert_uint_eq(sp[0].end, 21); /* 20 words and the comma */
    pl_free(sp);
    /* no phrase break at all: a hard cut at the cap */
    ck_assert_int_eq(pl_tts_split_tokens(t.v, t.n, 10, &sp, &n), PL_OK);
    ck_assert_uint_ge(n, 3);
    for (size_t k = 0; k < n; k++) {
        int w = 0;
        for (size_t i = sp[k].start; i < sp[k].end; i++)
            w += t.v[i].kind == PL_TTS_TOK_WORD;
        ck_assert_int_le(w, 10);
        ck_assert_int_ge(w, 1);
    }
    pl_free(sp);
    /* a conjunction is the break when there is no comma in reach */
    pl_tts_tokens_deinit(&t);
    pl_tts_tokens_init(&t);
    const char *s2 = "one two three four five six seven eight and nine ten eleven twelve";
    ck_assert_int_eq(pl_tts_normalize(s2, strlen(s2), NULL, NULL, 0, &t), PL_OK);
    ck_assert_int_eq(pl_tts_split_tokens(t.v, t.n, 10, &sp, &n), PL_OK);
    ck_assert_uint_eq(n, 2);
    ck_assert_uint_eq(sp[0].end, 8);
    ck_assert_str_eq(t.v[sp[1].start].text, "and");
    pl_free(sp);
    pl_tts_tokens_deinit(&t);
}
END_TEST

START_TEST(phones_and_ipa) {
    uint8_t id, ids[PL_TTS_MAX_PRON];
    size_t n;
    ck_assert(pl_tts_phone_parse("AH0", 3, &id));
    ck_assert_str_eq(pl_tts_phone_name(id), "AH0");
    ck_assert(pl_tts_phone_parse("zh", 2, &id));
    ck_assert_str_eq(pl_tts_phone_name(id), "ZH");
    ck_assert_int_eq(id, PL_TTS_N_PHONE_IDS - 1);
    ck_assert(!pl_tts_phone_parse("AH3", 3, &id));
    ck_assert(!pl_tts_phone_parse("K1", 2, &id));
    ck_assert(!pl_tts_phone_parse("QQ", 2, &id));
    /* every id round-trips through its name */
    int bases[PL_TTS_N_PHONES] = {0};
    for (int i = 0; i < PL_TTS_N_PHONE_IDS; i++) {
        const char *nm = pl_tts_phone_name((uint8_t)i);
        ck_assert(pl_tts_phone_parse(nm, strlen(nm), &id));
        ck_assert_int_eq(id, i);
        bases[pl_tts_phone_base((uint8_t)i)]++;
    }
    for (int b = 0; b < PL_TTS_N_PHONES; b++)
        ck_assert(bases[b] == 1 || bases[b] == 3);
    ck_assert_int_eq(pl_tts_phones_parse("HH AH0 L OW1", 12, ids, PL_TTS_MAX_PRON, &n), PL_OK);
    ck_assert_uint_eq(n, 4);
    ck_assert_int_eq(pl_tts_phones_parse("HH XX", 5, ids, PL_TTS_MAX_PRON, &n), PL_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(pl_last_error(), "'XX'"));
    /* IPA: "tomato" təˈmeɪtoʊ -> T AH0 M EY1 T OW0 */
    const char *ipa = "t\xc9\x99\xcb\x88m\x65\xc9\xaat\x6f\xca\x8a";
    ck_assert_int_eq(pl_tts_ipa_to_arpabet(ipa, strlen(ipa), ids, PL_TTS_MAX_PRON, &n), PL_OK);
    const char *want[] = {"T", "AH0", "M", "EY1", "T", "OW0"};
    ck_assert_uint_eq(n, 6);
    for (size_t i = 0; i < n; i++)
        ck_assert_str_eq(pl_tts_phone_name(ids[i]), want[i]);
    /* ˈtʃɝtʃ church, with a tie bar on the first affricate */
    const char *church = "\xcb\x88t\xcd\xa1\xca\x83\xc9\x9dt\xca\x83";
    ck_assert_int_eq(pl_tts_ipa_to_arpabet(church, strlen(church), ids, PL_TTS_MAX_PRON, &n), PL_OK);
    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq(pl_tts_phone_name(ids[0]), "CH");
    ck_assert_str_eq(pl_tts_phone_name(ids[1]), "ER1");
    ck_assert_str_eq(pl_tts_phone_name(ids[2]), "CH");
    /* x (velar fricative) is not General American */
    const char *bach = "b\xc9\x91x";
    ck_assert_int_eq(pl_tts_ipa_to_arpabet(bach, strlen(bach), ids, PL_TTS_MAX_PRON, &n), PL_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(pl_last_error(), "'x' at byte 3"));
}
END_TEST

static void expect_pron(const struct pl_tts_lexicon *lex, const char *w, int alt, const char *want) {
    const uint8_t *ph;
    size_t n = pl_tts_lexicon_lookup(lex, w, strlen(w), alt, &ph);
    char got[256] = "";
    for (size_t i = 0; i < n; i++) {
        if (i)
            strcat(got, " ");
        strcat(got, pl_tts_phone_name(ph[i]));
    }
    ck_assert_msg(strcmp(got, want) == 0, "%s(%d): got '%s' want '%s'", w, alt, got, want);
}

START_TEST(lexicon_cmu) {
    struct timespec t0, t1;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
    struct pl_tts_lexicon *cmu = cmu_load();
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
    struct pl_tts_lexicon_stats ls;
    pl_tts_lexicon_stats(cmu, &ls);
    fprintf(stderr, "cmudict: %zu words, %zu prons, %.1f MiB, %.1f ms cpu\n", ls.n_words,
            ls.n_prons, ls.bytes / 1048576.0,
            (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6);
    ck_assert_uint_gt(ls.n_words, 120000);
    ck_assert_uint_gt(ls.n_prons, ls.n_words);
    ck_assert_uint_lt(ls.bytes, 16u << 20);
    expect_pron(cmu, "hello", 0, "HH AH0 L OW1");
    expect_pron(cmu, "HELLO", 0, "HH AH0 L OW1");
    expect_pron(cmu, "world", 0, "W ER1 L D");
    expect_pron(cmu, "a", 0, "AH0");
    expect_pron(cmu, "a", 1, "EY1");
    expect_pron(cmu, "a", 2, "");
    expect_pron(cmu, "aalborg", 0, "AO1 L B AO0 R G"); /* a comment follows on its line */
    expect_pron(cmu, "'bout", 0, "B AW1 T");
    expect_pron(cmu, "nasa", 0, "N AE1 S AH0");
    expect_pron(cmu, "notaword_xyz", 0, "");
    pl_tts_lexicon_destroy(cmu);
}
END_TEST

START_TEST(lexicon_missing_or_bad_file) {
    struct pl_tts_lexicon *lex = NULL;
    ck_assert_int_eq(pl_tts_lexicon_load_cmu("/nonexistent/cmudict.dict", &lex), PL_E_IO);
    ck_assert_ptr_null(lex);
    char path[] = "/tmp/pl_tts_lexXXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    FILE *f = fdopen(fd, "w");
    fputs("good G UH1 D\nbad B AE1 XX\n", f);
    fclose(f);
    ck_assert_int_eq(pl_tts_lexicon_load_cmu(path, &lex), PL_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(pl_last_error(), ":2:"));
    ck_assert_ptr_nonnull(strstr(pl_last_error(), "XX"));
    /* a user dictionary in the custom-dictionary form */
    f = fopen(path, "w");
    fputs("# team names\nparley  P AA1 R L IY0\n\nzyx  Z IH1 K S\nparley  P AA1 R L EY0\n", f);
    fclose(f);
    ck_assert_int_eq(pl_tts_lexicon_load_user(path, &lex), PL_OK);
    expect_pron(lex, "Parley", 0, "P AA1 R L IY0");
    expect_pron(lex, "parley", 1, "P AA1 R L EY0");
    expect_pron(lex, "zyx", 0, "Z IH1 K S");
    pl_tts_lexicon_destroy(lex);
    f = fopen(path, "w");
    fputs("ok  OW1 K EY1\nbroken P AA1\n", f);
    fclose(f);
    lex = NULL;
    ck_assert_int_eq(pl_tts_lexicon_load_user(path, &lex), PL_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(pl_last_error(), ":2:"));
    ck_assert_ptr_nonnull(strstr(pl_last_error(), "'broken P AA1'"));
    remove(path);
}
END_TEST

START_TEST(custom_dictionary) {
    struct pl_tts_lexicon *lex = NULL;
    ck_assert_int_eq(pl_tts_lexicon_parse_custom("parley  P AA1 R L IY0, nvidia  EH0 N V IH1 D IY0 AH0", &lex),
                     PL_OK);
    expect_pron(lex, "parley", 0, "P AA1 R L IY0");
    expect_pron(lex, "NVIDIA", 0, "EH0 N V IH1 D IY0 AH0");
    pl_tts_lexicon_destroy(lex);
    ck_assert_int_eq(pl_tts_lexicon_parse_custom("", &lex), PL_OK);
    pl_tts_lexicon_destroy(lex);
    ck_assert_int_eq(pl_tts_lexicon_parse_custom("  ", &lex), PL_OK);
    pl_tts_lexicon_destroy(lex);
    static const struct {
        const char *in, *needle;
    } bad[] = {
        {"parley P AA1 R L IY0", "'parley P AA1 R L IY0': grapheme and pronunciation must be separated by two spaces"},
        {"ok  OW1 K EY1, parley  P AA1 R L XY0", "'parley  P AA1 R L XY0': unknown ARPAbet phone 'XY0'"},
        {"parley  P AA1  R", "'parley  P AA1  R': phones must be separated by one space"},
        {"ok  OW1 K EY1,,x  K", "empty entry at byte 14"},
        {"  K", "'K': grapheme and pronunciation"},
        {"two words  T UW1", "grapheme has a space"},
        {"ok  OW1 K EY1, bad  K1", "'bad  K1'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        lex = NULL;
        ck_assert_int_eq(pl_tts_lexicon_parse_custom(bad[i].in, &lex), PL_E_FORMAT);
        ck_assert_ptr_null(lex);
        ck_assert_msg(strstr(pl_last_error(), bad[i].needle) != NULL, "bad %zu: '%s'", i,
                      pl_last_error());
    }
}
END_TEST

START_TEST(ssml_segments) {
    const char *x = "<speak>Hi <prosody rate=\"slow\" pitch=\"+2st\" volume=\"+6dB\">there"
                    "<break time=\"300ms\"/>you</prosody> &amp; <say-as interpret-as=\"date\" "
                    "format=\"dmy\">05/03/2024</say-as> <phoneme alphabet=\"x-arpabet\" ph=\"T AH0 "
                    "M EY1 T OW2\">tomato</phoneme> <sub alias=\"World Wide Web\">WWW</sub>"
                    "<emphasis level=\"strong\">now</emphasis><unknown a='1'>kept</unknown>"
                    "<break strength=\"x-strong\"/><p><s>One.</s></p></speak>";
    struct pl_tts_ssml *s = NULL;
    ck_assert_int_eq(pl_tts_ssml_parse(x, strlen(x), &s), PL_OK);
    int texts = 0, breaks = 0, phon = 0, bounds = 0;
    for (size_t i = 0; i < s->n_segs; i++) {
        const struct pl_tts_segment *g = &s->segs[i];
        switch (g->kind) {
        case PL_TTS_SEG_TEXT: texts++; break;
        case PL_TTS_SEG_BREAK: breaks++; break;
        case PL_TTS_SEG_PHONEME: phon++; break;
        case PL_TTS_SEG_BOUNDARY: bounds++; break;
        }
        if (g->kind == PL_TTS_SEG_TEXT && strcmp(g->text, "there") == 0) {
            ck_assert_float_eq_tol(g->prosody.rate, 0.75, 1e-6);
            ck_assert_float_eq_tol(g->prosody.pitch, 1.122462, 1e-5);
            ck_assert_float_eq_tol(g->prosody.volume, 1.995262, 1e-5);
            ck_assert_uint_eq(g->src_start, strstr(x, "there") - x);
        }
        if (g->kind == PL_TTS_SEG_TEXT && strncmp(g->text, " & ", 3) == 0) {
            ck_assert_float_eq_tol(g->prosody.rate, 1.0, 1e-6); /* restored after </prosody> */
            ck_assert_uint_eq(g->src_map[1], strstr(x, "&amp;") - x);
        }
        if (g->kind == PL_TTS_SEG_TEXT && g->say_as == PL_TTS_SAY_DATE)
            ck_assert_str_eq(g->date_format, "dmy");
        if (g->kind == PL_TTS_SEG_BREAK)
            ck_assert_int_eq(g->break_ms, breaks == 1 ? 300 : 1000);
        if (g->kind == PL_TTS_SEG_PHONEME) {
            ck_assert_uint_eq(g->n_phones, 6);
            ck_assert_str_eq(g->text, "tomato");
        }
        if (g->kind == PL_TTS_SEG_TEXT && strcmp(g->text, "World Wide Web") == 0)
            ck_assert_ptr_null(g->src_map);
        if (g->kind == PL_TTS_SEG_TEXT && strstr(g->text, "now"))
            ck_assert_int_eq(g->prosody.emphasis, 3);
        if (g->kind == PL_TTS_SEG_TEXT && strstr(g->text, "kept"))
            ck_assert_ptr_nonnull(strstr(g->text, "kept"));
    }
    ck_assert_int_eq(breaks, 2);
    ck_assert_int_eq(phon, 1);
    ck_assert_int_ge(bounds, 2);
    ck_assert_int_ge(texts, 6);
    pl_tts_ssml_destroy(s);
    /* entities, comments, declaration, numeric references */
    const char *y = "<?xml version=\"1.0\"?> <speak><!-- c -->a&lt;b&#65;&#x263A;&quot;&apos;</speak>  ";
    ck_assert(pl_tts_is_ssml(y + 22, strlen(y + 22)));
    ck_assert_int_eq(pl_tts_ssml_parse(y, strlen(y), &s), PL_OK);
    ck_assert_uint_eq(s->n_segs, 1);
    ck_assert_str_eq(s->segs[0].text, "a<bA\xe2\x98\xba\"'");
    pl_tts_ssml_destroy(s);
    ck_assert(!pl_tts_is_ssml("hello <speak>", 13));
    ck_assert(pl_tts_is_ssml("  \n<speak>x</speak>", 19));
}
END_TEST

START_TEST(ssml_errors) {
    static const struct {
        const char *in, *needle;
    } bad[] = {
        {"<speak>hello", "unterminated <speak> (opened at byte 0) at byte 12"},
        {"<speak>hi <p>x</s></speak>", "mismatched </s> (open: <p>) at byte 14"},
        {"<speak>hi</speak></p>", "unexpected </p> at byte 17"},
        {"<speak>hi <break time=\"fast\"/></speak>", "bad time value \"fast\" at byte 23"},
        {"<speak><prosody rate=\"5000%\">x</prosody></speak>", "bad rate value \"5000%\""},
        {"<speak><prosody pitch=\"+99st\">x</prosody></speak>", "bad pitch value"},
        {"<speak><prosody volume=\"loudest\">x</prosody></speak>", "bad volume value"},
        {"<speak><break strength=\"huge\"/></speak>", "bad strength value"},
        {"<speak><break time=\"20s\"/></speak>", "bad time value \"20s\""},
        {"<speak>a &nbsp; b</speak>", "unknown entity &nbsp; at byte 9"},
        {"<speak>a & b</speak>", "bad entity (no ';') at byte 9"},
        {"<speak>&#0;</speak>", "out of range"},
        {"<speak>&#xD800;</speak>", "out of range"},
        {"<speak><prosody rate=slow>x</prosody></speak>", "value not quoted"},
        {"<speak><prosody rate>x</prosody></speak>", "attribute rate without a value"},
        {"<speak><prosody rate=\"slow>x</prosody></speak>", "unterminated attribute value"},
        {"<speak><p", "unterminated tag <p at byte 7"},
        {"<speak>< p>x</speak>", "bad tag at byte 7"},
        {"<speak><!-- x </speak>", "unterminated comment at byte 7"},
        {"<speak><phoneme alphabet=\"ipa\" ph=\"b\xc9\x91x\">bach</phoneme></speak>",
         "bad ph at byte 35: ipa: cannot map 'x' at byte 3"},
        {"<speak><phoneme alphabet=\"x-arpabet\" ph=\"T QQ\">t</phoneme></speak>", "unknown ARPAbet phone 'QQ'"},
        {"<speak><phoneme alphabet=\"klingon\" ph=\"x\">t</phoneme></speak>", "bad alphabet value"},
        {"<speak><phoneme>t</phoneme></speak>", "<phoneme> without ph"},
        {"<speak><say-as>t</say-as></speak>", "<say-as> without interpret-as"},
        {"<speak><say-as interpret-as=\"poem\">t</say-as></speak>", "bad interpret-as value"},
        {"<speak><say-as interpret-as=\"date\" format=\"qq\">t</say-as></speak>", "bad format value"},
        {"<speak><sub>x</sub></speak>", "<sub> without alias"},
        {"<speak><emphasis level=\"max\">x</emphasis></speak>", "bad level value"},
        {"<speak><say-as interpret-as=\"cardinal\"><break/></say-as></speak>", "<break> inside <say-as>"},
        {"<speak>a</speak> trailing", "text after </speak> at byte 17"},
        {"<speak>a</speak><speak>b</speak>", "second <speak> at byte 16"},
        {"<speak><![CDATA[x]]></speak>", "unsupported markup <! at byte 7"},
        {"<speak>\xff</speak>", "invalid UTF-8 at byte 7"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct pl_tts_ssml *s = NULL;
        pl_status st = pl_tts_ssml_parse(bad[i].in, strlen(bad[i].in), &s);
        ck_assert_msg(st == PL_E_FORMAT || st == PL_E_INVALID_ARG, "bad %zu: status %d", i, st);
        ck_assert_ptr_null(s);
        ck_assert_msg(strstr(pl_last_error(), bad[i].needle) != NULL, "bad %zu: '%s' lacks '%s'", i,
                      pl_last_error(), bad[i].needle);
    }
}
END_TEST

START_TEST(ssml_deep_nesting) {
    /* 10,000 nested tags: an error at depth 33, no recursion */
    size_t n = 10000;
    char *x = malloc(n * 7 + n * 8 + 32);
    size_t k = 0;
    k += (size_t)sprintf(x + k, "<speak>");
    for (size_t i = 1; i < n; i++)
        k += (size_t)sprintf(x + k, "<p>");
    k += (size_t)sprintf(x + k, "deep");
    for (size_t i = 1; i < n; i++)
        k += (size_t)sprintf(x + k, "</p>");
    k += (size_t)sprintf(x + k, "</speak>");
    struct pl_tts_ssml *s = NULL;
    ck_assert_int_eq(pl_tts_ssml_parse(x, k, &s), PL_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(pl_last_error(), "nesting deeper than 32 at byte 100"));
    /* the same with unknown tags */
    k = (size_t)sprintf(x, "<speak>");
    for (size_t i = 1; i < n; i++)
        k += (size_t)sprintf(x + k, "<q>");
    k += (size_t)sprintf(x + k, "</speak>");
    ck_assert_int_eq(pl_tts_ssml_parse(x, k, &s), PL_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(pl_last_error(), "nesting deeper than 32"));
    /* 31 levels inside <speak> are fine */
    k = (size_t)sprintf(x, "<speak>");
    for (size_t i = 0; i < 31; i++)
        k += (size_t)sprintf(x + k, "<p>");
    k += (size_t)sprintf(x + k, "ok");
    for (size_t i = 0; i < 31; i++)
        k += (size_t)sprintf(x + k, "</p>");
    k += (size_t)sprintf(x + k, "</speak>");
    ck_assert_int_eq(pl_tts_ssml_parse(x, k, &s), PL_OK);
    pl_tts_ssml_destroy(s);
    free(x);
}
END_TEST

static size_t fake_g2p(const char *w, size_t len, uint8_t *ph, size_t cap, void *ud) {
    (void)cap;
    (*(int *)ud)++;
    if (len == 7 && memcmp(w, "blorfix", 7) == 0) {
        pl_tts_phone_parse("B", 1, &ph[0]);
        pl_tts_phone_parse("L", 1, &ph[1]);
        return 2;
    }
    return 0;
}

static const struct pl_tts_item *find_word(const struct pl_tts_result *r, const char *w) {
    for (size_t s = 0; s < r->n_sentences; s++) {
        for (size_t i = 0; i < r->sentences[s].n_items; i++) {
            const struct pl_tts_item *it = &r->sentences[s].items[i];
            if (it->kind == PL_TTS_ITEM_WORD && strcmp(it->text, w) == 0)
                return it;
        }
    }
    return NULL;
}

START_TEST(front_end_run) {
    struct pl_tts_lexicon *cmu = cmu_load();
    int calls = 0;
    struct pl_tts_front_opts fo = {.cmu = cmu, .g2p = fake_g2p, .g2p_ud = &calls, .max_words = 0};
    struct pl_tts_front *f = NULL;
    ck_assert_int_eq(pl_tts_front_create(&fo, &f), PL_OK);
    struct pl_tts_result *r = NULL;
    char err[256] = "";
    const char *text = "Hello, FBI. The parley costs $5 for blorfix and qwzrt grelbonk's snarfulator!";
    ck_assert_int_eq(pl_tts_front_run(f, text, PL_TTS_INPUT_AUTO, "parley  P AA1 R L IY0", &r, err,
                                      sizeof err), PL_OK);
    ck_assert_str_eq(r->normalized, "hello, f b i. the parley costs five dollars for blorfix and "
                                    "qwzrt grelbonk's snarfulator!");
    ck_assert_uint_eq(r->n_sentences, 2);
    const struct pl_tts_item *it = find_word(r, "parley");
    ck_assert_int_eq(it->pron, PL_TTS_PRON_REQUEST);
    ck_assert_uint_eq(it->n_phones, 5);
    it = find_word(r, "hello");
    ck_assert_int_eq(it->pron, PL_TTS_PRON_CMU);
    ck_assert_uint_eq(it->src_start, 0);
    ck_assert_uint_eq(it->src_end, 5);
    it = find_word(r, "b");
    ck_assert_int_eq(it->pron, PL_TTS_PRON_LETTERS);
    ck_assert_str_eq(pl_tts_phone_name(it->phones[1]), "IY1");
    ck_assert_int_eq(find_word(r, "blorfix")->pron, PL_TTS_PRON_G2P);
    ck_assert_int_eq(find_word(r, "qwzrt")->pron, PL_TTS_PRON_LETTERS);
    ck_assert_int_eq(find_word(r, "snarfulator")->pron, PL_TTS_PRON_NONE);
    ck_assert_int_eq(find_word(r, "grelbonk's")->pron, PL_TTS_PRON_NONE);
    ck_assert_uint_eq(r->n_oov, 2);
    ck_assert(calls >= 2);
    /* the first sentence ends with a pause item */
    const struct pl_tts_sentence *s0 = &r->sentences[0];
    ck_assert_int_eq(s0->items[s0->n_items - 1].kind, PL_TTS_ITEM_PAUSE);
    ck_assert_int_eq(s0->items[s0->n_items - 1].punct, PL_TTS_PUNCT_PERIOD);
    pl_tts_result_destroy(r);

    /* SSML through the front end */
    const char *x = "<speak>Say <phoneme alphabet=\"x-arpabet\" ph=\"T AH0 M EY1 T OW2\">tomato</phoneme>"
                    "<break time=\"1s\"/><prosody rate=\"fast\">quickly</prosody>. "
                    "<sub alias=\"World Wide Web\">WWW</sub> <say-as interpret-as=\"characters\">ab</say-as></speak>";
    ck_assert_int_eq(pl_tts_front_run(f, x, PL_TTS_INPUT_AUTO, NULL, &r, err, sizeof err), PL_OK);
    ck_assert_str_eq(r->normalized, "say tomato quickly. world wide web a b");
    it = find_word(r, "tomato");
    ck_assert_int_eq(it->pron, PL_TTS_PRON_SSML);
    ck_assert_str_eq(pl_tts_phone_name(it->phones[5]), "OW2");
    ck_assert_float_eq_tol(find_word(r, "quickly")->prosody.rate, 1.25, 1e-6);
    it = find_word(r, "wide");
    ck_assert_uint_eq(it->src_start, strstr(x, "<sub") - x);
    ck_assert_uint_eq(it->src_end, strstr(x, "</sub>") - x + 6);
    ck_assert_int_eq(r->sentences[0].items[2].kind, PL_TTS_ITEM_PAUSE);
    ck_assert_int_eq(r->sentences[0].items[2].pause_ms, 1000);
    pl_tts_result_destroy(r);

    /* errors come back in err */
    ck_assert_int_eq(pl_tts_front_run(f, "<speak>oops", PL_TTS_INPUT_AUTO, NULL, &r, err, sizeof err),
                     PL_E_FORMAT);
    ck_assert_ptr_null(r);
    ck_assert_ptr_nonnull(strstr(err, "unterminated <speak>"));
    ck_assert_int_eq(pl_tts_front_run(f, "hi", PL_TTS_INPUT_AUTO, "bad", &r, err, sizeof err), PL_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(err, "'bad'"));
    ck_assert_int_eq(pl_tts_front_run(f, "bad \xc0\xaf", PL_TTS_INPUT_TEXT, NULL, &r, err, sizeof err),
                     PL_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(err, "invalid UTF-8 at byte 4"));
    /* "<speak>" read as plain text when asked */
    ck_assert_int_eq(pl_tts_front_run(f, "<speak>", PL_TTS_INPUT_TEXT, NULL, &r, err, sizeof err), PL_OK);
    ck_assert_str_eq(r->normalized, "less than speak greater than");
    pl_tts_result_destroy(r);
    /* emoji only, punctuation only, control characters: empty results */
    const char *empties[] = {"\xf0\x9f\x98\x80\xf0\x9f\x8e\x89", "?!...;;", "\x01\x02\x03\x1b\x7f", ""};
    for (size_t i = 0; i < 4; i++) {
        ck_assert_int_eq(pl_tts_front_run(f, empties[i], PL_TTS_INPUT_AUTO, NULL, &r, err, sizeof err),
                         PL_OK);
        ck_assert_uint_eq(r->n_words, 0);
        pl_tts_result_destroy(r);
    }
    pl_tts_front_destroy(f);
    pl_tts_lexicon_destroy(cmu);
}
END_TEST

START_TEST(front_end_long_text) {
    struct pl_tts_lexicon *cmu = cmu_load();
    struct pl_tts_front_opts fo = {.cmu = cmu, .max_words = 20};
    struct pl_tts_front *f = NULL;
    ck_assert_int_eq(pl_tts_front_create(&fo, &f), PL_OK);
    size_t cap = 100 * 1024;
    char *big = malloc(cap + 1);
    const char *piece = "the quick brown fox jumps over the lazy dog and keeps running, ";
    size_t len = 0, pl = strlen(piece);
    while (len + pl <= cap) {
        memcpy(big + len, piece, pl);
        len += pl;
    }
    big[len] = '\0';
    struct pl_tts_result *r = NULL;
    char err[256];
    ck_assert_int_eq(pl_tts_front_run(f, big, PL_TTS_INPUT_AUTO, NULL, &r, err, sizeof err), PL_OK);
    ck_assert_uint_gt(r->n_sentences, 100);
    for (size_t s = 0; s < r->n_sentences; s++) {
        int w = 0;
        for (size_t i = 0; i < r->sentences[s].n_items; i++)
            w += r->sentences[s].items[i].kind == PL_TTS_ITEM_WORD;
        ck_assert_int_le(w, 20);
    }
    ck_assert_uint_eq(r->n_oov, 0);
    pl_tts_result_destroy(r);
    /* raw split of the same text streams in pieces too (one sentence: no marks) */
    struct pl_tts_span *sp;
    size_t n;
    ck_assert_int_eq(pl_tts_split_text(big, len, &sp, &n), PL_OK);
    ck_assert_uint_eq(n, 1);
    pl_free(sp);
    free(big);
    pl_tts_front_destroy(f);
    pl_tts_lexicon_destroy(cmu);
}
END_TEST

START_TEST(oom_cleanup) {
    const char *x = "<speak>Dr. Smith paid <prosody rate=\"slow\">$3.50</prosody> on 2024-03-05."
                    "<break time=\"1s\"/> Call 555-123-4567!</speak>";
    struct pl_tts_front_opts fo = {0};
    for (int k = 0; k < 200; k++) {
        struct pl_tts_front *f = NULL;
        struct pl_tts_result *r = NULL;
        pl_alloc_fail_after(k);
        pl_status st = pl_tts_front_create(&fo, &f);
        if (st == PL_OK)
            st = pl_tts_front_run(f, x, PL_TTS_INPUT_AUTO, "parley  P AA1 R L IY0", &r, NULL, 0);
        pl_alloc_fail_after(-1);
        ck_assert_msg(st == PL_OK || st == PL_E_NOMEM, "k=%d st=%d %s", k, st, pl_last_error());
        if (st == PL_OK)
            ck_assert_str_eq(r->normalized, "doctor smith paid three dollars fifty cents on march "
                                            "fifth twenty twenty four. call five five five, one two "
                                            "three, four five six seven!");
        pl_tts_result_destroy(r);
        pl_tts_front_destroy(f);
    }
    struct pl_alloc_stats as;
    pl_alloc_stats(&as);
    ck_assert_int_eq(as.blocks_in_use, 0);
}
END_TEST

Suite *pl_tts_front_suite(void) {
    Suite *s = suite_create("tts_front");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, normalize_table);
    tcase_add_test(tc, normalize_spans);
    tcase_add_test(tc, normalize_bad_input);
    tcase_add_test(tc, say_as_modes);
    tcase_add_test(tc, split_text_rules);
    tcase_add_test(tc, split_tokens_cap);
    tcase_add_test(tc, phones_and_ipa);
    tcase_add_test(tc, lexicon_cmu);
    tcase_add_test(tc, lexicon_missing_or_bad_file);
    tcase_add_test(tc, custom_dictionary);
    tcase_add_test(tc, ssml_segments);
    tcase_add_test(tc, ssml_errors);
    tcase_add_test(tc, ssml_deep_nesting);
    tcase_add_test(tc, front_end_run);
    tcase_add_test(tc, front_end_long_text);
    tcase_add_test(tc, oom_cleanup);
    suite_add_tcase(s, tc);
    return s;
}
