/*
 * dialog_service.c - parley-dialog's service object and its unary rpcs (dialog_svc.h):
 * CreateSession, GetSession, EndSession, ListContexts, CreateContext, SwitchContext,
 * GetHistory, DeleteUser. Every rpc resolves the user first (pl__dlgsvc_user) and reads and
 * writes only that user's rows; a session of another user is NOT_FOUND.
 */
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "arena.h"
#include "log.h"
#include "nrpc.h"
#include "nrpc_worker.h"
#include "parley/dialog/v1/dialog.pb-c.h"
#include "proto_util.h"
#include "dialog_svc.h"
#include "util.h"

void pl_dlgsvc_opts_default(struct pl_dlgsvc_opts *o) {
    memset(o, 0, sizeof *o);
    o->spec_dir = "dialog/specs";
    o->default_dialog = "";
    o->store_path = "state/dialog.sqlite";
    o->nlu_timeout_ms = 2000;
    o->qa_timeout_ms = 5000;
    o->max_text_bytes = 4096;
    o->ended_ttl_ms = 30LL * 24 * 3600 * 1000;
    o->tts_voice = "";
    o->tts_sample_rate = 22050;
    o->voice_wait_ms = 60000;
    o->pipeline_dir = "pipelines";
    o->shard = 0;
    o->shards = 1;
    o->action_threads = 32;
    o->endpointing_silence_ms = 400;
    o->eot_silence_ms = PL__DLG_EOT_SILENCE_MS;
    o->eot_min_confidence = PL__DLG_EOT_MIN_CONFIDENCE;
    o->eot_tone = PL__DLG_EOT_TONE;
    o->eot_fall_slope = PL__DLG_EOT_FALL_SLOPE;
    o->eot_rise_slope = PL__DLG_EOT_RISE_SLOPE;
    o->eot_model = PL__DLG_EOT_MODEL;
    o->eot_min_complete = PL__DLG_EOT_MIN_COMPLETE;
}

/* ---- specs ---------------------------------------------------------------------------------- */

static bool spec_file(const char *n) {
    size_t l = strlen(n);
    return n[0] != '.' && ((l > 5 && !strcmp(n + l - 5, ".yaml")) ||
                           (l > 4 && !strcmp(n + l - 4, ".yml")) ||
                           (l > 5 && !strcmp(n + l - 5, ".json")));
}

static int by_name(const struct dirent **a, const struct dirent **b) {
    return strcmp((*a)->d_name, (*b)->d_name);
}

/* Every spec file of dir, by file name; two specs with one `dialog:` name are an error. */
static pl_status load_specs(struct pl_dlgsvc *s) {
    struct dirent **ents = NULL;
    int n = scandir(s->spec_dir, &ents, NULL, by_name);
    if (n < 0) return PL_ERR(PL_E_IO, "dialog specs: cannot read %s", s->spec_dir);
    pl_status st = PL_OK;
    s->specs = pl_calloc((size_t)n + 1, sizeof *s->specs);
    if (!s->specs) st = PL_ERR(PL_E_NOMEM, "specs");
    for (int i = 0; i < n; i++) {
        if (st == PL_OK && spec_file(ents[i]->d_name)) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", s->spec_dir, ents[i]->d_name);
            struct pl_dlg_spec *sp = NULL;
            st = pl_dlg_spec_load(path, &sp);
            if (st == PL_OK && pl__dlgsvc_spec(s, pl_dlg_spec_name(sp))) {
                st = PL_ERR(PL_E_FORMAT, "%s: dialog '%s' is defined twice", path,
                            pl_dlg_spec_name(sp));
                pl_dlg_spec_destroy(sp);
            } else if (st == PL_OK) {
                s->specs[s->n_specs++] = sp;
                PL_LOGI("dialog spec %s from %s", pl_dlg_spec_name(sp), path);
            }
        }
        free(ents[i]); /* scandir allocates with malloc */
    }
    free(ents);
    if (st == PL_OK && s->n_specs == 0)
        st = PL_ERR(PL_E_NOT_FOUND, "dialog specs: no *.yaml or *.json in %s", s->spec_dir);
    return st;
}

/* Every *.json of pipeline_dir, by file name. A missing directory means no pipelines; a bad
 * file, two pipelines of one name or a pipeline naming a dialog spec that is not loaded stop
 * the start with the file (and line, key). */
static pl_status load_pipelines(struct pl_dlgsvc *s) {
    struct dirent **ents = NULL;
    int n = scandir(s->pipeline_dir, &ents, NULL, by_name);
    if (n < 0) {
        PL_LOGI("no pipelines: %s cannot be read", s->pipeline_dir);
        return PL_OK;
    }
    pl_status st = PL_OK;
    s->pipelines = pl_calloc((size_t)n + 1, sizeof *s->pipelines);
    if (!s->pipelines) st = PL_ERR(PL_E_NOMEM, "pipelines");
    for (int i = 0; i < n; i++) {
        size_t l = strlen(ents[i]->d_name);
        if (st == PL_OK && ents[i]->d_name[0] != '.' && l > 5 &&
            !strcmp(ents[i]->d_name + l - 5, ".json")) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", s->pipeline_dir, ents[i]->d_name);
            struct pl_dlg_pipeline *p = NULL;
            st = pl_dlg_pipeline_load(path, &p);
            if (st == PL_OK && pl__dlgsvc_pipeline(s, p->name))
                st = PL_ERR(PL_E_FORMAT, "%s: pipeline '%s' is defined twice", path, p->name);
            else if (st == PL_OK && p->dialog.spec[0] && !pl__dlgsvc_spec(s, p->dialog.spec))
                st = PL_ERR(PL_E_FORMAT, "%s: dialog.spec: dialog '%s' is not among the specs "
                            "of %s", path, p->dialog.spec, s->spec_dir);
            if (st == PL_OK) {
                s->pipelines[s->n_pipelines++] = p;
                PL_LOGI("pipeline %s from %s", p->name, path);
            } else {
                pl_dlg_pipeline_destroy(p);
            }
        }
        free(ents[i]); /* scandir allocates with malloc */
    }
    free(ents);
    return st;
}

