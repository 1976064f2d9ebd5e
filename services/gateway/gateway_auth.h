/*
 * gateway_auth.h - API keys for the gateway.
 *
 * Keys file: one key per line, "<key> [user]"; blank lines and lines that
 * start with '#' are ignored. A key is 8-256 printable non-space ASCII
 * characters; the user (the identity forwarded as Parley-User) defaults to
 * "key<line number>". A call authenticates with gRPC metadata
 * `authorization: Bearer <key>` or `authorization: <key>`.
 *
 * Thread-safety: a loaded key set is immutable; pl_gw_keys_check may run on
 * any thread at once.
 */
#ifndef PL_GATEWAY_AUTH_H
#define PL_GATEWAY_AUTH_H

#include <stddef.h>

#include "status.h"

struct pl_gw_keys;

/* Parse keys from text; `origin` names it in errors ("keys.txt:3: key too short").
 * OUT keys: caller owns; pl_gw_keys_destroy(). PL_E_INVALID_ARG on a bad line
 * or no key at all, PL_E_NOMEM. */
pl_status pl_gw_keys_parse(const char *text, size_t len, const char *origin,
                           struct pl_gw_keys **keys);

/* Same, from a file. PL_E_IO when it cannot be read. */
pl_status pl_gw_keys_load(const char *path, struct pl_gw_keys **keys);

size_t pl_gw_keys_count(const struct pl_gw_keys *keys);

/* Check an `authorization` metadata value (not NUL-terminated). Returns the
 * user of the matching key (borrowed from keys) or NULL when it matches none. */
const char *pl_gw_keys_check(const struct pl_gw_keys *keys, const char *value, size_t len);

void pl_gw_keys_destroy(struct pl_gw_keys *keys);

#endif
