/*
 * nrpc_worker_session.c - streaming sessions of a worker: the open, frames in
 * order (reassembled, sequence-checked), the handler's on_open/on_message/
 * on_end/on_cancel, sends from any thread, and the session's end. Unary rpcs
 * whose request is too large for one NATS message arrive here as a session too.
 * A session's events run on the worker's handler threads, one at a time.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "log.h"
#include "nrpc_worker_impl.h"

/* ---- sessions -------------------------------------------------------------------------------- */

void pl__wk_session_release(struct pl_worker_session *s) {
    if (atomic_fetch_sub(&s->refs, 1) != 1) return;
    for (struct sess_ev *e = s->ev_head; e;) {
        struct sess_ev *n = e->next;
        if (e->msg) natsMsg_Destroy(e->msg);
        pl_free(e);
        e = n;
    }
    pl__nrpc_buf_reset(&s->asm_buf);
    pl__nrpc_buf_reset(&s->unary_req);
    pl__nrpc_buf_reset(&s->early);
    pthread_mutex_destroy(&s->lock);
    pl_free(s);
}

static struct pl_worker_session *session_find_locked(struct pl_worker *w, uint64_t id) {
    for (struct pl_worker_session *s = w->sbuckets[id % N_SBUCKETS]; s; s = s->next)
        if (s->id == id) return s;
    return NULL;
}

/* Queue an event for s and schedule it (w->lock held). Takes ownership of msg. */
void pl__wk_session_push_locked(struct pl_worker *w, struct pl_worker_session *s, enum ev_type type,
                                natsMsg *msg) {
    if (s->dead) goto drop;
    if (type == EV_FRAME && s->n_ev >= MAX_SESSION_EVENTS) type = EV_OVERFLOW;
    if (type == EV_CANCEL || (type == EV_FRAME && msg && pl__nrpc_hdr(msg, PL_NRPC_H_KIND) &&
                              strcmp(pl__nrpc_hdr(msg, PL_NRPC_H_KIND), "cancel") == 0)) {
        /* Refuse sends at once, not when the cancel's turn comes: a handler busy in
         * on_message (a long synthesis) learns from pl_worker_session_send that the client
         * is gone and stops, instead of working on for nobody (nrpc_worker.h promises
         * PL_E_CANCELLED once the session has been cancelled). */
        pthread_mutex_lock(&s->lock);
        s->closed = true;
        pthread_mutex_unlock(&s->lock);
    }
    struct sess_ev *e = pl_calloc(1, sizeof *e);
    struct job *j = s->scheduled ? NULL : pl_calloc(1, sizeof *j);
    if (!e || (!s->scheduled && !j)) {
        pl_free(e);
        pl_free(j);
        goto drop;
    }
    e->type = type;
    e->msg = type == EV_FRAME ? msg : NULL;
    if (type != EV_FRAME && msg) natsMsg_Destroy(msg);
    if (s->ev_tail)
        s->ev_tail->next = e;
    else
        s->ev_head = e;
    s->ev_tail = e;
    s->n_ev++;
    if (!s->scheduled) {
        s->scheduled = true;
        atomic_fetch_add(&s->refs, 1); /* the job's reference */
        j->type = JOB_SESSION;
        j->sess = s;
        pl__wk_push_job_locked(w, j);
    }
    return;
drop:
    if (msg) natsMsg_Destroy(msg);
}

/* Delivery callback of parley.<svc>.session.<wid>.* */
void pl__wk_on_session(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure) {
    (void)nc;
    (void)sub;
    struct pl_worker *w = closure;
    const char *subj = natsMsg_GetSubject(msg);
    size_t plen = strlen(w->sess_prefix);
    char *end = NULL;
    if (!subj || strncmp(subj, w->sess_prefix, plen) != 0) goto drop;
    uint64_t id = strtoull(subj + plen, &end, 10);
    if (!end || *end) goto drop;
    const char *kind = pl__nrpc_hdr(msg, PL_NRPC_H_KIND);
    pthread_mutex_lock(&w->lock);
    struct pl_worker_session *s = session_find_locked(w, id);
    if (!s) {
        pthread_mutex_unlock(&w->lock);
        PL_LOGD("frame for unknown session %" PRIu64 " dropped", id);
        goto drop;
    }
    s->last_recv_ms = pl_time_mono_ms();
    int64_t seq = 0;
    bool has_seq = pl__nrpc_hdr_i64(msg, PL_NRPC_H_SEQ, &seq);
    /* A heartbeat naming a frame that has not arrived (its Seq is the client's last one sent):
     * queued like a frame, so that it is judged after the frames before it (session_event). */
    if (kind && strcmp(kind, "hb") == 0 && (!has_seq || seq <= s->client_seq)) {
        pthread_mutex_unlock(&w->lock);
        goto drop;
    }
    if (has_seq && seq > s->client_seq) s->client_seq = seq;
    pl__wk_session_push_locked(w, s, EV_FRAME, msg);
    pthread_mutex_unlock(&w->lock);
    return;
drop:
    natsMsg_Destroy(msg);
}

