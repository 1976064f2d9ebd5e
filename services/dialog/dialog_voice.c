/*
 * dialog_voice.c - the voice of a Converse stream (dialog_svc.h): the user's audio through
 * parley-asr, the bot's replies through parley-tts, barge-in.
 *
 * Audio in. Each audio_content chunk goes to a StreamingRecognize stream on parley-asr
 * (parley.asr.stream.open, rpc streaming_recognize) opened for the current utterance(s): raw
 * audio with the config's encoding, rate and channels, or a WAV stream whose header the voice
 * keeps and sends again at the start of every new ASR stream. Chunks are cut at whole sample
 * frames (the rest waits for the next chunk), so an ASR stream never starts inside a sample.
 * The ASR stream is asked for interim results and for speech events (custom_configuration
 * speech_events=true: a result without alternatives as soon as its endpointer hears speech).
 *   - speech heard (that event, or the first interim or final of an utterance):
 *     EVENT_SPEECH_STARTED, and barge-in when the config asks for it;
 *   - interim results: Transcript (is_final false) when the client asked for them;
 *   - a final: Transcript (is_final), EVENT_END_OF_UTTERANCE, and (hands-free) a turn.
 * Hands-free (server_endpointing): the ASR's endpointer cuts utterances; one stream serves
 * them all. Push-to-talk: the ASR stream is opened with its stop window at the maximum, so
 * only END_OF_UTTERANCE (or the half-close) ends the utterance: the voice half-closes the ASR
 * stream, parley-asr answers with the final(s), and their text becomes one turn when the ASR
 * stream ends. The next audio opens a new ASR stream. END_OF_UTTERANCE does the same in
 * hands-free mode.
 *
 * No words. parley-asr sends nothing for audio without words (silence, noise, a tone), so
 * without more an END_OF_UTTERANCE over such audio (or over no audio) would get no answer and
 * the client would wait for a TURN_COMPLETE that never comes. Every END_OF_UTTERANCE is
 * answered: when its ASR stream ends with no final with text after it (or there was no ASR
 * stream), an empty final Transcript and END_OF_UTTERANCE are sent, then (queued behind the
 * turns before it) EVENT_NO_SPEECH and TURN_COMPLETE with turn 0. Nothing is stored and no
 * reply is said. Silence in hands-free mode without END_OF_UTTERANCE gives nothing at all, and
 * neither does the half-close.
 *
 * Turns. Final transcripts and text messages queue as jobs for the stream's voice thread,
 * which runs them one at a time through pl__dlgsvc_text_turn (NLU, policy, SQLite commit
 * before the reply), sends NluResult, the turn's events and BotTexts, then speaks the replies
 * and sends TURN_COMPLETE last.
 *
 * Audio out. Each reply is one SynthesizeOnline stream on parley-tts (one request, then
 * half-close); every response with audio is sent at once as a BotAudio chunk (encoding and
 * rate as output_audio says); an empty BotAudio with is_last ends the reply. Then
 * EVENT_REPLY_AUDIO_DONE with the latency: from the end of the user's utterance (the final's
 * arrival, or the text message) to the first chunk, and from END_OF_UTTERANCE when there was
 * one.
 *
 * Barge-in. ControlInput INTERRUPT, or speech heard while a reply is being sent or is still
 * playing at the client (its duration from the first chunk) when the config says barge_in:
 * the TTS stream is cancelled (no BotAudio of it follows), EVENT_REPLY_INTERRUPTED, the
 * turn's other replies are not spoken.
 *
 * Errors. A turn that failed the way that ends a text Converse (pl__dlgsvc_ends_stream: a
 * store that is read-only or full, an unknown session, no memory) ends this stream the same
 * way, with that status and message (pl_worker_session_fail from the voice thread); the turns
 * queued behind it are not run and later client messages get the same status. Another failed
 * turn is an EVENT_ERROR. parley-asr or parley-tts missing or failing: EVENT_ERROR naming the
 * service (and the status); the Converse stream goes on. After an ASR failure the audio of the next second
 * is dropped (no error per chunk), then a new ASR stream is tried. A reply that could not be
 * spoken was still committed and sent as BotText.
 *
 * Threads and locks. The handler thread (client messages), the NATS threads of the service's
 * nrpc connection (ASR and TTS callbacks) and the voice thread meet in struct pl__dlg_voice
 * under v->mu. No stream function that may run or wait for a callback (cancel, destroy) is
 * called with v->mu held; ASR streams are destroyed only by the handler thread or at the end,
 * the TTS stream only by the voice thread.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "audio.h"
#include "dialog_svc.h"
#include "log.h"
#include "nrpc.h"
#include "nrpc_worker.h"
#include "parley/dialog/v1/dialog.pb-c.h"
#include "proto_util.h"
#include "riva/proto/riva_asr.pb-c.h"
#include "riva/proto/riva_tts.pb-c.h"
#include "util.h"

#define HEADER_MAX 8192        /* bytes to look for a WAV header in */
#define ASR_RETRY_US 1000000   /* after an ASR failure, audio dropped this long */
#define PTT_STOP_HISTORY 60000 /* ms: push-to-talk's stop window (the endpointer's maximum) */

enum { REASON_NONE, REASON_CONTROL, REASON_SPEECH };

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
};

/* ---- config ------------------------------------------------------------------------------- */

static bool raw_enc(int e) {
    return e == NVIDIA__RIVA__AUDIO_ENCODING__LINEAR_PCM || e == NVIDIA__RIVA__AUDIO_ENCODING__MULAW ||
           e == NVIDIA__RIVA__AUDIO_ENCODING__ALAW;
}

static const char *enc_name(int e) {
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value(&nvidia__riva__audio_encoding__descriptor, e);
    return v ? v->name : "unknown";
}

