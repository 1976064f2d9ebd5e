/*
 * asr_beam.c - CTC prefix beam search with a word n-gram LM, word boosting,
 * n-best lists and streaming (see asr_ctc.h for the scoring).
 *
 * Prefixes live in a trie of nodes (index-linked, so the pool can grow by
 * realloc). Everything that depends only on the prefix - completed words,
 * their LM log-probability, the LM history, boosts - is computed once when a
 * node is created; the CTC probabilities P_blank / P_nonblank are per frame.
 * A node's parent always has a smaller index, which lets the garbage
 * collector compact the pool in one pass when it has grown far past the
 * nodes the beam still needs.
 *
 * Determinism: candidates are visited in a fixed order (beam order, then
 * blank, repeat, then tokens by index) and ties in the score are broken by
 * that order; tests/reference/asr_ctc_beam.py follows the same order.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "asr_ctc_impl.h"

#define MAX_ACT 8 /* partial phrase matches tracked per prefix */
#define MAX_PHRASES 1024
#define MAX_PHRASE_WORDS 32

struct node {
    int32_t parent, tok, first_child, next_sib;
    int32_t t_first;    /* frame at which the token was appended */
    int32_t t_last;     /* last frame at which the prefix most likely ended in the token */
    float prob;         /* its posterior at that frame */
    double best_entry;  /* most probable entry into this token so far (picks t_first) */
    int32_t word_start; /* node of the open word's first token; -1: no open word */
    int32_t n_words;    /* completed (non-empty) words */
    double lm;          /* sum of ln P_lm of the completed words */
    double boost;       /* sum of boosts of the completed words */
    double pen;         /* unk_prefix_penalty once per word that left the LM's words */
    uint8_t pfx_ok;     /* the open word is a prefix of some LM word */
    struct pl_asr_lm_state lms;
    uint8_t n_act;
    uint16_t act_phrase[MAX_ACT];
    uint8_t act_len[MAX_ACT];
    double pb, pnb;   /* at the last processed frame (valid for beam members) */
    double npb, npnb; /* being accumulated for the current frame */
    int32_t stamp;    /* frame that initialised npb/npnb */
    int32_t touch;    /* order of first touch in the current frame */
    double score;
};

struct phrase {
    char **words;
    int n;
    float boost;
};

struct pl_asr_beam {
    const struct pl_asr_vocab *v;
    const struct pl_asr_lm *lm;
    struct pl_asr_decode_opts o;
    struct phrase *phrases;
    int n_phrases;
    struct node *nodes;
    int32_t n_nodes, cap_nodes, gc_at;
    int32_t *beam; /* [beam_width] node indices, best first */
    int n_beam;
    int32_t *touched; /* nodes touched in the current frame */
    int32_t n_touched, cap_touched;
    int32_t *cand; /* [V] candidate tokens of a frame */
    int32_t *kid;  /* [V] child of the beam member being extended, by token... */
    int32_t *kid_gen; /* [V] ...valid where kid_gen[token] == gen */
    int32_t gen;
    int32_t t;     /* frames processed */
    int finished;
    int broken;       /* after NOMEM: needs a reset */
    const float *cur; /* log-probs of the frame being processed */
};

static double lse(double a, double b) {
    if (a == -INFINITY)
        return b;
    if (b == -INFINITY)
        return a;
    return a > b ? a + log1p(exp(b - a)) : b + log1p(exp(a - b));
}

static void free_phrases(struct pl_asr_beam *b) {
    for (int i = 0; i < b->n_phrases; i++) {
        for (int j = 0; j < b->phrases[i].n; j++)
            pl_free(b->phrases[i].words[j]);
        pl_free(b->phrases[i].words);
    }
    pl_free(b->phrases);
    b->phrases = NULL;
    b->n_phrases = 0;
}