/* The streams open as the clients see them (w->lock held): a session whose final frame is out
 * is over for its client. */
static int open_streams_locked(const struct pl_worker *w) { return w->n_sessions - w->n_ending; }

/* Send a final frame (end or error) and refuse sends from now on. Before the frame goes out the
 * session stops counting as open (its slot under max_streams is free) and the call is in the
 * metrics: a client that opens its next stream, or scrapes /metrics, as soon as it reads the
 * end finds both done, though on_cancel and the close run later on a handler thread. The frame
 * is published after the locks (w->lock, then s->lock, as everywhere): no frame of the session
 * can follow it, since every send checks closed under s->lock. */
static void session_send_final(struct pl_worker_session *s, const char *kind, int code,
                               const char *err) {
    struct pl_worker *w = s->w;
    bool is_end = strcmp(kind, "end") == 0;
    pthread_mutex_lock(&w->lock);
    pthread_mutex_lock(&s->lock);
    bool send = !s->closed;
    s->closed = true;
    int64_t seq = -1;
    if (send && is_end) seq = ++s->send_seq;
    pthread_mutex_unlock(&s->lock);
    bool count = send && !s->dead && !s->ending;
    if (count) {
        s->ending = true;
        w->n_ending++;
        pl_metric_set(w->mm.active_streams, open_streams_locked(w));
    }
    pthread_mutex_unlock(&w->lock);
    if (count) {
        pl_metrics_std_request(w->metrics, w->model, s->rpc->name, code);
        pl_metric_observe(w->mm.request_us, (double)(pl_time_mono_us() - s->ctx.received_us));
    }
    natsMsg *m = NULL;
    if (send && pl__nrpc_msg(&m, s->client_inbox, NULL, NULL, 0, kind, seq, false, code,
                             code ? err : NULL) == PL_OK)
        (void)pl__nrpc_publish(w->nc, m);
}

/* Take s out of the table; later frames for it are dropped. */
static void session_close(struct pl_worker_session *s, int code) {
    struct pl_worker *w = s->w;
    pthread_mutex_lock(&s->lock);
    s->closed = true;
    pthread_mutex_unlock(&s->lock);
    pthread_mutex_lock(&w->lock);
    bool was_live = !s->dead;
    bool counted = s->ending;
    if (was_live) {
        s->dead = true;
        for (struct pl_worker_session **p = &w->sbuckets[s->id % N_SBUCKETS]; *p; p = &(*p)->next) {
            if (*p == s) {
                *p = s->next;
                break;
            }
        }
        w->n_sessions--;
        if (counted) w->n_ending--;
        pl_metric_set(w->mm.active_streams, open_streams_locked(w));
        pthread_cond_broadcast(&w->idle_cv);
    }
    pthread_mutex_unlock(&w->lock);
    if (!was_live) return;
    if (!counted) { /* no final frame went out (a cancel, a client gone silent, a failed open) */
        pl_metrics_std_request(w->metrics, w->model, s->rpc->name, code);
        pl_metric_observe(w->mm.request_us, (double)(pl_time_mono_us() - s->ctx.received_us));
    }
    pl__wk_session_release(s); /* the table's reference */
}

pl_status pl_worker_session_send(struct pl_worker_session *s, const void *data, size_t n) {
    if (!s || (n && !data)) return PL_ERR(PL_E_INVALID_ARG, "session send: NULL argument");
    pl_status st;
    pthread_mutex_lock(&s->lock);
    if (s->closed) {
        st = PL_ERR(PL_E_CANCELLED, "session has ended");
    } else if (!s->opened) { /* from on_open, or a thread it started: hold until the reply */
        uint64_t len = n;
        st = pl__nrpc_buf_append(&s->early, &len, sizeof len);
        if (st == PL_OK) st = pl__nrpc_buf_append(&s->early, data, n);
    } else {
        st = pl__nrpc_publish_frames(s->w->nc, s->client_inbox, NULL, data, n,
                                     pl__wk_frame_limit(s->w), &s->send_seq);
        s->last_send_ms = pl_time_mono_ms();
    }
    pthread_mutex_unlock(&s->lock);
    return st;
}

