/*
 * tts_front.c - the front end: text or SSML -> sentences of words with phones,
 * pauses and prosody.
 *
 * All segments of a request are normalized into one token list (so a mark in
 * one SSML segment still ends the sentence of the previous one); a parallel
 * array remembers each token's segment (prosody, phoneme override, break).
 * The list is cut into sentences, then each word gets its pronunciation:
 * SSML <phoneme>, letter names for spelled letters, the request dictionary,
 * the user dictionary, the CMU dictionary, a possessive "'s" on a known word,
 * the G2P hook, letter names for an all-consonant word; else it is OOV.
 */
#include <string.h>

#include "alloc.h"
#include "tts_impl.h"

struct pl_tts_front {
    struct pl_tts_front_opts opts;
};

pl_status pl_tts_front_create(const struct pl_tts_front_opts *opts, struct pl_tts_front **out) {
    if (!opts || !out)
        return PL_ERR(PL_E_INVALID_ARG, "tts front: NULL argument");
    *out = NULL;
    if (opts->max_words < 0)
        return PL_ERR(PL_E_INVALID_ARG, "tts front: max_words %d < 0", opts->max_words);
    struct pl_tts_front *f = pl_calloc(1, sizeof *f);
    if (!f)
        return PL_ERR(PL_E_NOMEM, "tts front: out of memory");
    f->opts = *opts;
    if (!f->opts.max_words)
        f->opts.max_words = 50;
    *out = f;
    return PL_OK;
}

void pl_tts_front_destroy(struct pl_tts_front *f) { pl_free(f); }

void pl_tts_result_destroy(struct pl_tts_result *r) {
    if (!r)
        return;
    pl_arena_deinit(&r->arena);
    pl_free(r);
}

/* Per token: where it came from. */
struct tokinfo {
    int seg;      /* SSML segment, -1 for plain text */
    int break_ms; /* >= 0: an SSML <break> (a PUNCT token with punct NONE) */
};

struct run {
    const struct pl_tts_front *f;
    const struct pl_tts_lexicon *req;
    const struct pl_tts_ssml *ssml;
    struct pl_tts_tokens toks;
    struct tokinfo *info;
    size_t info_cap;
    struct pl_tts_result *res;
};

static pl_status sync_info(struct run *r, size_t from, int seg) {
    if (r->toks.n > r->info_cap) {
        size_t nc = r->info_cap ? r->info_cap : 64;
        while (nc < r->toks.n)
            nc *= 2;
        struct tokinfo *v = pl_realloc(r->info, nc * sizeof *v);
        if (!v)
            return PL_ERR(PL_E_NOMEM, "tts front: out of memory");
        r->info = v;
        r->info_cap = nc;
    }
    for (size_t i = from; i < r->toks.n; i++) {
        r->info[i].seg = seg;
        r->info[i].break_ms = -1;
    }
    return PL_OK;
}

static struct pl_tts_token *push_tok(struct run *r) { return pl__tts_tokens_push(&r->toks); }

static bool last_is_end(const struct run *r) {
    if (!r->toks.n)
        return true;
    const struct pl_tts_token *l = &r->toks.v[r->toks.n - 1];
    return l->kind == PL_TTS_TOK_PUNCT &&
           (l->punct == PL_TTS_PUNCT_PERIOD || l->punct == PL_TTS_PUNCT_QUESTION ||
            l->punct == PL_TTS_PUNCT_EXCLAIM || l->punct == PL_TTS_PUNCT_PARAGRAPH);
}

