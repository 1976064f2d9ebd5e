/*
 * asr_model.c - QuartzNet-style CTC acoustic model on the CPU (see asr_model.h).
 *
 * Loading: config.json gives the layer geometry; model.safetensors (BN
 * folded) is copied into 64-byte aligned f32 arrays: pointwise weights as
 * stored ([C_out, C_in], the K-contiguous B operand of the engine's GEMM),
 * depthwise weights transposed to [K, C] so a depthwise output row is a sum
 * of K channel-wise products of contiguous rows.
 *
 * One engine for both modes: every convolution sees its zero-padded input
 * xp = [pad_left zeros] x [right zeros] as a sliding window (struct
 * conv_state). Each step appends the new input frames, computes every output
 * t whose window xp[t*s .. t*s + span] is complete, and keeps the frames
 * from xp index t_next*s on. Finishing appends the `right` zeros. A full
 * forward is the same steps over chunks of the utterance, so chunked and
 * full outputs come from the same arithmetic.
 *
 * Buffers: a step's input is copied into the convolution's window before
 * its output is written, so each step reuses one activation buffer (`act`)
 * in place, plus a depthwise scratch (`dw`). Bounds for every buffer are
 * derived from max_chunk at stream creation (see plan_stream()).
 */
#include "asr_model.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "cpu_impl.h"
#include "log.h"
#include "safetensors.h"

#include "asr_dwconv.h"

#define MAX_CHUNK_LIMIT (1 << 16)

struct sep {
    int cin, cout, k, s, d, span, left, right;
    float *dw; /* [k][cin] */
    float *pw; /* [cout][cin] */
    float *pb; /* [cout] */
};

struct block {
    int first, n; /* its sub-blocks: seps[first .. first+n) */
    int cin, c;
    float *rw; /* residual 1x1 [c][cin] */
    float *rb; /* [c] */
};

struct pl_asr_model {
    struct pl_asr_model_config cfg;
    const struct pl_cpu_kern *kern;
    pl_asr_dwconv_fn dwconv;
    int n_seps, cap_seps, n_blocks;
    struct sep *seps; /* prologue, blocks' sub-blocks in order, epilogue */
    struct block *blocks;
    int dec_c;
    float *dec_w, *dec_b; /* [V][dec_c], [V] */
    char **vocab;
};

/* The sliding window of one convolution's zero-padded input. */
struct conv_state {
    float *hist; /* [cap][cin]: xp frames h0 .. h0 + n_hist - 1 */
    int n_hist, cap;
    long h0;     /* xp index of hist[0] */
    long t_next; /* next output frame */
};

/* Residual rows of a block waiting for the block's (delayed) output. */
struct res_state {
    float *fifo; /* [cap][c] */
    int n, cap;
};

struct pl_asr_stream {
    const struct pl_asr_model *m;
    int max_chunk, max_rows, max_out;
    struct conv_state *cs;
    struct res_state *rs;
    float *act; /* [max_rows][max_channels] */
    float *dw;  /* [max_rows][max_channels] */
    long in, out;
    bool finished;
};

/* ---- config ------------------------------------------------------------------ */

struct conv_cfg {
    int channels, kernel, stride, dilation, right, repeat;
};

static pl_status parse_conv(json_t *o, const char *what, bool block, struct conv_cfg *c) {
    if (!json_is_object(o)) return PL_ERR(PL_E_FORMAT, "config.json: %s is not an object", what);
    json_t *v;
#define GETI(field, key, def)                                                                      \
    v = json_object_get(o, key);                                                                   \
    if (v && !json_is_integer(v))                                                                  \
        return PL_ERR(PL_E_FORMAT, "config.json: %s.%s is not an integer", what, key);             \
    c->field = v ? (int)json_integer_value(v) : (def);
    GETI(channels, "channels", -1)
    GETI(kernel, "kernel", -1)
    GETI(stride, "stride", 1)
    GETI(dilation, "dilation", 1)
    GETI(repeat, "repeat", 1)
#undef GETI
    if (c->channels < 1 || c->channels > 8192 || c->kernel < 1 || c->kernel > 1024 ||
        c->stride < 1 || c->stride > 16 || c->dilation < 1 || c->dilation > 64 || c->repeat < 1 ||
        c->repeat > 64)
        return PL_ERR(PL_E_FORMAT,
                      "config.json: %s: channels %d, kernel %d, stride %d, dilation %d, repeat %d "
                      "out of range",
                      what, c->channels, c->kernel, c->stride, c->dilation, c->repeat);
    if (block && c->stride != 1)
        return PL_ERR(PL_E_UNSUPPORTED, "config.json: %s: strided blocks are not supported", what);
    int span = c->dilation * (c->kernel - 1);
    v = json_object_get(o, "right");
    if (v && !json_is_integer(v))
        return PL_ERR(PL_E_FORMAT, "config.json: %s.right is not an integer", what);
    long r = v ? (long)json_integer_value(v) : span / 2;
    if (r < 0 || r > span)
        return PL_ERR(PL_E_FORMAT, "config.json: %s: right context %ld outside 0..%d", what, r,
                      span);
    c->right = (int)r;
    if (c->stride > span + 1)
        return PL_ERR(PL_E_UNSUPPORTED, "config.json: %s: stride %d skips input (span %d)", what,
                      c->stride, span);
    return PL_OK;
}

/* ---- weights ----------------------------------------------------------------- */

/* Copy tensor `name` of shape [d0, d1, (1)] (a trailing 1 is optional when
 * want_k1; dw tensors are [d0, 1, d1]) into a new aligned f32 array; dw
 * arrays are transposed to [d1][d0]. */
