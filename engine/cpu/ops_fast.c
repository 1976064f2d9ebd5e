/*
 * ops_fast.c - the CPU backend's optimized ops: work split over the thread
 * pool, inner loops from the selected kernel family (ctx->kern).
 *
 * Scratch memory (per-thread weight conversion panels, quantized
 * activations, attention scores) comes from ctx->scratch, which only grows;
 * after a warm-up pass at the largest shape no op allocates.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "cpu_impl.h"

#define LIN_NB 64  /* weight rows (output features) per task */
_Static_assert(LIN_NB % 32 == 0, "a task's weight rows start a packed panel");
#define LIN_MB 192 /* activation rows per task */
#define SMALL_OP 16384 /* elements below which a row-wise op stays in one task */

static int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

/* ---- linear ---------------------------------------------------------------- */

/* Task width for n columns in 32-column panels, at most nb_max wide and at
 * least half that: the width whose tasks (times m_blocks row blocks) keep the
 * nt threads busiest, as threads take tasks in turn. BERT-base's QKV at
 * 1 x 128 on 2 threads: 9 tasks of 8 panels (the busier thread does 40
 * panels of 72) became 12 of 6 (36 each). Ties keep the wider task. */
static int64_t balanced_nb(int64_t n, int64_t nb_max, int64_t m_blocks, int nt) {
    int64_t panels = cdiv(n, 32), best = nb_max / 32, best_span = INT64_MAX;
    for (int64_t pp = nb_max / 32; pp >= 1 && 2 * pp >= nb_max / 32; pp--) {
        int64_t span = cdiv(cdiv(panels, pp) * m_blocks, nt) * pp;
        if (span < best_span) best = pp, best_span = span;
    }
    return best * 32;
}

struct lin_job {
    struct pl_cpu_ctx *ctx;
    const struct pl_cpu_kern *kern;
    const struct pl_tensor *t;
    int64_t m, n, k, n_nb, nb; /* nb weight rows per task (LIN_NB, wider for packed f32) */
    float *wconv;    /* per-thread f32 panel for f16/bf16 weights [LIN_NB, k] */
    int8_t *aq;      /* quantized activations [m, lda] */
    uint16_t *abf;   /* bf16 activations [m, lda] for the bf16 GEMM */
    int64_t lda;     /* their row stride: k, PL_I8_KP(k) (packed int8), PL_BF16_KP(k) (bf16) */
    float *ascale;   /* per-row activation scales [m] */
    int32_t *acc;    /* per-thread int32 tile [LIN_MB, LIN_NB] */
    size_t acc_per_thread;
};