static pl_status add_phrase(struct pl_asr_beam *b, const struct pl_asr_boost *bo) {
    if (!bo->phrase)
        return PL_ERR(PL_E_INVALID_ARG, "beam: boost phrase is NULL");
    if (!isfinite(bo->boost))
        return PL_ERR(PL_E_INVALID_ARG, "beam: boost of \"%s\" is not finite", bo->phrase);
    struct phrase *p = &b->phrases[b->n_phrases];
    p->words = pl_calloc(MAX_PHRASE_WORDS, sizeof(char *));
    if (!p->words)
        return PL_ERR(PL_E_NOMEM, "beam: phrase");
    p->n = 0;
    p->boost = bo->boost;
    b->n_phrases++;
    const char *s = bo->phrase;
    while (*s) {
        while (*s == ' ' || *s == '\t')
            s++;
        if (!*s)
            break;
        const char *e = s;
        while (*e && *e != ' ' && *e != '\t')
            e++;
        if (p->n == MAX_PHRASE_WORDS)
            return PL_ERR(PL_E_INVALID_ARG, "beam: boost phrase over %d words", MAX_PHRASE_WORDS);
        if ((size_t)(e - s) >= PL__ASR_MAX_WORD)
            return PL_ERR(PL_E_INVALID_ARG, "beam: boost word over %d bytes", PL__ASR_MAX_WORD);
        p->words[p->n] = pl_strndup(s, (size_t)(e - s));
        if (!p->words[p->n])
            return PL_ERR(PL_E_NOMEM, "beam: phrase word");
        p->n++;
        s = e;
    }
    if (p->n == 0)
        return PL_ERR(PL_E_INVALID_ARG, "beam: empty boost phrase");
    return PL_OK;
}

pl_status pl_asr_beam_create(const struct pl_asr_vocab *v, const struct pl_asr_lm *lm,
                             const struct pl_asr_decode_opts *opts,
                             const struct pl_asr_boost *boosts, int n_boosts,
                             struct pl_asr_beam **out) {
    pl_status st = PL_OK;
    struct pl_asr_beam *b = NULL;
    struct pl_asr_decode_opts o;
    if (!out)
        return PL_ERR(PL_E_INVALID_ARG, "beam: out is NULL");
    *out = NULL;
    if (!v)
        return PL_ERR(PL_E_INVALID_ARG, "beam: vocabulary is NULL");
    if (opts)
        o = *opts;
    else
        pl_asr_decode_opts_default(&o);
    if (o.beam_width < 1 || o.beam_width > 1024)
        return PL_ERR(PL_E_INVALID_ARG, "beam: beam_width %d outside 1..1024", o.beam_width);
    if (o.token_top_n < 1)
        return PL_ERR(PL_E_INVALID_ARG, "beam: token_top_n %d", o.token_top_n);
    if (o.max_alternatives < 1 || o.max_alternatives > o.beam_width)
        return PL_ERR(PL_E_INVALID_ARG, "beam: max_alternatives %d outside 1..beam_width %d",
                      o.max_alternatives, o.beam_width);
    if (!(o.frame_ms > 0))
        return PL_ERR(PL_E_INVALID_ARG, "beam: frame_ms %g", o.frame_ms);
    if (!isfinite(o.lm_alpha) || !isfinite(o.lm_beta) || !isfinite(o.oov_logp) ||
        !isfinite(o.unk_prefix_penalty) || !(o.token_prune <= 0) || !(o.stable_margin >= 0))
        return PL_ERR(PL_E_INVALID_ARG, "beam: alpha/beta/oov_logp/token_prune not valid");
    if (n_boosts < 0 || n_boosts > MAX_PHRASES || (n_boosts && !boosts))
        return PL_ERR(PL_E_INVALID_ARG, "beam: %d boost phrases (at most %d)", n_boosts,
                      MAX_PHRASES);
    b = pl_calloc(1, sizeof *b);
    if (!b)
        return PL_ERR(PL_E_NOMEM, "beam");
    b->v = v;
    b->lm = lm;
    b->o = o;
    b->beam = pl_malloc(sizeof(int32_t) * (size_t)o.beam_width);
    b->cand = pl_malloc(sizeof(int32_t) * (size_t)v->n);
    b->kid = pl_malloc(sizeof(int32_t) * (size_t)v->n);
    b->kid_gen = pl_calloc((size_t)v->n, sizeof(int32_t));
    b->cap_nodes = 8192; /* the pool mostly peaks a little past gc_at (4096): no regrowth */
    b->nodes = pl_malloc(sizeof(struct node) * (size_t)b->cap_nodes);
    b->cap_touched = 256;
    b->touched = pl_malloc(sizeof(int32_t) * (size_t)b->cap_touched);
    if (n_boosts)
        b->phrases = pl_calloc((size_t)n_boosts, sizeof(struct phrase));
    if (!b->beam || !b->cand || !b->kid || !b->kid_gen || !b->nodes || !b->touched || (n_boosts && !b->phrases)) {
        st = PL_ERR(PL_E_NOMEM, "beam state");
        goto fail;
    }
    for (int i = 0; i < n_boosts; i++)
        PL_TRY_GOTO(st, add_phrase(b, &boosts[i]));
    pl_asr_beam_reset(b);
    *out = b;
    return PL_OK;
fail:
    pl_asr_beam_destroy(b);
    return st;
}

