/*
 * dialog_steps.c - the steps a turn runs (dialog_turn_impl.h): `say`, `start` (hand the turn
 * to another flow) and the actions: the built-in ones (the knowledge base through parley-qa,
 * the time and date, slots, close, the user's records) and the external ones (a webhook
 * through libcurl, a NATS subject through the service's hook; dialog_external.c builds and
 * checks their JSON). Every action is logged as an `action` event with its arguments,
 * result, error and duration. The policy that decides which steps run is dialog_engine.c.
 */
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "dialog_turn_impl.h"
#include "strbuf.h"
#include "util.h"

/* ---- actions -------------------------------------------------------------------------------- */

/* ms < 0: the time since t0 (pl_time_mono_us); else the call's own duration (a replayed
 * call: the time it took when it was made). */
static pl_status action_event_ms(struct pl__turn *t, const char *name, json_t *args,
                                 const char *result, bool ok, const char *error, int64_t t0,
                                 int64_t ms) {
    struct pl_dlg_ctx *c = pl__turn_cur(t);
    if (ms < 0) ms = (pl_time_mono_us() - t0) / 1000;
    return pl__dlg_turn_event_json(
        t->out, PL_DLG_EV_ACTION, c ? c->id : "", t->turn_no, t->now,
        json_pack("{s:s,s:o,s:s,s:b,s:s,s:I}", "name", name, "arguments",
                  args ? args : json_object(), "result", result ? result : "", "ok", ok,
                  "error", error ? error : "", "duration_ms", (json_int_t)ms));
}

static pl_status action_event(struct pl__turn *t, const char *name, json_t *args,
                              const char *result, bool ok, const char *error, int64_t t0) {
    return action_event_ms(t, name, args, result, ok, error, t0, -1);
}

/* With a replay (opts.replay): the next call the turn makes, if an earlier run made it
 * already (copied; the body stays the replay's), else NULL. */
static const struct pl_dlg_call *replayed(struct pl__turn *t) {
    struct pl_dlg_replay *r = t->o->replay;
    if (!r || r->next >= r->n_calls) return NULL;
    return &r->calls[r->next++];
}

/* With a replay: keep a call just made for the runs to come (its body copied). */
static pl_status record(struct pl__turn *t, const struct pl_dlg_call *c) {
    struct pl_dlg_replay *r = t->o->replay;
    if (!r) return PL_OK;
    struct pl_dlg_call k = *c;
    k.body = NULL;
    if (c->body && !(k.body = pl_malloc(c->len + 1))) return PL_ERR(PL_E_NOMEM, "replay");
    if (c->body) {
        memcpy(k.body, c->body, c->len);
        k.body[c->len] = '\0';
    }
    PL_TRY(pl_dlg_replay_add(r, &k));
    r->next = r->n_calls;
    return PL_OK;
}

/* A step that calls out of the process under opts.local_only: stop the turn there. */
static pl_status calls_out(struct pl__turn *t, const char *what) {
    t->out->calls_out = true;
    return PL_ERR(PL_E_CANCELLED, "the turn calls out (%s): run it where it may wait", what);
}

/* With a replay: stop the turn at a call its caller makes (without a thread waiting) before
 * running the turn again with the outcome. body (owned) is taken. */
static pl_status defer(struct pl__turn *t, enum pl_dlg_call_kind kind, int webhook,
                       const char *subject, int timeout_ms, char *body, const char *what) {
    struct pl_dlg_replay *r = t->o->replay;
    r->pending_kind = kind;
    r->pending = webhook;
    r->pending_subject = subject;
    r->pending_timeout_ms = timeout_ms;
    pl_free(r->pending_body);
    r->pending_body = body;
    return calls_out(t, what);
}

/* The knowledge base's answer to the utterance; says it (response `r`, else the answer as
 * is) or the spec's kb_no_answer / kb_unavailable. */