static pl_status tokenize(struct run *r, const char *text, size_t len) {
    const struct pl_tts_lexicon *lex[3];
    int nl = 0;
    if (r->req)
        lex[nl++] = r->req;
    if (r->f->opts.user)
        lex[nl++] = r->f->opts.user;
    if (r->f->opts.cmu)
        lex[nl++] = r->f->opts.cmu;
    struct pl_tts_norm_opts no = {.lexicons = lex, .n_lexicons = nl};
    if (!r->ssml) {
        PL_TRY(pl_tts_normalize(text, len, &no, NULL, 0, &r->toks));
        return sync_info(r, 0, -1);
    }
    for (size_t k = 0; k < r->ssml->n_segs; k++) {
        const struct pl_tts_segment *s = &r->ssml->segs[k];
        size_t from = r->toks.n;
        struct pl_tts_token *t;
        switch (s->kind) {
        case PL_TTS_SEG_TEXT:
            no.say_as = s->say_as;
            memcpy(no.date_format, s->date_format, sizeof no.date_format);
            PL_TRY(pl_tts_normalize(s->text, s->len, &no, s->src_map, s->src_start, &r->toks));
            if (!s->src_map) { /* <sub>: the words stand for the whole element */
                for (size_t i = from; i < r->toks.n; i++) {
                    r->toks.v[i].src_start = s->src_start;
                    r->toks.v[i].src_end = s->src_end;
                }
            }
            PL_TRY(sync_info(r, from, (int)k));
            break;
        case PL_TTS_SEG_PHONEME: {
            char *w = pl_arena_alloc(&r->toks.arena, s->len + 1);
            if (!w || !(t = push_tok(r)))
                return PL_ERR(PL_E_NOMEM, "tts front: out of memory");
            size_t o = 0;
            for (size_t i = 0; i < s->len; i++) { /* the word as written, lower case, no spaces */
                char c = s->text[i];
                if (c == ' ' || c == '\n' || c == '\t' || c == '\r')
                    continue;
                w[o++] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
            }
            w[o] = '\0';
            t->kind = PL_TTS_TOK_WORD;
            t->text = w;
            t->src_start = s->src_start;
            t->src_end = s->src_end;
            PL_TRY(sync_info(r, from, (int)k));
            break;
        }
        case PL_TTS_SEG_BREAK:
            if (!(t = push_tok(r)))
                return PL_ERR(PL_E_NOMEM, "tts front: out of memory");
            t->kind = PL_TTS_TOK_PUNCT;
            t->punct = PL_TTS_PUNCT_NONE;
            t->text = "";
            t->src_start = s->src_start;
            t->src_end = s->src_end;
            PL_TRY(sync_info(r, from, (int)k));
            r->info[from].break_ms = s->break_ms;
            break;
        case PL_TTS_SEG_BOUNDARY:
            if (last_is_end(r))
                break;
            if (!(t = push_tok(r)))
                return PL_ERR(PL_E_NOMEM, "tts front: out of memory");
            t->kind = PL_TTS_TOK_PUNCT;
            t->punct = PL_TTS_PUNCT_PARAGRAPH;
            t->text = "";
            t->src_start = s->src_start;
            t->src_end = s->src_end;
            PL_TRY(sync_info(r, from, (int)k));
            break;
        }
    }
    if (pl_arena_failed(&r->toks.arena))
        return PL_ERR(PL_E_NOMEM, "tts front: out of memory");
    return PL_OK;
}

static int pause_of(enum pl_tts_punct p) {
    static const int ms[] = {0, 150, 400, 400, 400, 250, 250, 600};
    return ms[p];
}

static bool voiceless(uint8_t id) {
    static const char *const v[] = {"P", "T", "K", "F", "TH"};
    for (int k = 0; k < 5; k++) {
        uint8_t x;
        if (pl_tts_phone_parse(v[k], strlen(v[k]), &x) && x == id)
            return true;
    }
    return false;
}

static bool sibilant(uint8_t id) {
    static const char *const v[] = {"S", "Z", "SH", "ZH", "CH", "JH"};
    for (int k = 0; k < 6; k++) {
        uint8_t x;
        if (pl_tts_phone_parse(v[k], strlen(v[k]), &x) && x == id)
            return true;
    }
    return false;
}

