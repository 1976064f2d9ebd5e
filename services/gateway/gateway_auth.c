/* gateway_auth.c - API keys file and `authorization` metadata check. */
#include "gateway_auth.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "file.h"

struct gw_key {
    char *key;
    size_t len;
    char *user;
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
                         size_t ulen, int line) {
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
            while (q < le && (*q == ' ' || *q == '\t')) q++;
            const char *us = q;
            while (q < le && is_tok(*q)) q++;
            size_t ulen = (size_t)(q - us);
            if (q != le) {
                st = PL_ERR(PL_E_INVALID_ARG, "%s:%d: expected \"<key> [user]\"", origin, line);
                goto fail;
            }
            if (ulen > 64) {
                st = PL_ERR(PL_E_INVALID_ARG, "%s:%d: user name longer than 64", origin, line);
                goto fail;
            }
            PL_TRY_GOTO(st, add_key(k, ks, klen, us, ulen, line));
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

const char *pl_gw_keys_check(const struct pl_gw_keys *keys, const char *value, size_t len) {
    if (!keys || !value) return NULL;
    if (len > 7 && strncasecmp(value, "Bearer ", 7) == 0) {
        value += 7;
        len -= 7;
        while (len && *value == ' ') value++, len--;
    }
    const char *user = NULL;
    for (size_t i = 0; i < keys->n; i++)
        if (keys->v[i].len == len && same(keys->v[i].key, value, len) && !user)
            user = keys->v[i].user;
    return user;
}
