/*
 * dialog_external.c - external actions (dialog_impl.h): the JSON a `webhook` or `nats` action
 * sends and the checks on what comes back, and the HTTP side of `webhook`: one POST of the
 * turn's JSON to a URL the spec declared, through libcurl's easy interface.
 *
 * Two ways to make the call: pl__dlg_webhook_call blocks its thread (a turn run without a
 * replay: the voice thread, a worker without an action pool, the tests); parley-dialog's
 * action pool leaves webhooks to dialog_http.c, which drives the same handle, attempts and
 * outcomes on one I/O thread for every call in flight. Both end at timeout_ms x (retries + 1)
 * plus the backoff, never past the turn's deadline (docs/dialog.md, "External actions").
 *
 * Safety: only the spec's URLs are called (no URL ever comes from the user); http and https
 * only, redirects not followed (a redirect is a failure), the reply capped at 64 KiB, no
 * signals (CURLOPT_NOSIGNAL: threads), the URL never logged (it may hold a key).
 */
#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "dialog_impl.h"
#include "util.h"

#define MAX_REPLY (64 * 1024)

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void) { curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

pl_status pl__dlg_curl_init(void) {
    pthread_once(&curl_once, curl_init);
    return curl_init_rc == CURLE_OK ? PL_OK
                                    : PL_ERR(PL_E_UNAVAILABLE, "libcurl: %s",
                                             curl_easy_strerror(curl_init_rc));
}

void pl_dlg_call_deinit(struct pl_dlg_call *c) {
    pl_free(c->body);
    memset(c, 0, sizeof *c);
}

/* ---- the replay of a turn's calls (dialog.h) ------------------------------------------- */

void pl_dlg_replay_init(struct pl_dlg_replay *r) {
    memset(r, 0, sizeof *r);
    r->pending = -1;
}

void pl_dlg_replay_deinit(struct pl_dlg_replay *r) {
    for (int i = 0; i < r->n_calls; i++) pl_dlg_call_deinit(&r->calls[i]);
    pl_free(r->calls);
    pl_free(r->pending_body);
    pl_free(r->ids);
    pl_dlg_replay_init(r);
}

pl_status pl_dlg_replay_add(struct pl_dlg_replay *r, struct pl_dlg_call *c) {
    if (r->n_calls == r->cap_calls) {
        int cap = r->cap_calls ? 2 * r->cap_calls : 4;
        struct pl_dlg_call *v = pl_realloc(r->calls, (size_t)cap * sizeof *v);
        if (!v) {
            pl_dlg_call_deinit(c);
            return PL_ERR(PL_E_NOMEM, "replay");
        }
        r->calls = v;
        r->cap_calls = cap;
    }
    r->calls[r->n_calls++] = *c;
    memset(c, 0, sizeof *c);
    return PL_OK;
}

pl_status pl_dlg_replay_keep_ids(struct pl_dlg_replay *r, const struct pl_dlg_state *st) {
    int n = st->n_ctx - r->n_loaded;
    if (n <= 0) return PL_OK;
    char(*ids)[PL_DLG_ID_LEN] = pl_calloc((size_t)n, sizeof *ids);
    if (!ids) return PL_ERR(PL_E_NOMEM, "replay");
    for (int i = 0; i < n; i++) snprintf(ids[i], sizeof ids[i], "%s", st->ctx[r->n_loaded + i].id);
    pl_free(r->ids);
    r->ids = ids;
    r->n_ids = n;
    return PL_OK;
}

void pl_dlg_replay_prepare(struct pl_dlg_replay *r, struct pl_dlg_state *st) {
    r->n_loaded = st->n_ctx;
    r->next = 0;
    r->pending_kind = PL_DLG_CALL_NONE;
    r->pending = -1;
    r->pending_subject = NULL;
    r->pending_timeout_ms = 0;
    pl_free(r->pending_body);
    r->pending_body = NULL;
    st->preset_ids = (const char(*)[PL_DLG_ID_LEN])r->ids;
    st->n_preset_ids = r->n_ids;
    st->next_preset_id = 0;
}

/* ---- one POST ------------------------------------------------------------------------------ */

static size_t on_data(char *p, size_t size, size_t n, void *ud) {
    struct pl__dlg_body *b = ud;
    size_t k = size * n;
    if (b->len + k > MAX_REPLY) {
        b->too_big = true;
        return 0; /* aborts the transfer: CURLE_WRITE_ERROR */
    }
    char *d = pl_realloc(b->data, b->len + k + 1);
    if (!d) return 0;
    memcpy(d + b->len, p, k);
    b->len += k;
    d[b->len] = '\0';
    b->data = d;
    return k;
}

/* Milliseconds left before deadline_us (0 = none: INT64_MAX). */
static int64_t left_ms(int64_t deadline_us) {
    return deadline_us ? (deadline_us - pl_time_mono_us()) / 1000 : INT64_MAX;
}

static void sleep_ms(int64_t ms) {
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

void *pl__dlg_webhook_handle(const struct pl__dlg_webhook *w, const char *body,
                             struct pl__dlg_body *reply, void **hdr_out) {
    *hdr_out = NULL;
    if (pl__dlg_curl_init() != PL_OK) return NULL;
    CURL *h = curl_easy_init();
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
    hdr = hdr ? curl_slist_append(hdr, "Accept: application/json") : NULL;
    for (int i = 0; hdr && i < w->n_headers; i++) hdr = curl_slist_append(hdr, w->headers[i]);
    if (!h || !hdr) {
        if (h) curl_easy_cleanup(h);
        curl_slist_free_all(hdr);
        return NULL;
    }
    curl_easy_setopt(h, CURLOPT_URL, w->url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    curl_easy_setopt(h, CURLOPT_USERAGENT, "parley-dialog");
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, reply);
    *hdr_out = hdr;
    return h;
}

bool pl__dlg_webhook_outcome(const struct pl__dlg_webhook *w, int rc_, long code,
                             const char *errbuf, int64_t timeout_ms, struct pl__dlg_body *b,
                             struct pl_dlg_call *r) {
    CURLcode rc = (CURLcode)rc_;
    r->http_status = (int)code;
    r->attempts++;
    if (rc == CURLE_OK && code >= 200 && code < 300) {
        pl_free(r->body);
        r->body = b->data ? b->data : pl_strdup("");
        r->len = b->len;
        b->data = NULL;
        b->len = 0;
        r->st = r->body ? PL_OK : PL_ERR(PL_E_NOMEM, "webhook reply");
        r->error[0] = '\0';
        return false;
    }
    bool too_big = b->too_big;
    pl_free(b->data);
    memset(b, 0, sizeof *b);
    bool retry = false;
    if (rc == CURLE_OPERATION_TIMEDOUT) {
        r->st = PL_E_TIMEOUT;
        snprintf(r->error, sizeof r->error, "webhook '%s': no reply within %lld ms", w->name,
                 (long long)timeout_ms);
        retry = true;
    } else if (too_big) {
        r->st = PL_E_EXHAUSTED;
        snprintf(r->error, sizeof r->error, "webhook '%s': reply larger than %d bytes", w->name,
                 MAX_REPLY);
    } else if (rc != CURLE_OK) {
        r->st = PL_E_UNAVAILABLE;
        snprintf(r->error, sizeof r->error, "webhook '%s': %.160s", w->name,
                 errbuf && errbuf[0] ? errbuf : curl_easy_strerror(rc));
        retry = rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
                rc == CURLE_GOT_NOTHING || rc == CURLE_RECV_ERROR || rc == CURLE_SEND_ERROR;
    } else {
        r->st = PL_E_UNAVAILABLE;
        snprintf(r->error, sizeof r->error, "webhook '%s': HTTP status %ld", w->name, code);
        retry = code >= 500 || code == 429;
    }
    return retry;
}

void pl__dlg_webhook_unconfigured(const struct pl__dlg_webhook *w, struct pl_dlg_call *r) {
    r->st = PL_E_UNAVAILABLE;
    r->unconfigured = true;
    snprintf(r->error, sizeof r->error, "webhook '%s' is not configured%s%s", w->name,
             w->url_env ? ": set $" : "", w->url_env ? w->url_env : "");
}

void pl__dlg_webhook_past_deadline(const struct pl__dlg_webhook *w, struct pl_dlg_call *r) {
    r->st = PL_E_TIMEOUT;
    snprintf(r->error, sizeof r->error, "webhook '%s': the turn's deadline passed", w->name);
}

void pl__dlg_webhook_call(const struct pl__dlg_webhook *w, const char *body, int64_t deadline_us,
                          struct pl_dlg_call *r) {
    memset(r, 0, sizeof *r);
    int64_t t0 = pl_time_mono_us();
    if (!w->url || !w->url[0]) {
        pl__dlg_webhook_unconfigured(w, r);
        return;
    }
    struct pl__dlg_body b = {0};
    void *hdr = NULL;
    CURL *h = pl__dlg_webhook_handle(w, body, &b, &hdr);
    if (!h) {
        r->st = PL_E_NOMEM;
        snprintf(r->error, sizeof r->error, "webhook '%s': libcurl could not start", w->name);
        return;
    }
    int64_t backoff = PL__DLG_WEBHOOK_BACKOFF_MS;
    for (int i = 0; i <= w->retries; i++) {
        int64_t budget = left_ms(deadline_us);
        if (budget <= 0) {
            if (i == 0) pl__dlg_webhook_past_deadline(w, r);
            break;
        }
        int64_t timeout_ms = budget < w->timeout_ms ? budget : w->timeout_ms;
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
        char errbuf[CURL_ERROR_SIZE] = "";
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
        CURLcode rc = curl_easy_perform(h);
        long code = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
        if (!pl__dlg_webhook_outcome(w, rc, code, errbuf, timeout_ms, &b, r)) break;
        if (i == w->retries || left_ms(deadline_us) <= backoff) break;
        sleep_ms(backoff);
        backoff *= 2;
    }
    curl_slist_free_all(hdr);
    curl_easy_cleanup(h);
    r->duration_ms = (pl_time_mono_us() - t0) / 1000;
}

/* ---- the JSON in and out ------------------------------------------------------------------ */

char *pl__dlg_ext_request(const struct pl_dlg_state *st, const struct pl_dlg_ctx *c, int turn,
                          const char *intent, const char *text, const struct pl_dlg_nlu *nlu,
                          const char *kind, const char *name) {
    json_t *slots = json_object(), *nslots = json_array();
    for (int i = 0; slots && c && i < c->n_slots; i++)
        json_object_set_new(slots, c->slots[i].name, json_string(c->slots[i].value));
    for (int i = 0; nslots && nlu && i < nlu->n_slots; i++)
        json_array_append_new(nslots, json_pack("{s:s,s:s}", "name", nlu->slots[i].label,
                                                "value", nlu->slots[i].value));
    json_t *n = json_pack("{s:s,s:f,s:o*}", "intent", nlu && nlu->intent ? nlu->intent : "",
                          "score", nlu ? (double)nlu->score : 0.0, "slots", nslots);
    json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:i,s:s,s:s,s:o*,s:o*}", "action", kind,
                          "name", name, "dialog", st->dialog, "user", st->user, "session",
                          st->session_id, "context", c ? c->id : "", "flow", c ? c->flow : "",
                          "turn", turn, "intent", intent ? intent : "", "utterance", text,
                          "slots", slots, "nlu", n);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL; /* pl_malloc'd: dialog_state.c */
    json_decref(o);
    return s;
}

