/*
 * dialog_engine.c - one user turn (pl_dlg_turn_run, dialog.h). docs/dialog.md, "The turn",
 * states the policy in words; in short, in this order:
 *
 *   1. keywords: a spec intent with keyword phrases matches a short utterance that contains
 *      one (small talk, "my bookings"): its steps run; a pending prompt is asked again.
 *   2. a prompt is pending in the active context (a slot or the confirmation):
 *      - the NLU intent is this flow's: its slots fill the form;
 *      - the NLU intent belongs to another flow, and the utterance does not look like an
 *        answer (confident, long enough, with slots of that flow and none for the slot
 *        asked): that flow's context opens (or an open one is switched to);
 *      - otherwise the utterance answers the prompt: the slot asked is filled from the NLU
 *        slots mapped to it, else from the text (a number, a choice, or the words); at the
 *        confirmation, slot values are corrections, else yes or no.
 *   3. no prompt pending: a trusted NLU intent starts its flow or runs its steps; else the
 *      fallback: re-prompt once, then the knowledge base (questions go there at once).
 *
 * A flow whose form is complete (and confirmed) runs its `done` steps and closes its context;
 * the context it interrupted becomes active again and says so with its pending prompt.
 */
#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "dialog_impl.h"
#include "strbuf.h"
#include "util.h"

#define CONFIRM "!confirm"
#define MAX_VARS 24
#define ENGINE_VARS 10 /* room kept for the engine's own (result, prompt, slot, ...) */

struct turn {
    const struct pl_dlg_spec *sp;
    struct pl_dlg_state *st;
    const struct pl_dlg_turn_opts *o;
    struct pl_dlg_turn *out;
    const char *text;
    char *norm;
    const struct pl_dlg_nlu *nlu;
    char ctx_id[PL_DLG_ID_LEN]; /* the context the turn works in now (pointers move) */
    int turn_no;
    int64_t now;
    struct pl_dlg_kv vars[MAX_VARS];
    int n_vars;
    int depth;    /* flows started by flows */
    int finishes; /* flows finished (or handed over by `start`) so far in this turn */
};

static struct pl_dlg_ctx *cur(struct turn *t) { return pl_dlg_state_find(t->st, t->ctx_id); }

static pl_status set_var(struct turn *t, const char *name, const char *value) {
    for (int i = 0; i < t->n_vars; i++)
        if (!strcmp(t->vars[i].name, name)) return pl__dlg_set_str(&t->vars[i].value, value);
    PL_ASSERT(t->n_vars < MAX_VARS);
    struct pl_dlg_kv *kv = &t->vars[t->n_vars];
    kv->name = pl_strdup(name);
    kv->value = pl_strdup(value);
    if (!kv->name || !kv->value) {
        pl_free(kv->name);
        pl_free(kv->value);
        return PL_ERR(PL_E_NOMEM, "turn");
    }
    t->n_vars++;
    return PL_OK;
}

static void unset_var(struct turn *t, const char *name) {
    for (int i = 0; i < t->n_vars; i++) {
        if (strcmp(t->vars[i].name, name)) continue;
        pl_free(t->vars[i].name);
        pl_free(t->vars[i].value);
        t->vars[i] = t->vars[--t->n_vars];
        return;
    }
}

/* ---- replies -------------------------------------------------------------------------------- */

/* Render response r with context c's slots and the turn's variables. */
static pl_status render(struct turn *t, int r, const struct pl_dlg_ctx *c, char **out) {
    struct pl_dlg_vars v = {t->vars, t->n_vars};
    return pl__dlg_render(t->sp, r, t->turn_no, &v, c ? c->slots : NULL, c ? c->n_slots : 0, out);
}

static pl_status add_reply(struct turn *t, char *text, const char *response, bool expects,
                           const char *ctx_id) {
    struct pl_dlg_turn *o = t->out;
    struct pl_dlg_reply *v = pl_realloc(o->replies, (size_t)(o->n_replies + 1) * sizeof *v);
    if (!v) {
        pl_free(text);
        return PL_ERR(PL_E_NOMEM, "reply");
    }
    o->replies = v;
    v[o->n_replies].text = text;
    v[o->n_replies].response = pl_strdup(response);
    v[o->n_replies].expects_input = expects;
    if (!v[o->n_replies].response) return PL_ERR(PL_E_NOMEM, "reply");
    o->n_replies++;
    return pl__dlg_turn_event_json(o, PL_DLG_EV_BOT, ctx_id, t->turn_no, t->now,
                                   json_pack("{s:s,s:s,s:b}", "text", text, "response", response,
                                             "expects_input", expects));
}

/* Say response r in context c. A response that cannot be filled is a spec bug the validation
 * did not catch (a slot that is not set): said as an error event, never a crash. */
static pl_status say(struct turn *t, int r, struct pl_dlg_ctx *c, bool expects) {
    char *text = NULL;
    pl_status st = render(t, r, c, &text);
    if (st == PL_E_NOT_FOUND)
        return pl__dlg_lifecycle(t->out, PL_DLG_E_ERROR, c ? c->id : "", t->turn_no, t->now,
                                 "a response could not be filled", "response",
                                 t->sp->responses[r].name);
    PL_TRY(st);
    return add_reply(t, text, t->sp->responses[r].name, expects, c ? c->id : "");
}

/* ---- slots ---------------------------------------------------------------------------------- */

/* Set a slot and log it with where the value came from: "nlu", "entity", "answer", "action". */
static pl_status set_slot(struct turn *t, struct pl_dlg_ctx *c, const char *name, const char *v,
                          const char *source) {
    PL_TRY(pl_dlg_ctx_set_slot(c, name, v));
    return pl__dlg_turn_event_json(t->out, PL_DLG_EV_SLOT, c->id, t->turn_no, t->now,
                                   json_pack("{s:s,s:s,s:s}", "name", name, "value", v ? v : "",
                                             "source", source));
}

