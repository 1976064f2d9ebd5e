/*
 * nrpc.c - NATS RPC client: connection, reply routing, timer and unary calls
 * (streams are in nrpc_stream.c).
 *
 * Every call and stream gets its own reply subject under the connection's
 * inbox prefix (`_INBOX.<nuid>.r<id>` for unary, `.s<id>` for streams) and one
 * wildcard subscription on `_INBOX.<nuid>.*` receives them all: one NATS
 * delivery thread, whatever the number of calls. A timer thread enforces
 * deadlines, sends heartbeats and ends streams whose worker went silent.
 *
 * Locks: conn->lock guards the table of pending entries; stream->lock guards
 * a stream's state and send sequence; stream->cb_lock serializes its user
 * callbacks (mux thread vs timer thread vs cancel). Never hold conn->lock
 * while taking a stream lock the other way round: entries are looked up and
 * retained under conn->lock, which is released before anything else.
 */
#include "nrpc.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "log.h"
#include "nrpc_client_impl.h"
#include "util.h"

/* ---- entry table ----------------------------------------------------------------------------- */

void pl__nrpc_table_add(struct pl_nrpc_conn *c, struct entry *e) {
    e->id = ++c->next_id;
    struct entry **b = &c->buckets[e->id % N_BUCKETS];
    e->next = *b;
    *b = e;
    c->n_entries++;
}

bool pl__nrpc_table_remove(struct pl_nrpc_conn *c, struct entry *e) {
    for (struct entry **p = &c->buckets[e->id % N_BUCKETS]; *p; p = &(*p)->next) {
        if (*p == e) {
            *p = e->next;
            c->n_entries--;
            return true;
        }
    }
    return false;
}

struct entry *pl__nrpc_table_find(struct pl_nrpc_conn *c, uint64_t id) {
    for (struct entry *e = c->buckets[id % N_BUCKETS]; e; e = e->next)
        if (e->id == id) return e;
    return NULL;
}

/* ---- replies --------------------------------------------------------------------------------- */

void pl_nrpc_reply_deinit(struct pl_nrpc_reply *r) {
    if (!r) return;
    pl_free(r->data);
    pl_free(r->message);
    r->data = NULL;
    r->message = NULL;
    r->len = 0;
}

