/*
 * nlu_post.c - pre/post-processing of parley-nlu that needs no model: whitespace words from
 * token offsets, merging overlapping windows, softmax, BIO spans, punctuation and case.
 */
#include <math.h>
#include <stdbool.h>
#include <string.h>
#include <utf8proc.h>

#include "alloc.h"
#include "nlu.h"
#include "strbuf.h"

/* Length of the whitespace character at s[0..n) (ASCII whitespace, Unicode Zs, U+2028,
 * U+2029), or 0 when s does not start with one. */
static int space_len(const unsigned char *s, size_t n) {
    if (n == 0) return 0;
    if (s[0] == ' ' || (s[0] >= '\t' && s[0] <= '\r')) return 1;
    if (n >= 2 && s[0] == 0xC2 && s[1] == 0xA0) return 2;                   /* U+00A0 */
    if (n >= 3 && s[0] == 0xE1 && s[1] == 0x9A && s[2] == 0x80) return 3;   /* U+1680 */
    if (n >= 3 && s[0] == 0xE2 && s[1] == 0x80 &&
        ((s[2] >= 0x80 && s[2] <= 0x8A) || s[2] == 0xA8 || s[2] == 0xA9 || s[2] == 0xAF))
        return 3;                                                           /* U+2000-200A, 2028/9, 202F */
    if (n >= 3 && s[0] == 0xE2 && s[1] == 0x81 && s[2] == 0x9F) return 3;   /* U+205F */
    if (n >= 3 && s[0] == 0xE3 && s[1] == 0x80 && s[2] == 0x80) return 3;   /* U+3000 */
    return 0;
}

static bool gap_has_space(const char *text, int32_t from, int32_t to) {
    const unsigned char *s = (const unsigned char *)text;
    for (int32_t i = from; i < to; i++)
        if (space_len(s + i, (size_t)(to - i)) > 0) return true;
    return false;
}

pl_status pl_nlu_words(const char *text, size_t len, const struct pl_token_offset *offs,
                       int32_t n_tok, struct pl_nlu_word **words, int32_t *n_words) {
    *words = NULL;
    *n_words = 0;
    if (n_tok <= 0) return PL_OK;
    if (!text || !offs) return PL_ERR(PL_E_INVALID_ARG, "words: NULL text or offsets");
    for (int32_t i = 0; i < n_tok; i++) {
        const struct pl_token_offset *o = &offs[i];
        if (o->byte_start < 0 || o->byte_end < o->byte_start || (size_t)o->byte_end > len ||
            o->char_end < o->char_start || (i > 0 && o->byte_start < offs[i - 1].byte_end))
            return PL_ERR(PL_E_INVALID_ARG, "words: token %d has span [%d, %d) outside or out of "
                                            "order in a %zu-byte text", i, o->byte_start, o->byte_end, len);
    }
    struct pl_nlu_word *w = pl_calloc((size_t)n_tok, sizeof *w);
    if (!w) return PL_ERR(PL_E_NOMEM, "words: %d tokens", n_tok);
    int32_t n = 0;
    for (int32_t i = 0; i < n_tok; i++) {
        const struct pl_token_offset *o = &offs[i];
        if (n == 0 || gap_has_space(text, offs[i - 1].byte_end, o->byte_start)) {
            w[n].first_token = i;
            w[n].byte_start = o->byte_start;
            w[n].char_start = o->char_start;
            n++;
        }
        w[n - 1].last_token = i;
        w[n - 1].byte_end = o->byte_end;
        w[n - 1].char_end = o->char_end;
    }
    *words = w;
    *n_words = n;
    return PL_OK;
}

