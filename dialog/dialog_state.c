/*
 * dialog_state.c - session state in memory (dialog.h): contexts and their slots, the turn
 * record (replies, events, effects), and the explicit context operations (create, switch).
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "dialog_impl.h"
#include "util.h"

/* jansson allocates through pl_malloc in every Parley binary (common/config.c does the same);
 * set here too, so that a binary linking only this library frees json_dumps with pl_free. */
__attribute__((constructor)) static void dialog_json_alloc(void) {
    json_set_alloc_funcs(pl_malloc, pl_free);
}

/* ---- state ---------------------------------------------------------------------------------- */

pl_status pl_dlg_state_create(const char *session_id, const char *user, const char *dialog,
                              const char *language, struct pl_dlg_state **out) {
    *out = NULL;
    struct pl_dlg_state *s = pl_calloc(1, sizeof *s);
    if (!s) return PL_ERR(PL_E_NOMEM, "dialog state");
    snprintf(s->session_id, sizeof s->session_id, "%s", session_id ? session_id : "");
    s->user = pl_strdup(user ? user : "");
    s->dialog = pl_strdup(dialog ? dialog : "");
    s->language = pl_strdup(language && *language ? language : "en-US");
    s->state = PL_DLG_SESSION_ACTIVE;
    s->next_activation = 1;
    if (!s->user || !s->dialog || !s->language) {
        pl_dlg_state_destroy(s);
        return PL_ERR(PL_E_NOMEM, "dialog state");
    }
    *out = s;
    return PL_OK;
}

static void ctx_deinit(struct pl_dlg_ctx *c) {
    for (int i = 0; i < c->n_slots; i++) {
        pl_free(c->slots[i].name);
        pl_free(c->slots[i].value);
    }
    pl_free(c->slots);
    pl_free(c->name);
    pl_free(c->flow);
    pl_free(c->awaiting);
}

void pl_dlg_state_destroy(struct pl_dlg_state *s) {
    if (!s) return;
    for (int i = 0; i < s->n_ctx; i++) ctx_deinit(&s->ctx[i]);
    pl_free(s->ctx);
    pl_free(s->user);
    pl_free(s->dialog);
    pl_free(s->language);
    pl_free(s);
}

struct pl_dlg_ctx *pl_dlg_state_active(struct pl_dlg_state *s) {
    struct pl_dlg_ctx *best = NULL;
    for (int i = 0; i < s->n_ctx; i++)
        if (s->ctx[i].state == PL_DLG_CTX_OPEN && (!best || s->ctx[i].activated > best->activated))
            best = &s->ctx[i];
    return best;
}

struct pl_dlg_ctx *pl_dlg_state_find(struct pl_dlg_state *s, const char *id) {
    for (int i = 0; id && i < s->n_ctx; i++)
        if (!strcmp(s->ctx[i].id, id)) return &s->ctx[i];
    return NULL;
}

/* Append a context (the array may move: pointers into it are invalid afterwards). */
pl_status pl__dlg_state_add(struct pl_dlg_state *s, const char *id, struct pl_dlg_ctx **out) {
    struct pl_dlg_ctx *v = pl_realloc(s->ctx, (size_t)(s->n_ctx + 1) * sizeof *v);
    if (!v) return PL_ERR(PL_E_NOMEM, "context");
    s->ctx = v;
    struct pl_dlg_ctx *c = &v[s->n_ctx];
    memset(c, 0, sizeof *c);
    if (id) snprintf(c->id, sizeof c->id, "%s", id);
    else if (s->next_preset_id < s->n_preset_ids)
        snprintf(c->id, sizeof c->id, "%s", s->preset_ids[s->next_preset_id++]);
    else pl_request_id_new(c->id);
    c->name = pl_strdup("");
    c->flow = pl_strdup("");
    c->awaiting = pl_strdup("");
    c->state = PL_DLG_CTX_OPEN;
    s->n_ctx++;
    if (!c->name || !c->flow || !c->awaiting) return PL_ERR(PL_E_NOMEM, "context");
    *out = c;
    return PL_OK;
}

