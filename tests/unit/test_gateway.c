/* test_gateway.c - parley-gateway pieces: API keys, config, addresses, and an
 * in-process gateway answering over real gRPC with NATS down (health
 * NOT_SERVING, UNIMPLEMENTED, UNAVAILABLE, UNAUTHENTICATED, INVALID_ARGUMENT). */
#include <check.h>
#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "gateway.h"
#include "gateway_auth.h"
#include "test_grpc.h"

pl_status pl__gw_split_hostport(const char *s, char *host, size_t hcap, int *port);
const char *pl__gw_name_problem(const char *s, size_t n, char *buf, size_t cap);
void pl__gw_peer_addr(const char *peer, char *out, size_t cap);

static const char KEYS[] = "# comment\n"
                           "\n"
                           "  sk-alice-0123456789 alice\r\n"
                           "sk-bob-abcdefgh\n";

START_TEST(keys_parse_and_check) {
    struct pl_gw_keys *k = NULL;
    ck_assert_int_eq(pl_gw_keys_parse(KEYS, strlen(KEYS), "keys", &k), PL_OK);
    ck_assert_uint_eq(pl_gw_keys_count(k), 2);
    const char *v = "Bearer sk-alice-0123456789";
    ck_assert_str_eq(pl_gw_keys_check(k, v, strlen(v)), "alice");
    v = "sk-alice-0123456789";
    ck_assert_str_eq(pl_gw_keys_check(k, v, strlen(v)), "alice");
    v = "bearer sk-bob-abcdefgh";
    ck_assert_str_eq(pl_gw_keys_check(k, v, strlen(v)), "key4");
    v = "sk-alice-012345678";
    ck_assert_ptr_null(pl_gw_keys_check(k, v, strlen(v)));
    v = "Bearer sk-alice-0123456789x";
    ck_assert_ptr_null(pl_gw_keys_check(k, v, strlen(v)));
    ck_assert_ptr_null(pl_gw_keys_check(k, NULL, 0));
    ck_assert_ptr_null(pl_gw_keys_check(k, "", 0));
    pl_gw_keys_destroy(k);
}
END_TEST

START_TEST(keys_errors) {
    struct pl_gw_keys *k = (struct pl_gw_keys *)1;
    ck_assert_int_eq(pl_gw_keys_parse("short\n", 6, "k.txt", &k), PL_E_INVALID_ARG);
    ck_assert_ptr_null(k);
    ck_assert_ptr_nonnull(strstr(pl_last_error(), "k.txt:1"));
    const char *t = "sk-0123456789 user extra\n";
    ck_assert_int_eq(pl_gw_keys_parse(t, strlen(t), "k.txt", &k), PL_E_INVALID_ARG);
    t = "# only comments\n\n";
    ck_assert_int_eq(pl_gw_keys_parse(t, strlen(t), "k.txt", &k), PL_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(pl_last_error(), "no API key"));
    ck_assert_int_eq(pl_gw_keys_load("/nonexistent/keys", &k), PL_E_IO);
}
END_TEST

START_TEST(keys_oom) {
    for (int64_t n = 0; n < 20; n++) {
        struct pl_gw_keys *k = NULL;
        pl_alloc_fail_after(n);
        pl_status st = pl_gw_keys_parse(KEYS, strlen(KEYS), "keys", &k);
        pl_alloc_fail_after(-1);
        if (st == PL_OK) {
            ck_assert_uint_eq(pl_gw_keys_count(k), 2);
            pl_gw_keys_destroy(k);
            return;
        }
        ck_assert_int_eq(st, PL_E_NOMEM);
        ck_assert_ptr_null(k);
    }
    ck_abort_msg("keys parse never succeeded");
}
END_TEST

