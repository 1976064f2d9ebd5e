/*
 * test_dialog_actions.c - the dialog core's external actions (dialog_external.c and the engine's
 * webhook/nats steps): spec errors of webhooks and subjects; webhooks over real HTTP on
 * 127.0.0.1 (a small server thread in this file): a good reply with variables, slots and
 * close, garbage, HTTP 500 with retries, a server that never answers (the timeout), a refused
 * port, an unconfigured webhook; the nats action through the hook (its transport is the
 * service's, tested by integration_dialog_stories). Webhooks on the I/O thread
 * (dialog_http.c): a turn stopped at its webhook and run again with the answer (opts.replay),
 * a nats action and kb_answer stopped the same way (replay.defer_all, the action pool's),
 * 100 calls of 1 s at once, the timeout, the deadline, a refused port, stopping (a call in
 * flight ends, a call started after it ends at once).
 */
#include <arpa/inet.h>
#include <check.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "alloc.h"
#include "dialog_impl.h"
#include "test_dialog_util.h"
#include "util.h"

#define HEAD "dialog: x\nresponses:\n" BASE_RESPONSES
#define HEAD_R HEAD "  r: '{forecast}'\n"

START_TEST(test_external_spec_errors) {
    ASSERT_ERR(HEAD "intents:\n  a: {nlu: [A], do: [{action: webhook, webhook: w}]}\n",
               "t.yaml:10: intents.a.do[0].webhook: undefined webhook 'w'");
    ASSERT_ERR(HEAD "webhooks:\n  w: {url: 'ftp://x/y'}\nintents:\n  a: {nlu: [A], do: [{action: "
               "webhook, webhook: w}]}\n", "t.yaml:10: webhooks.w.url: 'ftp://x/y' is not an http(s)");
    ASSERT_ERR(HEAD "webhooks:\n  w: {url: 'http://x/', colour: red}\nintents: {}\n",
               "webhooks.w: unknown key 'colour'");
    ASSERT_ERR(HEAD "intents:\n  a: {nlu: [A], do: [{action: nats, subject: parley.qa.natural_query}]}\n",
               "is a subject of parley-qa, not of an action");
    ASSERT_ERR(HEAD "intents:\n  a: {nlu: [A], do: [{action: nats, subject: 'parley.act.>'}]}\n",
               "is not a subject parley.<service>.<action>");
    ASSERT_ERR(HEAD "intents:\n  a: {nlu: [A], do: [{action: tell_time, subject: parley.a.b}]}\n",
               "only webhook and nats actions take subject");
    ASSERT_ERR(HEAD "intents:\n  a: {nlu: [A], do: [{action: nats}]}\n",
               "missing required key 'subject'");
    setenv("PL_TEST_BAD_URL", "file:///etc/passwd", 1);
    ASSERT_ERR(HEAD "webhooks:\n  w: {url_env: PL_TEST_BAD_URL}\nintents: {}\n",
               "webhooks.w.url_env: $PL_TEST_BAD_URL is not an http(s) URL");
    /* {forecast} is a template variable only when some action declares it */
    ASSERT_ERR(HEAD_R "intents: {}\n", "responses.r: undefined slot 'forecast'");
    ck_assert_ptr_null(spec_error(HEAD_R "webhooks:\n  w: {url: 'http://127.0.0.1:1/', vars: "
                                  "[forecast]}\nintents: {}\n"));
}
END_TEST

/* ---- a small HTTP server on 127.0.0.1 ------------------------------------------------------ */

struct srv {
    int fd, port;
    const char *status; /* "200 OK" */
    const char *body;
    atomic_int served; /* counted before the answer goes out: the client may read it at once */
    char last_request[4096];
    pthread_t th;
};

static void *serve(void *ud) {
    struct srv *s = ud;
    for (;;) {
        int c = accept(s->fd, NULL, NULL);
        if (c < 0) return NULL;
        char buf[4096];
        size_t n = 0;
        ssize_t k;
        while (n < sizeof buf - 1 && (k = read(c, buf + n, sizeof buf - 1 - n)) > 0) {
            n += (size_t)k;
            buf[n] = '\0';
            char *end = strstr(buf, "\r\n\r\n");
            const char *cl = strstr(buf, "Content-Length: ");
            if (end && cl && n >= (size_t)(end + 4 - buf) + (size_t)atol(cl + 16)) break;
        }
        buf[n] = '\0';
        char *body = strstr(buf, "\r\n\r\n");
        snprintf(s->last_request, sizeof s->last_request, "%s", body ? body + 4 : "");
        char out[8192];
        int m = snprintf(out, sizeof out, "HTTP/1.1 %s\r\nContent-Type: application/json\r\n"
                         "Content-Length: %zu\r\nConnection: close\r\n\r\n%s", s->status,
                         strlen(s->body), s->body);
        atomic_fetch_add(&s->served, 1);
        ck_assert_int_eq(write(c, out, (size_t)m), m);
        close(c);
    }
}

