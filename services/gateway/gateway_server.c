/*
 * gateway_server.c - lifetime of parley-gateway: bind, connect, the
 * completion-queue loop, and the graceful shutdown sequence
 * (gRPC C core's documented sequence): shutdown_and_notify + cancel_all_calls, drain until
 * the notify tag, close NATS (its callbacks finish the last calls), drain
 * until no call is alive, destroy the server, shut down and drain the CQ.
 */
#include <errno.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "file.h"
#include "gateway_impl.h"
#include "log.h"

#define NEW_CALL_SLOTS 16 /* request_call slots kept posted, to absorb bursts */
#define LOOP_TICK_MS 50

static char *dup_or_empty(const char *s) { return pl_strdup(s ? s : ""); }

static pl_status copy_config(const struct pl_gw_config *in, struct pl_gw_config *out) {
    *out = *in;
    out->listen = dup_or_empty(in->listen);
    out->nats_url = dup_or_empty(in->nats_url);
    out->http_listen = dup_or_empty(in->http_listen);
    out->tls_cert = dup_or_empty(in->tls_cert);
    out->tls_key = dup_or_empty(in->tls_key);
    out->tls_client_ca = dup_or_empty(in->tls_client_ca);
    out->rpc_max_bytes = dup_or_empty(in->rpc_max_bytes);
    out->api_keys_file = dup_or_empty(in->api_keys_file);
    out->log_level = dup_or_empty(in->log_level);
    out->web_root = dup_or_empty(in->web_root);
    out->web_origins = dup_or_empty(in->web_origins);
    out->http_tls_client_ca = dup_or_empty(in->http_tls_client_ca);
    if (!out->http_tls_client_ca || !out->listen || !out->nats_url || !out->http_listen || !out->tls_cert || !out->tls_key ||
        !out->api_keys_file || !out->log_level || !out->web_root || !out->web_origins ||
        !out->tls_client_ca || !out->rpc_max_bytes)
        return PL_ERR(PL_E_NOMEM, "gateway: out of memory");
    return PL_OK;
}

static void free_config(struct pl_gw_config *c) {
    pl_free(c->listen);
    pl_free(c->nats_url);
    pl_free(c->http_listen);
    pl_free(c->tls_cert);
    pl_free(c->tls_key);
    pl_free(c->tls_client_ca);
    pl_free(c->rpc_max_bytes);
    pl_free(c->api_keys_file);
    pl_free(c->log_level);
    pl_free(c->web_root);
    pl_free(c->web_origins);
    pl_free(c->http_tls_client_ca);
    memset(c, 0, sizeof *c);
}

static pl_status make_creds(struct pl_gw *gw, grpc_server_credentials **out) {
    pl_status st = PL_OK;
    char *cert = NULL, *key = NULL, *ca = NULL;
    *out = NULL;
    if (!gw->cfg.tls_cert[0]) {
        *out = grpc_insecure_server_credentials_create();
        return PL_OK;
    }
    size_t len;
    PL_TRY_GOTO(st, pl_read_file(gw->cfg.tls_cert, 4u << 20, &cert, &len));
    PL_TRY_GOTO(st, pl_read_file(gw->cfg.tls_key, 4u << 20, &key, &len));
    grpc_ssl_pem_key_cert_pair pair = {key, cert};
    if (gw->cfg.tls_client_ca[0]) {
        /* mTLS: the handshake fails unless the client shows a certificate this CA signed */
        PL_TRY_GOTO(st, pl_read_file(gw->cfg.tls_client_ca, 4u << 20, &ca, &len));
        if (!strstr(ca, "-----BEGIN CERTIFICATE-----")) {
            st = PL_ERR(PL_E_FORMAT, "TLS: %s holds no PEM certificate (gateway.tls_client_ca)",
                        gw->cfg.tls_client_ca);
            goto fail;
        }
        *out = grpc_ssl_server_credentials_create_ex(
            ca, &pair, 1, GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY, NULL);
    } else {
        *out = grpc_ssl_server_credentials_create(NULL, &pair, 1, 0, NULL);
    }
    if (!*out) st = PL_ERR(PL_E_IO, "TLS: cannot use %s / %s", gw->cfg.tls_cert, gw->cfg.tls_key);
fail:
    pl_free(cert);
    pl_free(key);
    pl_free(ca);
    return st;
}

/* Retry the first NATS connect until it works or the gateway stops; after
 * that the connection reconnects by itself. */
