/*
 * qa_verify.c - the no-answer verifier's score (qa.h, pl_qa_verify).
 *
 * The reader's margin alone (null score - best span score) tells answerable from unanswerable
 * questions poorly: SQuAD 2.0's unanswerable questions are written against their paragraph,
 * often by negating it or by naming something the paragraph does not hold. The verifier adds
 * those signals and weighs them linearly, as train/qa/verifier.py fitted them; this file
 * computes the same features from the same definitions:
 *
 *   words      runs of ASCII letters, digits and '_' and of code points U+00C0..U+1FFF and
 *              U+2070 on; compared with ASCII letters lower-cased (other bytes as they are)
 *   content    the question's distinct words that are not function words
 *   names      the question's distinct words after the first that start with a digit, or with
 *              an upper-case ASCII letter and are longer than one byte
 *   negation   "n't" (or "n’t") anywhere in the question, or a negation word among its words
 *
 * Only the question's first PL_QA_VERIFY_WORDS words count (the reader keeps fewer tokens than
 * that), so a huge question costs a bounded scan of the passage.
 */
#include <string.h>

#include "qa.h"

struct span {
    const char *p;
    size_t n;
};

/* The length of the code point at s[i] (1 for a byte that starts none), and whether it is a
 * word character. */
static size_t code_point(const unsigned char *s, size_t n, size_t i, bool *word) {
    unsigned c = s[i];
    *word = false;
    if (c < 0x80) {
        *word = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                c == '_';
        return 1;
    }
    size_t len = c >= 0xF0 && c <= 0xF4   ? 4
                 : c >= 0xE0 && c <= 0xEF ? 3
                 : c >= 0xC2 && c <= 0xDF ? 2
                                          : 0;
    if (len == 0 || i + len > n) return 1;
    unsigned cp = c & (len == 2 ? 0x1F : len == 3 ? 0x0F : 0x07);
    for (size_t k = 1; k < len; k++) {
        if ((s[i + k] & 0xC0) != 0x80) return 1;
        cp = cp << 6 | (s[i + k] & 0x3F);
    }
    *word = (cp >= 0xC0 && cp <= 0x1FFF) || cp >= 0x2070;
    return len;
}

/* The next word of s[0..n) at or after *i: its span, *i moved past it. false at the end. */
static bool next_word(const char *s, size_t n, size_t *i, struct span *w) {
    const unsigned char *u = (const unsigned char *)s;
    bool word = false;
    size_t len = 0;
    while (*i < n && (len = code_point(u, n, *i, &word), !word)) *i += len;
    if (*i >= n) return false;
    w->p = s + *i;
    while (*i < n && (len = code_point(u, n, *i, &word), word)) *i += len;
    w->n = (size_t)(s + *i - w->p);
    return true;
}

static inline char lower(char c) { return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c; }

static bool same(struct span a, struct span b) {
    if (a.n != b.n) return false;
    for (size_t k = 0; k < a.n; k++)
        if (lower(a.p[k]) != lower(b.p[k])) return false;
    return true;
}

static bool listed(struct span w, char *const *list, int n) {
    for (int i = 0; i < n; i++)
        if (same(w, (struct span){list[i], strlen(list[i])})) return true;
    return false;
}

/* Add w to set[0..*n) unless it is there. */
static void add_once(struct span *set, int *n, struct span w) {
    for (int i = 0; i < *n; i++)
        if (same(set[i], w)) return;
    set[(*n)++] = w;
}

static bool has_nt(const char *q, size_t n) {
    for (size_t i = 0; i + 2 < n; i++) {
        if (lower(q[i]) != 'n') continue;
        if (q[i + 1] == '\'' && lower(q[i + 2]) == 't') return true;
        if (i + 4 < n && !memcmp(q + i + 1, "\xE2\x80\x99", 3) && lower(q[i + 4]) == 't')
            return true; /* n’t */
    }
    return false;
}

float pl_qa_verify(const struct pl_qa_verifier *v, const char *q, size_t qlen, const char *passage,
                   size_t plen, float margin) {
    struct span content[PL_QA_VERIFY_WORDS], names[PL_QA_VERIFY_WORDS];
    bool seen_content[PL_QA_VERIFY_WORDS] = {false}, seen_names[PL_QA_VERIFY_WORDS] = {false};
    int n_content = 0, n_names = 0, k = 0;
    bool negation = has_nt(q, qlen);
    struct span w;
    for (size_t i = 0; k < PL_QA_VERIFY_WORDS && next_word(q, qlen, &i, &w); k++) {
        if (!listed(w, v->function_words, v->n_function_words)) add_once(content, &n_content, w);
        char c = w.p[0];
        if (k > 0 && ((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z' && w.n > 1)))
            add_once(names, &n_names, w);
        if (!negation && listed(w, v->negation_words, v->n_negation_words)) negation = true;
    }
    /* one pass over the passage marks the question's words it holds */
    int left = n_content + n_names;
    for (size_t i = 0; left > 0 && next_word(passage, plen, &i, &w);) {
        for (int j = 0; j < n_content; j++)
            if (!seen_content[j] && same(content[j], w)) seen_content[j] = true, left--;
        for (int j = 0; j < n_names; j++)
            if (!seen_names[j] && same(names[j], w)) seen_names[j] = true, left--;
    }
    int found = 0, missing_names = 0;
    for (int j = 0; j < n_content; j++) found += seen_content[j];
    for (int j = 0; j < n_names; j++) missing_names += !seen_names[j];
    double x[PL_QA_VF_COUNT];
    x[PL_QA_VF_MARGIN] = margin;
    x[PL_QA_VF_NEGATION] = negation ? 1.0 : 0.0;
    x[PL_QA_VF_MISSING_NAMES] = missing_names;
    x[PL_QA_VF_MISSING_WORDS] = n_content - found;
    x[PL_QA_VF_WORDS_IN_CONTEXT] = n_content ? (double)found / n_content : 0.0;
    double s = v->bias;
    for (int f = 0; f < PL_QA_VF_COUNT; f++) s += (double)v->weight[f] * x[f];
    return (float)s;
}
