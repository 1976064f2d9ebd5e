/*
 * asr_itn.c - inverse text normalization of English numbers (see asr_itn.h).
 *
 * The text is split into words; at each word the parsers are tried in order
 * (negative, digit run, year, cardinal/ordinal with decimal, percent and
 * dollar modifiers) and the first that consumes words replaces them. The
 * cardinal parser is a small state machine over word kinds that only accepts
 * well-formed number phrases: "five five" stops after the first five (and
 * becomes a digit run instead), "twenty thirty" is a year.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "asr_itn.h"
#include "strbuf.h"

enum kind {
    K_OTHER,
    K_UNIT, /* zero..nine */
    K_TEEN, /* ten..nineteen */
    K_TENS, /* twenty..ninety */
    K_HUNDRED,
    K_SCALE, /* thousand, million, billion, trillion */
    K_AND,
    K_OH,
    K_POINT,
    K_PERCENT,
    K_DOLLARS,
    K_MINUS,
    K_DECADE, /* twenties..nineties (after a century: "nineteen sixties") */
    K_CENTS,
};

struct entry {
    const char *w;
    enum kind k;
    int64_t v;
    int ord;
};

static const struct entry table[] = {
    {"zero", K_UNIT, 0, 0},
    {"one", K_UNIT, 1, 0},
    {"two", K_UNIT, 2, 0},
    {"three", K_UNIT, 3, 0},
    {"four", K_UNIT, 4, 0},
    {"five", K_UNIT, 5, 0},
    {"six", K_UNIT, 6, 0},
    {"seven", K_UNIT, 7, 0},
    {"eight", K_UNIT, 8, 0},
    {"nine", K_UNIT, 9, 0},
    {"ten", K_TEEN, 10, 0},
    {"eleven", K_TEEN, 11, 0},
    {"twelve", K_TEEN, 12, 0},
    {"thirteen", K_TEEN, 13, 0},
    {"fourteen", K_TEEN, 14, 0},
    {"fifteen", K_TEEN, 15, 0},
    {"sixteen", K_TEEN, 16, 0},
    {"seventeen", K_TEEN, 17, 0},
    {"eighteen", K_TEEN, 18, 0},
    {"nineteen", K_TEEN, 19, 0},
    {"twenty", K_TENS, 20, 0},
    {"thirty", K_TENS, 30, 0},
    {"forty", K_TENS, 40, 0},
    {"fifty", K_TENS, 50, 0},
    {"sixty", K_TENS, 60, 0},
    {"seventy", K_TENS, 70, 0},
    {"eighty", K_TENS, 80, 0},
    {"ninety", K_TENS, 90, 0},
    {"hundred", K_HUNDRED, 100, 0},
    {"thousand", K_SCALE, 1000, 0},
    {"million", K_SCALE, 1000000, 0},
    {"billion", K_SCALE, 1000000000, 0},
    {"trillion", K_SCALE, 1000000000000, 0},
    {"first", K_UNIT, 1, 1},
    {"second", K_UNIT, 2, 1},
    {"third", K_UNIT, 3, 1},
    {"fourth", K_UNIT, 4, 1},
    {"fifth", K_UNIT, 5, 1},
    {"sixth", K_UNIT, 6, 1},
    {"seventh", K_UNIT, 7, 1},
    {"eighth", K_UNIT, 8, 1},
    {"ninth", K_UNIT, 9, 1},
    {"tenth", K_TEEN, 10, 1},
    {"eleventh", K_TEEN, 11, 1},
    {"twelfth", K_TEEN, 12, 1},
    {"thirteenth", K_TEEN, 13, 1},
    {"fourteenth", K_TEEN, 14, 1},
    {"fifteenth", K_TEEN, 15, 1},
    {"sixteenth", K_TEEN, 16, 1},
    {"seventeenth", K_TEEN, 17, 1},
    {"eighteenth", K_TEEN, 18, 1},
    {"nineteenth", K_TEEN, 19, 1},
    {"twentieth", K_TENS, 20, 1},
    {"thirtieth", K_TENS, 30, 1},
    {"fortieth", K_TENS, 40, 1},
    {"fiftieth", K_TENS, 50, 1},
    {"sixtieth", K_TENS, 60, 1},
    {"seventieth", K_TENS, 70, 1},
    {"eightieth", K_TENS, 80, 1},
    {"ninetieth", K_TENS, 90, 1},
    {"hundredth", K_HUNDRED, 100, 1},
    {"thousandth", K_SCALE, 1000, 1},
    {"millionth", K_SCALE, 1000000, 1},
    {"billionth", K_SCALE, 1000000000, 1},
    {"and", K_AND, 0, 0},
    {"oh", K_OH, 0, 0},
    {"point", K_POINT, 0, 0},
    {"percent", K_PERCENT, 0, 0},
    {"dollars", K_DOLLARS, 0, 0},
    {"dollar", K_DOLLARS, 0, 0},
    {"minus", K_MINUS, 0, 0},
    {"negative", K_MINUS, 0, 0},
    {"twenties", K_DECADE, 20, 0},
    {"thirties", K_DECADE, 30, 0},
    {"forties", K_DECADE, 40, 0},
    {"fifties", K_DECADE, 50, 0},
    {"sixties", K_DECADE, 60, 0},
    {"seventies", K_DECADE, 70, 0},
    {"eighties", K_DECADE, 80, 0},
    {"nineties", K_DECADE, 90, 0},
    {"cents", K_CENTS, 0, 0},
    {"cent", K_CENTS, 0, 0},
};

