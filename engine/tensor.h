/*
 * tensor.h - Parley tensors, tensor contexts and compute graphs.
 *
 * A struct pl_tensor is metadata (dtype, shape, strides, the op that makes it
 * and its sources) plus a pointer into a backend buffer (struct pl_buffer,
 * see backend.h). Metadata lives in a struct pl_ctx: a fixed-capacity pool
 * created once and reset between forward passes, so building a graph never
 * allocates after warm-up. Data lives in backend buffers; a context never
 * owns tensor data.
 *
 * Shapes are row-major, PyTorch order: shape[0] is the outermost dimension,
 * shape[n_dims-1] the innermost (contiguous) one. Strides are in ELEMENTS.
 * A tensor is contiguous when stride[n_dims-1] == 1 and each outer stride is
 * the product of the inner sizes; every op in this version requires
 * contiguous inputs and produces a contiguous output.
 *
 * Activations are f32 on every backend (backends may compute in f16
 * internally). Weights of PL_OP_LINEAR may be f32, f16, bf16 or i8 (i8 with a
 * per-output-channel f32 scale tensor). Indices and masks are i32.
 *
 * Thread-safety: a pl_ctx and the tensors and graphs made from it belong to
 * one thread at a time. Tensors of an immutable model (weights) may be read
 * by many threads at once.
 */
#ifndef PL_TENSOR_H
#define PL_TENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PL_MAX_DIMS 4
#define PL_MAX_SRC 8
#define PL_MAX_OP_PARAMS 8
#define PL_TENSOR_NAME_MAX 96

/* Numbers are stable (tests and files may store them). */
enum pl_dtype {
    PL_DTYPE_F32 = 0,
    PL_DTYPE_F16 = 1,
    PL_DTYPE_BF16 = 2,
    PL_DTYPE_I8 = 3,
    PL_DTYPE_I32 = 4,
    PL_DTYPE_COUNT = 5,
};

/* Activation functions fused into PL_OP_LINEAR and PL_OP_ACT. */
enum pl_act {
    PL_ACT_NONE = 0,
    PL_ACT_GELU_ERF = 1,  /* x * 0.5 * (1 + erf(x / sqrt(2))) - BERT's "gelu" */
    PL_ACT_GELU_TANH = 2, /* 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) - "gelu_new" */
    PL_ACT_TANH = 3,      /* BERT pooler */
    PL_ACT_RELU = 4,      /* DistilBERT pre_classifier */
    PL_ACT_SIGMOID = 5,   /* 1 / (1 + exp(-x)) - the VAD's speech probability */
    PL_ACT_COUNT = 6,
};

