/*
 * dialog_voice.c - the voice of a Converse stream (dialog_svc.h): the user's audio through
 * parley-asr (dialog_voice_asr.c), the bot's replies through parley-tts, barge-in. The
 * structures and the threads' rules are in dialog_voice_impl.h.
 *
 * Turns. Final transcripts and text messages queue as jobs for the stream's voice thread,
 * which runs them one at a time (NLU, policy, SQLite commit before the reply), sends
 * NluResult, the turn's events and BotTexts, then speaks the replies and sends TURN_COMPLETE
 * last. A turn that calls out (a webhook, a nats action, the knowledge base) is finished on
 * the action pool like a typed one (no thread waits for its calls) and its outcome comes back
 * here; meanwhile this thread sleeps, so a cancel stops it at once. The half-close defers the
 * stream's end: this thread ends it once the last utterance is recognized and every turn
 * answered (at most voice_wait_ms), so no handler thread waits for them.
 *
 * Audio out. Each reply is one SynthesizeOnline stream on parley-tts (one request, then
 * half-close); every response with audio is sent at once as a BotAudio chunk (encoding and
 * rate as output_audio says); an empty BotAudio with is_last ends the reply. Then
 * EVENT_REPLY_AUDIO_DONE with the latency: from the end of the user's utterance (the final's
 * arrival, or the text message) to the first chunk, and from END_OF_UTTERANCE when there was
 * one; stored in the session's log with the turn before its TURN_COMPLETE is sent.
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
 * service (and the status); the Converse stream goes on. After an ASR failure the audio of the
 * next second is dropped (no error per chunk), then a new ASR stream is tried. A reply that
 * could not be spoken was still committed and sent as BotText.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "audio.h"
#include "dialog_voice_impl.h"
#include "log.h"
#include "nrpc.h"
#include "nrpc_worker.h"
#include "parley/dialog/v1/dialog.pb-c.h"
#include "proto_util.h"
#include "riva/proto/riva_tts.pb-c.h"
#include "util.h"

/* ---- config ------------------------------------------------------------------------------- */

