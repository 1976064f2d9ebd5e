/*
 * vad.c - Silero VAD v5 (16 kHz) as a graph of engine ops (vad.h).
 *
 * Per window of each stream (one graph for the n streams of a call, built
 * once per n and reused): the 640 padded samples [n, 640, 1] -> PL_OP_IM2COL
 * (256-sample frames, hop 128) -> PL_OP_LINEAR with the DFT basis -> [n, 4,
 * 258] -> PL_OP_COMPLEX_ABS -> [n, 4, 129]; four Conv1d(k=3, padding 1) as
 * IM2COL + LINEAR with ReLU (weights reordered to [C_out, 3, C_in] at load);
 * the LSTM cell as two LINEARs (input and recurrent gates) and
 * PL_OP_LSTM_CELL; ReLU(h), the 1x1 final conv as a LINEAR with a sigmoid.
 * Each op treats the streams as independent rows, so a stream's result does
 * not depend on the others in its batch (test_vad checks it bit for bit).
 *
 * Host side: the context samples, the reflection padding and (h, c) live in
 * the state; a call uploads the padded samples and (h, c) of its streams,
 * runs the graph and reads back the probabilities and the new (h, c). The
 * compute backend, its workspace and the graph belong to a state (struct
 * run), so states in different threads never share one.
 */
#include "models/vad.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "backend.h"
#include "safetensors.h"
#include "tensor.h"

#define N_FFT 256
#define HOP 128
#define N_BINS 129   /* N_FFT / 2 + 1 */
#define N_STFT 258   /* real + imaginary rows */
#define PAD_RIGHT 64 /* reflection padding */
#define IN_LEN 640   /* PL_VAD_CONTEXT + PL_VAD_WINDOW + PAD_RIGHT */
#define HID 128      /* LSTM hidden size */
#define N_GATES 512  /* 4 * HID */
#define N_CONV 4

static const int conv_in[N_CONV] = {129, 128, 64, 64};
static const int conv_out[N_CONV] = {128, 64, 64, 128};
static const int conv_stride[N_CONV] = {1, 2, 2, 1};

struct pl_vad {
    char device[32];
    struct pl_backend *be; /* owns the weights */
    struct pl_ctx *wctx;
    struct pl_buffer *wbuf;
    struct pl_tensor *stft;            /* [N_STFT, N_FFT] */
    struct pl_tensor *conv_w[N_CONV];  /* [C_out, 3 * C_in] (tap-major) */
    struct pl_tensor *conv_b[N_CONV];  /* [C_out] */
    struct pl_tensor *ih, *hh, *gate_b; /* [N_GATES, HID] x2, [N_GATES] = bias_ih + bias_hh */
    struct pl_tensor *final_w, *final_b; /* [1, HID], [1] */
};

/* A compute context for up to cap streams per call. */
struct run {
    struct pl_backend *be;
    struct pl_buffer *ws;
    struct pl_ctx *ctx;
    struct pl_graph *g;
    int cap, built; /* streams the workspace holds; streams the graph is built for (0: none) */
    struct pl_tensor *x, *hc, *prob, *hc_out; /* the graph's inputs and outputs */
    float *host;    /* staging: samples [cap][IN_LEN], (h, c) in and out [2][cap][HID] x2, probs */
};

struct pl_vad_state {
    const struct pl_vad *vad;
    float context[PL_VAD_CONTEXT];
    float h[HID], c[HID];
    float pending[PL_VAD_WINDOW]; /* partial window from pl_vad_feed */
    size_t n_pending;
    int64_t windows;
    struct run *run; /* this state's compute context (used for the batches it leads) */
};

/* --- loading ------------------------------------------------------------ */

