/*
 * gateway_web.c - the browser side of the gateway, on its HTTP port: the demo page's files
 * (gateway.web_root) and the WebSocket protocol parley.converse.v1 (docs/web-protocol.md),
 * which bridges each socket to one parley.dialog.v1 Converse stream over NATS - the same
 * stream the gRPC Converse opens (pl_nrpc_stream_open "dialog" "converse"), so the browser
 * and gRPC clients take one path to parley-dialog.
 *
 * A socket is a struct web_conn, reference-counted: the socket holds one reference until it
 * closes, its Converse stream object one until it is destroyed, every unary call in flight
 * (ListContexts, SwitchContext) one.
 *
 * Threads: the httpd thread runs on_open/on_message/on_close (never blocking: NATS sends and
 * async calls return at once) and is the only one that touches conn->stream: it opens,
 * sends on and destroys the stream, so a send never meets a destroyed stream. The NATS
 * threads run the stream and call callbacks, which turn protobuf answers into JSON text
 * frames and audio into binary frames (pl_httpd_ws_send queues them for the httpd thread);
 * the stream's end only marks it ended.
 */
#include <jansson.h>
#include <protobuf-c/protobuf-c.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "file.h"
#include "gateway_impl.h"
#include "gateway_web.h"
#include "httpd.h"
#include "log.h"
#include "parley/dialog/v1/dialog.pb-c.h"
#include "strbuf.h"

#define WEB_PROTOCOL "parley.converse.v1"
#define WEB_PATH "/v1/converse"
#define WEB_PROTOCOL_VERSION 1
#define WEB_MAX_MESSAGE (1u << 20)   /* one client message (audio frames are a few kB) */
#define WEB_MAX_FILE (16u << 20)     /* one file of the page */

struct web_conn {
    atomic_int refs;
    struct pl_gw *gw;
    struct pl_httpd_ws *ws;      /* retained */
    struct pl_nrpc_stream *stream; /* Converse stream (holds a reference); httpd thread only */
    pthread_mutex_t mu;          /* guards the fields below */
    bool ended;                  /* the stream's on_end ran */
    bool closed;                 /* the socket is gone */
    bool in_audio;               /* a reply's audio is being sent (audio_start went out) */
    bool audio_refused;          /* audio came with no conversation open and was told so once */
    char user[72];               /* API key's identity ("" = none): Parley-User */
    char user_id[PL_GW_WEB_MAX_USER]; /* start.user */
    char session_id[72];
    char request_id[PL_REQUEST_ID_LEN];
    int64_t start_us;
    struct gw_bucket *bucket;    /* the API key's limits the open conversation counts against */
    char peer[64];               /* the client's address (per-address limits without keys) */
};

/* ---- JSON out ------------------------------------------------------------------------------ */

/* A JSON string of s with invalid UTF-8 replaced by U+FFFD: a browser closes a socket that
 * sends it an invalid text frame. */
static void json_str(struct pl_strbuf *b, const char *s) {
    if (!s) s = "";
    const unsigned char *p = (const unsigned char *)s;
    bool ok = true;
    while (*p && ok) {
        int n = *p < 0x80 ? 1 : (*p >> 5) == 6 ? 2 : (*p >> 4) == 14 ? 3 : (*p >> 3) == 30 ? 4 : 0;
        for (int i = 1; i < n && ok; i++) ok = (p[i] & 0xC0) == 0x80;
        ok = ok && n > 0;
        p += n ? n : 1;
    }
    if (ok) {
        pl_strbuf_append_json(b, s);
        return;
    }
    struct pl_strbuf t;
    pl_strbuf_init(&t);
    for (p = (const unsigned char *)s; *p;) {
        int n = *p < 0x80 ? 1 : (*p >> 5) == 6 ? 2 : (*p >> 4) == 14 ? 3 : (*p >> 3) == 30 ? 4 : 0;
        bool good = n > 0;
        for (int i = 1; i < n && good; i++) good = (p[i] & 0xC0) == 0x80;
        if (good)
            pl_strbuf_append_n(&t, (const char *)p, (size_t)n);
        else
            pl_strbuf_append(&t, "\xEF\xBF\xBD");
        p += good ? n : 1;
    }
    pl_strbuf_append_json(b, t.data ? t.data : "");
    pl_strbuf_deinit(&t);
}

static void conn_send_text(struct web_conn *c, struct pl_strbuf *b) {
    if (b->failed) {
        PL_LOGW("web %s: out of memory for a message", c->request_id);
        return;
    }
    pl_status st = pl_httpd_ws_send(c->ws, false, b->data, b->len);
    if (st == PL_E_EXHAUSTED) {
        PL_LOGW("web %s: client too slow, closing", c->request_id);
        pl_httpd_ws_close(c->ws, 1008, "client reads too slowly");
    }
}

/* {"type":"error","code":CODE,"message":MSG,"fatal":F} */
static void send_error(struct web_conn *c, const char *code, const char *msg, bool fatal) {
    struct pl_strbuf b;
    pl_strbuf_init(&b);
    pl_strbuf_append(&b, "{\"type\":\"error\",\"code\":");
    json_str(&b, code);
    pl_strbuf_append(&b, ",\"message\":");
    json_str(&b, msg);
    pl_strbuf_appendf(&b, ",\"fatal\":%s}", fatal ? "true" : "false");
    conn_send_text(c, &b);
    pl_strbuf_deinit(&b);
}

