/*
 * client_grpc.c - one unary call for the `parley` commands (client_grpc.h), on
 * libparley-client's plumbing (clients/c/client_rpc.h) with the failure printed.
 */
#include "client_grpc.h"

#include <string.h>

#include "alloc.h"
#include "file.h"
#include "strbuf.h"

grpc_status_code pl_client_unary(grpc_channel *ch, const char *cmd, const char *server,
                                 const char *method, const char *api_key, const void *req,
                                 size_t n, int64_t timeout_ms, uint8_t **resp, size_t *resp_len) {
    struct pl__rpc_result r;
    if (pl__rpc_unary(ch, method, api_key, req, n, timeout_ms, &r, resp, resp_len) != PL_OK) {
        fprintf(stderr, "parley %s: %s\n", cmd, pl_last_error());
        return r.status == GRPC_STATUS_OK ? GRPC_STATUS_RESOURCE_EXHAUSTED : GRPC_STATUS_INTERNAL;
    }
    if (r.status != GRPC_STATUS_OK) {
        fprintf(stderr, "parley %s: %s: status %d: %s\n", cmd, server, (int)r.status,
                r.details ? r.details : "");
        pl_free(r.details);
    }
    return r.status;
}

grpc_byte_buffer *pl_client_pack(const ProtobufCMessage *m) { return pl__rpc_pack(m); }

pl_status pl_client_unpack(grpc_byte_buffer *bb, const ProtobufCMessageDescriptor *d,
                           ProtobufCMessage **out) {
    return pl__rpc_unpack(bb, d, out);
}

grpc_channel *pl_client_channel_tls(const char *cmd, const char *server, const char *tls_ca) {
    char *ca = NULL;
    size_t n = 0;
    if (tls_ca && pl_read_file(tls_ca, 4u << 20, &ca, &n) != PL_OK) {
        fprintf(stderr, "parley %s: --tls-ca: %s\n", cmd, pl_last_error());
        return NULL;
    }
    grpc_channel *ch = NULL;
    if (pl__rpc_channel(server, tls_ca != NULL, ca, NULL, &ch) != PL_OK)
        fprintf(stderr, "parley %s: %s: %s\n", cmd, server, pl_last_error());
    pl_free(ca);
    return ch;
}

void pl_client_json_str(FILE *f, const char *s) {
    struct pl_strbuf sb;
    pl_strbuf_init(&sb);
    pl_strbuf_append_json(&sb, s ? s : "");
    fputs(pl_strbuf_status(&sb) == PL_OK && sb.data ? sb.data : "\"\"", f);
    pl_strbuf_deinit(&sb);
}