void pl_asr_beam_destroy(struct pl_asr_beam *b) {
    if (!b)
        return;
    free_phrases(b);
    pl_free(b->beam);
    pl_free(b->cand);
    pl_free(b->kid);
    pl_free(b->kid_gen);
    pl_free(b->nodes);
    pl_free(b->touched);
    pl_free(b);
}

void pl_asr_beam_reset(struct pl_asr_beam *b) {
    if (!b)
        return;
    struct node *r = &b->nodes[0];
    memset(r, 0, sizeof *r);
    r->parent = -1;
    r->tok = -1;
    r->first_child = -1;
    r->next_sib = -1;
    r->word_start = -1;
    r->stamp = -1;
    if (b->lm)
        pl_asr_lm_begin(b->lm, &r->lms);
    r->pb = 0;
    r->pnb = -INFINITY;
    r->pfx_ok = 1;
    b->n_nodes = 1;
    b->gc_at = 4096;
    b->beam[0] = 0;
    b->n_beam = 1;
    b->t = 0;
    b->finished = 0;
    b->broken = 0;
}

/* Text of the open word ending at node `end` (walk back to word_start). */
static size_t open_word(const struct pl_asr_beam *b, int32_t end, char *buf) {
    const struct node *nd = b->nodes;
    int32_t ws = nd[end].word_start;
    if (ws < 0)
        return 0;
    int32_t chain[PL__ASR_MAX_WORD];
    int n = 0;
    for (int32_t k = end;; k = nd[k].parent) {
        if (n < PL__ASR_MAX_WORD)
            chain[n++] = k;
        if (k == ws)
            break;
    }
    size_t len = 0;
    for (int i = n - 1; i >= 0; i--) {
        int tok = nd[chain[i]].tok;
        size_t l = b->v->len[tok];
        if (len + l > PL__ASR_MAX_WORD)
            l = PL__ASR_MAX_WORD - len;
        memcpy(buf + len, b->v->text[tok], l);
        len += l;
    }
    return len;
}

/* The word-dependent fields of dst: those of src with the word w (len
 * bytes) completed. len 0: copied unchanged. */
