/* strbuf.c - growable string with sticky allocation failure. */
#include "strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"

void pl_strbuf_init(struct pl_strbuf *sb) { memset(sb, 0, sizeof *sb); }

void pl_strbuf_deinit(struct pl_strbuf *sb) {
    pl_free(sb->data);
    memset(sb, 0, sizeof *sb);
}

void pl_strbuf_reset(struct pl_strbuf *sb) {
    sb->len = 0;
    sb->failed = false;
    if (sb->data) sb->data[0] = '\0';
}

/* Make room for extra more bytes plus the NUL. */
static bool reserve(struct pl_strbuf *sb, size_t extra) {
    if (sb->failed) return false;
    if (extra > SIZE_MAX / 2 - sb->len) {
        sb->failed = true;
        return false;
    }
    size_t need = sb->len + extra + 1;
    if (need <= sb->cap) return true;
    size_t cap = sb->cap ? sb->cap : 64;
    while (cap < need) cap *= 2;
    char *d = pl_realloc(sb->data, cap);
    if (!d) {
        sb->failed = true;
        return false;
    }
    sb->data = d;
    sb->cap = cap;
    return true;
}

void pl_strbuf_append_n(struct pl_strbuf *sb, const char *s, size_t n) {
    if (!reserve(sb, n)) return;
    memcpy(sb->data + sb->len, s, n);
    sb->len += n;
    sb->data[sb->len] = '\0';
}

void pl_strbuf_append(struct pl_strbuf *sb, const char *s) { pl_strbuf_append_n(sb, s, strlen(s)); }

void pl_strbuf_append_char(struct pl_strbuf *sb, char c) { pl_strbuf_append_n(sb, &c, 1); }

void pl_strbuf_appendf(struct pl_strbuf *sb, const char *fmt, ...) {
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        sb->failed = true;
    } else if (reserve(sb, (size_t)n)) {
        vsnprintf(sb->data + sb->len, (size_t)n + 1, fmt, ap2);
        sb->len += (size_t)n;
    }
    va_end(ap2);
}

void pl_strbuf_append_json(struct pl_strbuf *sb, const char *s) {
    static const char hex[] = "0123456789abcdef";
    pl_strbuf_append_char(sb, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': pl_strbuf_append(sb, "\\\""); break;
        case '\\': pl_strbuf_append(sb, "\\\\"); break;
        case '\n': pl_strbuf_append(sb, "\\n"); break;
        case '\r': pl_strbuf_append(sb, "\\r"); break;
        case '\t': pl_strbuf_append(sb, "\\t"); break;
        default:
            if (*p < 0x20) {
                char u[7] = {'\\', 'u', '0', '0', hex[*p >> 4], hex[*p & 15], 0};
                pl_strbuf_append(sb, u);
            } else {
                pl_strbuf_append_char(sb, (char)*p);
            }
        }
    }
    pl_strbuf_append_char(sb, '"');
}

pl_status pl_strbuf_status(const struct pl_strbuf *sb) {
    return sb->failed ? PL_ERR(PL_E_NOMEM, "string buffer: out of memory") : PL_OK;
}

char *pl_strbuf_detach(struct pl_strbuf *sb) {
    if (sb->failed) {
        pl_strbuf_deinit(sb);
        return NULL;
    }
    if (!sb->data && !reserve(sb, 0)) return NULL;
    char *d = sb->data;
    if (sb->len == 0) d[0] = '\0';
    memset(sb, 0, sizeof *sb);
    return d;
}