static void reply_set(struct pl_nrpc_reply *r, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void reply_set(struct pl_nrpc_reply *r, int code, const char *fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    r->code = code;
    pl_free(r->message);
    r->message = pl_strdup(buf); /* NULL only when out of memory; callers treat as "" */
}

/* Finish a unary call that the caller owns exclusively (already out of the
 * table): run done once and free it. */
static void call_finish(struct call *k, struct pl_nrpc_reply *r) {
    if (!r->message) r->message = pl_strdup("");
    k->done(k->ud, r);
    pl_nrpc_reply_deinit(r);
    pl__nrpc_buf_reset(&k->buf);
    pl_free(k);
}

/* Mux thread: the call is marked busy, so the timer leaves it alone; take it
 * out of the table and finish it. */
static void call_complete(struct call *k, struct pl_nrpc_reply *r) {
    struct pl_nrpc_conn *c = k->c;
    pthread_mutex_lock(&c->lock);
    pl__nrpc_table_remove(c, &k->e);
    pthread_mutex_unlock(&c->lock);
    call_finish(k, r);
}

static void call_fail(struct call *k, int code, const char *msg) {
    struct pl_nrpc_reply r = {0};
    reply_set(&r, code, "%s", msg);
    call_complete(k, &r);
}

/* A message on a unary reply subject (mux thread, call marked busy). Returns
 * false when the call goes on (more frames to come). */
static bool call_on_msg(struct call *k, natsMsg *msg) {
    struct pl_nrpc_reply r = {0};
    int64_t code = 0, seq = 0;
    if (natsMsg_IsNoResponders(msg)) {
        call_fail(k, PL_GRPC_UNAVAILABLE, "no worker serves this rpc");
        return true;
    }
    const char *kind = pl__nrpc_hdr(msg, PL_NRPC_H_KIND);
    if (kind && strcmp(kind, "hb") == 0) return false; /* the worker holds the request */
    if (pl__nrpc_hdr_i64(msg, PL_NRPC_H_STATUS, &code) && code != 0) {
        const char *e = pl__nrpc_hdr(msg, PL_NRPC_H_ERROR);
        reply_set(&r, (int)code, "%s", e ? e : pl_grpc_code_name((int)code));
        call_complete(k, &r);
        return true;
    }
    const uint8_t *data = (const uint8_t *)natsMsg_GetData(msg);
    size_t n = (size_t)natsMsg_GetDataLength(msg);
    if (pl__nrpc_hdr_i64(msg, PL_NRPC_H_SEQ, &seq)) { /* a framed reply */
        if (seq != k->next_seq + 1) {
            char m[192];
            call_fail(k, pl__nrpc_seq_fault(m, sizeof m, "worker", k->next_seq, seq, false), m);
            return true;
        }
        k->next_seq = seq;
        if (pl__nrpc_buf_append(&k->buf, data, n) != PL_OK) {
            call_fail(k, PL_GRPC_RESOURCE_EXHAUSTED, "out of memory reassembling the reply");
            return true;
        }
        const char *more = pl__nrpc_hdr(msg, PL_NRPC_H_MORE);
        if (more && strcmp(more, "1") == 0) return false; /* wait for the rest */
        r.code = 0;
        r.data = k->buf.data;
        r.len = k->buf.len;
        k->buf.data = NULL;
        k->buf.len = k->buf.cap = 0;
        call_complete(k, &r);
        return true;
    }
    r.code = 0;
    if (n) {
        r.data = pl_malloc(n);
        if (!r.data) {
            call_fail(k, PL_GRPC_RESOURCE_EXHAUSTED, "out of memory for the reply");
            return true;
        }
        memcpy(r.data, data, n);
        r.len = n;
    }
    call_complete(k, &r);
    return true;
}

/* The one subscription of the connection: route by the last token of the subject. */
static void mux_cb(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure) {
    (void)nc;
    (void)sub;
    struct pl_nrpc_conn *c = closure;
    const char *subj = natsMsg_GetSubject(msg);
    size_t plen = strlen(c->prefix);
    if (!subj || strncmp(subj, c->prefix, plen) != 0) goto done;
    char t = subj[plen];
    char *end = NULL;
    uint64_t id = strtoull(subj + plen + 1, &end, 10);
    if (!end || *end || (t != 'r' && t != 's')) goto done;

    pthread_mutex_lock(&c->lock);
    struct entry *e = pl__nrpc_table_find(c, id);
    if (e && e->type == ENTRY_STREAM) atomic_fetch_add(&((struct pl_nrpc_stream *)e)->refs, 1);
    if (e && e->type == ENTRY_CALL) ((struct call *)e)->busy = true; /* timer keeps off */
    pthread_mutex_unlock(&c->lock);
    if (!e) goto done; /* late reply for a finished call */
    if (e->type == ENTRY_CALL) {
        struct call *k = (struct call *)e;
        if (!call_on_msg(k, msg)) {
            pthread_mutex_lock(&c->lock);
            k->busy = false;
            k->last_recv_ms = pl_time_mono_ms();
            pthread_mutex_unlock(&c->lock);
        }
    } else {
        pl__nrpc_stream_on_msg((struct pl_nrpc_stream *)e, msg);
        pl__nrpc_stream_release((struct pl_nrpc_stream *)e);
    }
done:
    pl__nrpc_msg_release(msg);
}

/* ---- timer ----------------------------------------------------------------------------------- */

struct due {
    struct entry *e;
    int what; /* 1 call deadline or failure, 2 stream hb, 3 stream silent, 4 open timeout,
                 5 stream deadline, 6 stream failure, 7 call silent */
};

static void *timer_main(void *arg) {
    struct pl_nrpc_conn *c = arg;
    struct due *dues = NULL;
    size_t cap = 0;
    pthread_mutex_lock(&c->lock);
    while (!c->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += TICK_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&c->timer_cv, &c->lock, &ts);
        if (c->stopping) break;
        int64_t now = pl_time_mono_ms(), now_us = pl_time_mono_us();
        size_t nd = 0;
        if ((size_t)c->n_entries > cap) {
            size_t nc = (size_t)c->n_entries * 2;
            struct due *d = pl_realloc(dues, nc * sizeof *d);
            if (!d) continue;
            dues = d;
            cap = nc;
        }
        for (int b = 0; b < N_BUCKETS; b++) {
            for (struct entry *e = c->buckets[b]; e; e = e->next) {
                int what = 0;
                if (e->type == ENTRY_CALL) {
                    struct call *k = (struct call *)e;
                    if (!k->busy && (k->fail_code || now_us >= k->deadline_us))
                        what = 1;
                    else if (!k->busy && k->silence_ms > 0 &&
                             now - k->last_recv_ms >= k->silence_ms)
                        what = 7;
                } else {
                    struct pl_nrpc_stream *s = (struct pl_nrpc_stream *)e;
                    pthread_mutex_lock(&s->lock); /* lock order: conn, then stream */
                    if (s->fail_code)
                        what = 6;
                    else if (s->deadline_us && now_us >= s->deadline_us)
                        what = 5;
                    else if (s->state == ST_OPENING && now - s->open_ms >= c->stream_timeout_ms)
                        what = 4;
                    else if (s->state == ST_OPEN && now - s->last_recv_ms >= c->stream_timeout_ms)
                        what = 3;
                    else if (s->state == ST_OPEN && now - s->last_send_ms >= c->heartbeat_ms)
                        what = 2;
                    pthread_mutex_unlock(&s->lock);
                    if (what) atomic_fetch_add(&s->refs, 1);
                }
                if (what) dues[nd++] = (struct due){e, what};
            }
        }
        for (size_t i = 0; i < nd; i++)
            if (dues[i].what == 1 || dues[i].what == 7) pl__nrpc_table_remove(c, dues[i].e);
        pthread_mutex_unlock(&c->lock);
        for (size_t i = 0; i < nd; i++) {
            struct entry *e = dues[i].e;
            if (dues[i].what == 1) { /* removed from the table during the scan: ours */
                struct call *k = (struct call *)e;
                struct pl_nrpc_reply r = {0};
                if (k->fail_code)
                    reply_set(&r, k->fail_code, "%s", k->fail_msg);
                else
                    reply_set(&r, PL_GRPC_DEADLINE_EXCEEDED, "deadline exceeded");
                call_finish((struct call *)e, &r);
                continue;
            }
            if (dues[i].what == 7) { /* removed like a deadline: ours */
                struct call *k = (struct call *)e;
                struct pl_nrpc_reply r = {0};
                reply_set(&r, PL_GRPC_UNAVAILABLE,
                          "worker stopped responding (no reply or heartbeat for %d ms)",
                          k->silence_ms);
                call_finish(k, &r);
                continue;
            }
            struct pl_nrpc_stream *s = (struct pl_nrpc_stream *)e;
            if (dues[i].what == 2) {
                pthread_mutex_lock(&s->lock);
                if (s->state == ST_OPEN) {
                    natsMsg *m = NULL;
                    /* Seq: the last frame sent, so that the worker sees one that was lost */
                    if (pl__nrpc_msg(&m, s->session, NULL, NULL, 0, "hb", s->send_seq, false, -1,
                                     NULL) == PL_OK)
                        (void)pl__nrpc_publish(c->nc, m);
                    s->last_send_ms = now;
                }
                pthread_mutex_unlock(&s->lock);
            } else if (dues[i].what == 3) {
                pl__nrpc_stream_finish(s, PL_GRPC_UNAVAILABLE, "worker stopped responding", true);
            } else if (dues[i].what == 6) {
                char msg[sizeof s->fail_msg];
                pthread_mutex_lock(&s->lock);
                int code = s->fail_code;
                memcpy(msg, s->fail_msg, sizeof msg);
                pthread_mutex_unlock(&s->lock);
                pl__nrpc_stream_finish(s, code, msg, false);
            } else if (dues[i].what == 4) {
                pl__nrpc_stream_finish(s, PL_GRPC_UNAVAILABLE, "no worker answered the stream open",
                                       true);
            } else {
                pl__nrpc_stream_finish(s, PL_GRPC_DEADLINE_EXCEEDED, "deadline exceeded", true);
            }
            pl__nrpc_stream_release(s);
        }
        pl__nrpc_msg_release_flush(); /* what the last tick's calls left */
        pthread_mutex_lock(&c->lock);
    }
    pthread_mutex_unlock(&c->lock);
    pl_free(dues);
    return NULL;
}