/* The final frame is out (kind, code): on_cancel and the close follow on a handler thread. */
static void session_final_given(struct pl_worker_session *s, int code) {
    struct pl_worker *w = s->w;
    pthread_mutex_lock(&w->lock);
    if (!s->dead && !s->final_given) {
        s->final_given = true;
        s->fail_code = code;
        pl__wk_session_push_locked(w, s, EV_FAIL, NULL); /* on_cancel and the close, in turn */
    }
    pthread_mutex_unlock(&w->lock);
}

void pl_worker_session_fail(struct pl_worker_session *s, pl_status st, const char *msg) {
    if (!s) return;
    int code = pl_nrpc_code_from_status(st != PL_OK ? st : PL_E_INTERNAL);
    session_send_final(s, "error", code, msg && *msg ? msg : pl_status_str(st));
    session_final_given(s, code);
}

void pl_worker_session_defer_end(struct pl_worker_session *s) {
    if (s) s->end_deferred = true;
}

void pl_worker_session_end(struct pl_worker_session *s, pl_status st, const char *msg) {
    if (!s) return;
    int code = st == PL_OK ? PL_GRPC_OK : pl_nrpc_code_from_status(st);
    session_send_final(s, "end", code, code ? (msg && *msg ? msg : pl_status_str(st)) : NULL);
    session_final_given(s, code);
}

void pl_worker_session_retain(struct pl_worker_session *s) {
    if (s) atomic_fetch_add(&s->refs, 1);
}

void pl_worker_session_release(struct pl_worker_session *s) {
    if (s) pl__wk_session_release(s);
}

const struct pl_worker_ctx *pl_worker_session_ctx(struct pl_worker_session *s) {
    return s ? &s->ctx : NULL;
}

/* The handler gave up or the client went away: on_cancel, then close. */
static void session_abort(struct pl_worker_session *s, const char *kind, int code,
                          const char *err) {
    if (kind)
        session_send_final(s, kind, code, err);
    else {
        pthread_mutex_lock(&s->lock);
        s->closed = true;
        pthread_mutex_unlock(&s->lock);
    }
    if (!s->unary_mode && s->rpc->iface->on_cancel) s->rpc->iface->on_cancel(s->state, s);
    session_close(s, code ? code : PL_GRPC_CANCELLED);
}

/* Run the unary handler of a unary-over-stream session and answer in frames. */
static void session_run_unary(struct pl_worker_session *s) {
    struct pl_worker *w = s->w;
    struct pl_worker_out out = {0};
    char err[512];
    if (s->n_msgs != 1) {
        snprintf(err, sizeof err, "unary rpc %s got %d request messages, want 1", s->rpc->name,
                 s->n_msgs);
        session_send_final(s, "end", PL_GRPC_INVALID_ARGUMENT, err);
        session_close(s, PL_GRPC_INVALID_ARGUMENT);
        return;
    }
    if (pl_worker_ctx_expired(&s->ctx)) {
        session_send_final(s, "end", PL_GRPC_DEADLINE_EXCEEDED, "deadline exceeded in the worker");
        session_close(s, PL_GRPC_DEADLINE_EXCEEDED);
        return;
    }
    pl_status st = pl__wk_invoke(w, s->rpc, &s->ctx, s->unary_req.data, s->unary_req.len, &out);
    int code = pl_nrpc_code_from_status(st);
    if (st != PL_OK) {
        pl__wk_handler_error(st, err, sizeof err);
        session_send_final(s, "end", code, err);
    } else if (pl_worker_session_send(s, out.data, out.len) != PL_OK) {
        code = PL_GRPC_UNAVAILABLE;
        session_send_final(s, "end", code, "cannot send the response");
    } else {
        session_send_final(s, "end", 0, NULL);
    }
    pl_free(out.data);
    session_close(s, code);
}

/* A client heartbeat whose Parley-Seq (the client's last frame sent) is beyond the frames
 * received: frames travel in order on the session subject, so the missing ones were lost on
 * the way (in a NATS node that died, say) and will not come. Without this, a lost half-close
 * would leave both sides heartbeating, each waiting for the other, until the deadline. */
