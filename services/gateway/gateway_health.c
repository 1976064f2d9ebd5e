/*
 * gateway_health.c - grpc.health.v1.Health served by the gateway itself.
 *
 * Service "" (the server as a whole) is SERVING while the gateway is
 * connected to NATS and not shutting down. A full Riva service name
 * ("nvidia.riva.nlp.RivaLanguageUnderstanding") is SERVING when a worker of
 * its internal service answers a probe: a stream open on
 * parley.<svc>.stream.open for the rpc "health_probe". Any answer (a session
 * or a refusal) proves a live worker; no responders or silence means
 * NOT_SERVING. A worker whose rpcs share a gRPC service with another's is checked by
 * "parley.<svc>" ("parley.qa": NaturalQuery is in RivaLanguageUnderstanding, whose name
 * probes parley-nlu). Check probes on demand; Watch is fed by periodic probes.
 * Unknown names: Check answers NOT_FOUND, Watch sends SERVICE_UNKNOWN (3).
 */
#include <string.h>

#include "alloc.h"
#include "gateway_impl.h"
#include "log.h"
#include "riva/proto/health.pb-c.h"

#define SERVING 1
#define NOT_SERVING 2
#define SERVICE_UNKNOWN 3
#define PROBE_RPC "health_probe"
#define PROBE_TIMEOUT_MS 2000

void pl__gw_health_init(struct pl_gw *gw) {
    pthread_mutex_init(&gw->health_mu, NULL);
    gw->n_health = 0;
    gw->overall_last = -1;
    for (size_t i = 0; i < pl_rpc_count(); i++) {
        const struct pl_rpc_info *r = pl_rpc_at(i);
        if (!r->grpc_service || strcmp(r->service, "health") == 0) continue;
        int j;
        for (j = 0; j < gw->n_health; j++)
            if (strcmp(gw->health[j].name, r->grpc_service) == 0) break;
        if (j < gw->n_health || gw->n_health == GW_HEALTH_SERVICES_MAX) continue;
        struct gw_health_svc *h = &gw->health[gw->n_health++];
        memset(h, 0, sizeof *h);
        snprintf(h->name, sizeof h->name, "%s", r->grpc_service);
        snprintf(h->svc, sizeof h->svc, "%s", r->service);
        h->status = NOT_SERVING;
        h->gw = gw;
    }
    /* A worker that serves part of a gRPC service probed through another (parley-qa's
     * NaturalQuery in RivaLanguageUnderstanding, whose name probes parley-nlu) gets a name of
     * its own: "parley.<svc>" ("parley.qa"). */
    for (size_t i = 0; i < pl_rpc_count(); i++) {
        const struct pl_rpc_info *r = pl_rpc_at(i);
        if (!r->grpc_service || strcmp(r->service, "health") == 0) continue;
        int j;
        for (j = 0; j < gw->n_health; j++)
            if (strcmp(gw->health[j].svc, r->service) == 0) break;
        if (j < gw->n_health || gw->n_health == GW_HEALTH_SERVICES_MAX) continue;
        struct gw_health_svc *h = &gw->health[gw->n_health++];
        memset(h, 0, sizeof *h);
        snprintf(h->name, sizeof h->name, "parley.%s", r->service);
        snprintf(h->svc, sizeof h->svc, "%s", r->service);
        h->status = NOT_SERVING;
        h->gw = gw;
    }
}

static int overall(struct pl_gw *gw) {
    return !gw->stop && pl__gw_connected(gw) ? SERVING : NOT_SERVING;
}

static int find_svc(struct pl_gw *gw, const char *name, size_t len) {
    for (int i = 0; i < gw->n_health; i++)
        if (strlen(gw->health[i].name) == len && memcmp(gw->health[i].name, name, len) == 0)
            return i;
    return -1;
}

int pl__gw_health_status(struct pl_gw *gw, const char *service, size_t len) {
    if (len == 0) return overall(gw);
    int i = find_svc(gw, service, len);
    if (i < 0) return -1;
    pthread_mutex_lock(&gw->health_mu);
    int s = gw->health[i].status;
    pthread_mutex_unlock(&gw->health_mu);
    return overall(gw) == SERVING ? s : NOT_SERVING;
}

