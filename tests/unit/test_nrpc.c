/*
 * test_nrpc.c - the NATS RPC client and worker against a real nats-server.
 *
 * Each test starts its own nats-server on a free 127.0.0.1 port and stops it
 * by PID. Workers run in-process (pl_worker) or as the test-only echo worker
 * process (for crashes, SIGTERM drains and queue groups).
 */
#include <arpa/inet.h>
#include <check.h>
#include <nats/nats.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "alloc.h"
#include "log.h"
#include "nrpc.h"
#include "nrpc_impl.h"
#include "nrpc_metrics.h"
#include "nrpc_worker.h"
#include "test_nats.h"
#include "util.h"

static struct pl_test_nats srv;

static void quiet_log(enum pl_log_level level, const char *src, const char *msg, void *ud) {
    (void)ud;
    if (level <= PL_LOG_WARN && getenv("PL_TEST_VERBOSE")) fprintf(stderr, "%s %s\n", src, msg);
}

static void setup_server(int max_payload) {
    pl_log_set(quiet_log, NULL);
    ck_assert_msg(pl_test_nats_start(&srv, max_payload) == PL_OK, "nats-server: %s",
                  pl_last_error());
}

static void teardown_server(void) {
    pl_test_nats_stop(&srv);
    nats_CloseAndWait(2000); /* release the NATS library's globals (leak checks) */
}

static struct pl_nrpc_conn *client(int hb_ms, int timeout_ms) {
    struct pl_nrpc_conn_opts o = PL_NRPC_CONN_OPTS_INIT;
    struct pl_nrpc_conn *c = NULL;
    o.url = srv.url;
    if (hb_ms) o.heartbeat_ms = hb_ms;
    if (timeout_ms) o.stream_timeout_ms = timeout_ms;
    ck_assert_msg(pl_nrpc_conn_create(&o, &c) == PL_OK, "connect: %s", pl_last_error());
    return c;
}

/* ---- in-process handlers --------------------------------------------------------------------- */

static atomic_int handler_runs;

static pl_status h_echo(void *ud, const struct pl_worker_ctx *ctx, const uint8_t *req, size_t n,
                        struct pl_worker_out *out) {
    (void)ud;
    (void)ctx;
    atomic_fetch_add(&handler_runs, 1);
    out->data = n ? pl_malloc(n) : NULL;
    if (n) memcpy(out->data, req, n);
    out->len = n;
    return PL_OK;
}

/* Answers "<request id>|<ms left to the deadline, 0 = none>|<user>|<rpc>|<payload>". */
static pl_status h_ctx(void *ud, const struct pl_worker_ctx *ctx, const uint8_t *req, size_t n,
                       struct pl_worker_out *out) {
    (void)ud;
    char buf[512];
    long long left = ctx->deadline_us ? (ctx->deadline_us - pl_time_mono_us()) / 1000 : 0;
    int k = snprintf(buf, sizeof buf, "%s|%lld|%s|%s|%s|%.*s", ctx->request_id, left, ctx->user,
                     ctx->rpc, pl_log_request_id(), (int)n, (const char *)req);
    out->data = pl_malloc((size_t)k);
    memcpy(out->data, buf, (size_t)k);
    out->len = (size_t)k;
    return PL_OK;
}

static atomic_int sleep_gate; /* set: h_sleep waits until it is cleared instead of 300 ms */

static pl_status h_sleep(void *ud, const struct pl_worker_ctx *ctx, const uint8_t *req, size_t n,
                         struct pl_worker_out *out) {
    (void)ud;
    (void)ctx;
    (void)req;
    (void)n;
    (void)out;
    atomic_fetch_add(&handler_runs, 1);
    if (atomic_load(&sleep_gate)) { /* held until the test opens the gate (10 s at most) */
        for (int i = 0; i < 10000 && atomic_load(&sleep_gate); i++) pl_sleep_ms(1);
        return PL_OK;
    }
    pl_sleep_ms(300);
    return PL_OK;
}

static pl_status h_fail(void *ud, const struct pl_worker_ctx *ctx, const uint8_t *req, size_t n,
                        struct pl_worker_out *out) {
    (void)ud;
    (void)ctx;
    (void)out;
    int code = (int)strtol(n ? (const char *)req : "9", NULL, 10);
    return PL_ERR((pl_status)code, "failure %d as asked", code);
}

static pl_status s_open(void *ud, struct pl_worker_session *s, const struct pl_worker_ctx *ctx,
                        void **state) {
    (void)ud;
    (void)s;
    (void)ctx;
    *state = NULL;
    return PL_OK;
}

static pl_status s_msg(void *state, struct pl_worker_session *s, const uint8_t *d, size_t n) {
    (void)state;
    if (n == 4 && memcmp(d, "fail", 4) == 0) return PL_ERR(PL_E_NOT_FOUND, "no such thing");
    /* answer twice: the message, then its length as text */
    PL_TRY(pl_worker_session_send(s, d, n));
    char len[32];
    snprintf(len, sizeof len, "%zu", n);
    return pl_worker_session_send(s, len, strlen(len));
}

static struct pl_worker_session *_Atomic retained; /* kept past the end by s_end */

static pl_status s_end(void *state, struct pl_worker_session *s) {
    (void)state;
    pl_worker_session_retain(s);
    struct pl_worker_session *old = atomic_exchange(&retained, s);
    if (old) pl_worker_session_release(old);
    return pl_worker_session_send(s, "bye", 3);
}

static atomic_int cancels;
static void s_cancel(void *state, struct pl_worker_session *s) {
    (void)state;
    (void)s;
    atomic_fetch_add(&cancels, 1);
}

static const struct pl_worker_stream_i stream_iface = {s_open, s_msg, s_end, s_cancel};

static struct pl_worker *worker(const char *svc, int threads, int queue, int http_port) {
    struct pl_worker_opts o = PL_WORKER_OPTS_INIT;
    struct pl_worker *w = NULL;
    o.service = svc;
    o.nats_url = srv.url;
    o.n_threads = threads;
    o.queue_capacity = queue;
    o.http_port = http_port;
    o.heartbeat_ms = 200;
    o.stream_timeout_ms = 1000;
    o.drain_timeout_ms = 3000;
    ck_assert(pl_worker_create(&o, &w) == PL_OK);
    ck_assert(pl_worker_add_unary(w, "echo", h_echo, NULL) == PL_OK);
    ck_assert(pl_worker_add_unary(w, "ctx", h_ctx, NULL) == PL_OK);
    ck_assert(pl_worker_add_unary(w, "sleep", h_sleep, NULL) == PL_OK);
    ck_assert(pl_worker_add_unary(w, "fail", h_fail, NULL) == PL_OK);
    ck_assert(pl_worker_add_stream(w, "twice", &stream_iface, NULL) == PL_OK);
    ck_assert(pl_worker_add_unary(w, "echo", h_echo, NULL) == PL_E_INVALID_ARG);
    ck_assert_msg(pl_worker_start(w) == PL_OK, "worker start: %s", pl_last_error());
    return w;
}

/* ---- async completions ----------------------------------------------------------------------- */

struct waiter {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int n;
    int codes[256];
    char *data[256];
    size_t lens[256];
};

static void waiter_init(struct waiter *w) {
    memset(w, 0, sizeof *w);
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
}

static void waiter_deinit(struct waiter *w) {
    for (int i = 0; i < w->n && i < 256; i++) pl_free(w->data[i]);
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->lock);
}

static void waiter_done(void *ud, struct pl_nrpc_reply *r) {
    struct waiter *w = ud;
    pthread_mutex_lock(&w->lock);
    if (w->n < 256) {
        w->codes[w->n] = r->code;
        w->data[w->n] = (char *)r->data; /* moved out */
        w->lens[w->n] = r->len;
        r->data = NULL;
    }
    w->n++;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

static void waiter_wait(struct waiter *w, int n) {
    pthread_mutex_lock(&w->lock);
    while (w->n < n) pthread_cond_wait(&w->cond, &w->lock);
    pthread_mutex_unlock(&w->lock);
}

/* ---- unary ----------------------------------------------------------------------------------- */

START_TEST(test_unary_roundtrip_headers) {
    setup_server(0);
    struct pl_worker *w = worker("t1", 2, 16, -1);
    struct pl_nrpc_conn *c = client(0, 0);
    ck_assert_int_ge(pl_nrpc_conn_max_payload(c), 1024 * 1024);
    ck_assert(pl_nrpc_conn_connected(c));

    /* the deadline travels as the time left (Parley-Timeout-Us): the handler sees its own
     * deadline_us about 5 s ahead (less the time the request took to get there) */
    int64_t dl = pl_time_mono_us() + 5000000;
    struct pl_nrpc_meta m = {"req-42.abc", dl, "alice"};
    struct pl_nrpc_reply r;
    ck_assert_int_eq(pl_nrpc_call(c, "parley.t1.ctx", "hello", 5, &m, 2000, &r), PL_OK);
    ck_assert_int_eq(r.code, 0);
    char got[256];
    snprintf(got, sizeof got, "%.*s", (int)r.len, (const char *)r.data);
    long long left = -1;
    char tail[200];
    ck_assert_int_eq(sscanf(got, "req-42.abc|%lld|%199s", &left, tail), 2);
    ck_assert_msg(left > 3000 && left <= 5000, "ms left at the handler: %lld", left);
    ck_assert_str_eq(tail, "alice|ctx|req-42.abc|hello");
    ck_assert_str_eq(r.message, "");
    pl_nrpc_reply_deinit(&r);

    /* no meta: a fresh 32-hex request id, no deadline, no user; empty payload works */
    ck_assert_int_eq(pl_nrpc_call(c, "parley.t1.ctx", NULL, 0, NULL, 2000, &r), PL_OK);
    ck_assert_int_eq(r.code, 0);
    ck_assert_ptr_nonnull(memchr(r.data, '|', r.len));
    ck_assert_int_eq((int)((uint8_t *)memchr(r.data, '|', r.len) - r.data), 32);
    ck_assert(memcmp((uint8_t *)memchr(r.data, '|', r.len), "|0||ctx|", 8) == 0);
    pl_nrpc_reply_deinit(&r);

    /* bad subjects are refused locally */
    ck_assert_int_eq(pl_nrpc_call(c, "nlu.echo", "x", 1, NULL, 100, &r), PL_E_INVALID_ARG);
    pl_nrpc_reply_deinit(&r);
    ck_assert_int_eq(pl_nrpc_call(c, "parley.a.b.c", "x", 1, NULL, 100, &r), PL_E_INVALID_ARG);
    pl_nrpc_reply_deinit(&r);

    pl_nrpc_conn_destroy(c);
    pl_worker_destroy(w);
    teardown_server();
}
END_TEST

START_TEST(test_no_responders) {
    setup_server(0);
    struct pl_nrpc_conn *c = client(0, 0);
    struct pl_nrpc_reply r;
    int64_t t0 = pl_time_mono_ms();
    ck_assert_int_eq(pl_nrpc_call(c, "parley.nobody.echo", "x", 1, NULL, 3000, &r), PL_OK);
    ck_assert_int_eq(r.code, PL_GRPC_UNAVAILABLE);
    ck_assert_int_lt(pl_time_mono_ms() - t0, 1000); /* at once, not after the timeout */
    pl_nrpc_reply_deinit(&r);

    /* a stream to nobody ends UNAVAILABLE at once too */
    struct pl_nrpc_stream *s = NULL;
    ck_assert_int_eq(pl_nrpc_stream_open(c, "nobody", "x", NULL, NULL, NULL, &s), PL_OK);
    uint8_t *d;
    size_t n;
    int code = -1;
    const char *msg = NULL;
    ck_assert_int_eq(pl_nrpc_stream_recv(s, 3000, &d, &n, &code, &msg), PL_E_CANCELLED);
    ck_assert_int_eq(code, PL_GRPC_UNAVAILABLE);
    ck_assert_int_lt(pl_time_mono_ms() - t0, 2000);
    pl_nrpc_stream_destroy(s);
    pl_nrpc_conn_destroy(c);
    teardown_server();
}
END_TEST

START_TEST(test_deadline) {
    setup_server(0);
    atomic_store(&handler_runs, 0);
    struct pl_worker *w = worker("t3", 1, 16, -1);
    struct pl_nrpc_conn *c = client(0, 0);
    struct pl_nrpc_reply r;
    /* the client gives up first */
    int64_t t0 = pl_time_mono_ms();
    ck_assert_int_eq(pl_nrpc_call(c, "parley.t3.sleep", "", 0, NULL, 100, &r), PL_OK);
    ck_assert_int_eq(r.code, PL_GRPC_DEADLINE_EXCEEDED);
    int64_t el = pl_time_mono_ms() - t0;
    ck_assert_int_ge(el, 90);
    ck_assert_int_lt(el, 280);
    pl_nrpc_reply_deinit(&r);
    pl_sleep_ms(300); /* let the worker finish */

    /* the deadline passes while the request waits in the worker's queue: one
     * thread busy 300 ms, the second request's deadline is 100 ms away */
    atomic_store(&handler_runs, 0);
    struct waiter wt;
    waiter_init(&wt);
    ck_assert_int_eq(pl_nrpc_call_async(c, "parley.t3.sleep", "", 0, NULL, 2000, waiter_done, &wt),
                     PL_OK);
    for (int i = 0; i < 2000 && atomic_load(&handler_runs) == 0; i++) pl_sleep_ms(1);
    ck_assert_int_eq(atomic_load(&handler_runs), 1); /* the only thread is busy now */
    struct pl_nrpc_meta m = {NULL, pl_time_mono_us() + 100000, NULL};
    ck_assert_int_eq(pl_nrpc_call(c, "parley.t3.sleep", "", 0, &m, 0, &r), PL_OK);
    ck_assert_int_eq(r.code, PL_GRPC_DEADLINE_EXCEEDED);
    pl_nrpc_reply_deinit(&r);
    waiter_wait(&wt, 1);
    ck_assert_int_eq(wt.codes[0], 0);
    pl_sleep_ms(100);
    /* the worker skipped the expired request: only the first one ran */
    ck_assert_int_eq(atomic_load(&handler_runs), 1);
    waiter_deinit(&wt);
    pl_nrpc_conn_destroy(c);
    pl_worker_destroy(w);
    teardown_server();
}
END_TEST

START_TEST(test_errors_mapped) {
    setup_server(0);
    struct pl_worker *w = worker("t4", 2, 16, -1);
    struct pl_nrpc_conn *c = client(0, 0);
    static const struct {
        pl_status st;
        int code;
    } cases[] = {
        {PL_E_INVALID_ARG, 3}, {PL_E_FORMAT, 3},    {PL_E_NOT_FOUND, 5}, {PL_E_EXHAUSTED, 8},
        {PL_E_UNSUPPORTED, 3}, {PL_E_TIMEOUT, 4},   {PL_E_CANCELLED, 1}, {PL_E_UNAVAILABLE, 14},
        {PL_E_NOMEM, 13},      {PL_E_INTERNAL, 13}, {PL_E_IO, 13},       {PL_E_BACKEND, 13},
    };
    for (size_t i = 0; i < PL_ARRAY_LEN(cases); i++) {
        char req[16], want[64];
        snprintf(req, sizeof req, "%d", (int)cases[i].st);
        /* a failed allocation's message says so */
        snprintf(want, sizeof want, "%sfailure %d as asked",
                 cases[i].st == PL_E_NOMEM ? "out of memory: " : "", (int)cases[i].st);
        struct pl_nrpc_reply r;
        ck_assert_int_eq(pl_nrpc_call(c, "parley.t4.fail", req, strlen(req), NULL, 2000, &r),
                         PL_OK);
        ck_assert_int_eq(r.code, cases[i].code);
        ck_assert_str_eq(r.message, want);
        ck_assert_int_eq(pl_nrpc_code_from_status(cases[i].st), cases[i].code);
        pl_nrpc_reply_deinit(&r);
    }
    /* an rpc the worker does not serve, as a stream: UNIMPLEMENTED */
    struct pl_nrpc_stream *s = NULL;
    ck_assert_int_eq(pl_nrpc_stream_open(c, "t4", "nope", NULL, NULL, NULL, &s), PL_OK);
    uint8_t *d;
    size_t n;
    int code = -1;
    ck_assert_int_eq(pl_nrpc_stream_recv(s, 2000, &d, &n, &code, NULL), PL_E_CANCELLED);
    ck_assert_int_eq(code, PL_GRPC_UNIMPLEMENTED);
    pl_nrpc_stream_destroy(s);
    ck_assert_str_eq(pl_grpc_code_name(14), "UNAVAILABLE");
    ck_assert_int_eq(pl_nrpc_status_from_code(4), PL_E_TIMEOUT);
    pl_nrpc_conn_destroy(c);
    pl_worker_destroy(w);
    teardown_server();
}
END_TEST

static void fill_pattern(uint8_t *p, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)((i * 131u + seed) ^ (i >> 9));
}