const struct pl_dlg_pipeline *pl__dlgsvc_pipeline(struct pl_dlgsvc *s, const char *name) {
    for (int i = 0; i < s->n_pipelines; i++)
        if (!strcmp(s->pipelines[i]->name, name)) return s->pipelines[i];
    return NULL;
}

void pl__dlgsvc_pipeline_names(struct pl_dlgsvc *s, char *buf, size_t n) {
    size_t k = 0;
    buf[0] = '\0';
    for (int i = 0; i < s->n_pipelines && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, "%s%s", i ? ", " : "", s->pipelines[i]->name);
    if (!s->n_pipelines) snprintf(buf, n, "none");
}

const struct pl_dlg_spec *pl__dlgsvc_spec(struct pl_dlgsvc *s, const char *name) {
    for (int i = 0; i < s->n_specs; i++)
        if (!strcmp(pl_dlg_spec_name(s->specs[i]), name)) return s->specs[i];
    return NULL;
}

int pl_dlgsvc_n_specs(const struct pl_dlgsvc *s) { return s->n_specs; }

static struct pl__dlg_stripe *stripe_of(struct pl_dlgsvc *s, const char *sid, char *key) {
    snprintf(key, PL_DLG_ID_LEN, "%s", sid);
    uint32_t h = 2166136261u;
    for (const char *p = key; *p; p++) h = (h ^ (uint8_t)*p) * 16777619u;
    return &s->stripes[h % PL__DLG_STRIPES];
}

static int busy_index(const struct pl__dlg_stripe *sp, const char *key) {
    for (int i = 0; i < sp->n_busy; i++)
        if (!strcmp(sp->busy[i], key)) return i;
    return -1;
}

void pl__dlgsvc_lock(struct pl_dlgsvc *s, const char *sid) {
    char key[PL_DLG_ID_LEN];
    struct pl__dlg_stripe *sp = stripe_of(s, sid, key);
    pthread_mutex_lock(&sp->mu);
    while (busy_index(sp, key) >= 0 || sp->n_busy == PL__DLG_STRIPE_BUSY)
        pthread_cond_wait(&sp->released, &sp->mu);
    memcpy(sp->busy[sp->n_busy++], key, sizeof key);
    pthread_mutex_unlock(&sp->mu);
}

void pl__dlgsvc_unlock(struct pl_dlgsvc *s, const char *sid) {
    char key[PL_DLG_ID_LEN];
    struct pl__dlg_stripe *sp = stripe_of(s, sid, key);
    pthread_mutex_lock(&sp->mu);
    int i = busy_index(sp, key);
    PL_ASSERT(i >= 0);
    memmove(sp->busy[i], sp->busy[--sp->n_busy], sizeof key);
    pthread_cond_broadcast(&sp->released);
    struct pl__dlg_waiter *w = sp->waiters;
    sp->waiters = NULL;
    pthread_mutex_unlock(&sp->mu);
    while (w) { /* each tries again (and waits again when another got there first) */
        struct pl__dlg_waiter *next = w->next;
        w->wake(w->ud);
        w = next;
    }
}

bool pl__dlgsvc_lock_or_wait(struct pl_dlgsvc *s, const char *sid, struct pl__dlg_waiter *w) {
    char key[PL_DLG_ID_LEN];
    struct pl__dlg_stripe *sp = stripe_of(s, sid, key);
    pthread_mutex_lock(&sp->mu);
    bool free_now = busy_index(sp, key) < 0 && sp->n_busy < PL__DLG_STRIPE_BUSY;
    if (free_now) {
        memcpy(sp->busy[sp->n_busy++], key, sizeof key);
    } else {
        w->next = sp->waiters;
        sp->waiters = w;
    }
    pthread_mutex_unlock(&sp->mu);
    return free_now;
}

const char *pl__dlgsvc_user(const struct pl_worker_ctx *ctx, const char *req_user) {
    if (ctx && ctx->user[0]) return ctx->user;
    return req_user && *req_user ? req_user : "anonymous";
}

/* ---- create / destroy ----------------------------------------------------------------------- */

