/*
 * vad.c - Silero VAD v5 (16 kHz) forward on plain float buffers (vad.h).
 *
 * The network is small (~0.65 M multiply-adds per 32 ms window), so it is
 * written as loops rather than engine graphs. Every weight matrix is stored
 * transposed at load time ([input][output]) so the inner loop runs over
 * contiguous output channels: out[o] += w[i][o] * x[i]. That form vectorizes
 * without reassociating sums (no -ffast-math needed) and keeps one summation
 * order, so results do not depend on the chunking of the input.
 */
#include "models/vad.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "safetensors.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define VAD_X86 1
#endif

#define N_FFT 256
#define HOP 128
#define N_BINS 129   /* N_FFT / 2 + 1 */
#define N_STFT 258   /* real + imaginary rows */
#define PAD_RIGHT 64 /* reflection padding */
#define IN_LEN 640   /* PL_VAD_CONTEXT + PL_VAD_WINDOW + PAD_RIGHT */
#define N_FRAMES 4   /* (IN_LEN - N_FFT) / HOP + 1 */
#define HID 128      /* LSTM hidden size */
#define N_GATES 512  /* 4 * HID */
#define N_CONV 4

static const int conv_in[N_CONV] = {129, 128, 64, 64};
static const int conv_out[N_CONV] = {128, 64, 64, 128};
static const int conv_stride[N_CONV] = {1, 2, 2, 1};

struct pl_vad {
    float *stft_t;         /* [N_FFT][N_STFT] */
    float *conv_t[N_CONV]; /* [3][C_in][C_out] */
    float *conv_b[N_CONV]; /* [C_out] */
    float *ih_t;           /* [HID][N_GATES] */
    float *hh_t;           /* [HID][N_GATES] */
    float *gate_b;         /* [N_GATES]: bias_ih + bias_hh */
    float final_w[HID];
    float final_b;
    /* kernel for this CPU: rows x (Y[r] += Wt^T X[r]) */
    void (*gemm)(const float *, int, int, const float *const *, float *const *, int);
};

struct pl_vad_state {
    const struct pl_vad *vad;
    float context[PL_VAD_CONTEXT];
    float h[HID], c[HID];
    float pending[PL_VAD_WINDOW]; /* partial window from pl_vad_feed */
    size_t n_pending;
    int64_t windows;
    /* scratch, here so processing allocates nothing */
    float x[IN_LEN];
    float spec[N_FRAMES][N_STFT];
    float act_a[N_FRAMES * N_BINS], act_b[N_FRAMES * N_BINS]; /* widest layer: 4 x 129 */
    float gates[N_GATES];
};

static void gemm_generic(const float *wt, int n_in, int n_out, const float *const *xs,
                         float *const *ys, int rows);
#ifdef VAD_X86
static void gemm_avx2(const float *wt, int n_in, int n_out, const float *const *xs,
                      float *const *ys, int rows);
#endif

/* --- loading ------------------------------------------------------------ */

static pl_status get_f32(const struct pl_safetensors *st, const char *name, int n_dims,
                         const int64_t *shape, const struct pl_st_entry **out) {
    *out = NULL;
    const struct pl_st_entry *e = pl_safetensors_find(st, name);
    if (!e) return PL_ERR(PL_E_FORMAT, "vad weights: tensor %s missing", name);
    if (e->dtype != PL_DTYPE_F32)
        return PL_ERR(PL_E_FORMAT, "vad weights: tensor %s is %s, want F32", name, e->dtype_str);
    bool ok = e->n_dims == n_dims;
    for (int i = 0; ok && i < n_dims; i++) ok = e->shape[i] == shape[i];
    if (!ok) {
        char got[96] = "", want[96] = "";
        size_t g = 0, w = 0;
        for (int i = 0; i < e->n_dims && g < sizeof got; i++)
            g += (size_t)snprintf(got + g, sizeof got - g, "%s%lld", i ? "," : "",
                                  (long long)e->shape[i]);
        for (int i = 0; i < n_dims && w < sizeof want; i++)
            w += (size_t)snprintf(want + w, sizeof want - w, "%s%lld", i ? "," : "",
                                  (long long)shape[i]);
        return PL_ERR(PL_E_FORMAT, "vad weights: tensor %s has shape [%s], want [%s]", name, got,
                      want);
    }
    *out = e;
    return PL_OK;
}

