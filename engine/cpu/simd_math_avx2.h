/*
 * simd_math_avx2.h - vector exp / erf / tanh for 8 floats (AVX2 + FMA).
 * Include only from files compiled with -mavx2 -mfma.
 *
 * exp: Cephes-style range reduction + degree-6 polynomial (about 2 ulp);
 * inputs below -87.3 give ~1e-38 instead of 0, -inf included.
 * erf: Abramowitz & Stegun 7.1.26 (absolute error <= 1.5e-7).
 */
#ifndef PL_SIMD_MATH_AVX2_H
#define PL_SIMD_MATH_AVX2_H

#include <immintrin.h>

static inline __m256 pl_exp8(__m256 x) {
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.3f)), _mm256_set1_ps(88.3f));
    __m256 fx = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500E-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507E-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073E-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894E-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459E-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201E-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(fx), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

static inline __m256 pl_erf8(__m256 x) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 ax = _mm256_andnot_ps(sign, x);
    __m256 t = _mm256_div_ps(_mm256_set1_ps(1.0f),
                             _mm256_fmadd_ps(_mm256_set1_ps(0.3275911f), ax, _mm256_set1_ps(1.0f)));
    __m256 p = _mm256_set1_ps(1.061405429f);
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-1.453152027f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.421413741f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-0.284496736f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.254829592f));
    p = _mm256_mul_ps(p, t);
    __m256 e = pl_exp8(_mm256_sub_ps(_mm256_setzero_ps(), _mm256_mul_ps(ax, ax)));
    __m256 y = _mm256_fnmadd_ps(p, e, _mm256_set1_ps(1.0f));
    return _mm256_or_ps(y, _mm256_and_ps(sign, x));
}

/* tanh(x) = sign(x) (1 - 2 / (exp(2|x|) + 1)); absolute error ~1e-7. */
static inline __m256 pl_tanh8(__m256 x) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 ax = _mm256_andnot_ps(sign, x);
    __m256 e = pl_exp8(_mm256_add_ps(ax, ax));
    __m256 y = _mm256_sub_ps(_mm256_set1_ps(1.0f),
                             _mm256_div_ps(_mm256_set1_ps(2.0f), _mm256_add_ps(e, _mm256_set1_ps(1.0f))));
    return _mm256_or_ps(y, _mm256_and_ps(sign, x));
}

static inline __m256 pl_act8(__m256 x, int act) {
    switch (act) {
    case 1: /* GELU erf */
        return _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), x),
                             _mm256_add_ps(_mm256_set1_ps(1.0f),
                                           pl_erf8(_mm256_mul_ps(x, _mm256_set1_ps(0.70710678118654752f)))));
    case 2: { /* GELU tanh */
        __m256 x3 = _mm256_mul_ps(_mm256_mul_ps(x, x), x);
        __m256 in = _mm256_mul_ps(_mm256_set1_ps(0.7978845608028654f),
                                  _mm256_fmadd_ps(_mm256_set1_ps(0.044715f), x3, x));
        return _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), x),
                             _mm256_add_ps(_mm256_set1_ps(1.0f), pl_tanh8(in)));
    }
    case 3: return pl_tanh8(x);
    case 4: return _mm256_max_ps(x, _mm256_setzero_ps());
    case 5: /* sigmoid: exp8 clamps, so no overflow at either end */
        return _mm256_div_ps(_mm256_set1_ps(1.0f),
                             _mm256_add_ps(_mm256_set1_ps(1.0f), pl_exp8(_mm256_sub_ps(_mm256_setzero_ps(), x))));
    default: return x;
    }
}

#endif
