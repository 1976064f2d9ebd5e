/* test_asrstream_util.c - helpers shared by the StreamingRecognize suites of parley-asr
 * (test_asrstream_util.h). */
#include "test_asrstream_util.h"

#include <check.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "audio.h"
#include "nrpc_worker.h"
#include "proto_util.h"

uint8_t *pl_test_asrstream_pack_config(const Nvidia__Riva__Asr__RecognitionConfig *cfg,
                                       bool interim, size_t *n) {
    Nvidia__Riva__Asr__StreamingRecognitionConfig sc =
        NVIDIA__RIVA__ASR__STREAMING_RECOGNITION_CONFIG__INIT;
    sc.config = (Nvidia__Riva__Asr__RecognitionConfig *)cfg;
    sc.interim_results = interim;
    Nvidia__Riva__Asr__StreamingRecognizeRequest rq =
        NVIDIA__RIVA__ASR__STREAMING_RECOGNIZE_REQUEST__INIT;
    rq.streaming_request_case =
        NVIDIA__RIVA__ASR__STREAMING_RECOGNIZE_REQUEST__STREAMING_REQUEST_STREAMING_CONFIG;
    rq.streaming_config = &sc;
    uint8_t *buf = NULL;
    ck_assert_int_eq(pl_proto_pack(&rq.base, &buf, n), PL_OK);
    return buf;
}

pl_status pl_test_asrstream_send_audio(struct pl_asrsvc_session *s, const uint8_t *a, size_t n) {
    Nvidia__Riva__Asr__StreamingRecognizeRequest rq =
        NVIDIA__RIVA__ASR__STREAMING_RECOGNIZE_REQUEST__INIT;
    rq.streaming_request_case =
        NVIDIA__RIVA__ASR__STREAMING_RECOGNIZE_REQUEST__STREAMING_REQUEST_AUDIO_CONTENT;
    rq.audio_content.data = (uint8_t *)a;
    rq.audio_content.len = n;
    uint8_t *buf = NULL;
    size_t len = 0;
    ck_assert_int_eq(pl_proto_pack(&rq.base, &buf, &len), PL_OK);
    pl_status st = pl_asrsvc_session_message(s, buf, len);
    pl_free(buf);
    return st;
}

void pl_test_asrstream_run(struct pl_asrsvc_streaming *ss,
                           const Nvidia__Riva__Asr__RecognitionConfig *cfg, bool interim,
                           pl_asrsvc_session_send_fn collect, void *ud, const uint8_t *audio,
                           size_t n, size_t first, size_t chunk) {
    struct pl_asrsvc_session *s = NULL;
    ck_assert_int_eq(pl_asrsvc_session_create(ss, collect, ud, &s), PL_OK);
    size_t cn = 0;
    uint8_t *c = pl_test_asrstream_pack_config(cfg, interim, &cn);
    ck_assert_int_eq(pl_asrsvc_session_message(s, c, cn), PL_OK);
    pl_free(c);
    for (size_t off = 0; off < n;) {
        size_t k = off == 0 ? first : chunk;
        if (k > n - off) k = n - off;
        pl_status st = pl_test_asrstream_send_audio(s, audio + off, k);
        ck_assert_msg(st == PL_OK, "chunk at %zu: %s", off, pl_last_error());
        off += k;
    }
    ck_assert_msg(pl_asrsvc_session_end(s) == PL_OK, "end: %s", pl_last_error());
    pl_asrsvc_session_destroy(s);
}

int pl_test_asrstream_recognize(struct pl_asrsvc *svc,
                                const Nvidia__Riva__Asr__RecognitionConfig *cfg,
                                const uint8_t *audio, size_t n, char *out, size_t cap) {
    Nvidia__Riva__Asr__RecognizeRequest rq = NVIDIA__RIVA__ASR__RECOGNIZE_REQUEST__INIT;
    rq.config = (Nvidia__Riva__Asr__RecognitionConfig *)cfg;
    rq.audio.data = (uint8_t *)audio;
    rq.audio.len = n;
    uint8_t *buf = NULL;
    size_t len = 0;
    ck_assert_int_eq(pl_proto_pack(&rq.base, &buf, &len), PL_OK);
    struct pl_worker_out wo = {0};
    struct pl_worker_opts o = PL_WORKER_OPTS_INIT;
    o.service = "asr";
    struct pl_worker *w = NULL;
    ck_assert_int_eq(pl_worker_create(&o, &w), PL_OK);
    ck_assert_int_eq(pl_asrsvc_register(svc, w), PL_OK);
    ck_assert_msg(pl_worker_call(w, "recognize", 0, buf, len, &wo) == PL_OK, "%s",
                  pl_last_error());
    pl_worker_destroy(w);
    ProtobufCMessage *m = NULL;
    ck_assert_int_eq(
        pl_proto_unpack(&nvidia__riva__asr__recognize_response__descriptor, wo.data, wo.len, &m),
        PL_OK);
    Nvidia__Riva__Asr__RecognizeResponse *r = (void *)m;
    out[0] = 0;
    for (size_t i = 0, k = 0; i < r->n_results; i++)
        if (r->results[i]->n_alternatives)
            snprintf(out + strlen(out), cap - strlen(out), "%s%s", k++ ? " " : "",
                     r->results[i]->alternatives[0]->transcript);
    int n_results = (int)r->n_results;
    pl_proto_free(m);
    pl_free(wo.data);
    pl_free(buf);
    return n_results;
}

uint8_t *pl_test_asrstream_wav(const float *x, size_t n, int rate, size_t *len) {
    struct pl_audio a = {(float *)x, n, 1, rate};
    uint8_t *out = NULL;
    ck_assert_int_eq(pl_audio_encode(&a, PL_AUDIO_FMT_WAV, &out, len), PL_OK);
    return out;
}
