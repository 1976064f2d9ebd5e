/*
 * service.h - start-up plumbing shared by the Parley service binaries (services/<svc>/main.c):
 * command line, config file choice, log setup, stop signals and model-directory lookup.
 *
 * A service's main() does, in order:
 *   pl_service_parse_args()    "--config FILE" plus the service's own "--flag VALUE"s
 *   pl_service_init()          log service name, SIGPIPE and SIGXFSZ ignored
 *   (load its config section with the file in args.config)
 *   pl_service_set_log_level() the configured level
 *   pl_service_set_str() / pl_service_parse_port()  flags override the config
 *   pl_service_find_dir()      a relative model_dir found next to the config's source tree
 *   pl_service_install_stop()  (or pl_worker_install_signals() for NATS workers)
 *
 * Thread-safety: call these from main() before other threads start; the signal handler set
 * by pl_service_install_stop() only calls the given stop function.
 */
#ifndef PL_SERVICE_H
#define PL_SERVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Most value flags one service may declare besides --config. */
#define PL_SERVICE_MAX_FLAGS 8

struct pl_service_args {
    /* --config FILE, else $PARLEY_CONFIG, else "config/parley.json" when it is readable in
     * the working directory, else NULL (defaults and environment only). Borrowed from argv,
     * the environment or a string literal. */
    const char *config;
    /* values[i] is the value given for flags[i], borrowed from argv; NULL when absent. */
    const char *values[PL_SERVICE_MAX_FLAGS];
    /* -h or --help was given: print the usage on stdout and exit 0. */
    bool help;
};

/*
 * Parse argv: every argument is "-h", "--help", "--config FILE" or one of flags[0..n_flags)
 * followed by its value (e.g. flags = {"--nats", "--http-port"}).
 * Returns PL_OK (out filled; check out->help), PL_E_INVALID_ARG for an unknown flag, a flag
 * without its value, or n_flags outside 0..PL_SERVICE_MAX_FLAGS (the message names it: print
 * the usage on stderr and exit 2). out is zeroed first in every case.
 */
pl_status pl_service_parse_args(int argc, char **argv, const char *const *flags, int n_flags,
                                struct pl_service_args *out /* OUT */);

/* Name the service in every log line, ignore SIGPIPE (a peer that goes away must not kill
 * the process) and SIGXFSZ (a file past RLIMIT_FSIZE fails its write with EFBIG, reported as a
 * full disk, instead of killing the process), and cap glibc's malloc arenas at 4 (unless the
 * environment sets them) so that freed memory is reused rather than kept per thread, and start
 * a detached thread that hands freed pages back to the kernel every 10 s (malloc_trim;
 * PARLEY_MALLOC_TRIM_S sets the interval, 0 none). name is borrowed for the process lifetime
 * (a string literal). */
void pl_service_init(const char *name);

/* Set the log level from its config name ("error", "warn", "info", "debug"). NULL or "" keeps
 * the current level; another name keeps it and logs a warning that names the value. */
void pl_service_set_log_level(const char *level);

/* Replace the heap string *field (pl_free'd; may be NULL) with a copy of value. NULL value:
 * nothing changes. Returns PL_OK, PL_E_INVALID_ARG (NULL field) or PL_E_NOMEM (*field kept). */
pl_status pl_service_set_str(char **field, const char *value);

/* Parse a port flag value: a decimal integer in -1..65535 (-1 none, 0 ephemeral) with nothing
 * after it. what names the flag in the error. Returns PL_OK or PL_E_INVALID_ARG (*out kept). */
pl_status pl_service_parse_port(const char *what, const char *s, int64_t *out /* OUT */);

/*
 * A relative directory (*dir, heap string) that the working directory lacks is taken from
 * the source tree the config file belongs to: <root>/config/parley.json -> <root>/<dir>, so
 * that a service started from any directory finds the shipped models. *dir is replaced (and
 * the change logged at INFO) only when that path exists; an absolute *dir, one readable here
 * or a NULL config leaves it as is. Returns PL_OK, PL_E_INVALID_ARG (NULL dir or *dir) or
 * PL_E_NOMEM.
 */
