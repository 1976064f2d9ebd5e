/*
 * asr_models.c - one acoustic model directory of the repository, served through a batcher.
 *
 * Dynamic batching: segments of concurrent requests queue in the model's batcher; a batch
 * (up to max_batch_size segments) runs as one pl_asr_batch_forward on an instance, so the
 * segments share every GEMM. Each instance is one batcher thread with its own streams and
 * batch workspace (its GEMMs may use `threads` threads); more instances run batches in
 * parallel.
 */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "asr_impl.h"
#include "log.h"
#include "asr_sched.h"
#include "model_repo.h"
#include "models/asr_model.h"
#include "models/vad.h"
#include "nrpc_batcher.h"

static double num(const json_t *o, const char *key, double def) {
    json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : def;
}

/* Batcher run: the batch's segments through one batched forward on this instance. */
static pl_status run_batch(void *ud, int instance, struct pl_batch_req **reqs, int n) {
    struct pl_asrsvc_model *m = ud;
    const float *feats[256] = {0};
    int n_frames[256] = {0}, n_out[256] = {0};
    float *out[256] = {0};
    if (n > m->max_batch_size || n > 256)
        return PL_ERR(PL_E_INTERNAL, "batch of %d > max_batch_size %d", n, m->max_batch_size);
    for (int i = 0; i < n; i++) {
        struct pl_asrsvc_fwd *f = reqs[i]->input;
        feats[i] = f->feats;
        n_frames[i] = f->n_frames;
        out[i] = f->logp;
    }
    pl_status st = pl_asr_batch_forward(m->batches[instance],
                                        m->streams + (size_t)instance * (size_t)m->max_batch_size,
                                        n, feats, n_frames, out, n_out);
    if (st != PL_OK) return pl__asrsvc_wrap(st, "acoustic model %s", m->name);
    for (int i = 0; i < n; i++) ((struct pl_asrsvc_fwd *)reqs[i]->input)->n_out = n_out[i];
    return PL_OK;
}

static struct pl_asrsvc_model *model_new(const char *dir, const char *name) {
    struct pl_asrsvc_model *m = pl_calloc(1, sizeof *m);
    if (!m) return NULL;
    pthread_mutex_init(&m->sched_lock, NULL);
    if (!(m->name = pl_strdup(name)) || !(m->dir = pl_strdup(dir))) {
        pl__asrsvc_model_destroy(m);
        return NULL;
    }
    return m;
}

/* A streaming front end equal to the model's offline one (fo), except that per-utterance
 * normalization (which needs the whole utterance) becomes running normalization. Its frames
 * feed interim results and endpointing; finals are recomputed with fo (asr_stream.c). */
static pl_status stream_fe(const struct pl_asrsvc_model *m, struct pl_asr_fe_opts fo,
                           struct pl_asr_fe **out) {
    if (fo.norm != PL_ASR_NORM_NONE) {
        fo.norm = PL_ASR_NORM_RUNNING;
        PL_LOGI("model %s: per-utterance feature normalization streams as running normalization "
                "(interims); finals are recomputed per utterance", m->name);
    }
    return pl_asr_fe_create(&fo, out);
}

/* An acoustic model directory: the model on the configured device, its front ends,
 * vocabulary, decoding defaults, and instances behind a dynamic batcher. */
