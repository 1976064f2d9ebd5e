/*
 * tts_norm.c - English text normalization: written text -> speakable words.
 *
 * The text is cut into chunks at white space. Each chunk loses its opening
 * brackets/quotes and its closing ones plus trailing punctuation, which
 * becomes a phrase-break token. The core left is tried against the readers
 * below in order; a reader may look ahead and take several chunks ("March 5,
 * 2024", "3:30 pm", "5 km"). What no reader takes is split into runs of
 * letters, digits and symbols (tts_norm.c: read_generic). Every token keeps
 * the byte span of the chunk(s) it came from. Rules and limits are listed in
 * engine/tts/README.md.
 */
#include <string.h>
#include <utf8proc.h>

#include "alloc.h"
#include "strbuf.h"
#include "tts_impl.h"

struct chunk {
    size_t a, b;   /* raw chunk */
    size_t ca, cb; /* core */
    enum pl_tts_punct punct; /* from the trailing marks */
    int nl;        /* new lines in the white space before the chunk */
    bool dot_kept; /* the core keeps a final '.' (abbreviation, initial, a.m.) */
};

struct norm {
    const char *t;
    size_t len;
    const uint32_t *map;
    uint32_t base;
    struct pl_tts_norm_opts opts;
    struct pl_tts_tokens *out;
    struct chunk *ch;
    size_t n_ch;
    struct pl_strbuf sb; /* scratch: words of a reading */
    bool nomem;
};

/* ------------------------------------------------------------ abbreviations */

static const struct {
    const char *w; /* as written, lower-case, with the final '.' */
    const char *say;
    enum pl__tts_abbr_kind kind;
} abbrevs[] = {
    {"dr.", "doctor", PL__TTS_ABBR_TITLE},     {"mr.", "mister", PL__TTS_ABBR_TITLE},
    {"mrs.", "missus", PL__TTS_ABBR_TITLE},    {"ms.", "miz", PL__TTS_ABBR_TITLE},
    {"prof.", "professor", PL__TTS_ABBR_TITLE}, {"st.", "saint", PL__TTS_ABBR_TITLE},
    {"mt.", "mount", PL__TTS_ABBR_TITLE},      {"gen.", "general", PL__TTS_ABBR_TITLE},
    {"gov.", "governor", PL__TTS_ABBR_TITLE},  {"sen.", "senator", PL__TTS_ABBR_TITLE},
    {"rep.", "representative", PL__TTS_ABBR_TITLE},
    {"capt.", "captain", PL__TTS_ABBR_TITLE},  {"lt.", "lieutenant", PL__TTS_ABBR_TITLE},
    {"sgt.", "sergeant", PL__TTS_ABBR_TITLE},  {"rev.", "reverend", PL__TTS_ABBR_TITLE},
    {"e.g.", "for example", PL__TTS_ABBR_INNER}, {"i.e.", "that is", PL__TTS_ABBR_INNER},
    {"vs.", "versus", PL__TTS_ABBR_INNER},     {"approx.", "approximately", PL__TTS_ABBR_INNER},
    {"no.", "number", PL__TTS_ABBR_INNER},     {"fig.", "figure", PL__TTS_ABBR_INNER},
    {"dept.", "department", PL__TTS_ABBR_INNER}, {"est.", "established", PL__TTS_ABBR_INNER},
    {"etc.", "et cetera", PL__TTS_ABBR_FINAL}, {"jr.", "junior", PL__TTS_ABBR_FINAL},
    {"sr.", "senior", PL__TTS_ABBR_FINAL},     {"inc.", "incorporated", PL__TTS_ABBR_FINAL},
    {"ltd.", "limited", PL__TTS_ABBR_FINAL},   {"co.", "company", PL__TTS_ABBR_FINAL},
    {"corp.", "corporation", PL__TTS_ABBR_FINAL}, {"ave.", "avenue", PL__TTS_ABBR_FINAL},
    {"blvd.", "boulevard", PL__TTS_ABBR_FINAL}, {"rd.", "road", PL__TTS_ABBR_FINAL},
    {"a.m.", "a m", PL__TTS_ABBR_FINAL},       {"p.m.", "p m", PL__TTS_ABBR_FINAL},
    {"a.d.", "a d", PL__TTS_ABBR_FINAL},       {"b.c.", "b c", PL__TTS_ABBR_FINAL},
    {"u.s.", "u s", PL__TTS_ABBR_FINAL},
};

static bool ieq(const char *a, size_t n, const char *lit) {
    if (strlen(lit) != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = a[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c + 32);
        if (c != lit[i])
            return false;
    }
    return true;
}

enum pl__tts_abbr_kind pl__tts_abbrev(const char *w, size_t n, const char **expansion) {
    for (size_t i = 0; i < sizeof abbrevs / sizeof abbrevs[0]; i++) {
        if (ieq(w, n, abbrevs[i].w)) {
            if (expansion)
                *expansion = abbrevs[i].say;
            return abbrevs[i].kind;
        }
    }
    if (n >= 4 && pl__tts_month(w, n) && w[n - 1] == '.') { /* "Jan." */
        if (expansion)
            *expansion = pl__tts_month_names[pl__tts_month(w, n)];
        return PL__TTS_ABBR_INNER;
    }
    if (expansion)
        *expansion = NULL;
    return PL__TTS_ABBR_NONE;
}

static bool is_upper(char c) { return c >= 'A' && c <= 'Z'; }
static bool is_lower(char c) { return c >= 'a' && c <= 'z'; }
static bool is_alpha(char c) { return is_upper(c) || is_lower(c); }
static bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool pl__tts_is_initial(const char *w, size_t n) {
    if (n < 2 || n % 2)
        return false;
    for (size_t i = 0; i < n; i += 2) {
        if (!is_alpha(w[i]) || w[i + 1] != '.')
            return false;
    }
    return n > 2 || is_upper(w[0]);
}

/* ---------------------------------------------------------------- emitting */

static uint32_t src_a(const struct norm *n, size_t a) {
    return n->map ? n->map[a] : n->base + (uint32_t)a;
}
static uint32_t src_b(const struct norm *n, size_t b) {
    return n->map ? (b ? n->map[b - 1] + 1 : n->map[0]) : n->base + (uint32_t)b;
}

struct pl_tts_token *pl__tts_tokens_push(struct pl_tts_tokens *t) {
    if (t->n == t->cap) {
        size_t nc = t->cap ? t->cap * 2 : 64;
        struct pl_tts_token *v = pl_realloc(t->v, nc * sizeof *v);
        if (!v) return NULL;
        t->v = v;
        t->cap = nc;
    }
    struct pl_tts_token *k = &t->v[t->n++];
    memset(k, 0, sizeof *k);
    return k;
}

static struct pl_tts_token *push(struct norm *n) {
    struct pl_tts_token *k = pl__tts_tokens_push(n->out);
    if (!k) n->nomem = true;
    return k;
}

/* One word w[0..wl), lower-cased, for the text span [a, b). */
static void emit(struct norm *n, const char *w, size_t wl, size_t a, size_t b, uint32_t flags) {
    if (!wl)
        return;
    char *s = pl_arena_alloc(&n->out->arena, wl * 2 + 1); /* lower case may grow a little */
    struct pl_tts_token *k = s ? push(n) : NULL;
    if (!k) {
        n->nomem = true;
        return;
    }
    size_t o = 0, i = 0;
    while (i < wl) {
        uint32_t cp;
        size_t i0 = i;
        if ((unsigned char)w[i] < 0x80) {
            s[o++] = is_upper(w[i]) ? (char)(w[i] + 32) : w[i];
            i++;
            continue;
        }
        if (!pl__tts_utf8_next(w, wl, &i, &cp)) { /* validated before: cannot happen */
            i = i0 + 1;
            continue;
        }
        utf8proc_int32_t lc = utf8proc_tolower((utf8proc_int32_t)cp);
        utf8proc_uint8_t enc[4];
        utf8proc_ssize_t m = utf8proc_encode_char(lc, enc);
        if (m <= 0 || o + (size_t)m > wl * 2) {
            memcpy(s + o, w + i0, i - i0);
            o += i - i0;
        } else {
            memcpy(s + o, enc, (size_t)m);
            o += (size_t)m;
        }
    }
    s[o] = '\0';
    k->kind = PL_TTS_TOK_WORD;
    k->text = s;
    k->src_start = src_a(n, a);
    k->src_end = src_b(n, b);
    k->flags = flags;
}

