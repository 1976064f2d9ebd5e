/*
 * asr_state.c - incremental states and batches of the ASR acoustic model:
 * one step of several states is one graph of engine ops (see asr_model.h).
 *
 * Every convolution sees its zero-padded input xp = [left zeros] x [right
 * zeros] as a sliding window (struct win in the state's backend buffer). A
 * step appends the new input rows to each window, computes every output t
 * whose window rows xp[t*s .. t*s + span] are complete (PL_OP_DWCONV over a
 * view of exactly those rows) and drops the rows before xp index t_next*s.
 * Finishing appends the tail frames (first conv) and the `right` zeros. A
 * full forward is the same steps over chunks of the utterance, so chunked
 * and full outputs come from the same arithmetic.
 *
 * Rows are appended and dropped by moving a window's start (`base`): a
 * window is compacted (its kept rows copied to row 0) only when an append
 * would pass its capacity, and capacities leave room for twice the rows a
 * window keeps, so a compaction never copies onto rows it reads (the copy
 * has no overlap; plan() derives the bounds). Appends, compactions and
 * padding rows are PL_OP_ACT copies placed where the rows belong; the host
 * only does the bookkeeping, so the same graph runs on a device.
 *
 * A batch step puts the depthwise outputs of all its states in consecutive
 * rows of one workspace, so each pointwise conv, residual and decoder is one
 * PL_OP_LINEAR over every state's rows. Workspace regions (rows of
 * max_channels floats): `act` (layer outputs, then the log-probs), `dw`
 * (depthwise outputs, the residual rows, the logits) and `in` (the step's
 * features).
 */
#include <string.h>

#include "alloc.h"
#include "asr_model_impl.h"

#define MAX_CHUNK_LIMIT (1 << 16)
#define PLAN_LIMIT (1 << 24) /* rows any one buffer may be planned for */

/* Rows [base, base + n) of a window or queue hold data; row 0 is at byte
 * `off` of the state's buffer. */
struct win {
    size_t off;
    int cap, width; /* rows, floats per row */
    int base, n;
};

struct conv_state {
    struct win w;
    long h0;     /* xp index of window row `base` */
    long t_next; /* next output frame */
    int pend;    /* left zero rows still to append (after a reset) */
};

struct pl_asr_state {
    const struct pl_asr_model *m;
    int max_chunk, max_rows, max_out;
    struct pl_buffer *buf; /* every window and queue, on the model's backend */
    struct conv_state *cs; /* [n_seps] */
    struct win *rs;        /* [n_blocks]: residual rows waiting for the block's output */
    struct pl_asr_batch *own; /* private one-state batch for feed/finish (lazy) */
    long in, out;
    bool finished;
};

/* Per-call bookkeeping of one state inside a step. */
struct slot {
    struct pl_asr_state *s;
    const float *feats;
    int n_in;
    bool final;
    float *out;
    int off, rows;             /* its rows in the workspace at the current layer */
    struct pl_tensor *in_view; /* its features in the workspace */
    struct pl_tensor *logp;    /* its log-probs in the workspace */
};

struct pl_asr_batch {
    const struct pl_asr_model *m;
    int max_states, max_chunk, cap_rows;
    struct pl_backend *be; /* compute: this batch's own scratch, threads or CUDA stream */
    struct pl_buffer *ws;
    struct pl_tensor *act, *dw, *in; /* workspace regions (leaves placed in ws) */
    struct pl_ctx *wsctx, *ctx;      /* the regions; the step's tensors */
    struct pl_graph *g;
    struct slot *slots;
};

/* ---- plans ------------------------------------------------------------------------ */

/*
 * Buffer bounds. Between steps a window keeps at most `span` rows (the rows
 * before t_next*s are dropped and t_next*s + span runs past the last row),
 * and one step appends at most add = left zeros + M input rows + tail +
 * right zeros for M new rows; it emits at most ceil((M + right) / s) + 1
 * outputs, the next layer's M. Capacity 2 span + add + 1 means an append
 * that needs a compaction finds base > span >= the rows kept: the copy to row
 * 0 does not overlap. A residual queue keeps at most the sub-blocks' spans
 * between steps and takes the block's M per step: capacity 2 keep + M + 1.
 */
struct plan {
    int *win_cap, *res_cap;
    int max_rows, max_out;
};

