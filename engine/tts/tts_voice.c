/*
 * tts_voice.c - the neural voice (tts_voice.h): acoustic model and vocoder as
 * engine graphs, the length regulator and the inverse STFT on the host.
 *
 * The networks are those of train/tts/model.py (its comment has the
 * diagrams); the weights keep the recipe's names with "ac." and "voc."
 * prefixes. Conv1d weights [C_out, C_in, K] are reordered at load to
 * [C_out, K * C_in] so that a convolution is PL_OP_IM2COL + PL_OP_LINEAR.
 *
 * One synthesis runs three kinds of graph on one of the voice's compute
 * contexts (struct run, kept in a free list so that concurrent calls never
 * share one):
 *   A  tokens -> embedding -> encoder -> hidden [N, C] and the three
 *      predictions (log duration, pitch, energy) [N, 1] each;
 *   B  hidden + pitch/energy embedding -> repeated by the durations (a
 *      PL_OP_GET_ROWS with the host's frame -> token index) + frame features
 *      -> decoder -> mel [T, 80];
 *   C  per block of frames, with the vocoder's receptive field of context on
 *      both sides, mel -> log-magnitude and phase [Tc, 2 * bins].
 * The host turns C's output into complex spectra, inverts them with its own
 * radix-2 FFT and overlap-adds with a Hann window, dividing by the window's
 * squared sum as torch.istft does. Samples are handed out as soon as no
 * later frame can change them.
 */
#include "tts_voice_impl.h"

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "backend.h"
#include "safetensors.h"
#include "tensor.h"

#define MAX_BLOCKS 16
#define LN_EPS 1e-5f
#define PI_F 3.14159265358979323846f

struct block {
    struct pl_tensor *conv_w, *conv_b; /* [C, K * C], [C] */
    struct pl_tensor *lin_w, *lin_b;   /* [C, C], [C] */
    struct pl_tensor *ln_w, *ln_b;     /* [C] */
    int k, dil;
};

struct predictor {
    struct block b[2];
    struct pl_tensor *out_w, *out_b; /* [1, C], [1] */
};

/* A compute context: its own backend (same device as the weights), workspace,
 * tensor context and graph. */
struct run {
    struct run *next;
    struct pl_backend *be;
    struct pl_buffer *ws;
    size_t ws_bytes;
    struct pl_ctx *ctx;
    struct pl_graph *g;
    struct pl_tensor *nodes[256];
    int n_nodes;
    struct pl_tensor *leaves[8];
    int n_leaves;
};

struct pl_tts_voice {
    char name[64], language[16], backend[32];
    int n_threads;
    int rate, hop, n_fft, n_bins, n_mels;
    int C, n_enc, n_dec;   /* acoustic model */
    int vC, n_voc, rf;     /* vocoder channels, blocks, receptive field (frames, one side) */
    int dilations[MAX_BLOCKS];
    float pitch_mean, pitch_std, energy_mean, energy_std;

    struct pl_backend *be; /* owns the weights */
    struct pl_ctx *wctx;
    struct pl_buffer *wbuf;

    struct pl_tensor *emb;
    struct block enc[MAX_BLOCKS], dec[MAX_BLOCKS];
    struct predictor dur, pitch, energy;
    struct pl_tensor *pe_w, *pe_b;       /* [C, 2], [C]: pitch and energy embeddings */
    struct pl_tensor *frame_w, *frame_b; /* [C, 2], [C] */
    struct pl_tensor *mel_w, *mel_b;     /* [80, C], [80] */

    struct pl_tensor *vin_w, *vin_b; /* [vC, 7 * 80], [vC] */
    struct block voc[MAX_BLOCKS];
    struct pl_tensor *vln_w, *vln_b;   /* [vC] */
    struct pl_tensor *head_w, *head_b; /* [2 * bins, vC], [2 * bins] */

    float *window;  /* [n_fft] periodic Hann */
    float *twiddle; /* [n_fft] cos, sin interleaved for the FFT */

    pthread_mutex_t mu;
    struct run *free_runs;
};

/* ---------------------------------------------------------------- loading */

struct wl_ent {
    size_t off; /* floats into the host array */
    int64_t d0, d1;
    struct pl_tensor **dst;
};

/* The weights as they are gathered: one host array, uploaded at once. */
struct wl {
    const struct pl_safetensors *st;
    float *host;
    size_t n, cap;
    struct wl_ent *v;
    int nv, capv;
};

static pl_status wl_reserve(struct wl *w, size_t floats) {
    size_t need = ((w->n + 15) & ~(size_t)15) + floats;
    if (need > w->cap) {
        size_t cap = w->cap ? w->cap : 1 << 16;
        while (cap < need) cap *= 2;
        float *h = pl_realloc(w->host, cap * sizeof(float));
        if (!h) return PL_ERR(PL_E_NOMEM, "voice weights: out of memory");
        w->host = h;
        w->cap = cap;
    }
    if (w->nv == w->capv) {
        int c = w->capv ? 2 * w->capv : 128;
        struct wl_ent *v = pl_realloc(w->v, (size_t)c * sizeof *v);
        if (!v) return PL_ERR(PL_E_NOMEM, "voice weights: out of memory");
        w->v = v;
        w->capv = c;
    }
    w->n = (w->n + 15) & ~(size_t)15;
    return PL_OK;
}

/* Room for a [d0, d1] tensor (d1 == 0: [d0]); *at receives its floats. */
static pl_status wl_push(struct wl *w, int64_t d0, int64_t d1, struct pl_tensor **dst, float **at) {
    size_t n = (size_t)d0 * (size_t)(d1 ? d1 : 1);
    PL_TRY(wl_reserve(w, n));
    w->v[w->nv++] = (struct wl_ent){w->n, d0, d1, dst};
    *at = w->host + w->n;
    w->n += n;
    return PL_OK;
}

/* The entry `name` with exactly shape[n_dims], as F32 / F16 / BF16. */
static pl_status wl_find(struct wl *w, const char *name, int n_dims, const int64_t *shape,
                         const struct pl_st_entry **out) {
    const struct pl_st_entry *e = pl_safetensors_find(w->st, name);
    if (!e) return PL_ERR(PL_E_FORMAT, "voice weights: tensor %s missing", name);
    if (e->dtype != PL_DTYPE_F32 && e->dtype != PL_DTYPE_F16 && e->dtype != PL_DTYPE_BF16)
        return PL_ERR(PL_E_FORMAT, "voice weights: tensor %s is %s, want F32/F16/BF16", name,
                      e->dtype_str);
    bool ok = e->n_dims == n_dims;
    for (int i = 0; ok && i < n_dims; i++) ok = e->shape[i] == shape[i];
    if (!ok) {
        char want[96] = "";
        size_t k = 0;
        for (int i = 0; i < n_dims && k < sizeof want; i++)
            k += (size_t)snprintf(want + k, sizeof want - k, "%s%lld", i ? "," : "",
                                  (long long)shape[i]);
        return PL_ERR(PL_E_FORMAT, "voice weights: tensor %s has the wrong shape (want [%s])",
                      name, want);
    }
    *out = e;
    return PL_OK;
}

