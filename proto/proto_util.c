/* proto_util.c - protobuf-c glue: Parley allocator, unpack with a named error, pack. */
#include "proto_util.h"

#include <stdbool.h>
#include <string.h>

#include "alloc.h"

/* Set when an allocation of this thread's current unpack failed: tells PL_E_NOMEM from bad
 * bytes, which protobuf-c reports the same way (NULL). */
static _Thread_local bool tl_alloc_failed;

static void *pa_alloc(void *ud, size_t n) {
    (void)ud;
    /* protobuf-c asks for 0 bytes for empty repeated fields in some versions: keep it valid */
    void *p = pl_malloc(n ? n : 1);
    if (!p) tl_alloc_failed = true;
    return p;
}

static void pa_free(void *ud, void *p) {
    (void)ud;
    pl_free(p);
}

static ProtobufCAllocator allocator = {.alloc = pa_alloc, .free = pa_free, .allocator_data = NULL};

ProtobufCAllocator *pl_proto_allocator(void) {
    return &allocator;
}

/* Strict UTF-8 (no overlongs, surrogates or code points past U+10FFFF), as protobuf requires
 * of proto3 string fields; protobuf-c itself does not check. */
static bool utf8_valid(const unsigned char *s) {
    while (*s) {
        unsigned c = *s;
        if (c < 0x80) {
            s++;
            continue;
        }
        int n;
        unsigned cp, min;
        if ((c & 0xe0) == 0xc0) n = 1, cp = c & 0x1f, min = 0x80;
        else if ((c & 0xf0) == 0xe0) n = 2, cp = c & 0x0f, min = 0x800;
        else if ((c & 0xf8) == 0xf0) n = 3, cp = c & 0x07, min = 0x10000;
        else return false;
        for (int i = 1; i <= n; i++) {
            if ((s[i] & 0xc0) != 0x80) return false; /* also stops at the NUL */
            cp = (cp << 6) | (s[i] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
        s += n + 1;
    }
    return true;
}

/* Every string field in the message tree is valid UTF-8; else INVALID_ARG naming the field.
 * Recursion depth is bounded by the schemas (no message type of ours contains itself). */
static pl_status check_strings(const ProtobufCMessage *m) {
    const ProtobufCMessageDescriptor *d = m->descriptor;
    const char *base = (const char *)m;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE) continue;
        size_t n = 1;
        void *const *vals = (void *const *)(base + f->offset);
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            n = *(const size_t *)(base + f->quantifier_offset);
            vals = *(void *const *const *)(base + f->offset);
        } else if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
                   *(const uint32_t *)(base + f->quantifier_offset) != f->id) {
            continue;
        }
        for (size_t k = 0; k < n; k++) {
            if (!vals[k]) continue;
            if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
                PL_TRY(check_strings(vals[k]));
            } else if (!utf8_valid(vals[k])) {
                return PL_ERR(PL_E_INVALID_ARG, "%s.%s: string is not valid UTF-8", d->name, f->name);
            }
        }
    }
    return PL_OK;
}

pl_status pl_proto_unpack(const ProtobufCMessageDescriptor *desc, const void *data, size_t len,
                          ProtobufCMessage **out) {
    static const uint8_t empty[1] = {0};
    if (!out) return PL_ERR(PL_E_INVALID_ARG, "pl_proto_unpack: out is NULL");
    *out = NULL;
    if (!desc) return PL_ERR(PL_E_INVALID_ARG, "pl_proto_unpack: no message descriptor");
    if (!data && len) return PL_ERR(PL_E_INVALID_ARG, "%s: NULL data of %zu bytes", desc->name, len);
    if (!data) data = empty;
    tl_alloc_failed = false;
    ProtobufCMessage *m = protobuf_c_message_unpack(desc, &allocator, len, data);
    if (!m) {
        if (tl_alloc_failed)
            return PL_ERR(PL_E_NOMEM, "%s: out of memory unpacking %zu bytes", desc->name, len);
        return PL_ERR(PL_E_INVALID_ARG, "malformed %s message (%zu bytes)", desc->name, len);
    }
    pl_status st = check_strings(m);
    if (st != PL_OK) {
        protobuf_c_message_free_unpacked(m, &allocator);
        return st;
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