/* ---- connection ------------------------------------------------------------------------------ */

/* The connection to the server dropped: replies and frames sent meanwhile are lost, so
 * every call and stream in flight ends UNAVAILABLE (through the timer thread). cnats
 * keeps reconnecting; new calls fail fast until it is back. */
static void on_disconnected(natsConnection *nc, void *closure) {
    (void)nc;
    struct pl_nrpc_conn *c = closure;
    int n = 0;
    pthread_mutex_lock(&c->lock);
    for (int b = 0; b < N_BUCKETS; b++) {
        for (struct entry *e = c->buckets[b]; e; e = e->next) {
            if (e->type == ENTRY_CALL) {
                struct call *k = (struct call *)e;
                if (!k->fail_code) {
                    k->fail_code = PL_GRPC_UNAVAILABLE;
                    snprintf(k->fail_msg, sizeof k->fail_msg, "connection to NATS lost");
                }
            } else {
                struct pl_nrpc_stream *s = (struct pl_nrpc_stream *)e;
                pthread_mutex_lock(&s->lock);
                if (!s->fail_code) {
                    s->fail_code = PL_GRPC_UNAVAILABLE;
                    snprintf(s->fail_msg, sizeof s->fail_msg, "connection to NATS lost");
                }
                pthread_mutex_unlock(&s->lock);
            }
            n++;
        }
    }
    bool stopping = c->stopping;
    pthread_mutex_unlock(&c->lock);
    if (!stopping)
        PL_LOGW("NATS connection lost; %d call(s) and stream(s) end UNAVAILABLE; reconnecting", n);
}

