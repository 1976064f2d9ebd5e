/*
 * file.h - reading a whole file.
 *
 * Every loader that wants a file's bytes (configuration, API keys, TLS
 * certificates, audio, vocabularies, word lists, language models) reads them
 * through pl_read_file, so that errors name the file and the cause the same
 * way everywhere and size limits are enforced before memory is spent.
 *
 * Thread-safety: safe from any thread.
 */
#ifndef PL_FILE_H
#define PL_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Read the whole file at path (regular file, pipe or device: read until end of file).
 * max_bytes > 0 refuses a larger file; 0 = no limit.
 * OUT: *data (caller owns; pl_free) holds *len bytes plus a terminating NUL that is not
 * counted, so text can be parsed in place. Both are NULL/0 on failure.
 * Errors (messages name the path): PL_E_INVALID_ARG (NULL arguments), PL_E_IO (cannot
 * open or read, with the system's reason), PL_E_FORMAT (larger than max_bytes),
 * PL_E_NOMEM.
 */
pl_status pl_read_file(const char *path, size_t max_bytes, char **data, size_t *len);

/*
 * Read a text file and cut it into lines in place: pl_read_file, then every "\n" becomes a NUL
 * and a "\r" before it is dropped; a last line without "\n" counts, an empty file has no
 * lines. OUT: *buf (caller owns; pl_free; the lines point into it), *lines (caller owns;
 * pl_free), *n_lines. Errors as pl_read_file.
 */
pl_status pl_read_lines(const char *path, size_t max_bytes, char **buf, char ***lines,
                        size_t *n_lines);

/*
 * Has the writer of the files paths[0..n) (those that exist) run out of room to grow them:
 * fewer than need bytes free on their file system for this process (root may use the
 * reserved blocks), or one of them within need bytes of the process's file-size limit
 * (RLIMIT_FSIZE, `ulimit -f`)? For naming "disk full" after a write failed with a plain I/O
 * error, whose errno a library may no longer have. OUT: why ("no space left on device",
 * "PATH at the file size limit (N bytes)"; "" when there is room). Returns true when not.
 */
bool pl_file_no_room(const char *const *paths, int n, int64_t need, char *why, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
