/* test_wordpiece.c - BERT WordPiece: vocabulary, basic tokenization edge
 * cases, offsets, pairs, truncation, windows, OOM, threads and the CLI. */
#include <check.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "wordpiece.h"
#include "wordpiece_cli.h"

/* A small vocabulary: ids are line numbers. */
static const char small_vocab[] = "[PAD]\n"       /* 0 */
                                  "[UNK]\n"       /* 1 */
                                  "[CLS]\n"       /* 2 */
                                  "[SEP]\n"       /* 3 */
                                  "[MASK]\n"      /* 4 */
                                  "hello\n"       /* 5 */
                                  "world\n"       /* 6 */
                                  "##s\n"         /* 7 */
                                  "un\n"          /* 8 */
                                  "##aff\n"       /* 9 */
                                  "##able\n"      /* 10 */
                                  "!\n"           /* 11 */
                                  ",\n"           /* 12 */
                                  "Héllo\n"       /* 13 */
                                  "a\n"           /* 14 */
                                  "##a\n"         /* 15 */
                                  "北\n"          /* 16 */
                                  "##北\n"        /* 17 */
                                  "  spaced \r\n" /* 18: stripped to "spaced" */
                                  "world";        /* 19: duplicate, no final newline: wins */

static struct pl_wordpiece *small(bool lower) {
    struct pl_wordpiece_opts o;
    pl_wordpiece_opts_default(&o);
    o.do_lower_case = lower;
    struct pl_wordpiece *tok = NULL;
    pl_status st = pl_wordpiece_create_from_buffer(small_vocab, strlen(small_vocab), &o, &tok);
    ck_assert_msg(st == PL_OK, "create: %s", pl_last_error());
    return tok;
}

static char vocab_path[4096];

static struct pl_wordpiece *bert(void) {
    const char *d = getenv("PARLEY_DATA_DIR");
    ck_assert_msg(d != NULL, "PARLEY_DATA_DIR is not set");
    snprintf(vocab_path, sizeof vocab_path, "%s/vocab/bert-base-uncased-vocab.txt", d);
    struct pl_wordpiece *tok = NULL;
    pl_status st = pl_wordpiece_create(vocab_path, NULL, &tok);
    ck_assert_msg(st == PL_OK, "create %s: %s", vocab_path, pl_last_error());
    return tok;
}

static int32_t id_of(const struct pl_wordpiece *tok, const char *piece) {
    int32_t id = pl_wordpiece_lookup(tok, piece, strlen(piece));
    ck_assert_msg(id >= 0, "piece %s not in vocabulary", piece);
    return id;
}

/* Raw tokens of s: pieces joined by ' ' into out. Returns the count. */
struct raw {
    int32_t n;
    int32_t *ids, *words;
    struct pl_token_offset *offs;
};

static struct raw tokenize(const struct pl_wordpiece *tok, const char *s, size_t len) {
    struct raw r;
    pl_status st = pl_wordpiece_tokenize(tok, s, len, &r.n, &r.ids, &r.words, &r.offs);
    ck_assert_msg(st == PL_OK, "tokenize: %s", pl_last_error());
    return r;
}

static void raw_free(struct raw *r) {
    pl_free(r->ids);
    pl_free(r->words);
    pl_free(r->offs);
}

static void pieces(const struct pl_wordpiece *tok, const struct raw *r, char *out, size_t cap) {
    out[0] = '\0';
    for (int32_t i = 0; i < r->n; i++) {
        if (i) strncat(out, " ", cap - strlen(out) - 1);
        strncat(out, pl_wordpiece_piece(tok, r->ids[i]), cap - strlen(out) - 1);
    }
}

#define CHECK_OFF(o, cs, ce, bs, be)                                                               \
    do {                                                                                           \
        ck_assert_int_eq((o).char_start, (cs));                                                    \
        ck_assert_int_eq((o).char_end, (ce));                                                      \
        ck_assert_int_eq((o).byte_start, (bs));                                                    \
        ck_assert_int_eq((o).byte_end, (be));                                                      \
    } while (0)

START_TEST(test_vocab) {
    struct pl_wordpiece *tok = small(true);
    ck_assert_int_eq(pl_wordpiece_vocab_size(tok), 20);
    ck_assert_int_eq(pl_wordpiece_special_id(tok, PL_WORDPIECE_PAD), 0);
    ck_assert_int_eq(pl_wordpiece_special_id(tok, PL_WORDPIECE_UNK), 1);
    ck_assert_int_eq(pl_wordpiece_special_id(tok, PL_WORDPIECE_CLS), 2);
    ck_assert_int_eq(pl_wordpiece_special_id(tok, PL_WORDPIECE_SEP), 3);
    ck_assert_int_eq(pl_wordpiece_special_id(tok, PL_WORDPIECE_MASK), 4);
    ck_assert_int_eq(pl_wordpiece_lookup(tok, "hello", 5), 5);
    ck_assert_int_eq(pl_wordpiece_lookup(tok, "##s", 3), 7);
    ck_assert_int_eq(pl_wordpiece_lookup(tok, "spaced", 6), 18);
    ck_assert_int_eq(pl_wordpiece_lookup(tok, "world", 5), 19); /* later duplicate wins */
    ck_assert_int_eq(pl_wordpiece_lookup(tok, "worl", 4), -1);
    ck_assert_int_eq(pl_wordpiece_lookup(tok, "s", 1), -1);
    ck_assert_str_eq(pl_wordpiece_piece(tok, 6), "world");
    ck_assert_str_eq(pl_wordpiece_piece(tok, 18), "spaced");
    ck_assert_ptr_null(pl_wordpiece_piece(tok, 20));
    ck_assert_ptr_null(pl_wordpiece_piece(tok, -1));
    ck_assert(pl_wordpiece_get_opts(tok)->do_lower_case);
    ck_assert_int_eq(pl_wordpiece_get_opts(tok)->max_input_chars_per_word, 100);
    pl_wordpiece_destroy(tok);
    pl_wordpiece_destroy(NULL);

    struct pl_wordpiece *t2 = bert();
    ck_assert_int_eq(pl_wordpiece_vocab_size(t2), 30522);
    ck_assert_int_eq(pl_wordpiece_special_id(t2, PL_WORDPIECE_UNK), 100);
    ck_assert_int_eq(pl_wordpiece_special_id(t2, PL_WORDPIECE_CLS), 101);
    ck_assert_int_eq(pl_wordpiece_special_id(t2, PL_WORDPIECE_SEP), 102);
    ck_assert_int_eq(id_of(t2, "hello"), 7592);
    pl_wordpiece_destroy(t2);
}
END_TEST

