/*
 * test_arena.c - the request arena (common/arena.h) and the whole-file reader
 * (common/file.h): alignment, zeroing, large allocations, kept pointers, the failed
 * state under injected allocation failures (no leak in any case), and file errors.
 */
#include <check.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "arena.h"
#include "file.h"

static int64_t blocks_now(void) {
    struct pl_alloc_stats s;
    pl_alloc_stats(&s);
    return s.blocks_in_use;
}

START_TEST(test_arena_basics) {
    int64_t b0 = blocks_now();
    struct pl_arena a;
    pl_arena_init(&a, 256);
    for (int i = 0; i < 1000; i++) {
        size_t n = (size_t)(i % 37) + 1;
        unsigned char *p = pl_arena_alloc(&a, n);
        ck_assert_ptr_nonnull(p);
        ck_assert_uint_eq((uintptr_t)p % alignof(max_align_t), 0);
        for (size_t k = 0; k < n; k++) ck_assert_uint_eq(p[k], 0);
        memset(p, 0xAB, n); /* a later allocation must not overlap this one */
    }
    /* larger than a block: its own block, the current one keeps serving small ones */
    char *big = pl_arena_alloc(&a, 10000);
    ck_assert_ptr_nonnull(big);
    memset(big, 1, 10000);
    char *s = pl_arena_strndup(&a, "hello world", 5);
    ck_assert_str_eq(s, "hello");
    ck_assert_ptr_null(pl_arena_strdup(&a, NULL));
    ck_assert(!pl_arena_failed(&a));
    char *kept = pl_arena_keep(&a, pl_strdup("kept"));
    ck_assert_str_eq(kept, "kept");
    ck_assert_ptr_null(pl_arena_calloc(&a, SIZE_MAX / 2, 4));
    ck_assert(pl_arena_failed(&a));
    ck_assert_ptr_null(pl_arena_alloc(&a, 1)); /* failed stays failed */
    ck_assert_ptr_null(pl_arena_keep(&a, pl_strdup("freed, not kept")));
    pl_arena_deinit(&a);
    ck_assert_int_eq(blocks_now(), b0);
    /* usable again after deinit */
    ck_assert_ptr_nonnull(pl_arena_alloc(&a, 8));
    ck_assert(!pl_arena_failed(&a));
    pl_arena_deinit(&a);
    pl_arena_deinit(NULL);
    ck_assert_int_eq(blocks_now(), b0);
}
END_TEST

/* Every allocation of a builder fails in turn: the arena reports it and frees all. */
START_TEST(test_arena_oom) {
    int64_t b0 = blocks_now();
    for (int k = 0; k < 40; k++) {
        struct pl_arena a;
        pl_arena_init(&a, 64);
        pl_alloc_fail_after(k);
        for (int i = 0; i < 20; i++) {
            (void)pl_arena_alloc(&a, (size_t)(i * 13 % 100) + 1);
            (void)pl_arena_keep(&a, pl_malloc(3));
        }
        bool failed = pl_arena_failed(&a);
        pl_alloc_fail_after(-1);
        pl_arena_deinit(&a);
        ck_assert_int_eq(blocks_now(), b0);
        if (!failed) break; /* k past the builder's allocations: done */
    }
}
END_TEST

START_TEST(test_read_file) {
    char dir[] = "/tmp/pl_file_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof path, "%s/f.txt", dir);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    for (int i = 0; i < 100000; i++) fputc('a' + i % 26, f);
    fclose(f);
    char *d = NULL;
    size_t n = 0;
    ck_assert_int_eq(pl_read_file(path, 0, &d, &n), PL_OK);
    ck_assert_uint_eq(n, 100000);
    ck_assert_int_eq(d[99999], 'a' + 99999 % 26);
    ck_assert_int_eq(d[n], 0);
    pl_free(d);
    /* the limit is checked before the bytes are read */
    ck_assert_int_eq(pl_read_file(path, 1000, &d, &n), PL_E_FORMAT);
    ck_assert_ptr_null(d);
    ck_assert_ptr_nonnull(strstr(pl_last_error(), path));
    /* missing file, directory, empty file, a pipe-like device */
    char missing[160];
    snprintf(missing, sizeof missing, "%s/nope", dir);
    ck_assert_int_eq(pl_read_file(missing, 0, &d, &n), PL_E_IO);
    ck_assert_ptr_nonnull(strstr(pl_last_error(), "No such file"));
    ck_assert_int_eq(pl_read_file(dir, 0, &d, &n), PL_E_IO);
    ck_assert_int_eq(pl_read_file("/dev/null", 0, &d, &n), PL_OK);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(d[0], 0);
    pl_free(d);
    ck_assert_int_eq(pl_read_file(NULL, 0, &d, &n), PL_E_INVALID_ARG);
    /* out of memory: a clean error, nothing leaked */
    int64_t b0 = blocks_now();
    pl_alloc_fail_after(0);
    ck_assert_int_eq(pl_read_file(path, 0, &d, &n), PL_E_NOMEM);
    pl_alloc_fail_after(-1);
    ck_assert_int_eq(blocks_now(), b0);
    unlink(path);
    rmdir(dir);
}
END_TEST

Suite *pl_arena_suite(void) {
    Suite *s = suite_create("arena");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_arena_basics);
    tcase_add_test(tc, test_arena_oom);
    tcase_add_test(tc, test_read_file);
    suite_add_tcase(s, tc);
    return s;
}
