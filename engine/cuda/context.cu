/* context.cu - CUDA contexts (stream, cuBLAS handle, error flag), device memory
 * and the scratch pool. */
#include <string.h>

#include "cuda_impl.h"

/* cuBLAS on Hopper wants up to 32 MiB of workspace for its best kernels. */
#define BLAS_WS_SIZE ((size_t)32 << 20)

size_t pl_cuda_dtype_size(enum pl_cuda_dtype dt) {
    switch (dt) {
    case PL_CUDA_F32: return 4;
    case PL_CUDA_F16: return 2;
    }
    return 0;
}

extern "C" pl_status pl_cuda_device_count(int *out) {
    int n = 0;
    if (!out) return PL_ERR(PL_E_INVALID_ARG, "cuda device count: out is NULL");
    *out = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        (void)cudaGetLastError(); /* clear the sticky-free error for later calls */
        PL_LOGD("cuda: no device (%s)", cudaGetErrorString(e));
        return PL_OK;
    }
    *out = n > 0 ? n : 0;
    return PL_OK;
}

pl_status pl__cuda_enter(struct pl_cuda_ctx *ctx, enum pl_cuda_dtype dt, const char *op) {
    if (!ctx) return PL_ERR(PL_E_INVALID_ARG, "cuda %s: context is NULL", op);
    if (dt != PL_CUDA_F32 && dt != PL_CUDA_F16)
        return PL_ERR(PL_E_INVALID_ARG, "cuda %s: bad dtype %d", op, (int)dt);
    PL_CUDA_CHECK(cudaSetDevice(ctx->dev));
    return PL_OK;
}

static pl_status ctx_init(struct pl_cuda_ctx *c, int dev) {
    cudaDeviceProp prop;
    int clk = 0;

    PL_CUDA_CHECK(cudaSetDevice(dev));
    PL_CUDA_CHECK(cudaGetDeviceProperties(&prop, dev));
    c->sm_count = prop.multiProcessorCount;
    c->cc = prop.major * 10 + prop.minor;
    snprintf(c->name, sizeof c->name, "%s", prop.name);
    if (cudaDeviceGetAttribute(&clk, cudaDevAttrClockRate, dev) == cudaSuccess)
        c->clock_khz = clk;
    else
        (void)cudaGetLastError();
    PL_CUDA_CHECK(cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking));
    PL_CUBLAS_CHECK(cublasCreate(&c->blas));
    PL_CUBLAS_CHECK(cublasSetStream(c->blas, c->stream));
    PL_CUDA_CHECK(cudaMalloc(&c->blas_ws, BLAS_WS_SIZE));
    c->blas_ws_size = BLAS_WS_SIZE;
    PL_CUBLAS_CHECK(cublasSetWorkspace(c->blas, c->blas_ws, c->blas_ws_size));
    PL_CUDA_CHECK(cudaMalloc((void **)&c->d_err, sizeof(unsigned int)));
    PL_CUDA_CHECK(cudaMemsetAsync(c->d_err, 0, sizeof(unsigned int), c->stream));
    PL_CUDA_CHECK(cudaStreamSynchronize(c->stream));
    return PL_OK;
}

extern "C" pl_status pl_cuda_ctx_create(int dev, struct pl_cuda_ctx **out) {
    struct pl_cuda_ctx *c = NULL;
    pl_status st = PL_OK;
    int n = 0;

    if (!out) return PL_ERR(PL_E_INVALID_ARG, "cuda ctx: out is NULL");
    *out = NULL;
    PL_TRY(pl_cuda_device_count(&n));
    if (dev < 0 || dev >= n)
        return PL_ERR(PL_E_INVALID_ARG, "cuda ctx: device %d does not exist (%d devices)", dev, n);
    c = (struct pl_cuda_ctx *)pl_calloc(1, sizeof *c);
    if (!c) return PL_ERR(PL_E_NOMEM, "cuda ctx: out of memory");
    c->dev = dev;
    PL_TRY_GOTO(st, ctx_init(c, dev));
    PL_LOGI("cuda: device %d %s, %d SMs, sm_%d", dev, c->name, c->sm_count, c->cc);
    *out = c;
    return PL_OK;
fail:
    pl_cuda_ctx_destroy(c);
    return st;
}

extern "C" void pl_cuda_ctx_destroy(struct pl_cuda_ctx *c) {
    if (!c) return;
    (void)cudaSetDevice(c->dev);
    if (c->capturing) { /* abandon an unfinished capture */
        cudaGraph_t g = NULL;
        (void)cudaStreamEndCapture(c->stream, &g);
        if (g) (void)cudaGraphDestroy(g);
        c->capturing = false;
    }
    if (c->stream) (void)cudaStreamSynchronize(c->stream);
    for (int i = 0; i < c->n_blocks; i++) (void)cudaFree(c->blocks[i].ptr);
    pl_free(c->blocks);
    if (c->blas) (void)cublasDestroy(c->blas);
    if (c->blas_ws) (void)cudaFree(c->blas_ws);
    if (c->d_err) (void)cudaFree(c->d_err);
    if (c->stream) (void)cudaStreamDestroy(c->stream);
    (void)cudaGetLastError();
    pl_free(c);
}

