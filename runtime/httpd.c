/*
 * httpd.c - the HTTP side port on libwebsockets (httpd.h).
 *
 * One lws context with one vhost, serviced by a thread of its own. A request runs the
 * callback in LWS_CALLBACK_HTTP, which renders the whole body into the connection's state;
 * the headers go out at once and the body in chunks as the socket becomes writable, then the
 * connection waits for its next request (keep-alive).
 *
 * WebSocket connections (pl_httpd_create_ws) are a second protocol on the same vhost. A
 * connection's handle (struct pl_httpd_ws) is made when the upgrade is accepted and kept as
 * the wsi's opaque user data; the server thread owns the wsi and the list of open
 * connections, other threads only queue messages under the handle's mutex and wake the
 * server with lws_cancel_service, whose EVENT_WAIT_CANCELLED asks for a writable callback on
 * every connection with something queued. The handle is closed (no more sends) under its
 * mutex before the context can go away, so a sender never wakes a destroyed context.
 */
#include "httpd.h"

#include <arpa/inet.h>
#include <libwebsockets.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "log.h"

#define CHUNK 16384
#define WS_MAX_QUEUED_DEFAULT (8u << 20)
#define MAX_BODY_DEFAULT (64u << 10)

/* One message queued for a WebSocket client, with LWS_PRE bytes of headroom before it. */
struct ws_msg {
    struct ws_msg *next;
    size_t n;
    bool binary;
    unsigned char buf[]; /* LWS_PRE + n */
};

struct pl_httpd_ws {
    atomic_int refs;
    struct pl_httpd *h;
    const struct pl_httpd_ws_cbs *cbs; /* its protocol's callbacks (in h->ws) */
    void *user;
    char query[512];            /* the upgrade's query string */
    char auth[320];             /* its Authorization header */
    char peer[64];              /* the client's address */
    /* server thread only */
    struct lws *wsi;            /* NULL once gone */
    struct pl_httpd_ws *next;   /* h->ws_open list */
    bool listed;
    uint8_t *rx;                /* message being assembled from fragments */
    size_t rx_len, rx_cap;
    bool rx_binary, rx_too_big;
    /* guarded by mu */
    pthread_mutex_t mu;
    struct ws_msg *head, *tail;
    size_t queued;
    bool closed;                /* gone, or closing: sends fail */
    bool close_req;             /* close after the queue drains */
    int close_code;
    char close_reason[124];
};

struct pl_httpd {
    struct lws_context *ctx;
    struct lws_vhost *vh;
    int port;
    pl_httpd_fn fn;
    pl_httpd_post_fn post;
    size_t max_body;
    void *ud;
    pthread_t thread;
    bool started;
    atomic_bool stop;
    struct lws_protocols protocols[PL_HTTPD_MAX_WS + 2];
    struct pl_httpd_ws_cbs ws[PL_HTTPD_MAX_WS];
    char ws_protocol[PL_HTTPD_MAX_WS][64];
    size_t n_ws;
    const struct pl_httpd_ws_cbs *ws_bare; /* the "" protocol: upgrades that name none */
    struct pl_httpd_ws *ws_open; /* server thread only */
};

/* One connection's response in progress. */
struct conn {
    struct pl_strbuf body;
    size_t sent;
    bool have_body; /* GET: the body follows the headers */
    /* a POST whose body is arriving */
    bool in_post;
    bool post_too_big;
    struct pl_strbuf req;
    char path[512];
};

static void ws_gone(struct pl_httpd *h, struct lws *wsi);
static int ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                       size_t len);

static void lws_log(int level, const char *line) {
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == ' ')) n--;
    if (level & LLL_ERR)
        PL_LOGE("httpd: %.*s", (int)n, line);
    else
        PL_LOGW("httpd: %.*s", (int)n, line);
}

static void log_setup(void) { lws_set_log_level(LLL_ERR | LLL_WARN, lws_log); }