pl_status pl__turn_kb_answer(struct pl__turn *t, int r, int empty) {
    if (t->o->local_only) return calls_out(t, "kb_answer");
    int64_t t0 = pl_time_mono_us();
    char *ans = NULL;
    pl_status st = PL_E_UNAVAILABLE;
    char errbuf[256] = "no knowledge base";
    int64_t ms = -1;
    const struct pl_dlg_call *prev = replayed(t);
    if (prev) { /* asked in an earlier run of this turn */
        st = prev->st;
        snprintf(errbuf, sizeof errbuf, "%s", prev->error);
        ms = prev->duration_ms;
        if (prev->body && !(ans = pl_strdup(prev->body))) return PL_ERR(PL_E_NOMEM, "turn");
    } else {
        bool hook = t->o->hooks && t->o->hooks->kb_answer;
        if (hook && t->o->replay && t->o->replay->defer_all) { /* asked by the caller */
            char *q = pl_strdup(t->text);
            return q ? defer(t, PL_DLG_CALL_KB, -1, NULL, 0, q, "kb_answer")
                     : PL_ERR(PL_E_NOMEM, "turn");
        }
        if (hook) {
            st = t->o->hooks->kb_answer(t->o->hooks_ud, t->text, t->o->deadline_us, &ans);
            snprintf(errbuf, sizeof errbuf, "%s", st == PL_OK ? "" : pl_last_error());
        }
        struct pl_dlg_call c = {.st = st, .body = ans, .len = ans ? strlen(ans) : 0,
                                .attempts = 1, .duration_ms = (pl_time_mono_us() - t0) / 1000};
        snprintf(c.error, sizeof c.error, "%s", errbuf);
        pl_status rst = record(t, &c);
        if (rst != PL_OK) {
            pl_free(ans);
            return rst;
        }
    }
    pl_status est = action_event_ms(t, "kb_answer", json_pack("{s:s}", "question", t->text),
                                    ans, st == PL_OK, errbuf, t0, ms);
    if (est != PL_OK) {
        pl_free(ans);
        return est;
    }
    struct pl_dlg_ctx *c = pl__turn_cur(t);
    if (st != PL_OK) return pl__turn_say(t, t->sp->r_kb_failed, c, false);
    if (!ans || !ans[0]) {
        pl_free(ans);
        return pl__turn_say(t, empty >= 0 ? empty : t->sp->r_kb_no_answer, c, false);
    }
    st = pl__turn_set_var(t, "answer", ans);
    if (st == PL_OK) st = pl__turn_set_var(t, "result", ans);
    if (st == PL_OK && r >= 0) {
        pl_free(ans);
        return pl__turn_say(t, r, c, false);
    }
    return st == PL_OK ? pl__turn_add_reply(t, ans, "kb_answer", false, c ? c->id : "") : st;
}

static pl_status tell_clock(struct pl__turn *t, const struct pl__dlg_step *s, bool date) {
    int64_t t0 = pl_time_mono_us();
    time_t secs = (time_t)(t->now / 1000) + (time_t)t->o->tz_offset_min * 60;
    struct tm tm;
    gmtime_r(&secs, &tm);
    char buf[64];
    if (date) strftime(buf, sizeof buf, "%A, %B %d", &tm);
    else strftime(buf, sizeof buf, "%H:%M", &tm);
    PL_TRY(pl__turn_set_var(t, "result", buf));
    PL_TRY(action_event(t, date ? "tell_date" : "tell_time", NULL, buf, true, "", t0));
    return s->response >= 0 ? pl__turn_say(t, s->response, pl__turn_cur(t), false) : PL_OK;
}

/* The current context's slots as a JSON object (a record's data). */
static char *slots_json(const struct pl_dlg_ctx *c) {
    json_t *o = json_object();
    for (int i = 0; o && i < c->n_slots; i++)
        json_object_set_new(o, c->slots[i].name, json_string(c->slots[i].value));
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(o);
    return s;
}

static pl_status add_effect(struct pl__turn *t, bool cancel, const char *kind, char *data,
                            int64_t id) {
    struct pl_dlg_turn *o = t->out;
    struct pl_dlg_effect *v = pl_realloc(o->effects, (size_t)(o->n_effects + 1) * sizeof *v);
    if (!v) {
        pl_free(data);
        return PL_ERR(PL_E_NOMEM, "effect");
    }
    o->effects = v;
    v[o->n_effects] = (struct pl_dlg_effect){cancel, pl_strdup(kind), data, id};
    o->n_effects++;
    return v[o->n_effects - 1].kind ? PL_OK : PL_ERR(PL_E_NOMEM, "effect");
}

