/*
 * asr_arpa.c - ARPA n-gram loader and backoff scorer (see asr_lm.h).
 *
 * Words are interned in one string pool with an open-addressing hash; every
 * n-gram of every order lives in one table keyed by its word-id sequence, so
 * a lookup is one hash of at most 5 ids. Sizes come from the \data\ header,
 * so everything is allocated once, before the entries are read.
 */
#include "asr_lm.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

#include "alloc.h"
#include "file.h"

#define LN10 2.302585092994045684
#define MAX_LINE 4096
#define MAX_FILE ((size_t)1 << 31)

struct ngram {
    double logp;  /* natural log */
    double bow;   /* natural log; 0 when absent */
    uint32_t ids; /* offset of the word ids in lm->ids */
    uint8_t order;
}; /* 24 bytes (the doubles first: 32 with ids in front) */

struct pl_asr_lm {
    int order;
    size_t counts[PL_ASR_LM_MAX_ORDER + 1];
    char *wpool;
    size_t wpool_len, wpool_cap;
    uint32_t *word_off; /* [n_words] offsets into wpool (NUL-terminated) */
    int32_t n_words;
    int32_t *whash; /* word ids, -1 empty */
    size_t whash_mask;
    int32_t *ids; /* id pool of the n-grams */
    size_t ids_len, ids_cap;
    struct ngram *ng;
    size_t n_ng, ng_cap;
    int32_t *nhash; /* n-gram indices, -1 empty */
    size_t nhash_mask;
    int32_t bos, eos, unk;
    uint64_t *pfx; /* hashes of every prefix of every word (0 = empty slot) */
    size_t pfx_mask;
};

static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static uint64_t hash_ids(const int32_t *ids, int n) {
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (uint64_t)n;
    for (int i = 0; i < n; i++) {
        h ^= (uint32_t)ids[i];
        h *= 0xff51afd7ed558ccdull;
        h ^= h >> 32;
    }
    return h;
}

int32_t pl_asr_lm_word_id(const struct pl_asr_lm *lm, const char *word, size_t len) {
    if (!lm || !word)
        return -1;
    size_t i = hash_bytes(word, len) & lm->whash_mask;
    for (;; i = (i + 1) & lm->whash_mask) {
        int32_t id = lm->whash[i];
        if (id < 0)
            return -1;
        const char *w = lm->wpool + lm->word_off[id];
        /* strnlen first: strncmp stops at a NUL inside `word`, and w[len] would then read
         * past the end of a shorter w (found by tests/fuzz/fuzz_arpa.c) */
        if (strnlen(w, len + 1) == len && memcmp(w, word, len) == 0)
            return id;
    }
}

static int32_t find_ngram(const struct pl_asr_lm *lm, const int32_t *ids, int n) {
    size_t i = hash_ids(ids, n) & lm->nhash_mask;
    for (;; i = (i + 1) & lm->nhash_mask) {
        int32_t k = lm->nhash[i];
        if (k < 0)
            return -1;
        const struct ngram *g = &lm->ng[k];
        if (g->order == n && memcmp(lm->ids + g->ids, ids, sizeof(int32_t) * (size_t)n) == 0)
            return k;
    }
}

static size_t pow2_at_least(size_t n) {
    size_t c = 16;
    while (c < n)
        c <<= 1;
    return c;
}