static pl_status plan(const struct pl_asr_model *m, int max_chunk, struct plan *p) {
    /* 64-bit: a hostile config (thousands of layers with huge right contexts) must
     * fail here, not overflow */
    long long mi = max_chunk, rows = max_chunk;
    int bi = 0;
    for (int i = 0; i < m->n_seps; i++) {
        const struct pl__asr_sep *s = &m->seps[i];
        if (i == 0) mi += m->cfg.tail_frames; /* the final step reads the tail too */
        while (bi < m->n_blocks && m->blocks[bi].first + m->blocks[bi].n <= i) bi++;
        if (bi < m->n_blocks && m->blocks[bi].first == i) {
            long long keep = 0;
            for (int j = 0; j < m->blocks[bi].n; j++) keep += m->seps[i + j].span + 1;
            if (2 * keep + mi + 1 > PLAN_LIMIT) goto big;
            p->res_cap[bi] = (int)(2 * keep + mi + 1);
        }
        long long cap = 2LL * s->span + s->left + mi + s->right + s->s + 1;
        if (cap > PLAN_LIMIT) goto big;
        p->win_cap[i] = (int)cap;
        long long mo = (mi + s->right + s->s - 1) / s->s + 1;
        if (mo > rows) rows = mo;
        mi = mo;
    }
    p->max_rows = (int)rows;
    p->max_out = (int)mi;
    return PL_OK;
big:
    return PL_ERR(PL_E_UNSUPPORTED,
                  "asr state: the model's look-ahead and max_chunk %d need buffers over %d rows",
                  max_chunk, PLAN_LIMIT);
}

static pl_status plan_alloc(const struct pl_asr_model *m, int max_chunk, struct plan *p) {
    p->win_cap = pl_calloc((size_t)m->n_seps, sizeof(int));
    p->res_cap = pl_calloc((size_t)m->n_blocks + 1, sizeof(int));
    if (!p->win_cap || !p->res_cap) return PL_ERR(PL_E_NOMEM, "asr state: out of memory");
    return plan(m, max_chunk, p);
}

static void plan_free(struct plan *p) {
    pl_free(p->win_cap);
    pl_free(p->res_cap);
}

/* ---- states ------------------------------------------------------------------------ */

pl_status pl_asr_state_create(const struct pl_asr_model *m, int max_chunk,
                              struct pl_asr_state **out) {
    if (!out) return PL_ERR(PL_E_INVALID_ARG, "asr state: out is NULL");
    *out = NULL;
    if (!m) return PL_ERR(PL_E_INVALID_ARG, "asr state: model is NULL");
    if (max_chunk == 0) max_chunk = 256;
    if (max_chunk < 1 || max_chunk > MAX_CHUNK_LIMIT)
        return PL_ERR(PL_E_INVALID_ARG, "asr state: max_chunk %d outside 1..%d", max_chunk,
                      MAX_CHUNK_LIMIT);
    pl_status st = PL_OK;
    struct plan p = {0};
    struct pl_asr_state *s = pl_calloc(1, sizeof *s);
    if (!s) return PL_ERR(PL_E_NOMEM, "asr state: out of memory");
    s->m = m;
    s->max_chunk = max_chunk;
    PL_TRY_GOTO(st, plan_alloc(m, max_chunk, &p));
    s->max_rows = p.max_rows;
    s->max_out = p.max_out;
    s->cs = pl_calloc((size_t)m->n_seps, sizeof *s->cs);
    s->rs = pl_calloc((size_t)m->n_blocks + 1, sizeof *s->rs);
    if (!s->cs || !s->rs) {
        st = PL_ERR(PL_E_NOMEM, "asr state: out of memory");
        goto fail;
    }
    size_t off = 0;
    for (int i = 0; i < m->n_seps; i++) {
        s->cs[i].w = (struct win){.off = off, .cap = p.win_cap[i], .width = m->seps[i].cin};
        off += ((size_t)p.win_cap[i] * (size_t)m->seps[i].cin * sizeof(float) + 255) & ~(size_t)255;
    }
    for (int i = 0; i < m->n_blocks; i++) {
        s->rs[i] = (struct win){.off = off, .cap = p.res_cap[i], .width = m->blocks[i].c};
        off += ((size_t)p.res_cap[i] * (size_t)m->blocks[i].c * sizeof(float) + 255) & ~(size_t)255;
    }
    PL_TRY_GOTO(st, pl_backend_buffer_alloc(m->be, off, &s->buf));
    /* host memory: touch every page now, so that feeding never faults one in */
    if (pl_backend_is_host(m->be)) memset(pl_buffer_base(s->buf), 0, off);
    plan_free(&p);
    pl_asr_state_reset(s);
    *out = s;
    return PL_OK;
fail:
    plan_free(&p);
    pl_asr_state_destroy(s);
    return st;
}

