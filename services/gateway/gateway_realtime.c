/*
 * gateway_realtime.c - NVIDIA Riva's realtime WebSocket API on the gateway's HTTP port, the
 * protocol the official clients scripts/asr/realtime_asr_client.py and
 * scripts/tts/realtime_tts_client.py speak (docs/realtime-api.md):
 *
 *   POST /v1/realtime/transcription_sessions   the default transcription session (JSON)
 *   POST /v1/realtime/synthesis_sessions       the default synthesis session (JSON)
 *   GET  /v1/audio/list_voices                 parley-tts's voices (GetRivaSynthesisConfig)
 *   GET  /v1/realtime?intent=transcription     WebSocket (no subprotocol) bridged to one
 *                                              parley-asr StreamingRecognize stream
 *   GET  /v1/realtime?intent=synthesize        WebSocket bridged to one parley-tts
 *                                              SynthesizeOnline stream
 *
 * The streams are the ones gRPC clients get (pl_nrpc_stream_open "asr" "streaming_recognize",
 * "tts" "synthesize_online"), so every realtime session takes the same path to the workers.
 *
 * A socket is a struct rt_conn, reference-counted like gateway_web.c's: the socket holds one
 * reference until it closes, its stream object one until it is destroyed.
 *
 * What the client's events do is gateway_realtime_events.c (pl__rt_on_event, shared with the
 * fuzz target); this file gives it the socket and the stream (rt_ops).
 *
 * Threads: the httpd thread runs on_open/on_message/on_close and the HTTP endpoints; it alone
 * opens, sends on and destroys conn->stream and reads the session's settings. The NATS threads
 * run the stream callbacks, which turn answers into JSON events (pl_httpd_ws_send queues them).
 * The one blocking call is GET /v1/audio/list_voices: a unary NATS call of at most
 * LIST_TIMEOUT_MS on the httpd thread (parley-tts answers it from memory; with no worker NATS
 * says so at once).
 *
 * API keys (gateway.api_keys_file): a socket names its key in the query (api_key=) or its
 * Authorization header; each stream it opens counts against that key's limits (or, without
 * keys, the client address's) like a gRPC stream. The HTTP endpoints hand out defaults and
 * voice names only and stay open, since the official clients send no key there.
 */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "gateway_impl.h"
#include "gateway_realtime.h"
#include "httpd.h"
#include "log.h"
#include "proto_util.h"
#include "riva/proto/riva_asr.pb-c.h"
#include "riva/proto/riva_tts.pb-c.h"
#include "strbuf.h"

#define RT_PATH "/v1/realtime"
#define RT_MAX_MESSAGE (8u << 20) /* one client event (base64 audio chunks are a few kB) */
#define LIST_TIMEOUT_MS 3000

enum rt_intent { RT_NONE, RT_ASR, RT_TTS };

struct rt_conn {
    atomic_int refs;
    struct pl_gw *gw;
    struct pl_httpd_ws *ws;         /* retained */
    enum rt_intent intent;
    atomic_uint n_events;
    int64_t start_us;
    /* httpd thread only, but s.item and s.request_id (read by the callbacks) */
    struct pl_rt_session s;         /* the events' state (gateway_realtime_events.c) */
    struct pl_nrpc_stream *stream;  /* holds a reference */
    /* stream callbacks only (one at a time) */
    size_t audio_bytes;             /* TTS: audio sent */
    long key;                       /* the API key's index (-1: none; gateway without keys) */
    char user[72];                  /* the key's user (Parley-User); "" without keys */
    char peer[64];                  /* the client's address (per-address limits) */
    /* guarded by mu */
    pthread_mutex_t mu;
    struct gw_bucket *bucket;       /* the limits the open stream counts against; NULL = none */
    bool ended;                     /* the stream's on_end ran */
    bool after_done;                /* done was seen (read by the callbacks) */
    json_t *held;                   /* ASR: the last final after done, sent at the end */
};

/* ---- events out ------------------------------------------------------------------------------ */

/* Send ev (consumed) with its event_id. Any thread. */
static void emit(struct rt_conn *c, json_t *ev) {
    if (!ev) return;
    char eid[64];
    snprintf(eid, sizeof eid, "event_%.12s_%u", c->s.request_id, atomic_fetch_add(&c->n_events, 1));
    json_object_set_new(ev, "event_id", json_string(eid));
    char *text = json_dumps(ev, JSON_COMPACT); /* jansson allocates with pl_malloc (config.c) */
    json_decref(ev);
    if (!text) {
        PL_LOGW("realtime %s: out of memory for an event", c->s.request_id);
        return;
    }
    pl_status st = pl_httpd_ws_send(c->ws, false, text, strlen(text));
    pl_free(text);
    if (st == PL_E_EXHAUSTED) {
        PL_LOGW("realtime %s: client too slow, closing", c->s.request_id);
        pl_httpd_ws_close(c->ws, 1008, "client reads too slowly");
    }
}

