/*
 * gateway_realtime.h - private to gateway_realtime*.c: the realtime API's session settings
 * (defaults, checks, their Riva requests), base64, and what a socket's client events do
 * (gateway_realtime_events.c, also run by tests/fuzz/fuzz_ws.c). Not a public API.
 */
#ifndef PL_GATEWAY_REALTIME_H
#define PL_GATEWAY_REALTIME_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "riva/proto/riva_asr.pb-c.h"
#include "riva/proto/riva_tts.pb-c.h"
#include "strbuf.h"
#include "util.h"

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

/* base64 of n bytes. Caller owns (pl_free); NULL when out of memory. */
char *pl__rt_b64_encode(const uint8_t *p, size_t n);
/* Strict decode (padding optional, no whitespace). OUT: *out (pl_free), *n. False = not base64
 * (or out of memory). */
bool pl__rt_b64_decode(const char *s, size_t len, uint8_t **out, size_t *n);

/* The value of `name` in a query string ("a=1&b=2") as pl_httpd_ws_query gives it (libwebsockets
 * has decoded %XX and '+' already) into out (cap bytes, truncated); "" when absent. */
void pl__rt_query_param(const char *query, const char *name, char *out, size_t cap);

/* "sess_<32 hex>" into out (cap >= 40). */
void pl__rt_session_id(char *out, size_t cap);
/* The default sessions the POST endpoints answer (new references; NULL when out of memory). */
json_t *pl__rt_default_transcription(const char *id);
json_t *pl__rt_default_synthesis(const char *id);
/* Check a transcription session and fill a (pointing into s, which must outlive a's use).
 * False: why (cap bytes) names the field that is wrong. */
bool pl__rt_asr_config(json_t *s, struct asr_cfg *a, char *why, size_t cap);
/* A synthesis session as a SynthesizeSpeechRequest with no text (strings borrowed from s).
 * False: why names the field that is wrong. */
bool pl__rt_tts_config(json_t *s, Nvidia__Riva__Tts__SynthesizeSpeechRequest *rq, char *why,
                       size_t cap);

/* transcription_session.update / synthesize_session.update: `update` (the event's "session",
 * NULL when absent) merged over `current` (NULL: the defaults), with "id" and "object" set,
 * checked as the session's requests. True: *out is the new settings (a new reference). False:
 * why names the problem, or is "" when out of memory. */
bool pl__rt_session_update(json_t *current, json_t *update, bool asr, const char *id,
                           json_t **out, char *why, size_t cap);

/* ---- a socket's events (gateway_realtime_events.c) --------------------------------------------
 * One handler for the client's events on a realtime socket. The gateway's sockets
 * (gateway_realtime.c) give it ops that reach the client and the parley-asr / parley-tts stream
 * over NATS; fuzz_ws gives it ops that pack what would be sent. */
struct pl_rt_ops {
    /* An event for the client (consumed; NULL when out of memory). Any thread. */
    void (*emit)(void *ud, json_t *ev);
    /* Open the socket's one stream (parley-asr's or parley-tts's). False: an error event went
     * out (pl__rt_error). */
    bool (*open)(void *ud);
    /* A request on the open stream. */
    void (*send)(void *ud, const ProtobufCMessage *m);
    /* Has the open stream ended (its end came from the worker)? */
    bool (*ended)(void *ud);
    /* The client sends nothing more (input_audio_buffer.done, input_text.done on an open
     * stream): end the stream's sending side. */
    void (*close_send)(void *ud);
};

/* One socket's state between its events. The socket's thread only, except item. */
struct pl_rt_session {
    bool asr;                       /* transcription, else synthesis */
    const struct pl_rt_ops *ops;
    void *ud;
    char id[48];                    /* "sess_<hex>" (the caller fills it) */
    char request_id[PL_REQUEST_ID_LEN]; /* names items (the caller fills it) */
    json_t *settings;               /* after session.update; NULL before */
    bool opened;                    /* the stream was opened (one per socket) */
    bool done;                      /* input_audio_buffer.done / input_text.done seen */
    bool told_ended;                /* an input after the stream's end was answered once */
    struct pl_strbuf text;          /* TTS: appended, not yet committed */
    atomic_int item;                /* ASR: utterance number (stream callbacks); TTS: commits */
};

void pl__rt_session_init(struct pl_rt_session *s, bool asr, const struct pl_rt_ops *ops,
                         void *ud);
void pl__rt_session_deinit(struct pl_rt_session *s);
/* One text message from the client (n bytes, not NUL-terminated). */
void pl__rt_on_event(struct pl_rt_session *s, const char *text, size_t n);
/* {"type":"error","error":{"type":...,"code":CODE,"message":...}} through ops->emit: the
 * official clients stop on an event whose type contains "error" and print error.message.
 * server: "server_error", else "invalid_request_error". */
void pl__rt_error(struct pl_rt_session *s, bool server, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* conversation.item.input_audio_transcription.completed for the current item (a new
 * reference; NULL when out of memory). a: the words, or NULL. */
json_t *pl__rt_completed_event(struct pl_rt_session *s, const char *text, float confidence,
                               float processed,
                               const Nvidia__Riva__Asr__SpeechRecognitionAlternative *a);

#endif
