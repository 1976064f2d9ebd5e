/*
 * fuzz_asr_request.c - parley-asr's request decode path.
 *
 * A parley-asr service without models (no acoustic model, LM "none", VAD "none") serves:
 *   byte 0 % 3 == 0: the rest is one RecognizeRequest, run through the registered handler with
 *     pl_worker_call (pl_proto_unpack, the config checks, then NOT_FOUND/UNAVAILABLE for the
 *     model); then the same bytes through what follows a model pick: pl_proto_unpack,
 *     pl__asrsvc_parse_custom (custom_configuration) and pl_asrsvc_input_decode of the audio
 *     with the request's encoding, rate, channels;
 *   == 1: the rest is a GetRivaSpeechRecognitionConfig request, through its handler;
 *   == 2: the rest is a sequence of StreamingRecognizeRequest messages (separated by FZ_SEP),
 *     fed to one streaming session (pl_asrsvc_session_message), then the half-close.
 */
#include <stdint.h>
#include <stdlib.h>

#include "asr_impl.h"
#include "asr_service.h"
#include "asr_stream.h"
#include "fuzz_util.h"
#include "nrpc_worker.h"
#include "proto_util.h"
#include "riva/proto/riva_asr.pb-c.h"

static struct pl_asrsvc *g_svc;
static struct pl_asrsvc_streaming *g_ss;
static struct pl_worker *g_w;

static void setup(void) {
    fz_quiet();
    struct pl_asrsvc_opts o;
    pl_asrsvc_opts_default(&o);
    o.model_dir = "/nonexistent-parley-fuzz-models";
    o.lm_path = "none";
    struct pl_asrsvc_streaming_opts so;
    pl_asrsvc_streaming_opts_default(&so);
    so.vad_path = "none";
    struct pl_worker_opts wo = PL_WORKER_OPTS_INIT;
    wo.service = "asr";
    if (pl_asrsvc_create(&o, &g_svc) != PL_OK ||
        pl_asrsvc_streaming_create(g_svc, &so, &g_ss) != PL_OK ||
        pl_worker_create(&wo, &g_w) != PL_OK || pl_asrsvc_register(g_svc, g_w) != PL_OK)
        abort();
}

static pl_status drop(void *ud, const uint8_t *data, size_t n) {
    (void)ud;
    (void)data;
    (void)n;
    return PL_OK;
}

static void recognize_after_pick(const uint8_t *p, size_t n) {
    ProtobufCMessage *msg = NULL;
    if (pl_proto_unpack(&nvidia__riva__asr__recognize_request__descriptor, p, n, &msg) != PL_OK)
        return;
    Nvidia__Riva__Asr__RecognizeRequest *rq = (void *)msg;
    const Nvidia__Riva__Asr__RecognitionConfig *c = rq->config;
    if (c) {
        struct pl__asrsvc_settings rs;
        memset(&rs, 0, sizeof rs);
        rs.beam = true;
        rs.beam_width = 16;
        pl_asrsvc_seg_opts_default(&rs.seg);
        (void)pl__asrsvc_parse_custom(c, &rs);
        struct pl_asrsvc_input in;
        memset(&in, 0, sizeof in);
        if (pl_asrsvc_input_decode(rq->audio.data, rq->audio.len, c->encoding, c->sample_rate_hertz,
                                   c->audio_channel_count,
                                   c->enable_separate_recognition_per_channel, 16000, 30.0,
                                   &in) == PL_OK)
            pl_asrsvc_input_deinit(&in);
    }
    pl_proto_free(msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!g_w) setup();
    struct fz_in in = {data, size};
    uint8_t which = fz_byte(&in) % 3;
    struct pl_worker_out out = {0};
    if (which == 0) {
        if (pl_worker_call(g_w, "recognize", 0, in.p, in.n, &out) == PL_OK) pl_free(out.data);
        recognize_after_pick(in.p, in.n);
    } else if (which == 1) {
        if (pl_worker_call(g_w, "get_riva_speech_recognition_config", 0, in.p, in.n, &out) == PL_OK)
            pl_free(out.data);
    } else {
        struct pl_asrsvc_session *s = NULL;
        if (pl_asrsvc_session_create(g_ss, drop, NULL, &s) != PL_OK) abort();
        const uint8_t *part;
        size_t len;
        bool ok = true;
        while (ok && (part = fz_next_part(&in, &len)) != NULL)
            ok = pl_asrsvc_session_message(s, part, len) == PL_OK;
        if (ok) (void)pl_asrsvc_session_end(s);
        pl_asrsvc_session_destroy(s);
    }
    return 0;
}