/* The last callback cnats runs for a connection: after it, c may be freed. */
static void on_closed(natsConnection *nc, void *closure) {
    (void)nc;
    struct pl_nrpc_conn *c = closure;
    pthread_mutex_lock(&c->lock);
    c->nats_closed = true;
    pthread_cond_broadcast(&c->closed_cv);
    pthread_mutex_unlock(&c->lock);
}

pl_status pl_nrpc_conn_create(const struct pl_nrpc_conn_opts *opts, struct pl_nrpc_conn **out) {
    struct pl_nrpc_conn_opts o = PL_NRPC_CONN_OPTS_INIT;
    struct pl_nrpc_conn *c = NULL;
    natsInbox *inbox = NULL;
    pl_status st = PL_OK;
    if (!out) return PL_ERR(PL_E_INVALID_ARG, "nrpc conn: NULL out");
    *out = NULL;
    if (opts) o = *opts;
    if (o.heartbeat_ms <= 0) o.heartbeat_ms = 1000;
    if (o.stream_timeout_ms <= 0) o.stream_timeout_ms = 5000;
    c = pl_calloc(1, sizeof *c);
    if (!c) return PL_ERR(PL_E_NOMEM, "nrpc conn");
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->timer_cv, NULL);
    pthread_cond_init(&c->closed_cv, NULL);
    c->heartbeat_ms = o.heartbeat_ms;
    c->stream_timeout_ms = o.stream_timeout_ms;

    struct pl__nrpc_connect_opts co = {
        .url = o.url,
        .name = o.name,
        .connect_timeout_ms = o.connect_timeout_ms,
        .max_reconnect = o.max_reconnect,
        .reconnect_wait_ms = o.reconnect_wait_ms,
        .retry_on_failed_connect = o.retry_on_failed_connect,
        .on_disconnected = on_disconnected,
        .on_closed = on_closed,
        .closure = c,
    };
    PL_TRY_GOTO(st, pl__nrpc_connect(&co, &c->nc, &c->nopts));
    if (natsInbox_Create(&inbox) != NATS_OK) {
        st = PL_ERR(PL_E_NOMEM, "nrpc conn: inbox");
        goto fail;
    }
    snprintf(c->prefix, sizeof c->prefix, "%s.", (const char *)inbox);
    natsInbox_Destroy(inbox);
    char wild[80];
    snprintf(wild, sizeof wild, "%s*", c->prefix);
    natsStatus ns = natsConnection_Subscribe(&c->mux, c->nc, wild, mux_cb, c);
    if (ns != NATS_OK) {
        st = PL_ERR(PL_E_UNAVAILABLE, "nrpc conn: subscribe %s: %s", wild, natsStatus_GetText(ns));
        goto fail;
    }
    (void)natsSubscription_SetPendingLimits(c->mux, 1 << 20, 256 << 20);
    if (pthread_create(&c->timer, NULL, timer_main, c) != 0) {
        st = PL_ERR(PL_E_INTERNAL, "nrpc conn: timer thread: %s", strerror(errno));
        goto fail;
    }
    c->timer_started = true;
    *out = c;
    return PL_OK;
