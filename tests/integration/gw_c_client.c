/*
 * gw_c_client.c - a gRPC C core client for the gateway integration tests.
 *
 *   pl_gw_c_client unary  HOST:PORT TEXT [API-KEY]   PunctuateText; prints the answer texts;
 *                                                   exit 0 when the answer equals TEXT
 *   pl_gw_c_client stream HOST:PORT N               StreamingRecognize bidi stream: a config
 *                                                   message then N audio chunks, each must come
 *                                                   back byte for byte (echo worker); then
 *                                                   half-close and expect OK
 * On a non-OK status it prints "status <code> <details>" and exits 10 + code.
 */
#include <grpc/byte_buffer.h>
#include <grpc/grpc.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "riva/proto/riva_asr.pb-c.h"
#include "riva/proto/riva_nlp.pb-c.h"
#include "test_grpc.h"

static struct pl_test_grpc g;

static int batch(grpc_call *c, grpc_op *ops, size_t n, void *tag) {
    return pl_test_grpc_batch(&g, c, ops, n, tag, 20000) == 1 ? 0 : -1;
}

static int report(grpc_status_code st, const char *det) {
    printf("status %d %s\n", (int)st, det);
    return st == GRPC_STATUS_OK ? 0 : 10 + (int)st;
}

static int unary(const char *text, const char *key) {
    Nvidia__Riva__Nlp__TextTransformRequest rq = NVIDIA__RIVA__NLP__TEXT_TRANSFORM_REQUEST__INIT;
    char *t = (char *)text;
    rq.n_text = 1;
    rq.text = &t;
    uint8_t buf[4096];
    size_t n = nvidia__riva__nlp__text_transform_request__pack(&rq, buf);
    grpc_metadata md[2];
    memset(md, 0, sizeof md);
    md[0].key = grpc_slice_from_static_string("x-request-id");
    md[0].value = grpc_slice_from_static_string("c-client-req-1");
    md[1].key = grpc_slice_from_static_string("authorization");
    md[1].value = grpc_slice_from_copied_string(key ? key : "");
    grpc_byte_buffer *resp = NULL;
    char det[512];
    int st = pl_test_grpc_unary(&g, "/nvidia.riva.nlp.RivaLanguageUnderstanding/PunctuateText",
                                buf, n, md, key ? 2 : 1, 10000, &resp, det, sizeof det);
    grpc_slice_unref(md[1].value);
    if (st < 0) {
        printf("call failed\n");
        return 2;
    }
    int rc = report((grpc_status_code)st, det);
    if (rc == 0) {
        rc = 3;
        if (resp) {
            grpc_slice s = pl_test_grpc_slice(resp);
            Nvidia__Riva__Nlp__TextTransformResponse *rs = nvidia__riva__nlp__text_transform_response__unpack(
                NULL, GRPC_SLICE_LENGTH(s), GRPC_SLICE_START_PTR(s));
            if (rs) {
                for (size_t i = 0; i < rs->n_text; i++) printf("text: %s\n", rs->text[i]);
                if (rs->n_text == 1 && strcmp(rs->text[0], text) == 0) rc = 0;
                nvidia__riva__nlp__text_transform_response__free_unpacked(rs, NULL);
            }
            grpc_slice_unref(s);
        }
    }
    if (resp) grpc_byte_buffer_destroy(resp);
    return rc;
}

static size_t pack_stream_msg(int i, uint8_t *buf) {
    Nvidia__Riva__Asr__StreamingRecognizeRequest m = NVIDIA__RIVA__ASR__STREAMING_RECOGNIZE_REQUEST__INIT;
    Nvidia__Riva__Asr__StreamingRecognitionConfig cfg = NVIDIA__RIVA__ASR__STREAMING_RECOGNITION_CONFIG__INIT;
    uint8_t audio[320];
    if (i == 0) {
        cfg.interim_results = 1;
        m.streaming_request_case = NVIDIA__RIVA__ASR__STREAMING_RECOGNIZE_REQUEST__STREAMING_REQUEST_STREAMING_CONFIG;
        m.streaming_config = &cfg;
    } else {
        for (size_t k = 0; k < sizeof audio; k++) audio[k] = (uint8_t)(i * 7 + k);
        m.streaming_request_case = NVIDIA__RIVA__ASR__STREAMING_RECOGNIZE_REQUEST__STREAMING_REQUEST_AUDIO_CONTENT;
        m.audio_content.data = audio;
        m.audio_content.len = sizeof audio;
    }
    return nvidia__riva__asr__streaming_recognize_request__pack(&m, buf);
}

