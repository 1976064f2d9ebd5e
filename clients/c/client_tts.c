/*
 * client_tts.c - libparley-client: Synthesize, SynthesizeOnline and WAV output
 * (parley/client.h).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "client_impl.h"
#include "riva/proto/riva_tts.pb-c.h"

#define SYNTHESIZE "/nvidia.riva.tts.RivaSpeechSynthesis/Synthesize"
#define ONLINE "/nvidia.riva.tts.RivaSpeechSynthesis/SynthesizeOnline"

/* A stream's copy of its config (the strings follow the struct in the same block). */
struct tts_impl {
    const char *voice, *language;
    int sample_rate_hz;
    enum pl_client_encoding encoding;
};

static enum pl_client_encoding out_encoding(enum pl_client_encoding e) {
    return e == PL_CLIENT_ENC_AUTO ? PL_CLIENT_ENC_LINEAR16 : e;
}

static void fill_request(const struct tts_impl *t, const char *text,
                         Nvidia__Riva__Tts__SynthesizeSpeechRequest *rq) {
    nvidia__riva__tts__synthesize_speech_request__init(rq);
    rq->text = (char *)text;
    rq->language_code = (char *)t->language;
    rq->encoding = (Nvidia__Riva__AudioEncoding)pl__client_encoding(t->encoding);
    rq->sample_rate_hz = t->sample_rate_hz;
    rq->voice_name = (char *)t->voice;
}

/* cfg with its defaults applied; the strings borrowed from cfg or static. */
static struct tts_impl settings(const struct pl_client_tts_config *cfg) {
    struct tts_impl t = {"", "en-US", 22050, PL_CLIENT_ENC_LINEAR16};
    if (!cfg) return t;
    if (cfg->voice) t.voice = cfg->voice;
    if (cfg->language) t.language = cfg->language;
    if (cfg->sample_rate_hz) t.sample_rate_hz = cfg->sample_rate_hz;
    t.encoding = out_encoding(cfg->encoding);
    return t;
}

pl_status pl_client_synthesize(struct pl_client *c, const struct pl_client_tts_config *cfg,
                               const char *text, struct pl_client_audio **out) {
    if (!out) return pl__client_fail(PL_E_INVALID_ARG, "Synthesize: out is NULL");
    *out = NULL;
    if (!c || !text) return pl__client_fail(PL_E_INVALID_ARG, "Synthesize: no client or text");
    struct tts_impl t = settings(cfg);
    Nvidia__Riva__Tts__SynthesizeSpeechRequest rq;
    fill_request(&t, text, &rq);
    ProtobufCMessage *m = NULL;
    PL_TRY(pl__client_call(c, SYNTHESIZE, &rq.base,
                           &nvidia__riva__tts__synthesize_speech_response__descriptor, &m));
    Nvidia__Riva__Tts__SynthesizeSpeechResponse *r = (void *)m;
    struct pl_client_audio *a = pl_calloc(1, sizeof *a);
    if (a) a->data = pl_malloc(r->audio.len ? r->audio.len : 1);
    if (!a || !a->data) {
        pl_free(a);
        pl_proto_free(m);
        return pl__client_fail(PL_E_NOMEM, "Synthesize: out of memory");
    }
    if (r->audio.len) memcpy(a->data, r->audio.data, r->audio.len);
    a->n = r->audio.len;
    a->sample_rate_hz = t.sample_rate_hz;
    a->encoding = t.encoding;
    pl_proto_free(m);
    *out = a;
    return PL_OK;
}

void pl_client_audio_destroy(struct pl_client_audio *a) {
    if (!a) return;
    pl_free(a->data);
    pl_free(a);
}

static void put_le(uint8_t *p, uint32_t v, int n) {
    for (int i = 0; i < n; i++) p[i] = (uint8_t)(v >> (8 * i));
}

