/* gateway_config.c - the "gateway" section of the shared config file. */
#include <stddef.h>
#include <string.h>

#include "alloc.h"
#include "config.h"
#include "gateway.h"

#define F(key, type, field, def, lo, hi, help)                                                     \
    {"gateway", key, type, offsetof(struct pl_gw_config, field), def, lo, hi, help}

static const struct pl_config_field gw_fields[] = {
    F("listen", PL_CONFIG_STRING, listen, "127.0.0.1:50051", 0, 0, "gRPC listen address"),
    F("nats_url", PL_CONFIG_STRING, nats_url, "nats://127.0.0.1:4222", 0, 0,
      "NATS server URL, or a comma-separated list of a cluster's nodes (tried in order)"),
    F("http_listen", PL_CONFIG_STRING, http_listen, "127.0.0.1:8090", 0, 0,
      "metrics/health HTTP address"),
    F("max_receive_bytes", PL_CONFIG_INT, max_receive_bytes, "67108864", 1024, 1 << 30,
      "largest message the gRPC transport accepts (bytes): the cap over every rpc"),
    F("max_text_request_bytes", PL_CONFIG_INT, max_text_request_bytes, "4259840", 64, 1 << 30,
      "largest request message of a text rpc (every rpc but the audio ones)"),
    F("max_audio_request_bytes", PL_CONFIG_INT, max_audio_request_bytes, "67108864", 64, 1 << 30,
      "largest request message of an audio rpc (Recognize, StreamingRecognize, Converse, the "
      "speech translation streams)"),
    F("rpc_max_bytes", PL_CONFIG_STRING, rpc_max_bytes, "", 0, 0,
      "per-rpc overrides, \"rpc=bytes,...\" with snake-case rpc names (synthesize=65536)"),
    F("tls_cert", PL_CONFIG_STRING, tls_cert, "", 0, 0, "PEM certificate chain; empty = no TLS"),
    F("tls_key", PL_CONFIG_STRING, tls_key, "", 0, 0, "PEM private key for tls_cert"),
    F("tls_client_ca", PL_CONFIG_STRING, tls_client_ca, "", 0, 0,
      "PEM CA certificates; set = mutual TLS: clients must present a certificate they signed"),
    F("api_keys_file", PL_CONFIG_STRING, api_keys_file, "", 0, 0,
      "file of \"<key> [user] [rate=R] [burst=B] [max_calls=C]\" lines; empty = no "
      "authentication"),
    F("key_rate", PL_CONFIG_DOUBLE, key_rate, "0", 0, 1e6,
      "requests per second per API key (token bucket) for keys without rate=; 0 = unlimited"),
    F("key_burst", PL_CONFIG_INT, key_burst, "0", 0, 1000000,
      "token-bucket size per API key for keys without burst=; 0 = max(1, key_rate)"),
    F("key_max_calls", PL_CONFIG_INT, key_max_calls, "0", 0, 1000000,
      "calls and streams open at once per API key for keys without max_calls=; 0 = unlimited"),
    F("peer_rate", PL_CONFIG_DOUBLE, peer_rate, "0", 0, 1e6,
      "without API keys: requests per second per client address; 0 = off"),
    F("peer_burst", PL_CONFIG_INT, peer_burst, "0", 0, 1000000,
      "without API keys: token-bucket size per client address; 0 = max(1, peer_rate)"),
    F("peer_max_calls", PL_CONFIG_INT, peer_max_calls, "0", 0, 1000000,
      "without API keys: calls open at once per client address; 0 = off"),
    F("request_timeout_ms", PL_CONFIG_INT, request_timeout_ms, "30000", 1, 86400000,
      "deadline of a unary call whose client sets none"),
    F("stream_timeout_ms", PL_CONFIG_INT, stream_timeout_ms, "5000", 100, 600000,
      "a stream whose worker is silent this long ends with UNAVAILABLE"),
    F("heartbeat_ms", PL_CONFIG_INT, heartbeat_ms, "1000", 10, 60000, "stream heartbeat period"),
    F("max_pending", PL_CONFIG_INT, max_pending, "10000", 1, 1000000,
      "calls in flight before RESOURCE_EXHAUSTED"),
    F("health_probe_ms", PL_CONFIG_INT, health_probe_ms, "2000", 100, 600000,
      "how often each service's workers are probed for health"),
    F("validate_requests", PL_CONFIG_BOOL, validate_requests, "true", 0, 0,
      "check that requests parse as their protobuf type before forwarding"),
    F("log_level", PL_CONFIG_STRING, log_level, "info", 0, 0, "error, warn, info or debug"),
    F("web", PL_CONFIG_BOOL, web, "true", 0, 0,
      "serve the demo page and its WebSocket (/v1/converse) on the HTTP port"),
    F("realtime", PL_CONFIG_BOOL, realtime, "true", 0, 0,
      "serve Riva's realtime API on the HTTP port (/v1/realtime WebSocket, session endpoints, "
      "/v1/audio/list_voices)"),
    F("web_root", PL_CONFIG_STRING, web_root, "", 0, 0,
      "directory of the demo page's files; empty = the source tree's web/"),
    F("web_origins", PL_CONFIG_STRING, web_origins, "", 0, 0,
      "comma-separated origins of other pages allowed to open the WebSocket (* = any); "
      "the page's own origin always is"),
    F("http_tls", PL_CONFIG_BOOL, http_tls, "false", 0, 0,
      "serve the HTTP port over TLS with tls_cert/tls_key (https://, wss://; needed for the "
      "microphone on a page from another machine)"),
    F("http_tls_client_ca", PL_CONFIG_STRING, http_tls_client_ca, "", 0, 0,
      "PEM CA certificates; set (with http_tls) = mutual TLS on the HTTP port: the page, its "
      "sockets, /metrics and /readyz want a client certificate they signed"),
};