static void lin_task(void *arg, int task, int thread) {
    struct lin_job *j = arg;
    const struct pl_tensor *t = j->t, *x = t->src[0], *w = t->src[1], *b = t->src[2];
    int64_t nb = task % j->n_nb, mb = task / j->n_nb;
    int64_t n0 = nb * j->nb, n1 = n0 + j->nb < j->n ? n0 + j->nb : j->n;
    int64_t m0 = mb * LIN_MB, m1 = m0 + LIN_MB < j->m ? m0 + LIN_MB : j->m;
    int nn = (int)(n1 - n0), mm = (int)(m1 - m0), k = (int)j->k;
    int64_t t0 = pl__cpu_prof_now(j->ctx);
    float *y = (float *)t->data + m0 * j->n + n0;
    const float *bias = b ? (const float *)b->data + n0 : NULL;
    int act = t->op_params[0];
    if (w->packed && w->packed_dtype == PL_DTYPE_I8 && j->kern->gemm_i8_packed) {
        /* dequantization, bias and activation in the GEMM's registers */
        int64_t np = cdiv(j->n, 32) * 32;
        const int32_t *bsum = (const int32_t *)((const int8_t *)w->packed + np * j->lda) + n0;
        j->kern->gemm_i8_packed(mm, nn, k, (const uint8_t *)j->aq + m0 * j->lda, (int)j->lda,
                                (const int8_t *)w->packed + n0 * j->lda, bsum, j->ascale + m0,
                                (const float *)t->src[3]->data + n0, bias, act, y, (int)j->n);
        pl__cpu_prof_lap(j->ctx, thread, PL_CPU_PROF_GEMM, &t0);
        return;
    }
    if (w->packed && w->packed_dtype == PL_DTYPE_BF16 && j->kern->gemm_bf16_packed) {
        j->kern->gemm_bf16_packed(mm, nn, k, j->abf + m0 * j->lda, (int)j->lda,
                                  (const uint16_t *)w->packed + n0 * j->lda, y, (int)j->n, bias, act);
        pl__cpu_prof_lap(j->ctx, thread, PL_CPU_PROF_GEMM, &t0);
        return;
    }
    if (w->dtype == PL_DTYPE_I8) {
        int32_t *acc = j->acc + (size_t)thread * j->acc_per_thread;
        j->kern->gemm_i8(mm, nn, k, j->aq + m0 * j->lda, k, (const int8_t *)w->data + n0 * j->k, k, acc,
                         nn);
        pl__cpu_prof_lap(j->ctx, thread, PL_CPU_PROF_GEMM, &t0);
        const float *ws = (const float *)t->src[3]->data + n0;
        for (int i = 0; i < mm; i++) {
            float xs = j->ascale[m0 + i];
            float *yr = y + (int64_t)i * j->n;
            const int32_t *ar = acc + (size_t)i * nn;
            for (int c = 0; c < nn; c++) yr[c] = (float)ar[c] * xs * ws[c];
            j->kern->bias_act(yr, bias, nn, act);
        }
        pl__cpu_prof_lap(j->ctx, thread, PL_CPU_PROF_EPILOGUE, &t0);
        return;
    }
    /* f32 weights packed at load, or bf16 ones widened into that layout (no bf16 GEMM here) */
    const float *bp =
        w->packed && w->packed_dtype == PL_DTYPE_F32 && j->kern->gemm_f32_packed ? w->packed : NULL;
    if (bp) { /* bias and activation in the GEMM's registers */
        j->kern->gemm_f32_packed(mm, nn, k, (const float *)x->data + m0 * j->k, k,
                                 bp + (size_t)n0 * j->k, y, (int)j->n, bias, act);
        pl__cpu_prof_lap(j->ctx, thread, PL_CPU_PROF_GEMM, &t0);
        return;
    }
    const float *wp;
    if (w->dtype == PL_DTYPE_F32) {
        wp = (const float *)w->data + n0 * j->k;
    } else {
        float *dst = j->wconv + (size_t)thread * LIN_NB * j->k;
        const uint16_t *src = (const uint16_t *)w->data + n0 * j->k;
        int64_t cnt = (int64_t)nn * j->k;
        if (w->dtype == PL_DTYPE_F16)
            for (int64_t i = 0; i < cnt; i++) dst[i] = pl_f16_to_f32(src[i]);
        else
            for (int64_t i = 0; i < cnt; i++) dst[i] = pl_bf16_to_f32(src[i]);
        wp = dst;
        pl__cpu_prof_lap(j->ctx, thread, PL_CPU_PROF_PACK, &t0);
    }
    j->kern->gemm_f32(mm, nn, k, (const float *)x->data + m0 * j->k, k, wp, k, y, (int)j->n);
    pl__cpu_prof_lap(j->ctx, thread, PL_CPU_PROF_GEMM, &t0);
    if (bias || act != PL_ACT_NONE)
        for (int i = 0; i < mm; i++) j->kern->bias_act(y + (int64_t)i * j->n, bias, nn, act);
    pl__cpu_prof_lap(j->ctx, thread, PL_CPU_PROF_EPILOGUE, &t0);
}

struct quant_job {
    struct pl_cpu_ctx *ctx;
    const struct pl_cpu_kern *kern;
    const float *x;
    int8_t *q;
    float *scale;
    int64_t m, k, ldq;
    bool shift; /* store q + 128 (unsigned) for the packed int8 GEMM */
};

struct bf16_job {
    struct pl_cpu_ctx *ctx;
    const struct pl_cpu_kern *kern;
    const float *x;
    uint16_t *u;
    int64_t m, k, ldu;
};

static void bf16_task(void *arg, int task, int thread) {
    struct bf16_job *j = arg;
    int64_t t0 = pl__cpu_prof_now(j->ctx);
    int64_t r0 = task * 16, r1 = r0 + 16 < j->m ? r0 + 16 : j->m;
    for (int64_t r = r0; r < r1; r++)
        j->kern->row_bf16(j->x + r * j->k, (int)j->k, (int)j->ldu, j->u + r * j->ldu);
    pl__cpu_prof_lap(j->ctx, thread, PL_CPU_PROF_PACK, &t0);
}

