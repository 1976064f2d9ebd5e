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
 *
 * This file is the policy: what an utterance means for the session's contexts and forms.
 * The steps it runs (replies, built-in and external actions) are dialog_steps.c; both work on
 * one struct pl__turn (dialog_turn_impl.h).
 */
#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "dialog_impl.h"
#include "dialog_turn_impl.h"
#include "util.h"


struct pl_dlg_ctx *pl__turn_cur(struct pl__turn *t) { return pl_dlg_state_find(t->st, t->ctx_id); }

pl_status pl__turn_set_var(struct pl__turn *t, const char *name, const char *value) {
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

static void unset_var(struct pl__turn *t, const char *name) {
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
pl_status pl__turn_render(struct pl__turn *t, int r, const struct pl_dlg_ctx *c, char **out) {
    struct pl_dlg_vars v = {t->vars, t->n_vars};
    return pl__dlg_render(t->sp, r, t->turn_no, &v, c ? c->slots : NULL, c ? c->n_slots : 0, out);
}

pl_status pl__turn_add_reply(struct pl__turn *t, char *text, const char *response, bool expects,
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
pl_status pl__turn_say(struct pl__turn *t, int r, struct pl_dlg_ctx *c, bool expects) {
    char *text = NULL;
    pl_status st = pl__turn_render(t, r, c, &text);
    if (st == PL_E_NOT_FOUND)
        return pl__dlg_lifecycle(t->out, PL_DLG_E_ERROR, c ? c->id : "", t->turn_no, t->now,
                                 "a response could not be filled", "response",
                                 t->sp->responses[r].name);
    PL_TRY(st);
    return pl__turn_add_reply(t, text, t->sp->responses[r].name, expects, c ? c->id : "");
}

/* ---- slots ---------------------------------------------------------------------------------- */

/* Set a slot and log it with where the value came from: "nlu", "entity", "answer", "action". */
pl_status pl__turn_set_slot(struct pl__turn *t, struct pl_dlg_ctx *c, const char *name,
                            const char *v, const char *source) {
    PL_TRY(pl_dlg_ctx_set_slot(c, name, v));
    return pl__dlg_turn_event_json(t->out, PL_DLG_EV_SLOT, c->id, t->turn_no, t->now,
                                   json_pack("{s:s,s:s,s:s}", "name", name, "value", v ? v : "",
                                             "source", source));
}

/* Is value valid for slot sl? On failure the invalid response is said and false returned. */
static pl_status validate(struct pl__turn *t, struct pl_dlg_ctx *c, int si, const char *value,
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
    PL_TRY(pl__turn_set_var(t, "slot", sl->name));
    PL_TRY(pl__turn_set_var(t, "value", value));
    PL_TRY(pl__turn_set_var(t, "min", lo));
    PL_TRY(pl__turn_set_var(t, "max", hi));
    return pl__turn_say(t, sl->invalid >= 0 ? sl->invalid : t->sp->r_invalid, c, false);
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
static pl_status entity_value(struct pl__turn *t, int si, char **v) {
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

/* Does NLU slot s fill slot si in every flow that holds si (nlu_value's test: the label maps
 * to si there, and a number slot's value is a number)? */
static bool fills_everywhere(const struct pl_dlg_spec *sp, int si, const struct pl_dlg_nlu_slot *s) {
    long num;
    if (sp->slots[si].type == PL__SLOT_NUMBER && !pl_dlg_parse_number(s->value, &num))
        return false;
    for (int fi = 0; fi < sp->n_flows; fi++)
        if (flow_has(&sp->flows[fi], si) && slot_for_label(sp, &sp->flows[fi], s->label) != si)
            return false;
    return true;
}

static bool steps_start(const struct pl__dlg_steps *steps, int fi) {
    for (int i = 0; i < steps->n; i++)
        if (steps->v[i].kind == PL__STEP_START && steps->v[i].flow == fi) return true;
    return false;
}

/* May flow fi take this turn with slot si empty or asked (see pl_dlg_turn_wants_entities)? */
static bool flow_may_want(const struct pl_dlg_spec *sp, const struct pl_dlg_state *st,
                          const struct pl_dlg_nlu *nlu, int fi, int si) {
    if (!st) return true;
    const char *name = sp->slots[si].name;
    for (int i = 0; i < st->n_ctx; i++) {
        const struct pl_dlg_ctx *c = &st->ctx[i];
        if (c->state == PL_DLG_CTX_OPEN && !strcmp(c->flow, sp->flows[fi].name) &&
            (!pl_dlg_ctx_slot(c, name) || !strcmp(c->awaiting, name)))
            return true;
    }
    for (int i = 0; i < sp->n_intents; i++) {
        const struct pl__dlg_intent *in = &sp->intents[i];
        if (steps_start(&in->steps, fi)) return true;
        if (in->flow != fi) continue;
        if (in->n_keywords > 0) return true;
        for (int k = 0; k < in->n_nlu && nlu->intent; k++)
            if (!strcmp(in->nlu[k], nlu->intent)) return true;
    }
    for (int f = 0; f < sp->n_flows; f++)
        if (steps_start(&sp->flows[f].done, fi) || steps_start(&sp->flows[f].denied, fi))
            return true;
    return false;
}

bool pl_dlg_turn_wants_entities(const struct pl_dlg_spec *sp, const struct pl_dlg_state *st,
                                const struct pl_dlg_nlu *nlu) {
    for (int si = 0; si < sp->n_slots; si++) {
        if (sp->slots[si].n_entities == 0) continue;
        bool filled = false;
        for (int i = 0; i < nlu->n_slots && !filled; i++)
            filled = fills_everywhere(sp, si, &nlu->slots[i]);
        if (filled) continue;
        for (int fi = 0; fi < sp->n_flows; fi++)
            if (flow_has(&sp->flows[fi], si) && flow_may_want(sp, st, nlu, fi, si)) return true;
    }
    return false;
}

/* The value of slot si from the NLU slots mapped to it: one span, or several pieces joined
 * (adjacent pieces as the utterance has them: "tonight at eight"). Number slots take the
 * first piece that is a number. When no NLU slot fills it and the slot is empty (or asked),
 * a named entity of a mapped type does. OUT: *v (caller owns) or NULL, *src "nlu"/"entity". */
static pl_status nlu_value(struct pl__turn *t, const struct pl__dlg_flow *f, int si, char **v,
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
    const struct pl_dlg_ctx *c = pl__turn_cur(t);
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
static pl_status fill_from_nlu(struct pl__turn *t, struct pl_dlg_ctx *c,
                               const struct pl__dlg_flow *f, bool *filled_asked, int *n_set,
                               bool *invalid) {
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
        if (st == PL_OK && ok) st = pl__turn_set_slot(t, c, t->sp->slots[si].name, v, src);
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
static pl_status typed_value(struct pl__turn *t, int si, char **v) {
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

/* Run the steps that end a flow (done, denied), then finish it, unless a step already did
 * (close, or start of another flow). */
static pl_status end_flow(struct pl__turn *t, const struct pl__dlg_steps *steps) {
    int before = t->finishes;
    PL_TRY(pl__turn_run_steps(t, steps));
    return t->finishes == before ? pl__turn_finish_flow(t) : PL_OK;
}

static const struct pl__dlg_flow *flow_of(struct pl__turn *t, const struct pl_dlg_ctx *c) {
    int f = c && c->flow[0] ? pl__dlg_spec_flow(t->sp, c->flow) : -1;
    return f >= 0 ? &t->sp->flows[f] : NULL;
}

/* The prompt for what c awaits (its slot's prompt or the confirmation). */
static int prompt_for(struct pl__turn *t, const struct pl_dlg_ctx *c) {
    const struct pl__dlg_flow *f = flow_of(t, c);
    if (!f || !c->awaiting[0]) return -1;
    if (!strcmp(c->awaiting, CONFIRM)) return f->confirm;
    int si = pl__dlg_spec_slot(t->sp, c->awaiting);
    return si >= 0 ? t->sp->slots[si].prompt : -1;
}

/* Move the form of the current context on: ask the first missing slot, else the
 * confirmation, else run `done` and finish. */
static pl_status advance(struct pl__turn *t) {
    struct pl_dlg_ctx *c = pl__turn_cur(t);
    const struct pl__dlg_flow *f = flow_of(t, c);
    if (!f) return PL_OK;
    for (int i = 0; i < f->n_required; i++) {
        const struct pl__dlg_slot *sl = &t->sp->slots[f->required[i]];
        if (pl_dlg_ctx_slot(c, sl->name)) continue;
        PL_TRY(pl__dlg_set_str(&c->awaiting, sl->name));
        c->dirty = true;
        return pl__turn_say(t, sl->prompt, c, true);
    }
    if (f->confirm >= 0) {
        PL_TRY(pl__dlg_set_str(&c->awaiting, CONFIRM));
        c->dirty = true;
        return pl__turn_say(t, f->confirm, c, true);
    }
    PL_TRY(pl__dlg_set_str(&c->awaiting, ""));
    return end_flow(t, &f->done);
}

/* Re-ask what the current context awaits (after small talk or a failed validation). */
static pl_status reprompt(struct pl__turn *t) {
    struct pl_dlg_ctx *c = pl__turn_cur(t);
    int r = c && c->state == PL_DLG_CTX_OPEN ? prompt_for(t, c) : -1;
    return r >= 0 ? pl__turn_say(t, r, c, true) : PL_OK;
}

/* The open context that was active before the current one, or NULL. */
struct pl_dlg_ctx *pl__turn_previous_open(struct pl__turn *t) {
    struct pl_dlg_ctx *best = NULL;
    for (int i = 0; i < t->st->n_ctx; i++) {
        struct pl_dlg_ctx *c = &t->st->ctx[i];
        if (c->state != PL_DLG_CTX_OPEN || !strcmp(c->id, t->ctx_id)) continue;
        if (!best || c->activated > best->activated) best = c;
    }
    return best;
}

/* Make context r active again and say so with its pending prompt. */
static pl_status resume(struct pl__turn *t, struct pl_dlg_ctx *r, const char *from) {
    r->activated = t->st->next_activation++;
    r->dirty = true;
    snprintf(t->ctx_id, sizeof t->ctx_id, "%s", r->id);
    PL_TRY(pl__dlg_lifecycle(t->out, PL_DLG_E_CONTEXT_SWITCHED, r->id, t->turn_no, t->now,
                             "resumed the interrupted context", "previous_context_id", from));
    t->out->switched = true;
    int p = prompt_for(t, r);
    if (p < 0) return PL_OK;
    char *prompt = NULL;
    PL_TRY(pl__turn_render(t, p, r, &prompt));
    pl_status st = pl__turn_set_var(t, "prompt", prompt);
    pl_free(prompt);
    PL_TRY(st);
    const struct pl__dlg_flow *f = flow_of(t, r);
    int rr = f && f->resume >= 0 ? f->resume : t->sp->r_resume;
    st = pl__turn_say(t, rr, r, true);
    unset_var(t, "prompt");
    return st;
}

/* Close the current context (its flow is over), or make it idle when it is the only one. */
pl_status pl__turn_close_current(struct pl__turn *t) {
    struct pl_dlg_ctx *c = pl__turn_cur(t);
    if (!c || c->state != PL_DLG_CTX_OPEN) return PL_OK;
    c->dirty = true;
    c->updated_ms = t->now;
    PL_TRY(pl__dlg_set_str(&c->awaiting, ""));
    if (!pl__turn_previous_open(t)) { /* the last open context stays, idle and empty */
        PL_TRY(pl__dlg_set_str(&c->flow, ""));
        while (c->n_slots > 0) PL_TRY(pl_dlg_ctx_set_slot(c, c->slots[0].name, NULL));
        return PL_OK;
    }
    c->state = PL_DLG_CTX_CLOSED;
    return pl__dlg_lifecycle(t->out, PL_DLG_E_CONTEXT_CLOSED, c->id, t->turn_no, t->now,
                             "context closed", "flow", c->flow);
}

pl_status pl__turn_finish_flow(struct pl__turn *t) {
    t->finishes++;
    char from[PL_DLG_ID_LEN];
    snprintf(from, sizeof from, "%s", t->ctx_id);
    PL_TRY(pl__turn_close_current(t));
    struct pl_dlg_ctx *c = pl__turn_cur(t);
    if (c && c->state == PL_DLG_CTX_OPEN) return PL_OK; /* it was the last: idle now */
    struct pl_dlg_ctx *r = pl__turn_previous_open(t);
    return r ? resume(t, r, from) : PL_OK;
}

/* Start flow fi: in the current context when it is idle (or already serves fi), else in the
 * open context that serves it (switching there), else in a new context. */
static pl_status start_flow(struct pl__turn *t, int fi) {
    const struct pl__dlg_flow *f = &t->sp->flows[fi];
    struct pl_dlg_ctx *c = pl__turn_cur(t);
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
pl_status pl__turn_flow_intent(struct pl__turn *t, int fi) {
    PL_TRY(start_flow(t, fi));
    struct pl_dlg_ctx *c = pl__turn_cur(t);
    bool asked, invalid;
    int n;
    PL_TRY(fill_from_nlu(t, c, &t->sp->flows[fi], &asked, &n, &invalid));
    return invalid ? reprompt(t) : advance(t);
}

/* ---- routing -------------------------------------------------------------------------------- */

/* The keyword intent the utterance matches (the longest phrase wins), or -1. */
static int keyword_intent(struct pl__turn *t) {
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
static int nlu_intent(struct pl__turn *t) {
    const char *ni = t->nlu ? t->nlu->intent : NULL;
    if (!ni || !*ni || t->nlu->score < t->sp->nlu_threshold) return -1;
    for (int i = 0; i < t->sp->n_intents; i++)
        for (int k = 0; k < t->sp->intents[i].n_nlu; k++)
            if (!strcmp(t->sp->intents[i].nlu[k], ni)) return i;
    return -1;
}

/* While context c waits for an answer: does intent ii (another flow's) take over? */
static bool takes_over(struct pl__turn *t, const struct pl_dlg_ctx *c, int ii) {
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
static pl_status run_intent(struct pl__turn *t, int ii) {
    const struct pl__dlg_intent *in = &t->sp->intents[ii];
    PL_TRY(pl__dlg_set_str(&t->out->intent, in->name));
    struct pl_dlg_ctx *c = pl__turn_cur(t);
    c->fallbacks = 0;
    if (in->flow >= 0) return pl__turn_flow_intent(t, in->flow);
    bool waiting = c->awaiting[0] != '\0';
    PL_TRY(pl__turn_run_steps(t, &in->steps));
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

static pl_status fallback(struct pl__turn *t) {
    struct pl_dlg_ctx *c = pl__turn_cur(t);
    c->dirty = true;
    if (c->fallbacks == 0 && !(t->sp->questions_to_kb && is_question(t->text, t->norm))) {
        c->fallbacks = 1;
        return pl__turn_say(t, t->sp->r_fallback, c, true);
    }
    c->fallbacks = 0;
    return pl__turn_kb_answer(t, -1, -1);
}

/* The answer to a confirmation: corrections (slot values), else yes or no. A bare yes or
 * no ("no", "yes please") is only that, whatever the tagger makes of it (one SNIPS model
 * tagged a lone "no" as a `state`, which read as a correction of the place). */
static pl_status confirm_answer(struct pl__turn *t, const struct pl__dlg_flow *f) {
    struct pl_dlg_ctx *c = pl__turn_cur(t);
    bool asked, invalid = false;
    int n_set = 0;
    if (!pl__dlg_only_yes_no(t->norm)) PL_TRY(fill_from_nlu(t, c, f, &asked, &n_set, &invalid));
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
        if (st == PL_OK && ok) st = pl__turn_set_slot(t, c, t->sp->slots[si].name, v, "answer");
        pl_free(v);
        PL_TRY(st);
        if (!ok) return reprompt(t);
        n_set = 1;
    }
    if (n_set > 0) return advance(t);
    int yn = pl__dlg_yes_no(t->norm);
    if (yn == 0) return pl__turn_say(t, t->sp->r_ask_confirm, c, true);
    PL_TRY(pl__dlg_set_str(&c->awaiting, ""));
    c->dirty = true;
    return end_flow(t, yn > 0 ? &f->done : &f->denied);
}

/* The utterance answers what context c asked (slot `awaiting`). */
static pl_status slot_answer(struct pl__turn *t, const struct pl__dlg_flow *f) {
    struct pl_dlg_ctx *c = pl__turn_cur(t);
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
    if (st == PL_OK && ok) st = pl__turn_set_slot(t, c, t->sp->slots[si].name, v, src);
    pl_free(v);
    PL_TRY(st);
    return ok ? advance(t) : reprompt(t);
}

/* A prompt is pending in the current context. */
static pl_status answer_turn(struct pl__turn *t, int ii) {
    struct pl_dlg_ctx *c = pl__turn_cur(t);
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

static pl_status route(struct pl__turn *t) {
    int kw = keyword_intent(t);
    if (kw >= 0) return run_intent(t, kw);
    int ii = nlu_intent(t);
    struct pl_dlg_ctx *c = pl__turn_cur(t);
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

static pl_status log_input(struct pl__turn *t) {
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
    struct pl__turn t = {.sp = spec, .st = state, .o = o ? o : &none, .out = out, .text = text,
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
    PL_TRY_GOTO(st, kb_only ? pl__turn_kb_answer(&t, -1, -1) : route(&t));
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
