/*
 * gateway_call.c - one gRPC call through the gateway: dispatch by method
 * path, authentication, request checks, forwarding over NATS (unary with
 * pl_nrpc_call_async, streams with a callback-mode pl_nrpc_stream), and the
 * serialized send path back to the client.
 *
 * The completion-queue thread runs every function named on_*; the NATS
 * threads of the nrpc connection run the *_done / stream_* callbacks. None of
 * them blocks: forwarding calls return at once and the replies start gRPC
 * batches from the NATS threads (grpc_call_start_batch is thread-safe).
 */
#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <protobuf-c/protobuf-c.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "gateway_impl.h"
#include "log.h"

#define HEALTH_CHECK_PATH "/grpc.health.v1.Health/Check"
#define HEALTH_WATCH_PATH "/grpc.health.v1.Health/Watch"

void pl__gw_call_ref(struct gw_call *c) { atomic_fetch_add(&c->refs, 1); }

static void drop_out_locked(struct gw_call *c) {
    while (c->out_head) {
        struct gw_out *o = c->out_head;
        c->out_head = o->next;
        grpc_byte_buffer_destroy(o->bb);
        pl_free(o);
    }
    c->out_tail = NULL;
}

static void call_free(struct gw_call *c) {
    struct pl_gw *gw = c->gw;
    if (c->stream) pl_nrpc_stream_destroy(c->stream);
    drop_out_locked(c);
    if (c->recv_bb) grpc_byte_buffer_destroy(c->recv_bb);
    if (c->call) grpc_call_unref(c->call);
    grpc_call_details_destroy(&c->details);
    grpc_metadata_array_destroy(&c->md);
    pthread_mutex_destroy(&c->mu);
    pl_free(c->status_msg);
    if (c->started) atomic_fetch_sub(&gw->active_calls, 1);
    pl__gw_limits_release(gw, c->bucket); /* none left unless the call never ended */
    pl_free(c);
    atomic_fetch_sub(&gw->live_calls, 1);
}

void pl__gw_call_unref(struct gw_call *c) {
    if (atomic_fetch_sub(&c->refs, 1) == 1) call_free(c);
}

void pl__gw_call_post_new(struct pl_gw *gw) {
    struct gw_call *c = pl_calloc(1, sizeof *c);
    if (!c) {
        PL_LOGE("out of memory: cannot accept another call");
        return;
    }
    c->gw = gw;
    atomic_init(&c->refs, 1); /* held by the NEW tag */
    grpc_call_details_init(&c->details);
    grpc_metadata_array_init(&c->md);
    pthread_mutex_init(&c->mu, NULL);
    c->t_new = (struct gw_tag){c, GW_OP_NEW};
    c->t_close = (struct gw_tag){c, GW_OP_CLOSE};
    c->t_recv = (struct gw_tag){c, GW_OP_RECV};
    c->t_send = (struct gw_tag){c, GW_OP_SEND};
    c->t_status = (struct gw_tag){c, GW_OP_STATUS};
    c->health_last = -1;
    c->shard = -1;
    atomic_fetch_add(&gw->live_calls, 1);
    grpc_call_error e = grpc_server_request_call(gw->server, &c->call, &c->details, &c->md, gw->cq,
                                                 gw->cq, &c->t_new);
    if (e != GRPC_CALL_OK) {
        PL_LOGE("grpc_server_request_call failed: %d", (int)e);
        c->call = NULL;
        pl__gw_call_unref(c);
    }
}

/* Initial metadata of every answer: the call's request id, so that clients
 * can quote it (the same id travels to the worker and its logs). */
static void initial_md_op(struct gw_call *c, grpc_op *op, grpc_metadata *md) {
    md->key = grpc_slice_from_static_string("x-request-id");
    md->value = grpc_slice_from_copied_string(c->request_id); /* caller unrefs after the batch */
    op->op = GRPC_OP_SEND_INITIAL_METADATA;
    op->data.send_initial_metadata.count = 1;
    op->data.send_initial_metadata.metadata = md;
}

/* ---- sending to the client ----------------------------------------------------------------- */

/* The call's slot of its admission limits goes back as soon as the call is over for the client:
 * before its status is handed to gRPC (or when the client cancelled). Releasing later, when the
 * last reference goes, would let a client that got its answer and at once makes its next call
 * find the slot still taken (a concurrency cap of 1 refused every few hundred back-to-back calls
 * on a loaded machine). Caller holds c->mu. */
