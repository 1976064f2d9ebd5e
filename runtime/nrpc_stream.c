/*
 * nrpc_stream.c - client streams: open, framed sends, reassembly, ordered
 * callbacks or a pull queue, and the end of a stream (exactly once).
 * Shares the connection's table, inbox and timer (nrpc.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "log.h"
#include "nrpc_client_impl.h"
#include "util.h"

/* ---- streams: callbacks ---------------------------------------------------------------------- */

void pl__nrpc_stream_release(struct pl_nrpc_stream *s) {
    if (atomic_fetch_sub(&s->refs, 1) != 1) return;
    struct pending_send *p = s->pend_head;
    while (p) {
        struct pending_send *nx = p->next;
        pl_free(p->data);
        pl_free(p);
        p = nx;
    }
    struct queued_msg *q = s->q_head;
    while (q) {
        struct queued_msg *nx = q->next;
        pl_free(q->data);
        pl_free(q);
        q = nx;
    }
    pl__nrpc_buf_reset(&s->asm_buf);
    pl_free(s->session);
    pl_free(s->end_msg);
    pthread_mutex_destroy(&s->lock);
    pthread_mutex_destroy(&s->cb_lock);
    pthread_cond_destroy(&s->cond);
    pl_free(s);
}

/* The streams whose callbacks this thread is inside, innermost first: a chain
 * of stack frames, so that a callback may cancel or destroy its own stream
 * (or an outer one) without locking a cb_lock it already holds. */
struct cb_frame {
    struct pl_nrpc_stream *s;
    struct cb_frame *prev;
};
static _Thread_local struct cb_frame *tl_cb_top;

static bool in_own_callback(struct pl_nrpc_stream *s) {
    for (struct cb_frame *f = tl_cb_top; f; f = f->prev)
        if (f->s == s) return true;
    return false;
}

static void cb_enter(struct pl_nrpc_stream *s, struct cb_frame *f) {
    pthread_mutex_lock(&s->cb_lock);
    f->s = s;
    f->prev = tl_cb_top;
    tl_cb_top = f;
}

static void cb_leave(struct pl_nrpc_stream *s, struct cb_frame *f) {
    tl_cb_top = f->prev;
    pthread_mutex_unlock(&s->cb_lock);
}

/* Deliver one whole message (pull queue or on_message). Takes ownership of data. */
static void stream_deliver(struct pl_nrpc_stream *s, uint8_t *data, size_t n) {
    if (s->pull) {
        struct queued_msg *q = pl_calloc(1, sizeof *q);
        pthread_mutex_lock(&s->lock);
        if (!q || s->state == ST_ENDED) {
            pthread_mutex_unlock(&s->lock);
            pl_free(q);
            pl_free(data);
            return;
        }
        q->data = data;
        q->n = n;
        if (s->q_tail)
            s->q_tail->next = q;
        else
            s->q_head = q;
        s->q_tail = q;
        pthread_cond_broadcast(&s->cond);
        pthread_mutex_unlock(&s->lock);
        return;
    }
    struct cb_frame f;
    cb_enter(s, &f);
    if (!s->destroyed && !s->end_reported && s->cbs.on_message) s->cbs.on_message(s->ud, data, n);
    cb_leave(s, &f);
    pl_free(data);
}

