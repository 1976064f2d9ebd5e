/* test_nats.c - a real nats-server per test, on a free loopback port (test code only). */
#include "test_nats.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

int pl_test_free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t l = sizeof a;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &l) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

int pl_test_wait_port(int port, int timeout_ms) {
    int64_t end = pl_time_mono_ms() + timeout_ms;
    while (pl_time_mono_ms() < end) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        int ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
        if (fd >= 0) close(fd);
        if (ok) return 1;
        pl_sleep_ms(20);
    }
    return 0;
}

pid_t pl_test_spawn(char *const argv[]) {
    pid_t pid = fork();
    if (pid == 0) {
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

int pl_test_kill(pid_t pid, int sig) {
    int status = 0;
    if (pid <= 0) return -1;
    kill(pid, sig);
    for (int i = 0; i < 300; i++) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) return status;
        if (r < 0 && errno != EINTR) return -1;
        pl_sleep_ms(10);
    }
    kill(pid, SIGKILL);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return status;
}

static const char *server_path(void) {
    const char *env = getenv("PARLEY_NATS_SERVER");
    if (env && *env) return env;
    if (access("/usr/sbin/nats-server", X_OK) == 0) return "/usr/sbin/nats-server";
    if (access("/usr/bin/nats-server", X_OK) == 0) return "/usr/bin/nats-server";
    return NULL;
}

static pid_t launch(struct pl_test_nats *n, const char *bin) {
    char conf[300], log[300], port_s[16];
    snprintf(conf, sizeof conf, "%s/nats.conf", n->dir);
    snprintf(log, sizeof log, "%s/nats.log", n->dir);
    snprintf(port_s, sizeof port_s, "%d", n->port);
    char *argv[] = {(char *)bin, "-a", "127.0.0.1", "-p", port_s, "-c", conf, "-l", log, NULL};
    return pl_test_spawn(argv);
}

pl_status pl_test_nats_restart(struct pl_test_nats *n) {
    const char *bin = server_path();
    if (!bin || n->port <= 0) return PL_ERR(PL_E_INVALID_ARG, "restart: no server");
    if (n->pid > 0) pl_test_kill(n->pid, SIGTERM);
    for (int i = 0; i < 50; i++) {
        n->pid = launch(n, bin);
        if (n->pid > 0 && pl_test_wait_port(n->port, 2000)) return PL_OK;
        if (n->pid > 0) pl_test_kill(n->pid, SIGKILL); /* port still in TIME_WAIT? retry */
        pl_sleep_ms(50);
    }
    n->pid = -1;
    return PL_ERR(PL_E_UNAVAILABLE, "nats-server did not restart on port %d", n->port);
}

pl_status pl_test_nats_start(struct pl_test_nats *n, int max_payload) {
    memset(n, 0, sizeof *n);
    n->pid = -1;
    const char *bin = server_path();
    if (!bin)
        return PL_ERR(PL_E_NOT_FOUND,
                      "nats-server not found (install it or set PARLEY_NATS_SERVER)");
    snprintf(n->dir, sizeof n->dir, "/tmp/pl-test-nats-XXXXXX");
    if (!mkdtemp(n->dir)) return PL_ERR(PL_E_IO, "mkdtemp: %s", strerror(errno));
    char conf[300], log[300];
    snprintf(conf, sizeof conf, "%s/nats.conf", n->dir);
    snprintf(log, sizeof log, "%s/nats.log", n->dir);
    FILE *f = fopen(conf, "w");
    if (!f) return PL_ERR(PL_E_IO, "%s: %s", conf, strerror(errno));
    if (max_payload > 0) fprintf(f, "max_payload: %d\n", max_payload);
    fclose(f);
    for (int attempt = 0; attempt < 5; attempt++) {
        n->port = pl_test_free_port();
        if (n->port <= 0) continue;
        n->pid = launch(n, bin);
        if (n->pid < 0) return PL_ERR(PL_E_IO, "fork: %s", strerror(errno));
        if (pl_test_wait_port(n->port, 5000)) {
            snprintf(n->url, sizeof n->url, "nats://127.0.0.1:%d", n->port);
            return PL_OK;
        }
        pl_test_kill(n->pid, SIGKILL); /* port taken meanwhile? try another */
        n->pid = -1;
    }
    return PL_ERR(PL_E_UNAVAILABLE, "nats-server did not start (see %s)", log);
}

void pl_test_nats_stop(struct pl_test_nats *n) {
    if (n->pid > 0) pl_test_kill(n->pid, SIGTERM);
    n->pid = -1;
    if (n->dir[0]) {
        char p[300];
        snprintf(p, sizeof p, "%s/nats.conf", n->dir);
        unlink(p);
        snprintf(p, sizeof p, "%s/nats.log", n->dir);
        unlink(p);
        rmdir(n->dir);
        n->dir[0] = 0;
    }
}