START_TEST(test_large_payload) {
    setup_server(64 * 1024); /* max_payload 64 KiB from a config file */
    struct pl_worker *w = worker("t5", 2, 16, -1);
    struct pl_nrpc_conn *c = client(0, 0);
    ck_assert_int_eq(pl_nrpc_conn_max_payload(c), 64 * 1024);
    ck_assert_uint_lt(pl_nrpc_conn_frame_limit(c), 64 * 1024);
    size_t big = 300 * 1024 + 7;
    uint8_t *p = pl_malloc(big);
    fill_pattern(p, big, 7);
    /* request and response both larger than max_payload: the request goes as
     * a stream, the response comes back in frames */
    struct pl_nrpc_reply r;
    ck_assert_int_eq(pl_nrpc_call(c, "parley.t5.echo", p, big, NULL, 5000, &r), PL_OK);
    ck_assert_msg(r.code == 0, "code %d: %s", r.code, r.message);
    ck_assert_uint_eq(r.len, big);
    ck_assert(memcmp(r.data, p, big) == 0);
    pl_nrpc_reply_deinit(&r);

    /* a stream message of the same size, both ways */
    struct pl_nrpc_stream *s = NULL;
    ck_assert_int_eq(pl_nrpc_stream_open(c, "t5", "twice", NULL, NULL, NULL, &s), PL_OK);
    ck_assert_int_eq(pl_nrpc_stream_send(s, p, big), PL_OK);
    uint8_t *d;
    size_t n;
    ck_assert_int_eq(pl_nrpc_stream_recv(s, 5000, &d, &n, NULL, NULL), PL_OK);
    ck_assert_uint_eq(n, big);
    ck_assert(memcmp(d, p, big) == 0);
    pl_free(d);
    ck_assert_int_eq(pl_nrpc_stream_recv(s, 5000, &d, &n, NULL, NULL), PL_OK);
    char want[32];
    snprintf(want, sizeof want, "%zu", big);
    ck_assert_uint_eq(n, strlen(want));
    ck_assert(memcmp(d, want, n) == 0);
    pl_free(d);
    pl_nrpc_stream_destroy(s);
    pl_free(p);
    pl_nrpc_conn_destroy(c);
    pl_worker_destroy(w);
    teardown_server();
}
END_TEST

/* Callback-mode stream: records messages and the end. */
struct cb_rec {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int n_msgs;
    char last[64];
    int ended;
    int code;
    char msg[256];
};

static void rec_message(void *ud, const uint8_t *data, size_t n) {
    struct cb_rec *r = ud;
    pthread_mutex_lock(&r->lock);
    r->n_msgs++;
    snprintf(r->last, sizeof r->last, "%.*s", (int)(n < 63 ? n : 63), (const char *)data);
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->lock);
}

static void rec_end(void *ud, int code, const char *message) {
    struct cb_rec *r = ud;
    pthread_mutex_lock(&r->lock);
    r->ended++;
    r->code = code;
    snprintf(r->msg, sizeof r->msg, "%s", message);
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->lock);
}

static bool rec_wait_end(struct cb_rec *r, int timeout_ms) {
    int64_t end = pl_time_mono_ms() + timeout_ms;
    pthread_mutex_lock(&r->lock);
    while (!r->ended && pl_time_mono_ms() < end) {
        pthread_mutex_unlock(&r->lock);
        pl_sleep_ms(5);
        pthread_mutex_lock(&r->lock);
    }
    bool e = r->ended;
    pthread_mutex_unlock(&r->lock);
    return e;
}

/* ---- a deferred end (pl_worker_session_defer_end) -------------------------------------------- */

/* The stream "later": on_end defers; a thread of its own sends "late" after the delay the
 * stream's last message named ("300", "3000") and ends it (message "err": with NOT_FOUND). */
struct later {
    int delay_ms;
    bool err;
};
static atomic_int later_cancels;

static pl_status later_open(void *ud, struct pl_worker_session *s, const struct pl_worker_ctx *ctx,
                            void **state) {
    (void)ud;
    (void)s;
    (void)ctx;
    *state = pl_calloc(1, sizeof(struct later));
    return *state ? PL_OK : PL_E_NOMEM;
}

static pl_status later_msg(void *state, struct pl_worker_session *s, const uint8_t *d, size_t n) {
    (void)s;
    struct later *l = state;
    char buf[16];
    snprintf(buf, sizeof buf, "%.*s", (int)(n < 15 ? n : 15), (const char *)d);
    l->err = strcmp(buf, "err") == 0;
    l->delay_ms = l->err ? 200 : atoi(buf);
    return PL_OK;
}

struct later_job {
    struct pl_worker_session *s;
    int delay_ms;
    bool err;
};

static void *later_thread(void *arg) {
    struct later_job *j = arg;
    pl_sleep_ms(j->delay_ms);
    (void)pl_worker_session_send(j->s, "late", 4); /* PL_E_CANCELLED once cancelled */
    if (j->err) pl_worker_session_end(j->s, PL_ERR(PL_E_NOT_FOUND, "x"), "gone late");
    else pl_worker_session_end(j->s, PL_OK, NULL);
    pl_worker_session_release(j->s);
    pl_free(j);
    return NULL;
}

static pl_status later_end(void *state, struct pl_worker_session *s) {
    struct later *l = state;
    struct later_job *j = pl_calloc(1, sizeof *j);
    ck_assert_ptr_nonnull(j);
    *j = (struct later_job){s, l->delay_ms, l->err};
    pl_worker_session_retain(s);
    pl_worker_session_defer_end(s);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, later_thread, j), 0);
    pthread_detach(th);
    return PL_E_INTERNAL; /* ignored: the end is deferred */
}

static void later_cancel(void *state, struct pl_worker_session *s) {
    (void)s;
    pl_free(state);
    atomic_fetch_add(&later_cancels, 1);
}

static const struct pl_worker_stream_i later_iface = {later_open, later_msg, later_end,
                                                      later_cancel};

/* Open "later", send msg, half-close. */
static struct pl_nrpc_stream *later_stream(struct pl_nrpc_conn *c, const char *msg) {
    struct pl_nrpc_stream *s = NULL;
    ck_assert_int_eq(pl_nrpc_stream_open(c, "t13", "later", NULL, NULL, NULL, &s), PL_OK);
    ck_assert_int_eq(pl_nrpc_stream_send(s, msg, strlen(msg)), PL_OK);
    ck_assert_int_eq(pl_nrpc_stream_close_send(s), PL_OK);
    return s;
}

START_TEST(test_stream_deferred_end) {
    setup_server(0);
    struct pl_worker_opts o = PL_WORKER_OPTS_INIT;
    struct pl_worker *w = NULL;
    o.service = "t13";
    o.nats_url = srv.url;
    o.n_threads = 1; /* one handler thread: a deferred end must not hold it */
    o.heartbeat_ms = 200;
    o.stream_timeout_ms = 2000;
    ck_assert(pl_worker_create(&o, &w) == PL_OK);
    ck_assert(pl_worker_add_unary(w, "echo", h_echo, NULL) == PL_OK);
    ck_assert(pl_worker_add_stream(w, "later", &later_iface, NULL) == PL_OK);
    ck_assert_msg(pl_worker_start(w) == PL_OK, "worker start: %s", pl_last_error());
    struct pl_nrpc_conn *c = client(100, 5000);
    atomic_store(&later_cancels, 0);

    /* ended OK by the handler's thread 1.5 s after the half-close; the only handler thread
       serves a unary call meanwhile (at once: well before the end, even on a loaded machine);
       on_cancel runs last, once */
    struct pl_nrpc_stream *s = later_stream(c, "1500");
    pl_sleep_ms(50);
    int64_t t0 = pl_time_mono_ms();
    struct pl_nrpc_reply r;
    memset(&r, 0, sizeof r);
    ck_assert_int_eq(pl_nrpc_call(c, "parley.t13.echo", "hi", 2, NULL, 2000, &r), PL_OK);
    ck_assert_int_lt(pl_time_mono_ms() - t0, 1000);
    pl_nrpc_reply_deinit(&r);
    uint8_t *d;
    size_t n;
    int code = -1;
    ck_assert_int_eq(pl_nrpc_stream_recv(s, 3000, &d, &n, NULL, NULL), PL_OK);
    ck_assert(n == 4 && memcmp(d, "late", 4) == 0);
    pl_free(d);
    ck_assert_int_eq(pl_nrpc_stream_recv(s, 3000, &d, &n, &code, NULL), PL_E_CANCELLED);
    ck_assert_int_eq(code, PL_GRPC_OK);
    pl_nrpc_stream_destroy(s);
    for (int i = 0; i < 200 && atomic_load(&later_cancels) == 0; i++) pl_sleep_ms(10);
    ck_assert_int_eq(atomic_load(&later_cancels), 1);

    /* ended with a status */
    s = later_stream(c, "err");
    const char *msg = NULL;
    ck_assert_int_eq(pl_nrpc_stream_recv(s, 3000, &d, &n, NULL, NULL), PL_OK);
    pl_free(d);
    ck_assert_int_eq(pl_nrpc_stream_recv(s, 3000, &d, &n, &code, &msg), PL_E_CANCELLED);
    ck_assert_int_eq(code, PL_GRPC_NOT_FOUND);
    ck_assert_str_eq(msg, "gone late");
    pl_nrpc_stream_destroy(s);
    for (int i = 0; i < 200 && atomic_load(&later_cancels) == 1; i++) pl_sleep_ms(10);
    ck_assert_int_eq(atomic_load(&later_cancels), 2);

    /* a deferred end longer than the worker's stream_timeout_ms (2 s): the half-closed
       client's heartbeats keep the session, which is not freed as silent */
    s = later_stream(c, "2500");
    ck_assert_int_eq(pl_nrpc_stream_recv(s, 5000, &d, &n, NULL, NULL), PL_OK);
    ck_assert(n == 4 && memcmp(d, "late", 4) == 0);
    pl_free(d);
    ck_assert_int_eq(pl_nrpc_stream_recv(s, 3000, &d, &n, &code, NULL), PL_E_CANCELLED);
    ck_assert_int_eq(code, PL_GRPC_OK);
    pl_nrpc_stream_destroy(s);
    for (int i = 0; i < 200 && atomic_load(&later_cancels) == 2; i++) pl_sleep_ms(10);
    ck_assert_int_eq(atomic_load(&later_cancels), 3);

    /* the client cancels while the end is deferred (3 s): on_cancel at once, and the late
       end changes nothing */
    s = later_stream(c, "3000");
    pl_sleep_ms(100);
    t0 = pl_time_mono_ms();
    pl_nrpc_stream_cancel(s);
    for (int i = 0; i < 400 && atomic_load(&later_cancels) == 3; i++) pl_sleep_ms(5);
    ck_assert_int_eq(atomic_load(&later_cancels), 4);
    ck_assert_int_lt(pl_time_mono_ms() - t0, 2000); /* not the 3 s end */
    pl_nrpc_stream_destroy(s);
    pl_sleep_ms(3200); /* the late end: a no-op on the cancelled session */
    ck_assert_int_eq(atomic_load(&later_cancels), 4);

    pl_nrpc_conn_destroy(c);
    pl_worker_destroy(w);
    teardown_server();
}
END_TEST

