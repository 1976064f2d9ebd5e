/* test_config.c - pl_config_load: layers, every error, describe, OOM loop. */
#include <check.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "config.h"

struct tcfg {
    char *listen;
    int64_t max_bytes;
    double temperature;
    bool tls;
    char *model; /* required */
    int64_t workers;
    char *empty_default;
};

static const struct pl_config_field fields[] = {
    {"gw", "listen", PL_CONFIG_STRING, offsetof(struct tcfg, listen), "127.0.0.1:50051", 0, 0,
     "gRPC listen address"},
    {"gw", "max_bytes", PL_CONFIG_INT, offsetof(struct tcfg, max_bytes), "67108864", 1024,
     1 << 30, "largest message"},
    {"gw", "temperature", PL_CONFIG_DOUBLE, offsetof(struct tcfg, temperature), "0.5", 0.0, 2.0,
     "sampling temperature"},
    {"gw", "tls", PL_CONFIG_BOOL, offsetof(struct tcfg, tls), "false", 0, 0, "serve TLS"},
    {"nlu", "model", PL_CONFIG_STRING, offsetof(struct tcfg, model), NULL, 0, 0, "model dir"},
    {"nlu", "workers", PL_CONFIG_INT, offsetof(struct tcfg, workers), "-3", 1, 0,
     "unbounded int"},
    {"nlu", "empty-default", PL_CONFIG_STRING, offsetof(struct tcfg, empty_default), "", 0, 0,
     NULL},
};
#define NF PL_ARRAY_LEN(fields)

static char tmp_path[256];

/* Write text to a fresh temporary file; its path is in tmp_path. */
static const char *write_tmp(const char *text) {
    const char *dir = getenv("TMPDIR");
    snprintf(tmp_path, sizeof tmp_path, "%s/pl_cfg_XXXXXX.json", dir ? dir : "/tmp");
    int fd = mkstemps(tmp_path, 5);
    ck_assert_int_ge(fd, 0);
    size_t n = strlen(text);
    ck_assert_int_eq(write(fd, text, n), (ssize_t)n);
    close(fd);
    return tmp_path;
}

static void clear_env(void) {
    unsetenv("PARLEY_GW_LISTEN");
    unsetenv("PARLEY_GW_MAX_BYTES");
    unsetenv("PARLEY_GW_TEMPERATURE");
    unsetenv("PARLEY_GW_TLS");
    unsetenv("PARLEY_NLU_MODEL");
    unsetenv("PARLEY_NLU_WORKERS");
    unsetenv("PARLEY_NLU_EMPTY_DEFAULT");
}

static void setup(void) { clear_env(); }
static void teardown(void) {
    clear_env();
    if (tmp_path[0]) unlink(tmp_path);
    tmp_path[0] = '\0';
}

/* Load JSON text expecting failure st; the struct must hold no strings and
 * the message must contain `needle`. */
static void expect_fail(const char *json, pl_status st, const char *needle) {
    struct tcfg c;
    memset(&c, 0xAB, sizeof c); /* garbage the loader must not free */
    pl_status got = pl_config_load_string(fields, NF, json, "t.json", &c);
    ck_assert_msg(got == st, "got %s (%s), want %s", pl_status_str(got), pl_last_error(),
                  pl_status_str(st));
    ck_assert_msg(strstr(pl_last_error(), needle), "message \"%s\" lacks \"%s\"", pl_last_error(),
                  needle);
    ck_assert_ptr_null(c.listen);
    ck_assert_ptr_null(c.model);
    ck_assert_ptr_null(c.empty_default);
}