static int send_headers(struct lws *wsi, int code, const char *ctype, size_t len) {
    unsigned char buf[LWS_PRE + 512], *start = buf + LWS_PRE, *p = start, *end = buf + sizeof buf;
    if (lws_add_http_common_headers(wsi, (unsigned)code, ctype, (lws_filepos_t)len, &p, end) ||
        lws_finalize_write_http_header(wsi, start, &p, end))
        return -1;
    return 0;
}

/* Send a whole response (headers now, the body as the socket takes it). */
static int respond(struct lws *wsi, struct conn *c, int code, const char *ctype, bool head) {
    if (c->body.failed) {
        pl_strbuf_deinit(&c->body);
        pl_strbuf_init(&c->body);
        code = HTTP_STATUS_INTERNAL_SERVER_ERROR;
        ctype = "text/plain";
        pl_strbuf_append(&c->body, "out of memory\n");
    }
    if (send_headers(wsi, code, ctype, c->body.len)) return -1;
    c->have_body = !head && c->body.len > 0;
    if (!c->have_body) {
        pl_strbuf_deinit(&c->body);
        return lws_http_transaction_completed(wsi) ? -1 : 0;
    }
    lws_callback_on_writable(wsi);
    return 0;
}

/* The POST body is complete (or was too big): answer it. */
static int on_post_done(struct pl_httpd *h, struct lws *wsi, struct conn *c) {
    c->in_post = false;
    pl_strbuf_init(&c->body);
    const char *ctype = "text/plain; charset=utf-8";
    int code;
    if (c->post_too_big) {
        code = HTTP_STATUS_REQ_ENTITY_TOO_LARGE;
        pl_strbuf_appendf(&c->body, "request body larger than %zu bytes\n", h->max_body);
    } else if (c->req.failed) {
        code = HTTP_STATUS_INTERNAL_SERVER_ERROR;
        pl_strbuf_append(&c->body, "out of memory\n");
    } else {
        code = h->post(h->ud, c->path, c->req.data ? c->req.data : "", c->req.len, &c->body,
                       &ctype);
    }
    pl_strbuf_deinit(&c->req);
    return respond(wsi, c, code, ctype, false);
}

static int on_http(struct pl_httpd *h, struct lws *wsi, struct conn *c, const char *path) {
    const char *method = lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI)    ? "GET"
                         : lws_hdr_total_length(wsi, WSI_TOKEN_HEAD_URI) ? "HEAD"
                         : lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) && h->post ? "POST"
                                                                         : NULL;
    if (method && method[0] == 'P') { /* the body follows: LWS_CALLBACK_HTTP_BODY */
        char cl[32];
        cl[0] = 0;
        if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0)
            lws_hdr_copy(wsi, cl, sizeof cl, WSI_TOKEN_HTTP_CONTENT_LENGTH);
        pl_strbuf_init(&c->req);
        snprintf(c->path, sizeof c->path, "%.511s", path);
        c->in_post = true;
        unsigned long long n = strtoull(cl, NULL, 10);
        c->post_too_big = n > h->max_body;
        if (c->post_too_big || n == 0) return on_post_done(h, wsi, c); /* no body to wait for */
        return 0;
    }
    if (!method) {
        static const char msg[] = "method not allowed\n";
        if (send_headers(wsi, HTTP_STATUS_METHOD_NOT_ALLOWED, "text/plain", sizeof msg - 1))
            return -1;
        pl_strbuf_init(&c->body);
        pl_strbuf_append(&c->body, msg);
        if (c->body.failed) {
            pl_strbuf_deinit(&c->body);
            return -1;
        }
        c->have_body = true;
        lws_callback_on_writable(wsi);
        return 0;
    }
    pl_strbuf_init(&c->body);
    const char *ctype = "text/plain; charset=utf-8";
    int code = h->fn(h->ud, method, path, &c->body, &ctype);
    return respond(wsi, c, code, ctype, strcmp(method, "HEAD") == 0);
}

