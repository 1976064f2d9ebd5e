/*
 * fuzz_gateway_md.c - what parley-gateway parses from a caller before forwarding: the API
 * keys file (pl_gw_keys_parse), the call's metadata (pl__gw_read_metadata: `authorization`,
 * `x-request-id`), the key check (pl_gw_keys_check) and the method path lookup
 * (pl_rpc_find).
 *
 * Input parts (FZ_SEP between them): the keys file; the method path; then metadata as
 * alternating key and value parts. The metadata also always gets one `authorization` entry
 * holding the keys file's first line, so that the check sees matching keys too.
 */
#include <grpc/slice.h>
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_util.h"
#include "gateway_impl.h"
#include "util.h"

#define MAX_MD 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int init;
    if (!init) {
        fz_quiet();
        init = 1;
    }
    struct fz_in in = {data, size};
    size_t klen = 0, plen = 0;
    const uint8_t *keys_text = fz_next_part(&in, &klen);
    const uint8_t *path = fz_next_part(&in, &plen);
    struct pl_gw_keys *keys = NULL;
    if (keys_text && pl_gw_keys_parse((const char *)keys_text, klen, "keys.txt", &keys) == PL_OK &&
        pl_gw_keys_count(keys) == 0)
        abort();

    grpc_metadata md[MAX_MD + 1];
    size_t n = 0;
    memset(md, 0, sizeof md);
    if (keys_text) {
        const uint8_t *eol = memchr(keys_text, '\n', klen);
        md[n].key = grpc_slice_from_static_string("authorization");
        md[n].value =
            grpc_slice_from_static_buffer(keys_text, eol ? (size_t)(eol - keys_text) : klen);
        n++;
    }
    const uint8_t *k, *v;
    size_t kn, vn;
    while (n < MAX_MD && (k = fz_next_part(&in, &kn)) != NULL) {
        v = fz_next_part(&in, &vn);
        md[n].key = grpc_slice_from_static_buffer(k, kn);
        md[n].value = v ? grpc_slice_from_static_buffer(v, vn) : grpc_empty_slice();
        n++;
    }
    char request_id[72];
    const char *auth = NULL;
    size_t auth_len = 0;
    pl__gw_read_metadata(md, n, request_id, sizeof request_id, &auth, &auth_len);
    if (!pl_request_id_valid(request_id)) abort(); /* always a usable id */
    const char *user = pl_gw_keys_check(keys, auth, auth_len);
    if (user && !*user) abort();
    (void)pl_rpc_find((const char *)path, path ? plen : 0);
    pl_gw_keys_destroy(keys);
    return 0;
}
