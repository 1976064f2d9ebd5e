/*
 * kern_avx512.c - AVX-512 kernels (compiled with -mavx512f -mavx512bw
 * -mavx512vl -mfma; chosen at run time only on CPUs that have all of them).
 *
 * f32 GEMM: C = A . B^T, both K-contiguous (see kern_avx2.c), 6 x 4 tiles of
 * 16-lane accumulators (24 zmm + 6 A + 1 B): each weight vector loaded from
 * L2 feeds 6 FMAs. K blocked by KC.
 * int8 GEMM: VNNI vpdpbusd multiplies unsigned bytes by signed bytes, so A
 * (signed, [-127, 127]) is shifted to unsigned by flipping its sign bit
 * (a + 128) and the tile subtracts 128 * sum(b) per column, computed once per
 * block of NC weight rows with a dpbusd against a vector of ones.
 * The int8 GEMMs carry AVX-512 VNNI in their target attribute (VNNI_TARGET):
 * the family that uses them (avx512) is chosen only where the CPU has it;
 * AVX-512 CPUs without it (Skylake-SP/X) get avx512novnni, these kernels with
 * a packed int8 GEMM on vpmaddwd (gemm_i8_packed_bw) and the avx2 family's
 * unpacked one.
 * bf16 GEMM (vdpbf16ps): compiled through a target attribute, in a third
 * table (pl__cpu_kern_avx512_bf16) chosen only where the CPU has AVX-512 BF16.
 */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "cpu_impl.h"
#include "simd_math_avx2.h"

#define VNNI_TARGET __attribute__((target("avx512vnni")))

#define KC 512 /* 6 A rows x 2 KiB stay in L1 */
#define NC 64

static inline __m128 hsum4(__m512 a0, __m512 a1, __m512 a2, __m512 a3) {
    __m256 b0 = _mm256_add_ps(_mm512_castps512_ps256(a0), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a0), 1)));
    __m256 b1 = _mm256_add_ps(_mm512_castps512_ps256(a1), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a1), 1)));
    __m256 b2 = _mm256_add_ps(_mm512_castps512_ps256(a2), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a2), 1)));
    __m256 b3 = _mm256_add_ps(_mm512_castps512_ps256(a3), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a3), 1)));
    __m256 t0 = _mm256_hadd_ps(b0, b1);
    __m256 t1 = _mm256_hadd_ps(b2, b3);
    __m256 t2 = _mm256_hadd_ps(t0, t1);
    return _mm_add_ps(_mm256_castps256_ps128(t2), _mm256_extractf128_ps(t2, 1));
}

#define TILE(MR, NR)                                                                               \
    static void tile_##MR##x##NR(int k, const float *a, int lda, const float *b, int ldb,         \
                                 float *c, int ldc, int accumulate) {                              \
        __m512 acc[MR][NR];                                                                        \
        for (int i = 0; i < MR; i++)                                                               \
            for (int j = 0; j < NR; j++) acc[i][j] = _mm512_setzero_ps();                          \
        int l = 0;                                                                                 \
        for (; l + 16 <= k; l += 16) {                                                             \
            __m512 av[MR];                                                                         \
            for (int i = 0; i < MR; i++) av[i] = _mm512_loadu_ps(a + (size_t)i * lda + l);         \
            for (int j = 0; j < NR; j++) {                                                         \
                __m512 bv = _mm512_loadu_ps(b + (size_t)j * ldb + l);                              \
                for (int i = 0; i < MR; i++) acc[i][j] = _mm512_fmadd_ps(av[i], bv, acc[i][j]);    \
            }                                                                                      \
        }                                                                                          \
        if (l < k) {                                                                               \
            __mmask16 msk = (__mmask16)((1u << (k - l)) - 1);                                      \
            __m512 av[MR];                                                                         \
            for (int i = 0; i < MR; i++) av[i] = _mm512_maskz_loadu_ps(msk, a + (size_t)i * lda + l); \
            for (int j = 0; j < NR; j++) {                                                         \
                __m512 bv = _mm512_maskz_loadu_ps(msk, b + (size_t)j * ldb + l);                   \
                for (int i = 0; i < MR; i++) acc[i][j] = _mm512_fmadd_ps(av[i], bv, acc[i][j]);    \
            }                                                                                      \
        }                                                                                          \
        for (int i = 0; i < MR; i++) {                                                             \
            float *cr = c + (size_t)i * ldc;                                                       \
            if (NR == 4) {                                                                         \
                __m128 s = hsum4(acc[i][0], acc[i][NR > 1 ? 1 : 0], acc[i][NR > 2 ? 2 : 0],        \
                                 acc[i][NR > 3 ? 3 : 0]);                                          \
                if (accumulate) s = _mm_add_ps(s, _mm_loadu_ps(cr));                               \
                _mm_storeu_ps(cr, s);                                                              \
            } else {                                                                               \
                for (int j = 0; j < NR; j++)                                                       \
                    cr[j] = (accumulate ? cr[j] : 0.0f) + _mm512_reduce_add_ps(acc[i][j]);         \
            }                                                                                      \
        }                                                                                          \
    }

TILE(6, 4)
TILE(5, 4)
TILE(4, 4)
TILE(3, 4)
TILE(2, 4)
TILE(1, 4)
TILE(6, 1)
TILE(1, 1)

static void gemm_f32(int m, int n, int k, const float *a, int lda, const float *b, int ldb, float *c,
                     int ldc) {
    if (k == 0) {
        for (int i = 0; i < m; i++) memset(c + (size_t)i * ldc, 0, (size_t)n * sizeof(float));
        return;
    }
    for (int k0 = 0; k0 < k; k0 += KC) {
        int kc = k - k0 < KC ? k - k0 : KC;
        int accumulate = k0 > 0;
        for (int n0 = 0; n0 < n; n0 += NC) {
            int n1 = n - n0 < NC ? n : n0 + NC;
            int i = 0;
            for (; i + 6 <= m; i += 6) {
                const float *ai = a + (size_t)i * lda + k0;
                int j = n0;
                for (; j + 4 <= n1; j += 4)
                    tile_6x4(kc, ai, lda, b + (size_t)j * ldb + k0, ldb, c + (size_t)i * ldc + j, ldc,
                             accumulate);
                for (; j < n1; j++)
                    tile_6x1(kc, ai, lda, b + (size_t)j * ldb + k0, ldb, c + (size_t)i * ldc + j, ldc,
                             accumulate);
            }
            if (i < m) { /* 1..5 rows left: one shorter tile row */
                static void (*const rem[6])(int, const float *, int, const float *, int, float *, int, int) = {
                    NULL, tile_1x4, tile_2x4, tile_3x4, tile_4x4, tile_5x4};
                const float *ai = a + (size_t)i * lda + k0;
                int j = n0;
                for (; j + 4 <= n1; j += 4)
                    rem[m - i](kc, ai, lda, b + (size_t)j * ldb + k0, ldb, c + (size_t)i * ldc + j, ldc,
                               accumulate);
                for (; j < n1; j++)
                    for (int ii = i; ii < m; ii++)
                        tile_1x1(kc, a + (size_t)ii * lda + k0, lda, b + (size_t)j * ldb + k0, ldb,
                                 c + (size_t)ii * ldc + j, ldc, accumulate);
            }
        }
    }
}

/* ---- packed f32 GEMM with the epilogue in registers ------------------------
 *
 * C = act(A . B^T + bias) for B [N, K] packed at load into 32-column panels
 * (pl_backend_cpu_pack_weight). Per K block of PL_GEMM_KC, a panel's chunk
 * (16 KiB) stays in L1 while every row of A passes over it. The micro-kernel
 * keeps an MR x 32 tile in 2 * MR zmm accumulators and broadcasts one A
 * element per row and k: each panel load feeds MR FMAs,
 * nothing is reduced horizontally, and the last K block adds C's partial
 * sums, the bias and the activation before one (masked) store per row. */

static inline __mmask16 lanes(int left) {
    return left >= 16 ? (__mmask16)0xFFFF : left > 0 ? (__mmask16)((1u << left) - 1) : 0;
}

#define PMR 12 /* rows per tile: 24 accumulators + 2 B + a broadcast */

