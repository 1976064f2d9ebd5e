/*
 * client_nlp.c - libparley-client: AnalyzeIntent, ClassifyTokens, AnalyzeEntities,
 * PunctuateText and NaturalQuery (parley/client.h). Results point into the unpacked response,
 * which the result keeps in priv until it is destroyed.
 */
#include <string.h>

#include "alloc.h"
#include "client_impl.h"
#include "riva/proto/riva_nlp.pb-c.h"

#define NLP "/nvidia.riva.nlp.RivaLanguageUnderstanding/"

static pl_status no_memory(const char *rpc, ProtobufCMessage *m) {
    pl_proto_free(m);
    return pl__client_fail(PL_E_NOMEM, "%s: out of memory", rpc);
}

/* A token's best label and its first span. */
static void token(const Nvidia__Riva__Nlp__TokenClassValue *v, const char **label, float *score,
                  unsigned *start, unsigned *end) {
    *label = v->n_label ? v->label[0]->class_name : "";
    *score = v->n_label ? v->label[0]->score : 0.0f;
    *start = v->n_span ? v->span[0]->start : 0;
    *end = v->n_span ? v->span[0]->end : 0;
}

pl_status pl_client_analyze_intent(struct pl_client *c, const char *query, const char *model,
                                   struct pl_client_intent **out) {
    if (!out) return pl__client_fail(PL_E_INVALID_ARG, "AnalyzeIntent: out is NULL");
    *out = NULL;
    if (!c || !query) return pl__client_fail(PL_E_INVALID_ARG, "AnalyzeIntent: no client or query");
    Nvidia__Riva__Nlp__AnalyzeIntentOptions o = NVIDIA__RIVA__NLP__ANALYZE_INTENT_OPTIONS__INIT;
    o.domain = (char *)(model ? model : "");
    Nvidia__Riva__Nlp__AnalyzeIntentRequest rq = NVIDIA__RIVA__NLP__ANALYZE_INTENT_REQUEST__INIT;
    rq.query = (char *)query;
    rq.options = &o;
    ProtobufCMessage *m = NULL;
    PL_TRY(pl__client_call(c, NLP "AnalyzeIntent", &rq.base,
                           &nvidia__riva__nlp__analyze_intent_response__descriptor, &m));
    Nvidia__Riva__Nlp__AnalyzeIntentResponse *r = (void *)m;
    struct pl_client_intent *it = pl_calloc(1, sizeof *it);
    if (!it) return no_memory("AnalyzeIntent", m);
    it->slots = pl_calloc(r->n_slots ? r->n_slots : 1, sizeof *it->slots);
    if (!it->slots) {
        pl_free(it);
        return no_memory("AnalyzeIntent", m);
    }
    it->intent = r->intent ? r->intent->class_name : "";
    it->score = r->intent ? r->intent->score : 0.0f;
    it->domain = r->domain && *r->domain->class_name ? r->domain->class_name : r->domain_str;
    for (size_t i = 0; i < r->n_slots; i++) {
        struct pl_client_slot *s = &it->slots[i];
        s->value = r->slots[i]->token;
        token(r->slots[i], &s->name, &s->score, &s->start, &s->end);
    }
    it->n_slots = r->n_slots;
    it->priv = m;
    *out = it;
    return PL_OK;
}

void pl_client_intent_destroy(struct pl_client_intent *r) {
    if (!r) return;
    pl_free(r->slots);
    pl_proto_free(r->priv);
    pl_free(r);
}

/* The entities of the first text of a TokenClassResponse. */
static pl_status entities(const char *rpc, ProtobufCMessage *m, struct pl_client_entities **out) {
    Nvidia__Riva__Nlp__TokenClassResponse *r = (void *)m;
    Nvidia__Riva__Nlp__TokenClassSequence *seq = r->n_results ? r->results[0] : NULL;
    size_t n = seq ? seq->n_results : 0;
    struct pl_client_entities *e = pl_calloc(1, sizeof *e);
    if (!e) return no_memory(rpc, m);
    e->v = pl_calloc(n ? n : 1, sizeof *e->v);
    if (!e->v) {
        pl_free(e);
        return no_memory(rpc, m);
    }
    for (size_t i = 0; i < n; i++) {
        struct pl_client_entity *x = &e->v[i];
        x->text = seq->results[i]->token;
        token(seq->results[i], &x->label, &x->score, &x->start, &x->end);
    }
    e->n = n;
    e->priv = m;
    *out = e;
    return PL_OK;
}