START_TEST(test_vocab_errors) {
    struct pl_wordpiece *tok = (struct pl_wordpiece *)&tok; /* must be reset to NULL */
    const char *no_unk = "[CLS]\n[SEP]\nhello\n";
    ck_assert_int_eq(pl_wordpiece_create_from_buffer(no_unk, strlen(no_unk), NULL, &tok),
                     PL_E_FORMAT);
    ck_assert_ptr_null(tok);
    ck_assert_ptr_nonnull(strstr(pl_last_error(), "[UNK]"));
    const char *bad = "[UNK]\n[CLS]\n[SEP]\nab\xff\n";
    ck_assert_int_eq(pl_wordpiece_create_from_buffer(bad, strlen(bad), NULL, &tok), PL_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(pl_last_error(), "line 4"));
    ck_assert_int_eq(pl_wordpiece_create_from_buffer("", 0, NULL, &tok), PL_E_FORMAT);
    char path[] = "/tmp/pl_wp_vocabXXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, no_unk, strlen(no_unk)), (ssize_t)strlen(no_unk));
    close(fd);
    ck_assert_int_eq(pl_wordpiece_create(path, NULL, &tok), PL_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(pl_last_error(), path));
    ck_assert_ptr_nonnull(strstr(pl_last_error(), "no [UNK] token"));
    unlink(path);
    ck_assert_int_eq(pl_wordpiece_create("/nonexistent/vocab.txt", NULL, &tok), PL_E_IO);
    ck_assert_ptr_null(tok);
    ck_assert_int_eq(pl_wordpiece_create(NULL, NULL, &tok), PL_E_INVALID_ARG);
    struct pl_wordpiece_opts o = {.do_lower_case = true, .max_input_chars_per_word = 0};
    ck_assert_int_eq(pl_wordpiece_create_from_buffer(small_vocab, strlen(small_vocab), &o, &tok),
                     PL_E_INVALID_ARG);
    ck_assert_ptr_null(tok);
}
END_TEST

START_TEST(test_empty_and_whitespace) {
    struct pl_wordpiece *tok = small(true);
    const char *texts[] = {
        "", "   ", " \t\r\n ", "\xc2\xa0\xe3\x80\x80", "\x01\x02\x7f", "\xe2\x80\x8b"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        struct raw r = tokenize(tok, texts[i], strlen(texts[i]));
        ck_assert_msg(r.n == 0, "text %zu gave %d tokens", i, r.n);
        ck_assert_ptr_null(r.ids);
        struct pl_encoding *e = NULL;
        ck_assert_int_eq(pl_wordpiece_encode(tok, texts[i], strlen(texts[i]), NULL, &e), PL_OK);
        ck_assert_int_eq(e->n, 2);
        ck_assert_int_eq(e->ids[0], 2);
        ck_assert_int_eq(e->ids[1], 3);
        ck_assert_int_eq(e->seq[0], -1);
        ck_assert_int_eq(e->word_ids[1], -1);
        CHECK_OFF(e->offsets[0], 0, 0, 0, 0);
        pl_encoding_destroy(e);
    }
    /* NULL text with length 0 is the empty text. */
    struct pl_encoding *e = NULL;
    ck_assert_int_eq(pl_wordpiece_encode(tok, NULL, 0, NULL, &e), PL_OK);
    ck_assert_int_eq(e->n, 2);
    pl_encoding_destroy(e);
    pl_encoding_destroy(NULL);
    pl_wordpiece_destroy(tok);
}
END_TEST

START_TEST(test_control_chars) {
    struct pl_wordpiece *tok = small(true);
    /* Control and format characters vanish without splitting the word;
     * NUL and U+FFFD too. The span covers the dropped characters inside. */
    const char s[] = "hel\x01lo\x00, wor\xe2\x80\x8bld\xef\xbf\xbd!";
    struct raw r = tokenize(tok, s, sizeof s - 1);
    char buf[256];
    pieces(tok, &r, buf, sizeof buf);
    ck_assert_str_eq(buf, "hello , world !");
    CHECK_OFF(r.offs[0], 0, 6, 0, 6);
    CHECK_OFF(r.offs[1], 7, 8, 7, 8);
    CHECK_OFF(r.offs[2], 9, 15, 9, 17);
    CHECK_OFF(r.offs[3], 16, 17, 20, 21);
    ck_assert_int_eq(r.words[0], 0);
    ck_assert_int_eq(r.words[3], 3);
    raw_free(&r);
    pl_wordpiece_destroy(tok);
}
END_TEST

START_TEST(test_accents_and_case) {
    struct pl_wordpiece *tok = bert();
    const char *s = "H\xc3\xa9llo, W\xc3\x96RLD!"; /* "Héllo, WÖRLD!" */
    struct raw r = tokenize(tok, s, strlen(s));
    ck_assert_int_eq(r.n, 4);
    ck_assert_int_eq(r.ids[0], id_of(tok, "hello"));
    ck_assert_int_eq(r.ids[1], id_of(tok, ","));
    ck_assert_int_eq(r.ids[2], id_of(tok, "world"));
    ck_assert_int_eq(r.ids[3], id_of(tok, "!"));
    CHECK_OFF(r.offs[0], 0, 5, 0, 6); /* the original "Héllo", 6 bytes */
    CHECK_OFF(r.offs[1], 5, 6, 6, 7);
    CHECK_OFF(r.offs[2], 7, 12, 8, 14);
    CHECK_OFF(r.offs[3], 12, 13, 14, 15);
    raw_free(&r);
    /* Decomposed input: e + U+0301 is one span of two code points. */
    const char *d = "cafe\xcc\x81";
    r = tokenize(tok, d, strlen(d));
    ck_assert_int_eq(r.n, 1);
    ck_assert_int_eq(r.ids[0], id_of(tok, "cafe"));
    CHECK_OFF(r.offs[0], 0, 5, 0, 6);
    raw_free(&r);
    /* U+0130 lower-cases to i + U+0307 (then stripped) like Python. */
    const char *i = "\xc4\xb0stanbul";
    r = tokenize(tok, i, strlen(i));
    ck_assert_int_eq(r.n, 1);
    ck_assert_int_eq(r.ids[0], id_of(tok, "istanbul"));
    CHECK_OFF(r.offs[0], 0, 8, 0, 9);
    raw_free(&r);
    /* Final sigma: "ΑΣ" -> "ας", "ΣΑ" -> "σα". */
    const char *g = "\xce\x91\xce\xa3 \xce\xa3\xce\x91";
    r = tokenize(tok, g, strlen(g));
    char buf[256];
    pieces(tok, &r, buf, sizeof buf);
    ck_assert_str_eq(buf, "\xce\xb1 ##\xcf\x82 \xcf\x83 ##\xce\xb1");
    CHECK_OFF(r.offs[1], 1, 2, 2, 4);
    raw_free(&r);
    pl_wordpiece_destroy(tok);

    /* Cased: no lower-casing, no accent stripping. */
    struct pl_wordpiece *c = small(false);
    const char *ch = "H\xc3\xa9llo hello Hello";
    r = tokenize(c, ch, strlen(ch));
    ck_assert_int_eq(r.n, 3);
    ck_assert_int_eq(r.ids[0], 13);
    ck_assert_int_eq(r.ids[1], 5);
    ck_assert_int_eq(r.ids[2], 1);
    raw_free(&r);
    pl_wordpiece_destroy(c);
}
END_TEST

