/* test_tts_g2p.c - the graphone G2P decoder (engine/tts/tts_g2p.c): exact decoding on a small
 * hand-made model (backoff, context, word end, input cleaning, caps), every format error,
 * truncations and byte flips, OOM; then the shipped model (models/tts-g2p/g2p.bin) on words
 * outside the CMU dictionary, alone and through the front end's hook. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "tts_front.h"
#include "tts_g2p.h"

#ifndef PARLEY_SOURCE
#error "PARLEY_SOURCE must name the source tree"
#endif
#define SHIPPED PARLEY_SOURCE "/models/tts-g2p/g2p.bin"

/* ---- a hand-made model ---------------------------------------------------------------------
 * Units: 0 end, 1 start, 2 a:AE1, 3 a:EY1, 4 b:B, 5 c:K, 6 ch:CH, 7 h:(none), 8 h:HH.
 * States: 0 the empty history (unigrams), 1 <start>, 2 after c:K. A bigram model:
 *   root:   end -1, a:AE1 -1, a:EY1 -2, b:B -1, c:K -1 (-> state 2), ch:CH -3, h: -2, h:HH -1.5
 *   start:  a:EY1 -0.5; backoff -0.125 to the root
 *   c:K:    h: -0.25, h:HH -5; backoff -0.25 to the root
 * So "a" is EY1 (the start state's arc beats backoff + AE1), "bh" is B HH, "ch" is K (h silent
 * after c: -0.125-1-0.25-1 = -2.375 beats CH at -0.125-3-1). */
struct tarc {
    uint16_t unit;
    float lp;
    uint32_t next;
};

static size_t put32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
    return 4;
}

static uint8_t ph(const char *s) {
    uint8_t id = 0;
    ck_assert(pl_tts_phone_parse(s, strlen(s), &id));
    return id;
}

/* Writes the model into buf (>= 512 bytes); returns its length. */
static size_t tiny_model(unsigned char *buf) {
    static const struct {
        const char *letters, *p0, *p1;
    } units[] = {{"", NULL, NULL},   {"", NULL, NULL},   {"a", "AE1", NULL},
                 {"a", "EY1", NULL}, {"b", "B", NULL},   {"c", "K", NULL},
                 {"ch", "CH", NULL}, {"h", NULL, NULL},  {"h", "HH", NULL}};
    static const struct tarc root[] = {{0, -1, 0},   {2, -1, 0}, {3, -2, 0},   {4, -1, 0},
                                       {5, -1, 2},   {6, -3, 0}, {7, -2, 0},   {8, -1.5f, 0}};
    static const struct tarc start[] = {{3, -0.5f, 0}};
    static const struct tarc afterc[] = {{7, -0.25f, 0}, {8, -5, 0}};
    const struct tarc *arcs[3] = {root, start, afterc};
    const uint32_t n_arcs[3] = {8, 1, 2};
    const uint32_t backoff[3] = {0xFFFFFFFFu, 0, 0};
    const float bow[3] = {0, -0.125f, -0.25f};
    unsigned char *p = buf;
    memcpy(p, "PLG2P01", 8);
    p += 8;
    p += put32(p, 2);  /* order */
    p += put32(p, 9);  /* units */
    p += put32(p, 3);  /* states */
    p += put32(p, 11); /* arcs */
    p += put32(p, 1);  /* start */
    p += put32(p, 0);
    for (int u = 0; u < 9; u++, p += 8) {
        memset(p, 0, 8);
        p[0] = (unsigned char)strlen(units[u].letters);
        memcpy(p + 1, units[u].letters, strlen(units[u].letters));
        p[3] = (unsigned char)((units[u].p0 != NULL) + (units[u].p1 != NULL));
        if (units[u].p0) p[4] = ph(units[u].p0);
        if (units[u].p1) p[5] = ph(units[u].p1);
    }
    uint32_t first = 0;
    for (int s = 0; s < 3; s++) {
        p += put32(p, first);
        p += put32(p, n_arcs[s]);
        p += put32(p, backoff[s]);
        uint32_t f;
        memcpy(&f, &bow[s], 4);
        p += put32(p, f);
        first += n_arcs[s];
    }
    for (int s = 0; s < 3; s++)
        for (uint32_t a = 0; a < n_arcs[s]; a++, p += 8) {
            uint32_t q = (uint32_t)(-arcs[s][a].lp * 1024.0f + 0.5f);
            p[0] = (unsigned char)arcs[s][a].unit;
            p[1] = (unsigned char)(arcs[s][a].unit >> 8);
            p[2] = (unsigned char)q;
            p[3] = (unsigned char)(q >> 8);
            put32(p + 4, arcs[s][a].next);
        }
    return (size_t)(p - buf);
}