static int probe_status(int code) {
    return code == PL_GRPC_UNAVAILABLE || code == PL_GRPC_DEADLINE_EXCEEDED ||
                   code == PL_GRPC_CANCELLED
               ? NOT_SERVING
               : SERVING;
}

static void send_status(struct gw_call *c, int status, bool final) {
    Grpc__Health__V1__HealthCheckResponse r = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
    r.status = (Grpc__Health__V1__HealthCheckResponse__ServingStatus)status;
    uint8_t buf[16];
    size_t n = grpc__health__v1__health_check_response__pack(&r, buf);
    if (final)
        pl__gw_call_reply(c, PL_GRPC_OK, buf, n, "");
    else
        pl__gw_call_push(c, buf, n);
}

/* On-demand probe of a Check: the call's own stream; its end answers the call. */
static void check_probe_message(void *ud, const uint8_t *data, size_t n) {
    PL_UNUSED(ud);
    PL_UNUSED(data);
    PL_UNUSED(n);
}

static void check_probe_end(void *ud, int code, const char *msg) {
    struct gw_call *c = ud;
    PL_UNUSED(msg);
    send_status(c, probe_status(code), true);
    pl__gw_call_unref(c);
}

void pl__gw_health_handle(struct gw_call *c, const uint8_t *req, size_t n) {
    struct pl_gw *gw = c->gw;
    Grpc__Health__V1__HealthCheckRequest *r =
        grpc__health__v1__health_check_request__unpack(NULL, n, req);
    if (!r) {
        pl__gw_call_reply(c, PL_GRPC_INVALID_ARGUMENT, NULL, 0,
                          "request is not a valid grpc.health.v1.HealthCheckRequest message");
        return;
    }
    const char *name = r->service ? r->service : "";
    size_t len = strlen(name);
    int idx = len ? find_svc(gw, name, len) : -1;
    if (c->kind == GW_KIND_HEALTH_CHECK) {
        if (len == 0) {
            send_status(c, overall(gw), true);
        } else if (idx < 0) {
            pl__gw_call_reply(c, PL_GRPC_NOT_FOUND, NULL, 0, "unknown service");
        } else if (overall(gw) != SERVING) {
            send_status(c, NOT_SERVING, true);
        } else {
            struct pl_nrpc_meta m = {c->request_id, pl_time_mono_us() + PROBE_TIMEOUT_MS * 1000, NULL};
            static const struct pl_nrpc_stream_cbs cbs = {check_probe_message, check_probe_end};
            pl__gw_call_ref(c);
            struct pl_nrpc_stream *s = NULL;
            if (pl_nrpc_stream_open(pl__gw_nrpc(gw), gw->health[idx].svc, PROBE_RPC, &m, &cbs, c, &s) !=
                PL_OK) {
                send_status(c, NOT_SERVING, true);
                pl__gw_call_unref(c);
            } else {
                c->stream = s; /* destroyed with the call */
                /* Close at once: a worker that accepted the session ends it. */
                pl_nrpc_stream_close_send(s);
            }
        }
    } else {
        int st = len == 0 ? overall(gw) : idx < 0 ? SERVICE_UNKNOWN : NOT_SERVING;
        if (idx >= 0) st = pl__gw_health_status(gw, name, len);
        c->health_last = st;
        pthread_mutex_lock(&gw->health_mu);
        if (!c->watching) {
            pl__gw_call_ref(c); /* held by the watch list */
            c->watching = true;
            c->watch_next = gw->watches;
            gw->watches = c;
        }
        c->health_idx = len == 0 ? -1 : idx < 0 ? -2 : idx;
        pthread_mutex_unlock(&gw->health_mu);
        send_status(c, st, false);
    }
    grpc__health__v1__health_check_request__free_unpacked(r, NULL);
}

void pl__gw_health_unwatch(struct gw_call *c) {
    struct pl_gw *gw = c->gw;
    bool found = false;
    pthread_mutex_lock(&gw->health_mu);
    for (struct gw_call **pp = &gw->watches; *pp; pp = &(*pp)->watch_next) {
        if (*pp == c) {
            *pp = c->watch_next;
            c->watching = false;
            found = true;
            break;
        }
    }
    pthread_mutex_unlock(&gw->health_mu);
    if (found) pl__gw_call_unref(c);
}

static void probe_message(void *ud, const uint8_t *data, size_t n) {
    PL_UNUSED(ud);
    PL_UNUSED(data);
    PL_UNUSED(n);
}

