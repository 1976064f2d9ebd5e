/*
 * parley-ask (`parley ask`): a question to parley-qa through the gateway (Riva NaturalQuery).
 *
 *   parley ask "QUESTION" [--context FILE] [--top-n N] [--server HOST:PORT] [--timeout-ms MS]
 *              [--api-key KEY] [--tls-ca CA.pem] [--json]
 *
 * With --context the answer comes from that file's text; without, from the knowledge base
 * (`parley kb add`). Prints one line per answer: the score and the answer ("(no answer)" when
 * the model finds none); --json prints {"answers": [{"answer": ..., "score": ...}, ...]}
 * instead (an empty list when there is none). Exit status 0, 1 when the call failed, 2 for a
 * bad command line.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "client_grpc.h"
#include "file.h"
#include "proto_util.h"
#include "riva/proto/riva_nlp.pb-c.h"

static const char usage[] =
    "usage: parley ask QUESTION [--context FILE] [--top-n N] [--server HOST:PORT]\n"
    "                  [--api-key KEY] [--tls-ca CA.pem] [--timeout-ms MS] [--json]\n"
    "  --context FILE   answer from this text (default: the knowledge base, `parley kb`)\n"
    "  --top-n N        answers to print (default 1)\n"
    "  --server HOST:PORT  the gateway (default 127.0.0.1:50051)\n"
    "  --api-key KEY    sent as 'authorization: Bearer KEY'\n"
    "  --tls-ca CA.pem  TLS, verifying the gateway with this CA certificate\n"
    "  --json           print {\"answers\": [{\"answer\", \"score\"}, ...]}\n";

static long num_arg(const char *opt, const char *v, long lo, long hi) {
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi) {
        fprintf(stderr, "parley ask: %s wants a number in %ld..%ld, not '%s'\n", opt, lo, hi, v);
        exit(2);
    }
    return x;
}

/* {"answers": [{"answer": "...", "score": 0.9}, ...]}; "" answers (none found) left out. */
static void print_json(const Nvidia__Riva__Nlp__NaturalQueryResponse *r) {
    printf("{\"answers\": [");
    int n = 0;
    for (size_t i = 0; i < r->n_results; i++) {
        if (!r->results[i]->answer || !*r->results[i]->answer) continue;
        printf("%s{\"answer\": ", n++ ? ", " : "");
        pl_client_json_str(stdout, r->results[i]->answer);
        printf(", \"score\": %.6g}", r->results[i]->score);
    }
    printf("]}\n");
}

int main(int argc, char **argv) {
    const char *question = NULL, *context_file = NULL, *server = "127.0.0.1:50051";
    const char *api_key = NULL, *tls_ca = NULL;
    bool json = false;
    long top_n = 1, timeout_ms = 60000;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage, stdout);
            return 0;
        } else if (i + 1 < argc && !strcmp(a, "--context")) {
            context_file = argv[++i];
        } else if (i + 1 < argc && !strcmp(a, "--top-n")) {
            top_n = num_arg(a, argv[++i], 1, 100);
        } else if (i + 1 < argc && !strcmp(a, "--server")) {
            server = argv[++i];
        } else if (i + 1 < argc && !strcmp(a, "--timeout-ms")) {
            timeout_ms = num_arg(a, argv[++i], 1, 3600000);
        } else if (i + 1 < argc && !strcmp(a, "--api-key")) {
            api_key = argv[++i];
        } else if (i + 1 < argc && !strcmp(a, "--tls-ca")) {
            tls_ca = argv[++i];
        } else if (!strcmp(a, "--json")) {
            json = true;
        } else if (a[0] == '-' || question) {
            fprintf(stderr, "parley ask: unexpected '%s'\n%s", a, usage);
            return 2;
        } else {
            question = a;
        }
    }
    if (!question) {
        fputs(usage, stderr);
        return 2;
    }
    char *context = NULL;
    size_t clen = 0;
    if (context_file && pl_read_file(context_file, 64u << 20, &context, &clen) != PL_OK) {
        fprintf(stderr, "parley ask: %s\n", pl_last_error());
        return 1;
    }
    Nvidia__Riva__Nlp__NaturalQueryRequest rq = NVIDIA__RIVA__NLP__NATURAL_QUERY_REQUEST__INIT;
    rq.query = (char *)question;
    rq.context = context ? context : (char *)"";
    rq.top_n = (uint32_t)top_n;
    uint8_t *req = NULL, *resp = NULL;
    size_t req_len = 0, resp_len = 0;
    int rc = 1;
    if (pl_proto_pack(&rq.base, &req, &req_len) != PL_OK) {
        fprintf(stderr, "parley ask: %s\n", pl_last_error());
        pl_free(context);
        return 1;
    }
    grpc_init();
    grpc_channel *ch = pl_client_channel_tls("ask", server, tls_ca);
    if (!ch) {
        pl_free(req);
        pl_free(context);
        grpc_shutdown();
        return 2;
    }
    grpc_status_code status =
        pl_client_unary(ch, "ask", server, "/nvidia.riva.nlp.RivaLanguageUnderstanding/NaturalQuery",
                        api_key, req, req_len, timeout_ms, &resp, &resp_len);
    if (status == GRPC_STATUS_OK) {
        ProtobufCMessage *m = NULL;
        if (pl_proto_unpack(&nvidia__riva__nlp__natural_query_response__descriptor, resp, resp_len,
                            &m) != PL_OK) {
            fprintf(stderr, "parley ask: the response is not a NaturalQueryResponse\n");
        } else {
            Nvidia__Riva__Nlp__NaturalQueryResponse *r = (void *)m;
            if (json) print_json(r);
            else if (r->n_results == 0) printf("(no answer)\n");
            for (size_t i = 0; !json && i < r->n_results; i++)
                printf("%.3f\t%s\n", r->results[i]->score,
                       r->results[i]->answer && *r->results[i]->answer ? r->results[i]->answer
                                                                      : "(no answer)");
            rc = 0;
        }
        pl_proto_free(m);
    }
    pl_free(resp);
    pl_free(req);
    pl_free(context);
    grpc_channel_destroy(ch);
    grpc_shutdown();
    return rc;
}
