/*
 * gateway_impl.h - private structures of parley-gateway, shared by its
 * gateway_*.c files. Not a public API.
 *
 * A gRPC call is a struct gw_call, reference-counted: every batch in flight
 * on the completion queue holds one reference, and so do an outstanding NATS
 * unary call and an open NATS stream. The call is freed (grpc_call_unref,
 * stream destroyed) when the last reference goes, on whichever thread.
 * Sending to the client is serialized by gw_call.mu: at most one SEND_MESSAGE
 * in flight, further messages queue, the status goes out after the last.
 */
#ifndef PL_GATEWAY_IMPL_H
#define PL_GATEWAY_IMPL_H

#include <grpc/grpc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "gateway.h"
#include "gateway_auth.h"
#include "nrpc.h"
#include "rpc_table.h"
#include "util.h"

struct gw_call;
struct gw_bucket; /* gateway_limit.c */
struct gw_limits;

enum gw_op {
    GW_OP_NEW,    /* grpc_server_request_call completed */
    GW_OP_CLOSE,  /* RECV_CLOSE_ON_SERVER: the call is over (cancelled or not) */
    GW_OP_RECV,   /* RECV_MESSAGE (with SEND_INITIAL_METADATA on the first) */
    GW_OP_SEND,   /* one SEND_MESSAGE of a stream */
    GW_OP_STATUS, /* SEND_STATUS_FROM_SERVER (with the last message, if any) */
    GW_OP_SHUTDOWN, /* grpc_server_shutdown_and_notify */
};

struct gw_tag {
    struct gw_call *call;
    enum gw_op op;
};

/* A message waiting to go to the client. */
struct gw_out {
    struct gw_out *next;
    grpc_byte_buffer *bb;
};

enum gw_kind {
    GW_KIND_UNKNOWN,   /* no such method: UNIMPLEMENTED */
    GW_KIND_HEALTH_CHECK,
    GW_KIND_HEALTH_WATCH,
    GW_KIND_UNARY,     /* forwarded with pl_nrpc_call_async */
    GW_KIND_STREAM,    /* forwarded with a pl_nrpc_stream */
};

/* Flow control of client streams (gateway_call.c): the next client message is read only while
 * the worker has not yet taken less than this of what the stream forwarded to it (its acks,
 * nrpc.h); otherwise gRPC's own flow control holds the client back. What a stream buffers is
 * then bounded by the window plus one message (gateway.max_receive_bytes), however fast the
 * client sends. */
#define GW_STREAM_WINDOW_BYTES (4 << 20)
#define GW_STREAM_WINDOW_FRAMES 256

struct gw_call {
    struct pl_gw *gw;
    grpc_call *call;
    grpc_call_details details;
    grpc_metadata_array md;
    struct gw_tag t_new, t_close, t_recv, t_send, t_status;
    grpc_byte_buffer *recv_bb;
    int close_cancelled;
    atomic_int refs;

    const struct pl_rpc_info *rpc; /* NULL for health and unknown methods */
    enum gw_kind kind;
    char rpc_name[64];              /* metrics label: "punctuate_text", "health_check", "unknown" */
    char request_id[72];
    char user[72];
    int64_t deadline_us;            /* pl_time_mono_us(); 0 = none */
    int64_t timeout_ms;             /* for unary NATS calls */
    int64_t start_us;
    struct gw_bucket *bucket;       /* the limits this call counts against; NULL = none */
    int64_t retry_after_ms;         /* > 0: sent as `retry-after-ms` trailing metadata */
    bool initial_md_sent;           /* touched by the CQ thread only */
    int shard;                      /* dialog shard the call went to; -1 = the plain subject */
    bool open_deferred;             /* stream opened at the first message (its session's shard) */
    bool started;                   /* a real call (counted in gw->active_calls) */

    pthread_mutex_t mu;             /* guards the fields below */
    struct gw_out *out_head, *out_tail;
    bool send_busy;                 /* a SEND_MESSAGE is in flight */
    bool status_queued, status_started;
    int status_code;
    char *status_msg;
    bool finished;                  /* the client side is over (CLOSE seen) */
    struct pl_nrpc_stream *stream;  /* GW_KIND_STREAM; destroyed with the call */
    bool recv_paused;               /* flow control: the worker has not taken a window's worth */
    int health_idx;                 /* GW_KIND_HEALTH_WATCH: service index, -1 "", -2 unknown */
    int health_last;                /* GW_KIND_HEALTH_WATCH: last status sent, -1 none */
    struct gw_call *watch_next;     /* list of watches (gw->watch_mu) */
    bool watching;
};

