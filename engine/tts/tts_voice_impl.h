/*
 * tts_voice_impl.h - the voice's stages one by one, for the parity test and
 * the benchmark (not a service API; tts_voice.h is).
 */
#ifndef PL_TTS_VOICE_IMPL_H
#define PL_TTS_VOICE_IMPL_H

#include "tts_voice.h"

/* Token ids of the acoustic model (train/tts/model.py): 0 pad, 1..69 phone
 * ids + 1, then the pause kinds. */
enum {
    PL_TTS_TOK_PAU = 70,
    PL_TTS_TOK_BOS = 71,
    PL_TTS_TOK_EOS = 72,
    PL_TTS_TOK_EOSQ = 73,
    PL_TTS_TOK_EOSX = 74,
    PL_TTS_N_TOKENS = 75,
};

/* Mel channels of the voice (80). */
int pl_tts_voice_n_mels(const struct pl_tts_voice *v);

/*
 * Acoustic model on tokens[0..n). Outputs per token (each NULL to skip):
 * logd (log(1 + frames)), pitch and energy (normalized) as predicted.
 * When durations is non-NULL it gives the frames per token and, with pitch_in
 * and energy_in (non-NULL), the values the decoder uses; otherwise the
 * predictions are used (durations rounded from logd). mel: NULL to stop after
 * the predictors; else *mel (pl_malloc'd, caller frees) gets [*n_frames][80].
 */
pl_status pl_tts_voice_acoustic(struct pl_tts_voice *v, const int32_t *tokens, size_t n,
                                const int32_t *durations, const float *pitch_in,
                                const float *energy_in, float *logd, float *pitch,
                                float *energy, float **mel, size_t *n_frames);

/*
 * Vocoder on mel[0..n_frames)[80]: the samples (hop * (n_frames - 1) of them)
 * go to fn in blocks of chunk_frames frames (0 = whole). The same samples,
 * to float rounding, whatever chunk_frames is.
 */
pl_status pl_tts_voice_vocode(struct pl_tts_voice *v, const float *mel, size_t n_frames,
                              int chunk_frames, pl_tts_pcm_fn fn, void *ud);

#endif
