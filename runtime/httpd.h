/*
 * httpd.h - the HTTP side port of a process (/metrics, /healthz, /readyz), served by
 * libwebsockets on a thread of its own.
 *
 *   static int serve(void *ud, const char *method, const char *path, struct pl_strbuf *body,
 *                    const char **content_type) { ... return 200; }
 *   struct pl_httpd *h;
 *   PL_TRY(pl_httpd_create("127.0.0.1", 0, serve, ud, &h));   // 0: an ephemeral port
 *   printf("port %d\n", pl_httpd_port(h));
 *   pl_httpd_destroy(h);
 *
 * GET and HEAD are answered through the callback (HEAD without the body); POST through the
 * optional post callback of pl_httpd_create_opts, with the request's body (at most max_body
 * bytes, else 413); any other method gets 405. The request line and headers are parsed by
 * libwebsockets, which answers malformed requests itself. Keep-alive works; a connection idle
 * for 5 s is closed.
 *
 * WebSocket (optional, pl_httpd_create_ws or _opts): an upgrade that asks for a configured
 * subprotocol (Sec-WebSocket-Protocol) becomes a struct pl_httpd_ws; a protocol configured as
 * "" takes the upgrades that name none (they go to libwebsockets' first protocol, the HTTP
 * one, which hands them over; without such a protocol they are refused). Messages arrive whole
 * (fragments are joined) in on_message; pl_httpd_ws_send queues a message from any thread and
 * the server thread writes it when the socket is writable. A connection is reference-counted:
 * the server holds one reference until on_close, and code that keeps the handle past a
 * callback (another thread's reply) takes its own with pl_httpd_ws_retain.
 *
 * Thread-safety: create/destroy from one thread; the callbacks run on the server's thread,
 * one at a time; pl_httpd_ws_send/close/retain/release on any thread.
 */
#ifndef PL_HTTPD_H
#define PL_HTTPD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"
#include "strbuf.h"

