/*
 * parley-perf-server: a tiny gRPC C core server for benchmarks (test tool,
 * not a Parley service). It answers PunctuateText in-process, the way the
 * test echo worker does behind the gateway (TextTransformResponse with the
 * request's texts), and echoes the request bytes for any other unary method,
 * so `parley perf` can measure a direct gRPC call with no NATS hop.
 *
 *   parley-perf-server [--listen 127.0.0.1:0]    prints "parley-perf-server port=N"
 */
#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "riva/proto/riva_nlp.pb-c.h"

#define PUNCT "/nvidia.riva.nlp.RivaLanguageUnderstanding/PunctuateText"

enum { T_NEW, T_RECV, T_DONE };
struct call {
    grpc_call *call;
    grpc_call_details details;
    grpc_metadata_array md;
    grpc_byte_buffer *req;
    int cancelled;
    int tags_left;
    struct tag {
        struct call *c;
        int kind;
    } t_new, t_recv, t_done;
};

static volatile sig_atomic_t g_stop;
static void on_sig(int s) {
    (void)s;
    g_stop = 1;
}

static void post_new(grpc_server *srv, grpc_completion_queue *cq) {
    struct call *c = pl_calloc(1, sizeof *c);
    if (!c) return;
    grpc_call_details_init(&c->details);
    grpc_metadata_array_init(&c->md);
    c->t_new = (struct tag){c, T_NEW};
    c->t_recv = (struct tag){c, T_RECV};
    c->t_done = (struct tag){c, T_DONE};
    grpc_server_request_call(srv, &c->call, &c->details, &c->md, cq, cq, &c->t_new);
}

static void free_call(struct call *c) {
    if (c->call) grpc_call_unref(c->call);
    grpc_call_details_destroy(&c->details);
    grpc_metadata_array_destroy(&c->md);
    if (c->req) grpc_byte_buffer_destroy(c->req);
    pl_free(c);
}

static grpc_slice answer(struct call *c, grpc_slice in) {
    size_t plen = GRPC_SLICE_LENGTH(c->details.method);
    if (plen == strlen(PUNCT) && !memcmp(GRPC_SLICE_START_PTR(c->details.method), PUNCT, plen)) {
        Nvidia__Riva__Nlp__TextTransformRequest *rq = nvidia__riva__nlp__text_transform_request__unpack(
            NULL, GRPC_SLICE_LENGTH(in), GRPC_SLICE_START_PTR(in));
        if (rq) {
            Nvidia__Riva__Nlp__TextTransformResponse rs = NVIDIA__RIVA__NLP__TEXT_TRANSFORM_RESPONSE__INIT;
            rs.n_text = rq->n_text;
            rs.text = rq->text;
            size_t n = nvidia__riva__nlp__text_transform_response__get_packed_size(&rs);
            grpc_slice out = grpc_slice_malloc(n);
            nvidia__riva__nlp__text_transform_response__pack(&rs, GRPC_SLICE_START_PTR(out));
            nvidia__riva__nlp__text_transform_request__free_unpacked(rq, NULL);
            return out;
        }
    }
    return grpc_slice_ref(in);
}

int main(int argc, char **argv) {
    const char *listen = "127.0.0.1:0";
    for (int i = 1; i + 1 < argc; i += 2)
        if (!strcmp(argv[i], "--listen")) listen = argv[i + 1];
    signal(SIGTERM, on_sig);
    signal(SIGINT, on_sig);
    grpc_init();
    grpc_completion_queue *cq = grpc_completion_queue_create_for_next(NULL);
    grpc_server *srv = grpc_server_create(NULL, NULL);
    grpc_server_register_completion_queue(srv, cq, NULL);
    grpc_server_credentials *cr = grpc_insecure_server_credentials_create();
    int port = grpc_server_add_http2_port(srv, listen, cr);
    grpc_server_credentials_release(cr);
    if (port <= 0) {
        fprintf(stderr, "parley-perf-server: cannot listen on %s\n", listen);
        return 1;
    }
    grpc_server_start(srv);
    for (int i = 0; i < 16; i++) post_new(srv, cq);
    printf("parley-perf-server port=%d\n", port);
    fflush(stdout);
    int shutdown_tag = 0;
    bool shutting = false;
    for (;;) {
        if (g_stop && !shutting) {
            shutting = true;
            grpc_server_shutdown_and_notify(srv, cq, &shutdown_tag);
            grpc_server_cancel_all_calls(srv);
        }
        grpc_event ev = grpc_completion_queue_next(
            cq, gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(200, GPR_TIMESPAN)),
            NULL);
        if (ev.type != GRPC_OP_COMPLETE) continue;
        if (ev.tag == &shutdown_tag) break;
        struct tag *t = ev.tag;
        struct call *c = t->c;
        if (t->kind == T_NEW) {
            if (!ev.success) {
                free_call(c);
                continue;
            }
            if (!shutting) post_new(srv, cq);
            grpc_op ops[2];
            memset(ops, 0, sizeof ops);
            ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
            ops[1].op = GRPC_OP_RECV_MESSAGE;
            ops[1].data.recv_message.recv_message = &c->req;
            grpc_call_start_batch(c->call, ops, 2, &c->t_recv, NULL);
        } else if (t->kind == T_RECV) {
            grpc_op ops[3];
            memset(ops, 0, sizeof ops);
            grpc_byte_buffer *out = NULL;
            grpc_slice s = grpc_empty_slice();
            if (c->req) {
                grpc_byte_buffer_reader r;
                grpc_byte_buffer_reader_init(&r, c->req);
                grpc_slice in = grpc_byte_buffer_reader_readall(&r);
                grpc_byte_buffer_reader_destroy(&r);
                s = answer(c, in);
                grpc_slice_unref(in);
                out = grpc_raw_byte_buffer_create(&s, 1);
            }
            size_t n = 0;
            if (out) {
                ops[n].op = GRPC_OP_SEND_MESSAGE;
                ops[n++].data.send_message.send_message = out;
            }
            ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
            ops[n++].data.recv_close_on_server.cancelled = &c->cancelled;
            ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
            ops[n++].data.send_status_from_server.status = GRPC_STATUS_OK;
            grpc_call_start_batch(c->call, ops, n, &c->t_done, NULL);
            if (out) grpc_byte_buffer_destroy(out);
            grpc_slice_unref(s);
        } else {
            free_call(c);
        }
    }
    grpc_server_destroy(srv);
    grpc_completion_queue_shutdown(cq);
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN) break;
        if (ev.type == GRPC_OP_COMPLETE && ev.tag != &shutdown_tag) free_call(((struct tag *)ev.tag)->c);
    }
    grpc_completion_queue_destroy(cq);
    grpc_shutdown();
    return 0;
}