/* Listen on a free port; serve (answer) or only listen (a server that never answers). */
static void srv_start(struct srv *s, bool answer) {
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(s->fd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(listen(s->fd, 8), 0);
    socklen_t l = sizeof a;
    getsockname(s->fd, (struct sockaddr *)&a, &l);
    s->port = ntohs(a.sin_port);
    if (answer) pthread_create(&s->th, NULL, serve, s);
}

static int closed_port(void) {
    struct srv s;
    srv_start(&s, false);
    close(s.fd);
    return s.port;
}

/* ---- turns with external actions ----------------------------------------------------------- */

static const char spec_fmt[] =
    "dialog: t\n"
    "webhooks:\n"
    "  weather: {url_env: PL_TEST_WEATHER_URL, timeout_ms: 300, retries: 1, vars: [forecast],\n"
    "            headers: {X-Api-Key: secret}}\n"
    "  unset: {url_env: PL_TEST_UNSET_URL}\n"
    "  late: {url_env: PL_TEST_WEATHER_URL, timeout_ms: 3000, retries: 0}\n"
    "slots:\n"
    "  place: {nlu: [city]}\n"
    "  n: {type: number}\n"
    "flows:\n"
    "  weather:\n"
    "    optional: [place]\n"
    "    done: [{action: webhook, webhook: weather, say: report, failed: sorry}]\n"
    "intents:\n"
    "  weather: {nlu: [GetWeather], flow: weather}\n"
    "  unset: {keywords: [unset], do: [{action: webhook, webhook: unset, unconfigured: nope}]}\n"
    "  order: {keywords: [order], do: [{action: nats, subject: parley.action.order, "
    "timeout_ms: 500, vars: [status]}]}\n"
    "  both: {keywords: [both services], do: [{action: nats, subject: parley.action.order, "
    "timeout_ms: 500}, {action: webhook, webhook: weather, say: report, failed: sorry}]}\n"
    "responses:\n"
    "  report: ['{place|title}: {forecast}.', '{forecast}.']\n"
    "  sorry: Sorry, the weather service is not answering.\n"
    "  nope: Weather is not set up here.\n"
    "  action_failed: That did not work.\n"
    BASE_RESPONSES;

struct fx {
    struct pl_dlg_spec *spec;
    struct pl_dlg_state *st;
    struct pl_dlg_turn t;
    const char *nats_reply; /* what the nats hook answers; NULL = nothing serves it */
    char nats_request[4096];
    int nats_calls;
    int kb_calls;
};

static pl_status fake_nats(void *ud, const char *subject, const char *user, const char *body,
                           int timeout_ms, int64_t deadline_us, char **reply, size_t *len) {
    (void)timeout_ms, (void)deadline_us, (void)user;
    struct fx *f = ud;
    ck_assert_str_eq(subject, "parley.action.order");
    snprintf(f->nats_request, sizeof f->nats_request, "%s", body);
    f->nats_calls++;
    if (!f->nats_reply) return PL_ERR(PL_E_NOT_FOUND, "nothing serves the subject");
    *reply = pl_strdup(f->nats_reply);
    *len = strlen(f->nats_reply);
    return PL_OK;
}

static const struct pl_dlg_hooks_i hooks = {NULL, NULL, fake_nats};

static pl_status fake_kb(void *ud, const char *question, int64_t deadline_us, char **answer) {
    (void)question, (void)deadline_us;
    ((struct fx *)ud)->kb_calls++;
    *answer = pl_strdup("Paris.");
    return PL_OK;
}

static const struct pl_dlg_hooks_i hooks_kb = {fake_kb, NULL, fake_nats};

static void fx_init(struct fx *f, int port) {
    memset(f, 0, sizeof *f);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/weather", port);
    setenv("PL_TEST_WEATHER_URL", url, 1);
    unsetenv("PL_TEST_UNSET_URL");
    ck_assert_msg(pl_dlg_spec_parse("t.yaml", spec_fmt, strlen(spec_fmt), &f->spec) == PL_OK,
                  "%s", pl_last_error());
    ck_assert_int_eq(pl_dlg_state_create("s1", "u1", "t", "en-US", &f->st), PL_OK);
    struct pl_dlg_ctx *c;
    pl_dlg_turn_init(&f->t);
    ck_assert_int_eq(pl_dlg_context_create(f->st, "", NULL, 0, true, 1, &f->t, &c), PL_OK);
}

static void fx_deinit(struct fx *f) {
    pl_dlg_turn_deinit(&f->t);
    pl_dlg_state_destroy(f->st);
    pl_dlg_spec_destroy(f->spec);
}

static const char *turn(struct fx *f, const char *text, const char *intent, const char *city) {
    static char buf[1024];
    struct pl_dlg_nlu_slot s = {"city", city, 1.0f, -1, -1};
    struct pl_dlg_nlu nlu = {intent, 1.0f, &s, city ? 1 : 0, NULL, 0};
    pl_dlg_turn_deinit(&f->t);
    pl_dlg_turn_init(&f->t);
    struct pl_dlg_turn_opts o = {&hooks, f, 1000, 0, 0, false, NULL};
    ck_assert_int_eq(pl_dlg_turn_run(f->spec, f->st, text, &nlu, &o, &f->t), PL_OK);
    buf[0] = '\0';
    for (int i = 0; i < f->t.n_replies; i++)
        snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s%s", i ? " | " : "",
                 f->t.replies[i].text);
    return buf;
}

/* The turn's action event (the last one). */
static json_t *action_of(struct fx *f) {
    for (int i = f->t.n_events - 1; i >= 0; i--)
        if (f->t.events[i].kind == PL_DLG_EV_ACTION) return json_loads(f->t.events[i].data, 0, NULL);
    ck_abort_msg("no action event");
    return NULL;
}

static const char *jget(json_t *o, const char *k) { return json_string_value(json_object_get(o, k)); }