/* Element i of an F32 tensor whose data may be unaligned. */
static float at(const struct pl_st_entry *e, size_t i) {
    float v;
    memcpy(&v, (const char *)e->data + i * sizeof v, sizeof v);
    return v;
}

/* dst[c][r] = src[r][c] for a [rows][cols] tensor. */
static pl_status load_transposed(const struct pl_st_entry *e, size_t rows, size_t cols,
                                 float **out) {
    *out = pl_malloc(rows * cols * sizeof(float));
    if (!*out) return PL_ERR(PL_E_NOMEM, "vad weights: %zu floats", rows * cols);
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++) (*out)[c * rows + r] = at(e, r * cols + c);
    return PL_OK;
}

static pl_status load(const struct pl_safetensors *st, struct pl_vad *v) {
    const struct pl_st_entry *e, *e2;
    PL_TRY(get_f32(st, "stft_conv.weight", 3, (const int64_t[]){N_STFT, 1, N_FFT}, &e));
    PL_TRY(load_transposed(e, N_STFT, N_FFT, &v->stft_t));
    for (int l = 0; l < N_CONV; l++) {
        char name[32];
        int ci = conv_in[l], co = conv_out[l];
        snprintf(name, sizeof name, "conv%d.weight", l + 1);
        PL_TRY(get_f32(st, name, 3, (const int64_t[]){co, ci, 3}, &e));
        snprintf(name, sizeof name, "conv%d.bias", l + 1);
        PL_TRY(get_f32(st, name, 1, (const int64_t[]){co}, &e2));
        v->conv_t[l] = pl_malloc((size_t)3 * ci * co * sizeof(float));
        v->conv_b[l] = pl_malloc((size_t)co * sizeof(float));
        if (!v->conv_t[l] || !v->conv_b[l]) return PL_ERR(PL_E_NOMEM, "vad weights: conv%d", l + 1);
        for (int o = 0; o < co; o++) {
            v->conv_b[l][o] = at(e2, (size_t)o);
            for (int i = 0; i < ci; i++)
                for (int k = 0; k < 3; k++)
                    v->conv_t[l][((size_t)k * ci + i) * co + o] =
                        at(e, ((size_t)o * ci + i) * 3 + k);
        }
    }
    PL_TRY(get_f32(st, "lstm_cell.weight_ih", 2, (const int64_t[]){N_GATES, HID}, &e));
    PL_TRY(load_transposed(e, N_GATES, HID, &v->ih_t));
    PL_TRY(get_f32(st, "lstm_cell.weight_hh", 2, (const int64_t[]){N_GATES, HID}, &e));
    PL_TRY(load_transposed(e, N_GATES, HID, &v->hh_t));
    PL_TRY(get_f32(st, "lstm_cell.bias_ih", 1, (const int64_t[]){N_GATES}, &e));
    PL_TRY(get_f32(st, "lstm_cell.bias_hh", 1, (const int64_t[]){N_GATES}, &e2));
    v->gate_b = pl_malloc(N_GATES * sizeof(float));
    if (!v->gate_b) return PL_ERR(PL_E_NOMEM, "vad weights: lstm bias");
    for (size_t g = 0; g < N_GATES; g++) v->gate_b[g] = at(e, g) + at(e2, g);
    PL_TRY(get_f32(st, "final_conv.weight", 3, (const int64_t[]){1, HID, 1}, &e));
    PL_TRY(get_f32(st, "final_conv.bias", 1, (const int64_t[]){1}, &e2));
    for (size_t i = 0; i < HID; i++) v->final_w[i] = at(e, i);
    v->final_b = at(e2, 0);
    return PL_OK;
}

pl_status pl_vad_create(const char *weights_path, struct pl_vad **out) {
    if (!out) return PL_ERR(PL_E_INVALID_ARG, "pl_vad_create: out is NULL");
    *out = NULL;
    if (!weights_path) return PL_ERR(PL_E_INVALID_ARG, "pl_vad_create: weights_path is NULL");
    struct pl_safetensors *st = NULL;
    struct pl_vad *v = NULL;
    pl_status s;
    PL_TRY_GOTO(s, pl_safetensors_open(weights_path, &st));
    v = pl_calloc(1, sizeof *v);
    if (!v) {
        s = PL_ERR(PL_E_NOMEM, "pl_vad_create");
        goto fail;
    }
    PL_TRY_GOTO(s, load(st, v));
    v->gemm = gemm_generic;
#ifdef VAD_X86
    if (!getenv("PL_VAD_GENERIC") && __builtin_cpu_supports("avx2") &&
        __builtin_cpu_supports("fma"))
        v->gemm = gemm_avx2;
#endif
    pl_safetensors_close(st);
    *out = v;
    return PL_OK;
fail:
    pl_vad_destroy(v);
    pl_safetensors_close(st);
    return s;
}