/* exp of 16 floats without a clamp (the Cephes scheme of pl_exp8, 2^n applied
 * by vscalefps): very negative x give 0, x past 88.7 inf. The softmax's
 * inputs are <= 0. */
static inline __m512 exp16_nc(__m512 x) {
    __m512 fx = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(fx, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(fx, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500E-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507E-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073E-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894E-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459E-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201E-1f));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(p, fx);
}

/* exp of 16 floats, x clamped to [-87.3, 88.3] as pl_exp8 does (within it
 * 2^n is a normal float, so vscalefps gives pl_exp8's product exactly). */
static inline __m512 exp16(__m512 x) {
    return exp16_nc(
        _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.3f)), _mm512_set1_ps(88.3f)));
}

/* The max of 16 lanes in every lane. */
static inline __m512 max_lanes(__m512 x) {
    x = _mm512_max_ps(x, _mm512_shuffle_f32x4(x, x, 0x4E));
    x = _mm512_max_ps(x, _mm512_shuffle_f32x4(x, x, 0xB1));
    x = _mm512_max_ps(x, _mm512_permute_ps(x, 0x4E));
    return _mm512_max_ps(x, _mm512_permute_ps(x, 0xB1));
}

/* erf of 16 floats: pl_erf8's operations on 16 lanes (the same results). */
static inline __m512 erf16(__m512 x) {
    const __m512i sign = _mm512_set1_epi32((int)0x80000000u); /* integer ops: no AVX512DQ */
    __m512 ax = _mm512_castsi512_ps(_mm512_andnot_si512(sign, _mm512_castps_si512(x)));
    __m512 t = _mm512_div_ps(_mm512_set1_ps(1.0f),
                             _mm512_fmadd_ps(_mm512_set1_ps(0.3275911f), ax, _mm512_set1_ps(1.0f)));
    __m512 p = _mm512_set1_ps(1.061405429f);
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-1.453152027f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(1.421413741f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-0.284496736f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0.254829592f));
    p = _mm512_mul_ps(p, t);
    __m512 e = exp16(_mm512_sub_ps(_mm512_setzero_ps(), _mm512_mul_ps(ax, ax)));
    __m512 y = _mm512_fnmadd_ps(p, e, _mm512_set1_ps(1.0f));
    return _mm512_castsi512_ps(_mm512_or_si512(
        _mm512_castps_si512(y), _mm512_and_si512(sign, _mm512_castps_si512(x))));
}

/* 16-lane activation: BERT's erf GELU on 16 lanes, the others through the
 * 8-lane AVX2 math (the numerics of bias_act either way). */
static inline __m512 act16(__m512 x, int act) {
    if (act == 1) {
        __m512 e = erf16(_mm512_mul_ps(x, _mm512_set1_ps(0.70710678118654752f)));
        return _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.5f), x),
                             _mm512_add_ps(_mm512_set1_ps(1.0f), e));
    }
    __m256 lo = pl_act8(_mm512_castps512_ps256(x), act);
    __m256 hi = pl_act8(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(x), 1)), act);
    return _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castps_pd(_mm512_castps256_ps512(lo)),
                                               _mm256_castps_pd(hi), 1));
}

/* Tile store: acc (+ C when accumulating) (+ bias) then act, columns masked. */
static inline void ptile_store(float *cr, __m512 v0, __m512 v1, int accumulate, const float *bias,
                               int act, __mmask16 m0, __mmask16 m1) {
    if (accumulate) {
        v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, cr));
        v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, cr + 16));
    }
    if (bias) {
        v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, bias));
        v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, bias + 16));
    }
    if (act) {
        v0 = act16(v0, act);
        v1 = act16(v1, act);
    }
    _mm512_mask_storeu_ps(cr, m0, v0);
    if (m1) _mm512_mask_storeu_ps(cr + 16, m1, v1);
}

#define PTILE(MR)                                                                                  \
    static void ptile_##MR(int kc, const float *a, int lda, const float *bp, const float *pf,     \
                           float *c, int ldc, int accumulate, const float *bias, int act,          \
                           __mmask16 m0, __mmask16 m1) {                                           \
        __m512 acc0[MR], acc1[MR];                                                                 \
        _Pragma("GCC unroll 16") for (int i = 0; i < MR; i++) acc0[i] = acc1[i] =                 \
            _mm512_setzero_ps();                                                                   \
        for (int l = 0; l < kc; l++) {                                                             \
            __m512 b0 = _mm512_load_ps(bp + (size_t)l * 32);                                       \
            __m512 b1 = _mm512_load_ps(bp + (size_t)l * 32 + 16);                                  \
            _mm_prefetch((const char *)(pf + (size_t)l * 32), _MM_HINT_T0);                        \
            _mm_prefetch((const char *)(pf + (size_t)l * 32 + 16), _MM_HINT_T0);                   \
            _Pragma("GCC unroll 16") for (int i = 0; i < MR; i++) {                                \
                __m512 av = _mm512_set1_ps(a[(size_t)i * lda + l]);                                \
                acc0[i] = _mm512_fmadd_ps(av, b0, acc0[i]);                                        \
                acc1[i] = _mm512_fmadd_ps(av, b1, acc1[i]);                                        \
            }                                                                                      \
        }                                                                                          \
        if (!bias && !act) { /* every K block but the last: partial sums only */                   \
            _Pragma("GCC unroll 16") for (int i = 0; i < MR; i++) {                                \
                float *cr = c + (size_t)i * ldc;                                                   \
                __m512 v0 = acc0[i], v1 = acc1[i];                                                 \
                if (accumulate) {                                                                  \
                    v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, cr));                         \
                    v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, cr + 16));                    \
                }                                                                                  \
                _mm512_mask_storeu_ps(cr, m0, v0);                                                 \
                _mm512_mask_storeu_ps(cr + 16, m1, v1);                                            \
            }                                                                                      \
            return;                                                                                \
        }                                                                                          \
        __m512 t[2 * MR]; /* the accumulators leave registers only here */                         \
        _Pragma("GCC unroll 16") for (int i = 0; i < MR; i++) {                                    \
            t[2 * i] = acc0[i];                                                                    \
            t[2 * i + 1] = acc1[i];                                                                \
        }                                                                                          \
        for (int i = 0; i < MR; i++)                                                               \
            ptile_store(c + (size_t)i * ldc, t[2 * i], t[2 * i + 1], accumulate, bias, act, m0,   \
                        m1);                                                                       \
    }

PTILE(12)
PTILE(8)
PTILE(4)
PTILE(2)
PTILE(1)


static void gemm_f32_packed(int m, int n, int k, const float *a, int lda, const float *bp, float *c,
                            int ldc, const float *bias, int act) {
    static void (*const tiles[PMR + 1])(int, const float *, int, const float *, const float *,
                                        float *, int, int, const float *, int, __mmask16,
                                        __mmask16) = {
        [1] = ptile_1, [2] = ptile_2, [4] = ptile_4, [8] = ptile_8, [12] = ptile_12};
    int nq = (n + 31) / 32;
    for (int k0 = 0; k0 < k || k0 == 0; k0 += PL_GEMM_KC) {
        int kc = k - k0 < PL_GEMM_KC ? k - k0 : PL_GEMM_KC;
        int last = k0 + kc >= k;
        for (int q = 0; q < nq; q++) {
            int left = n - q * 32;
            __mmask16 m0 = lanes(left), m1 = lanes(left - 16);
            const float *bq = last && bias ? bias + q * 32 : NULL;
            const float *bpq = bp + ((size_t)q * k + k0) * 32;
            /* the chunk used after this one: the next panel, or the first at the next K block */
            const float *next = q + 1 < nq ? bpq + (size_t)k * 32 : bp + (size_t)(k0 + kc) * 32;
            for (int i = 0; i < m;) {
                int mr = m - i >= PMR ? PMR : m - i >= 8 ? 8 : m - i >= 4 ? 4 : m - i >= 2 ? 2 : 1;
                tiles[mr](kc, a + (size_t)i * lda + k0, lda, bpq, i == 0 ? next : bpq,
                          c + (size_t)i * ldc + q * 32, ldc, k0 > 0, bq, last ? act : 0, m0, m1);
                i += mr;
            }
        }
        if (k == 0) break;
    }
}

