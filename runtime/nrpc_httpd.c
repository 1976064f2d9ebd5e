/*
 * nrpc_httpd.c - a tiny HTTP/1.1 server for /metrics, /healthz and /readyz.
 *
 * One thread, one connection at a time: scrapes and probes are rare and
 * cheap, so serving them in order keeps this small. Each connection gets a
 * 2 s budget to send its request head; a slow or broken client cannot hold
 * the port longer than that.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "alloc.h"
#include "log.h"
#include "nrpc_metrics.h"
#include "util.h"

#define REQ_MAX 8192
#define READ_BUDGET_MS 2000

struct pl_httpd {
    int fd;
    int wake[2];
    int port;
    pl_httpd_fn fn;
    void *ud;
    pthread_t thread;
    bool started;
};

static const char *reason(int code) {
    switch (code) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 503: return "Service Unavailable";
    default: return code >= 500 ? "Internal Server Error" : "Error";
    }
}

static void write_all(int fd, const char *p, size_t n) {
    while (n) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return;
        p += k;
        n -= (size_t)k;
    }
}

static void respond(int fd, int code, const char *ctype, const char *body, size_t n, bool head) {
    char hdr[256];
    int k = snprintf(hdr, sizeof hdr,
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n",
                     code, reason(code), ctype, n);
    write_all(fd, hdr, (size_t)k);
    if (!head && n) write_all(fd, body, n);
}

static void serve_one(struct pl_httpd *h, int fd) {
    char req[REQ_MAX + 1];
    size_t len = 0;
    int64_t end = pl_time_mono_ms() + READ_BUDGET_MS;
    while (len < REQ_MAX) {
        int64_t left = end - pl_time_mono_ms();
        if (left <= 0) return;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int r = poll(&p, 1, (int)left);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return;
        ssize_t k = recv(fd, req + len, REQ_MAX - len, 0);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return;
        len += (size_t)k;
        req[len] = 0;
        if (strstr(req, "\r\n\r\n") || strstr(req, "\n\n")) break;
    }
    req[len] = 0;
    char method[16], target[1024];
    if (sscanf(req, "%15s %1023s", method, target) != 2) {
        respond(fd, 400, "text/plain", "bad request\n", 12, false);
        return;
    }
    char *q = strchr(target, '?');
    if (q) *q = 0;
    bool head = strcmp(method, "HEAD") == 0;
    if (!head && strcmp(method, "GET") != 0) {
        respond(fd, 405, "text/plain", "method not allowed\n", 19, false);
        return;
    }
    struct pl_strbuf body;
    pl_strbuf_init(&body);
    const char *ctype = "text/plain; charset=utf-8";
    int code = h->fn(h->ud, method, target, &body, &ctype);
    if (body.failed) {
        respond(fd, 500, "text/plain", "out of memory\n", 14, head);
    } else {
        respond(fd, code, ctype, body.data ? body.data : "", body.len, head);
    }
    pl_strbuf_deinit(&body);
}

static void *httpd_main(void *arg) {
    struct pl_httpd *h = arg;
    for (;;) {
        struct pollfd p[2] = {{.fd = h->fd, .events = POLLIN},
                              {.fd = h->wake[0], .events = POLLIN}};
        int r = poll(p, 2, -1);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 || (p[1].revents & (POLLIN | POLLHUP))) break;
        if (!(p[0].revents & POLLIN)) continue;
        int fd = accept4(h->fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) continue;
        serve_one(h, fd);
        shutdown(fd, SHUT_WR);
        close(fd);
    }
    return NULL;
}

pl_status pl_httpd_create(const char *host, int port, pl_httpd_fn fn, void *ud,
                          struct pl_httpd **out) {
    pl_status st = PL_OK;
    if (!out || !fn || port < 0 || port > 65535)
        return PL_ERR(PL_E_INVALID_ARG, "httpd: bad arguments (port %d)", port);
    *out = NULL;
    struct pl_httpd *h = pl_calloc(1, sizeof *h);
    if (!h) return PL_ERR(PL_E_NOMEM, "httpd");
    h->fd = -1;
    h->wake[0] = h->wake[1] = -1;
    h->fn = fn;
    h->ud = ud;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host && *host ? host : "127.0.0.1", &a.sin_addr) != 1) {
        st = PL_ERR(PL_E_INVALID_ARG, "httpd: bad IPv4 address '%s'", host);
        goto fail;
    }
    h->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (h->fd < 0 || setsockopt(h->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(h->fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(h->fd, 64) != 0) {
        st = PL_ERR(PL_E_IO, "httpd: cannot listen on %s:%d: %s", host ? host : "127.0.0.1", port,
                    strerror(errno));
        goto fail;
    }
    socklen_t al = sizeof a;
    if (getsockname(h->fd, (struct sockaddr *)&a, &al) != 0) {
        st = PL_ERR(PL_E_IO, "httpd: getsockname: %s", strerror(errno));
        goto fail;
    }
    h->port = ntohs(a.sin_port);
    if (pipe2(h->wake, O_CLOEXEC) != 0) {
        st = PL_ERR(PL_E_IO, "httpd: pipe: %s", strerror(errno));
        goto fail;
    }
    if (pthread_create(&h->thread, NULL, httpd_main, h) != 0) {
        st = PL_ERR(PL_E_INTERNAL, "httpd: thread");
        goto fail;
    }
    h->started = true;
    *out = h;
    return PL_OK;
fail:
    pl_httpd_destroy(h);
    return st;
}

int pl_httpd_port(const struct pl_httpd *h) { return h ? h->port : -1; }

void pl_httpd_destroy(struct pl_httpd *h) {
    if (!h) return;
    if (h->started) {
        char c = 1;
        while (write(h->wake[1], &c, 1) < 0 && errno == EINTR) {
        }
        pthread_join(h->thread, NULL);
    }
    if (h->fd >= 0) close(h->fd);
    if (h->wake[0] >= 0) close(h->wake[0]);
    if (h->wake[1] >= 0) close(h->wake[1]);
    pl_free(h);
}
