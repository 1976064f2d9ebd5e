/*
 * bert.h - BERT-family encoders (BERT, RoBERTa, DistilBERT) with their
 * Hugging Face heads, loaded from a model directory:
 *
 *   MODEL_DIR/config.json        Hugging Face config (model_type, sizes,
 *                                architectures, id2label...) plus Parley's
 *                                optional "precision": "f32" | "int8" | "f16" | "bf16"
 *   MODEL_DIR/model.safetensors  weights under Hugging Face names
 *                                (bert.encoder.layer.N.attention.self.query.weight ...;
 *                                DistilBERT and RoBERTa through a rename table)
 *
 * Post-LN transformer layers; Q, K and V run as one GEMM (their weights are
 * concatenated at load). Padded batches are masked. Precision is chosen at
 * load: f32; int8 (per-output-channel int8 encoder weights, dynamic per-row
 * activation quantization); f16 (encoder weights in f16; meant for GPUs);
 * bf16 (encoder weights and, on AVX-512 BF16 CPUs, the GEMMs' activations in
 * bf16 with f32 sums; elsewhere the bf16 weights run through the f32 GEMM;
 * CPU backend only).
 *
 * A struct pl_bert is immutable after load and may be shared by threads; each
 * thread runs forwards through its own struct pl_bert_state, whose workspace
 * is sized at creation for max_batch x max_seq, so forwards allocate nothing.
 * Extra heads (struct pl_bert_heads: an NLU model's intent, slot, punctuation
 * and capitalization heads) run in the encoder's graph on the same backend.
 */
#ifndef PL_BERT_H
#define PL_BERT_H

#include <stdint.h>

#include "backend.h"
#include "status.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

enum pl_bert_arch { PL_BERT_ARCH_BERT = 0, PL_BERT_ARCH_ROBERTA = 1, PL_BERT_ARCH_DISTILBERT = 2 };

enum pl_bert_head {
    PL_BERT_HEAD_NONE = 0,      /* encoder only */
    PL_BERT_HEAD_SEQ_CLS = 1,   /* logits [B, n_labels] */
    PL_BERT_HEAD_TOKEN_CLS = 2, /* logits [B, S, n_labels] */
    PL_BERT_HEAD_QA = 3,        /* start/end logits [B, S, 2] */
    PL_BERT_HEAD_MLM = 4,       /* vocabulary logits [B, S, vocab] */
};

struct pl_bert_config {
    enum pl_bert_arch arch;
    enum pl_bert_head head;
    int vocab_size, hidden, n_layers, n_heads, intermediate;
    int max_positions, type_vocab_size, pad_token_id, n_labels;
    float ln_eps;
    enum pl_act act; /* hidden_act */
};

struct pl_bert_options {
    const char *precision; /* "f32", "int8", "f16", "bf16"; NULL = config.json's, else f32 */
    int max_batch;         /* 0 = 8 */
    int max_seq;           /* 0 = min(512, max_positions - offset) */
    int no_head;           /* 1 = load the encoder only, ignore head weights */
};

struct pl_bert;
struct pl_bert_state;

/* Load model_dir onto backend be (borrowed; must outlive the model).
 * Errors: PL_E_IO (missing files), PL_E_FORMAT (bad config or weights, naming
 * the tensor), PL_E_UNSUPPORTED, PL_E_INVALID_ARG, PL_E_NOMEM.
 * OUT: *out, caller owns; free with pl_bert_destroy(). */
pl_status pl_bert_load(const char *model_dir, struct pl_backend *be,
                       const struct pl_bert_options *opt, struct pl_bert **out);
void pl_bert_destroy(struct pl_bert *m); /* NULL is a no-op; states first */
const struct pl_bert_config *pl_bert_get_config(const struct pl_bert *m); /* borrowed */
const char *pl_bert_precision(const struct pl_bert *m);                   /* static */
int pl_bert_max_batch(const struct pl_bert *m);
int pl_bert_max_seq(const struct pl_bert *m);

/* OUT: *out, caller owns; free with pl_bert_state_destroy(). */
pl_status pl_bert_state_create(struct pl_bert *m, struct pl_bert_state **out);
void pl_bert_state_destroy(struct pl_bert_state *s);

/* Floats in the head output for a batch x seq input (0 without a head). */
int64_t pl_bert_head_size(const struct pl_bert *m, int batch, int seq);

/*
 * Run the encoder (and head) on batch x seq tokens.
 * ids [batch*seq] token ids; type_ids (opt, NULL = 0) token types; mask (opt,
 * NULL = all ones) 1 for real tokens, 0 for padding.
 * hidden (opt): OUT [batch, seq, hidden] last hidden state.
 * head (opt): OUT pl_bert_head_size() floats.
 * Errors: PL_E_INVALID_ARG (batch/seq above the state's maximum or zero, ids
 * out of range), PL_E_BACKEND. Not thread-safe per state.
 */
pl_status pl_bert_forward(struct pl_bert_state *s, int batch, int seq, const int32_t *ids,
                          const int32_t *type_ids, const int32_t *mask, float *hidden, float *head);

/* ---- heads of one's own on the encoder (Parley's NLU exports) --------------------------- */

#define PL_BERT_MAX_HEADS 8

/* What a head reads from the last hidden state. */
enum pl_bert_head_input {
    PL_BERT_HEAD_IN_TOKENS = 0, /* every token: logits [batch, seq, n_labels] */
    PL_BERT_HEAD_IN_CLS = 1,    /* the first token's hidden state: [batch, n_labels] */
    PL_BERT_HEAD_IN_POOLER = 2, /* tanh(pooler.dense(first token)): [batch, n_labels] */
};

struct pl_bert_head_spec {
    /* weights "<prefix>.weight" [n_labels, hidden] and "<prefix>.bias" [n_labels] of
     * model.safetensors (F32, F16 or BF16), names as they are in the file */
    const char *tensor_prefix;
    enum pl_bert_head_input input;
    int n_labels; /* 1..100000 */
};

struct pl_bert_heads;

/*
 * Linear heads over the encoder of m (several at once: e.g. a pooled intent head and a
 * token slot head), loaded from m's model.safetensors onto m's backend as f32; the pooler
 * (<model prefix>pooler.dense) is loaded when a head reads it. m is borrowed and must
 * outlive the heads. The heads object also holds the heads' outputs for m's max_batch x
 * max_seq: one forward at a time per heads object (like a state).
 * Errors: PL_E_INVALID_ARG (n outside 1..PL_BERT_MAX_HEADS, bad spec), PL_E_FORMAT (a
 * tensor missing, of the wrong shape or dtype, or holding a NaN or Inf; named),
 * PL_E_NOMEM, PL_E_BACKEND. OUT: *out, caller owns; free with pl_bert_heads_destroy()
 * before m.
 */
pl_status pl_bert_heads_create(struct pl_bert *m, const struct pl_bert_head_spec *specs, int n,
                               struct pl_bert_heads **out);
void pl_bert_heads_destroy(struct pl_bert_heads *h); /* NULL is a no-op */

/*
 * pl_bert_forward (without hidden and head outputs), then every head of h in the same
 * graph: outs[k] receives head k's logits, [batch, seq, n_labels] for a token head (padded
 * positions included), [batch, n_labels] for the others. s must be a state of h's model.
 * Errors as pl_bert_forward.
 */
pl_status pl_bert_forward_heads(struct pl_bert_state *s, struct pl_bert_heads *h, int batch,
                                int seq, const int32_t *ids, const int32_t *type_ids,
                                const int32_t *mask, float *const *outs);

#ifdef __cplusplus
}
#endif
#endif