static const char *event_name(int type) {
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value(&parley__dialog__v1__event_type__descriptor, type);
    if (!v) return "UNSPECIFIED";
    return strncmp(v->name, "EVENT_", 6) == 0 ? v->name + 6 : v->name;
}

static void where(struct pl_strbuf *b, const Parley__Dialog__V1__ConverseResponse *r) {
    pl_strbuf_append(b, ",\"session_id\":");
    json_str(b, r->session_id);
    pl_strbuf_append(b, ",\"context_id\":");
    json_str(b, r->context_id);
    pl_strbuf_appendf(b, ",\"turn\":%d}", (int)r->turn);
}

static void intent_json(struct pl_strbuf *b, const Parley__Dialog__V1__Intent *in) {
    pl_strbuf_append(b, "{\"name\":");
    json_str(b, in->name);
    pl_strbuf_appendf(b, ",\"score\":%.4f}", (double)in->score);
}

/* One ConverseResponse as the messages of docs/web-protocol.md. */
static void relay_response(struct web_conn *c, const Parley__Dialog__V1__ConverseResponse *r) {
    struct pl_strbuf b;
    pl_strbuf_init(&b);
    if (r->session_id && r->session_id[0]) {
        pthread_mutex_lock(&c->mu);
        snprintf(c->session_id, sizeof c->session_id, "%s", r->session_id);
        pthread_mutex_unlock(&c->mu);
    }
    switch (r->response_case) {
    case PARLEY__DIALOG__V1__CONVERSE_RESPONSE__RESPONSE_TRANSCRIPT: {
        const Parley__Dialog__V1__Transcript *t = r->transcript;
        pl_strbuf_append(&b, "{\"type\":\"transcript\",\"text\":");
        json_str(&b, t->text);
        pl_strbuf_appendf(&b, ",\"final\":%s,\"stability\":%.3f,\"confidence\":%.3f,"
                              "\"audio_processed\":%.3f",
                          t->is_final ? "true" : "false", (double)t->stability,
                          (double)t->confidence, (double)t->audio_processed);
        break;
    }
    case PARLEY__DIALOG__V1__CONVERSE_RESPONSE__RESPONSE_NLU: {
        const Parley__Dialog__V1__NluResult *n = r->nlu;
        pl_strbuf_append(&b, "{\"type\":\"nlu\",\"text\":");
        json_str(&b, n->text);
        pl_strbuf_append(&b, ",\"intent\":");
        if (n->intent)
            intent_json(&b, n->intent);
        else
            pl_strbuf_append(&b, "null");
        pl_strbuf_append(&b, ",\"alternatives\":[");
        for (size_t i = 0; i < n->n_alternatives; i++) {
            if (i) pl_strbuf_append_char(&b, ',');
            intent_json(&b, n->alternatives[i]);
        }
        pl_strbuf_append(&b, "],\"slots\":[");
        for (size_t i = 0; i < n->n_slots; i++) {
            const Parley__Dialog__V1__Slot *s = n->slots[i];
            pl_strbuf_append(&b, i ? ",{\"name\":" : "{\"name\":");
            json_str(&b, s->name);
            pl_strbuf_append(&b, ",\"value\":");
            json_str(&b, s->value);
            pl_strbuf_appendf(&b, ",\"score\":%.4f,\"start\":%u,\"end\":%u}", (double)s->score,
                              s->start, s->end);
        }
        pl_strbuf_append(&b, "],\"domain\":");
        json_str(&b, n->domain);
        break;
    }
    case PARLEY__DIALOG__V1__CONVERSE_RESPONSE__RESPONSE_BOT_TEXT:
        pl_strbuf_append(&b, "{\"type\":\"bot_text\",\"text\":");
        json_str(&b, r->bot_text->text);
        pl_strbuf_append(&b, ",\"response_name\":");
        json_str(&b, r->bot_text->response_name);
        pl_strbuf_appendf(&b, ",\"expects_input\":%s", r->bot_text->expects_input ? "true" : "false");
        break;
    case PARLEY__DIALOG__V1__CONVERSE_RESPONSE__RESPONSE_BOT_AUDIO: {
        const Parley__Dialog__V1__BotAudio *a = r->bot_audio;
        pthread_mutex_lock(&c->mu);
        bool first = !c->in_audio && (a->audio.len > 0 || !a->is_last);
        c->in_audio = !a->is_last;
        pthread_mutex_unlock(&c->mu);
        if (first) { /* the format of the binary frames that follow */
            pl_strbuf_appendf(&b, "{\"type\":\"audio_start\",\"encoding\":\"%s\",\"sample_rate_hz\":%d",
                              a->encoding == NVIDIA__RIVA__AUDIO_ENCODING__LINEAR_PCM ||
                                      a->encoding == NVIDIA__RIVA__AUDIO_ENCODING__ENCODING_UNSPECIFIED
                                  ? "LINEAR_PCM"
                                  : "OTHER",
                              (int)a->sample_rate_hz);
            where(&b, r);
            conn_send_text(c, &b);
            pl_strbuf_reset(&b);
        }
        if (a->audio.len > 0 && pl_httpd_ws_send(c->ws, true, a->audio.data, a->audio.len) ==
                                    PL_E_EXHAUSTED)
            pl_httpd_ws_close(c->ws, 1008, "client reads too slowly");
        if (!a->is_last) {
            pl_strbuf_deinit(&b);
            return;
        }
        pl_strbuf_append(&b, "{\"type\":\"audio_end\"");
        break;
    }
    case PARLEY__DIALOG__V1__CONVERSE_RESPONSE__RESPONSE_EVENT: {
        const Parley__Dialog__V1__DialogEvent *e = r->event;
        pl_strbuf_append(&b, "{\"type\":\"event\",\"event\":");
        json_str(&b, event_name(e->type));
        pl_strbuf_append(&b, ",\"detail\":");
        json_str(&b, e->detail);
        pl_strbuf_append(&b, ",\"attributes\":{");
        for (size_t i = 0; i < e->n_attributes; i++) {
            if (i) pl_strbuf_append_char(&b, ',');
            json_str(&b, e->attributes[i]->key);
            pl_strbuf_append_char(&b, ':');
            json_str(&b, e->attributes[i]->value);
        }
        pl_strbuf_append_char(&b, '}');
        break;
    }
    default: pl_strbuf_deinit(&b); return;
    }
    where(&b, r);
    conn_send_text(c, &b);
    pl_strbuf_deinit(&b);
}

