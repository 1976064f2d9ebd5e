/* status.c - status names and the thread-local last error. */
#include "status.h"

#include <stdarg.h>
#include <string.h>

#define ERRMSG_MAX 512

static _Thread_local struct {
    pl_status status;
    char msg[ERRMSG_MAX];
    char where[96];
} last_error;

static const char *const status_names[PL_STATUS_COUNT] = {
    [PL_OK] = "PL_OK",
    [PL_E_INVALID_ARG] = "PL_E_INVALID_ARG",
    [PL_E_NOMEM] = "PL_E_NOMEM",
    [PL_E_IO] = "PL_E_IO",
    [PL_E_FORMAT] = "PL_E_FORMAT",
    [PL_E_UNSUPPORTED] = "PL_E_UNSUPPORTED",
    [PL_E_BACKEND] = "PL_E_BACKEND",
    [PL_E_TIMEOUT] = "PL_E_TIMEOUT",
    [PL_E_CANCELLED] = "PL_E_CANCELLED",
    [PL_E_INTERNAL] = "PL_E_INTERNAL",
    [PL_E_NOT_FOUND] = "PL_E_NOT_FOUND",
    [PL_E_UNAVAILABLE] = "PL_E_UNAVAILABLE",
    [PL_E_EXHAUSTED] = "PL_E_EXHAUSTED",
};

const char *pl_status_str(pl_status s) {
    if ((unsigned)s >= PL_STATUS_COUNT) return "PL_E_UNKNOWN";
    return status_names[s];
}

pl_status pl__set_error(pl_status s, const char *file, int line, const char *fmt, ...) {
    va_list ap;
    const char *base = strrchr(file, '/');

    last_error.status = s;
    va_start(ap, fmt);
    vsnprintf(last_error.msg, sizeof last_error.msg, fmt, ap);
    va_end(ap);
    snprintf(last_error.where, sizeof last_error.where, "%s:%d", base ? base + 1 : file, line);
    return s;
}

const char *pl_last_error(void) { return last_error.msg; }

const char *pl_last_error_where(void) { return last_error.where; }

pl_status pl_last_status(void) { return last_error.status; }

void pl_clear_error(void) {
    last_error.status = PL_OK;
    last_error.msg[0] = '\0';
    last_error.where[0] = '\0';
}

void pl__assert_fail(const char *expr, const char *file, int line) {
    fprintf(stderr, "%s:%d: assertion failed: %s\n", file, line, expr);
    fflush(stderr);
    abort();
}
