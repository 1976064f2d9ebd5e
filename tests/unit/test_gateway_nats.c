/* test_gateway_nats.c - the gateway's forwarding paths in-process, with a real
 * nats-server and the test echo worker (so that the sanitizer run of the unit
 * suites covers them): unary round trip, bidirectional stream echo, a stream
 * the client cancels, a unary call the client abandons, and shutdown with a
 * stream still open. */
#include <check.h>
#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "gateway.h"
#include "test_grpc.h"
#include "test_nats.h"
#include "util.h"

#define PUNCT "/nvidia.riva.nlp.RivaLanguageUnderstanding/PunctuateText"
#define STREAM "/nvidia.riva.asr.RivaSpeechRecognition/StreamingRecognize"

struct env {
    struct pl_test_nats nats;
    pid_t nlu, asr;
    struct pl_gw *gw;
    pthread_t th;
    struct pl_test_grpc g; /* client channel to the gateway */
};

static void *run_gw(void *gw) {
    pl_gw_run(gw);
    return NULL;
}

static pid_t worker(struct env *e, const char *svc, const char *extra) {
    char ready[300];
    snprintf(ready, sizeof ready, "%s/ready-%s", e->nats.dir, svc);
    char *argv[] = {PL_ECHO_WORKER_PATH, "--nats", e->nats.url, "--service", (char *)svc,
                    "--ready-file", ready, "--log-level", "error", extra ? "--stream-rpc" : NULL,
                    (char *)extra, NULL};
    pid_t pid = pl_test_spawn(argv);
    ck_assert_int_gt(pid, 0);
    /* the worker renames the file into place once it serves: no extra wait after it;
     * the deadline is generous for a loaded machine and only spent on failure */
    for (int i = 0; i < 3000 && access(ready, R_OK) != 0; i++) pl_sleep_ms(10);
    ck_assert_msg(access(ready, R_OK) == 0, "echo worker %s did not become ready", svc);
    return pid;
}

static void env_start(struct env *e) {
    memset(e, 0, sizeof *e);
    ck_assert_int_eq(pl_test_nats_start(&e->nats, 0), PL_OK);
    e->nlu = worker(e, "nlu", NULL);
    e->asr = worker(e, "asr", "streaming_recognize");
    struct pl_gw_config c;
    ck_assert_int_eq(pl_gw_config_load(NULL, &c), PL_OK);
    pl_free(c.listen);
    c.listen = pl_strdup("127.0.0.1:0");
    pl_free(c.http_listen);
    c.http_listen = pl_strdup("127.0.0.1:0");
    pl_free(c.nats_url);
    c.nats_url = pl_strdup(e->nats.url);
    ck_assert_int_eq(pl_gw_create(&c, &e->gw), PL_OK);
    pl_gw_config_deinit(&c);
    ck_assert_int_eq(pthread_create(&e->th, NULL, run_gw, e->gw), 0);
    pl_test_grpc_open_port(&e->g, pl_gw_grpc_port(e->gw));
}

static void env_stop(struct env *e) {
    pl_test_grpc_close(&e->g);
    pl_gw_stop(e->gw);
    pthread_join(e->th, NULL);
    pl_gw_destroy(e->gw);
    pl_test_kill(e->nlu, SIGTERM);
    pl_test_kill(e->asr, SIGTERM);
    pl_test_nats_stop(&e->nats);
}

static bool batch(struct env *e, grpc_call *c, grpc_op *ops, size_t n, void *tag) {
    int r = pl_test_grpc_batch(&e->g, c, ops, n, tag, 10000);
    ck_assert_int_ge(r, 0);
    return r == 1;
}

/* A PunctuateText call; returns the status; *echo_ok when the answer equals `want`. */
static int unary(struct env *e, const void *req, size_t n, const void *want, size_t wn,
                 int timeout_ms, bool *echo_ok) {
    grpc_byte_buffer *resp = NULL;
    int st = pl_test_grpc_unary(&e->g, PUNCT, req, n, NULL, 0, timeout_ms, &resp, NULL, 0);
    ck_assert_int_ge(st, 0);
    if (echo_ok) *echo_ok = resp && pl_test_grpc_bb_equals(resp, want, wn);
    if (resp) grpc_byte_buffer_destroy(resp);
    return st;
}

/* TextTransformRequest{text: ["hello"]} and the echo worker's TextTransformResponse. */
static const char REQ[] = "\x0a\x05hello";

START_TEST(unary_roundtrip) {
    struct env e;
    env_start(&e);
    bool ok = false;
    ck_assert_int_eq(unary(&e, REQ, 7, REQ, 7, 10000, &ok), GRPC_STATUS_OK);
    ck_assert(ok);
    for (int i = 0; i < 50; i++) {
        ck_assert_int_eq(unary(&e, REQ, 7, REQ, 7, 10000, &ok), GRPC_STATUS_OK);
        ck_assert(ok);
    }
    /* client deadlines about as short as the round trip: answered or DEADLINE_EXCEEDED,
     * and the gateway stays well whichever side wins */
    for (int ms = 1; ms <= 3; ms++) {
        int st = unary(&e, REQ, 7, REQ, 7, ms, NULL);
        ck_assert(st == GRPC_STATUS_OK || st == GRPC_STATUS_DEADLINE_EXCEEDED);
    }
    ck_assert_int_eq(unary(&e, REQ, 7, REQ, 7, 10000, &ok), GRPC_STATUS_OK);
    env_stop(&e);
}
END_TEST