START_TEST(keys_limits) {
    const char *t = "sk-alice-0123456789 alice rate=2.5 burst=4 max_calls=3\n"
                    "sk-bob-0123456789 max_calls=0\n"
                    "sk-carol-0123456789 carol\n";
    struct pl_gw_keys *k = NULL;
    ck_assert_int_eq(pl_gw_keys_parse(t, strlen(t), "k.txt", &k), PL_OK);
    ck_assert_uint_eq(pl_gw_keys_count(k), 3);
    struct pl_gw_key_limits l = pl_gw_keys_limits(k, 0);
    ck_assert(l.rate == 2.5 && l.burst == 4 && l.max_calls == 3);
    ck_assert_str_eq(pl_gw_keys_user(k, 0), "alice");
    l = pl_gw_keys_limits(k, 1);
    ck_assert(l.rate == -1 && l.burst == -1 && l.max_calls == 0);
    ck_assert_str_eq(pl_gw_keys_user(k, 1), "key2");
    l = pl_gw_keys_limits(k, 2);
    ck_assert(l.rate == -1 && l.burst == -1 && l.max_calls == -1);
    const char *v = "Bearer sk-carol-0123456789";
    ck_assert_int_eq(pl_gw_keys_find(k, v, strlen(v)), 2);
    ck_assert_int_eq(pl_gw_keys_find(k, "nope", 4), -1);
    pl_gw_keys_destroy(k);
    static const char *const bad[] = {
        "sk-0123456789 u rate=-1\n",   "sk-0123456789 u burst=0\n",
        "sk-0123456789 u max_calls=x\n", "sk-0123456789 rate=1 alice\n",
        "sk-0123456789 u speed=3\n",   "sk-0123456789 u rate=\n",
        "sk-0123456789 u rate=1e9\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(pl_gw_keys_parse(bad[i], strlen(bad[i]), "k.txt", &k), PL_E_INVALID_ARG);
        ck_assert_ptr_nonnull(strstr(pl_last_error(), "k.txt:1"));
    }
}
END_TEST