void pl_vad_destroy(struct pl_vad *v) {
    if (!v) return;
    pl_free(v->stft_t);
    for (int l = 0; l < N_CONV; l++) {
        pl_free(v->conv_t[l]);
        pl_free(v->conv_b[l]);
    }
    pl_free(v->ih_t);
    pl_free(v->hh_t);
    pl_free(v->gate_b);
    pl_free(v);
}

/* --- state -------------------------------------------------------------- */

pl_status pl_vad_state_create(const struct pl_vad *vad, struct pl_vad_state **out) {
    if (!out) return PL_ERR(PL_E_INVALID_ARG, "pl_vad_state_create: out is NULL");
    *out = NULL;
    if (!vad) return PL_ERR(PL_E_INVALID_ARG, "pl_vad_state_create: vad is NULL");
    struct pl_vad_state *s = pl_malloc(sizeof *s);
    if (!s) return PL_ERR(PL_E_NOMEM, "pl_vad_state_create");
    s->vad = vad;
    pl_vad_state_reset(s);
    *out = s;
    return PL_OK;
}

void pl_vad_state_destroy(struct pl_vad_state *s) { pl_free(s); }

void pl_vad_state_reset(struct pl_vad_state *s) {
    memset(s->context, 0, sizeof s->context);
    memset(s->h, 0, sizeof s->h);
    memset(s->c, 0, sizeof s->c);
    s->n_pending = 0;
    s->windows = 0;
}

int64_t pl_vad_state_windows(const struct pl_vad_state *s) { return s->windows; }
size_t pl_vad_state_pending(const struct pl_vad_state *s) { return s->n_pending; }

/* --- forward ------------------------------------------------------------ */

static float sigmoidf(float x) { return 1.0f / (1.0f + expf(-x)); }

/* ys[r][o] += sum_i wt[i * n_out + o] * xs[r][i] for every row r < rows and
 * o < n_out: the matrix-vector products of several inputs (windows of several
 * streams, frames of one) against one weight stored [input][output]. Every
 * output is accumulated in input order from its initial value, whatever the
 * blocking, so a row's result does not depend on the other rows. */
static void gemm_generic(const float *wt, int n_in, int n_out, const float *const *xs,
                         float *const *ys, int rows) {
    for (int r = 0; r < rows; r++) {
        const float *restrict x = xs[r];
        float *restrict y = ys[r];
        for (int i = 0; i < n_in; i++) {
            float xv = x[i];
            const float *restrict wr = wt + (size_t)i * n_out;
            for (int o = 0; o < n_out; o++) y[o] += wr[o] * xv;
        }
    }
}

#ifdef VAD_X86
/* One row, outputs [o, n_out) of a weight with row stride n_out. */
__attribute__((target("avx2,fma"))) static void row_avx2(const float *wt, int n_in, int n_out,
                                                         int o, const float *x, float *y) {
    for (; o + 32 <= n_out; o += 32) {
        __m256 a0 = _mm256_loadu_ps(y + o), a1 = _mm256_loadu_ps(y + o + 8);
        __m256 a2 = _mm256_loadu_ps(y + o + 16), a3 = _mm256_loadu_ps(y + o + 24);
        const float *w = wt + o;
        for (int i = 0; i < n_in; i++, w += n_out) {
            __m256 b = _mm256_broadcast_ss(x + i);
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w), b, a0);
            a1 = _mm256_fmadd_ps(_mm256_loadu_ps(w + 8), b, a1);
            a2 = _mm256_fmadd_ps(_mm256_loadu_ps(w + 16), b, a2);
            a3 = _mm256_fmadd_ps(_mm256_loadu_ps(w + 24), b, a3);
        }
        _mm256_storeu_ps(y + o, a0);
        _mm256_storeu_ps(y + o + 8, a1);
        _mm256_storeu_ps(y + o + 16, a2);
        _mm256_storeu_ps(y + o + 24, a3);
    }
    for (; o + 8 <= n_out; o += 8) {
        __m256 a0 = _mm256_loadu_ps(y + o);
        const float *w = wt + o;
        for (int i = 0; i < n_in; i++, w += n_out)
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w), _mm256_broadcast_ss(x + i), a0);
        _mm256_storeu_ps(y + o, a0);
    }
    for (; o < n_out; o++) {
        float acc = y[o];
        for (int i = 0; i < n_in; i++) acc = fmaf(wt[(size_t)i * n_out + o], x[i], acc);
        y[o] = acc;
    }
}

