/*
 * echo_worker.c - a test-only Parley worker (never installed or shipped).
 *
 * Serves, on service --service (default "nlu"):
 *   punctuate_text  unary: a TextTransformRequest answered with a TextTransformResponse
 *                   holding the same texts (protobuf-c); bad bytes -> INVALID_ARGUMENT
 *   echo            unary: the request bytes back
 *   fail            unary: request "<pl_status number>:<message>" -> that error
 *   sleep           unary: request "<ms>": sleeps, answers "slept"
 *   whoami          unary: answers the --id string
 *   echo_stream     stream: each message back; "error:<pl_status>:<msg>" ends the
 *                   stream with that error; half-close ends it OK
 * plus every name given with --stream-rpc (echo stream) and --unary-rpc (echo).
 * Flags are documented in tests/support/README.md.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "log.h"
#include "nrpc_worker.h"
#include "util.h"

#include "proto_util.h"
#include "riva/proto/riva_nlp.pb-c.h"

static int delay_ms;
static int crash_after = -1;
static int stream_msgs_total; /* across streams, for --crash-after */
static const char *worker_id = "echo";

static pl_status copy_out(const uint8_t *req, size_t n, struct pl_worker_out *out) {
    out->len = n;
    out->data = n ? pl_malloc(n) : NULL;
    if (n && !out->data) return PL_ERR(PL_E_NOMEM, "echo: %zu bytes", n);
    if (n) memcpy(out->data, req, n);
    return PL_OK;
}

static pl_status h_echo(void *ud, const struct pl_worker_ctx *ctx, const uint8_t *req, size_t n,
                        struct pl_worker_out *out) {
    (void)ud;
    (void)ctx;
    if (delay_ms) pl_sleep_ms(delay_ms);
    return copy_out(req, n, out);
}

static pl_status h_punctuate(void *ud, const struct pl_worker_ctx *ctx, const uint8_t *req,
                             size_t n, struct pl_worker_out *out) {
    (void)ud;
    (void)ctx;
    if (delay_ms) pl_sleep_ms(delay_ms);
    ProtobufCMessage *m = NULL;
    PL_TRY(pl_proto_unpack(&nvidia__riva__nlp__text_transform_request__descriptor, req, n, &m));
    Nvidia__Riva__Nlp__TextTransformRequest *rq = (Nvidia__Riva__Nlp__TextTransformRequest *)m;
    Nvidia__Riva__Nlp__TextTransformResponse rs = NVIDIA__RIVA__NLP__TEXT_TRANSFORM_RESPONSE__INIT;
    rs.n_text = rq->n_text;
    rs.text = rq->text;
    pl_status st = pl_proto_pack(&rs.base, &out->data, &out->len);
    pl_proto_free(m);
    return st;
}

static pl_status h_fail(void *ud, const struct pl_worker_ctx *ctx, const uint8_t *req, size_t n,
                        struct pl_worker_out *out) {
    (void)ud;
    (void)ctx;
    (void)out;
    char buf[256];
    snprintf(buf, sizeof buf, "%.*s", (int)(n < 255 ? n : 255), (const char *)req);
    char *colon = strchr(buf, ':');
    int code = (int)strtol(buf, NULL, 10);
    if (code <= 0 || code >= PL_STATUS_COUNT) code = PL_E_INTERNAL;
    return PL_ERR((pl_status)code, "%s", colon ? colon + 1 : "failed");
}

static pl_status h_sleep(void *ud, const struct pl_worker_ctx *ctx, const uint8_t *req, size_t n,
                         struct pl_worker_out *out) {
    (void)ud;
    (void)ctx;
    char buf[32];
    snprintf(buf, sizeof buf, "%.*s", (int)(n < 31 ? n : 31), (const char *)req);
    pl_sleep_ms(strtol(buf, NULL, 10));
    return copy_out((const uint8_t *)"slept", 5, out);
}

static pl_status h_whoami(void *ud, const struct pl_worker_ctx *ctx, const uint8_t *req, size_t n,
                          struct pl_worker_out *out) {
    (void)ud;
    (void)ctx;
    (void)req;
    (void)n;
    return copy_out((const uint8_t *)worker_id, strlen(worker_id), out);
}

static pl_status s_open(void *ud, struct pl_worker_session *s, const struct pl_worker_ctx *ctx,
                        void **state) {
    (void)ud;
    (void)s;
    (void)ctx;
    *state = NULL;
    return PL_OK;
}

static pl_status s_message(void *state, struct pl_worker_session *s, const uint8_t *data,
                           size_t n) {
    (void)state;
    if (crash_after >= 0 && ++stream_msgs_total >= crash_after) _exit(3); /* a crash, on purpose */
    if (delay_ms) pl_sleep_ms(delay_ms);
    if (n > 6 && memcmp(data, "error:", 6) == 0) {
        char buf[256];
        snprintf(buf, sizeof buf, "%.*s", (int)(n - 6 < 255 ? n - 6 : 255), (const char *)data + 6);
        char *colon = strchr(buf, ':');
        int code = (int)strtol(buf, NULL, 10);
        if (code <= 0 || code >= PL_STATUS_COUNT) code = PL_E_INTERNAL;
        return PL_ERR((pl_status)code, "%s", colon ? colon + 1 : "failed");
    }
    return pl_worker_session_send(s, data, n);
}

static pl_status s_end(void *state, struct pl_worker_session *s) {
    (void)state;
    (void)s;
    return PL_OK;
}

