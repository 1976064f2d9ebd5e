/*
 * parley-bench - `parley bench <what>`:
 *
 *   parley bench encoder [--model DIR] [--threads 1,2] [--precision f32,int8]
 *                        [--seqs 16,64,128,384] [--iters N] [--tp-iters N] [--tp-batch B]
 *                        [--no-torch] [--no-gemm] [--ort] [--profile]
 *       BERT-base shape (12 x 768, random weights; made once under
 *       /tmp/parley-bench-bert-base unless --model is given): latency p50/p99
 *       at batch 1 x each seq, throughput at batch B (32) x 128, per thread count
 *       and precision; the PyTorch peer (clients/bench/bench_torch.py, same
 *       weights and threads) in the same run, with our/their ratios (and, with
 *       --ort, ONNX Runtime via node + onnxruntime-node in $PL_ORT_DIR: the f32
 *       graph, and for int8 its dynamic-int8 rewrite by ort_int8.py); then GEMM.
 *       --profile: after each shape, where the engine's time went by kind of
 *       work (GEMM, epilogues, attention parts, LayerNorm, pool; see
 *       pl_backend_cpu_profile).
 *   parley bench gemm [--threads 1,2]
 *       GFLOP/s of the engine's GEMM (the Linear op) on BERT shapes, against
 *       the measured FMA peak and OpenBLAS sgemm (comparison only).
 *   parley bench gemm --bert 16,128,384,1024
 *       one thread, the packed Linear at those rows and BERT-base's four
 *       weight shapes, weights hot (cached) and cold (from memory).
 *   parley bench asr [--model DIR] [--seconds S] [--iters N] [--batches 1,8,32] [--no-cuda]
 *       the ASR acoustic model's whole-utterance forward: real-time factor on
 *       one CPU thread, and on the GPU (batches) where there is CUDA and a
 *       device (bench_asr.c).
 */
#include <cblas.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "alloc.h"
#include "backend.h"
#include "bench_asr.h"
#include "log.h"
#include "models/bert.h"
#include "util.h"

double pl_bench_peak_avx2(int64_t iters, float *sink);
double pl_bench_peak_avx512(int64_t iters, float *sink);
double pl_bench_peak_i8_avx2(int64_t iters, int *sink);
double pl_bench_peak_i8_avxvnni(int64_t iters, int *sink);

static int parse_list(const char *s, int *out, int max) {
    int n = 0;
    while (s && *s && n < max) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s) break;
        out[n++] = (int)v;
        s = *end == ',' ? end + 1 : end;
    }
    return n;
}

/* Process CPU time: on this shared 2-core machine wall time mostly measures
 * the neighbours; with one thread CPU time is what an idle machine's wall
 * time would be (minus cache interference). */
static int64_t cpu_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* CPU time of the calling thread: the peak probes run on it alone, while the
 * process's time also counts OpenBLAS's workers, which spin for a while after
 * the library starts them (on a 2-vCPU Zen 3 that halved the AVX2 peak
 * measured by process time: 46.7-51.2 against 102 GFLOP/s). */
static int64_t thread_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double measured_peak(const char **isa) {
    float sink;
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) {
        *isa = "AVX-512";
        pl_bench_peak_avx512(1000000, &sink);
        int64_t c0 = thread_ns();
        pl_bench_peak_avx512(20000000, &sink);
        return 20000000.0 * 12 * 16 * 2 / ((double)(thread_ns() - c0) * 1e-9);
    }
    *isa = "AVX2";
    pl_bench_peak_avx2(1000000, &sink);
    int64_t c0 = thread_ns();
    pl_bench_peak_avx2(20000000, &sink);
    return 20000000.0 * 12 * 8 * 2 / ((double)(thread_ns() - c0) * 1e-9);
}

/* The int8 OP/s of the instructions of the int8 GEMM of the AVX2 kernel family
 * `family` (peak.c), by CPU time, and their name in *what: avx2's vpmaddwd +
 * vpaddd, avx2vnni's vpdpbusd on ymm; 0 for the others (the AVX-512 families'
 * int8 GEMM is AVX-512 VNNI's). */
