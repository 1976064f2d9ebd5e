/*
 * asr_stream_config.c - StreamingRecognize of parley-asr (asr_stream.h): the streaming
 * service (options, endpointing modes, each model's batching scheduler, the VAD) and the
 * configuration of a session from its streaming_config. A session's audio, endpointing,
 * decoding and results are in asr_stream.c.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "asr_impl.h"
#include "asr_sched.h"
#include "asr_stream_impl.h"
#include "endpoint.h"
#include "log.h"
#include "model_repo.h"
#include "models/asr_model.h"
#include "models/vad.h"
#include "riva/proto/riva_asr.pb-c.h"

#define MAX_ALTERNATIVES 32
#define EP_FRAME_MS 10
/* Windows of digital silence the VAD hears before a stream's first sample. From its reset
 * state (LSTM h = c = 0) it takes the first 0.1-0.2 s of speech that starts with the stream
 * for silence: a 0.2-0.3 s word at the very start (8 of FSDD's 300 test digits) stayed under
 * the endpointer's start window and the stream gave no final. After a few windows of
 * silence it is in the state a microphone stream gives it (4 suffice; docs/asr-streaming.md). */
#define VAD_PRIME_WINDOWS 8

void pl_asrsvc_streaming_opts_default(struct pl_asrsvc_streaming_opts *o) {
    memset(o, 0, sizeof *o);
    o->max_utterance_s = 30.0;
    o->endpointing = PL_ASRSVC_EP_AUTO;
    o->max_batch = PL_ASRSVC_SCHED_MAX_BATCH;
    o->batch_wait_us = 2000;
    o->final_renorm = true;
    o->final_margin_ms = 500;
    o->interim_beam_width = 16;
    o->tail_gate_db = 0.0;
}

pl_status pl_asrsvc_endpointing_parse(const char *name, int *out) {
    if (!name || !out) return PL_ERR(PL_E_INVALID_ARG, "pl_asrsvc_endpointing_parse: NULL argument");
    if (!strcmp(name, "auto"))
        *out = PL_ASRSVC_EP_AUTO;
    else if (!strcmp(name, "vad+blank"))
        *out = PL_ASRSVC_EP_VAD_BLANK;
    else if (!strcmp(name, "vad"))
        *out = PL_ASRSVC_EP_VAD;
    else if (!strcmp(name, "agree"))
        *out = PL_ASRSVC_EP_AGREE;
    else
        return PL_ERR(PL_E_INVALID_ARG,
                      "stream endpointing '%s': want auto, vad+blank, vad or agree", name);
    return PL_OK;
}

/* The endpointing mode (AUTO resolved) of streams of model m: the blank of a 10 ms frame is
 * known this long after its audio: the model's right context in feature frames (10 ms each)
 * and about a frame of feature window. */
static int ep_mode_of(const struct pl_asrsvc_streaming *ss, const struct pl_asrsvc_model *m,
                      int *la_ms) {
    int la = pl_asr_model_get_config(m->am)->right_context * EP_FRAME_MS + EP_FRAME_MS;
    if (la_ms) *la_ms = la;
    int mode = ss->o.endpointing;
    if (mode == PL_ASRSVC_EP_AUTO)
        mode = la <= PL_ASRSVC_AUTO_LOOKAHEAD_MS ? PL_ASRSVC_EP_VAD_BLANK
                                                     : PL_ASRSVC_EP_VAD;
    return mode;
}

/* A model state for a new stream of m: an ended stream's (reset) or a new one. */
static pl_status state_get(struct pl_asrsvc_model *m, struct pl_asr_state **out) {
    *out = NULL;
    pthread_mutex_lock(&m->sched_lock);
    if (m->n_idle_states > 0) *out = m->idle_states[--m->n_idle_states];
    pthread_mutex_unlock(&m->sched_lock);
    return *out ? PL_OK : pl_asr_state_create(m->am, MODEL_CHUNK, out);
}

