/*
 * qa_read.c - the extractive reader (qa.h): windows, logits, the best spans.
 *
 * The span search is BERT run_squad's: in each window, the n best start and the n best end
 * positions among the passage's tokens give the candidate pairs; a pair counts when the start
 * token gets its most context in this window (so a token shared by two windows is judged in
 * the one that sees it best), end >= start and the span is short enough. Its score is the sum
 * of the two logits. The "no answer" score of a question is the smallest [CLS] start + end
 * logit over its windows (the SQuAD 2.0 convention).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "qa.h"

#define TOP 20 /* start and end positions tried per window */

struct cand {
    int passage;
    int32_t b0, b1; /* byte span in the passage */
    float logit;
};

void pl_qa_answers_deinit(struct pl_qa_answers *r) {
    if (!r) return;
    for (int i = 0; i < r->n; i++) pl_free(r->a[i].text);
    pl_free(r->a);
    r->a = NULL;
    r->n = 0;
}

/* The token indices of the k largest row[t * stride] over the passage's tokens (seq 1), best
 * first (k <= TOP). Returns how many there are. */
static int top_k(const float *row, int stride, const int8_t *seq, int n, int k, int *idx) {
    int m = 0;
    for (int t = 0; t < n; t++) {
        if (seq[t] != 1) continue;
        float v = row[(size_t)t * stride];
        if (m == k && v <= row[(size_t)idx[k - 1] * stride]) continue; /* no better than kept */
        int j = m < k ? m++ : k - 1; /* full: the last one drops out */
        while (j > 0 && row[(size_t)idx[j - 1] * stride] < v) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = t;
    }
    return m;
}

/* A piece that continues a word ("##..."). */
static bool continues(const struct pl_wordpiece *tok, int32_t id) {
    const char *p = pl_wordpiece_piece(tok, id);
    return p && p[0] == '#' && p[1] == '#';
}

/* A piece that can make a word worth matching: after "##", an ASCII letter or digit or any
 * non-ASCII byte (train/qa/windows.py match_tables makes the same test). */
static bool wordlike(const struct pl_wordpiece *tok, int32_t id) {
    const char *p = pl_wordpiece_piece(tok, id);
    if (!p) return false;
    if (p[0] == '#' && p[1] == '#' && p[2]) p += 2;
    for (const unsigned char *c = (const unsigned char *)p; *c; c++)
        if (*c >= 0x80 || (*c >= '0' && *c <= '9') || ((*c | 0x20) >= 'a' && (*c | 0x20) <= 'z'))
            return true;
    return false;
}

/* The length of the word (a piece and the "##" pieces after it) that starts at ids[i]. */
static int word_len(const struct pl_wordpiece *tok, const int32_t *ids, int n, int i) {
    int j = i + 1;
    while (j < n && continues(tok, ids[j])) j++;
    return j - i;
}

/* tokenizer.token_type_ids "question_match": every passage token of a word that is also a word
 * of the (cut) question gets token type 2, the other passage tokens 1. Words are compared over
 * the whole passage, so a word that a window boundary cuts keeps its type in both windows
 * (train/qa/windows.py question_match, which the model was trained with). */
static pl_status question_match(const struct pl_wordpiece *tok, struct pl_windows *w) {
    int32_t nt = w->n_text_tokens;
    const struct pl_encoding *e0 = &w->windows[0];
    const int32_t *q = e0->ids + 1; /* [CLS] question [SEP] ... */
    int nq = e0->n_first;
    if (nt == 0 || nq == 0) return PL_OK;
    int32_t *text = pl_malloc(sizeof *text * (size_t)nt);
    uint8_t *hit = pl_calloc((size_t)nt, 1);
    if (!text || !hit) {
        pl_free(text);
        pl_free(hit);
        return PL_ERR(PL_E_NOMEM, "question match: %d tokens", (int)nt);
    }
    for (int k = 0; k < w->n; k++) { /* the passage's tokens, from the windows that hold them */
        const struct pl_encoding *e = &w->windows[k];
        for (int t = 0, at = e->window_start; t < e->n; t++)
            if (e->seq[t] == 1) text[at++] = e->ids[t];
    }
    for (int i = 0; i < nt;) {
        int len = word_len(tok, text, nt, i);
        if (wordlike(tok, text[i]))
            for (int j = 0; j < nq;) {
                int ql = word_len(tok, q, nq, j);
                if (ql == len && !memcmp(q + j, text + i, sizeof *q * (size_t)len)) {
                    memset(hit + i, 1, (size_t)len);
                    break;
                }
                j += ql;
            }
        i += len;
    }
    for (int k = 0; k < w->n; k++) {
        struct pl_encoding *e = &w->windows[k];
        for (int t = 0, at = e->window_start; t < e->n; t++)
            if (e->seq[t] == 1) e->type_ids[t] = hit[at++] ? 2 : 1;
    }
    pl_free(text);
    pl_free(hit);
    return PL_OK;
}

