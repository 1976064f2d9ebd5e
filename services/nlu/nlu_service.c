/*
 * nlu_service.c - the model repository of parley-nlu and its Riva NLP rpcs.
 *
 * Each handler unpacks the Riva request (pl_proto_unpack: bad bytes and non-UTF-8 strings are
 * INVALID_ARGUMENT), checks the texts (empty, too long, too many), picks the model
 * (model.model_name, AnalyzeIntent's options.domain, else the task's default: the first
 * loaded model of nlu.default_models, else the first model of that task by directory name), runs it (windows + batcher, nlu_model.c), turns the
 * scores into the Riva response (nlu_post.c) and packs it. Response sub-messages live in a
 * per-call arena freed after packing.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "alloc.h"
#include "arena.h"
#include "log.h"
#include "model_repo.h"
#include "models/bert.h"
#include "nlu.h"
#include "nrpc_worker.h"
#include "proto_util.h"
#include "riva/proto/riva_nlp.pb-c.h"
#include "strbuf.h"
#include "util.h"

struct pl_nlu_service {
    struct pl_model_repo *repo; /* the models served; reloaded on SIGHUP */
    struct pl_nlu_model_opts model_opts;
    char *model_dir;
    struct pl_nlu_limits lim;
    int64_t max_text_bytes;
    int max_texts;
    char **alias, **alias_of; /* [n_aliases]: a request's model name alias[i] means alias_of[i] */
    int n_aliases;
    char **defaults;          /* [n_defaults]: nlu.default_models, tried in order when a
                                 request names no model */
    int n_defaults;
};

/* ---- the model repository: directories whose config.json names an NLU task ---------------- */

/* Every task of the model code but question answering (parley-qa serves those). */
static bool repo_claims(void *ud, const char *dir, const json_t *config) {
    (void)ud;
    (void)config;
    enum pl_nlu_task t;
    return pl_nlu_model_probe(dir, &t) && t != PL_NLU_TASK_QA;
}

/* A directory gives its model and the variants its config.json declares ("<dir>-<variant>"). */
static pl_status repo_load(void *ud, const char *dir_name, const char *dir, const json_t *config,
                           struct pl_model_list *out) {
    (void)config;
    struct pl_nlu_service *s = ud;
    return pl_nlu_repo_load(dir, dir_name, &s->model_opts, out);
}

static void repo_unload(void *ud, void *model) {
    (void)ud;
    pl_nlu_model_destroy(model);
}

static const struct pl_model_repo_i nlu_repo = {"NLU model", repo_claims, repo_load, repo_unload};

/* Parse "alias=model,alias=model" (spaces around names ignored). Errors: PL_E_INVALID_ARG
 * naming the bad entry (no '=', an empty side, a name used twice), PL_E_NOMEM. */
static pl_status parse_aliases(struct pl_nlu_service *s, const char *spec) {
    const char *p = spec ? spec : "";
    while (*p) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', n);
        const char *a = p, *ae = eq ? eq : p + n, *t = eq ? eq + 1 : p + n, *te = p + n;
        while (a < ae && *a == ' ') a++;
        while (ae > a && ae[-1] == ' ') ae--;
        while (t < te && *t == ' ') t++;
        while (te > t && te[-1] == ' ') te--;
        if (n > 0 && (!eq || a == ae || t == te))
            return PL_ERR(PL_E_INVALID_ARG, "nlu.model_aliases: entry '%.*s' is not alias=model",
                          (int)n, p);
        if (n > 0) {
            for (int i = 0; i < s->n_aliases; i++)
                if (strlen(s->alias[i]) == (size_t)(ae - a) && !memcmp(s->alias[i], a, (size_t)(ae - a)))
                    return PL_ERR(PL_E_INVALID_ARG, "nlu.model_aliases: alias '%.*s' given twice",
                                  (int)(ae - a), a);
            char **na = pl_realloc(s->alias, sizeof *na * (size_t)(s->n_aliases + 1));
            if (na) s->alias = na;
            char **nt = na ? pl_realloc(s->alias_of, sizeof *nt * (size_t)(s->n_aliases + 1)) : NULL;
            if (nt) s->alias_of = nt;
            char *x = nt ? pl_strndup(a, (size_t)(ae - a)) : NULL, *y = x ? pl_strndup(t, (size_t)(te - t)) : NULL;
            if (!y) {
                pl_free(x);
                return PL_ERR(PL_E_NOMEM, "nlu.model_aliases");
            }
            s->alias[s->n_aliases] = x;
            s->alias_of[s->n_aliases++] = y;
        }
        p += n + (end ? 1 : 0);
    }
    return PL_OK;
}

/* Parse nlu.default_models "a, b,,c" (spaces around names and empty entries ignored) once, so
 * that a request naming no model only compares names. Errors: PL_E_NOMEM. */
static pl_status parse_defaults(struct pl_nlu_service *s, const char *spec) {
    for (const char *p = spec ? spec : ""; *p;) {
        size_t n = strcspn(p, ",");
        const char *a = p, *e = p + n;
        while (a < e && *a == ' ') a++;
        while (e > a && e[-1] == ' ') e--;
        if (a < e) {
            char **nd = pl_realloc(s->defaults, sizeof *nd * (size_t)(s->n_defaults + 1));
            if (nd) s->defaults = nd;
            char *x = nd ? pl_strndup(a, (size_t)(e - a)) : NULL;
            if (!x) return PL_ERR(PL_E_NOMEM, "nlu.default_models");
            s->defaults[s->n_defaults++] = x;
        }
        p += n + (p[n] == ',');
    }
    return PL_OK;
}

