/*
 * status.h - error codes and the thread-local "last error" of Parley.
 *
 * Every function that can fail returns a pl_status. On failure it records a
 * human-readable message with the file:line where the error was raised; the
 * caller reads it with pl_last_error() on the same thread. Messages are kept
 * until the next PL_ERR() on that thread.
 *
 *     if (nd > 8) return PL_ERR(PL_E_FORMAT, "tensor %s: %d dims", name, nd);
 *     PL_TRY(pl_config_load(...));          // pass an error up unchanged
 *
 * Programmer bugs use PL_ASSERT (aborts). Request data, files, the network
 * and devices never abort: they return a status.
 */
#ifndef PL_STATUS_H
#define PL_STATUS_H

#include <stdio.h>
#include <stdlib.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Numbers are part of the ABI and are never reused. */
typedef enum pl_status {
    PL_OK = 0,
    PL_E_INVALID_ARG = 1,
    PL_E_NOMEM = 2,
    PL_E_IO = 3,
    PL_E_FORMAT = 4,
    PL_E_UNSUPPORTED = 5,
    PL_E_BACKEND = 6,
    PL_E_TIMEOUT = 7,
    PL_E_CANCELLED = 8,
    PL_E_INTERNAL = 9,
    PL_E_NOT_FOUND = 10,
    PL_E_UNAVAILABLE = 11,
    PL_E_EXHAUSTED = 12,
} pl_status;

#define PL_STATUS_COUNT 13

/* Name of a status ("PL_E_FORMAT"); static storage, never free. */
const char *pl_status_str(pl_status s);

/* Record a formatted message (and where it was raised) for status s on this
 * thread and return s. Use through PL_ERR(). */
pl_status pl__set_error(pl_status s, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define PL_ERR(s, ...) pl__set_error((s), __FILE__, __LINE__, __VA_ARGS__)

/* The message of the last error raised on this thread, without location
 * ("tensor x: 9 dims"), or "" if none. Borrowed until the next error. */
const char *pl_last_error(void);

/* "file.c:123" of the last error on this thread, or "". Borrowed. */
const char *pl_last_error_where(void);

/* Status of the last error raised on this thread (PL_OK after pl_clear_error). */
pl_status pl_last_status(void);

/* Forget the last error of this thread. */
void pl_clear_error(void);

/* Evaluate a pl_status expression and return it from the caller on failure. */
#define PL_TRY(expr)                                                                               \
    do {                                                                                           \
        pl_status pl__try_s = (expr);                                                              \
        if (pl__try_s != PL_OK) return pl__try_s;                                                  \
    } while (0)

/* Like PL_TRY but jumps to the function's fail: label with `st` set. */
#define PL_TRY_GOTO(st, expr)                                                                      \
    do {                                                                                           \
        (st) = (expr);                                                                             \
        if ((st) != PL_OK) goto fail;                                                              \
    } while (0)

void pl__assert_fail(const char *expr, const char *file, int line) __attribute__((noreturn));

/* For programmer errors only: never for data that comes from outside. */
#define PL_ASSERT(x)                                                                               \
    do {                                                                                           \
        if (!(x)) pl__assert_fail(#x, __FILE__, __LINE__);                                         \
    } while (0)

#define PL_UNUSED(x) ((void)(x))
#define PL_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#ifdef __cplusplus
}
#endif
#endif