/* Allocate tables for the counts of the \data\ header. */
static pl_status alloc_tables(struct pl_asr_lm *lm, size_t file_bytes) {
    size_t total = 0, ids = 0;
    for (int k = 1; k <= lm->order; k++) {
        if (lm->counts[k] > ((size_t)1 << 28))
            return PL_ERR(PL_E_FORMAT, "arpa: %zu %d-grams is too many", lm->counts[k], k);
        total += lm->counts[k];
        ids += lm->counts[k] * (size_t)k;
    }
    if (lm->counts[1] == 0)
        return PL_ERR(PL_E_FORMAT, "arpa: no unigrams");
    /* an n-gram line takes at least 2k + 2 bytes ("p w1 .. wk\n"): a header
     * claiming more than the file can hold must not make us allocate for it */
    size_t min_bytes = 0;
    for (int k = 1; k <= lm->order; k++)
        min_bytes += lm->counts[k] * (size_t)(2 * k + 2);
    if (min_bytes > file_bytes)
        return PL_ERR(PL_E_FORMAT, "arpa: header claims %zu n-grams, more than %zu bytes hold",
                      total, file_bytes);
    lm->n_words = 0;
    lm->word_off = pl_malloc(sizeof(uint32_t) * lm->counts[1]);
    size_t wcap = pow2_at_least(lm->counts[1] * 2);
    lm->whash = pl_malloc(sizeof(int32_t) * wcap);
    lm->whash_mask = wcap - 1;
    lm->wpool_cap = lm->counts[1] * 8 + 64;
    lm->wpool = pl_malloc(lm->wpool_cap);
    lm->ids_cap = ids;
    lm->ids = pl_malloc(sizeof(int32_t) * (ids ? ids : 1));
    lm->ng_cap = total;
    lm->ng = pl_malloc(sizeof(struct ngram) * total);
    size_t ncap = pow2_at_least(total * 2);
    lm->nhash = pl_malloc(sizeof(int32_t) * ncap);
    lm->nhash_mask = ncap - 1;
    if (!lm->word_off || !lm->whash || !lm->wpool || !lm->ids || !lm->ng || !lm->nhash)
        return PL_ERR(PL_E_NOMEM, "arpa: tables for %zu n-grams", total);
    memset(lm->whash, 0xff, sizeof(int32_t) * wcap);
    memset(lm->nhash, 0xff, sizeof(int32_t) * ncap);
    return PL_OK;
}

static pl_status intern_word(struct pl_asr_lm *lm, const char *w, size_t len, size_t lineno,
                             int32_t *id) {
    /* the pool holds NUL-terminated words: a NUL inside one would cut it short, and comparing
     * against a shorter pool word read past it (found by tests/fuzz/fuzz_arpa.c) */
    if (memchr(w, '\0', len))
        return PL_ERR(PL_E_FORMAT, "arpa line %zu: a word holds a NUL byte", lineno);
    size_t i = hash_bytes(w, len) & lm->whash_mask;
    for (;; i = (i + 1) & lm->whash_mask) {
        int32_t k = lm->whash[i];
        if (k < 0)
            break;
        const char *s = lm->wpool + lm->word_off[k];
        if (strnlen(s, len + 1) == len && memcmp(s, w, len) == 0)
            return PL_ERR(PL_E_FORMAT, "arpa line %zu: unigram \"%.*s\" repeated", lineno, (int)len,
                          w);
    }
    if ((size_t)lm->n_words >= lm->counts[1])
        return PL_ERR(PL_E_FORMAT, "arpa line %zu: more unigrams than the header's %zu", lineno,
                      lm->counts[1]);
    if (lm->wpool_len + len + 1 > lm->wpool_cap) {
        size_t cap = lm->wpool_cap * 2 + len + 1;
        if (cap > UINT32_MAX)
            return PL_ERR(PL_E_FORMAT, "arpa: words take over 4 GB");
        char *p = pl_realloc(lm->wpool, cap);
        if (!p)
            return PL_ERR(PL_E_NOMEM, "arpa: word pool");
        lm->wpool = p;
        lm->wpool_cap = cap;
    }
    memcpy(lm->wpool + lm->wpool_len, w, len);
    lm->wpool[lm->wpool_len + len] = '\0';
    lm->word_off[lm->n_words] = (uint32_t)lm->wpool_len;
    lm->wpool_len += len + 1;
    lm->whash[i] = lm->n_words;
    *id = lm->n_words++;
    return PL_OK;
}

/* Fast path for the plain decimals that ARPA writers print ("-1.234567"): at most 15 digits
 * and 22 decimals, so that the mantissa and the power of ten are exact doubles and the one
 * division rounds as strtod does. 0 when s was such a number, -1 to fall back to strtod. */
