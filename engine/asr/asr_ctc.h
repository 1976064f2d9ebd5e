/*
 * asr_ctc.h - model-agnostic CTC decoding.
 *
 * Input: log-probabilities [T][V] (log-softmax of an acoustic model, row
 * major) over a vocabulary of V tokens, one of which is the CTC blank.
 * Vocabularies:
 *   CHARS: each token is text (usually one character); the token " " (or "|")
 *          separates words.
 *   SPM:   SentencePiece pieces; a piece starting with U+2581 "▁" begins a new
 *          word, other pieces continue the current word.
 *
 * Decoders:
 *   greedy:  best token per frame, repeats collapsed, blanks dropped;
 *   beam:    CTC prefix beam search, optionally with a word n-gram LM
 *            (asr_lm.h) and word boosting, n-best output and streaming (feed
 *            frames chunk by chunk, ask for the current best at any time).
 * Both give words with start/end times (ms) and confidences.
 *
 * Scoring of a prefix l in the beam search (natural logs):
 *   score(l) = ln(P_blank(l) + P_nonblank(l))            CTC, summed over alignments
 *            + alpha * sum ln P_lm(word | history)       completed words
 *            + beta * completed words                    insertion bonus
 *            + sum of boosts of completed words          SpeechContext
 *            + unk_prefix_penalty per word that left the LM vocabulary, applied as
 *              soon as the partial word is no prefix of any LM word (nor of a
 *              boosted word)
 * A word is completed when the next word starts (a separator for CHARS, a
 * "▁" piece for SPM) or at the end of the utterance, where ln P_lm(</s>) is
 * also added (alpha-weighted). tests/reference/asr_ctc_beam.py is the Python
 * reference of exactly this algorithm.
 *
 * Thread-safety: a vocabulary is immutable after creation and can be shared;
 * a beam state belongs to one thread at a time. Results are plain data.
 */
#ifndef PL_ASR_CTC_H
#define PL_ASR_CTC_H

#include <stddef.h>
#include <stdint.h>

#include "asr_lm.h"
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

enum pl_asr_vocab_kind {
    PL_ASR_VOCAB_AUTO = 0, /* SPM when any token starts with "▁", else CHARS */
    PL_ASR_VOCAB_CHARS = 1,
    PL_ASR_VOCAB_SPM = 2,
};

struct pl_asr_vocab;

/* tokens: n UTF-8 strings (copied); blank: index of the blank token (-1 =
 * the last one; the blank's text is ignored).
 * Returns PL_OK; PL_E_INVALID_ARG (n < 2, NULL token, blank out of range,
 * token over 64 bytes); PL_E_NOMEM.
 * OUT: *out, caller owns; free with pl_asr_vocab_destroy(). */
pl_status pl_asr_vocab_create(const char *const *tokens, int n, int blank,
                              enum pl_asr_vocab_kind kind, struct pl_asr_vocab **out);

/* One token per line (a line " " is the space token; "\n" endings, "\r\n" ok).
 * Additional returns: PL_E_IO. */
pl_status pl_asr_vocab_load(const char *path, int blank, enum pl_asr_vocab_kind kind,
                            struct pl_asr_vocab **out);
void pl_asr_vocab_destroy(struct pl_asr_vocab *v);

int pl_asr_vocab_size(const struct pl_asr_vocab *v);
int pl_asr_vocab_blank(const struct pl_asr_vocab *v);
enum pl_asr_vocab_kind pl_asr_vocab_kind(const struct pl_asr_vocab *v);

/* --- results --------------------------------------------------------------- */

struct pl_asr_word {
    char *text;       /* owned by the hypothesis */
    int32_t start_ms; /* first frame of the first token * frame_ms */
    int32_t end_ms;   /* (last frame of the last token + 1) * frame_ms */
    float confidence; /* 0..1: mean (or min) posterior of the word's tokens */
};

struct pl_asr_hyp {
    char *text; /* words joined by single spaces */
    struct pl_asr_word *words;
    int n_words;
    double score;       /* total score (see above); greedy: acoustic */
    double acoustic;    /* CTC log-probability part (greedy: best path) */
    double lm;          /* sum of LM log-probabilities (not alpha-weighted) */
    float confidence;   /* mean of the word confidences (1 when no words) */
    int n_stable_words; /* partial results: leading words all beams agree on */
};

