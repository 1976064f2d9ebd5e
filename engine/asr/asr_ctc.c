/*
 * asr_ctc.c - CTC vocabulary, results (words, times, confidences) and greedy
 * decoding. The prefix beam search is in asr_beam.c.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "file.h"
#include "asr_ctc_impl.h"
#include "strbuf.h"

static const char WB[] = "\xe2\x96\x81"; /* U+2581 "▁" */

void pl_asr_decode_opts_default(struct pl_asr_decode_opts *o) {
    memset(o, 0, sizeof *o);
    o->frame_ms = 40.0;
    o->confidence_min = 0;
    o->beam_width = 16;
    o->token_prune = -10.0;
    o->token_top_n = 40;
    o->lm_alpha = 0.5;
    o->lm_beta = 1.0;
    o->oov_logp = -10.0;
    o->unk_prefix_penalty = -5.0;
    o->max_alternatives = 1;
    o->stable_margin = 3.0;
}

pl_status pl_asr_vocab_create(const char *const *tokens, int n, int blank,
                              enum pl_asr_vocab_kind kind, struct pl_asr_vocab **out) {
    pl_status st = PL_OK;
    if (!out)
        return PL_ERR(PL_E_INVALID_ARG, "asr vocab: out is NULL");
    *out = NULL;
    if (!tokens || n < 2 || n > (1 << 20))
        return PL_ERR(PL_E_INVALID_ARG, "asr vocab: %d tokens (need 2..2^20)", n);
    if (blank < 0)
        blank = n - 1;
    if (blank >= n)
        return PL_ERR(PL_E_INVALID_ARG, "asr vocab: blank %d of %d tokens", blank, n);
    if (kind < PL_ASR_VOCAB_AUTO || kind > PL_ASR_VOCAB_SPM)
        return PL_ERR(PL_E_INVALID_ARG, "asr vocab: kind %d", (int)kind);
    for (int i = 0; i < n; i++) {
        if (!tokens[i])
            return PL_ERR(PL_E_INVALID_ARG, "asr vocab: token %d is NULL", i);
        if (strlen(tokens[i]) > 64)
            return PL_ERR(PL_E_INVALID_ARG, "asr vocab: token %d is over 64 bytes", i);
    }
    if (kind == PL_ASR_VOCAB_AUTO) {
        kind = PL_ASR_VOCAB_CHARS;
        for (int i = 0; i < n; i++)
            if (i != blank && strncmp(tokens[i], WB, 3) == 0 && tokens[i][3] != '\0')
                kind = PL_ASR_VOCAB_SPM;
    }
    struct pl_asr_vocab *v = pl_calloc(1, sizeof *v);
    if (!v)
        return PL_ERR(PL_E_NOMEM, "asr vocab");
    v->n = n;
    v->blank = blank;
    v->kind = kind;
    v->text = pl_calloc((size_t)n, sizeof(char *));
    v->len = pl_calloc((size_t)n, 1);
    v->cls = pl_calloc((size_t)n, 1);
    if (!v->text || !v->len || !v->cls) {
        st = PL_ERR(PL_E_NOMEM, "asr vocab of %d tokens", n);
        goto fail;
    }
    for (int i = 0; i < n; i++) {
        const char *t = tokens[i];
        uint8_t cls = PL__TOK_TEXT;
        if (i == blank) {
            cls = PL__TOK_BLANK;
            t = "";
        } else if (kind == PL_ASR_VOCAB_CHARS) {
            if (strcmp(t, " ") == 0 || strcmp(t, "|") == 0 || strcmp(t, WB) == 0) {
                cls = PL__TOK_SEP;
                t = "";
            }
        } else if (strncmp(t, WB, 3) == 0) {
            cls = PL__TOK_START;
            t += 3;
        }
        v->text[i] = pl_strdup(t);
        if (!v->text[i]) {
            st = PL_ERR(PL_E_NOMEM, "asr vocab token %d", i);
            goto fail;
        }
        v->len[i] = (uint8_t)strlen(t);
        v->cls[i] = cls;
    }
    *out = v;
    return PL_OK;
fail:
    pl_asr_vocab_destroy(v);
    return st;
}

