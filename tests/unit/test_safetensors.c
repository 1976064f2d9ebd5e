/*
 * test_safetensors.c - valid files open zero-copy; hostile files (bad JSON,
 * header or offsets past the end, overlaps, overflowing shapes, dtype/shape
 * vs byte-size mismatch, duplicate names, truncation) give PL_E_FORMAT
 * naming the tensor, never a crash. Also a brute-force truncation and
 * byte-flip sweep over a valid file.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "alloc.h"
#include "safetensors.h"

/* Build a file image: 8-byte length, header, `data_len` bytes of data. */
static size_t build(unsigned char *buf, size_t cap, const char *header, size_t data_len) {
    size_t hl = strlen(header);
    ck_assert(8 + hl + data_len <= cap);
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    memcpy(buf + 8, header, hl);
    for (size_t i = 0; i < data_len; i++) buf[8 + hl + i] = (unsigned char)i;
    return 8 + hl + data_len;
}

static pl_status open_hdr(const char *header, size_t data_len, struct pl_safetensors **st) {
    static unsigned char buf[8192];
    size_t n = build(buf, sizeof buf, header, data_len);
    return pl_safetensors_open_memory(buf, n, st);
}

#define EXPECT_FORMAT(hdr, len, needle)                                                            \
    do {                                                                                           \
        struct pl_safetensors *st_ = (struct pl_safetensors *)1;                                   \
        pl_status s_ = open_hdr(hdr, len, &st_);                                                   \
        ck_assert_msg(s_ == PL_E_FORMAT, "%s: status %d", hdr, s_);                                \
        ck_assert_ptr_null(st_);                                                                   \
        ck_assert_msg(strstr(pl_last_error(), needle), "message '%s' lacks '%s'", pl_last_error(), \
                      needle);                                                                     \
    } while (0)

START_TEST(test_valid) {
    struct pl_safetensors *st;
    const char *hdr = "{\"__metadata__\":{\"format\":\"pt\"},"
                      "\"b\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[8,32]},"
                      "\"a\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]},"
                      "\"s\":{\"dtype\":\"F16\",\"shape\":[],\"data_offsets\":[32,34]}}   ";
    ck_assert_int_eq(open_hdr(hdr, 34, &st), PL_OK);
    ck_assert_int_eq(pl_safetensors_count(st), 3);
    ck_assert_str_eq(pl_safetensors_at(st, 0)->name, "a");
    ck_assert_int_eq(pl_safetensors_at(st, 0)->dtype, PL_DTYPE_COUNT);
    const struct pl_st_entry *b = pl_safetensors_find(st, "b");
    ck_assert_ptr_nonnull(b);
    ck_assert_int_eq(b->dtype, PL_DTYPE_F32);
    ck_assert_int_eq(b->n_dims, 2);
    ck_assert_int_eq(b->shape[1], 3);
    ck_assert_int_eq(b->nbytes, 24);
    ck_assert_int_eq(((const unsigned char *)b->data)[0], 8);
    ck_assert_int_eq(pl_safetensors_find(st, "s")->n_dims, 0);
    ck_assert_ptr_null(pl_safetensors_find(st, "zz"));
    ck_assert_str_eq(pl_safetensors_metadata(st, "format"), "pt");
    pl_safetensors_close(st);
    pl_safetensors_close(NULL);
}
END_TEST

