/*
 * kern_avx2.c - AVX2 + FMA kernels (compiled with -mavx2 -mfma; chosen at
 * run time only on CPUs that have both).
 *
 * GEMM computes C = A . B^T with both operands K-contiguous, which is how
 * activations [tokens, in] and PyTorch Linear weights [out, in] are stored:
 * no packing pass is needed (weights packed at load use gemm_f32_packed and
 * gemm_i8_packed below, on the AVX-512 family's layouts). The micro-kernel holds a 3 x 4 tile of 8-lane
 * accumulators (12 ymm + 3 A + 1 B = 16 registers) and reduces them
 * horizontally once per K block. K is blocked (KC) so the 3 A rows stay in
 * L1 while a block of NC weight rows streams from L2.
 */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "cpu_impl.h"
#include "simd_math_avx2.h"

#define KC 1024
#define NC 64

static const int32_t mask_tab[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};

/* Lanes [0, left) of a 4-byte mask vector (left clamped to [0, 8]). */
static inline __m256i lanes8(int left) {
    left = left >= 8 ? 8 : left < 0 ? 0 : left;
    return _mm256_loadu_si256((const __m256i *)(mask_tab + 8 - left));
}

static inline __m128 hsum4(__m256 a0, __m256 a1, __m256 a2, __m256 a3) {
    __m256 t0 = _mm256_hadd_ps(a0, a1);
    __m256 t1 = _mm256_hadd_ps(a2, a3);
    __m256 t2 = _mm256_hadd_ps(t0, t1);
    return _mm_add_ps(_mm256_castps256_ps128(t2), _mm256_extractf128_ps(t2, 1));
}

static inline float hmax8(__m256 a) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline float hsum1(__m256 a) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

#define TILE(MR, NR)                                                                               \
    static void tile_##MR##x##NR(int k, const float *a, int lda, const float *b, int ldb,         \
                                 float *c, int ldc, int accumulate) {                              \
        __m256 acc[MR][NR];                                                                        \
        for (int i = 0; i < MR; i++)                                                               \
            for (int j = 0; j < NR; j++) acc[i][j] = _mm256_setzero_ps();                          \
        int l = 0;                                                                                 \
        for (; l + 8 <= k; l += 8) {                                                               \
            __m256 av[MR];                                                                         \
            for (int i = 0; i < MR; i++) av[i] = _mm256_loadu_ps(a + (size_t)i * lda + l);         \
            for (int j = 0; j < NR; j++) {                                                         \
                __m256 bv = _mm256_loadu_ps(b + (size_t)j * ldb + l);                              \
                for (int i = 0; i < MR; i++) acc[i][j] = _mm256_fmadd_ps(av[i], bv, acc[i][j]);    \
            }                                                                                      \
        }                                                                                          \
        if (l < k) {                                                                               \
            __m256i msk = _mm256_loadu_si256((const __m256i *)(mask_tab + 8 - (k - l)));           \
            __m256 av[MR];                                                                         \
            for (int i = 0; i < MR; i++) av[i] = _mm256_maskload_ps(a + (size_t)i * lda + l, msk); \
            for (int j = 0; j < NR; j++) {                                                         \
                __m256 bv = _mm256_maskload_ps(b + (size_t)j * ldb + l, msk);                      \
                for (int i = 0; i < MR; i++) acc[i][j] = _mm256_fmadd_ps(av[i], bv, acc[i][j]);    \
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
                for (int j = 0; j < NR; j++) cr[j] = (accumulate ? cr[j] : 0.0f) + hsum1(acc[i][j]); \
            }                                                                                      \
        }                                                                                          \
    }

TILE(3, 4)
TILE(2, 4)
TILE(1, 4)
TILE(3, 1)
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
            for (; i + 3 <= m; i += 3) {
                const float *ai = a + (size_t)i * lda + k0;
                int j = n0;
                for (; j + 4 <= n1; j += 4)
                    tile_3x4(kc, ai, lda, b + (size_t)j * ldb + k0, ldb, c + (size_t)i * ldc + j, ldc,
                             accumulate);
                for (; j < n1; j++)
                    tile_3x1(kc, ai, lda, b + (size_t)j * ldb + k0, ldb, c + (size_t)i * ldc + j, ldc,
                             accumulate);
            }
            if (m - i == 2) { /* two leftover rows share each weight load */
                const float *ai = a + (size_t)i * lda + k0;
                for (int j = n0; j + 4 <= n1; j += 4)
                    tile_2x4(kc, ai, lda, b + (size_t)j * ldb + k0, ldb, c + (size_t)i * ldc + j, ldc,
                             accumulate);
                for (int r = i; r < m; r++)
                    for (int j = n0 + (n1 - n0) / 4 * 4; j < n1; j++)
                        tile_1x1(kc, a + (size_t)r * lda + k0, lda, b + (size_t)j * ldb + k0, ldb,
                                 c + (size_t)r * ldc + j, ldc, accumulate);
                i = m;
            }
            for (; i < m; i++) {
                const float *ai = a + (size_t)i * lda + k0;
                int j = n0;
                for (; j + 4 <= n1; j += 4)
                    tile_1x4(kc, ai, lda, b + (size_t)j * ldb + k0, ldb, c + (size_t)i * ldc + j, ldc,
                             accumulate);
                for (; j < n1; j++)
                    tile_1x1(kc, ai, lda, b + (size_t)j * ldb + k0, ldb, c + (size_t)i * ldc + j, ldc,
                             accumulate);
            }
        }
    }
}

/* ---- packed f32 GEMM with the epilogue in registers ------------------------
 *
 * C = act(A . B^T + bias) for B [N, K] in the backend's 32-column panels
 * (pl_backend_cpu_pack_weight; the layout is shared by every family). A
 * 32-column panel is taken as two halves of 16 columns, one 64-byte line per
 * k each: the micro-kernel keeps an MR x 16 tile in 2 * MR ymm accumulators
 * (MR = 6: 12 + 2 B + a broadcast = 15 registers) and broadcasts one A element
 * per row and k, so each B line feeds MR x 2 FMAs and nothing is reduced
 * horizontally. A panel is finished before the next one starts: per K block
 * of PL_GEMM_KC its chunk (16 KiB) stays in L1 while the row tiles pass over
 * both halves, and the tiles' C columns (m x 32 floats) stay in L1 or L2
 * from one K block to the next (K blocks outside the panels read and wrote
 * the task's whole C block once per K block: 2-20% slower on BERT-base's
 * shapes on Zen 3). The k loop is unrolled by 4 (3-6% more: fewer loop and
 * address instructions per FMA). The last K block adds C's partial sums, the
 * bias and the activation (pl_act8, the numerics of bias_act) before one
 * store per row, masked at the last panel's columns. */

#define PMR 6

static inline void ptile_store(float *cr, __m256 v0, __m256 v1, int accumulate, const float *bias,
                               int act, int full, __m256i m0, __m256i m1) {
    if (full) {
        if (accumulate) {
            v0 = _mm256_add_ps(v0, _mm256_loadu_ps(cr));
            v1 = _mm256_add_ps(v1, _mm256_loadu_ps(cr + 8));
        }
        if (bias) {
            v0 = _mm256_add_ps(v0, _mm256_loadu_ps(bias));
            v1 = _mm256_add_ps(v1, _mm256_loadu_ps(bias + 8));
        }
        if (act) {
            v0 = pl_act8(v0, act);
            v1 = pl_act8(v1, act);
        }
        _mm256_storeu_ps(cr, v0);
        _mm256_storeu_ps(cr + 8, v1);
        return;
    }
    if (accumulate) {
        v0 = _mm256_add_ps(v0, _mm256_maskload_ps(cr, m0));
        v1 = _mm256_add_ps(v1, _mm256_maskload_ps(cr + 8, m1));
    }
    if (bias) {
        v0 = _mm256_add_ps(v0, _mm256_maskload_ps(bias, m0));
        v1 = _mm256_add_ps(v1, _mm256_maskload_ps(bias + 8, m1));
    }
    if (act) {
        v0 = pl_act8(v0, act);
        v1 = pl_act8(v1, act);
    }
    _mm256_maskstore_ps(cr, m0, v0);
    _mm256_maskstore_ps(cr + 8, m1, v1);
}

