/*
 * wordpiece_vocab.c - vocabulary loading and the piece -> id hash map.
 *
 * The vocabulary is one blob of NUL-terminated pieces plus an open-addressing
 * table (linear probing, load factor <= 1/2) keyed by FNV-1a of the piece
 * bytes. Continuation lookups ("##" + sub-word) hash the two '#' first and
 * then the sub-word, so the greedy WordPiece search never copies strings.
 * Everything is written once in create and only read afterwards, which is
 * what makes a tokenizer safe to share between threads.
 */
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "file.h"
#include "wordpiece_impl.h"

#define FNV_OFFSET 2166136261u
#define FNV_PRIME 16777619u

static uint32_t fnv_bytes(uint32_t h, const char *s, size_t len) {
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= FNV_PRIME;
    }
    return h;
}

static uint32_t piece_hash(bool cont, const char *s, size_t len) {
    uint32_t h = FNV_OFFSET;
    if (cont) h = fnv_bytes(h, "##", 2);
    return fnv_bytes(h, s, len);
}

static bool piece_equal(const struct pl_wordpiece *tok, int32_t id, bool cont, const char *s,
                        size_t len) {
    const char *p = tok->blob + tok->piece_off[id];
    size_t plen = tok->piece_len[id];
    if (cont) {
        if (plen != len + 2 || p[0] != '#' || p[1] != '#') return false;
        p += 2;
    } else if (plen != len) {
        return false;
    }
    return memcmp(p, s, len) == 0;
}

int32_t pl__wordpiece_find(const struct pl_wordpiece *tok, bool cont, const char *s, size_t len) {
    uint32_t h = piece_hash(cont, s, len);
    for (uint32_t i = h & tok->slot_mask;; i = (i + 1) & tok->slot_mask) {
        const struct pl__wp_slot *sl = &tok->slots[i];
        if (sl->id < 0) return -1;
        if (sl->hash == h && piece_equal(tok, sl->id, cont, s, len)) return sl->id;
    }
}

void pl_wordpiece_opts_default(struct pl_wordpiece_opts *opts) {
    if (!opts) return;
    opts->do_lower_case = true;
    opts->max_input_chars_per_word = 100;
}

static bool is_ascii_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Insert id under its piece; a later duplicate replaces the earlier id, as
 * assigning vocab[token] = index does in BERT's load_vocab. */
static void table_put(struct pl_wordpiece *tok, int32_t id) {
    const char *s = tok->blob + tok->piece_off[id];
    size_t len = tok->piece_len[id];
    uint32_t h = piece_hash(false, s, len);
    for (uint32_t i = h & tok->slot_mask;; i = (i + 1) & tok->slot_mask) {
        struct pl__wp_slot *sl = &tok->slots[i];
        if (sl->id < 0 || (sl->hash == h && piece_equal(tok, sl->id, false, s, len))) {
            sl->hash = h;
            sl->id = id;
            return;
        }
    }
}

