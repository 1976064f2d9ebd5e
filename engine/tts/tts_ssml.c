/*
 * tts_ssml.c - a small, iterative SSML parser (no XML library).
 *
 * One left-to-right pass. Open elements live on a fixed stack of
 * PL_TTS_SSML_MAX_DEPTH entries (no recursion), each remembering the prosody
 * and say-as state to restore when it closes. Text accumulates, entities
 * decoded, with the source offset of every byte; it is flushed as a segment
 * whenever a known element opens or closes. Unknown elements are dropped and
 * their text kept, without a flush, so "hel<x>lo</x>" stays one word.
 */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "tts_impl.h"

enum el {
    EL_UNKNOWN,
    EL_SPEAK,
    EL_PROSODY,
    EL_BREAK,
    EL_PHONEME,
    EL_SAY_AS,
    EL_SUB,
    EL_EMPHASIS,
    EL_P,
    EL_S,
};

static const char *const el_names[] = {"", "speak", "prosody", "break", "phoneme", "say-as",
                                       "sub", "emphasis", "p", "s"};

struct frame {
    enum el el;
    size_t name_at, name_len; /* the element's name in the input */
    size_t open_at;           /* byte of its '<' */
    struct pl_tts_prosody prosody; /* to restore on close */
    enum pl_tts_say_as say_as;
    char date_format[4];
    /* phoneme / sub: what to emit on close */
    uint8_t phones[PL_TTS_MAX_PRON];
    size_t n_phones;
    const char *alias;
    size_t alias_len;
};

struct parser {
    const char *t;
    size_t len, pos;
    struct frame stack[PL_TTS_SSML_MAX_DEPTH];
    int depth;
    bool seen_speak, closed_speak;
    struct pl_tts_prosody prosody;
    enum pl_tts_say_as say_as;
    char date_format[4];
    /* pending text */
    char *buf;
    uint32_t *map;
    size_t n, cap;
    struct pl_tts_ssml *out;
    size_t seg_cap;
};

#define SERR(p, at, ...) ssml_err(at, __VA_ARGS__)

