/*
 * parley-asr - the ASR worker: offline Recognize and GetRivaSpeechRecognitionConfig served
 * over NATS (queue group "asr") for the gateway's Riva ASR API.
 *
 *   parley-asr [--config FILE] [--nats URL] [--http-port N] [--model-dir DIR]
 *
 * Settings: section "asr" of FILE (default $PARLEY_CONFIG, else config/parley.json when it
 * exists), then PARLEY_ASR_* environment variables, then these flags. Prints one line
 * "parley-asr http_port=N models=K lm=0|1" on stdout once it serves. SIGTERM/SIGINT drain
 * and stop.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "asr_service.h"
#include "asr_stream.h"
#include "config.h"
#include "log.h"
#include "nrpc_worker.h"
#include "service.h"

struct asr_cfg {
    char *nats_url;
    int64_t http_port;
    char *http_host;
    char *model_dir;
    char *lm;
    char *profanity;
    int64_t instances;
    int64_t threads;
    char *device;
    int64_t handler_threads;
    int64_t max_batch_size;
    int64_t max_queue_delay_us;
    double max_audio_s;
    double pause_s;
    double max_segment_s;
    int64_t beam_width;
    double lm_alpha;
    double lm_beta;
    bool punctuation;
    int64_t punct_timeout_ms;
    char *stream_endpointing;
    int64_t stream_max_batch;
    int64_t stream_batch_wait_us;
    bool stream_final_renorm;
    double stream_final_margin_ms;
    double stream_tail_gate_db;
    int64_t stream_interim_beam_width;
    char *log_level;
};

#define F(key, type, field, def, lo, hi, help)                                                     \
    {"asr", key, type, offsetof(struct asr_cfg, field), def, lo, hi, help}
static const struct pl_config_field asr_fields[] = {
    PL_SERVICE_SIDE_FIELDS("asr", struct asr_cfg),
    F("model_dir", PL_CONFIG_STRING, model_dir, "models", 1, 0, "model repository: every acoustic model below it is served"),
    F("lm", PL_CONFIG_STRING, lm, "", 1, 0, "ARPA LM (empty: <model_dir>/asr-lm/lm.arpa.gz if present; none: no LM)"),
    F("profanity", PL_CONFIG_STRING, profanity, "", 1, 0, "profanity word list (empty: <model_dir>/asr-lm/profanity.txt)"),
    F("instances", PL_CONFIG_INT, instances, "1", 1, 64, "model instances per model (each a thread running batches)"),
    F("threads", PL_CONFIG_INT, threads, "1", 1, 256, "GEMM threads per instance (1 leaves the other cores to decoding, NATS, the gateway)"),
    F("device", PL_CONFIG_STRING, device, "cpu", 1, 0, "acoustic model backend: cpu, cpu-ref, cuda or cuda:N"),
    F("handler_threads", PL_CONFIG_INT, handler_threads, "16", 1, 1024, "request threads (decoding runs on them)"),
    F("max_batch_size", PL_CONFIG_INT, max_batch_size, "4", 1, 256, "segments one batched forward takes (dynamic batching)"),
    F("max_queue_delay_us", PL_CONFIG_INT, max_queue_delay_us, "1000", 0, 10000000, "batching delay"),
    F("max_audio_s", PL_CONFIG_DOUBLE, max_audio_s, "1800", 1, 86400, "longest audio accepted (seconds)"),
    F("pause_s", PL_CONFIG_DOUBLE, pause_s, "0.6", 0.05, 10, "a pause at least this long ends a result"),
    F("max_segment_s", PL_CONFIG_DOUBLE, max_segment_s, "20", 1, 60, "longest segment the model sees at once"),
    F("beam_width", PL_CONFIG_INT, beam_width, PL_ASRSVC_STR(PL_ASRSVC_BEAM_WIDTH), 0, 256, "CTC prefix beam width (0: greedy decoding)"),
    F("lm_alpha", PL_CONFIG_DOUBLE, lm_alpha, "-1", -1, 10, "LM weight (-1: the model's config.json, else 0.5)"),
    F("lm_beta", PL_CONFIG_DOUBLE, lm_beta, "-1", -1, 20, "word insertion bonus (-1: the model's config.json, else 1.0)"),
    F("punctuation", PL_CONFIG_BOOL, punctuation, "true", 0, 0, "call parley-nlu for enable_automatic_punctuation"),
    F("punct_timeout_ms", PL_CONFIG_INT, punct_timeout_ms, "2000", 1, 60000, "punctuation call timeout"),
    F("stream_endpointing", PL_CONFIG_STRING, stream_endpointing, "auto", 1, 0, "StreamingRecognize end of utterance: auto (vad+blank when the model's look-ahead is <= 200 ms, else vad), vad+blank (VAD and CTC blanks), vad (VAD alone) or agree"),
    F("stream_max_batch", PL_CONFIG_INT, stream_max_batch, "64", 1, 64, "streams one batched streaming model step advances"),
    F("stream_batch_wait_us", PL_CONFIG_INT, stream_batch_wait_us, "2000", 0, 1000000, "how long a streaming model step waits for other streams"),
    F("stream_final_renorm", PL_CONFIG_BOOL, stream_final_renorm, "true", 0, 0, "StreamingRecognize finals of a model with per-utterance feature normalization: recompute the utterance as Recognize does (false: the running-normalization rows, as the interims)"),
    F("stream_final_margin_ms", PL_CONFIG_DOUBLE, stream_final_margin_ms, "500", -1, 10000, "that recomputation takes the audio from this long before the endpointer's first voiced frame to this long after its last one (-1: the whole utterance)"),
    F("stream_tail_gate_db", PL_CONFIG_DOUBLE, stream_tail_gate_db, "0", 0, 120, "StreamingRecognize end-of-utterance pause (stop_history_eou): once the VAD hears silence, time it from where the frames fell this many dB under the utterance's loudest (the VAD goes on hearing speech ~100 ms after it stops; 30 measured); 0: from the VAD's last speech"),
    F("stream_interim_beam_width", PL_CONFIG_INT, stream_interim_beam_width, "16", 0, 1024, "StreamingRecognize with recomputed finals (stream_final_renorm): the interims' streamed decoder keeps this many prefixes (0: beam_width); finals and the words at a pause use beam_width"),
    PL_SERVICE_LOG_FIELD("asr", struct asr_cfg),
};
#undef F
#define N_FIELDS (sizeof asr_fields / sizeof asr_fields[0])

int main(int argc, char **argv) {
    static const struct pl_service_std std = PL_SERVICE_STD(struct asr_cfg, model_dir);
    struct asr_cfg cfg;
    int rc;
    memset(&cfg, 0, sizeof cfg);
    if (!pl_service_worker_start("asr", argc, argv, asr_fields, N_FIELDS, &std, &cfg, &rc))
        return rc;
    rc = 1;
    struct pl_asrsvc *svc = NULL;
    struct pl_asrsvc_streaming *ssvc = NULL;
    struct pl_worker *w = NULL;
    struct pl_worker_opts wo = PL_WORKER_OPTS_INIT;
    pl_service_worker_opts("asr", &std, &cfg, &wo);
    if (pl_worker_create(&wo, &w) != PL_OK) {
        PL_LOGE("%s", pl_last_error());
        goto out;
    }
    struct pl_asrsvc_opts so;
    pl_asrsvc_opts_default(&so);
    so.model_dir = cfg.model_dir;
    so.lm_path = cfg.lm;
    so.profanity_path = cfg.profanity;
    so.instances = (int)cfg.instances;
    so.threads = (int)cfg.threads;
    so.device = cfg.device;
    so.max_batch_size = (int)cfg.max_batch_size;
    so.max_queue_delay_us = cfg.max_queue_delay_us;
    so.max_audio_s = cfg.max_audio_s;
    so.seg.pause_s = cfg.pause_s;
    so.seg.max_s = cfg.max_segment_s;
    so.beam_width = (int)cfg.beam_width;
    so.lm_alpha = cfg.lm_alpha;
    so.lm_beta = cfg.lm_beta;
    so.nats_url = cfg.punctuation ? cfg.nats_url : NULL; /* "" = $PARLEY_NATS_URL or default */
    so.punct_timeout_ms = (int)cfg.punct_timeout_ms;
    so.metrics = pl_worker_metrics(w);
    struct pl_asrsvc_streaming_opts sso;
    pl_asrsvc_streaming_opts_default(&sso);
    sso.max_batch = (int)cfg.stream_max_batch;
    sso.batch_wait_us = cfg.stream_batch_wait_us;
    sso.final_renorm = cfg.stream_final_renorm;
    sso.final_margin_ms = cfg.stream_final_margin_ms;
    sso.tail_gate_db = cfg.stream_tail_gate_db;
    sso.interim_beam_width = (int)cfg.stream_interim_beam_width;
    sso.metrics = pl_worker_metrics(w);
    if (pl_asrsvc_endpointing_parse(cfg.stream_endpointing, &sso.endpointing) != PL_OK ||
        pl_asrsvc_create(&so, &svc) != PL_OK || pl_asrsvc_register(svc, w) != PL_OK ||
        pl_asrsvc_streaming_create(svc, &sso, &ssvc) != PL_OK ||
        pl_asrsvc_streaming_register(ssvc, w) != PL_OK || pl_worker_start(w) != PL_OK || pl_worker_install_signals(w) != PL_OK) {
        PL_LOGE("%s", pl_last_error());
        goto out;
    }
    pl_worker_set_ready(w, true);
    printf("parley-asr http_port=%d models=%d lm=%d\n", pl_worker_http_port(w),
           pl_asrsvc_n_models(svc), pl_asrsvc_has_lm(svc) ? 1 : 0);
    fflush(stdout);
    pl_worker_wait(w);
    rc = 0;
out:
    pl_worker_destroy(w); /* drains requests before the models go */
    pl_asrsvc_streaming_destroy(ssvc);
    pl_asrsvc_destroy(svc);
    pl_config_deinit(asr_fields, N_FIELDS, &cfg);
    return rc;
}