void pl__asrsvc_state_put(struct pl_asrsvc_model *m, struct pl_asr_state *st) {
    if (!st) return;
    pl_asr_state_reset(st);
    pthread_mutex_lock(&m->sched_lock);
    if (m->n_idle_states < PL_ASRSVC_IDLE_STATES) {
        m->idle_states[m->n_idle_states++] = st;
        st = NULL;
    }
    pthread_mutex_unlock(&m->sched_lock);
    pl_asr_state_destroy(st);
}

/* Model m's scheduler, made by its first stream (models loaded by a reload get theirs the
 * same way); it lives as long as the model. */
static pl_status model_sched(struct pl_asrsvc_streaming *ss, struct pl_asrsvc_model *m,
                             struct pl_asrsvc_sched **out) {
    pl_status st = PL_OK;
    pthread_mutex_lock(&m->sched_lock);
    if (!m->sched) {
        struct pl_asrsvc_sched_opts so;
        pl_asrsvc_sched_opts_default(&so);
        so.max_batch = ss->o.max_batch;
        so.max_chunk = MODEL_CHUNK;
        so.max_wait_us = ss->o.batch_wait_us;
        so.metrics = ss->o.metrics;
        so.model = m->name;
        st = pl_asrsvc_sched_create(m->am, &so, &m->sched);
        if (st == PL_OK) {
            int la_ms, mode = ep_mode_of(ss, m, &la_ms);
            PL_LOGI("model %s: model look-ahead %d ms; streaming endpointing %s%s", m->name,
                    la_ms,
                    mode == PL_ASRSVC_EP_VAD_BLANK ? "vad+blank"
                    : mode == PL_ASRSVC_EP_VAD     ? "vad"
                                                       : "agree",
                    ss->o.endpointing == PL_ASRSVC_EP_AUTO ? " (auto)" : "");
        }
    }
    *out = m->sched;
    pthread_mutex_unlock(&m->sched_lock);
    return st;
}

pl_status pl_asrsvc_streaming_create(struct pl_asrsvc *svc, const struct pl_asrsvc_streaming_opts *o,
                                  struct pl_asrsvc_streaming **out) {
    if (!svc || !out) return PL_ERR(PL_E_INVALID_ARG, "pl_asrsvc_streaming_create: NULL argument");
    *out = NULL;
    pl_status st = PL_OK;
    struct pl_asrsvc_streaming *ss = pl_calloc(1, sizeof *ss);
    if (!ss) return PL_ERR(PL_E_NOMEM, "stream service");
    ss->svc = svc;
    if (o)
        ss->o = *o;
    else
        pl_asrsvc_streaming_opts_default(&ss->o);
    ss->o.vad_path = NULL; /* not kept */
    if (!(ss->o.max_utterance_s >= 1.0)) ss->o.max_utterance_s = 30.0;
    if (ss->o.endpointing < PL_ASRSVC_EP_AUTO ||
        ss->o.endpointing > PL_ASRSVC_EP_AGREE) {
        st = PL_ERR(PL_E_INVALID_ARG, "stream endpointing mode %d", ss->o.endpointing);
        goto fail;
    }
    if (ss->o.interim_beam_width < 0 || ss->o.interim_beam_width > 1024) {
        st = PL_ERR(PL_E_INVALID_ARG, "stream interim_beam_width %d outside 0..1024",
                    ss->o.interim_beam_width);
        goto fail;
    }
    const char *vp = o ? o->vad_path : NULL;
    if (vp && !strcmp(vp, "none")) {
        ss->no_vad = true;
    } else if (vp && *vp) {
        st = pl_vad_create(vp, &ss->vad);
        if (st != PL_OK) {
            st = pl__asrsvc_wrap(st, "VAD weights %s", vp);
            goto fail;
        }
    } else if (!pl_asrsvc_streaming_has_vad(ss)) {
        PL_LOGW("no VAD under %s (model_type silero_vad, e.g. vad-silero/); streams end "
                "utterances only at the end of the stream", svc->model_dir);
    }
    *out = ss;
    return PL_OK;
fail:
    pl_asrsvc_streaming_destroy(ss);
    return st;
}

void pl_asrsvc_streaming_destroy(struct pl_asrsvc_streaming *ss) {
    if (!ss) return;
    pl_vad_destroy(ss->vad);
    pl_free(ss);
}

