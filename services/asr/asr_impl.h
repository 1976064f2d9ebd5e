/*
 * asr_impl.h - private structures shared by the files of parley-asr (not an API).
 */
#ifndef PL_ASR_IMPL_H
#define PL_ASR_IMPL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "asr_ctc.h"
#include "asr_features.h"
#include "asr_itn.h"
#include "asr_lm.h"
#include "asr_service.h"
#include "nrpc_worker.h"
#include "riva/proto/riva_asr.pb-c.h"
#include "status.h"

struct pl_asr_model;
/* At most this many ended streams' model states are kept per model for new streams. */
#define PL_ASRSVC_IDLE_STATES 32

struct pl_asrsvc_sched;
struct pl_asr_state;
struct pl_batcher;
struct pl_model_repo;
struct pl_model_set;
struct pl_nrpc_conn;
struct pl_vad;

/* One model of the repository (asr_models.c): an acoustic model, or (vad != NULL) a voice
 * activity detector for streaming endpointing. Immutable after load, except the instances
 * (states + a batch workspace, each used only by its batcher thread) and the streaming
 * scheduler, made by the model's first stream. */
struct pl_asrsvc_model {
    char *name;   /* directory name: what RecognitionConfig.model selects */
    char *dir;
    struct pl_vad *vad; /* a VAD entry (model_type silero_vad): the fields below are unset */
    struct pl_asr_model *am;
    struct pl_asr_fe *fe;
    struct pl_asr_vocab *vocab;
    int sample_rate; /* model input rate (16000) */
    int n_mels, vocab_size, stride;
    double frame_ms;         /* duration of one output frame */
    double lm_alpha, lm_beta; /* decoding defaults for this model */
    double lm_oov_logp;       /* config.json decoding.lm_oov_logp, else the decoder's default */
    double lm_unk_penalty;    /* config.json decoding.lm_unk_penalty, else the decoder's default */
    int n_instances;
    struct pl_asr_state **streams; /* [n_instances * max_batch_size]: instance i owns
                                       streams[i * max_batch_size ...] */
    struct pl_asr_batch **batches;  /* [n_instances]: batched forward workspaces */
    struct pl_batcher *batcher;
    int max_batch_size;
    int64_t max_queue_delay_us;
    /* streaming: the front end (per-utterance normalization streams as running normalization)
     * and the scheduler that batches all streams' steps (made on first use, under sched_lock) */
    struct pl_asr_fe *stream_fe;
    bool stream_renorm; /* fe normalizes per utterance, stream_fe runs statistics: a streamed
                           final is recomputed from the utterance's audio with fe */
    struct pl_asrsvc_sched *sched;
    pthread_mutex_t sched_lock;
    /* model states of ended streams, reset, for the next streams (asr_stream_config.c): a
     * stream open then neither allocates nor faults in the state's windows (4.2 MB for
     * models/asr-en-quartznet) again; under sched_lock */
    struct pl_asr_state *idle_states[PL_ASRSVC_IDLE_STATES];
    int n_idle_states;
};

/* A forward request handed to the batcher: features in, log-probs out (caller-provided). */
struct pl_asrsvc_fwd {
    const float *feats; /* [n_frames, n_mels] */
    int n_frames;
    float *logp;        /* [n_out, V] */
    int n_out;
};

struct pl_asrsvc {
    struct pl_asrsvc_opts o;
    char *model_dir, *nats_url;
    struct pl_model_repo *repo; /* acoustic models and VADs; reloaded on SIGHUP */
    struct pl_asr_lm *lm;
    struct pl_asr_profanity *profanity;
    struct pl_nrpc_conn *nc; /* punctuation client (NULL: none) */
};

/* asr_service.c: PL_ERR(s, "<fmt...>: <the last error>"). The last error is copied first
 * (PL_ERR writes the very buffer pl_last_error() points into). */