/* Pronounce one word into ph[0..cap); returns the count and sets *src. */
static size_t pronounce(const struct run *r, const struct pl_tts_token *t, const struct tokinfo *ti,
                        uint8_t *ph, size_t cap, enum pl_tts_pron_source *src) {
    const char *w = t->text;
    size_t len = strlen(w);
    const uint8_t *p;
    size_t n;
    if (ti->seg >= 0 && r->ssml->segs[ti->seg].kind == PL_TTS_SEG_PHONEME) {
        const struct pl_tts_segment *s = &r->ssml->segs[ti->seg];
        n = s->n_phones < cap ? s->n_phones : cap;
        memcpy(ph, s->phones, n);
        *src = PL_TTS_PRON_SSML;
        return n;
    }
    if (t->flags & PL_TTS_TOKF_LETTER) {
        *src = PL_TTS_PRON_LETTERS;
        return pl__tts_letter_phones(w[0], ph);
    }
    const struct pl_tts_lexicon *lex[3] = {r->req, r->f->opts.user, r->f->opts.cmu};
    const enum pl_tts_pron_source srcs[3] = {PL_TTS_PRON_REQUEST, PL_TTS_PRON_USER, PL_TTS_PRON_CMU};
    for (int k = 0; k < 3; k++) {
        if (lex[k] && (n = pl_tts_lexicon_lookup(lex[k], w, len, 0, &p)) > 0 && n <= cap) {
            memcpy(ph, p, n);
            *src = srcs[k];
            return n;
        }
    }
    if (len > 2 && w[len - 2] == '\'' && w[len - 1] == 's') { /* possessive of a known word */
        for (int k = 0; k < 3; k++) {
            if (lex[k] && (n = pl_tts_lexicon_lookup(lex[k], w, len - 2, 0, &p)) > 0 && n + 2 <= cap) {
                memcpy(ph, p, n);
                uint8_t last = p[n - 1], x;
                if (sibilant(last)) {
                    pl_tts_phone_parse("IH0", 3, &x);
                    ph[n++] = x;
                    pl_tts_phone_parse("Z", 1, &x);
                } else {
                    pl_tts_phone_parse(voiceless(last) ? "S" : "Z", 1, &x);
                }
                ph[n++] = x;
                *src = srcs[k];
                return n;
            }
        }
    }
    bool consonants = len > 0 && len <= 8;
    for (size_t i = 0; i < len && consonants; i++)
        consonants = w[i] >= 'a' && w[i] <= 'z' && !strchr("aeiouy", w[i]);
    if (consonants) { /* "xyz", "bbc": letter names (before G2P, which would read them as a word) */
        n = 0;
        for (size_t i = 0; i < len && n + 8 <= cap; i++)
            n += pl__tts_letter_phones(w[i], ph + n);
        *src = PL_TTS_PRON_LETTERS;
        return n;
    }
    if (r->f->opts.g2p && (n = r->f->opts.g2p(w, len, ph, cap, r->f->opts.g2p_ud)) > 0) {
        bool ok = n <= cap;
        for (size_t i = 0; i < n && ok; i++)
            ok = ph[i] < PL_TTS_N_PHONE_IDS;
        if (ok) {
            *src = PL_TTS_PRON_G2P;
            return n;
        }
    }
    *src = PL_TTS_PRON_NONE;
    return 0;
}

static pl_status add_oov(struct pl_tts_result *res, size_t *cap, const char *w) {
    for (size_t i = 0; i < res->n_oov; i++) {
        if (strcmp(res->oov[i], w) == 0)
            return PL_OK;
    }
    if (res->n_oov >= 4096)
        return PL_OK;
    if (res->n_oov == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        const char **v = pl_arena_alloc(&res->arena, nc * sizeof *v);
        if (!v)
            return PL_ERR(PL_E_NOMEM, "tts front: out of memory");
        if (res->n_oov)
            memcpy(v, res->oov, res->n_oov * sizeof *v);
        res->oov = v;
        *cap = nc;
    }
    res->oov[res->n_oov++] = w;
    return PL_OK;
}

