/*
 * pl-sdk-recognize: transcribe an audio file (WAV, FLAC, ...) with one Recognize call.
 *
 *   pl-sdk-recognize FILE [--model NAME] [--words] [connection options]
 *
 * Prints one line per utterance ("text" and, with --words, each word's times).
 * Exit status: 0 ok, 1 the call failed (status and message on stderr), 2 bad usage.
 */
#include "example_common.h"

int main(int argc, char **argv) {
    struct pl_client_opts o = {0};
    struct pl_client_asr_config cfg = {0};
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (connect_opt(argc, argv, &i, &o)) continue;
        if (!strcmp(argv[i], "--model") && i + 1 < argc) cfg.model = argv[++i];
        else if (!strcmp(argv[i], "--words")) cfg.word_offsets = true;
        else if (!path && argv[i][0] != '-') path = argv[i];
        else path = NULL, i = argc;
    }
    if (!path) {
        fprintf(stderr, "usage: pl-sdk-recognize FILE [--model NAME] [--words]\n" CONNECT_USAGE);
        return 2;
    }
    size_t n;
    unsigned char *audio = read_all(argv[0], path, &n);
    if (!audio) return 2;

    struct pl_client *c;
    pl_status st = pl_client_open(&o, &c);
    if (st != PL_OK) return free(audio), report(argv[0], st);
    struct pl_client_transcript *t;
    st = pl_client_recognize(c, &cfg, audio, n, &t);
    if (st == PL_OK) {
        for (size_t i = 0; i < t->n_results; i++) {
            printf("%s\n", t->results[i].transcript);
            for (size_t w = 0; w < t->results[i].n_words; w++)
                printf("    %6d %6d  %s\n", t->results[i].words[w].start_ms,
                       t->results[i].words[w].end_ms, t->results[i].words[w].word);
        }
        pl_client_transcript_destroy(t);
    }
    pl_client_close(c);
    free(audio);
    return st == PL_OK ? 0 : report(argv[0], st);
}
