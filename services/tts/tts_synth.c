/*
 * tts_synth.c - synthesis for parley-tts: Synthesize and SynthesizeOnline (tts.h).
 *
 * Every request runs the same path: the front end's sentences, one at a time, through
 * pl_tts_voice_synth, whose callback hands over blocks of samples at the voice's rate as the
 * vocoder makes them. Each block goes through a streaming resampler to the request's rate
 * (pl_resampler: the blocks join with no seam) and is encoded:
 *   LINEAR_PCM  s16le, MULAW / ALAW  one byte a sample: raw formats, so blocks simply
 *               concatenate;
 *   OGGOPUS     one Ogg/Opus stream per request (tts_opus.c), its pages sent as they are
 *               complete: SynthesizeOnline's responses of one request concatenate into one
 *               stream, several requests into a chained Ogg file (RFC 3533 §4). Opus codes
 *               8/12/16/24/48 kHz, so the audio is made at the first of these at or above the
 *               request's rate (44100 -> 48000), the rate the decoder reports.
 *
 * Synthesize keeps the encoded bytes and answers once, with meta {text, processed_text,
 * predicted_durations}. SynthesizeOnline sends a response per block as soon as it exists;
 * the first response of each request carries meta.text and meta.processed_text, and the last
 * (the resampler's tail, possibly no audio) carries meta.predicted_durations of the request.
 * Requests on one stream are answered in order, one after the other.
 *
 * predicted_durations: seconds per input symbol (phones and pauses) of every sentence, in
 * order, as the voice reports them.
 */
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "log.h"
#include "proto_util.h"
#include "tts_service_impl.h"
#include "util.h"

/* Where a request's audio goes. */
struct sink {
    const struct pl__tts_job *job;
    struct pl_resampler *rs; /* NULL: the voice's rate is the request's */
    struct pl__tts_opus *opus; /* OGGOPUS: the request's Ogg stream */
    float *pcm;              /* resampled samples not yet encoded */
    size_t n_pcm, cap_pcm;
    uint8_t *bytes; /* Synthesize: the encoded audio so far */
    size_t n_bytes, cap_bytes;
    struct pl_worker_session *sess; /* SynthesizeOnline; NULL for Synthesize */
    bool meta_sent;                 /* SynthesizeOnline: the first response went out */
    int64_t deadline_us;            /* 0 = none */
    bool expired, cancelled;
    pl_status err; /* a failure inside the callback */
    float *dur;    /* predicted durations of all sentences */
    size_t n_dur, cap_dur;
    size_t n_samples; /* samples at the request's rate */
};

static bool grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return true;
    size_t c = *cap ? *cap : 4096;
    while (c < need) c *= 2;
    void *q = pl_realloc(*p, c * elem);
    if (!q) return false;
    *p = q;
    *cap = c;
    return true;
}

static pl_status push_pcm(struct sink *k, const float *x, size_t n) {
    if (n == 0) return PL_OK; /* the resampler may hold everything back (x NULL) */
    if (!grow((void **)&k->pcm, &k->cap_pcm, k->n_pcm + n, sizeof *k->pcm))
        return PL_ERR(PL_E_NOMEM, "tts: audio buffer");
    memcpy(k->pcm + k->n_pcm, x, n * sizeof *x);
    k->n_pcm += n;
    k->n_samples += n;
    return PL_OK;
}

/* Encode pcm[0..n) in the job's encoding (last: the request's audio ends here). OUT: *out
 * (caller owns, pl_free), *len. */
static pl_status encode(struct sink *k, const float *pcm, size_t n, bool last, uint8_t **out,
                        size_t *len) {
    const struct pl__tts_job *job = k->job;
    *out = NULL;
    *len = 0;
    if (job->enc == PL_AUDIO_ENC_OGGOPUS) return pl__tts_opus_write(k->opus, pcm, n, last, out, len);
    if (n == 0) return PL_OK;
    size_t bps = job->enc == PL_AUDIO_ENC_LINEAR_PCM ? 2 : 1;
    uint8_t *b = pl_malloc(n * bps + 1);
    if (!b) return PL_ERR(PL_E_NOMEM, "tts: encoded audio");
    if (job->enc == PL_AUDIO_ENC_LINEAR_PCM) {
        int16_t *s16 = (int16_t *)(void *)b;
        pl_audio_float_to_s16(pcm, n, s16);
        /* s16le on the wire; the hosts Parley builds for are little-endian */
    } else if (job->enc == PL_AUDIO_ENC_MULAW) {
        pl_g711_float_to_mulaw(pcm, n, b);
    } else {
        pl_g711_float_to_alaw(pcm, n, b);
    }
    *out = b;
    *len = n * bps;
    return PL_OK;
}

/* SynthesizeOnline: one response with audio (may be empty), the first one of a request with
 * text and processed_text, the last with the durations. */
