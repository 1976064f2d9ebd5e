/*
 * asr_model.h - Parley's CTC acoustic model (QuartzNet-style 1-D time-channel
 * separable CNN, train/asr/model.py, docs/asr-model.md) on an engine backend
 * ("cpu", "cpu-ref", "cuda", "cuda:N"; backend.h).
 *
 * A model directory holds (docs/asr-model.md):
 *   MODEL_DIR/config.json   {"model_type": "parley_quartznet_ctc", "n_mels": 80,
 *                            "vocab": [...], "blank": 0,
 *                            "prologue": {"channels", "kernel", "stride", "dilation", "right"},
 *                            "blocks": [{"channels", "kernel", "repeat", "dilation", "right"}],
 *                            "epilogue": {...}}
 *   MODEL_DIR/model.safetensors  BatchNorm already folded (F32, F16 or BF16):
 *     encoder.prologue.{dw.weight [C_in,1,K], pw.weight [C,C_in,1], pw.bias [C]}
 *     encoder.blocks.{i}.sub.{j}.{dw.weight, pw.weight, pw.bias}
 *     encoder.blocks.{i}.res.{weight [C,C_in,1], bias [C]}
 *     encoder.epilogue.{dw.weight, pw.weight, pw.bias}
 *     decoder.{weight [V,C,1], bias [V]}
 *
 * Network: relu(sep(prologue)); per block y = x, for each sub-block j
 * y = sep_j(y) (+ res(x) on the last one), y = relu(y); relu(sep(epilogue));
 * 1x1 decoder; log-softmax over the vocabulary. sep = depthwise conv (kernel
 * K, stride s, dilation d, no bias; pad_left = d(K-1) - right zeros on the
 * left and `right` zeros on the right) -> pointwise 1x1 conv with bias.
 * Features [T, n_mels] row-major give log-probs [ceil(T / stride), V].
 *
 * Data are time-major ([frames, channels] row-major): a pointwise conv is one
 * GEMM of the frames against the weight (PL_OP_LINEAR), a depthwise conv a
 * sum of K shifted rows scaled per channel (PL_OP_DWCONV); the decoder is a
 * LINEAR, then PL_OP_LOG_SOFTMAX. Every step is a graph of engine ops run by
 * the backend, so the same code serves the CPU and CUDA.
 *
 * Incremental state: a struct pl_asr_state keeps, for every convolution, the
 * input frames its next output still needs (its left context and the frames
 * that wait for right context), and for every residual block the residual
 * rows that wait for the block's delayed output, in buffers of the model's
 * backend (device memory on CUDA). Feeding feature chunks and then finishing
 * gives the same log-probs as the full forward (the same arithmetic on the
 * same frames).
 * Output lags input by the model's right context
 * (pl_asr_model_config.right_context input frames).
 *
 * Thread-safety: a struct pl_asr_model is immutable after load and may be
 * shared by any number of threads; each state and each batch belongs to one
 * thread at a time. A batch owns its compute backend (its own scratch, thread
 * pool or CUDA stream), so batches run concurrently. States allocate their
 * buffers at creation, batches their workspace: feeding allocates nothing
 * after a state's first direct feed (which creates its private batch).
 */
#ifndef PL_ASR_MODEL_H
#define PL_ASR_MODEL_H

#include <stdbool.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

struct pl_asr_model_config {
    int n_mels;        /* input feature channels */
    int vocab_size;    /* V: output classes (blank included) */
    int blank;         /* CTC blank id */
    int stride;        /* input frames per output frame */
    int right_context; /* look-ahead in input frames */
    int tail_frames;   /* zero feature frames that follow every utterance (config
                        * "tail_frames", default 0): at finish the model reads them
                        * before its right zero padding, so a look-ahead model has
                        * output frames to emit late characters into */
    int n_convs;       /* separable convolutions (prologue + sub-blocks + epilogue) */
    int n_blocks;
    int max_channels;
    double macs_per_frame; /* multiply-adds per output frame (for benchmarks) */
};

struct pl_asr_model_options {
    /* Backend: "cpu" (NULL or ""; the fastest kernels this CPU has), "cpu-ref"
     * (the scalar reference, the oracle of the tests), "cuda" or "cuda:N". */
    const char *device;
};

struct pl_asr_model;
struct pl_asr_state;

/* Load model_dir (config.json + model.safetensors) onto opt->device (opt may
 * be NULL: "cpu"); the weights are uploaded once, as f32.
 * Errors: PL_E_IO (missing or unreadable files), PL_E_FORMAT (bad config,
 * missing tensor or wrong shape/dtype, naming it), PL_E_UNSUPPORTED (a model
 * type or geometry this engine does not run; a backend Parley was built
 * without), PL_E_INVALID_ARG (unknown device), PL_E_BACKEND, PL_E_NOMEM.
 * OUT: *out, caller owns; free with pl_asr_model_destroy() after its states
 * and batches. */
pl_status pl_asr_model_load(const char *model_dir, const struct pl_asr_model_options *opt,
                            struct pl_asr_model **out);
void pl_asr_model_destroy(struct pl_asr_model *m); /* NULL is a no-op */
/* Borrowed until destroy. */
const struct pl_asr_model_config *pl_asr_model_get_config(const struct pl_asr_model *m);
/* The backend's name ("cpu", "cpu-ref", "cuda:0", ...). Borrowed until destroy. */
const char *pl_asr_model_device(const struct pl_asr_model *m);
/* Vocabulary entry i (UTF-8), or NULL when out of range. Borrowed until destroy. */
const char *pl_asr_model_token(const struct pl_asr_model *m, int i);
/* Output frames of a full forward over n_frames input frames:
 * ceil((n + tail_frames) / stride), 0 for n <= 0. */