static double measured_peak_i8(const char *family, const char **what) {
    int sink, vnni = strcmp(family, "avx2vnni") == 0;
    if (!vnni && strcmp(family, "avx2") != 0) return 0;
    double (*fn)(int64_t, int *) = vnni ? pl_bench_peak_i8_avxvnni : pl_bench_peak_i8_avx2;
    *what = vnni ? "AVX-VNNI, vpdpbusd on ymm" : "without VNNI, vpmaddwd + vpaddd";
    fn(1000000, &sink);
    int64_t c0 = thread_ns();
    fn(20000000, &sink);
    return 20000000.0 * 12 * (vnni ? 32 : 16) * 2 / ((double)(thread_ns() - c0) * 1e-9);
}

/* ---- GEMM -------------------------------------------------------------------- */

/* The best of reps timed computes of g after one warm-up: process CPU time when use_cpu (one
 * thread), else wall time. */
static double best_compute(struct pl_backend *be, struct pl_graph *g, int reps, int use_cpu) {
    double best = 1e30;
    for (int r = 0; r <= reps; r++) {
        int64_t t0 = use_cpu ? cpu_ns() : pl_time_mono_ns();
        pl_backend_graph_compute(be, g);
        double dt = (double)((use_cpu ? cpu_ns() : pl_time_mono_ns()) - t0) * 1e-9;
        if (r) best = fmin(best, dt);
    }
    return best;
}

