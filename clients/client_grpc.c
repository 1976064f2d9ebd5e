/*
 * client_grpc.c - one unary call for the `parley` commands (client_grpc.h), on
 * libparley-client's plumbing (clients/c/client_rpc.h) with the failure printed.
 */
#include "client_grpc.h"

#include <string.h>

#include "alloc.h"

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
