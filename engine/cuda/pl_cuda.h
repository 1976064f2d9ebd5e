/*
 * pl_cuda.h - Parley's CUDA kernels: C-callable launchers on raw device pointers.
 *
 * Everything here works on device pointers the caller owns (from
 * pl_cuda_malloc or the context's pool) and is queued on the context's one
 * CUDA stream: a launcher returns as soon as the work is queued. Results are
 * visible to the host after pl_cuda_ctx_sync() (or a pl_cuda_memcpy_d2h, which
 * synchronizes the stream).
 *
 * Layouts are row-major, PyTorch order. Two storage types are supported for
 * every op: f32 and f16 (IEEE half storage, float accumulation everywhere).
 * "T" below means the op's storage type: every float tensor of one call uses
 * it, except the GEMM's C, which may be f32 while A and B are f16.
 *
 * Errors: every function returns a pl_status. Bad arguments (NULL pointers,
 * non-positive or overflowing sizes, leading dimensions too small) give
 * PL_E_INVALID_ARG before anything is queued. A failing CUDA or cuBLAS call
 * gives PL_E_BACKEND with the CUDA error string; nothing here aborts.
 * Asynchronous errors found by kernels (an embedding id out of range) are
 * reported by the next pl_cuda_ctx_sync() as PL_E_INVALID_ARG.
 *
 * Thread-safety: a struct pl_cuda_ctx belongs to one thread at a time. Two
 * contexts may be used from two threads at once (they have separate streams,
 * cuBLAS handles and pools).
 */
#ifndef PL_CUDA_H
#define PL_CUDA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Storage type of a kernel call. Numbers are stable. */
enum pl_cuda_dtype {
    PL_CUDA_F32 = 0,
    PL_CUDA_F16 = 1,
};

/* Activation fused after a bias (values match enum pl_act in engine/tensor.h). */
enum pl_cuda_act {
    PL_CUDA_ACT_NONE = 0,
    PL_CUDA_ACT_GELU_ERF = 1,  /* x * 0.5 * (1 + erf(x / sqrt(2))) */
    PL_CUDA_ACT_GELU_TANH = 2, /* 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) */
    PL_CUDA_ACT_TANH = 3,
    PL_CUDA_ACT_RELU = 4,
    PL_CUDA_ACT_SIGMOID = 5, /* 1 / (1 + exp(-x)) */
};

/* Bytes per element of a storage type (0 for an invalid one). */
size_t pl_cuda_dtype_size(enum pl_cuda_dtype dt);

/* ---- devices and contexts ------------------------------------------------ */

/* Number of usable CUDA devices. No driver, no device or any CUDA error gives
 * *out = 0 and PL_OK: "no GPU" is a normal answer, not an error. Note that it
 * initializes the CUDA runtime in this process (do not fork afterwards and use
 * CUDA in the child). */
pl_status pl_cuda_device_count(int *out);

struct pl_cuda_ctx;

/* Create a context on device `dev`: a stream, a cuBLAS handle with its own
 * workspace, a device-memory pool and an error flag for kernels.
 * Errors: PL_E_INVALID_ARG (no such device), PL_E_BACKEND (CUDA/cuBLAS),
 * PL_E_NOMEM. OUT: *out, caller owns; free with pl_cuda_ctx_destroy(). */
pl_status pl_cuda_ctx_create(int dev, struct pl_cuda_ctx **out);

/* Waits for queued work, frees the pool, the stream and the handle.
 * Destroying NULL is a no-op. Device memory from pl_cuda_malloc is not freed. */
void pl_cuda_ctx_destroy(struct pl_cuda_ctx *ctx);

/* Device name ("NVIDIA H100 80GB HBM3"); borrowed for the context's life. */
const char *pl_cuda_ctx_device_name(const struct pl_cuda_ctx *ctx);
/* Number of streaming multiprocessors and the compute capability (major*10+minor). */
int pl_cuda_ctx_sm_count(const struct pl_cuda_ctx *ctx);
int pl_cuda_ctx_compute_capability(const struct pl_cuda_ctx *ctx);
/* SM clock in kHz as the driver reports it (0 when unknown). */
int pl_cuda_ctx_clock_khz(const struct pl_cuda_ctx *ctx);