START_TEST(test_webhook_over_http) {
    struct srv s = {.status = "200 OK",
                    .body = "{\"vars\": {\"forecast\": \"sunny, 21 C\", \"other\": 1},"
                            " \"slots\": {\"place\": \"boston\", \"nope\": \"x\"}}"};
    srv_start(&s, true);
    struct fx f;
    fx_init(&f, s.port);
    ck_assert_str_eq(turn(&f, "weather in boston", "GetWeather", "boston"), "Boston: sunny, 21 C.");
    json_t *rq = json_loads(s.last_request, 0, NULL);
    ck_assert_ptr_nonnull(rq);
    ck_assert_str_eq(jget(rq, "action"), "webhook");
    ck_assert_str_eq(jget(rq, "name"), "weather");
    ck_assert_str_eq(jget(rq, "user"), "u1");
    ck_assert_str_eq(jget(rq, "intent"), "weather");
    ck_assert_str_eq(jget(rq, "utterance"), "weather in boston");
    ck_assert_str_eq(jget(json_object_get(rq, "slots"), "place"), "boston");
    ck_assert_str_eq(jget(json_object_get(rq, "nlu"), "intent"), "GetWeather");
    json_decref(rq);
    json_t *a = action_of(&f);
    ck_assert_str_eq(jget(a, "name"), "webhook");
    ck_assert(json_is_true(json_object_get(a, "ok")));
    ck_assert_str_eq(jget(json_object_get(a, "arguments"), "http_status"), "200");
    json_decref(a);
    /* garbage: the apology, logged with the parse error; slots untouched */
    s.body = "<html>oops</html>";
    ck_assert_str_eq(turn(&f, "weather in paris", "GetWeather", "paris"),
                     "Sorry, the weather service is not answering.");
    a = action_of(&f);
    ck_assert(json_is_false(json_object_get(a, "ok")));
    ck_assert_msg(strstr(jget(a, "error"), "the reply is not JSON"), "%s", jget(a, "error"));
    ck_assert_str_eq(jget(a, "result"), "<html>oops</html>");
    json_decref(a);
    s.body = "{\"slots\": [1, 2]}";
    turn(&f, "weather in rome", "GetWeather", "rome");
    a = action_of(&f);
    ck_assert_msg(strstr(jget(a, "error"), "\"slots\" is not an object"), "%s", jget(a, "error"));
    json_decref(a);
    /* HTTP 500: retried once, then the apology */
    s.status = "500 Internal Server Error";
    s.body = "{}";
    int before = atomic_load(&s.served);
    ck_assert_str_eq(turn(&f, "weather in oslo", "GetWeather", "oslo"),
                     "Sorry, the weather service is not answering.");
    ck_assert_int_eq(atomic_load(&s.served) - before, 2);
    a = action_of(&f);
    ck_assert_str_eq(jget(json_object_get(a, "arguments"), "attempts"), "2");
    ck_assert_msg(strstr(jget(a, "error"), "HTTP status 500"), "%s", jget(a, "error"));
    json_decref(a);
    /* a reply that cannot fill the response (no forecast) and has no text: a failure */
    s.status = "200 OK";
    turn(&f, "weather in lima", "GetWeather", "lima");
    a = action_of(&f);
    ck_assert_msg(strstr(jget(a, "error"), "does not fill response 'report'"), "%s",
                  jget(a, "error"));
    json_decref(a);
    fx_deinit(&f);
    shutdown(s.fd, SHUT_RDWR);
    close(s.fd);
    pthread_join(s.th, NULL);
}
END_TEST

START_TEST(test_webhook_hangs_refused_unconfigured) {
    struct srv s = {0};
    srv_start(&s, false); /* accepts connections (backlog), never answers */
    struct fx f;
    fx_init(&f, s.port);
    int64_t t0 = pl_time_mono_us();
    ck_assert_str_eq(turn(&f, "weather in boston", "GetWeather", "boston"),
                     "Sorry, the weather service is not answering.");
    int64_t ms = (pl_time_mono_us() - t0) / 1000;
    /* two attempts of 300 ms and 100 ms of backoff */
    ck_assert_msg(ms >= 650 && ms < 1500, "took %lld ms", (long long)ms);
    json_t *a = action_of(&f);
    ck_assert_msg(strstr(jget(a, "error"), "no reply within 300 ms"), "%s", jget(a, "error"));
    ck_assert_int_ge(json_integer_value(json_object_get(a, "duration_ms")), 650);
    json_decref(a);
    ck_assert_int_eq(pl_dlg_state_active(f.st)->n_slots, 0); /* the flow ended, the context idle */
    fx_deinit(&f);
    close(s.fd);

    fx_init(&f, closed_port());
    t0 = pl_time_mono_us();
    ck_assert_str_eq(turn(&f, "weather in boston", "GetWeather", "boston"),
                     "Sorry, the weather service is not answering.");
    ck_assert_int_lt((pl_time_mono_us() - t0) / 1000, 500);
    a = action_of(&f);
    ck_assert_str_eq(jget(json_object_get(a, "arguments"), "attempts"), "2");
    json_decref(a);
    ck_assert_str_eq(turn(&f, "unset", NULL, NULL), "Weather is not set up here.");
    a = action_of(&f);
    ck_assert_msg(strstr(jget(a, "error"), "is not configured: set $PL_TEST_UNSET_URL"), "%s",
                  jget(a, "error"));
    json_decref(a);
    fx_deinit(&f);
}
END_TEST

START_TEST(test_nats_action) {
    struct fx f;
    fx_init(&f, closed_port());
    f.nats_reply = "{\"text\": \"Order 42 is on its way.\", \"vars\": {\"status\": \"sent\"}}";
    ck_assert_str_eq(turn(&f, "order", NULL, NULL), "Order 42 is on its way.");
    json_t *rq = json_loads(f.nats_request, 0, NULL);
    ck_assert_str_eq(jget(rq, "action"), "nats");
    ck_assert_str_eq(jget(rq, "name"), "parley.action.order");
    json_decref(rq);
    f.nats_reply = "[1, 2, 3]";
    ck_assert_str_eq(turn(&f, "order", NULL, NULL), "That did not work."); /* action_failed */
    f.nats_reply = NULL;
    ck_assert_str_eq(turn(&f, "order", NULL, NULL), "That did not work.");
    json_t *a = action_of(&f);
    ck_assert_str_eq(jget(a, "name"), "nats");
    ck_assert_msg(strstr(jget(a, "error"), "nothing serves the subject"), "%s", jget(a, "error"));
    json_decref(a);
    fx_deinit(&f);
}
END_TEST

/* local_only (parley-dialog's handler threads): a step that would call out stops the turn
 * with PL_E_CANCELLED and calls_out, before anything is sent; one that needs nothing outside
 * (an unconfigured webhook, a keyword reply) runs as usual; run again without it, the same
 * turn calls out. */
