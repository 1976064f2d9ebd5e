/*
 * parley-up (`parley up`, `make up`): run Parley on this machine.
 *
 * Starts nats-server on loopback (JetStream on, data in <state>/nats), then
 * parley-gateway and every other built service (build/services/<x>/parley-<x>)
 * with the shipped config; waits until each is ready (/readyz); prints the
 * endpoints; restarts a process that dies, with exponential backoff; on
 * Ctrl-C or SIGTERM stops everything by PID (services first, NATS last) and
 * exits, leaving no process. Children run in their own process groups (a
 * terminal's Ctrl-C reaches only parley up, which stops them in order) and get
 * SIGTERM if parley up itself dies (PR_SET_PDEATHSIG).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gateway.h"
#include "up.h"
#include "util.h"

#ifndef PL_SOURCE_DIR
#define PL_SOURCE_DIR "."
#endif

/* snprintf that truncates silently (paths here are far below PATH_MAX). */
static void xsnprintf(char *dst, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void xsnprintf(char *dst, size_t cap, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, cap, fmt, ap);
    va_end(ap);
}

struct proc {
    struct pl_up_entry e;
    char exe[PATH_MAX];
    char *argv[16];
    char env[8][256];
    int n_env;
    char log[PATH_MAX];
    bool ready, running;
    int64_t started_ms, restart_at_ms, backoff_ms;
    int restarts;
};

static struct proc g_procs[PL_UP_MAX_PROCS];
static int g_n;
static volatile sig_atomic_t g_stop;
static char g_state_file[PATH_MAX];

static void on_signal(int sig) {
    (void)sig;
    g_stop = 1;
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("parley: ", stdout);
    vprintf(fmt, ap);
    fputc('\n', stdout);
    fflush(stdout);
    va_end(ap);
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: parley up [options]\n"
            "  --state-dir DIR     state, logs and NATS data (default ./state or $PARLEY_STATE_DIR)\n"
            "  --nats-port N       NATS port (default 4222)\n"
            "  --grpc-port N       gateway gRPC port (default 50051)\n"
            "  --http-port N       gateway metrics port; services get the next free ones (default 8090)\n"
            "  --host ADDR         gRPC bind address (default 127.0.0.1)\n"
            "  --config FILE       config (default $PARLEY_CONFIG or <source>/config/parley.json)\n"
            "  --build-dir DIR     where the executables are (default: next to this program)\n"
            "  --only LIST         comma-separated services to start besides NATS and the gateway\n"
            "  --ready-timeout S   seconds to wait for readiness (default 60)\n");
}

static void write_state(void) {
    struct pl_up_entry e[PL_UP_MAX_PROCS + 1];
    memset(e, 0, sizeof e);
    xsnprintf(e[0].name, sizeof e[0].name, "up");
    e[0].pid = getpid();
    xsnprintf(e[0].endpoint, sizeof e[0].endpoint, "-");
    for (int i = 0; i < g_n; i++) e[i + 1] = g_procs[i].e;
    if (pl_up_state_write(g_state_file, e, (size_t)g_n + 1) != PL_OK)
        say("warning: %s", pl_last_error());
}

static pid_t spawn(struct proc *p) {
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() == 1) _exit(1);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        int in = open("/dev/null", O_RDONLY);
        int out = open(p->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (in >= 0) dup2(in, 0);
        if (out >= 0) {
            dup2(out, 1);
            dup2(out, 2);
        }
        for (int i = 0; i < p->n_env; i++) putenv(p->env[i]);
        execv(p->exe, p->argv);
        fprintf(stderr, "parley up: exec %s: %s\n", p->exe, strerror(errno));
        _exit(127);
    }
    setpgid(pid, pid);
    return pid;
}

static void start(struct proc *p) {
    pid_t pid = spawn(p);
    if (pid < 0) {
        say("%s: fork failed: %s", p->e.name, strerror(errno));
        p->restart_at_ms = pl_time_mono_ms() + 1000;
        return;
    }
    p->e.pid = pid;
    p->running = true;
    p->ready = false;
    p->started_ms = pl_time_mono_ms();
    p->restart_at_ms = 0;
}

