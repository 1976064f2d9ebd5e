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

#endif