/* End the stream once with code/message; tells the worker `cancel` when asked. */
void pl__nrpc_stream_finish(struct pl_nrpc_stream *s, int code, const char *message,
                            bool tell_worker) {
    struct pl_nrpc_conn *c = s->c;
    pthread_mutex_lock(&s->lock);
    if (s->state == ST_ENDED) {
        pthread_mutex_unlock(&s->lock);
        return;
    }
    atomic_fetch_add(&s->refs, 1); /* on_end may destroy the stream */
    bool was_open = s->state == ST_OPEN;
    s->state = ST_ENDED;
    s->end_code = code;
    s->end_msg = pl_strdup(message ? message : "");
    if (tell_worker && was_open && s->session) {
        natsMsg *m = NULL;
        if (pl__nrpc_msg(&m, s->session, NULL, NULL, 0, "cancel", -1, false, -1, NULL) == PL_OK)
            (void)pl__nrpc_publish(c->nc, m);
    }
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);

    pthread_mutex_lock(&c->lock);
    bool in_table = pl__nrpc_table_remove(c, &s->e);
    pthread_mutex_unlock(&c->lock);
    if (in_table) pl__nrpc_stream_release(s); /* the table's reference; caller holds another */

    if (s->pull) {
        pl__nrpc_stream_release(s);
        return;
    }
    if (in_own_callback(s)) { /* called from this stream's own callback (cancel in on_message) */
        if (!s->destroyed && !s->end_reported && s->cbs.on_end) {
            s->end_reported = true;
            s->cbs.on_end(s->ud, code, s->end_msg ? s->end_msg : "");
        }
        s->end_reported = true;
    } else {
        struct cb_frame f;
        cb_enter(s, &f);
        if (!s->destroyed && !s->end_reported && s->cbs.on_end) {
            s->end_reported = true;
            s->cbs.on_end(s->ud, code, s->end_msg ? s->end_msg : "");
        }
        s->end_reported = true;
        cb_leave(s, &f);
    }
    pl__nrpc_stream_release(s);
}

/* ---- streams: sending ------------------------------------------------------------------------ */

/* Publish one client frame batch now (stream lock held, session known). */
static pl_status stream_put(struct pl_nrpc_stream *s, int kind, const uint8_t *data, size_t n) {
    struct pl_nrpc_conn *c = s->c;
    pl_status st;
    if (kind == 0) {
        st = pl__nrpc_publish_frames(c->nc, s->session, NULL, data, n,
                                     pl__nrpc_frame_limit(c->nc, c->frame_override), &s->send_seq);
    } else {
        natsMsg *m = NULL;
        st = pl__nrpc_msg(&m, s->session, NULL, NULL, 0, "end", s->send_seq + 1, false, -1, NULL);
        if (st == PL_OK) {
            s->send_seq++;
            st = pl__nrpc_publish(c->nc, m);
        }
    }
    if (st == PL_OK) s->last_send_ms = pl_time_mono_ms();
    return st;
}

/* Count a message for flow control: the frames it becomes (as pl__nrpc_publish_frames cuts
 * it) and its bytes (stream lock held). */
static void count_sent(struct pl_nrpc_stream *s, int kind, size_t n) {
    if (kind != 0) return;
    size_t lim = pl__nrpc_frame_limit(s->c->nc, s->c->frame_override);
    s->sent_frames += n == 0 || lim == 0 ? 1 : (int64_t)((n + lim - 1) / lim);
    s->sent_bytes += (int64_t)n;
}

static pl_status stream_enqueue_or_put(struct pl_nrpc_stream *s, int kind, const void *data,
                                       size_t n) {
    pl_status st = PL_OK;
    pthread_mutex_lock(&s->lock);
    if (s->state == ST_ENDED || s->send_closed) {
        st = PL_ERR(PL_E_CANCELLED, "stream %s",
                    s->state == ST_ENDED ? "has ended" : "is half-closed");
        goto fail;
    }
    if (kind == 1) s->send_closed = true;
    if (s->state == ST_OPEN) {
        st = stream_put(s, kind, data, n);
        if (st == PL_OK) count_sent(s, kind, n);
        goto fail;
    }
    struct pending_send *p = pl_calloc(1, sizeof *p);
    if (!p || (n && !(p->data = pl_malloc(n)))) {
        pl_free(p);
        if (kind == 1) s->send_closed = false;
        st = PL_ERR(PL_E_NOMEM, "queueing a stream message of %zu bytes", n);
        goto fail;
    }
    if (n) memcpy(p->data, data, n);
    p->n = n;
    p->kind = kind;
    if (s->pend_tail)
        s->pend_tail->next = p;
    else
        s->pend_head = p;
    s->pend_tail = p;
    count_sent(s, kind, n);
fail:
    pthread_mutex_unlock(&s->lock);
    return st;
}

