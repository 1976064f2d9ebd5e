/* gateway_auth.c - API keys file and `authorization` metadata check. */
#include "gateway_auth.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "file.h"

struct gw_key {
    char *key;
    size_t len;
    char *user;
    struct pl_gw_key_limits lim; /* -1 fields: not on the key's line */
};

struct pl_gw_keys {
    struct gw_key *v;
    size_t n, cap;
};

#define KEY_MIN 8
#define KEY_MAX 256

void pl_gw_keys_destroy(struct pl_gw_keys *keys) {
    if (!keys) return;
    for (size_t i = 0; i < keys->n; i++) {
        pl_free(keys->v[i].key);
        pl_free(keys->v[i].user);
    }
    pl_free(keys->v);
    pl_free(keys);
}

static bool is_tok(char c) { return c > ' ' && c < 127; }

static pl_status add_key(struct pl_gw_keys *k, const char *key, size_t klen, const char *user,
                         size_t ulen, const struct pl_gw_key_limits *lim, int line) {
    if (k->n == k->cap) {
        size_t cap = k->cap ? k->cap * 2 : 8;
        struct gw_key *v = pl_realloc(k->v, cap * sizeof *v);
        if (!v) return PL_ERR(PL_E_NOMEM, "api keys: out of memory");
        k->v = v;
        k->cap = cap;
    }
    struct gw_key *e = &k->v[k->n];
    e->key = pl_strndup(key, klen);
    e->len = klen;
    e->lim = *lim;
    if (ulen) {
        e->user = pl_strndup(user, ulen);
    } else {
        char name[32];
        snprintf(name, sizeof name, "key%d", line);
        e->user = pl_strdup(name);
    }
    if (!e->key || !e->user) {
        pl_free(e->key);
        pl_free(e->user);
        return PL_ERR(PL_E_NOMEM, "api keys: out of memory");
    }
    k->n++;
    return PL_OK;
}

#define LINE_FORM "<key> [user] [rate=R] [burst=B] [max_calls=C]"

/* One "name=value" option of a key's line into lim. */
static pl_status parse_option(const char *t, size_t n, struct pl_gw_key_limits *lim,
                              const char *origin, int line) {
    char buf[64];
    const char *eq = memchr(t, '=', n);
    size_t nl = (size_t)(eq - t);
    if (n >= sizeof buf || eq + 1 == t + n)
        return PL_ERR(PL_E_INVALID_ARG, "%s:%d: bad option '%.*s'", origin, line,
                      (int)(n < 40 ? n : 40), t);
    memcpy(buf, eq + 1, n - nl - 1);
    buf[n - nl - 1] = 0;
    char *end;
    errno = 0;
    if (nl == 4 && memcmp(t, "rate", 4) == 0) {
        double v = strtod(buf, &end);
        if (*end || errno || !(v >= 0 && v <= 1e6))
            return PL_ERR(PL_E_INVALID_ARG, "%s:%d: rate=%s: requests per second 0..1e6", origin,
                          line, buf);
        lim->rate = v;
        return PL_OK;
    }
    long long v = strtoll(buf, &end, 10);
    bool ok = !*end && !errno && v >= 0 && v <= 1000000;
    if (nl == 5 && memcmp(t, "burst", 5) == 0 && ok && v >= 1) {
        lim->burst = v;
    } else if (nl == 9 && memcmp(t, "max_calls", 9) == 0 && ok) {
        lim->max_calls = v;
    } else {
        return PL_ERR(PL_E_INVALID_ARG,
                      "%s:%d: bad option '%.*s' (rate=R, burst=B 1..1e6, max_calls=C 0..1e6)",
                      origin, line, (int)(n < 40 ? n : 40), t);
    }
    return PL_OK;
}

