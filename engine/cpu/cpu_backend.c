/*
 * cpu_backend.c - the CPU backend: host buffers, the kernel family chosen at
 * run time, the thread pool, and graph execution (reference or fast).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "cpu_impl.h"
#include "log.h"
#include "util.h"

/* ---- kernel selection -------------------------------------------------------- */

static bool has_avx2(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

/* what kern_avx512.c is compiled for; its int8 GEMMs also need AVX-512 VNNI */
static bool has_avx512_base(void) {
    __builtin_cpu_init();
    return has_avx2() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl");
}

static bool has_avx512(void) { return has_avx512_base() && __builtin_cpu_supports("avx512vnni"); }

static bool has_avx2_vnni(void) { return has_avx2() && __builtin_cpu_supports("avxvnni"); }

const struct pl_cpu_kern *pl__cpu_kern_select(void) {
    const char *force = getenv("PARLEY_CPU_KERNELS");
    if (force && strcmp(force, "generic") == 0) return &pl__cpu_kern_generic;
    if (force && strcmp(force, "avx2") == 0 && has_avx2()) return &pl__cpu_kern_avx2;
    if (force && strcmp(force, "avx2vnni") == 0 && has_avx2_vnni()) return &pl__cpu_kern_avx2_vnni;
    if (force && strcmp(force, "avx512novnni") == 0 && has_avx512_base())
        return &pl__cpu_kern_avx512_novnni;
    if (force && strcmp(force, "avx512") == 0 && has_avx512()) return &pl__cpu_kern_avx512;
    if (has_avx512() && __builtin_cpu_supports("avx512bf16")) return &pl__cpu_kern_avx512_bf16;
    if (has_avx512()) return &pl__cpu_kern_avx512;
    if (has_avx512_base()) return &pl__cpu_kern_avx512_novnni;
    if (has_avx2_vnni()) return &pl__cpu_kern_avx2_vnni;
    if (has_avx2()) return &pl__cpu_kern_avx2;
    return &pl__cpu_kern_generic;
}

void pl__cpu_pack_b32(int n, int k, const float *b, int ldb, float *p) {
    for (int q = 0; q * 32 < n; q++)
        for (int l = 0; l < k; l++)
            for (int j = 0; j < 32; j++)
                p[((size_t)q * k + l) * 32 + j] =
                    q * 32 + j < n ? b[(size_t)(q * 32 + j) * ldb + l] : 0.0f;
}

void pl__cpu_pack_b_i8(int n, int k, const int8_t *b, int8_t *p) {
    int kp = PL_I8_KP(k), np = (n + 31) / 32 * 32;
    for (int q = 0; q * 32 < n; q++)
        for (int g = 0; g < kp / 4; g++)
            for (int j = 0; j < 32; j++)
                for (int t = 0; t < 4; t++) {
                    int r = q * 32 + j, l = 4 * g + t;
                    p[(((size_t)q * (kp / 4) + g) * 32 + j) * 4 + t] =
                        r < n && l < k ? b[(size_t)r * k + l] : 0;
                }
    int32_t *sum = (int32_t *)(p + (size_t)np * kp); /* np * kp: a multiple of 128 */
    for (int r = 0; r < np; r++) {
        int32_t s = 0;
        for (int l = 0; r < n && l < k; l++) s += b[(size_t)r * k + l];
        sum[r] = 128 * s;
    }
}

void pl__cpu_pack_b_bf16(int n, int k, const uint16_t *b, uint16_t *p) {
    int kp = PL_BF16_KP(k);
    for (int q = 0; q * 32 < n; q++)
        for (int g = 0; g < kp / 2; g++)
            for (int j = 0; j < 32; j++)
                for (int t = 0; t < 2; t++) {
                    int r = q * 32 + j, l = 2 * g + t;
                    p[(((size_t)q * (kp / 2) + g) * 32 + j) * 2 + t] =
                        r < n && l < k ? b[(size_t)r * k + l] : 0;
                }
}

pl_status pl__cpu_scratch_reserve(struct pl_cpu_scratch *s, size_t n) {
    if (n <= s->size) return PL_OK;
    size_t want = n + n / 4;
    void *p = pl_aligned_alloc(64, want);
    if (!p) return PL_ERR(PL_E_NOMEM, "cpu backend: cannot grow scratch to %zu bytes", want);
    pl_aligned_free(s->p);
    s->p = p;
    s->size = want;
    return PL_OK;
}

/* ---- buffers ------------------------------------------------------------------ */

static void buf_free_owned(struct pl_buffer *buf) {
    pl_aligned_free(buf->base);
    pl_free(buf);
}

static void buf_free_borrowed(struct pl_buffer *buf) { pl_free(buf); }

static pl_status cpu_buffer_alloc(struct pl_backend *be, size_t n, struct pl_buffer **out) {
    struct pl_buffer *buf = pl_calloc(1, sizeof *buf);
    if (!buf) return PL_ERR(PL_E_NOMEM, "cpu buffer: out of memory");
    buf->base = pl_aligned_alloc(64, n ? (n + 63) & ~(size_t)63 : 64);
    if (!buf->base) {
        pl_free(buf);
        return PL_ERR(PL_E_NOMEM, "cpu buffer: cannot allocate %zu bytes", n);
    }
    buf->iface.free = buf_free_owned;
    buf->backend = be;
    buf->size = n;
    *out = buf;
    return PL_OK;
}

static pl_status cpu_buffer_from_host(struct pl_backend *be, void *ptr, size_t n,
                                      struct pl_buffer **out) {
    if (!ptr && n) return PL_ERR(PL_E_INVALID_ARG, "cpu buffer: NULL host memory");
    struct pl_buffer *buf = pl_calloc(1, sizeof *buf);
    if (!buf) return PL_ERR(PL_E_NOMEM, "cpu buffer: out of memory");
    buf->iface.free = buf_free_borrowed;
    buf->backend = be;
    buf->base = ptr;
    buf->size = n;
    *out = buf;
    return PL_OK;
}

static pl_status cpu_tensor_set(struct pl_backend *be, struct pl_tensor *t, const void *src,
                                size_t off, size_t n) {
    (void)be;
    memcpy((char *)t->data + off, src, n);
    return PL_OK;
}

static pl_status cpu_tensor_get(struct pl_backend *be, const struct pl_tensor *t, void *dst,
                                size_t off, size_t n) {
    (void)be;
    memcpy(dst, (const char *)t->data + off, n);
    return PL_OK;
}

/* ---- ops ------------------------------------------------------------------------ */

static bool all_contiguous(const struct pl_tensor *t) {
    if (!pl_tensor_is_contiguous(t)) return false;
    for (int i = 0; i < PL_MAX_SRC; i++)
        if (t->src[i] && !pl_tensor_is_contiguous(t->src[i])) return false;
    return true;
}

static bool cpu_supports_op(const struct pl_backend *be, const struct pl_tensor *t) {
    (void)be;
    if (t->dtype != PL_DTYPE_F32 || !all_contiguous(t)) return false;
    switch (t->op) {
    case PL_OP_LINEAR:
        return t->src[1]->dtype == PL_DTYPE_F32 || t->src[1]->dtype == PL_DTYPE_F16 ||
               t->src[1]->dtype == PL_DTYPE_BF16 || t->src[1]->dtype == PL_DTYPE_I8;
    case PL_OP_ACT:
    case PL_OP_ADD:
    case PL_OP_LAYER_NORM:
    case PL_OP_SOFTMAX:
    case PL_OP_EMBED:
    case PL_OP_ATTENTION:
    case PL_OP_GET_ROWS:
    case PL_OP_DWCONV:
    case PL_OP_IM2COL:
    case PL_OP_LOG_SOFTMAX:
    case PL_OP_COMPLEX_ABS:
    case PL_OP_LSTM_CELL: return true;
    default: return false;
    }
}

static int64_t process_cpu_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static pl_status cpu_graph_compute(struct pl_backend *be, struct pl_graph *g) {
    struct pl_cpu_ctx *c = be->ctx;
    bool prof = c->profile && !c->use_ref;
    int64_t cpu0 = prof ? process_cpu_ns() : 0, wall0 = prof ? pl_time_mono_ns() : 0;
    if (prof) pl_threadpool_take_wait_ns(c->pool);
    for (int i = 0; i < g->n_nodes; i++) {
        struct pl_tensor *t = g->nodes[i];
        if (c->use_ref)
            PL_TRY(pl__cpu_op_ref(t));
        else
            PL_TRY(pl__cpu_op_fast(c, t));
    }
    if (prof) {
        c->prof_total_ns += process_cpu_ns() - cpu0;
        c->prof_wall_ns += pl_time_mono_ns() - wall0;
        c->prof_wait_ns += pl_threadpool_take_wait_ns(c->pool);
        c->prof_graphs++;
    }
    return PL_OK;
}

static const char *cpu_name(const struct pl_backend *be) {
    return ((const struct pl_cpu_ctx *)be->ctx)->name;
}

static void log_profile(const struct pl_backend *be) {
    struct pl_cpu_profile p;
    pl_backend_cpu_profile(be, &p);
    for (int k = 0; k < PL_CPU_PROF_COUNT; k++)
        if (p.cpu_ms[k] > 0)
            PL_LOGI("cpu profile: %-12s %10.3f ms", pl_cpu_prof_name(k), p.cpu_ms[k]);
    PL_LOGI("cpu profile: %lld graphs, process CPU %.3f ms, wall %.3f ms, waits %.3f ms",
            (long long)p.graphs, p.total_cpu_ms, p.wall_ms, p.wait_ms);
}

static void cpu_destroy(struct pl_backend *be) {
    struct pl_cpu_ctx *c = be->ctx;
    if (c->profile) log_profile(be);
    pl_threadpool_destroy(c->pool);
    pl_aligned_free(c->scratch.p);
    pl_free(c);
    pl_free(be);
}

static const struct pl_backend_i cpu_iface = {
    .name = cpu_name,
    .destroy = cpu_destroy,
    .buffer_alloc = cpu_buffer_alloc,
    .tensor_set = cpu_tensor_set,
    .tensor_get = cpu_tensor_get,
    .supports_op = cpu_supports_op,
    .graph_compute = cpu_graph_compute,
    .synchronize = NULL,
    .buffer_from_host = cpu_buffer_from_host,
    .is_host = true,
};

static int default_threads(void) {
    const char *s = getenv("PARLEY_THREADS");
    if (s && *s) {
        char *end;
        long v = strtol(s, &end, 10);
        if (*end == '\0' && v >= 1 && v <= 256) return (int)v;
        PL_LOGW("PARLEY_THREADS='%s' is not 1..256; using the core count", s);
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n >= 1 && n <= 256 ? (int)n : 1;
}

pl_status pl__backend_cpu_create(bool use_ref, int n_threads, struct pl_backend **out) {
    *out = NULL;
    struct pl_backend *be = pl_calloc(1, sizeof *be);
    struct pl_cpu_ctx *c = pl_calloc(1, sizeof *c);
    if (!be || !c) {
        pl_free(be);
        pl_free(c);
        return PL_ERR(PL_E_NOMEM, "cpu backend: out of memory");
    }
    c->use_ref = use_ref;
    c->kern = pl__cpu_kern_select();
    c->n_threads = n_threads > 0 ? n_threads : use_ref ? 1 : default_threads();
    c->profile = getenv("PARLEY_PROFILE") && *getenv("PARLEY_PROFILE") == '1';
    if (c->n_threads > PL_CPU_MAX_THREADS) c->n_threads = PL_CPU_MAX_THREADS;
    snprintf(c->name, sizeof c->name, "%s", use_ref ? "cpu-ref" : "cpu");
    pl_status st = pl_threadpool_create(c->n_threads, &c->pool);
    if (st != PL_OK) {
        pl_free(be);
        pl_free(c);
        return st;
    }
    be->api_version = PL_BACKEND_API_VERSION;
    be->iface = cpu_iface;
    be->ctx = c;
    *out = be;
    return PL_OK;
}

/* ---- CPU-specific public functions ------------------------------------------------ */

static struct pl_cpu_ctx *cpu_ctx(const struct pl_backend *be) {
    return be && be->iface.destroy == cpu_destroy ? be->ctx : NULL;
}

pl_status pl_backend_cpu_set_ref(struct pl_backend *be, bool use_ref) {
    struct pl_cpu_ctx *c = cpu_ctx(be);
    if (!c) return PL_ERR(PL_E_INVALID_ARG, "not a CPU backend");
    c->use_ref = use_ref;
    snprintf(c->name, sizeof c->name, "%s", use_ref ? "cpu-ref" : "cpu");
    return PL_OK;
}

pl_status pl_backend_cpu_set_threads(struct pl_backend *be, int n_threads) {
    struct pl_cpu_ctx *c = cpu_ctx(be);
    if (!c) return PL_ERR(PL_E_INVALID_ARG, "not a CPU backend");
    if (n_threads < 1 || n_threads > 256)
        return PL_ERR(PL_E_INVALID_ARG, "cpu backend: %d threads (1..256)", n_threads);
    if (n_threads == c->n_threads) return PL_OK;
    struct pl_threadpool *pool;
    PL_TRY(pl_threadpool_create(n_threads, &pool));
    pl_threadpool_destroy(c->pool);
    c->pool = pool;
    c->n_threads = n_threads;
    return PL_OK;
}

int pl_backend_cpu_threads(const struct pl_backend *be) {
    struct pl_cpu_ctx *c = cpu_ctx(be);
    return c ? c->n_threads : 0;
}

const char *pl_backend_cpu_kernels(const struct pl_backend *be) {
    struct pl_cpu_ctx *c = cpu_ctx(be);
    if (!c) return "?";
    return c->use_ref ? "ref" : c->kern->name;
}

pl_status pl_backend_cpu_pack_weight(struct pl_backend *be, struct pl_tensor *w,
                                     struct pl_buffer **out) {
    *out = NULL;
    struct pl_cpu_ctx *c = cpu_ctx(be);
    if (!c) return PL_ERR(PL_E_INVALID_ARG, "not a CPU backend");
    if (!w || !w->data || w->n_dims != 2 || !pl_tensor_is_contiguous(w))
        return PL_ERR(PL_E_INVALID_ARG, "cpu pack: weight is not a placed contiguous 2-D tensor");
    int64_t n = w->shape[0], k = w->shape[1];
    if (n > INT32_MAX / 2 || k > INT32_MAX / 64)
        return PL_ERR(PL_E_INVALID_ARG, "cpu pack: %s too large", w->name);
    struct pl_buffer *buf;
    if (w->dtype == PL_DTYPE_I8 && c->kern->gemm_i8_packed) {
        PL_TRY(cpu_buffer_alloc(be, PL_I8_PACK_BYTES(n, k), &buf));
        pl__cpu_pack_b_i8((int)n, (int)k, w->data, buf->base);
        w->packed = buf->base;
        w->packed_dtype = PL_DTYPE_I8;
        *out = buf;
        return PL_OK;
    }
    if (w->dtype == PL_DTYPE_BF16 && c->kern->gemm_bf16_packed) {
        PL_TRY(cpu_buffer_alloc(be, PL_BF16_PACK_BYTES(n, k), &buf));
        pl__cpu_pack_b_bf16((int)n, (int)k, w->data, buf->base);
        w->packed = buf->base;
        w->packed_dtype = PL_DTYPE_BF16;
        *out = buf;
        return PL_OK;
    }
    if (!c->kern->pack_b || (w->dtype != PL_DTYPE_F32 && w->dtype != PL_DTYPE_BF16)) return PL_OK;
    /* bf16 weights without the bf16 GEMM: their f32 values, packed for gemm_f32_packed */
    const float *src = w->data;
    float *wide = NULL;
    if (w->dtype == PL_DTYPE_BF16) {
        wide = pl_malloc((size_t)(n * k) * sizeof(float) + 1);
        if (!wide) return PL_ERR(PL_E_NOMEM, "cpu pack: out of memory widening %s", w->name);
        for (int64_t i = 0; i < n * k; i++) wide[i] = pl_bf16_to_f32(((const uint16_t *)w->data)[i]);
        src = wide;
    }
    pl_status st = cpu_buffer_alloc(be, (size_t)((n + 31) / 32 * 32) * (size_t)k * sizeof(float), &buf);
    if (st == PL_OK) {
        c->kern->pack_b((int)n, (int)k, src, (int)k, buf->base);
        w->packed = buf->base;
        w->packed_dtype = PL_DTYPE_F32;
        *out = buf;
    }
    pl_free(wide);
    return st;
}

pl_status pl_backend_cpu_set_profile(struct pl_backend *be, bool on) {
    struct pl_cpu_ctx *c = cpu_ctx(be);
    if (!c) return PL_ERR(PL_E_INVALID_ARG, "not a CPU backend");
    c->profile = on;
    memset(c->prof, 0, sizeof c->prof);
    c->prof_total_ns = c->prof_wall_ns = c->prof_wait_ns = c->prof_graphs = 0;
    return PL_OK;
}

pl_status pl_backend_cpu_profile(const struct pl_backend *be, struct pl_cpu_profile *out) {
    struct pl_cpu_ctx *c = cpu_ctx(be);
    if (!c || !out) return PL_ERR(PL_E_INVALID_ARG, "not a CPU backend");
    memset(out, 0, sizeof *out);
    for (int t = 0; t < PL_CPU_MAX_THREADS; t++)
        for (int k = 0; k < PL_CPU_PROF_COUNT; k++)
            out->cpu_ms[k] += (double)c->prof[t].ns[k] * 1e-6;
    out->total_cpu_ms = (double)c->prof_total_ns * 1e-6;
    out->wall_ms = (double)c->prof_wall_ns * 1e-6;
    out->wait_ms = (double)c->prof_wait_ns * 1e-6;
    out->graphs = c->prof_graphs;
    return PL_OK;
}

const char *pl_cpu_prof_name(int cat) {
    static const char *const names[PL_CPU_PROF_COUNT] = {
        "gemm", "epilogue", "pack", "att_scores", "att_softmax",
        "att_value", "att_fused", "layer_norm", "embed", "elementwise", "other"};
    return cat >= 0 && cat < PL_CPU_PROF_COUNT ? names[cat] : "?";
}
