/*
 * bert.c - BERT / RoBERTa / DistilBERT encoders and heads (see bert.h).
 *
 * Loading: config.json -> struct pl_bert_config; model.safetensors is
 * mapped once. On a host backend, f32 weights that need no transformation
 * are used in place (zero-copy tensors placed in a buffer that wraps the
 * mapping); everything else (QKV concatenation, dtype conversion, int8
 * quantization, device backends) gets its own backend buffer at load.
 *
 * Memory plan: a state owns one workspace buffer with a fixed slot per
 * activation (hidden, qkv, attention context, FFN ...) sized for max_batch x
 * max_seq. A forward resets the state's tensor context and graph, builds the
 * graph for the actual batch x seq and places every node in its slot: no
 * allocation after state creation.
 */
#include "bert.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "log.h"
#include "safetensors.h"

enum wprec { W_F32, W_F16, W_I8, W_BF16 };

struct bert_layer {
    struct pl_tensor *qkv_w, *qkv_s, *qkv_b, *o_w, *o_s, *o_b, *ln1_g, *ln1_b;
    struct pl_tensor *f1_w, *f1_s, *f1_b, *f2_w, *f2_s, *f2_b, *ln2_g, *ln2_b;
};

struct pl_bert {
    struct pl_bert_config cfg;
    struct pl_backend *be;
    struct pl_safetensors *st;
    struct pl_buffer *file_buf; /* wraps the mapping (host backends), else NULL */
    const unsigned char *file_base;
    struct pl_ctx *wctx;
    struct pl_buffer **bufs;
    int n_bufs, cap_bufs;
    enum wprec prec;
    int max_batch, max_seq, pos_offset, pad_pos;
    const char *prefix; /* "bert.", "roberta.", "distilbert." or "" */
    struct bert_layer *layers;
    struct pl_tensor *word, *pos, *type, *emb_g, *emb_b;
    struct pl_tensor *pool_w, *pool_b, *cls_w, *cls_b; /* heads */
    enum pl_act pool_act;
    struct pl_tensor *mlm_w, *mlm_b, *mlm_g, *mlm_beta, *mlm_dec_w, *mlm_dec_b;
};

/* ---- config ------------------------------------------------------------------ */

static int jint(json_t *o, const char *k, int def) {
    json_t *v = json_object_get(o, k);
    return json_is_integer(v) ? (int)json_integer_value(v) : def;
}

static pl_status parse_act(const char *s, enum pl_act *out) {
    if (!s || !strcmp(s, "gelu")) *out = PL_ACT_GELU_ERF;
    else if (!strcmp(s, "gelu_new") || !strcmp(s, "gelu_pytorch_tanh") || !strcmp(s, "gelu_fast"))
        *out = PL_ACT_GELU_TANH;
    else if (!strcmp(s, "relu")) *out = PL_ACT_RELU;
    else return PL_ERR(PL_E_UNSUPPORTED, "config.json: hidden_act '%s'", s);
    return PL_OK;
}

static pl_status parse_config(const char *dir, struct pl_bert_config *c, char *prec, size_t prec_n) {
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (!root) return PL_ERR(PL_E_IO, "%s: %s (line %d)", path, jerr.text, jerr.line);
    pl_status st = PL_OK;
    if (!json_is_object(root)) {
        st = PL_ERR(PL_E_FORMAT, "%s: not a JSON object", path);
        goto fail;
    }
    const char *mt = json_string_value(json_object_get(root, "model_type"));
    memset(c, 0, sizeof *c);
    if (!mt || !strcmp(mt, "bert")) c->arch = PL_BERT_ARCH_BERT;
    else if (!strcmp(mt, "roberta") || !strcmp(mt, "xlm-roberta")) c->arch = PL_BERT_ARCH_ROBERTA;
    else if (!strcmp(mt, "distilbert")) c->arch = PL_BERT_ARCH_DISTILBERT;
    else {
        st = PL_ERR(PL_E_UNSUPPORTED, "%s: model_type '%s' is not BERT-family", path, mt);
        goto fail;
    }
    bool distil = c->arch == PL_BERT_ARCH_DISTILBERT;
    c->vocab_size = jint(root, "vocab_size", 0);
    c->hidden = jint(root, distil ? "dim" : "hidden_size", 0);
    c->n_layers = jint(root, distil ? "n_layers" : "num_hidden_layers", 0);
    c->n_heads = jint(root, distil ? "n_heads" : "num_attention_heads", 0);
    c->intermediate = jint(root, distil ? "hidden_dim" : "intermediate_size", 0);
    c->max_positions = jint(root, "max_position_embeddings", 512);
    c->type_vocab_size = distil ? 0 : jint(root, "type_vocab_size", 2);
    c->pad_token_id = jint(root, "pad_token_id", c->arch == PL_BERT_ARCH_ROBERTA ? 1 : 0);
    json_t *eps = json_object_get(root, "layer_norm_eps");
    c->ln_eps = json_is_number(eps) ? (float)json_number_value(eps) : 1e-12f;
    st = parse_act(json_string_value(json_object_get(root, distil ? "activation" : "hidden_act")), &c->act);
    if (st != PL_OK) goto fail;
    json_t *labels = json_object_get(root, "id2label");
    c->n_labels = json_is_object(labels) ? (int)json_object_size(labels) : jint(root, "num_labels", 2);
    const char *arch = json_string_value(json_array_get(json_object_get(root, "architectures"), 0));
    c->head = PL_BERT_HEAD_NONE;
    if (arch) {
        if (strstr(arch, "ForSequenceClassification")) c->head = PL_BERT_HEAD_SEQ_CLS;
        else if (strstr(arch, "ForTokenClassification")) c->head = PL_BERT_HEAD_TOKEN_CLS;
        else if (strstr(arch, "ForQuestionAnswering")) c->head = PL_BERT_HEAD_QA;
        else if (strstr(arch, "ForMaskedLM") || strstr(arch, "ForPreTraining")) c->head = PL_BERT_HEAD_MLM;
    }
    if (c->head == PL_BERT_HEAD_QA) c->n_labels = 2;
    const char *p = json_string_value(json_object_get(root, "precision"));
    snprintf(prec, prec_n, "%s", p ? p : "");
    if (c->vocab_size <= 0 || c->hidden <= 0 || c->n_layers <= 0 || c->n_heads <= 0 ||
        c->intermediate <= 0 || c->hidden % c->n_heads || c->max_positions <= 0 ||
        c->vocab_size > (1 << 24) || c->hidden > 65536 || c->n_layers > 1000 ||
        c->intermediate > (1 << 20) || c->n_labels <= 0 || c->n_labels > 100000 ||
        c->type_vocab_size < 0 || c->pad_token_id < 0 || !(c->ln_eps >= 0)) {
        st = PL_ERR(PL_E_FORMAT, "%s: sizes missing or out of range (vocab %d, hidden %d, layers %d, "
                                 "heads %d, intermediate %d)",
                    path, c->vocab_size, c->hidden, c->n_layers, c->n_heads, c->intermediate);
        goto fail;
    }
fail:
    json_decref(root);
    return st;
}