/* The model name an alias stands for, or name itself. */
static const char *unalias(const struct pl_nlu_service *s, const char *name) {
    for (int i = 0; name && i < s->n_aliases; i++)
        if (!strcmp(s->alias[i], name)) return s->alias_of[i];
    return name;
}

pl_status pl_nlu_service_create(const struct pl_nlu_service_opts *o, struct pl_nlu_service **out) {
    *out = NULL;
    struct pl_nlu_service *s = pl_calloc(1, sizeof *s);
    if (!s || !(s->model_dir = pl_strdup(o->model_dir ? o->model_dir : "models"))) {
        pl_free(s);
        return PL_ERR(PL_E_NOMEM, "nlu service");
    }
    s->model_opts = o->model;
    s->lim.max_windows = o->max_windows > 0 ? o->max_windows : 256;
    s->max_text_bytes = o->max_text_bytes > 0 ? o->max_text_bytes : 65536;
    s->max_texts = o->max_texts > 0 ? o->max_texts : 256;
    pl_status st = parse_aliases(s, o->model_aliases);
    if (st == PL_OK) st = parse_defaults(s, o->default_models);
    if (st == PL_OK) st = pl_model_repo_create(s->model_dir, &nlu_repo, s, &s->repo);
    if (st != PL_OK) {
        pl_nlu_service_destroy(s);
        return st;
    }
    *out = s;
    return PL_OK;
}

void pl_nlu_service_destroy(struct pl_nlu_service *s) {
    if (!s) return;
    for (int i = 0; i < s->n_aliases; i++) {
        pl_free(s->alias[i]);
        pl_free(s->alias_of[i]);
    }
    pl_free(s->alias);
    pl_free(s->alias_of);
    for (int i = 0; i < s->n_defaults; i++) pl_free(s->defaults[i]);
    pl_free(s->defaults);
    pl_model_repo_destroy(s->repo);
    pl_free(s->model_dir);
    pl_free(s);
}

int pl_nlu_service_n_models(const struct pl_nlu_service *s) {
    struct pl_model_set *set = pl_model_repo_acquire(s->repo);
    int n = pl_model_set_count(set);
    pl_model_set_release(set);
    return n;
}

const struct pl_nlu_model *pl_nlu_service_model(const struct pl_nlu_service *s, int i) {
    struct pl_model_set *set = pl_model_repo_acquire(s->repo);
    const struct pl_nlu_model *m = pl_model_set_at(set, i, NULL, NULL);
    pl_model_set_release(set);
    return m;
}

struct pl_model_repo *pl_nlu_service_repo(struct pl_nlu_service *s) { return s->repo; }

/* ---- response pieces (in the call's pl_arena) ------------------------------------------- */

static Nvidia__Riva__Nlp__Classification *aclass(struct pl_arena *a, const char *name, size_t len,
                                                float score) {
    Nvidia__Riva__Nlp__Classification *c = pl_arena_alloc(a, sizeof *c);
    if (!c) return NULL;
    nvidia__riva__nlp__classification__init(c);
    c->class_name = pl_arena_strndup(a, name, len);
    c->score = score;
    return c;
}

static Nvidia__Riva__Nlp__Span **aspan(struct pl_arena *a, int32_t start, int32_t end) {
    Nvidia__Riva__Nlp__Span **v = pl_arena_alloc(a, sizeof *v);
    Nvidia__Riva__Nlp__Span *sp = pl_arena_alloc(a, sizeof *sp);
    if (!v || !sp) return NULL;
    nvidia__riva__nlp__span__init(sp);
    sp->start = (uint32_t)start;
    sp->end = (uint32_t)end;
    v[0] = sp;
    return v;
}

/* ---- model choice and input checks ------------------------------------------------------- */

static const char *kind_of(enum pl_nlu_task t) {
    switch (t) {
    case PL_NLU_TASK_INTENT_SLOT: return "intent/slot";
    case PL_NLU_TASK_TOKEN_CLS: return "token-classification (NER)";
    case PL_NLU_TASK_TEXT_CLS: return "text-classification";
    case PL_NLU_TASK_PUNCT: return "punctuation";
    default: return "?";
    }
}

/* The first model of task t in directory-name order, or NULL. */
static struct pl_nlu_model *first_model(const struct pl_model_set *set, enum pl_nlu_task t) {
    for (int i = 0; i < pl_model_set_count(set); i++) {
        struct pl_nlu_model *m = pl_model_set_at(set, i, NULL, NULL);
        if (m->task == t) return m;
    }
    return NULL;
}

/* The first model of task t named in nlu.default_models that is loaded, or NULL. A name that
 * is not loaded (or of another task) is passed over: the list names what to prefer, so a model
 * trained into the repository later cannot take over requests that name no model. */
static struct pl_nlu_model *preferred_model(const struct pl_nlu_service *s,
                                            const struct pl_model_set *set, enum pl_nlu_task t) {
    for (int d = 0; d < s->n_defaults; d++)
        for (int i = 0; i < pl_model_set_count(set); i++) {
            struct pl_nlu_model *m = pl_model_set_at(set, i, NULL, NULL);
            if (m->task == t && !strcmp(m->name, s->defaults[d])) return m;
        }
    return NULL;
}

/*
 * Pick a model for rpc: by name (also matching a model's domain when by_domain) among the
 * tasks in ok[0..n_ok), else for ok[0], then ok[1], ...: the first loaded model named in
 * nlu.default_models, else the first model of that task by directory name.
 * Unknown name -> NOT_FOUND; a model of another task -> INVALID_ARGUMENT; no model of these
 * tasks loaded -> UNAVAILABLE.
 */
