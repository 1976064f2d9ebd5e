/*
 * asr_stream.h - StreamingRecognize of parley-asr (docs/asr-streaming.md).
 *
 * A session follows the official Riva clients: the first message carries
 * streaming_config only, every later one audio_content. The audio is a WAV stream (header in
 * the first audio bytes: sniffed, its rate and format used, stripped) or raw LINEAR_PCM /
 * MULAW / ALAW at sample_rate_hertz; channels are averaged and the result resampled to the
 * model rate with a streaming resampler.
 *
 * Pipeline per session, everything incremental (no past audio is recomputed but, in the blank
 * modes, the model look-ahead after a cut):
 *   samples -> Silero VAD (32 ms windows) -> endpointing (engine/asr/endpoint.h, Riva
 *   EndpointingConfig, 10 ms frames), with the model's per-frame CTC blank probabilities in
 *   the "vad+blank" and "agree" modes, decides where utterances end;
 *   samples -> streaming log-mel features -> streaming acoustic model (per-layer caches)
 *   -> CTC decoding (streaming prefix beam state, or greedy) -> interim results
 *   (is_final false, stability) after every audio message when interim_results;
 *   END of an utterance at frame t: the utterance ends at sample (t + 1) * 10 ms (VAD mode:
 *   features and model are finished there; blank modes: the model ran ahead by its look-ahead,
 *   the log-probs of the frames before the cut are decoded and the audio after it is fed
 *   again to fresh caches), the final result (n-best alternatives, confidence, word offsets
 *   absolute in the stream, audio_processed) is sent, and the next utterance starts there.
 * Utterance boundaries depend only on the audio, never on how it was cut into messages, so
 * every chunking gives the same finals. The end of the stream flushes a final. An utterance
 * in which the VAD never saw speech (silence) gives no result. Without VAD weights only the
 * end of the stream ends an utterance (and every utterance gives a result).
 *
 * Thread-safety: a struct pl_asrsvc_streaming is immutable after creation and shared by all
 * sessions; a session belongs to one thread at a time (the worker serializes its calls).
 */
#ifndef PL_ASRSVC_STREAM_H
#define PL_ASRSVC_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

struct pl_asrsvc;
struct pl_worker;

struct pl_metrics;

/* What ends an utterance (config key asr.stream_endpointing, docs/asr-streaming.md):
 *   VAD_BLANK "vad+blank": a start needs the VAD and the acoustic model's CTC blank
 *             probabilities to agree on speech; a frame counts as silence when the model emits
 *             blank (endpoint.h PL_ENDPOINT_COMBINE_BLANK_ENDS): noise without words ends an
 *             utterance, a word the VAD misses keeps it open. The decision waits for the
 *             model's look-ahead (its right context) past each frame, so an endpointed final
 *             comes that much later (770 ms for models/asr-en-quartznet).
 *   VAD       "vad": the VAD alone (no look-ahead; the model is fed decided audio only).
 *   AGREE     "agree": both must agree on speech and on silence (PL_ENDPOINT_COMBINE_AGREE).
 *   AUTO      "auto" (default): per model, VAD_BLANK when its look-ahead is at most
 *             PL_ASRSVC_AUTO_LOOKAHEAD_MS, else VAD (the final's latency budget after
 *             the stop window is 300 ms). */
enum pl_asrsvc_ep {
    PL_ASRSVC_EP_AUTO = 0,
    PL_ASRSVC_EP_VAD_BLANK = 1,
    PL_ASRSVC_EP_VAD = 2,
    PL_ASRSVC_EP_AGREE = 3,
};
#define PL_ASRSVC_AUTO_LOOKAHEAD_MS 200
/* "auto", "vad+blank", "vad", "agree" -> *out. Errors: PL_E_INVALID_ARG naming the value. */
pl_status pl_asrsvc_endpointing_parse(const char *name, int *out);