/* Wait until every queued operation has finished, then report errors raised
 * by kernels since the last sync (PL_E_INVALID_ARG naming the op) and clear
 * them. PL_E_BACKEND for a failed launch or execution. */
pl_status pl_cuda_ctx_sync(struct pl_cuda_ctx *ctx);

/* Allow TF32 tensor cores for f32 GEMMs (default off: f32 GEMMs are exact
 * IEEE f32 with f32 accumulation). */
void pl_cuda_ctx_set_tf32(struct pl_cuda_ctx *ctx, bool on);

/* ---- memory --------------------------------------------------------------- */

/* Plain device allocation (weights and long-lived buffers): 256-byte aligned.
 * n == 0 gives PL_E_INVALID_ARG. OUT: *out, free with pl_cuda_free(). */
pl_status pl_cuda_malloc(struct pl_cuda_ctx *ctx, size_t n, void **out);
/* Waits for the context's stream first. Freeing NULL is a no-op. */
void pl_cuda_free(struct pl_cuda_ctx *ctx, void *p);

/* Copies on the context's stream. h2d returns once the source may be reused;
 * d2h returns once the data is in dst (it synchronizes the stream, and
 * reports kernel errors like pl_cuda_ctx_sync). */
pl_status pl_cuda_memcpy_h2d(struct pl_cuda_ctx *ctx, void *dst, const void *src, size_t n);
pl_status pl_cuda_memcpy_d2h(struct pl_cuda_ctx *ctx, void *dst, const void *src, size_t n);
pl_status pl_cuda_memcpy_d2d(struct pl_cuda_ctx *ctx, void *dst, const void *src, size_t n);
pl_status pl_cuda_memset(struct pl_cuda_ctx *ctx, void *dst, int byte, size_t n);

/*
 * The pool: scratch memory for forward passes. A freed block goes back to the
 * pool, not to CUDA, and is handed out again for a later request of a
 * similar size (at most twice as large). Reuse is safe without a sync because
 * all work of a context runs on its one stream, in order. After a warm-up
 * pass with the largest shapes, a forward pass calls cudaMalloc no more.
 */
pl_status pl_cuda_pool_alloc(struct pl_cuda_ctx *ctx, size_t n, void **out);
void pl_cuda_pool_free(struct pl_cuda_ctx *ctx, void *p); /* NULL: no-op */
/* Return every unused block to CUDA (waits for the stream first). */
void pl_cuda_pool_trim(struct pl_cuda_ctx *ctx);

struct pl_cuda_pool_stats {
    int64_t device_mallocs; /* cudaMalloc calls made by the pool, ever */
    int64_t blocks;         /* blocks held (used + free) */
    int64_t blocks_in_use;
    int64_t bytes_reserved; /* bytes held from CUDA */
};
void pl_cuda_pool_stats(const struct pl_cuda_ctx *ctx, struct pl_cuda_pool_stats *out);

/* ---- CUDA graphs ------------------------------------------------------------ */

/*
 * Record everything queued on the context between capture_begin and
 * capture_end (nothing runs meanwhile), then replay it with one launch.
 * Replays read and write the same device addresses as the captured calls.
 * Run the sequence once before capturing so that the pool holds every block
 * it needs: a pool allocation during capture fails with PL_E_BACKEND, and so
 * does capture_end then. pl_cuda_pool_trim() does nothing while graphs exist.
 * Not allowed during capture: pl_cuda_ctx_sync, memcpy d2h/h2d, pl_cuda_free.
 */
struct pl_cuda_graph;
pl_status pl_cuda_capture_begin(struct pl_cuda_ctx *ctx);
/* OUT: *out, caller owns; free with pl_cuda_graph_destroy() before the context. */
pl_status pl_cuda_capture_end(struct pl_cuda_ctx *ctx, struct pl_cuda_graph **out);
pl_status pl_cuda_graph_launch(struct pl_cuda_graph *g);
void pl_cuda_graph_destroy(struct pl_cuda_graph *g); /* NULL: no-op */

/* ---- conversions ---------------------------------------------------------- */