static int stream(int n) {
    grpc_call *c = grpc_channel_create_call(g.ch, NULL, GRPC_PROPAGATE_DEFAULTS, g.cq,
        grpc_slice_from_static_string("/nvidia.riva.asr.RivaSpeechRecognition/StreamingRecognize"),
        NULL, pl_test_grpc_in_ms(30 * 1000), NULL);
    grpc_metadata_array im, tm;
    grpc_metadata_array_init(&im);
    grpc_metadata_array_init(&tm);
    grpc_status_code st;
    grpc_slice det;
    grpc_op op[1];
    memset(op, 0, sizeof op);
    op[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    if (batch(c, op, 1, (void *)1) != 0) return 2;
    /* status and initial metadata posted early, plucked at the end (a Python server sends its
     * headers only with its first response) */
    grpc_op rs[2];
    memset(rs, 0, sizeof rs);
    rs[0].op = GRPC_OP_RECV_INITIAL_METADATA;
    rs[0].data.recv_initial_metadata.recv_initial_metadata = &im;
    if (grpc_call_start_batch(c, rs, 1, (void *)2, NULL) != GRPC_CALL_OK) return 2;
    rs[0].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    rs[0].data.recv_status_on_client.trailing_metadata = &tm;
    rs[0].data.recv_status_on_client.status = &st;
    rs[0].data.recv_status_on_client.status_details = &det;
    if (grpc_call_start_batch(c, rs, 1, (void *)3, NULL) != GRPC_CALL_OK) return 2;
    int rc = 0;
    for (int i = 0; i <= n && rc == 0; i++) {
        uint8_t buf[1024];
        size_t len = pack_stream_msg(i, buf);
        grpc_byte_buffer *out = pl_test_grpc_bb(buf, len), *in = NULL;
        grpc_op o[1];
        memset(o, 0, sizeof o);
        o[0].op = GRPC_OP_SEND_MESSAGE;
        o[0].data.send_message.send_message = out;
        if (batch(c, o, 1, (void *)4) != 0) rc = 4;
        grpc_byte_buffer_destroy(out);
        if (rc) break;
        o[0].op = GRPC_OP_RECV_MESSAGE;
        o[0].data.recv_message.recv_message = &in;
        if (batch(c, o, 1, (void *)5) != 0 || !in) {
            rc = 5;
            break;
        }
        grpc_slice s = pl_test_grpc_slice(in);
        if (GRPC_SLICE_LENGTH(s) != len || memcmp(GRPC_SLICE_START_PTR(s), buf, len) != 0) rc = 6;
        grpc_slice_unref(s);
        grpc_byte_buffer_destroy(in);
    }
    grpc_op cl[1];
    memset(cl, 0, sizeof cl);
    cl[0].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    batch(c, cl, 1, (void *)7);
    if (rc == 0) { /* after half-close the stream ends with no further message */
        grpc_byte_buffer *in = NULL;
        cl[0].op = GRPC_OP_RECV_MESSAGE;
        cl[0].data.recv_message.recv_message = &in;
        batch(c, cl, 1, (void *)8);
        if (in) {
            grpc_byte_buffer_destroy(in);
            rc = 7;
        }
    }
    grpc_completion_queue_pluck(g.cq, (void *)2, pl_test_grpc_in_ms(20 * 1000), NULL);
    grpc_event ev = grpc_completion_queue_pluck(g.cq, (void *)3, pl_test_grpc_in_ms(20 * 1000), NULL);
    int src = 2;
    if (ev.type == GRPC_OP_COMPLETE) {
        char *d = grpc_slice_to_c_string(det);
        src = report(st, d);
        gpr_free(d);
    }
    if (rc == 0) rc = src;
    if (rc == 0) printf("stream ok %d\n", n + 1);
    if (ev.type == GRPC_OP_COMPLETE) grpc_slice_unref(det);
    grpc_metadata_array_destroy(&im);
    grpc_metadata_array_destroy(&tm);
    grpc_call_unref(c);
    return rc;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: pl_gw_c_client unary HOST:PORT TEXT [KEY] | stream HOST:PORT N\n");
        return 2;
    }
    grpc_init();
    pl_test_grpc_open(&g, argv[2]);
    int rc = !strcmp(argv[1], "unary") ? unary(argv[3], argc > 4 ? argv[4] : NULL)
             : !strcmp(argv[1], "stream") ? stream((int)strtol(argv[3], NULL, 10))
                                          : 2;
    pl_test_grpc_close(&g);
    grpc_shutdown();
    return rc;
}