static void *connector_main(void *arg) {
    struct pl_gw *gw = arg;
    int64_t wait_ms = 100;
    while (!gw->stop) {
        struct pl_nrpc_conn *conn = NULL;
        if (pl_nrpc_conn_create(&gw->nrpc_opts, &conn) == PL_OK) {
            atomic_store(&gw->nrpc, conn);
            char u[256];
            PL_LOGI("connected to NATS %s", pl_url_redact(gw->cfg.nats_url, u, sizeof u));
            break;
        }
        for (int64_t t = 0; t < wait_ms && !gw->stop; t += 50) pl_sleep_ms(50);
        wait_ms = wait_ms * 2 > 2000 ? 2000 : wait_ms * 2;
    }
    return NULL;
}

pl_status pl_gw_create(const struct pl_gw_config *cfg, struct pl_gw **out) {
    pl_status st = PL_OK;
    grpc_server_credentials *creds = NULL;
    *out = NULL;
    struct pl_gw *gw = pl_calloc(1, sizeof *gw);
    if (!gw) return PL_ERR(PL_E_NOMEM, "gateway: out of memory");
    grpc_init();
    atomic_init(&gw->live_calls, 0);
    atomic_init(&gw->pending, 0);
    atomic_init(&gw->active_calls, 0);
    gw->t_shutdown = (struct gw_tag){NULL, GW_OP_SHUTDOWN};
    pl__gw_health_init(gw);
    PL_TRY_GOTO(st, copy_config(cfg, &gw->cfg));
    if (gw->cfg.api_keys_file[0]) {
        PL_TRY_GOTO(st, pl_gw_keys_load(gw->cfg.api_keys_file, &gw->keys));
        PL_LOGI("API keys required: %zu key(s) from %s", pl_gw_keys_count(gw->keys),
                gw->cfg.api_keys_file);
    }
    PL_TRY_GOTO(st, pl__gw_limits_create(gw));
    PL_TRY_GOTO(st, pl__gw_sizes_init(gw));

    /* workers heartbeat every second, or every third of the caller's silence limit when
     * that is shorter (Parley-Heartbeat-Ms, docs/nats-protocol.md), at most every 50 ms; on a
     * loaded machine two beats of an idle stream came 2.0 s apart (docs/deployment.md), so a
     * limit of a few hundred ms ends healthy calls there */
    if (gw->cfg.stream_timeout_ms < 1000)
        PL_LOGW("gateway.stream_timeout_ms %lld: a silence that short ends healthy calls on a "
                "busy machine UNAVAILABLE \"worker stopped responding\" (5000 is the default)",
                (long long)gw->cfg.stream_timeout_ms);
    struct pl_nrpc_conn_opts o = PL_NRPC_CONN_OPTS_INIT;
    o.url = gw->cfg.nats_url;
    o.name = "parley-gateway";
    o.connect_timeout_ms = 1000;
    o.heartbeat_ms = (int)gw->cfg.heartbeat_ms;
    o.stream_timeout_ms = (int)gw->cfg.stream_timeout_ms;
    gw->nrpc_opts = o;
    struct pl_nrpc_conn *conn = NULL;
    if (pl_nrpc_conn_create(&gw->nrpc_opts, &conn) == PL_OK) {
        atomic_store(&gw->nrpc, conn);
    } else {
        char u[256];
        PL_LOGW("NATS %s: %s; retrying in the background",
                pl_url_redact(gw->cfg.nats_url, u, sizeof u), pl_last_error());
        if (pthread_create(&gw->connector, NULL, connector_main, gw) != 0) {
            st = PL_ERR(PL_E_INTERNAL, "gateway: cannot start the NATS connector thread");
            goto fail;
        }
        gw->connector_running = true;
    }

    gw->cq = grpc_completion_queue_create_for_next(NULL);
    grpc_arg args[3];
    memset(args, 0, sizeof args);
    args[0].type = GRPC_ARG_INTEGER;
    args[0].key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
    args[0].value.integer = (int)gw->cfg.max_receive_bytes;
    args[1].type = GRPC_ARG_INTEGER;
    args[1].key = GRPC_ARG_MAX_SEND_MESSAGE_LENGTH;
    args[1].value.integer = -1;
    args[2].type = GRPC_ARG_INTEGER; /* a port in use is an error, not a silent share */
    args[2].key = GRPC_ARG_ALLOW_REUSEPORT;
    args[2].value.integer = 0;
    grpc_channel_args chargs = {3, args};
    gw->server = grpc_server_create(&chargs, NULL);
    grpc_server_register_completion_queue(gw->server, gw->cq, NULL);
    PL_TRY_GOTO(st, make_creds(gw, &creds));
    gw->grpc_port = grpc_server_add_http2_port(gw->server, gw->cfg.listen, creds);
    grpc_server_credentials_release(creds);
    if (gw->grpc_port <= 0) {
        st = PL_ERR(PL_E_IO, "gateway: cannot listen on %s (address in use or invalid)",
                    gw->cfg.listen);
        goto fail;
    }
    PL_TRY_GOTO(st, pl__gw_metrics_create(gw));
    grpc_server_start(gw->server);
    gw->started = true;
    for (int i = 0; i < NEW_CALL_SLOTS; i++) pl__gw_call_post_new(gw);
    char u[256];
    PL_LOGI("gRPC on %s (port %d%s), metrics on port %d, NATS %s", gw->cfg.listen, gw->grpc_port,
            gw->cfg.tls_client_ca[0] ? ", mTLS" : gw->cfg.tls_cert[0] ? ", TLS" : "",
            pl__gw_metrics_port(gw), pl_url_redact(gw->cfg.nats_url, u, sizeof u));
    *out = gw;
    return PL_OK;
fail:
    pl_gw_destroy(gw);
    return st;
}