pl_status pl_nlu_merge_windows(const struct pl_windows *windows, const float *const *win_scores,
                               int n_labels, float *out, struct pl_token_offset *out_offs) {
    if (!windows || !win_scores || n_labels <= 0 || (!out && windows->n_text_tokens > 0))
        return PL_ERR(PL_E_INVALID_ARG, "merge: bad arguments");
    int32_t total = windows->n_text_tokens;
    /* set[t]: 0 unset, 1 from a window without max context, 2 from its max-context window */
    uint8_t *set = pl_calloc((size_t)total + 1, 1);
    if (!set) return PL_ERR(PL_E_NOMEM, "merge: %d tokens", total);
    pl_status st = PL_OK;
    for (int32_t w = 0; w < windows->n; w++) {
        const struct pl_encoding *e = &windows->windows[w];
        int32_t k = 0;
        for (int32_t i = 0; i < e->n; i++) {
            if (e->seq[i] < 0) continue;
            int32_t g = e->window_start + k++;
            if (g < 0 || g >= total) {
                st = PL_ERR(PL_E_INVALID_ARG, "merge: window %d token %d maps to %d of %d", w, i,
                            g, total);
                goto fail;
            }
            uint8_t level = (!e->max_context || e->max_context[i]) ? 2 : 1;
            if (set[g] >= level) continue;
            if (set[g] == 1 && level == 1) continue;
            set[g] = level;
            memcpy(out + (size_t)g * n_labels, win_scores[w] + (size_t)i * n_labels,
                   sizeof(float) * (size_t)n_labels);
            if (out_offs) out_offs[g] = e->offsets[i];
        }
    }
    for (int32_t g = 0; g < total; g++) {
        if (!set[g]) {
            st = PL_ERR(PL_E_INVALID_ARG, "merge: token %d is in no window", g);
            goto fail;
        }
    }
fail:
    pl_free(set);
    return st;
}

void pl_nlu_softmax(float *x, int n) {
    float mx = x[0];
    for (int i = 1; i < n; i++)
        if (x[i] > mx) mx = x[i];
    double sum = 0;
    for (int i = 0; i < n; i++) {
        x[i] = expf(x[i] - mx);
        sum += x[i];
    }
    for (int i = 0; i < n; i++) x[i] = (float)(x[i] / sum);
}

int pl_nlu_argmax(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

/* Split a tag into prefix ('B', 'I' or 0 for none/outside) and type. */
static char split_tag(const char *tag, const char **type, int32_t *type_len) {
    *type = tag;
    *type_len = (int32_t)strlen(tag);
    if (*type_len == 0 || strcmp(tag, "O") == 0) return 'O';
    if ((tag[0] == 'B' || tag[0] == 'I' || tag[0] == 'E' || tag[0] == 'S') &&
        (tag[1] == '-' || tag[1] == '_')) {
        *type = tag + 2;
        *type_len -= 2;
        return (tag[0] == 'B' || tag[0] == 'S') ? 'B' : 'I';
    }
    return 'I';
}

pl_status pl_nlu_bio_decode(const char *const *labels, int n_labels, const int32_t *word_label,
                            const float *word_score, int32_t n_words, struct pl_nlu_span **spans,
                            int32_t *n_spans) {
    *spans = NULL;
    *n_spans = 0;
    if (n_words <= 0) return PL_OK;
    struct pl_nlu_span *sp = pl_calloc((size_t)n_words, sizeof *sp);
    if (!sp) return PL_ERR(PL_E_NOMEM, "bio: %d words", n_words);
    int32_t n = 0;
    bool open = false;
    double sum = 0;
    for (int32_t i = 0; i < n_words; i++) {
        int32_t l = word_label[i];
        if (l < 0 || l >= n_labels) {
            pl_free(sp);
            return PL_ERR(PL_E_INVALID_ARG, "bio: word %d has label %d of %d", i, l, n_labels);
        }
        const char *type;
        int32_t tlen;
        char p = split_tag(labels[l], &type, &tlen);
        if (p == 'O') {
            if (open) sp[n - 1].score = (float)(sum / (sp[n - 1].last_word - sp[n - 1].first_word + 1));
            open = false;
            continue;
        }
        bool cont = p == 'I' && open && sp[n - 1].type_len == tlen &&
                    memcmp(sp[n - 1].type, type, (size_t)tlen) == 0;
        if (cont) {
            sp[n - 1].last_word = i;
            sum += word_score ? word_score[i] : 1.0;
            continue;
        }
        if (open) sp[n - 1].score = (float)(sum / (sp[n - 1].last_word - sp[n - 1].first_word + 1));
        sp[n].first_word = sp[n].last_word = i;
        sp[n].type_label = l;
        sp[n].type = type;
        sp[n].type_len = tlen;
        sum = word_score ? word_score[i] : 1.0;
        n++;
        open = true;
    }
    if (open) sp[n - 1].score = (float)(sum / (sp[n - 1].last_word - sp[n - 1].first_word + 1));
    if (n == 0) {
        pl_free(sp);
        sp = NULL;
    }
    *spans = sp;
    *n_spans = n;
    return PL_OK;
}

enum pl_nlu_case pl_nlu_case_of_label(const char *label) {
    if (!label) return PL_NLU_CASE_LOWER;
    if (!strcmp(label, "UPPER") || !strcmp(label, "ALL_CAPS") || !strcmp(label, "A") ||
        !strcmp(label, "upper"))
        return PL_NLU_CASE_UPPER;
    if (!strcmp(label, "Capitalized") || !strcmp(label, "C") || !strcmp(label, "U") ||
        !strcmp(label, "capitalized") || !strcmp(label, "Cap"))
        return PL_NLU_CASE_CAPITALIZE;
    return PL_NLU_CASE_LOWER;
}

const char *pl_nlu_mark_of_label(const char *label) {
    if (!label || !*label || !strcmp(label, "O") || !strcmp(label, "none")) return "";
    return label;
}

/* The code point at text[b..end) and its length in bytes (1 and the byte for bytes that are
 * not UTF-8; the service checks texts before). */
static utf8proc_ssize_t code_point_at(const char *text, size_t b, size_t end, utf8proc_int32_t *cp) {
    utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)text + b, (utf8proc_ssize_t)(end - b), cp);
    if (k > 0) return k;
    *cp = (unsigned char)text[b];
    return 1;
}

