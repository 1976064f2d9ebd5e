/*
 * fuzz_config.c - the JSON configuration parser (common/config.c): sections, keys, types,
 * ranges, duplicates, required fields, the defaults' own parsing. The input is the config
 * text, loaded with a field table of every type (pl_config_load_string) and, from a file,
 * as parley-gateway loads its section (pl_gw_config_load).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "config.h"
#include "fuzz_util.h"
#include "gateway.h"

struct fcfg {
    char *listen;
    int64_t max_bytes;
    double ratio;
    bool tls;
    char *model; /* required */
    int64_t unbounded;
};

static const struct pl_config_field fields[] = {
    {"gw", "listen", PL_CONFIG_STRING, offsetof(struct fcfg, listen), "127.0.0.1:50051", 0, 0, ""},
    {"gw", "max_bytes", PL_CONFIG_INT, offsetof(struct fcfg, max_bytes), "67108864", 1024, 1 << 30,
     ""},
    {"gw", "ratio", PL_CONFIG_DOUBLE, offsetof(struct fcfg, ratio), "0.5", 0.0, 2.0, ""},
    {"gw", "tls", PL_CONFIG_BOOL, offsetof(struct fcfg, tls), "false", 0, 0, ""},
    {"nlu", "model", PL_CONFIG_STRING, offsetof(struct fcfg, model), NULL, 0, 0, ""},
    {"nlu", "unbounded", PL_CONFIG_INT, offsetof(struct fcfg, unbounded), "-3", 1, 0, ""},
};

static char g_path[256];

static void cleanup(void) { unlink(g_path); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!g_path[0]) {
        fz_quiet();
        const char *tmp = getenv("TMPDIR");
        snprintf(g_path, sizeof g_path, "%s/pl-fuzz-config-%d.json", tmp && *tmp ? tmp : "/tmp",
                 (int)getpid());
        atexit(cleanup);
    }
    char *text = fz_str(data, size);
    if (!text) return 0;
    struct fcfg c;
    memset(&c, 0, sizeof c);
    if (pl_config_load_string(fields, sizeof fields / sizeof *fields, text, "<fuzz>", &c) ==
        PL_OK) {
        if (!c.listen || !c.model || c.max_bytes < 1024 || c.max_bytes > (1 << 30) ||
            !(c.ratio >= 0.0 && c.ratio <= 2.0))
            abort(); /* a loaded config holds every field, within its range */
    }
    pl_config_deinit(fields, sizeof fields / sizeof *fields, &c);
    pl_free(text);

    FILE *f = fopen(g_path, "wb");
    if (!f) abort();
    if (size) fwrite(data, 1, size, f);
    fclose(f);
    struct pl_gw_config gc;
    memset(&gc, 0, sizeof gc);
    if (pl_gw_config_load(g_path, &gc) == PL_OK) pl_gw_config_deinit(&gc);
    return 0;
}