static struct pl_tts_g2p *tiny_load(void) {
    unsigned char buf[512];
    size_t n = tiny_model(buf);
    struct pl_tts_g2p *m = NULL;
    ck_assert_msg(pl_tts_g2p_load_bytes(buf, n, &m) == PL_OK, "%s", pl_last_error());
    return m;
}

/* The phones of word as "PH PH ..." ("" when there is no answer). */
static const char *g2p_str(struct pl_tts_g2p *m, const char *word, size_t cap) {
    static char out[512];
    uint8_t p[PL_TTS_MAX_PRON];
    size_t n = pl_tts_g2p_phones(word, strlen(word), p, cap, m);
    out[0] = 0;
    for (size_t i = 0; i < n; i++) {
        if (i) strcat(out, " ");
        strcat(out, pl_tts_phone_name(p[i]));
    }
    return out;
}

START_TEST(tiny_decoding) {
    struct pl_tts_g2p *m = tiny_load();
    ck_assert_str_eq(g2p_str(m, "a", 64), "EY1");
    ck_assert_str_eq(g2p_str(m, "bh", 64), "B HH");
    ck_assert_str_eq(g2p_str(m, "ch", 64), "K");
    ck_assert_str_eq(g2p_str(m, "ba", 64), "B AE1");
    ck_assert_str_eq(g2p_str(m, "abc", 64), "EY1 B K");
    /* input cleaning: case, unknown letters and other bytes are skipped */
    ck_assert_str_eq(g2p_str(m, "B-H2", 64), "B HH");
    ck_assert_str_eq(g2p_str(m, "bzh", 64), "B HH");
    ck_assert_str_eq(g2p_str(m, "b\xc3\xa9h", 64), "B HH");
    ck_assert_str_eq(g2p_str(m, "123", 64), "");
    ck_assert_str_eq(g2p_str(m, "", 64), "");
    ck_assert_str_eq(g2p_str(m, "h", 64), "HH"); /* HH (-1.625) beats silence (-2.125) */
    /* caps: the output must fit; the letters must not pass PL_TTS_G2P_MAX_LETTERS */
    ck_assert_str_eq(g2p_str(m, "bh", 1), "");
    ck_assert_str_eq(g2p_str(m, "bh", 2), "B HH");
    char lng[PL_TTS_G2P_MAX_LETTERS + 2];
    memset(lng, 'b', sizeof lng - 1);
    lng[sizeof lng - 1] = 0;
    ck_assert_str_eq(g2p_str(m, lng, 512), "");
    lng[PL_TTS_G2P_MAX_LETTERS] = 0;
    uint8_t p[PL_TTS_G2P_MAX_LETTERS];
    ck_assert_uint_eq(pl_tts_g2p_phones(lng, strlen(lng), p, sizeof p, m), PL_TTS_G2P_MAX_LETTERS);
    /* the narrowest search finds the same here */
    pl_tts_g2p_set_beam(m, 1, 0.5f);
    ck_assert_str_eq(g2p_str(m, "bh", 64), "B HH");
    ck_assert_str_eq(g2p_str(m, "a", 64), "EY1");
    pl_tts_g2p_set_beam(m, PL_TTS_G2P_BEAM, 0);
    /* NULL arguments */
    ck_assert_uint_eq(pl_tts_g2p_phones("a", 1, p, sizeof p, NULL), 0);
    ck_assert_uint_eq(pl_tts_g2p_phones(NULL, 1, p, sizeof p, m), 0);
    ck_assert_uint_eq(pl_tts_g2p_phones("a", 1, NULL, 8, m), 0);
    struct pl_tts_g2p_info info;
    pl_tts_g2p_info(m, &info);
    ck_assert_int_eq(info.order, 2);
    ck_assert_uint_eq(info.n_units, 9);
    ck_assert_uint_eq(info.n_states, 3);
    ck_assert_uint_eq(info.n_arcs, 11);
    pl_tts_g2p_destroy(m);
    pl_tts_g2p_destroy(NULL);
}
END_TEST

static pl_status load_mod(const unsigned char *buf, size_t n, size_t off, unsigned char v) {
    unsigned char b[512];
    memcpy(b, buf, n);
    b[off] = v;
    struct pl_tts_g2p *m = NULL;
    pl_status st = pl_tts_g2p_load_bytes(b, n, &m);
    if (st != PL_OK) ck_assert_ptr_null(m);
    pl_tts_g2p_destroy(m);
    return st;
}

