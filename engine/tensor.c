/* tensor.c - tensor metadata, contexts, op constructors and graphs. */
#include "tensor.h"

#include <math.h>
#include <string.h>

#include "alloc.h"
#include "backend_impl.h"

struct pl_ctx {
    int cap;
    int n;
    struct pl_tensor *pool; /* cap tensors, reused after pl_ctx_reset */
};

size_t pl_dtype_size(enum pl_dtype dt) {
    switch (dt) {
    case PL_DTYPE_F32: return 4;
    case PL_DTYPE_F16: return 2;
    case PL_DTYPE_BF16: return 2;
    case PL_DTYPE_I8: return 1;
    case PL_DTYPE_I32: return 4;
    default: return 0;
    }
}

const char *pl_dtype_name(enum pl_dtype dt) {
    static const char *names[] = {"f32", "f16", "bf16", "i8", "i32"};
    return (unsigned)dt < PL_DTYPE_COUNT ? names[dt] : "?";
}

const char *pl_op_name(enum pl_op op) {
    static const char *names[] = {"none",      "linear",      "act",         "add",
                                  "layer_norm", "softmax",    "embed",       "attention",
                                  "get_rows",  "dwconv",      "im2col",      "log_softmax",
                                  "complex_abs", "lstm_cell"};
    return (unsigned)op < PL_OP_COUNT ? names[op] : "?";
}

int64_t pl_tensor_nelements(const struct pl_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->n_dims; i++) n *= t->shape[i];
    return n;
}

size_t pl_tensor_nbytes(const struct pl_tensor *t) {
    return (size_t)pl_tensor_nelements(t) * pl_dtype_size(t->dtype);
}

int64_t pl_tensor_nrows(const struct pl_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i + 1 < t->n_dims; i++) n *= t->shape[i];
    return n;
}

bool pl_tensor_is_contiguous(const struct pl_tensor *t) {
    int64_t s = 1;
    for (int i = t->n_dims - 1; i >= 0; i--) {
        if (t->shape[i] != 1 && t->stride[i] != s) return false;
        s *= t->shape[i];
    }
    return true;
}

bool pl_tensor_same_shape(const struct pl_tensor *a, const struct pl_tensor *b) {
    if (a->n_dims != b->n_dims) return false;
    for (int i = 0; i < a->n_dims; i++)
        if (a->shape[i] != b->shape[i]) return false;
    return true;
}

/* ---- half precision ---------------------------------------------------- */

float pl_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t man = h & 0x3ff;
    uint32_t bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal: normalize */
            int e = -1;
            do {
                e++;
                man <<= 1;
            } while (!(man & 0x400));
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ff) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (man << 13);
    } else {
        bits = sign | ((exp + 112) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t pl_f32_to_f16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    uint32_t exp = (x >> 23) & 0xff;
    uint32_t man = x & 0x7fffff;
    if (exp == 0xff) return (uint16_t)(sign | 0x7c00 | (man ? 0x200 : 0));
    int32_t e = (int32_t)exp - 127 + 15;
    if (e >= 31) return (uint16_t)(sign | 0x7c00);
    if (e <= 0) {
        if (e < -10) return (uint16_t)sign;
        man |= 0x800000;
        uint32_t shift = (uint32_t)(14 - e);
        uint32_t h = man >> shift;
        uint32_t rem = man & ((1u << shift) - 1);
        uint32_t half = 1u << (shift - 1);
        if (rem > half || (rem == half && (h & 1))) h++;
        return (uint16_t)(sign | h);
    }
    uint32_t h = ((uint32_t)e << 10) | (man >> 13);
    uint32_t rem = man & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h++; /* may carry into exp: correct */
    return (uint16_t)(sign | h);
}

float pl_bf16_to_f32(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t pl_f32_to_bf16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffff) > 0x7f800000) return (uint16_t)((x >> 16) | 0x40); /* quiet NaN */
    x += 0x7fff + ((x >> 16) & 1);
    return (uint16_t)(x >> 16);
}

