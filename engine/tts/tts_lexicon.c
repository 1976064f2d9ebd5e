/*
 * tts_lexicon.c - word -> ARPAbet pronunciation tables.
 *
 * One layout serves the CMU dictionary (~135k words), a user dictionary file
 * and a request's custom dictionary: all words live in one byte pool, all
 * phone ids in another, entries in an array and an open-addressing hash table
 * (linear probing, power-of-two size, at most half full) holds entry indices.
 * Alternate pronunciations of a word are chained through `next`.
 * A load reads the file once and sizes every array from its line count up
 * front, so loading is one pass with no rehashing.
 */
#include <string.h>

#include "alloc.h"
#include "file.h"
#include "tts_front.h"
#include "tts_impl.h"

#define MAX_WORD 255
#define LEX_MAX_FILE ((size_t)256 << 20)

struct lex_entry {
    uint32_t word_off;
    uint32_t hash;
    uint32_t first; /* first pronunciation */
    uint16_t word_len;
    uint16_t n_prons;
};

/* The phone pool holds each pronunciation as a count byte then the ids. */
struct lex_pron {
    uint32_t ph_off; /* of the count byte */
    uint32_t next;   /* next alternate, UINT32_MAX = none */
};

struct pl_tts_lexicon {
    char *words;
    size_t words_len, words_cap;
    uint8_t *phones;
    size_t ph_len, ph_cap;
    struct lex_entry *entries;
    size_t n_entries, cap_entries;
    struct lex_pron *prons;
    size_t n_prons, cap_prons;
    uint32_t *slots; /* entry index + 1; 0 = empty */
    uint32_t mask;
};

static uint32_t hash_lower(const char *s, size_t n) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c + 32);
        h = (h ^ c) * 16777619u;
    }
    return h;
}

static bool eq_lower(const char *a, const char *b, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
        if (x >= 'A' && x <= 'Z')
            x = (unsigned char)(x + 32);
        if (y >= 'A' && y <= 'Z')
            y = (unsigned char)(y + 32);
        if (x != y)
            return false;
    }
    return true;
}

static bool grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap)
        return true;
    size_t nc = need; /* the first allocation is exact (loads size it up front) */
    if (*cap) {
        nc = *cap;
        while (nc < need)
            nc *= 2;
    }
    void *q = pl_realloc(*p, nc * elem);
    if (!q)
        return false;
    *p = q;
    *cap = nc;
    return true;
}

static pl_status lex_new(size_t expect_words, size_t expect_bytes, struct pl_tts_lexicon **out) {
    struct pl_tts_lexicon *lex = pl_calloc(1, sizeof *lex);
    if (!lex)
        return PL_ERR(PL_E_NOMEM, "lexicon: out of memory");
    size_t slots = 64;
    while (slots < expect_words * 3 / 2 + 2)
        slots *= 2;
    lex->slots = pl_calloc(slots, sizeof *lex->slots);
    lex->mask = (uint32_t)(slots - 1);
    bool ok = lex->slots && grow((void **)&lex->entries, &lex->cap_entries, expect_words + 1,
                                 sizeof *lex->entries) &&
              grow((void **)&lex->prons, &lex->cap_prons, expect_words + 1, sizeof *lex->prons) &&
              grow((void **)&lex->words, &lex->words_cap, expect_bytes * 3 / 10 + 16, 1) &&
              grow((void **)&lex->phones, &lex->ph_cap, expect_bytes / 3 + 16, 1);
    if (!ok) {
        pl_tts_lexicon_destroy(lex);
        return PL_ERR(PL_E_NOMEM, "lexicon: out of memory");
    }
    *out = lex;
    return PL_OK;
}

void pl_tts_lexicon_destroy(struct pl_tts_lexicon *lex) {
    if (!lex)
        return;
    pl_free(lex->words);
    pl_free(lex->phones);
    pl_free(lex->entries);
    pl_free(lex->prons);
    pl_free(lex->slots);
    pl_free(lex);
}

