/*
 * vad.h - Silero VAD v5 (16 kHz network) on an engine backend (the CPU by
 * default): speech probability of each 512-sample (32 ms) window of 16 kHz
 * mono audio.
 *
 * Weights: a safetensors file (all F32):
 *   stft_conv.weight [258, 1, 256]   DFT basis: 129 real rows then 129 imaginary rows
 *   conv1.weight [128, 129, 3], conv1.bias [128]
 *   conv2.weight [64, 128, 3],  conv2.bias [64]
 *   conv3.weight [64, 64, 3],   conv3.bias [64]
 *   conv4.weight [128, 64, 3],  conv4.bias [128]
 *   lstm_cell.weight_ih [512, 128], lstm_cell.weight_hh [512, 128],
 *   lstm_cell.bias_ih [512], lstm_cell.bias_hh [512]   (gate order i, f, g, o)
 *   final_conv.weight [1, 128, 1], final_conv.bias [1]
 *
 * Network, per window: 64 samples of context (the last 64 samples of the
 * previous window; zeros after create/reset) + 512 new samples = 576;
 * reflection pad on the right by 64 -> 640; STFT as a conv1d, kernel 256,
 * stride 128 -> 4 frames x 258; magnitude sqrt(re^2 + im^2) -> 4 x 129;
 * 4 x (conv1d kernel 3, padding 1, ReLU), channels 129->128->64->64->128,
 * strides 1,2,2,1 -> 1 frame x 128; LSTMCell(128) with (h, c) kept across
 * windows; ReLU(h) -> 1x1 conv -> sigmoid = probability (the mean over the
 * single time step). docs/vad.md has the parity figures against the PyTorch
 * reference (tests/reference/vad_ref.py).
 *
 * The network runs as a graph of engine ops (engine/models/vad.c): the
 * STFT and the convolutions as PL_OP_IM2COL + PL_OP_LINEAR, PL_OP_COMPLEX_ABS,
 * PL_OP_LSTM_CELL. On "cpu" the kernels are the backend's (AVX-512, AVX2 or
 * portable C, PARLEY_CPU_KERNELS forces a lower family); "cpu-ref" is the
 * scalar reference.
 *
 * Thread-safety: a struct pl_vad is immutable after create and may be shared
 * by any number of threads; a struct pl_vad_state belongs to one thread at a
 * time. Each state holds its own compute backend (one CPU thread; a CUDA
 * context on "cuda"); a batch runs on its first state's. Processing allocates
 * nothing, except that a state leading a batch of more streams than before
 * grows its workspace once.
 */
#ifndef PL_VAD_H
#define PL_VAD_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PL_VAD_SAMPLE_RATE 16000
#define PL_VAD_WINDOW 512   /* new samples per window (32 ms) */
#define PL_VAD_CONTEXT 64   /* samples carried over from the previous window */
#define PL_VAD_MAX_BATCH 64 /* streams per pl_vad_process_batch() */

struct pl_vad;
struct pl_vad_state;

/* Load the weights at weights_path (copied; the file is closed again).
 * Errors: PL_E_INVALID_ARG (NULL args), PL_E_IO, PL_E_FORMAT (a tensor missing,
 * of the wrong dtype or shape, named in the message), PL_E_NOMEM.
 * OUT: *out, caller owns; free with pl_vad_destroy() after every state made
 * from it is destroyed. NULL on failure. */
pl_status pl_vad_create(const char *weights_path, struct pl_vad **out);
void pl_vad_destroy(struct pl_vad *vad); /* NULL is a no-op */
/* Same as pl_vad_create, on backend `device` ("cpu" = NULL, "cpu-ref",
 * "cuda", "cuda:N"; backend.h). Also PL_E_INVALID_ARG / PL_E_UNSUPPORTED for
 * a device that does not exist, PL_E_BACKEND. */
pl_status pl_vad_create_on(const char *weights_path, const char *device, struct pl_vad **out);
/* The backend's name ("cpu", "cpu-ref", "cuda:0"); borrowed until destroy. */
const char *pl_vad_device(const struct pl_vad *vad);

/* A per-stream state (context samples, LSTM h/c, partial window buffer, a
 * compute backend with a workspace for one stream) in its reset state. vad is
 * borrowed and must outlive the state.
 * Errors: PL_E_INVALID_ARG, PL_E_NOMEM, PL_E_BACKEND. OUT: *out, caller owns;
 * free with pl_vad_state_destroy(). */
pl_status pl_vad_state_create(const struct pl_vad *vad, struct pl_vad_state **out);
void pl_vad_state_destroy(struct pl_vad_state *s); /* NULL is a no-op */

/* Back to the start of a stream: zero context and LSTM state, drop buffered
 * samples, window counter 0. */
void pl_vad_state_reset(struct pl_vad_state *s);

/* One window: samples[0..PL_VAD_WINDOW) (16 kHz, float, nominally [-1, 1]).
 * Advances the state. Must not be mixed with a pl_vad_feed() that holds a
 * partial window (PL_E_INVALID_ARG). Non-finite samples: PL_E_INVALID_ARG and
 * the state is unchanged (so is it after PL_E_BACKEND). OUT: *prob in [0, 1]. */
pl_status pl_vad_process(struct pl_vad_state *s, const float *samples, float *prob);

/* One window of each of n streams (1 <= n <= PL_VAD_MAX_BATCH) at once:
 * states[b] gets samples[b][0..PL_VAD_WINDOW), probs[b] its probability. The
 * layers run over all streams together, so each weight load serves several
 * streams; the results equal pl_vad_process() on each stream exactly.
 * Errors (nothing changes): PL_E_INVALID_ARG for NULLs, n out of range,
 * states of different models, a state listed twice, a state with a partial
 * window buffered by pl_vad_feed(), non-finite samples; PL_E_NOMEM (states[0]
 * growing its workspace), PL_E_BACKEND. */
pl_status pl_vad_process_batch(struct pl_vad_state *const *states, const float *const *samples,
                               int n, float *probs);

/* Called once per completed window, in order; window is the index since
 * create/reset (window k covers samples [512k, 512k + 512)). */
typedef void (*pl_vad_window_fn)(void *ud, int64_t window, float prob);

/* Chunk-agnostic feed: buffers any number of samples (n may be 0) and runs
 * every window that completes, calling fn (may be NULL) for each. The result
 * equals pl_vad_process() on consecutive 512-sample windows whatever the chunk
 * sizes. Non-finite samples: PL_E_INVALID_ARG before anything is consumed
 * (fn never runs). */
pl_status pl_vad_feed(struct pl_vad_state *s, const float *samples, size_t n, pl_vad_window_fn fn,
                      void *ud);

/* Same, writing the probabilities of the completed windows to probs[0..cap).
 * If more than cap windows would complete: PL_E_INVALID_ARG and nothing is
 * consumed. OUT: *n_out windows written. */
pl_status pl_vad_feed_array(struct pl_vad_state *s, const float *samples, size_t n, float *probs,
                            size_t cap, size_t *n_out);

/* Windows completed since create/reset. */
int64_t pl_vad_state_windows(const struct pl_vad_state *s);
/* Samples buffered towards the next window, in [0, PL_VAD_WINDOW). */
size_t pl_vad_state_pending(const struct pl_vad_state *s);

#ifdef __cplusplus
}
#endif
#endif