pl_status pl_nrpc_stream_send(struct pl_nrpc_stream *s, const void *data, size_t n) {
    if (!s || (n && !data)) return PL_ERR(PL_E_INVALID_ARG, "stream send: NULL argument");
    return stream_enqueue_or_put(s, 0, data, n);
}

pl_status pl_nrpc_stream_close_send(struct pl_nrpc_stream *s) {
    if (!s) return PL_ERR(PL_E_INVALID_ARG, "stream close: NULL stream");
    return stream_enqueue_or_put(s, 1, NULL, 0);
}

void pl_nrpc_stream_unacked(struct pl_nrpc_stream *s, int64_t *bytes, int64_t *frames) {
    int64_t b = 0, f = 0;
    if (s) {
        pthread_mutex_lock(&s->lock);
        b = s->sent_bytes - s->acked_bytes;
        f = s->sent_frames - s->acked_frames;
        pthread_mutex_unlock(&s->lock);
    }
    if (bytes) *bytes = b;
    if (frames) *frames = f;
}

void pl_nrpc_stream_set_on_ack(struct pl_nrpc_stream *s, void (*on_ack)(void *ud)) {
    if (!s) return;
    pthread_mutex_lock(&s->lock);
    s->on_ack = on_ack;
    pthread_mutex_unlock(&s->lock);
}

void pl_nrpc_stream_cancel(struct pl_nrpc_stream *s) {
    if (!s) return;
    pl__nrpc_stream_finish(s, PL_GRPC_CANCELLED, "cancelled by the client", true);
}

/* ---- streams: receiving (mux thread) --------------------------------------------------------- */

static void stream_on_open_reply(struct pl_nrpc_stream *s, natsMsg *msg) {
    int64_t code = 0;
    if (natsMsg_IsNoResponders(msg)) {
        pl__nrpc_stream_finish(s, PL_GRPC_UNAVAILABLE, "no worker serves this stream", false);
        return;
    }
    if (pl__nrpc_hdr_i64(msg, PL_NRPC_H_STATUS, &code) && code != 0) {
        const char *e = pl__nrpc_hdr(msg, PL_NRPC_H_ERROR);
        pl__nrpc_stream_finish(s, (int)code, e ? e : "stream refused", false);
        return;
    }
    const char *sess = pl__nrpc_hdr(msg, PL_NRPC_H_SESSION);
    if (!sess || !*sess) {
        pl__nrpc_stream_finish(s, PL_GRPC_INTERNAL, "stream open reply without a session", false);
        return;
    }
    pl_status st = PL_OK;
    pthread_mutex_lock(&s->lock);
    if (s->state != ST_OPENING) {
        pthread_mutex_unlock(&s->lock);
        /* ended meanwhile (cancel or timeout): tell the worker to free the session */
        natsMsg *m = NULL;
        if (pl__nrpc_msg(&m, sess, NULL, NULL, 0, "cancel", -1, false, -1, NULL) == PL_OK)
            (void)pl__nrpc_publish(s->c->nc, m);
        return;
    }
    s->session = pl_strdup(sess);
    if (!s->session) st = PL_E_NOMEM;
    if (st == PL_OK) {
        s->state = ST_OPEN;
        while (s->pend_head && st == PL_OK) {
            struct pending_send *p = s->pend_head;
            s->pend_head = p->next;
            if (!s->pend_head) s->pend_tail = NULL;
            st = stream_put(s, p->kind, p->data, p->n);
            pl_free(p->data);
            pl_free(p);
        }
    }
    pthread_mutex_unlock(&s->lock);
    if (st != PL_OK) pl__nrpc_stream_finish(s, PL_GRPC_UNAVAILABLE, pl_last_error(), true);
}

/* Kind:ack from the worker: Seq = client frames its handler has taken, the body their bytes
 * in decimal. Acks travel outside the data sequence (a lost one is made good by the next). */