START_TEST(test_local_only_stops_at_calls_out) {
    struct fx f;
    fx_init(&f, closed_port());
    f.nats_reply = "{\"text\": \"Order 42 is on its way.\"}";
    struct pl_dlg_turn_opts o = {&hooks, &f, 1000, 0, 0, true, NULL};
    pl_dlg_turn_deinit(&f.t);
    pl_dlg_turn_init(&f.t);
    ck_assert_int_eq(pl_dlg_turn_run(f.spec, f.st, "order", NULL, &o, &f.t), PL_E_CANCELLED);
    ck_assert(f.t.calls_out);
    ck_assert_msg(strstr(pl_last_error(), "calls out (nats)"), "%s", pl_last_error());
    ck_assert_str_eq(f.nats_request, ""); /* nothing was sent */
    pl_dlg_state_destroy(f.st); /* the caller drops the state the stopped turn touched */
    ck_assert_int_eq(pl_dlg_state_create("s1", "u1", "t", "en-US", &f.st), PL_OK);
    pl_dlg_turn_deinit(&f.t);
    pl_dlg_turn_init(&f.t);
    ck_assert_int_eq(pl_dlg_turn_run(f.spec, f.st, "unset", NULL, &o, &f.t), PL_OK);
    ck_assert(!f.t.calls_out);
    ck_assert_str_eq(f.t.replies[0].text, "Weather is not set up here.");
    struct pl_dlg_nlu_slot sl = {"city", "boston", 1.0f, -1, -1};
    struct pl_dlg_nlu nlu = {"GetWeather", 1.0f, &sl, 1, NULL, 0};
    pl_dlg_turn_deinit(&f.t);
    pl_dlg_turn_init(&f.t);
    ck_assert_int_eq(pl_dlg_turn_run(f.spec, f.st, "weather in boston", &nlu, &o, &f.t),
                     PL_E_CANCELLED);
    ck_assert(f.t.calls_out);
    ck_assert_str_eq(turn(&f, "order", NULL, NULL), "Order 42 is on its way.");
    ck_assert(!f.t.calls_out);
    fx_deinit(&f);
}
END_TEST

/* ---- waiting for webhooks without a thread (dialog_http.c, opts.replay) -------------------- */

/* A server that answers every request after delay_ms, each connection on its own thread. */
struct slow_srv {
    struct srv s;
    int delay_ms;
    atomic_int served;
};

struct slow_conn {
    struct slow_srv *ss;
    int fd;
};

static void *slow_conn_main(void *ud) {
    struct slow_conn *c = ud;
    char buf[4096];
    size_t n = 0;
    ssize_t k;
    while (n < sizeof buf - 1 && (k = read(c->fd, buf + n, sizeof buf - 1 - n)) > 0) {
        n += (size_t)k;
        buf[n] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        const char *cl = strstr(buf, "Content-Length: ");
        if (end && cl && n >= (size_t)(end + 4 - buf) + (size_t)atol(cl + 16)) break;
    }
    pl_sleep_ms(c->ss->delay_ms);
    const char *body = c->ss->s.body;
    char out[1024];
    int m = snprintf(out, sizeof out, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n%s", strlen(body), body);
    /* counted before the write: the client may see the answer, and the test read the count,
     * before this thread runs again */
    atomic_fetch_add(&c->ss->served, 1);
    if (write(c->fd, out, (size_t)m) != m) atomic_fetch_sub(&c->ss->served, 1);
    close(c->fd);
    pl_free(c);
    return NULL;
}

static void *slow_serve(void *ud) {
    struct slow_srv *ss = ud;
    for (;;) {
        int fd = accept(ss->s.fd, NULL, NULL);
        if (fd < 0) return NULL;
        struct slow_conn *c = pl_calloc(1, sizeof *c);
        c->ss = ss;
        c->fd = fd;
        pthread_t th;
        pthread_create(&th, NULL, slow_conn_main, c);
        pthread_detach(th);
    }
}

static void slow_start(struct slow_srv *ss, int delay_ms, const char *body) {
    memset(ss, 0, sizeof *ss);
    srv_start(&ss->s, false);
    ck_assert_int_eq(listen(ss->s.fd, 256), 0);
    ss->s.body = body;
    ss->delay_ms = delay_ms;
    pthread_create(&ss->s.th, NULL, slow_serve, ss);
}

static void slow_stop(struct slow_srv *ss) {
    shutdown(ss->s.fd, SHUT_RDWR);
    close(ss->s.fd);
    pthread_join(ss->s.th, NULL);
}

/* Outcomes of calls on the I/O thread, collected for the test's thread. */
struct box {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct pl_dlg_call calls[128];
    int64_t done_us[128];
    int n;
};

static void box_init(struct box *b) {
    memset(b, 0, sizeof *b);
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->cv, NULL);
}

static void box_deinit(struct box *b) {
    for (int i = 0; i < b->n; i++) pl_dlg_call_deinit(&b->calls[i]);
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->cv);
}

static void on_done(void *ud, struct pl_dlg_call *c) {
    struct box *b = ud;
    pthread_mutex_lock(&b->mu);
    b->done_us[b->n] = pl_time_mono_us();
    b->calls[b->n++] = *c;
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
}

static void box_wait(struct box *b, int n) {
    int64_t until = pl_time_mono_us() + 20 * 1000000LL;
    pthread_mutex_lock(&b->mu);
    while (b->n < n && pl_time_mono_us() < until) {
        pthread_mutex_unlock(&b->mu);
        pl_sleep_ms(5);
        pthread_mutex_lock(&b->mu);
    }
    int got = b->n;
    pthread_mutex_unlock(&b->mu);
    ck_assert_int_eq(got, n);
}

/* A fresh state as the store would load it: one idle context with a fixed id. */
static void fresh_state(struct fx *f) {
    static const char ids[1][PL_DLG_ID_LEN] = {"c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0"};
    pl_dlg_state_destroy(f->st);
    ck_assert_int_eq(pl_dlg_state_create("s1", "u1", "t", "en-US", &f->st), PL_OK);
    f->st->preset_ids = ids;
    f->st->n_preset_ids = 1;
    struct pl_dlg_ctx *c;
    pl_dlg_turn_deinit(&f->t);
    pl_dlg_turn_init(&f->t);
    ck_assert_int_eq(pl_dlg_context_create(f->st, "", NULL, 0, true, 1, &f->t, &c), PL_OK);
    f->st->preset_ids = NULL;
    f->st->n_preset_ids = f->st->next_preset_id = 0;
    pl_dlg_turn_deinit(&f->t);
    pl_dlg_turn_init(&f->t);
}