static pl_status check_config(const Parley__Dialog__V1__ConverseConfig *cfg) {
    const Parley__Dialog__V1__AudioInputConfig *i = cfg->input_audio;
    const Parley__Dialog__V1__AudioOutputConfig *o = cfg->output_audio;
    if (i) {
        int e = (int)i->encoding;
        if (e != NVIDIA__RIVA__AUDIO_ENCODING__ENCODING_UNSPECIFIED && !raw_enc(e))
            return PL_ERR(PL_E_INVALID_ARG, "input_audio.encoding %s (%d) is not streamed: use "
                          "LINEAR_PCM, MULAW, ALAW, or leave it unset for a WAV stream",
                          enc_name(e), e);
        bool need_rate = raw_enc(e);
        if ((need_rate || i->sample_rate_hertz != 0) &&
            (i->sample_rate_hertz < PL_AUDIO_RAW_MIN_RATE ||
             i->sample_rate_hertz > PL_AUDIO_RAW_MAX_RATE))
            return PL_ERR(PL_E_INVALID_ARG, "input_audio.sample_rate_hertz %d: %s audio needs "
                          "%d..%d", i->sample_rate_hertz, need_rate ? enc_name(e) : "raw",
                          PL_AUDIO_RAW_MIN_RATE, PL_AUDIO_RAW_MAX_RATE);
        if (i->audio_channel_count < 0 || i->audio_channel_count > PL_AUDIO_MAX_CHANNELS)
            return PL_ERR(PL_E_INVALID_ARG, "input_audio.audio_channel_count %d (0..%d)",
                          i->audio_channel_count, PL_AUDIO_MAX_CHANNELS);
    }
    if (o) {
        int e = (int)o->encoding;
        if (e != NVIDIA__RIVA__AUDIO_ENCODING__ENCODING_UNSPECIFIED && !raw_enc(e) &&
            e != NVIDIA__RIVA__AUDIO_ENCODING__OGGOPUS)
            return PL_ERR(PL_E_INVALID_ARG, "output_audio.encoding %s (%d): want LINEAR_PCM, "
                          "OGGOPUS, MULAW or ALAW", enc_name(e), e);
        if (o->sample_rate_hz != 0 && (o->sample_rate_hz < PL_AUDIO_RAW_MIN_RATE ||
                                       o->sample_rate_hz > PL_AUDIO_RAW_MAX_RATE))
            return PL_ERR(PL_E_INVALID_ARG, "output_audio.sample_rate_hz %d: want 0 (the "
                          "server's) or %d..%d", o->sample_rate_hz, PL_AUDIO_RAW_MIN_RATE,
                          PL_AUDIO_RAW_MAX_RATE);
    }
    return PL_OK;
}

/* ---- events ------------------------------------------------------------------------------- */

/* The status of a turn that ended the stream, for a later client message; OK if none. */
static pl_status failed(struct pl__dlg_voice *v) {
    pthread_mutex_lock(&v->mu);
    pl_status st = v->fail_st;
    char msg[sizeof v->fail_msg];
    snprintf(msg, sizeof msg, "%s", v->fail_msg);
    pthread_mutex_unlock(&v->mu);
    return st == PL_OK ? PL_OK : PL_ERR(st, "%s", msg);
}

static void event(struct pl__dlg_voice *v, int type, const char *detail,
                  const char *const *attrs) {
    pl_status st = pl__dlgconv_event(v->c, type, detail, attrs, "", 0);
    if (st != PL_OK && st != PL_E_CANCELLED) PL_LOGW("converse: event not sent: %s", pl_last_error());
}

/* A failed call to parley-asr or parley-tts: EVENT_ERROR naming the service, logged once. */
static void service_error(struct pl__dlg_voice *v, const char *svc, const char *rpc, int code,
                          const char *message) {
    bool tts = !strcmp(svc, "parley-tts");
    char d[640];
    snprintf(d, sizeof d, "%s failed: %s %s: %s; %s", svc, rpc, pl_grpc_code_name(code),
             message && *message ? message : "no message",
             tts ? "the reply was sent as text only" : "the audio of this utterance was not "
                                                       "recognized");
    PL_LOGW("converse %s: %s", v->c->session_id, d);
    const char *attrs[] = {"service", svc, "code", pl_grpc_code_name(code), NULL};
    event(v, PL_DLG_E_ERROR, d, attrs);
}

static int64_t audio_ms(const struct pl__dlg_voice *v, int64_t bytes) {
    int bps = v->out_enc == NVIDIA__RIVA__AUDIO_ENCODING__LINEAR_PCM ? 2
              : v->out_enc == NVIDIA__RIVA__AUDIO_ENCODING__OGGOPUS ? 0 : 1;
    return bps ? bytes * 1000 / ((int64_t)bps * v->out_rate) : 0;
}

/* What barge-in stopped, for its event (v->mu held): a[0] audio_ms sent, a[1] played_ms (the
 * client's playback point: from the first chunk to the stop, at most what was sent), a[2]
 * the reply's number in its turn. */
static void barge_attrs(const struct pl__dlg_voice *v, int64_t at_us, char a[3][32]) {
    int64_t sent = audio_ms(v, v->audio_bytes);
    int64_t played = v->first_audio_us && at_us > v->first_audio_us
                         ? (at_us - v->first_audio_us) / 1000 : 0;
    snprintf(a[0], sizeof a[0], "%lld", (long long)sent);
    snprintf(a[1], sizeof a[1], "%lld", (long long)(played < sent ? played : sent));
    snprintf(a[2], sizeof a[2], "%d", v->reply_k);
}

static pl_status push_record(struct pl__dlg_voice *v, const char *ctx_id, int turn,
                             const char *data);

/* Barge-in (any thread, v->mu not held): stop the reply being sent (cancel its TTS stream;
 * the voice thread reports it when the stream ends), or, when all of it was sent but the
 * client still plays it, tell the client so here. */
static void interrupt(struct pl__dlg_voice *v, int reason) {
    pthread_mutex_lock(&v->mu);
    if (v->speaking) {
        if (!v->interrupted) {
            v->interrupted = reason;
            v->interrupt_us = pl_time_mono_us();
        }
        struct pl_nrpc_stream *t = v->tts;
        if (t) v->tts_users++;
        pthread_mutex_unlock(&v->mu);
        if (!t) return; /* the voice thread cancels it once it is open */
        pl_nrpc_stream_cancel(t);
        pthread_mutex_lock(&v->mu);
        v->tts_users--;
        pthread_cond_broadcast(&v->cv);
        pthread_mutex_unlock(&v->mu);
        return;
    }
    int64_t now = pl_time_mono_us();
    bool playing = v->playing_until_us > now;
    v->playing_until_us = 0;
    char a[3][32], ctx[PL_DLG_ID_LEN], resp[sizeof v->reply_resp], text[sizeof v->reply_text];
    barge_attrs(v, now, a);
    snprintf(ctx, sizeof ctx, "%s", v->ctx_id);
    snprintf(resp, sizeof resp, "%s", v->reply_resp);
    snprintf(text, sizeof text, "%s", v->reply_text);
    int turn = v->turn;
    pthread_mutex_unlock(&v->mu);
    if (!playing) return;
    const char *attrs[] = {"reason", reason == REASON_SPEECH ? "speech" : "control", "audio_ms",
                           a[0], "played_ms", a[1], "reply", a[2], "response", resp, "text",
                           text, NULL};
    const char *detail = "the reply was interrupted while it played";
    pl__dlgconv_event(v->c, PARLEY__DIALOG__V1__EVENT_TYPE__EVENT_REPLY_INTERRUPTED, detail,
                      attrs, ctx, turn);
    /* the log gets it from the voice thread, in order with the turns (a store write may wait
     * for the session, which this thread must not) */
    char *data = pl__dlgsvc_event_json(PARLEY__DIALOG__V1__EVENT_TYPE__EVENT_REPLY_INTERRUPTED,
                                       detail, attrs);
    if (!data || push_record(v, ctx, turn, data) != PL_OK) PL_LOGW("barge-in not logged");
    pl_free(data);
}