void pl_asr_state_destroy(struct pl_asr_state *s) {
    if (!s) return;
    pl_asr_batch_destroy(s->own);
    pl_buffer_free(s->buf);
    pl_free(s->cs);
    pl_free(s->rs);
    pl_free(s);
}

void pl_asr_state_reset(struct pl_asr_state *s) {
    const struct pl_asr_model *m = s->m;
    for (int i = 0; i < m->n_seps; i++) {
        struct conv_state *c = &s->cs[i];
        c->w.base = c->w.n = 0;
        c->h0 = 0;
        c->t_next = 0;
        c->pend = m->seps[i].left; /* the window starts with the left zero padding */
    }
    for (int i = 0; i < m->n_blocks; i++) s->rs[i].base = s->rs[i].n = 0;
    s->in = s->out = 0;
    s->finished = false;
}

int pl_asr_state_max_out(const struct pl_asr_state *s) { return s->max_out; }
long pl_asr_state_frames_in(const struct pl_asr_state *s) { return s->in; }
long pl_asr_state_frames_out(const struct pl_asr_state *s) { return s->out; }

/* ---- graph building ---------------------------------------------------------------- */

/* Add op tensor t to the batch's graph at byte offset off of buffer buf. */
static pl_status node_at(struct pl_asr_batch *b, struct pl_tensor *t, struct pl_buffer *buf,
                         size_t off) {
    PL_TRY(pl_tensor_place(t, buf, off));
    return pl_graph_add(b->g, t);
}

/* Copy rows src (a [n, width] tensor) into rows [r, r + n) of window w. */
static pl_status win_copy(struct pl_asr_batch *b, struct pl_asr_state *s, const struct win *w,
                          struct pl_tensor *src, int r) {
    struct pl_tensor *t;
    PL_TRY(pl_op_copy(b->ctx, src, &t));
    return node_at(b, t, s->buf, w->off + (size_t)r * (size_t)w->width * sizeof(float));
}

/* Rows [r, r + n) of window w as a leaf view. */
static pl_status win_view(struct pl_asr_batch *b, struct pl_asr_state *s, const struct win *w,
                          int r, int n, struct pl_tensor **out) {
    PL_TRY(pl_tensor_new_2d(b->ctx, PL_DTYPE_F32, n, w->width, out));
    return pl_tensor_place(*out, s->buf, w->off + (size_t)r * (size_t)w->width * sizeof(float));
}

/* Make room for `add` rows after the window's data: compact when they would
 * pass its capacity (plan() guarantees the copy does not overlap). */
static pl_status win_room(struct pl_asr_batch *b, struct pl_asr_state *s, struct win *w, int add) {
    if (w->base + w->n + add <= w->cap) return PL_OK;
    if (w->n + add > w->cap || w->base < w->n)
        return PL_ERR(PL_E_INTERNAL, "asr state: window overflow (%d + %d rows at %d, cap %d)",
                      w->n, add, w->base, w->cap);
    if (w->n) {
        struct pl_tensor *kept;
        PL_TRY(win_view(b, s, w, w->base, w->n, &kept));
        PL_TRY(win_copy(b, s, w, kept, 0));
    }
    w->base = 0;
    return PL_OK;
}

/* Append n zero rows (from the model's zero block) to window w. */
static pl_status win_zeros(struct pl_asr_batch *b, struct pl_asr_state *s, struct win *w, int n) {
    if (n <= 0) return PL_OK;
    struct pl_tensor *z;
    PL_TRY(pl_tensor_view(b->ctx, b->m->zeros, 2, (int64_t[]){n, w->width}, 0, &z));
    PL_TRY(win_copy(b, s, w, z, w->base + w->n));
    w->n += n;
    return PL_OK;
}