pl_status pl_dlgsvc_create(const struct pl_dlgsvc_opts *o, struct pl_dlgsvc **out) {
    *out = NULL;
    struct pl_dlgsvc *s = pl_calloc(1, sizeof *s);
    if (!s) return PL_ERR(PL_E_NOMEM, "dialog service");
    s->o = *o;
    for (int i = 0; i < PL__DLG_STRIPES; i++) {
        pthread_mutex_init(&s->stripes[i].mu, NULL);
        pthread_cond_init(&s->stripes[i].released, NULL);
    }
    pthread_mutex_init(&s->calls.mu, NULL);
    pl_status st = PL_OK;
    if (!(s->spec_dir = pl_strdup(o->spec_dir)) ||
        !(s->default_dialog = pl_strdup(o->default_dialog ? o->default_dialog : "")) ||
        !(s->store_path = pl_strdup(o->store_path)) ||
        !(s->tts_voice = pl_strdup(o->tts_voice ? o->tts_voice : "")) ||
        !(s->pipeline_dir = pl_strdup(o->pipeline_dir ? o->pipeline_dir : "")))
        st = PL_ERR(PL_E_NOMEM, "dialog service");
    if (st == PL_OK) st = load_specs(s);
    if (st == PL_OK && s->pipeline_dir[0]) st = load_pipelines(s);
    if (st == PL_OK && s->default_dialog[0] && !pl__dlgsvc_spec(s, s->default_dialog))
        st = PL_ERR(PL_E_NOT_FOUND, "dialog.default_dialog '%s' is not among the specs of %s",
                    s->default_dialog, s->spec_dir);
    struct pl_dlg_store_opts so = PL_DLG_STORE_OPTS_INIT;
    so.sync_full = o->sync_full;
    so.sharded = o->shards > 1;
    so.shard = o->shard;
    if (st == PL_OK && (o->shards < 1 || o->shards > PL_NRPC_MAX_SHARDS || o->shard < 0 ||
                        o->shard >= o->shards))
        st = PL_ERR(PL_E_INVALID_ARG, "dialog.shard %d is not in 0..dialog.shards-1 (shards %d, "
                    "at most %d)", o->shard, o->shards, PL_NRPC_MAX_SHARDS);
    if (st == PL_OK) st = pl_dlg_store_open(s->store_path, &so, &s->store);
    if (st == PL_OK && pl_dlg_store_read_only(s->store))
        PL_LOGW("dialog store %s is read-only (the file is not writable): history and sessions "
                "are read, every turn and new session is refused with UNAVAILABLE",
                s->store_path);
    struct pl_nrpc_conn_opts co = PL_NRPC_CONN_OPTS_INIT;
    co.url = o->nats_url;
    co.name = "parley-dialog client";
    co.retry_on_failed_connect = true;
    if (st == PL_OK) st = pl_nrpc_conn_create(&co, &s->nc);
    if (st == PL_OK && o->action_threads > 0) st = pl__dlg_pool_create(o->action_threads, &s->pool);
    if (st == PL_OK && s->pool) st = pl_dlg_http_create(&s->http);
    if (st != PL_OK) {
        pl_dlgsvc_destroy(s);
        return st;
    }
    s->o.spec_dir = s->spec_dir;
    s->o.default_dialog = s->default_dialog;
    s->o.store_path = s->store_path;
    s->o.pipeline_dir = s->pipeline_dir;
    *out = s;
    return PL_OK;
}

void pl_dlgsvc_destroy(struct pl_dlgsvc *s) {
    if (!s) return;
    pl_dlg_http_stop(s->http); /* calls in flight end: their turns resume (or drop) */
    pl__dlgsvc_calls_stop(s);  /* the same for nats and parley-qa calls */
    pl__dlg_pool_destroy(s->pool); /* after the worker: every stream's lane is closed */
    pl_dlg_http_destroy(s->http);  /* after the pool: a turn still running may start a call */
    pl_nrpc_conn_destroy(s->nc);   /* the calls stopped above are let go (no done runs) */
    pthread_mutex_destroy(&s->calls.mu);
    pl_dlg_store_close(s->store);
    for (int i = 0; i < s->n_specs; i++) pl_dlg_spec_destroy(s->specs[i]);
    for (int i = 0; i < s->n_pipelines; i++) pl_dlg_pipeline_destroy(s->pipelines[i]);
    pl_free(s->pipelines);
    pl_free(s->pipeline_dir);
    for (int i = 0; i < PL__DLG_STRIPES; i++) {
        pthread_mutex_destroy(&s->stripes[i].mu);
        pthread_cond_destroy(&s->stripes[i].released);
    }
    pl_free(s->specs);
    pl_free(s->spec_dir);
    pl_free(s->default_dialog);
    pl_free(s->store_path);
    pl_free(s->tts_voice);
    pl_free(s);
}

void pl_dlgsvc_expire(struct pl_dlgsvc *s) {
    int ended = 0, deleted = 0;
    if (pl_dlg_store_expire(s->store, pl_time_wall_ms(), s->o.idle_end_ms, s->o.ended_ttl_ms,
                            &ended, &deleted) != PL_OK)
        PL_LOGW("retention: %s", pl_last_error());
    else if (ended || deleted)
        PL_LOGI("retention: %d sessions ended (idle), %d deleted (expired)", ended, deleted);
}

/* ---- protobuf glue -------------------------------------------------------------------------- */

