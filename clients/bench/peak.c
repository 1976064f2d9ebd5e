/* peak.c - measured FMA throughput (FLOP/s) of this core for the benchmark's
 * "% of peak" column. Compiled per ISA (see CMakeLists.txt). */
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
