/*
 * client_grpc.c - one unary call over gRPC C core for the `parley` commands (client_grpc.h).
 */
#include "client_grpc.h"

#include <string.h>

#include "alloc.h"

grpc_status_code pl_client_unary(grpc_channel *ch, const char *cmd, const char *server,
                                 const char *method, const char *api_key, const void *req,
                                 size_t n, int64_t timeout_ms, uint8_t **resp, size_t *resp_len) {
    *resp = NULL;
    *resp_len = 0;
    grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
    gpr_timespec deadline = gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
                                         gpr_time_from_millis(timeout_ms, GPR_TIMESPAN));
    grpc_call *call = grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq,
                                               grpc_slice_from_static_string(method), NULL,
                                               deadline, NULL);
    grpc_slice body = grpc_slice_from_copied_buffer((const char *)req, n);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&body, 1);
    grpc_slice_unref(body);
    struct pl_client_auth auth;
    pl_client_auth_init(&auth, api_key);
    grpc_metadata_array init_md, trail_md;
    grpc_metadata_array_init(&init_md);
    grpc_metadata_array_init(&trail_md);
    grpc_byte_buffer *rb = NULL;
    grpc_status_code status = GRPC_STATUS_UNKNOWN;
    grpc_slice details = grpc_empty_slice();
    grpc_op ops[6];
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].data.send_initial_metadata.count = auth.n;
    ops[0].data.send_initial_metadata.metadata = pl_client_auth_md(&auth);
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = bb;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &init_md;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &rb;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &trail_md;
    ops[5].data.recv_status_on_client.status = &status;
    ops[5].data.recv_status_on_client.status_details = &details;
    int tag = 1;
    grpc_call_error ce = grpc_call_start_batch(call, ops, 6, &tag, NULL);
    grpc_byte_buffer_destroy(bb);
    if (ce == GRPC_CALL_OK)
        grpc_completion_queue_pluck(cq, &tag, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    if (ce != GRPC_CALL_OK) {
        fprintf(stderr, "parley %s: the call could not start (%d)\n", cmd, (int)ce);
        status = GRPC_STATUS_INTERNAL;
    } else if (status != GRPC_STATUS_OK) {
        pl_client_print_status(cmd, server, status, details);
    } else if (rb) {
        grpc_byte_buffer_reader rd;
        grpc_byte_buffer_reader_init(&rd, rb);
        grpc_slice all = grpc_byte_buffer_reader_readall(&rd);
        grpc_byte_buffer_reader_destroy(&rd);
        size_t len = GRPC_SLICE_LENGTH(all);
        *resp = pl_malloc(len ? len : 1);
        if (*resp) {
            memcpy(*resp, GRPC_SLICE_START_PTR(all), len);
            *resp_len = len;
        } else {
            fprintf(stderr, "parley %s: out of memory\n", cmd);
            status = GRPC_STATUS_RESOURCE_EXHAUSTED;
        }
        grpc_slice_unref(all);
    }
    pl_client_auth_deinit(&auth);
    if (rb) grpc_byte_buffer_destroy(rb);
    grpc_slice_unref(details);
    grpc_metadata_array_destroy(&init_md);
    grpc_metadata_array_destroy(&trail_md);
    grpc_call_unref(call);
    grpc_completion_queue_shutdown(cq);
    while (grpc_completion_queue_pluck(cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
           GRPC_QUEUE_SHUTDOWN) {
    }
    grpc_completion_queue_destroy(cq);
    return status;
}

grpc_byte_buffer *pl_client_pack(const ProtobufCMessage *m) {
    uint8_t *buf = NULL;
    size_t len = 0;
    if (pl_proto_pack(m, &buf, &len) != PL_OK) return NULL;
    grpc_slice s = grpc_slice_from_copied_buffer((const char *)buf, len);
    pl_free(buf);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    return bb;
}

pl_status pl_client_unpack(grpc_byte_buffer *bb, const ProtobufCMessageDescriptor *d,
                           ProtobufCMessage **out) {
    grpc_byte_buffer_reader rd;
    grpc_byte_buffer_reader_init(&rd, bb);
    grpc_slice all = grpc_byte_buffer_reader_readall(&rd);
    grpc_byte_buffer_reader_destroy(&rd);
    pl_status st = pl_proto_unpack(d, GRPC_SLICE_START_PTR(all), GRPC_SLICE_LENGTH(all), out);
    grpc_slice_unref(all);
    return st;
}
