/*
 * gateway_realtime_events.c - what a realtime socket's client events do (docs/realtime-api.md):
 * session.update merges and checks the settings, input_audio_buffer.append opens the socket's
 * parley-asr stream and sends the audio, input_text.append/commit/done collect text and send
 * it to parley-tts, and everything a client gets wrong becomes an error event.
 *
 * Written once for two callers: the gateway's sockets (gateway_realtime.c), whose ops reach
 * the client and the NATS stream, and fuzz_ws (tests/fuzz), whose ops pack what would be sent.
 * Runs on the socket's thread (the httpd thread), one event at a time; only `item` is shared
 * with the stream callbacks.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "gateway_realtime.h"

#define RT_MAX_TEXT (64u << 10) /* text appended and not yet committed */

void pl__rt_session_init(struct pl_rt_session *s, bool asr, const struct pl_rt_ops *ops,
                         void *ud) {
    memset(s, 0, sizeof *s);
    s->asr = asr;
    s->ops = ops;
    s->ud = ud;
    atomic_init(&s->item, 0);
    pl_strbuf_init(&s->text);
}

void pl__rt_session_deinit(struct pl_rt_session *s) {
    json_decref(s->settings);
    s->settings = NULL;
    pl_strbuf_deinit(&s->text);
}

void pl__rt_error(struct pl_rt_session *s, bool server, const char *code, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *kind = server ? "server_error" : "invalid_request_error";
    json_t *e = json_pack("{s:s, s:s, s:s}", "type", kind, "code", code, "message", msg);
    if (!e) /* message not UTF-8 (it echoes client input) */
        e = json_pack("{s:s, s:s, s:s}", "type", "invalid_request_error", "code", code, "message",
                      "the request is not valid UTF-8");
    s->ops->emit(s->ud, json_pack("{s:s, s:o}", "type", "error", "error", e));
}

