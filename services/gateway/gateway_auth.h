/*
 * gateway_auth.h - API keys for the gateway.
 *
 * Keys file: one key per line, "<key> [user] [rate=R] [burst=B] [max_calls=C]";
 * blank lines and lines that start with '#' are ignored. A key is 8-256
 * printable non-space ASCII characters; the user (the identity forwarded as
 * Parley-User; no '=' in it) defaults to "key<line number>". The options set
 * the key's own limits (requests per second, token-bucket burst, open calls);
 * a key without them takes the gateway's defaults (key_rate, key_burst,
 * key_max_calls). A call authenticates with gRPC metadata
 * `authorization: Bearer <key>` or `authorization: <key>`.
 *
 * Thread-safety: a loaded key set is immutable; pl_gw_keys_check may run on
 * any thread at once.
 */
#ifndef PL_GATEWAY_AUTH_H
#define PL_GATEWAY_AUTH_H

#include <stddef.h>
#include <stdint.h>

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

/* Same check; the index (0..count-1) of the matching key, or -1. */
long pl_gw_keys_find(const struct pl_gw_keys *keys, const char *value, size_t len);

/* The user of key i (borrowed from keys). */
const char *pl_gw_keys_user(const struct pl_gw_keys *keys, size_t i);

/* A key's own limits from its line; -1 in a field = not given (the gateway's default). */
struct pl_gw_key_limits {
    double rate;       /* requests per second; 0 = unlimited */
    int64_t burst;     /* token-bucket size */
    int64_t max_calls; /* calls open at once; 0 = unlimited */
};
struct pl_gw_key_limits pl_gw_keys_limits(const struct pl_gw_keys *keys, size_t i);

void pl_gw_keys_destroy(struct pl_gw_keys *keys);

#endif
