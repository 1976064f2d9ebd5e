/*
 * test_service.c - the services' start-up helper (runtime/service.h): argument parsing and
 * config choice, string and port overrides, model-directory lookup, stop signals, the memory
 * trimmer.
 */
#include <check.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "log.h"
#include "nrpc_worker.h"
#include "service.h"

static const char *const flags[] = {"--nats", "--http-port", "--model-dir"};

static void quiet(enum pl_log_level level, const char *src, const char *msg, void *ud) {
    (void)level, (void)src, (void)msg, (void)ud;
}

START_TEST(test_args_values) {
    char *argv[] = {"svc", "--http-port", "8080", "--config", "/x/c.json", "--nats", "nats://h:1",
                    NULL};
    struct pl_service_args a;
    ck_assert_int_eq(pl_service_parse_args(7, argv, flags, 3, &a), PL_OK);
    ck_assert_str_eq(a.config, "/x/c.json");
    ck_assert_str_eq(a.values[0], "nats://h:1");
    ck_assert_str_eq(a.values[1], "8080");
    ck_assert_ptr_null(a.values[2]);
    ck_assert(!a.help);

    char *help[] = {"svc", "--nats", "u", "-h", NULL};
    ck_assert_int_eq(pl_service_parse_args(4, help, flags, 3, &a), PL_OK);
    ck_assert(a.help);
    ck_assert_str_eq(a.values[0], "u");
}
END_TEST

START_TEST(test_args_errors) {
    struct pl_service_args a;
    char *unknown[] = {"svc", "--bogus", "1", NULL};
    ck_assert_int_eq(pl_service_parse_args(3, unknown, flags, 3, &a), PL_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(pl_last_error(), "--bogus"));
    char *missing[] = {"svc", "--nats", NULL};
    ck_assert_int_eq(pl_service_parse_args(2, missing, flags, 3, &a), PL_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(pl_last_error(), "--nats needs a value"));
    char *cfg_missing[] = {"svc", "--config", NULL};
    ck_assert_int_eq(pl_service_parse_args(2, cfg_missing, flags, 3, &a), PL_E_INVALID_ARG);
    /* a flag of another service is unknown here */
    char *other[] = {"svc", "--listen", "0.0.0.0:1", NULL};
    ck_assert_int_eq(pl_service_parse_args(3, other, flags, 3, &a), PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_service_parse_args(1, unknown, flags, PL_SERVICE_MAX_FLAGS + 1, &a),
                     PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_service_parse_args(1, unknown, flags, 3, NULL), PL_E_INVALID_ARG);
}
END_TEST

/* Config choice: --config, else $PARLEY_CONFIG, else ./config/parley.json, else none. */
START_TEST(test_args_config_choice) {
    char tmpl[] = "/tmp/pl_service_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(tmpl));
    char old[PATH_MAX];
    ck_assert_ptr_nonnull(getcwd(old, sizeof old));
    ck_assert_int_eq(chdir(tmpl), 0);
    char *argv[] = {"svc", NULL};
    struct pl_service_args a;
    unsetenv("PARLEY_CONFIG");
    ck_assert_int_eq(pl_service_parse_args(1, argv, flags, 3, &a), PL_OK);
    ck_assert_ptr_null(a.config);
    ck_assert_int_eq(mkdir("config", 0755), 0);
    FILE *f = fopen("config/parley.json", "w");
    ck_assert_ptr_nonnull(f);
    fputs("{}\n", f);
    fclose(f);
    ck_assert_int_eq(pl_service_parse_args(1, argv, flags, 3, &a), PL_OK);
    ck_assert_str_eq(a.config, "config/parley.json");
    setenv("PARLEY_CONFIG", "/env/p.json", 1);
    ck_assert_int_eq(pl_service_parse_args(1, argv, flags, 3, &a), PL_OK);
    ck_assert_str_eq(a.config, "/env/p.json");
    char *given[] = {"svc", "--config", "/flag/p.json", NULL};
    ck_assert_int_eq(pl_service_parse_args(3, given, flags, 3, &a), PL_OK);
    ck_assert_str_eq(a.config, "/flag/p.json");
    unsetenv("PARLEY_CONFIG");
    unlink("config/parley.json");
    rmdir("config");
    ck_assert_int_eq(chdir(old), 0);
    rmdir(tmpl);
}
END_TEST