static int parse_plain_decimal(const char *s, size_t len, double *v) {
    static const double pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                   1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    size_t i = 0;
    int neg = 0, digits = 0, decimals = 0, dot = 0;
    uint64_t m = 0;
    if (i < len && (s[i] == '-' || s[i] == '+'))
        neg = s[i++] == '-';
    for (; i < len; i++) {
        char c = s[i];
        if (c == '.' && !dot) {
            dot = 1;
        } else if (c >= '0' && c <= '9') {
            if (++digits > 15)
                return -1;
            m = m * 10 + (uint64_t)(c - '0');
            decimals += dot;
        } else {
            return -1;
        }
    }
    if (digits == 0 || decimals > 22)
        return -1;
    double d = (double)m / pow10[decimals];
    *v = neg ? -d : d;
    return 0;
}

static int parse_float(const char *s, size_t len, double *v) {
    char tmp[64];
    if (len == 0 || len >= sizeof tmp)
        return -1;
    double d;
    if (parse_plain_decimal(s, len, &d) == 0) {
        if (d > 1e-3)
            return -1; /* log10 probabilities are <= 0 */
        *v = d;
        return 0;
    }
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    char *end = NULL;
    errno = 0;
    d = strtod(tmp, &end);
    if (end != tmp + len || errno == ERANGE)
        return -1;
    if (isinf(d) && d < 0)
        d = -99.0; /* -inf log10 prob: as SRILM's -99 */
    if (!isfinite(d) || d > 1e-3)
        return -1; /* log10 probabilities are <= 0 */
    *v = d;
    return 0;
}

/* One n-gram line of section k. */
static pl_status parse_entry(struct pl_asr_lm *lm, int k, const char *line, size_t len,
                             size_t lineno) {
    const char *tok[PL_ASR_LM_MAX_ORDER + 2];
    size_t tlen[PL_ASR_LM_MAX_ORDER + 2];
    int nt = 0;
    size_t i = 0;
    while (i < len) {
        while (i < len && (line[i] == ' ' || line[i] == '\t'))
            i++;
        if (i >= len)
            break;
        size_t s = i;
        while (i < len && line[i] != ' ' && line[i] != '\t')
            i++;
        if (nt == k + 2)
            return PL_ERR(PL_E_FORMAT, "arpa line %zu: too many fields for a %d-gram", lineno, k);
        tok[nt] = line + s;
        tlen[nt++] = i - s;
    }
    if (nt < k + 1)
        return PL_ERR(PL_E_FORMAT, "arpa line %zu: a %d-gram needs %d fields, found %d", lineno, k,
                      k + 1, nt);
    double lp, bow = 0;
    if (parse_float(tok[0], tlen[0], &lp))
        return PL_ERR(PL_E_FORMAT, "arpa line %zu: bad log10 probability \"%.*s\"", lineno,
                      (int)tlen[0], tok[0]);
    if (nt == k + 2 && parse_plain_decimal(tok[k + 1], tlen[k + 1], &bow) != 0) {
        char tmp[64];
        char *end = NULL;
        if (tlen[k + 1] >= sizeof tmp)
            return PL_ERR(PL_E_FORMAT, "arpa line %zu: bad backoff", lineno);
        memcpy(tmp, tok[k + 1], tlen[k + 1]);
        tmp[tlen[k + 1]] = '\0';
        bow = strtod(tmp, &end);
        if (end != tmp + tlen[k + 1] || !isfinite(bow))
            return PL_ERR(PL_E_FORMAT, "arpa line %zu: bad backoff \"%s\"", lineno, tmp);
    }
    if (lm->n_ng >= lm->ng_cap || lm->ids_len + (size_t)k > lm->ids_cap)
        return PL_ERR(PL_E_FORMAT, "arpa line %zu: more %d-grams than the header says", lineno, k);
    int32_t ids[PL_ASR_LM_MAX_ORDER];
    for (int j = 0; j < k; j++) {
        if (k == 1) {
            PL_TRY(intern_word(lm, tok[1], tlen[1], lineno, &ids[0]));
        } else {
            ids[j] = pl_asr_lm_word_id(lm, tok[1 + j], tlen[1 + j]);
            if (ids[j] < 0)
                return PL_ERR(PL_E_FORMAT, "arpa line %zu: word \"%.*s\" is not a unigram", lineno,
                              (int)tlen[1 + j], tok[1 + j]);
        }
    }
    size_t h = hash_ids(ids, k) & lm->nhash_mask;
    for (;; h = (h + 1) & lm->nhash_mask) {
        int32_t e = lm->nhash[h];
        if (e < 0)
            break;
        if (lm->ng[e].order == k &&
            memcmp(lm->ids + lm->ng[e].ids, ids, sizeof(int32_t) * (size_t)k) == 0)
            return PL_ERR(PL_E_FORMAT, "arpa line %zu: %d-gram repeated", lineno, k);
    }
    struct ngram *g = &lm->ng[lm->n_ng];
    g->ids = (uint32_t)lm->ids_len;
    g->order = (uint8_t)k;
    g->logp = lp * LN10;
    g->bow = bow * LN10;
    memcpy(lm->ids + lm->ids_len, ids, sizeof(int32_t) * (size_t)k);
    lm->ids_len += (size_t)k;
    lm->nhash[h] = (int32_t)lm->n_ng++;
    return PL_OK;
}

