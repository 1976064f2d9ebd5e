/*
 * qa_service.c - parley-qa's model repository and the NaturalQuery rpc (qa.h).
 *
 * NaturalQuery {query, top_n, context}: the question is read over the context when there is
 * one; with an empty context, over the knowledge base's best passages for the question. The
 * answers of the knowledge-base passages are ranked by reading and retrieval together:
 *   score = (start + end logit of the span) + kb_weight * (BM25 of its passage / best BM25)
 * so a slightly weaker span in a much better matching passage can win. results[i] = {answer,
 * score}: score is the reader's probability of the span among the candidates; an empty answer
 * means "no answer" (models trained with unanswerable questions).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "log.h"
#include "model_repo.h"
#include "models/bert.h"
#include "nrpc_worker.h"
#include "proto_util.h"
#include "qa.h"
#include "riva/proto/riva_nlp.pb-c.h"
#include "strbuf.h"

struct pl_qa_service {
    struct pl_qa_service_opts o;
    char *model_dir;
    char *model; /* "" = the first by name */
    struct pl_model_repo *repo;
    struct pl_qa_kb *kb; /* NULL: no knowledge base */
};

void pl_qa_service_opts_default(struct pl_qa_service_opts *o) {
    memset(o, 0, sizeof *o);
    struct pl_nlu_model_opts mo = PL_NLU_MODEL_OPTS_INIT;
    o->model = mo;
    o->model_dir = "models";
    o->kb_path = "";
    o->max_context_bytes = 4 << 20;
    o->max_windows = 4096;
    o->max_answer_tokens = 30;
    o->kb_passages = 5;
    o->kb_weight = 1.0;
}

/* ---- the model repository: question_answering directories ----------------------------- */

static bool repo_claims(void *ud, const char *dir, const json_t *config) {
    (void)ud;
    (void)config;
    enum pl_nlu_task t;
    return pl_nlu_model_probe(dir, &t) && t == PL_NLU_TASK_QA;
}

static pl_status repo_load(void *ud, const char *dir_name, const char *dir, const json_t *config,
                           struct pl_model_list *out) {
    (void)config;
    struct pl_qa_service *s = ud;
    return pl_nlu_repo_load(dir, dir_name, &s->o.model, out);
}

static void repo_unload(void *ud, void *model) {
    (void)ud;
    pl_nlu_model_destroy(model);
}

static const struct pl_model_repo_i qa_repo = {"QA model", repo_claims, repo_load, repo_unload};

pl_status pl_qa_service_create(const struct pl_qa_service_opts *o, struct pl_qa_service **out) {
    *out = NULL;
    struct pl_qa_service *s = pl_calloc(1, sizeof *s);
    if (!s || !(s->model_dir = pl_strdup(o->model_dir ? o->model_dir : "models")) ||
        !(s->model = pl_strdup(o->model_name ? o->model_name : ""))) {
        if (s) pl_free(s->model_dir);
        pl_free(s);
        return PL_ERR(PL_E_NOMEM, "qa service");
    }
    s->o = *o;
    s->o.model_dir = s->model_dir;
    s->o.model_name = s->model;
    s->o.kb_path = NULL; /* not kept */
    pl_status st = PL_OK;
    if (o->kb_path && *o->kb_path) {
        st = pl_qa_kb_open(o->kb_path, &s->kb);
        if (st == PL_OK && pl_qa_kb_read_only(s->kb))
            PL_LOGW("knowledge base %s is read-only (%s): answering from it, documents cannot "
                    "be added or removed", o->kb_path, pl_qa_kb_read_only(s->kb));
        else if (st == PL_OK)
            PL_LOGI("knowledge base %s", o->kb_path);
    }
    if (st == PL_OK) st = pl_model_repo_create(s->model_dir, &qa_repo, s, &s->repo);
    if (st != PL_OK) {
        pl_qa_service_destroy(s);
        return st;
    }
    *out = s;
    return PL_OK;
}

void pl_qa_service_destroy(struct pl_qa_service *s) {
    if (!s) return;
    pl_model_repo_destroy(s->repo);
    pl_qa_kb_close(s->kb);
    pl_free(s->model_dir);
    pl_free(s->model);
    pl_free(s);
}