static pl_status get_weight(const struct pl_safetensors *st, const char *name, int d0, int d1,
                            bool dw, float **out) {
    *out = NULL;
    const struct pl_st_entry *e = pl_safetensors_find(st, name);
    if (!e) return PL_ERR(PL_E_FORMAT, "model.safetensors: tensor %s is missing", name);
    if (e->dtype != PL_DTYPE_F32 && e->dtype != PL_DTYPE_F16 && e->dtype != PL_DTYPE_BF16)
        return PL_ERR(PL_E_FORMAT, "model.safetensors: tensor %s has dtype %s (want F32/F16/BF16)",
                      name, e->dtype_str);
    bool ok;
    if (dw)
        ok = (e->n_dims == 3 && e->shape[0] == d0 && e->shape[1] == 1 && e->shape[2] == d1) ||
             (e->n_dims == 2 && e->shape[0] == d0 && e->shape[1] == d1);
    else if (d1 == 0)
        ok = e->n_dims == 1 && e->shape[0] == d0;
    else
        ok = (e->n_dims == 3 && e->shape[0] == d0 && e->shape[1] == d1 && e->shape[2] == 1) ||
             (e->n_dims == 2 && e->shape[0] == d0 && e->shape[1] == d1);
    if (!ok) {
        char got[96] = "";
        size_t o = 0;
        for (int i = 0; i < e->n_dims && o < sizeof got - 24; i++)
            o += (size_t)snprintf(got + o, sizeof got - o, "%s%lld", i ? ", " : "",
                                  (long long)e->shape[i]);
        return PL_ERR(PL_E_FORMAT, "model.safetensors: tensor %s has shape [%s], want %s[%d%s%d%s]",
                      name, got, dw ? "" : "", d0, dw ? ", 1, " : ", ", d1 ? d1 : 0,
                      dw ? "" : (d1 ? ", 1" : ""));
    }
    size_t n = (size_t)d0 * (size_t)(d1 ? d1 : 1);
    float *tmp = pl_aligned_alloc(64, n * sizeof(float));
    if (!tmp) return PL_ERR(PL_E_NOMEM, "asr model: no memory for %s", name);
    pl_st_entry_to_f32(e, tmp);
    if (dw) {
        float *t = pl_aligned_alloc(64, n * sizeof(float));
        if (!t) {
            pl_aligned_free(tmp);
            return PL_ERR(PL_E_NOMEM, "asr model: no memory for %s", name);
        }
        for (int c = 0; c < d0; c++)
            for (int k = 0; k < d1; k++)
                t[(size_t)k * d0 + c] = tmp[(size_t)c * d1 + k];
        pl_aligned_free(tmp);
        tmp = t;
    }
    *out = tmp;
    return PL_OK;
}

static pl_status load_sep(const struct pl_safetensors *st, const char *prefix,
                          const struct conv_cfg *c, int cin, struct sep *s) {
    char name[160];
    s->cin = cin;
    s->cout = c->channels;
    s->k = c->kernel;
    s->s = c->stride;
    s->d = c->dilation;
    s->span = c->dilation * (c->kernel - 1);
    s->right = c->right;
    s->left = s->span - c->right;
    snprintf(name, sizeof name, "%s.dw.weight", prefix);
    PL_TRY(get_weight(st, name, cin, c->kernel, true, &s->dw));
    snprintf(name, sizeof name, "%s.pw.weight", prefix);
    PL_TRY(get_weight(st, name, c->channels, cin, false, &s->pw));
    snprintf(name, sizeof name, "%s.pw.bias", prefix);
    PL_TRY(get_weight(st, name, c->channels, 0, false, &s->pb));
    return PL_OK;
}