static void release_limits_locked(struct gw_call *c) {
    pl__gw_limits_release(c->gw, c->bucket);
    c->bucket = NULL;
}

/* Start the next send batch if none is in flight. Caller holds c->mu. The
 * last message and the status travel in one batch (one write for unary). */
static void pump_locked(struct gw_call *c) {
    if (c->send_busy || c->status_started || c->finished) return;
    if (!c->out_head && !c->status_queued) return;
    grpc_op ops[3];
    memset(ops, 0, sizeof ops);
    size_t n = 0;
    struct gw_out *o = NULL;
    bool with_status = false;
    grpc_metadata md;
    memset(&md, 0, sizeof md);
    if (!c->initial_md_sent) {
        initial_md_op(c, &ops[n], &md);
        n++;
        c->initial_md_sent = true;
    }
    if (c->out_head) {
        o = c->out_head;
        c->out_head = o->next;
        if (!c->out_head) c->out_tail = NULL;
        ops[n].op = GRPC_OP_SEND_MESSAGE;
        ops[n].data.send_message.send_message = o->bb;
        n++;
        with_status = !c->out_head && c->status_queued;
    } else {
        with_status = true;
    }
    grpc_slice details = grpc_empty_slice();
    grpc_metadata trailer;
    memset(&trailer, 0, sizeof trailer);
    if (with_status) {
        details = grpc_slice_from_copied_string(c->status_msg ? c->status_msg : "");
        ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
        ops[n].data.send_status_from_server.status = (grpc_status_code)c->status_code;
        ops[n].data.send_status_from_server.status_details = c->status_code ? &details : NULL;
        ops[n].data.send_status_from_server.trailing_metadata_count = 0;
        if (c->status_code && c->retry_after_ms > 0) { /* the advice, machine-readable */
            char v[24];
            snprintf(v, sizeof v, "%lld", (long long)c->retry_after_ms);
            trailer.key = grpc_slice_from_static_string("retry-after-ms");
            trailer.value = grpc_slice_from_copied_string(v);
            ops[n].data.send_status_from_server.trailing_metadata_count = 1;
            ops[n].data.send_status_from_server.trailing_metadata = &trailer;
        }
        n++;
        c->status_started = true;
        release_limits_locked(c);
        pl__gw_metrics_record(c->gw, c->rpc_name, c->status_code,
                              pl_time_mono_us() - c->start_us);
    } else {
        c->send_busy = true;
    }
    struct gw_tag *tag = with_status ? &c->t_status : &c->t_send;
    pl__gw_call_ref(c);
    grpc_call_error e = grpc_call_start_batch(c->call, ops, n, tag, NULL);
    if (o) {
        grpc_byte_buffer_destroy(o->bb);
        pl_free(o);
    }
    grpc_slice_unref(details);
    grpc_slice_unref(md.value);
    grpc_slice_unref(trailer.value);
    if (e != GRPC_CALL_OK) {
        PL_LOGE("grpc_call_start_batch (send) failed: %d", (int)e);
        c->send_busy = false;
        atomic_fetch_sub(&c->refs, 1); /* cannot be the last: the caller holds one */
    }
}

static bool queue_msg_locked(struct gw_call *c, const uint8_t *data, size_t n) {
    struct gw_out *o = pl_malloc(sizeof *o);
    if (!o) return false;
    grpc_slice s = grpc_slice_from_copied_buffer((const char *)data, n);
    o->bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    o->next = NULL;
    if (c->out_tail)
        c->out_tail->next = o;
    else
        c->out_head = o;
    c->out_tail = o;
    return true;
}

static void set_status_locked(struct gw_call *c, int code, const char *msg) {
    if (c->status_queued) return;
    c->status_queued = true;
    c->status_code = code;
    c->status_msg = pl_strdup(msg ? msg : "");
}

void pl__gw_call_push(struct gw_call *c, const uint8_t *data, size_t n) {
    pthread_mutex_lock(&c->mu);
    if (!c->status_queued && !c->finished) {
        if (!queue_msg_locked(c, data, n)) set_status_locked(c, PL_GRPC_INTERNAL, "out of memory");
        pump_locked(c);
    }
    pthread_mutex_unlock(&c->mu);
}