/* ---- references ---------------------------------------------------------------------------- */

static void conn_ref(struct web_conn *c) { atomic_fetch_add(&c->refs, 1); }

static void conn_unref(struct web_conn *c) {
    if (atomic_fetch_sub(&c->refs, 1) != 1) return;
    pl_httpd_ws_release(c->ws);
    pthread_mutex_destroy(&c->mu);
    pl_free(c);
}

/* Destroy the stream object (httpd thread) and drop its reference. */
static void drop_stream(struct web_conn *c) {
    struct pl_nrpc_stream *s = c->stream;
    if (!s) return;
    c->stream = NULL;
    pl_nrpc_stream_destroy(s); /* waits for a running callback; on_end does not run after */
    pthread_mutex_lock(&c->mu);
    bool ended = c->ended;
    c->ended = false;
    c->in_audio = false;
    pthread_mutex_unlock(&c->mu);
    if (!ended) { /* on_end did not run (the socket closed mid-conversation): count it down */
        atomic_fetch_sub(&c->gw->pending, 1);
        pthread_mutex_lock(&c->mu);
        struct gw_bucket *bucket = c->bucket;
        c->bucket = NULL;
        pthread_mutex_unlock(&c->mu);
        pl__gw_limits_release(c->gw, bucket);
    }
    conn_unref(c);
}

/* ---- unary calls: contexts ----------------------------------------------------------------- */

static void fill_meta(struct web_conn *c, struct pl_nrpc_meta *m) {
    m->request_id = c->request_id;
    m->deadline_us = 0;
    m->user = c->user[0] ? c->user : NULL;
}

static void contexts_done(void *ud, struct pl_nrpc_reply *rp) {
    struct web_conn *c = ud;
    if (rp->code != PL_GRPC_OK) {
        send_error(c, pl_grpc_code_name(rp->code), rp->message, false);
        conn_unref(c);
        return;
    }
    Parley__Dialog__V1__ListContextsResponse *r =
        parley__dialog__v1__list_contexts_response__unpack(NULL, rp->len, rp->data);
    if (!r) {
        send_error(c, "INTERNAL", "parley-dialog sent a bad ListContextsResponse", false);
        conn_unref(c);
        return;
    }
    struct pl_strbuf b;
    pl_strbuf_init(&b);
    pl_strbuf_append(&b, "{\"type\":\"contexts\",\"active_context_id\":");
    json_str(&b, r->active_context_id);
    pl_strbuf_append(&b, ",\"contexts\":[");
    for (size_t i = 0; i < r->n_contexts; i++) {
        const Parley__Dialog__V1__Context *x = r->contexts[i];
        pl_strbuf_append(&b, i ? ",{\"context_id\":" : "{\"context_id\":");
        json_str(&b, x->context_id);
        pl_strbuf_append(&b, ",\"name\":");
        json_str(&b, x->name);
        pl_strbuf_appendf(&b, ",\"active\":%s,\"open\":%s,\"turn_count\":%d,\"current_intent\":",
                          x->active ? "true" : "false",
                          x->state == PARLEY__DIALOG__V1__CONTEXT_STATE__CONTEXT_STATE_OPEN ? "true"
                                                                                            : "false",
                          (int)x->turn_count);
        json_str(&b, x->current_intent);
        pl_strbuf_append(&b, ",\"slots\":{");
        for (size_t k = 0; k < x->n_slots; k++) {
            if (k) pl_strbuf_append_char(&b, ',');
            json_str(&b, x->slots[k]->key);
            pl_strbuf_append_char(&b, ':');
            json_str(&b, x->slots[k]->value);
        }
        pl_strbuf_appendf(&b, "},\"updated_ms\":%lld}", (long long)x->updated_ms);
    }
    pl_strbuf_append(&b, "]}");
    conn_send_text(c, &b);
    pl_strbuf_deinit(&b);
    parley__dialog__v1__list_contexts_response__free_unpacked(r, NULL);
    conn_unref(c);
}

