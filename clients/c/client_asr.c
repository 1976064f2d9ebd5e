/*
 * client_asr.c - libparley-client: Recognize and StreamingRecognize (parley/client.h).
 */
#include <string.h>

#include "alloc.h"
#include "client_impl.h"
#include "riva/proto/riva_asr.pb-c.h"

#define RECOGNIZE "/nvidia.riva.asr.RivaSpeechRecognition/Recognize"
#define STREAMING "/nvidia.riva.asr.RivaSpeechRecognition/StreamingRecognize"

static void fill_config(const struct pl_client_asr_config *cfg,
                        Nvidia__Riva__Asr__RecognitionConfig *rc) {
    static const struct pl_client_asr_config defaults = {0};
    if (!cfg) cfg = &defaults;
    nvidia__riva__asr__recognition_config__init(rc);
    rc->encoding = (Nvidia__Riva__AudioEncoding)pl__client_encoding(cfg->encoding);
    rc->sample_rate_hertz = cfg->sample_rate_hz;
    rc->audio_channel_count = cfg->channels;
    rc->language_code = (char *)(cfg->language ? cfg->language : "en-US");
    rc->model = (char *)(cfg->model ? cfg->model : "");
    rc->max_alternatives = 1;
    rc->enable_automatic_punctuation = cfg->punctuation;
    rc->enable_word_time_offsets = cfg->word_offsets;
}

/* r from the best alternative al; words into w (al->n_words of them). */
static void fill_result(const Nvidia__Riva__Asr__SpeechRecognitionAlternative *al,
                        struct pl_client_word *w, struct pl_client_asr_result *r) {
    memset(r, 0, sizeof *r);
    r->is_final = true;
    if (!al) {
        r->transcript = "";
        return;
    }
    r->transcript = al->transcript;
    r->confidence = al->confidence;
    for (size_t i = 0; i < al->n_words; i++) {
        w[i].word = al->words[i]->word;
        w[i].start_ms = al->words[i]->start_time;
        w[i].end_ms = al->words[i]->end_time;
        w[i].confidence = al->words[i]->confidence;
    }
    r->words = al->n_words ? w : NULL;
    r->n_words = al->n_words;
}

static const Nvidia__Riva__Asr__SpeechRecognitionAlternative *
best(Nvidia__Riva__Asr__SpeechRecognitionAlternative **v, size_t n) {
    return n ? v[0] : NULL;
}

pl_status pl_client_recognize(struct pl_client *c, const struct pl_client_asr_config *cfg,
                              const void *audio, size_t n, struct pl_client_transcript **out) {
    if (!out) return pl__client_fail(PL_E_INVALID_ARG, "Recognize: out is NULL");
    *out = NULL;
    if (!c || (!audio && n))
        return pl__client_fail(PL_E_INVALID_ARG, "Recognize: no client or audio");
    Nvidia__Riva__Asr__RecognitionConfig rc;
    fill_config(cfg, &rc);
    Nvidia__Riva__Asr__RecognizeRequest rq = NVIDIA__RIVA__ASR__RECOGNIZE_REQUEST__INIT;
    rq.config = &rc;
    rq.audio.data = (uint8_t *)audio;
    rq.audio.len = n;
    ProtobufCMessage *m = NULL;
    PL_TRY(pl__client_call(c, RECOGNIZE, &rq.base,
                           &nvidia__riva__asr__recognize_response__descriptor, &m));
    Nvidia__Riva__Asr__RecognizeResponse *r = (void *)m;
    size_t n_words = 0;
    for (size_t i = 0; i < r->n_results; i++) {
        const Nvidia__Riva__Asr__SpeechRecognitionAlternative *al =
            best(r->results[i]->alternatives, r->results[i]->n_alternatives);
        n_words += al ? al->n_words : 0;
    }
    struct pl_client_transcript *t = pl_calloc(1, sizeof *t);
    struct pl_client_asr_result *res = pl_calloc(r->n_results ? r->n_results : 1, sizeof *res);
    struct pl_client_word *w = pl_calloc(n_words ? n_words : 1, sizeof *w);
    if (!t || !res || !w) {
        pl_free(t);
        pl_free(res);
        pl_free(w);
        pl_proto_free(m);
        return pl__client_fail(PL_E_NOMEM, "Recognize: out of memory");
    }
    size_t k = 0;
    for (size_t i = 0; i < r->n_results; i++) {
        const Nvidia__Riva__Asr__SpeechRecognitionAlternative *al =
            best(r->results[i]->alternatives, r->results[i]->n_alternatives);
        fill_result(al, w + k, &res[i]);
        res[i].audio_processed_s = r->results[i]->audio_processed;
        res[i].channel = r->results[i]->channel_tag;
        k += al ? al->n_words : 0;
    }
    if (n_words == 0) pl_free(w); /* else it is the first result with words' array */
    t->results = res;
    t->n_results = r->n_results;
    t->priv = m;
    *out = t;
    return PL_OK;
}

