/*
 * asr_dwconv.c - depthwise 1-D convolution kernels (see asr_dwconv.h).
 *
 * Channels are contiguous, so each output row is K multiply-adds of
 * contiguous rows; the SIMD forms keep one register of accumulators per
 * channel group across all K taps (one store per output), compiled for their
 * ISA with target attributes so the file needs no special flags.
 */
#include "asr_dwconv.h"

#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define PL_ASR_X86 1
#endif

static void dw_generic(int n_out, int ch, int k, int d, int s, const float *x, const float *w,
                       float *y) {
    for (int i = 0; i < n_out; i++) {
        float *yr = y + (size_t)i * ch;
        const float *xr = x + (size_t)i * s * ch;
        for (int c = 0; c < ch; c++)
            yr[c] = 0.0f;
        for (int j = 0; j < k; j++) {
            const float *xj = xr + (size_t)j * d * ch, *wj = w + (size_t)j * ch;
            for (int c = 0; c < ch; c++)
                yr[c] += wj[c] * xj[c];
        }
    }
}

#ifdef PL_ASR_X86
__attribute__((target("avx2,fma"))) static void dw_avx2(int n_out, int ch, int k, int d, int s,
                                                        const float *x, const float *w, float *y) {
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
            for (int j = 0; j < k; j++)
                a += w[(size_t)j * ch + c] * xr[(size_t)j * step + c];
            yr[c] = a;
        }
    }
}

__attribute__((target("avx512f,avx2,fma"))) static void
dw_avx512(int n_out, int ch, int k, int d, int s, const float *x, const float *w, float *y) {
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
                a0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mk, wp), _mm512_maskz_loadu_ps(mk, xp),
                                     a0);
            _mm512_mask_storeu_ps(yr + c, mk, a0);
        }
    }
}
#endif

pl_asr_dwconv_fn pl__asr_dwconv_select(bool use_ref) {
    if (use_ref) return dw_generic;
#ifdef PL_ASR_X86
    const char *force = getenv("PARLEY_CPU_KERNELS");
    if (force && strcmp(force, "generic") == 0) return dw_generic;
    __builtin_cpu_init();
    bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    bool avx512 = avx2 && __builtin_cpu_supports("avx512f");
    if (force && strcmp(force, "avx2") == 0 && avx2) return dw_avx2;
    if (avx512) return dw_avx512;
    if (avx2) return dw_avx2;
#endif
    return dw_generic;
}
