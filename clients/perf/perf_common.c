/* perf_common.c - channel, RPC names and status names of `parley perf` (perf_common.h). */
#include "perf_common.h"

#include <stdio.h>
#include <string.h>

#include <grpc/grpc_security.h>

#include "alloc.h"
#include "file.h"

pl_status pl_perf_channel_create(const char *target, bool use_ssl, const char *ssl_cert,
                                 grpc_channel **out) {
    *out = NULL;
    char *pem = NULL;
    grpc_channel_credentials *cr = NULL;
    pl_status st = PL_OK;
    if (ssl_cert) {
        size_t len;
        PL_TRY(pl_read_file(ssl_cert, 4u << 20, &pem, &len));
        use_ssl = true;
    }
    cr = use_ssl ? grpc_ssl_credentials_create(pem, NULL, NULL, NULL)
                 : grpc_insecure_credentials_create();
    if (!cr) {
        st = PL_ERR(PL_E_INTERNAL, "gRPC gave no %s credentials", use_ssl ? "TLS" : "plaintext");
        goto fail;
    }
    grpc_arg args[2] = {
        {GRPC_ARG_INTEGER, GRPC_ARG_MAX_SEND_MESSAGE_LENGTH, {.integer = 64 << 20}},
        {GRPC_ARG_INTEGER, GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, {.integer = 64 << 20}},
    };
    grpc_channel_args chargs = {2, args};
    *out = grpc_channel_create(target, cr, &chargs);
    if (!*out) st = PL_ERR(PL_E_INTERNAL, "gRPC gave no channel to %s", target);
fail:
    if (cr) grpc_channel_credentials_release(cr);
    pl_free(pem);
    return st;
}

const struct pl_rpc_info *pl_perf_rpc_resolve(const char *name) {
    if (!name || !*name) return NULL;
    const struct pl_rpc_info *hit = NULL;
    int hits = 0;
    size_t len = strlen(name);
    for (size_t i = 0; i < pl_rpc_count(); i++) {
        const struct pl_rpc_info *r = pl_rpc_at(i);
        const char *p = r->path; /* "/nvidia.riva.asr.X/M" */
        bool same = !strcmp(p, name) || !strcmp(p + 1, name) ||
                    (!strncmp(p + 1, "nvidia.", 7) && !strcmp(p + 8, name)) ||
                    !strcmp(r->rpc, name);
        if (same) return r; /* an exact form is never ambiguous */
        if (strlen(r->method) == len && !strcmp(r->method, name)) {
            hit = r;
            hits++;
        }
    }
    return hits == 1 ? hit : NULL;
}

const char *pl_perf_status_name(grpc_status_code code) {
    static const char *const names[] = {
        "OK",
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
    };
    if ((int)code >= 0 && (size_t)code < sizeof names / sizeof names[0]) return names[code];
    return "UNKNOWN_CODE";
}