/* ---- contexts ------------------------------------------------------------ */

pl_status pl_ctx_create(int max_tensors, struct pl_ctx **out) {
    *out = NULL;
    if (max_tensors <= 0) return PL_ERR(PL_E_INVALID_ARG, "pl_ctx_create: %d tensors", max_tensors);
    struct pl_ctx *c = pl_calloc(1, sizeof *c);
    if (!c) return PL_ERR(PL_E_NOMEM, "pl_ctx_create: out of memory");
    c->pool = pl_malloc((size_t)max_tensors * sizeof *c->pool);
    if (!c->pool) {
        pl_free(c);
        return PL_ERR(PL_E_NOMEM, "pl_ctx_create: out of memory for %d tensors", max_tensors);
    }
    /* touch the pool now (a large calloc maps zero pages lazily): building a graph must
     * not fault pages in after creation */
    memset(c->pool, 0, (size_t)max_tensors * sizeof *c->pool);
    c->cap = max_tensors;
    *out = c;
    return PL_OK;
}

void pl_ctx_destroy(struct pl_ctx *ctx) {
    if (!ctx) return;
    pl_free(ctx->pool);
    pl_free(ctx);
}

void pl_ctx_reset(struct pl_ctx *ctx) { ctx->n = 0; }
int pl_ctx_n_tensors(const struct pl_ctx *ctx) { return ctx->n; }

pl_status pl_tensor_new(struct pl_ctx *ctx, enum pl_dtype dt, int n_dims, const int64_t *shape,
                        struct pl_tensor **out) {
    *out = NULL;
    if ((unsigned)dt >= PL_DTYPE_COUNT) return PL_ERR(PL_E_INVALID_ARG, "tensor: bad dtype %d", dt);
    if (n_dims < 1 || n_dims > PL_MAX_DIMS)
        return PL_ERR(PL_E_INVALID_ARG, "tensor: %d dims (1..%d)", n_dims, PL_MAX_DIMS);
    int64_t n = 1;
    for (int i = 0; i < n_dims; i++) {
        if (shape[i] < 0 || (shape[i] > 0 && n > INT64_MAX / 8 / shape[i]))
            return PL_ERR(PL_E_INVALID_ARG, "tensor: bad or overflowing dim %d = %lld", i,
                          (long long)shape[i]);
        n *= shape[i];
    }
    if (ctx->n >= ctx->cap)
        return PL_ERR(PL_E_EXHAUSTED, "tensor context full (%d tensors)", ctx->cap);
    struct pl_tensor *t = &ctx->pool[ctx->n++];
    memset(t, 0, sizeof *t);
    t->dtype = dt;
    t->n_dims = n_dims;
    int64_t s = 1;
    for (int i = PL_MAX_DIMS - 1; i >= 0; i--) {
        if (i < n_dims) {
            t->shape[i] = shape[i];
            t->stride[i] = s;
            s *= shape[i];
        } else {
            t->shape[i] = 1;
            t->stride[i] = 0;
        }
    }
    *out = t;
    return PL_OK;
}

pl_status pl_tensor_new_1d(struct pl_ctx *ctx, enum pl_dtype dt, int64_t n0, struct pl_tensor **out) {
    return pl_tensor_new(ctx, dt, 1, (int64_t[]){n0}, out);
}
pl_status pl_tensor_new_2d(struct pl_ctx *ctx, enum pl_dtype dt, int64_t n0, int64_t n1,
                           struct pl_tensor **out) {
    return pl_tensor_new(ctx, dt, 2, (int64_t[]){n0, n1}, out);
}
pl_status pl_tensor_new_3d(struct pl_ctx *ctx, enum pl_dtype dt, int64_t n0, int64_t n1, int64_t n2,
                           struct pl_tensor **out) {
    return pl_tensor_new(ctx, dt, 3, (int64_t[]){n0, n1, n2}, out);
}

void pl_tensor_set_name(struct pl_tensor *t, const char *name) {
    snprintf(t->name, sizeof t->name, "%s", name ? name : "");
}