#define rt_error(c, ...) pl__rt_error(&(c)->s, __VA_ARGS__)

static const char *code_name(int code) { return pl_grpc_code_name(code); }

/* ---- references and streams ------------------------------------------------------------------ */

static void conn_ref(struct rt_conn *c) { atomic_fetch_add(&c->refs, 1); }

static void conn_unref(struct rt_conn *c) {
    if (atomic_fetch_sub(&c->refs, 1) != 1) return;
    pl_httpd_ws_release(c->ws);
    pl__rt_session_deinit(&c->s);
    json_decref(c->held);
    pthread_mutex_destroy(&c->mu);
    pl_free(c);
}

/* Give back the stream's place in its API key's (or address's) limits. Any thread. */
static void release_limits(struct rt_conn *c) {
    pthread_mutex_lock(&c->mu);
    struct gw_bucket *b = c->bucket;
    c->bucket = NULL;
    pthread_mutex_unlock(&c->mu);
    pl__gw_limits_release(c->gw, b);
}

/* Destroy the stream object (httpd thread) and drop its reference. */
static void drop_stream(struct rt_conn *c) {
    struct pl_nrpc_stream *s = c->stream;
    if (!s) return;
    c->stream = NULL;
    pl_nrpc_stream_destroy(s); /* waits for a running callback; on_end does not run after */
    pthread_mutex_lock(&c->mu);
    bool ended = c->ended;
    c->ended = true;
    pthread_mutex_unlock(&c->mu);
    if (!ended) atomic_fetch_sub(&c->gw->pending, 1);
    release_limits(c); /* on_end did not run: the socket closed mid-stream */
    conn_unref(c);
}

static bool stream_ended(struct rt_conn *c) {
    pthread_mutex_lock(&c->mu);
    bool e = c->ended;
    pthread_mutex_unlock(&c->mu);
    return e;
}

/* The stream's end (both intents), before the client hears of it, since its next event is
 * judged by this: its limits' slot and the gateway's count of calls in flight are given back
 * (it may start another at once) and the call is in the metrics. The stream counts as ended
 * only after the end's events are queued (mark_ended): input judged by that flag on the httpd
 * thread is then answered FAILED_PRECONDITION after them, never before the error that says
 * why the stream ended. The httpd thread destroys the stream object. */
static void stream_finished(struct rt_conn *c, int code, const char *message) {
    release_limits(c);
    pl__gw_metrics_record(c->gw, c->intent == RT_ASR ? "realtime_transcription"
                                                      : "realtime_synthesis",
                          code, pl_time_mono_us() - c->start_us);
    atomic_fetch_sub(&c->gw->pending, 1);
    if (code != PL_GRPC_OK && code != PL_GRPC_CANCELLED)
        PL_LOGI("realtime %s: %s stream ended %s %s", c->s.request_id,
                c->intent == RT_ASR ? "parley-asr" : "parley-tts", code_name(code),
                message ? message : "");
}

static void mark_ended(struct rt_conn *c) {
    pthread_mutex_lock(&c->mu);
    c->ended = true;
    pthread_mutex_unlock(&c->mu);
}