/* With a replay, a turn stops at a webhook (nothing sent) with the request to make; the call
 * made on the I/O thread and the turn run again on the state as loaded gives the turn the
 * blocking call gives, and the context the request named is the one the turn logs. */
START_TEST(test_webhook_replay_on_io_thread) {
    struct slow_srv ss;
    slow_start(&ss, 0, "{\"vars\": {\"forecast\": \"sunny, 21 C\"}}");
    struct fx f;
    fx_init(&f, ss.s.port);
    struct pl_dlg_http *h;
    ck_assert_int_eq(pl_dlg_http_create(&h), PL_OK);
    struct pl_dlg_replay r;
    pl_dlg_replay_init(&r);
    r.now_ms = 5000;
    struct pl_dlg_turn_opts o = {&hooks, &f, r.now_ms, 0, 0, false, &r};
    struct pl_dlg_nlu_slot sl = {"city", "boston", 1.0f, -1, -1};
    struct pl_dlg_nlu nlu = {"GetWeather", 1.0f, &sl, 1, NULL, 0};
    fresh_state(&f);
    pl_dlg_replay_prepare(&r, f.st);
    ck_assert_int_eq(pl_dlg_turn_run(f.spec, f.st, "weather in boston", &nlu, &o, &f.t),
                     PL_E_CANCELLED);
    ck_assert(f.t.calls_out);
    ck_assert_int_eq(r.pending, 0); /* webhooks[0]: weather */
    ck_assert_int_eq(atomic_load(&ss.served), 0);
    ck_assert_int_eq(pl_dlg_replay_keep_ids(&r, f.st), PL_OK);
    json_t *rq = json_loads(r.pending_body, 0, NULL);
    ck_assert_str_eq(jget(rq, "utterance"), "weather in boston");
    char ctx[PL_DLG_ID_LEN];
    snprintf(ctx, sizeof ctx, "%s", jget(rq, "context"));
    json_decref(rq);
    struct box b;
    box_init(&b);
    pl_dlg_http_start(h, f.spec, r.pending, r.pending_body, 0, on_done, &b);
    box_wait(&b, 1);
    ck_assert_int_eq(b.calls[0].st, PL_OK);
    ck_assert_int_eq(b.calls[0].http_status, 200);
    ck_assert_int_eq(pl_dlg_replay_add(&r, &b.calls[0]), PL_OK);
    /* run again on the state as loaded: the answer is taken, nothing is called */
    fresh_state(&f);
    pl_dlg_replay_prepare(&r, f.st);
    ck_assert_int_eq(pl_dlg_turn_run(f.spec, f.st, "weather in boston", &nlu, &o, &f.t), PL_OK);
    ck_assert(!f.t.calls_out);
    ck_assert_int_eq(r.pending, -1);
    ck_assert_int_eq(f.t.n_replies, 1);
    ck_assert_str_eq(f.t.replies[0].text, "Boston: sunny, 21 C.");
    ck_assert_int_eq(atomic_load(&ss.served), 1);
    bool found = false;
    for (int i = f.t.n_events - 1; i >= 0 && !found; i--)
        if (f.t.events[i].kind == PL_DLG_EV_ACTION) {
            ck_assert_str_eq(f.t.events[i].context_id, ctx);
            found = true;
        }
    ck_assert(found);
    json_t *a = action_of(&f);
    ck_assert(json_is_true(json_object_get(a, "ok")));
    ck_assert_str_eq(jget(json_object_get(a, "arguments"), "attempts"), "1");
    json_decref(a);
    /* a nats call before a webhook is made once: the run after the webhook takes its answer */
    pl_dlg_replay_deinit(&r);
    pl_dlg_replay_init(&r);
    f.nats_reply = "{\"text\": \"Order 42 is on its way.\"}";
    fresh_state(&f);
    pl_dlg_replay_prepare(&r, f.st);
    ck_assert_int_eq(pl_dlg_turn_run(f.spec, f.st, "both services", NULL, &o, &f.t),
                     PL_E_CANCELLED);
    ck_assert_int_eq(f.nats_calls, 1);
    ck_assert_int_eq(r.n_calls, 1);
    ck_assert_int_eq(r.pending, 0);
    pl_dlg_http_start(h, f.spec, r.pending, r.pending_body, 0, on_done, &b);
    box_wait(&b, 2);
    ck_assert_int_eq(pl_dlg_replay_add(&r, &b.calls[1]), PL_OK);
    fresh_state(&f);
    pl_dlg_replay_prepare(&r, f.st);
    ck_assert_int_eq(pl_dlg_turn_run(f.spec, f.st, "both services", NULL, &o, &f.t), PL_OK);
    ck_assert_int_eq(f.nats_calls, 1);
    ck_assert_int_eq(f.t.n_replies, 2);
    ck_assert_str_eq(f.t.replies[0].text, "Order 42 is on its way.");
    ck_assert_str_eq(f.t.replies[1].text, "sunny, 21 C.");
    ck_assert_int_eq(atomic_load(&ss.served), 2);
    pl_dlg_replay_deinit(&r);
    box_deinit(&b);
    pl_dlg_http_destroy(h);
    fx_deinit(&f);
    slow_stop(&ss);
}
END_TEST

/* Run f's turn on a fresh state with replay r (the pool's way): the status. */
static pl_status replay_run(struct fx *f, struct pl_dlg_replay *r, const char *text) {
    struct pl_dlg_turn_opts o = {&hooks_kb, f, r->now_ms, 0, 0, false, r};
    fresh_state(f);
    pl_dlg_replay_prepare(r, f->st);
    return pl_dlg_turn_run(f->spec, f->st, text, NULL, &o, &f->t);
}