/* A Linear weight [n, k], a bias or LayerNorm vector [n] (k == 0), or an embedding. */
static pl_status wl_plain(struct wl *w, const char *name, int64_t n, int64_t k,
                          struct pl_tensor **dst) {
    const struct pl_st_entry *e;
    int64_t shape[2] = {n, k};
    PL_TRY(wl_find(w, name, k ? 2 : 1, shape, &e));
    float *at;
    PL_TRY(wl_push(w, n, k, dst, &at));
    pl_st_entry_to_f32(e, at);
    return PL_OK;
}

/* A Conv1d weight [co, ci, kk] reordered to [co, kk * ci]. */
static pl_status wl_conv(struct wl *w, const char *name, int64_t co, int64_t ci, int64_t kk,
                         struct pl_tensor **dst) {
    const struct pl_st_entry *e;
    PL_TRY(wl_find(w, name, 3, (int64_t[]){co, ci, kk}, &e));
    float *tmp = pl_malloc((size_t)(co * ci * kk) * sizeof(float));
    if (!tmp) return PL_ERR(PL_E_NOMEM, "voice weights: out of memory");
    pl_st_entry_to_f32(e, tmp);
    float *at;
    pl_status st = wl_push(w, co, kk * ci, dst, &at);
    if (st == PL_OK)
        for (int64_t o = 0; o < co; o++)
            for (int64_t i = 0; i < ci; i++)
                for (int64_t t = 0; t < kk; t++)
                    at[(o * kk + t) * ci + i] = tmp[(o * ci + i) * kk + t];
    pl_free(tmp);
    return st;
}

static pl_status wl_block(struct wl *w, const char *prefix, int c, int k, int dil,
                          struct block *b) {
    char n[128];
    b->k = k;
    b->dil = dil;
    snprintf(n, sizeof n, "%s.conv.weight", prefix);
    PL_TRY(wl_conv(w, n, c, c, k, &b->conv_w));
    snprintf(n, sizeof n, "%s.conv.bias", prefix);
    PL_TRY(wl_plain(w, n, c, 0, &b->conv_b));
    snprintf(n, sizeof n, "%s.lin.weight", prefix);
    PL_TRY(wl_plain(w, n, c, c, &b->lin_w));
    snprintf(n, sizeof n, "%s.lin.bias", prefix);
    PL_TRY(wl_plain(w, n, c, 0, &b->lin_b));
    snprintf(n, sizeof n, "%s.ln.weight", prefix);
    PL_TRY(wl_plain(w, n, c, 0, &b->ln_w));
    snprintf(n, sizeof n, "%s.ln.bias", prefix);
    return wl_plain(w, n, c, 0, &b->ln_b);
}

static pl_status wl_predictor(struct wl *w, const char *prefix, int c, struct predictor *p) {
    char n[96];
    for (int i = 0; i < 2; i++) {
        snprintf(n, sizeof n, "%s.blocks.%d", prefix, i);
        PL_TRY(wl_block(w, n, c, 3, 1, &p->b[i]));
    }
    snprintf(n, sizeof n, "%s.out.weight", prefix);
    PL_TRY(wl_plain(w, n, 1, c, &p->out_w));
    snprintf(n, sizeof n, "%s.out.bias", prefix);
    return wl_plain(w, n, 1, 0, &p->out_b);
}

/* Two Linear(1 -> c) side by side as one [c, 2] weight and the sum of their biases. */
static pl_status wl_pair(struct wl *w, const char *a, const char *b, int c,
                         struct pl_tensor **dw, struct pl_tensor **db) {
    char n[128];
    const struct pl_st_entry *ea, *eb, *ba, *bb;
    snprintf(n, sizeof n, "%s.weight", a);
    PL_TRY(wl_find(w, n, 2, (int64_t[]){c, 1}, &ea));
    snprintf(n, sizeof n, "%s.weight", b);
    PL_TRY(wl_find(w, n, 2, (int64_t[]){c, 1}, &eb));
    snprintf(n, sizeof n, "%s.bias", a);
    PL_TRY(wl_find(w, n, 1, (int64_t[]){c}, &ba));
    snprintf(n, sizeof n, "%s.bias", b);
    PL_TRY(wl_find(w, n, 1, (int64_t[]){c}, &bb));
    float *tmp = pl_malloc((size_t)4 * c * sizeof(float));
    if (!tmp) return PL_ERR(PL_E_NOMEM, "voice weights: out of memory");
    pl_st_entry_to_f32(ea, tmp);
    pl_st_entry_to_f32(eb, tmp + c);
    pl_st_entry_to_f32(ba, tmp + 2 * c);
    pl_st_entry_to_f32(bb, tmp + 3 * c);
    float *at;
    pl_status st = wl_push(w, c, 2, dw, &at);
    if (st == PL_OK) {
        for (int i = 0; i < c; i++) {
            at[2 * i] = tmp[i];
            at[2 * i + 1] = tmp[c + i];
        }
        st = wl_push(w, c, 0, db, &at);
    }
    if (st == PL_OK)
        for (int i = 0; i < c; i++) at[i] = tmp[2 * c + i] + tmp[3 * c + i];
    pl_free(tmp);
    return st;
}

static pl_status read_weights(struct pl_tts_voice *v, struct wl *w) {
    char n[64];
    int C = v->C, vC = v->vC;
    PL_TRY(wl_plain(w, "ac.emb.weight", PL_TTS_N_TOKENS, C, &v->emb));
    for (int i = 0; i < v->n_enc; i++) {
        snprintf(n, sizeof n, "ac.enc.%d", i);
        PL_TRY(wl_block(w, n, C, 5, 1, &v->enc[i]));
    }
    PL_TRY(wl_predictor(w, "ac.dur", C, &v->dur));
    PL_TRY(wl_predictor(w, "ac.pitch", C, &v->pitch));
    PL_TRY(wl_predictor(w, "ac.energy", C, &v->energy));
    PL_TRY(wl_pair(w, "ac.pitch_emb", "ac.energy_emb", C, &v->pe_w, &v->pe_b));
    PL_TRY(wl_plain(w, "ac.frame_emb.weight", C, 2, &v->frame_w));
    PL_TRY(wl_plain(w, "ac.frame_emb.bias", C, 0, &v->frame_b));
    for (int i = 0; i < v->n_dec; i++) {
        snprintf(n, sizeof n, "ac.dec.%d", i);
        PL_TRY(wl_block(w, n, C, 5, 1, &v->dec[i]));
    }
    PL_TRY(wl_plain(w, "ac.mel.weight", v->n_mels, C, &v->mel_w));
    PL_TRY(wl_plain(w, "ac.mel.bias", v->n_mels, 0, &v->mel_b));

    PL_TRY(wl_conv(w, "voc.conv_in.weight", vC, v->n_mels, 7, &v->vin_w));
    PL_TRY(wl_plain(w, "voc.conv_in.bias", vC, 0, &v->vin_b));
    for (int i = 0; i < v->n_voc; i++) {
        snprintf(n, sizeof n, "voc.blocks.%d", i);
        PL_TRY(wl_block(w, n, vC, 3, v->dilations[i], &v->voc[i]));
    }
    PL_TRY(wl_plain(w, "voc.ln.weight", vC, 0, &v->vln_w));
    PL_TRY(wl_plain(w, "voc.ln.bias", vC, 0, &v->vln_b));
    PL_TRY(wl_plain(w, "voc.head.weight", 2 * v->n_bins, vC, &v->head_w));
    return wl_plain(w, "voc.head.bias", 2 * v->n_bins, 0, &v->head_b);
}