static void session_lost_frames(struct pl_worker_session *s, natsMsg *msg) {
    char err[192];
    int64_t sent = 0;
    if (!pl__nrpc_hdr_i64(msg, PL_NRPC_H_SEQ, &sent) || sent <= s->recv_seq) return;
    int code = pl__nrpc_seq_fault(err, sizeof err, "client", s->recv_seq, sent, true);
    PL_LOGW("session %" PRIu64 ": %s", s->id, err);
    session_abort(s, "error", code, err);
}

/* One event of a session (handler thread; this session's events never run concurrently). */
static void session_event(struct pl_worker_session *s, struct sess_ev *e) {
    char err[512];
    if (e->type == EV_CANCEL) {
        session_abort(s, NULL, PL_GRPC_CANCELLED, NULL);
        return;
    }
    if (e->type == EV_FAIL) { /* pl_worker_session_fail or _end sent the final frame already */
        if (s->fail_code == PL_GRPC_OK) { /* a deferred end, as the handler ended it */
            if (s->rpc->iface->on_cancel) s->rpc->iface->on_cancel(s->state, s);
            session_close(s, PL_GRPC_OK);
            return;
        }
        session_abort(s, NULL, s->fail_code, NULL);
        return;
    }
    if (e->type == EV_OVERFLOW) {
        session_abort(s, "error", PL_GRPC_RESOURCE_EXHAUSTED,
                      "too many unprocessed stream messages");
        return;
    }
    natsMsg *msg = e->msg;
    const char *kind = pl__nrpc_hdr(msg, PL_NRPC_H_KIND);
    if (kind && strcmp(kind, "cancel") == 0) {
        session_abort(s, NULL, PL_GRPC_CANCELLED, NULL);
        return;
    }
    if (kind && strcmp(kind, "hb") == 0) {
        session_lost_frames(s, msg);
        return;
    }
    if (!kind || (strcmp(kind, "data") != 0 && strcmp(kind, "end") != 0)) {
        snprintf(err, sizeof err, "unknown frame kind '%.32s'", kind ? kind : "(none)");
        session_abort(s, "error", PL_GRPC_DATA_LOSS, err);
        return;
    }
    int64_t seq = 0;
    if (!pl__nrpc_hdr_i64(msg, PL_NRPC_H_SEQ, &seq)) {
        const char *got = pl__nrpc_hdr(msg, PL_NRPC_H_SEQ);
        snprintf(err, sizeof err, "sequence error from the client: expected %" PRId64 ", got %.24s",
                 s->recv_seq + 1, got ? got : "none");
        PL_LOGW("session %" PRIu64 ": %s", s->id, err);
        session_abort(s, "error", PL_GRPC_DATA_LOSS, err);
        return;
    }
    if (seq != s->recv_seq + 1) {
        int code = pl__nrpc_seq_fault(err, sizeof err, "client", s->recv_seq, seq, false);
        PL_LOGW("session %" PRIu64 ": %s", s->id, err);
        session_abort(s, "error", code, err);
        return;
    }
    s->recv_seq = seq;
    if (strcmp(kind, "data") == 0) s->taken_bytes += natsMsg_GetDataLength(msg);
    if (strcmp(kind, "end") == 0) {
        if (s->asm_buf.len) {
            session_abort(s, "error", PL_GRPC_DATA_LOSS, "half-close inside a multi-frame message");
            return;
        }
        if (s->unary_mode) {
            session_run_unary(s);
            return;
        }
        pl_clear_error();
        pl__wk_fault_begin();
        pl_status st = s->rpc->iface->on_end ? s->rpc->iface->on_end(s->state, s) : PL_OK;
        pl__wk_fault_end();
        if (s->end_deferred) return; /* pl_worker_session_end (or a cancel) ends it */
        int code = pl_nrpc_code_from_status(st);
        if (st != PL_OK) pl__wk_handler_error(st, err, sizeof err);
        session_send_final(s, "end", code, st != PL_OK ? err : NULL);
        session_close(s, code);
        return;
    }
    if (pl__nrpc_buf_append(&s->asm_buf, natsMsg_GetData(msg),
                            (size_t)natsMsg_GetDataLength(msg)) != PL_OK) {
        session_abort(s, "error", PL_GRPC_RESOURCE_EXHAUSTED, "out of memory for a message");
        return;
    }
    const char *more = pl__nrpc_hdr(msg, PL_NRPC_H_MORE);
    if (more && strcmp(more, "1") == 0) return;
    s->n_msgs++;
    if (s->unary_mode) {
        pl__nrpc_buf_reset(&s->unary_req);
        s->unary_req = s->asm_buf;
        memset(&s->asm_buf, 0, sizeof s->asm_buf);
        return;
    }
    pl_clear_error();
    int64_t t0 = pl_time_mono_us();
    pl__wk_fault_begin();
    pl_status st = s->rpc->iface->on_message
                       ? s->rpc->iface->on_message(s->state, s, s->asm_buf.data, s->asm_buf.len)
                       : PL_OK;
    pl__wk_fault_end();
    pl_metric_observe(s->w->mm.compute_us, (double)(pl_time_mono_us() - t0));
    s->asm_buf.len = 0; /* keep the memory for the next message */
    if (st != PL_OK) {
        pl__wk_handler_error(st, err, sizeof err);
        session_abort(s, "error", pl_nrpc_code_from_status(st), err);
    }
}

