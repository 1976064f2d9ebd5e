/*
 * asr_features.h - the ASR front end: 16 kHz log-mel features.
 *
 * Definition (docs/asr.md has the formulas; tests/reference/asr_features.py
 * is the NumPy reference the C code is tested against):
 *   1. optional dither: x += dither * N(0,1) from a seeded generator (off by default);
 *   2. optional pre-emphasis: y[0] = x[0], y[n] = x[n] - k x[n-1] (k = 0.97 by default);
 *   3. centred frames: frame t covers samples t*hop - win/2 .. t*hop + win/2 - 1
 *      (zeros outside the signal); a signal of N samples gives 1 + N / hop frames
 *      (torch.stft(center=True) with a zero pad, as NeMo does);
 *   4. symmetric Hann window of win samples (torch.hann_window(periodic=False));
 *   5. |FFT|^2 of the frame zero-padded to n_fft (own radix-2 FFT, double precision);
 *   6. 80 triangular mel filters, Slaney mel scale with Slaney area normalization
 *      (librosa.filters.mel(htk=False, norm="slaney")), 0 .. sample_rate/2 Hz;
 *   7. log(mel + 2^-24);
 *   8. normalization: NONE, PER_FEATURE (per-utterance mean and unbiased std
 *      per mel bin, std + 1e-5; offline only), FIXED (given mean/std per bin) or
 *      RUNNING (frame t uses the mean/std of frames 0..t; streaming-friendly).
 *
 * Streaming: pl_asr_fe_stream_feed() accepts any chunk sizes and returns the
 * frames whose window is complete; pl_asr_fe_stream_finish() returns the
 * rest. The frames equal those of pl_asr_fe_compute() on the whole signal for
 * every normalization except PER_FEATURE (which a stream cannot do: refused).
 *
 * Thread-safety: a struct pl_asr_fe is immutable after creation and may be
 * shared by threads; a stream belongs to one thread at a time.
 */
#ifndef PL_ASR_FEATURES_H
#define PL_ASR_FEATURES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

enum pl_asr_norm {
    PL_ASR_NORM_NONE = 0,
    PL_ASR_NORM_PER_FEATURE = 1, /* per utterance, per mel bin (NeMo "per_feature") */
    PL_ASR_NORM_FIXED = 2,       /* opts.norm_mean / opts.norm_std */
    PL_ASR_NORM_RUNNING = 3,     /* cumulative statistics of the frames so far */
};

struct pl_asr_fe_opts {
    int sample_rate;      /* 16000 */
    int win_length;       /* 400 (25 ms) */
    int hop_length;       /* 160 (10 ms) */
    int n_fft;            /* 512; a power of two >= win_length, <= 4096 */
    int n_mels;           /* 80; 1..256 */
    double f_min;         /* 0 Hz */
    double f_max;         /* 0 = sample_rate / 2 */
    double preemph;       /* 0.97; 0 disables */
    double dither;        /* 0 (off); std of the added Gaussian noise */
    uint64_t dither_seed; /* seed of the dither generator */
    double log_guard;     /* 2^-24 */
    enum pl_asr_norm norm;
    const float *norm_mean;     /* FIXED: n_mels values, copied at creation */
    const float *norm_std;      /* FIXED: n_mels values (> 0), copied at creation */
    double running_init_frames; /* RUNNING: weight of the prior (mean 0 / std 1 by
                                   default, or norm_mean/norm_std when given) in frames; 0 = none */
};

/* Defaults above (NeMo-like: 16 kHz, 25/10 ms, 512 FFT, 80 Slaney mels,
 * pre-emphasis 0.97, no dither, guard 2^-24, PER_FEATURE). */
void pl_asr_fe_opts_default(struct pl_asr_fe_opts *o);

struct pl_asr_fe;

/* Build the window, FFT tables and mel filterbank.
 * Returns PL_OK; PL_E_INVALID_ARG for out of range options (named in the
 * message) or FIXED without mean/std; PL_E_NOMEM.
 * OUT: *out, caller owns; free with pl_asr_fe_destroy(). NULL on failure. */
pl_status pl_asr_fe_create(const struct pl_asr_fe_opts *opts, struct pl_asr_fe **out);
void pl_asr_fe_destroy(struct pl_asr_fe *fe);

int pl_asr_fe_n_mels(const struct pl_asr_fe *fe);