/* Letters, marks and numbers (Unicode L*, M*, N*): what a word of the training text is made of. */
static bool word_char(utf8proc_int32_t cp) {
    utf8proc_category_t c = utf8proc_category(cp);
    return c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_NO;
}

static bool upper_char(utf8proc_int32_t cp) {
    utf8proc_category_t c = utf8proc_category(cp);
    return c == UTF8PROC_CATEGORY_LU || c == UTF8PROC_CATEGORY_LT;
}

/* Whether text[from..to) holds a code point for which pred is true. */
static bool any_char(const char *text, size_t from, size_t to, bool (*pred)(utf8proc_int32_t)) {
    for (size_t b = from; b < to;) {
        utf8proc_int32_t cp;
        b += (size_t)code_point_at(text, b, to, &cp);
        if (pred(cp)) return true;
    }
    return false;
}

static bool lower_char(utf8proc_int32_t cp) {
    return utf8proc_category(cp) == UTF8PROC_CATEGORY_LL;
}

/* Blank (spaces) the characters of the word out[from..to) before its first and after its last
 * word character; the whole word when it has none. Returns whether it had one. */
static bool strip_word(char *out, size_t from, size_t to) {
    size_t first = to, last_end = from;
    for (size_t b = from; b < to;) {
        utf8proc_int32_t cp;
        size_t k = (size_t)code_point_at(out, b, to, &cp);
        if (word_char(cp)) {
            if (first == to) first = b;
            last_end = b + k;
        }
        b += k;
    }
    if (first == to) {
        memset(out + from, ' ', to - from);
        return false;
    }
    memset(out + from, ' ', first - from);
    memset(out + last_end, ' ', to - last_end);
    return true;
}

pl_status pl_nlu_punct_model_text(const char *text, size_t len, char **out) {
    *out = pl_malloc(len + 1);
    if (!*out) return PL_ERR(PL_E_NOMEM, "punct: %zu-byte text", len);
    memcpy(*out, text, len);
    (*out)[len] = '\0';
    const unsigned char *s = (const unsigned char *)text;
    bool any_word = false;
    size_t pos = 0;
    while (pos < len) {
        int sp = space_len(s + pos, len - pos);
        if (sp > 0) {
            pos += (size_t)sp;
            continue;
        }
        size_t end = pos;
        while (end < len && space_len(s + end, len - end) == 0) end++;
        any_word |= strip_word(*out, pos, end);
        pos = end;
    }
    if (!any_word) memcpy(*out, text, len);
    return PL_OK;
}

/* Append text[from..to) with case c applied per code point (Unicode, utf8proc): CAPITALIZE
 * raises the first letter (also after a non-letter such as an opening quote) and lowers the
 * rest. */
static void append_cased(struct pl_strbuf *sb, const char *text, size_t from, size_t to, enum pl_nlu_case c) {
    bool first_letter = true;
    for (size_t b = from; b < to;) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = code_point_at(text, b, to, &cp);
        utf8proc_category_t cat = utf8proc_category(cp);
        bool letter = cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO;
        utf8proc_int32_t m;
        if (c == PL_NLU_CASE_UPPER || (c == PL_NLU_CASE_CAPITALIZE && first_letter && letter))
            m = utf8proc_toupper(cp);
        else
            m = utf8proc_tolower(cp);
        if (letter) first_letter = false;
        utf8proc_uint8_t enc[4];
        utf8proc_ssize_t el = utf8proc_encode_char(m, enc);
        if (el <= 0) pl_strbuf_append_n(sb, text + b, (size_t)k);
        else pl_strbuf_append_n(sb, (const char *)enc, (size_t)el);
        b += (size_t)k;
    }
}

