/*
 * fuzz_ws.c - the gateway's WebSocket messages, as a socket's client sends them:
 *
 *   parley.converse.v1 (the browser demo, services/gateway/gateway_web.c, docs/web-protocol.md):
 *     the upgrade's Origin against gateway.web_origins, then text messages dispatched as
 *     on_text_message does; a start message becomes its ConverseConfig
 *     (pl__gw_web_start_config) and, like text and control messages, is packed as the
 *     ConverseRequest the stream would carry.
 *   Riva's /v1/realtime (gateway_realtime.c, gateway_realtime_cfg.c, docs/realtime-api.md):
 *     the socket's query (intent, api_key), the POST body of /v1/realtime/transcription_sessions
 *     or /synthesis_sessions (pl__gw_rt_post), then each event through the handler the
 *     gateway's sockets run (pl__rt_on_event, gateway_realtime_events.c), with ops standing
 *     for the socket and its stream: events for the client are serialized, requests for
 *     parley-asr / parley-tts packed; the stream may fail to open or end early.
 *
 * No socket, NATS or worker: the target stops where the gateway would send bytes.
 *
 * Input: one byte choosing the socket (value % 3: 0 converse 'c', 1 transcription 'a',
 * 2 synthesis 't'; for realtime, bit 7 set: a failing stream, bits 4-6 = k: ends after k
 * requests, 0: cannot be opened), then parts separated by FZ_SEP. converse: the Origin, then
 * one message per part. realtime: the query string, the POST body, then one event per part.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "gateway_impl.h"
#include "gateway_realtime.h"
#include "gateway_web.h"
#include "strbuf.h"

/* What the socket would send on its stream: packed, then dropped. */
static void pack(const ProtobufCMessage *m) {
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = pl_malloc(n ? n : 1);
    if (!buf) return;
    if (protobuf_c_message_pack(m, buf) != n) abort();
    pl_free(buf);
}

/* ---- parley.converse.v1 ---------------------------------------------------------------------- */

/* One message through the socket's own parser, then what the socket would do with it, short
 * of sending: the start's ConverseConfig or the request packed, a context name checked. */
static void converse_message(const uint8_t *p, size_t n) {
    struct pl_gw_web_message m;
    pl__gw_web_message((const char *)p, n, &m);
    if (m.kind == PL_GW_WEB_START) {
        struct pl_gw_web_start st;
        char why[256];
        if (pl__gw_web_start_config(m.msg, &st, why, sizeof why)) {
            Parley__Dialog__V1__ConverseRequest rq = PARLEY__DIALOG__V1__CONVERSE_REQUEST__INIT;
            rq.request_case = PARLEY__DIALOG__V1__CONVERSE_REQUEST__REQUEST_CONFIG;
            rq.config = &st.cfg;
            pack(&rq.base);
        } else if (!why[0] || strlen(why) >= sizeof why) {
            abort(); /* a refusal names its problem */
        }
    } else if (m.kind == PL_GW_WEB_REQUEST) {
        pack(&m.rq.base);
    } else if (m.kind == PL_GW_WEB_SWITCH || m.kind == PL_GW_WEB_NEW) {
        char buf[64];
        (void)pl__gw_name_problem(m.arg, strlen(m.arg), buf, sizeof buf);
    } else if (m.kind == PL_GW_WEB_INVALID && !m.why[0]) {
        abort(); /* a refusal names its problem */
    }
    pl__gw_web_message_done(&m);
}

static void converse(struct pl_gw *gw, struct fz_in *in) {
    size_t n = 0;
    const uint8_t *origin = fz_next_part(in, &n);
    char *o = fz_str(origin ? origin : (const uint8_t *)"", origin ? n : 0);
    if (o) (void)pl__gw_web_origin_ok(gw, o, "127.0.0.1:8080");
    pl_free(o);
    const uint8_t *p;
    while ((p = fz_next_part(in, &n))) converse_message(p, n);
}

/* ---- /v1/realtime ---------------------------------------------------------------------------- */

/* The socket and its stream as the events' handler sees them: what would be sent is packed
 * and dropped. fail_open: the stream cannot be opened; end_after: the stream ends (as when
 * the worker ends it) after that many requests (0: never). */
