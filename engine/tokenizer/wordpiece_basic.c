/*
 * wordpiece_basic.c - BERT basic tokenization + greedy WordPiece, with the
 * original-text span of every token.
 *
 * The text is scanned once. Characters are cleaned and grouped into
 * whitespace-separated words (CJK ideographs are words of their own). Each
 * word keeps, per character, its code point, its code-point index and byte
 * range in the original text. Lower-casing, NFD and mark stripping then
 * produce a "transformed" word in which every character remembers the
 * original character it came from, so that the punctuation split and the
 * WordPiece sub-words map back to original spans by min/max over their
 * characters' sources. Working per word (not per text) keeps memory at
 * O(longest word) besides the output.
 *
 * Unicode data (categories, simple lower-case mapping, canonical
 * decomposition, combining classes) come from utf8proc. Python's str.lower()
 * adds two rules on top of the simple mapping, which are reproduced here:
 * U+0130 -> "i" U+0307, and the final-sigma rule for U+03A3.
 */
#include <string.h>
#include <utf8proc.h>

#include "alloc.h"
#include "wordpiece_impl.h"

bool pl__utf8_next(const unsigned char *s, size_t len, size_t *i, int32_t *cp) {
    size_t p = *i;
    unsigned c = s[p];
    uint32_t v;
    size_t n;
    if (c < 0x80) {
        *cp = (int32_t)c;
        *i = p + 1;
        return true;
    } else if (c >= 0xC2 && c <= 0xDF) {
        n = 1;
        v = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 2;
        v = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 3;
        v = c & 0x07;
    } else {
        return false; /* continuation byte, 0xC0/0xC1 (overlong) or 0xF5.. */
    }
    if (len - p <= n) return false;
    for (size_t k = 1; k <= n; k++) {
        unsigned d = s[p + k];
        if ((d & 0xC0) != 0x80) return false;
        v = (v << 6) | (d & 0x3F);
    }
    if ((n == 2 && v < 0x800) || (n == 3 && (v < 0x10000 || v > 0x10FFFF)) ||
        (v >= 0xD800 && v <= 0xDFFF))
        return false;
    *cp = (int32_t)v;
    *i = p + n + 1;
    return true;
}

static size_t utf8_put(char *dst, int32_t cp) {
    uint32_t c = (uint32_t)cp;
    if (c < 0x80) {
        dst[0] = (char)c;
        return 1;
    } else if (c < 0x800) {
        dst[0] = (char)(0xC0 | (c >> 6));
        dst[1] = (char)(0x80 | (c & 0x3F));
        return 2;
    } else if (c < 0x10000) {
        dst[0] = (char)(0xE0 | (c >> 12));
        dst[1] = (char)(0x80 | ((c >> 6) & 0x3F));
        dst[2] = (char)(0x80 | (c & 0x3F));
        return 3;
    }
    dst[0] = (char)(0xF0 | (c >> 18));
    dst[1] = (char)(0x80 | ((c >> 12) & 0x3F));
    dst[2] = (char)(0x80 | ((c >> 6) & 0x3F));
    dst[3] = (char)(0x80 | (c & 0x3F));
    return 4;
}

/* BERT's _is_chinese_char ranges (CJK Unified Ideographs and extensions,
 * compatibility ideographs). */