const char *pl_dlg_ctx_slot(const struct pl_dlg_ctx *c, const char *name) {
    for (int i = 0; i < c->n_slots; i++)
        if (!strcmp(c->slots[i].name, name)) return c->slots[i].value;
    return NULL;
}

pl_status pl_dlg_ctx_set_slot(struct pl_dlg_ctx *c, const char *name, const char *value) {
    c->dirty = true;
    for (int i = 0; i < c->n_slots; i++) {
        if (strcmp(c->slots[i].name, name)) continue;
        if (!value) { /* clear: move the last one here */
            pl_free(c->slots[i].name);
            pl_free(c->slots[i].value);
            c->slots[i] = c->slots[--c->n_slots];
            return PL_OK;
        }
        char *v = pl_strdup(value);
        if (!v) return PL_ERR(PL_E_NOMEM, "slot");
        pl_free(c->slots[i].value);
        c->slots[i].value = v;
        return PL_OK;
    }
    if (!value) return PL_OK;
    struct pl_dlg_kv *s = pl_realloc(c->slots, (size_t)(c->n_slots + 1) * sizeof *s);
    if (!s) return PL_ERR(PL_E_NOMEM, "slot");
    c->slots = s;
    s[c->n_slots].name = pl_strdup(name);
    s[c->n_slots].value = pl_strdup(value);
    if (!s[c->n_slots].name || !s[c->n_slots].value) {
        pl_free(s[c->n_slots].name);
        pl_free(s[c->n_slots].value);
        return PL_ERR(PL_E_NOMEM, "slot");
    }
    c->n_slots++;
    return PL_OK;
}

/* Replace a string field. */
pl_status pl__dlg_set_str(char **field, const char *v) {
    char *c = pl_strdup(v ? v : "");
    if (!c) return PL_ERR(PL_E_NOMEM, "dialog state");
    pl_free(*field);
    *field = c;
    return PL_OK;
}

/* ---- turn record ---------------------------------------------------------------------------- */

void pl_dlg_turn_init(struct pl_dlg_turn *t) { memset(t, 0, sizeof *t); }

void pl_dlg_turn_deinit(struct pl_dlg_turn *t) {
    for (int i = 0; i < t->n_replies; i++) {
        pl_free(t->replies[i].text);
        pl_free(t->replies[i].response);
    }
    for (int i = 0; i < t->n_events; i++) pl_free(t->events[i].data);
    for (int i = 0; i < t->n_effects; i++) {
        pl_free(t->effects[i].kind);
        pl_free(t->effects[i].data);
    }
    pl_free(t->replies);
    pl_free(t->events);
    pl_free(t->effects);
    pl_free(t->intent);
    memset(t, 0, sizeof *t);
}

pl_status pl_dlg_turn_event(struct pl_dlg_turn *t, enum pl_dlg_ev_kind kind, const char *ctx_id,
                            int turn, int64_t time_ms, const char *data) {
    struct pl_dlg_event *v = pl_realloc(t->events, (size_t)(t->n_events + 1) * sizeof *v);
    if (!v) return PL_ERR(PL_E_NOMEM, "event");
    t->events = v;
    struct pl_dlg_event *e = &v[t->n_events];
    memset(e, 0, sizeof *e);
    e->kind = kind;
    snprintf(e->context_id, sizeof e->context_id, "%s", ctx_id ? ctx_id : "");
    e->turn = turn;
    e->time_ms = time_ms;
    if (!(e->data = pl_strdup(data ? data : "{}"))) return PL_ERR(PL_E_NOMEM, "event");
    t->n_events++;
    return PL_OK;
}

