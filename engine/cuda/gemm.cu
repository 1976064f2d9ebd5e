/* gemm.cu - row-major GEMM (plain and strided-batched) and Linear through cuBLAS.
 *
 * cuBLAS is column-major. A row-major [m,n] matrix with leading dimension ld
 * is, read column-major, its transpose [n,m] with the same ld. So the
 * row-major C = op(A) op(B) is computed as the column-major
 * C^T = op(B)^T op(A)^T: swap the operands, swap m and n, keep each
 * operand's transpose flag. */
#include "cuda_impl.h"

static cudaDataType_t blas_type(enum pl_cuda_dtype dt) {
    return dt == PL_CUDA_F16 ? CUDA_R_16F : CUDA_R_32F;
}

static pl_status gemm_check(const struct pl_cuda_gemm *g) {
    const int64_t imax = INT_MAX;
    if (g->ab_type != PL_CUDA_F32 && g->ab_type != PL_CUDA_F16)
        return PL_ERR(PL_E_INVALID_ARG, "cuda gemm: bad A/B dtype %d", (int)g->ab_type);
    if (g->c_type != PL_CUDA_F32 && g->c_type != PL_CUDA_F16)
        return PL_ERR(PL_E_INVALID_ARG, "cuda gemm: bad C dtype %d", (int)g->c_type);
    if (g->ab_type == PL_CUDA_F32 && g->c_type != PL_CUDA_F32)
        return PL_ERR(PL_E_UNSUPPORTED, "cuda gemm: f32 A/B with f16 C is not supported");
    PL_TRY(pl__cuda_check_dim(g->m, imax, "gemm", "m"));
    PL_TRY(pl__cuda_check_dim(g->n, imax, "gemm", "n"));
    PL_TRY(pl__cuda_check_dim(g->k, imax, "gemm", "k"));
    PL_TRY(pl__cuda_check_dim(g->batch, imax, "gemm", "batch"));
    if (!g->a || !g->b || !g->c) return PL_ERR(PL_E_INVALID_ARG, "cuda gemm: NULL matrix");
    if (g->lda < (g->trans_a ? g->m : g->k) || g->lda > imax)
        return PL_ERR(PL_E_INVALID_ARG, "cuda gemm: lda %lld too small for %s A [%lld,%lld]",
                      (long long)g->lda, g->trans_a ? "transposed" : "plain", (long long)g->m,
                      (long long)g->k);
    if (g->ldb < (g->trans_b ? g->k : g->n) || g->ldb > imax)
        return PL_ERR(PL_E_INVALID_ARG, "cuda gemm: ldb %lld too small for %s B [%lld,%lld]",
                      (long long)g->ldb, g->trans_b ? "transposed" : "plain", (long long)g->k,
                      (long long)g->n);
    if (g->ldc < g->n || g->ldc > imax)
        return PL_ERR(PL_E_INVALID_ARG, "cuda gemm: ldc %lld < n %lld", (long long)g->ldc,
                      (long long)g->n);
    if (g->batch > 1 && (g->stride_a < 0 || g->stride_b < 0 || g->stride_c <= 0))
        return PL_ERR(PL_E_INVALID_ARG, "cuda gemm: bad batch strides");
    return PL_OK;
}

extern "C" pl_status pl_cuda_gemm(struct pl_cuda_ctx *ctx, const struct pl_cuda_gemm *g) {
    if (!g) return PL_ERR(PL_E_INVALID_ARG, "cuda gemm: args are NULL");
    PL_TRY(pl__cuda_enter(ctx, g->ab_type, "gemm"));
    PL_TRY(gemm_check(g));

    const cublasOperation_t op_a = g->trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
    const cublasOperation_t op_b = g->trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
    const cudaDataType_t tab = blas_type(g->ab_type), tc = blas_type(g->c_type);
    cublasComputeType_t comp = CUBLAS_COMPUTE_32F;
    if (g->ab_type == PL_CUDA_F32 && ctx->tf32) comp = CUBLAS_COMPUTE_32F_FAST_TF32;
    const float alpha = g->alpha, beta = g->beta;
    const int m = (int)g->m, n = (int)g->n, k = (int)g->k;

    if (g->batch == 1) {
        PL_CUBLAS_CHECK(cublasGemmEx(ctx->blas, op_b, op_a, n, m, k, &alpha, g->b, tab,
                                     (int)g->ldb, g->a, tab, (int)g->lda, &beta, g->c, tc,
                                     (int)g->ldc, comp, CUBLAS_GEMM_DEFAULT));
    } else {
        PL_CUBLAS_CHECK(cublasGemmStridedBatchedEx(
            ctx->blas, op_b, op_a, n, m, k, &alpha, g->b, tab, (int)g->ldb,
            (long long)g->stride_b, g->a, tab, (int)g->lda, (long long)g->stride_a, &beta, g->c,
            tc, (int)g->ldc, (long long)g->stride_c, (int)g->batch, comp, CUBLAS_GEMM_DEFAULT));
    }
    return PL_OK;
}

extern "C" pl_status pl_cuda_linear(struct pl_cuda_ctx *ctx, enum pl_cuda_dtype dt, const void *x,
                                    const void *w, const void *bias, void *y, int64_t m,
                                    int64_t n, int64_t k, enum pl_cuda_act act) {
    struct pl_cuda_gemm g = {};
    PL_TRY(pl__cuda_enter(ctx, dt, "linear"));
    if (y == x || y == w) return PL_ERR(PL_E_INVALID_ARG, "cuda linear: y aliases an input");
    g.ab_type = dt;
    g.c_type = dt;
    g.trans_a = false;
    g.trans_b = true;
    g.m = m;
    g.n = n;
    g.k = k;
    g.batch = 1;
    g.alpha = 1.0f;
    g.beta = 0.0f;
    g.a = x;
    g.lda = k;
    g.b = w;
    g.ldb = k;
    g.c = y;
    g.ldc = n;
    PL_TRY(pl_cuda_gemm(ctx, &g));
    if (bias || act != PL_CUDA_ACT_NONE) PL_TRY(pl_cuda_bias_act(ctx, dt, y, bias, m, n, act));
    return PL_OK;
}