pl_status pl_tensor_view(struct pl_ctx *ctx, const struct pl_tensor *t, int n_dims,
                         const int64_t *shape, int64_t offset, struct pl_tensor **out) {
    *out = NULL;
    if (!t->buffer || !pl_tensor_is_contiguous(t))
        return PL_ERR(PL_E_INVALID_ARG, "view of %s: not placed or not contiguous", t->name);
    struct pl_tensor *v;
    PL_TRY(pl_tensor_new(ctx, t->dtype, n_dims, shape, &v));
    int64_t n = pl_tensor_nelements(v);
    if (offset < 0 || offset > pl_tensor_nelements(t) || n > pl_tensor_nelements(t) - offset) {
        ctx->n--; /* give the slot back: nothing refers to it */
        return PL_ERR(PL_E_INVALID_ARG, "view of %s: %lld elements at %lld outside its %lld",
                      t->name, (long long)n, (long long)offset, (long long)pl_tensor_nelements(t));
    }
    size_t es = pl_dtype_size(t->dtype);
    v->buffer = t->buffer;
    v->offset = t->offset + (size_t)offset * es;
    v->data = (char *)t->data + (size_t)offset * es;
    memcpy(v->name, t->name, sizeof v->name); /* a view is named after what it views */
    *out = v;
    return PL_OK;
}

pl_status pl_tensor_view_rows(struct pl_ctx *ctx, const struct pl_tensor *t, int64_t r0, int64_t n,
                              struct pl_tensor **out) {
    int64_t h = t->shape[t->n_dims - 1];
    return pl_tensor_view(ctx, t, 2, (int64_t[]){n, h}, r0 * h, out);
}

pl_status pl_tensor_place(struct pl_tensor *t, struct pl_buffer *buf, size_t offset) {
    size_t nb = pl_tensor_nbytes(t);
    size_t es = pl_dtype_size(t->dtype);
    if (!buf || offset > buf->size || nb > buf->size - offset)
        return PL_ERR(PL_E_INVALID_ARG, "tensor %s: %zu bytes at offset %zu do not fit buffer of %zu",
                      t->name, nb, offset, buf ? buf->size : 0);
    if (es && offset % es)
        return PL_ERR(PL_E_INVALID_ARG, "tensor %s: offset %zu misaligned for %s", t->name, offset,
                      pl_dtype_name(t->dtype));
    t->buffer = buf;
    t->offset = offset;
    t->data = (char *)buf->base + offset;
    return PL_OK;
}

/* ---- op constructors ----------------------------------------------------- */

static pl_status new_like(struct pl_ctx *ctx, const struct pl_tensor *x, enum pl_dtype dt,
                          int64_t last, enum pl_op op, struct pl_tensor **out) {
    int64_t shape[PL_MAX_DIMS];
    for (int i = 0; i < x->n_dims; i++) shape[i] = x->shape[i];
    shape[x->n_dims - 1] = last;
    PL_TRY(pl_tensor_new(ctx, dt, x->n_dims, shape, out));
    (*out)->op = op;
    return PL_OK;
}

static bool is_vec(const struct pl_tensor *t, enum pl_dtype dt, int64_t n) {
    return t && t->dtype == dt && pl_tensor_nelements(t) == n && t->shape[t->n_dims - 1] == n;
}

static bool is_f32c(const struct pl_tensor *t) {
    return t && t->dtype == PL_DTYPE_F32 && pl_tensor_is_contiguous(t);
}