/* The words of n->sb (space-separated) for span [a, b); empties sb. */
static void emit_sb(struct norm *n, size_t a, size_t b, uint32_t flags) {
    if (pl_strbuf_status(&n->sb) != PL_OK) {
        n->nomem = true;
        pl_strbuf_reset(&n->sb);
        return;
    }
    const char *s = n->sb.data ? n->sb.data : "";
    while (*s) {
        while (*s == ' ')
            s++;
        const char *e = s;
        while (*e && *e != ' ')
            e++;
        emit(n, s, (size_t)(e - s), a, b, flags);
        s = e;
    }
    pl_strbuf_reset(&n->sb);
}

static void emit_str(struct norm *n, const char *words, size_t a, size_t b) {
    pl_strbuf_append(&n->sb, words);
    emit_sb(n, a, b, 0);
}

static void emit_letters(struct norm *n, const char *w, size_t wl, size_t a, size_t b) {
    for (size_t i = 0; i < wl; i++) {
        if (is_alpha(w[i]))
            emit(n, w + i, 1, a, b, PL_TTS_TOKF_LETTER);
        else if (is_digit(w[i])) {
            pl__tts_say_digits(&n->sb, w + i, 1);
            emit_sb(n, a, b, 0);
        }
    }
}

/* Strength for choosing among several trailing marks ("?!", ".,"). */
static int mark_rank(enum pl_tts_punct p) {
    static const int r[] = {0, 1, 4, 5, 5, 2, 3, 6};
    return r[p];
}

static const char *const punct_marks[] = {"", ",", ".", "?", "!", ":", ";", ""};

static void emit_punct(struct norm *n, enum pl_tts_punct p, size_t a, size_t b) {
    struct pl_tts_tokens *t = n->out;
    if (p == PL_TTS_PUNCT_NONE || t->n == 0) /* nothing to separate yet */
        return;
    struct pl_tts_token *l = &t->v[t->n - 1];
    if (l->kind == PL_TTS_TOK_PUNCT) { /* never two breaks in a row: keep the stronger */
        if (mark_rank(p) > mark_rank(l->punct)) {
            l->punct = p;
            l->text = punct_marks[p];
            l->src_end = src_b(n, b);
        }
        return;
    }
    struct pl_tts_token *k = push(n);
    if (!k)
        return;
    k->kind = PL_TTS_TOK_PUNCT;
    k->punct = p;
    k->text = punct_marks[p];
    k->src_start = src_a(n, a);
    k->src_end = src_b(n, b);
}

/* The last word emitted, or "" */
static const char *last_word(const struct norm *n) {
    const struct pl_tts_tokens *t = n->out;
    return t->n && t->v[t->n - 1].kind == PL_TTS_TOK_WORD ? t->v[t->n - 1].text : "";
}

/* -------------------------------------------------------- chunks and marks */

static bool is_space_cp(uint32_t cp) {
    return cp <= 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0xA0) || (cp >= 0x2000 && cp <= 0x200B) ||
           cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000 ||
           cp == 0xFEFF;
}

static const char *const openers[] = {"(", "[", "{", "\"", "'", "\xe2\x80\x9c", "\xe2\x80\x98",
                                      "\xc2\xab", "\xc2\xbf", "\xc2\xa1"};
static const char *const closers[] = {")", "]", "}", "\"", "'", "\xe2\x80\x9d", "\xe2\x80\x99",
                                      "\xc2\xbb"};

static size_t match_any(const char *s, size_t n, const char *const *set, size_t k, bool at_end) {
    for (size_t i = 0; i < k; i++) {
        size_t m = strlen(set[i]);
        if (m <= n && memcmp(at_end ? s + n - m : s, set[i], m) == 0)
            return m;
    }
    return 0;
}

static enum pl_tts_punct mark_of(char c) {
    switch (c) {
    case ',': return PL_TTS_PUNCT_COMMA;
    case '.': return PL_TTS_PUNCT_PERIOD;
    case '?': return PL_TTS_PUNCT_QUESTION;
    case '!': return PL_TTS_PUNCT_EXCLAIM;
    case ':': return PL_TTS_PUNCT_COLON;
    case ';': return PL_TTS_PUNCT_SEMICOLON;
    default: return PL_TTS_PUNCT_NONE;
    }
}

/* Work out the core and trailing mark of chunk c. */
static void strip_chunk(const struct norm *n, struct chunk *c) {
    const char *t = n->t;
    size_t a = c->a, b = c->b, m;
    while (a < b && (m = match_any(t + a, b - a, openers, sizeof openers / sizeof *openers, false))) {
        if (t[a] == '\'' && a + 1 < b && is_digit(t[a + 1]))
            break; /* '90s */
        a += m;
    }
    enum pl_tts_punct p = PL_TTS_PUNCT_NONE;
    size_t dots = 0;
    for (;;) {
        if (a < b && mark_of(t[b - 1])) {
            enum pl_tts_punct q = mark_of(t[b - 1]);
            if (q == PL_TTS_PUNCT_PERIOD)
                dots++;
            if (mark_rank(q) > mark_rank(p))
                p = q;
            b--;
        } else if (b - a >= 3 && memcmp(t + b - 3, "\xe2\x80\xa6", 3) == 0) { /* … */
            dots += 3;
            b -= 3;
        } else if ((m = match_any(t + a, b - a, closers, sizeof closers / sizeof *closers, true))) {
            b -= m;
        } else {
            break;
        }
    }
    if (dots >= 2 && p == PL_TTS_PUNCT_PERIOD)
        p = PL_TTS_PUNCT_COMMA; /* an ellipsis pauses, it does not end the sentence */
    c->ca = a;
    c->cb = b;
    c->punct = p;
    c->dot_kept = false;
    /* give the period back to an abbreviation, an initial or a.m./p.m. */
    if (b < c->b && t[b] == '.' && dots == 1 && b > a) {
        size_t wn = b + 1 - a;
        if (pl__tts_abbrev(t + a, wn, NULL) || pl__tts_is_initial(t + a, wn)) {
            c->cb = b + 1;
            c->dot_kept = true;
            c->punct = PL_TTS_PUNCT_NONE;
            for (size_t k = b + 1; k < c->b; k++) { /* marks after the period */
                enum pl_tts_punct q = mark_of(t[k]);
                if (q && q != PL_TTS_PUNCT_PERIOD && mark_rank(q) > mark_rank(c->punct))
                    c->punct = q;
            }
        }
    }
}

/* Cut the text into chunks. */
static pl_status make_chunks(struct norm *n) {
    size_t cap = 0, i = 0;
    int nl = 0;
    while (i < n->len) {
        size_t j = i;
        uint32_t cp = 0;
        if (!pl__tts_utf8_next(n->t, n->len, &j, &cp))
            return PL_ERR(PL_E_INTERNAL, "utf8");
        if (is_space_cp(cp)) {
            if (cp == '\n' || cp == 0x2028 || cp == 0x2029)
                nl += cp == 0x2029 ? 2 : 1;
            i = j;
            continue;
        }
        size_t a = i;
        while (i < n->len) {
            j = i;
            if (!pl__tts_utf8_next(n->t, n->len, &j, &cp) || is_space_cp(cp))
                break;
            i = j;
        }
        if (n->n_ch == cap) {
            cap = cap ? cap * 2 : 32;
            struct chunk *v = pl_realloc(n->ch, cap * sizeof *v);
            if (!v)
                return PL_ERR(PL_E_NOMEM, "normalize: out of memory");
            n->ch = v;
        }
        struct chunk *c = &n->ch[n->n_ch++];
        c->a = a;
        c->b = i;
        c->nl = nl;
        nl = 0;
        strip_chunk(n, c);
    }
    return PL_OK;
}