/* ---- weights -------------------------------------------------------------------- */

static pl_status keep_buffer(struct pl_bert *m, struct pl_buffer *b) {
    if (m->n_bufs == m->cap_bufs) {
        int cap = m->cap_bufs ? m->cap_bufs * 2 : 64;
        struct pl_buffer **nb = pl_realloc(m->bufs, (size_t)cap * sizeof *nb);
        if (!nb) {
            pl_buffer_free(b);
            return PL_ERR(PL_E_NOMEM, "bert: out of memory");
        }
        m->bufs = nb;
        m->cap_bufs = cap;
    }
    m->bufs[m->n_bufs++] = b;
    return PL_OK;
}

/* Canonical name -> file entry, trying the architecture prefix, then none. */
static const struct pl_st_entry *find(const struct pl_bert *m, const char *name) {
    char full[256];
    snprintf(full, sizeof full, "%s%s", m->prefix, name);
    const struct pl_st_entry *e = pl_safetensors_find(m->st, full);
    return e ? e : pl_safetensors_find(m->st, name);
}

static pl_status check_entry(const struct pl_st_entry *e, const char *name, int nd, const int64_t *shape) {
    if (!e) return PL_ERR(PL_E_FORMAT, "model.safetensors: tensor %s is missing", name);
    if (e->dtype != PL_DTYPE_F32 && e->dtype != PL_DTYPE_F16 && e->dtype != PL_DTYPE_BF16)
        return PL_ERR(PL_E_FORMAT, "model.safetensors: tensor %s has dtype %s (want F32/F16/BF16)",
                      e->name, e->dtype_str);
    bool ok = e->n_dims == nd;
    for (int i = 0; ok && i < nd; i++) ok = e->shape[i] == shape[i];
    if (!ok)
        return PL_ERR(PL_E_FORMAT, "model.safetensors: tensor %s has shape [%lld, %lld] (%d dims), want [%lld, %lld]",
                      e->name, (long long)e->shape[0], (long long)(e->n_dims > 1 ? e->shape[1] : 0),
                      e->n_dims, (long long)shape[0], (long long)(nd > 1 ? shape[1] : 0));
    return PL_OK;
}

/* Make a weight tensor from host f32 data in precision p (i8 also makes the
 * per-row scale tensor). */
