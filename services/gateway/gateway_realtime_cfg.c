/*
 * gateway_realtime_cfg.c - the realtime API's session settings (gateway_realtime.h): the
 * defaults the session endpoints answer, the checks of a session.update, and the Riva requests
 * (StreamingRecognitionConfig, SynthesizeSpeechRequest) a session stands for; base64.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "gateway_realtime.h"
#include "util.h"

/* ---- base64 ---------------------------------------------------------------------------------- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *pl__rt_b64_encode(const uint8_t *p, size_t n) {
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
bool pl__rt_b64_decode(const char *s, size_t len, uint8_t **out, size_t *n) {
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

/* ---- sessions: defaults and checks ----------------------------------------------------------- */

void pl__rt_query_param(const char *query, const char *name, char *out, size_t cap) {
    size_t nl = strlen(name);
    out[0] = 0;
    for (const char *p = query; p && *p;) {
        const char *e = strchr(p, '&');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n > nl && p[nl] == '=' && strncmp(p, name, nl) == 0)
            snprintf(out, cap, "%.*s", (int)(n - nl - 1), p + nl + 1);
        p = e ? e + 1 : NULL;
    }
}

void pl__rt_session_id(char *out, size_t cap) {
    char id[PL_REQUEST_ID_LEN];
    pl_request_id_new(id);
    snprintf(out, cap, "sess_%s", id);
}

/* The defaults the POST endpoints answer (Riva's shape; "model": "" lets parley-asr pick). */
json_t *pl__rt_default_transcription(const char *id) {
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

json_t *pl__rt_default_synthesis(const char *id) {
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


/* Check a transcription session and fill a. False: *why says which field is wrong. */
bool pl__rt_asr_config(json_t *s, struct asr_cfg *a, char *why, size_t cap) {
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
bool pl__rt_tts_config(json_t *s, Nvidia__Riva__Tts__SynthesizeSpeechRequest *rq, char *why,
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

bool pl__rt_session_update(json_t *current, json_t *update, bool asr, const char *id,
                           json_t **out, char *why, size_t cap) {
    *out = NULL;
    why[0] = '\0';
    if (update && !json_is_object(update)) {
        snprintf(why, cap, "\"session\" must be an object");
        return false;
    }
    json_t *merged = current ? json_deep_copy(current)
                     : asr   ? pl__rt_default_transcription(id)
                             : pl__rt_default_synthesis(id);
    if (!merged) return false;
    if (update) json_object_update_recursive(merged, update);
    json_object_set_new(merged, "id", json_string(id));
    json_object_set_new(merged, "object", json_string(asr ? "realtime.transcription_session"
                                                          : "realtime.synthesis_session"));
    struct asr_cfg a;
    Nvidia__Riva__Tts__SynthesizeSpeechRequest rq;
    if (asr ? !pl__rt_asr_config(merged, &a, why, cap)
            : !pl__rt_tts_config(merged, &rq, why, cap)) {
        json_decref(merged);
        return false;
    }
    *out = merged;
    return true;
}