#define GW_HEALTH_SERVICES_MAX 16
struct gw_health_svc {
    char name[96];      /* "nvidia.riva.nlp.RivaLanguageUnderstanding" */
    char svc[24];       /* "nlu" */
    int status;         /* 1 SERVING, 2 NOT_SERVING (HealthCheckResponse values) */
    struct pl_nrpc_stream *probe; /* periodic probe in flight, or NULL */
    int64_t probe_started_ms;
    int probe_result;   /* status the finished probe found; 0 while running */
    struct pl_gw *gw;
};

struct gw_metrics; /* gateway_metrics.c */

struct gw_rpc_max {
    int64_t bytes;   /* largest request message of the rpc */
    const char *key; /* the setting it comes from: "max_text_request_bytes", ... (static) */
};

struct pl_gw {
    struct pl_gw_config cfg;
    grpc_server *server;
    grpc_completion_queue *cq;
    int grpc_port;
    struct pl_gw_keys *keys;      /* NULL = no authentication */
    struct gw_limits *limits;     /* per key / per client address admission (gateway_limit.c) */
    struct gw_rpc_max *rpc_max;   /* largest request message per rpc, by pl_rpc_at index */
    _Atomic(struct pl_nrpc_conn *) nrpc; /* NULL until the first connect succeeds */
    struct pl_nrpc_conn_opts nrpc_opts;
    pthread_t connector;          /* retries the first NATS connect in the background */
    bool connector_running;
    struct gw_metrics *metrics;
    volatile sig_atomic_t stop;
    bool shutting_down;           /* CQ thread only */
    bool started, shut_down;
    atomic_int live_calls;        /* gw_call objects alive (incl. posted request slots) */
    atomic_int active_calls;      /* calls received and not yet freed */
    atomic_int pending;           /* calls being forwarded (for max_pending) */
    struct gw_tag t_shutdown;

    pthread_mutex_t health_mu;
    struct gw_health_svc health[GW_HEALTH_SERVICES_MAX];
    int n_health;
    int64_t next_probe_ms;
    int overall_last;
    struct gw_call *watches;      /* guarded by health_mu */
};

/* The NATS connection, or NULL while it was never up. */
static inline struct pl_nrpc_conn *pl__gw_nrpc(struct pl_gw *gw) { return atomic_load(&gw->nrpc); }
static inline bool pl__gw_connected(struct pl_gw *gw) {
    struct pl_nrpc_conn *c = pl__gw_nrpc(gw);
    return c && pl_nrpc_conn_connected(c);
}

/* gateway_call.c ------------------------------------------------------------------------------ */
void pl__gw_call_post_new(struct pl_gw *gw);         /* request the next call */
void pl__gw_call_event(struct gw_tag *tag, bool ok);      /* a CQ event for a call */
void pl__gw_call_ref(struct gw_call *c);
void pl__gw_call_unref(struct gw_call *c);
/* Queue a message (copied) for the client; thread-safe. */
void pl__gw_call_push(struct gw_call *c, const uint8_t *data, size_t n);
/* A unary answer: the message (when code is 0) and the status in one batch. Thread-safe. */
void pl__gw_call_reply(struct gw_call *c, int code, const uint8_t *data, size_t n, const char *msg);
/* Queue the final status after the queued messages; only the first counts. Thread-safe. */
void pl__gw_call_finish(struct gw_call *c, int code, const char *msg);
/* A new call's metadata: *auth and *auth_len the `authorization` value (borrowed from md; NULL
 * when absent), request_id (id_cap >= PL_REQUEST_ID_LEN bytes) a valid `x-request-id` of at
 * most 64 characters, else a fresh id. */
/* Routing by session shard (gateway_route.c). The shard a dialog request's session_id names
 * (top level, or the Converse config's); -1: none (plain subject). Any thread. */
int pl__gw_route_shard(const struct pl_rpc_info *rpc, const uint8_t *p, size_t n);
/* The unary subject ("parley.dialog.shard.3.get_history"), or the plain one for shard -1. */
void pl__gw_route_subject(const char *service, const char *rpc, int shard, char *out,
                          size_t cap);
/* The service name for pl_nrpc_stream_open ("dialog.shard.3", or "dialog" for shard -1). */
void pl__gw_route_stream_svc(const char *service, int shard, char *out, size_t cap);
/* The client's message for a call to a shard that ended UNAVAILABLE: names the shard (in buf);
 * msg itself otherwise. */
const char *pl__gw_route_error(int shard, int code, const char *msg, char *buf, size_t cap);

void pl__gw_read_metadata(const grpc_metadata *md, size_t count, char *request_id,
                          size_t id_cap, const char **auth, size_t *auth_len);

/* gateway_limit.c ----------------------------------------------------------------------------- */
pl_status pl__gw_limits_create(struct pl_gw *gw); /* after the keys are loaded */
void pl__gw_limits_destroy(struct pl_gw *gw);
/* Admit a call of API key `key` (its index; -1 without keys) from gRPC peer `peer`
 * ("ipv4:1.2.3.4:5678"): true and *bucket (NULL when no limit applies; give it back with
 * pl__gw_limits_release when the call ends), or false with msg naming the limit and
 * *retry_ms the advised wait (0 = none). Thread-safe. */