static pl_status upload(struct pl_tts_voice *v, struct wl *w) {
    PL_TRY(pl_ctx_create(w->nv + 8, &v->wctx));
    PL_TRY(pl_backend_buffer_alloc(v->be, w->n * sizeof(float), &v->wbuf));
    for (int i = 0; i < w->nv; i++) {
        const struct wl_ent *e = &w->v[i];
        PL_TRY(e->d1 ? pl_tensor_new_2d(v->wctx, PL_DTYPE_F32, e->d0, e->d1, e->dst)
                     : pl_tensor_new_1d(v->wctx, PL_DTYPE_F32, e->d0, e->dst));
        PL_TRY(pl_tensor_place(*e->dst, v->wbuf, e->off * sizeof(float)));
    }
    struct pl_tensor *all;
    PL_TRY(pl_tensor_new_1d(v->wctx, PL_DTYPE_F32, (int64_t)w->n, &all));
    PL_TRY(pl_tensor_place(all, v->wbuf, 0));
    return pl_backend_tensor_set(v->be, all, w->host, 0, w->n * sizeof(float));
}

static int jint(json_t *o, const char *k, int def) {
    json_t *x = json_object_get(o, k);
    return json_is_integer(x) ? (int)json_integer_value(x) : def;
}

static float jnum(json_t *o, const char *k, float def) {
    json_t *x = json_object_get(o, k);
    return json_is_number(x) ? (float)json_number_value(x) : def;
}

static pl_status parse_config(struct pl_tts_voice *v, const char *dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (!root) return PL_ERR(PL_E_IO, "%s: %s (line %d)", path, jerr.text, jerr.line);
    pl_status st = PL_OK;
    const char *type = json_string_value(json_object_get(root, "model_type"));
    if (!type || strcmp(type, "parley-tts-voice") != 0) {
        st = PL_ERR(PL_E_FORMAT, "%s: model_type is not \"parley-tts-voice\"", path);
        goto out;
    }
    const char *name = json_string_value(json_object_get(root, "voice_name"));
    const char *lang = json_string_value(json_object_get(root, "language_code"));
    snprintf(v->name, sizeof v->name, "%s", name ? name : "parley");
    snprintf(v->language, sizeof v->language, "%s", lang ? lang : "en-US");
    v->rate = jint(root, "sample_rate", 0);
    v->hop = jint(root, "hop", 0);
    v->n_fft = jint(root, "n_fft", 0);
    v->n_mels = jint(root, "n_mels", 0);
    json_t *ac = json_object_get(root, "acoustic"), *voc = json_object_get(root, "vocoder");
    json_t *stats = json_object_get(root, "stats");
    v->C = jint(ac, "channels", 0);
    v->n_enc = jint(ac, "n_enc", 0);
    v->n_dec = jint(ac, "n_dec", 0);
    v->vC = jint(voc, "channels", 0);
    json_t *dil = json_object_get(voc, "dilations");
    v->n_voc = json_is_array(dil) ? (int)json_array_size(dil) : 0;
    v->rf = 3;
    for (int i = 0; i < v->n_voc && i < MAX_BLOCKS; i++) {
        v->dilations[i] = (int)json_integer_value(json_array_get(dil, (size_t)i));
        v->rf += v->dilations[i];
    }
    v->pitch_mean = jnum(stats, "pitch_mean", 0);
    v->pitch_std = jnum(stats, "pitch_std", 1);
    v->energy_mean = jnum(stats, "energy_mean", 0);
    v->energy_std = jnum(stats, "energy_std", 1);
    bool pow2 = v->n_fft >= 16 && (v->n_fft & (v->n_fft - 1)) == 0;
    if (v->rate < 8000 || v->rate > 48000 || v->hop < 16 || !pow2 || v->n_fft > 8192 ||
        v->hop > v->n_fft || v->n_mels < 1 || v->n_mels > 512 || v->C < 1 || v->C > 4096 ||
        v->vC < 1 || v->vC > 4096 || v->n_enc < 1 || v->n_enc > MAX_BLOCKS || v->n_dec < 1 ||
        v->n_dec > MAX_BLOCKS || v->n_voc < 1 || v->n_voc > MAX_BLOCKS || v->pitch_std <= 0 ||
        v->energy_std <= 0) {
        st = PL_ERR(PL_E_FORMAT, "%s: sample_rate, hop, n_fft (a power of two), n_mels, "
                    "acoustic or vocoder sizes out of range", path);
        goto out;
    }
    for (int i = 0; i < v->n_voc; i++)
        if (v->dilations[i] < 1 || v->dilations[i] > 64) {
            st = PL_ERR(PL_E_FORMAT, "%s: vocoder dilation %d out of range", path, v->dilations[i]);
            goto out;
        }
    v->n_bins = v->n_fft / 2 + 1;
out:
    json_decref(root);
    return st;
}

