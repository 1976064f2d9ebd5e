/*
 * tts_voice.h - a neural voice: acoustic model (phones -> mel frames) and
 * vocoder (mel frames -> samples), both run as engine graphs.
 *
 *     pl_tts_voice_load("models/tts-voice", &opts, &voice)      -- once, shared
 *     pl_tts_voice_synth(voice, &sentence, &sopts, on_pcm, ud, &info)
 *     ... on_pcm() is called with chunks of float samples in [-1, 1] ...
 *     pl_tts_synth_info_free(&info)
 *     pl_tts_voice_destroy(voice)
 *
 * A sentence is one struct pl_tts_sentence of the front end (tts_front.h):
 * its words' phones and its pauses. The acoustic model runs on the whole
 * sentence at once (it is cheap); the vocoder then runs on overlapping blocks
 * of frames, and each block's samples go to the callback as soon as they
 * exist, so the first audio of a sentence does not wait for the rest.
 *
 * A voice directory holds config.json (names, sample rate, frame layout,
 * the phone table) and model.safetensors (both networks' weights, tensor
 * names as the PyTorch recipe in train/tts/ saves them).
 *
 * Thread-safety: a voice is immutable after loading and may be shared;
 * pl_tts_voice_synth may run on several threads at once (each call has its
 * own scratch; graph computes on the voice's backend take turns).
 */
#ifndef PL_TTS_VOICE_H
#define PL_TTS_VOICE_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"
#include "tts_front.h"

#ifdef __cplusplus
extern "C" {
#endif

struct pl_tts_voice;

struct pl_tts_voice_opts {
    const char *backend; /* "cpu" (default when NULL), "cpu-ref", "cuda", "cuda:N" */
    int n_threads;       /* CPU worker threads; 0 = 1 (a voice serves one stream per call) */
};

/* Load the voice in directory dir. opts may be NULL.
 * Returns PL_OK; PL_E_INVALID_ARG; PL_E_IO; PL_E_FORMAT (config or weights
 * not a voice, naming the tensor or key); PL_E_UNSUPPORTED (backend not
 * built); PL_E_NOMEM. OUT: *out, caller owns; pl_tts_voice_destroy(). */
pl_status pl_tts_voice_load(const char *dir, const struct pl_tts_voice_opts *opts,
                            struct pl_tts_voice **out);
void pl_tts_voice_destroy(struct pl_tts_voice *v); /* NULL: no-op */

/* The voice's name from its config ("parley-slt"); static for the voice's life. */
const char *pl_tts_voice_name(const struct pl_tts_voice *v);
/* Language code ("en-US"). */
const char *pl_tts_voice_language(const struct pl_tts_voice *v);
/* Native output rate in Hz (callers resample to the request's rate). */
int pl_tts_voice_sample_rate(const struct pl_tts_voice *v);
/* Seconds of audio per mel frame (hop / sample rate). */
double pl_tts_voice_frame_seconds(const struct pl_tts_voice *v);

/* Called with each chunk of samples (n > 0, floats in [-1, 1] at the voice's
 * rate). Return 0 to go on, non-zero to stop the synthesis (it then returns
 * PL_E_CANCELLED). */
typedef int (*pl_tts_pcm_fn)(void *ud, const float *pcm, size_t n);

struct pl_tts_synth_opts {
    float rate;   /* speaking-rate multiplier on top of the items' prosody; 0 = 1 */
    float pitch;  /* F0 multiplier on top of the items' prosody; 0 = 1 */
    float volume; /* amplitude multiplier on top of the items' prosody; 0 = 1 */
    int chunk_frames; /* mel frames per vocoder block; 0 = the voice's default */
};

/* What a synthesis produced, for Riva's metadata. */
struct pl_tts_synth_info {
    float *durations; /* [n_symbols] seconds per input symbol (phones and pauses) */
    size_t n_symbols;
    size_t n_samples; /* samples delivered to the callback */
};
void pl_tts_synth_info_free(struct pl_tts_synth_info *info); /* frees durations */

/*
 * Speak one sentence. Words without phones (pron NONE) are skipped; PAUSE
 * items become silence of their pause_ms (scaled by rate); each item's
 * prosody (rate, pitch, volume) applies to its own phones. opts may be NULL;
 * info may be NULL.
 * Returns PL_OK (also for a sentence with nothing to say: no callback);
 * PL_E_INVALID_ARG (NULL v, s or fn); PL_E_CANCELLED (the callback stopped
 * it); PL_E_NOMEM; PL_E_BACKEND.
 */
pl_status pl_tts_voice_synth(struct pl_tts_voice *v, const struct pl_tts_sentence *s,
                             const struct pl_tts_synth_opts *opts, pl_tts_pcm_fn fn, void *ud,
                             struct pl_tts_synth_info *info);

#ifdef __cplusplus
}
#endif
#endif
