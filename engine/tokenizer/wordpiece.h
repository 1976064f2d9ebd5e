/*
 * wordpiece.h - BERT WordPiece tokenization with offsets, pairs and windows.
 *
 * Exactly the algorithm of the original BERT `tokenization.py`
 * (BasicTokenizer + WordpieceTokenizer):
 *
 *   1. clean: drop U+0000, U+FFFD and control characters (Cc/Cf except
 *      \t \n \r); whitespace (space, \t, \n, \r, Zs) becomes a separator;
 *   2. CJK ideographs (BERT's code-point ranges) become single-char words;
 *   3. split on whitespace (U+2028/U+2029 also separate, as Python's
 *      str.split() does);
 *   4. uncased models (do_lower_case): lower-case like Python's str.lower()
 *      (including U+0130 and the final-sigma rule), NFD, drop category Mn;
 *   5. split on punctuation (ASCII 33-47, 58-64, 91-96, 123-126 and P*);
 *   6. greedy longest-match-first WordPiece with "##" continuations; a word
 *      longer than max_input_chars_per_word code points, or one that cannot
 *      be covered by the vocabulary, becomes [UNK].
 *
 * Every token carries the span of the ORIGINAL text it came from, in bytes
 * and in Unicode code points, also for sub-words and for text that changed
 * under lower-casing or accent stripping. docs/tokenizer.md has the details
 * (and the known differences from Python's Unicode tables).
 *
 * Input text must be valid UTF-8 (strict: no overlongs, surrogates or code
 * points above U+10FFFF); anything else is PL_E_INVALID_ARG. Text is given
 * with an explicit length and may contain NUL bytes (they are dropped).
 *
 * Thread-safety: a struct pl_wordpiece is immutable once created and may be
 * used from any number of threads at once. Encodings belong to the caller.
 */
#ifndef PL_WORDPIECE_H
#define PL_WORDPIECE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Opaque vocabulary + settings; see pl_wordpiece_create(). */
struct pl_wordpiece;

struct pl_wordpiece_opts {
    bool do_lower_case;               /* lower-case + NFD + strip Mn (uncased models) */
    int32_t max_input_chars_per_word; /* longer words become [UNK]; >= 1 */
};

/* Defaults of BERT uncased: do_lower_case = true, max_input_chars_per_word = 100. */
void pl_wordpiece_opts_default(struct pl_wordpiece_opts *opts);

/*
 * Load a vocabulary file (one token per line, id = 0-based line number,
 * surrounding ASCII whitespace stripped as BERT's load_vocab does; a later
 * duplicate line wins the lookup). opts NULL means the defaults.
 * The vocabulary must contain [UNK], [CLS] and [SEP].
 *
 * Returns PL_OK and *out (caller owns; free with pl_wordpiece_destroy),
 * PL_E_INVALID_ARG (NULL path/out, bad opts), PL_E_IO (unreadable file),
 * PL_E_FORMAT (invalid UTF-8, missing special token, empty vocabulary),
 * PL_E_NOMEM. On failure *out is NULL.
 */
pl_status pl_wordpiece_create(const char *vocab_path, const struct pl_wordpiece_opts *opts,
                              struct pl_wordpiece **out);

/* Same, from vocab.txt contents in memory (copied; `data` may be freed after). */
pl_status pl_wordpiece_create_from_buffer(const char *data, size_t len,
                                          const struct pl_wordpiece_opts *opts,
                                          struct pl_wordpiece **out);

/* Free a tokenizer; NULL is a no-op. No encode call may be running on it. */
void pl_wordpiece_destroy(struct pl_wordpiece *tok);

/* Number of ids (lines of the vocabulary file). */
int32_t pl_wordpiece_vocab_size(const struct pl_wordpiece *tok);

/* The settings the tokenizer was created with (borrowed, lives as long as tok). */
const struct pl_wordpiece_opts *pl_wordpiece_get_opts(const struct pl_wordpiece *tok);

/* Id of the exact piece (bytes, e.g. "##ing"), or -1 if not in the vocabulary. */
int32_t pl_wordpiece_lookup(const struct pl_wordpiece *tok, const char *piece, size_t len);

/* Text of id (NUL-terminated, borrowed for tok's lifetime), or NULL if out of range. */
const char *pl_wordpiece_piece(const struct pl_wordpiece *tok, int32_t id);

enum pl_wordpiece_special {
    PL_WORDPIECE_UNK = 0,
    PL_WORDPIECE_CLS = 1,
    PL_WORDPIECE_SEP = 2,
    PL_WORDPIECE_PAD = 3,
    PL_WORDPIECE_MASK = 4,
};

/* Id of [UNK]/[CLS]/[SEP]/[PAD]/[MASK], or -1 when the vocabulary lacks it
 * ([UNK], [CLS] and [SEP] are always present). */
int32_t pl_wordpiece_special_id(const struct pl_wordpiece *tok, enum pl_wordpiece_special which);

/* A token's span in its original text: [start, end) in bytes and in code
 * points. Special tokens have the empty span {0, 0, 0, 0}. */
struct pl_token_offset {
    int32_t byte_start, byte_end;
    int32_t char_start, char_end;
};

/* What to do when the tokens do not fit max_len. */
enum pl_truncation {
    PL_TRUNCATE_LONGEST_FIRST = 0, /* drop from the end of the longer text, one token at a
                                      time (BERT's _truncate_seq_pair); single text: its end */
    PL_TRUNCATE_ONLY_SECOND = 1,   /* drop from the end of the second text only */
    PL_TRUNCATE_ONLY_FIRST = 2,    /* drop from the end of the first text only */
    PL_TRUNCATE_ERROR = 3,         /* never drop: PL_E_INVALID_ARG if too long */
};