pl_status pl_tts_voice_load(const char *dir, const struct pl_tts_voice_opts *opts,
                            struct pl_tts_voice **out) {
    if (!out) return PL_ERR(PL_E_INVALID_ARG, "pl_tts_voice_load: out is NULL");
    *out = NULL;
    if (!dir) return PL_ERR(PL_E_INVALID_ARG, "pl_tts_voice_load: dir is NULL");
    const char *backend = opts && opts->backend && *opts->backend ? opts->backend : "cpu";
    struct pl_tts_voice *v = pl_calloc(1, sizeof *v);
    if (!v) return PL_ERR(PL_E_NOMEM, "pl_tts_voice_load");
    pthread_mutex_init(&v->mu, NULL);
    struct wl w = {0};
    struct pl_safetensors *sf = NULL;
    pl_status st;
    if (strlen(backend) >= sizeof v->backend) {
        st = PL_ERR(PL_E_INVALID_ARG, "pl_tts_voice_load: backend name too long");
        goto fail;
    }
    snprintf(v->backend, sizeof v->backend, "%s", backend);
    v->n_threads = opts && opts->n_threads > 0 ? opts->n_threads : 1;
    PL_TRY_GOTO(st, parse_config(v, dir));
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    PL_TRY_GOTO(st, pl_safetensors_open(path, &sf));
    w.st = sf;
    PL_TRY_GOTO(st, read_weights(v, &w));
    PL_TRY_GOTO(st, pl_backend_create_threads(v->backend, v->n_threads, &v->be));
    PL_TRY_GOTO(st, upload(v, &w));
    v->window = pl_malloc((size_t)v->n_fft * sizeof(float));
    v->twiddle = pl_malloc((size_t)v->n_fft * 2 * sizeof(float));
    if (!v->window || !v->twiddle) {
        st = PL_ERR(PL_E_NOMEM, "pl_tts_voice_load");
        goto fail;
    }
    for (int i = 0; i < v->n_fft; i++) {
        double a = 2.0 * 3.14159265358979323846 * i / v->n_fft;
        v->window[i] = (float)(0.5 - 0.5 * cos(a));
        v->twiddle[2 * i] = (float)cos(a);
        v->twiddle[2 * i + 1] = (float)sin(a);
    }
    pl_free(w.host);
    pl_free(w.v);
    pl_safetensors_close(sf);
    *out = v;
    return PL_OK;
fail:
    pl_free(w.host);
    pl_free(w.v);
    pl_safetensors_close(sf);
    pl_tts_voice_destroy(v);
    return st;
}

static void run_destroy(struct run *r) {
    if (!r) return;
    pl_buffer_free(r->ws);
    pl_backend_destroy(r->be);
    pl_ctx_destroy(r->ctx);
    pl_graph_destroy(r->g);
    pl_free(r);
}

void pl_tts_voice_destroy(struct pl_tts_voice *v) {
    if (!v) return;
    while (v->free_runs) {
        struct run *r = v->free_runs;
        v->free_runs = r->next;
        run_destroy(r);
    }
    pl_buffer_free(v->wbuf);
    pl_ctx_destroy(v->wctx);
    pl_backend_destroy(v->be);
    pl_free(v->window);
    pl_free(v->twiddle);
    pthread_mutex_destroy(&v->mu);
    pl_free(v);
}

const char *pl_tts_voice_name(const struct pl_tts_voice *v) { return v->name; }
const char *pl_tts_voice_language(const struct pl_tts_voice *v) { return v->language; }
int pl_tts_voice_sample_rate(const struct pl_tts_voice *v) { return v->rate; }
double pl_tts_voice_frame_seconds(const struct pl_tts_voice *v) {
    return (double)v->hop / v->rate;
}
int pl_tts_voice_n_mels(const struct pl_tts_voice *v) { return v->n_mels; }

/* ------------------------------------------------------ compute contexts */

static pl_status run_get(struct pl_tts_voice *v, struct run **out) {
    pthread_mutex_lock(&v->mu);
    struct run *r = v->free_runs;
    if (r) v->free_runs = r->next;
    pthread_mutex_unlock(&v->mu);
    if (!r) {
        pl_status st;
        r = pl_calloc(1, sizeof *r);
        if (!r) return PL_ERR(PL_E_NOMEM, "voice: out of memory");
        PL_TRY_GOTO(st, pl_backend_create_threads(v->backend, v->n_threads, &r->be));
        PL_TRY_GOTO(st, pl_ctx_create(512, &r->ctx));
        PL_TRY_GOTO(st, pl_graph_create(256, &r->g));
        goto done;
    fail:
        run_destroy(r);
        return st;
    }
done:
    pl_ctx_reset(r->ctx);
    pl_graph_reset(r->g);
    r->n_nodes = r->n_leaves = 0;
    *out = r;
    return PL_OK;
}

static void run_put(struct pl_tts_voice *v, struct run *r) {
    pthread_mutex_lock(&v->mu);
    r->next = v->free_runs;
    v->free_runs = r;
    pthread_mutex_unlock(&v->mu);
}

static pl_status leaf(struct run *r, enum pl_dtype dt, int64_t d0, int64_t d1,
                      struct pl_tensor **t) {
    PL_TRY(d1 ? pl_tensor_new_2d(r->ctx, dt, d0, d1, t) : pl_tensor_new_1d(r->ctx, dt, d0, t));
    if (r->n_leaves == (int)(sizeof r->leaves / sizeof r->leaves[0]))
        return PL_ERR(PL_E_INTERNAL, "voice: too many graph inputs");
    r->leaves[r->n_leaves++] = *t;
    return PL_OK;
}

static pl_status push(struct run *r, struct pl_tensor *t) {
    if (r->n_nodes == (int)(sizeof r->nodes / sizeof r->nodes[0]))
        return PL_ERR(PL_E_INTERNAL, "voice: graph too large");
    r->nodes[r->n_nodes++] = t;
    return PL_OK;
}

/* Give every input and node its own slot of the workspace, then add the nodes. */
static pl_status place_all(struct run *r) {
    size_t need = 0;
    for (int i = 0; i < r->n_leaves; i++) need += (pl_tensor_nbytes(r->leaves[i]) + 63) & ~(size_t)63;
    for (int i = 0; i < r->n_nodes; i++) need += (pl_tensor_nbytes(r->nodes[i]) + 63) & ~(size_t)63;
    if (need > r->ws_bytes) {
        pl_buffer_free(r->ws);
        r->ws = NULL;
        r->ws_bytes = 0;
        size_t n = need + need / 4;
        PL_TRY(pl_backend_buffer_alloc(r->be, n, &r->ws));
        r->ws_bytes = n;
    }
    size_t off = 0;
    for (int i = 0; i < r->n_leaves; i++) {
        PL_TRY(pl_tensor_place(r->leaves[i], r->ws, off));
        off += (pl_tensor_nbytes(r->leaves[i]) + 63) & ~(size_t)63;
    }
    for (int i = 0; i < r->n_nodes; i++) {
        PL_TRY(pl_tensor_place(r->nodes[i], r->ws, off));
        off += (pl_tensor_nbytes(r->nodes[i]) + 63) & ~(size_t)63;
        PL_TRY(pl_graph_add(r->g, r->nodes[i]));
    }
    return PL_OK;
}

