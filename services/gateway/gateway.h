/*
 * gateway.h - parley-gateway: the public gRPC edge of Parley.
 *
 * The gateway is a gRPC C core server (generic, grpc_server_request_call)
 * that serves grpc.health.v1.Health itself and forwards every other Riva
 * RPC over NATS to the worker of its service (docs/nats-protocol.md):
 * unary calls as NATS requests to parley.<svc>.<rpc>, streaming calls with
 * the stream protocol. It holds no model.
 *
 * Its HTTP port (http_listen) serves /metrics, /healthz, /readyz and, with `web`, the demo
 * page (web/) and the WebSocket protocol parley.converse.v1 on /v1/converse, bridged to
 * Converse (gateway_web.c, docs/web-protocol.md), and with `realtime` Riva's realtime API
 * (/v1/realtime, docs/realtime-api.md; gateway_realtime.c).
 *
 * Threads: one completion-queue thread runs the gRPC state machines and
 * never waits on NATS: unary calls go out with pl_nrpc_call_async and streams
 * with callback-mode pl_nrpc_streams; their replies, on the NATS client's
 * threads, start gRPC batches directly (grpc_call_start_batch is thread-safe).
 *
 *     struct pl_gw_config cfg;  pl_gw_config_load("config/parley.json", &cfg);
 *     struct pl_gw *gw;         pl_gw_create(&cfg, &gw);
 *     pl_gw_run(gw);            // until pl_gw_stop()
 *     pl_gw_destroy(gw);        pl_gw_config_deinit(&cfg);
 */
#ifndef PL_GATEWAY_H
#define PL_GATEWAY_H

#include <stdbool.h>
#include <stdint.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Settings, section "gateway" of the shared config file; every field can be
 * overridden by PARLEY_GATEWAY_<KEY> (common/config.h). Strings are owned by
 * the struct: free with pl_gw_config_deinit(). */
struct pl_gw_config {
    char *listen;              /* gRPC address, "127.0.0.1:50051"; port 0 = ephemeral */
    char *nats_url;            /* "nats://127.0.0.1:4222" */
    char *http_listen;         /* metrics/health HTTP address, "127.0.0.1:8090"; port 0 = ephemeral */
    int64_t max_receive_bytes; /* transport cap on any message; larger -> RESOURCE_EXHAUSTED */
    int64_t max_text_request_bytes;  /* per message of a text rpc; larger -> RESOURCE_EXHAUSTED */
    int64_t max_audio_request_bytes; /* per message of an audio rpc (asr, converse, s2s/s2t) */
    char *rpc_max_bytes;       /* per-rpc overrides "rpc=bytes,..."; "" = none */
    char *tls_cert;            /* PEM certificate chain file; "" = plaintext */
    char *tls_key;             /* PEM private key file; set together with tls_cert */
    char *tls_client_ca;       /* PEM CA file; set = mTLS: clients must show a cert it signed */
    char *api_keys_file;       /* "" = no authentication; else lines "<key> [user] [opts]" */
    double key_rate;           /* default requests/s per API key; 0 = unlimited */
    int64_t key_burst;         /* default token-bucket size per key; 0 = max(1, rate) */
    int64_t key_max_calls;     /* default open calls per key; 0 = unlimited */
    double peer_rate;          /* without keys: requests/s per client address; 0 = off */
    int64_t peer_burst;        /* without keys: bucket size per address; 0 = max(1, rate) */
    int64_t peer_max_calls;    /* without keys: open calls per address; 0 = off */
    int64_t request_timeout_ms; /* unary deadline when the client gives none */
    int64_t stream_timeout_ms;  /* silent worker ends a stream with UNAVAILABLE */
    int64_t heartbeat_ms;       /* heartbeat period on streams */
    int64_t max_pending;        /* calls queued for the pool before RESOURCE_EXHAUSTED */
    int64_t health_probe_ms;    /* how often per-service health is probed */
    bool validate_requests;     /* unpack each request with its descriptor before forwarding */
    char *log_level;            /* error, warn, info, debug */
    bool web;                   /* serve the demo page and the WebSocket on the HTTP port */
    bool realtime;              /* serve Riva's realtime API on the HTTP port */
    char *web_root;             /* the page's files; "" = the source tree's web/ */
    char *web_origins;          /* other page origins allowed to open the socket ("*" = any) */
    bool http_tls;              /* the HTTP port speaks TLS with tls_cert/tls_key (https, wss) */
    char *http_tls_client_ca;   /* PEM CA file; set (with http_tls) = mTLS on the HTTP port too:
                                   page, sockets, /metrics want a client cert it signed */
};

/* Load the gateway section of `path` (NULL: defaults + environment only).
 * Errors: those of pl_config_load, plus PL_E_INVALID_ARG for tls_cert
 * without tls_key, for http_tls without them, and for http_tls_client_ca without http_tls. On failure cfg holds no memory. */
pl_status pl_gw_config_load(const char *path, struct pl_gw_config *cfg);
void pl_gw_config_deinit(struct pl_gw_config *cfg);

struct pl_gw;

/* Bind the gRPC and HTTP ports, load TLS and keys, connect to NATS (the
 * connection retries in the background: until it is up, forwarded calls
 * answer UNAVAILABLE and health says NOT_SERVING). cfg is copied.
 * OUT gw: caller owns; pl_gw_destroy(). Errors: PL_E_IO (port in use,
 * unreadable key/cert files), PL_E_INVALID_ARG (bad keys file). */
pl_status pl_gw_create(const struct pl_gw_config *cfg, struct pl_gw **gw);

/* Serve until pl_gw_stop(); then shut down gracefully: stop accepting,
 * cancel calls still running, join threads. Call once, from one thread. */
pl_status pl_gw_run(struct pl_gw *gw);

/* Ask a running gateway to stop. Async-signal-safe (sets a flag). */
void pl_gw_stop(struct pl_gw *gw);

/* Bound ports (useful with port 0). Thread-safe after create. */
int pl_gw_grpc_port(const struct pl_gw *gw);
int pl_gw_http_port(const struct pl_gw *gw);

/* NULL is a no-op. Must not race with pl_gw_run (join it first). */
void pl_gw_destroy(struct pl_gw *gw);

#ifdef __cplusplus
}
#endif
#endif