/*
 * Separable conv `si` for every slot: append its input rows (the first conv:
 * each slot's features; the others: rows [off, off + rows) of src, which is
 * NULL when no slot has rows), depthwise outputs of
 * every slot into consecutive rows of the dw region, then one pointwise
 * LINEAR over all of them into the act region. *tot = the rows it made.
 */
static pl_status conv_all(struct pl_asr_batch *b, int si, struct slot *sl, int n,
                          struct pl_tensor *src, enum pl_act act, int *tot_out) {
    const struct pl_asr_model *m = b->m;
    const struct pl__asr_sep *L = &m->seps[si];
    int tot = 0;
    for (int i = 0; i < n; i++) {
        struct pl_asr_state *s = sl[i].s;
        struct conv_state *c = &s->cs[si];
        struct win *w = &c->w;
        int n_in = si == 0 ? sl[i].n_in : sl[i].rows;
        /* the tail follows the features of an utterance that had any */
        int tail = si == 0 && s->in + sl[i].n_in > 0 ? m->cfg.tail_frames : 0;
        int zeros = sl[i].final ? tail + L->right : 0;
        PL_TRY(win_room(b, s, w, c->pend + n_in + zeros));
        PL_TRY(win_zeros(b, s, w, c->pend));
        c->pend = 0;
        if (n_in) {
            struct pl_tensor *in = sl[i].in_view;
            if (si > 0) PL_TRY(pl_tensor_view_rows(b->ctx, src, sl[i].off, n_in, &in));
            PL_TRY(win_copy(b, s, w, in, w->base + w->n));
            w->n += n_in;
        }
        PL_TRY(win_zeros(b, s, w, zeros));
        long last = c->h0 + w->n - 1; /* xp index of the newest row */
        long t_end = last - L->span < 0 ? 0 : (last - L->span) / L->s + 1;
        int mo = t_end > c->t_next ? (int)(t_end - c->t_next) : 0;
        if (mo > 0) {
            if (tot + mo > b->cap_rows)
                return PL_ERR(PL_E_INTERNAL, "asr state: %d rows exceed the workspace (%d)",
                              tot + mo, b->cap_rows);
            struct pl_tensor *x, *y;
            PL_TRY(win_view(b, s, w, w->base + (int)(c->t_next * L->s - c->h0),
                            (mo - 1) * L->s + L->span + 1, &x));
            PL_TRY(pl_op_dwconv(b->ctx, x, L->dw, NULL, L->s, L->d, &y));
            PL_TRY(node_at(b, y, b->ws, b->dw->offset + (size_t)tot * L->cin * sizeof(float)));
            c->t_next = t_end;
        }
        long drop = c->t_next * L->s - c->h0;
        if (drop > w->n) drop = w->n;
        if (drop > 0) {
            w->base += (int)drop;
            w->n -= (int)drop;
            c->h0 += drop;
        }
        sl[i].off = tot;
        sl[i].rows = mo;
        tot += mo;
    }
    *tot_out = tot;
    if (!tot) return PL_OK;
    struct pl_tensor *d, *y;
    PL_TRY(pl_tensor_view(b->ctx, b->dw, 2, (int64_t[]){tot, L->cin}, 0, &d));
    PL_TRY(pl_op_linear(b->ctx, d, L->pw, NULL, L->pb, act, &y));
    return node_at(b, y, b->ws, b->act->offset);
}

/* Residual of block bi: one LINEAR over the block's new input rows (act
 * region, tot rows) into the dw region, each slot's rows queued. */
static pl_status residual_push(struct pl_asr_batch *b, int bi, struct slot *sl, int n, int tot) {
    const struct pl__asr_block *bk = &b->m->blocks[bi];
    if (!tot) return PL_OK;
    struct pl_tensor *x, *r;
    PL_TRY(pl_tensor_view(b->ctx, b->act, 2, (int64_t[]){tot, bk->cin}, 0, &x));
    PL_TRY(pl_op_linear(b->ctx, x, bk->rw, NULL, bk->rb, PL_ACT_NONE, &r));
    PL_TRY(node_at(b, r, b->ws, b->dw->offset));
    for (int i = 0; i < n; i++) {
        if (!sl[i].rows) continue;
        struct win *q = &sl[i].s->rs[bi];
        struct pl_tensor *rows;
        PL_TRY(win_room(b, sl[i].s, q, sl[i].rows));
        PL_TRY(pl_tensor_view_rows(b->ctx, r, sl[i].off, sl[i].rows, &rows));
        PL_TRY(win_copy(b, sl[i].s, q, rows, q->base + q->n));
        q->n += sl[i].rows;
    }
    return PL_OK;
}

