/*
 * parley-perf (`parley perf`): a perf_analyzer-like load generator for any
 * unary RPC of Parley's gRPC API, written on gRPC C core.
 *
 *   parley perf [--target HOST:PORT] [--rpc NAME|PATH] [--concurrency 1,8,64]
 *               [--duration S] [--warmup S] [--text STR] [--request-file F]
 *               [--api-key K] [--use-ssl] [--ssl-cert PEM] [--label L] [--csv FILE]
 *   parley perf --stream --audio FILE ...   (StreamingRecognize: perf_stream.c)
 *   parley perf --dialog [--users N] ...      (Converse text turns: perf_dialog.c)
 *
 * For each concurrency level N it keeps N calls in flight (each slot starts
 * its next call when the previous one completes) for --duration seconds after
 * --warmup seconds, and reports throughput and latency percentiles. The
 * request: --request-file (raw protobuf bytes; several: sent in turn), or for punctuate_text a
 * TextTransformRequest with --text, else an empty message.
 */
#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "file.h"
#include "perf_common.h"
#include "perf_dialog.h"
#include "perf_stream.h"
#include "riva/proto/riva_nlp.pb-c.h"
#include "rpc_table.h"
#include "util.h"

#define MAX_REQS 256 /* --request-file given this many times at most */

struct slot {
    grpc_call *call;
    grpc_metadata_array init_md, trail_md;
    grpc_byte_buffer *resp;
    grpc_status_code status;
    grpc_slice details;
    int64_t t0;
    int idx;
};

struct run {
    grpc_channel *ch;
    grpc_completion_queue *cq;
    grpc_slice method;
    grpc_slice req[MAX_REQS]; /* the calls take them in turn */
    int n_req;
    size_t next_req;
    const char *api_key;
    int64_t *lat; /* latencies in us, measured window */
    size_t n_lat, cap_lat;
    long errors, first_error_code;
    char first_error[160];
};

static void usage(FILE *f) {
    fprintf(f, "usage: parley perf [--server HOST:PORT] [--rpc NAME|PATH] [--concurrency 1,8,64]\n"
               "                   [--duration S] [--warmup S] [--text STR] [--request-file F]\n"
               "                   [--api-key K] [--tls-ca CA.pem] [--use-ssl] [--label L]\n"
               "                   [--csv FILE]\n"
               "  --request-file F    the request's protobuf bytes; given several times (at most\n"
               "                      256), the calls send the files in turn\n"
               "  --server HOST:PORT  the gateway (default 127.0.0.1:50051; also --target)\n"
               "  --api-key K         sent as 'authorization: Bearer K'\n"
               "  --tls-ca CA.pem     TLS, verifying the gateway with this CA (also --ssl-cert);\n"
               "                      --use-ssl: TLS with the system's CAs\n"
               "       parley perf --stream --audio FILE [...]   (StreamingRecognize; --stream --help)\n"
               "       parley perf --dialog [--users N] [...]    (Converse text turns; --dialog --help)\n");
}