START_TEST(test_set_str_and_port) {
    char *s = pl_strdup("old");
    ck_assert_int_eq(pl_service_set_str(&s, NULL), PL_OK);
    ck_assert_str_eq(s, "old");
    ck_assert_int_eq(pl_service_set_str(&s, "new"), PL_OK);
    ck_assert_str_eq(s, "new");
    ck_assert_int_eq(pl_service_set_str(NULL, "x"), PL_E_INVALID_ARG);
    pl_free(s);

    int64_t port = 7;
    ck_assert_int_eq(pl_service_parse_port("--http-port", "-1", &port), PL_OK);
    ck_assert_int_eq(port, -1);
    ck_assert_int_eq(pl_service_parse_port("--http-port", "65535", &port), PL_OK);
    ck_assert_int_eq(port, 65535);
    const char *bad[] = {"", "65536", "-2", "80x", "x", "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(pl_service_parse_port("--http-port", bad[i], &port), PL_E_INVALID_ARG);
        ck_assert_int_eq(port, 65535);
        ck_assert_ptr_nonnull(strstr(pl_last_error(), "--http-port"));
    }
}
END_TEST

/* <root>/config/parley.json with models in <root>/models: a relative model_dir that the
 * working directory lacks is found there; one the working directory has is kept. */
START_TEST(test_find_dir) {
    pl_log_set(quiet, NULL);
    char root[] = "/tmp/pl_service_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(root));
    char p[512], cfg[512], models[512];
    snprintf(p, sizeof p, "%s/config", root);
    ck_assert_int_eq(mkdir(p, 0755), 0);
    snprintf(models, sizeof models, "%s/models", root);
    ck_assert_int_eq(mkdir(models, 0755), 0);
    snprintf(cfg, sizeof cfg, "%s/config/parley.json", root);
    char old[PATH_MAX];
    ck_assert_ptr_nonnull(getcwd(old, sizeof old));
    ck_assert_int_eq(chdir("/"), 0);

    char *dir = pl_strdup("models");
    ck_assert_int_eq(pl_service_find_dir(cfg, &dir), PL_OK);
    char want[600];
    snprintf(want, sizeof want, "%s/config/../models", root);
    ck_assert_str_eq(dir, want);
    pl_free(dir);

    dir = pl_strdup("absent");
    ck_assert_int_eq(pl_service_find_dir(cfg, &dir), PL_OK);
    ck_assert_str_eq(dir, "absent");
    ck_assert_int_eq(pl_service_find_dir(NULL, &dir), PL_OK);
    ck_assert_str_eq(dir, "absent");
    pl_free(dir);

    dir = pl_strdup("/abs/models");
    ck_assert_int_eq(pl_service_find_dir(cfg, &dir), PL_OK);
    ck_assert_str_eq(dir, "/abs/models");
    pl_free(dir);

    ck_assert_int_eq(chdir(root), 0); /* the working directory has models/: kept */
    dir = pl_strdup("models");
    ck_assert_int_eq(pl_service_find_dir(cfg, &dir), PL_OK);
    ck_assert_str_eq(dir, "models");
    pl_free(dir);
    ck_assert_int_eq(pl_service_find_dir(cfg, NULL), PL_E_INVALID_ARG);

    ck_assert_int_eq(chdir(old), 0);
    rmdir(models);
    rmdir(p);
    rmdir(root);
}
END_TEST

static volatile sig_atomic_t stops;
static void count_stop(void *ud) { stops += *(int *)ud; }

START_TEST(test_stop_signals) {
    int step = 2;
    ck_assert_int_eq(pl_service_install_stop(count_stop, &step), PL_OK);
    raise(SIGTERM);
    raise(SIGINT);
    ck_assert_int_eq(stops, 4);
    ck_assert_int_eq(pl_service_install_stop(NULL, NULL), PL_OK);
    struct sigaction sa;
    ck_assert_int_eq(sigaction(SIGTERM, NULL, &sa), 0);
    ck_assert_ptr_eq((void *)sa.sa_handler, (void *)SIG_DFL);
    pl_service_init("svc-test");
    ck_assert_int_eq(sigaction(SIGPIPE, NULL, &sa), 0);
    ck_assert_ptr_eq((void *)sa.sa_handler, (void *)SIG_IGN);
}
END_TEST

#if defined(__SANITIZE_ADDRESS__)
#define PL_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PL_TEST_ASAN 1
#endif
#endif

#if defined(__GLIBC__) && !defined(PL_TEST_ASAN)
/* Resident pages of this process, from /proc/self/statm. */
static long resident_pages(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, res = -1;
    if (f) {
        if (fscanf(f, "%ld %ld", &size, &res) != 2) res = -1;
        fclose(f);
    }
    return res;
}
#endif

/* Freed blocks below a live one stay resident until the trimmer (1 s here) hands their pages
 * back: RSS falls by most of what was freed within a few seconds. */