static void s_cancel(void *state, struct pl_worker_session *s) {
    (void)state;
    (void)s;
}

static const struct pl_worker_stream_i echo_stream = {s_open, s_message, s_end, s_cancel};

static void usage(void) {
    fprintf(stderr, "usage: echo_worker [--nats URL] [--service NAME] [--id NAME] [--threads N]\n"
                    "  [--queue N] [--max-streams N] [--delay-ms N] [--crash-after N]\n"
                    "  [--http-port N] [--heartbeat-ms N] [--stream-timeout-ms N]\n"
                    "  [--drain-timeout-ms N] [--inline-max-us N] [--ready-file PATH]\n"
                    "  [--connect-retry 0|1]\n"
                    "  [--stream-rpc NAME]...\n"
                    "  [--unary-rpc NAME]... [--log-level LEVEL]\n");
}

int main(int argc, char **argv) {
    struct pl_worker_opts o = PL_WORKER_OPTS_INIT;
    const char *ready_file = NULL;
    const char *stream_rpcs[8], *unary_rpcs[8];
    int n_stream = 0, n_unary = 0;
    o.service = "nlu";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            usage();
            return 2;
        }
        i++;
        if (strcmp(a, "--nats") == 0)
            o.nats_url = v;
        else if (strcmp(a, "--service") == 0)
            o.service = v;
        else if (strcmp(a, "--id") == 0)
            worker_id = v;
        else if (strcmp(a, "--threads") == 0)
            o.n_threads = (int)strtol(v, NULL, 10);
        else if (strcmp(a, "--queue") == 0)
            o.queue_capacity = (int)strtol(v, NULL, 10);
        else if (strcmp(a, "--max-streams") == 0)
            o.max_streams = (int)strtol(v, NULL, 10);
        else if (strcmp(a, "--delay-ms") == 0)
            delay_ms = (int)strtol(v, NULL, 10);
        else if (strcmp(a, "--crash-after") == 0)
            crash_after = (int)strtol(v, NULL, 10);
        else if (strcmp(a, "--http-port") == 0)
            o.http_port = (int)strtol(v, NULL, 10);
        else if (strcmp(a, "--heartbeat-ms") == 0)
            o.heartbeat_ms = (int)strtol(v, NULL, 10);
        else if (strcmp(a, "--stream-timeout-ms") == 0)
            o.stream_timeout_ms = (int)strtol(v, NULL, 10);
        else if (strcmp(a, "--drain-timeout-ms") == 0)
            o.drain_timeout_ms = (int)strtol(v, NULL, 10);
        else if (strcmp(a, "--inline-max-us") == 0)
            o.inline_max_us = (int)strtol(v, NULL, 10);
        else if (strcmp(a, "--ready-file") == 0)
            ready_file = v;
        else if (strcmp(a, "--connect-retry") == 0)
            o.connect_retry = strcmp(v, "0") != 0;
        else if (strcmp(a, "--stream-rpc") == 0 && n_stream < 8)
            stream_rpcs[n_stream++] = v;
        else if (strcmp(a, "--unary-rpc") == 0 && n_unary < 8)
            unary_rpcs[n_unary++] = v;
        else if (strcmp(a, "--log-level") == 0 && pl_log_level_parse(v) >= 0)
            pl_log_set_level((enum pl_log_level)pl_log_level_parse(v));
        else {
            usage();
            return 2;
        }
    }
    pl_log_set_service("echo-worker");
    struct pl_worker *w = NULL;
    pl_status st = pl_worker_create(&o, &w);
    if (st == PL_OK) st = pl_worker_add_unary(w, "punctuate_text", h_punctuate, NULL);
    if (st == PL_OK) st = pl_worker_add_unary(w, "echo", h_echo, NULL);
    if (st == PL_OK) st = pl_worker_add_unary(w, "fail", h_fail, NULL);
    if (st == PL_OK) st = pl_worker_add_unary(w, "sleep", h_sleep, NULL);
    if (st == PL_OK) st = pl_worker_add_unary(w, "whoami", h_whoami, NULL);
    if (st == PL_OK) st = pl_worker_add_stream(w, "echo_stream", &echo_stream, NULL);
    for (int i = 0; st == PL_OK && i < n_stream; i++)
        st = pl_worker_add_stream(w, stream_rpcs[i], &echo_stream, NULL);
    for (int i = 0; st == PL_OK && i < n_unary; i++)
        st = pl_worker_add_unary(w, unary_rpcs[i], h_echo, NULL);
    if (st == PL_OK) st = pl_worker_install_signals(w);
    if (st == PL_OK) st = pl_worker_start(w);
    if (st != PL_OK) {
        PL_LOGE("echo worker: %s", pl_last_error());
        pl_worker_destroy(w);
        return 1;
    }
    pl_worker_set_ready(w, true);
    if (ready_file) {
        /* written whole under a temporary name, then renamed: a reader that sees the file
         * sees all of it */
        char tmp[4200];
        snprintf(tmp, sizeof tmp, "%.4096s.tmp", ready_file);
        FILE *f = fopen(tmp, "w");
        if (f) {
            fprintf(f, "%d\n", pl_worker_http_port(w));
            if (fclose(f) != 0 || rename(tmp, ready_file) != 0)
                PL_LOGE("echo worker: cannot write %s", ready_file);
        }
    }
    pl_worker_wait(w);
    pl_worker_destroy(w);
    return 0;
}
