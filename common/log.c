/* log.c - level check, hook dispatch and the default JSON-lines hook. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "strbuf.h"

int pl__log_level = PL_LOG_INFO;

static pl_log_fn log_fn;
static void *log_ud;
static char service_name[64] = "parley";
static _Thread_local char request_id[64];

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void pl_log_set(pl_log_fn fn, void *ud) {
    log_fn = fn;
    log_ud = ud;
}

void pl_log_set_level(enum pl_log_level level) { pl__log_level = (int)level; }

enum pl_log_level pl_log_get_level(void) { return (enum pl_log_level)pl__log_level; }

int pl_log_level_parse(const char *s) {
    if (!s) return -1;
    for (size_t i = 0; i < sizeof level_names / sizeof level_names[0]; i++)
        if (strcmp(s, level_names[i]) == 0) return (int)i;
    return -1;
}

void pl_log_set_service(const char *name) {
    snprintf(service_name, sizeof service_name, "%s", name ? name : "parley");
}

void pl_log_set_request_id(const char *id) {
    snprintf(request_id, sizeof request_id, "%s", id ? id : "");
}

const char *pl_log_request_id(void) { return request_id; }

/* One JSON object per line; a single fputs keeps lines whole across threads. */
static void default_hook(enum pl_log_level level, const char *src, const char *msg, void *ud) {
    (void)ud;
    char ts[40];
    struct timespec now;
    struct tm tm;
    struct pl_strbuf sb;

    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);

    pl_strbuf_init(&sb);
    pl_strbuf_appendf(&sb, "{\"ts\":\"%s.%03ldZ\",\"level\":\"%s\",\"service\":", ts,
                      now.tv_nsec / 1000000, level_names[level]);
    pl_strbuf_append_json(&sb, service_name);
    if (request_id[0]) {
        pl_strbuf_append(&sb, ",\"request_id\":");
        pl_strbuf_append_json(&sb, request_id);
    }
    pl_strbuf_append(&sb, ",\"msg\":");
    pl_strbuf_append_json(&sb, msg);
    pl_strbuf_append(&sb, ",\"src\":");
    pl_strbuf_append_json(&sb, src);
    pl_strbuf_append(&sb, "}\n");
    if (!sb.failed) {
        fputs(sb.data, stderr);
    } else {
        fprintf(stderr, "{\"level\":\"%s\",\"msg\":\"(log line lost: out of memory)\"}\n",
                level_names[level]);
    }
    pl_strbuf_deinit(&sb);
}

void pl__log(enum pl_log_level level, const char *file, int line, const char *fmt, ...) {
    char msg[2048], src[96];
    const char *base = strrchr(file, '/');
    va_list ap;

    if ((int)level < 0 || (int)level > PL_LOG_DEBUG) level = PL_LOG_ERROR;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(src, sizeof src, "%s:%d", base ? base + 1 : file, line);
    if (log_fn)
        log_fn(level, src, msg, log_ud);
    else
        default_hook(level, src, msg, NULL);
}