struct rt_fake {
    struct pl_rt_session s;
    bool fail_open, opened, ended, closed;
    unsigned end_after, sent;
};

static void rt_emit(void *ud, json_t *ev) {
    PL_UNUSED(ud);
    if (!ev) return; /* out of memory: the socket drops it too */
    const char *type = json_string_value(json_object_get(ev, "type"));
    if (!type) abort(); /* every event has a type */
    if (!strcmp(type, "error")) {
        const char *msg = json_string_value(json_object_get(json_object_get(ev, "error"),
                                                            "message"));
        if (!msg || !msg[0]) abort(); /* an error names its problem */
    }
    char *t = json_dumps(ev, JSON_COMPACT); /* what the socket sends */
    pl_free(t);
    json_decref(ev);
}

static bool rt_open(void *ud) {
    struct rt_fake *f = ud;
    if (f->opened) abort(); /* one stream per socket */
    if (f->fail_open) {
        pl__rt_error(&f->s, true, "UNAVAILABLE", "parley-%s: no worker serves this rpc",
                     f->s.asr ? "asr" : "tts");
        return false;
    }
    f->opened = true;
    return true;
}

static void rt_send(void *ud, const ProtobufCMessage *m) {
    struct rt_fake *f = ud;
    if (!f->opened || f->ended || f->closed) abort(); /* sent only on an open stream */
    pack(m);
    if (++f->sent == f->end_after) f->ended = true;
}

static bool rt_ended(void *ud) { return ((struct rt_fake *)ud)->ended; }

static void rt_close_send(void *ud) {
    struct rt_fake *f = ud;
    if (!f->opened) abort();
    f->closed = true;
}

static const struct pl_rt_ops rt_fake_ops = {rt_emit, rt_open, rt_send, rt_ended, rt_close_send};

static void realtime(struct pl_gw *gw, bool asr, uint8_t opt, struct fz_in *in) {
    size_t n = 0;
    const uint8_t *q = fz_next_part(in, &n);
    char *query = fz_str(q ? q : (const uint8_t *)"", q ? n : 0);
    if (query) {
        char intent[64], key[320];
        pl__rt_query_param(query, "intent", intent, sizeof intent);
        pl__rt_query_param(query, "api_key", key, sizeof key);
        if (strlen(intent) >= sizeof intent || strlen(key) >= sizeof key) abort();
    }
    pl_free(query);
    const uint8_t *body = fz_next_part(in, &n);
    if (body) {
        struct pl_strbuf out;
        pl_strbuf_init(&out);
        const char *ctype = NULL;
        int code = pl__gw_rt_post(gw, asr ? "/v1/realtime/transcription_sessions"
                                          : "/v1/realtime/synthesis_sessions",
                                  (const char *)body, n, &out, &ctype);
        if (code != 200 && code != 400 && code != 500) abort();
        pl_strbuf_deinit(&out);
    }
    struct rt_fake f = {0};
    pl__rt_session_init(&f.s, asr, &rt_fake_ops, &f);
    snprintf(f.s.id, sizeof f.s.id, "sess_0123456789abcdef0123456789abcdef");
    snprintf(f.s.request_id, sizeof f.s.request_id, "0123456789abcdef0123456789abcdef");
    if (opt & 0x80) { /* a stream that fails: not opened, or ended by the worker */
        f.end_after = (opt >> 4) & 7;
        f.fail_open = f.end_after == 0;
    }
    const uint8_t *p;
    while ((p = fz_next_part(in, &n))) pl__rt_on_event(&f.s, (const char *)p, n);
    pl__rt_session_deinit(&f.s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static struct pl_gw gw;
    static int init;
    if (!init) {
        fz_quiet();
        json_set_alloc_funcs(pl_malloc, pl_free); /* as in every Parley process (config.c) */
        gw.cfg.realtime = true;
        gw.cfg.web_origins = (char *)"https://app.example.com, http://localhost:3000";
        init = 1;
    }
    struct fz_in in = {data, size};
    uint8_t opt = fz_byte(&in);
    switch (opt % 3) {
    case 0: converse(&gw, &in); break;
    case 1: realtime(&gw, true, opt, &in); break;
    default: realtime(&gw, false, opt, &in); break;
    }
    return 0;
}