static int bench_gemm(const int *threads, int n_threads) {
    static const int shapes[][3] = {{4096, 768, 768}, {4096, 3072, 768}, {4096, 768, 3072}, {128, 768, 768}};
    const char *isa;
    double peak = measured_peak(&isa);
    printf("\nGEMM (C[M,N] = A[M,K] . W[N,K]^T, f32), measured %s FMA peak %.1f GFLOP/s per core\n", isa,
           peak / 1e9);
    struct pl_backend *be;
    if (pl_backend_create("cpu", &be) != PL_OK) return 1;
    const char *i8_what = NULL;
    double peak_i8 = measured_peak_i8(pl_backend_cpu_kernels(be), &i8_what);
    if (peak_i8 > 0) printf("(int8 %s: measured %.1f GOP/s per core)\n", i8_what, peak_i8 / 1e9);
    printf("%-6s %-18s %12s %8s %14s %8s %12s %12s %12s\n", "thr", "M x N x K", "parley GF/s", "%peak",
           "OpenBLAS GF/s", "ours/blas", "int8 GOP/s", "bf16 GF/s", "unpacked");
    printf("(parley, int8, bf16: weights packed at load where the kernels have a packed GEMM, as\n"
           " the encoders' are, the int8 column with its activations' quantization; unpacked:\n"
           " f32 without packing)\n");
    printf("(1 thread: process CPU time; 2+ threads: wall time)\n");
    for (int ti = 0; ti < n_threads; ti++) {
        pl_backend_cpu_set_threads(be, threads[ti]);
        openblas_set_num_threads(threads[ti]);
        for (size_t si = 0; si < PL_ARRAY_LEN(shapes); si++) {
            int m = shapes[si][0], n = shapes[si][1], k = shapes[si][2];
            struct pl_ctx *ctx;
            struct pl_graph *g;
            struct pl_buffer *buf;
            struct pl_tensor *x, *w, *y;
            size_t bytes = ((size_t)m * k + (size_t)n * k + (size_t)m * n) * 4 + 256;
            if (pl_ctx_create(12, &ctx) || pl_graph_create(2, &g) || pl_backend_buffer_alloc(be, bytes, &buf))
                return 1;
            pl_tensor_new_2d(ctx, PL_DTYPE_F32, m, k, &x);
            pl_tensor_new_2d(ctx, PL_DTYPE_F32, n, k, &w);
            pl_tensor_place(x, buf, 0);
            pl_tensor_place(w, buf, (size_t)m * k * 4);
            pl_op_linear(ctx, x, w, NULL, NULL, PL_ACT_NONE, &y);
            pl_tensor_place(y, buf, ((size_t)m * k + (size_t)n * k) * 4);
            pl_graph_add(g, y);
            float *xd = x->data, *wd = w->data;
            for (size_t i = 0; i < (size_t)m * k; i++) xd[i] = (float)((i * 37) % 101) * 0.01f - 0.5f;
            for (size_t i = 0; i < (size_t)n * k; i++) wd[i] = (float)((i * 53) % 97) * 0.01f - 0.48f;
            double flop = 2.0 * m * n * k, best_blas = 1e30, best_i8, best_bf;
            int reps = m >= 1024 ? 3 : 30;
            /* Time: wall for several threads, CPU time for one (see cpu_ns). */
            int use_cpu = threads[ti] == 1;
            double best_up = best_compute(be, g, reps, use_cpu);
            struct pl_buffer *pk = NULL;
            pl_backend_cpu_pack_weight(be, w, &pk);
            double best = best_compute(be, g, reps, use_cpu);
            pl_buffer_free(pk);
            w->packed = NULL;
            for (int r = 0; r <= reps; r++) {
                int64_t t0 = use_cpu ? cpu_ns() : pl_time_mono_ns();
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, xd, k, wd, k, 0.0f,
                            y->data, n);
                double dt = (double)((use_cpu ? cpu_ns() : pl_time_mono_ns()) - t0) * 1e-9;
                if (r) best_blas = fmin(best_blas, dt);
            }
            /* int8 weights (per-channel scales) + dynamic activation quantization. */
            {
                struct pl_tensor *wq, *sc, *yq;
                pl_tensor_new_2d(ctx, PL_DTYPE_I8, n, k, &wq);
                pl_tensor_new_1d(ctx, PL_DTYPE_F32, n, &sc);
                pl_tensor_place(wq, buf, (size_t)m * k * 4); /* reuse the f32 weight bytes */
                pl_tensor_place(sc, buf, (size_t)m * k * 4 + (size_t)n * k);
                for (size_t i = 0; i < (size_t)n * k; i++) ((int8_t *)wq->data)[i] = (int8_t)((i * 53) % 97 - 48);
                for (int i = 0; i < n; i++) ((float *)sc->data)[i] = 0.01f;
                pl_op_linear(ctx, x, wq, sc, NULL, PL_ACT_NONE, &yq);
                pl_tensor_place(yq, buf, ((size_t)m * k + (size_t)n * k) * 4);
                pl_graph_reset(g);
                pl_graph_add(g, yq);
                struct pl_buffer *pk8 = NULL; /* packed as the encoders' int8 weights are */
                pl_backend_cpu_pack_weight(be, wq, &pk8);
                best_i8 = best_compute(be, g, reps, use_cpu);
                pl_buffer_free(pk8);
            }
            /* bf16 weights, packed (K pairs on AVX-512 BF16, else widened to f32 panels) */
            {
                struct pl_tensor *wb, *yb;
                pl_tensor_new_2d(ctx, PL_DTYPE_BF16, n, k, &wb);
                pl_tensor_place(wb, buf, (size_t)m * k * 4);
                for (size_t i = 0; i < (size_t)n * k; i++)
                    ((uint16_t *)wb->data)[i] = pl_f32_to_bf16((float)((i * 53) % 97) * 0.01f - 0.48f);
                pl_op_linear(ctx, x, wb, NULL, NULL, PL_ACT_NONE, &yb);
                pl_tensor_place(yb, buf, ((size_t)m * k + (size_t)n * k) * 4);
                pl_graph_reset(g);
                pl_graph_add(g, yb);
                struct pl_buffer *pkb = NULL;
                pl_backend_cpu_pack_weight(be, wb, &pkb);
                best_bf = best_compute(be, g, reps, use_cpu);
                pl_buffer_free(pkb);
            }
            char shp[32];
            snprintf(shp, sizeof shp, "%dx%dx%d", m, n, k);
            printf("%-6d %-18s %12.1f %7.1f%% %14.1f %8.2f %12.1f %12.1f %12.1f\n", threads[ti], shp,
                   flop / best / 1e9, 100.0 * flop / best / (peak * threads[ti]),
                   flop / best_blas / 1e9, best_blas / best, flop / best_i8 / 1e9,
                   flop / best_bf / 1e9, flop / best_up / 1e9);
            pl_buffer_free(buf);
            pl_graph_destroy(g);
            pl_ctx_destroy(ctx);
        }
    }
    printf("(kernels: %s)\n", pl_backend_cpu_kernels(be));
    pl_backend_destroy(be);
    return 0;
}

/* ---- GEMM at BERT-base's shapes ---------------------------------------------- */