/* Named accumulators (see the NN tiles below for why not an array). */
#define PT_DECL(i) __m256 p##i##0 = _mm256_setzero_ps(), p##i##1 = _mm256_setzero_ps();
#define PT_STEP(MR, i)                                                                             \
    if (MR > i) {                                                                                  \
        __m256 av = _mm256_broadcast_ss(a + (size_t)(i) * lda + l);                                \
        p##i##0 = _mm256_fmadd_ps(av, b0, p##i##0);                                                \
        p##i##1 = _mm256_fmadd_ps(av, b1, p##i##1);                                                \
    }
#define PT_STORE(MR, i)                                                                            \
    if (MR > i)                                                                                    \
        ptile_store(c + (size_t)(i) * ldc, p##i##0, p##i##1, accumulate, bias, act, full, m0, m1);
#define PTILE(MR)                                                                                  \
    static void ptile_##MR(int kc, const float *a, int lda, const float *bp, const float *pf,     \
                           float *c, int ldc, int accumulate, const float *bias, int act,          \
                           int full, __m256i m0, __m256i m1) {                                     \
        PT_DECL(0) PT_DECL(1) PT_DECL(2) PT_DECL(3) PT_DECL(4) PT_DECL(5)                          \
        _Pragma("GCC unroll 4") for (int l = 0; l < kc; l++) {                                   \
            const float *br = bp + (size_t)l * 32;                                                 \
            __m256 b0 = _mm256_load_ps(br), b1 = _mm256_load_ps(br + 8);                           \
            _mm_prefetch((const char *)(pf + (size_t)l * 32), _MM_HINT_T0);                        \
            PT_STEP(MR, 0) PT_STEP(MR, 1) PT_STEP(MR, 2) PT_STEP(MR, 3) PT_STEP(MR, 4)             \
            PT_STEP(MR, 5)                                                                         \
        }                                                                                          \
        PT_STORE(MR, 0) PT_STORE(MR, 1) PT_STORE(MR, 2) PT_STORE(MR, 3) PT_STORE(MR, 4)            \
        PT_STORE(MR, 5)                                                                            \
    }

PTILE(6)
PTILE(5)
PTILE(4)
PTILE(3)
PTILE(2)
PTILE(1)


/* Rows per tile for the rows left: 6 while it leaves none or at least 3
 * (a tile of 1 or 2 rows has too few independent FMA chains: 7 = 4 + 3,
 * 8 = 4 + 4). */
static inline int ptile_rows(int left) {
    return left == 7 || left == 8 ? 4 : left >= PMR ? PMR : left;
}

static void gemm_f32_packed(int m, int n, int k, const float *a, int lda, const float *bp, float *c,
                            int ldc, const float *bias, int act) {
    typedef void (*ptile_fn)(int, const float *, int, const float *, const float *, float *, int,
                             int, const float *, int, int, __m256i, __m256i);
    static const ptile_fn tiles[PMR + 1] = {NULL,    ptile_1, ptile_2, ptile_3,
                                            ptile_4, ptile_5, ptile_6};
    int nq = (n + 31) / 32;
    for (int q = 0; q < nq; q++) {
        int halves = n - q * 32 > 16 ? 2 : 1;
        for (int k0 = 0; k0 < k || k0 == 0; k0 += PL_GEMM_KC) {
            int kc = k - k0 < PL_GEMM_KC ? k - k0 : PL_GEMM_KC;
            int last = k0 + kc >= k;
            const float *bpq = bp + ((size_t)q * k + k0) * 32;
            /* The chunk used next (this panel's next K block, else the next
             * panel's first) is fetched while this one is used: each k step
             * of a tile touches one of its lines (prefetches do not fault). */
            const float *next = !last ? bpq + (size_t)kc * 32
                                : q + 1 < nq ? bp + (size_t)(q + 1) * k * 32 : bpq;
            for (int i = 0; i < m;) {
                int mr = ptile_rows(m - i);
                for (int hf = 0; hf < halves; hf++) {
                    int col = q * 32 + 16 * hf, left = n - col;
                    tiles[mr](kc, a + (size_t)i * lda + k0, lda, bpq + 16 * hf, next + 16 * hf,
                              c + (size_t)i * ldc + col, ldc, k0 > 0,
                              last && bias ? bias + col : NULL, last ? act : 0, left >= 16,
                              lanes8(left), lanes8(left - 8));
                }
                i += mr;
            }
            if (k == 0) break;
        }
    }
}

/* int8: sign-extend 16 bytes to 16 x i16 and multiply-add pairs into i32
 * (no saturation, unlike maddubs). 2 x 4 tiles of i32 accumulators (3 x 4
 * needs 17 ymm and spills). */
static inline int32_t hsum_i32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

#define TILE_I8(MR, NR)                                                                            \
    static void tile8_##MR##x##NR(int k, const int8_t *a, int lda, const int8_t *b, int ldb,      \
                                  int32_t *c, int ldc) {                                           \
        __m256i acc[MR][NR];                                                                       \
        for (int i = 0; i < MR; i++)                                                               \
            for (int j = 0; j < NR; j++) acc[i][j] = _mm256_setzero_si256();                       \
        int l = 0;                                                                                 \
        for (; l + 16 <= k; l += 16) {                                                             \
            __m256i av[MR];                                                                        \
            for (int i = 0; i < MR; i++)                                                           \
                av[i] = _mm256_cvtepi8_epi16(                                                      \
                    _mm_loadu_si128((const __m128i *)(a + (size_t)i * lda + l)));                  \
            for (int j = 0; j < NR; j++) {                                                         \
                __m256i bv = _mm256_cvtepi8_epi16(                                                 \
                    _mm_loadu_si128((const __m128i *)(b + (size_t)j * ldb + l)));                  \
                for (int i = 0; i < MR; i++)                                                       \
                    acc[i][j] = _mm256_add_epi32(acc[i][j], _mm256_madd_epi16(av[i], bv));         \
            }                                                                                      \
        }                                                                                          \
        for (int i = 0; i < MR; i++)                                                               \
            for (int j = 0; j < NR; j++) {                                                         \
                int32_t s = hsum_i32(acc[i][j]);                                                   \
                for (int t = l; t < k; t++)                                                        \
                    s += (int32_t)a[(size_t)i * lda + t] * b[(size_t)j * ldb + t];                 \
                c[(size_t)i * ldc + j] = s;                                                        \
            }                                                                                      \
    }

TILE_I8(2, 4)
TILE_I8(1, 4)
TILE_I8(1, 1)

void pl__avx2_gemm_i8(int m, int n, int k, const int8_t *a, int lda, const int8_t *b, int ldb,
                      int32_t *c, int ldc) {
    for (int n0 = 0; n0 < n; n0 += NC) {
        int n1 = n - n0 < NC ? n : n0 + NC;
        int i = 0;
        for (; i + 2 <= m; i += 2) {
            int j = n0;
            for (; j + 4 <= n1; j += 4)
                tile8_2x4(k, a + (size_t)i * lda, lda, b + (size_t)j * ldb, ldb, c + (size_t)i * ldc + j, ldc);
            for (; j < n1; j++)
                for (int ii = 0; ii < 2; ii++)
                    tile8_1x1(k, a + (size_t)(i + ii) * lda, lda, b + (size_t)j * ldb, ldb,
                              c + (size_t)(i + ii) * ldc + j, ldc);
        }
        for (; i < m; i++) {
            int j = n0;
            for (; j + 4 <= n1; j += 4)
                tile8_1x4(k, a + (size_t)i * lda, lda, b + (size_t)j * ldb, ldb, c + (size_t)i * ldc + j, ldc);
            for (; j < n1; j++)
                tile8_1x1(k, a + (size_t)i * lda, lda, b + (size_t)j * ldb, ldb, c + (size_t)i * ldc + j, ldc);
        }
    }
}