void pl_gw_stop(struct pl_gw *gw) {
    if (gw) gw->stop = 1;
}

int pl_gw_grpc_port(const struct pl_gw *gw) { return gw->grpc_port; }
int pl_gw_http_port(const struct pl_gw *gw) { return pl__gw_metrics_port(gw); }

/* Take one event (or time out after ms); false on GRPC_QUEUE_SHUTDOWN. */
static bool next_event(struct pl_gw *gw, int ms, bool *shutdown_tag) {
    gpr_timespec dl = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(ms, GPR_TIMESPAN));
    grpc_event ev = grpc_completion_queue_next(gw->cq, dl, NULL);
    if (ev.type == GRPC_QUEUE_SHUTDOWN) return false;
    if (ev.type == GRPC_OP_COMPLETE) {
        struct gw_tag *t = ev.tag;
        if (t->op == GW_OP_SHUTDOWN)
            *shutdown_tag = true;
        else
            pl__gw_call_event(t, ev.success != 0);
    }
    return true;
}

/* The shutdown sequence; CQ thread (or destroy when run never ran). */
static void shutdown_all(struct pl_gw *gw) {
    bool notified = false;
    gw->shutting_down = true;
    gw->stop = 1;
    if (gw->server && gw->started) {
        gw->stop = 1;
        grpc_server_shutdown_and_notify(gw->server, gw->cq, &gw->t_shutdown);
        grpc_server_cancel_all_calls(gw->server);
        while (!notified && next_event(gw, LOOP_TICK_MS, &notified)) {
        }
    }
    pl__gw_health_deinit(gw);
    /* The HTTP port goes first: its WebSocket callbacks use the NATS connection. */
    pl__gw_http_stop(gw);
    /* Closing NATS ends every pending forward (their callbacks answer and
     * release the calls); then drain until no call is alive. */
    if (gw->connector_running) {
        pthread_join(gw->connector, NULL);
        gw->connector_running = false;
    }
    pl_nrpc_conn_destroy(atomic_exchange(&gw->nrpc, NULL));
    if (gw->server && gw->started) {
        int64_t until = pl_time_mono_ms() + 5000;
        while (atomic_load(&gw->live_calls) > 0 && pl_time_mono_ms() < until)
            next_event(gw, LOOP_TICK_MS, &notified);
        if (atomic_load(&gw->live_calls) > 0)
            PL_LOGW("%d call(s) still alive at shutdown", atomic_load(&gw->live_calls));
    }
    if (gw->server) {
        grpc_server_destroy(gw->server);
        gw->server = NULL;
    }
    if (gw->cq) {
        grpc_completion_queue_shutdown(gw->cq);
        while (next_event(gw, LOOP_TICK_MS, &notified)) {
        }
        grpc_completion_queue_destroy(gw->cq);
        gw->cq = NULL;
    }
    gw->shut_down = true;
}

pl_status pl_gw_run(struct pl_gw *gw) {
    bool notified = false;
    int64_t next_tick = 0;
    while (!gw->stop) {
        next_event(gw, LOOP_TICK_MS, &notified);
        int64_t now = pl_time_mono_ms();
        if (now >= next_tick) {
            pl__gw_health_tick(gw);
            next_tick = now + LOOP_TICK_MS;
        }
    }
    PL_LOGI("gateway stopping: %d call(s) in progress", atomic_load(&gw->active_calls));
    shutdown_all(gw);
    PL_LOGI("gateway stopped");
    return PL_OK;
}

void pl_gw_destroy(struct pl_gw *gw) {
    if (!gw) return;
    if (!gw->shut_down) shutdown_all(gw);
    pl__gw_metrics_destroy(gw);
    pl__gw_limits_destroy(gw);
    pl_free(gw->rpc_max);
    pl_gw_keys_destroy(gw->keys);
    free_config(&gw->cfg);
    pthread_mutex_destroy(&gw->health_mu);
    pl_free(gw);
    grpc_shutdown();
}
