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
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "riva/proto/riva_asr.pb-c.h"
#include "riva/proto/riva_nlp.pb-c.h"

static grpc_completion_queue *cq;

static gpr_timespec in_s(int s) {
    return gpr_time_add(gpr_now(GPR_CLOCK_REALTIME), gpr_time_from_seconds(s, GPR_TIMESPAN));
}

static int batch(grpc_call *c, grpc_op *ops, size_t n, void *tag) {
    if (grpc_call_start_batch(c, ops, n, tag, NULL) != GRPC_CALL_OK) return -1;
    grpc_event ev = grpc_completion_queue_pluck(cq, tag, in_s(20), NULL);
    return ev.type == GRPC_OP_COMPLETE && ev.success ? 0 : -1;
}

static grpc_byte_buffer *bb_of(const uint8_t *p, size_t n) {
    grpc_slice s = grpc_slice_from_copied_buffer((const char *)p, n);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    return bb;
}

static grpc_slice slice_of(grpc_byte_buffer *bb) {
    grpc_byte_buffer_reader r;
    grpc_byte_buffer_reader_init(&r, bb);
    grpc_slice s = grpc_byte_buffer_reader_readall(&r);
    grpc_byte_buffer_reader_destroy(&r);
    return s;
}

static int report(grpc_status_code st, grpc_slice det) {
    char *d = grpc_slice_to_c_string(det);
    printf("status %d %s\n", (int)st, d);
    gpr_free(d);
    return st == GRPC_STATUS_OK ? 0 : 10 + (int)st;
}

static int unary(grpc_channel *ch, const char *text, const char *key) {
    Nvidia__Riva__Nlp__TextTransformRequest rq = NVIDIA__RIVA__NLP__TEXT_TRANSFORM_REQUEST__INIT;
    char *t = (char *)text;
    rq.n_text = 1;
    rq.text = &t;
    uint8_t buf[4096];
    size_t n = nvidia__riva__nlp__text_transform_request__pack(&rq, buf);
    grpc_call *c = grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq,
        grpc_slice_from_static_string("/nvidia.riva.nlp.RivaLanguageUnderstanding/PunctuateText"),
        NULL, in_s(10), NULL);
    grpc_byte_buffer *req = bb_of(buf, n), *resp = NULL;
    grpc_metadata md[2];
    memset(md, 0, sizeof md);
    md[0].key = grpc_slice_from_static_string("x-request-id");
    md[0].value = grpc_slice_from_static_string("c-client-req-1");
    md[1].key = grpc_slice_from_static_string("authorization");
    md[1].value = grpc_slice_from_copied_string(key ? key : "");
    grpc_metadata_array im, tm;
    grpc_metadata_array_init(&im);
    grpc_metadata_array_init(&tm);
    grpc_status_code st;
    grpc_slice det;
    grpc_op ops[6];
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].data.send_initial_metadata.count = key ? 2 : 1;
    ops[0].data.send_initial_metadata.metadata = md;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = req;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &im;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &resp;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &tm;
    ops[5].data.recv_status_on_client.status = &st;
    ops[5].data.recv_status_on_client.status_details = &det;
    if (batch(c, ops, 6, (void *)1) != 0) {
        printf("call failed\n");
        return 2;
    }
    int rc = report(st, det);
    if (rc == 0) {
        rc = 3;
        if (resp) {
            grpc_slice s = slice_of(resp);
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
    grpc_byte_buffer_destroy(req);
    grpc_slice_unref(det);
    grpc_slice_unref(md[1].value);
    grpc_metadata_array_destroy(&im);
    grpc_metadata_array_destroy(&tm);
    grpc_call_unref(c);
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

static int stream(grpc_channel *ch, int n) {
    grpc_call *c = grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq,
        grpc_slice_from_static_string("/nvidia.riva.asr.RivaSpeechRecognition/StreamingRecognize"),
        NULL, in_s(30), NULL);
    grpc_metadata_array im, tm;
    grpc_metadata_array_init(&im);
    grpc_metadata_array_init(&tm);
    grpc_status_code st;
    grpc_slice det;
    grpc_op op[1];
    memset(op, 0, sizeof op);
    op[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    if (batch(c, op, 1, (void *)1) != 0) return 2;
    /* status and initial metadata posted early, plucked at the end (platform notes §2) */
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
        grpc_byte_buffer *out = bb_of(buf, len), *in = NULL;
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
        grpc_slice s = slice_of(in);
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
    grpc_completion_queue_pluck(cq, (void *)2, in_s(20), NULL);
    grpc_event ev = grpc_completion_queue_pluck(cq, (void *)3, in_s(20), NULL);
    int src = ev.type == GRPC_OP_COMPLETE ? report(st, det) : 2;
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
    cq = grpc_completion_queue_create_for_pluck(NULL);
    grpc_channel_credentials *cr = grpc_insecure_credentials_create();
    grpc_channel *ch = grpc_channel_create(argv[2], cr, NULL);
    grpc_channel_credentials_release(cr);
    int rc = !strcmp(argv[1], "unary") ? unary(ch, argv[3], argc > 4 ? argv[4] : NULL)
             : !strcmp(argv[1], "stream") ? stream(ch, (int)strtol(argv[3], NULL, 10))
                                          : 2;
    grpc_channel_destroy(ch);
    grpc_completion_queue_shutdown(cq);
    grpc_completion_queue_destroy(cq);
    grpc_shutdown();
    return rc;
}