/* Is value valid for slot sl? On failure the invalid response is said and false returned. */
static pl_status validate(struct turn *t, struct pl_dlg_ctx *c, int si, const char *value,
                          bool *ok) {
    const struct pl__dlg_slot *sl = &t->sp->slots[si];
    *ok = true;
    long n = 0;
    if (sl->type == PL__SLOT_NUMBER)
        *ok = pl_dlg_parse_number(value, &n) && (!sl->has_min || n >= sl->min) &&
              (!sl->has_max || n <= sl->max);
    if (*ok) return PL_OK;
    char lo[32], hi[32];
    snprintf(lo, sizeof lo, "%ld", sl->min);
    snprintf(hi, sizeof hi, "%ld", sl->max);
    PL_TRY(set_var(t, "slot", sl->name));
    PL_TRY(set_var(t, "value", value));
    PL_TRY(set_var(t, "min", lo));
    PL_TRY(set_var(t, "max", hi));
    return say(t, sl->invalid >= 0 ? sl->invalid : t->sp->r_invalid, c, false);
}

/* Does slot si belong to flow f (required or optional)? */
static bool flow_has(const struct pl__dlg_flow *f, int si) {
    for (int i = 0; i < f->n_required; i++)
        if (f->required[i] == si) return true;
    for (int i = 0; i < f->n_optional; i++)
        if (f->optional[i] == si) return true;
    return false;
}

/* The slot of flow f that NLU label fills, or -1. */
static int slot_for_label(const struct pl_dlg_spec *sp, const struct pl__dlg_flow *f,
                          const char *label) {
    for (int si = 0; si < sp->n_slots; si++) {
        if (f && !flow_has(f, si)) continue;
        for (int k = 0; k < sp->slots[si].n_nlu; k++)
            if (!strcmp(sp->slots[si].nlu[k], label)) return si;
    }
    return -1;
}

/* The first NER entity of a type slot si maps (`entities:`), for a slot the tagger missed;
 * number slots take only a number. OUT: *v (caller owns) or NULL. */
static pl_status entity_value(struct turn *t, int si, char **v) {
    const struct pl__dlg_slot *sl = &t->sp->slots[si];
    for (int i = 0; i < t->nlu->n_entities; i++) {
        const struct pl_dlg_nlu_slot *e = &t->nlu->entities[i];
        long num;
        for (int k = 0; k < sl->n_entities; k++) {
            if (strcmp(sl->entities[k], e->label) || !e->value[0]) continue;
            if (sl->type == PL__SLOT_NUMBER && !pl_dlg_parse_number(e->value, &num)) continue;
            *v = pl_strdup(e->value);
            return *v ? PL_OK : PL_ERR(PL_E_NOMEM, "slot");
        }
    }
    return PL_OK;
}

/* The value of slot si from the NLU slots mapped to it: one span, or several pieces joined
 * (adjacent pieces as the utterance has them: "tonight at eight"). Number slots take the
 * first piece that is a number. When no NLU slot fills it and the slot is empty (or asked),
 * a named entity of a mapped type does. OUT: *v (caller owns) or NULL, *src "nlu"/"entity". */
static pl_status nlu_value(struct turn *t, const struct pl__dlg_flow *f, int si, char **v,
                           const char **src) {
    *v = NULL;
    *src = "nlu";
    int first = -1, last = -1;
    size_t tl = strlen(t->text);
    for (int i = 0; i < t->nlu->n_slots; i++) {
        const struct pl_dlg_nlu_slot *s = &t->nlu->slots[i];
        if (slot_for_label(t->sp, f, s->label) != si) continue;
        long num;
        if (t->sp->slots[si].type == PL__SLOT_NUMBER) {
            if (!pl_dlg_parse_number(s->value, &num)) continue;
            *v = pl_strdup(s->value);
            return *v ? PL_OK : PL_ERR(PL_E_NOMEM, "slot");
        }
        bool spans = s->start >= 0 && s->end > s->start && (size_t)s->end <= tl;
        if (first < 0) {
            first = last = i;
            if (!spans) break;
            continue;
        }
        const struct pl_dlg_nlu_slot *l = &t->nlu->slots[last];
        if (spans && l->end >= 0 && s->start >= l->end && s->start - l->end <= 4) last = i;
    }
    const struct pl_dlg_ctx *c = cur(t);
    if (first < 0 && (!pl_dlg_ctx_slot(c, t->sp->slots[si].name) ||
                      !strcmp(c->awaiting, t->sp->slots[si].name))) {
        *src = "entity";
        return entity_value(t, si, v);
    }
    if (first < 0) return PL_OK;
    const struct pl_dlg_nlu_slot *a = &t->nlu->slots[first], *b = &t->nlu->slots[last];
    if (first != last)
        *v = pl_strndup(t->text + a->start, (size_t)(b->end - a->start));
    else
        *v = pl_strdup(a->value);
    return *v ? PL_OK : PL_ERR(PL_E_NOMEM, "slot");
}

/* Fill context c (flow f) from the NLU slots. *filled_asked: the slot c awaits got a value;
 * *n_set: slots set; *invalid: a value failed validation (its response was said). */
static pl_status fill_from_nlu(struct turn *t, struct pl_dlg_ctx *c, const struct pl__dlg_flow *f,
                               bool *filled_asked, int *n_set, bool *invalid) {
    *filled_asked = *invalid = false;
    *n_set = 0;
    for (int si = 0; si < t->sp->n_slots; si++) {
        if (!flow_has(f, si)) continue;
        char *v = NULL;
        const char *src;
        PL_TRY(nlu_value(t, f, si, &v, &src));
        if (!v) continue;
        bool ok;
        pl_status st = validate(t, c, si, v, &ok);
        if (st == PL_OK && ok) st = set_slot(t, c, t->sp->slots[si].name, v, src);
        pl_free(v);
        PL_TRY(st);
        if (!ok) {
            *invalid = true;
            PL_TRY(pl__dlg_set_str(&c->awaiting, t->sp->slots[si].name));
            continue;
        }
        (*n_set)++;
        if (!strcmp(c->awaiting, t->sp->slots[si].name)) *filled_asked = true;
    }
    return PL_OK;
}