START_TEST(test_defaults_every_type) {
    struct tcfg c;
    struct pl_alloc_stats a, b;
    pl_alloc_stats(&a);
    setenv("PARLEY_NLU_MODEL", "/m", 1);
    ck_assert_int_eq(pl_config_load(fields, NF, NULL, &c), PL_OK);
    ck_assert_str_eq(c.listen, "127.0.0.1:50051");
    ck_assert_int_eq(c.max_bytes, 67108864);
    ck_assert_double_eq(c.temperature, 0.5);
    ck_assert(!c.tls);
    ck_assert_str_eq(c.model, "/m");
    ck_assert_int_eq(c.workers, -3); /* min > max: unbounded */
    ck_assert_str_eq(c.empty_default, "");
    pl_config_deinit(fields, NF, &c);
    ck_assert_ptr_null(c.listen);
    ck_assert_ptr_null(c.model);
    pl_alloc_stats(&b);
    ck_assert_int_eq(b.bytes_in_use, a.bytes_in_use);
}
END_TEST

START_TEST(test_file_overrides_default) {
    struct tcfg c;
    const char *p = write_tmp("{\"gw\": {\"listen\": \"0.0.0.0:1\", \"max_bytes\": 2048,"
                              " \"temperature\": 1, \"tls\": true},"
                              " \"nlu\": {\"model\": \"/models/x\", \"workers\": 9007199254740993},"
                              " \"other_service\": {\"anything\": [1, 2]}, \"x\": 5}");
    ck_assert_int_eq(pl_config_load(fields, NF, p, &c), PL_OK);
    ck_assert_str_eq(c.listen, "0.0.0.0:1");
    ck_assert_int_eq(c.max_bytes, 2048);
    ck_assert_double_eq(c.temperature, 1.0); /* an integer is a valid double */
    ck_assert(c.tls);
    ck_assert_str_eq(c.model, "/models/x");
    ck_assert_int_eq(c.workers, 9007199254740993LL); /* exact beyond 2^53 */
    pl_config_deinit(fields, NF, &c);
}
END_TEST

START_TEST(test_env_overrides_file) {
    struct tcfg c;
    const char *p = write_tmp("{\"gw\": {\"listen\": \"file\", \"max_bytes\": 2048, \"tls\": true,"
                              " \"temperature\": 1.5}, \"nlu\": {\"model\": \"file-model\"}}");
    setenv("PARLEY_GW_LISTEN", "env:1", 1);
    setenv("PARLEY_GW_MAX_BYTES", "4096", 1);
    setenv("PARLEY_GW_TEMPERATURE", "0.25", 1);
    setenv("PARLEY_GW_TLS", "0", 1);
    setenv("PARLEY_NLU_EMPTY_DEFAULT", "set", 1); /* '-' becomes '_' */
    ck_assert_int_eq(pl_config_load(fields, NF, p, &c), PL_OK);
    ck_assert_str_eq(c.listen, "env:1");
    ck_assert_int_eq(c.max_bytes, 4096);
    ck_assert_double_eq(c.temperature, 0.25);
    ck_assert(!c.tls);
    ck_assert_str_eq(c.model, "file-model");
    ck_assert_str_eq(c.empty_default, "set");
    pl_config_deinit(fields, NF, &c);
}
END_TEST

START_TEST(test_env_booleans) {
    static const struct {
        const char *text;
        bool want;
    } cases[] = {{"true", true}, {"TRUE", true}, {"1", true},   {"True", true},
                 {"false", false}, {"FALSE", false}, {"0", false}};
    setenv("PARLEY_NLU_MODEL", "m", 1);
    for (size_t i = 0; i < PL_ARRAY_LEN(cases); i++) {
        struct tcfg c;
        setenv("PARLEY_GW_TLS", cases[i].text, 1);
        ck_assert_int_eq(pl_config_load_string(fields, NF, "{\"gw\":{\"tls\":true}}", NULL, &c),
                         PL_OK);
        ck_assert_msg(c.tls == cases[i].want, "%s", cases[i].text);
        pl_config_deinit(fields, NF, &c);
    }
    const char *bad[] = {"maybe", "", "yes", "2", "true "};
    for (size_t i = 0; i < PL_ARRAY_LEN(bad); i++) {
        struct tcfg c;
        char want[64];
        setenv("PARLEY_GW_TLS", bad[i], 1);
        snprintf(want, sizeof want, "PARLEY_GW_TLS: expected true/false/1/0, got \"%s\"", bad[i]);
        ck_assert_int_eq(pl_config_load_string(fields, NF, "{}", NULL, &c), PL_E_INVALID_ARG);
        ck_assert_str_eq(pl_last_error(), want);
        ck_assert_ptr_null(c.model);
    }
}
END_TEST