static pl_status load_am(const char *dir, const char *name, const json_t *j,
                         const struct pl_asrsvc_opts *o, struct pl_asrsvc_model **out) {
    *out = NULL;
    pl_status st = PL_OK;
    char **toks = NULL;
    int n_toks = 0;
    struct pl_asrsvc_model *m = model_new(dir, name);
    if (!m) {
        st = PL_ERR(PL_E_NOMEM, "model %s", name);
        goto fail;
    }
    struct pl_asr_model_options mo = {.device = o->device};
    PL_TRY_GOTO(st, pl_asr_model_load(dir, &mo, &m->am));
    const struct pl_asr_model_config *mc = pl_asr_model_get_config(m->am);
    m->n_mels = mc->n_mels;
    m->vocab_size = mc->vocab_size;
    m->stride = mc->stride;
    m->sample_rate = (int)num(j, "sample_rate", 16000);
    if (m->sample_rate < 8000 || m->sample_rate > 48000) {
        st = PL_ERR(PL_E_FORMAT, "%s: sample_rate %d", dir, m->sample_rate);
        goto fail;
    }
    struct pl_asr_fe_opts fo;
    pl_asr_fe_opts_default(&fo);
    fo.sample_rate = m->sample_rate;
    fo.n_mels = m->n_mels;
    json_t *fj = json_object_get(j, "features");
    if (json_is_object(fj)) {
        fo.win_length = (int)num(fj, "win_length", fo.win_length);
        fo.hop_length = (int)num(fj, "hop_length", fo.hop_length);
        fo.n_fft = (int)num(fj, "n_fft", fo.n_fft);
        fo.preemph = num(fj, "preemph", fo.preemph);
        fo.log_guard = num(fj, "log_guard", fo.log_guard);
        const char *norm = json_string_value(json_object_get(fj, "normalize"));
        if (norm && !strcmp(norm, "none")) fo.norm = PL_ASR_NORM_NONE;
        else if (norm && strcmp(norm, "per_feature") != 0) {
            st = PL_ERR(PL_E_UNSUPPORTED, "%s: features.normalize '%s' (per_feature or none)", dir,
                        norm);
            goto fail;
        }
    }
    PL_TRY_GOTO(st, pl_asr_fe_create(&fo, &m->fe));
    PL_TRY_GOTO(st, stream_fe(m, fo, &m->stream_fe));
    m->stream_renorm = fo.norm == PL_ASR_NORM_PER_FEATURE;
    m->frame_ms = 1000.0 * fo.hop_length * m->stride / m->sample_rate;
    /* vocabulary: config "vocab" (the tokens in output order) */
    json_t *vj = json_object_get(j, "vocab");
    if (!json_is_array(vj) || (int)json_array_size(vj) != m->vocab_size) {
        st = PL_ERR(PL_E_FORMAT, "%s/config.json: vocab must list the %d output tokens", dir,
                    m->vocab_size);
        goto fail;
    }
    toks = pl_calloc((size_t)m->vocab_size, sizeof *toks);
    if (!toks) {
        st = PL_ERR(PL_E_NOMEM, "vocab");
        goto fail;
    }
    for (n_toks = 0; n_toks < m->vocab_size; n_toks++) {
        const char *t = json_string_value(json_array_get(vj, (size_t)n_toks));
        if (!t || !(toks[n_toks] = pl_strdup(t))) {
            st = t ? PL_ERR(PL_E_NOMEM, "vocab")
                   : PL_ERR(PL_E_FORMAT, "%s: vocab[%d] is not a string", dir, n_toks);
            goto fail;
        }
    }
    PL_TRY_GOTO(st, pl_asr_vocab_create((const char *const *)toks, n_toks, mc->blank,
                                        PL_ASR_VOCAB_AUTO, &m->vocab));
    json_t *dj = json_object_get(j, "decoding");
    m->lm_alpha = o->lm_alpha >= 0 ? o->lm_alpha : num(dj, "lm_alpha", 0.5);
    m->lm_beta = o->lm_beta >= 0 ? o->lm_beta : num(dj, "lm_beta", 1.0);
    struct pl_asr_decode_opts dflt; /* the decoder's own default for an OOV word */
    pl_asr_decode_opts_default(&dflt);
    m->lm_oov_logp = num(dj, "lm_oov_logp", dflt.oov_logp);
    m->lm_unk_penalty = num(dj, "lm_unk_penalty", dflt.unk_prefix_penalty);

    m->n_instances = o->instances > 0 ? o->instances : 1;
    m->max_batch_size = o->max_batch_size > 0 ? o->max_batch_size : 4;
    if (m->max_batch_size > 256) m->max_batch_size = 256;
    m->streams = pl_calloc((size_t)m->n_instances * (size_t)m->max_batch_size, sizeof *m->streams);
    m->batches = pl_calloc((size_t)m->n_instances, sizeof *m->batches);
    if (!m->streams || !m->batches) {
        st = PL_ERR(PL_E_NOMEM, "streams");
        goto fail;
    }
    for (int i = 0; i < m->n_instances * m->max_batch_size; i++)
        PL_TRY_GOTO(st, pl_asr_state_create(m->am, 256, &m->streams[i]));
    for (int i = 0; i < m->n_instances; i++) {
        PL_TRY_GOTO(st, pl_asr_batch_create(m->am, m->max_batch_size, 256, &m->batches[i]));
        if (o->threads > 1) PL_TRY_GOTO(st, pl_asr_batch_set_threads(m->batches[i], o->threads));
    }
    struct pl_batcher_opts bo = PL_BATCHER_OPTS_INIT;
    bo.max_batch_size = m->max_batch_size;
    bo.max_queue_delay_us = m->max_queue_delay_us =
        o->max_queue_delay_us >= 0 ? o->max_queue_delay_us : 1000;
    bo.n_instances = m->n_instances;
    bo.max_queue = o->max_queue > 0 ? o->max_queue : 1024;
    bo.metrics = o->metrics;
    bo.model = m->name;
    PL_TRY_GOTO(st, pl_batcher_create(&bo, run_batch, m, &m->batcher));
    PL_LOGI("model %s: %d mels, %d tokens, stride %d, %d instance%s on %s", name, m->n_mels,
            m->vocab_size, m->stride, m->n_instances, m->n_instances == 1 ? "" : "s",
            o->device && *o->device ? o->device : "cpu");
    *out = m;
    m = NULL;
fail:
    for (int i = 0; toks && i < n_toks; i++) pl_free(toks[i]);
    pl_free(toks);
    pl__asrsvc_model_destroy(m);
    return st;
}

