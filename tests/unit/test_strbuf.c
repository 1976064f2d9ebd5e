#include <check.h>
#include <string.h>

#include "alloc.h"
#include "strbuf.h"

START_TEST(test_append) {
    struct pl_strbuf sb;
    pl_strbuf_init(&sb);
    pl_strbuf_append(&sb, "a");
    pl_strbuf_appendf(&sb, "%d-%s", 42, "x");
    pl_strbuf_append_char(&sb, '!');
    pl_strbuf_append_n(&sb, "xyz", 2);
    ck_assert_str_eq(sb.data, "a42-x!xy");
    ck_assert_uint_eq(sb.len, 8);
    for (int i = 0; i < 1000; i++) pl_strbuf_appendf(&sb, "%04d", i);
    ck_assert_uint_eq(sb.len, 8 + 4000);
    ck_assert_int_eq(pl_strbuf_status(&sb), PL_OK);
    char *s = pl_strbuf_detach(&sb);
    ck_assert_uint_eq(strlen(s), 4008);
    ck_assert_ptr_null(sb.data);
    pl_free(s);
}
END_TEST

START_TEST(test_json) {
    struct pl_strbuf sb;
    pl_strbuf_init(&sb);
    pl_strbuf_append_json(&sb, "a\"b\\c\n\x01");
    ck_assert_str_eq(sb.data, "\"a\\\"b\\\\c\\n\\u0001\"");
    pl_strbuf_deinit(&sb);
}
END_TEST

START_TEST(test_empty_detach) {
    struct pl_strbuf sb;
    pl_strbuf_init(&sb);
    char *s = pl_strbuf_detach(&sb);
    ck_assert_ptr_nonnull(s);
    ck_assert_str_eq(s, "");
    pl_free(s);
}
END_TEST

START_TEST(test_oom_sticky) {
    struct pl_strbuf sb;
    pl_strbuf_init(&sb);
    pl_alloc_fail_after(0);
    pl_strbuf_append(&sb, "x");
    pl_alloc_fail_after(-1);
    pl_strbuf_append(&sb, "y");
    ck_assert(sb.failed);
    ck_assert_int_eq(pl_strbuf_status(&sb), PL_E_NOMEM);
    ck_assert_ptr_null(pl_strbuf_detach(&sb));
    pl_strbuf_reset(&sb);
    pl_strbuf_append(&sb, "ok");
    ck_assert_str_eq(sb.data, "ok");
    pl_strbuf_deinit(&sb);
}
END_TEST

Suite *pl_strbuf_suite(void) {
    Suite *s = suite_create("strbuf");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_append);
    tcase_add_test(tc, test_json);
    tcase_add_test(tc, test_empty_detach);
    tcase_add_test(tc, test_oom_sticky);
    suite_add_tcase(s, tc);
    return s;
}