/* The answer to a prompt for slot si, from the text alone. OUT: *v (caller owns) or NULL. */
static pl_status typed_value(struct turn *t, int si, char **v) {
    *v = NULL;
    const struct pl__dlg_slot *sl = &t->sp->slots[si];
    if (sl->type == PL__SLOT_NUMBER) {
        long n;
        if (!pl_dlg_parse_number(t->text, &n)) return PL_OK;
        char buf[32];
        snprintf(buf, sizeof buf, "%ld", n);
        *v = pl_strdup(buf);
    } else if (sl->type == PL__SLOT_CHOICE) {
        for (int i = 0; i < sl->n_choices && !*v; i++)
            if (pl_dlg_has_phrase(t->norm, sl->choices[i])) *v = pl_strdup(sl->choices[i]);
        if (!*v) return PL_OK;
    } else { /* the words, less the leading ones the slot strips ("in", "at") */
        const char *p = t->norm;
        for (bool again = true; again;) {
            again = false;
            for (int i = 0; i < sl->n_strip; i++) {
                size_t n = strlen(sl->strip[i]);
                if (!strncmp(p, sl->strip[i], n) && p[n] == ' ') {
                    p += n + 1;
                    again = true;
                }
            }
        }
        if (!*p) return PL_OK;
        *v = pl_strdup(p);
    }
    return *v ? PL_OK : PL_ERR(PL_E_NOMEM, "slot");
}

/* ---- forms ---------------------------------------------------------------------------------- */

static pl_status run_steps(struct turn *t, const struct pl__dlg_steps *steps);
static pl_status finish_flow(struct turn *t);

/* Run the steps that end a flow (done, denied), then finish it, unless a step already did
 * (close, or start of another flow). */
static pl_status end_flow(struct turn *t, const struct pl__dlg_steps *steps) {
    int before = t->finishes;
    PL_TRY(run_steps(t, steps));
    return t->finishes == before ? finish_flow(t) : PL_OK;
}

static const struct pl__dlg_flow *flow_of(struct turn *t, const struct pl_dlg_ctx *c) {
    int f = c && c->flow[0] ? pl__dlg_spec_flow(t->sp, c->flow) : -1;
    return f >= 0 ? &t->sp->flows[f] : NULL;
}

/* The prompt for what c awaits (its slot's prompt or the confirmation). */
static int prompt_for(struct turn *t, const struct pl_dlg_ctx *c) {
    const struct pl__dlg_flow *f = flow_of(t, c);
    if (!f || !c->awaiting[0]) return -1;
    if (!strcmp(c->awaiting, CONFIRM)) return f->confirm;
    int si = pl__dlg_spec_slot(t->sp, c->awaiting);
    return si >= 0 ? t->sp->slots[si].prompt : -1;
}

/* Move the form of the current context on: ask the first missing slot, else the
 * confirmation, else run `done` and finish. */
static pl_status advance(struct turn *t) {
    struct pl_dlg_ctx *c = cur(t);
    const struct pl__dlg_flow *f = flow_of(t, c);
    if (!f) return PL_OK;
    for (int i = 0; i < f->n_required; i++) {
        const struct pl__dlg_slot *sl = &t->sp->slots[f->required[i]];
        if (pl_dlg_ctx_slot(c, sl->name)) continue;
        PL_TRY(pl__dlg_set_str(&c->awaiting, sl->name));
        c->dirty = true;
        return say(t, sl->prompt, c, true);
    }
    if (f->confirm >= 0) {
        PL_TRY(pl__dlg_set_str(&c->awaiting, CONFIRM));
        c->dirty = true;
        return say(t, f->confirm, c, true);
    }
    PL_TRY(pl__dlg_set_str(&c->awaiting, ""));
    return end_flow(t, &f->done);
}

/* Re-ask what the current context awaits (after small talk or a failed validation). */
static pl_status reprompt(struct turn *t) {
    struct pl_dlg_ctx *c = cur(t);
    int r = c && c->state == PL_DLG_CTX_OPEN ? prompt_for(t, c) : -1;
    return r >= 0 ? say(t, r, c, true) : PL_OK;
}

/* The open context that was active before the current one, or NULL. */
static struct pl_dlg_ctx *previous_open(struct turn *t) {
    struct pl_dlg_ctx *best = NULL;
    for (int i = 0; i < t->st->n_ctx; i++) {
        struct pl_dlg_ctx *c = &t->st->ctx[i];
        if (c->state != PL_DLG_CTX_OPEN || !strcmp(c->id, t->ctx_id)) continue;
        if (!best || c->activated > best->activated) best = c;
    }
    return best;
}

/* Make context r active again and say so with its pending prompt. */
static pl_status resume(struct turn *t, struct pl_dlg_ctx *r, const char *from) {
    r->activated = t->st->next_activation++;
    r->dirty = true;
    snprintf(t->ctx_id, sizeof t->ctx_id, "%s", r->id);
    PL_TRY(pl__dlg_lifecycle(t->out, PL_DLG_E_CONTEXT_SWITCHED, r->id, t->turn_no, t->now,
                             "resumed the interrupted context", "previous_context_id", from));
    t->out->switched = true;
    int p = prompt_for(t, r);
    if (p < 0) return PL_OK;
    char *prompt = NULL;
    PL_TRY(render(t, p, r, &prompt));
    pl_status st = set_var(t, "prompt", prompt);
    pl_free(prompt);
    PL_TRY(st);
    const struct pl__dlg_flow *f = flow_of(t, r);
    int rr = f && f->resume >= 0 ? f->resume : t->sp->r_resume;
    st = say(t, rr, r, true);
    unset_var(t, "prompt");
    return st;
}