/* ---- a stream's place at its end ------------------------------------------------------------ */

/* The stream "gated": echoes each message; on_end ends it at once (deferred, then
 * pl_worker_session_end); on_cancel, which the worker runs before it closes the session, waits
 * for gate_open (at most 10 s), so that the close comes as late as a busy handler thread could
 * make it. */
static atomic_bool gate_open;
static atomic_int gated_cancels;

static pl_status gated_msg(void *state, struct pl_worker_session *s, const uint8_t *d, size_t n) {
    (void)state;
    return pl_worker_session_send(s, d, n);
}

static pl_status gated_end(void *state, struct pl_worker_session *s) {
    (void)state;
    pl_worker_session_defer_end(s);
    pl_worker_session_end(s, PL_OK, NULL);
    return PL_OK;
}

static void gated_cancel(void *state, struct pl_worker_session *s) {
    (void)state;
    (void)s;
    for (int i = 0; i < 2000 && !atomic_load(&gate_open); i++) pl_sleep_ms(5);
    atomic_fetch_add(&gated_cancels, 1);
}

static const struct pl_worker_stream_i gated_iface = {s_open, gated_msg, gated_end, gated_cancel};

/* Open "gated", send msg; the first answer must be msg again. */
static struct pl_nrpc_stream *gated_stream(struct pl_nrpc_conn *c, const char *msg) {
    struct pl_nrpc_stream *s = NULL;
    ck_assert_int_eq(pl_nrpc_stream_open(c, "t14", "gated", NULL, NULL, NULL, &s), PL_OK);
    ck_assert_int_eq(pl_nrpc_stream_send(s, msg, strlen(msg)), PL_OK);
    uint8_t *d = NULL;
    size_t n = 0;
    int code = -1;
    const char *why = NULL;
    pl_status st = pl_nrpc_stream_recv(s, 5000, &d, &n, &code, &why);
    ck_assert_msg(st == PL_OK && n == strlen(msg) && memcmp(d, msg, n) == 0,
                  "stream '%s': got %s, code %d (%s)", msg, pl_status_str(st), code,
                  why ? why : "");
    pl_free(d);
    return s;
}

static int http_get(int port, const char *path, char *body, size_t cap);

/* A client that has read a stream's end may open its next stream at once, and finds the call
 * in the metrics, though the worker closes the session later (on_cancel first, on a handler
 * thread; held here). With max_streams 1 the second open was refused RESOURCE_EXHAUSTED "no
 * room for another stream" while the first session waited for its close. */
START_TEST(test_stream_slot_free_at_end) {
    setup_server(0);
    struct pl_worker_opts o = PL_WORKER_OPTS_INIT;
    struct pl_worker *w = NULL;
    o.service = "t14";
    o.nats_url = srv.url;
    o.n_threads = 2; /* one held in on_cancel, one for the next open */
    o.max_streams = 1;
    o.http_port = 0;
    o.heartbeat_ms = 200;
    o.stream_timeout_ms = 5000;
    ck_assert(pl_worker_create(&o, &w) == PL_OK);
    ck_assert(pl_worker_add_stream(w, "gated", &gated_iface, NULL) == PL_OK);
    ck_assert_msg(pl_worker_start(w) == PL_OK, "worker start: %s", pl_last_error());
    int port = pl_worker_http_port(w);
    struct pl_nrpc_conn *c = client(100, 5000);
    atomic_store(&gate_open, false);
    atomic_store(&gated_cancels, 0);

    struct pl_nrpc_stream *s = gated_stream(c, "first");
    ck_assert_int_eq(pl_nrpc_stream_close_send(s), PL_OK);
    uint8_t *d = NULL;
    size_t n = 0;
    int code = -1;
    ck_assert_int_eq(pl_nrpc_stream_recv(s, 5000, &d, &n, &code, NULL), PL_E_CANCELLED);
    ck_assert_int_eq(code, PL_GRPC_OK);
    pl_nrpc_stream_destroy(s);

    /* the first session's close waits in on_cancel: its end is out, its place is free */
    struct pl_nrpc_stream *s2 = gated_stream(c, "second");
    static char body[65536];
    ck_assert_int_eq(http_get(port, "/metrics", body, sizeof body), 200);
    ck_assert_msg(strstr(body, "parley_request_success_total{model=\"t14\",rpc=\"gated\"} 1\n"),
                  "the ended stream is counted: %s", body);
    ck_assert_msg(strstr(body, "parley_active_streams{model=\"t14\"} 1\n"),
                  "one stream open (the second): %s", body);
    ck_assert_int_eq(atomic_load(&gated_cancels), 0); /* the first close is still held */

    atomic_store(&gate_open, true);
    ck_assert_int_eq(pl_nrpc_stream_close_send(s2), PL_OK);
    ck_assert_int_eq(pl_nrpc_stream_recv(s2, 5000, &d, &n, &code, NULL), PL_E_CANCELLED);
    ck_assert_int_eq(code, PL_GRPC_OK);
    pl_nrpc_stream_destroy(s2);
    for (int i = 0; i < 400 && atomic_load(&gated_cancels) < 2; i++) pl_sleep_ms(5);
    ck_assert_int_eq(atomic_load(&gated_cancels), 2);
    pl_nrpc_conn_destroy(c);
    pl_worker_destroy(w);
    teardown_server();
}
END_TEST

START_TEST(test_stream_happy_path) {
    setup_server(0);
    struct pl_worker *w = worker("t6", 2, 16, -1);
    struct pl_nrpc_conn *c = client(100, 2000);
    struct pl_nrpc_meta m = {"stream-1", pl_time_mono_us() + 10000000, "bob"};
    /* pull mode; messages sent before the open reply are queued and keep their order */
    struct pl_nrpc_stream *s = NULL;
    ck_assert_int_eq(pl_nrpc_stream_open(c, "t6", "twice", &m, NULL, NULL, &s), PL_OK);
    ck_assert_int_eq(pl_nrpc_stream_send(s, "one", 3), PL_OK);
    ck_assert_int_eq(pl_nrpc_stream_send(s, "three", 5), PL_OK);
    static const char *want[] = {"one", "3", "three", "5"};
    for (int i = 0; i < 4; i++) {
        uint8_t *d;
        size_t n;
        ck_assert_int_eq(pl_nrpc_stream_recv(s, 3000, &d, &n, NULL, NULL), PL_OK);
        ck_assert_uint_eq(n, strlen(want[i]));
        ck_assert(memcmp(d, want[i], n) == 0);
        pl_free(d);
    }
    /* idle longer than the heartbeat interval: heartbeats keep it alive */
    uint8_t *d;
    size_t n;
    ck_assert_int_eq(pl_nrpc_stream_recv(s, 500, &d, &n, NULL, NULL), PL_E_TIMEOUT);
    ck_assert(!pl_nrpc_stream_ended(s, NULL, NULL));
    ck_assert_int_eq(pl_nrpc_stream_close_send(s), PL_OK);
    ck_assert_int_eq(pl_nrpc_stream_send(s, "late", 4), PL_E_CANCELLED);
    ck_assert_int_eq(pl_nrpc_stream_recv(s, 3000, &d, &n, NULL, NULL), PL_OK); /* "bye" */
    ck_assert(n == 3 && memcmp(d, "bye", 3) == 0);
    pl_free(d);
    int code = -1;
    ck_assert_int_eq(pl_nrpc_stream_recv(s, 3000, &d, &n, &code, NULL), PL_E_CANCELLED);
    ck_assert_int_eq(code, 0);
    pl_nrpc_stream_destroy(s);
    /* a session retained past its end is still valid memory, and refuses sends */
    struct pl_worker_session *kept = atomic_exchange(&retained, NULL);
    ck_assert_ptr_nonnull(kept);
    ck_assert_int_eq(pl_worker_session_send(kept, "z", 1), PL_E_CANCELLED);
    ck_assert_str_eq(pl_worker_session_ctx(kept)->user, "bob");
    pl_worker_session_release(kept);

    /* callback mode, and an error from on_message ends the stream with its status */
    atomic_store(&cancels, 0);
    struct cb_rec rec = {.n_msgs = 0};
    pthread_mutex_init(&rec.lock, NULL);
    pthread_cond_init(&rec.cond, NULL);
    struct pl_nrpc_stream_cbs cbs = {rec_message, rec_end};
    ck_assert_int_eq(pl_nrpc_stream_open(c, "t6", "twice", &m, &cbs, &rec, &s), PL_OK);
    ck_assert_int_eq(pl_nrpc_stream_send(s, "abc", 3), PL_OK);
    ck_assert_int_eq(pl_nrpc_stream_send(s, "fail", 4), PL_OK);
    ck_assert(rec_wait_end(&rec, 3000));
    ck_assert_int_eq(rec.n_msgs, 2);
    ck_assert_int_eq(rec.code, PL_GRPC_NOT_FOUND);
    ck_assert_str_eq(rec.msg, "no such thing");
    pl_nrpc_stream_destroy(s);
    ck_assert_int_eq(rec.ended, 1);
    /* the failed session is cancelled on the worker too (after its error frame went out) */
    for (int i = 0; i < 300 && atomic_load(&cancels) == 0; i++) pl_sleep_ms(10);
    ck_assert_int_eq(atomic_load(&cancels), 1);

    /* client cancel: the worker runs on_cancel */
    atomic_store(&cancels, 0);
    memset(&rec, 0, sizeof rec);
    pthread_mutex_init(&rec.lock, NULL);
    pthread_cond_init(&rec.cond, NULL);
    ck_assert_int_eq(pl_nrpc_stream_open(c, "t6", "twice", &m, &cbs, &rec, &s), PL_OK);
    ck_assert_int_eq(pl_nrpc_stream_send(s, "x", 1), PL_OK);
    for (int i = 0; i < 200; i++) {
        pthread_mutex_lock(&rec.lock);
        int got = rec.n_msgs;
        pthread_mutex_unlock(&rec.lock);
        if (got >= 2) break;
        pl_sleep_ms(10);
    }
    pl_nrpc_stream_cancel(s);
    ck_assert(rec_wait_end(&rec, 100));
    ck_assert_int_eq(rec.code, PL_GRPC_CANCELLED);
    pl_nrpc_stream_destroy(s);
    for (int i = 0; i < 200 && atomic_load(&cancels) == 0; i++) pl_sleep_ms(10);
    ck_assert_int_eq(atomic_load(&cancels), 1);

    pl_nrpc_conn_destroy(c);
    pl_worker_destroy(w);
    teardown_server();
}
END_TEST

static pid_t spawn_echo(const char *svc, const char *id, const char *extra1, const char *extra2,
                        char *ready_file, size_t cap) {
    snprintf(ready_file, cap, "%s/ready-%s", srv.dir, id);
    unlink(ready_file);
    char *argv[20];
    int k = 0;
    argv[k++] = (char *)PL_ECHO_WORKER_PATH;
    argv[k++] = "--nats";
    argv[k++] = srv.url;
    argv[k++] = "--service";
    argv[k++] = (char *)svc;
    argv[k++] = "--id";
    argv[k++] = (char *)id;
    argv[k++] = "--ready-file";
    argv[k++] = ready_file;
    argv[k++] = "--heartbeat-ms";
    argv[k++] = "200";
    argv[k++] = "--log-level";
    argv[k++] = "error";
    if (extra1) {
        char *sp = strchr(extra1, ' ');
        static char b1[64], b2[64];
        snprintf(b1, sizeof b1, "%.*s", (int)(sp - extra1), extra1);
        snprintf(b2, sizeof b2, "%s", sp + 1);
        argv[k++] = b1;
        argv[k++] = b2;
    }
    if (extra2) {
        char *sp = strchr(extra2, ' ');
        static char b3[64], b4[64];
        snprintf(b3, sizeof b3, "%.*s", (int)(sp - extra2), extra2);
        snprintf(b4, sizeof b4, "%s", sp + 1);
        argv[k++] = b3;
        argv[k++] = b4;
    }
    argv[k] = NULL;
    pid_t pid = pl_test_spawn(argv);
    ck_assert_int_gt(pid, 0);
    for (int i = 0; i < 3000 && access(ready_file, F_OK) != 0; i++) pl_sleep_ms(10);
    ck_assert_msg(access(ready_file, F_OK) == 0, "echo worker did not become ready");
    return pid;
}

