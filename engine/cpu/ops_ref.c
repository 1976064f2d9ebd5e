/*
 * ops_ref.c - the CPU backend's scalar reference mode: the oracle of the
 * kernel tests. Plain loops, double accumulators, libm functions; no
 * threads, no SIMD. Written for obviousness, not speed.
 */
#include <math.h>
#include <string.h>

#include "cpu_impl.h"

float pl__act_ref(float x, int act) {
    switch (act) {
    case PL_ACT_GELU_ERF: return (float)(0.5 * x * (1.0 + erf(x / sqrt(2.0))));
    case PL_ACT_GELU_TANH: {
        double xd = x;
        return (float)(0.5 * xd * (1.0 + tanh(sqrt(2.0 / M_PI) * (xd + 0.044715 * xd * xd * xd))));
    }
    case PL_ACT_TANH: return tanhf(x);
    case PL_ACT_RELU: return x > 0 ? x : 0;
    case PL_ACT_SIGMOID: return (float)(1.0 / (1.0 + exp(-(double)x)));
    default: return x;
    }
}

static float weight_at(const struct pl_tensor *w, int64_t i) {
    switch (w->dtype) {
    case PL_DTYPE_F32: return ((const float *)w->data)[i];
    case PL_DTYPE_F16: return pl_f16_to_f32(((const uint16_t *)w->data)[i]);
    case PL_DTYPE_BF16: return pl_bf16_to_f32(((const uint16_t *)w->data)[i]);
    case PL_DTYPE_I8: return ((const int8_t *)w->data)[i];
    default: return 0;
    }
}

/* Symmetric per-row quantization used by every int8 path (the fast kernels
 * reproduce it exactly): scale = max|x| / 127, q = round-half-even(x / scale). */
static float quant_row_ref(const float *x, int64_t k, int8_t *q) {
    float amax = 0;
    for (int64_t i = 0; i < k; i++) amax = fmaxf(amax, fabsf(x[i]));
    float scale = amax / 127.0f;
    float inv = amax > 0 ? 127.0f / amax : 0.0f;
    for (int64_t i = 0; i < k; i++) {
        float v = nearbyintf(x[i] * inv);
        q[i] = (int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
    }
    return scale;
}

static pl_status linear_ref(struct pl_tensor *t) {
    const struct pl_tensor *x = t->src[0], *w = t->src[1], *b = t->src[2], *sc = t->src[3];
    int64_t m = pl_tensor_nrows(x), k = x->shape[x->n_dims - 1], n = w->shape[0];
    const float *xd = x->data;
    float *y = t->data;
    int act = t->op_params[0];
    if (w->dtype == PL_DTYPE_I8) {
        int8_t q[k > 0 ? k : 1];
        const int8_t *wq = w->data;
        for (int64_t i = 0; i < m; i++) {
            float xs = quant_row_ref(xd + i * k, k, q);
            for (int64_t j = 0; j < n; j++) {
                int64_t acc = 0;
                for (int64_t l = 0; l < k; l++) acc += (int32_t)q[l] * wq[j * k + l];
                float v = (float)acc * xs * ((const float *)sc->data)[j];
                if (b) v += ((const float *)b->data)[j];
                y[i * n + j] = pl__act_ref(v, act);
            }
        }
        return PL_OK;
    }
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double acc = b ? ((const float *)b->data)[j] : 0.0;
            for (int64_t l = 0; l < k; l++) acc += (double)xd[i * k + l] * weight_at(w, j * k + l);
            y[i * n + j] = pl__act_ref((float)acc, act);
        }
    return PL_OK;
}

static void layer_norm_row(const float *x, const float *r, const float *g, const float *be,
                           float eps, int64_t h, float *y) {
    double mean = 0, var = 0;
    for (int64_t i = 0; i < h; i++) mean += x[i] + (r ? r[i] : 0.0f);
    mean /= (double)h;
    for (int64_t i = 0; i < h; i++) {
        double d = (double)(x[i] + (r ? r[i] : 0.0f)) - mean;
        var += d * d;
    }
    var /= (double)h;
    double inv = 1.0 / sqrt(var + eps);
    for (int64_t i = 0; i < h; i++)
        y[i] = (float)(((double)(x[i] + (r ? r[i] : 0.0f)) - mean) * inv * g[i] + be[i]);
}

