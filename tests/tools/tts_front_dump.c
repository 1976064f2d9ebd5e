/* tts_front_dump.c - try the TTS text front end on a string.
 *
 *   tts_front_dump [-d cmudict.dict] [-u user.dict] [-c "custom  DICT, ..."] [-w max_words]
 *                  [--ssml|--text] "text or <speak>SSML</speak>"
 *   tts_front_dump -d cmudict.dict --split "long text"       raw sentence split only
 *
 * Prints the normalized text, then each sentence: words with phones (and where
 * the pronunciation came from), pauses with their durations. Also the lexicon's
 * load time and size when -d is given. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "tts_front.h"

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static const char *const pron_names[] = {"OOV", "ssml", "request", "user", "cmu", "letters", "g2p"};

int main(int argc, char **argv) {
    const char *dict = NULL, *user = NULL, *custom = NULL, *text = NULL;
    enum pl_tts_input mode = PL_TTS_INPUT_AUTO;
    int max_words = 0, split_only = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-d") && i + 1 < argc)
            dict = argv[++i];
        else if (!strcmp(argv[i], "-u") && i + 1 < argc)
            user = argv[++i];
        else if (!strcmp(argv[i], "-c") && i + 1 < argc)
            custom = argv[++i];
        else if (!strcmp(argv[i], "-w") && i + 1 < argc)
            max_words = (int)strtol(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--ssml"))
            mode = PL_TTS_INPUT_SSML;
        else if (!strcmp(argv[i], "--text"))
            mode = PL_TTS_INPUT_TEXT;
        else if (!strcmp(argv[i], "--split"))
            split_only = 1;
        else
            text = argv[i];
    }
    if (!text) {
        fprintf(stderr, "usage: %s [-d cmudict.dict] [-u user.dict] [-c custom] [-w max_words] "
                        "[--ssml|--text|--split] TEXT\n", argv[0]);
        return 2;
    }
    if (split_only) {
        struct pl_tts_span *sp;
        size_t n;
        if (pl_tts_split_text(text, strlen(text), &sp, &n) != PL_OK) {
            fprintf(stderr, "error: %s\n", pl_last_error());
            return 1;
        }
        for (size_t i = 0; i < n; i++)
            printf("[%zu] %.*s\n", i, (int)(sp[i].end - sp[i].start), text + sp[i].start);
        pl_free(sp);
        return 0;
    }
    struct pl_tts_lexicon *cmu = NULL, *ud = NULL;
    if (dict) {
        double t0 = now_ms();
        if (pl_tts_lexicon_load_cmu(dict, &cmu) != PL_OK) {
            fprintf(stderr, "error: %s\n", pl_last_error());
            return 1;
        }
        struct pl_tts_lexicon_stats ls;
        pl_tts_lexicon_stats(cmu, &ls);
        fprintf(stderr, "lexicon: %zu words, %zu pronunciations, %.1f MiB, loaded in %.1f ms\n",
                ls.n_words, ls.n_prons, ls.bytes / 1048576.0, now_ms() - t0);
    }
    if (user && pl_tts_lexicon_load_user(user, &ud) != PL_OK) {
        fprintf(stderr, "error: %s\n", pl_last_error());
        pl_tts_lexicon_destroy(cmu);
        return 1;
    }
    struct pl_tts_front_opts fo = {.cmu = cmu, .user = ud, .max_words = max_words};
    struct pl_tts_front *front = NULL;
    struct pl_tts_result *res = NULL;
    char err[512];
    int rc = 0;
    if (pl_tts_front_create(&fo, &front) != PL_OK ||
        pl_tts_front_run(front, text, mode, custom, &res, err, sizeof err) != PL_OK) {
        fprintf(stderr, "error: %s\n", pl_last_error());
        rc = 1;
        goto done;
    }
    printf("normalized: %s\n", res->normalized);
    for (size_t s = 0; s < res->n_sentences; s++) {
        const struct pl_tts_sentence *se = &res->sentences[s];
        printf("sentence %zu [%u,%u): \"%.*s\"\n", s, se->src_start, se->src_end,
               (int)(se->src_end - se->src_start), text + se->src_start);
        for (size_t i = 0; i < se->n_items; i++) {
            const struct pl_tts_item *it = &se->items[i];
            if (it->kind == PL_TTS_ITEM_PAUSE) {
                printf("  <pause %s %d ms>\n", it->text[0] ? it->text : "-", it->pause_ms);
                continue;
            }
            printf("  %-16s [%u,%u) %-7s", it->text, it->src_start, it->src_end,
                   pron_names[it->pron]);
            for (size_t k = 0; k < it->n_phones; k++)
                printf(" %s", pl_tts_phone_name(it->phones[k]));
            if (it->prosody.rate != 1.0f || it->prosody.pitch != 1.0f ||
                it->prosody.volume != 1.0f || it->prosody.emphasis)
                printf("   (rate %.2f pitch %.2f volume %.2f emphasis %d)", it->prosody.rate,
                       it->prosody.pitch, it->prosody.volume, it->prosody.emphasis);
            printf("\n");
        }
    }
    for (size_t i = 0; i < res->n_oov; i++)
        printf("oov: %s\n", res->oov[i]);
done:
    pl_tts_result_destroy(res);
    pl_tts_front_destroy(front);
    pl_tts_lexicon_destroy(cmu);
    pl_tts_lexicon_destroy(ud);
    return rc;
}