/*
 * Operations. "src[i]" are the op's inputs; "p[i]" its i32 op params and
 * "pf[i]" the same slots read as f32 (pl_tensor_param_f32). All float
 * tensors are f32 unless said otherwise; "opt" = may be NULL.
 *
 * PL_OP_NONE         leaf: an input or a weight.
 * PL_OP_LINEAR       dst[M,N] = act(src0[M,K] . src1[N,K]^T + src2[N])
 *                    src0 f32 (any leading dims, flattened to M rows); src1 the
 *                    weight as PyTorch's Linear stores it [out=N, in=K]: f32,
 *                    f16, bf16, or i8 with src3 = f32 scales [N] (w = i8 * scale,
 *                    per output channel; the backend quantizes src0 per row
 *                    dynamically); src2 bias [N] (opt). p[0] = enum pl_act.
 *                    dst keeps src0's leading dims with the last one = N.
 * PL_OP_ACT          dst = act(src0 + src1) with src1 a bias over the last dim
 *                    (opt). p[0] = enum pl_act. With PL_ACT_NONE and no bias it
 *                    is a plain copy (pl_op_copy): models move rows between
 *                    buffers with it by placing dst where the rows belong.
 * PL_OP_ADD          dst = act(src0 + src1) (same shape). p[0] = enum pl_act
 *                    (pl_op_add: none; pl_op_add_act: e.g. a residual + ReLU).
 *                    dst may be placed on src0 or src1 (in place).
 * PL_OP_LAYER_NORM   over the last dim H: y = src0 + src1 (src1 = residual, opt,
 *                    same shape); dst = (y - mean) / sqrt(var + eps) * src2 + src3,
 *                    var biased; src2 gamma [H], src3 beta [H]. pf[0] = eps.
 * PL_OP_SOFTMAX      over the last dim N of src0 [.., N]: dst = softmax(src0 * pf[0])
 *                    where src1 (opt, i32, same shape) == 0 excludes an element
 *                    (its output is 0). A row with every element excluded is 0.
 * PL_OP_EMBED        dst[B,S,H] = LayerNorm(word[id] + pos[pos_id] + type[tt])
 *                    src0 ids i32 [B,S]; src1 word [V,H]; src2 pos [P,H];
 *                    src3 type [T,H] (opt); src4 token-type ids i32 [B,S] (opt,
 *                    0 when NULL); src5 gamma [H]; src6 beta [H]; src7 mask i32
 *                    [B,S] (opt). pf[0] = eps; p[1] = pos_offset; p[2] = pad_pos.
 *                    pos_id = pos_offset + s when mask is NULL or mask[b,s] != 0,
 *                    else pad_pos (BERT: offset 0; RoBERTa: offset pad_idx+1,
 *                    pad_pos pad_idx). Out-of-range ids -> PL_E_INVALID_ARG.
 * PL_OP_ATTENTION    multi-head self-attention core, no projections.
 *                    src0 qkv [B,S,3*H]: Q in columns [0,H), K in [H,2H), V in
 *                    [2H,3H); head h uses columns h*D..h*D+D-1 of each (D = H /
 *                    n_heads). src1 mask i32 [B,S] (opt; 0 = padded key).
 *                    dst[B,S,H] = concat_h softmax(Q_h K_h^T * pf[1] over
 *                    unmasked keys) V_h. p[0] = n_heads; pf[1] = scale;
 *                    p[2] = enum pl_att_prec (pl_op_attention_prec): with
 *                    PL_ATT_BF16 a backend may round Q, K, V and the
 *                    probabilities to bf16 for the two products (f32 sums,
 *                    the softmax in f32); backends without such a kernel
 *                    compute in f32.
 * PL_OP_GET_ROWS     dst[R,H] = src0[src1[r], :] with src0 viewed as 2-D
 *                    [rows, H] (all leading dims flattened); src1 i32 [R].
 *                    Out-of-range index -> PL_E_INVALID_ARG.
 * PL_OP_DWCONV       depthwise 1-D convolution over time without padding: src0 x
 *                    [.., T, C] time-major (one row per frame; leading dims are
 *                    independent sequences), src1 w [K, C] tap-major (PyTorch's
 *                    Conv1d(groups=C) weight [C, 1, K] transposed), src2 bias [C]
 *                    (opt). p[0] = stride s, p[1] = dilation d.
 *                    dst[.., t, c] = bias[c] + sum_k w[k, c] x[.., t s + k d, c]
 *                    for t < T_out = (T - d (K-1) - 1) / s + 1 (needs T > d (K-1)).
 *                    Zero padding and streaming context are the caller's: x is
 *                    the window of frames the outputs read.
 * PL_OP_IM2COL       the frames a 1-D convolution reads, so that it runs as a
 *                    GEMM: src0 x [.., T, C] time-major; p[0] = K, p[1] = stride
 *                    s, p[2] = dilation d, p[3] = left and p[4] = right zero
 *                    padding. dst[.., t, k C + c] = x[.., t s + k d - p[3], c]
 *                    (0 outside [0, T)) for t < T_out = (T + p[3] + p[4] - d (K-1)
 *                    - 1) / s + 1. A Conv1d with weight [C_out, C_in, K] is this
 *                    then PL_OP_LINEAR with the weight reordered to [C_out, K, C_in].
 * PL_OP_LOG_SOFTMAX  over the last dim N: dst = src0 - max - log(sum exp(src0 - max)).
 * PL_OP_COMPLEX_ABS  magnitudes of complex numbers stored as halves: src0 [.., 2N]
 *                    holds real parts in [0, N) and imaginary parts in [N, 2N) of
 *                    the last dim (an STFT computed as a Conv1d / Linear).
 *                    dst[.., i] = sqrt(src0[.., i]^2 + src0[.., N + i]^2), dst [.., N].
 * PL_OP_LSTM_CELL    one LSTMCell step for B rows, PyTorch gate order i, f, g, o:
 *                    src0 gates [B, 4H] (x W_ih^T + bias), src1 [B, 4H] (opt,
 *                    added: h W_hh^T), src2 c [B, H] (the previous cell state).
 *                    With i, f, o = sigmoid and g = tanh of the summed gates:
 *                    dst [2, B, H], dst[0] = h' = o tanh(c'), dst[1] = c' = f c + i g.
 *                    (h' and c' each contiguous, so the next step reads them as
 *                    views.)
 */