/* The VAD streams of set use: the explicit one, else the repository's (NULL: none). */
static struct pl_vad *vad_of(const struct pl_asrsvc_streaming *ss, const struct pl_model_set *set) {
    if (ss->no_vad) return NULL;
    return ss->vad ? ss->vad : pl__asrsvc_set_vad(set);
}

bool pl_asrsvc_streaming_has_vad(const struct pl_asrsvc_streaming *ss) {
    if (!ss) return false;
    struct pl_model_set *set = pl_model_repo_acquire(ss->svc->repo);
    bool has = vad_of(ss, set) != NULL;
    pl_model_set_release(set);
    return has;
}

int pl_asrsvc_streaming_endpointing(const struct pl_asrsvc_streaming *ss, const char *name) {
    if (!ss) return -1;
    struct pl_model_set *set = pl_model_repo_acquire(ss->svc->repo);
    struct pl_asrsvc_model *m = NULL;
    int mode = pl__asrsvc_model_pick(ss->svc, set, name, &m) == PL_OK ? ep_mode_of(ss, m, NULL) : -1;
    pl_model_set_release(set);
    return mode;
}

void pl_asrsvc_streaming_batch_stats(struct pl_asrsvc_streaming *ss, long *steps, long *stream_steps) {
    *steps = *stream_steps = 0;
    if (!ss) return;
    struct pl_model_set *set = pl_model_repo_acquire(ss->svc->repo);
    for (int i = 0, n = pl__asrsvc_model_count(set); i < n; i++) {
        struct pl_asrsvc_model *m = pl__asrsvc_model_at(set, i);
        pthread_mutex_lock(&m->sched_lock);
        if (m->sched) {
            struct pl_asrsvc_sched_stats t;
            pl_asrsvc_sched_get_stats(m->sched, &t);
            *steps += t.steps;
            *stream_steps += t.stream_steps;
        }
        pthread_mutex_unlock(&m->sched_lock);
    }
    pl_model_set_release(set);
}

/* ---- configuration ------------------------------------------------------------------------- */