/* Post-LN block of the acoustic model: LN(x + lin(relu(conv(x)))). */
static pl_status conv_block(struct run *r, const struct block *b, struct pl_tensor *x,
                            struct pl_tensor **out) {
    struct pl_tensor *c, *y, *z;
    PL_TRY(pl_op_im2col(r->ctx, x, b->k, 1, 1, b->k / 2, b->k / 2, &c));
    PL_TRY(push(r, c));
    PL_TRY(pl_op_linear(r->ctx, c, b->conv_w, NULL, b->conv_b, PL_ACT_RELU, &y));
    PL_TRY(push(r, y));
    PL_TRY(pl_op_linear(r->ctx, y, b->lin_w, NULL, b->lin_b, PL_ACT_NONE, &z));
    PL_TRY(push(r, z));
    PL_TRY(pl_op_layer_norm(r->ctx, z, x, b->ln_w, b->ln_b, LN_EPS, out));
    return push(r, *out);
}

/* Pre-LN block of the vocoder: x + lin(gelu(conv_dil(LN(x)))). */
static pl_status voc_block(struct run *r, const struct block *b, struct pl_tensor *x,
                           struct pl_tensor **out) {
    struct pl_tensor *n, *c, *y, *z;
    PL_TRY(pl_op_layer_norm(r->ctx, x, NULL, b->ln_w, b->ln_b, LN_EPS, &n));
    PL_TRY(push(r, n));
    PL_TRY(pl_op_im2col(r->ctx, n, 3, 1, b->dil, b->dil, b->dil, &c));
    PL_TRY(push(r, c));
    PL_TRY(pl_op_linear(r->ctx, c, b->conv_w, NULL, b->conv_b, PL_ACT_GELU_ERF, &y));
    PL_TRY(push(r, y));
    PL_TRY(pl_op_linear(r->ctx, y, b->lin_w, NULL, b->lin_b, PL_ACT_NONE, &z));
    PL_TRY(push(r, z));
    PL_TRY(pl_op_add(r->ctx, x, z, out));
    return push(r, *out);
}

static pl_status predictor(struct run *r, const struct predictor *p, struct pl_tensor *x,
                           struct pl_tensor **out) {
    struct pl_tensor *a, *b;
    PL_TRY(conv_block(r, &p->b[0], x, &a));
    PL_TRY(conv_block(r, &p->b[1], a, &b));
    PL_TRY(pl_op_linear(r->ctx, b, p->out_w, NULL, p->out_b, PL_ACT_NONE, out));
    return push(r, *out);
}

/* ------------------------------------------------------- acoustic model */

/* Graph A: tokens -> hidden [n, C] (host copy) and the predictions. */
static pl_status encode(struct pl_tts_voice *v, struct run *r, const int32_t *tokens, size_t n,
                        float *hidden, float *logd, float *pitch, float *energy) {
    struct pl_tensor *tok, *x, *d, *p, *e;
    PL_TRY(leaf(r, PL_DTYPE_I32, (int64_t)n, 0, &tok));
    PL_TRY(pl_op_get_rows(r->ctx, v->emb, tok, &x));
    PL_TRY(push(r, x));
    for (int i = 0; i < v->n_enc; i++) PL_TRY(conv_block(r, &v->enc[i], x, &x));
    PL_TRY(predictor(r, &v->dur, x, &d));
    PL_TRY(predictor(r, &v->pitch, x, &p));
    PL_TRY(predictor(r, &v->energy, x, &e));
    PL_TRY(place_all(r));
    PL_TRY(pl_backend_tensor_set(r->be, tok, tokens, 0, n * sizeof(int32_t)));
    PL_TRY(pl_backend_graph_compute(r->be, r->g));
    PL_TRY(pl_backend_tensor_get(r->be, x, hidden, 0, n * (size_t)v->C * sizeof(float)));
    PL_TRY(pl_backend_tensor_get(r->be, d, logd, 0, n * sizeof(float)));
    PL_TRY(pl_backend_tensor_get(r->be, p, pitch, 0, n * sizeof(float)));
    return pl_backend_tensor_get(r->be, e, energy, 0, n * sizeof(float));
}

/* Graph B: hidden + pitch/energy, repeated by dur -> mel [T][n_mels]. */
static pl_status decode(struct pl_tts_voice *v, struct run *r, const float *hidden, size_t n,
                        const int32_t *dur, const float *pitch, const float *energy, float *mel,
                        size_t T) {
    pl_status st = PL_OK;
    float *pe = pl_malloc(n * 2 * sizeof(float));
    float *ff = pl_malloc(T * 2 * sizeof(float));
    int32_t *idx = pl_malloc(T * sizeof(int32_t));
    if (!pe || !ff || !idx) {
        st = PL_ERR(PL_E_NOMEM, "voice: out of memory");
        goto fail;
    }
    size_t t = 0;
    for (size_t i = 0; i < n; i++) {
        pe[2 * i] = pitch[i];
        pe[2 * i + 1] = energy[i];
        for (int32_t j = 0; j < dur[i]; j++, t++) {
            idx[t] = (int32_t)i;
            ff[2 * t] = ((float)j + 0.5f) / (float)dur[i];
            ff[2 * t + 1] = log1pf((float)dur[i]);
        }
    }
    struct pl_tensor *h, *pei, *idxt, *fft, *a, *hh, *x, *f, *y, *m;
    PL_TRY_GOTO(st, leaf(r, PL_DTYPE_F32, (int64_t)n, v->C, &h));
    PL_TRY_GOTO(st, leaf(r, PL_DTYPE_F32, (int64_t)n, 2, &pei));
    PL_TRY_GOTO(st, leaf(r, PL_DTYPE_I32, (int64_t)T, 0, &idxt));
    PL_TRY_GOTO(st, leaf(r, PL_DTYPE_F32, (int64_t)T, 2, &fft));
    PL_TRY_GOTO(st, pl_op_linear(r->ctx, pei, v->pe_w, NULL, v->pe_b, PL_ACT_NONE, &a));
    PL_TRY_GOTO(st, push(r, a));
    PL_TRY_GOTO(st, pl_op_add(r->ctx, h, a, &hh));
    PL_TRY_GOTO(st, push(r, hh));
    PL_TRY_GOTO(st, pl_op_get_rows(r->ctx, hh, idxt, &x));
    PL_TRY_GOTO(st, push(r, x));
    PL_TRY_GOTO(st, pl_op_linear(r->ctx, fft, v->frame_w, NULL, v->frame_b, PL_ACT_NONE, &f));
    PL_TRY_GOTO(st, push(r, f));
    PL_TRY_GOTO(st, pl_op_add(r->ctx, x, f, &y));
    PL_TRY_GOTO(st, push(r, y));
    for (int i = 0; i < v->n_dec; i++) PL_TRY_GOTO(st, conv_block(r, &v->dec[i], y, &y));
    PL_TRY_GOTO(st, pl_op_linear(r->ctx, y, v->mel_w, NULL, v->mel_b, PL_ACT_NONE, &m));
    PL_TRY_GOTO(st, push(r, m));
    PL_TRY_GOTO(st, place_all(r));
    PL_TRY_GOTO(st, pl_backend_tensor_set(r->be, h, hidden, 0, n * (size_t)v->C * sizeof(float)));
    PL_TRY_GOTO(st, pl_backend_tensor_set(r->be, pei, pe, 0, n * 2 * sizeof(float)));
    PL_TRY_GOTO(st, pl_backend_tensor_set(r->be, idxt, idx, 0, T * sizeof(int32_t)));
    PL_TRY_GOTO(st, pl_backend_tensor_set(r->be, fft, ff, 0, T * 2 * sizeof(float)));
    PL_TRY_GOTO(st, pl_backend_graph_compute(r->be, r->g));
    st = pl_backend_tensor_get(r->be, m, mel, 0, T * (size_t)v->n_mels * sizeof(float));
fail: /* and the normal end */
    pl_free(pe);
    pl_free(ff);
    pl_free(idx);
    return st;
}

