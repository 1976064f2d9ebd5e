/* bench_asr_gpu.c - the GPU half of `parley bench asr` (pl_cuda_asr_*, built
 * only when the CUDA library is). Wall time per pl_cuda_asr_forward call,
 * host-to-device features and device-to-host log-probs included. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "alloc.h"
#include "bench_asr.h"
#include "pl_cuda.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

pl_status pl_bench_asr_gpu(const struct pl_asr_model *m, const float *feats, int T,
                           const float *ref, int ref_rows, const int *batches, int n_batches,
                           int iters, double seconds) {
    pl_status st = PL_OK;
    struct pl_cuda_ctx *ctx = NULL;
    struct pl_asr_model_view *view = NULL;
    struct pl_cuda_asr *g = NULL;
    const float **fp = NULL;
    float **outs = NULL;
    int *lens = NULL, *n_out = NULL, max_b = 1, n_dev = 0;
    double *times = NULL;
    const int V = pl_asr_model_get_config(m)->vocab_size;

    if (pl_cuda_device_count(&n_dev) != PL_OK || n_dev < 1) {
        printf("cuda: not measured (no CUDA device)\n");
        return PL_ERR(PL_E_UNSUPPORTED, "parley bench asr: no CUDA device");
    }
    for (int i = 0; i < n_batches; i++) max_b = batches[i] > max_b ? batches[i] : max_b;
    PL_TRY_GOTO(st, pl_cuda_ctx_create(0, &ctx));
    PL_TRY_GOTO(st, pl_asr_model_view_create(m, &view));
    PL_TRY_GOTO(st, pl_cuda_asr_create(ctx, view, &g));
    fp = pl_calloc((size_t)max_b, sizeof *fp);
    outs = pl_calloc((size_t)max_b, sizeof *outs);
    lens = pl_calloc((size_t)max_b, sizeof *lens);
    n_out = pl_calloc((size_t)max_b, sizeof *n_out);
    times = pl_calloc((size_t)iters, sizeof *times);
    if (!fp || !outs || !lens || !n_out || !times) {
        st = PL_ERR(PL_E_NOMEM, "parley bench asr: out of memory");
        goto fail;
    }
    for (int b = 0; b < max_b; b++) {
        fp[b] = feats;
        lens[b] = T;
        outs[b] = pl_malloc(((size_t)ref_rows + 1) * V * sizeof(float));
        if (!outs[b]) {
            st = PL_ERR(PL_E_NOMEM, "parley bench asr: out of memory");
            goto fail;
        }
    }
    printf("cuda: %s\n", pl_cuda_ctx_device_name(ctx));
    for (int bi = 0; bi < n_batches; bi++) {
        const int nb = batches[bi];
        if (nb < 1) continue;
        PL_TRY_GOTO(st, pl_cuda_asr_forward(g, nb, fp, lens, outs, n_out)); /* warm-up */
        for (int it = 0; it < iters; it++) {
            double t0 = now_s();
            PL_TRY_GOTO(st, pl_cuda_asr_forward(g, nb, fp, lens, outs, n_out));
            times[it] = now_s() - t0;
        }
        qsort(times, (size_t)iters, sizeof *times, cmp_d);
        double med = times[iters / 2], diff = 0;
        if (n_out[0] != ref_rows) {
            st = PL_ERR(PL_E_INTERNAL, "parley bench asr: cuda gave %d rows, the CPU %d", n_out[0],
                        ref_rows);
            goto fail;
        }
        for (size_t e = 0; e < (size_t)ref_rows * V; e++) {
            double d = fabs((double)outs[0][e] - ref[e]);
            diff = d > diff || d != d ? d : diff;
        }
        printf("%-6s %5d %11.3f %12.6f %10.1f   max|cuda-cpu| %.2g\n", "cuda", nb, med * 1e3,
               med / (nb * seconds), nb * seconds / med, diff);
    }
fail:
    for (int b = 0; outs && b < max_b; b++) pl_free(outs[b]);
    pl_free(fp);
    pl_free(outs);
    pl_free(lens);
    pl_free(n_out);
    pl_free(times);
    pl_cuda_asr_destroy(g);
    pl_asr_model_view_destroy(view);
    pl_cuda_ctx_destroy(ctx);
    return st;
}