static uint64_t pfx_hash(const char *s, size_t n) {
    uint64_t h = hash_bytes(s, n) ^ ((uint64_t)n << 56);
    return h ? h : 1;
}

/* The set of all non-empty prefixes of the words (not <s>, </s>, <unk>), for
 * pl_asr_lm_is_prefix(). Stored as 64-bit hashes: a false positive needs a
 * collision of 2^-64 odds. */
static pl_status build_prefixes(struct pl_asr_lm *lm) {
    size_t total = 0;
    for (int32_t i = 0; i < lm->n_words; i++)
        total += strlen(lm->wpool + lm->word_off[i]);
    size_t cap = pow2_at_least(total * 2 + 16);
    lm->pfx = pl_calloc(cap, sizeof(uint64_t));
    if (!lm->pfx)
        return PL_ERR(PL_E_NOMEM, "arpa: prefix table of %zu entries", cap);
    lm->pfx_mask = cap - 1;
    for (int32_t i = 0; i < lm->n_words; i++) {
        if (i == lm->bos || i == lm->eos || i == lm->unk)
            continue;
        const char *w = lm->wpool + lm->word_off[i];
        size_t n = strlen(w);
        for (size_t k = 1; k <= n; k++) {
            uint64_t h = pfx_hash(w, k);
            size_t j = h & lm->pfx_mask;
            while (lm->pfx[j] && lm->pfx[j] != h)
                j = (j + 1) & lm->pfx_mask;
            lm->pfx[j] = h;
        }
    }
    return PL_OK;
}

int pl_asr_lm_is_prefix(const struct pl_asr_lm *lm, const char *s, size_t len) {
    if (!lm || !lm->pfx)
        return 0;
    if (len == 0)
        return 1;
    uint64_t h = pfx_hash(s, len);
    for (size_t j = h & lm->pfx_mask;; j = (j + 1) & lm->pfx_mask) {
        if (lm->pfx[j] == h)
            return 1;
        if (!lm->pfx[j])
            return 0;
    }
}

static int line_is(const char *line, size_t len, const char *s) {
    size_t n = strlen(s);
    return len == n && memcmp(line, s, n) == 0;
}