/* The action event of f's turn named name. */
static json_t *action_named(struct fx *f, const char *name) {
    for (int i = 0; i < f->t.n_events; i++) {
        if (f->t.events[i].kind != PL_DLG_EV_ACTION) continue;
        json_t *a = json_loads(f->t.events[i].data, 0, NULL);
        if (!strcmp(jget(a, "name"), name)) return a;
        json_decref(a);
    }
    ck_abort_msg("no action event %s", name);
    return NULL;
}

/* With replay.defer_all (parley-dialog's action pool), a nats action and kb_answer stop the
 * turn as a webhook does (nothing sent: the caller makes the call without a thread waiting),
 * with the subject, timeout and request, or the question; run again with the outcome, the turn
 * is the one the blocking call gives: a reply, a timeout's apology, the knowledge base's
 * answer; a nats call then a webhook stop the turn twice and each is made once. */
START_TEST(test_defer_all_nats_and_kb) {
    struct fx f;
    fx_init(&f, closed_port());
    struct pl_dlg_replay r;
    pl_dlg_replay_init(&r);
    r.defer_all = true;
    r.now_ms = 5000;
    ck_assert_int_eq(replay_run(&f, &r, "both services"), PL_E_CANCELLED);
    ck_assert(f.t.calls_out);
    ck_assert_int_eq(r.pending_kind, PL_DLG_CALL_NATS);
    ck_assert_str_eq(r.pending_subject, "parley.action.order");
    ck_assert_int_eq(r.pending_timeout_ms, 500);
    ck_assert_int_eq(f.nats_calls, 0);
    json_t *rq = json_loads(r.pending_body, 0, NULL);
    ck_assert_str_eq(jget(rq, "action"), "nats");
    ck_assert_str_eq(jget(rq, "utterance"), "both services");
    json_decref(rq);
    ck_assert_int_eq(pl_dlg_replay_keep_ids(&r, f.st), PL_OK);
    struct pl_dlg_call c = {.st = PL_OK, .attempts = 1, .duration_ms = 1500};
    c.body = pl_strdup("{\"text\": \"Order 42 is on its way.\"}");
    c.len = strlen(c.body);
    ck_assert_int_eq(pl_dlg_replay_add(&r, &c), PL_OK);
    ck_assert_int_eq(replay_run(&f, &r, "both services"), PL_E_CANCELLED); /* the webhook */
    ck_assert_int_eq(r.pending_kind, PL_DLG_CALL_WEBHOOK);
    ck_assert_int_eq(r.pending, 0);
    c = (struct pl_dlg_call){.st = PL_E_TIMEOUT, .attempts = 2, .duration_ms = 800};
    snprintf(c.error, sizeof c.error, "webhook 'weather': no reply within 300 ms");
    ck_assert_int_eq(pl_dlg_replay_add(&r, &c), PL_OK);
    ck_assert_int_eq(replay_run(&f, &r, "both services"), PL_OK);
    ck_assert_int_eq(r.pending_kind, PL_DLG_CALL_NONE);
    ck_assert_int_eq(f.nats_calls, 0);
    ck_assert_int_eq(f.t.n_replies, 2);
    ck_assert_str_eq(f.t.replies[0].text, "Order 42 is on its way.");
    ck_assert_str_eq(f.t.replies[1].text, "Sorry, the weather service is not answering.");
    json_t *a = action_named(&f, "nats");
    ck_assert(json_is_true(json_object_get(a, "ok")));
    ck_assert_int_eq(json_integer_value(json_object_get(a, "duration_ms")), 1500);
    json_decref(a);
    /* a timeout: the apology, the error logged as the blocking call logs it */
    pl_dlg_replay_deinit(&r);
    pl_dlg_replay_init(&r);
    r.defer_all = true;
    ck_assert_int_eq(replay_run(&f, &r, "order"), PL_E_CANCELLED);
    ck_assert_int_eq(r.pending_kind, PL_DLG_CALL_NATS);
    c = (struct pl_dlg_call){.st = PL_E_TIMEOUT, .attempts = 1, .duration_ms = 500};
    snprintf(c.error, sizeof c.error, "nats 'parley.action.order': no reply within 500 ms");
    ck_assert_int_eq(pl_dlg_replay_add(&r, &c), PL_OK);
    ck_assert_int_eq(replay_run(&f, &r, "order"), PL_OK);
    ck_assert_str_eq(f.t.replies[0].text, "That did not work.");
    a = action_named(&f, "nats");
    ck_assert(json_is_false(json_object_get(a, "ok")));
    ck_assert_str_eq(jget(a, "error"), "nats 'parley.action.order': no reply within 500 ms");
    json_decref(a);
    /* the knowledge base: the question handed over, its answer said */
    pl_dlg_replay_deinit(&r);
    pl_dlg_replay_init(&r);
    r.defer_all = true;
    ck_assert_int_eq(replay_run(&f, &r, "what is the capital of france?"), PL_E_CANCELLED);
    ck_assert_int_eq(r.pending_kind, PL_DLG_CALL_KB);
    ck_assert_str_eq(r.pending_body, "what is the capital of france?");
    ck_assert_int_eq(f.kb_calls, 0);
    c = (struct pl_dlg_call){.st = PL_OK, .attempts = 1, .duration_ms = 1500};
    c.body = pl_strdup("Paris.");
    c.len = 6;
    ck_assert_int_eq(pl_dlg_replay_add(&r, &c), PL_OK);
    ck_assert_int_eq(replay_run(&f, &r, "what is the capital of france?"), PL_OK);
    ck_assert_int_eq(f.kb_calls, 0);
    ck_assert_int_eq(f.t.n_replies, 1);
    ck_assert_str_eq(f.t.replies[0].text, "Paris.");
    /* parley-qa failed: kb_unavailable, its error logged */
    pl_dlg_replay_deinit(&r);
    pl_dlg_replay_init(&r);
    r.defer_all = true;
    ck_assert_int_eq(replay_run(&f, &r, "what is the capital of france?"), PL_E_CANCELLED);
    c = (struct pl_dlg_call){.st = PL_E_TIMEOUT, .attempts = 1, .duration_ms = 5000};
    snprintf(c.error, sizeof c.error, "parley.qa.natural_query: DEADLINE_EXCEEDED: timed out");
    ck_assert_int_eq(pl_dlg_replay_add(&r, &c), PL_OK);
    ck_assert_int_eq(replay_run(&f, &r, "what is the capital of france?"), PL_OK);
    ck_assert_str_eq(f.t.replies[0].text, "Can't.");
    a = action_named(&f, "kb_answer");
    ck_assert_str_eq(jget(a, "error"), "parley.qa.natural_query: DEADLINE_EXCEEDED: timed out");
    json_decref(a);
    /* without defer_all the nats call is made in the run (blocking), kb_answer too */
    pl_dlg_replay_deinit(&r);
    pl_dlg_replay_init(&r);
    f.nats_reply = "{\"text\": \"Order 42 is on its way.\"}";
    ck_assert_int_eq(replay_run(&f, &r, "order"), PL_OK);
    ck_assert_int_eq(f.nats_calls, 1);
    pl_dlg_replay_deinit(&r);
    pl_dlg_replay_init(&r);
    ck_assert_int_eq(replay_run(&f, &r, "what is the capital of france?"), PL_OK);
    ck_assert_int_eq(f.kb_calls, 1);
    pl_dlg_replay_deinit(&r);
    fx_deinit(&f);
}
END_TEST