static void reset_run(struct run *r) {
    pl_ctx_reset(r->ctx);
    pl_graph_reset(r->g);
    r->n_nodes = r->n_leaves = 0;
}

/* Frames of a token from its predicted log(1 + frames) and a rate. */
static int32_t frames_of(float logd, float rate) {
    float d = (expf(logd) - 1.0f) / rate;
    if (!(d > 0.0f)) return 0;
    if (d > 1000.0f) d = 1000.0f;
    return (int32_t)lrintf(d);
}

pl_status pl_tts_voice_acoustic(struct pl_tts_voice *v, const int32_t *tokens, size_t n,
                                const int32_t *durations, const float *pitch_in,
                                const float *energy_in, float *logd, float *pitch,
                                float *energy, float **mel, size_t *n_frames) {
    if (!v || !tokens || n == 0 || n > 4096)
        return PL_ERR(PL_E_INVALID_ARG, "pl_tts_voice_acoustic: no tokens or more than 4096");
    for (size_t i = 0; i < n; i++)
        if (tokens[i] <= 0 || tokens[i] >= PL_TTS_N_TOKENS)
            return PL_ERR(PL_E_INVALID_ARG, "pl_tts_voice_acoustic: token %d out of range",
                          (int)tokens[i]);
    if (mel) *mel = NULL;
    struct run *r;
    PL_TRY(run_get(v, &r));
    pl_status st = PL_OK;
    float *hid = pl_malloc(n * ((size_t)v->C + 3) * sizeof(float));
    int32_t *dur = pl_malloc(n * sizeof(int32_t));
    float *out = NULL;
    if (!hid || !dur) {
        st = PL_ERR(PL_E_NOMEM, "voice: out of memory");
        goto fail;
    }
    float *ld = hid + n * (size_t)v->C, *pp = ld + n, *ee = pp + n;
    PL_TRY_GOTO(st, encode(v, r, tokens, n, hid, ld, pp, ee));
    if (logd) memcpy(logd, ld, n * sizeof(float));
    if (pitch) memcpy(pitch, pp, n * sizeof(float));
    if (energy) memcpy(energy, ee, n * sizeof(float));
    if (!mel) goto fail;
    size_t T = 0;
    for (size_t i = 0; i < n; i++) {
        dur[i] = durations ? durations[i] : frames_of(ld[i], 1.0f);
        if (dur[i] < 0 || dur[i] > 100000) {
            st = PL_ERR(PL_E_INVALID_ARG, "pl_tts_voice_acoustic: duration %d", (int)dur[i]);
            goto fail;
        }
        T += (size_t)dur[i];
    }
    if (T == 0) {
        *n_frames = 0;
        goto fail;
    }
    out = pl_malloc(T * (size_t)v->n_mels * sizeof(float));
    if (!out) {
        st = PL_ERR(PL_E_NOMEM, "voice: out of memory");
        goto fail;
    }
    reset_run(r);
    PL_TRY_GOTO(st, decode(v, r, hid, n, dur, durations && pitch_in ? pitch_in : pp,
                           durations && energy_in ? energy_in : ee, out, T));
    *mel = out;
    *n_frames = T;
    out = NULL;
fail: /* and the normal end */
    pl_free(out);
    pl_free(hid);
    pl_free(dur);
    run_put(v, r);
    return st;
}

/* ----------------------------------------------------------------- vocoder */

/* In-place complex FFT of n points (n a power of two), inverse direction
 * (e^{+i...}), no scaling. x: re, im interleaved. */
static void ifft(const struct pl_tts_voice *v, float *x, int n) {
    for (int i = 1, j = 0; i < n; i++) {
        int bit = n >> 1;
        for (; j & bit; bit >>= 1) j ^= bit;
        j ^= bit;
        if (i < j) {
            float tr = x[2 * i], ti = x[2 * i + 1];
            x[2 * i] = x[2 * j];
            x[2 * i + 1] = x[2 * j + 1];
            x[2 * j] = tr;
            x[2 * j + 1] = ti;
        }
    }
    for (int len = 2; len <= n; len <<= 1) {
        int step = n / len;
        for (int i = 0; i < n; i += len)
            for (int k = 0; k < len / 2; k++) {
                float wr = v->twiddle[2 * k * step], wi = v->twiddle[2 * k * step + 1];
                float *a = x + 2 * (i + k), *b = x + 2 * (i + k + len / 2);
                float br = b[0] * wr - b[1] * wi, bi = b[0] * wi + b[1] * wr;
                b[0] = a[0] - br;
                b[1] = a[1] - bi;
                a[0] += br;
                a[1] += bi;
            }
    }
}

struct ola {
    float *acc, *env; /* [len + n_fft] untrimmed sums of frames and squared windows */
    float *frame;     /* [2 * n_fft] scratch */
    size_t total;     /* output samples: hop * (T - 1) */
    size_t emitted;
};

/* Add frame t, given its log-magnitudes a[bins] and phases p[bins]. */
static void ola_add(const struct pl_tts_voice *v, struct ola *o, size_t t, const float *a,
                    const float *p) {
    int N = v->n_fft;
    float *x = o->frame;
    for (int k = 0; k < v->n_bins; k++) {
        float mag = expf(a[k] < 6.0f ? a[k] : 6.0f);
        x[2 * k] = mag * cosf(p[k]);
        x[2 * k + 1] = mag * sinf(p[k]);
    }
    for (int k = 1; k < N / 2; k++) {
        x[2 * (N - k)] = x[2 * k];
        x[2 * (N - k) + 1] = -x[2 * k + 1];
    }
    ifft(v, x, N);
    float *acc = o->acc + t * (size_t)v->hop, *env = o->env + t * (size_t)v->hop;
    for (int i = 0; i < N; i++) {
        float w = v->window[i];
        acc[i] += x[2 * i] / (float)N * w;
        env[i] += w * w;
    }
}