pl_status pl_op_linear(struct pl_ctx *ctx, struct pl_tensor *x, struct pl_tensor *w,
                       struct pl_tensor *w_scale, struct pl_tensor *bias, enum pl_act act,
                       struct pl_tensor **out) {
    *out = NULL;
    if (!is_f32c(x) || !w || w->n_dims != 2 || !pl_tensor_is_contiguous(w))
        return PL_ERR(PL_E_INVALID_ARG, "linear: x must be contiguous f32 and w 2-D");
    int64_t k = x->shape[x->n_dims - 1], n = w->shape[0];
    if (w->shape[1] != k)
        return PL_ERR(PL_E_INVALID_ARG, "linear %s: x has %lld features, weight [%lld, %lld]",
                      w->name, (long long)k, (long long)n, (long long)w->shape[1]);
    if (w->dtype == PL_DTYPE_I8) {
        if (!is_vec(w_scale, PL_DTYPE_F32, n))
            return PL_ERR(PL_E_INVALID_ARG, "linear %s: i8 weight needs f32 scales [%lld]", w->name,
                          (long long)n);
    } else if (w->dtype != PL_DTYPE_F32 && w->dtype != PL_DTYPE_F16 && w->dtype != PL_DTYPE_BF16) {
        return PL_ERR(PL_E_INVALID_ARG, "linear %s: weight dtype %s", w->name,
                      pl_dtype_name(w->dtype));
    } else if (w_scale) {
        return PL_ERR(PL_E_INVALID_ARG, "linear %s: scales given for a %s weight", w->name,
                      pl_dtype_name(w->dtype));
    }
    if (bias && !is_vec(bias, PL_DTYPE_F32, n))
        return PL_ERR(PL_E_INVALID_ARG, "linear %s: bias must be f32 [%lld]", w->name, (long long)n);
    if ((unsigned)act >= PL_ACT_COUNT) return PL_ERR(PL_E_INVALID_ARG, "linear: bad act %d", act);
    PL_TRY(new_like(ctx, x, PL_DTYPE_F32, n, PL_OP_LINEAR, out));
    (*out)->src[0] = x;
    (*out)->src[1] = w;
    (*out)->src[2] = bias;
    (*out)->src[3] = w_scale;
    (*out)->op_params[0] = act;
    return PL_OK;
}

pl_status pl_op_act(struct pl_ctx *ctx, struct pl_tensor *x, struct pl_tensor *bias,
                    enum pl_act act, struct pl_tensor **out) {
    *out = NULL;
    if (!is_f32c(x)) return PL_ERR(PL_E_INVALID_ARG, "act: x must be contiguous f32");
    int64_t h = x->shape[x->n_dims - 1];
    if (bias && !is_vec(bias, PL_DTYPE_F32, h))
        return PL_ERR(PL_E_INVALID_ARG, "act: bias must be f32 [%lld]", (long long)h);
    if ((unsigned)act >= PL_ACT_COUNT) return PL_ERR(PL_E_INVALID_ARG, "act: bad act %d", act);
    PL_TRY(new_like(ctx, x, PL_DTYPE_F32, h, PL_OP_ACT, out));
    (*out)->src[0] = x;
    (*out)->src[1] = bias;
    (*out)->op_params[0] = act;
    return PL_OK;
}

pl_status pl_op_copy(struct pl_ctx *ctx, struct pl_tensor *x, struct pl_tensor **out) {
    return pl_op_act(ctx, x, NULL, PL_ACT_NONE, out);
}

pl_status pl_op_add_act(struct pl_ctx *ctx, struct pl_tensor *a, struct pl_tensor *b,
                        enum pl_act act, struct pl_tensor **out) {
    *out = NULL;
    if (!is_f32c(a) || !is_f32c(b) || !pl_tensor_same_shape(a, b))
        return PL_ERR(PL_E_INVALID_ARG, "add: operands must be contiguous f32 of one shape");
    if ((unsigned)act >= PL_ACT_COUNT) return PL_ERR(PL_E_INVALID_ARG, "add: bad act %d", act);
    PL_TRY(new_like(ctx, a, PL_DTYPE_F32, a->shape[a->n_dims - 1], PL_OP_ADD, out));
    (*out)->src[0] = a;
    (*out)->src[1] = b;
    (*out)->op_params[0] = act;
    return PL_OK;
}

pl_status pl_op_add(struct pl_ctx *ctx, struct pl_tensor *a, struct pl_tensor *b,
                    struct pl_tensor **out) {
    return pl_op_add_act(ctx, a, b, PL_ACT_NONE, out);
}