static pl_status load_all(struct pl_asr_model *m, json_t *root, const struct pl_safetensors *st,
                          const char *cpath) {
    struct pl_asr_model_config *cfg = &m->cfg;
    json_t *v = json_object_get(root, "n_mels");
    cfg->n_mels = json_is_integer(v) ? (int)json_integer_value(v) : 80;
    if (cfg->n_mels < 1 || cfg->n_mels > 1024)
        return PL_ERR(PL_E_FORMAT, "%s: n_mels %d out of range", cpath, cfg->n_mels);
    json_t *voc = json_object_get(root, "vocab");
    if (!json_is_array(voc) || json_array_size(voc) < 2 || json_array_size(voc) > 100000)
        return PL_ERR(PL_E_FORMAT, "%s: vocab must be an array of 2..100000 strings", cpath);
    cfg->vocab_size = (int)json_array_size(voc);
    m->vocab = pl_calloc((size_t)cfg->vocab_size, sizeof(char *));
    if (!m->vocab) return PL_ERR(PL_E_NOMEM, "asr model: no memory for the vocabulary");
    for (int i = 0; i < cfg->vocab_size; i++) {
        const char *s = json_string_value(json_array_get(voc, (size_t)i));
        if (!s) return PL_ERR(PL_E_FORMAT, "%s: vocab[%d] is not a string", cpath, i);
        if (!(m->vocab[i] = pl_strdup(s)))
            return PL_ERR(PL_E_NOMEM, "asr model: no memory for the vocabulary");
    }
    v = json_object_get(root, "tail_frames");
    if (v && !json_is_integer(v))
        return PL_ERR(PL_E_FORMAT, "%s: tail_frames is not an integer", cpath);
    cfg->tail_frames = v ? (int)json_integer_value(v) : 0;
    if (cfg->tail_frames < 0 || cfg->tail_frames > 10000)
        return PL_ERR(PL_E_FORMAT, "%s: tail_frames %d outside 0..10000", cpath, cfg->tail_frames);
    v = json_object_get(root, "blank");
    cfg->blank = json_is_integer(v) ? (int)json_integer_value(v) : 0;
    if (cfg->blank < 0 || cfg->blank >= cfg->vocab_size)
        return PL_ERR(PL_E_FORMAT, "%s: blank %d outside the vocabulary", cpath, cfg->blank);

    struct conv_cfg pro, epi;
    PL_TRY(parse_conv(json_object_get(root, "prologue"), "prologue", false, &pro));
    PL_TRY(parse_conv(json_object_get(root, "epilogue"), "epilogue", false, &epi));
    json_t *blocks = json_object_get(root, "blocks");
    if (!json_is_array(blocks) || json_array_size(blocks) > 256)
        return PL_ERR(PL_E_FORMAT, "%s: blocks must be an array of at most 256 objects", cpath);
    m->n_blocks = (int)json_array_size(blocks);
    struct conv_cfg *bc = pl_calloc((size_t)m->n_blocks + 1, sizeof *bc);
    if (!bc) return PL_ERR(PL_E_NOMEM, "asr model: out of memory");
    pl_status st_ = PL_OK;
    int n_seps = 2;
    for (int i = 0; i < m->n_blocks; i++) {
        char what[32];
        snprintf(what, sizeof what, "blocks[%d]", i);
        PL_TRY_GOTO(st_, parse_conv(json_array_get(blocks, (size_t)i), what, true, &bc[i]));
        n_seps += bc[i].repeat;
    }
    m->seps = pl_calloc((size_t)n_seps, sizeof *m->seps);
    m->cap_seps = m->seps ? n_seps : 0;
    m->blocks = pl_calloc((size_t)m->n_blocks + 1, sizeof *m->blocks);
    if (!m->seps || !m->blocks) {
        st_ = PL_ERR(PL_E_NOMEM, "asr model: out of memory");
        goto fail;
    }
    /* Geometry summary while loading: stride, look-ahead, work per frame. */
    int cin = cfg->n_mels, si = 0, maxc = cfg->n_mels;
    long stride = 1;
    double rc = 0, macs_in = 0; /* look-ahead and MACs per input frame */
    PL_TRY_GOTO(st_, load_sep(st, "encoder.prologue", &pro, cin, &m->seps[si]));
    m->n_seps = ++si;
    rc += (double)pro.right * (double)stride;
    stride *= pro.stride;
    macs_in += (double)cin * (pro.kernel + pro.channels) / (double)stride;
    cin = pro.channels;
    for (int i = 0; i < m->n_blocks; i++) {
        struct block *b = &m->blocks[i];
        char prefix[96], name[160];
        b->first = si;
        b->n = bc[i].repeat;
        b->cin = cin;
        b->c = bc[i].channels;
        for (int j = 0; j < b->n; j++) {
            snprintf(prefix, sizeof prefix, "encoder.blocks.%d.sub.%d", i, j);
            PL_TRY_GOTO(st_, load_sep(st, prefix, &bc[i], j ? b->c : cin, &m->seps[si]));
            m->n_seps = ++si;
            rc += (double)bc[i].right * (double)stride;
            macs_in += (double)(j ? b->c : cin) * (bc[i].kernel + b->c) / (double)stride;
        }
        snprintf(name, sizeof name, "encoder.blocks.%d.res.weight", i);
        PL_TRY_GOTO(st_, get_weight(st, name, b->c, cin, false, &b->rw));
        snprintf(name, sizeof name, "encoder.blocks.%d.res.bias", i);
        PL_TRY_GOTO(st_, get_weight(st, name, b->c, 0, false, &b->rb));
        macs_in += (double)cin * b->c / (double)stride;
        if (cin > maxc) maxc = cin;
        cin = b->c;
    }
    PL_TRY_GOTO(st_, load_sep(st, "encoder.epilogue", &epi, cin, &m->seps[si]));
    m->n_seps = ++si;
    rc += (double)epi.right * (double)stride;
    stride *= epi.stride;
    macs_in += (double)cin * (epi.kernel + epi.channels) / (double)stride;
    if (cin > maxc) maxc = cin;
    if (epi.channels > maxc) maxc = epi.channels;
    if (pro.channels > maxc) maxc = pro.channels;
    m->dec_c = epi.channels;
    PL_TRY_GOTO(st_, get_weight(st, "decoder.weight", cfg->vocab_size, m->dec_c, false, &m->dec_w));
    PL_TRY_GOTO(st_, get_weight(st, "decoder.bias", cfg->vocab_size, 0, false, &m->dec_b));
    macs_in += (double)m->dec_c * cfg->vocab_size / (double)stride;
    if (cfg->vocab_size > maxc) maxc = cfg->vocab_size;
    if (rc > 1e7 || stride > 1 << 20) {
        st_ = PL_ERR(PL_E_UNSUPPORTED, "%s: look-ahead %.0f frames or stride %ld too large", cpath,
                     rc, stride);
        goto fail;
    }
    cfg->stride = (int)stride;
    cfg->right_context = (int)rc;
    cfg->n_convs = m->n_seps;
    cfg->n_blocks = m->n_blocks;
    cfg->max_channels = maxc;
    cfg->macs_per_frame = macs_in * (double)stride;
fail:
    pl_free(bc);
    return st_;
}

pl_status pl_asr_model_load(const char *model_dir, const struct pl_asr_model_options *opt,
                            struct pl_asr_model **out) {
    if (!out) return PL_ERR(PL_E_INVALID_ARG, "asr model: out is NULL");
    *out = NULL;
    if (!model_dir) return PL_ERR(PL_E_INVALID_ARG, "asr model: model_dir is NULL");
    pl_status st = PL_OK;
    json_t *root = NULL;
    struct pl_safetensors *sf = NULL;
    char cpath[4096], wpath[4096];
    snprintf(cpath, sizeof cpath, "%s/config.json", model_dir);
    snprintf(wpath, sizeof wpath, "%s/model.safetensors", model_dir);
    struct pl_asr_model *m = pl_calloc(1, sizeof *m);
    if (!m) return PL_ERR(PL_E_NOMEM, "asr model: out of memory");
    json_error_t jerr;
    root = json_load_file(cpath, 0, &jerr);
    if (!root) {
        st = PL_ERR(jerr.line < 1 && jerr.position < 1 ? PL_E_IO : PL_E_FORMAT, "%s: %s (line %d)",
                    cpath, jerr.text, jerr.line);
        goto fail;
    }
    if (!json_is_object(root)) {
        st = PL_ERR(PL_E_FORMAT, "%s: not a JSON object", cpath);
        goto fail;
    }
    const char *mt = json_string_value(json_object_get(root, "model_type"));
    if (mt && strcmp(mt, "parley_quartznet_ctc") != 0) {
        st = PL_ERR(PL_E_UNSUPPORTED, "%s: model_type '%s' is not parley_quartznet_ctc", cpath, mt);
        goto fail;
    }
    PL_TRY_GOTO(st, pl_safetensors_open(wpath, &sf));
    PL_TRY_GOTO(st, load_all(m, root, sf, cpath));
    m->kern = opt && opt->use_ref ? &pl__cpu_kern_generic : pl__cpu_kern_select();
    m->dwconv = pl__asr_dwconv_select(opt && opt->use_ref);
    PL_LOGD("asr model %s: %d convs, %d blocks, stride %d, look-ahead %d frames, %.2f MMAC/frame, "
            "kernels %s",
            model_dir, m->cfg.n_convs, m->cfg.n_blocks, m->cfg.stride, m->cfg.right_context,
            m->cfg.macs_per_frame / 1e6, m->kern->name);
    pl_safetensors_close(sf);
    json_decref(root);
    *out = m;
    return PL_OK;
fail:
    pl_safetensors_close(sf);
    json_decref(root);
    pl_asr_model_destroy(m);
    return st;
}