/* ---- fused attention --------------------------------------------------------
 *
 * Per block of AQ = 6 query rows and 64 keys: the scores tile (6 x 4 zmm,
 * broadcast q, K^T rows as the vector operand), scale and mask, the running
 * max / sum update of each row (the "online softmax": earlier partial outputs
 * are rescaled by exp(m_old - m_new)), then P . V into the rows' output
 * accumulators, 64 columns of d at a time (6 x 4 zmm, broadcast p). Nothing
 * of size [sq, kn] is stored; the probabilities (6 x 64) and the output rows
 * (6 x d) stay in L1. */

#define AQ 6

/* A block of AQ query rows starts: no max yet, zero sums and outputs. */
static inline void att_block_start(__m512 m[AQ], __m512 l[AQ], float *o, int ds) {
    for (int r = 0; r < AQ; r++) {
        m[r] = _mm512_set1_ps(-INFINITY);
        l[r] = _mm512_setzero_ps();
    }
    memset(o, 0, sizeof(float) * AQ * (size_t)ds);
}

/* The 64-key block at j0 (kb keys in it): km the keys there, valid those of
 * them not masked out (mask may be NULL). */
static inline void att_key_masks(const int32_t *mask, int j0, int kb, __mmask16 km[4],
                                 __mmask16 valid[4]) {
    for (int c = 0; c < 4; c++) {
        km[c] = lanes(kb - 16 * c);
        valid[c] = mask ? _mm512_mask_cmpneq_epi32_mask(
                              km[c], _mm512_maskz_loadu_epi32(km[c], mask + j0 + 16 * c),
                              _mm512_setzero_si512())
                        : km[c];
    }
}

/* One query row of a 64-key block of the online softmax: s (raw scores) is
 * scaled in place and turned into e = exp(s - m_new) on the valid keys (0 on
 * the others), the running max m (in every lane) and sum l (16 partial sums)
 * updated, alpha = exp(m_old - m_new) for the row's earlier outputs. Returns
 * false when every key so far is masked (alpha 1, nothing to add: e unset). */
static inline __attribute__((always_inline)) bool att_softmax_row(__m512 s[4], const __mmask16 valid[4],
                                                                  __m512 vscale, __m512 *m, __m512 *l,
                                                                  __m512 *alpha) {
    __m512 mx = _mm512_set1_ps(-INFINITY);
    _Pragma("GCC unroll 4") for (int c = 0; c < 4; c++) {
        s[c] = _mm512_mul_ps(s[c], vscale);
        mx = _mm512_mask_max_ps(mx, valid[c], mx, s[c]);
    }
    __m512 mnew = _mm512_max_ps(*m, max_lanes(mx));
    if (_mm512_cmp_ps_mask(mnew, _mm512_set1_ps(-INFINITY), _CMP_EQ_OQ)) {
        *alpha = _mm512_set1_ps(1.0f);
        return false;
    }
    /* the first block's m is -inf: alpha ~ 0 (its o and l are 0) */
    *alpha = exp16_nc(_mm512_max_ps(_mm512_sub_ps(*m, mnew), _mm512_set1_ps(-104.0f)));
    _Pragma("GCC unroll 4") for (int c = 0; c < 4; c++)
        s[c] = _mm512_maskz_mov_ps(valid[c], exp16_nc(_mm512_sub_ps(s[c], mnew)));
    __m512 sum = _mm512_add_ps(_mm512_add_ps(s[0], s[1]), _mm512_add_ps(s[2], s[3]));
    *l = _mm512_fmadd_ps(*l, *alpha, sum);
    *m = mnew;
    return true;
}

/* o[r][0, d) = o[r] * alpha[r] + sum_j p[r][j] v[j0 + j] for j < kb (alpha[r] in every lane). */
static inline void att_value(int d, int kb, const float *p, const float *v, int ldv,
                             const __m512 alpha[AQ], float *o, int ldo_s) {
    for (int c0 = 0; c0 < d; c0 += 64) {
        __mmask16 dm[4];
        for (int c = 0; c < 4; c++) dm[c] = lanes(d - c0 - 16 * c);
        __m512 acc[AQ][4];
        for (int r = 0; r < AQ; r++)
            for (int c = 0; c < 4; c++)
                acc[r][c] = _mm512_mul_ps(
                    alpha[r], _mm512_maskz_loadu_ps(dm[c], o + (size_t)r * ldo_s + c0 + 16 * c));
        for (int j = 0; j < kb; j++) {
            const float *vj = v + (size_t)j * ldv + c0;
            __m512 v0 = _mm512_maskz_loadu_ps(dm[0], vj),
                   v1 = _mm512_maskz_loadu_ps(dm[1], vj + 16);
            __m512 v2 = _mm512_maskz_loadu_ps(dm[2], vj + 32),
                   v3 = _mm512_maskz_loadu_ps(dm[3], vj + 48);
            for (int r = 0; r < AQ; r++) {
                __m512 pv = _mm512_set1_ps(p[r * 64 + j]);
                acc[r][0] = _mm512_fmadd_ps(pv, v0, acc[r][0]);
                acc[r][1] = _mm512_fmadd_ps(pv, v1, acc[r][1]);
                acc[r][2] = _mm512_fmadd_ps(pv, v2, acc[r][2]);
                acc[r][3] = _mm512_fmadd_ps(pv, v3, acc[r][3]);
            }
        }
        for (int r = 0; r < AQ; r++)
            for (int c = 0; c < 4; c++)
                _mm512_mask_storeu_ps(o + (size_t)r * ldo_s + c0 + 16 * c, dm[c], acc[r][c]);
    }
}

static void attention_f32(int sq, int kn, int d, const float *q, int ldq, const float *kt,
                          const float *v, int ldv, const int32_t *mask, float scale, float *out,
                          int ldo, float *scratch) {
    int ds = (d + 15) / 16 * 16;
    float *p = scratch, *o = scratch + AQ * 64;
    const __m512 vscale = _mm512_set1_ps(scale);
    for (int i0 = 0; i0 < sq; i0 += AQ) {
        int qb = sq - i0 < AQ ? sq - i0 : AQ;
        const float *qr[AQ];
        for (int r = 0; r < AQ; r++) qr[r] = q + (size_t)(i0 + (r < qb ? r : qb - 1)) * ldq;
        __m512 m[AQ], l[AQ], alpha[AQ];
        att_block_start(m, l, o, ds);
        for (int j0 = 0; j0 < kn; j0 += 64) {
            int kb = kn - j0 < 64 ? kn - j0 : 64;
            __mmask16 km[4], valid[4];
            att_key_masks(mask, j0, kb, km, valid);
            /* scores: AQ x 64 in 24 accumulators, kept in registers through the
             * softmax (as an array passed out, GCC kept them on the stack and
             * stored all 24 on every step of d) */
            __m512 s[AQ][4];
            _Pragma("GCC unroll 6") for (int r = 0; r < AQ; r++)
                _Pragma("GCC unroll 4") for (int c = 0; c < 4; c++) s[r][c] = _mm512_setzero_ps();
            for (int t = 0; t < d; t++) {
                const float *kl = kt + (size_t)t * kn + j0;
                __m512 k0 = _mm512_maskz_loadu_ps(km[0], kl), k1 = _mm512_maskz_loadu_ps(km[1], kl + 16);
                __m512 k2 = _mm512_maskz_loadu_ps(km[2], kl + 32),
                       k3 = _mm512_maskz_loadu_ps(km[3], kl + 48);
                _Pragma("GCC unroll 6") for (int r = 0; r < AQ; r++) {
                    __m512 qv = _mm512_set1_ps(qr[r][t]);
                    s[r][0] = _mm512_fmadd_ps(qv, k0, s[r][0]);
                    s[r][1] = _mm512_fmadd_ps(qv, k1, s[r][1]);
                    s[r][2] = _mm512_fmadd_ps(qv, k2, s[r][2]);
                    s[r][3] = _mm512_fmadd_ps(qv, k3, s[r][3]);
                }
            }
            /* the online softmax, the running max and sum in vectors */
            _Pragma("GCC unroll 6") for (int r = 0; r < AQ; r++) {
                if (!att_softmax_row(s[r], valid, vscale, &m[r], &l[r], &alpha[r])) {
                    memset(p + r * 64, 0, sizeof(float) * 64);
                    continue;
                }
                _Pragma("GCC unroll 4") for (int c = 0; c < 4; c++)
                    _mm512_store_ps(p + r * 64 + 16 * c, s[r][c]);
            }
            att_value(d, kb, p, v + (size_t)j0 * ldv, ldv, alpha, o, ds);
        }
        for (int r = 0; r < qb; r++) {
            float lr = _mm512_reduce_add_ps(l[r]), inv = lr > 0.0f ? 1.0f / lr : 0.0f;
            for (int c = 0; c < d; c++)
                out[(size_t)(i0 + r) * ldo + c] = o[(size_t)r * ds + c] * inv;
        }
    }
}

