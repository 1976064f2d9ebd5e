/*
 * asr_model.c - loading the QuartzNet-style CTC acoustic model onto a backend
 * (see asr_model.h; states, batches and the step graphs are asr_state.c).
 *
 * config.json gives the layer geometry; model.safetensors (BN folded, F32,
 * F16 or BF16) is converted to f32 host arrays in the layouts the ops take:
 * pointwise weights as stored ([C_out, C_in], PL_OP_LINEAR's weight),
 * depthwise weights transposed to [K, C] (PL_OP_DWCONV's tap-major weight).
 * Then every weight goes into one buffer of the model's backend (device
 * memory on CUDA) and the host arrays are freed. The same buffer holds a
 * block of zeros: the padding rows the states' windows append are copied
 * from it, so no step needs a host-to-device copy for them.
 */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "asr_model_impl.h"
#include "log.h"
#include "safetensors.h"

/* Host f32 arrays of the weights while loading (freed after the upload). */
struct host_sep {
    float *dw, *pw, *pb;
};
struct host_block {
    float *rw, *rb;
};
struct loading {
    struct host_sep *seps;
    struct host_block *blocks;
    float *dec_w, *dec_b;
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

/* Copy tensor `name` of shape [d0, d1, (1)] (a trailing 1 is optional; dw
 * tensors are [d0, 1, d1]; d1 == 0: a vector [d0]) into a new f32 array; dw
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
        return PL_ERR(PL_E_FORMAT, "model.safetensors: tensor %s has shape [%s], want [%d%s%d%s]",
                      name, got, d0, dw ? ", 1, " : ", ", d1 ? d1 : 0, dw ? "" : (d1 ? ", 1" : ""));
    }
    size_t n = (size_t)d0 * (size_t)(d1 ? d1 : 1);
    float *tmp = pl_malloc(n * sizeof(float));
    if (!tmp) return PL_ERR(PL_E_NOMEM, "asr model: no memory for %s", name);
    pl_st_entry_to_f32(e, tmp);
    if (dw) {
        float *t = pl_malloc(n * sizeof(float));
        if (!t) {
            pl_free(tmp);
            return PL_ERR(PL_E_NOMEM, "asr model: no memory for %s", name);
        }
        for (int c = 0; c < d0; c++)
            for (int k = 0; k < d1; k++) t[(size_t)k * d0 + c] = tmp[(size_t)c * d1 + k];
        pl_free(tmp);
        tmp = t;
    }
    *out = tmp;
    return PL_OK;
}

static pl_status load_sep(const struct pl_safetensors *st, const char *prefix,
                          const struct conv_cfg *c, int cin, struct pl__asr_sep *s,
                          struct host_sep *h) {
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
    PL_TRY(get_weight(st, name, cin, c->kernel, true, &h->dw));
    snprintf(name, sizeof name, "%s.pw.weight", prefix);
    PL_TRY(get_weight(st, name, c->channels, cin, false, &h->pw));
    snprintf(name, sizeof name, "%s.pw.bias", prefix);
    return get_weight(st, name, c->channels, 0, false, &h->pb);
}

static pl_status load_vocab(struct pl_asr_model *m, json_t *root, const char *cpath) {
    struct pl_asr_model_config *cfg = &m->cfg;
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
    json_t *v = json_object_get(root, "tail_frames");
    if (v && !json_is_integer(v))
        return PL_ERR(PL_E_FORMAT, "%s: tail_frames is not an integer", cpath);
    cfg->tail_frames = v ? (int)json_integer_value(v) : 0;
    if (cfg->tail_frames < 0 || cfg->tail_frames > 10000)
        return PL_ERR(PL_E_FORMAT, "%s: tail_frames %d outside 0..10000", cpath, cfg->tail_frames);
    v = json_object_get(root, "blank");
    cfg->blank = json_is_integer(v) ? (int)json_integer_value(v) : 0;
    if (cfg->blank < 0 || cfg->blank >= cfg->vocab_size)
        return PL_ERR(PL_E_FORMAT, "%s: blank %d outside the vocabulary", cpath, cfg->blank);
    return PL_OK;
}

/* Geometry and host weights of every layer (ld receives the arrays). */
static pl_status load_all(struct pl_asr_model *m, json_t *root, const struct pl_safetensors *st,
                          const char *cpath, struct loading *ld) {
    struct pl_asr_model_config *cfg = &m->cfg;
    json_t *v = json_object_get(root, "n_mels");
    cfg->n_mels = json_is_integer(v) ? (int)json_integer_value(v) : 80;
    if (cfg->n_mels < 1 || cfg->n_mels > 1024)
        return PL_ERR(PL_E_FORMAT, "%s: n_mels %d out of range", cpath, cfg->n_mels);
    PL_TRY(load_vocab(m, root, cpath));

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
    ld->seps = pl_calloc((size_t)n_seps, sizeof *ld->seps);
    m->cap_seps = m->seps && ld->seps ? n_seps : 0;
    m->blocks = pl_calloc((size_t)m->n_blocks + 1, sizeof *m->blocks);
    ld->blocks = pl_calloc((size_t)m->n_blocks + 1, sizeof *ld->blocks);
    if (!m->seps || !m->blocks || !ld->seps || !ld->blocks) {
        st_ = PL_ERR(PL_E_NOMEM, "asr model: out of memory");
        goto fail;
    }
    /* Geometry summary while loading: stride, look-ahead, work per frame. */
    int cin = cfg->n_mels, si = 0, maxc = cfg->n_mels;
    long stride = 1;
    double rc = 0, macs_in = 0; /* look-ahead and MACs per input frame */
    PL_TRY_GOTO(st_, load_sep(st, "encoder.prologue", &pro, cin, &m->seps[si], &ld->seps[si]));
    m->n_seps = ++si;
    rc += (double)pro.right * (double)stride;
    stride *= pro.stride;
    macs_in += (double)cin * (pro.kernel + pro.channels) / (double)stride;
    cin = pro.channels;
    for (int i = 0; i < m->n_blocks; i++) {
        struct pl__asr_block *b = &m->blocks[i];
        char prefix[96], name[160];
        b->first = si;
        b->n = bc[i].repeat;
        b->cin = cin;
        b->c = bc[i].channels;
        for (int j = 0; j < b->n; j++) {
            snprintf(prefix, sizeof prefix, "encoder.blocks.%d.sub.%d", i, j);
            PL_TRY_GOTO(st_, load_sep(st, prefix, &bc[i], j ? b->c : cin, &m->seps[si],
                                      &ld->seps[si]));
            m->n_seps = ++si;
            rc += (double)bc[i].right * (double)stride;
            macs_in += (double)(j ? b->c : cin) * (bc[i].kernel + b->c) / (double)stride;
        }
        snprintf(name, sizeof name, "encoder.blocks.%d.res.weight", i);
        PL_TRY_GOTO(st_, get_weight(st, name, b->c, cin, false, &ld->blocks[i].rw));
        snprintf(name, sizeof name, "encoder.blocks.%d.res.bias", i);
        PL_TRY_GOTO(st_, get_weight(st, name, b->c, 0, false, &ld->blocks[i].rb));
        macs_in += (double)cin * b->c / (double)stride;
        if (cin > maxc) maxc = cin;
        cin = b->c;
    }
    PL_TRY_GOTO(st_, load_sep(st, "encoder.epilogue", &epi, cin, &m->seps[si], &ld->seps[si]));
    m->n_seps = ++si;
    rc += (double)epi.right * (double)stride;
    stride *= epi.stride;
    macs_in += (double)cin * (epi.kernel + epi.channels) / (double)stride;
    if (cin > maxc) maxc = cin;
    if (epi.channels > maxc) maxc = epi.channels;
    if (pro.channels > maxc) maxc = pro.channels;
    m->dec_c = epi.channels;
    PL_TRY_GOTO(st_, get_weight(st, "decoder.weight", cfg->vocab_size, m->dec_c, false, &ld->dec_w));
    PL_TRY_GOTO(st_, get_weight(st, "decoder.bias", cfg->vocab_size, 0, false, &ld->dec_b));
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

static void loading_free(const struct pl_asr_model *m, struct loading *ld) {
    for (int i = 0; ld->seps && i < m->cap_seps; i++) {
        pl_free(ld->seps[i].dw);
        pl_free(ld->seps[i].pw);
        pl_free(ld->seps[i].pb);
    }
    for (int i = 0; ld->blocks && i < m->n_blocks; i++) {
        pl_free(ld->blocks[i].rw);
        pl_free(ld->blocks[i].rb);
    }
    pl_free(ld->seps);
    pl_free(ld->blocks);
    pl_free(ld->dec_w);
    pl_free(ld->dec_b);
}

/* Upload pass: count (buf NULL: *off accumulates sizes) or create and set. */
static pl_status put(struct pl_asr_model *m, const char *name, const float *host, int64_t d0,
                     int64_t d1, size_t *off, struct pl_tensor **t) {
    size_t n = (size_t)(d0 * (d1 ? d1 : 1)) * sizeof(float);
    if (m->wbuf) {
        PL_TRY(d1 ? pl_tensor_new_2d(m->wctx, PL_DTYPE_F32, d0, d1, t)
                  : pl_tensor_new_1d(m->wctx, PL_DTYPE_F32, d0, t));
        pl_tensor_set_name(*t, name);
        PL_TRY(pl_tensor_place(*t, m->wbuf, *off));
        if (host) PL_TRY(pl_backend_tensor_set(m->be, *t, host, 0, n));
    }
    *off += (n + 255) & ~(size_t)255;
    return PL_OK;
}

static pl_status upload_pass(struct pl_asr_model *m, const struct loading *ld, const float *zeros,
                             size_t *off) {
    for (int i = 0; i < m->n_seps; i++) {
        struct pl__asr_sep *s = &m->seps[i];
        PL_TRY(put(m, "dw", ld->seps[i].dw, s->k, s->cin, off, &s->dw));
        PL_TRY(put(m, "pw", ld->seps[i].pw, s->cout, s->cin, off, &s->pw));
        PL_TRY(put(m, "pb", ld->seps[i].pb, s->cout, 0, off, &s->pb));
    }
    for (int i = 0; i < m->n_blocks; i++) {
        struct pl__asr_block *b = &m->blocks[i];
        PL_TRY(put(m, "res", ld->blocks[i].rw, b->c, b->cin, off, &b->rw));
        PL_TRY(put(m, "res bias", ld->blocks[i].rb, b->c, 0, off, &b->rb));
    }
    PL_TRY(put(m, "decoder", ld->dec_w, m->cfg.vocab_size, m->dec_c, off, &m->dec_w));
    PL_TRY(put(m, "decoder bias", ld->dec_b, m->cfg.vocab_size, 0, off, &m->dec_b));
    return put(m, "zeros", zeros, (int64_t)m->zero_rows * m->cfg.max_channels, 0, off, &m->zeros);
}

/* Every weight and the zero rows into one buffer of m->be. */
static pl_status upload(struct pl_asr_model *m, const struct loading *ld) {
    pl_status st = PL_OK;
    size_t size = 0, off = 0;
    float *zeros = NULL;
    /* the most padding rows one window append takes: left or right zeros
     * (both <= span), the tail frames before the first conv's right zeros */
    int zr = 0;
    for (int i = 0; i < m->n_seps; i++) zr = m->seps[i].span > zr ? m->seps[i].span : zr;
    m->zero_rows = zr + m->cfg.tail_frames + 1;
    PL_TRY(upload_pass(m, ld, NULL, &size));
    PL_TRY(pl_ctx_create(3 * m->n_seps + 2 * m->n_blocks + 8, &m->wctx));
    PL_TRY(pl_backend_buffer_alloc(m->be, size, &m->wbuf));
    zeros = pl_calloc((size_t)m->zero_rows * (size_t)m->cfg.max_channels, sizeof(float));
    if (!zeros) return PL_ERR(PL_E_NOMEM, "asr model: out of memory");
    PL_TRY_GOTO(st, upload_pass(m, ld, zeros, &off));
fail:
    pl_free(zeros);
    return st;
}

pl_status pl_asr_model_load(const char *model_dir, const struct pl_asr_model_options *opt,
                            struct pl_asr_model **out) {
    if (!out) return PL_ERR(PL_E_INVALID_ARG, "asr model: out is NULL");
    *out = NULL;
    if (!model_dir) return PL_ERR(PL_E_INVALID_ARG, "asr model: model_dir is NULL");
    pl_status st = PL_OK;
    json_t *root = NULL;
    struct pl_safetensors *sf = NULL;
    struct loading ld = {0};
    char cpath[4096], wpath[4096];
    const char *device = opt && opt->device && *opt->device ? opt->device : "cpu";
    snprintf(cpath, sizeof cpath, "%s/config.json", model_dir);
    snprintf(wpath, sizeof wpath, "%s/model.safetensors", model_dir);
    struct pl_asr_model *m = pl_calloc(1, sizeof *m);
    if (!m) return PL_ERR(PL_E_NOMEM, "asr model: out of memory");
    if (strlen(device) >= sizeof m->device) {
        pl_free(m);
        return PL_ERR(PL_E_INVALID_ARG, "asr model: device name '%.40s...' too long", device);
    }
    snprintf(m->device, sizeof m->device, "%s", device);
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
    PL_TRY_GOTO(st, load_all(m, root, sf, cpath, &ld));
    PL_TRY_GOTO(st, pl_backend_create_threads(device, 1, &m->be));
    PL_TRY_GOTO(st, upload(m, &ld));
    PL_LOGD("asr model %s on %s: %d convs, %d blocks, stride %d, look-ahead %d frames, "
            "%.2f MMAC/frame",
            model_dir, pl_backend_name(m->be), m->cfg.n_convs, m->cfg.n_blocks, m->cfg.stride,
            m->cfg.right_context, m->cfg.macs_per_frame / 1e6);
    loading_free(m, &ld);
    pl_safetensors_close(sf);
    json_decref(root);
    *out = m;
    return PL_OK;
fail:
    loading_free(m, &ld);
    pl_safetensors_close(sf);
    json_decref(root);
    pl_asr_model_destroy(m);
    return st;
}

void pl_asr_model_destroy(struct pl_asr_model *m) {
    if (!m) return;
    pl_buffer_free(m->wbuf);
    pl_ctx_destroy(m->wctx);
    pl_backend_destroy(m->be);
    for (int i = 0; m->vocab && i < m->cfg.vocab_size; i++) pl_free(m->vocab[i]);
    pl_free(m->vocab);
    pl_free(m->seps);
    pl_free(m->blocks);
    pl_free(m);
}

const struct pl_asr_model_config *pl_asr_model_get_config(const struct pl_asr_model *m) {
    return &m->cfg;
}

const char *pl_asr_model_device(const struct pl_asr_model *m) { return pl_backend_name(m->be); }

const char *pl_asr_model_token(const struct pl_asr_model *m, int i) {
    return i >= 0 && i < m->cfg.vocab_size ? m->vocab[i] : NULL;
}

int pl_asr_model_n_out(const struct pl_asr_model *m, int n_frames) {
    if (n_frames <= 0) return 0;
    /* each strided conv maps n frames to ceil(n / s) */
    int n = n_frames + m->cfg.tail_frames;
    for (int i = 0; i < m->n_seps; i++) n = (n + m->seps[i].s - 1) / m->seps[i].s;
    return n;
}