struct word {
    const char *s; /* original text */
    size_t len;    /* bytes of the whole word */
    size_t core;   /* bytes without trailing punctuation */
    enum kind k;
    int64_t v;
    int ord;
};

static int is_punct(char c) {
    return c == '.' || c == ',' || c == '!' || c == '?' || c == ';' || c == ':';
}

static void classify(struct word *w) {
    char low[16];
    w->k = K_OTHER;
    w->v = 0;
    w->ord = 0;
    if (w->core == 0 || w->core >= sizeof low)
        return;
    for (size_t i = 0; i < w->core; i++) {
        char c = w->s[i];
        low[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    low[w->core] = '\0';
    for (size_t i = 0; i < PL_ARRAY_LEN(table); i++)
        if (strcmp(table[i].w, low) == 0) {
            w->k = table[i].k;
            w->v = table[i].v;
            w->ord = table[i].ord;
            return;
        }
}

static int has_punct(const struct word *w) { return w->core < w->len; }

/* A number phrase: value, words consumed, ordinal. */
struct num {
    int64_t v;
    int n;
    int ord;
};

/* Well-formed cardinal (optionally ending in an ordinal word) at words[i]. */
static int parse_cardinal(const struct word *w, int n, int i, struct num *out) {
    int64_t total = 0, cur = 0, last_scale = 0;
    enum kind last = K_OTHER;
    int hundred = 0, k = i, ord = 0, end = i;
    while (k < n && !ord) {
        const struct word *x = &w[k];
        enum kind kd = x->k;
        int ok = 0;
        switch (kd) {
        case K_UNIT:
            ok = last == K_OTHER || last == K_HUNDRED || last == K_SCALE || last == K_AND ||
                 (last == K_TENS && cur % 10 == 0);
            if (ok)
                cur += x->v;
            break;
        case K_TEEN:
        case K_TENS:
            ok = last == K_OTHER || last == K_HUNDRED || last == K_SCALE || last == K_AND;
            if (ok)
                cur += x->v;
            break;
        case K_HUNDRED:
            ok = (last == K_UNIT || last == K_TEEN || last == K_TENS) && cur > 0 && cur < 100 &&
                 !hundred;
            if (ok) {
                cur *= 100;
                hundred = 1;
            }
            break;
        case K_SCALE:
            ok = (last == K_UNIT || last == K_TEEN || last == K_TENS || last == K_HUNDRED) &&
                 cur > 0 && (last_scale == 0 || x->v < last_scale);
            if (ok) {
                total += cur * x->v;
                cur = 0;
                last_scale = x->v;
                hundred = 0;
            }
            break;
        case K_AND:
            /* only "hundred and three", "thousand and five" */
            ok = (last == K_HUNDRED || last == K_SCALE) && !x->ord && k + 1 < n && !has_punct(x) &&
                 (w[k + 1].k == K_UNIT || w[k + 1].k == K_TEEN || w[k + 1].k == K_TENS);
            break;
        default:
            ok = 0;
        }
        if (!ok)
            break;
        last = kd;
        ord = x->ord;
        k++;
        if (kd != K_AND)
            end = k;
        if (has_punct(x))
            break;
    }
    if (end == i)
        return 0;
    out->v = total + cur;
    out->n = end - i;
    out->ord = ord;
    return 1;
}

/* Two-digit group for years: teen, tens, tens + unit (no ordinals). */
static int two_digits(const struct word *w, int n, int i, int64_t *v, int *used) {
    if (i >= n || w[i].ord)
        return 0;
    if (w[i].k == K_TEEN) {
        *v = w[i].v;
        *used = 1;
        return 1;
    }
    if (w[i].k != K_TENS)
        return 0;
    *v = w[i].v;
    *used = 1;
    if (!has_punct(&w[i]) && i + 1 < n && w[i + 1].k == K_UNIT && !w[i + 1].ord && w[i + 1].v > 0) {
        *v += w[i + 1].v;
        *used = 2;
    }
    return 1;
}

static void ord_suffix(int64_t v, char *buf, size_t cap) {
    const char *s = "th";
    if (v % 100 < 11 || v % 100 > 13) {
        if (v % 10 == 1)
            s = "st";
        if (v % 10 == 2)
            s = "nd";
        if (v % 10 == 3)
            s = "rd";
    }
    snprintf(buf, cap, "%" PRId64 "%s", v, s);
}

/* Try the parsers at words[i]; on success append the replacement to sb and
 * return the words consumed (0: not a number). */
static int parse_at(const struct word *w, int n, int i, struct pl_strbuf *sb, int allow_minus) {
    char buf[96];
    const struct word *last;
    /* negative */
    if (allow_minus && w[i].k == K_MINUS && !has_punct(&w[i]) && i + 1 < n) {
        struct pl_strbuf tmp;
        pl_strbuf_init(&tmp);
        int c = parse_at(w, n, i + 1, &tmp, 0);
        if (c > 0 && pl_strbuf_status(&tmp) == PL_OK) {
            pl_strbuf_append_char(sb, '-');
            pl_strbuf_append(sb, tmp.data);
        }
        pl_strbuf_deinit(&tmp);
        if (c > 0)
            return c + 1;
        return 0;
    }
    /* digit run: two or more single digits ("oh" inside) */
    if (w[i].k == K_UNIT && !w[i].ord && !has_punct(&w[i]) && i + 1 < n &&
        ((w[i + 1].k == K_UNIT && !w[i + 1].ord) || w[i + 1].k == K_OH) &&
        !(i + 2 < n && !has_punct(&w[i + 1]) &&
          (w[i + 2].k == K_HUNDRED || w[i + 2].k == K_SCALE))) {
        int k = i;
        size_t nb = 0;
        while (k < n && nb + 1 < sizeof buf &&
               ((w[k].k == K_UNIT && !w[k].ord) || (k > i && w[k].k == K_OH))) {
            buf[nb++] = (char)('0' + w[k].v);
            k++;
            if (has_punct(&w[k - 1]))
                break;
        }
        buf[nb] = '\0';
        pl_strbuf_append(sb, buf);
        last = &w[k - 1];
        pl_strbuf_append_n(sb, last->s + last->core, last->len - last->core);
        return k - i;
    }
    /* year: two two-digit groups, the first 11..99 */
    int64_t a = 0, b = 0;
    int ua = 0, ub = 0;
    if (two_digits(w, n, i, &a, &ua) && a >= 11 && !has_punct(&w[i + ua - 1]) && i + ua < n) {
        int j = i + ua;
        int ok = 0;
        if (w[j].k == K_OH && !has_punct(&w[j]) && j + 1 < n && w[j + 1].k == K_UNIT &&
            !w[j + 1].ord && w[j + 1].v > 0) {
            b = w[j + 1].v;
            ub = 2;
            ok = 1;
        } else if (two_digits(w, n, j, &b, &ub)) {
            ok = 1;
        } else if (w[j].k == K_DECADE) { /* "nineteen sixties" -> 1960s */
            snprintf(buf, sizeof buf, "%" PRId64 "s", a * 100 + w[j].v);
            pl_strbuf_append(sb, buf);
            pl_strbuf_append_n(sb, w[j].s + w[j].core, w[j].len - w[j].core);
            return ua + 1;
        }
        if (ok) {
            int e = j + ub;
            const struct word *lw = &w[e - 1];
            if (!has_punct(lw) && e < n && (w[e].k == K_HUNDRED || w[e].k == K_SCALE))
                ok = 0;
        }
        if (ok) {
            snprintf(buf, sizeof buf, "%" PRId64, a * 100 + b);
            pl_strbuf_append(sb, buf);
            last = &w[j + ub - 1];
            pl_strbuf_append_n(sb, last->s + last->core, last->len - last->core);
            return ua + ub;
        }
    }
    /* cardinal / ordinal with modifiers */
    struct num num;
    if (!parse_cardinal(w, n, i, &num))
        return 0;
    int j = i + num.n;
    last = &w[j - 1];
    if (num.ord) {
        if (num.n == 1 && num.v < 10)
            return 0; /* "first time" stays */
        ord_suffix(num.v, buf, sizeof buf);
        pl_strbuf_append(sb, buf);
        pl_strbuf_append_n(sb, last->s + last->core, last->len - last->core);
        return num.n;
    }
    char dec[64] = "";
    int mod = 0;
    if (!has_punct(last) && j + 1 < n && w[j].k == K_POINT && !has_punct(&w[j]) &&
        ((w[j + 1].k == K_UNIT && !w[j + 1].ord) || w[j + 1].k == K_OH)) {
        size_t nd = 0;
        int k = j + 1;
        dec[nd++] = '.';
        while (k < n && nd + 1 < sizeof dec &&
               ((w[k].k == K_UNIT && !w[k].ord) || w[k].k == K_OH)) {
            dec[nd++] = (char)('0' + w[k].v);
            k++;
            if (has_punct(&w[k - 1]))
                break;
        }
        dec[nd] = '\0';
        j = k;
        last = &w[j - 1];
        mod = 1;
    }
    int percent = 0, dollars = 0;
    if (!has_punct(last) && j < n && w[j].k == K_PERCENT) {
        percent = 1;
        last = &w[j++];
    } else if (!has_punct(last) && j < n && w[j].k == K_DOLLARS) {
        dollars = 1;
        last = &w[j++];
        /* "five dollars and fifty cents" -> $5.50 */
        struct num cents;
        if (!mod && !has_punct(last) && j + 2 < n && w[j].k == K_AND && !has_punct(&w[j]) &&
            parse_cardinal(w, n, j + 1, &cents) && !cents.ord && cents.v < 100 &&
            j + 1 + cents.n < n && !has_punct(&w[j + cents.n]) && w[j + 1 + cents.n].k == K_CENTS) {
            snprintf(dec, sizeof dec, ".%02" PRId64, cents.v);
            j += 2 + cents.n;
            last = &w[j - 1];
        }
    }
    if (num.n == 1 && num.v < 10 && !mod && !percent && !dollars && allow_minus)
        return 0;
    snprintf(buf, sizeof buf, "%s%" PRId64 "%s%s", dollars ? "$" : "", num.v, dec,
             percent ? "%" : "");
    pl_strbuf_append(sb, buf);
    pl_strbuf_append_n(sb, last->s + last->core, last->len - last->core);
    return j - i;
}

pl_status pl_asr_itn_numbers(const char *text, char **out) {
    pl_status st = PL_OK;
    struct word *w = NULL;
    struct pl_strbuf sb;
    pl_strbuf_init(&sb);
    if (!out)
        return PL_ERR(PL_E_INVALID_ARG, "itn: out is NULL");
    *out = NULL;
    if (!text)
        return PL_ERR(PL_E_INVALID_ARG, "itn: text is NULL");
    size_t len = strlen(text), cap = len / 2 + 1;
    w = pl_malloc(sizeof *w * cap);
    if (!w)
        return PL_ERR(PL_E_NOMEM, "itn: words");
    int n = 0;
    for (size_t p = 0; p < len;) {
        while (p < len && (text[p] == ' ' || text[p] == '\t' || text[p] == '\n' || text[p] == '\r'))
            p++;
        if (p >= len)
            break;
        size_t s = p;
        while (p < len && text[p] != ' ' && text[p] != '\t' && text[p] != '\n' && text[p] != '\r')
            p++;
        struct word *x = &w[n++];
        x->s = text + s;
        x->len = p - s;
        x->core = x->len;
        while (x->core > 0 && is_punct(x->s[x->core - 1]))
            x->core--;
        classify(x);
    }
    for (int i = 0; i < n;) {
        if (i)
            pl_strbuf_append_char(&sb, ' ');
        int c = parse_at(w, n, i, &sb, 1);
        if (c == 0) {
            pl_strbuf_append_n(&sb, w[i].s, w[i].len);
            c = 1;
        }
        i += c;
    }
    if (pl_strbuf_status(&sb) != PL_OK) {
        st = PL_ERR(PL_E_NOMEM, "itn: output");
        goto fail;
    }
    *out = pl_strbuf_detach(&sb);
    if (!*out)
        st = PL_ERR(PL_E_NOMEM, "itn: output");
fail:
    pl_strbuf_deinit(&sb);
    pl_free(w);
    return st;
}
