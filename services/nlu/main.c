/*
 * parley-nlu - the NLU worker: intent/slots, named entities, text classification and
 * punctuation, served over NATS (queue group "nlu") for the gateway's Riva NLP API.
 *
 *   parley-nlu [--config FILE] [--nats URL] [--http-port N] [--model-dir DIR]
 *
 * Settings: section "nlu" of FILE (default $PARLEY_CONFIG, else config/parley.json when it
 * exists), then PARLEY_NLU_* environment variables, then these flags. Prints one line
 * "parley-nlu http_port=N models=K" on stdout once it serves. SIGTERM/SIGINT drain and stop.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "config.h"
#include "log.h"
#include "nlu.h"
#include "nrpc_worker.h"
#include "service.h"

struct nlu_cfg {
    char *nats_url;
    int64_t http_port;
    char *http_host;
    char *model_dir;
    char *backend;
    int64_t threads;
    int64_t instances;
    int64_t handler_threads;
    char *precision;
    int64_t max_batch_size;
    int64_t max_queue_delay_us;
    int64_t max_text_bytes;
    int64_t max_texts;
    int64_t max_windows;
    char *model_aliases;
    char *default_models;
    char *log_level;
};

/* The model names the Riva clients ask for by default (intentslot_client.py, ner_client.py,
 * text_classify_client.py, punctuation notebooks) mapped to the shipped models; the domain
 * classifier nlu-domain answers for Riva's domain model (the SNIPS domains and "nomatch"). */
#define PL_NLU_RIVA_ALIASES                                                                        \
    "riva_intent_weather=nlu-intent-slot-snips,riva_ner=ner-conll2003,"                            \
    "riva_text_classification_domain=nlu-domain,"                                                  \
    "riva-punctuation-en-US=nlu-punct-capit,riva_punctuation=nlu-punct-capit"

/* The shipped models answer requests that name no model, whatever else the repository holds
 * (a model trained with `parley nlu train` sorts anywhere among them). */
#define PL_NLU_DEFAULT_MODELS "nlu-intent-slot-snips,ner-conll2003,nlu-domain,nlu-punct-capit"

#define F(key, type, field, def, lo, hi, help)                                                     \
    {"nlu", key, type, offsetof(struct nlu_cfg, field), def, lo, hi, help}
static const struct pl_config_field nlu_fields[] = {
    PL_SERVICE_SIDE_FIELDS("nlu", struct nlu_cfg),
    F("model_dir", PL_CONFIG_STRING, model_dir, "models", 1, 0, "model repository: every NLU model below it is served"),
    F("backend", PL_CONFIG_STRING, backend, "cpu", 1, 0, "engine backend (cpu, cuda)"),
    F("threads", PL_CONFIG_INT, threads, "1", 0, 256, "CPU backend threads per model (0 = all cores; 1 leaves the other cores to NATS, the gateway and other models)"),
    F("instances", PL_CONFIG_INT, instances, "0", 0, 64, "forward instances per model, each its own engine and batcher thread so batches run in parallel (0: 2 on the cpu backend, else 1)"),
    F("handler_threads", PL_CONFIG_INT, handler_threads, "64", 1, 1024, "request threads (they wait on the batchers)"),
    F("precision", PL_CONFIG_STRING, precision, "", 1, 0, "f32, int8, f16 or bf16 (empty: each model's own)"),
    F("max_batch_size", PL_CONFIG_INT, max_batch_size, "0", 0, 1024, "batch size of every model (0: the model's config.json, else 8)"),
    F("max_queue_delay_us", PL_CONFIG_INT, max_queue_delay_us, "-1", -1, 10000000, "batching delay (-1: the model's config.json, else 0: batches take what queued while the instances were busy)"),
    F("max_text_bytes", PL_CONFIG_INT, max_text_bytes, "65536", 1, 1 << 30, "longest text accepted (bytes)"),
    F("max_texts", PL_CONFIG_INT, max_texts, "256", 1, 100000, "texts per request"),
    F("max_windows", PL_CONFIG_INT, max_windows, "256", 1, 100000, "model windows per request"),
    F("model_aliases", PL_CONFIG_STRING, model_aliases, PL_NLU_RIVA_ALIASES, 1, 0, "alias=model,... : other names a request may give for a loaded model (the default: Riva's default model names for the shipped models)"),
    F("default_models", PL_CONFIG_STRING, default_models, PL_NLU_DEFAULT_MODELS, 1, 0, "model,... : the models that answer a request naming none, tried in order (a name not loaded is passed over; then the first model of the task by directory name)"),
    PL_SERVICE_LOG_FIELD("nlu", struct nlu_cfg),
};
#undef F
#define N_FIELDS (sizeof nlu_fields / sizeof nlu_fields[0])

int main(int argc, char **argv) {
    static const struct pl_service_std std = PL_SERVICE_STD(struct nlu_cfg, model_dir);
    struct nlu_cfg cfg;
    int rc;
    memset(&cfg, 0, sizeof cfg);
    if (!pl_service_worker_start("nlu", argc, argv, nlu_fields, N_FIELDS, &std, &cfg, &rc))
        return rc;
    rc = 1;
    struct pl_nlu_service *svc = NULL;
    struct pl_worker *w = NULL;
    struct pl_nlu_service_opts so = {0};
    so.model_dir = cfg.model_dir;
    so.model.backend = cfg.backend;
    so.model.threads = (int)cfg.threads;
    /* two CPU instances keep both cores of a small machine busy; a GPU runs one at a time */
    so.model.instances = cfg.instances > 0 ? (int)cfg.instances : !strcmp(cfg.backend, "cpu") ? 2 : 1;
    so.model.precision = cfg.precision;
    so.model.max_batch_size = (int)cfg.max_batch_size;
    so.model.max_queue_delay_us = cfg.max_queue_delay_us;
    so.max_text_bytes = cfg.max_text_bytes;
    so.max_texts = (int)cfg.max_texts;
    so.max_windows = (int)cfg.max_windows;
    so.model_aliases = cfg.model_aliases;
    so.default_models = cfg.default_models;

    struct pl_worker_opts wo = PL_WORKER_OPTS_INIT;
    pl_service_worker_opts("nlu", &std, &cfg, &wo);
    if (pl_worker_create(&wo, &w) != PL_OK) {
        PL_LOGE("%s", pl_last_error());
        goto out;
    }
    /* models count their batches into the worker's /metrics */
    so.model.metrics = pl_worker_metrics(w);
    if (pl_nlu_service_create(&so, &svc) != PL_OK || pl_nlu_service_register(svc, w) != PL_OK ||
        pl_worker_start(w) != PL_OK || pl_worker_install_signals(w) != PL_OK) {
        PL_LOGE("%s", pl_last_error());
        goto out;
    }
    pl_worker_set_ready(w, true);
    printf("parley-nlu http_port=%d models=%d\n", pl_worker_http_port(w),
           pl_nlu_service_n_models(svc));
    fflush(stdout);
    pl_worker_wait(w);
    rc = 0;
out:
    pl_worker_destroy(w); /* drains requests before the models go */
    pl_nlu_service_destroy(svc);
    pl_config_deinit(nlu_fields, N_FIELDS, &cfg);
    return rc;
}
