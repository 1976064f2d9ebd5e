/*
 * pl-sdk-stream: stream a WAV file to StreamingRecognize in chunks of 100 ms, printing the
 * interim results ("~ text") and the finals ("text") as they arrive.
 *
 *   pl-sdk-stream FILE.wav [--model NAME] [connection options]
 *
 * Exit status: 0 ok, 1 the call failed (status and message on stderr), 2 bad usage.
 */
#include "example_common.h"

static int on_result(void *ud, const struct pl_client_asr_result *r) {
    int *n_final = ud;
    if (r->is_final) {
        printf("%s\n", r->transcript);
        ++*n_final;
    } else {
        printf("~ %s\n", r->transcript);
    }
    fflush(stdout);
    return 0; /* go on */
}

int main(int argc, char **argv) {
    struct pl_client_opts o = {0};
    struct pl_client_asr_config cfg = {.interim_results = true};
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (connect_opt(argc, argv, &i, &o)) continue;
        if (!strcmp(argv[i], "--model") && i + 1 < argc) cfg.model = argv[++i];
        else if (!path && argv[i][0] != '-') path = argv[i];
        else path = NULL, i = argc;
    }
    if (!path) {
        fprintf(stderr, "usage: pl-sdk-stream FILE.wav [--model NAME]\n" CONNECT_USAGE);
        return 2;
    }
    size_t n;
    unsigned char *audio = read_all(argv[0], path, &n);
    if (!audio) return 2;

    struct pl_client *c;
    pl_status st = pl_client_open(&o, &c);
    if (st != PL_OK) return free(audio), report(argv[0], st);
    int n_final = 0;
    struct pl_client_stream *s;
    st = pl_client_recognize_stream_open(c, &cfg, on_result, &n_final, &s);
    if (st == PL_OK) {
        /* 100 ms of 16 kHz 16-bit mono; the WAV header rides in the first chunk */
        const size_t chunk = 3200;
        for (size_t off = 0; off < n && st == PL_OK; off += chunk)
            st = pl_client_stream_send_audio(s, audio + off, n - off < chunk ? n - off : chunk);
        pl_status fin = pl_client_stream_finish(s);
        if (st == PL_OK) st = fin;
        pl_client_stream_destroy(s);
    }
    pl_client_close(c);
    free(audio);
    if (st != PL_OK) return report(argv[0], st);
    fprintf(stderr, "%d final result(s)\n", n_final);
    return 0;
}
