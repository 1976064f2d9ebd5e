/*
 * asr_recognize.c - the Recognize rpc of parley-asr.
 *
 * Request -> checks (config, language, model, alternatives, custom settings) -> audio
 * (asr_audio.c) -> per channel: segments at pauses (asr_segment.c) -> per segment: log-mel
 * features (per-segment normalization, as the model was trained) -> acoustic model through
 * the batcher -> CTC decoding (greedy, or prefix beam search with the LM and SpeechContext
 * boosts, n-best) -> per alternative: punctuation (parley-nlu, when asked and reachable),
 * inverse text normalization of numbers (unless verbatim_transcripts), profanity filter ->
 * one SpeechRecognitionResult per segment.
 *
 * Response sub-messages are allocated in a per-call pl_arena freed after packing.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "arena.h"
#include "asr_impl.h"
#include "audio.h"
#include "log.h"
#include "model_repo.h"
#include "nrpc.h"
#include "proto_util.h"
#include "riva/proto/riva_asr.pb-c.h"
#include "riva/proto/riva_nlp.pb-c.h"
#include "util.h"

#define MAX_ALTERNATIVES 32

/* ---- request settings ---------------------------------------------------------------------- */

static pl_status parse_double(const char *key, const char *v, double lo, double hi, double *out) {
    char *end;
    double d = strtod(v, &end);
    if (end == v || *end || !isfinite(d) || d < lo || d > hi)
        return PL_ERR(PL_E_INVALID_ARG, "custom_configuration %s: expected a number in %g..%g, got '%s'",
                      key, lo, hi, v);
    *out = d;
    return PL_OK;
}

/*
 * custom_configuration keys (docs/asr-service.md): decoder = greedy|beam, beam_width,
 * lm_alpha, lm_beta, lm_oov_logp, lm_unk_penalty, lm = true|false, pause_ms, max_segment_s. Other keys are
 * ignored (Riva clients send keys for other servers too), but a known key with a bad value
 * is an error.
 */
void pl__asrsvc_settings_init(const struct pl_asrsvc *s, const struct pl_asrsvc_model *m,
                              struct pl__asrsvc_settings *rs) {
    memset(rs, 0, sizeof *rs);
    rs->beam = s->o.beam_width > 0;
    rs->beam_width = s->o.beam_width > 0 ? s->o.beam_width : PL_ASRSVC_BEAM_WIDTH;
    rs->lm_alpha = m->lm_alpha;
    rs->lm_beta = m->lm_beta;
    rs->lm_oov_logp = m->lm_oov_logp;
    rs->lm_unk_penalty = m->lm_unk_penalty;
    rs->use_lm = s->lm != NULL;
    rs->seg = s->o.seg;
    rs->seg.sample_rate = m->sample_rate;
}

void pl__asrsvc_decode_opts(const struct pl__asrsvc_settings *rs, const struct pl_asrsvc_model *m,
                            int max_alt, struct pl_asr_decode_opts *o) {
    pl_asr_decode_opts_default(o);
    o->frame_ms = m->frame_ms;
    o->beam_width = rs->beam_width;
    o->lm_alpha = rs->lm_alpha;
    o->lm_beta = rs->use_lm ? rs->lm_beta : 0;
    o->oov_logp = rs->lm_oov_logp;
    o->unk_prefix_penalty = rs->use_lm ? rs->lm_unk_penalty : 0;
    o->max_alternatives = max_alt;
}

