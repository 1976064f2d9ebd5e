/*
 * parley-status (`parley status`): what `parley up` runs and whether it is ready.
 *
 *   parley status [--state-dir DIR]
 *
 * Reads <state-dir>/parley-up.state and probes each process (/readyz on its
 * HTTP port, or a TCP connect for NATS). Exit status: 0 all running and
 * ready, 1 something is down or not ready, 3 parley up is not running.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "up.h"

int main(int argc, char **argv) {
    const char *state = getenv("PARLEY_STATE_DIR");
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--state-dir") && i + 1 < argc) {
            state = argv[++i];
        } else {
            fprintf(strcmp(argv[i], "--help") ? stderr : stdout,
                    "usage: parley status [--state-dir DIR]\n");
            return strcmp(argv[i], "--help") ? 2 : 0;
        }
    }
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", state ? state : "state", PL_UP_STATE_FILE);
    struct pl_up_entry e[PL_UP_MAX_PROCS + 1];
    size_t n = 0;
    if (pl_up_state_read(path, e, PL_UP_MAX_PROCS + 1, &n) != PL_OK || n == 0 ||
        strcmp(e[0].name, "up") != 0 || !pl_up_alive(e[0].pid)) {
        printf("parley is not running (no live state in %s)\n", path);
        return 3;
    }
    printf("parley up: pid %d\n", (int)e[0].pid);
    printf("%-10s %-8s %-10s %s\n", "NAME", "PID", "STATE", "ENDPOINT");
    int bad = 0;
    for (size_t i = 1; i < n; i++) {
        const char *st;
        if (!pl_up_alive(e[i].pid)) {
            st = "down";
        } else if (e[i].http_port > 0) {
            int code = pl_up_http_get(e[i].http_port, "/readyz", 1000);
            st = code == 200 ? "ready" : code > 0 ? "not-ready" : "no-answer";
        } else {
            int port = pl_up_endpoint_port(e[i].endpoint);
            st = port > 0 && pl_up_tcp_open(port, 1000) ? "ready" : "no-answer";
        }
        if (strcmp(st, "ready") != 0) bad++;
        char ep[160];
        if (e[i].http_port > 0)
            snprintf(ep, sizeof ep, "%s%smetrics http://127.0.0.1:%d/metrics",
                     strcmp(e[i].endpoint, "-") ? e[i].endpoint : "",
                     strcmp(e[i].endpoint, "-") ? "  " : "", e[i].http_port);
        else
            snprintf(ep, sizeof ep, "%s", e[i].endpoint);
        printf("%-10s %-8d %-10s %s\n", e[i].name, (int)e[i].pid, st, ep);
    }
    return bad ? 1 : 0;
}