void pl_asr_model_destroy(struct pl_asr_model *m) {
    if (!m) return;
    /* cap_seps, not n_seps: a conv that failed half-way holds weights too */
    for (int i = 0; i < m->cap_seps; i++) {
        pl_aligned_free(m->seps[i].dw);
        pl_aligned_free(m->seps[i].pw);
        pl_aligned_free(m->seps[i].pb);
    }
    for (int i = 0; m->blocks && i < m->n_blocks; i++) {
        pl_aligned_free(m->blocks[i].rw);
        pl_aligned_free(m->blocks[i].rb);
    }
    pl_aligned_free(m->dec_w);
    pl_aligned_free(m->dec_b);
    for (int i = 0; m->vocab && i < m->cfg.vocab_size; i++)
        pl_free(m->vocab[i]);
    pl_free(m->vocab);
    pl_free(m->seps);
    pl_free(m->blocks);
    pl_free(m);
}

const struct pl_asr_model_config *pl_asr_model_get_config(const struct pl_asr_model *m) {
    return &m->cfg;
}

const char *pl_asr_model_token(const struct pl_asr_model *m, int i) {
    return i >= 0 && i < m->cfg.vocab_size ? m->vocab[i] : NULL;
}

int pl_asr_model_n_out(const struct pl_asr_model *m, int n_frames) {
    if (n_frames <= 0) return 0;
    /* each strided conv maps n frames to ceil(n / s) */
    int n = n_frames + m->cfg.tail_frames;
    for (int i = 0; i < m->n_seps; i++)
        n = (n + m->seps[i].s - 1) / m->seps[i].s;
    return n;
}

/* ---- streams ------------------------------------------------------------------ */

/*
 * Buffer bounds. A window never carries more than `span` frames between
 * steps (the frames before t_next*s are dropped and t_next*s + span runs
 * past the last frame), so a step's window holds at most span + M + right
 * frames for M new input frames, and it emits at most ceil((M + right) / s)
 * outputs, the next layer's M. A block's residual queue holds its inputs
 * minus its outputs: at most the sub-blocks' spans plus one step's input.
 */
#define PLAN_LIMIT (1 << 24) /* frames any one buffer may be planned for */

static pl_status plan_stream(const struct pl_asr_model *m, int max_chunk, int *hist_cap,
                             int *res_cap, int *max_rows, int *max_out) {
    /* 64-bit: a hostile config (thousands of layers with huge right contexts) must
     * fail here, not overflow */
    long long mi = max_chunk, rows = max_chunk;
    int bi = 0;
    for (int i = 0; i < m->n_seps; i++) {
        const struct sep *s = &m->seps[i];
        if (i == 0) mi += m->cfg.tail_frames; /* the final step reads the tail too */
        long long h = s->span + mi + s->right + s->s + 1;
        while (bi < m->n_blocks && m->blocks[bi].first + m->blocks[bi].n <= i)
            bi++;
        if (bi < m->n_blocks && m->blocks[bi].first == i) {
            long long delay = 0;
            for (int j = 0; j < m->blocks[bi].n; j++)
                delay += m->seps[i + j].span + 1;
            if (mi + delay + 1 > PLAN_LIMIT) goto big;
            res_cap[bi] = (int)(mi + delay + 1);
        }
        if (h > PLAN_LIMIT) goto big;
        hist_cap[i] = (int)h;
        long long mo = (mi + s->right + s->s - 1) / s->s + 1;
        if (mo > rows) rows = mo;
        mi = mo;
    }
    *max_rows = (int)rows;
    *max_out = (int)mi;
    return PL_OK;
big:
    return PL_ERR(PL_E_UNSUPPORTED,
                  "asr stream: the model's look-ahead and max_chunk %d need "
                  "buffers over %d frames",
                  max_chunk, PLAN_LIMIT);
}

pl_status pl_asr_stream_create(const struct pl_asr_model *m, int max_chunk,
                               struct pl_asr_stream **out) {
    if (!out) return PL_ERR(PL_E_INVALID_ARG, "asr stream: out is NULL");
    *out = NULL;
    if (!m) return PL_ERR(PL_E_INVALID_ARG, "asr stream: model is NULL");
    if (max_chunk == 0) max_chunk = 256;
    if (max_chunk < 1 || max_chunk > MAX_CHUNK_LIMIT)
        return PL_ERR(PL_E_INVALID_ARG, "asr stream: max_chunk %d outside 1..%d", max_chunk,
                      MAX_CHUNK_LIMIT);
    pl_status st = PL_OK;
    int *hist_cap = pl_calloc((size_t)m->n_seps, sizeof(int));
    int *res_cap = pl_calloc((size_t)m->n_blocks + 1, sizeof(int));
    struct pl_asr_stream *s = pl_calloc(1, sizeof *s);
    if (!hist_cap || !res_cap || !s) {
        st = PL_ERR(PL_E_NOMEM, "asr stream: out of memory");
        goto fail;
    }
    s->m = m;
    s->max_chunk = max_chunk;
    PL_TRY_GOTO(st, plan_stream(m, max_chunk, hist_cap, res_cap, &s->max_rows, &s->max_out));
    s->cs = pl_calloc((size_t)m->n_seps, sizeof *s->cs);
    s->rs = pl_calloc((size_t)m->n_blocks + 1, sizeof *s->rs);
    size_t act_n = (size_t)s->max_rows * (size_t)m->cfg.max_channels * sizeof(float);
    s->act = pl_aligned_alloc(64, act_n);
    s->dw = pl_aligned_alloc(64, act_n);
    if (!s->cs || !s->rs || !s->act || !s->dw) {
        st = PL_ERR(PL_E_NOMEM, "asr stream: out of memory");
        goto fail;
    }
    for (int i = 0; i < m->n_seps; i++) {
        s->cs[i].cap = hist_cap[i];
        s->cs[i].hist =
            pl_aligned_alloc(64, (size_t)hist_cap[i] * (size_t)m->seps[i].cin * sizeof(float));
        if (!s->cs[i].hist) {
            st = PL_ERR(PL_E_NOMEM, "asr stream: out of memory");
            goto fail;
        }
    }
    for (int i = 0; i < m->n_blocks; i++) {
        s->rs[i].cap = res_cap[i];
        s->rs[i].fifo =
            pl_aligned_alloc(64, (size_t)res_cap[i] * (size_t)m->blocks[i].c * sizeof(float));
        if (!s->rs[i].fifo) {
            st = PL_ERR(PL_E_NOMEM, "asr stream: out of memory");
            goto fail;
        }
    }
    pl_free(hist_cap);
    pl_free(res_cap);
    pl_asr_stream_reset(s);
    *out = s;
    return PL_OK;
fail:
    pl_free(hist_cap);
    pl_free(res_cap);
    pl_asr_stream_destroy(s);
    return st;
}

