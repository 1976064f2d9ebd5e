/*
 * perf_common.h - what the unary (perf_main.c) and streaming (perf_stream.c) modes of
 * `parley perf` share: the channel (plaintext or TLS), the RPC named on the command line,
 * and names of gRPC status codes for error reports.
 *
 * Thread-safety: the functions are reentrant; the channel is gRPC's (thread-safe).
 */
#ifndef PL_PERF_COMMON_H
#define PL_PERF_COMMON_H

#include <stdbool.h>

#include <grpc/grpc.h>

#include "rpc_table.h"
#include "status.h"

/* A channel to target ("host:port"): TLS when use_ssl or ssl_cert is set (ssl_cert: PEM file
 * of the root certificates that sign the server's; NULL: the system's roots), else plaintext.
 * Messages up to 64 MiB both ways. grpc_init() must have been called.
 * Returns PL_OK; PL_E_IO when ssl_cert cannot be read; PL_E_INTERNAL when gRPC gives no
 * channel or credentials.
 * OUT: *out, caller owns (grpc_channel_destroy); NULL on failure. */
pl_status pl_perf_channel_create(const char *target, bool use_ssl, const char *ssl_cert,
                                 grpc_channel **out);

/* The RPC a command-line name designates: a wire path ("/nvidia.riva.asr.RivaSpeechRecognition/
 * StreamingRecognize"), the same without the leading '/' or without the "nvidia." package
 * prefix ("riva.asr.RivaSpeechRecognition/StreamingRecognize"), the snake-case name
 * ("streaming_recognize") or the method name alone when it is unique ("StreamingRecognize").
 * Returns NULL when nothing (or more than one method) matches. Static storage; never free. */
const struct pl_rpc_info *pl_perf_rpc_resolve(const char *name);

/* "OK", "UNAVAILABLE", ... for a gRPC status code; "UNKNOWN_CODE" otherwise. Static. */
const char *pl_perf_status_name(grpc_status_code code);

#endif
