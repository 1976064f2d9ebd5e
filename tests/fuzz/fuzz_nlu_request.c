/*
 * fuzz_nlu_request.c - parley-nlu's request decode path: every rpc it serves, through the
 * handlers it registers (pl_nlu_service_register), run with pl_worker_call as a request
 * from NATS would be: pl_proto_unpack, the limits on texts, the model pick and, with models,
 * tokenization, windows, the encoder and the post-processing (words, BIO spans, punctuation).
 *
 * Models: the directory in $PARLEY_FUZZ_NLU_MODELS when set (`make fuzz` and ctest write
 * tiny random-weight models there with tests/integration/nlu_tiny.py), else none (the path
 * then ends at the model pick).
 *
 * Input: byte 0 picks the rpc (modulo 7); the rest is the request message.
 */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_util.h"
#include "nlu.h"
#include "nrpc_worker.h"

static struct pl_nlu_service *g_svc;
static struct pl_worker *g_w;

static const char *const rpcs[] = {"analyze_intent",   "classify_text",  "classify_tokens",
                                   "analyze_entities", "punctuate_text", "transform_text",
                                   "get_riva_nlp_config"};

static void setup(void) {
    fz_quiet();
    const char *dir = getenv("PARLEY_FUZZ_NLU_MODELS");
    struct pl_nlu_service_opts o = {0};
    o.model_dir = dir && *dir ? dir : "/nonexistent-parley-fuzz-models";
    o.model = (struct pl_nlu_model_opts)PL_NLU_MODEL_OPTS_INIT;
    o.model.threads = 1;
    o.max_text_bytes = 4096; /* small limits: long inputs reach the limit checks */
    o.max_texts = 8;
    o.max_windows = 16;
    struct pl_worker_opts wo = PL_WORKER_OPTS_INIT;
    wo.service = "nlu";
    if (pl_nlu_service_create(&o, &g_svc) != PL_OK || pl_worker_create(&wo, &g_w) != PL_OK ||
        pl_nlu_service_register(g_svc, g_w) != PL_OK)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!g_w) setup();
    struct fz_in in = {data, size};
    const char *rpc = rpcs[fz_byte(&in) % (sizeof rpcs / sizeof *rpcs)];
    struct pl_worker_out out = {0};
    if (pl_worker_call(g_w, rpc, 0, in.p, in.n, &out) == PL_OK) pl_free(out.data);
    return 0;
}