fail:
    pl_nrpc_conn_destroy(c);
    return st;
}

void pl_nrpc_conn_destroy(struct pl_nrpc_conn *c) {
    if (!c) return;
    if (c->timer_started) {
        pthread_mutex_lock(&c->lock);
        c->stopping = true;
        pthread_cond_broadcast(&c->timer_cv);
        pthread_mutex_unlock(&c->lock);
        pthread_join(c->timer, NULL);
    }
    if (c->mux) { /* wait until the delivery thread is out of mux_cb for good */
        if (natsSubscription_Drain(c->mux) == NATS_OK)
            (void)natsSubscription_WaitForDrainCompletion(c->mux, 2000);
        natsSubscription_Destroy(c->mux);
        c->mux = NULL;
    }
    /* end whatever is left, outside the lock, one entry at a time */
    for (;;) {
        struct entry *e = NULL;
        pthread_mutex_lock(&c->lock);
        for (int b = 0; b < N_BUCKETS && !e; b++) e = c->buckets[b];
        if (e && e->type == ENTRY_CALL) pl__nrpc_table_remove(c, e);
        if (e && e->type == ENTRY_STREAM) atomic_fetch_add(&((struct pl_nrpc_stream *)e)->refs, 1);
        pthread_mutex_unlock(&c->lock);
        if (!e) break;
        if (e->type == ENTRY_CALL) {
            struct pl_nrpc_reply r = {0};
            reply_set(&r, PL_GRPC_CANCELLED, "connection closed");
            call_finish((struct call *)e, &r);
        } else {
            pl__nrpc_stream_finish((struct pl_nrpc_stream *)e, PL_GRPC_CANCELLED,
                                   "connection closed", true);
            pl__nrpc_stream_release((struct pl_nrpc_stream *)e);
        }
    }
    if (c->nc) {
        (void)natsConnection_FlushTimeout(c->nc, 500);
        natsConnection_Close(c->nc);
        /* connection callbacks run on a cnats thread and use c: wait for the last one */
        pthread_mutex_lock(&c->lock);
        c->stopping = true;
        int64_t end = pl_time_mono_ms() + 5000;
        while (!c->nats_closed && pl_time_mono_ms() < end) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 10 * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&c->closed_cv, &c->lock, &ts);
        }
        pthread_mutex_unlock(&c->lock);
        natsConnection_Destroy(c->nc);
    }
    pl__nrpc_msg_release_flush();
    natsOptions_Destroy(c->nopts);
    pthread_cond_destroy(&c->closed_cv);
    pthread_cond_destroy(&c->timer_cv);
    pthread_mutex_destroy(&c->lock);
    pl_free(c);
}

int64_t pl_nrpc_conn_max_payload(const struct pl_nrpc_conn *c) {
    return c && c->nc ? natsConnection_GetMaxPayload(c->nc) : 0;
}

size_t pl_nrpc_conn_frame_limit(const struct pl_nrpc_conn *c) {
    return c ? pl__nrpc_frame_limit(c->nc, c->frame_override) : 0;
}