/* The start of the code point that ends at text[..to) (to > from). */
static size_t char_before(const char *text, size_t from, size_t to) {
    size_t b = to - 1;
    while (b > from && ((unsigned char)text[b] & 0xC0) == 0x80) b--;
    return b;
}

/* Whether the word text[from..to) ends the typed word: whitespace or the end of the text follows,
 * and its last character is a word character. */
static bool ends_typed_word(const char *text, size_t len, size_t from, size_t to) {
    if (to == from || (to < len && space_len((const unsigned char *)text + to, len - to) == 0)) return false;
    utf8proc_int32_t cp;
    code_point_at(text, char_before(text, from, to), to, &cp);
    return word_char(cp);
}

/* Whether the word text[from..to) starts the typed word: the text starts there or whitespace
 * comes before it. */
static bool starts_typed_word(const char *text, size_t from) {
    if (from == 0) return true;
    size_t b = char_before(text, 0, from);
    return space_len((const unsigned char *)text + b, from - b) > 0;
}

pl_status pl_nlu_punct_rebuild(const char *text, size_t len, const struct pl_nlu_word *words,
                               int32_t n_words, const enum pl_nlu_case *cases,
                               const char *const *marks, char **out) {
    *out = NULL;
    for (int32_t i = 0; i < n_words; i++) {
        const struct pl_nlu_word *w = &words[i];
        if (w->byte_start < 0 || (i > 0 && w->byte_start < words[i - 1].byte_end) ||
            w->byte_end < w->byte_start || (size_t)w->byte_end > len)
            return PL_ERR(PL_E_INVALID_ARG, "punct: word %d [%d, %d) outside the %zu-byte text",
                          i, w->byte_start, w->byte_end, len);
    }
    /* all-capitals input carries no case information: every word takes the model's case */
    bool uncased = !any_char(text, 0, len, lower_char);
    struct pl_strbuf sb;
    pl_strbuf_init(&sb);
    size_t pos = 0;
    for (int32_t i = 0; i < n_words; i++) {
        size_t from = (size_t)words[i].byte_start, to = (size_t)words[i].byte_end;
        pl_strbuf_append_n(&sb, text + pos, from - pos);
        bool ends = ends_typed_word(text, len, from, to);
        bool bare = ends && starts_typed_word(text, from); /* nothing typed around the word */
        if (!bare || (!uncased && any_char(text, from, to, upper_char)))
            pl_strbuf_append_n(&sb, text + from, to - from);
        else
            append_cased(&sb, text, from, to, cases[i]);
        const char *mark = marks[i] ? marks[i] : "";
        if (*mark && ends) pl_strbuf_append_n(&sb, mark, strlen(mark));
        pos = to;
    }
    pl_strbuf_append_n(&sb, text + pos, len - pos);
    if (pl_strbuf_status(&sb) != PL_OK) {
        pl_strbuf_deinit(&sb);
        return PL_ERR(PL_E_NOMEM, "punct: %zu-byte text", len);
    }
    *out = pl_strbuf_detach(&sb);
    return *out ? PL_OK : PL_ERR(PL_E_NOMEM, "punct: %zu-byte text", len);
}

const char *pl_nlu_task_name(enum pl_nlu_task t) {
    switch (t) {
    case PL_NLU_TASK_INTENT_SLOT: return "joint_intent_slot";
    case PL_NLU_TASK_TOKEN_CLS: return "token_classification";
    case PL_NLU_TASK_TEXT_CLS: return "text_classification";
    case PL_NLU_TASK_PUNCT: return "punctuation_capitalization";
    default: return "unknown";
    }
}

static bool is_ascii_space(unsigned char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

bool pl_nlu_word_starts_upper(const char *text, size_t len, size_t pos) {
    if (!text || pos >= len) return false;
    size_t b = pos;
    while (b > 0 && !is_ascii_space((unsigned char)text[b - 1])) b--;
    utf8proc_int32_t cp;
    utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)text + b,
                                          (utf8proc_ssize_t)(len - b), &cp);
    return k > 0 && utf8proc_category(cp) == UTF8PROC_CATEGORY_LU;
}