static pl_status get_f32(const struct pl_safetensors *st, const char *name, int n_dims,
                         const int64_t *shape, const struct pl_st_entry **out) {
    *out = NULL;
    const struct pl_st_entry *e = pl_safetensors_find(st, name);
    if (!e) return PL_ERR(PL_E_FORMAT, "vad weights: tensor %s missing", name);
    if (e->dtype != PL_DTYPE_F32)
        return PL_ERR(PL_E_FORMAT, "vad weights: tensor %s is %s, want F32", name, e->dtype_str);
    bool ok = e->n_dims == n_dims;
    for (int i = 0; ok && i < n_dims; i++) ok = e->shape[i] == shape[i];
    if (!ok) {
        char got[96] = "", want[96] = "";
        size_t g = 0, w = 0;
        for (int i = 0; i < e->n_dims && g < sizeof got; i++)
            g += (size_t)snprintf(got + g, sizeof got - g, "%s%lld", i ? "," : "",
                                  (long long)e->shape[i]);
        for (int i = 0; i < n_dims && w < sizeof want; i++)
            w += (size_t)snprintf(want + w, sizeof want - w, "%s%lld", i ? "," : "",
                                  (long long)shape[i]);
        return PL_ERR(PL_E_FORMAT, "vad weights: tensor %s has shape [%s], want [%s]", name, got,
                      want);
    }
    *out = e;
    return PL_OK;
}

/* Element i of an F32 tensor whose data may be unaligned. */
static float at(const struct pl_st_entry *e, size_t i) {
    float v;
    memcpy(&v, (const char *)e->data + i * sizeof v, sizeof v);
    return v;
}

/* The weights in the layouts the ops take, in one host array. */
enum {
    W_STFT = 0,
    W_CONV = W_STFT + N_STFT * N_FFT, /* 4 x (weight, bias), at conv_off() */
    W_IH = W_CONV + 3 * (129 * 128 + 128 * 64 + 64 * 64 + 64 * 128) + 128 + 64 + 64 + 128,
    W_HH = W_IH + N_GATES * HID,
    W_GB = W_HH + N_GATES * HID,
    W_FW = W_GB + N_GATES,
    W_FB = W_FW + HID,
    W_TOTAL = W_FB + 1,
};

static size_t conv_off(int l, bool bias) {
    size_t o = W_CONV;
    for (int i = 0; i < l; i++) o += (size_t)3 * conv_in[i] * conv_out[i] + (size_t)conv_out[i];
    return bias ? o + (size_t)3 * conv_in[l] * conv_out[l] : o;
}

static pl_status read_weights(const struct pl_safetensors *st, float *w) {
    const struct pl_st_entry *e, *e2;
    PL_TRY(get_f32(st, "stft_conv.weight", 3, (const int64_t[]){N_STFT, 1, N_FFT}, &e));
    for (size_t i = 0; i < (size_t)N_STFT * N_FFT; i++) w[W_STFT + i] = at(e, i);
    for (int l = 0; l < N_CONV; l++) {
        char name[32];
        int ci = conv_in[l], co = conv_out[l];
        snprintf(name, sizeof name, "conv%d.weight", l + 1);
        PL_TRY(get_f32(st, name, 3, (const int64_t[]){co, ci, 3}, &e));
        snprintf(name, sizeof name, "conv%d.bias", l + 1);
        PL_TRY(get_f32(st, name, 1, (const int64_t[]){co}, &e2));
        float *cw = w + conv_off(l, false), *cb = w + conv_off(l, true);
        for (int o = 0; o < co; o++) { /* PyTorch [o][i][k] -> [o][k][i] (im2col's order) */
            cb[o] = at(e2, (size_t)o);
            for (int i = 0; i < ci; i++)
                for (int k = 0; k < 3; k++)
                    cw[((size_t)o * 3 + k) * ci + i] = at(e, ((size_t)o * ci + i) * 3 + k);
        }
    }
    PL_TRY(get_f32(st, "lstm_cell.weight_ih", 2, (const int64_t[]){N_GATES, HID}, &e));
    for (size_t i = 0; i < (size_t)N_GATES * HID; i++) w[W_IH + i] = at(e, i);
    PL_TRY(get_f32(st, "lstm_cell.weight_hh", 2, (const int64_t[]){N_GATES, HID}, &e));
    for (size_t i = 0; i < (size_t)N_GATES * HID; i++) w[W_HH + i] = at(e, i);
    PL_TRY(get_f32(st, "lstm_cell.bias_ih", 1, (const int64_t[]){N_GATES}, &e));
    PL_TRY(get_f32(st, "lstm_cell.bias_hh", 1, (const int64_t[]){N_GATES}, &e2));
    for (size_t g = 0; g < N_GATES; g++) w[W_GB + g] = at(e, g) + at(e2, g);
    PL_TRY(get_f32(st, "final_conv.weight", 3, (const int64_t[]){1, HID, 1}, &e));
    PL_TRY(get_f32(st, "final_conv.bias", 1, (const int64_t[]){1}, &e2));
    for (size_t i = 0; i < HID; i++) w[W_FW + i] = at(e, i);
    w[W_FB] = at(e2, 0);
    return PL_OK;
}

