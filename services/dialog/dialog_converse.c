/*
 * dialog_converse.c - one text turn end to end, and the Converse stream (dialog_svc.h).
 *
 * A text turn: check the text (non-empty, valid UTF-8, at most max_text_bytes), ask
 * parley-nlu (parley.nlu.analyze_intent; unavailable = no intent, keywords and answers still
 * work), then holding the session (pl__dlgsvc_lock): load the session (scoped by user), run the
 * policy (dialog_engine.c: it may ask parley-qa through parley.qa.natural_query and read the
 * user's records), commit the turn to SQLite, and only then return, so that the reply sent
 * afterwards always describes a stored turn.
 *
 * Converse: the first message is the config (session to use or create, context to switch to);
 * then each `text` message is one turn, answered with NluResult (when include_nlu), the
 * context events of the turn, one BotText per reply and TURN_COMPLETE. A failed turn is an
 * EVENT_ERROR and the stream goes on, unless no later turn could work either: an unknown
 * session (NOT_FOUND), a store that cannot be written (read-only: UNAVAILABLE, disk full:
 * RESOURCE_EXHAUSTED), no memory, the session's dialog not loaded; then the stream ends with
 * that status and its message (the worker logs it once). A config with input_audio or
 * output_audio hands the stream's turns to its voice (dialog_voice.c): audio through
 * parley-asr, text turns queued behind the spoken ones, replies spoken through parley-tts.
 */
#include <jansson.h>
#include <stdatomic.h>
#include <string.h>

#include "alloc.h"
#include "arena.h"
#include "dialog_svc.h"
#include "log.h"
#include "nrpc.h"
#include "nrpc_worker.h"
#include "util.h"
#include "parley/dialog/v1/dialog.pb-c.h"
#include "proto_util.h"
#include "riva/proto/riva_nlp.pb-c.h"
#include "util.h"

/* ---- calls to the workers ------------------------------------------------------------------- */

/* Call subject with message m; on OK *resp is the unpacked response (pl_proto_free). */
static pl_status call(struct pl_dlgsvc *s, const char *subject, const ProtobufCMessage *m,
                      const ProtobufCMessageDescriptor *rd, int timeout_ms, int64_t deadline_us,
                      ProtobufCMessage **resp) {
    *resp = NULL;
    uint8_t *buf = NULL;
    size_t len = 0;
    PL_TRY(pl_proto_pack(m, &buf, &len));
    struct pl_nrpc_meta meta = {pl_log_request_id()[0] ? pl_log_request_id() : NULL, deadline_us,
                                NULL};
    struct pl_nrpc_reply r;
    memset(&r, 0, sizeof r);
    pl_status st = pl_nrpc_call(s->nc, subject, buf, len, &meta, timeout_ms, &r);
    pl_free(buf);
    if (st == PL_OK && r.code != PL_GRPC_OK)
        st = PL_ERR(pl_nrpc_status_from_code(r.code), "%s: %s: %s", subject,
                    pl_grpc_code_name(r.code), r.message ? r.message : "");
    if (st == PL_OK) st = pl_proto_unpack(rd, r.data, r.len, resp);
    pl_nrpc_reply_deinit(&r);
    return st;
}

/* What the hooks of one turn see: the service and the turn's pipeline (NULL = default). */
struct hook_ud {
    struct pl_dlgsvc *s;
    const struct pl_dlg_pipeline *p;
};

/* The knowledge base's answer (dialog_actions.c). */
static pl_status kb_answer(void *ud, const char *question, int64_t deadline_us, char **answer) {
    const struct hook_ud *h = ud;
    return pl__dlgsvc_kb_answer(h->s, h->p, question, deadline_us, answer);
}

static pl_status records(void *ud, const char *user, const char *kind, struct pl_dlg_record **out,
                         int *n) {
    const struct hook_ud *h = ud;
    return pl_dlg_store_records(h->s->store, user, kind, out, n);
}

static pl_status nats_request(void *ud, const char *subject, const char *user, const char *body,
                              int timeout_ms, int64_t deadline_us, char **reply, size_t *len) {
    const struct hook_ud *h = ud;
    return pl__dlgsvc_nats_request(h->s, subject, user, body, timeout_ms, deadline_us, reply, len);
}

static const struct pl_dlg_hooks_i hooks = {kb_answer, records, nats_request};

/* The text punctuated by parley-nlu (PunctuateText with the pipeline's model), or NULL when
 * that fails (logged; the turn goes on with the text as it was). OUT: caller owns. */
static char *punctuate(struct pl_dlgsvc *s, const struct pl_dlg_pipeline *p, const char *text,
                       int64_t deadline_us) {
    char *texts[1] = {(char *)text};
    Nvidia__Riva__Nlp__TextTransformRequest rq = NVIDIA__RIVA__NLP__TEXT_TRANSFORM_REQUEST__INIT;
    Nvidia__Riva__Nlp__NLPModelParams mp = NVIDIA__RIVA__NLP__NLPMODEL_PARAMS__INIT;
    rq.n_text = 1;
    rq.text = texts;
    mp.model_name = p->punctuation.model;
    rq.model = &mp;
    ProtobufCMessage *m = NULL;
    if (call(s, "parley.nlu.punctuate_text", &rq.base,
             &nvidia__riva__nlp__text_transform_response__descriptor, s->o.nlu_timeout_ms,
             deadline_us, &m) != PL_OK) {
        PL_LOGW("punctuation unavailable for this turn (%s): the text as it was", pl_last_error());
        return NULL;
    }
    Nvidia__Riva__Nlp__TextTransformResponse *r = (void *)m;
    char *out = r->n_text == 1 && r->text[0] && r->text[0][0] ? pl_strdup(r->text[0]) : NULL;
    pl_proto_free(m);
    return out;
}

/* Named entities of text (parley-nlu AnalyzeEntities) into *ents (values borrowed from *msg,
 * which the caller frees). Unavailable: none, logged. */
static void entities(struct pl_dlgsvc *s, const char *text, int64_t deadline_us,
                     ProtobufCMessage **msg, struct pl_dlg_nlu_slot **ents, int *n) {
    *ents = NULL;
    *n = 0;
    Nvidia__Riva__Nlp__AnalyzeEntitiesRequest rq =
        NVIDIA__RIVA__NLP__ANALYZE_ENTITIES_REQUEST__INIT;
    rq.query = (char *)text;
    if (call(s, "parley.nlu.analyze_entities", &rq.base,
             &nvidia__riva__nlp__token_class_response__descriptor, s->o.nlu_timeout_ms,
             deadline_us, msg) != PL_OK) {
        PL_LOGW("named entities unavailable for this turn (%s)", pl_last_error());
        return;
    }
    Nvidia__Riva__Nlp__TokenClassResponse *r = (void *)*msg;
    const Nvidia__Riva__Nlp__TokenClassSequence *q = r->n_results > 0 ? r->results[0] : NULL;
    if (!q || !(*ents = pl_calloc(q->n_results + 1, sizeof **ents))) return;
    for (size_t i = 0; i < q->n_results; i++) {
        const Nvidia__Riva__Nlp__TokenClassValue *v = q->results[i];
        if (v->n_label == 0 || !v->label[0]->class_name) continue;
        struct pl_dlg_nlu_slot *o = &(*ents)[(*n)++];
        o->label = v->label[0]->class_name;
        o->value = v->token ? v->token : "";
        o->score = v->label[0]->score;
        o->start = v->n_span > 0 ? (int)v->span[0]->start : -1;
        o->end = v->n_span > 0 ? (int)v->span[0]->end : -1;
    }
}

