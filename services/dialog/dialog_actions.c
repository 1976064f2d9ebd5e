/*
 * dialog_actions.c - the calls a turn makes over NATS to services outside parley-dialog
 * (dialog_svc.h): the `nats` action (hook nats_request of dialog.h: the turn's JSON as a
 * request on the spec's subject, the reply's bytes back) and the knowledge base (hook
 * kb_answer: parley-qa's natural_query with an empty context, the best answer back).
 *
 * Two ways to make each call: blocking (the hooks: a worker without an action pool,
 * dialog.action_threads 0) and without a thread (pl__dlgsvc_call_start: the action
 * pool's turns, docs/dialog.md, "Threads"): the request goes out on the connection's one
 * reply subscription, the pool thread goes on with other turns, and the reply, the timeout or
 * the failure comes back through the caller's callback (on a thread of the connection), with
 * the same outcome, error messages included, as the blocking call gives. A call whose turn's
 * client has gone is ended at once (pl__dlgsvc_call_cancel): its done runs then, and the
 * reply that may still come is ignored (the connection's one reply subscription stays; only
 * the call's entry waits there for its reply or its timeout, holding a few bytes).
 *
 * Fulfilment in any language is a NATS client that subscribes to the subject (in a queue
 * group, to run several) and answers with the JSON of docs/dialog.md ("External actions"); a
 * Parley-Status header on the reply is an error. The request carries Parley-User (the turn's
 * user), Parley-Request-Id and the deadline.
 */
#include <string.h>

#include "alloc.h"
#include "dialog_svc.h"
#include "log.h"
#include "nrpc.h"
#include "proto_util.h"
#include "riva/proto/riva_nlp.pb-c.h"
#include "util.h"

#define KB_SUBJECT "parley.qa.natural_query"

/* ---- the nats action ------------------------------------------------------------------------ */

/* The status of a responder's reply (messages as the step logs them after "nats 'SUBJECT': "). */
static pl_status nats_status(int timeout_ms, const struct pl_nrpc_reply *r) {
    const char *msg = r->message ? r->message : "";
    if (r->code == PL_GRPC_UNAVAILABLE && strstr(msg, "no worker"))
        return PL_ERR(PL_E_NOT_FOUND, "nothing serves the subject");
    if (r->code == PL_GRPC_DEADLINE_EXCEEDED)
        return PL_ERR(PL_E_TIMEOUT, "no reply within %d ms", timeout_ms);
    if (r->code != PL_GRPC_OK)
        return PL_ERR(pl_nrpc_status_from_code(r->code), "%s: %s", pl_grpc_code_name(r->code), msg);
    return PL_OK;
}

/* The reply's bytes, NUL-terminated. OUT: *out (pl_free). */
static pl_status reply_copy(const struct pl_nrpc_reply *r, char **out, size_t *len) {
    if (!(*out = pl_malloc(r->len + 1))) return PL_ERR(PL_E_NOMEM, "nats reply");
    if (r->len) memcpy(*out, r->data, r->len);
    (*out)[r->len] = '\0';
    *len = r->len;
    return PL_OK;
}

pl_status pl__dlgsvc_nats_request(void *ud, const char *subject, const char *user,
                                  const char *body, int timeout_ms, int64_t deadline_us,
                                  char **reply, size_t *len) {
    struct pl_dlgsvc *s = ud;
    *reply = NULL;
    *len = 0;
    struct pl_nrpc_meta meta = {pl_log_request_id()[0] ? pl_log_request_id() : NULL, deadline_us,
                                user};
    struct pl_nrpc_reply r;
    memset(&r, 0, sizeof r);
    PL_TRY(pl_nrpc_call_external(s->nc, subject, body, strlen(body), &meta, timeout_ms, &r));
    pl_status st = nats_status(timeout_ms, &r);
    if (st == PL_OK) st = reply_copy(&r, reply, len);
    pl_nrpc_reply_deinit(&r);
    return st;
}

/* ---- the knowledge base --------------------------------------------------------------------- */

