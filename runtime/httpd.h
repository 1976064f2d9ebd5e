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
 * GET and HEAD are answered through the callback (HEAD without the body); any other method
 * gets 405; the request line and headers are parsed by libwebsockets, which answers malformed
 * requests itself. Keep-alive works; a connection idle for 5 s is closed.
 *
 * Thread-safety: create/destroy from one thread; the callback runs on the server's thread,
 * one request at a time.
 */
#ifndef PL_HTTPD_H
#define PL_HTTPD_H

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
/* The bound port (the real one after port 0). */
int pl_httpd_port(const struct pl_httpd *h);
/* Stop serving, close every connection, join the thread, free. NULL is a no-op. */
void pl_httpd_destroy(struct pl_httpd *h);

#ifdef __cplusplus
}
#endif
#endif