/* dst[i] = (half) src[i] and back, n elements, on the device. */
pl_status pl_cuda_f32_to_f16(struct pl_cuda_ctx *ctx, void *dst, const float *src, int64_t n);
pl_status pl_cuda_f16_to_f32(struct pl_cuda_ctx *ctx, float *dst, const void *src, int64_t n);

/* ---- GEMM (cuBLAS) ---------------------------------------------------------- */

/*
 * C[m,n] = alpha * op(A) op(B) + beta * C, for `batch` matrices at once.
 * Row-major: op(A) is [m,k] (A stored [m,k] with lda >= k, or [k,m] with
 * lda >= m when trans_a); op(B) is [k,n] (B stored [k,n] with ldb >= n, or
 * [n,k] with ldb >= k when trans_b - PyTorch's Linear weight layout); C is
 * [m,n] with ldc >= n. Matrix i of a batch starts at A + i*stride_a etc. (in
 * elements; ignored when batch == 1).
 * Types: ab_type for A and B, c_type for C: f32/f32, f16/f16 or f16/f32.
 * Accumulation is f32 (f32 GEMMs use TF32 only when the context allows it).
 * m, n, k, batch and the leading dimensions must fit in an int.
 */
struct pl_cuda_gemm {
    enum pl_cuda_dtype ab_type, c_type;
    bool trans_a, trans_b;
    int64_t m, n, k, batch;
    float alpha, beta;
    const void *a;
    int64_t lda, stride_a;
    const void *b;
    int64_t ldb, stride_b;
    void *c;
    int64_t ldc, stride_c;
};
pl_status pl_cuda_gemm(struct pl_cuda_ctx *ctx, const struct pl_cuda_gemm *g);

/*
 * y[m,n] = act(x[m,k] . w[n,k]^T + bias[n]): a Linear layer (one GEMM, then
 * one fused bias+activation pass when bias != NULL or act != NONE).
 * x, w, bias, y: storage type dt. bias may be NULL. y must not alias x or w.
 */
pl_status pl_cuda_linear(struct pl_cuda_ctx *ctx, enum pl_cuda_dtype dt, const void *x,
                         const void *w, const void *bias, void *y, int64_t m, int64_t n,
                         int64_t k, enum pl_cuda_act act);

/* ---- element-wise and row-wise kernels ------------------------------------ */

/* In place: x[r,c] = act(x[r,c] + bias[c]) for a [rows, cols] matrix; bias
 * may be NULL. */
pl_status pl_cuda_bias_act(struct pl_cuda_ctx *ctx, enum pl_cuda_dtype dt, void *x,
                           const void *bias, int64_t rows, int64_t cols, enum pl_cuda_act act);

/*
 * Residual add + LayerNorm over rows of length cols:
 *   y = x + bias + residual        (bias [cols] and residual [rows,cols] may be NULL)
 *   out = (y - mean) / sqrt(var + eps) * gamma + beta   (biased variance)
 * out may alias x or residual (in-place use); gamma and beta are [cols].
 */
pl_status pl_cuda_add_layernorm(struct pl_cuda_ctx *ctx, enum pl_cuda_dtype dt, void *out,
                                const void *x, const void *bias, const void *residual,
                                const void *gamma, const void *beta, int64_t rows,
                                int64_t cols, float eps);

/*
 * Masked softmax over rows of length n: out[r,j] = softmax_j(in[r,j] * scale)
 * over the j with mask[(r / mask_div) * n + j] != 0; excluded elements get 0,
 * and a row with every element excluded is all 0. mask (i32) may be NULL
 * (nothing excluded). mask_div >= 1: rows that share one mask row (1 = a mask
 * of the input's own shape; heads*seq for attention's [batch, seq] key mask).
 * out may alias in.
 */
pl_status pl_cuda_softmax(struct pl_cuda_ctx *ctx, enum pl_cuda_dtype dt, void *out,
                          const void *in, const int32_t *mask, int64_t mask_div, int64_t rows,
                          int64_t n, float scale);