/* Double the hash table (only custom dictionaries grow past their estimate). */
static bool rehash(struct pl_tts_lexicon *lex) {
    size_t n = ((size_t)lex->mask + 1) * 2;
    uint32_t *s = pl_calloc(n, sizeof *s);
    if (!s)
        return false;
    for (size_t e = 0; e < lex->n_entries; e++) {
        size_t i = lex->entries[e].hash & (n - 1);
        while (s[i])
            i = (i + 1) & (n - 1);
        s[i] = (uint32_t)(e + 1);
    }
    pl_free(lex->slots);
    lex->slots = s;
    lex->mask = (uint32_t)(n - 1);
    return true;
}

static uint32_t *find_slot(const struct pl_tts_lexicon *lex, const char *w, size_t n, uint32_t h) {
    size_t i = h & lex->mask;
    for (;;) {
        uint32_t e = lex->slots[i];
        if (!e)
            return &lex->slots[i];
        const struct lex_entry *en = &lex->entries[e - 1];
        if (en->hash == h && en->word_len == n && eq_lower(lex->words + en->word_off, w, n))
            return &lex->slots[i];
        i = (i + 1) & lex->mask;
    }
}

/* Add a pronunciation of w[0..n) (appended as an alternate if w is known). */
static pl_status lex_add(struct pl_tts_lexicon *lex, const char *w, size_t n, const uint8_t *ph,
                         size_t n_ph) {
    if (n == 0 || n > MAX_WORD)
        return PL_ERR(PL_E_FORMAT, "word of %zu bytes (1..%d)", n, MAX_WORD);
    if ((lex->n_entries + 1) * 3 > ((size_t)lex->mask + 1) * 2 && !rehash(lex))
        return PL_ERR(PL_E_NOMEM, "lexicon: out of memory");
    if (lex->words_len + n > UINT32_MAX / 2 || lex->ph_len + n_ph > UINT32_MAX / 2)
        return PL_ERR(PL_E_FORMAT, "lexicon too large");
    if (!grow((void **)&lex->prons, &lex->cap_prons, lex->n_prons + 1, sizeof *lex->prons) ||
        !grow((void **)&lex->phones, &lex->ph_cap, lex->ph_len + n_ph + 1, 1))
        return PL_ERR(PL_E_NOMEM, "lexicon: out of memory");
    uint32_t h = hash_lower(w, n);
    uint32_t *slot = find_slot(lex, w, n, h);
    uint32_t p = (uint32_t)lex->n_prons;
    if (!*slot) {
        if (!grow((void **)&lex->entries, &lex->cap_entries, lex->n_entries + 1,
                  sizeof *lex->entries) ||
            !grow((void **)&lex->words, &lex->words_cap, lex->words_len + n, 1))
            return PL_ERR(PL_E_NOMEM, "lexicon: out of memory");
        struct lex_entry *e = &lex->entries[lex->n_entries];
        e->word_off = (uint32_t)lex->words_len;
        e->word_len = (uint16_t)n;
        e->hash = h;
        e->first = p;
        e->n_prons = 1;
        for (size_t i = 0; i < n; i++) {
            char c = w[i];
            lex->words[lex->words_len++] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
        }
        *slot = (uint32_t)(++lex->n_entries);
    } else {
        struct lex_entry *e = &lex->entries[*slot - 1];
        if (e->n_prons == UINT16_MAX)
            return PL_OK; /* absurd number of alternates: ignore the rest */
        uint32_t q = e->first;
        while (lex->prons[q].next != UINT32_MAX)
            q = lex->prons[q].next;
        lex->prons[q].next = p;
        e->n_prons++;
    }
    struct lex_pron *pr = &lex->prons[lex->n_prons++];
    pr->ph_off = (uint32_t)lex->ph_len;
    pr->next = UINT32_MAX;
    lex->phones[lex->ph_len++] = (uint8_t)n_ph;
    memcpy(lex->phones + lex->ph_len, ph, n_ph);
    lex->ph_len += n_ph;
    return PL_OK;
}

size_t pl_tts_lexicon_lookup(const struct pl_tts_lexicon *lex, const char *word, size_t len,
                             int alt, const uint8_t **phones) {
    *phones = NULL;
    if (!lex || !word || len == 0 || len > MAX_WORD || alt < 0)
        return 0;
    uint32_t e = *find_slot(lex, word, len, hash_lower(word, len));
    if (!e)
        return 0;
    const struct lex_entry *en = &lex->entries[e - 1];
    uint32_t p = en->first;
    for (int k = 0; k < alt && p != UINT32_MAX; k++)
        p = lex->prons[p].next;
    if (p == UINT32_MAX)
        return 0;
    *phones = lex->phones + lex->prons[p].ph_off + 1;
    return lex->phones[lex->prons[p].ph_off];
}

