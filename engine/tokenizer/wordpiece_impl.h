/*
 * wordpiece_impl.h - private structures of the WordPiece tokenizer.
 * Not part of the public API; only engine/tokenizer/ includes it.
 */
#ifndef PL_WORDPIECE_IMPL_H
#define PL_WORDPIECE_IMPL_H

#include "wordpiece.h"

/* One hash slot: the piece's id (-1 = empty) and its full 32-bit hash. */
struct pl__wp_slot {
    uint32_t hash;
    int32_t id;
};

struct pl_wordpiece {
    struct pl_wordpiece_opts opts;
    char *blob;          /* all pieces, each NUL-terminated, in id order */
    uint32_t *piece_off; /* [n_pieces] start of each piece in blob */
    uint32_t *piece_len; /* [n_pieces] byte length of each piece */
    int32_t n_pieces;
    struct pl__wp_slot *slots; /* open addressing, linear probing */
    uint32_t slot_mask;        /* capacity - 1 (capacity a power of two) */
    int32_t max_piece_len;     /* longest piece in bytes: bounds the greedy search */
    int32_t special[5];        /* ids by enum pl_wordpiece_special, -1 if absent */
};

/* Growable token list of one text (per call; never shared). */
struct pl__tokvec {
    int32_t n, cap;
    int32_t *ids;
    int32_t *word_ids;
    struct pl_token_offset *offs;
};

/* Id of piece s[0..len), with "##" in front when cont; -1 if absent. */
int32_t pl__wordpiece_find(const struct pl_wordpiece *tok, bool cont, const char *s, size_t len);

/* Append the tokens of text to tv (which the caller inits to zero and frees
 * with pl__tokvec_free). Errors: PL_E_INVALID_ARG (bad UTF-8, text too
 * long), PL_E_NOMEM. */
pl_status pl__wordpiece_run(const struct pl_wordpiece *tok, const char *text, size_t len,
                            struct pl__tokvec *tv);

void pl__tokvec_free(struct pl__tokvec *tv);

/* Decode one strict UTF-8 code point of s[*i..len) into *cp and advance *i.
 * False (nothing consumed) on an invalid or truncated sequence, an overlong
 * form, a surrogate or a value above U+10FFFF. */
bool pl__utf8_next(const unsigned char *s, size_t len, size_t *i, int32_t *cp);

/* Largest text accepted, in bytes (offsets are int32). */
#define PL__WORDPIECE_MAX_TEXT ((size_t)1 << 30)

#endif
