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
 * Threads: the httpd thread runs on_open/on_message/on_close and the HTTP endpoints; it alone
 * opens, sends on and destroys conn->stream and reads conn->session. The NATS threads run the
 * stream callbacks, which turn answers into JSON events (pl_httpd_ws_send queues them). The one
 * blocking call is GET /v1/audio/list_voices: a unary NATS call of at most LIST_TIMEOUT_MS on
 * the httpd thread (parley-tts answers it from memory; with no worker NATS says so at once).
 */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "gateway_impl.h"
#include "httpd.h"
#include "log.h"
#include "proto_util.h"
#include "riva/proto/riva_asr.pb-c.h"
#include "riva/proto/riva_tts.pb-c.h"
#include "strbuf.h"

#define RT_PATH "/v1/realtime"
#define RT_MAX_MESSAGE (8u << 20) /* one client event (base64 audio chunks are a few kB) */
#define RT_MAX_TEXT (64u << 10)   /* text appended and not yet committed */
#define LIST_TIMEOUT_MS 3000

enum rt_intent { RT_NONE, RT_ASR, RT_TTS };

struct rt_conn {
    atomic_int refs;
    struct pl_gw *gw;
    struct pl_httpd_ws *ws;         /* retained */
    enum rt_intent intent;
    char id[48];                    /* "sess_<hex>" */
    char request_id[PL_REQUEST_ID_LEN];
    atomic_uint n_events;
    int64_t start_us;
    /* httpd thread only */
    json_t *session;                /* the settings after session.update; NULL before */
    struct pl_nrpc_stream *stream;  /* holds a reference */
    bool opened;                    /* a stream was opened (only one per socket) */
    bool done;                      /* input_audio_buffer.done / input_text.done seen */
    bool told_ended;                /* an input after the stream's end was answered once */
    struct pl_strbuf text;          /* TTS: appended, not yet committed */
    atomic_int item;                /* ASR: utterance number (callbacks); TTS: texts committed */
    /* stream callbacks only (one at a time) */
    size_t audio_bytes;             /* TTS: audio sent */
    /* guarded by mu */
    pthread_mutex_t mu;
    bool ended;                     /* the stream's on_end ran */
    bool after_done;                /* done was seen (read by the callbacks) */
    json_t *held;                   /* ASR: the last final after done, sent at the end */
};

/* ---- base64 ---------------------------------------------------------------------------------- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *b64_encode(const uint8_t *p, size_t n) {
    char *out = pl_malloc((n + 2) / 3 * 4 + 1), *o = out;
    if (!out) return NULL;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) |
                     (i + 2 < n ? p[i + 2] : 0);
        *o++ = b64[v >> 18 & 63];
        *o++ = b64[v >> 12 & 63];
        *o++ = i + 1 < n ? b64[v >> 6 & 63] : '=';
        *o++ = i + 2 < n ? b64[v & 63] : '=';
    }
    *o = 0;
    return out;
}

/* Strict decode (padding optional, no whitespace). OUT: *out (pl_free), *n. False = not base64. */
static bool b64_decode(const char *s, size_t len, uint8_t **out, size_t *n) {
    *out = NULL;
    *n = 0;
    while (len && s[len - 1] == '=') len--;
    if (len % 4 == 1) return false;
    uint8_t *buf = pl_malloc(len / 4 * 3 + 3);
    if (!buf) return false;
    uint32_t v = 0;
    size_t k = 0, bits = 0;
    for (size_t i = 0; i < len; i++) {
        const char *q = s[i] ? strchr(b64, s[i]) : NULL;
        if (!q) {
            pl_free(buf);
            return false;
        }
        v = v << 6 | (uint32_t)(q - b64);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf[k++] = (uint8_t)(v >> bits);
        }
    }
    *out = buf;
    *n = k;
    return true;
}

/* ---- events out ------------------------------------------------------------------------------ */

/* Send ev (consumed) with its event_id. Any thread. */
static void emit(struct rt_conn *c, json_t *ev) {
    if (!ev) return;
    char eid[64];
    snprintf(eid, sizeof eid, "event_%.12s_%u", c->request_id, atomic_fetch_add(&c->n_events, 1));
    json_object_set_new(ev, "event_id", json_string(eid));
    char *text = json_dumps(ev, JSON_COMPACT); /* jansson allocates with pl_malloc (config.c) */
    json_decref(ev);
    if (!text) {
        PL_LOGW("realtime %s: out of memory for an event", c->request_id);
        return;
    }
    pl_status st = pl_httpd_ws_send(c->ws, false, text, strlen(text));
    pl_free(text);
    if (st == PL_E_EXHAUSTED) {
        PL_LOGW("realtime %s: client too slow, closing", c->request_id);
        pl_httpd_ws_close(c->ws, 1008, "client reads too slowly");
    }
}