void pl__gw_call_finish(struct gw_call *c, int code, const char *msg) {
    pthread_mutex_lock(&c->mu);
    set_status_locked(c, code, msg);
    pump_locked(c);
    pthread_mutex_unlock(&c->mu);
}

/* A unary answer: the message (when OK) and the status in one batch. */
void pl__gw_call_reply(struct gw_call *c, int code, const uint8_t *data, size_t n, const char *msg) {
    pthread_mutex_lock(&c->mu);
    if (!c->status_queued && !c->finished) {
        if (code == PL_GRPC_OK && !queue_msg_locked(c, data, n))
            set_status_locked(c, PL_GRPC_INTERNAL, "out of memory");
        set_status_locked(c, code, msg);
        pump_locked(c);
    }
    pthread_mutex_unlock(&c->mu);
}

/* ---- forwarding ---------------------------------------------------------------------------- */

static void unary_done(void *ud, struct pl_nrpc_reply *r) {
    struct gw_call *c = ud;
    atomic_fetch_sub(&c->gw->pending, 1);
    if (r->code != PL_GRPC_OK)
        PL_LOGD("request %s %s: %s %s", c->request_id, c->rpc_name, pl_grpc_code_name(r->code),
                r->message ? r->message : "");
    char why[600];
    pl__gw_call_reply(c, r->code, r->data, r->len,
                      pl__gw_route_error(c->shard, r->code, r->message, why, sizeof why));
    pl__gw_call_unref(c);
}

static void stream_message(void *ud, const uint8_t *data, size_t n) {
    pl__gw_call_push((struct gw_call *)ud, data, n);
}

static void post_recv(struct gw_call *c);

/* Whether the worker has yet to take a window's worth of what the stream sent (c->mu held). */
static bool window_full(struct gw_call *c) {
    int64_t bytes = 0, frames = 0;
    pl_nrpc_stream_unacked(c->stream, &bytes, &frames);
    return bytes >= GW_STREAM_WINDOW_BYTES || frames >= GW_STREAM_WINDOW_FRAMES;
}

/* After forwarding a client message: read the next one, or wait for the worker's acks
 * (stream_ack reads it then), so that the client is held back by gRPC flow control instead
 * of its messages piling up between here and the worker. */
static void recv_or_pause(struct gw_call *c) {
    pthread_mutex_lock(&c->mu);
    bool full = c->stream && window_full(c);
    c->recv_paused = full;
    pthread_mutex_unlock(&c->mu);
    if (!full) post_recv(c);
}

static void stream_ack(void *ud) {
    struct gw_call *c = ud;
    pthread_mutex_lock(&c->mu);
    bool resume = c->recv_paused && !window_full(c);
    if (resume) c->recv_paused = false;
    pthread_mutex_unlock(&c->mu);
    if (resume) post_recv(c);
}

static void stream_end(void *ud, int code, const char *message) {
    struct gw_call *c = ud;
    atomic_fetch_sub(&c->gw->pending, 1);
    char why[600];
    pl__gw_call_finish(c, code, pl__gw_route_error(c->shard, code, message, why, sizeof why));
    pl__gw_call_unref(c); /* may free c and destroy the stream: allowed from its callback */
}

static void fill_meta(struct gw_call *c, struct pl_nrpc_meta *m) {
    m->request_id = c->request_id;
    m->deadline_us = c->deadline_us;
    m->user = c->user[0] ? c->user : NULL;
}

/* Copy the byte buffer into one contiguous slice (caller unrefs). */
static grpc_slice read_all(grpc_byte_buffer *bb) {
    grpc_byte_buffer_reader r;
    if (!grpc_byte_buffer_reader_init(&r, bb)) return grpc_empty_slice();
    grpc_slice s = grpc_byte_buffer_reader_readall(&r);
    grpc_byte_buffer_reader_destroy(&r);
    return s;
}

/* INVALID_ARGUMENT text when bytes do not parse as the rpc's input type; NULL if fine. */
static bool valid_request(struct gw_call *c, const uint8_t *p, size_t n) {
    if (!c->gw->cfg.validate_requests || !c->rpc || !c->rpc->input) return true;
    ProtobufCMessage *m = protobuf_c_message_unpack(c->rpc->input, NULL, n, p);
    if (!m) return false;
    protobuf_c_message_free_unpacked(m, NULL);
    return true;
}