static bool probe(struct proc *p) {
    if (!p->running) return false;
    if (p->e.http_port > 0) return pl_up_readyz(&p->e, 500) == 200;
    int port = pl_up_endpoint_port(p->e.endpoint);
    return port > 0 && pl_up_tcp_open(port, 500);
}

/* Whether the gateway serves its HTTP port over TLS: gateway.http_tls as the gateway reads it
 * (the config file cfg it is given, then PARLEY_GATEWAY_HTTP_TLS, which it inherits), with the
 * gateway's own checks, so a config the gateway would refuse stops parley up here, named.
 * Errors: pl_gw_config_load's. */
static pl_status gateway_http_tls(const char *cfg, bool *out) {
    struct pl_gw_config gc;
    PL_TRY(pl_gw_config_load(cfg, &gc));
    *out = gc.http_tls;
    pl_gw_config_deinit(&gc);
    return PL_OK;
}

static struct proc *add_proc(const char *name, const char *exe) {
    if (g_n == PL_UP_MAX_PROCS) return NULL;
    struct proc *p = &g_procs[g_n++];
    memset(p, 0, sizeof *p);
    xsnprintf(p->e.name, sizeof p->e.name, "%s", name);
    xsnprintf(p->exe, sizeof p->exe, "%s", exe);
    xsnprintf(p->e.endpoint, sizeof p->e.endpoint, "-");
    p->backoff_ms = 500;
    return p;
}

static char *sdup(const char *s) {
    char *d = strdup(s);
    if (!d) {
        perror("parley up");
        exit(1);
    }
    return d;
}

static bool in_list(const char *list, const char *name) {
    if (!list) return true;
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        const char *c = strchr(p, ',');
        size_t len = c ? (size_t)(c - p) : strlen(p);
        if (len == n && strncmp(p, name, n) == 0) return true;
        if (!c) break;
        p = c + 1;
    }
    return false;
}

static void stop_all(void) {
    /* Services first (reverse order), NATS last, so workers drain cleanly. */
    for (int phase = 0; phase < 2; phase++) {
        for (int i = g_n - 1; i >= 0; i--) {
            struct proc *p = &g_procs[i];
            bool is_nats = strcmp(p->e.name, "nats") == 0;
            if (p->running && is_nats == (phase == 1)) kill(p->e.pid, SIGTERM);
        }
        int64_t until = pl_time_mono_ms() + (phase == 0 ? 15000 : 5000);
        for (;;) {
            bool any = false;
            for (int i = 0; i < g_n; i++) {
                struct proc *p = &g_procs[i];
                if (!p->running) continue;
                if (waitpid(p->e.pid, NULL, WNOHANG) == p->e.pid)
                    p->running = false;
                else
                    any = any || (strcmp(p->e.name, "nats") == 0) == (phase == 1);
            }
            if (!any) break;
            if (pl_time_mono_ms() > until) {
                for (int i = 0; i < g_n; i++) {
                    struct proc *p = &g_procs[i];
                    if (p->running && (strcmp(p->e.name, "nats") == 0) == (phase == 1)) {
                        say("%s (pid %d) did not stop: killing it", p->e.name, (int)p->e.pid);
                        kill(p->e.pid, SIGKILL);
                        waitpid(p->e.pid, NULL, 0);
                        p->running = false;
                    }
                }
                break;
            }
            pl_sleep_ms(20);
        }
    }
}

