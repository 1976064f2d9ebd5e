/*
 * httpd.c - the HTTP side port on libwebsockets (httpd.h).
 *
 * One lws context with one vhost, serviced by a thread of its own. A request runs the
 * callback in LWS_CALLBACK_HTTP, which renders the whole body into the connection's state;
 * the headers go out at once and the body in chunks as the socket becomes writable, then the
 * connection waits for its next request (keep-alive).
 */
#include "httpd.h"

#include <arpa/inet.h>
#include <libwebsockets.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "log.h"

#define CHUNK 16384

struct pl_httpd {
    struct lws_context *ctx;
    struct lws_vhost *vh;
    int port;
    pl_httpd_fn fn;
    void *ud;
    pthread_t thread;
    bool started;
    atomic_bool stop;
    struct lws_protocols protocols[2];
};

/* One connection's response in progress. */
struct conn {
    struct pl_strbuf body;
    size_t sent;
    bool have_body; /* GET: the body follows the headers */
};

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

static int on_http(struct pl_httpd *h, struct lws *wsi, struct conn *c, const char *path) {
    const char *method = lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI)    ? "GET"
                         : lws_hdr_total_length(wsi, WSI_TOKEN_HEAD_URI) ? "HEAD"
                                                                         : NULL;
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
    if (c->body.failed) {
        pl_strbuf_deinit(&c->body);
        pl_strbuf_init(&c->body);
        code = HTTP_STATUS_INTERNAL_SERVER_ERROR;
        ctype = "text/plain";
        pl_strbuf_append(&c->body, "out of memory\n");
    }
    if (send_headers(wsi, code, ctype, c->body.len)) return -1;
    c->have_body = strcmp(method, "HEAD") != 0 && c->body.len > 0;
    if (!c->have_body) {
        pl_strbuf_deinit(&c->body);
        return lws_http_transaction_completed(wsi) ? -1 : 0;
    }
    lws_callback_on_writable(wsi);
    return 0;
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
    struct pl_httpd *h = lws_context_user(lws_get_context(wsi));
    struct conn *c = user;
    switch (reason) {
    case LWS_CALLBACK_HTTP: {
        char path[1024];
        snprintf(path, sizeof path, "%.*s", (int)(len < sizeof path ? len : sizeof path - 1),
                 (const char *)in);
        return on_http(h, wsi, c, path);
    }
    case LWS_CALLBACK_HTTP_WRITEABLE: return on_writeable(wsi, c);
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
    case LWS_CALLBACK_CLOSED_HTTP:
        if (c && c->have_body) {
            pl_strbuf_deinit(&c->body);
            c->have_body = false;
        }
        return 0;
    default: return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}

static void *httpd_main(void *arg) {
    struct pl_httpd *h = arg;
    while (!atomic_load(&h->stop))
        if (lws_service(h->ctx, 0) < 0) break;
    return NULL;
}

pl_status pl_httpd_create(const char *host, int port, pl_httpd_fn fn, void *ud,
                          struct pl_httpd **out) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    if (!out || !fn || port < 0 || port > 65535)
        return PL_ERR(PL_E_INVALID_ARG, "httpd: bad arguments (port %d)", port);
    *out = NULL;
    const char *addr = host && *host ? host : "127.0.0.1";
    unsigned char tmp[sizeof(struct in6_addr)];
    bool v6 = inet_pton(AF_INET6, addr, tmp) == 1;
    if (!v6 && inet_pton(AF_INET, addr, tmp) != 1)
        return PL_ERR(PL_E_INVALID_ARG, "httpd: '%s' is not an IPv4 or IPv6 address", addr);
    pthread_once(&once, log_setup);
    pl_status st = PL_OK;
    struct pl_httpd *h = pl_calloc(1, sizeof *h);
    if (!h) return PL_ERR(PL_E_NOMEM, "httpd");
    h->fn = fn;
    h->ud = ud;
    atomic_init(&h->stop, false);
    h->protocols[0] = (struct lws_protocols){"http", callback, sizeof(struct conn), 0, 0, NULL, 0};

    struct lws_context_creation_info ci;
    memset(&ci, 0, sizeof ci);
    ci.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
    if (!v6) ci.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
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
    h->vh = lws_create_vhost(h->ctx, &vi);
    if (!h->vh) {
        st = PL_ERR(PL_E_IO, "httpd: cannot listen on %s:%d (taken, or not an address here)",
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
