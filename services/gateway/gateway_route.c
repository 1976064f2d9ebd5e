/*
 * gateway_route.c - session affinity for partitioned dialog state (docs/deployment.md,
 * "Dialog shards"). A parley.dialog.v1 request that names a session (session_id at the top,
 * or in the first Converse message's config) goes to the shard its id names:
 * parley.dialog.shard.<K>.<rpc> (parley.dialog.shard.<K>.stream.open for Converse), where
 * K = pl_nrpc_shard_of_id(session_id). Every other request keeps the plain subject, which any
 * replica serves (CreateSession, DeleteUser, a Converse that creates its session).
 * One unpartitioned parley-dialog serves every shard's subjects, so routing needs no setting
 * here: the gateway never needs to know how many shards there are.
 */
#include <stdio.h>
#include <string.h>

#include "gateway_impl.h"

/* Is field f set in m? (a oneof member only when it is the case chosen) */
static bool present(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f) {
    if (!(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)) return true;
    return *(const uint32_t *)((const char *)m + f->quantifier_offset) == f->id;
}

static const ProtobufCFieldDescriptor *field(const ProtobufCMessage *m, const char *name,
                                             ProtobufCType type) {
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(m->descriptor, name);
    if (!f || f->type != type || f->label == PROTOBUF_C_LABEL_REPEATED || !present(m, f))
        return NULL;
    return f;
}

/* The session_id string of m, or of its `config` message (Converse); NULL when none. */
static const char *session_of(const ProtobufCMessage *m) {
    const ProtobufCFieldDescriptor *f = field(m, "session_id", PROTOBUF_C_TYPE_STRING);
    if (f) return *(char *const *)((const char *)m + f->offset);
    f = field(m, "config", PROTOBUF_C_TYPE_MESSAGE);
    if (!f) return NULL;
    const ProtobufCMessage *cfg = *(ProtobufCMessage *const *)((const char *)m + f->offset);
    if (!cfg) return NULL;
    f = field(cfg, "session_id", PROTOBUF_C_TYPE_STRING);
    return f ? *(char *const *)((const char *)cfg + f->offset) : NULL;
}

int pl__gw_route_shard(const struct pl_rpc_info *rpc, const uint8_t *p, size_t n) {
    if (!rpc || !rpc->input || strcmp(rpc->service, "dialog") != 0) return -1;
    ProtobufCMessage *m = protobuf_c_message_unpack(rpc->input, NULL, n, p);
    if (!m) return -1; /* the worker answers INVALID_ARGUMENT for it */
    int shard = pl_nrpc_shard_of_id(session_of(m));
    protobuf_c_message_free_unpacked(m, NULL);
    return shard;
}

void pl__gw_route_subject(const char *service, const char *rpc, int shard, char *out,
                          size_t cap) {
    if (shard >= 0)
        snprintf(out, cap, "parley.%s.shard.%d.%s", service, shard, rpc);
    else
        snprintf(out, cap, "parley.%s.%s", service, rpc);
}

void pl__gw_route_stream_svc(const char *service, int shard, char *out, size_t cap) {
    if (shard >= 0)
        snprintf(out, cap, "%s.shard.%d", service, shard);
    else
        snprintf(out, cap, "%s", service);
}

const char *pl__gw_route_error(int shard, int code, const char *msg, char *buf, size_t cap) {
    if (shard < 0 || code != PL_GRPC_UNAVAILABLE) return msg;
    snprintf(buf, cap, "dialog shard %d (the replica that holds this session) is unavailable: %s",
             shard, msg ? msg : "");
    return buf;
}