static pl_status upload(struct pl_bert *m, const char *label, const float *host, int nd,
                        const int64_t *shape, enum wprec p, struct pl_tensor **t, struct pl_tensor **scale) {
    pl_status st = PL_OK;
    void *tmp = NULL;
    struct pl_buffer *buf = NULL;
    enum pl_dtype dt = p == W_I8    ? PL_DTYPE_I8
                       : p == W_F16  ? PL_DTYPE_F16
                       : p == W_BF16 ? PL_DTYPE_BF16
                                     : PL_DTYPE_F32;
    PL_TRY(pl_tensor_new(m->wctx, dt, nd, shape, t));
    pl_tensor_set_name(*t, label);
    int64_t n = pl_tensor_nelements(*t), rows = shape[0], cols = n / (rows ? rows : 1);
    size_t nb = pl_tensor_nbytes(*t), sb = p == W_I8 ? (size_t)rows * sizeof(float) : 0;
    size_t soff = (nb + 63) & ~(size_t)63;
    PL_TRY_GOTO(st, pl_backend_buffer_alloc(m->be, soff + sb, &buf));
    PL_TRY_GOTO(st, pl_tensor_place(*t, buf, 0));
    if (p == W_F32) {
        PL_TRY_GOTO(st, pl_backend_tensor_set(m->be, *t, host, 0, nb));
    } else {
        tmp = pl_malloc(nb + sb + 1);
        if (!tmp) {
            st = PL_ERR(PL_E_NOMEM, "bert: out of memory converting %s", label);
            goto fail;
        }
        if (p == W_F16) {
            for (int64_t i = 0; i < n; i++) ((uint16_t *)tmp)[i] = pl_f32_to_f16(host[i]);
        } else if (p == W_BF16) {
            for (int64_t i = 0; i < n; i++) ((uint16_t *)tmp)[i] = pl_f32_to_bf16(host[i]);
        } else {
            float *scales = (float *)((char *)tmp + nb);
            for (int64_t r = 0; r < rows; r++) {
                float amax = 0;
                for (int64_t c = 0; c < cols; c++) amax = fmaxf(amax, fabsf(host[r * cols + c]));
                float inv = amax > 0 ? 127.0f / amax : 0.0f;
                scales[r] = amax / 127.0f;
                for (int64_t c = 0; c < cols; c++) {
                    float v = nearbyintf(host[r * cols + c] * inv);
                    ((int8_t *)tmp)[r * cols + c] = (int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
                }
            }
            PL_TRY_GOTO(st, pl_tensor_new_1d(m->wctx, PL_DTYPE_F32, rows, scale));
            PL_TRY_GOTO(st, pl_tensor_place(*scale, buf, soff));
            PL_TRY_GOTO(st, pl_backend_tensor_set(m->be, *scale, scales, 0, sb));
        }
        PL_TRY_GOTO(st, pl_backend_tensor_set(m->be, *t, tmp, 0, nb));
    }
    pl_free(tmp);
    return keep_buffer(m, buf);
fail:
    pl_free(tmp);
    pl_buffer_free(buf);
    return st;
}

/* Load one f32 tensor by canonical name: zero-copy when possible. */
static pl_status load_f32(struct pl_bert *m, const char *name, int nd, const int64_t *shape,
                          struct pl_tensor **out) {
    const struct pl_st_entry *e = find(m, name);
    PL_TRY(check_entry(e, name, nd, shape));
    size_t off = (size_t)((const unsigned char *)e->data - m->file_base);
    if (m->file_buf && e->dtype == PL_DTYPE_F32 && off % 4 == 0) {
        PL_TRY(pl_tensor_new(m->wctx, PL_DTYPE_F32, nd, shape, out));
        pl_tensor_set_name(*out, e->name);
        return pl_tensor_place(*out, m->file_buf, off);
    }
    float *host = pl_malloc(e->nbytes / pl_dtype_size(e->dtype) * sizeof(float) + 1);
    if (!host) return PL_ERR(PL_E_NOMEM, "bert: out of memory loading %s", e->name);
    pl_st_entry_to_f32(e, host);
    pl_status st = upload(m, e->name, host, nd, shape, W_F32, out, NULL);
    pl_free(host);
    return st;
}

/* On a CPU backend, a copy of f32 weight w in the packed GEMM layout (kept
 * with the model's buffers; other backends and families: nothing). */
static pl_status pack_weight(struct pl_bert *m, struct pl_tensor *w) {
    if (strcmp(pl_backend_name(m->be), "cpu") != 0) return PL_OK;
    struct pl_buffer *buf;
    PL_TRY(pl_backend_cpu_pack_weight(m->be, w, &buf));
    return buf ? keep_buffer(m, buf) : PL_OK;
}

/* A Linear layer: weight(s) [out, in] (several are concatenated along out)
 * and bias(es), in precision p. */
static pl_status load_linear(struct pl_bert *m, const char *const *names, int n_parts, int64_t out_each,
                             int64_t in, enum wprec p, struct pl_tensor **w, struct pl_tensor **s,
                             struct pl_tensor **b) {
    char nm[256];
    *s = NULL;
    if (n_parts == 1 && p == W_F32) {
        snprintf(nm, sizeof nm, "%s.weight", names[0]);
        PL_TRY(load_f32(m, nm, 2, (int64_t[]){out_each, in}, w));
        snprintf(nm, sizeof nm, "%s.bias", names[0]);
        return load_f32(m, nm, 1, (int64_t[]){out_each}, b);
    }
    pl_status st = PL_OK;
    int64_t out = out_each * n_parts;
    float *hw = pl_malloc((size_t)(out * in) * sizeof(float) + 1);
    float *hb = pl_malloc((size_t)out * sizeof(float) + 1);
    if (!hw || !hb) {
        st = PL_ERR(PL_E_NOMEM, "bert: out of memory loading %s", names[0]);
        goto fail;
    }
    for (int i = 0; i < n_parts; i++) {
        snprintf(nm, sizeof nm, "%s.weight", names[i]);
        const struct pl_st_entry *e = find(m, nm);
        PL_TRY_GOTO(st, check_entry(e, nm, 2, (int64_t[]){out_each, in}));
        pl_st_entry_to_f32(e, hw + i * out_each * in);
        snprintf(nm, sizeof nm, "%s.bias", names[i]);
        e = find(m, nm);
        PL_TRY_GOTO(st, check_entry(e, nm, 1, (int64_t[]){out_each}));
        pl_st_entry_to_f32(e, hb + i * out_each);
    }
    PL_TRY_GOTO(st, upload(m, names[0], hw, 2, (int64_t[]){out, in}, p, w, s));
    PL_TRY_GOTO(st, upload(m, names[0], hb, 1, (int64_t[]){out}, W_F32, b, NULL));
fail:
    pl_free(hw);
    pl_free(hb);
    return st;
}

static pl_status load_ln(struct pl_bert *m, const char *name, struct pl_tensor **g, struct pl_tensor **b) {
    char nm[256];
    int64_t h = m->cfg.hidden;
    snprintf(nm, sizeof nm, "%s.weight", name);
    PL_TRY(load_f32(m, nm, 1, &h, g));
    snprintf(nm, sizeof nm, "%s.bias", name);
    return load_f32(m, nm, 1, &h, b);
}

/* Rename table: canonical parts of layer i per architecture. */
struct names {
    const char *q, *k, *v, *o, *ln1, *f1, *f2, *ln2;
};
static const struct names bert_names = {"attention.self.query",  "attention.self.key",
                                        "attention.self.value",  "attention.output.dense",
                                        "attention.output.LayerNorm", "intermediate.dense",
                                        "output.dense",          "output.LayerNorm"};
static const struct names distil_names = {"attention.q_lin", "attention.k_lin", "attention.v_lin",
                                          "attention.out_lin", "sa_layer_norm", "ffn.lin1",
                                          "ffn.lin2",          "output_layer_norm"};

static pl_status load_layers(struct pl_bert *m) {
    const struct pl_bert_config *c = &m->cfg;
    bool distil = c->arch == PL_BERT_ARCH_DISTILBERT;
    const struct names *nm = distil ? &distil_names : &bert_names;
    const char *base = distil ? "transformer.layer" : "encoder.layer";
    int64_t h = c->hidden, in = c->intermediate;
    for (int i = 0; i < c->n_layers; i++) {
        struct bert_layer *L = &m->layers[i];
        char q[160], k[160], v[160], o[160], ln1[160], f1[160], f2[160], ln2[160];
        snprintf(q, sizeof q, "%s.%d.%s", base, i, nm->q);
        snprintf(k, sizeof k, "%s.%d.%s", base, i, nm->k);
        snprintf(v, sizeof v, "%s.%d.%s", base, i, nm->v);
        snprintf(o, sizeof o, "%s.%d.%s", base, i, nm->o);
        snprintf(ln1, sizeof ln1, "%s.%d.%s", base, i, nm->ln1);
        snprintf(f1, sizeof f1, "%s.%d.%s", base, i, nm->f1);
        snprintf(f2, sizeof f2, "%s.%d.%s", base, i, nm->f2);
        snprintf(ln2, sizeof ln2, "%s.%d.%s", base, i, nm->ln2);
        const char *qkv[3] = {q, k, v}, *one[1];
        PL_TRY(load_linear(m, qkv, 3, h, h, m->prec, &L->qkv_w, &L->qkv_s, &L->qkv_b));
        one[0] = o;
        PL_TRY(load_linear(m, one, 1, h, h, m->prec, &L->o_w, &L->o_s, &L->o_b));
        PL_TRY(load_ln(m, ln1, &L->ln1_g, &L->ln1_b));
        one[0] = f1;
        PL_TRY(load_linear(m, one, 1, in, h, m->prec, &L->f1_w, &L->f1_s, &L->f1_b));
        one[0] = f2;
        PL_TRY(load_linear(m, one, 1, h, in, m->prec, &L->f2_w, &L->f2_s, &L->f2_b));
        PL_TRY(load_ln(m, ln2, &L->ln2_g, &L->ln2_b));
        if (m->prec != W_F16) { /* the encoder's GEMMs; heads keep the plain kernels */
            PL_TRY(pack_weight(m, L->qkv_w));
            PL_TRY(pack_weight(m, L->o_w));
            PL_TRY(pack_weight(m, L->f1_w));
            PL_TRY(pack_weight(m, L->f2_w));
        }
    }
    return PL_OK;
}

/* Heads stay f32: they are small next to the encoder. */
static pl_status load_head(struct pl_bert *m) {
    struct pl_bert_config *c = &m->cfg;
    int64_t h = c->hidden, nl = c->n_labels;
    const char *saved = m->prefix;
    pl_status st = PL_OK;
    struct pl_tensor *s;
    m->prefix = ""; /* head names carry no model prefix */
    switch (c->head) {
    case PL_BERT_HEAD_SEQ_CLS:
        if (c->arch == PL_BERT_ARCH_BERT) {
            m->prefix = "bert.";
            PL_TRY_GOTO(st, load_linear(m, (const char *[]){"pooler.dense"}, 1, h, h, W_F32, &m->pool_w, &s, &m->pool_b));
            m->prefix = "";
            m->pool_act = PL_ACT_TANH;
            PL_TRY_GOTO(st, load_linear(m, (const char *[]){"classifier"}, 1, nl, h, W_F32, &m->cls_w, &s, &m->cls_b));
        } else if (c->arch == PL_BERT_ARCH_ROBERTA) {
            m->pool_act = PL_ACT_TANH;
            PL_TRY_GOTO(st, load_linear(m, (const char *[]){"classifier.dense"}, 1, h, h, W_F32, &m->pool_w, &s, &m->pool_b));
            PL_TRY_GOTO(st, load_linear(m, (const char *[]){"classifier.out_proj"}, 1, nl, h, W_F32, &m->cls_w, &s, &m->cls_b));
        } else {
            m->pool_act = PL_ACT_RELU;
            PL_TRY_GOTO(st, load_linear(m, (const char *[]){"pre_classifier"}, 1, h, h, W_F32, &m->pool_w, &s, &m->pool_b));
            PL_TRY_GOTO(st, load_linear(m, (const char *[]){"classifier"}, 1, nl, h, W_F32, &m->cls_w, &s, &m->cls_b));
        }
        break;
    case PL_BERT_HEAD_TOKEN_CLS:
        PL_TRY_GOTO(st, load_linear(m, (const char *[]){"classifier"}, 1, nl, h, W_F32, &m->cls_w, &s, &m->cls_b));
        break;
    case PL_BERT_HEAD_QA:
        PL_TRY_GOTO(st, load_linear(m, (const char *[]){"qa_outputs"}, 1, 2, h, W_F32, &m->cls_w, &s, &m->cls_b));
        break;
    case PL_BERT_HEAD_MLM: {
        const char *tr, *ln, *dec, *bias;
        if (c->arch == PL_BERT_ARCH_BERT) {
            tr = "cls.predictions.transform.dense";
            ln = "cls.predictions.transform.LayerNorm";
            dec = "cls.predictions.decoder.weight";
            bias = "cls.predictions.bias";
        } else if (c->arch == PL_BERT_ARCH_ROBERTA) {
            tr = "lm_head.dense";
            ln = "lm_head.layer_norm";
            dec = "lm_head.decoder.weight";
            bias = "lm_head.bias";
        } else {
            tr = "vocab_transform";
            ln = "vocab_layer_norm";
            dec = "vocab_projector.weight";
            bias = "vocab_projector.bias";
        }
        PL_TRY_GOTO(st, load_linear(m, (const char *[]){tr}, 1, h, h, W_F32, &m->mlm_w, &s, &m->mlm_b));
        PL_TRY_GOTO(st, load_ln(m, ln, &m->mlm_g, &m->mlm_beta));
        int64_t v = c->vocab_size;
        if (pl_safetensors_find(m->st, dec)) /* else tied to the word embeddings */
            PL_TRY_GOTO(st, load_f32(m, dec, 2, (int64_t[]){v, h}, &m->mlm_dec_w));
        else
            m->mlm_dec_w = m->word;
        PL_TRY_GOTO(st, load_f32(m, bias, 1, &v, &m->mlm_dec_b));
        break;
    }
    default: break;
    }
fail:
    m->prefix = saved;
    return st;
}

static pl_status load_weights(struct pl_bert *m) {
    const struct pl_bert_config *c = &m->cfg;
    int64_t h = c->hidden;
    static const char *prefixes[] = {"bert.", "roberta.", "distilbert."};
    m->prefix = prefixes[c->arch];
    if (!find(m, "embeddings.word_embeddings.weight"))
        return PL_ERR(PL_E_FORMAT, "model.safetensors: tensor %sembeddings.word_embeddings.weight is missing",
                      m->prefix);
    PL_TRY(load_f32(m, "embeddings.word_embeddings.weight", 2, (int64_t[]){c->vocab_size, h}, &m->word));
    PL_TRY(load_f32(m, "embeddings.position_embeddings.weight", 2, (int64_t[]){c->max_positions, h}, &m->pos));
    if (c->type_vocab_size > 0)
        PL_TRY(load_f32(m, "embeddings.token_type_embeddings.weight", 2,
                        (int64_t[]){c->type_vocab_size, h}, &m->type));
    PL_TRY(load_ln(m, "embeddings.LayerNorm", &m->emb_g, &m->emb_b));
    PL_TRY(load_layers(m));
    return load_head(m);
}

pl_status pl_bert_load(const char *model_dir, struct pl_backend *be,
                       const struct pl_bert_options *opt, struct pl_bert **out) {
    *out = NULL;
    static const struct pl_bert_options defaults = {0};
    if (!opt) opt = &defaults;
    pl_status st = PL_OK;
    struct pl_bert *m = pl_calloc(1, sizeof *m);
    if (!m) return PL_ERR(PL_E_NOMEM, "bert: out of memory");
    m->be = be;
    char prec[32];
    PL_TRY_GOTO(st, parse_config(model_dir, &m->cfg, prec, sizeof prec));
    if (opt->no_head) m->cfg.head = PL_BERT_HEAD_NONE;
    const char *p = opt->precision && *opt->precision ? opt->precision : prec[0] ? prec : "f32";
    if (!strcmp(p, "f32")) m->prec = W_F32;
    else if (!strcmp(p, "int8")) m->prec = W_I8;
    else if (!strcmp(p, "f16")) m->prec = W_F16;
    else if (!strcmp(p, "bf16")) m->prec = W_BF16;
    else {
        st = PL_ERR(PL_E_INVALID_ARG, "bert: precision '%s' (f32, int8, f16, bf16)", p);
        goto fail;
    }
    if (m->prec == W_BF16 && strncmp(pl_backend_name(be), "cpu", 3) != 0) { /* cpu, cpu-ref */
        st = PL_ERR(PL_E_INVALID_ARG, "bert: precision 'bf16' runs on the CPU backend (on %s: f16)",
                    pl_backend_name(be));
        goto fail;
    }
    if (m->cfg.arch == PL_BERT_ARCH_ROBERTA) {
        m->pos_offset = m->cfg.pad_token_id + 1;
        m->pad_pos = m->cfg.pad_token_id;
    }
    int limit = m->cfg.max_positions - m->pos_offset;
    if (limit > 512) limit = 512;
    if (limit <= 0 || m->pad_pos >= m->cfg.max_positions) {
        st = PL_ERR(PL_E_FORMAT, "bert: %d position embeddings leave no room for tokens", m->cfg.max_positions);
        goto fail;
    }
    m->max_seq = opt->max_seq > 0 ? opt->max_seq : limit;
    m->max_batch = opt->max_batch > 0 ? opt->max_batch : 8;
    if (m->max_seq > limit || m->max_batch > 4096) {
        st = PL_ERR(PL_E_INVALID_ARG, "bert: max_seq %d > %d positions or max_batch %d too large",
                    m->max_seq, limit, m->max_batch);
        goto fail;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors", model_dir);
    PL_TRY_GOTO(st, pl_safetensors_open(path, &m->st));
    if (pl_safetensors_count(m->st) > 0) {
        const struct pl_st_entry *e0 = pl_safetensors_at(m->st, 0);
        m->file_base = (const unsigned char *)e0->data - e0->offset;
        if (pl_backend_is_host(be)) {
            const struct pl_st_entry *last = pl_safetensors_at(m->st, pl_safetensors_count(m->st) - 1);
            PL_TRY_GOTO(st, pl_backend_buffer_from_host(be, (void *)m->file_base,
                                                        last->offset + last->nbytes, &m->file_buf));
        }
    }
    m->layers = pl_calloc((size_t)m->cfg.n_layers, sizeof *m->layers);
    PL_TRY_GOTO(st, m->layers ? PL_OK : PL_ERR(PL_E_NOMEM, "bert: out of memory"));
    PL_TRY_GOTO(st, pl_ctx_create(40 * m->cfg.n_layers + 64, &m->wctx));
    PL_TRY_GOTO(st, load_weights(m));
    PL_LOGI("bert: loaded %s (%d layers x %d, %s, head %d) on %s", model_dir, m->cfg.n_layers,
            m->cfg.hidden, pl_bert_precision(m), m->cfg.head, pl_backend_name(be));
    *out = m;
    return PL_OK;
fail:
    pl_bert_destroy(m);
    return st;
}

void pl_bert_destroy(struct pl_bert *m) {
    if (!m) return;
    for (int i = 0; i < m->n_bufs; i++) pl_buffer_free(m->bufs[i]);
    pl_free(m->bufs);
    pl_buffer_free(m->file_buf);
    pl_safetensors_close(m->st);
    pl_ctx_destroy(m->wctx);
    pl_free(m->layers);
    pl_free(m);
}

const struct pl_bert_config *pl_bert_get_config(const struct pl_bert *m) { return &m->cfg; }
const char *pl_bert_precision(const struct pl_bert *m) {
    return m->prec == W_I8 ? "int8" : m->prec == W_F16 ? "f16" : m->prec == W_BF16 ? "bf16" : "f32";
}
int pl_bert_max_batch(const struct pl_bert *m) { return m->max_batch; }
int pl_bert_max_seq(const struct pl_bert *m) { return m->max_seq; }

int64_t pl_bert_head_size(const struct pl_bert *m, int batch, int seq) {
    int64_t t = (int64_t)batch * seq;
    switch (m->cfg.head) {
    case PL_BERT_HEAD_SEQ_CLS: return (int64_t)batch * m->cfg.n_labels;
    case PL_BERT_HEAD_TOKEN_CLS: return t * m->cfg.n_labels;
    case PL_BERT_HEAD_QA: return t * 2;
    case PL_BERT_HEAD_MLM: return t * m->cfg.vocab_size;
    default: return 0;
    }
}

/* ---- states and forward ---------------------------------------------------------- */

enum slot { S_X, S_QKV, S_CTX, S_AO, S_X1, S_FFN, S_FO, S_IDS, S_TT, S_MASK, S_CLS, S_POOL1, S_POOL2, S_HEAD, S_COUNT };

struct pl_bert_state {
    struct pl_bert *m;
    struct pl_ctx *ctx;
    struct pl_graph *g;
    struct pl_buffer *ws;
    size_t off[S_COUNT];
};

pl_status pl_bert_state_create(struct pl_bert *m, struct pl_bert_state **out) {
    *out = NULL;
    pl_status st = PL_OK;
    struct pl_bert_state *s = pl_calloc(1, sizeof *s);
    if (!s) return PL_ERR(PL_E_NOMEM, "bert state: out of memory");
    s->m = m;
    const struct pl_bert_config *c = &m->cfg;
    size_t t = (size_t)m->max_batch * m->max_seq, b = (size_t)m->max_batch, h = (size_t)c->hidden;
    size_t sizes[S_COUNT] = {
        [S_X] = t * h * 4,     [S_QKV] = t * 3 * h * 4, [S_CTX] = t * h * 4,
        [S_AO] = t * h * 4,    [S_X1] = t * h * 4,      [S_FFN] = t * (size_t)c->intermediate * 4,
        [S_FO] = t * h * 4,    [S_IDS] = t * 4,         [S_TT] = t * 4,
        [S_MASK] = t * 4,      [S_CLS] = b * 4,         [S_POOL1] = b * h * 4,
        [S_POOL2] = b * h * 4, [S_HEAD] = (size_t)pl_bert_head_size(m, m->max_batch, m->max_seq) * 4,
    };
    size_t total = 0;
    for (int i = 0; i < S_COUNT; i++) {
        s->off[i] = total;
        total += (sizes[i] + 63) & ~(size_t)63;
    }
    PL_TRY_GOTO(st, pl_backend_buffer_alloc(m->be, total, &s->ws));
    PL_TRY_GOTO(st, pl_ctx_create(16 * c->n_layers + 64, &s->ctx));
    PL_TRY_GOTO(st, pl_graph_create(16 * c->n_layers + 64, &s->g));
    *out = s;
    return PL_OK;
fail:
    pl_bert_state_destroy(s);
    return st;
}

void pl_bert_state_destroy(struct pl_bert_state *s) {
    if (!s) return;
    pl_buffer_free(s->ws);
    pl_ctx_destroy(s->ctx);
    pl_graph_destroy(s->g);
    pl_free(s);
}

/* Add op tensor t to the graph, placed in slot. */
static pl_status node(struct pl_bert_state *s, struct pl_tensor *t, enum slot slot) {
    PL_TRY(pl_tensor_place(t, s->ws, s->off[slot]));
    return pl_graph_add(s->g, t);
}

static pl_status build(struct pl_bert_state *s, int batch, int seq, struct pl_tensor *ids,
                       struct pl_tensor *tt, struct pl_tensor *mask, struct pl_tensor *cls,
                       struct pl_tensor **hidden, struct pl_tensor **head) {
    struct pl_bert *m = s->m;
    const struct pl_bert_config *c = &m->cfg;
    struct pl_ctx *ctx = s->ctx;
    struct pl_tensor *x, *qkv, *att, *ao, *x1, *f, *fo;
    struct pl_embed_args e = {.ids = ids, .word = m->word, .pos = m->pos, .type = m->type,
                              .type_ids = m->type ? tt : NULL, .gamma = m->emb_g, .beta = m->emb_b,
                              .mask = m->pos_offset ? mask : NULL, .eps = c->ln_eps,
                              .pos_offset = m->pos_offset, .pad_pos = m->pad_pos};
    PL_TRY(pl_op_embed(ctx, &e, &x));
    PL_TRY(node(s, x, S_X));
    float scale = 1.0f / sqrtf((float)(c->hidden / c->n_heads));
    for (int l = 0; l < c->n_layers; l++) {
        const struct bert_layer *L = &m->layers[l];
        PL_TRY(pl_op_linear(ctx, x, L->qkv_w, L->qkv_s, L->qkv_b, PL_ACT_NONE, &qkv));
        PL_TRY(node(s, qkv, S_QKV));
        PL_TRY(pl_op_attention(ctx, qkv, mask, c->n_heads, scale, &att));
        if (m->prec == W_BF16) PL_TRY(pl_op_attention_prec(att, PL_ATT_BF16));
        PL_TRY(node(s, att, S_CTX));
        PL_TRY(pl_op_linear(ctx, att, L->o_w, L->o_s, L->o_b, PL_ACT_NONE, &ao));
        PL_TRY(node(s, ao, S_AO));
        PL_TRY(pl_op_layer_norm(ctx, ao, x, L->ln1_g, L->ln1_b, c->ln_eps, &x1));
        PL_TRY(node(s, x1, S_X1));
        PL_TRY(pl_op_linear(ctx, x1, L->f1_w, L->f1_s, L->f1_b, c->act, &f));
        PL_TRY(node(s, f, S_FFN));
        PL_TRY(pl_op_linear(ctx, f, L->f2_w, L->f2_s, L->f2_b, PL_ACT_NONE, &fo));
        PL_TRY(node(s, fo, S_FO));
        PL_TRY(pl_op_layer_norm(ctx, fo, x1, L->ln2_g, L->ln2_b, c->ln_eps, &x));
        PL_TRY(node(s, x, S_X));
    }
    *hidden = x;
    *head = NULL;
    struct pl_tensor *t1, *t2;
    switch (c->head) {
    case PL_BERT_HEAD_SEQ_CLS:
        PL_TRY(pl_op_get_rows(ctx, x, cls, &t1));
        PL_TRY(node(s, t1, S_POOL1));
        PL_TRY(pl_op_linear(ctx, t1, m->pool_w, NULL, m->pool_b, m->pool_act, &t2));
        PL_TRY(node(s, t2, S_POOL2));
        PL_TRY(pl_op_linear(ctx, t2, m->cls_w, NULL, m->cls_b, PL_ACT_NONE, head));
        break;
    case PL_BERT_HEAD_TOKEN_CLS:
    case PL_BERT_HEAD_QA: PL_TRY(pl_op_linear(ctx, x, m->cls_w, NULL, m->cls_b, PL_ACT_NONE, head)); break;
    case PL_BERT_HEAD_MLM:
        PL_TRY(pl_op_linear(ctx, x, m->mlm_w, NULL, m->mlm_b, c->act, &t1));
        PL_TRY(node(s, t1, S_AO));
        PL_TRY(pl_op_layer_norm(ctx, t1, NULL, m->mlm_g, m->mlm_beta, c->ln_eps, &t2));
        PL_TRY(node(s, t2, S_FO));
        PL_TRY(pl_op_linear(ctx, t2, m->mlm_dec_w, NULL, m->mlm_dec_b, PL_ACT_NONE, head));
        break;
    default: break;
    }
    (void)batch;
    (void)seq;
    if (*head) PL_TRY(node(s, *head, S_HEAD));
    return PL_OK;
}

/* Reset s and upload one batch's inputs; the encoder (and the model's head) as s's graph.
 * OUT: *cls the [CLS] row indices, *th the last hidden state, *thead the head (or NULL). */
static pl_status prepare(struct pl_bert_state *s, int batch, int seq, const int32_t *ids,
                         const int32_t *type_ids, const int32_t *mask, struct pl_tensor **cls,
                         struct pl_tensor **th, struct pl_tensor **thead) {
    struct pl_bert *m = s->m;
    if (batch <= 0 || seq <= 0 || batch > m->max_batch || seq > m->max_seq)
        return PL_ERR(PL_E_INVALID_ARG, "bert: batch %d x seq %d outside 1..%d x 1..%d", batch, seq,
                      m->max_batch, m->max_seq);
    if (!ids) return PL_ERR(PL_E_INVALID_ARG, "bert: no input ids");
    pl_ctx_reset(s->ctx);
    pl_graph_reset(s->g);
    struct pl_tensor *tid, *ttt, *tmask, *tcls;
    size_t n = (size_t)batch * seq;
    PL_TRY(pl_tensor_new_2d(s->ctx, PL_DTYPE_I32, batch, seq, &tid));
    PL_TRY(pl_tensor_place(tid, s->ws, s->off[S_IDS]));
    PL_TRY(pl_backend_tensor_set(m->be, tid, ids, 0, n * 4));
    PL_TRY(pl_tensor_new_2d(s->ctx, PL_DTYPE_I32, batch, seq, &ttt));
    PL_TRY(pl_tensor_place(ttt, s->ws, s->off[S_TT]));
    PL_TRY(pl_tensor_new_2d(s->ctx, PL_DTYPE_I32, batch, seq, &tmask));
    PL_TRY(pl_tensor_place(tmask, s->ws, s->off[S_MASK]));
    PL_TRY(pl_tensor_new_1d(s->ctx, PL_DTYPE_I32, batch, &tcls));
    PL_TRY(pl_tensor_place(tcls, s->ws, s->off[S_CLS]));
    /* Small host-side staging on the stack for the defaults (no heap). */
    int32_t tmp[512];
    for (size_t off = 0; off < n; off += 512) {
        size_t k = n - off < 512 ? n - off : 512;
        if (!type_ids) {
            memset(tmp, 0, k * 4);
            PL_TRY(pl_backend_tensor_set(m->be, ttt, tmp, off * 4, k * 4));
        }
        if (!mask) {
            for (size_t i = 0; i < k; i++) tmp[i] = 1;
            PL_TRY(pl_backend_tensor_set(m->be, tmask, tmp, off * 4, k * 4));
        }
    }
    if (type_ids) PL_TRY(pl_backend_tensor_set(m->be, ttt, type_ids, 0, n * 4));
    if (mask) PL_TRY(pl_backend_tensor_set(m->be, tmask, mask, 0, n * 4));
    for (int b = 0; b < batch; b += 512) {
        int k = batch - b < 512 ? batch - b : 512;
        for (int i = 0; i < k; i++) tmp[i] = (b + i) * seq;
        PL_TRY(pl_backend_tensor_set(m->be, tcls, tmp, (size_t)b * 4, (size_t)k * 4));
    }
    *cls = tcls;
    return build(s, batch, seq, tid, ttt, tmask, tcls, th, thead);
}

pl_status pl_bert_forward(struct pl_bert_state *s, int batch, int seq, const int32_t *ids,
                          const int32_t *type_ids, const int32_t *mask, float *hidden, float *head) {
    struct pl_bert *m = s->m;
    struct pl_tensor *tcls, *th, *thead;
    PL_TRY(prepare(s, batch, seq, ids, type_ids, mask, &tcls, &th, &thead));
    PL_TRY(pl_backend_graph_compute(m->be, s->g));
    if (hidden) PL_TRY(pl_backend_tensor_get(m->be, th, hidden, 0, pl_tensor_nbytes(th)));
    if (head && thead) PL_TRY(pl_backend_tensor_get(m->be, thead, head, 0, pl_tensor_nbytes(thead)));
    return PL_OK;
}

/* ---- heads of one's own --------------------------------------------------------------- */

struct pl_bert_heads {
    struct pl_bert *m;
    int n;
    struct pl_bert_head_spec spec[PL_BERT_MAX_HEADS]; /* tensor_prefix not kept */
    struct pl_ctx *ctx;                               /* the weight tensors */
    struct pl_buffer *wbuf;                           /* every head weight and the pooler */
    struct pl_buffer *obuf;                           /* the heads' outputs */
    struct pl_tensor *w[PL_BERT_MAX_HEADS], *b[PL_BERT_MAX_HEADS], *pool_w, *pool_b;
    size_t out_off[PL_BERT_MAX_HEADS]; /* byte offset of head k's output in obuf */
};

/* Entry `name` ([d0, d1], or [d0] when d1 == 0) as f32 into host: the exact name, or with
 * the model's prefix first when with_prefix. Non-finite weights are a broken file. */
static pl_status head_tensor(struct pl_bert *m, const char *name, bool with_prefix, int64_t d0,
                             int64_t d1, float *host) {
    const struct pl_st_entry *e = with_prefix ? find(m, name) : pl_safetensors_find(m->st, name);
    PL_TRY(check_entry(e, name, d1 ? 2 : 1, (int64_t[]){d0, d1}));
    pl_st_entry_to_f32(e, host);
    for (int64_t i = 0; i < d0 * (d1 ? d1 : 1); i++)
        if (!isfinite(host[i]))
            return PL_ERR(PL_E_FORMAT, "model.safetensors: tensor %s holds a NaN or Inf", e->name);
    return PL_OK;
}

/* A weight tensor [d0, d1] ([d0] when d1 == 0) at float offset *off of h->wbuf (NULL: count). */
static pl_status head_weight(struct pl_bert_heads *h, int64_t d0, int64_t d1, size_t *off,
                             struct pl_tensor **t) {
    if (h->wbuf) {
        PL_TRY(d1 ? pl_tensor_new_2d(h->ctx, PL_DTYPE_F32, d0, d1, t)
                  : pl_tensor_new_1d(h->ctx, PL_DTYPE_F32, d0, t));
        PL_TRY(pl_tensor_place(*t, h->wbuf, *off * sizeof(float)));
    }
    *off += ((size_t)(d0 * (d1 ? d1 : 1)) + 63) & ~(size_t)63;
    return PL_OK;
}

/* Lay out (wbuf NULL: count into *total) or create every weight tensor. */
static pl_status head_layout(struct pl_bert_heads *h, bool pooler, size_t *total) {
    int64_t hd = h->m->cfg.hidden;
    size_t off = 0;
    for (int k = 0; k < h->n; k++) {
        PL_TRY(head_weight(h, h->spec[k].n_labels, hd, &off, &h->w[k]));
        PL_TRY(head_weight(h, h->spec[k].n_labels, 0, &off, &h->b[k]));
    }
    if (pooler) {
        PL_TRY(head_weight(h, hd, hd, &off, &h->pool_w));
        PL_TRY(head_weight(h, hd, 0, &off, &h->pool_b));
    }
    *total = off;
    return PL_OK;
}

/* Read every weight of the specs into host at the layout's offsets. */
static pl_status head_read(struct pl_bert_heads *h, const struct pl_bert_head_spec *specs,
                           bool pooler, float *host) {
    int64_t hd = h->m->cfg.hidden;
    char name[256];
    for (int k = 0; k < h->n; k++) {
        snprintf(name, sizeof name, "%s.weight", specs[k].tensor_prefix);
        PL_TRY(head_tensor(h->m, name, false, specs[k].n_labels, hd,
                           host + h->w[k]->offset / sizeof(float)));
        snprintf(name, sizeof name, "%s.bias", specs[k].tensor_prefix);
        PL_TRY(head_tensor(h->m, name, false, specs[k].n_labels, 0,
                           host + h->b[k]->offset / sizeof(float)));
    }
    if (pooler) {
        PL_TRY(head_tensor(h->m, "pooler.dense.weight", true, hd, hd,
                           host + h->pool_w->offset / sizeof(float)));
        PL_TRY(head_tensor(h->m, "pooler.dense.bias", true, hd, 0,
                           host + h->pool_b->offset / sizeof(float)));
    }
    return PL_OK;
}

pl_status pl_bert_heads_create(struct pl_bert *m, const struct pl_bert_head_spec *specs, int n,
                               struct pl_bert_heads **out) {
    if (!out) return PL_ERR(PL_E_INVALID_ARG, "bert heads: out is NULL");
    *out = NULL;
    if (!m || !specs || n < 1 || n > PL_BERT_MAX_HEADS)
        return PL_ERR(PL_E_INVALID_ARG, "bert heads: %d heads (1..%d) or NULL", n, PL_BERT_MAX_HEADS);
    bool pooler = false;
    for (int k = 0; k < n; k++) {
        if (!specs[k].tensor_prefix || specs[k].n_labels < 1 || specs[k].n_labels > 100000 ||
            (unsigned)specs[k].input > PL_BERT_HEAD_IN_POOLER)
            return PL_ERR(PL_E_INVALID_ARG, "bert heads: head %d: prefix, %d labels or input %d",
                          k, specs[k].n_labels, (int)specs[k].input);
        pooler |= specs[k].input == PL_BERT_HEAD_IN_POOLER;
    }
    pl_status st = PL_OK;
    float *host = NULL;
    struct pl_tensor *all;
    size_t total = 0, osize = 0;
    struct pl_bert_heads *h = pl_calloc(1, sizeof *h);
    if (!h) return PL_ERR(PL_E_NOMEM, "bert heads: out of memory");
    h->m = m;
    h->n = n;
    for (int k = 0; k < n; k++) {
        h->spec[k] = specs[k];
        h->spec[k].tensor_prefix = NULL;
        h->out_off[k] = osize;
        int64_t rows = (int64_t)m->max_batch * (specs[k].input == PL_BERT_HEAD_IN_TOKENS ? m->max_seq : 1);
        osize += ((size_t)(rows * specs[k].n_labels) * sizeof(float) + 255) & ~(size_t)255;
    }
    PL_TRY_GOTO(st, head_layout(h, pooler, &total));
    PL_TRY_GOTO(st, pl_ctx_create(2 * n + 3, &h->ctx));
    PL_TRY_GOTO(st, pl_backend_buffer_alloc(m->be, total * sizeof(float), &h->wbuf));
    PL_TRY_GOTO(st, pl_backend_buffer_alloc(m->be, osize, &h->obuf));
    PL_TRY_GOTO(st, head_layout(h, pooler, &total));
    host = pl_calloc(total, sizeof(float));
    if (!host) {
        st = PL_ERR(PL_E_NOMEM, "bert heads: out of memory");
        goto fail;
    }
    PL_TRY_GOTO(st, head_read(h, specs, pooler, host));
    PL_TRY_GOTO(st, pl_tensor_new_1d(h->ctx, PL_DTYPE_F32, (int64_t)total, &all));
    PL_TRY_GOTO(st, pl_tensor_place(all, h->wbuf, 0));
    PL_TRY_GOTO(st, pl_backend_tensor_set(m->be, all, host, 0, total * sizeof(float)));
    pl_free(host);
    *out = h;
    return PL_OK;
fail:
    pl_free(host);
    pl_bert_heads_destroy(h);
    return st;
}

void pl_bert_heads_destroy(struct pl_bert_heads *h) {
    if (!h) return;
    pl_buffer_free(h->wbuf);
    pl_buffer_free(h->obuf);
    pl_ctx_destroy(h->ctx);
    pl_free(h);
}

pl_status pl_bert_forward_heads(struct pl_bert_state *s, struct pl_bert_heads *h, int batch,
                                int seq, const int32_t *ids, const int32_t *type_ids,
                                const int32_t *mask, float *const *outs) {
    if (!s || !h || !outs || s->m != h->m)
        return PL_ERR(PL_E_INVALID_ARG, "bert heads: NULL argument or heads of another model");
    struct pl_bert *m = s->m;
    struct pl_tensor *tcls, *th, *thead, *rows = NULL, *pooled = NULL, *y[PL_BERT_MAX_HEADS];
    PL_TRY(prepare(s, batch, seq, ids, type_ids, mask, &tcls, &th, &thead));
    for (int k = 0; k < h->n; k++) {
        struct pl_tensor *x = th;
        if (h->spec[k].input != PL_BERT_HEAD_IN_TOKENS) {
            if (!rows) {
                PL_TRY(pl_op_get_rows(s->ctx, th, tcls, &rows));
                PL_TRY(node(s, rows, S_POOL1));
            }
            x = rows;
        }
        if (h->spec[k].input == PL_BERT_HEAD_IN_POOLER) {
            if (!pooled) {
                PL_TRY(pl_op_linear(s->ctx, rows, h->pool_w, NULL, h->pool_b, PL_ACT_TANH, &pooled));
                PL_TRY(node(s, pooled, S_POOL2));
            }
            x = pooled;
        }
        PL_TRY(pl_op_linear(s->ctx, x, h->w[k], NULL, h->b[k], PL_ACT_NONE, &y[k]));
        PL_TRY(pl_tensor_place(y[k], h->obuf, h->out_off[k]));
        PL_TRY(pl_graph_add(s->g, y[k]));
    }
    PL_TRY(pl_backend_graph_compute(m->be, s->g));
    for (int k = 0; k < h->n; k++)
        if (outs[k]) PL_TRY(pl_backend_tensor_get(m->be, y[k], outs[k], 0, pl_tensor_nbytes(y[k])));
    return PL_OK;
}