static bool raw_enc(int e) {
    return e == NVIDIA__RIVA__AUDIO_ENCODING__LINEAR_PCM ||
           e == NVIDIA__RIVA__AUDIO_ENCODING__MULAW || e == NVIDIA__RIVA__AUDIO_ENCODING__ALAW;
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
pl_status pl__dlgvoice_failed(struct pl__dlg_voice *v) {
    pthread_mutex_lock(&v->mu);
    pl_status st = v->fail_st;
    char msg[sizeof v->fail_msg];
    snprintf(msg, sizeof msg, "%s", v->fail_msg);
    pthread_mutex_unlock(&v->mu);
    return st == PL_OK ? PL_OK : PL_ERR(st, "%s", msg);
}

void pl__dlgvoice_event(struct pl__dlg_voice *v, int type, const char *detail,
                        const char *const *attrs) {
    pl_status st = pl__dlgconv_event(v->c, type, detail, attrs, "", 0);
    if (st != PL_OK && st != PL_E_CANCELLED)
        PL_LOGW("converse: event not sent: %s", pl_last_error());
}

/* A failed call to parley-asr or parley-tts: EVENT_ERROR naming the service, logged once. */
void pl__dlgvoice_service_error(struct pl__dlg_voice *v, const char *svc, const char *rpc,
                                int code, const char *message) {
    bool tts = !strcmp(svc, "parley-tts");
    char d[640];
    snprintf(d, sizeof d, "%s failed: %s %s: %s; %s", svc, rpc, pl_grpc_code_name(code),
             message && *message ? message : "no message",
             tts ? "the reply was sent as text only" : "the audio of this utterance was not "
                                                       "recognized");
    PL_LOGW("converse %s: %s", v->c->session_id, d);
    const char *attrs[] = {"service", svc, "code", pl_grpc_code_name(code), NULL};
    pl__dlgvoice_event(v, PL_DLG_E_ERROR, d, attrs);
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
void pl__dlgvoice_interrupt(struct pl__dlg_voice *v, int reason) {
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

pl_status pl__dlgvoice_push_job(struct pl__dlg_voice *v, const char *text, int64_t end_us,
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
pl_status pl__dlgvoice_push_no_speech(struct pl__dlg_voice *v, int64_t audio_ms, bool speech) {
    struct job *j = pl_calloc(1, sizeof *j);
    if (!j) return PL_ERR(PL_E_NOMEM, "no-speech answer");
    j->no_speech = true;
    j->speech = speech;
    j->audio_ms = audio_ms;
    enqueue(v, j);
    return PL_OK;
}

pl_status pl__dlg_voice_control(struct pl__dlg_voice *v, int kind) {
    PL_TRY(pl__dlgvoice_failed(v));
    switch (kind) {
    case PARLEY__DIALOG__V1__CONTROL_INPUT__KIND__END_OF_UTTERANCE:
        if (v->in) pl__dlgvoice_end_utterance(v, true);
        return PL_OK;
    case PARLEY__DIALOG__V1__CONTROL_INPUT__KIND__INTERRUPT:
        pl__dlgvoice_interrupt(v, REASON_CONTROL);
        return PL_OK;
    default:
        return PL_ERR(PL_E_INVALID_ARG, "control.kind %d is not a ControlInput kind", kind);
    }
}

pl_status pl__dlg_voice_text(struct pl__dlg_voice *v, const char *text) {
    PL_TRY(pl__dlgvoice_failed(v));
    return pl__dlgvoice_push_job(v, text, pl_time_mono_us(), 0);
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
    Nvidia__Riva__Tts__SynthesizeSpeechRequest rq =
        NVIDIA__RIVA__TTS__SYNTHESIZE_SPEECH_REQUEST__INIT;
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
        pl__dlgvoice_service_error(v, "parley-tts", "synthesize_online", code, msg);
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
    if (st != PL_OK) PL_LOGW("converse %s: event not logged: %s", v->c->session_id,
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
 * NO_SPEECH and TURN_COMPLETE (turn 0, no context: no turn ran). The NO_SPEECH event goes
 * to the session's log (turn 0, no context, as sent) before TURN_COMPLETE is sent. */
static void answer_no_speech(struct pl__dlg_voice *v, const struct job *j) {
    char ms[32];
    snprintf(ms, sizeof ms, "%lld", (long long)j->audio_ms);
    const char *speech = j->speech ? "true" : "false";
    PL_LOGI("converse %s: no words in %s ms of audio (speech heard: %s)", v->c->session_id, ms,
            speech);
    const char *attrs[] = {"audio_ms", ms, "speech", speech, NULL};
    const char *detail = j->speech ? "speech was heard but no words were recognized"
                                   : "no speech was heard";
    pl__dlgvoice_event(v, PARLEY__DIALOG__V1__EVENT_TYPE__EVENT_NO_SPEECH, detail, attrs);
    record(v, "", 0,
           pl__dlgsvc_event_json(PARLEY__DIALOG__V1__EVENT_TYPE__EVENT_NO_SPEECH, detail, attrs));
    const char *done[] = {"no_speech", "true", NULL};
    pl__dlgvoice_event(v, PARLEY__DIALOG__V1__EVENT_TYPE__EVENT_TURN_COMPLETE,
                       "turn complete: nothing was heard", done);
}

/* Whether the session's active context waits for the answer to a prompt (a slot or a
 * confirmation): then a short pause after complete words ends the next turn (end of turn). */
static bool awaits_answer(const struct pl_dlg_state *st) {
    const struct pl_dlg_ctx *a = NULL;
    for (int i = 0; st && i < st->n_ctx; i++)
        if (st->ctx[i].state == PL_DLG_CTX_OPEN && (!a || st->ctx[i].activated > a->activated))
            a = &st->ctx[i];
    return a && a->awaiting && a->awaiting[0];
}

/* Wait on v->cv (v->mu held) for at most 50 ms: the end's wait has a deadline. */
static void wait_slice(struct pl__dlg_voice *v) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 50 * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&v->cv, &v->mu, &ts);
}

/* On a pool thread: the spoken turn the voice thread handed to the action pool is finished
 * (or failed): its outcome goes to the voice thread, or is dropped when that stopped waiting. */
static void spoken_done(void *ud, pl_status st, const char *err, struct pl__dlg_turn_result *t) {
    struct pl__dlg_voice *v = ud;
    pthread_mutex_lock(&v->mu);
    bool keep = v->spoken == SPOKEN_WAIT;
    if (keep) {
        v->spoken = SPOKEN_DONE;
        v->spoken_st = st;
        snprintf(v->spoken_err, sizeof v->spoken_err, "%s", err ? err : "");
        v->spoken_t = *t;
        memset(t, 0, sizeof *t);
        pthread_cond_broadcast(&v->cv);
    }
    pthread_mutex_unlock(&v->mu);
    if (!keep) pl__dlg_turn_result_deinit(t);
}

/* Run a spoken turn (voice thread): as far as it goes without calling out of the process
 * here; a turn that must call out (a webhook, a nats action, the knowledge base) goes to the
 * action pool, where no thread waits for its calls, and this thread sleeps until its outcome
 * comes back, the stream stops, or the end's wait (finish_until_us) runs out (*gone: then
 * nothing of the turn is to be sent). *t is the turn (deinit it); *err the message of a
 * failure. */
static pl_status spoken_turn(struct pl__dlg_voice *v, const struct job *j,
                             struct pl__dlg_turn_result *t, char *err, size_t n_err, bool *gone) {
    struct pl__dlg_conv *c = v->c;
    err[0] = '\0';
    *gone = false;
    if (!c->s->pool) { /* action_threads 0: every call out made inline, here */
        pl_status st = pl__dlgsvc_text_turn(c->s, c->pipe, c->user, c->session_id, j->text,
                                            c->deadline_us, t);
        if (st != PL_OK) snprintf(err, n_err, "%s", pl_last_error());
        return st;
    }
    pl_status st = pl__dlgsvc_text_turn_local(c->s, c->pipe, c->user, c->session_id, j->text,
                                              c->deadline_us, t);
    if (st != PL_OK || !t->turn.calls_out) {
        if (st != PL_OK) snprintf(err, n_err, "%s", pl_last_error());
        return st;
    }
    pthread_mutex_lock(&v->mu);
    v->spoken = SPOKEN_WAIT;
    pthread_mutex_unlock(&v->mu);
    st = pl__dlgconv_queue_spoken(c, t, spoken_done, v); /* takes *t */
    pthread_mutex_lock(&v->mu);
    if (st != PL_OK) {
        v->spoken = SPOKEN_NONE;
        pthread_mutex_unlock(&v->mu);
        snprintf(err, n_err, "%s", pl_last_error());
        return st;
    }
    while (v->spoken == SPOKEN_WAIT && !v->quit &&
           !(v->finishing && pl_time_mono_us() >= v->finish_until_us)) {
        if (v->finishing) wait_slice(v);
        else pthread_cond_wait(&v->cv, &v->mu);
    }
    if (v->spoken != SPOKEN_DONE) { /* stopped, or the end's wait ran out: the turn goes on
                                       without us (committed or not, never half) */
        if (!v->quit)
            PL_LOGW("converse %s: the last turn did not finish in %lld ms", c->session_id,
                    (long long)c->s->o.voice_wait_ms);
        v->spoken = SPOKEN_GONE;
        *gone = true;
        pthread_mutex_unlock(&v->mu);
        return PL_ERR(PL_E_CANCELLED, "the stream ended while the turn waited");
    }
    v->spoken = SPOKEN_NONE;
    st = v->spoken_st;
    *t = v->spoken_t;
    memset(&v->spoken_t, 0, sizeof v->spoken_t);
    snprintf(err, n_err, "%s", v->spoken_err);
    pthread_mutex_unlock(&v->mu);
    return st;
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
    struct pl__dlg_turn_result t;
    char err[480];
    bool left;
    pl_status st = spoken_turn(v, j, &t, err, sizeof err, &left);
    if (left) { /* the stream is ending: nothing of the turn is sent */
        pl__dlg_turn_result_deinit(&t);
        return;
    }
    if (st != PL_OK) { /* stored nothing */
        char msg[512];
        pl__dlg_turn_result_deinit(&t);
        if (pl__dlgsvc_ends_stream(st)) {
            fail_stream(v, st, err);
            return;
        }
        snprintf(msg, sizeof msg, "%s: %s", pl_status_str(st), err); /* the stream goes on */
        PL_LOGW("turn failed: %s", msg);
        pl__dlgvoice_event(v, PL_DLG_E_ERROR, msg, NULL);
        return;
    }
    pthread_mutex_lock(&v->mu);
    v->awaiting = awaits_answer(t.state);
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
        if (!gone) /* in the log with the turn, before its TURN_COMPLETE goes out */
            record(v, v->ctx_id, v->turn,
                   pl__dlgsvc_event_json(PARLEY__DIALOG__V1__EVENT_TYPE__EVENT_REPLY_AUDIO_DONE,
                                         "reply audio sent", attrs));
    } else if (spoke) {
        PL_LOGD("converse %s turn %d: no reply audio", c->session_id, v->turn);
    }
    pl__dlgconv_send_turn(c, &t, 2);
    pl__dlg_turn_result_deinit(&t);
}

/* Whether the half-closed stream has everything it is owed (v->mu held): every utterance
 * recognized and every turn answered; or the wait for them ran out (logged). */
static bool finish_due(struct pl__dlg_voice *v) {
    bool open = false;
    for (struct utt *u = v->utts; u; u = u->next) open |= !u->ended;
    if (!open && !v->head) return true;
    if (pl_time_mono_us() < v->finish_until_us) return false;
    PL_LOGW("converse %s: the last turn did not finish in %lld ms", v->c->session_id,
            (long long)v->c->s->o.voice_wait_ms);
    return true;
}

static void *voice_main(void *ud) {
    struct pl__dlg_voice *v = ud;
    const struct pl_worker_ctx *ctx = pl_worker_session_ctx(v->c->ws);
    if (ctx) pl_log_set_request_id(ctx->request_id);
    pthread_mutex_lock(&v->mu);
    while (!v->quit) {
        if (v->finished) { /* the stream's end is sent: wait to be stopped */
            pthread_cond_wait(&v->cv, &v->mu);
            continue;
        }
        if (v->finishing && finish_due(v)) {
            /* the half-close's end, sent from here: no handler thread waited for it */
            v->finished = true;
            pl_status st = v->fail_st;
            char msg[sizeof v->fail_msg];
            snprintf(msg, sizeof msg, "%s", v->fail_msg);
            pthread_mutex_unlock(&v->mu);
            pl__dlgconv_finished(v->c, st, msg);
            pthread_mutex_lock(&v->mu);
            continue;
        }
        struct job *j = v->head;
        if (!j) {
            v->busy = false;
            pthread_cond_broadcast(&v->cv);
            if (v->finishing) wait_slice(v);
            else pthread_cond_wait(&v->cv, &v->mu);
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
    v->silence_ms = p && p->asr.silence_ms > 0 ? p->asr.silence_ms
                                               : c->s->o.endpointing_silence_ms;
    int eot = p && p->asr.eot_silence_ms ? p->asr.eot_silence_ms : c->s->o.eot_silence_ms;
    v->eot_ms = v->ptt || eot < 0 ? 0 : eot;
    v->eot_conf = p && p->asr.eot_min_confidence > 0 ? p->asr.eot_min_confidence
                                                     : c->s->o.eot_min_confidence;
    v->eot_tone = v->eot_ms && (p && p->asr.eot_tone ? p->asr.eot_tone > 0 : c->s->o.eot_tone);
    v->eot_model = p && p->asr.eot_model ? p->asr.eot_model
                   : c->s->o.eot_model   ? c->s->o.eot_model
                                         : "";
    v->eot_complete = p && p->asr.eot_min_complete > 0 ? p->asr.eot_min_complete
                                                       : c->s->o.eot_min_complete;
    v->eot_fall_slope = c->s->o.eot_fall_slope;
    v->eot_rise_slope = c->s->o.eot_rise_slope;
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

pl_status pl__dlg_voice_status(struct pl__dlg_voice *v) {
    return pl__dlgvoice_failed(v);
}

void pl__dlg_voice_finish(struct pl__dlg_voice *v) {
    if (v->in) pl__dlgvoice_end_utterance(v, false);
    pthread_mutex_lock(&v->mu);
    v->finishing = true;
    v->finish_until_us = pl_time_mono_us() + v->c->s->o.voice_wait_ms * 1000;
    pthread_cond_broadcast(&v->cv);
    pthread_mutex_unlock(&v->mu);
}

void pl__dlg_voice_stop(struct pl__dlg_voice *v) {
    if (!v || v->stopped) return;
    v->stopped = true;
    pthread_mutex_lock(&v->mu);
    v->quit = true;
    v->cur = NULL;
    v->playing_until_us = 0; /* nothing to tell a client that is gone or done */
    pthread_cond_broadcast(&v->cv);
    pthread_mutex_unlock(&v->mu);
    pl__dlgvoice_interrupt(v, REASON_CONTROL); /* a reply being spoken stops at once */
    /* ASR streams: destroying cancels them; their callbacks may wait for v->mu meanwhile */
    pl__dlgvoice_asr_destroy_all(v);
    if (v->th_started) pthread_join(v->th, NULL);
    v->th_started = false;
}

void pl__dlg_voice_destroy(struct pl__dlg_voice *v) {
    if (!v) return;
    pl__dlg_voice_stop(v);
    for (struct job *j = v->head, *n; j; j = n) {
        n = j->next;
        pl_free(j->text);
        pl_free(j);
    }
    pl__dlg_turn_result_deinit(&v->spoken_t); /* an outcome that came after the stop */
    pl_worker_session_release(v->c->ws);
    pthread_mutex_destroy(&v->mu);
    pthread_cond_destroy(&v->cv);
    pl_free(v->hdr);
    pl_free(v->asr_model);
    pl_free(v->eot_text);
    pl_free(v->eot_base);
    pl_free(v->last_interim);
    pl_free(v->tone);
    pl_free(v->voice_name);
    pl_free(v);
}
