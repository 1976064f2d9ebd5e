/* test_metrics.c - Prometheus registry rendering and the HTTP side port. */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "alloc.h"
#include "httpd.h"
#include "nrpc_metrics.h"

static char *render(struct pl_metrics *m) {
    struct pl_strbuf sb;
    pl_strbuf_init(&sb);
    ck_assert_int_eq(pl_metrics_render(m, &sb), PL_OK);
    return pl_strbuf_detach(&sb);
}

START_TEST(test_counters_gauges) {
    struct pl_metrics *m = NULL;
    ck_assert_int_eq(pl_metrics_create(&m), PL_OK);
    struct pl_metric *a = pl_metrics_counter(m, "parley_x_total", "Things", "rpc=\"a\"");
    struct pl_metric *b = pl_metrics_counter(m, "parley_x_total", "Things", "rpc=\"b\"");
    ck_assert_ptr_eq(a, pl_metrics_counter(m, "parley_x_total", "ignored", "rpc=\"a\""));
    pl_metric_add(a, 2);
    pl_metric_add(a, 1.5);
    pl_metric_add(a, -10); /* counters never go down */
    pl_metric_add(b, 1);
    struct pl_metric *g = pl_metrics_gauge(m, "parley_g", "A gauge", NULL);
    pl_metric_set(g, 7);
    pl_metric_add(g, -2);
    /* same name, other type: refused, and updates through NULL are ignored */
    ck_assert_ptr_null(pl_metrics_gauge(m, "parley_x_total", "x", NULL));
    pl_metric_add(NULL, 1);
    pl_metric_observe(NULL, 1);
    ck_assert(pl_metric_value(a) == 3.5);
    ck_assert(pl_metric_value(g) == 5);
    char *s = render(m);
    ck_assert_str_eq(s, "# HELP parley_x_total Things\n# TYPE parley_x_total counter\n"
                        "parley_x_total{rpc=\"a\"} 3.5\nparley_x_total{rpc=\"b\"} 1\n"
                        "# HELP parley_g A gauge\n# TYPE parley_g gauge\nparley_g 5\n");
    pl_free(s);
    pl_metrics_destroy(m);
}
END_TEST

START_TEST(test_histogram) {
    struct pl_metrics *m = NULL;
    ck_assert_int_eq(pl_metrics_create(&m), PL_OK);
    static const double bounds[] = {1, 10, 100};
    struct pl_metric *h = pl_metrics_histogram(m, "parley_h", "Hist", "model=\"m\"", bounds, 3);
    pl_metric_observe(h, 0.5);
    pl_metric_observe(h, 1);
    pl_metric_observe(h, 50);
    pl_metric_observe(h, 1000);
    char *s = render(m);
    ck_assert_str_eq(s, "# HELP parley_h Hist\n# TYPE parley_h histogram\n"
                        "parley_h_bucket{model=\"m\",le=\"1\"} 2\n"
                        "parley_h_bucket{model=\"m\",le=\"10\"} 2\n"
                        "parley_h_bucket{model=\"m\",le=\"100\"} 3\n"
                        "parley_h_bucket{model=\"m\",le=\"+Inf\"} 4\n"
                        "parley_h_sum{model=\"m\"} 1051.5\n"
                        "parley_h_count{model=\"m\"} 4\n");
    pl_free(s);
    ck_assert(pl_metric_value(h) == 4);
    pl_metrics_destroy(m);
}
END_TEST

