/*
 * test_nats.h - start and stop a real nats-server for tests (test code only).
 *
 *   struct pl_test_nats n;
 *   ck_assert_int_eq(pl_test_nats_start(&n, 0), PL_OK);   // free 127.0.0.1 port
 *   ... connect to n.url ...
 *   pl_test_nats_stop(&n);                                 // SIGTERM by PID, waitpid
 *
 * The server runs with `-a 127.0.0.1 -p <free port>` and, when max_payload
 * is set, a config file in a fresh temporary directory (removed on stop).
 * Not thread-safe; one struct per server.
 */
#ifndef PL_TEST_NATS_H
#define PL_TEST_NATS_H

#include <sys/types.h>

#include "status.h"

struct pl_test_nats {
    pid_t pid;
    int port;
    char url[64];  /* "nats://127.0.0.1:<port>" */
    char dir[256]; /* temporary directory (config, log) */
};

/* A TCP port on 127.0.0.1 that was free a moment ago. -1 on failure. */
int pl_test_free_port(void);

/* Start nats-server and wait (up to 5 s) until it accepts connections.
 * max_payload 0 keeps the server default (1 MiB). */
pl_status pl_test_nats_start(struct pl_test_nats *n, int max_payload);

/* Stop the server and start a fresh one on the same port and config (clients
 * see a disconnect, then can reconnect). */
pl_status pl_test_nats_restart(struct pl_test_nats *n);

/* Stop it (SIGTERM, then SIGKILL after 3 s), reap it, remove the directory. */
void pl_test_nats_stop(struct pl_test_nats *n);

/* Spawn argv[0] (a path) with argv; returns the pid or -1. stdout/stderr are
 * inherited. For test helper processes such as the echo worker. */
pid_t pl_test_spawn(char *const argv[]);
/* SIGTERM/SIGKILL pid and reap it; returns its wait status. */
int pl_test_kill(pid_t pid, int sig);

/* Wait until a TCP connect to 127.0.0.1:port succeeds (true) or timeout_ms passes. */
int pl_test_wait_port(int port, int timeout_ms);

#endif