/* Open the one stream of this socket (httpd thread). False: an error event went out. */
static bool open_stream(struct rt_conn *c, const struct pl_nrpc_stream_cbs *cbs) {
    struct pl_gw *gw = c->gw;
    const char *svc = c->intent == RT_ASR ? "parley-asr" : "parley-tts";
    if (atomic_load(&gw->pending) >= gw->cfg.max_pending) {
        rt_error(c, true, "RESOURCE_EXHAUSTED", "gateway: too many calls in flight");
        return false;
    }
    if (!pl__gw_connected(gw)) {
        rt_error(c, true, "UNAVAILABLE", "%s: the gateway is not connected to NATS", svc);
        return false;
    }
    /* the stream is one call of the API key (or client address): its rate and open-calls
     * limits, as for a gRPC stream (gateway_limit.c) */
    char lmsg[300];
    int64_t retry_ms = 0;
    struct gw_bucket *bucket = NULL;
    if (!pl__gw_limits_admit(gw, c->key, c->peer, &bucket, lmsg, sizeof lmsg, &retry_ms)) {
        rt_error(c, false, "RESOURCE_EXHAUSTED", "%s", lmsg);
        return false;
    }
    pthread_mutex_lock(&c->mu);
    c->bucket = bucket;
    pthread_mutex_unlock(&c->mu);
    struct pl_nrpc_meta m = {c->s.request_id, 0, c->user[0] ? c->user : NULL};
    c->start_us = pl_time_mono_us();
    atomic_fetch_add(&gw->pending, 1);
    conn_ref(c); /* the stream's */
    struct pl_nrpc_stream *s = NULL;
    pl_status st = pl_nrpc_stream_open(pl__gw_nrpc(gw), c->intent == RT_ASR ? "asr" : "tts",
                                       c->intent == RT_ASR ? "streaming_recognize"
                                                           : "synthesize_online",
                                       &m, cbs, c, &s);
    if (st != PL_OK) {
        atomic_fetch_sub(&gw->pending, 1);
        release_limits(c);
        pl_nrpc_stream_destroy(s);
        rt_error(c, true, "UNAVAILABLE", "%s: %s", svc, pl_last_error());
        conn_unref(c);
        return false;
    }
    c->stream = s;
    return true;
}

static bool send_msg(struct rt_conn *c, const ProtobufCMessage *m) {
    uint8_t *buf = NULL;
    size_t n = 0;
    if (pl_proto_pack(m, &buf, &n) != PL_OK) return false;
    pl_status st = pl_nrpc_stream_send(c->stream, buf, n);
    pl_free(buf);
    return st == PL_OK;
}

/* ---- transcription --------------------------------------------------------------------------- */

static void asr_message(void *ud, const uint8_t *data, size_t n) {
    struct rt_conn *c = ud;
    ProtobufCMessage *m = NULL;
    if (pl_proto_unpack(&nvidia__riva__asr__streaming_recognize_response__descriptor, data, n,
                        &m) != PL_OK) {
        rt_error(c, true, "INTERNAL", "parley-asr sent a StreamingRecognizeResponse that does not "
                 "parse");
        return;
    }
    Nvidia__Riva__Asr__StreamingRecognizeResponse *r = (void *)m;
    for (size_t i = 0; i < r->n_results; i++) {
        const Nvidia__Riva__Asr__StreamingRecognitionResult *res = r->results[i];
        const Nvidia__Riva__Asr__SpeechRecognitionAlternative *a =
            res->n_alternatives ? res->alternatives[0] : NULL;
        const char *text = a && a->transcript ? a->transcript : "";
        if (!a) continue; /* a speech event, not a transcript */
        if (!res->is_final) {
            if (!*text) continue;
            char item[64];
            snprintf(item, sizeof item, "item_%.12s_%d", c->s.request_id,
                     atomic_load(&c->s.item));
            emit(c, json_pack("{s:s, s:s, s:i, s:s, s:f, s:f}", "type",
                              "conversation.item.input_audio_transcription.delta", "item_id", item,
                              "content_index", 0, "delta", text, "stability",
                              (double)res->stability, "audio_processed",
                              (double)res->audio_processed));
            continue;
        }
        json_t *ev = pl__rt_completed_event(&c->s, text, a->confidence, res->audio_processed, a);
        atomic_fetch_add(&c->s.item, 1);
        /* after done, each final waits for the next or for the end: the last one carries
         * is_last_result true */
        pthread_mutex_lock(&c->mu);
        if (c->after_done) {
            json_t *prev = c->held;
            c->held = ev;
            ev = prev;
        }
        pthread_mutex_unlock(&c->mu);
        emit(c, ev);
    }
    pl_proto_free(m);
}

static void asr_end(void *ud, int code, const char *message) {
    struct rt_conn *c = ud;
    stream_finished(c, code, message);
    pthread_mutex_lock(&c->mu);
    json_t *held = c->held;
    c->held = NULL;
    pthread_mutex_unlock(&c->mu);
    if (code == PL_GRPC_OK) {
        if (!held) held = pl__rt_completed_event(&c->s, "", 0, 0, NULL);
        json_object_set_new(held, "is_last_result", json_true());
        emit(c, held);
    } else {
        emit(c, held);
        if (code != PL_GRPC_CANCELLED)
            rt_error(c, code != PL_GRPC_INVALID_ARGUMENT && code != PL_GRPC_NOT_FOUND,
                     code_name(code), "parley-asr: %s", message && *message ? message :
                     "the transcription stream failed");
    }
    mark_ended(c);
}

