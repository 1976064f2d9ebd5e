/*
 * cpu_impl.h - private to the CPU backend: kernel tables and op entry points.
 *
 * Kernels come in families (generic C, AVX2+FMA, AVX-512) compiled in
 * separate files with their own -m flags; pl__cpu_kern_select() picks one at
 * run time with __builtin_cpu_supports. Each family fills a struct
 * pl_cpu_kern. All kernels are single-threaded; ops_fast.c splits the work.
 */
#ifndef PL_CPU_IMPL_H
#define PL_CPU_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "backend.h"
#include "backend_impl.h"
#include "threadpool.h"

#define PL_GEMM_KC 128 /* K block of the packed GEMM: a 16 KiB panel chunk stays in L1 */
#define PL_ATT_SCRATCH(d) (6 * 64 + 6 * (((d) + 15) / 16 * 16)) /* probabilities + output rows */
/* attention_bf16's scratch in bytes for kn keys of head size d: K in pairs of
 * d and V in pairs of keys (bf16, keys padded to 64), one block's bf16 queries
 * and probabilities, its f32 output rows; each part 64-byte aligned. */
#define PL_ATT_KN64(kn) (((kn) + 63) / 64 * 64)
#define PL_ATT_DS(d) (((d) + 15) / 16 * 16)
#define PL_ATT_BF16_SCRATCH(kn, d)                                                                 \
    ((size_t)PL_ATT_KN64(kn) * (((d) + 1) / 2 * 2) * 2 + (size_t)PL_ATT_KN64(kn) * PL_ATT_DS(d) * 2 \
     + 6 * (((d) + 1) / 2 * 2) * 2 + 6 * 64 * 2 + 6 * PL_ATT_DS(d) * 4 + 5 * 64)

