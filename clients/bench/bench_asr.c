/*
 * bench_asr.c - `parley bench asr [--model DIR] [--seconds S] [--iters N]
 *                                 [--batches 1,8,32] [--no-cuda]`
 *
 * The ASR acoustic model's whole-utterance forward on S seconds of random
 * features (100 frames a second): on the CPU (pl_asr_model_forward, one
 * thread; thread CPU time because the build machines are shared, and wall
 * time), then on the GPU (the model loaded on "cuda", pl_asr_batch_forward
 * on batches of copies of the same utterance, wall time with the copies both
 * ways) where Parley has CUDA and a device. Prints the real-time factor (time / audio seconds) of each
 * and the GPU's max |difference| from the CPU's log-probs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "bench_asr.h"

#ifndef PL_BENCH_SOURCE_DIR
#define PL_BENCH_SOURCE_DIR "."
#endif

static double clock_s(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int parse_int(const char *what, const char *s, int lo, int hi, int *out) {
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "parley bench asr: %s '%s' is not a number in %d..%d\n", what, s, lo, hi);
        return 0;
    }
    *out = (int)v;
    return 1;
}

int pl_bench_asr(int argc, char **argv) {
    const char *model = PL_BENCH_SOURCE_DIR "/models/asr-en-quartznet";
    int seconds = 10, iters = 5, batches[16] = {1, 8, 32}, n_batches = 3, cuda = 1, rc = 1;
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && !strcmp(argv[i], "--model"))
            model = argv[++i];
        else if (i + 1 < argc && !strcmp(argv[i], "--seconds")) {
            if (!parse_int("--seconds", argv[++i], 1, 3600, &seconds)) return 2;
        } else if (i + 1 < argc && !strcmp(argv[i], "--iters")) {
            if (!parse_int("--iters", argv[++i], 1, 1000, &iters)) return 2;
        } else if (i + 1 < argc && !strcmp(argv[i], "--batches")) {
            const char *s = argv[++i];
            n_batches = 0;
            while (*s && n_batches < 16) {
                char item[16];
                size_t k = strcspn(s, ",");
                if (k == 0 || k >= sizeof item) break;
                memcpy(item, s, k);
                item[k] = '\0';
                if (!parse_int("--batches", item, 1, 1024, &batches[n_batches])) return 2;
                n_batches++;
                s += k + (s[k] == ',');
            }
            if (!n_batches) {
                fprintf(stderr, "parley bench asr: --batches wants a list like 1,8,32\n");
                return 2;
            }
        } else if (!strcmp(argv[i], "--no-cuda"))
            cuda = 0;
        else {
            fprintf(stderr, "parley bench asr: unexpected '%s'\n", argv[i]);
            return 2;
        }
    }

    struct pl_asr_model *m = NULL;
    struct pl_asr_state *s = NULL;
    float *feats = NULL, *ref = NULL;
    double *cpu_t = NULL, *wall_t = NULL;
    if (pl_asr_model_load(model, NULL, &m) != PL_OK) {
        fprintf(stderr, "parley bench asr: %s\n", pl_last_error());
        return 1;
    }
    const struct pl_asr_model_config *cfg = pl_asr_model_get_config(m);
    const int T = seconds * 100, rows = pl_asr_model_n_out(m, T);
    feats = pl_malloc((size_t)T * cfg->n_mels * sizeof *feats);
    ref = pl_malloc(((size_t)rows + 1) * cfg->vocab_size * sizeof *ref);
    cpu_t = pl_calloc((size_t)iters, sizeof *cpu_t);
    wall_t = pl_calloc((size_t)iters, sizeof *wall_t);
    if (!feats || !ref || !cpu_t || !wall_t || pl_asr_state_create(m, 0, &s) != PL_OK) {
        fprintf(stderr, "parley bench asr: out of memory\n");
        goto done;
    }
    uint64_t x = 88172645463325252ull;
    for (size_t i = 0; i < (size_t)T * cfg->n_mels; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        feats[i] = (float)((x >> 11) * (4.0 / 9007199254740992.0) - 2.0);
    }
    printf("asr model %s: %d convs, %.2f MMAC/frame, %d s of audio = %d frames -> %d outputs\n",
           model, cfg->n_convs, cfg->macs_per_frame / 1e6, seconds, T, rows);
    printf("%-6s %5s %11s %12s %10s\n", "device", "batch", "ms/forward", "RTF", "x realtime");
    int n = 0;
    if (pl_asr_model_forward(s, feats, T, ref, &n) != PL_OK) { /* warm-up */
        fprintf(stderr, "parley bench asr: %s\n", pl_last_error());
        goto done;
    }
    for (int it = 0; it < iters; it++) {
        double c0 = clock_s(CLOCK_THREAD_CPUTIME_ID), w0 = clock_s(CLOCK_MONOTONIC);
        if (pl_asr_model_forward(s, feats, T, ref, &n) != PL_OK) {
            fprintf(stderr, "parley bench asr: %s\n", pl_last_error());
            goto done;
        }
        cpu_t[it] = clock_s(CLOCK_THREAD_CPUTIME_ID) - c0;
        wall_t[it] = clock_s(CLOCK_MONOTONIC) - w0;
    }
    qsort(cpu_t, (size_t)iters, sizeof *cpu_t, cmp_d);
    qsort(wall_t, (size_t)iters, sizeof *wall_t, cmp_d);
    printf("%-6s %5d %11.3f %12.6f %10.1f   (thread CPU time; wall %.3f ms)\n", "cpu", 1,
           cpu_t[iters / 2] * 1e3, cpu_t[iters / 2] / seconds, seconds / cpu_t[iters / 2],
           wall_t[iters / 2] * 1e3);
    rc = 0;
    if (cuda) {
        pl_status st = pl_bench_asr_device(model, "cuda", feats, T, ref, n, batches, n_batches,
                                           iters, seconds);
        if (st != PL_OK && st != PL_E_UNSUPPORTED) {
            fprintf(stderr, "parley bench asr: cuda: %s\n", pl_last_error());
            rc = 1;
        }
    }
done:
    pl_asr_state_destroy(s);
    pl_asr_model_destroy(m);
    pl_free(feats);
    pl_free(ref);
    pl_free(cpu_t);
    pl_free(wall_t);
    return rc;
}
