/*
 * asr_service.h - parley-asr: offline speech recognition (Riva Recognize and
 * GetRivaSpeechRecognitionConfig) over NATS for the gateway.
 *
 * Layers, one file each:
 *   asr_segment.c  pure signal code: energy-based segmentation of long audio at pauses
 *                  (each segment is one utterance, one SpeechRecognitionResult) with a cap
 *                  on segment length, so memory per forward stays bounded.
 *   asr_audio.c    a RecognitionConfig + audio bytes -> 16 kHz mono float channels (decode
 *                  every encoding/container, downmix or split channels, resample), with
 *                  INVALID_ARGUMENT errors that name the problem.
 *   asr_models.c   the models of the repository (runtime/model_repo.h, reloaded on SIGHUP):
 *                  every directory with a config.json of model_type "parley_quartznet_ctc"
 *                  is an acoustic model (features, vocabulary, instances behind a dynamic
 *                  batcher, a streaming scheduler), one of model_type "silero_vad" a VAD.
 *   asr_recognize.c the Recognize rpc: segments -> features -> model -> CTC decoding (greedy or
 *                  prefix beam + LM + boosting, n-best) -> punctuation (parley-nlu over NATS,
 *                  optional) -> ITN -> profanity filter -> RecognizeResponse.
 *   asr_service.c  options, creation, GetRivaSpeechRecognitionConfig, worker registration.
 *
 * Thread-safety: a service is immutable after creation (models are shared; each model
 * instance is driven by its batcher thread) and may serve any number of calls at once.
 */
#ifndef PL_ASR_SERVICE_H
#define PL_ASR_SERVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"

/* The CTC prefix beam's default width, chosen on the dev sets (models/asr-lm/README.md):
 * the options' default, the per-request fallback and (as text) the config table's default. */
#define PL_ASRSVC_BEAM_WIDTH 32
#define PL_ASRSVC_STR_(x) #x
#define PL_ASRSVC_STR(x) PL_ASRSVC_STR_(x)