pl_status pl_op_layer_norm(struct pl_ctx *ctx, struct pl_tensor *x, struct pl_tensor *residual,
                           struct pl_tensor *gamma, struct pl_tensor *beta, float eps,
                           struct pl_tensor **out) {
    *out = NULL;
    if (!is_f32c(x)) return PL_ERR(PL_E_INVALID_ARG, "layer_norm: x must be contiguous f32");
    int64_t h = x->shape[x->n_dims - 1];
    if (residual && (!is_f32c(residual) || !pl_tensor_same_shape(x, residual)))
        return PL_ERR(PL_E_INVALID_ARG, "layer_norm: residual shape differs from x");
    if (!is_vec(gamma, PL_DTYPE_F32, h) || !is_vec(beta, PL_DTYPE_F32, h))
        return PL_ERR(PL_E_INVALID_ARG, "layer_norm: gamma/beta must be f32 [%lld]", (long long)h);
    if (!(eps >= 0.0f) || !isfinite(eps)) return PL_ERR(PL_E_INVALID_ARG, "layer_norm: eps %g", eps);
    PL_TRY(new_like(ctx, x, PL_DTYPE_F32, h, PL_OP_LAYER_NORM, out));
    (*out)->src[0] = x;
    (*out)->src[1] = residual;
    (*out)->src[2] = gamma;
    (*out)->src[3] = beta;
    pl_tensor_set_param_f32(*out, 0, eps);
    return PL_OK;
}

pl_status pl_op_softmax(struct pl_ctx *ctx, struct pl_tensor *x, struct pl_tensor *mask,
                        float scale, struct pl_tensor **out) {
    *out = NULL;
    if (!is_f32c(x)) return PL_ERR(PL_E_INVALID_ARG, "softmax: x must be contiguous f32");
    if (mask && (mask->dtype != PL_DTYPE_I32 || !pl_tensor_same_shape(x, mask) ||
                 !pl_tensor_is_contiguous(mask)))
        return PL_ERR(PL_E_INVALID_ARG, "softmax: mask must be i32 of x's shape");
    PL_TRY(new_like(ctx, x, PL_DTYPE_F32, x->shape[x->n_dims - 1], PL_OP_SOFTMAX, out));
    (*out)->src[0] = x;
    (*out)->src[1] = mask;
    pl_tensor_set_param_f32(*out, 0, scale);
    return PL_OK;
}

static bool is_bs_i32(const struct pl_tensor *t, int64_t b, int64_t s) {
    return t->dtype == PL_DTYPE_I32 && t->n_dims == 2 && t->shape[0] == b && t->shape[1] == s &&
           pl_tensor_is_contiguous(t);
}

pl_status pl_op_embed(struct pl_ctx *ctx, const struct pl_embed_args *a, struct pl_tensor **out) {
    *out = NULL;
    if (!a->ids || a->ids->dtype != PL_DTYPE_I32 || a->ids->n_dims != 2)
        return PL_ERR(PL_E_INVALID_ARG, "embed: ids must be i32 [B, S]");
    int64_t b = a->ids->shape[0], s = a->ids->shape[1];
    if (!is_f32c(a->word) || a->word->n_dims != 2)
        return PL_ERR(PL_E_INVALID_ARG, "embed: word embeddings must be f32 [V, H]");
    int64_t h = a->word->shape[1];
    if (!is_f32c(a->pos) || a->pos->n_dims != 2 || a->pos->shape[1] != h)
        return PL_ERR(PL_E_INVALID_ARG, "embed: position embeddings must be f32 [P, %lld]",
                      (long long)h);
    if (a->type && (!is_f32c(a->type) || a->type->n_dims != 2 || a->type->shape[1] != h))
        return PL_ERR(PL_E_INVALID_ARG, "embed: type embeddings must be f32 [T, %lld]", (long long)h);
    if (a->type_ids && !is_bs_i32(a->type_ids, b, s))
        return PL_ERR(PL_E_INVALID_ARG, "embed: token type ids must be i32 [B, S]");
    if (a->mask && !is_bs_i32(a->mask, b, s))
        return PL_ERR(PL_E_INVALID_ARG, "embed: mask must be i32 [B, S]");
    if (!is_vec(a->gamma, PL_DTYPE_F32, h) || !is_vec(a->beta, PL_DTYPE_F32, h))
        return PL_ERR(PL_E_INVALID_ARG, "embed: gamma/beta must be f32 [%lld]", (long long)h);
    PL_TRY(pl_tensor_new_3d(ctx, PL_DTYPE_F32, b, s, h, out));
    struct pl_tensor *t = *out;
    t->op = PL_OP_EMBED;
    t->src[0] = a->ids;
    t->src[1] = a->word;
    t->src[2] = a->pos;
    t->src[3] = a->type;
    t->src[4] = a->type_ids;
    t->src[5] = a->gamma;
    t->src[6] = a->beta;
    t->src[7] = a->mask;
    pl_tensor_set_param_f32(t, 0, a->eps);
    t->op_params[1] = a->pos_offset;
    t->op_params[2] = a->pad_pos;
    return PL_OK;
}