struct bidi {
    grpc_call *call;
    grpc_metadata_array im, tm;
    grpc_status_code st;
    grpc_slice det;
};

static void bidi_open(struct env *e, struct bidi *b) {
    memset(b, 0, sizeof *b);
    b->call = grpc_channel_create_call(e->g.ch, NULL, GRPC_PROPAGATE_DEFAULTS, e->g.cq,
                                       grpc_slice_from_static_string(STREAM), NULL, pl_test_grpc_in_ms(20000),
                                       NULL);
    grpc_metadata_array_init(&b->im);
    grpc_metadata_array_init(&b->tm);
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_SEND_INITIAL_METADATA;
    ck_assert(batch(e, b->call, &op, 1, (void *)10));
    op.op = GRPC_OP_RECV_INITIAL_METADATA;
    op.data.recv_initial_metadata.recv_initial_metadata = &b->im;
    ck_assert_int_eq(grpc_call_start_batch(b->call, &op, 1, (void *)11, NULL), GRPC_CALL_OK);
    op.op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    op.data.recv_status_on_client.trailing_metadata = &b->tm;
    op.data.recv_status_on_client.status = &b->st;
    op.data.recv_status_on_client.status_details = &b->det;
    ck_assert_int_eq(grpc_call_start_batch(b->call, &op, 1, (void *)12, NULL), GRPC_CALL_OK);
}

static bool bidi_echo(struct env *e, struct bidi *b, int i) {
    uint8_t msg[6] = {0x12, 0x04, (uint8_t)i, 1, 2, 3}; /* audio_content */
    grpc_byte_buffer *out = pl_test_grpc_bb(msg, sizeof msg), *in = NULL;
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_SEND_MESSAGE;
    op.data.send_message.send_message = out;
    bool ok = batch(e, b->call, &op, 1, (void *)13);
    grpc_byte_buffer_destroy(out);
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &in;
    ok = ok && batch(e, b->call, &op, 1, (void *)14) && in && pl_test_grpc_bb_equals(in, msg, sizeof msg);
    if (in) grpc_byte_buffer_destroy(in);
    return ok;
}

static int bidi_finish(struct env *e, struct bidi *b) {
    grpc_completion_queue_pluck(e->g.cq, (void *)11, pl_test_grpc_in_ms(10000), NULL);
    grpc_event ev = grpc_completion_queue_pluck(e->g.cq, (void *)12, pl_test_grpc_in_ms(10000), NULL);
    ck_assert_int_eq(ev.type, GRPC_OP_COMPLETE);
    grpc_slice_unref(b->det);
    grpc_metadata_array_destroy(&b->im);
    grpc_metadata_array_destroy(&b->tm);
    grpc_call_unref(b->call);
    return (int)b->st;
}

START_TEST(stream_echo_and_cancel) {
    struct env e;
    env_start(&e);
    struct bidi b;
    bidi_open(&e, &b);
    for (int i = 0; i < 10; i++) ck_assert(bidi_echo(&e, &b, i));
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ck_assert(batch(&e, b.call, &op, 1, (void *)15));
    ck_assert_int_eq(bidi_finish(&e, &b), GRPC_STATUS_OK);

    /* the client cancels a stream in the middle */
    bidi_open(&e, &b);
    ck_assert(bidi_echo(&e, &b, 1));
    grpc_call_cancel(b.call, NULL);
    ck_assert_int_eq(bidi_finish(&e, &b), GRPC_STATUS_CANCELLED);

    /* a unary call the client abandons while it is in flight */
    grpc_call *c = grpc_channel_create_call(e.g.ch, NULL, GRPC_PROPAGATE_DEFAULTS, e.g.cq,
                                            grpc_slice_from_static_string(PUNCT), NULL,
                                            pl_test_grpc_in_ms(10000), NULL);
    grpc_byte_buffer *bb = pl_test_grpc_bb(REQ, 7);
    memset(&op, 0, sizeof op);
    grpc_op ops[3];
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = bb;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    batch(&e, c, ops, 3, (void *)16);
    grpc_byte_buffer_destroy(bb);
    grpc_call_cancel(c, NULL);
    grpc_call_unref(c);

    /* still serving */
    bool ok = false;
    ck_assert_int_eq(unary(&e, REQ, 7, REQ, 7, 10000, &ok), GRPC_STATUS_OK);
    ck_assert(ok);

    /* shutdown with a stream open: the client sees it end, nothing leaks */
    bidi_open(&e, &b);
    ck_assert(bidi_echo(&e, &b, 2));
    pl_gw_stop(e.gw);
    int st = bidi_finish(&e, &b);
    ck_assert_int_ne(st, GRPC_STATUS_OK);
    env_stop(&e);
}
END_TEST

Suite *pl_gateway_nats_suite(void) {
    Suite *s = suite_create("gateway_nats");
    TCase *t = tcase_create("nats");
    tcase_set_timeout(t, 90);
    tcase_add_test(t, unary_roundtrip);
    tcase_add_test(t, stream_echo_and_cancel);
    suite_add_tcase(s, t);
    return s;
}