static pl_status pick_model(const struct pl_nlu_service *s, const struct pl_model_set *set,
                            const char *rpc, const char *name, bool by_domain,
                            const enum pl_nlu_task *ok, int n_ok, struct pl_nlu_model **out) {
    *out = NULL;
    int n_models = pl_model_set_count(set);
    const char *asked = name;
    name = unalias(s, name);
    if (name && *name) {
        for (int i = 0; i < n_models; i++) {
            struct pl_nlu_model *m = pl_model_set_at(set, i, NULL, NULL);
            if (strcmp(m->name, name) != 0 && !(by_domain && !strcmp(m->domain, name))) continue;
            for (int k = 0; k < n_ok; k++)
                if (m->task == ok[k]) {
                    *out = m;
                    return PL_OK;
                }
            if (by_domain) continue;
            return PL_ERR(PL_E_INVALID_ARG, "model '%s' is a %s model; %s needs a %s model", name,
                          pl_nlu_task_name(m->task), rpc, kind_of(ok[0]));
        }
        struct pl_strbuf sb;
        pl_strbuf_init(&sb);
        for (int i = 0; i < n_models; i++) {
            const char *mn = NULL;
            pl_model_set_at(set, i, &mn, NULL);
            pl_strbuf_appendf(&sb, "%s%s", i ? ", " : "", mn);
        }
        pl_status st = name != asked
                           ? PL_ERR(PL_E_NOT_FOUND, "%s '%s' (an alias of '%s', nlu.model_aliases) is "
                                    "not loaded (loaded: %s)", by_domain ? "model or domain" : "model",
                                    asked, name, sb.len ? sb.data : "none")
                           : PL_ERR(PL_E_NOT_FOUND, "%s '%s' is not loaded (loaded: %s)",
                                    by_domain ? "model or domain" : "model", name,
                                    sb.len ? sb.data : "none");
        pl_strbuf_deinit(&sb);
        return st;
    }
    for (int k = 0; k < n_ok && !*out; k++)
        if (!(*out = preferred_model(s, set, ok[k]))) *out = first_model(set, ok[k]);
    if (*out) return PL_OK;
    return PL_ERR(PL_E_UNAVAILABLE, "%s: no %s model is loaded (nlu.model_dir %s has %d NLU "
                                    "model%s)", rpc, kind_of(ok[0]), s->model_dir, n_models,
                  n_models == 1 ? "" : "s");
}

static pl_status check_texts(const struct pl_nlu_service *s, char *const *texts, size_t n,
                             size_t *lens) {
    if (n == 0) return PL_ERR(PL_E_INVALID_ARG, "no text given: the request's text list is empty");
    if (n > (size_t)s->max_texts)
        return PL_ERR(PL_E_INVALID_ARG, "too many texts: %zu (the limit is %d, nlu.max_texts)", n,
                      s->max_texts);
    for (size_t i = 0; i < n; i++) {
        lens[i] = texts[i] ? strlen(texts[i]) : 0;
        if (lens[i] == 0) return PL_ERR(PL_E_INVALID_ARG, "text[%zu] is empty", i);
        if ((int64_t)lens[i] > s->max_text_bytes)
            return PL_ERR(PL_E_INVALID_ARG, "text[%zu] is too long: %zu bytes (the limit is %lld, "
                                            "nlu.max_text_bytes)", i, lens[i],
                          (long long)s->max_text_bytes);
    }
    return PL_OK;
}

/* The words of one text and the label each takes from head h (at its first sub-token). */
struct labelled {
    struct pl_nlu_word *words;
    int32_t n_words;
    int32_t *label;
    float *score;
};

/* Frees the arrays and clears their pointers (label_words() deinits on failure and its callers
 * deinit again); n_words stays for callers that read it afterwards. */
static void labelled_deinit(struct labelled *l) {
    pl_free(l->words);
    pl_free(l->label);
    pl_free(l->score);
    l->words = NULL;
    l->label = NULL;
    l->score = NULL;
}

static pl_status label_words(const char *text, size_t len, const struct pl_nlu_result *r,
                             const struct pl_nlu_head *h, int head_idx, struct labelled *l) {
    memset(l, 0, sizeof *l);
    PL_TRY(pl_nlu_words(text, len, r->offs, r->n_tokens, &l->words, &l->n_words));
    l->label = pl_calloc((size_t)l->n_words + 1, sizeof *l->label);
    l->score = pl_calloc((size_t)l->n_words + 1, sizeof *l->score);
    if (!l->label || !l->score) {
        labelled_deinit(l);
        return PL_ERR(PL_E_NOMEM, "labels");
    }
    const float **rows = pl_calloc((size_t)l->n_words + 1, sizeof *rows);
    if (!rows) {
        labelled_deinit(l);
        return PL_ERR(PL_E_NOMEM, "labels");
    }
    for (int32_t i = 0; i < l->n_words; i++) {
        int32_t tk = h->last_subtoken ? l->words[i].last_token : l->words[i].first_token;
        rows[i] = r->probs[head_idx] + (size_t)tk * h->n_labels;
    }
    /* BIO heads: the best valid tag sequence rather than each word's argmax, so that an
     * I- tag never opens a span of its own (conlleval would count it as one); other heads
     * (bio_next NULL): each word's argmax */
    pl_status st = pl_nlu_bio_viterbi(h->bio_next, h->n_labels, rows, l->n_words, l->label);
    for (int32_t i = 0; st == PL_OK && i < l->n_words; i++) l->score[i] = rows[i][l->label[i]];
    pl_free(rows);
    if (st != PL_OK) labelled_deinit(l);
    return st;
}

