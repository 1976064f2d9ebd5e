/*
 * pl-sdk-synthesize: speech from text into a WAV file, with one Synthesize call or, with
 * --stream, SynthesizeOnline (the audio arrives chunk by chunk).
 *
 *   pl-sdk-synthesize TEXT OUT.wav [--voice V] [--rate HZ] [--stream] [connection options]
 *
 * Exit status: 0 ok, 1 the call failed (status and message on stderr), 2 bad usage.
 */
#include "example_common.h"

struct collect {
    struct pl_client_audio audio;
    size_t cap, chunks;
};

static int on_chunk(void *ud, const void *data, size_t n) {
    struct collect *c = ud;
    if (c->audio.n + n > c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 1 << 16;
        while (cap < c->audio.n + n) cap *= 2;
        unsigned char *p = realloc(c->audio.data, cap);
        if (!p) return 1; /* cancels the call */
        c->audio.data = p;
        c->cap = cap;
    }
    memcpy(c->audio.data + c->audio.n, data, n);
    c->audio.n += n;
    c->chunks++;
    return 0;
}

int main(int argc, char **argv) {
    struct pl_client_opts o = {0};
    struct pl_client_tts_config cfg = {.sample_rate_hz = 22050};
    const char *text = NULL, *out = NULL;
    int stream = 0;
    for (int i = 1; i < argc; i++) {
        if (connect_opt(argc, argv, &i, &o)) continue;
        if (!strcmp(argv[i], "--voice") && i + 1 < argc) cfg.voice = argv[++i];
        else if (!strcmp(argv[i], "--rate") && i + 1 < argc) cfg.sample_rate_hz = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--stream")) stream = 1;
        else if (!text && argv[i][0] != '-') text = argv[i];
        else if (!out && argv[i][0] != '-') out = argv[i];
        else out = NULL, i = argc;
    }
    if (!text || !out) {
        fprintf(stderr, "usage: pl-sdk-synthesize TEXT OUT.wav [--voice V] [--rate HZ] "
                        "[--stream]\n" CONNECT_USAGE);
        return 2;
    }
    struct pl_client *c;
    pl_status st = pl_client_open(&o, &c);
    if (st != PL_OK) return report(argv[0], st);
    if (stream) {
        struct collect col = {.audio = {.sample_rate_hz = cfg.sample_rate_hz,
                                        .encoding = PL_CLIENT_ENC_LINEAR16}};
        st = pl_client_synthesize_stream(c, &cfg, text, on_chunk, &col);
        if (st == PL_OK) st = pl_client_audio_write_wav(&col.audio, out);
        if (st == PL_OK)
            printf("%s: %zu bytes in %zu chunks\n", out, col.audio.n, col.chunks);
        free(col.audio.data);
    } else {
        struct pl_client_audio *a;
        st = pl_client_synthesize(c, &cfg, text, &a);
        if (st == PL_OK) {
            st = pl_client_audio_write_wav(a, out);
            if (st == PL_OK) printf("%s: %zu bytes at %d Hz\n", out, a->n, a->sample_rate_hz);
            pl_client_audio_destroy(a);
        }
    }
    pl_client_close(c);
    return st == PL_OK ? 0 : report(argv[0], st);
}