void pl_asr_stream_destroy(struct pl_asr_stream *s) {
    if (!s) return;
    for (int i = 0; s->cs && i < s->m->n_seps; i++)
        pl_aligned_free(s->cs[i].hist);
    for (int i = 0; s->rs && i < s->m->n_blocks; i++)
        pl_aligned_free(s->rs[i].fifo);
    pl_free(s->cs);
    pl_free(s->rs);
    pl_aligned_free(s->act);
    pl_aligned_free(s->dw);
    pl_free(s);
}

void pl_asr_stream_reset(struct pl_asr_stream *s) {
    const struct pl_asr_model *m = s->m;
    for (int i = 0; i < m->n_seps; i++) {
        struct conv_state *c = &s->cs[i];
        /* the window starts with the left zero padding */
        c->n_hist = m->seps[i].left;
        memset(c->hist, 0, (size_t)c->n_hist * (size_t)m->seps[i].cin * sizeof(float));
        c->h0 = 0;
        c->t_next = 0;
    }
    for (int i = 0; i < m->n_blocks; i++)
        s->rs[i].n = 0;
    s->in = s->out = 0;
    s->finished = false;
}

int pl_asr_stream_max_out(const struct pl_asr_stream *s) { return s->max_out; }
long pl_asr_stream_frames_in(const struct pl_asr_stream *s) { return s->in; }
long pl_asr_stream_frames_out(const struct pl_asr_stream *s) { return s->out; }

/* Window step of one separable conv: window += in[n_in] (+ `tail` zero
 * frames that count as input and the right zero padding when final); the
 * depthwise outputs that became computable go to dw[*n_out][cin] (the
 * pointwise GEMM runs later, over every stream of a batch at once). */
static pl_status sep_window(const struct pl_asr_model *m, const struct sep *L, struct conv_state *c,
                            const float *in, int n_in, bool final, int tail, float *dw,
                            int *n_out) {
    *n_out = 0;
    int zeros = final ? tail + L->right : 0, add = n_in + zeros;
    if (c->n_hist + add > c->cap)
        return PL_ERR(PL_E_INTERNAL, "asr stream: conv window overflow (%d + %d > %d)", c->n_hist,
                      add, c->cap);
    float *dst = c->hist + (size_t)c->n_hist * L->cin;
    if (n_in) memcpy(dst, in, (size_t)n_in * L->cin * sizeof(float));
    if (zeros) memset(dst + (size_t)n_in * L->cin, 0, (size_t)zeros * L->cin * sizeof(float));
    c->n_hist += add;
    long last = c->h0 + c->n_hist - 1;
    long t_end = last - L->span < 0 ? 0 : (last - L->span) / L->s + 1;
    int mo = t_end > c->t_next ? (int)(t_end - c->t_next) : 0;
    if (mo > 0) {
        m->dwconv(mo, L->cin, L->k, L->d, L->s,
                  c->hist + (size_t)(c->t_next * L->s - c->h0) * L->cin, L->dw, dw);
        c->t_next = t_end;
    }
    long drop = c->t_next * L->s - c->h0;
    if (drop > c->n_hist) drop = c->n_hist;
    if (drop > 0) {
        memmove(c->hist, c->hist + (size_t)drop * L->cin,
                (size_t)(c->n_hist - drop) * L->cin * sizeof(float));
        c->n_hist -= (int)drop;
        c->h0 += drop;
    }
    *n_out = mo;
    return PL_OK;
}

static void bias_rows(const struct pl_asr_model *m, float *x, int rows, int n, const float *b,
                      int act) {
    for (int r = 0; r < rows; r++)
        m->kern->bias_act(x + (size_t)r * n, b, n, act);
}

static void log_softmax_rows(float *x, int rows, int n) {
    for (int r = 0; r < rows; r++) {
        float *p = x + (size_t)r * n;
        float mx = p[0];
        for (int i = 1; i < n; i++)
            if (p[i] > mx) mx = p[i];
        double sum = 0;
        for (int i = 0; i < n; i++)
            sum += exp((double)(p[i] - mx));
        float lse = mx + (float)log(sum);
        for (int i = 0; i < n; i++)
            p[i] -= lse;
    }
}

/* C[m,n] = A[m,k] . B[n,k]^T, split by output columns over pool's threads
 * (NULL or 1 thread: in the caller). Each element is the same dot product
 * either way, so the split does not change results. */
struct gemm_job {
    const struct pl_cpu_kern *kern;
    int m, n, k, nb;
    const float *a, *b;
    float *c;
};

static void gemm_task(void *arg, int task, int thread) {
    const struct gemm_job *j = arg;
    (void)thread;
    int n0 = task * j->nb, n1 = n0 + j->nb < j->n ? n0 + j->nb : j->n;
    j->kern->gemm_f32(j->m, n1 - n0, j->k, j->a, j->k, j->b + (size_t)n0 * j->k, j->k, j->c + n0,
                      j->n);
}

static void gemm(const struct pl_asr_model *m, struct pl_threadpool *pool, int rows, int n, int k,
                 const float *a, const float *b, float *c) {
    int nt = pool ? pl_threadpool_size(pool) : 1;
    if (nt <= 1 || (double)rows * n * k < 2e5 || n < 32) {
        m->kern->gemm_f32(rows, n, k, a, k, b, k, c, n);
        return;
    }
    /* column blocks of a multiple of 16, about two per thread */
    int nb = (n + 2 * nt - 1) / (2 * nt);
    nb = (nb + 15) / 16 * 16;
    struct gemm_job j = {
        .kern = m->kern, .m = rows, .n = n, .k = k, .nb = nb, .a = a, .b = b, .c = c};
    pl_threadpool_run(pool, (n + nb - 1) / nb, gemm_task, &j);
}

