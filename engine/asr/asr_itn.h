/*
 * asr_itn.h - transcript post-processing: inverse text normalization of
 * English numbers (RecognitionConfig.verbatim_transcripts = false) and the
 * profanity filter (RecognitionConfig.profanity_filter).
 *
 * Number rules (docs/asr.md has the full list):
 *   cardinals    "twenty five" -> "25", "one hundred and three" -> "103",
 *                "two thousand twenty" -> "2020", "three million" -> "3000000"
 *   years        "nineteen ninety five" -> "1995", "nineteen oh five" -> "1905",
 *                "twenty twenty" -> "2020" (two two-digit groups, the first >= 11)
 *   decimals     "three point five" -> "3.5", "zero point two five" -> "0.25"
 *   ordinals     "twenty first" -> "21st", "one hundredth" -> "100th"
 *   percent      "five percent" -> "5%", "two point five percent" -> "2.5%"
 *   money        "five dollars" -> "$5", "five dollars and fifty cents" -> "$5.50"
 *   decades      "nineteen sixties" -> "1960s"
 *   negatives    "minus four" -> "-4"
 *   digit runs   "one two three" -> "123", "oh" counts as 0 inside a run
 *   single words below ten stay words in running text ("one of them",
 *   "first time"), as NeMo's English ITN does; with a percent, point, dollars
 *   or minus they are converted ("five percent" -> "5%").
 * Words are matched case-insensitively; a trailing punctuation mark (.,!?;:)
 * ends a number and is kept after it. Other text passes through unchanged
 * (runs of spaces become one space).
 *
 * Thread-safety: the functions are reentrant; a profanity filter is immutable
 * after creation and may be shared.
 */
#ifndef PL_ASR_ITN_H
#define PL_ASR_ITN_H

#include <stddef.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Rewrite spelled numbers in text (UTF-8, NUL-terminated).
 * Returns PL_OK; PL_E_INVALID_ARG (NULL); PL_E_NOMEM.
 * OUT: *out, caller owns; free with pl_free(). NULL on failure. */
pl_status pl_asr_itn_numbers(const char *text, char **out);

struct pl_asr_profanity;

/* words: n entries (ASCII/UTF-8, matched case-insensitively for ASCII
 * letters, whole words only; copied).
 * Returns PL_OK; PL_E_INVALID_ARG (NULL, empty word); PL_E_NOMEM.
 * OUT: *out, caller owns; free with pl_asr_profanity_destroy(). */
pl_status pl_asr_profanity_create(const char *const *words, int n, struct pl_asr_profanity **out);

/* One word per line; blank lines and lines starting with '#' are skipped.
 * Additional return: PL_E_IO. */
pl_status pl_asr_profanity_load(const char *path, struct pl_asr_profanity **out);
void pl_asr_profanity_destroy(struct pl_asr_profanity *p);

/* Mask every listed word in text: its first character is kept, the rest
 * become '*' (one per character): "fuck" -> "f***". Surrounding punctuation
 * is kept.
 * OUT: *out, caller owns; free with pl_free(). */
pl_status pl_asr_profanity_filter(const struct pl_asr_profanity *p, const char *text, char **out);

#ifdef __cplusplus
}
#endif
#endif
