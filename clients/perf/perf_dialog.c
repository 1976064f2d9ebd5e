/*
 * perf_dialog.c - `parley perf --dialog`: load on parley-dialog through the gateway, on gRPC
 * C core: --users N users, each with its own session on one Converse stream, saying the turns
 * of a conversation (the demo booking and playlist exchange, or --script FILE, one utterance
 * per line) over and over until --duration seconds have passed after --warmup.
 *
 * A user sends a turn, waits for its TURN_COMPLETE (or EVENT_ERROR), then sends the next one:
 * at once (closed loop, the default: the throughput the stack sustains), or paced so that all
 * users together offer --rate turns per second (each user every users/rate seconds, the users'
 * phases spread evenly; a user that falls behind sends at once). Turn latency: from starting
 * the send of the text to receiving TURN_COMPLETE; the turns started in the measured window
 * count.
 *
 * Failures: a stream that ends with a non-OK status, or a turn unanswered for
 * --turn-timeout-ms (the call is cancelled), is reopened with the same session after a backoff
 * (50 ms doubling to 800 ms), and the unanswered turn is sent again. --ack-log FILE writes one
 * line per answered turn, "SESSION<TAB>USER<TAB>N<TAB>TEXT" (N counts the user's answered
 * turns from 1), which the crash test compares with the stored history.
 *
 * SIGINT or SIGTERM ends the run early, as the end of --duration does (turns in flight are
 * answered, then every stream half-closes). Prints a summary and one line
 * "RESULT key=value ..." for scripts.
 * One thread, one completion queue; per stream at most one send, one receive and the status.
 */
#include "perf_dialog.h"

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include "alloc.h"
#include "client_grpc.h"
#include "file.h"
#include "parley/dialog/v1/dialog.pb-c.h"
#include "perf_common.h"
#include "perf_stats.h"
#include "proto_util.h"
#include "util.h"

static const char *demo[] = {
    "hello",
    "book a table for four in boston",
    "at 8 pm",
    "no, make it six people",
    "yes",
    "add wonderwall to my road trip playlist",
    "thanks",
    "bye",
};

enum { OP_SEND, OP_RECV, OP_STATUS };

struct dstream;
struct optag {
    struct dstream *s;
    int op;
};

struct dstream {
    int idx;
    char user[64];
    char session[80];
    grpc_call *call;
    struct optag tags[3];
    grpc_metadata_array init_md, trail_md;
    grpc_status_code status;
    grpc_slice details;
    grpc_byte_buffer *in, *out;
    bool send_busy, recv_busy, status_busy;
    bool ready;     /* the session is known and the config was sent */
    bool in_turn;   /* a text was sent, its TURN_COMPLETE not yet received */
    bool broken;    /* failed: reopen once every op is back */
    bool closing;   /* half-closed at the end of the run */
    long next_line; /* index of the turn to say next (mod the script) */
    long acked;     /* answered turns */
    int64_t turn_t0, due_us, reopen_us, backoff_ms;
};

struct drun {
    grpc_channel *ch;
    grpc_completion_queue *cq;
    const char *api_key;
    char **lines;
    long n_lines;
    int64_t t_measure, t_end, period_us, turn_timeout_us;
    bool stopping;
    struct pl_perf_samples lat; /* ms */
    long turns, errors, reconnects, turn_errors, sessions;
    long first_code;
    char first_error[300];
    FILE *ack;
};

static volatile sig_atomic_t stop_asked; /* SIGINT/SIGTERM: end the run now, as at --duration */

static void on_stop(int sig) {
    (void)sig;
    stop_asked = 1;
}

static void usage(FILE *f) {
    fprintf(f, "usage: parley perf --dialog [--server HOST:PORT] [--users N] [--duration S]\n"
               "                   [--warmup S] [--rate TURNS_PER_S] [--script FILE]\n"
               "                   [--turn-timeout-ms MS] [--ack-log FILE] [--user-prefix P]\n"
               "                   [--api-key K] [--tls-ca CA.pem]\n"
               "  --server HOST:PORT  the gateway (default 127.0.0.1:50051; also --target)\n"
               "  --tls-ca CA.pem     TLS, verifying the gateway with this CA certificate\n"
               "  N users (200), each its own session on one Converse stream, say the turns of\n"
               "  a conversation in a loop; prints turns/s and turn latency p50/p90/p99.\n"
               "  --rate: pace all users together to this many turns/s (default: closed loop)\n");
}

