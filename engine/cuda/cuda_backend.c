/*
 * cuda_backend.c - the "cuda" engine backend (backend_impl.h vtable) on top of
 * the kernel launchers of pl_cuda.h.
 *
 * Buffers are plain device allocations; tensor data pointers are device
 * pointers. Every op of tensor.h runs on the device in f32 activations;
 * PL_OP_LINEAR also takes f16 weights (the activations are converted to f16
 * in pool scratch, the GEMM accumulates in f32 and writes f32). bf16 and int8
 * weights are PL_E_UNSUPPORTED: no silent fallback.
 *
 * graph_compute queues all nodes on the context's stream, then synchronizes
 * once so that kernel-detected input errors (token id out of range) come back
 * as PL_E_INVALID_ARG from the call that caused them.
 *
 * Uses only the headers of the engine core (types and inline helpers), no
 * functions of parley_engine_core, so the two static libraries have no link
 * cycle.
 *
 * Set PARLEY_CUDA_TF32=1 to let f32 GEMMs use TF32 tensor cores.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "backend_impl.h"
#include "log.h"
#include "pl_cuda.h"

struct cuda_be {
    struct pl_cuda_ctx *cu;
    int dev;
    char name[32];
};

static struct pl_cuda_ctx *cu_of(const struct pl_backend *be) {
    return ((const struct cuda_be *)be->ctx)->cu;
}

static const char *op_name(enum pl_op op) {
    /* tensor.c's pl_op_name: this library may not call parley_engine_core (see above) */
    static const char *const names[PL_OP_COUNT] = {
        "none",     "linear", "act",    "add",         "layer_norm",  "softmax",  "embed",
        "attention", "get_rows", "dwconv", "im2col", "log_softmax", "complex_abs", "lstm_cell"};
    return (unsigned)op < PL_OP_COUNT ? names[op] : "?";
}

static int64_t nelem(const struct pl_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->n_dims; i++) n *= t->shape[i];
    return n;
}
static int64_t last_dim(const struct pl_tensor *t) { return t->shape[t->n_dims - 1]; }

static bool contiguous(const struct pl_tensor *t) {
    int64_t want = 1;
    if (t->n_dims < 1 || t->n_dims > PL_MAX_DIMS) return false;
    for (int i = t->n_dims - 1; i >= 0; i--) {
        if (t->shape[i] < 1) return false;
        if (t->shape[i] > 1 && t->stride[i] != want) return false;
        want *= t->shape[i];
    }
    return true;
}

/* ---- vtable: lifetime and memory ------------------------------------------------ */

static const char *cuda_name(const struct pl_backend *be) {
    return ((const struct cuda_be *)be->ctx)->name;
}

static void cuda_destroy(struct pl_backend *be) {
    if (!be) return;
    struct cuda_be *c = be->ctx;
    if (c) {
        pl_cuda_ctx_destroy(c->cu);
        pl_free(c);
    }
    pl_free(be);
}

static void cuda_buf_free(struct pl_buffer *buf) {
    struct pl_cuda_ctx *cu = buf->ctx;
    pl_cuda_free(cu, buf->base);
    pl_free(buf);
}

static pl_status cuda_buffer_alloc(struct pl_backend *be, size_t n, struct pl_buffer **out) {
    struct pl_buffer *buf = pl_calloc(1, sizeof *buf);
    void *p = NULL;
    if (!buf) return PL_ERR(PL_E_NOMEM, "cuda buffer: out of host memory");
    pl_status st = pl_cuda_malloc(cu_of(be), n ? n : 256, &p);
    if (st != PL_OK) {
        pl_free(buf);
        return st;
    }
    buf->iface.free = cuda_buf_free;
    buf->backend = be;
    buf->base = p;
    buf->size = n;
    buf->ctx = cu_of(be);
    *out = buf;
    return PL_OK;
}

static pl_status cuda_tensor_set(struct pl_backend *be, struct pl_tensor *t, const void *src,
                                 size_t off, size_t n) {
    return pl_cuda_memcpy_h2d(cu_of(be), (char *)t->data + off, src, n);
}

static pl_status cuda_tensor_get(struct pl_backend *be, const struct pl_tensor *t, void *dst,
                                 size_t off, size_t n) {
    return pl_cuda_memcpy_d2h(cu_of(be), dst, (const char *)t->data + off, n);
}

static pl_status cuda_synchronize(struct pl_backend *be) { return pl_cuda_ctx_sync(cu_of(be)); }

/* ---- ops ------------------------------------------------------------------------- */