int pl_nlu_word_case_class(const char *text, size_t len, size_t pos) {
    if (!text || pos >= len) return 0;
    size_t b = pos, e = pos;
    while (b > 0 && !is_ascii_space((unsigned char)text[b - 1])) b--;
    while (e < len && !is_ascii_space((unsigned char)text[e])) e++;
    int first = -1; /* the category of the first letter or digit */
    int letters = 0;
    bool lower = false, upper = false, digit = false;
    for (size_t i = b; i < e;) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)text + i,
                                              (utf8proc_ssize_t)(e - i), &cp);
        if (k <= 0) { /* a byte that is not UTF-8: no category */
            i++;
            continue;
        }
        i += (size_t)k;
        utf8proc_category_t c = utf8proc_category(cp);
        bool letter = c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_LO;
        bool number = c >= UTF8PROC_CATEGORY_ND && c <= UTF8PROC_CATEGORY_NO;
        if (first < 0 && (letter || number)) first = (int)c;
        letters += letter;
        lower = lower || c == UTF8PROC_CATEGORY_LL;
        upper = upper || c == UTF8PROC_CATEGORY_LU;
        digit = digit || c == UTF8PROC_CATEGORY_ND;
    }
    if (first < 0) return 0;
    if (first == UTF8PROC_CATEGORY_LU) return !lower && letters >= 2 ? 2 : 1;
    return upper || digit ? 3 : 0;
}

pl_status pl_nlu_bio_transitions(const char *const *labels, int n_labels, uint8_t **allowed) {
    if (!labels || n_labels < 1 || !allowed)
        return PL_ERR(PL_E_INVALID_ARG, "bio_transitions: bad arguments");
    *allowed = NULL;
    bool bio = false;
    for (int j = 0; j < n_labels; j++) bio = bio || !strncmp(labels[j], "I-", 2);
    if (!bio) return PL_OK;
    uint8_t *a = pl_malloc((size_t)(n_labels + 1) * (size_t)n_labels);
    if (!a) return PL_ERR(PL_E_NOMEM, "bio_transitions: %d labels", n_labels);
    for (int i = 0; i <= n_labels; i++)
        for (int j = 0; j < n_labels; j++) {
            const char *b = labels[j];
            bool ok = strncmp(b, "I-", 2) != 0;
            if (!ok && i < n_labels) {
                const char *p = labels[i];
                ok = (!strncmp(p, "B-", 2) || !strncmp(p, "I-", 2)) && !strcmp(p + 2, b + 2);
            }
            a[(size_t)i * n_labels + j] = ok;
        }
    *allowed = a;
    return PL_OK;
}

pl_status pl_nlu_bio_viterbi(const uint8_t *allowed, int n_labels, const float *const *rows,
                             int32_t n_words, int32_t *out) {
    if (n_labels < 1 || n_words < 0 || (n_words > 0 && (!rows || !out)))
        return PL_ERR(PL_E_INVALID_ARG, "bio_viterbi: bad arguments");
    if (n_words == 0) return PL_OK;
    const int L = n_labels;
    if (!allowed) {
        for (int32_t t = 0; t < n_words; t++) out[t] = pl_nlu_argmax(rows[t], L);
        return PL_OK;
    }
    const float NEG = -1e30f;
    float *score = pl_malloc(sizeof(float) * (size_t)L * 2);
    int32_t *back = pl_malloc(sizeof(int32_t) * (size_t)L * (size_t)n_words);
    if (!score || !back) {
        pl_free(score);
        pl_free(back);
        return PL_ERR(PL_E_NOMEM, "bio_viterbi: %d words x %d labels", (int)n_words, L);
    }
    float *cur = score, *next = score + L;
    const uint8_t *first = allowed + (size_t)L * L;
    for (int j = 0; j < L; j++) cur[j] = first[j] ? logf(fmaxf(rows[0][j], 1e-30f)) : NEG;
    for (int32_t t = 1; t < n_words; t++) {
        for (int j = 0; j < L; j++) {
            float best = NEG;
            int32_t arg = 0;
            for (int i = 0; i < L; i++) {
                if (cur[i] <= NEG || !allowed[(size_t)i * L + j]) continue;
                if (cur[i] > best) best = cur[i], arg = i;
            }
            back[(size_t)t * L + j] = arg;
            next[j] = best <= NEG ? NEG : best + logf(fmaxf(rows[t][j], 1e-30f));
        }
        float *tmp = cur;
        cur = next;
        next = tmp;
    }
    int32_t k = 0;
    for (int j = 1; j < L; j++)
        if (cur[j] > cur[k]) k = j;
    for (int32_t t = n_words - 1; t >= 0; t--) {
        out[t] = k;
        if (t > 0) k = back[(size_t)t * L + k];
    }
    pl_free(score);
    pl_free(back);
    return PL_OK;
}
