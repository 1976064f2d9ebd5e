/*
 * asr_service.c - parley-asr's model repository, GetRivaSpeechRecognitionConfig and the
 * worker glue.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "asr_impl.h"
#include "log.h"
#include "model_repo.h"
#include "nrpc.h"
#include "nrpc_worker.h"
#include "proto_util.h"
#include "riva/proto/riva_asr.pb-c.h"
#include "util.h"

void pl_asrsvc_opts_default(struct pl_asrsvc_opts *o) {
    memset(o, 0, sizeof *o);
    o->model_dir = "models";
    o->instances = 1;
    o->threads = 1;
    o->max_batch_size = 4;
    o->max_queue_delay_us = 1000;
    o->max_queue = 1024;
    o->max_audio_s = 1800;
    pl_asrsvc_seg_opts_default(&o->seg);
    o->beam_width = PL_ASRSVC_BEAM_WIDTH;
    o->lm_alpha = -1;
    o->lm_beta = -1;
    o->max_boost = 20;
    o->punct_timeout_ms = 2000;
}

pl_status pl__asrsvc_wrap(pl_status s, const char *fmt, ...) {
    char last[512], what[512];
    snprintf(last, sizeof last, "%s", pl_last_error());
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return PL_ERR(s, "%s: %s", what, last);
}

int pl_asrsvc_n_models(const struct pl_asrsvc *s) {
    struct pl_model_set *set = pl_model_repo_acquire(s->repo);
    int n = pl__asrsvc_model_count(set);
    pl_model_set_release(set);
    return n;
}

const char *pl_asrsvc_model_name(const struct pl_asrsvc *s, int i) {
    struct pl_model_set *set = pl_model_repo_acquire(s->repo);
    struct pl_asrsvc_model *m = pl__asrsvc_model_at(set, i);
    pl_model_set_release(set);
    return m ? m->name : NULL;
}

bool pl_asrsvc_has_lm(const struct pl_asrsvc *s) { return s->lm != NULL; }
struct pl_model_repo *pl_asrsvc_repo(struct pl_asrsvc *s) { return s->repo; }

/* An explicit path must load; the default one is optional. */
static pl_status load_lm(struct pl_asrsvc *s, const char *path) {
    char def[4096];
    bool explicit_path = path && *path;
    if (explicit_path && !strcmp(path, "none")) return PL_OK;
    if (!explicit_path) {
        snprintf(def, sizeof def, "%s/asr-lm/lm.arpa.gz", s->model_dir);
        if (access(def, R_OK) != 0) {
            PL_LOGW("no language model at %s: decoding without an LM", def);
            return PL_OK;
        }
        path = def;
    }
    int64_t t0 = pl_time_mono_us();
    pl_status st = pl_asr_lm_load(path, &s->lm);
    if (st != PL_OK) return pl__asrsvc_wrap(st, "language model %s", path);
    PL_LOGI("language model %s: order %d, %zu unigrams, %.0f ms", path, pl_asr_lm_order(s->lm),
            pl_asr_lm_count(s->lm, 1), (pl_time_mono_us() - t0) / 1000.0);
    return PL_OK;
}

static pl_status load_profanity(struct pl_asrsvc *s, const char *path) {
    char def[4096];
    if (!path || !*path) {
        snprintf(def, sizeof def, "%s/asr-lm/profanity.txt", s->model_dir);
        if (access(def, R_OK) != 0) {
            PL_LOGW("no profanity list at %s: profanity_filter does nothing", def);
            return PL_OK;
        }
        path = def;
    }
    pl_status st = pl_asr_profanity_load(path, &s->profanity);
    if (st != PL_OK) return pl__asrsvc_wrap(st, "profanity list %s", path);
    return PL_OK;
}

pl_status pl_asrsvc_create(const struct pl_asrsvc_opts *o, struct pl_asrsvc **out) {
    *out = NULL;
    struct pl_asrsvc *s = pl_calloc(1, sizeof *s);
    if (!s || !(s->model_dir = pl_strdup(o->model_dir ? o->model_dir : "models"))) {
        pl_free(s);
        return PL_ERR(PL_E_NOMEM, "asr service");
    }
    s->o = *o;
    s->o.model_dir = s->model_dir;
    s->o.lm_path = s->o.profanity_path = NULL; /* not kept */
    s->o.nats_url = NULL;
    pl_status st = pl_model_repo_create(s->model_dir, &pl__asrsvc_repo, s, &s->repo);
    if (st == PL_OK) st = load_lm(s, o->lm_path);
    if (st == PL_OK) st = load_profanity(s, o->profanity_path);
    if (st == PL_OK && o->nats_url) {
        struct pl_nrpc_conn_opts co = PL_NRPC_CONN_OPTS_INIT;
        co.url = o->nats_url[0] ? o->nats_url : NULL;
        co.name = "parley-asr punctuation client";
        co.retry_on_failed_connect = true;
        if (pl_nrpc_conn_create(&co, &s->nc) != PL_OK) {
            PL_LOGW("punctuation client: %s; transcripts stay unpunctuated", pl_last_error());
            s->nc = NULL;
        }
    }
    if (st != PL_OK) {
        pl_asrsvc_destroy(s);
        return st;
    }
    *out = s;
    return PL_OK;
}

void pl_asrsvc_destroy(struct pl_asrsvc *s) {
    if (!s) return;
    pl_model_repo_destroy(s->repo);
    pl_nrpc_conn_destroy(s->nc);
    pl_asr_lm_destroy(s->lm);
    pl_asr_profanity_destroy(s->profanity);
    pl_free(s->model_dir);
    pl_free(s);
}

