/*
 * file.c - pl_read_file (file.h).
 */
#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
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