/* ListContexts of the conn's session; the answer goes out as a "contexts" message. */
static void list_contexts(struct web_conn *c) {
    struct pl_nrpc_conn *nc = pl__gw_nrpc(c->gw);
    Parley__Dialog__V1__ListContextsRequest rq = PARLEY__DIALOG__V1__LIST_CONTEXTS_REQUEST__INIT;
    char sid[72], uid[72];
    pthread_mutex_lock(&c->mu);
    snprintf(sid, sizeof sid, "%s", c->session_id);
    snprintf(uid, sizeof uid, "%s", c->user_id);
    pthread_mutex_unlock(&c->mu);
    if (!sid[0] || !nc) return;
    rq.session_id = sid;
    rq.user_id = uid;
    size_t n = parley__dialog__v1__list_contexts_request__get_packed_size(&rq);
    uint8_t buf[512];
    if (n > sizeof buf) return;
    parley__dialog__v1__list_contexts_request__pack(&rq, buf);
    struct pl_nrpc_meta m;
    fill_meta(c, &m);
    char subj[96]; /* the session's shard (gateway_route.c) */
    pl__gw_route_subject("dialog", "list_contexts", pl_nrpc_shard_of_id(sid), subj, sizeof subj);
    conn_ref(c);
    if (pl_nrpc_call_async(nc, subj, buf, n, &m,
                           (int)c->gw->cfg.request_timeout_ms, contexts_done, c) != PL_OK) {
        send_error(c, "UNAVAILABLE", pl_last_error(), false);
        conn_unref(c);
    }
}

static void switch_done(void *ud, struct pl_nrpc_reply *rp) {
    struct web_conn *c = ud;
    if (rp->code != PL_GRPC_OK)
        send_error(c, pl_grpc_code_name(rp->code), rp->message, false);
    else
        list_contexts(c);
    conn_unref(c);
}

/* SwitchContext to context_id, or (create) CreateContext named context_id, made active. */
static void context_call(struct web_conn *c, const char *context_id, bool create) {
    struct pl_nrpc_conn *nc = pl__gw_nrpc(c->gw);
    Parley__Dialog__V1__SwitchContextRequest rq = PARLEY__DIALOG__V1__SWITCH_CONTEXT_REQUEST__INIT;
    Parley__Dialog__V1__CreateContextRequest cr = PARLEY__DIALOG__V1__CREATE_CONTEXT_REQUEST__INIT;
    char sid[72], uid[72], cid[72];
    pthread_mutex_lock(&c->mu);
    snprintf(sid, sizeof sid, "%s", c->session_id);
    snprintf(uid, sizeof uid, "%s", c->user_id);
    pthread_mutex_unlock(&c->mu);
    snprintf(cid, sizeof cid, "%s", context_id);
    if (!sid[0]) {
        send_error(c, "FAILED_PRECONDITION", "no session yet: send start first", false);
        return;
    }
    if (!nc) {
        send_error(c, "UNAVAILABLE", "gateway is not connected to NATS", false);
        return;
    }
    rq.session_id = cr.session_id = sid;
    rq.user_id = cr.user_id = uid;
    rq.context_id = cr.name = cid;
    cr.activate = true;
    uint8_t buf[512];
    size_t n = create ? parley__dialog__v1__create_context_request__get_packed_size(&cr)
                      : parley__dialog__v1__switch_context_request__get_packed_size(&rq);
    if (n > sizeof buf) return;
    if (create)
        parley__dialog__v1__create_context_request__pack(&cr, buf);
    else
        parley__dialog__v1__switch_context_request__pack(&rq, buf);
    struct pl_nrpc_meta m;
    fill_meta(c, &m);
    char subj[96]; /* the session's shard (gateway_route.c) */
    pl__gw_route_subject("dialog", create ? "create_context" : "switch_context",
                         pl_nrpc_shard_of_id(sid), subj, sizeof subj);
    conn_ref(c);
    if (pl_nrpc_call_async(nc, subj, buf, n, &m,
                           (int)c->gw->cfg.request_timeout_ms, switch_done, c) != PL_OK) {
        send_error(c, "UNAVAILABLE", pl_last_error(), false);
        conn_unref(c);
    }
}

/* ---- the Converse stream ------------------------------------------------------------------- */

static void stream_message(void *ud, const uint8_t *data, size_t n) {
    struct web_conn *c = ud;
    Parley__Dialog__V1__ConverseResponse *r =
        parley__dialog__v1__converse_response__unpack(NULL, n, data);
    if (!r) {
        send_error(c, "INTERNAL", "parley-dialog sent a bad ConverseResponse", false);
        return;
    }
    relay_response(c, r);
    bool refresh = r->response_case == PARLEY__DIALOG__V1__CONVERSE_RESPONSE__RESPONSE_EVENT &&
                   (r->event->type == PARLEY__DIALOG__V1__EVENT_TYPE__EVENT_TURN_COMPLETE ||
                    r->event->type == PARLEY__DIALOG__V1__EVENT_TYPE__EVENT_SESSION_CREATED ||
                    r->event->type == PARLEY__DIALOG__V1__EVENT_TYPE__EVENT_CONTEXT_SWITCHED);
    parley__dialog__v1__converse_response__free_unpacked(r, NULL);
    if (refresh) list_contexts(c);
}

