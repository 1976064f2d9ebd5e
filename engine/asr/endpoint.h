/*
 * endpoint.h - utterance endpointing for streaming ASR: start of speech, the
 * first-pass end of utterance (EOU partial) and the end of an utterance,
 * decided from per-frame speech evidence with the semantics of Riva's
 * EndpointingConfig (docs/vad.md).
 *
 * Input, one value per frame of frame_ms (10 ms by default):
 *   vad_prob[t]   speech probability of the VAD (engine/models/vad.h gives one
 *                 per 32 ms window: repeat the latest window's value for the
 *                 frames it covers), or NULL;
 *   blank_prob[t] CTC blank probability of the acoustic model's output frame
 *                 that covers frame t (repeat it over its stride), or NULL.
 * At least one of them. A frame is
 *   voiced  when every given input says speech:  vad >= vad_threshold and
 *           blank < blank_threshold;
 *   silent  when every given input says silence: vad < vad_threshold and
 *           blank >= blank_threshold;
 * and neither when they disagree (it counts towards no window). So a start
 * needs both to agree on speech (noise that only one of them takes for speech
 * starts nothing) and an end needs both to agree on silence
 * (PL_ENDPOINT_COMBINE_AGREE, the default).
 * With PL_ENDPOINT_COMBINE_BLANK_ENDS and both inputs given, voiced is as
 * above but a frame counts silent when the model emits blank (blank >=
 * blank_threshold) whatever the VAD says: where both agree on silence it is
 * silent as before; a stretch the VAD takes for speech but in which the model
 * hears no word (noise) counts as silence and lets the utterance end; a word
 * the VAD misses (VAD silent, blank low) is not silent and holds it open.
 * With one input only, both modes are that input alone.
 *
 * Rules (N = window in frames, need = ceil(threshold * N), at least 1):
 *   idle -> START at frame t when the last start_history frames hold >= need
 *           voiced frames; the utterance begins at the first voiced frame of
 *           that window.
 *   in speech -> EOU (first pass) at frame t when the last stop_history_eou
 *           frames hold >= need silent frames; fires once, and again only
 *           after that condition has lapsed (speech resumed). Disabled when
 *           stop_history_eou or stop_threshold_eou is negative.
 *   in speech -> END at frame t when the last stop_history frames hold >= need
 *           silent frames; back to idle.
 * Windows count only frames since the last state change (START or END), so
 * the silence before a start never ends the new utterance at once and the
 * tail of an utterance never starts the next one. A window of 0 ms is one
 * frame; a threshold of 0 means one frame suffices.
 *
 * The quiet tail (tail_gate_db > 0, frame energies given: pl_endpoint_feed_energy): the VAD
 * goes on hearing speech for about 100 ms after a voice stops (its hangover), so the EOU
 * window would start counting that late. With the gate, once tail_confirm frames in a row are
 * silent in speech, the frames right before them whose energy is tail_gate_db or more under
 * the utterance's loudest frame (the run of such quiet frames, since the last frame that was
 * neither quiet nor silent) count as silent for the EOU window too: its pause is timed from
 * where the sound stopped, and still needs the VAD to say so. The stop window (END) and the
 * last voiced frame are untouched. With background noise within tail_gate_db of the voice no
 * frame is quiet and nothing changes.
 *
 * Thread-safety: a struct pl_endpoint belongs to one thread at a time.
 * Feeding allocates nothing.
 */
#ifndef PL_ENDPOINT_H
#define PL_ENDPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Defaults (for any frame length; in frames at 10 ms: 30, 80, 24). */
#define PL_ENDPOINT_FRAME_MS 10
#define PL_ENDPOINT_START_HISTORY_MS 300
#define PL_ENDPOINT_START_THRESHOLD 0.2f
#define PL_ENDPOINT_STOP_HISTORY_MS 800
#define PL_ENDPOINT_STOP_THRESHOLD 0.98f
#define PL_ENDPOINT_STOP_HISTORY_EOU_MS 240
#define PL_ENDPOINT_STOP_THRESHOLD_EOU 0.9f
#define PL_ENDPOINT_VAD_THRESHOLD 0.5f
#define PL_ENDPOINT_BLANK_THRESHOLD 0.5f
#define PL_ENDPOINT_MAX_HISTORY_MS 60000
#define PL_ENDPOINT_TAIL_CONFIRM 2 /* silent frames that confirm a quiet tail */

/* Riva's EndpointingConfig with explicit presence: a field whose has_ flag is
 * false takes the default; a present 0 is a real value. Histories in ms,
 * thresholds in [0, 1]. */