/* One thread, the Linear op with packed weights and a bias (and GELU on the
 * 3072 x 768 weight, as BERT's first feed-forward layer), at the rows of a
 * BERT-base forward (M = batch x sequence) and its four weight shapes. "hot":
 * the same weight every call (it stays in L2/L3); "cold": calls rotate over
 * enough copies (>= 64 MiB) that each weight comes from memory, as in a
 * forward. GFLOP/s by thread CPU time of the call at the 10th percentile (on
 * a shared machine the neighbours slow most calls; the fast tail is the kernel's). */
static int bench_gemm_bert(const int *ms, int n_ms) {
    static const int nk[][2] = {{768, 768}, {2304, 768}, {3072, 768}, {768, 3072}};
    const char *isa;
    double peak = measured_peak(&isa);
    printf("\nGEMM at BERT-base shapes (Linear, packed weights, 1 thread, thread CPU time), %s FMA "
           "peak %.1f GFLOP/s\n", isa, peak / 1e9);
    printf("%-6s %-12s %10s %7s %10s %7s\n", "M", "N x K", "hot GF/s", "%peak", "cold GF/s",
           "%peak");
    struct pl_backend *be;
    if (pl_backend_create("cpu", &be) != PL_OK) return 1;
    pl_backend_cpu_set_threads(be, 1);
    for (int mi = 0; mi < n_ms; mi++) {
        for (size_t si = 0; si < PL_ARRAY_LEN(nk); si++) {
            int m = ms[mi], n = nk[si][0], k = nk[si][1];
            size_t wbytes = (size_t)n * k * 4;
            int copies = (int)((64u << 20) / wbytes) + 1;
            struct pl_ctx *ctx;
            struct pl_buffer *buf;
            if (pl_ctx_create(4 * copies + 8, &ctx) ||
                pl_backend_buffer_alloc(be, ((size_t)m * k + (size_t)m * n + n) * 4 + wbytes * copies + 256,
                                        &buf))
                return 1;
            struct pl_tensor *x, *bias;
            pl_tensor_new_2d(ctx, PL_DTYPE_F32, m, k, &x);
            pl_tensor_place(x, buf, 0);
            pl_tensor_new_1d(ctx, PL_DTYPE_F32, n, &bias);
            pl_tensor_place(bias, buf, (size_t)m * k * 4 + wbytes * copies + (size_t)m * n * 4);
            for (int i = 0; i < n; i++) ((float *)bias->data)[i] = 0.01f * (float)(i % 7);
            float *xd = x->data;
            for (size_t i = 0; i < (size_t)m * k; i++)
                xd[i] = (float)((i * 37) % 101) * 0.01f - 0.5f;
            struct pl_graph **g = pl_calloc((size_t)copies, sizeof *g);
            struct pl_buffer **pk = pl_calloc((size_t)copies, sizeof *pk);
            for (int c = 0; c < copies; c++) {
                struct pl_tensor *w, *y;
                pl_tensor_new_2d(ctx, PL_DTYPE_F32, n, k, &w);
                pl_tensor_place(w, buf, (size_t)m * k * 4 + wbytes * c);
                float *wd = w->data;
                for (size_t i = 0; i < (size_t)n * k; i++)
                    wd[i] = (float)((i * 53 + c) % 97) * 0.01f - 0.48f;
                pl_op_linear(ctx, x, w, NULL, bias, n == 3072 ? PL_ACT_GELU_ERF : PL_ACT_NONE, &y);
                pl_tensor_place(y, buf, (size_t)m * k * 4 + wbytes * copies);
                pl_graph_create(1, &g[c]);
                pl_graph_add(g[c], y);
                pl_backend_cpu_pack_weight(be, w, &pk[c]);
            }
            double flop = 2.0 * m * n * k, res[2];
            int reps = (int)(2e9 / flop) + 10;
            if (reps > 400) reps = 400;
            double *dt = pl_calloc((size_t)reps, sizeof *dt);
            for (int cold = 0; cold < 2; cold++) {
                pl_backend_graph_compute(be, g[0]);
                for (int r = 0; r < reps; r++) {
                    struct pl_graph *gr = g[cold ? (r + 1) % copies : 0];
                    int64_t t0 = thread_ns();
                    pl_backend_graph_compute(be, gr);
                    dt[r] = (double)(thread_ns() - t0) * 1e-9;
                }
                qsort(dt, (size_t)reps, sizeof *dt, cmp_double);
                res[cold] = flop / dt[reps / 10] / 1e9;
            }
            char shp[32];
            snprintf(shp, sizeof shp, "%dx%d", n, k);
            printf("%-6d %-12s %10.1f %6.1f%% %10.1f %6.1f%%\n", m, shp, res[0],
                   100.0 * res[0] * 1e9 / peak, res[1], 100.0 * res[1] * 1e9 / peak);
            fflush(stdout);
            for (int c = 0; c < copies; c++) {
                pl_buffer_free(pk[c]);
                pl_graph_destroy(g[c]);
            }
            pl_free(dt);
            pl_free(g);
            pl_free(pk);
            pl_buffer_free(buf);
            pl_ctx_destroy(ctx);
        }
    }
    printf("(kernels: %s)\n", pl_backend_cpu_kernels(be));
    pl_backend_destroy(be);
    return 0;
}

