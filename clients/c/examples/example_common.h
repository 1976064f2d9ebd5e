/*
 * example_common.h - what the libparley-client examples share: the connection options every
 * one takes (--server, --api-key, --tls-ca, --timeout-ms), reading a file, and the report of
 * a failed call (its pl_status, gRPC status and message).
 */
#ifndef PL_EXAMPLE_COMMON_H
#define PL_EXAMPLE_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <parley/client.h>

/* Take a connection option at argv[*i] into o; 1 when it was one. */
static inline int connect_opt(int argc, char **argv, int *i, struct pl_client_opts *o) {
    const char *a = argv[*i];
    if (*i + 1 >= argc) return 0;
    if (!strcmp(a, "--server")) o->target = argv[++*i];
    else if (!strcmp(a, "--api-key")) o->api_key = argv[++*i];
    else if (!strcmp(a, "--tls-ca")) o->tls_ca_file = argv[++*i];
    else if (!strcmp(a, "--tls-name")) o->tls_server_name = argv[++*i];
    else if (!strcmp(a, "--timeout-ms")) o->timeout_ms = atoi(argv[++*i]);
    else return 0;
    return 1;
}

/* Print why a call failed and return the exit status 1. */
static inline int report(const char *prog, pl_status st) {
    fprintf(stderr, "%s: %s [%s, gRPC status %d]\n", prog, pl_last_error(), pl_status_str(st),
            pl_client_last_grpc_status());
    return 1;
}

/* The bytes of a file (caller frees), or NULL with a message. */
static inline unsigned char *read_all(const char *prog, const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "%s: cannot open %s\n", prog, path);
        return NULL;
    }
    size_t cap = 1 << 16;
    unsigned char *buf = malloc(cap);
    *n = 0;
    size_t k;
    while (buf && (k = fread(buf + *n, 1, cap - *n, f)) > 0) {
        *n += k;
        if (*n == cap) {
            unsigned char *b = realloc(buf, cap *= 2);
            if (!b) free(buf);
            buf = b;
        }
    }
    fclose(f);
    if (!buf) fprintf(stderr, "%s: out of memory\n", prog);
    return buf;
}

#define CONNECT_USAGE "  [--server HOST:PORT] [--api-key KEY] [--tls-ca CA.pem] [--timeout-ms MS]\n"

#endif