static bool is_f32(const struct pl_tensor *t) { return !t || t->dtype == PL_DTYPE_F32; }
static bool is_i32(const struct pl_tensor *t) { return !t || t->dtype == PL_DTYPE_I32; }

static bool cuda_supports_op(const struct pl_backend *be, const struct pl_tensor *t) {
    (void)be;
    if (!t || t->dtype != PL_DTYPE_F32 || !contiguous(t)) return false;
    for (int i = 0; i < PL_MAX_SRC; i++)
        if (t->src[i] && !contiguous(t->src[i])) return false;
    const struct pl_tensor *const *s = (const struct pl_tensor *const *)t->src;
    switch (t->op) {
    case PL_OP_LINEAR:
        return s[0] && s[1] && is_f32(s[0]) && is_f32(s[2]) &&
               (s[1]->dtype == PL_DTYPE_F32 || s[1]->dtype == PL_DTYPE_F16);
    case PL_OP_ACT: return s[0] && is_f32(s[0]) && is_f32(s[1]);
    case PL_OP_ADD: return s[0] && s[1] && is_f32(s[0]) && is_f32(s[1]);
    case PL_OP_LAYER_NORM:
        return s[0] && s[2] && s[3] && is_f32(s[0]) && is_f32(s[1]) && is_f32(s[2]) &&
               is_f32(s[3]);
    case PL_OP_SOFTMAX: return s[0] && is_f32(s[0]) && is_i32(s[1]);
    case PL_OP_EMBED:
        return s[0] && s[1] && s[2] && s[5] && s[6] && is_i32(s[0]) && is_f32(s[1]) &&
               is_f32(s[2]) && is_f32(s[3]) && is_i32(s[4]) && is_f32(s[5]) && is_f32(s[6]) &&
               is_i32(s[7]);
    case PL_OP_ATTENTION: return s[0] && is_f32(s[0]) && is_i32(s[1]);
    case PL_OP_GET_ROWS: return s[0] && s[1] && is_f32(s[0]) && is_i32(s[1]);
    case PL_OP_DWCONV:
        return s[0] && s[1] && is_f32(s[0]) && is_f32(s[1]) && is_f32(s[2]) && s[0]->n_dims >= 2;
    case PL_OP_IM2COL: return s[0] && is_f32(s[0]) && s[0]->n_dims >= 2;
    case PL_OP_LOG_SOFTMAX:
    case PL_OP_COMPLEX_ABS: return s[0] && is_f32(s[0]);
    case PL_OP_LSTM_CELL: return s[0] && s[2] && is_f32(s[0]) && is_f32(s[1]) && is_f32(s[2]);
    default: return false;
    }
}

static const void *dptr(const struct pl_tensor *t) { return t ? t->data : NULL; }

static pl_status op_linear(struct pl_cuda_ctx *cu, struct pl_tensor *t) {
    const struct pl_tensor *x = t->src[0], *w = t->src[1], *b = t->src[2];
    const int64_t k = last_dim(x), n = w->shape[0], m = nelem(x) / k;
    const enum pl_cuda_act act = (enum pl_cuda_act)t->op_params[0];
    void *x16 = NULL;
    pl_status st = PL_OK;

    if (w->n_dims != 2 || w->shape[1] != k || last_dim(t) != n || nelem(t) != m * n)
        return PL_ERR(PL_E_INVALID_ARG, "cuda linear %s: shapes do not match", t->name);
    struct pl_cuda_gemm g = {.ab_type = PL_CUDA_F32, .c_type = PL_CUDA_F32, .trans_b = true,
                             .m = m, .n = n, .k = k, .batch = 1, .alpha = 1.0f, .a = x->data,
                             .lda = k, .b = w->data, .ldb = k, .c = t->data, .ldc = n};
    if (w->dtype == PL_DTYPE_F16) {
        PL_TRY(pl_cuda_pool_alloc(cu, (size_t)(m * k) * 2, &x16));
        PL_TRY_GOTO(st, pl_cuda_f32_to_f16(cu, x16, x->data, m * k));
        g.ab_type = PL_CUDA_F16;
        g.a = x16;
    }
    PL_TRY_GOTO(st, pl_cuda_gemm(cu, &g));
    if (b || act != PL_CUDA_ACT_NONE)
        PL_TRY_GOTO(st, pl_cuda_bias_act(cu, PL_CUDA_F32, t->data, dptr(b), m, n, act));
fail:
    pl_cuda_pool_free(cu, x16);
    return st;
}