/* The block's output rows (act region) += the queued residual rows, ReLU. */
static pl_status residual_pop(struct pl_asr_batch *b, int bi, struct slot *sl, int n) {
    const struct pl__asr_block *bk = &b->m->blocks[bi];
    for (int i = 0; i < n; i++) {
        if (!sl[i].rows) continue;
        struct win *q = &sl[i].s->rs[bi];
        if (sl[i].rows > q->n)
            return PL_ERR(PL_E_INTERNAL, "asr state: block %d output ahead of its input", bi);
        struct pl_tensor *y, *r, *sum;
        PL_TRY(pl_tensor_view(b->ctx, b->act, 2, (int64_t[]){sl[i].rows, bk->c},
                              (int64_t)sl[i].off * bk->c, &y));
        PL_TRY(win_view(b, sl[i].s, q, q->base, sl[i].rows, &r));
        PL_TRY(pl_op_add_act(b->ctx, y, r, PL_ACT_RELU, &sum));
        PL_TRY(node_at(b, sum, b->ws, y->offset)); /* in place */
        q->base += sl[i].rows;
        q->n -= sl[i].rows;
    }
    return PL_OK;
}

/* The whole network on one step of every slot, as one graph. */
static pl_status build(struct pl_asr_batch *b, struct slot *sl, int n) {
    const struct pl_asr_model *m = b->m;
    int tot = 0, in_rows = 0, si = 0;
    pl_ctx_reset(b->ctx);
    pl_graph_reset(b->g);
    for (int i = 0; i < n; i++) {
        sl[i].in_view = sl[i].logp = NULL;
        if (!sl[i].n_in) continue;
        PL_TRY(pl_tensor_view_rows(b->ctx, b->in, in_rows, sl[i].n_in, &sl[i].in_view));
        in_rows += sl[i].n_in;
    }
    PL_TRY(conv_all(b, si++, sl, n, NULL, PL_ACT_RELU, &tot));
    for (int bi = 0; bi < m->n_blocks; bi++) {
        const struct pl__asr_block *bk = &m->blocks[bi];
        struct pl_tensor *x;
        PL_TRY(residual_push(b, bi, sl, n, tot));
        for (int j = 0; j < bk->n; j++) {
            bool last = j == bk->n - 1;
            x = NULL;
            if (tot) PL_TRY(pl_tensor_view(b->ctx, b->act, 2, (int64_t[]){tot, m->seps[si].cin}, 0, &x));
            PL_TRY(conv_all(b, si++, sl, n, x, last ? PL_ACT_NONE : PL_ACT_RELU, &tot));
        }
        PL_TRY(residual_pop(b, bi, sl, n));
    }
    struct pl_tensor *x = NULL, *logits, *logp;
    if (tot) PL_TRY(pl_tensor_view(b->ctx, b->act, 2, (int64_t[]){tot, m->seps[si].cin}, 0, &x));
    PL_TRY(conv_all(b, si, sl, n, x, PL_ACT_RELU, &tot));
    if (!tot) return PL_OK;
    PL_TRY(pl_tensor_view(b->ctx, b->act, 2, (int64_t[]){tot, m->dec_c}, 0, &x));
    PL_TRY(pl_op_linear(b->ctx, x, m->dec_w, NULL, m->dec_b, PL_ACT_NONE, &logits));
    PL_TRY(node_at(b, logits, b->ws, b->dw->offset));
    PL_TRY(pl_op_log_softmax(b->ctx, logits, &logp));
    PL_TRY(node_at(b, logp, b->ws, b->act->offset));
    for (int i = 0; i < n; i++)
        if (sl[i].rows) PL_TRY(pl_tensor_view_rows(b->ctx, logp, sl[i].off, sl[i].rows, &sl[i].logp));
    return PL_OK;
}

/*
 * One step of n slots: features in, the graph, log-probs out. On an error
 * the slots' windows no longer match their bookkeeping: they are left
 * finished (a reset starts over).
 */