static bool scalar_ok(const json_t *v, bool null_ok) {
    return json_is_string(v) || json_is_number(v) || (null_ok && json_is_null(v));
}

static pl_status members_ok(const json_t *o, const char *key, bool null_ok) {
    const json_t *m = json_object_get(o, key);
    if (!m) return PL_OK;
    if (!json_is_object(m)) return PL_ERR(PL_E_FORMAT, "\"%s\" is not an object", key);
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)m, k, v) {
        if (!scalar_ok(v, null_ok))
            return PL_ERR(PL_E_FORMAT, "\"%s\".\"%.64s\" is not a string%s", key, k,
                          null_ok ? ", number or null" : " or number");
    }
    return PL_OK;
}

pl_status pl__dlg_ext_reply_parse(const char *body, size_t len, struct json_t **out) {
    *out = NULL;
    json_error_t e;
    json_t *o = json_loadb(body ? body : "", len, 0, &e);
    if (!o) return PL_ERR(PL_E_FORMAT, "the reply is not JSON (%s)", e.text);
    pl_status st = PL_OK;
    const json_t *t = json_object_get(o, "text"), *c = json_object_get(o, "close");
    if (!json_is_object(o)) st = PL_ERR(PL_E_FORMAT, "the reply is not a JSON object");
    else if (t && !json_is_string(t) && !json_is_null(t))
        st = PL_ERR(PL_E_FORMAT, "\"text\" is not a string");
    else if (c && !json_is_boolean(c)) st = PL_ERR(PL_E_FORMAT, "\"close\" is not true or false");
    if (st == PL_OK) st = members_ok(o, "vars", false);
    if (st == PL_OK) st = members_ok(o, "slots", true);
    if (st != PL_OK) {
        json_decref(o);
        return st;
    }
    *out = o;
    return PL_OK;
}

char *pl__dlg_json_text(const struct json_t *v) {
    if (json_is_string(v)) return pl_strdup(json_string_value(v));
    char buf[64];
    if (json_is_integer(v)) snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v));
    else snprintf(buf, sizeof buf, "%g", json_number_value(v));
    return pl_strdup(buf);
}

void pl__dlg_excerpt(char *dst, size_t n, const char *s) {
    size_t i = 0;
    for (; s && s[i] && i + 1 < n; i++)
        dst[i] = (unsigned char)s[i] >= ' ' && (unsigned char)s[i] < 0x7f ? s[i] : '?';
    dst[i] = '\0';
}