void *pl__dlgsvc_session_msg(struct pl_arena *a, const struct pl_dlg_state *s) {
    Parley__Dialog__V1__Session *m = pl_arena_calloc(a, 1, sizeof *m);
    if (!m) return NULL;
    parley__dialog__v1__session__init(m);
    m->session_id = pl_arena_strdup(a, s->session_id);
    m->user_id = pl_arena_strdup(a, s->user);
    m->dialog = pl_arena_strdup(a, s->dialog);
    m->language_code = pl_arena_strdup(a, s->language);
    struct pl_dlg_ctx *act = pl_dlg_state_active((struct pl_dlg_state *)s);
    m->active_context_id = pl_arena_strdup(a, act ? act->id : "");
    m->state = s->state == PL_DLG_SESSION_ENDED ? PARLEY__DIALOG__V1__SESSION_STATE__SESSION_STATE_ENDED
                                                : PARLEY__DIALOG__V1__SESSION_STATE__SESSION_STATE_ACTIVE;
    m->created_ms = s->created_ms;
    m->last_active_ms = s->last_active_ms;
    return m;
}

void *pl__dlgsvc_context_msg(struct pl_arena *a, const struct pl_dlg_state *s,
                             const struct pl_dlg_ctx *c, bool active) {
    Parley__Dialog__V1__Context *m = pl_arena_calloc(a, 1, sizeof *m);
    if (!m) return NULL;
    parley__dialog__v1__context__init(m);
    m->context_id = pl_arena_strdup(a, c->id);
    m->session_id = pl_arena_strdup(a, s->session_id);
    m->name = pl_arena_strdup(a, c->name);
    m->state = c->state == PL_DLG_CTX_OPEN ? PARLEY__DIALOG__V1__CONTEXT_STATE__CONTEXT_STATE_OPEN
                                           : PARLEY__DIALOG__V1__CONTEXT_STATE__CONTEXT_STATE_CLOSED;
    m->active = active;
    m->current_intent = pl_arena_strdup(a, c->flow);
    m->turn_count = c->turn_count;
    m->created_ms = c->created_ms;
    m->updated_ms = c->updated_ms;
    m->slots = pl_arena_calloc(a, (size_t)c->n_slots + 1, sizeof *m->slots);
    for (int i = 0; m->slots && i < c->n_slots; i++) {
        Parley__Dialog__V1__Context__SlotsEntry *e = pl_arena_calloc(a, 1, sizeof *e);
        if (!e) break;
        parley__dialog__v1__context__slots_entry__init(e);
        e->key = pl_arena_strdup(a, c->slots[i].name);
        e->value = pl_arena_strdup(a, c->slots[i].value);
        m->slots[m->n_slots++] = e;
    }
    return m;
}

static const char *jstr(json_t *o, const char *k) {
    const char *v = json_string_value(json_object_get(o, k));
    return v ? v : "";
}

void *pl__dlgsvc_event_msg(struct pl_arena *a, const char *data) {
    json_t *o = json_loads(data, 0, NULL);
    Parley__Dialog__V1__DialogEvent *m = o ? pl_arena_calloc(a, 1, sizeof *m) : NULL;
    if (m) {
        parley__dialog__v1__dialog_event__init(m);
        m->type = (Parley__Dialog__V1__EventType)json_integer_value(json_object_get(o, "type"));
        m->detail = pl_arena_strdup(a, jstr(o, "detail"));
        json_t *attrs = json_object_get(o, "attributes");
        size_t n = json_object_size(attrs);
        m->attributes = pl_arena_calloc(a, n + 1, sizeof *m->attributes);
        const char *k;
        json_t *v;
        json_object_foreach(attrs, k, v) {
            Parley__Dialog__V1__DialogEvent__AttributesEntry *e =
                m->attributes ? pl_arena_calloc(a, 1, sizeof *e) : NULL;
            if (!e) break;
            parley__dialog__v1__dialog_event__attributes_entry__init(e);
            e->key = pl_arena_strdup(a, k);
            e->value = pl_arena_strdup(a, json_string_value(v) ? json_string_value(v) : "");
            m->attributes[m->n_attributes++] = e;
        }
    }
    json_decref(o);
    return m;
}

/* The reply: pack m into out. */
static pl_status reply(struct pl_arena *a, const ProtobufCMessage *m, struct pl_worker_out *out) {
    if (pl_arena_failed(a)) return PL_ERR(PL_E_NOMEM, "response");
    return pl_proto_pack(m, &out->data, &out->len);
}

/* ---- session rpcs --------------------------------------------------------------------------- */