/* An event whose data is a jansson object (stolen). */
pl_status pl__dlg_turn_event_json(struct pl_dlg_turn *t, enum pl_dlg_ev_kind kind,
                                  const char *ctx_id, int turn, int64_t time_ms, json_t *obj) {
    if (!obj) return PL_ERR(PL_E_NOMEM, "event");
    char *s = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    if (!s) return PL_ERR(PL_E_NOMEM, "event");
    pl_status st = pl_dlg_turn_event(t, kind, ctx_id, turn, time_ms, s);
    pl_free(s);
    return st;
}

/* A lifecycle event (EventType) with one attribute. */
pl_status pl__dlg_lifecycle(struct pl_dlg_turn *t, int type, const char *ctx_id, int turn,
                            int64_t now, const char *detail, const char *attr, const char *val) {
    json_t *attrs = json_object();
    if (attrs && attr) json_object_set_new(attrs, attr, json_string(val ? val : ""));
    return pl__dlg_turn_event_json(t, PL_DLG_EV_EVENT, ctx_id, turn, now,
                                   json_pack("{s:i,s:s,s:o*}", "type", type, "detail", detail,
                                             "attributes", attrs));
}

/* ---- explicit context operations ---------------------------------------------------------- */

pl_status pl_dlg_context_create(struct pl_dlg_state *s, const char *name,
                                const struct pl_dlg_kv *kv, int n, bool activate, int64_t now,
                                struct pl_dlg_turn *out, struct pl_dlg_ctx **ctx) {
    *ctx = NULL;
    if (s->state != PL_DLG_SESSION_ACTIVE)
        return PL_ERR(PL_E_INVALID_ARG, "session %s has ended", s->session_id);
    struct pl_dlg_ctx *c = NULL;
    PL_TRY(pl__dlg_state_add(s, NULL, &c));
    PL_TRY(pl__dlg_set_str(&c->name, name));
    c->created_ms = c->updated_ms = now;
    c->dirty = true;
    /* a context not activated goes below the active one: it keeps the next-lower order */
    struct pl_dlg_ctx *act = NULL;
    for (int i = 0; i < s->n_ctx - 1; i++)
        if (s->ctx[i].state == PL_DLG_CTX_OPEN && (!act || s->ctx[i].activated > act->activated))
            act = &s->ctx[i];
    c->activated = activate || !act ? s->next_activation++ : 0;
    for (int i = 0; i < n; i++) PL_TRY(pl_dlg_ctx_set_slot(c, kv[i].name, kv[i].value));
    PL_TRY(pl__dlg_lifecycle(out, PL_DLG_E_CONTEXT_CREATED, c->id, 0, now, "context created",
                             "name", c->name));
    if (activate && act)
        PL_TRY(pl__dlg_lifecycle(out, PL_DLG_E_CONTEXT_SWITCHED, c->id, 0, now,
                                 "context switched", "previous_context_id", act->id));
    *ctx = c;
    return PL_OK;
}

pl_status pl_dlg_context_switch(struct pl_dlg_state *s, const char *id, int64_t now,
                                struct pl_dlg_turn *out, char previous[PL_DLG_ID_LEN]) {
    previous[0] = '\0';
    if (s->state != PL_DLG_SESSION_ACTIVE)
        return PL_ERR(PL_E_INVALID_ARG, "session %s has ended", s->session_id);
    struct pl_dlg_ctx *c = pl_dlg_state_find(s, id);
    if (!c || c->state != PL_DLG_CTX_OPEN)
        return PL_ERR(PL_E_NOT_FOUND, "context %s is not an open context of session %s", id,
                      s->session_id);
    struct pl_dlg_ctx *act = pl_dlg_state_active(s);
    if (act) snprintf(previous, PL_DLG_ID_LEN, "%s", act->id);
    if (act == c) return PL_OK;
    c->activated = s->next_activation++;
    c->updated_ms = now;
    c->dirty = true;
    return pl__dlg_lifecycle(out, PL_DLG_E_CONTEXT_SWITCHED, c->id, 0, now, "context switched",
                             "previous_context_id", previous);
}
