/*
 * asr_model.h - Parley's CTC acoustic model (QuartzNet-style 1-D time-channel
 * separable CNN, train/asr/model.py, docs/asr-model.md) on the CPU.
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
 * GEMM of the frames against the weight, a depthwise conv a sum of K shifted
 * rows scaled per channel.
 *
 * Streaming: a struct pl_asr_stream keeps, for every convolution, the input
 * frames its next output still needs (its left context and the frames that
 * wait for right context), and for every residual block the residual rows
 * that wait for the block's delayed output. Feeding feature chunks and then
 * finishing gives the same log-probs as the full forward (the same
 * arithmetic on the same frames). Output lags input by the model's right
 * context (pl_asr_model_config.right_context input frames).
 *
 * Thread-safety: a struct pl_asr_model is immutable after load and may be
 * shared by any number of threads; each stream belongs to one thread at a
 * time. Streams allocate everything at creation: feeding allocates nothing.
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
    bool use_ref; /* compute with the generic C kernels (the oracle) instead of SIMD ones */
};

struct pl_asr_model;
struct pl_asr_stream;

/* Load model_dir (config.json + model.safetensors). opt may be NULL.
 * Errors: PL_E_IO (missing or unreadable files), PL_E_FORMAT (bad config,
 * missing tensor or wrong shape/dtype, naming it), PL_E_UNSUPPORTED (a model
 * type or geometry this engine does not run), PL_E_NOMEM.
 * OUT: *out, caller owns; free with pl_asr_model_destroy() after its streams. */
pl_status pl_asr_model_load(const char *model_dir, const struct pl_asr_model_options *opt,
                            struct pl_asr_model **out);
void pl_asr_model_destroy(struct pl_asr_model *m); /* NULL is a no-op */
/* Borrowed until destroy. */
const struct pl_asr_model_config *pl_asr_model_get_config(const struct pl_asr_model *m);
/* Vocabulary entry i (UTF-8), or NULL when out of range. Borrowed until destroy. */
const char *pl_asr_model_token(const struct pl_asr_model *m, int i);
/* Output frames of a full forward over n_frames input frames:
 * ceil((n + tail_frames) / stride), 0 for n <= 0. */
int pl_asr_model_n_out(const struct pl_asr_model *m, int n_frames);

/* A stream that takes feature chunks of at most max_chunk frames (0 = 256).
 * m is borrowed and must outlive the stream.
 * Errors: PL_E_INVALID_ARG (max_chunk < 0 or huge), PL_E_NOMEM.
 * OUT: *out, caller owns; free with pl_asr_stream_destroy(). */
pl_status pl_asr_stream_create(const struct pl_asr_model *m, int max_chunk,
                               struct pl_asr_stream **out);
void pl_asr_stream_destroy(struct pl_asr_stream *s); /* NULL is a no-op */
/* Start a new utterance (forget every cache). */
void pl_asr_stream_reset(struct pl_asr_stream *s);
/* Most output rows one feed or finish call writes. */
int pl_asr_stream_max_out(const struct pl_asr_stream *s);

/*
 * Feed n_frames (0..max_chunk) feature frames feats [n_frames, n_mels] and
 * write the log-probs that became computable to out [*n_out, V] (out holds
 * at least pl_asr_stream_max_out() rows). Not thread-safe per stream.
 * Errors: PL_E_INVALID_ARG (NULL pointers, n_frames out of range, a stream
 * already finished), non-finite input gives non-finite output, never a crash.
 */
pl_status pl_asr_stream_feed(struct pl_asr_stream *s, const float *feats, int n_frames, float *out,
                             int *n_out);
/* End of the utterance: the remaining log-probs (right zero padding), same
 * contract as feed. Afterwards feed fails until pl_asr_stream_reset(). */
pl_status pl_asr_stream_finish(struct pl_asr_stream *s, float *out, int *n_out);
/* Frames fed / output rows written since the last reset. */
long pl_asr_stream_frames_in(const struct pl_asr_stream *s);
long pl_asr_stream_frames_out(const struct pl_asr_stream *s);

/*
 * Whole utterance: feats [n_frames, n_mels] -> out [pl_asr_model_n_out(), V]
 * log-probs, through stream s (reset first and left finished; any chunk
 * size). *n_out (opt) receives the row count. Errors as feed.
 */
pl_status pl_asr_model_forward(struct pl_asr_stream *s, const float *feats, int n_frames,
                               float *out, int *n_out);