/* LayerNorm of one row (cpu_impl.h): the residual sum stored into y on the
 * first pass with the mean's partial sums, then the variance about the mean,
 * then the affine map; tails masked. */
static void layer_norm_f32(const float *x, const float *r, const float *g, const float *b,
                           float eps, int h, float *y) {
    const float *v = r ? y : x;
    __m512 s = _mm512_setzero_ps();
    for (int i = 0; i < h; i += 16) {
        __mmask16 mk = lanes(h - i);
        __m512 t = _mm512_maskz_loadu_ps(mk, x + i);
        if (r) {
            t = _mm512_add_ps(t, _mm512_maskz_loadu_ps(mk, r + i));
            _mm512_mask_storeu_ps(y + i, mk, t);
        }
        s = _mm512_add_ps(s, t);
    }
    float mean = _mm512_reduce_add_ps(s) / (float)h;
    __m512 vm = _mm512_set1_ps(mean), q = _mm512_setzero_ps();
    for (int i = 0; i < h; i += 16) {
        __mmask16 mk = lanes(h - i);
        __m512 dv = _mm512_maskz_sub_ps(mk, _mm512_maskz_loadu_ps(mk, v + i), vm);
        q = _mm512_fmadd_ps(dv, dv, q);
    }
    __m512 inv = _mm512_set1_ps(1.0f / sqrtf(_mm512_reduce_add_ps(q) / (float)h + eps));
    for (int i = 0; i < h; i += 16) {
        __mmask16 mk = lanes(h - i);
        __m512 t = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(mk, v + i), vm), inv);
        t = _mm512_fmadd_ps(t, _mm512_maskz_loadu_ps(mk, g + i), _mm512_maskz_loadu_ps(mk, b + i));
        _mm512_mask_storeu_ps(y + i, mk, t);
    }
}

/* Sum four 16 x i32 accumulators into the 4 lanes of one __m128i. */
static inline __m128i hsum4_i32(__m512i a0, __m512i a1, __m512i a2, __m512i a3) {
    __m256i b0 = _mm256_add_epi32(_mm512_castsi512_si256(a0), _mm512_extracti64x4_epi64(a0, 1));
    __m256i b1 = _mm256_add_epi32(_mm512_castsi512_si256(a1), _mm512_extracti64x4_epi64(a1, 1));
    __m256i b2 = _mm256_add_epi32(_mm512_castsi512_si256(a2), _mm512_extracti64x4_epi64(a2, 1));
    __m256i b3 = _mm256_add_epi32(_mm512_castsi512_si256(a3), _mm512_extracti64x4_epi64(a3, 1));
    __m256i t = _mm256_hadd_epi32(_mm256_hadd_epi32(b0, b1), _mm256_hadd_epi32(b2, b3));
    return _mm_add_epi32(_mm256_castsi256_si128(t), _mm256_extracti128_si256(t, 1));
}

/* bsum128[j] = 128 * sum_l b[j][l]: the correction for A's +128 shift. */
#define TILE_I8(MR, NR)                                                                            \
    static VNNI_TARGET void tile8_##MR##x##NR(int k, const int8_t *a, int lda, const int8_t *b,    \
                                              int ldb, const int32_t *bsum128, int32_t *c, int ldc) { \
        const __m512i flip = _mm512_set1_epi8((char)0x80);                                         \
        __m512i acc[MR][NR];                                                                       \
        for (int i = 0; i < MR; i++)                                                               \
            for (int j = 0; j < NR; j++) acc[i][j] = _mm512_setzero_si512();                       \
        for (int l = 0; l < k; l += 64) {                                                          \
            __mmask64 msk = k - l >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << (k - l)) - 1);        \
            __m512i av[MR];                                                                        \
            for (int i = 0; i < MR; i++)                                                           \
                av[i] = _mm512_xor_si512(_mm512_maskz_loadu_epi8(msk, a + (size_t)i * lda + l),   \
                                         flip);                                                    \
            for (int j = 0; j < NR; j++) {                                                         \
                __m512i bv = _mm512_maskz_loadu_epi8(msk, b + (size_t)j * ldb + l);                \
                for (int i = 0; i < MR; i++) acc[i][j] = _mm512_dpbusd_epi32(acc[i][j], av[i], bv); \
            }                                                                                      \
        }                                                                                          \
        for (int i = 0; i < MR; i++) {                                                             \
            if (NR == 4) {                                                                         \
                __m128i s = hsum4_i32(acc[i][0], acc[i][NR > 1 ? 1 : 0], acc[i][NR > 2 ? 2 : 0],   \
                                      acc[i][NR > 3 ? 3 : 0]);                                     \
                s = _mm_sub_epi32(s, _mm_loadu_si128((const __m128i *)bsum128));                   \
                _mm_storeu_si128((__m128i *)(c + (size_t)i * ldc), s);                             \
            } else {                                                                               \
                for (int j = 0; j < NR; j++)                                                       \
                    c[(size_t)i * ldc + j] = _mm512_reduce_add_epi32(acc[i][j]) - bsum128[j];      \
            }                                                                                      \
        }                                                                                          \
    }

TILE_I8(4, 4)
TILE_I8(1, 4)
TILE_I8(1, 1)

static VNNI_TARGET void gemm_i8(int m, int n, int k, const int8_t *a, int lda, const int8_t *b,
                                int ldb, int32_t *c, int ldc) {
    int32_t bsum[NC];
    const __m512i ones = _mm512_set1_epi8(1);
    for (int n0 = 0; n0 < n; n0 += NC) {
        int n1 = n - n0 < NC ? n : n0 + NC;
        for (int j = n0; j < n1; j++) {
            __m512i s = _mm512_setzero_si512();
            for (int l = 0; l < k; l += 64) {
                __mmask64 msk = k - l >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << (k - l)) - 1);
                s = _mm512_dpbusd_epi32(s, ones, _mm512_maskz_loadu_epi8(msk, b + (size_t)j * ldb + l));
            }
            bsum[j - n0] = 128 * _mm512_reduce_add_epi32(s);
        }
        int i = 0;
        for (; i + 4 <= m; i += 4) {
            int j = n0;
            for (; j + 4 <= n1; j += 4)
                tile8_4x4(k, a + (size_t)i * lda, lda, b + (size_t)j * ldb, ldb, bsum + (j - n0),
                          c + (size_t)i * ldc + j, ldc);
            for (; j < n1; j++)
                for (int ii = 0; ii < 4; ii++)
                    tile8_1x1(k, a + (size_t)(i + ii) * lda, lda, b + (size_t)j * ldb, ldb, bsum + (j - n0),
                              c + (size_t)(i + ii) * ldc + j, ldc);
        }
        for (; i < m; i++) {
            int j = n0;
            for (; j + 4 <= n1; j += 4)
                tile8_1x4(k, a + (size_t)i * lda, lda, b + (size_t)j * ldb, ldb, bsum + (j - n0),
                          c + (size_t)i * ldc + j, ldc);
            for (; j < n1; j++)
                tile8_1x1(k, a + (size_t)i * lda, lda, b + (size_t)j * ldb, ldb, bsum + (j - n0),
                          c + (size_t)i * ldc + j, ldc);
        }
    }
}

/* The packed int8 GEMM (pl__cpu_pack_b_i8's layout): MR rows x one 32-column
 * panel per tile, 2 x MR int32 accumulators; per 4-byte K group, two panel
 * vectors and MR broadcast groups of A (unsigned: q + 128) feed 2 x MR
 * vpdpbusd, with no horizontal sums. The epilogue takes away 128 x the
 * column sums, dequantizes in the reference's order ((acc * ascale) * wscale),
 * adds the bias and applies the activation in registers. */