/* A weight tensor of shape [d0, d1] (d1 == 0: [d0]) at element `off` of the buffer. */
static pl_status weight(struct pl_vad *v, size_t off, int64_t d0, int64_t d1,
                        struct pl_tensor **t) {
    PL_TRY(d1 ? pl_tensor_new_2d(v->wctx, PL_DTYPE_F32, d0, d1, t)
              : pl_tensor_new_1d(v->wctx, PL_DTYPE_F32, d0, t));
    return pl_tensor_place(*t, v->wbuf, off * sizeof(float));
}

static pl_status upload(struct pl_vad *v, const float *w) {
    PL_TRY(pl_ctx_create(16, &v->wctx));
    PL_TRY(pl_backend_buffer_alloc(v->be, (size_t)W_TOTAL * sizeof(float), &v->wbuf));
    PL_TRY(weight(v, W_STFT, N_STFT, N_FFT, &v->stft));
    for (int l = 0; l < N_CONV; l++) {
        PL_TRY(weight(v, conv_off(l, false), conv_out[l], 3 * conv_in[l], &v->conv_w[l]));
        PL_TRY(weight(v, conv_off(l, true), conv_out[l], 0, &v->conv_b[l]));
    }
    PL_TRY(weight(v, W_IH, N_GATES, HID, &v->ih));
    PL_TRY(weight(v, W_HH, N_GATES, HID, &v->hh));
    PL_TRY(weight(v, W_GB, N_GATES, 0, &v->gate_b));
    PL_TRY(weight(v, W_FW, 1, HID, &v->final_w));
    PL_TRY(weight(v, W_FB, 1, 0, &v->final_b));
    struct pl_tensor *all; /* the whole buffer, uploaded at once */
    PL_TRY(weight(v, 0, W_TOTAL, 0, &all));
    return pl_backend_tensor_set(v->be, all, w, 0, (size_t)W_TOTAL * sizeof(float));
}

pl_status pl_vad_create_on(const char *weights_path, const char *device, struct pl_vad **out) {
    if (!out) return PL_ERR(PL_E_INVALID_ARG, "pl_vad_create: out is NULL");
    *out = NULL;
    if (!weights_path) return PL_ERR(PL_E_INVALID_ARG, "pl_vad_create: weights_path is NULL");
    if (!device || !*device) device = "cpu";
    struct pl_safetensors *st = NULL;
    struct pl_vad *v = NULL;
    float *w = NULL;
    pl_status s;
    PL_TRY_GOTO(s, pl_safetensors_open(weights_path, &st));
    v = pl_calloc(1, sizeof *v);
    w = pl_malloc((size_t)W_TOTAL * sizeof(float));
    if (!v || !w) {
        s = PL_ERR(PL_E_NOMEM, "pl_vad_create");
        goto fail;
    }
    if (strlen(device) >= sizeof v->device) {
        s = PL_ERR(PL_E_INVALID_ARG, "pl_vad_create: device name '%.40s' too long", device);
        goto fail;
    }
    snprintf(v->device, sizeof v->device, "%s", device);
    PL_TRY_GOTO(s, read_weights(st, w));
    PL_TRY_GOTO(s, pl_backend_create_threads(device, 1, &v->be));
    PL_TRY_GOTO(s, upload(v, w));
    pl_free(w);
    pl_safetensors_close(st);
    *out = v;
    return PL_OK;
fail:
    pl_free(w);
    pl_vad_destroy(v);
    pl_safetensors_close(st);
    return s;
}