START_TEST(test_cjk_and_emoji) {
    struct pl_wordpiece *tok = small(true);
    /* CJK ideographs are single-character words, even inside a word. */
    const char *s = "a\xe5\x8c\x97\xe5\x8c\x97"
                    "a";
    struct raw r = tokenize(tok, s, strlen(s));
    ck_assert_int_eq(r.n, 4);
    ck_assert_int_eq(r.ids[0], 14);
    ck_assert_int_eq(r.ids[1], 16); /* "北", never "##北" */
    ck_assert_int_eq(r.ids[2], 16);
    ck_assert_int_eq(r.ids[3], 14);
    CHECK_OFF(r.offs[1], 1, 2, 1, 4);
    CHECK_OFF(r.offs[2], 2, 3, 4, 7);
    CHECK_OFF(r.offs[3], 3, 4, 7, 8);
    ck_assert_int_eq(r.words[3], 3);
    raw_free(&r);
    pl_wordpiece_destroy(tok);

    struct pl_wordpiece *b = bert();
    /* Emoji (4-byte UTF-8) are not in the vocabulary: [UNK] with the span. */
    const char *e = "I \xf0\x9f\x98\x80 pizza \xf0\x9f\x8d\x95!";
    r = tokenize(b, e, strlen(e));
    ck_assert_int_eq(r.n, 5);
    ck_assert_int_eq(r.ids[1], 100);
    CHECK_OFF(r.offs[1], 2, 3, 2, 6);
    ck_assert_int_eq(r.ids[2], id_of(b, "pizza"));
    ck_assert_int_eq(r.ids[3], 100);
    CHECK_OFF(r.offs[3], 10, 11, 13, 17); /* "🍕!" is one word, "!" split off */
    ck_assert_int_eq(r.ids[4], id_of(b, "!"));
    raw_free(&r);
    pl_wordpiece_destroy(b);
}
END_TEST

START_TEST(test_invalid_utf8) {
    struct pl_wordpiece *tok = small(true);
    static const char *bad[] = {
        "\xff",         "abc\xc3",      "\xc0\xaf",         "\xc1\xbf",
        "\xe0\x80\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xf8\x88\x80\x80\x80",
        "\x80",         "ok \xe2\x82",  "\xf0\x9f\x98",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct pl_encoding *e = (struct pl_encoding *)&e;
        ck_assert_msg(pl_wordpiece_encode(tok, bad[i], strlen(bad[i]), NULL, &e) ==
                          PL_E_INVALID_ARG,
                      "case %zu accepted", i);
        ck_assert_ptr_null(e);
        ck_assert_ptr_nonnull(strstr(pl_last_error(), "UTF-8"));
        struct pl_windows *w = (struct pl_windows *)&w;
        struct pl_window_opts wo = {.max_len = 16, .doc_stride = 4};
        ck_assert_int_eq(pl_wordpiece_windows(tok, "hello", 5, bad[i], strlen(bad[i]), &wo, &w),
                         PL_E_INVALID_ARG);
        ck_assert_ptr_null(w);
        ck_assert_int_eq(
            pl_wordpiece_encode_pair(tok, "hello", 5, bad[i], strlen(bad[i]), NULL, &e),
            PL_E_INVALID_ARG);
    }
    /* Boundary code points that are valid. */
    const char *ok = "\xf4\x8f\xbf\xbf \xef\xbf\xbf \xed\x9f\xbf \xee\x80\x80";
    struct raw r = tokenize(tok, ok, strlen(ok));
    ck_assert_int_eq(r.n, 4);
    raw_free(&r);
    /* NULL arguments. */
    struct pl_encoding *e = NULL;
    ck_assert_int_eq(pl_wordpiece_encode(NULL, "a", 1, NULL, &e), PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_wordpiece_encode(tok, NULL, 3, NULL, &e), PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_wordpiece_encode(tok, "a", 1, NULL, NULL), PL_E_INVALID_ARG);
    pl_wordpiece_destroy(tok);
}
END_TEST