/* Close the current context (its flow is over), or make it idle when it is the only one. */
static pl_status close_current(struct turn *t) {
    struct pl_dlg_ctx *c = cur(t);
    if (!c || c->state != PL_DLG_CTX_OPEN) return PL_OK;
    c->dirty = true;
    c->updated_ms = t->now;
    PL_TRY(pl__dlg_set_str(&c->awaiting, ""));
    if (!previous_open(t)) { /* the last open context stays, idle and empty */
        PL_TRY(pl__dlg_set_str(&c->flow, ""));
        while (c->n_slots > 0) PL_TRY(pl_dlg_ctx_set_slot(c, c->slots[0].name, NULL));
        return PL_OK;
    }
    c->state = PL_DLG_CTX_CLOSED;
    return pl__dlg_lifecycle(t->out, PL_DLG_E_CONTEXT_CLOSED, c->id, t->turn_no, t->now,
                             "context closed", "flow", c->flow);
}

static pl_status finish_flow(struct turn *t) {
    t->finishes++;
    char from[PL_DLG_ID_LEN];
    snprintf(from, sizeof from, "%s", t->ctx_id);
    PL_TRY(close_current(t));
    struct pl_dlg_ctx *c = cur(t);
    if (c && c->state == PL_DLG_CTX_OPEN) return PL_OK; /* it was the last: idle now */
    struct pl_dlg_ctx *r = previous_open(t);
    return r ? resume(t, r, from) : PL_OK;
}

/* Start flow fi: in the current context when it is idle (or already serves fi), else in the
 * open context that serves it (switching there), else in a new context. */
static pl_status start_flow(struct turn *t, int fi) {
    const struct pl__dlg_flow *f = &t->sp->flows[fi];
    struct pl_dlg_ctx *c = cur(t);
    if (c && c->state == PL_DLG_CTX_OPEN && (!c->flow[0] || !strcmp(c->flow, f->name))) {
        PL_TRY(pl__dlg_set_str(&c->flow, f->name));
        c->dirty = true;
        return PL_OK;
    }
    for (int i = 0; i < t->st->n_ctx; i++) {
        struct pl_dlg_ctx *o = &t->st->ctx[i];
        if (o->state != PL_DLG_CTX_OPEN || strcmp(o->flow, f->name)) continue;
        char prev[PL_DLG_ID_LEN];
        PL_TRY(pl_dlg_context_switch(t->st, o->id, t->now, t->out, prev));
        snprintf(t->ctx_id, sizeof t->ctx_id, "%s", o->id);
        t->out->switched = true;
        return PL_OK;
    }
    struct pl_dlg_ctx *n = NULL;
    PL_TRY(pl_dlg_context_create(t->st, "", NULL, 0, true, t->now, t->out, &n));
    PL_TRY(pl__dlg_set_str(&n->flow, f->name));
    snprintf(t->ctx_id, sizeof t->ctx_id, "%s", n->id);
    t->out->switched = true;
    return PL_OK;
}

/* An intent of a flow: open/switch to it, fill from NLU, move the form on. */
static pl_status flow_intent(struct turn *t, int fi) {
    PL_TRY(start_flow(t, fi));
    struct pl_dlg_ctx *c = cur(t);
    bool asked, invalid;
    int n;
    PL_TRY(fill_from_nlu(t, c, &t->sp->flows[fi], &asked, &n, &invalid));
    return invalid ? reprompt(t) : advance(t);
}

/* ---- actions -------------------------------------------------------------------------------- */

static pl_status action_event(struct turn *t, const char *name, json_t *args, const char *result,
                              bool ok, const char *error, int64_t t0) {
    struct pl_dlg_ctx *c = cur(t);
    int64_t ms = (pl_time_mono_us() - t0) / 1000;
    return pl__dlg_turn_event_json(
        t->out, PL_DLG_EV_ACTION, c ? c->id : "", t->turn_no, t->now,
        json_pack("{s:s,s:o,s:s,s:b,s:s,s:I}", "name", name, "arguments",
                  args ? args : json_object(), "result", result ? result : "", "ok", ok,
                  "error", error ? error : "", "duration_ms", (json_int_t)ms));
}

/* The knowledge base's answer to the utterance; says it (response `r`, else the answer as
 * is) or the spec's kb_no_answer / kb_unavailable. */
static pl_status kb_answer(struct turn *t, int r, int empty) {
    int64_t t0 = pl_time_mono_us();
    char *ans = NULL;
    pl_status st = PL_E_UNAVAILABLE;
    const char *err = "no knowledge base";
    if (t->o->hooks && t->o->hooks->kb_answer) {
        st = t->o->hooks->kb_answer(t->o->hooks_ud, t->text, t->o->deadline_us, &ans);
        err = st == PL_OK ? "" : pl_last_error();
    }
    char errbuf[256];
    snprintf(errbuf, sizeof errbuf, "%s", err);
    pl_status est = action_event(t, "kb_answer", json_pack("{s:s}", "question", t->text),
                                 ans, st == PL_OK, errbuf, t0);
    if (est != PL_OK) {
        pl_free(ans);
        return est;
    }
    struct pl_dlg_ctx *c = cur(t);
    if (st != PL_OK) return say(t, t->sp->r_kb_failed, c, false);
    if (!ans || !ans[0]) {
        pl_free(ans);
        return say(t, empty >= 0 ? empty : t->sp->r_kb_no_answer, c, false);
    }
    st = set_var(t, "answer", ans);
    if (st == PL_OK) st = set_var(t, "result", ans);
    if (st == PL_OK && r >= 0) {
        pl_free(ans);
        return say(t, r, c, false);
    }
    return st == PL_OK ? add_reply(t, ans, "kb_answer", false, c ? c->id : "") : st;
}