START_TEST(test_bad_json_location) {
    setenv("PARLEY_NLU_MODEL", "m", 1);
    expect_fail("{\n  \"gw\": {\"listen\": \"a\"]\n}", PL_E_FORMAT, "t.json:2:");
    expect_fail("{\n  \"gw\": {\"listen\": \"a\"]\n}", PL_E_FORMAT, "invalid JSON");
    expect_fail("{\"gw\": {\"tls\": tru}}", PL_E_FORMAT, "t.json:1:");
    expect_fail("{\"gw\": {}} trailing", PL_E_FORMAT, "invalid JSON");
    expect_fail("{\"gw\": {\"tls\": true, \"tls\": false}}", PL_E_FORMAT, "duplicate");
    /* the same through a file: the path names the place */
    struct tcfg c;
    const char *p = write_tmp("{\n\n   ,}");
    ck_assert_int_eq(pl_config_load(fields, NF, p, &c), PL_E_FORMAT);
    char want[300];
    snprintf(want, sizeof want, "%s:3:", p);
    ck_assert_msg(strncmp(pl_last_error(), want, strlen(want)) == 0, "%s", pl_last_error());
}
END_TEST

START_TEST(test_wrong_types) {
    setenv("PARLEY_NLU_MODEL", "m", 1);
    expect_fail("{\"gw\":{\"max_bytes\":\"2048\"}}", PL_E_INVALID_ARG,
                "t.json: gw.max_bytes: expected an integer, got string");
    expect_fail("{\"gw\":{\"max_bytes\":2048.5}}", PL_E_INVALID_ARG,
                "t.json: gw.max_bytes: expected an integer, got real");
    expect_fail("{\"gw\":{\"listen\":5}}", PL_E_INVALID_ARG,
                "t.json: gw.listen: expected a string, got integer");
    expect_fail("{\"gw\":{\"listen\":null}}", PL_E_INVALID_ARG, "expected a string, got null");
    expect_fail("{\"gw\":{\"tls\":1}}", PL_E_INVALID_ARG,
                "t.json: gw.tls: expected true or false, got integer");
    expect_fail("{\"gw\":{\"temperature\":\"hot\"}}", PL_E_INVALID_ARG,
                "t.json: gw.temperature: expected a number, got string");
    expect_fail("{\"gw\":{\"temperature\":[1]}}", PL_E_INVALID_ARG, "expected a number, got array");
    setenv("PARLEY_GW_MAX_BYTES", "12k", 1);
    expect_fail("{}", PL_E_INVALID_ARG, "PARLEY_GW_MAX_BYTES: expected an integer, got \"12k\"");
    setenv("PARLEY_GW_MAX_BYTES", " 2048", 1);
    expect_fail("{}", PL_E_INVALID_ARG, "expected an integer");
    unsetenv("PARLEY_GW_MAX_BYTES");
    setenv("PARLEY_GW_TEMPERATURE", "warm", 1);
    expect_fail("{}", PL_E_INVALID_ARG, "PARLEY_GW_TEMPERATURE: expected a number, got \"warm\"");
    setenv("PARLEY_GW_TEMPERATURE", "nan", 1);
    expect_fail("{}", PL_E_INVALID_ARG, "finite");
}
END_TEST

