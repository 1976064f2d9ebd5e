/*
 * asr_profanity.c - whole-word profanity masking (see asr_itn.h).
 * Words are kept lower-cased (ASCII) and sorted; each word of the text is
 * looked up by binary search after stripping surrounding punctuation.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "file.h"
#include "asr_itn.h"
#include "strbuf.h"

#define MAX_WORD 64

struct pl_asr_profanity {
    char **words; /* sorted, lower case */
    int n;
};

static void lower(char *s) {
    for (; *s; s++)
        *s = (char)tolower((unsigned char)*s);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

pl_status pl_asr_profanity_create(const char *const *words, int n, struct pl_asr_profanity **out) {
    pl_status st = PL_OK;
    if (!out)
        return PL_ERR(PL_E_INVALID_ARG, "profanity: out is NULL");
    *out = NULL;
    if (n < 0 || (n > 0 && !words))
        return PL_ERR(PL_E_INVALID_ARG, "profanity: %d words", n);
    struct pl_asr_profanity *p = pl_calloc(1, sizeof *p);
    if (!p)
        return PL_ERR(PL_E_NOMEM, "profanity");
    p->words = pl_calloc((size_t)(n ? n : 1), sizeof(char *));
    if (!p->words) {
        st = PL_ERR(PL_E_NOMEM, "profanity: %d words", n);
        goto fail;
    }
    for (int i = 0; i < n; i++) {
        if (!words[i] || !words[i][0] || strlen(words[i]) >= MAX_WORD) {
            st = PL_ERR(PL_E_INVALID_ARG, "profanity: word %d is empty or over %d bytes", i,
                        MAX_WORD - 1);
            goto fail;
        }
        p->words[p->n] = pl_strdup(words[i]);
        if (!p->words[p->n]) {
            st = PL_ERR(PL_E_NOMEM, "profanity: word %d", i);
            goto fail;
        }
        lower(p->words[p->n++]);
    }
    qsort(p->words, (size_t)p->n, sizeof(char *), cmp_str);
    *out = p;
    return PL_OK;
fail:
    pl_asr_profanity_destroy(p);
    return st;
}

pl_status pl_asr_profanity_load(const char *path, struct pl_asr_profanity **out) {
    char *buf = NULL;
    size_t len = 0;
    const char **w = NULL;
    int n = 0;
    if (!out)
        return PL_ERR(PL_E_INVALID_ARG, "profanity: out is NULL");
    *out = NULL;
    if (!path)
        return PL_ERR(PL_E_INVALID_ARG, "profanity: path is NULL");
    pl_status st = pl_read_file(path, 16u << 20, &buf, &len);
    if (st != PL_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", pl_last_error());
        return PL_ERR(st, "profanity: %s", msg);
    }
    /* one word per line, cut in place; blank lines and '#' comments skipped */
    size_t max_lines = 1;
    for (size_t i = 0; i < len; i++)
        max_lines += buf[i] == '\n';
    w = pl_calloc(max_lines, sizeof *w);
    if (!w) {
        st = PL_ERR(PL_E_NOMEM, "profanity list %s", path);
        goto fail;
    }
    for (char *p = buf, *end = buf + len; p < end;) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *e = nl ? nl : end;
        char *next = nl ? nl + 1 : end;
        while (e > p && (e[-1] == '\r' || e[-1] == ' '))
            e--;
        *e = '\0';
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p && *p != '#')
            w[n++] = p;
        p = next;
    }
    st = pl_asr_profanity_create(w, n, out);
fail:
    pl_free(w);
    pl_free(buf);
    return st;
}

void pl_asr_profanity_destroy(struct pl_asr_profanity *p) {
    if (!p)
        return;
    if (p->words)
        for (int i = 0; i < p->n; i++)
            pl_free(p->words[i]);
    pl_free(p->words);
    pl_free(p);
}

static int is_word_char(unsigned char c) { return isalnum(c) || c == '\'' || c >= 0x80; }

pl_status pl_asr_profanity_filter(const struct pl_asr_profanity *p, const char *text, char **out) {
    struct pl_strbuf sb;
    if (!out)
        return PL_ERR(PL_E_INVALID_ARG, "profanity: out is NULL");
    *out = NULL;
    if (!p || !text)
        return PL_ERR(PL_E_INVALID_ARG, "profanity: NULL argument");
    pl_strbuf_init(&sb);
    const char *s = text;
    while (*s) {
        if (!is_word_char((unsigned char)*s)) {
            pl_strbuf_append_char(&sb, *s++);
            continue;
        }
        const char *e = s;
        while (*e && is_word_char((unsigned char)*e))
            e++;
        size_t len = (size_t)(e - s);
        char key[MAX_WORD];
        int hit = 0;
        if (len < MAX_WORD) {
            memcpy(key, s, len);
            key[len] = '\0';
            lower(key);
            const char *kp = key;
            hit = bsearch(&kp, p->words, (size_t)p->n, sizeof(char *), cmp_str) != NULL;
        }
        if (hit) {
            /* keep the first character (all its UTF-8 bytes), star the others */
            size_t k = 1;
            while (k < len && ((unsigned char)s[k] & 0xC0) == 0x80)
                k++;
            pl_strbuf_append_n(&sb, s, k);
            for (; k < len; k++)
                if (((unsigned char)s[k] & 0xC0) != 0x80)
                    pl_strbuf_append_char(&sb, '*');
        } else {
            pl_strbuf_append_n(&sb, s, len);
        }
        s = e;
    }
    *out = pl_strbuf_detach(&sb);
    if (!*out)
        return PL_ERR(PL_E_NOMEM, "profanity: output");
    return PL_OK;
}