#define CORE(c) (n->t + (c)->ca)
#define CLEN(c) ((c)->cb - (c)->ca)

/* ------------------------------------------------------------------ readers */

/* s[0..n) all digits, value <= max: the value; else -1. */
static long small_int(const char *s, size_t n, long max) {
    if (n == 0 || n > 9)
        return -1;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v <= max ? v : -1;
}

static bool has_next(const struct norm *n, size_t i) { return i + 1 < n->n_ch; }

/* Chunk i+1 continues the phrase of chunk i (no mark between, no new line). */
static bool joined(const struct norm *n, size_t i) {
    return has_next(n, i) && n->ch[i].punct == PL_TTS_PUNCT_NONE && n->ch[i + 1].nl == 0 &&
           n->ch[i + 1].ca == n->ch[i + 1].a;
}

static bool core_is(const struct norm *n, size_t i, const char *lit) {
    return i < n->n_ch && ieq(CORE(&n->ch[i]), CLEN(&n->ch[i]), lit);
}

/* Spell a URL/e-mail piece: words, digits one by one, symbols by name. */
static void read_tech(struct norm *n, const char *s, size_t len, size_t a, size_t b) {
    static const struct {
        char c;
        const char *say;
    } sym[] = {{'.', "dot"},  {'/', "slash"},   {'-', "dash"}, {'_', "underscore"},
               {':', "colon"}, {'=', "equals"}, {'&', "and"},  {'#', "hash"},
               {'@', "at"},   {'~', "tilde"},   {'%', "percent"}, {'+', "plus"},
               {'?', "question mark"}};
    size_t i = 0;
    while (i < len) {
        size_t j = i;
        if (is_alpha(s[i])) {
            while (j < len && is_alpha(s[j]))
                j++;
            if (ieq(s + i, j - i, "www"))
                emit_letters(n, s + i, j - i, a, b);
            else
                emit(n, s + i, j - i, a, b, 0);
        } else if (is_digit(s[i])) {
            while (j < len && is_digit(s[j]))
                j++;
            pl__tts_say_digits(&n->sb, s + i, j - i);
            emit_sb(n, a, b, 0);
        } else {
            j = i + 1;
            for (size_t k = 0; k < sizeof sym / sizeof sym[0]; k++) {
                if (sym[k].c == s[i])
                    emit_str(n, sym[k].say, a, b);
            }
        }
        i = j;
    }
}

static bool has_tld(const char *s, size_t n) {
    static const char *const tlds[] = {"com", "org", "net", "edu", "gov", "io",  "co", "uk",
                                       "de",  "fr",  "ai",  "dev", "app", "info", "us", "ca"};
    size_t e = 0;
    while (e < n && s[e] != '/' && s[e] != '?' && s[e] != '#')
        e++;
    size_t d = e;
    while (d > 0 && s[d - 1] != '.')
        d--;
    if (d < 2 || !is_alpha(s[0]))
        return false;
    for (size_t k = 0; k < sizeof tlds / sizeof tlds[0]; k++) {
        if (ieq(s + d, e - d, tlds[k]))
            return true;
    }
    return false;
}

static size_t read_url_email(struct norm *n, size_t i) {
    const struct chunk *c = &n->ch[i];
    const char *s = CORE(c);
    size_t len = CLEN(c), at = len;
    for (size_t k = 0; k < len; k++) {
        if (s[k] == '@') {
            at = k;
            break;
        }
    }
    if (at > 0 && at < len && memchr(s + at, '.', len - at)) {
        for (size_t k = 0; k < len; k++) {
            char ch = s[k];
            if (!(is_alpha(ch) || is_digit(ch) || strchr("._%+-@", ch)))
                return 0;
        }
        read_tech(n, s, at, c->ca, c->cb);
        emit_str(n, "at", c->ca, c->cb);
        read_tech(n, s + at + 1, len - at - 1, c->ca, c->cb);
        return 1;
    }
    static const char *const schemes[] = {"https://", "http://", "ftp://"};
    for (size_t k = 0; k < 3; k++) {
        size_t m = strlen(schemes[k]);
        if (len > m && ieq(s, m, schemes[k])) {
            read_tech(n, s + m, len - m, c->ca, c->cb);
            return 1;
        }
    }
    if ((len > 4 && ieq(s, 4, "www.")) || has_tld(s, len)) {
        for (size_t k = 0; k < len; k++) {
            if ((unsigned char)s[k] >= 0x80 || s[k] == ',')
                return 0;
        }
        read_tech(n, s, len, c->ca, c->cb);
        return 1;
    }
    return 0;
}

/* "k", "m", "bn" after an amount ("$5m"): the scale word, or NULL. */
static const char *scale_suffix(const char *s, size_t n) {
    if (n == 1 && (s[0] == 'k' || s[0] == 'K'))
        return "thousand";
    if (n == 1 && (s[0] == 'm' || s[0] == 'M'))
        return "million";
    if ((n == 1 && (s[0] == 'B' || s[0] == 'b')) || ieq(s, n, "bn"))
        return "billion";
    if ((n == 1 && s[0] == 'T') || ieq(s, n, "tn"))
        return "trillion";
    return NULL;
}

static size_t read_money(struct norm *n, size_t i) {
    const struct chunk *c = &n->ch[i];
    const char *s = CORE(c);
    size_t len = CLEN(c), k = 0;
    bool neg = false;
    if (len && (s[0] == '-' || s[0] == '+')) {
        neg = s[0] == '-';
        k = 1;
    }
    const char *maj1, *maj, *min1, *min;
    size_t m = pl__tts_currency(s + k, len - k, &maj1, &maj, &min1, &min);
    if (!m)
        return 0;
    k += m;
    size_t e = k;
    while (e < len && (is_digit(s[e]) || s[e] == ',' || s[e] == '.'))
        e++;
    struct pl__tts_num num;
    if (e == k || !pl__tts_parse_num(s + k, e - k, &num))
        return 0;
    const char *scale = NULL;
    size_t used = 1;
    if (e < len) {
        scale = scale_suffix(s + e, len - e);
        if (!scale)
            return 0;
    } else if (joined(n, i)) {
        const struct chunk *d = &n->ch[i + 1];
        scale = pl__tts_scale(CORE(d), CLEN(d));
        if (scale)
            used = 2;
    }
    if (neg)
        pl__tts_add(&n->sb, "minus");
    if (scale) {
        pl__tts_say_num(&n->sb, &num);
        pl__tts_add(&n->sb, scale);
        pl__tts_add(&n->sb, maj);
    } else if (num.has_frac && num.frac_n <= 2 && !num.too_big) {
        unsigned cents = (unsigned)(num.frac_s[0] - '0') * 10 +
                         (num.frac_n == 2 ? (unsigned)(num.frac_s[1] - '0') : 0);
        if (num.ip || !cents) {
            pl__tts_say_cardinal(&n->sb, num.ip);
            pl__tts_add(&n->sb, num.ip == 1 ? maj1 : maj);
        }
        if (cents) {
            pl__tts_say_cardinal(&n->sb, cents);
            pl__tts_add(&n->sb, cents == 1 ? min1 : min);
        }
    } else {
        pl__tts_say_num(&n->sb, &num);
        pl__tts_add(&n->sb, (num.ip == 1 && !num.has_frac && !num.too_big) ? maj1 : maj);
    }
    emit_sb(n, c->ca, n->ch[i + used - 1].cb, 0);
    return used;
}

/* "am", "pm", "a.m.", "p.m." (any case, final dot optional): 'a', 'p' or 0. */
static char ampm(const char *s, size_t n) {
    if (ieq(s, n, "am") || ieq(s, n, "a.m.") || ieq(s, n, "a.m"))
        return 'a';
    if (ieq(s, n, "pm") || ieq(s, n, "p.m.") || ieq(s, n, "p.m"))
        return 'p';
    return 0;
}