int pl_asr_model_n_out(const struct pl_asr_model *m, int n_frames);

/* An incremental state that takes feature chunks of at most max_chunk frames
 * (0 = 256), its buffers on the model's backend. m is borrowed and must
 * outlive the state.
 * Errors: PL_E_INVALID_ARG (max_chunk < 0 or huge), PL_E_NOMEM, PL_E_BACKEND.
 * OUT: *out, caller owns; free with pl_asr_state_destroy(). */
pl_status pl_asr_state_create(const struct pl_asr_model *m, int max_chunk,
                              struct pl_asr_state **out);
void pl_asr_state_destroy(struct pl_asr_state *s); /* NULL is a no-op */
/* Start a new utterance (forget every cache). */
void pl_asr_state_reset(struct pl_asr_state *s);
/* Most output rows one feed or finish call writes. */
int pl_asr_state_max_out(const struct pl_asr_state *s);

/*
 * Feed n_frames (0..max_chunk) feature frames feats [n_frames, n_mels] and
 * write the log-probs that became computable to out [*n_out, V] (out holds
 * at least pl_asr_state_max_out() rows). The first direct feed, finish or
 * forward creates the state's private one-state batch (a compute backend and
 * its workspace); states stepped only through pl_asr_batch_step never need it.
 * Not thread-safe per state.
 * Errors: PL_E_INVALID_ARG (NULL pointers, n_frames out of range, a state
 * already finished), PL_E_NOMEM / PL_E_BACKEND (creating the private batch, a
 * device failure: reset before the next feed); non-finite input gives
 * non-finite output, never a crash.
 */
pl_status pl_asr_state_feed(struct pl_asr_state *s, const float *feats, int n_frames, float *out,
                            int *n_out);
/* End of the utterance: the remaining log-probs (right zero padding), same
 * contract as feed. Afterwards feed fails until pl_asr_state_reset(). */
pl_status pl_asr_state_finish(struct pl_asr_state *s, float *out, int *n_out);
/* Frames fed / output rows written since the last reset. */
long pl_asr_state_frames_in(const struct pl_asr_state *s);
long pl_asr_state_frames_out(const struct pl_asr_state *s);

/*
 * Whole utterance: feats [n_frames, n_mels] -> out [pl_asr_model_n_out(), V]
 * log-probs, through state s (reset first and left finished; any chunk
 * size). *n_out (opt) receives the row count. Errors as feed.
 */
pl_status pl_asr_model_forward(struct pl_asr_state *s, const float *feats, int n_frames,
                               float *out, int *n_out);

/*
 * Batches: one step of several states of the same model at once, as one
 * graph on the batch's own backend (of the model's device). Their frames
 * share every GEMM (more rows per weight load), everything else stays per
 * state, and each state's output equals what its own feed/finish calls
 * give. The batch object is the compute
 * backend and the shared workspace, sized at creation.
 */
struct pl_asr_batch;

/* Up to max_states states per step, at most max_chunk frames each (0 = 256).
 * Errors: PL_E_INVALID_ARG, PL_E_UNSUPPORTED (too large), PL_E_NOMEM,
 * PL_E_BACKEND. OUT: *out, caller owns; free with pl_asr_batch_destroy().
 * Not thread-safe per batch. */
pl_status pl_asr_batch_create(const struct pl_asr_model *m, int max_states, int max_chunk,
                              struct pl_asr_batch **out);
void pl_asr_batch_destroy(struct pl_asr_batch *b); /* NULL is a no-op */
/* Run the batch's ops on n_threads CPU threads (the caller's included; 1 =
 * the caller only, the default; a device backend ignores it). Results do
 * not depend on it. Errors: PL_E_INVALID_ARG (outside 1..256), PL_E_NOMEM.
 * Not thread-safe. */
pl_status pl_asr_batch_set_threads(struct pl_asr_batch *b, int n_threads);

/*
 * For each i < n: feed n_frames[i] frames feats[i] ([n_frames[i], n_mels];
 * NULL when 0) to states[i], and when finish (opt) and finish[i], finish it
 * in the same step. Log-probs go to out[i] (pl_asr_state_max_out(states[i])
 * rows), their count to n_out[i]. States must be distinct, of b's model, not
 * finished, and n_frames[i] <= both max_chunks.
 * Errors: PL_E_INVALID_ARG (checked before any state changes); PL_E_INTERNAL,
 * PL_E_BACKEND (the step's states are left finished: reset them).
 */
pl_status pl_asr_batch_step(struct pl_asr_batch *b, struct pl_asr_state *const *states, int n,
                            const float *const *feats, const int *n_frames, const bool *finish,
                            float *const *out, int *n_out);

/*
 * Whole utterances of n states at once (offline batches): state i is reset,
 * gets feats[i] ([n_frames[i], n_mels], any length) in steps of the smaller
 * max_chunk, and is left finished; out[i] receives pl_asr_model_n_out(
 * n_frames[i]) rows of log-probs, n_out[i] (opt) their count. Same results
 * as pl_asr_model_forward() on each. Errors as pl_asr_batch_step().
 */
pl_status pl_asr_batch_forward(struct pl_asr_batch *b, struct pl_asr_state *const *states, int n,
                               const float *const *feats, const int *n_frames, float *const *out,
                               int *n_out);

#ifdef __cplusplus
}
#endif
#endif
