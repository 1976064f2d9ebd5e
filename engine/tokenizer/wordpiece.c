/*
 * wordpiece.c - model inputs from raw tokens: specials, segment ids,
 * truncation and doc-stride windows.
 */
#include <string.h>

#include "alloc.h"
#include "wordpiece_impl.h"

/* A slice of one text's tokens placed into an encoding. */
struct part {
    const struct pl__tokvec *tv;
    int32_t from, n;
};

static void enc_deinit(struct pl_encoding *e) {
    pl_free(e->ids);
    pl_free(e->type_ids);
    pl_free(e->seq);
    pl_free(e->word_ids);
    pl_free(e->offsets);
    pl_free(e->max_context);
    memset(e, 0, sizeof(*e));
}

static pl_status enc_init(struct pl_encoding *e, int32_t n, bool max_context) {
    memset(e, 0, sizeof(*e));
    size_t m = n > 0 ? (size_t)n : 1;
    e->ids = pl_malloc(m * sizeof(int32_t));
    e->type_ids = pl_malloc(m * sizeof(int32_t));
    e->seq = pl_malloc(m * sizeof(int8_t));
    e->word_ids = pl_malloc(m * sizeof(int32_t));
    e->offsets = pl_malloc(m * sizeof(struct pl_token_offset));
    if (max_context) e->max_context = pl_calloc(m, 1);
    if (!e->ids || !e->type_ids || !e->seq || !e->word_ids || !e->offsets ||
        (max_context && !e->max_context)) {
        enc_deinit(e);
        return PL_ERR(PL_E_NOMEM, "wordpiece: out of memory for an encoding of %d tokens", (int)n);
    }
    e->n = n;
    return PL_OK;
}

static void put_special(struct pl_encoding *e, int32_t *k, int32_t id, int32_t type) {
    static const struct pl_token_offset none = {0, 0, 0, 0};
    e->ids[*k] = id;
    e->type_ids[*k] = type;
    e->seq[*k] = -1;
    e->word_ids[*k] = -1;
    e->offsets[*k] = none;
    (*k)++;
}

static void put_part(struct pl_encoding *e, int32_t *k, const struct part *p, int8_t seq) {
    for (int32_t i = p->from; i < p->from + p->n; i++) {
        e->ids[*k] = p->tv->ids[i];
        e->type_ids[*k] = seq;
        e->seq[*k] = seq;
        e->word_ids[*k] = p->tv->word_ids[i];
        e->offsets[*k] = p->tv->offs[i];
        (*k)++;
    }
}

/* [CLS] a [SEP] (b [SEP]) into e (already sized), or a b without specials. */
static void assemble(const struct pl_wordpiece *tok, struct pl_encoding *e, const struct part *a,
                     const struct part *b, bool specials) {
    int32_t k = 0;
    if (specials) put_special(e, &k, tok->special[PL_WORDPIECE_CLS], 0);
    put_part(e, &k, a, 0);
    if (specials) put_special(e, &k, tok->special[PL_WORDPIECE_SEP], 0);
    if (b) {
        put_part(e, &k, b, 1);
        if (specials) put_special(e, &k, tok->special[PL_WORDPIECE_SEP], 1);
    }
    PL_ASSERT(k == e->n);
    e->n_first = a->n;
    e->n_second = b ? b->n : 0;
}

/*
 * Tokenize a (and b) and build one encoding, truncating to opts->max_len.
 * Shared by encode (b == NULL) and encode_pair.
 */