/* {"type":"error","error":{"type":TYPE,"code":CODE,"message":MSG}}: the clients stop on an
 * event whose type contains "error" and print error.message. */
static void rt_error(struct rt_conn *c, bool server, const char *code, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *e = json_pack("{s:s, s:s, s:s}", "type", server ? "server_error" : "invalid_request_error",
                          "code", code, "message", msg);
    if (!e) /* message not UTF-8 (it echoes client input) */
        e = json_pack("{s:s, s:s, s:s}", "type", "invalid_request_error", "code", code, "message",
                      "the request is not valid UTF-8");
    emit(c, json_pack("{s:s, s:o}", "type", "error", "error", e));
}

static const char *code_name(int code) { return pl_grpc_code_name(code); }

/* ---- sessions: defaults and checks ----------------------------------------------------------- */

static void new_session_id(char *out, size_t cap) {
    char id[PL_REQUEST_ID_LEN];
    pl_request_id_new(id);
    snprintf(out, cap, "sess_%s", id);
}

/* The defaults the POST endpoints answer (Riva's shape; "model": "" lets parley-asr pick). */
static json_t *default_transcription(const char *id) {
    return json_pack(
        "{s:s, s:s, s:[s], s:s, s:{s:s, s:s, s:s}, s:{s:i, s:i},"
        " s:{s:i, s:b, s:b, s:b, s:b}, s:{s:b, s:i}, s:{s:b, s:[]}, s:n}",
        "id", id, "object", "realtime.transcription_session", "modalities", "text",
        "input_audio_format", "pcm16", "input_audio_transcription", "language", "en-US", "model",
        "", "prompt", "", "input_audio_params", "sample_rate_hz", 16000, "num_channels", 1,
        "recognition_config", "max_alternatives", 1, "enable_automatic_punctuation", 0,
        "enable_word_time_offsets", 0, "enable_profanity_filter", 0, "enable_verbatim_transcripts",
        0, "speaker_diarization", "enable_speaker_diarization", 0, "max_speaker_count", 8,
        "word_boosting", "enable_word_boosting", 0, "word_boosting_list", "client_secret");
}

static json_t *default_synthesis(const char *id) {
    return json_pack("{s:s, s:s, s:[s], s:{s:s, s:s}, s:{s:i, s:s}, s:s, s:n}", "id", id,
                     "object", "realtime.synthesis_session", "modalities", "audio",
                     "input_text_synthesis", "language_code", "en-US", "voice_name", "",
                     "output_audio_params", "sample_rate_hz", 22050, "audio_format", "LINEAR_PCM",
                     "custom_dictionary", "", "client_secret");
}

/* o[key] when it is a string, "" when absent or null; *bad set when it is something else. */
static const char *sfield(json_t *o, const char *key, const char **bad) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return "";
    if (!json_is_string(v)) {
        if (!*bad) *bad = key;
        return "";
    }
    return json_string_value(v);
}

static json_int_t ifield(json_t *o, const char *key, json_int_t def, const char **bad) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return def;
    if (!json_is_integer(v)) {
        if (!*bad) *bad = key;
        return def;
    }
    return json_integer_value(v);
}

static double ffield(json_t *o, const char *key, const char **bad) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_number(v)) {
        if (!*bad) *bad = key;
        return 0;
    }
    return json_number_value(v);
}

static bool bfield(json_t *o, const char *key, const char **bad) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return false;
    if (!json_is_boolean(v)) {
        if (!*bad) *bad = key;
        return false;
    }
    return json_is_true(v);
}

/* o[key] when an object (or absent: an empty one, borrowed from `empty`). */
static json_t *ofield(json_t *o, const char *key, json_t *empty, const char **bad) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return empty;
    if (!json_is_object(v)) {
        if (!*bad) *bad = key;
        return empty;
    }
    return v;
}

/* A transcription session as parley-asr's StreamingRecognitionConfig. Everything the request
 * points to lives in `a` (strings borrowed from the session, which outlives the packing). */
struct asr_cfg {
    Nvidia__Riva__Asr__StreamingRecognitionConfig sc;
    Nvidia__Riva__Asr__RecognitionConfig rc;
    Nvidia__Riva__Asr__EndpointingConfig ep;
    Nvidia__Riva__Asr__SpeakerDiarizationConfig dc;
    Nvidia__Riva__Asr__SpeechContext ctx;
    Nvidia__Riva__Asr__SpeechContext *ctxv[1];
    char *phrases[64];
    Nvidia__Riva__Asr__RecognitionConfig__CustomConfigurationEntry ce[16], *cev[16];
    char kv[16][2][64];
    bool pcm;      /* input_audio_format pcm16: raw samples, else a file's bytes (WAV header) */
    int channels;
};