static int on_writeable(struct lws *wsi, struct conn *c) {
    if (!c->have_body) return 0;
    unsigned char buf[LWS_PRE + CHUNK];
    size_t n = c->body.len - c->sent;
    if (n > CHUNK) n = CHUNK;
    memcpy(buf + LWS_PRE, c->body.data + c->sent, n);
    bool last = c->sent + n == c->body.len;
    if (lws_write(wsi, buf + LWS_PRE, n, last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) != (int)n)
        return -1;
    c->sent += n;
    if (!last) {
        lws_callback_on_writable(wsi);
        return 0;
    }
    pl_strbuf_deinit(&c->body);
    c->have_body = false;
    c->sent = 0;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len) {
    /* mTLS: OpenSSL's verdict on the client's certificate (len) stands; libwebsockets would
     * take this callback's 0 as "accept" whatever OpenSSL found */
    if (reason == LWS_CALLBACK_OPENSSL_PERFORM_CLIENT_CERT_VERIFICATION) return len ? 0 : 1;
    struct pl_httpd *h = lws_context_user(lws_get_context(wsi));
    struct conn *c = user;
    switch (reason) {
    case LWS_CALLBACK_HTTP: {
        char path[1024];
        snprintf(path, sizeof path, "%.*s", (int)(len < sizeof path ? len : sizeof path - 1),
                 (const char *)in);
        return on_http(h, wsi, c, path);
    }
    case LWS_CALLBACK_HTTP_BODY:
        if (!c || !c->in_post) return 0;
        if (c->req.len + len > h->max_body)
            c->post_too_big = true;
        else
            pl_strbuf_append_n(&c->req, in, len);
        return 0;
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        return c && c->in_post ? on_post_done(h, wsi, c) : 0;
    case LWS_CALLBACK_HTTP_WRITEABLE: return on_writeable(wsi, c);
    case LWS_CALLBACK_WSI_DESTROY: /* an upgrade that ended before its protocol took it */
        ws_gone(h, wsi);
        return 0;
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
    case LWS_CALLBACK_CLOSED_HTTP:
        if (c && c->have_body) {
            pl_strbuf_deinit(&c->body);
            c->have_body = false;
        }
        if (c && c->in_post) {
            pl_strbuf_deinit(&c->req);
            c->in_post = false;
        }
        return 0;
    /* a WebSocket upgrade that names no subprotocol lands on this first protocol */
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
    case LWS_CALLBACK_ESTABLISHED:
    case LWS_CALLBACK_RECEIVE:
    case LWS_CALLBACK_SERVER_WRITEABLE:
    case LWS_CALLBACK_CLOSED: return ws_callback(wsi, reason, user, in, len);
    default: return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}

/* ---- WebSocket ------------------------------------------------------------------------------ */

static void ws_free(struct pl_httpd_ws *ws) {
    while (ws->head) {
        struct ws_msg *m = ws->head;
        ws->head = m->next;
        pl_free(m);
    }
    pl_free(ws->rx);
    pthread_mutex_destroy(&ws->mu);
    pl_free(ws);
}

void pl_httpd_ws_retain(struct pl_httpd_ws *ws) { atomic_fetch_add(&ws->refs, 1); }

void pl_httpd_ws_release(struct pl_httpd_ws *ws) {
    if (ws && atomic_fetch_sub(&ws->refs, 1) == 1) ws_free(ws);
}

void pl_httpd_ws_set_user(struct pl_httpd_ws *ws, void *user) { ws->user = user; }
const char *pl_httpd_ws_query(const struct pl_httpd_ws *ws) { return ws->query; }
const char *pl_httpd_ws_authorization(const struct pl_httpd_ws *ws) { return ws->auth; }
const char *pl_httpd_ws_peer(const struct pl_httpd_ws *ws) { return ws->peer; }
void *pl_httpd_ws_user(const struct pl_httpd_ws *ws) { return ws->user; }

pl_status pl_httpd_ws_send(struct pl_httpd_ws *ws, bool binary, const void *data, size_t n) {
    struct ws_msg *m = pl_malloc(sizeof *m + LWS_PRE + n);
    if (!m) return PL_ERR(PL_E_NOMEM, "websocket: out of memory");
    m->next = NULL;
    m->n = n;
    m->binary = binary;
    if (n) memcpy(m->buf + LWS_PRE, data, n);
    pl_status st = PL_OK;
    pthread_mutex_lock(&ws->mu);
    size_t cap = ws->cbs->max_queued ? ws->cbs->max_queued : WS_MAX_QUEUED_DEFAULT;
    if (ws->closed || ws->close_req) {
        st = PL_ERR(PL_E_CANCELLED, "websocket closed");
    } else if (ws->queued + n > cap) {
        st = PL_ERR(PL_E_EXHAUSTED, "websocket: %zu bytes wait for a slow client", ws->queued);
    } else {
        if (ws->tail)
            ws->tail->next = m;
        else
            ws->head = m;
        ws->tail = m;
        ws->queued += n;
        m = NULL;
        lws_cancel_service(ws->h->ctx); /* under mu: the context outlives an open handle */
    }
    pthread_mutex_unlock(&ws->mu);
    pl_free(m);
    return st;
}

void pl_httpd_ws_close(struct pl_httpd_ws *ws, int code, const char *reason) {
    pthread_mutex_lock(&ws->mu);
    if (!ws->closed && !ws->close_req) {
        ws->close_req = true;
        ws->close_code = code < 1000 || code > 4999 ? 1000 : code;
        snprintf(ws->close_reason, sizeof ws->close_reason, "%.120s", reason ? reason : "");
        lws_cancel_service(ws->h->ctx);
    }
    pthread_mutex_unlock(&ws->mu);
}

/* The wsi is going away (closed, refused or never established): unlist, tell the
 * application once, drop the server's reference. Server thread (or context destroy). */
static void ws_gone(struct pl_httpd *h, struct lws *wsi) {
    struct pl_httpd_ws *ws = lws_get_opaque_user_data(wsi);
    if (!ws) return;
    lws_set_opaque_user_data(wsi, NULL);
    pthread_mutex_lock(&ws->mu);
    ws->closed = true;
    pthread_mutex_unlock(&ws->mu);
    for (struct pl_httpd_ws **pp = &h->ws_open; *pp; pp = &(*pp)->next)
        if (*pp == ws) {
            *pp = ws->next;
            break;
        }
    ws->wsi = NULL;
    if (ws->cbs->on_close) ws->cbs->on_close(h->ud, ws);
    pl_httpd_ws_release(ws);
}

static void hdr(struct lws *wsi, enum lws_token_indexes t, char *buf, int cap) {
    buf[0] = 0;
    if (lws_hdr_total_length(wsi, t) > 0 && lws_hdr_copy(wsi, buf, cap, t) < 0) buf[0] = 0;
}

/* The protocol's callbacks: the lws protocol's user pointer, set on every WebSocket protocol
 * (the vhost holds a copy of h->protocols); none on the HTTP one: the "" protocol's. */
static const struct pl_httpd_ws_cbs *ws_cbs(struct pl_httpd *h, struct lws *wsi) {
    const struct lws_protocols *p = lws_get_protocol(wsi);
    return p && p->user ? p->user : h->ws_bare;
}

/* The upgrade: ask the application; on yes the handle rides on the wsi. */
static int ws_filter(struct pl_httpd *h, struct lws *wsi) {
    const struct pl_httpd_ws_cbs *cbs = ws_cbs(h, wsi);
    if (!cbs) return -1; /* no protocol takes upgrades that name none */
    char path[512], origin[256], host[256];
    hdr(wsi, WSI_TOKEN_GET_URI, path, sizeof path);
    hdr(wsi, WSI_TOKEN_ORIGIN, origin, sizeof origin);
    hdr(wsi, WSI_TOKEN_HOST, host, sizeof host);
    struct pl_httpd_ws *ws = pl_calloc(1, sizeof *ws);
    if (!ws) return -1;
    atomic_init(&ws->refs, 1); /* the server's */
    ws->h = h;
    ws->cbs = cbs;
    /* the query's arguments, joined with '&' (lws keeps them as fragments) */
    for (int i = 0; i < 16; i++) {
        char arg[256];
        if (lws_hdr_copy_fragment(wsi, arg, sizeof arg, WSI_TOKEN_HTTP_URI_ARGS, i) <= 0) break;
        size_t k = strlen(ws->query);
        snprintf(ws->query + k, sizeof ws->query - k, "%s%s", k ? "&" : "", arg);
    }
    hdr(wsi, WSI_TOKEN_HTTP_AUTHORIZATION, ws->auth, sizeof ws->auth);
    lws_get_peer_simple(wsi, ws->peer, sizeof ws->peer);
    pthread_mutex_init(&ws->mu, NULL);
    int refuse = cbs->on_open ? cbs->on_open(h->ud, ws, path, origin, host) : 0;
    if (refuse) {
        pthread_mutex_lock(&ws->mu);
        ws->closed = true;
        pthread_mutex_unlock(&ws->mu);
        pl_httpd_ws_release(ws);
        return -1;
    }
    lws_set_opaque_user_data(wsi, ws);
    return 0;
}

static int ws_receive(struct pl_httpd *h, struct lws *wsi, struct pl_httpd_ws *ws, const void *in,
                      size_t len) {
    if (lws_is_first_fragment(wsi)) {
        ws->rx_len = 0;
        ws->rx_binary = lws_frame_is_binary(wsi) != 0;
        ws->rx_too_big = false;
    }
    size_t max = ws->cbs->max_message ? ws->cbs->max_message : (1u << 20);
    if (ws->rx_len + len > max) ws->rx_too_big = true;
    if (!ws->rx_too_big) {
        if (ws->rx_len + len + 1 > ws->rx_cap) {
            size_t cap = ws->rx_cap ? ws->rx_cap : 4096;
            while (cap < ws->rx_len + len + 1) cap *= 2;
            uint8_t *p = pl_realloc(ws->rx, cap);
            if (!p) return -1;
            ws->rx = p;
            ws->rx_cap = cap;
        }
        if (len) memcpy(ws->rx + ws->rx_len, in, len);
        ws->rx_len += len;
        ws->rx[ws->rx_len] = 0; /* text messages read as C strings too */
    }
    if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi) > 0) return 0;
    if (ws->rx_too_big) {
        static const char why[] = "message too big";
        lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, (unsigned char *)why,
                         sizeof why - 1);
        return -1;
    }
    if (ws->cbs->on_message)
        ws->cbs->on_message(h->ud, ws, ws->rx_binary, ws->rx ? ws->rx : (uint8_t *)"", ws->rx_len);
    return 0;
}