pl_status pl_gw_config_load(const char *path, struct pl_gw_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    PL_TRY(pl_config_load(gw_fields, sizeof gw_fields / sizeof gw_fields[0], path, cfg));
#ifdef PL_WEB_DIR
    if (!cfg->web_root[0]) {
        char *d = pl_strdup(PL_WEB_DIR);
        if (!d) {
            pl_gw_config_deinit(cfg);
            return PL_ERR(PL_E_NOMEM, "gateway config");
        }
        pl_free(cfg->web_root);
        cfg->web_root = d;
    }
#endif
    if ((cfg->tls_cert[0] != 0) != (cfg->tls_key[0] != 0)) {
        pl_gw_config_deinit(cfg);
        return PL_ERR(PL_E_INVALID_ARG, "gateway.tls_cert and gateway.tls_key must be set together");
    }
    if (cfg->http_tls && !cfg->tls_cert[0]) {
        pl_gw_config_deinit(cfg);
        return PL_ERR(PL_E_INVALID_ARG, "gateway.http_tls needs gateway.tls_cert and tls_key");
    }
    if (cfg->tls_client_ca[0] && !cfg->tls_cert[0]) {
        pl_gw_config_deinit(cfg);
        return PL_ERR(PL_E_INVALID_ARG, "gateway.tls_client_ca needs gateway.tls_cert and tls_key");
    }
    if (cfg->http_tls_client_ca[0] && !cfg->http_tls) {
        pl_gw_config_deinit(cfg);
        return PL_ERR(PL_E_INVALID_ARG, "gateway.http_tls_client_ca needs gateway.http_tls (the "
                      "HTTP port asks for client certificates only over TLS)");
    }
    return PL_OK;
}

void pl_gw_config_deinit(struct pl_gw_config *cfg) {
    pl_config_deinit(gw_fields, sizeof gw_fields / sizeof gw_fields[0], cfg);
}

char *pl__gw_config_describe(void) {
    return pl_config_describe(gw_fields, sizeof gw_fields / sizeof gw_fields[0]);
}