pl_status pl__asrsvc_wrap(pl_status s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* asr_models.c: the repository interface (claims model_type parley_quartznet_ctc and
 * silero_vad directories; ud = the struct pl_asrsvc), model lookup in a set, and the
 * batched forward. */
extern const struct pl_model_repo_i pl__asrsvc_repo;
void pl__asrsvc_model_destroy(struct pl_asrsvc_model *m);
/* The acoustic model named name (NULL/"": the first) in set. Errors: PL_E_UNAVAILABLE (the
 * set has none), PL_E_NOT_FOUND (no such name). */
pl_status pl__asrsvc_model_pick(const struct pl_asrsvc *s, const struct pl_model_set *set,
                                const char *name, struct pl_asrsvc_model **out);
/* Acoustic model i of set (VADs skipped), or NULL; how many there are. */
struct pl_asrsvc_model *pl__asrsvc_model_at(const struct pl_model_set *set, int i);
int pl__asrsvc_model_count(const struct pl_model_set *set);
/* The first VAD of set, or NULL. */
struct pl_vad *pl__asrsvc_set_vad(const struct pl_model_set *set);
/* Features -> log-probs through the model's batcher. OUT: *logp [*n_out, V] (pl_free). */
pl_status pl__asrsvc_model_run(struct pl_asrsvc_model *m, const float *feats, int n_frames,
                               int64_t deadline_us, float **logp, int *n_out);

/* asr_recognize.c */

/* Decoding settings of one request: the service defaults, then the request's
 * custom_configuration (pl__asrsvc_parse_custom). */
struct pl__asrsvc_settings {
    bool beam;
    int beam_width;
    double lm_alpha, lm_beta;
    double lm_oov_logp; /* ln P_lm of a word the LM lacks (pl_asr_decode_opts.oov_logp) */
    double lm_unk_penalty; /* per token of a word no LM word begins with (unk_prefix_penalty) */
    bool use_lm; /* "lm" asked for; the caller checks that an LM is loaded */
    struct pl_asrsvc_seg_opts seg;
};

/* Apply c's custom_configuration keys (docs/asr-service.md) to rs, which holds the defaults.
 * Unknown keys are ignored; a known key with a bad value is PL_E_INVALID_ARG naming it (rs
 * may then be partly changed). Thread-safe (touches only rs). Used by Recognize and
 * StreamingRecognize. */
pl_status pl__asrsvc_parse_custom(const Nvidia__Riva__Asr__RecognitionConfig *c,
                                  struct pl__asrsvc_settings *rs);

/* The defaults of a request's settings for model m of service s (before
 * pl__asrsvc_parse_custom). */
void pl__asrsvc_settings_init(const struct pl_asrsvc *s, const struct pl_asrsvc_model *m,
                              struct pl__asrsvc_settings *rs);

/* The decoder options of rs for model m and max_alt alternatives. rs->use_lm must already
 * say whether an LM is both asked for and loaded: without one, beta and the unknown-word
 * penalty are off. */
void pl__asrsvc_decode_opts(const struct pl__asrsvc_settings *rs, const struct pl_asrsvc_model *m,
                            int max_alt, struct pl_asr_decode_opts *o);

/* Audio x[0..n) (the model's rate) decoded as a whole: front end, model, then beam (reset
 * first) when beam is not NULL, else greedy with dopts. OUT: *nb (pl_asr_nbest_destroy).
 * Recognize's segments and the streamed words at a pause (asr_stream.c). */
pl_status pl__asrsvc_decode_audio(struct pl_asrsvc_model *m, const float *x, size_t n,
                                  int64_t deadline_us, struct pl_asr_beam *beam,
                                  const struct pl_asr_decode_opts *dopts,
                                  struct pl_asr_nbest **nb);

/* Punctuate texts[0..n) in place (heap strings, replaced with pl_free/pl_strdup) through
 * parley.nlu.punctuate_text on s->nc. Best effort: when parley-nlu is not running or fails,
 * the texts stay as they are and a warning is logged. deadline_us (pl_time_mono_us clock,
 * 0: none) shortens the call timeout. Thread-safe when s->nc is. */
void pl__asrsvc_punctuate(struct pl_asrsvc *s, char **texts, int n, int64_t deadline_us);

/* The Recognize handler (ud = the struct pl_asrsvc). */
pl_status pl__asrsvc_recognize(void *ud, const struct pl_worker_ctx *ctx, const uint8_t *req,
                               size_t n, struct pl_worker_out *out);

#endif
