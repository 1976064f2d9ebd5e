/*
 * fuzz_util.h - small helpers shared by the fuzz targets (tests/fuzz/fuzz_*.c).
 *
 * Each target defines LLVMFuzzerTestOneInput. It is linked either with libFuzzer
 * (-fsanitize=fuzzer, PARLEY_FUZZ=ON, `make fuzz`) or with replay_main.c, which feeds it
 * every file of the seed and regression folders (ctest label `fuzz`).
 *
 * A target splits its input into parts with fz_next_part(): the parts are separated by the
 * 4 bytes "\n--\n" (FZ_SEP), so seed files stay readable text and libFuzzer's mutations
 * (and the dictionaries, which list FZ_SEP) can move bytes between the parts.
 */
#ifndef PL_FUZZ_UTIL_H
#define PL_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "alloc.h"
#include "log.h"

#define FZ_SEP "\n--\n"
#define FZ_SEP_LEN 4

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A cursor over the input. */
struct fz_in {
    const uint8_t *p;
    size_t n;
};

/* The next part (up to FZ_SEP or the end); *len its length. Returns NULL when no part is
 * left. The part is borrowed from the input (not NUL-terminated). */
static inline const uint8_t *fz_next_part(struct fz_in *in, size_t *len) {
    if (!in->p) return NULL;
    const uint8_t *start = in->p;
    const uint8_t *sep = in->n >= FZ_SEP_LEN ? memmem(in->p, in->n, FZ_SEP, FZ_SEP_LEN) : NULL;
    if (sep) {
        *len = (size_t)(sep - start);
        in->n -= *len + FZ_SEP_LEN;
        in->p = sep + FZ_SEP_LEN;
    } else {
        *len = in->n;
        in->p = NULL;
        in->n = 0;
    }
    return start;
}

/* One byte from the front of the input (0 when empty). */
static inline uint8_t fz_byte(struct fz_in *in) {
    if (!in->p || in->n == 0) return 0;
    uint8_t b = in->p[0];
    in->p++;
    in->n--;
    return b;
}

/* A NUL-terminated copy of n bytes (pl_free); NULL on out of memory. */
static inline char *fz_str(const uint8_t *p, size_t n) { return pl_strndup((const char *)p, n); }

static void fz_log_quiet(enum pl_log_level level, const char *src, const char *msg, void *ud) {
    (void)level;
    (void)src;
    (void)msg;
    (void)ud;
}

/* Silence Parley's logging (targets call it once). */
static inline void fz_quiet(void) {
    pl_log_set(fz_log_quiet, NULL);
    pl_log_set_level(PL_LOG_ERROR);
}

#endif