START_TEST(test_worker_killed_midstream) {
    setup_server(0);
    char rf[300];
    pid_t pid = spawn_echo("t7", "crashy", "--crash-after 3", NULL, rf, sizeof rf);
    struct pl_nrpc_conn *c = client(200, 1000);
    struct pl_nrpc_stream *s = NULL;
    ck_assert_int_eq(pl_nrpc_stream_open(c, "t7", "echo_stream", NULL, NULL, NULL, &s), PL_OK);
    uint8_t *d;
    size_t n;
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(pl_nrpc_stream_send(s, "ping", 4), PL_OK);
        ck_assert_int_eq(pl_nrpc_stream_recv(s, 3000, &d, &n, NULL, NULL), PL_OK);
        pl_free(d);
    }
    int64_t t0 = pl_time_mono_ms();
    ck_assert_int_eq(pl_nrpc_stream_send(s, "boom", 4), PL_OK); /* the worker exits here */
    int code = -1;
    const char *msg = NULL;
    ck_assert_int_eq(pl_nrpc_stream_recv(s, 5000, &d, &n, &code, &msg), PL_E_CANCELLED);
    int64_t el = pl_time_mono_ms() - t0;
    ck_assert_int_eq(code, PL_GRPC_UNAVAILABLE);
    ck_assert_str_eq(msg, "worker stopped responding");
    ck_assert_int_ge(el, 900);  /* it is the silence timeout that ended it... */
    ck_assert_int_lt(el, 2500); /* ...1000 ms here, plus generous slack for a loaded machine */
    int status = pl_test_kill(pid, SIGKILL);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 3);
    pl_nrpc_stream_destroy(s);
    pl_nrpc_conn_destroy(c);
    teardown_server();
}
END_TEST

/* A fake worker on raw NATS that answers the open with a session and then
 * sends frames 1 and 3: frame 2 was lost, the client ends the stream UNAVAILABLE. */
static void fake_open_cb(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *cl) {
    (void)sub;
    (void)cl;
    const char *inbox = natsMsg_GetReply(msg);
    natsMsg *m = NULL;
    natsMsg_Create(&m, inbox, NULL, NULL, 0);
    natsMsgHeader_Set(m, "Parley-Session", "parley.fake.session.x.1");
    natsConnection_PublishMsg(nc, m);
    natsMsg_Destroy(m);
    const char *seqs[] = {"1", "3"};
    for (int i = 0; i < 2; i++) {
        natsMsg_Create(&m, inbox, NULL, "d", 1);
        natsMsgHeader_Set(m, "Parley-Kind", "data");
        natsMsgHeader_Set(m, "Parley-Seq", seqs[i]);
        natsConnection_PublishMsg(nc, m);
        natsMsg_Destroy(m);
    }
    natsMsg_Destroy(msg);
}

START_TEST(test_sequence_gap) {
    setup_server(0);
    /* worker -> client gap */
    natsConnection *raw = NULL;
    natsSubscription *sub = NULL;
    ck_assert_int_eq(natsConnection_ConnectTo(&raw, srv.url), NATS_OK);
    ck_assert_int_eq(
        natsConnection_Subscribe(&sub, raw, "parley.fake.stream.open", fake_open_cb, NULL),
        NATS_OK);
    natsConnection_Flush(raw);
    struct pl_nrpc_conn *c = client(0, 0);
    struct pl_nrpc_stream *s = NULL;
    ck_assert_int_eq(pl_nrpc_stream_open(c, "fake", "x", NULL, NULL, NULL, &s), PL_OK);
    uint8_t *d;
    size_t n;
    int code = -1;
    const char *msg = NULL;
    ck_assert_int_eq(pl_nrpc_stream_recv(s, 3000, &d, &n, NULL, NULL), PL_OK); /* frame 1 */
    pl_free(d);
    ck_assert_int_eq(pl_nrpc_stream_recv(s, 3000, &d, &n, &code, &msg), PL_E_CANCELLED);
    ck_assert_int_eq(code, PL_GRPC_UNAVAILABLE);
    ck_assert_str_eq(msg, "frame 2 from the worker lost in transit (expected 2, got 3)");
    pl_nrpc_stream_destroy(s);

    /* client -> worker gap: open a real session by hand and skip a number */
    atomic_store(&cancels, 0);
    struct pl_worker *w = worker("t8", 2, 16, -1);
    natsMsg *req = NULL, *rep = NULL;
    natsMsg_Create(&req, "parley.t8.stream.open", NULL, NULL, 0);
    natsMsgHeader_Set(req, "Parley-Rpc", "twice");
    natsSubscription *in = NULL;
    ck_assert_int_eq(natsConnection_SubscribeSync(&in, raw, "fake.inbox.1"), NATS_OK);
    natsMsg_Destroy(req);
    natsMsg_Create(&req, "parley.t8.stream.open", "fake.inbox.1", NULL, 0);
    natsMsgHeader_Set(req, "Parley-Rpc", "twice");
    natsConnection_PublishMsg(raw, req);
    natsMsg_Destroy(req);
    ck_assert_int_eq(natsSubscription_NextMsg(&rep, in, 3000), NATS_OK);
    const char *sess = NULL;
    ck_assert_int_eq(natsMsgHeader_Get(rep, "Parley-Session", &sess), NATS_OK);
    char session[200];
    snprintf(session, sizeof session, "%s", sess);
    natsMsg_Destroy(rep);
    const char *seqs[] = {"1", "3"};
    for (int i = 0; i < 2; i++) {
        natsMsg_Create(&req, session, NULL, "d", 1);
        natsMsgHeader_Set(req, "Parley-Kind", "data");
        natsMsgHeader_Set(req, "Parley-Seq", seqs[i]);
        natsConnection_PublishMsg(raw, req);
        natsMsg_Destroy(req);
    }
    /* the worker answers frame 1 (two messages), then an error frame: frame 2 was lost */
    bool saw_error = false;
    for (int i = 0; i < 10 && !saw_error; i++) {
        if (natsSubscription_NextMsg(&rep, in, 3000) != NATS_OK) break;
        const char *kind = NULL, *st = NULL, *err = NULL;
        natsMsgHeader_Get(rep, "Parley-Kind", &kind);
        if (kind && strcmp(kind, "error") == 0) {
            natsMsgHeader_Get(rep, "Parley-Status", &st);
            natsMsgHeader_Get(rep, "Parley-Error", &err);
            ck_assert_str_eq(st, "14");
            ck_assert_str_eq(err, "frame 2 from the client lost in transit (expected 2, got 3)");
            saw_error = true;
        }
        natsMsg_Destroy(rep);
    }
    ck_assert(saw_error);
    for (int i = 0; i < 100 && atomic_load(&cancels) == 0; i++) pl_sleep_ms(10);
    ck_assert_int_eq(atomic_load(&cancels), 1);

    /* malformed input is answered, never fatal: an open without Parley-Rpc, a unary call
     * with nonsense headers, a frame with a non-numeric sequence number */
    natsMsg_Create(&req, "parley.t8.stream.open", "fake.inbox.1", NULL, 0);
    natsConnection_PublishMsg(raw, req);
    natsMsg_Destroy(req);
    ck_assert_int_eq(natsSubscription_NextMsg(&rep, in, 3000), NATS_OK);
    const char *st = NULL;
    natsMsgHeader_Get(rep, "Parley-Status", &st);
    ck_assert_str_eq(st, "12");
    natsMsg_Destroy(rep);
    natsMsg_Create(&req, "parley.t8.echo", "fake.inbox.1", "hi", 2);
    natsMsgHeader_Set(req, "Parley-Deadline-Ms", "soon");
    natsMsgHeader_Set(req, "Parley-Request-Id", "bad id with spaces");
    natsMsgHeader_Set(req, "Parley-User", "\x01\x02");
    natsConnection_PublishMsg(raw, req);
    natsMsg_Destroy(req);
    ck_assert_int_eq(natsSubscription_NextMsg(&rep, in, 3000), NATS_OK);
    ck_assert_int_eq(natsMsg_GetDataLength(rep), 2);
    natsMsg_Destroy(rep);
    natsMsg_Create(&req, "parley.t8.stream.open", "fake.inbox.1", NULL, 0);
    natsMsgHeader_Set(req, "Parley-Rpc", "twice");
    natsConnection_PublishMsg(raw, req);
    natsMsg_Destroy(req);
    ck_assert_int_eq(natsSubscription_NextMsg(&rep, in, 3000), NATS_OK);
    ck_assert_int_eq(natsMsgHeader_Get(rep, "Parley-Session", &sess), NATS_OK);
    snprintf(session, sizeof session, "%s", sess);
    natsMsg_Destroy(rep);
    natsMsg_Create(&req, session, NULL, "d", 1);
    natsMsgHeader_Set(req, "Parley-Kind", "data");
    natsMsgHeader_Set(req, "Parley-Seq", "abc");
    natsConnection_PublishMsg(raw, req);
    natsMsg_Destroy(req);
    saw_error = false;
    for (int i = 0; i < 10 && !saw_error; i++) {
        if (natsSubscription_NextMsg(&rep, in, 3000) != NATS_OK) break;
        const char *kind = NULL;
        natsMsgHeader_Get(rep, "Parley-Kind", &kind);
        if (kind && strcmp(kind, "error") == 0) {
            natsMsgHeader_Get(rep, "Parley-Status", &st);
            ck_assert_str_eq(st, "15");
            saw_error = true;
        }
        natsMsg_Destroy(rep);
    }
    ck_assert(saw_error);

    natsSubscription_Destroy(in);
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(raw);
    pl_nrpc_conn_destroy(c);
    pl_worker_destroy(w);
    teardown_server();
}
END_TEST

/* Publish one crafted frame on raw NATS: kind, and Parley-Seq unless seq is NULL. */
static void raw_frame(natsConnection *nc, const char *subj, const char *kind, const char *seq,
                      const char *data) {
    natsMsg *m = NULL;
    ck_assert_int_eq(natsMsg_Create(&m, subj, NULL, data, data ? (int)strlen(data) : 0), NATS_OK);
    natsMsgHeader_Set(m, "Parley-Kind", kind);
    if (seq) natsMsgHeader_Set(m, "Parley-Seq", seq);
    ck_assert_int_eq(natsConnection_PublishMsg(nc, m), NATS_OK);
    natsMsg_Destroy(m);
}

/* The next message on sub whose Parley-Kind is kind (others skipped), or NULL after 3 s. */
static natsMsg *next_of_kind(natsSubscription *sub, const char *kind) {
    natsMsg *m = NULL;
    int64_t t0 = pl_time_mono_ms();
    while (pl_time_mono_ms() - t0 < 3000 && natsSubscription_NextMsg(&m, sub, 3000) == NATS_OK) {
        const char *k = NULL;
        natsMsgHeader_Get(m, "Parley-Kind", &k);
        if (k && strcmp(k, kind) == 0) return m;
        natsMsg_Destroy(m);
        m = NULL;
    }
    return NULL;
}

/* A fake worker for test_heartbeat_seq: sends data frame 1, then for rpc "lost" a heartbeat
 * saying 2 frames were sent (frame 2 "lost in the network"), for rpc "ok" a heartbeat saying 1
 * and one without a number (a worker from before the field): neither ends the stream. */
static void hb_open_cb(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *cl) {
    (void)sub;
    (void)cl;
    const char *inbox = natsMsg_GetReply(msg), *rpc = NULL;
    natsMsgHeader_Get(msg, "Parley-Rpc", &rpc);
    bool lost = rpc && strcmp(rpc, "lost") == 0;
    natsMsg *m = NULL;
    natsMsg_Create(&m, inbox, NULL, NULL, 0);
    natsMsgHeader_Set(m, "Parley-Session", lost ? "parley.fakehb.session.x.2"
                                                : "parley.fakehb.session.x.1");
    natsConnection_PublishMsg(nc, m);
    natsMsg_Destroy(m);
    raw_frame(nc, inbox, "data", "1", "d");
    raw_frame(nc, inbox, "hb", lost ? "2" : "1", NULL);
    if (!lost) raw_frame(nc, inbox, "hb", NULL, NULL);
    natsMsg_Destroy(msg);
}

/* Heartbeats carry the sender's last sequence number (Parley-Seq), so that a stream whose last
 * frame was lost on the way (the half-close, a final result: no later frame shows the gap)
 * ends at the next heartbeat, UNAVAILABLE naming the frames, instead of at its deadline. The
 * loss is made by a raw NATS peer that leaves a frame out; the other side is the real client or
 * worker. */
