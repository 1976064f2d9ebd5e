/*
 * nrpc_client_impl.h - internals of the NATS RPC client shared by nrpc.c
 * (connection, reply routing, timer, unary calls) and nrpc_stream.c (streams).
 * Not a public API. Locking rules are described at the top of nrpc.c.
 */
#ifndef PL_NRPC_CLIENT_IMPL_H
#define PL_NRPC_CLIENT_IMPL_H

#include <nats/nats.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "nrpc.h"
#include "nrpc_impl.h"

#define N_BUCKETS 256 /* pending-entry hash buckets */
#define TICK_MS 20    /* timer resolution: deadlines, heartbeats, silence */

enum entry_type { ENTRY_CALL = 1, ENTRY_STREAM = 2 };

struct entry {
    uint64_t id;
    int type;
    struct entry *next;
};

struct call {
    struct entry e; /* first: entries are cast */
    struct pl_nrpc_conn *c;
    pl_nrpc_done_fn done;
    void *ud;
    int64_t deadline_us; /* pl_time_mono_us() */
    int64_t last_recv_ms; /* pl_time_mono_ms() of the request or the last frame or heartbeat */
    int silence_ms;       /* that long without any: UNAVAILABLE (0: never, not a worker) */
    int64_t next_seq; /* for a framed (large) reply */
    struct pl__nrpc_buf buf;
    bool busy;     /* the mux thread is handling a reply frame (guarded by conn lock) */
    int fail_code; /* != 0: the request could not be sent; the timer reports this */
    char fail_msg[200];
};

enum stream_state { ST_OPENING, ST_OPEN, ST_ENDED };

struct pending_send {
    uint8_t *data;
    size_t n;
    int kind; /* 0 data, 1 end */
    struct pending_send *next;
};

struct queued_msg {
    uint8_t *data;
    size_t n;
    struct queued_msg *next;
};

struct pl_nrpc_stream {
    struct entry e;
    struct pl_nrpc_conn *c;
    atomic_int refs;
    pthread_mutex_t lock;
    pthread_cond_t cond; /* pull mode: message or end */
    enum stream_state state;
    char inbox[96];
    char *session;
    bool send_closed;
    int64_t send_seq, recv_seq;
    int64_t sent_bytes, sent_frames;   /* flow control: every frame queued or sent (lock) */
    int64_t acked_bytes, acked_frames; /*   and what the worker's acks say it has taken */
    int64_t last_send_ms, last_recv_ms, open_ms;
    int64_t deadline_us; /* pl_time_mono_us(); 0 = none */
    int fail_code; /* != 0: the open could not be sent; the timer ends the stream with it */
    char fail_msg[200];
    struct pending_send *pend_head, *pend_tail;
    struct pl__nrpc_buf asm_buf;
    /* pull mode */
    bool pull;
    struct queued_msg *q_head, *q_tail;
    /* end */
    int end_code;
    char *end_msg;
    /* callbacks */
    struct pl_nrpc_stream_cbs cbs;
    void (*on_ack)(void *ud); /* pl_nrpc_stream_set_on_ack (lock) */
    void *ud;
    pthread_mutex_t cb_lock;
    bool end_reported;
    bool destroyed;
};

struct pl_nrpc_conn {
    natsConnection *nc;
    natsOptions *nopts;
    natsSubscription *mux;
    char prefix[64]; /* "_INBOX.<nuid>." */
    pthread_mutex_t lock;
    struct entry *buckets[N_BUCKETS];
    uint64_t next_id;
    int n_entries;
    pthread_t timer;
    pthread_cond_t timer_cv;
    bool timer_started;
    bool stopping;
    size_t frame_override;
    bool nats_closed;         /* the closed callback ran (guarded by lock) */
    pthread_cond_t closed_cv; /* ...signalled here: destroy waits for it */
    int heartbeat_ms;
    int stream_timeout_ms;
};

/* Pending-entry table of a connection (caller holds c->lock). */
void pl__nrpc_table_add(struct pl_nrpc_conn *c, struct entry *e);
bool pl__nrpc_table_remove(struct pl_nrpc_conn *c, struct entry *e);
struct entry *pl__nrpc_table_find(struct pl_nrpc_conn *c, uint64_t id);

/* Request headers on m (request id, deadline, user). */
pl_status pl__nrpc_set_meta(natsMsg *m, const struct pl_nrpc_meta *meta);
/* Parley-Heartbeat-Ms on a request or stream open: a third of the caller's silence limit, so
 * that a worker whose own interval is longer still heartbeats often enough (0: no header). */
pl_status pl__nrpc_set_heartbeat(natsMsg *m, int silence_ms);

/* Streams (nrpc_stream.c). */
void pl__nrpc_stream_release(struct pl_nrpc_stream *s);
/* End s once with code/message (callbacks run here); tell_worker sends Kind:cancel. */
void pl__nrpc_stream_finish(struct pl_nrpc_stream *s, int code, const char *message,
                            bool tell_worker);
/* A message on the stream's inbox (mux thread). */
void pl__nrpc_stream_on_msg(struct pl_nrpc_stream *s, natsMsg *msg);
/* Open: hold (may be NULL) gets an extra reference for the caller. */
pl_status pl__nrpc_stream_open_impl(struct pl_nrpc_conn *c, const char *svc, const char *rpc,
                                    const struct pl_nrpc_meta *meta,
                                    const struct pl_nrpc_stream_cbs *cbs, void *ud,
                                    int64_t deadline_us, struct pl_nrpc_stream **hold,
                                    struct pl_nrpc_stream **out);

#endif