struct pl_asr_nbest {
    struct pl_asr_hyp *hyps; /* best first */
    int n;
};

/* Free a result (and everything inside). NULL is a no-op. */
void pl_asr_nbest_destroy(struct pl_asr_nbest *nb);

/* --- options ------------------------------------------------------------- */

struct pl_asr_decode_opts {
    double frame_ms;           /* duration of one logit frame (e.g. 40 = 10 ms hop x 4) */
    int confidence_min;        /* 1: word confidence = min over tokens; 0: mean */
    int beam_width;            /* 16 */
    double token_prune;        /* -10: skip tokens with logp < frame max + this */
    int token_top_n;           /* 40: at most this many tokens per frame */
    double lm_alpha;           /* 0.5 */
    double lm_beta;            /* 1.0 */
    double oov_logp;           /* -10: ln P_lm of a word the LM lacks */
    double unk_prefix_penalty; /* -5: added once when a word being spelled stops being the
                                  beginning of any LM word (needs an LM; 0 = off) */
    int max_alternatives;      /* 1: length of the n-best list */
    double stable_margin;      /* 3: partial results count as stable the leading words shared
                                  by every hypothesis scoring within this of the best */
};

void pl_asr_decode_opts_default(struct pl_asr_decode_opts *o);

/* Greedy decoding. logp: [T][V] with V == vocabulary size; T may be 0.
 * Returns PL_OK; PL_E_INVALID_ARG (NULL, V mismatch, non-finite value,
 * frame_ms <= 0); PL_E_NOMEM.
 * OUT: *out, one hypothesis; caller owns, free with pl_asr_nbest_destroy(). */
pl_status pl_asr_ctc_greedy(const struct pl_asr_vocab *v, const float *logp, size_t T, int V,
                            const struct pl_asr_decode_opts *o, struct pl_asr_nbest **out);

/* --- prefix beam search -------------------------------------------------- */

/* A boosted phrase (Riva SpeechContext): each word of `phrase` (space
 * separated, matched case-sensitively against the decoded words) that extends a
 * match of the phrase's beginning adds `boost` to the hypothesis score. */
struct pl_asr_boost {
    const char *phrase;
    float boost;
};

struct pl_asr_beam;

/* v, lm (may be NULL: no LM) must outlive the state. Phrases are copied.
 * Returns PL_OK; PL_E_INVALID_ARG (bad options: beam_width 1..1024,
 * token_top_n >= 1, max_alternatives 1..beam_width, frame_ms > 0; empty or
 * over-long phrase, non-finite boost, more than 1024 phrases); PL_E_NOMEM.
 * OUT: *out, caller owns; free with pl_asr_beam_destroy(). */
pl_status pl_asr_beam_create(const struct pl_asr_vocab *v, const struct pl_asr_lm *lm,
                             const struct pl_asr_decode_opts *o, const struct pl_asr_boost *boosts,
                             int n_boosts, struct pl_asr_beam **out);
void pl_asr_beam_destroy(struct pl_asr_beam *b);

/* Advance by T frames of [T][V] log-probabilities (T may be 0).
 * Returns PL_OK; PL_E_INVALID_ARG (V mismatch, NULL, non-finite values,
 * after finish); PL_E_NOMEM (the state must then be reset or destroyed). */
pl_status pl_asr_beam_feed(struct pl_asr_beam *b, const float *logp, size_t T, int V);

/* The current best hypothesis without ending the utterance (the last,
 * unfinished word is included but not LM-scored). n_stable_words says how many
 * leading completed words every hypothesis within opts.stable_margin of the
 * best shares (words that are unlikely to change).
 * OUT: *out, one hypothesis; caller owns, free with pl_asr_nbest_destroy(). */
pl_status pl_asr_beam_partial(struct pl_asr_beam *b, struct pl_asr_nbest **out);

/* End the utterance: score the last words and </s>, return the n-best list
 * (up to max_alternatives distinct texts). Further feeds need a reset.
 * OUT: *out, caller owns; free with pl_asr_nbest_destroy(). */
pl_status pl_asr_beam_finish(struct pl_asr_beam *b, struct pl_asr_nbest **out);

/* Forget the utterance; the state is ready for a new one. */
void pl_asr_beam_reset(struct pl_asr_beam *b);

#ifdef __cplusplus
}
#endif
#endif
