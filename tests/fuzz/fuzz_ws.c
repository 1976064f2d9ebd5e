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
 *     or /synthesis_sessions (pl__gw_rt_post), then events dispatched as on_text_message
 *     does, keeping the session's settings between them as the socket does:
 *     *_session.update (pl__rt_session_update), input_audio_buffer.append (base64, the
 *     session as a StreamingRecognitionConfig, both packed as the requests parley-asr gets),
 *     input_text.append / commit / done (the text and the session as a
 *     SynthesizeSpeechRequest, packed).
 *
 * No socket, NATS or worker: the target stops where the gateway would send bytes.
 *
 * Input: one byte choosing the socket (value % 3: 0 converse 'c', 1 transcription 'a',
 * 2 synthesis 't'), then parts separated by FZ_SEP. converse: the Origin, then one message per
 * part. realtime: the query string, the POST body, then one event per part.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "gateway_impl.h"
#include "gateway_realtime.h"
#include "gateway_web.h"
#include "strbuf.h"

#define RT_MAX_TEXT (64u << 10) /* as gateway_realtime.c */

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

struct rt_state {
    bool asr;
    json_t *session; /* the settings after the last good update; NULL before one */
    bool opened, done;
    struct pl_strbuf text;
};

static void rt_append_audio(struct rt_state *s, json_t *msg) {
    json_t *audio = json_object_get(msg, "audio");
    if (!s->session || s->done || !json_is_string(audio)) return;
    uint8_t *pcm = NULL;
    size_t n = 0;
    if (!pl__rt_b64_decode(json_string_value(audio), json_string_length(audio), &pcm, &n)) return;
    struct asr_cfg a;
    char why[256];
    if (!pl__rt_asr_config(s->session, &a, why, sizeof why)) abort(); /* checked at update */
    if ((a.pcm && n % 2) || n == 0) goto out;
    if (!s->opened) {
        s->opened = true;
        Nvidia__Riva__Asr__StreamingRecognizeRequest rq =
            NVIDIA__RIVA__ASR__STREAMING_RECOGNIZE_REQUEST__INIT;
        rq.streaming_request_case =
            NVIDIA__RIVA__ASR__STREAMING_RECOGNIZE_REQUEST__STREAMING_REQUEST_STREAMING_CONFIG;
        rq.streaming_config = &a.sc;
        pack(&rq.base);
    }
    Nvidia__Riva__Asr__StreamingRecognizeRequest rq =
        NVIDIA__RIVA__ASR__STREAMING_RECOGNIZE_REQUEST__INIT;
    rq.streaming_request_case =
        NVIDIA__RIVA__ASR__STREAMING_RECOGNIZE_REQUEST__STREAMING_REQUEST_AUDIO_CONTENT;
    rq.audio_content.data = pcm;
    rq.audio_content.len = n;
    pack(&rq.base);
out:
    pl_free(pcm);
}

static void rt_commit(struct rt_state *s) {
    if (!s->text.len) return;
    Nvidia__Riva__Tts__SynthesizeSpeechRequest rq;
    char why[256];
    if (!pl__rt_tts_config(s->session, &rq, why, sizeof why)) abort(); /* checked at update */
    s->opened = true;
    rq.text = s->text.data;
    pack(&rq.base);
    pl_strbuf_reset(&s->text);
}

static void rt_text(struct rt_state *s, const char *type, json_t *msg) {
    if (!s->session || s->done) return;
    if (strcmp(type, "input_text.append") == 0) {
        json_t *t = json_object_get(msg, "text");
        if (!json_is_string(t) || s->text.len + json_string_length(t) > RT_MAX_TEXT) return;
        if (s->text.len) pl_strbuf_append_char(&s->text, ' ');
        pl_strbuf_append(&s->text, json_string_value(t));
    } else {
        rt_commit(s);
        if (strcmp(type, "input_text.done") == 0) s->done = true;
    }
}

static void rt_update(struct rt_state *s, json_t *msg) {
    if (s->opened) return;
    json_t *merged = NULL;
    char why[256];
    if (!pl__rt_session_update(s->session, json_object_get(msg, "session"), s->asr,
                               "sess_0123456789abcdef0123456789abcdef", &merged, why,
                               sizeof why))
        return;
    char *t = json_dumps(merged, JSON_COMPACT); /* what transcription_session.updated carries */
    pl_free(t);
    json_decref(s->session);
    s->session = merged;
}

static void rt_event(struct rt_state *s, const uint8_t *p, size_t n) {
    json_error_t err;
    json_t *msg = json_loadb((const char *)p, n, 0, &err);
    const char *type = json_is_object(msg) ? json_string_value(json_object_get(msg, "type")) : NULL;
    if (!type) {
        json_decref(msg);
        return;
    }
    if (s->asr && strcmp(type, "transcription_session.update") == 0)
        rt_update(s, msg);
    else if (!s->asr && strcmp(type, "synthesize_session.update") == 0)
        rt_update(s, msg);
    else if (s->asr && strcmp(type, "input_audio_buffer.append") == 0)
        rt_append_audio(s, msg);
    else if (s->asr && strcmp(type, "input_audio_buffer.done") == 0 && s->session)
        s->done = true;
    else if (!s->asr && strncmp(type, "input_text.", 11) == 0 &&
             (!strcmp(type + 11, "append") || !strcmp(type + 11, "commit") ||
              !strcmp(type + 11, "done")))
        rt_text(s, type, msg);
    json_decref(msg);
}

static void realtime(struct pl_gw *gw, bool asr, struct fz_in *in) {
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
    struct rt_state s = {.asr = asr};
    pl_strbuf_init(&s.text);
    const uint8_t *p;
    while ((p = fz_next_part(in, &n))) rt_event(&s, p, n);
    json_decref(s.session);
    pl_strbuf_deinit(&s.text);
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
    switch (fz_byte(&in) % 3) {
    case 0: converse(&gw, &in); break;
    case 1: realtime(&gw, true, &in); break;
    default: realtime(&gw, false, &in); break;
    }
    return 0;
}
