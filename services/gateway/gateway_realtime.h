/*
 * gateway_realtime.h - private to gateway_realtime*.c: the realtime API's session settings
 * (defaults, checks, their Riva requests) and base64. Not a public API.
 */
#ifndef PL_GATEWAY_REALTIME_H
#define PL_GATEWAY_REALTIME_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "riva/proto/riva_asr.pb-c.h"
#include "riva/proto/riva_tts.pb-c.h"

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

#endif