static pl_status step_multi(struct pl_asr_batch *b, struct slot *sl, int n) {
    const struct pl_asr_model *m = b->m;
    int V = m->cfg.vocab_size;
    pl_status st = build(b, sl, n);
    for (int i = 0; st == PL_OK && i < n; i++)
        if (sl[i].in_view)
            st = pl_backend_tensor_set(b->be, sl[i].in_view, sl[i].feats, 0,
                                       (size_t)sl[i].n_in * m->cfg.n_mels * sizeof(float));
    if (st == PL_OK && b->g->n_nodes) st = pl_backend_graph_compute(b->be, b->g);
    for (int i = 0; st == PL_OK && i < n; i++)
        if (sl[i].logp)
            st = pl_backend_tensor_get(b->be, sl[i].logp, sl[i].out, 0,
                                       (size_t)sl[i].rows * V * sizeof(float));
    for (int i = 0; i < n; i++) {
        if (st != PL_OK) {
            sl[i].rows = 0;
            sl[i].s->finished = true;
            continue;
        }
        sl[i].s->in += sl[i].n_in;
        sl[i].s->out += sl[i].rows;
        if (sl[i].final) sl[i].s->finished = true;
    }
    return st;
}

/* ---- batches ----------------------------------------------------------------------- */

pl_status pl_asr_batch_create(const struct pl_asr_model *m, int max_states, int max_chunk,
                              struct pl_asr_batch **out) {
    if (!out) return PL_ERR(PL_E_INVALID_ARG, "asr batch: out is NULL");
    *out = NULL;
    if (!m) return PL_ERR(PL_E_INVALID_ARG, "asr batch: model is NULL");
    if (max_chunk == 0) max_chunk = 256;
    if (max_states < 1 || max_states > 4096 || max_chunk < 1 || max_chunk > MAX_CHUNK_LIMIT)
        return PL_ERR(PL_E_INVALID_ARG, "asr batch: max_states %d (1..4096) or max_chunk %d (1..%d)",
                      max_states, max_chunk, MAX_CHUNK_LIMIT);
    pl_status st = PL_OK;
    struct plan p = {0};
    struct pl_asr_batch *b = pl_calloc(1, sizeof *b);
    if (!b) return PL_ERR(PL_E_NOMEM, "asr batch: out of memory");
    b->m = m;
    b->max_states = max_states;
    b->max_chunk = max_chunk;
    PL_TRY_GOTO(st, plan_alloc(m, max_chunk, &p));
    if ((long long)p.max_rows * max_states > PLAN_LIMIT ||
        (long long)max_chunk * max_states > PLAN_LIMIT) {
        st = PL_ERR(PL_E_UNSUPPORTED, "asr batch: %d states x %d rows is too large", max_states,
                    p.max_rows);
        goto fail;
    }
    b->cap_rows = p.max_rows * max_states;
    int64_t maxc = m->cfg.max_channels, in_rows = (int64_t)max_chunk * max_states;
    PL_TRY_GOTO(st, pl_backend_create_threads(m->device, 1, &b->be));
    PL_TRY_GOTO(st, pl_ctx_create(3, &b->wsctx));
    PL_TRY_GOTO(st, pl_tensor_new_1d(b->wsctx, PL_DTYPE_F32, b->cap_rows * maxc, &b->act));
    PL_TRY_GOTO(st, pl_tensor_new_1d(b->wsctx, PL_DTYPE_F32, b->cap_rows * maxc, &b->dw));
    PL_TRY_GOTO(st, pl_tensor_new_2d(b->wsctx, PL_DTYPE_F32, in_rows, m->cfg.n_mels, &b->in));
    size_t region = ((size_t)b->cap_rows * (size_t)maxc * sizeof(float) + 255) & ~(size_t)255;
    size_t in_size = (size_t)in_rows * (size_t)m->cfg.n_mels * sizeof(float);
    PL_TRY_GOTO(st, pl_backend_buffer_alloc(b->be, 2 * region + in_size, &b->ws));
    PL_TRY_GOTO(st, pl_tensor_place(b->act, b->ws, 0));
    PL_TRY_GOTO(st, pl_tensor_place(b->dw, b->ws, region));
    PL_TRY_GOTO(st, pl_tensor_place(b->in, b->ws, 2 * region));
    if (pl_backend_is_host(b->be)) memset(pl_buffer_base(b->ws), 0, 2 * region + in_size);
    /* A step's tensors: per state and conv at most 2 zero appends, its input,
     * a compaction (2 each: source view, copy) and the dwconv (view, op); per
     * state and block a queue append with compaction and the residual add
     * (8); the shared LINEARs with their views; inputs and outputs. */
    int per_state = 10 * m->n_seps + 8 * m->n_blocks + 4;
    int cap = max_states * per_state + 4 * m->n_seps + 4 * m->n_blocks + 16;
    PL_TRY_GOTO(st, pl_ctx_create(cap, &b->ctx));
    PL_TRY_GOTO(st, pl_graph_create(cap, &b->g));
    b->slots = pl_calloc((size_t)max_states, sizeof *b->slots);
    if (!b->slots) {
        st = PL_ERR(PL_E_NOMEM, "asr batch: out of memory");
        goto fail;
    }
    plan_free(&p);
    *out = b;
    return PL_OK;
fail:
    plan_free(&p);
    pl_asr_batch_destroy(b);
    return st;
}

