/* peak.c - measured FMA throughput (FLOP/s) of this core for the benchmark's
 * "% of peak" column, and (AVX2 build) the int8 multiply-add rates of the AVX2
 * families' int8 GEMMs (vpmaddwd + vpaddd; AVX-VNNI's vpdpbusd). Compiled per
 * ISA (see engine/engine.cmake). */
#include <immintrin.h>
#include <stdint.h>

#include "util.h"

#if defined(PL_PEAK_AVX512)
#define FN pl_bench_peak_avx512
#define VEC __m512
#define SET1 _mm512_set1_ps
#define FMA _mm512_fmadd_ps
#define ADD _mm512_add_ps
#define LANES 16
#define RED(v) _mm512_reduce_add_ps(v)
#else
#define FN pl_bench_peak_avx2
#define VEC __m256
#define SET1 _mm256_set1_ps
#define FMA _mm256_fmadd_ps
#define ADD _mm256_add_ps
#define LANES 8
#define RED(v) _mm_cvtss_f32(_mm256_castps256_ps128(v))
#endif

/* 12 independent FMA chains (named registers) hide the FMA latency on two pipes. */
double FN(int64_t iters, float *sink) {
    VEC x = SET1(0.999f), y = SET1(1e-3f);
    VEC a0 = SET1(0), a1 = SET1(1), a2 = SET1(2), a3 = SET1(3), a4 = SET1(4), a5 = SET1(5);
    VEC a6 = SET1(6), a7 = SET1(7), a8 = SET1(8), a9 = SET1(9), a10 = SET1(10), a11 = SET1(11);
    int64_t t0 = pl_time_mono_ns();
    for (int64_t it = 0; it < iters; it++) {
        a0 = FMA(a0, x, y); a1 = FMA(a1, x, y); a2 = FMA(a2, x, y); a3 = FMA(a3, x, y);
        a4 = FMA(a4, x, y); a5 = FMA(a5, x, y); a6 = FMA(a6, x, y); a7 = FMA(a7, x, y);
        a8 = FMA(a8, x, y); a9 = FMA(a9, x, y); a10 = FMA(a10, x, y); a11 = FMA(a11, x, y);
        __asm__ volatile("" : "+x"(a0), "+x"(a1), "+x"(a2), "+x"(a3), "+x"(a4), "+x"(a5));
    }
    int64_t t1 = pl_time_mono_ns();
    VEC s = ADD(ADD(ADD(a0, a1), ADD(a2, a3)), ADD(ADD(a4, a5), ADD(a6, a7)));
    s = ADD(s, ADD(ADD(a8, a9), ADD(a10, a11)));
    *sink = RED(s);
    return (double)iters * 12 * LANES * 2 / ((double)(t1 - t0) * 1e-9);
}

#if !defined(PL_PEAK_AVX512)
/* The body of an int8 probe: 12 chains of STEP(a) on ymm int32 accumulators,
 * `iters` times; returns OP/s for OPS int8 operations per step. */
#define I8_PROBE(STEP, OPS)                                                                        \
    __m256i a0 = _mm256_set1_epi32(0), a1 = _mm256_set1_epi32(1), a2 = _mm256_set1_epi32(2);       \
    __m256i a3 = _mm256_set1_epi32(3), a4 = _mm256_set1_epi32(4), a5 = _mm256_set1_epi32(5);       \
    __m256i a6 = _mm256_set1_epi32(6), a7 = _mm256_set1_epi32(7), a8 = _mm256_set1_epi32(8);       \
    __m256i a9 = _mm256_set1_epi32(9), a10 = _mm256_set1_epi32(10), a11 = _mm256_set1_epi32(11);   \
    int64_t t0 = pl_time_mono_ns();                                                                \
    for (int64_t it = 0; it < iters; it++) {                                                       \
        STEP(a0); STEP(a1); STEP(a2); STEP(a3); STEP(a4); STEP(a5);                                \
        STEP(a6); STEP(a7); STEP(a8); STEP(a9); STEP(a10); STEP(a11);                              \
        __asm__ volatile("" : "+x"(a0), "+x"(a1), "+x"(a2), "+x"(a3), "+x"(a4), "+x"(a5));         \
    }                                                                                              \
    int64_t t1 = pl_time_mono_ns();                                                                \
    __m256i s = _mm256_add_epi32(_mm256_add_epi32(_mm256_add_epi32(a0, a1), _mm256_add_epi32(a2, a3)), \
                                 _mm256_add_epi32(_mm256_add_epi32(a4, a5), _mm256_add_epi32(a6, a7))); \
    s = _mm256_add_epi32(s, _mm256_add_epi32(_mm256_add_epi32(a8, a9), _mm256_add_epi32(a10, a11))); \
    *sink = _mm256_extract_epi32(s, 0);                                                            \
    return (double)iters * 12 * (OPS) / ((double)(t1 - t0) * 1e-9);

/* The exact int8 product without VNNI, as kern_avx2.c's gemm_i8 does it:
 * vpmaddwd (16 x 16-bit products added in pairs into 8 x 32 bits) and a
 * vpaddd into the accumulator. Returns int8 OP/s (2 per multiply-add, 16
 * multiply-adds per pair of instructions). */
double pl_bench_peak_i8_avx2(int64_t iters, int *sink) {
    __m256i y = _mm256_set1_epi16(3);
#define MA(a) a = _mm256_add_epi32(_mm256_madd_epi16(a, y), a)
    I8_PROBE(MA, 16 * 2)
#undef MA
}

/* The same with AVX-VNNI, as kern_avx2.c's avx2vnni family does it: vpdpbusd
 * on ymm (32 u8 x s8 products summed into 8 x 32 bits). Call only where the
 * CPU reports avxvnni. Returns int8 OP/s. */
__attribute__((target("avxvnni"))) double pl_bench_peak_i8_avxvnni(int64_t iters, int *sink) {
    __m256i x = _mm256_set1_epi8(3), y = _mm256_set1_epi8(-2);
#define DP(a) a = _mm256_dpbusd_avx_epi32(a, x, y)
    I8_PROBE(DP, 32 * 2)
#undef DP
}
#endif