/* ---- jobs ----------------------------------------------------------------------------------- */

static void enqueue(struct pl__dlg_voice *v, struct job *j) {
    pthread_mutex_lock(&v->mu);
    if (v->tail) v->tail->next = j;
    else v->head = j;
    v->tail = j;
    pthread_cond_broadcast(&v->cv);
    pthread_mutex_unlock(&v->mu);
}

static pl_status push_job(struct pl__dlg_voice *v, const char *text, int64_t end_us,
                          int64_t eou_us) {
    struct job *j = pl_calloc(1, sizeof *j);
    if (!j || !(j->text = pl_strdup(text))) {
        pl_free(j);
        return PL_ERR(PL_E_NOMEM, "turn");
    }
    j->end_us = end_us;
    j->eou_us = eou_us;
    enqueue(v, j);
    return PL_OK;
}

/* Queue an event for the log (record job), behind the turns queued before it. */
static pl_status push_record(struct pl__dlg_voice *v, const char *ctx_id, int turn,
                             const char *data) {
    struct job *j = pl_calloc(1, sizeof *j);
    if (!j || !(j->text = pl_strdup(data))) {
        pl_free(j);
        return PL_ERR(PL_E_NOMEM, "record");
    }
    j->record = true;
    snprintf(j->ctx_id, sizeof j->ctx_id, "%s", ctx_id);
    j->turn = turn;
    enqueue(v, j);
    return PL_OK;
}

/* Queue the answer to an END_OF_UTTERANCE whose utterance had no words (NO_SPEECH and
 * TURN_COMPLETE), behind the turns queued before it, so that every END_OF_UTTERANCE gets
 * its TURN_COMPLETE in order. */
static pl_status push_no_speech(struct pl__dlg_voice *v, int64_t audio_ms, bool speech) {
    struct job *j = pl_calloc(1, sizeof *j);
    if (!j) return PL_ERR(PL_E_NOMEM, "no-speech answer");
    j->no_speech = true;
    j->speech = speech;
    j->audio_ms = audio_ms;
    enqueue(v, j);
    return PL_OK;
}

/* ---- ASR ------------------------------------------------------------------------------------ */

static void speech_started(struct pl__dlg_voice *v, struct utt *u, float at_s) {
    if (u->speech) return;
    u->speech = true;
    char t[32];
    snprintf(t, sizeof t, "%.2f", at_s);
    const char *attrs[] = {"audio_s", t, NULL};
    event(v, PARLEY__DIALOG__V1__EVENT_TYPE__EVENT_SPEECH_STARTED, "speech started", attrs);
    if (v->barge_in) interrupt(v, REASON_SPEECH);
}

static void send_transcript(struct pl__dlg_voice *v, const char *text, bool final, float stab,
                            float conf, float processed) {
    Parley__Dialog__V1__Transcript t = PARLEY__DIALOG__V1__TRANSCRIPT__INIT;
    t.text = (char *)text;
    t.is_final = final;
    t.stability = final ? 0 : stab;
    t.confidence = final ? conf : 0;
    t.audio_processed = processed;
    Parley__Dialog__V1__ConverseResponse r = PARLEY__DIALOG__V1__CONVERSE_RESPONSE__INIT;
    r.response_case = PARLEY__DIALOG__V1__CONVERSE_RESPONSE__RESPONSE_TRANSCRIPT;
    r.transcript = &t;
    pl__dlgconv_send(v->c, &r, "", 0);
}

/* Milliseconds of input audio in bytes (whole frames at the input's rate). */
static int64_t in_audio_ms(const struct pl__dlg_voice *v, int64_t bytes) {
    int64_t per_s = (int64_t)v->frame_bytes * v->in_rate;
    return per_s > 0 ? bytes * 1000 / per_s : 0;
}

/* An utterance that END_OF_UTTERANCE closed gave no words (or had no audio): an empty final
 * Transcript and END_OF_UTTERANCE now, as an utterance with words gets, then NO_SPEECH and
 * TURN_COMPLETE from the voice thread, in order with the turns queued before. */
static void no_words(struct pl__dlg_voice *v, int64_t bytes, bool speech) {
    int64_t ms = in_audio_ms(v, bytes);
    send_transcript(v, "", true, 0, 0, (float)ms / 1000.0f);
    event(v, PARLEY__DIALOG__V1__EVENT_TYPE__EVENT_END_OF_UTTERANCE,
          "end of utterance (signalled)", NULL);
    if (push_no_speech(v, ms, speech) != PL_OK) PL_LOGE("%s", pl_last_error());
}

static void asr_message(void *ud, const uint8_t *data, size_t n) {
    struct utt *u = ud;
    struct pl__dlg_voice *v = u->v;
    ProtobufCMessage *m = NULL;
    if (pl_proto_unpack(&nvidia__riva__asr__streaming_recognize_response__descriptor, data, n,
                        &m) != PL_OK) {
        PL_LOGW("converse: a StreamingRecognizeResponse does not parse");
        return;
    }
    Nvidia__Riva__Asr__StreamingRecognizeResponse *r = (void *)m;
    for (size_t i = 0; i < r->n_results; i++) {
        const Nvidia__Riva__Asr__StreamingRecognitionResult *res = r->results[i];
        const Nvidia__Riva__Asr__SpeechRecognitionAlternative *a =
            res->n_alternatives > 0 ? res->alternatives[0] : NULL;
        const char *text = a && a->transcript ? a->transcript : "";
        if (!a) { /* speech_events: the endpointer heard speech start */
            speech_started(v, u, res->audio_processed);
            continue;
        }
        if (!res->is_final) {
            if (*text) speech_started(v, u, res->audio_processed);
            if (v->interim && *text)
                send_transcript(v, text, false, res->stability, 0, res->audio_processed);
            continue;
        }
        int64_t now = pl_time_mono_us();
        speech_started(v, u, res->audio_processed);
        u->speech = false;
        pthread_mutex_lock(&v->mu);
        u->bytes = 0;
        if (*text && u->eou_us) u->words = true;
        pthread_mutex_unlock(&v->mu);
        send_transcript(v, text, true, 0, a->confidence, res->audio_processed);
        event(v, PARLEY__DIALOG__V1__EVENT_TYPE__EVENT_END_OF_UTTERANCE,
              u->eou_us ? "end of utterance (signalled)" : "end of utterance (detected)", NULL);
        if (!*text) continue;
        if (!v->ptt) {
            if (push_job(v, text, now, u->eou_us) != PL_OK) PL_LOGE("%s", pl_last_error());
            continue;
        }
        size_t k = u->text ? strlen(u->text) : 0;
        char *t = pl_realloc(u->text, k + strlen(text) + 2);
        if (!t) continue;
        snprintf(t + k, strlen(text) + 2, "%s%s", k ? " " : "", text);
        u->text = t;
    }
    pl_proto_free(m);
}