/* ---- GetRivaSpeechRecognitionConfig ------------------------------------------------------- */

#define MAX_PARAMS 24
typedef Nvidia__Riva__Asr__RivaSpeechRecognitionConfigResponse__Config__ParametersEntry param_t;

struct cfg_entry {
    Nvidia__Riva__Asr__RivaSpeechRecognitionConfigResponse__Config c;
    param_t p[MAX_PARAMS];
    param_t *pp[MAX_PARAMS];
    char val[MAX_PARAMS][96];
};

static void add_param(struct cfg_entry *e, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void add_param(struct cfg_entry *e, const char *key, const char *fmt, ...) {
    size_t i = e->c.n_parameters;
    if (i >= MAX_PARAMS) return;
    nvidia__riva__asr__riva_speech_recognition_config_response__config__parameters_entry__init(&e->p[i]);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->val[i], sizeof e->val[i], fmt, ap);
    va_end(ap);
    e->p[i].key = (char *)key;
    e->p[i].value = e->val[i];
    e->pp[i] = &e->p[i];
    e->c.n_parameters++;
}

static pl_status rpc_get_config(void *ud, const struct pl_worker_ctx *ctx, const uint8_t *req,
                                size_t n, struct pl_worker_out *out) {
    struct pl_asrsvc *s = ud;
    (void)ctx;
    struct pl_model_set *set = NULL;
    ProtobufCMessage *msg = NULL;
    PL_TRY(pl_proto_unpack(&nvidia__riva__asr__riva_speech_recognition_config_request__descriptor,
                           req, n, &msg));
    Nvidia__Riva__Asr__RivaSpeechRecognitionConfigRequest *rq = (void *)msg;
    const char *want = rq->model_name && *rq->model_name ? rq->model_name : NULL;
    pl_status st = PL_OK;
    set = pl_model_repo_acquire(s->repo);
    int n_models = pl__asrsvc_model_count(set);
    /* each model twice: "offline" (Recognize) and "online" (StreamingRecognize, asr_stream.c),
     * under the same name, as transcribe_file_offline.py / transcribe_file.py filter */
    struct cfg_entry *ents = pl_calloc(2 * (size_t)n_models + 1, sizeof *ents);
    Nvidia__Riva__Asr__RivaSpeechRecognitionConfigResponse__Config **cs =
        pl_calloc(2 * (size_t)n_models + 1, sizeof *cs);
    Nvidia__Riva__Asr__RivaSpeechRecognitionConfigResponse resp =
        NVIDIA__RIVA__ASR__RIVA_SPEECH_RECOGNITION_CONFIG_RESPONSE__INIT;
    if (!ents || !cs) {
        st = PL_ERR(PL_E_NOMEM, "response");
        goto fail;
    }
    for (int k = 0; k < 2 * n_models; k++) {
        const struct pl_asrsvc_model *m = pl__asrsvc_model_at(set, k / 2);
        bool online = k % 2;
        if (want && strcmp(want, m->name) != 0) continue;
        struct cfg_entry *e = &ents[resp.n_model_config];
        nvidia__riva__asr__riva_speech_recognition_config_response__config__init(&e->c);
        e->c.model_name = m->name;
        e->c.parameters = e->pp;
        /* the keys the official clients filter on: type, language_code */
        add_param(e, "type", "%s", online ? "online" : "offline");
        add_param(e, "language_code", "en-US");
        add_param(e, "sample_rate", "%d", m->sample_rate);
        add_param(e, "streaming", "%s", online ? "true" : "false");
        add_param(e, "model_type", "parley_quartznet_ctc");
        add_param(e, "vocab_size", "%d", m->vocab_size);
        add_param(e, "frame_ms", "%g", m->frame_ms);
        add_param(e, "decoder", "%s", s->o.beam_width > 0 ? "beam" : "greedy");
        add_param(e, "beam_width", "%d", s->o.beam_width);
        add_param(e, "language_model", "%s", s->lm ? "true" : "false");
        add_param(e, "lm_alpha", "%g", m->lm_alpha);
        add_param(e, "lm_beta", "%g", m->lm_beta);
        add_param(e, "instances", "%d", m->n_instances);
        add_param(e, "threads", "%d", s->o.threads);
        add_param(e, "max_batch_size", "%d", m->max_batch_size);
        add_param(e, "max_audio_s", "%g", s->o.max_audio_s);
        cs[resp.n_model_config++] = &e->c;
    }
    if (want && resp.n_model_config == 0) {
        st = PL_ERR(PL_E_NOT_FOUND, "model '%s' is not loaded", want);
        goto fail;
    }
    resp.model_config = cs;
    st = pl_proto_pack(&resp.base, &out->data, &out->len);
fail:
    pl_free(ents);
    pl_free(cs);
    pl_model_set_release(set);
    pl_proto_free(msg);
    return st;
}

pl_status pl_asrsvc_register(struct pl_asrsvc *s, struct pl_worker *w) {
    static const struct pl_worker_unary rpcs[] = {
        {"recognize", pl__asrsvc_recognize},
        {"get_riva_speech_recognition_config", rpc_get_config},
    };
    PL_TRY(pl_worker_add_unaries(w, rpcs, PL_ARRAY_LEN(rpcs), s));
    pl_worker_set_reload(w, pl_model_repo_reload_hook, s->repo);
    return PL_OK;
}