/* AVX2 + FMA: four rows at a time share each weight load (16 outputs x 4
 * rows = 8 accumulators); the rest one row at a time, 32 outputs wide. */
__attribute__((target("avx2,fma"))) static void gemm_avx2(const float *wt, int n_in, int n_out,
                                                          const float *const *xs, float *const *ys,
                                                          int rows) {
    int r = 0;
    for (; r + 4 <= rows; r += 4) {
        const float *x0 = xs[r], *x1 = xs[r + 1], *x2 = xs[r + 2], *x3 = xs[r + 3];
        float *y0 = ys[r], *y1 = ys[r + 1], *y2 = ys[r + 2], *y3 = ys[r + 3];
        int o = 0;
        for (; o + 16 <= n_out; o += 16) {
            __m256 a00 = _mm256_loadu_ps(y0 + o), a01 = _mm256_loadu_ps(y0 + o + 8);
            __m256 a10 = _mm256_loadu_ps(y1 + o), a11 = _mm256_loadu_ps(y1 + o + 8);
            __m256 a20 = _mm256_loadu_ps(y2 + o), a21 = _mm256_loadu_ps(y2 + o + 8);
            __m256 a30 = _mm256_loadu_ps(y3 + o), a31 = _mm256_loadu_ps(y3 + o + 8);
            const float *w = wt + o;
            for (int i = 0; i < n_in; i++, w += n_out) {
                __m256 w0 = _mm256_loadu_ps(w), w1 = _mm256_loadu_ps(w + 8);
                __m256 b = _mm256_broadcast_ss(x0 + i);
                a00 = _mm256_fmadd_ps(w0, b, a00);
                a01 = _mm256_fmadd_ps(w1, b, a01);
                b = _mm256_broadcast_ss(x1 + i);
                a10 = _mm256_fmadd_ps(w0, b, a10);
                a11 = _mm256_fmadd_ps(w1, b, a11);
                b = _mm256_broadcast_ss(x2 + i);
                a20 = _mm256_fmadd_ps(w0, b, a20);
                a21 = _mm256_fmadd_ps(w1, b, a21);
                b = _mm256_broadcast_ss(x3 + i);
                a30 = _mm256_fmadd_ps(w0, b, a30);
                a31 = _mm256_fmadd_ps(w1, b, a31);
            }
            _mm256_storeu_ps(y0 + o, a00);
            _mm256_storeu_ps(y0 + o + 8, a01);
            _mm256_storeu_ps(y1 + o, a10);
            _mm256_storeu_ps(y1 + o + 8, a11);
            _mm256_storeu_ps(y2 + o, a20);
            _mm256_storeu_ps(y2 + o + 8, a21);
            _mm256_storeu_ps(y3 + o, a30);
            _mm256_storeu_ps(y3 + o + 8, a31);
        }
        if (o < n_out) {
            row_avx2(wt, n_in, n_out, o, x0, y0);
            row_avx2(wt, n_in, n_out, o, x1, y1);
            row_avx2(wt, n_in, n_out, o, x2, y2);
            row_avx2(wt, n_in, n_out, o, x3, y3);
        }
    }
    for (; r < rows; r++) row_avx2(wt, n_in, n_out, 0, xs[r], ys[r]);
}
#endif

/* Conv1d kernel 3, padding 1, then ReLU, for n streams; time-major [T][C]
 * in each stream's buffers. */
static void conv_relu(const struct pl_vad *v, int l, int n, const float *const *in, int t_in,
                      float *const *out, int t_out) {
    const int ci = conv_in[l], co = conv_out[l], st = conv_stride[l];
    const float *xs[PL_VAD_MAX_BATCH] = {0};
    float *ys[PL_VAD_MAX_BATCH] = {0};
    for (int t = 0; t < t_out; t++) {
        for (int b = 0; b < n; b++) {
            ys[b] = out[b] + (size_t)t * co;
            memcpy(ys[b], v->conv_b[l], (size_t)co * sizeof(float));
        }
        for (int k = 0; k < 3; k++) {
            int ti = t * st + k - 1;
            if (ti < 0 || ti >= t_in) continue;
            for (int b = 0; b < n; b++) xs[b] = in[b] + (size_t)ti * ci;
            v->gemm(v->conv_t[l] + (size_t)k * ci * co, ci, co, xs, ys, n);
        }
        for (int b = 0; b < n; b++)
            for (int j = 0; j < co; j++) ys[b][j] = ys[b][j] > 0.0f ? ys[b][j] : 0.0f;
    }
}