static void asr_end(void *ud, int code, const char *message) {
    struct utt *u = ud;
    struct pl__dlg_voice *v = u->v;
    if (code != PL_GRPC_OK && code != PL_GRPC_CANCELLED)
        service_error(v, "parley-asr", "streaming_recognize", code, message);
    bool ptt_words = v->ptt && u->text && *u->text;
    if (ptt_words && push_job(v, u->text, pl_time_mono_us(), u->eou_us) != PL_OK)
        PL_LOGE("%s", pl_last_error());
    pthread_mutex_lock(&v->mu);
    bool unanswered = u->signalled && code == PL_GRPC_OK && !ptt_words && !u->words;
    int64_t bytes = u->bytes;
    pthread_mutex_unlock(&v->mu);
    if (unanswered) no_words(v, bytes, u->speech);
    pthread_mutex_lock(&v->mu);
    u->ended = true;
    if (code != PL_GRPC_OK && code != PL_GRPC_CANCELLED && v->cur == u) {
        v->cur = NULL; /* the next audio opens a new stream, after a pause */
        v->asr_retry_us = pl_time_mono_us() + ASR_RETRY_US;
    }
    pthread_cond_broadcast(&v->cv);
    pthread_mutex_unlock(&v->mu);
}

/* Destroy the ASR streams that have ended (handler thread). */
static void reap(struct pl__dlg_voice *v) {
    struct utt *dead = NULL;
    pthread_mutex_lock(&v->mu);
    for (struct utt **p = &v->utts; *p;) {
        struct utt *u = *p;
        if (u->ended && u != v->cur) {
            *p = u->next;
            u->next = dead;
            dead = u;
        } else {
            p = &u->next;
        }
    }
    pthread_mutex_unlock(&v->mu);
    while (dead) {
        struct utt *u = dead;
        dead = u->next;
        pl_nrpc_stream_destroy(u->st);
        pl_free(u->text);
        pl_free(u);
    }
}

static pl_status send_asr(struct pl_nrpc_stream *st, const Nvidia__Riva__Asr__StreamingRecognizeRequest *rq) {
    uint8_t *buf = NULL;
    size_t len = 0;
    PL_TRY(pl_proto_pack(&rq->base, &buf, &len));
    pl_status s = pl_nrpc_stream_send(st, buf, len);
    pl_free(buf);
    return s;
}

/* Open an ASR stream for the next utterance(s): config, then the WAV header if any. */
static pl_status open_asr(struct pl__dlg_voice *v, struct utt **out) {
    *out = NULL;
    struct utt *u = pl_calloc(1, sizeof *u);
    if (!u) return PL_ERR(PL_E_NOMEM, "asr stream");
    u->v = v;
    const struct pl_worker_ctx *ctx = pl_worker_session_ctx(v->c->ws);
    struct pl_nrpc_meta meta = {ctx ? ctx->request_id : NULL, 0, v->c->user};
    static const struct pl_nrpc_stream_cbs cbs = {asr_message, asr_end};
    pthread_mutex_lock(&v->mu); /* listed before any callback can look for it */
    u->next = v->utts;
    v->utts = u;
    v->cur = u;
    pthread_mutex_unlock(&v->mu);
    pl_status st = pl_nrpc_stream_open(v->c->s->nc, "asr", "streaming_recognize", &meta, &cbs, u,
                                       &u->st);
    if (st != PL_OK) {
        pthread_mutex_lock(&v->mu);
        v->cur = NULL;
        u->ended = true;
        pthread_mutex_unlock(&v->mu);
        return st;
    }
    Nvidia__Riva__Asr__RecognitionConfig rc = NVIDIA__RIVA__ASR__RECOGNITION_CONFIG__INIT;
    rc.encoding = v->hdr ? NVIDIA__RIVA__AUDIO_ENCODING__ENCODING_UNSPECIFIED
                         : (Nvidia__Riva__AudioEncoding)v->enc;
    rc.sample_rate_hertz = v->hdr ? 0 : v->rate;
    rc.audio_channel_count = v->hdr ? 0 : v->channels;
    rc.language_code = (char *)v->language;
    rc.max_alternatives = 1;
    rc.model = v->asr_model;
    rc.verbatim_transcripts = true; /* words as spoken: what the NLU model was trained on */
    Nvidia__Riva__Asr__RecognitionConfig__CustomConfigurationEntry ce =
        NVIDIA__RIVA__ASR__RECOGNITION_CONFIG__CUSTOM_CONFIGURATION_ENTRY__INIT;
    ce.key = "speech_events";
    ce.value = "true";
    Nvidia__Riva__Asr__RecognitionConfig__CustomConfigurationEntry *pce = &ce;
    rc.n_custom_configuration = 1;
    rc.custom_configuration = &pce;
    Nvidia__Riva__Asr__EndpointingConfig ec = NVIDIA__RIVA__ASR__ENDPOINTING_CONFIG__INIT;
    if (v->ptt) { /* only END_OF_UTTERANCE ends an utterance (or the 30 s cut) */
        ec._stop_history_case = NVIDIA__RIVA__ASR__ENDPOINTING_CONFIG___STOP_HISTORY_STOP_HISTORY;
        ec.stop_history = PTT_STOP_HISTORY;
        ec._stop_history_eou_case =
            NVIDIA__RIVA__ASR__ENDPOINTING_CONFIG___STOP_HISTORY_EOU_STOP_HISTORY_EOU;
        ec.stop_history_eou = PTT_STOP_HISTORY;
        rc.endpointing_config = &ec;
    } else if (v->silence_ms > 0) { /* the pipeline's endpointing silence */
        ec._stop_history_case = NVIDIA__RIVA__ASR__ENDPOINTING_CONFIG___STOP_HISTORY_STOP_HISTORY;
        ec.stop_history = v->silence_ms;
        rc.endpointing_config = &ec;
    }
    Nvidia__Riva__Asr__StreamingRecognitionConfig sc =
        NVIDIA__RIVA__ASR__STREAMING_RECOGNITION_CONFIG__INIT;
    sc.config = &rc;
    sc.interim_results = true; /* the first interim is a sign of speech too */
    Nvidia__Riva__Asr__StreamingRecognizeRequest rq =
        NVIDIA__RIVA__ASR__STREAMING_RECOGNIZE_REQUEST__INIT;
    rq.streaming_request_case =
        NVIDIA__RIVA__ASR__STREAMING_RECOGNIZE_REQUEST__STREAMING_REQUEST_STREAMING_CONFIG;
    rq.streaming_config = &sc;
    st = send_asr(u->st, &rq);
    if (st == PL_OK && v->hdr) {
        Nvidia__Riva__Asr__StreamingRecognizeRequest a =
            NVIDIA__RIVA__ASR__STREAMING_RECOGNIZE_REQUEST__INIT;
        a.streaming_request_case =
            NVIDIA__RIVA__ASR__STREAMING_RECOGNIZE_REQUEST__STREAMING_REQUEST_AUDIO_CONTENT;
        a.audio_content.data = v->hdr;
        a.audio_content.len = v->n_hdr;
        st = send_asr(u->st, &a);
    }
    *out = u;
    return PL_OK; /* a send that failed means the stream ended: asr_end reports it */
}

