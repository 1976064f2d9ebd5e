/* tts_g2p.c - the G2P decoder (engine/tts/tts_g2p.h) on words, one per line of stdin or given as
 * arguments; the evaluation command (train/tts/g2p_eval.py) runs it.
 *
 *   tts_g2p -m models/tts-g2p/g2p.bin [-b beam] [-t thr] [word ...]  "word<TAB>PH PH ..." per word
 *   tts_g2p --ipa                                               IPA per line -> ARPAbet (the
 *                                                               front end's table), "?" when
 *                                                               it cannot be mapped
 *
 * stderr gets the model's size and the decoding time per word. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "tts_front.h"
#include "tts_g2p.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void print_phones(const char *word, const uint8_t *ph, size_t n) {
    fputs(word, stdout);
    putchar('\t');
    for (size_t i = 0; i < n; i++) printf(i ? " %s" : "%s", pl_tts_phone_name(ph[i]));
    if (n == 0) putchar('?');
    putchar('\n');
}

static int run_ipa(void) {
    char line[4096];
    while (fgets(line, sizeof line, stdin)) {
        size_t len = strcspn(line, "\r\n");
        line[len] = 0;
        uint8_t ph[PL_TTS_MAX_PRON];
        size_t n = 0;
        if (pl_tts_ipa_to_arpabet(line, len, ph, PL_TTS_MAX_PRON, &n) != PL_OK) n = 0;
        print_phones(line, ph, n);
    }
    return 0;
}

int main(int argc, char **argv) {
    const char *model = NULL;
    int beam = 0, first_word = argc;
    float threshold = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-m") && i + 1 < argc) {
            model = argv[++i];
        } else if (!strcmp(argv[i], "-b") && i + 1 < argc) {
            beam = (int)strtol(argv[++i], NULL, 10);
        } else if (!strcmp(argv[i], "-t") && i + 1 < argc) {
            threshold = strtof(argv[++i], NULL);
        } else if (!strcmp(argv[i], "--ipa")) {
            return run_ipa();
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "usage: %s -m g2p.bin [-b beam] [-t threshold] [word ...] | --ipa\n", argv[0]);
            return 2;
        } else {
            first_word = i;
            break;
        }
    }
    if (!model) {
        fprintf(stderr, "usage: %s -m g2p.bin [-b beam] [-t threshold] [word ...] | --ipa\n", argv[0]);
        return 2;
    }
    double t0 = now_s();
    struct pl_tts_g2p *m = NULL;
    if (pl_tts_g2p_load(model, &m) != PL_OK) {
        fprintf(stderr, "error: %s\n", pl_last_error());
        return 1;
    }
    double t_load = now_s() - t0;
    if (beam > 0 || threshold > 0) pl_tts_g2p_set_beam(m, beam > 0 ? beam : PL_TTS_G2P_BEAM, threshold);
    struct pl_tts_g2p_info info;
    pl_tts_g2p_info(m, &info);

    size_t n_words = 0;
    double t_dec = 0;
    char line[4096];
    for (int i = first_word;; i++) {
        const char *w;
        if (first_word < argc) {
            if (i >= argc) break;
            w = argv[i];
        } else {
            if (!fgets(line, sizeof line, stdin)) break;
            line[strcspn(line, "\r\n")] = 0;
            w = line;
        }
        uint8_t ph[PL_TTS_MAX_PRON];
        double t1 = now_s();
        size_t n = pl_tts_g2p_phones(w, strlen(w), ph, PL_TTS_MAX_PRON, m);
        t_dec += now_s() - t1;
        n_words++;
        print_phones(w, ph, n);
    }
    fprintf(stderr,
            "g2p: order %d, %zu graphones, %zu states, %zu arcs, %.1f MB in memory, loaded in "
            "%.1f ms; %zu words, %.1f us per word\n",
            info.order, info.n_units - 2, info.n_states, info.n_arcs, info.bytes / 1e6,
            t_load * 1e3, n_words, n_words ? t_dec / (double)n_words * 1e6 : 0.0);
    pl_tts_g2p_destroy(m);
    return 0;
}