START_TEST(test_long_words) {
    struct pl_wordpiece *tok = small(true);
    char w[256];
    memset(w, 'a', sizeof w);
    /* 100 'a' = a ##a x 99; 101 'a' = one [UNK] covering the word. */
    struct raw r = tokenize(tok, w, 100);
    ck_assert_int_eq(r.n, 100);
    ck_assert_int_eq(r.ids[0], 14);
    ck_assert_int_eq(r.ids[99], 15);
    CHECK_OFF(r.offs[99], 99, 100, 99, 100);
    ck_assert_int_eq(r.words[99], 0);
    raw_free(&r);
    r = tokenize(tok, w, 101);
    ck_assert_int_eq(r.n, 1);
    ck_assert_int_eq(r.ids[0], 1);
    CHECK_OFF(r.offs[0], 0, 101, 0, 101);
    raw_free(&r);
    /* The limit counts code points, not bytes: 60 x "é" (120 bytes) is fine,
     * and with an uncovered piece the whole word is one [UNK]. */
    char e[256] = "";
    for (int i = 0; i < 60; i++) strcat(e, "\xc3\xa9");
    r = tokenize(tok, e, strlen(e));
    ck_assert_int_eq(r.n, 1);
    ck_assert_int_eq(r.ids[0], 1);
    CHECK_OFF(r.offs[0], 0, 60, 0, 120);
    raw_free(&r);
    /* A word that cannot be covered: [UNK] once, not per sub-word. */
    r = tokenize(tok, "helloq worlds", 13);
    ck_assert_int_eq(r.n, 3);
    ck_assert_int_eq(r.ids[0], 1);
    CHECK_OFF(r.offs[0], 0, 6, 0, 6);
    ck_assert_int_eq(r.ids[1], 19);
    ck_assert_int_eq(r.ids[2], 7);
    CHECK_OFF(r.offs[2], 12, 13, 12, 13);
    ck_assert_int_eq(r.words[2], 1);
    raw_free(&r);
    /* A custom limit. */
    struct pl_wordpiece_opts o = {.do_lower_case = true, .max_input_chars_per_word = 4};
    struct pl_wordpiece *t4 = NULL;
    ck_assert_int_eq(pl_wordpiece_create_from_buffer(small_vocab, strlen(small_vocab), &o, &t4),
                     PL_OK);
    r = tokenize(t4, "aaaa aaaaa", 10);
    ck_assert_int_eq(r.n, 5);
    ck_assert_int_eq(r.ids[4], 1);
    raw_free(&r);
    pl_wordpiece_destroy(t4);
    pl_wordpiece_destroy(tok);
}
END_TEST

START_TEST(test_subwords_and_punct) {
    struct pl_wordpiece *tok = bert();
    struct raw r = tokenize(tok, "unaffable", 9);
    char buf[512];
    pieces(tok, &r, buf, sizeof buf);
    ck_assert_str_eq(buf, "una ##ffa ##ble");
    CHECK_OFF(r.offs[0], 0, 3, 0, 3);
    CHECK_OFF(r.offs[1], 3, 6, 3, 6);
    CHECK_OFF(r.offs[2], 6, 9, 6, 9);
    ck_assert_int_eq(r.words[2], 0);
    raw_free(&r);
    const char *p = "Wait!!! (yes) -- \xe2\x80\x9cok\xe2\x80\x9d...";
    r = tokenize(tok, p, strlen(p));
    pieces(tok, &r, buf, sizeof buf);
    ck_assert_str_eq(buf, "wait ! ! ! ( yes ) - - \xe2\x80\x9c ok \xe2\x80\x9d . . .");
    for (int32_t i = 0; i < r.n; i++) ck_assert_int_eq(r.words[i], i); /* one word each */
    CHECK_OFF(r.offs[11], 20, 21, 22, 25);                             /* the closing quote */
    raw_free(&r);
    pl_wordpiece_destroy(tok);
}
END_TEST

START_TEST(test_pair) {
    struct pl_wordpiece *tok = small(true);
    struct pl_encoding *e = NULL;
    ck_assert_int_eq(pl_wordpiece_encode_pair(tok, "Hello!", 6, "worlds, a", 9, NULL, &e), PL_OK);
    static const int32_t ids[] = {2, 5, 11, 3, 19, 7, 12, 14, 3};
    static const int32_t types[] = {0, 0, 0, 0, 1, 1, 1, 1, 1};
    static const int8_t seq[] = {-1, 0, 0, -1, 1, 1, 1, 1, -1};
    static const int32_t words[] = {-1, 0, 1, -1, 0, 0, 1, 2, -1};
    ck_assert_int_eq(e->n, 9);
    for (int i = 0; i < 9; i++) {
        ck_assert_int_eq(e->ids[i], ids[i]);
        ck_assert_int_eq(e->type_ids[i], types[i]);
        ck_assert_int_eq(e->seq[i], seq[i]);
        ck_assert_int_eq(e->word_ids[i], words[i]);
    }
    CHECK_OFF(e->offsets[2], 5, 6, 5, 6); /* into "Hello!" */
    CHECK_OFF(e->offsets[5], 5, 6, 5, 6); /* "##s" into "worlds, a" */
    CHECK_OFF(e->offsets[7], 8, 9, 8, 9);
    ck_assert_int_eq(e->n_first, 2);
    ck_assert_int_eq(e->n_second, 4);
    ck_assert_int_eq(e->n_truncated, 0);
    ck_assert_ptr_null(e->max_context);
    pl_encoding_destroy(e);
    /* Without specials. */
    struct pl_encode_opts o = {.no_special_tokens = true};
    ck_assert_int_eq(pl_wordpiece_encode_pair(tok, "hello", 5, "world", 5, &o, &e), PL_OK);
    ck_assert_int_eq(e->n, 2);
    ck_assert_int_eq(e->type_ids[1], 1);
    pl_encoding_destroy(e);
    pl_wordpiece_destroy(tok);
}
END_TEST

static struct pl_encoding *pair_enc(struct pl_wordpiece *tok, const char *a, const char *b,
                                    int32_t max_len, enum pl_truncation t, pl_status want) {
    struct pl_encoding *e = NULL;
    struct pl_encode_opts o = {.max_len = max_len, .truncation = t};
    pl_status st = pl_wordpiece_encode_pair(tok, a, strlen(a), b, strlen(b), &o, &e);
    ck_assert_msg(st == want, "status %d, want %d (%s)", st, want, pl_last_error());
    return e;
}