/* Graph C: mel rows [tc, n_mels] -> log-magnitude and phase [tc, 2 * bins]. */
static pl_status vocoder_net(struct pl_tts_voice *v, struct run *r, const float *mel, size_t tc,
                             float *out) {
    struct pl_tensor *m, *c, *x, *n, *y;
    PL_TRY(leaf(r, PL_DTYPE_F32, (int64_t)tc, v->n_mels, &m));
    PL_TRY(pl_op_im2col(r->ctx, m, 7, 1, 1, 3, 3, &c));
    PL_TRY(push(r, c));
    PL_TRY(pl_op_linear(r->ctx, c, v->vin_w, NULL, v->vin_b, PL_ACT_NONE, &x));
    PL_TRY(push(r, x));
    for (int i = 0; i < v->n_voc; i++) PL_TRY(voc_block(r, &v->voc[i], x, &x));
    PL_TRY(pl_op_layer_norm(r->ctx, x, NULL, v->vln_w, v->vln_b, LN_EPS, &n));
    PL_TRY(push(r, n));
    PL_TRY(pl_op_linear(r->ctx, n, v->head_w, NULL, v->head_b, PL_ACT_NONE, &y));
    PL_TRY(push(r, y));
    PL_TRY(place_all(r));
    PL_TRY(pl_backend_tensor_set(r->be, m, mel, 0, tc * (size_t)v->n_mels * sizeof(float)));
    PL_TRY(pl_backend_graph_compute(r->be, r->g));
    return pl_backend_tensor_get(r->be, y, out, 0, tc * 2 * (size_t)v->n_bins * sizeof(float));
}

/*
 * Vocode mel[0..T) in blocks: the first of `first` frames (small, for a quick
 * first chunk), then of `chunk`. Each block runs the network on the block and
 * rf frames of context each side, so its frames are exactly those of one run
 * over the whole sentence. gain: NULL or a factor per frame.
 */
static pl_status vocode(struct pl_tts_voice *v, const float *mel, size_t T, size_t first,
                        size_t chunk, const float *gain, pl_tts_pcm_fn fn, void *ud,
                        size_t *delivered) {
    *delivered = 0;
    if (T < 2) return PL_OK;
    const size_t hop = (size_t)v->hop, N = (size_t)v->n_fft, nb = (size_t)v->n_bins;
    const size_t rf = (size_t)v->rf;
    if (first < 1) first = 1;
    if (chunk < 1) chunk = 1;
    struct ola o = {0};
    o.total = hop * (T - 1);
    size_t maxw = (first > chunk ? first : chunk) + 2 * rf;
    o.acc = pl_calloc(o.total + N + hop, sizeof(float));
    o.env = pl_calloc(o.total + N + hop, sizeof(float));
    o.frame = pl_malloc(2 * N * sizeof(float));
    float *spec = pl_malloc(maxw * 2 * nb * sizeof(float));
    float *pcm = pl_malloc(((first > chunk ? first : chunk) * hop + N + hop) * sizeof(float));
    struct run *r = NULL;
    pl_status st = PL_OK;
    if (!o.acc || !o.env || !o.frame || !spec || !pcm) {
        st = PL_ERR(PL_E_NOMEM, "voice: out of memory");
        goto fail;
    }
    PL_TRY_GOTO(st, run_get(v, &r));
    for (size_t a = 0; a < T;) {
        size_t b = a + (a == 0 ? first : chunk);
        if (b > T) b = T;
        size_t w0 = a > rf ? a - rf : 0, w1 = b + rf < T ? b + rf : T;
        reset_run(r);
        PL_TRY_GOTO(st, vocoder_net(v, r, mel + w0 * (size_t)v->n_mels, w1 - w0, spec));
        for (size_t t = a; t < b; t++) {
            const float *row = spec + (t - w0) * 2 * nb;
            ola_add(v, &o, t, row, row + nb);
        }
        size_t lim = b == T ? o.total : (b * hop > N / 2 ? b * hop - N / 2 : 0);
        if (lim > o.total) lim = o.total;
        size_t n = 0;
        for (size_t s = o.emitted; s < lim; s++) {
            float e = o.env[s + N / 2];
            float y = e > 1e-11f ? o.acc[s + N / 2] / e : 0.0f;
            if (gain) {
                size_t f = (s + hop / 2) / hop;
                y *= gain[f < T ? f : T - 1];
            }
            pcm[n++] = y > 1.0f ? 1.0f : y < -1.0f ? -1.0f : y;
        }
        if (n) {
            o.emitted = lim;
            *delivered += n;
            if (fn(ud, pcm, n) != 0) {
                st = PL_ERR(PL_E_CANCELLED, "voice: synthesis stopped by its consumer");
                goto fail;
            }
        }
        a = b;
    }
fail: /* and the normal end */
    if (r) run_put(v, r);
    pl_free(o.acc);
    pl_free(o.env);
    pl_free(o.frame);
    pl_free(spec);
    pl_free(pcm);
    return st;
}

pl_status pl_tts_voice_vocode(struct pl_tts_voice *v, const float *mel, size_t n_frames,
                              int chunk_frames, pl_tts_pcm_fn fn, void *ud) {
    if (!v || (!mel && n_frames) || !fn)
        return PL_ERR(PL_E_INVALID_ARG, "pl_tts_voice_vocode: NULL argument");
    size_t c = chunk_frames > 0 ? (size_t)chunk_frames : n_frames;
    size_t got;
    return vocode(v, mel, n_frames, c, c, NULL, fn, ud, &got);
}

/* ---------------------------------------------------------------- synthesis */

#define FIRST_CHUNK 16 /* frames before the first audio (0.26 s at 16 kHz, hop 256) */
#define CHUNK 48

struct tok {
    int32_t id;
    int32_t forced; /* frames, or -1 */
    float rate, pitch, volume;
};

static void emphasis(const struct pl_tts_prosody *p, float *rate, float *pitch, float *vol) {
    *rate = p->rate > 0 ? p->rate : 1.0f;
    *pitch = p->pitch > 0 ? p->pitch : 1.0f;
    *vol = p->volume >= 0 ? p->volume : 1.0f;
    switch (p->emphasis) {
    case 1: *rate *= 1.1f; *pitch *= 0.97f; *vol *= 0.85f; break;
    case 2: *rate *= 0.92f; *pitch *= 1.05f; *vol *= 1.1f; break;
    case 3: *rate *= 0.85f; *pitch *= 1.1f; *vol *= 1.2f; break;
    default: break;
    }
}

/* The sentence as tokens: BOS, phones (stress 2 read as 1: the voice knows 0
 * and 1), PAU for inner breaks, an end token by the final punctuation. */
