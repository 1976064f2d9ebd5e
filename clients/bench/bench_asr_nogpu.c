/* bench_asr_nogpu.c - the GPU half of `parley bench asr` in a build without CUDA. */
#include <stdio.h>

#include "bench_asr.h"

pl_status pl_bench_asr_gpu(const struct pl_asr_model *m, const float *feats, int T,
                           const float *ref, int ref_rows, const int *batches, int n_batches,
                           int iters, double seconds) {
    PL_UNUSED(m);
    PL_UNUSED(feats);
    PL_UNUSED(T);
    PL_UNUSED(ref);
    PL_UNUSED(ref_rows);
    PL_UNUSED(batches);
    PL_UNUSED(n_batches);
    PL_UNUSED(iters);
    PL_UNUSED(seconds);
    printf("cuda: not measured (Parley was built without CUDA)\n");
    return PL_ERR(PL_E_UNSUPPORTED, "parley bench asr: built without CUDA");
}