/* Learn the format from the first bytes: a WAV header (kept), or the config's raw format.
 * *used = bytes of data taken as header. */
static pl_status learn_format(struct pl__dlg_voice *v, const uint8_t *data, size_t n,
                              size_t *used) {
    *used = 0;
    if (v->enc != NVIDIA__RIVA__AUDIO_ENCODING__ENCODING_UNSPECIFIED || v->rate > 0) {
        int enc = v->enc ? v->enc : NVIDIA__RIVA__AUDIO_ENCODING__LINEAR_PCM;
        v->enc = enc;
        v->frame_bytes = (size_t)(enc == NVIDIA__RIVA__AUDIO_ENCODING__LINEAR_PCM ? 2 : 1) *
                         (size_t)(v->channels > 0 ? v->channels : 1);
        v->in_rate = v->rate;
        v->fmt_known = true;
        return PL_OK;
    }
    size_t had = v->n_hdr;
    if (had + n > v->cap_hdr) {
        size_t cap = had + n > HEADER_MAX ? had + n : HEADER_MAX;
        uint8_t *h = pl_realloc(v->hdr, cap);
        if (!h) return PL_ERR(PL_E_NOMEM, "audio header");
        v->hdr = h;
        v->cap_hdr = cap;
    }
    memcpy(v->hdr + had, data, n);
    v->n_hdr += n;
    *used = n;
    if (v->n_hdr < 12) return PL_OK;
    struct pl_audio_info info;
    pl_status st = pl_audio_probe(v->hdr, v->n_hdr, &info);
    if (st == PL_OK && info.container == PL_AUDIO_CONTAINER_WAV &&
        info.data_offset <= v->n_hdr) {
        if (info.encoding != PL_AUDIO_ENC_LINEAR_PCM && info.encoding != PL_AUDIO_ENC_MULAW &&
            info.encoding != PL_AUDIO_ENC_ALAW)
            return PL_ERR(PL_E_INVALID_ARG, "input_audio: the WAV stream's samples are not "
                          "PCM, mu-law or A-law");
        size_t extra = v->n_hdr - info.data_offset; /* sample bytes that came with the header */
        *used = n - extra;
        v->n_hdr = info.data_offset;
        v->frame_bytes = (size_t)(info.bits > 0 ? info.bits / 8 : 2) *
                         (size_t)(info.channels > 0 ? info.channels : 1);
        if (v->frame_bytes == 0 || v->frame_bytes > sizeof v->carry) v->frame_bytes = 1;
        v->in_rate = info.sample_rate;
        v->fmt_known = true;
        PL_LOGD("converse %s: WAV input %d Hz x %d, %d bits", v->c->session_id,
                info.sample_rate, info.channels, info.bits);
        return PL_OK;
    }
    bool riff = !memcmp(v->hdr, "RIFF", 4);
    if (!riff || (st != PL_OK && st != PL_E_FORMAT) || v->n_hdr >= HEADER_MAX)
        return PL_ERR(PL_E_INVALID_ARG, "input_audio.encoding is unset and "
                      "input_audio.sample_rate_hertz is 0, so the audio must be a WAV stream, "
                      "but %s", riff ? "its WAV header is malformed" : "it has no WAV header "
                      "(set encoding and sample_rate_hertz for raw audio)");
    return PL_OK; /* more header to come */
}

pl_status pl__dlg_voice_audio(struct pl__dlg_voice *v, const uint8_t *data, size_t n) {
    if (!v->in)
        return PL_ERR(PL_E_INVALID_ARG, "audio_content without input_audio in the config");
    PL_TRY(failed(v));
    reap(v);
    size_t used = 0;
    if (!v->fmt_known) {
        PL_TRY(learn_format(v, data, n, &used));
        if (!v->fmt_known) return PL_OK;
        data += used;
        n -= used;
    }
    int64_t now = pl_time_mono_us();
    pthread_mutex_lock(&v->mu);
    struct utt *u = v->cur;
    bool drop = !u && now < v->asr_retry_us;
    pthread_mutex_unlock(&v->mu);
    if (drop || n + v->n_carry == 0) return PL_OK;
    if (!u) {
        pl_status st = open_asr(v, &u);
        if (st != PL_OK) {
            service_error(v, "parley-asr", "streaming_recognize", PL_GRPC_UNAVAILABLE,
                          pl_last_error());
            pthread_mutex_lock(&v->mu);
            v->asr_retry_us = now + ASR_RETRY_US;
            pthread_mutex_unlock(&v->mu);
            return PL_OK;
        }
    }
    /* whole sample frames only: the carry first, then the chunk up to a frame boundary */
    size_t fb = v->frame_bytes ? v->frame_bytes : 1;
    size_t total = v->n_carry + n, whole = total / fb * fb;
    uint8_t *buf = pl_malloc(whole ? whole : 1);
    if (!buf) return PL_ERR(PL_E_NOMEM, "audio");
    size_t from_carry = v->n_carry < whole ? v->n_carry : whole;
    memcpy(buf, v->carry, from_carry);
    memcpy(buf + from_carry, data, whole - from_carry);
    size_t rest = total - whole; /* < fb: from the end of data (and the carry when n is tiny) */
    uint8_t tmp[sizeof v->carry];
    size_t k = 0;
    for (size_t i = whole; i < total; i++)
        tmp[k++] = i < v->n_carry ? v->carry[i] : data[i - v->n_carry];
    memcpy(v->carry, tmp, rest);
    v->n_carry = rest;
    pl_status st = PL_OK;
    if (whole) {
        Nvidia__Riva__Asr__StreamingRecognizeRequest a =
            NVIDIA__RIVA__ASR__STREAMING_RECOGNIZE_REQUEST__INIT;
        a.streaming_request_case =
            NVIDIA__RIVA__ASR__STREAMING_RECOGNIZE_REQUEST__STREAMING_REQUEST_AUDIO_CONTENT;
        a.audio_content.data = buf;
        a.audio_content.len = whole;
        st = send_asr(u->st, &a);
        if (st == PL_E_CANCELLED) st = PL_OK; /* the stream ended: asr_end reported why */
        pthread_mutex_lock(&v->mu);
        u->bytes += (int64_t)whole;
        pthread_mutex_unlock(&v->mu);
    }
    pl_free(buf);
    return st;
}

/* End the current utterance: half-close its ASR stream (its finals and end follow; asr_end
 * answers a signalled one that gave no words). signalled: END_OF_UTTERANCE, which is always
 * answered, so with no ASR stream taking audio (none yet, or it failed) it is answered
 * here; false: the client's half-close. */
