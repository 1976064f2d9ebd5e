/*
 * dialog_voice_asr.c - a Converse stream's audio in (dialog_svc.h, dialog_voice_impl.h): the
 * user's audio through parley-asr streaming, speech events, endpointing, and the answer to an
 * END_OF_UTTERANCE over audio without words. The replies, barge-in and the voice thread are
 * in dialog_voice.c.
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
 * turns before it) EVENT_NO_SPEECH and TURN_COMPLETE with turn 0. No turn runs and no reply
 * is said; the NO_SPEECH event is stored in the session's log. Silence in hands-free mode
 * without END_OF_UTTERANCE gives nothing at all, and neither does the half-close.
 */
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "audio.h"
#include "dialog_voice_impl.h"
#include "log.h"
#include "nrpc.h"
#include "nrpc_worker.h"
#include "parley/dialog/v1/dialog.pb-c.h"
#include "proto_util.h"
#include "riva/proto/riva_asr.pb-c.h"
#include "util.h"

#define HEADER_MAX 8192        /* bytes to look for a WAV header in */
#define ASR_RETRY_US 1000000   /* after an ASR failure, audio dropped this long */
#define PTT_STOP_HISTORY 60000 /* ms: push-to-talk's stop window (the endpointer's maximum) */
/* ---- ASR ------------------------------------------------------------------------------------ */

static void speech_started(struct pl__dlg_voice *v, struct utt *u, float at_s) {
    if (u->speech) return;
    u->speech = true;
    char t[32];
    snprintf(t, sizeof t, "%.2f", at_s);
    const char *attrs[] = {"audio_s", t, NULL};
    pl__dlgvoice_event(v, PARLEY__DIALOG__V1__EVENT_TYPE__EVENT_SPEECH_STARTED,
                       "speech started", attrs);
    if (v->barge_in) pl__dlgvoice_interrupt(v, REASON_SPEECH);
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
    pl__dlgvoice_event(v, PARLEY__DIALOG__V1__EVENT_TYPE__EVENT_END_OF_UTTERANCE,
                       "end of utterance (signalled)", NULL);
    if (pl__dlgvoice_push_no_speech(v, ms, speech) != PL_OK) PL_LOGE("%s", pl_last_error());
}

/* ---- end of turn --------------------------------------------------------------------------- */

#define TONE_S 2 /* seconds of input audio kept for the tone */

/* Keep the latest input audio (whole frames, the input's layout) for the tone, mono (handler
 * thread). Nothing when the tone is not used; a failure only leaves the tone unknown. */
static void tone_keep(struct pl__dlg_voice *v, const uint8_t *data, size_t n) {
    if (!v->eot_tone || v->in_rate <= 0) return;
    if (!v->tone) {
        v->n_tone = (size_t)v->in_rate * TONE_S;
        v->tone = pl_calloc(v->n_tone, sizeof *v->tone);
        if (!v->tone) return;
    }
    struct pl_audio *a = NULL;
    size_t used = 0;
    if (pl_audio_decode_frames(data, n, &v->in_fmt, &a, &used) != PL_OK) return;
    int ch = a->channels;
    for (size_t i = 0; i < a->n_frames; i++) {
        float s = 0;
        for (int c = 0; c < ch; c++) s += a->samples[i * (size_t)ch + (size_t)c];
        v->tone[v->tone_at++] = s / (float)ch;
        if (v->tone_at == v->n_tone) {
            v->tone_at = 0;
            v->tone_full = true;
        }
    }
    pl_audio_destroy(a);
}

/* The tone of the kept audio (handler thread): false when unknown. */
static bool tone_measure(struct pl__dlg_voice *v, struct pl_dlg_eot_prosody *p) {
    memset(p, 0, sizeof *p);
    if (!v->tone) return false;
    size_t n = v->tone_full ? v->n_tone : v->tone_at;
    float *x = pl_malloc((n ? n : 1) * sizeof *x);
    if (!x) return false;
    size_t old = v->tone_full ? v->n_tone - v->tone_at : 0; /* oldest first */
    if (old) memcpy(x, v->tone + v->tone_at, old * sizeof *x);
    memcpy(x + old, v->tone, v->tone_at * sizeof *x);
    bool ok = pl_dlg_eot_prosody(x, n, v->in_rate, p);
    pl_free(x);
    return ok;
}

/* v->mu held: forget the words at the last pause. */
static void pause_clear(struct pl__dlg_voice *v) {
    pl_free(v->eot_text);
    pl_free(v->eot_base);
    v->eot_text = v->eot_base = NULL;
    v->eot_utt = NULL;
    v->eot_judged = false;
    v->eot_seq++;
}