static void stream_end(void *ud, int code, const char *message) {
    struct web_conn *c = ud;
    /* Everything the page's next message is judged by, before the page reads "end": the
     * limits' slot and the gateway's count of calls in flight are given back (a page that
     * starts again at once finds them free), the call is in the metrics, and the stream is
     * marked ended (audio sent after "end" is refused FAILED_PRECONDITION, never fed to the
     * finished stream). */
    pthread_mutex_lock(&c->mu);
    struct gw_bucket *bucket = c->bucket;
    c->bucket = NULL;
    c->ended = true; /* the httpd thread destroys the stream object */
    pthread_mutex_unlock(&c->mu);
    pl__gw_limits_release(c->gw, bucket);
    pl__gw_metrics_record(c->gw, "converse_web", code, pl_time_mono_us() - c->start_us);
    atomic_fetch_sub(&c->gw->pending, 1);
    if (code != PL_GRPC_OK)
        PL_LOGI("web %s: converse ended %s %s", c->request_id, pl_grpc_code_name(code),
                message ? message : "");
    struct pl_strbuf b;
    pl_strbuf_init(&b);
    pl_strbuf_append(&b, "{\"type\":\"end\",\"code\":");
    json_str(&b, pl_grpc_code_name(code));
    pl_strbuf_append(&b, ",\"message\":");
    json_str(&b, message ? message : "");
    pl_strbuf_append_char(&b, '}');
    conn_send_text(c, &b);
    pl_strbuf_deinit(&b);
}

static bool stream_open(struct web_conn *c) {
    if (!c->stream) return false;
    pthread_mutex_lock(&c->mu);
    bool ended = c->ended;
    pthread_mutex_unlock(&c->mu);
    return !ended;
}

static bool send_request(struct web_conn *c, Parley__Dialog__V1__ConverseRequest *rq) {
    if (!stream_open(c)) {
        send_error(c, "FAILED_PRECONDITION", "no conversation: send start first", false);
        return false;
    }
    size_t n = parley__dialog__v1__converse_request__get_packed_size(rq);
    uint8_t small[4096], *buf = n <= sizeof small ? small : pl_malloc(n);
    if (!buf) return false;
    parley__dialog__v1__converse_request__pack(rq, buf);
    pl_status st = pl_nrpc_stream_send(c->stream, buf, n); /* PL_E_CANCELLED after its end */
    if (buf != small) pl_free(buf);
    return st == PL_OK;
}