void pl_nrpc_conn_set_frame_limit(struct pl_nrpc_conn *c, size_t n) {
    if (c) c->frame_override = n;
}

bool pl_nrpc_conn_connected(const struct pl_nrpc_conn *c) {
    return c && c->nc && natsConnection_Status(c->nc) == NATS_CONN_STATUS_CONNECTED;
}

void *pl_nrpc_conn_nats(struct pl_nrpc_conn *c) { return c ? c->nc : NULL; }

/* ---- unary ----------------------------------------------------------------------------------- */

/* Request headers on m. request_id NULL/invalid -> a fresh one. */
pl_status pl__nrpc_set_meta(natsMsg *m, const struct pl_nrpc_meta *meta) {
    char id[PL_REQUEST_ID_LEN];
    const char *rid =
        meta && meta->request_id && pl_request_id_valid(meta->request_id) ? meta->request_id : NULL;
    if (!rid) {
        pl_request_id_new(id);
        rid = id;
    }
    natsStatus ns = natsMsgHeader_Set(m, PL_NRPC_H_REQUEST_ID, rid);
    if (ns == NATS_OK && meta && meta->deadline_us > 0) {
        /* the time left, at least 1 us: a header of 0 would mean "none" */
        int64_t left = meta->deadline_us - pl_time_mono_us();
        char num[32];
        snprintf(num, sizeof num, "%" PRId64, left > 0 ? left : 1);
        ns = natsMsgHeader_Set(m, PL_NRPC_H_TIMEOUT, num);
    }
    if (ns == NATS_OK && meta && meta->user && *meta->user) {
        char u[256];
        pl__nrpc_copy_token(u, sizeof u, meta->user);
        ns = natsMsgHeader_Set(m, PL_NRPC_H_USER, u);
    }
    if (ns != NATS_OK) return PL_ERR(PL_E_NOMEM, "request headers: %s", natsStatus_GetText(ns));
    return PL_OK;
}

pl_status pl__nrpc_set_heartbeat(natsMsg *m, int silence_ms) {
    if (silence_ms <= 0) return PL_OK;
    char num[16];
    snprintf(num, sizeof num, "%d", silence_ms / 3 > 0 ? silence_ms / 3 : 1);
    if (natsMsgHeader_Set(m, PL_NRPC_H_HEARTBEAT, num) != NATS_OK)
        return PL_ERR(PL_E_NOMEM, "request headers: heartbeat");
    return PL_OK;
}

/* Split "parley.<svc>.<rpc>" (or "parley.<svc>.shard.<K>.<rpc>": svc is then
 * "<svc>.shard.<K>") into svc and rpc. */
static pl_status split_subject(const char *subject, char *svc, size_t svc_cap, char *rpc,
                               size_t rpc_cap) {
    const char *p = subject;
    if (!p || strncmp(p, "parley.", 7) != 0) goto bad;
    p += 7;
    const char *dot = strchr(p, '.');
    if (dot) dot += pl__nrpc_shard_part(dot);
    if (!dot || dot == p || (size_t)(dot - p) >= svc_cap || !dot[1] || strchr(dot + 1, '.') ||
        strlen(dot + 1) >= rpc_cap)
        goto bad;
    memcpy(svc, p, (size_t)(dot - p));
    svc[dot - p] = 0;
    memcpy(rpc, dot + 1, strlen(dot + 1) + 1); /* length checked above */
    return PL_OK;
bad:
    return PL_ERR(PL_E_INVALID_ARG, "bad unary subject '%s' (want parley.<service>.<rpc>)",
                  subject ? subject : "(null)");
}

/* A unary call whose request is too large for one message: a stream that
 * carries one request message and returns one response message. */
struct big_call {
    pl_nrpc_done_fn done;
    void *ud;
    struct pl_nrpc_stream *s;
    struct pl__nrpc_buf resp;
    int n_msgs;
};

static void big_on_message(void *ud, const uint8_t *data, size_t n) {
    struct big_call *b = ud;
    b->n_msgs++;
    pl__nrpc_buf_reset(&b->resp);
    if (pl__nrpc_buf_append(&b->resp, data, n) != PL_OK) b->n_msgs = -1000;
}