pl_status pl__cpu_check_ids(const struct pl_tensor *t) {
    if (t->op == PL_OP_EMBED) {
        const struct pl_tensor *ids = t->src[0], *tt = t->src[4];
        int64_t n = pl_tensor_nelements(ids), v = t->src[1]->shape[0];
        int64_t s = ids->shape[1], p = t->src[2]->shape[0];
        for (int64_t i = 0; i < n; i++) {
            int32_t id = ((const int32_t *)ids->data)[i];
            if (id < 0 || id >= v)
                return PL_ERR(PL_E_INVALID_ARG, "embed: token id %d at %lld outside vocabulary of %lld",
                              id, (long long)i, (long long)v);
            if (tt) {
                int32_t ty = ((const int32_t *)tt->data)[i];
                int64_t nt = t->src[3] ? t->src[3]->shape[0] : 1;
                if (ty < 0 || ty >= nt)
                    return PL_ERR(PL_E_INVALID_ARG, "embed: token type %d outside [0, %lld)", ty,
                                  (long long)nt);
            }
        }
        int64_t maxpos = (int64_t)t->op_params[1] + s - 1;
        if (t->op_params[1] < 0 || maxpos >= p || t->op_params[2] < 0 || t->op_params[2] >= p)
            return PL_ERR(PL_E_INVALID_ARG, "embed: sequence of %lld needs %lld positions, model has %lld",
                          (long long)s, (long long)maxpos + 1, (long long)p);
    } else if (t->op == PL_OP_GET_ROWS) {
        const struct pl_tensor *x = t->src[0], *idx = t->src[1];
        int64_t rows = pl_tensor_nrows(x);
        for (int64_t i = 0; i < idx->shape[0]; i++) {
            int32_t r = ((const int32_t *)idx->data)[i];
            if (r < 0 || r >= rows)
                return PL_ERR(PL_E_INVALID_ARG, "get_rows: index %d outside [0, %lld)", r,
                              (long long)rows);
        }
    }
    return PL_OK;
}

static int32_t embed_pos(const struct pl_tensor *t, int64_t b, int64_t s) {
    const struct pl_tensor *mask = t->src[7];
    int64_t sl = t->src[0]->shape[1];
    if (mask && ((const int32_t *)mask->data)[b * sl + s] == 0) return t->op_params[2];
    return t->op_params[1] + (int32_t)s;
}

static pl_status embed_ref(struct pl_tensor *t) {
    const struct pl_tensor *ids = t->src[0];
    int64_t bn = ids->shape[0], sn = ids->shape[1], h = t->shape[2];
    float tmp[h];
    for (int64_t b = 0; b < bn; b++)
        for (int64_t s = 0; s < sn; s++) {
            int64_t i = b * sn + s;
            int32_t id = ((const int32_t *)ids->data)[i];
            int32_t ty = t->src[4] ? ((const int32_t *)t->src[4]->data)[i] : 0;
            int32_t pos = embed_pos(t, b, s);
            const float *we = (const float *)t->src[1]->data + (int64_t)id * h;
            const float *pe = (const float *)t->src[2]->data + (int64_t)pos * h;
            const float *te = t->src[3] ? (const float *)t->src[3]->data + (int64_t)ty * h : NULL;
            for (int64_t j = 0; j < h; j++) tmp[j] = we[j] + pe[j] + (te ? te[j] : 0.0f);
            layer_norm_row(tmp, NULL, t->src[5]->data, t->src[6]->data,
                           pl_tensor_param_f32(t, 0), h, (float *)t->data + i * h);
        }
    return PL_OK;
}

static pl_status attention_ref(struct pl_tensor *t) {
    const struct pl_tensor *qkv = t->src[0], *mask = t->src[1];
    int64_t bn = qkv->shape[0], sn = qkv->shape[1], h = t->shape[2];
    int nh = t->op_params[0];
    int64_t d = h / nh;
    float scale = pl_tensor_param_f32(t, 1);
    const float *in = qkv->data;
    float *out = t->data;
    double p[sn];
    for (int64_t b = 0; b < bn; b++)
        for (int hh = 0; hh < nh; hh++)
            for (int64_t i = 0; i < sn; i++) {
                const float *q = in + (b * sn + i) * 3 * h + hh * d;
                double mx = -INFINITY;
                for (int64_t j = 0; j < sn; j++) {
                    if (mask && ((const int32_t *)mask->data)[b * sn + j] == 0) {
                        p[j] = -INFINITY;
                        continue;
                    }
                    const float *kk = in + (b * sn + j) * 3 * h + h + hh * d;
                    double acc = 0;
                    for (int64_t l = 0; l < d; l++) acc += (double)q[l] * kk[l];
                    p[j] = acc * scale;
                    if (p[j] > mx) mx = p[j];
                }
                double sum = 0;
                for (int64_t j = 0; j < sn; j++) {
                    p[j] = p[j] == -INFINITY ? 0.0 : exp(p[j] - mx);
                    sum += p[j];
                }
                float *o = out + (b * sn + i) * h + hh * d;
                for (int64_t l = 0; l < d; l++) {
                    double acc = 0;
                    for (int64_t j = 0; j < sn; j++)
                        if (p[j] != 0.0) acc += p[j] * in[(b * sn + j) * 3 * h + 2 * h + hh * d + l];
                    o[l] = sum > 0 ? (float)(acc / sum) : 0.0f;
                }
            }
    return PL_OK;
}