/* One window of each of n streams (n <= PL_VAD_MAX_BATCH): the 512 new
 * samples are already in ss[b]->x[64..576). Each layer is one kernel call
 * over all streams, so a weight is loaded once for several of them. */
static void forward(struct pl_vad_state *const *ss, int n, float *probs) {
    const struct pl_vad *v = ss[0]->vad;
    const float *xs[PL_VAD_MAX_BATCH * N_FRAMES] = {0};
    float *ys[PL_VAD_MAX_BATCH * N_FRAMES] = {0};
    const float *ins[PL_VAD_MAX_BATCH] = {0};
    float *outs[PL_VAD_MAX_BATCH] = {0};
    const int len = PL_VAD_CONTEXT + PL_VAD_WINDOW;
    for (int b = 0; b < n; b++) {
        struct pl_vad_state *s = ss[b];
        float *x = s->x;
        memcpy(x, s->context, sizeof s->context);
        memcpy(s->context, x + PL_VAD_WINDOW, sizeof s->context);        /* last 64 of the 576 */
        for (int j = 0; j < PAD_RIGHT; j++) x[len + j] = x[len - 2 - j]; /* reflect */
        /* STFT rows: spec[t][c] = sum_k basis[c][k] x[HOP t + k] */
        for (int t = 0; t < N_FRAMES; t++) {
            memset(s->spec[t], 0, sizeof s->spec[t]);
            xs[b * N_FRAMES + t] = x + t * HOP;
            ys[b * N_FRAMES + t] = s->spec[t];
        }
    }
    v->gemm(v->stft_t, N_FFT, N_STFT, xs, ys, n * N_FRAMES);
    for (int b = 0; b < n; b++) {
        struct pl_vad_state *s = ss[b];
        for (int t = 0; t < N_FRAMES; t++)
            for (int c = 0; c < N_BINS; c++) {
                float re = s->spec[t][c], im = s->spec[t][N_BINS + c];
                s->act_a[t * N_BINS + c] = sqrtf(re * re + im * im);
            }
    }
    int t_len = N_FRAMES;
    bool in_a = true; /* the current activations are in act_a */
    for (int l = 0; l < N_CONV; l++) {
        int t_out = (t_len + 2 - 3) / conv_stride[l] + 1;
        for (int b = 0; b < n; b++) {
            ins[b] = in_a ? ss[b]->act_a : ss[b]->act_b;
            outs[b] = in_a ? ss[b]->act_b : ss[b]->act_a;
        }
        conv_relu(v, l, n, ins, t_len, outs, t_out);
        in_a = !in_a;
        t_len = t_out;
    }
    /* encoder output [1][128] -> LSTMCell */
    for (int b = 0; b < n; b++) {
        memcpy(ss[b]->gates, v->gate_b, N_GATES * sizeof(float));
        xs[b] = in_a ? ss[b]->act_a : ss[b]->act_b;
        ys[b] = ss[b]->gates;
    }
    v->gemm(v->ih_t, HID, N_GATES, xs, ys, n);
    for (int b = 0; b < n; b++) xs[b] = ss[b]->h;
    v->gemm(v->hh_t, HID, N_GATES, xs, ys, n);
    for (int b = 0; b < n; b++) {
        struct pl_vad_state *s = ss[b];
        const float *g = s->gates;
        float y = v->final_b;
        for (int j = 0; j < HID; j++) {
            float ig = sigmoidf(g[j]), fg = sigmoidf(g[HID + j]);
            float gg = tanhf(g[2 * HID + j]), og = sigmoidf(g[3 * HID + j]);
            s->c[j] = fg * s->c[j] + ig * gg;
            s->h[j] = og * tanhf(s->c[j]);
            y += v->final_w[j] * (s->h[j] > 0.0f ? s->h[j] : 0.0f);
        }
        s->windows++;
        probs[b] = sigmoidf(y);
    }
}

static bool all_finite(const float *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(p[i])) return false;
    return true;
}