pl_status pl_op_attention(struct pl_ctx *ctx, struct pl_tensor *qkv, struct pl_tensor *mask,
                          int n_heads, float scale, struct pl_tensor **out) {
    *out = NULL;
    if (!is_f32c(qkv) || qkv->n_dims != 3 || qkv->shape[2] % 3)
        return PL_ERR(PL_E_INVALID_ARG, "attention: qkv must be contiguous f32 [B, S, 3H]");
    int64_t h = qkv->shape[2] / 3;
    if (n_heads <= 0 || h % n_heads)
        return PL_ERR(PL_E_INVALID_ARG, "attention: %lld features not divisible by %d heads",
                      (long long)h, n_heads);
    if (mask && !is_bs_i32(mask, qkv->shape[0], qkv->shape[1]))
        return PL_ERR(PL_E_INVALID_ARG, "attention: mask must be i32 [B, S]");
    PL_TRY(pl_tensor_new_3d(ctx, PL_DTYPE_F32, qkv->shape[0], qkv->shape[1], h, out));
    (*out)->op = PL_OP_ATTENTION;
    (*out)->src[0] = qkv;
    (*out)->src[1] = mask;
    (*out)->op_params[0] = n_heads;
    pl_tensor_set_param_f32(*out, 1, scale);
    return PL_OK;
}

pl_status pl_op_attention_prec(struct pl_tensor *att, enum pl_att_prec prec) {
    if (!att || att->op != PL_OP_ATTENTION)
        return PL_ERR(PL_E_INVALID_ARG, "attention precision: not an attention node");
    if (prec != PL_ATT_F32 && prec != PL_ATT_BF16)
        return PL_ERR(PL_E_INVALID_ARG, "attention precision: %d (f32 or bf16)", (int)prec);
    att->op_params[2] = (int32_t)prec;
    return PL_OK;
}

pl_status pl_op_get_rows(struct pl_ctx *ctx, struct pl_tensor *x, struct pl_tensor *idx,
                         struct pl_tensor **out) {
    *out = NULL;
    if (!is_f32c(x)) return PL_ERR(PL_E_INVALID_ARG, "get_rows: x must be contiguous f32");
    if (!idx || idx->dtype != PL_DTYPE_I32 || idx->n_dims != 1)
        return PL_ERR(PL_E_INVALID_ARG, "get_rows: indices must be i32 [R]");
    PL_TRY(pl_tensor_new_2d(ctx, PL_DTYPE_F32, idx->shape[0], x->shape[x->n_dims - 1], out));
    (*out)->op = PL_OP_GET_ROWS;
    (*out)->src[0] = x;
    (*out)->src[1] = idx;
    return PL_OK;
}