/* Check a transcription session and fill a. False: *why says which field is wrong. */
static bool asr_config(json_t *s, struct asr_cfg *a, char *why, size_t cap) {
    memset(a, 0, sizeof *a);
    nvidia__riva__asr__streaming_recognition_config__init(&a->sc);
    nvidia__riva__asr__recognition_config__init(&a->rc);
    json_t *empty = json_object();
    const char *bad = NULL;
    const char *fmt = sfield(s, "input_audio_format", &bad);
    json_t *tr = ofield(s, "input_audio_transcription", empty, &bad);
    json_t *ip = ofield(s, "input_audio_params", empty, &bad);
    json_t *rc = ofield(s, "recognition_config", empty, &bad);
    json_t *ep = ofield(s, "endpointing_config", empty, &bad);
    json_t *sd = ofield(s, "speaker_diarization", empty, &bad);
    json_t *wb = ofield(s, "word_boosting", empty, &bad);
    bool ok = false;
    if (bad) {
        snprintf(why, cap, "session.%s: expected an object", bad);
        goto out;
    }
    a->pcm = !fmt[0] || strcmp(fmt, "pcm16") == 0;
    if (!a->pcm && strcmp(fmt, "none") != 0) {
        snprintf(why, cap,
                 "session.input_audio_format \"%.40s\" is not supported: \"pcm16\" (raw 16-bit "
                 "samples at input_audio_params.sample_rate_hz) or \"none\" (a WAV file's bytes)",
                 fmt);
        goto out;
    }
    a->rc.language_code = (char *)sfield(tr, "language", &bad);
    if (!a->rc.language_code[0]) a->rc.language_code = "en-US";
    a->rc.model = (char *)sfield(tr, "model", &bad);
    (void)sfield(tr, "prompt", &bad); /* accepted, not used */
    json_int_t rate = ifield(ip, "sample_rate_hz", 16000, &bad);
    json_int_t ch = ifield(ip, "num_channels", 1, &bad);
    a->rc.max_alternatives = (int32_t)ifield(rc, "max_alternatives", 1, &bad);
    a->rc.enable_automatic_punctuation = bfield(rc, "enable_automatic_punctuation", &bad);
    a->rc.enable_word_time_offsets = bfield(rc, "enable_word_time_offsets", &bad);
    a->rc.profanity_filter = bfield(rc, "enable_profanity_filter", &bad);
    a->rc.verbatim_transcripts = bfield(rc, "enable_verbatim_transcripts", &bad);
    if (bad) {
        snprintf(why, cap, "session field \"%s\" has the wrong type", bad);
        goto out;
    }
    if (rate < 8000 || rate > 192000) {
        snprintf(why, cap, "session.input_audio_params.sample_rate_hz %lld: give 8000-192000",
                 (long long)rate);
        goto out;
    }
    if (ch != 1) {
        snprintf(why, cap, "session.input_audio_params.num_channels %lld: only mono (1) audio",
                 (long long)ch);
        goto out;
    }
    if (a->rc.max_alternatives < 0 || a->rc.max_alternatives > 10) {
        snprintf(why, cap, "session.recognition_config.max_alternatives %d: give 1-10",
                 (int)a->rc.max_alternatives);
        goto out;
    }
    a->channels = 1;
    a->rc.encoding = a->pcm ? NVIDIA__RIVA__AUDIO_ENCODING__LINEAR_PCM
                            : NVIDIA__RIVA__AUDIO_ENCODING__ENCODING_UNSPECIFIED;
    a->rc.sample_rate_hertz = a->pcm ? (int32_t)rate : 0;
    a->rc.audio_channel_count = a->pcm ? 1 : 0;
    /* custom_configuration: "k:v,k:v" (newer clients) or an object */
    json_t *cc = json_object_get(rc, "custom_configuration");
    if (!cc) cc = json_object_get(s, "custom_configuration");
    size_t ncc = 0;
    if (json_is_string(cc)) {
        const char *p = json_string_value(cc);
        while (*p && ncc < 16) {
            const char *e = strchr(p, ','), *colon = strchr(p, ':');
            size_t n = e ? (size_t)(e - p) : strlen(p);
            if (!colon || colon >= p + n) {
                snprintf(why, cap, "custom_configuration: \"%.*s\" is not key:value", (int)n, p);
                goto out;
            }
            snprintf(a->kv[ncc][0], 64, "%.*s", (int)(colon - p), p);
            snprintf(a->kv[ncc][1], 64, "%.*s", (int)(p + n - colon - 1), colon + 1);
            ncc++;
            p = e ? e + 1 : p + n;
        }
    } else if (json_is_object(cc)) {
        const char *k;
        json_t *v;
        json_object_foreach(cc, k, v) {
            if (ncc == 16) break;
            snprintf(a->kv[ncc][0], 64, "%s", k);
            snprintf(a->kv[ncc][1], 64, "%s", json_is_string(v) ? json_string_value(v) : "");
            ncc++;
        }
    } else if (cc && !json_is_null(cc)) {
        snprintf(why, cap, "custom_configuration: expected \"k:v,k:v\" or an object");
        goto out;
    }
    for (size_t i = 0; i < ncc; i++) {
        nvidia__riva__asr__recognition_config__custom_configuration_entry__init(&a->ce[i]);
        a->ce[i].key = a->kv[i][0];
        a->ce[i].value = a->kv[i][1];
        a->cev[i] = &a->ce[i];
    }
    a->rc.n_custom_configuration = ncc;
    a->rc.custom_configuration = ncc ? a->cev : NULL;
    /* endpointing_config: only the fields > 0, as the clients send them */
    nvidia__riva__asr__endpointing_config__init(&a->ep);
    json_int_t sh = ifield(ep, "start_history", 0, &bad), st = ifield(ep, "stop_history", 0, &bad),
               se = ifield(ep, "stop_history_eou", 0, &bad);
    double sth = ffield(ep, "start_threshold", &bad), stt = ffield(ep, "stop_threshold", &bad),
           ste = ffield(ep, "stop_threshold_eou", &bad);
    bool any = false;
#define EP(val, field, CASE)                                                                       \
    if ((val) > 0) {                                                                               \
        a->ep.field = (val);                                                                       \
        a->ep._##field##_case = NVIDIA__RIVA__ASR__ENDPOINTING_CONFIG___##CASE;                    \
        any = true;                                                                                \
    }
    EP((int32_t)sh, start_history, START_HISTORY_START_HISTORY)
    EP((float)sth, start_threshold, START_THRESHOLD_START_THRESHOLD)
    EP((int32_t)st, stop_history, STOP_HISTORY_STOP_HISTORY)
    EP((float)stt, stop_threshold, STOP_THRESHOLD_STOP_THRESHOLD)
    EP((int32_t)se, stop_history_eou, STOP_HISTORY_EOU_STOP_HISTORY_EOU)
    EP((float)ste, stop_threshold_eou, STOP_THRESHOLD_EOU_STOP_THRESHOLD_EOU)
#undef EP
    if (any) a->rc.endpointing_config = &a->ep;
    if (bfield(sd, "enable_speaker_diarization", &bad)) {
        nvidia__riva__asr__speaker_diarization_config__init(&a->dc);
        a->dc.enable_speaker_diarization = true;
        a->dc.max_speaker_count = (int32_t)ifield(sd, "max_speaker_count", 8, &bad);
        a->rc.diarization_config = &a->dc;
    }
    if (bfield(wb, "enable_word_boosting", &bad)) {
        json_t *list = json_object_get(wb, "word_boosting_list"), *it;
        size_t i;
        nvidia__riva__asr__speech_context__init(&a->ctx);
        json_array_foreach(list, i, it) { /* [{"phrases": [...], "boost": x}], the first one */
            json_t *ph = json_object_get(it, "phrases"), *w;
            size_t j;
            json_array_foreach(ph, j, w) if (json_is_string(w) && a->ctx.n_phrases < 64)
                a->phrases[a->ctx.n_phrases++] = (char *)json_string_value(w);
            a->ctx.boost = (float)ffield(it, "boost", &bad);
            break;
        }
        a->ctx.phrases = a->phrases;
        a->ctxv[0] = &a->ctx;
        a->rc.n_speech_contexts = a->ctx.n_phrases ? 1 : 0;
        a->rc.speech_contexts = a->ctxv;
    }
    if (bad) {
        snprintf(why, cap, "session field \"%s\" has the wrong type", bad);
        goto out;
    }
    a->sc.config = &a->rc;
    a->sc.interim_results = true;
    ok = true;
out:
    json_decref(empty); /* every pointer into it was to an empty object: nothing kept */
    return ok;
}

