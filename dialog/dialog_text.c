/*
 * dialog_text.c - text helpers of the dialog core (dialog.h): normalization and keyword
 * phrases, number words, yes/no, response templates and the choice of a variation.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "dialog_impl.h"
#include "strbuf.h"

/* ---- words ------------------------------------------------------------------------------- */

char *pl_dlg_normalize(const char *text) {
    size_t n = strlen(text);
    char *out = pl_malloc(n + 1);
    if (!out) return NULL;
    size_t j = 0;
    bool space = true; /* drop leading and repeated spaces */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)text[i];
        /* keep letters, digits, apostrophes inside words and every non-ASCII byte */
        bool word = isalnum(c) || c >= 0x80 || (c == '\'' && j > 0 && !space);
        if (word) {
            out[j++] = (char)tolower(c);
            space = false;
        } else if (!space) {
            out[j++] = ' ';
            space = true;
        }
    }
    while (j > 0 && out[j - 1] == ' ') j--;
    out[j] = '\0';
    return out;
}

bool pl_dlg_has_phrase(const char *t, const char *phrase) {
    size_t pl = strlen(phrase);
    if (pl == 0) return false;
    for (const char *p = strstr(t, phrase); p; p = strstr(p + 1, phrase)) {
        bool start = p == t || p[-1] == ' ';
        bool end = p[pl] == '\0' || p[pl] == ' ';
        if (start && end) return true;
    }
    return false;
}

int pl_dlg_word_count(const char *t) {
    int n = 0;
    bool in = false;
    for (; *t; t++) {
        if (*t != ' ' && !in) n++;
        in = *t != ' ';
    }
    return n;
}

static const char *const units[] = {"zero",    "one",     "two",       "three",    "four",
                                    "five",    "six",     "seven",     "eight",    "nine",
                                    "ten",     "eleven",  "twelve",    "thirteen", "fourteen",
                                    "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"};
static const char *const tens[] = {"twenty", "thirty", "forty", "fifty",
                                   "sixty",  "seventy", "eighty", "ninety"};

/* The value of one number word, or -1. */
static long word_value(const char *w, size_t n, bool *is_tens) {
    *is_tens = false;
    for (size_t i = 0; i < PL_ARRAY_LEN(units); i++)
        if (strlen(units[i]) == n && !strncmp(w, units[i], n)) return (long)i;
    for (size_t i = 0; i < PL_ARRAY_LEN(tens); i++)
        if (strlen(tens[i]) == n && !strncmp(w, tens[i], n)) {
            *is_tens = true;
            return 20 + 10 * (long)i;
        }
    if (n == 5 && !strncmp(w, "dozen", 5)) return 12;
    if (n == 6 && !strncmp(w, "couple", 6)) return 2;
    if (n == 4 && !strncmp(w, "pair", 4)) return 2;
    if (n == 4 && !strncmp(w, "solo", 4)) return 1;
    return -1;
}

bool pl_dlg_parse_number(const char *text, long *out) {
    char *t = pl_dlg_normalize(text);
    if (!t) return false;
    bool found = false;
    const char *p = t;
    while (*p && !found) {
        const char *e = p;
        while (*e && *e != ' ') e++;
        size_t n = (size_t)(e - p);
        if (isdigit((unsigned char)*p)) { /* "4", "12", "4pm" counts as 4 */
            *out = strtol(p, NULL, 10);
            found = true;
            break;
        }
        bool tens_word;
        long v = word_value(p, n, &tens_word);
        if (v >= 0) {
            *out = v;
            found = true;
            if (tens_word && *e == ' ') { /* "twenty one" */
                const char *q = e + 1, *qe = q;
                while (*qe && *qe != ' ') qe++;
                bool t2;
                long u = word_value(q, (size_t)(qe - q), &t2);
                if (u > 0 && u < 10 && !t2) *out = v + u;
            }
        }
        p = *e ? e + 1 : e;
    }
    pl_free(t);
    return found;
}

static const char *const yes_words[] = {"yes", "yeah", "yep", "yup", "sure", "correct", "right",
                                        "ok", "okay", "confirm", "please do", "go ahead",
                                        "sounds good", "absolutely", "of course"};
static const char *const no_words[] = {"no", "nope", "nah", "not", "don't", "dont", "cancel",
                                       "wrong", "stop", "never mind", "negative"};