static void stream_on_ack(struct pl_nrpc_stream *s, natsMsg *msg) {
    int64_t frames = 0;
    char buf[32];
    int len = natsMsg_GetDataLength(msg);
    if (!pl__nrpc_hdr_i64(msg, PL_NRPC_H_SEQ, &frames) || len <= 0 || len >= (int)sizeof buf)
        return;
    memcpy(buf, natsMsg_GetData(msg), (size_t)len);
    buf[len] = '\0';
    char *end = NULL;
    long long bytes = strtoll(buf, &end, 10);
    if (!end || *end || bytes < 0) return;
    pthread_mutex_lock(&s->lock);
    bool more = frames > s->acked_frames;
    if (more) {
        s->acked_frames = frames;
        s->acked_bytes = bytes;
    }
    void (*on_ack)(void *) = s->on_ack;
    pthread_mutex_unlock(&s->lock);
    if (!more || s->pull || !on_ack) return;
    struct cb_frame f;
    cb_enter(s, &f);
    if (!s->destroyed && !s->end_reported) on_ack(s->ud);
    cb_leave(s, &f);
}

/* Kind:hb from the worker: Parley-Seq, when present, is the last frame it has sent. Frames
 * travel in order on one subject, so one not received by now was lost on the way (in a NATS
 * node that died, say): the stream ends here instead of waiting for a frame that never
 * comes while both sides go on heartbeating. A heartbeat without the number proves nothing. */
static void stream_on_hb(struct pl_nrpc_stream *s, natsMsg *msg) {
    int64_t sent = 0;
    if (!pl__nrpc_hdr_i64(msg, PL_NRPC_H_SEQ, &sent) || sent <= s->recv_seq) return;
    char m[192];
    int code = pl__nrpc_seq_fault(m, sizeof m, "worker", s->recv_seq, sent, true);
    pl__nrpc_stream_finish(s, code, m, true);
}

void pl__nrpc_stream_on_msg(struct pl_nrpc_stream *s, natsMsg *msg) {
    int64_t seq = 0, code = 0;
    pthread_mutex_lock(&s->lock);
    s->last_recv_ms = pl_time_mono_ms();
    enum stream_state state = s->state;
    pthread_mutex_unlock(&s->lock);
    if (state == ST_ENDED) return;
    const char *kind = pl__nrpc_hdr(msg, PL_NRPC_H_KIND);
    if (state == ST_OPENING) {
        if (kind && strcmp(kind, "hb") == 0) return;
        if (kind) { /* a frame before the session reply: the worker broke the protocol */
            pl__nrpc_stream_finish(s, PL_GRPC_DATA_LOSS, "stream frame before the open reply",
                                   false);
            return;
        }
        stream_on_open_reply(s, msg);
        return;
    }
    if (!kind) return; /* a duplicate open reply; ignore */
    if (strcmp(kind, "hb") == 0) {
        stream_on_hb(s, msg);
        return;
    }
    if (strcmp(kind, "ack") == 0) {
        stream_on_ack(s, msg);
        return;
    }
    if (strcmp(kind, "error") == 0) {
        const char *e = pl__nrpc_hdr(msg, PL_NRPC_H_ERROR);
        if (!pl__nrpc_hdr_i64(msg, PL_NRPC_H_STATUS, &code) || code == 0) code = PL_GRPC_INTERNAL;
        pl__nrpc_stream_finish(s, (int)code, e ? e : "worker error", false);
        return;
    }
    if (strcmp(kind, "data") != 0 && strcmp(kind, "end") != 0) {
        char m[96];
        snprintf(m, sizeof m, "unknown frame kind '%.32s'", kind);
        pl__nrpc_stream_finish(s, PL_GRPC_DATA_LOSS, m, true);
        return;
    }
    if (!pl__nrpc_hdr_i64(msg, PL_NRPC_H_SEQ, &seq)) {
        char m[128];
        const char *got = pl__nrpc_hdr(msg, PL_NRPC_H_SEQ);
        snprintf(m, sizeof m, "sequence error from the worker: expected %" PRId64 ", got %.24s",
                 s->recv_seq + 1, got ? got : "none");
        pl__nrpc_stream_finish(s, PL_GRPC_DATA_LOSS, m, true);
        return;
    }
    if (seq != s->recv_seq + 1) {
        char m[192];
        int gap = pl__nrpc_seq_fault(m, sizeof m, "worker", s->recv_seq, seq, false);
        pl__nrpc_stream_finish(s, gap, m, true);
        return;
    }
    s->recv_seq = seq; /* only the mux thread touches recv_seq and asm_buf */
    if (strcmp(kind, "end") == 0) {
        const char *e = pl__nrpc_hdr(msg, PL_NRPC_H_ERROR);
        if (!pl__nrpc_hdr_i64(msg, PL_NRPC_H_STATUS, &code)) code = 0;
        pl__nrpc_stream_finish(s, (int)code, e ? e : "", false);
        return;
    }
    const char *more = pl__nrpc_hdr(msg, PL_NRPC_H_MORE);
    if (pl__nrpc_buf_append(&s->asm_buf, natsMsg_GetData(msg),
                            (size_t)natsMsg_GetDataLength(msg)) != PL_OK) {
        pl__nrpc_stream_finish(s, PL_GRPC_RESOURCE_EXHAUSTED,
                               "out of memory reassembling a message", true);
        return;
    }
    if (more && strcmp(more, "1") == 0) return;
    uint8_t *data = s->asm_buf.data;
    size_t n = s->asm_buf.len;
    s->asm_buf.data = NULL;
    s->asm_buf.len = s->asm_buf.cap = 0;
    stream_deliver(s, data, n);
}