/* Per-call bookkeeping of one stream inside a step. */
struct slot {
    struct pl_asr_stream *s;
    const float *feats;
    int n_in;
    bool final;
    float *out;
    int off, rows; /* its rows in the shared activation buffer */
};

/* Separable conv `si` for every slot: windows and depthwise per stream into
 * dw, then one pointwise GEMM over all their rows into act (+ bias). src
 * NULL = each slot's caller features. */
static pl_status conv_all(const struct pl_asr_model *m, struct pl_threadpool *pool, int si,
                          struct slot *sl, int n, const float *src, float *act, float *dw,
                          int cap_rows, int act_fn) {
    const struct sep *L = &m->seps[si];
    int tot = 0;
    for (int i = 0; i < n; i++) {
        const float *in = src ? src + (size_t)sl[i].off * L->cin : sl[i].feats;
        int n_in = src ? sl[i].rows : sl[i].n_in, mo = 0;
        /* the tail follows the features of an utterance that had any */
        int tail = si == 0 && sl[i].s->in + sl[i].n_in > 0 ? m->cfg.tail_frames : 0;
        PL_TRY(sep_window(m, L, &sl[i].s->cs[si], in, n_in, sl[i].final, tail,
                          dw + (size_t)tot * L->cin, &mo));
        sl[i].off = tot;
        sl[i].rows = mo;
        tot += mo;
        if (tot > cap_rows)
            return PL_ERR(PL_E_INTERNAL, "asr stream: %d rows exceed the workspace (%d)", tot,
                          cap_rows);
    }
    if (tot) {
        gemm(m, pool, tot, L->cout, L->cin, dw, L->pw, act);
        bias_rows(m, act, tot, L->cout, L->pb, act_fn);
    }
    return PL_OK;
}

/*
 * The whole network on one step of every slot (n_in <= max_chunk new frames;
 * final = flush). act and dw hold cap_rows x max_channels floats. Rows of
 * all slots share each GEMM; everything else is per stream.
 */
static pl_status step_multi(const struct pl_asr_model *m, struct pl_threadpool *pool,
                            struct slot *sl, int n, float *act, float *dw, int cap_rows) {
    int si = 0;
    PL_TRY(conv_all(m, pool, si++, sl, n, NULL, act, dw, cap_rows, PL_ACT_RELU));
    for (int bi = 0; bi < m->n_blocks; bi++) {
        const struct block *b = &m->blocks[bi];
        /* residual of the block's new input frames (into dw), queued per stream
         * for the block's delayed output */
        int tot = 0;
        for (int i = 0; i < n; i++)
            tot += sl[i].rows;
        if (tot) {
            gemm(m, pool, tot, b->c, b->cin, act, b->rw, dw);
            bias_rows(m, dw, tot, b->c, b->rb, PL_ACT_NONE);
        }
        for (int i = 0; i < n; i++) {
            struct res_state *r = &sl[i].s->rs[bi];
            if (r->n + sl[i].rows > r->cap)
                return PL_ERR(PL_E_INTERNAL, "asr stream: residual queue overflow (%d + %d > %d)",
                              r->n, sl[i].rows, r->cap);
            memcpy(r->fifo + (size_t)r->n * b->c, dw + (size_t)sl[i].off * b->c,
                   (size_t)sl[i].rows * b->c * sizeof(float));
            r->n += sl[i].rows;
        }
        for (int j = 0; j < b->n; j++) {
            bool last = j == b->n - 1;
            PL_TRY(conv_all(m, pool, si++, sl, n, act, act, dw, cap_rows,
                            last ? PL_ACT_NONE : PL_ACT_RELU));
            if (!last) continue;
            for (int i = 0; i < n; i++) {
                struct res_state *r = &sl[i].s->rs[bi];
                if (sl[i].rows > r->n)
                    return PL_ERR(PL_E_INTERNAL, "asr stream: block %d output ahead of its input",
                                  bi);
                size_t nn = (size_t)sl[i].rows * b->c;
                float *y = act + (size_t)sl[i].off * b->c;
                for (size_t e = 0; e < nn; e++) {
                    float v = y[e] + r->fifo[e];
                    y[e] = v > 0 ? v : 0;
                }
                memmove(r->fifo, r->fifo + nn, (size_t)(r->n - sl[i].rows) * b->c * sizeof(float));
                r->n -= sl[i].rows;
            }
        }
    }
    PL_TRY(conv_all(m, pool, si, sl, n, act, act, dw, cap_rows, PL_ACT_RELU));
    int V = m->cfg.vocab_size, tot = 0;
    for (int i = 0; i < n; i++)
        tot += sl[i].rows;
    if (tot) {
        gemm(m, pool, tot, V, m->dec_c, act, m->dec_w, dw);
        bias_rows(m, dw, tot, V, m->dec_b, PL_ACT_NONE);
        log_softmax_rows(dw, tot, V);
    }
    for (int i = 0; i < n; i++) {
        if (sl[i].rows)
            memcpy(sl[i].out, dw + (size_t)sl[i].off * V, (size_t)sl[i].rows * V * sizeof(float));
        sl[i].s->in += sl[i].n_in;
        sl[i].s->out += sl[i].rows;
        if (sl[i].final) sl[i].s->finished = true;
    }
    return PL_OK;
}

static pl_status step(struct pl_asr_stream *s, const float *feats, int n, bool final, float *out,
                      int *n_out) {
    struct slot sl = {.s = s, .feats = feats, .n_in = n, .final = final, .out = out};
    pl_status st = step_multi(s->m, NULL, &sl, 1, s->act, s->dw, s->max_rows);
    *n_out = st == PL_OK ? sl.rows : 0;
    return st;
}

