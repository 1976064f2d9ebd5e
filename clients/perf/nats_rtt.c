/*
 * parley-nats-rtt: the bare cnats request/reply round trip (test tool, not a Parley service),
 * the floor that the gateway -> NATS -> worker hop is compared against in clients/perf/bench.sh.
 *
 *   parley-nats-rtt --serve --nats URL [--subject S]
 *       a responder: one subscription whose callback answers every message at once with the
 *       request's bytes (a publish from the delivery thread; no queue, no other thread).
 *       Prints "parley-nats-rtt serving" once subscribed and runs until SIGTERM/SIGINT.
 *   parley-nats-rtt --nats URL [--subject S] [--duration S] [--warmup S] [--payload N]
 *       the requester: natsConnection_Request with an N-byte payload (default 28, the size of
 *       bench.sh's PunctuateText request) in a loop, one at a time, for the duration after the
 *       warm-up. Prints one line: "nats_rtt requests=R p50_us=.. p90_us=.. p99_us=.. avg_us=..".
 *
 * The two modes run as two processes, so the figure includes both processes' NATS read
 * threads and nats-server, as the real hop does, and nothing of Parley.
 */
#include <nats/nats.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "perf_stats.h"
#include "util.h"

struct rtt_opts {
    const char *url, *subject;
    bool serve;
    double duration_s, warmup_s;
    int payload;
};

static volatile sig_atomic_t g_stop;
static void on_sig(int s) {
    (void)s;
    g_stop = 1;
}

static void usage(void) {
    fprintf(stderr, "usage: parley-nats-rtt [--serve] --nats URL [--subject S] [--duration S] "
                    "[--warmup S] [--payload BYTES]\n");
}

static int parse_args(int argc, char **argv, struct rtt_opts *o) {
    *o = (struct rtt_opts){NULL, "parley.bench.rtt", false, 5.0, 1.0, 28};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--serve")) {
            o->serve = true;
            continue;
        }
        if (!v) goto bad;
        if (!strcmp(a, "--nats"))
            o->url = v;
        else if (!strcmp(a, "--subject"))
            o->subject = v;
        else if (!strcmp(a, "--duration"))
            o->duration_s = strtod(v, NULL);
        else if (!strcmp(a, "--warmup"))
            o->warmup_s = strtod(v, NULL);
        else if (!strcmp(a, "--payload"))
            o->payload = (int)strtol(v, NULL, 10);
        else
            goto bad;
        i++;
    }
    if (!o->url || o->duration_s <= 0 || o->warmup_s < 0 || o->payload < 0 ||
        o->payload > (1 << 20))
        goto bad;
    return 0;
bad:
    usage();
    return 2;
}

static void on_request(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure) {
    (void)sub;
    (void)closure;
    const char *reply = natsMsg_GetReply(msg);
    if (reply)
        (void)natsConnection_Publish(nc, reply, natsMsg_GetData(msg), natsMsg_GetDataLength(msg));
    natsMsg_Destroy(msg);
}

static int serve(natsConnection *nc, const struct rtt_opts *o) {
    natsSubscription *sub = NULL;
    natsStatus s = natsConnection_Subscribe(&sub, nc, o->subject, on_request, NULL);
    if (s == NATS_OK) s = natsConnection_FlushTimeout(nc, 2000);
    if (s != NATS_OK) {
        fprintf(stderr, "parley-nats-rtt: subscribe %s: %s\n", o->subject, natsStatus_GetText(s));
        natsSubscription_Destroy(sub);
        return 1;
    }
    printf("parley-nats-rtt serving\n");
    fflush(stdout);
    while (!g_stop) pl_sleep_ms(50);
    natsSubscription_Destroy(sub);
    return 0;
}

/* One request/reply; its round trip in microseconds, or -1 on failure. */
static double round_trip(natsConnection *nc, const struct rtt_opts *o, const char *payload) {
    natsMsg *reply = NULL;
    int64_t t0 = pl_time_mono_us();
    natsStatus s = natsConnection_Request(&reply, nc, o->subject, payload, o->payload, 2000);
    int64_t dt = pl_time_mono_us() - t0;
    natsMsg_Destroy(reply);
    if (s != NATS_OK) {
        fprintf(stderr, "parley-nats-rtt: request: %s\n", natsStatus_GetText(s));
        return -1;
    }
    return (double)dt;
}

static int request_loop(natsConnection *nc, const struct rtt_opts *o) {
    char *payload = pl_calloc(1, (size_t)o->payload + 1);
    struct pl_perf_samples us = {0};
    int rc = 1;
    if (!payload) return 1;
    memset(payload, 'x', (size_t)o->payload);
    int64_t start = pl_time_mono_us();
    int64_t measure_from = start + (int64_t)(o->warmup_s * 1e6);
    int64_t end = measure_from + (int64_t)(o->duration_s * 1e6);
    double sum = 0;
    while (!g_stop) {
        int64_t now = pl_time_mono_us();
        if (now >= end) break;
        double dt = round_trip(nc, o, payload);
        if (dt < 0) goto done;
        if (now < measure_from) continue;
        if (pl_perf_samples_add(&us, dt) != PL_OK) goto done;
        sum += dt;
    }
    if (us.n == 0) goto done;
    printf("nats_rtt requests=%zu p50_us=%.0f p90_us=%.0f p99_us=%.0f avg_us=%.0f\n", us.n,
           pl_perf_samples_pct(&us, 50), pl_perf_samples_pct(&us, 90),
           pl_perf_samples_pct(&us, 99), sum / (double)us.n);
    rc = 0;
done:
    pl_perf_samples_deinit(&us);
    pl_free(payload);
    return rc;
}

int main(int argc, char **argv) {
    struct rtt_opts o;
    int rc = parse_args(argc, argv, &o);
    if (rc) return rc;
    signal(SIGTERM, on_sig);
    signal(SIGINT, on_sig);
    /* publishes go out at once, as Parley's connections send them (nrpc_frame.c): cnats's
     * default flusher waits a millisecond before it writes */
    natsConnection *nc = NULL;
    natsOptions *no = NULL;
    natsStatus s = natsOptions_Create(&no);
    if (s == NATS_OK) s = natsOptions_SetURL(no, o.url);
    if (s == NATS_OK) s = natsOptions_SetSendAsap(no, true);
    if (s == NATS_OK) s = natsConnection_Connect(&nc, no);
    natsOptions_Destroy(no);
    if (s != NATS_OK) {
        fprintf(stderr, "parley-nats-rtt: connect %s: %s\n", o.url, natsStatus_GetText(s));
        return 1;
    }
    rc = o.serve ? serve(nc, &o) : request_loop(nc, &o);
    natsConnection_Close(nc);
    natsConnection_Destroy(nc);
    nats_Close();
    return rc;
}