START_TEST(format_errors) {
    unsigned char buf[512];
    size_t n = tiny_model(buf);
    const size_t units = 32, states = units + 9 * 8, arcs = states + 3 * 16;
    ck_assert_int_eq(load_mod(buf, n, 0, 'X'), PL_E_FORMAT);               /* magic */
    ck_assert_int_eq(load_mod(buf, n, 8, 0), PL_E_FORMAT);                 /* order 0 */
    ck_assert_int_eq(load_mod(buf, n, 12, 10), PL_E_FORMAT);               /* units: size */
    ck_assert_int_eq(load_mod(buf, n, 24, 3), PL_E_FORMAT);                /* start state */
    ck_assert_int_eq(load_mod(buf, n, units + 2 * 8 + 4, 69), PL_E_FORMAT); /* phone id */
    ck_assert_int_eq(load_mod(buf, n, units + 2 * 8 + 1, 'A'), PL_E_FORMAT); /* letter */
    ck_assert_int_eq(load_mod(buf, n, units + 2 * 8 + 0, 3), PL_E_FORMAT);  /* 3 letters */
    ck_assert_int_eq(load_mod(buf, n, units + 2 * 8 + 3, 3), PL_E_FORMAT);  /* 3 phones */
    ck_assert_int_eq(load_mod(buf, n, units + 5 * 8 + 1, 'a'), PL_E_FORMAT); /* a, b, a: not grouped */
    ck_assert_int_eq(load_mod(buf, n, states + 4, 12), PL_E_FORMAT);       /* arcs past the end */
    ck_assert_int_eq(load_mod(buf, n, states + 8, 0), PL_E_FORMAT);        /* root backs off */
    ck_assert_int_eq(load_mod(buf, n, states + 16 + 8, 1), PL_E_FORMAT);   /* backoff to itself */
    ck_assert_int_eq(load_mod(buf, n, states + 16 + 15, 0x7f), PL_E_FORMAT); /* weight out of range */
    ck_assert_int_eq(load_mod(buf, n, arcs + 0, 9), PL_E_FORMAT);          /* unit out of range */
    ck_assert_int_eq(load_mod(buf, n, arcs + 0, 1), PL_E_FORMAT);          /* the start unit */
    ck_assert_int_eq(load_mod(buf, n, arcs + 8, 7), PL_E_FORMAT);          /* arcs not sorted */
    ck_assert_int_eq(load_mod(buf, n, arcs + 4, 3), PL_E_FORMAT);          /* next state */
    /* every truncation is refused */
    for (size_t k = 0; k < n; k++) {
        struct pl_tts_g2p *m = NULL;
        ck_assert_int_eq(pl_tts_g2p_load_bytes(buf, k, &m), PL_E_FORMAT);
        ck_assert_ptr_null(m);
    }
    /* every byte flipped every way: refused or loaded, and a loaded model decodes */
    for (size_t off = 0; off < n; off++)
        for (int v = 0; v < 256; v += 7) {
            unsigned char b[512];
            memcpy(b, buf, n);
            b[off] = (unsigned char)(b[off] ^ v);
            struct pl_tts_g2p *m = NULL;
            pl_status st = pl_tts_g2p_load_bytes(b, n, &m);
            ck_assert(st == PL_OK || st == PL_E_FORMAT);
            if (m) {
                uint8_t p[8];
                size_t k = pl_tts_g2p_phones("abchab", 6, p, sizeof p, m);
                ck_assert_uint_le(k, sizeof p);
                for (size_t i = 0; i < k; i++) ck_assert_uint_lt(p[i], PL_TTS_N_PHONE_IDS);
            }
            pl_tts_g2p_destroy(m);
        }
    struct pl_tts_g2p *m = (struct pl_tts_g2p *)1;
    ck_assert_int_eq(pl_tts_g2p_load("/nonexistent/g2p.bin", &m), PL_E_IO);
    ck_assert_ptr_null(m);
    ck_assert_int_eq(pl_tts_g2p_load(NULL, &m), PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_tts_g2p_load_bytes(buf, n, NULL), PL_E_INVALID_ARG);
}
END_TEST

START_TEST(oom) {
    unsigned char buf[512];
    size_t n = tiny_model(buf);
    for (int k = 0; k < 40; k++) {
        struct pl_tts_g2p *m = NULL;
        pl_alloc_fail_after(k);
        pl_status st = pl_tts_g2p_load_bytes(buf, n, &m);
        uint8_t p[16];
        size_t np = st == PL_OK ? pl_tts_g2p_phones("abcbh", 5, p, sizeof p, m) : 0;
        pl_alloc_fail_after(-1);
        ck_assert(st == PL_OK || st == PL_E_NOMEM);
        ck_assert(np == 0 || np == 5); /* EY1 B K B HH, or no answer when memory ran out */
        pl_tts_g2p_destroy(m);
    }
    struct pl_alloc_stats as;
    pl_alloc_stats(&as);
    ck_assert_int_eq(as.blocks_in_use, 0);
}
END_TEST

/* ---- the shipped model ---------------------------------------------------------------------- */

static struct pl_tts_g2p *shipped(void) {
    struct pl_tts_g2p *m = NULL;
    if (pl_tts_g2p_load(SHIPPED, &m) != PL_OK) ck_abort_msg("%s", pl_last_error());
    return m;
}