/* Flow control: tell the client how much of what it sent the handler has taken (Kind:ack,
 * Seq = frames, body = bytes in decimal), every ACK_EVERY frames and whenever the session
 * has nothing more queued. A client that keeps what it has not seen acknowledged under a
 * window (the gateway does) can then never fill the session's queue (nrpc.h). */
static void session_ack(struct pl_worker_session *s, bool drained) {
    if (s->recv_seq == s->acked_seq || (!drained && s->recv_seq - s->acked_seq < ACK_EVERY))
        return;
    s->acked_seq = s->recv_seq;
    char body[24];
    int len = snprintf(body, sizeof body, "%" PRId64, s->taken_bytes);
    pthread_mutex_lock(&s->lock);
    natsMsg *m = NULL;
    if (!s->closed && s->opened &&
        pl__nrpc_msg(&m, s->client_inbox, NULL, body, (size_t)len, "ack", s->recv_seq, false, -1,
                     NULL) == PL_OK) {
        (void)pl__nrpc_publish(s->w->nc, m);
        s->ack_frames = s->recv_seq;
        s->ack_bytes = s->taken_bytes;
    }
    pthread_mutex_unlock(&s->lock);
}

/* The session's heartbeat, when it has sent nothing for heartbeat_ms. Parley-Seq is the last
 * frame sent, so that the client sees one that was lost. The last ack goes again with it:
 * acks are outside the numbering, so a lost last ack shows no gap, and a client that stopped
 * at its window would wait for it until the deadline (a repeated ack changes nothing). */
void pl__wk_session_heartbeat(struct pl_worker_session *s, int64_t now_ms) {
    struct pl_worker *w = s->w;
    pthread_mutex_lock(&s->lock);
    if (s->opened && !s->closed && now_ms - s->last_send_ms >= s->hb_every_ms) {
        natsMsg *m = NULL;
        if (pl__nrpc_msg(&m, s->client_inbox, NULL, NULL, 0, "hb", s->send_seq, false, -1,
                         NULL) == PL_OK)
            (void)pl__nrpc_publish(w->nc, m);
        s->last_send_ms = now_ms;
        char body[24];
        int len = snprintf(body, sizeof body, "%" PRId64, s->ack_bytes);
        if (s->ack_frames > 0 &&
            pl__nrpc_msg(&m, s->client_inbox, NULL, body, (size_t)len, "ack", s->ack_frames, false,
                         -1, NULL) == PL_OK)
            (void)pl__nrpc_publish(w->nc, m);
    }
    pthread_mutex_unlock(&s->lock);
}

void pl__wk_run_session_job(struct pl_worker *w, struct pl_worker_session *s) {
    pl_log_set_request_id(s->ctx.request_id);
    for (;;) {
        pthread_mutex_lock(&w->lock);
        struct sess_ev *e = s->ev_head;
        if (s->dead || (!e && s->acked_seq == s->recv_seq)) {
            s->scheduled = false;
            pthread_mutex_unlock(&w->lock);
            break;
        }
        if (!e) { /* caught up: acknowledge, then look again (this thread owns the session) */
            pthread_mutex_unlock(&w->lock);
            session_ack(s, true);
            continue;
        }
        s->ev_head = e->next;
        if (!s->ev_head) s->ev_tail = NULL;
        s->n_ev--;
        pthread_mutex_unlock(&w->lock);
        session_event(s, e);
        pl__nrpc_msg_release(e->msg);
        pl_free(e);
        session_ack(s, false);
    }
    pl_log_set_request_id(NULL);
    pl__wk_session_release(s); /* the job's reference */
}