static void complete_word(const struct pl_asr_beam *b, const struct node *src, const char *w,
                          size_t len, struct node *dst) {
    dst->lm = src->lm;
    dst->lms = src->lms;
    dst->n_words = src->n_words;
    dst->boost = src->boost;
    dst->n_act = src->n_act;
    memcpy(dst->act_phrase, src->act_phrase, sizeof dst->act_phrase);
    memcpy(dst->act_len, src->act_len, sizeof dst->act_len);
    if (len == 0)
        return;
    dst->n_words++;
    if (b->lm) {
        int32_t id = pl_asr_lm_word_id(b->lm, w, len);
        dst->lm += pl_asr_lm_score(b->lm, &src->lms, id, b->o.oov_logp, &dst->lms);
    }
    if (b->n_phrases) {
        uint16_t np[MAX_ACT];
        uint8_t nl[MAX_ACT];
        int n = 0;
        double best = 0;
        int any = 0;
        /* extend the running matches, then start new ones */
        for (int i = 0; i < src->n_act; i++) {
            const struct phrase *p = &b->phrases[src->act_phrase[i]];
            int m = src->act_len[i];
            if (m < p->n && strlen(p->words[m]) == len && memcmp(p->words[m], w, len) == 0) {
                if (!any || p->boost > best)
                    best = p->boost;
                any = 1;
                if (m + 1 < p->n && n < MAX_ACT) {
                    np[n] = src->act_phrase[i];
                    nl[n++] = (uint8_t)(m + 1);
                }
            }
        }
        for (int i = 0; i < b->n_phrases; i++) {
            const struct phrase *p = &b->phrases[i];
            if (strlen(p->words[0]) == len && memcmp(p->words[0], w, len) == 0) {
                if (!any || p->boost > best)
                    best = p->boost;
                any = 1;
                if (p->n > 1 && n < MAX_ACT) {
                    np[n] = (uint16_t)i;
                    nl[n++] = 1;
                }
            }
        }
        if (any)
            dst->boost += best;
        dst->n_act = (uint8_t)n;
        memcpy(dst->act_phrase, np, sizeof(uint16_t) * (size_t)n);
        memcpy(dst->act_len, nl, (size_t)n);
    }
}

/* True when w begins a word of a boosted phrase (boosted words are exempt
 * from the unknown-prefix penalty: boosting is how callers add names). */
static int boost_prefix(const struct pl_asr_beam *b, const char *w, size_t len) {
    for (int i = 0; i < b->n_phrases; i++)
        for (int j = 0; j < b->phrases[i].n; j++)
            if (strncmp(b->phrases[i].words[j], w, len) == 0 &&
                strlen(b->phrases[i].words[j]) >= len)
                return 1;
    return 0;
}

/* Index l's existing children by token (b->kid), one walk of the sibling list for all of a
 * frame's candidates instead of one walk per candidate. */
static void index_children(struct pl_asr_beam *b, int32_t l) {
    if (b->gen == INT32_MAX) {
        memset(b->kid_gen, 0, sizeof(int32_t) * (size_t)b->v->n);
        b->gen = 0;
    }
    b->gen++;
    for (int32_t k = b->nodes[l].first_child; k >= 0; k = b->nodes[k].next_sib) {
        b->kid[b->nodes[k].tok] = k;
        b->kid_gen[b->nodes[k].tok] = b->gen;
    }
}

/* Child of l with token c (l's children indexed by index_children), created on first use.
 * Returns -1 on NOMEM. */
static int32_t get_child(struct pl_asr_beam *b, int32_t l, int32_t c) {
    if (b->kid_gen[c] == b->gen)
        return b->kid[c];
    if (b->n_nodes == b->cap_nodes) {
        if (b->cap_nodes > INT32_MAX / 2)
            return -1;
        struct node *nn = pl_realloc(b->nodes, sizeof(struct node) * (size_t)b->cap_nodes * 2);
        if (!nn)
            return -1;
        b->nodes = nn;
        b->cap_nodes *= 2;
    }
    int32_t k = b->n_nodes++;
    struct node *d = &b->nodes[k];
    const struct node *p = &b->nodes[l];
    memset(d, 0, sizeof *d);
    d->parent = l;
    d->tok = c;
    d->t_first = b->t;
    d->t_last = b->t;
    d->prob = expf(b->cur[c]);
    d->next_sib = p->first_child;
    d->first_child = -1;
    d->stamp = -1;
    d->pb = d->pnb = -INFINITY;
    d->best_entry = -INFINITY;
    d->pen = p->pen;
    d->pfx_ok = 1;
    int cls = b->v->cls[c];
    int check = b->lm && b->o.unk_prefix_penalty != 0;
    if (cls == PL__TOK_TEXT) {
        complete_word(b, p, NULL, 0, d);
        d->word_start = p->word_start >= 0 ? p->word_start : k;
        d->pfx_ok = p->word_start >= 0 ? p->pfx_ok : 1;
    } else {
        char w[PL__ASR_MAX_WORD];
        size_t len = open_word(b, l, w);
        complete_word(b, p, w, len, d);
        d->word_start = cls == PL__TOK_START ? k : -1;
    }
    if (check && d->word_start >= 0 && !d->pfx_ok) {
        d->pen += b->o.unk_prefix_penalty; /* every further token of an unknown word */
    } else if (check && d->word_start >= 0) {
        char w[PL__ASR_MAX_WORD];
        size_t len = open_word(b, k, w);
        if (!pl_asr_lm_is_prefix(b->lm, w, len) && !boost_prefix(b, w, len)) {
            d->pfx_ok = 0;
            d->pen += b->o.unk_prefix_penalty;
        }
    }
    b->nodes[l].first_child = k;
    return k;
}