/* dst[i] = a[i] + b[i] for n elements (dst may alias a or b). */
pl_status pl_cuda_add(struct pl_cuda_ctx *ctx, enum pl_cuda_dtype dt, void *dst, const void *a,
                      const void *b, int64_t n);

/* dst[r,:] = src[idx[r],:] for r < n_idx; src is [n_rows, cols], idx i32 on
 * the device. An index out of range reads row 0 and is reported by the next
 * pl_cuda_ctx_sync() as PL_E_INVALID_ARG. */
pl_status pl_cuda_get_rows(struct pl_cuda_ctx *ctx, enum pl_cuda_dtype dt, void *dst,
                           const void *src, const int32_t *idx, int64_t n_idx, int64_t n_rows,
                           int64_t cols);

/* ---- attention -------------------------------------------------------------- */

/*
 * Split a fused QKV projection into heads, adding its bias:
 *   qkv [batch*seq, 3*hidden] (Q in columns [0,hidden), K next, V last),
 *   bias [3*hidden] (may be NULL), hidden = heads * head_dim
 *   -> out = Q [batch,heads,seq,head_dim], then K, then V, each batch*seq*hidden
 *   elements, one after the other in `out` (3*batch*seq*hidden elements).
 */
pl_status pl_cuda_qkv_split(struct pl_cuda_ctx *ctx, enum pl_cuda_dtype dt, void *out,
                            const void *qkv, const void *bias, int64_t batch, int64_t seq,
                            int64_t heads, int64_t head_dim);

/* ctx [batch,heads,seq,head_dim] -> out [batch, seq, heads*head_dim]. */
pl_status pl_cuda_merge_heads(struct pl_cuda_ctx *ctx, enum pl_cuda_dtype dt, void *out,
                              const void *in, int64_t batch, int64_t seq, int64_t heads,
                              int64_t head_dim);

/*
 * Multi-head self-attention core (no output projection):
 *   qkv [batch, seq, 3*hidden] as from one QKV GEMM, qkv_bias [3*hidden] (may
 *   be NULL), mask i32 [batch, seq] (may be NULL; 0 = padded key),
 *   out [batch, seq, hidden] = concat_h softmax(Q_h K_h^T * scale) V_h.
 * Scores via a strided-batched GEMM, the masked softmax kernel, context via a
 * second strided-batched GEMM, then heads are merged. Scratch comes from the
 * context's pool (4*batch*seq*hidden + batch*heads*seq*seq elements).
 */
pl_status pl_cuda_attention(struct pl_cuda_ctx *ctx, enum pl_cuda_dtype dt, void *out,
                            const void *qkv, const void *qkv_bias, const int32_t *mask,
                            int64_t batch, int64_t seq, int64_t heads, int64_t head_dim,
                            float scale);

/* ---- embeddings ------------------------------------------------------------- */

/*
 * out[b,s,:] = LayerNorm(word[id] + pos[pos_id] + type[tt]) * gamma + beta
 *   ids, type_ids, mask: i32 [batch, seq] (type_ids, mask may be NULL; tt = 0
 *   when type_ids is NULL); word [vocab, hidden], pos [n_pos, hidden],
 *   type [n_types, hidden] (NULL: no token-type embedding).
 *   pos_id = pos_offset + s where mask is NULL or mask[b,s] != 0, else pad_pos.
 * An id, token type or position out of range is read as 0 and reported by the
 * next pl_cuda_ctx_sync() as PL_E_INVALID_ARG (never an out-of-bounds read).
 */
struct pl_cuda_embed_args {
    const int32_t *ids, *type_ids, *mask;
    const void *word, *pos, *type, *gamma, *beta;
    int64_t batch, seq, hidden, vocab, n_pos, n_types;
    int32_t pos_offset, pad_pos;
    float eps;
};
pl_status pl_cuda_embed(struct pl_cuda_ctx *ctx, enum pl_cuda_dtype dt, void *out,
                        const struct pl_cuda_embed_args *a);

/* ---- a whole post-LN encoder layer (BERT) ------------------------------------- */

/* Device pointers of one layer's weights, all of storage type dt; Linear
 * weights as PyTorch stores them ([out, in]). */