/* 100 calls to a webhook that answers after 1 s, all on the one I/O thread: they overlap
 * (about 1 s in all, not 100); a server that never answers: 2 attempts of 300 ms and the
 * backoff, as the blocking call; a refused port: 2 attempts at once; stopping with a call in
 * flight ends it (PL_E_CANCELLED). */
START_TEST(test_http_io_thread) {
    struct slow_srv ss;
    slow_start(&ss, 1000, "{\"text\": \"late\"}");
    struct fx f;
    fx_init(&f, ss.s.port);
    struct pl_dlg_http *h;
    ck_assert_int_eq(pl_dlg_http_create(&h), PL_OK);
    struct box b;
    box_init(&b);
    int64_t t0 = pl_time_mono_us();
    for (int i = 0; i < 100; i++) /* webhooks[2]: late, 3 s per attempt */
        pl_dlg_http_start(h, f.spec, 2, "{}", 0, on_done, &b);
    box_wait(&b, 100);
    int64_t ms = (pl_time_mono_us() - t0) / 1000;
    for (int i = 0; i < 100; i++) {
        ck_assert_msg(b.calls[i].st == PL_OK, "call %d: %s", i, b.calls[i].error);
        ck_assert_str_eq(b.calls[i].body, "{\"text\": \"late\"}");
        ck_assert_int_ge(b.calls[i].duration_ms, 990);
    }
    ck_assert_msg(ms >= 1000 && ms < 5000, "100 calls of 1 s took %lld ms", (long long)ms);
    fprintf(stderr, "dialog_http: 100 webhook calls of 1 s on one I/O thread: %lld ms\n",
            (long long)ms);
    ck_assert_int_eq(pl_dlg_http_in_flight(h), 0);
    box_deinit(&b);
    slow_stop(&ss);
    fx_deinit(&f);

    struct srv hang = {0};
    srv_start(&hang, false); /* accepts (backlog), never answers */
    fx_init(&f, hang.port);
    box_init(&b);
    t0 = pl_time_mono_us();
    pl_dlg_http_start(h, f.spec, 0, "{}", 0, on_done, &b);
    box_wait(&b, 1);
    ms = (pl_time_mono_us() - t0) / 1000;
    ck_assert_int_eq(b.calls[0].st, PL_E_TIMEOUT);
    ck_assert_int_eq(b.calls[0].attempts, 2);
    ck_assert_msg(strstr(b.calls[0].error, "no reply within 300 ms"), "%s", b.calls[0].error);
    ck_assert_msg(ms >= 650 && ms < 1500, "took %lld ms", (long long)ms);
    /* the turn's deadline cuts the attempts short */
    t0 = pl_time_mono_us();
    pl_dlg_http_start(h, f.spec, 0, "{}", pl_time_mono_us() + 150 * 1000, on_done, &b);
    box_wait(&b, 2);
    ms = (pl_time_mono_us() - t0) / 1000;
    ck_assert_int_eq(b.calls[1].st, PL_E_TIMEOUT);
    ck_assert_int_eq(b.calls[1].attempts, 1);
    ck_assert_msg(ms < 400, "took %lld ms", (long long)ms);
    /* stopping ends a call in flight, and a call started after it at once */
    pl_dlg_http_start(h, f.spec, 0, "{}", 0, on_done, &b);
    pl_sleep_ms(50);
    pl_dlg_http_stop(h);
    box_wait(&b, 3);
    ck_assert_int_eq(b.calls[2].st, PL_E_CANCELLED);
    ck_assert_msg(strstr(b.calls[2].error, "parley-dialog is stopping"), "%s", b.calls[2].error);
    pl_dlg_http_start(h, f.spec, 0, "{}", 0, on_done, &b);
    ck_assert_int_eq(b.n, 4); /* done before the start returned */
    ck_assert_int_eq(b.calls[3].st, PL_E_CANCELLED);
    ck_assert_int_eq(pl_dlg_http_in_flight(h), 0);
    pl_dlg_http_destroy(h);
    box_deinit(&b);
    fx_deinit(&f);
    close(hang.fd);

    ck_assert_int_eq(pl_dlg_http_create(&h), PL_OK);
    fx_init(&f, closed_port());
    box_init(&b);
    t0 = pl_time_mono_us();
    pl_dlg_http_start(h, f.spec, 0, "{}", 0, on_done, &b);
    pl_dlg_http_start(h, f.spec, 1, "{}", 0, on_done, &b); /* unset: at once, not configured */
    box_wait(&b, 2);
    ck_assert_int_lt((pl_time_mono_us() - t0) / 1000, 500);
    for (int i = 0; i < 2; i++) {
        const struct pl_dlg_call *c = &b.calls[i];
        if (c->unconfigured) {
            ck_assert_msg(strstr(c->error, "is not configured: set $PL_TEST_UNSET_URL"), "%s",
                          c->error);
        } else {
            ck_assert_int_eq(c->st, PL_E_UNAVAILABLE);
            ck_assert_int_eq(c->attempts, 2);
        }
    }
    ck_assert(b.calls[0].unconfigured != b.calls[1].unconfigured);
    box_deinit(&b);
    pl_dlg_http_destroy(h);
    fx_deinit(&f);
}
END_TEST