pl_status pl_vad_create(const char *weights_path, struct pl_vad **out) {
    return pl_vad_create_on(weights_path, "cpu", out);
}

void pl_vad_destroy(struct pl_vad *v) {
    if (!v) return;
    pl_buffer_free(v->wbuf);
    pl_ctx_destroy(v->wctx);
    pl_backend_destroy(v->be);
    pl_free(v);
}

const char *pl_vad_device(const struct pl_vad *v) { return pl_backend_name(v->be); }

/* --- compute contexts ------------------------------------------------------ */

/* Workspace floats for n streams: input, 2x (h, c), probabilities, and every
 * activation (each node gets its own slot: the graph is small). */
static size_t ws_floats(int n) {
    size_t per = IN_LEN + 4 * N_FFT + 4 * N_STFT + 4 * N_BINS; /* samples, frames, STFT, |STFT| */
    int t = 4;
    for (int l = 0; l < N_CONV; l++) {
        int to = (t + 2 - 3) / conv_stride[l] + 1;
        per += (size_t)to * (3 * conv_in[l] + conv_out[l]) + 64; /* im2col + conv, padded */
        t = to;
    }
    per += 2 * N_GATES + 2 * HID /* gates, ReLU(h) */ + 4 * HID /* (h, c) in and out */ + 1;
    return per * (size_t)n + 64 * 32;
}

static void run_destroy(struct run *r) {
    if (!r) return;
    pl_buffer_free(r->ws);
    pl_backend_destroy(r->be);
    pl_ctx_destroy(r->ctx);
    pl_graph_destroy(r->g);
    pl_free(r->host);
    pl_free(r);
}

/* A context for cap streams, its backend of the vad's device. */
static pl_status run_create(const struct pl_vad *v, int cap, struct run **out) {
    *out = NULL;
    pl_status st = PL_OK;
    struct run *r = pl_calloc(1, sizeof *r);
    if (!r) return PL_ERR(PL_E_NOMEM, "vad: out of memory");
    r->cap = cap;
    r->host = pl_malloc(((size_t)cap * (IN_LEN + 4 * HID + 1)) * sizeof(float));
    if (!r->host) {
        st = PL_ERR(PL_E_NOMEM, "vad: out of memory");
        goto fail;
    }
    PL_TRY_GOTO(st, pl_backend_create_threads(v->device, 1, &r->be));
    PL_TRY_GOTO(st, pl_backend_buffer_alloc(r->be, ws_floats(cap) * sizeof(float), &r->ws));
    PL_TRY_GOTO(st, pl_ctx_create(64, &r->ctx));
    PL_TRY_GOTO(st, pl_graph_create(64, &r->g));
    *out = r;
    return PL_OK;
fail:
    run_destroy(r);
    return st;
}

/* Place t in the next free slot of the workspace (off in floats, 64-byte aligned). */
static pl_status slot(struct run *r, struct pl_tensor *t, size_t *off) {
    PL_TRY(pl_tensor_place(t, r->ws, *off * sizeof(float)));
    *off += ((size_t)pl_tensor_nelements(t) + 15) & ~(size_t)15;
    return PL_OK;
}

static pl_status node(struct run *r, struct pl_tensor *t, size_t *off) {
    PL_TRY(slot(r, t, off));
    return pl_graph_add(r->g, t);
}

