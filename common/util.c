/* util.c - clocks and request ids. */
#include "util.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

int64_t pl_time_mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t pl_time_mono_us(void) { return pl_time_mono_ns() / 1000; }

int64_t pl_time_mono_ms(void) { return pl_time_mono_ns() / 1000000; }

int64_t pl_time_wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void pl_sleep_ms(int64_t ms) {
    if (ms <= 0) return;
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
}

/*
 * getrandom() can only fail here if the kernel lacks it or is interrupted;
 * fall back to a per-process counter mixed with time so ids stay unique.
 */
void pl_request_id_new(char out[PL_REQUEST_ID_LEN]) {
    static const char hex[] = "0123456789abcdef";
    static _Atomic uint64_t counter;
    unsigned char r[16];
    size_t got = 0;

    while (got < sizeof r) {
        ssize_t n = getrandom(r + got, sizeof r - got, 0);
        if (n <= 0) {
            if (n < 0 && errno == EINTR) continue;
            break;
        }
        got += (size_t)n;
    }
    if (got < sizeof r) {
        uint64_t a = (uint64_t)pl_time_mono_ns() ^ ((uint64_t)getpid() << 32);
        uint64_t b = atomic_fetch_add(&counter, 1) * 0x9E3779B97F4A7C15ull;
        memcpy(r, &a, 8);
        memcpy(r + 8, &b, 8);
    }
    for (size_t i = 0; i < sizeof r; i++) {
        out[2 * i] = hex[r[i] >> 4];
        out[2 * i + 1] = hex[r[i] & 15];
    }
    out[32] = '\0';
}

int pl_request_id_valid(const char *s) {
    size_t n = 0;
    if (!s) return 0;
    for (; s[n]; n++) {
        char c = s[n];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '_' || c == ':' || c == '-';
        if (!ok || n >= 64) return 0;
    }
    return n > 0;
}

const char *pl_url_redact(const char *url, char *out, size_t cap) {
    size_t o = 0;
    if (!cap) return out;
    const char *p = url ? url : "";
    while (*p && o + 1 < cap) {
        const char *scheme = strstr(p, "://");
        const char *comma = strchr(p, ',');
        if (!scheme || (comma && comma < scheme)) scheme = NULL;
        size_t head = scheme ? (size_t)(scheme - p) + 3 : 0;
        const char *rest = p + head;
        size_t len = strcspn(rest, ",");
        const char *at = memchr(rest, '@', len);
        const char *slash = memchr(rest, '/', len);
        if (at && (!slash || at < slash)) { /* userinfo@host: keep only the host part */
            o += (size_t)snprintf(out + o, cap - o, "%.*s***", (int)head, p);
            if (o >= cap) break;
            rest = at;
            len -= (size_t)(at - (p + head));
        } else {
            o += (size_t)snprintf(out + o, cap - o, "%.*s", (int)head, p);
            if (o >= cap) break;
        }
        o += (size_t)snprintf(out + o, cap - o, "%.*s", (int)len, rest);
        if (o >= cap) break;
        p = rest + len;
        if (*p == ',') {
            o += (size_t)snprintf(out + o, cap - o, ",");
            p++;
        }
    }
    if (o >= cap) o = cap - 1;
    out[o] = 0;
    return out;
}