/* natural_query for question with pipeline p's n-best (qa.top_n, else 1). OUT: *buf (pl_free). */
static pl_status kb_request(const struct pl_dlg_pipeline *p, const char *question, uint8_t **buf,
                            size_t *len) {
    Nvidia__Riva__Nlp__NaturalQueryRequest rq = NVIDIA__RIVA__NLP__NATURAL_QUERY_REQUEST__INIT;
    rq.query = (char *)question;
    rq.top_n = p && p->has_qa ? (uint32_t)p->qa.top_n : 1;
    rq.context = "";
    return pl_proto_pack(&rq.base, buf, len);
}

/* parley-qa's reply: the first non-empty answer of the n-best scoring at least p's
 * qa.threshold ("" = none). OUT: *answer (pl_free). */
static pl_status kb_outcome(const struct pl_dlg_pipeline *p, const struct pl_nrpc_reply *r,
                            char **answer) {
    *answer = NULL;
    if (r->code != PL_GRPC_OK)
        return PL_ERR(pl_nrpc_status_from_code(r->code), "%s: %s: %s", KB_SUBJECT,
                      pl_grpc_code_name(r->code), r->message ? r->message : "");
    ProtobufCMessage *m = NULL;
    PL_TRY(pl_proto_unpack(&nvidia__riva__nlp__natural_query_response__descriptor, r->data,
                           r->len, &m));
    Nvidia__Riva__Nlp__NaturalQueryResponse *q = (void *)m;
    float threshold = p && p->has_qa ? p->qa.threshold : 0.0f;
    const char *best = "";
    for (size_t i = 0; i < q->n_results && !best[0]; i++)
        if (q->results[i]->answer && q->results[i]->answer[0] &&
            q->results[i]->score >= threshold)
            best = q->results[i]->answer;
    *answer = pl_strdup(best);
    pl_proto_free(m);
    return *answer ? PL_OK : PL_ERR(PL_E_NOMEM, "answer");
}

pl_status pl__dlgsvc_kb_answer(struct pl_dlgsvc *s, const struct pl_dlg_pipeline *p,
                               const char *question, int64_t deadline_us, char **answer) {
    *answer = NULL;
    uint8_t *buf = NULL;
    size_t len = 0;
    PL_TRY(kb_request(p, question, &buf, &len));
    struct pl_nrpc_meta meta = {pl_log_request_id()[0] ? pl_log_request_id() : NULL, deadline_us,
                                NULL};
    struct pl_nrpc_reply r;
    memset(&r, 0, sizeof r);
    pl_status st = pl_nrpc_call(s->nc, KB_SUBJECT, buf, len, &meta, s->o.qa_timeout_ms, &r);
    pl_free(buf);
    if (st == PL_OK) st = kb_outcome(p, &r, answer);
    pl_nrpc_reply_deinit(&r);
    return st;
}

/* ---- the same calls without a thread (the action pool) --------------------------------------- */

struct pl__dlg_acall {
    uint64_t id; /* for pl__dlgsvc_call_cancel */
    struct pl_dlgsvc *s;
    enum pl_dlg_call_kind kind; /* PL_DLG_CALL_NATS or PL_DLG_CALL_KB */
    const struct pl_dlg_pipeline *p;
    char *subject; /* nats: the subject (owned) */
    int timeout_ms;
    int64_t t0_us;
    void (*done)(void *ud, struct pl_dlg_call *call);
    void *ud;
    bool linked; /* in s->calls.active: its done has not run */
    int refs;    /* the connection's (until on_reply), pl__dlgsvc_calls_stop's (under mu) */
    struct pl__dlg_acall *prev, *next;
};

static void acall_free(struct pl__dlg_acall *a) {
    pl_free(a->subject);
    pl_free(a);
}

/* The call's outcome when it could not be made (st, with pl_last_error()'s message). */
static void failed(const struct pl__dlg_acall *a, pl_status st, const char *why,
                   struct pl_dlg_call *c) {
    memset(c, 0, sizeof *c);
    c->st = st;
    c->attempts = 1;
    c->unconfigured = a->kind == PL_DLG_CALL_NATS && st == PL_E_NOT_FOUND;
    if (a->kind == PL_DLG_CALL_NATS)
        snprintf(c->error, sizeof c->error, "nats '%s': %s", a->subject, why);
    else snprintf(c->error, sizeof c->error, "%s", why);
    c->duration_ms = (pl_time_mono_us() - a->t0_us) / 1000;
}

