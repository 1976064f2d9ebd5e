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
    void (*gemv)(const float *, int, int, const float *, float *); /* kernel for this CPU */
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

static void gemv_generic(const float *restrict wt, int n_in, int n_out, const float *restrict x,
                         float *restrict y);
#ifdef VAD_X86
static void gemv_avx2(const float *restrict wt, int n_in, int n_out, const float *restrict x,
                      float *restrict y);
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
    v->gemv = gemv_generic;
#ifdef VAD_X86
    if (!getenv("PL_VAD_GENERIC") && __builtin_cpu_supports("avx2") &&
        __builtin_cpu_supports("fma"))
        v->gemv = gemv_avx2;
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

/* y[o] += sum_i wt[i * n_out + o] * x[i] for o < n_out: a matrix-vector
 * product against a weight stored [input][output]. */
static void gemv_generic(const float *restrict wt, int n_in, int n_out, const float *restrict x,
                         float *restrict y) {
    for (int i = 0; i < n_in; i++) {
        float xv = x[i];
        const float *wr = wt + (size_t)i * n_out;
        for (int o = 0; o < n_out; o++) y[o] += wr[o] * xv;
    }
}

#ifdef VAD_X86
/* Same with AVX2 + FMA: 32 outputs stay in registers across all inputs. */
__attribute__((target("avx2,fma"))) static void gemv_avx2(const float *restrict wt, int n_in,
                                                          int n_out, const float *restrict x,
                                                          float *restrict y) {
    int o = 0;
    for (; o + 32 <= n_out; o += 32) {
        __m256 a0 = _mm256_loadu_ps(y + o), a1 = _mm256_loadu_ps(y + o + 8);
        __m256 a2 = _mm256_loadu_ps(y + o + 16), a3 = _mm256_loadu_ps(y + o + 24);
        const float *w = wt + o;
        for (int i = 0; i < n_in; i++, w += n_out) {
            __m256 xv = _mm256_broadcast_ss(x + i);
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w), xv, a0);
            a1 = _mm256_fmadd_ps(_mm256_loadu_ps(w + 8), xv, a1);
            a2 = _mm256_fmadd_ps(_mm256_loadu_ps(w + 16), xv, a2);
            a3 = _mm256_fmadd_ps(_mm256_loadu_ps(w + 24), xv, a3);
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
#endif

/* Conv1d kernel 3, padding 1, stride st, then ReLU; time-major [T][C]. */
static void conv_relu(const struct pl_vad *v, int l, const float *in, int t_in, float *out,
                      int t_out) {
    const int ci = conv_in[l], co = conv_out[l], st = conv_stride[l];
    for (int t = 0; t < t_out; t++) {
        float *o = out + (size_t)t * co;
        memcpy(o, v->conv_b[l], (size_t)co * sizeof(float));
        for (int k = 0; k < 3; k++) {
            int ti = t * st + k - 1;
            if (ti < 0 || ti >= t_in) continue;
            v->gemv(v->conv_t[l] + (size_t)k * ci * co, ci, co, in + (size_t)ti * ci, o);
        }
        for (int j = 0; j < co; j++) o[j] = o[j] > 0.0f ? o[j] : 0.0f;
    }
}

/* One window: the 512 samples are already in s->x[64..576). */
static float forward(struct pl_vad_state *s) {
    const struct pl_vad *v = s->vad;
    float *x = s->x;
    memcpy(x, s->context, sizeof s->context);
    memcpy(s->context, x + PL_VAD_WINDOW, sizeof s->context); /* last 64 of the 576 */
    const int len = PL_VAD_CONTEXT + PL_VAD_WINDOW;
    for (int j = 0; j < PAD_RIGHT; j++) x[len + j] = x[len - 2 - j]; /* reflect */

    /* STFT: spec[t][c] = sum_k basis[c][k] x[HOP t + k] */
    for (int t = 0; t < N_FRAMES; t++) {
        float *sp = s->spec[t];
        memset(sp, 0, sizeof s->spec[t]);
        v->gemv(v->stft_t, N_FFT, N_STFT, x + t * HOP, sp);
    }
    float *a = s->act_a, *b = s->act_b;
    for (int t = 0; t < N_FRAMES; t++)
        for (int c = 0; c < N_BINS; c++) {
            float re = s->spec[t][c], im = s->spec[t][N_BINS + c];
            a[t * N_BINS + c] = sqrtf(re * re + im * im);
        }

    int t_len = N_FRAMES;
    for (int l = 0; l < N_CONV; l++) {
        int t_out = (t_len + 2 - 3) / conv_stride[l] + 1;
        conv_relu(v, l, a, t_len, b, t_out);
        float *tmp = a;
        a = b;
        b = tmp;
        t_len = t_out;
    }
    /* a: [1][128] encoder output. LSTMCell. */
    float *g = s->gates;
    memcpy(g, v->gate_b, N_GATES * sizeof(float));
    v->gemv(v->ih_t, HID, N_GATES, a, g);
    v->gemv(v->hh_t, HID, N_GATES, s->h, g);
    float y = v->final_b;
    for (int j = 0; j < HID; j++) {
        float ig = sigmoidf(g[j]), fg = sigmoidf(g[HID + j]);
        float gg = tanhf(g[2 * HID + j]), og = sigmoidf(g[3 * HID + j]);
        s->c[j] = fg * s->c[j] + ig * gg;
        s->h[j] = og * tanhf(s->c[j]);
        y += v->final_w[j] * (s->h[j] > 0.0f ? s->h[j] : 0.0f);
    }
    s->windows++;
    return sigmoidf(y);
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
    *prob = forward(s);
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
            float p = forward(s);
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