struct pl_asrsvc_streaming_opts {
    const char *vad_path;   /* Silero VAD safetensors; NULL/"" = the repository's VAD (a
                               directory of model_type silero_vad, e.g. vad-silero/), reloaded
                               with the models; "none" = no VAD */
    double max_utterance_s; /* an utterance longer than this is cut (final) (30 s) */
    int endpointing;        /* enum pl_asrsvc_ep (AUTO) */
    int max_batch;          /* streams per batched model step, 1..64 (64) */
    int64_t batch_wait_us;  /* how long a model step waits for other streams (2000) */
    bool final_renorm;      /* a model trained with per-utterance feature normalization
                               (streamed with running statistics): recompute each final from
                               the utterance's audio with the offline front end (true) */
    double final_margin_ms; /* that recomputation takes the audio from this long before the
                               endpointer's first voiced frame to this long after its last
                               one (500; < 0: the whole utterance) */
    int interim_beam_width; /* when finals are recomputed (final_renorm and a model with
                               per-utterance normalization), the streamed decoder serves only
                               the interims: it keeps this many prefixes (16; 0: the request's
                               beam width); the finals and the words at a pause decode with
                               the request's beam width */
    double tail_gate_db;    /* the endpointer's quiet tail (engine/asr/endpoint.h): the EOU
                               pause is timed from where the frames fell this far under the
                               utterance's loudest (0: off, from the VAD's last speech, the
                               default; 30 dB measured, docs/vad.md) */
    struct pl_metrics *metrics; /* optional: scheduler metrics (asr_sched.h; borrowed) */
};
void pl_asrsvc_streaming_opts_default(struct pl_asrsvc_streaming_opts *o);

struct pl_asrsvc_streaming;

/* svc is borrowed and must outlive the stream service. A VAD that fails to load is an error
 * when vad_path was given explicitly, else a warning (no VAD).
 * Errors: PL_E_INVALID_ARG, PL_E_IO/PL_E_FORMAT (VAD weights), PL_E_NOMEM.
 * OUT: *out (caller owns; pl_asrsvc_streaming_destroy after the worker is gone). */
pl_status pl_asrsvc_streaming_create(struct pl_asrsvc *svc, const struct pl_asrsvc_streaming_opts *o,
                                  struct pl_asrsvc_streaming **out);
void pl_asrsvc_streaming_destroy(struct pl_asrsvc_streaming *ss); /* NULL is a no-op */
bool pl_asrsvc_streaming_has_vad(const struct pl_asrsvc_streaming *ss);
/* The endpointing mode (never AUTO) that streams of model `name` (NULL/"": the first) use.
 * -1 when there is no such model. */
int pl_asrsvc_streaming_endpointing(const struct pl_asrsvc_streaming *ss, const char *name);
/* Batched model steps run so far by the scheduler (asr_sched.h) and the stream steps they
 * held (stream_steps / steps is the mean batch). Thread-safe. */
void pl_asrsvc_streaming_batch_stats(struct pl_asrsvc_streaming *ss, long *steps, long *stream_steps);

/* Register the stream rpc "streaming_recognize" on w (ss borrowed for w's life). */
pl_status pl_asrsvc_streaming_register(struct pl_asrsvc_streaming *ss, struct pl_worker *w);

/* ---- sessions outside NATS (the worker adapter uses the same calls; tests too) ---------- */

/* Receives each packed StreamingRecognizeResponse (borrowed for the call). A non-OK return
 * ends the session with that status. */
typedef pl_status (*pl_asrsvc_session_send_fn)(void *ud, const uint8_t *data, size_t n);

struct pl_asrsvc_session;

/* OUT: *out (caller owns; pl_asrsvc_session_destroy). send/ud borrowed for the session's life. */
pl_status pl_asrsvc_session_create(struct pl_asrsvc_streaming *ss, pl_asrsvc_session_send_fn send, void *ud,
                             struct pl_asrsvc_session **out);
/* One StreamingRecognizeRequest (packed). Errors: PL_E_INVALID_ARG (unparsable message, config
 * not first or twice, audio before config, bad config, bad audio: named in the message),
 * PL_E_NOT_FOUND (model), PL_E_UNAVAILABLE (no model), PL_E_NOMEM, the send callback's. */
pl_status pl_asrsvc_session_message(struct pl_asrsvc_session *s, const uint8_t *data, size_t n);
/* The client half-closed: flush the last utterance (final). Nothing may follow but destroy. */
pl_status pl_asrsvc_session_end(struct pl_asrsvc_session *s);
void pl_asrsvc_session_destroy(struct pl_asrsvc_session *s); /* NULL is a no-op */

#ifdef __cplusplus
}
#endif
#endif