static void invalid(struct gw_call *c) {
    char msg[256];
    snprintf(msg, sizeof msg, "request is not a valid %s message",
             c->rpc && c->rpc->input ? c->rpc->input->name : "protobuf");
    pl__gw_call_reply(c, PL_GRPC_INVALID_ARGUMENT, NULL, 0, msg);
}

static void post_recv(struct gw_call *c) {
    grpc_op ops[2];
    memset(ops, 0, sizeof ops);
    size_t n = 0;
    pthread_mutex_lock(&c->mu);
    if (c->status_started || c->finished) {
        pthread_mutex_unlock(&c->mu);
        return;
    }
    grpc_metadata md;
    memset(&md, 0, sizeof md);
    /* a stream's client sees the headers at once; a unary call's go out with its answer, in
     * the same write (one TCP send and one client wake-up per call less) */
    if (!c->initial_md_sent && c->kind != GW_KIND_UNARY) {
        initial_md_op(c, &ops[n], &md);
        n++;
        c->initial_md_sent = true;
    }
    ops[n].op = GRPC_OP_RECV_MESSAGE;
    ops[n].data.recv_message.recv_message = &c->recv_bb;
    n++;
    pl__gw_call_ref(c);
    grpc_call_error e = grpc_call_start_batch(c->call, ops, n, &c->t_recv, NULL);
    grpc_slice_unref(md.value);
    if (e != GRPC_CALL_OK) {
        PL_LOGE("grpc_call_start_batch (recv) failed: %d", (int)e);
        atomic_fetch_sub(&c->refs, 1);
    }
    pthread_mutex_unlock(&c->mu);
}

static void forward_unary(struct gw_call *c, const uint8_t *p, size_t n) {
    struct pl_gw *gw = c->gw;
    char subject[160];
    c->shard = pl__gw_route_shard(c->rpc, p, n);
    pl__gw_route_subject(c->rpc->service, c->rpc->rpc, c->shard, subject, sizeof subject);
    struct pl_nrpc_meta m;
    fill_meta(c, &m);
    int64_t timeout = gw->cfg.request_timeout_ms;
    if (c->deadline_us) {
        int64_t left = (c->deadline_us - pl_time_mono_us()) / 1000;
        if (left < timeout) timeout = left;
        if (timeout < 1) timeout = 1;
    }
    /* While NATS is down (reconnecting) a request would sit in the client's
     * reconnect buffer until its deadline: answer UNAVAILABLE at once instead. */
    struct pl_nrpc_conn *conn = pl__gw_nrpc(gw);
    if (!conn || !pl_nrpc_conn_connected(conn)) {
        pl__gw_call_reply(c, PL_GRPC_UNAVAILABLE, NULL, 0, "gateway is not connected to NATS");
        return;
    }
    atomic_fetch_add(&gw->pending, 1);
    pl__gw_call_ref(c);
    pl_status st = pl_nrpc_call_async(conn, subject, p, n, &m, (int)timeout, unary_done, c);
    if (st != PL_OK) {
        atomic_fetch_sub(&gw->pending, 1);
        pl__gw_call_reply(c, PL_GRPC_UNAVAILABLE, NULL, 0, pl_last_error());
        pl__gw_call_unref(c);
    }
}

/* The per-rpc size limit and the names in the request; false after answering the call
 * (RESOURCE_EXHAUSTED or INVALID_ARGUMENT naming the limit or the field). */
static bool request_ok(struct gw_call *c, const uint8_t *p, size_t n) {
    char msg[400];
    const char *key = NULL;
    int64_t max = c->rpc ? pl__gw_rpc_max(c->gw, c->rpc, &key) : 0;
    if (max > 0 && (int64_t)n > max) {
        snprintf(msg, sizeof msg,
                 "request message of %zu bytes exceeds the %lld-byte limit of %s (gateway.%s)", n,
                 (long long)max, c->rpc_name, key);
        pl__gw_call_reply(c, PL_GRPC_RESOURCE_EXHAUSTED, NULL, 0, msg);
        return false;
    }
    if (c->rpc && !pl__gw_names_ok(c->rpc->input, p, n, msg, sizeof msg)) {
        pl__gw_call_reply(c, PL_GRPC_INVALID_ARGUMENT, NULL, 0, msg);
        return false;
    }
    if (!valid_request(c, p, n)) {
        invalid(c);
        return false;
    }
    return true;
}

