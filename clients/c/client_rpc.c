/*
 * client_rpc.c - gRPC C core plumbing of libparley-client and the `parley` commands
 * (client_rpc.h): channels, the API-key metadata, a unary call, a bidirectional stream.
 */
#include "client_rpc.h"

#include <stdio.h>
#include <string.h>

#include "alloc.h"

pl_status pl__rpc_channel(const char *target, bool tls, const char *ca_pem,
                          const char *server_name, grpc_channel **out) {
    *out = NULL;
    grpc_arg args[3] = {
        {GRPC_ARG_INTEGER, GRPC_ARG_MAX_SEND_MESSAGE_LENGTH, {.integer = 1 << 30}},
        {GRPC_ARG_INTEGER, GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, {.integer = 1 << 30}},
        {GRPC_ARG_STRING, GRPC_SSL_TARGET_NAME_OVERRIDE_ARG, {.string = (char *)server_name}},
    };
    grpc_channel_args chargs = {tls && server_name ? 3 : 2, args};
    grpc_channel_credentials *cr = tls ? grpc_ssl_credentials_create(ca_pem, NULL, NULL, NULL)
                                       : grpc_insecure_credentials_create();
    if (!cr) return PL_ERR(PL_E_INTERNAL, "%s: cannot make the channel's credentials", target);
    grpc_channel *ch = grpc_channel_create(target, cr, &chargs);
    grpc_channel_credentials_release(cr);
    if (!ch) return PL_ERR(PL_E_INTERNAL, "%s: cannot make a channel", target);
    *out = ch;
    return PL_OK;
}

void pl__rpc_auth_init(struct pl__rpc_auth *a, const char *api_key) {
    a->n = 0;
    if (!api_key) return;
    char auth[512];
    snprintf(auth, sizeof auth, "Bearer %s", api_key);
    a->md.key = grpc_slice_from_static_string("authorization");
    a->md.value = grpc_slice_from_copied_string(auth);
    a->n = 1;
}

void pl__rpc_auth_deinit(struct pl__rpc_auth *a) {
    if (a->n) grpc_slice_unref(a->md.value);
    a->n = 0;
}

static grpc_metadata *auth_md(struct pl__rpc_auth *a) { return a->n ? &a->md : NULL; }

/* The bytes of a received buffer, copied. OUT: *out (caller owns, pl_free), *n. */
static pl_status copy_out(grpc_byte_buffer *bb, uint8_t **out, size_t *n) {
    grpc_byte_buffer_reader rd;
    grpc_byte_buffer_reader_init(&rd, bb);
    grpc_slice all = grpc_byte_buffer_reader_readall(&rd);
    grpc_byte_buffer_reader_destroy(&rd);
    size_t len = GRPC_SLICE_LENGTH(all);
    *out = pl_malloc(len ? len : 1);
    if (*out) {
        memcpy(*out, GRPC_SLICE_START_PTR(all), len);
        *n = len;
    }
    grpc_slice_unref(all);
    return *out ? PL_OK : PL_ERR(PL_E_NOMEM, "out of memory for a %zu-byte response", len);
}

static void drain_destroy(grpc_completion_queue *cq) {
    grpc_completion_queue_shutdown(cq);
    while (grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
           GRPC_QUEUE_SHUTDOWN) {
    }
    grpc_completion_queue_destroy(cq);
}