static pl_status tell_clock(struct turn *t, const struct pl__dlg_step *s, bool date) {
    int64_t t0 = pl_time_mono_us();
    time_t secs = (time_t)(t->now / 1000) + (time_t)t->o->tz_offset_min * 60;
    struct tm tm;
    gmtime_r(&secs, &tm);
    char buf[64];
    if (date) strftime(buf, sizeof buf, "%A, %B %d", &tm);
    else strftime(buf, sizeof buf, "%H:%M", &tm);
    PL_TRY(set_var(t, "result", buf));
    PL_TRY(action_event(t, date ? "tell_date" : "tell_time", NULL, buf, true, "", t0));
    return s->response >= 0 ? say(t, s->response, cur(t), false) : PL_OK;
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

static pl_status add_effect(struct turn *t, bool cancel, const char *kind, char *data, int64_t id) {
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

static pl_status act_save(struct turn *t, const struct pl__dlg_step *s) {
    int64_t t0 = pl_time_mono_us();
    char *data = slots_json(cur(t));
    if (!data) return PL_ERR(PL_E_NOMEM, "record");
    pl_status st = action_event(t, "save", json_pack("{s:s}", "kind", s->kind_name), data, true,
                                "", t0);
    if (st != PL_OK) {
        pl_free(data);
        return st;
    }
    PL_TRY(add_effect(t, false, s->kind_name, data, 0));
    return s->response >= 0 ? say(t, s->response, cur(t), false) : PL_OK;
}

/* One record as text: the step's item response over the record's fields, else its JSON. */
static pl_status render_record(struct turn *t, const struct pl__dlg_step *s,
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
        if (json_is_string(v) && st == PL_OK) st = pl_dlg_ctx_set_slot(&tmp, k, json_string_value(v));
    }
    json_decref(o);
    if (st == PL_OK) st = render(t, s->item, &tmp, out);
    for (int i = 0; i < tmp.n_slots; i++) {
        pl_free(tmp.slots[i].name);
        pl_free(tmp.slots[i].value);
    }
    pl_free(tmp.slots);
    return st;
}

/* list / cancel over the user's records of the step's kind. */
static pl_status act_records(struct turn *t, const struct pl__dlg_step *s) {
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
    if (st == PL_OK) st = set_var(t, cancel ? "result" : "items", result);
    if (st == PL_OK) st = set_var(t, "count", count);
    if (st == PL_OK && cancel && n > 0) st = add_effect(t, true, s->kind_name, NULL, recs[pick - 1].id);
    pl_status est = action_event(t, cancel ? "cancel" : "list",
                                 json_pack("{s:s}", "kind", s->kind_name), result, st == PL_OK,
                                 st == PL_OK ? "" : pl_last_error(), t0);
    pl_strbuf_deinit(&sb);
    pl_dlg_records_free(recs, n);
    PL_TRY(est);
    struct pl_dlg_ctx *c = cur(t);
    if (st != PL_OK) return say(t, t->sp->r_kb_failed, c, false);
    if (n == 0) return s->empty >= 0 ? say(t, s->empty, c, false) : PL_OK;
    return s->response >= 0 ? say(t, s->response, c, false) : PL_OK;
}

static pl_status act_slot(struct turn *t, const struct pl__dlg_step *s) {
    int64_t t0 = pl_time_mono_us();
    struct pl_dlg_ctx *c = cur(t);
    const char *name = t->sp->slots[s->slot].name;
    char *v = NULL;
    if (s->action == PL__ACT_SET_SLOT) {
        struct pl_dlg_vars vars = {t->vars, t->n_vars};
        pl_status st = pl_dlg_template_fill(s->value, &vars, c->slots, c->n_slots, &v);
        if (st == PL_E_NOT_FOUND) return action_event(t, "set_slot", NULL, "", false,
                                                      "the value's template has an unset name", t0);
        PL_TRY(st);
    }
    pl_status st = set_slot(t, c, name, v, "action");
    if (st == PL_OK)
        st = action_event(t, s->action == PL__ACT_SET_SLOT ? "set_slot" : "clear_slot",
                          json_pack("{s:s}", "slot", name), v, true, "", t0);
    pl_free(v);
    PL_TRY(st);
    return s->response >= 0 ? say(t, s->response, c, false) : PL_OK;
}

/* ---- external actions: webhook, nats (dialog_external.c) ---------------------------------- */

static bool declared_var(const struct pl_dlg_spec *sp, const char *name) {
    for (int i = 0; i < sp->n_vars; i++)
        if (!strcmp(sp->vars[i], name)) return true;
    return false;
}

/* Apply a checked reply: {result} = its text, its declared variables, its changes to slots the
 * spec defines (a number slot only takes a number); anything else in it is ignored. */
static pl_status apply_reply(struct turn *t, json_t *o) {
    const char *k;
    json_t *v;
    json_t *text = json_object_get(o, "text");
    if (json_is_string(text)) PL_TRY(set_var(t, "result", json_string_value(text)));
    json_object_foreach(json_object_get(o, "vars"), k, v) {
        if (!declared_var(t->sp, k) || t->n_vars >= MAX_VARS - ENGINE_VARS) continue;
        char *s = pl__dlg_json_text(v);
        pl_status st = s ? set_var(t, k, s) : PL_ERR(PL_E_NOMEM, "action");
        pl_free(s);
        PL_TRY(st);
    }
    struct pl_dlg_ctx *c = cur(t);
    json_object_foreach(json_object_get(o, "slots"), k, v) {
        int si = pl__dlg_spec_slot(t->sp, k);
        if (si < 0) continue;
        char *s = json_is_null(v) ? NULL : pl__dlg_json_text(v);
        long num;
        bool skip = s && t->sp->slots[si].type == PL__SLOT_NUMBER && !pl_dlg_parse_number(s, &num);
        pl_status st = skip || (s || json_is_null(v)) ? PL_OK : PL_ERR(PL_E_NOMEM, "action");
        if (st == PL_OK && !skip) st = set_slot(t, c, t->sp->slots[si].name, s, "action");
        pl_free(s);
        PL_TRY(st);
    }
    return PL_OK;
}

static void nats_call(struct turn *t, const struct pl__dlg_step *s, const char *req,
                      struct pl__dlg_ext_result *r) {
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
static int failed_response(struct turn *t, const struct pl__dlg_step *s, bool unconfigured) {
    if (unconfigured && s->unconfigured >= 0) return s->unconfigured;
    if (s->failed >= 0) return s->failed;
    return t->sp->r_action_failed >= 0 ? t->sp->r_action_failed : t->sp->r_kb_failed;
}

/* A webhook or nats step: send the turn as JSON, check the reply, apply it, say the step's
 * response (or the reply's text); any failure (unconfigured, refused, hanging past the
 * timeout, non-2xx, not the JSON expected, a response the reply cannot fill) is logged with
 * its error and answered with the apology. A reply is checked whole before any of it is used
 * (a malformed one changes nothing); one that cannot fill the response keeps its slots. */
static pl_status act_external(struct turn *t, const struct pl__dlg_step *s) {
    int64_t t0 = pl_time_mono_us();
    bool web = s->action == PL__ACT_WEBHOOK;
    const char *kind = web ? "webhook" : "nats";
    const char *name = web ? t->sp->webhooks[s->webhook].name : s->subject;
    struct pl__dlg_ext_result r;
    memset(&r, 0, sizeof r);
    char *req = pl__dlg_ext_request(t->st, cur(t), t->turn_no, t->out->intent, t->text, t->nlu,
                                    kind, name);
    if (!req) return PL_ERR(PL_E_NOMEM, "action");
    if (web) pl__dlg_webhook_call(&t->sp->webhooks[s->webhook], req, t->o->deadline_us, &r);
    else nats_call(t, s, req, &r);
    pl_free(req);
    json_t *reply = NULL;
    if (r.st == PL_OK && pl__dlg_ext_reply_parse(r.body, r.len, &reply) != PL_OK) {
        r.st = PL_E_FORMAT;
        snprintf(r.error, sizeof r.error, "%s '%s': %s", kind, name, pl_last_error());
    }
    pl_status st = reply ? apply_reply(t, reply) : PL_OK;
    const char *text = json_string_value(json_object_get(reply, "text"));
    char *said = NULL;
    if (st == PL_OK && reply && s->response >= 0) {
        st = render(t, s->response, cur(t), &said);
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
    if (st == PL_OK) st = action_event(t, kind, args, res, r.st == PL_OK, err, t0);
    else json_decref(args);
    if (st == PL_OK && r.st != PL_OK)
        st = say(t, failed_response(t, s, r.unconfigured), cur(t), false);
    else if (st == PL_OK && said) {
        st = add_reply(t, said, t->sp->responses[s->response].name, false, cur(t)->id);
        said = NULL;
    } else if (st == PL_OK && text && *text) {
        char *copy = pl_strdup(text);
        st = copy ? add_reply(t, copy, kind, false, cur(t)->id) : PL_ERR(PL_E_NOMEM, "action");
    }
    pl_free(said);
    json_decref(reply);
    pl__dlg_ext_result_deinit(&r);
    PL_TRY(st);
    return close ? finish_flow(t) : PL_OK;
}

static pl_status run_step(struct turn *t, const struct pl__dlg_step *s) {
    struct pl_dlg_ctx *c = cur(t);
    switch (s->kind) {
    case PL__STEP_SAY: return say(t, s->response, c, false);
    case PL__STEP_START:
        if (++t->depth > 16) return PL_ERR(PL_E_INTERNAL, "flows start flows too deep");
        t->finishes++;
        PL_TRY(close_current(t));
        if (cur(t) && cur(t)->state != PL_DLG_CTX_OPEN) {
            struct pl_dlg_ctx *r = previous_open(t);
            if (r) snprintf(t->ctx_id, sizeof t->ctx_id, "%s", r->id);
        }
        return flow_intent(t, s->flow);
    case PL__STEP_ACTION: break;
    }
    switch (s->action) {
    case PL__ACT_KB_ANSWER: return kb_answer(t, s->response, s->empty);
    case PL__ACT_TELL_TIME: return tell_clock(t, s, false);
    case PL__ACT_TELL_DATE: return tell_clock(t, s, true);
    case PL__ACT_SET_SLOT:
    case PL__ACT_CLEAR_SLOT: return act_slot(t, s);
    case PL__ACT_CLOSE:
        PL_TRY(action_event(t, "close", NULL, "", true, "", pl_time_mono_us()));
        if (s->response >= 0) PL_TRY(say(t, s->response, c, false));
        return finish_flow(t);
    case PL__ACT_SAVE: return act_save(t, s);
    case PL__ACT_LIST:
    case PL__ACT_CANCEL: return act_records(t, s);
    case PL__ACT_WEBHOOK:
    case PL__ACT_NATS: return act_external(t, s);
    }
    return PL_OK;
}

static pl_status run_steps(struct turn *t, const struct pl__dlg_steps *steps) {
    for (int i = 0; i < steps->n; i++) {
        struct pl_dlg_ctx *c = cur(t);
        if (!c) break;
        bool start = steps->v[i].kind == PL__STEP_START;
        PL_TRY(run_step(t, &steps->v[i]));
        if (start) break; /* the started flow owns the rest of the turn */
    }
    return PL_OK;
}

/* ---- routing -------------------------------------------------------------------------------- */

/* The keyword intent the utterance matches (the longest phrase wins), or -1. */
static int keyword_intent(struct turn *t) {
    int best = -1;
    size_t best_len = 0;
    int words = pl_dlg_word_count(t->norm);
    for (int i = 0; i < t->sp->n_intents; i++) {
        const struct pl__dlg_intent *in = &t->sp->intents[i];
        for (int k = 0; k < in->n_keywords; k++) {
            const char *p = in->keywords[k];
            if (words > pl_dlg_word_count(p) + t->sp->keyword_slack) continue;
            if (pl_dlg_has_phrase(t->norm, p) && strlen(p) > best_len) {
                best = i;
                best_len = strlen(p);
            }
        }
    }
    return best;
}

/* The spec intent the NLU intent maps to, when trusted, or -1. */
static int nlu_intent(struct turn *t) {
    const char *ni = t->nlu ? t->nlu->intent : NULL;
    if (!ni || !*ni || t->nlu->score < t->sp->nlu_threshold) return -1;
    for (int i = 0; i < t->sp->n_intents; i++)
        for (int k = 0; k < t->sp->intents[i].n_nlu; k++)
            if (!strcmp(t->sp->intents[i].nlu[k], ni)) return i;
    return -1;
}

/* While context c waits for an answer: does intent ii (another flow's) take over? */
static bool takes_over(struct turn *t, const struct pl_dlg_ctx *c, int ii) {
    const struct pl__dlg_intent *in = &t->sp->intents[ii];
    if (t->nlu->score < t->sp->switch_threshold) return false;
    if (pl_dlg_word_count(t->norm) < t->sp->switch_min_words) return false;
    if (in->flow < 0) return true;
    const struct pl__dlg_flow *g = &t->sp->flows[in->flow], *f = flow_of(t, c);
    int asked = pl__dlg_spec_slot(t->sp, c->awaiting);
    bool for_g = false;
    for (int i = 0; i < t->nlu->n_slots; i++) {
        const char *label = t->nlu->slots[i].label;
        int sf = f ? slot_for_label(t->sp, f, label) : -1;
        if (asked >= 0 && sf == asked) return false; /* it answers the question */
        for_g = for_g || slot_for_label(t->sp, g, label) >= 0;
    }
    return for_g;
}

/* Run intent ii (a flow or steps) in the current context. */
static pl_status run_intent(struct turn *t, int ii) {
    const struct pl__dlg_intent *in = &t->sp->intents[ii];
    PL_TRY(pl__dlg_set_str(&t->out->intent, in->name));
    struct pl_dlg_ctx *c = cur(t);
    c->fallbacks = 0;
    if (in->flow >= 0) return flow_intent(t, in->flow);
    bool waiting = c->awaiting[0] != '\0';
    PL_TRY(run_steps(t, &in->steps));
    return waiting ? reprompt(t) : PL_OK;
}

static bool is_question(const char *text, const char *norm) {
    static const char *const wh[] = {"who", "what", "when", "where", "why", "how", "which",
                                     "whose", "is", "are", "does", "do", "can", "did"};
    size_t n = strlen(text);
    while (n > 0 && isspace((unsigned char)text[n - 1])) n--;
    if (n > 0 && text[n - 1] == '?') return true;
    for (size_t i = 0; i < PL_ARRAY_LEN(wh); i++) {
        size_t l = strlen(wh[i]);
        if (!strncmp(norm, wh[i], l) && (norm[l] == ' ' || norm[l] == '\'')) return true;
    }
    return false;
}

static pl_status fallback(struct turn *t) {
    struct pl_dlg_ctx *c = cur(t);
    c->dirty = true;
    if (c->fallbacks == 0 && !(t->sp->questions_to_kb && is_question(t->text, t->norm))) {
        c->fallbacks = 1;
        return say(t, t->sp->r_fallback, c, true);
    }
    c->fallbacks = 0;
    return kb_answer(t, -1, -1);
}

/* The answer to a confirmation: corrections (slot values), else yes or no. */
static pl_status confirm_answer(struct turn *t, const struct pl__dlg_flow *f) {
    struct pl_dlg_ctx *c = cur(t);
    bool asked, invalid;
    int n_set;
    PL_TRY(fill_from_nlu(t, c, f, &asked, &n_set, &invalid));
    if (invalid) return reprompt(t);
    for (int i = 0; n_set == 0 && i < f->n_required; i++) { /* "no, make it six" */
        int si = f->required[i];
        long num;
        if (t->sp->slots[si].type != PL__SLOT_NUMBER || !pl_dlg_parse_number(t->text, &num))
            continue;
        char *v = NULL;
        PL_TRY(typed_value(t, si, &v));
        bool ok = false;
        pl_status st = validate(t, c, si, v, &ok);
        if (st == PL_OK && ok) st = set_slot(t, c, t->sp->slots[si].name, v, "answer");
        pl_free(v);
        PL_TRY(st);
        if (!ok) return reprompt(t);
        n_set = 1;
    }
    if (n_set > 0) return advance(t);
    int yn = pl__dlg_yes_no(t->norm);
    if (yn == 0) return say(t, t->sp->r_ask_confirm, c, true);
    PL_TRY(pl__dlg_set_str(&c->awaiting, ""));
    c->dirty = true;
    return end_flow(t, yn > 0 ? &f->done : &f->denied);
}

/* The utterance answers what context c asked (slot `awaiting`). */
static pl_status slot_answer(struct turn *t, const struct pl__dlg_flow *f) {
    struct pl_dlg_ctx *c = cur(t);
    int si = pl__dlg_spec_slot(t->sp, c->awaiting);
    if (si < 0) return advance(t);
    char *v = NULL;
    const char *src;
    PL_TRY(nlu_value(t, f, si, &v, &src));
    if (!v) {
        /* NLU gave the answer another label ("boston" as a time): the words answer */
        src = "answer";
        PL_TRY(typed_value(t, si, &v));
    }
    if (!v) return reprompt(t);
    bool ok;
    pl_status st = validate(t, c, si, v, &ok);
    if (st == PL_OK && ok) st = set_slot(t, c, t->sp->slots[si].name, v, src);
    pl_free(v);
    PL_TRY(st);
    return ok ? advance(t) : reprompt(t);
}

/* A prompt is pending in the current context. */
static pl_status answer_turn(struct turn *t, int ii) {
    struct pl_dlg_ctx *c = cur(t);
    const struct pl__dlg_flow *f = flow_of(t, c);
    int fi = pl__dlg_spec_flow(t->sp, c->flow), gi = ii >= 0 ? t->sp->intents[ii].flow : -1;
    if (ii >= 0 && gi == fi && strcmp(c->awaiting, CONFIRM)) {
        PL_TRY(pl__dlg_set_str(&t->out->intent, t->sp->intents[ii].name));
        bool asked, invalid;
        int n;
        PL_TRY(fill_from_nlu(t, c, f, &asked, &n, &invalid));
        if (invalid) return reprompt(t);
        if (!asked && n == 0) return slot_answer(t, f);
        return advance(t);
    }
    if (ii >= 0 && gi != fi && takes_over(t, c, ii))
        return run_intent(t, ii);
    c->fallbacks = 0;
    if (!strcmp(c->awaiting, CONFIRM)) return confirm_answer(t, f);
    return slot_answer(t, f);
}

static pl_status route(struct turn *t) {
    int kw = keyword_intent(t);
    if (kw >= 0) return run_intent(t, kw);
    int ii = nlu_intent(t);
    struct pl_dlg_ctx *c = cur(t);
    if (flow_of(t, c) && c->awaiting[0]) return answer_turn(t, ii);
    if (ii >= 0) return run_intent(t, ii);
    return fallback(t);
}

/* ---- the turn ------------------------------------------------------------------------------- */

static json_t *spans_json(const struct pl_dlg_nlu_slot *v, int n) {
    json_t *a = json_array();
    for (int i = 0; a && i < n; i++)
        json_array_append_new(a, json_pack("{s:s,s:s,s:f,s:i,s:i}", "name", v[i].label, "value",
                                           v[i].value, "score", (double)v[i].score, "start",
                                           v[i].start, "end", v[i].end));
    return a;
}

static pl_status log_input(struct turn *t) {
    PL_TRY(pl__dlg_turn_event_json(t->out, PL_DLG_EV_USER, t->ctx_id, t->turn_no, t->now,
                                   json_pack("{s:s}", "text", t->text)));
    if (!t->nlu) return PL_OK;
    json_t *slots = spans_json(t->nlu->slots, t->nlu->n_slots);
    json_t *o = json_pack("{s:s,s:s,s:f,s:o*}", "text", t->text, "intent",
                          t->nlu->intent ? t->nlu->intent : "", "score", (double)t->nlu->score,
                          "slots", slots);
    if (o && t->nlu->n_entities > 0)
        json_object_set_new(o, "entities", spans_json(t->nlu->entities, t->nlu->n_entities));
    return pl__dlg_turn_event_json(t->out, PL_DLG_EV_NLU, t->ctx_id, t->turn_no, t->now, o);
}

static pl_status run(const struct pl_dlg_spec *spec, struct pl_dlg_state *state,
                     const char *text, const struct pl_dlg_nlu *nlu,
                     const struct pl_dlg_turn_opts *o, bool kb_only, struct pl_dlg_turn *out) {
    static const struct pl_dlg_turn_opts none = {0};
    static const struct pl_dlg_nlu no_nlu = {0};
    if (state->state != PL_DLG_SESSION_ACTIVE)
        return PL_ERR(PL_E_INVALID_ARG, "session %s has ended", state->session_id);
    if (!text || !*text) return PL_ERR(PL_E_INVALID_ARG, "the text of the turn is empty");
    struct turn t = {.sp = spec, .st = state, .o = o ? o : &none, .out = out, .text = text,
                     .nlu = nlu ? nlu : &no_nlu};
    t.now = t.o->now_ms ? t.o->now_ms : pl_time_wall_ms();
    struct pl_dlg_ctx *c = pl_dlg_state_active(state);
    if (!c) { /* every context closed (by the API): open an idle one */
        PL_TRY(pl_dlg_context_create(state, "", NULL, 0, true, t.now, out, &c));
    }
    pl_status st = PL_OK;
    if (!(t.norm = pl_dlg_normalize(text))) return PL_ERR(PL_E_NOMEM, "turn");
    c->turn_count++;
    c->updated_ms = t.now;
    c->dirty = true;
    t.turn_no = c->turn_count;
    snprintf(t.ctx_id, sizeof t.ctx_id, "%s", c->id);
    snprintf(out->context_id, sizeof out->context_id, "%s", c->id);
    out->turn = t.turn_no;
    PL_TRY_GOTO(st, pl__dlg_set_str(&out->intent, ""));
    PL_TRY_GOTO(st, log_input(&t));
    PL_TRY_GOTO(st, kb_only ? kb_answer(&t, -1, -1) : route(&t));
    PL_TRY_GOTO(st, pl__dlg_lifecycle(out, PL_DLG_E_TURN_COMPLETE, t.ctx_id, t.turn_no, t.now,
                                      "turn complete", "intent", out->intent));
fail:
    for (int i = 0; i < t.n_vars; i++) {
        pl_free(t.vars[i].name);
        pl_free(t.vars[i].value);
    }
    pl_free(t.norm);
    return st;
}

pl_status pl_dlg_turn_run(const struct pl_dlg_spec *spec, struct pl_dlg_state *state,
                          const char *text, const struct pl_dlg_nlu *nlu,
                          const struct pl_dlg_turn_opts *o, struct pl_dlg_turn *out) {
    return run(spec, state, text, nlu, o, false, out);
}

pl_status pl_dlg_turn_run_kb(const struct pl_dlg_spec *spec, struct pl_dlg_state *state,
                             const char *text, const struct pl_dlg_turn_opts *o,
                             struct pl_dlg_turn *out) {
    return run(spec, state, text, NULL, o, true, out);
}