pl_status pl__asrsvc_parse_custom(const Nvidia__Riva__Asr__RecognitionConfig *c,
                                  struct pl__asrsvc_settings *rs) {
    for (size_t i = 0; i < c->n_custom_configuration; i++) {
        const char *k = c->custom_configuration[i]->key, *v = c->custom_configuration[i]->value;
        double d = 0;
        if (!k || !v) continue;
        if (!strcmp(k, "decoder")) {
            if (!strcmp(v, "greedy")) rs->beam = false;
            else if (!strcmp(v, "beam")) rs->beam = true;
            else return PL_ERR(PL_E_INVALID_ARG, "custom_configuration decoder: 'greedy' or 'beam', got '%s'", v);
        } else if (!strcmp(k, "beam_width")) {
            PL_TRY(parse_double(k, v, 1, 256, &d));
            rs->beam_width = (int)d;
            rs->beam = true;
        } else if (!strcmp(k, "lm_alpha")) {
            PL_TRY(parse_double(k, v, 0, 10, &rs->lm_alpha));
        } else if (!strcmp(k, "lm_oov_logp")) {
            PL_TRY(parse_double(k, v, -100, 0, &rs->lm_oov_logp));
        } else if (!strcmp(k, "lm_unk_penalty")) {
            PL_TRY(parse_double(k, v, -100, 0, &rs->lm_unk_penalty));
        } else if (!strcmp(k, "lm_beta")) {
            PL_TRY(parse_double(k, v, -20, 20, &rs->lm_beta));
        } else if (!strcmp(k, "lm")) {
            if (!strcasecmp(v, "true") || !strcmp(v, "1")) rs->use_lm = true;
            else if (!strcasecmp(v, "false") || !strcmp(v, "0")) rs->use_lm = false;
            else return PL_ERR(PL_E_INVALID_ARG, "custom_configuration lm: true or false, got '%s'", v);
        } else if (!strcmp(k, "pause_ms")) {
            PL_TRY(parse_double(k, v, 50, 10000, &d));
            rs->seg.pause_s = d / 1000.0;
        } else if (!strcmp(k, "max_segment_s")) {
            PL_TRY(parse_double(k, v, 1, 60, &rs->seg.max_s));
        } else {
            PL_LOGD("custom_configuration key '%s' ignored", k);
        }
    }
    return PL_OK;
}

static bool language_ok(const char *lc) {
    return !lc || !*lc || !strcasecmp(lc, "en-US") || !strcasecmp(lc, "en_US") ||
           !strcasecmp(lc, "en");
}

/* ---- punctuation through parley-nlu --------------------------------------------------------- */

/* Shared with StreamingRecognize (asr_impl.h). */
void pl__asrsvc_punctuate(struct pl_asrsvc *s, char **texts, int n, int64_t deadline_us) {
    if (!s->nc) {
        PL_LOGW("enable_automatic_punctuation: no NATS connection for parley-nlu; unpunctuated");
        return;
    }
    Nvidia__Riva__Nlp__NLPModelParams mp = NVIDIA__RIVA__NLP__NLPMODEL_PARAMS__INIT;
    mp.language_code = "en-US";
    Nvidia__Riva__Nlp__TextTransformRequest rq = NVIDIA__RIVA__NLP__TEXT_TRANSFORM_REQUEST__INIT;
    rq.n_text = (size_t)n;
    rq.text = texts;
    rq.model = &mp;
    uint8_t *buf = NULL;
    size_t len = 0;
    if (pl_proto_pack(&rq.base, &buf, &len) != PL_OK) return;
    /* at most punct_timeout_ms, and never past the request's own deadline */
    int timeout = s->o.punct_timeout_ms > 0 ? s->o.punct_timeout_ms : 2000;
    struct pl_nrpc_meta meta = {pl_log_request_id()[0] ? pl_log_request_id() : NULL, deadline_us,
                                NULL};
    struct pl_nrpc_reply r;
    memset(&r, 0, sizeof r);
    if (pl_nrpc_call(s->nc, "parley.nlu.punctuate_text", buf, len, &meta, timeout, &r) != PL_OK) {
        PL_LOGW("punctuation call failed: %s; unpunctuated", pl_last_error());
    } else if (r.code != PL_GRPC_OK) {
        PL_LOGW("punctuation by parley-nlu unavailable (%s: %s); unpunctuated",
                pl_grpc_code_name(r.code), r.message ? r.message : "");
    } else {
        ProtobufCMessage *m = NULL;
        if (pl_proto_unpack(&nvidia__riva__nlp__text_transform_response__descriptor, r.data, r.len,
                            &m) == PL_OK) {
            Nvidia__Riva__Nlp__TextTransformResponse *rp = (void *)m;
            if (rp->n_text == (size_t)n) {
                for (int i = 0; i < n; i++) {
                    char *t = pl_strdup(rp->text[i]);
                    if (t) {
                        pl_free(texts[i]);
                        texts[i] = t;
                    }
                }
            } else {
                PL_LOGW("punctuation returned %zu texts for %d; unpunctuated", rp->n_text, n);
            }
        }
        pl_proto_free(m);
    }
    pl_nrpc_reply_deinit(&r);
    pl_free(buf);
}

