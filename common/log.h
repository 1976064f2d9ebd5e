/*
 * log.h - levelled logging through a replaceable hook.
 *
 * Library code never prints: it calls PL_LOGE/W/I/D, which check the level
 * first and then hand the formatted message to the hook set by pl_log_set().
 * The default hook writes one JSON object per line to stderr:
 *
 *   {"ts":"2026-11-27T05:12:01.123Z","level":"info","service":"gateway",
 *    "request_id":"6f1c...","msg":"listening on 127.0.0.1:50051","src":"gateway.c:88"}
 *
 * service comes from pl_log_set_service(); request_id from the calling
 * thread's pl_log_set_request_id() (omitted when unset).
 * Thread-safety: all functions are safe from any thread; set the hook and
 * service name before starting threads.
 */
#ifndef PL_LOG_H
#define PL_LOG_H

#ifdef __cplusplus
extern "C" {
#endif

enum pl_log_level {
    PL_LOG_ERROR = 0,
    PL_LOG_WARN = 1,
    PL_LOG_INFO = 2,
    PL_LOG_DEBUG = 3,
};

/* Receives every message at or above the level. msg is borrowed for the call. */
typedef void (*pl_log_fn)(enum pl_log_level level, const char *src, const char *msg, void *ud);

/* Replace the hook; NULL restores the default JSON-lines-on-stderr hook. */
void pl_log_set(pl_log_fn fn, void *ud);

void pl_log_set_level(enum pl_log_level level);
enum pl_log_level pl_log_get_level(void);

/* Parse "error", "warn", "info", "debug"; returns -1 for anything else. */
int pl_log_level_parse(const char *s);

/* Name printed as "service" (copied; at most 63 bytes kept). */
void pl_log_set_service(const char *name);

/* Request id for messages logged by this thread; NULL clears it (copied). */
void pl_log_set_request_id(const char *id);
const char *pl_log_request_id(void); /* borrowed; "" when unset */

void pl__log(enum pl_log_level level, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

extern int pl__log_level;

#define PL_LOG(lvl, ...)                                                                           \
    do {                                                                                           \
        if ((int)(lvl) <= pl__log_level) pl__log((lvl), __FILE__, __LINE__, __VA_ARGS__);          \
    } while (0)
#define PL_LOGE(...) PL_LOG(PL_LOG_ERROR, __VA_ARGS__)
#define PL_LOGW(...) PL_LOG(PL_LOG_WARN, __VA_ARGS__)
#define PL_LOGI(...) PL_LOG(PL_LOG_INFO, __VA_ARGS__)
#define PL_LOGD(...) PL_LOG(PL_LOG_DEBUG, __VA_ARGS__)

#ifdef __cplusplus
}
#endif
#endif
