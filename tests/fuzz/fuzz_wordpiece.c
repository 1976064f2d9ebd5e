/*
 * fuzz_wordpiece.c - WordPiece tokenization (engine/tokenizer): the basic tokenizer (UTF-8
 * decoding, lower case + NFD + accent stripping, punctuation and CJK splits, control
 * characters), the greedy longest-match-first sub-word split, offsets, truncation of pairs,
 * and the sliding windows of question answering, with a small fixed vocabulary.
 *
 * Input: byte 0 options (cased/uncased, max_len, truncation, stride), then the first text,
 * FZ_SEP, the second text.
 */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_util.h"
#include "wordpiece.h"

static const char vocab[] =
    "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n"
    "the\na\nbook\ntable\nfor\ntwo\nin\nboston\nwhat\nis\nweather\nplay\nmusic\n"
    "un\n##able\n##s\n##ing\n##ed\n##e\n##a\n##b\n##c\nb\nc\nd\ne\n"
    "\xc3\xa9\n##\xc3\xa9\n\xe4\xb8\xad\n\xe6\x96\x87\n"
    ",\n.\n?\n!\n'\n-\n(\n)\n0\n1\n2\n##0\n##1\n";

static struct pl_wordpiece *g_tok[2];

static void check(const struct pl_encoding *e, size_t a_len, size_t b_len) {
    for (int32_t i = 0; i < e->n; i++) {
        if (e->seq[i] < 0) continue;
        const struct pl_token_offset *o = &e->offsets[i];
        size_t len = e->seq[i] == 0 ? a_len : b_len;
        if (o->byte_start < 0 || o->byte_start > o->byte_end || (size_t)o->byte_end > len)
            abort(); /* offsets stay inside their text */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!g_tok[0]) {
        fz_quiet();
        struct pl_wordpiece_opts o;
        pl_wordpiece_opts_default(&o);
        o.max_input_chars_per_word = 24;
        if (pl_wordpiece_create_from_buffer(vocab, sizeof vocab - 1, &o, &g_tok[0]) != PL_OK)
            abort();
        o.do_lower_case = false;
        if (pl_wordpiece_create_from_buffer(vocab, sizeof vocab - 1, &o, &g_tok[1]) != PL_OK)
            abort();
    }
    struct fz_in in = {data, size};
    uint8_t opt = fz_byte(&in);
    size_t a_len = 0, b_len = 0;
    const char *a = (const char *)fz_next_part(&in, &a_len);
    const char *b = (const char *)fz_next_part(&in, &b_len);
    if (!a) a = "";
    const struct pl_wordpiece *tok = g_tok[opt & 1];

    struct pl_encode_opts eo = {0};
    eo.max_len = (opt >> 1) & 3 ? 4 << ((opt >> 1) & 3) : 0; /* none, 8, 16, 32 */
    eo.truncation = (enum pl_truncation)((opt >> 3) & 3);
    eo.no_special_tokens = (opt >> 5) & 1;
    struct pl_encoding *e = NULL;
    if (pl_wordpiece_encode(tok, a, a_len, &eo, &e) == PL_OK) check(e, a_len, 0);
    pl_encoding_destroy(e);
    e = NULL;
    if (b && pl_wordpiece_encode_pair(tok, a, a_len, b, b_len, &eo, &e) == PL_OK)
        check(e, a_len, b_len);
    pl_encoding_destroy(e);

    struct pl_window_opts wo = {0};
    wo.max_len = 16 + 8 * ((opt >> 6) & 1);
    wo.doc_stride = (opt >> 7) ? 3 : 0;
    wo.max_first_len = 6;
    struct pl_windows *w = NULL;
    if (b && pl_wordpiece_windows(tok, a, a_len, b, b_len, &wo, &w) == PL_OK) {
        for (int32_t i = 0; i < w->n; i++) check(&w->windows[i], a_len, b_len);
        pl_windows_destroy(w);
    }

    int32_t n = 0, *ids = NULL, *word_ids = NULL;
    struct pl_token_offset *offs = NULL;
    if (pl_wordpiece_tokenize(tok, a, a_len, &n, &ids, &word_ids, &offs) == PL_OK) {
        pl_free(ids);
        pl_free(word_ids);
        pl_free(offs);
    }
    return 0;
}