static pl_status act_save(struct pl__turn *t, const struct pl__dlg_step *s) {
    int64_t t0 = pl_time_mono_us();
    char *data = slots_json(pl__turn_cur(t));
    if (!data) return PL_ERR(PL_E_NOMEM, "record");
    pl_status st = action_event(t, "save", json_pack("{s:s}", "kind", s->kind_name), data, true,
                                "", t0);
    if (st != PL_OK) {
        pl_free(data);
        return st;
    }
    PL_TRY(add_effect(t, false, s->kind_name, data, 0));
    return s->response >= 0 ? pl__turn_say(t, s->response, pl__turn_cur(t), false) : PL_OK;
}

/* One record as text: the step's item response over the record's fields, else its JSON. */
static pl_status render_record(struct pl__turn *t, const struct pl__dlg_step *s,
                               const struct pl_dlg_record *rec, char **out) {
    *out = NULL;
    json_t *o = json_loads(rec->data, 0, NULL);
    if (s->item < 0 || !json_is_object(o)) {
        json_decref(o);
        *out = pl_strdup(rec->data);
        return *out ? PL_OK : PL_ERR(PL_E_NOMEM, "record");
    }
    struct pl_dlg_ctx tmp;
    memset(&tmp, 0, sizeof tmp);
    const char *k;
    json_t *v;
    pl_status st = PL_OK;
    json_object_foreach(o, k, v) {
        if (json_is_string(v) && st == PL_OK)
            st = pl_dlg_ctx_set_slot(&tmp, k, json_string_value(v));
    }
    json_decref(o);
    if (st == PL_OK) st = pl__turn_render(t, s->item, &tmp, out);
    for (int i = 0; i < tmp.n_slots; i++) {
        pl_free(tmp.slots[i].name);
        pl_free(tmp.slots[i].value);
    }
    pl_free(tmp.slots);
    return st;
}

/* list / cancel over the user's records of the step's kind. */
static pl_status act_records(struct pl__turn *t, const struct pl__dlg_step *s) {
    int64_t t0 = pl_time_mono_us();
    bool cancel = s->action == PL__ACT_CANCEL;
    struct pl_dlg_record *recs = NULL;
    int n = 0;
    pl_status st = PL_E_UNAVAILABLE;
    if (t->o->hooks && t->o->hooks->records)
        st = t->o->hooks->records(t->o->hooks_ud, t->st->user, s->kind_name, &recs, &n);
    struct pl_strbuf sb;
    pl_strbuf_init(&sb);
    long pick = n;
    if (cancel && n > 1 && pl_dlg_parse_number(t->text, &pick) && (pick < 1 || pick > n)) pick = n;
    for (int i = 0; st == PL_OK && i < n; i++) {
        if (cancel && i != pick - 1) continue;
        char *item = NULL;
        st = render_record(t, s, &recs[i], &item);
        if (st != PL_OK) break;
        if (cancel) pl_strbuf_append(&sb, item);
        else pl_strbuf_appendf(&sb, "%s%d. %s", sb.len ? "; " : "", i + 1, item);
        pl_free(item);
    }
    char count[16];
    snprintf(count, sizeof count, "%d", cancel ? (n > 0) : n);
    const char *result = sb.data ? sb.data : "";
    if (st == PL_OK) st = pl__turn_set_var(t, cancel ? "result" : "items", result);
    if (st == PL_OK) st = pl__turn_set_var(t, "count", count);
    if (st == PL_OK && cancel && n > 0)
        st = add_effect(t, true, s->kind_name, NULL, recs[pick - 1].id);
    pl_status est = action_event(t, cancel ? "cancel" : "list",
                                 json_pack("{s:s}", "kind", s->kind_name), result, st == PL_OK,
                                 st == PL_OK ? "" : pl_last_error(), t0);
    pl_strbuf_deinit(&sb);
    pl_dlg_records_free(recs, n);
    PL_TRY(est);
    struct pl_dlg_ctx *c = pl__turn_cur(t);
    if (st != PL_OK) return pl__turn_say(t, t->sp->r_kb_failed, c, false);
    if (n == 0) return s->empty >= 0 ? pl__turn_say(t, s->empty, c, false) : PL_OK;
    return s->response >= 0 ? pl__turn_say(t, s->response, c, false) : PL_OK;
}