pl_status pl_asr_vocab_load(const char *path, int blank, enum pl_asr_vocab_kind kind,
                            struct pl_asr_vocab **out) {
    char *buf = NULL;
    size_t len = 0;
    const char **toks = NULL;
    int n = 0;
    if (!out)
        return PL_ERR(PL_E_INVALID_ARG, "asr vocab: out is NULL");
    *out = NULL;
    if (!path)
        return PL_ERR(PL_E_INVALID_ARG, "asr vocab: path is NULL");
    pl_status st = pl_read_file(path, 16u << 20, &buf, &len);
    if (st != PL_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", pl_last_error());
        return PL_ERR(st, "asr vocab: %s", msg);
    }
    /* one token per line, cut in place; a last line without '\n' counts */
    size_t max_lines = 1;
    for (size_t i = 0; i < len; i++)
        max_lines += buf[i] == '\n';
    toks = pl_calloc(max_lines, sizeof *toks);
    if (!toks) {
        st = PL_ERR(PL_E_NOMEM, "asr vocab %s", path);
        goto fail;
    }
    for (char *p = buf, *end = buf + len; p < end;) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *e = nl ? nl : end;
        if (e - p > 254) {
            st = PL_ERR(PL_E_FORMAT, "asr vocab %s: line %d too long", path, n + 1);
            goto fail;
        }
        while (e > p && e[-1] == '\r')
            e--;
        *e = '\0';
        toks[n++] = p;
        p = nl ? nl + 1 : end;
    }
    st = pl_asr_vocab_create(toks, n, blank, kind, out);
fail:
    pl_free(toks);
    pl_free(buf);
    return st;
}

void pl_asr_vocab_destroy(struct pl_asr_vocab *v) {
    if (!v)
        return;
    if (v->text)
        for (int i = 0; i < v->n; i++)
            pl_free(v->text[i]);
    pl_free(v->text);
    pl_free(v->len);
    pl_free(v->cls);
    pl_free(v);
}

int pl_asr_vocab_size(const struct pl_asr_vocab *v) { return v ? v->n : 0; }
int pl_asr_vocab_blank(const struct pl_asr_vocab *v) { return v ? v->blank : -1; }
enum pl_asr_vocab_kind pl_asr_vocab_kind(const struct pl_asr_vocab *v) {
    return v ? v->kind : PL_ASR_VOCAB_AUTO;
}

/* --- results --------------------------------------------------------------- */

void pl__asr_hyp_deinit(struct pl_asr_hyp *h) {
    if (!h)
        return;
    for (int i = 0; i < h->n_words; i++)
        pl_free(h->words[i].text);
    pl_free(h->words);
    pl_free(h->text);
    memset(h, 0, sizeof *h);
}

void pl_asr_nbest_destroy(struct pl_asr_nbest *nb) {
    if (!nb)
        return;
    for (int i = 0; i < nb->n; i++)
        pl__asr_hyp_deinit(&nb->hyps[i]);
    pl_free(nb->hyps);
    pl_free(nb);
}

pl_status pl__asr_check_logp(const float *logp, size_t T, int V) {
    if (!logp && T)
        return PL_ERR(PL_E_INVALID_ARG, "ctc: log-probs are NULL");
    for (size_t i = 0; i < T * (size_t)V; i++)
        if (!isfinite(logp[i]) && !(isinf(logp[i]) && logp[i] < 0))
            return PL_ERR(PL_E_INVALID_ARG, "ctc: log-prob [%zu][%zu] is %g", i / (size_t)V,
                          i % (size_t)V, (double)logp[i]);
    return PL_OK;
}

/* Close the word being built in words[*nw] (drop it when its text is empty). */
static pl_status close_word(struct pl_asr_word *w, char *buf, size_t blen, double csum, float cmin,
                            int ntok, int conf_min, int *nw) {
    if (blen == 0 || ntok == 0)
        return PL_OK;
    w->text = pl_strndup(buf, blen);
    if (!w->text)
        return PL_ERR(PL_E_NOMEM, "ctc: word");
    w->confidence = conf_min ? cmin : (float)(csum / ntok);
    (*nw)++;
    return PL_OK;
}