enum pl_op {
    PL_OP_NONE = 0,
    PL_OP_LINEAR = 1,
    PL_OP_ACT = 2,
    PL_OP_ADD = 3,
    PL_OP_LAYER_NORM = 4,
    PL_OP_SOFTMAX = 5,
    PL_OP_EMBED = 6,
    PL_OP_ATTENTION = 7,
    PL_OP_GET_ROWS = 8,
    PL_OP_DWCONV = 9,
    PL_OP_IM2COL = 10,
    PL_OP_LOG_SOFTMAX = 11,
    PL_OP_COMPLEX_ABS = 12,
    PL_OP_LSTM_CELL = 13,
    PL_OP_COUNT = 14,
};

struct pl_buffer; /* backend.h */

struct pl_tensor {
    enum pl_dtype dtype;
    int n_dims;                   /* 1..PL_MAX_DIMS */
    int64_t shape[PL_MAX_DIMS];   /* unused dims are 1 */
    int64_t stride[PL_MAX_DIMS];  /* in elements; unused dims 0 */
    struct pl_buffer *buffer;     /* where data lives; NULL until placed */
    void *data;                   /* buffer base + offset (device pointer on GPUs) */
    size_t offset;                /* byte offset of data in buffer */
    enum pl_op op;                /* PL_OP_NONE for leaves */
    struct pl_tensor *src[PL_MAX_SRC];
    int32_t op_params[PL_MAX_OP_PARAMS];
    char name[PL_TENSOR_NAME_MAX];
    /* A Linear weight's copy in the CPU backend's packed GEMM layout, made at
     * load by pl_backend_cpu_pack_weight (NULL: none). Only the fast CPU
     * kernels that have a packed GEMM read it; data stays the weight. */
    const void *packed;
    /* Its element type: f32 (f32 weights, and bf16 ones widened where the
     * family has no bf16 GEMM), bf16 or i8. A family reads only the layouts
     * it has a GEMM for (else it converts data per call). */
    enum pl_dtype packed_dtype;
};

/* Bytes per element of a dtype (0 for an invalid dtype). */
size_t pl_dtype_size(enum pl_dtype dt);
/* "f32", "f16", "bf16", "i8", "i32"; "?" for an invalid one. Static storage. */
const char *pl_dtype_name(enum pl_dtype dt);
/* "linear", "attention", ...; static storage. */
const char *pl_op_name(enum pl_op op);

/* Number of elements / bytes of a contiguous tensor with t's shape. */
int64_t pl_tensor_nelements(const struct pl_tensor *t);
size_t pl_tensor_nbytes(const struct pl_tensor *t);
/* Product of every dimension but the last (the "rows" of a row-wise op). */
int64_t pl_tensor_nrows(const struct pl_tensor *t);
bool pl_tensor_is_contiguous(const struct pl_tensor *t);
bool pl_tensor_same_shape(const struct pl_tensor *a, const struct pl_tensor *b);

static inline float pl_tensor_param_f32(const struct pl_tensor *t, int i) {
    union {
        int32_t i;
        float f;
    } u;
    u.i = t->op_params[i];
    return u.f;
}
static inline void pl_tensor_set_param_f32(struct pl_tensor *t, int i, float v) {
    union {
        int32_t i;
        float f;
    } u;
    u.f = v;
    t->op_params[i] = u.i;
}