int pl_qa_service_n_models(const struct pl_qa_service *s) {
    struct pl_model_set *set = pl_model_repo_acquire(s->repo);
    int n = pl_model_set_count(set);
    pl_model_set_release(set);
    return n;
}

struct pl_model_repo *pl_qa_service_repo(struct pl_qa_service *s) { return s->repo; }

/* ---- NaturalQuery ---------------------------------------------------------------------------- */

/* The reader's settings for model m (its config.json's no-answer threshold or verifier, when
 * it has one). */
static void read_opts(const struct pl_qa_service *s, const struct pl_nlu_model *m, int n_best,
                      struct pl_qa_read_opts *ro) {
    memset(ro, 0, sizeof *ro);
    ro->n_best = n_best;
    ro->max_answer_tokens = s->o.max_answer_tokens;
    ro->max_windows = s->o.max_windows;
    ro->allow_null = m->qa_allow_null || m->qa_verifier.on;
    ro->null_threshold = m->qa_null_threshold;
    ro->verifier = m->qa_verifier.on ? &m->qa_verifier : NULL;
}

/* Answers over the knowledge base: the top passages, read together, ranked as the top of this
 * file says. Out: answers (best first), at most n_best. */
static pl_status ask_kb(struct pl_qa_service *s, struct pl_nlu_model *m, const char *q,
                        int n_best, int64_t deadline, struct pl_qa_answers *ans) {
    struct pl_qa_passage *ps = NULL;
    int np = 0;
    PL_TRY(pl_qa_kb_search(s->kb, q, s->o.kb_passages, &ps, &np));
    const char **texts = pl_calloc((size_t)np + 1, sizeof *texts);
    size_t *lens = pl_calloc((size_t)np + 1, sizeof *lens);
    pl_status st = PL_OK;
    if (!texts || !lens) {
        st = PL_ERR(PL_E_NOMEM, "qa: passages");
        goto out;
    }
    for (int i = 0; i < np; i++) {
        texts[i] = ps[i].text;
        lens[i] = ps[i].len;
    }
    struct pl_qa_read_opts ro;
    read_opts(s, m, n_best, &ro);
    /* read more candidates than asked: the combined ranking may reorder them */
    ro.n_best = n_best * 4 < 100 ? n_best * 4 : 100;
    PL_TRY_GOTO(st, pl_qa_read(m, q, strlen(q), texts, lens, np, &ro, deadline, ans));
    double best = np > 0 && ps[0].score > 0 ? ps[0].score : 1.0;
    for (int i = 0; i < ans->n; i++)
        if (ans->a[i].passage >= 0)
            ans->a[i].logit += (float)(s->o.kb_weight * ps[ans->a[i].passage].score / best);
    /* stable insertion sort by the combined score; "no answer" keeps its place first */
    for (int i = 1; i < ans->n; i++) {
        struct pl_qa_answer a = ans->a[i];
        int j = i;
        while (j > 0 && ans->a[j - 1].passage >= 0 && ans->a[j - 1].logit < a.logit) {
            ans->a[j] = ans->a[j - 1];
            j--;
        }
        ans->a[j] = a;
    }
    while (ans->n > n_best) pl_free(ans->a[--ans->n].text);
fail:
out:
    pl_free(texts);
    pl_free(lens);
    pl_qa_passages_free(ps, np);
    return st;
}

/* The model that answers: qa.model, or the first by name. Errors: PL_E_UNAVAILABLE (none
 * loaded), PL_E_NOT_FOUND (qa.model is not among them; the message lists those loaded). */
static pl_status pick_model(const struct pl_qa_service *s, const struct pl_model_set *set,
                            struct pl_nlu_model **m) {
    int n = pl_model_set_count(set);
    if (n == 0)
        return PL_ERR(PL_E_UNAVAILABLE, "no QA model is loaded (qa.model_dir %s)", s->model_dir);
    *m = s->model[0] ? pl_model_set_find(set, s->model) : pl_model_set_at(set, 0, NULL, NULL);
    if (*m) return PL_OK;
    struct pl_strbuf sb;
    pl_strbuf_init(&sb);
    for (int i = 0; i < n; i++) {
        const char *name = NULL;
        pl_model_set_at(set, i, &name, NULL);
        pl_strbuf_appendf(&sb, "%s%s", i ? ", " : "", name);
    }
    pl_status st = PL_ERR(PL_E_NOT_FOUND, "QA model '%s' (qa.model) is not loaded; loaded: %s",
                          s->model, sb.len ? sb.data : "none");
    pl_strbuf_deinit(&sb);
    return st;
}

