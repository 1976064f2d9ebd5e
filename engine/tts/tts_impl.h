/*
 * tts_impl.h - helpers shared by the files of engine/tts/. Not public API.
 */
#ifndef PL_TTS_IMPL_H
#define PL_TTS_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tts_front.h"

/* Record status st with message "<prefix formatted from fmt><the last error>"
 * (the last error is copied first, so it may be the one being replaced). */
pl_status pl__tts_err_prefix(pl_status st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Append a zeroed token to t (growing it). NULL when out of memory (t unchanged). */
struct pl_tts_token *pl__tts_tokens_push(struct pl_tts_tokens *t);

/* Decode one strict UTF-8 code point of s[*i..len) into *cp and advance *i.
 * False (nothing consumed) on an invalid, truncated, overlong or surrogate
 * sequence or a value above U+10FFFF. */
bool pl__tts_utf8_next(const char *s, size_t len, size_t *i, uint32_t *cp);

/* Byte offset of the first invalid UTF-8 sequence in s[0..len), or len. */
size_t pl__tts_utf8_check(const char *s, size_t len);

/* How an abbreviation ending in '.' behaves at a possible sentence end. */
enum pl__tts_abbr_kind {
    PL__TTS_ABBR_NONE = 0,  /* not an abbreviation */
    PL__TTS_ABBR_TITLE = 1, /* precedes a name: never ends a sentence ("Dr.") */
    PL__TTS_ABBR_INNER = 2, /* never ends a sentence ("e.g.", "vs.", "No.") */
    PL__TTS_ABBR_FINAL = 3, /* ends one when the next word is capitalised ("etc.") */
};

/* Look up w[0..n) (with its final '.') in the abbreviation table.
 * OUT: *expansion (static; NULL when none), may be NULL. */
enum pl__tts_abbr_kind pl__tts_abbrev(const char *w, size_t n, const char **expansion);

/* True for a single letter followed by '.' ("J.") or dotted letters ("U.S.") */
bool pl__tts_is_initial(const char *w, size_t n);


/* ------------------------------------------------ number words (tts_norm_num.c) */

struct pl_strbuf;

/* Each appends words to sb, separated by single spaces (a space first when sb
 * is not empty). */
void pl__tts_add(struct pl_strbuf *sb, const char *word);
void pl__tts_say_cardinal(struct pl_strbuf *sb, uint64_t v); /* v < 10^15 */
void pl__tts_say_ordinal(struct pl_strbuf *sb, uint64_t v);  /* v < 10^15 */
void pl__tts_say_year(struct pl_strbuf *sb, int y);          /* 0..9999 */
void pl__tts_say_digits(struct pl_strbuf *sb, const char *s, size_t n); /* non-digits skipped */

/* Largest value read as a number; longer digit strings are read digit by digit. */
#define PL__TTS_MAX_CARDINAL 999999999999999ull

/* A number as written: optional sign, digits with optional thousands commas
 * (groups of three), optional decimal part. */
struct pl__tts_num {
    bool neg;
    bool has_frac;
    bool leading_zero; /* "007": read digit by digit */
    bool too_big;      /* more than 15 integer digits */
    uint64_t ip;       /* integer part (when not too_big) */
    const char *int_s; /* integer digits (commas included) */
    size_t int_n;
    const char *frac_s; /* decimal digits */
    size_t frac_n;
};

/* Parse all of s[0..n) as a number. False when it is not one. */
bool pl__tts_parse_num(const char *s, size_t n, struct pl__tts_num *num);

/* Speak a parsed number: "minus", the integer part, "point" and the digits. */
void pl__tts_say_num(struct pl_strbuf *sb, const struct pl__tts_num *num);

/* Month 1..12 of a name or abbreviation ("march", "Mar", "Mar."), 0 if none. */
int pl__tts_month(const char *w, size_t n);
extern const char *const pl__tts_month_names[13];

/* A unit symbol ("km", "kg", "MB", "\u00b0C", "mph"): its singular and plural
 * words. False when w[0..n) is not a unit. Case-sensitive ("MB" vs "mb" are
 * both listed; "M" is not a unit). */
bool pl__tts_unit(const char *w, size_t n, const char **one, const char **many);

/* Currency symbol at s[0..n) (its UTF-8 bytes): byte length consumed and the
 * names of the major and minor units; 0 when none. */
size_t pl__tts_currency(const char *s, size_t n, const char **major1, const char **major,
                        const char **minor1, const char **minor);

/* Scale words that may follow a number ("million"): the word, or NULL. */
const char *pl__tts_scale(const char *w, size_t n);

/* ARPAbet ids of the name of ASCII letter c ("f" -> EH1 F) into ids[0..4).
 * Returns the count, 0 for a non-letter. */
size_t pl__tts_letter_phones(char c, uint8_t *ids);

/* True when phones equal the letter names of word w[0..n) spelled out,
 * stress ignored ("fbi" = EH1 F B IY1 AY1). */
bool pl__tts_is_spelled(const char *w, size_t n, const uint8_t *phones, size_t n_phones);

#endif