int pl__dlg_yes_no(const char *t) {
    bool y = false, n = false;
    for (size_t i = 0; i < PL_ARRAY_LEN(yes_words); i++) y = y || pl_dlg_has_phrase(t, yes_words[i]);
    for (size_t i = 0; i < PL_ARRAY_LEN(no_words); i++) n = n || pl_dlg_has_phrase(t, no_words[i]);
    return n ? -1 : y ? 1 : 0; /* "no, that's not right" is a no */
}

/* Whether every word of t is a word of the yes / no phrases above or a courtesy ("no",
 * "yes please", "no thanks"): such an answer says nothing else, whatever a slot tagger
 * makes of it. */
bool pl__dlg_only_yes_no(const char *t) {
    static const char *const extra[] = {"thanks", "thank", "you", "please"};
    static const char *const *const lists[] = {yes_words, no_words, extra};
    static const size_t sizes[] = {PL_ARRAY_LEN(yes_words), PL_ARRAY_LEN(no_words), PL_ARRAY_LEN(extra)};
    char w[32];
    int words = 0;
    for (t += strspn(t, " "); *t; t += strspn(t, " ")) {
        size_t n = strcspn(t, " ");
        if (n >= sizeof w) return false; /* longer than any listed word */
        memcpy(w, t, n);
        w[n] = '\0';
        bool known = false; /* w is a word of one of the phrases */
        for (size_t l = 0; l < PL_ARRAY_LEN(lists) && !known; l++)
            for (size_t i = 0; i < sizes[l] && !known; i++) known = pl_dlg_has_phrase(lists[l][i], w);
        if (!known) return false;
        words++;
        t += n;
    }
    return words > 0;
}

/* ---- templates ---------------------------------------------------------------------------- */

static const char *lookup(const char *name, size_t n, const struct pl_dlg_vars *vars,
                          const struct pl_dlg_kv *slots, int n_slots) {
    for (int i = 0; vars && i < vars->n; i++)
        if (strlen(vars->kv[i].name) == n && !strncmp(vars->kv[i].name, name, n))
            return vars->kv[i].value;
    for (int i = 0; i < n_slots; i++)
        if (strlen(slots[i].name) == n && !strncmp(slots[i].name, name, n)) return slots[i].value;
    return NULL;
}

static void append_filtered(struct pl_strbuf *sb, const char *v, const char *f, size_t fn) {
    size_t start = sb->len;
    pl_strbuf_append(sb, v);
    if (pl_strbuf_status(sb) != PL_OK || fn == 0) return;
    char *s = sb->data + start;
    bool word_start = true;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (fn == 5 && !strncmp(f, "lower", 5)) *s = (char)tolower(c);
        else if (fn == 5 && !strncmp(f, "upper", 5)) *s = (char)toupper(c);
        else if (fn == 5 && !strncmp(f, "title", 5) && word_start) *s = (char)toupper(c);
        else if (fn == 8 && !strncmp(f, "capfirst", 8) && s == sb->data + start)
            *s = (char)toupper(c);
        word_start = c == ' ' || c == '-';
    }
}

/* Walk tmpl: literal text to sb (if non-NULL), each "{name|filter}" to ref(). */
typedef pl_status (*ref_fn)(void *ud, const char *name, size_t n, const char *filter, size_t fn);

static pl_status walk(const char *tmpl, struct pl_strbuf *sb, ref_fn ref, void *ud) {
    for (const char *p = tmpl; *p; p++) {
        if ((p[0] == '{' && p[1] == '{') || (p[0] == '}' && p[1] == '}')) {
            if (sb) pl_strbuf_append_char(sb, *p);
            p++;
            continue;
        }
        if (*p != '{') {
            if (sb) pl_strbuf_append_char(sb, *p);
            continue;
        }
        const char *e = strchr(p, '}');
        if (!e) return PL_ERR(PL_E_FORMAT, "template \"%s\": '{' without '}'", tmpl);
        const char *bar = memchr(p, '|', (size_t)(e - p));
        const char *ne = bar ? bar : e;
        size_t n = (size_t)(ne - p - 1);
        if (n == 0) return PL_ERR(PL_E_FORMAT, "template \"%s\": empty {}", tmpl);
        PL_TRY(ref(ud, p + 1, n, bar ? bar + 1 : "", bar ? (size_t)(e - bar - 1) : 0));
        p = e;
    }
    return PL_OK;
}