void pl_asr_batch_destroy(struct pl_asr_batch *b) {
    if (!b) return;
    pl_buffer_free(b->ws);
    pl_backend_destroy(b->be);
    pl_ctx_destroy(b->wsctx);
    pl_ctx_destroy(b->ctx);
    pl_graph_destroy(b->g);
    pl_free(b->slots);
    pl_free(b);
}

pl_status pl_asr_batch_set_threads(struct pl_asr_batch *b, int n_threads) {
    if (!b || n_threads < 1 || n_threads > 256)
        return PL_ERR(PL_E_INVALID_ARG, "asr batch: %d threads outside 1..256", n_threads);
    if (!pl_backend_is_host(b->be)) return PL_OK; /* a device: its own parallelism */
    return pl_backend_cpu_set_threads(b->be, n_threads);
}

pl_status pl_asr_batch_step(struct pl_asr_batch *b, struct pl_asr_state *const *states, int n,
                            const float *const *feats, const int *n_frames, const bool *finish,
                            float *const *out, int *n_out) {
    if (!b || !states || !feats || !n_frames || !out || !n_out)
        return PL_ERR(PL_E_INVALID_ARG, "asr batch step: NULL argument");
    if (n < 0 || n > b->max_states)
        return PL_ERR(PL_E_INVALID_ARG, "asr batch step: %d states outside 0..%d", n,
                      b->max_states);
    for (int i = 0; i < n; i++) {
        const struct pl_asr_state *s = states[i];
        n_out[i] = 0;
        if (!s || s->m != b->m)
            return PL_ERR(PL_E_INVALID_ARG, "asr batch step: state %d is NULL or of another model",
                          i);
        if (s->finished)
            return PL_ERR(PL_E_INVALID_ARG, "asr batch step: state %d is finished (reset it)", i);
        int lim = s->max_chunk < b->max_chunk ? s->max_chunk : b->max_chunk;
        if (n_frames[i] < 0 || n_frames[i] > lim || (n_frames[i] && !feats[i]) || !out[i])
            return PL_ERR(PL_E_INVALID_ARG,
                          "asr batch step: state %d: %d frames (0..%d) or NULL data", i,
                          n_frames[i], lim);
        for (int j = 0; j < i; j++)
            if (states[j] == s)
                return PL_ERR(PL_E_INVALID_ARG, "asr batch step: states %d and %d are the same", j,
                              i);
    }
    for (int i = 0; i < n; i++)
        b->slots[i] = (struct slot){.s = states[i],
                                    .feats = feats[i],
                                    .n_in = n_frames[i],
                                    .final = finish && finish[i],
                                    .out = out[i]};
    pl_status st = step_multi(b, b->slots, n);
    for (int i = 0; i < n; i++) n_out[i] = b->slots[i].rows;
    return st;
}

