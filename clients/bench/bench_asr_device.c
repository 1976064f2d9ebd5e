/* bench_asr_device.c - the device half of `parley bench asr`: the same model
 * loaded on a device backend ("cuda"), whole utterances through
 * pl_asr_batch_forward. Wall time per call, host-to-device features and
 * device-to-host log-probs included. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "bench_asr.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

pl_status pl_bench_asr_device(const char *model_dir, const char *device, const float *feats,
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
            double t0 = now_s();
            PL_TRY_GOTO(st, pl_asr_batch_forward(b, states, nb, fp, lens, outs, n_out));
            times[it] = now_s() - t0;
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
