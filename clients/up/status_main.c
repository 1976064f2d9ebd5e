/*
 * parley-status (`parley status`): what `parley up` runs and whether it is ready.
 *
 *   parley status [--state-dir DIR] [--json]
 *
 * --json prints {"running": true, "pid": N, "processes": [{"name", "pid", "state",
 * "endpoint", "metrics"}]} ({"running": false, "state_file": PATH} when parley up is not
 * running) instead of the table; the exit status is the same.
 * Reads <state-dir>/parley-up.state and probes each process (/readyz on its
 * HTTP port, or a TCP connect for NATS). Exit status: 0 all running and
 * ready, 1 something is down or not ready, 3 parley up is not running.
 */
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strbuf.h"
#include "up.h"

static const char usage[] =
    "usage: parley status [--state-dir DIR] [--json]\n"
    "  --state-dir DIR  where `parley up` keeps its state (default $PARLEY_STATE_DIR,\n"
    "                   else ./state)\n"
    "  --json           print {\"running\", \"pid\", \"processes\": [{\"name\", \"pid\",\n"
    "                   \"state\", \"endpoint\", \"metrics\"}]} instead of the table\n"
    "Exit status: 0 all ready, 1 something down or not ready, 3 parley up not running.\n";

/* sep"key": "value" with value escaped as a JSON string. */
static void json_field(const char *key, const char *value, const char *sep) {
    struct pl_strbuf sb;
    pl_strbuf_init(&sb);
    pl_strbuf_append_json(&sb, value);
    printf("%s\"%s\": %s", sep, key, pl_strbuf_status(&sb) == PL_OK && sb.data ? sb.data : "\"\"");
    pl_strbuf_deinit(&sb);
}

int main(int argc, char **argv) {
    const char *state = getenv("PARLEY_STATE_DIR");
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--state-dir") && i + 1 < argc) {
            state = argv[++i];
        } else if (!strcmp(argv[i], "--json")) {
            json = true;
        } else {
            bool help = !strcmp(argv[i], "--help") || !strcmp(argv[i], "-h");
            if (!help) fprintf(stderr, "parley status: unexpected '%s'\n", argv[i]);
            fputs(usage, help ? stdout : stderr);
            return help ? 0 : 2;
        }
    }
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", state ? state : "state", PL_UP_STATE_FILE);
    struct pl_up_entry e[PL_UP_MAX_PROCS + 1];
    size_t n = 0;
    if (pl_up_state_read(path, e, PL_UP_MAX_PROCS + 1, &n) != PL_OK || n == 0 ||
        strcmp(e[0].name, "up") != 0 || !pl_up_alive(e[0].pid)) {
        if (json) {
            json_field("state_file", path, "{\"running\": false, ");
            printf("}\n");
        } else {
            printf("parley is not running (no live state in %s)\n", path);
        }
        return 3;
    }
    if (json)
        printf("{\"running\": true, \"pid\": %d, \"processes\": [", (int)e[0].pid);
    else
        printf("parley up: pid %d\n%-10s %-8s %-10s %s\n", (int)e[0].pid, "NAME", "PID",
               "STATE", "ENDPOINT");
    int bad = 0;
    for (size_t i = 1; i < n; i++) {
        const char *st;
        if (!pl_up_alive(e[i].pid)) {
            st = "down";
        } else if (e[i].http_port > 0) {
            int code = pl_up_readyz(&e[i], 1000);
            st = code == 200 ? "ready" : code > 0 ? "not-ready" : "no-answer";
        } else {
            int port = pl_up_endpoint_port(e[i].endpoint);
            st = port > 0 && pl_up_tcp_open(port, 1000) ? "ready" : "no-answer";
        }
        if (strcmp(st, "ready") != 0) bad++;
        if (json) {
            char metrics[64] = "";
            if (e[i].http_port > 0)
                snprintf(metrics, sizeof metrics, "%s://127.0.0.1:%d/metrics",
                         pl_up_http_scheme(&e[i]), e[i].http_port);
            json_field("name", e[i].name, i > 1 ? ", {" : "{");
            printf(", \"pid\": %d", (int)e[i].pid);
            json_field("state", st, ", ");
            json_field("endpoint", strcmp(e[i].endpoint, "-") ? e[i].endpoint : "", ", ");
            json_field("metrics", metrics, ", ");
            printf("}");
            continue;
        }
        char ep[160];
        if (e[i].http_port > 0)
            snprintf(ep, sizeof ep, "%s%smetrics %s://127.0.0.1:%d/metrics",
                     strcmp(e[i].endpoint, "-") ? e[i].endpoint : "",
                     strcmp(e[i].endpoint, "-") ? "  " : "", pl_up_http_scheme(&e[i]),
                     e[i].http_port);
        else
            snprintf(ep, sizeof ep, "%s", e[i].endpoint);
        printf("%-10s %-8d %-10s %s\n", e[i].name, (int)e[i].pid, st, ep);
    }
    if (json) printf("]}\n");
    return bad ? 1 : 0;
}