/* ---- encoder ------------------------------------------------------------------- */

static const char *ensure_model(const char *dir) {
    static char path[512];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    struct stat sb;
    if (stat(path, &sb) == 0) return dir;
    char cmd[2048];
    fprintf(stderr, "making BERT-base random weights in %s ...\n", dir);
    snprintf(cmd, sizeof cmd,
             "%s %s/tests/reference/bert_ref.py %s --hidden 768 --layers 12 --heads 12 --inter 3072 "
             "--vocab 30522 --max-pos 512 --head none --cases '' >/dev/null",
             PL_BENCH_PYTHON, PL_BENCH_SOURCE_DIR, dir);
    if (system(cmd) != 0) return NULL;
    return dir;
}

struct lat {
    double p50, p99;
};

/* use_cpu: time with process CPU time (one thread; see cpu_ns). prof_be:
 * the CPU backend whose profile to restart after the warm-up, or NULL. */
static struct lat run_lat(struct pl_bert_state *st, int b, int s, int iters, int32_t *ids,
                          int use_cpu, struct pl_backend *prof_be) {
    double *ts = pl_malloc(sizeof(double) * (size_t)iters);
    pl_bert_forward(st, b, s, ids, NULL, NULL, NULL, NULL); /* warm-up */
    if (prof_be) pl_backend_cpu_set_profile(prof_be, true);
    for (int i = 0; i < iters; i++) {
        int64_t t0 = use_cpu ? cpu_ns() : pl_time_mono_ns();
        pl_bert_forward(st, b, s, ids, NULL, NULL, NULL, NULL);
        ts[i] = (double)((use_cpu ? cpu_ns() : pl_time_mono_ns()) - t0) * 1e-6;
    }
    qsort(ts, (size_t)iters, sizeof *ts, cmp_double);
    int i99 = (int)ceil(iters * 0.99) - 1;
    struct lat r = {ts[iters / 2], ts[i99 < 0 ? 0 : i99]};
    pl_free(ts);
    return r;
}

static json_t *run_torch(const char *model, int threads, const char *seqs, int iters, int tp_iters,
                         int tp_batch, bool int8, bool bf16) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "%s %s/clients/bench/bench_torch.py %s --threads %d --seqs %s --iters %d --tp-iters "
             "%d --tp-batch %d %s %s",
             PL_BENCH_PYTHON, PL_BENCH_SOURCE_DIR, model, threads, seqs, iters, tp_iters, tp_batch,
             int8 ? "--int8" : "", bf16 ? "--bf16" : "");
    FILE *p = popen(cmd, "r");
    if (!p) return NULL;
    char line[65536];
    json_t *res = NULL;
    while (fgets(line, sizeof line, p))
        if (line[0] == '{') res = json_loads(line, 0, NULL);
    pclose(p);
    return res;
}

/* ONNX Runtime peer: needs node and onnxruntime-node under $PL_ORT_DIR
 * (default /tmp/parley-ort; see docs/engine.md). int8: also times ONNX
 * Runtime's dynamic-int8 graph of the same weights (model-int8.onnx beside the
 * model, written by ort_int8.py from model.onnx). NULL when unavailable. */
