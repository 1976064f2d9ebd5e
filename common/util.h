/*
 * util.h - monotonic time, request ids, URLs for logs.
 * Thread-safety: all functions are safe from any thread.
 */
#ifndef PL_UTIL_H
#define PL_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Monotonic clock (CLOCK_MONOTONIC): for durations and deadlines. */
int64_t pl_time_mono_ns(void);
int64_t pl_time_mono_us(void);
int64_t pl_time_mono_ms(void);
/* Wall clock, milliseconds since the Unix epoch: for deadlines that cross processes. */
int64_t pl_time_wall_ms(void);
void pl_sleep_ms(int64_t ms);

/* A request id is 32 lowercase hex digits (128 random bits) plus NUL. */
#define PL_REQUEST_ID_LEN 33

/* Fill out with a fresh random request id. Uses getrandom(); never fails. */
void pl_request_id_new(char out[PL_REQUEST_ID_LEN]);

/* True if s looks like an id a client may pass along: 1-64 chars of
 * [A-Za-z0-9._:-]. Ids from outside are checked before they reach logs. */
int pl_request_id_valid(const char *s);

/* url fit for a log line: credentials ("nats://user:pass@host:4222", "nats://token@host")
 * become three asterisks before the '@'; a comma-separated list is handled URL by URL. Writes at
 * most cap bytes (NUL-terminated, truncated when longer) and returns out. */
const char *pl_url_redact(const char *url, char *out, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
