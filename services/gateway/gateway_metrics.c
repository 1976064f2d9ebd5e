/*
 * gateway_metrics.c - the gateway's /metrics, /healthz and /readyz, served
 * on its HTTP side port by the runtime's registry and tiny HTTP server.
 *
 *   parley_gateway_requests_total{rpc,code}      calls finished, by gRPC code name
 *   parley_gateway_request_duration_us{rpc}      call latency (histogram)
 *   parley_gateway_active_calls                  calls alive now
 *   parley_gateway_nats_connected                1 while connected to NATS
 *   parley_memory_bytes                          (the runtime's standard gauge)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "gateway_impl.h"
#include "log.h"
#include "httpd.h"
#include "nrpc_metrics.h"

struct gw_metrics {
    struct pl_metrics *reg;
    struct pl_httpd *httpd;
    struct pl_metric *active, *connected;
};

static void collect(struct pl_metrics *m, void *ud) {
    PL_UNUSED(m);
    struct pl_gw *gw = ud;
    pl_metric_set(gw->metrics->active, atomic_load(&gw->active_calls));
    pl_metric_set(gw->metrics->connected, pl__gw_connected(gw) ? 1 : 0);
}

static int serve(void *ud, const char *method, const char *path, struct pl_strbuf *body,
                 const char **content_type) {
    struct pl_gw *gw = ud;
    PL_UNUSED(method);
    if (strcmp(path, "/metrics") == 0) {
        *content_type = "text/plain; version=0.0.4";
        return pl_metrics_render(gw->metrics->reg, body) == PL_OK ? 200 : 500;
    }
    if (strcmp(path, "/healthz") == 0) {
        pl_strbuf_append(body, "ok\n");
        return 200;
    }
    if (strcmp(path, "/readyz") == 0) {
        bool ready = !gw->stop && pl__gw_connected(gw);
        pl_strbuf_append(body, ready ? "ready\n" : "not ready: NATS not connected\n");
        return ready ? 200 : 503;
    }
    int code = pl__gw_rt_get(gw, path, body, content_type);
    if (code) return code;
    code = pl__gw_web_file(gw, path, body, content_type);
    if (code) return code;
    pl_strbuf_append(body, "not found\n");
    return 404;
}

/* Split "host:port" (IPv6 as "[::1]:port"). */
pl_status pl__gw_split_hostport(const char *s, char *host, size_t hcap, int *port) {
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s) return PL_ERR(PL_E_INVALID_ARG, "address %s: expected host:port", s);
    size_t hl = (size_t)(colon - s);
    const char *h = s;
    if (h[0] == '[' && hl >= 2 && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    if (hl >= hcap) return PL_ERR(PL_E_INVALID_ARG, "address %s: host too long", s);
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (*end || end == colon + 1 || p < 0 || p > 65535)
        return PL_ERR(PL_E_INVALID_ARG, "address %s: bad port", s);
    memcpy(host, h, hl);
    host[hl] = 0;
    *port = (int)p;
    return PL_OK;
}

pl_status pl__gw_metrics_create(struct pl_gw *gw) {
    pl_status st = PL_OK;
    char host[128];
    int port = 0;
    PL_TRY(pl__gw_split_hostport(gw->cfg.http_listen, host, sizeof host, &port));
    struct gw_metrics *m = pl_calloc(1, sizeof *m);
    if (!m) return PL_ERR(PL_E_NOMEM, "gateway metrics: out of memory");
    gw->metrics = m;
    PL_TRY_GOTO(st, pl_metrics_create(&m->reg));
    m->active = pl_metrics_gauge(m->reg, "parley_gateway_active_calls", "gRPC calls alive", NULL);
    m->connected = pl_metrics_gauge(m->reg, "parley_gateway_nats_connected",
                                    "1 while the gateway is connected to NATS", NULL);
    PL_TRY_GOTO(st, pl_metrics_add_collector(m->reg, collect, gw));
    struct pl_httpd_ws_cbs ws[2];
    struct pl_httpd_opts o = {.host = host, .port = port, .fn = serve, .ud = gw, .ws = ws};
    if (gw->cfg.http_tls) { /* https:// and wss:// with the gRPC port's certificate */
        o.tls_cert = gw->cfg.tls_cert;
        o.tls_key = gw->cfg.tls_key;
        o.tls_client_ca = gw->cfg.http_tls_client_ca; /* "" = no client certificates */
    }
    if (gw->cfg.web) pl__gw_web_cbs(&ws[o.n_ws++]);
    if (gw->cfg.realtime) { /* Riva's realtime API (gateway_realtime.c) */
        pl__gw_rt_cbs(&ws[o.n_ws++]);
        o.post = pl__gw_rt_post;
    }
    PL_TRY_GOTO(st, pl_httpd_create_opts(&o, &m->httpd));
    return PL_OK;
fail:
    pl__gw_metrics_destroy(gw);
    return st;
}

void pl__gw_http_stop(struct pl_gw *gw) {
    if (!gw->metrics || !gw->metrics->httpd) return;
    pl_httpd_destroy(gw->metrics->httpd);
    gw->metrics->httpd = NULL;
}

void pl__gw_metrics_destroy(struct pl_gw *gw) {
    struct gw_metrics *m = gw->metrics;
    if (!m) return;
    pl_httpd_destroy(m->httpd);
    pl_metrics_destroy(m->reg);
    pl_free(m);
    gw->metrics = NULL;
}

int pl__gw_metrics_port(const struct pl_gw *gw) {
    return gw->metrics && gw->metrics->httpd ? pl_httpd_port(gw->metrics->httpd) : -1;
}

void pl__gw_metrics_record(struct pl_gw *gw, const char *rpc, int code, int64_t dur_us) {
    if (!gw->metrics) return;
    char labels[160];
    snprintf(labels, sizeof labels, "rpc=\"%s\",code=\"%s\"", rpc, pl_grpc_code_name(code));
    pl_metric_add(pl_metrics_counter(gw->metrics->reg, "parley_gateway_requests_total",
                                     "gRPC calls finished, by rpc and status code", labels),
                  1);
    snprintf(labels, sizeof labels, "rpc=\"%s\"", rpc);
    pl_metric_observe(pl_metrics_histogram(gw->metrics->reg, "parley_gateway_request_duration_us",
                                           "gRPC call duration in microseconds", labels, NULL, 0),
                      (double)dur_us);
}