START_TEST(test_heartbeat_seq) {
    setup_server(0);
    natsConnection *raw = NULL;
    natsSubscription *open_sub = NULL, *sess1 = NULL, *sess2 = NULL, *in = NULL;
    ck_assert_int_eq(natsConnection_ConnectTo(&raw, srv.url), NATS_OK);
    ck_assert_int_eq(
        natsConnection_Subscribe(&open_sub, raw, "parley.fakehb.stream.open", hb_open_cb, NULL),
        NATS_OK);
    ck_assert_int_eq(natsConnection_SubscribeSync(&sess1, raw, "parley.fakehb.session.x.1"),
                     NATS_OK);
    ck_assert_int_eq(natsConnection_SubscribeSync(&sess2, raw, "parley.fakehb.session.x.2"),
                     NATS_OK);
    natsConnection_Flush(raw);
    struct pl_nrpc_conn *c = client(100, 5000);
    uint8_t *d;
    size_t n;
    int code = -1;
    const char *msg = NULL;

    /* worker -> client, nothing lost: heartbeats with Seq 1 and without Seq change nothing */
    struct pl_nrpc_stream *s = NULL;
    ck_assert_int_eq(pl_nrpc_stream_open(c, "fakehb", "ok", NULL, NULL, NULL, &s), PL_OK);
    ck_assert_int_eq(pl_nrpc_stream_recv(s, 3000, &d, &n, NULL, NULL), PL_OK);
    pl_free(d);
    ck_assert_int_eq(pl_nrpc_stream_recv(s, 300, &d, &n, NULL, NULL), PL_E_TIMEOUT);
    ck_assert(!pl_nrpc_stream_ended(s, NULL, NULL));
    /* the client's own heartbeats name its last frame: two messages and the half-close = 3 */
    ck_assert_int_eq(pl_nrpc_stream_send(s, "a", 1), PL_OK);
    ck_assert_int_eq(pl_nrpc_stream_send(s, "b", 1), PL_OK);
    ck_assert_int_eq(pl_nrpc_stream_close_send(s), PL_OK);
    natsMsg *hb = next_of_kind(sess1, "end"); /* heartbeats before it said less */
    ck_assert_ptr_nonnull(hb);
    natsMsg_Destroy(hb);
    hb = next_of_kind(sess1, "hb");
    ck_assert_ptr_nonnull(hb);
    const char *hseq = NULL;
    ck_assert_int_eq(natsMsgHeader_Get(hb, "Parley-Seq", &hseq), NATS_OK);
    ck_assert_str_eq(hseq, "3");
    natsMsg_Destroy(hb);
    pl_nrpc_stream_destroy(s);

    /* worker -> client, frame 2 lost: the heartbeat ends the stream at once, not the silence
     * timeout (5 s here) nor the deadline; the client tells the worker it gave up */
    int64_t t0 = pl_time_mono_ms();
    ck_assert_int_eq(pl_nrpc_stream_open(c, "fakehb", "lost", NULL, NULL, NULL, &s), PL_OK);
    ck_assert_int_eq(pl_nrpc_stream_recv(s, 3000, &d, &n, NULL, NULL), PL_OK);
    pl_free(d);
    ck_assert_int_eq(pl_nrpc_stream_recv(s, 3000, &d, &n, &code, &msg), PL_E_CANCELLED);
    ck_assert_int_lt(pl_time_mono_ms() - t0, 2500); /* not the 5 s silence timeout */
    ck_assert_int_eq(code, PL_GRPC_UNAVAILABLE);
    ck_assert_str_eq(msg, "frame 2 from the worker lost in transit "
                          "(its heartbeat says 2 sent, 1 received)");
    natsMsg *cancel = next_of_kind(sess2, "cancel");
    ck_assert_ptr_nonnull(cancel);
    natsMsg_Destroy(cancel);
    pl_nrpc_stream_destroy(s);

    /* client -> worker against the real worker: a raw client opens a session and sends frame 1 */
    atomic_store(&cancels, 0);
    struct pl_worker *w = worker("t8h", 2, 16, -1);
    natsMsg *req = NULL, *rep = NULL;
    ck_assert_int_eq(natsConnection_SubscribeSync(&in, raw, "hb.inbox.1"), NATS_OK);
    natsMsg_Create(&req, "parley.t8h.stream.open", "hb.inbox.1", NULL, 0);
    natsMsgHeader_Set(req, "Parley-Rpc", "twice");
    natsConnection_PublishMsg(raw, req);
    natsMsg_Destroy(req);
    ck_assert_int_eq(natsSubscription_NextMsg(&rep, in, 3000), NATS_OK);
    const char *sess = NULL;
    ck_assert_int_eq(natsMsgHeader_Get(rep, "Parley-Session", &sess), NATS_OK);
    char session[200];
    snprintf(session, sizeof session, "%s", sess);
    natsMsg_Destroy(rep);
    raw_frame(raw, session, "data", "1", "d");
    raw_frame(raw, session, "hb", "1", NULL); /* all there: nothing happens */
    raw_frame(raw, session, "hb", NULL, NULL);
    /* the worker's heartbeat (every 200 ms) names its last frame: "d" and "1" = 2 */
    for (int i = 0; i < 2; i++) {
        natsMsg *data = next_of_kind(in, "data");
        ck_assert_ptr_nonnull(data);
        natsMsg_Destroy(data);
    }
    hb = next_of_kind(in, "hb");
    ck_assert_ptr_nonnull(hb);
    hseq = NULL;
    ck_assert_int_eq(natsMsgHeader_Get(hb, "Parley-Seq", &hseq), NATS_OK);
    ck_assert_str_eq(hseq, "2");
    natsMsg_Destroy(hb);
    /* ...and is followed by the last ack again (a lost one would leave a client stopped at its
     * flow-control window waiting): client frame 1, 1 byte */
    ck_assert_int_eq(natsSubscription_NextMsg(&rep, in, 3000), NATS_OK);
    const char *kind = NULL;
    natsMsgHeader_Get(rep, "Parley-Kind", &kind);
    ck_assert_str_eq(kind, "ack");
    hseq = NULL;
    natsMsgHeader_Get(rep, "Parley-Seq", &hseq);
    ck_assert_str_eq(hseq, "1");
    ck_assert_int_eq(natsMsg_GetDataLength(rep), 1);
    ck_assert_int_eq(natsMsg_GetData(rep)[0], '1');
    natsMsg_Destroy(rep);
    ck_assert_int_eq(atomic_load(&cancels), 0);
    /* the half-close (frame 2) is lost: the client's next heartbeat says 2 */
    raw_frame(raw, session, "hb", "2", NULL);
    natsMsg *err = next_of_kind(in, "error");
    ck_assert_ptr_nonnull(err);
    const char *st = NULL, *emsg = NULL;
    natsMsgHeader_Get(err, "Parley-Status", &st);
    natsMsgHeader_Get(err, "Parley-Error", &emsg);
    ck_assert_str_eq(st, "14");
    ck_assert_str_eq(emsg, "frame 2 from the client lost in transit "
                          "(its heartbeat says 2 sent, 1 received)");
    natsMsg_Destroy(err);
    for (int i = 0; i < 100 && atomic_load(&cancels) == 0; i++) pl_sleep_ms(10);
    ck_assert_int_eq(atomic_load(&cancels), 1); /* the handler learns of it (on_cancel) */

    natsSubscription_Destroy(in);
    natsSubscription_Destroy(sess2);
    natsSubscription_Destroy(sess1);
    natsSubscription_Destroy(open_sub);
    natsConnection_Destroy(raw);
    pl_nrpc_conn_destroy(c);
    pl_worker_destroy(w);
    teardown_server();
}
END_TEST

/* Log lines at INFO and above, kept for test_worker_log_redacts_url. */
static char log_seen[8192];
static void capture_log(enum pl_log_level level, const char *src, const char *msg, void *ud) {
    (void)src;
    (void)ud;
    size_t len = strlen(log_seen);
    if (level <= PL_LOG_INFO && len + strlen(msg) + 2 < sizeof log_seen)
        snprintf(log_seen + len, sizeof log_seen - len, "%s\n", msg);
}

/* The worker's start-up line names the NATS URLs without their credentials. */
START_TEST(test_worker_log_redacts_url) {
    setup_server(0);
    char url[160];
    snprintf(url, sizeof url, "nats://alice:s3cret@127.0.0.1:%d,nats://bob:hunter2@127.0.0.1:%d",
             srv.port, srv.port);
    struct pl_worker_opts o = PL_WORKER_OPTS_INIT;
    struct pl_worker *w = NULL;
    o.service = "t8r";
    o.nats_url = url;
    o.http_port = -1;
    log_seen[0] = 0;
    pl_log_set(capture_log, NULL);
    pl_log_set_level(PL_LOG_INFO);
    ck_assert(pl_worker_create(&o, &w) == PL_OK);
    ck_assert(pl_worker_add_unary(w, "echo", h_echo, NULL) == PL_OK);
    pl_status st = pl_worker_start(w);
    pl_log_set(quiet_log, NULL);
    ck_assert_msg(st == PL_OK, "worker start: %s", pl_last_error());
    char want[200];
    snprintf(want, sizeof want,
             "worker t8r serving on NATS nats://***@127.0.0.1:%d,nats://***@127.0.0.1:%d", srv.port,
             srv.port);
    ck_assert_msg(strstr(log_seen, want), "log: %s", log_seen);
    ck_assert_msg(!strstr(log_seen, "s3cret") && !strstr(log_seen, "hunter2"), "log: %s",
                  log_seen);
    pl_worker_destroy(w);
    teardown_server();
}
END_TEST

START_TEST(test_queue_full) {
    setup_server(0);
    atomic_store(&handler_runs, 0);
    /* The handler holds its run until the refusals are in, however slowly the burst is
     * delivered (a fixed sleep could end first on a starved machine and free the queue). */
    atomic_store(&sleep_gate, 1);
    struct pl_worker *w = worker("t9", 1, 2, -1); /* one thread, two queued at most */
    struct pl_nrpc_conn *c = client(0, 0);
    struct waiter wt;
    waiter_init(&wt);
    for (int i = 0; i < 8; i++)
        ck_assert_int_eq(
            pl_nrpc_call_async(c, "parley.t9.sleep", "", 0, NULL, 5000, waiter_done, &wt), PL_OK);
    waiter_wait(&wt, 5); /* at least 5 are refused while the thread and the queue are held */
    atomic_store(&sleep_gate, 0);
    waiter_wait(&wt, 8);
    int ok = 0, full = 0;
    for (int i = 0; i < 8; i++) {
        if (wt.codes[i] == 0) ok++;
        if (wt.codes[i] == PL_GRPC_RESOURCE_EXHAUSTED) full++;
    }
    ck_assert_int_eq(ok + full, 8);
    /* 2 queued, plus 1 if the thread took the first before the burst filled the queue */
    ck_assert_int_ge(ok, 2);
    ck_assert_int_le(ok, 3);
    ck_assert_int_ge(full, 5);
    ck_assert_int_eq(atomic_load(&handler_runs), ok);
    waiter_deinit(&wt);
    pl_nrpc_conn_destroy(c);
    pl_worker_destroy(w);
    teardown_server();
}
END_TEST

START_TEST(test_queue_group_shares_load) {
    setup_server(0);
    char rf1[300], rf2[300];
    pid_t a = spawn_echo("t10", "alpha", NULL, NULL, rf1, sizeof rf1);
    pid_t b = spawn_echo("t10", "beta", NULL, NULL, rf2, sizeof rf2);
    struct pl_nrpc_conn *c = client(0, 0);
    int na = 0, nb = 0;
    for (int i = 0; i < 60; i++) {
        struct pl_nrpc_reply r;
        ck_assert_int_eq(pl_nrpc_call(c, "parley.t10.whoami", NULL, 0, NULL, 2000, &r), PL_OK);
        ck_assert_int_eq(r.code, 0);
        if (r.len == 5 && memcmp(r.data, "alpha", 5) == 0) na++;
        if (r.len == 4 && memcmp(r.data, "beta", 4) == 0) nb++;
        pl_nrpc_reply_deinit(&r);
    }
    ck_assert_int_eq(na + nb, 60);
    ck_assert_int_ge(na, 10);
    ck_assert_int_ge(nb, 10);
    pl_nrpc_conn_destroy(c);
    ck_assert_int_eq(pl_test_kill(a, SIGTERM), 0);
    ck_assert_int_eq(pl_test_kill(b, SIGTERM), 0);
    teardown_server();
}
END_TEST