/* A server that reads each request and never answers; it counts the requests and notes when
 * the client closed each connection (pl_dlg_http_cancel's test). */
struct mute_srv {
    struct srv s;
    atomic_int requests, closed;
    _Atomic int64_t closed_us; /* the last close */
};

static void *mute_serve(void *ud) {
    struct mute_srv *m = ud;
    for (;;) {
        int fd = accept(m->s.fd, NULL, NULL);
        if (fd < 0) return NULL;
        char buf[4096];
        bool counted = false;
        while (read(fd, buf, sizeof buf) > 0) /* one request per connection: curl sends it whole */
            if (!counted) {
                counted = true;
                atomic_fetch_add(&m->requests, 1);
            }
        atomic_store(&m->closed_us, pl_time_mono_us());
        atomic_fetch_add(&m->closed, 1);
        close(fd);
    }
}

/* A cancelled call ends at once with PL_E_CANCELLED: its connection is closed (the server
 * sees EOF) and no retry follows (webhooks[0]: 300 ms an attempt, one retry after 100 ms);
 * a call cancelled as it starts ends too; cancelling a finished call, id 0 or after the stop
 * does nothing. */
START_TEST(test_http_cancel) {
    struct mute_srv m;
    memset(&m, 0, sizeof m);
    srv_start(&m.s, false);
    pthread_create(&m.s.th, NULL, mute_serve, &m);
    struct fx f;
    fx_init(&f, m.s.port);
    struct pl_dlg_http *h;
    ck_assert_int_eq(pl_dlg_http_create(&h), PL_OK);
    struct box b;
    box_init(&b);
    uint64_t id = pl_dlg_http_start(h, f.spec, 0, "{}", 0, on_done, &b);
    ck_assert(id != 0);
    int64_t until = pl_time_mono_us() + 2000 * 1000;
    while (atomic_load(&m.requests) < 1 && pl_time_mono_us() < until) pl_sleep_ms(2);
    ck_assert_int_eq(atomic_load(&m.requests), 1);
    int64_t t_cancel = pl_time_mono_us();
    pl_dlg_http_cancel(h, id);
    box_wait(&b, 1);
    ck_assert_int_eq(b.calls[0].st, PL_E_CANCELLED);
    ck_assert_msg(strstr(b.calls[0].error, "webhook 'weather': the turn was cancelled"), "%s",
                  b.calls[0].error);
    ck_assert_msg(b.done_us[0] - t_cancel < 200 * 1000, "done %lld ms after the cancel",
                  (long long)(b.done_us[0] - t_cancel) / 1000);
    ck_assert_int_eq(pl_dlg_http_in_flight(h), 0);
    until = pl_time_mono_us() + 2000 * 1000;
    while (atomic_load(&m.closed) < 1 && pl_time_mono_us() < until) pl_sleep_ms(2);
    ck_assert_int_eq(atomic_load(&m.closed), 1);
    int64_t closed_ms = (atomic_load(&m.closed_us) - t_cancel) / 1000;
    ck_assert_msg(closed_ms < 200, "the connection closed %lld ms after the cancel",
                  (long long)closed_ms);
    pl_sleep_ms(700); /* past the attempt's 300 ms and the 100 ms backoff */
    ck_assert_int_eq(atomic_load(&m.requests), 1);
    ck_assert_int_eq(b.n, 1);
    pl_dlg_http_cancel(h, id); /* finished: nothing */
    pl_dlg_http_cancel(h, 0);
    /* cancelled before the I/O thread has taken it */
    id = pl_dlg_http_start(h, f.spec, 2, "{}", 0, on_done, &b);
    pl_dlg_http_cancel(h, id);
    box_wait(&b, 2);
    ck_assert_int_eq(b.calls[1].st, PL_E_CANCELLED);
    ck_assert_int_eq(pl_dlg_http_in_flight(h), 0);
    fprintf(stderr, "dialog_http: a cancelled call: its connection closed %lld ms after the "
            "cancel\n", (long long)closed_ms);
    pl_dlg_http_stop(h);
    pl_dlg_http_cancel(h, id + 1); /* stopped: nothing */
    pl_dlg_http_destroy(h);
    ck_assert_int_eq(b.n, 2);
    box_deinit(&b);
    fx_deinit(&f);
    shutdown(m.s.fd, SHUT_RDWR);
    close(m.s.fd);
    pthread_join(m.s.th, NULL);
}
END_TEST

Suite *pl_dialog_actions_suite(void) {
    Suite *s = suite_create("dialog_actions");
    TCase *tc = tcase_create("actions");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_external_spec_errors);
    tcase_add_test(tc, test_webhook_over_http);
    tcase_add_test(tc, test_webhook_hangs_refused_unconfigured);
    tcase_add_test(tc, test_nats_action);
    tcase_add_test(tc, test_local_only_stops_at_calls_out);
    tcase_add_test(tc, test_webhook_replay_on_io_thread);
    tcase_add_test(tc, test_defer_all_nats_and_kb);
    tcase_add_test(tc, test_http_io_thread);
    tcase_add_test(tc, test_http_cancel);
    suite_add_tcase(s, tc);
    return s;
}