/* A VAD directory: config.json "weights" (default model.safetensors), on the CPU. */
static pl_status load_vad(const char *dir, const char *name, const json_t *j,
                          struct pl_asrsvc_model **out) {
    *out = NULL;
    const char *w = json_string_value(json_object_get(j, "weights"));
    char path[4096];
    if (w && (strchr(w, '/') || !*w))
        return PL_ERR(PL_E_FORMAT, "%s/config.json: weights '%s' must be a file name", dir, w);
    snprintf(path, sizeof path, "%s/%s", dir, w ? w : "model.safetensors");
    struct pl_asrsvc_model *m = model_new(dir, name);
    if (!m) return PL_ERR(PL_E_NOMEM, "model %s", name);
    pl_status st = pl_vad_create(path, &m->vad);
    if (st != PL_OK) {
        pl__asrsvc_model_destroy(m);
        return st;
    }
    *out = m;
    return PL_OK;
}

/* ---- the repository interface ---------------------------------------------------------------- */

static bool is_type(const json_t *config, const char *type) {
    const char *t = json_string_value(json_object_get(config, "model_type"));
    return t && !strcmp(t, type);
}

static bool repo_claims(void *ud, const char *dir, const json_t *config) {
    (void)ud;
    (void)dir;
    return is_type(config, "parley_quartznet_ctc") || is_type(config, "silero_vad");
}

static pl_status repo_load(void *ud, const char *dir_name, const char *dir, const json_t *config,
                           struct pl_model_list *out) {
    struct pl_asrsvc *s = ud;
    struct pl_asrsvc_model *m = NULL;
    if (is_type(config, "silero_vad"))
        PL_TRY(load_vad(dir, dir_name, config, &m));
    else
        PL_TRY(load_am(dir, dir_name, config, &s->o, &m));
    return pl_model_list_add(out, dir_name, m);
}

static void repo_unload(void *ud, void *model) {
    (void)ud;
    pl__asrsvc_model_destroy(model);
}

const struct pl_model_repo_i pl__asrsvc_repo = {"ASR model", repo_claims, repo_load, repo_unload};