struct fill_ctx {
    struct pl_strbuf *sb;
    const struct pl_dlg_vars *vars;
    const struct pl_dlg_kv *slots;
    int n_slots;
};

static pl_status fill_ref(void *ud, const char *name, size_t n, const char *f, size_t fn) {
    struct fill_ctx *c = ud;
    const char *v = lookup(name, n, c->vars, c->slots, c->n_slots);
    if (!v) return PL_E_NOT_FOUND; /* quiet: the caller tries another variation */
    append_filtered(c->sb, v, f, fn);
    return PL_OK;
}

pl_status pl_dlg_template_fill(const char *tmpl, const struct pl_dlg_vars *vars,
                               const struct pl_dlg_kv *slots, int n_slots, char **out) {
    *out = NULL;
    struct pl_strbuf sb;
    pl_strbuf_init(&sb);
    struct fill_ctx c = {&sb, vars, slots, n_slots};
    pl_status st = walk(tmpl, &sb, fill_ref, &c);
    if (st == PL_OK && pl_strbuf_status(&sb) != PL_OK) st = PL_ERR(PL_E_NOMEM, "template");
    if (st == PL_OK) *out = pl_strbuf_detach(&sb);
    pl_strbuf_deinit(&sb);
    return st;
}

struct refs_ctx {
    pl_status (*fn)(void *ud, const char *name);
    void *ud;
};

static pl_status refs_ref(void *ud, const char *name, size_t n, const char *f, size_t fn) {
    struct refs_ctx *c = ud;
    static const char *const filters[] = {"lower", "upper", "title", "capfirst"};
    bool ok = fn == 0;
    for (size_t i = 0; i < PL_ARRAY_LEN(filters) && !ok; i++)
        ok = strlen(filters[i]) == fn && !strncmp(filters[i], f, fn);
    if (!ok) return PL_ERR(PL_E_FORMAT, "unknown filter '%.*s' (lower, upper, title, capfirst)",
                           (int)fn, f);
    char buf[128];
    if (n >= sizeof buf) return PL_ERR(PL_E_FORMAT, "name too long in a template");
    memcpy(buf, name, n);
    buf[n] = '\0';
    return c->fn(c->ud, buf);
}

pl_status pl__dlg_template_refs(const char *tmpl, pl_status (*fn)(void *ud, const char *name),
                                void *ud) {
    struct refs_ctx c = {fn, ud};
    return walk(tmpl, NULL, refs_ref, &c);
}

static pl_status count_ref(void *ud, const char *name, size_t n, const char *f, size_t fn) {
    (void)name, (void)n, (void)f, (void)fn;
    (*(int *)ud)++;
    return PL_OK;
}

/* Variations of r that can be filled now, with the most references: their indexes. */
static int eligible(const struct pl__dlg_response *r, const struct pl_dlg_vars *vars,
                    const struct pl_dlg_kv *slots, int n_slots, int *idx) {
    int best = -1, n = 0;
    for (int i = 0; i < r->n; i++) {
        struct pl_strbuf sb;
        pl_strbuf_init(&sb);
        struct fill_ctx c = {&sb, vars, slots, n_slots};
        pl_status st = walk(r->texts[i], &sb, fill_ref, &c);
        pl_strbuf_deinit(&sb);
        if (st != PL_OK) continue;
        int refs = 0;
        walk(r->texts[i], NULL, count_ref, &refs);
        if (refs > best) {
            best = refs;
            n = 0;
        }
        if (refs == best) idx[n++] = i;
    }
    return n;
}

pl_status pl__dlg_render(const struct pl_dlg_spec *s, int r, int turn,
                         const struct pl_dlg_vars *vars, const struct pl_dlg_kv *slots,
                         int n_slots, char **out) {
    *out = NULL;
    const struct pl__dlg_response *resp = &s->responses[r];
    int *idx = pl_calloc((size_t)resp->n + 1, sizeof *idx);
    if (!idx) return PL_ERR(PL_E_NOMEM, "response");
    int n = eligible(resp, vars, slots, n_slots, idx);
    pl_status st;
    if (n == 0) {
        st = PL_ERR(PL_E_NOT_FOUND, "response %s: no variation can be filled", resp->name);
    } else {
        int pick = idx[(turn < 0 ? 0 : turn) % n];
        st = pl_dlg_template_fill(resp->texts[pick], vars, slots, n_slots, out);
    }
    pl_free(idx);
    return st;
}
