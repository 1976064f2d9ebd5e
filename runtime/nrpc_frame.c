/* nrpc_frame.c - status mapping, connecting, headers and frames of the NATS RPC protocol. */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "log.h"
#include "nrpc_impl.h"
#include "util.h"

int pl_nrpc_code_from_status(pl_status s) {
    switch (s) {
    case PL_OK: return PL_GRPC_OK;
    case PL_E_INVALID_ARG:
    case PL_E_FORMAT:
    case PL_E_UNSUPPORTED: return PL_GRPC_INVALID_ARGUMENT;
    case PL_E_NOT_FOUND: return PL_GRPC_NOT_FOUND;
    case PL_E_EXHAUSTED: return PL_GRPC_RESOURCE_EXHAUSTED;
    case PL_E_TIMEOUT: return PL_GRPC_DEADLINE_EXCEEDED;
    case PL_E_CANCELLED: return PL_GRPC_CANCELLED;
    case PL_E_UNAVAILABLE: return PL_GRPC_UNAVAILABLE;
    default: return PL_GRPC_INTERNAL;
    }
}

pl_status pl_nrpc_status_from_code(int code) {
    switch (code) {
    case PL_GRPC_OK: return PL_OK;
    case PL_GRPC_CANCELLED: return PL_E_CANCELLED;
    case PL_GRPC_INVALID_ARGUMENT: return PL_E_INVALID_ARG;
    case PL_GRPC_DEADLINE_EXCEEDED: return PL_E_TIMEOUT;
    case PL_GRPC_NOT_FOUND: return PL_E_NOT_FOUND;
    case PL_GRPC_RESOURCE_EXHAUSTED: return PL_E_EXHAUSTED;
    case PL_GRPC_UNIMPLEMENTED: return PL_E_UNSUPPORTED;
    case PL_GRPC_UNAVAILABLE: return PL_E_UNAVAILABLE;
    default: return PL_E_INTERNAL;
    }
}

const char *pl_grpc_code_name(int code) {
    switch (code) {
    case 0: return "OK";
    case 1: return "CANCELLED";
    case 3: return "INVALID_ARGUMENT";
    case 4: return "DEADLINE_EXCEEDED";
    case 5: return "NOT_FOUND";
    case 6: return "ALREADY_EXISTS";
    case 7: return "PERMISSION_DENIED";
    case 8: return "RESOURCE_EXHAUSTED";
    case 9: return "FAILED_PRECONDITION";
    case 10: return "ABORTED";
    case 11: return "OUT_OF_RANGE";
    case 12: return "UNIMPLEMENTED";
    case 13: return "INTERNAL";
    case 14: return "UNAVAILABLE";
    case 15: return "DATA_LOSS";
    case 16: return "UNAUTHENTICATED";
    default: return "UNKNOWN";
    }
}

static int hex_digit(char ch) {
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    return -1;
}

int pl_nrpc_shard_of_id(const char *id) {
    if (!id || strlen(id) != 32) return -1;
    for (int i = 0; i < 32; i++)
        if (hex_digit(id[i]) < 0) return -1;
    return hex_digit(id[0]) * 16 + hex_digit(id[1]);
}

size_t pl__nrpc_shard_part(const char *p) {
    if (!p || strncmp(p, ".shard.", 7) != 0) return 0;
    size_t n = strspn(p + 7, "0123456789");
    if (n == 0 || n > 3 || (n > 1 && p[7] == '0')) return 0;
    int k = 0;
    for (size_t i = 0; i < n; i++) k = k * 10 + (p[7 + i] - '0');
    return k < PL_NRPC_MAX_SHARDS ? 7 + n : 0;
}

bool pl__nrpc_svc_valid(const char *svc) {
    if (!svc || !*svc || strlen(svc) > 63) return false;
    size_t name = strcspn(svc, ". *>\t\r\n");
    if (name == 0) return false;
    if (!svc[name]) return true;
    size_t k = pl__nrpc_shard_part(svc + name);
    return k && !svc[name + k];
}

const char *pl__nrpc_default_url(const char *url) {
    if (url && *url) return url;
    const char *env = getenv("PARLEY_NATS_URL");
    if (env && *env) return env;
    return "nats://127.0.0.1:4222";
}