static pl_status softmax_ref(struct pl_tensor *t) {
    const struct pl_tensor *x = t->src[0], *mask = t->src[1];
    int64_t rows = pl_tensor_nrows(x), n = x->shape[x->n_dims - 1];
    float scale = pl_tensor_param_f32(t, 0);
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = (const float *)x->data + r * n;
        const int32_t *mr = mask ? (const int32_t *)mask->data + r * n : NULL;
        float *y = (float *)t->data + r * n;
        double mx = -INFINITY, sum = 0;
        for (int64_t j = 0; j < n; j++)
            if (!mr || mr[j]) mx = fmax(mx, (double)xr[j] * scale);
        for (int64_t j = 0; j < n; j++) sum += (!mr || mr[j]) ? exp((double)xr[j] * scale - mx) : 0.0;
        for (int64_t j = 0; j < n; j++)
            y[j] = (!mr || mr[j]) && sum > 0 ? (float)(exp((double)xr[j] * scale - mx) / sum) : 0.0f;
    }
    return PL_OK;
}

/* Leading dims of a [.., T, C] tensor flattened: the number of sequences. */
static int64_t n_seq(const struct pl_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i + 2 < t->n_dims; i++) n *= t->shape[i];
    return n;
}

static pl_status dwconv_ref(struct pl_tensor *t) {
    const struct pl_tensor *x = t->src[0], *w = t->src[1], *b = t->src[2];
    int64_t bn = n_seq(x), ti = x->shape[x->n_dims - 2], to = t->shape[t->n_dims - 2];
    int64_t c = x->shape[x->n_dims - 1], k = w->shape[0];
    int s = t->op_params[0], d = t->op_params[1];
    for (int64_t q = 0; q < bn; q++)
        for (int64_t i = 0; i < to; i++)
            for (int64_t ch = 0; ch < c; ch++) {
                double acc = b ? ((const float *)b->data)[ch] : 0.0;
                for (int64_t j = 0; j < k; j++)
                    acc += (double)((const float *)w->data)[j * c + ch] *
                           ((const float *)x->data)[(q * ti + i * s + j * d) * c + ch];
                ((float *)t->data)[(q * to + i) * c + ch] = (float)acc;
            }
    return PL_OK;
}

static pl_status im2col_ref(struct pl_tensor *t) {
    const struct pl_tensor *x = t->src[0];
    int64_t bn = n_seq(x), ti = x->shape[x->n_dims - 2], to = t->shape[t->n_dims - 2];
    int64_t c = x->shape[x->n_dims - 1];
    int k = t->op_params[0], s = t->op_params[1], d = t->op_params[2], pl = t->op_params[3];
    for (int64_t q = 0; q < bn; q++)
        for (int64_t i = 0; i < to; i++)
            for (int j = 0; j < k; j++)
                for (int64_t ch = 0; ch < c; ch++) {
                    int64_t src = i * s + (int64_t)j * d - pl;
                    ((float *)t->data)[((q * to + i) * k + j) * c + ch] =
                        src >= 0 && src < ti ? ((const float *)x->data)[(q * ti + src) * c + ch]
                                             : 0.0f;
                }
    return PL_OK;
}

static pl_status log_softmax_ref(struct pl_tensor *t) {
    int64_t rows = pl_tensor_nrows(t), n = t->shape[t->n_dims - 1];
    for (int64_t r = 0; r < rows; r++) {
        const float *x = (const float *)t->src[0]->data + r * n;
        double mx = -INFINITY, sum = 0;
        for (int64_t j = 0; j < n; j++) mx = fmax(mx, x[j]);
        for (int64_t j = 0; j < n; j++) sum += exp(x[j] - mx);
        double lse = mx + log(sum);
        for (int64_t j = 0; j < n; j++) ((float *)t->data)[r * n + j] = (float)(x[j] - lse);
    }
    return PL_OK;
}