struct pl_cpu_kern {
    const char *name;
    /* C[M,N] = A[M,K] . B[N,K]^T (overwrites C). Row strides in elements. */
    void (*gemm_f32)(int m, int n, int k, const float *a, int lda, const float *b, int ldb,
                     float *c, int ldc);
    /* C[M,N] = act(A[M,K] . B[N,K]^T + bias) (overwrites C; bias may be NULL,
     * act an enum pl_act) with B packed (bp: pack_b's layout for columns
     * [0, n), 64-byte aligned), the bias and activation applied in registers.
     * NULL in families without it (then gemm_f32 + bias_act). */
    void (*gemm_f32_packed)(int m, int n, int k, const float *a, int lda, const float *bp, float *c,
                            int ldc, const float *bias, int act);
    /* pl_backend_cpu_pack_weight's layout for an [n, k] matrix (row stride
     * ldb) into p (64-byte aligned, ceil(n / 32) * 32 * k floats):
     * p[(q * k + l) * 32 + j] = b[32q + j][l], 0 past n. NULL with
     * gemm_f32_packed. */
    void (*pack_b)(int n, int k, const float *b, int ldb, float *p);
    /* C[M,N] = A[M,K] . B[K,N] (overwrites C): B row-major along N; used by
     * attention (Q . K^T with K transposed once per head, P . V in place). */
    void (*gemm_nn_f32)(int m, int n, int k, const float *a, int lda, const float *b, int ldb,
                        float *c, int ldc);
    /* C[M,N] = A[M,K] . B[N,K]^T in exact int32 (A, B signed int8, values in
     * [-127, 127]); any k. */
    void (*gemm_i8)(int m, int n, int k, const int8_t *a, int lda, const int8_t *b, int ldb,
                    int32_t *c, int ldc);
    /* The int8 Linear on weights packed at load (pl__cpu_pack_b_i8's layout; bp
     * and bsum128 at the first column of a 32-column panel) with its
     * dequantization, bias and activation in registers:
     * C[i][j] = act((float)(A[i] . B[j]) * ascale[i] * wscale[j] + bias[j]) for
     * i < m, j < n, in the reference's order of operations (bias may be NULL).
     * A holds the quantized rows shifted to unsigned (q + 128), row stride lda
     * >= PL_I8_KP(k); the bytes past k are read and may hold anything. NULL in
     * families without it (then gemm_i8 + the epilogue loop). */
    void (*gemm_i8_packed)(int m, int n, int k, const uint8_t *a, int lda, const int8_t *bp,
                           const int32_t *bsum128, const float *ascale, const float *wscale,
                           const float *bias, int act, float *c, int ldc);
    /* The bf16 Linear (AVX-512 BF16's vdpbf16ps): C[i][j] = act(sum_l a[i][l] *
     * b[j][l] + bias[j]) with a and b bf16, products and sums in f32, B packed
     * at load (pl__cpu_pack_b_bf16's layout; bp at the first column of a
     * 32-column panel), A the rows converted by row_bf16 (row stride lda >=
     * PL_BF16_KP(k), the element past an odd k zero). Bias and activation in
     * registers (bias may be NULL). NULL in families without it: bf16 weights
     * are then packed as f32 at load and run through gemm_f32_packed. */
    void (*gemm_bf16_packed)(int m, int n, int k, const uint16_t *a, int lda, const uint16_t *bp,
                             float *c, int ldc, const float *bias, int act);
    /* One row to bf16 for gemm_bf16_packed: u[i] = bf16(x[i]) rounded to
     * nearest even for i < k, 0 for k <= i < kp. */
    void (*row_bf16)(const float *x, int k, int kp, uint16_t *u);
    /* Columns per task of gemm_i8_packed for 128 rows (fewer rows: wider, in
     * proportion, up to an even share per thread); 0: 64. The AVX2 kernel
     * widens each row block's A to 16 bits once per call, so wider tasks
     * widen less often (256: 5-9% faster than 64 on BERT-base on Zen 3). */
    int i8_task_cols;
    /* One attention head, fused: out[i] = softmax(scale * q_i . K^T, keys with
     * mask[j] == 0 left out) . V for query rows i < sq over keys j < kn (at
     * least one unmasked; mask may be NULL). kt is K transposed [d, kn]; q, v
     * and out rows have strides ldq, ldv, ldo. Scores are taken in blocks of
     * 64 keys with a running max and sum (no [sq, kn] matrix): scratch holds
     * PL_ATT_SCRATCH(d) floats, 64-byte aligned. NULL where the family has
     * none (then two GEMMs around a softmax). */
    void (*attention_f32)(int sq, int kn, int d, const float *q, int ldq, const float *kt,
                          const float *v, int ldv, const int32_t *mask, float scale, float *out,
                          int ldo, float *scratch);
    /* attention_f32's result with the products in bf16 (AVX-512 BF16's
     * vdpbf16ps), for PL_ATT_BF16: the rows of q, k and v (strides ldq, ldk,
     * ldv; k not transposed) rounded to bf16 to nearest even, the scores,
     * softmax and sums in f32, the probabilities rounded to bf16 for P . V.
     * scratch: PL_ATT_BF16_SCRATCH(kn, d) bytes, 64-byte aligned. NULL where
     * the family has none (then attention_f32). */
    void (*attention_bf16)(int sq, int kn, int d, const float *q, int ldq, const float *k, int ldk,
                           const float *v, int ldv, const int32_t *mask, float scale, float *out,
                           int ldo, void *scratch);
    /* One row of LayerNorm over h: v = x + r (r may be NULL), y = (v - mean(v))
     * / sqrt(var(v) + eps) * g + b; y may be x (in place) but not r. NULL in
     * families without it (then portable C). */
    void (*layer_norm_f32)(const float *x, const float *r, const float *g, const float *b,
                           float eps, int h, float *y);
    /* x[i] = act(x[i] + bias[i]) for i < n; bias may be NULL. */
    void (*bias_act)(float *x, const float *bias, int n, int act);
    /* y[i] = exp(x[i] - max) ; returns the sum (for softmax). */
    float (*exp_sum)(const float *x, float *y, int n, float max);
    /* Symmetric int8 quantization of one row (bit-identical to the
     * reference): returns scale = max|x| / 127, q = round-half-even(x / scale). */
    float (*quant_row)(const float *x, int k, int8_t *q);
    /* quant_row's quantization stored for the packed int8 GEMM: u[i] = q[i] +
     * 128 for i < k, 0 for k <= i < kp (the same q and scale, one pass after
     * the max). NULL in families without it (then quant_row and a shift). */
    float (*quant_row_u8)(const float *x, int k, int kp, uint8_t *u);
    /* Depthwise conv over time on time-major rows (row stride ch):
     * y[i][c] = sum_j w[j][c] * x[i*s + j*d][c] for i < n_out, c < ch
     * (overwrites y; y must not overlap x). Each output is summed in tap
     * order j = 0, 1, ..., so the result does not depend on n_out. */
    void (*dwconv_f32)(int n_out, int ch, int k, int d, int s, const float *x, const float *w,
                       float *y);
    /* One row of an LSTMCell step over h units: gates gx (+ gh when not NULL)
     * [i | f | g | o], each h long; c the previous cell state. Writes
     * c_out = sigmoid(f) c + sigmoid(i) tanh(g), h_out = sigmoid(o) tanh(c_out). */
    void (*lstm_f32)(int h, const float *gx, const float *gh, const float *c, float *h_out,
                     float *c_out);
};

