/*
 * transcribe_grpc.h - gRPC plumbing shared by transcribe_main.c (Recognize) and
 * transcribe_stream.c (StreamingRecognize): the channel, the API-key metadata and the
 * report of a failed call. Internal to parley-transcribe (not an API).
 *
 * Thread-safety: none needed (the client is single-threaded); each struct belongs to one call.
 */
#ifndef PL_TRANSCRIBE_GRPC_H
#define PL_TRANSCRIBE_GRPC_H

#include <stddef.h>
#include <stdio.h>

#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>

/* An insecure channel to server (host:port) that sends and receives messages up to 1 GiB
 * (a whole audio file fits in one RecognizeRequest). grpc_init() must have been called; the
 * caller owns the channel (grpc_channel_destroy). */
static inline grpc_channel *pl_transcribe_channel(const char *server) {
    grpc_arg args[2] = {
        {GRPC_ARG_INTEGER, GRPC_ARG_MAX_SEND_MESSAGE_LENGTH, {.integer = 1 << 30}},
        {GRPC_ARG_INTEGER, GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, {.integer = 1 << 30}},
    };
    grpc_channel_args chargs = {2, args};
    grpc_channel_credentials *cr = grpc_insecure_credentials_create();
    grpc_channel *ch = grpc_channel_create(server, cr, &chargs);
    grpc_channel_credentials_release(cr);
    return ch;
}

/* The call's initial metadata: "authorization: Bearer <api_key>", or none when api_key is
 * NULL. Send n entries of md (NULL when n is 0); pl_transcribe_auth_deinit() after the call. */
struct pl_transcribe_auth {
    grpc_metadata md;
    size_t n;
};

static inline void pl_transcribe_auth_init(struct pl_transcribe_auth *a, const char *api_key) {
    a->n = 0;
    if (!api_key) return;
    char auth[512];
    snprintf(auth, sizeof auth, "Bearer %s", api_key);
    a->md.key = grpc_slice_from_static_string("authorization");
    a->md.value = grpc_slice_from_copied_string(auth);
    a->n = 1;
}

static inline grpc_metadata *pl_transcribe_auth_md(struct pl_transcribe_auth *a) {
    return a->n ? &a->md : NULL;
}

static inline void pl_transcribe_auth_deinit(struct pl_transcribe_auth *a) {
    if (a->n) grpc_slice_unref(a->md.value);
    a->n = 0;
}

/* Print "parley transcribe: <server>: status <code>: <details>" on stderr. */
static inline void pl_transcribe_print_status(const char *server, grpc_status_code status,
                                              grpc_slice details) {
    char *d = grpc_slice_to_c_string(details);
    fprintf(stderr, "parley transcribe: %s: status %d: %s\n", server, (int)status, d);
    gpr_free(d);
}

#endif