/* Exponential backoff: wait, 2*wait, 4*wait ... capped at 2 s. */
static int64_t reconnect_delay(natsConnection *nc, int attempts, void *closure) {
    (void)nc;
    int64_t base = (int64_t)(intptr_t)closure;
    int64_t d = base;
    for (int i = 1; i < attempts && d < 2000; i++) d *= 2;
    return d > 2000 ? 2000 : d;
}

/* Given to the retry-on-failed-connect option: without a callback natsConnection_Connect
 * would block until the server comes up instead of returning NATS_NOT_YET_CONNECTED. */
static void on_late_connect(natsConnection *nc, void *closure) {
    (void)nc;
    (void)closure;
    PL_LOGI("connected to NATS (after retrying)");
}

/* One URL, or a comma-separated list of the nodes of a NATS cluster ("nats://a:4222,
 * nats://b:4222"): the client connects to the first that answers, in the order given (no
 * shuffling, so an operator can point each replica at its own node first), and on a lost
 * connection reconnects to any node of the list or of those the cluster advertises. */
static natsStatus set_servers(natsOptions *no, const char *url) {
    if (!strchr(url, ',')) return natsOptions_SetURL(no, url);
    enum { MAX_SERVERS = 32 };
    char *copy = pl_strdup(url);
    const char *servers[MAX_SERVERS];
    int n = 0;
    if (!copy) return NATS_NO_MEMORY;
    for (char *p = copy, *next; p && n < MAX_SERVERS; p = next) {
        next = strchr(p, ',');
        if (next) *next++ = 0;
        while (*p == ' ') p++;
        size_t len = strlen(p);
        while (len && p[len - 1] == ' ') p[--len] = 0;
        if (*p) servers[n++] = p;
    }
    natsStatus ns = n ? natsOptions_SetServers(no, servers, n) : NATS_INVALID_ARG;
    if (ns == NATS_OK) ns = natsOptions_SetNoRandomize(no, true);
    pl_free(copy);
    return ns;
}

pl_status pl__nrpc_connect(const struct pl__nrpc_connect_opts *o, natsConnection **nc,
                           natsOptions **opts) {
    natsOptions *no = NULL;
    natsConnection *c = NULL;
    natsStatus ns;
    const char *url = pl__nrpc_default_url(o->url);
    *nc = NULL;
    *opts = NULL;

    ns = natsOptions_Create(&no);
    if (ns != NATS_OK) return PL_ERR(PL_E_NOMEM, "nats options: %s", natsStatus_GetText(ns));
    ns = set_servers(no, url);
    if (ns == NATS_OK && o->name) ns = natsOptions_SetName(no, o->name);
    if (ns == NATS_OK)
        ns = natsOptions_SetTimeout(no, o->connect_timeout_ms > 0 ? o->connect_timeout_ms : 2000);
    if (ns == NATS_OK) ns = natsOptions_SetMaxReconnect(no, o->max_reconnect);
    if (ns == NATS_OK)
        ns = natsOptions_SetCustomReconnectDelay(
            no, reconnect_delay,
            (void *)(intptr_t)(o->reconnect_wait_ms > 0 ? o->reconnect_wait_ms : 100));
    /* publish at once instead of waiting for the flusher thread: about 1 ms per hop less */
    if (ns == NATS_OK) ns = natsOptions_SetSendAsap(no, true);
    if (ns == NATS_OK && o->retry_on_failed_connect)
        ns = natsOptions_SetRetryOnFailedConnect(no, true, on_late_connect, NULL);
    if (ns == NATS_OK && o->on_closed) ns = natsOptions_SetClosedCB(no, o->on_closed, o->closure);
    if (ns == NATS_OK && o->on_disconnected)
        ns = natsOptions_SetDisconnectedCB(no, o->on_disconnected, o->closure);
    char shown[256]; /* errors reach logs: never the URL's credentials */
    if (ns != NATS_OK) {
        natsOptions_Destroy(no);
        return PL_ERR(PL_E_INVALID_ARG, "nats options for %s: %s",
                      pl_url_redact(url, shown, sizeof shown), natsStatus_GetText(ns));
    }
    ns = natsConnection_Connect(&c, no);
    if (ns != NATS_OK && !(o->retry_on_failed_connect && ns == NATS_NOT_YET_CONNECTED)) {
        natsOptions_Destroy(no);
        return PL_ERR(PL_E_UNAVAILABLE, "cannot connect to NATS at %s: %s",
                      pl_url_redact(url, shown, sizeof shown), natsStatus_GetText(ns));
    }
    *nc = c;
    *opts = no;
    return PL_OK;
}