static bool starts_with(const char *s, const char *prefix) {
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static bool ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* One primary stress, as every CMU word of more than one syllable has. */
static int primary_stresses(const char *phones) {
    int k = 0;
    for (const char *p = phones; (p = strchr(p, '1')) != NULL; p++) k++;
    return k;
}

START_TEST(shipped_model_words) {
    struct pl_tts_g2p *m = shipped();
    /* words made up for this test, so in no dictionary */
    static const char *cases[][3] = {
        {"blorfix", "B L AO1 R F", "K S"},   {"snarfulator", "S N AA1 R F", "T ER0"},
        {"grelbonk", "G R", "B AA1 NG K"},       {"zinthorpe", "Z IH1 N TH", "P"},
        {"quibbleton", "K W IH1 B AH0 L", "N"}, {"parleying", "P AA1 R L", "IH0 NG"},
        {"phonemize", "F OW1 N", "AY2 Z"},    {"shrimpish", "SH R IH1 M P", "SH"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *got = g2p_str(m, cases[i][0], PL_TTS_MAX_PRON);
        ck_assert_msg(starts_with(got, cases[i][1]) && ends_with(got, cases[i][2]),
                      "%s: %s (expected %s ... %s)", cases[i][0], got, cases[i][1], cases[i][2]);
        ck_assert_msg(primary_stresses(got) == 1, "%s: %s", cases[i][0], got);
    }
    /* apostrophes and capitals */
    ck_assert_str_eq(g2p_str(m, "O'Brannigan", 64), g2p_str(m, "o'brannigan", 64));
    ck_assert(ends_with(g2p_str(m, "grelbonk's", 64), "K S"));
    /* a long made-up word stays within the phone cap */
    const char *lw = "supercalifragilisticexpialidociousness";
    ck_assert_uint_gt(strlen(g2p_str(m, lw, PL_TTS_MAX_PRON)), 40);
    pl_tts_g2p_destroy(m);
}
END_TEST

START_TEST(shipped_model_in_front_end) {
    struct pl_tts_g2p *m = shipped();
    struct pl_tts_front_opts fo = {.g2p = pl_tts_g2p_phones, .g2p_ud = m};
    struct pl_tts_front *f = NULL;
    ck_assert_int_eq(pl_tts_front_create(&fo, &f), PL_OK);
    struct pl_tts_result *r = NULL;
    char err[256] = "";
    ck_assert_int_eq(pl_tts_front_run(f, "The blorfix of Zinthorpe, costing $5.", PL_TTS_INPUT_AUTO,
                                      NULL, &r, err, sizeof err), PL_OK);
    ck_assert_uint_eq(r->n_oov, 0);
    size_t words = 0;
    for (size_t s = 0; s < r->n_sentences; s++)
        for (size_t i = 0; i < r->sentences[s].n_items; i++) {
            const struct pl_tts_item *it = &r->sentences[s].items[i];
            if (it->kind != PL_TTS_ITEM_WORD) continue;
            words++;
            ck_assert_int_eq(it->pron, PL_TTS_PRON_G2P); /* no lexicon: every word */
            ck_assert_uint_gt(it->n_phones, 0);
            if (!strcmp(it->text, "blorfix"))
                ck_assert_str_eq(pl_tts_phone_name(it->phones[0]), "B");
        }
    ck_assert_uint_eq(words, 7); /* the blorfix of zinthorpe costing five dollars */
    pl_tts_result_destroy(r);
    /* a word without vowel letters is spelled even with a G2P model: "xkcd" as letter names */
    ck_assert_int_eq(pl_tts_front_run(f, "see xkcd", PL_TTS_INPUT_AUTO, NULL, &r, err, sizeof err), PL_OK);
    const struct pl_tts_item *last = NULL;
    for (size_t i = 0; i < r->sentences[0].n_items; i++)
        if (r->sentences[0].items[i].kind == PL_TTS_ITEM_WORD) last = &r->sentences[0].items[i];
    ck_assert_ptr_nonnull(last);
    ck_assert_str_eq(last->text, "xkcd");
    ck_assert_int_eq(last->pron, PL_TTS_PRON_LETTERS);
    ck_assert_str_eq(pl_tts_phone_name(last->phones[0]), "EH1"); /* "ex" */
    pl_tts_result_destroy(r);
    pl_tts_front_destroy(f);
    pl_tts_g2p_destroy(m);
}
END_TEST

Suite *pl_tts_g2p_suite(void) {
    Suite *s = suite_create("tts_g2p");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, tiny_decoding);
    tcase_add_test(tc, format_errors);
    tcase_add_test(tc, oom);
    tcase_add_test(tc, shipped_model_words);
    tcase_add_test(tc, shipped_model_in_front_end);
    suite_add_tcase(s, tc);
    return s;
}