#ifdef __cplusplus
extern "C" {
#endif

struct pl_httpd;

/* Fill body (and *content_type, a static string; default "text/plain; charset=utf-8") for
 * method ("GET"/"HEAD") and path (without the query string) and return the HTTP status code.
 * A body that ran out of memory (body->failed) is answered 500. */
typedef int (*pl_httpd_fn)(void *ud, const char *method, const char *path, struct pl_strbuf *body,
                           const char **content_type);

/* Listen on host (an IPv4 or IPv6 address; NULL or "" = 127.0.0.1) and port (0 = ephemeral) and
 * start serving. fn/ud are borrowed until destroy.
 * Errors: PL_E_INVALID_ARG (not an address, port outside 0..65535, NULL fn), PL_E_IO (cannot
 * listen: the port is taken, ...), PL_E_NOMEM, PL_E_INTERNAL (no thread).
 * OUT: *out; stop and free with pl_httpd_destroy(). */
pl_status pl_httpd_create(const char *host, int port, pl_httpd_fn fn, void *ud,
                          struct pl_httpd **out);
/* One WebSocket connection; see pl_httpd_ws_cbs. */
struct pl_httpd_ws;

/* WebSocket callbacks; all run on the server's thread. */
struct pl_httpd_ws_cbs {
    const char *protocol; /* subprotocol the client must ask for ("parley.converse.v1"); "" =
                             upgrades that ask for none */
    size_t max_message;   /* largest message (fragments joined); larger closes with 1009 */
    size_t max_queued;    /* bytes queued for the client before pl_httpd_ws_send says
                             PL_E_EXHAUSTED (0 = 8 MiB) */
    /* The upgrade request for `path` (no query string) with its Origin and Host headers
     * ("" when absent): return 0 to accept (then on_close will run), else an HTTP status
     * (403, 404) to refuse. Messages sent from here go out once the upgrade completes. */
    int (*on_open)(void *ud, struct pl_httpd_ws *ws, const char *path, const char *origin,
                   const char *host);
    /* A whole message; data borrowed for the call. */
    void (*on_message)(void *ud, struct pl_httpd_ws *ws, bool binary, const uint8_t *data,
                       size_t n);
    /* The connection is gone (either side closed, or the server stops). The last callback of
     * ws; the server's reference is dropped after it returns. */
    void (*on_close)(void *ud, struct pl_httpd_ws *ws);
};

/* pl_httpd_create, plus WebSocket connections for ws (copied; NULL = none). */
pl_status pl_httpd_create_ws(const char *host, int port, pl_httpd_fn fn, void *ud,
                             const struct pl_httpd_ws_cbs *ws, struct pl_httpd **out);

/* POST: fill body/content_type as pl_httpd_fn does for path (no query string), given the
 * request's body req/req_len (borrowed for the call; NUL-terminated). */
typedef int (*pl_httpd_post_fn)(void *ud, const char *path, const char *req, size_t req_len,
                                struct pl_strbuf *body, const char **content_type);

/* Everything pl_httpd_create_opts takes. */
struct pl_httpd_opts {
    const char *host;   /* as pl_httpd_create */
    int port;
    pl_httpd_fn fn;     /* GET/HEAD; required */
    pl_httpd_post_fn post; /* POST; NULL = 405 */
    size_t max_body;    /* largest POST body (0 = 64 KiB); larger gets 413 */
    void *ud;           /* for every callback */
    const struct pl_httpd_ws_cbs *ws; /* n_ws WebSocket protocols (copied), distinct names */
    size_t n_ws;        /* at most PL_HTTPD_MAX_WS */
    const char *tls_cert; /* PEM certificate chain file; with tls_key: the port speaks only
                             TLS (https://, wss://); NULL or "" = plaintext */
    const char *tls_key;  /* PEM private key file of tls_cert */
    const char *tls_client_ca; /* PEM CA file (with tls_cert): every client must show a
                                  certificate it signed, or the handshake fails; NULL or "" =
                                  none asked for */
};
#define PL_HTTPD_MAX_WS 4

/* The most general constructor; the others call it. Errors as pl_httpd_create, plus
 * PL_E_INVALID_ARG for more than PL_HTTPD_MAX_WS protocols, only one of tls_cert/tls_key, or
 * tls_client_ca without them; PL_E_IO for a certificate, key or CA file that cannot be read or
 * does not load. */
pl_status pl_httpd_create_opts(const struct pl_httpd_opts *o, struct pl_httpd **out);

/* The upgrade request's query string without '?' ("intent=transcription"; "" when none),
 * valid from on_open until the handle is freed. */
const char *pl_httpd_ws_query(const struct pl_httpd_ws *ws);

/* The upgrade request's Authorization header ("" when absent) and the client's address
 * ("127.0.0.1", "::1"; "" when unknown), valid from on_open until the handle is freed. */
const char *pl_httpd_ws_authorization(const struct pl_httpd_ws *ws);
const char *pl_httpd_ws_peer(const struct pl_httpd_ws *ws);

/* Queue one message (copied) for the client. Any thread. Errors: PL_E_CANCELLED when the
 * connection is closed or closing, PL_E_EXHAUSTED when max_queued bytes wait already (the
 * client reads too slowly; the message is dropped), PL_E_NOMEM. */
pl_status pl_httpd_ws_send(struct pl_httpd_ws *ws, bool binary, const void *data, size_t n);
/* Close after the queued messages with a close frame (code 1000..4999, reason <= 120 bytes).
 * Any thread; later sends fail with PL_E_CANCELLED. */
void pl_httpd_ws_close(struct pl_httpd_ws *ws, int code, const char *reason);
/* An application pointer kept with the connection (set in on_open; NULL before). */
void pl_httpd_ws_set_user(struct pl_httpd_ws *ws, void *user);
void *pl_httpd_ws_user(const struct pl_httpd_ws *ws);
void pl_httpd_ws_retain(struct pl_httpd_ws *ws);
/* Drop a reference; the last one frees the handle. NULL is a no-op. */
void pl_httpd_ws_release(struct pl_httpd_ws *ws);

/* The bound port (the real one after port 0). */
int pl_httpd_port(const struct pl_httpd *h);
/* Stop serving, close every connection, join the thread, free. NULL is a no-op. */
void pl_httpd_destroy(struct pl_httpd *h);

#ifdef __cplusplus
}
#endif
#endif
