/*
 * bench_asr_model.c - real-time factor of the ASR acoustic model on one
 * CPU thread (states and batches compute on one thread unless
 * pl_asr_batch_set_threads asks for more):
 *
 *   bench_asr_model MODEL_DIR [SECONDS=10] [CHUNK=16] [REPEATS=5]
 *
 * Random features for SECONDS of audio (100 frames/s) go through the full
 * forward (chunks of 256 frames) and through a state fed CHUNK frames at a
 * time; prints the median thread CPU time of REPEATS runs and RTF = time / SECONDS,
 * on the "cpu" backend with its best kernels ("simd") and with the portable C
 * family (PARLEY_CPU_KERNELS=generic, "generic"). MODEL_DIR is any model
 * directory (tests/reference/asr_model_ref.py OUT --config default --cases 1
 * makes one with the shipped geometry and random weights).
 *
 *   bench_asr_model --check DIR
 *
 * compares the engine with a reference directory written by
 * tests/reference/asr_model_ref.py (e.g. a training checkpoint on real
 * features): max |diff| of the full forward ("cpu" and "cpu-ref") and of
 * 16-frame chunks, and how many frames' argmax agree. Exit 1 above 1e-4.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "models/asr_model.h"

/* Thread CPU time: on a shared, loaded machine wall time mostly measures the
 * other processes; the CPU time this thread used is what one free core needs. */
static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static float *read_f32(const char *dir, const char *name, size_t n) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    float *p = pl_malloc(n * sizeof(float) + 4);
    if (fread(p, sizeof(float), n + 1, f) != n) {
        pl_free(p);
        p = NULL;
    }
    fclose(f);
    return p;
}