START_TEST(test_truncation) {
    struct pl_wordpiece *tok = small(true);
    const char *a6 = "a a a a a a", *b3 = "hello hello hello";
    /* Longest first: 6 + 3 into 10 - 3 = 7 -> pop a until 4, then tie pops b. */
    struct pl_encoding *e = pair_enc(tok, a6, b3, 10, PL_TRUNCATE_LONGEST_FIRST, PL_OK);
    ck_assert_int_eq(e->n, 10);
    ck_assert_int_eq(e->n_first, 4);
    ck_assert_int_eq(e->n_second, 3);
    ck_assert_int_eq(e->n_truncated, 2);
    pl_encoding_destroy(e);
    e = pair_enc(tok, a6, b3, 8, PL_TRUNCATE_LONGEST_FIRST, PL_OK);
    ck_assert_int_eq(e->n_first, 3); /* 5 = 3 + 2: the tie at 3/3 popped b */
    ck_assert_int_eq(e->n_second, 2);
    ck_assert_int_eq(e->ids[e->n - 2], 5);
    ck_assert_int_eq(e->ids[e->n - 1], 3);
    pl_encoding_destroy(e);
    /* Only second: the first stays whole. */
    e = pair_enc(tok, b3, a6, 9, PL_TRUNCATE_ONLY_SECOND, PL_OK);
    ck_assert_int_eq(e->n_first, 3);
    ck_assert_int_eq(e->n_second, 3);
    pl_encoding_destroy(e);
    ck_assert_ptr_null(pair_enc(tok, a6, b3, 8, PL_TRUNCATE_ONLY_SECOND, PL_E_INVALID_ARG));
    e = pair_enc(tok, a6, b3, 8, PL_TRUNCATE_ONLY_FIRST, PL_OK);
    ck_assert_int_eq(e->n_first, 2);
    pl_encoding_destroy(e);
    ck_assert_ptr_null(pair_enc(tok, a6, b3, 11, PL_TRUNCATE_ERROR, PL_E_INVALID_ARG));
    e = pair_enc(tok, a6, b3, 12, PL_TRUNCATE_ERROR, PL_OK);
    ck_assert_int_eq(e->n, 12);
    pl_encoding_destroy(e);
    ck_assert_ptr_null(pair_enc(tok, a6, b3, 2, PL_TRUNCATE_LONGEST_FIRST, PL_E_INVALID_ARG));

    /* Single text: cut at the end, keep [SEP] last. */
    struct pl_encode_opts o = {.max_len = 5};
    ck_assert_int_eq(pl_wordpiece_encode(tok, a6, strlen(a6), &o, &e), PL_OK);
    ck_assert_int_eq(e->n, 5);
    ck_assert_int_eq(e->ids[4], 3);
    ck_assert_int_eq(e->n_truncated, 3);
    CHECK_OFF(e->offsets[3], 4, 5, 4, 5);
    pl_encoding_destroy(e);
    o.max_len = 1;
    ck_assert_int_eq(pl_wordpiece_encode(tok, a6, strlen(a6), &o, &e), PL_E_INVALID_ARG);
    o.max_len = -1;
    ck_assert_int_eq(pl_wordpiece_encode(tok, a6, strlen(a6), &o, &e), PL_E_INVALID_ARG);
    pl_wordpiece_destroy(tok);
}
END_TEST

START_TEST(test_windows_qa) {
    struct pl_wordpiece *tok = bert();
    char text[1024] = "";
    for (int i = 0; i < 10; i++) strcat(text, "the cat sat on the mat ");
    struct raw full = tokenize(tok, text, strlen(text));
    ck_assert_int_eq(full.n, 60);
    struct pl_window_opts wo = {.max_len = 20, .doc_stride = 5, .max_first_len = 0};
    struct pl_windows *w = NULL;
    ck_assert_int_eq(pl_wordpiece_windows(tok, "What sat?", 9, text, strlen(text), &wo, &w), PL_OK);
    /* room = 20 - 3 - 3 = 14; starts 0, 5, ..., 50 (50 + 10 reaches the end). */
    ck_assert_int_eq(w->n, 11);
    ck_assert_int_eq(w->n_text_tokens, 60);
    int hits[60] = {0};
    for (int32_t i = 0; i < w->n; i++) {
        const struct pl_encoding *e = &w->windows[i];
        ck_assert_int_eq(e->window_start, 5 * i);
        int32_t len = i < 10 ? 14 : 10;
        ck_assert_int_eq(e->n, 3 + 3 + len);
        ck_assert_int_eq(e->n_first, 3);
        ck_assert_int_eq(e->n_second, len);
        ck_assert_int_eq(e->ids[0], 101);
        ck_assert_int_eq(e->ids[1], id_of(tok, "what"));
        ck_assert_int_eq(e->ids[4], 102);
        ck_assert_int_eq(e->ids[e->n - 1], 102);
        ck_assert_int_eq(e->type_ids[4], 0);
        ck_assert_int_eq(e->type_ids[5], 1);
        ck_assert_int_eq(e->type_ids[e->n - 1], 1);
        CHECK_OFF(e->offsets[3], 8, 9, 8, 9); /* "?" in the question */
        ck_assert_int_eq(e->max_context[1], 0);
        for (int32_t j = 0; j < len; j++) {
            int32_t p = e->window_start + j;
            ck_assert_int_eq(e->ids[5 + j], full.ids[p]);
            ck_assert_int_eq(e->seq[5 + j], 1);
            ck_assert_int_eq(e->word_ids[5 + j], full.words[p]);
            CHECK_OFF(e->offsets[5 + j], full.offs[p].char_start, full.offs[p].char_end,
                      full.offs[p].byte_start, full.offs[p].byte_end);
            hits[p] += e->max_context[5 + j];
        }
    }
    for (int p = 0; p < 60; p++)
        ck_assert_msg(hits[p] == 1, "token %d max in %d windows", p, hits[p]);
    /* Token 7: window 0 (left 7, right 6) beats window 1 (left 2, right 11). */
    ck_assert_int_eq(w->windows[0].max_context[5 + 7], 1);
    ck_assert_int_eq(w->windows[1].max_context[5 + 2], 0);
    pl_windows_destroy(w);

    /* Question cut to max_first_len; no stride = side by side. */
    struct pl_window_opts w2 = {.max_len = 20, .doc_stride = 0, .max_first_len = 2};
    ck_assert_int_eq(pl_wordpiece_windows(tok, "What sat?", 9, text, strlen(text), &w2, &w), PL_OK);
    ck_assert_int_eq(w->n, 4); /* room 15: 0, 15, 30, 45 */
    ck_assert_int_eq(w->windows[3].window_start, 45);
    ck_assert_int_eq(w->windows[3].n_first, 2);
    ck_assert_int_eq(w->windows[3].ids[3], 102);
    pl_windows_destroy(w);

    /* Errors: no room, negative stride. */
    struct pl_window_opts w3 = {.max_len = 6, .doc_stride = 1};
    ck_assert_int_eq(pl_wordpiece_windows(tok, "What sat?", 9, text, strlen(text), &w3, &w),
                     PL_E_INVALID_ARG);
    ck_assert_ptr_null(w);
    struct pl_window_opts w4 = {.max_len = 64, .doc_stride = -1};
    ck_assert_int_eq(pl_wordpiece_windows(tok, NULL, 0, text, strlen(text), &w4, &w),
                     PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_wordpiece_windows(tok, NULL, 0, text, strlen(text), NULL, &w),
                     PL_E_INVALID_ARG);
    raw_free(&full);
    pl_wordpiece_destroy(tok);
}
END_TEST