extern const struct pl_cpu_kern pl__cpu_kern_generic;
extern const struct pl_cpu_kern pl__cpu_kern_avx2;
extern const struct pl_cpu_kern pl__cpu_kern_avx2_vnni; /* avx2 plus AVX-VNNI (no AVX-512) */
extern const struct pl_cpu_kern pl__cpu_kern_avx512;
extern const struct pl_cpu_kern pl__cpu_kern_avx512_bf16; /* avx512 plus AVX-512 BF16 */
/* avx512 without AVX-512 VNNI (Skylake-SP/X): the avx2 family's int8 GEMMs */
extern const struct pl_cpu_kern pl__cpu_kern_avx512_novnni;
/* Best family for this CPU (respects PARLEY_CPU_KERNELS=generic|avx2|avx2vnni|
 * avx512novnni|avx512 to force a lower one, avx512 without the BF16 kernels).
 * Never NULL. */
const struct pl_cpu_kern *pl__cpu_kern_select(void);
/* The packed-panel layout of pack_b above (32 columns per panel), shared by the families that
 * have gemm_f32_packed: plain C, run once per weight at load. */
void pl__cpu_pack_b32(int n, int k, const float *b, int ldb, float *p);
/* The int8 packed layout read by gemm_i8_packed, for an int8 [n, k] matrix b
 * (row stride k): 32-column panels of PL_I8_KP(k) / 4 groups of 4 K bytes,
 * p[((q * KP / 4 + g) * 32 + j) * 4 + t] = b[32q + j][4g + t] (0 past n and k),
 * then the int32 column sums times 128 (the correction for A's +128 shift) of
 * all ceil(n / 32) * 32 columns. PL_I8_PACK_BYTES(n, k) bytes in all. */
#define PL_I8_KP(k) (((k) + 3) / 4 * 4)
#define PL_I8_PACK_BYTES(n, k) ((size_t)(((n) + 31) / 32 * 32) * ((size_t)PL_I8_KP(k) + 4))
void pl__cpu_pack_b_i8(int n, int k, const int8_t *b, int8_t *p);
/* The bf16 packed layout read by gemm_bf16_packed, for a bf16 [n, k] matrix b
 * (row stride k): 32-column panels of PL_BF16_KP(k) / 2 pairs of K,
 * p[((q * KP / 2 + g) * 32 + j) * 2 + t] = b[32q + j][2g + t] (0 past n and
 * k). PL_BF16_PACK_BYTES(n, k) bytes. */