static int check(const char *dir) {
    char path[1024];
    snprintf(path, sizeof path, "%s/cases.txt", dir);
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        return 1;
    }
    int cases[256], nc = 0;
    while (nc < 256 && fscanf(f, "%d", &cases[nc]) == 1)
        nc++;
    fclose(f);
    double worst_all = 0;
    for (int ref = 0; ref < 2; ref++) {
        struct pl_asr_model_options o = {.device = ref ? "cpu-ref" : "cpu"};
        struct pl_asr_model *m;
        struct pl_asr_state *s, *s16;
        if (pl_asr_model_load(dir, &o, &m) != PL_OK || pl_asr_state_create(m, 0, &s) != PL_OK ||
            pl_asr_state_create(m, 16, &s16) != PL_OK) {
            fprintf(stderr, "load: %s\n", pl_last_error());
            return 1;
        }
        const struct pl_asr_model_config *c = pl_asr_model_get_config(m);
        int V = c->vocab_size;
        for (int i = 0; i < nc; i++) {
            int T = cases[i], To = pl_asr_model_n_out(m, T), k, agree = 0, done = 0;
            char name[64];
            snprintf(name, sizeof name, "feats_%d.f32", i);
            float *x = read_f32(dir, name, (size_t)T * c->n_mels);
            snprintf(name, sizeof name, "logp_%d.f32", i);
            float *want = read_f32(dir, name, (size_t)To * V);
            float *got = pl_malloc(((size_t)To + 1) * V * sizeof(float));
            float *st = pl_malloc(((size_t)To + 1) * V * sizeof(float));
            float *tmp = pl_malloc((size_t)pl_asr_state_max_out(s16) * V * sizeof(float));
            if (!x || !want || pl_asr_model_forward(s, x, T, got, &k) != PL_OK || k != To) {
                fprintf(stderr, "case %d: %s\n", i, x && want ? pl_last_error() : "missing file");
                return 1;
            }
            pl_asr_state_reset(s16);
            for (int off = 0; off < T; off += 16) {
                int n = T - off < 16 ? T - off : 16;
                pl_asr_state_feed(s16, x + (size_t)off * c->n_mels, n, tmp, &k);
                memcpy(st + (size_t)done * V, tmp, (size_t)k * V * sizeof(float));
                done += k;
            }
            pl_asr_state_finish(s16, tmp, &k);
            memcpy(st + (size_t)done * V, tmp, (size_t)k * V * sizeof(float));
            double d = 0, ds = 0;
            for (int r = 0; r < To; r++) {
                int a = 0, b = 0;
                for (int v = 0; v < V; v++) {
                    size_t e = (size_t)r * V + v;
                    double dd = fabs((double)got[e] - want[e]), de = fabs((double)st[e] - got[e]);
                    if (!(dd <= d)) d = dd;
                    if (!(de <= ds)) ds = de;
                    if (got[e] > got[(size_t)r * V + a]) a = v;
                    if (want[e] > want[(size_t)r * V + b]) b = v;
                }
                agree += a == b;
            }
            printf("%s: case %d T=%d: max |engine - pytorch| %.3g, max |chunks16 - full| "
                   "%.3g, argmax agrees on %d/%d frames\n",
                   o.device, i, T, d, ds, agree, To);
            if (d > worst_all) worst_all = d;
            if (ds > worst_all) worst_all = ds;
            pl_free(x);
            pl_free(want);
            pl_free(got);
            pl_free(st);
            pl_free(tmp);
        }
        pl_asr_state_destroy(s);
        pl_asr_state_destroy(s16);
        pl_asr_model_destroy(m);
    }
    return worst_all <= 1e-4 ? 0 : 1;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--check") == 0) return check(argv[2]);
    if (argc < 2) {
        fprintf(stderr, "usage: %s MODEL_DIR [SECONDS] [CHUNK] [REPEATS]\n", argv[0]);
        return 2;
    }
    char *end = NULL;
    double secs = argc > 2 ? strtod(argv[2], &end) : 10.0;
    if (argc > 2 && *end) return 2;
    long lchunk = argc > 3 ? strtol(argv[3], &end, 10) : 16;
    if (argc > 3 && *end) return 2;
    long lreps = argc > 4 ? strtol(argv[4], &end, 10) : 5;
    if (argc > 4 && *end) return 2;
    if (!(secs > 0 && secs < 3600) || lchunk < 1 || lchunk > 100000 || lreps < 1 || lreps > 100000)
        return 2;
    int chunk = (int)lchunk, reps = (int)lreps;
    int T = (int)(secs * 100);
    for (int ref = 0; ref < 2; ref++) {
        /* the kernel family is chosen when a backend is created: it stays set
         * while this model's states and batches exist */
        if (ref)
            setenv("PARLEY_CPU_KERNELS", "generic", 1);
        else
            unsetenv("PARLEY_CPU_KERNELS");
        struct pl_asr_model *m;
        if (pl_asr_model_load(argv[1], NULL, &m) != PL_OK) {
            fprintf(stderr, "load: %s\n", pl_last_error());
            return 1;
        }
        const struct pl_asr_model_config *c = pl_asr_model_get_config(m);
        float *x = pl_malloc((size_t)T * c->n_mels * sizeof(float));
        unsigned seed = 1;
        for (size_t i = 0; i < (size_t)T * c->n_mels; i++) {
            seed = seed * 1103515245u + 12345u;
            x[i] = ((seed >> 8) & 0xffff) / 32768.0f - 1.0f;
        }
        int To = pl_asr_model_n_out(m, T), V = c->vocab_size, k;
        float *out = pl_malloc((size_t)(To + 1) * V * sizeof(float));
        struct pl_asr_state *full, *st;
        if (pl_asr_state_create(m, 256, &full) != PL_OK ||
            pl_asr_state_create(m, chunk, &st) != PL_OK)
            return 1;
        float *tmp = pl_malloc((size_t)pl_asr_state_max_out(st) * V * sizeof(float));
        double *tf = pl_malloc(sizeof(double) * reps), *ts = pl_malloc(sizeof(double) * reps);
        pl_asr_model_forward(full, x, T, out, &k); /* warm-up */
        for (int r = 0; r < reps; r++) {
            double t0 = now();
            if (pl_asr_model_forward(full, x, T, out, &k) != PL_OK) return 1;
            tf[r] = now() - t0;
            t0 = now();
            pl_asr_state_reset(st);
            for (int off = 0; off < T; off += chunk) {
                int n = T - off < chunk ? T - off : chunk;
                if (pl_asr_state_feed(st, x + (size_t)off * c->n_mels, n, tmp, &k) != PL_OK)
                    return 1;
            }
            pl_asr_state_finish(st, tmp, &k);
            ts[r] = now() - t0;
        }
        /* 8 streams stepped together (one batch) vs one after another */
        enum { NB = 8 };
        struct pl_asr_batch *b;
        struct pl_asr_state *bs[NB];
        float *bo[NB];
        const float *bf[NB];
        int bn[NB], bk[NB];
        if (pl_asr_batch_create(m, NB, chunk, &b) != PL_OK) return 1;
        for (int i = 0; i < NB; i++) {
            if (pl_asr_state_create(m, chunk, &bs[i]) != PL_OK) return 1;
            bo[i] = pl_malloc((size_t)pl_asr_state_max_out(bs[i]) * V * sizeof(float));
        }
        double tb = now();
        for (int i = 0; i < NB; i++)
            pl_asr_state_reset(bs[i]);
        for (int off = 0; off < T; off += chunk) {
            int n = T - off < chunk ? T - off : chunk;
            for (int i = 0; i < NB; i++) {
                bf[i] = x + (size_t)off * c->n_mels;
                bn[i] = n;
            }
            if (pl_asr_batch_step(b, bs, NB, bf, bn, NULL, bo, bk) != PL_OK) return 1;
        }
        tb = (now() - tb) / NB;
        for (int i = 0; i < NB; i++) {
            pl_free(bo[i]);
            pl_asr_state_destroy(bs[i]);
        }
        pl_asr_batch_destroy(b);
        qsort(tf, reps, sizeof(double), cmp);
        qsort(ts, reps, sizeof(double), cmp);
        double tmed = tf[reps / 2], smed = ts[reps / 2];
        printf("%s kernels: %.1f s audio (%d frames -> %d), %.2f MMAC/out frame: full forward "
               "%.1f ms (RTF %.4f, %.1f GFLOP/s); stream chunk %d (%d ms) %.1f ms (RTF %.4f); %d "
               "streams batched: %.1f ms per stream (RTF %.4f)\n",
               ref ? "generic" : "simd", secs, T, To, c->macs_per_frame / 1e6, tmed * 1e3,
               tmed / secs, 2.0 * c->macs_per_frame * To / tmed / 1e9, chunk, chunk * 10,
               smed * 1e3, smed / secs, NB, tb * 1e3, tb / secs);
        pl_free(tf);
        pl_free(ts);
        pl_free(tmp);
        pl_free(out);
        pl_free(x);
        pl_asr_state_destroy(st);
        pl_asr_state_destroy(full);
        pl_asr_model_destroy(m);
    }
    return 0;
}