static pl_status build(struct run *r) {
    struct pl_tts_result *res = r->res;
    struct pl_tts_span *spans = NULL;
    size_t n_spans = 0, oov_cap = 0;
    pl_status st = pl_tts_split_tokens(r->toks.v, r->toks.n, r->f->opts.max_words, &spans, &n_spans);
    if (st != PL_OK)
        return st;
    res->sentences = pl_arena_calloc(&res->arena, n_spans ? n_spans : 1, sizeof *res->sentences);
    if (!res->sentences)
        goto nomem;
    for (size_t k = 0; k < n_spans; k++) {
        size_t a = spans[k].start, b = spans[k].end, words = 0, breaks = 0;
        for (size_t i = a; i < b; i++) {
            words += r->toks.v[i].kind == PL_TTS_TOK_WORD;
            breaks += r->info[i].break_ms > 0;
        }
        if (!words && !breaks)
            continue;
        struct pl_tts_sentence *s = &res->sentences[res->n_sentences++];
        s->items = pl_arena_calloc(&res->arena, b - a, sizeof *s->items);
        if (!s->items)
            goto nomem;
        s->src_start = UINT32_MAX;
        for (size_t i = a; i < b; i++) {
            const struct pl_tts_token *t = &r->toks.v[i];
            const struct tokinfo *ti = &r->info[i];
            struct pl_tts_item *it = &s->items[s->n_items++];
            it->text = t->kind == PL_TTS_TOK_WORD ? pl_arena_strdup(&res->arena, t->text) : t->text;
            if (!it->text)
                goto nomem;
            it->src_start = t->src_start;
            it->src_end = t->src_end;
            it->prosody = ti->seg >= 0 ? r->ssml->segs[ti->seg].prosody
                                       : (struct pl_tts_prosody){1.0f, 1.0f, 1.0f, 0};
            if (t->src_start < s->src_start)
                s->src_start = t->src_start;
            if (t->src_end > s->src_end)
                s->src_end = t->src_end;
            if (t->kind == PL_TTS_TOK_PUNCT) {
                it->kind = PL_TTS_ITEM_PAUSE;
                it->punct = t->punct;
                it->pause_ms = ti->break_ms >= 0 ? ti->break_ms : pause_of(t->punct);
                continue;
            }
            it->kind = PL_TTS_ITEM_WORD;
            res->n_words++;
            uint8_t ph[PL_TTS_MAX_PRON];
            it->n_phones = pronounce(r, t, ti, ph, sizeof ph, &it->pron);
            if (it->n_phones) {
                uint8_t *c = pl_arena_alloc(&res->arena, it->n_phones);
                if (!c)
                    goto nomem;
                memcpy(c, ph, it->n_phones);
                it->phones = c;
            } else if ((st = add_oov(res, &oov_cap, it->text)) != PL_OK) {
                goto fail;
            }
        }
        if (s->src_start == UINT32_MAX)
            s->src_start = s->src_end;
    }
    pl_free(spans);
    return PL_OK;
nomem:
    st = PL_ERR(PL_E_NOMEM, "tts front: out of memory");
fail:
    pl_free(spans);
    return st;
}

pl_status pl_tts_front_run(const struct pl_tts_front *front, const char *text,
                           enum pl_tts_input mode, const char *custom_dictionary,
                           struct pl_tts_result **out, char *err, size_t errlen) {
    pl_status st = PL_OK;
    struct run r = {.f = front};
    pl_tts_tokens_init(&r.toks);
    struct pl_tts_ssml *ssml = NULL;
    if (out)
        *out = NULL;
    if (!front || !text || !out) {
        st = PL_ERR(PL_E_INVALID_ARG, "tts front: NULL argument");
        goto fail;
    }
    size_t len = strlen(text);
    if (len > PL_TTS_MAX_TEXT) {
        st = PL_ERR(PL_E_INVALID_ARG, "tts front: text of %zu bytes (at most %zu)", len,
                    PL_TTS_MAX_TEXT);
        goto fail;
    }
    size_t bad = pl__tts_utf8_check(text, len);
    if (bad < len) {
        st = PL_ERR(PL_E_INVALID_ARG, "tts front: invalid UTF-8 at byte %zu", bad);
        goto fail;
    }
    if (custom_dictionary && custom_dictionary[0]) {
        struct pl_tts_lexicon *req = NULL;
        PL_TRY_GOTO(st, pl_tts_lexicon_parse_custom(custom_dictionary, &req));
        r.req = req;
    }
    if (mode == PL_TTS_INPUT_SSML || (mode == PL_TTS_INPUT_AUTO && pl_tts_is_ssml(text, len))) {
        PL_TRY_GOTO(st, pl_tts_ssml_parse(text, len, &ssml));
        r.ssml = ssml;
    }
    PL_TRY_GOTO(st, tokenize(&r, text, len));
    r.res = pl_calloc(1, sizeof *r.res);
    if (!r.res) {
        st = PL_ERR(PL_E_NOMEM, "tts front: out of memory");
        goto fail;
    }
    pl_arena_init(&r.res->arena, 16384);
    PL_TRY_GOTO(st, build(&r));
    char *norm = NULL;
    PL_TRY_GOTO(st, pl_tts_tokens_join(r.toks.v, r.toks.n, &norm));
    r.res->normalized = pl_arena_keep(&r.res->arena, norm);
    if (!r.res->normalized || pl_arena_failed(&r.res->arena)) {
        st = PL_ERR(PL_E_NOMEM, "tts front: out of memory");
        goto fail;
    }
    *out = r.res;
    r.res = NULL;
fail:
    if (st != PL_OK && err && errlen)
        snprintf(err, errlen, "%s", pl_last_error());
    pl_tts_result_destroy(r.res);
    pl_tts_lexicon_destroy((struct pl_tts_lexicon *)r.req);
    pl_tts_ssml_destroy(ssml);
    pl_tts_tokens_deinit(&r.toks);
    pl_free(r.info);
    return st;
}