pl_status pl_gw_keys_parse(const char *text, size_t len, const char *origin,
                           struct pl_gw_keys **keys) {
    pl_status st = PL_OK;
    *keys = NULL;
    struct pl_gw_keys *k = pl_calloc(1, sizeof *k);
    if (!k) return PL_ERR(PL_E_NOMEM, "api keys: out of memory");
    const char *p = text, *end = text + len;
    for (int line = 1; p < end; line++) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol) eol = end;
        const char *q = p, *le = eol;
        while (le > q && (le[-1] == '\r' || le[-1] == ' ' || le[-1] == '\t')) le--;
        while (q < le && (*q == ' ' || *q == '\t')) q++;
        if (q < le && *q != '#') {
            const char *ks = q;
            while (q < le && is_tok(*q)) q++;
            size_t klen = (size_t)(q - ks);
            if (q < le && *q != ' ' && *q != '\t') {
                st = PL_ERR(PL_E_INVALID_ARG, "%s:%d: key has a non-printable character", origin,
                            line);
                goto fail;
            }
            if (klen < KEY_MIN || klen > KEY_MAX) {
                st = PL_ERR(PL_E_INVALID_ARG, "%s:%d: key must be %d-%d characters, got %zu",
                            origin, line, KEY_MIN, KEY_MAX, klen);
                goto fail;
            }
            const char *us = NULL;
            size_t ulen = 0;
            struct pl_gw_key_limits lim = {-1, -1, -1};
            while (q < le) {
                while (q < le && (*q == ' ' || *q == '\t')) q++;
                const char *ts = q;
                while (q < le && is_tok(*q)) q++;
                size_t tl = (size_t)(q - ts);
                if (tl == 0 || (q < le && *q != ' ' && *q != '\t')) {
                    st = PL_ERR(PL_E_INVALID_ARG, "%s:%d: expected \"%s\"", origin, line, LINE_FORM);
                    goto fail;
                }
                if (memchr(ts, '=', tl)) {
                    PL_TRY_GOTO(st, parse_option(ts, tl, &lim, origin, line));
                } else if (!us && lim.rate < 0 && lim.burst < 0 && lim.max_calls < 0) {
                    us = ts;
                    ulen = tl;
                } else {
                    st = PL_ERR(PL_E_INVALID_ARG, "%s:%d: expected \"%s\"", origin, line, LINE_FORM);
                    goto fail;
                }
            }
            if (ulen > 64) {
                st = PL_ERR(PL_E_INVALID_ARG, "%s:%d: user name longer than 64", origin, line);
                goto fail;
            }
            PL_TRY_GOTO(st, add_key(k, ks, klen, us, ulen, &lim, line));
        }
        p = eol + 1;
    }
    if (k->n == 0) {
        st = PL_ERR(PL_E_INVALID_ARG, "%s: no API key in the file", origin);
        goto fail;
    }
    *keys = k;
    return PL_OK;
fail:
    pl_gw_keys_destroy(k);
    return st;
}

pl_status pl_gw_keys_load(const char *path, struct pl_gw_keys **keys) {
    char *buf = NULL;
    size_t n = 0;
    *keys = NULL;
    PL_TRY(pl_read_file(path, 16u << 20, &buf, &n));
    pl_status st = pl_gw_keys_parse(buf, n, path, keys);
    pl_free(buf);
    return st;
}

size_t pl_gw_keys_count(const struct pl_gw_keys *keys) { return keys ? keys->n : 0; }

/* Compare without an early exit so that timing does not reveal a prefix. */
static bool same(const char *a, const char *b, size_t n) {
    unsigned char d = 0;
    for (size_t i = 0; i < n; i++) d |= (unsigned char)(a[i] ^ b[i]);
    return d == 0;
}

long pl_gw_keys_find(const struct pl_gw_keys *keys, const char *value, size_t len) {
    if (!keys || !value) return -1;
    if (len > 7 && strncasecmp(value, "Bearer ", 7) == 0) {
        value += 7;
        len -= 7;
        while (len && *value == ' ') value++, len--;
    }
    long found = -1;
    for (size_t i = 0; i < keys->n; i++)
        if (keys->v[i].len == len && same(keys->v[i].key, value, len) && found < 0)
            found = (long)i;
    return found;
}

const char *pl_gw_keys_check(const struct pl_gw_keys *keys, const char *value, size_t len) {
    long i = pl_gw_keys_find(keys, value, len);
    return i < 0 ? NULL : keys->v[i].user;
}

const char *pl_gw_keys_user(const struct pl_gw_keys *keys, size_t i) {
    return keys && i < keys->n ? keys->v[i].user : NULL;
}

struct pl_gw_key_limits pl_gw_keys_limits(const struct pl_gw_keys *keys, size_t i) {
    struct pl_gw_key_limits none = {-1, -1, -1};
    return keys && i < keys->n ? keys->v[i].lim : none;
}