/* BIO spans of one text as TokenClassValues. */
static pl_status spans_to_values(struct pl_arena *a, const char *text, const struct labelled *l,
                                 const struct pl_nlu_head *h, Nvidia__Riva__Nlp__TokenClassValue ***out,
                                 size_t *n_out) {
    struct pl_nlu_span *sp = NULL;
    int32_t n = 0;
    PL_TRY(pl_nlu_bio_decode((const char *const *)h->labels, h->n_labels, l->label, l->score,
                             l->n_words, &sp, &n));
    Nvidia__Riva__Nlp__TokenClassValue **v = pl_arena_alloc(a, sizeof *v * (size_t)(n + 1));
    for (int32_t i = 0; v && i < n; i++) {
        const struct pl_nlu_word *w0 = &l->words[sp[i].first_word], *w1 = &l->words[sp[i].last_word];
        Nvidia__Riva__Nlp__TokenClassValue *t = pl_arena_alloc(a, sizeof *t);
        Nvidia__Riva__Nlp__Classification **c = pl_arena_alloc(a, sizeof *c);
        if (!t || !c) break;
        nvidia__riva__nlp__token_class_value__init(t);
        t->token = pl_arena_strndup(a, text + w0->byte_start, (size_t)(w1->byte_end - w0->byte_start));
        c[0] = aclass(a, sp[i].type, (size_t)sp[i].type_len, sp[i].score);
        t->n_label = 1;
        t->label = c;
        t->n_span = 1;
        t->span = aspan(a, w0->char_start, w1->char_end);
        v[i] = t;
    }
    pl_free(sp);
    if (pl_arena_failed(a)) return PL_ERR(PL_E_NOMEM, "response");
    *out = v;
    *n_out = (size_t)n;
    return PL_OK;
}

/* Labels of one probability row, best first, top_n of them (0 = 1). */
static Nvidia__Riva__Nlp__Classification **top_labels(struct pl_arena *a, const float *p,
                                                       const struct pl_nlu_head *h, uint32_t top_n,
                                                       size_t *n_out) {
    int k = top_n == 0 ? 1 : (top_n > (uint32_t)h->n_labels ? h->n_labels : (int)top_n);
    Nvidia__Riva__Nlp__Classification **v = pl_arena_alloc(a, sizeof *v * (size_t)k);
    int *idx = pl_arena_alloc(a, sizeof *idx * (size_t)h->n_labels);
    if (!v || !idx) return NULL;
    for (int i = 0; i < h->n_labels; i++) idx[i] = i;
    for (int i = 0; i < k; i++) { /* partial selection sort: k is small */
        int best = i;
        for (int j = i + 1; j < h->n_labels; j++)
            if (p[idx[j]] > p[idx[best]]) best = j;
        int t = idx[i];
        idx[i] = idx[best];
        idx[best] = t;
        v[i] = aclass(a, h->labels[idx[i]], strlen(h->labels[idx[i]]), p[idx[i]]);
    }
    *n_out = (size_t)k;
    return v;
}

/* ---- rpcs ------------------------------------------------------------------------------ */

#define UNPACK(type, desc, var)                                                                    \
    type *var = NULL;                                                                              \
    PL_TRY(pl_proto_unpack(&desc, req, n, (ProtobufCMessage **)&var))

static pl_status pack(const ProtobufCMessage *m, struct pl_worker_out *out) {
    return pl_proto_pack(m, &out->data, &out->len);
}

static const char *model_name_of(const Nvidia__Riva__Nlp__NLPModelParams *p) {
    return p && p->model_name ? p->model_name : NULL;
}

/* The front every text RPC shares: texts within the limits (lens filled), the model that
 * serves rpc (see pick_model), and its forward over all n texts. OUT *m, *r (caller frees r
 * with pl_nlu_results_destroy(r, n), also on failure). */
static pl_status run_texts(struct pl_nlu_service *s, struct pl_model_set *set, const char *rpc,
                           const char *name,
                           bool by_domain, const enum pl_nlu_task *ok, int n_ok,
                           char *const *texts, size_t n, size_t *lens, int64_t deadline,
                           struct pl_nlu_model **m, struct pl_nlu_result **r) {
    PL_TRY(check_texts(s, texts, n, lens));
    PL_TRY(pick_model(s, set, rpc, name, by_domain, ok, n_ok, m));
    return pl_nlu_model_run(*m, (const char *const *)texts, lens, (int)n, &s->lim, deadline, r);
}