/* Open the call's NATS stream (to its session's shard when shard >= 0); false after
 * answering the call UNAVAILABLE. */
static bool open_stream(struct gw_call *c, int shard) {
    struct pl_gw *gw = c->gw;
    struct pl_nrpc_meta m;
    fill_meta(c, &m);
    static const struct pl_nrpc_stream_cbs cbs = {stream_message, stream_end};
    char svc[64];
    c->shard = shard;
    pl__gw_route_stream_svc(c->rpc->service, shard, svc, sizeof svc);
    atomic_fetch_add(&gw->pending, 1);
    pl__gw_call_ref(c); /* released by stream_end */
    struct pl_nrpc_stream *s = NULL;
    pl_status st = pl_nrpc_stream_open(pl__gw_nrpc(gw), svc, c->rpc->rpc, &m, &cbs, c, &s);
    if (st == PL_OK) pl_nrpc_stream_set_on_ack(s, stream_ack);
    pthread_mutex_lock(&c->mu);
    c->stream = s; /* read by on_close and call_free, which run after this */
    pthread_mutex_unlock(&c->mu);
    if (st != PL_OK) {
        atomic_fetch_sub(&gw->pending, 1);
        pl__gw_call_reply(c, PL_GRPC_UNAVAILABLE, NULL, 0, pl_last_error());
        pl__gw_call_unref(c);
        return false;
    }
    return true;
}

/* The first message of a stream whose open waited for it (a dialog Converse: its config names
 * the session, hence the shard). */
static void open_deferred(struct gw_call *c, const uint8_t *p, size_t n) {
    c->open_deferred = false;
    if (!request_ok(c, p, n)) return;
    if (!open_stream(c, pl__gw_route_shard(c->rpc, p, n))) return;
    pl_nrpc_stream_send(c->stream, p, n);
    recv_or_pause(c);
}

static void on_recv(struct gw_call *c, bool ok) {
    grpc_byte_buffer *bb = c->recv_bb;
    c->recv_bb = NULL;
    pthread_mutex_lock(&c->mu);
    bool over = c->status_queued || c->finished;
    pthread_mutex_unlock(&c->mu);
    if (over || !ok) {
        /* A failed receive ends the call (the core already sent its status,
         * e.g. RESOURCE_EXHAUSTED for an oversized message); CLOSE follows. */
        if (bb) grpc_byte_buffer_destroy(bb);
        return;
    }
    if (c->kind == GW_KIND_STREAM) {
        if (!bb) {
            if (c->open_deferred) { /* no message at all: the worker answers as before */
                c->open_deferred = false;
                if (!open_stream(c, -1)) return;
            }
            pl_nrpc_stream_close_send(c->stream);
            return;
        }
        grpc_slice s = read_all(bb);
        grpc_byte_buffer_destroy(bb);
        const uint8_t *p = GRPC_SLICE_START_PTR(s);
        size_t n = GRPC_SLICE_LENGTH(s);
        if (c->open_deferred) {
            open_deferred(c, p, n);
        } else if (!request_ok(c, p, n)) {
            pl_nrpc_stream_cancel(c->stream);
        } else {
            pl_nrpc_stream_send(c->stream, p, n); /* PL_E_CANCELLED after the end: on_end reports */
            recv_or_pause(c);
        }
        grpc_slice_unref(s);
        return;
    }
    if (!bb) {
        pl__gw_call_reply(c, PL_GRPC_INVALID_ARGUMENT, NULL, 0, "the client sent no request message");
        return;
    }
    grpc_slice s = read_all(bb);
    grpc_byte_buffer_destroy(bb);
    const uint8_t *p = GRPC_SLICE_START_PTR(s);
    size_t n = GRPC_SLICE_LENGTH(s);
    if (c->kind == GW_KIND_HEALTH_CHECK || c->kind == GW_KIND_HEALTH_WATCH)
        pl__gw_health_handle(c, p, n);
    else if (request_ok(c, p, n))
        forward_unary(c, p, n);
    grpc_slice_unref(s);
}

/* ---- a new call ---------------------------------------------------------------------------- */