/* The packed int8 GEMM (gemm_i8_packed in cpu_impl.h) without VNNI, on the
 * AVX-512 family's layout (pl__cpu_pack_b_i8: 32-column panels of 4-byte K
 * groups), so weights packed by either family read the same. A tile is MR
 * rows x 8 columns, the 32-byte slice of every group's 128 bytes that holds
 * them: the slice is sign-extended to 16 bits (two ymm, 4 columns x 4 K
 * each) and vpmaddwd multiplies it by a row's 4 K values (widened to 16 bits
 * once per row block and K block, broadcast as 64 bits), adding the pairs
 * exactly into 32 bits (255 x 127 x 2 fits; vpmaddubsw would saturate). Each
 * column's sum sits in two lanes until the end of the K block, where one
 * horizontal add per row joins them. MR = 6: 12 accumulators + 2 B + the
 * broadcast + the product before its add = 16 ymm, in assembly (i8tile_6);
 * 5 rows and fewer, at the end of a block, in intrinsics. The
 * epilogue is the AVX-512 one's (128 x the column sums taken away,
 * (acc * ascale) * wscale + bias, the activation). */

#define I8MR 6
#define I8KC 1024 /* K values per block: the widened rows take 6 x 2 KiB */
#define I8PS 256  /* columns per chunk: the row stride of the int32 sums */

#define I8_DECL(i) __m256i q##i##0 = _mm256_setzero_si256(), q##i##1 = _mm256_setzero_si256();
#define I8_STEP(MR, i)                                                                             \
    if (MR > i) {                                                                                  \
        int64_t v;                                                                                 \
        memcpy(&v, aw + (size_t)(i) * I8KC + 4 * g, sizeof v);                                     \
        __m256i av = _mm256_set1_epi64x(v);                                                        \
        q##i##0 = _mm256_add_epi32(q##i##0, _mm256_madd_epi16(av, b0));                            \
        q##i##1 = _mm256_add_epi32(q##i##1, _mm256_madd_epi16(av, b1));                            \
    }
/* A row's two accumulators into its 8 column sums at d (stored on the first K block, added
 * after): lanes (c0 c0 c1 c1 | c2 c2 c3 c3), (c4 c4 c5 c5 | c6 c6 c7 c7) -> hadd
 * (c0 c1 c4 c5 | c2 c3 c6 c7) -> 64-bit lanes 0 2 1 3 -> c0 .. c7 */
static inline void i8_row_out(int32_t *d, __m256i q0, __m256i q1, int first) {
    __m256i s = _mm256_permute4x64_epi64(_mm256_hadd_epi32(q0, q1), 0xD8);
    __m256i *p = (__m256i *)d;
    _mm256_store_si256(p, first ? s : _mm256_add_epi32(_mm256_load_si256(p), s));
}
#define I8_OUT(MR, i)                                                                              \
    if (MR > i) i8_row_out(part + (i) * I8PS, q##i##0, q##i##1, first);
#define I8TILE(MR)                                                                                 \
    static void i8tile_##MR(int kg, const int16_t *aw, const int8_t *bp, const int8_t *pf,        \
                            int first, int32_t *part) {                                            \
        I8_DECL(0) I8_DECL(1) I8_DECL(2) I8_DECL(3) I8_DECL(4)                                     \
        for (int g = 0; g < kg; g++) {                                                             \
            const int8_t *br = bp + (size_t)g * 128;                                               \
            __m256i b0 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)br));               \
            __m256i b1 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(br + 16)));        \
            _mm_prefetch((const char *)(pf + (size_t)g * 128), _MM_HINT_T0);                       \
            I8_STEP(MR, 0) I8_STEP(MR, 1) I8_STEP(MR, 2) I8_STEP(MR, 3) I8_STEP(MR, 4)             \
        }                                                                                          \
        I8_OUT(MR, 0) I8_OUT(MR, 1) I8_OUT(MR, 2) I8_OUT(MR, 3) I8_OUT(MR, 4)                      \
    }

/* Six rows in all 16 registers: 12 accumulators, the slice's two widened
 * halves, a row's broadcast and the product. GCC's allocation of the loop in
 * intrinsics copied every accumulator and stored one to the stack at each
 * step even at 4 rows (12 registers); in assembly the 6-row tile runs at
 * 118-134 GOP/s on Zen 3 against 106-118 for the 4-row one in intrinsics,
 * with the vpmaddwd + vpaddd pair's peak at 137-149. */
static void i8tile_6(int kg, const int16_t *aw, const int8_t *bp, const int8_t *pf, int first,
                     int32_t *part) {
    int32_t acc[12 * 8] __attribute__((aligned(32)));
    if (kg > 0) {
        long n = kg;
        __asm__ volatile(
            "vpxor %%ymm0, %%ymm0, %%ymm0\n\t"
            "vpxor %%ymm1, %%ymm1, %%ymm1\n\t"
            "vpxor %%ymm2, %%ymm2, %%ymm2\n\t"
            "vpxor %%ymm3, %%ymm3, %%ymm3\n\t"
            "vpxor %%ymm4, %%ymm4, %%ymm4\n\t"
            "vpxor %%ymm5, %%ymm5, %%ymm5\n\t"
            "vpxor %%ymm6, %%ymm6, %%ymm6\n\t"
            "vpxor %%ymm7, %%ymm7, %%ymm7\n\t"
            "vpxor %%ymm8, %%ymm8, %%ymm8\n\t"
            "vpxor %%ymm9, %%ymm9, %%ymm9\n\t"
            "vpxor %%ymm10, %%ymm10, %%ymm10\n\t"
            "vpxor %%ymm11, %%ymm11, %%ymm11\n\t"
            "1:\n\t"
            "vpmovsxbw (%[b]), %%ymm12\n\t"
            "vpmovsxbw 16(%[b]), %%ymm13\n\t"
            "prefetcht0 (%[pf])\n\t"
#define I8_ROW(off, c0, c1)                                                                        \
            "vpbroadcastq " #off "(%[a]), %%ymm14\n\t"                                         \
            "vpmaddwd %%ymm12, %%ymm14, %%ymm15\n\t"                                            \
            "vpaddd %%ymm15, %%" #c0 ", %%" #c0 "\n\t"                                          \
            "vpmaddwd %%ymm13, %%ymm14, %%ymm15\n\t"                                            \
            "vpaddd %%ymm15, %%" #c1 ", %%" #c1 "\n\t"
            I8_ROW(0, ymm0, ymm1)
            I8_ROW(2048, ymm2, ymm3)
            I8_ROW(4096, ymm4, ymm5)
            I8_ROW(6144, ymm6, ymm7)
            I8_ROW(8192, ymm8, ymm9)
            I8_ROW(10240, ymm10, ymm11)
#undef I8_ROW
            "addq $128, %[b]\n\t"
            "addq $128, %[pf]\n\t"
            "addq $8, %[a]\n\t"
            "decq %[n]\n\t"
            "jnz 1b\n\t"
            "vmovdqa %%ymm0, (%[acc])\n\t"
            "vmovdqa %%ymm1, 32(%[acc])\n\t"
            "vmovdqa %%ymm2, 64(%[acc])\n\t"
            "vmovdqa %%ymm3, 96(%[acc])\n\t"
            "vmovdqa %%ymm4, 128(%[acc])\n\t"
            "vmovdqa %%ymm5, 160(%[acc])\n\t"
            "vmovdqa %%ymm6, 192(%[acc])\n\t"
            "vmovdqa %%ymm7, 224(%[acc])\n\t"
            "vmovdqa %%ymm8, 256(%[acc])\n\t"
            "vmovdqa %%ymm9, 288(%[acc])\n\t"
            "vmovdqa %%ymm10, 320(%[acc])\n\t"
            "vmovdqa %%ymm11, 352(%[acc])\n\t"
            "vzeroupper\n\t"
            : [a] "+r"(aw), [b] "+r"(bp), [pf] "+r"(pf), [n] "+r"(n)
            : [acc] "r"(acc)
            : "memory", "cc", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",
              "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
    } else {
        memset(acc, 0, sizeof acc);
    }
    for (int i = 0; i < 6; i++)
        i8_row_out(part + i * I8PS, _mm256_load_si256((const __m256i *)(acc + 16 * i)),
                   _mm256_load_si256((const __m256i *)(acc + 16 * i + 8)), first);
}

I8TILE(5)
I8TILE(4)
I8TILE(3)
I8TILE(2)
I8TILE(1)

/* Rows [0, mr) of A, K values [k0, k0 + kc), zero-extended to 16 bits. */
static void widen_rows(int mr, const uint8_t *a, int lda, int k0, int kc, int16_t *aw) {
    for (int r = 0; r < mr; r++) {
        const uint8_t *src = a + (size_t)r * lda + k0;
        int16_t *dst = aw + (size_t)r * I8KC;
        int l = 0;
        for (; l + 16 <= kc; l += 16)
            _mm256_store_si256((__m256i *)(dst + l),
                               _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(src + l))));
        for (; l < kc; l++) dst[l] = src[l];
    }
}