static void say_time(struct pl_strbuf *sb, long h, long mi, long sec, char ap) {
    pl__tts_say_cardinal(sb, (uint64_t)h);
    if (mi == 0 && !ap)
        pl__tts_add(sb, h > 12 || h == 0 ? "hundred" : "o'clock");
    else if (mi > 0 && mi < 10) {
        pl__tts_add(sb, "oh");
        pl__tts_say_cardinal(sb, (uint64_t)mi);
    } else if (mi >= 10)
        pl__tts_say_cardinal(sb, (uint64_t)mi);
    if (sec > 0) {
        pl__tts_add(sb, "and");
        pl__tts_say_cardinal(sb, (uint64_t)sec);
        pl__tts_add(sb, sec == 1 ? "second" : "seconds");
    }
}

/* Parse "H:MM[:SS]" or "H" with an optional am/pm suffix. */
static bool parse_time(const char *s, size_t len, long *h, long *mi, long *sec, char *ap,
                       bool need_colon) {
    size_t k = 0;
    while (k < len && is_digit(s[k]))
        k++;
    *h = small_int(s, k, 24);
    *mi = 0;
    *sec = 0;
    *ap = 0;
    if (*h < 0 || k > 2)
        return false;
    bool colon = false;
    if (k < len && s[k] == ':') {
        colon = true;
        if (len - k < 3 || (*mi = small_int(s + k + 1, 2, 59)) < 0)
            return false;
        k += 3;
        if (k < len && s[k] == ':') {
            if (len - k < 3 || (*sec = small_int(s + k + 1, 2, 59)) < 0)
                return false;
            k += 3;
        }
    }
    if (k < len) {
        *ap = ampm(s + k, len - k);
        if (!*ap)
            return false;
    }
    if (need_colon && !colon && !*ap)
        return false;
    if (*ap && (*h < 1 || *h > 12))
        return false;
    return true;
}

static size_t read_time(struct norm *n, size_t i) {
    const struct chunk *c = &n->ch[i];
    long h, mi, sec;
    char ap;
    if (!parse_time(CORE(c), CLEN(c), &h, &mi, &sec, &ap, false))
        return 0;
    size_t used = 1;
    bool colon = memchr(CORE(c), ':', CLEN(c)) != NULL;
    if (!ap && joined(n, i) && h >= 1 && h <= 12) {
        const struct chunk *d = &n->ch[i + 1];
        ap = ampm(CORE(d), CLEN(d));
        if (ap)
            used = 2;
    }
    if (!colon && !ap)
        return 0;
    say_time(&n->sb, h, mi, sec, ap);
    emit_sb(n, c->ca, n->ch[i + used - 1].cb, 0);
    if (ap) {
        char l[2] = {ap, 'm'};
        emit_letters(n, l, 2, n->ch[i + used - 1].ca, n->ch[i + used - 1].cb);
        /* "p.m." kept its dot: it also ends the sentence before a capital */
        const struct chunk *e = &n->ch[i + used - 1];
        if (e->dot_kept && (!has_next(n, i + used - 1) || is_upper(n->t[n->ch[i + used].ca])))
            emit_punct(n, PL_TTS_PUNCT_PERIOD, e->cb - 1, e->cb);
    }
    return used;
}

/* Day of month: "5", "05", "5th" -> 5; else -1. */
static long day_of(const char *s, size_t n) {
    size_t k = 0;
    while (k < n && is_digit(s[k]))
        k++;
    if (k < n && !(n - k == 2 && (ieq(s + k, 2, "st") || ieq(s + k, 2, "nd") ||
                                  ieq(s + k, 2, "rd") || ieq(s + k, 2, "th"))))
        return -1;
    long d = small_int(s, k, 31);
    return d >= 1 ? d : -1;
}

/* Months as words: capitalised, or lower-case except the verbs "may" and "march". */
static int month_word(const char *s, size_t n) {
    int m = pl__tts_month(s, n);
    if (m && !is_upper(s[0]) && (m == 5 || m == 3))
        return 0;
    return m;
}

static void say_date(struct pl_strbuf *sb, int m, long d, long y, bool dmy) {
    if (d > 0 && dmy) {
        pl__tts_add(sb, "the");
        pl__tts_say_ordinal(sb, (uint64_t)d);
        pl__tts_add(sb, "of");
    }
    if (m)
        pl__tts_add(sb, pl__tts_month_names[m]);
    if (d > 0 && !dmy)
        pl__tts_say_ordinal(sb, (uint64_t)d);
    if (y >= 0)
        pl__tts_say_year(sb, (int)y);
}

/* Year of a chunk core: 1..9999 written with 1-4 digits; -1 if not. */
static long year_of(const struct chunk *c, const char *t) {
    long y = small_int(t + c->ca, c->cb - c->ca, 9999);
    return (c->cb - c->ca == 4 && y >= 1000) ? y : -1;
}

static size_t read_date(struct norm *n, size_t i) {
    const struct chunk *c = &n->ch[i];
    const char *s = CORE(c);
    size_t len = CLEN(c);
    /* 2024-03-05 */
    if (len == 10 && s[4] == '-' && s[7] == '-') {
        long y = small_int(s, 4, 9999), m = small_int(s + 5, 2, 12), d = small_int(s + 8, 2, 31);
        if (y >= 1000 && m >= 1 && d >= 1) {
            say_date(&n->sb, (int)m, d, y, false);
            emit_sb(n, c->ca, c->cb, 0);
            return 1;
        }
    }
    /* 03/05/2024 (US month/day), 5/3/24, 2024/03/05 */
    const char *sl1 = memchr(s, '/', len);
    const char *sl2 = sl1 ? memchr(sl1 + 1, '/', (size_t)(s + len - sl1 - 1)) : NULL;
    if (sl2) {
        size_t n1 = (size_t)(sl1 - s), n2 = (size_t)(sl2 - sl1 - 1), n3 = (size_t)(s + len - sl2 - 1);
        long a = small_int(s, n1, 9999), b = small_int(sl1 + 1, n2, 31), y = small_int(sl2 + 1, n3, 9999);
        int m = 0;
        long d = 0;
        if (n1 == 4 && a >= 1000 && b >= 1 && b <= 12 && n3 <= 2) { /* y/m/d */
            long dd = small_int(sl2 + 1, n3, 31);
            if (dd >= 1) {
                say_date(&n->sb, (int)b, dd, a, false);
                emit_sb(n, c->ca, c->cb, 0);
                return 1;
            }
        }
        if (n1 <= 2 && n2 <= 2 && (n3 == 2 || n3 == 4) && a >= 1 && b >= 1 && y >= 0) {
            if (a <= 12) {
                m = (int)a;
                d = b;
            } else if (b <= 12) { /* 25/12/2024: day first */
                m = (int)b;
                d = a;
            }
            if (m) {
                say_date(&n->sb, m, d, y, false);
                emit_sb(n, c->ca, c->cb, 0);
                return 1;
            }
        }
    }
    /* March 5, 2024 / March 5 / March 2024 */
    int m = month_word(s, len);
    if (m && has_next(n, i) && (c->punct == PL_TTS_PUNCT_NONE) && n->ch[i + 1].nl == 0) {
        const struct chunk *d = &n->ch[i + 1];
        long day = day_of(CORE(d), CLEN(d));
        long y = year_of(d, n->t);
        if (day > 0 && CLEN(d) <= 4 && y < 0) {
            size_t used = 2;
            long yy = -1;
            if (has_next(n, i + 1) && (d->punct == PL_TTS_PUNCT_NONE || d->punct == PL_TTS_PUNCT_COMMA) &&
                n->ch[i + 2].nl == 0 && (yy = year_of(&n->ch[i + 2], n->t)) >= 0)
                used = 3;
            say_date(&n->sb, m, day, yy, false);
            emit_sb(n, c->ca, n->ch[i + used - 1].cb, 0);
            return used;
        }
        if (y >= 0) {
            say_date(&n->sb, m, -1, y, false);
            emit_sb(n, c->ca, d->cb, 0);
            return 2;
        }
    }
    /* 5 March 2024 / 5th of March */
    long day = day_of(s, len);
    if (day > 0 && joined(n, i)) {
        size_t k = i + 1;
        if (core_is(n, k, "of") && joined(n, k))
            k++;
        const struct chunk *d = &n->ch[k];
        int mm = pl__tts_month(CORE(d), CLEN(d));
        if (mm && is_upper(n->t[d->ca])) {
            size_t used = k - i + 1;
            long yy = -1;
            if (has_next(n, k) && (d->punct == PL_TTS_PUNCT_NONE || d->punct == PL_TTS_PUNCT_COMMA) &&
                n->ch[k + 1].nl == 0 && (yy = year_of(&n->ch[k + 1], n->t)) >= 0)
                used++;
            say_date(&n->sb, mm, day, yy, true);
            emit_sb(n, c->ca, n->ch[i + used - 1].cb, 0);
            return used;
        }
    }
    return 0;
}

