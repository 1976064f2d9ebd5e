/*
 * parley-dialog - the dialog manager: parley.dialog.v1.Dialog over NATS (queue group
 * "dialog"), text turns through parley-nlu and parley-qa, voice through parley-asr and
 * parley-tts, state in SQLite (docs/dialog.md).
 *
 *   parley-dialog [--config FILE] [--nats URL] [--http-port N] [--model-dir SPEC_DIR]
 *
 * --model-dir names the directory of dialog specs here (dialog.spec_dir; it is found next to
 * the config's source tree like the services' model directories). Settings: section "dialog"
 * of FILE (default $PARLEY_CONFIG, else config/parley.json when it exists), then
 * PARLEY_DIALOG_* environment variables, then these flags. Prints one line
 * "parley-dialog http_port=N specs=K pipelines=P" (and " shard=K/N" when partitioned) on
 * stdout once it serves. SIGTERM/SIGINT drain and stop.
 */
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "dialog_svc.h"
#include "log.h"
#include "nrpc_worker.h"
#include "service.h"
#include "util.h"

struct dlg_cfg {
    char *nats_url;
    int64_t http_port;
    char *http_host;
    char *spec_dir;
    char *default_dialog;
    char *store_path;
    bool sync_full;
    int64_t handler_threads;
    int64_t action_threads;
    int64_t endpointing_silence_ms;
    int64_t end_of_turn_silence_ms;
    double end_of_turn_min_confidence;
    bool end_of_turn_tone;
    double end_of_turn_fall_slope;
    double end_of_turn_rise_slope;
    char *end_of_turn_model;
    double end_of_turn_min_complete;
    int64_t nlu_timeout_ms;
    int64_t qa_timeout_ms;
    int64_t max_text_bytes;
    int64_t idle_end_s;
    int64_t ended_ttl_s;
    int64_t tz_offset_min;
    char *tts_voice;
    int64_t tts_sample_rate;
    int64_t voice_wait_ms;
    char *pipeline_dir;
    int64_t shard, shards;
    char *log_level;
};

#define F(key, type, field, def, lo, hi, help)                                                     \
    {"dialog", key, type, offsetof(struct dlg_cfg, field), def, lo, hi, help}
