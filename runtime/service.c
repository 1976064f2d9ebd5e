/*
 * service.c - start-up plumbing shared by the service binaries (see service.h).
 */
#include "service.h"

#include <errno.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "log.h"
#include "nrpc_worker.h"

pl_status pl_service_parse_args(int argc, char **argv, const char *const *flags, int n_flags,
                                struct pl_service_args *out) {
    if (!out) return PL_ERR(PL_E_INVALID_ARG, "service args: NULL out");
    memset(out, 0, sizeof *out);
    if (n_flags < 0 || n_flags > PL_SERVICE_MAX_FLAGS || (n_flags > 0 && !flags))
        return PL_ERR(PL_E_INVALID_ARG, "service args: %d flags (0..%d)", n_flags,
                      PL_SERVICE_MAX_FLAGS);
    const char *config = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!a) return PL_ERR(PL_E_INVALID_ARG, "service args: NULL argv[%d]", i);
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            out->help = true;
            continue;
        }
        int k = -1;
        if (strcmp(a, "--config") != 0) {
            for (int j = 0; j < n_flags && k < 0; j++)
                if (flags[j] && !strcmp(a, flags[j])) k = j;
            if (k < 0) return PL_ERR(PL_E_INVALID_ARG, "unknown argument '%s'", a);
        }
        if (i + 1 >= argc || !argv[i + 1])
            return PL_ERR(PL_E_INVALID_ARG, "%s needs a value", a);
        if (k < 0)
            config = argv[++i];
        else
            out->values[k] = argv[++i];
    }
    if (!config) config = getenv("PARLEY_CONFIG");
    if (config && !*config) config = NULL;
    if (!config && access("config/parley.json", R_OK) == 0) config = "config/parley.json";
    out->config = config;
    return PL_OK;
}

/* glibc gives every thread that meets a locked arena a new one, up to 8 per core; a service's
 * request threads then each keep freed blocks in their own arena, and the RSS of parley-asr
 * climbed 9-11 % over 6 minutes of streaming (24 streams: 702 -> 776 MB) while 2 or 4 arenas
 * kept it flat (-0.6 / +2.4 %) at the same CPU time and latency (docs/operations.md, "Soak").
 * An operator's own MALLOC_ARENA_MAX or glibc.malloc.arena_max tunable wins. */
#define PL_SERVICE_MALLOC_ARENAS 4

static void limit_malloc_arenas(void) {
#if defined(__GLIBC__) && defined(M_ARENA_MAX)
    const char *tun = getenv("GLIBC_TUNABLES");
    if (getenv("MALLOC_ARENA_MAX") || (tun && strstr(tun, "arena_max"))) return;
    mallopt(M_ARENA_MAX, PL_SERVICE_MALLOC_ARENAS);
#endif
}

/* Even with 4 arenas, glibc keeps the pages of freed blocks that sit below a live one: a
 * service whose big per-request blocks (parley-asr: a stream's audio, features and beams,
 * 0.3-1 MB each) come and go keeps the high-water mark of what was ever in flight at once, and
 * its RSS creeps up over minutes as rarer peaks come by. Every PL_SERVICE_TRIM_S seconds a
 * thread hands the free pages of every arena back to the kernel (malloc_trim), so the RSS
 * follows what is in use. A page handed back and used again costs one page fault; at this
 * interval that is a few thousand faults per minute at most. PARLEY_MALLOC_TRIM_S sets the
 * interval in seconds (0: never). */
#define PL_SERVICE_TRIM_S 10

static void *trim_main(void *arg) {
    unsigned interval = (unsigned)(uintptr_t)arg;
    for (;;) {
        sleep(interval);
#if defined(__GLIBC__)
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        malloc_trim(0);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
        if (ms > 20.0) PL_LOGD("malloc_trim took %.1f ms", ms);
#endif
    }
    return NULL;
}

static void start_trimmer_once(void) {
#if defined(__GLIBC__)
    long s = PL_SERVICE_TRIM_S;
    const char *e = getenv("PARLEY_MALLOC_TRIM_S");
    if (e && *e) {
        char *end;
        errno = 0;
        s = strtol(e, &end, 10);
        if (*end || errno || s < 0 || s > 86400) {
            PL_LOGW("PARLEY_MALLOC_TRIM_S '%.32s' is not 0..86400 seconds; using %d", e,
                    PL_SERVICE_TRIM_S);
            s = PL_SERVICE_TRIM_S;
        }
    }
    if (s == 0) return;
    pthread_t t;
    pthread_attr_t a;
    if (pthread_attr_init(&a) != 0) return;
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    /* the default stack size: a small one must still hold the process's static TLS, which
     * the engine's thread-local scratch makes large (64 KiB was refused with EINVAL) */
    int rc = pthread_create(&t, &a, trim_main, (void *)(uintptr_t)s);
    if (rc != 0)
        PL_LOGW("memory trimmer thread not started (%s); RSS may keep past peaks", strerror(rc));
    pthread_attr_destroy(&a);
#endif
}

static void start_trimmer(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, start_trimmer_once);
}

void pl_service_init(const char *name) {
    pl_log_set_service(name);
    limit_malloc_arenas();
    start_trimmer();
    signal(SIGPIPE, SIG_IGN);
    /* a file past the process's size limit (RLIMIT_FSIZE) is a full disk for the process:
     * write() then fails with EFBIG and the store reports "disk full", instead of the signal's
     * default action killing the service */
    signal(SIGXFSZ, SIG_IGN);
}