static void end_utterance(struct pl__dlg_voice *v, bool signalled) {
    pthread_mutex_lock(&v->mu);
    struct utt *u = v->cur;
    v->cur = NULL;
    if (u && u->ended) u = NULL; /* it ended on its own: no callback is to come */
    if (u) {
        u->eou_us = pl_time_mono_us();
        u->signalled = signalled;
    }
    pthread_mutex_unlock(&v->mu);
    if (u) pl_nrpc_stream_close_send(u->st);
    else if (signalled) no_words(v, 0, false);
}

pl_status pl__dlg_voice_control(struct pl__dlg_voice *v, int kind) {
    PL_TRY(failed(v));
    switch (kind) {
    case PARLEY__DIALOG__V1__CONTROL_INPUT__KIND__END_OF_UTTERANCE:
        if (v->in) end_utterance(v, true);
        return PL_OK;
    case PARLEY__DIALOG__V1__CONTROL_INPUT__KIND__INTERRUPT:
        interrupt(v, REASON_CONTROL);
        return PL_OK;
    default:
        return PL_ERR(PL_E_INVALID_ARG, "control.kind %d is not a ControlInput kind", kind);
    }
}

pl_status pl__dlg_voice_text(struct pl__dlg_voice *v, const char *text) {
    PL_TRY(failed(v));
    return push_job(v, text, pl_time_mono_us(), 0);
}

/* ---- TTS ------------------------------------------------------------------------------------ */

static void send_audio(struct pl__dlg_voice *v, const uint8_t *p, size_t n, bool last) {
    Parley__Dialog__V1__BotAudio b = PARLEY__DIALOG__V1__BOT_AUDIO__INIT;
    b.audio.data = (uint8_t *)p;
    b.audio.len = n;
    b.encoding = (Nvidia__Riva__AudioEncoding)v->out_enc;
    b.sample_rate_hz = v->out_rate;
    b.is_last = last;
    Parley__Dialog__V1__ConverseResponse r = PARLEY__DIALOG__V1__CONVERSE_RESPONSE__INIT;
    r.response_case = PARLEY__DIALOG__V1__CONVERSE_RESPONSE__RESPONSE_BOT_AUDIO;
    r.bot_audio = &b;
    pl__dlgconv_send(v->c, &r, v->ctx_id, v->turn);
}

static void tts_message(void *ud, const uint8_t *data, size_t n) {
    struct pl__dlg_voice *v = ud;
    ProtobufCMessage *m = NULL;
    if (pl_proto_unpack(&nvidia__riva__tts__synthesize_speech_response__descriptor, data, n, &m) !=
        PL_OK) {
        PL_LOGW("converse: a SynthesizeSpeechResponse does not parse");
        return;
    }
    Nvidia__Riva__Tts__SynthesizeSpeechResponse *r = (void *)m;
    pthread_mutex_lock(&v->mu);
    bool send = !v->interrupted && r->audio.len > 0;
    if (send) {
        if (!v->first_audio_us) v->first_audio_us = pl_time_mono_us();
        v->audio_bytes += (int64_t)r->audio.len;
    }
    pthread_mutex_unlock(&v->mu);
    if (send) send_audio(v, r->audio.data, r->audio.len, false);
    pl_proto_free(m);
}

static void tts_end(void *ud, int code, const char *message) {
    struct pl__dlg_voice *v = ud;
    pthread_mutex_lock(&v->mu);
    v->tts_ended = true;
    v->tts_code = code;
    snprintf(v->tts_msg, sizeof v->tts_msg, "%s", message ? message : "");
    pthread_cond_broadcast(&v->cv);
    pthread_mutex_unlock(&v->mu);
}

/* Speak one reply (voice thread): a SynthesizeOnline stream with one request, its chunks sent
 * as they come. false when the turn's other replies should not be spoken (interrupted, or
 * parley-tts failed: reported). */
static bool speak(struct pl__dlg_voice *v, const char *text) {
    Nvidia__Riva__Tts__SynthesizeSpeechRequest rq = NVIDIA__RIVA__TTS__SYNTHESIZE_SPEECH_REQUEST__INIT;
    rq.text = (char *)text;
    rq.language_code = "";
    rq.encoding = (Nvidia__Riva__AudioEncoding)v->out_enc;
    rq.sample_rate_hz = v->out_rate;
    rq.voice_name = v->voice_name;
    uint8_t *buf = NULL;
    size_t len = 0;
    if (pl_proto_pack(&rq.base, &buf, &len) != PL_OK) return false;
    const struct pl_worker_ctx *ctx = pl_worker_session_ctx(v->c->ws);
    struct pl_nrpc_meta meta = {ctx ? ctx->request_id : NULL, 0, v->c->user};
    static const struct pl_nrpc_stream_cbs cbs = {tts_message, tts_end};
    pthread_mutex_lock(&v->mu);
    bool stop = v->interrupted || v->quit;
    v->speaking = !stop;
    v->tts_ended = false;
    v->tts_code = 0;
    v->tts_msg[0] = '\0';
    if (!v->tts_start_us) v->tts_start_us = pl_time_mono_us();
    pthread_mutex_unlock(&v->mu);
    if (stop) {
        pl_free(buf);
        return false;
    }
    struct pl_nrpc_stream *t = NULL;
    pl_status st = pl_nrpc_stream_open(v->c->s->nc, "tts", "synthesize_online", &meta, &cbs, v, &t);
    if (st == PL_OK) {
        pl_nrpc_stream_send(t, buf, len);
        pl_nrpc_stream_close_send(t);
    }
    pl_free(buf);
    pthread_mutex_lock(&v->mu);
    v->tts = t;
    bool cancel = t && v->interrupted; /* an interrupt came before the stream was listed */
    pthread_mutex_unlock(&v->mu);
    if (cancel) pl_nrpc_stream_cancel(t);
    pthread_mutex_lock(&v->mu);
    while (t && !v->tts_ended) pthread_cond_wait(&v->cv, &v->mu);
    while (v->tts_users > 0) pthread_cond_wait(&v->cv, &v->mu);
    v->tts = NULL;
    v->speaking = false;
    int code = t ? v->tts_code : PL_GRPC_UNAVAILABLE;
    char msg[256];
    snprintf(msg, sizeof msg, "%s", t ? v->tts_msg : pl_last_error());
    bool interrupted = v->interrupted != REASON_NONE;
    pthread_mutex_unlock(&v->mu);
    pl_nrpc_stream_destroy(t);
    if (interrupted) return false;
    if (code != PL_GRPC_OK) {
        service_error(v, "parley-tts", "synthesize_online", code, msg);
        return false;
    }
    send_audio(v, NULL, 0, true);
    return true;
}

/* ---- the voice thread ----------------------------------------------------------------------- */

/* Append an event to the session's log (voice thread); data is consumed. A failure is
 * logged: the conversation goes on. */