pl_status pl_asr_stream_feed(struct pl_asr_stream *s, const float *feats, int n_frames, float *out,
                             int *n_out) {
    if (!s || !n_out || !out || (n_frames > 0 && !feats))
        return PL_ERR(PL_E_INVALID_ARG, "asr stream feed: NULL argument");
    *n_out = 0;
    if (n_frames < 0 || n_frames > s->max_chunk)
        return PL_ERR(PL_E_INVALID_ARG, "asr stream feed: %d frames outside 0..%d", n_frames,
                      s->max_chunk);
    if (s->finished)
        return PL_ERR(PL_E_INVALID_ARG, "asr stream feed: the stream is finished (reset it)");
    return step(s, feats, n_frames, false, out, n_out);
}

pl_status pl_asr_stream_finish(struct pl_asr_stream *s, float *out, int *n_out) {
    if (!s || !n_out || !out) return PL_ERR(PL_E_INVALID_ARG, "asr stream finish: NULL argument");
    *n_out = 0;
    if (s->finished)
        return PL_ERR(PL_E_INVALID_ARG, "asr stream finish: the stream is already finished");
    pl_status st = step(s, NULL, 0, true, out, n_out);
    s->finished = true; /* even on error: the caches are no longer consistent */
    return st;
}

pl_status pl_asr_model_forward(struct pl_asr_stream *s, const float *feats, int n_frames,
                               float *out, int *n_out) {
    if (!s || !out || (n_frames > 0 && !feats))
        return PL_ERR(PL_E_INVALID_ARG, "asr forward: NULL argument");
    if (n_frames < 0) return PL_ERR(PL_E_INVALID_ARG, "asr forward: %d frames", n_frames);
    const struct pl_asr_model *m = s->m;
    int V = m->cfg.vocab_size, done = 0, k;
    pl_asr_stream_reset(s);
    for (int off = 0; off < n_frames; off += s->max_chunk) {
        int n = n_frames - off < s->max_chunk ? n_frames - off : s->max_chunk;
        PL_TRY(pl_asr_stream_feed(s, feats + (size_t)off * m->cfg.n_mels, n, out + (size_t)done * V,
                                  &k));
        done += k;
    }
    PL_TRY(pl_asr_stream_finish(s, out + (size_t)done * V, &k));
    done += k;
    if (n_out) *n_out = done;
    return PL_OK;
}

/* ---- batches ------------------------------------------------------------------ */

struct pl_asr_batch {
    const struct pl_asr_model *m;
    int max_streams, max_chunk, cap_rows;
    struct slot *slots;
    float *act, *dw;            /* [cap_rows][max_channels] */
    struct pl_threadpool *pool; /* NULL = the caller's thread only */
};

pl_status pl_asr_batch_set_threads(struct pl_asr_batch *b, int n_threads) {
    if (!b || n_threads < 1 || n_threads > 256)
        return PL_ERR(PL_E_INVALID_ARG, "asr batch: %d threads outside 1..256", n_threads);
    if (b->pool && pl_threadpool_size(b->pool) == n_threads) return PL_OK;
    struct pl_threadpool *p = NULL;
    if (n_threads > 1) PL_TRY(pl_threadpool_create(n_threads, &p));
    pl_threadpool_destroy(b->pool);
    b->pool = p;
    return PL_OK;
}

pl_status pl_asr_batch_create(const struct pl_asr_model *m, int max_streams, int max_chunk,
                              struct pl_asr_batch **out) {
    if (!out) return PL_ERR(PL_E_INVALID_ARG, "asr batch: out is NULL");
    *out = NULL;
    if (!m) return PL_ERR(PL_E_INVALID_ARG, "asr batch: model is NULL");
    if (max_chunk == 0) max_chunk = 256;
    if (max_streams < 1 || max_streams > 4096 || max_chunk < 1 || max_chunk > MAX_CHUNK_LIMIT)
        return PL_ERR(PL_E_INVALID_ARG,
                      "asr batch: max_streams %d (1..4096) or max_chunk %d (1..%d)", max_streams,
                      max_chunk, MAX_CHUNK_LIMIT);
    pl_status st = PL_OK;
    int *hist_cap = pl_calloc((size_t)m->n_seps, sizeof(int));
    int *res_cap = pl_calloc((size_t)m->n_blocks + 1, sizeof(int));
    struct pl_asr_batch *b = pl_calloc(1, sizeof *b);
    if (!hist_cap || !res_cap || !b) {
        st = PL_ERR(PL_E_NOMEM, "asr batch: out of memory");
        goto fail;
    }
    int rows, mo;
    PL_TRY_GOTO(st, plan_stream(m, max_chunk, hist_cap, res_cap, &rows, &mo));
    b->m = m;
    b->max_streams = max_streams;
    b->max_chunk = max_chunk;
    if ((long long)rows * max_streams > PLAN_LIMIT) {
        st = PL_ERR(PL_E_UNSUPPORTED, "asr batch: %d streams x %d rows is too large", max_streams,
                    rows);
        goto fail;
    }
    b->cap_rows = rows * max_streams;
    size_t n = (size_t)b->cap_rows * (size_t)m->cfg.max_channels * sizeof(float);
    b->slots = pl_calloc((size_t)max_streams, sizeof *b->slots);
    b->act = pl_aligned_alloc(64, n);
    b->dw = pl_aligned_alloc(64, n);
    if (!b->slots || !b->act || !b->dw) {
        st = PL_ERR(PL_E_NOMEM, "asr batch: out of memory (%zu bytes of workspace)", 2 * n);
        goto fail;
    }
    pl_free(hist_cap);
    pl_free(res_cap);
    *out = b;
    return PL_OK;
fail:
    pl_free(hist_cap);
    pl_free(res_cap);
    pl_asr_batch_destroy(b);
    return st;
}

void pl_asr_batch_destroy(struct pl_asr_batch *b) {
    if (!b) return;
    pl_threadpool_destroy(b->pool);
    pl_free(b->slots);
    pl_aligned_free(b->act);
    pl_aligned_free(b->dw);
    pl_free(b);
}