void pl_client_transcript_destroy(struct pl_client_transcript *t) {
    if (!t) return;
    for (size_t i = 0; i < t->n_results; i++)
        if (t->results[i].words) {
            pl_free((void *)t->results[i].words); /* one block, from the first result with words */
            break;
        }
    pl_free(t->results);
    pl_proto_free(t->priv);
    pl_free(t);
}

/* ------------------------------------------------------------------ streaming */

static pl_status asr_on_message(struct pl_client_stream *s, grpc_byte_buffer *bb) {
    ProtobufCMessage *m = NULL;
    if (pl__rpc_unpack(bb, &nvidia__riva__asr__streaming_recognize_response__descriptor, &m) !=
        PL_OK)
        return pl__client_fail(PL_E_FORMAT, "%s: bad response: %s", s->rpc_name, pl_last_error());
    Nvidia__Riva__Asr__StreamingRecognizeResponse *r = (void *)m;
    pl_status st = PL_OK;
    for (size_t i = 0; i < r->n_results && st == PL_OK; i++) {
        const Nvidia__Riva__Asr__StreamingRecognitionResult *sr = r->results[i];
        const Nvidia__Riva__Asr__SpeechRecognitionAlternative *al =
            best(sr->alternatives, sr->n_alternatives);
        struct pl_client_word *w = NULL;
        if (al && al->n_words && !(w = pl_calloc(al->n_words, sizeof *w))) {
            st = pl__client_fail(PL_E_NOMEM, "%s: out of memory", s->rpc_name);
            break;
        }
        struct pl_client_asr_result res;
        fill_result(al, w, &res);
        res.is_final = sr->is_final;
        res.stability = sr->stability;
        res.audio_processed_s = sr->audio_processed;
        res.channel = sr->channel_tag;
        if (((pl_client_asr_cb)s->cb)(s->ud, &res) != 0) st = pl__client_cb_cancel(s);
        pl_free(w);
    }
    pl_proto_free(m);
    return st;
}

static pl_status asr_send_audio(struct pl_client_stream *s, const void *audio, size_t n) {
    Nvidia__Riva__Asr__StreamingRecognizeRequest rq =
        NVIDIA__RIVA__ASR__STREAMING_RECOGNIZE_REQUEST__INIT;
    rq.streaming_request_case =
        NVIDIA__RIVA__ASR__STREAMING_RECOGNIZE_REQUEST__STREAMING_REQUEST_AUDIO_CONTENT;
    rq.audio_content.data = (uint8_t *)audio;
    rq.audio_content.len = n;
    return pl__client_stream_send(s, &rq.base);
}

static const struct pl_client_stream_i asr_iface = {
    .send_audio = asr_send_audio,
    .on_message = asr_on_message,
};