static inline __attribute__((always_inline)) VNNI_TARGET void i8tile(int mr, int kg, const uint8_t *a, int lda,
                                                         const int8_t *bp, const int8_t *pf,
                                                         const int32_t *bsum,
                                                         const float *ascale, const float *wscale,
                                                         const float *bias, int act, float *c,
                                                         int ldc, __mmask16 m0, __mmask16 m1) {
    __m512i acc0[12], acc1[12];
    _Pragma("GCC unroll 12") for (int i = 0; i < mr; i++) acc0[i] = acc1[i] = _mm512_setzero_si512();
    for (int g = 0; g < kg; g++) {
        __m512i b0 = _mm512_load_si512((const void *)(bp + (size_t)g * 128));
        __m512i b1 = _mm512_load_si512((const void *)(bp + (size_t)g * 128 + 64));
        _mm_prefetch((const char *)(pf + (size_t)g * 128), _MM_HINT_T0);
        _mm_prefetch((const char *)(pf + (size_t)g * 128 + 64), _MM_HINT_T0);
        _Pragma("GCC unroll 12") for (int i = 0; i < mr; i++) {
            int32_t v;
            memcpy(&v, a + (size_t)i * lda + 4 * g, sizeof v);
            __m512i av = _mm512_set1_epi32(v);
            acc0[i] = _mm512_dpbusd_epi32(acc0[i], av, b0);
            acc1[i] = _mm512_dpbusd_epi32(acc1[i], av, b1);
        }
    }
    /* the sums leave the registers once, here: an epilogue loop over acc0 / acc1
     * would keep them in memory through the K loop */
    int32_t out[12][32] __attribute__((aligned(64)));
    _Pragma("GCC unroll 12") for (int i = 0; i < mr; i++) {
        _mm512_store_si512((void *)out[i], acc0[i]);
        _mm512_store_si512((void *)(out[i] + 16), acc1[i]);
    }
    __m512i s0 = _mm512_maskz_loadu_epi32(m0, bsum), s1 = _mm512_maskz_loadu_epi32(m1, bsum + 16);
    __m512 w0 = _mm512_maskz_loadu_ps(m0, wscale), w1 = _mm512_maskz_loadu_ps(m1, wscale + 16);
    __m512 c0 = bias ? _mm512_maskz_loadu_ps(m0, bias) : _mm512_setzero_ps();
    __m512 c1 = bias ? _mm512_maskz_loadu_ps(m1, bias + 16) : _mm512_setzero_ps();
    for (int i = 0; i < mr; i++) {
        __m512 xs = _mm512_set1_ps(ascale[i]);
        __m512i a0 = _mm512_load_si512((const void *)out[i]), a1 = _mm512_load_si512((const void *)(out[i] + 16));
        __m512 v0 = _mm512_mul_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(a0, s0)), xs), w0);
        __m512 v1 = _mm512_mul_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(a1, s1)), xs), w1);
        if (bias) {
            v0 = _mm512_add_ps(v0, c0);
            v1 = _mm512_add_ps(v1, c1);
        }
        if (act) {
            v0 = act16(v0, act);
            v1 = act16(v1, act);
        }
        float *cr = c + (size_t)i * ldc;
        _mm512_mask_storeu_ps(cr, m0, v0);
        if (m1) _mm512_mask_storeu_ps(cr + 16, m1, v1);
    }
}

#define I8TILE(MR)                                                                                 \
    static VNNI_TARGET void i8tile_##MR(int kg, const uint8_t *a, int lda, const int8_t *bp,       \
                                        const int8_t *pf,                                          \
                            const int32_t *bsum, const float *ascale, const float *wscale,         \
                            const float *bias, int act, float *c, int ldc, __mmask16 m0,           \
                            __mmask16 m1) {                                                        \
        i8tile(MR, kg, a, lda, bp, pf, bsum, ascale, wscale, bias, act, c, ldc, m0, m1);               \
    }
I8TILE(12)
I8TILE(8)
I8TILE(4)
I8TILE(2)
I8TILE(1)

static VNNI_TARGET void gemm_i8_packed(int m, int n, int k, const uint8_t *a, int lda,
                                       const int8_t *bp, const int32_t *bsum128,
                                       const float *ascale, const float *wscale,
                                       const float *bias, int act, float *c, int ldc) {
    int kg = PL_I8_KP(k) / 4;
    for (int j0 = 0; j0 < n; j0 += 32) {
        int nr = n - j0 < 32 ? n - j0 : 32;
        __mmask16 m0 = nr >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << nr) - 1);
        __mmask16 m1 = nr >= 32 ? (__mmask16)0xFFFF : nr > 16 ? (__mmask16)((1u << (nr - 16)) - 1) : 0;
        const int8_t *pp = bp + (size_t)(j0 / 32) * kg * 128;
        /* the first row block fetches the next panel while it reads this one (with few rows
         * every panel comes from memory once); the others re-touch this one, in cache */
        const int8_t *pf = j0 + 32 < n ? pp + (size_t)kg * 128 : pp;
        const float *bj = bias ? bias + j0 : NULL;
        int i = 0;
#define I8CALL(MR)                                                                                 \
    i8tile_##MR(kg, a + (size_t)i * lda, lda, pp, i ? pp : pf, bsum128 + j0, ascale + i,           \
                wscale + j0, bj, act, c + (size_t)i * ldc + j0, ldc, m0, m1)
        for (; i + 12 <= m; i += 12) I8CALL(12);
        if (m - i >= 8) I8CALL(8), i += 8;
        if (m - i >= 4) I8CALL(4), i += 4;
        if (m - i >= 2) I8CALL(2), i += 2;
        if (m - i >= 1) I8CALL(1), i += 1;
#undef I8CALL
    }
}

/* ---- the packed int8 GEMM without VNNI (avx512novnni) ------------------------
 *
 * AVX-512 CPUs without VNNI (Skylake-SP/X) multiply int8 exactly the way the
 * avx2 family does, on 512-bit registers: per 4-byte K group the 64-byte half
 * of the panel's 128 bytes that holds 16 columns is sign-extended to two zmm
 * of 16 bits (8 columns x 4 K each) and vpmaddwd multiplies them by a row's
 * 4 K values (widened to 16 bits once per row block and K block, broadcast as
 * 64 bits), adding pairs exactly into 32 bits (255 x 127 x 2 fits); each
 * column's sum sits in two lanes until the end of a K block, where a shift,
 * an add and vpmovqd pack the 16 sums of a row. MR = 8: 16 accumulators, 2 B,
 * the broadcast and the products (at 12 rows GCC's allocation spilled
 * accumulators in the K loop). Sums of a row block are kept for up to BWPS
 * columns over the K blocks; the epilogue does the VNNI kernel's arithmetic
 * in the same order. */

#define BWMR 8
#define BWKC 1024 /* K values per block: the widened rows take 8 x 2 KiB */
#define BWPS 256  /* columns per chunk: the row stride of the int32 sums */

static inline __attribute__((always_inline)) void bwtile(int mr, int kg, const int16_t *aw,
                                                         const int8_t *bp, const int8_t *pf,
                                                         int first, int32_t *part) {
    __m512i q0[BWMR], q1[BWMR];
    _Pragma("GCC unroll 8") for (int i = 0; i < mr; i++) q0[i] = q1[i] = _mm512_setzero_si512();
    for (int g = 0; g < kg; g++) {
        const int8_t *br = bp + (size_t)g * 128;
        __m512i b0 = _mm512_cvtepi8_epi16(_mm256_load_si256((const __m256i *)br));
        __m512i b1 = _mm512_cvtepi8_epi16(_mm256_load_si256((const __m256i *)(br + 32)));
        _mm_prefetch((const char *)(pf + (size_t)g * 128), _MM_HINT_T0);
        _Pragma("GCC unroll 8") for (int i = 0; i < mr; i++) {
            int64_t v;
            memcpy(&v, aw + (size_t)i * BWKC + 4 * g, sizeof v);
            __m512i av = _mm512_set1_epi64(v);
            q0[i] = _mm512_add_epi32(q0[i], _mm512_madd_epi16(av, b0));
            q1[i] = _mm512_add_epi32(q1[i], _mm512_madd_epi16(av, b1));
        }
    }
    /* lanes (c0 c0 c1 c1 ... c7 c7): the pair's sum in the low half of each 64-bit lane, packed */
    _Pragma("GCC unroll 8") for (int i = 0; i < mr; i++) {
        __m256i s0 = _mm512_cvtepi64_epi32(_mm512_add_epi32(q0[i], _mm512_srli_epi64(q0[i], 32)));
        __m256i s1 = _mm512_cvtepi64_epi32(_mm512_add_epi32(q1[i], _mm512_srli_epi64(q1[i], 32)));
        __m512i s = _mm512_inserti64x4(_mm512_castsi256_si512(s0), s1, 1);
        void *d = part + (size_t)i * BWPS;
        _mm512_store_si512(d, first ? s : _mm512_add_epi32(_mm512_load_si512(d), s));
    }
}

