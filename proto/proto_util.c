/* proto_util.c - protobuf-c glue: Parley allocator, unpack with a named error, pack. */
#include "proto_util.h"

#include "alloc.h"

static void *pa_alloc(void *ud, size_t n) {
    (void)ud;
    /* protobuf-c asks for 0 bytes for empty repeated fields in some versions: keep it valid */
    return pl_malloc(n ? n : 1);
}

static void pa_free(void *ud, void *p) {
    (void)ud;
    pl_free(p);
}

static ProtobufCAllocator allocator = {.alloc = pa_alloc, .free = pa_free, .allocator_data = NULL};

ProtobufCAllocator *pl_proto_allocator(void) {
    return &allocator;
}

pl_status pl_proto_unpack(const ProtobufCMessageDescriptor *desc, const void *data, size_t len,
                          ProtobufCMessage **out) {
    static const uint8_t empty[1] = {0};
    if (!out) return PL_ERR(PL_E_INVALID_ARG, "pl_proto_unpack: out is NULL");
    *out = NULL;
    if (!desc) return PL_ERR(PL_E_INVALID_ARG, "pl_proto_unpack: no message descriptor");
    if (!data && len) return PL_ERR(PL_E_INVALID_ARG, "%s: NULL data of %zu bytes", desc->name, len);
    if (!data) data = empty;
    struct pl_alloc_stats before, after;
    pl_alloc_stats(&before);
    ProtobufCMessage *m = protobuf_c_message_unpack(desc, &allocator, len, data);
    if (!m) {
        /* protobuf-c does not say why it failed: an allocation that failed meanwhile means
         * out of memory, otherwise the bytes are bad. */
        pl_alloc_stats(&after);
        if (after.failed_allocs != before.failed_allocs)
            return PL_ERR(PL_E_NOMEM, "%s: out of memory unpacking %zu bytes", desc->name, len);
        return PL_ERR(PL_E_INVALID_ARG, "malformed %s message (%zu bytes)", desc->name, len);
    }
    *out = m;
    return PL_OK;
}

void pl_proto_free(ProtobufCMessage *m) {
    if (m) protobuf_c_message_free_unpacked(m, &allocator);
}

pl_status pl_proto_pack(const ProtobufCMessage *m, uint8_t **out, size_t *out_len) {
    if (!out || !out_len) return PL_ERR(PL_E_INVALID_ARG, "pl_proto_pack: NULL out");
    *out = NULL;
    *out_len = 0;
    if (!m) return PL_ERR(PL_E_INVALID_ARG, "pl_proto_pack: NULL message");
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = pl_malloc(n ? n : 1);
    if (!buf) return PL_ERR(PL_E_NOMEM, "%s: cannot allocate %zu bytes to pack", m->descriptor->name, n);
    size_t w = protobuf_c_message_pack(m, buf);
    if (w != n) {
        pl_free(buf);
        return PL_ERR(PL_E_INTERNAL, "%s: packed %zu bytes, expected %zu", m->descriptor->name, w, n);
    }
    *out = buf;
    *out_len = n;
    return PL_OK;
}