/* ---- one segment ---------------------------------------------------------------------------- */

struct call {
    struct pl_asrsvc *s;
    struct pl_asrsvc_model *m;
    const Nvidia__Riva__Asr__RecognitionConfig *cfg;
    struct pl__asrsvc_settings rs;
    int max_alt;
    struct pl_asr_beam *beam; /* NULL: greedy */
    struct pl_asr_decode_opts dopts;
    int64_t deadline_us;
    struct pl_arena a; /* the response's sub-messages and strings */
    struct pl_model_set *set; /* holds m */
    Nvidia__Riva__Asr__SpeechRecognitionResult **results;
    size_t n_results, cap_results;
    const char **lang; /* {"en-US"} */
};

static pl_status add_result(struct call *c, Nvidia__Riva__Asr__SpeechRecognitionResult *r) {
    if (c->n_results == c->cap_results) {
        size_t cap = c->cap_results ? c->cap_results * 2 : 8;
        void *nr = pl_realloc(c->results, sizeof *c->results * cap);
        if (!nr) return PL_ERR(PL_E_NOMEM, "results");
        c->results = nr;
        c->cap_results = cap;
    }
    c->results[c->n_results++] = r;
    return PL_OK;
}

/* Post-process a transcript: ITN (unless verbatim) then profanity. Takes ownership of t. */
static char *postprocess(struct call *c, char *t) {
    if (!t) return NULL;
    if (!c->cfg->verbatim_transcripts) {
        char *o = NULL;
        if (pl_asr_itn_numbers(t, &o) == PL_OK) {
            pl_free(t);
            t = o;
        }
    }
    if (c->cfg->profanity_filter && c->s->profanity) {
        char *o = NULL;
        if (pl_asr_profanity_filter(c->s->profanity, t, &o) == PL_OK) {
            pl_free(t);
            t = o;
        }
    }
    return t;
}

pl_status pl__asrsvc_decode_audio(struct pl_asrsvc_model *m, const float *x, size_t n,
                                  int64_t deadline_us, struct pl_asr_beam *beam,
                                  const struct pl_asr_decode_opts *dopts,
                                  struct pl_asr_nbest **nb) {
    pl_status st = PL_OK;
    float *feats = NULL, *logp = NULL;
    size_t nfr = 0;
    int n_out = 0;
    *nb = NULL;
    PL_TRY_GOTO(st, pl_asr_fe_compute(m->fe, x, n, &feats, &nfr));
    PL_TRY_GOTO(st, pl__asrsvc_model_run(m, feats, (int)nfr, deadline_us, &logp, &n_out));
    if (beam) {
        pl_asr_beam_reset(beam);
        PL_TRY_GOTO(st, pl_asr_beam_feed(beam, logp, (size_t)n_out, m->vocab_size));
        PL_TRY_GOTO(st, pl_asr_beam_finish(beam, nb));
    } else {
        PL_TRY_GOTO(st, pl_asr_ctc_greedy(m->vocab, logp, (size_t)n_out, m->vocab_size, dopts, nb));
    }
fail:
    pl_free(feats);
    pl_free(logp);
    return st;
}