static int ws_writeable(struct lws *wsi, struct pl_httpd_ws *ws) {
    pthread_mutex_lock(&ws->mu);
    struct ws_msg *m = ws->head;
    if (m) {
        ws->head = m->next;
        if (!ws->head) ws->tail = NULL;
        ws->queued -= m->n;
    }
    bool more = ws->head != NULL, close = !m && ws->close_req;
    int code = ws->close_code;
    char reason[124];
    snprintf(reason, sizeof reason, "%s", ws->close_reason);
    if (close) ws->closed = true;
    pthread_mutex_unlock(&ws->mu);
    if (close) {
        lws_close_reason(wsi, (enum lws_close_status)code, (unsigned char *)reason, strlen(reason));
        return -1;
    }
    if (!m) return 0;
    int w = lws_write(wsi, m->buf + LWS_PRE, m->n, m->binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT);
    bool ok = w >= (int)m->n;
    pl_free(m);
    if (!ok) return -1;
    if (more || close) lws_callback_on_writable(wsi);
    else {
        pthread_mutex_lock(&ws->mu);
        if (ws->head || ws->close_req) lws_callback_on_writable(wsi);
        pthread_mutex_unlock(&ws->mu);
    }
    return 0;
}

static int ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                       size_t len) {
    PL_UNUSED(user);
    struct pl_httpd *h = lws_context_user(lws_get_context(wsi));
    struct pl_httpd_ws *ws = lws_get_opaque_user_data(wsi);
    switch (reason) {
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION: return ws_filter(h, wsi);
    case LWS_CALLBACK_ESTABLISHED:
        if (!ws) return -1;
        ws->wsi = wsi;
        ws->next = h->ws_open;
        h->ws_open = ws;
        pthread_mutex_lock(&ws->mu); /* messages queued by on_open */
        if (ws->head || ws->close_req) lws_callback_on_writable(wsi);
        pthread_mutex_unlock(&ws->mu);
        return 0;
    case LWS_CALLBACK_RECEIVE: return ws ? ws_receive(h, wsi, ws, in, len) : -1;
    case LWS_CALLBACK_SERVER_WRITEABLE: return ws ? ws_writeable(wsi, ws) : 0;
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        for (struct pl_httpd_ws *o = h ? h->ws_open : NULL; o; o = o->next) {
            pthread_mutex_lock(&o->mu);
            bool want = o->head || o->close_req;
            pthread_mutex_unlock(&o->mu);
            if (want && o->wsi) lws_callback_on_writable(o->wsi);
        }
        return 0;
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        /* The client's close frame: the application lets the socket go (its streams, its
         * limits' slots) now, before lws echoes the close. lws drops the wsi only after the
         * client's FIN, which comes after the client has seen its close complete: a client
         * that connects again at once would find the old socket's slots still taken. */
        ws_gone(h, wsi);
        return 0;
    case LWS_CALLBACK_CLOSED:
    case LWS_CALLBACK_WSI_DESTROY: ws_gone(h, wsi); return 0;
    default: return 0;
    }
}