static pl_status encode_any(const struct pl_wordpiece *tok, const char *a, size_t a_len,
                            const char *b, size_t b_len, bool pair,
                            const struct pl_encode_opts *opts, struct pl_encoding **out) {
    pl_status st = PL_OK;
    struct pl__tokvec ta = {0}, tb = {0};
    struct pl_encoding *e = NULL;
    if (out) *out = NULL;
    if (!tok || !out || (!a && a_len) || (pair && !b && b_len))
        return PL_ERR(PL_E_INVALID_ARG, "wordpiece: encode: NULL argument");
    struct pl_encode_opts o = {0};
    if (opts) o = *opts;
    if (o.max_len < 0 || (int)o.truncation < 0 || (int)o.truncation > PL_TRUNCATE_ERROR)
        return PL_ERR(PL_E_INVALID_ARG,
                      "wordpiece: encode: bad options (max_len %d, truncation %d)", (int)o.max_len,
                      (int)o.truncation);
    int32_t n_special = o.no_special_tokens ? 0 : (pair ? 3 : 2);
    if (o.max_len > 0 && o.max_len < n_special)
        return PL_ERR(PL_E_INVALID_ARG,
                      "wordpiece: encode: max_len %d leaves no room for %d specials",
                      (int)o.max_len, (int)n_special);

    PL_TRY_GOTO(st, pl__wordpiece_run(tok, a ? a : "", a_len, &ta));
    if (pair) PL_TRY_GOTO(st, pl__wordpiece_run(tok, b ? b : "", b_len, &tb));

    int32_t na = ta.n, nb = tb.n;
    if (o.max_len > 0 && (int64_t)na + nb + n_special > o.max_len) {
        int32_t budget = o.max_len - n_special;
        switch (o.truncation) {
        case PL_TRUNCATE_LONGEST_FIRST:
            if (!pair) {
                na = budget;
                break;
            }
            /* BERT's _truncate_seq_pair: pop from the longer; ties pop b. */
            while (na + nb > budget) {
                if (na > nb)
                    na--;
                else
                    nb--;
            }
            break;
        case PL_TRUNCATE_ONLY_SECOND:
        case PL_TRUNCATE_ONLY_FIRST: {
            bool cut_a = !pair || o.truncation == PL_TRUNCATE_ONLY_FIRST;
            int32_t keep = cut_a ? nb : na; /* the text that is not cut */
            if (keep > budget) {
                st = PL_ERR(PL_E_INVALID_ARG,
                            "wordpiece: encode: the %s text alone has %d tokens, over max_len %d",
                            cut_a ? "second" : "first", (int)keep, (int)o.max_len);
                goto fail;
            }
            if (cut_a)
                na = budget - nb;
            else
                nb = budget - na;
            break;
        }
        case PL_TRUNCATE_ERROR:
        default:
            st = PL_ERR(PL_E_INVALID_ARG, "wordpiece: encode: %d tokens exceed max_len %d",
                        (int)(na + nb + n_special), (int)o.max_len);
            goto fail;
        }
    }
    e = pl_malloc(sizeof(*e));
    if (!e) {
        st = PL_ERR(PL_E_NOMEM, "wordpiece: out of memory");
        goto fail;
    }
    PL_TRY_GOTO(st, enc_init(e, na + nb + n_special, false));
    struct part pa = {&ta, 0, na}, pb = {&tb, 0, nb};
    assemble(tok, e, &pa, pair ? &pb : NULL, !o.no_special_tokens);
    e->n_truncated = (ta.n - na) + (tb.n - nb);
    *out = e;
    e = NULL;

fail:           /* also the success path */
    pl_free(e); /* only on failure: enc_init left nothing allocated */
    pl__tokvec_free(&ta);
    pl__tokvec_free(&tb);
    return st;
}

pl_status pl_wordpiece_encode(const struct pl_wordpiece *tok, const char *text, size_t len,
                              const struct pl_encode_opts *opts, struct pl_encoding **out) {
    return encode_any(tok, text, len, NULL, 0, false, opts, out);
}

pl_status pl_wordpiece_encode_pair(const struct pl_wordpiece *tok, const char *a, size_t a_len,
                                   const char *b, size_t b_len, const struct pl_encode_opts *opts,
                                   struct pl_encoding **out) {
    return encode_any(tok, a, a_len, b, b_len, true, opts, out);
}

void pl_encoding_destroy(struct pl_encoding *enc) {
    if (!enc) return;
    enc_deinit(enc);
    pl_free(enc);
}

/* BERT run_squad's _check_is_max_context, in integers: score x100 =
 * 100 * min(left, right) + window length; the first best window wins.
 * Window starts and ends never decrease, so only the neighbours of `cur`
 * that still contain pos need a look (O(max_len / stride), not O(n_win)). */
static bool is_max_context(const int32_t *starts, const int32_t *lens, int32_t n_win, int32_t cur,
                           int32_t pos) {
    int32_t lo = cur, hi = cur;
    while (lo > 0 && starts[lo - 1] + lens[lo - 1] - 1 >= pos) lo--;
    while (hi + 1 < n_win && starts[hi + 1] <= pos) hi++;
    int64_t best = -1;
    int32_t best_i = -1;
    for (int32_t i = lo; i <= hi; i++) {
        int32_t end = starts[i] + lens[i] - 1;
        if (pos < starts[i] || pos > end) continue;
        int32_t left = pos - starts[i], right = end - pos;
        int64_t score = 100 * (int64_t)(left < right ? left : right) + lens[i];
        if (score > best) {
            best = score;
            best_i = i;
        }
    }
    return best_i == cur;
}

#define NOMEM_FAIL                                                                                 \
    do {                                                                                           \
        st = PL_ERR(PL_E_NOMEM, "wordpiece: windows: out of memory");                              \
        goto fail;                                                                                 \
    } while (0)