/* The network for n streams (see the top of the file). */
static pl_status build(const struct pl_vad *v, struct run *r, int n) {
    size_t off = 0;
    struct pl_tensor *x, *y, *h, *c, *gx, *gh;
    r->built = 0;
    pl_ctx_reset(r->ctx);
    pl_graph_reset(r->g);
    PL_TRY(pl_tensor_new_3d(r->ctx, PL_DTYPE_F32, n, IN_LEN, 1, &r->x));
    PL_TRY(slot(r, r->x, &off));
    PL_TRY(pl_tensor_new_3d(r->ctx, PL_DTYPE_F32, 2, n, HID, &r->hc));
    PL_TRY(slot(r, r->hc, &off));
    PL_TRY(pl_op_im2col(r->ctx, r->x, N_FFT, HOP, 1, 0, 0, &x));
    PL_TRY(node(r, x, &off));
    PL_TRY(pl_op_linear(r->ctx, x, v->stft, NULL, NULL, PL_ACT_NONE, &y));
    PL_TRY(node(r, y, &off));
    PL_TRY(pl_op_complex_abs(r->ctx, y, &x));
    PL_TRY(node(r, x, &off));
    for (int l = 0; l < N_CONV; l++) {
        PL_TRY(pl_op_im2col(r->ctx, x, 3, conv_stride[l], 1, 1, 1, &y));
        PL_TRY(node(r, y, &off));
        PL_TRY(pl_op_linear(r->ctx, y, v->conv_w[l], NULL, v->conv_b[l], PL_ACT_RELU, &x));
        PL_TRY(node(r, x, &off));
    }
    /* one frame of HID channels per stream: [n, 1, HID] seen as [n, HID] */
    PL_TRY(pl_tensor_view(r->ctx, x, 2, (int64_t[]){n, HID}, 0, &x));
    PL_TRY(pl_tensor_view(r->ctx, r->hc, 2, (int64_t[]){n, HID}, 0, &h));
    PL_TRY(pl_tensor_view(r->ctx, r->hc, 2, (int64_t[]){n, HID}, (int64_t)n * HID, &c));
    PL_TRY(pl_op_linear(r->ctx, x, v->ih, NULL, v->gate_b, PL_ACT_NONE, &gx));
    PL_TRY(node(r, gx, &off));
    PL_TRY(pl_op_linear(r->ctx, h, v->hh, NULL, NULL, PL_ACT_NONE, &gh));
    PL_TRY(node(r, gh, &off));
    PL_TRY(pl_op_lstm_cell(r->ctx, gx, gh, c, &r->hc_out));
    PL_TRY(node(r, r->hc_out, &off));
    PL_TRY(pl_tensor_view(r->ctx, r->hc_out, 2, (int64_t[]){n, HID}, 0, &h));
    PL_TRY(pl_op_act(r->ctx, h, NULL, PL_ACT_RELU, &y));
    PL_TRY(node(r, y, &off));
    PL_TRY(pl_op_linear(r->ctx, y, v->final_w, NULL, v->final_b, PL_ACT_SIGMOID, &r->prob));
    PL_TRY(node(r, r->prob, &off));
    r->built = n;
    return PL_OK;
}

/* --- state -------------------------------------------------------------- */

pl_status pl_vad_state_create(const struct pl_vad *vad, struct pl_vad_state **out) {
    if (!out) return PL_ERR(PL_E_INVALID_ARG, "pl_vad_state_create: out is NULL");
    *out = NULL;
    if (!vad) return PL_ERR(PL_E_INVALID_ARG, "pl_vad_state_create: vad is NULL");
    struct pl_vad_state *s = pl_calloc(1, sizeof *s);
    if (!s) return PL_ERR(PL_E_NOMEM, "pl_vad_state_create");
    s->vad = vad;
    pl_status st = run_create(vad, 1, &s->run);
    if (st != PL_OK) {
        pl_free(s);
        return st;
    }
    pl_vad_state_reset(s);
    *out = s;
    return PL_OK;
}