static pl_status analyze_intent(struct pl_nlu_service *s, struct pl_model_set *set,
                   int64_t deadline, const uint8_t *req, size_t n,
                   struct pl_worker_out *out) {
    UNPACK(Nvidia__Riva__Nlp__AnalyzeIntentRequest, nvidia__riva__nlp__analyze_intent_request__descriptor, rq);
    struct pl_arena a;
    pl_arena_init(&a, 0);
    struct pl_nlu_result *r = NULL;
    struct labelled l = {0};
    pl_status st;
    size_t len;
    struct pl_nlu_model *m;
    static const enum pl_nlu_task ok[] = {PL_NLU_TASK_INTENT_SLOT};
    PL_TRY_GOTO(st, run_texts(s, set, "AnalyzeIntent", rq->options ? rq->options->domain : NULL, true,
                              ok, 1, &rq->query, 1, &len, deadline, &m, &r));
    const char *text = rq->query;
    const struct pl_nlu_head *hi = &m->heads[m->head_main], *hs = &m->heads[m->head_second];
    Nvidia__Riva__Nlp__AnalyzeIntentResponse resp = NVIDIA__RIVA__NLP__ANALYZE_INTENT_RESPONSE__INIT;
    int best = pl_nlu_argmax(r->probs[m->head_main], hi->n_labels);
    resp.intent = aclass(&a, hi->labels[best], strlen(hi->labels[best]), r->probs[m->head_main][best]);
    PL_TRY_GOTO(st, label_words(text, len, r, hs, m->head_second, &l));
    PL_TRY_GOTO(st, spans_to_values(&a, text, &l, hs, &resp.slots, &resp.n_slots));
    /* one model serves one domain: the domain is the model's, with certainty */
    resp.domain = aclass(&a, m->domain, strlen(m->domain), 1.0f);
    resp.domain_str = pl_arena_strndup(&a, m->domain, strlen(m->domain));
    resp.id = rq->id;
    if (pl_arena_failed(&a)) {
        st = PL_ERR(PL_E_NOMEM, "response");
        goto fail;
    }
    st = pack(&resp.base, out);
fail:
    labelled_deinit(&l);
    pl_nlu_results_destroy(r, 1);
    pl_arena_deinit(&a);
    pl_proto_free(&rq->base);
    return st;
}

static pl_status classify_text(struct pl_nlu_service *s, struct pl_model_set *set,
                   int64_t deadline, const uint8_t *req, size_t n,
                   struct pl_worker_out *out) {
    UNPACK(Nvidia__Riva__Nlp__TextClassRequest, nvidia__riva__nlp__text_class_request__descriptor, rq);
    struct pl_arena a;
    pl_arena_init(&a, 0);
    struct pl_nlu_result *r = NULL;
    size_t *lens = pl_calloc(rq->n_text + 1, sizeof *lens);
    pl_status st;
    struct pl_nlu_model *m;
    static const enum pl_nlu_task ok[] = {PL_NLU_TASK_TEXT_CLS, PL_NLU_TASK_INTENT_SLOT};
    if (!lens) {
        st = PL_ERR(PL_E_NOMEM, "request");
        goto fail;
    }
    PL_TRY_GOTO(st, run_texts(s, set, "ClassifyText", model_name_of(rq->model), false, ok, 2, rq->text,
                              rq->n_text, lens, deadline, &m, &r));
    const struct pl_nlu_head *h = &m->heads[m->head_main];
    Nvidia__Riva__Nlp__TextClassResponse resp = NVIDIA__RIVA__NLP__TEXT_CLASS_RESPONSE__INIT;
    resp.results = pl_arena_alloc(&a, sizeof *resp.results * rq->n_text);
    for (size_t i = 0; resp.results && i < rq->n_text; i++) {
        Nvidia__Riva__Nlp__ClassificationResult *cr = pl_arena_alloc(&a, sizeof *cr);
        if (!cr) break;
        nvidia__riva__nlp__classification_result__init(cr);
        cr->labels = top_labels(&a, r[i].probs[m->head_main], h, rq->top_n, &cr->n_labels);
        resp.results[resp.n_results++] = cr;
    }
    resp.id = rq->id;
    if (pl_arena_failed(&a)) {
        st = PL_ERR(PL_E_NOMEM, "response");
        goto fail;
    }
    st = pack(&resp.base, out);
fail:
    pl_nlu_results_destroy(r, (int)rq->n_text);
    pl_free(lens);
    pl_arena_deinit(&a);
    pl_proto_free(&rq->base);
    return st;
}

/* ClassifyTokens: every word with its top_n labels (raw tag names) and span. */
static pl_status classify_tokens(struct pl_nlu_service *s, struct pl_model_set *set,
                   int64_t deadline, const uint8_t *req, size_t n,
                   struct pl_worker_out *out) {
    UNPACK(Nvidia__Riva__Nlp__TokenClassRequest, nvidia__riva__nlp__token_class_request__descriptor, rq);
    struct pl_arena a;
    pl_arena_init(&a, 0);
    struct pl_nlu_result *r = NULL;
    size_t *lens = pl_calloc(rq->n_text + 1, sizeof *lens);
    pl_status st;
    struct pl_nlu_model *m;
    static const enum pl_nlu_task ok[] = {PL_NLU_TASK_TOKEN_CLS, PL_NLU_TASK_INTENT_SLOT};
    if (!lens) {
        st = PL_ERR(PL_E_NOMEM, "request");
        goto fail;
    }
    PL_TRY_GOTO(st, run_texts(s, set, "ClassifyTokens", model_name_of(rq->model), false, ok, 2, rq->text,
                              rq->n_text, lens, deadline, &m, &r));
    int hk = m->task == PL_NLU_TASK_INTENT_SLOT ? m->head_second : m->head_main;
    const struct pl_nlu_head *h = &m->heads[hk];
    Nvidia__Riva__Nlp__TokenClassResponse resp = NVIDIA__RIVA__NLP__TOKEN_CLASS_RESPONSE__INIT;
    resp.results = pl_arena_alloc(&a, sizeof *resp.results * rq->n_text);
    for (size_t i = 0; resp.results && i < rq->n_text; i++) {
        struct labelled l;
        PL_TRY_GOTO(st, label_words(rq->text[i], lens[i], &r[i], h, hk, &l));
        Nvidia__Riva__Nlp__TokenClassSequence *seq = pl_arena_alloc(&a, sizeof *seq);
        Nvidia__Riva__Nlp__TokenClassValue **v = pl_arena_alloc(&a, sizeof *v * (size_t)(l.n_words + 1));
        for (int32_t w = 0; seq && v && w < l.n_words; w++) {
            const struct pl_nlu_word *wd = &l.words[w];
            Nvidia__Riva__Nlp__TokenClassValue *t = pl_arena_alloc(&a, sizeof *t);
            if (!t) break;
            nvidia__riva__nlp__token_class_value__init(t);
            t->token = pl_arena_strndup(&a, rq->text[i] + wd->byte_start, (size_t)(wd->byte_end - wd->byte_start));
            int32_t tk = h->last_subtoken ? wd->last_token : wd->first_token;
            t->label = top_labels(&a, r[i].probs[hk] + (size_t)tk * h->n_labels, h,
                                  rq->top_n, &t->n_label);
            t->n_span = 1;
            t->span = aspan(&a, wd->char_start, wd->char_end);
            v[w] = t;
        }
        labelled_deinit(&l);
        if (!seq || !v) break;
        nvidia__riva__nlp__token_class_sequence__init(seq);
        seq->results = v;
        seq->n_results = (size_t)l.n_words;
        resp.results[resp.n_results++] = seq;
    }
    resp.id = rq->id;
    if (pl_arena_failed(&a)) {
        st = PL_ERR(PL_E_NOMEM, "response");
        goto fail;
    }
    st = pack(&resp.base, out);
fail:
    pl_nlu_results_destroy(r, (int)rq->n_text);
    pl_free(lens);
    pl_arena_deinit(&a);
    pl_proto_free(&rq->base);
    return st;
}

