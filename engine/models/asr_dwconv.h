/*
 * asr_dwconv.h - private to the ASR model: the depthwise 1-D convolution
 * kernel on time-major frames, in a generic C form (the oracle) and AVX2 /
 * AVX-512 forms chosen at run time.
 */
#ifndef PL_ASR_DWCONV_H
#define PL_ASR_DWCONV_H

#include <stdbool.h>

/* y[i][c] = sum_k w[k][c] * x[i*s + k*d][c] for i < n_out, c < ch.
 * x: [(n_out-1)*s + (k-1)*d + 1][ch], w: [k][ch], y: [n_out][ch]; rows
 * contiguous. y must not overlap x. Thread-safe (pure). */
typedef void (*pl_asr_dwconv_fn)(int n_out, int ch, int k, int d, int s, const float *x,
                                 const float *w, float *y);

/* The best kernel for this CPU (PARLEY_CPU_KERNELS=generic|avx2 forces a
 * lower one), or the generic one when use_ref. Never NULL. */
pl_asr_dwconv_fn pl__asr_dwconv_select(bool use_ref);

#endif