struct pl_endpoint_config {
    bool has_start_history, has_start_threshold;
    bool has_stop_history, has_stop_threshold;
    bool has_stop_history_eou, has_stop_threshold_eou;
    int32_t start_history;
    float start_threshold;
    int32_t stop_history;
    float stop_threshold;
    int32_t stop_history_eou;
    float stop_threshold_eou;
};

/* How the VAD and the CTC blank votes combine (see the top). */
enum pl_endpoint_combine {
    PL_ENDPOINT_COMBINE_AGREE = 0,      /* voiced and silent both need every input */
    PL_ENDPOINT_COMBINE_BLANK_ENDS = 1, /* voiced needs both; silent = the blank's */
};

/* Resolved parameters, in frames. */
struct pl_endpoint_params {
    int frame_ms;
    int start_frames, start_need; /* window length and voiced frames needed */
    int stop_frames, stop_need;
    int eou_frames, eou_need; /* eou_frames 0: first pass disabled */
    float vad_threshold;      /* PL_ENDPOINT_VAD_THRESHOLD after resolve; may be changed */
    float blank_threshold;    /* PL_ENDPOINT_BLANK_THRESHOLD after resolve; may be changed */
    int combine;              /* enum pl_endpoint_combine; AGREE after resolve; may be changed */
    float tail_gate_db;       /* quiet tail for the EOU window (top); 0 = off after resolve */
    int tail_confirm;         /* PL_ENDPOINT_TAIL_CONFIRM after resolve; >= 1 */
};

/* Apply defaults to cfg (NULL: all defaults) for frames of frame_ms and check
 * it. Errors: PL_E_INVALID_ARG naming the field: a negative or NaN start/stop
 * value, a history over PL_ENDPOINT_MAX_HISTORY_MS, a threshold over 1,
 * frame_ms outside [1, 1000]. Negative EOU values disable the first pass.
 * OUT: *out. */
pl_status pl_endpoint_params_resolve(const struct pl_endpoint_config *cfg, int frame_ms,
                                     struct pl_endpoint_params *out);

enum pl_endpoint_event_type {
    PL_ENDPOINT_START = 1, /* speech started */
    PL_ENDPOINT_EOU = 2,   /* first-pass end of utterance: a stable partial is due */
    PL_ENDPOINT_END = 3,   /* the utterance ended: a final result is due */
};

struct pl_endpoint_event {
    enum pl_endpoint_event_type type;
    int64_t frame;  /* frame (since create/reset) whose arrival decided the event */
    int64_t begin;  /* first voiced frame of the utterance */
    int64_t last;   /* EOU/END: last voiced frame so far (START: == frame's last voiced) */
    int utterance;  /* 0-based utterance number since create/reset */
    bool at_finish; /* END produced by pl_endpoint_finish() */
};

/* Called for each event, in order. ev is borrowed for the call. */
typedef void (*pl_endpoint_event_fn)(void *ud, const struct pl_endpoint_event *ev);

struct pl_endpoint;

/* Copies p. Errors: PL_E_INVALID_ARG (NULL, or p not from resolve: a window
 * < 1 frame or need outside [1, window]), PL_E_NOMEM.
 * OUT: *out, caller owns; free with pl_endpoint_destroy(). */
pl_status pl_endpoint_create(const struct pl_endpoint_params *p, struct pl_endpoint **out);
void pl_endpoint_destroy(struct pl_endpoint *ep); /* NULL is a no-op */
/* Back to idle at frame 0, utterance 0. */
void pl_endpoint_reset(struct pl_endpoint *ep);

/* Consume n frames (n may be 0). vad_prob / blank_prob: n values each, or
 * NULL (not both when n > 0). A NaN value: PL_E_INVALID_ARG before anything
 * is consumed (fn never runs). fn may be NULL. */
pl_status pl_endpoint_feed(struct pl_endpoint *ep, const float *vad_prob, const float *blank_prob,
                           size_t n, pl_endpoint_event_fn fn, void *ud);

/* As pl_endpoint_feed, with energy[t] >= 0 the mean square of frame t's samples (any
 * scale, the same for every frame), or NULL (no quiet tail). A NaN or negative energy:
 * PL_E_INVALID_ARG before anything is consumed. */
pl_status pl_endpoint_feed_energy(struct pl_endpoint *ep, const float *vad_prob,
                                  const float *blank_prob, const float *energy, size_t n,
                                  pl_endpoint_event_fn fn, void *ud);

/* End of stream: an open utterance ends (END with at_finish, frame = the
 * number of frames fed). Then idle; feeding may go on. */
void pl_endpoint_finish(struct pl_endpoint *ep, pl_endpoint_event_fn fn, void *ud);

bool pl_endpoint_in_speech(const struct pl_endpoint *ep);
int64_t pl_endpoint_frames(const struct pl_endpoint *ep); /* frames fed since create/reset */

#ifdef __cplusplus
}
#endif
#endif