/* gateway_impl.h; not static so that tests/fuzz/fuzz_gateway_md.c runs this very code. */
void pl__gw_read_metadata(const grpc_metadata *md, size_t count, char *request_id,
                          size_t id_cap, const char **auth, size_t *auth_len) {
    *auth = NULL;
    *auth_len = 0;
    request_id[0] = 0;
    for (size_t i = 0; i < count; i++) {
        const grpc_metadata *m = &md[i];
        size_t kl = GRPC_SLICE_LENGTH(m->key), vl = GRPC_SLICE_LENGTH(m->value);
        const char *k = (const char *)GRPC_SLICE_START_PTR(m->key);
        const char *v = (const char *)GRPC_SLICE_START_PTR(m->value);
        if (kl == 13 && memcmp(k, "authorization", 13) == 0) {
            *auth = v;
            *auth_len = vl;
        } else if (kl == 12 && memcmp(k, "x-request-id", 12) == 0 && vl > 0 && vl <= 64 &&
                   vl < id_cap) {
            memcpy(request_id, v, vl);
            request_id[vl] = 0;
            if (!pl_request_id_valid(request_id)) request_id[0] = 0;
        }
    }
    if (!request_id[0]) pl_request_id_new(request_id);
}

static void read_metadata(struct gw_call *c, const char **auth, size_t *auth_len) {
    pl__gw_read_metadata(c->md.metadata, c->md.count, c->request_id, sizeof c->request_id, auth,
                         auth_len);
}

/* The call's gRPC deadline as Parley's one deadline (pl_time_mono_us(); 0 = none): the time
 * left on gRPC's clock added to ours, so the two clocks' origins never mix. */
static int64_t deadline_us(gpr_timespec d) {
    gpr_timespec inf = gpr_inf_future(d.clock_type);
    if (gpr_time_cmp(d, inf) == 0) return 0;
    gpr_timespec left = gpr_time_sub(gpr_convert_clock_type(d, GPR_CLOCK_MONOTONIC),
                                     gpr_now(GPR_CLOCK_MONOTONIC));
    if (left.tv_sec > (int64_t)1 << 30) return 0; /* far enough to be none */
    int64_t us = (int64_t)left.tv_sec * 1000000 + left.tv_nsec / 1000;
    return pl_time_mono_us() + (us > 0 ? us : 0);
}

/* The per-key (or per-client-address) rate limit and concurrency cap of a forwarded call;
 * false after answering RESOURCE_EXHAUSTED with the limit and the advice. */
static bool admit(struct gw_call *c, long key) {
    char msg[300];
    int64_t retry_ms = 0;
    char *peer = key < 0 ? grpc_call_get_peer(c->call) : NULL;
    bool ok = pl__gw_limits_admit(c->gw, key, peer, &c->bucket, msg, sizeof msg, &retry_ms);
    if (peer) gpr_free(peer);
    if (!ok) {
        PL_LOGD("request %s %s refused: %s", c->request_id, c->rpc_name, msg);
        c->retry_after_ms = retry_ms;
        pl__gw_call_reply(c, PL_GRPC_RESOURCE_EXHAUSTED, NULL, 0, msg);
    }
    return ok;
}