START_TEST(test_out_of_range) {
    setenv("PARLEY_NLU_MODEL", "m", 1);
    expect_fail("{\"gw\":{\"max_bytes\":1023}}", PL_E_INVALID_ARG,
                "t.json: gw.max_bytes: 1023 out of range [1024, 1073741824]");
    expect_fail("{\"gw\":{\"max_bytes\":1073741825}}", PL_E_INVALID_ARG, "out of range");
    expect_fail("{\"gw\":{\"temperature\":2.5}}", PL_E_INVALID_ARG,
                "t.json: gw.temperature: 2.5 out of range [0, 2]");
    expect_fail("{\"gw\":{\"temperature\":-0.1}}", PL_E_INVALID_ARG, "out of range [0, 2]");
    setenv("PARLEY_GW_MAX_BYTES", "5", 1);
    expect_fail("{}", PL_E_INVALID_ARG, "PARLEY_GW_MAX_BYTES: 5 out of range [1024, 1073741824]");
    /* the bounds themselves are inside */
    unsetenv("PARLEY_GW_MAX_BYTES");
    struct tcfg c;
    ck_assert_int_eq(pl_config_load_string(
                         fields, NF, "{\"gw\":{\"max_bytes\":1024,\"temperature\":2}}", NULL, &c),
                     PL_OK);
    ck_assert_int_eq(c.max_bytes, 1024);
    pl_config_deinit(fields, NF, &c);
}
END_TEST

START_TEST(test_integer_overflow) {
    setenv("PARLEY_NLU_MODEL", "m", 1);
    /* JSON: jansson refuses it with a location */
    expect_fail("{\"nlu\":{\"workers\":99999999999999999999}}", PL_E_FORMAT, "t.json:1:");
    setenv("PARLEY_NLU_WORKERS", "99999999999999999999", 1);
    expect_fail("{}", PL_E_INVALID_ARG,
                "PARLEY_NLU_WORKERS: integer \"99999999999999999999\" does not fit in 64 bits");
    setenv("PARLEY_NLU_WORKERS", "-9223372036854775809", 1);
    expect_fail("{}", PL_E_INVALID_ARG, "does not fit in 64 bits");
    setenv("PARLEY_NLU_WORKERS", "-9223372036854775808", 1);
    struct tcfg c;
    ck_assert_int_eq(pl_config_load_string(fields, NF, "{}", NULL, &c), PL_OK);
    ck_assert(c.workers == INT64_MIN);
    pl_config_deinit(fields, NF, &c);
    setenv("PARLEY_GW_TEMPERATURE", "1e999", 1);
    expect_fail("{}", PL_E_INVALID_ARG, "too large");
}
END_TEST

START_TEST(test_unknown_key) {
    setenv("PARLEY_NLU_MODEL", "m", 1);
    expect_fail("{\"gw\":{\"listne\":\"x\"}}", PL_E_INVALID_ARG,
                "t.json: gw.listne: unknown key (known: listen, max_bytes, temperature, tls)");
    expect_fail("{\"nlu\":{\"Model\":\"x\"}}", PL_E_INVALID_ARG,
                "nlu.Model: unknown key (known: model, workers, empty-default)");
}
END_TEST

START_TEST(test_missing_required) {
    expect_fail("{\"gw\":{}}", PL_E_INVALID_ARG,
                "nlu.model: required (set it in t.json or PARLEY_NLU_MODEL)");
    struct tcfg c;
    ck_assert_int_eq(pl_config_load(fields, NF, NULL, &c), PL_E_INVALID_ARG);
    ck_assert_str_eq(pl_last_error(),
                     "nlu.model: required (set it in the config file or PARLEY_NLU_MODEL)");
    ck_assert_ptr_null(c.listen);
    /* given by the file only */
    ck_assert_int_eq(pl_config_load_string(fields, NF, "{\"nlu\":{\"model\":\"\"}}", NULL, &c),
                     PL_OK);
    ck_assert_str_eq(c.model, "");
    pl_config_deinit(fields, NF, &c);
}
END_TEST