static pl_status rpc_create_session(void *ud, const struct pl_worker_ctx *ctx, const uint8_t *req,
                                    size_t n, struct pl_worker_out *out) {
    struct pl_dlgsvc *s = ud;
    ProtobufCMessage *msg = NULL;
    PL_TRY(pl_proto_unpack(&parley__dialog__v1__create_session_request__descriptor, req, n, &msg));
    Parley__Dialog__V1__CreateSessionRequest *rq = (void *)msg;
    const char *dialog = rq->dialog && *rq->dialog ? rq->dialog : s->default_dialog;
    if (!*dialog) dialog = pl_dlg_spec_name(s->specs[0]);
    struct pl_dlg_state *st = NULL;
    struct pl_arena a;
    pl_arena_init(&a, 4096);
    pl_status r = PL_OK;
    if (!pl__dlgsvc_spec(s, dialog)) {
        r = PL_ERR(PL_E_NOT_FOUND, "dialog '%s' is not loaded (dialog.spec_dir %s)", dialog,
                   s->spec_dir);
        goto out;
    }
    json_t *md = json_object();
    for (size_t i = 0; md && i < rq->n_metadata; i++)
        json_object_set_new(md, rq->metadata[i]->key, json_string(rq->metadata[i]->value));
    char *mds = md ? json_dumps(md, JSON_COMPACT) : NULL;
    json_decref(md);
    r = pl_dlg_store_session_create(s->store, pl__dlgsvc_user(ctx, rq->user_id), dialog,
                                    rq->language_code, mds, pl_time_wall_ms(), &st);
    pl_free(mds);
    if (r != PL_OK) goto out;
    Parley__Dialog__V1__CreateSessionResponse resp =
        PARLEY__DIALOG__V1__CREATE_SESSION_RESPONSE__INIT;
    resp.session = pl__dlgsvc_session_msg(&a, st);
    resp.context = pl__dlgsvc_context_msg(&a, st, pl_dlg_state_active(st), true);
    resp.id = rq->id;
    r = reply(&a, &resp.base, out);
out:
    pl_dlg_state_destroy(st);
    pl_arena_deinit(&a);
    pl_proto_free(msg);
    return r;
}

/* The metadata JSON of a session into m's map. */
static void session_metadata(struct pl_dlgsvc *s, struct pl_arena *a, const char *user,
                             Parley__Dialog__V1__Session *m) {
    char *js = NULL;
    if (!m || pl_dlg_store_session_metadata(s->store, user, m->session_id, &js) != PL_OK) return;
    json_t *o = json_loads(js, 0, NULL);
    pl_free(js);
    m->metadata = pl_arena_calloc(a, json_object_size(o) + 1, sizeof *m->metadata);
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v) {
        Parley__Dialog__V1__Session__MetadataEntry *e =
            m->metadata ? pl_arena_calloc(a, 1, sizeof *e) : NULL;
        if (!e) break;
        parley__dialog__v1__session__metadata_entry__init(e);
        e->key = pl_arena_strdup(a, k);
        e->value = pl_arena_strdup(a, json_string_value(v) ? json_string_value(v) : "");
        m->metadata[m->n_metadata++] = e;
    }
    json_decref(o);
}

/* GetSession and EndSession: the same request shape (session_id, user_id, id). */
static pl_status session_rpc(struct pl_dlgsvc *s, const struct pl_worker_ctx *ctx,
                             const uint8_t *req, size_t n, bool end, struct pl_worker_out *out) {
    ProtobufCMessage *msg = NULL;
    PL_TRY(pl_proto_unpack(end ? &parley__dialog__v1__end_session_request__descriptor
                               : &parley__dialog__v1__get_session_request__descriptor,
                           req, n, &msg));
    /* both messages are {session_id = 1, user_id = 50, id = 100}: read through one view */
    Parley__Dialog__V1__GetSessionRequest *rq = (void *)msg;
    const char *user = pl__dlgsvc_user(ctx, rq->user_id);
    struct pl_dlg_state *st = NULL;
    struct pl_arena a;
    pl_arena_init(&a, 4096);
    pl_status r = PL_OK;
    if (end) {
        pl__dlgsvc_lock(s, rq->session_id);
        r = pl_dlg_store_session_end(s->store, user, rq->session_id, pl_time_wall_ms());
        pl__dlgsvc_unlock(s, rq->session_id);
    }
    if (r == PL_OK) r = pl_dlg_store_session_load(s->store, user, rq->session_id, &st);
    if (r == PL_OK) {
        Parley__Dialog__V1__GetSessionResponse resp = PARLEY__DIALOG__V1__GET_SESSION_RESPONSE__INIT;
        resp.session = pl__dlgsvc_session_msg(&a, st);
        session_metadata(s, &a, user, resp.session);
        resp.id = rq->id;
        r = reply(&a, &resp.base, out); /* EndSessionResponse has the same fields */
    }
    pl_dlg_state_destroy(st);
    pl_arena_deinit(&a);
    pl_proto_free(msg);
    return r;
}

static pl_status rpc_get_session(void *ud, const struct pl_worker_ctx *ctx, const uint8_t *req,
                                 size_t n, struct pl_worker_out *out) {
    return session_rpc(ud, ctx, req, n, false, out);
}

static pl_status rpc_end_session(void *ud, const struct pl_worker_ctx *ctx, const uint8_t *req,
                                 size_t n, struct pl_worker_out *out) {
    return session_rpc(ud, ctx, req, n, true, out);
}

/* ---- context rpcs --------------------------------------------------------------------------- */

