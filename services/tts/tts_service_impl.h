/*
 * tts_service_impl.h - what tts_service.c and tts_synth.c share inside parley-tts.
 */
#ifndef PL_TTS_SERVICE_IMPL_H
#define PL_TTS_SERVICE_IMPL_H

#include <stdbool.h>

#include "audio.h"
#include "nrpc_worker.h"
#include "riva/proto/riva_tts.pb-c.h"
#include "tts.h"
#include "tts_front.h"
#include "tts_voice.h"

struct pl_tts_g2p;

struct pl_tts_service {
    struct pl_tts_service_opts o;
    struct pl_tts_lexicon *cmu;  /* NULL: none */
    struct pl_tts_lexicon *user; /* NULL: none */
    struct pl_tts_g2p *g2p;      /* NULL: none */
    struct pl_tts_front *front;
    struct pl_tts_voice **voices; /* [n_voices] */
    char **voice_dirs;            /* [n_voices] as configured */
    int n_voices;
    char load_error[512]; /* why the first voice that did not load did not; "" = all loaded */
};

/* The subvoice every voice lists in GetRivaSynthesisConfig ("<voice>.default" also names it). */
#define PL_TTS_SUBVOICE "default"

/* One checked request, ready to synthesize. */
struct pl__tts_job {
    struct pl_tts_voice *voice;  /* borrowed from the service */
    struct pl_tts_result *res;   /* the front end's result (owned) */
    enum pl_audio_encoding enc;  /* LINEAR_PCM, MULAW, ALAW or OGGOPUS */
    int rate;                    /* rate of the audio produced (the request's; Opus: its codec
                                    rate at or above the request's) */
    const char *text;            /* the request's text (borrowed from the request) */
};

/* Check a request (voice, language, encoding, rate, text and its size against max_bytes) and
 * run the front end on it. Errors, each naming the problem: PL_E_INVALID_ARG (empty text, no
 * words, bad rate, encoding or language, invalid UTF-8), PL_E_FORMAT (SSML, custom
 * dictionary), PL_E_NOT_FOUND (unknown voice, the message lists the voices), PL_E_EXHAUSTED
 * (text longer than max_bytes), PL_E_NOMEM. On success the caller ends with
 * pl__tts_job_deinit(). */
pl_status pl__tts_job_init(const struct pl_tts_service *s,
                           const Nvidia__Riva__Tts__SynthesizeSpeechRequest *rq, size_t max_bytes,
                           struct pl__tts_job *job /* OUT */);
void pl__tts_job_deinit(struct pl__tts_job *job);

/* Re-raise the thread's last error as st with "<prefix>: " in front (the message is copied
 * first: PL_ERR formats into the buffer pl_last_error() points to). Returns st. */
pl_status pl__ttssvc_err_prefix(pl_status st, const char *prefix);

/* A streaming Ogg/Opus writer (tts_opus.c): one Ogg stream, pages out as soon as they are
 * complete. rate: 8000, 12000, 16000, 24000 or 48000. */
struct pl__tts_opus;
pl_status pl__tts_opus_create(int rate, struct pl__tts_opus **out);
void pl__tts_opus_destroy(struct pl__tts_opus *o); /* NULL: no-op */
/* Encode pcm[0..n) (mono, at the rate given); last: end the stream (pad the last packet,
 * trim it with the final granule position). The first call also writes the two header pages.
 * OUT: *out (caller owns, pl_free; NULL when *len is 0), *len: the pages completed by this call.
 * Returns PL_OK, PL_E_NOMEM, PL_E_INTERNAL. */
pl_status pl__tts_opus_write(struct pl__tts_opus *o, const float *pcm, size_t n, bool last,
                             uint8_t **out, size_t *len);

/* The rpc handlers of tts_synth.c. */
pl_status pl__tts_rpc_synthesize(void *ud, const struct pl_worker_ctx *ctx, const uint8_t *req,
                                 size_t n, struct pl_worker_out *out);
extern const struct pl_worker_stream_i pl__tts_online_iface;

#endif