static int start_call(struct run *r, struct slot *s) {
    s->t0 = pl_time_mono_us();
    s->call = grpc_channel_create_call(r->ch, NULL, GRPC_PROPAGATE_DEFAULTS, r->cq, r->method, NULL,
                                       gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    grpc_metadata_array_init(&s->init_md);
    grpc_metadata_array_init(&s->trail_md);
    s->resp = NULL;
    grpc_slice *req = &r->req[r->next_req++ % (size_t)r->n_req];
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(req, 1);
    grpc_metadata md;
    memset(&md, 0, sizeof md);
    grpc_op ops[6];
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    if (r->api_key) {
        md.key = grpc_slice_from_static_string("authorization");
        md.value = grpc_slice_from_copied_string(r->api_key);
        ops[0].data.send_initial_metadata.count = 1;
        ops[0].data.send_initial_metadata.metadata = &md;
    }
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = bb;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &s->init_md;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &s->resp;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &s->trail_md;
    ops[5].data.recv_status_on_client.status = &s->status;
    ops[5].data.recv_status_on_client.status_details = &s->details;
    grpc_call_error e = grpc_call_start_batch(s->call, ops, 6, s, NULL);
    grpc_byte_buffer_destroy(bb);
    if (r->api_key) grpc_slice_unref(md.value);
    return e == GRPC_CALL_OK ? 0 : -1;
}

static void end_call(struct run *r, struct slot *s, bool record) {
    int64_t us = pl_time_mono_us() - s->t0;
    if (s->status != GRPC_STATUS_OK) {
        if (record && r->errors++ == 0) {
            r->first_error_code = s->status;
            char *d = grpc_slice_to_c_string(s->details);
            snprintf(r->first_error, sizeof r->first_error, "%s", d);
            gpr_free(d);
        }
    } else if (record) {
        if (r->n_lat == r->cap_lat) {
            size_t cap = r->cap_lat ? r->cap_lat * 2 : 4096;
            int64_t *v = pl_realloc(r->lat, cap * sizeof *v);
            if (v) {
                r->lat = v;
                r->cap_lat = cap;
            }
        }
        if (r->n_lat < r->cap_lat) r->lat[r->n_lat++] = us;
    }
    if (s->resp) grpc_byte_buffer_destroy(s->resp);
    grpc_slice_unref(s->details);
    grpc_metadata_array_destroy(&s->init_md);
    grpc_metadata_array_destroy(&s->trail_md);
    grpc_call_unref(s->call);
    s->call = NULL;
}

static int cmp64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static int64_t pct(const int64_t *v, size_t n, double p) {
    if (!n) return 0;
    size_t i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

/* Run one concurrency level; returns 0 if it completed (errors are counted). */
static int level(struct run *r, int conc, double warmup_s, double dur_s, double *elapsed) {
    struct slot *slots = pl_calloc((size_t)conc, sizeof *slots);
    if (!slots) return -1;
    int64_t t_start = pl_time_mono_us();
    int64_t t_measure = t_start + (int64_t)(warmup_s * 1e6);
    int64_t t_end = t_measure + (int64_t)(dur_s * 1e6);
    int inflight = 0;
    r->n_lat = 0;
    r->errors = 0;
    for (int i = 0; i < conc; i++) {
        slots[i].idx = i;
        if (start_call(r, &slots[i]) == 0) inflight++;
    }
    while (inflight > 0) {
        grpc_event ev = grpc_completion_queue_next(
            r->cq, gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_seconds(30, GPR_TIMESPAN)),
            NULL);
        if (ev.type != GRPC_OP_COMPLETE) {
            fprintf(stderr, "parley perf: no completion for 30 s\n");
            break;
        }
        struct slot *s = ev.tag;
        bool in_window = s->t0 >= t_measure && s->t0 < t_end;
        end_call(r, s, in_window);
        inflight--;
        if (pl_time_mono_us() < t_end && start_call(r, s) == 0) inflight++;
    }
    *elapsed = dur_s;
    pl_free(slots);
    return 0;
}

int main(int argc, char **argv) {
    const char *target = "127.0.0.1:50051", *rpc_name = "punctuate_text", *conc_list = "1,8,64";
    const char *text = "hello world this is parley", *req_files[MAX_REQS], *api_key = NULL;
    int n_files = 0;
    const char *csv = NULL, *label = NULL;
    const char *ssl_cert = NULL;
    bool use_ssl = false;
    double duration = 5, warmup = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--stream")) return pl_perf_stream_main(argc, argv);
        if (!strcmp(argv[i], "--dialog")) return pl_perf_dialog_main(argc, argv);
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--use-ssl")) {
            use_ssl = true;
            continue;
        }
        if (i + 1 >= argc) {
            usage(stderr);
            return 2;
        }
        const char *v = argv[++i];
        if (!strcmp(a, "--target") || !strcmp(a, "--server")) target = v;
        else if (!strcmp(a, "--rpc")) rpc_name = v;
        else if (!strcmp(a, "--concurrency")) conc_list = v;
        else if (!strcmp(a, "--duration")) duration = atof(v);
        else if (!strcmp(a, "--warmup")) warmup = atof(v);
        else if (!strcmp(a, "--text")) text = v;
        else if (!strcmp(a, "--request-file")) {
            if (n_files == MAX_REQS) {
                fprintf(stderr, "parley perf: more than %d --request-file\n", MAX_REQS);
                return 2;
            }
            req_files[n_files++] = v;
        }
        else if (!strcmp(a, "--api-key")) api_key = v;
        else if (!strcmp(a, "--csv")) csv = v;
        else if (!strcmp(a, "--label")) label = v;
        else if (!strcmp(a, "--ssl-cert") || !strcmp(a, "--tls-ca")) ssl_cert = v, use_ssl = true;
        else {
            usage(stderr);
            return 2;
        }
    }
    if (duration <= 0 || warmup < 0) {
        fprintf(stderr, "parley perf: --duration must be > 0 and --warmup >= 0\n");
        return 2;
    }
    /* find the rpc: a path, or a snake-case name */
    const struct pl_rpc_info *info = pl_perf_rpc_resolve(rpc_name);
    if (!info) {
        fprintf(stderr, "parley perf: unknown rpc %s\n", rpc_name);
        return 2;
    }
    if (info->client_streaming || info->server_streaming) {
        fprintf(stderr,
                "parley perf: %s is a streaming rpc; unary rpcs only without --stream "
                "(parley perf --stream measures StreamingRecognize)\n",
                info->path);
        return 2;
    }
    grpc_init();
    struct run r;
    memset(&r, 0, sizeof r);
    r.api_key = api_key;
    r.method = grpc_slice_from_static_string(info->path);
    for (int k = 0; k < n_files; k++) {
        char *buf = NULL;
        size_t n = 0;
        if (pl_read_file(req_files[k], 64u << 20, &buf, &n) != PL_OK) {
            fprintf(stderr, "parley perf: %s\n", pl_last_error());
            return 1;
        }
        r.req[r.n_req++] = grpc_slice_from_copied_buffer(buf, n);
        pl_free(buf);
    }
    if (!n_files && !strcmp(info->rpc, "punctuate_text")) {
        Nvidia__Riva__Nlp__TextTransformRequest m = NVIDIA__RIVA__NLP__TEXT_TRANSFORM_REQUEST__INIT;
        char *t = (char *)text;
        m.n_text = 1;
        m.text = &t;
        size_t n = nvidia__riva__nlp__text_transform_request__get_packed_size(&m);
        r.req[0] = grpc_slice_malloc(n);
        nvidia__riva__nlp__text_transform_request__pack(&m, GRPC_SLICE_START_PTR(r.req[0]));
        r.n_req = 1;
    } else if (!n_files) {
        r.req[0] = grpc_empty_slice();
        r.n_req = 1;
    }
    if (pl_perf_channel_create(target, use_ssl, ssl_cert, &r.ch) != PL_OK) {
        fprintf(stderr, "parley perf: %s\n", pl_last_error());
        for (int k = 0; k < r.n_req; k++) grpc_slice_unref(r.req[k]);
        grpc_shutdown();
        return 1;
    }
    r.cq = grpc_completion_queue_create_for_next(NULL);

    FILE *cf = NULL;
    if (csv) {
        cf = fopen(csv, "w");
        if (!cf) {
            perror(csv);
            return 1;
        }
        fprintf(cf, "label,rpc,concurrency,requests,errors,throughput_per_s,p50_us,p90_us,p99_us,"
                    "avg_us\n");
    }
    size_t req_bytes = 0;
    for (int k = 0; k < r.n_req; k++) req_bytes += GRPC_SLICE_LENGTH(r.req[k]);
    printf("# target %s rpc %s request %zu bytes%s, warmup %.1f s, duration %.1f s\n", target,
           info->path, req_bytes / (size_t)r.n_req, r.n_req > 1 ? " on average, in turn" : "",
           warmup, duration);
    printf("%-12s %5s %9s %7s %10s %9s %9s %9s %9s\n", "label", "conc", "requests", "errors",
           "thru/s", "p50_us", "p90_us", "p99_us", "avg_us");
    int rc = 0;
    for (const char *p = conc_list; *p;) {
        char *end;
        long conc = strtol(p, &end, 10);
        if (end == p || (*end && *end != ',') || conc < 1 || conc > 10000) {
            fprintf(stderr, "parley perf: bad concurrency in %s\n", conc_list);
            rc = 2;
            break;
        }
        double el;
        if (level(&r, (int)conc, warmup, duration, &el) != 0) {
            rc = 1;
            break;
        }
        qsort(r.lat, r.n_lat, sizeof *r.lat, cmp64);
        double sum = 0;
        for (size_t i = 0; i < r.n_lat; i++) sum += (double)r.lat[i];
        double avg = r.n_lat ? sum / (double)r.n_lat : 0;
        double thr = (double)r.n_lat / el;
        printf("%-12s %5ld %9zu %7ld %10.1f %9lld %9lld %9lld %9.0f\n", label ? label : "-", conc,
               r.n_lat, r.errors, thr, (long long)pct(r.lat, r.n_lat, 50),
               (long long)pct(r.lat, r.n_lat, 90), (long long)pct(r.lat, r.n_lat, 99), avg);
        if (r.errors)
            printf("# %ld error(s); first: code %ld %s\n", r.errors, r.first_error_code,
                   r.first_error);
        if (cf)
            fprintf(cf, "%s,%s,%ld,%zu,%ld,%.1f,%lld,%lld,%lld,%.0f\n", label ? label : "", info->rpc,
                    conc, r.n_lat, r.errors, thr, (long long)pct(r.lat, r.n_lat, 50),
                    (long long)pct(r.lat, r.n_lat, 90), (long long)pct(r.lat, r.n_lat, 99), avg);
        fflush(stdout);
        if (r.errors && !r.n_lat) rc = 1;
        const char *c = strchr(p, ',');
        if (!c) break;
        p = c + 1;
    }
    if (cf) fclose(cf);
    pl_free(r.lat);
    for (int k = 0; k < r.n_req; k++) grpc_slice_unref(r.req[k]);
    grpc_channel_destroy(r.ch);
    grpc_completion_queue_shutdown(r.cq);
    while (grpc_completion_queue_next(r.cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
           GRPC_QUEUE_SHUTDOWN) {
    }
    grpc_completion_queue_destroy(r.cq);
    grpc_shutdown();
    return rc;
}