static json_t *run_ort(const char *model, int threads, const char *seqs, int iters, int tp_iters,
                       int tp_batch, bool int8) {
    const char *dir = getenv("PL_ORT_DIR") ? getenv("PL_ORT_DIR") : "/tmp/parley-ort";
    char path[1024], qpath[1024], cmd[4096];
    struct stat sb;
    snprintf(path, sizeof path, "%s/node_modules/onnxruntime-node", dir);
    if (stat(path, &sb) != 0) {
        fprintf(stderr, "ORT peer skipped: %s missing\n", path);
        return NULL;
    }
    snprintf(path, sizeof path, "%s/model.onnx", model);
    if (stat(path, &sb) != 0) {
        snprintf(cmd, sizeof cmd, "%s %s/clients/bench/bench_torch.py %s --export-onnx %s >/dev/null 2>&1",
                 PL_BENCH_PYTHON, PL_BENCH_SOURCE_DIR, model, path);
        if (system(cmd) != 0) {
            fprintf(stderr, "ORT peer skipped: ONNX export failed\n");
            return NULL;
        }
    }
    qpath[0] = 0;
    if (int8) {
        snprintf(qpath, sizeof qpath, "%s/model-int8.onnx", model);
        if (stat(qpath, &sb) != 0) {
            snprintf(cmd, sizeof cmd, "PL_ORT_DIR=%s %s %s/clients/bench/ort_int8.py %s %s >&2", dir,
                     PL_BENCH_PYTHON, PL_BENCH_SOURCE_DIR, path, qpath);
            if (system(cmd) != 0) {
                fprintf(stderr, "ORT int8 peer skipped: ort_int8.py failed\n");
                qpath[0] = 0;
            }
        }
    }
    snprintf(cmd, sizeof cmd, "PL_ORT_DIR=%s node %s/clients/bench/bench_ort.js %s %d %s %d %d %d %s",
             dir, PL_BENCH_SOURCE_DIR, path, threads, seqs, iters, tp_iters, tp_batch, qpath);
    FILE *p = popen(cmd, "r");
    if (!p) return NULL;
    char line[65536];
    json_t *res = NULL;
    while (fgets(line, sizeof line, p))
        if (line[0] == '{') res = json_loads(line, 0, NULL);
    pclose(p);
    return res;
}

/* The profile of the forwards since run_lat's warm-up: per kind of work,
 * ms per forward (thread CPU time, all threads) and share of the process CPU
 * time; the pool's own share (spinning, waking, joining) is the rest. */
static void print_profile(struct pl_backend *be, int threads, const char *prec, const char *shape) {
    struct pl_cpu_profile p;
    if (pl_backend_cpu_profile(be, &p) != PL_OK || p.graphs == 0 || p.total_cpu_ms <= 0) return;
    double n = (double)p.graphs, sum = 0;
    printf("  profile %s %s, %d thread%s, %lld forwards: wall %.2f ms, CPU %.2f ms per forward\n",
           prec, shape, threads, threads > 1 ? "s" : "", (long long)p.graphs, p.wall_ms / n,
           p.total_cpu_ms / n);
    for (int k = 0; k < PL_CPU_PROF_COUNT; k++) {
        sum += p.cpu_ms[k];
        if (p.cpu_ms[k] > 0)
            printf("    %-14s %9.2f ms %6.1f%%\n", pl_cpu_prof_name(k), p.cpu_ms[k] / n,
                   100.0 * p.cpu_ms[k] / p.total_cpu_ms);
    }
    double rest = p.total_cpu_ms - sum;
    printf("    %-14s %9.2f ms %6.1f%%\n", "pool/rest", rest / n, 100.0 * rest / p.total_cpu_ms);
    printf("    %-14s %9.2f ms %6.1f%%   (caller's wall time waiting for workers)\n", "waits",
           p.wait_ms / n, 100.0 * p.wait_ms / p.wall_ms);
    double out = p.total_cpu_ms - p.cpu_ms[PL_CPU_PROF_GEMM];
    printf("    %-14s %9.2f ms %6.1f%%\n", "outside GEMM", out / n, 100.0 * out / p.total_cpu_ms);
    pl_backend_cpu_set_profile(be, false);
}

static double peer_p50(json_t *peer, const char *prec, const char *key) {
    json_t *l = json_object_get(json_object_get(json_object_get(peer, prec), "lat"), key);
    return l ? json_number_value(json_array_get(l, 0)) : 0;
}

static void print_peer(double ours, double theirs) {
    if (theirs > 0) printf(" %10.2f %8.2f", theirs, ours / theirs);
    else printf(" %10s %8s", "-", "-");
}