START_TEST(test_drain_on_sigterm) {
    setup_server(0);
    char rf[300];
    pid_t pid = spawn_echo("t11", "drainer", NULL, NULL, rf, sizeof rf);
    struct pl_nrpc_conn *c = client(0, 0);
    struct waiter wt;
    waiter_init(&wt);
    ck_assert_int_eq(
        pl_nrpc_call_async(c, "parley.t11.sleep", "600", 3, NULL, 5000, waiter_done, &wt), PL_OK);
    pl_sleep_ms(150); /* the call is running in the worker */
    int64_t t0 = pl_time_mono_ms();
    kill(pid, SIGTERM);
    waiter_wait(&wt, 1);
    ck_assert_int_eq(wt.codes[0], 0); /* in-flight work finished */
    ck_assert(wt.lens[0] == 5 && memcmp(wt.data[0], "slept", 5) == 0);
    int status = 0;
    for (int i = 0; i < 300 && waitpid(pid, &status, WNOHANG) == 0; i++) pl_sleep_ms(10);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ck_assert_int_lt(pl_time_mono_ms() - t0, 2500);
    /* no worker any more: UNAVAILABLE at once */
    struct pl_nrpc_reply r;
    ck_assert_int_eq(pl_nrpc_call(c, "parley.t11.echo", "x", 1, NULL, 2000, &r), PL_OK);
    ck_assert_int_eq(r.code, PL_GRPC_UNAVAILABLE);
    pl_nrpc_reply_deinit(&r);
    waiter_deinit(&wt);

    /* a stream open at SIGTERM goes on until the client ends it, then the worker exits */
    pid = spawn_echo("t11", "drainer2", NULL, NULL, rf, sizeof rf);
    struct pl_nrpc_stream *s = NULL;
    ck_assert_int_eq(pl_nrpc_stream_open(c, "t11", "echo_stream", NULL, NULL, NULL, &s), PL_OK);
    uint8_t *d;
    size_t n;
    ck_assert_int_eq(pl_nrpc_stream_send(s, "one", 3), PL_OK);
    ck_assert_int_eq(pl_nrpc_stream_recv(s, 3000, &d, &n, NULL, NULL), PL_OK);
    pl_free(d);
    kill(pid, SIGTERM);
    pl_sleep_ms(300);
    ck_assert_int_eq(waitpid(pid, &status, WNOHANG), 0); /* still draining */
    ck_assert_int_eq(pl_nrpc_stream_send(s, "two", 3), PL_OK);
    ck_assert_int_eq(pl_nrpc_stream_recv(s, 3000, &d, &n, NULL, NULL), PL_OK);
    ck_assert(n == 3 && memcmp(d, "two", 3) == 0);
    pl_free(d);
    /* new streams are not taken meanwhile */
    struct pl_nrpc_stream *s2 = NULL;
    int code = -1;
    ck_assert_int_eq(pl_nrpc_stream_open(c, "t11", "echo_stream", NULL, NULL, NULL, &s2), PL_OK);
    ck_assert_int_eq(pl_nrpc_stream_recv(s2, 3000, &d, &n, &code, NULL), PL_E_CANCELLED);
    ck_assert_int_eq(code, PL_GRPC_UNAVAILABLE);
    pl_nrpc_stream_destroy(s2);
    ck_assert_int_eq(pl_nrpc_stream_close_send(s), PL_OK);
    ck_assert_int_eq(pl_nrpc_stream_recv(s, 3000, &d, &n, &code, NULL), PL_E_CANCELLED);
    ck_assert_int_eq(code, 0);
    pl_nrpc_stream_destroy(s);
    status = -1;
    for (int i = 0; i < 300 && waitpid(pid, &status, WNOHANG) == 0; i++) pl_sleep_ms(10);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    /* with nats-server gone, a stop does not wait for a drain that cannot complete */
    pid = spawn_echo("t11", "orphan", NULL, NULL, rf, sizeof rf);
    pl_test_kill(srv.pid, SIGTERM);
    srv.pid = -1;
    pl_sleep_ms(100);
    t0 = pl_time_mono_ms();
    status = pl_test_kill(pid, SIGTERM);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ck_assert_int_lt(pl_time_mono_ms() - t0, 1500);
    pl_nrpc_conn_destroy(c);
    teardown_server();
}
END_TEST

static int http_get(int port, const char *path, char *body, size_t cap) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    char req[256];
    int k = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", path);
    ck_assert_int_eq(write(fd, req, (size_t)k), k);
    size_t len = 0;
    ssize_t r;
    while (len + 1 < cap && (r = read(fd, body + len, cap - 1 - len)) > 0) len += (size_t)r;
    body[len] = 0;
    close(fd);
    int code = 0;
    sscanf(body, "HTTP/1.1 %d", &code);
    return code;
}

START_TEST(test_metrics_endpoint) {
    setup_server(0);
    struct pl_worker *w = worker("t12", 2, 16, 0);
    int port = pl_worker_http_port(w);
    ck_assert_int_gt(port, 0);
    static char body[65536];
    ck_assert_int_eq(http_get(port, "/healthz", body, sizeof body), 200);
    ck_assert_int_eq(http_get(port, "/readyz", body, sizeof body), 503); /* not ready yet */
    pl_worker_set_ready(w, true);
    ck_assert_int_eq(http_get(port, "/readyz", body, sizeof body), 200);
    ck_assert_int_eq(http_get(port, "/nope", body, sizeof body), 404);

    struct pl_nrpc_conn *c = client(0, 0);
    struct pl_nrpc_reply r;
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(pl_nrpc_call(c, "parley.t12.echo", "x", 1, NULL, 2000, &r), PL_OK);
        pl_nrpc_reply_deinit(&r);
    }
    ck_assert_int_eq(pl_nrpc_call(c, "parley.t12.fail", "10", 2, NULL, 2000, &r), PL_OK);
    pl_nrpc_reply_deinit(&r);
    struct pl_nrpc_stream *s = NULL;
    ck_assert_int_eq(pl_nrpc_stream_open(c, "t12", "twice", NULL, NULL, NULL, &s), PL_OK);
    ck_assert_int_eq(pl_nrpc_stream_send(s, "a", 1), PL_OK);
    uint8_t *d;
    size_t n;
    ck_assert_int_eq(pl_nrpc_stream_recv(s, 2000, &d, &n, NULL, NULL), PL_OK);
    pl_free(d);

    ck_assert_int_eq(http_get(port, "/metrics", body, sizeof body), 200);
    ck_assert_ptr_nonnull(strcasestr(body, "Content-Type: text/plain; version=0.0.4"));
    ck_assert_ptr_nonnull(
        strstr(body, "parley_request_success_total{model=\"t12\",rpc=\"echo\"} 2\n"));
    ck_assert_ptr_nonnull(
        strstr(body, "parley_request_failure_total{model=\"t12\",rpc=\"fail\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(body, "parley_active_streams{model=\"t12\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(body, "parley_model_ready{model=\"t12\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(body, "# TYPE parley_request_duration_us histogram\n"));
    ck_assert_ptr_nonnull(strstr(body, "parley_request_duration_us_count{model=\"t12\"} 3\n"));
    ck_assert_ptr_nonnull(strstr(body, "parley_memory_bytes "));
    pl_nrpc_stream_destroy(s);
    pl_nrpc_conn_destroy(c);
    pl_worker_destroy(w);
    teardown_server();
}
END_TEST

START_TEST(test_reconnect) {
    setup_server(0);
    struct pl_worker *w = worker("t14", 2, 16, 0);
    pl_worker_set_ready(w, true);
    struct pl_nrpc_conn *c = client(0, 0);
    struct pl_nrpc_reply r;
    ck_assert_int_eq(pl_nrpc_call(c, "parley.t14.echo", "a", 1, NULL, 2000, &r), PL_OK);
    ck_assert_int_eq(r.code, 0);
    pl_nrpc_reply_deinit(&r);
    ck_assert_int_eq(pl_nrpc_conn_max_payload(c), 1024 * 1024);
    /* the server goes away: a stream in flight ends UNAVAILABLE at once (not after the
     * stream timeout), and new calls answer UNAVAILABLE at once (not at their deadline) */
    struct pl_nrpc_stream *s = NULL;
    ck_assert_int_eq(pl_nrpc_stream_open(c, "t14", "twice", NULL, NULL, NULL, &s), PL_OK);
    ck_assert_int_eq(pl_nrpc_stream_send(s, "x", 1), PL_OK);
    uint8_t *d;
    size_t n;
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(pl_nrpc_stream_recv(s, 3000, &d, &n, NULL, NULL), PL_OK);
        pl_free(d);
    }
    pl_test_kill(srv.pid, SIGTERM);
    srv.pid = -1;
    int64_t t0 = pl_time_mono_ms();
    int code = -1;
    const char *msg = NULL;
    ck_assert_int_eq(pl_nrpc_stream_recv(s, 4000, &d, &n, &code, &msg), PL_E_CANCELLED);
    ck_assert_int_eq(code, PL_GRPC_UNAVAILABLE);
    ck_assert_str_eq(msg, "connection to NATS lost");
    ck_assert_int_lt(pl_time_mono_ms() - t0, 3000); /* not the 4 s wait */
    pl_nrpc_stream_destroy(s);
    t0 = pl_time_mono_ms();
    ck_assert_int_eq(pl_nrpc_call(c, "parley.t14.echo", "a", 1, NULL, 3000, &r), PL_OK);
    ck_assert_int_eq(r.code, PL_GRPC_UNAVAILABLE);
    ck_assert_int_lt(pl_time_mono_ms() - t0, 2000); /* not the 3 s timeout */
    pl_nrpc_reply_deinit(&r);
    ck_assert_int_eq(pl_test_nats_restart(&srv), PL_OK);
    /* both sides reconnect with backoff and resubscribe; /readyz follows the connection */
    bool ok = false;
    for (int i = 0; i < 100 && !ok; i++) {
        ck_assert_int_eq(pl_nrpc_call(c, "parley.t14.echo", "b", 1, NULL, 500, &r), PL_OK);
        ok = r.code == 0 && r.len == 1 && r.data[0] == 'b';
        pl_nrpc_reply_deinit(&r);
        if (!ok) pl_sleep_ms(50);
    }
    ck_assert(ok);
    ck_assert(pl_nrpc_conn_connected(c));
    static char body[8192];
    ck_assert_int_eq(http_get(pl_worker_http_port(w), "/readyz", body, sizeof body), 200);
    pl_nrpc_conn_destroy(c);

    /* no server at all: a plain connect fails UNAVAILABLE; with retry_on_failed_connect the
     * connection comes up once the server does */
    pl_test_kill(srv.pid, SIGTERM);
    srv.pid = -1;
    struct pl_nrpc_conn_opts o = PL_NRPC_CONN_OPTS_INIT;
    o.url = srv.url;
    o.connect_timeout_ms = 200;
    ck_assert_int_eq(pl_nrpc_conn_create(&o, &c), PL_E_UNAVAILABLE);
    ck_assert_ptr_null(c);
    o.retry_on_failed_connect = true;
    ck_assert_int_eq(pl_nrpc_conn_create(&o, &c), PL_OK);
    ck_assert(!pl_nrpc_conn_connected(c));
    /* a worker may also start before the server */
    struct pl_worker_opts wo = PL_WORKER_OPTS_INIT;
    struct pl_worker *w2 = NULL;
    wo.service = "t14b";
    wo.nats_url = srv.url;
    wo.http_port = 0;
    ck_assert_int_eq(pl_worker_create(&wo, &w2), PL_OK);
    ck_assert_int_eq(pl_worker_add_unary(w2, "echo", h_echo, NULL), PL_OK);
    ck_assert_int_eq(pl_worker_start(w2), PL_E_UNAVAILABLE);
    pl_worker_destroy(w2);
    wo.connect_retry = true;
    ck_assert_int_eq(pl_worker_create(&wo, &w2), PL_OK);
    ck_assert_int_eq(pl_worker_add_unary(w2, "echo", h_echo, NULL), PL_OK);
    ck_assert_int_eq(pl_worker_start(w2), PL_OK);
    pl_worker_set_ready(w2, true);
    ck_assert_int_eq(http_get(pl_worker_http_port(w2), "/readyz", body, sizeof body), 503);
    ck_assert_int_eq(pl_test_nats_restart(&srv), PL_OK);
    ok = false;
    for (int i = 0; i < 100 && !ok; i++) {
        ck_assert_int_eq(pl_nrpc_call(c, "parley.t14.echo", "c", 1, NULL, 500, &r), PL_OK);
        ok = r.code == 0 && r.len == 1 && r.data[0] == 'c';
        pl_nrpc_reply_deinit(&r);
        if (!ok) pl_sleep_ms(50);
    }
    ck_assert(ok);
    ok = false;
    for (int i = 0; i < 100 && !ok; i++) {
        ck_assert_int_eq(pl_nrpc_call(c, "parley.t14b.echo", "d", 1, NULL, 500, &r), PL_OK);
        ok = r.code == 0 && r.len == 1 && r.data[0] == 'd';
        pl_nrpc_reply_deinit(&r);
        if (!ok) pl_sleep_ms(50);
    }
    ck_assert(ok);
    ck_assert_int_eq(http_get(pl_worker_http_port(w2), "/readyz", body, sizeof body), 200);
    pl_worker_destroy(w2);
    pl_nrpc_conn_destroy(c);
    pl_worker_destroy(w);
    teardown_server();
}
END_TEST

static pthread_t done_thread;
static void thread_done(void *ud, struct pl_nrpc_reply *r) {
    done_thread = pthread_self();
    waiter_done(ud, r);
}

START_TEST(test_failures_reported_from_internal_threads) {
    setup_server(0);
    struct pl_worker *w = worker("t16", 2, 16, -1);
    struct pl_nrpc_conn *c = client(0, 0);
    /* a stream past its deadline ends DEADLINE_EXCEEDED and tells the worker */
    atomic_store(&cancels, 0);
    struct pl_nrpc_meta m = {NULL, pl_time_mono_us() + 300000, NULL};
    struct pl_nrpc_stream *s = NULL;
    ck_assert_int_eq(pl_nrpc_stream_open(c, "t16", "twice", &m, NULL, NULL, &s), PL_OK);
    uint8_t *d;
    size_t n;
    int code = -1;
    ck_assert_int_eq(pl_nrpc_stream_recv(s, 3000, &d, &n, &code, NULL), PL_E_CANCELLED);
    ck_assert_int_eq(code, PL_GRPC_DEADLINE_EXCEEDED);
    pl_nrpc_stream_destroy(s);
    for (int i = 0; i < 300 && atomic_load(&cancels) == 0; i++) pl_sleep_ms(10);
    ck_assert_int_eq(atomic_load(&cancels), 1);

    /* the connection is closed under the client: calls and opens fail UNAVAILABLE, and
     * the callbacks run on an internal thread, never inside the call that started them */
    natsConnection_Close((natsConnection *)pl_nrpc_conn_nats(c));
    ck_assert(!pl_nrpc_conn_connected(c));
    struct waiter wt;
    waiter_init(&wt);
    ck_assert_int_eq(pl_nrpc_call_async(c, "parley.t16.echo", "x", 1, NULL, 2000, thread_done, &wt),
                     PL_OK);
    waiter_wait(&wt, 1);
    ck_assert_int_eq(wt.codes[0], PL_GRPC_UNAVAILABLE);
    ck_assert(!pthread_equal(done_thread, pthread_self()));
    waiter_deinit(&wt);
    struct cb_rec rec;
    memset(&rec, 0, sizeof rec);
    pthread_mutex_init(&rec.lock, NULL);
    pthread_cond_init(&rec.cond, NULL);
    struct pl_nrpc_stream_cbs cbs = {rec_message, rec_end};
    ck_assert_int_eq(pl_nrpc_stream_open(c, "t16", "twice", NULL, &cbs, &rec, &s), PL_OK);
    ck_assert(rec_wait_end(&rec, 2000));
    ck_assert_int_eq(rec.code, PL_GRPC_UNAVAILABLE);
    pl_nrpc_stream_destroy(s);
    pl_nrpc_conn_destroy(c);
    pl_worker_destroy(w);
    teardown_server();
}
END_TEST

START_TEST(test_worker_frees_silent_session) {
    setup_server(0);
    atomic_store(&cancels, 0);
    struct pl_worker *w = worker("t17", 2, 16, 0);
    natsConnection *raw = NULL;
    natsSubscription *in = NULL;
    natsMsg *req = NULL, *rep = NULL;
    ck_assert_int_eq(natsConnection_ConnectTo(&raw, srv.url), NATS_OK);
    ck_assert_int_eq(natsConnection_SubscribeSync(&in, raw, "quiet.inbox"), NATS_OK);
    natsMsg_Create(&req, "parley.t17.stream.open", "quiet.inbox", NULL, 0);
    natsMsgHeader_Set(req, "Parley-Rpc", "twice");
    natsConnection_PublishMsg(raw, req);
    natsMsg_Destroy(req);
    ck_assert_int_eq(natsSubscription_NextMsg(&rep, in, 3000), NATS_OK);
    natsMsg_Destroy(rep);
    /* the worker sends heartbeats (every 200 ms here) while the client says nothing */
    int hbs = 0;
    int64_t t0 = pl_time_mono_ms();
    while (pl_time_mono_ms() - t0 < 700 && natsSubscription_NextMsg(&rep, in, 700) == NATS_OK) {
        const char *kind = NULL;
        natsMsgHeader_Get(rep, "Parley-Kind", &kind);
        if (kind && strcmp(kind, "hb") == 0) hbs++;
        natsMsg_Destroy(rep);
    }
    ck_assert_int_ge(hbs, 2);
    /* ...and frees the session after stream_timeout_ms (1000 ms) of silence */
    for (int i = 0; i < 300 && atomic_load(&cancels) == 0; i++) pl_sleep_ms(10);
    ck_assert_int_eq(atomic_load(&cancels), 1);
    ck_assert_int_ge(pl_time_mono_ms() - t0, 900);
    static char body[65536];
    ck_assert_int_eq(http_get(pl_worker_http_port(w), "/metrics", body, sizeof body), 200);
    ck_assert_ptr_nonnull(strstr(body, "parley_active_streams{model=\"t17\"} 0\n"));
    natsSubscription_Destroy(in);
    natsConnection_Destroy(raw);
    pl_worker_destroy(w);
    teardown_server();
}
END_TEST

START_TEST(test_conn_destroy_ends_everything) {
    setup_server(0);
    struct pl_worker *w = worker("t18", 1, 16, -1);
    struct pl_nrpc_conn *c = client(0, 0);
    struct cb_rec rec;
    memset(&rec, 0, sizeof rec);
    pthread_mutex_init(&rec.lock, NULL);
    pthread_cond_init(&rec.cond, NULL);
    struct pl_nrpc_stream_cbs cbs = {rec_message, rec_end};
    struct pl_nrpc_stream *s = NULL;
    ck_assert_int_eq(pl_nrpc_stream_open(c, "t18", "twice", NULL, &cbs, &rec, &s), PL_OK);
    ck_assert_int_eq(pl_nrpc_stream_send(s, "x", 1), PL_OK);
    struct waiter wt;
    waiter_init(&wt);
    ck_assert_int_eq(pl_nrpc_call_async(c, "parley.t18.sleep", "", 0, NULL, 5000, waiter_done, &wt),
                     PL_OK);
    pl_sleep_ms(50);
    pl_nrpc_conn_destroy(c); /* every callback has run when it returns */
    pthread_mutex_lock(&wt.lock);
    ck_assert_int_eq(wt.n, 1);
    ck_assert_int_eq(wt.codes[0], PL_GRPC_CANCELLED);
    pthread_mutex_unlock(&wt.lock);
    pthread_mutex_lock(&rec.lock);
    ck_assert_int_eq(rec.ended, 1);
    ck_assert_int_eq(rec.code, PL_GRPC_CANCELLED);
    pthread_mutex_unlock(&rec.lock);
    pl_nrpc_stream_destroy(s); /* an ended stream may outlive its connection */
    waiter_deinit(&wt);
    pl_worker_destroy(w);
    teardown_server();
}
END_TEST

static atomic_int reloads;
static pl_status on_reload(void *ud) {
    (void)ud;
    return atomic_fetch_add(&reloads, 1) == 0 ? PL_OK : PL_ERR(PL_E_FORMAT, "bad model file");
}

static void *wait_thread(void *w) {
    pl_worker_wait(w);
    return NULL;
}

START_TEST(test_reload_on_sighup) {
    setup_server(0);
    atomic_store(&reloads, 0);
    struct pl_worker *w = worker("t19", 1, 16, -1);
    pl_worker_set_reload(w, on_reload, NULL);
    ck_assert_int_eq(pl_worker_install_signals(w), PL_OK);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, wait_thread, w), 0);
    ck_assert_int_eq(raise(SIGHUP), 0);
    for (int i = 0; i < 300 && atomic_load(&reloads) < 1; i++) pl_sleep_ms(10);
    ck_assert_int_eq(atomic_load(&reloads), 1);
    pl_worker_reload(w); /* a failing reload keeps the worker serving */
    for (int i = 0; i < 300 && atomic_load(&reloads) < 2; i++) pl_sleep_ms(10);
    ck_assert_int_eq(atomic_load(&reloads), 2);
    struct pl_nrpc_conn *c = client(0, 0);
    struct pl_nrpc_reply r;
    ck_assert_int_eq(pl_nrpc_call(c, "parley.t19.echo", "x", 1, NULL, 2000, &r), PL_OK);
    ck_assert_int_eq(r.code, 0);
    pl_nrpc_reply_deinit(&r);
    ck_assert_int_eq(raise(SIGTERM), 0); /* drains; pl_worker_wait returns */
    pthread_join(th, NULL);
    pl_nrpc_conn_destroy(c);
    pl_worker_destroy(w);
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    teardown_server();
}
END_TEST

