/*
 * client.c - libparley-client: the client handle, errors, the unary call and the streams every
 * service's calls are built on (parley/client.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "client_impl.h"
#include "file.h"
#include "riva/proto/health.pb-c.h"

static _Thread_local int last_grpc = -1;

int pl_client_last_grpc_status(void) { return last_grpc; }

void pl_client_free(void *p) { pl_free(p); }

static const char *const grpc_names[] = {
    "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
    "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
    "UNAUTHENTICATED",
};

pl_status pl_client_status_of_grpc(int code) {
    switch (code) {
    case GRPC_STATUS_OK: return PL_OK;
    case GRPC_STATUS_INVALID_ARGUMENT:
    case GRPC_STATUS_FAILED_PRECONDITION:
    case GRPC_STATUS_OUT_OF_RANGE:
    case GRPC_STATUS_UNAUTHENTICATED:
    case GRPC_STATUS_PERMISSION_DENIED: return PL_E_INVALID_ARG;
    case GRPC_STATUS_NOT_FOUND: return PL_E_NOT_FOUND;
    case GRPC_STATUS_UNAVAILABLE: return PL_E_UNAVAILABLE;
    case GRPC_STATUS_DEADLINE_EXCEEDED: return PL_E_TIMEOUT;
    case GRPC_STATUS_CANCELLED: return PL_E_CANCELLED;
    case GRPC_STATUS_RESOURCE_EXHAUSTED: return PL_E_EXHAUSTED;
    case GRPC_STATUS_UNIMPLEMENTED: return PL_E_UNSUPPORTED;
    default: return PL_E_INTERNAL;
    }
}

pl_status pl__client_fail(pl_status st, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    last_grpc = -1;
    return PL_ERR(st, "%s", msg);
}

pl_status pl__client_grpc_fail(const char *rpc, int code, const char *details) {
    const char *name = code >= 0 && code < (int)PL_ARRAY_LEN(grpc_names) ? grpc_names[code]
                                                                         : "UNKNOWN";
    pl_status st = pl_client_status_of_grpc(code);
    if (st == PL_OK) st = PL_E_INTERNAL; /* not a failure: never asked for */
    pl_status r =
        PL_ERR(st, "%s: %s: %s", rpc, name, details && *details ? details : "(no message)");
    last_grpc = code;
    return r;
}

const char *pl__client_rpc_name(const char *method) {
    const char *p = strrchr(method, '/');
    return p ? p + 1 : method;
}

/* ------------------------------------------------------------------ open / close */

/* An API key HTTP/2 metadata can carry: printable ASCII, at most 400 bytes. */
static bool key_ok(const char *k) {
    size_t n = strlen(k);
    if (n == 0 || n > 400) return false;
    for (size_t i = 0; i < n; i++)
        if (k[i] < 0x21 || k[i] > 0x7e) return false;
    return true;
}

pl_status pl_client_open(const struct pl_client_opts *opts, struct pl_client **out) {
    if (!out) return pl__client_fail(PL_E_INVALID_ARG, "pl_client_open: out is NULL");
    *out = NULL;
    if (!opts) return pl__client_fail(PL_E_INVALID_ARG, "pl_client_open: opts is NULL");
    if (opts->api_key && !key_ok(opts->api_key))
        return pl__client_fail(PL_E_INVALID_ARG,
                               "api_key: 1-400 printable characters without spaces");
    if (opts->timeout_ms < 0)
        return pl__client_fail(PL_E_INVALID_ARG, "timeout_ms %d is negative", opts->timeout_ms);
    const char *target = opts->target && *opts->target ? opts->target : "127.0.0.1:50051";
    char *ca = NULL;
    size_t ca_len = 0;
    if (opts->tls_ca_file && pl_read_file(opts->tls_ca_file, 4u << 20, &ca, &ca_len) != PL_OK)
        return pl__client_fail(PL_E_IO, "tls_ca_file: %s", pl_last_error());
    pl_status st = PL_OK;
    struct pl_client *c = pl_calloc(1, sizeof *c);
    if (!c) {
        st = pl__client_fail(PL_E_NOMEM, "out of memory");
        goto fail;
    }
    c->timeout_ms = opts->timeout_ms ? opts->timeout_ms : 60000;
    c->target = pl_strdup(target);
    c->api_key = opts->api_key ? pl_strdup(opts->api_key) : NULL;
    if (!c->target || (opts->api_key && !c->api_key)) {
        st = pl__client_fail(PL_E_NOMEM, "out of memory");
        goto fail;
    }
    grpc_init();
    st = pl__rpc_channel(target, opts->tls || ca, ca, opts->tls_server_name, &c->ch);
    if (st != PL_OK) {
        grpc_shutdown();
        st = pl__client_fail(st, "%s", pl_last_error());
        goto fail;
    }
    pl_free(ca);
    *out = c;
    return PL_OK;
fail:
    pl_free(ca);
    if (c) {
        pl_free(c->target);
        pl_free(c->api_key);
        pl_free(c);
    }
    return st;
}