/* A synthesis session as a SynthesizeSpeechRequest (text left NULL). Strings borrowed from s. */
static bool tts_config(json_t *s, Nvidia__Riva__Tts__SynthesizeSpeechRequest *rq, char *why,
                       size_t cap) {
    nvidia__riva__tts__synthesize_speech_request__init(rq);
    json_t *empty = json_object();
    const char *bad = NULL;
    json_t *in = ofield(s, "input_text_synthesis", empty, &bad);
    json_t *out = ofield(s, "output_audio_params", empty, &bad);
    json_t *zs = json_object_get(s, "zero_shot_config");
    rq->language_code = (char *)sfield(in, "language_code", &bad);
    rq->voice_name = (char *)sfield(in, "voice_name", &bad);
    json_int_t rate = ifield(out, "sample_rate_hz", 0, &bad);
    const char *fmt = sfield(out, "audio_format", &bad);
    rq->custom_dictionary = (char *)sfield(s, "custom_dictionary", &bad);
    bool ok = false;
    if (bad) {
        snprintf(why, cap, "session field \"%s\" has the wrong type", bad);
        goto out;
    }
    if (json_is_object(zs) && json_object_size(zs) > 0) {
        snprintf(why, cap, "session.zero_shot_config: parley-tts has no zero-shot voices");
        goto out;
    }
    if (rate < 0 || rate > 48000) {
        snprintf(why, cap, "session.output_audio_params.sample_rate_hz %lld: give 8000-48000 (0 = "
                 "the voice's own rate)", (long long)rate);
        goto out;
    }
    if (!fmt[0] || strcasecmp(fmt, "LINEAR_PCM") == 0 || strcasecmp(fmt, "pcm16") == 0) {
        rq->encoding = NVIDIA__RIVA__AUDIO_ENCODING__LINEAR_PCM;
    } else if (strcasecmp(fmt, "OGGOPUS") == 0) {
        rq->encoding = NVIDIA__RIVA__AUDIO_ENCODING__OGGOPUS;
    } else {
        snprintf(why, cap, "session.output_audio_params.audio_format \"%.40s\": LINEAR_PCM or "
                 "OGGOPUS", fmt);
        goto out;
    }
    rq->sample_rate_hz = (int32_t)rate;
    ok = true;
out:
    json_decref(empty);
    return ok;
}