pl_status pl_vad_process(struct pl_vad_state *s, const float *samples, float *prob) {
    if (!s || !samples || !prob) return PL_ERR(PL_E_INVALID_ARG, "pl_vad_process: NULL argument");
    if (s->n_pending)
        return PL_ERR(PL_E_INVALID_ARG,
                      "pl_vad_process: %zu samples of a partial window are buffered by "
                      "pl_vad_feed",
                      s->n_pending);
    if (!all_finite(samples, PL_VAD_WINDOW))
        return PL_ERR(PL_E_INVALID_ARG, "pl_vad_process: non-finite sample");
    memcpy(s->x + PL_VAD_CONTEXT, samples, PL_VAD_WINDOW * sizeof(float));
    forward(&s, 1, prob);
    return PL_OK;
}

pl_status pl_vad_process_batch(struct pl_vad_state *const *states, const float *const *samples,
                               int n, float *probs) {
    if (!states || !samples || !probs || n < 1 || n > PL_VAD_MAX_BATCH)
        return PL_ERR(PL_E_INVALID_ARG, "pl_vad_process_batch: bad arguments (n %d, max %d)", n,
                      PL_VAD_MAX_BATCH);
    for (int b = 0; b < n; b++) {
        const struct pl_vad_state *s = states[b];
        if (!s || !samples[b])
            return PL_ERR(PL_E_INVALID_ARG, "pl_vad_process_batch: stream %d is NULL", b);
        if (s->vad != states[0]->vad)
            return PL_ERR(PL_E_INVALID_ARG, "pl_vad_process_batch: stream %d has another model", b);
        if (s->n_pending)
            return PL_ERR(PL_E_INVALID_ARG,
                          "pl_vad_process_batch: stream %d buffers a partial window", b);
        for (int c = 0; c < b; c++)
            if (states[c] == s)
                return PL_ERR(PL_E_INVALID_ARG, "pl_vad_process_batch: stream %d repeats %d", b, c);
        if (!all_finite(samples[b], PL_VAD_WINDOW))
            return PL_ERR(PL_E_INVALID_ARG, "pl_vad_process_batch: stream %d: non-finite sample",
                          b);
    }
    for (int b = 0; b < n; b++)
        memcpy(states[b]->x + PL_VAD_CONTEXT, samples[b], PL_VAD_WINDOW * sizeof(float));
    forward(states, n, probs);
    return PL_OK;
}

pl_status pl_vad_feed(struct pl_vad_state *s, const float *samples, size_t n, pl_vad_window_fn fn,
                      void *ud) {
    if (!s || (!samples && n)) return PL_ERR(PL_E_INVALID_ARG, "pl_vad_feed: NULL argument");
    if (!all_finite(samples, n)) return PL_ERR(PL_E_INVALID_ARG, "pl_vad_feed: non-finite sample");
    while (n) {
        size_t take = PL_VAD_WINDOW - s->n_pending;
        if (take > n) take = n;
        memcpy(s->pending + s->n_pending, samples, take * sizeof(float));
        s->n_pending += take;
        samples += take;
        n -= take;
        if (s->n_pending == PL_VAD_WINDOW) {
            memcpy(s->x + PL_VAD_CONTEXT, s->pending, sizeof s->pending);
            s->n_pending = 0;
            float p;
            forward(&s, 1, &p);
            if (fn) fn(ud, s->windows - 1, p);
        }
    }
    return PL_OK;
}

struct array_sink {
    float *probs;
    size_t n;
};

static void to_array(void *ud, int64_t window, float prob) {
    (void)window;
    struct array_sink *a = ud;
    a->probs[a->n++] = prob;
}

pl_status pl_vad_feed_array(struct pl_vad_state *s, const float *samples, size_t n, float *probs,
                            size_t cap, size_t *n_out) {
    if (!n_out) return PL_ERR(PL_E_INVALID_ARG, "pl_vad_feed_array: n_out is NULL");
    *n_out = 0;
    if (!s) return PL_ERR(PL_E_INVALID_ARG, "pl_vad_feed_array: state is NULL");
    size_t want = (s->n_pending + n) / PL_VAD_WINDOW;
    if (want > cap)
        return PL_ERR(PL_E_INVALID_ARG, "pl_vad_feed_array: %zu windows complete, room for %zu",
                      want, cap);
    if (want && !probs) return PL_ERR(PL_E_INVALID_ARG, "pl_vad_feed_array: probs is NULL");
    struct array_sink a = {probs, 0};
    PL_TRY(pl_vad_feed(s, samples, n, to_array, &a));
    *n_out = a.n;
    return PL_OK;
}