/* Frame geometry of fe: window and hop in samples. */
int pl_asr_fe_win_length(const struct pl_asr_fe *fe);
int pl_asr_fe_hop_length(const struct pl_asr_fe *fe);

/* Number of frames for n samples: 1 + n / hop. */
size_t pl_asr_fe_n_frames(const struct pl_asr_fe *fe, size_t n_samples);

/* Features of a whole utterance (mono float samples at opts.sample_rate,
 * nominally in [-1, 1]). n may be 0 (one all-padding frame).
 * Returns PL_OK; PL_E_INVALID_ARG (NULL args, non-finite samples); PL_E_NOMEM.
 * OUT: *feats = [*n_frames][n_mels] row-major floats, caller owns, free with
 * pl_free(); NULL on failure. */
pl_status pl_asr_fe_compute(const struct pl_asr_fe *fe, const float *samples, size_t n,
                            float **feats, size_t *n_frames);

/* Log-mels before normalization of frames [t0, t1) of the signal samples[0..n), exactly as
 * pl_asr_fe_compute() frames that signal (zeros outside it, pre-emphasis from a zero
 * sample before it). Needs opts.dither 0 (PL_E_UNSUPPORTED otherwise: the dither depends on
 * every sample before). out: (t1 - t0) * n_mels doubles, caller's.
 * Returns PL_OK; PL_E_INVALID_ARG (NULL args, t1 < t0, non-finite samples); PL_E_NOMEM. */
pl_status pl_asr_fe_logmel(const struct pl_asr_fe *fe, const float *samples, size_t n,
                           size_t t0, size_t t1, double *out);

/* Normalize nf frames of log-mels lm ([nf][n_mels]) as pl_asr_fe_compute() does for a whole
 * utterance (PER_FEATURE: statistics of these nf frames; FIXED, RUNNING from a fresh state,
 * NONE) into out ([nf][n_mels] floats, caller's). Returns PL_OK; PL_E_INVALID_ARG;
 * PL_E_NOMEM. Thread-safe (fe is read only). */
pl_status pl_asr_fe_normalize(const struct pl_asr_fe *fe, const double *lm, size_t nf,
                              float *out);

/* The mel filterbank, [n_mels][n_fft/2 + 1] (borrowed, lives with fe). */
const double *pl_asr_fe_filterbank(const struct pl_asr_fe *fe);

/* --- Streaming ------------------------------------------------------------ */

struct pl_asr_fe_stream;

/* fe must outlive the stream. PL_E_UNSUPPORTED for PER_FEATURE normalization.
 * OUT: *out, caller owns; free with pl_asr_fe_stream_destroy(). */
pl_status pl_asr_fe_stream_create(const struct pl_asr_fe *fe, struct pl_asr_fe_stream **out);
void pl_asr_fe_stream_destroy(struct pl_asr_fe_stream *s);

/* Feed n samples (n may be 0). The frames completed by them are written to
 * *feats ([*n_frames][n_mels], caller owns, pl_free(); NULL when none).
 * Returns PL_OK; PL_E_INVALID_ARG (NULL, non-finite samples, feed after
 * finish); PL_E_NOMEM (the stream is then unusable). */
pl_status pl_asr_fe_stream_feed(struct pl_asr_fe_stream *s, const float *samples, size_t n,
                                float **feats, size_t *n_frames);

/* End of signal: the remaining frames (right zero padding), same ownership. */
pl_status pl_asr_fe_stream_finish(struct pl_asr_fe_stream *s, float **feats, size_t *n_frames);

/* Start a new utterance with the same front end. */
void pl_asr_fe_stream_reset(struct pl_asr_fe_stream *s);

/* Keep (keep true) the log-mels before normalization of every frame emitted from now on
 * until the next reset, for pl_asr_fe_stream_logmel(). Off by default. */
void pl_asr_fe_stream_keep_logmel(struct pl_asr_fe_stream *s, bool keep);

/* The kept log-mels: [*n_frames][n_mels] of the frames emitted since the last reset (frame
 * t of the utterance at row t). Borrowed until the next feed, finish or reset; NULL (and 0)
 * when none are kept. */
const double *pl_asr_fe_stream_logmel(const struct pl_asr_fe_stream *s, size_t *n_frames);

#ifdef __cplusplus
}
#endif
#endif