static void note_error(struct drun *r, struct dstream *s, long code, const char *what) {
    r->errors++;
    if (r->first_error[0]) return;
    r->first_code = code;
    snprintf(r->first_error, sizeof r->first_error, "%.200s (user %.60s)", what, s->user);
}

static void start_send(struct drun *r, struct dstream *s, grpc_byte_buffer *bb, bool with_md) {
    grpc_op ops[2];
    memset(ops, 0, sizeof ops);
    size_t n = 0;
    grpc_metadata md;
    memset(&md, 0, sizeof md);
    if (with_md) {
        ops[n].op = GRPC_OP_SEND_INITIAL_METADATA;
        if (r->api_key) {
            char auth[512];
            snprintf(auth, sizeof auth, "Bearer %s", r->api_key);
            md.key = grpc_slice_from_static_string("authorization");
            md.value = grpc_slice_from_copied_string(auth);
            ops[n].data.send_initial_metadata.count = 1;
            ops[n].data.send_initial_metadata.metadata = &md;
        }
        n++;
    }
    if (bb) {
        ops[n].op = GRPC_OP_SEND_MESSAGE;
        ops[n++].data.send_message.send_message = bb;
    } else {
        ops[n++].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    }
    s->out = bb;
    s->send_busy = grpc_call_start_batch(s->call, ops, n, &s->tags[OP_SEND], NULL) == GRPC_CALL_OK;
    if (with_md && r->api_key) grpc_slice_unref(md.value);
    if (!s->send_busy) {
        if (bb) grpc_byte_buffer_destroy(bb);
        s->out = NULL;
        s->broken = true;
    }
}

static void post_recv(struct dstream *s, bool with_md) {
    grpc_op ops[2];
    memset(ops, 0, sizeof ops);
    size_t n = 0;
    if (with_md) {
        ops[n].op = GRPC_OP_RECV_INITIAL_METADATA;
        ops[n++].data.recv_initial_metadata.recv_initial_metadata = &s->init_md;
    }
    ops[n].op = GRPC_OP_RECV_MESSAGE;
    ops[n++].data.recv_message.recv_message = &s->in;
    s->recv_busy = grpc_call_start_batch(s->call, ops, n, &s->tags[OP_RECV], NULL) == GRPC_CALL_OK;
}