/* parley-nlu's analysis of text into nlu (slots borrowed from *msg, which the caller frees).
 * NLU down or failing: no intent, logged. */
static void analyze(struct pl_dlgsvc *s, const char *model, const char *text,
                    int64_t deadline_us, ProtobufCMessage **msg, struct pl_dlg_nlu *nlu,
                    struct pl_dlg_nlu_slot **slots) {
    memset(nlu, 0, sizeof *nlu);
    *slots = NULL;
    Nvidia__Riva__Nlp__AnalyzeIntentRequest rq = NVIDIA__RIVA__NLP__ANALYZE_INTENT_REQUEST__INIT;
    Nvidia__Riva__Nlp__AnalyzeIntentOptions op = NVIDIA__RIVA__NLP__ANALYZE_INTENT_OPTIONS__INIT;
    rq.query = (char *)text;
    if (model && *model) { /* the pipeline's model (a model name or a domain) */
        op.domain = (char *)model;
        rq.options = &op;
    }
    if (call(s, "parley.nlu.analyze_intent", &rq.base,
             &nvidia__riva__nlp__analyze_intent_response__descriptor, s->o.nlu_timeout_ms,
             deadline_us, msg) != PL_OK) {
        PL_LOGW("NLU unavailable for this turn (%s): keywords and answers only", pl_last_error());
        return;
    }
    Nvidia__Riva__Nlp__AnalyzeIntentResponse *r = (void *)*msg;
    if (r->intent) {
        nlu->intent = r->intent->class_name;
        nlu->score = r->intent->score;
    }
    *slots = pl_calloc(r->n_slots + 1, sizeof **slots);
    for (size_t i = 0; *slots && i < r->n_slots; i++) {
        const Nvidia__Riva__Nlp__TokenClassValue *v = r->slots[i];
        if (v->n_label == 0 || !v->label[0]->class_name) continue;
        struct pl_dlg_nlu_slot *o = &(*slots)[nlu->n_slots++];
        o->label = v->label[0]->class_name;
        o->value = v->token ? v->token : "";
        o->score = v->label[0]->score;
        o->start = v->n_span > 0 ? (int)v->span[0]->start : -1;
        o->end = v->n_span > 0 ? (int)v->span[0]->end : -1;
    }
    nlu->slots = *slots;
}

/* ---- a text turn ---------------------------------------------------------------------------- */

static bool utf8_ok(const char *s) {
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned c = *p;
        int k = c < 0x80 ? 0 : (c >> 5) == 6 ? 1 : (c >> 4) == 14 ? 2 : (c >> 3) == 30 ? 3 : -1;
        if (k < 0) return false;
        for (int i = 1; i <= k; i++)
            if ((p[i] & 0xC0) != 0x80) return false;
        p += k + 1;
    }
    return true;
}