static void on_new(struct gw_call *c) {
    struct pl_gw *gw = c->gw;
    c->start_us = pl_time_mono_us();
    c->started = true;
    atomic_fetch_add(&gw->active_calls, 1);
    const char *path = (const char *)GRPC_SLICE_START_PTR(c->details.method);
    size_t plen = GRPC_SLICE_LENGTH(c->details.method);

    /* CLOSE completes when the call is over; it tells us about cancellation. */
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    op.data.recv_close_on_server.cancelled = &c->close_cancelled;
    pl__gw_call_ref(c);
    if (grpc_call_start_batch(c->call, &op, 1, &c->t_close, NULL) != GRPC_CALL_OK) {
        atomic_fetch_sub(&c->refs, 1);
        PL_LOGE("cannot watch the call's end");
        return;
    }

    const char *auth;
    size_t auth_len;
    read_metadata(c, &auth, &auth_len);
    c->deadline_us = deadline_us(c->details.deadline);

    if (plen == strlen(HEALTH_CHECK_PATH) && memcmp(path, HEALTH_CHECK_PATH, plen) == 0) {
        c->kind = GW_KIND_HEALTH_CHECK;
        snprintf(c->rpc_name, sizeof c->rpc_name, "health_check");
    } else if (plen == strlen(HEALTH_WATCH_PATH) && memcmp(path, HEALTH_WATCH_PATH, plen) == 0) {
        c->kind = GW_KIND_HEALTH_WATCH;
        snprintf(c->rpc_name, sizeof c->rpc_name, "health_watch");
    } else {
        c->rpc = pl_rpc_find(path, plen);
        if (c->rpc && strcmp(c->rpc->service, "health") == 0) c->rpc = NULL;
        if (c->rpc) {
            c->kind = c->rpc->client_streaming || c->rpc->server_streaming ? GW_KIND_STREAM
                                                                           : GW_KIND_UNARY;
            snprintf(c->rpc_name, sizeof c->rpc_name, "%s", c->rpc->rpc);
        } else {
            c->kind = GW_KIND_UNKNOWN;
            snprintf(c->rpc_name, sizeof c->rpc_name, "unknown");
        }
    }
    if (c->kind == GW_KIND_UNKNOWN) {
        char msg[300];
        snprintf(msg, sizeof msg, "unknown method %.*s", (int)(plen > 200 ? 200 : plen), path);
        pl__gw_call_reply(c, PL_GRPC_UNIMPLEMENTED, NULL, 0, msg);
        return;
    }
    long key = -1;
    if (gw->keys) {
        key = pl_gw_keys_find(gw->keys, auth, auth_len);
        if (key < 0) {
            pl__gw_call_reply(c, PL_GRPC_UNAUTHENTICATED,
                  NULL, 0, auth ? "invalid API key" : "missing API key (authorization metadata)");
            return;
        }
        snprintf(c->user, sizeof c->user, "%s", pl_gw_keys_user(gw->keys, (size_t)key));
    }
    if (c->kind == GW_KIND_UNARY || c->kind == GW_KIND_STREAM) {
        if (!admit(c, key)) return;
        if (atomic_load(&gw->pending) >= gw->cfg.max_pending) {
            pl__gw_call_reply(c, PL_GRPC_RESOURCE_EXHAUSTED, NULL, 0, "gateway: too many calls in flight");
            return;
        }
    }
    if (c->kind == GW_KIND_STREAM && !pl__gw_connected(gw)) {
        pl__gw_call_reply(c, PL_GRPC_UNAVAILABLE, NULL, 0, "gateway is not connected to NATS");
        return;
    }
    if (c->kind == GW_KIND_STREAM) {
        /* a dialog stream goes to its session's shard: open it when its first message says
         * which (the client's messages wait in gRPC meanwhile) */
        if (strcmp(c->rpc->service, "dialog") == 0)
            c->open_deferred = true;
        else if (!open_stream(c, -1))
            return;
    }
    post_recv(c);
}

static void on_close(struct gw_call *c) {
    pthread_mutex_lock(&c->mu);
    c->finished = true;
    bool had_status = c->status_started;
    release_limits_locked(c);
    struct pl_nrpc_stream *s = c->stream;
    drop_out_locked(c);
    pthread_mutex_unlock(&c->mu);
    if (c->kind == GW_KIND_HEALTH_WATCH) pl__gw_health_unwatch(c);
    if (!had_status) {
        /* Cancelled by the client, its deadline, or a transport error (the core
         * then reported the status itself, e.g. RESOURCE_EXHAUSTED). */
        int code = PL_GRPC_CANCELLED;
        if (c->deadline_us && pl_time_mono_us() >= c->deadline_us)
            code = PL_GRPC_DEADLINE_EXCEEDED;
        pl__gw_metrics_record(c->gw, c->rpc_name, code, pl_time_mono_us() - c->start_us);
    }
    if (s && c->close_cancelled) pl_nrpc_stream_cancel(s);
}

void pl__gw_call_event(struct gw_tag *tag, bool ok) {
    struct gw_call *c = tag->call;
    switch (tag->op) {
    case GW_OP_NEW:
        if (!ok) {
            break; /* the server is shutting down: this request slot ends unused */
        }
        if (!c->gw->stop) pl__gw_call_post_new(c->gw);
        on_new(c);
        break;
    case GW_OP_CLOSE:
        on_close(c);
        break;
    case GW_OP_RECV:
        on_recv(c, ok);
        break;
    case GW_OP_SEND:
        pthread_mutex_lock(&c->mu);
        c->send_busy = false;
        if (ok)
            pump_locked(c);
        else
            drop_out_locked(c);
        pthread_mutex_unlock(&c->mu);
        break;
    case GW_OP_STATUS:
    case GW_OP_SHUTDOWN:
        break;
    }
    pl__gw_call_unref(c);
}
