/*
 * up.h - shared parts of `parley up` and `parley status`: the state file,
 * readiness probes over HTTP, and starting/stopping child processes.
 *
 * State file (<state-dir>/parley-up.state), written by `parley up`, one
 * process per line, tab-separated:
 *     <name> <pid> <http-port or 0> <endpoint, or -> [https]
 * The first line is "up <pid of parley up> 0 -". "https" marks an HTTP port
 * that serves TLS (the gateway's with gateway.http_tls); a line without it
 * (older files too) is plain HTTP.
 *
 * Thread-safety: none needed (both tools are single-threaded).
 */
#ifndef PL_UP_H
#define PL_UP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "status.h"

#define PL_UP_STATE_FILE "parley-up.state"
#define PL_UP_MAX_PROCS 32

struct pl_up_entry {
    char name[64];
    pid_t pid;
    int http_port;     /* /readyz port; 0 = none (probe by TCP on the endpoint) */
    char endpoint[96]; /* "127.0.0.1:50051", "nats://127.0.0.1:4222" or "-" */
    bool http_tls;     /* http_port serves TLS: its URLs are https:// */
};

/* Write entries to path atomically (temp file + rename). PL_E_IO on failure. */
pl_status pl_up_state_write(const char *path, const struct pl_up_entry *e, size_t n);

/* Read up to cap entries. OUT *n. PL_E_IO when unreadable, PL_E_FORMAT on a bad line. */
pl_status pl_up_state_read(const char *path, struct pl_up_entry *e, size_t cap, size_t *n);

/* GET http://127.0.0.1:port/path within timeout_ms; returns the HTTP status
 * code, or -1 when no answer. */
int pl_up_http_get(int port, const char *path, int timeout_ms);

/* True if a TCP connection to 127.0.0.1:port opens within timeout_ms. */
bool pl_up_tcp_open(int port, int timeout_ms);

/* False when 127.0.0.1:port is bound by another socket now (bind fails with EADDRINUSE;
 * SO_REUSEADDR as the services set it, so a port in TIME_WAIT counts as free). */
bool pl_up_port_free(int port);

/* Readiness of e's HTTP port (e->http_port > 0) within timeout_ms: the status code of GET
 * /readyz, or -1 when no answer. A TLS port (e->http_tls), which these probes do not speak,
 * answers 200 when it accepts a TCP connection: the gateway opens it only after its first
 * NATS connect. */
int pl_up_readyz(const struct pl_up_entry *e, int timeout_ms);

/* "https" for a TLS HTTP port, else "http": the scheme of e's URLs. */
const char *pl_up_http_scheme(const struct pl_up_entry *e);

/* Parse a decimal integer in [lo, hi] that fills all of s (or up to a ',').
 * Returns -1 when s is not one. */
long pl_up_parse_int(const char *s, long lo, long hi);

/* Port of an endpoint "scheme://host:port" or "host:port"; -1 if none. */
int pl_up_endpoint_port(const char *endpoint);

/* True if the process exists (kill(pid, 0)). */
bool pl_up_alive(pid_t pid);

#endif