void pl_service_set_log_level(const char *level) {
    if (!level || !*level) return;
    int lvl = pl_log_level_parse(level);
    if (lvl < 0) {
        PL_LOGW("log_level '%s' unknown (error, warn, info, debug); level unchanged", level);
        return;
    }
    pl_log_set_level((enum pl_log_level)lvl);
}

pl_status pl_service_set_str(char **field, const char *value) {
    if (!field) return PL_ERR(PL_E_INVALID_ARG, "service set_str: NULL field");
    if (!value) return PL_OK;
    char *s = pl_strdup(value);
    if (!s) return PL_ERR(PL_E_NOMEM, "copying '%.64s'", value);
    pl_free(*field);
    *field = s;
    return PL_OK;
}

pl_status pl_service_parse_port(const char *what, const char *s, int64_t *out) {
    if (!out || !s) return PL_ERR(PL_E_INVALID_ARG, "%s: no value", what ? what : "port");
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end || errno || v < -1 || v > 65535)
        return PL_ERR(PL_E_INVALID_ARG, "%s: expected -1..65535, got '%.64s'",
                      what ? what : "port", s);
    *out = v;
    return PL_OK;
}

pl_status pl_service_find_dir(const char *config, char **dir) {
    if (!dir || !*dir) return PL_ERR(PL_E_INVALID_ARG, "service find_dir: NULL dir");
    if ((*dir)[0] == '/' || access(*dir, R_OK) == 0 || !config) return PL_OK;
    const char *slash = strrchr(config, '/');
    int dl = slash ? (int)(slash - config) : 0;
    char alt[4096];
    int n = snprintf(alt, sizeof alt, "%.*s%s../%s", dl, config, dl ? "/" : "", *dir);
    if (n < 0 || (size_t)n >= sizeof alt || access(alt, R_OK) != 0) return PL_OK;
    PL_LOGI("%s not in the working directory; using %s", *dir, alt);
    return pl_service_set_str(dir, alt);
}

static void (*stop_fn)(void *);
static void *stop_ud;

static void on_stop_signal(int sig) {
    (void)sig;
    if (stop_fn) stop_fn(stop_ud);
}

pl_status pl_service_install_stop(void (*stop)(void *ud), void *ud) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = stop ? on_stop_signal : SIG_DFL;
    if (stop) {
        stop_fn = stop;
        stop_ud = ud;
    }
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGTERM, &sa, NULL) != 0 || sigaction(SIGINT, &sa, NULL) != 0)
        return PL_ERR(PL_E_INTERNAL, "sigaction: %s", strerror(errno));
    if (!stop) {
        stop_fn = NULL;
        stop_ud = NULL;
    }
    return PL_OK;
}

/* "usage: parley-asr [...]" and the settings table, env names in upper case. */
static void worker_usage(FILE *f, const char *name, const struct pl_config_field *fields,
                         size_t n_fields) {
    char up[32];
    size_t i = 0;
    for (; name[i] && i + 1 < sizeof up; i++)
        up[i] = (name[i] >= 'a' && name[i] <= 'z') ? (char)(name[i] - 'a' + 'A') : name[i];
    up[i] = '\0';
    fprintf(f,
            "usage: parley-%s [--config FILE] [--nats URL] [--http-port N] [--model-dir DIR]\n"
            "settings (config section.key, env PARLEY_%s_<KEY>):\n",
            name, up);
    char *d = pl_config_describe(fields, n_fields);
    if (d) fputs(d, f);
    pl_free(d);
}

bool pl_service_worker_start(const char *name, int argc, char **argv,
                             const struct pl_config_field *fields, size_t n_fields,
                             const struct pl_service_std *std, void *cfg, int *exit_code) {
    static const char *const flags[] = {"--nats", "--http-port", "--model-dir"};
    struct pl_service_args args;
    char *base = cfg;
    char **nats_url = (char **)(base + std->nats_url);
    char **model_dir = (char **)(base + std->model_dir);
    char **log_level = (char **)(base + std->log_level);
    int64_t *http_port = (int64_t *)(base + std->http_port);

    if (pl_service_parse_args(argc, argv, flags, 3, &args) != PL_OK) {
        fprintf(stderr, "parley-%s: %s\n", name, pl_last_error());
        worker_usage(stderr, name, fields, n_fields);
        *exit_code = 2;
        return false;
    }
    if (args.help) {
        worker_usage(stdout, name, fields, n_fields);
        *exit_code = 0;
        return false;
    }
    pl_service_init(name);
    if (pl_config_load(fields, n_fields, args.config, cfg) != PL_OK) {
        PL_LOGE("config: %s", pl_last_error());
        *exit_code = 1;
        return false;
    }
    pl_service_set_log_level(*log_level);
    if (pl_service_set_str(nats_url, args.values[0]) != PL_OK ||
        pl_service_set_str(model_dir, args.values[2]) != PL_OK ||
        (args.values[1] && pl_service_parse_port("--http-port", args.values[1], http_port) != PL_OK) ||
        pl_service_find_dir(args.config, model_dir) != PL_OK) {
        PL_LOGE("%s", pl_last_error());
        pl_config_deinit(fields, n_fields, cfg);
        *exit_code = 1;
        return false;
    }
    return true;
}

void pl_service_worker_opts(const char *name, const struct pl_service_std *std, const void *cfg,
                            struct pl_worker_opts *wo) {
    const char *base = cfg;
    const char *nats_url = *(char *const *)(base + std->nats_url);
    wo->service = name;
    wo->nats_url = nats_url && nats_url[0] ? nats_url : NULL;
    wo->n_threads = (int)*(const int64_t *)(base + std->handler_threads);
    wo->http_port = (int)*(const int64_t *)(base + std->http_port);
    wo->http_host = *(char *const *)(base + std->http_host);
}
