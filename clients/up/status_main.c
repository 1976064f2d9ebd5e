/*
 * parley-status (`parley status`): what `parley up` runs and whether it is ready, or how a
 * gateway anywhere (--server) and the services behind it are doing.
 *
 *   parley status [--state-dir DIR] [--json]
 *   parley status --server HOST:PORT [--api-key KEY] [--tls-ca CA.pem] [--timeout-ms MS] [--json]
 *
 * Local (no connection flag): reads <state-dir>/parley-up.state and probes each process
 * (/readyz on its HTTP port, or a TCP connect for NATS). --json prints {"running": true,
 * "pid": N, "processes": [{"name", "pid", "state", "endpoint", "metrics"}]} ({"running":
 * false, "state_file": PATH} when parley up is not running) instead of the table. Exit
 * status: 0 all running and ready, 1 something is down or not ready, 3 parley up is not
 * running.
 *
 * Gateway (any of --server, --api-key, --tls-ca, --timeout-ms; the server defaults to
 * 127.0.0.1:50051): grpc.health.v1 Check of the gateway ("") and of each service Parley serves
 * behind it, one name per worker (parley.qa for parley-qa: served[] below), through
 * libparley-client (pl_client_health). --json prints {"server",
 * "reachable", "authorized", "gateway", "services": [{"name", "status"}], "error"}. Exit
 * status: 0 the gateway and every service SERVING, 1 something NOT_SERVING (or another
 * failed call), 2 a bad command line (an unreadable --tls-ca included), 3 no gateway
 * answers there, 4 the gateway refused the API key.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/status.h>

#include "parley/client.h"
#include "strbuf.h"
#include "up.h"

static const char usage[] =
    "usage: parley status [--state-dir DIR] [--json]\n"
    "       parley status --server HOST:PORT [--api-key KEY] [--tls-ca CA.pem]\n"
    "                     [--timeout-ms MS] [--json]\n"
    "Without a connection flag: the processes of `parley up` on this machine.\n"
    "  --state-dir DIR     where `parley up` keeps its state (default $PARLEY_STATE_DIR,\n"
    "                      else ./state)\n"
    "With one: the gateway's health check of itself and of each service behind it.\n"
    "  --server HOST:PORT  the gateway (default 127.0.0.1:50051)\n"
    "  --api-key KEY       sent as 'authorization: Bearer KEY'\n"
    "  --tls-ca CA.pem     TLS, verifying the gateway with this CA certificate\n"
    "  --timeout-ms MS     deadline of each check (default 5000)\n"
    "  --json              one JSON object instead of the table: {\"running\", \"pid\",\n"
    "                      \"processes\"}, or with --server {\"server\", \"reachable\",\n"
    "                      \"authorized\", \"gateway\", \"services\", \"error\"}\n"
    "Exit status: 0 all ready, 1 something down or not ready, 2 bad command line,\n"
    "3 parley up not running / no gateway answers there, 4 the gateway refused the API key.\n";

/* The services Parley runs workers for, as the gateway's health check names them: one per
 * worker (parley-asr, parley-nlu, parley-qa, parley-tts, parley-dialog). parley-qa answers
 * NaturalQuery of RivaLanguageUnderstanding, whose name the gateway checks on parley-nlu, so
 * it has a name of its own. */
static const char *const served[] = {
    "nvidia.riva.asr.RivaSpeechRecognition",
    "nvidia.riva.nlp.RivaLanguageUnderstanding",
    "parley.qa",
    "nvidia.riva.tts.RivaSpeechSynthesis",
    "parley.dialog.v1.Dialog",
};
#define N_SERVED (sizeof served / sizeof served[0])

struct gw_check {
    const char *server;
    bool json;
    struct pl_client_opts o;
};

/* sep"key": "value" with value escaped as a JSON string. */
static void json_field(const char *key, const char *value, const char *sep) {
    struct pl_strbuf sb;
    pl_strbuf_init(&sb);
    pl_strbuf_append_json(&sb, value);
    printf("%s\"%s\": %s", sep, key, pl_strbuf_status(&sb) == PL_OK && sb.data ? sb.data : "\"\"");
    pl_strbuf_deinit(&sb);
}

/* --json of a gateway whose own check failed: reachable, authorized (null when nothing
 * answered) and the error. */
static void gateway_failed_json(const char *server, bool reachable, bool authorized,
                                const char *err) {
    json_field("server", server, "{");
    printf(", \"reachable\": %s, \"authorized\": %s, \"gateway\": null, \"services\": []",
           reachable ? "true" : "false", !reachable ? "null" : authorized ? "true" : "false");
    json_field("error", err, ", ");
    printf("}\n");
}