static int touch(struct pl_asr_beam *b, int32_t k) {
    struct node *n = &b->nodes[k];
    if (n->stamp == b->t)
        return 0;
    if (b->n_touched == b->cap_touched) {
        int32_t *nt = pl_realloc(b->touched, sizeof(int32_t) * (size_t)b->cap_touched * 2);
        if (!nt)
            return -1;
        b->touched = nt;
        b->cap_touched *= 2;
    }
    n->stamp = b->t;
    n->npb = n->npnb = -INFINITY;
    n->touch = b->n_touched;
    b->touched[b->n_touched++] = k;
    return 0;
}

static _Thread_local const float *t_row;
static _Thread_local const struct node *t_nodes;

static int cmp_cand(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    if (t_row[x] != t_row[y])
        return t_row[x] > t_row[y] ? -1 : 1;
    return (x > y) - (x < y);
}

static int cmp_idx(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

static int cmp_score(const void *a, const void *b) {
    const struct node *x = &t_nodes[*(const int32_t *)a], *y = &t_nodes[*(const int32_t *)b];
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return (x->touch > y->touch) - (x->touch < y->touch);
}

/* x ranks before y: cmp_score's order (higher score, then earlier touch; a total order). */
static inline int ranks_before(const struct node *nd, int32_t x, int32_t y) {
    if (nd[x].score != nd[y].score)
        return nd[x].score > nd[y].score;
    return nd[x].touch < nd[y].touch;
}

/* Restore the heap a[0..k) below p: a parent ranks after its children (the root is the
 * worst of the k). */
static void sift_down(const struct node *nd, int32_t *a, int32_t k, int32_t p) {
    for (;;) {
        int32_t c = 2 * p + 1, w = p;
        if (c < k && ranks_before(nd, a[w], a[c])) w = c;
        if (c + 1 < k && ranks_before(nd, a[w], a[c + 1])) w = c + 1;
        if (w == p) return;
        int32_t t = a[p];
        a[p] = a[w];
        a[w] = t;
        p = w;
    }
}

/* Move the min(n_touched, beam_width) best touched nodes, best first, to the front of
 * b->touched; returns their number. The same nodes in the same order as sorting every
 * touched node by cmp_score, without sorting the rest: a heap of the k best seen so far
 * (its root the worst of them) takes each further node that ranks before its root. */
static int select_best(struct pl_asr_beam *b) {
    int32_t *a = b->touched, n = b->n_touched, k = b->o.beam_width;
    const struct node *nd = b->nodes;
    t_nodes = nd;
    if (n <= k) {
        qsort(a, (size_t)n, sizeof(int32_t), cmp_score);
        return n;
    }
    for (int32_t i = k / 2 - 1; i >= 0; i--) /* heapify a[0..k): parent ranks after children */
        sift_down(nd, a, k, i);
    for (int32_t i = k; i < n; i++) {
        if (!ranks_before(nd, a[i], a[0]))
            continue;
        a[0] = a[i];
        sift_down(nd, a, k, 0);
    }
    qsort(a, (size_t)k, sizeof(int32_t), cmp_score);
    return k;
}

/* Compact the pool to the beam's nodes and their ancestors. */
static pl_status gc(struct pl_asr_beam *b) {
    int32_t *remap = pl_malloc(sizeof(int32_t) * (size_t)b->n_nodes);
    if (!remap)
        return PL_ERR(PL_E_NOMEM, "beam: gc of %d nodes", b->n_nodes);
    for (int32_t i = 0; i < b->n_nodes; i++)
        remap[i] = -1;
    for (int i = 0; i < b->n_beam; i++)
        for (int32_t k = b->beam[i]; k >= 0 && remap[k] < 0; k = b->nodes[k].parent)
            remap[k] = 0;
    int32_t live = 0;
    for (int32_t i = 0; i < b->n_nodes; i++) {
        if (remap[i] < 0)
            continue;
        struct node nd = b->nodes[i];
        remap[i] = live;
        nd.parent = nd.parent >= 0 ? remap[nd.parent] : -1;
        nd.word_start = nd.word_start >= 0 ? remap[nd.word_start] : -1;
        nd.first_child = -1;
        nd.next_sib = -1;
        b->nodes[live] = nd;
        if (nd.parent >= 0) {
            b->nodes[live].next_sib = b->nodes[nd.parent].first_child;
            b->nodes[nd.parent].first_child = live;
        }
        live++;
    }
    for (int i = 0; i < b->n_beam; i++)
        b->beam[i] = remap[b->beam[i]];
    b->n_nodes = live;
    b->gc_at = live * 4 > 4096 ? live * 4 : 4096;
    pl_free(remap);
    return PL_OK;
}

static pl_status step(struct pl_asr_beam *b, const float *row) {
    const struct pl_asr_vocab *v = b->v;
    int V = v->n, blank = v->blank;
    b->cur = row;
    /* candidate tokens: within token_prune of the frame's best, top n, by index */
    float mx = row[0];
    for (int k = 1; k < V; k++)
        if (row[k] > mx)
            mx = row[k];
    int nc = 0;
    for (int k = 0; k < V; k++)
        if (k != blank && (double)row[k] >= (double)mx + b->o.token_prune)
            b->cand[nc++] = k;
    t_row = row;
    if (nc > b->o.token_top_n) {
        qsort(b->cand, (size_t)nc, sizeof(int32_t), cmp_cand);
        nc = b->o.token_top_n;
        qsort(b->cand, (size_t)nc, sizeof(int32_t), cmp_idx);
    }
    b->n_touched = 0;
    double lb = row[blank];
    for (int i = 0; i < b->n_beam; i++) {
        int32_t l = b->beam[i];
        double pb = b->nodes[l].pb, pnb = b->nodes[l].pnb, ptot = lse(pb, pnb);
        int32_t ltok = b->nodes[l].tok;
        if (touch(b, l))
            goto nomem;
        b->nodes[l].npb = lse(b->nodes[l].npb, ptot + lb);
        if (ltok >= 0)
            b->nodes[l].npnb = lse(b->nodes[l].npnb, pnb + (double)row[ltok]);
        if (nc > 0)
            index_children(b, l);
        for (int j = 0; j < nc; j++) {
            int32_t c = b->cand[j];
            int32_t k = get_child(b, l, c);
            if (k < 0 || touch(b, k))
                goto nomem;
            double add = (c == ltok ? pb : ptot) + (double)row[c];
            struct node *kn = &b->nodes[k];
            kn->npnb = lse(kn->npnb, add);
            if (add > kn->best_entry) { /* the token's time: its likeliest entry frame */
                kn->best_entry = add;
                kn->t_first = b->t;
                if (kn->t_last < b->t) kn->t_last = b->t;
                kn->prob = expf(row[c]);
            }
        }
    }
    double a = b->o.lm_alpha, be = b->o.lm_beta;
    for (int32_t i = 0; i < b->n_touched; i++) {
        struct node *n = &b->nodes[b->touched[i]];
        n->score = lse(n->npb, n->npnb) + a * n->lm + be * n->n_words + n->boost + n->pen;
    }
    b->n_beam = select_best(b);
    for (int i = 0; i < b->n_beam; i++) {
        struct node *n = &b->nodes[b->touched[i]];
        b->beam[i] = b->touched[i];
        n->pb = n->npb;
        n->pnb = n->npnb;
        /* the best prefix still sitting on its last token extends that token's time */
        if (i == 0 && n->tok >= 0 && n->pnb > n->pb && n->t_last < b->t) n->t_last = b->t;
    }
    b->t++;
    if (b->n_nodes > b->gc_at)
        PL_TRY(gc(b));
    return PL_OK;
nomem:
    b->broken = 1;
    return PL_ERR(PL_E_NOMEM, "beam: %d prefixes", b->n_nodes);
}

pl_status pl_asr_beam_feed(struct pl_asr_beam *b, const float *logp, size_t T, int V) {
    if (!b)
        return PL_ERR(PL_E_INVALID_ARG, "beam: state is NULL");
    if (b->broken)
        return PL_ERR(PL_E_INVALID_ARG, "beam: state failed earlier; reset it");
    if (b->finished)
        return PL_ERR(PL_E_INVALID_ARG, "beam: feed after finish; reset first");
    if (V != b->v->n)
        return PL_ERR(PL_E_INVALID_ARG, "beam: V %d, vocabulary has %d", V, b->v->n);
    if (T > (size_t)(INT32_MAX - b->t))
        return PL_ERR(PL_E_INVALID_ARG, "beam: too many frames");
    PL_TRY(pl__asr_check_logp(logp, T, V));
    for (size_t t = 0; t < T; t++) {
        pl_status st = step(b, logp + t * (size_t)V);
        if (st != PL_OK) {
            b->broken = 1;
            return st;
        }
    }
    return PL_OK;
}

/* Tokens of the prefix ending at node k (oldest first). */
static pl_status prefix_tokens(const struct pl_asr_beam *b, int32_t k, struct pl__asr_tokinfo **out,
                               int *n) {
    int len = 0;
    for (int32_t i = k; i > 0; i = b->nodes[i].parent)
        len++;
    struct pl__asr_tokinfo *ti = pl_malloc(sizeof *ti * (size_t)(len ? len : 1));
    if (!ti)
        return PL_ERR(PL_E_NOMEM, "beam: prefix of %d tokens", len);
    int j = len;
    for (int32_t i = k; i > 0; i = b->nodes[i].parent) {
        j--;
        ti[j].tok = b->nodes[i].tok;
        ti[j].t_first = b->nodes[i].t_first;
        ti[j].t_last = b->nodes[i].t_last;
        ti[j].prob = b->nodes[i].prob;
    }
    *out = ti;
    *n = len;
    return PL_OK;
}

static pl_status make_hyp(const struct pl_asr_beam *b, int32_t k, struct pl_asr_hyp *h) {
    struct pl__asr_tokinfo *ti = NULL;
    int n = 0;
    PL_TRY(prefix_tokens(b, k, &ti, &n));
    pl_status st = pl__asr_hyp_build(b->v, ti, n, &b->o, h);
    pl_free(ti);
    return st;
}

pl_status pl_asr_beam_partial(struct pl_asr_beam *b, struct pl_asr_nbest **out) {
    pl_status st = PL_OK;
    struct pl_asr_hyp other = {0};
    if (!out)
        return PL_ERR(PL_E_INVALID_ARG, "beam: out is NULL");
    *out = NULL;
    if (!b || b->broken)
        return PL_ERR(PL_E_INVALID_ARG, "beam: no usable state");
    struct pl_asr_nbest *nb = pl_calloc(1, sizeof *nb);
    if (!nb)
        return PL_ERR(PL_E_NOMEM, "beam partial");
    nb->hyps = pl_calloc(1, sizeof *nb->hyps);
    if (!nb->hyps) {
        st = PL_ERR(PL_E_NOMEM, "beam partial");
        goto fail;
    }
    int32_t best = b->beam[0];
    const struct node *bn = &b->nodes[best];
    PL_TRY_GOTO(st, make_hyp(b, best, &nb->hyps[0]));
    nb->n = 1;
    struct pl_asr_hyp *h = &nb->hyps[0];
    h->acoustic = lse(bn->pb, bn->pnb);
    h->lm = bn->lm;
    h->score =
        h->acoustic + b->o.lm_alpha * bn->lm + b->o.lm_beta * bn->n_words + bn->boost + bn->pen;
    int stable = bn->n_words < h->n_words ? bn->n_words : h->n_words;
    for (int i = 1; i < b->n_beam && stable > 0; i++) {
        if (b->t > 0 && b->nodes[b->beam[i]].score < bn->score - b->o.stable_margin)
            break;
        PL_TRY_GOTO(st, make_hyp(b, b->beam[i], &other));
        int lim = b->nodes[b->beam[i]].n_words;
        if (lim > other.n_words)
            lim = other.n_words;
        if (stable > lim)
            stable = lim;
        int s = 0;
        while (s < stable && strcmp(other.words[s].text, h->words[s].text) == 0)
            s++;
        stable = s;
        pl__asr_hyp_deinit(&other);
    }
    h->n_stable_words = stable;
    *out = nb;
    return PL_OK;
fail:
    pl__asr_hyp_deinit(&other);
    pl_asr_nbest_destroy(nb);
    return st;
}

struct final {
    int32_t node;
    int order;
    double score, lm;
};

static int cmp_final(const void *a, const void *b) {
    const struct final *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return (x->order > y->order) - (x->order < y->order);
}

pl_status pl_asr_beam_finish(struct pl_asr_beam *b, struct pl_asr_nbest **out) {
    pl_status st = PL_OK;
    struct final *fin = NULL;
    struct pl_asr_nbest *nb = NULL;
    if (!out)
        return PL_ERR(PL_E_INVALID_ARG, "beam: out is NULL");
    *out = NULL;
    if (!b || b->broken)
        return PL_ERR(PL_E_INVALID_ARG, "beam: no usable state");
    if (b->finished)
        return PL_ERR(PL_E_INVALID_ARG, "beam: finished twice");
    fin = pl_malloc(sizeof *fin * (size_t)b->n_beam);
    nb = pl_calloc(1, sizeof *nb);
    if (nb)
        nb->hyps = pl_calloc((size_t)b->o.max_alternatives, sizeof *nb->hyps);
    if (!fin || !nb || !nb->hyps) {
        st = PL_ERR(PL_E_NOMEM, "beam finish");
        goto fail;
    }
    for (int i = 0; i < b->n_beam; i++) {
        const struct node *n = &b->nodes[b->beam[i]];
        struct node tmp;
        char w[PL__ASR_MAX_WORD];
        size_t len = open_word(b, b->beam[i], w);
        complete_word(b, n, w, len, &tmp);
        if (b->lm)
            tmp.lm += pl_asr_lm_end(b->lm, &tmp.lms);
        fin[i].node = b->beam[i];
        fin[i].order = i;
        fin[i].lm = tmp.lm;
        fin[i].score = lse(n->pb, n->pnb) + b->o.lm_alpha * tmp.lm + b->o.lm_beta * tmp.n_words +
                       tmp.boost + n->pen;
    }
    qsort(fin, (size_t)b->n_beam, sizeof *fin, cmp_final);
    for (int i = 0; i < b->n_beam && nb->n < b->o.max_alternatives; i++) {
        struct pl_asr_hyp *h = &nb->hyps[nb->n];
        PL_TRY_GOTO(st, make_hyp(b, fin[i].node, h));
        int dup = 0;
        for (int j = 0; j < nb->n && !dup; j++)
            dup = strcmp(nb->hyps[j].text, h->text) == 0;
        if (dup) {
            pl__asr_hyp_deinit(h);
            continue;
        }
        const struct node *n = &b->nodes[fin[i].node];
        h->acoustic = lse(n->pb, n->pnb);
        h->lm = fin[i].lm;
        h->score = fin[i].score;
        h->n_stable_words = h->n_words;
        nb->n++;
    }
    b->finished = 1;
    *out = nb;
    nb = NULL;
fail:
    pl_free(fin);
    pl_asr_nbest_destroy(nb);
    return st;
}