START_TEST(test_non_object) {
    setenv("PARLEY_NLU_MODEL", "m", 1);
    expect_fail("{\"gw\":[1,2]}", PL_E_INVALID_ARG, "t.json: gw: expected an object, got array");
    expect_fail("{\"gw\":\"x\"}", PL_E_INVALID_ARG, "t.json: gw: expected an object, got string");
    expect_fail("[]", PL_E_INVALID_ARG,
                "t.json: expected a JSON object at the top level, got array");
    expect_fail("42", PL_E_INVALID_ARG, "top level, got integer");
    expect_fail("null", PL_E_INVALID_ARG, "top level, got null");
}
END_TEST

START_TEST(test_empty_and_missing_file) {
    setenv("PARLEY_NLU_MODEL", "m", 1);
    struct tcfg c;
    const char *p = write_tmp("");
    memset(&c, 0xAB, sizeof c);
    ck_assert_int_eq(pl_config_load(fields, NF, p, &c), PL_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(pl_last_error(), "empty (expected a JSON object)"));
    ck_assert_ptr_null(c.listen);
    expect_fail(" \n\t ", PL_E_FORMAT, "t.json: empty");

    memset(&c, 0xAB, sizeof c);
    ck_assert_int_eq(pl_config_load(fields, NF, "/nonexistent/dir/parley.json", &c), PL_E_IO);
    ck_assert_str_eq(pl_last_error(),
                     "cannot open /nonexistent/dir/parley.json: No such file or directory");
    ck_assert_ptr_null(c.listen);
    /* a directory opens but does not read */
    ck_assert_int_eq(pl_config_load(fields, NF, "/", &c), PL_E_IO);
}
END_TEST

START_TEST(test_large_file) {
    /* bigger than the first read buffer: exercises the growth path */
    setenv("PARLEY_NLU_MODEL", "m", 1);
    size_t n = 20000;
    char *text = pl_malloc(n + 100);
    int len = snprintf(text, n + 100, "{\"gw\": {\"listen\": \"");
    for (size_t i = 0; i < n; i++) text[len++] = 'a' + (char)(i % 26);
    memcpy(text + len, "\"}}", 4);
    const char *p = write_tmp(text);
    struct tcfg c;
    ck_assert_int_eq(pl_config_load(fields, NF, p, &c), PL_OK);
    ck_assert_uint_eq(strlen(c.listen), n);
    ck_assert_int_eq(c.listen[n - 1], 'a' + (char)((n - 1) % 26));
    pl_config_deinit(fields, NF, &c);
    pl_free(text);
}
END_TEST

START_TEST(test_describe) {
    char *d = pl_config_describe(fields, NF);
    ck_assert_ptr_nonnull(d);
    ck_assert_ptr_nonnull(strstr(d, "gw.listen"));
    ck_assert_ptr_nonnull(strstr(d, "127.0.0.1:50051"));
    ck_assert_ptr_nonnull(strstr(d, "gRPC listen address"));
    ck_assert_ptr_nonnull(strstr(d, "[1024, 1073741824]"));
    ck_assert_ptr_nonnull(strstr(d, "PARLEY_GW_MAX_BYTES"));
    ck_assert_ptr_nonnull(strstr(d, "(required)"));
    ck_assert_ptr_nonnull(strstr(d, "PARLEY_NLU_EMPTY_DEFAULT"));
    ck_assert_ptr_null(strstr(d, "[1, 0]")); /* unbounded shows no range */
    int lines = 0;
    for (const char *q = d; *q; q++) lines += *q == '\n';
    ck_assert_int_eq(lines, (int)NF);
    pl_free(d);

    /* out of memory: NULL, nothing leaked */
    struct pl_alloc_stats a, b;
    pl_alloc_stats(&a);
    pl_alloc_fail_after(0);
    ck_assert_ptr_null(pl_config_describe(fields, NF));
    pl_alloc_fail_after(-1);
    pl_alloc_stats(&b);
    ck_assert_int_eq(a.bytes_in_use, b.bytes_in_use);
}
END_TEST

