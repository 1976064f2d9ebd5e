/*
 * config.h - service configuration from JSON, with environment overrides.
 *
 * A service describes its settings once, as a table of fields that point
 * into its own config struct (like redis' standardConfig table):
 *
 *     struct gw_cfg { char *listen; int64_t max_receive_bytes; bool tls; };
 *     static const struct pl_config_field gw_fields[] = {
 *         {"gateway", "listen", PL_CONFIG_STRING, offsetof(struct gw_cfg, listen),
 *          "127.0.0.1:50051", 0, 0, "gRPC listen address"},
 *         {"gateway", "max_receive_bytes", PL_CONFIG_INT,
 *          offsetof(struct gw_cfg, max_receive_bytes), "67108864", 1024, 1 << 30, "..."},
 *     };
 *
 * pl_config_load() then fills the struct in three layers, later wins:
 *   1. each field's default (text, parsed like an environment value);
 *   2. the JSON file, shaped {"section": {"key": value, ...}, ...};
 *   3. environment variables PARLEY_<SECTION>_<KEY> (upper case, '-' and '.'
 *      become '_'), e.g. PARLEY_GATEWAY_LISTEN=0.0.0.0:50051.
 *
 * Errors name the place and the reason, e.g.
 *   "config.json: gateway.max_receive_bytes: expected an integer, got string"
 *   "config.json: gateway.listne: unknown key (known: listen, max_receive_bytes, tls)"
 *   "PARLEY_GATEWAY_TLS: expected true/false/1/0, got \"maybe\""
 *   "config.json:3:14: invalid JSON: '}' expected near ']'"
 * Sections that no field of the table names are left alone (one file serves
 * every service); inside a known section every key must be known.
 *
 * Field types and the C type at `offset`:
 *   PL_CONFIG_STRING  char *   (owned by the struct; free with pl_config_deinit)
 *   PL_CONFIG_INT     int64_t  (range-checked against [min, max] unless min > max)
 *   PL_CONFIG_DOUBLE  double   (range-checked likewise)
 *   PL_CONFIG_BOOL    bool
 * A field whose default is NULL is required: it must come from the file or
 * the environment.
 *
 * Errors and their codes:
 *   PL_E_IO           the file cannot be opened or read ("<path>: cannot open: ...")
 *   PL_E_FORMAT       invalid JSON ("<path>:line:col: invalid JSON: ..."), duplicate
 *                     keys, an integer too big for 64 bits, or an empty/blank file
 *   PL_E_INVALID_ARG  wrong type, out of range, unknown key, missing required
 *                     field, a section or the top level that is not an object,
 *                     a bad environment value or a bad default
 *   PL_E_NOMEM        out of memory (also while jansson parses)
 * JSON booleans must be true/false; environment booleans true/false/1/0 (any
 * case). An INT field takes only a JSON integer; a DOUBLE field any number.
 * Doubles must be finite.
 *
 * Memory: jansson allocates through pl_malloc/pl_free in every process that
 * links config.c (set by a constructor before main), so its memory shows in
 * pl_alloc_stats and fault injection reaches it. Strings jansson hands out
 * (json_dumps) must therefore be freed with pl_free, not free().
 *
 * Thread-safety: pl_config_load reads the environment; call it at start-up.
 */
#ifndef PL_CONFIG_H
#define PL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

enum pl_config_type {
    PL_CONFIG_STRING,
    PL_CONFIG_INT,
    PL_CONFIG_DOUBLE,
    PL_CONFIG_BOOL,
};

struct pl_config_field {
    const char *section;
    const char *key;
    enum pl_config_type type;
    size_t offset;   /* offsetof() the value in the caller's struct */
    const char *def; /* default as text; NULL = required */
    double min, max; /* INT/DOUBLE bounds, inclusive; min > max = unbounded */
    const char *help;
};

/*
 * Fill `out` from defaults, the JSON file at `path` (NULL: none) and the
 * environment. On failure returns PL_E_INVALID_ARG (bad value, unknown key,
 * missing required field), PL_E_FORMAT (invalid JSON) or PL_E_IO (file
 * unreadable), with pl_last_error() naming the key and why; `out` is then
 * left with no owned memory (safe to pl_config_deinit or ignore).
 */
pl_status pl_config_load(const struct pl_config_field *fields, size_t n_fields, const char *path,
                         void *out);

/* Same, from JSON text in memory; `origin` names it in errors ("<string>"). */
pl_status pl_config_load_string(const struct pl_config_field *fields, size_t n_fields,
                                const char *json, const char *origin, void *out);

/* Free the strings that pl_config_load stored in `out`; sets them to NULL. */
void pl_config_deinit(const struct pl_config_field *fields, size_t n_fields, void *out);

/* Write "section.key  type  default  help" lines for --help output into a
 * new string. Caller frees with pl_free(). NULL on out of memory. */
char *pl_config_describe(const struct pl_config_field *fields, size_t n_fields);

#ifdef __cplusplus
}
#endif
#endif