static pl_status analyze_entities(struct pl_nlu_service *s, struct pl_model_set *set,
                   int64_t deadline, const uint8_t *req, size_t n,
                   struct pl_worker_out *out) {
    UNPACK(Nvidia__Riva__Nlp__AnalyzeEntitiesRequest, nvidia__riva__nlp__analyze_entities_request__descriptor, rq);
    struct pl_arena a;
    pl_arena_init(&a, 0);
    struct pl_nlu_result *r = NULL;
    struct labelled l = {0};
    pl_status st;
    size_t len;
    struct pl_nlu_model *m;
    static const enum pl_nlu_task ok[] = {PL_NLU_TASK_TOKEN_CLS};
    PL_TRY_GOTO(st, run_texts(s, set, "AnalyzeEntities", NULL, false, ok, 1, &rq->query, 1, &len,
                              deadline, &m, &r));
    const char *text = rq->query;
    const struct pl_nlu_head *h = &m->heads[m->head_main];
    PL_TRY_GOTO(st, label_words(text, len, r, h, m->head_main, &l));
    Nvidia__Riva__Nlp__TokenClassResponse resp = NVIDIA__RIVA__NLP__TOKEN_CLASS_RESPONSE__INIT;
    Nvidia__Riva__Nlp__TokenClassSequence *seq = pl_arena_alloc(&a, sizeof *seq);
    resp.results = pl_arena_alloc(&a, sizeof *resp.results);
    if (!seq || !resp.results) {
        st = PL_ERR(PL_E_NOMEM, "response");
        goto fail;
    }
    nvidia__riva__nlp__token_class_sequence__init(seq);
    PL_TRY_GOTO(st, spans_to_values(&a, text, &l, h, &seq->results, &seq->n_results));
    resp.results[0] = seq;
    resp.n_results = 1;
    resp.id = rq->id;
    st = pack(&resp.base, out);
fail:
    labelled_deinit(&l);
    pl_nlu_results_destroy(r, 1);
    pl_arena_deinit(&a);
    pl_proto_free(&rq->base);
    return st;
}

/* The copies of the texts that the punctuation model reads (pl_nlu_punct_model_text). */
static pl_status model_texts(char *const *texts, size_t n, char **out) {
    for (size_t i = 0; i < n; i++)
        if (texts[i]) PL_TRY(pl_nlu_punct_model_text(texts[i], strlen(texts[i]), &out[i]));
    return PL_OK;
}

/* PunctuateText and TransformText: a punctuation/capitalization model rewrites each text. It
 * reads the words without the punctuation typed around them and the text is rebuilt around
 * what was typed (pl_nlu_punct_rebuild). */