START_TEST(test_worker_create_oom) {
    pl_log_set(quiet_log, NULL);
    for (int k = 0; k < 500; k++) {
        struct pl_worker_opts o = PL_WORKER_OPTS_INIT;
        o.service = "oom";
        struct pl_worker *w = NULL;
        pl_alloc_fail_after(k);
        pl_status st = pl_worker_create(&o, &w);
        if (st == PL_OK) st = pl_worker_add_unary(w, "echo", h_echo, NULL);
        pl_alloc_fail_after(-1);
        pl_worker_destroy(w);
        if (st == PL_OK) return;
        ck_assert_int_eq(st, PL_E_NOMEM);
    }
    ck_abort_msg("never succeeded");
}
END_TEST

/* Round-trip latency at concurrency 1 (printed; asserted only loosely). */
static void measure(struct pl_nrpc_conn *c, const char *subject, const char *what) {
    enum { N = 2000 };
    static int64_t lat[N];
    struct pl_nrpc_reply r;
    for (int i = 0; i < 50; i++) { /* warm up */
        pl_nrpc_call(c, subject, "0123456789abcdef", 16, NULL, 2000, &r);
        pl_nrpc_reply_deinit(&r);
    }
    for (int i = 0; i < N; i++) {
        int64_t t0 = pl_time_mono_ns();
        ck_assert_int_eq(pl_nrpc_call(c, subject, "0123456789abcdef", 16, NULL, 2000, &r), PL_OK);
        lat[i] = pl_time_mono_ns() - t0;
        ck_assert_int_eq(r.code, 0);
        pl_nrpc_reply_deinit(&r);
    }
    for (int i = 1; i < N; i++) { /* insertion sort: small N */
        int64_t v = lat[i];
        int j = i - 1;
        while (j >= 0 && lat[j] > v) {
            lat[j + 1] = lat[j];
            j--;
        }
        lat[j + 1] = v;
    }
    fprintf(stderr,
            "nrpc unary round trip (%s), 16 B, concurrency 1, %d calls: p50 %.1f us, "
            "p99 %.1f us\n",
            what, N, lat[N / 2] / 1000.0, lat[N * 99 / 100] / 1000.0);
    ck_assert_int_lt(lat[N / 2], 50 * 1000 * 1000); /* sanity only: 50 ms */
}

START_TEST(test_latency) {
    setup_server(0);
    struct pl_worker *w = worker("t13", 2, 16, -1);
    struct pl_nrpc_conn *c = client(0, 0);
    measure(c, "parley.t13.echo", "worker in the same process");
    pl_worker_destroy(w);
    char rf[300];
    pid_t pid = spawn_echo("t15", "bench", NULL, NULL, rf, sizeof rf);
    measure(c, "parley.t15.echo", "echo worker process");
    ck_assert_int_eq(pl_test_kill(pid, SIGTERM), 0);
    pl_nrpc_conn_destroy(c);
    teardown_server();
}
END_TEST

/* Released messages wait for a flush (the timers' tick); a large one, or one that finds the
 * store full, is destroyed at once; a client and a worker at rest hold none for long. */
START_TEST(test_msg_release) {
    ck_assert_int_eq(nats_Open(-1), NATS_OK); /* destroying a message needs the library */
    pl__nrpc_msg_release_flush();
    ck_assert_int_eq(pl__nrpc_msg_release_held(), 0);
    natsMsg *m = NULL;
    for (int i = 0; i < 10; i++) {
        ck_assert_int_eq(natsMsg_Create(&m, "a.b", NULL, "xy", 2), NATS_OK);
        pl__nrpc_msg_release(m);
    }
    pl__nrpc_msg_release(NULL);
    ck_assert_int_eq(pl__nrpc_msg_release_held(), 10);
    char *big = pl_calloc(1, PL__NRPC_RELEASE_BYTES);
    ck_assert_ptr_nonnull(big);
    ck_assert_int_eq(natsMsg_Create(&m, "a.b", NULL, big, PL__NRPC_RELEASE_BYTES), NATS_OK);
    pl__nrpc_msg_release(m);
    ck_assert_int_eq(pl__nrpc_msg_release_held(), 10);
    pl_free(big);
    for (int i = 0; i < PL__NRPC_RELEASE_MSGS; i++) {
        ck_assert_int_eq(natsMsg_Create(&m, "a.b", NULL, "xy", 2), NATS_OK);
        pl__nrpc_msg_release(m);
    }
    ck_assert_int_eq(pl__nrpc_msg_release_held(), PL__NRPC_RELEASE_MSGS);
    pl__nrpc_msg_release_flush();
    ck_assert_int_eq(pl__nrpc_msg_release_held(), 0);
    /* payload held is bounded too: messages just under the size limit fill it */
    size_t each = PL__NRPC_RELEASE_BYTES - 1;
    int fit = (int)(PL__NRPC_RELEASE_HELD_BYTES / each);
    big = pl_calloc(1, each);
    ck_assert_ptr_nonnull(big);
    for (int i = 0; i < fit + 3; i++) {
        ck_assert_int_eq(natsMsg_Create(&m, "a.b", NULL, big, (int)each), NATS_OK);
        pl__nrpc_msg_release(m);
    }
    ck_assert_int_eq(pl__nrpc_msg_release_held(), fit);
    pl_free(big);
    pl__nrpc_msg_release_flush();
    ck_assert_int_eq(pl__nrpc_msg_release_held(), 0);

    setup_server(0);
    struct pl_worker *w = worker("t16", 2, 16, -1);
    struct pl_nrpc_conn *c = client(0, 0);
    struct pl_nrpc_reply r;
    for (int i = 0; i < 20; i++) {
        ck_assert_int_eq(pl_nrpc_call(c, "parley.t16.echo", "abc", 3, NULL, 2000, &r), PL_OK);
        ck_assert_int_eq(r.code, 0);
        pl_nrpc_reply_deinit(&r);
    }
    int64_t end = pl_time_mono_ms() + 2000;
    while (pl__nrpc_msg_release_held() > 0 && pl_time_mono_ms() < end) pl_sleep_ms(5);
    ck_assert_int_eq(pl__nrpc_msg_release_held(), 0);
    pl_worker_destroy(w);
    pl_nrpc_conn_destroy(c);
    teardown_server();
}
END_TEST