static pl_status sentence_tokens(const struct pl_tts_voice *v, const struct pl_tts_sentence *s,
                                 struct tok **out, size_t *n_out) {
    size_t cap = 2;
    for (size_t i = 0; i < s->n_items; i++) cap += s->items[i].n_phones + 1;
    struct tok *t = pl_malloc(cap * sizeof *t);
    if (!t) return PL_ERR(PL_E_NOMEM, "voice: out of memory");
    size_t n = 0, n_phones = 0;
    t[n++] = (struct tok){PL_TTS_TOK_BOS, -1, 1.0f, 1.0f, 1.0f};
    int end = PL_TTS_TOK_EOS;
    for (size_t i = 0; i < s->n_items; i++) {
        const struct pl_tts_item *it = &s->items[i];
        float rate, pitch, vol;
        emphasis(&it->prosody, &rate, &pitch, &vol);
        if (it->kind == PL_TTS_ITEM_WORD) {
            for (size_t j = 0; j < it->n_phones; j++) {
                int id = it->phones[j];
                if (pl_tts_phone_stress((uint8_t)id) == 2) id -= 1;
                t[n++] = (struct tok){id + 1, -1, rate, pitch, vol};
                n_phones++;
            }
            continue;
        }
        bool is_break = it->punct == PL_TTS_PUNCT_NONE;
        if (it->punct == PL_TTS_PUNCT_QUESTION) end = PL_TTS_TOK_EOSQ;
        else if (it->punct == PL_TTS_PUNCT_EXCLAIM) end = PL_TTS_TOK_EOSX;
        else if (it->punct == PL_TTS_PUNCT_PERIOD) end = PL_TTS_TOK_EOS;
        if (n_phones == 0 && !is_break) continue; /* nothing said yet */
        int32_t forced = -1;
        if (is_break) {
            double f = it->pause_ms / 1000.0 / pl_tts_voice_frame_seconds(v);
            forced = f > 100000 ? 100000 : (int32_t)lrint(f);
        }
        if (n > 1 && t[n - 1].id == PL_TTS_TOK_PAU && t[n - 1].forced < 0 && forced < 0) continue;
        t[n++] = (struct tok){PL_TTS_TOK_PAU, forced, rate, pitch, vol};
    }
    if (n_phones == 0) {
        pl_free(t);
        *out = NULL;
        *n_out = 0;
        return PL_OK;
    }
    if (t[n - 1].id == PL_TTS_TOK_PAU && t[n - 1].forced < 0) {
        t[n - 1].id = end;
    } else {
        struct tok last = t[n - 1];
        t[n++] = (struct tok){end, -1, last.rate, last.pitch, last.volume};
    }
    *out = t;
    *n_out = n;
    return PL_OK;
}

void pl_tts_synth_info_free(struct pl_tts_synth_info *info) {
    if (!info) return;
    pl_free(info->durations);
    info->durations = NULL;
    info->n_symbols = 0;
}

pl_status pl_tts_voice_synth(struct pl_tts_voice *v, const struct pl_tts_sentence *s,
                             const struct pl_tts_synth_opts *opts, pl_tts_pcm_fn fn, void *ud,
                             struct pl_tts_synth_info *info) {
    if (info) memset(info, 0, sizeof *info);
    if (!v || !s || !fn) return PL_ERR(PL_E_INVALID_ARG, "pl_tts_voice_synth: NULL argument");
    float g_rate = opts && opts->rate > 0 ? opts->rate : 1.0f;
    float g_pitch = opts && opts->pitch > 0 ? opts->pitch : 1.0f;
    float g_vol = opts && opts->volume > 0 ? opts->volume : 1.0f;
    size_t first = opts && opts->chunk_frames > 0 ? (size_t)opts->chunk_frames : FIRST_CHUNK;
    size_t chunk = opts && opts->chunk_frames > 0 ? (size_t)opts->chunk_frames : CHUNK;
    struct tok *t = NULL;
    size_t n = 0;
    PL_TRY(sentence_tokens(v, s, &t, &n));
    if (n == 0) return PL_OK;
    pl_status st = PL_OK;
    if (n > 4096) {
        st = PL_ERR(PL_E_INVALID_ARG, "voice: sentence of %zu phones (at most 4096)", n);
        goto out0;
    }
    struct run *r = NULL;
    float *hid = pl_malloc(n * ((size_t)v->C + 3) * sizeof(float));
    int32_t *ids = pl_malloc(n * 2 * sizeof(int32_t));
    float *mel = NULL, *gain = NULL;
    if (!hid || !ids) {
        st = PL_ERR(PL_E_NOMEM, "voice: out of memory");
        goto fail;
    }
    float *ld = hid + n * (size_t)v->C, *pp = ld + n, *ee = pp + n;
    int32_t *dur = ids + n;
    for (size_t i = 0; i < n; i++) ids[i] = t[i].id;
    PL_TRY_GOTO(st, run_get(v, &r));
    PL_TRY_GOTO(st, encode(v, r, ids, n, hid, ld, pp, ee));
    size_t T = 0;
    for (size_t i = 0; i < n; i++) {
        dur[i] = t[i].forced >= 0 ? t[i].forced : frames_of(ld[i], t[i].rate * g_rate);
        T += (size_t)dur[i];
        float f = t[i].pitch * g_pitch;
        if (f != 1.0f) pp[i] += logf(f) / v->pitch_std;
    }
    if (info) {
        info->durations = pl_malloc(n * sizeof(float));
        if (!info->durations) {
            st = PL_ERR(PL_E_NOMEM, "voice: out of memory");
            goto fail;
        }
        info->n_symbols = n;
        for (size_t i = 0; i < n; i++)
            info->durations[i] = (float)(dur[i] * pl_tts_voice_frame_seconds(v));
    }
    if (T < 2) goto fail;
    mel = pl_malloc(T * (size_t)v->n_mels * sizeof(float));
    gain = pl_malloc(T * sizeof(float));
    if (!mel || !gain) {
        st = PL_ERR(PL_E_NOMEM, "voice: out of memory");
        goto fail;
    }
    for (size_t i = 0, f = 0; i < n; i++)
        for (int32_t j = 0; j < dur[i]; j++) gain[f++] = t[i].volume * g_vol;
    reset_run(r);
    PL_TRY_GOTO(st, decode(v, r, hid, n, dur, pp, ee, mel, T));
    run_put(v, r);
    r = NULL;
    size_t got = 0;
    st = vocode(v, mel, T, first, chunk, gain, fn, ud, &got);
    if (info) info->n_samples = got;
fail: /* and the normal end */
    if (r) run_put(v, r);
    pl_free(hid);
    pl_free(ids);
    pl_free(mel);
    pl_free(gain);
out0:
    pl_free(t);
    if (st != PL_OK && info) pl_tts_synth_info_free(info);
    return st;
}