static pl_status act_slot(struct pl__turn *t, const struct pl__dlg_step *s) {
    int64_t t0 = pl_time_mono_us();
    struct pl_dlg_ctx *c = pl__turn_cur(t);
    const char *name = t->sp->slots[s->slot].name;
    char *v = NULL;
    if (s->action == PL__ACT_SET_SLOT) {
        struct pl_dlg_vars vars = {t->vars, t->n_vars};
        pl_status st = pl_dlg_template_fill(s->value, &vars, c->slots, c->n_slots, &v);
        if (st == PL_E_NOT_FOUND) return action_event(t, "set_slot", NULL, "", false,
                                                      "the value's template has an unset name", t0);
        PL_TRY(st);
    }
    pl_status st = pl__turn_set_slot(t, c, name, v, "action");
    if (st == PL_OK)
        st = action_event(t, s->action == PL__ACT_SET_SLOT ? "set_slot" : "clear_slot",
                          json_pack("{s:s}", "slot", name), v, true, "", t0);
    pl_free(v);
    PL_TRY(st);
    return s->response >= 0 ? pl__turn_say(t, s->response, c, false) : PL_OK;
}

/* ---- external actions: webhook, nats (dialog_external.c) ---------------------------------- */

static bool declared_var(const struct pl_dlg_spec *sp, const char *name) {
    for (int i = 0; i < sp->n_vars; i++)
        if (!strcmp(sp->vars[i], name)) return true;
    return false;
}

/* Apply a checked reply: {result} = its text, its declared variables, its changes to slots the
 * spec defines (a number slot only takes a number); anything else in it is ignored. */
static pl_status apply_reply(struct pl__turn *t, json_t *o) {
    const char *k;
    json_t *v;
    json_t *text = json_object_get(o, "text");
    if (json_is_string(text)) PL_TRY(pl__turn_set_var(t, "result", json_string_value(text)));
    json_object_foreach(json_object_get(o, "vars"), k, v) {
        if (!declared_var(t->sp, k) || t->n_vars >= MAX_VARS - ENGINE_VARS) continue;
        char *s = pl__dlg_json_text(v);
        pl_status st = s ? pl__turn_set_var(t, k, s) : PL_ERR(PL_E_NOMEM, "action");
        pl_free(s);
        PL_TRY(st);
    }
    struct pl_dlg_ctx *c = pl__turn_cur(t);
    json_object_foreach(json_object_get(o, "slots"), k, v) {
        int si = pl__dlg_spec_slot(t->sp, k);
        if (si < 0) continue;
        char *s = json_is_null(v) ? NULL : pl__dlg_json_text(v);
        long num;
        bool skip = s && t->sp->slots[si].type == PL__SLOT_NUMBER && !pl_dlg_parse_number(s, &num);
        pl_status st = skip || (s || json_is_null(v)) ? PL_OK : PL_ERR(PL_E_NOMEM, "action");
        if (st == PL_OK && !skip) st = pl__turn_set_slot(t, c, t->sp->slots[si].name, s, "action");
        pl_free(s);
        PL_TRY(st);
    }
    return PL_OK;
}

static void nats_call(struct pl__turn *t, const struct pl__dlg_step *s, const char *req,
                      struct pl_dlg_call *r) {
    r->attempts = 1;
    r->st = PL_E_UNAVAILABLE;
    const struct pl_dlg_hooks_i *h = t->o->hooks;
    if (h && h->nats_request)
        r->st = h->nats_request(t->o->hooks_ud, s->subject, t->st->user, req, s->timeout_ms,
                                t->o->deadline_us, &r->body, &r->len);
    if (r->st == PL_OK) return;
    r->unconfigured = r->st == PL_E_NOT_FOUND;
    snprintf(r->error, sizeof r->error, "nats '%s': %s", s->subject,
             h && h->nats_request ? pl_last_error() : "no NATS connection");
    pl_free(r->body);
    r->body = NULL;
}