/* An interim of u (NATS thread): one with stability 1 is parley-asr's first pass, sent after
 * the short pause (stop_history_eou = eot_ms): its words wait for the handler thread's check.
 * They are computed apart from the streamed interims, which go on during the pause with the
 * same streamed words; a streamed interim that differs from the one before the pause means
 * the speech went on: the pause is forgotten. */
static void note_interim(struct pl__dlg_voice *v, struct utt *u, const char *text, float stab) {
    if (!v->eot_ms || !*text) return;
    pthread_mutex_lock(&v->mu);
    if (stab >= 0.999f) {
        pause_clear(v);
        v->eot_text = pl_strdup(text);
        v->eot_base = pl_strdup(v->last_interim ? v->last_interim : "");
        v->eot_utt = v->eot_text && v->eot_base ? u : NULL;
        if (!v->eot_utt) pause_clear(v);
    } else {
        if (v->eot_text && (v->eot_utt != u || strcmp(v->eot_base, text))) pause_clear(v);
        char *t = pl_strdup(text);
        if (t) {
            pl_free(v->last_interim);
            v->last_interim = t;
        }
    }
    pthread_mutex_unlock(&v->mu);
}

/* End utterance u now because its words end the turn: half-close its ASR stream as
 * END_OF_UTTERANCE does (parley-asr answers with the final at once); the next audio opens a
 * new stream. Nothing when u no longer takes audio. */
static void end_early(struct pl__dlg_voice *v, struct utt *u) {
    pthread_mutex_lock(&v->mu);
    bool ok = v->cur == u && !u->ended;
    if (ok) {
        v->cur = NULL;
        u->eou_us = pl_time_mono_us();
        u->early = true;
    }
    pthread_mutex_unlock(&v->mu);
    if (ok) pl_nrpc_stream_close_send(u->st);
}