pl_status pl_asr_batch_step(struct pl_asr_batch *b, struct pl_asr_stream *const *streams, int n,
                            const float *const *feats, const int *n_frames, const bool *finish,
                            float *const *out, int *n_out) {
    if (!b || !streams || !feats || !n_frames || !out || !n_out)
        return PL_ERR(PL_E_INVALID_ARG, "asr batch step: NULL argument");
    if (n < 0 || n > b->max_streams)
        return PL_ERR(PL_E_INVALID_ARG, "asr batch step: %d streams outside 0..%d", n,
                      b->max_streams);
    for (int i = 0; i < n; i++) {
        const struct pl_asr_stream *s = streams[i];
        n_out[i] = 0;
        if (!s || s->m != b->m)
            return PL_ERR(PL_E_INVALID_ARG, "asr batch step: stream %d is NULL or of another model",
                          i);
        if (s->finished)
            return PL_ERR(PL_E_INVALID_ARG, "asr batch step: stream %d is finished (reset it)", i);
        int lim = s->max_chunk < b->max_chunk ? s->max_chunk : b->max_chunk;
        if (n_frames[i] < 0 || n_frames[i] > lim || (n_frames[i] && !feats[i]) || !out[i])
            return PL_ERR(PL_E_INVALID_ARG,
                          "asr batch step: stream %d: %d frames (0..%d) or NULL data", i,
                          n_frames[i], lim);
        for (int j = 0; j < i; j++)
            if (streams[j] == s)
                return PL_ERR(PL_E_INVALID_ARG, "asr batch step: streams %d and %d are the same", j,
                              i);
    }
    for (int i = 0; i < n; i++)
        b->slots[i] = (struct slot){.s = streams[i],
                                    .feats = feats[i],
                                    .n_in = n_frames[i],
                                    .final = finish && finish[i],
                                    .out = out[i]};
    pl_status st = step_multi(b->m, b->pool, b->slots, n, b->act, b->dw, b->cap_rows);
    for (int i = 0; i < n; i++)
        n_out[i] = st == PL_OK ? b->slots[i].rows : 0;
    return st;
}

pl_status pl_asr_batch_forward(struct pl_asr_batch *b, struct pl_asr_stream *const *streams, int n,
                               const float *const *feats, const int *n_frames, float *const *out,
                               int *n_out) {
    if (!b || !streams || !feats || !n_frames || !out)
        return PL_ERR(PL_E_INVALID_ARG, "asr batch forward: NULL argument");
    if (n < 0 || n > b->max_streams)
        return PL_ERR(PL_E_INVALID_ARG, "asr batch forward: %d streams outside 0..%d", n,
                      b->max_streams);
    for (int i = 0; i < n; i++) {
        if (!streams[i] || streams[i]->m != b->m)
            return PL_ERR(PL_E_INVALID_ARG,
                          "asr batch forward: stream %d is NULL or of another model", i);
        if (n_frames[i] < 0 || (n_frames[i] && !feats[i]) || !out[i])
            return PL_ERR(PL_E_INVALID_ARG, "asr batch forward: stream %d: %d frames or NULL data",
                          i, n_frames[i]);
        for (int j = 0; j < i; j++)
            if (streams[j] == streams[i])
                return PL_ERR(PL_E_INVALID_ARG, "asr batch forward: streams %d and %d are the same",
                              j, i);
    }
    const struct pl_asr_model *m = b->m;
    int V = m->cfg.vocab_size;
    for (int i = 0; i < n; i++)
        pl_asr_stream_reset(streams[i]);
    /* slots[k] for the streams still running; s->in counts what each has been fed */
    for (;;) {
        int k = 0;
        for (int i = 0; i < n; i++) {
            struct pl_asr_stream *s = streams[i];
            if (s->finished) continue;
            int lim = s->max_chunk < b->max_chunk ? s->max_chunk : b->max_chunk;
            long left = n_frames[i] - s->in;
            int c = left < lim ? (int)left : lim;
            b->slots[k++] = (struct slot){.s = s,
                                          .feats = feats[i] + (size_t)s->in * m->cfg.n_mels,
                                          .n_in = c,
                                          .final = c == left,
                                          .out = out[i] + (size_t)s->out * V};
        }
        if (!k) break;
        PL_TRY(step_multi(m, b->pool, b->slots, k, b->act, b->dw, b->cap_rows));
    }
    for (int i = 0; n_out && i < n; i++)
        n_out[i] = (int)streams[i]->out;
    return PL_OK;
}

/* ---- view for other back ends ------------------------------------------------- */

pl_status pl_asr_model_view_create(const struct pl_asr_model *m, struct pl_asr_model_view **out) {
    if (!out) return PL_ERR(PL_E_INVALID_ARG, "asr model view: out is NULL");
    *out = NULL;
    if (!m) return PL_ERR(PL_E_INVALID_ARG, "asr model view: model is NULL");
    struct pl_asr_model_view *v = pl_calloc(1, sizeof *v);
    struct pl_asr_conv_view *cv = pl_calloc((size_t)m->n_seps, sizeof *cv);
    struct pl_asr_block_view *bv = pl_calloc((size_t)m->n_blocks + 1, sizeof *bv);
    if (!v || !cv || !bv) {
        pl_free(v);
        pl_free(cv);
        pl_free(bv);
        return PL_ERR(PL_E_NOMEM, "asr model view: out of memory");
    }
    for (int i = 0; i < m->n_seps; i++) {
        const struct sep *s = &m->seps[i];
        cv[i] = (struct pl_asr_conv_view){.cin = s->cin,
                                          .cout = s->cout,
                                          .kernel = s->k,
                                          .stride = s->s,
                                          .dilation = s->d,
                                          .left = s->left,
                                          .right = s->right,
                                          .dw = s->dw,
                                          .pw = s->pw,
                                          .pb = s->pb};
    }
    for (int i = 0; i < m->n_blocks; i++) {
        const struct block *b = &m->blocks[i];
        bv[i] = (struct pl_asr_block_view){
            .first = b->first, .n = b->n, .cin = b->cin, .c = b->c, .rw = b->rw, .rb = b->rb};
    }
    v->n_mels = m->cfg.n_mels;
    v->vocab_size = m->cfg.vocab_size;
    v->tail_frames = m->cfg.tail_frames;
    v->n_convs = m->n_seps;
    v->n_blocks = m->n_blocks;
    v->dec_c = m->dec_c;
    v->max_channels = m->cfg.max_channels;
    v->convs = cv;
    v->blocks = bv;
    v->dec_w = m->dec_w;
    v->dec_b = m->dec_b;
    *out = v;
    return PL_OK;
}

void pl_asr_model_view_destroy(struct pl_asr_model_view *v) {
    if (!v) return;
    pl_free((void *)v->convs);
    pl_free((void *)v->blocks);
    pl_free(v);
}