#define BWTILE(MR)                                                                                 \
    static void bwtile_##MR(int kg, const int16_t *aw, const int8_t *bp, const int8_t *pf,        \
                            int first, int32_t *part) {                                            \
        bwtile(MR, kg, aw, bp, pf, first, part);                                                   \
    }
BWTILE(8)
BWTILE(7)
BWTILE(6)
BWTILE(5)
BWTILE(4)
BWTILE(3)
BWTILE(2)
BWTILE(1)

static void gemm_i8_packed_bw(int m, int n, int k, const uint8_t *a, int lda, const int8_t *bp,
                              const int32_t *bsum128, const float *ascale, const float *wscale,
                              const float *bias, int act, float *c, int ldc) {
    typedef void (*tile_fn)(int, const int16_t *, const int8_t *, const int8_t *, int, int32_t *);
    static const tile_fn tiles[BWMR + 1] = {NULL,     bwtile_1, bwtile_2, bwtile_3, bwtile_4,
                                            bwtile_5, bwtile_6, bwtile_7, bwtile_8};
    int16_t aw[BWMR * BWKC] __attribute__((aligned(64)));
    int32_t part[BWMR * BWPS] __attribute__((aligned(64)));
    int kp = PL_I8_KP(k), kg = kp / 4;
    for (int jc = 0; jc < n; jc += BWPS) {
        int ncc = n - jc < BWPS ? n - jc : BWPS;
        for (int i = 0; i < m;) {
            int mr = m - i < BWMR ? m - i : BWMR;
            for (int k0 = 0; k0 < kp || k0 == 0; k0 += BWKC) {
                int kc = kp - k0 < BWKC ? kp - k0 : BWKC;
                for (int r = 0; r < mr; r++) { /* rows [i, i + mr), K [k0, k0 + kc) to 16 bits */
                    const uint8_t *src = a + (size_t)(i + r) * lda + k0;
                    int16_t *dst = aw + (size_t)r * BWKC;
                    int l = 0;
                    for (; l + 32 <= kc; l += 32)
                        _mm512_store_si512(dst + l, _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)(src + l))));
                    for (; l < kc; l++) dst[l] = src[l];
                }
                for (int j0 = jc; j0 < jc + ncc; j0 += 32) {
                    const int8_t *pp = bp + (size_t)(j0 / 32) * kg * 128;
                    /* the first row block fetches the next panel while it reads this one */
                    const int8_t *next = i == 0 && j0 + 32 < n ? pp + (size_t)kg * 128 : pp;
                    const int8_t *pk = pp + (size_t)(k0 / 4) * 128;
                    const int8_t *pf = next + (size_t)(k0 / 4) * 128;
                    for (int h = 0; h < 2 && j0 + 16 * h < n; h++)
                        tiles[mr](kc / 4, aw, pk + 64 * h, pf + 64 * h, k0 == 0,
                                  part + (j0 - jc) + 16 * h);
                }
            }
            for (int col = jc; col < jc + ncc; col += 16) {
                int left = n - col;
                __mmask16 mk = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
                __m512i s = _mm512_maskz_loadu_epi32(mk, bsum128 + col);
                __m512 w = _mm512_maskz_loadu_ps(mk, wscale + col);
                __m512 bv = bias ? _mm512_maskz_loadu_ps(mk, bias + col) : _mm512_setzero_ps();
                for (int r = 0; r < mr; r++) {
                    __m512i acc = _mm512_load_si512((const void *)(part + r * BWPS + (col - jc)));
                    __m512 v = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc, s));
                    v = _mm512_mul_ps(_mm512_mul_ps(v, _mm512_set1_ps(ascale[i + r])), w);
                    if (bias) v = _mm512_add_ps(v, bv);
                    if (act) v = act16(v, act);
                    _mm512_mask_storeu_ps(c + (size_t)(i + r) * ldc + col, mk, v);
                }
            }
            i += mr;
        }
    }
}

/* ---- bf16 GEMM (AVX-512 BF16) ----------------------------------------------
 *
 * The int8 tile's shape with vdpbf16ps: MR rows x one 32-column panel, 2 x MR
 * f32 accumulators; per pair of K, two panel vectors (16 columns x 2 bf16
 * each) and MR broadcast pairs of A feed 2 x MR vdpbf16ps (each lane adds
 * a[2g] b[2g] + a[2g+1] b[2g+1] to its sum). Half the bytes of f32 per weight
 * and twice the products per instruction. These functions carry the
 * instruction set in their target attribute: the family that uses them is
 * chosen only on CPUs that report avx512bf16. */
#define BF16_TARGET __attribute__((target("avx512bf16")))

static inline __attribute__((always_inline)) BF16_TARGET void
bf16tile(int mr, int kg, const uint16_t *a, int lda, const uint16_t *bp, const uint16_t *pf,
         const float *bias, int act, float *c, int ldc, __mmask16 m0, __mmask16 m1) {
    __m512 acc0[12], acc1[12];
    _Pragma("GCC unroll 12") for (int i = 0; i < mr; i++) acc0[i] = acc1[i] = _mm512_setzero_ps();
    for (int g = 0; g < kg; g++) {
        __m512bh b0 = (__m512bh)_mm512_load_si512((const void *)(bp + (size_t)g * 64));
        __m512bh b1 = (__m512bh)_mm512_load_si512((const void *)(bp + (size_t)g * 64 + 32));
        _mm_prefetch((const char *)(pf + (size_t)g * 64), _MM_HINT_T0);
        _mm_prefetch((const char *)(pf + (size_t)g * 64 + 32), _MM_HINT_T0);
        _Pragma("GCC unroll 12") for (int i = 0; i < mr; i++) {
            int32_t v;
            memcpy(&v, a + (size_t)i * lda + 2 * g, sizeof v);
            __m512bh av = (__m512bh)_mm512_set1_epi32(v);
            acc0[i] = _mm512_dpbf16_ps(acc0[i], av, b0);
            acc1[i] = _mm512_dpbf16_ps(acc1[i], av, b1);
        }
    }
    float out[12][32] __attribute__((aligned(64))); /* as in i8tile: out of registers once */
    _Pragma("GCC unroll 12") for (int i = 0; i < mr; i++) {
        _mm512_store_ps(out[i], acc0[i]);
        _mm512_store_ps(out[i] + 16, acc1[i]);
    }
    for (int i = 0; i < mr; i++)
        ptile_store(c + (size_t)i * ldc, _mm512_load_ps(out[i]), _mm512_load_ps(out[i] + 16), 0,
                    bias, act, m0, m1);
}

#define BF16TILE(MR)                                                                               \
    static BF16_TARGET void bf16tile_##MR(int kg, const uint16_t *a, int lda, const uint16_t *bp,  \
                                          const uint16_t *pf, const float *bias, int act, float *c, \
                                          int ldc, __mmask16 m0, __mmask16 m1) {                   \
        bf16tile(MR, kg, a, lda, bp, pf, bias, act, c, ldc, m0, m1);                               \
    }
BF16TILE(12)
BF16TILE(8)
BF16TILE(4)
BF16TILE(2)
BF16TILE(1)

