/*
 * asr_sched.h - the cross-stream scheduler of StreamingRecognize (docs/asr-streaming.md):
 * one thread per acoustic model advances the pending chunk of every active stream of that
 * model in ONE batched model step (pl_asr_batch_step).
 *
 * Sessions (on the worker's handler threads) hand a step (a chunk of feature frames of their
 * model stream, and/or the finish of the utterance) to pl_asrsvc_sched_step(), which queues it
 * and blocks until the scheduler thread has run it. The scheduler takes the queued steps in
 * arrival order, at most max_batch per model step. Before a step it waits for more streams
 * while some are expected: a session announces (pl_asrsvc_sched_expect +1) that it is handling
 * new audio and will probably step, and its first step (expected = true) or the end of that
 * handling (-1) takes the announcement back. The wait ends when nothing more is expected,
 * max_batch steps are queued, or max_wait_us after the oldest queued step arrived: a lone
 * stream runs at once, and nothing waits for streams that have no new audio. A session has
 * at most one step queued (it blocks), so its steps run in its own order. Results equal
 * per-stream feeding (asr_model.h).
 *
 * Metrics (when a registry is given), labelled model="<name>":
 *   parley_asr_stream_batch_size (histogram of streams per model step; _sum/_count is the
 *   mean batch), parley_asr_stream_steps_total (model steps), parley_asr_stream_wait_us
 *   (histogram: time a stream step spent queued).
 *
 * Thread-safety: every call is thread-safe except create/destroy; destroy only after every
 * caller of pl_asrsvc_sched_step has returned.
 */
#ifndef PL_ASRSVC_SCHED_H
#define PL_ASRSVC_SCHED_H

#include <stdbool.h>
#include <stdint.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

struct pl_asr_model;
struct pl_asr_state;
struct pl_metrics;

#define PL_ASRSVC_SCHED_MAX_BATCH 64

struct pl_asrsvc_sched_opts {
    int max_batch;             /* streams per model step, 1..PL_ASRSVC_SCHED_MAX_BATCH (64) */
    int max_chunk;             /* feature frames per stream step (256) */
    int64_t max_wait_us;       /* how long a step waits for others (2000; 0 = never) */
    struct pl_metrics *metrics; /* optional (borrowed; must outlive the scheduler) */
    const char *model;          /* model name for the metric labels (copied) */
};
void pl_asrsvc_sched_opts_default(struct pl_asrsvc_sched_opts *o);

struct pl_asrsvc_sched_stats {
    long steps;        /* batched model steps run */
    long stream_steps; /* stream steps in them (stream_steps / steps = mean batch) */
    int max_seen;      /* largest batch */
};

struct pl_asrsvc_sched;

/* Starts the scheduler thread. am is borrowed and must outlive the scheduler.
 * Errors: PL_E_INVALID_ARG (max_batch or max_chunk out of range), PL_E_NOMEM, PL_E_INTERNAL
 * (thread). OUT: *out (caller owns; pl_asrsvc_sched_destroy). */
pl_status pl_asrsvc_sched_create(const struct pl_asr_model *am, const struct pl_asrsvc_sched_opts *o,
                              struct pl_asrsvc_sched **out);
/* Stops and joins the thread. NULL is a no-op. */
void pl_asrsvc_sched_destroy(struct pl_asrsvc_sched *s);

/* delta +1: a stream starts handling new audio (a step of it is expected); -1: it finished
 * without stepping. Steps are gathered while any stream is expected. */
void pl_asrsvc_sched_expect(struct pl_asrsvc_sched *s, int delta);

/* One step of stream st, run batched with the other queued streams: feed n_frames (0..
 * max_chunk) frames of feats (NULL when 0), then finish the utterance when finish; log-probs
 * to out (pl_asr_state_max_out(st) rows), their count to *n_out. Blocks until done.
 * expected: this step takes back the caller's pl_asrsvc_sched_expect(+1) (in the same locked
 * moment it is queued). Errors: PL_E_INVALID_ARG (arguments; an expectation is still taken
 * back), PL_E_UNAVAILABLE (stopping), the batched step's (the whole batch fails). */
pl_status pl_asrsvc_sched_step(struct pl_asrsvc_sched *s, struct pl_asr_state *st, const float *feats,
                            int n_frames, bool finish, float *out, int *n_out, bool expected);

void pl_asrsvc_sched_get_stats(struct pl_asrsvc_sched *s, struct pl_asrsvc_sched_stats *out);

#ifdef __cplusplus
}
#endif
#endif
