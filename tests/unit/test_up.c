/* test_up.c - parley up/status helpers: state file round trip and errors, probes, free ports. */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "up.h"

START_TEST(state_roundtrip) {
    char dir[] = "/tmp/pl_up_test_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, PL_UP_STATE_FILE);
    struct pl_up_entry in[4] = {
        {"up", 100, 0, "-", false},
        {"nats", 101, 0, "nats://127.0.0.1:4222", false},
        {"gateway", 102, 8090, "127.0.0.1:50051", true}, /* gateway.http_tls */
        {"asr", 103, 8091, "-", false},
    };
    ck_assert_int_eq(pl_up_state_write(path, in, 4), PL_OK);
    struct pl_up_entry out[8];
    size_t n = 0;
    ck_assert_int_eq(pl_up_state_read(path, out, 8, &n), PL_OK);
    ck_assert_uint_eq(n, 4);
    for (int i = 0; i < 4; i++) {
        ck_assert_str_eq(out[i].name, in[i].name);
        ck_assert_int_eq(out[i].pid, in[i].pid);
        ck_assert_int_eq(out[i].http_port, in[i].http_port);
        ck_assert_str_eq(out[i].endpoint, in[i].endpoint);
        ck_assert_int_eq(out[i].http_tls, in[i].http_tls);
        ck_assert_str_eq(pl_up_http_scheme(&out[i]), in[i].http_tls ? "https" : "http");
    }
    /* a line without the https column (a file of an older parley up) is plain HTTP */
    FILE *f = fopen(path, "w");
    fputs("up\t100\t0\t-\ngateway\t102\t8090\t127.0.0.1:50051\n", f);
    fclose(f);
    ck_assert_int_eq(pl_up_state_read(path, out, 8, &n), PL_OK);
    ck_assert_uint_eq(n, 2);
    ck_assert(!out[1].http_tls);
    ck_assert_int_eq(out[1].http_port, 8090);
    f = fopen(path, "w");
    fputs("gateway\t102\t8090\t127.0.0.1:50051\ttls\n", f);
    fclose(f);
    ck_assert_int_eq(pl_up_state_read(path, out, 8, &n), PL_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(pl_last_error(), ":1:"));
    ck_assert_int_eq(pl_up_state_write(path, in, 4), PL_OK);
    /* cap respected */
    ck_assert_int_eq(pl_up_state_read(path, out, 2, &n), PL_OK);
    ck_assert_uint_eq(n, 2);
    f = fopen(path, "w");
    fputs("up\t100\t0\t-\ngarbage line\n", f);
    fclose(f);
    ck_assert_int_eq(pl_up_state_read(path, out, 8, &n), PL_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(pl_last_error(), ":2:"));
    unlink(path);
    ck_assert_int_eq(pl_up_state_read(path, out, 8, &n), PL_E_IO);
    ck_assert_int_eq(pl_up_state_write("/nonexistent/dir/x", in, 1), PL_E_IO);
    rmdir(dir);
}
END_TEST

START_TEST(probes) {
    ck_assert(pl_up_alive(getpid()));
    ck_assert(!pl_up_alive(0));
    /* port 1 on loopback: nothing listens (and we are not root-bound there) */
    ck_assert_int_eq(pl_up_http_get(1, "/readyz", 300), -1);
    ck_assert(!pl_up_tcp_open(1, 300));
    struct pl_up_entry tls = {"gateway", 1, 1, "-", true}, plain = {"gateway", 1, 1, "-", false};
    ck_assert_int_eq(pl_up_readyz(&tls, 300), -1);
    ck_assert_int_eq(pl_up_readyz(&plain, 300), -1);
    /* a port that accepts connections but never answers HTTP (as a TLS port does not answer a
     * plain GET): ready when marked TLS, no answer over plain HTTP */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(listen(fd, 8), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    tls.http_port = plain.http_port = ntohs(a.sin_port);
    ck_assert_int_eq(pl_up_readyz(&tls, 300), 200);
    ck_assert_int_eq(pl_up_readyz(&plain, 300), -1);
    ck_assert(!pl_up_port_free(tls.http_port)); /* held: parley up gives a service the next */
    close(fd);
    ck_assert(pl_up_port_free(tls.http_port));
}
END_TEST

START_TEST(parse) {
    ck_assert_int_eq(pl_up_parse_int("4222", 1, 65535), 4222);
    ck_assert_int_eq(pl_up_parse_int("8,64", 1, 100), 8);
    ck_assert_int_eq(pl_up_parse_int("0", 1, 65535), -1);
    ck_assert_int_eq(pl_up_parse_int("70000", 1, 65535), -1);
    ck_assert_int_eq(pl_up_parse_int("12ab", 1, 65535), -1);
    ck_assert_int_eq(pl_up_parse_int("", 1, 65535), -1);
    ck_assert_int_eq(pl_up_endpoint_port("nats://127.0.0.1:4222"), 4222);
    ck_assert_int_eq(pl_up_endpoint_port("127.0.0.1:50051"), 50051);
    ck_assert_int_eq(pl_up_endpoint_port("-"), -1);
}
END_TEST

Suite *pl_up_suite(void) {
    Suite *s = suite_create("up");
    TCase *t = tcase_create("core");
    tcase_add_test(t, state_roundtrip);
    tcase_add_test(t, probes);
    tcase_add_test(t, parse);
    suite_add_tcase(s, t);
    return s;
}