void pl_vad_state_destroy(struct pl_vad_state *s) {
    if (!s) return;
    run_destroy(s->run);
    pl_free(s);
}

void pl_vad_state_reset(struct pl_vad_state *s) {
    memset(s->context, 0, sizeof s->context);
    memset(s->h, 0, sizeof s->h);
    memset(s->c, 0, sizeof s->c);
    s->n_pending = 0;
    s->windows = 0;
}

int64_t pl_vad_state_windows(const struct pl_vad_state *s) { return s->windows; }
size_t pl_vad_state_pending(const struct pl_vad_state *s) { return s->n_pending; }

/* --- forward ------------------------------------------------------------ */

/* One window of each of n streams: ins[b] holds its PL_VAD_WINDOW new samples.
 * The graph runs on states[0]'s context (grown to n streams the first time).
 * The states change only when everything succeeded. */
static pl_status forward(struct pl_vad_state *const *ss, const float *const *ins, int n,
                         float *probs) {
    const struct pl_vad *v = ss[0]->vad;
    struct run *r = ss[0]->run;
    if (n > r->cap) {
        struct run *bigger;
        PL_TRY(run_create(v, n, &bigger));
        run_destroy(r);
        r = ss[0]->run = bigger;
    }
    if (r->built != n) PL_TRY(build(v, r, n));
    const int len = PL_VAD_CONTEXT + PL_VAD_WINDOW;
    float *xs = r->host, *hc = xs + (size_t)n * IN_LEN, *hco = hc + (size_t)2 * n * HID;
    float *pr = hco + (size_t)2 * n * HID;
    for (int b = 0; b < n; b++) {
        float *x = xs + (size_t)b * IN_LEN;
        memcpy(x, ss[b]->context, sizeof ss[b]->context);
        memcpy(x + PL_VAD_CONTEXT, ins[b], PL_VAD_WINDOW * sizeof(float));
        for (int j = 0; j < PAD_RIGHT; j++) x[len + j] = x[len - 2 - j]; /* reflect */
        memcpy(hc + (size_t)b * HID, ss[b]->h, sizeof ss[b]->h);
        memcpy(hc + (size_t)(n + b) * HID, ss[b]->c, sizeof ss[b]->c);
    }
    PL_TRY(pl_backend_tensor_set(r->be, r->x, xs, 0, (size_t)n * IN_LEN * sizeof(float)));
    PL_TRY(pl_backend_tensor_set(r->be, r->hc, hc, 0, (size_t)2 * n * HID * sizeof(float)));
    PL_TRY(pl_backend_graph_compute(r->be, r->g));
    PL_TRY(pl_backend_tensor_get(r->be, r->hc_out, hco, 0, (size_t)2 * n * HID * sizeof(float)));
    PL_TRY(pl_backend_tensor_get(r->be, r->prob, pr, 0, (size_t)n * sizeof(float)));
    for (int b = 0; b < n; b++) {
        struct pl_vad_state *s = ss[b];
        /* the next window's context: the last 64 of these 576 samples */
        memcpy(s->context, xs + (size_t)b * IN_LEN + PL_VAD_WINDOW, sizeof s->context);
        memcpy(s->h, hco + (size_t)b * HID, sizeof s->h);
        memcpy(s->c, hco + (size_t)(n + b) * HID, sizeof s->c);
        s->windows++;
        probs[b] = pr[b];
    }
    return PL_OK;
}

static bool all_finite(const float *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(p[i])) return false;
    return true;
}

pl_status pl_vad_process(struct pl_vad_state *s, const float *samples, float *prob) {
    if (!s || !samples || !prob) return PL_ERR(PL_E_INVALID_ARG, "pl_vad_process: NULL argument");
    if (s->n_pending)
        return PL_ERR(PL_E_INVALID_ARG,
                      "pl_vad_process: %zu samples of a partial window are buffered by "
                      "pl_vad_feed",
                      s->n_pending);
    if (!all_finite(samples, PL_VAD_WINDOW))
        return PL_ERR(PL_E_INVALID_ARG, "pl_vad_process: non-finite sample");
    return forward(&s, &samples, 1, prob);
}