void pl_tts_lexicon_stats(const struct pl_tts_lexicon *lex, struct pl_tts_lexicon_stats *out) {
    memset(out, 0, sizeof *out);
    if (!lex)
        return;
    out->n_words = lex->n_entries;
    out->n_prons = lex->n_prons;
    out->bytes = sizeof *lex + lex->words_cap + lex->ph_cap +
                 lex->cap_entries * sizeof *lex->entries + lex->cap_prons * sizeof *lex->prons +
                 ((size_t)lex->mask + 1) * sizeof *lex->slots;
}

static size_t count_lines(const char *s, size_t n) {
    size_t k = 1;
    for (const char *p = s; (p = memchr(p, '\n', (size_t)(s + n - p))) != NULL; p++)
        k++;
    return k;
}

/* Phones of "PH PH ..." in s[0..n) (single or multiple spaces) into ids. */
static pl_status parse_phones(const char *s, size_t n, uint8_t *ids, size_t *n_ids) {
    return pl_tts_phones_parse(s, n, ids, PL_TTS_MAX_PRON, n_ids);
}

pl_status pl_tts_lexicon_load_cmu(const char *path, struct pl_tts_lexicon **out) {
    if (!path || !out)
        return PL_ERR(PL_E_INVALID_ARG, "lexicon: NULL argument");
    *out = NULL;
    char *buf = NULL;
    size_t len = 0;
    struct pl_tts_lexicon *lex = NULL;
    pl_status st;
    PL_TRY_GOTO(st, pl_read_file(path, LEX_MAX_FILE, &buf, &len));
    PL_TRY_GOTO(st, lex_new(count_lines(buf, len), len, &lex));
    size_t line_no = 0;
    for (char *p = buf, *end = buf + len; p < end;) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *le = nl ? nl : end;
        line_no++;
        char *hash = memchr(p, '#', (size_t)(le - p));
        char *e = hash ? hash : le;
        while (e > p && (e[-1] == ' ' || e[-1] == '\r' || e[-1] == '\t'))
            e--;
        if (e > p) {
            char *w = p, *we = memchr(p, ' ', (size_t)(e - p));
            if (!we) {
                st = PL_ERR(PL_E_FORMAT, "%s:%zu: word without phones", path, line_no);
                goto fail;
            }
            char *wend = we;
            if (wend - w > 3 && wend[-1] == ')') { /* word(2) */
                char *op = wend - 2;
                while (op > w && op[0] >= '0' && op[0] <= '9')
                    op--;
                if (op > w && *op == '(' && op < wend - 2)
                    wend = op;
            }
            uint8_t ids[PL_TTS_MAX_PRON];
            size_t n_ids;
            st = parse_phones(we + 1, (size_t)(e - we - 1), ids, &n_ids);
            if (st != PL_OK) {
                st = pl__tts_err_prefix(PL_E_FORMAT, "%s:%zu: ", path, line_no);
                goto fail;
            }
            st = lex_add(lex, w, (size_t)(wend - w), ids, n_ids);
            if (st != PL_OK) {
                st = pl__tts_err_prefix(st, "%s:%zu: ", path, line_no);
                goto fail;
            }
        }
        p = le + 1;
    }
    pl_free(buf);
    *out = lex;
    return PL_OK;
fail:
    pl_free(buf);
    pl_tts_lexicon_destroy(lex);
    return st;
}

/* One "grapheme  PH PH" entry s[0..n) (already trimmed, non-empty). On error
 * the message names the entry; `what` says where it came from. */