/* The apology for a failed external action: the step's own, else the spec's action_failed,
 * else kb_unavailable. */
static int failed_response(struct pl__turn *t, const struct pl__dlg_step *s, bool unconfigured) {
    if (unconfigured && s->unconfigured >= 0) return s->unconfigured;
    if (s->failed >= 0) return s->failed;
    return t->sp->r_action_failed >= 0 ? t->sp->r_action_failed : t->sp->r_kb_failed;
}

/* A webhook or nats step: send the turn as JSON, check the reply, apply it, say the step's
 * response (or the reply's text); any failure (unconfigured, refused, hanging past the
 * timeout, non-2xx, not the JSON expected, a response the reply cannot fill) is logged with
 * its error and answered with the apology. A reply is checked whole before any of it is used
 * (a malformed one changes nothing); one that cannot fill the response keeps its slots. */
static pl_status act_external(struct pl__turn *t, const struct pl__dlg_step *s) {
    int64_t t0 = pl_time_mono_us();
    bool web = s->action == PL__ACT_WEBHOOK;
    const char *kind = web ? "webhook" : "nats";
    bool configured = !web || t->sp->webhooks[s->webhook].url[0];
    if (t->o->local_only && configured)
        return calls_out(t, kind); /* an unconfigured webhook is answered here and now */
    const char *name = web ? t->sp->webhooks[s->webhook].name : s->subject;
    struct pl_dlg_call r;
    memset(&r, 0, sizeof r);
    const struct pl_dlg_call *prev = replayed(t);
    if (prev) { /* made by an earlier run of this turn (a webhook: on the I/O thread) */
        r = *prev;
        r.body = NULL;
        if (prev->body && !(r.body = pl_strdup(prev->body))) return PL_ERR(PL_E_NOMEM, "action");
    } else {
        char *req = pl__dlg_ext_request(t->st, pl__turn_cur(t), t->turn_no, t->out->intent,
                                        t->text, t->nlu, kind, name);
        if (!req) return PL_ERR(PL_E_NOMEM, "action");
        if (web && configured && t->o->replay) /* the caller makes the call, then runs again */
            return defer(t, PL_DLG_CALL_WEBHOOK, s->webhook, NULL, 0, req, kind);
        if (!web && t->o->replay && t->o->replay->defer_all && t->o->hooks &&
            t->o->hooks->nats_request) /* the same for a NATS request */
            return defer(t, PL_DLG_CALL_NATS, -1, s->subject, s->timeout_ms, req, kind);
        if (web) pl__dlg_webhook_call(&t->sp->webhooks[s->webhook], req, t->o->deadline_us, &r);
        else nats_call(t, s, req, &r);
        pl_free(req);
        if (!web) r.duration_ms = (pl_time_mono_us() - t0) / 1000;
        pl_status rst = record(t, &r);
        if (rst != PL_OK) {
            pl_dlg_call_deinit(&r);
            return rst;
        }
    }
    json_t *reply = NULL;
    if (r.st == PL_OK && pl__dlg_ext_reply_parse(r.body, r.len, &reply) != PL_OK) {
        r.st = PL_E_FORMAT;
        snprintf(r.error, sizeof r.error, "%s '%s': %s", kind, name, pl_last_error());
    }
    pl_status st = reply ? apply_reply(t, reply) : PL_OK;
    const char *text = json_string_value(json_object_get(reply, "text"));
    char *said = NULL;
    if (st == PL_OK && reply && s->response >= 0) {
        st = pl__turn_render(t, s->response, pl__turn_cur(t), &said);
        if (st == PL_E_NOT_FOUND && (!text || !*text)) {
            r.st = PL_E_FORMAT;
            snprintf(r.error, sizeof r.error, "%s '%s': the reply does not fill response '%s'",
                     kind, name, t->sp->responses[s->response].name);
        }
        if (st == PL_E_NOT_FOUND) st = PL_OK;
    }
    char res[512], err[256], n_att[16], code[16];
    pl__dlg_excerpt(res, sizeof res, text ? text : r.body);
    pl__dlg_excerpt(err, sizeof err, r.error);
    snprintf(n_att, sizeof n_att, "%d", r.attempts);
    snprintf(code, sizeof code, "%d", r.http_status);
    json_t *args = web ? json_pack("{s:s,s:s,s:s}", "webhook", name, "attempts", n_att,
                                   "http_status", code)
                       : json_pack("{s:s}", "subject", name);
    bool close = r.st == PL_OK && json_is_true(json_object_get(reply, "close"));
    if (st == PL_OK)
        st = action_event_ms(t, kind, args, res, r.st == PL_OK, err, t0, r.duration_ms);
    else json_decref(args);
    if (st == PL_OK && r.st != PL_OK)
        st = pl__turn_say(t, failed_response(t, s, r.unconfigured), pl__turn_cur(t), false);
    else if (st == PL_OK && said) {
        st = pl__turn_add_reply(t, said, t->sp->responses[s->response].name, false,
                                pl__turn_cur(t)->id);
        said = NULL;
    } else if (st == PL_OK && text && *text) {
        char *copy = pl_strdup(text);
        st = copy ? pl__turn_add_reply(t, copy, kind, false, pl__turn_cur(t)->id)
                  : PL_ERR(PL_E_NOMEM, "action");
    }
    pl_free(said);
    json_decref(reply);
    pl_dlg_call_deinit(&r);
    PL_TRY(st);
    return close ? pl__turn_finish_flow(t) : PL_OK;
}