static bool is_cjk(int32_t cp) {
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
           (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B73F) ||
           (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B820 && cp <= 0x2CEAF) ||
           (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

enum scan_class { SCAN_DROP, SCAN_SPACE, SCAN_CJK, SCAN_OTHER };

/* _clean_text + _tokenize_chinese_chars + str.split() separators. */
static enum scan_class scan_class(int32_t cp) {
    if (cp < 0x80) {
        if (cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r') return SCAN_SPACE;
        if (cp < 0x20 || cp == 0x7F) return SCAN_DROP; /* NUL and the other Cc */
        return SCAN_OTHER;
    }
    if (cp == 0xFFFD) return SCAN_DROP;
    if (is_cjk(cp)) return SCAN_CJK;
    utf8proc_category_t cat = utf8proc_category(cp);
    if (cat == UTF8PROC_CATEGORY_ZS) return SCAN_SPACE;
    if (cat == UTF8PROC_CATEGORY_CC || cat == UTF8PROC_CATEGORY_CF) return SCAN_DROP;
    /* Survive cleaning but str.split() separates on them (Zl, Zp). */
    if (cp == 0x2028 || cp == 0x2029) return SCAN_SPACE;
    return SCAN_OTHER;
}

/* BERT's _is_punctuation. */
static bool is_punct(int32_t cp) {
    if (cp < 0x80)
        return (cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) ||
               (cp >= 123 && cp <= 126);
    utf8proc_category_t cat = utf8proc_category(cp);
    return cat >= UTF8PROC_CATEGORY_PC && cat <= UTF8PROC_CATEGORY_PO;
}

/* Python's Case_Ignorable: Mn Me Cf Lm Sk, or Word_Break MidLetter,
 * MidNumLet or Single_Quote. */
static bool case_ignorable(int32_t cp) {
    switch (cp) {
    case 0x27:
    case 0x2E:
    case 0x3A:
    case 0xB7:
    case 0x387:
    case 0x55F:
    case 0x5F4:
    case 0x2018:
    case 0x2019:
    case 0x2024:
    case 0x2027:
    case 0xFE13:
    case 0xFE52:
    case 0xFE55:
    case 0xFF07:
    case 0xFF0E:
    case 0xFF1A:
        return true;
    default:
        break;
    }
    utf8proc_category_t cat = utf8proc_category(cp);
    return cat == UTF8PROC_CATEGORY_MN || cat == UTF8PROC_CATEGORY_ME ||
           cat == UTF8PROC_CATEGORY_CF || cat == UTF8PROC_CATEGORY_LM ||
           cat == UTF8PROC_CATEGORY_SK;
}

/* Python's Cased: Lu Ll Lt plus the Other_Lowercase/Other_Uppercase
 * characters that are not also case-ignorable (ordinal indicators, Roman
 * numerals, circled and squared letters). The Unicode-parity test checks
 * this against Python for every assigned code point. */
static bool is_cased(int32_t cp) {
    utf8proc_category_t cat = utf8proc_category(cp);
    return cat == UTF8PROC_CATEGORY_LU || cat == UTF8PROC_CATEGORY_LL ||
           cat == UTF8PROC_CATEGORY_LT || cp == 0xAA || cp == 0xBA ||
           (cp >= 0x2160 && cp <= 0x217F) || (cp >= 0x24B6 && cp <= 0x24E9) ||
           (cp >= 0x1F130 && cp <= 0x1F149) || (cp >= 0x1F150 && cp <= 0x1F169) ||
           (cp >= 0x1F170 && cp <= 0x1F189);
}

/* A raw character of the current word. */
struct wchar {
    int32_t cp;
    int32_t ci;     /* code-point index in the original text */
    int32_t bs, be; /* byte range in the original text */
};

/* A transformed character and the range w[lo..hi] (indices into the word)
 * of the original characters it stands for: usually lo == hi, wider when
 * stripped combining marks were attached to it. */
struct tchar {
    int32_t cp;
    int32_t lo, hi;
};

struct run {
    const struct pl_wordpiece *tok;
    struct pl__tokvec *tv;
    struct wchar *w;
    int32_t wn, wcap;
    struct tchar *t;
    int32_t tn, tcap;
    char *u;       /* UTF-8 of one punctuation-split word */
    int32_t *upos; /* byte position of each of its characters (+ end) */
    int32_t word_index;
    bool w_ascii; /* every character of the current word is ASCII */
};

static pl_status grow(void **p, int32_t *cap, int32_t need, size_t elem) {
    if (need <= *cap) return PL_OK;
    int64_t nc = *cap ? *cap : 64;
    while (nc < need) nc *= 2;
    if (nc > INT32_MAX / 2) return PL_ERR(PL_E_NOMEM, "wordpiece: word buffer too large");
    void *np = pl_realloc(*p, (size_t)nc * elem);
    if (!np) return PL_ERR(PL_E_NOMEM, "wordpiece: out of memory (%lld elements)", (long long)nc);
    *p = np;
    *cap = (int32_t)nc;
    return PL_OK;
}

void pl__tokvec_free(struct pl__tokvec *tv) {
    pl_free(tv->ids);
    pl_free(tv->word_ids);
    pl_free(tv->offs);
    memset(tv, 0, sizeof(*tv));
}

static pl_status tokvec_push(struct pl__tokvec *tv, int32_t id, int32_t word,
                             struct pl_token_offset off) {
    if (tv->n == tv->cap) {
        int32_t nc = tv->cap ? tv->cap * 2 : 64;
        if (tv->cap > INT32_MAX / 4) return PL_ERR(PL_E_NOMEM, "wordpiece: too many tokens");
        int32_t *ids = pl_realloc(tv->ids, (size_t)nc * sizeof(int32_t));
        if (!ids) goto fail;
        tv->ids = ids;
        int32_t *wid = pl_realloc(tv->word_ids, (size_t)nc * sizeof(int32_t));
        if (!wid) goto fail;
        tv->word_ids = wid;
        struct pl_token_offset *o = pl_realloc(tv->offs, (size_t)nc * sizeof(*o));
        if (!o) goto fail;
        tv->offs = o;
        tv->cap = nc;
    }
    tv->ids[tv->n] = id;
    tv->word_ids[tv->n] = word;
    tv->offs[tv->n] = off;
    tv->n++;
    return PL_OK;
fail:
    return PL_ERR(PL_E_NOMEM, "wordpiece: out of memory growing the token list");
}

/* Original span of transformed characters t[a..b). */
static struct pl_token_offset span_of(const struct run *r, int32_t a, int32_t b) {
    struct pl_token_offset o = {INT32_MAX, 0, INT32_MAX, 0};
    for (int32_t k = a; k < b; k++) {
        const struct wchar *lo = &r->w[r->t[k].lo], *hi = &r->w[r->t[k].hi];
        if (lo->bs < o.byte_start) o.byte_start = lo->bs;
        if (hi->be > o.byte_end) o.byte_end = hi->be;
        if (lo->ci < o.char_start) o.char_start = lo->ci;
        if (hi->ci + 1 > o.char_end) o.char_end = hi->ci + 1;
    }
    return o;
}

/* WordpieceTokenizer on one punctuation-split word t[a..b). */
static pl_status wordpiece_word(struct run *r, int32_t a, int32_t b) {
    const struct pl_wordpiece *tok = r->tok;
    int32_t n = b - a;
    int32_t word = r->word_index++;
    int32_t unk = tok->special[PL_WORDPIECE_UNK];
    if (n > tok->opts.max_input_chars_per_word)
        return tokvec_push(r->tv, unk, word, span_of(r, a, b));

    int32_t pos = 0;
    for (int32_t k = 0; k < n; k++) {
        r->upos[k] = pos;
        pos += (int32_t)utf8_put(r->u + pos, r->t[a + k].cp);
    }
    r->upos[n] = pos;

    int32_t mark = r->tv->n;
    int32_t start = 0;
    while (start < n) {
        int32_t pre = start > 0 ? 2 : 0, end = n, id = -1;
        /* Longer candidates than the longest piece cannot match. */
        while (end > start && r->upos[end] - r->upos[start] + pre > tok->max_piece_len) end--;
        for (; end > start; end--) {
            id = pl__wordpiece_find(tok, start > 0, r->u + r->upos[start],
                                    (size_t)(r->upos[end] - r->upos[start]));
            if (id >= 0) break;
        }
        if (id < 0) {
            r->tv->n = mark; /* the whole word becomes [UNK] */
            return tokvec_push(r->tv, unk, word, span_of(r, a, b));
        }
        PL_TRY(tokvec_push(r->tv, id, word, span_of(r, a + start, a + end)));
        start = end;
    }
    return PL_OK;
}

static pl_status push_t(struct run *r, int32_t cp, int32_t src) {
    PL_TRY(grow((void **)&r->t, &r->tcap, r->tn + 1, sizeof(struct tchar)));
    r->t[r->tn].cp = cp;
    r->t[r->tn].lo = src;
    r->t[r->tn].hi = src;
    r->tn++;
    return PL_OK;
}

/* Python's str.lower() of U+03A3 at w[i] within its word. */
static int32_t lower_sigma(const struct run *r, int32_t i) {
    int32_t j = i - 1;
    while (j >= 0 && case_ignorable(r->w[j].cp)) j--;
    bool final = j >= 0 && is_cased(r->w[j].cp);
    if (final) {
        j = i + 1;
        while (j < r->wn && case_ignorable(r->w[j].cp)) j++;
        final = j == r->wn || !is_cased(r->w[j].cp);
    }
    return final ? 0x3C2 : 0x3C3;
}

/* lower() + NFD + drop Mn for one word, into r->t. */
static pl_status transform_uncased(struct run *r) {
    for (int32_t i = 0; i < r->wn; i++) {
        int32_t cp = r->w[i].cp;
        int32_t low[2];
        int nl = 1;
        if (cp < 0x80) {
            low[0] = (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
        } else if (cp == 0x130) {
            low[0] = 'i';
            low[1] = 0x307;
            nl = 2;
        } else if (cp == 0x3A3) {
            low[0] = lower_sigma(r, i);
        } else {
            low[0] = utf8proc_tolower(cp);
        }
        for (int k = 0; k < nl; k++) {
            if (low[k] < 0xC0) { /* nothing below U+00C0 decomposes canonically */
                PL_TRY(push_t(r, low[k], i));
                continue;
            }
            utf8proc_int32_t d[8];
            utf8proc_ssize_t nd = utf8proc_decompose_char(low[k], d, 8, UTF8PROC_DECOMPOSE, NULL);
            if (nd < 1 || nd > 8)
                return PL_ERR(PL_E_INTERNAL, "wordpiece: cannot decompose U+%04X",
                              (unsigned)low[k]);
            for (utf8proc_ssize_t m = 0; m < nd; m++) PL_TRY(push_t(r, d[m], i));
        }
    }
    /* Canonical ordering: stable sort each run of non-starters by combining
     * class (NFD of the whole word, as Python normalizes the whole token). */
    for (int32_t s = 0; s < r->tn;) {
        if (r->t[s].cp < 0x300 || utf8proc_get_property(r->t[s].cp)->combining_class == 0) {
            s++;
            continue;
        }
        int32_t e = s;
        while (e < r->tn && r->t[e].cp >= 0x300 &&
               utf8proc_get_property(r->t[e].cp)->combining_class != 0)
            e++;
        for (int32_t x = s + 1; x < e; x++) {
            struct tchar v = r->t[x];
            int cv = utf8proc_get_property(v.cp)->combining_class;
            int32_t y = x;
            while (y > s && utf8proc_get_property(r->t[y - 1].cp)->combining_class > cv) {
                r->t[y] = r->t[y - 1];
                y--;
            }
            r->t[y] = v;
        }
        s = e;
    }
    /* Drop Mn. A dropped mark still belongs to the text the user sees, so
     * its source joins the span of the kept character before it (or after
     * it, for marks that start the word). */
    int32_t keep = 0, plo = -1, phi = -1;
    for (int32_t k = 0; k < r->tn; k++) {
        struct tchar v = r->t[k];
        if (v.cp >= 0x300 && utf8proc_category(v.cp) == UTF8PROC_CATEGORY_MN) {
            struct tchar *into = keep > 0 ? &r->t[keep - 1] : NULL;
            if (into) {
                if (v.lo < into->lo) into->lo = v.lo;
                if (v.hi > into->hi) into->hi = v.hi;
            } else {
                if (plo < 0 || v.lo < plo) plo = v.lo;
                if (v.hi > phi) phi = v.hi;
            }
            continue;
        }
        if (plo >= 0) {
            if (plo < v.lo) v.lo = plo;
            if (phi > v.hi) v.hi = phi;
            plo = phi = -1;
        }
        r->t[keep++] = v;
    }
    r->tn = keep;
    return PL_OK;
}

/* Transform, split on punctuation and WordPiece the word in r->w. */
static pl_status flush_word(struct run *r) {
    if (r->wn == 0) return PL_OK;
    r->tn = 0;
    if (r->tok->opts.do_lower_case && r->w_ascii) {
        /* Fast path: ASCII only lower-cases; nothing decomposes or is Mn. */
        PL_TRY(grow((void **)&r->t, &r->tcap, r->wn, sizeof(struct tchar)));
        for (int32_t i = 0; i < r->wn; i++) {
            int32_t cp = r->w[i].cp;
            r->t[i].cp = (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
            r->t[i].lo = r->t[i].hi = i;
        }
        r->tn = r->wn;
    } else if (r->tok->opts.do_lower_case) {
        PL_TRY(transform_uncased(r));
    } else {
        PL_TRY(grow((void **)&r->t, &r->tcap, r->wn, sizeof(struct tchar)));
        for (int32_t i = 0; i < r->wn; i++) {
            r->t[i].cp = r->w[i].cp;
            r->t[i].lo = r->t[i].hi = i;
        }
        r->tn = r->wn;
    }
    int32_t s = 0;
    for (int32_t k = 0; k < r->tn; k++) {
        if (!is_punct(r->t[k].cp)) continue;
        if (k > s) PL_TRY(wordpiece_word(r, s, k));
        PL_TRY(wordpiece_word(r, k, k + 1));
        s = k + 1;
    }
    if (s < r->tn) PL_TRY(wordpiece_word(r, s, r->tn));
    r->wn = 0;
    r->w_ascii = true;
    return PL_OK;
}

pl_status pl__wordpiece_run(const struct pl_wordpiece *tok, const char *text, size_t len,
                            struct pl__tokvec *tv) {
    pl_status st = PL_OK;
    struct run r = {.tok = tok, .tv = tv, .w_ascii = true};
    if (!text && len > 0) return PL_ERR(PL_E_INVALID_ARG, "wordpiece: NULL text");
    if (len > PL__WORDPIECE_MAX_TEXT)
        return PL_ERR(PL_E_INVALID_ARG, "wordpiece: text of %zu bytes exceeds the 1 GiB limit",
                      len);
    int32_t maxc = tok->opts.max_input_chars_per_word;
    r.u = pl_malloc((size_t)maxc * 4 + 8);
    r.upos = pl_malloc(((size_t)maxc + 1) * sizeof(int32_t));
    if (!r.u || !r.upos) {
        st = PL_ERR(PL_E_NOMEM, "wordpiece: out of memory");
        goto fail;
    }
    const unsigned char *s = (const unsigned char *)text;
    int32_t ci = 0;
    for (size_t i = 0; i < len; ci++) {
        size_t b0 = i;
        int32_t cp;
        if (s[i] < 0x80) {
            cp = s[i++];
        } else if (!pl__utf8_next(s, len, &i, &cp)) {
            st = PL_ERR(PL_E_INVALID_ARG, "wordpiece: invalid UTF-8 at byte %zu", b0);
            goto fail;
        }
        enum scan_class c = scan_class(cp);
        if (c == SCAN_DROP) continue;
        if (c != SCAN_OTHER) PL_TRY_GOTO(st, flush_word(&r));
        if (c == SCAN_SPACE) continue;
        if (r.wn == r.wcap)
            PL_TRY_GOTO(st, grow((void **)&r.w, &r.wcap, r.wn + 1, sizeof(struct wchar)));
        r.w[r.wn++] = (struct wchar){cp, ci, (int32_t)b0, (int32_t)i};
        if (cp >= 0x80) r.w_ascii = false;
        if (c == SCAN_CJK) PL_TRY_GOTO(st, flush_word(&r));
    }
    PL_TRY_GOTO(st, flush_word(&r));

fail: /* also the success path: scratch buffers are always released */
    pl_free(r.w);
    pl_free(r.t);
    pl_free(r.u);
    pl_free(r.upos);
    return st;
}