/*
 * The gateway's own check failed: say why and what to do, as text on stderr (and the JSON
 * object with --json). Returns the exit status: 3 nothing answers, 4 the key was refused,
 * 1 anything else.
 */
static int gateway_failed(const struct gw_check *g) {
    int code = pl_client_last_grpc_status();
    const char *err = pl_last_error();
    bool unreachable = code == GRPC_STATUS_UNAVAILABLE || code == GRPC_STATUS_DEADLINE_EXCEEDED;
    bool refused = code == GRPC_STATUS_UNAUTHENTICATED || code == GRPC_STATUS_PERMISSION_DENIED;
    if (g->json) gateway_failed_json(g->server, !unreachable, !refused, err);
    fprintf(stderr, "parley status: %s: %s\n", g->server, err);
    if (unreachable)
        fprintf(stderr, "parley status: no gateway answers at %s: start one with `parley up`, "
                "or point --server at a running one (--tls-ca when it speaks TLS)\n", g->server);
    else if (refused)
        fprintf(stderr, "parley status: the gateway at %s refused the API key: %s\n", g->server,
                g->o.api_key ? "check --api-key" : "it wants one: --api-key KEY");
    return unreachable ? 3 : refused ? 4 : 1;
}

/* Gateway mode: Check "" then each served service; the table or the JSON object. */
static int gateway_status(struct gw_check *g) {
    struct pl_client *c = NULL;
    g->o.target = g->server;
    if (pl_client_open(&g->o, &c) != PL_OK) {
        fprintf(stderr, "parley status: %s\n", pl_last_error()); /* names the file or the key */
        return 2;
    }
    enum pl_client_health gw, svc[N_SERVED];
    if (pl_client_health(c, "", &gw) != PL_OK) {
        int rc = gateway_failed(g);
        pl_client_close(c);
        return rc;
    }
    int bad = gw != PL_CLIENT_HEALTH_SERVING;
    for (size_t i = 0; i < N_SERVED; i++) {
        if (pl_client_health(c, served[i], &svc[i]) != PL_OK) {
            fprintf(stderr, "parley status: %s: %s\n", g->server, pl_last_error());
            svc[i] = PL_CLIENT_HEALTH_UNKNOWN;
        }
        if (svc[i] != PL_CLIENT_HEALTH_SERVING) bad++;
    }
    pl_client_close(c);
    if (g->json) {
        json_field("server", g->server, "{");
        printf(", \"reachable\": true, \"authorized\": true");
        json_field("gateway", pl_client_health_str(gw), ", ");
        printf(", \"services\": [");
        for (size_t i = 0; i < N_SERVED; i++) {
            json_field("name", served[i], i ? ", {" : "{");
            json_field("status", pl_client_health_str(svc[i]), ", ");
            printf("}");
        }
        printf("], \"error\": null}\n");
    } else {
        printf("gateway %s: %s\n%-42s %s\n", g->server, pl_client_health_str(gw), "SERVICE",
               "STATUS");
        for (size_t i = 0; i < N_SERVED; i++)
            printf("%-42s %s\n", served[i], pl_client_health_str(svc[i]));
    }
    return bad ? 1 : 0;
}

static long num_arg(const char *opt, const char *v, long lo, long hi) {
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi) {
        fprintf(stderr, "parley status: %s wants a number in %ld..%ld, not '%s'\n", opt, lo, hi, v);
        exit(2);
    }
    return x;
}

int main(int argc, char **argv) {
    const char *state = getenv("PARLEY_STATE_DIR");
    bool json = false, remote = false;
    struct gw_check g = {.server = "127.0.0.1:50051", .o = {.timeout_ms = 5000}};
    for (int i = 1; i < argc; i++) {
        bool has = i + 1 < argc;
        if (!strcmp(argv[i], "--state-dir") && has) {
            state = argv[++i];
        } else if (!strcmp(argv[i], "--server") && has) {
            g.server = argv[++i];
            remote = true;
        } else if (!strcmp(argv[i], "--api-key") && has) {
            g.o.api_key = argv[++i];
            remote = true;
        } else if (!strcmp(argv[i], "--tls-ca") && has) {
            g.o.tls_ca_file = argv[++i];
            remote = true;
        } else if (!strcmp(argv[i], "--timeout-ms") && has) {
            g.o.timeout_ms = (int)num_arg(argv[i], argv[i + 1], 1, 3600000);
            i++;
            remote = true;
        } else if (!strcmp(argv[i], "--json")) {
            json = true;
        } else {
            bool help = !strcmp(argv[i], "--help") || !strcmp(argv[i], "-h");
            if (!help) fprintf(stderr, "parley status: unexpected '%s'\n", argv[i]);
            fputs(usage, help ? stdout : stderr);
            return help ? 0 : 2;
        }
    }
    if (remote) {
        g.json = json;
        return gateway_status(&g);
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