const char *pl__nrpc_hdr(natsMsg *msg, const char *key) {
    const char *v = NULL;
    if (natsMsgHeader_Get(msg, key, &v) != NATS_OK) return NULL;
    return v;
}

bool pl__nrpc_hdr_i64(natsMsg *msg, const char *key, int64_t *out) {
    const char *v = pl__nrpc_hdr(msg, key);
    if (!v || !*v) return false;
    char *end = NULL;
    long long x = strtoll(v, &end, 10);
    if (!end || *end) return false;
    *out = (int64_t)x;
    return true;
}

int pl__nrpc_seq_fault(char *buf, size_t cap, const char *from, int64_t received, int64_t got,
                       bool heartbeat) {
    int64_t first = received + 1, last = heartbeat ? got : got - 1;
    char what[96];
    if (heartbeat)
        snprintf(what, sizeof what, "its heartbeat says %" PRId64 " sent, %" PRId64 " received",
                 got, received);
    else
        snprintf(what, sizeof what, "expected %" PRId64 ", got %" PRId64, first, got);
    if (last < first) {
        snprintf(buf, cap, "sequence error from the %s: %s", from, what);
        return PL_GRPC_DATA_LOSS;
    }
    if (last == first)
        snprintf(buf, cap, "frame %" PRId64 " from the %s lost in transit (%s)", first, from, what);
    else
        snprintf(buf, cap, "frames %" PRId64 "-%" PRId64 " from the %s lost in transit (%s)", first,
                 last, from, what);
    return PL_GRPC_UNAVAILABLE;
}

void pl__nrpc_copy_token(char *dst, size_t cap, const char *src) {
    size_t j = 0;
    if (!cap) return;
    for (size_t i = 0; src && src[i] && j + 1 < cap; i++) {
        unsigned char ch = (unsigned char)src[i];
        dst[j++] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : ' ';
    }
    dst[j] = 0;
}

pl_status pl__nrpc_msg(natsMsg **out, const char *subj, const char *reply, const void *data,
                       size_t n, const char *kind, int64_t seq, bool more, int code,
                       const char *err) {
    natsMsg *m = NULL;
    natsStatus ns;
    char num[32];
    *out = NULL;
    if (n > (size_t)INT32_MAX) return PL_ERR(PL_E_INVALID_ARG, "message of %zu bytes", n);
    ns = natsMsg_Create(&m, subj, reply, (const char *)data, (int)n);
    if (ns != NATS_OK) return PL_ERR(PL_E_NOMEM, "nats message: %s", natsStatus_GetText(ns));
    if (kind) ns = natsMsgHeader_Set(m, PL_NRPC_H_KIND, kind);
    if (ns == NATS_OK && seq >= 0) {
        snprintf(num, sizeof num, "%" PRId64, seq);
        ns = natsMsgHeader_Set(m, PL_NRPC_H_SEQ, num);
    }
    if (ns == NATS_OK && more) ns = natsMsgHeader_Set(m, PL_NRPC_H_MORE, "1");
    if (ns == NATS_OK && code >= 0) {
        snprintf(num, sizeof num, "%d", code);
        ns = natsMsgHeader_Set(m, PL_NRPC_H_STATUS, num);
    }
    if (ns == NATS_OK && err) {
        char line[512];
        pl__nrpc_copy_token(line, sizeof line, err);
        ns = natsMsgHeader_Set(m, PL_NRPC_H_ERROR, line);
    }
    if (ns != NATS_OK) {
        natsMsg_Destroy(m);
        return PL_ERR(PL_E_NOMEM, "nats header: %s", natsStatus_GetText(ns));
    }
    *out = m;
    return PL_OK;
}

pl_status pl__nrpc_publish(natsConnection *nc, natsMsg *msg) {
    natsStatus ns = natsConnection_PublishMsg(nc, msg);
    const char *subj = natsMsg_GetSubject(msg);
    pl_status st = PL_OK;
    if (ns != NATS_OK)
        st = PL_ERR(ns == NATS_MAX_PAYLOAD ? PL_E_EXHAUSTED : PL_E_UNAVAILABLE, "publish to %s: %s",
                    subj ? subj : "?", natsStatus_GetText(ns));
    pl__nrpc_msg_release(msg);
    return st;
}