START_TEST(test_bad_default) {
    static const struct pl_config_field bad[] = {
        {"s", "n", PL_CONFIG_INT, 0, "ten", 0, 0, NULL},
    };
    int64_t v;
    ck_assert_int_eq(pl_config_load_string(bad, 1, "{}", NULL, &v), PL_E_INVALID_ARG);
    ck_assert_str_eq(pl_last_error(), "default: s.n: expected an integer, got \"ten\"");
    ck_assert_int_eq(pl_config_load_string(NULL, 1, "{}", NULL, &v), PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_config_load_string(bad, 1, "{}", NULL, NULL), PL_E_INVALID_ARG);
}
END_TEST

/*
 * Fail the k-th allocation for k = 0, 1, ... until a load succeeds: every
 * failure must be PL_E_NOMEM with nothing left allocated, in the struct or
 * anywhere else (pl_alloc_stats counts jansson's memory too).
 */
static void oom_loop(const char *path) {
    struct pl_alloc_stats a, b;
    int k;
    setenv("PARLEY_GW_LISTEN", "env-listen", 1);
    for (k = 0; k < 10000; k++) {
        struct tcfg c;
        memset(&c, 0xAB, sizeof c);
        pl_alloc_stats(&a);
        pl_alloc_fail_after(k);
        pl_status st = pl_config_load(fields, NF, path, &c);
        pl_alloc_fail_after(-1);
        if (st == PL_OK) {
            ck_assert_str_eq(c.listen, "env-listen");
            ck_assert_str_eq(c.model, "/models/x");
            pl_config_deinit(fields, NF, &c);
            pl_alloc_stats(&b);
            ck_assert_int_eq(b.bytes_in_use, a.bytes_in_use);
            break;
        }
        ck_assert_msg(st == PL_E_NOMEM, "k=%d: %s: %s", k, pl_status_str(st), pl_last_error());
        ck_assert_ptr_null(c.listen);
        ck_assert_ptr_null(c.model);
        ck_assert_ptr_null(c.empty_default);
        pl_alloc_stats(&b);
        ck_assert_msg(b.bytes_in_use == a.bytes_in_use, "k=%d: %lld bytes leaked", k,
                      (long long)(b.bytes_in_use - a.bytes_in_use));
        ck_assert_int_eq(b.blocks_in_use, a.blocks_in_use);
    }
    ck_assert_int_gt(k, 5); /* defaults, the file, jansson and env all allocate */
    ck_assert_int_lt(k, 10000);
}

START_TEST(test_oom_loop) {
    oom_loop(write_tmp("{\"gw\": {\"listen\": \"0.0.0.0:1\", \"max_bytes\": 2048, \"tls\": true},"
                       " \"nlu\": {\"model\": \"/models/x\", \"workers\": 4},"
                       " \"other\": {\"a\": [1, {\"b\": \"c\"}], \"d\": \"long string value\"}}"));
}
END_TEST

Suite *pl_config_suite(void) {
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_defaults_every_type);
    tcase_add_test(tc, test_file_overrides_default);
    tcase_add_test(tc, test_env_overrides_file);
    tcase_add_test(tc, test_env_booleans);
    tcase_add_test(tc, test_bad_json_location);
    tcase_add_test(tc, test_wrong_types);
    tcase_add_test(tc, test_out_of_range);
    tcase_add_test(tc, test_integer_overflow);
    tcase_add_test(tc, test_unknown_key);
    tcase_add_test(tc, test_missing_required);
    tcase_add_test(tc, test_non_object);
    tcase_add_test(tc, test_empty_and_missing_file);
    tcase_add_test(tc, test_large_file);
    tcase_add_test(tc, test_describe);
    tcase_add_test(tc, test_bad_default);
    tcase_add_test(tc, test_oom_loop);
    suite_add_tcase(s, tc);
    return s;
}