/* Digit groups split by '-' or '.', e.g. 555-123-4567, +1-800-555-0199,
 * 555.123.4567, 555-1234: read digit by digit, a comma between groups. */
static size_t read_phone(struct norm *n, size_t i) {
    const struct chunk *c = &n->ch[i];
    const char *s = CORE(c);
    size_t len = CLEN(c), start = c->ca;
    size_t used = 1;
    /* (555) 123-4567 */
    bool area = false;
    if (c->b - c->a == 5 && n->t[c->a] == '(' && n->t[c->a + 4] == ')' && len == 3 &&
        small_int(s, 3, 999) >= 0 && joined(n, i)) {
        area = true;
        start = c->a;
        c = &n->ch[i + 1];
        s = CORE(c);
        len = CLEN(c);
        used = 2;
    }
    size_t k = 0, groups = 0, digits = 0, glen[8];
    bool plus = false;
    if (k < len && s[k] == '+') {
        plus = true;
        k++;
    }
    char sep = 0;
    while (k < len) {
        size_t g = k;
        while (k < len && is_digit(s[k]))
            k++;
        if (k == g || groups == 8)
            return 0;
        glen[groups++] = k - g;
        digits += k - g;
        if (k < len) {
            if ((s[k] != '-' && s[k] != '.') || (sep && s[k] != sep))
                return 0;
            sep = s[k++];
            if (k == len)
                return 0;
        }
    }
    if (groups == 0)
        return 0;
    size_t last = glen[groups - 1];
    bool ok = area ? (groups == 2 && glen[0] == 3 && last == 4)
                   : ((groups >= 3 && last == 4 && glen[groups - 2] == 3 && digits >= 10) ||
                      (groups == 2 && glen[0] == 3 && last == 4 && !plus && sep == '-'));
    if (!ok || digits > 15)
        return 0;
    if (area) {
        pl__tts_say_digits(&n->sb, n->t + n->ch[i].ca, 3);
        emit_sb(n, start, c->cb, 0);
        emit_punct(n, PL_TTS_PUNCT_COMMA, start, c->cb);
    }
    if (plus) {
        pl__tts_add(&n->sb, "plus");
        emit_sb(n, start, c->cb, 0);
    }
    k = plus ? 1 : 0;
    for (size_t g = 0; g < groups; g++) {
        pl__tts_say_digits(&n->sb, s + k, glen[g]);
        emit_sb(n, start, c->cb, 0);
        if (g + 1 < groups)
            emit_punct(n, PL_TTS_PUNCT_COMMA, start, c->cb);
        k += glen[g] + 1;
    }
    return used;
}

/* A number possibly followed by a unit symbol in the same chunk ("10kg"):
 * the length of the number part (0 if none) and the unit words. */
static size_t split_unit(const char *s, size_t len, struct pl__tts_num *num, const char **one,
                         const char **many) {
    size_t e = 0;
    if (e < len && (s[e] == '-' || s[e] == '+'))
        e++;
    while (e < len && (is_digit(s[e]) || s[e] == ',' || s[e] == '.'))
        e++;
    while (e > 0 && !is_digit(s[e - 1])) /* "5." before a unit is not a decimal */
        e--;
    if (e == 0 || e == len || !pl__tts_parse_num(s, e, num))
        return 0;
    if (!pl__tts_unit(s + e, len - e, one, many))
        return 0;
    /* one-letter symbols written against a number: only m, g, l ("221B" is an address) */
    if (len - e == 1 && !strchr("mgl", s[e]))
        return 0;
    return e;
}

static void say_amount_unit(struct pl_strbuf *sb, const struct pl__tts_num *num, const char *one,
                            const char *many) {
    pl__tts_say_num(sb, num);
    bool single = !num->has_frac && !num->too_big && num->ip == 1;
    pl__tts_add(sb, single ? one : many);
}

/* 5-10, 1990-2000, 5-10% */
static size_t read_range(struct norm *n, size_t i) {
    const struct chunk *c = &n->ch[i];
    const char *s = CORE(c);
    size_t len = CLEN(c), k = 0;
    while (k < len && is_digit(s[k]))
        k++;
    size_t dash = k, dl = 0;
    if (k < len && s[k] == '-')
        dl = 1;
    else if (len - k >= 3 && memcmp(s + k, "\xe2\x80\x93", 3) == 0) /* – */
        dl = 3;
    if (dash == 0 || !dl || dash > 15)
        return 0;
    size_t b0 = dash + dl, e = b0;
    while (e < len && is_digit(s[e]))
        e++;
    bool pct = e + 1 == len && s[e] == '%';
    if (e == b0 || e - b0 > 15 || (e != len && !pct))
        return 0;
    struct pl__tts_num x, y;
    if (!pl__tts_parse_num(s, dash, &x) || !pl__tts_parse_num(s + b0, e - b0, &y))
        return 0;
    bool years = dash == 4 && e - b0 == 4 && x.ip >= 1000 && x.ip <= 2099 && y.ip > x.ip &&
                 y.ip <= 2099;
    if (years) {
        pl__tts_say_year(&n->sb, (int)x.ip);
        pl__tts_add(&n->sb, "to");
        pl__tts_say_year(&n->sb, (int)y.ip);
    } else {
        pl__tts_say_num(&n->sb, &x);
        pl__tts_add(&n->sb, "to");
        pl__tts_say_num(&n->sb, &y);
    }
    size_t used = 1;
    const char *one, *many;
    if (pct) {
        pl__tts_add(&n->sb, "percent");
    } else if (joined(n, i) && pl__tts_unit(CORE(&n->ch[i + 1]), CLEN(&n->ch[i + 1]), &one, &many)) {
        pl__tts_add(&n->sb, many);
        used = 2;
    }
    emit_sb(n, c->ca, n->ch[i + used - 1].cb, 0);
    return used;
}

/* 1/2 one half, 3/4 three quarters, 2/3 two thirds; other N/M: N over M */
static size_t read_fraction(struct norm *n, size_t i) {
    const struct chunk *c = &n->ch[i];
    const char *s = CORE(c);
    size_t len = CLEN(c);
    const char *sl = memchr(s, '/', len);
    if (!sl)
        return 0;
    long a = small_int(s, (size_t)(sl - s), 999999), b = small_int(sl + 1, (size_t)(s + len - sl - 1), 999999);
    if (a < 0 || b < 1 || sl - s > 6)
        return 0;
    pl__tts_say_cardinal(&n->sb, (uint64_t)a);
    if (b == 2) {
        pl__tts_add(&n->sb, a == 1 ? "half" : "halves");
    } else if (b == 4) {
        pl__tts_add(&n->sb, a == 1 ? "quarter" : "quarters");
    } else if (b <= 10) {
        pl__tts_say_ordinal(&n->sb, (uint64_t)b);
        if (a != 1)
            pl_strbuf_append(&n->sb, "s");
    } else {
        pl__tts_add(&n->sb, "over");
        pl__tts_say_cardinal(&n->sb, (uint64_t)b);
    }
    emit_sb(n, c->ca, c->cb, 0);
    return 1;
}