static const char *jstr(json_t *o, const char *key) {
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

static bool jbool(json_t *o, const char *key, bool def) {
    json_t *v = json_object_get(o, key);
    return json_is_boolean(v) ? json_is_true(v) : def;
}

/* A client-given name of the start message; false with why = "FIELD: problem". */
static bool name_ok(const char *field, const char *v, char *why, size_t cap) {
    char buf[64];
    const char *bad = pl__gw_name_problem(v, strlen(v), buf, sizeof buf);
    if (!bad) return true;
    snprintf(why, cap, "%s: %s", field, bad);
    return false;
}

bool pl__gw_web_start_config(json_t *msg, struct pl_gw_web_start *st, char *why, size_t cap) {
    Parley__Dialog__V1__ConverseConfig *cfg = &st->cfg;
    Parley__Dialog__V1__AudioInputConfig *in = &st->in;
    Parley__Dialog__V1__AudioOutputConfig *out = &st->out;
    parley__dialog__v1__converse_config__init(cfg);
    parley__dialog__v1__audio_input_config__init(in);
    parley__dialog__v1__audio_output_config__init(out);
    const char *user_id = jstr(msg, "user");
    if (strlen(user_id) >= PL_GW_WEB_MAX_USER) {
        snprintf(why, cap, "user: at most 64 bytes");
        return false;
    }
    cfg->session_id = (char *)jstr(msg, "session_id");
    cfg->user_id = (char *)user_id;
    cfg->dialog = (char *)jstr(msg, "dialog");
    cfg->language_code = (char *)jstr(msg, "language");
    cfg->context_id = (char *)jstr(msg, "context_id");
    cfg->interim_results = jbool(msg, "interim_results", true);
    cfg->include_nlu = jbool(msg, "nlu", true);
    cfg->barge_in = jbool(msg, "barge_in", false);
    json_t *ia = json_object_get(msg, "input_audio"), *oa = json_object_get(msg, "output_audio");
    if (json_is_object(ia)) {
        json_t *rate = json_object_get(ia, "sample_rate_hz");
        in->encoding = NVIDIA__RIVA__AUDIO_ENCODING__LINEAR_PCM;
        in->sample_rate_hertz = rate ? (int32_t)json_integer_value(rate) : 16000;
        const char *ep = jstr(ia, "endpointing");
        if (ep[0] && strcmp(ep, "server") && strcmp(ep, "push_to_talk")) {
            snprintf(why, cap, "input_audio.endpointing: \"server\" or \"push_to_talk\"");
            return false;
        }
        in->server_endpointing = strcmp(ep, "push_to_talk") != 0;
        cfg->input_audio = in;
    }
    if (json_is_object(oa)) {
        out->encoding = NVIDIA__RIVA__AUDIO_ENCODING__LINEAR_PCM;
        out->sample_rate_hz = (int32_t)json_integer_value(json_object_get(oa, "sample_rate_hz"));
        out->voice_name = (char *)jstr(oa, "voice");
        cfg->output_audio = out;
    }
    return name_ok("dialog", cfg->dialog, why, cap) &&
           name_ok("session_id", cfg->session_id, why, cap) &&
           name_ok("context_id", cfg->context_id, why, cap) &&
           (!cfg->output_audio || name_ok("output_audio.voice", out->voice_name, why, cap));
}

/* "start": authenticate, build the ConverseConfig, open the stream. */
static void on_start(struct web_conn *c, json_t *msg) {
    struct pl_gw *gw = c->gw;
    json_t *ver = json_object_get(msg, "protocol");
    if (ver && json_integer_value(ver) != WEB_PROTOCOL_VERSION) {
        send_error(c, "UNIMPLEMENTED", "this gateway speaks parley.converse.v1 protocol 1", true);
        pl_httpd_ws_close(c->ws, 1002, "protocol version");
        return;
    }
    if (stream_open(c)) {
        send_error(c, "FAILED_PRECONDITION", "a conversation is open: send stop first", false);
        return;
    }
    drop_stream(c); /* the last conversation's, ended */
    long key_idx = -1;
    if (gw->keys) {
        const char *key = jstr(msg, "api_key");
        key_idx = key[0] ? pl_gw_keys_find(gw->keys, key, strlen(key)) : -1;
        const char *user = key_idx >= 0 ? pl_gw_keys_user(gw->keys, (size_t)key_idx) : NULL;
        if (!user) {
            send_error(c, "UNAUTHENTICATED",
                       key[0] ? "invalid API key" : "this gateway requires an API key (api_key)", true);
            pl_httpd_ws_close(c->ws, 1008, "unauthenticated");
            return;
        }
        snprintf(c->user, sizeof c->user, "%s", user);
    }
    struct pl_gw_web_start start;
    char why[256];
    if (!pl__gw_web_start_config(msg, &start, why, sizeof why)) {
        send_error(c, "INVALID_ARGUMENT", why, false);
        return;
    }
    const char *user_id = start.cfg.user_id;
    if (atomic_load(&gw->pending) >= gw->cfg.max_pending) {
        send_error(c, "RESOURCE_EXHAUSTED", "gateway: too many calls in flight", false);
        return;
    }
    if (!pl__gw_connected(gw)) {
        send_error(c, "UNAVAILABLE", "gateway is not connected to NATS", false);
        return;
    }
    char lmsg[300];
    int64_t retry_ms = 0;
    struct gw_bucket *bucket = NULL;
    if (!pl__gw_limits_admit(gw, key_idx, c->peer, &bucket, lmsg, sizeof lmsg, &retry_ms)) {
        send_error(c, "RESOURCE_EXHAUSTED", lmsg, false);
        return;
    }
    pthread_mutex_lock(&c->mu);
    c->bucket = bucket; /* given back when the conversation ends */
    pthread_mutex_unlock(&c->mu);
    snprintf(c->user_id, sizeof c->user_id, "%s", user_id);
    snprintf(c->session_id, sizeof c->session_id, "%s", start.cfg.session_id);
    pl_request_id_new(c->request_id);
    c->start_us = pl_time_mono_us();

    /* the "ready" message first, then the stream's own answers */
    struct pl_strbuf b;
    pl_strbuf_init(&b);
    pl_strbuf_appendf(&b, "{\"type\":\"ready\",\"protocol\":%d,\"request_id\":", WEB_PROTOCOL_VERSION);
    json_str(&b, c->request_id);
    pl_strbuf_append(&b, ",\"user\":");
    json_str(&b, c->user[0] ? c->user : user_id);
    pl_strbuf_append_char(&b, '}');
    conn_send_text(c, &b);
    pl_strbuf_deinit(&b);

    struct pl_nrpc_meta m;
    fill_meta(c, &m);
    static const struct pl_nrpc_stream_cbs cbs = {stream_message, stream_end};
    atomic_fetch_add(&gw->pending, 1);
    conn_ref(c); /* the stream's */
    struct pl_nrpc_stream *s = NULL;
    char svc[64]; /* the session's shard, when the start names one (gateway_route.c) */
    pl__gw_route_stream_svc("dialog", pl_nrpc_shard_of_id(c->session_id), svc, sizeof svc);
    pl_status st = pl_nrpc_stream_open(pl__gw_nrpc(gw), svc, "converse", &m, &cbs, c, &s);
    c->stream = st == PL_OK ? s : NULL;
    pthread_mutex_lock(&c->mu);
    c->audio_refused = false;
    pthread_mutex_unlock(&c->mu);
    if (st != PL_OK) {
        atomic_fetch_sub(&gw->pending, 1);
        pthread_mutex_lock(&c->mu);
        bucket = c->bucket;
        c->bucket = NULL;
        pthread_mutex_unlock(&c->mu);
        pl__gw_limits_release(gw, bucket);
        pl_nrpc_stream_destroy(s);
        send_error(c, "UNAVAILABLE", pl_last_error(), false);
        conn_unref(c);
        return;
    }
    Parley__Dialog__V1__ConverseRequest rq = PARLEY__DIALOG__V1__CONVERSE_REQUEST__INIT;
    rq.request_case = PARLEY__DIALOG__V1__CONVERSE_REQUEST__REQUEST_CONFIG;
    rq.config = &start.cfg;
    send_request(c, &rq);
}

void pl__gw_web_message(const char *text, size_t n, struct pl_gw_web_message *m) {
    memset(m, 0, sizeof *m);
    parley__dialog__v1__converse_request__init(&m->rq);
    parley__dialog__v1__text_input__init(&m->text);
    parley__dialog__v1__control_input__init(&m->control);
    json_error_t err;
    m->msg = json_loadb(text, n, 0, &err);
    const char *type = m->msg ? json_string_value(json_object_get(m->msg, "type")) : NULL;
    if (!type) {
        snprintf(m->why, sizeof m->why, "%s", m->msg ? "a message needs a \"type\""
                                                     : "a text message must be a JSON object");
    } else if (strcmp(type, "start") == 0) {
        m->kind = PL_GW_WEB_START;
    } else if (strcmp(type, "text") == 0) {
        m->kind = PL_GW_WEB_REQUEST;
        m->text.text = (char *)jstr(m->msg, "text");
        m->rq.request_case = PARLEY__DIALOG__V1__CONVERSE_REQUEST__REQUEST_TEXT;
        m->rq.text = &m->text;
    } else if (strcmp(type, "end_of_utterance") == 0 || strcmp(type, "interrupt") == 0) {
        m->kind = PL_GW_WEB_REQUEST;
        m->control.kind = type[0] == 'e' ? PARLEY__DIALOG__V1__CONTROL_INPUT__KIND__END_OF_UTTERANCE
                                         : PARLEY__DIALOG__V1__CONTROL_INPUT__KIND__INTERRUPT;
        m->rq.request_case = PARLEY__DIALOG__V1__CONVERSE_REQUEST__REQUEST_CONTROL;
        m->rq.control = &m->control;
    } else if (strcmp(type, "stop") == 0) {
        m->kind = PL_GW_WEB_STOP;
    } else if (strcmp(type, "list_contexts") == 0) {
        m->kind = PL_GW_WEB_LIST;
    } else if (strcmp(type, "switch_context") == 0) {
        m->kind = PL_GW_WEB_SWITCH;
        m->arg = jstr(m->msg, "context_id");
    } else if (strcmp(type, "new_context") == 0) {
        m->kind = PL_GW_WEB_NEW;
        m->arg = jstr(m->msg, "name");
    } else {
        snprintf(m->why, sizeof m->why, "unknown message type \"%.64s\"", type);
    }
}

void pl__gw_web_message_done(struct pl_gw_web_message *m) {
    json_decref(m->msg);
    m->msg = NULL;
}

static void on_text_message(struct web_conn *c, const char *text, size_t n) {
    struct pl_gw_web_message m;
    pl__gw_web_message(text, n, &m);
    switch (m.kind) {
    case PL_GW_WEB_INVALID: send_error(c, "INVALID_ARGUMENT", m.why, false); break;
    case PL_GW_WEB_START: on_start(c, m.msg); break;
    case PL_GW_WEB_REQUEST: send_request(c, &m.rq); break;
    case PL_GW_WEB_STOP:
        if (stream_open(c)) pl_nrpc_stream_close_send(c->stream);
        break;
    case PL_GW_WEB_LIST: list_contexts(c); break;
    case PL_GW_WEB_SWITCH: context_call(c, m.arg, false); break;
    case PL_GW_WEB_NEW: context_call(c, m.arg, true); break;
    }
    pl__gw_web_message_done(&m);
}

/* ---- socket callbacks (httpd thread) ------------------------------------------------------- */

/* Same origin (the page came from this port), or listed in gateway.web_origins ("*" = any).
 * A request without Origin is no browser's and needs no check. */
bool pl__gw_web_origin_ok(const struct pl_gw *gw, const char *origin, const char *host) {
    if (!origin[0]) return true;
    const char *o = strstr(origin, "://");
    if (o && strcmp(o + 3, host) == 0) return true;
    const char *list = gw->cfg.web_origins;
    size_t ol = strlen(origin);
    for (const char *p = list; p && *p;) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        while (n && *p == ' ') p++, n--;
        while (n && p[n - 1] == ' ') n--;
        if ((n == 1 && *p == '*') || (n == ol && memcmp(p, origin, n) == 0)) return true;
        p = e ? e + 1 : NULL;
    }
    return false;
}