/* ---- streams: lifetime ----------------------------------------------------------------------- */

pl_status pl__nrpc_stream_open_impl(struct pl_nrpc_conn *c, const char *svc, const char *rpc,
                                    const struct pl_nrpc_meta *meta,
                                    const struct pl_nrpc_stream_cbs *cbs, void *ud,
                                    int64_t deadline_us, struct pl_nrpc_stream **hold,
                                    struct pl_nrpc_stream **out) {
    natsMsg *m = NULL;
    pl_status st;
    char subj[160];
    *out = NULL;
    if (!pl__nrpc_svc_valid(svc) || !rpc || !*rpc || strchr(rpc, '.') || strlen(rpc) > 127)
        return PL_ERR(PL_E_INVALID_ARG, "stream open: bad service '%s' or rpc '%s'",
                      svc ? svc : "(null)", rpc ? rpc : "(null)");
    struct pl_nrpc_stream *s = pl_calloc(1, sizeof *s);
    if (!s) return PL_ERR(PL_E_NOMEM, "stream open");
    s->e.type = ENTRY_STREAM;
    s->c = c;
    atomic_init(&s->refs, hold ? 3 : 2); /* table + user (+ hold) */
    pthread_mutex_init(&s->lock, NULL);
    pthread_mutex_init(&s->cb_lock, NULL);
    pthread_cond_init(&s->cond, NULL);
    s->state = ST_OPENING;
    s->pull = cbs == NULL;
    if (cbs) s->cbs = *cbs;
    s->ud = ud;
    s->open_ms = s->last_recv_ms = s->last_send_ms = pl_time_mono_ms();
    s->deadline_us = deadline_us;
    if (meta && meta->deadline_us > 0 && (!s->deadline_us || meta->deadline_us < s->deadline_us))
        s->deadline_us = meta->deadline_us;

    pthread_mutex_lock(&c->lock);
    pl__nrpc_table_add(c, &s->e);
    pthread_mutex_unlock(&c->lock);
    snprintf(s->inbox, sizeof s->inbox, "%ss%" PRIu64, c->prefix, s->e.id);
    snprintf(subj, sizeof subj, "parley.%s.stream.open", svc);
    /* published before the open goes out: callbacks may use them at once */
    if (hold) *hold = s;
    *out = s;
    if (!pl_nrpc_conn_connected(c)) { /* reconnecting: end it at once (from the timer) */
        pthread_mutex_lock(&s->lock);
        s->fail_code = PL_GRPC_UNAVAILABLE;
        snprintf(s->fail_msg, sizeof s->fail_msg, "not connected to NATS");
        pthread_mutex_unlock(&s->lock);
        return PL_OK;
    }

    st = pl__nrpc_msg(&m, subj, s->inbox, NULL, 0, NULL, -1, false, -1, NULL);
    if (st == PL_OK) st = pl__nrpc_set_meta(m, meta);
    if (st == PL_OK) st = pl__nrpc_set_heartbeat(m, c->stream_timeout_ms);
    if (st == PL_OK && natsMsgHeader_Set(m, PL_NRPC_H_RPC, rpc) != NATS_OK)
        st = PL_ERR(PL_E_NOMEM, "stream open headers");
    if (st == PL_OK) {
        st = pl__nrpc_publish(c->nc, m);
        m = NULL;
    }
    if (m) natsMsg_Destroy(m);
    if (st != PL_OK) { /* the timer ends the stream: callbacks never run on the caller's thread */
        pthread_mutex_lock(&s->lock);
        snprintf(s->fail_msg, sizeof s->fail_msg, "%s", pl_last_error());
        s->fail_code = PL_GRPC_UNAVAILABLE;
        pthread_mutex_unlock(&s->lock);
    }
    return PL_OK;
}