static pl_status run_segment(struct call *c, const float *x, size_t n, size_t offset_samples,
                             int channel_tag, double end_s) {
    pl_status st = PL_OK;
    struct pl_asr_nbest *nb = NULL;
    char **texts = NULL;
    if (c->deadline_us > 0 && pl_time_mono_us() > c->deadline_us)
        return PL_ERR(PL_E_TIMEOUT, "deadline passed after %.1f s of audio", (double)offset_samples / c->m->sample_rate);
    PL_TRY_GOTO(st, pl__asrsvc_decode_audio(c->m, x, n, c->deadline_us, c->beam, &c->dopts, &nb));
    if (nb->n == 0 || !nb->hyps[0].text || !nb->hyps[0].text[0]) goto fail; /* nothing said */
    int n_alt = nb->n < c->max_alt ? nb->n : c->max_alt;
    texts = pl_calloc((size_t)n_alt, sizeof *texts);
    if (!texts) {
        st = PL_ERR(PL_E_NOMEM, "transcripts");
        goto fail;
    }
    for (int i = 0; i < n_alt; i++)
        if (!(texts[i] = pl_strdup(nb->hyps[i].text))) {
            st = PL_ERR(PL_E_NOMEM, "transcripts");
            goto fail;
        }
    if (c->cfg->enable_automatic_punctuation)
        pl__asrsvc_punctuate(c->s, texts, n_alt, c->deadline_us);
    struct pl_arena *a = &c->a;
    Nvidia__Riva__Asr__SpeechRecognitionResult *r = pl_arena_alloc(a, sizeof *r);
    Nvidia__Riva__Asr__SpeechRecognitionAlternative **alts = pl_arena_alloc(a, sizeof *alts * (size_t)n_alt);
    if (!r || !alts) {
        st = PL_ERR(PL_E_NOMEM, "response");
        goto fail;
    }
    nvidia__riva__asr__speech_recognition_result__init(r);
    r->channel_tag = channel_tag;
    r->audio_processed = (float)end_s;
    r->alternatives = alts;
    double off_ms = 1000.0 * (double)offset_samples / c->m->sample_rate, lim_ms = 1000.0 * end_s;
    for (int i = 0; i < n_alt; i++) {
        const struct pl_asr_hyp *h = &nb->hyps[i];
        Nvidia__Riva__Asr__SpeechRecognitionAlternative *al = pl_arena_alloc(a, sizeof *al);
        if (!al) break;
        nvidia__riva__asr__speech_recognition_alternative__init(al);
        char *t = postprocess(c, texts[i]);
        texts[i] = NULL;
        al->transcript = pl_arena_keep(a, t);
        al->confidence = h->confidence;
        al->n_language_code = 1;
        al->language_code = (char **)c->lang;
        if (c->cfg->enable_word_time_offsets && h->n_words > 0) {
            al->words = pl_arena_alloc(a, sizeof *al->words * (size_t)h->n_words);
            for (int w = 0; al->words && w < h->n_words; w++) {
                Nvidia__Riva__Asr__WordInfo *wi = pl_arena_alloc(a, sizeof *wi);
                if (!wi) break;
                nvidia__riva__asr__word_info__init(wi);
                char *word = pl_strdup(h->words[w].text);
                if (word && c->cfg->profanity_filter && c->s->profanity) {
                    char *o = NULL;
                    if (pl_asr_profanity_filter(c->s->profanity, word, &o) == PL_OK) {
                        pl_free(word);
                        word = o;
                    }
                }
                wi->word = pl_arena_keep(a, word);
                /* a model with a tail (tail_frames) can emit past the audio */
                wi->start_time = (int32_t)lround(fmin(off_ms + h->words[w].start_ms, lim_ms));
                wi->end_time = (int32_t)lround(fmin(off_ms + h->words[w].end_ms, lim_ms));
                wi->confidence = h->words[w].confidence;
                wi->language_code = (char *)c->lang[0];
                al->words[al->n_words++] = wi;
            }
        }
        alts[r->n_alternatives++] = al;
    }
    if (pl_arena_failed(a)) {
        st = PL_ERR(PL_E_NOMEM, "response");
        goto fail;
    }
    st = add_result(c, r);
fail:
    for (int i = 0; texts && nb && i < (nb->n < c->max_alt ? nb->n : c->max_alt); i++) pl_free(texts[i]);
    pl_free(texts);
    pl_asr_nbest_destroy(nb);
    return st;
}