static const struct pl_nrpc_stream_cbs asr_cbs = {asr_message, asr_end};

/* ---- synthesis ------------------------------------------------------------------------------- */

static void tts_message(void *ud, const uint8_t *data, size_t n) {
    struct rt_conn *c = ud;
    ProtobufCMessage *m = NULL;
    if (pl_proto_unpack(&nvidia__riva__tts__synthesize_speech_response__descriptor, data, n, &m) !=
        PL_OK) {
        rt_error(c, true, "INTERNAL", "parley-tts sent a SynthesizeSpeechResponse that does not "
                 "parse");
        return;
    }
    Nvidia__Riva__Tts__SynthesizeSpeechResponse *r = (void *)m;
    if (r->audio.len) {
        char *a = pl__rt_b64_encode(r->audio.data, r->audio.len);
        if (a) {
            c->audio_bytes += r->audio.len;
            emit(c, json_pack("{s:s, s:s}", "type", "conversation.item.speech.data", "audio", a));
            pl_free(a);
        }
    }
    pl_proto_free(m);
}

static void tts_end(void *ud, int code, const char *message) {
    struct rt_conn *c = ud;
    stream_finished(c, code, message);
    if (code == PL_GRPC_OK)
        emit(c, json_pack("{s:s, s:b, s:{s:I, s:i}}", "type", "conversation.item.speech.completed",
                          "is_last_result", 1, "synthesis_metadata", "audio_bytes",
                          (json_int_t)c->audio_bytes, "texts", atomic_load(&c->s.item)));
    else if (code != PL_GRPC_CANCELLED)
        rt_error(c, code != PL_GRPC_INVALID_ARGUMENT && code != PL_GRPC_NOT_FOUND, code_name(code),
                 "parley-tts: %s", message && *message ? message : "the synthesis stream failed");
    mark_ended(c);
}

static const struct pl_nrpc_stream_cbs tts_cbs = {tts_message, tts_end};

/* ---- the events' ops (gateway_realtime_events.c) ------------------------------------------- */

static void ops_emit(void *ud, json_t *ev) { emit(ud, ev); }

static bool ops_open(void *ud) {
    struct rt_conn *c = ud;
    return open_stream(c, c->intent == RT_ASR ? &asr_cbs : &tts_cbs);
}

static void ops_send(void *ud, const ProtobufCMessage *m) { send_msg(ud, m); }

static bool ops_ended(void *ud) {
    struct rt_conn *c = ud;
    return !c->stream || stream_ended(c);
}

static void ops_close_send(void *ud) {
    struct rt_conn *c = ud;
    pthread_mutex_lock(&c->mu);
    c->after_done = true; /* ASR: each final now waits for the next or for the end */
    pthread_mutex_unlock(&c->mu);
    if (c->stream) pl_nrpc_stream_close_send(c->stream);
}

static const struct pl_rt_ops rt_ops = {ops_emit, ops_open, ops_send, ops_ended,
                                        ops_close_send};

/* The query's intent: "transcription", or "synthesize" (also "synthesis"). */
static enum rt_intent parse_intent(const char *q, char *val, size_t cap) {
    pl__rt_query_param(q, "intent", val, cap);
    if (strcmp(val, "transcription") == 0) return RT_ASR;
    if (strcmp(val, "synthesize") == 0 || strcmp(val, "synthesis") == 0) return RT_TTS;
    return RT_NONE;
}

/* A gateway with API keys: the key comes as the query's api_key (what the official clients can
 * send: --query-params "intent=transcription&api_key=KEY") or the upgrade's Authorization header
 * ("Bearer KEY", as for gRPC). False: an UNAUTHENTICATED error event went out. */
static bool authenticate(struct rt_conn *c) {
    struct pl_gw *gw = c->gw;
    if (!gw->keys) return true;
    char key[320];
    pl__rt_query_param(pl_httpd_ws_query(c->ws), "api_key", key, sizeof key);
    const char *given = key[0] ? key : pl_httpd_ws_authorization(c->ws);
    c->key = given[0] ? pl_gw_keys_find(gw->keys, given, strlen(given)) : -1;
    if (c->key < 0) {
        rt_error(c, false, "UNAUTHENTICATED", "%s",
                 given[0] ? "invalid API key"
                          : "this gateway requires an API key: add api_key=<key> to the socket's "
                            "query (--query-params \"intent=...&api_key=<key>\") or send "
                            "Authorization: Bearer <key>");
        return false;
    }
    snprintf(c->user, sizeof c->user, "%s", pl_gw_keys_user(gw->keys, (size_t)c->key));
    return true;
}

