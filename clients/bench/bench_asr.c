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
#include <math.h>
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

/* The model loaded on `device` ("cuda"): pl_asr_batch_forward on batches[i] copies of feats
 * [T, n_mels] (seconds of audio each), iters timed runs after one warm-up (wall time, the
 * copies both ways included); one row per batch, the first utterance checked against ref
 * (the CPU's log-probs, ref_rows rows). PL_E_UNSUPPORTED: the device cannot be used (built
 * without CUDA, no device; a line says why); other errors as pl_asr_*. */
static pl_status bench_device(const char *model_dir, const char *device, const float *feats,
                              int T, const float *ref, int ref_rows, const int *batches,
                              int n_batches, int iters, double seconds) {
    pl_status st = PL_OK;
    struct pl_asr_model *m = NULL;
    struct pl_asr_batch *b = NULL;
    struct pl_asr_state **states = NULL;
    const float **fp = NULL;
    float **outs = NULL;
    int *lens = NULL, *n_out = NULL, max_b = 1, V;
    double *times = NULL;
    struct pl_asr_model_options o = {.device = device};

    for (int i = 0; i < n_batches; i++) max_b = batches[i] > max_b ? batches[i] : max_b;
    st = pl_asr_model_load(model_dir, &o, &m);
    if (st != PL_OK) {
        printf("%s: not measured (%s)\n", device, pl_last_error());
        return PL_ERR(PL_E_UNSUPPORTED, "parley bench asr: no %s", device);
    }
    V = pl_asr_model_get_config(m)->vocab_size;
    PL_TRY_GOTO(st, pl_asr_batch_create(m, max_b, 256, &b));
    states = pl_calloc((size_t)max_b, sizeof *states);
    fp = pl_calloc((size_t)max_b, sizeof *fp);
    outs = pl_calloc((size_t)max_b, sizeof *outs);
    lens = pl_calloc((size_t)max_b, sizeof *lens);
    n_out = pl_calloc((size_t)max_b, sizeof *n_out);
    times = pl_calloc((size_t)iters, sizeof *times);
    if (!states || !fp || !outs || !lens || !n_out || !times) {
        st = PL_ERR(PL_E_NOMEM, "parley bench asr: out of memory");
        goto fail;
    }
    for (int i = 0; i < max_b; i++) {
        fp[i] = feats;
        lens[i] = T;
        outs[i] = pl_malloc(((size_t)ref_rows + 1) * V * sizeof(float));
        if (!outs[i]) {
            st = PL_ERR(PL_E_NOMEM, "parley bench asr: out of memory");
            goto fail;
        }
        PL_TRY_GOTO(st, pl_asr_state_create(m, 256, &states[i]));
    }
    printf("%s: %s\n", device, pl_asr_model_device(m));
    for (int bi = 0; bi < n_batches; bi++) {
        const int nb = batches[bi];
        if (nb < 1) continue;
        PL_TRY_GOTO(st, pl_asr_batch_forward(b, states, nb, fp, lens, outs, n_out)); /* warm-up */
        for (int it = 0; it < iters; it++) {
            double t0 = clock_s(CLOCK_MONOTONIC);
            PL_TRY_GOTO(st, pl_asr_batch_forward(b, states, nb, fp, lens, outs, n_out));
            times[it] = clock_s(CLOCK_MONOTONIC) - t0;
        }
        qsort(times, (size_t)iters, sizeof *times, cmp_d);
        double med = times[iters / 2], diff = 0;
        if (n_out[0] != ref_rows) {
            st = PL_ERR(PL_E_INTERNAL, "parley bench asr: %s gave %d rows, the CPU %d", device,
                        n_out[0], ref_rows);
            goto fail;
        }
        for (size_t e = 0; e < (size_t)ref_rows * V; e++) {
            double d = fabs((double)outs[0][e] - ref[e]);
            diff = d > diff || d != d ? d : diff;
        }
        printf("%-6s %5d %11.3f %12.6f %10.1f   max|%s-cpu| %.2g\n", device, nb, med * 1e3,
               med / (nb * seconds), nb * seconds / med, device, diff);
    }
fail:
    for (int i = 0; states && i < max_b; i++) pl_asr_state_destroy(states[i]);
    for (int i = 0; outs && i < max_b; i++) pl_free(outs[i]);
    pl_free(states);
    pl_free(fp);
    pl_free(outs);
    pl_free(lens);
    pl_free(n_out);
    pl_free(times);
    pl_asr_batch_destroy(b);
    pl_asr_model_destroy(m);
    return st;
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
        pl_status st = bench_device(model, "cuda", feats, T, ref, n, batches, n_batches, iters,
                                    seconds);
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