/* ---- references and streams ------------------------------------------------------------------ */

static void conn_ref(struct rt_conn *c) { atomic_fetch_add(&c->refs, 1); }

static void conn_unref(struct rt_conn *c) {
    if (atomic_fetch_sub(&c->refs, 1) != 1) return;
    pl_httpd_ws_release(c->ws);
    json_decref(c->session);
    json_decref(c->held);
    pl_strbuf_deinit(&c->text);
    pthread_mutex_destroy(&c->mu);
    pl_free(c);
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
    conn_unref(c);
}

static bool stream_ended(struct rt_conn *c) {
    pthread_mutex_lock(&c->mu);
    bool e = c->ended;
    pthread_mutex_unlock(&c->mu);
    return e;
}

/* The stream's end: count it, log it (both intents). */
static void stream_finished(struct rt_conn *c, int code, const char *message) {
    pl__gw_metrics_record(c->gw, c->intent == RT_ASR ? "realtime_transcription"
                                                      : "realtime_synthesis",
                          code, pl_time_mono_us() - c->start_us);
    if (code != PL_GRPC_OK && code != PL_GRPC_CANCELLED)
        PL_LOGI("realtime %s: %s stream ended %s %s", c->request_id,
                c->intent == RT_ASR ? "parley-asr" : "parley-tts", code_name(code),
                message ? message : "");
    atomic_fetch_sub(&c->gw->pending, 1);
    pthread_mutex_lock(&c->mu);
    c->ended = true; /* the httpd thread destroys the stream object */
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
    struct pl_nrpc_meta m = {c->request_id, 0, NULL};
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
        pl_nrpc_stream_destroy(s);
        rt_error(c, true, "UNAVAILABLE", "%s: %s", svc, pl_last_error());
        conn_unref(c);
        return false;
    }
    c->stream = s;
    c->opened = true;
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

/* An input that came after the stream ended: answered once, then ignored. */
static void ended_input(struct rt_conn *c, const char *what) {
    if (c->told_ended) return;
    c->told_ended = true;
    rt_error(c, false, "FAILED_PRECONDITION", "%s after the session's %s stream ended", what,
             c->intent == RT_ASR ? "transcription" : "synthesis");
}

/* ---- transcription --------------------------------------------------------------------------- */