/* f16 / bf16 <-> f32 conversion (round to nearest even). */
float pl_f16_to_f32(uint16_t h);
uint16_t pl_f32_to_f16(float f);
float pl_bf16_to_f32(uint16_t h);
uint16_t pl_f32_to_bf16(float f);

/* ---- contexts: pools of tensor metadata -------------------------------- */

struct pl_ctx;

/* Create a context that can hold up to max_tensors tensors.
 * OUT: *out, caller owns; free with pl_ctx_destroy(). */
pl_status pl_ctx_create(int max_tensors, struct pl_ctx **out);
/* Destroying NULL is a no-op. Tensors from ctx become invalid. */
void pl_ctx_destroy(struct pl_ctx *ctx);
/* Forget every tensor (no memory is freed or allocated). */
void pl_ctx_reset(struct pl_ctx *ctx);
int pl_ctx_n_tensors(const struct pl_ctx *ctx);

/* New contiguous leaf tensor (data not placed; see pl_tensor_place).
 * Errors: PL_E_INVALID_ARG (bad dtype, n_dims, negative or overflowing
 * shape), PL_E_EXHAUSTED (context full). OUT: *out borrowed from ctx. */
pl_status pl_tensor_new(struct pl_ctx *ctx, enum pl_dtype dt, int n_dims, const int64_t *shape,
                        struct pl_tensor **out);
/* Convenience: 1-D .. 4-D. */
pl_status pl_tensor_new_1d(struct pl_ctx *ctx, enum pl_dtype dt, int64_t n0, struct pl_tensor **out);
pl_status pl_tensor_new_2d(struct pl_ctx *ctx, enum pl_dtype dt, int64_t n0, int64_t n1,
                           struct pl_tensor **out);
pl_status pl_tensor_new_3d(struct pl_ctx *ctx, enum pl_dtype dt, int64_t n0, int64_t n1, int64_t n2,
                           struct pl_tensor **out);
/* Copy a name into t (truncated to PL_TENSOR_NAME_MAX-1 bytes). */
void pl_tensor_set_name(struct pl_tensor *t, const char *name);

/* A leaf tensor that aliases part of t's data: a contiguous tensor of shape
 * shape[n_dims] starting `offset` elements into t (t contiguous and placed;
 * the view must lie inside t and have t's dtype). It is a leaf, so a graph
 * does not order it: a view of a node's output, read by a later node, sees
 * what that node wrote (models use views for row ranges of workspaces).
 * Errors: PL_E_INVALID_ARG (unplaced t, out of range), PL_E_EXHAUSTED.
 * OUT: *out borrowed from ctx. */
pl_status pl_tensor_view(struct pl_ctx *ctx, const struct pl_tensor *t, int n_dims,
                         const int64_t *shape, int64_t offset, struct pl_tensor **out);
/* Convenience: rows [r0, r0 + n) of t viewed as 2-D [n, last dim]. */
pl_status pl_tensor_view_rows(struct pl_ctx *ctx, const struct pl_tensor *t, int64_t r0, int64_t n,
                              struct pl_tensor **out);

/* Place t's data at byte offset `offset` of buf.
 * Errors: PL_E_INVALID_ARG when t does not fit in buf (or is misaligned for
 * its dtype). */
pl_status pl_tensor_place(struct pl_tensor *t, struct pl_buffer *buf, size_t offset);

/*
 * Op constructors: each checks dtypes and shapes (PL_E_INVALID_ARG naming the
 * op and the mismatch) and returns a new unplaced tensor in ctx whose op and
 * sources are set. They compute nothing; see pl_graph / pl_backend_graph_compute.
 */
pl_status pl_op_linear(struct pl_ctx *ctx, struct pl_tensor *x, struct pl_tensor *w,
                       struct pl_tensor *w_scale, struct pl_tensor *bias, enum pl_act act,
                       struct pl_tensor **out);
pl_status pl_op_act(struct pl_ctx *ctx, struct pl_tensor *x, struct pl_tensor *bias,
                    enum pl_act act, struct pl_tensor **out);