static void open_stream(struct drun *r, struct dstream *s) {
    s->call = grpc_channel_create_call(r->ch, NULL, GRPC_PROPAGATE_DEFAULTS, r->cq,
                                       grpc_slice_from_static_string(
                                           "/parley.dialog.v1.Dialog/Converse"),
                                       NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    grpc_metadata_array_init(&s->init_md);
    grpc_metadata_array_init(&s->trail_md);
    s->details = grpc_empty_slice();
    s->status = GRPC_STATUS_UNKNOWN;
    s->broken = s->ready = s->in_turn = s->closing = false;
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    op.data.recv_status_on_client.trailing_metadata = &s->trail_md;
    op.data.recv_status_on_client.status = &s->status;
    op.data.recv_status_on_client.status_details = &s->details;
    s->status_busy =
        grpc_call_start_batch(s->call, &op, 1, &s->tags[OP_STATUS], NULL) == GRPC_CALL_OK;
    Parley__Dialog__V1__ConverseConfig cfg = PARLEY__DIALOG__V1__CONVERSE_CONFIG__INIT;
    cfg.session_id = s->session;
    cfg.user_id = s->user;
    Parley__Dialog__V1__ConverseRequest rq = PARLEY__DIALOG__V1__CONVERSE_REQUEST__INIT;
    rq.request_case = PARLEY__DIALOG__V1__CONVERSE_REQUEST__REQUEST_CONFIG;
    rq.config = &cfg;
    start_send(r, s, pl_client_pack(&rq.base), true);
    post_recv(s, true);
    if (s->session[0]) s->ready = true; /* a known session: turns may follow the config */
}

static void send_turn(struct drun *r, struct dstream *s) {
    Parley__Dialog__V1__TextInput t = PARLEY__DIALOG__V1__TEXT_INPUT__INIT;
    t.text = r->lines[s->next_line % r->n_lines];
    Parley__Dialog__V1__ConverseRequest rq = PARLEY__DIALOG__V1__CONVERSE_REQUEST__INIT;
    rq.request_case = PARLEY__DIALOG__V1__CONVERSE_REQUEST__REQUEST_TEXT;
    rq.text = &t;
    s->in_turn = true;
    s->turn_t0 = pl_time_mono_us();
    start_send(r, s, pl_client_pack(&rq.base), false);
}

static void turn_done(struct drun *r, struct dstream *s, bool ok) {
    int64_t now = pl_time_mono_us();
    s->in_turn = false;
    s->acked++;
    if (!ok) r->turn_errors++;
    if (r->ack)
        fprintf(r->ack, "%s\t%s\t%ld\t%s\n", s->session, s->user, s->acked,
                r->lines[s->next_line % r->n_lines]);
    s->next_line++;
    if (s->turn_t0 >= r->t_measure && s->turn_t0 < r->t_end) {
        r->turns++;
        pl_perf_samples_add(&r->lat, (now - s->turn_t0) / 1000.0);
    }
    /* paced: the next turn is due one period after this one started */
    s->due_us = r->period_us > 0 ? s->turn_t0 + r->period_us : now;
    s->backoff_ms = 50;
}

static void on_message(struct drun *r, struct dstream *s, grpc_byte_buffer *bb) {
    ProtobufCMessage *m = NULL;
    if (pl_client_unpack(bb, &parley__dialog__v1__converse_response__descriptor, &m) == PL_OK) {
        Parley__Dialog__V1__ConverseResponse *cr = (void *)m;
        if (cr->response_case == PARLEY__DIALOG__V1__CONVERSE_RESPONSE__RESPONSE_EVENT) {
            int type = cr->event->type;
            if (type == PARLEY__DIALOG__V1__EVENT_TYPE__EVENT_SESSION_CREATED) {
                snprintf(s->session, sizeof s->session, "%s", cr->session_id);
                s->ready = true;
                r->sessions++;
            } else if (type == PARLEY__DIALOG__V1__EVENT_TYPE__EVENT_TURN_COMPLETE && s->in_turn) {
                turn_done(r, s, true);
            } else if (type == PARLEY__DIALOG__V1__EVENT_TYPE__EVENT_ERROR && s->in_turn) {
                note_error(r, s, -1, cr->event->detail ? cr->event->detail : "EVENT_ERROR");
                turn_done(r, s, false);
            }
        }
    }
    pl_proto_free(m);
}

/* Every op of a broken or finished call is back: free it; a broken one reopens later. */
static void maybe_release(struct drun *r, struct dstream *s) {
    if (!s->call || s->send_busy || s->recv_busy || s->status_busy) return;
    grpc_call_unref(s->call);
    s->call = NULL;
    if (s->in) grpc_byte_buffer_destroy(s->in);
    if (s->out) grpc_byte_buffer_destroy(s->out);
    s->in = s->out = NULL;
    grpc_slice_unref(s->details);
    grpc_metadata_array_destroy(&s->init_md);
    grpc_metadata_array_destroy(&s->trail_md);
    if (!r->stopping) {
        s->reopen_us = pl_time_mono_us() + s->backoff_ms * 1000;
        if (s->backoff_ms < 800) s->backoff_ms *= 2;
        r->reconnects++;
    }
}

static void fail(struct drun *r, struct dstream *s, long code, const char *what) {
    if (s->broken) return;
    s->broken = true;
    if (!r->stopping) note_error(r, s, code, what);
    if (s->call) grpc_call_cancel(s->call, NULL);
}

static void on_event(struct drun *r, grpc_event ev) {
    struct optag *t = ev.tag;
    struct dstream *s = t->s;
    switch (t->op) {
    case OP_SEND:
        s->send_busy = false;
        if (s->out) grpc_byte_buffer_destroy(s->out);
        s->out = NULL;
        if (!ev.success) fail(r, s, -1, "a send failed");
        break;
    case OP_RECV:
        s->recv_busy = false;
        if (ev.success && s->in) {
            on_message(r, s, s->in);
            grpc_byte_buffer_destroy(s->in);
            s->in = NULL;
            if (!s->broken) post_recv(s, false);
        }
        break;
    case OP_STATUS:
        s->status_busy = false;
        if (s->status != GRPC_STATUS_OK || !s->closing) {
            char *d = grpc_slice_to_c_string(s->details);
            char what[200];
            snprintf(what, sizeof what, "status %d %s: %s", (int)s->status,
                     pl_perf_status_name(s->status), d);
            gpr_free(d);
            fail(r, s, s->status, what);
        }
        s->broken = true;
        if (s->call) grpc_call_cancel(s->call, NULL);
        break;
    }
    maybe_release(r, s);
}

/* Start what is due: reopen broken streams, send turns, time out silent turns, and at the end
 * half-close. Returns the next time something is due (us). */
static int64_t tick(struct drun *r, struct dstream *ss, int n) {
    int64_t now = pl_time_mono_us(), next = now + 20000;
    for (int i = 0; i < n; i++) {
        struct dstream *s = &ss[i];
        if (!s->call) {
            if (r->stopping) continue;
            if (now < s->reopen_us) {
                if (s->reopen_us < next) next = s->reopen_us;
                continue;
            }
            open_stream(r, s);
            continue;
        }
        if (s->broken || s->closing) continue;
        if (s->in_turn) {
            if (now - s->turn_t0 > r->turn_timeout_us) fail(r, s, 4, "turn timed out");
            continue;
        }
        if (!s->ready || s->send_busy) continue;
        if (r->stopping) {
            s->closing = true;
            start_send(r, s, NULL, false);
            continue;
        }
        if (now < s->due_us) {
            if (s->due_us < next) next = s->due_us;
            continue;
        }
        send_turn(r, s);
    }
    return next;
}

int pl_perf_dialog_main(int argc, char **argv) {
    const char *target = "127.0.0.1:50051", *script = NULL, *ack_log = NULL, *prefix = "perf";
    const char *api_key = NULL, *tls_ca = NULL;
    long users = 200, timeout_ms = 5000;
    double duration = 10, warmup = 2, rate = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--dialog")) continue;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            usage(stderr);
            return 2;
        }
        const char *v = argv[++i];
        if (!strcmp(a, "--target") || !strcmp(a, "--server")) target = v;
        else if (!strcmp(a, "--tls-ca")) tls_ca = v;
        else if (!strcmp(a, "--users")) users = atol(v);
        else if (!strcmp(a, "--duration")) duration = atof(v);
        else if (!strcmp(a, "--warmup")) warmup = atof(v);
        else if (!strcmp(a, "--rate")) rate = atof(v);
        else if (!strcmp(a, "--script")) script = v;
        else if (!strcmp(a, "--turn-timeout-ms")) timeout_ms = atol(v);
        else if (!strcmp(a, "--ack-log")) ack_log = v;
        else if (!strcmp(a, "--user-prefix")) prefix = v;
        else if (!strcmp(a, "--api-key")) api_key = v;
        else {
            fprintf(stderr, "parley perf --dialog: unknown option %s\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (users < 1 || users > 100000 || duration <= 0 || warmup < 0 || rate < 0 || timeout_ms < 1) {
        fprintf(stderr, "parley perf --dialog: --users 1..100000, --duration > 0, --warmup, "
                        "--rate >= 0, --turn-timeout-ms >= 1\n");
        return 2;
    }
    struct drun r;
    memset(&r, 0, sizeof r);
    r.api_key = api_key;
    char *text = NULL;
    if (script) {
        size_t len = 0;
        if (pl_read_file(script, 0, &text, &len) != PL_OK) {
            fprintf(stderr, "parley perf --dialog: %s\n", pl_last_error());
            return 2;
        }
        r.lines = pl_calloc(len / 2 + 2, sizeof *r.lines);
        for (char *p = text, *e; p && *p; p = e) {
            e = strchr(p, '\n');
            if (e) *e++ = '\0';
            if (*p && *p != '#') r.lines[r.n_lines++] = p;
        }
        if (!r.n_lines) {
            fprintf(stderr, "parley perf --dialog: %s has no utterance\n", script);
            return 2;
        }
    } else {
        r.lines = (char **)demo;
        r.n_lines = sizeof demo / sizeof demo[0];
    }
    if (ack_log && !(r.ack = fopen(ack_log, "w"))) {
        fprintf(stderr, "parley perf --dialog: cannot write %s\n", ack_log);
        return 2;
    }
    signal(SIGINT, on_stop);
    signal(SIGTERM, on_stop);
    grpc_init();
    if (pl_perf_channel_create(target, tls_ca != NULL, tls_ca, &r.ch) != PL_OK) {
        fprintf(stderr, "parley perf --dialog: %s\n", pl_last_error());
        return 1;
    }
    r.cq = grpc_completion_queue_create_for_next(NULL);
    r.turn_timeout_us = timeout_ms * 1000;
    r.period_us = rate > 0 ? (int64_t)(users / rate * 1e6) : 0;
    struct dstream *ss = pl_calloc((size_t)users, sizeof *ss);
    int64_t t0 = pl_time_mono_us();
    r.t_measure = t0 + (int64_t)(warmup * 1e6);
    r.t_end = r.t_measure + (int64_t)(duration * 1e6);
    uint32_t salt = (uint32_t)(pl_time_wall_ms() & 0xffffff);
    for (long i = 0; i < users; i++) {
        struct dstream *s = &ss[i];
        s->idx = (int)i;
        snprintf(s->user, sizeof s->user, "%s-%06x-%ld", prefix, salt, i);
        for (int k = 0; k < 3; k++) s->tags[k] = (struct optag){s, k};
        s->backoff_ms = 50;
        s->reopen_us = t0 + (r.period_us > 0 ? r.period_us * i / users : 0);
        s->due_us = s->reopen_us;
    }
    int64_t last_wait = 0;
    for (;;) {
        int64_t now = pl_time_mono_us();
        if (!r.stopping && (now >= r.t_end || stop_asked)) {
            if (now < r.t_end) r.t_end = now;
            r.stopping = true;
            last_wait = now + 10 * 1000000LL; /* the turns in flight end, then half-close */
        }
        int64_t next = tick(&r, ss, (int)users);
        if (r.stopping) {
            bool any = false;
            for (long i = 0; i < users; i++) any = any || ss[i].call;
            if (!any) break;
            if (now > last_wait)
                for (long i = 0; i < users; i++)
                    if (ss[i].call) grpc_call_cancel(ss[i].call, NULL);
        }
        int64_t wait = next - pl_time_mono_us();
        if (wait < 0) wait = 0;
        if (wait > 20000) wait = 20000;
        grpc_event ev = grpc_completion_queue_next(
            r.cq, gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_micros(wait, GPR_TIMESPAN)),
            NULL);
        while (ev.type == GRPC_OP_COMPLETE) {
            on_event(&r, ev);
            ev = grpc_completion_queue_next(r.cq, gpr_inf_past(GPR_CLOCK_MONOTONIC), NULL);
        }
    }
    double secs = (r.t_end - r.t_measure) / 1e6;
    if (secs <= 0) secs = 1e-9;
    printf("dialog: %ld users, %.1f s measured after %.1f s warm-up, %s; script of %ld turns\n",
           users, secs, warmup, rate > 0 ? "paced" : "closed loop", r.n_lines);
    if (rate > 0) printf("offered: %.0f turns/s (each user every %.0f ms)\n", rate, r.period_us / 1e3);
    printf("turns: %ld (%.1f/s), sessions created %ld, failed turns %ld, errors %ld, "
           "reconnects %ld\n", r.turns, r.turns / secs, r.sessions, r.turn_errors, r.errors,
           r.reconnects);
    double p50 = pl_perf_samples_pct(&r.lat, 50), p90 = pl_perf_samples_pct(&r.lat, 90);
    double p99 = pl_perf_samples_pct(&r.lat, 99), mx = pl_perf_samples_max(&r.lat);
    printf("turn latency ms: p50 %.2f  p90 %.2f  p99 %.2f  max %.2f\n", p50, p90, p99, mx);
    if (r.first_error[0]) printf("first error: %s\n", r.first_error);
    printf("RESULT users=%ld turns=%ld turns_per_s=%.1f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f "
           "max_ms=%.2f errors=%ld turn_errors=%ld reconnects=%ld\n",
           users, r.turns, r.turns / secs, p50, p90, p99, mx, r.errors, r.turn_errors,
           r.reconnects);
    fflush(stdout);
    if (r.ack) fclose(r.ack);
    pl_perf_samples_deinit(&r.lat);
    pl_free(ss);
    if (script) {
        pl_free(r.lines);
        pl_free(text);
    }
    grpc_completion_queue_shutdown(r.cq);
    while (grpc_completion_queue_next(r.cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
           GRPC_QUEUE_SHUTDOWN) {
    }
    grpc_completion_queue_destroy(r.cq);
    grpc_channel_destroy(r.ch);
    grpc_shutdown();
    return r.errors && !r.turns ? 1 : 0;
}