static json_t *completed_event(struct rt_conn *c, const char *text, float confidence,
                               float processed, const Nvidia__Riva__Asr__SpeechRecognitionAlternative *a) {
    char item[64];
    snprintf(item, sizeof item, "item_%.12s_%d", c->request_id, c->item);
    json_t *words = json_array();
    for (size_t i = 0; a && i < a->n_words; i++) {
        const Nvidia__Riva__Asr__WordInfo *w = a->words[i];
        json_array_append_new(words, json_pack("{s:s?, s:i, s:i, s:f, s:i}", "word", w->word,
                                               "start_time", (int)w->start_time, "end_time",
                                               (int)w->end_time, "confidence",
                                               (double)w->confidence, "speaker_tag",
                                               (int)w->speaker_tag));
    }
    return json_pack("{s:s, s:s, s:i, s:s?, s:b, s:f, s:f, s:{s:o}}", "type",
                     "conversation.item.input_audio_transcription.completed", "item_id", item,
                     "content_index", 0, "transcript", text, "is_last_result", 0, "confidence",
                     (double)confidence, "audio_processed", (double)processed, "words_info",
                     "words", words);
}

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
            snprintf(item, sizeof item, "item_%.12s_%d", c->request_id, c->item);
            emit(c, json_pack("{s:s, s:s, s:i, s:s, s:f, s:f}", "type",
                              "conversation.item.input_audio_transcription.delta", "item_id", item,
                              "content_index", 0, "delta", text, "stability",
                              (double)res->stability, "audio_processed",
                              (double)res->audio_processed));
            continue;
        }
        json_t *ev = completed_event(c, text, a->confidence, res->audio_processed, a);
        c->item++;
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
    pthread_mutex_lock(&c->mu);
    json_t *held = c->held;
    c->held = NULL;
    pthread_mutex_unlock(&c->mu);
    if (code == PL_GRPC_OK) {
        if (!held) held = completed_event(c, "", 0, 0, NULL);
        json_object_set_new(held, "is_last_result", json_true());
        emit(c, held);
    } else {
        emit(c, held);
        if (code != PL_GRPC_CANCELLED)
            rt_error(c, code != PL_GRPC_INVALID_ARGUMENT && code != PL_GRPC_NOT_FOUND,
                     code_name(code), "parley-asr: %s", message && *message ? message :
                     "the transcription stream failed");
    }
    stream_finished(c, code, message);
}

static const struct pl_nrpc_stream_cbs asr_cbs = {asr_message, asr_end};

static void on_append_audio(struct rt_conn *c, json_t *msg) {
    if (!c->session) {
        rt_error(c, false, "FAILED_PRECONDITION", "input_audio_buffer.append before "
                 "transcription_session.update: configure the session first");
        return;
    }
    if (c->done) {
        rt_error(c, false, "FAILED_PRECONDITION", "input_audio_buffer.append after "
                 "input_audio_buffer.done");
        return;
    }
    json_t *audio = json_object_get(msg, "audio");
    if (!json_is_string(audio)) {
        rt_error(c, false, "INVALID_ARGUMENT", "input_audio_buffer.append needs \"audio\": "
                 "base64 audio bytes");
        return;
    }
    uint8_t *pcm = NULL;
    size_t n = 0;
    if (!b64_decode(json_string_value(audio), json_string_length(audio), &pcm, &n)) {
        rt_error(c, false, "INVALID_ARGUMENT", "input_audio_buffer.append: \"audio\" is not "
                 "base64");
        return;
    }
    struct asr_cfg a;
    char why[256];
    if (!asr_config(c->session, &a, why, sizeof why)) { /* checked at update already */
        rt_error(c, false, "INVALID_ARGUMENT", "%s", why);
        goto out;
    }
    if (a.pcm && n % 2) {
        rt_error(c, false, "INVALID_ARGUMENT", "input_audio_buffer.append: pcm16 audio comes "
                 "in whole 16-bit samples (%zu bytes)", n);
        goto out;
    }
    if (n == 0) goto out;
    if (!c->opened) {
        if (!open_stream(c, &asr_cbs)) goto out;
        Nvidia__Riva__Asr__StreamingRecognizeRequest rq =
            NVIDIA__RIVA__ASR__STREAMING_RECOGNIZE_REQUEST__INIT;
        rq.streaming_request_case =
            NVIDIA__RIVA__ASR__STREAMING_RECOGNIZE_REQUEST__STREAMING_REQUEST_STREAMING_CONFIG;
        rq.streaming_config = &a.sc;
        send_msg(c, &rq.base);
    }
    if (!c->stream || stream_ended(c)) {
        ended_input(c, "input_audio_buffer.append");
        goto out;
    }
    Nvidia__Riva__Asr__StreamingRecognizeRequest rq =
        NVIDIA__RIVA__ASR__STREAMING_RECOGNIZE_REQUEST__INIT;
    rq.streaming_request_case =
        NVIDIA__RIVA__ASR__STREAMING_RECOGNIZE_REQUEST__STREAMING_REQUEST_AUDIO_CONTENT;
    rq.audio_content.data = pcm;
    rq.audio_content.len = n;
    send_msg(c, &rq.base);
out:
    pl_free(pcm);
}

static void on_audio_done(struct rt_conn *c) {
    if (c->done) {
        rt_error(c, false, "FAILED_PRECONDITION", "input_audio_buffer.done was sent already");
        return;
    }
    c->done = true;
    pthread_mutex_lock(&c->mu);
    c->after_done = true;
    pthread_mutex_unlock(&c->mu);
    if (c->stream) {
        pl_nrpc_stream_close_send(c->stream); /* parley-asr finishes, then the stream ends */
        return;
    }
    /* no audio at all: the session's result is empty */
    json_t *ev = completed_event(c, "", 0, 0, NULL);
    json_object_set_new(ev, "is_last_result", json_true());
    emit(c, ev);
}

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
        char *a = b64_encode(r->audio.data, r->audio.len);
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
    if (code == PL_GRPC_OK)
        emit(c, json_pack("{s:s, s:b, s:{s:I, s:i}}", "type", "conversation.item.speech.completed",
                          "is_last_result", 1, "synthesis_metadata", "audio_bytes",
                          (json_int_t)c->audio_bytes, "texts", c->item));
    else if (code != PL_GRPC_CANCELLED)
        rt_error(c, code != PL_GRPC_INVALID_ARGUMENT && code != PL_GRPC_NOT_FOUND, code_name(code),
                 "parley-tts: %s", message && *message ? message : "the synthesis stream failed");
    stream_finished(c, code, message);
}