/* The outcome of a reply, as the blocking call and the step make it. */
static void outcome(const struct pl__dlg_acall *a, const struct pl_nrpc_reply *r,
                    struct pl_dlg_call *c) {
    pl_status st;
    char *body = NULL;
    size_t len = 0;
    if (a->kind == PL_DLG_CALL_NATS) {
        st = nats_status(a->timeout_ms, r);
        if (st == PL_OK) st = reply_copy(r, &body, &len);
    } else {
        st = kb_outcome(a->p, r, &body);
        len = body ? strlen(body) : 0;
    }
    if (st != PL_OK) {
        failed(a, st, pl_last_error(), c);
        pl_free(body);
        return;
    }
    memset(c, 0, sizeof *c);
    c->attempts = 1;
    c->body = body;
    c->len = len;
    c->duration_ms = (pl_time_mono_us() - a->t0_us) / 1000;
}

/* Unlink a (under s->calls.mu); whether its done is still to run. */
static bool take(struct pl__dlg_acall *a) {
    if (!a->linked) return false;
    struct pl__dlg_calls *k = &a->s->calls;
    if (a->prev) a->prev->next = a->next;
    else k->active = a->next;
    if (a->next) a->next->prev = a->prev;
    a->prev = a->next = NULL;
    a->linked = false;
    k->in_flight--;
    return true;
}

/* Drop one reference to a; the last frees it. */
static void release(struct pl__dlg_acall *a) {
    pthread_mutex_lock(&a->s->calls.mu);
    bool last = --a->refs == 0;
    pthread_mutex_unlock(&a->s->calls.mu);
    if (last) acall_free(a);
}

/* The connection's callback (on one of its threads): runs once per call, also after
 * pl__dlgsvc_calls_stop (then the call's done has run, or runs, there) and at the
 * connection's end. */
static void on_reply(void *ud, struct pl_nrpc_reply *r) {
    struct pl__dlg_acall *a = ud;
    pthread_mutex_lock(&a->s->calls.mu);
    bool mine = take(a);
    pthread_mutex_unlock(&a->s->calls.mu);
    if (mine) {
        struct pl_dlg_call c;
        outcome(a, r, &c);
        a->done(a->ud, &c);
    }
    release(a);
}