pl_status pl_asr_batch_forward(struct pl_asr_batch *b, struct pl_asr_state *const *states, int n,
                               const float *const *feats, const int *n_frames, float *const *out,
                               int *n_out) {
    if (!b || !states || !feats || !n_frames || !out)
        return PL_ERR(PL_E_INVALID_ARG, "asr batch forward: NULL argument");
    if (n < 0 || n > b->max_states)
        return PL_ERR(PL_E_INVALID_ARG, "asr batch forward: %d states outside 0..%d", n,
                      b->max_states);
    for (int i = 0; i < n; i++) {
        if (!states[i] || states[i]->m != b->m)
            return PL_ERR(PL_E_INVALID_ARG,
                          "asr batch forward: state %d is NULL or of another model", i);
        if (n_frames[i] < 0 || (n_frames[i] && !feats[i]) || !out[i])
            return PL_ERR(PL_E_INVALID_ARG, "asr batch forward: state %d: %d frames or NULL data",
                          i, n_frames[i]);
        for (int j = 0; j < i; j++)
            if (states[j] == states[i])
                return PL_ERR(PL_E_INVALID_ARG, "asr batch forward: states %d and %d are the same",
                              j, i);
    }
    const struct pl_asr_model *m = b->m;
    int V = m->cfg.vocab_size;
    for (int i = 0; i < n; i++) pl_asr_state_reset(states[i]);
    /* slots[k] for the states still running; s->in counts what each has been fed */
    for (;;) {
        int k = 0;
        for (int i = 0; i < n; i++) {
            struct pl_asr_state *s = states[i];
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
        PL_TRY(step_multi(b, b->slots, k));
    }
    for (int i = 0; n_out && i < n; i++) n_out[i] = (int)states[i]->out;
    return PL_OK;
}

/* ---- one state on its own ------------------------------------------------------------ */

static pl_status step_own(struct pl_asr_state *s, const float *feats, int n, bool final,
                          float *out, int *n_out) {
    if (!s->own) PL_TRY(pl_asr_batch_create(s->m, 1, s->max_chunk, &s->own));
    struct slot *sl = s->own->slots;
    *sl = (struct slot){.s = s, .feats = feats, .n_in = n, .final = final, .out = out};
    pl_status st = step_multi(s->own, sl, 1);
    *n_out = sl->rows;
    return st;
}

pl_status pl_asr_state_feed(struct pl_asr_state *s, const float *feats, int n_frames, float *out,
                            int *n_out) {
    if (!s || !n_out || !out || (n_frames > 0 && !feats))
        return PL_ERR(PL_E_INVALID_ARG, "asr state feed: NULL argument");
    *n_out = 0;
    if (n_frames < 0 || n_frames > s->max_chunk)
        return PL_ERR(PL_E_INVALID_ARG, "asr state feed: %d frames outside 0..%d", n_frames,
                      s->max_chunk);
    if (s->finished)
        return PL_ERR(PL_E_INVALID_ARG, "asr state feed: the state is finished (reset it)");
    return step_own(s, feats, n_frames, false, out, n_out);
}

pl_status pl_asr_state_finish(struct pl_asr_state *s, float *out, int *n_out) {
    if (!s || !n_out || !out) return PL_ERR(PL_E_INVALID_ARG, "asr state finish: NULL argument");
    *n_out = 0;
    if (s->finished)
        return PL_ERR(PL_E_INVALID_ARG, "asr state finish: the state is already finished");
    pl_status st = step_own(s, NULL, 0, true, out, n_out);
    s->finished = true; /* even on error: the windows are no longer consistent */
    return st;
}

pl_status pl_asr_model_forward(struct pl_asr_state *s, const float *feats, int n_frames,
                               float *out, int *n_out) {
    if (!s || !out || (n_frames > 0 && !feats))
        return PL_ERR(PL_E_INVALID_ARG, "asr forward: NULL argument");
    if (n_frames < 0) return PL_ERR(PL_E_INVALID_ARG, "asr forward: %d frames", n_frames);
    const struct pl_asr_model *m = s->m;
    int V = m->cfg.vocab_size, done = 0, k;
    pl_asr_state_reset(s);
    for (int off = 0; off < n_frames; off += s->max_chunk) {
        int n = n_frames - off < s->max_chunk ? n_frames - off : s->max_chunk;
        PL_TRY(pl_asr_state_feed(s, feats + (size_t)off * m->cfg.n_mels, n, out + (size_t)done * V,
                                 &k));
        done += k;
    }
    PL_TRY(pl_asr_state_finish(s, out + (size_t)done * V, &k));
    done += k;
    if (n_out) *n_out = done;
    return PL_OK;
}