static pl_status send_response(struct sink *k, const uint8_t *audio, size_t n, bool last) {
    Nvidia__Riva__Tts__SynthesizeSpeechResponse r = NVIDIA__RIVA__TTS__SYNTHESIZE_SPEECH_RESPONSE__INIT;
    Nvidia__Riva__Tts__SynthesizeSpeechResponseMetadata m =
        NVIDIA__RIVA__TTS__SYNTHESIZE_SPEECH_RESPONSE_METADATA__INIT;
    r.audio.data = (uint8_t *)audio;
    r.audio.len = n;
    if (!k->meta_sent || last) {
        if (!k->meta_sent) {
            m.text = (char *)k->job->text;
            m.processed_text = k->job->res->normalized ? k->job->res->normalized : (char *)"";
        }
        if (last) {
            m.n_predicted_durations = k->n_dur;
            m.predicted_durations = k->dur;
        }
        r.meta = &m;
        k->meta_sent = true;
    }
    uint8_t *buf = NULL;
    size_t len = 0;
    PL_TRY(pl_proto_pack(&r.base, &buf, &len));
    pl_status st = pl_worker_session_send(k->sess, buf, len);
    pl_free(buf);
    if (st == PL_E_CANCELLED) k->cancelled = true;
    return st;
}

/* Hand the pending samples on, encoded: SynthesizeOnline sends them, Synthesize appends them
 * to its answer (2 bytes a sample or less rather than 4). */
static pl_status drain(struct sink *k, bool last) {
    if (k->n_pcm == 0 && !last) return PL_OK;
    uint8_t *b = NULL;
    size_t n = 0;
    PL_TRY(encode(k, k->pcm, k->n_pcm, last, &b, &n));
    k->n_pcm = 0;
    pl_status st = PL_OK;
    if (k->sess && n == 0 && !last) {
        /* Opus keeps a partial 20 ms packet back: nothing to send yet */
    } else if (k->sess) {
        st = send_response(k, b, n, last);
    } else if (!grow((void **)&k->bytes, &k->cap_bytes, k->n_bytes + n, 1)) {
        st = PL_ERR(PL_E_NOMEM, "tts: audio");
    } else {
        if (n) memcpy(k->bytes + k->n_bytes, b, n);
        k->n_bytes += n;
    }
    pl_free(b);
    return st;
}

/* The voice's callback: a block of samples at the voice's rate. */
static int on_pcm(void *ud, const float *pcm, size_t n) {
    struct sink *k = ud;
    if (k->deadline_us && pl_time_mono_us() >= k->deadline_us) {
        k->expired = true;
        return 1;
    }
    pl_status st = PL_OK;
    if (k->rs) {
        const float *o = NULL;
        size_t no = 0;
        st = pl_resampler_process(k->rs, pcm, n, &o, &no);
        if (st == PL_OK) st = push_pcm(k, o, no);
    } else {
        st = push_pcm(k, pcm, n);
    }
    if (st == PL_OK) st = drain(k, false);
    if (st != PL_OK) {
        if (!k->cancelled) k->err = st;
        return 1;
    }
    return 0;
}

static void sink_deinit(struct sink *k) {
    pl_resampler_destroy(k->rs);
    pl__tts_opus_destroy(k->opus);
    pl_free(k->pcm);
    pl_free(k->bytes);
    pl_free(k->dur);
}

/*
 * Speak every sentence of job into k, then flush the resampler and drain the rest.
 * Returns PL_OK; PL_E_TIMEOUT (the deadline passed); PL_E_CANCELLED (the stream's client went
 * away); the voice's, resampler's or encoder's errors.
 */
static pl_status run(const struct pl_tts_service *s, const struct pl__tts_job *job,
                     struct sink *k) {
    int vrate = pl_tts_voice_sample_rate(job->voice);
    if (vrate != job->rate) PL_TRY(pl_resampler_create(vrate, job->rate, 1, &k->rs));
    if (job->enc == PL_AUDIO_ENC_OGGOPUS) PL_TRY(pl__tts_opus_create(job->rate, &k->opus));
    struct pl_tts_synth_opts so = {.chunk_frames = s->o.chunk_frames};
    const struct pl_tts_result *r = job->res;
    for (size_t i = 0; i < r->n_sentences; i++) {
        struct pl_tts_synth_info info = {0};
        pl_status st = pl_tts_voice_synth(job->voice, &r->sentences[i], &so, on_pcm, k, &info);
        if (st == PL_OK && info.n_symbols > 0) {
            if (!grow((void **)&k->dur, &k->cap_dur, k->n_dur + info.n_symbols, sizeof *k->dur))
                st = PL_ERR(PL_E_NOMEM, "tts: durations");
            else
                memcpy(k->dur + k->n_dur, info.durations, info.n_symbols * sizeof *k->dur);
            if (st == PL_OK) k->n_dur += info.n_symbols;
        }
        pl_tts_synth_info_free(&info);
        if (k->expired)
            return PL_ERR(PL_E_TIMEOUT, "deadline passed after %zu of %zu sentences", i,
                          r->n_sentences);
        if (k->cancelled) return PL_ERR(PL_E_CANCELLED, "the client went away");
        if (k->err != PL_OK) return k->err;
        if (st != PL_OK) {
            char what[160];
            snprintf(what, sizeof what, "voice %s", pl_tts_voice_name(job->voice));
            return pl__ttssvc_err_prefix(st, what);
        }
    }
    if (k->rs) {
        const float *o = NULL;
        size_t no = 0;
        PL_TRY(pl_resampler_flush(k->rs, &o, &no));
        PL_TRY(push_pcm(k, o, no));
    }
    pl_status st = drain(k, true);
    if (k->cancelled) return PL_ERR(PL_E_CANCELLED, "the client went away");
    return st;
}