static void quant_task(void *arg, int task, int thread) {
    struct quant_job *j = arg;
    int64_t t0 = pl__cpu_prof_now(j->ctx);
    int64_t r0 = task * 16, r1 = r0 + 16 < j->m ? r0 + 16 : j->m;
    for (int64_t r = r0; r < r1; r++) {
        int8_t *q = j->q + r * j->ldq;
        if (j->shift && j->kern->quant_row_u8) {
            j->scale[r] = j->kern->quant_row_u8(j->x + r * j->k, (int)j->k, (int)j->ldq, (uint8_t *)q);
            continue;
        }
        j->scale[r] = j->kern->quant_row(j->x + r * j->k, (int)j->k, q);
        if (j->shift) { /* 8 bytes a step: the byte loop cost as much as the quantization */
            uint8_t *u = (uint8_t *)q;
            int64_t l = 0;
            for (; l + 8 <= j->k; l += 8) {
                uint64_t v;
                memcpy(&v, u + l, 8);
                v ^= 0x8080808080808080ull;
                memcpy(u + l, &v, 8);
            }
            for (; l < j->k; l++) u[l] ^= 0x80;
            for (; l < j->ldq; l++) u[l] = 0; /* read by the GEMM, times 0 */
        }
    }
    pl__cpu_prof_lap(j->ctx, thread, PL_CPU_PROF_PACK, &t0);
}

static size_t align64(size_t n) { return (n + 63) & ~(size_t)63; }

static pl_status op_linear(struct pl_cpu_ctx *ctx, struct pl_tensor *t) {
    const struct pl_tensor *x = t->src[0], *w = t->src[1];
    struct lin_job j = {.ctx = ctx, .kern = ctx->kern, .t = t};
    j.m = pl_tensor_nrows(x);
    j.k = x->shape[x->n_dims - 1];
    j.n = w->shape[0];
    if (j.m == 0 || j.n == 0) return PL_OK;
    int nt = ctx->n_threads;
    /* The packed GEMM reuses each K block of A over all the panels of its task:
     * wide tasks read A (up to 192 x 3072 floats, more than L2) from L3 once per
     * K block and task rather than once per 64 weight rows. The task's C block,
     * which every K block reads and writes, is kept to 128 KiB so that it stays
     * in L2 beside the A block (384 KiB ran slower in BERT-base at 1 x 128); on
     * more threads at least two tasks per thread, in a number that keeps the
     * threads equally busy (balanced_nb). A family may ask for wider int8
     * tasks as well (i8_task_cols). */
    j.nb = LIN_NB;
    bool bf16_packed = w->packed && w->packed_dtype == PL_DTYPE_BF16 && ctx->kern->gemm_bf16_packed;
    bool f32_packed = w->packed && w->packed_dtype == PL_DTYPE_F32 && ctx->kern->gemm_f32_packed;
    bool i8_packed = w->packed && w->packed_dtype == PL_DTYPE_I8 && ctx->kern->gemm_i8_packed;
    bool i8_wide = i8_packed && ctx->kern->i8_task_cols > 0;
    if (f32_packed || bf16_packed || i8_wide) {
        int64_t mb = j.m < LIN_MB ? j.m : LIN_MB;
        j.nb = (i8_wide ? 128 * (int64_t)ctx->kern->i8_task_cols : 32 * 1024) / mb / 32 * 32;
        int64_t share = cdiv(cdiv(j.n, 2 * (int64_t)nt), 32) * 32;
        if (nt > 1 && j.nb > share) j.nb = share;
        if (j.nb >= j.n) j.nb = j.n;
        if (nt > 1 && j.nb < j.n) j.nb = balanced_nb(j.n, j.nb, cdiv(j.m, LIN_MB), nt);
    }
    if (j.nb < LIN_NB) j.nb = LIN_NB;
    j.n_nb = cdiv(j.n, j.nb);
    if (w->dtype == PL_DTYPE_I8) {
        bool packed = i8_packed;
        j.lda = packed ? PL_I8_KP(j.k) : j.k;
        j.acc_per_thread = packed ? 0 : (size_t)LIN_MB * LIN_NB;
        size_t aq_bytes = align64((size_t)(j.m * j.lda));
        size_t need = aq_bytes + align64((size_t)j.m * sizeof(float)) +
                      (size_t)nt * j.acc_per_thread * sizeof(int32_t);
        PL_TRY(pl__cpu_scratch_reserve(&ctx->scratch, need));
        char *p = ctx->scratch.p;
        j.aq = (int8_t *)p;
        j.ascale = (float *)(p + aq_bytes);
        j.acc = (int32_t *)(p + aq_bytes + align64((size_t)j.m * sizeof(float)));
        struct quant_job q = {.ctx = ctx,
                              .kern = ctx->kern,
                              .x = x->data,
                              .q = j.aq,
                              .scale = j.ascale,
                              .m = j.m,
                              .k = j.k,
                              .ldq = j.lda,
                              .shift = packed};
        pl_threadpool_run(ctx->pool, (int)cdiv(j.m, 16), quant_task, &q);
    } else if (bf16_packed) {
        j.lda = PL_BF16_KP(j.k);
        PL_TRY(pl__cpu_scratch_reserve(&ctx->scratch, (size_t)(j.m * j.lda) * sizeof(uint16_t)));
        j.abf = ctx->scratch.p;
        struct bf16_job q = {
            .ctx = ctx, .kern = ctx->kern, .x = x->data, .u = j.abf, .m = j.m, .k = j.k, .ldu = j.lda};
        pl_threadpool_run(ctx->pool, (int)cdiv(j.m, 16), bf16_task, &q);
    } else if (w->dtype != PL_DTYPE_F32 && !f32_packed) {
        PL_TRY(pl__cpu_scratch_reserve(&ctx->scratch, (size_t)nt * LIN_NB * j.k * sizeof(float)));
        j.wconv = ctx->scratch.p;
    }
    pl_threadpool_run(ctx->pool, (int)(j.n_nb * cdiv(j.m, LIN_MB)), lin_task, &j);
    return PL_OK;
}