static size_t read_percent(struct norm *n, size_t i) {
    const struct chunk *c = &n->ch[i];
    const char *s = CORE(c);
    size_t len = CLEN(c);
    struct pl__tts_num num;
    if (len < 2 || s[len - 1] != '%' || !pl__tts_parse_num(s, len - 1, &num))
        return 0;
    pl__tts_say_num(&n->sb, &num);
    pl__tts_add(&n->sb, "percent");
    emit_sb(n, c->ca, c->cb, 0);
    return 1;
}

static size_t read_ordinal(struct norm *n, size_t i) {
    const struct chunk *c = &n->ch[i];
    const char *s = CORE(c);
    size_t len = CLEN(c);
    struct pl__tts_num num;
    if (len < 3 || !(ieq(s + len - 2, 2, "st") || ieq(s + len - 2, 2, "nd") ||
                     ieq(s + len - 2, 2, "rd") || ieq(s + len - 2, 2, "th")))
        return 0;
    if (!pl__tts_parse_num(s, len - 2, &num) || num.neg || num.has_frac || num.too_big)
        return 0;
    pl__tts_say_ordinal(&n->sb, num.ip);
    emit_sb(n, c->ca, c->cb, 0);
    return 1;
}

/* Plural of the last word of sb: ninety -> nineties, hundred -> hundreds. */
static void pluralize_last(struct pl_strbuf *sb) {
    if (pl_strbuf_status(sb) != PL_OK || !sb->len)
        return;
    if (sb->data[sb->len - 1] == 'y') {
        sb->data[--sb->len] = '\0';
        pl_strbuf_append(sb, "ies");
    } else {
        pl_strbuf_append(sb, "s");
    }
}

/* 1990s, 1990's, '90s, 90s */
static size_t read_decade(struct norm *n, size_t i) {
    const struct chunk *c = &n->ch[i];
    const char *s = CORE(c);
    size_t len = CLEN(c), k = 0;
    if (len && s[0] == '\'')
        k = 1;
    size_t e = k;
    while (e < len && is_digit(s[e]))
        e++;
    size_t suf = len - e;
    if (!((suf == 1 && s[e] == 's') || (suf == 2 && s[e] == '\'' && s[e + 1] == 's')))
        return 0;
    long v = small_int(s + k, e - k, 9999);
    if (v < 0 || v % 10 != 0 || !((e - k == 4 && v >= 1000) || (e - k == 2 && v >= 10)))
        return 0;
    if (e - k == 4)
        pl__tts_say_year(&n->sb, (int)v);
    else
        pl__tts_say_cardinal(&n->sb, (uint64_t)v);
    pluralize_last(&n->sb);
    emit_sb(n, c->ca, c->cb, 0);
    return 1;
}

static bool year_context(const char *w) {
    static const char *const ctx[] = {"in",     "since",  "year",   "by",    "from",
                                      "until",  "till",   "circa",  "during", "before",
                                      "after",  "around", "between", "of",   "summer",
                                      "winter", "spring", "autumn", "fall"};
    for (size_t k = 0; k < sizeof ctx / sizeof ctx[0]; k++) {
        if (strcmp(w, ctx[k]) == 0)
            return true;
    }
    return false;
}

static size_t read_number(struct norm *n, size_t i) {
    const struct chunk *c = &n->ch[i];
    const char *s = CORE(c);
    size_t len = CLEN(c);
    struct pl__tts_num num;
    const char *one, *many;
    if (split_unit(s, len, &num, &one, &many)) { /* 10kg, 20°C */
        say_amount_unit(&n->sb, &num, one, many);
        emit_sb(n, c->ca, c->cb, 0);
        return 1;
    }
    if (!pl__tts_parse_num(s, len, &num))
        return 0;
    size_t used = 1;
    const struct chunk *d = joined(n, i) ? &n->ch[i + 1] : NULL;
    bool plain4 = len == 4 && !num.neg && !num.has_frac && num.ip >= 1000 && num.ip <= 2099 &&
                  s[0] != '+';
    bool era = d && (ieq(CORE(d), CLEN(d), "ad") || ieq(CORE(d), CLEN(d), "bc") ||
                     ieq(CORE(d), CLEN(d), "bce") || ieq(CORE(d), CLEN(d), "ce") ||
                     ieq(CORE(d), CLEN(d), "a.d.") || ieq(CORE(d), CLEN(d), "b.c."));
    if (plain4 && (year_context(last_word(n)) || era)) {
        pl__tts_say_year(&n->sb, (int)num.ip);
        emit_sb(n, c->ca, c->cb, 0);
        if (era) {
            char l[3];
            size_t nl = 0;
            for (size_t k = 0; k < CLEN(d); k++) {
                if (is_alpha(CORE(d)[k]))
                    l[nl++] = CORE(d)[k];
            }
            emit_letters(n, l, nl, d->ca, d->cb);
            used = 2;
        }
        return used;
    }
    if (d && pl__tts_unit(CORE(d), CLEN(d), &one, &many) && (CLEN(d) > 1 || !is_lower(CORE(d)[0]) ||
                                                             CORE(d)[0] == 'm' || CORE(d)[0] == 'g')) {
        say_amount_unit(&n->sb, &num, one, many);
        emit_sb(n, c->ca, d->cb, 0);
        return 2;
    }
    pl__tts_say_num(&n->sb, &num);
    if (d && CLEN(d) == 1 && CORE(d)[0] == '%') {
        pl__tts_add(&n->sb, "percent");
        used = 2;
    }
    emit_sb(n, c->ca, n->ch[i + used - 1].cb, 0);
    return used;
}

/* Is w (ASCII upper case) a word of the lexicons ("NASA"), not spelled letters ("FBI")? */
static bool acronym_is_word(const struct norm *n, const char *w, size_t len) {
    for (int k = 0; k < n->opts.n_lexicons; k++) {
        const uint8_t *ph;
        size_t np = pl_tts_lexicon_lookup(n->opts.lexicons[k], w, len, 0, &ph);
        if (np)
            return !pl__tts_is_spelled(w, len, ph, np);
    }
    return false;
}

/* A run of letters (and inner apostrophes): a word, or letters for acronyms. */
static void read_word(struct norm *n, const char *w, size_t len, size_t a, size_t b) {
    bool caps = len >= 2;
    for (size_t k = 0; k < len && caps; k++)
        caps = is_upper(w[k]);
    if (caps && !acronym_is_word(n, w, len))
        emit_letters(n, w, len, a, b);
    else
        emit(n, w, len, a, b, 0);
}

static bool is_letter_cp(uint32_t cp) {
    if (cp < 0x80)
        return is_alpha((char)cp);
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)cp);
    return k == UTF8PROC_CATEGORY_LU || k == UTF8PROC_CATEGORY_LL || k == UTF8PROC_CATEGORY_LT ||
           k == UTF8PROC_CATEGORY_LM || k == UTF8PROC_CATEGORY_LO || k == UTF8PROC_CATEGORY_MN ||
           k == UTF8PROC_CATEGORY_MC;
}