uint64_t pl__dlgsvc_call_start(struct pl_dlgsvc *s, const struct pl_dlg_pipeline *p,
                               const char *user, const char *request_id,
                               const struct pl_dlg_replay *rp, int64_t deadline_us,
                               void (*done)(void *ud, struct pl_dlg_call *call), void *ud) {
    struct pl__dlg_acall *a = pl_calloc(1, sizeof *a);
    struct pl_dlg_call c;
    bool nats = rp->pending_kind == PL_DLG_CALL_NATS;
    if (!a || (nats && !(a->subject = pl_strdup(rp->pending_subject)))) {
        pl_free(a);
        memset(&c, 0, sizeof c);
        c.st = PL_E_NOMEM;
        snprintf(c.error, sizeof c.error, "%s: out of memory",
                 nats ? rp->pending_subject : KB_SUBJECT);
        done(ud, &c);
        return 0;
    }
    enum pl_dlg_call_kind kind = rp->pending_kind;
    a->s = s;
    a->kind = kind;
    a->p = p;
    a->timeout_ms = nats ? rp->pending_timeout_ms : s->o.qa_timeout_ms;
    a->t0_us = pl_time_mono_us();
    a->done = done;
    a->ud = ud;
    const char *body = rp->pending_body ? rp->pending_body : "";
    uint8_t *buf = NULL;
    size_t len = 0;
    pl_status st = PL_OK;
    if (a->kind == PL_DLG_CALL_NATS) {
        buf = (uint8_t *)body;
        len = strlen(body);
    } else if (a->kind == PL_DLG_CALL_KB) {
        st = kb_request(p, body, &buf, &len);
    } else {
        st = PL_ERR(PL_E_INTERNAL, "no call of kind %d without a thread", (int)a->kind);
    }
    uint64_t id = 0;
    pthread_mutex_lock(&s->calls.mu);
    if (st == PL_OK && s->calls.stopping)
        st = PL_ERR(PL_E_CANCELLED, "%sparley-dialog is stopping",
                    a->kind == PL_DLG_CALL_KB ? KB_SUBJECT ": " : "");
    if (st == PL_OK) { /* linked before the request leaves: its reply may come at once */
        id = a->id = ++s->calls.next_id;
        a->linked = true;
        a->refs = 1;
        a->next = s->calls.active;
        if (a->next) a->next->prev = a;
        s->calls.active = a;
        s->calls.in_flight++;
    }
    pthread_mutex_unlock(&s->calls.mu);
    if (st == PL_OK) {
        struct pl_nrpc_meta meta = {request_id && request_id[0] ? request_id : NULL, deadline_us,
                                    a->kind == PL_DLG_CALL_NATS ? user : NULL};
        st = kind == PL_DLG_CALL_NATS
                 ? pl_nrpc_call_external_async(s->nc, a->subject, buf, len, &meta, a->timeout_ms,
                                               on_reply, a)
                 : pl_nrpc_call_async(s->nc, KB_SUBJECT, buf, len, &meta, a->timeout_ms,
                                      on_reply, a);
        if (st != PL_OK) { /* not sent: on_reply never runs */
            pthread_mutex_lock(&s->calls.mu);
            bool mine = take(a);
            pthread_mutex_unlock(&s->calls.mu);
            if (!mine) { /* pl__dlgsvc_calls_stop or _cancel answers it */
                if (kind == PL_DLG_CALL_KB) pl_free(buf);
                release(a); /* the connection's reference */
                return 0;
            }
        }
    }
    if (kind == PL_DLG_CALL_KB) pl_free(buf);
    if (st == PL_OK) return id; /* a is the connection's now (perhaps freed already) */
    failed(a, st, pl_last_error(), &c);
    acall_free(a);
    done(ud, &c);
    return 0;
}

void pl__dlgsvc_call_cancel(struct pl_dlgsvc *s, uint64_t id) {
    if (!id) return;
    pthread_mutex_lock(&s->calls.mu);
    struct pl__dlg_acall *a = s->calls.active;
    while (a && a->id != id) a = a->next;
    if (a) {
        take(a);  /* its reply, when it comes, finds it taken: on_reply only releases it */
        a->refs++; /* on_reply may run meanwhile: a stays until done below has run */
    }
    pthread_mutex_unlock(&s->calls.mu);
    if (!a) return; /* answered (or ended) already */
    struct pl_dlg_call c;
    failed(a, PL_E_CANCELLED, "the turn was cancelled", &c);
    if (a->kind == PL_DLG_CALL_KB)
        snprintf(c.error, sizeof c.error, "%s: the turn was cancelled", KB_SUBJECT);
    a->done(a->ud, &c);
    release(a);
}

void pl__dlgsvc_calls_stop(struct pl_dlgsvc *s) {
    pthread_mutex_lock(&s->calls.mu);
    s->calls.stopping = true;
    struct pl__dlg_acall *list = s->calls.active, *ended = NULL;
    while (list) { /* unlinked here; on_reply frees each when the connection lets it go */
        struct pl__dlg_acall *a = list;
        list = a->next;
        take(a);
        a->refs++; /* on_reply may run meanwhile: a stays until done below has run */
        a->next = ended;
        ended = a;
    }
    pthread_mutex_unlock(&s->calls.mu);
    while (ended) {
        struct pl__dlg_acall *a = ended;
        ended = a->next;
        a->next = NULL;
        struct pl_dlg_call c;
        failed(a, PL_E_CANCELLED, "parley-dialog is stopping", &c);
        if (a->kind == PL_DLG_CALL_KB)
            snprintf(c.error, sizeof c.error, "%s: parley-dialog is stopping", KB_SUBJECT);
        a->done(a->ud, &c);
        release(a);
    }
}

int pl__dlgsvc_calls_in_flight(struct pl_dlgsvc *s) {
    pthread_mutex_lock(&s->calls.mu);
    int n = s->calls.in_flight;
    pthread_mutex_unlock(&s->calls.mu);
    return n;
}
