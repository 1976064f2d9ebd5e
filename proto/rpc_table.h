/*
 * rpc_table.h - every RPC of Parley's public gRPC API, for the gateway's router.
 *
 * One entry per gRPC method: its wire path ("/nvidia.riva.nlp.RivaLanguageUnderstanding/
 * AnalyzeIntent"), the internal service that serves it ("nlu") and the rpc name used in NATS
 * subjects ("analyze_intent", the method in snake case; subject parley.<service>.<rpc>, see
 * docs/nats-protocol.md), its streaming kind, and the protobuf-c descriptors of its request
 * and response messages.
 *
 * Services: RivaSpeechRecognition -> "asr", RivaLanguageUnderstanding -> "nlu" except
 * NaturalQuery -> "qa", RivaSpeechSynthesis -> "tts", RivaTranslation -> "nmt",
 * parley.dialog.v1.Dialog -> "dialog", grpc.health.v1.Health -> "health" (served by the
 * gateway itself, never forwarded).
 *
 * Ownership: everything returned points into static, immutable storage; never free it.
 * Thread-safety: all functions are pure lookups and may be called from any thread.
 */
#ifndef PL_RPC_TABLE_H
#define PL_RPC_TABLE_H

#include <stdbool.h>
#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

#ifdef __cplusplus
extern "C" {
#endif

struct pl_rpc_info {
    const char *path;         /* "/nvidia.riva.nlp.RivaLanguageUnderstanding/AnalyzeIntent" */
    const char *service;      /* internal service: "nlu" (NATS subject and queue group) */
    const char *rpc;          /* method in snake case: "analyze_intent" */
    bool client_streaming;    /* the client sends a stream of requests */
    bool server_streaming;    /* the server sends a stream of responses */
    const ProtobufCMessageDescriptor *input;  /* request message */
    const ProtobufCMessageDescriptor *output; /* response message */
    const char *grpc_service; /* full gRPC service name: "nvidia.riva.nlp.RivaLanguageUnderstanding" */
    const char *method;       /* gRPC method name: "AnalyzeIntent" */
};

/* Number of entries in the table. */
size_t pl_rpc_count(void);

/* Entry i (0 <= i < pl_rpc_count()), or NULL when i is out of range. */
const struct pl_rpc_info *pl_rpc_at(size_t i);

/* The entry whose path is exactly the len bytes at path (not NUL-terminated necessarily; the
 * gRPC core hands the method as a slice). NULL when unknown, when path is NULL, or len is 0. */
const struct pl_rpc_info *pl_rpc_find(const char *path, size_t len);

/* The entry for an internal service and rpc ("nlu", "analyze_intent"), as a worker sees a
 * NATS subject parley.<service>.<rpc>. NULL when unknown or either argument is NULL. */
const struct pl_rpc_info *pl_rpc_find_name(const char *service, const char *rpc);

/* The protobuf-c descriptors of all gRPC services the table covers (for tests and
 * reflection): pl_rpc_service_count() of them, index 0..count-1; NULL out of range. */
size_t pl_rpc_service_count(void);
const ProtobufCServiceDescriptor *pl_rpc_service_at(size_t i);

#ifdef __cplusplus
}
#endif
#endif
