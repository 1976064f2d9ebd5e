/*
 * parley-gateway - the public gRPC edge (Riva API + health) of Parley.
 *
 *   parley-gateway [--config FILE] [--listen ADDR] [--http ADDR] [--nats URL]
 *
 * Settings: section "gateway" of FILE (default $PARLEY_CONFIG, else
 * config/parley.json when it exists), then PARLEY_GATEWAY_* environment
 * variables, then these flags. SIGTERM/SIGINT stop it gracefully.
 */
#include <stdio.h>

#include "alloc.h"
#include "gateway.h"
#include "log.h"
#include "service.h"

char *pl__gw_config_describe(void);

static void stop_gateway(void *gw) { pl_gw_stop(gw); /* sets a flag: signal-safe */ }

static void usage(FILE *f) {
    fprintf(f, "usage: parley-gateway [--config FILE] [--listen HOST:PORT] [--http HOST:PORT] "
               "[--nats URL]\nsettings (config section.key, env PARLEY_GATEWAY_<KEY>):\n");
    char *d = pl__gw_config_describe();
    if (d) fputs(d, f);
    pl_free(d);
}

int main(int argc, char **argv) {
    static const char *const flags[] = {"--listen", "--http", "--nats"};
    struct pl_service_args args;
    if (pl_service_parse_args(argc, argv, flags, 3, &args) != PL_OK) {
        fprintf(stderr, "parley-gateway: %s\n", pl_last_error());
        usage(stderr);
        return 2;
    }
    if (args.help) {
        usage(stdout);
        return 0;
    }
    pl_service_init("gateway");
    struct pl_gw_config cfg;
    if (pl_gw_config_load(args.config, &cfg) != PL_OK) {
        PL_LOGE("config: %s", pl_last_error());
        return 1;
    }
    pl_service_set_log_level(cfg.log_level);
    struct pl_gw *gw = NULL;
    if (pl_service_set_str(&cfg.listen, args.values[0]) != PL_OK ||
        pl_service_set_str(&cfg.http_listen, args.values[1]) != PL_OK ||
        pl_service_set_str(&cfg.nats_url, args.values[2]) != PL_OK ||
        pl_gw_create(&cfg, &gw) != PL_OK || pl_service_install_stop(stop_gateway, gw) != PL_OK) {
        PL_LOGE("%s", pl_last_error());
        pl_gw_destroy(gw);
        pl_gw_config_deinit(&cfg);
        return 1;
    }
    pl_gw_config_deinit(&cfg);
    /* One line on stdout that tools (parley up, tests) read for the bound ports. */
    printf("parley-gateway grpc_port=%d http_port=%d\n", pl_gw_grpc_port(gw),
           pl_gw_http_port(gw));
    fflush(stdout);
    pl_status st = pl_gw_run(gw);
    pl_service_install_stop(NULL, NULL); /* no signal may reach gw once it is gone */
    pl_gw_destroy(gw);
    return st == PL_OK ? 0 : 1;
}