static const struct pl_nrpc_stream_cbs tts_cbs = {tts_message, tts_end};

/* Synthesize the text appended so far (input_text.commit, and done). */
static void tts_commit(struct rt_conn *c) {
    if (!c->text.len) return;
    Nvidia__Riva__Tts__SynthesizeSpeechRequest rq;
    char why[256];
    if (!tts_config(c->session, &rq, why, sizeof why)) {
        rt_error(c, false, "INVALID_ARGUMENT", "%s", why);
        return;
    }
    if (!c->opened && !open_stream(c, &tts_cbs)) {
        pl_strbuf_reset(&c->text);
        return;
    }
    if (!c->stream || stream_ended(c)) {
        ended_input(c, "input_text.commit");
        pl_strbuf_reset(&c->text);
        return;
    }
    rq.text = c->text.data;
    c->item++;
    send_msg(c, &rq.base);
    pl_strbuf_reset(&c->text);
}

static void on_text(struct rt_conn *c, const char *type, json_t *msg) {
    if (!c->session) {
        rt_error(c, false, "FAILED_PRECONDITION", "%s before synthesize_session.update: "
                 "configure the session first", type);
        return;
    }
    if (c->done) {
        rt_error(c, false, "FAILED_PRECONDITION", "%s after input_text.done", type);
        return;
    }
    if (strcmp(type, "input_text.append") == 0) {
        json_t *t = json_object_get(msg, "text");
        if (!json_is_string(t)) {
            rt_error(c, false, "INVALID_ARGUMENT", "input_text.append needs \"text\": a string");
            return;
        }
        if (c->text.len + json_string_length(t) > RT_MAX_TEXT) {
            rt_error(c, false, "INVALID_ARGUMENT", "input_text.append: more than %u bytes of text "
                     "before a commit", RT_MAX_TEXT);
            return;
        }
        if (c->text.len) pl_strbuf_append_char(&c->text, ' ');
        pl_strbuf_append(&c->text, json_string_value(t));
    } else if (strcmp(type, "input_text.commit") == 0) {
        tts_commit(c);
    } else { /* input_text.done */
        tts_commit(c);
        c->done = true;
        if (c->stream && !stream_ended(c))
            pl_nrpc_stream_close_send(c->stream);
        else if (!c->opened)
            emit(c, json_pack("{s:s, s:b, s:{s:i, s:i}}", "type",
                              "conversation.item.speech.completed", "is_last_result", 1,
                              "synthesis_metadata", "audio_bytes", 0, "texts", 0));
    }
}

/* ---- session.update -------------------------------------------------------------------------- */

static void on_update(struct rt_conn *c, json_t *msg) {
    bool asr = c->intent == RT_ASR;
    const char *updated = asr ? "transcription_session.updated" : "synthesize_session.updated";
    if (c->opened) {
        rt_error(c, false, "FAILED_PRECONDITION", "the session is already %s: update it before "
                 "the first %s", asr ? "transcribing" : "synthesizing", asr ? "audio" : "commit");
        return;
    }
    json_t *s = json_object_get(msg, "session");
    if (s && !json_is_object(s)) {
        rt_error(c, false, "INVALID_ARGUMENT", "\"session\" must be an object");
        return;
    }
    json_t *merged = c->session ? json_deep_copy(c->session)
                                : asr ? default_transcription(c->id) : default_synthesis(c->id);
    if (!merged) return;
    if (s) json_object_update_recursive(merged, s);
    json_object_set_new(merged, "id", json_string(c->id));
    json_object_set_new(merged, "object", json_string(asr ? "realtime.transcription_session"
                                                          : "realtime.synthesis_session"));
    char why[256];
    struct asr_cfg a;
    Nvidia__Riva__Tts__SynthesizeSpeechRequest rq;
    if (asr ? !asr_config(merged, &a, why, sizeof why) : !tts_config(merged, &rq, why, sizeof why)) {
        rt_error(c, false, "INVALID_ARGUMENT", "%s", why);
        json_decref(merged);
        return;
    }
    json_decref(c->session);
    c->session = merged;
    emit(c, json_pack("{s:s, s:O}", "type", updated, "session", merged));
}