static void probe_end(void *ud, int code, const char *msg) {
    struct gw_health_svc *h = ud;
    PL_UNUSED(msg);
    pthread_mutex_lock(&h->gw->health_mu);
    h->probe_result = probe_status(code);
    pthread_mutex_unlock(&h->gw->health_mu);
}

/* Called on the CQ thread each loop turn: finish and start periodic probes
 * (only while someone watches), then send Watch updates. */
void pl__gw_health_tick(struct pl_gw *gw) {
    int64_t now = pl_time_mono_ms();
    pthread_mutex_lock(&gw->health_mu);
    bool any_watch = gw->watches != NULL;
    pthread_mutex_unlock(&gw->health_mu);

    for (int i = 0; i < gw->n_health; i++) {
        struct gw_health_svc *h = &gw->health[i];
        pthread_mutex_lock(&gw->health_mu);
        struct pl_nrpc_stream *done = NULL;
        if (h->probe && h->probe_result) {
            h->status = h->probe_result;
            done = h->probe;
            h->probe = NULL;
        }
        bool stale = h->probe && now - h->probe_started_ms > PROBE_TIMEOUT_MS;
        struct pl_nrpc_stream *running = h->probe;
        pthread_mutex_unlock(&gw->health_mu);
        if (done) pl_nrpc_stream_destroy(done);
        if (stale) pl_nrpc_stream_cancel(running);
    }
    if (gw->shutting_down || !any_watch || now < gw->next_probe_ms || !pl__gw_connected(gw))
        goto updates;
    gw->next_probe_ms = now + gw->cfg.health_probe_ms;
    for (int i = 0; i < gw->n_health; i++) {
        struct gw_health_svc *h = &gw->health[i];
        if (h->probe) continue;
        struct pl_nrpc_meta m = {NULL, pl_time_mono_us() + PROBE_TIMEOUT_MS * 1000, NULL};
        static const struct pl_nrpc_stream_cbs cbs = {probe_message, probe_end};
        struct pl_nrpc_stream *s = NULL;
        h->probe_result = 0;
        h->probe_started_ms = now;
        if (pl_nrpc_stream_open(pl__gw_nrpc(gw), h->svc, PROBE_RPC, &m, &cbs, h, &s) == PL_OK) {
            pthread_mutex_lock(&gw->health_mu);
            h->probe = s;
            pthread_mutex_unlock(&gw->health_mu);
            pl_nrpc_stream_close_send(s);
        }
    }
updates:
    if (!any_watch) return;
    /* Collect the watches that changed, holding references, then send. */
    struct gw_call *changed[64];
    int st[64], n = 0;
    pthread_mutex_lock(&gw->health_mu);
    for (struct gw_call *c = gw->watches; c && n < 64; c = c->watch_next) {
        int s = c->health_idx == -1   ? overall(gw)
                : c->health_idx == -2 ? SERVICE_UNKNOWN
                : overall(gw) == SERVING ? gw->health[c->health_idx].status
                                         : NOT_SERVING;
        if (s != c->health_last) {
            c->health_last = s;
            pl__gw_call_ref(c);
            changed[n] = c;
            st[n++] = s;
        }
    }
    pthread_mutex_unlock(&gw->health_mu);
    for (int i = 0; i < n; i++) {
        send_status(changed[i], st[i], false);
        pl__gw_call_unref(changed[i]);
    }
}

/* Stop probes before the NATS connection goes (CQ thread, at shutdown). */
void pl__gw_health_deinit(struct pl_gw *gw) {
    for (int i = 0; i < gw->n_health; i++) {
        pthread_mutex_lock(&gw->health_mu);
        struct pl_nrpc_stream *s = gw->health[i].probe;
        gw->health[i].probe = NULL;
        pthread_mutex_unlock(&gw->health_mu);
        pl_nrpc_stream_destroy(s);
    }
    /* Remaining watches end with the server's cancel_all_calls; drop the list refs. */
    pthread_mutex_lock(&gw->health_mu);
    struct gw_call *w = gw->watches;
    gw->watches = NULL;
    pthread_mutex_unlock(&gw->health_mu);
    while (w) {
        struct gw_call *next = w->watch_next;
        w->watching = false;
        pl__gw_call_unref(w);
        w = next;
    }
}
