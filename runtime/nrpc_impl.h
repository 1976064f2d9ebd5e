/*
 * nrpc_impl.h - internals shared by the NATS RPC client (nrpc.c) and worker
 * (nrpc_worker.c): message building, header access, frame publishing and
 * reassembly. Not a public API.
 */
#ifndef PL_NRPC_IMPL_H
#define PL_NRPC_IMPL_H

#include <nats/nats.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nrpc.h"
#include "status.h"

/* Headroom left in each frame for the headers when cutting messages. */
#define PL__NRPC_HEADER_ROOM 1024

/* Connection settings shared by client and worker. */
struct pl__nrpc_connect_opts {
    const char *url;
    const char *name;
    int connect_timeout_ms;
    int max_reconnect;
    int reconnect_wait_ms;
    bool retry_on_failed_connect;
    natsConnectionHandler on_closed;       /* optional */
    natsConnectionHandler on_disconnected; /* optional */
    void *closure;
};

/* Connect with reconnect + exponential backoff (reconnect_wait_ms doubling up
 * to 2 s). OUT: *nc and *opts (destroy both). PL_E_UNAVAILABLE on failure. */
pl_status pl__nrpc_connect(const struct pl__nrpc_connect_opts *o, natsConnection **nc,
                           natsOptions **opts);

/* Resolve the URL: explicit, else $PARLEY_NATS_URL, else nats://127.0.0.1:4222. */
const char *pl__nrpc_default_url(const char *url);

/* Header value or NULL when absent. Borrowed from msg. */
const char *pl__nrpc_hdr(natsMsg *msg, const char *key);
/* Parse a decimal header; false if absent or malformed. */
bool pl__nrpc_hdr_i64(natsMsg *msg, const char *key, int64_t *out);

/* A message with headers. kind may be NULL. seq < 0 leaves Parley-Seq out.
 * code < 0 leaves Parley-Status out; err NULL leaves Parley-Error out (it is
 * made one line). OUT: *out (natsMsg_Destroy). */
pl_status pl__nrpc_msg(natsMsg **out, const char *subj, const char *reply, const void *data,
                       size_t n, const char *kind, int64_t seq, bool more, int code,
                       const char *err);

/* Publish and release msg (pl__nrpc_msg_release). PL_E_UNAVAILABLE when the connection
 * refuses it. */
pl_status pl__nrpc_publish(natsConnection *nc, natsMsg *msg);

/* Publish data as a message without headers (an OK unary reply) straight from the bytes: no
 * natsMsg to build and to release. PL_E_EXHAUSTED over the server's max_payload,
 * PL_E_UNAVAILABLE when the connection refuses it. */
pl_status pl__nrpc_publish_data(natsConnection *nc, const char *subj, const void *data, size_t n);

/* Destroy msg, later: in place of natsMsg_Destroy on the request path. cnats frees every
 * message on its garbage-collector thread, and natsMsg_Destroy wakes that thread whenever it
 * sleeps, which at low load is every message: a futex wake, then the two threads contending
 * for the collector's lock, twice per message on the thread that carries the request.
 * Released messages are held, process-wide, and handed to cnats by the timer threads of the
 * client and the worker (pl__nrpc_msg_release_flush, every tick of 50 ms), off the request
 * path and many at a time. A message of PL__NRPC_RELEASE_BYTES or more, or one that finds
 * PL__NRPC_RELEASE_MSGS messages or PL__NRPC_RELEASE_HELD_BYTES of payload held, is destroyed
 * at once. NULL is a no-op. Thread-safe. */
#define PL__NRPC_RELEASE_MSGS 4096
#define PL__NRPC_RELEASE_BYTES (64 * 1024)
#define PL__NRPC_RELEASE_HELD_BYTES (4 * 1024 * 1024)
void pl__nrpc_msg_release(natsMsg *msg);
/* Destroy every held message now (timer ticks, connection and worker teardown). */
void pl__nrpc_msg_release_flush(void);
/* Messages held now (tests). */
int pl__nrpc_msg_release_held(void);

/* Publish `data` as data frames of at most frame_limit bytes each, numbered
 * from *seq + 1 (updated), Parley-More on all but the last. An empty message
 * is one empty frame. The caller serializes calls per direction. */
pl_status pl__nrpc_publish_frames(natsConnection *nc, const char *subj, const char *reply,
                                  const void *data, size_t n, size_t frame_limit, int64_t *seq);

/* Frame limit for a connection: override if set, else max_payload less room. */
size_t pl__nrpc_frame_limit(natsConnection *nc, size_t override);

/* Growable byte buffer for reassembly. */
struct pl__nrpc_buf {
    uint8_t *data;
    size_t len, cap;
};
pl_status pl__nrpc_buf_append(struct pl__nrpc_buf *b, const void *data, size_t n);
void pl__nrpc_buf_reset(struct pl__nrpc_buf *b); /* frees */

/* Length of ".shard.<K>" at p (K decimal, 0..PL_NRPC_MAX_SHARDS-1, no leading zero): the
 * part of a session shard's subjects after the service name; 0 when p is not that. */
size_t pl__nrpc_shard_part(const char *p);
/* True for a service name as subjects carry it: "<svc>" or "<svc>.shard.<K>" (no other dots,
 * no wildcards or spaces, at most 63 bytes). */
bool pl__nrpc_svc_valid(const char *svc);

/* A data/end frame numbered `got` arrived after frame `received` from `from` ("worker",
 * "client"), or (heartbeat) a heartbeat said `got` frames were sent by then: the gRPC code
 * that ends the stream, and its message in buf. Numbers skipped (got > received + 1; for a
 * heartbeat got > received) are frames lost in transit, such as inside a NATS node that died:
 * UNAVAILABLE, naming them. A number that goes back: DATA_LOSS. */
int pl__nrpc_seq_fault(char *buf, size_t cap, const char *from, int64_t received, int64_t got,
                       bool heartbeat);

/* Copy a header value into dst (size cap), keeping only printable ASCII. */
void pl__nrpc_copy_token(char *dst, size_t cap, const char *src);

#endif
