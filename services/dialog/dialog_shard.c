/*
 * dialog_shard.c - parley-dialog's sessions partitioned across replicas (docs/deployment.md,
 * "Dialog shards"). Replica K of N (dialog.shard, dialog.shards) keeps its own SQLite file,
 * makes session ids that begin with K's two hex digits and serves parley.dialog.shard.<K>.*
 * besides the plain subjects (the gateway routes every call that names a session there).
 * What needs more than one shard lives here:
 *   - at start, refusing to serve a shard that another running replica already serves (two
 *     replicas on one shard would split its sessions' calls between two files);
 *   - DeleteUser, which must reach every shard: the replica that takes it deletes its own rows
 *     and asks every other shard (rpc delete_user_local, never fanned out again).
 */
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "dialog_svc.h"
#include "log.h"
#include "nrpc.h"
#include "nrpc_worker.h"
#include "parley/dialog/v1/dialog.pb-c.h"
#include "proto_util.h"

#define PROBE_TIMEOUT_MS 1000

pl_status pl__dlgsvc_shard_check(struct pl_dlgsvc *s) {
    if (s->o.shards <= 1) return PL_OK;
    char subj[96];
    snprintf(subj, sizeof subj, "parley.dialog.shard.%d.get_session", s->o.shard);
    struct pl_nrpc_meta meta = {NULL, 0, NULL};
    struct pl_nrpc_reply r;
    memset(&r, 0, sizeof r);
    /* an empty GetSessionRequest: any replica serving the subject answers (INVALID_ARGUMENT or
     * NOT_FOUND); no responders (UNAVAILABLE) means the shard is free */
    PL_TRY(pl_nrpc_call(s->nc, subj, NULL, 0, &meta, PROBE_TIMEOUT_MS, &r));
    int code = r.code;
    pl_nrpc_reply_deinit(&r);
    if (code == PL_GRPC_UNAVAILABLE || code == PL_GRPC_DEADLINE_EXCEEDED) return PL_OK;
    return PL_ERR(PL_E_INVALID_ARG,
                  "dialog shard %d of %d is already served by another running parley-dialog "
                  "(it answered %s on %s): give each replica its own dialog.shard",
                  s->o.shard, s->o.shards, pl_grpc_code_name(code), subj);
}

/* DeleteUser on shard j: its sessions_deleted in *n. */
static pl_status delete_on_shard(struct pl_dlgsvc *s, const struct pl_worker_ctx *ctx,
                                 const char *req_user, int j, int *n) {
    Parley__Dialog__V1__DeleteUserRequest rq = PARLEY__DIALOG__V1__DELETE_USER_REQUEST__INIT;
    rq.user_id = (char *)(req_user ? req_user : "");
    uint8_t *buf = NULL;
    size_t len = 0;
    PL_TRY(pl_proto_pack(&rq.base, &buf, &len));
    char subj[96];
    snprintf(subj, sizeof subj, "parley.dialog.shard.%d.delete_user_local", j);
    struct pl_nrpc_meta meta = {ctx->request_id, ctx->deadline_us,
                                ctx->user[0] ? ctx->user : NULL};
    struct pl_nrpc_reply r;
    memset(&r, 0, sizeof r);
    pl_status st = pl_nrpc_call(s->nc, subj, buf, len, &meta, s->o.nlu_timeout_ms * 5, &r);
    pl_free(buf);
    if (st == PL_OK && r.code != PL_GRPC_OK)
        st = PL_ERR(r.code == PL_GRPC_UNAVAILABLE ? PL_E_UNAVAILABLE
                                                  : pl_nrpc_status_from_code(r.code),
                    "dialog shard %d: %s: %s", j, pl_grpc_code_name(r.code), r.message);
    ProtobufCMessage *m = NULL;
    if (st == PL_OK)
        st = pl_proto_unpack(&parley__dialog__v1__delete_user_response__descriptor, r.data, r.len,
                             &m);
    if (st == PL_OK) *n = ((Parley__Dialog__V1__DeleteUserResponse *)m)->sessions_deleted;
    pl_proto_free(m);
    pl_nrpc_reply_deinit(&r);
    return st;
}

pl_status pl__dlgsvc_delete_other_shards(struct pl_dlgsvc *s, const struct pl_worker_ctx *ctx,
                                         const char *req_user, int *count) {
    pl_status first = PL_OK;
    char failed[256] = "";
    for (int j = 0; j < s->o.shards && s->o.shards > 1; j++) {
        if (j == s->o.shard) continue;
        int n = 0;
        pl_status st = delete_on_shard(s, ctx, req_user, j, &n);
        if (st == PL_OK) {
            *count += n;
            continue;
        }
        if (first == PL_OK) {
            first = st;
            snprintf(failed, sizeof failed, "%s", pl_last_error());
        }
    }
    if (first != PL_OK)
        return PL_ERR(first, "DeleteUser reached only some shards (the others' rows are "
                             "deleted; call it again): %s", failed);
    return PL_OK;
}