#ifdef __cplusplus
extern "C" {
#endif

/* ---- segmentation (asr_segment.c) ------------------------------------------------------- */

struct pl_asrsvc_seg_opts {
    int sample_rate;     /* of the samples (16000) */
    double pause_s;      /* a non-speech run at least this long splits (0.6 s) */
    double max_s;        /* longest segment; longer speech is cut at its quietest frame (20 s) */
    double min_speech_s; /* a segment with less speech than this is dropped (0.1 s) */
    double margin_db;    /* speech = frame energy above the noise floor + this (12 dB) */
    double floor_dbfs;   /* frames below this are never speech (-55 dBFS) */
};
void pl_asrsvc_seg_opts_default(struct pl_asrsvc_seg_opts *o);

struct pl_asrsvc_segment {
    size_t start, end; /* sample range [start, end) */
};

/*
 * Split n samples into utterance segments: 10 ms frames are speech when their RMS level is
 * above both floor_dbfs and min(10th percentile level + margin_db, 99th percentile - 25 dB);
 * a run of non-speech of at
 * least pause_s ends a segment (the cut is in the middle of the pause, so each segment keeps
 * half the pause as context); a segment longer than max_s is cut at its quietest frame in the
 * second half of the window. Segments with less than min_speech_s of speech are dropped, so
 * silence gives no segment. Segments are ordered and disjoint.
 * Returns PL_OK; PL_E_INVALID_ARG (NULL with n > 0, bad options); PL_E_NOMEM.
 * OUT: *segs (caller owns; pl_free; NULL when *n_segs is 0), *n_segs.
 */
pl_status pl_asrsvc_segment(const float *x, size_t n, const struct pl_asrsvc_seg_opts *o,
                         struct pl_asrsvc_segment **segs, int *n_segs);

/* ---- audio (asr_audio.c) ---------------------------------------------------------------- */

struct pl_asrsvc_input {
    float **ch;        /* [n_ch] mono 16 kHz (model rate) signals, each n samples (owned) */
    int n_ch;          /* 1, or the channel count with separate recognition */
    size_t n;          /* samples per channel */
    int in_rate;       /* rate of the audio as sent */
    int in_channels;   /* channels as sent */
    int container;     /* enum pl_audio_container of the bytes */
};

/*
 * Decode audio as a Riva client sends it: a WAV/FLAC/Ogg file with its header (encoding
 * unset or naming the contents), or raw LINEAR_PCM (s16le), MULAW, ALAW with
 * sample_rate_hertz (8000..48000) and audio_channel_count (0 = 1). Channels are averaged,
 * or kept apart when separate is true; every channel is resampled to model_rate.
 * max_seconds caps the duration. Errors (all PL_E_INVALID_ARG, message for the client):
 * empty audio, unknown/unsupported encoding, raw audio without sample_rate_hertz or with
 * one out of range, bytes that are no known container with encoding unset, a malformed or
 * truncated header, an odd byte count for 16-bit PCM, audio longer than max_seconds;
 * PL_E_NOMEM; PL_E_INTERNAL (resampler).
 * OUT: *in (caller owns; pl_asrsvc_input_deinit).
 */
pl_status pl_asrsvc_input_decode(const void *audio, size_t n, int encoding, int sample_rate_hertz,
                              int audio_channel_count, bool separate, int model_rate,
                              double max_seconds, struct pl_asrsvc_input *in);
void pl_asrsvc_input_deinit(struct pl_asrsvc_input *in);

/* ---- service (asr_service.c, asr_models.c, asr_recognize.c) ----------------------------- */

struct pl_asrsvc_opts {
    const char *model_dir;      /* repository: each acoustic model directory below it is served */
    const char *lm_path;        /* ARPA LM; NULL/"" = <model_dir>/asr-lm/lm.arpa.gz when present;
                                   "none" = no LM */
    const char *profanity_path; /* NULL/"" = <model_dir>/asr-lm/profanity.txt when present */
    int instances;              /* model instances (one batcher thread each) per model (1) */
    int threads;                /* GEMM threads per instance (1) */
    const char *device;         /* acoustic model backend: "cpu" (NULL), "cpu-ref", "cuda",
                                   "cuda:N" (engine/backend.h) */
    int max_batch_size;         /* segments one batched forward takes (4; at most 256) */
    int64_t max_queue_delay_us; /* batching delay (1000) */
    int max_queue;              /* queued segments per model before RESOURCE_EXHAUSTED (1024) */
    double max_audio_s;         /* longest audio accepted (1800 s) */
    struct pl_asrsvc_seg_opts seg; /* segmentation; seg.sample_rate is set from the model */
    int beam_width;             /* PL_ASRSVC_BEAM_WIDTH; 0 = greedy decoding */
    double lm_alpha, lm_beta;   /* < 0: the model's config.json "decoding", else 0.5 / 1.0 */
    double max_boost;           /* SpeechContext boosts are clamped to [-max, max] (20) */
    const char *nats_url;       /* for punctuation (parley.nlu.punctuate_text); NULL = none */
    int punct_timeout_ms;       /* 2000 */
    struct pl_metrics *metrics; /* optional (borrowed) */
};
void pl_asrsvc_opts_default(struct pl_asrsvc_opts *o);

struct pl_asrsvc;
struct pl_model_repo;
struct pl_worker;
struct pl_worker_out;

/* Load every acoustic model and VAD under o->model_dir (sorted by directory name), the LM and
 * the profanity list. A model that fails to load is logged and skipped; with no model every
 * Recognize answers UNAVAILABLE. The models reload with pl_model_repo_reload(
 * pl_asrsvc_repo(s)) (registering on a worker makes its SIGHUP do it); the LM and the
 * profanity list load once. OUT: *out (caller owns; pl_asrsvc_destroy). */
pl_status pl_asrsvc_create(const struct pl_asrsvc_opts *o, struct pl_asrsvc **out);
/* Stops the batchers (queued work fails CANCELLED) and frees. NULL is a no-op. */
void pl_asrsvc_destroy(struct pl_asrsvc *s);
/* Acoustic models served now, and the name of model i (borrowed until the next reload), or
 * NULL. For start-up reports and tests. */
int pl_asrsvc_n_models(const struct pl_asrsvc *s);
const char *pl_asrsvc_model_name(const struct pl_asrsvc *s, int i);
bool pl_asrsvc_has_lm(const struct pl_asrsvc *s);
/* The service's model repository (borrowed). */
struct pl_model_repo *pl_asrsvc_repo(struct pl_asrsvc *s);

/* Register the rpcs recognize and get_riva_speech_recognition_config on w, one handler each
 * (s borrowed for w's life). pl_worker_call(w, "recognize", ...) runs one outside NATS. */
pl_status pl_asrsvc_register(struct pl_asrsvc *s, struct pl_worker *w);

#ifdef __cplusplus
}
#endif
#endif