void pl__avx2_gemm_i8_packed(int m, int n, int k, const uint8_t *a, int lda, const int8_t *bp,
                             const int32_t *bsum128, const float *ascale, const float *wscale,
                             const float *bias, int act, float *c, int ldc) {
    typedef void (*i8tile_fn)(int, const int16_t *, const int8_t *, const int8_t *, int, int32_t *);
    static const i8tile_fn tiles[I8MR + 1] = {NULL,     i8tile_1, i8tile_2, i8tile_3,
                                              i8tile_4, i8tile_5, i8tile_6};
    int16_t aw[I8MR * I8KC] __attribute__((aligned(32)));
    int32_t part[I8MR * I8PS] __attribute__((aligned(32)));
    int kp = PL_I8_KP(k), kg = kp / 4;
    for (int jc = 0; jc < n; jc += I8PS) {
        int ncc = n - jc < I8PS ? n - jc : I8PS;
        for (int i = 0; i < m;) {
            int mr = m - i < I8MR ? m - i : I8MR;
            for (int k0 = 0; k0 < kp || k0 == 0; k0 += I8KC) {
                int kc = kp - k0 < I8KC ? kp - k0 : I8KC;
                widen_rows(mr, a + (size_t)i * lda, lda, k0, kc, aw);
                for (int j0 = jc; j0 < jc + ncc; j0 += 32) {
                    int groups = (n - j0 < 32 ? n - j0 + 7 : 32 + 7) / 8;
                    const int8_t *pp = bp + (size_t)(j0 / 32) * kg * 128;
                    /* the first row block fetches the next panel while it
                     * reads this one; the others re-read this one from cache */
                    const int8_t *next = i == 0 && j0 + 32 < n ? pp + (size_t)kg * 128 : pp;
                    const int8_t *pk = pp + (size_t)(k0 / 4) * 128;
                    const int8_t *pf = next + (size_t)(k0 / 4) * 128;
                    for (int cg = 0; cg < groups; cg++)
                        tiles[mr](kc / 4, aw, pk + 32 * cg, pf + 32 * cg, k0 == 0,
                                  part + (j0 - jc) + 8 * cg);
                }
            }
            for (int col = jc; col < jc + ncc; col += 8) {
                __m256i mk = lanes8(n - col);
                __m256i s = _mm256_maskload_epi32(bsum128 + col, mk);
                __m256 w = _mm256_maskload_ps(wscale + col, mk);
                __m256 bv = bias ? _mm256_maskload_ps(bias + col, mk) : _mm256_setzero_ps();
                for (int r = 0; r < mr; r++) {
                    __m256i acc = _mm256_load_si256((const __m256i *)(part + r * I8PS + (col - jc)));
                    __m256 v = _mm256_cvtepi32_ps(_mm256_sub_epi32(acc, s));
                    v = _mm256_mul_ps(_mm256_mul_ps(v, _mm256_set1_ps(ascale[i + r])), w);
                    if (bias) v = _mm256_add_ps(v, bv);
                    if (act) v = pl_act8(v, act);
                    _mm256_maskstore_ps(c + (size_t)(i + r) * ldc + col, mk, v);
                }
            }
            i += mr;
        }
    }
}

/* ---- the packed int8 GEMM with AVX-VNNI ------------------------------------
 *
 * CPUs with AVX2 and AVX-VNNI but no AVX-512 (Intel's hybrid client cores,
 * Sierra Forest's E-cores) have vpdpbusd on ymm: 32 unsigned x signed byte
 * products summed into 8 int32 lanes in one instruction, where the kernel
 * above needs the widening, vpmaddwd and vpaddd for 16. The layout is the
 * same (pl__cpu_pack_b_i8), read as the AVX-512 VNNI kernel reads it, in
 * halves: a tile is MR rows x 16 columns, the 64-byte half of each group's
 * 128 bytes that holds them (two ymm of 8 columns x 4 K), and A's 4 bytes of
 * a group (q + 128) broadcast per row. Each lane is one column's sum, so no
 * horizontal adds and no K blocking; MR = 6: 12 accumulators + 2 B + the
 * broadcast = 15 ymm. The epilogue is the one above (128 x the column sums
 * taken away, (acc * ascale) * wscale + bias, the activation), so the
 * outputs are the avx2 family's bit for bit. These functions carry the
 * instruction set in their target attribute: the family that uses them is
 * chosen only on CPUs that report avxvnni. */

#define VNNI_TARGET __attribute__((target("avxvnni")))
#define VMR 6

