/*
 * dialog_http.c - webhooks on one I/O thread (dialog.h, pl_dlg_http_*): every webhook call
 * parley-dialog's action pool has in flight is one easy handle on a libcurl multi handle,
 * driven by a single thread, so that a turn waiting for a webhook holds no thread at all
 * (docs/dialog.md, "Threads"). The pool thread that reached the webhook hands the request
 * over and goes on with other turns; the outcome comes back through the caller's callback,
 * which queues the turn on the pool again.
 *
 * A call is the blocking call's attempts, in the same order and with the same limits
 * (dialog_external.c builds the handle and judges each attempt): per attempt at most the
 * webhook's timeout_ms, never past the turn's deadline; a retryable failure (timeout,
 * refused, 5xx, 429) is tried again after the backoff (100 ms, doubling), which here is a
 * time the loop waits for, not a sleeping thread.
 *
 * The loop: new calls come in through a list under a mutex (curl_multi_wakeup interrupts the
 * poll); curl_multi_perform drives every transfer; finished transfers are judged, retried
 * (put aside until their backoff ends) or handed to their callback, outside the mutex.
 * A cancel (pl_dlg_http_cancel: the turn's client has gone) comes in the same way, by the
 * call's id: the loop takes the handle off the multi handle (libcurl closes the connection of
 * a transfer removed before its end), so no attempt follows, and ends the call at once.
 */
#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "dialog_impl.h"
#include "log.h"
#include "util.h"

struct call {
    uint64_t id; /* pl_dlg_http_start's, for pl_dlg_http_cancel */
    const struct pl__dlg_webhook *w;
    char *body; /* the request (owned; libcurl reads it in place) */
    int64_t deadline_us;
    void (*done)(void *ud, struct pl_dlg_call *c);
    void *ud;
    CURL *h;
    void *hdr; /* struct curl_slist * */
    struct pl__dlg_body reply;
    char errbuf[CURL_ERROR_SIZE];
    int64_t timeout_ms; /* of the attempt in flight */
    int64_t backoff_ms;
    int64_t retry_at_us; /* waiting for the backoff: when to try again (0 = not waiting) */
    int64_t t0_us;
    struct pl_dlg_call r;
    struct call *next;
};

/* A call to end at once (pl_dlg_http_cancel). */
struct cancel {
    uint64_t id;
    struct cancel *next;
};

struct pl_dlg_http {
    pthread_mutex_t mu;
    struct call *incoming; /* started, not yet on the multi handle (guarded by mu) */
    struct cancel *cancels; /* ids to end, not yet seen by the thread (guarded by mu) */
    uint64_t next_id;       /* guarded by mu */
    bool stopping;         /* guarded by mu: calls started from now on end at once */
    bool joined;           /* the thread has been joined (pl_dlg_http_stop) */
    CURLM *m;
    pthread_t thread;
    struct call *active;  /* on the multi handle, or waiting for the backoff (the thread's) */
    _Atomic int in_flight;
};

static int64_t left_ms(int64_t deadline_us) {
    return deadline_us ? (deadline_us - pl_time_mono_us()) / 1000 : INT64_MAX;
}

static void call_free(struct call *c) {
    if (c->h) curl_easy_cleanup(c->h);
    curl_slist_free_all(c->hdr);
    pl_free(c->reply.data);
    pl_free(c->body);
    pl_dlg_call_deinit(&c->r);
    pl_free(c);
}

/* Hand the outcome to the caller and free c (c is off the multi handle). */
static void finish(struct pl_dlg_http *h, struct call *c) {
    c->r.duration_ms = (pl_time_mono_us() - c->t0_us) / 1000;
    struct pl_dlg_call r = c->r;
    memset(&c->r, 0, sizeof c->r);
    void (*done)(void *, struct pl_dlg_call *) = c->done;
    void *ud = c->ud;
    call_free(c);
    if (h) atomic_fetch_sub(&h->in_flight, 1);
    done(ud, &r);
}

/* Start the next attempt of c on the multi handle; false when none may start (the turn's
 * deadline passed: c->r says why). */
static bool attempt(struct pl_dlg_http *h, struct call *c) {
    int64_t budget = left_ms(c->deadline_us);
    if (budget <= 0) {
        if (c->r.attempts == 0) pl__dlg_webhook_past_deadline(c->w, &c->r);
        return false;
    }
    c->timeout_ms = budget < c->w->timeout_ms ? budget : c->w->timeout_ms;
    curl_easy_setopt(c->h, CURLOPT_TIMEOUT_MS, (long)c->timeout_ms);
    curl_easy_setopt(c->h, CURLOPT_CONNECTTIMEOUT_MS, (long)c->timeout_ms);
    c->errbuf[0] = '\0';
    curl_easy_setopt(c->h, CURLOPT_ERRORBUFFER, c->errbuf);
    curl_easy_setopt(c->h, CURLOPT_PRIVATE, c);
    if (curl_multi_add_handle(h->m, c->h) != CURLM_OK) {
        c->r.st = PL_E_NOMEM;
        snprintf(c->r.error, sizeof c->r.error, "webhook '%s': libcurl could not start",
                 c->w->name);
        return false;
    }
    c->retry_at_us = 0;
    return true;
}