pl_status pl_client_classify_tokens(struct pl_client *c, const char *text, const char *model,
                                    struct pl_client_entities **out) {
    if (!out) return pl__client_fail(PL_E_INVALID_ARG, "ClassifyTokens: out is NULL");
    *out = NULL;
    if (!c || !text) return pl__client_fail(PL_E_INVALID_ARG, "ClassifyTokens: no client or text");
    Nvidia__Riva__Nlp__NLPModelParams mp = NVIDIA__RIVA__NLP__NLPMODEL_PARAMS__INIT;
    mp.model_name = (char *)(model ? model : "");
    Nvidia__Riva__Nlp__TokenClassRequest rq = NVIDIA__RIVA__NLP__TOKEN_CLASS_REQUEST__INIT;
    char *texts[1] = {(char *)text};
    rq.text = texts;
    rq.n_text = 1;
    rq.model = &mp;
    ProtobufCMessage *m = NULL;
    PL_TRY(pl__client_call(c, NLP "ClassifyTokens", &rq.base,
                           &nvidia__riva__nlp__token_class_response__descriptor, &m));
    return entities("ClassifyTokens", m, out);
}

pl_status pl_client_analyze_entities(struct pl_client *c, const char *text,
                                     struct pl_client_entities **out) {
    if (!out) return pl__client_fail(PL_E_INVALID_ARG, "AnalyzeEntities: out is NULL");
    *out = NULL;
    if (!c || !text) return pl__client_fail(PL_E_INVALID_ARG, "AnalyzeEntities: no client or text");
    Nvidia__Riva__Nlp__AnalyzeEntitiesRequest rq =
        NVIDIA__RIVA__NLP__ANALYZE_ENTITIES_REQUEST__INIT;
    rq.query = (char *)text;
    ProtobufCMessage *m = NULL;
    PL_TRY(pl__client_call(c, NLP "AnalyzeEntities", &rq.base,
                           &nvidia__riva__nlp__token_class_response__descriptor, &m));
    return entities("AnalyzeEntities", m, out);
}

void pl_client_entities_destroy(struct pl_client_entities *e) {
    if (!e) return;
    pl_free(e->v);
    pl_proto_free(e->priv);
    pl_free(e);
}

pl_status pl_client_punctuate(struct pl_client *c, const char *text, const char *model,
                              char **out) {
    if (!out) return pl__client_fail(PL_E_INVALID_ARG, "PunctuateText: out is NULL");
    *out = NULL;
    if (!c || !text) return pl__client_fail(PL_E_INVALID_ARG, "PunctuateText: no client or text");
    Nvidia__Riva__Nlp__NLPModelParams mp = NVIDIA__RIVA__NLP__NLPMODEL_PARAMS__INIT;
    mp.model_name = (char *)(model ? model : "");
    Nvidia__Riva__Nlp__TextTransformRequest rq = NVIDIA__RIVA__NLP__TEXT_TRANSFORM_REQUEST__INIT;
    char *texts[1] = {(char *)text};
    rq.text = texts;
    rq.n_text = 1;
    rq.model = model ? &mp : NULL;
    ProtobufCMessage *m = NULL;
    PL_TRY(pl__client_call(c, NLP "PunctuateText", &rq.base,
                           &nvidia__riva__nlp__text_transform_response__descriptor, &m));
    Nvidia__Riva__Nlp__TextTransformResponse *r = (void *)m;
    if (r->n_text != 1) {
        size_t n = r->n_text;
        pl_proto_free(m);
        return pl__client_fail(PL_E_FORMAT, "PunctuateText: %zu texts in the answer, not 1", n);
    }
    *out = pl_strdup(r->text[0]);
    pl_proto_free(m);
    return *out ? PL_OK : pl__client_fail(PL_E_NOMEM, "PunctuateText: out of memory");
}

pl_status pl_client_natural_query(struct pl_client *c, const char *question, const char *context,
                                  unsigned top_n, struct pl_client_answers **out) {
    if (!out) return pl__client_fail(PL_E_INVALID_ARG, "NaturalQuery: out is NULL");
    *out = NULL;
    if (!c || !question)
        return pl__client_fail(PL_E_INVALID_ARG, "NaturalQuery: no client or question");
    Nvidia__Riva__Nlp__NaturalQueryRequest rq = NVIDIA__RIVA__NLP__NATURAL_QUERY_REQUEST__INIT;
    rq.query = (char *)question;
    rq.context = (char *)(context ? context : "");
    rq.top_n = top_n;
    ProtobufCMessage *m = NULL;
    PL_TRY(pl__client_call(c, NLP "NaturalQuery", &rq.base,
                           &nvidia__riva__nlp__natural_query_response__descriptor, &m));
    Nvidia__Riva__Nlp__NaturalQueryResponse *r = (void *)m;
    struct pl_client_answers *a = pl_calloc(1, sizeof *a);
    if (!a) return no_memory("NaturalQuery", m);
    a->v = pl_calloc(r->n_results ? r->n_results : 1, sizeof *a->v);
    if (!a->v) {
        pl_free(a);
        return no_memory("NaturalQuery", m);
    }
    for (size_t i = 0; i < r->n_results; i++) {
        a->v[i].answer = r->results[i]->answer;
        a->v[i].score = r->results[i]->score;
    }
    a->n = r->n_results;
    a->priv = m;
    *out = a;
    return PL_OK;
}

void pl_client_answers_destroy(struct pl_client_answers *a) {
    if (!a) return;
    pl_free(a->v);
    pl_proto_free(a->priv);
    pl_free(a);
}
