/*
 * parley-qa - the question-answering worker: Riva NaturalQuery over the request's context or
 * over a knowledge base (SQLite, FTS5), served over NATS (queue group "qa").
 *
 *   parley-qa [--config FILE] [--nats URL] [--http-port N] [--model-dir DIR]
 * (the knowledge base: qa.kb_path, or PARLEY_QA_KB_PATH)
 *
 * Settings: section "qa" of FILE (default $PARLEY_CONFIG, else config/parley.json when it
 * exists), then PARLEY_QA_* environment variables, then these flags. Prints one line
 * "parley-qa http_port=N models=K kb=0|1" on stdout once it serves. SIGTERM/SIGINT drain and
 * stop; SIGHUP reloads the models.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "nrpc_worker.h"
#include "qa.h"
#include "service.h"

struct qa_cfg {
    char *nats_url;
    int64_t http_port;
    char *http_host;
    char *model_dir;
    char *model;
    char *kb_path;
    char *backend;
    int64_t threads;
    int64_t instances;
    int64_t handler_threads;
    char *precision;
    int64_t max_batch_size;
    int64_t max_context_bytes;
    int64_t max_windows;
    int64_t max_answer_tokens;
    int64_t kb_passages;
    double kb_weight;
    char *log_level;
};

#define F(key, type, field, def, lo, hi, help)                                                     \
    {"qa", key, type, offsetof(struct qa_cfg, field), def, lo, hi, help}
static const struct pl_config_field qa_fields[] = {
    PL_SERVICE_SIDE_FIELDS("qa", struct qa_cfg),
    F("model_dir", PL_CONFIG_STRING, model_dir, "models", 1, 0, "model repository: every question_answering model below it is served"),
    F("model", PL_CONFIG_STRING, model, "", 1, 0, "the model that answers (a directory name, or <dir>-<variant> such as qa-squad-int8); empty: the first by name"),
    F("kb_path", PL_CONFIG_STRING, kb_path, "", 1, 0, "knowledge base file (SQLite; created when missing); empty: $PARLEY_STATE_DIR/kb.sqlite, else state/kb.sqlite; none: no knowledge base"),
    F("backend", PL_CONFIG_STRING, backend, "cpu", 1, 0, "engine backend (cpu, cuda)"),
    F("threads", PL_CONFIG_INT, threads, "1", 0, 256, "CPU backend threads per model instance (0 = all cores)"),
    F("instances", PL_CONFIG_INT, instances, "0", 0, 64, "forward instances per model (0: 2 on the cpu backend, else 1)"),
    F("handler_threads", PL_CONFIG_INT, handler_threads, "8", 1, 1024, "request threads"),
    F("precision", PL_CONFIG_STRING, precision, "", 1, 0, "f32, int8, f16 or bf16 (empty: the model's config.json)"),
    F("max_batch_size", PL_CONFIG_INT, max_batch_size, "0", 0, 1024, "windows per batched forward (0: the model's config.json, else 8)"),
    F("max_context_bytes", PL_CONFIG_INT, max_context_bytes, "4194304", 1, 1073741824, "longest context accepted (RESOURCE_EXHAUSTED past it)"),
    F("max_windows", PL_CONFIG_INT, max_windows, "4096", 1, 1000000, "windows read for one question"),
    F("max_answer_tokens", PL_CONFIG_INT, max_answer_tokens, "30", 1, 512, "longest answer span in tokens"),
    F("kb_passages", PL_CONFIG_INT, kb_passages, "5", 1, 100, "knowledge-base passages read per question"),
    F("kb_weight", PL_CONFIG_DOUBLE, kb_weight, "1.0", 0, 100, "weight of retrieval (BM25 relative to the best passage) in the answers' ranking"),
    PL_SERVICE_LOG_FIELD("qa", struct qa_cfg),
};
#undef F
#define N_FIELDS (sizeof qa_fields / sizeof qa_fields[0])

int main(int argc, char **argv) {
    static const struct pl_service_std std = PL_SERVICE_STD(struct qa_cfg, model_dir);
    struct qa_cfg cfg;
    int rc;
    memset(&cfg, 0, sizeof cfg);
    if (!pl_service_worker_start("qa", argc, argv, qa_fields, N_FIELDS, &std, &cfg, &rc))
        return rc;
    rc = 1;
    struct pl_qa_service *svc = NULL;
    struct pl_worker *w = NULL;
    struct pl_qa_service_opts so;
    pl_qa_service_opts_default(&so);
    so.model_dir = cfg.model_dir;
    so.model_name = cfg.model;
    char kb[4096];
    so.kb_path = pl_qa_kb_path(cfg.kb_path, kb, sizeof kb);
    so.model.backend = cfg.backend;
    so.model.threads = (int)cfg.threads;
    so.model.instances = cfg.instances > 0 ? (int)cfg.instances : !strcmp(cfg.backend, "cpu") ? 2 : 1;
    so.model.precision = cfg.precision;
    so.model.max_batch_size = (int)cfg.max_batch_size;
    so.max_context_bytes = cfg.max_context_bytes;
    so.max_windows = (int)cfg.max_windows;
    so.max_answer_tokens = (int)cfg.max_answer_tokens;
    so.kb_passages = (int)cfg.kb_passages;
    so.kb_weight = cfg.kb_weight;

    struct pl_worker_opts wo = PL_WORKER_OPTS_INIT;
    pl_service_worker_opts("qa", &std, &cfg, &wo);
    if (pl_worker_create(&wo, &w) != PL_OK) {
        PL_LOGE("%s", pl_last_error());
        goto out;
    }
    so.model.metrics = pl_worker_metrics(w);
    if (pl_qa_service_create(&so, &svc) != PL_OK || pl_qa_service_register(svc, w) != PL_OK ||
        pl_worker_start(w) != PL_OK || pl_worker_install_signals(w) != PL_OK) {
        PL_LOGE("%s", pl_last_error());
        goto out;
    }
    pl_worker_set_ready(w, true);
    printf("parley-qa http_port=%d models=%d kb=%d\n", pl_worker_http_port(w),
           pl_qa_service_n_models(svc), kb[0] ? 1 : 0);
    fflush(stdout);
    pl_worker_wait(w);
    rc = 0;
out:
    pl_worker_destroy(w); /* drains requests before the models go */
    pl_qa_service_destroy(svc);
    pl_config_deinit(qa_fields, N_FIELDS, &cfg);
    return rc;
}