static void unlink_active(struct pl_dlg_http *h, struct call *c) {
    for (struct call **p = &h->active; *p; p = &(*p)->next)
        if (*p == c) {
            *p = c->next;
            break;
        }
    c->next = NULL;
}

/* A transfer ended: judge it, then retry later or finish. */
static void transfer_done(struct pl_dlg_http *h, struct call *c, CURLcode rc) {
    long code = 0;
    curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &code);
    curl_multi_remove_handle(h->m, c->h);
    bool retry = pl__dlg_webhook_outcome(c->w, rc, code, c->errbuf, c->timeout_ms, &c->reply,
                                         &c->r);
    if (retry && c->r.attempts <= c->w->retries && left_ms(c->deadline_us) > c->backoff_ms) {
        c->retry_at_us = pl_time_mono_us() + c->backoff_ms * 1000;
        c->backoff_ms *= 2;
        return;
    }
    unlink_active(h, c);
    finish(h, c);
}

/* End call id at once (PL_E_CANCELLED), if it is still in flight: off the multi handle (its
 * connection closed), no further attempt. */
static void cancel_call(struct pl_dlg_http *h, uint64_t id) {
    struct call *c = h->active;
    while (c && c->id != id) c = c->next;
    if (!c) return; /* finished already: its done has run */
    if (!c->retry_at_us) curl_multi_remove_handle(h->m, c->h);
    pl_dlg_call_deinit(&c->r); /* an earlier attempt's outcome */
    memset(&c->r, 0, sizeof c->r);
    c->r.st = PL_E_CANCELLED;
    c->r.attempts = 1;
    snprintf(c->r.error, sizeof c->r.error, "webhook '%s': the turn was cancelled", c->w->name);
    unlink_active(h, c);
    finish(h, c);
}

static void *io_main(void *ud) {
    struct pl_dlg_http *h = ud;
    for (;;) {
        pthread_mutex_lock(&h->mu);
        struct call *in = h->incoming;
        h->incoming = NULL;
        struct cancel *cancels = h->cancels;
        h->cancels = NULL;
        bool stopping = h->stopping;
        pthread_mutex_unlock(&h->mu);
        while (in) { /* new calls: their first attempt */
            struct call *c = in;
            in = in->next;
            c->next = h->active;
            h->active = c;
            if (stopping) {
                c->r.st = PL_E_CANCELLED;
                snprintf(c->r.error, sizeof c->r.error, "webhook '%s': parley-dialog is stopping",
                         c->w->name);
            }
            if (stopping || !attempt(h, c)) {
                unlink_active(h, c);
                finish(h, c);
            }
        }
        while (cancels) { /* after the new calls: a call cancelled as it starts is among them */
            struct cancel *k = cancels;
            cancels = k->next;
            cancel_call(h, k->id);
            pl_free(k);
        }
        if (stopping) break;
        int running = 0;
        curl_multi_perform(h->m, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(h->m, &left))) {
            if (msg->msg != CURLMSG_DONE) continue;
            struct call *c = NULL;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&c);
            if (c) transfer_done(h, c, msg->data.result);
        }
        /* calls whose backoff ended: the next attempt; the soonest other end bounds the poll */
        int64_t now = pl_time_mono_us(), wait_ms = 1000;
        for (struct call *c = h->active, *next; c; c = next) {
            next = c->next;
            if (!c->retry_at_us) continue;
            if (c->retry_at_us <= now) {
                if (!attempt(h, c)) {
                    unlink_active(h, c);
                    finish(h, c);
                }
                wait_ms = 0;
            } else if ((c->retry_at_us - now) / 1000 + 1 < wait_ms) {
                wait_ms = (c->retry_at_us - now) / 1000 + 1;
            }
        }
        if (wait_ms > 0) curl_multi_poll(h->m, NULL, 0, (int)wait_ms, NULL);
    }
    while (h->active) { /* stopping: every call in flight ends now */
        struct call *c = h->active;
        h->active = c->next;
        curl_multi_remove_handle(h->m, c->h);
        c->r.st = PL_E_CANCELLED;
        snprintf(c->r.error, sizeof c->r.error, "webhook '%s': parley-dialog is stopping",
                 c->w->name);
        finish(h, c);
    }
    return NULL;
}

