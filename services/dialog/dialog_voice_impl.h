/*
 * dialog_voice_impl.h - private structures of a Converse stream's voice, shared by
 * dialog_voice.c (config, jobs, the voice thread, replies through parley-tts, barge-in,
 * lifecycle) and dialog_voice_asr.c (audio in through parley-asr, endpointing, the answer to
 * an utterance without words). Not an API.
 *
 * Threads and locks. The handler thread (client messages), the NATS threads of the service's
 * nrpc connection (ASR and TTS callbacks) and the voice thread meet in struct pl__dlg_voice
 * under v->mu. No stream function that may run or wait for a callback (cancel, destroy) is
 * called with v->mu held; ASR streams are destroyed only by the handler thread or at the end,
 * the TTS stream only by the voice thread.
 */
#ifndef PL_DIALOG_VOICE_IMPL_H
#define PL_DIALOG_VOICE_IMPL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "audio.h"
#include "dialog_svc.h"
#include "status.h"

struct pl_nrpc_stream;

enum { REASON_NONE, REASON_CONTROL, REASON_SPEECH };
/* A spoken turn that calls out, finished on the action pool (pl__dlgconv_queue_spoken): none,
 * the voice thread waits for it, its outcome is in, the voice thread stopped waiting. */
enum { SPOKEN_NONE, SPOKEN_WAIT, SPOKEN_DONE, SPOKEN_GONE };

/* One StreamingRecognize stream. */
struct utt {
    struct pl__dlg_voice *v;
    struct pl_nrpc_stream *st;
    struct utt *next;
    bool ended;   /* on_end ran */
    bool speech;  /* SPEECH_STARTED sent for the utterance in progress */
    char *text;   /* push-to-talk: the finals so far, joined */
    int64_t eou_us; /* END_OF_UTTERANCE (or half-close) that closed it; 0 = none */
    bool signalled; /* END_OF_UTTERANCE (not the half-close) closed it: it gets an answer */
    bool words;     /* a final with text came after eou_us */
    bool early;     /* the end-of-turn check ended it (eou_us: when) */
    int64_t bytes;  /* audio bytes sent since its last final (v->mu) */
};

/* One turn to run, or (record) an event to append to the log: text is then its JSON, or
 * (no_speech) the answer to an END_OF_UTTERANCE that ended an utterance without words. */
struct job {
    struct job *next;
    bool record;
    bool no_speech;
    bool speech;      /* no_speech: voice activity was heard */
    int64_t audio_ms; /* no_speech: the utterance's audio */
    char ctx_id[PL_DLG_ID_LEN];
    int turn;
    char *text;
    int64_t end_us; /* the end of the user's utterance: final's arrival or text message */
    int64_t eou_us; /* END_OF_UTTERANCE that ended it, 0 = none */
};

