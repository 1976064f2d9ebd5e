#include <check.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

static char got[4096];
static int calls;

static void capture(enum pl_log_level level, const char *src, const char *msg, void *ud) {
    (void)ud;
    calls++;
    snprintf(got, sizeof got, "%d|%s|%s", (int)level, src, msg);
}

START_TEST(test_hook_and_level) {
    calls = 0;
    pl_log_set(capture, NULL);
    pl_log_set_level(PL_LOG_INFO);
    PL_LOGD("hidden %d", 1);
    ck_assert_int_eq(calls, 0);
    PL_LOGW("shown %d", 2);
    ck_assert_int_eq(calls, 1);
    ck_assert_ptr_nonnull(strstr(got, "1|test_log.c:"));
    ck_assert_ptr_nonnull(strstr(got, "|shown 2"));
    pl_log_set_level(PL_LOG_DEBUG);
    PL_LOGD("now shown");
    ck_assert_int_eq(calls, 2);
    pl_log_set(NULL, NULL);
}
END_TEST

START_TEST(test_parse) {
    ck_assert_int_eq(pl_log_level_parse("debug"), PL_LOG_DEBUG);
    ck_assert_int_eq(pl_log_level_parse("error"), PL_LOG_ERROR);
    ck_assert_int_eq(pl_log_level_parse("loud"), -1);
    ck_assert_int_eq(pl_log_level_parse(NULL), -1);
}
END_TEST

/* The default hook writes one JSON line to stderr: capture it through a pipe. */
START_TEST(test_default_json_line) {
    int fds[2];
    char buf[4096] = {0};
    ck_assert_int_eq(pipe(fds), 0);
    int saved = dup(2);
    dup2(fds[1], 2);
    pl_log_set(NULL, NULL);
    pl_log_set_level(PL_LOG_INFO);
    pl_log_set_service("gateway");
    pl_log_set_request_id("abc123");
    PL_LOGI("say \"hi\"\n\ttab");
    fflush(stderr);
    dup2(saved, 2);
    close(fds[1]);
    ssize_t n = read(fds[0], buf, sizeof buf - 1);
    close(fds[0]);
    ck_assert_int_gt(n, 0);
    ck_assert_ptr_nonnull(strstr(buf, "\"level\":\"info\""));
    ck_assert_ptr_nonnull(strstr(buf, "\"service\":\"gateway\""));
    ck_assert_ptr_nonnull(strstr(buf, "\"request_id\":\"abc123\""));
    ck_assert_ptr_nonnull(strstr(buf, "\"msg\":\"say \\\"hi\\\"\\n\\ttab\""));
    ck_assert_int_eq(buf[0], '{');
    ck_assert_int_eq(buf[n - 1], '\n');
    ck_assert_ptr_null(strchr(buf, '\n') == buf + n - 1 ? NULL : buf);
    pl_log_set_request_id(NULL);
    ck_assert_str_eq(pl_log_request_id(), "");
}
END_TEST

Suite *pl_log_suite(void) {
    Suite *s = suite_create("log");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_hook_and_level);
    tcase_add_test(tc, test_parse);
    tcase_add_test(tc, test_default_json_line);
    suite_add_tcase(s, tc);
    return s;
}
