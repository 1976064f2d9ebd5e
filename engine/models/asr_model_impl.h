/*
 * asr_model_impl.h - private to the ASR acoustic model: the loaded model
 * (asr_model.c) as the states and batches (asr_state.c) read it.
 */
#ifndef PL_ASR_MODEL_IMPL_H
#define PL_ASR_MODEL_IMPL_H

#include "asr_model.h"
#include "backend.h"
#include "tensor.h"

/* One separable convolution: depthwise (no bias) then pointwise with bias. */
struct pl__asr_sep {
    int cin, cout, k, s, d, span, left, right; /* span = d (k-1) = left + right */
    struct pl_tensor *dw;                      /* [k, cin]: PyTorch's [cin, 1, k] transposed */
    struct pl_tensor *pw;                      /* [cout, cin] */
    struct pl_tensor *pb;                      /* [cout] */
};

/* A residual block: its sub-blocks are seps[first .. first+n). */
struct pl__asr_block {
    int first, n, cin, c;
    struct pl_tensor *rw; /* residual 1x1 [c, cin] */
    struct pl_tensor *rb; /* [c] */
};

struct pl_asr_model {
    struct pl_asr_model_config cfg;
    char device[32];        /* what the states' and batches' backends are made from */
    struct pl_backend *be;  /* owns the weights and allocates the states' buffers */
    struct pl_ctx *wctx;    /* weight tensors */
    struct pl_buffer *wbuf; /* every weight, f32, plus `zeros` */
    struct pl_tensor *zeros; /* [zero_rows * max_channels] zeros: padding rows come from here */
    int zero_rows;
    int n_seps, cap_seps, n_blocks;
    struct pl__asr_sep *seps; /* prologue, the blocks' sub-blocks in order, epilogue */
    struct pl__asr_block *blocks;
    int dec_c;
    struct pl_tensor *dec_w, *dec_b; /* [V, dec_c], [V] */
    char **vocab;
};

#endif