static pl_status op_embed(struct pl_cuda_ctx *cu, struct pl_tensor *t) {
    const struct pl_tensor *ids = t->src[0], *word = t->src[1], *pos = t->src[2];
    const struct pl_tensor *type = t->src[3];
    struct pl_cuda_embed_args a = {
        .ids = ids->data, .type_ids = dptr(t->src[4]), .mask = dptr(t->src[7]),
        .word = word->data, .pos = pos->data, .type = dptr(type), .gamma = t->src[5]->data,
        .beta = t->src[6]->data, .seq = last_dim(ids), .hidden = last_dim(word),
        .vocab = word->shape[0], .n_pos = pos->shape[0], .n_types = type ? type->shape[0] : 0,
        .pos_offset = t->op_params[1], .pad_pos = t->op_params[2],
        .eps = pl_tensor_param_f32(t, 0)};
    a.batch = nelem(ids) / a.seq;
    if (last_dim(pos) != a.hidden || (type && last_dim(type) != a.hidden) ||
        nelem(t) != nelem(ids) * a.hidden)
        return PL_ERR(PL_E_INVALID_ARG, "cuda embed %s: shapes do not match", t->name);
    return pl_cuda_embed(cu, PL_CUDA_F32, t->data, &a);
}

static pl_status op_attention(struct pl_cuda_ctx *cu, struct pl_tensor *t) {
    const struct pl_tensor *qkv = t->src[0];
    const int64_t heads = t->op_params[0], w3 = last_dim(qkv);
    if (qkv->n_dims != 3 || heads < 1 || w3 % 3 || (w3 / 3) % heads)
        return PL_ERR(PL_E_INVALID_ARG, "cuda attention %s: bad qkv shape or %lld heads", t->name,
                      (long long)heads);
    const int64_t batch = qkv->shape[0], seq = qkv->shape[1], hidden = w3 / 3;
    return pl_cuda_attention(cu, PL_CUDA_F32, t->data, qkv->data, NULL, dptr(t->src[1]), batch,
                             seq, heads, hidden / heads, pl_tensor_param_f32(t, 1));
}

/* [.., T, C] sequences: their count (the leading dims) and T. */
static int64_t n_seq(const struct pl_tensor *t) {
    return nelem(t) / (t->shape[t->n_dims - 2] * last_dim(t));
}

static pl_status op_sequence(struct pl_cuda_ctx *cu, struct pl_tensor *t) {
    struct pl_tensor *const *s = t->src;
    const int32_t *p = t->op_params;
    switch (t->op) {
    case PL_OP_DWCONV:
        return pl_cuda_dwconv(cu, PL_CUDA_F32, t->data, s[0]->data, s[1]->data, dptr(s[2]),
                              n_seq(s[0]), s[0]->shape[s[0]->n_dims - 2], t->shape[t->n_dims - 2],
                              last_dim(t), (int)s[1]->shape[0], p[0], p[1]);
    case PL_OP_IM2COL:
        return pl_cuda_im2col(cu, PL_CUDA_F32, t->data, s[0]->data, n_seq(s[0]),
                              s[0]->shape[s[0]->n_dims - 2], t->shape[t->n_dims - 2],
                              last_dim(s[0]), p[0], p[1], p[2], p[3]);
    case PL_OP_LOG_SOFTMAX:
        return pl_cuda_log_softmax(cu, PL_CUDA_F32, t->data, s[0]->data, nelem(t) / last_dim(t),
                                   last_dim(t));
    case PL_OP_COMPLEX_ABS:
        return pl_cuda_complex_abs(cu, PL_CUDA_F32, t->data, s[0]->data, nelem(t) / last_dim(t),
                                   last_dim(t));
    case PL_OP_LSTM_CELL:
        return pl_cuda_lstm_cell(cu, PL_CUDA_F32, t->data, s[0]->data, dptr(s[1]), s[2]->data,
                                 t->shape[1], t->shape[2]);
    default: return PL_ERR(PL_E_UNSUPPORTED, "cuda: op %s is not supported", op_name(t->op));
    }
}

