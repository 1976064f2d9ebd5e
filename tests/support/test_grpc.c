/* test_grpc.c - the tests' gRPC C core client (see test_grpc.h). */
#include "test_grpc.h"

#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc_security.h>
#include <stdio.h>
#include <string.h>

void pl_test_grpc_open(struct pl_test_grpc *g, const char *target) {
    grpc_channel_credentials *cr = grpc_insecure_credentials_create();
    g->ch = grpc_channel_create(target, cr, NULL);
    grpc_channel_credentials_release(cr);
    g->cq = grpc_completion_queue_create_for_pluck(NULL);
}

void pl_test_grpc_open_port(struct pl_test_grpc *g, int port) {
    char target[64];
    snprintf(target, sizeof target, "127.0.0.1:%d", port);
    pl_test_grpc_open(g, target);
}

void pl_test_grpc_close(struct pl_test_grpc *g) {
    if (g->ch) grpc_channel_destroy(g->ch);
    if (g->cq) {
        grpc_completion_queue_shutdown(g->cq);
        grpc_completion_queue_destroy(g->cq);
    }
    g->ch = NULL;
    g->cq = NULL;
}

gpr_timespec pl_test_grpc_in_ms(int ms) {
    return gpr_time_add(gpr_now(GPR_CLOCK_REALTIME), gpr_time_from_millis(ms, GPR_TIMESPAN));
}

int pl_test_grpc_batch(struct pl_test_grpc *g, grpc_call *c, grpc_op *ops, size_t n, void *tag,
                       int timeout_ms) {
    if (grpc_call_start_batch(c, ops, n, tag, NULL) != GRPC_CALL_OK) return -1;
    grpc_event ev = grpc_completion_queue_pluck(g->cq, tag, pl_test_grpc_in_ms(timeout_ms), NULL);
    if (ev.type != GRPC_OP_COMPLETE) return -1;
    return ev.success ? 1 : 0;
}

grpc_byte_buffer *pl_test_grpc_bb(const void *p, size_t n) {
    grpc_slice s = grpc_slice_from_copied_buffer(p, n);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    return bb;
}

grpc_slice pl_test_grpc_slice(grpc_byte_buffer *bb) {
    grpc_byte_buffer_reader r;
    grpc_byte_buffer_reader_init(&r, bb);
    grpc_slice s = grpc_byte_buffer_reader_readall(&r);
    grpc_byte_buffer_reader_destroy(&r);
    return s;
}

bool pl_test_grpc_bb_equals(grpc_byte_buffer *bb, const void *p, size_t n) {
    grpc_slice s = pl_test_grpc_slice(bb);
    bool eq = GRPC_SLICE_LENGTH(s) == n && memcmp(GRPC_SLICE_START_PTR(s), p, n) == 0;
    grpc_slice_unref(s);
    return eq;
}

int pl_test_grpc_unary(struct pl_test_grpc *g, const char *method, const void *req, size_t n,
                       grpc_metadata *md, size_t n_md, int timeout_ms, grpc_byte_buffer **resp,
                       char *details, size_t dcap) {
    /* The call waits a little past its own deadline so that DEADLINE_EXCEEDED comes back
     * as a status, not as a timed-out batch. */
    grpc_call *c = grpc_channel_create_call(g->ch, NULL, GRPC_PROPAGATE_DEFAULTS, g->cq,
                                            grpc_slice_from_static_string(method), NULL,
                                            pl_test_grpc_in_ms(timeout_ms), NULL);
    grpc_byte_buffer *bb = pl_test_grpc_bb(req, n), *in = NULL;
    grpc_metadata_array im, tm;
    grpc_metadata_array_init(&im);
    grpc_metadata_array_init(&tm);
    grpc_status_code st = GRPC_STATUS_UNKNOWN;
    grpc_slice det = grpc_empty_slice();
    grpc_op ops[6];
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].data.send_initial_metadata.count = md ? n_md : 0;
    ops[0].data.send_initial_metadata.metadata = md;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = bb;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &im;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &in;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &tm;
    ops[5].data.recv_status_on_client.status = &st;
    ops[5].data.recv_status_on_client.status_details = &det;
    int rc = 0;
    if (pl_test_grpc_batch(g, c, ops, 6, (void *)1, timeout_ms + 10000) >= 0) {
        rc = (int)st;
    } else {
        /* started but not done: cancel and take the completion before the call goes */
        grpc_call_cancel(c, NULL);
        grpc_completion_queue_pluck(g->cq, (void *)1, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        rc = -1;
    }
    if (details && dcap > 0) {
        size_t k = GRPC_SLICE_LENGTH(det) < dcap - 1 ? GRPC_SLICE_LENGTH(det) : dcap - 1;
        memcpy(details, GRPC_SLICE_START_PTR(det), k);
        details[k] = 0;
    }
    if (resp)
        *resp = in;
    else if (in)
        grpc_byte_buffer_destroy(in);
    grpc_slice_unref(det);
    grpc_byte_buffer_destroy(bb);
    grpc_metadata_array_destroy(&im);
    grpc_metadata_array_destroy(&tm);
    grpc_call_unref(c);
    return rc;
}