static inline __attribute__((always_inline)) VNNI_TARGET void
vnni_tile(int mr, int kg, const uint8_t *a, int lda, const int8_t *bp, const int8_t *pf,
          const int32_t *bsum, const float *ascale, const float *wscale, const float *bias, int act,
          float *c, int ldc, int nr) {
    __m256i acc0[VMR], acc1[VMR];
    _Pragma("GCC unroll 6") for (int i = 0; i < mr; i++) acc0[i] = acc1[i] = _mm256_setzero_si256();
    for (int g = 0; g < kg; g++) {
        __m256i b0 = _mm256_load_si256((const __m256i *)(bp + (size_t)g * 128));
        __m256i b1 = _mm256_load_si256((const __m256i *)(bp + (size_t)g * 128 + 32));
        _mm_prefetch((const char *)(pf + (size_t)g * 128), _MM_HINT_T0);
        _Pragma("GCC unroll 6") for (int i = 0; i < mr; i++) {
            int32_t v;
            memcpy(&v, a + (size_t)i * lda + 4 * g, sizeof v);
            __m256i av = _mm256_set1_epi32(v);
            acc0[i] = _mm256_dpbusd_avx_epi32(acc0[i], av, b0);
            acc1[i] = _mm256_dpbusd_avx_epi32(acc1[i], av, b1);
        }
    }
    /* out of the registers once, as in the AVX-512 kernel */
    int32_t out[VMR][16] __attribute__((aligned(32)));
    _Pragma("GCC unroll 6") for (int i = 0; i < mr; i++) {
        _mm256_store_si256((__m256i *)out[i], acc0[i]);
        _mm256_store_si256((__m256i *)(out[i] + 8), acc1[i]);
    }
    __m256i m0 = lanes8(nr), m1 = lanes8(nr - 8);
    __m256i s0 = _mm256_maskload_epi32(bsum, m0), s1 = _mm256_maskload_epi32(bsum + 8, m1);
    __m256 w0 = _mm256_maskload_ps(wscale, m0), w1 = _mm256_maskload_ps(wscale + 8, m1);
    __m256 c0 = bias ? _mm256_maskload_ps(bias, m0) : _mm256_setzero_ps();
    __m256 c1 = bias ? _mm256_maskload_ps(bias + 8, m1) : _mm256_setzero_ps();
    for (int i = 0; i < mr; i++) {
        __m256 xs = _mm256_set1_ps(ascale[i]);
        __m256i a0 = _mm256_load_si256((const __m256i *)out[i]);
        __m256i a1 = _mm256_load_si256((const __m256i *)(out[i] + 8));
        __m256 v0 = _mm256_mul_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(a0, s0)), xs), w0);
        __m256 v1 = _mm256_mul_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(a1, s1)), xs), w1);
        if (bias) {
            v0 = _mm256_add_ps(v0, c0);
            v1 = _mm256_add_ps(v1, c1);
        }
        if (act) {
            v0 = pl_act8(v0, act);
            v1 = pl_act8(v1, act);
        }
        float *cr = c + (size_t)i * ldc;
        _mm256_maskstore_ps(cr, m0, v0);
        if (nr > 8) _mm256_maskstore_ps(cr + 8, m1, v1);
    }
}

#define VNNI_TILE(MR)                                                                              \
    static VNNI_TARGET void vnni_tile_##MR(int kg, const uint8_t *a, int lda, const int8_t *bp,    \
                                           const int8_t *pf, const int32_t *bsum,                  \
                                           const float *ascale, const float *wscale,               \
                                           const float *bias, int act, float *c, int ldc, int nr) { \
        vnni_tile(MR, kg, a, lda, bp, pf, bsum, ascale, wscale, bias, act, c, ldc, nr);            \
    }
VNNI_TILE(6)
VNNI_TILE(5)
VNNI_TILE(4)
VNNI_TILE(3)
VNNI_TILE(2)
VNNI_TILE(1)

static void gemm_i8_packed_vnni(int m, int n, int k, const uint8_t *a, int lda, const int8_t *bp,
                                const int32_t *bsum128, const float *ascale, const float *wscale,
                                const float *bias, int act, float *c, int ldc) {
    typedef void (*tile_fn)(int, const uint8_t *, int, const int8_t *, const int8_t *,
                            const int32_t *, const float *, const float *, const float *, int,
                            float *, int, int);
    static const tile_fn tiles[VMR + 1] = {NULL,         vnni_tile_1, vnni_tile_2, vnni_tile_3,
                                           vnni_tile_4, vnni_tile_5, vnni_tile_6};
    int kg = PL_I8_KP(k) / 4;
    for (int j0 = 0; j0 < n; j0 += 32) {
        const int8_t *pp = bp + (size_t)(j0 / 32) * kg * 128;
        /* the first row block fetches the next panel while it reads this one;
         * the others re-read this one from cache */
        const int8_t *next = j0 + 32 < n ? pp + (size_t)kg * 128 : pp;
        for (int i = 0; i < m; i += VMR) {
            int mr = m - i < VMR ? m - i : VMR;
            for (int h = 0; h < 2 && j0 + 16 * h < n; h++) {
                int col = j0 + 16 * h;
                tiles[mr](kg, a + (size_t)i * lda, lda, pp + 64 * h, (i ? pp : next) + 64 * h,
                          bsum128 + col, ascale + i, wscale + col, bias ? bias + col : NULL, act,
                          c + (size_t)i * ldc + col, ldc, n - col);
            }
        }
    }
}

void pl__avx2_bias_act(float *x, const float *bias, int n, int act) {
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        if (bias) v = _mm256_add_ps(v, _mm256_loadu_ps(bias + i));
        _mm256_storeu_ps(x + i, pl_act8(v, act));
    }
    if (i < n) {
        __m256i msk = _mm256_loadu_si256((const __m256i *)(mask_tab + 8 - (n - i)));
        __m256 v = _mm256_maskload_ps(x + i, msk);
        if (bias) v = _mm256_add_ps(v, _mm256_maskload_ps(bias + i, msk));
        _mm256_maskstore_ps(x + i, msk, pl_act8(v, act));
    }
}

float pl__avx2_exp_sum(const float *x, float *y, int n, float max) {
    __m256 s = _mm256_setzero_ps(), mx = _mm256_set1_ps(max);
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 e = pl_exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), mx));
        _mm256_storeu_ps(y + i, e);
        s = _mm256_add_ps(s, e);
    }
    if (i < n) {
        __m256i msk = _mm256_loadu_si256((const __m256i *)(mask_tab + 8 - (n - i)));
        __m256 e = pl_exp8(_mm256_sub_ps(_mm256_maskload_ps(x + i, msk), mx));
        e = _mm256_and_ps(e, _mm256_castsi256_ps(msk));
        _mm256_maskstore_ps(y + i, msk, e);
        s = _mm256_add_ps(s, e);
    }
    return hsum1(s);
}

/* C = A . B with B row-major along N: tiles of MR rows x 16 columns, A
 * elements broadcast, B rows loaded once per k for all MR rows. FULL = 16
 * columns available, else masked. */
/* Accumulators are named variables, not an array: GCC otherwise keeps a
 * stack copy of the array and stores every accumulator each iteration. */
#define NN_DECL(i) __m256 c##i##0 = _mm256_setzero_ps(), c##i##1 = _mm256_setzero_ps();
#define NN_STEP(MR, i)                                                                             \
    if (MR > i) {                                                                                  \
        __m256 av = _mm256_broadcast_ss(a + (size_t)(i) * lda + l);                                \
        c##i##0 = _mm256_fmadd_ps(av, b0, c##i##0);                                                \
        c##i##1 = _mm256_fmadd_ps(av, b1, c##i##1);                                                \
    }