static pl_status punctuate(struct pl_nlu_service *s, struct pl_model_set *set, const char *rpc,
                           int64_t deadline, const uint8_t *req, size_t n,
                           struct pl_worker_out *out) {
    UNPACK(Nvidia__Riva__Nlp__TextTransformRequest, nvidia__riva__nlp__text_transform_request__descriptor, rq);
    struct pl_arena a;
    pl_arena_init(&a, 0);
    struct pl_nlu_result *r = NULL;
    size_t *lens = pl_calloc(rq->n_text + 1, sizeof *lens);
    char **texts = pl_calloc(rq->n_text + 1, sizeof *texts);
    char **mtexts = pl_calloc(rq->n_text + 1, sizeof *mtexts);
    pl_status st;
    struct pl_nlu_model *m;
    static const enum pl_nlu_task ok[] = {PL_NLU_TASK_PUNCT};
    if (!lens || !texts || !mtexts) {
        st = PL_ERR(PL_E_NOMEM, "request");
        goto fail;
    }
    PL_TRY_GOTO(st, model_texts(rq->text, rq->n_text, mtexts));
    PL_TRY_GOTO(st, run_texts(s, set, rpc, model_name_of(rq->model), false, ok, 1, mtexts, rq->n_text,
                              lens, deadline, &m, &r));
    const struct pl_nlu_head *hp = &m->heads[m->head_main];
    const struct pl_nlu_head *hc = m->head_second >= 0 ? &m->heads[m->head_second] : NULL;
    for (size_t i = 0; i < rq->n_text; i++) {
        struct labelled lp, lc = {0};
        PL_TRY_GOTO(st, label_words(mtexts[i], lens[i], &r[i], hp, m->head_main, &lp));
        if (hc && (st = label_words(mtexts[i], lens[i], &r[i], hc, m->head_second, &lc)) != PL_OK) {
            labelled_deinit(&lp);
            goto fail;
        }
        enum pl_nlu_case *cases = pl_arena_alloc(&a, sizeof *cases * (size_t)(lp.n_words + 1));
        const char **marks = pl_arena_alloc(&a, sizeof *marks * (size_t)(lp.n_words + 1));
        for (int32_t w = 0; cases && marks && w < lp.n_words; w++) {
            marks[w] = pl_nlu_mark_of_label(hp->labels[lp.label[w]]);
            cases[w] = hc ? pl_nlu_case_of_label(hc->labels[lc.label[w]]) : PL_NLU_CASE_LOWER;
        }
        st = (cases && marks) ? pl_nlu_punct_rebuild(rq->text[i], lens[i], lp.words, lp.n_words,
                                                     cases, marks, &texts[i])
                              : PL_ERR(PL_E_NOMEM, "response");
        labelled_deinit(&lp);
        labelled_deinit(&lc);
        if (st != PL_OK) goto fail;
    }
    Nvidia__Riva__Nlp__TextTransformResponse resp = NVIDIA__RIVA__NLP__TEXT_TRANSFORM_RESPONSE__INIT;
    resp.n_text = rq->n_text;
    resp.text = texts;
    resp.id = rq->id;
    st = pack(&resp.base, out);
fail:
    for (size_t i = 0; texts && i < rq->n_text; i++) pl_free(texts[i]);
    for (size_t i = 0; mtexts && i < rq->n_text; i++) pl_free(mtexts[i]);
    pl_free(texts);
    pl_free(mtexts);
    pl_nlu_results_destroy(r, (int)rq->n_text);
    pl_free(lens);
    pl_arena_deinit(&a);
    pl_proto_free(&rq->base);
    return st;
}