pl_status pl__nrpc_publish_data(natsConnection *nc, const char *subj, const void *data, size_t n) {
    if (n > (size_t)INT32_MAX) return PL_ERR(PL_E_INVALID_ARG, "message of %zu bytes", n);
    natsStatus ns = natsConnection_Publish(nc, subj, n ? data : NULL, (int)n);
    if (ns != NATS_OK)
        return PL_ERR(ns == NATS_MAX_PAYLOAD ? PL_E_EXHAUSTED : PL_E_UNAVAILABLE,
                      "publish to %s: %s", subj ? subj : "?", natsStatus_GetText(ns));
    return PL_OK;
}

/* ---- deferred release (see nrpc_impl.h) ------------------------------------------------------ */

static pthread_mutex_t held_lock = PTHREAD_MUTEX_INITIALIZER;
static natsMsg *held[PL__NRPC_RELEASE_MSGS];
static int n_held;
static size_t held_bytes; /* payload bytes held, at most PL__NRPC_RELEASE_HELD_BYTES */

void pl__nrpc_msg_release(natsMsg *msg) {
    if (!msg) return;
    bool kept = false;
    size_t sz = (size_t)natsMsg_GetDataLength(msg);
    if (sz < PL__NRPC_RELEASE_BYTES) {
        pthread_mutex_lock(&held_lock);
        if (n_held < PL__NRPC_RELEASE_MSGS && held_bytes + sz <= PL__NRPC_RELEASE_HELD_BYTES) {
            held[n_held++] = msg;
            held_bytes += sz;
            kept = true;
        }
        pthread_mutex_unlock(&held_lock);
    }
    if (!kept) natsMsg_Destroy(msg);
}

void pl__nrpc_msg_release_flush(void) {
    static pthread_mutex_t flush_lock = PTHREAD_MUTEX_INITIALIZER; /* one flush at a time */
    static natsMsg *out[PL__NRPC_RELEASE_MSGS];
    pthread_mutex_lock(&flush_lock);
    pthread_mutex_lock(&held_lock);
    int n = n_held;
    memcpy(out, held, (size_t)n * sizeof *out);
    n_held = 0;
    held_bytes = 0;
    pthread_mutex_unlock(&held_lock);
    for (int i = 0; i < n; i++) natsMsg_Destroy(out[i]);
    pthread_mutex_unlock(&flush_lock);
}

int pl__nrpc_msg_release_held(void) {
    pthread_mutex_lock(&held_lock);
    int n = n_held;
    pthread_mutex_unlock(&held_lock);
    return n;
}

size_t pl__nrpc_frame_limit(natsConnection *nc, size_t override) {
    if (override) return override;
    int64_t mp = nc ? natsConnection_GetMaxPayload(nc) : 0;
    if (mp <= 0) mp = 1024 * 1024;
    if (mp <= 2 * PL__NRPC_HEADER_ROOM) return (size_t)(mp / 2 > 0 ? mp / 2 : 1);
    return (size_t)(mp - PL__NRPC_HEADER_ROOM);
}

pl_status pl__nrpc_publish_frames(natsConnection *nc, const char *subj, const char *reply,
                                  const void *data, size_t n, size_t frame_limit, int64_t *seq) {
    const uint8_t *p = data;
    size_t off = 0;
    if (frame_limit == 0) frame_limit = 1;
    do {
        size_t k = n - off < frame_limit ? n - off : frame_limit;
        bool more = off + k < n;
        natsMsg *m = NULL;
        PL_TRY(
            pl__nrpc_msg(&m, subj, reply, p ? p + off : NULL, k, "data", *seq + 1, more, -1, NULL));
        PL_TRY(pl__nrpc_publish(nc, m));
        (*seq)++;
        off += k;
    } while (off < n);
    return PL_OK;
}

pl_status pl__nrpc_buf_append(struct pl__nrpc_buf *b, const void *data, size_t n) {
    if (n == 0) return PL_OK;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n) cap *= 2;
        uint8_t *d = pl_realloc(b->data, cap);
        if (!d) return PL_ERR(PL_E_NOMEM, "reassembly buffer of %zu bytes", cap);
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, n);
    b->len += n;
    return PL_OK;
}

void pl__nrpc_buf_reset(struct pl__nrpc_buf *b) {
    pl_free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