#define NN_STORE(MR, FULL, i)                                                                      \
    if (MR > i) {                                                                                  \
        float *cr = c + (size_t)(i) * ldc;                                                         \
        if (FULL) {                                                                                \
            _mm256_storeu_ps(cr, c##i##0);                                                         \
            _mm256_storeu_ps(cr + 8, c##i##1);                                                     \
        } else {                                                                                   \
            _mm256_maskstore_ps(cr, m0, c##i##0);                                                  \
            _mm256_maskstore_ps(cr + 8, m1, c##i##1);                                              \
        }                                                                                          \
    }
#define TILE_NN(MR, FULL)                                                                          \
    static void nn_##MR##_##FULL(int k, const float *a, int lda, const float *b, int ldb, float *c, \
                                 int ldc, __m256i m0, __m256i m1) {                                \
        NN_DECL(0) NN_DECL(1) NN_DECL(2) NN_DECL(3) NN_DECL(4) NN_DECL(5)                          \
        for (int l = 0; l < k; l++) {                                                              \
            const float *br = b + (size_t)l * ldb;                                                 \
            __m256 b0 = FULL ? _mm256_loadu_ps(br) : _mm256_maskload_ps(br, m0);                   \
            __m256 b1 = FULL ? _mm256_loadu_ps(br + 8) : _mm256_maskload_ps(br + 8, m1);           \
            NN_STEP(MR, 0) NN_STEP(MR, 1) NN_STEP(MR, 2) NN_STEP(MR, 3) NN_STEP(MR, 4) NN_STEP(MR, 5) \
        }                                                                                          \
        NN_STORE(MR, FULL, 0) NN_STORE(MR, FULL, 1) NN_STORE(MR, FULL, 2)                          \
        NN_STORE(MR, FULL, 3) NN_STORE(MR, FULL, 4) NN_STORE(MR, FULL, 5)                          \
    }

TILE_NN(6, 1)
TILE_NN(5, 1)
TILE_NN(4, 1)
TILE_NN(3, 1)
TILE_NN(2, 1)
TILE_NN(1, 1)
TILE_NN(6, 0)
TILE_NN(5, 0)
TILE_NN(4, 0)
TILE_NN(3, 0)
TILE_NN(2, 0)
TILE_NN(1, 0)

typedef void (*nn_fn)(int, const float *, int, const float *, int, float *, int, __m256i, __m256i);
static const nn_fn nn_full[7] = {NULL, nn_1_1, nn_2_1, nn_3_1, nn_4_1, nn_5_1, nn_6_1};
static const nn_fn nn_part[7] = {NULL, nn_1_0, nn_2_0, nn_3_0, nn_4_0, nn_5_0, nn_6_0};

void pl__avx2_gemm_nn(int m, int n, int k, const float *a, int lda, const float *b, int ldb, float *c,
                      int ldc) {
    for (int j = 0; j < n; j += 16) {
        int rem = n - j;
        __m256i m0 = _mm256_loadu_si256((const __m256i *)(mask_tab + 8 - (rem >= 8 ? 8 : rem)));
        __m256i m1 = _mm256_loadu_si256((const __m256i *)(mask_tab + 8 - (rem >= 16 ? 8 : rem > 8 ? rem - 8 : 0)));
        const nn_fn *tab = rem >= 16 ? nn_full : nn_part;
        for (int i = 0; i < m; i += 6) {
            int mr = m - i < 6 ? m - i : 6;
            tab[mr](k, a + (size_t)i * lda, lda, b + j, ldb, c + (size_t)i * ldc + j, ldc, m0, m1);
        }
    }
}

/* Same arithmetic as the reference (ops_ref.c quant_row_ref): amax is exact,
 * x * inv is the same float product, cvtps rounds half to even like
 * nearbyintf under the default rounding mode, so results are bit-identical. */
float pl__avx2_quant_row(const float *x, int k, int8_t *q) {
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    __m256 mx = _mm256_setzero_ps();
    int i = 0;
    for (; i + 8 <= k; i += 8) mx = _mm256_max_ps(mx, _mm256_and_ps(_mm256_loadu_ps(x + i), absmask));
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    float amax = _mm_cvtss_f32(m4);
    for (int t = i; t < k; t++) {
        float v = x[t] < 0 ? -x[t] : x[t];
        if (v > amax) amax = v;
    }
    float inv = amax > 0 ? 127.0f / amax : 0.0f;
    __m256 vinv = _mm256_set1_ps(inv);
    const __m256i lo = _mm256_set1_epi32(-127), hi = _mm256_set1_epi32(127);
    for (i = 0; i + 8 <= k; i += 8) {
        __m256i v = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + i), vinv));
        v = _mm256_min_epi32(_mm256_max_epi32(v, lo), hi);
        __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
        _mm_storel_epi64((__m128i *)(q + i), _mm_packs_epi16(w, w));
    }
    for (; i < k; i++) {
        float v = __builtin_nearbyintf(x[i] * inv);
        q[i] = (int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
    }
    return amax / 127.0f;
}

/* quant_row_u8 (cpu_impl.h): pl__avx2_quant_row's arithmetic (the max over
 * four independent maxima, which is the same max), the +128 shift as an XOR
 * of the packed bytes in the same pass, 16 values a step, the padding zeroed:
 * the separate shift pass over the bytes cost as much as the quantization. */
static float quant_row_u8(const float *x, int k, int kp, uint8_t *u) {
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    __m256 m0 = _mm256_setzero_ps(), m1 = m0, m2 = m0, m3 = m0;
    int i = 0;
    for (; i + 32 <= k; i += 32) {
        m0 = _mm256_max_ps(m0, _mm256_and_ps(_mm256_loadu_ps(x + i), absmask));
        m1 = _mm256_max_ps(m1, _mm256_and_ps(_mm256_loadu_ps(x + i + 8), absmask));
        m2 = _mm256_max_ps(m2, _mm256_and_ps(_mm256_loadu_ps(x + i + 16), absmask));
        m3 = _mm256_max_ps(m3, _mm256_and_ps(_mm256_loadu_ps(x + i + 24), absmask));
    }
    for (; i + 8 <= k; i += 8) m0 = _mm256_max_ps(m0, _mm256_and_ps(_mm256_loadu_ps(x + i), absmask));
    float amax = hmax8(_mm256_max_ps(_mm256_max_ps(m0, m1), _mm256_max_ps(m2, m3)));
    for (int t = i; t < k; t++) {
        float v = x[t] < 0 ? -x[t] : x[t];
        if (v > amax) amax = v;
    }
    float inv = amax > 0 ? 127.0f / amax : 0.0f;
    const __m256 vinv = _mm256_set1_ps(inv);
    const __m256i lo = _mm256_set1_epi32(-127), hi = _mm256_set1_epi32(127);
    const __m128i flip = _mm_set1_epi8((char)0x80);
    for (i = 0; i + 16 <= k; i += 16) {
        __m256i v0 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + i), vinv));
        __m256i v1 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + i + 8), vinv));
        v0 = _mm256_min_epi32(_mm256_max_epi32(v0, lo), hi);
        v1 = _mm256_min_epi32(_mm256_max_epi32(v1, lo), hi);
        /* packs works within 128-bit lanes: put the four 64-bit groups back in order */
        __m256i w = _mm256_permute4x64_epi64(_mm256_packs_epi32(v0, v1), 0xD8);
        __m128i b = _mm_packs_epi16(_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1));
        _mm_storeu_si128((__m128i *)(u + i), _mm_xor_si128(b, flip));
    }
    for (; i < k; i++) {
        float v = __builtin_nearbyintf(x[i] * inv);
        u[i] = (uint8_t)((v > 127 ? 127 : v < -127 ? -127 : (int)v) + 128);
    }
    for (i = k; i < kp; i++) u[i] = 0; /* read by the GEMM against zero weights */
    return amax / 127.0f;
}

/* Depthwise conv: channels are contiguous, so an output row is K multiply-adds
 * of contiguous rows; 16 channels of accumulators stay in registers across all
 * K taps (one store per output). */
static void dwconv(int n_out, int ch, int k, int d, int s, const float *x, const float *w, float *y) {
    size_t step = (size_t)d * ch;
    for (int i = 0; i < n_out; i++) {
        float *yr = y + (size_t)i * ch;
        const float *xr = x + (size_t)i * s * ch;
        int c = 0;
        for (; c + 16 <= ch; c += 16) {
            __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
            const float *xp = xr + c, *wp = w + c;
            for (int j = 0; j < k; j++, xp += step, wp += ch) {
                a0 = _mm256_fmadd_ps(_mm256_loadu_ps(wp), _mm256_loadu_ps(xp), a0);
                a1 = _mm256_fmadd_ps(_mm256_loadu_ps(wp + 8), _mm256_loadu_ps(xp + 8), a1);
            }
            _mm256_storeu_ps(yr + c, a0);
            _mm256_storeu_ps(yr + c + 8, a1);
        }
        for (; c < ch; c++) {
            float a = 0.0f;
            for (int j = 0; j < k; j++) a = __builtin_fmaf(w[(size_t)j * ch + c], xr[(size_t)j * step + c], a);
            yr[c] = a;
        }
    }
}