static BF16_TARGET void gemm_bf16_packed(int m, int n, int k, const uint16_t *a, int lda,
                                         const uint16_t *bp, float *c, int ldc, const float *bias,
                                         int act) {
    int kg = PL_BF16_KP(k) / 2;
    for (int j0 = 0; j0 < n; j0 += 32) {
        __mmask16 m0 = lanes(n - j0), m1 = lanes(n - j0 - 16);
        const uint16_t *pp = bp + (size_t)(j0 / 32) * kg * 64;
        const uint16_t *pf = j0 + 32 < n ? pp + (size_t)kg * 64 : pp; /* as gemm_i8_packed */
        const float *bj = bias ? bias + j0 : NULL;
        int i = 0;
#define BF16CALL(MR)                                                                               \
    bf16tile_##MR(kg, a + (size_t)i * lda, lda, pp, i ? pp : pf, bj, act, c + (size_t)i * ldc + j0, \
                  ldc, m0, m1)
        for (; i + 12 <= m; i += 12) BF16CALL(12);
        if (m - i >= 8) BF16CALL(8), i += 8;
        if (m - i >= 4) BF16CALL(4), i += 4;
        if (m - i >= 2) BF16CALL(2), i += 2;
        if (m - i >= 1) BF16CALL(1), i += 1;
#undef BF16CALL
    }
}

/* row_bf16 (cpu_impl.h): 32 floats a step through vcvtne2ps2bf16 (round to
 * nearest even), the tail masked. */
static BF16_TARGET void row_bf16(const float *x, int k, int kp, uint16_t *u) {
    int i = 0;
    for (; i + 32 <= k; i += 32) {
        __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(x + i + 16), _mm512_loadu_ps(x + i));
        _mm512_storeu_si512((void *)(u + i), (__m512i)v);
    }
    for (; i < k; i += 16) {
        __mmask16 mk = lanes(k - i);
        __m256bh v = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(mk, x + i));
        _mm256_mask_storeu_epi16(u + i, mk, (__m256i)v);
    }
    for (i = k; i < kp; i++) u[i] = 0;
}

/* ---- fused attention with bf16 products ------------------------------------
 *
 * attention_f32's blocks (AQ query rows x 64 keys, the online softmax in f32)
 * with both products through vdpbf16ps, two multiply-adds per lane and
 * instruction: K is laid out per head as pairs of d for each key
 * (kp[(l kn64 + j) 2 + t] = K[j][2l + t]: a zmm holds 16 keys' pair l), V as
 * pairs of keys for each column (vp[(p ds + c) 2 + t] = V[2p + t][c]: 16
 * columns' key pair p), each block's queries and probabilities as bf16 rows
 * whose adjacent pairs are broadcast. Keys past kn and d's odd element are
 * zero in both layouts, so only the softmax masks keys. */

/* 16 lanes of the pairs (bf16(lo[i]), bf16(hi[i])), lo in the low half. */
static inline BF16_TARGET __m512i bf16_pairs(__m512 lo, __m512 hi) {
    __m512i a = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(lo));
    __m512i b = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(hi));
    return _mm512_or_si512(a, _mm512_slli_epi32(b, 16));
}

static inline int32_t bf16_pair_at(const uint16_t *p) {
    int32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static BF16_TARGET void attention_bf16(int sq, int kn, int d, const float *q, int ldq,
                                       const float *k, int ldk, const float *v, int ldv,
                                       const int32_t *mask, float scale, float *out, int ldo,
                                       void *scratch) {
    const int kn64 = PL_ATT_KN64(kn), dp = (d + 1) / 2 * 2, d2 = dp / 2, ds = PL_ATT_DS(d);
    char *sp = scratch;
    uint16_t *kp = (uint16_t *)sp;
    sp += ((size_t)kn64 * dp * 2 + 63) / 64 * 64;
    uint16_t *vp = (uint16_t *)sp;
    sp += ((size_t)kn64 * ds * 2 + 63) / 64 * 64;
    uint16_t *qb = (uint16_t *)sp;
    sp += ((size_t)AQ * dp * 2 + 63) / 64 * 64;
    uint16_t *pb = (uint16_t *)sp;
    sp += (size_t)AQ * 64 * 2;
    float *o = (float *)sp;

    /* K: each key's row to bf16 (qb as the staging row), its pairs spread over kp */
    uint32_t *kp32 = (uint32_t *)kp;
    for (int j = 0; j < kn64; j++) {
        if (j < kn) {
            row_bf16(k + (size_t)j * ldk, d, dp, qb);
            for (int l = 0; l < d2; l++) kp32[(size_t)l * kn64 + j] = (uint32_t)bf16_pair_at(qb + 2 * l);
        } else {
            for (int l = 0; l < d2; l++) kp32[(size_t)l * kn64 + j] = 0;
        }
    }
    /* V: rows 2p and 2p + 1 interleaved, 16 columns a step */
    for (int p = 0; p < kn64 / 2; p++) {
        const float *v0 = v + (size_t)(2 * p) * ldv, *v1 = v0 + ldv;
        for (int c = 0; c < ds; c += 16) {
            __mmask16 mk = lanes(d - c);
            __m512 lo = 2 * p < kn ? _mm512_maskz_loadu_ps(mk, v0 + c) : _mm512_setzero_ps();
            __m512 hi = 2 * p + 1 < kn ? _mm512_maskz_loadu_ps(mk, v1 + c) : _mm512_setzero_ps();
            _mm512_store_si512((void *)(vp + ((size_t)p * ds + c) * 2), bf16_pairs(lo, hi));
        }
    }

    const __m512 vscale = _mm512_set1_ps(scale);
    for (int i0 = 0; i0 < sq; i0 += AQ) {
        int qb_rows = sq - i0 < AQ ? sq - i0 : AQ;
        for (int r = 0; r < AQ; r++)
            row_bf16(q + (size_t)(i0 + (r < qb_rows ? r : qb_rows - 1)) * ldq, d, dp, qb + (size_t)r * dp);
        __m512 m[AQ], l[AQ], alpha[AQ];
        att_block_start(m, l, o, ds);
        for (int j0 = 0; j0 < kn; j0 += 64) {
            int kb = kn - j0 < 64 ? kn - j0 : 64;
            __mmask16 km[4], valid[4];
            att_key_masks(mask, j0, kb, km, valid);
            /* scores: AQ x 64 in 24 accumulators, a pair of d per step */
            __m512 s[AQ][4];
            _Pragma("GCC unroll 6") for (int r = 0; r < AQ; r++)
                _Pragma("GCC unroll 4") for (int c = 0; c < 4; c++) s[r][c] = _mm512_setzero_ps();
            for (int g = 0; g < d2; g++) {
                const uint16_t *kg = kp + ((size_t)g * kn64 + j0) * 2;
                __m512bh k0 = (__m512bh)_mm512_load_si512((const void *)kg);
                __m512bh k1 = (__m512bh)_mm512_load_si512((const void *)(kg + 32));
                __m512bh k2 = (__m512bh)_mm512_load_si512((const void *)(kg + 64));
                __m512bh k3 = (__m512bh)_mm512_load_si512((const void *)(kg + 96));
                _Pragma("GCC unroll 6") for (int r = 0; r < AQ; r++) {
                    __m512bh qv = (__m512bh)_mm512_set1_epi32(bf16_pair_at(qb + (size_t)r * dp + 2 * g));
                    s[r][0] = _mm512_dpbf16_ps(s[r][0], qv, k0);
                    s[r][1] = _mm512_dpbf16_ps(s[r][1], qv, k1);
                    s[r][2] = _mm512_dpbf16_ps(s[r][2], qv, k2);
                    s[r][3] = _mm512_dpbf16_ps(s[r][3], qv, k3);
                }
            }
            /* the online softmax in f32, the probabilities stored as bf16 */
            _Pragma("GCC unroll 6") for (int r = 0; r < AQ; r++) {
                if (!att_softmax_row(s[r], valid, vscale, &m[r], &l[r], &alpha[r])) {
                    memset(pb + r * 64, 0, sizeof(uint16_t) * 64);
                    continue;
                }
                _mm512_store_si512((void *)(pb + r * 64), (__m512i)_mm512_cvtne2ps_pbh(s[r][1], s[r][0]));
                _mm512_store_si512((void *)(pb + r * 64 + 32), (__m512i)_mm512_cvtne2ps_pbh(s[r][3], s[r][2]));
            }
            /* P . V: 64 columns of d at a time, a pair of keys per step */
            int kb2 = (kb + 1) / 2;
            for (int c0 = 0; c0 < d; c0 += 64) {
                __mmask16 dm[4];
                for (int c = 0; c < 4; c++) dm[c] = lanes(d - c0 - 16 * c);
                __m512 acc[AQ][4];
                _Pragma("GCC unroll 6") for (int r = 0; r < AQ; r++)
                    _Pragma("GCC unroll 4") for (int c = 0; c < 4; c++)
                        acc[r][c] = _mm512_mul_ps(
                            alpha[r], _mm512_maskz_loadu_ps(dm[c], o + (size_t)r * ds + c0 + 16 * c));
                for (int g = 0; g < kb2; g++) {
                    const uint16_t *vg = vp + ((size_t)(j0 / 2 + g) * ds + c0) * 2;
                    __m512bh v0 = (__m512bh)_mm512_maskz_loadu_epi32(dm[0], vg);
                    __m512bh v1 = (__m512bh)_mm512_maskz_loadu_epi32(dm[1], vg + 32);
                    __m512bh v2 = (__m512bh)_mm512_maskz_loadu_epi32(dm[2], vg + 64);
                    __m512bh v3 = (__m512bh)_mm512_maskz_loadu_epi32(dm[3], vg + 96);
                    _Pragma("GCC unroll 6") for (int r = 0; r < AQ; r++) {
                        __m512bh pv = (__m512bh)_mm512_set1_epi32(bf16_pair_at(pb + r * 64 + 2 * g));
                        acc[r][0] = _mm512_dpbf16_ps(acc[r][0], pv, v0);
                        acc[r][1] = _mm512_dpbf16_ps(acc[r][1], pv, v1);
                        acc[r][2] = _mm512_dpbf16_ps(acc[r][2], pv, v2);
                        acc[r][3] = _mm512_dpbf16_ps(acc[r][3], pv, v3);
                    }
                }
                _Pragma("GCC unroll 6") for (int r = 0; r < AQ; r++)
                    _Pragma("GCC unroll 4") for (int c = 0; c < 4; c++)
                        _mm512_mask_storeu_ps(o + (size_t)r * ds + c0 + 16 * c, dm[c], acc[r][c]);
            }
        }
        for (int r = 0; r < qb_rows; r++) {
            float lr = _mm512_reduce_add_ps(l[r]), inv = lr > 0.0f ? 1.0f / lr : 0.0f;
            for (int c = 0; c < d; c++) out[(size_t)(i0 + r) * ldo + c] = o[(size_t)r * ds + c] * inv;
        }
    }
}

/* quant_row_u8 (cpu_impl.h): the reference's arithmetic as in
 * pl__avx2_quant_row (exact max|x|, the same x * inv product, cvtps rounding
 * half to even like nearbyintf), 16 lanes, the +128 shift as an XOR of the
 * packed bytes; 4 independent maxima over 64 floats a step. */
static float quant_row_u8(const float *x, int k, int kp, uint8_t *u) {
    const __m512i absmask = _mm512_set1_epi32(0x7fffffff);
#define ABS16(p, mk) _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(_mm512_maskz_loadu_ps(mk, p)), absmask))
    __m512 m0 = _mm512_setzero_ps(), m1 = m0, m2 = m0, m3 = m0;
    int i = 0;
    for (; i + 64 <= k; i += 64) {
        m0 = _mm512_max_ps(m0, ABS16(x + i, 0xFFFF));
        m1 = _mm512_max_ps(m1, ABS16(x + i + 16, 0xFFFF));
        m2 = _mm512_max_ps(m2, ABS16(x + i + 32, 0xFFFF));
        m3 = _mm512_max_ps(m3, ABS16(x + i + 48, 0xFFFF));
    }
    for (; i < k; i += 16) m0 = _mm512_max_ps(m0, ABS16(x + i, lanes(k - i)));
#undef ABS16
    float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_max_ps(m0, m1), _mm512_max_ps(m2, m3)));
    float inv = amax > 0 ? 127.0f / amax : 0.0f;
    const __m512 vinv = _mm512_set1_ps(inv);
    const __m512i lo = _mm512_set1_epi32(-127), hi = _mm512_set1_epi32(127);
    const __m128i flip = _mm_set1_epi8((char)0x80);
    for (i = 0; i < k; i += 16) {
        __mmask16 mk = lanes(k - i);
        __m512i v = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_maskz_loadu_ps(mk, x + i), vinv));
        v = _mm512_min_epi32(_mm512_max_epi32(v, lo), hi);
        _mm_mask_storeu_epi8(u + i, mk, _mm_xor_si128(_mm512_cvtepi32_epi8(v), flip));
    }
    for (i = k; i < kp; i++) u[i] = 0; /* read by the GEMM against zero weights */
    return amax / 127.0f;
}