struct pl_cuda_layer_weights {
    const void *qkv_w; /* [3*hidden, hidden]: query, key, value weights stacked */
    const void *qkv_b; /* [3*hidden] */
    const void *o_w;   /* [hidden, hidden] */
    const void *o_b;   /* [hidden] */
    const void *ln1_g, *ln1_b;
    const void *ff1_w; /* [ffn, hidden] */
    const void *ff1_b; /* [ffn] */
    const void *ff2_w; /* [hidden, ffn] */
    const void *ff2_b; /* [hidden] */
    const void *ln2_g, *ln2_b;
};

struct pl_cuda_layer_shape {
    int64_t batch, seq, hidden, heads, ffn;
    float eps;
    enum pl_cuda_act act; /* GELU form of the feed-forward block */
};

/*
 * x [batch, seq, hidden] (in/out) = one BERT encoder layer of x:
 *   a = LN1(x + attention(x Wqkv^T + bqkv) Wo^T + bo)
 *   x = LN2(a + act(a W1^T + b1) W2^T + b2)
 * mask i32 [batch, seq] may be NULL. Scratch comes from the pool.
 */
pl_status pl_cuda_encoder_layer(struct pl_cuda_ctx *ctx, enum pl_cuda_dtype dt,
                                const struct pl_cuda_layer_weights *w,
                                const struct pl_cuda_layer_shape *shape, void *x,
                                const int32_t *mask);

/* ---- sequence ops (the ASR acoustic model, the VAD) ------------------------- */

/*
 * Depthwise 1-D convolution over time, no padding (the engine's
 * PL_OP_DWCONV): x [n_seq][t_in][ch], w [k][ch], bias [ch] (may be NULL),
 *   y[q][t][c] = bias[c] + sum_j w[j][c] * x[q][t*stride + j*dil][c]
 * for t < t_out; (t_out-1)*stride + dil*(k-1) < t_in. y must not alias x.
 * 1 <= k, stride, dil <= 4096.
 */
pl_status pl_cuda_dwconv(struct pl_cuda_ctx *ctx, enum pl_cuda_dtype dt, void *y, const void *x,
                         const void *w, const void *bias, int64_t n_seq, int64_t t_in,
                         int64_t t_out, int64_t ch, int k, int stride, int dil);

/* The frames a 1-D convolution reads (PL_OP_IM2COL): x [n_seq][t_in][ch] ->
 * y [n_seq][t_out][k*ch], y[q][t][j*ch + c] = x[q][t*stride + j*dil -
 * pad_left][c], 0 outside [0, t_in). 0 <= pad_left <= dil*(k-1). */
pl_status pl_cuda_im2col(struct pl_cuda_ctx *ctx, enum pl_cuda_dtype dt, void *y, const void *x,
                         int64_t n_seq, int64_t t_in, int64_t t_out, int64_t ch, int k,
                         int stride, int dil, int pad_left);

/* Row-wise log-softmax: out[r,j] = in[r,j] - log(sum_i exp(in[r,i])) for a
 * [rows, n] matrix (f32 accumulation, max subtracted first). out may alias in. */
pl_status pl_cuda_log_softmax(struct pl_cuda_ctx *ctx, enum pl_cuda_dtype dt, void *out,
                              const void *in, int64_t rows, int64_t n);

/* y[r][i] = sqrt(x[r][i]^2 + x[r][n+i]^2) for x [rows][2n] (real parts, then
 * imaginary parts), y [rows][n]. y must not alias x. */
pl_status pl_cuda_complex_abs(struct pl_cuda_ctx *ctx, enum pl_cuda_dtype dt, void *y,
                              const void *x, int64_t rows, int64_t n);

/* One LSTMCell step (PL_OP_LSTM_CELL): gates gx [batch][4*hidden] (i, f, g,
 * o), gh the same shape (may be NULL; added), c [batch][hidden] ->
 * out [2][batch][hidden] = h', c'. out must not alias an input. */
pl_status pl_cuda_lstm_cell(struct pl_cuda_ctx *ctx, enum pl_cuda_dtype dt, void *out,
                            const void *gx, const void *gh, const void *c, int64_t batch,
                            int64_t hidden);

#ifdef __cplusplus
}
#endif
#endif