/* A whole decimal count >= lo (at most 1e6) for flag; false (and a message) otherwise. */
static bool parse_count(const char *flag, const char *s, int lo, int *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end || errno || v < lo || v > 1000000) {
        fprintf(stderr, "parley bench encoder: %s expects a count %d..1000000, got '%s'\n", flag, lo, s);
        return false;
    }
    *out = (int)v;
    return true;
}

static int bench_encoder(int argc, char **argv) {
    const char *model = NULL, *seqs_s = "16,64,128,384", *prec_s = "f32,int8";
    int threads[8] = {1, 2}, n_threads = 2, iters = 10, tp_iters = 2, torch = 1, gemm = 1, ort = 0;
    int profile = 0, tp_batch = 32;
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && !strcmp(argv[i], "--model")) model = argv[++i];
        else if (i + 1 < argc && !strcmp(argv[i], "--threads")) n_threads = parse_list(argv[++i], threads, 8);
        else if (i + 1 < argc && !strcmp(argv[i], "--seqs")) seqs_s = argv[++i];
        else if (i + 1 < argc && !strcmp(argv[i], "--precision")) prec_s = argv[++i];
        else if (i + 1 < argc && !strcmp(argv[i], "--iters")) {
            if (!parse_count(argv[i], argv[i + 1], 1, &iters)) return 2;
            i++;
        } else if (i + 1 < argc && !strcmp(argv[i], "--tp-batch")) {
            if (!parse_count(argv[i], argv[i + 1], 1, &tp_batch) || tp_batch > 32) {
                fprintf(stderr, "parley bench encoder: --tp-batch is 1..32\n");
                return 2;
            }
            i++;
        } else if (i + 1 < argc && !strcmp(argv[i], "--tp-iters")) {
            if (!parse_count(argv[i], argv[i + 1], 0, &tp_iters)) return 2;
            i++;
        }
        else if (!strcmp(argv[i], "--no-torch")) torch = 0;
        else if (!strcmp(argv[i], "--no-gemm")) gemm = 0;
        else if (!strcmp(argv[i], "--ort")) ort = 1;
        else if (!strcmp(argv[i], "--profile")) profile = 1;
        else {
            fprintf(stderr, "parley bench encoder: unexpected '%s'\n", argv[i]);
            return 2;
        }
    }
    if (!model && !(model = ensure_model("/tmp/parley-bench-bert-base"))) {
        fprintf(stderr, "parley bench: cannot make the model\n");
        return 1;
    }
    int seqs[8], n_seqs = parse_list(seqs_s, seqs, 8);
    /* bf16's peers: torch with bf16 weights; ONNX Runtime's f32 (it has no bf16 CPU kernels) */
    static const char *const precs[3] = {"f32", "int8", "bf16"};
    bool want[3];
    for (int pi = 0; pi < 3; pi++) want[pi] = strstr(prec_s, precs[pi]) != NULL;
    struct pl_backend *be;
    if (pl_backend_create("cpu", &be) != PL_OK) return 1;
    printf("parley bench encoder: %s, kernels %s, %d latency iterations, %d throughput iterations\n", model,
           pl_backend_cpu_kernels(be), iters, tp_iters);
    printf("(1 thread: process CPU time of ours and torch's; 2+ threads: wall time)\n");
    printf("%-4s %-5s %-8s %10s %10s %10s %8s %10s %8s\n", "thr", "prec", "shape", "p50 ms", "p99 ms",
           "torch p50", "ours/pt", "ORT p50", "ours/ORT");
    int32_t *ids = pl_malloc(sizeof(int32_t) * 32 * 512);
    for (int ti = 0; ti < n_threads; ti++) {
        pl_backend_cpu_set_threads(be, threads[ti]);
        json_t *tr =
            torch ? run_torch(model, threads[ti], seqs_s, iters, tp_iters, tp_batch, want[1], want[2])
                  : NULL;
        json_t *orr = ort ? run_ort(model, threads[ti], seqs_s, iters, tp_iters, tp_batch, want[1])
                         : NULL;
        for (int pi = 0; pi < 3; pi++) {
            const char *prec = precs[pi], *ort_prec = pi == 2 ? "f32" : prec;
            if (!want[pi]) continue;
            /* max_seq 0: the model's positions (at most 512); a longer --seqs entry fails */
            struct pl_bert_options opt = {.precision = prec, .max_batch = 32, .max_seq = 0};
            struct pl_bert *m;
            struct pl_bert_state *st;
            if (pl_bert_load(model, be, &opt, &m) != PL_OK || pl_bert_state_create(m, &st) != PL_OK) {
                fprintf(stderr, "parley bench: %s\n", pl_last_error());
                return 1;
            }
            int vocab = pl_bert_get_config(m)->vocab_size;
            for (int i = 0; i < 32 * 512; i++) ids[i] = (1000 + (i * 7919) % 20000) % vocab;
            for (int si = 0; si < n_seqs; si++) {
                struct lat l =
                    run_lat(st, 1, seqs[si], iters, ids, threads[ti] == 1, profile ? be : NULL);
                char shape[32], key[16];
                snprintf(shape, sizeof shape, "1x%d", seqs[si]);
                snprintf(key, sizeof key, "%d", seqs[si]);
                printf("%-4d %-5s %-8s %10.2f %10.2f", threads[ti], prec, shape, l.p50, l.p99);
                print_peer(l.p50, peer_p50(tr, prec, key));
                print_peer(l.p50, peer_p50(orr, ort_prec, key));
                printf("\n");
                if (profile) print_profile(be, threads[ti], prec, shape);
                fflush(stdout);
            }
            if (tp_iters > 0) {
                struct lat l = run_lat(st, tp_batch, 128, tp_iters, ids, threads[ti] == 1,
                                       profile ? be : NULL);
                double ours = tp_batch / (l.p50 / 1e3);
                double pt = json_number_value(json_object_get(json_object_get(tr, prec), "tp"));
                double ot = json_number_value(json_object_get(json_object_get(orr, ort_prec), "tp"));
                char tps[32];
                snprintf(tps, sizeof tps, "%dx128", tp_batch);
                printf("%-4d %-5s %-8s %10.2f %10s   throughput %.2f seq/s", threads[ti], prec, tps,
                       l.p50, "-", ours);
                if (pt > 0) printf(", torch %.2f (ours/torch %.2fx)", pt, ours / pt);
                if (ot > 0) printf(", ORT %.2f (ours/ORT %.2fx)", ot, ours / ot);
                printf("\n");
                if (profile) print_profile(be, threads[ti], prec, tps);
                fflush(stdout);
            }
            pl_bert_state_destroy(st);
            pl_bert_destroy(m);
        }
        if (tr) printf("     (torch %s, %d threads)\n", json_string_value(json_object_get(tr, "torch")), threads[ti]);
        if (orr) printf("     (ONNX Runtime %s, %d threads)\n", json_string_value(json_object_get(orr, "ort")), threads[ti]);
        json_decref(tr);
        json_decref(orr);
    }
    pl_free(ids);
    pl_backend_destroy(be);
    return gemm ? bench_gemm(threads, n_threads) : 0;
}