/* Depthwise conv (see kern_avx2.c): 64 channels of accumulators per pass,
 * the channel tail masked. */
static void dwconv(int n_out, int ch, int k, int d, int s, const float *x, const float *w, float *y) {
    size_t step = (size_t)d * ch;
    for (int i = 0; i < n_out; i++) {
        float *yr = y + (size_t)i * ch;
        const float *xr = x + (size_t)i * s * ch;
        int c = 0;
        for (; c + 64 <= ch; c += 64) {
            __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
            __m512 a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
            const float *xp = xr + c, *wp = w + c;
            for (int j = 0; j < k; j++, xp += step, wp += ch) {
                a0 = _mm512_fmadd_ps(_mm512_loadu_ps(wp), _mm512_loadu_ps(xp), a0);
                a1 = _mm512_fmadd_ps(_mm512_loadu_ps(wp + 16), _mm512_loadu_ps(xp + 16), a1);
                a2 = _mm512_fmadd_ps(_mm512_loadu_ps(wp + 32), _mm512_loadu_ps(xp + 32), a2);
                a3 = _mm512_fmadd_ps(_mm512_loadu_ps(wp + 48), _mm512_loadu_ps(xp + 48), a3);
            }
            _mm512_storeu_ps(yr + c, a0);
            _mm512_storeu_ps(yr + c + 16, a1);
            _mm512_storeu_ps(yr + c + 32, a2);
            _mm512_storeu_ps(yr + c + 48, a3);
        }
        for (; c < ch; c += 16) {
            int left = ch - c;
            __mmask16 mk = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
            __m512 a0 = _mm512_setzero_ps();
            const float *xp = xr + c, *wp = w + c;
            for (int j = 0; j < k; j++, xp += step, wp += ch)
                a0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mk, wp), _mm512_maskz_loadu_ps(mk, xp), a0);
            _mm512_mask_storeu_ps(yr + c, mk, a0);
        }
    }
}

/* every member but the int8 GEMMs and the bf16 ones, shared by the three AVX-512 tables */
#define AVX512_KERNELS                                                                             \
    .gemm_f32 = gemm_f32,                                                                          \
    .gemm_f32_packed = gemm_f32_packed,                                                            \
    .pack_b = pl__cpu_pack_b32,                                                                    \
    .attention_f32 = attention_f32,                                                                \
    .layer_norm_f32 = layer_norm_f32,                                                              \
    .gemm_nn_f32 = pl__avx2_gemm_nn,                                                               \
    .bias_act = pl__avx2_bias_act,                                                                 \
    .exp_sum = pl__avx2_exp_sum,                                                                   \
    .quant_row = pl__avx2_quant_row,                                                               \
    .quant_row_u8 = quant_row_u8,                                                                  \
    .dwconv_f32 = dwconv,                                                                          \
    .lstm_f32 = pl__avx2_lstm

const struct pl_cpu_kern pl__cpu_kern_avx512 = {
    .name = "avx512",
    AVX512_KERNELS,
    .gemm_i8 = gemm_i8,
    .gemm_i8_packed = gemm_i8_packed,
};

const struct pl_cpu_kern pl__cpu_kern_avx512_novnni = {
    .name = "avx512novnni",
    AVX512_KERNELS,
    .gemm_i8 = pl__avx2_gemm_i8,
    .gemm_i8_packed = gemm_i8_packed_bw,
    .i8_task_cols = 256,
};

const struct pl_cpu_kern pl__cpu_kern_avx512_bf16 = {
    .name = "avx512bf16",
    AVX512_KERNELS,
    .gemm_i8 = gemm_i8,
    .gemm_i8_packed = gemm_i8_packed,
    .gemm_bf16_packed = gemm_bf16_packed,
    .row_bf16 = row_bf16,
    .attention_bf16 = attention_bf16,
};