pl_status pl_nrpc_stream_open(struct pl_nrpc_conn *c, const char *svc, const char *rpc,
                              const struct pl_nrpc_meta *meta, const struct pl_nrpc_stream_cbs *cbs,
                              void *ud, struct pl_nrpc_stream **out) {
    if (!c || !out) return PL_ERR(PL_E_INVALID_ARG, "stream open: NULL argument");
    return pl__nrpc_stream_open_impl(c, svc, rpc, meta, cbs, ud, 0, NULL, out);
}

pl_status pl_nrpc_stream_recv(struct pl_nrpc_stream *s, int timeout_ms, uint8_t **data, size_t *n,
                              int *code, const char **message) {
    if (!s || !data || !n || !s->pull)
        return PL_ERR(PL_E_INVALID_ARG, "stream recv: NULL argument or callback-mode stream");
    *data = NULL;
    *n = 0;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (timeout_ms >= 0) {
        ts.tv_sec += timeout_ms / 1000;
        ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
    }
    pl_status st = PL_OK;
    pthread_mutex_lock(&s->lock);
    for (;;) {
        if (s->q_head) {
            struct queued_msg *q = s->q_head;
            s->q_head = q->next;
            if (!s->q_head) s->q_tail = NULL;
            *data = q->data;
            *n = q->n;
            pl_free(q);
            break;
        }
        if (s->state == ST_ENDED) {
            if (code) *code = s->end_code;
            if (message) *message = s->end_msg ? s->end_msg : "";
            st = PL_ERR(PL_E_CANCELLED, "stream ended: %s %s", pl_grpc_code_name(s->end_code),
                        s->end_msg ? s->end_msg : "");
            break;
        }
        int rc = timeout_ms < 0 ? pthread_cond_wait(&s->cond, &s->lock)
                                : pthread_cond_timedwait(&s->cond, &s->lock, &ts);
        if (rc == ETIMEDOUT && !s->q_head && s->state != ST_ENDED) {
            st = PL_ERR(PL_E_TIMEOUT, "no stream message within %d ms", timeout_ms);
            break;
        }
    }
    pthread_mutex_unlock(&s->lock);
    return st;
}

bool pl_nrpc_stream_ended(struct pl_nrpc_stream *s, int *code, const char **message) {
    if (!s) return true;
    pthread_mutex_lock(&s->lock);
    bool ended = s->state == ST_ENDED;
    if (ended && code) *code = s->end_code;
    if (ended && message) *message = s->end_msg ? s->end_msg : "";
    pthread_mutex_unlock(&s->lock);
    return ended;
}

void pl_nrpc_stream_destroy(struct pl_nrpc_stream *s) {
    if (!s) return;
    if (in_own_callback(s)) {
        s->destroyed = true; /* cb_lock is ours already */
    } else {
        struct cb_frame f;
        cb_enter(s, &f); /* waits for a callback running on another thread */
        s->destroyed = true;
        cb_leave(s, &f);
    }
    pl__nrpc_stream_finish(s, PL_GRPC_CANCELLED, "cancelled by the client", true);
    pl__nrpc_stream_release(s);
}