static int ws_open(void *ud, struct pl_httpd_ws *ws, const char *path, const char *origin,
                   const char *host) {
    struct pl_gw *gw = ud;
    if (strcmp(path, WEB_PATH) != 0) return 404;
    if (!pl__gw_web_origin_ok(gw, origin, host)) {
        PL_LOGW("web: socket from origin %s refused (gateway.web_origins)", origin);
        return 403;
    }
    struct web_conn *c = pl_calloc(1, sizeof *c);
    if (!c) return 503;
    atomic_init(&c->refs, 1); /* the socket's */
    c->gw = gw;
    c->ws = ws;
    pl_httpd_ws_retain(ws);
    pthread_mutex_init(&c->mu, NULL);
    pl_request_id_new(c->request_id);
    snprintf(c->peer, sizeof c->peer, "%s", pl_httpd_ws_peer(ws));
    pl_httpd_ws_set_user(ws, c);
    return 0;
}

static void ws_message(void *ud, struct pl_httpd_ws *ws, bool binary, const uint8_t *data,
                       size_t n) {
    PL_UNUSED(ud);
    struct web_conn *c = pl_httpd_ws_user(ws);
    if (!c) return;
    if (!binary) {
        on_text_message(c, (const char *)data, n);
        return;
    }
    if (n % 2) {
        send_error(c, "INVALID_ARGUMENT", "audio frames carry whole 16-bit samples", false);
        return;
    }
    if (!stream_open(c)) {
        /* A live microphone sends 50 frames a second: say it once, not once per frame (the
         * page would show only this and hide why the conversation ended). */
        pthread_mutex_lock(&c->mu);
        bool told = c->audio_refused;
        c->audio_refused = true;
        pthread_mutex_unlock(&c->mu);
        if (!told)
            send_error(c, "FAILED_PRECONDITION", "audio with no conversation open: send start "
                       "first (audio frames are dropped until then)", false);
        return;
    }
    Parley__Dialog__V1__ConverseRequest rq = PARLEY__DIALOG__V1__CONVERSE_REQUEST__INIT;
    rq.request_case = PARLEY__DIALOG__V1__CONVERSE_REQUEST__REQUEST_AUDIO_CONTENT;
    rq.audio_content.data = (uint8_t *)data;
    rq.audio_content.len = n;
    send_request(c, &rq);
}

