/*
 * tts_split.c - sentence splitting: raw text for streaming long requests, and
 * normalized tokens with a cap on the words of a sentence.
 */
#include <string.h>

#include "alloc.h"
#include "tts_impl.h"

static bool push_span(struct pl_tts_span **v, size_t *n, size_t *cap, uint32_t a, uint32_t b) {
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        struct pl_tts_span *q = pl_realloc(*v, nc * sizeof *q);
        if (!q)
            return false;
        *v = q;
        *cap = nc;
    }
    (*v)[*n].start = a;
    (*v)[(*n)++].end = b;
    return true;
}

static bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
static bool is_upper(char c) { return c >= 'A' && c <= 'Z'; }
static bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* Does the chunk t[a..b) end a sentence, given the chunk that follows starts at t[next]? */
static bool ends_sentence(const char *t, size_t a, size_t b, bool has_next, char next) {
    static const char closers[] = ")]}\"'";
    while (b > a && strchr(closers, t[b - 1]))
        b--;
    while (b - a >= 3 && (memcmp(t + b - 3, "\xe2\x80\x9d", 3) == 0 ||
                          memcmp(t + b - 3, "\xe2\x80\x99", 3) == 0))
        b -= 3;
    if (b == a)
        return false;
    char last = t[b - 1];
    if (last == '?' || last == '!')
        return true;
    if (last != '.')
        return false;
    if (b - a >= 2 && t[b - 2] == '.') /* an ellipsis pauses */
        return false;
    while (a < b && strchr("([{\"'", t[a]))
        a++;
    switch (pl__tts_abbrev(t + a, b - a, NULL)) {
    case PL__TTS_ABBR_TITLE:
    case PL__TTS_ABBR_INNER:
        return !has_next || (b - a == 3 && (t[a] == 'N' || t[a] == 'n') && !is_digit(next));
    case PL__TTS_ABBR_FINAL:
        return !has_next || is_upper(next);
    default:
        break;
    }
    if (pl__tts_is_initial(t + a, b - a) && has_next && is_upper(next))
        return false;
    return true;
}

pl_status pl_tts_split_text(const char *text, size_t len, struct pl_tts_span **spans, size_t *n) {
    if (!text || !spans || !n)
        return PL_ERR(PL_E_INVALID_ARG, "split: NULL argument");
    *spans = NULL;
    *n = 0;
    if (len > UINT32_MAX)
        return PL_ERR(PL_E_INVALID_ARG, "split: text of %zu bytes", len);
    struct pl_tts_span *v = NULL;
    size_t nv = 0, cap = 0;
    size_t i = 0, s_start = SIZE_MAX, prev_b = 0, prev_a = 0;
    bool open = false;
    while (i <= len) {
        int nl = 0;
        while (i < len && is_ws(text[i]))
            nl += text[i++] == '\n';
        bool has = i < len;
        size_t a = i;
        while (i < len && !is_ws(text[i]))
            i++;
        if (open) {
            char next = has ? text[a] : 0;
            bool marker = has && (next == '-' || next == '*' || (len - a >= 3 && memcmp(text + a, "\xe2\x80\xa2", 3) == 0));
            bool brk = nl >= 2 || (nl == 1 && (is_upper(next) || is_digit(next) || marker));
            if (!has || brk || ends_sentence(text, prev_a, prev_b, has, next)) {
                if (!push_span(&v, &nv, &cap, (uint32_t)s_start, (uint32_t)prev_b)) {
                    pl_free(v);
                    return PL_ERR(PL_E_NOMEM, "split: out of memory");
                }
                open = false;
            }
        }
        if (!has)
            break;
        if (!open) {
            s_start = a;
            open = true;
        }
        prev_a = a;
        prev_b = i;
    }
    *spans = v;
    *n = nv;
    return PL_OK;
}

static bool is_conjunction(const char *w) {
    static const char *const conj[] = {"and", "but", "or", "so", "because", "which",
                                       "while", "yet", "although", "then", "that"};
    for (size_t k = 0; k < sizeof conj / sizeof conj[0]; k++) {
        if (strcmp(w, conj[k]) == 0)
            return true;
    }
    return false;
}

static bool is_end(enum pl_tts_punct p) {
    return p == PL_TTS_PUNCT_PERIOD || p == PL_TTS_PUNCT_QUESTION || p == PL_TTS_PUNCT_EXCLAIM ||
           p == PL_TTS_PUNCT_PARAGRAPH;
}

pl_status pl_tts_split_tokens(const struct pl_tts_token *toks, size_t n_toks, int max_words,
                              struct pl_tts_span **spans, size_t *n) {
    if ((!toks && n_toks) || !spans || !n)
        return PL_ERR(PL_E_INVALID_ARG, "split: NULL argument");
    *spans = NULL;
    *n = 0;
    struct pl_tts_span *v = NULL;
    size_t nv = 0, cap = 0;
    size_t s = 0;
    while (s < n_toks) {
        size_t end = n_toks, best = 0;
        int words = 0, best_score = 0;
        for (size_t i = s; i < n_toks; i++) {
            const struct pl_tts_token *t = &toks[i];
            if (t->kind == PL_TTS_TOK_PUNCT) {
                if (is_end(t->punct)) {
                    end = i + 1;
                    break;
                }
                int sc = (t->punct == PL_TTS_PUNCT_COMMA) ? 2 : 3;
                if (max_words > 0 && words * 2 >= max_words && sc >= best_score) {
                    best = i + 1;
                    best_score = sc;
                }
                continue;
            }
            if (max_words > 0 && words == max_words) {
                end = best_score ? best : i;
                break;
            }
            if (max_words > 0 && words * 2 >= max_words && i > s && is_conjunction(t->text) &&
                best_score <= 1) {
                best = i;
                best_score = 1;
            }
            words++;
        }
        if (!push_span(&v, &nv, &cap, (uint32_t)s, (uint32_t)end)) {
            pl_free(v);
            return PL_ERR(PL_E_NOMEM, "split: out of memory");
        }
        s = end;
    }
    *spans = v;
    *n = nv;
    return PL_OK;
}