/* Options of pl_wordpiece_encode(_pair). All-zero is valid: specials added,
 * no length limit. */
struct pl_encode_opts {
    int32_t max_len;               /* total tokens including specials; 0 = no limit */
    enum pl_truncation truncation; /* used only when over max_len */
    bool no_special_tokens;        /* true: no [CLS]/[SEP], only the text's tokens */
};

/*
 * One model input: tokens with ids, segment ids and offsets.
 *   single: [CLS] A [SEP]             type_ids 0 0 0
 *   pair:   [CLS] A [SEP] B [SEP]     type_ids 0 0 0 1 1
 * Arrays have n elements and are owned by the encoding.
 */
struct pl_encoding {
    int32_t n;                       /* number of tokens */
    int32_t *ids;                    /* vocabulary ids */
    int32_t *type_ids;               /* segment ids (token_type_ids) */
    int8_t *seq;                     /* 0: first text, 1: second text, -1: special token */
    int32_t *word_ids;               /* index of the basic-tokenizer word (after punctuation
                                        split) within its text; -1 for specials. Sub-words
                                        of one word share it (NER: label the first). */
    struct pl_token_offset *offsets; /* span in the original text named by seq[i] */
    uint8_t *max_context;            /* windows only (else NULL): 1 where this window gives
                                        the token its most context (BERT run_squad rule) */
    int32_t n_first;                 /* tokens of the first text in this encoding */
    int32_t n_second;                /* tokens of the second text in this encoding */
    int32_t n_truncated;             /* tokens dropped by truncation (encode only) */
    int32_t window_start;            /* windows: index of this window's first token in the
                                        windowed text's full token list; else 0 */
};

/*
 * Tokenize one UTF-8 text into an encoding ([CLS] text [SEP] unless
 * opts->no_special_tokens). opts NULL = all-zero options.
 *
 * Returns PL_OK and *out (caller owns; free with pl_encoding_destroy),
 * PL_E_INVALID_ARG (NULL args, invalid UTF-8, text over 1 GiB, max_len too
 * small for the specials, or too long with PL_TRUNCATE_ERROR), PL_E_NOMEM.
 * *out is NULL on failure. Thread-safe.
 */
pl_status pl_wordpiece_encode(const struct pl_wordpiece *tok, const char *text, size_t len,
                              const struct pl_encode_opts *opts, struct pl_encoding **out);

/* Two texts as one input: [CLS] a [SEP] b [SEP] (no specials with
 * no_special_tokens: a b). Truncation per opts->truncation; ONLY_FIRST or
 * ONLY_SECOND fail with PL_E_INVALID_ARG when dropping that text alone
 * cannot make it fit. Otherwise as pl_wordpiece_encode. */
pl_status pl_wordpiece_encode_pair(const struct pl_wordpiece *tok, const char *a, size_t a_len,
                                   const char *b, size_t b_len, const struct pl_encode_opts *opts,
                                   struct pl_encoding **out);

/* Free an encoding from pl_wordpiece_encode(_pair); NULL is a no-op. */
void pl_encoding_destroy(struct pl_encoding *enc);

/* Options of pl_wordpiece_windows (BERT run_squad's doc-stride scheme). */
struct pl_window_opts {
    int32_t max_len;       /* tokens per window including specials and the first text (384) */
    int32_t doc_stride;    /* step between window starts, in tokens of the windowed
                              text (128); 0 = windows side by side, no overlap */
    int32_t max_first_len; /* first text (question) cut to this many tokens; 0 = no cut */
};

/* Most windows one call may produce (bounds memory per request). */
#define PL_WORDPIECE_MAX_WINDOWS 65536

/* The windows of one long text; windows[i].window_start says where each begins. */
struct pl_windows {
    int32_t n;                   /* number of windows, >= 1 */
    struct pl_encoding *windows; /* [n] */
    int32_t n_text_tokens;       /* tokens of the whole windowed text */
};

/*
 * Cover a long text with overlapping windows instead of cutting it.
 *   QA  (first != NULL): each window is [CLS] first [SEP] chunk [SEP];
 *   NLU (first == NULL): each window is [CLS] chunk [SEP].
 * With T text tokens and room R = max_len - len(first) - 3 (or - 2), windows
 * start at 0, s, 2s, ... (s = min(R, doc_stride)) until one reaches the end;
 * an empty text gives one window with no text tokens. Each window's tokens
 * carry offsets into their own original text and a max_context flag.
 *
 * Returns PL_OK and *out (caller owns; free with pl_windows_destroy),
 * PL_E_INVALID_ARG (NULL args, invalid UTF-8, negative options, max_len
 * leaving no room for the text, more than PL_WORDPIECE_MAX_WINDOWS
 * windows), PL_E_NOMEM. *out is NULL on failure.
 */
pl_status pl_wordpiece_windows(const struct pl_wordpiece *tok, const char *first, size_t first_len,
                               const char *text, size_t text_len, const struct pl_window_opts *opts,
                               struct pl_windows **out);

/* Free windows; NULL is a no-op. */
void pl_windows_destroy(struct pl_windows *w);

/*
 * Low level: the raw tokens of one text (no specials, no limit), for callers
 * that assemble inputs themselves. On PL_OK *ids, *word_ids and *offsets are
 * arrays of *n elements (caller owns each; pl_free), or all NULL when *n == 0.
 * Errors as pl_wordpiece_encode.
 */
pl_status pl_wordpiece_tokenize(const struct pl_wordpiece *tok, const char *text, size_t len,
                                int32_t *n, int32_t **ids, int32_t **word_ids,
                                struct pl_token_offset **offsets);

#ifdef __cplusplus
}
#endif
#endif