static const struct pl_config_field dlg_fields[] = {
    PL_SERVICE_SIDE_FIELDS("dialog", struct dlg_cfg),
    F("spec_dir", PL_CONFIG_STRING, spec_dir, "dialog/specs", 1, 0, "directory of dialog specs (*.yaml, *.yml, *.json); --model-dir sets it"),
    F("default_dialog", PL_CONFIG_STRING, default_dialog, "", 1, 0, "dialog of sessions that name none (empty: the first spec by file name)"),
    F("store_path", PL_CONFIG_STRING, store_path, "", 1, 0, "SQLite state file (empty: $PARLEY_STATE_DIR/dialog.sqlite, else state/dialog.sqlite)"),
    F("sync_full", PL_CONFIG_BOOL, sync_full, "true", 0, 0, "a turn is answered once its commit is fsynced (one group fsync for the turns committed meanwhile): survives power loss and a file system turned read-only, not only process crashes; false: answered once in the WAL file"),
    F("handler_threads", PL_CONFIG_INT, handler_threads, "16", 1, 1024, "request threads (a turn waits for parley-nlu there)"),
    F("action_threads", PL_CONFIG_INT, action_threads, "32", 0, 1024, "threads of the turns that call out (webhook, nats action, parley-qa), so that waiting holds no handler thread (0: those turns wait on the handler thread)"),
    F("nlu_timeout_ms", PL_CONFIG_INT, nlu_timeout_ms, "2000", 1, 60000, "analyze_intent call timeout"),
    F("qa_timeout_ms", PL_CONFIG_INT, qa_timeout_ms, "5000", 1, 60000, "natural_query call timeout"),
    F("max_text_bytes", PL_CONFIG_INT, max_text_bytes, "4096", 1, 1048576, "longest utterance"),
    F("idle_end_s", PL_CONFIG_INT, idle_end_s, "0", 0, 315360000, "end sessions idle this long (0 = never)"),
    F("ended_ttl_s", PL_CONFIG_INT, ended_ttl_s, "2592000", 0, 315360000, "delete ended sessions this long after their end (0 = keep)"),
    F("tz_offset_min", PL_CONFIG_INT, tz_offset_min, "0", -900, 900, "time zone of tell_time/tell_date, minutes east of UTC"),
    F("endpointing_silence_ms", PL_CONFIG_INT, endpointing_silence_ms, "400", 0, 60000, "hands-free voice: the silence that ends an utterance when the Converse pipeline names none (0: parley-asr's, 800 ms; shorter answers sooner, but more pauses inside a sentence end it)"),
    F("end_of_turn_silence_ms", PL_CONFIG_INT, end_of_turn_silence_ms, "120", 0, 5000, "hands-free voice: after this much silence the turn ends at once when its words look complete (no trailing 'and', 'to', 'the', 'um'; an NLU intent at end_of_turn_min_confidence, or the answer to the prompt just spoken); else endpointing_silence_ms applies (0: off; the Converse pipeline may say otherwise)"),
    F("end_of_turn_min_confidence", PL_CONFIG_DOUBLE, end_of_turn_min_confidence, "0.99", 0, 1, "hands-free voice: the NLU intent confidence at which a short pause ends the turn (end_of_turn_silence_ms)"),
    F("end_of_turn_tone", PL_CONFIG_BOOL, end_of_turn_tone, "false", 0, 0, "hands-free voice: at the end-of-turn pause, the tone of the voice counts too: pitch falling over the last 400 ms of speech (end_of_turn_fall_slope) ends the turn, rising (end_of_turn_rise_slope) waits for endpointing_silence_ms, and in between the NLU confidence decides (false: the NLU alone; off by default: it ended more turns early but split more on the dev set, docs/dialog.md; the Converse pipeline may say otherwise)"),
    F("end_of_turn_fall_slope", PL_CONFIG_DOUBLE, end_of_turn_fall_slope, "-10", -200, 200, "hands-free voice: the pitch slope (semitones per second, last 400 ms of speech before the pause) at or under which the voice falls (end_of_turn_tone)"),
    F("end_of_turn_rise_slope", PL_CONFIG_DOUBLE, end_of_turn_rise_slope, "0", -200, 200, "hands-free voice: the pitch slope above which the voice rises (end_of_turn_tone)"),
    F("end_of_turn_model", PL_CONFIG_STRING, end_of_turn_model, "nlu-eot", 1, 0, "hands-free voice: the end-of-turn classifier served by parley-nlu (ClassifyText, labels complete / incomplete: models/nlu-eot) that decides at the end-of-turn pause: the turn ends when P(complete) is at least end_of_turn_min_complete (empty: the NLU intent confidence decides, end_of_turn_min_confidence; a model parley-nlu does not serve: the words wait for endpointing_silence_ms; the Converse pipeline may say otherwise)"),
    F("end_of_turn_min_complete", PL_CONFIG_DOUBLE, end_of_turn_min_complete, "0.75", 0, 1, "hands-free voice: P(complete) of end_of_turn_model at which a short pause ends the turn"),
    F("tts_voice", PL_CONFIG_STRING, tts_voice, "", 1, 0, "voice of spoken replies whose output_audio names none (empty: parley-tts's default)"),
    F("tts_sample_rate", PL_CONFIG_INT, tts_sample_rate, "22050", 8000, 48000, "rate of spoken replies whose output_audio.sample_rate_hz is 0"),
    F("voice_wait_ms", PL_CONFIG_INT, voice_wait_ms, "60000", 1, 600000, "half-close of a voice Converse: longest wait for its last turn and reply audio"),
    F("pipeline_dir", PL_CONFIG_STRING, pipeline_dir, "pipelines", 1, 0, "directory of pipelines (*.json) a Converse config may name (missing: none)"),
    F("shard", PL_CONFIG_INT, shard, "0", 0, 255, "the shard of sessions this replica serves, 0..shards-1 (docs/deployment.md)"),
    F("shards", PL_CONFIG_INT, shards, "1", 1, 256, "replicas the sessions are partitioned across, each with its own store_path (1: one replica holds every session)"),
    PL_SERVICE_LOG_FIELD("dialog", struct dlg_cfg),
};
#undef F
#define N_FIELDS (sizeof dlg_fields / sizeof dlg_fields[0])

static volatile int stopping;

/* Retention once a minute until the worker stops. */
static void *retention(void *ud) {
    struct pl_dlgsvc *s = ud;
    for (int tick = 0; !stopping; tick++) {
        if (tick % 600 == 0) pl_dlgsvc_expire(s);
        pl_sleep_ms(100);
    }
    return NULL;
}