START_TEST(test_windows_single) {
    struct pl_wordpiece *tok = small(true);
    struct pl_window_opts wo = {.max_len = 6, .doc_stride = 2};
    struct pl_windows *w = NULL;
    /* 7 tokens, room 4, stride 2: starts 0, 2, 4 (4 + 3 reaches 7). */
    ck_assert_int_eq(pl_wordpiece_windows(tok, NULL, 0, "a a a a a a hello", 17, &wo, &w), PL_OK);
    ck_assert_int_eq(w->n, 3);
    ck_assert_int_eq(w->windows[2].window_start, 4);
    ck_assert_int_eq(w->windows[2].n, 5);
    ck_assert_int_eq(w->windows[2].ids[3], 5);
    CHECK_OFF(w->windows[2].offsets[3], 12, 17, 12, 17);
    ck_assert_int_eq(w->windows[2].type_ids[3], 0);
    ck_assert_int_eq(w->windows[2].seq[3], 0);
    ck_assert_int_eq(w->windows[1].n_first, 4);
    ck_assert_int_eq(w->windows[1].n_second, 0);
    /* max_context: positions 0,1 -> w0; 2 -> w0 (tie keeps the first) ... */
    ck_assert_int_eq(w->windows[0].max_context[1 + 1], 1);
    ck_assert_int_eq(w->windows[1].max_context[1 + 1], 1); /* position 3 */
    ck_assert_int_eq(w->windows[0].max_context[1 + 3], 0);
    pl_windows_destroy(w);
    /* max_context against a brute-force run_squad over every window, for
     * many sizes and strides. */
    char many[400];
    for (int t = 0; t < 40; t++) memcpy(many + 2 * t, "a ", 2);
    for (int32_t ml = 3; ml <= 12; ml++) {
        for (int32_t sd = 0; sd <= 12; sd++) {
            struct pl_window_opts o2 = {.max_len = ml, .doc_stride = sd};
            ck_assert_int_eq(pl_wordpiece_windows(tok, NULL, 0, many, 80, &o2, &w), PL_OK);
            ck_assert_int_eq(w->n_text_tokens, 40);
            for (int32_t i = 0; i < w->n; i++) {
                const struct pl_encoding *ei = &w->windows[i];
                for (int32_t j = 0; j < ei->n_first; j++) {
                    int32_t pos = ei->window_start + j, best_i = -1;
                    double best = -1;
                    for (int32_t k = 0; k < w->n; k++) {
                        const struct pl_encoding *ek = &w->windows[k];
                        int32_t end = ek->window_start + ek->n_first - 1;
                        if (pos < ek->window_start || pos > end) continue;
                        int32_t l = pos - ek->window_start, r = end - pos;
                        double score = (l < r ? l : r) + 0.01 * ek->n_first;
                        if (score > best + 1e-9) {
                            best = score;
                            best_i = k;
                        }
                    }
                    ck_assert_msg(ei->max_context[1 + j] == (best_i == i),
                                  "max_len %d stride %d window %d pos %d", ml, sd, i, pos);
                }
            }
            pl_windows_destroy(w);
        }
    }
    /* Too many windows for one call. */
    size_t big_len = 2 * 70000;
    char *big = pl_malloc(big_len);
    for (size_t k = 0; k < big_len; k += 2) memcpy(big + k, "a ", 2);
    struct pl_window_opts o3 = {.max_len = 3, .doc_stride = 1};
    ck_assert_int_eq(pl_wordpiece_windows(tok, NULL, 0, big, big_len, &o3, &w), PL_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(pl_last_error(), "limit"));
    o3.max_len = 4; /* room 2 with stride 1: 69,999 windows */
    ck_assert_int_eq(pl_wordpiece_windows(tok, NULL, 0, big, big_len, &o3, &w), PL_E_INVALID_ARG);
    pl_free(big);
    /* Empty text: one window [CLS] [SEP]. */
    ck_assert_int_eq(pl_wordpiece_windows(tok, NULL, 0, "", 0, &wo, &w), PL_OK);
    ck_assert_int_eq(w->n, 1);
    ck_assert_int_eq(w->windows[0].n, 2);
    pl_windows_destroy(w);
    pl_windows_destroy(NULL);
    /* A short text fits one window. */
    ck_assert_int_eq(pl_wordpiece_windows(tok, "hello", 5, "world", 5, &wo, &w), PL_OK);
    ck_assert_int_eq(w->n, 1);
    ck_assert_int_eq(w->windows[0].n, 5);
    ck_assert_int_eq(w->windows[0].max_context[3], 1);
    pl_windows_destroy(w);
    pl_wordpiece_destroy(tok);
}
END_TEST