static pl_status run_step(struct pl__turn *t, const struct pl__dlg_step *s) {
    struct pl_dlg_ctx *c = pl__turn_cur(t);
    switch (s->kind) {
    case PL__STEP_SAY: return pl__turn_say(t, s->response, c, false);
    case PL__STEP_START:
        if (++t->depth > 16) return PL_ERR(PL_E_INTERNAL, "flows start flows too deep");
        t->finishes++;
        PL_TRY(pl__turn_close_current(t));
        if (pl__turn_cur(t) && pl__turn_cur(t)->state != PL_DLG_CTX_OPEN) {
            struct pl_dlg_ctx *r = pl__turn_previous_open(t);
            if (r) snprintf(t->ctx_id, sizeof t->ctx_id, "%s", r->id);
        }
        return pl__turn_flow_intent(t, s->flow);
    case PL__STEP_ACTION: break;
    }
    switch (s->action) {
    case PL__ACT_KB_ANSWER: return pl__turn_kb_answer(t, s->response, s->empty);
    case PL__ACT_TELL_TIME: return tell_clock(t, s, false);
    case PL__ACT_TELL_DATE: return tell_clock(t, s, true);
    case PL__ACT_SET_SLOT:
    case PL__ACT_CLEAR_SLOT: return act_slot(t, s);
    case PL__ACT_CLOSE:
        PL_TRY(action_event(t, "close", NULL, "", true, "", pl_time_mono_us()));
        if (s->response >= 0) PL_TRY(pl__turn_say(t, s->response, c, false));
        return pl__turn_finish_flow(t);
    case PL__ACT_SAVE: return act_save(t, s);
    case PL__ACT_LIST:
    case PL__ACT_CANCEL: return act_records(t, s);
    case PL__ACT_WEBHOOK:
    case PL__ACT_NATS: return act_external(t, s);
    }
    return PL_OK;
}

pl_status pl__turn_run_steps(struct pl__turn *t, const struct pl__dlg_steps *steps) {
    for (int i = 0; i < steps->n; i++) {
        struct pl_dlg_ctx *c = pl__turn_cur(t);
        if (!c) break;
        bool start = steps->v[i].kind == PL__STEP_START;
        PL_TRY(run_step(t, &steps->v[i]));
        if (start) break; /* the started flow owns the rest of the turn */
    }
    return PL_OK;
}