void pl_client_close(struct pl_client *c) {
    if (!c) return;
    grpc_channel_destroy(c->ch);
    grpc_shutdown();
    pl_free(c->target);
    pl_free(c->api_key);
    pl_free(c);
}

/* ------------------------------------------------------------------ unary */

pl_status pl__client_call(struct pl_client *c, const char *method, const ProtobufCMessage *req,
                          const ProtobufCMessageDescriptor *d, ProtobufCMessage **out) {
    *out = NULL;
    const char *rpc = pl__client_rpc_name(method);
    uint8_t *body = NULL, *resp = NULL;
    size_t n = 0, rn = 0;
    if (pl_proto_pack(req, &body, &n) != PL_OK)
        return pl__client_fail(PL_E_NOMEM, "%s: cannot pack the request", rpc);
    struct pl__rpc_result r;
    pl_status st = pl__rpc_unary(c->ch, method, c->api_key, body, n, c->timeout_ms, &r, &resp, &rn);
    pl_free(body);
    if (st != PL_OK) return pl__client_fail(st, "%s: %s", rpc, pl_last_error());
    if (r.status != GRPC_STATUS_OK) {
        st = pl__client_grpc_fail(rpc, r.status, r.details);
        pl_free(r.details);
        return st;
    }
    st = pl_proto_unpack(d, resp, rn, out);
    pl_free(resp);
    if (st != PL_OK) return pl__client_fail(st, "%s: bad response: %s", rpc, pl_last_error());
    return PL_OK;
}

/* ------------------------------------------------------------------ health */

static const char *const health_names[] = {"UNKNOWN", "SERVING", "NOT_SERVING",
                                           "SERVICE_UNKNOWN"};

const char *pl_client_health_str(enum pl_client_health h) {
    return (unsigned)h < PL_ARRAY_LEN(health_names) ? health_names[h] : "UNKNOWN";
}

pl_status pl_client_health(struct pl_client *c, const char *service,
                           enum pl_client_health *out) {
    if (!out) return pl__client_fail(PL_E_INVALID_ARG, "Check: out is NULL");
    *out = PL_CLIENT_HEALTH_UNKNOWN;
    if (!c) return pl__client_fail(PL_E_INVALID_ARG, "Check: no client");
    Grpc__Health__V1__HealthCheckRequest rq = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    rq.service = (char *)(service ? service : "");
    ProtobufCMessage *m = NULL;
    PL_TRY(pl__client_call(c, "/grpc.health.v1.Health/Check", &rq.base,
                           &grpc__health__v1__health_check_response__descriptor, &m));
    int st = (int)((Grpc__Health__V1__HealthCheckResponse *)m)->status;
    *out = st >= 0 && st < (int)PL_ARRAY_LEN(health_names) ? (enum pl_client_health)st
                                                           : PL_CLIENT_HEALTH_UNKNOWN;
    pl_proto_free(m);
    return PL_OK;
}

/* ------------------------------------------------------------------ streams */

pl_status pl__client_stream_open(struct pl_client *c, const char *method,
                                 const struct pl_client_stream_i *iface,
                                 const ProtobufCMessage *first, void *cb, void *ud,
                                 struct pl_client_stream **out) {
    *out = NULL;
    struct pl_client_stream *s = pl_calloc(1, sizeof *s);
    if (!s) return pl__client_fail(PL_E_NOMEM, "out of memory");
    s->iface = iface;
    s->rpc_name = pl__client_rpc_name(method);
    s->cb = cb;
    s->ud = ud;
    pl_status st = pl__rpc_stream_open(&s->rpc, c->ch, method, c->api_key, c->timeout_ms, first);
    if (st != PL_OK) {
        pl_free(s);
        return pl__client_fail(st, "%s: %s", pl__client_rpc_name(method), pl_last_error());
    }
    *out = s;
    return PL_OK;
}

/* Wait for one event until deadline; a received message goes to the iface (and so to the
 * user's callback) unless the stream has already failed. Returns the event's tag, 0 on
 * timeout, -1 when the queue is gone. */
static int pump(struct pl_client_stream *s, gpr_timespec deadline) {
    int tag = pl__rpc_stream_next(&s->rpc, deadline);
    if (tag == PL__RPC_RECV && s->rpc.recv) {
        if (s->st == PL_OK) {
            pl_status st = s->iface->on_message(s, s->rpc.recv);
            if (st != PL_OK) {
                s->st = st;
                grpc_call_cancel(s->rpc.call, NULL);
            }
        }
        pl__rpc_stream_recv_more(&s->rpc);
    }
    return tag;
}