pl_status pl_client_audio_write_wav(const struct pl_client_audio *a, const char *path) {
    if (!a || !path) return pl__client_fail(PL_E_INVALID_ARG, "write_wav: no audio or path");
    FILE *f = fopen(path, "wb");
    if (!f) return pl__client_fail(PL_E_IO, "%s: %s", path, strerror(errno));
    bool ok = true;
    if (a->encoding != PL_CLIENT_ENC_OGGOPUS) {
        int bits = a->encoding == PL_CLIENT_ENC_MULAW || a->encoding == PL_CLIENT_ENC_ALAW ? 8 : 16;
        int fmt = a->encoding == PL_CLIENT_ENC_MULAW  ? 7
                  : a->encoding == PL_CLIENT_ENC_ALAW ? 6
                                                      : 1;
        uint8_t h[44];
        memcpy(h, "RIFF", 4);
        put_le(h + 4, (uint32_t)(36 + a->n), 4);
        memcpy(h + 8, "WAVEfmt ", 8);
        put_le(h + 16, 16, 4);
        put_le(h + 20, (uint32_t)fmt, 2);
        put_le(h + 22, 1, 2);
        put_le(h + 24, (uint32_t)a->sample_rate_hz, 4);
        put_le(h + 28, (uint32_t)(a->sample_rate_hz * bits / 8), 4);
        put_le(h + 32, (uint32_t)(bits / 8), 2);
        put_le(h + 34, (uint32_t)bits, 2);
        memcpy(h + 36, "data", 4);
        put_le(h + 40, (uint32_t)a->n, 4);
        ok = fwrite(h, 1, sizeof h, f) == sizeof h;
    }
    ok = ok && (a->n == 0 || fwrite(a->data, 1, a->n, f) == a->n);
    if (fclose(f) != 0) ok = false;
    return ok ? PL_OK : pl__client_fail(PL_E_IO, "%s: cannot write", path);
}

/* ------------------------------------------------------------------ SynthesizeOnline */

static pl_status tts_on_message(struct pl_client_stream *s, grpc_byte_buffer *bb) {
    ProtobufCMessage *m = NULL;
    if (pl__rpc_unpack(bb, &nvidia__riva__tts__synthesize_speech_response__descriptor, &m) !=
        PL_OK)
        return pl__client_fail(PL_E_FORMAT, "%s: bad response: %s", s->rpc_name, pl_last_error());
    Nvidia__Riva__Tts__SynthesizeSpeechResponse *r = (void *)m;
    pl_status st = PL_OK;
    if (r->audio.len && ((pl_client_audio_cb)s->cb)(s->ud, r->audio.data, r->audio.len) != 0)
        st = pl__client_cb_cancel(s);
    pl_proto_free(m);
    return st;
}

static pl_status tts_send_text(struct pl_client_stream *s, const char *text) {
    Nvidia__Riva__Tts__SynthesizeSpeechRequest rq;
    fill_request(s->impl, text, &rq);
    return pl__client_stream_send(s, &rq.base);
}

static const struct pl_client_stream_i tts_iface = {
    .send_text = tts_send_text,
    .on_message = tts_on_message,
};

pl_status pl_client_synthesize_stream_open(struct pl_client *c,
                                           const struct pl_client_tts_config *cfg,
                                           pl_client_audio_cb cb, void *ud,
                                           struct pl_client_stream **out) {
    if (!out) return pl__client_fail(PL_E_INVALID_ARG, "SynthesizeOnline: out is NULL");
    *out = NULL;
    if (!c || !cb)
        return pl__client_fail(PL_E_INVALID_ARG, "SynthesizeOnline: no client or callback");
    struct tts_impl t = settings(cfg);
    size_t nv = strlen(t.voice) + 1, nl = strlen(t.language) + 1;
    struct tts_impl *impl = pl_malloc(sizeof *impl + nv + nl);
    if (!impl) return pl__client_fail(PL_E_NOMEM, "SynthesizeOnline: out of memory");
    char *strs = (char *)(impl + 1);
    memcpy(strs, t.voice, nv);
    memcpy(strs + nv, t.language, nl);
    *impl = t;
    impl->voice = strs;
    impl->language = strs + nv;
    pl_status st = pl__client_stream_open(c, ONLINE, &tts_iface, NULL, (void *)cb, ud, out);
    if (st != PL_OK) {
        pl_free(impl);
        return st;
    }
    (*out)->impl = impl;
    return PL_OK;
}

pl_status pl_client_synthesize_stream(struct pl_client *c, const struct pl_client_tts_config *cfg,
                                      const char *text, pl_client_audio_cb cb, void *ud) {
    if (!text) return pl__client_fail(PL_E_INVALID_ARG, "SynthesizeOnline: no text");
    struct pl_client_stream *s = NULL;
    PL_TRY(pl_client_synthesize_stream_open(c, cfg, cb, ud, &s));
    pl_status st = pl_client_stream_send_text(s, text);
    pl_status fin = pl_client_stream_finish(s);
    pl_client_stream_destroy(s);
    return fin != PL_OK ? fin : st;
}