int main(int argc, char **argv) {
    const char *state = getenv("PARLEY_STATE_DIR");
    const char *config = getenv("PARLEY_CONFIG");
    const char *host = "127.0.0.1", *only = NULL, *build = NULL;
    int nats_port = 4222, grpc_port = 50051, http_port = 8090, ready_timeout = 60;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            usage(stderr);
            return 2;
        }
        const char *v = argv[++i];
        if (!strcmp(a, "--state-dir"))
            state = v;
        else if (!strcmp(a, "--nats-port"))
            nats_port = (int)pl_up_parse_int(v, 1, 65535);
        else if (!strcmp(a, "--grpc-port"))
            grpc_port = (int)pl_up_parse_int(v, 1, 65535);
        else if (!strcmp(a, "--http-port"))
            http_port = (int)pl_up_parse_int(v, 1, 65535);
        else if (!strcmp(a, "--host"))
            host = v;
        else if (!strcmp(a, "--config"))
            config = v;
        else if (!strcmp(a, "--build-dir"))
            build = v;
        else if (!strcmp(a, "--only"))
            only = v;
        else if (!strcmp(a, "--ready-timeout"))
            ready_timeout = (int)pl_up_parse_int(v, 1, 86400);
        else {
            usage(stderr);
            return 2;
        }
    }
    if (nats_port <= 0 || grpc_port <= 0 || http_port <= 0 || http_port > 65000 ||
        ready_timeout <= 0) {
        fprintf(stderr, "parley up: ports must be numbers 1-65535 (--http-port at most 65000), "
                        "--ready-timeout 1-86400\n");
        return 2;
    }
    char state_dir[PATH_MAX], build_dir[PATH_MAX], cfg[PATH_MAX], path[PATH_MAX + 64];
    if (!realpath(state ? state : "state", state_dir)) {
        if (mkdir(state ? state : "state", 0755) != 0 || !realpath(state ? state : "state", state_dir)) {
            fprintf(stderr, "parley up: state dir %s: %s\n", state ? state : "state", strerror(errno));
            return 1;
        }
    }
    if (build) {
        xsnprintf(build_dir, sizeof build_dir, "%s", build);
    } else {
        ssize_t n = readlink("/proc/self/exe", build_dir, sizeof build_dir - 1);
        if (n <= 0) return 1;
        build_dir[n] = 0;
        for (int k = 0; k < 2; k++) { /* build/clients/parley-up -> build */
            char *s = strrchr(build_dir, '/');
            if (s) *s = 0;
        }
    }
    xsnprintf(cfg, sizeof cfg, "%s", config ? config : PL_SOURCE_DIR "/config/parley.json");
    /* everything below writes there: nats-server's JetStream store, the logs, the state file and
     * the services' own state (dialog store, knowledge base) */
    if (access(state_dir, W_OK) != 0) {
        fprintf(stderr, "parley up: state dir %s is not writable: %s (nats-server's JetStream "
                        "store, the logs and the services' state go there)\n", state_dir,
                strerror(errno));
        return 1;
    }
    xsnprintf(path, sizeof path, "%s/nats", state_dir);
    mkdir(path, 0755);
    xsnprintf(path, sizeof path, "%s/logs", state_dir);
    mkdir(path, 0755);
    xsnprintf(g_state_file, sizeof g_state_file, "%s/%s", state_dir, PL_UP_STATE_FILE);
    /* the services keep their own state there too (parley-qa's knowledge base) */
    setenv("PARLEY_STATE_DIR", state_dir, 1);

    struct pl_up_entry old[PL_UP_MAX_PROCS];
    size_t n_old = 0;
    if (pl_up_state_read(g_state_file, old, PL_UP_MAX_PROCS, &n_old) == PL_OK && n_old > 0 &&
        strcmp(old[0].name, "up") == 0 && pl_up_alive(old[0].pid) && old[0].pid != getpid()) {
        fprintf(stderr, "parley up: already running (pid %d, %s)\n", (int)old[0].pid, g_state_file);
        return 1;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    char buf[PATH_MAX + 64];
    /* NATS */
    const char *nats_exe = access("/usr/sbin/nats-server", X_OK) == 0 ? "/usr/sbin/nats-server"
                           : access("/usr/bin/nats-server", X_OK) == 0 ? "/usr/bin/nats-server"
                                                                       : "/usr/local/bin/nats-server";
    struct proc *p = add_proc("nats", nats_exe);
    xsnprintf(p->e.endpoint, sizeof p->e.endpoint, "nats://127.0.0.1:%d", nats_port);
    xsnprintf(p->log, sizeof p->log, "%s/logs/nats.log", state_dir);
    xsnprintf(buf, sizeof buf, "%d", nats_port);
    char *nats_argv[] = {"nats-server", "-a", "127.0.0.1", "-p", sdup(buf), "-js", "-sd", NULL, NULL};
    xsnprintf(path, sizeof path, "%s/nats", state_dir);
    nats_argv[7] = sdup(path);
    memcpy(p->argv, nats_argv, sizeof nats_argv);
    char nats_url[128];
    xsnprintf(nats_url, sizeof nats_url, "nats://127.0.0.1:%d", nats_port);

    /* gateway */
    xsnprintf(path, sizeof path, "%s/services/gateway/parley-gateway", build_dir);
    bool http_tls = false;
    if (access(path, X_OK) == 0) {
        if (gateway_http_tls(cfg, &http_tls) != PL_OK) {
            fprintf(stderr, "parley up: %s\n", pl_last_error());
            return 2;
        }
        p = add_proc("gateway", path);
        xsnprintf(p->e.endpoint, sizeof p->e.endpoint, "%s:%d", host, grpc_port);
        p->e.http_port = http_port;
        p->e.http_tls = http_tls;
        xsnprintf(p->log, sizeof p->log, "%s/logs/gateway.log", state_dir);
        char *gargv[] = {"parley-gateway", "--config", sdup(cfg), "--listen", sdup(p->e.endpoint),
                         "--http", NULL, "--nats", nats_url, NULL};
        xsnprintf(buf, sizeof buf, "127.0.0.1:%d", http_port);
        gargv[6] = sdup(buf);
        memcpy(p->argv, gargv, sizeof gargv);
    } else {
        say("warning: %s not built: no gRPC endpoint", path);
    }

    /* every other service: build/services/<x>/parley-<x> */
    xsnprintf(path, sizeof path, "%s/services", build_dir);
    struct dirent **ents = NULL;
    int ne = scandir(path, &ents, NULL, alphasort);
    int next_port = http_port + 1;
    for (int i = 0; i < ne; i++) {
        const char *d = ents[i]->d_name;
        char exe[PATH_MAX + 300];
        xsnprintf(exe, sizeof exe, "%s/services/%s/parley-%s", build_dir, d, d);
        if (d[0] != '.' && strcmp(d, "gateway") != 0 && access(exe, X_OK) == 0 && in_list(only, d)) {
            p = add_proc(d, exe);
            if (!p) break;
            /* a port another program holds would fail the service at every restart */
            while (next_port < 65535 && !pl_up_port_free(next_port)) {
                say("port %d is taken; %s gets the next free one", next_port, d);
                next_port++;
            }
            p->e.http_port = next_port++;
            xsnprintf(p->log, sizeof p->log, "%s/logs/%s.log", state_dir, d);
            char *sargv[] = {sdup(exe + strlen(build_dir) + 10 + strlen(d) + 1), "--config",
                             sdup(cfg), NULL};
            memcpy(p->argv, sargv, sizeof sargv);
            char up[64];
            xsnprintf(up, sizeof up, "%s", d);
            for (char *c = up; *c; c++) *c = (char)(*c >= 'a' && *c <= 'z' ? *c - 32 : *c == '-' ? '_' : *c);
            xsnprintf(p->env[p->n_env++], 256, "PARLEY_CONFIG=%s", cfg);
            xsnprintf(p->env[p->n_env++], 256, "PARLEY_NATS_URL=%s", nats_url);
            xsnprintf(p->env[p->n_env++], 256, "PARLEY_%s_NATS_URL=%s", up, nats_url);
            xsnprintf(p->env[p->n_env++], 256, "PARLEY_%s_HTTP_PORT=%d", up, p->e.http_port);
        }
        free(ents[i]);
    }
    free(ents);

    say("starting %d process(es); state and logs in %s", g_n, state_dir);
    /* NATS first and wait for it, so services connect at once. */
    start(&g_procs[0]);
    for (int64_t until = pl_time_mono_ms() + 10000; !g_stop && pl_time_mono_ms() < until;) {
        if (probe(&g_procs[0])) break;
        if (waitpid(g_procs[0].e.pid, NULL, WNOHANG) == g_procs[0].e.pid) {
            g_procs[0].running = false;
            say("nats-server exited at start; see %s", g_procs[0].log);
            write_state();
            unlink(g_state_file);
            return 1;
        }
        pl_sleep_ms(50);
    }
    for (int i = 1; i < g_n; i++) start(&g_procs[i]);
    write_state();

    int64_t ready_deadline = pl_time_mono_ms() + (int64_t)ready_timeout * 1000;
    bool all_ready_said = false, timeout_said = false;
    while (!g_stop) {
        int64_t now = pl_time_mono_ms();
        /* reap and schedule restarts */
        int status;
        pid_t pid;
        while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
            for (int i = 0; i < g_n; i++) {
                struct proc *q = &g_procs[i];
                if (!q->running || q->e.pid != pid) continue;
                q->running = false;
                q->ready = false;
                if (now - q->started_ms > 60000) q->backoff_ms = 500;
                q->restart_at_ms = now + q->backoff_ms;
                say("%s (pid %d) exited (%s %d); restarting in %lld ms (log %s)", q->e.name, (int)pid,
                    WIFSIGNALED(status) ? "signal" : "status",
                    WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status),
                    (long long)q->backoff_ms, q->log);
                q->backoff_ms = q->backoff_ms * 2 > 30000 ? 30000 : q->backoff_ms * 2;
            }
        }
        bool changed = false;
        for (int i = 0; i < g_n && !g_stop; i++) {
            struct proc *q = &g_procs[i];
            if (!q->running && q->restart_at_ms && now >= q->restart_at_ms) {
                start(q);
                q->restarts++;
                changed = true;
            }
        }
        if (changed) write_state();
        /* readiness */
        int n_ready = 0;
        for (int i = 0; i < g_n; i++) {
            struct proc *q = &g_procs[i];
            if (q->running && !q->ready && probe(q)) {
                q->ready = true;
                char metrics[64] = "";
                if (q->e.http_port)
                    xsnprintf(metrics, sizeof metrics, "  metrics %s://127.0.0.1:%d/metrics",
                              pl_up_http_scheme(&q->e), q->e.http_port);
                say("%-8s ready  pid %-7d %s%s", q->e.name, (int)q->e.pid,
                    strcmp(q->e.endpoint, "-") ? q->e.endpoint : "", metrics);
            }
            n_ready += q->ready;
        }
        if (n_ready == g_n && !all_ready_said) {
            all_ready_said = true;
            say("all %d ready: gRPC %s:%d, NATS %s; Ctrl-C stops", g_n, host, grpc_port, nats_url);
            for (int i = 0; i < g_n; i++)
                if (strcmp(g_procs[i].e.name, "gateway") == 0)
                    say("demo page: %s://127.0.0.1:%d/  (open it in a browser and sign in)",
                        http_tls ? "https" : "http", http_port);
        } else if (n_ready < g_n) {
            all_ready_said = false;
        }
        if (!all_ready_said && !timeout_said && now > ready_deadline) {
            timeout_said = true;
            for (int i = 0; i < g_n; i++)
                if (!g_procs[i].ready)
                    say("warning: %s not ready after %d s (log %s)", g_procs[i].e.name,
                        ready_timeout, g_procs[i].log);
        }
        pl_sleep_ms(100);
    }
    say("stopping");
    stop_all();
    unlink(g_state_file);
    say("stopped");
    return 0;
}