pl_status pl__asrsvc_session_setup(struct pl_asrsvc_session *s,
                                   const Nvidia__Riva__Asr__StreamingRecognitionConfig *sc) {
    struct pl_asrsvc *svc = s->ss->svc;
    const Nvidia__Riva__Asr__RecognitionConfig *c = sc->config;
    if (!c) return PL_ERR(PL_E_INVALID_ARG, "streaming_config.config is missing");
    s->cfg = c;
    s->interim = sc->interim_results;
    for (size_t i = 0; i < c->n_custom_configuration; i++) {
        const char *k = c->custom_configuration[i]->key, *v = c->custom_configuration[i]->value;
        if (k && v && !strcmp(k, "speech_events"))
            s->speech_events = !strcasecmp(v, "true") || !strcmp(v, "1");
    }
    const char *lc = c->language_code;
    if (lc && *lc && strcasecmp(lc, "en-US") && strcasecmp(lc, "en_US") && strcasecmp(lc, "en"))
        return PL_ERR(PL_E_INVALID_ARG, "language_code '%s' is not served (this service: en-US)",
                      lc);
    if (c->max_alternatives < 0 || c->max_alternatives > MAX_ALTERNATIVES)
        return PL_ERR(PL_E_INVALID_ARG, "max_alternatives %d is out of range (0..%d)",
                      c->max_alternatives, MAX_ALTERNATIVES);
    if (c->enable_separate_recognition_per_channel)
        PL_LOGD("separate recognition per channel is not streamed; channels are averaged");
    s->set = pl_model_repo_acquire(svc->repo);
    PL_TRY(pl__asrsvc_model_pick(svc, s->set, c->model, &s->m));
    s->fe = s->m->stream_fe;
    PL_TRY(model_sched(s->ss, s->m, &s->sched));
    struct pl_vad *vad = vad_of(s->ss, s->set);
    s->max_alt = c->max_alternatives > 0 ? c->max_alternatives : 1;
    /* decoding as Recognize does it */
    struct pl__asrsvc_settings rs;
    pl__asrsvc_settings_init(svc, s->m, &rs);
    PL_TRY(pl__asrsvc_parse_custom(c, &rs));
    rs.use_lm = rs.use_lm && svc->lm != NULL;
    if (s->max_alt > 1) rs.beam = true;
    if (rs.beam_width < s->max_alt) rs.beam_width = s->max_alt;
    pl__asrsvc_decode_opts(&rs, s->m, s->max_alt, &s->dopts);
    s->renorm = s->m->stream_renorm && s->ss->o.final_renorm;
    if (rs.beam) {
        /* the streamed decoder: the interims', and the finals' unless they are recomputed */
        struct pl_asr_decode_opts io = s->dopts;
        int iw = s->ss->o.interim_beam_width;
        if (s->renorm && iw > 0 && iw < io.beam_width)
            io.beam_width = iw < s->max_alt ? s->max_alt : iw;
        pl_status st =
            pl_asr_beam_create(s->m->vocab, rs.use_lm ? svc->lm : NULL, &io, NULL, 0, &s->beam);
        if (st == PL_OK)
            st = pl_asr_beam_create(s->m->vocab, rs.use_lm ? svc->lm : NULL, &s->dopts, NULL, 0,
                                    &s->pbeam);
        if (st != PL_OK)
            return pl__asrsvc_wrap(st == PL_E_NOMEM ? st : PL_E_INVALID_ARG, "decoder");
    }
    /* endpointing */
    if (vad && s->m->sample_rate == PL_VAD_SAMPLE_RATE) {
        struct pl_endpoint_config ec;
        memset(&ec, 0, sizeof ec);
        const Nvidia__Riva__Asr__EndpointingConfig *e = c->endpointing_config;
        if (e) {
            ec.has_start_history = e->_start_history_case != 0;
            ec.start_history = e->start_history;
            ec.has_start_threshold = e->_start_threshold_case != 0;
            ec.start_threshold = e->start_threshold;
            ec.has_stop_history = e->_stop_history_case != 0;
            ec.stop_history = e->stop_history;
            ec.has_stop_threshold = e->_stop_threshold_case != 0;
            ec.stop_threshold = e->stop_threshold;
            ec.has_stop_history_eou = e->_stop_history_eou_case != 0;
            ec.stop_history_eou = e->stop_history_eou;
            ec.has_stop_threshold_eou = e->_stop_threshold_eou_case != 0;
            ec.stop_threshold_eou = e->stop_threshold_eou;
        }
        struct pl_endpoint_params p;
        pl_status st = pl_endpoint_params_resolve(&ec, EP_FRAME_MS, &p);
        if (st != PL_OK) return pl__asrsvc_wrap(PL_E_INVALID_ARG, "endpointing_config");
        int mode = ep_mode_of(s->ss, s->m, NULL);
        s->use_blank = mode != PL_ASRSVC_EP_VAD;
        p.combine = mode == PL_ASRSVC_EP_VAD_BLANK
                        ? PL_ENDPOINT_COMBINE_BLANK_ENDS
                        : PL_ENDPOINT_COMBINE_AGREE;
        s->blank_id = pl_asr_model_get_config(s->m->am)->blank;
        s->stride = s->m->stride > 0 ? s->m->stride : 1;
        p.tail_gate_db = (float)s->ss->o.tail_gate_db;
        PL_TRY(pl_endpoint_create(&p, &s->ep));
        PL_TRY(pl_vad_state_create(vad, &s->vs));
        static const float silence[PL_VAD_WINDOW];
        float prob;
        for (int i = 0; i < VAD_PRIME_WINDOWS; i++) PL_TRY(pl_vad_process(s->vs, silence, &prob));
    }
    PL_TRY(pl_asr_fe_stream_create(s->fe, &s->fs));
    pl_asr_fe_stream_keep_logmel(s->fs, s->renorm); /* the final reuses the log-mels */
    PL_TRY(state_get(s->m, &s->ms));
    s->mout = pl_malloc(sizeof *s->mout * (size_t)pl_asr_state_max_out(s->ms) *
                        (size_t)s->m->vocab_size);
    if (!s->mout) return PL_ERR(PL_E_NOMEM, "model output");
    return PL_OK;
}