static void big_on_end(void *ud, int code, const char *message) {
    struct big_call *b = ud;
    struct pl_nrpc_reply r = {0};
    if (code == 0 && b->n_msgs != 1) {
        reply_set(&r, PL_GRPC_INTERNAL, "worker sent %d response messages for a unary call",
                  b->n_msgs < 0 ? 0 : b->n_msgs);
    } else if (code != 0) {
        reply_set(&r, code, "%s", message);
    } else {
        r.code = 0;
        r.data = b->resp.data;
        r.len = b->resp.len;
        b->resp.data = NULL;
        b->resp.len = b->resp.cap = 0;
        r.message = pl_strdup("");
    }
    b->done(b->ud, &r);
    pl_nrpc_reply_deinit(&r);
    pl__nrpc_buf_reset(&b->resp);
    pl_nrpc_stream_destroy(b->s); /* allowed from its own callback */
    pl_free(b);
}

/* silence_ms: see struct call (0: no silence rule, for responders that send no heartbeats). */
static pl_status call_async(struct pl_nrpc_conn *c, const char *subject, const void *req, size_t n,
                            const struct pl_nrpc_meta *meta, int timeout_ms, int silence_ms,
                            pl_nrpc_done_fn done, void *ud) {
    char svc[64], rpc[128];
    natsMsg *m = NULL;
    pl_status st;
    if (!c || !done || (n && !req)) return PL_ERR(PL_E_INVALID_ARG, "nrpc call: NULL argument");
    PL_TRY(split_subject(subject, svc, sizeof svc, rpc, sizeof rpc));

    int64_t now_us = pl_time_mono_us();
    int64_t budget_us = (timeout_ms > 0 ? timeout_ms : 30000) * (int64_t)1000;
    if (meta && meta->deadline_us > 0) {
        int64_t left = meta->deadline_us - now_us;
        if (timeout_ms <= 0 || left < budget_us) budget_us = left;
    }
    if (budget_us < 0) budget_us = 0;

    if (n > pl__nrpc_frame_limit(c->nc, c->frame_override)) {
        struct big_call *b = pl_calloc(1, sizeof *b);
        if (!b) return PL_ERR(PL_E_NOMEM, "nrpc call");
        b->done = done;
        b->ud = ud;
        struct pl_nrpc_stream_cbs cbs = {big_on_message, big_on_end};
        /* hold: an extra reference so that s outlives an early on_end (which frees b) */
        struct pl_nrpc_stream *s = NULL;
        st = pl__nrpc_stream_open_impl(c, svc, rpc, meta, &cbs, b, now_us + budget_us, &s, &b->s);
        if (st != PL_OK) {
            pl_free(b);
            return st;
        }
        if (pl_nrpc_stream_send(s, req, n) != PL_OK || pl_nrpc_stream_close_send(s) != PL_OK) {
            pthread_mutex_lock(&s->lock); /* the timer ends it (done never runs inline) */
            if (!s->fail_code) {
                snprintf(s->fail_msg, sizeof s->fail_msg, "cannot send the request: %s",
                         pl_last_error());
                s->fail_code = PL_GRPC_UNAVAILABLE;
            }
            pthread_mutex_unlock(&s->lock);
        }
        pl__nrpc_stream_release(s); /* the hold taken by pl__nrpc_stream_open_impl */
        return PL_OK;
    }

    struct call *k = pl_calloc(1, sizeof *k);
    if (!k) return PL_ERR(PL_E_NOMEM, "nrpc call");
    k->e.type = ENTRY_CALL;
    k->c = c;
    k->done = done;
    k->ud = ud;
    k->deadline_us = now_us + budget_us;
    k->last_recv_ms = now_us / 1000;
    k->silence_ms = silence_ms;

    pthread_mutex_lock(&c->lock);
    pl__nrpc_table_add(c, &k->e);
    uint64_t id = k->e.id;
    pthread_mutex_unlock(&c->lock);
    if (!pl_nrpc_conn_connected(c)) { /* reconnecting: answer at once, not at the deadline */
        pthread_mutex_lock(&c->lock);
        k->fail_code = PL_GRPC_UNAVAILABLE;
        snprintf(k->fail_msg, sizeof k->fail_msg, "not connected to NATS");
        pthread_mutex_unlock(&c->lock);
        return PL_OK;
    }

    char inbox[96];
    snprintf(inbox, sizeof inbox, "%sr%" PRIu64, c->prefix, id);
    st = pl__nrpc_msg(&m, subject, inbox, req, n, NULL, -1, false, -1, NULL);
    if (st == PL_OK) st = pl__nrpc_set_meta(m, meta);
    if (st == PL_OK) st = pl__nrpc_set_heartbeat(m, silence_ms);
    if (st == PL_OK) {
        st = pl__nrpc_publish(c->nc, m);
        m = NULL;
    }
    if (m) natsMsg_Destroy(m);
    if (st != PL_OK) {
        /* report it from the timer thread, as promised: never inline on the caller's thread */
        pthread_mutex_lock(&c->lock);
        if (pl__nrpc_table_find(c, id) == &k->e) {
            snprintf(k->fail_msg, sizeof k->fail_msg, "%s", pl_last_error());
            k->fail_code = PL_GRPC_UNAVAILABLE;
        }
        pthread_mutex_unlock(&c->lock);
    }
    return PL_OK;
}