static inline __m256 sigmoid8(__m256 x) {
    return _mm256_div_ps(_mm256_set1_ps(1.0f),
                         _mm256_add_ps(_mm256_set1_ps(1.0f), pl_exp8(_mm256_sub_ps(_mm256_setzero_ps(), x))));
}

/* LSTM cell, 8 units at a time with the vector exp / tanh (the scalar libm
 * calls were a fifth of the VAD's time); the units past a multiple of 8 in
 * scalar code. Each unit's arithmetic depends only on its position, so a
 * row's result does not depend on the other rows. */
void pl__avx2_lstm(int h, const float *gx, const float *gh, const float *c, float *h_out,
                   float *c_out) {
    int j = 0;
    for (; j + 8 <= h; j += 8) {
        __m256 gi = _mm256_loadu_ps(gx + j), gf = _mm256_loadu_ps(gx + h + j);
        __m256 gg = _mm256_loadu_ps(gx + 2 * h + j), go = _mm256_loadu_ps(gx + 3 * h + j);
        if (gh) {
            gi = _mm256_add_ps(gi, _mm256_loadu_ps(gh + j));
            gf = _mm256_add_ps(gf, _mm256_loadu_ps(gh + h + j));
            gg = _mm256_add_ps(gg, _mm256_loadu_ps(gh + 2 * h + j));
            go = _mm256_add_ps(go, _mm256_loadu_ps(gh + 3 * h + j));
        }
        __m256 cn = _mm256_fmadd_ps(sigmoid8(gf), _mm256_loadu_ps(c + j),
                                    _mm256_mul_ps(sigmoid8(gi), pl_tanh8(gg)));
        _mm256_storeu_ps(c_out + j, cn);
        _mm256_storeu_ps(h_out + j, _mm256_mul_ps(sigmoid8(go), pl_tanh8(cn)));
    }
    for (; j < h; j++) pl__lstm_unit(h, j, gx, gh, c, h_out, c_out);
}

/* ---- fused attention --------------------------------------------------------
 *
 * The AVX-512 family's blocked online softmax on 8-lane registers: per block
 * of AQ = 6 query rows and 64 keys, the scores in four passes of 16 keys
 * (6 x 2 ymm, broadcast q, K^T rows as the vector operand) scaled into p,
 * then each row's running max / sum update (earlier partial outputs rescaled
 * by exp(m_old - m_new)) with keys masked out or past kn zeroed, then P . V
 * into the rows' output accumulators 16 columns of d at a time (6 x 2 ymm,
 * broadcast p). Nothing of size [sq, kn] is stored; the probabilities
 * (6 x 64) and output rows (6 x ceil16(d)) stay in L1. */

#define AQ 6

#define AT_DECL(i) __m256 s##i##0 = _mm256_setzero_ps(), s##i##1 = _mm256_setzero_ps();
#define AT_SCORE(i)                                                                                \
    {                                                                                              \
        __m256 qv = _mm256_broadcast_ss(qr[i] + l);                                                \
        s##i##0 = _mm256_fmadd_ps(qv, k0, s##i##0);                                                \
        s##i##1 = _mm256_fmadd_ps(qv, k1, s##i##1);                                                \
    }