/* ---- quick rpcs on the delivery thread ------------------------------------------------------- */

static pthread_t where_tid[256];
static atomic_int where_n, where_active, where_max;

/* Records its thread and how many runs overlap; sleeps the ms given in the request. */
static pl_status h_where(void *ud, const struct pl_worker_ctx *ctx, const uint8_t *req, size_t n,
                         struct pl_worker_out *out) {
    (void)ud;
    (void)ctx;
    int a = atomic_fetch_add(&where_active, 1) + 1;
    for (int m = atomic_load(&where_max); a > m && !atomic_compare_exchange_weak(&where_max, &m, a);)
        ;
    int i = atomic_fetch_add(&where_n, 1);
    if (i < 256) where_tid[i] = pthread_self();
    char buf[16];
    snprintf(buf, sizeof buf, "%.*s", (int)(n < 15 ? n : 15), n ? (const char *)req : "");
    int ms = atoi(buf);
    if (ms > 0) pl_sleep_ms(ms);
    atomic_fetch_sub(&where_active, 1);
    out->data = pl_malloc(2);
    memcpy(out->data, "ok", 2);
    out->len = 2;
    return PL_OK;
}

static struct pl_worker *where_worker(const char *svc, int inline_max_us) {
    struct pl_worker_opts o = PL_WORKER_OPTS_INIT;
    struct pl_worker *w = NULL;
    o.service = svc;
    o.nats_url = srv.url;
    o.n_threads = 1;
    o.queue_capacity = 64;
    o.heartbeat_ms = 150;
    o.drain_timeout_ms = 3000;
    o.inline_max_us = inline_max_us;
    ck_assert(pl_worker_create(&o, &w) == PL_OK);
    ck_assert(pl_worker_add_unary(w, "where", h_where, NULL) == PL_OK);
    ck_assert_msg(pl_worker_start(w) == PL_OK, "worker start: %s", pl_last_error());
    atomic_store(&where_n, 0);
    atomic_store(&where_max, 0);
    return w;
}

static void where_call(struct pl_nrpc_conn *c, const char *subj, const char *ms) {
    struct pl_nrpc_reply r;
    ck_assert_int_eq(pl_nrpc_call(c, subj, ms, strlen(ms), NULL, 10000, &r), PL_OK);
    ck_assert_msg(r.code == 0, "%s: %d %s", subj, r.code, r.message);
    ck_assert_uint_eq(r.len, 2);
    pl_nrpc_reply_deinit(&r);
}

/* The thread of the latest where run. */
static pthread_t where_last(void) {
    int n = atomic_load(&where_n);
    ck_assert(n >= 1 && n <= 256);
    return where_tid[n - 1];
}

/* Quick calls until one runs on the delivery thread (not on handler). A run whose handler
 * slot has not been given back yet when the next request arrives goes to the handler thread
 * (the reply leaves before the slot is freed), so the first inline run after a streak may
 * come a call or two late on a loaded machine; once one run is inline, the next request
 * arrives on the same delivery thread after it has finished, and runs inline too. */
static void where_until_inline(struct pl_nrpc_conn *c, const char *subj, pthread_t handler) {
    for (int i = 0; i < 40; i++) {
        where_call(c, subj, "0");
        if (!pthread_equal(where_last(), handler)) return;
    }
    ck_abort_msg("40 quick calls after a streak and none ran on the delivery thread");
}

/* A quick rpc runs on the handler thread until PL_WORKER_INLINE_STREAK runs have been under
 * the limit, then on the delivery thread; one slow run sends it back to the handler thread;
 * inline runs keep the handler slots (n_threads 1: never two runs at once) and get their
 * heartbeats; inline_max_us < 0 keeps every run on the handler thread. */
START_TEST(test_inline_quick_rpc) {
    setup_server(0);
    /* 20 ms: a generous limit, so that a slow sanitizer build still counts as quick */
    struct pl_worker *w = where_worker("tin", 20000);
    struct pl_nrpc_conn *c = client(0, 600); /* 600 ms without a heartbeat ends a call */
    const char *subj = "parley.tin.where";
    int k = PL_WORKER_INLINE_STREAK;
    for (int i = 0; i < k; i++) where_call(c, subj, "0");
    pthread_t handler = where_tid[0];
    for (int i = 1; i < k; i++) ck_assert_msg(pthread_equal(where_tid[i], handler), "run %d", i);
    where_until_inline(c, subj, handler);
    for (int i = 0; i < 3; i++) {
        where_call(c, subj, "0");
        ck_assert_msg(!pthread_equal(where_last(), handler), "inline run %d on the handler", i);
    }
    /* a run over the limit (inline itself), then the handler thread again */
    where_call(c, subj, "40");
    ck_assert(!pthread_equal(where_last(), handler));
    where_call(c, subj, "0");
    ck_assert(pthread_equal(where_last(), handler));
    /* a new streak; then an inline run longer than the client's silence limit lives on its
     * heartbeats */
    for (int i = 0; i < k - 1; i++) {
        where_call(c, subj, "0");
        ck_assert(pthread_equal(where_last(), handler));
    }
    where_until_inline(c, subj, handler);
    where_call(c, subj, "1200");
    ck_assert(!pthread_equal(where_last(), handler));
    /* many at once: some inline, some queued, never two running with one slot */
    for (int i = 0; i < k; i++) where_call(c, subj, "0");
    struct waiter wt;
    waiter_init(&wt);
    for (int i = 0; i < 24; i++)
        ck_assert_int_eq(pl_nrpc_call_async(c, subj, "3", 1, NULL, 10000, waiter_done, &wt), PL_OK);
    waiter_wait(&wt, 24);
    for (int i = 0; i < 24; i++) ck_assert_int_eq(wt.codes[i], 0);
    waiter_deinit(&wt);
    ck_assert_int_eq(atomic_load(&where_max), 1);
    pl_worker_destroy(w);

    /* never inline */
    w = where_worker("tin2", -1);
    for (int i = 0; i < k + 4; i++) where_call(c, "parley.tin2.where", "0");
    for (int i = 1; i < k + 4; i++) ck_assert(pthread_equal(where_tid[i], where_tid[0]));
    pl_worker_destroy(w);
    pl_nrpc_conn_destroy(c);
    teardown_server();
}
END_TEST

/* The worker heartbeats at the client's pace when the client gives up sooner than three of
 * the worker's own intervals: its requests and stream opens carry Parley-Heartbeat-Ms (a
 * third of its silence limit). Worker: 1 s heartbeats; client: 450 ms of silence ends a call.
 * A 1.2 s unary run and a stream whose end comes 1.2 s after the half-close both complete. */
START_TEST(test_heartbeat_follows_client) {
    setup_server(0);
    struct pl_worker_opts o = PL_WORKER_OPTS_INIT;
    struct pl_worker *w = NULL;
    o.service = "thb";
    o.nats_url = srv.url;
    o.n_threads = 2;
    o.heartbeat_ms = 1000;
    o.inline_max_us = -1;
    ck_assert(pl_worker_create(&o, &w) == PL_OK);
    ck_assert(pl_worker_add_unary(w, "where", h_where, NULL) == PL_OK);
    ck_assert(pl_worker_add_stream(w, "later", &later_iface, NULL) == PL_OK);
    ck_assert_msg(pl_worker_start(w) == PL_OK, "worker start: %s", pl_last_error());
    struct pl_nrpc_conn *c = client(0, 450);
    where_call(c, "parley.thb.where", "1200");
    struct pl_nrpc_stream *s = NULL;
    ck_assert_int_eq(pl_nrpc_stream_open(c, "thb", "later", NULL, NULL, NULL, &s), PL_OK);
    ck_assert_int_eq(pl_nrpc_stream_send(s, "1200", 4), PL_OK);
    ck_assert_int_eq(pl_nrpc_stream_close_send(s), PL_OK);
    uint8_t *d;
    size_t n;
    int code = -1;
    const char *msg = NULL;
    ck_assert_int_eq(pl_nrpc_stream_recv(s, 5000, &d, &n, &code, &msg), PL_OK);
    ck_assert(n == 4 && memcmp(d, "late", 4) == 0);
    pl_free(d);
    ck_assert_int_eq(pl_nrpc_stream_recv(s, 5000, &d, &n, &code, &msg), PL_E_CANCELLED);
    ck_assert_msg(code == PL_GRPC_OK, "%d %s", code, msg ? msg : "");
    pl_nrpc_stream_destroy(s);
    pl_nrpc_conn_destroy(c);
    pl_worker_destroy(w);
    teardown_server();
}
END_TEST

/* The runtime's dispatch without NATS: a table of handlers, one per rpc, run by name with
 * the same context a NATS request gets. */
START_TEST(test_worker_call_local) {
    struct pl_worker_opts o = PL_WORKER_OPTS_INIT;
    o.service = "tl";
    struct pl_worker *w = NULL;
    ck_assert_int_eq(pl_worker_create(&o, &w), PL_OK);
    static const struct pl_worker_unary rpcs[] = {{"echo", h_echo}, {"ctx", h_ctx}};
    ck_assert_int_eq(pl_worker_add_unaries(w, rpcs, 2, NULL), PL_OK);
    ck_assert_int_eq(pl_worker_add_unaries(w, rpcs, 1, NULL), PL_E_INVALID_ARG); /* twice */
    ck_assert_int_eq(pl_worker_add_stream(w, "twice", &stream_iface, NULL), PL_OK);
    struct pl_worker_out out = {0};
    ck_assert_int_eq(pl_worker_call(w, "echo", 0, (const uint8_t *)"abc", 3, &out), PL_OK);
    ck_assert_uint_eq(out.len, 3);
    ck_assert(memcmp(out.data, "abc", 3) == 0);
    pl_free(out.data);
    /* the deadline reaches the handler as is */
    ck_assert_int_eq(pl_worker_call(w, "ctx", pl_time_mono_us() + 2000000, (const uint8_t *)"x", 1,
                                    &out), PL_OK);
    long long left = -1;
    ck_assert_int_eq(sscanf((const char *)out.data + 33, "%lld|", &left), 1);
    ck_assert_msg(left > 1000 && left <= 2000, "ms left: %lld", left);
    pl_free(out.data);
    /* unknown rpc, a stream rpc, a deadline already passed: refused, out empty */
    ck_assert_int_eq(pl_worker_call(w, "nope", 0, NULL, 0, &out), PL_E_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(pl_last_error(), "parley-tl"));
    ck_assert_int_eq(pl_worker_call(w, "twice", 0, NULL, 0, &out), PL_E_UNSUPPORTED);
    ck_assert_int_eq(pl_worker_call(w, "echo", pl_time_mono_us() - 1, (const uint8_t *)"a", 1, &out),
                     PL_E_TIMEOUT);
    ck_assert_ptr_null(out.data);
    pl_worker_destroy(w);
}
END_TEST

Suite *pl_nrpc_suite(void) {
    Suite *s = suite_create("nrpc");
    TCase *tc = tcase_create("nats");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_unary_roundtrip_headers);
    tcase_add_test(tc, test_worker_call_local);
    tcase_add_test(tc, test_no_responders);
    tcase_add_test(tc, test_deadline);
    tcase_add_test(tc, test_errors_mapped);
    tcase_add_test(tc, test_large_payload);
    tcase_add_test(tc, test_stream_happy_path);
    tcase_add_test(tc, test_stream_deferred_end);
    tcase_add_test(tc, test_stream_slot_free_at_end);
    tcase_add_test(tc, test_worker_killed_midstream);
    tcase_add_test(tc, test_sequence_gap);
    tcase_add_test(tc, test_heartbeat_seq);
    tcase_add_test(tc, test_worker_log_redacts_url);
    tcase_add_test(tc, test_queue_full);
    tcase_add_test(tc, test_queue_group_shares_load);
    tcase_add_test(tc, test_drain_on_sigterm);
    tcase_add_test(tc, test_metrics_endpoint);
    tcase_add_test(tc, test_reconnect);
    tcase_add_test(tc, test_failures_reported_from_internal_threads);
    tcase_add_test(tc, test_worker_frees_silent_session);
    tcase_add_test(tc, test_conn_destroy_ends_everything);
    tcase_add_test(tc, test_reload_on_sighup);
    tcase_add_test(tc, test_worker_create_oom);
    tcase_add_test(tc, test_latency);
    tcase_add_test(tc, test_msg_release);
    tcase_add_test(tc, test_inline_quick_rpc);
    tcase_add_test(tc, test_heartbeat_follows_client);
    suite_add_tcase(s, tc);
    return s;
}
