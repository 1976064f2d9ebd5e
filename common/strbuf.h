/*
 * strbuf.h - a growable NUL-terminated string.
 *
 * Allocation failure is sticky: after one, every append is a no-op and
 * `failed` stays set, so a caller can build a whole string and check once
 * (pl_strbuf_status). data is always NUL-terminated when non-NULL.
 *
 *     struct pl_strbuf sb;  pl_strbuf_init(&sb);
 *     pl_strbuf_appendf(&sb, "%d items", n);
 *     if (pl_strbuf_status(&sb) != PL_OK) ...
 *     char *s = pl_strbuf_detach(&sb);   // caller owns; free with pl_free()
 *
 * Not thread-safe: one buffer belongs to one thread at a time.
 */
#ifndef PL_STRBUF_H
#define PL_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

struct pl_strbuf {
    char *data; /* NULL until the first append */
    size_t len; /* bytes before the terminating NUL */
    size_t cap; /* bytes allocated */
    bool failed;
};

void pl_strbuf_init(struct pl_strbuf *sb);
void pl_strbuf_deinit(struct pl_strbuf *sb);
void pl_strbuf_reset(struct pl_strbuf *sb); /* len = 0, keeps memory and clears failure */

void pl_strbuf_append(struct pl_strbuf *sb, const char *s);
void pl_strbuf_append_n(struct pl_strbuf *sb, const char *s, size_t n);
void pl_strbuf_append_char(struct pl_strbuf *sb, char c);
void pl_strbuf_appendf(struct pl_strbuf *sb, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Append s as a quoted JSON string with escapes ("\"a\\n\""). */
void pl_strbuf_append_json(struct pl_strbuf *sb, const char *s);

/* PL_OK, or PL_E_NOMEM if any append failed. */
pl_status pl_strbuf_status(const struct pl_strbuf *sb);

/* Hand the string to the caller (never NULL on success: "" for empty) and
 * reset sb. Returns NULL if an append failed. Caller frees with pl_free(). */
char *pl_strbuf_detach(struct pl_strbuf *sb);

#ifdef __cplusplus
}
#endif
#endif
