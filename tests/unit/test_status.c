#include <check.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>

#include "status.h"

static pl_status fails_with_format(const char *name) {
    return PL_ERR(PL_E_FORMAT, "tensor %s: %d dims", name, 9);
}

static pl_status passes_up(const char *name) {
    PL_TRY(fails_with_format(name));
    return PL_OK;
}

START_TEST(test_names) {
    ck_assert_str_eq(pl_status_str(PL_OK), "PL_OK");
    ck_assert_str_eq(pl_status_str(PL_E_FORMAT), "PL_E_FORMAT");
    ck_assert_str_eq(pl_status_str(PL_E_EXHAUSTED), "PL_E_EXHAUSTED");
    ck_assert_str_eq(pl_status_str((pl_status)999), "PL_E_UNKNOWN");
    for (int s = 0; s < PL_STATUS_COUNT; s++)
        ck_assert_ptr_nonnull(strstr(pl_status_str((pl_status)s), "PL_"));
}
END_TEST

START_TEST(test_message_and_location) {
    pl_clear_error();
    ck_assert_str_eq(pl_last_error(), "");
    ck_assert_int_eq(passes_up("w"), PL_E_FORMAT);
    ck_assert_str_eq(pl_last_error(), "tensor w: 9 dims");
    ck_assert_int_eq(pl_last_status(), PL_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(pl_last_error_where(), "test_status.c:"));
    pl_clear_error();
    ck_assert_int_eq(pl_last_status(), PL_OK);
}
END_TEST

static void *other_thread(void *arg) {
    (void)arg;
    PL_ERR(PL_E_IO, "in thread");
    return NULL;
}

START_TEST(test_thread_local) {
    pthread_t t;
    PL_ERR(PL_E_NOMEM, "main");
    pthread_create(&t, NULL, other_thread, NULL);
    pthread_join(t, NULL);
    ck_assert_str_eq(pl_last_error(), "main");
}
END_TEST

START_TEST(test_long_message_truncated) {
    char big[2000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    PL_ERR(PL_E_INVALID_ARG, "%s", big);
    ck_assert_uint_lt(strlen(pl_last_error()), sizeof big);
    ck_assert_uint_gt(strlen(pl_last_error()), 100);
}
END_TEST

START_TEST(test_assert_aborts) {
    PL_ASSERT(1 + 1 == 3);
}
END_TEST

Suite *pl_status_suite(void) {
    Suite *s = suite_create("status");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_names);
    tcase_add_test(tc, test_message_and_location);
    tcase_add_test(tc, test_thread_local);
    tcase_add_test(tc, test_long_message_truncated);
    tcase_add_test_raise_signal(tc, test_assert_aborts, SIGABRT);
    suite_add_tcase(s, tc);
    return s;
}