/* pl_op_act(x, NULL, PL_ACT_NONE): dst = x. */
pl_status pl_op_copy(struct pl_ctx *ctx, struct pl_tensor *x, struct pl_tensor **out);
pl_status pl_op_add(struct pl_ctx *ctx, struct pl_tensor *a, struct pl_tensor *b,
                    struct pl_tensor **out);
pl_status pl_op_add_act(struct pl_ctx *ctx, struct pl_tensor *a, struct pl_tensor *b,
                        enum pl_act act, struct pl_tensor **out);
pl_status pl_op_layer_norm(struct pl_ctx *ctx, struct pl_tensor *x, struct pl_tensor *residual,
                           struct pl_tensor *gamma, struct pl_tensor *beta, float eps,
                           struct pl_tensor **out);
pl_status pl_op_softmax(struct pl_ctx *ctx, struct pl_tensor *x, struct pl_tensor *mask,
                        float scale, struct pl_tensor **out);
/* Parameters of PL_OP_EMBED (see enum pl_op). */
struct pl_embed_args {
    struct pl_tensor *ids, *word, *pos, *type, *type_ids, *gamma, *beta, *mask;
    float eps;
    int32_t pos_offset, pad_pos;
};
pl_status pl_op_embed(struct pl_ctx *ctx, const struct pl_embed_args *a, struct pl_tensor **out);
pl_status pl_op_attention(struct pl_ctx *ctx, struct pl_tensor *qkv, struct pl_tensor *mask,
                          int n_heads, float scale, struct pl_tensor **out);
/* The precision PL_OP_ATTENTION's products may be taken in (its p[2]). */
enum pl_att_prec { PL_ATT_F32 = 0, PL_ATT_BF16 = 1 };
pl_status pl_op_attention_prec(struct pl_tensor *att, enum pl_att_prec prec);
pl_status pl_op_get_rows(struct pl_ctx *ctx, struct pl_tensor *x, struct pl_tensor *idx,
                         struct pl_tensor **out);
/* PL_OP_DWCONV: bias may be NULL; 1 <= stride, dilation <= 4096. */
pl_status pl_op_dwconv(struct pl_ctx *ctx, struct pl_tensor *x, struct pl_tensor *w,
                       struct pl_tensor *bias, int stride, int dilation, struct pl_tensor **out);
/* PL_OP_IM2COL: 1 <= kernel, stride, dilation <= 4096; 0 <= pads <= dilation*(kernel-1). */
pl_status pl_op_im2col(struct pl_ctx *ctx, struct pl_tensor *x, int kernel, int stride,
                       int dilation, int pad_left, int pad_right, struct pl_tensor **out);
pl_status pl_op_log_softmax(struct pl_ctx *ctx, struct pl_tensor *x, struct pl_tensor **out);
pl_status pl_op_complex_abs(struct pl_ctx *ctx, struct pl_tensor *x, struct pl_tensor **out);
/* PL_OP_LSTM_CELL: gates_h may be NULL. */
pl_status pl_op_lstm_cell(struct pl_ctx *ctx, struct pl_tensor *gates_x, struct pl_tensor *gates_h,
                          struct pl_tensor *c, struct pl_tensor **out);

/* ---- graphs: ordered lists of op tensors -------------------------------- */

/* Nodes run in the order they were added; each node's sources must be leaves
 * or earlier nodes. Every node must be placed before compute. */
struct pl_graph {
    int n_nodes;
    int cap;
    struct pl_tensor **nodes; /* borrowed tensors; the array is owned */
};

/* OUT: *out, caller owns; free with pl_graph_destroy(). */
pl_status pl_graph_create(int cap, struct pl_graph **out);
void pl_graph_destroy(struct pl_graph *g);
void pl_graph_reset(struct pl_graph *g);
/* Append an op tensor. Errors: PL_E_EXHAUSTED when full, PL_E_INVALID_ARG for
 * a leaf. */
pl_status pl_graph_add(struct pl_graph *g, struct pl_tensor *t);

#ifdef __cplusplus
}
#endif
#endif