pl_status pl_vad_process_batch(struct pl_vad_state *const *states, const float *const *samples,
                               int n, float *probs) {
    if (!states || !samples || !probs || n < 1 || n > PL_VAD_MAX_BATCH)
        return PL_ERR(PL_E_INVALID_ARG, "pl_vad_process_batch: bad arguments (n %d, max %d)", n,
                      PL_VAD_MAX_BATCH);
    for (int b = 0; b < n; b++) {
        const struct pl_vad_state *s = states[b];
        if (!s || !samples[b])
            return PL_ERR(PL_E_INVALID_ARG, "pl_vad_process_batch: stream %d is NULL", b);
        if (s->vad != states[0]->vad)
            return PL_ERR(PL_E_INVALID_ARG, "pl_vad_process_batch: stream %d has another model", b);
        if (s->n_pending)
            return PL_ERR(PL_E_INVALID_ARG,
                          "pl_vad_process_batch: stream %d buffers a partial window", b);
        for (int c = 0; c < b; c++)
            if (states[c] == s)
                return PL_ERR(PL_E_INVALID_ARG, "pl_vad_process_batch: stream %d repeats %d", b, c);
        if (!all_finite(samples[b], PL_VAD_WINDOW))
            return PL_ERR(PL_E_INVALID_ARG, "pl_vad_process_batch: stream %d: non-finite sample",
                          b);
    }
    return forward(states, samples, n, probs);
}

pl_status pl_vad_feed(struct pl_vad_state *s, const float *samples, size_t n, pl_vad_window_fn fn,
                      void *ud) {
    if (!s || (!samples && n)) return PL_ERR(PL_E_INVALID_ARG, "pl_vad_feed: NULL argument");
    if (!all_finite(samples, n)) return PL_ERR(PL_E_INVALID_ARG, "pl_vad_feed: non-finite sample");
    while (n) {
        size_t take = PL_VAD_WINDOW - s->n_pending;
        if (take > n) take = n;
        memcpy(s->pending + s->n_pending, samples, take * sizeof(float));
        s->n_pending += take;
        samples += take;
        n -= take;
        if (s->n_pending == PL_VAD_WINDOW) {
            const float *in = s->pending;
            float p;
            PL_TRY(forward(&s, &in, 1, &p));
            s->n_pending = 0;
            if (fn) fn(ud, s->windows - 1, p);
        }
    }
    return PL_OK;
}

struct array_sink {
    float *probs;
    size_t n;
};

static void to_array(void *ud, int64_t window, float prob) {
    (void)window;
    struct array_sink *a = ud;
    a->probs[a->n++] = prob;
}

pl_status pl_vad_feed_array(struct pl_vad_state *s, const float *samples, size_t n, float *probs,
                            size_t cap, size_t *n_out) {
    if (!n_out) return PL_ERR(PL_E_INVALID_ARG, "pl_vad_feed_array: n_out is NULL");
    *n_out = 0;
    if (!s) return PL_ERR(PL_E_INVALID_ARG, "pl_vad_feed_array: state is NULL");
    size_t want = (s->n_pending + n) / PL_VAD_WINDOW;
    if (want > cap)
        return PL_ERR(PL_E_INVALID_ARG, "pl_vad_feed_array: %zu windows complete, room for %zu",
                      want, cap);
    if (want && !probs) return PL_ERR(PL_E_INVALID_ARG, "pl_vad_feed_array: probs is NULL");
    struct array_sink a = {probs, 0};
    PL_TRY(pl_vad_feed(s, samples, n, to_array, &a));
    *n_out = a.n;
    return PL_OK;
}