/*
 * Batches: one step of several streams of the same model at once. Their
 * frames share every GEMM (more rows per weight load), everything else stays
 * per stream, and each stream's output equals what its own feed/finish calls
 * give. The batch object is the shared workspace, sized at creation.
 */
struct pl_asr_batch;

/* Up to max_streams streams per step, at most max_chunk frames each (0 = 256).
 * Errors: PL_E_INVALID_ARG, PL_E_NOMEM. OUT: *out, caller owns; free with
 * pl_asr_batch_destroy(). Not thread-safe per batch. */
pl_status pl_asr_batch_create(const struct pl_asr_model *m, int max_streams, int max_chunk,
                              struct pl_asr_batch **out);
void pl_asr_batch_destroy(struct pl_asr_batch *b); /* NULL is a no-op */
/* Run the batch's GEMMs on n_threads threads (the caller's included; 1 =
 * the caller only, the default). Results do not depend on it.
 * Errors: PL_E_INVALID_ARG (outside 1..256), PL_E_NOMEM. Not thread-safe. */
pl_status pl_asr_batch_set_threads(struct pl_asr_batch *b, int n_threads);

/*
 * For each i < n: feed n_frames[i] frames feats[i] ([n_frames[i], n_mels];
 * NULL when 0) to streams[i], and when finish (opt) and finish[i], finish it
 * in the same step. Log-probs go to out[i] (pl_asr_stream_max_out(streams[i])
 * rows), their count to n_out[i]. Streams must be distinct, of b's model, not
 * finished, and n_frames[i] <= both max_chunks.
 * Errors: PL_E_INVALID_ARG (checked before any stream changes); PL_E_INTERNAL.
 */
pl_status pl_asr_batch_step(struct pl_asr_batch *b, struct pl_asr_stream *const *streams, int n,
                            const float *const *feats, const int *n_frames, const bool *finish,
                            float *const *out, int *n_out);

/*
 * Whole utterances of n streams at once (offline batches): stream i is reset,
 * gets feats[i] ([n_frames[i], n_mels], any length) in steps of the smaller
 * max_chunk, and is left finished; out[i] receives pl_asr_model_n_out(
 * n_frames[i]) rows of log-probs, n_out[i] (opt) their count. Same results
 * as pl_asr_model_forward() on each. Errors as pl_asr_batch_step().
 */
pl_status pl_asr_batch_forward(struct pl_asr_batch *b, struct pl_asr_stream *const *streams, int n,
                               const float *const *feats, const int *n_frames, float *const *out,
                               int *n_out);

/*
 * A read-only view of a loaded model's geometry and f32 weights, for other
 * compute back ends (the CUDA path, engine/cuda/asr_net.cu, docs/asr-model.md
 * "CUDA"). The weights are the model's own host arrays, in its layouts:
 *   dw [kernel][cin] (transposed from the file's [cin, 1, kernel]),
 *   pw [cout][cin], pb [cout]; residual rw [c][cin], rb [c];
 *   decoder dec_w [vocab_size][dec_c], dec_b [vocab_size].
 * convs[] lists the prologue, every block's sub-blocks in order, then the
 * epilogue; block i owns convs[first .. first+n). left = dilation*(kernel-1)
 * - right, the left zero padding the CPU path uses; a conv maps T frames to
 * ceil(T / stride).
 */
struct pl_asr_conv_view {
    int cin, cout, kernel, stride, dilation, left, right;
    const float *dw, *pw, *pb;
};
struct pl_asr_block_view {
    int first, n, cin, c;
    const float *rw, *rb;
};
struct pl_asr_model_view {
    int n_mels, vocab_size, n_convs, n_blocks, dec_c, max_channels;
    int tail_frames; /* zero frames after each utterance (pl_asr_model_config) */
    const struct pl_asr_conv_view *convs;   /* [n_convs] */
    const struct pl_asr_block_view *blocks; /* [n_blocks] */
    const float *dec_w, *dec_b;
};

/* Make a view of m. Errors: PL_E_INVALID_ARG (NULL), PL_E_NOMEM.
 * OUT: *out, caller owns; free with pl_asr_model_view_destroy(). Its weight
 * pointers are borrowed from m: the view must not outlive m. Thread-safe
 * (m is only read). */
pl_status pl_asr_model_view_create(const struct pl_asr_model *m, struct pl_asr_model_view **out);
void pl_asr_model_view_destroy(struct pl_asr_model_view *v); /* NULL is a no-op */

#ifdef __cplusplus
}
#endif
#endif
