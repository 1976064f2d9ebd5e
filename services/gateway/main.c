/*
 * parley-gateway - the public gRPC edge (Riva API + health) of Parley.
 *
 *   parley-gateway [--config FILE] [--listen ADDR] [--http ADDR] [--nats URL]
 *
 * Settings: section "gateway" of FILE (default $PARLEY_CONFIG, else
 * config/parley.json when it exists), then PARLEY_GATEWAY_* environment
 * variables, then these flags. SIGTERM/SIGINT stop it gracefully.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "gateway.h"
#include "log.h"

char *pl__gateway_config_describe(void);

static struct pl_gateway *g_gw;

static void on_signal(int sig) {
    (void)sig;
    pl_gateway_stop(g_gw);
}

static void usage(FILE *f) {
    fprintf(f, "usage: parley-gateway [--config FILE] [--listen HOST:PORT] [--http HOST:PORT] "
               "[--nats URL]\nsettings (config section.key, env PARLEY_GATEWAY_<KEY>):\n");
    char *d = pl__gateway_config_describe();
    if (d) fputs(d, f);
    pl_free(d);
}

static int set_str(char **field, const char *v) {
    char *s = pl_strdup(v);
    if (!s) return -1;
    pl_free(*field);
    *field = s;
    return 0;
}

int main(int argc, char **argv) {
    const char *config = getenv("PARLEY_CONFIG");
    const char *listen = NULL, *http = NULL, *nats = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            usage(stderr);
            return 2;
        }
        if (strcmp(a, "--config") == 0)
            config = argv[++i];
        else if (strcmp(a, "--listen") == 0)
            listen = argv[++i];
        else if (strcmp(a, "--http") == 0)
            http = argv[++i];
        else if (strcmp(a, "--nats") == 0)
            nats = argv[++i];
        else {
            usage(stderr);
            return 2;
        }
    }
    if (!config && access("config/parley.json", R_OK) == 0) config = "config/parley.json";
    pl_log_set_service("gateway");
    struct pl_gateway_config cfg;
    if (pl_gateway_config_load(config, &cfg) != PL_OK) {
        PL_LOGE("config: %s", pl_last_error());
        return 1;
    }
    int lvl = pl_log_level_parse(cfg.log_level);
    if (lvl >= 0) pl_log_set_level((enum pl_log_level)lvl);
    if ((listen && set_str(&cfg.listen, listen)) || (http && set_str(&cfg.http_listen, http)) ||
        (nats && set_str(&cfg.nats_url, nats))) {
        pl_gateway_config_deinit(&cfg);
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    struct pl_gateway *gw = NULL;
    if (pl_gateway_create(&cfg, &gw) != PL_OK) {
        PL_LOGE("%s", pl_last_error());
        pl_gateway_config_deinit(&cfg);
        return 1;
    }
    pl_gateway_config_deinit(&cfg);
    g_gw = gw;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    /* One line on stdout that tools (parley up, tests) read for the bound ports. */
    printf("parley-gateway grpc_port=%d http_port=%d\n", pl_gateway_grpc_port(gw),
           pl_gateway_http_port(gw));
    fflush(stdout);
    pl_status st = pl_gateway_run(gw);
    g_gw = NULL;
    pl_gateway_destroy(gw);
    return st == PL_OK ? 0 : 1;
}