static void record(struct pl__dlg_voice *v, const char *ctx_id, int turn, char *data) {
    pl_status st = data ? pl__dlgsvc_log_event(v->c->s, v->c->user, v->c->session_id, ctx_id,
                                               turn, data)
                        : PL_ERR(PL_E_NOMEM, "event");
    if (st != PL_OK) PL_LOGW("converse %s: barge-in not logged: %s", v->c->session_id,
                             pl_last_error());
    pl_free(data);
}

/* A turn failed the way that ends the stream (voice thread): end it with that status and
 * message, as a text turn's failure does; nothing more runs. */
static void fail_stream(struct pl__dlg_voice *v, pl_status st, const char *msg) {
    pthread_mutex_lock(&v->mu);
    v->fail_st = st;
    snprintf(v->fail_msg, sizeof v->fail_msg, "%s", msg);
    v->quit = true;
    pthread_cond_broadcast(&v->cv);
    pthread_mutex_unlock(&v->mu);
    PL_LOGW("converse %s: a spoken turn failed, the stream ends: %s: %s", v->c->session_id,
            pl_status_str(st), msg);
    pl_worker_session_fail(v->c->ws, st, msg);
}

/* The answer to an END_OF_UTTERANCE that ended an utterance without words (voice thread):
 * NO_SPEECH and TURN_COMPLETE (turn 0, no context: no turn ran, nothing is stored). */
static void answer_no_speech(struct pl__dlg_voice *v, const struct job *j) {
    char ms[32];
    snprintf(ms, sizeof ms, "%lld", (long long)j->audio_ms);
    const char *speech = j->speech ? "true" : "false";
    PL_LOGI("converse %s: no words in %s ms of audio (speech heard: %s)", v->c->session_id, ms,
            speech);
    const char *attrs[] = {"audio_ms", ms, "speech", speech, NULL};
    event(v, PARLEY__DIALOG__V1__EVENT_TYPE__EVENT_NO_SPEECH,
          j->speech ? "speech was heard but no words were recognized" : "no speech was heard",
          attrs);
    const char *done[] = {"no_speech", "true", NULL};
    event(v, PARLEY__DIALOG__V1__EVENT_TYPE__EVENT_TURN_COMPLETE,
          "turn complete: nothing was heard", done);
}

static void run_turn(struct pl__dlg_voice *v, struct job *j) {
    if (j->record) {
        record(v, j->ctx_id, j->turn, j->text);
        j->text = NULL;
        return;
    }
    if (j->no_speech) {
        answer_no_speech(v, j);
        return;
    }
    struct pl__dlg_conv *c = v->c;
    const struct pl_worker_ctx *ctx = pl_worker_session_ctx(c->ws);
    struct pl__dlg_turn_result t;
    pl_status st = pl__dlgsvc_text_turn(c->s, c->pipe, c->user, c->session_id, j->text,
                                        ctx ? ctx->deadline_us : 0, &t);
    if (st != PL_OK) { /* stored nothing */
        char err[480], msg[512];
        snprintf(err, sizeof err, "%s", pl_last_error());
        pl__dlg_turn_result_deinit(&t);
        if (pl__dlgsvc_ends_stream(st)) {
            fail_stream(v, st, err);
            return;
        }
        snprintf(msg, sizeof msg, "%s: %s", pl_status_str(st), err); /* the stream goes on */
        PL_LOGW("turn failed: %s", msg);
        event(v, PL_DLG_E_ERROR, msg, NULL);
        return;
    }
    pthread_mutex_lock(&v->mu);
    snprintf(v->ctx_id, sizeof v->ctx_id, "%s", t.turn.context_id);
    v->turn = t.turn.turn;
    v->interrupted = REASON_NONE;
    v->interrupt_us = 0;
    v->reply_k = 0;
    v->reply_resp[0] = v->reply_text[0] = '\0';
    v->audio_bytes = 0;
    v->first_audio_us = v->tts_start_us = 0;
    v->playing_until_us = 0;
    pthread_mutex_unlock(&v->mu);
    if (c->include_nlu) pl__dlgconv_send_nlu(c, t.text, &t);
    pl__dlgconv_send_turn(c, &t, v->out ? 1 : 0);
    if (!v->out) {
        pl__dlg_turn_result_deinit(&t);
        return;
    }
    bool spoke = false;
    for (int k = 0; k < t.turn.n_replies; k++) {
        const char *text = t.turn.replies[k].text;
        if (!text || !*text) continue;
        spoke = true;
        pthread_mutex_lock(&v->mu);
        v->reply_k = k + 1;
        snprintf(v->reply_resp, sizeof v->reply_resp, "%s",
                 t.turn.replies[k].response ? t.turn.replies[k].response : "");
        snprintf(v->reply_text, sizeof v->reply_text, "%s", text);
        pthread_mutex_unlock(&v->mu);
        if (!speak(v, text)) break;
    }
    char b[3][32];
    pthread_mutex_lock(&v->mu);
    int reason = v->interrupted;
    bool gone = v->quit; /* the stream ended under the reply: not a barge-in */
    int64_t first = v->first_audio_us, start = v->tts_start_us, sent = audio_ms(v, v->audio_bytes);
    if (!reason && first) v->playing_until_us = first + sent * 1000;
    barge_attrs(v, v->interrupt_us, b);
    pthread_mutex_unlock(&v->mu);
    char a[4][32];
    snprintf(a[0], sizeof a[0], "%lld", (long long)sent);
    snprintf(a[1], sizeof a[1], "%.1f", first ? (double)(first - j->end_us) / 1000.0 : -1.0);
    snprintf(a[2], sizeof a[2], "%.1f", first ? (double)(first - start) / 1000.0 : -1.0);
    snprintf(a[3], sizeof a[3], "%.1f",
             first && j->eou_us ? (double)(first - j->eou_us) / 1000.0 : -1.0);
    if (reason) { /* sent, and logged before TURN_COMPLETE */
        const char *attrs[] = {"reason", reason == REASON_SPEECH ? "speech" : "control",
                               "audio_ms", b[0], "played_ms", b[1], "reply", b[2],
                               "response", v->reply_resp, "text", v->reply_text, NULL};
        const char *detail = reason == REASON_SPEECH
                                 ? "the reply was interrupted by the user's speech"
                                 : "the reply was interrupted";
        pl__dlgconv_event(c, PARLEY__DIALOG__V1__EVENT_TYPE__EVENT_REPLY_INTERRUPTED, detail,
                          attrs, v->ctx_id, v->turn);
        if (!gone)
            record(v, v->ctx_id, v->turn, pl__dlgsvc_event_json(
                                          PARLEY__DIALOG__V1__EVENT_TYPE__EVENT_REPLY_INTERRUPTED,
                                          detail, attrs));
    } else if (first) {
        const char *attrs[] = {"audio_ms", a[0], "first_audio_ms", a[1], "tts_first_ms", a[2],
                               j->eou_us ? "eou_to_audio_ms" : NULL, a[3], NULL};
        PL_LOGI("converse %s turn %d: first reply audio %s ms after the end of the utterance "
                "(TTS %s ms%s%s), %s ms of audio", c->session_id, v->turn, a[1], a[2],
                j->eou_us ? ", END_OF_UTTERANCE " : "", j->eou_us ? a[3] : "", a[0]);
        pl__dlgconv_event(c, PARLEY__DIALOG__V1__EVENT_TYPE__EVENT_REPLY_AUDIO_DONE,
                          "reply audio sent", attrs, v->ctx_id, v->turn);
    } else if (spoke) {
        PL_LOGD("converse %s turn %d: no reply audio", c->session_id, v->turn);
    }
    pl__dlgconv_send_turn(c, &t, 2);
    pl__dlg_turn_result_deinit(&t);
}