static pl_status rpc_list_contexts(void *ud, const struct pl_worker_ctx *ctx, const uint8_t *req,
                                   size_t n, struct pl_worker_out *out) {
    struct pl_dlgsvc *s = ud;
    ProtobufCMessage *msg = NULL;
    PL_TRY(pl_proto_unpack(&parley__dialog__v1__list_contexts_request__descriptor, req, n, &msg));
    Parley__Dialog__V1__ListContextsRequest *rq = (void *)msg;
    struct pl_dlg_state *st = NULL;
    struct pl_arena a;
    pl_arena_init(&a, 4096);
    pl_status r = pl_dlg_store_contexts(s->store, pl__dlgsvc_user(ctx, rq->user_id),
                                        rq->session_id, rq->include_closed, &st);
    if (r == PL_OK) {
        Parley__Dialog__V1__ListContextsResponse resp =
            PARLEY__DIALOG__V1__LIST_CONTEXTS_RESPONSE__INIT;
        struct pl_dlg_ctx *act = pl_dlg_state_active(st);
        resp.contexts = pl_arena_calloc(&a, (size_t)st->n_ctx + 1, sizeof *resp.contexts);
        for (int i = 0; resp.contexts && i < st->n_ctx; i++)
            resp.contexts[resp.n_contexts++] =
                pl__dlgsvc_context_msg(&a, st, &st->ctx[i], &st->ctx[i] == act);
        resp.active_context_id = pl_arena_strdup(&a, act ? act->id : "");
        resp.id = rq->id;
        r = reply(&a, &resp.base, out);
    }
    pl_dlg_state_destroy(st);
    pl_arena_deinit(&a);
    pl_proto_free(msg);
    return r;
}

/* Load, change (fn) and commit a session under its stripe. */
typedef pl_status (*change_fn)(struct pl_dlg_state *st, void *rq, struct pl_dlg_turn *t,
                               struct pl_arena *a, ProtobufCMessage **resp);

static pl_status change_session(struct pl_dlgsvc *s, const char *user, const char *sid,
                                change_fn fn, void *rq, struct pl_worker_out *out) {
    struct pl_dlg_state *st = NULL;
    struct pl_dlg_turn t;
    pl_dlg_turn_init(&t);
    struct pl_arena a;
    pl_arena_init(&a, 4096);
    ProtobufCMessage *resp = NULL;
    pl__dlgsvc_lock(s, sid);
    pl_status r = pl_dlg_store_session_load(s->store, user, sid, &st);
    if (r == PL_OK) r = fn(st, rq, &t, &a, &resp);
    if (r == PL_OK) r = pl_dlg_store_commit(s->store, st, &t, pl_time_wall_ms());
    pl__dlgsvc_unlock(s, sid);
    if (r == PL_OK) r = reply(&a, resp, out);
    pl_dlg_turn_deinit(&t);
    pl_dlg_state_destroy(st);
    pl_arena_deinit(&a);
    return r;
}

static pl_status do_create_context(struct pl_dlg_state *st, void *req, struct pl_dlg_turn *t,
                                   struct pl_arena *a, ProtobufCMessage **resp) {
    Parley__Dialog__V1__CreateContextRequest *rq = req;
    struct pl_dlg_kv *kv = pl_arena_calloc(a, rq->n_slots + 1, sizeof *kv);
    if (!kv) return PL_ERR(PL_E_NOMEM, "slots");
    for (size_t i = 0; i < rq->n_slots; i++) {
        kv[i].name = rq->slots[i]->key;
        kv[i].value = rq->slots[i]->value;
    }
    struct pl_dlg_ctx *c = NULL;
    PL_TRY(pl_dlg_context_create(st, rq->name, kv, (int)rq->n_slots, rq->activate,
                                 pl_time_wall_ms(), t, &c));
    Parley__Dialog__V1__CreateContextResponse *m = pl_arena_calloc(a, 1, sizeof *m);
    if (!m) return PL_ERR(PL_E_NOMEM, "response");
    parley__dialog__v1__create_context_response__init(m);
    m->context = pl__dlgsvc_context_msg(a, st, c, c == pl_dlg_state_active(st));
    m->id = rq->id;
    *resp = &m->base;
    return PL_OK;
}

static pl_status rpc_create_context(void *ud, const struct pl_worker_ctx *ctx, const uint8_t *req,
                                    size_t n, struct pl_worker_out *out) {
    ProtobufCMessage *msg = NULL;
    PL_TRY(pl_proto_unpack(&parley__dialog__v1__create_context_request__descriptor, req, n, &msg));
    Parley__Dialog__V1__CreateContextRequest *rq = (void *)msg;
    pl_status r = change_session(ud, pl__dlgsvc_user(ctx, rq->user_id), rq->session_id,
                                 do_create_context, rq, out);
    pl_proto_free(msg);
    return r;
}

static pl_status do_switch_context(struct pl_dlg_state *st, void *req, struct pl_dlg_turn *t,
                                   struct pl_arena *a, ProtobufCMessage **resp) {
    Parley__Dialog__V1__SwitchContextRequest *rq = req;
    char prev[PL_DLG_ID_LEN];
    PL_TRY(pl_dlg_context_switch(st, rq->context_id, pl_time_wall_ms(), t, prev));
    Parley__Dialog__V1__SwitchContextResponse *m = pl_arena_calloc(a, 1, sizeof *m);
    if (!m) return PL_ERR(PL_E_NOMEM, "response");
    parley__dialog__v1__switch_context_response__init(m);
    struct pl_dlg_ctx *c = pl_dlg_state_active(st);
    m->context = pl__dlgsvc_context_msg(a, st, c, true);
    m->previous_context_id = pl_arena_strdup(a, prev);
    m->id = rq->id;
    *resp = &m->base;
    return PL_OK;
}