static void ws_closed(void *ud, struct pl_httpd_ws *ws) {
    PL_UNUSED(ud);
    struct web_conn *c = pl_httpd_ws_user(ws);
    if (!c) return;
    pl_httpd_ws_set_user(ws, NULL);
    pthread_mutex_lock(&c->mu);
    c->closed = true;
    pthread_mutex_unlock(&c->mu);
    drop_stream(c); /* cancels the Converse stream: parley-dialog frees the session's stream */
    conn_unref(c);
}

void pl__gw_web_cbs(struct pl_httpd_ws_cbs *cbs) {
    memset(cbs, 0, sizeof *cbs);
    cbs->protocol = WEB_PROTOCOL;
    cbs->max_message = WEB_MAX_MESSAGE;
    cbs->on_open = ws_open;
    cbs->on_message = ws_message;
    cbs->on_close = ws_closed;
}

/* ---- the page's files ---------------------------------------------------------------------- */

static const char *content_type(const char *path) {
    static const struct { const char *ext, *type; } types[] = {
        {".html", "text/html; charset=utf-8"},  {".js", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},    {".json", "application/json"},
        {".png", "image/png"},                  {".svg", "image/svg+xml"},
        {".ico", "image/x-icon"},               {".wav", "audio/wav"},
        {".md", "text/plain; charset=utf-8"},   {".txt", "text/plain; charset=utf-8"},
    };
    const char *dot = strrchr(path, '.');
    for (size_t i = 0; dot && i < sizeof types / sizeof types[0]; i++)
        if (strcmp(dot, types[i].ext) == 0) return types[i].type;
    return "application/octet-stream";
}

/* A file under web_root for `path`: letters, digits, '-', '_', '.', '/' only, no component
 * that starts with '.', "/" = /index.html. 404 for anything else. */
int pl__gw_web_file(struct pl_gw *gw, const char *path, struct pl_strbuf *body,
                    const char **ctype) {
    if (!gw->cfg.web || !gw->cfg.web_root[0]) return 0;
    if (strcmp(path, "/") == 0) path = "/index.html";
    size_t n = strlen(path);
    bool ok = n > 1 && n < 200 && path[0] == '/';
    for (size_t i = 0; ok && i < n; i++) {
        char ch = path[i];
        ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
             ch == '-' || ch == '_' || ch == '/' || (ch == '.' && path[i - 1] != '/');
    }
    if (!ok) return 0;
    char full[1024];
    if ((size_t)snprintf(full, sizeof full, "%s%s", gw->cfg.web_root, path) >= sizeof full) return 0;
    char *data = NULL;
    size_t len = 0;
    if (pl_read_file(full, WEB_MAX_FILE, &data, &len) != PL_OK) return 0;
    pl_strbuf_append_n(body, data, len);
    pl_free(data);
    *ctype = content_type(path);
    return 200;
}