pl_status pl__rpc_unary(grpc_channel *ch, const char *method, const char *api_key,
                        const void *req, size_t n, int64_t timeout_ms, struct pl__rpc_result *r,
                        uint8_t **resp, size_t *resp_len) {
    *resp = NULL;
    *resp_len = 0;
    r->status = GRPC_STATUS_UNKNOWN;
    r->details = NULL;
    grpc_completion_queue *cq = grpc_completion_queue_create_for_next(NULL);
    gpr_timespec deadline = gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
                                         gpr_time_from_millis(timeout_ms, GPR_TIMESPAN));
    grpc_call *call = grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq,
                                               grpc_slice_from_static_string(method), NULL,
                                               deadline, NULL);
    grpc_slice body = grpc_slice_from_copied_buffer((const char *)req, n);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&body, 1);
    grpc_slice_unref(body);
    struct pl__rpc_auth auth;
    pl__rpc_auth_init(&auth, api_key);
    grpc_metadata_array init_md, trail_md;
    grpc_metadata_array_init(&init_md);
    grpc_metadata_array_init(&trail_md);
    grpc_byte_buffer *rb = NULL;
    grpc_slice details = grpc_empty_slice();
    grpc_op ops[6];
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].data.send_initial_metadata.count = auth.n;
    ops[0].data.send_initial_metadata.metadata = auth_md(&auth);
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = bb;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &init_md;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &rb;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &trail_md;
    ops[5].data.recv_status_on_client.status = &r->status;
    ops[5].data.recv_status_on_client.status_details = &details;
    pl_status st = PL_OK;
    grpc_call_error ce = grpc_call_start_batch(call, ops, 6, (void *)1, NULL);
    grpc_byte_buffer_destroy(bb);
    if (ce == GRPC_CALL_OK) {
        grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        if (r->status == GRPC_STATUS_OK && rb) {
            st = copy_out(rb, resp, resp_len);
        } else if (r->status != GRPC_STATUS_OK) {
            r->details = pl_strndup((const char *)GRPC_SLICE_START_PTR(details),
                                    GRPC_SLICE_LENGTH(details));
        }
    } else {
        st = PL_ERR(PL_E_INTERNAL, "%s: the call could not start (%d)", method, (int)ce);
    }
    pl__rpc_auth_deinit(&auth);
    if (rb) grpc_byte_buffer_destroy(rb);
    grpc_slice_unref(details);
    grpc_metadata_array_destroy(&init_md);
    grpc_metadata_array_destroy(&trail_md);
    grpc_call_unref(call);
    drain_destroy(cq);
    return st;
}

grpc_byte_buffer *pl__rpc_pack(const ProtobufCMessage *m) {
    uint8_t *buf = NULL;
    size_t len = 0;
    if (pl_proto_pack(m, &buf, &len) != PL_OK) return NULL;
    grpc_slice s = grpc_slice_from_copied_buffer((const char *)buf, len);
    pl_free(buf);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    return bb;
}

pl_status pl__rpc_unpack(grpc_byte_buffer *bb, const ProtobufCMessageDescriptor *d,
                         ProtobufCMessage **out) {
    grpc_byte_buffer_reader rd;
    grpc_byte_buffer_reader_init(&rd, bb);
    grpc_slice all = grpc_byte_buffer_reader_readall(&rd);
    grpc_byte_buffer_reader_destroy(&rd);
    pl_status st = pl_proto_unpack(d, GRPC_SLICE_START_PTR(all), GRPC_SLICE_LENGTH(all), out);
    grpc_slice_unref(all);
    return st;
}

/* ------------------------------------------------------------------ streams */

static pl_status start(struct pl__rpc_stream *s, grpc_op *ops, size_t n, int tag) {
    grpc_call_error ce = grpc_call_start_batch(s->call, ops, n, (void *)(intptr_t)tag, NULL);
    if (ce != GRPC_CALL_OK) return PL_ERR(PL_E_INTERNAL, "a stream batch did not start (%d)", ce);
    return PL_OK;
}

pl_status pl__rpc_stream_open(struct pl__rpc_stream *s, grpc_channel *ch, const char *method,
                              const char *api_key, int64_t timeout_ms,
                              const ProtobufCMessage *first) {
    memset(s, 0, sizeof *s);
    s->status = GRPC_STATUS_UNKNOWN;
    s->details = grpc_empty_slice();
    s->cq = grpc_completion_queue_create_for_next(NULL);
    gpr_timespec deadline = gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
                                         gpr_time_from_millis(timeout_ms, GPR_TIMESPAN));
    s->call = grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, s->cq,
                                       grpc_slice_from_static_string(method), NULL, deadline,
                                       NULL);
    pl__rpc_auth_init(&s->auth, api_key);
    grpc_metadata_array_init(&s->init_md);
    grpc_metadata_array_init(&s->trail_md);
    pl_status st = PL_OK;
    grpc_op ops[2];
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[0].data.recv_status_on_client.trailing_metadata = &s->trail_md;
    ops[0].data.recv_status_on_client.status = &s->status;
    ops[0].data.recv_status_on_client.status_details = &s->details;
    PL_TRY_GOTO(st, start(s, ops, 1, PL__RPC_STATUS));
    if (first && !(s->out = pl__rpc_pack(first))) {
        st = PL_ERR(PL_E_NOMEM, "%s: cannot pack the first message", method);
        goto fail;
    }
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].data.send_initial_metadata.count = s->auth.n;
    ops[0].data.send_initial_metadata.metadata = auth_md(&s->auth);
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = s->out;
    PL_TRY_GOTO(st, start(s, ops, first ? 2 : 1, PL__RPC_SEND));
    s->send_busy = true;
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[0].data.recv_initial_metadata.recv_initial_metadata = &s->init_md;
    ops[1].op = GRPC_OP_RECV_MESSAGE;
    ops[1].data.recv_message.recv_message = &s->recv;
    PL_TRY_GOTO(st, start(s, ops, 2, PL__RPC_RECV));
    return PL_OK;