pl_status pl__asr_hyp_build(const struct pl_asr_vocab *v, const struct pl__asr_tokinfo *ti, int n,
                            const struct pl_asr_decode_opts *o, struct pl_asr_hyp *h) {
    pl_status st = PL_OK;
    char buf[PL__ASR_MAX_WORD];
    size_t blen = 0;
    double csum = 0;
    float cmin = 1;
    int ntok = 0, open = 0, nw = 0;
    memset(h, 0, sizeof *h);
    h->confidence = 1;
    h->words = pl_calloc((size_t)(n ? n : 1), sizeof *h->words);
    if (!h->words)
        return PL_ERR(PL_E_NOMEM, "ctc: %d words", n);
    for (int i = 0; i < n; i++) {
        int tok = ti[i].tok;
        int cls = v->cls[tok];
        if (cls == PL__TOK_BLANK)
            continue;
        if (cls == PL__TOK_SEP || cls == PL__TOK_START) {
            if (open) {
                h->n_words = nw;
                PL_TRY_GOTO(st, close_word(&h->words[nw], buf, blen, csum, cmin, ntok,
                                           o->confidence_min, &nw));
            }
            open = 0;
            blen = 0;
            ntok = 0;
            csum = 0;
            cmin = 1;
            if (cls == PL__TOK_SEP)
                continue;
        }
        if (!open) {
            open = 1;
            h->words[nw].start_ms = (int32_t)lround(ti[i].t_first * o->frame_ms);
        }
        size_t l = v->len[tok];
        if (blen + l > sizeof buf)
            l = sizeof buf - blen;
        memcpy(buf + blen, v->text[tok], l);
        blen += l;
        h->words[nw].end_ms = (int32_t)lround((ti[i].t_last + 1) * o->frame_ms);
        csum += ti[i].prob;
        if (ti[i].prob < cmin)
            cmin = ti[i].prob;
        ntok++;
    }
    if (open)
        PL_TRY_GOTO(st,
                    close_word(&h->words[nw], buf, blen, csum, cmin, ntok, o->confidence_min, &nw));
    h->n_words = nw;
    size_t total = 1;
    double conf = 0;
    for (int i = 0; i < nw; i++) {
        total += strlen(h->words[i].text) + 1;
        conf += h->words[i].confidence;
    }
    if (nw)
        h->confidence = (float)(conf / nw);
    h->text = pl_malloc(total);
    if (!h->text) {
        st = PL_ERR(PL_E_NOMEM, "ctc: transcript");
        goto fail;
    }
    size_t p = 0;
    for (int i = 0; i < nw; i++) {
        size_t l = strlen(h->words[i].text);
        if (i)
            h->text[p++] = ' ';
        memcpy(h->text + p, h->words[i].text, l);
        p += l;
    }
    h->text[p] = '\0';
    return PL_OK;
fail:
    h->n_words = nw;
    pl__asr_hyp_deinit(h);
    return st;
}

pl_status pl_asr_ctc_greedy(const struct pl_asr_vocab *v, const float *logp, size_t T, int V,
                            const struct pl_asr_decode_opts *opts, struct pl_asr_nbest **out) {
    pl_status st = PL_OK;
    struct pl__asr_tokinfo *ti = NULL;
    struct pl_asr_nbest *nb = NULL;
    struct pl_asr_decode_opts o;
    if (!out)
        return PL_ERR(PL_E_INVALID_ARG, "ctc greedy: out is NULL");
    *out = NULL;
    if (!v)
        return PL_ERR(PL_E_INVALID_ARG, "ctc greedy: vocabulary is NULL");
    if (V != v->n)
        return PL_ERR(PL_E_INVALID_ARG, "ctc greedy: V %d, vocabulary has %d", V, v->n);
    if (opts)
        o = *opts;
    else
        pl_asr_decode_opts_default(&o);
    if (!(o.frame_ms > 0))
        return PL_ERR(PL_E_INVALID_ARG, "ctc greedy: frame_ms %g", o.frame_ms);
    if (T > INT32_MAX)
        return PL_ERR(PL_E_INVALID_ARG, "ctc greedy: %zu frames", T);
    PL_TRY(pl__asr_check_logp(logp, T, V));
    ti = pl_malloc(sizeof *ti * (T ? T : 1));
    nb = pl_calloc(1, sizeof *nb);
    if (!ti || !nb) {
        st = PL_ERR(PL_E_NOMEM, "ctc greedy: %zu frames", T);
        goto fail;
    }
    nb->hyps = pl_calloc(1, sizeof *nb->hyps);
    if (!nb->hyps) {
        st = PL_ERR(PL_E_NOMEM, "ctc greedy");
        goto fail;
    }
    int n = 0, prev = -1;
    double ac = 0;
    for (size_t t = 0; t < T; t++) {
        const float *row = logp + t * (size_t)V;
        int best = 0;
        for (int k = 1; k < V; k++)
            if (row[k] > row[best])
                best = k;
        ac += row[best];
        float p = expf(row[best]);
        if (best != v->blank) {
            if (best == prev) {
                ti[n - 1].t_last = (int32_t)t;
                if (p > ti[n - 1].prob)
                    ti[n - 1].prob = p;
            } else {
                ti[n].tok = best;
                ti[n].t_first = ti[n].t_last = (int32_t)t;
                ti[n].prob = p;
                n++;
            }
        }
        prev = best;
    }
    PL_TRY_GOTO(st, pl__asr_hyp_build(v, ti, n, &o, &nb->hyps[0]));
    nb->n = 1;
    nb->hyps[0].acoustic = ac;
    nb->hyps[0].score = ac;
    nb->hyps[0].n_stable_words = nb->hyps[0].n_words;
    *out = nb;
    nb = NULL;
fail:
    pl_free(ti);
    pl_asr_nbest_destroy(nb);
    return st;
}