/* Anything else: runs of letters, digits and symbols inside text[a..b). */
static void read_generic(struct norm *n, size_t a, size_t b) {
    static const struct {
        const char *sym;
        const char *say;
    } syms[] = {{"&", "and"},   {"+", "plus"},          {"=", "equals"},    {"@", "at"},
                {"%", "percent"}, {"\xc2\xb0", "degrees"}, {"\xc3\x97", "times"},
                {"<", "less than"}, {">", "greater than"}, {"\xc2\xbd", "one half"}};
    const char *t = n->t;
    size_t i = a;
    while (i < b) {
        size_t j = i;
        uint32_t cp;
        char ch = t[i];
        if (is_letter_cp((unsigned char)ch) || (unsigned char)ch >= 0x80) {
            size_t k = i;
            bool any = false;
            while (k < b) {
                size_t q = k;
                if (!pl__tts_utf8_next(t, b, &q, &cp))
                    break;
                bool apos = cp == '\'' || cp == 0x2019;
                if (!(is_letter_cp(cp) || (apos && any && q < b && is_alpha(t[q]))))
                    break;
                any = true;
                k = q;
            }
            if (k > i) {
                read_word(n, t + i, k - i, a, b);
                i = k;
                continue;
            }
        }
        if (is_digit(ch)) {
            while (j < b && (is_digit(t[j]) || ((t[j] == ',' || t[j] == '.') && j + 1 < b &&
                                                is_digit(t[j + 1]))))
                j++;
            struct pl__tts_num num;
            if (pl__tts_parse_num(t + i, j - i, &num)) {
                pl__tts_say_num(&n->sb, &num);
            } else { /* 2.0.1: groups joined by "point"; 1,2,3: by commas */
                for (size_t g = i; g < j;) {
                    size_t h = g;
                    while (h < j && is_digit(t[h]))
                        h++;
                    if (g > i)
                        pl__tts_add(&n->sb, t[g - 1] == '.' ? "point" : "");
                    if (pl__tts_parse_num(t + g, h - g, &num))
                        pl__tts_say_num(&n->sb, &num);
                    g = h + 1;
                }
            }
            emit_sb(n, a, b, 0);
            i = j;
            continue;
        }
        if (ch == '#' && i + 1 < b && is_digit(t[i + 1])) {
            emit_str(n, "number", a, b);
            i++;
            continue;
        }
        if (ch == '.' && i > a && i + 1 < b && is_alpha(t[i - 1]) && is_alpha(t[i + 1])) {
            emit_str(n, "dot", a, b); /* file.txt */
            i++;
            continue;
        }
        if (mark_of(ch) && ch != '.') {
            emit_punct(n, mark_of(ch), i, i + 1);
            i++;
            continue;
        }
        bool said = false;
        for (size_t k = 0; k < sizeof syms / sizeof syms[0] && !said; k++) {
            size_t m = strlen(syms[k].sym);
            if (m <= b - i && memcmp(t + i, syms[k].sym, m) == 0) {
                emit_str(n, syms[k].say, a, b);
                i += m;
                said = true;
            }
        }
        if (said)
            continue;
        /* dashes, slashes, emoji, other symbols: separators */
        if (!pl__tts_utf8_next(t, b, &j, &cp))
            j = i + 1;
        i = j;
    }
}

static size_t read_abbrev(struct norm *n, size_t i) {
    const struct chunk *c = &n->ch[i];
    const char *s = CORE(c);
    size_t len = CLEN(c);
    const char *say = NULL;
    enum pl__tts_abbr_kind kind = pl__tts_abbrev(s, len, &say);
    if (!kind && !c->dot_kept) { /* Mr, Dr, Mrs, vs without the dot */
        char tmp[8];
        if (len < 5 && len > 0) {
            memcpy(tmp, s, len);
            tmp[len] = '.';
            kind = pl__tts_abbrev(tmp, len + 1, &say);
            if (kind != PL__TTS_ABBR_TITLE && !(kind == PL__TTS_ABBR_INNER && ieq(s, len, "vs")))
                kind = PL__TTS_ABBR_NONE;
            if (ieq(s, len, "st")) /* "1st" is read before; a lone "st" is street */
                kind = PL__TTS_ABBR_NONE;
        }
    }
    bool next_cap = has_next(n, i) && is_upper(n->t[n->ch[i + 1].ca]) && n->ch[i + 1].nl == 0;
    bool next_digit = has_next(n, i) && is_digit(n->t[n->ch[i + 1].ca]);
    if (!kind) {
        if (!c->dot_kept) /* initials: "J." */
            return 0;
        emit_letters(n, s, len, c->ca, c->cb);
        if (!has_next(n, i))
            emit_punct(n, PL_TTS_PUNCT_PERIOD, c->cb - 1, c->cb);
        return 1;
    }
    bool prev_cap = i > 0 && is_upper(n->t[n->ch[i - 1].ca]) && n->ch[i - 1].punct == PL_TTS_PUNCT_NONE;
    if (ieq(s, len, "st.") || ieq(s, len, "st")) {
        say = next_cap && !prev_cap ? "saint" : "street"; /* "St. John", "Baker St." */
    } else if (ieq(s, len, "dr.") || ieq(s, len, "dr")) {
        say = prev_cap && !next_cap ? "drive" : "doctor";
    } else if (ieq(s, len, "no.") && !next_digit) {
        emit(n, s, 2, c->ca, c->cb, 0); /* "No." at a sentence end is the word no */
        emit_punct(n, PL_TTS_PUNCT_PERIOD, c->cb - 1, c->cb);
        return 1;
    }
    /* expansion words; one-letter words are letter names ("a m") */
    const char *w = say;
    while (*w) {
        const char *e = strchr(w, ' ');
        size_t wl = e ? (size_t)(e - w) : strlen(w);
        emit(n, w, wl, c->ca, c->cb, wl == 1 ? PL_TTS_TOKF_LETTER : 0);
        w += wl;
        while (*w == ' ')
            w++;
    }
    bool street_end = say && strcmp(say, "street") == 0;
    if (c->dot_kept && (kind == PL__TTS_ABBR_FINAL || street_end) && (!has_next(n, i) || next_cap))
        emit_punct(n, PL_TTS_PUNCT_PERIOD, c->cb - 1, c->cb);
    return 1;
}

/* ------------------------------------------------------------------ say-as */

static void read_characters(struct norm *n) {
    size_t i = 0;
    while (i < n->len) {
        size_t j = i;
        uint32_t cp;
        if (!pl__tts_utf8_next(n->t, n->len, &j, &cp))
            j = i + 1;
        if (cp < 0x80 && (is_alpha((char)cp) || is_digit((char)cp)))
            emit_letters(n, n->t + i, 1, i, j);
        else if (is_letter_cp(cp))
            emit(n, n->t + i, j - i, i, j, 0);
        else if (!is_space_cp(cp))
            read_generic(n, i, j);
        i = j;
    }
}

/* say-as date with a format of the letters d, m, y. */
static bool read_date_format(struct norm *n, const char *fmt) {
    long f[3] = {-1, -1, -1};
    int months[3] = {0, 0, 0};
    size_t nf = 0, i = 0;
    while (i < n->len && nf < 3) {
        while (i < n->len && !is_digit(n->t[i]) && !is_alpha(n->t[i]))
            i++;
        size_t j = i;
        while (j < n->len && (is_digit(n->t[j]) || is_alpha(n->t[j])))
            j++;
        if (j == i)
            break;
        months[nf] = pl__tts_month(n->t + i, j - i);
        f[nf] = months[nf] ? months[nf] : day_of(n->t + i, j - i);
        if (f[nf] < 0 && (f[nf] = small_int(n->t + i, j - i, 9999)) < 0)
            return false;
        nf++;
        i = j;
    }
    while (i < n->len && !is_digit(n->t[i]) && !is_alpha(n->t[i]))
        i++;
    size_t fl = strlen(fmt);
    if (i < n->len || nf == 0 || (fl && fl != nf))
        return false;
    if (!fl)
        fmt = nf == 3 ? (f[0] > 31 ? "ymd" : "mdy") : nf == 2 ? "md" : "y";
    long m = 0, d = -1, y = -1;
    for (size_t k = 0; k < nf; k++) {
        switch (fmt[k]) {
        case 'm': m = f[k]; break;
        case 'd': d = f[k]; break;
        case 'y': y = f[k]; break;
        default: return false;
        }
    }
    if (m < 0 || m > 12 || d == 0 || d > 31)
        return false;
    say_date(&n->sb, (int)m, d, y, fmt[0] == 'd');
    emit_sb(n, 0, n->len, 0);
    return true;
}