static pl_status rpc_natural_query(void *ud, const struct pl_worker_ctx *ctx, const uint8_t *req,
                                   size_t n, struct pl_worker_out *out) {
    struct pl_qa_service *s = ud;
    ProtobufCMessage *msg = NULL;
    PL_TRY(pl_proto_unpack(&nvidia__riva__nlp__natural_query_request__descriptor, req, n, &msg));
    Nvidia__Riva__Nlp__NaturalQueryRequest *rq = (void *)msg;
    struct pl_model_set *set = pl_model_repo_acquire(s->repo);
    struct pl_qa_answers ans = {0};
    Nvidia__Riva__Nlp__NaturalQueryResult *res = NULL, **resp_v = NULL;
    pl_status st = PL_OK;
    const char *q = rq->query ? rq->query : "";
    size_t clen = rq->context ? strlen(rq->context) : 0;
    int n_best = rq->top_n == 0 ? 1 : rq->top_n > 100 ? 100 : (int)rq->top_n;
    const char *p = q;
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
    if (!*p) {
        st = PL_ERR(PL_E_INVALID_ARG, "the query (question) is empty");
        goto fail;
    }
    if ((int64_t)clen > s->o.max_context_bytes) {
        st = PL_ERR(PL_E_EXHAUSTED, "the context is %zu bytes; the limit is %lld "
                                    "(qa.max_context_bytes)", clen,
                    (long long)s->o.max_context_bytes);
        goto fail;
    }
    struct pl_nlu_model *m = NULL;
    PL_TRY_GOTO(st, pick_model(s, set, &m));
    if (clen > 0) {
        struct pl_qa_read_opts ro;
        read_opts(s, m, n_best, &ro);
        const char *texts[1] = {rq->context};
        PL_TRY_GOTO(st, pl_qa_read(m, q, strlen(q), texts, &clen, 1, &ro, ctx->deadline_us, &ans));
    } else if (s->kb) {
        PL_TRY_GOTO(st, ask_kb(s, m, q, n_best, ctx->deadline_us, &ans));
    } else {
        st = PL_ERR(PL_E_INVALID_ARG, "the context is empty and parley-qa has no knowledge base "
                                      "(qa.kb_path)");
        goto fail;
    }
    res = pl_calloc((size_t)ans.n + 1, sizeof *res);
    resp_v = pl_calloc((size_t)ans.n + 1, sizeof *resp_v);
    if (!res || !resp_v) {
        st = PL_ERR(PL_E_NOMEM, "response");
        goto fail;
    }
    Nvidia__Riva__Nlp__NaturalQueryResponse resp = NVIDIA__RIVA__NLP__NATURAL_QUERY_RESPONSE__INIT;
    for (int i = 0; i < ans.n; i++) {
        nvidia__riva__nlp__natural_query_result__init(&res[i]);
        res[i].answer = ans.a[i].text;
        res[i].score = ans.a[i].prob;
        resp_v[i] = &res[i];
    }
    resp.n_results = (size_t)ans.n;
    resp.results = resp_v;
    resp.id = rq->id;
    st = pl_proto_pack(&resp.base, &out->data, &out->len);
fail:
    pl_free(res);
    pl_free(resp_v);
    pl_qa_answers_deinit(&ans);
    pl_model_set_release(set);
    pl_proto_free(msg);
    return st;
}

pl_status pl_qa_service_register(struct pl_qa_service *s, struct pl_worker *w) {
    static const struct pl_worker_unary rpcs[] = {{"natural_query", rpc_natural_query}};
    PL_TRY(pl_worker_add_unaries(w, rpcs, PL_ARRAY_LEN(rpcs), s));
    pl_worker_set_reload(w, pl_model_repo_reload_hook, s->repo);
    return PL_OK;
}
