/* test_engine_util.h - small helpers shared by the engine model tests (header-only: each
 * test is its own executable). */
#ifndef PL_TEST_ENGINE_UTIL_H
#define PL_TEST_ENGINE_UTIL_H

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend.h"

/* max |a[i] - b[i]| over n elements; a NaN anywhere makes it NaN. */
static inline double pl_test_max_diff(const float *a, const float *b, size_t n) {
    double w = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= w)) w = d; /* NaN propagates */
    }
    return w;
}

/* Whether a backend `name` ("cuda") can be made, asked in a child process: Check forks
 * for every test, and a process that initialized CUDA must not fork and use it. */
static inline bool pl_test_have_backend(const char *name) {
    pid_t pid = fork();
    int status = 0;
    if (pid < 0) return false;
    if (pid == 0) {
        struct pl_backend *be = NULL;
        int ok = pl_backend_create(name, &be) == PL_OK;
        pl_backend_destroy(be);
        _exit(ok ? 3 : 4);
    }
    return waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 3;
}

#endif