/* ---- Synthesize ---------------------------------------------------------------------------- */

pl_status pl__tts_rpc_synthesize(void *ud, const struct pl_worker_ctx *ctx, const uint8_t *req,
                                 size_t n, struct pl_worker_out *out) {
    struct pl_tts_service *s = ud;
    ProtobufCMessage *msg = NULL;
    PL_TRY(pl_proto_unpack(&nvidia__riva__tts__synthesize_speech_request__descriptor, req, n,
                           &msg));
    Nvidia__Riva__Tts__SynthesizeSpeechRequest *rq = (void *)msg;
    struct pl__tts_job job;
    struct sink k;
    memset(&k, 0, sizeof k);
    pl_status st = pl__tts_job_init(s, rq, s->o.max_text_bytes, &job);
    if (st != PL_OK) goto out;
    k.job = &job;
    k.deadline_us = ctx->deadline_us;
    int64_t t0 = pl_time_mono_us();
    st = run(s, &job, &k);
    if (st == PL_OK) {
        Nvidia__Riva__Tts__SynthesizeSpeechResponse r =
            NVIDIA__RIVA__TTS__SYNTHESIZE_SPEECH_RESPONSE__INIT;
        Nvidia__Riva__Tts__SynthesizeSpeechResponseMetadata m =
            NVIDIA__RIVA__TTS__SYNTHESIZE_SPEECH_RESPONSE_METADATA__INIT;
        r.audio.data = k.bytes;
        r.audio.len = k.n_bytes;
        m.text = (char *)job.text;
        m.processed_text = job.res->normalized ? job.res->normalized : (char *)"";
        m.n_predicted_durations = k.n_dur;
        m.predicted_durations = k.dur;
        r.meta = &m;
        r.id = rq->id;
        st = pl_proto_pack(&r.base, &out->data, &out->len);
        double secs = (double)k.n_samples / job.rate;
        PL_LOGD("synthesize: %zu sentences, %.2f s of audio at %d Hz %s in %.1f ms",
                job.res->n_sentences, secs, job.rate, pl_audio_encoding_str(job.enc),
                (double)(pl_time_mono_us() - t0) / 1000.0);
    }
    pl__tts_job_deinit(&job);
out:
    sink_deinit(&k);
    pl_proto_free(msg);
    return st;
}

/* ---- SynthesizeOnline ----------------------------------------------------------------------- */

/* A session has no state beyond the service: each request is a job of its own. */
struct online {
    struct pl_tts_service *s;
    int n_requests;
};

static pl_status online_open(void *ud, struct pl_worker_session *sess,
                             const struct pl_worker_ctx *ctx, void **state) {
    (void)sess;
    (void)ctx;
    struct online *o = pl_calloc(1, sizeof *o);
    if (!o) return PL_ERR(PL_E_NOMEM, "tts stream");
    o->s = ud;
    *state = o;
    return PL_OK;
}

/* One request of the stream: synthesized here, its chunks sent as they come; the next
 * request waits its turn (the runtime runs a session's messages one at a time). */
static pl_status online_message(void *state, struct pl_worker_session *sess, const uint8_t *data,
                                size_t n) {
    struct online *o = state;
    ProtobufCMessage *msg = NULL;
    PL_TRY(pl_proto_unpack(&nvidia__riva__tts__synthesize_speech_request__descriptor, data, n,
                           &msg));
    Nvidia__Riva__Tts__SynthesizeSpeechRequest *rq = (void *)msg;
    struct pl__tts_job job;
    struct sink k;
    memset(&k, 0, sizeof k);
    o->n_requests++;
    pl_status st = pl__tts_job_init(o->s, rq, o->s->o.max_stream_text_bytes, &job);
    if (st != PL_OK) {
        char what[64];
        snprintf(what, sizeof what, "request %d of the stream", o->n_requests);
        st = pl__ttssvc_err_prefix(st, what);
        goto out;
    }
    k.job = &job;
    k.sess = sess;
    k.deadline_us = pl_worker_session_ctx(sess)->deadline_us;
    st = run(o->s, &job, &k);
    pl__tts_job_deinit(&job);
out:
    sink_deinit(&k);
    pl_proto_free(msg);
    return st;
}

static pl_status online_end(void *state, struct pl_worker_session *sess) {
    (void)sess;
    struct online *o = state;
    pl_free(o);
    return PL_OK;
}

static void online_cancel(void *state, struct pl_worker_session *sess) {
    (void)sess;
    pl_free(state);
}

const struct pl_worker_stream_i pl__tts_online_iface = {online_open, online_message, online_end,
                                                        online_cancel};