static double sigmoid_ref(double x) { return 1.0 / (1.0 + exp(-x)); }

static pl_status lstm_cell_ref(struct pl_tensor *t) {
    const struct pl_tensor *gx = t->src[0], *gh = t->src[1], *c = t->src[2];
    int64_t bn = t->shape[1], h = t->shape[2];
    float *ho = t->data, *co = ho + bn * h;
    for (int64_t b = 0; b < bn; b++)
        for (int64_t j = 0; j < h; j++) {
            double g[4];
            for (int q = 0; q < 4; q++) {
                int64_t e = b * 4 * h + q * h + j;
                g[q] = (double)((const float *)gx->data)[e] +
                       (gh ? (double)((const float *)gh->data)[e] : 0.0);
            }
            double cn = sigmoid_ref(g[1]) * ((const float *)c->data)[b * h + j] +
                        sigmoid_ref(g[0]) * tanh(g[2]);
            co[b * h + j] = (float)cn;
            ho[b * h + j] = (float)(sigmoid_ref(g[3]) * tanh(cn));
        }
    return PL_OK;
}

pl_status pl__cpu_op_ref(struct pl_tensor *t) {
    PL_TRY(pl__cpu_check_ids(t));
    switch (t->op) {
    case PL_OP_LINEAR: return linear_ref(t);
    case PL_OP_ACT: {
        const struct pl_tensor *x = t->src[0], *b = t->src[1];
        int64_t n = pl_tensor_nelements(x), h = x->shape[x->n_dims - 1];
        for (int64_t i = 0; i < n; i++)
            ((float *)t->data)[i] = pl__act_ref(
                ((const float *)x->data)[i] + (b ? ((const float *)b->data)[i % h] : 0.0f),
                t->op_params[0]);
        return PL_OK;
    }
    case PL_OP_ADD: {
        int64_t n = pl_tensor_nelements(t);
        for (int64_t i = 0; i < n; i++)
            ((float *)t->data)[i] = pl__act_ref(
                ((const float *)t->src[0]->data)[i] + ((const float *)t->src[1]->data)[i],
                t->op_params[0]);
        return PL_OK;
    }
    case PL_OP_LAYER_NORM: {
        int64_t rows = pl_tensor_nrows(t), h = t->shape[t->n_dims - 1];
        for (int64_t r = 0; r < rows; r++)
            layer_norm_row((const float *)t->src[0]->data + r * h,
                           t->src[1] ? (const float *)t->src[1]->data + r * h : NULL,
                           t->src[2]->data, t->src[3]->data, pl_tensor_param_f32(t, 0), h,
                           (float *)t->data + r * h);
        return PL_OK;
    }
    case PL_OP_SOFTMAX: return softmax_ref(t);
    case PL_OP_EMBED: return embed_ref(t);
    case PL_OP_ATTENTION: return attention_ref(t);
    case PL_OP_GET_ROWS: {
        int64_t h = t->shape[1];
        for (int64_t r = 0; r < t->shape[0]; r++) {
            int32_t i = ((const int32_t *)t->src[1]->data)[r];
            memcpy((float *)t->data + r * h, (const float *)t->src[0]->data + (int64_t)i * h,
                   (size_t)h * sizeof(float));
        }
        return PL_OK;
    }
    case PL_OP_DWCONV: return dwconv_ref(t);
    case PL_OP_IM2COL: return im2col_ref(t);
    case PL_OP_LOG_SOFTMAX: return log_softmax_ref(t);
    case PL_OP_COMPLEX_ABS: {
        int64_t rows = pl_tensor_nrows(t), n = t->shape[t->n_dims - 1];
        for (int64_t r = 0; r < rows; r++)
            for (int64_t j = 0; j < n; j++) {
                double re = ((const float *)t->src[0]->data)[r * 2 * n + j];
                double im = ((const float *)t->src[0]->data)[r * 2 * n + n + j];
                ((float *)t->data)[r * n + j] = (float)sqrt(re * re + im * im);
            }
        return PL_OK;
    }
    case PL_OP_LSTM_CELL: return lstm_cell_ref(t);
    default: return PL_ERR(PL_E_UNSUPPORTED, "cpu-ref: op %s", pl_op_name(t->op));
    }
}