static void *httpd_main(void *arg) {
    struct pl_httpd *h = arg;
    while (!atomic_load(&h->stop))
        if (lws_service(h->ctx, 0) < 0) break;
    return NULL;
}

/* A certificate or key file that cannot be opened is named here: lws only says it failed. */
static pl_status tls_files_readable(const struct pl_httpd_opts *o) {
    const char *files[3] = {o->tls_cert, o->tls_key, o->tls_client_ca};
    static const char *const what[3] = {"certificate", "key", "client CA file"};
    for (int i = 0; i < 3; i++) {
        if (!files[i] || !files[i][0]) continue;
        FILE *f = fopen(files[i], "rb");
        if (!f)
            return PL_ERR(PL_E_IO, "httpd: TLS %s %s cannot be read", what[i], files[i]);
        fclose(f);
    }
    return PL_OK;
}

pl_status pl_httpd_create(const char *host, int port, pl_httpd_fn fn, void *ud,
                          struct pl_httpd **out) {
    return pl_httpd_create_ws(host, port, fn, ud, NULL, out);
}

pl_status pl_httpd_create_ws(const char *host, int port, pl_httpd_fn fn, void *ud,
                             const struct pl_httpd_ws_cbs *ws, struct pl_httpd **out) {
    struct pl_httpd_opts o = {.host = host, .port = port, .fn = fn, .ud = ud, .ws = ws,
                              .n_ws = ws && ws->protocol ? 1 : 0};
    return pl_httpd_create_opts(&o, out);
}

