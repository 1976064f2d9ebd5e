/* tts_say.c - speak text with the neural voice, without the service: front end
 * (CMU lexicon, G2P) -> pl_tts_voice_synth -> a 16-bit WAV at the voice's rate.
 *
 *   tts_say -v models/tts-voice -d models/tts-lexicon/cmudict.dict -g models/tts-g2p/g2p.bin \
 *           [-t threads] [-b backend] [-o out.wav] [-D] "text or <speak>SSML</speak>"
 *   tts_say ... -l list.tsv -O outdir        one "id<TAB>text" per line -> outdir/id.wav
 *
 * Prints per text the audio length, the time to the first chunk, the wall time and the
 * real-time factor (process CPU seconds / audio seconds: with -t 1 that is one core); -D prints
 * every symbol's duration (sentence start, phones, pauses, sentence end). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "audio.h"
#include "tts_g2p.h"
#include "tts_voice.h"

struct pcm {
    float *v;
    size_t n, cap;
    double t0, first_ms;
};

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static double cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int on_pcm(void *ud, const float *x, size_t n) {
    struct pcm *p = ud;
    if (p->first_ms < 0) p->first_ms = now_ms() - p->t0;
    if (p->n + n > p->cap) {
        size_t cap = (p->n + n) * 2;
        float *v = pl_realloc(p->v, cap * sizeof(float));
        if (!v) return 1;
        p->v = v;
        p->cap = cap;
    }
    memcpy(p->v + p->n, x, n * sizeof(float));
    p->n += n;
    return 0;
}

static int g_durations; /* -D: print each symbol's duration */

static int say(struct pl_tts_front *front, struct pl_tts_voice *voice, const char *text,
               const char *out) {
    struct pl_tts_result *res = NULL;
    char err[512];
    struct pcm p = {.first_ms = -1};
    double c0 = cpu_s();
    p.t0 = now_ms();
    if (pl_tts_front_run(front, text, PL_TTS_INPUT_AUTO, NULL, &res, err, sizeof err) != PL_OK) {
        fprintf(stderr, "error: %s\n", err);
        return 1;
    }
    for (size_t s = 0; s < res->n_sentences; s++) {
        struct pl_tts_synth_info info;
        if (pl_tts_voice_synth(voice, &res->sentences[s], NULL, on_pcm, &p, &info) != PL_OK) {
            fprintf(stderr, "error: %s\n", pl_last_error());
            pl_tts_result_destroy(res);
            pl_free(p.v);
            return 1;
        }
        if (g_durations) {
            printf("sentence %zu durations (s):", s);
            for (size_t i = 0; i < info.n_symbols; i++) printf(" %.3f", info.durations[i]);
            printf("\n");
        }
        pl_tts_synth_info_free(&info);
    }
    double wall = now_ms() - p.t0, cpu = cpu_s() - c0;
    double secs = (double)p.n / pl_tts_voice_sample_rate(voice);
    printf("%s: %.2f s of audio, first chunk %.1f ms, wall %.1f ms, RTF %.4f (CPU %.3f s)\n",
           out ? out : "-", secs, p.first_ms, wall, secs > 0 ? cpu / secs : 0.0, cpu);
    pl_tts_result_destroy(res);
    int rc = 0;
    if (out) {
        struct pl_audio a = {p.v, p.n, 1, pl_tts_voice_sample_rate(voice)};
        uint8_t *wav = NULL;
        size_t len = 0;
        FILE *f = NULL;
        if (pl_audio_encode(&a, PL_AUDIO_FMT_WAV, &wav, &len) != PL_OK ||
            !(f = fopen(out, "wb")) || fwrite(wav, 1, len, f) != len) {
            fprintf(stderr, "error: cannot write %s: %s\n", out, pl_last_error());
            rc = 1;
        }
        if (f) fclose(f);
        pl_free(wav);
    }
    pl_free(p.v);
    return rc;
}

int main(int argc, char **argv) {
    const char *vdir = "models/tts-voice", *dict = "models/tts-lexicon/cmudict.dict";
    const char *g2p_path = "models/tts-g2p/g2p.bin", *out = NULL, *list = NULL, *odir = NULL;
    const char *backend = "cpu", *text = NULL;
    int threads = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-v") && i + 1 < argc) vdir = argv[++i];
        else if (!strcmp(argv[i], "-d") && i + 1 < argc) dict = argv[++i];
        else if (!strcmp(argv[i], "-g") && i + 1 < argc) g2p_path = argv[++i];
        else if (!strcmp(argv[i], "-o") && i + 1 < argc) out = argv[++i];
        else if (!strcmp(argv[i], "-l") && i + 1 < argc) list = argv[++i];
        else if (!strcmp(argv[i], "-O") && i + 1 < argc) odir = argv[++i];
        else if (!strcmp(argv[i], "-b") && i + 1 < argc) backend = argv[++i];
        else if (!strcmp(argv[i], "-t") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-D")) g_durations = 1;
        else text = argv[i];
    }
    if (!text && !(list && odir)) {
        fprintf(stderr, "usage: %s [-v voice] [-d cmudict] [-g g2p.bin] [-t threads] [-b backend] "
                        "[-o out.wav] TEXT | -l list.tsv -O outdir\n", argv[0]);
        return 2;
    }
    struct pl_tts_lexicon *cmu = NULL;
    struct pl_tts_g2p *g2p = NULL;
    struct pl_tts_front *front = NULL;
    struct pl_tts_voice *voice = NULL;
    struct pl_tts_voice_opts vo = {.backend = backend, .n_threads = threads};
    int rc = 1;
    if (pl_tts_lexicon_load_cmu(dict, &cmu) != PL_OK || pl_tts_g2p_load(g2p_path, &g2p) != PL_OK ||
        pl_tts_voice_load(vdir, &vo, &voice) != PL_OK) {
        fprintf(stderr, "error: %s\n", pl_last_error());
        goto done;
    }
    struct pl_tts_front_opts fo = {.cmu = cmu, .g2p = pl_tts_g2p_phones, .g2p_ud = g2p};
    if (pl_tts_front_create(&fo, &front) != PL_OK) {
        fprintf(stderr, "error: %s\n", pl_last_error());
        goto done;
    }
    if (text) {
        rc = say(front, voice, text, out);
        goto done;
    }
    FILE *f = fopen(list, "r");
    if (!f) {
        fprintf(stderr, "error: cannot open %s\n", list);
        goto done;
    }
    char line[8192], path[12288];
    rc = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        char *tab = strchr(line, '\t');
        if (!tab) continue;
        *tab = 0;
        snprintf(path, sizeof path, "%s/%s.wav", odir, line);
        rc |= say(front, voice, tab + 1, path);
    }
    fclose(f);
done:
    pl_tts_voice_destroy(voice);
    pl_tts_front_destroy(front);
    pl_tts_g2p_destroy(g2p);
    pl_tts_lexicon_destroy(cmu);
    return rc;
}