extern "C" const char *pl_cuda_ctx_device_name(const struct pl_cuda_ctx *c) {
    return c ? c->name : "";
}
extern "C" int pl_cuda_ctx_sm_count(const struct pl_cuda_ctx *c) { return c ? c->sm_count : 0; }
extern "C" int pl_cuda_ctx_compute_capability(const struct pl_cuda_ctx *c) {
    return c ? c->cc : 0;
}
extern "C" int pl_cuda_ctx_clock_khz(const struct pl_cuda_ctx *c) { return c ? c->clock_khz : 0; }

extern "C" void pl_cuda_ctx_set_tf32(struct pl_cuda_ctx *c, bool on) {
    if (c) c->tf32 = on;
}

extern "C" pl_status pl_cuda_ctx_sync(struct pl_cuda_ctx *c) {
    unsigned int err = 0;
    if (!c) return PL_ERR(PL_E_INVALID_ARG, "cuda sync: context is NULL");
    if (c->capturing) return PL_ERR(PL_E_INVALID_ARG, "cuda sync: not allowed during capture");
    PL_CUDA_CHECK(cudaSetDevice(c->dev));
    /* everything on the context's own (non-blocking) stream, in order */
    PL_CUDA_CHECK(cudaMemcpyAsync(&err, c->d_err, sizeof err, cudaMemcpyDeviceToHost, c->stream));
    PL_CUDA_CHECK(cudaStreamSynchronize(c->stream));
    if (err) {
        PL_CUDA_CHECK(cudaMemsetAsync(c->d_err, 0, sizeof err, c->stream));
        PL_CUDA_CHECK(cudaStreamSynchronize(c->stream));
        if (err & PL__CUDA_ERR_EMBED_ID)
            return PL_ERR(PL_E_INVALID_ARG, "cuda embed: token id out of range of the vocabulary");
        if (err & PL__CUDA_ERR_GET_ROWS)
            return PL_ERR(PL_E_INVALID_ARG, "cuda get_rows: row index out of range");
        if (err & PL__CUDA_ERR_EMBED_TYPE)
            return PL_ERR(PL_E_INVALID_ARG, "cuda embed: token type id out of range");
        return PL_ERR(PL_E_INVALID_ARG, "cuda embed: position id out of range");
    }
    return PL_OK;
}

/* ---- plain memory ---------------------------------------------------------- */

extern "C" pl_status pl_cuda_malloc(struct pl_cuda_ctx *c, size_t n, void **out) {
    void *p = NULL;
    if (!out) return PL_ERR(PL_E_INVALID_ARG, "cuda malloc: out is NULL");
    *out = NULL;
    if (!c) return PL_ERR(PL_E_INVALID_ARG, "cuda malloc: context is NULL");
    if (n == 0) return PL_ERR(PL_E_INVALID_ARG, "cuda malloc: zero bytes");
    PL_CUDA_CHECK(cudaSetDevice(c->dev));
    cudaError_t e = cudaMalloc(&p, n);
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        return PL_ERR(e == cudaErrorMemoryAllocation ? PL_E_NOMEM : PL_E_BACKEND,
                      "cuda malloc of %zu bytes: %s", n, cudaGetErrorString(e));
    }
    *out = p;
    return PL_OK;
}

extern "C" void pl_cuda_free(struct pl_cuda_ctx *c, void *p) {
    if (!c || !p) return;
    (void)cudaSetDevice(c->dev);
    (void)cudaStreamSynchronize(c->stream);
    if (cudaFree(p) != cudaSuccess) {
        PL_LOGW("cuda free %p: %s", p, cudaGetErrorString(cudaGetLastError()));
    }
}

static pl_status copy_args(struct pl_cuda_ctx *c, const void *dst, const void *src, size_t n,
                           const char *op) {
    if (!c) return PL_ERR(PL_E_INVALID_ARG, "cuda %s: context is NULL", op);
    if (c->capturing && strcmp(op, "memcpy d2d") != 0 && strcmp(op, "memset") != 0)
        return PL_ERR(PL_E_INVALID_ARG, "cuda %s: not allowed during graph capture", op);
    if (n && (!dst || !src)) return PL_ERR(PL_E_INVALID_ARG, "cuda %s: NULL pointer", op);
    PL_CUDA_CHECK(cudaSetDevice(c->dev));
    return PL_OK;
}

extern "C" pl_status pl_cuda_memcpy_h2d(struct pl_cuda_ctx *c, void *dst, const void *src,
                                       size_t n) {
    PL_TRY(copy_args(c, dst, src, n, "memcpy h2d"));
    if (!n) return PL_OK;
    PL_CUDA_CHECK(cudaMemcpyAsync(dst, src, n, cudaMemcpyHostToDevice, c->stream));
    /* pageable source: make sure the caller may reuse it when we return */
    PL_CUDA_CHECK(cudaStreamSynchronize(c->stream));
    return PL_OK;
}