START_TEST(names) {
    char buf[64];
    static const char *const ok[] = {"", "punct", "English-US.Female-1", "intent-int8",
                                     "asr.recognize", "a:b@c+d_e", "0123456789abcdef"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        ck_assert_ptr_null(pl__gw_name_problem(ok[i], strlen(ok[i]), buf, sizeof buf));
    static const char *const bad[] = {"../x", "/etc/passwd", "a/b", "a\\b", "..", ".x", "a..b",
                                      "a b", "x.*", "x.>", "a\tb", "caf\xc3\xa9"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(pl__gw_name_problem(bad[i], strlen(bad[i]), buf, sizeof buf), "%s", bad[i]);
    ck_assert_str_eq(pl__gw_name_problem("a\0b", 3, buf, sizeof buf), "contains a NUL byte");
    char longname[130];
    memset(longname, 'a', sizeof longname);
    ck_assert_ptr_null(pl__gw_name_problem(longname, 128, buf, sizeof buf));
    ck_assert_ptr_nonnull(strstr(pl__gw_name_problem(longname, 129, buf, sizeof buf), "longer"));
    pl__gw_peer_addr("ipv4:10.1.2.3:5312", buf, sizeof buf);
    ck_assert_str_eq(buf, "10.1.2.3");
    pl__gw_peer_addr("ipv6:[::1]:5312", buf, sizeof buf);
    ck_assert_str_eq(buf, "[::1]");
    pl__gw_peer_addr("unix:/tmp/s", buf, sizeof buf);
    ck_assert_str_eq(buf, "unix:/tmp/s");
}
END_TEST

START_TEST(hostport) {
    char h[64];
    int p = -1;
    ck_assert_int_eq(pl__gw_split_hostport("127.0.0.1:8090", h, sizeof h, &p), PL_OK);
    ck_assert_str_eq(h, "127.0.0.1");
    ck_assert_int_eq(p, 8090);
    ck_assert_int_eq(pl__gw_split_hostport("[::1]:0", h, sizeof h, &p), PL_OK);
    ck_assert_str_eq(h, "::1");
    ck_assert_int_eq(p, 0);
    ck_assert_int_eq(pl__gw_split_hostport("nohost", h, sizeof h, &p), PL_E_INVALID_ARG);
    ck_assert_int_eq(pl__gw_split_hostport("h:99999", h, sizeof h, &p), PL_E_INVALID_ARG);
    ck_assert_int_eq(pl__gw_split_hostport("h:12x", h, sizeof h, &p), PL_E_INVALID_ARG);
}
END_TEST

static char *write_tmp(const char *text) {
    char *path = pl_strdup("/tmp/pl_gw_test_XXXXXX");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

START_TEST(config_load) {
    char *path = write_tmp("{\"gateway\": {\"listen\": \"127.0.0.1:0\", \"max_receive_bytes\": 2048},"
                           " \"nlu\": {\"anything\": 1}}");
    struct pl_gw_config c;
    ck_assert_int_eq(pl_gw_config_load(path, &c), PL_OK);
    ck_assert_str_eq(c.listen, "127.0.0.1:0");
    ck_assert_int_eq(c.max_receive_bytes, 2048);
    ck_assert_int_eq(c.request_timeout_ms, 30000);
    ck_assert(c.validate_requests);
    pl_gw_config_deinit(&c);
    setenv("PARLEY_GATEWAY_LISTEN", "127.0.0.1:7", 1);
    ck_assert_int_eq(pl_gw_config_load(path, &c), PL_OK);
    ck_assert_str_eq(c.listen, "127.0.0.1:7");
    pl_gw_config_deinit(&c);
    unsetenv("PARLEY_GATEWAY_LISTEN");
    unlink(path);
    pl_free(path);

    path = write_tmp("{\"gateway\": {\"tls_cert\": \"/x.pem\"}}");
    ck_assert_int_eq(pl_gw_config_load(path, &c), PL_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(pl_last_error(), "tls_key"));
    unlink(path);
    pl_free(path);
    path = write_tmp("{\"gateway\": {\"listne\": \"x\"}}");
    ck_assert_int_eq(pl_gw_config_load(path, &c), PL_E_INVALID_ARG);
    unlink(path);
    pl_free(path);
    /* The shipped config loads. */
    char shipped[1024];
    const char *src = getenv("PARLEY_SOURCE_DIR");
    snprintf(shipped, sizeof shipped, "%s/config/parley.json", src ? src : ".");
    ck_assert_msg(pl_gw_config_load(shipped, &c) == PL_OK, "%s", pl_last_error());
    ck_assert_str_eq(c.listen, "127.0.0.1:50051");
    pl_gw_config_deinit(&c);
}
END_TEST

/* ---- an in-process gateway over real gRPC, NATS unreachable ------------------------------- */

static void *run_gw(void *gw) {
    pl_gw_run(gw);
    return NULL;
}

/* Unary call on a fresh channel; returns the status code, or 100 + the health status byte
 * of an OK answer (100 when there is none). */
static int call(int port, const char *path, const void *req, size_t n, const char *auth,
                char *details, size_t dcap) {
    struct pl_test_grpc g;
    pl_test_grpc_open_port(&g, port);
    grpc_metadata md = {grpc_slice_from_static_string("authorization"),
                        grpc_slice_from_copied_string(auth ? auth : ""), {{NULL, NULL, NULL, NULL}}};
    grpc_byte_buffer *resp = NULL;
    int st = pl_test_grpc_unary(&g, path, req, n, auth ? &md : NULL, 1, 10000, &resp, details,
                                dcap);
    ck_assert_int_ge(st, 0);
    /* health answers carry one varint status: 08 NN */
    int health = -1;
    if (resp) {
        grpc_slice all = pl_test_grpc_slice(resp);
        if (GRPC_SLICE_LENGTH(all) == 2) health = GRPC_SLICE_START_PTR(all)[1];
        grpc_slice_unref(all);
        grpc_byte_buffer_destroy(resp);
    }
    grpc_slice_unref(md.value);
    pl_test_grpc_close(&g);
    return st == GRPC_STATUS_OK ? 100 + (health < 0 ? 0 : health) : st;
}

static struct pl_gw *start_gw(const char *keys_file, pthread_t *th) {
    struct pl_gw_config c;
    ck_assert_int_eq(pl_gw_config_load(NULL, &c), PL_OK);
    pl_free(c.listen);
    c.listen = pl_strdup("127.0.0.1:0");
    pl_free(c.http_listen);
    c.http_listen = pl_strdup("127.0.0.1:0");
    pl_free(c.nats_url);
    c.nats_url = pl_strdup("nats://127.0.0.1:1"); /* nothing listens there */
    pl_free(c.api_keys_file);
    c.api_keys_file = pl_strdup(keys_file ? keys_file : "");
    c.max_receive_bytes = 4096;
    struct pl_gw *gw = NULL;
    pl_status st = pl_gw_create(&c, &gw);
    pl_gw_config_deinit(&c);
    ck_assert_msg(st == PL_OK, "%s", pl_last_error());
    ck_assert_int_gt(pl_gw_grpc_port(gw), 0);
    ck_assert_int_gt(pl_gw_http_port(gw), 0);
    ck_assert_int_eq(pthread_create(th, NULL, run_gw, gw), 0);
    return gw;
}

static void stop_gw(struct pl_gw *gw, pthread_t th) {
    pl_gw_stop(gw);
    pthread_join(th, NULL);
    pl_gw_destroy(gw);
}

#define PUNCT "/nvidia.riva.nlp.RivaLanguageUnderstanding/PunctuateText"
#define HEALTH "/grpc.health.v1.Health/Check"

START_TEST(gateway_without_nats) {
    pthread_t th;
    struct pl_gw *gw = start_gw(NULL, &th);
    int port = pl_gw_grpc_port(gw);
    char det[256];
    /* whole server: NOT_SERVING (2) while NATS is down */
    ck_assert_int_eq(call(port, HEALTH, "", 0, NULL, det, sizeof det), 102);
    const char svc[] = "\x0a\x29nvidia.riva.nlp.RivaLanguageUnderstanding";
    ck_assert_int_eq(call(port, HEALTH, svc, sizeof svc - 1, NULL, det, sizeof det), 102);
    const char unknown[] = "\x0a\x03xyz";
    ck_assert_int_eq(call(port, HEALTH, unknown, sizeof unknown - 1, NULL, det, sizeof det),
                     GRPC_STATUS_NOT_FOUND);
    ck_assert_int_eq(call(port, "/no.Such/Method", "", 0, NULL, det, sizeof det),
                     GRPC_STATUS_UNIMPLEMENTED);
    ck_assert_ptr_nonnull(strstr(det, "/no.Such/Method"));
    /* valid TextTransformRequest{text:["hi"]}: no NATS -> UNAVAILABLE, never a made-up answer */
    ck_assert_int_eq(call(port, PUNCT, "\x0a\x02hi", 4, NULL, det, sizeof det),
                     GRPC_STATUS_UNAVAILABLE);
    /* truncated field -> INVALID_ARGUMENT naming the type */
    ck_assert_int_eq(call(port, PUNCT, "\x0a\x09hi", 4, NULL, det, sizeof det),
                     GRPC_STATUS_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(det, "TextTransformRequest"));
    /* over max_receive_bytes (4096) -> RESOURCE_EXHAUSTED */
    static char big[8192];
    big[0] = 0x0a;
    big[1] = (char)0xfd;
    big[2] = 0x3f;
    ck_assert_int_eq(call(port, PUNCT, big, sizeof big, NULL, det, sizeof det),
                     GRPC_STATUS_RESOURCE_EXHAUSTED);
    stop_gw(gw, th);
}
END_TEST

START_TEST(gateway_api_keys) {
    char *keys = write_tmp("sk-test-0123456789 tester\n");
    pthread_t th;
    struct pl_gw *gw = start_gw(keys, &th);
    int port = pl_gw_grpc_port(gw);
    char det[256];
    ck_assert_int_eq(call(port, PUNCT, "\x0a\x02hi", 4, NULL, det, sizeof det),
                     GRPC_STATUS_UNAUTHENTICATED);
    ck_assert_int_eq(call(port, PUNCT, "\x0a\x02hi", 4, "Bearer wrong-key-123", det, sizeof det),
                     GRPC_STATUS_UNAUTHENTICATED);
    ck_assert_int_eq(call(port, PUNCT, "\x0a\x02hi", 4, "Bearer sk-test-0123456789", det, sizeof det),
                     GRPC_STATUS_UNAVAILABLE);
    ck_assert_int_eq(call(port, PUNCT, "\x0a\x02hi", 4, "sk-test-0123456789", det, sizeof det),
                     GRPC_STATUS_UNAVAILABLE);
    stop_gw(gw, th);
    unlink(keys);
    pl_free(keys);
}
END_TEST

START_TEST(gateway_bad_setup) {
    struct pl_gw_config c;
    ck_assert_int_eq(pl_gw_config_load(NULL, &c), PL_OK);
    pl_free(c.api_keys_file);
    c.api_keys_file = pl_strdup("/nonexistent/keys.txt");
    pl_free(c.listen);
    c.listen = pl_strdup("127.0.0.1:0");
    pl_free(c.http_listen);
    c.http_listen = pl_strdup("127.0.0.1:0");
    struct pl_gw *gw = (struct pl_gw *)1;
    ck_assert_int_eq(pl_gw_create(&c, &gw), PL_E_IO);
    ck_assert_ptr_null(gw);
    pl_free(c.api_keys_file);
    c.api_keys_file = pl_strdup("");
    pl_free(c.listen);
    c.listen = pl_strdup("not an address");
    ck_assert_int_eq(pl_gw_create(&c, &gw), PL_E_IO);
    pl_gw_config_deinit(&c);
}
END_TEST

Suite *pl_gateway_suite(void) {
    Suite *s = suite_create("gateway");
    TCase *t = tcase_create("core");
    tcase_set_timeout(t, 60);
    tcase_add_test(t, keys_parse_and_check);
    tcase_add_test(t, keys_errors);
    tcase_add_test(t, keys_oom);
    tcase_add_test(t, keys_limits);
    tcase_add_test(t, names);
    tcase_add_test(t, hostport);
    tcase_add_test(t, config_load);
    tcase_add_test(t, gateway_without_nats);
    tcase_add_test(t, gateway_api_keys);
    tcase_add_test(t, gateway_bad_setup);
    suite_add_tcase(s, t);
    return s;
}