static pl_status parse(struct pl_asr_lm *lm, const char *buf, size_t n) {
    enum { PRE, HEADER, BODY, END } state = PRE;
    int section = 0;
    size_t in_section = 0, lineno = 0, pos = 0;
    while (pos < n) {
        size_t e = pos;
        while (e < n && buf[e] != '\n')
            e++;
        const char *line = buf + pos;
        size_t len = e - pos;
        pos = e + 1;
        lineno++;
        while (len && (line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t'))
            len--;
        while (len && (line[0] == ' ' || line[0] == '\t'))
            line++, len--;
        if (len == 0)
            continue;
        if (len > MAX_LINE)
            return PL_ERR(PL_E_FORMAT, "arpa line %zu: over %d bytes", lineno, MAX_LINE);
        if (state == PRE) {
            if (line_is(line, len, "\\data\\"))
                state = HEADER;
            continue;
        }
        if (state == END)
            break;
        if (state == HEADER) {
            if (len > 6 && memcmp(line, "ngram ", 6) == 0) {
                char tmp[64];
                if (len - 6 >= sizeof tmp)
                    return PL_ERR(PL_E_FORMAT, "arpa line %zu: bad count", lineno);
                memcpy(tmp, line + 6, len - 6);
                tmp[len - 6] = '\0';
                int k = 0;
                long long c = -1;
                int used = 0;
                if (sscanf(tmp, "%d = %lld%n", &k, &c, &used) != 2 || tmp[used] != '\0' || c < 0)
                    return PL_ERR(PL_E_FORMAT, "arpa line %zu: bad count line \"%s\"", lineno, tmp);
                if (k > PL_ASR_LM_MAX_ORDER)
                    return PL_ERR(PL_E_UNSUPPORTED, "arpa line %zu: order %d (at most %d)", lineno,
                                  k, PL_ASR_LM_MAX_ORDER);
                if (k != lm->order + 1)
                    return PL_ERR(PL_E_FORMAT, "arpa line %zu: ngram %d out of order", lineno, k);
                lm->order = k;
                lm->counts[k] = (size_t)c;
                continue;
            }
            if (lm->order == 0)
                return PL_ERR(PL_E_FORMAT, "arpa line %zu: no ngram counts", lineno);
            PL_TRY(alloc_tables(lm, n));
            state = BODY;
        }
        /* BODY */
        if (line[0] == '\\') {
            if (section > 0 && in_section != lm->counts[section])
                return PL_ERR(PL_E_FORMAT, "arpa: %zu %d-grams, header says %zu", in_section,
                              section, lm->counts[section]);
            if (line_is(line, len, "\\end\\")) {
                if (section != lm->order)
                    return PL_ERR(PL_E_FORMAT, "arpa line %zu: \\end\\ after %d of %d sections",
                                  lineno, section, lm->order);
                state = END;
                continue;
            }
            int k = 0;
            char tmp[32];
            if (len >= sizeof tmp)
                return PL_ERR(PL_E_FORMAT, "arpa line %zu: bad section", lineno);
            memcpy(tmp, line, len);
            tmp[len] = '\0';
            int used = 0;
            if (sscanf(tmp, "\\%d-grams:%n", &k, &used) != 1 || tmp[used] != '\0')
                return PL_ERR(PL_E_FORMAT, "arpa line %zu: unknown section \"%s\"", lineno, tmp);
            if (k != section + 1)
                return PL_ERR(PL_E_FORMAT, "arpa line %zu: section %d after %d", lineno, k,
                              section);
            if (k > lm->order)
                return PL_ERR(PL_E_FORMAT, "arpa line %zu: section %d beyond order %d", lineno, k,
                              lm->order);
            section = k;
            in_section = 0;
            continue;
        }
        if (section == 0)
            return PL_ERR(PL_E_FORMAT, "arpa line %zu: entry outside an n-gram section", lineno);
        PL_TRY(parse_entry(lm, section, line, len, lineno));
        in_section++;
    }
    if (state == PRE)
        return PL_ERR(PL_E_FORMAT, "arpa: no \\data\\ line");
    if (state != END)
        return PL_ERR(PL_E_FORMAT, "arpa: truncated (no \\end\\)");
    lm->bos = pl_asr_lm_word_id(lm, "<s>", 3);
    lm->eos = pl_asr_lm_word_id(lm, "</s>", 4);
    lm->unk = pl_asr_lm_word_id(lm, "<unk>", 5);
    if (lm->eos < 0)
        return PL_ERR(PL_E_FORMAT, "arpa: no </s> unigram");
    return build_prefixes(lm);
}

pl_status pl_asr_lm_load_buffer(const char *buf, size_t n, struct pl_asr_lm **out) {
    pl_status st = PL_OK;
    if (!out)
        return PL_ERR(PL_E_INVALID_ARG, "arpa: out is NULL");
    *out = NULL;
    if (!buf && n)
        return PL_ERR(PL_E_INVALID_ARG, "arpa: buffer is NULL");
    struct pl_asr_lm *lm = pl_calloc(1, sizeof *lm);
    if (!lm)
        return PL_ERR(PL_E_NOMEM, "arpa");
    PL_TRY_GOTO(st, parse(lm, buf ? buf : "", n));
    *out = lm;
    return PL_OK;
fail:
    pl_asr_lm_destroy(lm);
    return st;
}

/* Inflate the gzip (or zlib) stream gz[0..n) into a new buffer (*out, *out_len; pl_free),
 * members one after another as gzip allows; at most MAX_FILE bytes. */
static pl_status gunzip(const char *path, const unsigned char *gz, size_t n, char **out,
                        size_t *out_len) {
    pl_status st = PL_OK;
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit2(&zs, 15 + 32) != Z_OK) /* 32: detect the gzip or zlib header */
        return PL_ERR(PL_E_NOMEM, "arpa: %s: cannot start zlib", path);
    size_t cap = n * 4 + (1 << 16), len = 0;
    char *buf = pl_malloc(cap);
    if (!buf) {
        st = PL_ERR(PL_E_NOMEM, "arpa: %s: %zu bytes", path, cap);
        goto fail;
    }
    zs.next_in = (unsigned char *)gz;
    for (;;) {
        if (cap - len < (1 << 16)) {
            if (cap >= MAX_FILE) {
                st = PL_ERR(PL_E_FORMAT, "arpa: %s is larger than 2 GB uncompressed", path);
                goto fail;
            }
            char *nb = pl_realloc(buf, cap * 2);
            if (!nb) {
                st = PL_ERR(PL_E_NOMEM, "arpa: %s: %zu bytes", path, cap * 2);
                goto fail;
            }
            buf = nb;
            cap *= 2;
        }
        size_t in_left = n - (size_t)(zs.next_in - gz);
        zs.avail_in = in_left > UINT_MAX ? UINT_MAX : (unsigned)in_left;
        zs.next_out = (unsigned char *)buf + len;
        zs.avail_out = cap - len > UINT_MAX ? UINT_MAX : (unsigned)(cap - len);
        int zr = inflate(&zs, Z_NO_FLUSH);
        len = (size_t)((char *)zs.next_out - buf);
        if (zr == Z_STREAM_END) {
            if ((size_t)(zs.next_in - gz) >= n) break;
            if (inflateReset(&zs) != Z_OK) { /* another gzip member follows */
                st = PL_ERR(PL_E_FORMAT, "arpa: %s: corrupt gzip data", path);
                goto fail;
            }
        } else if (zr == Z_BUF_ERROR && zs.avail_in == 0) {
            st = PL_ERR(PL_E_FORMAT, "arpa: %s: the gzip data is truncated", path);
            goto fail;
        } else if (zr != Z_OK && zr != Z_BUF_ERROR) {
            st = PL_ERR(zr == Z_MEM_ERROR ? PL_E_NOMEM : PL_E_FORMAT, "arpa: %s: %s", path,
                        zs.msg ? zs.msg : "corrupt gzip data");
            goto fail;
        }
    }
    inflateEnd(&zs);
    *out = buf;
    *out_len = len;
    return PL_OK;
fail:
    inflateEnd(&zs);
    pl_free(buf);
    return st;
}

pl_status pl_asr_lm_load(const char *path, struct pl_asr_lm **out) {
    if (!out)
        return PL_ERR(PL_E_INVALID_ARG, "arpa: out is NULL");
    *out = NULL;
    if (!path)
        return PL_ERR(PL_E_INVALID_ARG, "arpa: path is NULL");
    char *raw = NULL, *text = NULL;
    size_t n = 0, len = 0;
    pl_status st = pl_read_file(path, MAX_FILE, &raw, &n);
    if (st != PL_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", pl_last_error());
        return PL_ERR(st, "arpa: %s", msg);
    }
    /* a gzip file (magic 1f 8b) is inflated; anything else is taken as plain ARPA text */
    if (n >= 2 && (unsigned char)raw[0] == 0x1f && (unsigned char)raw[1] == 0x8b) {
        st = gunzip(path, (const unsigned char *)raw, n, &text, &len);
        pl_free(raw);
        if (st != PL_OK)
            return st;
    } else {
        text = raw;
        len = n;
    }
    st = pl_asr_lm_load_buffer(text, len, out);
    pl_free(text);
    return st;
}

void pl_asr_lm_destroy(struct pl_asr_lm *lm) {
    if (!lm)
        return;
    pl_free(lm->wpool);
    pl_free(lm->word_off);
    pl_free(lm->whash);
    pl_free(lm->ids);
    pl_free(lm->ng);
    pl_free(lm->nhash);
    pl_free(lm->pfx);
    pl_free(lm);
}

int pl_asr_lm_order(const struct pl_asr_lm *lm) { return lm ? lm->order : 0; }

size_t pl_asr_lm_count(const struct pl_asr_lm *lm, int order) {
    if (!lm || order < 1 || order > lm->order)
        return 0;
    return lm->counts[order];
}

int pl_asr_lm_has_unk(const struct pl_asr_lm *lm) { return lm && lm->unk >= 0; }

void pl_asr_lm_begin(const struct pl_asr_lm *lm, struct pl_asr_lm_state *st) {
    memset(st, 0, sizeof *st);
    if (lm->order > 1 && lm->bos >= 0) {
        st->w[0] = lm->bos;
        st->n = 1;
    }
}

/* Backoff score of w after the history h (n words, oldest first). */
static double backoff_score(const struct pl_asr_lm *lm, const int32_t *h, int n, int32_t w) {
    int32_t ids[PL_ASR_LM_MAX_ORDER];
    double acc = 0;
    for (int k = n; k >= 0; k--) {
        memcpy(ids, h + (n - k), sizeof(int32_t) * (size_t)k);
        ids[k] = w;
        int32_t e = find_ngram(lm, ids, k + 1);
        if (e >= 0)
            return acc + lm->ng[e].logp;
        if (k > 0) {
            int32_t c = find_ngram(lm, ids, k);
            if (c >= 0)
                acc += lm->ng[c].bow;
        }
    }
    return acc - 99.0 * LN10; /* w is not even a unigram: cannot happen for valid ids */
}

double pl_asr_lm_score(const struct pl_asr_lm *lm, const struct pl_asr_lm_state *in, int32_t word,
                       double oov_logp, struct pl_asr_lm_state *out) {
    double s;
    int32_t w = word;
    if (w < 0 || w >= lm->n_words || w == lm->unk) {
        s = oov_logp; /* the history then holds <unk> (or -1 without one) */
        w = lm->unk;
    } else {
        s = backoff_score(lm, in->w, in->n, w);
    }
    struct pl_asr_lm_state ns;
    int keep = lm->order - 1;
    int n = in->n + 1;
    int32_t tmp[PL_ASR_LM_MAX_ORDER];
    memcpy(tmp, in->w, sizeof(int32_t) * (size_t)in->n);
    tmp[in->n] = w;
    int from = n > keep ? n - keep : 0;
    memset(&ns, 0, sizeof ns);
    ns.n = n - from;
    memcpy(ns.w, tmp + from, sizeof(int32_t) * (size_t)ns.n);
    *out = ns;
    return s;
}

double pl_asr_lm_end(const struct pl_asr_lm *lm, const struct pl_asr_lm_state *st) {
    return backoff_score(lm, st->w, st->n, lm->eos);
}