static pl_status ssml_err(size_t at, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static pl_status ssml_err(size_t at, const char *fmt, ...) {
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return PL_ERR(PL_E_FORMAT, "ssml: %s at byte %zu", msg, at);
}

static pl_status nomem(void) { return PL_ERR(PL_E_NOMEM, "ssml: out of memory"); }

static pl_status text_add(struct parser *p, const char *s, size_t n, size_t src) {
    if (p->n + n > p->cap) {
        size_t nc = p->cap ? p->cap : 256;
        while (nc < p->n + n)
            nc *= 2;
        char *b = pl_realloc(p->buf, nc + 1);
        if (!b)
            return nomem();
        p->buf = b;
        uint32_t *m = pl_realloc(p->map, nc * sizeof *m);
        if (!m)
            return nomem();
        p->map = m;
        p->cap = nc;
    }
    for (size_t i = 0; i < n; i++) {
        p->buf[p->n] = s[i];
        p->map[p->n++] = (uint32_t)(src + (s == p->t + src ? i : 0));
    }
    return PL_OK;
}

static struct pl_tts_segment *seg_new(struct parser *p, enum pl_tts_seg_kind kind) {
    struct pl_tts_ssml *o = p->out;
    if (o->n_segs == p->seg_cap) {
        size_t nc = p->seg_cap ? p->seg_cap * 2 : 16;
        struct pl_tts_segment *v = pl_realloc(o->segs, nc * sizeof *v);
        if (!v)
            return NULL;
        o->segs = v;
        p->seg_cap = nc;
    }
    struct pl_tts_segment *s = &o->segs[o->n_segs++];
    memset(s, 0, sizeof *s);
    s->kind = kind;
    s->prosody = p->prosody;
    s->say_as = p->say_as;
    memcpy(s->date_format, p->date_format, sizeof s->date_format);
    s->text = "";
    return s;
}

/* Copy the pending text (if any) into a TEXT segment. */
static pl_status flush(struct parser *p, enum pl_tts_seg_kind kind) {
    if (p->n == 0 && kind == PL_TTS_SEG_TEXT)
        return PL_OK;
    struct pl_tts_segment *s = seg_new(p, kind);
    if (!s)
        return nomem();
    if (p->n) {
        char *txt = pl_arena_strndup(&p->out->arena, p->buf, p->n);
        uint32_t *map = pl_arena_calloc(&p->out->arena, p->n, sizeof *map);
        if (!txt || !map)
            return nomem();
        memcpy(map, p->map, p->n * sizeof *map);
        s->text = txt;
        s->len = p->n;
        s->src_map = map;
        s->src_start = map[0];
        s->src_end = map[p->n - 1] + 1;
    }
    p->n = 0;
    return PL_OK;
}

/* Decode the entity at t[at] ('&'): append its UTF-8 to p, return bytes consumed. */
static pl_status entity(struct parser *p, size_t at, size_t *used) {
    const char *t = p->t;
    size_t e = at + 1;
    while (e < p->len && e - at < 12 && t[e] != ';' && t[e] != '&' && t[e] != '<')
        e++;
    if (e >= p->len || t[e] != ';')
        return SERR(p, at, "bad entity (no ';')");
    const char *nm = t + at + 1;
    size_t nl = e - at - 1;
    static const struct {
        const char *name, *val;
    } named[] = {{"amp", "&"}, {"lt", "<"}, {"gt", ">"}, {"quot", "\""}, {"apos", "'"}};
    *used = e + 1 - at;
    for (size_t k = 0; k < 5; k++) {
        if (strlen(named[k].name) == nl && memcmp(named[k].name, nm, nl) == 0)
            return text_add(p, named[k].val, 1, at);
    }
    if (nl >= 2 && nm[0] == '#') {
        bool hex = nm[1] == 'x' || nm[1] == 'X';
        size_t k = hex ? 2 : 1;
        uint32_t cp = 0;
        if (k == nl)
            return SERR(p, at, "bad numeric entity &%.*s;", (int)nl, nm);
        for (; k < nl; k++) {
            char c = nm[k];
            int d = c >= '0' && c <= '9' ? c - '0'
                    : hex && c >= 'a' && c <= 'f' ? c - 'a' + 10
                    : hex && c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
            if (d < 0 || cp > 0x10FFFF)
                return SERR(p, at, "bad numeric entity &%.*s;", (int)nl, nm);
            cp = cp * (hex ? 16 : 10) + (uint32_t)d;
        }
        if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return SERR(p, at, "numeric entity &%.*s; out of range", (int)nl, nm);
        char u[4];
        size_t m;
        if (cp < 0x80) {
            u[0] = (char)cp;
            m = 1;
        } else if (cp < 0x800) {
            u[0] = (char)(0xC0 | (cp >> 6));
            u[1] = (char)(0x80 | (cp & 0x3F));
            m = 2;
        } else if (cp < 0x10000) {
            u[0] = (char)(0xE0 | (cp >> 12));
            u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
            u[2] = (char)(0x80 | (cp & 0x3F));
            m = 3;
        } else {
            u[0] = (char)(0xF0 | (cp >> 18));
            u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
            u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
            u[3] = (char)(0x80 | (cp & 0x3F));
            m = 4;
        }
        return text_add(p, u, m, at);
    }
    return SERR(p, at, "unknown entity &%.*s;", (int)nl, nm);
}

/* Text up to the next '<' (entities decoded). */
static pl_status text_run(struct parser *p) {
    while (p->pos < p->len && p->t[p->pos] != '<') {
        size_t a = p->pos;
        if (p->t[a] == '&') {
            size_t used = 0;
            PL_TRY(entity(p, a, &used));
            p->pos += used;
            continue;
        }
        size_t b = a;
        while (b < p->len && p->t[b] != '<' && p->t[b] != '&')
            b++;
        bool outside = !p->seen_speak || p->closed_speak;
        for (size_t k = a; k < b && outside; k++) {
            char c = p->t[k];
            if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
                return SERR(p, k, p->seen_speak ? "text after </speak>" : "text before <speak>");
        }
        if (!outside)
            PL_TRY(text_add(p, p->t + a, b - a, a));
        p->pos = b;
    }
    return PL_OK;
}

/* ------------------------------------------------------------- attributes */

#define MAX_ATTRS 16

struct attr {
    const char *name, *val; /* val: raw (entities not decoded; values are plain words) */
    size_t name_len, val_len;
    size_t at; /* byte of the value */
};

static bool name_start(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
}
static bool name_char(char c) {
    return name_start(c) || (c >= '0' && c <= '9') || c == '-' || c == '.';
}
static bool ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static const struct attr *get_attr(const struct attr *a, int n, const char *name) {
    for (int i = 0; i < n; i++) {
        if (a[i].name_len == strlen(name) && memcmp(a[i].name, name, a[i].name_len) == 0)
            return &a[i];
    }
    return NULL;
}

static bool val_is(const struct attr *a, const char *lit) {
    return a->val_len == strlen(lit) && memcmp(a->val, lit, a->val_len) == 0;
}

/* Parse a signed decimal number at the start of v; *rest gets what follows. */
static bool parse_real(const char *v, size_t n, double *out, const char **rest, size_t *rest_n) {
    char tmp[32];
    if (n == 0 || n >= sizeof tmp)
        return false;
    memcpy(tmp, v, n);
    tmp[n] = '\0';
    char *end;
    double d = strtod(tmp, &end);
    if (end == tmp || !isfinite(d))
        return false;
    *out = d;
    *rest = v + (end - tmp);
    *rest_n = n - (size_t)(end - tmp);
    return true;
}

static bool suffix_is(const char *r, size_t n, const char *lit) {
    return n == strlen(lit) && memcmp(r, lit, n) == 0;
}

static pl_status bad_value(const struct attr *a) {
    return SERR(p, a->at, "bad %.*s value \"%.*s\"", (int)a->name_len, a->name,
                (int)(a->val_len > 40 ? 40 : a->val_len), a->val);
}

static pl_status apply_prosody(struct parser *p, const struct attr *at, int na) {
    const struct attr *a;
    const char *r;
    size_t rn;
    double d;
    if ((a = get_attr(at, na, "rate"))) {
        static const struct {
            const char *w;
            float v;
        } words[] = {{"x-slow", 0.5f}, {"slow", 0.75f}, {"medium", 1.0f}, {"fast", 1.25f},
                     {"x-fast", 1.75f}, {"default", 1.0f}};
        float m = -1;
        for (size_t k = 0; k < 6; k++) {
            if (val_is(a, words[k].w))
                m = words[k].v;
        }
        if (m < 0) {
            if (!parse_real(a->val, a->val_len, &d, &r, &rn))
                return bad_value(a);
            if (suffix_is(r, rn, "%") && a->val[0] != '+' && a->val[0] != '-' && d >= 20 && d <= 400)
                m = (float)(d / 100);
            else if (rn == 0 && d >= 0.2 && d <= 4)
                m = (float)d;
            else
                return bad_value(a);
        }
        p->prosody.rate *= m;
    }
    if ((a = get_attr(at, na, "pitch"))) {
        static const struct {
            const char *w;
            float v;
        } words[] = {{"x-low", 0.8f}, {"low", 0.9f}, {"medium", 1.0f}, {"high", 1.1f},
                     {"x-high", 1.2f}, {"default", 1.0f}};
        float m = -1;
        for (size_t k = 0; k < 6; k++) {
            if (val_is(a, words[k].w))
                m = words[k].v;
        }
        if (m < 0) {
            if (!parse_real(a->val, a->val_len, &d, &r, &rn) || (a->val[0] != '+' && a->val[0] != '-'))
                return bad_value(a);
            if (suffix_is(r, rn, "%") && d >= -90 && d <= 200)
                m = (float)(1 + d / 100);
            else if (suffix_is(r, rn, "st") && d >= -24 && d <= 24)
                m = (float)pow(2.0, d / 12);
            else
                return bad_value(a);
        }
        p->prosody.pitch *= m;
    }
    if ((a = get_attr(at, na, "volume"))) {
        static const struct {
            const char *w;
            float v;
        } words[] = {{"silent", 0.0f}, {"x-soft", 0.25f}, {"soft", 0.5f}, {"medium", 1.0f},
                     {"loud", 2.0f},   {"x-loud", 4.0f},  {"default", 1.0f}};
        float m = -1;
        for (size_t k = 0; k < 7; k++) {
            if (val_is(a, words[k].w))
                m = words[k].v;
        }
        if (m < 0) {
            if (!parse_real(a->val, a->val_len, &d, &r, &rn) || !suffix_is(r, rn, "dB") ||
                (a->val[0] != '+' && a->val[0] != '-') || d < -40 || d > 40)
                return bad_value(a);
            m = (float)pow(10.0, d / 20);
        }
        p->prosody.volume *= m;
    }
    return PL_OK;
}

static pl_status do_break(struct parser *p, const struct attr *at, int na) {
    int ms = 400; /* medium */
    const struct attr *a;
    if ((a = get_attr(at, na, "strength"))) {
        static const struct {
            const char *w;
            int ms;
        } st[] = {{"none", 0},     {"x-weak", 100}, {"weak", 200},
                  {"medium", 400}, {"strong", 700}, {"x-strong", 1000}};
        ms = -1;
        for (size_t k = 0; k < 6; k++) {
            if (val_is(a, st[k].w))
                ms = st[k].ms;
        }
        if (ms < 0)
            return bad_value(a);
    }
    if ((a = get_attr(at, na, "time"))) {
        double d;
        const char *r;
        size_t rn;
        if (!parse_real(a->val, a->val_len, &d, &r, &rn) || a->val[0] == '+' || a->val[0] == '-')
            return bad_value(a);
        if (suffix_is(r, rn, "s"))
            d *= 1000;
        else if (!suffix_is(r, rn, "ms"))
            return bad_value(a);
        if (d < 0 || d > 10000)
            return bad_value(a);
        ms = (int)(d + 0.5);
    }
    PL_TRY(flush(p, PL_TTS_SEG_TEXT));
    struct pl_tts_segment *s = seg_new(p, PL_TTS_SEG_BREAK);
    if (!s)
        return nomem();
    s->break_ms = ms;
    s->src_start = s->src_end = (uint32_t)p->pos;
    return PL_OK;
}

/* ----------------------------------------------------------------- elements */

static enum el el_of(const char *s, size_t n) {
    for (int k = 1; k < (int)(sizeof el_names / sizeof el_names[0]); k++) {
        if (strlen(el_names[k]) == n && memcmp(el_names[k], s, n) == 0)
            return (enum el)k;
    }
    return EL_UNKNOWN;
}

/* Only text may appear inside phoneme, say-as and sub. */
static bool text_only(const struct parser *p) {
    for (int i = 0; i < p->depth; i++) {
        enum el e = p->stack[i].el;
        if (e == EL_PHONEME || e == EL_SAY_AS || e == EL_SUB)
            return true;
    }
    return false;
}

static pl_status open_el(struct parser *p, enum el el, size_t lt, size_t nat, size_t nal,
                         const struct attr *at, int na, bool empty) {
    if (!p->seen_speak && el != EL_SPEAK)
        return SERR(p, lt, "<%.*s> before <speak>", (int)nal, p->t + nat);
    if (el == EL_SPEAK && (p->seen_speak))
        return SERR(p, lt, "second <speak>");
    if (p->closed_speak)
        return SERR(p, lt, "element after </speak>");
    if (el != EL_UNKNOWN && text_only(p))
        return SERR(p, lt, "<%.*s> inside <%s>", (int)nal, p->t + nat,
                    el_names[p->stack[p->depth - 1].el]);
    if (el == EL_BREAK)
        PL_TRY(do_break(p, at, na));
    if (empty && el != EL_SPEAK)
        return PL_OK;
    if (p->depth == PL_TTS_SSML_MAX_DEPTH)
        return SERR(p, lt, "nesting deeper than %d", PL_TTS_SSML_MAX_DEPTH);
    struct frame *f = &p->stack[p->depth];
    memset(f, 0, sizeof *f);
    f->el = el;
    f->name_at = nat;
    f->name_len = nal;
    f->open_at = lt;
    f->prosody = p->prosody;
    f->say_as = p->say_as;
    memcpy(f->date_format, p->date_format, 4);
    if (el != EL_UNKNOWN && el != EL_BREAK)
        PL_TRY(flush(p, PL_TTS_SEG_TEXT));
    const struct attr *a;
    switch (el) {
    case EL_SPEAK:
        p->seen_speak = true;
        if (empty)
            p->closed_speak = true;
        break;
    case EL_PROSODY:
        PL_TRY(apply_prosody(p, at, na));
        break;
    case EL_EMPHASIS: {
        int lv = 2;
        if ((a = get_attr(at, na, "level"))) {
            lv = val_is(a, "strong") ? 3 : val_is(a, "moderate") ? 2 : val_is(a, "reduced") ? 1
                 : val_is(a, "none") ? 0 : -1;
            if (lv < 0)
                return bad_value(a);
        }
        p->prosody.emphasis = lv;
        break;
    }
    case EL_P:
    case EL_S:
        PL_TRY(flush(p, PL_TTS_SEG_BOUNDARY));
        break;
    case EL_PHONEME: {
        const struct attr *ph = get_attr(at, na, "ph");
        if (!ph)
            return SERR(p, lt, "<phoneme> without ph");
        a = get_attr(at, na, "alphabet");
        pl_status st;
        if (!a || val_is(a, "ipa"))
            st = pl_tts_ipa_to_arpabet(ph->val, ph->val_len, f->phones, PL_TTS_MAX_PRON, &f->n_phones);
        else if (val_is(a, "cmu-arpabet") || val_is(a, "x-arpabet") || val_is(a, "arpabet"))
            st = pl_tts_phones_parse(ph->val, ph->val_len, f->phones, PL_TTS_MAX_PRON, &f->n_phones);
        else
            return bad_value(a);
        if (st != PL_OK)
            return pl__tts_err_prefix(PL_E_FORMAT, "ssml: bad ph at byte %zu: ", ph->at);
        break;
    }
    case EL_SAY_AS: {
        a = get_attr(at, na, "interpret-as");
        if (!a)
            return SERR(p, lt, "<say-as> without interpret-as");
        static const struct {
            const char *w;
            enum pl_tts_say_as v;
        } kinds[] = {{"characters", PL_TTS_SAY_CHARACTERS}, {"spell-out", PL_TTS_SAY_CHARACTERS},
                     {"digits", PL_TTS_SAY_CHARACTERS},     {"cardinal", PL_TTS_SAY_CARDINAL},
                     {"number", PL_TTS_SAY_CARDINAL},       {"ordinal", PL_TTS_SAY_ORDINAL},
                     {"date", PL_TTS_SAY_DATE},             {"time", PL_TTS_SAY_TIME},
                     {"telephone", PL_TTS_SAY_TELEPHONE}};
        int k = -1;
        for (int i = 0; i < 9; i++) {
            if (val_is(a, kinds[i].w))
                k = i;
        }
        if (k < 0)
            return bad_value(a);
        p->say_as = kinds[k].v;
        memset(p->date_format, 0, 4);
        const struct attr *fm = get_attr(at, na, "format");
        if (fm && p->say_as == PL_TTS_SAY_DATE) {
            bool ok = fm->val_len >= 1 && fm->val_len <= 3;
            for (size_t i = 0; i < fm->val_len && ok; i++)
                ok = fm->val[i] == 'd' || fm->val[i] == 'm' || fm->val[i] == 'y';
            if (!ok)
                return bad_value(fm);
            memcpy(p->date_format, fm->val, fm->val_len);
        }
        break;
    }
    case EL_SUB:
        a = get_attr(at, na, "alias");
        if (!a)
            return SERR(p, lt, "<sub> without alias");
        f->alias = a->val;
        f->alias_len = a->val_len;
        break;
    default:
        break;
    }
    p->depth++;
    return PL_OK;
}

static pl_status close_el(struct parser *p, size_t lt, size_t nat, size_t nal, size_t gt) {
    if (p->depth == 0)
        return SERR(p, lt, "unexpected </%.*s>", (int)nal, p->t + nat);
    struct frame *f = &p->stack[p->depth - 1];
    if (f->name_len != nal || memcmp(p->t + f->name_at, p->t + nat, nal) != 0)
        return SERR(p, lt, "mismatched </%.*s> (open: <%.*s>)", (int)nal, p->t + nat,
                    (int)f->name_len, p->t + f->name_at);
    p->depth--;
    if (f->el == EL_UNKNOWN)
        return PL_OK;
    struct pl_tts_segment *s;
    switch (f->el) {
    case EL_PHONEME:
        PL_TRY(flush(p, PL_TTS_SEG_PHONEME));
        s = &p->out->segs[p->out->n_segs - 1];
        s->phones = pl_arena_alloc(&p->out->arena, f->n_phones);
        if (!s->phones)
            return nomem();
        memcpy((uint8_t *)s->phones, f->phones, f->n_phones);
        s->n_phones = f->n_phones;
        s->src_start = (uint32_t)f->open_at;
        s->src_end = (uint32_t)gt;
        break;
    case EL_SUB:
        p->n = 0; /* the content is replaced by the alias */
        s = seg_new(p, PL_TTS_SEG_TEXT);
        if (!s || !(s->text = pl_arena_strndup(&p->out->arena, f->alias, f->alias_len)))
            return nomem();
        s->len = f->alias_len;
        s->src_map = NULL; /* spans: the whole element */
        s->src_start = (uint32_t)f->open_at;
        s->src_end = (uint32_t)gt;
        break;
    case EL_P:
    case EL_S:
        PL_TRY(flush(p, PL_TTS_SEG_BOUNDARY));
        p->out->segs[p->out->n_segs - 1].src_start = (uint32_t)gt;
        p->out->segs[p->out->n_segs - 1].src_end = (uint32_t)gt;
        break;
    default:
        PL_TRY(flush(p, PL_TTS_SEG_TEXT));
        break;
    }
    p->prosody = f->prosody;
    p->say_as = f->say_as;
    memcpy(p->date_format, f->date_format, 4);
    if (f->el == EL_SPEAK)
        p->closed_speak = true;
    return PL_OK;
}

/* A tag at p->pos ('<'). */
static pl_status tag(struct parser *p) {
    const char *t = p->t;
    size_t lt = p->pos, i = lt + 1, len = p->len;
    if (len - lt >= 4 && memcmp(t + lt, "<!--", 4) == 0) {
        for (i = lt + 4; i + 3 <= len; i++) {
            if (memcmp(t + i, "-->", 3) == 0) {
                p->pos = i + 3;
                return PL_OK;
            }
        }
        return SERR(p, lt, "unterminated comment");
    }
    if (i < len && t[i] == '?') {
        for (; i + 2 <= len; i++) {
            if (t[i] == '?' && t[i + 1] == '>') {
                p->pos = i + 2;
                return PL_OK;
            }
        }
        return SERR(p, lt, "unterminated <?");
    }
    if (i < len && t[i] == '!')
        return SERR(p, lt, "unsupported markup <!");
    bool closing = i < len && t[i] == '/';
    if (closing)
        i++;
    size_t nat = i;
    if (i >= len || !name_start(t[i]))
        return SERR(p, lt, "bad tag");
    while (i < len && name_char(t[i]))
        i++;
    size_t nal = i - nat;
    if (closing) {
        while (i < len && ws(t[i]))
            i++;
        if (i >= len || t[i] != '>')
            return SERR(p, lt, "unterminated tag </%.*s", (int)(nal > 32 ? 32 : nal), t + nat);
        p->pos = i + 1;
        return close_el(p, lt, nat, nal, i + 1);
    }
    struct attr at[MAX_ATTRS];
    int na = 0;
    bool empty = false;
    for (;;) {
        size_t w0 = i;
        while (i < len && ws(t[i]))
            i++;
        if (i >= len)
            return SERR(p, lt, "unterminated tag <%.*s", (int)(nal > 32 ? 32 : nal), t + nat);
        if (t[i] == '>') {
            i++;
            break;
        }
        if (t[i] == '/' && i + 1 < len && t[i + 1] == '>') {
            empty = true;
            i += 2;
            break;
        }
        if (!name_start(t[i]) || i == w0)
            return SERR(p, i, "bad attribute in <%.*s>", (int)(nal > 32 ? 32 : nal), t + nat);
        size_t an = i;
        while (i < len && name_char(t[i]))
            i++;
        size_t anl = i - an;
        while (i < len && ws(t[i]))
            i++;
        if (i >= len || t[i] != '=')
            return SERR(p, an, "attribute %.*s without a value", (int)(anl > 32 ? 32 : anl), t + an);
        i++;
        while (i < len && ws(t[i]))
            i++;
        if (i >= len || (t[i] != '"' && t[i] != '\''))
            return SERR(p, i, "attribute %.*s: value not quoted", (int)(anl > 32 ? 32 : anl), t + an);
        char q = t[i++];
        size_t vs = i;
        while (i < len && t[i] != q && t[i] != '<')
            i++;
        if (i >= len || t[i] != q)
            return SERR(p, vs - 1, "unterminated attribute value");
        if (na == MAX_ATTRS)
            return SERR(p, an, "more than %d attributes", MAX_ATTRS);
        at[na].name = t + an;
        at[na].name_len = anl;
        at[na].val = t + vs;
        at[na].val_len = i - vs;
        at[na].at = vs;
        na++;
        i++;
    }
    p->pos = i;
    return open_el(p, el_of(t + nat, nal), lt, nat, nal, at, na, empty);
}

bool pl_tts_is_ssml(const char *text, size_t len) {
    size_t i = 0;
    while (i < len && ws(text[i]))
        i++;
    if (len - i >= 3 && memcmp(text + i, "\xef\xbb\xbf", 3) == 0)
        i += 3;
    return len - i >= 7 && memcmp(text + i, "<speak", 6) == 0 &&
           (text[i + 6] == '>' || ws(text[i + 6]) || text[i + 6] == '/');
}

void pl_tts_ssml_destroy(struct pl_tts_ssml *s) {
    if (!s)
        return;
    pl_free(s->segs);
    pl_arena_deinit(&s->arena);
    pl_free(s);
}

pl_status pl_tts_ssml_parse(const char *text, size_t len, struct pl_tts_ssml **out) {
    if (!text || !out)
        return PL_ERR(PL_E_INVALID_ARG, "ssml: NULL argument");
    *out = NULL;
    if (len > PL_TTS_MAX_TEXT)
        return PL_ERR(PL_E_INVALID_ARG, "ssml: text of %zu bytes (at most %zu)", len,
                      PL_TTS_MAX_TEXT);
    size_t bad = pl__tts_utf8_check(text, len);
    if (bad < len)
        return PL_ERR(PL_E_INVALID_ARG, "ssml: invalid UTF-8 at byte %zu", bad);
    struct parser *p = pl_calloc(1, sizeof *p);
    struct pl_tts_ssml *o = pl_calloc(1, sizeof *o);
    pl_status st = PL_OK;
    if (!p || !o) {
        pl_free(p);
        pl_free(o);
        return nomem();
    }
    pl_arena_init(&o->arena, 4096);
    p->t = text;
    p->len = len;
    p->out = o;
    p->prosody = (struct pl_tts_prosody){1.0f, 1.0f, 1.0f, 0};
    if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
        p->pos = 3;
    while (p->pos < len) {
        if (text[p->pos] == '<')
            st = tag(p);
        else
            st = text_run(p);
        if (st != PL_OK)
            goto fail;
    }
    if (p->depth > 0) {
        const struct frame *f = &p->stack[p->depth - 1];
        st = SERR(p, len, "unterminated <%.*s> (opened at byte %zu)",
                  (int)(f->name_len > 32 ? 32 : f->name_len), text + f->name_at, f->open_at);
        goto fail;
    }
    if (!p->seen_speak) {
        st = SERR(p, 0, "no <speak> element");
        goto fail;
    }
    st = flush(p, PL_TTS_SEG_TEXT);
    if (st != PL_OK)
        goto fail;
    if (pl_arena_failed(&o->arena)) {
        st = nomem();
        goto fail;
    }
    pl_free(p->buf);
    pl_free(p->map);
    pl_free(p);
    *out = o;
    return PL_OK;
fail:
    pl_free(p->buf);
    pl_free(p->map);
    pl_free(p);
    pl_tts_ssml_destroy(o);
    return st;
}