pl_status pl_dlg_http_create(struct pl_dlg_http **out) {
    *out = NULL;
    PL_TRY(pl__dlg_curl_init());
    struct pl_dlg_http *h = pl_calloc(1, sizeof *h);
    if (!h) return PL_ERR(PL_E_NOMEM, "webhook I/O");
    if (!(h->m = curl_multi_init())) {
        pl_free(h);
        return PL_ERR(PL_E_NOMEM, "webhook I/O: libcurl multi handle");
    }
    pthread_mutex_init(&h->mu, NULL);
    if (pthread_create(&h->thread, NULL, io_main, h) != 0) {
        pthread_mutex_destroy(&h->mu);
        curl_multi_cleanup(h->m);
        pl_free(h);
        return PL_ERR(PL_E_NOMEM, "webhook I/O: cannot start its thread");
    }
    *out = h;
    return PL_OK;
}

void pl_dlg_http_stop(struct pl_dlg_http *h) {
    if (!h || h->joined) return;
    pthread_mutex_lock(&h->mu);
    h->stopping = true;
    pthread_mutex_unlock(&h->mu);
    curl_multi_wakeup(h->m);
    pthread_join(h->thread, NULL);
    h->joined = true;
    pthread_mutex_lock(&h->mu);
    struct call *in = h->incoming; /* none: the thread took them after stopping was set */
    h->incoming = NULL;
    struct cancel *cancels = h->cancels; /* cancels that came after: nothing left to end */
    h->cancels = NULL;
    pthread_mutex_unlock(&h->mu);
    while (cancels) {
        struct cancel *k = cancels;
        cancels = k->next;
        pl_free(k);
    }
    while (in) {
        struct call *c = in;
        in = in->next;
        c->r.st = PL_E_CANCELLED;
        snprintf(c->r.error, sizeof c->r.error, "webhook '%s': parley-dialog is stopping",
                 c->w->name);
        finish(h, c);
    }
}

void pl_dlg_http_destroy(struct pl_dlg_http *h) {
    if (!h) return;
    pl_dlg_http_stop(h);
    curl_multi_cleanup(h->m);
    pthread_mutex_destroy(&h->mu);
    pl_free(h);
}

int pl_dlg_http_in_flight(struct pl_dlg_http *h) { return atomic_load(&h->in_flight); }

uint64_t pl_dlg_http_start(struct pl_dlg_http *h, const struct pl_dlg_spec *spec, int webhook,
                           const char *body, int64_t deadline_us,
                           void (*done)(void *ud, struct pl_dlg_call *call), void *ud) {
    const struct pl__dlg_webhook *w = &spec->webhooks[webhook];
    struct call *c = pl_calloc(1, sizeof *c);
    if (!c) {
        struct pl_dlg_call r = {.st = PL_E_NOMEM};
        snprintf(r.error, sizeof r.error, "webhook '%s': out of memory", w->name);
        done(ud, &r);
        return 0;
    }
    c->w = w;
    c->deadline_us = deadline_us;
    c->done = done;
    c->ud = ud;
    c->backoff_ms = PL__DLG_WEBHOOK_BACKOFF_MS;
    c->t0_us = pl_time_mono_us();
    if (!w->url || !w->url[0]) {
        pl__dlg_webhook_unconfigured(w, &c->r);
        finish(NULL, c);
        return 0;
    }
    c->body = pl_strdup(body ? body : "");
    c->h = c->body ? pl__dlg_webhook_handle(w, c->body, &c->reply, &c->hdr) : NULL;
    if (!c->h) {
        c->r.st = PL_E_NOMEM;
        snprintf(c->r.error, sizeof c->r.error, "webhook '%s': libcurl could not start",
                 w->name);
        finish(NULL, c);
        return 0;
    }
    pthread_mutex_lock(&h->mu);
    bool stopping = h->stopping;
    uint64_t id = 0;
    if (!stopping) {
        atomic_fetch_add(&h->in_flight, 1);
        id = c->id = ++h->next_id;
        c->next = h->incoming;
        h->incoming = c;
    }
    pthread_mutex_unlock(&h->mu);
    if (stopping) { /* after pl_dlg_http_stop: ends at once */
        c->r.st = PL_E_CANCELLED;
        snprintf(c->r.error, sizeof c->r.error, "webhook '%s': parley-dialog is stopping",
                 w->name);
        finish(NULL, c);
        return 0;
    }
    curl_multi_wakeup(h->m);
    return id;
}

void pl_dlg_http_cancel(struct pl_dlg_http *h, uint64_t id) {
    if (!h || !id) return;
    struct cancel *k = pl_calloc(1, sizeof *k);
    if (!k) { /* the call ends at its own timeout */
        PL_LOGW("webhook call %llu: out of memory to cancel it", (unsigned long long)id);
        return;
    }
    k->id = id;
    pthread_mutex_lock(&h->mu);
    bool stopping = h->stopping; /* the thread ends every call itself */
    if (!stopping) {
        k->next = h->cancels;
        h->cancels = k;
    }
    pthread_mutex_unlock(&h->mu);
    if (stopping) pl_free(k);
    else curl_multi_wakeup(h->m);
}