START_TEST(test_memory_trimmer) {
#if defined(__GLIBC__) && !defined(PL_TEST_ASAN)
    enum { N = 1600, SZ = 64 * 1024 }; /* 100 MB in blocks under glibc's mmap threshold */
    setenv("PARLEY_MALLOC_TRIM_S", "1", 1);
    pl_service_init("svc-test");
    pl_service_init("svc-test"); /* one trimmer per process, however often init runs */
    static char *blk[N];
    for (int i = 0; i < N; i++) {
        blk[i] = malloc(SZ);
        ck_assert_ptr_nonnull(blk[i]);
        memset(blk[i], 1 + i % 200, SZ);
    }
    long full = resident_pages();
    for (int i = 0; i < N - 1; i++) free(blk[i]); /* the last block keeps the heap's top */
    long page = sysconf(_SC_PAGESIZE), freed = (long)(N - 1) * SZ / page, now = full;
    for (int t = 0; t < 100 && now > full - freed / 2; t++) {
        usleep(100 * 1000);
        now = resident_pages();
    }
    ck_assert_msg(now <= full - freed / 2, "RSS %ld pages after freeing %ld of %ld: not trimmed",
                  now, freed, full);
    free(blk[N - 1]);
#endif
}
END_TEST

struct wcfg {
    char *nats_url;
    int64_t http_port;
    char *http_host;
    char *model_dir;
    int64_t handler_threads;
    char *log_level;
    int64_t threads;
};

static const struct pl_config_field wfields[] = {
    PL_SERVICE_SIDE_FIELDS("svc", struct wcfg),
    {"svc", "model_dir", PL_CONFIG_STRING, offsetof(struct wcfg, model_dir), "/nonexistent-models", 1, 0, "models"},
    {"svc", "handler_threads", PL_CONFIG_INT, offsetof(struct wcfg, handler_threads), "3", 1, 64, "handlers"},
    {"svc", "threads", PL_CONFIG_INT, offsetof(struct wcfg, threads), "1", 1, 64, "threads"},
    PL_SERVICE_LOG_FIELD("svc", struct wcfg),
};
#define WN (sizeof wfields / sizeof wfields[0])

static const struct pl_service_std wstd = PL_SERVICE_STD(struct wcfg, model_dir);

/* The shared worker start-up: flags override config and defaults; each failure says which
 * exit code main() must return and leaves no string owned. */
START_TEST(test_worker_start) {
    struct wcfg c;
    int rc = -1;
    unsetenv("PARLEY_CONFIG");
    memset(&c, 0, sizeof c);
    char *good[] = {"svc", "--nats", "nats://127.0.0.1:1", "--http-port", "8123", "--model-dir", "/tmp", NULL};
    ck_assert(pl_service_worker_start("svc", 7, good, wfields, WN, &wstd, &c, &rc));
    ck_assert_str_eq(c.nats_url, "nats://127.0.0.1:1");
    ck_assert_int_eq(c.http_port, 8123);
    ck_assert_str_eq(c.model_dir, "/tmp");
    ck_assert_int_eq(c.threads, 1);
    pl_config_deinit(wfields, WN, &c);

    memset(&c, 0, sizeof c);
    char *badport[] = {"svc", "--http-port", "99999", NULL};
    ck_assert(!pl_service_worker_start("svc", 3, badport, wfields, WN, &wstd, &c, &rc));
    ck_assert_int_eq(rc, 1);
    ck_assert_ptr_null(c.nats_url);

    memset(&c, 0, sizeof c);
    char *badflag[] = {"svc", "--bogus", "1", NULL};
    ck_assert(!pl_service_worker_start("svc", 3, badflag, wfields, WN, &wstd, &c, &rc));
    ck_assert_int_eq(rc, 2);

    memset(&c, 0, sizeof c);
    setenv("PARLEY_SVC_THREADS", "999", 1);
    char *plain[] = {"svc", NULL};
    ck_assert(!pl_service_worker_start("svc", 1, plain, wfields, WN, &wstd, &c, &rc));
    ck_assert_int_eq(rc, 1);
    unsetenv("PARLEY_SVC_THREADS");

    memset(&c, 0, sizeof c);
    char *help[] = {"svc", "--help", NULL};
    ck_assert(!pl_service_worker_start("svc", 2, help, wfields, WN, &wstd, &c, &rc));
    ck_assert_int_eq(rc, 0);
}
END_TEST

Suite *pl_service_suite(void) {
    Suite *s = suite_create("service");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_args_values);
    tcase_add_test(tc, test_args_errors);
    tcase_add_test(tc, test_args_config_choice);
    tcase_add_test(tc, test_set_str_and_port);
    tcase_add_test(tc, test_find_dir);
    tcase_add_test(tc, test_stop_signals);
    tcase_add_test(tc, test_memory_trimmer);
    tcase_add_test(tc, test_worker_start);
    suite_add_tcase(s, tc);
    return s;
}