static pl_status rpc_switch_context(void *ud, const struct pl_worker_ctx *ctx, const uint8_t *req,
                                    size_t n, struct pl_worker_out *out) {
    ProtobufCMessage *msg = NULL;
    PL_TRY(pl_proto_unpack(&parley__dialog__v1__switch_context_request__descriptor, req, n, &msg));
    Parley__Dialog__V1__SwitchContextRequest *rq = (void *)msg;
    pl_status r = change_session(ud, pl__dlgsvc_user(ctx, rq->user_id), rq->session_id,
                                 do_switch_context, rq, out);
    pl_proto_free(msg);
    return r;
}

/* ---- history -------------------------------------------------------------------------------- */

static void *nlu_msg(struct pl_arena *a, json_t *o) {
    Parley__Dialog__V1__NluResult *m = pl_arena_calloc(a, 1, sizeof *m);
    Parley__Dialog__V1__Intent *in = pl_arena_calloc(a, 1, sizeof *in);
    if (!m || !in) return NULL;
    parley__dialog__v1__nlu_result__init(m);
    parley__dialog__v1__intent__init(in);
    m->text = pl_arena_strdup(a, jstr(o, "text"));
    in->name = pl_arena_strdup(a, jstr(o, "intent"));
    in->score = (float)json_real_value(json_object_get(o, "score"));
    if (in->name && in->name[0]) m->intent = in;
    json_t *slots = json_object_get(o, "slots");
    m->slots = pl_arena_calloc(a, json_array_size(slots) + 1, sizeof *m->slots);
    size_t i;
    json_t *v;
    json_array_foreach(slots, i, v) {
        Parley__Dialog__V1__Slot *sl = m->slots ? pl_arena_calloc(a, 1, sizeof *sl) : NULL;
        if (!sl) break;
        parley__dialog__v1__slot__init(sl);
        sl->name = pl_arena_strdup(a, jstr(v, "name"));
        sl->value = pl_arena_strdup(a, jstr(v, "value"));
        sl->score = (float)json_real_value(json_object_get(v, "score"));
        sl->start = (uint32_t)json_integer_value(json_object_get(v, "start"));
        sl->end = (uint32_t)json_integer_value(json_object_get(v, "end"));
        m->slots[m->n_slots++] = sl;
    }
    return m;
}

static void *action_msg(struct pl_arena *a, json_t *o) {
    Parley__Dialog__V1__ActionRecord *m = pl_arena_calloc(a, 1, sizeof *m);
    if (!m) return NULL;
    parley__dialog__v1__action_record__init(m);
    m->name = pl_arena_strdup(a, jstr(o, "name"));
    m->result = pl_arena_strdup(a, jstr(o, "result"));
    m->ok = json_is_true(json_object_get(o, "ok"));
    m->error = pl_arena_strdup(a, jstr(o, "error"));
    m->duration_ms = json_integer_value(json_object_get(o, "duration_ms"));
    json_t *args = json_object_get(o, "arguments");
    m->arguments = pl_arena_calloc(a, json_object_size(args) + 1, sizeof *m->arguments);
    const char *k;
    json_t *v;
    json_object_foreach(args, k, v) {
        Parley__Dialog__V1__ActionRecord__ArgumentsEntry *e =
            m->arguments ? pl_arena_calloc(a, 1, sizeof *e) : NULL;
        if (!e) break;
        parley__dialog__v1__action_record__arguments_entry__init(e);
        e->key = pl_arena_strdup(a, k);
        e->value = pl_arena_strdup(a, json_string_value(v) ? json_string_value(v) : "");
        m->arguments[m->n_arguments++] = e;
    }
    return m;
}

/* One log row as a HistoryEvent. */
static void *history_msg(struct pl_arena *a, const struct pl_dlg_hist *h) {
    Parley__Dialog__V1__HistoryEvent *m = pl_arena_calloc(a, 1, sizeof *m);
    json_t *o = json_loads(h->ev.data, 0, NULL);
    if (!m || !o) {
        json_decref(o);
        return m;
    }
    parley__dialog__v1__history_event__init(m);
    m->seq = h->seq;
    m->time_ms = h->ev.time_ms;
    m->context_id = pl_arena_strdup(a, h->ev.context_id);
    m->turn = h->ev.turn;
    switch (h->ev.kind) {
    case PL_DLG_EV_USER:
        m->payload_case = PARLEY__DIALOG__V1__HISTORY_EVENT__PAYLOAD_USER_TEXT;
        m->user_text = pl_arena_strdup(a, jstr(o, "text"));
        break;
    case PL_DLG_EV_NLU:
        m->payload_case = PARLEY__DIALOG__V1__HISTORY_EVENT__PAYLOAD_NLU;
        m->nlu = nlu_msg(a, o);
        break;
    case PL_DLG_EV_SLOT: {
        Parley__Dialog__V1__Slot *sl = pl_arena_calloc(a, 1, sizeof *sl);
        if (!sl) break;
        parley__dialog__v1__slot__init(sl);
        sl->name = pl_arena_strdup(a, jstr(o, "name"));
        sl->value = pl_arena_strdup(a, jstr(o, "value"));
        sl->source = pl_arena_strdup(a, jstr(o, "source"));
        m->payload_case = PARLEY__DIALOG__V1__HISTORY_EVENT__PAYLOAD_SLOT_SET;
        m->slot_set = sl;
        break;
    }
    case PL_DLG_EV_ACTION:
        m->payload_case = PARLEY__DIALOG__V1__HISTORY_EVENT__PAYLOAD_ACTION;
        m->action = action_msg(a, o);
        break;
    case PL_DLG_EV_BOT: {
        Parley__Dialog__V1__BotText *b = pl_arena_calloc(a, 1, sizeof *b);
        if (!b) break;
        parley__dialog__v1__bot_text__init(b);
        b->text = pl_arena_strdup(a, jstr(o, "text"));
        b->response_name = pl_arena_strdup(a, jstr(o, "response"));
        b->expects_input = json_is_true(json_object_get(o, "expects_input"));
        m->payload_case = PARLEY__DIALOG__V1__HISTORY_EVENT__PAYLOAD_BOT_TEXT;
        m->bot_text = b;
        break;
    }
    case PL_DLG_EV_EVENT:
        m->payload_case = PARLEY__DIALOG__V1__HISTORY_EVENT__PAYLOAD_EVENT;
        m->event = pl__dlgsvc_event_msg(a, h->ev.data);
        break;
    }
    json_decref(o);
    return m;
}