static int ws_open(void *ud, struct pl_httpd_ws *ws, const char *path, const char *origin,
                   const char *host) {
    struct pl_gw *gw = ud;
    if (strcmp(path, RT_PATH) != 0) return 404;
    if (!pl__gw_web_origin_ok(gw, origin, host)) {
        PL_LOGW("realtime: socket from origin %s refused (gateway.web_origins)", origin);
        return 403;
    }
    struct rt_conn *c = pl_calloc(1, sizeof *c);
    if (!c) return 503;
    atomic_init(&c->refs, 1); /* the socket's */
    atomic_init(&c->n_events, 0);
    c->key = -1;
    c->gw = gw;
    c->ws = ws;
    pl_httpd_ws_retain(ws);
    pthread_mutex_init(&c->mu, NULL);
    char intent[64];
    c->intent = parse_intent(pl_httpd_ws_query(ws), intent, sizeof intent);
    pl__rt_session_init(&c->s, c->intent == RT_ASR, &rt_ops, c);
    pl_request_id_new(c->s.request_id);
    pl__rt_session_id(c->s.id, sizeof c->s.id);
    pl_httpd_ws_set_user(ws, c);
    snprintf(c->peer, sizeof c->peer, "%s", pl_httpd_ws_peer(ws));
    if (!authenticate(c)) {
        pl_httpd_ws_close(ws, 1008, "unauthenticated");
        return 0;
    }
    if (c->intent == RT_NONE) {
        rt_error(c, false, "INVALID_ARGUMENT", "intent \"%.40s\": connect to %s?intent="
                 "transcription or ?intent=synthesize", intent, RT_PATH);
        pl_httpd_ws_close(ws, 1008, "unknown intent");
        return 0;
    }
    emit(c, json_pack("{s:s, s:{s:s, s:s}}", "type", "conversation.created", "conversation", "id",
                      c->s.id, "object", "realtime.conversation"));
    return 0;
}

static void ws_message(void *ud, struct pl_httpd_ws *ws, bool binary, const uint8_t *data,
                       size_t n) {
    PL_UNUSED(ud);
    struct rt_conn *c = pl_httpd_ws_user(ws);
    if (!c || c->intent == RT_NONE || (c->gw->keys && c->key < 0)) return;
    if (binary) {
        rt_error(c, false, "INVALID_ARGUMENT", "events are JSON text messages, not binary ones");
        return;
    }
    pl__rt_on_event(&c->s, (const char *)data, n);
}

static void ws_closed(void *ud, struct pl_httpd_ws *ws) {
    PL_UNUSED(ud);
    struct rt_conn *c = pl_httpd_ws_user(ws);
    if (!c) return;
    pl_httpd_ws_set_user(ws, NULL);
    drop_stream(c); /* cancels the stream: the worker frees its session */
    conn_unref(c);
}

void pl__gw_rt_cbs(struct pl_httpd_ws_cbs *cbs) {
    memset(cbs, 0, sizeof *cbs);
    cbs->protocol = ""; /* the official clients ask for no subprotocol */
    cbs->max_message = RT_MAX_MESSAGE;
    cbs->on_open = ws_open;
    cbs->on_message = ws_message;
    cbs->on_close = ws_closed;
}

/* ---- HTTP endpoints -------------------------------------------------------------------------- */

static int detail(struct pl_strbuf *body, const char **ctype, int code, const char *msg) {
    json_t *o = json_pack("{s:s}", "detail", msg);
    char *t = o ? json_dumps(o, JSON_COMPACT) : NULL;
    pl_strbuf_append(body, t ? t : "{\"detail\":\"error\"}");
    pl_free(t);
    json_decref(o);
    *ctype = "application/json";
    return code;
}

static int json_body(struct pl_strbuf *body, const char **ctype, json_t *o) {
    char *t = o ? json_dumps(o, JSON_INDENT(2)) : NULL;
    json_decref(o);
    if (!t) return detail(body, ctype, 500, "out of memory");
    pl_strbuf_append(body, t);
    pl_strbuf_append_char(body, '\n');
    pl_free(t);
    *ctype = "application/json";
    return 200;
}

