/* asr_ctc_impl.h - vocabulary internals shared by the CTC decoders. */
#ifndef PL_ASR_CTC_IMPL_H
#define PL_ASR_CTC_IMPL_H

#include "asr_ctc.h"

enum pl__asr_tok {
    PL__TOK_TEXT = 0,  /* appends to the current word (opens one if none) */
    PL__TOK_SEP = 1,   /* ends the current word (CHARS " " / "|") */
    PL__TOK_START = 2, /* ends the current word and opens a new one (SPM "▁...") */
    PL__TOK_BLANK = 3,
};

#define PL__ASR_MAX_WORD 256 /* bytes of one word; longer words are cut */

struct pl_asr_vocab {
    int n;
    int blank;
    enum pl_asr_vocab_kind kind;
    char **text;  /* [n] token text without a leading "▁" (NUL-terminated) */
    uint8_t *len; /* [n] strlen(text) */
    uint8_t *cls; /* [n] enum pl__asr_tok */
};

/* Per emitted token: id, first and last frame, posterior (0..1). */
struct pl__asr_tokinfo {
    int32_t tok;
    int32_t t_first;
    int32_t t_last;
    float prob;
};

/* Build words and text of h from emitted tokens (h zeroed first). */
pl_status pl__asr_hyp_build(const struct pl_asr_vocab *v, const struct pl__asr_tokinfo *ti, int n,
                            const struct pl_asr_decode_opts *o, struct pl_asr_hyp *h);
void pl__asr_hyp_deinit(struct pl_asr_hyp *h);
pl_status pl__asr_check_logp(const float *logp, size_t T, int V);

#endif
