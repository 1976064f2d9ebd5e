/*
 * fuzz_arpa.c - the ARPA n-gram LM loader (engine/asr/asr_arpa.c, pl_asr_lm_load_buffer):
 * \data\ counts, the n-gram sections, scores and backoffs, \end\. A model that loads is
 * then queried as the beam search queries it: word ids and prefixes of the input's own
 * words, and a sentence scored from <s> to </s>.
 */
#include <stdint.h>
#include <stdlib.h>

#include "asr_lm.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int init;
    if (!init) {
        fz_quiet();
        init = 1;
    }
    struct pl_asr_lm *lm = NULL;
    if (pl_asr_lm_load_buffer((const char *)data, size, &lm) != PL_OK) return 0;
    int order = pl_asr_lm_order(lm);
    if (order < 1 || order > PL_ASR_LM_MAX_ORDER) abort();
    for (int k = 1; k <= order; k++) (void)pl_asr_lm_count(lm, k);
    (void)pl_asr_lm_has_unk(lm);
    struct pl_asr_lm_state st;
    pl_asr_lm_begin(lm, &st);
    /* the input's whitespace-separated tokens as a sentence (at most 64 words) */
    const char *p = (const char *)data, *end = p + size;
    for (int words = 0; p < end && words < 64;) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\n')) p++;
        const char *w = p;
        while (p < end && *p != ' ' && *p != '\t' && *p != '\n') p++;
        if (p == w) break;
        size_t len = (size_t)(p - w);
        (void)pl_asr_lm_is_prefix(lm, w, len > 1 ? len - 1 : len);
        int32_t id = pl_asr_lm_word_id(lm, w, len);
        double s = pl_asr_lm_score(lm, &st, id, -10.0, &st);
        if (s != s) abort(); /* NaN */
        if (st.n < 0 || st.n > order - 1) abort();
        words++;
    }
    (void)pl_asr_lm_end(lm, &st);
    pl_asr_lm_destroy(lm);
    return 0;
}