pl_status pl_nrpc_call_async(struct pl_nrpc_conn *c, const char *subject, const void *req, size_t n,
                             const struct pl_nrpc_meta *meta, int timeout_ms, pl_nrpc_done_fn done,
                             void *ud) {
    return call_async(c, subject, req, n, meta, timeout_ms, c ? c->stream_timeout_ms : 0, done,
                      ud);
}

pl_status pl_nrpc_call_external_async(struct pl_nrpc_conn *c, const char *subject,
                                      const void *req, size_t n, const struct pl_nrpc_meta *meta,
                                      int timeout_ms, pl_nrpc_done_fn done, void *ud) {
    return call_async(c, subject, req, n, meta, timeout_ms, 0, done, ud);
}

struct sync_call {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool done;
    struct pl_nrpc_reply *out;
};

static void sync_done(void *ud, struct pl_nrpc_reply *r) {
    struct sync_call *w = ud;
    pthread_mutex_lock(&w->lock);
    *w->out = *r;
    r->data = NULL;
    r->message = NULL;
    w->done = true;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

static pl_status call_sync(struct pl_nrpc_conn *c, const char *subject, const void *req, size_t n,
                           const struct pl_nrpc_meta *meta, int timeout_ms, int silence_ms,
                           struct pl_nrpc_reply *out) {
    if (!out) return PL_ERR(PL_E_INVALID_ARG, "nrpc call: NULL out");
    memset(out, 0, sizeof *out);
    struct sync_call w = {.done = false, .out = out};
    pthread_mutex_init(&w.lock, NULL);
    pthread_cond_init(&w.cond, NULL);
    pl_status st = call_async(c, subject, req, n, meta, timeout_ms, silence_ms, sync_done, &w);
    if (st == PL_OK) {
        pthread_mutex_lock(&w.lock);
        while (!w.done) pthread_cond_wait(&w.cond, &w.lock);
        pthread_mutex_unlock(&w.lock);
    } else {
        out->code = PL_GRPC_INVALID_ARGUMENT;
        out->message = pl_strdup(pl_last_error());
    }
    pthread_cond_destroy(&w.cond);
    pthread_mutex_destroy(&w.lock);
    return st;
}

pl_status pl_nrpc_call(struct pl_nrpc_conn *c, const char *subject, const void *req, size_t n,
                       const struct pl_nrpc_meta *meta, int timeout_ms, struct pl_nrpc_reply *out) {
    return call_sync(c, subject, req, n, meta, timeout_ms, c ? c->stream_timeout_ms : 0, out);
}

pl_status pl_nrpc_call_external(struct pl_nrpc_conn *c, const char *subject, const void *req,
                                size_t n, const struct pl_nrpc_meta *meta, int timeout_ms,
                                struct pl_nrpc_reply *out) {
    return call_sync(c, subject, req, n, meta, timeout_ms, 0, out);
}