fail:
    pl__rpc_stream_deinit(s);
    memset(s, 0, sizeof *s);
    return st;
}

int pl__rpc_stream_next(struct pl__rpc_stream *s, gpr_timespec deadline) {
    grpc_event ev = grpc_completion_queue_next(s->cq, deadline, NULL);
    if (ev.type == GRPC_QUEUE_TIMEOUT) return 0;
    if (ev.type != GRPC_OP_COMPLETE) return -1;
    int tag = (int)(intptr_t)ev.tag;
    if (tag == PL__RPC_SEND) {
        s->send_busy = false;
        if (s->out) grpc_byte_buffer_destroy(s->out);
        s->out = NULL;
    } else if (tag == PL__RPC_RECV) {
        if (!s->recv) s->recv_done = true;
    } else if (tag == PL__RPC_STATUS) {
        s->status_done = true;
        s->recv_done = s->recv_done || !ev.success;
    }
    return tag;
}

void pl__rpc_stream_recv_more(struct pl__rpc_stream *s) {
    if (s->recv) grpc_byte_buffer_destroy(s->recv);
    s->recv = NULL;
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &s->recv;
    if (start(s, &op, 1, PL__RPC_RECV) != PL_OK) s->recv_done = true;
}

bool pl__rpc_stream_can_send(const struct pl__rpc_stream *s) {
    return !s->send_busy && !s->closed && !s->status_done;
}

pl_status pl__rpc_stream_send(struct pl__rpc_stream *s, const ProtobufCMessage *m) {
    PL_ASSERT(pl__rpc_stream_can_send(s));
    s->out = pl__rpc_pack(m);
    if (!s->out) return PL_ERR(PL_E_NOMEM, "cannot pack a stream message");
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_SEND_MESSAGE;
    op.data.send_message.send_message = s->out;
    PL_TRY(start(s, &op, 1, PL__RPC_SEND));
    s->send_busy = true;
    return PL_OK;
}

pl_status pl__rpc_stream_close_send(struct pl__rpc_stream *s) {
    PL_ASSERT(pl__rpc_stream_can_send(s));
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    PL_TRY(start(s, &op, 1, PL__RPC_SEND));
    s->send_busy = true;
    s->closed = true;
    return PL_OK;
}

bool pl__rpc_stream_done(const struct pl__rpc_stream *s) { return s->recv_done && s->status_done; }

void pl__rpc_stream_deinit(struct pl__rpc_stream *s) {
    if (!s->cq) return;
    if (s->call && !pl__rpc_stream_done(s)) {
        grpc_call_cancel(s->call, NULL);
        while (!(s->status_done && s->recv_done && !s->send_busy)) {
            int tag = pl__rpc_stream_next(s, gpr_inf_future(GPR_CLOCK_MONOTONIC));
            if (tag < 0) break;
            if (tag == PL__RPC_RECV && s->recv) {
                grpc_byte_buffer_destroy(s->recv);
                s->recv = NULL;
                s->recv_done = true; /* no new receive after a cancel */
            }
        }
    } else {
        /* a send may still be outstanding when the status came first */
        while (s->send_busy && pl__rpc_stream_next(s, gpr_inf_future(GPR_CLOCK_MONOTONIC)) > 0) {
        }
    }
    pl__rpc_auth_deinit(&s->auth);
    if (s->recv) grpc_byte_buffer_destroy(s->recv);
    if (s->out) grpc_byte_buffer_destroy(s->out);
    grpc_slice_unref(s->details);
    grpc_metadata_array_destroy(&s->init_md);
    grpc_metadata_array_destroy(&s->trail_md);
    if (s->call) grpc_call_unref(s->call);
    drain_destroy(s->cq);
    memset(s, 0, sizeof *s);
}

char *pl__rpc_stream_details(const struct pl__rpc_stream *s) {
    return grpc_slice_to_c_string(s->details);
}
