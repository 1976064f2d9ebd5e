/*
 * fuzz_itn.c - transcript post-processing of parley-asr (engine/asr/asr_itn.c): inverse text
 * normalization of spelled English numbers (pl_asr_itn_numbers: cardinals, years, decimals,
 * ordinals, percent, money, digit runs) and the profanity filter (pl_asr_profanity_filter).
 * Transcripts come from the decoder, but the filter's word list is a file, and both take any
 * UTF-8 text.
 *
 * Input: the text, then optionally FZ_SEP and a word list for the filter (one per line);
 * without one the filter uses a small fixed list.
 */
#include <stdint.h>
#include <stdlib.h>

#include "asr_itn.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int init;
    if (!init) {
        fz_quiet();
        init = 1;
    }
    struct fz_in in = {data, size};
    size_t tlen = 0, wlen = 0;
    const uint8_t *t = fz_next_part(&in, &tlen);
    const uint8_t *wl = fz_next_part(&in, &wlen);
    char *text = fz_str(t ? t : (const uint8_t *)"", t ? tlen : 0);
    if (!text) return 0;
    char *out = NULL;
    if (pl_asr_itn_numbers(text, &out) == PL_OK) pl_free(out);

    static const char *const fixed[] = {"darn", "heck", "gosh darn"};
    const char *words[32];
    int n = 0;
    char *list = wl ? fz_str(wl, wlen) : NULL;
    if (list) {
        for (char *p = list, *nl; p && n < 32; p = nl ? nl + 1 : NULL) {
            nl = strchr(p, '\n');
            if (nl) *nl = '\0';
            words[n++] = p;
        }
    } else {
        for (; n < 3; n++) words[n] = fixed[n];
    }
    struct pl_asr_profanity *pf = NULL;
    if (pl_asr_profanity_create(words, n, &pf) == PL_OK) {
        out = NULL;
        if (pl_asr_profanity_filter(pf, text, &out) == PL_OK) pl_free(out);
        pl_asr_profanity_destroy(pf);
    }
    pl_free(list);
    pl_free(text);
    return 0;
}