/* The result of a call that has ended: a local failure first, then the gRPC status. */
static pl_status end_status(struct pl_client_stream *s) {
    if (s->st != PL_OK) return s->st;
    if (!s->rpc.status_done) return pl__client_fail(PL_E_INTERNAL, "%s: ended early", s->rpc_name);
    if (s->rpc.status == GRPC_STATUS_OK) return PL_OK;
    char *d = pl__rpc_stream_details(&s->rpc);
    pl_status st = pl__client_grpc_fail(s->rpc_name, s->rpc.status, d);
    gpr_free(d);
    s->st = st;
    return st;
}

pl_status pl__client_cb_cancel(struct pl_client_stream *s) {
    return pl__client_fail(PL_E_CANCELLED, "%s: cancelled by the callback", s->rpc_name);
}

pl_status pl__client_stream_send(struct pl_client_stream *s, const ProtobufCMessage *m) {
    if (s->finished || s->rpc.closed)
        return pl__client_fail(PL_E_INVALID_ARG, "%s: the stream is finished", s->rpc_name);
    while (!pl__rpc_stream_can_send(&s->rpc) && !s->rpc.status_done)
        if (pump(s, gpr_inf_future(GPR_CLOCK_MONOTONIC)) < 0) break;
    if (s->rpc.status_done || s->st != PL_OK) {
        pl_status st = end_status(s);
        return st != PL_OK ? st
                           : pl__client_fail(PL_E_INVALID_ARG, "%s: the server ended the call",
                                             s->rpc_name);
    }
    pl_status st = pl__rpc_stream_send(&s->rpc, m);
    if (st != PL_OK) return pl__client_fail(st, "%s: %s", s->rpc_name, pl_last_error());
    return PL_OK;
}

pl_status pl_client_stream_send_audio(struct pl_client_stream *s, const void *audio, size_t n) {
    if (!s || (!audio && n))
        return pl__client_fail(PL_E_INVALID_ARG, "send_audio: no stream or audio");
    if (!s->iface->send_audio)
        return pl__client_fail(PL_E_INVALID_ARG, "%s takes no audio", s->rpc_name);
    return s->iface->send_audio(s, audio, n);
}

pl_status pl_client_stream_send_text(struct pl_client_stream *s, const char *text) {
    if (!s || !text) return pl__client_fail(PL_E_INVALID_ARG, "send_text: no stream or text");
    if (!s->iface->send_text)
        return pl__client_fail(PL_E_INVALID_ARG, "%s takes no text", s->rpc_name);
    return s->iface->send_text(s, text);
}

pl_status pl_client_stream_end_utterance(struct pl_client_stream *s) {
    if (!s) return pl__client_fail(PL_E_INVALID_ARG, "end_utterance: no stream");
    if (!s->iface->end_utterance)
        return pl__client_fail(PL_E_INVALID_ARG, "%s has no end of utterance", s->rpc_name);
    return s->iface->end_utterance(s);
}

pl_status pl_client_stream_poll(struct pl_client_stream *s, int timeout_ms) {
    if (!s) return pl__client_fail(PL_E_INVALID_ARG, "poll: no stream");
    gpr_timespec deadline = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                         gpr_time_from_millis(timeout_ms > 0 ? timeout_ms : 0,
                                                              GPR_TIMESPAN));
    while (!pl__rpc_stream_done(&s->rpc))
        if (pump(s, deadline) <= 0) break;
    if (s->st != PL_OK) return s->st;
    return s->rpc.status_done ? end_status(s) : PL_OK;
}

pl_status pl_client_stream_finish(struct pl_client_stream *s) {
    if (!s) return pl__client_fail(PL_E_INVALID_ARG, "finish: no stream");
    if (s->finished) return end_status(s);
    gpr_timespec inf = gpr_inf_future(GPR_CLOCK_MONOTONIC);
    while (!s->rpc.closed && !s->rpc.status_done) {
        if (pl__rpc_stream_can_send(&s->rpc)) {
            if (pl__rpc_stream_close_send(&s->rpc) != PL_OK) grpc_call_cancel(s->rpc.call, NULL);
            break;
        }
        if (pump(s, inf) < 0) break;
    }
    while (!pl__rpc_stream_done(&s->rpc))
        if (pump(s, inf) < 0) break;
    s->finished = true;
    return end_status(s);
}

void pl_client_stream_destroy(struct pl_client_stream *s) {
    if (!s) return;
    pl__rpc_stream_deinit(&s->rpc);
    pl_free(s->impl);
    pl_free(s);
}
