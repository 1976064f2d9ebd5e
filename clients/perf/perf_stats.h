/*
 * perf_stats.h - the measurements of `parley perf --stream` (perf_stream.c), kept apart from
 * the gRPC plumbing so that the definitions are unit-tested (tests/unit/test_perf_stream.c).
 *
 * The definitions are those of tests/integration/asr_stream_bench.py, so that the figures of
 * the C client and of the Python benchmark compare:
 *
 *   chunk latency   for each result (interim, or a final before the end of the audio) whose
 *                   audio_processed is A seconds: the time from sending the first chunk whose
 *                   audio ends at or after A - 1 ms (the chunk that completed the audio the
 *                   result covers) to receiving the response that carries the result.
 *   final latency   from the half-close (all audio sent) to the final result that covers the
 *                   whole audio (is_final, audio_processed >= duration - 50 ms).
 *   percentile p    of n sorted values: v[min(n - 1, floor(p / 100 * n))].
 *   real time       a level of N streams stays real time when the audio was paced by the
 *                   clock, every stream ended without error with its final, the slowest stream
 *                   took at most duration + margin (1 s) + one chunk, and the p99 chunk latency
 *                   is under a bound (500 ms by default).
 *
 * Ownership: a struct pl_perf_samples owns its array (pl_perf_samples_deinit frees it).
 * Thread-safety: none; each object belongs to one thread.
 */
#ifndef PL_PERF_STATS_H
#define PL_PERF_STATS_H

#include <stdbool.h>
#include <stddef.h>

#include "status.h"

/* A growable list of values (milliseconds or seconds). Zero-initialise, then _add. */
struct pl_perf_samples {
    double *v;
    size_t n, cap;
    bool sorted; /* v is sorted (set by pl_perf_samples_pct, cleared by _add) */
};

/* Append x. Returns PL_OK or PL_E_NOMEM (s keeps its values). */
pl_status pl_perf_samples_add(struct pl_perf_samples *s, double x);

/* The p-th percentile (0..100) as defined above; sorts s in place. NAN when s is empty. */
double pl_perf_samples_pct(struct pl_perf_samples *s, double p);

/* The largest value; NAN when s is empty. */
double pl_perf_samples_max(const struct pl_perf_samples *s);

/* Forget the values, keep the storage. */
void pl_perf_samples_clear(struct pl_perf_samples *s);

/* Free the storage; s is empty and reusable afterwards. */
void pl_perf_samples_deinit(struct pl_perf_samples *s);

/* Index of the chunk a result with audio_processed (seconds) answers: the first i < n with
 * sent_end[i] >= audio_processed - 0.001, where sent_end[i] is the audio time (seconds,
 * non-decreasing) at the end of chunk i. -1 when no chunk sent so far reaches it. */
long pl_perf_chunk_for(const double *sent_end, size_t n, double audio_processed);

/* True when a result with is_final, received after the half-close (closed), is the final of
 * an audio of audio_s seconds (audio_processed >= audio_s - 0.05). */
bool pl_perf_is_last_final(bool is_final, bool closed, double audio_processed, double audio_s);

/* What the real-time criterion looks at, for one level. */
struct pl_perf_level_summary {
    bool paced;         /* audio sent in real time */
    long streams;       /* streams run */
    long errors;        /* streams that ended with a non-OK status */
    long finals;        /* streams that received their final */
    double slowest_s;   /* longest stream, call start to status */
    double audio_s;     /* audio duration of one stream */
    double chunk_s;     /* chunk duration */
    double p99_ms;      /* p99 chunk latency; NAN when there was none */
    double rt_p99_ms;   /* bound on p99_ms */
    double rt_margin_s; /* allowed lateness of a stream beyond audio_s + chunk_s */
};

/* The real-time criterion above. */
bool pl_perf_level_realtime(const struct pl_perf_level_summary *l);

#endif