#define AT_SCORES AT_SCORE(0) AT_SCORE(1) AT_SCORE(2) AT_SCORE(3) AT_SCORE(4) AT_SCORE(5)
#define AT_STORE(i)                                                                                \
    _mm256_store_ps(p + (i) * 64, _mm256_mul_ps(s##i##0, vs));                                     \
    _mm256_store_ps(p + (i) * 64 + 8, _mm256_mul_ps(s##i##1, vs));

/* p[r][0, 16) = scale * q_r . K^T columns [0, 16) of kc (row stride kn), the
 * columns from `left` on zero. */
static void att_scores16(const float *const qr[AQ], int d, const float *kc, int kn, int left,
                         __m256 vs, float *p) {
    AT_DECL(0) AT_DECL(1) AT_DECL(2) AT_DECL(3) AT_DECL(4) AT_DECL(5)
    if (left >= 16) {
        for (int l = 0; l < d; l++) {
            const float *kl = kc + (size_t)l * kn;
            __m256 k0 = _mm256_loadu_ps(kl), k1 = _mm256_loadu_ps(kl + 8);
            AT_SCORES
        }
    } else {
        __m256i m0 = lanes8(left), m1 = lanes8(left - 8);
        for (int l = 0; l < d; l++) {
            const float *kl = kc + (size_t)l * kn;
            __m256 k0 = _mm256_maskload_ps(kl, m0), k1 = _mm256_maskload_ps(kl + 8, m1);
            AT_SCORES
        }
    }
    AT_STORE(0) AT_STORE(1) AT_STORE(2) AT_STORE(3) AT_STORE(4) AT_STORE(5)
}

#define AV_INIT(i)                                                                                 \
    __m256 o##i##0 = _mm256_mul_ps(_mm256_set1_ps(alpha[i]), _mm256_load_ps(o + (i) * ldo_s));     \
    __m256 o##i##1 = _mm256_mul_ps(_mm256_set1_ps(alpha[i]), _mm256_load_ps(o + (i) * ldo_s + 8));
#define AV_STEP(i)                                                                                 \
    {                                                                                              \
        __m256 pv = _mm256_broadcast_ss(p + (i) * 64 + j);                                         \
        o##i##0 = _mm256_fmadd_ps(pv, v0, o##i##0);                                                \
        o##i##1 = _mm256_fmadd_ps(pv, v1, o##i##1);                                                \
    }
#define AV_STEPS AV_STEP(0) AV_STEP(1) AV_STEP(2) AV_STEP(3) AV_STEP(4) AV_STEP(5)
#define AV_STORE(i)                                                                                \
    _mm256_store_ps(o + (i) * ldo_s, o##i##0);                                                     \
    _mm256_store_ps(o + (i) * ldo_s + 8, o##i##1);

/* o[r][0, 16) = o[r] * alpha[r] + sum_j p[r][j] v[j][0, 16) for j < kb, the
 * columns of v from `left` on read as zero (o's rows are padded to 16). */
static void att_value16(int kb, const float *p, const float *v, int ldv, int left,
                        const float *alpha, float *o, int ldo_s) {
    AV_INIT(0) AV_INIT(1) AV_INIT(2) AV_INIT(3) AV_INIT(4) AV_INIT(5)
    if (left >= 16) {
        for (int j = 0; j < kb; j++) {
            const float *vj = v + (size_t)j * ldv;
            __m256 v0 = _mm256_loadu_ps(vj), v1 = _mm256_loadu_ps(vj + 8);
            AV_STEPS
        }
    } else {
        __m256i m0 = lanes8(left), m1 = lanes8(left - 8);
        for (int j = 0; j < kb; j++) {
            const float *vj = v + (size_t)j * ldv;
            __m256 v0 = _mm256_maskload_ps(vj, m0), v1 = _mm256_maskload_ps(vj + 8, m1);
            AV_STEPS
        }
    }
    AV_STORE(0) AV_STORE(1) AV_STORE(2) AV_STORE(3) AV_STORE(4) AV_STORE(5)
}

static void attention_f32(int sq, int kn, int d, const float *q, int ldq, const float *kt,
                          const float *v, int ldv, const int32_t *mask, float scale, float *out,
                          int ldo, float *scratch) {
    int ds = (d + 15) / 16 * 16;
    float *p = scratch, *o = scratch + AQ * 64;
    const __m256 vs = _mm256_set1_ps(scale), ninf = _mm256_set1_ps(-INFINITY);
    for (int i0 = 0; i0 < sq; i0 += AQ) {
        int qb = sq - i0 < AQ ? sq - i0 : AQ;
        const float *qr[AQ]; /* rows past sq repeat the last one; their output is dropped */
        for (int r = 0; r < AQ; r++) qr[r] = q + (size_t)(i0 + (r < qb ? r : qb - 1)) * ldq;
        float m[AQ], l[AQ], alpha[AQ];
        for (int r = 0; r < AQ; r++) {
            m[r] = -INFINITY;
            l[r] = 0.0f;
        }
        memset(o, 0, sizeof(float) * AQ * (size_t)ds);
        for (int j0 = 0; j0 < kn; j0 += 64) {
            int kb = kn - j0 < 64 ? kn - j0 : 64, nc = (kb + 7) / 8;
            for (int c = 0; c < kb; c += 16)
                att_scores16(qr, d, kt + j0 + c, kn, kb - c, vs, p + c);
            __m256 valid[8];
            for (int c = 0; c < nc; c++) {
                __m256i km = lanes8(kb - 8 * c);
                if (mask)
                    km = _mm256_andnot_si256(
                        _mm256_cmpeq_epi32(_mm256_maskload_epi32(mask + j0 + 8 * c, km),
                                           _mm256_setzero_si256()),
                        km);
                valid[c] = _mm256_castsi256_ps(km);
            }
            for (int r = 0; r < AQ; r++) {
                float *pr = p + r * 64;
                __m256 mx = ninf;
                for (int c = 0; c < nc; c++)
                    mx = _mm256_max_ps(mx,
                                       _mm256_blendv_ps(ninf, _mm256_load_ps(pr + 8 * c), valid[c]));
                float mnew = fmaxf(m[r], hmax8(mx));
                if (mnew == -INFINITY) { /* every key so far masked: nothing to add */
                    alpha[r] = 1.0f;
                    memset(pr, 0, sizeof(float) * 64);
                    continue;
                }
                alpha[r] = m[r] == -INFINITY ? 0.0f : expf(m[r] - mnew);
                __m256 vm = _mm256_set1_ps(mnew), sum = _mm256_setzero_ps();
                for (int c = 0; c < nc; c++) {
                    __m256 e = _mm256_and_ps(pl_exp8(_mm256_sub_ps(_mm256_load_ps(pr + 8 * c), vm)),
                                             valid[c]);
                    sum = _mm256_add_ps(sum, e);
                    _mm256_store_ps(pr + 8 * c, e);
                }
                l[r] = l[r] * alpha[r] + hsum1(sum);
                m[r] = mnew;
            }
            for (int c0 = 0; c0 < d; c0 += 16)
                att_value16(kb, p, v + (size_t)j0 * ldv + c0, ldv, d - c0, alpha, o + c0, ds);
        }
        for (int r = 0; r < qb; r++) {
            __m256 inv = _mm256_set1_ps(l[r] > 0.0f ? 1.0f / l[r] : 0.0f);
            float *orow = out + (size_t)(i0 + r) * ldo;
            for (int c = 0; c < d; c += 8)
                _mm256_maskstore_ps(orow + c, lanes8(d - c),
                                    _mm256_mul_ps(_mm256_load_ps(o + (size_t)r * ds + c), inv));
        }
    }
}

/* LayerNorm of one row (cpu_impl.h), as the AVX-512 family: the residual sum
 * stored into y on the first pass with the mean's partial sums (two
 * accumulators), then the variance about the mean, then the affine map; the
 * tail (h mod 8) masked, its lanes past h zeroed before they are summed. */
static void layer_norm_f32(const float *x, const float *r, const float *g, const float *b,
                           float eps, int h, float *y) {
    const float *v = r ? y : x;
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 16 <= h; i += 16) {
        __m256 t0 = _mm256_loadu_ps(x + i), t1 = _mm256_loadu_ps(x + i + 8);
        if (r) {
            t0 = _mm256_add_ps(t0, _mm256_loadu_ps(r + i));
            t1 = _mm256_add_ps(t1, _mm256_loadu_ps(r + i + 8));
            _mm256_storeu_ps(y + i, t0);
            _mm256_storeu_ps(y + i + 8, t1);
        }
        s0 = _mm256_add_ps(s0, t0);
        s1 = _mm256_add_ps(s1, t1);
    }
    for (; i < h; i += 8) {
        __m256i mk = lanes8(h - i);
        __m256 t = _mm256_maskload_ps(x + i, mk);
        if (r) {
            t = _mm256_add_ps(t, _mm256_maskload_ps(r + i, mk));
            _mm256_maskstore_ps(y + i, mk, t);
        }
        s0 = _mm256_add_ps(s0, t);
    }
    float mean = hsum1(_mm256_add_ps(s0, s1)) / (float)h;
    __m256 vm = _mm256_set1_ps(mean);
    s0 = s1 = _mm256_setzero_ps();
    for (i = 0; i + 16 <= h; i += 16) {
        __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(v + i), vm);
        __m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(v + i + 8), vm);
        s0 = _mm256_fmadd_ps(d0, d0, s0);
        s1 = _mm256_fmadd_ps(d1, d1, s1);
    }
    for (; i < h; i += 8) {
        __m256i mk = lanes8(h - i);
        __m256 dv = _mm256_and_ps(_mm256_sub_ps(_mm256_maskload_ps(v + i, mk), vm),
                                  _mm256_castsi256_ps(mk));
        s0 = _mm256_fmadd_ps(dv, dv, s0);
    }
    __m256 inv = _mm256_set1_ps(1.0f / sqrtf(hsum1(_mm256_add_ps(s0, s1)) / (float)h + eps));
    for (i = 0; i + 8 <= h; i += 8) {
        __m256 t = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(v + i), vm), inv);
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(t, _mm256_loadu_ps(g + i), _mm256_loadu_ps(b + i)));
    }
    if (i < h) {
        __m256i mk = lanes8(h - i);
        __m256 t = _mm256_mul_ps(_mm256_sub_ps(_mm256_maskload_ps(v + i, mk), vm), inv);
        t = _mm256_fmadd_ps(t, _mm256_maskload_ps(g + i, mk), _mm256_maskload_ps(b + i, mk));
        _mm256_maskstore_ps(y + i, mk, t);
    }
}

/* every member but the int8 GEMM's, shared by the two AVX2 tables */
#define AVX2_KERNELS                                                                               \
    .gemm_f32 = gemm_f32,                                                                          \
    .gemm_f32_packed = gemm_f32_packed,                                                            \
    .pack_b = pl__cpu_pack_b32,                                                                    \
    .attention_f32 = attention_f32,                                                                \
    .layer_norm_f32 = layer_norm_f32,                                                              \
    .gemm_nn_f32 = pl__avx2_gemm_nn,                                                               \
    .gemm_i8 = pl__avx2_gemm_i8,                                                                   \
    .bias_act = pl__avx2_bias_act,                                                                 \
    .exp_sum = pl__avx2_exp_sum,                                                                   \
    .quant_row = pl__avx2_quant_row,                                                               \
    .quant_row_u8 = quant_row_u8,                                                                  \
    .dwconv_f32 = dwconv,                                                                          \
    .lstm_f32 = pl__avx2_lstm

const struct pl_cpu_kern pl__cpu_kern_avx2 = {
    .name = "avx2",
    AVX2_KERNELS,
    .gemm_i8_packed = pl__avx2_gemm_i8_packed,
    .i8_task_cols = 256,
};

const struct pl_cpu_kern pl__cpu_kern_avx2_vnni = {
    .name = "avx2vnni",
    AVX2_KERNELS,
    .gemm_i8_packed = gemm_i8_packed_vnni,
};