struct pl__dlg_voice {
    struct pl__dlg_conv *c;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t th;
    bool th_started, quit, busy;
    struct job *head, *tail;
    /* input */
    bool in, ptt, interim;
    int enc, rate, channels;
    char *asr_model;
    const char *language; /* the ASR's language (the pipeline's, else en-US) */
    int silence_ms;       /* hands-free: the ASR's stop window (the pipeline's; 0 = its own) */
    bool fmt_known;      /* the format (and the WAV header, if any) is known */
    uint8_t *hdr;        /* the WAV header (sent first on every ASR stream), or NULL */
    size_t n_hdr, cap_hdr;
    size_t frame_bytes;  /* bytes of one sample frame (all channels) */
    int in_rate;         /* the input's sample rate (the config's or the WAV header's) */
    uint8_t carry[64];   /* a partial frame waiting for the next chunk */
    size_t n_carry;
    struct utt *cur;     /* the ASR stream taking audio, or NULL */
    struct utt *utts;    /* every ASR stream not destroyed yet (cur among them) */
    int64_t asr_retry_us;
    /* end of turn (hands-free): a short pause ends a turn whose words look complete */
    int eot_ms;           /* the short pause (the ASR's first pass, stop_history_eou); 0 = off */
    float eot_conf;       /* the NLU intent confidence that makes the words complete */
    const char *eot_model; /* the end-of-turn classifier ("" = none: the intent decides) */
    float eot_complete;   /* ... its P(complete) that makes the words complete */
    char *eot_text;       /* the words at the last short pause (the stability-1 interim), or
                             NULL; cleared when the streamed interims change (speech went on) */
    char *eot_base;       /* ... the streamed interim before it (the pause's streamed words) */
    char *last_interim;   /* the latest streamed interim (stability < 1) of the ASR stream */
    struct utt *eot_utt;  /* ... of this ASR stream */
    bool eot_judged;      /* ... taken by the handler thread's check */
    uint64_t eot_seq;     /* bumped whenever eot_text is set or cleared */
    bool awaiting;        /* the last turn's prompt asked for a slot or a confirmation */
    bool eot_tone;        /* the tone of the voice counts (else no audio kept) */
    float eot_fall_slope; /* ... it falls at this pitch slope or under (semitones/s) */
    float eot_rise_slope; /* ... it rises above this */
    struct pl_audio_info in_fmt; /* the input's sample layout (raw or the WAV header's) */
    float *tone;          /* the tone: the latest input audio, mono, a ring of n_tone samples
                             (handler thread only) */
    size_t n_tone, tone_at; /* ... its size and where the next sample goes */
    bool tone_full;         /* ... it has wrapped */
    /* output */
    bool out, barge_in;
    int out_enc, out_rate;
    char *voice_name;
    bool speaking;                /* a reply's TTS stream is open */
    struct pl_nrpc_stream *tts;   /* that stream (set by the voice thread) */
    int tts_users;                /* threads cancelling tts right now */
    bool tts_ended;
    int tts_code;
    char tts_msg[256];
    int interrupted;              /* REASON_*: the reply in progress was stopped */
    int64_t interrupt_us;         /* when */
    int reply_k;                  /* the reply being spoken (1-based in its turn), its response */
    char reply_resp[64];          /*   name and the start of its text: what barge-in stopped */
    char reply_text[128];
    int64_t audio_bytes;          /* reply audio sent in this turn */
    int64_t first_audio_us, tts_start_us;
    int64_t playing_until_us;     /* the client still plays the last reply until then */
    char ctx_id[PL_DLG_ID_LEN];   /* the turn being answered */
    int turn;
    /* a turn that ended the stream (pl__dlgsvc_ends_stream): its status and message */
    pl_status fail_st;
    char fail_msg[512];
    /* a spoken turn on the action pool: SPOKEN_*, its outcome (pool thread -> voice thread) */
    int spoken;
    pl_status spoken_st;
    char spoken_err[480];
    struct pl__dlg_turn_result spoken_t;
    /* the client half-closed (pl__dlg_voice_finish): the voice thread ends the stream once
       every utterance is recognized and every turn answered, or at finish_until_us */
    bool finishing, finished;
    int64_t finish_until_us;
    bool stopped; /* pl__dlg_voice_stop ran */
};

/* ---- dialog_voice.c, used by dialog_voice_asr.c ------------------------------------------ */

/* The status of a turn that ended the stream, for a later client message; OK if none. */
pl_status pl__dlgvoice_failed(struct pl__dlg_voice *v);
/* Send a DialogEvent outside a turn (attrs: key, value, ..., NULL; may be NULL); a failure
 * other than the stream's end is logged. */
void pl__dlgvoice_event(struct pl__dlg_voice *v, int type, const char *detail,
                        const char *const *attrs);
/* A failed call to parley-asr or parley-tts: EVENT_ERROR naming the service, logged once. */
void pl__dlgvoice_service_error(struct pl__dlg_voice *v, const char *svc, const char *rpc,
                                int code, const char *message);
/* Barge-in (any thread, v->mu not held); reason: REASON_CONTROL or REASON_SPEECH. */
void pl__dlgvoice_interrupt(struct pl__dlg_voice *v, int reason);
/* Queue a turn on text (copied) for the voice thread: end_us the end of the user's
 * utterance, eou_us the END_OF_UTTERANCE that ended it (0 = none). Errors: PL_E_NOMEM. */
pl_status pl__dlgvoice_push_job(struct pl__dlg_voice *v, const char *text, int64_t end_us,
                                int64_t eou_us);
/* Queue the answer to an END_OF_UTTERANCE whose utterance had no words (NO_SPEECH and
 * TURN_COMPLETE), behind the turns queued before it. Errors: PL_E_NOMEM. */
pl_status pl__dlgvoice_push_no_speech(struct pl__dlg_voice *v, int64_t audio_ms, bool speech);

/* ---- dialog_voice_asr.c, used by dialog_voice.c ------------------------------------------ */

/* End the current utterance (handler thread): half-close its ASR stream. signalled:
 * END_OF_UTTERANCE (always answered, at once when no ASR stream takes audio); false: the
 * client's half-close. */
void pl__dlgvoice_end_utterance(struct pl__dlg_voice *v, bool signalled);
/* The end-of-turn check (handler thread): judge the words at the last short pause, if any
 * not judged yet, and end the utterance now when they look like a complete turn. */
void pl__dlgvoice_end_of_turn(struct pl__dlg_voice *v);
/* Destroy every ASR stream (cancelling the open ones; their callbacks may wait for v->mu
 * meanwhile), at the end: v->cur must already be NULL. */
void pl__dlgvoice_asr_destroy_all(struct pl__dlg_voice *v);

#endif