static pl_status run_node(struct pl_cuda_ctx *cu, struct pl_tensor *t) {
    struct pl_tensor *const *s = t->src;
    switch (t->op) {
    case PL_OP_LINEAR: return op_linear(cu, t);
    case PL_OP_ACT: {
        const int64_t cols = last_dim(t), rows = nelem(t) / cols;
        if (t->data != s[0]->data)
            PL_TRY(pl_cuda_memcpy_d2d(cu, t->data, s[0]->data, (size_t)nelem(t) * 4));
        return pl_cuda_bias_act(cu, PL_CUDA_F32, t->data, dptr(s[1]), rows, cols,
                                (enum pl_cuda_act)t->op_params[0]);
    }
    case PL_OP_ADD: {
        const int64_t cols = last_dim(t);
        PL_TRY(pl_cuda_add(cu, PL_CUDA_F32, t->data, s[0]->data, s[1]->data, nelem(t)));
        return pl_cuda_bias_act(cu, PL_CUDA_F32, t->data, NULL, nelem(t) / cols, cols,
                                (enum pl_cuda_act)t->op_params[0]); /* no-op without an act */
    }
    case PL_OP_LAYER_NORM: {
        const int64_t cols = last_dim(t);
        return pl_cuda_add_layernorm(cu, PL_CUDA_F32, t->data, s[0]->data, NULL, dptr(s[1]),
                                     s[2]->data, s[3]->data, nelem(t) / cols, cols,
                                     pl_tensor_param_f32(t, 0));
    }
    case PL_OP_SOFTMAX: {
        const int64_t cols = last_dim(t);
        return pl_cuda_softmax(cu, PL_CUDA_F32, t->data, s[0]->data, dptr(s[1]), 1,
                               nelem(t) / cols, cols, pl_tensor_param_f32(t, 0));
    }
    case PL_OP_EMBED: return op_embed(cu, t);
    case PL_OP_ATTENTION: return op_attention(cu, t);
    case PL_OP_GET_ROWS: {
        const int64_t cols = last_dim(s[0]);
        return pl_cuda_get_rows(cu, PL_CUDA_F32, t->data, s[0]->data, s[1]->data, nelem(s[1]),
                                nelem(s[0]) / cols, cols);
    }
    default: return op_sequence(cu, t);
    }
}

static pl_status cuda_graph_compute(struct pl_backend *be, struct pl_graph *g) {
    struct pl_cuda_ctx *cu = cu_of(be);
    if (!g) return PL_ERR(PL_E_INVALID_ARG, "cuda graph_compute: NULL graph");
    for (int i = 0; i < g->n_nodes; i++) {
        const struct pl_tensor *t = g->nodes[i];
        if (!cuda_supports_op(be, t))
            return PL_ERR(PL_E_UNSUPPORTED, "cuda: cannot run op %s (node %d '%s'; dtype %d)",
                          op_name(t->op), i, t->name,
                          t->op == PL_OP_LINEAR && t->src[1] ? (int)t->src[1]->dtype
                                                             : (int)t->dtype);
        if (!t->data) return PL_ERR(PL_E_INVALID_ARG, "cuda: node %d '%s' is not placed", i, t->name);
        for (int j = 0; j < PL_MAX_SRC; j++)
            if (t->src[j] && !t->src[j]->data)
                return PL_ERR(PL_E_INVALID_ARG, "cuda: source %d of '%s' is not placed", j,
                              t->name);
    }
    for (int i = 0; i < g->n_nodes; i++) {
        pl_status st = run_node(cu, g->nodes[i]);
        if (st != PL_OK) {
            (void)pl_cuda_ctx_sync(cu); /* drain what was queued; keep the first error */
            return st;
        }
    }
    return pl_cuda_ctx_sync(cu);
}

static const struct pl_backend_i cuda_iface = {
    .name = cuda_name,
    .destroy = cuda_destroy,
    .buffer_alloc = cuda_buffer_alloc,
    .tensor_set = cuda_tensor_set,
    .tensor_get = cuda_tensor_get,
    .supports_op = cuda_supports_op,
    .graph_compute = cuda_graph_compute,
    .synchronize = cuda_synchronize,
    .buffer_from_host = NULL,
    .is_host = false,
};

pl_status pl_backend_cuda_create(int dev, struct pl_backend **out) {
    struct pl_backend *be = NULL;
    struct cuda_be *c = NULL;
    pl_status st = PL_OK;
    const char *tf32 = getenv("PARLEY_CUDA_TF32");

    if (!out) return PL_ERR(PL_E_INVALID_ARG, "cuda backend: out is NULL");
    *out = NULL;
    be = pl_calloc(1, sizeof *be);
    c = pl_calloc(1, sizeof *c);
    if (!be || !c) {
        st = PL_ERR(PL_E_NOMEM, "cuda backend: out of memory");
        goto fail;
    }
    PL_TRY_GOTO(st, pl_cuda_ctx_create(dev, &c->cu));
    pl_cuda_ctx_set_tf32(c->cu, tf32 && tf32[0] == '1');
    c->dev = dev;
    snprintf(c->name, sizeof c->name, "cuda:%d", dev);
    be->api_version = PL_BACKEND_API_VERSION;
    be->iface = cuda_iface;
    be->ctx = c;
    *out = be;
    return PL_OK;
fail:
    if (c) pl_cuda_ctx_destroy(c->cu);
    pl_free(c);
    pl_free(be);
    return st;
}
