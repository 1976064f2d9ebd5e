/*
 * dialog_actions.c - the `nats` action's transport (dialog_svc.h, hook nats_request of
 * dialog.h): the turn's JSON as a request on the spec's subject over parley-dialog's NATS
 * connection, the reply's bytes back. Fulfilment in any language is a NATS client that
 * subscribes to the subject (in a queue group, to run several) and answers with the JSON of
 * docs/dialog.md ("External actions"); a Parley-Status header on the reply is an error.
 * The request carries Parley-User (the turn's user), Parley-Request-Id and the deadline.
 */
#include <string.h>

#include "alloc.h"
#include "dialog_svc.h"
#include "log.h"
#include "nrpc.h"

pl_status pl__dlgsvc_nats_request(void *ud, const char *subject, const char *user,
                                  const char *body, int timeout_ms, int64_t deadline_us,
                                  char **reply, size_t *len) {
    struct pl_dlgsvc *s = ud;
    *reply = NULL;
    *len = 0;
    struct pl_nrpc_meta meta = {pl_log_request_id()[0] ? pl_log_request_id() : NULL, deadline_us,
                                user};
    struct pl_nrpc_reply r;
    memset(&r, 0, sizeof r);
    PL_TRY(pl_nrpc_call_external(s->nc, subject, body, strlen(body), &meta, timeout_ms, &r));
    pl_status st = PL_OK;
    if (r.code == PL_GRPC_UNAVAILABLE && strstr(r.message, "no worker"))
        st = PL_ERR(PL_E_NOT_FOUND, "nothing serves the subject");
    else if (r.code == PL_GRPC_DEADLINE_EXCEEDED)
        st = PL_ERR(PL_E_TIMEOUT, "no reply within %d ms", timeout_ms);
    else if (r.code != PL_GRPC_OK)
        st = PL_ERR(pl_nrpc_status_from_code(r.code), "%s: %s", pl_grpc_code_name(r.code),
                    r.message);
    else if (!(*reply = pl_malloc(r.len + 1)))
        st = PL_ERR(PL_E_NOMEM, "nats reply");
    if (st == PL_OK) {
        if (r.len) memcpy(*reply, r.data, r.len);
        (*reply)[r.len] = '\0';
        *len = r.len;
    }
    pl_nrpc_reply_deinit(&r);
    return st;
}