/* Apply a say-as instruction to the whole text; false = read it normally. */
static bool read_say_as(struct norm *n) {
    struct pl__tts_num num;
    const char *s = n->t;
    size_t a = 0, b = n->len;
    while (a < b && (s[a] == ' ' || s[a] == '\n' || s[a] == '\t'))
        a++;
    while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\n' || s[b - 1] == '\t'))
        b--;
    switch (n->opts.say_as) {
    case PL_TTS_SAY_CHARACTERS:
        read_characters(n);
        return true;
    case PL_TTS_SAY_CARDINAL:
        if (!pl__tts_parse_num(s + a, b - a, &num))
            return false;
        pl__tts_say_num(&n->sb, &num);
        emit_sb(n, a, b, 0);
        return true;
    case PL_TTS_SAY_ORDINAL: {
        size_t e = b;
        while (e > a && is_alpha(s[e - 1]))
            e--;
        if (!pl__tts_parse_num(s + a, e - a, &num) || num.neg || num.has_frac || num.too_big)
            return false;
        pl__tts_say_ordinal(&n->sb, num.ip);
        emit_sb(n, a, b, 0);
        return true;
    }
    case PL_TTS_SAY_DATE:
        return read_date_format(n, n->opts.date_format);
    case PL_TTS_SAY_TIME: {
        long h, mi, sec;
        char ap = 0;
        size_t e = a;
        while (e < b && s[e] != ' ')
            e++;
        size_t r = e;
        while (r < b && s[r] == ' ')
            r++;
        if (!parse_time(s + a, e - a, &h, &mi, &sec, &ap, false))
            return false;
        if (r < b && !ap && !(ap = ampm(s + r, b - r)))
            return false;
        say_time(&n->sb, h, mi, sec, ap);
        emit_sb(n, a, b, 0);
        if (ap) {
            char l[2] = {ap, 'm'};
            emit_letters(n, l, 2, a, b);
        }
        return true;
    }
    case PL_TTS_SAY_TELEPHONE: {
        bool first = true;
        for (size_t i = a; i < b;) {
            if (s[i] == '+') {
                emit_str(n, "plus", a, b);
                i++;
                continue;
            }
            if (!is_digit(s[i])) {
                i++;
                continue;
            }
            size_t j = i;
            while (j < b && is_digit(s[j]))
                j++;
            if (!first)
                emit_punct(n, PL_TTS_PUNCT_COMMA, a, b);
            pl__tts_say_digits(&n->sb, s + i, j - i);
            emit_sb(n, a, b, 0);
            first = false;
            i = j;
        }
        return true;
    }
    default:
        return false;
    }
}

/* -------------------------------------------------------------- entry point */

void pl_tts_tokens_init(struct pl_tts_tokens *t) {
    memset(t, 0, sizeof *t);
    pl_arena_init(&t->arena, 16384);
}

void pl_tts_tokens_deinit(struct pl_tts_tokens *t) {
    if (!t)
        return;
    pl_free(t->v);
    pl_arena_deinit(&t->arena);
    memset(t, 0, sizeof *t);
}

static bool is_list_marker(const char *s, size_t n) {
    return (n >= 1 && (s[0] == '-' || s[0] == '*')) || (n >= 3 && memcmp(s, "\xe2\x80\xa2", 3) == 0);
}

static bool only_dashes(const char *s, size_t n) {
    if (!n)
        return false;
    for (size_t i = 0; i < n;) {
        if (s[i] == '-')
            i++;
        else if (n - i >= 3 && (memcmp(s + i, "\xe2\x80\x93", 3) == 0 || memcmp(s + i, "\xe2\x80\x94", 3) == 0))
            i += 3;
        else
            return false;
    }
    return true;
}

pl_status pl_tts_normalize(const char *text, size_t len, const struct pl_tts_norm_opts *opts,
                           const uint32_t *src_map, uint32_t base, struct pl_tts_tokens *out) {
    if (!text || !out)
        return PL_ERR(PL_E_INVALID_ARG, "normalize: NULL argument");
    if (len > PL_TTS_MAX_TEXT)
        return PL_ERR(PL_E_INVALID_ARG, "normalize: text of %zu bytes (at most %zu)", len,
                      PL_TTS_MAX_TEXT);
    size_t bad = pl__tts_utf8_check(text, len);
    if (bad < len)
        return PL_ERR(PL_E_INVALID_ARG, "normalize: invalid UTF-8 at byte %zu",
                      (size_t)(src_map ? src_map[bad] : base + bad));
    struct norm nm = {.t = text, .len = len, .map = src_map, .base = base, .out = out};
    if (opts)
        nm.opts = *opts;
    struct norm *n = &nm;
    pl_strbuf_init(&n->sb);
    pl_status st = PL_OK;
    if (n->opts.say_as != PL_TTS_SAY_AUTO && read_say_as(n))
        goto done;
    st = make_chunks(n);
    if (st != PL_OK)
        goto done;
    for (size_t i = 0; i < n->n_ch && !n->nomem;) {
        const struct chunk *c = &n->ch[i];
        if (i > 0 && (c->nl >= 2 || (c->nl == 1 && (is_upper(n->t[c->a]) || is_digit(n->t[c->a]) ||
                                                     is_list_marker(n->t + c->a, c->b - c->a)))))
            emit_punct(n, PL_TTS_PUNCT_PARAGRAPH, c->a, c->a);
        size_t used = 0;
        if (CLEN(c) == 0 || only_dashes(CORE(c), CLEN(c))) {
            emit_punct(n, c->punct ? c->punct : PL_TTS_PUNCT_COMMA, c->a, c->b);
            i++;
            continue;
        }
        if (!used)
            used = read_url_email(n, i);
        if (!used)
            used = read_money(n, i);
        if (!used)
            used = read_time(n, i);
        if (!used)
            used = read_date(n, i);
        if (!used)
            used = read_phone(n, i);
        if (!used)
            used = read_range(n, i);
        if (!used)
            used = read_fraction(n, i);
        if (!used)
            used = read_percent(n, i);
        if (!used)
            used = read_ordinal(n, i);
        if (!used)
            used = read_decade(n, i);
        if (!used)
            used = read_number(n, i);
        if (!used)
            used = read_abbrev(n, i);
        if (!used) {
            read_generic(n, c->ca, c->cb);
            used = 1;
        }
        const struct chunk *last = &n->ch[i + used - 1];
        emit_punct(n, last->punct, last->cb, last->b);
        i += used;
    }
done:
    if (st == PL_OK && (n->nomem || pl_arena_failed(&out->arena)))
        st = PL_ERR(PL_E_NOMEM, "normalize: out of memory");
    pl_strbuf_deinit(&n->sb);
    pl_free(n->ch);
    return st;
}

pl_status pl_tts_tokens_join(const struct pl_tts_token *toks, size_t n, char **out) {
    struct pl_strbuf sb;
    pl_strbuf_init(&sb);
    pl_strbuf_append(&sb, "");
    for (size_t i = 0; i < n; i++) {
        if (toks[i].kind == PL_TTS_TOK_WORD) {
            if (sb.len)
                pl_strbuf_append_char(&sb, ' ');
            pl_strbuf_append(&sb, toks[i].text);
        } else if (sb.len) {
            pl_strbuf_append(&sb, toks[i].text);
        }
    }
    *out = pl_strbuf_detach(&sb);
    return *out ? PL_OK : PL_ERR(PL_E_NOMEM, "join: out of memory");
}

pl_status pl_tts_normalize_text(const char *text, const struct pl_tts_norm_opts *opts,
                                char **out) {
    if (!text || !out)
        return PL_ERR(PL_E_INVALID_ARG, "normalize: NULL argument");
    *out = NULL;
    struct pl_tts_tokens t;
    pl_tts_tokens_init(&t);
    pl_status st = pl_tts_normalize(text, strlen(text), opts, NULL, 0, &t);
    if (st == PL_OK)
        st = pl_tts_tokens_join(t.v, t.n, out);
    pl_tts_tokens_deinit(&t);
    return st;
}