/* ---- the rpc ---------------------------------------------------------------------------------- */

pl_status pl__asrsvc_recognize(void *ud, const struct pl_worker_ctx *ctx, const uint8_t *req,
                               size_t n, struct pl_worker_out *out) {
    struct pl_asrsvc *s = ud;
    ProtobufCMessage *msg = NULL;
    PL_TRY(pl_proto_unpack(&nvidia__riva__asr__recognize_request__descriptor, req, n, &msg));
    Nvidia__Riva__Asr__RecognizeRequest *rq = (void *)msg;
    static const char *lang[] = {"en-US"};
    struct call c;
    memset(&c, 0, sizeof c);
    c.s = s;
    c.lang = lang;
    c.deadline_us = ctx->deadline_us;
    pl_arena_init(&c.a, 0);
    struct pl_asrsvc_input in;
    memset(&in, 0, sizeof in);
    struct pl_asr_boost *boosts = NULL;
    int n_boosts = 0;
    pl_status st = PL_OK;
    const Nvidia__Riva__Asr__RecognitionConfig *cfg = rq->config;
    if (!cfg) {
        st = PL_ERR(PL_E_INVALID_ARG, "RecognizeRequest.config is missing");
        goto fail;
    }
    c.cfg = cfg;
    if (!language_ok(cfg->language_code)) {
        st = PL_ERR(PL_E_INVALID_ARG, "language_code '%s' is not served (this service: en-US)",
                    cfg->language_code);
        goto fail;
    }
    if (cfg->max_alternatives < 0 || cfg->max_alternatives > MAX_ALTERNATIVES) {
        st = PL_ERR(PL_E_INVALID_ARG, "max_alternatives %d is out of range (0..%d)",
                    cfg->max_alternatives, MAX_ALTERNATIVES);
        goto fail;
    }
    if (cfg->diarization_config && cfg->diarization_config->enable_speaker_diarization)
        PL_LOGD("speaker diarization is not supported; ignored");
    /* the models as they are now; a reload during the call leaves them to it */
    c.set = pl_model_repo_acquire(s->repo);
    PL_TRY_GOTO(st, pl__asrsvc_model_pick(s, c.set, cfg->model, &c.m));
    c.max_alt = cfg->max_alternatives > 0 ? cfg->max_alternatives : 1;
    pl__asrsvc_settings_init(s, c.m, &c.rs);
    PL_TRY_GOTO(st, pl__asrsvc_parse_custom(cfg, &c.rs));
    c.rs.use_lm = c.rs.use_lm && s->lm != NULL;
    if (c.max_alt > 1 || cfg->n_speech_contexts > 0) c.rs.beam = true; /* n-best, boosting */
    if (c.rs.beam_width < c.max_alt) c.rs.beam_width = c.max_alt;
    /* SpeechContext phrases -> boosts (lower case: the model's vocabulary is lower case) */
    for (size_t i = 0; i < cfg->n_speech_contexts; i++) n_boosts += (int)cfg->speech_contexts[i]->n_phrases;
    if (n_boosts > 1024) {
        st = PL_ERR(PL_E_INVALID_ARG, "speech_contexts: %d phrases (at most 1024)", n_boosts);
        goto fail;
    }
    if (n_boosts > 0) {
        boosts = pl_calloc((size_t)n_boosts, sizeof *boosts);
        if (!boosts) {
            st = PL_ERR(PL_E_NOMEM, "boosts");
            goto fail;
        }
        int k = 0;
        for (size_t i = 0; i < cfg->n_speech_contexts; i++) {
            const Nvidia__Riva__Asr__SpeechContext *sc = cfg->speech_contexts[i];
            float b = sc->boost;
            if (!isfinite(b)) {
                st = PL_ERR(PL_E_INVALID_ARG, "speech_contexts[%zu].boost is not finite", i);
                goto fail;
            }
            if (b > s->o.max_boost) b = (float)s->o.max_boost;
            if (b < -s->o.max_boost) b = (float)-s->o.max_boost;
            for (size_t p = 0; p < sc->n_phrases; p++) {
                char *ph = pl_strdup(sc->phrases[p]);
                if (!ph) {
                    st = PL_ERR(PL_E_NOMEM, "boosts");
                    goto fail;
                }
                for (char *q = ph; *q; q++) *q = (char)tolower((unsigned char)*q);
                boosts[k].phrase = ph;
                boosts[k].boost = b;
                k++;
                if (!ph[strspn(ph, " \t")]) {
                    st = PL_ERR(PL_E_INVALID_ARG, "speech_contexts[%zu].phrases[%zu] is empty", i, p);
                    n_boosts = k;
                    goto fail;
                }
            }
        }
    }
    pl__asrsvc_decode_opts(&c.rs, c.m, c.max_alt, &c.dopts);
    if (c.rs.beam) {
        st = pl_asr_beam_create(c.m->vocab, c.rs.use_lm ? s->lm : NULL, &c.dopts, boosts, n_boosts,
                                &c.beam);
        if (st != PL_OK) {
            st = pl__asrsvc_wrap(st == PL_E_NOMEM ? st : PL_E_INVALID_ARG, "decoder");
            goto fail;
        }
    }
    bool separate = cfg->enable_separate_recognition_per_channel;
    PL_TRY_GOTO(st, pl_asrsvc_input_decode(rq->audio.data, rq->audio.len, (int)cfg->encoding,
                                        cfg->sample_rate_hertz, cfg->audio_channel_count, separate,
                                        c.m->sample_rate, s->o.max_audio_s, &in));
    PL_LOGD("recognize: %.2f s, %d Hz x %d ch (%s), model %s, %s", (double)in.n / c.m->sample_rate,
            in.in_rate, in.in_channels, pl_audio_container_str((enum pl_audio_container)in.container),
            c.m->name, c.beam ? "beam" : "greedy");
    for (int ch = 0; ch < in.n_ch; ch++) {
        struct pl_asrsvc_segment *segs = NULL;
        int ns = 0;
        PL_TRY_GOTO(st, pl_asrsvc_segment(in.ch[ch], in.n, &c.rs.seg, &segs, &ns));
        for (int i = 0; i < ns && st == PL_OK; i++)
            st = run_segment(&c, in.ch[ch] + segs[i].start, segs[i].end - segs[i].start,
                             segs[i].start, ch + 1, (double)segs[i].end / c.m->sample_rate);
        pl_free(segs);
        if (st != PL_OK) goto fail;
    }
    Nvidia__Riva__Asr__RecognizeResponse resp = NVIDIA__RIVA__ASR__RECOGNIZE_RESPONSE__INIT;
    resp.n_results = c.n_results;
    resp.results = c.results;
    resp.id = rq->id;
    st = pl_proto_pack(&resp.base, &out->data, &out->len);
fail:
    for (int i = 0; boosts && i < n_boosts; i++) pl_free((char *)boosts[i].phrase);
    pl_free(boosts);
    pl_asr_beam_destroy(c.beam);
    pl_asrsvc_input_deinit(&in);
    pl_free(c.results);
    pl_arena_deinit(&c.a);
    pl_model_set_release(c.set);
    pl_proto_free(msg);
    return st;
}