#define PL_BF16_KP(k) (((k) + 1) / 2 * 2)
#define PL_BF16_PACK_BYTES(n, k) ((size_t)(((n) + 31) / 32 * 32) * (size_t)PL_BF16_KP(k) * 2)
void pl__cpu_pack_b_bf16(int n, int k, const uint16_t *b, uint16_t *p);

/* The avx2 family's int8 GEMMs (kern_avx2.c, vpmaddwd), shared with avx512novnni. */
void pl__avx2_gemm_i8(int m, int n, int k, const int8_t *a, int lda, const int8_t *b, int ldb,
                      int32_t *c, int ldc);
void pl__avx2_gemm_i8_packed(int m, int n, int k, const uint8_t *a, int lda, const int8_t *bp,
                             const int32_t *bsum128, const float *ascale, const float *wscale,
                             const float *bias, int act, float *c, int ldc);

/* AVX2 epilogues, shared with the AVX-512 family. */
void pl__avx2_bias_act(float *x, const float *bias, int n, int act);
float pl__avx2_exp_sum(const float *x, float *y, int n, float max);
float pl__avx2_quant_row(const float *x, int k, int8_t *q);
void pl__avx2_gemm_nn(int m, int n, int k, const float *a, int lda, const float *b, int ldb, float *c,
                      int ldc);
void pl__avx2_lstm(int h, const float *gx, const float *gh, const float *c, float *h_out,
                   float *c_out);
/* Scalar LSTM unit j (the generic family, and the SIMD families' tails). */
void pl__lstm_unit(int h, int j, const float *gx, const float *gh, const float *c, float *h_out,
                   float *c_out);

/* Scalar reference math shared by families for tails. */
float pl__act_ref(float x, int act);

/* Growable scratch owned by the backend; grows only when asked for more
 * than it holds, so after warm-up nothing is allocated. */
struct pl_cpu_scratch {
    void *p;
    size_t size;
};
pl_status pl__cpu_scratch_reserve(struct pl_cpu_scratch *s, size_t n);

#define PL_CPU_MAX_THREADS 256

/* One thread's profile counters: 128 bytes, so threads rarely share a line. */
struct pl_cpu_prof_slot {
    int64_t ns[16];
};
_Static_assert(PL_CPU_PROF_COUNT <= 16, "profile slot too small");

struct pl_cpu_ctx {
    bool use_ref;
    const struct pl_cpu_kern *kern;
    struct pl_threadpool *pool;
    int n_threads;
    struct pl_cpu_scratch scratch;
    char name[16];
    bool profile;      /* see pl_backend_cpu_set_profile; PARLEY_PROFILE=1 logs at destroy */
    int64_t prof_total_ns, prof_wall_ns, prof_wait_ns, prof_graphs;
    struct pl_cpu_prof_slot prof[PL_CPU_MAX_THREADS]; /* indexed by pool thread */
};

/* Thread CPU clock for the profile (0 when profiling is off). */
static inline int64_t pl__cpu_prof_now(const struct pl_cpu_ctx *ctx) {
    if (!ctx->profile) return 0;
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Charge the time since *t0 to category cat of pool thread `thread` and
 * restart *t0 there, so consecutive sections chain without gaps. */
static inline void pl__cpu_prof_lap(struct pl_cpu_ctx *ctx, int thread, int cat, int64_t *t0) {
    if (!ctx->profile) return;
    int64_t now = pl__cpu_prof_now(ctx);
    ctx->prof[thread].ns[cat] += now - *t0;
    *t0 = now;
}

/* One op on contiguous tensors. The reference computes in plain C with
 * double accumulators; fast uses ctx->kern and ctx->pool. */
pl_status pl__cpu_op_ref(struct pl_tensor *t);
pl_status pl__cpu_op_fast(struct pl_cpu_ctx *ctx, struct pl_tensor *t);
/* Shared input checks for data-dependent errors (ids in range). */
pl_status pl__cpu_check_ids(const struct pl_tensor *t);

#endif
