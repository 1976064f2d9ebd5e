#include <check.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "alloc.h"

START_TEST(test_accounting) {
    struct pl_alloc_stats a, b;
    pl_alloc_stats(&a);
    char *p = pl_malloc(100);
    char *q = pl_calloc(10, 10);
    ck_assert_ptr_nonnull(p);
    ck_assert_ptr_nonnull(q);
    for (int i = 0; i < 100; i++) ck_assert_int_eq(q[i], 0);
    pl_alloc_stats(&b);
    ck_assert_int_eq(b.bytes_in_use - a.bytes_in_use, 200);
    ck_assert_int_eq(b.blocks_in_use - a.blocks_in_use, 2);
    p = pl_realloc(p, 1000);
    ck_assert_ptr_nonnull(p);
    pl_alloc_stats(&b);
    ck_assert_int_eq(b.bytes_in_use - a.bytes_in_use, 1100);
    ck_assert_int_ge(b.bytes_peak, b.bytes_in_use);
    pl_free(p);
    pl_free(q);
    pl_free(NULL);
    pl_alloc_stats(&b);
    ck_assert_int_eq(b.bytes_in_use, a.bytes_in_use);
    ck_assert_int_eq(b.blocks_in_use, a.blocks_in_use);
}
END_TEST

START_TEST(test_overflow) {
    ck_assert_ptr_null(pl_calloc(SIZE_MAX / 2, 4));
    ck_assert_ptr_null(pl_malloc(SIZE_MAX - 4));
}
END_TEST

START_TEST(test_strdup) {
    char *s = pl_strdup("hello");
    ck_assert_str_eq(s, "hello");
    char *t = pl_strndup("hello", 3);
    ck_assert_str_eq(t, "hel");
    pl_free(s);
    pl_free(t);
}
END_TEST

START_TEST(test_aligned) {
    struct pl_alloc_stats a, b;
    pl_alloc_stats(&a);
    for (size_t al = 8; al <= 4096; al *= 2) {
        unsigned char *p = pl_aligned_alloc(al, 333);
        ck_assert_ptr_nonnull(p);
        ck_assert_uint_eq((uintptr_t)p % al, 0);
        memset(p, 0xab, 333);
        pl_aligned_free(p);
    }
    ck_assert_ptr_null(pl_aligned_alloc(48, 10)); /* not a power of two */
    pl_aligned_free(NULL);
    pl_alloc_stats(&b);
    ck_assert_int_eq(b.bytes_in_use, a.bytes_in_use);
}
END_TEST

START_TEST(test_fail_after) {
    pl_alloc_fail_after(2);
    void *a = pl_malloc(1), *b = pl_malloc(1), *c = pl_malloc(1), *d = pl_malloc(1);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_ptr_null(c);
    ck_assert_ptr_null(d);
    pl_alloc_fail_after(-1);
    void *e = pl_malloc(1);
    ck_assert_ptr_nonnull(e);
    /* a failed realloc leaves the block valid and unchanged */
    pl_alloc_fail_after(0);
    ck_assert_ptr_null(pl_realloc(a, 4096));
    pl_alloc_fail_after(-1);
    pl_free(a);
    pl_free(b);
    pl_free(e);
}
END_TEST

static int big_only(size_t n, void *ud) {
    (*(int *)ud)++;
    return n > 1000;
}

START_TEST(test_fault_hook) {
    int asked = 0;
    pl_alloc_set_fault(big_only, &asked);
    void *small = pl_malloc(10);
    void *big = pl_malloc(10000);
    pl_alloc_set_fault(NULL, NULL);
    ck_assert_ptr_nonnull(small);
    ck_assert_ptr_null(big);
    ck_assert_int_eq(asked, 2);
    pl_free(small);
    struct pl_alloc_stats st;
    pl_alloc_stats(&st);
    ck_assert_int_ge(st.failed_allocs, 1);
}
END_TEST

static void *churn(void *arg) {
    (void)arg;
    for (int i = 0; i < 20000; i++) pl_free(pl_malloc((size_t)(i % 97) + 1));
    return NULL;
}

START_TEST(test_threads) {
    struct pl_alloc_stats a, b;
    pthread_t t[4];
    pl_alloc_stats(&a);
    for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, churn, NULL);
    for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
    pl_alloc_stats(&b);
    ck_assert_int_eq(b.bytes_in_use, a.bytes_in_use);
    ck_assert_int_eq(b.total_allocs - a.total_allocs, 80000);
}
END_TEST

Suite *pl_alloc_suite(void) {
    Suite *s = suite_create("alloc");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_accounting);
    tcase_add_test(tc, test_overflow);
    tcase_add_test(tc, test_strdup);
    tcase_add_test(tc, test_aligned);
    tcase_add_test(tc, test_fail_after);
    tcase_add_test(tc, test_fault_hook);
    tcase_add_test(tc, test_threads);
    suite_add_tcase(s, tc);
    return s;
}
