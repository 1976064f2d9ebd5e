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

START_TEST(test_url_redact) {
    char b[128];
    ck_assert_str_eq(pl_url_redact("nats://127.0.0.1:4222", b, sizeof b), "nats://127.0.0.1:4222");
    ck_assert_str_eq(pl_url_redact("nats://alice:s3cret@nats:4222", b, sizeof b),
                     "nats://***@nats:4222");
    ck_assert_str_eq(pl_url_redact("nats://tok3n@h:1,nats://h2:2,tls://u:p@h3:3", b, sizeof b),
                     "nats://***@h:1,nats://h2:2,tls://***@h3:3");
    ck_assert_str_eq(pl_url_redact("u:p@host:4222", b, sizeof b), "***@host:4222");
    ck_assert_str_eq(pl_url_redact("http://h/p@x", b, sizeof b), "http://h/p@x");
    ck_assert_str_eq(pl_url_redact(NULL, b, sizeof b), "");
    char small[12];
    pl_url_redact("nats://user:pass@host:4222", small, sizeof small);
    ck_assert_uint_eq(strlen(small), 11);
    ck_assert_ptr_null(strstr(small, "pass"));
}
END_TEST

Suite *pl_util_suite(void) {
    Suite *s = suite_create("util");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_clock);
    tcase_add_test(tc, test_request_ids);
    tcase_add_test(tc, test_url_redact);
    suite_add_tcase(s, tc);
    return s;
}