static const char *store_path(const char *cfg, char *buf, size_t n) {
    const char *state = getenv("PARLEY_STATE_DIR");
    if (cfg && *cfg) snprintf(buf, n, "%s", cfg);
    else snprintf(buf, n, "%s/dialog.sqlite", state && *state ? state : "state");
    return buf;
}

int main(int argc, char **argv) {
    static const struct pl_service_std std = PL_SERVICE_STD(struct dlg_cfg, spec_dir);
    struct dlg_cfg cfg;
    int rc;
    memset(&cfg, 0, sizeof cfg);
    if (!pl_service_worker_start("dialog", argc, argv, dlg_fields, N_FIELDS, &std, &cfg, &rc))
        return rc;
    rc = 1;
    struct pl_dlgsvc *svc = NULL;
    struct pl_worker *w = NULL;
    pthread_t ret;
    bool ret_started = false;
    char path[4096];
    struct pl_dlgsvc_opts so;
    pl_dlgsvc_opts_default(&so);
    so.spec_dir = cfg.spec_dir;
    so.default_dialog = cfg.default_dialog;
    so.store_path = store_path(cfg.store_path, path, sizeof path);
    so.sync_full = cfg.sync_full;
    so.nats_url = cfg.nats_url[0] ? cfg.nats_url : NULL;
    so.nlu_timeout_ms = (int)cfg.nlu_timeout_ms;
    so.qa_timeout_ms = (int)cfg.qa_timeout_ms;
    so.max_text_bytes = cfg.max_text_bytes;
    so.idle_end_ms = cfg.idle_end_s * 1000;
    so.ended_ttl_ms = cfg.ended_ttl_s * 1000;
    so.tz_offset_min = (int)cfg.tz_offset_min;
    so.tts_voice = cfg.tts_voice;
    so.tts_sample_rate = (int)cfg.tts_sample_rate;
    so.voice_wait_ms = cfg.voice_wait_ms;
    so.pipeline_dir = cfg.pipeline_dir;
    so.shard = (int)cfg.shard;
    so.shards = (int)cfg.shards;
    so.action_threads = (int)cfg.action_threads;
    so.endpointing_silence_ms = (int)cfg.endpointing_silence_ms;
    so.eot_silence_ms = (int)cfg.end_of_turn_silence_ms;
    so.eot_min_confidence = (float)cfg.end_of_turn_min_confidence;
    so.eot_tone = cfg.end_of_turn_tone;
    so.eot_fall_slope = (float)cfg.end_of_turn_fall_slope;
    so.eot_rise_slope = (float)cfg.end_of_turn_rise_slope;
    so.eot_model = cfg.end_of_turn_model;
    so.eot_min_complete = (float)cfg.end_of_turn_min_complete;
    char shard[16];
    snprintf(shard, sizeof shard, "%d", so.shard);

    struct pl_worker_opts wo = PL_WORKER_OPTS_INIT;
    pl_service_worker_opts("dialog", &std, &cfg, &wo);
    wo.shard = so.shards > 1 ? shard : "*"; /* one replica serves every shard's subjects */
    if (pl_dlgsvc_create(&so, &svc) != PL_OK || pl_worker_create(&wo, &w) != PL_OK ||
        pl_dlgsvc_register(svc, w) != PL_OK || pl__dlgsvc_shard_check(svc) != PL_OK ||
        pl_worker_start(w) != PL_OK ||
        pl_worker_install_signals(w) != PL_OK) {
        PL_LOGE("%s", pl_last_error());
        goto out;
    }
    PL_LOGI("state in %s", so.store_path);
    if (so.shards > 1) PL_LOGI("serving shard %d of %d", so.shard, so.shards);
    ret_started = pthread_create(&ret, NULL, retention, svc) == 0;
    pl_worker_set_ready(w, true);
    printf("parley-dialog http_port=%d specs=%d pipelines=%d", pl_worker_http_port(w),
           pl_dlgsvc_n_specs(svc), svc->n_pipelines);
    if (so.shards > 1) printf(" shard=%d/%d", so.shard, so.shards);
    printf("\n");
    fflush(stdout);
    pl_worker_wait(w);
    rc = 0;
out:
    stopping = 1;
    if (ret_started) pthread_join(ret, NULL);
    pl_worker_destroy(w); /* drains the turns in flight before the store closes */
    pl_dlgsvc_destroy(svc);
    pl_config_deinit(dlg_fields, N_FIELDS, &cfg);
    return rc;
}