json_t *pl__rt_completed_event(struct pl_rt_session *s, const char *text, float confidence,
                               float processed,
                               const Nvidia__Riva__Asr__SpeechRecognitionAlternative *a) {
    char item[64];
    snprintf(item, sizeof item, "item_%.12s_%d", s->request_id, atomic_load(&s->item));
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

/* An input that came after the stream ended: answered once, then ignored. */
static void ended_input(struct pl_rt_session *s, const char *what) {
    if (s->told_ended) return;
    s->told_ended = true;
    pl__rt_error(s, false, "FAILED_PRECONDITION", "%s after the session's %s stream ended", what,
                 s->asr ? "transcription" : "synthesis");
}

static bool stream_gone(struct pl_rt_session *s) { return !s->opened || s->ops->ended(s->ud); }

/* ---- transcription --------------------------------------------------------------------------- */

static void send_audio(struct pl_rt_session *s, uint8_t *pcm, size_t n) {
    struct asr_cfg a;
    char why[256];
    if (!pl__rt_asr_config(s->settings, &a, why, sizeof why)) { /* checked at update already */
        pl__rt_error(s, false, "INVALID_ARGUMENT", "%s", why);
        return;
    }
    if (a.pcm && n % 2) {
        pl__rt_error(s, false, "INVALID_ARGUMENT", "input_audio_buffer.append: pcm16 audio comes "
                     "in whole 16-bit samples (%zu bytes)", n);
        return;
    }
    if (n == 0) return;
    if (!s->opened) {
        if (!s->ops->open(s->ud)) return;
        s->opened = true;
        Nvidia__Riva__Asr__StreamingRecognizeRequest rq =
            NVIDIA__RIVA__ASR__STREAMING_RECOGNIZE_REQUEST__INIT;
        rq.streaming_request_case =
            NVIDIA__RIVA__ASR__STREAMING_RECOGNIZE_REQUEST__STREAMING_REQUEST_STREAMING_CONFIG;
        rq.streaming_config = &a.sc;
        s->ops->send(s->ud, &rq.base);
    }
    if (stream_gone(s)) {
        ended_input(s, "input_audio_buffer.append");
        return;
    }
    Nvidia__Riva__Asr__StreamingRecognizeRequest rq =
        NVIDIA__RIVA__ASR__STREAMING_RECOGNIZE_REQUEST__INIT;
    rq.streaming_request_case =
        NVIDIA__RIVA__ASR__STREAMING_RECOGNIZE_REQUEST__STREAMING_REQUEST_AUDIO_CONTENT;
    rq.audio_content.data = pcm;
    rq.audio_content.len = n;
    s->ops->send(s->ud, &rq.base);
}

static void on_append_audio(struct pl_rt_session *s, json_t *msg) {
    if (!s->settings) {
        pl__rt_error(s, false, "FAILED_PRECONDITION", "input_audio_buffer.append before "
                     "transcription_session.update: configure the session first");
        return;
    }
    if (s->done) {
        pl__rt_error(s, false, "FAILED_PRECONDITION", "input_audio_buffer.append after "
                     "input_audio_buffer.done");
        return;
    }
    json_t *audio = json_object_get(msg, "audio");
    if (!json_is_string(audio)) {
        pl__rt_error(s, false, "INVALID_ARGUMENT", "input_audio_buffer.append needs \"audio\": "
                     "base64 audio bytes");
        return;
    }
    uint8_t *pcm = NULL;
    size_t n = 0;
    if (!pl__rt_b64_decode(json_string_value(audio), json_string_length(audio), &pcm, &n)) {
        pl__rt_error(s, false, "INVALID_ARGUMENT", "input_audio_buffer.append: \"audio\" is not "
                     "base64");
        return;
    }
    send_audio(s, pcm, n);
    pl_free(pcm);
}

static void on_audio_done(struct pl_rt_session *s) {
    if (s->done) {
        pl__rt_error(s, false, "FAILED_PRECONDITION", "input_audio_buffer.done was sent already");
        return;
    }
    s->done = true;
    if (s->opened) {
        s->ops->close_send(s->ud); /* parley-asr finishes, then the stream ends */
        return;
    }
    /* no audio at all: the session's result is empty */
    json_t *ev = pl__rt_completed_event(s, "", 0, 0, NULL);
    json_object_set_new(ev, "is_last_result", json_true());
    s->ops->emit(s->ud, ev);
}

/* ---- synthesis ------------------------------------------------------------------------------- */

/* Synthesize the text appended so far (input_text.commit, and done). */
static void tts_commit(struct pl_rt_session *s) {
    if (!s->text.len) return;
    Nvidia__Riva__Tts__SynthesizeSpeechRequest rq;
    char why[256];
    if (!pl__rt_tts_config(s->settings, &rq, why, sizeof why)) {
        pl__rt_error(s, false, "INVALID_ARGUMENT", "%s", why);
        return;
    }
    if (!s->opened) {
        if (!s->ops->open(s->ud)) {
            pl_strbuf_reset(&s->text);
            return;
        }
        s->opened = true;
    }
    if (stream_gone(s)) {
        ended_input(s, "input_text.commit");
        pl_strbuf_reset(&s->text);
        return;
    }
    rq.text = s->text.data;
    atomic_fetch_add(&s->item, 1);
    s->ops->send(s->ud, &rq.base);
    pl_strbuf_reset(&s->text);
}

static void on_text(struct pl_rt_session *s, const char *type, json_t *msg) {
    if (!s->settings) {
        pl__rt_error(s, false, "FAILED_PRECONDITION", "%s before synthesize_session.update: "
                     "configure the session first", type);
        return;
    }
    if (s->done) {
        pl__rt_error(s, false, "FAILED_PRECONDITION", "%s after input_text.done", type);
        return;
    }
    if (strcmp(type, "input_text.append") == 0) {
        json_t *t = json_object_get(msg, "text");
        if (!json_is_string(t)) {
            pl__rt_error(s, false, "INVALID_ARGUMENT", "input_text.append needs \"text\": a "
                         "string");
            return;
        }
        if (s->text.len + json_string_length(t) > RT_MAX_TEXT) {
            pl__rt_error(s, false, "INVALID_ARGUMENT", "input_text.append: more than %u bytes of "
                         "text before a commit", RT_MAX_TEXT);
            return;
        }
        if (s->text.len) pl_strbuf_append_char(&s->text, ' ');
        pl_strbuf_append(&s->text, json_string_value(t));
    } else if (strcmp(type, "input_text.commit") == 0) {
        tts_commit(s);
    } else { /* input_text.done */
        tts_commit(s);
        s->done = true;
        if (!stream_gone(s))
            s->ops->close_send(s->ud);
        else if (!s->opened)
            s->ops->emit(s->ud, json_pack("{s:s, s:b, s:{s:i, s:i}}", "type",
                                          "conversation.item.speech.completed", "is_last_result",
                                          1, "synthesis_metadata", "audio_bytes", 0, "texts", 0));
    }
}

/* ---- session.update -------------------------------------------------------------------------- */

static void on_update(struct pl_rt_session *s, json_t *msg) {
    const char *updated = s->asr ? "transcription_session.updated" : "synthesize_session.updated";
    if (s->opened) {
        pl__rt_error(s, false, "FAILED_PRECONDITION", "the session is already %s: update it "
                     "before the first %s", s->asr ? "transcribing" : "synthesizing",
                     s->asr ? "audio" : "commit");
        return;
    }
    json_t *merged = NULL;
    char why[256];
    if (!pl__rt_session_update(s->settings, json_object_get(msg, "session"), s->asr, s->id,
                               &merged, why, sizeof why)) {
        if (why[0]) pl__rt_error(s, false, "INVALID_ARGUMENT", "%s", why);
        return;
    }
    json_decref(s->settings);
    s->settings = merged;
    s->ops->emit(s->ud, json_pack("{s:s, s:O}", "type", updated, "session", merged));
}

/* ---- one event ------------------------------------------------------------------------------- */

void pl__rt_on_event(struct pl_rt_session *s, const char *text, size_t n) {
    json_error_t err;
    json_t *msg = json_loadb(text, n, 0, &err);
    const char *type = json_is_object(msg) ? json_string_value(json_object_get(msg, "type")) : NULL;
    if (!type) {
        if (msg)
            pl__rt_error(s, false, "INVALID_ARGUMENT", "an event needs a \"type\" string");
        else
            pl__rt_error(s, false, "INVALID_ARGUMENT", "an event must be a JSON object: %s (line "
                         "%d, column %d)", err.text, err.line, err.column);
        json_decref(msg);
        return;
    }
    bool asr = s->asr;
    if (asr && strcmp(type, "transcription_session.update") == 0) {
        on_update(s, msg);
    } else if (!asr && strcmp(type, "synthesize_session.update") == 0) {
        on_update(s, msg);
    } else if (asr && strcmp(type, "input_audio_buffer.append") == 0) {
        on_append_audio(s, msg);
    } else if (asr && strcmp(type, "input_audio_buffer.commit") == 0) {
        /* the audio already went to parley-asr as it came; nothing to do */
        if (!s->settings)
            pl__rt_error(s, false, "FAILED_PRECONDITION", "input_audio_buffer.commit before "
                         "transcription_session.update: configure the session first");
    } else if (asr && strcmp(type, "input_audio_buffer.done") == 0) {
        if (!s->settings)
            pl__rt_error(s, false, "FAILED_PRECONDITION", "input_audio_buffer.done before "
                         "transcription_session.update: configure the session first");
        else
            on_audio_done(s);
    } else if (!asr && (strcmp(type, "input_text.append") == 0 ||
                        strcmp(type, "input_text.commit") == 0 ||
                        strcmp(type, "input_text.done") == 0)) {
        on_text(s, type, msg);
    } else {
        pl__rt_error(s, false, "INVALID_ARGUMENT", "unknown event type \"%.64s\" for a %s "
                     "session", type, asr ? "transcription" : "synthesis");
    }
    json_decref(msg);
}