static int by_logit(const void *a, const void *b) {
    float x = ((const struct cand *)a)->logit, y = ((const struct cand *)b)->logit;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* Add c to the list, keeping the better logit of an identical span. */
static pl_status add_cand(struct cand **v, int *n, int *cap, struct cand c) {
    for (int i = 0; i < *n; i++)
        if ((*v)[i].passage == c.passage && (*v)[i].b0 == c.b0 && (*v)[i].b1 == c.b1) {
            if (c.logit > (*v)[i].logit) (*v)[i].logit = c.logit;
            return PL_OK;
        }
    if (*n == *cap) {
        int nc = *cap ? *cap * 2 : 64;
        struct cand *nv = pl_realloc(*v, sizeof *nv * (size_t)nc);
        if (!nv) return PL_ERR(PL_E_NOMEM, "answer candidates");
        *v = nv;
        *cap = nc;
    }
    (*v)[(*n)++] = c;
    return PL_OK;
}

/* The candidates of one window (logits [n x 2]: start, end). */
static pl_status window_cands(const struct pl_encoding *e, const float *lg, int passage,
                              int max_tokens, struct cand **v, int *n, int *cap) {
    int s_idx[TOP], e_idx[TOP];
    int ns = top_k(lg, 2, e->seq, e->n, TOP, s_idx);
    int ne = top_k(lg + 1, 2, e->seq, e->n, TOP, e_idx);
    for (int i = 0; i < ns; i++) {
        int s = s_idx[i];
        if (e->max_context && !e->max_context[s]) continue;
        for (int j = 0; j < ne; j++) {
            int t = e_idx[j];
            if (t < s || t - s + 1 > max_tokens) continue;
            struct cand c = {passage, e->offsets[s].byte_start, e->offsets[t].byte_end,
                             lg[(size_t)s * 2] + lg[(size_t)t * 2 + 1]};
            if (c.b1 <= c.b0) continue;
            PL_TRY(add_cand(v, n, cap, c));
        }
    }
    return PL_OK;
}

pl_status pl_qa_read(struct pl_nlu_model *m, const char *question, size_t qlen,
                     const char *const *passages, const size_t *lens, int n_passages,
                     const struct pl_qa_read_opts *o, int64_t deadline_us,
                     struct pl_qa_answers *out) {
    memset(out, 0, sizeof *out);
    if (!m || m->task != PL_NLU_TASK_QA || !question || (n_passages > 0 && (!passages || !lens)) ||
        !o || o->n_best < 1 || o->max_answer_tokens < 1)
        return PL_ERR(PL_E_INVALID_ARG, "qa read: bad arguments");
    pl_status st = PL_OK;
    struct pl_windows **wins = pl_calloc((size_t)n_passages + 1, sizeof *wins);
    const struct pl_encoding **encs = NULL;
    float **outs = NULL, *logits = NULL;
    int *owner = NULL;
    struct cand *cands = NULL;
    int n_cands = 0, cap_cands = 0, n_win = 0;
    if (!wins) return PL_ERR(PL_E_NOMEM, "qa read");
    struct pl_window_opts wo = {m->max_length, m->stride, m->max_query};
    size_t floats = 0;
    for (int p = 0; p < n_passages; p++) {
        st = pl_wordpiece_windows(m->tok, question, qlen, passages[p], lens[p], &wo, &wins[p]);
        if (st != PL_OK) {
            char msg[256];
            snprintf(msg, sizeof msg, "%s", pl_last_error());
            st = PL_ERR(st, "passage %d: %s", p, msg);
            goto fail;
        }
        if (wins[p]->windows[0].n_first == 0) {
            st = PL_ERR(PL_E_INVALID_ARG, "the question has no tokens (only whitespace or "
                                          "control characters)");
            goto fail;
        }
        if (m->case_types == PL_NLU_TYPES_QUESTION_MATCH)
            PL_TRY_GOTO(st, question_match(m->tok, wins[p]));
        n_win += wins[p]->n;
        if (o->max_windows > 0 && n_win > o->max_windows) {
            st = PL_ERR(PL_E_INVALID_ARG, "context too long: more than %d windows of %d tokens "
                                          "(qa.max_windows)", o->max_windows, m->max_length);
            goto fail;
        }
        for (int w = 0; w < wins[p]->n; w++) floats += 2 * (size_t)wins[p]->windows[w].n;
    }
    encs = pl_calloc((size_t)n_win + 1, sizeof *encs);
    outs = pl_calloc((size_t)n_win + 1, sizeof *outs);
    owner = pl_calloc((size_t)n_win + 1, sizeof *owner);
    logits = pl_malloc(sizeof(float) * (floats + 1));
    if (!encs || !outs || !owner || !logits) {
        st = PL_ERR(PL_E_NOMEM, "qa read: %d windows", n_win);
        goto fail;
    }
    float *f = logits;
    for (int p = 0, j = 0; p < n_passages; p++)
        for (int w = 0; w < wins[p]->n; w++, j++) {
            encs[j] = &wins[p]->windows[w];
            outs[j] = f;
            owner[j] = p;
            f += 2 * (size_t)encs[j]->n;
        }
    PL_TRY_GOTO(st, pl_nlu_model_forward_windows(m, encs, n_win, deadline_us, outs));
    float null = INFINITY;
    for (int j = 0; j < n_win; j++) {
        float nl = outs[j][0] + outs[j][1]; /* [CLS] is the window's first token */
        if (nl < null) null = nl;
        PL_TRY_GOTO(st, window_cands(encs[j], outs[j], owner[j], o->max_answer_tokens, &cands,
                                     &n_cands, &cap_cands));
    }
    if (n_cands > 1) qsort(cands, (size_t)n_cands, sizeof *cands, by_logit); /* NULL when none */
    bool null_first = o->allow_null && n_win > 0 &&
                      (n_cands == 0 || null - cands[0].logit > o->null_threshold);
    if (o->allow_null && o->verifier && n_cands > 0) {
        int p = cands[0].passage;
        null_first = pl_qa_verify(o->verifier, question, qlen, passages[p], lens[p],
                                  null - cands[0].logit) > o->verifier->threshold;
    }
    int keep = n_cands < o->n_best ? n_cands : o->n_best;
    if (null_first && keep == o->n_best) keep--;
    int n_out = keep + (null_first ? 1 : 0);
    out->a = pl_calloc((size_t)n_out + 1, sizeof *out->a);
    if (!out->a) {
        st = PL_ERR(PL_E_NOMEM, "qa answers");
        goto fail;
    }
    /* probabilities: a softmax over what is returned, "no answer" included when allowed */
    float mx = null_first || (o->allow_null && n_win > 0) ? null : -INFINITY;
    for (int i = 0; i < keep; i++) mx = fmaxf(mx, cands[i].logit);
    double sum = o->allow_null && n_win > 0 ? exp((double)(null - mx)) : 0.0;
    for (int i = 0; i < keep; i++) sum += exp((double)(cands[i].logit - mx));
    if (null_first) {
        struct pl_qa_answer *a = &out->a[out->n++];
        a->passage = -1;
        a->logit = null;
        a->prob = (float)(exp((double)(null - mx)) / sum);
        if (!(a->text = pl_strdup(""))) st = PL_ERR(PL_E_NOMEM, "qa answers");
    }
    for (int i = 0; st == PL_OK && i < keep; i++) {
        struct pl_qa_answer *a = &out->a[out->n++];
        const struct cand *c = &cands[i];
        a->passage = c->passage;
        a->byte_start = c->b0;
        a->byte_end = c->b1;
        a->logit = c->logit;
        a->prob = (float)(exp((double)(c->logit - mx)) / sum);
        if (!(a->text = pl_strndup(passages[c->passage] + c->b0, (size_t)(c->b1 - c->b0))))
            st = PL_ERR(PL_E_NOMEM, "qa answers");
    }
fail:
    if (st != PL_OK) pl_qa_answers_deinit(out);
    for (int p = 0; p < n_passages; p++) pl_windows_destroy(wins[p]);
    pl_free(wins);
    pl_free(encs);
    pl_free(outs);
    pl_free(owner);
    pl_free(logits);
    pl_free(cands);
    return st;
}