/* ---- socket callbacks (httpd thread) --------------------------------------------------------- */

static void on_text_message(struct rt_conn *c, const char *text, size_t n) {
    json_error_t err;
    json_t *msg = json_loadb(text, n, 0, &err);
    const char *type = json_is_object(msg) ? json_string_value(json_object_get(msg, "type")) : NULL;
    if (!type) {
        if (msg)
            rt_error(c, false, "INVALID_ARGUMENT", "an event needs a \"type\" string");
        else
            rt_error(c, false, "INVALID_ARGUMENT", "an event must be a JSON object: %s (line %d, "
                     "column %d)", err.text, err.line, err.column);
        json_decref(msg);
        return;
    }
    bool asr = c->intent == RT_ASR;
    if (asr && strcmp(type, "transcription_session.update") == 0) {
        on_update(c, msg);
    } else if (!asr && strcmp(type, "synthesize_session.update") == 0) {
        on_update(c, msg);
    } else if (asr && strcmp(type, "input_audio_buffer.append") == 0) {
        on_append_audio(c, msg);
    } else if (asr && strcmp(type, "input_audio_buffer.commit") == 0) {
        /* the audio already went to parley-asr as it came; nothing to do */
        if (!c->session)
            rt_error(c, false, "FAILED_PRECONDITION", "input_audio_buffer.commit before "
                     "transcription_session.update: configure the session first");
    } else if (asr && strcmp(type, "input_audio_buffer.done") == 0) {
        if (!c->session)
            rt_error(c, false, "FAILED_PRECONDITION", "input_audio_buffer.done before "
                     "transcription_session.update: configure the session first");
        else
            on_audio_done(c);
    } else if (!asr && (strcmp(type, "input_text.append") == 0 ||
                        strcmp(type, "input_text.commit") == 0 ||
                        strcmp(type, "input_text.done") == 0)) {
        on_text(c, type, msg);
    } else {
        rt_error(c, false, "INVALID_ARGUMENT", "unknown event type \"%.64s\" for a %s session",
                 type, asr ? "transcription" : "synthesis");
    }
    json_decref(msg);
}

/* The query's intent: "transcription", or "synthesize" (also "synthesis"). */
static enum rt_intent parse_intent(const char *q, char *val, size_t cap) {
    val[0] = 0;
    for (const char *p = q; p && *p;) {
        const char *e = strchr(p, '&');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n > 7 && strncmp(p, "intent=", 7) == 0) snprintf(val, cap, "%.*s", (int)(n - 7), p + 7);
        p = e ? e + 1 : NULL;
    }
    if (strcmp(val, "transcription") == 0) return RT_ASR;
    if (strcmp(val, "synthesize") == 0 || strcmp(val, "synthesis") == 0) return RT_TTS;
    return RT_NONE;
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
    c->gw = gw;
    c->ws = ws;
    pl_httpd_ws_retain(ws);
    pthread_mutex_init(&c->mu, NULL);
    pl_strbuf_init(&c->text);
    pl_request_id_new(c->request_id);
    new_session_id(c->id, sizeof c->id);
    pl_httpd_ws_set_user(ws, c);
    char intent[64];
    c->intent = parse_intent(pl_httpd_ws_query(ws), intent, sizeof intent);
    if (gw->keys) { /* the clients' API keys (client_secret) are not implemented */
        rt_error(c, false, "UNAUTHENTICATED", "this gateway requires API keys, which its realtime "
                 "API does not take; use the gRPC API");
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
                      c->id, "object", "realtime.conversation"));
    return 0;
}

static void ws_message(void *ud, struct pl_httpd_ws *ws, bool binary, const uint8_t *data,
                       size_t n) {
    PL_UNUSED(ud);
    struct rt_conn *c = pl_httpd_ws_user(ws);
    if (!c || c->intent == RT_NONE || c->gw->keys) return;
    if (binary) {
        rt_error(c, false, "INVALID_ARGUMENT", "events are JSON text messages, not binary ones");
        return;
    }
    on_text_message(c, (const char *)data, n);
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
    if (gw->keys)
        return detail(body, ctype, 401, "this gateway requires API keys, which its realtime API "
                      "does not take; use the gRPC API");
    char id[48], why[256];
    new_session_id(id, sizeof id);
    json_t *s = asr ? default_transcription(id) : default_synthesis(id);
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
    if (asr ? !asr_config(s, &a, why, sizeof why) : !tts_config(s, &rq, why, sizeof why)) {
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
    if (st != PL_OK) return detail(body, ctype, 502, "parley-tts: a bad RivaSynthesisConfigResponse");
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
    if (gw->keys)
        return detail(body, ctype, 401, "this gateway requires API keys, which its realtime API "
                      "does not take; use the gRPC API");
    return list_voices(gw, body, ctype);
}