bool pl__gw_limits_admit(struct pl_gw *gw, long key, const char *peer, struct gw_bucket **bucket,
                         char *msg, size_t cap, int64_t *retry_ms);
void pl__gw_limits_release(struct pl_gw *gw, struct gw_bucket *b); /* NULL: no-op */
/* "ipv4:10.0.0.1:5312" -> "10.0.0.1", "ipv6:[::1]:5312" -> "[::1]". */
void pl__gw_peer_addr(const char *peer, char *out, size_t cap);

/* gateway_check.c ----------------------------------------------------------------------------- */
/* gw->rpc_max from max_text/audio_request_bytes and rpc_max_bytes. PL_E_INVALID_ARG names a
 * bad override. */
pl_status pl__gw_sizes_init(struct pl_gw *gw);
/* The largest request message of rpc r, and OUT *key the gateway setting that says so. */
int64_t pl__gw_rpc_max(const struct pl_gw *gw, const struct pl_rpc_info *r, const char **key);
/* Why a client-given name (n bytes, not NUL-terminated) is refused, NULL when it is fine
 * (empty is fine: the default). The text is static or in buf. */
const char *pl__gw_name_problem(const char *s, size_t n, char *buf, size_t cap);
/* The name fields (model, model_name, voice_name, asr_model, dialog, domain, session_id,
 * context_id) in the wire bytes of a message of type d, at any depth: false with why
 * ("model.model_name: contains '..' (...)") when one is refused. Thread-safe. */
bool pl__gw_names_ok(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t n, char *why,
                     size_t cap);

/* gateway_health.c ---------------------------------------------------------------------------- */
void pl__gw_health_init(struct pl_gw *gw);
/* Status (1 SERVING, 2 NOT_SERVING) of `service` ("" = whole server); -1 = unknown name. */
int pl__gw_health_status(struct pl_gw *gw, const char *service, size_t len);
void pl__gw_health_handle(struct gw_call *c, const uint8_t *req, size_t n);
void pl__gw_health_tick(struct pl_gw *gw); /* CQ thread, every loop turn */
void pl__gw_health_unwatch(struct gw_call *c);
void pl__gw_health_deinit(struct pl_gw *gw); /* CQ thread, before the NATS connection goes */

/* gateway_metrics.c --------------------------------------------------------------------------- */
pl_status pl__gw_metrics_create(struct pl_gw *gw);
void pl__gw_metrics_destroy(struct pl_gw *gw);
void pl__gw_metrics_record(struct pl_gw *gw, const char *rpc, int code, int64_t dur_us);
int pl__gw_metrics_port(const struct pl_gw *gw);
/* Stop the HTTP port (closes the web sockets and their Converse streams); the metrics
 * registry stays until pl__gw_metrics_destroy. CQ thread, before the NATS connection goes. */
void pl__gw_http_stop(struct pl_gw *gw);

/* gateway_web.c ------------------------------------------------------------------------------- */
struct pl_httpd_ws_cbs;
struct pl_strbuf;
/* The WebSocket callbacks of parley.converse.v1 (ud = the gateway). */
void pl__gw_web_cbs(struct pl_httpd_ws_cbs *cbs);
/* A file of the demo page for `path`: 200 with the body and *ctype, or 0 when there is none. */
int pl__gw_web_file(struct pl_gw *gw, const char *path, struct pl_strbuf *body, const char **ctype);
/* A WebSocket upgrade's Origin is acceptable: none (not a browser), this port's own, or listed
 * in gateway.web_origins. */
bool pl__gw_web_origin_ok(const struct pl_gw *gw, const char *origin, const char *host);

/* gateway_realtime.c -------------------------------------------------------------------------- */
/* Riva's realtime API (docs/realtime-api.md): the /v1/realtime WebSocket callbacks (protocol "":
 * upgrades that name no subprotocol; ud = the gateway). */
void pl__gw_rt_cbs(struct pl_httpd_ws_cbs *cbs);
/* GET: /v1/audio/list_voices (blocks on a NATS call of at most 3 s); 0 for any other path. */
int pl__gw_rt_get(struct pl_gw *gw, const char *path, struct pl_strbuf *body, const char **ctype);
/* POST (a pl_httpd_post_fn, ud = the gateway): /v1/realtime/transcription_sessions and
 * /v1/realtime/synthesis_sessions; 404 for other paths. */
int pl__gw_rt_post(void *ud, const char *path, const char *req, size_t n, struct pl_strbuf *body,
                   const char **ctype);

#endif