/* ---- row-wise ops ------------------------------------------------------------ */

struct row_job {
    struct pl_cpu_ctx *ctx;
    struct pl_tensor *t;
    int64_t rows, h, per_task;
};

static void layer_norm_row_c(const float *x, const float *r, const float *g, const float *b,
                             float eps, int64_t h, float *y) {
    /* y doubles as the sum buffer when there is a residual (y may alias neither). */
    const float *v = x;
    if (r) {
        for (int64_t i = 0; i < h; i++) y[i] = x[i] + r[i];
        v = y;
    }
    float s[8] = {0}, mean, var;
    int64_t i = 0;
    for (; i + 8 <= h; i += 8)
        for (int l = 0; l < 8; l++) s[l] += v[i + l];
    float tot = 0;
    for (; i < h; i++) tot += v[i];
    for (int l = 0; l < 8; l++) tot += s[l];
    mean = tot / (float)h;
    float q[8] = {0};
    for (i = 0; i + 8 <= h; i += 8)
        for (int l = 0; l < 8; l++) {
            float d = v[i + l] - mean;
            q[l] += d * d;
        }
    float qt = 0;
    for (; i < h; i++) qt += (v[i] - mean) * (v[i] - mean);
    for (int l = 0; l < 8; l++) qt += q[l];
    var = qt / (float)h;
    float inv = 1.0f / sqrtf(var + eps);
    for (i = 0; i < h; i++) y[i] = (v[i] - mean) * inv * g[i] + b[i];
}

/* LayerNorm of one row with the family's kernel, else portable C. */
static void layer_norm_row(const struct pl_cpu_kern *kern, const float *x, const float *r,
                           const float *g, const float *b, float eps, int64_t h, float *y) {
    if (kern->layer_norm_f32)
        kern->layer_norm_f32(x, r, g, b, eps, (int)h, y);
    else
        layer_norm_row_c(x, r, g, b, eps, h, y);
}

/* y = x - max - log(sum exp(x - max)) over one row. A separate y holds the
 * exponentials first (the SIMD exp); in place, the sum is taken without
 * storing them. */
