/*
 * kern_generic.c - portable C kernels: the fallback family for CPUs without
 * AVX2+FMA, and the baseline the SIMD families are compared against.
 */
#include <math.h>

#include "cpu_impl.h"

static void gemm_f32(int m, int n, int k, const float *a, int lda, const float *b, int ldb, float *c,
                     int ldc) {
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            const float *ar = a + (size_t)i * lda, *br = b + (size_t)j * ldb;
            float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
            int l = 0;
            for (; l + 4 <= k; l += 4) {
                s0 += ar[l] * br[l];
                s1 += ar[l + 1] * br[l + 1];
                s2 += ar[l + 2] * br[l + 2];
                s3 += ar[l + 3] * br[l + 3];
            }
            for (; l < k; l++) s0 += ar[l] * br[l];
            c[(size_t)i * ldc + j] = (s0 + s1) + (s2 + s3);
        }
}

static void gemm_nn(int m, int n, int k, const float *a, int lda, const float *b, int ldb, float *c,
                    int ldc) {
    for (int i = 0; i < m; i++) {
        float *cr = c + (size_t)i * ldc;
        for (int j = 0; j < n; j++) cr[j] = 0;
        for (int l = 0; l < k; l++) {
            float av = a[(size_t)i * lda + l];
            const float *br = b + (size_t)l * ldb;
            for (int j = 0; j < n; j++) cr[j] += av * br[j];
        }
    }
}

static void gemm_i8(int m, int n, int k, const int8_t *a, int lda, const int8_t *b, int ldb,
                    int32_t *c, int ldc) {
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            const int8_t *ar = a + (size_t)i * lda, *br = b + (size_t)j * ldb;
            int32_t s = 0;
            for (int l = 0; l < k; l++) s += (int32_t)ar[l] * br[l];
            c[(size_t)i * ldc + j] = s;
        }
}

static void bias_act(float *x, const float *bias, int n, int act) {
    for (int i = 0; i < n; i++) x[i] = pl__act_ref(x[i] + (bias ? bias[i] : 0.0f), act);
}

static float exp_sum(const float *x, float *y, int n, float max) {
    float s = 0;
    for (int i = 0; i < n; i++) {
        y[i] = expf(x[i] - max);
        s += y[i];
    }
    return s;
}

static float quant_row(const float *x, int k, int8_t *q) {
    float amax = 0;
    for (int i = 0; i < k; i++) amax = fmaxf(amax, fabsf(x[i]));
    float inv = amax > 0 ? 127.0f / amax : 0.0f;
    for (int i = 0; i < k; i++) {
        float v = nearbyintf(x[i] * inv);
        q[i] = (int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
    }
    return amax / 127.0f;
}

static void dwconv(int n_out, int ch, int k, int d, int s, const float *x, const float *w, float *y) {
    for (int i = 0; i < n_out; i++) {
        float *yr = y + (size_t)i * ch;
        const float *xr = x + (size_t)i * s * ch;
        for (int c = 0; c < ch; c++) yr[c] = 0.0f;
        for (int j = 0; j < k; j++) {
            const float *xj = xr + (size_t)j * d * ch, *wj = w + (size_t)j * ch;
            for (int c = 0; c < ch; c++) yr[c] += wj[c] * xj[c];
        }
    }
}

static float sigmoidf(float x) { return 1.0f / (1.0f + expf(-x)); }

void pl__lstm_unit(int h, int j, const float *gx, const float *gh, const float *c, float *h_out,
                   float *c_out) {
    float gi = gx[j], gf = gx[h + j], gg = gx[2 * h + j], go = gx[3 * h + j];
    if (gh) {
        gi += gh[j];
        gf += gh[h + j];
        gg += gh[2 * h + j];
        go += gh[3 * h + j];
    }
    float cn = sigmoidf(gf) * c[j] + sigmoidf(gi) * tanhf(gg);
    c_out[j] = cn;
    h_out[j] = sigmoidf(go) * tanhf(cn);
}

static void lstm(int h, const float *gx, const float *gh, const float *c, float *h_out, float *c_out) {
    for (int j = 0; j < h; j++) pl__lstm_unit(h, j, gx, gh, c, h_out, c_out);
}

const struct pl_cpu_kern pl__cpu_kern_generic = {
    .name = "generic",
    .gemm_f32 = gemm_f32,
    .gemm_nn_f32 = gemm_nn,
    .gemm_i8 = gemm_i8,
    .bias_act = bias_act,
    .exp_sum = exp_sum,
    .quant_row = quant_row,
    .dwconv_f32 = dwconv,
    .lstm_f32 = lstm,
};