START_TEST(test_std_series) {
    struct pl_metrics *m = NULL;
    ck_assert_int_eq(pl_metrics_create(&m), PL_OK);
    struct pl_metrics_model mm, again;
    ck_assert_int_eq(pl_metrics_std_model(m, "bert", &mm), PL_OK);
    ck_assert_int_eq(pl_metrics_std_model(m, "bert", &again), PL_OK);
    ck_assert_ptr_eq(mm.batch_size, again.batch_size);
    pl_metric_observe(mm.batch_size, 3);
    pl_metric_set(mm.ready, 1);
    pl_metrics_std_request(m, "bert", "analyze_intent", 0);
    pl_metrics_std_request(m, "bert", "analyze_intent", 0);
    pl_metrics_std_request(m, "bert", "analyze_intent", 3);
    void *block = pl_malloc(12345);
    char *s = render(m);
    ck_assert_ptr_nonnull(
        strstr(s, "parley_request_success_total{model=\"bert\",rpc=\"analyze_intent\"} 2\n"));
    ck_assert_ptr_nonnull(
        strstr(s, "parley_request_failure_total{model=\"bert\",rpc=\"analyze_intent\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(s, "parley_batch_size_bucket{model=\"bert\",le=\"4\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(s, "parley_batch_size_bucket{model=\"bert\",le=\"2\"} 0\n"));
    ck_assert_ptr_nonnull(strstr(s, "parley_model_ready{model=\"bert\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(s, "# TYPE parley_queue_duration_us histogram\n"));
    ck_assert_ptr_nonnull(strstr(s, "# TYPE parley_compute_duration_us histogram\n"));
    ck_assert_ptr_nonnull(strstr(s, "# TYPE parley_inference_count counter\n"));
    ck_assert_ptr_nonnull(strstr(s, "# TYPE parley_execution_count counter\n"));
    ck_assert_ptr_nonnull(strstr(s, "parley_active_streams{model=\"bert\"} 0\n"));
    const char *mem = strstr(s, "\nparley_memory_bytes ");
    ck_assert_ptr_nonnull(mem);
    ck_assert_int_ge(atoll(mem + 21), 12345); /* collected at render time */
    pl_free(s);
    pl_free(block);
    pl_metrics_destroy(m);
}
END_TEST

START_TEST(test_create_oom) {
    for (int k = 0; k < 400; k++) {
        struct pl_metrics *m = NULL;
        pl_alloc_fail_after(k);
        pl_status st = pl_metrics_create(&m);
        struct pl_metrics_model mm;
        if (st == PL_OK) st = pl_metrics_std_model(m, "x", &mm);
        pl_alloc_fail_after(-1);
        pl_metrics_destroy(m);
        if (st == PL_OK) return;
        ck_assert_int_eq(st, PL_E_NOMEM);
    }
    ck_abort_msg("never succeeded");
}
END_TEST

static int handler(void *ud, const char *method, const char *path, struct pl_strbuf *body,
                   const char **content_type) {
    (void)ud;
    (void)method;
    if (strcmp(path, "/hello") == 0) {
        *content_type = "text/x-test";
        pl_strbuf_append(body, "hi there\n");
        return 200;
    }
    pl_strbuf_append(body, "nope\n");
    return 404;
}

static int request(int port, const char *raw, char *out, size_t cap) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(write(fd, raw, strlen(raw)), (ssize_t)strlen(raw));
    size_t len = 0;
    ssize_t r;
    while (len + 1 < cap && (r = read(fd, out + len, cap - 1 - len)) > 0) len += (size_t)r;
    out[len] = 0;
    close(fd);
    int minor = 0, code = 0;
    sscanf(out, "HTTP/1.%d %d", &minor, &code);
    return code;
}

START_TEST(test_httpd) {
    struct pl_httpd *h = NULL;
    ck_assert_int_eq(pl_httpd_create("127.0.0.1", 0, handler, NULL, &h), PL_OK);
    int port = pl_httpd_port(h);
    ck_assert_int_gt(port, 0);
    char out[4096];
    ck_assert_int_eq(request(port, "GET /hello?x=1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
                             out, sizeof out),
                     200);
    ck_assert_ptr_nonnull(strcasestr(out, "Content-Type: text/x-test\r\n"));
    ck_assert_ptr_nonnull(strcasestr(out, "Content-Length: 9\r\n"));
    ck_assert_ptr_nonnull(strstr(out, "\r\n\r\nhi there\n"));
    ck_assert_int_eq(request(port, "HEAD /hello HTTP/1.1\r\nConnection: close\r\n\r\n", out, sizeof out),
                     200);
    ck_assert_ptr_nonnull(strcasestr(out, "Content-Length: 9\r\n"));
    ck_assert_ptr_null(strstr(out, "hi there"));
    ck_assert_int_eq(request(port, "GET /other HTTP/1.1\r\nConnection: close\r\n\r\n", out, sizeof out),
                     404);
    ck_assert_int_eq(request(port, "POST /hello HTTP/1.1\r\nConnection: close\r\n\r\n", out, sizeof out),
                     405);
    /* a malformed request is refused by the HTTP parser with a 4xx, the server goes on */
    int code = request(port, "garbage\r\n\r\n", out, sizeof out);
    ck_assert_msg(code >= 400 && code < 500, "garbage got %d", code);
    /* keep-alive: two requests on one connection */
    ck_assert_int_eq(request(port, "GET /hello HTTP/1.1\r\n\r\nGET /hello HTTP/1.1\r\nConnection: close\r\n\r\n",
                             out, sizeof out), 200);
    ck_assert_ptr_nonnull(strstr(strstr(out, "hi there\n") + 1, "hi there\n"));
    /* the port is taken now */
    struct pl_httpd *h2 = NULL;
    ck_assert_int_eq(pl_httpd_create("127.0.0.1", port, handler, NULL, &h2), PL_E_IO);
    ck_assert_int_eq(pl_httpd_create("not-an-ip", 0, handler, NULL, &h2), PL_E_INVALID_ARG);
    pl_httpd_destroy(h);
}
END_TEST

Suite *pl_metrics_suite(void) {
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_counters_gauges);
    tcase_add_test(tc, test_histogram);
    tcase_add_test(tc, test_std_series);
    tcase_add_test(tc, test_create_oom);
    tcase_add_test(tc, test_httpd);
    suite_add_tcase(s, tc);
    return s;
}