static void *voice_main(void *ud) {
    struct pl__dlg_voice *v = ud;
    const struct pl_worker_ctx *ctx = pl_worker_session_ctx(v->c->ws);
    if (ctx) pl_log_set_request_id(ctx->request_id);
    pthread_mutex_lock(&v->mu);
    while (!v->quit) {
        struct job *j = v->head;
        if (!j) {
            v->busy = false;
            pthread_cond_broadcast(&v->cv);
            pthread_cond_wait(&v->cv, &v->mu);
            continue;
        }
        v->head = j->next;
        if (!v->head) v->tail = NULL;
        v->busy = true;
        pthread_mutex_unlock(&v->mu);
        run_turn(v, j);
        pl_free(j->text);
        pl_free(j);
        pthread_mutex_lock(&v->mu);
    }
    v->busy = false;
    pthread_cond_broadcast(&v->cv);
    pthread_mutex_unlock(&v->mu);
    return NULL;
}

/* ---- lifecycle ------------------------------------------------------------------------------ */

pl_status pl__dlg_voice_create(struct pl__dlg_conv *c, const void *config) {
    const Parley__Dialog__V1__ConverseConfig *cfg = config;
    PL_TRY(check_config(cfg));
    struct pl__dlg_voice *v = pl_calloc(1, sizeof *v);
    if (!v) return PL_ERR(PL_E_NOMEM, "voice");
    v->c = c;
    pthread_mutex_init(&v->mu, NULL);
    pthread_cond_init(&v->cv, NULL);
    const Parley__Dialog__V1__AudioInputConfig *i = cfg->input_audio;
    const Parley__Dialog__V1__AudioOutputConfig *o = cfg->output_audio;
    v->in = i != NULL;
    v->interim = cfg->interim_results;
    v->barge_in = cfg->barge_in;
    if (i) {
        v->ptt = !i->server_endpointing;
        v->enc = (int)i->encoding;
        v->rate = i->sample_rate_hertz;
        v->channels = i->audio_channel_count > 0 ? i->audio_channel_count : 1;
    }
    /* what the config leaves unset comes from the pipeline, then the server's settings */
    const struct pl_dlg_pipeline *p = c->pipe;
    v->asr_model = pl_strdup(i && i->asr_model && *i->asr_model ? i->asr_model
                             : p ? p->asr.model : "");
    v->language = p ? p->asr.language_code : "en-US";
    v->silence_ms = p ? p->asr.silence_ms : 0;
    v->out = o != NULL;
    v->out_enc = o && o->encoding       ? (int)o->encoding
                 : p && p->tts.encoding ? p->tts.encoding
                                        : NVIDIA__RIVA__AUDIO_ENCODING__LINEAR_PCM;
    v->out_rate = o && o->sample_rate_hz       ? o->sample_rate_hz
                  : p && p->tts.sample_rate_hz ? p->tts.sample_rate_hz
                                               : c->s->o.tts_sample_rate;
    v->voice_name = pl_strdup(o && o->voice_name && *o->voice_name ? o->voice_name
                              : p && p->tts.voice[0]               ? p->tts.voice
                                                                   : c->s->tts_voice);
    pl_worker_session_retain(c->ws);
    c->voice = v;
    if (!v->asr_model || !v->voice_name) return PL_ERR(PL_E_NOMEM, "voice");
    if (pthread_create(&v->th, NULL, voice_main, v) != 0)
        return PL_ERR(PL_E_INTERNAL, "voice thread");
    v->th_started = true;
    PL_LOGD("converse %s: voice in=%d (%s) out=%d %s %d Hz barge_in=%d pipeline=%s",
            c->session_id, v->in, v->ptt ? "push-to-talk" : "endpointing", v->out,
            enc_name(v->out_enc), v->out_rate, v->barge_in, p ? p->name : "(none)");
    return PL_OK;
}

pl_status pl__dlg_voice_finish(struct pl__dlg_voice *v) {
    if (v->in) end_utterance(v, false);
    int64_t until = pl_time_mono_us() + v->c->s->o.voice_wait_ms * 1000;
    pthread_mutex_lock(&v->mu);
    for (;;) {
        bool open = false;
        for (struct utt *u = v->utts; u; u = u->next) open |= !u->ended;
        if ((!open && !v->head && !v->busy) || v->fail_st != PL_OK) break;
        if (pl_time_mono_us() >= until) {
            PL_LOGW("converse %s: the last turn did not finish in %lld ms", v->c->session_id,
                    (long long)v->c->s->o.voice_wait_ms);
            break;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 50 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&v->cv, &v->mu, &ts);
    }
    pthread_mutex_unlock(&v->mu);
    return failed(v);
}

void pl__dlg_voice_destroy(struct pl__dlg_voice *v) {
    if (!v) return;
    pthread_mutex_lock(&v->mu);
    v->quit = true;
    v->cur = NULL;
    v->playing_until_us = 0; /* nothing to tell a client that is gone or done */
    pthread_cond_broadcast(&v->cv);
    pthread_mutex_unlock(&v->mu);
    interrupt(v, REASON_CONTROL); /* a reply being spoken stops at once */
    /* ASR streams: destroying cancels them; their callbacks may wait for v->mu meanwhile */
    for (;;) {
        pthread_mutex_lock(&v->mu);
        struct utt *u = v->utts;
        if (u) v->utts = u->next;
        pthread_mutex_unlock(&v->mu);
        if (!u) break;
        pl_nrpc_stream_destroy(u->st);
        pl_free(u->text);
        pl_free(u);
    }
    if (v->th_started) pthread_join(v->th, NULL);
    for (struct job *j = v->head, *n; j; j = n) {
        n = j->next;
        pl_free(j->text);
        pl_free(j);
    }
    pl_worker_session_release(v->c->ws);
    pthread_mutex_destroy(&v->mu);
    pthread_cond_destroy(&v->cv);
    pl_free(v->hdr);
    pl_free(v->asr_model);
    pl_free(v->voice_name);
    pl_free(v);
}