/* [.., T, C] -> the same leading dims with T replaced by t_out and C by c_out. */
static pl_status new_frames(struct pl_ctx *ctx, struct pl_tensor *x, int64_t t_out,
                            int64_t c_out, enum pl_op op, struct pl_tensor **out) {
    int64_t shape[PL_MAX_DIMS];
    for (int i = 0; i < x->n_dims; i++) shape[i] = x->shape[i];
    shape[x->n_dims - 2] = t_out;
    shape[x->n_dims - 1] = c_out;
    PL_TRY(pl_tensor_new(ctx, PL_DTYPE_F32, x->n_dims, shape, out));
    (*out)->op = op;
    (*out)->src[0] = x;
    return PL_OK;
}

pl_status pl_op_dwconv(struct pl_ctx *ctx, struct pl_tensor *x, struct pl_tensor *w,
                       struct pl_tensor *bias, int stride, int dilation, struct pl_tensor **out) {
    *out = NULL;
    if (!is_f32c(x) || x->n_dims < 2)
        return PL_ERR(PL_E_INVALID_ARG, "dwconv: x must be contiguous f32 [.., T, C]");
    int64_t t = x->shape[x->n_dims - 2], c = x->shape[x->n_dims - 1];
    if (!is_f32c(w) || w->n_dims != 2 || w->shape[1] != c)
        return PL_ERR(PL_E_INVALID_ARG, "dwconv: weight must be f32 [K, %lld]", (long long)c);
    if (bias && !is_vec(bias, PL_DTYPE_F32, c))
        return PL_ERR(PL_E_INVALID_ARG, "dwconv: bias must be f32 [%lld]", (long long)c);
    if (stride < 1 || stride > 4096 || dilation < 1 || dilation > 4096)
        return PL_ERR(PL_E_INVALID_ARG, "dwconv: stride %d / dilation %d outside 1..4096", stride,
                      dilation);
    int64_t span = (int64_t)dilation * (w->shape[0] - 1);
    if (w->shape[0] < 1 || t <= span)
        return PL_ERR(PL_E_INVALID_ARG, "dwconv: %lld frames do not cover one window of %lld",
                      (long long)t, (long long)span + 1);
    PL_TRY(new_frames(ctx, x, (t - span - 1) / stride + 1, c, PL_OP_DWCONV, out));
    (*out)->src[1] = w;
    (*out)->src[2] = bias;
    (*out)->op_params[0] = stride;
    (*out)->op_params[1] = dilation;
    return PL_OK;
}

pl_status pl_op_im2col(struct pl_ctx *ctx, struct pl_tensor *x, int kernel, int stride,
                       int dilation, int pad_left, int pad_right, struct pl_tensor **out) {
    *out = NULL;
    if (!is_f32c(x) || x->n_dims < 2)
        return PL_ERR(PL_E_INVALID_ARG, "im2col: x must be contiguous f32 [.., T, C]");
    if (kernel < 1 || kernel > 4096 || stride < 1 || stride > 4096 || dilation < 1 ||
        dilation > 4096)
        return PL_ERR(PL_E_INVALID_ARG, "im2col: kernel %d, stride %d, dilation %d (1..4096)",
                      kernel, stride, dilation);
    int64_t span = (int64_t)dilation * (kernel - 1);
    if (pad_left < 0 || pad_right < 0 || pad_left > span || pad_right > span)
        return PL_ERR(PL_E_INVALID_ARG, "im2col: padding %d / %d outside 0..%lld", pad_left,
                      pad_right, (long long)span);
    int64_t t = x->shape[x->n_dims - 2] + pad_left + pad_right, c = x->shape[x->n_dims - 1];
    if (t <= span)
        return PL_ERR(PL_E_INVALID_ARG, "im2col: %lld padded frames do not cover a window of %lld",
                      (long long)t, (long long)span + 1);
    PL_TRY(new_frames(ctx, x, (t - span - 1) / stride + 1, c * kernel, PL_OP_IM2COL, out));
    int32_t *p = (*out)->op_params;
    p[0] = kernel;
    p[1] = stride;
    p[2] = dilation;
    p[3] = pad_left;
    p[4] = pad_right;
    return PL_OK;
}