START_TEST(test_hostile) {
    struct pl_safetensors *st;
    unsigned char tiny[4] = {0};
    ck_assert_int_eq(pl_safetensors_open_memory(tiny, 4, &st), PL_E_FORMAT);
    /* header length past the end */
    unsigned char big[16] = {0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, '{', '}'};
    ck_assert_int_eq(pl_safetensors_open_memory(big, 16, &st), PL_E_FORMAT);
    ck_assert(strstr(pl_last_error(), "past the end"));
    unsigned char huge[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    ck_assert_int_eq(pl_safetensors_open_memory(huge, 16, &st), PL_E_FORMAT);
    EXPECT_FORMAT("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]", 4, "JSON");
    EXPECT_FORMAT("[1,2,3]", 0, "not an object");
    EXPECT_FORMAT("{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8, "w: data ends");
    EXPECT_FORMAT("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,4]}}", 8, "w: data_offsets");
    EXPECT_FORMAT("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]}}", 8, "w: data_offsets");
    EXPECT_FORMAT("{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, "w: 8 bytes");
    EXPECT_FORMAT("{\"w\":{\"dtype\":\"F16\",\"shape\":[2,2],\"data_offsets\":[0,4]}}", 8, "w: 4 bytes");
    EXPECT_FORMAT("{\"w\":{\"dtype\":\"Q4\",\"shape\":[1],\"data_offsets\":[0,1]}}", 8, "w: unknown dtype");
    EXPECT_FORMAT("{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 8, "w: bad dim");
    EXPECT_FORMAT("{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]}}",
                  8, "w: shape overflows");
    EXPECT_FORMAT("{\"w\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 8, "w: bad dim");
    EXPECT_FORMAT("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 8, "w: bad data_offsets");
    EXPECT_FORMAT("{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 8, "w: no dtype");
    EXPECT_FORMAT("{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 8, "w: no shape");
    EXPECT_FORMAT("{\"w\":7}", 8, "w: not an object");
    EXPECT_FORMAT("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                  "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
                  8, "overlaps");
    EXPECT_FORMAT("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                  "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
                  8, "duplicate");
    EXPECT_FORMAT("{\"__metadata__\":3}", 0, "__metadata__");
    ck_assert_int_eq(open_hdr("{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1],\"data_offsets\":[0,4]}}",
                              8, &st),
                     PL_E_UNSUPPORTED);
    ck_assert_int_eq(pl_safetensors_open("/nonexistent/x.safetensors", &st), PL_E_IO);
}
END_TEST

/* Every truncation and a byte flip at every header position of a valid file
 * must open or fail cleanly (ASan/UBSan catch the rest). */
START_TEST(test_sweep) {
    const char *hdr = "{\"x\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},"
                      "\"y\":{\"dtype\":\"I8\",\"shape\":[3],\"data_offsets\":[16,19]}}";
    unsigned char img[512];
    size_t n = build(img, sizeof img, hdr, 19);
    for (size_t len = 0; len < n; len++) {
        unsigned char *copy = pl_malloc(len ? len : 1);
        memcpy(copy, img, len);
        struct pl_safetensors *st;
        pl_status s = pl_safetensors_open_memory(copy, len, &st);
        ck_assert_msg(s == PL_E_FORMAT, "truncated to %zu: %d", len, s);
        pl_free(copy);
    }
    for (size_t pos = 0; pos < n; pos++)
        for (int bit = 0; bit < 8; bit += 3) {
            unsigned char *copy = pl_malloc(n);
            memcpy(copy, img, n);
            copy[pos] ^= (unsigned char)(1u << bit);
            struct pl_safetensors *st;
            pl_status s = pl_safetensors_open_memory(copy, n, &st);
            if (s == PL_OK) {
                for (int i = 0; i < pl_safetensors_count(st); i++) {
                    const struct pl_st_entry *e = pl_safetensors_at(st, i);
                    ck_assert(e->offset + e->nbytes <= n);
                    volatile unsigned char sink = 0;
                    for (size_t b = 0; b < e->nbytes; b++) sink ^= ((const unsigned char *)e->data)[b];
                    (void)sink;
                }
                pl_safetensors_close(st);
            } else {
                ck_assert_msg(s == PL_E_FORMAT || s == PL_E_UNSUPPORTED, "flip %zu: %d", pos, s);
            }
            pl_free(copy);
        }
}
END_TEST

START_TEST(test_file) {
    char path[] = "/tmp/pl_st_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    unsigned char img[256];
    size_t n = build(img, sizeof img, "{\"v\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8);
    ck_assert_int_eq(write(fd, img, n), (ssize_t)n);
    close(fd);
    struct pl_safetensors *st;
    ck_assert_int_eq(pl_safetensors_open(path, &st), PL_OK);
    ck_assert_int_eq(pl_safetensors_find(st, "v")->nbytes, 8);
    pl_safetensors_close(st);
    fd = open(path, O_WRONLY | O_TRUNC);
    ck_assert_int_eq(write(fd, img, n - 3), (ssize_t)(n - 3)); /* truncated */
    close(fd);
    ck_assert_int_eq(pl_safetensors_open(path, &st), PL_E_FORMAT);
    ck_assert_msg(strstr(pl_last_error(), "tensor v"), "%s", pl_last_error());
    unlink(path);
}
END_TEST

/* Entries of each float dtype convert to f32, read unaligned-safe (offsets 1 and 3 below
 * are odd on purpose). The data bytes are 0, 1, 2, ... (build()). */
START_TEST(test_entry_to_f32) {
    struct pl_safetensors *st;
    const char *hdr = "{\"f32\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[1,9]},"
                      "\"f16\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[9,13]},"
                      "\"bf16\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[13,17]},"
                      "\"pad\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}";
    ck_assert_int_eq(open_hdr(hdr, 17, &st), PL_OK);
    float got[3] = {0, 0, -7.0f};
    const struct pl_st_entry *e = pl_safetensors_find(st, "f32");
    pl_st_entry_to_f32(e, got);
    for (int i = 0; i < 2; i++) {
        unsigned char b[4] = {(unsigned char)(1 + 4 * i), (unsigned char)(2 + 4 * i),
                              (unsigned char)(3 + 4 * i), (unsigned char)(4 + 4 * i)};
        float want;
        memcpy(&want, b, 4);
        ck_assert(memcmp(&got[i], &want, 4) == 0);
    }
    ck_assert(got[2] == -7.0f); /* nothing written past the entry */
    e = pl_safetensors_find(st, "f16");
    pl_st_entry_to_f32(e, got);
    ck_assert(got[0] == pl_f16_to_f32((uint16_t)(9 | 10 << 8)));
    ck_assert(got[1] == pl_f16_to_f32((uint16_t)(11 | 12 << 8)));
    e = pl_safetensors_find(st, "bf16");
    pl_st_entry_to_f32(e, got);
    ck_assert(got[0] == pl_bf16_to_f32((uint16_t)(13 | 14 << 8)));
    ck_assert(got[1] == pl_bf16_to_f32((uint16_t)(15 | 16 << 8)));
    ck_assert(got[2] == -7.0f);
    /* bf16 is the top half of an f32: 0x0e0d -> 0x0e0d0000 */
    uint32_t bits = 0x0e0d0000u;
    float w;
    memcpy(&w, &bits, 4);
    ck_assert(pl_bf16_to_f32(0x0e0d) == w);
    pl_safetensors_close(st);
}
END_TEST

Suite *pl_safetensors_suite(void) {
    Suite *s = suite_create("safetensors");
    TCase *tc = tcase_create("safetensors");
    tcase_add_test(tc, test_valid);
    tcase_add_test(tc, test_entry_to_f32);
    tcase_add_test(tc, test_hostile);
    tcase_add_test(tc, test_sweep);
    tcase_add_test(tc, test_file);
    suite_add_tcase(s, tc);
    return s;
}