pl_status pl_httpd_create_opts(const struct pl_httpd_opts *o, struct pl_httpd **out) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    if (!out || !o || !o->fn || o->port < 0 || o->port > 65535 || o->n_ws > PL_HTTPD_MAX_WS)
        return PL_ERR(PL_E_INVALID_ARG, "httpd: bad arguments (port %d, %zu protocols)",
                      o ? o->port : -1, o ? o->n_ws : 0);
    const char *host = o->host;
    int port = o->port;
    *out = NULL;
    bool tls = o->tls_cert && o->tls_cert[0];
    if (tls != (o->tls_key && o->tls_key[0]))
        return PL_ERR(PL_E_INVALID_ARG, "httpd: a TLS certificate and its key go together");
    bool mtls = o->tls_client_ca && o->tls_client_ca[0];
    if (mtls && !tls)
        return PL_ERR(PL_E_INVALID_ARG, "httpd: client certificates need TLS (a certificate "
                      "and its key)");
    PL_TRY(tls_files_readable(o));
    const char *addr = host && *host ? host : "127.0.0.1";
    unsigned char tmp[sizeof(struct in6_addr)];
    bool v6 = inet_pton(AF_INET6, addr, tmp) == 1;
    if (!v6 && inet_pton(AF_INET, addr, tmp) != 1)
        return PL_ERR(PL_E_INVALID_ARG, "httpd: '%s' is not an IPv4 or IPv6 address", addr);
    pthread_once(&once, log_setup);
    pl_status st = PL_OK;
    struct pl_httpd *h = pl_calloc(1, sizeof *h);
    if (!h) return PL_ERR(PL_E_NOMEM, "httpd");
    h->fn = o->fn;
    h->post = o->post;
    h->max_body = o->max_body ? o->max_body : MAX_BODY_DEFAULT;
    h->ud = o->ud;
    atomic_init(&h->stop, false);
    h->protocols[0] = (struct lws_protocols){"http", callback, sizeof(struct conn), 0, 0, NULL, 0};
    for (size_t i = 0, k = 1; i < o->n_ws; i++) {
        h->ws[i] = o->ws[i];
        snprintf(h->ws_protocol[i], sizeof h->ws_protocol[i], "%s",
                 o->ws[i].protocol ? o->ws[i].protocol : "");
        h->ws[i].protocol = h->ws_protocol[i];
        if (!h->ws_protocol[i][0]) { /* served by protocols[0] */
            h->ws_bare = &h->ws[i];
            continue;
        }
        h->protocols[k++] =
            (struct lws_protocols){h->ws_protocol[i], ws_callback, 0, 65536, 0, &h->ws[i], 0};
    }
    h->n_ws = o->n_ws;

    struct lws_context_creation_info ci;
    memset(&ci, 0, sizeof ci);
    ci.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
    if (!v6) ci.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
    if (tls) ci.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    ci.user = h;
    ci.count_threads = 1;
    h->ctx = lws_create_context(&ci);
    if (!h->ctx) {
        st = PL_ERR(PL_E_NOMEM, "httpd: cannot create the libwebsockets context");
        goto fail;
    }
    struct lws_context_creation_info vi;
    memset(&vi, 0, sizeof vi);
    vi.options = ci.options;
    vi.port = port;
    vi.iface = addr;
    vi.protocols = h->protocols;
    vi.vhost_name = "parley-httpd";
    vi.keepalive_timeout = 5;
    vi.timeout_secs = 5;
    if (tls) { /* TLS only: a plaintext client fails the handshake */
        vi.ssl_cert_filepath = o->tls_cert;
        vi.ssl_private_key_filepath = o->tls_key;
        vi.alpn = "http/1.1"; /* not h2: the body writer and the sockets speak HTTP/1.1 */
    }
    if (mtls) { /* no certificate, or one the CA did not sign: the handshake fails */
        vi.ssl_ca_filepath = o->tls_client_ca;
        vi.options |= LWS_SERVER_OPTION_REQUIRE_VALID_OPENSSL_CLIENT_CERT;
    }
    h->vh = lws_create_vhost(h->ctx, &vi);
    if (!h->vh) {
        st = tls ? PL_ERR(PL_E_IO, "httpd: cannot listen on %s:%d with TLS (port taken, or "
                                   "certificate %s / key %s%s%s do not load)",
                          addr, port, o->tls_cert, o->tls_key, mtls ? " / client CA " : "",
                          mtls ? o->tls_client_ca : "")
                 : PL_ERR(PL_E_IO, "httpd: cannot listen on %s:%d (taken, or not an address here)",
                          addr, port);
        goto fail;
    }
    h->port = lws_get_vhost_listen_port(h->vh);
    if (pthread_create(&h->thread, NULL, httpd_main, h) != 0) {
        st = PL_ERR(PL_E_INTERNAL, "httpd: thread");
        goto fail;
    }
    h->started = true;
    *out = h;
    return PL_OK;
fail:
    pl_httpd_destroy(h);
    return st;
}

int pl_httpd_port(const struct pl_httpd *h) { return h ? h->port : -1; }

void pl_httpd_destroy(struct pl_httpd *h) {
    if (!h) return;
    if (h->started) {
        atomic_store(&h->stop, true);
        lws_cancel_service(h->ctx);
        pthread_join(h->thread, NULL);
    }
    if (h->ctx) lws_context_destroy(h->ctx);
    pl_free(h);
}
