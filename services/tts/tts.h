/*
 * tts.h - parley-tts: speech synthesis (Riva RivaSpeechSynthesis) over NATS.
 *
 * Layers, one file each:
 *   tts_service.c  the service: the CMU lexicon, the user dictionary, the G2P model and the
 *                  front end (engine/tts/tts_front.h), the voices (engine/tts/tts_voice.h),
 *                  GetRivaSynthesisConfig, and the checks every request goes through (voice,
 *                  language, rate, encoding, text) before the front end runs on it.
 *   tts_synth.c    synthesis: each sentence of the front end's result through the voice, the
 *                  voice's chunks resampled to the request's rate (common/audio.h) and encoded
 *                  (s16le, G.711, Ogg/Opus); Synthesize (all the audio in one response) and
 *                  SynthesizeOnline (chunks sent as the voice makes them; several requests on
 *                  one stream, each answered in order).
 *
 * Subjects (docs/nats-protocol.md): parley.tts.synthesize, parley.tts.get_riva_synthesis_config
 * (unary) and parley.tts.stream.open for synthesize_online; queue group "tts".
 *
 * Thread-safety: a service is immutable after pl_tts_service_create and serves any number of
 * requests at once (voices and the front end are shared; each request has its own state).
 */
#ifndef PL_TTS_SERVICE_H
#define PL_TTS_SERVICE_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

struct pl_worker;

struct pl_tts_service_opts {
    const char *voices;          /* comma-separated voice directories (models/tts-voice) */
    const char *lexicon;         /* CMU dictionary file; "" = none (G2P alone) */
    const char *user_dictionary; /* "grapheme  PH PH" lines; "" = none */
    const char *g2p;             /* G2P model file (models/tts-g2p/g2p.bin); "" = none */
    const char *backend;         /* engine backend of the voices ("cpu", "cuda") */
    int threads;                 /* CPU threads per voice call (0 = 1) */
    int max_words;               /* words per sentence before the front end cuts (0 = 50) */
    int chunk_frames;            /* mel frames per vocoder block (0 = the voice's default) */
    size_t max_text_bytes;       /* Synthesize: longest text (RESOURCE_EXHAUSTED past it) */
    size_t max_stream_text_bytes; /* SynthesizeOnline: longest text of one request */
};

/* Defaults: voices "models/tts-voice", lexicon "", g2p "", backend "cpu", limits 8 KiB and
 * 1 MiB. */
void pl_tts_service_opts_default(struct pl_tts_service_opts *o);

struct pl_tts_service;

/* Load the lexicons, the G2P model and the voices. A voice that does not load (or is named
 * like an earlier one) is logged and left out; with none left the service still starts, and
 * every synthesis answers UNAVAILABLE with the reason (pl_tts_service_n_voices() is 0: keep
 * /readyz at 503). Returns PL_OK; PL_E_INVALID_ARG (no voice given); PL_E_IO / PL_E_FORMAT
 * (a lexicon or the G2P model); PL_E_NOMEM. OUT: *out, caller owns; pl_tts_service_destroy(). */
pl_status pl_tts_service_create(const struct pl_tts_service_opts *o, struct pl_tts_service **out);
void pl_tts_service_destroy(struct pl_tts_service *s); /* NULL: no-op */

/* Register synthesize, get_riva_synthesis_config and the synthesize_online stream on w
 * (before pl_worker_start). s must outlive w's drain. */
pl_status pl_tts_service_register(struct pl_tts_service *s, struct pl_worker *w);

/* Number of voices served, and voice i's name (static for the service's life; NULL when i is
 * out of range). */
int pl_tts_service_n_voices(const struct pl_tts_service *s);
const char *pl_tts_service_voice_name(const struct pl_tts_service *s, int i);

#ifdef __cplusplus
}
#endif
#endif