pl_status pl__asrsvc_model_pick(const struct pl_asrsvc *s, const struct pl_model_set *set,
                                const char *name, struct pl_asrsvc_model **out) {
    *out = NULL;
    int n = pl__asrsvc_model_count(set);
    if (n == 0)
        return PL_ERR(PL_E_UNAVAILABLE, "no ASR model is loaded (model_dir %s)", s->model_dir);
    for (int i = 0; i < n; i++) {
        struct pl_asrsvc_model *m = pl__asrsvc_model_at(set, i);
        if (!name || !*name || !strcmp(m->name, name)) {
            *out = m;
            return PL_OK;
        }
    }
    return PL_ERR(PL_E_NOT_FOUND,
                  "model '%s' is not loaded (GetRivaSpeechRecognitionConfig lists the models)", name);
}

struct pl_asrsvc_model *pl__asrsvc_model_at(const struct pl_model_set *set, int i) {
    for (int k = 0, n = pl_model_set_count(set); k < n; k++) {
        struct pl_asrsvc_model *m = pl_model_set_at(set, k, NULL, NULL);
        if (!m->vad && i-- == 0) return m;
    }
    return NULL;
}

int pl__asrsvc_model_count(const struct pl_model_set *set) {
    int c = 0;
    for (int k = 0, n = pl_model_set_count(set); k < n; k++) {
        const struct pl_asrsvc_model *m = pl_model_set_at(set, k, NULL, NULL);
        c += m->vad == NULL;
    }
    return c;
}

struct pl_vad *pl__asrsvc_set_vad(const struct pl_model_set *set) {
    for (int k = 0, n = pl_model_set_count(set); k < n; k++) {
        struct pl_asrsvc_model *m = pl_model_set_at(set, k, NULL, NULL);
        if (m->vad) return m->vad;
    }
    return NULL;
}

void pl__asrsvc_model_destroy(struct pl_asrsvc_model *m) {
    if (!m) return;
    pl_asrsvc_sched_destroy(m->sched); /* no stream holds the model any more */
    for (int i = 0; i < m->n_idle_states; i++) pl_asr_state_destroy(m->idle_states[i]);
    pl_asr_fe_destroy(m->stream_fe);
    pl_vad_destroy(m->vad);
    pthread_mutex_destroy(&m->sched_lock);
    pl_batcher_destroy(m->batcher);
    for (int i = 0; m->batches && i < m->n_instances; i++) pl_asr_batch_destroy(m->batches[i]);
    pl_free(m->batches);
    for (int i = 0; m->streams && i < m->n_instances * m->max_batch_size; i++)
        pl_asr_state_destroy(m->streams[i]);
    pl_free(m->streams);
    pl_asr_vocab_destroy(m->vocab);
    pl_asr_fe_destroy(m->fe);
    pl_asr_model_destroy(m->am);
    pl_free(m->name);
    pl_free(m->dir);
    pl_free(m);
}

pl_status pl__asrsvc_model_run(struct pl_asrsvc_model *m, const float *feats, int n_frames,
                               int64_t deadline_us, float **logp, int *n_out) {
    *logp = NULL;
    *n_out = 0;
    int rows = pl_asr_model_n_out(m->am, n_frames);
    float *buf = pl_malloc(sizeof *buf * (size_t)(rows > 0 ? rows : 1) * (size_t)m->vocab_size);
    if (!buf) return PL_ERR(PL_E_NOMEM, "log-probs of %d frames", rows);
    struct pl_asrsvc_fwd f = {feats, n_frames, buf, 0};
    struct pl_batch_req r;
    pl_batch_req_init(&r, &f, deadline_us);
    pl_status st = pl_batcher_submit(m->batcher, &r);
    if (st == PL_OK) st = pl_batcher_wait(m->batcher, &r, -1);
    if (st == PL_OK && r.status != PL_OK) st = PL_ERR(r.status, "%s", r.error);
    if (st != PL_OK) {
        if (st == PL_E_EXHAUSTED) st = PL_ERR(st, "model %s: queue is full", m->name);
        pl_free(buf);
        return st;
    }
    *logp = buf;
    *n_out = f.n_out;
    return PL_OK;
}