pl_status pl_wordpiece_windows(const struct pl_wordpiece *tok, const char *first, size_t first_len,
                               const char *text, size_t text_len, const struct pl_window_opts *opts,
                               struct pl_windows **out) {
    pl_status st = PL_OK;
    struct pl__tokvec tq = {0}, tt = {0};
    struct pl_windows *w = NULL;
    int32_t *starts = NULL, *lens = NULL;
    if (out) *out = NULL;
    if (!tok || !opts || !out || (!text && text_len))
        return PL_ERR(PL_E_INVALID_ARG, "wordpiece: windows: NULL argument");
    if (opts->max_len <= 0 || opts->doc_stride < 0 || opts->max_first_len < 0)
        return PL_ERR(PL_E_INVALID_ARG,
                      "wordpiece: windows: bad options (max_len %d, doc_stride %d, "
                      "max_first_len %d)",
                      (int)opts->max_len, (int)opts->doc_stride, (int)opts->max_first_len);
    bool qa = first != NULL;
    if (qa) PL_TRY_GOTO(st, pl__wordpiece_run(tok, first, first_len, &tq));
    PL_TRY_GOTO(st, pl__wordpiece_run(tok, text ? text : "", text_len, &tt));

    int32_t nq = tq.n;
    if (qa && opts->max_first_len > 0 && nq > opts->max_first_len) nq = opts->max_first_len;
    int32_t room = opts->max_len - (qa ? nq + 3 : 2);
    if (room < 1) {
        st = PL_ERR(PL_E_INVALID_ARG,
                    "wordpiece: windows: max_len %d leaves no room for text after %d first-text "
                    "tokens and the specials",
                    (int)opts->max_len, (int)nq);
        goto fail;
    }
    int32_t stride = opts->doc_stride > 0 ? opts->doc_stride : room;
    if (stride > room) stride = room; /* run_squad steps by min(length, doc_stride) */
    int64_t need = tt.n <= room ? 1 : 1 + ((int64_t)tt.n - room + stride - 1) / stride;
    if (need > PL_WORDPIECE_MAX_WINDOWS) {
        st = PL_ERR(PL_E_INVALID_ARG,
                    "wordpiece: windows: %d text tokens with room %d and stride %d need %lld "
                    "windows (limit %d); use a larger doc_stride",
                    (int)tt.n, (int)room, (int)stride, (long long)need, PL_WORDPIECE_MAX_WINDOWS);
        goto fail;
    }

    /* Window spans over the text's tokens (run_squad's doc_spans loop). */
    int32_t n_win = 0, cap = 0;
    for (int32_t start = 0;;) {
        int32_t len = tt.n - start;
        if (len > room) len = room;
        if (n_win == cap) {
            cap = cap ? cap * 2 : 8;
            int32_t *ns = pl_realloc(starts, (size_t)cap * sizeof(int32_t));
            if (!ns) {
                NOMEM_FAIL;
            }
            starts = ns;
            int32_t *nl = pl_realloc(lens, (size_t)cap * sizeof(int32_t));
            if (!nl) {
                NOMEM_FAIL;
            }
            lens = nl;
        }
        starts[n_win] = start;
        lens[n_win] = len;
        n_win++;
        if (start + len >= tt.n) break;
        start += len < stride ? len : stride;
    }

    w = pl_calloc(1, sizeof(*w));
    if (!w) {
        NOMEM_FAIL;
    }
    w->windows = pl_calloc((size_t)n_win, sizeof(struct pl_encoding));
    if (!w->windows) {
        NOMEM_FAIL;
    }
    w->n_text_tokens = tt.n;
    for (int32_t i = 0; i < n_win; i++) {
        struct pl_encoding *e = &w->windows[i];
        PL_TRY_GOTO(st, enc_init(e, lens[i] + (qa ? nq + 3 : 2), true));
        w->n = i + 1;
        struct part pq = {&tq, 0, nq}, pt = {&tt, starts[i], lens[i]};
        if (qa) {
            assemble(tok, e, &pq, &pt, true);
        } else {
            assemble(tok, e, &pt, NULL, true);
        }
        e->window_start = starts[i];
        int32_t k0 = qa ? nq + 2 : 1; /* index of the window's first text token */
        for (int32_t j = 0; j < lens[i]; j++)
            e->max_context[k0 + j] = is_max_context(starts, lens, n_win, i, starts[i] + j);
    }
    *out = w;
    w = NULL;

fail: /* also the success path */
    pl_windows_destroy(w);
    pl_free(starts);
    pl_free(lens);
    pl__tokvec_free(&tq);
    pl__tokvec_free(&tt);
    return st;
}

void pl_windows_destroy(struct pl_windows *w) {
    if (!w) return;
    if (w->windows)
        for (int32_t i = 0; i < w->n; i++) enc_deinit(&w->windows[i]);
    pl_free(w->windows);
    pl_free(w);
}

pl_status pl_wordpiece_tokenize(const struct pl_wordpiece *tok, const char *text, size_t len,
                                int32_t *n, int32_t **ids, int32_t **word_ids,
                                struct pl_token_offset **offsets) {
    struct pl__tokvec tv = {0};
    if (n) *n = 0;
    if (ids) *ids = NULL;
    if (word_ids) *word_ids = NULL;
    if (offsets) *offsets = NULL;
    if (!tok || !n || !ids || !word_ids || !offsets || (!text && len))
        return PL_ERR(PL_E_INVALID_ARG, "wordpiece: tokenize: NULL argument");
    pl_status st = pl__wordpiece_run(tok, text ? text : "", len, &tv);
    if (st != PL_OK) {
        pl__tokvec_free(&tv);
        return st;
    }
    *n = tv.n;
    *ids = tv.ids;
    *word_ids = tv.word_ids;
    *offsets = tv.offs;
    return PL_OK;
}
