/*
 * fuzz_qa_request.c - parley-qa's request decode path: NaturalQueryRequest through the
 * handler it registers (pl_qa_service_register), run with pl_worker_call: pl_proto_unpack,
 * the query and context checks, the model pick (no model is loaded here, so the path ends
 * with NOT_FOUND/UNAVAILABLE or INVALID_ARGUMENT). Then, as ask_kb would with a model, the
 * request's query searches a small in-memory knowledge base (pl_qa_kb_search: the FTS5
 * query sanitizer and SQLite's FTS5 on its result).
 *
 * Input: the request message.
 */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_util.h"
#include "nrpc_worker.h"
#include "proto_util.h"
#include "qa.h"
#include "riva/proto/riva_nlp.pb-c.h"

static struct pl_qa_service *g_svc;
static struct pl_worker *g_w;
static struct pl_qa_kb *g_kb;

static void setup(void) {
    fz_quiet();
    struct pl_qa_service_opts o;
    pl_qa_service_opts_default(&o);
    o.model_dir = "/nonexistent-parley-fuzz-models";
    o.kb_path = "";
    o.max_context_bytes = 1 << 16;
    struct pl_worker_opts wo = PL_WORKER_OPTS_INIT;
    wo.service = "qa";
    static const char doc[] = "# Parley\n\nParley answers questions over NATS.\n\n"
                              "The gateway speaks gRPC; workers hold models.\n";
    if (pl_qa_service_create(&o, &g_svc) != PL_OK || pl_worker_create(&wo, &g_w) != PL_OK ||
        pl_qa_service_register(g_svc, g_w) != PL_OK || pl_qa_kb_open(":memory:", &g_kb) != PL_OK ||
        pl_qa_kb_add(g_kb, "doc", doc, sizeof doc - 1, NULL, NULL) != PL_OK)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!g_w) setup();
    struct pl_worker_out out = {0};
    if (pl_worker_call(g_w, "natural_query", 0, data, size, &out) == PL_OK) pl_free(out.data);
    ProtobufCMessage *msg = NULL;
    if (pl_proto_unpack(&nvidia__riva__nlp__natural_query_request__descriptor, data, size, &msg) ==
        PL_OK) {
        Nvidia__Riva__Nlp__NaturalQueryRequest *rq = (void *)msg;
        struct pl_qa_passage *p = NULL;
        int n = 0;
        if (rq->query && pl_qa_kb_search(g_kb, rq->query, 5, &p, &n) == PL_OK)
            pl_qa_passages_free(p, n);
        pl_proto_free(msg);
    }
    return 0;
}