int pl__gw_rt_post(void *ud, const char *path, const char *req, size_t n, struct pl_strbuf *body,
                   const char **ctype) {
    struct pl_gw *gw = ud;
    bool asr = strcmp(path, "/v1/realtime/transcription_sessions") == 0;
    if (!gw->cfg.realtime || (!asr && strcmp(path, "/v1/realtime/synthesis_sessions") != 0))
        return detail(body, ctype, 404, "no such endpoint");
    /* open with API keys too: the answer is the defaults (plus the body), nothing is opened or
     * kept, and the official clients send no key here; the socket is where the key is checked */
    char id[48], why[256];
    pl__rt_session_id(id, sizeof id);
    json_t *s = asr ? pl__rt_default_transcription(id) : pl__rt_default_synthesis(id);
    json_error_t err;
    json_t *over = n ? json_loadb(req, n, 0, &err) : NULL;
    if (n && !json_is_object(over)) {
        json_decref(over);
        json_decref(s);
        return detail(body, ctype, 400, "the request body must be a JSON object (or empty)");
    }
    if (over) json_object_update_recursive(s, over);
    json_decref(over);
    json_object_set_new(s, "id", json_string(id));
    struct asr_cfg a;
    Nvidia__Riva__Tts__SynthesizeSpeechRequest rq;
    if (asr ? !pl__rt_asr_config(s, &a, why, sizeof why)
            : !pl__rt_tts_config(s, &rq, why, sizeof why)) {
        json_decref(s);
        return detail(body, ctype, 400, why);
    }
    return json_body(body, ctype, s);
}

/* GET /v1/audio/list_voices: {"<language>": {"voices": ["<voice name>", ...]}, ...} from
 * parley-tts's GetRivaSynthesisConfig (each Config's model_name is a name a request takes). */
static int list_voices(struct pl_gw *gw, struct pl_strbuf *body, const char **ctype) {
    struct pl_nrpc_conn *nc = pl__gw_nrpc(gw);
    if (!nc || !pl__gw_connected(gw))
        return detail(body, ctype, 503, "parley-tts: the gateway is not connected to NATS");
    struct pl_nrpc_reply r;
    struct pl_nrpc_meta m = {NULL, 0, NULL};
    int timeout = gw->cfg.request_timeout_ms < LIST_TIMEOUT_MS ? (int)gw->cfg.request_timeout_ms
                                                                : LIST_TIMEOUT_MS;
    pl_nrpc_call(nc, "parley.tts.get_riva_synthesis_config", NULL, 0, &m, timeout, &r);
    if (r.code != PL_GRPC_OK) {
        char msg[400];
        int http = r.code == PL_GRPC_UNAVAILABLE ? 503 : 502;
        snprintf(msg, sizeof msg, "parley-tts: %s %s", code_name(r.code), r.message);
        pl_nrpc_reply_deinit(&r);
        return detail(body, ctype, http, msg);
    }
    ProtobufCMessage *msg = NULL;
    pl_status st = pl_proto_unpack(&nvidia__riva__tts__riva_synthesis_config_response__descriptor,
                                   r.data, r.len, &msg);
    pl_nrpc_reply_deinit(&r);
    if (st != PL_OK)
        return detail(body, ctype, 502, "parley-tts: a bad RivaSynthesisConfigResponse");
    Nvidia__Riva__Tts__RivaSynthesisConfigResponse *cr = (void *)msg;
    json_t *out = json_object();
    for (size_t i = 0; i < cr->n_model_config; i++) {
        const Nvidia__Riva__Tts__RivaSynthesisConfigResponse__Config *cf = cr->model_config[i];
        const char *lang = "";
        for (size_t k = 0; k < cf->n_parameters; k++)
            if (strcmp(cf->parameters[k]->key, "language_code") == 0)
                lang = cf->parameters[k]->value;
        json_t *l = json_object_get(out, lang);
        if (!l) {
            l = json_pack("{s:[]}", "voices");
            json_object_set_new(out, lang, l);
        }
        json_array_append_new(json_object_get(l, "voices"), json_string(cf->model_name));
    }
    pl_proto_free(msg);
    return json_body(body, ctype, out);
}

int pl__gw_rt_get(struct pl_gw *gw, const char *path, struct pl_strbuf *body, const char **ctype) {
    if (!gw->cfg.realtime || strcmp(path, "/v1/audio/list_voices") != 0) return 0;
    /* open with API keys too: voice names only, and the official TTS client sends no key */
    return list_voices(gw, body, ctype);
}