static pl_status check_text(struct pl_dlgsvc *s, const char *text) {
    size_t n = text ? strlen(text) : 0;
    const char *p = text;
    while (p && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    if (!p || !*p) return PL_ERR(PL_E_INVALID_ARG, "the text is empty");
    if ((int64_t)n > s->o.max_text_bytes)
        return PL_ERR(PL_E_INVALID_ARG, "the text is %zu bytes; the limit is %lld "
                      "(dialog.max_text_bytes)", n, (long long)s->o.max_text_bytes);
    if (!utf8_ok(text)) return PL_ERR(PL_E_INVALID_ARG, "the text is not valid UTF-8");
    return PL_OK;
}

void pl__dlg_turn_result_deinit(struct pl__dlg_turn_result *r) {
    pl_dlg_turn_deinit(&r->turn);
    pl_free(r->text);
    pl_dlg_state_destroy(r->state);
    pl_proto_free(r->nlu_msg);
    pl_free(r->nlu_slots);
    pl_free(r->ents);
    pl_proto_free(r->ner_msg);
    memset(r, 0, sizeof *r);
}

/* The NLU model of a turn: a spec trained on its own examples names its model (its intents
 * are that model's), else the pipeline's (NULL: the service's default). */
static const char *nlu_model(const struct pl_dlg_pipeline *p, const struct pl_dlg_spec *spec) {
    if (spec && pl_dlg_spec_nlu_model(spec)) return pl_dlg_spec_nlu_model(spec);
    return p ? p->nlu.model : NULL;
}

/* The stages before the policy (pipeline p, NULL = default): punctuation (when p says),
 * NLU (unless p has no nlu stage; the spec's model, else the pipeline's), entities (when the
 * spec maps some, p allows, and an entity could fill a slot of this turn given the NLU result
 * and the session as read before the lock, peek: pl_dlg_turn_wants_entities). */
static void understand(struct pl_dlgsvc *s, const struct pl_dlg_pipeline *p,
                       const struct pl_dlg_spec *spec, const struct pl_dlg_state *peek,
                       struct pl__dlg_turn_result *out, int64_t deadline_us) {
    memset(&out->nlu, 0, sizeof out->nlu);
    if (p && p->punctuation.enabled) {
        char *t = punctuate(s, p, out->text, deadline_us);
        if (t) {
            pl_free(out->text);
            out->text = t;
        }
    }
    if (p && !p->has_nlu) return;
    ProtobufCMessage *msg = NULL;
    analyze(s, nlu_model(p, spec), out->text, deadline_us, &msg, &out->nlu, &out->nlu_slots);
    out->nlu_msg = msg;
    if (spec && pl_dlg_spec_uses_entities(spec) && (!p || p->nlu.entities) &&
        pl_dlg_turn_wants_entities(spec, peek, &out->nlu)) {
        ProtobufCMessage *ner = NULL;
        entities(s, out->text, deadline_us, &ner, &out->ents, &out->nlu.n_entities);
        out->ner_msg = ner;
        out->nlu.entities = out->ents;
    }
}

/* The session's spec when it matters before the lock: it decides whether entities are asked
 * for and may name its NLU model. When some loaded spec does either, the session is read
 * before the lock (its dialog never changes), so that the NLU calls stay outside it; else
 * *spec = NULL. With peek, the state read (caller destroys; NULL when not read): its
 * contexts tell whether an entity could fill a slot (a turn of the same session from another
 * stream may change them before this one runs; then an entity is asked for or not as the
 * state was). Errors: the store's (PL_E_NOT_FOUND). */
static pl_status session_spec(struct pl_dlgsvc *s, const struct pl_dlg_pipeline *p,
                              const char *user, const char *sid,
                              const struct pl_dlg_spec **spec, struct pl_dlg_state **peek) {
    *spec = NULL;
    if (peek) *peek = NULL;
    if (p && !p->has_dialog) return PL_OK;
    for (int i = 0; i < s->n_specs; i++) {
        if (!pl_dlg_spec_uses_entities(s->specs[i]) && !pl_dlg_spec_nlu_model(s->specs[i]))
            continue;
        struct pl_dlg_state *state = NULL;
        pl_status st = pl_dlg_store_session_load(s->store, user, sid, &state);
        *spec = st == PL_OK ? pl__dlgsvc_spec(s, state->dialog) : NULL;
        if (peek && st == PL_OK)
            *peek = state;
        else
            pl_dlg_state_destroy(state);
        return st;
    }
    return PL_OK;
}

/* Check the text and run the stages before the policy (outside the session's lock). */
static pl_status prepare(struct pl_dlgsvc *s, const struct pl_dlg_pipeline *p, const char *user,
                         const char *sid, const char *text, int64_t deadline_us,
                         struct pl__dlg_turn_result *out) {
    memset(out, 0, sizeof *out);
    pl_dlg_turn_init(&out->turn);
    PL_TRY(check_text(s, text));
    if (!(out->text = pl_strdup(text))) return PL_ERR(PL_E_NOMEM, "turn");
    const struct pl_dlg_spec *spec = NULL;
    struct pl_dlg_state *peek = NULL;
    PL_TRY(session_spec(s, p, user, sid, &spec, &peek));
    understand(s, p, spec, peek, out, deadline_us);
    pl_dlg_state_destroy(peek);
    return PL_OK;
}

pl_status pl__dlgsvc_intent_score(struct pl_dlgsvc *s, const struct pl_dlg_pipeline *p,
                                  const char *user, const char *sid, const char *text,
                                  int64_t deadline_us, float *score) {
    *score = -1.0f;
    if (p && !p->has_nlu) return PL_OK;
    const struct pl_dlg_spec *spec = NULL;
    PL_TRY(session_spec(s, p, user, sid, &spec, NULL));
    ProtobufCMessage *msg = NULL;
    struct pl_dlg_nlu nlu;
    struct pl_dlg_nlu_slot *slots = NULL;
    analyze(s, nlu_model(p, spec), text, deadline_us, &msg, &nlu, &slots);
    if (nlu.intent && nlu.intent[0]) *score = nlu.score;
    pl_free(slots);
    pl_proto_free(msg);
    return PL_OK;
}

float pl__dlgsvc_complete_score(struct pl_dlgsvc *s, const char *model, const char *text,
                                int64_t deadline_us) {
    Nvidia__Riva__Nlp__TextClassRequest rq = NVIDIA__RIVA__NLP__TEXT_CLASS_REQUEST__INIT;
    Nvidia__Riva__Nlp__NLPModelParams mp = NVIDIA__RIVA__NLP__NLPMODEL_PARAMS__INIT;
    char *texts[1] = {(char *)text};
    rq.n_text = 1;
    rq.text = texts;
    rq.top_n = 8; /* every label: "complete" need not be the best */
    mp.model_name = (char *)model;
    rq.model = &mp;
    ProtobufCMessage *msg = NULL;
    if (call(s, "parley.nlu.classify_text", &rq.base,
             &nvidia__riva__nlp__text_class_response__descriptor, s->o.nlu_timeout_ms,
             deadline_us, &msg) != PL_OK) {
        PL_LOGW("end of turn: the classifier %s is unavailable (%s): the words wait", model,
                pl_last_error());
        return -1.0f;
    }
    Nvidia__Riva__Nlp__TextClassResponse *r = (void *)msg;
    float p = -1.0f;
    for (size_t i = 0; r->n_results > 0 && i < r->results[0]->n_labels; i++) {
        const Nvidia__Riva__Nlp__Classification *l = r->results[0]->labels[i];
        if (l->class_name && !strcmp(l->class_name, "complete")) p = l->score;
    }
    if (p < 0) PL_LOGW("end of turn: the classifier %s has no label \"complete\"", model);
    pl_proto_free(msg);
    return p;
}

/* Holding the session: load it, run the policy on what prepare() found, commit. local_only:
 * a turn that would call out (out->turn.calls_out) stops, nothing is stored, PL_OK.
 * replay (the action pool; NULL = every call made here): the turn's calls out go through it,
 * and a turn that reaches a call not yet made (a webhook; with replay->defer_all also a nats
 * action or parley-qa) stops with replay->pending_kind set, stores nothing and keeps the
 * session held (*held true) while the call is made elsewhere; decide runs it again with
 * *held true (no second lock) once the answer is in the replay. */
static pl_status decide(struct pl_dlgsvc *s, const struct pl_dlg_pipeline *p, const char *user,
                        const char *sid, int64_t deadline_us, bool local_only,
                        struct pl_dlg_replay *replay, bool *held,
                        struct pl__dlg_turn_result *out) {
    bool kb_only = p && !p->has_dialog;
    pl_dlg_turn_deinit(&out->turn);
    pl_dlg_turn_init(&out->turn);
    pl_dlg_state_destroy(out->state);
    out->state = NULL;
    if (!held || !*held) pl__dlgsvc_lock(s, sid);
    pl_status st = pl_dlg_store_session_load(s->store, user, sid, &out->state);
    const struct pl_dlg_spec *spec = st == PL_OK ? pl__dlgsvc_spec(s, out->state->dialog) : NULL;
    if (st == PL_OK && !spec)
        st = PL_ERR(PL_E_UNAVAILABLE, "dialog '%s' of session %s is not loaded",
                    out->state->dialog, sid);
    if (st == PL_OK && replay) {
        if (!replay->now_ms) replay->now_ms = pl_time_wall_ms();
        pl_dlg_replay_prepare(replay, out->state);
    }
    struct hook_ud h = {s, p};
    struct pl_dlg_turn_opts o = {&hooks, &h, replay ? replay->now_ms : pl_time_wall_ms(),
                                 deadline_us, s->o.tz_offset_min, local_only, replay};
    if (st == PL_OK)
        st = kb_only ? pl_dlg_turn_run_kb(spec, out->state, out->text, &o, &out->turn)
                     : pl_dlg_turn_run(spec, out->state, out->text, &out->nlu, &o, &out->turn);
    if (out->state) {
        out->state->preset_ids = NULL; /* borrowed from the replay */
        out->state->n_preset_ids = 0;
    }
    if (st == PL_E_CANCELLED && out->turn.calls_out && replay &&
        replay->pending_kind != PL_DLG_CALL_NONE) {
        st = pl_dlg_replay_keep_ids(replay, out->state);
        if (st == PL_OK) { /* waits for the call: the session stays held */
            *held = true;
            return PL_OK;
        }
    } else if (st == PL_E_CANCELLED && out->turn.calls_out) {
        st = PL_OK; /* run again, not stored */
    } else if (st == PL_OK) {
        st = pl_dlg_store_commit(s->store, out->state, &out->turn, o.now_ms);
    }
    pl__dlgsvc_unlock(s, sid);
    if (held) *held = false;
    return st;
}

pl_status pl__dlgsvc_text_turn(struct pl_dlgsvc *s, const struct pl_dlg_pipeline *p,
                               const char *user, const char *sid, const char *text,
                               int64_t deadline_us, struct pl__dlg_turn_result *out) {
    PL_TRY(prepare(s, p, user, sid, text, deadline_us, out));
    return decide(s, p, user, sid, deadline_us, false, NULL, NULL, out);
}

pl_status pl__dlgsvc_text_turn_local(struct pl_dlgsvc *s, const struct pl_dlg_pipeline *p,
                                     const char *user, const char *sid, const char *text,
                                     int64_t deadline_us, struct pl__dlg_turn_result *out) {
    PL_TRY(prepare(s, p, user, sid, text, deadline_us, out));
    return decide(s, p, user, sid, deadline_us, true, NULL, NULL, out);
}

pl_status pl__dlgsvc_text_turn_prepare(struct pl_dlgsvc *s, const struct pl_dlg_pipeline *p,
                                       const char *user, const char *sid, const char *text,
                                       int64_t deadline_us, struct pl__dlg_turn_result *out) {
    return prepare(s, p, user, sid, text, deadline_us, out);
}

pl_status pl__dlgsvc_text_turn_resume(struct pl_dlgsvc *s, const struct pl_dlg_pipeline *p,
                                      const char *user, const char *sid, int64_t deadline_us,
                                      struct pl_dlg_replay *replay, bool *held,
                                      struct pl__dlg_turn_result *out) {
    return decide(s, p, user, sid, deadline_us, false, replay, held, out);
}

char *pl__dlgsvc_event_json(int type, const char *detail, const char *const *attrs) {
    json_t *a = json_object();
    for (size_t i = 0; a && attrs && attrs[2 * i]; i++)
        json_object_set_new(a, attrs[2 * i], json_string(attrs[2 * i + 1] ? attrs[2 * i + 1] : ""));
    json_t *o = json_pack("{s:i,s:s,s:o*}", "type", type, "detail", detail, "attributes", a);
    char *data = o ? json_dumps(o, JSON_COMPACT) : NULL; /* pl_malloc'd (jansson's allocator) */
    json_decref(o);
    return data;
}

pl_status pl__dlgsvc_log_event(struct pl_dlgsvc *s, const char *user, const char *sid,
                               const char *ctx_id, int turn, const char *data) {
    struct pl_dlg_turn t;
    pl_dlg_turn_init(&t);
    struct pl_dlg_state *st = NULL;
    int64_t now = pl_time_wall_ms();
    pl_status r = pl_dlg_turn_event(&t, PL_DLG_EV_EVENT, ctx_id, turn, now, data);
    pl__dlgsvc_lock(s, sid);
    if (r == PL_OK) r = pl_dlg_store_session_load(s->store, user, sid, &st);
    if (r == PL_OK) r = pl_dlg_store_commit(s->store, st, &t, now);
    pl__dlgsvc_unlock(s, sid);
    pl_dlg_state_destroy(st);
    pl_dlg_turn_deinit(&t);
    return r;
}

/* ---- Converse -------------------------------------------------------------------------- */

pl_status pl__dlgconv_send(struct pl__dlg_conv *c, void *response, const char *ctx_id, int turn) {
    Parley__Dialog__V1__ConverseResponse *r = response;
    r->session_id = c->session_id;
    r->context_id = (char *)(ctx_id ? ctx_id : "");
    r->turn = turn;
    r->id = c->id;
    uint8_t *buf = NULL;
    size_t len = 0;
    PL_TRY(pl_proto_pack(&r->base, &buf, &len));
    pl_status st = pl_worker_session_send(c->ws, buf, len);
    pl_free(buf);
    return st;
}

pl_status pl__dlgconv_event(struct pl__dlg_conv *c, int type, const char *detail,
                            const char *const *attrs, const char *ctx_id, int turn) {
    Parley__Dialog__V1__DialogEvent ev = PARLEY__DIALOG__V1__DIALOG_EVENT__INIT;
    ev.type = (Parley__Dialog__V1__EventType)type;
    ev.detail = (char *)detail;
    Parley__Dialog__V1__DialogEvent__AttributesEntry e[8], *pe[8];
    for (size_t i = 0; attrs && attrs[2 * i] && i < 8; i++) {
        parley__dialog__v1__dialog_event__attributes_entry__init(&e[i]);
        e[i].key = (char *)attrs[2 * i];
        e[i].value = (char *)(attrs[2 * i + 1] ? attrs[2 * i + 1] : "");
        pe[i] = &e[i];
        ev.n_attributes = i + 1;
    }
    ev.attributes = pe;
    Parley__Dialog__V1__ConverseResponse r = PARLEY__DIALOG__V1__CONVERSE_RESPONSE__INIT;
    r.response_case = PARLEY__DIALOG__V1__CONVERSE_RESPONSE__RESPONSE_EVENT;
    r.event = &ev;
    return pl__dlgconv_send(c, &r, ctx_id, turn);
}

pl_status pl__dlgconv_send_nlu(struct pl__dlg_conv *c, const char *text,
                               const struct pl__dlg_turn_result *t) {
    Nvidia__Riva__Nlp__AnalyzeIntentResponse *ar = t->nlu_msg;
    Parley__Dialog__V1__NluResult nr = PARLEY__DIALOG__V1__NLU_RESULT__INIT;
    Parley__Dialog__V1__Intent in = PARLEY__DIALOG__V1__INTENT__INIT;
    nr.text = (char *)text;
    in.name = t->turn.intent && t->turn.intent[0] ? t->turn.intent
              : ar && ar->intent ? ar->intent->class_name : "";
    in.score = ar && ar->intent ? ar->intent->score : (t->turn.intent[0] ? 1.0f : 0.0f);
    if (in.name && in.name[0]) nr.intent = &in;
    size_t n = ar ? ar->n_slots : 0;
    Parley__Dialog__V1__Slot *sl = pl_calloc(n + 1, sizeof *sl);
    Parley__Dialog__V1__Slot **sp = pl_calloc(n + 1, sizeof *sp);
    pl_status st = sl && sp ? PL_OK : PL_ERR(PL_E_NOMEM, "nlu");
    for (size_t i = 0; st == PL_OK && i < n; i++) {
        const Nvidia__Riva__Nlp__TokenClassValue *v = ar->slots[i];
        if (v->n_label == 0) continue;
        parley__dialog__v1__slot__init(&sl[nr.n_slots]);
        sl[nr.n_slots].name = v->label[0]->class_name;
        sl[nr.n_slots].value = v->token;
        sl[nr.n_slots].score = v->label[0]->score;
        if (v->n_span > 0) {
            sl[nr.n_slots].start = v->span[0]->start;
            sl[nr.n_slots].end = v->span[0]->end;
        }
        sp[nr.n_slots] = &sl[nr.n_slots];
        nr.n_slots++;
    }
    nr.slots = sp;
    Parley__Dialog__V1__ConverseResponse r = PARLEY__DIALOG__V1__CONVERSE_RESPONSE__INIT;
    r.response_case = PARLEY__DIALOG__V1__CONVERSE_RESPONSE__RESPONSE_NLU;
    r.nlu = &nr;
    if (st == PL_OK) st = pl__dlgconv_send(c, &r, t->turn.context_id, t->turn.turn);
    pl_free(sl);
    pl_free(sp);
    return st;
}

static pl_status send_reply(struct pl__dlg_conv *c, const struct pl_dlg_reply *rep,
                            const char *ctx_id, int turn) {
    Parley__Dialog__V1__BotText b = PARLEY__DIALOG__V1__BOT_TEXT__INIT;
    b.text = rep->text;
    b.response_name = rep->response;
    b.expects_input = rep->expects_input;
    Parley__Dialog__V1__ConverseResponse r = PARLEY__DIALOG__V1__CONVERSE_RESPONSE__INIT;
    r.response_case = PARLEY__DIALOG__V1__CONVERSE_RESPONSE__RESPONSE_BOT_TEXT;
    r.bot_text = &b;
    return pl__dlgconv_send(c, &r, ctx_id, turn);
}

/* The turn as it happened: context events (created, switched, closed), slot and action events
 * stay in the log; each reply as BotText where it was said; TURN_COMPLETE last. */
pl_status pl__dlgconv_send_turn(struct pl__dlg_conv *c, const struct pl__dlg_turn_result *t,
                                int part) {
    struct pl_arena a;
    pl_arena_init(&a, 4096);
    pl_status st = PL_OK;
    int k = 0;
    for (int i = 0; st == PL_OK && i < t->turn.n_events; i++) {
        const struct pl_dlg_event *e = &t->turn.events[i];
        if (e->kind == PL_DLG_EV_BOT && k < t->turn.n_replies) {
            if (part != 2) st = send_reply(c, &t->turn.replies[k], e->context_id, t->turn.turn);
            k++;
            continue;
        }
        if (e->kind != PL_DLG_EV_EVENT) continue;
        Parley__Dialog__V1__ConverseResponse r = PARLEY__DIALOG__V1__CONVERSE_RESPONSE__INIT;
        r.response_case = PARLEY__DIALOG__V1__CONVERSE_RESPONSE__RESPONSE_EVENT;
        r.event = pl__dlgsvc_event_msg(&a, e->data);
        if (!r.event) continue;
        bool complete = r.event->type == PARLEY__DIALOG__V1__EVENT_TYPE__EVENT_TURN_COMPLETE;
        if ((part == 1 && complete) || (part == 2 && !complete)) continue;
        st = pl__dlgconv_send(c, &r, e->context_id, t->turn.turn);
    }
    pl_arena_deinit(&a);
    return st;
}

bool pl__dlgsvc_ends_stream(pl_status st) {
    return st == PL_E_NOT_FOUND || st == PL_E_UNAVAILABLE || st == PL_E_EXHAUSTED ||
           st == PL_E_NOMEM;
}

/* Answer turn t (st: how it went) on the stream: its NLU result (when asked), events and
 * replies; a failed turn is an EVENT_ERROR, or ends the stream (returned) when no later turn
 * could work either. Frees t. */
static pl_status answer_turn(struct pl__dlg_conv *c, pl_status st,
                             struct pl__dlg_turn_result *t) {
    if (st != PL_OK) { /* the turn failed and stored nothing */
        char err[512], msg[600];
        snprintf(err, sizeof err, "%s", pl_last_error());
        snprintf(msg, sizeof msg, "%s: %s", pl_status_str(st), err);
        pl__dlg_turn_result_deinit(t);
        /* no session, or a service that cannot take any turn now (store read-only or full,
         * no memory, dialog not loaded): the stream ends with that status; a turn the
         * policy refused is an EVENT_ERROR and the stream stays usable */
        if (pl__dlgsvc_ends_stream(st)) return PL_ERR(st, "%s", err);
        PL_LOGW("turn failed: %s", msg);
        return pl__dlgconv_event(c, PL_DLG_E_ERROR, msg, NULL, "", 0);
    }
    if (c->include_nlu) st = pl__dlgconv_send_nlu(c, t->text, t);
    if (st == PL_OK) st = pl__dlgconv_send_turn(c, t, 0);
    pl__dlg_turn_result_deinit(t);
    return st;
}

/* A text turn queued on the stream's lane: its text, or a turn stopped where it calls out. */
struct queued_turn {
    struct pl__dlg_conv *c;
    void (*done)(void *ud, pl_status st, const char *err, struct pl__dlg_turn_result *t);
    void *done_ud;                 /* a spoken turn: done gets the outcome (else answered here) */
    char *text;                    /* NULL: t holds a prepared turn (calls_out) */
    struct pl__dlg_turn_result t;
    struct pl_dlg_replay replay;   /* its calls out so far, each made without a thread */
    bool held;                     /* the session is held (while a call of it is made) */
    bool lost;                     /* a call's answer could not be kept (no memory) */
    struct pl__dlg_waiter waiter;  /* waiting for the session without a thread */
};

static void queued_free(void *arg) {
    struct queued_turn *q = arg;
    if (q->held) pl__dlgsvc_unlock(q->c->s, q->c->session_id);
    pl_dlg_replay_deinit(&q->replay);
    pl__dlg_turn_result_deinit(&q->t);
    pl_free(q->text);
    pl_free(q);
}

static void queued_run(void *arg);

/* A session of q's stripe was released (any thread): q's turn goes back on its lane, first,
 * to try for its session again. */
static void session_released(void *ud) {
    struct queued_turn *q = ud;
    pl__dlg_lane_resume(q->c->lane, queued_run, queued_free, q);
}

/* On the webhook I/O thread or a thread of the NATS connection (or the thread that cancelled
 * it): a call of q's turn answered (or failed, timed out, was cancelled); the turn goes back on
 * its lane, first, to run again with the answer (or to be dropped: the stream is closing). */
static void call_done(void *ud, struct pl_dlg_call *call) {
    struct queued_turn *q = ud;
    struct pl__dlg_conv *c = q->c;
    pthread_mutex_lock(&c->call_mu);
    c->call_kind = PL_DLG_CALL_NONE;
    c->call_id = 0;
    pthread_mutex_unlock(&c->call_mu);
    if (pl_dlg_replay_add(&q->replay, call) != PL_OK) q->lost = true;
    pl__dlg_lane_resume(c->lane, queued_run, queued_free, q);
}

static bool closing(struct pl__dlg_conv *c) {
    pthread_mutex_lock(&c->call_mu);
    bool closing = c->closing;
    pthread_mutex_unlock(&c->call_mu);
    return closing;
}

/* End call id of kind (a webhook on the I/O thread, else a call over NATS) at once. */
static void cancel_call(struct pl_dlgsvc *s, enum pl_dlg_call_kind kind, uint64_t id) {
    if (kind == PL_DLG_CALL_WEBHOOK) pl_dlg_http_cancel(s->http, id);
    else pl__dlgsvc_call_cancel(s, id);
}

/* On a pool thread (its lane parked, the session held): make the call q's turn stopped at
 * without waiting for it; call_done brings the turn back. The stream's conv_close may run
 * meanwhile on a handler thread: a call it could not see yet (no id) is cancelled here, and
 * none is started once it has begun (the turn is dropped: nothing stored, the session let go).
 * c stays valid throughout (its lane runs this job); q is the call's as soon as it starts. */
static void start_call(struct pl__dlg_conv *c, struct queued_turn *q) {
    enum pl_dlg_call_kind kind = q->replay.pending_kind;
    pthread_mutex_lock(&c->call_mu);
    bool gone = c->closing;
    if (!gone) {
        c->call_kind = kind;
        c->call_id = 0;
    }
    pthread_mutex_unlock(&c->call_mu);
    if (gone) {
        pl__dlg_lane_unpark(c->lane);
        queued_free(q);
        return;
    }
    uint64_t id = kind == PL_DLG_CALL_WEBHOOK
                      ? pl_dlg_http_start(c->s->http, pl__dlgsvc_spec(c->s, q->t.state->dialog),
                                          q->replay.pending, q->replay.pending_body,
                                          c->deadline_us, call_done, q)
                      : pl__dlgsvc_call_start(c->s, c->pipe, c->user, c->request_id, &q->replay,
                                              c->deadline_us, call_done, q);
    pthread_mutex_lock(&c->call_mu);
    bool cancel = false;
    if (id && c->call_kind == kind) { /* still in flight as far as call_done has told */
        c->call_id = id;
        cancel = c->closing;
    }
    pthread_mutex_unlock(&c->call_mu);
    if (cancel) cancel_call(c->s, kind, id);
}

/* On a pool thread: finish (or run) the turn and answer it; a failure that ends the stream
 * ends it from here (pl_worker_session_fail), and later queued turns are not run. A pool
 * thread never waits: for a session another turn holds (session_released brings the turn
 * back), nor for a call out (a webhook on the I/O thread, a nats action or parley-qa on the
 * NATS connection; call_done brings it back); the lane is parked meanwhile, so the stream's
 * later turns wait in order. */
static void queued_run(void *arg) {
    struct queued_turn *q = arg;
    struct pl__dlg_conv *c = q->c;
    if (atomic_load(&c->fail_st) == PL_OK && !closing(c)) {
        pl_log_set_request_id(c->request_id);
        pl_status st = PL_OK;
        if (q->text) { /* queued whole behind a waiting turn: the stages before the policy */
            st = pl__dlgsvc_text_turn_prepare(c->s, c->pipe, c->user, c->session_id, q->text,
                                              c->deadline_us, &q->t);
            pl_free(q->text);
            q->text = NULL;
            if (st != PL_OK) goto answer;
        }
        if (q->lost) {
            st = PL_ERR(PL_E_NOMEM, "the answer of a call out");
            goto answer;
        }
        if (!q->held) {
            pl__dlg_lane_park(c->lane);
            q->waiter = (struct pl__dlg_waiter){session_released, q, NULL};
            if (!pl__dlgsvc_lock_or_wait(c->s, c->session_id, &q->waiter)) {
                pl_log_set_request_id(NULL);
                return; /* q waits in the stripe's list */
            }
            pl__dlg_lane_unpark(c->lane);
            q->held = true;
        }
        if (c->deadline_us && pl_time_mono_us() >= c->deadline_us) {
            /* The client has its DEADLINE_EXCEEDED already (a call out bounded by the deadline
             * can answer before the stream's end reaches conv_close): store nothing, as for a
             * cancel, rather than a turn whose reply no one can read. */
            st = PL_ERR(PL_E_TIMEOUT, "the stream's deadline passed before the turn was done");
            goto answer;
        }
        st = pl__dlgsvc_text_turn_resume(c->s, c->pipe, c->user, c->session_id, c->deadline_us,
                                         &q->replay, &q->held, &q->t);
        if (st == PL_OK && q->held) { /* waits for a call out */
            pl__dlg_lane_park(c->lane);
            pl_log_set_request_id(NULL);
            start_call(c, q);
            return; /* q is the I/O thread's or the connection's now */
        }
answer:
        if (q->held) { /* released before the answer goes out (a failure that stored nothing) */
            pl__dlgsvc_unlock(c->s, c->session_id);
            q->held = false;
        }
        if (q->done) { /* a spoken turn: its voice thread answers and speaks it */
            q->done(q->done_ud, st, st != PL_OK ? pl_last_error() : "", &q->t);
            pl_log_set_request_id(NULL);
            queued_free(q);
            return;
        }
        st = answer_turn(c, st, &q->t);
        if (st != PL_OK && st != PL_E_CANCELLED) { /* CANCELLED: the client has gone */
            snprintf(c->fail_msg, sizeof c->fail_msg, "%s", pl_last_error());
            atomic_store(&c->fail_st, st);
            pl_worker_session_fail(c->ws, st, c->fail_msg);
        }
        pl_log_set_request_id(NULL);
    }
    queued_free(q);
}

/* Queue a turn behind the stream's earlier ones on its lane (made at the first; the session
 * is retained from then on, so that the pool may answer after the stream's handler calls).
 * text: a turn to run whole; else *t, a turn stopped where it calls out (taken). */
static pl_status queue_turn(struct pl__dlg_conv *c, const char *text,
                            struct pl__dlg_turn_result *t,
                            void (*done)(void *, pl_status, const char *,
                                         struct pl__dlg_turn_result *),
                            void *done_ud) {
    struct queued_turn *q = pl_calloc(1, sizeof *q);
    pl_status st = q ? PL_OK : PL_ERR(PL_E_NOMEM, "turn");
    if (q) {
        pl_dlg_replay_init(&q->replay);
        q->replay.defer_all = true; /* nats and parley-qa calls hold no pool thread either */
        q->done = done;
        q->done_ud = done_ud;
    }
    if (st == PL_OK && text && !(q->text = pl_strdup(text))) st = PL_ERR(PL_E_NOMEM, "turn");
    if (st == PL_OK && !c->lane) {
        st = pl__dlg_lane_create(c->s->pool, &c->lane);
        if (st == PL_OK) pl_worker_session_retain(c->ws);
    }
    if (q) {
        q->c = c;
        if (t) {
            q->t = *t;
            memset(t, 0, sizeof *t);
        }
    }
    if (st == PL_OK) st = pl__dlg_lane_push(c->lane, queued_run, queued_free, q);
    if (st != PL_OK && q) queued_free(q);
    if (st != PL_OK && t) pl__dlg_turn_result_deinit(t);
    return st;
}

/* A text turn on the handler thread: run as far as it can without calling out (the action
 * pool finishes a turn that must, and takes every later turn of the stream while one waits
 * there, so that the stream's turns are answered in order). */
pl_status pl__dlgconv_queue_spoken(struct pl__dlg_conv *c, struct pl__dlg_turn_result *t,
                                   void (*done)(void *ud, pl_status st, const char *err,
                                                struct pl__dlg_turn_result *t),
                                   void *ud) {
    return queue_turn(c, NULL, t, done, ud);
}

static pl_status on_text(struct pl__dlg_conv *c, const char *text) {
    if (c->lane && pl__dlg_lane_busy(c->lane)) return queue_turn(c, text, NULL, NULL, NULL);
    struct pl__dlg_turn_result t;
    pl_status st = c->s->pool ? pl__dlgsvc_text_turn_local(c->s, c->pipe, c->user,
                                                           c->session_id, text, c->deadline_us,
                                                           &t)
                              : pl__dlgsvc_text_turn(c->s, c->pipe, c->user, c->session_id,
                                                     text, c->deadline_us, &t);
    if (st == PL_OK && t.turn.calls_out) return queue_turn(c, NULL, &t, NULL, NULL);
    return answer_turn(c, st, &t);
}

/* The config: resume or create the session, switch context when asked. */
/* The pipeline the config names (c->pipe), and that its stages serve what the config asks. */
static pl_status config_pipeline(struct pl__dlg_conv *c,
                                 const Parley__Dialog__V1__ConverseConfig *cfg) {
    c->pipe = NULL;
    if (!cfg->pipeline || !*cfg->pipeline) return PL_OK;
    const struct pl_dlg_pipeline *p = pl__dlgsvc_pipeline(c->s, cfg->pipeline);
    if (!p) {
        char names[512];
        pl__dlgsvc_pipeline_names(c->s, names, sizeof names);
        return PL_ERR(PL_E_NOT_FOUND, "pipeline '%.128s' is not loaded (loaded: %s)",
                      cfg->pipeline, names);
    }
    if (cfg->input_audio && !p->has_asr)
        return PL_ERR(PL_E_INVALID_ARG, "pipeline '%s' has no asr stage: input_audio is not "
                      "accepted (%s)", p->name, p->file);
    if (cfg->output_audio && !p->has_tts)
        return PL_ERR(PL_E_INVALID_ARG, "pipeline '%s' has no tts stage: output_audio is not "
                      "accepted (%s)", p->name, p->file);
    c->pipe = p;
    return PL_OK;
}

static pl_status on_config(struct pl__dlg_conv *c, const Parley__Dialog__V1__ConverseConfig *cfg) {
    struct pl_dlgsvc *s = c->s;
    snprintf(c->user, sizeof c->user, "%s", pl__dlgsvc_user(pl_worker_session_ctx(c->ws), cfg->user_id));
    c->include_nlu = cfg->include_nlu;
    PL_TRY(config_pipeline(c, cfg));
    struct pl_dlg_state *st = NULL;
    pl_status r;
    bool created = false;
    if (cfg->session_id && *cfg->session_id) {
        r = pl_dlg_store_session_load(s->store, c->user, cfg->session_id, &st);
    } else {
        const char *d = cfg->dialog && *cfg->dialog ? cfg->dialog
                        : c->pipe && c->pipe->dialog.spec[0] ? c->pipe->dialog.spec
                                                             : s->default_dialog;
        if (!*d) d = pl_dlg_spec_name(s->specs[0]);
        r = pl__dlgsvc_spec(s, d) ? pl_dlg_store_session_create(s->store, c->user, d,
                                                                cfg->language_code,
                                                                NULL, pl_time_wall_ms(), &st)
                                  : PL_ERR(PL_E_NOT_FOUND, "dialog '%s' is not loaded", d);
        created = true;
    }
    if (r == PL_OK && st->state != PL_DLG_SESSION_ACTIVE)
        r = PL_ERR(PL_E_INVALID_ARG, "session %s has ended", st->session_id);
    if (r == PL_OK) snprintf(c->session_id, sizeof c->session_id, "%s", st->session_id);
    pl_dlg_state_destroy(st);
    PL_TRY(r);
    if (cfg->input_audio || cfg->output_audio) PL_TRY(pl__dlg_voice_create(c, cfg));
    c->configured = true;
    if (created) PL_TRY(pl__dlgconv_event(c, PL_DLG_E_SESSION_CREATED, "session created", NULL, "", 0));
    if (!cfg->context_id || !*cfg->context_id) return PL_OK;
    struct pl_dlg_turn t;
    pl_dlg_turn_init(&t);
    char prev[PL_DLG_ID_LEN];
    pl__dlgsvc_lock(s, c->session_id);
    r = pl_dlg_store_session_load(s->store, c->user, c->session_id, &st);
    if (r == PL_OK) r = pl_dlg_context_switch(st, cfg->context_id, pl_time_wall_ms(), &t, prev);
    if (r == PL_OK) r = pl_dlg_store_commit(s->store, st, &t, pl_time_wall_ms());
    pl__dlgsvc_unlock(s, c->session_id);
    pl_dlg_turn_deinit(&t);
    pl_dlg_state_destroy(st);
    PL_TRY(r);
    return pl__dlgconv_event(c, PL_DLG_E_CONTEXT_SWITCHED, "context switched", NULL, cfg->context_id, 0);
}

static pl_status conv_open(void *ud, struct pl_worker_session *ws, const struct pl_worker_ctx *ctx,
                           void **state) {
    struct pl__dlg_conv *c = pl_calloc(1, sizeof *c);
    if (!c) return PL_ERR(PL_E_NOMEM, "converse");
    c->s = ud;
    c->ws = ws;
    pthread_mutex_init(&c->call_mu, NULL);
    c->deadline_us = ctx ? ctx->deadline_us : 0;
    snprintf(c->request_id, sizeof c->request_id, "%s", ctx ? ctx->request_id : "");
    *state = c;
    return PL_OK;
}

static void conv_free(void *ud) {
    struct pl__dlg_conv *c = ud;
    if (!c) return;
    if (c->lane) pl_worker_session_release(c->ws);
    pl__dlg_voice_destroy(c->voice);
    Nvidia__Riva__RequestId *id = c->id;
    if (id) {
        pl_free(id->value);
        pl_free(id);
    }
    pthread_mutex_destroy(&c->call_mu);
    pl_free(c);
}

static pl_status keep_id(struct pl__dlg_conv *c, const Nvidia__Riva__RequestId *id) {
    if (!id || c->id) return PL_OK;
    Nvidia__Riva__RequestId *k = pl_calloc(1, sizeof *k);
    if (!k) return PL_ERR(PL_E_NOMEM, "converse");
    nvidia__riva__request_id__init(k);
    c->id = k;
    k->value = pl_strdup(id->value ? id->value : "");
    return k->value ? PL_OK : PL_ERR(PL_E_NOMEM, "converse");
}

static pl_status conv_message(void *state, struct pl_worker_session *ws, const uint8_t *data,
                              size_t n) {
    (void)ws;
    struct pl__dlg_conv *c = state;
    ProtobufCMessage *msg = NULL;
    PL_TRY(pl_proto_unpack(&parley__dialog__v1__converse_request__descriptor, data, n, &msg));
    Parley__Dialog__V1__ConverseRequest *rq = (void *)msg;
    pl_status st = keep_id(c, rq->id);
    bool is_cfg = rq->request_case == PARLEY__DIALOG__V1__CONVERSE_REQUEST__REQUEST_CONFIG;
    if (st == PL_OK && is_cfg == c->configured)
        st = PL_ERR(PL_E_INVALID_ARG, is_cfg ? "config may only be the first message"
                                             : "the first message must be the config");
    if (st != PL_OK) goto out;
    const char *text = ""; /* the oneof shares storage: read text in its own case only */
    switch (rq->request_case) {
    case PARLEY__DIALOG__V1__CONVERSE_REQUEST__REQUEST_CONFIG:
        st = on_config(c, rq->config);
        break;
    case PARLEY__DIALOG__V1__CONVERSE_REQUEST__REQUEST_TEXT:
        if (rq->text && rq->text->text) text = rq->text->text;
        st = c->voice ? pl__dlg_voice_text(c->voice, text) : on_text(c, text);
        break;
    case PARLEY__DIALOG__V1__CONVERSE_REQUEST__REQUEST_AUDIO_CONTENT:
        st = c->voice ? pl__dlg_voice_audio(c->voice, rq->audio_content.data,
                                            rq->audio_content.len)
                      : PL_ERR(PL_E_INVALID_ARG, "audio_content without input_audio in the config");
        break;
    case PARLEY__DIALOG__V1__CONVERSE_REQUEST__REQUEST_CONTROL:
        /* text only: no utterance to end, no reply audio to interrupt */
        if (c->voice) st = pl__dlg_voice_control(c->voice, rq->control ? (int)rq->control->kind : 0);
        break;
    default:
        break;
    }
out:
    pl_proto_free(msg);
    return st;
}

/* Free c once no turn of its lane runs (at once, or on the pool thread after the turn). First
 * the call out a turn of the lane waits for is ended (a webhook's transfer removed and its
 * connection closed, a NATS request's reply to be ignored): the turn is then dropped on the
 * pool unrun (nothing stored) and its session released at once, not at the call's timeout;
 * turns queued behind it are dropped too. Then the voice stops (its thread joined: it waits
 * for nothing outside the process, and a session it waits for is no longer held by the
 * cancelled turn), so that nothing but the lane's turn can still use c. */
static void conv_close(struct pl__dlg_conv *c) {
    pthread_mutex_lock(&c->call_mu);
    c->closing = true;
    enum pl_dlg_call_kind kind = c->call_kind;
    uint64_t id = c->call_id;
    pthread_mutex_unlock(&c->call_mu);
    if (id) cancel_call(c->s, kind, id); /* 0: none, or start_call cancels it itself */
    pl__dlg_voice_stop(c->voice);
    struct pl__dlg_lane *l = c->lane;
    if (l) pl__dlg_lane_close(l, conv_free, c);
    else conv_free(c);
}

/* The status the stream ends with: a turn's that ended it, else OK. */
static pl_status end_status(struct pl__dlg_conv *c) {
    pl_status fail = atomic_load(&c->fail_st);
    return fail == PL_OK ? PL_OK : PL_ERR(fail, "%s", c->fail_msg);
}

void pl__dlgconv_finished(struct pl__dlg_conv *c, pl_status st, const char *msg) {
    pl_worker_session_end(c->ws, st, msg); /* then conv_cancel frees c */
}

/* The lane of a half-closed stream has answered its last turn (on the pool thread). */
static void lane_idle(void *ud) {
    struct pl__dlg_conv *c = ud;
    if (closing(c)) return; /* cancelled meanwhile: conv_close ends it */
    pl__dlgconv_finished(c, end_status(c), c->fail_msg);
}

/* The half-close. The turns still owed (queued on the action pool, or on the voice) are
 * answered first, but no handler thread waits for them: the end is deferred, and the pool
 * thread that answers the last one (lane_idle), or the voice thread, ends the stream; a
 * cancel meanwhile runs conv_cancel at once. */
static pl_status conv_end(void *state, struct pl_worker_session *ws) {
    struct pl__dlg_conv *c = state;
    pl_status st = c->voice ? pl__dlg_voice_status(c->voice) : end_status(c);
    if (st == PL_OK && c->voice) {
        pl_worker_session_defer_end(ws);
        pl__dlg_voice_finish(c->voice); /* its thread ends the stream (pl__dlgconv_finished) */
        return PL_OK;
    }
    if (st == PL_OK && c->lane) {
        pl_worker_session_defer_end(ws);
        if (!pl__dlg_lane_on_idle(c->lane, lane_idle, c)) lane_idle(c); /* nothing owed */
        return PL_OK;
    }
    conv_close(c);
    return st;
}

static void conv_cancel(void *state, struct pl_worker_session *ws) {
    (void)ws;
    conv_close(state);
}

pl_status pl__dlgsvc_register_converse(struct pl_dlgsvc *s, struct pl_worker *w) {
    static const struct pl_worker_stream_i iface = {conv_open, conv_message, conv_end, conv_cancel};
    return pl_worker_add_stream(w, "converse", &iface, s);
}