void pl__wk_run_open(struct pl_worker *w, struct job *j) {
    const char *reply = natsMsg_GetReply(j->msg);
    struct pl_worker_session *s = NULL;
    char err[512];
    bool counted = false;
    if (!reply || !*reply || strlen(reply) >= sizeof s->client_inbox)
        goto done; /* no one to answer */
    s = pl_calloc(1, sizeof *s);
    if (!s) {
        pl__wk_reply_status(w, reply, PL_GRPC_RESOURCE_EXHAUSTED, "worker out of memory");
        goto done;
    }
    s->w = j->rpc->w;
    atomic_init(&s->refs, 1); /* the table's */
    pthread_mutex_init(&s->lock, NULL);
    s->rpc = j->rpc;
    s->unary_mode = !j->rpc->stream;
    snprintf(s->client_inbox, sizeof s->client_inbox, "%s", reply);
    pl__wk_ctx_from_msg(w, j->rpc, j->msg, j->received_us, &s->ctx);
    pl_log_set_request_id(s->ctx.request_id);
    if (pl_worker_ctx_expired(&s->ctx)) {
        pl__wk_reply_status(w, reply, PL_GRPC_DEADLINE_EXCEEDED,
                            "deadline exceeded before the stream opened");
        pl_metrics_std_request(w->metrics, w->model, j->rpc->name, PL_GRPC_DEADLINE_EXCEEDED);
        goto done;
    }
    s->last_send_ms = pl_time_mono_ms();
    s->hb_every_ms = j->hb_every_ms; /* read from the open at its arrival */
    pthread_mutex_lock(&w->lock);
    s->id = ++w->next_sid;
    s->last_recv_ms = pl_time_mono_ms();
    s->next = w->sbuckets[s->id % N_SBUCKETS];
    w->sbuckets[s->id % N_SBUCKETS] = s;
    w->n_sessions++;
    w->pending_opens--;
    counted = true;
    pl_metric_set(w->mm.active_streams, open_streams_locked(w));
    pthread_mutex_unlock(&w->lock);

    if (!s->unary_mode) {
        pl_clear_error();
        pl__wk_fault_begin();
        pl_status st = j->rpc->iface->on_open(j->rpc->ud, s, &s->ctx, &s->state);
        pl__wk_fault_end();
        if (st != PL_OK) { /* closed (its slot free, counted) before the client hears why */
            pl__wk_handler_error(st, err, sizeof err);
            pthread_mutex_lock(&s->lock);
            s->closed = true;
            pthread_mutex_unlock(&s->lock);
            session_close(s, pl_nrpc_code_from_status(st));
            s = NULL;
            pl__wk_reply_status(w, reply, pl_nrpc_code_from_status(st), err);
            goto done;
        }
    }
    char subj[256];
    snprintf(subj, sizeof subj, "%s%" PRIu64, w->sess_prefix, s->id);
    natsMsg *m = NULL;
    pl_status ps = pl__nrpc_msg(&m, reply, NULL, NULL, 0, NULL, -1, false, -1, NULL);
    if (ps == PL_OK && natsMsgHeader_Set(m, PL_NRPC_H_SESSION, subj) != NATS_OK) {
        natsMsg_Destroy(m);
        ps = PL_E_NOMEM;
    }
    pthread_mutex_lock(&s->lock);
    if (ps == PL_OK) ps = pl__nrpc_publish(w->nc, m);
    s->opened = true;
    for (size_t off = 0; ps == PL_OK && off + sizeof(uint64_t) <= s->early.len;) {
        uint64_t len;
        memcpy(&len, s->early.data + off, sizeof len);
        off += sizeof len;
        ps = pl__nrpc_publish_frames(w->nc, s->client_inbox, NULL, s->early.data + off, (size_t)len,
                                     pl__wk_frame_limit(w), &s->send_seq);
        off += (size_t)len;
    }
    pl__nrpc_buf_reset(&s->early);
    s->last_send_ms = pl_time_mono_ms();
    pthread_mutex_unlock(&s->lock);
    if (ps != PL_OK) { /* the client will time out; free the session now */
        pthread_mutex_lock(&w->lock);
        pl__wk_session_push_locked(w, s, EV_CANCEL, NULL);
        pthread_mutex_unlock(&w->lock);
    }
    s = NULL;
done:
    if (!counted) {
        pthread_mutex_lock(&w->lock);
        w->pending_opens--;
        pthread_mutex_unlock(&w->lock);
    }
    if (s) pl__wk_session_release(s);
    pl_log_set_request_id(NULL);
}