void pl__dlgvoice_end_of_turn(struct pl__dlg_voice *v) {
    pthread_mutex_lock(&v->mu);
    bool due = v->eot_text && !v->eot_judged;
    char *text = due ? pl_strdup(v->eot_text) : NULL;
    struct utt *u = v->eot_utt;
    uint64_t seq = v->eot_seq;
    bool awaiting = v->awaiting;
    if (due) v->eot_judged = true;
    pthread_mutex_unlock(&v->mu);
    if (!text) return;
    int64_t t0 = pl_time_mono_us();
    float score = -1.0f;
    struct pl_dlg_eot_prosody tone;
    bool toned = tone_measure(v, &tone);
    enum pl_dlg_eot_tone tn = toned ? pl_dlg_eot_tone_of(&tone, v->eot_fall_slope,
                                                         v->eot_rise_slope)
                                    : PL_DLG_EOT_TONE_UNKNOWN;
    enum pl_dlg_eot_verdict d = pl_dlg_eot_judge_tone(text, awaiting, tn, score, v->eot_conf);
    bool classifier = v->eot_model && *v->eot_model;
    float need = classifier ? v->eot_complete : v->eot_conf;
    if (d == PL_DLG_EOT_ASK_NLU) {
        struct pl__dlg_conv *c = v->c;
        const struct pl_worker_ctx *ctx = pl_worker_session_ctx(c->ws);
        if (classifier)
            score = pl__dlgsvc_complete_score(c->s, v->eot_model, text,
                                              ctx ? ctx->deadline_us : 0);
        else if (pl__dlgsvc_intent_score(c->s, c->pipe, c->user, c->session_id, text,
                                         ctx ? ctx->deadline_us : 0, &score) != PL_OK)
            PL_LOGW("converse %s: end of turn: %s", c->session_id, pl_last_error());
        d = pl_dlg_eot_judge_tone(text, awaiting, tn, score, need);
        if (d == PL_DLG_EOT_ASK_NLU) d = PL_DLG_EOT_WAIT_INTENT; /* no score: the words wait */
    }
    pthread_mutex_lock(&v->mu);
    bool same = seq == v->eot_seq; /* no words since: the pause goes on */
    pthread_mutex_unlock(&v->mu);
    bool end = same && (d == PL_DLG_EOT_END_INTENT || d == PL_DLG_EOT_END_ANSWER ||
                        d == PL_DLG_EOT_END_TONE);
    char tl[160] = "";
    if (v->tone)
        snprintf(tl, sizeof tl,
                 " tone %s (end %+.1f st from %.0f Hz, slope %+.0f st/s, %d voiced, "
                 "energy %+.0f dB/s, pause %.0f ms)",
                 tn == PL_DLG_EOT_TONE_FALLS   ? "falls"
                 : tn == PL_DLG_EOT_TONE_RISES ? "rises"
                 : tn == PL_DLG_EOT_TONE_LEVEL ? "level"
                                               : "unknown",
                 (double)tone.f0_end_rel_st, (double)tone.f0_median_hz,
                 (double)tone.f0_slope_st, tone.voiced, (double)tone.energy_slope_db,
                 (double)tone.pause_s * 1000.0);
    PL_LOGI("converse %s: end of turn after %d ms: \"%s\" %s %.3f%s: %s%s (%.1f ms)",
            v->c->session_id, v->eot_ms, text, classifier ? "complete" : "intent", (double)score,
            tl,
            classifier && d == PL_DLG_EOT_END_INTENT    ? "end: the words are complete"
            : classifier && d == PL_DLG_EOT_WAIT_INTENT ? "wait: the words are not complete"
                                                        : pl_dlg_eot_verdict_name(d),
            same ? "" : ", but the speech went on", (double)(pl_time_mono_us() - t0) / 1000.0);
    pl_free(text);
    if (end) end_early(v, u);
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
            note_interim(v, u, text, res->stability);
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
        if (v->eot_utt == u) pause_clear(v);
        pl_free(v->last_interim); /* the next utterance's streamed words start afresh */
        v->last_interim = NULL;
        pthread_mutex_unlock(&v->mu);
        send_transcript(v, text, true, 0, a->confidence, res->audio_processed);
        pl__dlgvoice_event(v, PARLEY__DIALOG__V1__EVENT_TYPE__EVENT_END_OF_UTTERANCE,
                           u->early     ? "end of utterance (end of turn)"
                           : u->eou_us ? "end of utterance (signalled)"
                                       : "end of utterance (detected)",
                           NULL);
        if (!*text) continue;
        if (!v->ptt) {
            if (pl__dlgvoice_push_job(v, text, now, u->eou_us) != PL_OK)
                PL_LOGE("%s", pl_last_error());
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
        pl__dlgvoice_service_error(v, "parley-asr", "streaming_recognize", code, message);
    bool ptt_words = v->ptt && u->text && *u->text;
    if (ptt_words && pl__dlgvoice_push_job(v, u->text, pl_time_mono_us(), u->eou_us) != PL_OK)
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
            if (v->eot_utt == u) pause_clear(v);
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

static pl_status send_asr(struct pl_nrpc_stream *st,
                          const Nvidia__Riva__Asr__StreamingRecognizeRequest *rq) {
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
    } else if (v->silence_ms > 0 || v->eot_ms > 0) {
        if (v->silence_ms > 0) { /* the pipeline's or dialog.endpointing_silence_ms */
            ec._stop_history_case =
                NVIDIA__RIVA__ASR__ENDPOINTING_CONFIG___STOP_HISTORY_STOP_HISTORY;
            ec.stop_history = v->silence_ms;
        }
        /* the first pass (EOU): after the end-of-turn pause (its stability-1 interim is what
         * the check judges), never later than the end; parley-asr's own 240 ms otherwise */
        int eou = v->eot_ms > 0 ? v->eot_ms : v->silence_ms < 240 ? v->silence_ms : 0;
        if (v->silence_ms > 0 && eou > v->silence_ms) eou = v->silence_ms;
        if (eou > 0) {
            ec._stop_history_eou_case =
                NVIDIA__RIVA__ASR__ENDPOINTING_CONFIG___STOP_HISTORY_EOU_STOP_HISTORY_EOU;
            ec.stop_history_eou = eou;
        }
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
        v->in_fmt.container = PL_AUDIO_CONTAINER_NONE;
        v->in_fmt.encoding = (enum pl_audio_encoding)enc;
        v->in_fmt.sample_rate = v->rate;
        v->in_fmt.channels = v->channels > 0 ? v->channels : 1;
        v->in_fmt.bits = enc == NVIDIA__RIVA__AUDIO_ENCODING__LINEAR_PCM ? 16 : 8;
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
        v->in_fmt = info;
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
    PL_TRY(pl__dlgvoice_failed(v));
    reap(v);
    pl__dlgvoice_end_of_turn(v);
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
            pl__dlgvoice_service_error(v, "parley-asr", "streaming_recognize",
                                       PL_GRPC_UNAVAILABLE, pl_last_error());
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
    if (whole) tone_keep(v, buf, whole);
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
void pl__dlgvoice_end_utterance(struct pl__dlg_voice *v, bool signalled) {
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

void pl__dlgvoice_asr_destroy_all(struct pl__dlg_voice *v) {
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
}