static void add_param(struct pl_arena *a, Nvidia__Riva__Nlp__RivaNLPConfigResponse__Config *c,
                      const char *key, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void add_param(struct pl_arena *a, Nvidia__Riva__Nlp__RivaNLPConfigResponse__Config *c,
                      const char *key, const char *fmt, ...) {
    Nvidia__Riva__Nlp__RivaNLPConfigResponse__Config__ParametersEntry *e = pl_arena_alloc(a, sizeof *e);
    if (!e) return;
    nvidia__riva__nlp__riva_nlpconfig_response__config__parameters_entry__init(e);
    e->key = pl_arena_strndup(a, key, strlen(key));
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    e->value = pl_arena_strndup(a, buf, strlen(buf));
    c->parameters[c->n_parameters++] = e;
}

static pl_status punctuate_text(struct pl_nlu_service *s, struct pl_model_set *set,
                                int64_t deadline, const uint8_t *req, size_t n,
                                struct pl_worker_out *out) {
    return punctuate(s, set, "PunctuateText", deadline, req, n, out);
}

static pl_status transform_text(struct pl_nlu_service *s, struct pl_model_set *set,
                                int64_t deadline, const uint8_t *req, size_t n,
                                struct pl_worker_out *out) {
    return punctuate(s, set, "TransformText", deadline, req, n, out);
}

/* One model's entry of GetRivaNLPConfig, listed as name (the model's own, or an alias of it). */
static Nvidia__Riva__Nlp__RivaNLPConfigResponse__Config *
config_entry(struct pl_arena *a, const char *name, const struct pl_nlu_model *m, bool alias) {
    Nvidia__Riva__Nlp__RivaNLPConfigResponse__Config *c = pl_arena_alloc(a, sizeof *c);
    if (!c) return NULL;
    nvidia__riva__nlp__riva_nlpconfig_response__config__init(c);
    c->model_name = pl_arena_strndup(a, name, strlen(name));
    c->parameters = pl_arena_alloc(a, sizeof *c->parameters * (size_t)(17 + m->n_heads));
    if (!c->parameters) return NULL;
    add_param(a, c, "task", "%s", pl_nlu_task_name(m->task));
    add_param(a, c, "domain", "%s", m->domain);
    add_param(a, c, "language_code", "en-US");
    add_param(a, c, "max_length", "%d", m->max_length);
    add_param(a, c, "window_stride", "%d", m->stride);
    add_param(a, c, "max_batch_size", "%d", m->max_batch_size);
    add_param(a, c, "max_queue_delay_us", "%lld", (long long)m->max_queue_delay_us);
    add_param(a, c, "precision", "%s", pl_bert_precision(m->bert));
    add_param(a, c, "instances", "%d", m->n_instances);
    add_param(a, c, "hidden_size", "%d", m->hidden);
    if (alias) add_param(a, c, "alias_of", "%s", m->name);
    if (m->variant) {
        /* the model this one is a variant of: the same files, other settings */
        const char *base = strrchr(m->dir, '/');
        add_param(a, c, "variant", "%s", m->variant);
        add_param(a, c, "variant_of", "%s", base ? base + 1 : m->dir);
    }
    for (int k = 0; k < m->n_heads; k++) {
        char key[96];
        snprintf(key, sizeof key, "labels.%s", m->heads[k].name);
        struct pl_strbuf sb;
        pl_strbuf_init(&sb);
        for (int j = 0; j < m->heads[k].n_labels; j++)
            pl_strbuf_appendf(&sb, "%s%s", j ? "," : "", m->heads[k].labels[j]);
        Nvidia__Riva__Nlp__RivaNLPConfigResponse__Config__ParametersEntry *e = pl_arena_alloc(a, sizeof *e);
        if (e) {
            nvidia__riva__nlp__riva_nlpconfig_response__config__parameters_entry__init(e);
            e->key = pl_arena_strndup(a, key, strlen(key));
            e->value = pl_arena_strndup(a, sb.len ? sb.data : "", sb.len);
            c->parameters[c->n_parameters++] = e;
        }
        pl_strbuf_deinit(&sb);
    }
    return c;
}

/* Every loaded model, then every alias whose model is loaded (parameter alias_of); with a
 * model_name, only that one (NOT_FOUND when it is neither loaded nor an alias of a loaded one). */
static pl_status get_config(struct pl_nlu_service *s, struct pl_model_set *set, int64_t deadline,
                            const uint8_t *req, size_t n, struct pl_worker_out *out) {
    (void)deadline;
    UNPACK(Nvidia__Riva__Nlp__RivaNLPConfigRequest, nvidia__riva__nlp__riva_nlpconfig_request__descriptor, rq);
    struct pl_arena a;
    pl_arena_init(&a, 0);
    pl_status st = PL_OK;
    const char *want = rq->model_name && *rq->model_name ? rq->model_name : NULL;
    Nvidia__Riva__Nlp__RivaNLPConfigResponse resp = NVIDIA__RIVA__NLP__RIVA_NLPCONFIG_RESPONSE__INIT;
    int n_models = pl_model_set_count(set);
    resp.model_config = pl_arena_alloc(&a, sizeof *resp.model_config * (size_t)(n_models + s->n_aliases + 1));
    for (int i = 0; resp.model_config && i < n_models; i++) {
        const struct pl_nlu_model *m = pl_model_set_at(set, i, NULL, NULL);
        if (want && strcmp(want, m->name) != 0) continue;
        Nvidia__Riva__Nlp__RivaNLPConfigResponse__Config *c = config_entry(&a, m->name, m, false);
        if (!c) break;
        resp.model_config[resp.n_model_config++] = c;
    }
    for (int i = 0; resp.model_config && i < s->n_aliases; i++) {
        const struct pl_nlu_model *m = pl_model_set_find(set, s->alias_of[i]);
        if (!m || (want && strcmp(want, s->alias[i]) != 0)) continue;
        Nvidia__Riva__Nlp__RivaNLPConfigResponse__Config *c = config_entry(&a, s->alias[i], m, true);
        if (!c) break;
        resp.model_config[resp.n_model_config++] = c;
    }
    if (pl_arena_failed(&a)) st = PL_ERR(PL_E_NOMEM, "response");
    else if (want && resp.n_model_config == 0)
        st = PL_ERR(PL_E_NOT_FOUND, "model '%s' is not loaded", want);
    else st = pack(&resp.base, out);
    pl_arena_deinit(&a);
    pl_proto_free(&rq->base);
    return st;
}

/* Every rpc runs with the model set it took when it started, released when it returns: a
 * reload during the call cannot take its model away. */
typedef pl_status (*nlu_rpc_fn)(struct pl_nlu_service *s, struct pl_model_set *set,
                                int64_t deadline, const uint8_t *req, size_t n,
                                struct pl_worker_out *out);

static pl_status with_models(void *ud, const struct pl_worker_ctx *ctx, const uint8_t *req,
                             size_t n, struct pl_worker_out *out, nlu_rpc_fn fn) {
    struct pl_nlu_service *s = ud;
    struct pl_model_set *set = pl_model_repo_acquire(s->repo);
    pl_status st = fn(s, set, ctx->deadline_us, req, n, out);
    pl_model_set_release(set);
    return st;
}

#define NLU_RPC(name)                                                                              \
    static pl_status rpc_##name(void *ud, const struct pl_worker_ctx *ctx, const uint8_t *req,     \
                                size_t n, struct pl_worker_out *out) {                             \
        return with_models(ud, ctx, req, n, out, name);                                            \
    }
NLU_RPC(analyze_intent)
NLU_RPC(classify_text)
NLU_RPC(classify_tokens)
NLU_RPC(analyze_entities)
NLU_RPC(punctuate_text)
NLU_RPC(transform_text)
NLU_RPC(get_config)
#undef NLU_RPC

pl_status pl_nlu_service_register(struct pl_nlu_service *s, struct pl_worker *w) {
    static const struct pl_worker_unary rpcs[] = {
        {"analyze_intent", rpc_analyze_intent},     {"classify_text", rpc_classify_text},
        {"classify_tokens", rpc_classify_tokens},   {"analyze_entities", rpc_analyze_entities},
        {"punctuate_text", rpc_punctuate_text},     {"transform_text", rpc_transform_text},
        {"get_riva_nlp_config", rpc_get_config},
    };
    PL_TRY(pl_worker_add_unaries(w, rpcs, PL_ARRAY_LEN(rpcs), s));
    pl_worker_set_reload(w, pl_model_repo_reload_hook, s->repo);
    return PL_OK;
}