int main(int argc, char **argv) {
    pl_log_set_service("parley-bench");
    pl_log_set_level(getenv("PARLEY_PROFILE") ? PL_LOG_INFO : PL_LOG_WARN);
    if (argc >= 2 && !strcmp(argv[1], "encoder")) return bench_encoder(argc - 1, argv + 1);
    if (argc >= 2 && !strcmp(argv[1], "asr")) return pl_bench_asr(argc - 1, argv + 1);
    if (argc >= 2 && !strcmp(argv[1], "gemm")) {
        int threads[8] = {1, 2}, n = 2;
        if (argc >= 4 && !strcmp(argv[2], "--threads")) n = parse_list(argv[3], threads, 8);
        if (argc >= 4 && !strcmp(argv[2], "--bert")) {
            int ms[8], nm = parse_list(argv[3], ms, 8);
            return nm > 0 ? bench_gemm_bert(ms, nm) : 2;
        }
        return bench_gemm(threads, n);
    }
    fprintf(stderr, "usage: parley bench encoder [--model DIR] [--threads 1,2] [--precision f32,int8,bf16]\n"
                    "                            [--seqs 16,64,128,384] [--iters N] [--tp-iters N] [--no-torch] [--no-gemm] [--ort]\n"
                    "                            [--tp-batch B] [--profile]\n"
                    "       parley bench gemm [--threads 1,2 | --bert 16,128,384,1024]\n"
                    "       parley bench asr [--model DIR] [--seconds S] [--iters N] [--batches 1,8,32] [--no-cuda]\n");
    return 2;
}
