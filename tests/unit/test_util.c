#include <check.h>
#include <string.h>

#include "util.h"

START_TEST(test_clock) {
    int64_t a = pl_time_mono_ns();
    pl_sleep_ms(20);
    int64_t b = pl_time_mono_ns();
    ck_assert_int_ge(b - a, 19 * 1000000);
    ck_assert_int_gt(pl_time_wall_ms(), 1700000000000LL);
    ck_assert_int_le(pl_time_mono_us(), pl_time_mono_ns() / 1000);
}
END_TEST

START_TEST(test_request_ids) {
    char a[PL_REQUEST_ID_LEN], b[PL_REQUEST_ID_LEN];
    pl_request_id_new(a);
    pl_request_id_new(b);
    ck_assert_uint_eq(strlen(a), 32);
    ck_assert_str_ne(a, b);
    ck_assert(pl_request_id_valid(a));
    ck_assert(pl_request_id_valid("client-7:abc.def_1"));
    ck_assert(!pl_request_id_valid(""));
    ck_assert(!pl_request_id_valid("has space"));
    ck_assert(!pl_request_id_valid("quote\""));
    char longid[80];
    memset(longid, 'a', 70);
    longid[70] = 0;
    ck_assert(!pl_request_id_valid(longid));
    ck_assert(!pl_request_id_valid(NULL));
}
END_TEST

Suite *pl_util_suite(void) {
    Suite *s = suite_create("util");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_clock);
    tcase_add_test(tc, test_request_ids);
    suite_add_tcase(s, tc);
    return s;
}
