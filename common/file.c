/*
 * file.c - pl_read_file, pl_read_lines, pl_file_no_room (file.h).
 */
#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "alloc.h"

pl_status pl_read_file(const char *path, size_t max_bytes, char **data, size_t *len) {
    pl_status st = PL_OK;
    char *buf = NULL;
    size_t n = 0, cap;
    if (data) *data = NULL;
    if (len) *len = 0;
    if (!path || !data || !len) return PL_ERR(PL_E_INVALID_ARG, "read file: NULL argument");
    if (max_bytes == 0 || max_bytes > SIZE_MAX / 2) max_bytes = SIZE_MAX / 2;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return PL_ERR(PL_E_IO, "cannot open %s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        st = PL_ERR(PL_E_IO, "cannot read %s: it is a directory", path);
        goto fail;
    }
    /* A regular file's size is a good first guess (+1 to see the end at once); pipes and
     * devices grow the buffer as they go. */
    if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode)) {
        if ((uint64_t)sb.st_size > max_bytes) {
            st = PL_ERR(PL_E_FORMAT, "%s: %lld bytes, more than the %zu allowed", path,
                        (long long)sb.st_size, max_bytes);
            goto fail;
        }
        cap = (size_t)sb.st_size + 1;
    } else {
        cap = 65536;
    }
    buf = pl_malloc(cap + 1);
    if (!buf) {
        st = PL_ERR(PL_E_NOMEM, "%s: out of memory reading %zu bytes", path, cap);
        goto fail;
    }
    for (;;) {
        if (n == cap) {
            if (cap >= max_bytes + 1) {
                st = PL_ERR(PL_E_FORMAT, "%s: more than the %zu bytes allowed", path, max_bytes);
                goto fail;
            }
            size_t ncap = cap * 2 < max_bytes + 1 ? cap * 2 : max_bytes + 1;
            char *nb = pl_realloc(buf, ncap + 1);
            if (!nb) {
                st = PL_ERR(PL_E_NOMEM, "%s: out of memory reading %zu bytes", path, ncap);
                goto fail;
            }
            buf = nb;
            cap = ncap;
        }
        ssize_t got = read(fd, buf + n, cap - n);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) {
            st = PL_ERR(PL_E_IO, "cannot read %s: %s", path, strerror(errno));
            goto fail;
        }
        if (got == 0) break;
        n += (size_t)got;
    }
    if (n > max_bytes) {
        st = PL_ERR(PL_E_FORMAT, "%s: more than the %zu bytes allowed", path, max_bytes);
        goto fail;
    }
    close(fd);
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return PL_OK;
fail:
    close(fd);
    pl_free(buf);
    return st;
}

pl_status pl_read_lines(const char *path, size_t max_bytes, char **buf, char ***lines,
                        size_t *n_lines) {
    size_t len = 0;
    *lines = NULL;
    *n_lines = 0;
    PL_TRY(pl_read_file(path, max_bytes, buf, &len));
    size_t cap = 1;
    for (size_t i = 0; i < len; i++) cap += (*buf)[i] == '\n';
    char **v = pl_malloc(cap * sizeof *v);
    if (!v) {
        pl_free(*buf);
        *buf = NULL;
        return PL_ERR(PL_E_NOMEM, "%s: out of memory for %zu lines", path, cap);
    }
    size_t n = 0;
    for (char *p = *buf, *end = *buf + len; p < end;) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *e = nl ? nl : end;
        if (e > p && e[-1] == '\r') e--;
        *e = '\0';
        v[n++] = p;
        p = nl ? nl + 1 : end;
    }
    *lines = v;
    *n_lines = n;
    return PL_OK;
}

bool pl_file_no_room(const char *const *paths, int n, int64_t need, char *why, size_t cap) {
    if (cap) why[0] = '\0';
    struct rlimit rl;
    bool limited = getrlimit(RLIMIT_FSIZE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY;
    for (int i = 0; i < n; i++) {
        struct stat sb;
        struct statvfs vfs;
        if (stat(paths[i], &sb) != 0) continue;
        if (limited && (int64_t)sb.st_size + need > (int64_t)rl.rlim_cur) {
            snprintf(why, cap, "%s at the file size limit (%lld bytes)", paths[i],
                     (long long)rl.rlim_cur);
            return true;
        }
        if (statvfs(paths[i], &vfs) == 0) {
            uint64_t blocks = geteuid() == 0 ? vfs.f_bfree : vfs.f_bavail;
            if (blocks * vfs.f_frsize < (uint64_t)need) {
                snprintf(why, cap, "no space left on device");
                return true;
            }
        }
    }
    return false;
}
