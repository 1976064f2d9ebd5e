/* up_common.c - state file, HTTP/TCP probes and liveness for parley up/status. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "up.h"
#include "util.h"

pl_status pl_up_state_write(const char *path, const struct pl_up_entry *e, size_t n) {
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) return PL_ERR(PL_E_IO, "%s: %s", tmp, strerror(errno));
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%s\t%ld\t%d\t%s%s\n", e[i].name, (long)e[i].pid, e[i].http_port,
                e[i].endpoint[0] ? e[i].endpoint : "-", e[i].http_tls ? "\thttps" : "");
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        unlink(tmp);
        return PL_ERR(PL_E_IO, "%s: %s", path, strerror(errno));
    }
    return PL_OK;
}

pl_status pl_up_state_read(const char *path, struct pl_up_entry *e, size_t cap, size_t *n) {
    *n = 0;
    FILE *f = fopen(path, "r");
    if (!f) return PL_ERR(PL_E_IO, "%s: %s", path, strerror(errno));
    char line[512];
    int lineno = 0;
    pl_status st = PL_OK;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        if (line[0] == '\n' || line[0] == '#') continue;
        if (*n == cap) break;
        struct pl_up_entry *x = &e[*n];
        long pid;
        int port;
        char tls[8] = "";
        int got = sscanf(line, "%63s\t%ld\t%d\t%95s\t%7s", x->name, &pid, &port, x->endpoint,
                         tls);
        if (got < 4 || pid <= 0 || port < 0 || port > 65535 ||
            (got == 5 && strcmp(tls, "https") != 0)) {
            st = PL_ERR(PL_E_FORMAT, "%s:%d: expected \"name pid port endpoint [https]\"", path,
                        lineno);
            break;
        }
        x->pid = (pid_t)pid;
        x->http_port = port;
        x->http_tls = got == 5;
        (*n)++;
    }
    fclose(f);
    return st;
}

static int connect_to(int port, int timeout_ms) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        if (errno != EINPROGRESS) goto fail;
        struct pollfd p = {fd, POLLOUT, 0};
        if (poll(&p, 1, timeout_ms) != 1) goto fail;
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) goto fail;
    }
    return fd;
fail:
    close(fd);
    return -1;
}

bool pl_up_tcp_open(int port, int timeout_ms) {
    int fd = connect_to(port, timeout_ms);
    if (fd < 0) return false;
    close(fd);
    return true;
}

bool pl_up_port_free(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return true; /* cannot tell: let the service try */
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one); /* as the services listen */
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0 || errno != EADDRINUSE;
    close(fd);
    return ok;
}

int pl_up_http_get(int port, const char *path, int timeout_ms) {
    int64_t until = pl_time_mono_ms() + timeout_ms;
    int fd = connect_to(port, timeout_ms);
    if (fd < 0) return -1;
    char req[256];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
                     path);
    int code = -1;
    if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) goto done;
    char buf[64];
    size_t got = 0;
    while (got < sizeof buf - 1) {
        int left = (int)(until - pl_time_mono_ms());
        struct pollfd p = {fd, POLLIN, 0};
        if (left <= 0 || poll(&p, 1, left) != 1) break;
        ssize_t r = recv(fd, buf + got, sizeof buf - 1 - got, 0);
        if (r <= 0) break;
        got += (size_t)r;
        buf[got] = 0;
        if (strchr(buf, '\n')) break;
    }
    buf[got] = 0;
    int c;
    if (sscanf(buf, "HTTP/1.%*d %d", &c) == 1) code = c;
done:
    close(fd);
    return code;
}

int pl_up_readyz(const struct pl_up_entry *e, int timeout_ms) {
    if (e->http_tls) return pl_up_tcp_open(e->http_port, timeout_ms) ? 200 : -1;
    return pl_up_http_get(e->http_port, "/readyz", timeout_ms);
}

const char *pl_up_http_scheme(const struct pl_up_entry *e) {
    return e->http_tls ? "https" : "http";
}

long pl_up_parse_int(const char *s, long lo, long hi) {
    if (!s || !*s) return -1;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || (*end && *end != ',') || v < lo || v > hi) return -1;
    return v;
}

int pl_up_endpoint_port(const char *endpoint) {
    const char *colon = strrchr(endpoint, ':');
    return colon ? (int)pl_up_parse_int(colon + 1, 1, 65535) : -1;
}

bool pl_up_alive(pid_t pid) { return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM); }