static pl_status rpc_get_history(void *ud, const struct pl_worker_ctx *ctx, const uint8_t *req,
                                 size_t n, struct pl_worker_out *out) {
    struct pl_dlgsvc *s = ud;
    ProtobufCMessage *msg = NULL;
    PL_TRY(pl_proto_unpack(&parley__dialog__v1__get_history_request__descriptor, req, n, &msg));
    Parley__Dialog__V1__GetHistoryRequest *rq = (void *)msg;
    int limit = rq->page_size <= 0 ? 100 : rq->page_size > 1000 ? 1000 : rq->page_size;
    struct pl_dlg_hist *h = NULL;
    int k = 0;
    bool more = false;
    struct pl_arena a;
    pl_arena_init(&a, 16384);
    pl_status r = pl_dlg_store_history(s->store, pl__dlgsvc_user(ctx, rq->user_id),
                                       rq->session_id, rq->context_id, rq->after_seq, limit, &h,
                                       &k, &more);
    if (r == PL_OK) {
        Parley__Dialog__V1__GetHistoryResponse resp = PARLEY__DIALOG__V1__GET_HISTORY_RESPONSE__INIT;
        resp.events = pl_arena_calloc(&a, (size_t)k + 1, sizeof *resp.events);
        for (int i = 0; resp.events && i < k; i++) resp.events[resp.n_events++] = history_msg(&a, &h[i]);
        resp.more = more;
        resp.id = rq->id;
        r = reply(&a, &resp.base, out);
    }
    pl_dlg_hist_free(h, k);
    pl_arena_deinit(&a);
    pl_proto_free(msg);
    return r;
}

/* DeleteUser: this replica's rows, then (every_shard) the other shards' (dialog_shard.c). */
static pl_status delete_user(struct pl_dlgsvc *s, const struct pl_worker_ctx *ctx,
                             const uint8_t *req, size_t n, bool every_shard,
                             struct pl_worker_out *out) {
    ProtobufCMessage *msg = NULL;
    PL_TRY(pl_proto_unpack(&parley__dialog__v1__delete_user_request__descriptor, req, n, &msg));
    Parley__Dialog__V1__DeleteUserRequest *rq = (void *)msg;
    int k = 0;
    pl_status r = pl_dlg_store_delete_user(s->store, pl__dlgsvc_user(ctx, rq->user_id), &k);
    if (r == PL_OK && every_shard) r = pl__dlgsvc_delete_other_shards(s, ctx, rq->user_id, &k);
    if (r == PL_OK) {
        Parley__Dialog__V1__DeleteUserResponse resp = PARLEY__DIALOG__V1__DELETE_USER_RESPONSE__INIT;
        resp.sessions_deleted = k;
        resp.id = rq->id;
        r = pl_proto_pack(&resp.base, &out->data, &out->len);
    }
    pl_proto_free(msg);
    return r;
}

static pl_status rpc_delete_user(void *ud, const struct pl_worker_ctx *ctx, const uint8_t *req,
                                 size_t n, struct pl_worker_out *out) {
    return delete_user(ud, ctx, req, n, true, out);
}

/* DeleteUser on this replica's shard only: how the replica that took a DeleteUser asks the
 * other shards (never fanned out again). */
static pl_status rpc_delete_user_local(void *ud, const struct pl_worker_ctx *ctx,
                                       const uint8_t *req, size_t n, struct pl_worker_out *out) {
    return delete_user(ud, ctx, req, n, false, out);
}

pl_status pl_dlgsvc_register(struct pl_dlgsvc *s, struct pl_worker *w) {
    static const struct pl_worker_unary rpcs[] = {
        {"create_session", rpc_create_session}, {"get_session", rpc_get_session},
        {"end_session", rpc_end_session},       {"list_contexts", rpc_list_contexts},
        {"create_context", rpc_create_context}, {"switch_context", rpc_switch_context},
        {"get_history", rpc_get_history},       {"delete_user", rpc_delete_user},
        {"delete_user_local", rpc_delete_user_local},
    };
    PL_TRY(pl_worker_add_unaries(w, rpcs, PL_ARRAY_LEN(rpcs), s));
    return pl__dlgsvc_register_converse(s, w);
}