pl_status pl_service_find_dir(const char *config, char **dir);

/* On SIGTERM and SIGINT call stop(ud) from the signal handler: stop must be async-signal-safe
 * (set a flag, write to a pipe). One stop function per process; a later call replaces it.
 * stop NULL restores the default handling (call it before ud goes away).
 * Returns PL_OK or PL_E_INTERNAL (sigaction failed). */
pl_status pl_service_install_stop(void (*stop)(void *ud), void *ud);

/* Where a NATS worker service keeps its standard settings: offsetof() in its config struct
 * (char *nats_url, int64_t http_port, char *http_host, char *model_dir, int64_t
 * handler_threads, char *log_level). PL_SERVICE_STD(type, dir) fills it for a config struct
 * whose fields have those names, dir being the field that --model-dir sets. */
struct pl_service_std {
    size_t nats_url, http_port, http_host, model_dir, handler_threads, log_level;
};
#define PL_SERVICE_STD(type, dir)                                                                  \
    {offsetof(type, nats_url),  offsetof(type, http_port),       offsetof(type, http_host),       \
     offsetof(type, dir),       offsetof(type, handler_threads), offsetof(type, log_level)}

/* The config fields that every worker service has in the same words, for its field table
 * (section "asr", ...; type its config struct): PL_SERVICE_SIDE_FIELDS first (nats_url,
 * http_port, http_host), PL_SERVICE_LOG_FIELD last (log_level). */
#define PL_SERVICE_SIDE_FIELDS(section, type)                                                      \
    {section, "nats_url", PL_CONFIG_STRING, offsetof(type, nats_url), "", 1, 0,                   \
     "NATS URL (empty: $PARLEY_NATS_URL or nats://127.0.0.1:4222)"},                              \
    {section, "http_port", PL_CONFIG_INT, offsetof(type, http_port), "0", -1, 65535,              \
     "/metrics /healthz /readyz port (0 ephemeral, -1 none)"},                                    \
    {section, "http_host", PL_CONFIG_STRING, offsetof(type, http_host), "127.0.0.1", 1, 0,        \
     "bind address of the side port (0.0.0.0: every interface, for probes and scrapes from "      \
     "outside a container)"}
#define PL_SERVICE_LOG_FIELD(section, type)                                                        \
    {section, "log_level", PL_CONFIG_STRING, offsetof(type, log_level), "info", 1, 0,             \
     "error, warn, info or debug"}

struct pl_worker_opts;

/* Set the worker options that come from the standard settings of cfg (loaded by
 * pl_service_worker_start): service = name, nats_url (NULL when empty: $PARLEY_NATS_URL or
 * the default), n_threads = handler_threads, http_port, http_host. The other options are
 * left as they are (start from PL_WORKER_OPTS_INIT). The strings are borrowed from cfg. */
void pl_service_worker_opts(const char *name, const struct pl_service_std *std, const void *cfg,
                            struct pl_worker_opts *wo /* IN/OUT */);

/*
 * The start-up every NATS worker service (parley-asr, parley-nlu, ...) shares, in order:
 * parse "--config FILE --nats URL --http-port N --model-dir DIR"; for -h/--help print the usage
 * (the flags and pl_config_describe() of fields) on stdout; name the log (pl_service_init);
 * load `fields` into cfg (zeroed by the caller); set the configured log level; apply the flags
 * over the config; find model_dir next to the config's source tree (pl_service_find_dir).
 *
 * Returns true when main() should go on: cfg is loaded and owns its strings (the caller ends
 * with pl_config_deinit()). Returns false when main() should return *exit_code at once: 0
 * after --help, 2 after a bad command line (reason and usage on stderr), 1 when the config or
 * a flag value is bad (logged); cfg then owns nothing.
 */
bool pl_service_worker_start(const char *name, int argc, char **argv,
                             const struct pl_config_field *fields, size_t n_fields,
                             const struct pl_service_std *std, void *cfg,
                             int *exit_code /* OUT */);

#ifdef __cplusplus
}
#endif
#endif