pl_status pl_op_log_softmax(struct pl_ctx *ctx, struct pl_tensor *x, struct pl_tensor **out) {
    *out = NULL;
    if (!is_f32c(x)) return PL_ERR(PL_E_INVALID_ARG, "log_softmax: x must be contiguous f32");
    PL_TRY(new_like(ctx, x, PL_DTYPE_F32, x->shape[x->n_dims - 1], PL_OP_LOG_SOFTMAX, out));
    (*out)->src[0] = x;
    return PL_OK;
}

pl_status pl_op_complex_abs(struct pl_ctx *ctx, struct pl_tensor *x, struct pl_tensor **out) {
    *out = NULL;
    if (!is_f32c(x) || x->shape[x->n_dims - 1] % 2)
        return PL_ERR(PL_E_INVALID_ARG, "complex_abs: x must be contiguous f32 [.., 2N]");
    PL_TRY(new_like(ctx, x, PL_DTYPE_F32, x->shape[x->n_dims - 1] / 2, PL_OP_COMPLEX_ABS, out));
    (*out)->src[0] = x;
    return PL_OK;
}

pl_status pl_op_lstm_cell(struct pl_ctx *ctx, struct pl_tensor *gates_x, struct pl_tensor *gates_h,
                          struct pl_tensor *c, struct pl_tensor **out) {
    *out = NULL;
    if (!is_f32c(gates_x) || gates_x->n_dims != 2 || gates_x->shape[1] % 4)
        return PL_ERR(PL_E_INVALID_ARG, "lstm_cell: gates must be contiguous f32 [B, 4H]");
    int64_t b = gates_x->shape[0], h = gates_x->shape[1] / 4;
    if (gates_h && (!is_f32c(gates_h) || !pl_tensor_same_shape(gates_x, gates_h)))
        return PL_ERR(PL_E_INVALID_ARG, "lstm_cell: the second gates must be f32 [B, 4H] too");
    if (!is_f32c(c) || c->n_dims != 2 || c->shape[0] != b || c->shape[1] != h)
        return PL_ERR(PL_E_INVALID_ARG, "lstm_cell: cell state must be f32 [%lld, %lld]",
                      (long long)b, (long long)h);
    PL_TRY(pl_tensor_new_3d(ctx, PL_DTYPE_F32, 2, b, h, out));
    (*out)->op = PL_OP_LSTM_CELL;
    (*out)->src[0] = gates_x;
    (*out)->src[1] = gates_h;
    (*out)->src[2] = c;
    return PL_OK;
}

/* ---- graphs -------------------------------------------------------------- */

pl_status pl_graph_create(int cap, struct pl_graph **out) {
    *out = NULL;
    if (cap <= 0) return PL_ERR(PL_E_INVALID_ARG, "pl_graph_create: capacity %d", cap);
    struct pl_graph *g = pl_calloc(1, sizeof *g);
    if (!g) return PL_ERR(PL_E_NOMEM, "pl_graph_create: out of memory");
    g->nodes = pl_calloc((size_t)cap, sizeof *g->nodes);
    if (!g->nodes) {
        pl_free(g);
        return PL_ERR(PL_E_NOMEM, "pl_graph_create: out of memory for %d nodes", cap);
    }
    g->cap = cap;
    *out = g;
    return PL_OK;
}

void pl_graph_destroy(struct pl_graph *g) {
    if (!g) return;
    pl_free(g->nodes);
    pl_free(g);
}

void pl_graph_reset(struct pl_graph *g) { g->n_nodes = 0; }

pl_status pl_graph_add(struct pl_graph *g, struct pl_tensor *t) {
    if (!t || t->op == PL_OP_NONE) return PL_ERR(PL_E_INVALID_ARG, "graph: only op tensors are nodes");
    if (g->n_nodes >= g->cap) return PL_ERR(PL_E_EXHAUSTED, "graph full (%d nodes)", g->cap);
    g->nodes[g->n_nodes++] = t;
    return PL_OK;
}