static uint32_t rng_next(uint32_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

static size_t put_cp(char *d, uint32_t c) {
    if (c < 0x80) {
        d[0] = (char)c;
        return 1;
    } else if (c < 0x800) {
        d[0] = (char)(0xC0 | (c >> 6));
        d[1] = (char)(0x80 | (c & 0x3F));
        return 2;
    } else if (c < 0x10000) {
        d[0] = (char)(0xE0 | (c >> 12));
        d[1] = (char)(0x80 | ((c >> 6) & 0x3F));
        d[2] = (char)(0x80 | (c & 0x3F));
        return 3;
    }
    d[0] = (char)(0xF0 | (c >> 18));
    d[1] = (char)(0x80 | ((c >> 12) & 0x3F));
    d[2] = (char)(0x80 | ((c >> 6) & 0x3F));
    d[3] = (char)(0x80 | (c & 0x3F));
    return 4;
}

/* Random text (valid or not) never crashes; valid text gives spans that lie
 * on character boundaries, agree between bytes and code points, and never
 * go backwards. */
START_TEST(test_random_input) {
    struct pl_wordpiece *tok = bert();
    uint32_t seed = 0x9E3779B9u;
    static const uint32_t pool[] = {' ', 'a', 'Z', '.', '\'', '\t', 0x01, 0xE9, 0x301, 0x3A3,
                                    0x130, 0x4E2D, 0xAC00, 0x1F600, 0x200B, 0xFFFD, 0x2028, 0x0};
    int valid = 0, invalid = 0;
    for (int iter = 0; iter < 2000; iter++) {
        char buf[1024];
        size_t len = 0;
        int n = (int)(rng_next(&seed) % 120);
        bool garbage = rng_next(&seed) % 4 == 0;
        for (int k = 0; k < n; k++) {
            uint32_t r = rng_next(&seed);
            if (garbage && r % 17 == 0) {
                buf[len++] = (char)(0x80 + r % 0x80); /* a stray high byte */
                continue;
            }
            uint32_t c;
            switch (r % 4) {
            case 0: c = pool[(r >> 8) % (sizeof pool / sizeof pool[0])]; break;
            case 1: c = 'a' + (r >> 8) % 26; break;
            case 2: c = 0x20 + (r >> 8) % 0x5F; break;
            default:
                c = (r >> 8) % 0x110000;
                if (c >= 0xD800 && c <= 0xDFFF) c = 'x';
            }
            len += put_cp(buf + len, c);
        }
        int32_t nt, *ids, *words;
        struct pl_token_offset *offs;
        pl_status st = pl_wordpiece_tokenize(tok, buf, len, &nt, &ids, &words, &offs);
        ck_assert_msg(st == PL_OK || st == PL_E_INVALID_ARG, "iter %d: status %d", iter, st);
        if (st != PL_OK) {
            ck_assert_msg(garbage, "iter %d: valid UTF-8 rejected", iter);
            invalid++;
            continue;
        }
        valid++;
        int32_t prev = 0;
        for (int32_t i = 0; i < nt; i++) {
            const struct pl_token_offset *o = &offs[i];
            ck_assert_msg(o->byte_start < o->byte_end && (size_t)o->byte_end <= len,
                          "iter %d token %d: bytes [%d,%d) of %zu", iter, i, o->byte_start,
                          o->byte_end, len);
            ck_assert_int_lt(o->char_start, o->char_end);
            ck_assert_int_ge(o->char_start, prev);
            prev = o->char_start;
            /* byte offsets sit on character starts and match the code-point offsets */
            int32_t cs = 0, ce = 0;
            for (int32_t b = 0; b < o->byte_end; b++) {
                bool lead = ((unsigned char)buf[b] & 0xC0) != 0x80;
                if (lead && b < o->byte_start) cs++;
                if (lead) ce++;
            }
            ck_assert_msg(cs == o->char_start && ce == o->char_end,
                          "iter %d token %d: chars [%d,%d) but bytes give [%d,%d)", iter, i,
                          o->char_start, o->char_end, cs, ce);
            ck_assert((o->byte_end == (int32_t)len) ||
                      ((unsigned char)buf[o->byte_end] & 0xC0) != 0x80);
            ck_assert(ids[i] >= 0 && ids[i] < pl_wordpiece_vocab_size(tok));
            ck_assert(words[i] >= 0 && (i == 0 || words[i] >= words[i - 1]));
        }
        pl_free(ids);
        pl_free(words);
        pl_free(offs);
    }
    ck_assert_int_gt(valid, 1300);
    ck_assert_int_gt(invalid, 60);
    pl_wordpiece_destroy(tok);
}
END_TEST

/* Every allocation failure must give PL_E_NOMEM and leak nothing. */
START_TEST(test_oom) {
    int nomem = 0, ok = 0;
    struct pl_alloc_stats before, after;
    pl_alloc_stats(&before);
    for (int64_t i = 0; i < 200; i++) {
        pl_alloc_fail_after(i);
        struct pl_wordpiece *tok = NULL;
        struct pl_encoding *e = NULL;
        struct pl_windows *w = NULL;
        pl_status st =
            pl_wordpiece_create_from_buffer(small_vocab, strlen(small_vocab), NULL, &tok);
        if (st == PL_OK) {
            struct pl_window_opts wo = {.max_len = 6, .doc_stride = 1};
            st = pl_wordpiece_encode_pair(tok, "hello worlds", 12, "unaffable!", 10, NULL, &e);
            if (st == PL_OK) st = pl_wordpiece_windows(tok, "a", 1, "a a a a a a a a", 15, &wo, &w);
        }
        pl_alloc_fail_after(-1);
        ck_assert_msg(st == PL_OK || st == PL_E_NOMEM, "fail_after %lld: status %d", (long long)i,
                      st);
        if (st == PL_OK)
            ok++;
        else
            nomem++;
        pl_windows_destroy(w);
        pl_encoding_destroy(e);
        pl_wordpiece_destroy(tok);
    }
    pl_alloc_stats(&after);
    ck_assert_int_gt(nomem, 10);
    ck_assert_int_gt(ok, 0);
    ck_assert_int_eq(after.blocks_in_use, before.blocks_in_use);
}
END_TEST

struct thr {
    const struct pl_wordpiece *tok;
    const char *text;
    int32_t n;
    int64_t sum;
};

static void *thr_main(void *arg) {
    struct thr *t = arg;
    for (int k = 0; k < 50; k++) {
        struct pl_encoding *e = NULL;
        if (pl_wordpiece_encode(t->tok, t->text, strlen(t->text), NULL, &e) != PL_OK) return NULL;
        t->n = e->n;
        t->sum = 0;
        for (int32_t i = 0; i < e->n; i++)
            t->sum += (int64_t)e->ids[i] * (i + 1) + e->offsets[i].byte_end;
        pl_encoding_destroy(e);
    }
    return NULL;
}

START_TEST(test_threads) {
    struct pl_wordpiece *tok = bert();
    const char *text = "The quick brown fox jumps over the lazy dog. Caf\xc3\xa9 \xe5\x8c\x97"
                       "\xe4\xba\xac unaffable!";
    struct thr t[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        t[i] = (struct thr){tok, text, -1, 0};
        ck_assert_int_eq(pthread_create(&th[i], NULL, thr_main, &t[i]), 0);
    }
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    ck_assert_int_gt(t[0].n, 10);
    for (int i = 1; i < 4; i++) {
        ck_assert_int_eq(t[i].n, t[0].n);
        ck_assert(t[i].sum == t[0].sum);
    }
    pl_wordpiece_destroy(tok);
}
END_TEST

/* Runs the CLI with stdout and stderr captured into files; returns rc. */
static int run_cli(char **argv, int argc, char *out, size_t cap, char *err, size_t ecap) {
    char o_path[] = "/tmp/pl_wp_outXXXXXX", e_path[] = "/tmp/pl_wp_errXXXXXX";
    int ofd = mkstemp(o_path), efd = mkstemp(e_path);
    ck_assert(ofd >= 0 && efd >= 0);
    fflush(stdout);
    fflush(stderr);
    int so = dup(1), se = dup(2);
    dup2(ofd, 1);
    dup2(efd, 2);
    int rc = pl_cli_model_tokenize(argc, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(so, 1);
    dup2(se, 2);
    close(so);
    close(se);
    ssize_t n = pread(ofd, out, cap - 1, 0);
    out[n > 0 ? n : 0] = '\0';
    n = pread(efd, err, ecap - 1, 0);
    err[n > 0 ? n : 0] = '\0';
    close(ofd);
    close(efd);
    unlink(o_path);
    unlink(e_path);
    return rc;
}

static void write_file(const char *path, const char *s) {
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    fputs(s, f);
    fclose(f);
}

START_TEST(test_cli) {
    char dir[] = "/tmp/pl_wp_modelXXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char vpath[256], cpath[256], out[8192], err[4096];
    snprintf(vpath, sizeof vpath, "%s/my-vocab.txt", dir);
    snprintf(cpath, sizeof cpath, "%s/config.json", dir);
    write_file(vpath, small_vocab);
    /* The model-directory contract of train/README.md. */
    write_file(cpath, "{\"model_type\": \"bert\", \"tokenizer\": {\"type\": \"wordpiece\", "
                      "\"vocab\": \"my-vocab.txt\", \"do_lower_case\": true}}");

    char *a1[] = {"tokenize", dir, "H\xc3\xa9llo worlds!"};
    ck_assert_int_eq(run_cli(a1, 3, out, sizeof out, err, sizeof err), 0);
    char want[2048];
    snprintf(want, sizeof want,
             "{\"vocab\":\"%s\",\"do_lower_case\":true,\"n_tokens\":6,"
             "\"tokens\":[\"[CLS]\",\"hello\",\"world\",\"##s\",\"!\",\"[SEP]\"],"
             "\"ids\":[2,5,19,7,11,3],\"type_ids\":[0,0,0,0,0,0],"
             "\"word_ids\":[null,0,1,1,2,null],"
             "\"char_offsets\":[[0,0],[0,5],[6,11],[11,12],[12,13],[0,0]],"
             "\"byte_offsets\":[[0,0],[0,6],[7,12],[12,13],[13,14],[0,0]]}\n",
             vpath);
    ck_assert_str_eq(out, want);

    /* Cased via the flag: "Héllo" is its own piece. Pair and max-len. */
    char *a2[] = {"tokenize", "--cased", "--pair", "a a", "--max-len", "5", dir, "H\xc3\xa9llo"};
    ck_assert_int_eq(run_cli(a2, 8, out, sizeof out, err, sizeof err), 0);
    ck_assert_msg(strstr(out, "\"ids\":[2,13,3,14,3]") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "\"type_ids\":[0,0,0,1,1]") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "\"n_truncated\":1") != NULL, "%s", out);

    /* No vocabulary in the model dir: --vocab names a directory. */
    char empty[] = "/tmp/pl_wp_emptyXXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(empty));
    char *a3[] = {"tokenize", empty, "hello"};
    ck_assert_int_eq(run_cli(a3, 3, out, sizeof out, err, sizeof err), 1);
    ck_assert_msg(strstr(err, "--vocab") != NULL, "%s", err);
    char *a4[] = {"tokenize", "--vocab", dir, empty, "hello"};
    ck_assert_int_eq(run_cli(a4, 5, out, sizeof out, err, sizeof err), 0);
    ck_assert_msg(strstr(out, "\"ids\":[2,5,3]") != NULL, "%s", out);
    /* --vocab alone with the shared data directory. */
    const char *d = getenv("PARLEY_DATA_DIR");
    ck_assert_ptr_nonnull(d);
    char shared[4096];
    snprintf(shared, sizeof shared, "%s/vocab", d);
    char *a5[] = {"tokenize", "--vocab", shared, "Hello world"};
    ck_assert_int_eq(run_cli(a5, 4, out, sizeof out, err, sizeof err), 0);
    ck_assert_msg(strstr(out, "\"ids\":[101,7592,2088,102]") != NULL, "%s", out);

    /* Errors: usage, invalid UTF-8, bad config. */
    char *a6[] = {"tokenize"};
    ck_assert_int_eq(run_cli(a6, 1, out, sizeof out, err, sizeof err), 2);
    char *a7[] = {"tokenize", "--bogus", dir, "x"};
    ck_assert_int_eq(run_cli(a7, 4, out, sizeof out, err, sizeof err), 2);
    char *a8[] = {"tokenize", dir, "bad \xff"};
    ck_assert_int_eq(run_cli(a8, 3, out, sizeof out, err, sizeof err), 1);
    ck_assert_msg(strstr(err, "UTF-8") != NULL, "%s", err);
    write_file(cpath, "{\"vocab\": ");
    ck_assert_int_eq(run_cli(a1, 3, out, sizeof out, err, sizeof err), 1);
    ck_assert_msg(strstr(err, "invalid JSON") != NULL, "%s", err);
    write_file(cpath, "{\"vocab\": \"missing.txt\"}");
    ck_assert_int_eq(run_cli(a1, 3, out, sizeof out, err, sizeof err), 1);
    char *a9[] = {"tokenize", "--help"};
    ck_assert_int_eq(run_cli(a9, 2, out, sizeof out, err, sizeof err), 0);
    ck_assert_msg(strstr(out, "usage:") != NULL, "%s", out);

    unlink(cpath);
    unlink(vpath);
    rmdir(dir);
    rmdir(empty);
}
END_TEST

Suite *pl_wordpiece_suite(void) {
    Suite *s = suite_create("wordpiece");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_vocab);
    tcase_add_test(tc, test_vocab_errors);
    tcase_add_test(tc, test_empty_and_whitespace);
    tcase_add_test(tc, test_control_chars);
    tcase_add_test(tc, test_accents_and_case);
    tcase_add_test(tc, test_cjk_and_emoji);
    tcase_add_test(tc, test_invalid_utf8);
    tcase_add_test(tc, test_long_words);
    tcase_add_test(tc, test_subwords_and_punct);
    tcase_add_test(tc, test_pair);
    tcase_add_test(tc, test_truncation);
    tcase_add_test(tc, test_windows_qa);
    tcase_add_test(tc, test_windows_single);
    tcase_add_test(tc, test_random_input);
    tcase_add_test(tc, test_oom);
    tcase_add_test(tc, test_threads);
    tcase_add_test(tc, test_cli);
    suite_add_tcase(s, tc);
    return s;
}
