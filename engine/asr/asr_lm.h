/*
 * asr_lm.h - word n-gram language model in ARPA format (orders 1..5).
 *
 * File layout (ARPA, as written by SRILM/KenLM; plain text or gzip):
 *
 *   \data\
 *   ngram 1=<count>
 *   ngram 2=<count>            ... up to ngram 5
 *
 *   \1-grams:
 *   <log10 p> <TAB> <word> [<TAB> <log10 backoff>]
 *   ...
 *   \2-grams:
 *   <log10 p> <TAB> <w1> <w2> [<TAB> <log10 backoff>]
 *   ...
 *   \end\
 *
 * Fields may be separated by tabs or spaces. Counts must match the entries.
 * Scores are converted to natural logs at load time. Scoring uses standard
 * backoff: ln P(w | h) = ln p(h w) if the n-gram exists, else
 * ln bow(h) + ln P(w | h minus its oldest word) (bow = 0 when h is no n-gram).
 * A word missing from the unigrams scores a fixed oov_logp given by the caller:
 * ln P(<unk>) is the mass of all unseen words together, far too likely for one
 * particular spelling; the history then holds <unk> so that the following
 * words back off from it.
 *
 * Thread-safety: a loaded model is immutable; any number of threads may
 * score with it at once.
 */
#ifndef PL_ASR_LM_H
#define PL_ASR_LM_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PL_ASR_LM_MAX_ORDER 5

/* The history of a sentence: the last (order - 1) word ids, oldest first.
 * Plain value type (copy freely). Id -1 stands for a word the model lacks. */
struct pl_asr_lm_state {
    int32_t w[PL_ASR_LM_MAX_ORDER - 1];
    int32_t n;
};

struct pl_asr_lm;

/* Load an ARPA file; a gzip-compressed one (.arpa.gz) is detected by its
 * magic and inflated with zlib.
 * Returns PL_OK; PL_E_IO (cannot open/read); PL_E_FORMAT (malformed: the
 * message names the line); PL_E_UNSUPPORTED (order > 5); PL_E_INVALID_ARG;
 * PL_E_NOMEM.
 * OUT: *out, caller owns; free with pl_asr_lm_destroy(). NULL on failure. */
pl_status pl_asr_lm_load(const char *path, struct pl_asr_lm **out);

/* Same from text in memory (not gzip); buf need not be NUL-terminated. */
pl_status pl_asr_lm_load_buffer(const char *buf, size_t n, struct pl_asr_lm **out);

void pl_asr_lm_destroy(struct pl_asr_lm *lm);

int pl_asr_lm_order(const struct pl_asr_lm *lm);
size_t pl_asr_lm_count(const struct pl_asr_lm *lm, int order); /* n-grams of that order */

/* Id of a word (len bytes, not NUL-terminated), or -1 when not a unigram. */
int32_t pl_asr_lm_word_id(const struct pl_asr_lm *lm, const char *word, size_t len);

/* True when s (len bytes) begins some word of the model (not <s>, </s>,
 * <unk>); the empty string is a prefix. */
int pl_asr_lm_is_prefix(const struct pl_asr_lm *lm, const char *s, size_t len);

/* True when the model has an <unk> unigram. */
int pl_asr_lm_has_unk(const struct pl_asr_lm *lm);

/* State after "<s>". */
void pl_asr_lm_begin(const struct pl_asr_lm *lm, struct pl_asr_lm_state *st);

/* ln P(word | *in); word -1 (or <unk>) = out of vocabulary: oov_logp is
 * returned. *out (may alias in) becomes the history extended by word. */
double pl_asr_lm_score(const struct pl_asr_lm *lm, const struct pl_asr_lm_state *in, int32_t word,
                       double oov_logp, struct pl_asr_lm_state *out);

/* ln P(</s> | *st). */
double pl_asr_lm_end(const struct pl_asr_lm *lm, const struct pl_asr_lm_state *st);

#ifdef __cplusplus
}
#endif
#endif
