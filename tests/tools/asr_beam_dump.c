/* asr_beam_dump.c - driver of the beam-search reference test (not a suite).
 *
 *   asr_beam_dump VOCAB BLANK chars|spm ARPA|- LOGP T BEAM ALPHA BETA NALT
 *                      PRUNE TOPN BOOSTS SEED UNK_PREFIX_PENALTY
 *
 * Decodes the float32 [T][V] log-probs in LOGP with the prefix beam search,
 * feeding frames in pseudo-random chunks (SEED) with a partial result asked
 * after each, and prints the n-best list as "score<TAB>text" lines.
 * BOOSTS: a file of "phrase<TAB>boost" lines (may be empty). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "asr_ctc.h"

int main(int argc, char **argv) {
    if (argc != 16) {
        fprintf(stderr, "usage: see the comment at the top of asr_beam_dump.c\n");
        return 2;
    }
    struct pl_asr_vocab *v = NULL;
    struct pl_asr_lm *lm = NULL;
    struct pl_asr_beam *b = NULL;
    struct pl_asr_nbest *nb = NULL;
    float *lp = NULL;
    struct pl_asr_boost bo[64];
    char phrases[64][256];
    int nbo = 0, rc = 1;
    enum pl_asr_vocab_kind kind =
        strcmp(argv[3], "spm") == 0 ? PL_ASR_VOCAB_SPM : PL_ASR_VOCAB_CHARS;
    if (pl_asr_vocab_load(argv[1], (int)strtol(argv[2], NULL, 10), kind, &v) != PL_OK)
        goto fail;
    if (strcmp(argv[4], "-") != 0 && pl_asr_lm_load(argv[4], &lm) != PL_OK)
        goto fail;
    size_t T = strtoul(argv[6], NULL, 10);
    int V = pl_asr_vocab_size(v);
    lp = malloc(sizeof(float) * (T ? T : 1) * (size_t)V);
    FILE *f = fopen(argv[5], "rb");
    if (!f || fread(lp, sizeof(float), T * (size_t)V, f) != T * (size_t)V) {
        fprintf(stderr, "cannot read %s\n", argv[5]);
        if (f)
            fclose(f);
        goto fail;
    }
    fclose(f);
    FILE *bf = fopen(argv[13], "r");
    char line[256];
    while (bf && nbo < 64 && fgets(line, sizeof line, bf)) {
        char *tab = strchr(line, '\t');
        if (!tab)
            continue;
        *tab = '\0';
        snprintf(phrases[nbo], sizeof phrases[nbo], "%s", line);
        bo[nbo].phrase = phrases[nbo];
        bo[nbo].boost = strtof(tab + 1, NULL);
        nbo++;
    }
    if (bf)
        fclose(bf);
    struct pl_asr_decode_opts o;
    pl_asr_decode_opts_default(&o);
    o.beam_width = (int)strtol(argv[7], NULL, 10);
    o.lm_alpha = strtod(argv[8], NULL);
    o.lm_beta = strtod(argv[9], NULL);
    o.max_alternatives = (int)strtol(argv[10], NULL, 10);
    o.token_prune = strtod(argv[11], NULL);
    o.token_top_n = (int)strtol(argv[12], NULL, 10);
    o.unk_prefix_penalty = strtod(argv[15], NULL);
    if (pl_asr_beam_create(v, lm, &o, bo, nbo, &b) != PL_OK)
        goto fail;
    srand((unsigned)strtoul(argv[14], NULL, 10));
    for (size_t t = 0; t < T;) {
        size_t c = (size_t)(rand() % 7);
        if (c > T - t)
            c = T - t;
        if (pl_asr_beam_feed(b, lp + t * (size_t)V, c, V) != PL_OK)
            goto fail;
        t += c;
        struct pl_asr_nbest *p = NULL;
        if (pl_asr_beam_partial(b, &p) != PL_OK)
            goto fail;
        pl_asr_nbest_destroy(p);
    }
    if (pl_asr_beam_finish(b, &nb) != PL_OK)
        goto fail;
    for (int i = 0; i < nb->n; i++)
        printf("%.17g\t%s\n", nb->hyps[i].score, nb->hyps[i].text);
    rc = 0;
fail:
    if (rc)
        fprintf(stderr, "error: %s\n", pl_last_error());
    pl_asr_nbest_destroy(nb);
    pl_asr_beam_destroy(b);
    pl_asr_lm_destroy(lm);
    pl_asr_vocab_destroy(v);
    free(lp);
    return rc;
}
