/*
 * asr_stream_impl.h - private structures of parley-asr's StreamingRecognize (asr_stream.h),
 * shared by asr_stream_config.c (the streaming service, a session's configuration: model,
 * decoder, endpointer) and asr_stream.c (a session's audio, endpointing, decoding, results).
 * Not an API.
 */
#ifndef PL_ASRSVC_STREAM_IMPL_H
#define PL_ASRSVC_STREAM_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "asr_impl.h"
#include "asr_stream.h"
#include "audio.h"
#include "riva/proto/riva_asr.pb-c.h"
#include "status.h"

#define MODEL_CHUNK 256 /* feature frames per model feed */

/*
 * Batching across streams: every model step of a session (a chunk of feature frames, and/or
 * the finish of an utterance) goes through its model's scheduler (asr_sched.h): one thread
 * per model runs the pending steps of all streams as one pl_asr_batch_step.
 */
struct pl_asrsvc_streaming {
    struct pl_asrsvc *svc;
    struct pl_asrsvc_streaming_opts o;
    struct pl_vad *vad; /* an explicit vad_path's VAD, else NULL: the repository's VAD */
    bool no_vad;        /* vad_path "none" */
};

struct ep_ev {
    int type;
    int64_t frame, begin, last; /* pl_endpoint_event's */
};

struct pl_asrsvc_session {
    struct pl_asrsvc_streaming *ss;
    pl_asrsvc_session_send_fn send;
    void *ud;
    ProtobufCMessage *cfg_msg; /* the first request (owns the config) */
    const Nvidia__Riva__Asr__RecognitionConfig *cfg;
    bool interim, ended;
    /* custom_configuration speech_events=true (parley-dialog's barge-in): a result with no
     * alternatives (is_final false, stability 0) as soon as the endpointer hears speech */
    bool speech_events;
    struct pl_model_set *set; /* the models as they were at the stream's configuration: held
                                 until the session ends, so a reload cannot take them */
    struct pl_asrsvc_model *m;
    struct pl_asr_fe *fe;
    struct pl_asrsvc_sched *sched;
    bool expecting; /* announced to sched: a step of this session is coming */
    int max_alt;
    /* audio input */
    bool have_fmt;
    struct pl_audio_info fmt;
    uint8_t *pend; /* undecoded bytes (header so far, or a partial frame) */
    size_t n_pend, cap_pend;
    struct pl_resampler *rs; /* NULL: already at the model rate */
    /* samples at the model rate from the decided position on */
    float *buf;
    size_t n_buf, cap_buf;
    int64_t buf_pos; /* stream sample index of buf[0]: the audio before it is decided */
    int64_t fed_pos; /* samples given to the features: == buf_pos in VAD mode, the whole
                        audio received in the blank modes (the model runs ahead) */
    int64_t recv;    /* samples received */
    /* endpointing */
    struct pl_vad_state *vs;
    struct pl_endpoint *ep;
    float *vprob; /* probability of every VAD window since the start */
    size_t n_vprob, cap_vprob;
    float *fen;       /* mean square of the 10 ms frames from fen_base on (the quiet tail) */
    size_t n_fen, cap_fen;
    int64_t fen_base; /* stream frame of fen[0] (<= ep_frames) */
    double fen_acc;   /* the partial frame's sum of squares ... */
    int fen_fill;     /* ... over this many samples */
    int64_t ep_frames;
    struct ep_ev *evs;
    size_t n_evs, cap_evs;
    bool speech;    /* the endpointer saw speech in the current utterance */
    bool eou_due;   /* the endpointer's first pass (EOU) fired in this utterance: the next
                       interim goes out with stability 1 (Riva's two-pass endpointing) */
    int64_t eou_last; /* the last voiced 10 ms frame before that pause (stream frames) */
    struct pl_asr_nbest *pv_nb; /* renorm: the words at the last pause (send_pause_words), the
                                   final when nothing was voiced after it; or NULL */
    int64_t pv_last, pv_start; /* ... its pause's last voiced frame, its audio's first sample */
    bool use_blank; /* the endpointer takes the model's blank probabilities */
    int blank_id, stride;
    /* decoding of the current utterance */
    int64_t utt_start; /* sample */
    struct pl_asr_fe_stream *fs;
    struct pl_asr_state *ms;
    float *mout;              /* [max_out, V] */
    struct pl_asr_beam *beam; /* NULL: greedy on logp */
    struct pl_asr_beam *pbeam; /* renorm: the decoder of the words at a pause (beam or NULL) */
    struct pl_asr_decode_opts dopts;
    float *logp; /* [n_rows, V] of the utterance (greedy and blank ratios) */
    size_t n_rows, cap_rows;
    size_t dec_rows; /* rows given to the decoder (those of decided audio) */
    bool model_done; /* the model stream of this utterance is finished */
    /* models with per-utterance normalization (m->stream_renorm, opts final_renorm): the
     * samples of the current utterance given to the features, from utt_start, so that its
     * final is recomputed with the offline front end */
    bool renorm;
    float *utt;
    size_t n_utt, cap_utt;
    int64_t sp_begin, sp_last; /* the endpointer's first / last voiced 10 ms frame of the
                                  utterance (stream frames; -1: not known) */
    int64_t res_start;         /* stream sample of logp's row 0 (word offsets) */
};

/* Configure session s from its first request's streaming_config (asr_stream_config.c): the
 * model (holding the repository's set), the decoder, the endpointer, the model stream.
 * Errors: PL_E_INVALID_ARG naming the field, PL_E_NOT_FOUND (model), PL_E_NOMEM. */
pl_status pl__asrsvc_session_setup(struct pl_asrsvc_session *s,
                                   const Nvidia__Riva__Asr__StreamingRecognitionConfig *sc);

/* Give an ended stream's model state st (of model m, MODEL_CHUNK) back: reset and kept for
 * the next stream while m has fewer than PL_ASRSVC_IDLE_STATES, else destroyed. NULL: no-op. */
void pl__asrsvc_state_put(struct pl_asrsvc_model *m, struct pl_asr_state *st);

#endif
