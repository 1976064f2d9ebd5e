/*
 * bench_asr.h - `parley bench asr`: the ASR acoustic model's forward on the
 * CPU and, where Parley has CUDA and a device, on the GPU (real-time factors).
 */
#ifndef PL_BENCH_ASR_H
#define PL_BENCH_ASR_H

#include "models/asr_model.h"
#include "status.h"

/* `parley bench asr ARGS` (argv[0] = "asr"); returns the exit status. */
int pl_bench_asr(int argc, char **argv);

/*
 * The device half (bench_asr_device.c): loads model_dir on `device`
 * ("cuda"), times pl_asr_batch_forward on batches[i] copies of feats
 * [T, n_mels] (seconds of audio each), iters timed runs after one warm-up,
 * prints one row per batch, and checks the first utterance against ref (the
 * CPU's log-probs, ref_rows rows). PL_E_UNSUPPORTED: the device cannot be
 * used (built without CUDA, no device; a line says why); other errors as
 * pl_asr_*.
 */
pl_status pl_bench_asr_device(const char *model_dir, const char *device, const float *feats,
                              int T, const float *ref, int ref_rows, const int *batches,
                              int n_batches, int iters, double seconds);

#endif
