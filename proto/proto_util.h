/*
 * proto_util.h - protobuf-c with Parley's allocator and error reporting.
 *
 * Services unpack every request through pl_proto_unpack(): bad bytes (truncated, garbage, a
 * wire type that does not match the field, a string field that is not valid UTF-8) come back
 * as PL_E_INVALID_ARG with a message that names the message type (or field), which the service
 * answers with gRPC INVALID_ARGUMENT. (protobuf_c_message_unpack alone accepts invalid UTF-8;
 * protobuf's C++ and Python parsers reject it in proto3 strings, and so does this.) Memory goes
 * through pl_malloc/pl_free (common/alloc.h), so it is accounted and tests can make it fail.
 *
 * A message from pl_proto_unpack() must be freed with pl_proto_free() (same allocator), never
 * with protobuf_c_message_free_unpacked(m, NULL).
 *
 * Thread-safety: all functions may be called from any thread.
 */
#ifndef PL_PROTO_UTIL_H
#define PL_PROTO_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* protobuf-c allocator backed by pl_malloc/pl_free. Static; never free. */
ProtobufCAllocator *pl_proto_allocator(void);

/*
 * Unpack len bytes at data as a message of type desc.
 * data may be NULL only when len is 0 (an empty message is valid protobuf).
 * Returns PL_OK and *out (caller owns; free with pl_proto_free), PL_E_INVALID_ARG when the
 * bytes are not a valid desc message or a string in it is not UTF-8 (*out = NULL), PL_E_NOMEM.
 */
pl_status pl_proto_unpack(const ProtobufCMessageDescriptor *desc, const void *data, size_t len,
                          ProtobufCMessage **out /* OUT */);

/* Free a message from pl_proto_unpack(); NULL is a no-op. */
void pl_proto_free(ProtobufCMessage *m);

/*
 * Serialize m into a new buffer. Returns PL_OK with *out (caller owns; pl_free) and *out_len
 * (*out is a valid 1-byte allocation when *out_len is 0), or PL_E_NOMEM (*out = NULL).
 */
pl_status pl_proto_pack(const ProtobufCMessage *m, uint8_t **out /* OUT */,
                        size_t *out_len /* OUT */);

#ifdef __cplusplus
}
#endif
#endif
