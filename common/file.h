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

#include <stddef.h>

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

#ifdef __cplusplus
}
#endif
#endif