pl_status pl_client_recognize_stream_open(struct pl_client *c,
                                          const struct pl_client_asr_config *cfg,
                                          pl_client_asr_cb cb, void *ud,
                                          struct pl_client_stream **out) {
    if (!out) return pl__client_fail(PL_E_INVALID_ARG, "StreamingRecognize: out is NULL");
    *out = NULL;
    if (!c || !cb)
        return pl__client_fail(PL_E_INVALID_ARG, "StreamingRecognize: no client or callback");
    Nvidia__Riva__Asr__RecognitionConfig rc;
    fill_config(cfg, &rc);
    Nvidia__Riva__Asr__StreamingRecognitionConfig sc =
        NVIDIA__RIVA__ASR__STREAMING_RECOGNITION_CONFIG__INIT;
    sc.config = &rc;
    sc.interim_results = cfg && cfg->interim_results;
    Nvidia__Riva__Asr__StreamingRecognizeRequest rq =
        NVIDIA__RIVA__ASR__STREAMING_RECOGNIZE_REQUEST__INIT;
    rq.streaming_request_case =
        NVIDIA__RIVA__ASR__STREAMING_RECOGNIZE_REQUEST__STREAMING_REQUEST_STREAMING_CONFIG;
    rq.streaming_config = &sc;
    return pl__client_stream_open(c, STREAMING, &asr_iface, &rq.base, (void *)cb, ud, out);
}

static uint32_t le(const uint8_t *p, int n) {
    uint32_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

/* Where a WAV's samples start and its bytes per second; 0 when a is not a WAV we can read. */
static size_t wav_layout(const uint8_t *a, size_t n, double *bytes_per_s) {
    if (n < 12 || memcmp(a, "RIFF", 4) || memcmp(a + 8, "WAVE", 4)) return 0;
    for (size_t off = 12; off + 8 <= n;) {
        uint32_t len = le(a + off + 4, 4);
        if (!memcmp(a + off, "fmt ", 4) && len >= 16 && off + 24 <= n)
            *bytes_per_s = (double)le(a + off + 16, 4); /* byte rate */
        if (!memcmp(a + off, "data", 4)) return *bytes_per_s > 0 ? off + 8 : 0;
        off += 8 + (size_t)len + (len & 1);
    }
    return 0;
}

pl_status pl_client_recognize_streaming(struct pl_client *c,
                                        const struct pl_client_asr_config *cfg,
                                        const void *audio, size_t n, int chunk_ms,
                                        pl_client_asr_cb cb, void *ud) {
    if (!audio && n) return pl__client_fail(PL_E_INVALID_ARG, "StreamingRecognize: no audio");
    if (chunk_ms <= 0) chunk_ms = 100;
    double bps = 0;
    size_t header = wav_layout(audio, n, &bps);
    if (!header) {
        if (!cfg || cfg->sample_rate_hz <= 0 || cfg->encoding == PL_CLIENT_ENC_AUTO)
            return pl__client_fail(PL_E_INVALID_ARG,
                                   "StreamingRecognize: the audio is not a WAV file; raw audio "
                                   "needs encoding and sample_rate_hz");
        int width = cfg->encoding == PL_CLIENT_ENC_LINEAR16 ? 2 : 1;
        bps = (double)cfg->sample_rate_hz * (cfg->channels > 0 ? cfg->channels : 1) * width;
    }
    size_t chunk = (size_t)(bps * chunk_ms / 1000.0);
    if (chunk < 2) chunk = 2;
    chunk &= ~(size_t)1;
    struct pl_client_stream *s = NULL;
    PL_TRY(pl_client_recognize_stream_open(c, cfg, cb, ud, &s));
    pl_status st = PL_OK;
    for (size_t off = 0; off < n && st == PL_OK;) {
        size_t k = off == 0 ? header + chunk : chunk;
        if (k > n - off) k = n - off;
        st = pl_client_stream_send_audio(s, (const uint8_t *)audio + off, k);
        off += k;
    }
    pl_status fin = pl_client_stream_finish(s);
    pl_client_stream_destroy(s);
    return fin != PL_OK ? fin : st;
}