static pl_status add_entry(struct pl_tts_lexicon *lex, const char *s, size_t n, const char *what) {
    const char *sep = NULL;
    for (size_t i = 0; i + 1 < n; i++) {
        if (s[i] == ' ' && s[i + 1] == ' ') {
            sep = s + i;
            break;
        }
    }
    int shown = n > 60 ? 60 : (int)n;
    if (!sep)
        return PL_ERR(PL_E_FORMAT,
                      "%s entry '%.*s': grapheme and pronunciation must be separated by two "
                      "spaces",
                      what, shown, s);
    const char *w = s, *we = sep;
    while (we > w && we[-1] == ' ')
        we--;
    const char *ph = sep;
    while (ph < s + n && *ph == ' ')
        ph++;
    if (we == w)
        return PL_ERR(PL_E_FORMAT, "%s entry '%.*s': empty grapheme", what, shown, s);
    for (const char *c = w; c < we; c++) {
        if (*c == ' ' || *c == '\t')
            return PL_ERR(PL_E_FORMAT, "%s entry '%.*s': grapheme has a space", what, shown, s);
    }
    if (ph == s + n)
        return PL_ERR(PL_E_FORMAT, "%s entry '%.*s': no pronunciation", what, shown, s);
    uint8_t ids[PL_TTS_MAX_PRON];
    size_t n_ids;
    const char *pe = s + n;
    for (const char *c = ph; c + 1 < pe; c++) {
        if (c[0] == ' ' && c[1] == ' ')
            return PL_ERR(PL_E_FORMAT, "%s entry '%.*s': phones must be separated by one space",
                          what, shown, s);
    }
    if (parse_phones(ph, (size_t)(pe - ph), ids, &n_ids) != PL_OK)
        return pl__tts_err_prefix(PL_E_FORMAT, "%s entry '%.*s': ", what, shown, s);
    pl_status st = lex_add(lex, w, (size_t)(we - w), ids, n_ids);
    if (st != PL_OK)
        return pl__tts_err_prefix(st, "%s entry '%.*s': ", what, shown, s);
    return PL_OK;
}

static void trim(const char **s, const char **e) {
    while (*s < *e && (**s == ' ' || **s == '\t' || **s == '\r' || **s == '\n'))
        (*s)++;
    while (*e > *s && ((*e)[-1] == ' ' || (*e)[-1] == '\t' || (*e)[-1] == '\r' ||
                       (*e)[-1] == '\n'))
        (*e)--;
}

pl_status pl_tts_lexicon_parse_custom(const char *s, struct pl_tts_lexicon **out) {
    if (!s || !out)
        return PL_ERR(PL_E_INVALID_ARG, "custom dictionary: NULL argument");
    *out = NULL;
    size_t len = strlen(s);
    struct pl_tts_lexicon *lex = NULL;
    pl_status st;
    PL_TRY_GOTO(st, lex_new(8, 64, &lex));
    for (const char *p = s, *end = s + len; p <= end;) {
        const char *c = memchr(p, ',', (size_t)(end - p));
        const char *ee = c ? c : end;
        const char *a = p, *b = ee;
        trim(&a, &b);
        if (a < b) {
            PL_TRY_GOTO(st, add_entry(lex, a, (size_t)(b - a), "custom dictionary"));
        } else if (c) {
            st = PL_ERR(PL_E_FORMAT, "custom dictionary: empty entry at byte %zu",
                        (size_t)(p - s));
            goto fail;
        }
        if (!c)
            break;
        p = c + 1;
    }
    *out = lex;
    return PL_OK;
fail:
    pl_tts_lexicon_destroy(lex);
    return st;
}

pl_status pl_tts_lexicon_load_user(const char *path, struct pl_tts_lexicon **out) {
    if (!path || !out)
        return PL_ERR(PL_E_INVALID_ARG, "user dictionary: NULL argument");
    *out = NULL;
    char *buf = NULL;
    size_t len = 0;
    struct pl_tts_lexicon *lex = NULL;
    pl_status st;
    PL_TRY_GOTO(st, pl_read_file(path, LEX_MAX_FILE, &buf, &len));
    PL_TRY_GOTO(st, lex_new(count_lines(buf, len), len, &lex));
    size_t line_no = 0;
    for (const char *p = buf, *end = buf + len; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *a = p, *b = nl ? nl : end;
        line_no++;
        trim(&a, &b);
        if (a < b && *a != '#') {
            st = add_entry(lex, a, (size_t)(b - a), "user dictionary");
            if (st != PL_OK) {
                st = pl__tts_err_prefix(st, "%s:%zu: ", path, line_no);
                goto fail;
            }
        }
        p = (nl ? nl : end) + 1;
    }
    pl_free(buf);
    *out = lex;
    return PL_OK;
fail:
    pl_free(buf);
    pl_tts_lexicon_destroy(lex);
    return st;
}