pl_status pl_wordpiece_create_from_buffer(const char *data, size_t len,
                                          const struct pl_wordpiece_opts *opts,
                                          struct pl_wordpiece **out) {
    pl_status st = PL_OK;
    struct pl_wordpiece *tok = NULL;
    if (out) *out = NULL;
    if (!out || (!data && len > 0))
        return PL_ERR(PL_E_INVALID_ARG, "wordpiece: NULL vocabulary buffer or out");
    if (len >= UINT32_MAX / 2)
        return PL_ERR(PL_E_INVALID_ARG, "wordpiece: vocabulary of %zu bytes is too large", len);
    struct pl_wordpiece_opts o;
    pl_wordpiece_opts_default(&o);
    if (opts) o = *opts;
    if (o.max_input_chars_per_word < 1)
        return PL_ERR(PL_E_INVALID_ARG, "wordpiece: max_input_chars_per_word %d must be >= 1",
                      (int)o.max_input_chars_per_word);

    /* Validate UTF-8 first so that errors name the line. */
    size_t line = 1;
    for (size_t i = 0; i < len;) {
        int32_t cp;
        if (!pl__utf8_next((const unsigned char *)data, len, &i, &cp)) {
            st = PL_ERR(PL_E_FORMAT, "wordpiece: vocabulary line %zu: invalid UTF-8 at byte %zu",
                        line, i);
            goto fail;
        }
        if (cp == '\n') line++;
    }

    /* Lines: split on '\n'; a final line without '\n' counts, a trailing '\n'
     * does not start another (like readline()). */
    size_t n_lines = 0;
    for (size_t i = 0; i < len; i++)
        if (data[i] == '\n') n_lines++;
    if (len > 0 && data[len - 1] != '\n') n_lines++;
    if (n_lines == 0) {
        st = PL_ERR(PL_E_FORMAT, "wordpiece: empty vocabulary");
        goto fail;
    }
    if (n_lines > INT32_MAX / 4) {
        st = PL_ERR(PL_E_FORMAT, "wordpiece: vocabulary has too many lines (%zu)", n_lines);
        goto fail;
    }

    tok = pl_calloc(1, sizeof(*tok));
    if (!tok) {
        st = PL_ERR(PL_E_NOMEM, "wordpiece: out of memory loading a %zu-byte vocabulary", len);
        goto fail;
    }
    tok->opts = o;
    tok->n_pieces = (int32_t)n_lines;
    tok->blob = pl_malloc(len + 1);
    tok->piece_off = pl_malloc(n_lines * sizeof(uint32_t));
    tok->piece_len = pl_malloc(n_lines * sizeof(uint32_t));
    uint32_t cap = 16;
    while (cap < 2 * n_lines) cap <<= 1;
    tok->slots = pl_malloc((size_t)cap * sizeof(struct pl__wp_slot));
    if (!tok->blob || !tok->piece_off || !tok->piece_len || !tok->slots) {
        st = PL_ERR(PL_E_NOMEM, "wordpiece: out of memory loading a %zu-byte vocabulary", len);
        goto fail;
    }
    tok->slot_mask = cap - 1;
    for (uint32_t i = 0; i < cap; i++) tok->slots[i].id = -1;

    size_t w = 0, pos = 0;
    for (size_t id = 0; id < n_lines; id++) {
        size_t end = pos;
        while (end < len && data[end] != '\n') end++;
        size_t a = pos, b = end;
        while (a < b && is_ascii_space(data[a])) a++;
        while (b > a && is_ascii_space(data[b - 1])) b--;
        memcpy(tok->blob + w, data + a, b - a);
        tok->piece_off[id] = (uint32_t)w;
        tok->piece_len[id] = (uint32_t)(b - a);
        w += b - a;
        tok->blob[w++] = '\0';
        if ((int32_t)(b - a) > tok->max_piece_len) tok->max_piece_len = (int32_t)(b - a);
        pos = end + 1;
    }
    for (int32_t id = 0; id < tok->n_pieces; id++) table_put(tok, id);

    static const char *const names[5] = {"[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"};
    for (int k = 0; k < 5; k++) {
        tok->special[k] = pl__wordpiece_find(tok, false, names[k], strlen(names[k]));
        if (k <= PL_WORDPIECE_SEP && tok->special[k] < 0) {
            st = PL_ERR(PL_E_FORMAT, "wordpiece: vocabulary has no %s token", names[k]);
            goto fail;
        }
    }
    *out = tok;
    return PL_OK;

fail:
    pl_wordpiece_destroy(tok);
    return st;
}

pl_status pl_wordpiece_create(const char *vocab_path, const struct pl_wordpiece_opts *opts,
                              struct pl_wordpiece **out) {
    char *buf = NULL;
    size_t len = 0;
    if (out) *out = NULL;
    if (!vocab_path || !out) return PL_ERR(PL_E_INVALID_ARG, "wordpiece: NULL vocab path or out");
    char msg[512];
    pl_status st = pl_read_file(vocab_path, (size_t)1 << 30, &buf, &len);
    if (st != PL_OK) {
        snprintf(msg, sizeof msg, "%s", pl_last_error());
        return PL_ERR(st, "wordpiece: %s", msg);
    }
    st = pl_wordpiece_create_from_buffer(buf, len, opts, out);
    pl_free(buf);
    if (st != PL_OK) {
        /* Name the file: "wordpiece: PATH: vocabulary has no [UNK] token". */
        const char *m = pl_last_error();
        if (strncmp(m, "wordpiece: ", 11) == 0) m += 11;
        snprintf(msg, sizeof msg, "%s", m);
        st = PL_ERR(st, "wordpiece: %s: %s", vocab_path, msg);
    }
    return st;
}

void pl_wordpiece_destroy(struct pl_wordpiece *tok) {
    if (!tok) return;
    pl_free(tok->blob);
    pl_free(tok->piece_off);
    pl_free(tok->piece_len);
    pl_free(tok->slots);
    pl_free(tok);
}

int32_t pl_wordpiece_vocab_size(const struct pl_wordpiece *tok) {
    return tok ? tok->n_pieces : 0;
}

const struct pl_wordpiece_opts *pl_wordpiece_get_opts(const struct pl_wordpiece *tok) {
    return tok ? &tok->opts : NULL;
}

int32_t pl_wordpiece_lookup(const struct pl_wordpiece *tok, const char *piece, size_t len) {
    if (!tok || (!piece && len > 0)) return -1;
    return pl__wordpiece_find(tok, false, piece ? piece : "", len);
}

const char *pl_wordpiece_piece(const struct pl_wordpiece *tok, int32_t id) {
    if (!tok || id < 0 || id >= tok->n_pieces) return NULL;
    return tok->blob + tok->piece_off[id];
}

int32_t pl_wordpiece_special_id(const struct pl_wordpiece *tok, enum pl_wordpiece_special which) {
    if (!tok || (int)which < 0 || (int)which >= 5) return -1;
    return tok->special[which];
}