static void log_softmax_row(const struct pl_cpu_kern *kern, const float *x, float *y, int64_t n) {
    float mx = -INFINITY, sum = 0.0f;
    for (int64_t i = 0; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    if (y != x)
        sum = kern->exp_sum(x, y, (int)n, mx);
    else
        for (int64_t i = 0; i < n; i++) sum += expf(x[i] - mx);
    float lse = mx + logf(sum);
    for (int64_t i = 0; i < n; i++) y[i] = x[i] - lse;
}

/* Row b of an LSTMCell step (tensor.h PL_OP_LSTM_CELL). */
static void lstm_row(const struct pl_cpu_kern *kern, const struct pl_tensor *t, int64_t b) {
    int64_t bn = t->shape[1], h = t->shape[2];
    const float *gh = t->src[1] ? (const float *)t->src[1]->data + b * 4 * h : NULL;
    kern->lstm_f32((int)h, (const float *)t->src[0]->data + b * 4 * h, gh,
                   (const float *)t->src[2]->data + b * h, (float *)t->data + b * h,
                   (float *)t->data + (bn + b) * h);
}

/* Output row r (sequence r / T_out, frame r % T_out) of PL_OP_IM2COL. */
static void im2col_row(const struct pl_tensor *t, int64_t r) {
    const struct pl_tensor *x = t->src[0];
    int64_t ti = x->shape[x->n_dims - 2], to = t->shape[t->n_dims - 2], c = x->shape[x->n_dims - 1];
    int k = t->op_params[0], s = t->op_params[1], d = t->op_params[2], pl = t->op_params[3];
    int64_t q = r / to, i = r % to;
    float *y = (float *)t->data + r * k * c;
    const float *xs = (const float *)x->data + q * ti * c;
    for (int j = 0; j < k; j++) {
        int64_t src = i * s + (int64_t)j * d - pl;
        if (src >= 0 && src < ti)
            memcpy(y + (int64_t)j * c, xs + src * c, (size_t)c * sizeof(float));
        else
            memset(y + (int64_t)j * c, 0, (size_t)c * sizeof(float));
    }
}

static void row_task_run(struct row_job *j, int task) {
    struct pl_tensor *t = j->t;
    int64_t r0 = task * j->per_task, r1 = r0 + j->per_task < j->rows ? r0 + j->per_task : j->rows;
    int64_t h = j->h;
    switch (t->op) {
    case PL_OP_ACT: {
        /* PL_ACT_NONE without a bias is a copy (pl_op_copy): rows only move */
        bool copy = !t->src[1] && t->op_params[0] == PL_ACT_NONE;
        float *y = (float *)t->data + r0 * h;
        const float *x = (const float *)t->src[0]->data + r0 * h;
        if (y != x) memcpy(y, x, (size_t)((r1 - r0) * h) * sizeof(float));
        for (int64_t r = r0; r < r1 && !copy; r++)
            j->ctx->kern->bias_act((float *)t->data + r * h, t->src[1] ? t->src[1]->data : NULL,
                                   (int)h, t->op_params[0]);
        break;
    }
    case PL_OP_ADD: {
        float *y = t->data;
        const float *a = t->src[0]->data, *b = t->src[1]->data;
        if (t->op_params[0] == PL_ACT_RELU) { /* a residual + ReLU in one pass */
            for (int64_t r = r0 * h; r < r1 * h; r++) {
                float v = a[r] + b[r];
                y[r] = v > 0.0f ? v : 0.0f;
            }
            break;
        }
        for (int64_t r = r0 * h; r < r1 * h; r++) y[r] = a[r] + b[r];
        if (t->op_params[0] != PL_ACT_NONE)
            for (int64_t r = r0; r < r1; r++)
                j->ctx->kern->bias_act(y + r * h, NULL, (int)h, t->op_params[0]);
        break;
    }
    case PL_OP_LAYER_NORM:
        for (int64_t r = r0; r < r1; r++)
            layer_norm_row(j->ctx->kern, (const float *)t->src[0]->data + r * h,
                           t->src[1] ? (const float *)t->src[1]->data + r * h : NULL,
                           t->src[2]->data, t->src[3]->data, pl_tensor_param_f32(t, 0), h,
                           (float *)t->data + r * h);
        break;
    case PL_OP_SOFTMAX: {
        float scale = pl_tensor_param_f32(t, 0);
        for (int64_t r = r0; r < r1; r++) {
            const float *x = (const float *)t->src[0]->data + r * h;
            const int32_t *m = t->src[1] ? (const int32_t *)t->src[1]->data + r * h : NULL;
            float *y = (float *)t->data + r * h;
            float mx = -INFINITY;
            for (int64_t i = 0; i < h; i++) {
                y[i] = (!m || m[i]) ? x[i] * scale : -INFINITY;
                if (y[i] > mx) mx = y[i];
            }
            if (mx == -INFINITY) {
                memset(y, 0, (size_t)h * sizeof(float));
                continue;
            }
            float s = j->ctx->kern->exp_sum(y, y, (int)h, mx);
            float inv = 1.0f / s;
            for (int64_t i = 0; i < h; i++) y[i] = (!m || m[i]) ? y[i] * inv : 0.0f;
        }
        break;
    }
    case PL_OP_EMBED: {
        int64_t sn = t->src[0]->shape[1];
        const int32_t *ids = t->src[0]->data, *tt = t->src[4] ? t->src[4]->data : NULL;
        const int32_t *mask = t->src[7] ? t->src[7]->data : NULL;
        for (int64_t r = r0; r < r1; r++) {
            int64_t s = r % sn;
            int32_t pos = (mask && mask[r] == 0) ? t->op_params[2] : t->op_params[1] + (int32_t)s;
            const float *we = (const float *)t->src[1]->data + (int64_t)ids[r] * h;
            const float *pe = (const float *)t->src[2]->data + (int64_t)pos * h;
            const float *te = t->src[3] ? (const float *)t->src[3]->data + (int64_t)(tt ? tt[r] : 0) * h : NULL;
            float *y = (float *)t->data + r * h;
            for (int64_t i = 0; i < h; i++) y[i] = we[i] + pe[i] + (te ? te[i] : 0.0f);
            layer_norm_row(j->ctx->kern, y, NULL, t->src[5]->data, t->src[6]->data,
                           pl_tensor_param_f32(t, 0), h, y);
        }
        break;
    }
    case PL_OP_GET_ROWS:
        for (int64_t r = r0; r < r1; r++)
            memcpy((float *)t->data + r * h,
                   (const float *)t->src[0]->data + (int64_t)((const int32_t *)t->src[1]->data)[r] * h,
                   (size_t)h * sizeof(float));
        break;
    case PL_OP_LOG_SOFTMAX:
        for (int64_t r = r0; r < r1; r++) log_softmax_row(j->ctx->kern, (const float *)t->src[0]->data + r * h, (float *)t->data + r * h, h);
        break;
    case PL_OP_COMPLEX_ABS:
        for (int64_t r = r0; r < r1; r++) {
            const float *x = (const float *)t->src[0]->data + r * 2 * h;
            float *y = (float *)t->data + r * h;
            for (int64_t i = 0; i < h; i++) y[i] = sqrtf(x[i] * x[i] + x[h + i] * x[h + i]);
        }
        break;
    case PL_OP_LSTM_CELL:
        for (int64_t r = r0; r < r1; r++) lstm_row(j->ctx->kern, t, r);
        break;
    case PL_OP_IM2COL:
        for (int64_t r = r0; r < r1; r++) im2col_row(t, r);
        break;
    default: break;
    }
}

/* Profile category of a row-wise op. */
static int row_prof_cat(enum pl_op op) {
    switch (op) {
    case PL_OP_LAYER_NORM: return PL_CPU_PROF_LAYER_NORM;
    case PL_OP_EMBED: return PL_CPU_PROF_EMBED;
    case PL_OP_ACT:
    case PL_OP_ADD:
    case PL_OP_GET_ROWS: return PL_CPU_PROF_ELEMWISE;
    default: return PL_CPU_PROF_OTHER;
    }
}

static void row_task(void *arg, int task, int thread) {
    struct row_job *j = arg;
    int64_t t0 = pl__cpu_prof_now(j->ctx);
    row_task_run(j, task);
    pl__cpu_prof_lap(j->ctx, thread, row_prof_cat(j->t->op), &t0);
}

static void run_rows(struct pl_cpu_ctx *ctx, struct pl_tensor *t, int64_t rows, int64_t h) {
    struct row_job j = {.ctx = ctx, .t = t, .rows = rows, .h = h};
    int64_t per = cdiv(rows, (int64_t)ctx->n_threads * 4);
    /* Small ops (the streaming models move a few rows at a time) run in the
     * calling thread: waking the pool costs more than the work. */
    if (rows * h < SMALL_OP) per = rows;
    j.per_task = per < 1 ? 1 : per;
    pl_threadpool_run(ctx->pool, (int)cdiv(rows, j.per_task), row_task, &j);
}

/* ---- depthwise convolution ------------------------------------------------- */

struct dw_job {
    struct pl_cpu_ctx *ctx;
    const struct pl_cpu_kern *kern;
    struct pl_tensor *t;
    int64_t to, ti, c, per_task, n_rows;
};

static void dw_task(void *arg, int task, int thread) {
    const struct dw_job *j = arg;
    int64_t t0 = pl__cpu_prof_now(j->ctx);
    const struct pl_tensor *t = j->t, *w = t->src[1], *b = t->src[2];
    int s = t->op_params[0], d = t->op_params[1];
    int64_t r0 = task * j->per_task, r1 = r0 + j->per_task < j->n_rows ? r0 + j->per_task : j->n_rows;
    while (r0 < r1) { /* rows of one sequence at a time */
        int64_t q = r0 / j->to, i = r0 % j->to, n = j->to - i < r1 - r0 ? j->to - i : r1 - r0;
        float *y = (float *)t->data + r0 * j->c;
        j->kern->dwconv_f32((int)n, (int)j->c, (int)w->shape[0], d, s,
                            (const float *)t->src[0]->data + (q * j->ti + i * s) * j->c,
                            w->data, y);
        if (b)
            for (int64_t r = 0; r < n; r++)
                j->kern->bias_act(y + r * j->c, b->data, (int)j->c, PL_ACT_NONE);
        r0 += n;
    }
    pl__cpu_prof_lap(j->ctx, thread, PL_CPU_PROF_OTHER, &t0);
}

static pl_status op_dwconv(struct pl_cpu_ctx *ctx, struct pl_tensor *t) {
    const struct pl_tensor *x = t->src[0];
    struct dw_job j = {.ctx = ctx, .kern = ctx->kern, .t = t};
    j.to = t->shape[t->n_dims - 2];
    j.ti = x->shape[x->n_dims - 2];
    j.c = t->shape[t->n_dims - 1];
    j.n_rows = pl_tensor_nrows(t);
    int64_t per = cdiv(j.n_rows, (int64_t)ctx->n_threads * 2);
    if (j.n_rows * j.c * t->src[1]->shape[0] < 4 * SMALL_OP) per = j.n_rows;
    j.per_task = per < 1 ? 1 : per;
    pl_threadpool_run(ctx->pool, (int)cdiv(j.n_rows, j.per_task), dw_task, &j);
    return PL_OK;
}

/* ---- attention ------------------------------------------------------------ */

struct att_job {
    struct pl_cpu_ctx *ctx;
    struct pl_tensor *t;
    int64_t bn, sn, h, d;
    int nh;
    float scale;
    bool bf16;      /* PL_ATT_BF16 and the family has attention_bf16 */
    float *scratch; /* per thread: scores [sn, sn] + k^T [d, sn]; fused kernels: their own */
    size_t per_thread;
};

static void att_task(void *arg, int task, int thread) {
    struct att_job *j = arg;
    const struct pl_cpu_kern *kern = j->ctx->kern;
    int64_t b = task / j->nh, hh = task % j->nh, sn = j->sn, h = j->h, d = j->d;
    const float *in = j->t->src[0]->data;
    const int32_t *mask = j->t->src[1] ? (const int32_t *)j->t->src[1]->data + b * sn : NULL;
    /* scratch: scores [sn, sn] then K^T [d, sn]; fused: K^T, then the kernel's */
    float *sc = j->scratch + (size_t)thread * j->per_thread,
          *vt = kern->attention_f32 ? sc : sc + sn * sn;
    float *out = (float *)j->t->data + b * sn * h + hh * d;
    int64_t t0 = pl__cpu_prof_now(j->ctx);
    /* Keys past the last unmasked one never contribute: trim them. */
    int64_t kn = sn;
    if (mask)
        while (kn > 0 && mask[kn - 1] == 0) kn--;
    if (kn == 0) {
        for (int64_t i = 0; i < sn; i++) memset(out + i * h, 0, (size_t)d * sizeof(float));
        return;
    }
    const float *q = in + b * sn * 3 * h + hh * d, *k = q + h, *v = q + 2 * h;
    if (j->bf16) { /* the kernel lays out K and V in bf16 pairs itself */
        kern->attention_bf16((int)sn, (int)kn, (int)d, q, (int)(3 * h), k, (int)(3 * h), v,
                             (int)(3 * h), mask, j->scale, out, (int)h,
                             j->scratch + (size_t)thread * j->per_thread);
        pl__cpu_prof_lap(j->ctx, thread, PL_CPU_PROF_ATT_FUSED, &t0);
        return;
    }
    /* K^T once per head, then both products are broadcast-FMA GEMMs with
     * N-contiguous right operands (no horizontal reductions, V used in place). */
    float *kt = vt;
    for (int64_t jj = 0; jj < kn; jj++)
        for (int64_t l = 0; l < d; l++) kt[l * kn + jj] = k[jj * 3 * h + l];
    pl__cpu_prof_lap(j->ctx, thread, PL_CPU_PROF_PACK, &t0);
    if (kern->attention_f32) { /* one pass per block of queries: no [sn, kn] scores */
        float *ws = j->scratch + (size_t)thread * j->per_thread + (d * sn + 15) / 16 * 16;
        kern->attention_f32((int)sn, (int)kn, (int)d, q, (int)(3 * h), kt, v, (int)(3 * h), mask,
                            j->scale, out, (int)h, ws);
        pl__cpu_prof_lap(j->ctx, thread, PL_CPU_PROF_ATT_FUSED, &t0);
        return;
    }
    kern->gemm_nn_f32((int)sn, (int)kn, (int)d, q, (int)(3 * h), kt, (int)kn, sc, (int)kn);
    pl__cpu_prof_lap(j->ctx, thread, PL_CPU_PROF_ATT_SCORES, &t0);
    for (int64_t i = 0; i < sn; i++) {
        float *row = sc + i * kn, mx = -INFINITY;
        for (int64_t jj = 0; jj < kn; jj++) {
            row[jj] = (!mask || mask[jj]) ? row[jj] * j->scale : -INFINITY;
            if (row[jj] > mx) mx = row[jj];
        }
        float s = kern->exp_sum(row, row, (int)kn, mx);
        float inv = 1.0f / s;
        for (int64_t jj = 0; jj < kn; jj++) row[jj] = (!mask || mask[jj]) ? row[jj] * inv : 0.0f;
    }
    pl__cpu_prof_lap(j->ctx, thread, PL_CPU_PROF_ATT_SOFTMAX, &t0);
    kern->gemm_nn_f32((int)sn, (int)d, (int)kn, sc, (int)kn, v, (int)(3 * h), out, (int)h);
    pl__cpu_prof_lap(j->ctx, thread, PL_CPU_PROF_ATT_VALUE, &t0);
}

static pl_status op_attention(struct pl_cpu_ctx *ctx, struct pl_tensor *t) {
    struct att_job j = {.ctx = ctx, .t = t};
    j.bn = t->shape[0];
    j.sn = t->shape[1];
    j.h = t->shape[2];
    j.nh = t->op_params[0];
    j.d = j.h / j.nh;
    j.scale = pl_tensor_param_f32(t, 1);
    j.bf16 = t->op_params[2] == PL_ATT_BF16 && ctx->kern->attention_bf16;
    if (j.bf16)
        j.per_thread = (PL_ATT_BF16_SCRATCH(j.sn, j.d) + 63) / 64 * 16; /* floats, 64-byte steps */
    else if (ctx->kern->attention_f32)
        j.per_thread = (size_t)((j.d * j.sn + 15) / 16 * 16 + PL_ATT_SCRATCH(j.d));
    else
        j.per_thread = (size_t)(j.sn * j.sn + j.d * j.sn);
    PL_TRY(pl__cpu_scratch_reserve(&ctx->scratch, (size_t)ctx->n_threads * j.per_thread * sizeof(float)));
    j.scratch = ctx->scratch.p;
    pl_threadpool_run(ctx->pool, (int)(j.bn * j.nh), att_task, &j);
    return PL_OK;
}

pl_status pl__cpu_op_fast(struct pl_cpu_ctx *ctx, struct pl_tensor *t) {
    PL_TRY(pl__cpu_check_ids(t));
    int64_t h = t->shape[t->n_dims - 1];
    switch (t->op) {
    case PL_OP_LINEAR: return op_linear(ctx, t);
    case PL_OP_ATTENTION: return op_attention(ctx, t);
    case PL_OP_DWCONV: return op_dwconv(ctx, t);
    case PL_OP_ACT:
    case PL_OP_ADD:
    case PL_OP_LAYER_NORM:
    case PL_OP_SOFTMAX:
    case PL_OP_EMBED:
    case PL_OP_GET_ROWS:
    case PL_OP_LOG_SOFTMAX:
    case PL_OP_COMPLEX_ABS:
    case PL_OP_IM2COL: run_rows(ctx, t, pl_tensor_nrows(t), h); return PL_OK;
    case PL_OP_LSTM_CELL: run_rows(ctx, t, t->shape[1], h); return PL_OK;
    default: return PL_ERR(PL_E_UNSUPPORTED, "cpu: op %s", pl_op_name(t->op));
    }
}