extern "C" pl_status pl_cuda_memcpy_d2h(struct pl_cuda_ctx *c, void *dst, const void *src,
                                       size_t n) {
    PL_TRY(copy_args(c, dst, src, n, "memcpy d2h"));
    if (n) PL_CUDA_CHECK(cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToHost, c->stream));
    return pl_cuda_ctx_sync(c);
}

extern "C" pl_status pl_cuda_memcpy_d2d(struct pl_cuda_ctx *c, void *dst, const void *src,
                                       size_t n) {
    PL_TRY(copy_args(c, dst, src, n, "memcpy d2d"));
    if (n) PL_CUDA_CHECK(cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToDevice, c->stream));
    return PL_OK;
}

extern "C" pl_status pl_cuda_memset(struct pl_cuda_ctx *c, void *dst, int byte, size_t n) {
    PL_TRY(copy_args(c, dst, dst, n, "memset"));
    if (n) PL_CUDA_CHECK(cudaMemsetAsync(dst, byte, n, c->stream));
    return PL_OK;
}

/* ---- pool -------------------------------------------------------------------- */

/* Round up to 256 bytes, the alignment cuBLAS and vector loads like best. */
static size_t pool_round(size_t n) { return (n + 255) & ~(size_t)255; }

extern "C" pl_status pl_cuda_pool_alloc(struct pl_cuda_ctx *c, size_t n, void **out) {
    int best = -1;
    void *p = NULL;

    if (!out) return PL_ERR(PL_E_INVALID_ARG, "cuda pool: out is NULL");
    *out = NULL;
    if (!c) return PL_ERR(PL_E_INVALID_ARG, "cuda pool: context is NULL");
    if (n == 0 || n > ((size_t)1 << 48)) return PL_ERR(PL_E_INVALID_ARG, "cuda pool: bad size %zu", n);
    n = pool_round(n);
    /* best fit among free blocks at most twice the request */
    for (int i = 0; i < c->n_blocks; i++) {
        struct pl__pool_block *b = &c->blocks[i];
        if (b->in_use || b->size < n || b->size / 2 > n) continue;
        if (best < 0 || b->size < c->blocks[best].size) best = i;
    }
    if (best >= 0) {
        c->blocks[best].in_use = true;
        *out = c->blocks[best].ptr;
        return PL_OK;
    }
    if (c->n_blocks == c->cap_blocks) {
        int cap = c->cap_blocks ? c->cap_blocks * 2 : 16;
        struct pl__pool_block *nb = (struct pl__pool_block *)pl_realloc(
            c->blocks, (size_t)cap * sizeof *nb);
        if (!nb) return PL_ERR(PL_E_NOMEM, "cuda pool: out of host memory");
        c->blocks = nb;
        c->cap_blocks = cap;
    }
    if (c->capturing)
        return PL_ERR(PL_E_BACKEND, "cuda pool: needs %zu new bytes during graph capture "
                      "(run the sequence once before capturing)", n);
    PL_TRY(pl_cuda_malloc(c, n, &p));
    c->pool_mallocs++;
    c->blocks[c->n_blocks].ptr = p;
    c->blocks[c->n_blocks].size = n;
    c->blocks[c->n_blocks].in_use = true;
    c->n_blocks++;
    *out = p;
    return PL_OK;
}

extern "C" void pl_cuda_pool_free(struct pl_cuda_ctx *c, void *p) {
    if (!c || !p) return;
    for (int i = 0; i < c->n_blocks; i++) {
        if (c->blocks[i].ptr == p) {
            c->blocks[i].in_use = false;
            return;
        }
    }
    PL_LOGW("cuda pool: free of %p that the pool does not own", p);
}

extern "C" void pl_cuda_pool_trim(struct pl_cuda_ctx *c) {
    int j = 0;
    if (!c) return;
    if (c->n_graphs > 0) {
        PL_LOGW("cuda pool: trim skipped while %d captured graphs may use its blocks",
                c->n_graphs);
        return;
    }
    (void)cudaSetDevice(c->dev);
    (void)cudaStreamSynchronize(c->stream);
    for (int i = 0; i < c->n_blocks; i++) {
        if (c->blocks[i].in_use) {
            c->blocks[j++] = c->blocks[i];
        } else {
            (void)cudaFree(c->blocks[i].ptr);
        }
    }
    c->n_blocks = j;
}

extern "C" void pl_cuda_pool_stats(const struct pl_cuda_ctx *c, struct pl_cuda_pool_stats *out) {
    if (!out) return;
    memset(out, 0, sizeof *out);
    if (!c) return;
    out->device_mallocs = c->pool_mallocs;
    out->blocks = c->n_blocks;
    for (int i = 0; i < c->n_blocks; i++) {
        out->bytes_reserved += (int64_t)c->blocks[i].size;
        if (c->blocks[i].in_use) out->blocks_in_use++;
    }
}
