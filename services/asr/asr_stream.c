/*
 * asr_stream.c - StreamingRecognize of parley-asr (asr_stream.h, docs/asr-streaming.md): a
 * session's audio input, endpointing, decoding and results. The streaming service and a
 * session's configuration are in asr_stream_config.c.
 */
#include "asr_stream.h"

#include <ctype.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "alloc.h"
#include "asr_impl.h"
#include "asr_sched.h"
#include "asr_stream_impl.h"
#include "audio.h"
#include "endpoint.h"
#include "log.h"
#include "model_repo.h"
#include "models/asr_model.h"
#include "models/vad.h"
#include "nrpc.h"
#include "nrpc_worker.h"
#include "proto_util.h"
#include "riva/proto/riva_asr.pb-c.h"
#include "riva/proto/riva_nlp.pb-c.h"
#include "util.h"

#define HEADER_MAX 65536 /* bytes a WAV header may take before the first samples */

/* ---- session ------------------------------------------------------------------------------- */

static pl_status grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return PL_OK;
    size_t c = *cap ? *cap : 256;
    while (c < need) c *= 2;
    void *q = pl_realloc(*p, c * elem);
    if (!q) return PL_ERR(PL_E_NOMEM, "stream buffer of %zu elements", c);
    *p = q;
    *cap = c;
    return PL_OK;
}

pl_status pl_asrsvc_session_create(struct pl_asrsvc_streaming *ss, pl_asrsvc_session_send_fn send, void *ud,
                             struct pl_asrsvc_session **out) {
    if (!ss || !send || !out) return PL_ERR(PL_E_INVALID_ARG, "pl_asrsvc_session_create: NULL argument");
    struct pl_asrsvc_session *s = pl_calloc(1, sizeof *s);
    if (!s) return PL_ERR(PL_E_NOMEM, "stream session");
    s->ss = ss;
    s->send = send;
    s->ud = ud;
    s->sp_begin = s->sp_last = -1;
    *out = s;
    return PL_OK;
}

void pl_asrsvc_session_destroy(struct pl_asrsvc_session *s) {
    if (!s) return;
    if (s->expecting) pl_asrsvc_sched_expect(s->sched, -1);
    pl_proto_free(s->cfg_msg);
    pl_free(s->pend);
    pl_resampler_destroy(s->rs);
    pl_free(s->buf);
    pl_vad_state_destroy(s->vs);
    pl_endpoint_destroy(s->ep);
    pl_free(s->vprob);
    pl_free(s->fen);
    pl_free(s->evs);
    pl_asr_fe_stream_destroy(s->fs);
    if (s->ms) pl__asrsvc_state_put(s->m, s->ms); /* s->m is alive until the set's release */
    pl_free(s->mout);
    pl_asr_beam_destroy(s->beam);
    pl_asr_beam_destroy(s->pbeam);
    pl_asr_nbest_destroy(s->pv_nb);
    pl_free(s->logp);
    pl_free(s->utt);
    pl_model_set_release(s->set);
    pl_free(s);
}

/* ---- results ------------------------------------------------------------------------------- */

static char *postprocess(struct pl_asrsvc_session *s, char *t) {
    if (!t) return NULL;
    if (!s->cfg->verbatim_transcripts) {
        char *o = NULL;
        if (pl_asr_itn_numbers(t, &o) == PL_OK) {
            pl_free(t);
            t = o;
        }
    }
    if (s->cfg->profanity_filter && s->ss->svc->profanity) {
        char *o = NULL;
        if (pl_asr_profanity_filter(s->ss->svc->profanity, t, &o) == PL_OK) {
            pl_free(t);
            t = o;
        }
    }
    return t;
}

/* Send one StreamingRecognitionResult made of nb's hypotheses (at most max_alt). */
static pl_status send_result(struct pl_asrsvc_session *s, const struct pl_asr_nbest *nb, bool is_final,
                             float stability, int64_t end_sample) {
    static char *lang[] = {"en-US"};
    pl_status st = PL_OK;
    int n_alt = nb->n < s->max_alt ? nb->n : s->max_alt;
    if (!is_final) n_alt = nb->n > 0 ? 1 : 0;
    char **texts = pl_calloc((size_t)n_alt + 1, sizeof *texts);
    Nvidia__Riva__Asr__SpeechRecognitionAlternative *alts =
        pl_calloc((size_t)n_alt + 1, sizeof *alts);
    Nvidia__Riva__Asr__SpeechRecognitionAlternative **palts =
        pl_calloc((size_t)n_alt + 1, sizeof *palts);
    Nvidia__Riva__Asr__WordInfo **wps = pl_calloc((size_t)n_alt + 1, sizeof *wps);
    Nvidia__Riva__Asr__WordInfo ***pwps = pl_calloc((size_t)n_alt + 1, sizeof *pwps);
    uint8_t *buf = NULL;
    size_t len = 0;
    if (!texts || !alts || !palts || !wps || !pwps) {
        st = PL_ERR(PL_E_NOMEM, "streaming result");
        goto fail;
    }
    for (int i = 0; i < n_alt; i++)
        if (!(texts[i] = pl_strdup(nb->hyps[i].text ? nb->hyps[i].text : ""))) {
            st = PL_ERR(PL_E_NOMEM, "streaming result");
            goto fail;
        }
    if (is_final && s->cfg->enable_automatic_punctuation && n_alt > 0)
        pl__asrsvc_punctuate(s->ss->svc, texts, n_alt, 0);
    double off_ms = 1000.0 * (double)s->res_start / s->m->sample_rate;
    double lim_ms = 1000.0 * (double)end_sample / s->m->sample_rate;
    for (int i = 0; i < n_alt; i++) {
        const struct pl_asr_hyp *h = &nb->hyps[i];
        Nvidia__Riva__Asr__SpeechRecognitionAlternative *al = &alts[i];
        nvidia__riva__asr__speech_recognition_alternative__init(al);
        texts[i] = postprocess(s, texts[i]);
        al->transcript = texts[i] ? texts[i] : "";
        al->confidence = h->confidence;
        al->n_language_code = 1;
        al->language_code = lang;
        if (s->cfg->enable_word_time_offsets && h->n_words > 0) {
            wps[i] = pl_calloc((size_t)h->n_words, sizeof *wps[i]);
            pwps[i] = pl_calloc((size_t)h->n_words, sizeof *pwps[i]);
            if (!wps[i] || !pwps[i]) {
                st = PL_ERR(PL_E_NOMEM, "streaming result");
                goto fail;
            }
            for (int w = 0; w < h->n_words; w++) {
                Nvidia__Riva__Asr__WordInfo *wi = &wps[i][w];
                nvidia__riva__asr__word_info__init(wi);
                wi->word = h->words[w].text;
                /* a model with a tail (tail_frames) can emit past the audio */
                wi->start_time = (int32_t)lround(fmin(off_ms + h->words[w].start_ms, lim_ms));
                wi->end_time = (int32_t)lround(fmin(off_ms + h->words[w].end_ms, lim_ms));
                wi->confidence = h->words[w].confidence;
                wi->language_code = lang[0];
                pwps[i][w] = wi;
            }
            al->n_words = (size_t)h->n_words;
            al->words = pwps[i];
        }
        palts[i] = al;
    }
    Nvidia__Riva__Asr__StreamingRecognitionResult r =
        NVIDIA__RIVA__ASR__STREAMING_RECOGNITION_RESULT__INIT;
    r.n_alternatives = (size_t)n_alt;
    r.alternatives = palts;
    r.is_final = is_final;
    r.stability = stability;
    r.channel_tag = 1;
    r.audio_processed = (float)((double)end_sample / s->m->sample_rate);
    Nvidia__Riva__Asr__StreamingRecognitionResult *pr = &r;
    Nvidia__Riva__Asr__StreamingRecognizeResponse resp =
        NVIDIA__RIVA__ASR__STREAMING_RECOGNIZE_RESPONSE__INIT;
    resp.n_results = 1;
    resp.results = &pr;
    PL_TRY_GOTO(st, pl_proto_pack(&resp.base, &buf, &len));
    st = s->send(s->ud, buf, len);
fail:
    for (int i = 0; i < n_alt && texts; i++) pl_free(texts[i]);
    for (int i = 0; i < n_alt && wps; i++) pl_free(wps[i]);
    for (int i = 0; i < n_alt && pwps; i++) pl_free(pwps[i]);
    pl_free(texts);
    pl_free(alts);
    pl_free(palts);
    pl_free(wps);
    pl_free(pwps);
    pl_free(buf);
    return st;
}

/* ---- decoding ------------------------------------------------------------------------------ */

static pl_status take_logp(struct pl_asrsvc_session *s, int n_out) {
    if (n_out <= 0) return PL_OK;
    size_t V = (size_t)s->m->vocab_size;
    PL_TRY(grow((void **)&s->logp, &s->cap_rows, (s->n_rows + (size_t)n_out) * V, sizeof *s->logp));
    memcpy(s->logp + s->n_rows * V, s->mout, sizeof *s->logp * (size_t)n_out * V);
    s->n_rows += (size_t)n_out;
    return PL_OK;
}

/* Give the decoder the utterance's rows up to `rows` (those of decided audio). */
static pl_status decode_rows(struct pl_asrsvc_session *s, size_t rows) {
    if (rows > s->n_rows) rows = s->n_rows;
    if (rows <= s->dec_rows) return PL_OK;
    size_t V = (size_t)s->m->vocab_size;
    if (s->beam)
        PL_TRY(pl_asr_beam_feed(s->beam, s->logp + s->dec_rows * V, rows - s->dec_rows, (int)V));
    s->dec_rows = rows;
    return PL_OK;
}

/* Rows of the utterance's output that cover its audio before stream sample pos. */
static size_t rows_before(const struct pl_asrsvc_session *s, int64_t pos) {
    int64_t hop = s->m->sample_rate / 100;
    if (pos <= s->utt_start) return 0;
    int64_t frames = (pos - s->utt_start + hop - 1) / hop;
    return (size_t)((frames + s->stride - 1) / s->stride);
}

/* Feed nfr feature frames to the model (and finish the utterance when finish), batched
 * with the other streams of the model by its scheduler. */
static pl_status model_feed(struct pl_asrsvc_session *s, const float *feats, size_t nfr, bool finish) {
    size_t i = 0;
    do {
        int k = nfr - i > MODEL_CHUNK ? MODEL_CHUNK : (int)(nfr - i);
        bool fin = finish && i + (size_t)k == nfr;
        if (k == 0 && !fin) break;
        int n_out = 0;
        bool exp = s->expecting;
        s->expecting = false;
        PL_TRY(pl_asrsvc_sched_step(s->sched, s->ms, k ? feats + i * (size_t)s->m->n_mels : NULL, k,
                                 fin, s->mout, &n_out, exp));
        PL_TRY(take_logp(s, n_out));
        i += (size_t)k;
    } while (i < nfr);
    return PL_OK;
}

/* Keep the buffered samples [fed_pos, upto) as the utterance's audio (renorm only). */
static pl_status keep_utt(struct pl_asrsvc_session *s, int64_t upto) {
    if (!s->renorm || upto <= s->fed_pos) return PL_OK;
    size_t off = (size_t)(s->fed_pos - s->buf_pos), n = (size_t)(upto - s->fed_pos);
    PL_TRY(grow((void **)&s->utt, &s->cap_utt, s->n_utt + n, sizeof *s->utt));
    memcpy(s->utt + s->n_utt, s->buf + off, sizeof *s->utt * n);
    s->n_utt += n;
    return PL_OK;
}

/* Give the features (and the model) the buffered samples [fed_pos, upto). */
static pl_status feed_model(struct pl_asrsvc_session *s, int64_t upto) {
    if (upto <= s->fed_pos || s->model_done) return PL_OK;
    PL_TRY(keep_utt(s, upto));
    size_t off = (size_t)(s->fed_pos - s->buf_pos), n = (size_t)(upto - s->fed_pos);
    float *feats = NULL;
    size_t nfr = 0;
    pl_status st = pl_asr_fe_stream_feed(s->fs, s->buf + off, n, &feats, &nfr);
    if (st == PL_OK) st = model_feed(s, feats, nfr, false);
    pl_free(feats);
    PL_TRY(st);
    s->fed_pos = upto;
    return PL_OK;
}

/* Finish features and model of the utterance (right zero padding). */
static pl_status finish_model(struct pl_asrsvc_session *s) {
    if (s->model_done) return PL_OK;
    float *feats = NULL;
    size_t nfr = 0;
    pl_status st = pl_asr_fe_stream_finish(s->fs, &feats, &nfr);
    if (st == PL_OK) st = model_feed(s, feats, nfr, true);
    pl_free(feats);
    PL_TRY(st);
    s->model_done = true;
    return PL_OK;
}

/* The audio [*a, *b) of the utterance [utt_start, cut) that its final is recomputed on: from
 * final_margin_ms before the endpointer's first voiced frame to final_margin_ms after its last
 * one (when it knows them). Why: per-utterance normalization takes its statistics from every
 * frame it is given, and a stream's utterance holds all the silence since the previous cut
 * (the start of the stream, or the stop window before it) and the stop window after the
 * speech (800 ms); the model was trained on clips with little silence around the words, and
 * 1 s of near-silence before a digit takes even Recognize from 97% to 51% (FSDD). */
static void trim_utt(const struct pl_asrsvc_session *s, int64_t last, int64_t *a, int64_t *b) {
    int64_t hop = s->m->sample_rate / 100,
            pad = (int64_t)(s->ss->o.final_margin_ms * s->m->sample_rate / 1000.0);
    int64_t na = *a, nb = *b;
    if (!s->ep || pad < 0) return;
    if (s->sp_begin >= 0 && s->sp_begin * hop - pad > na) na = s->sp_begin * hop - pad;
    if (last >= 0 && (last + 1) * hop + pad < nb) nb = (last + 1) * hop + pad;
    if (nb > na) { /* else keep the whole utterance (a voiced frame outside it) */
        *a = na;
        *b = nb;
    }
}

/* The final of an utterance of a model trained with per-utterance feature normalization:
 * the streamed rows came from running statistics (frames normalized by the frames before
 * them), which this model was never trained on and which get short utterances badly wrong
 * (FSDD digits 97% offline vs 80% streamed, docs/asr-streaming.md). So features and model
 * are run again on the utterance's audio [utt_start, cut) with the offline front end, as
 * Recognize sees a clip of that audio, and the decoder starts over on those rows. The
 * interims and the endpointer keep the streamed rows. */
static pl_status renorm_utt(struct pl_asrsvc_session *s, int64_t cut) {
    const struct pl_asr_fe *fe = s->m->fe;
    int64_t hop = pl_asr_fe_hop_length(fe), w = pl_asr_fe_win_length(fe), a = s->utt_start,
            b = cut;
    trim_utt(s, s->sp_last, &a, &b);
    a = s->utt_start + (a - s->utt_start) / hop * hop; /* on the stream's frame grid */
    if (b - s->utt_start > (int64_t)s->n_utt) b = s->utt_start + (int64_t)s->n_utt; /* never */
    if (b <= a) a = s->utt_start;
    const float *x = s->utt + (a - s->utt_start);
    size_t n = (size_t)(b - a), nfr = pl_asr_fe_n_frames(s->m->fe, n), nm = (size_t)s->m->n_mels;
    size_t k = (size_t)((a - s->utt_start) / hop), n_kept = 0;
    const double *kept = pl_asr_fe_stream_logmel(s->fs, &n_kept);
    double *lm = pl_malloc(sizeof *lm * nfr * nm);
    float *feats = pl_malloc(sizeof *feats * nfr * nm);
    pl_status st = PL_OK;
    if (!lm || !feats) {
        st = PL_ERR(PL_E_NOMEM, "final of %zu frames", nfr);
        goto fail;
    }
    /* Frame j of [a, b) is the stream's frame k + j where its window lies inside [a + 1, b)
     * (the stream pre-emphasized sample a with the one before it, and saw real audio where
     * [a, b) has zeros): those log-mels are taken from the stream, the rest computed here. */
    for (size_t j = 0; j < nfr && st == PL_OK; j++) {
        int64_t lo = (int64_t)j * hop - w / 2, hi = lo + w;
        if (lo >= 1 && hi <= (int64_t)n && k + j < n_kept)
            memcpy(lm + j * nm, kept + (k + j) * nm, sizeof *lm * nm);
        else
            st = pl_asr_fe_logmel(fe, x, n, j, j + 1, lm + j * nm);
    }
    if (st == PL_OK) {
        st = pl_asr_fe_normalize(fe, lm, nfr, feats);
    } else if (st == PL_E_UNSUPPORTED) { /* a front end with dither: every frame again */
        float *f = NULL;
        size_t nf2 = 0;
        st = pl_asr_fe_compute(fe, x, n, &f, &nf2);
        if (st == PL_OK) memcpy(feats, f, sizeof *feats * nfr * nm);
        pl_free(f);
    }
    if (st != PL_OK) goto fail;
    s->res_start = a;
    pl_asr_state_reset(s->ms);
    if (s->beam) pl_asr_beam_reset(s->beam);
    s->n_rows = 0;
    s->dec_rows = 0;
    PL_TRY_GOTO(st, model_feed(s, feats, nfr, true));
    s->model_done = true;
fail:
    pl_free(lm);
    pl_free(feats);
    return st;
}

/* Forget the buffered samples before pos (pos <= fed_pos). */
static void drop_before(struct pl_asrsvc_session *s, int64_t pos) {
    if (pos <= s->buf_pos) return;
    size_t n = (size_t)(pos - s->buf_pos);
    memmove(s->buf, s->buf + n, sizeof *s->buf * (s->n_buf - n));
    s->n_buf -= n;
    s->buf_pos = pos;
}

/* VAD mode (and no VAD): features, model and decoder up to stream sample `upto`, which is
 * decided. */
static pl_status feed_until(struct pl_asrsvc_session *s, int64_t upto) {
    PL_TRY(feed_model(s, upto));
    drop_before(s, s->fed_pos);
    return decode_rows(s, s->n_rows);
}

/* End the current utterance at stream sample `cut` (a decided position): final result,
 * then a fresh utterance from there on. When nothing after the cut was given to the model
 * (VAD mode, the end of the stream), the model is finished at the cut with right zero
 * padding (as Recognize sees a clip ending there); when the model already ran ahead (blank
 * modes), the rows before the cut are decoded and the audio after it is fed again to fresh
 * caches. */
static pl_status end_utt(struct pl_asrsvc_session *s, int64_t cut) {
    pl_status st = PL_OK;
    struct pl_asr_nbest *nb = NULL;
    bool speech = s->ep ? s->speech : true;
    if (cut > s->utt_start && s->renorm && speech && s->pv_nb && s->sp_last == s->pv_last) {
        /* nothing voiced since the pause whose words went out with stability 1: they are
         * the final (the same words, without computing them again) */
        s->res_start = s->pv_start;
        if (s->pv_nb->n > 0 && s->pv_nb->hyps[0].text && s->pv_nb->hyps[0].text[0])
            PL_TRY_GOTO(st, send_result(s, s->pv_nb, true, 1.0f, cut));
    } else if (cut > s->utt_start && s->renorm && speech) {
        PL_TRY_GOTO(st, keep_utt(s, cut)); /* the model is run again: no need to feed it */
        PL_TRY_GOTO(st, renorm_utt(s, cut));
        if (s->pbeam) { /* the full-width decoder (the streamed one may be the interims') */
            pl_asr_beam_reset(s->pbeam);
            PL_TRY_GOTO(st, pl_asr_beam_feed(s->pbeam, s->logp, s->n_rows, s->m->vocab_size));
            PL_TRY_GOTO(st, pl_asr_beam_finish(s->pbeam, &nb));
        } else {
            PL_TRY_GOTO(st, pl_asr_ctc_greedy(s->m->vocab, s->logp, s->n_rows, s->m->vocab_size,
                                              &s->dopts, &nb));
        }
        if (nb->n > 0 && nb->hyps[0].text && nb->hyps[0].text[0])
            PL_TRY_GOTO(st, send_result(s, nb, true, 1.0f, cut));
    } else if (cut > s->utt_start) {
        size_t rows;
        if (cut >= s->fed_pos) {
            PL_TRY_GOTO(st, feed_model(s, cut));
            PL_TRY_GOTO(st, finish_model(s));
            rows = s->n_rows;
        } else {
            rows = rows_before(s, cut);
        }
        PL_TRY_GOTO(st, decode_rows(s, rows));
        if (s->beam)
            PL_TRY_GOTO(st, pl_asr_beam_finish(s->beam, &nb));
        else
            PL_TRY_GOTO(st, pl_asr_ctc_greedy(s->m->vocab, s->logp, s->dec_rows, s->m->vocab_size,
                                              &s->dopts, &nb));
        if (speech && nb->n > 0 && nb->hyps[0].text && nb->hyps[0].text[0])
            PL_TRY_GOTO(st, send_result(s, nb, true, 1.0f, cut));
    }
    pl_asr_fe_stream_reset(s->fs);
    pl_asr_state_reset(s->ms);
    if (s->beam) pl_asr_beam_reset(s->beam);
    s->n_rows = 0;
    s->dec_rows = 0;
    s->n_utt = 0;
    s->sp_begin = s->sp_last = -1;
    s->model_done = false;
    s->utt_start = s->res_start = cut;
    s->speech = false;
    s->eou_due = false;
    pl_asr_nbest_destroy(s->pv_nb);
    s->pv_nb = NULL;
    int64_t ahead = s->fed_pos;
    s->fed_pos = cut;
    drop_before(s, cut);
    if (ahead > cut) PL_TRY_GOTO(st, feed_model(s, ahead)); /* the look-ahead, again */
fail:
    pl_asr_nbest_destroy(nb);
    return st;
}

/* speech_events: the endpointer heard speech start at 10 ms frame `frame` of the stream: one
 * result without alternatives, audio_processed = where the speech started (seconds). */
static pl_status send_speech_start(struct pl_asrsvc_session *s, int64_t frame) {
    if (!s->speech_events) return PL_OK;
    Nvidia__Riva__Asr__StreamingRecognitionResult r =
        NVIDIA__RIVA__ASR__STREAMING_RECOGNITION_RESULT__INIT;
    r.channel_tag = 1;
    r.audio_processed = (float)((double)frame * 0.01);
    Nvidia__Riva__Asr__StreamingRecognitionResult *pr = &r;
    Nvidia__Riva__Asr__StreamingRecognizeResponse resp =
        NVIDIA__RIVA__ASR__STREAMING_RECOGNIZE_RESPONSE__INIT;
    resp.n_results = 1;
    resp.results = &pr;
    uint8_t *buf = NULL;
    size_t len = 0;
    PL_TRY(pl_proto_pack(&resp.base, &buf, &len));
    pl_status st = s->send(s->ud, buf, len);
    pl_free(buf);
    return st;
}

#define PAUSE_WORDS_MAX_S 10 /* longest utterance whose words at a pause are recomputed */

/* The audio [*pa, *pb) the words at the pause are computed on: the utterance so far, trimmed
 * as for its final around its speech up to the pause (eou_last). False when longer than
 * PAUSE_WORDS_MAX_S: a long dictation's pauses would each run the model over all of it
 * again, so those get the streamed words with stability 1 instead. pa, pb may be NULL. */
static bool pause_audio(const struct pl_asrsvc_session *s, int64_t *pa, int64_t *pb) {
    int64_t a = s->utt_start, b = s->utt_start + (int64_t)s->n_utt;
    trim_utt(s, s->eou_last, &a, &b);
    if (pa) *pa = a;
    if (pb) *pb = b;
    return b - a <= (int64_t)PAUSE_WORDS_MAX_S * s->m->sample_rate;
}

/* The words of the utterance up to the pause the endpointer's first pass heard, as its final
 * would give them (models with per-utterance normalization, whose streamed rows get short
 * utterances wrong: renorm_utt): the offline front end, the model and a decoder of their own
 * run on pause_audio(), on the side, so the stream's model state and decoder go on
 * untouched. Sent as an interim with stability 1 and kept as the final-to-be. */
static pl_status send_pause_words(struct pl_asrsvc_session *s) {
    s->eou_due = false;
    int64_t a, b;
    pause_audio(s, &a, &b);
    if (b <= a) return PL_OK;
    struct pl_asr_nbest *nb = NULL;
    pl_status st = PL_OK;
    PL_TRY_GOTO(st, pl__asrsvc_decode_audio(s->m, s->utt + (a - s->utt_start), (size_t)(b - a), 0,
                                            s->pbeam, &s->dopts, &nb));
    if (nb->n > 0 && nb->hyps[0].text && nb->hyps[0].text[0]) {
        int64_t keep = s->res_start; /* word offsets from the trimmed audio's start */
        s->res_start = a;
        st = send_result(s, nb, false, 1.0f, s->fed_pos);
        s->res_start = keep;
    }
    pl_asr_nbest_destroy(s->pv_nb); /* kept: the final when the speech does not go on */
    s->pv_nb = nb;
    s->pv_last = s->eou_last;
    s->pv_start = a;
    nb = NULL;
fail:
    pl_asr_nbest_destroy(nb);
    return st;
}

/* An interim of the utterance so far, after every audio message. The first after the
 * endpointer's first pass (EOU: stop_history_eou of silence) has stability 1, as Riva's
 * two-pass endpointing sends: the words so far, which a client may take as the utterance
 * (parley-dialog's end-of-turn check, docs/dialog.md). */
static pl_status send_interim(struct pl_asrsvc_session *s) {
    if (!s->interim || (s->ep && !s->speech)) return PL_OK;
    if (s->eou_due && s->renorm && pause_audio(s, NULL, NULL)) return send_pause_words(s);
    if (s->dec_rows == 0) return PL_OK;
    struct pl_asr_nbest *nb = NULL;
    pl_status st;
    if (s->beam)
        st = pl_asr_beam_partial(s->beam, &nb);
    else
        st = pl_asr_ctc_greedy(s->m->vocab, s->logp, s->dec_rows, s->m->vocab_size, &s->dopts,
                               &nb);
    if (st == PL_OK && nb->n > 0 && nb->hyps[0].text && nb->hyps[0].text[0]) {
        const struct pl_asr_hyp *h = &nb->hyps[0];
        /* stability: share of the words every close hypothesis agrees on (greedy: none) */
        float stab =
            h->n_words > 0 ? 0.1f + 0.8f * (float)h->n_stable_words / (float)h->n_words : 0.1f;
        if (s->eou_due) stab = 1.0f;
        s->eou_due = false;
        /* audio_processed: what the model has taken (in every mode the decoded rows lag it
         * by the model's look-ahead) */
        st = send_result(s, nb, false, stab, s->fed_pos);
    }
    pl_asr_nbest_destroy(nb);
    return st;
}

static void on_event(void *ud, const struct pl_endpoint_event *ev) {
    struct pl_asrsvc_session *s = ud;
    if (grow((void **)&s->evs, &s->cap_evs, s->n_evs + 1, sizeof *s->evs) != PL_OK) return;
    s->evs[s->n_evs].type = ev->type;
    s->evs[s->n_evs].frame = ev->frame;
    s->evs[s->n_evs].begin = ev->begin;
    s->evs[s->n_evs].last = ev->last;
    s->n_evs++;
}

/* The mean square of every whole 10 ms frame of the new samples, for the endpointer's quiet
 * tail; the frames it has taken are dropped now and then. */
static pl_status frame_energy(struct pl_asrsvc_session *s, const float *x, size_t n, int64_t hop) {
    if (!(s->ss->o.tail_gate_db > 0.0)) return PL_OK;
    size_t done = (size_t)(s->ep_frames - s->fen_base);
    if (done >= 4096 && done <= s->n_fen) {
        memmove(s->fen, s->fen + done, sizeof *s->fen * (s->n_fen - done));
        s->n_fen -= done;
        s->fen_base += (int64_t)done;
    }
    PL_TRY(grow((void **)&s->fen, &s->cap_fen, s->n_fen + n / (size_t)hop + 1, sizeof *s->fen));
    for (size_t i = 0; i < n; i++) {
        s->fen_acc += (double)x[i] * x[i];
        if (++s->fen_fill == hop) {
            s->fen[s->n_fen++] = (float)(s->fen_acc / (double)hop);
            s->fen_acc = 0.0;
            s->fen_fill = 0;
        }
    }
    return PL_OK;
}

/* Frame g's energy for the endpointer, or -1 (not known: no quiet tail for it). */
static float energy_of(const struct pl_asrsvc_session *s, int64_t g) {
    if (g < s->fen_base || g - s->fen_base >= (int64_t)s->n_fen) return -1.0f;
    return s->fen[g - s->fen_base];
}

/* Blank modes: the features and the model take every sample received (they run ahead of
 * the endpointer by the model's look-ahead); 10 ms frame g goes to the endpointer once its
 * VAD probability (g < known) and the blank probability of the model's output row covering
 * it are there, one frame at a time so that an END restarts the model before the next
 * frame's blank is read: the frames an utterance is judged on are always its own, and the
 * decisions depend only on the audio, not on its chunking. At the end of the stream the
 * model is finished to give the last rows. The decoder gets the rows of decided audio. */
static pl_status push_blank(struct pl_asrsvc_session *s, int64_t known, bool at_end) {
    int64_t hop = s->m->sample_rate / 100,
            max_utt = (int64_t)(s->ss->o.max_utterance_s * s->m->sample_rate);
    size_t V = (size_t)s->m->vocab_size;
    PL_TRY(feed_model(s, s->recv));
    while (s->ep_frames < known) {
        int64_t g = s->ep_frames;
        size_t row = (size_t)((g - s->utt_start / hop) / s->stride);
        if (row >= s->n_rows && !at_end) break;
        if (row >= s->n_rows && !s->model_done && s->fed_pos > s->utt_start) {
            PL_TRY(finish_model(s));
            continue;
        }
        float b = row < s->n_rows ? expf(s->logp[row * V + (size_t)s->blank_id]) : 1.0f;
        size_t w = (size_t)((g * hop + hop / 2) / PL_VAD_WINDOW);
        float v = w < s->n_vprob ? s->vprob[w] : 0.0f, en = energy_of(s, g);
        s->n_evs = 0;
        PL_TRY(pl_endpoint_feed_energy(s->ep, &v, &b, en >= 0.0f ? &en : NULL, 1, on_event, s));
        s->ep_frames++;
        for (size_t e = 0; e < s->n_evs; e++) {
            if (s->evs[e].type == PL_ENDPOINT_START) {
                s->speech = true;
                s->sp_begin = s->evs[e].begin;
                PL_TRY(send_speech_start(s, s->evs[e].frame));
            } else if (s->evs[e].type == PL_ENDPOINT_EOU) {
                s->eou_due = true;
                s->eou_last = s->evs[e].last;
            } else if (s->evs[e].type == PL_ENDPOINT_END) {
                s->sp_last = s->evs[e].last;
                PL_TRY(end_utt(s, (s->evs[e].frame + 1) * hop));
            }
        }
        if (s->ep_frames * hop - s->utt_start >= max_utt) {
            bool sp = s->speech;
            PL_TRY(end_utt(s, s->ep_frames * hop));
            s->speech = sp && pl_endpoint_in_speech(s->ep);
        }
    }
    int64_t dec = s->ep_frames * hop;
    if (dec > s->fed_pos) dec = s->fed_pos;
    if (dec < s->utt_start) dec = s->utt_start;
    PL_TRY(decode_rows(s, rows_before(s, dec)));
    drop_before(s, dec);
    return PL_OK;
}

/* New samples at the model rate: VAD, endpointing, features up to what is decided. */
static pl_status push_samples(struct pl_asrsvc_session *s, const float *x, size_t n, bool at_end) {
    PL_TRY(grow((void **)&s->buf, &s->cap_buf, s->n_buf + n, sizeof *s->buf));
    if (n) memcpy(s->buf + s->n_buf, x, sizeof *x * n);
    s->n_buf += n;
    s->recv += (int64_t)n;
    int64_t hop = s->m->sample_rate / 100,
            max_utt = (int64_t)(s->ss->o.max_utterance_s * s->m->sample_rate);
    if (!s->ep) {
        PL_TRY(feed_until(s, s->recv));
        if (s->buf_pos - s->utt_start >= max_utt) PL_TRY(end_utt(s, s->buf_pos));
        return PL_OK;
    }
    PL_TRY(frame_energy(s, x, n, hop));
    size_t nw = (n + PL_VAD_WINDOW) / PL_VAD_WINDOW + 1, got = 0;
    PL_TRY(grow((void **)&s->vprob, &s->cap_vprob, s->n_vprob + nw, sizeof *s->vprob));
    PL_TRY(pl_vad_feed_array(s->vs, x, n, s->vprob + s->n_vprob, nw, &got));
    s->n_vprob += got;
    /* 10 ms frame f takes the probability of the window holding its centre */
    int64_t known = s->ep_frames;
    while ((size_t)((known * hop + hop / 2) / PL_VAD_WINDOW) < s->n_vprob) known++;
    if (at_end) known = s->recv / hop;
    if (s->use_blank) return push_blank(s, known, at_end);
    while (s->ep_frames < known) {
        float fr[64], en[64];
        int k = 0;
        bool have_en = s->ss->o.tail_gate_db > 0.0;
        for (; k < 64 && s->ep_frames + k < known; k++) {
            size_t w = (size_t)(((s->ep_frames + k) * hop + hop / 2) / PL_VAD_WINDOW);
            fr[k] = w < s->n_vprob ? s->vprob[w] : 0.0f;
            en[k] = energy_of(s, s->ep_frames + k);
            if (en[k] < 0.0f) have_en = false;
        }
        s->n_evs = 0;
        PL_TRY(pl_endpoint_feed_energy(s->ep, fr, NULL, have_en ? en : NULL, (size_t)k, on_event,
                                       s));
        s->ep_frames += k;
        for (size_t e = 0; e < s->n_evs; e++) {
            if (s->evs[e].type == PL_ENDPOINT_START) {
                s->speech = true;
                s->sp_begin = s->evs[e].begin;
                PL_TRY(send_speech_start(s, s->evs[e].frame));
            } else if (s->evs[e].type == PL_ENDPOINT_EOU) {
                s->eou_due = true;
                s->eou_last = s->evs[e].last;
            } else if (s->evs[e].type == PL_ENDPOINT_END) {
                s->sp_last = s->evs[e].last;
                PL_TRY(feed_until(s, (s->evs[e].frame + 1) * hop));
                PL_TRY(end_utt(s, (s->evs[e].frame + 1) * hop));
            }
        }
        int64_t upto = s->ep_frames * hop < s->recv ? s->ep_frames * hop : s->recv;
        PL_TRY(feed_until(s, upto));
        if (s->buf_pos - s->utt_start >= max_utt) {
            bool sp = s->speech;
            PL_TRY(end_utt(s, s->buf_pos));
            s->speech = sp && pl_endpoint_in_speech(s->ep);
        }
    }
    return PL_OK;
}

/* ---- audio input --------------------------------------------------------------------------- */

static pl_status take_audio(struct pl_asrsvc_session *s, const uint8_t *data, size_t n) {
    PL_TRY(grow((void **)&s->pend, &s->cap_pend, s->n_pend + n, 1));
    if (n) memcpy(s->pend + s->n_pend, data, n);
    s->n_pend += n;
    size_t off = 0;
    if (!s->have_fmt) {
        const Nvidia__Riva__Asr__RecognitionConfig *c = s->cfg;
        if (s->n_pend < 4) return PL_OK;
        if (!memcmp(s->pend, "RIFF", 4)) {
            struct pl_audio_info info;
            pl_status st = pl_audio_probe(s->pend, s->n_pend, &info);
            if (st != PL_OK || info.container != PL_AUDIO_CONTAINER_WAV) {
                if (s->n_pend < HEADER_MAX && (st == PL_OK || st == PL_E_FORMAT))
                    return PL_OK; /* more header */
                return pl__asrsvc_wrap(PL_E_INVALID_ARG, "WAV header of the streamed audio");
            }
            if (info.data_offset > s->n_pend) return PL_OK;
            s->fmt = info;
            off = info.data_offset;
        } else if (!memcmp(s->pend, "fLaC", 4) || !memcmp(s->pend, "OggS", 4) ||
                   (int)c->encoding == PL_AUDIO_ENC_FLAC ||
                   (int)c->encoding == PL_AUDIO_ENC_OGGOPUS) {
            return PL_ERR(PL_E_INVALID_ARG,
                          "streaming audio must be LINEAR_PCM, MULAW, ALAW or a WAV "
                          "stream (FLAC/Ogg are not streamed)");
        } else {
            int enc = (int)c->encoding;
            if (enc == PL_AUDIO_ENC_UNSPECIFIED) enc = PL_AUDIO_ENC_LINEAR_PCM;
            if (enc != PL_AUDIO_ENC_LINEAR_PCM && enc != PL_AUDIO_ENC_MULAW &&
                enc != PL_AUDIO_ENC_ALAW)
                return PL_ERR(PL_E_INVALID_ARG, "encoding %d is not supported for streaming", enc);
            if (c->sample_rate_hertz < PL_AUDIO_RAW_MIN_RATE ||
                c->sample_rate_hertz > PL_AUDIO_RAW_MAX_RATE)
                return PL_ERR(PL_E_INVALID_ARG, "sample_rate_hertz %d: raw audio needs %d..%d",
                              c->sample_rate_hertz, PL_AUDIO_RAW_MIN_RATE, PL_AUDIO_RAW_MAX_RATE);
            if (c->audio_channel_count < 0 || c->audio_channel_count > PL_AUDIO_MAX_CHANNELS)
                return PL_ERR(PL_E_INVALID_ARG, "audio_channel_count %d (1..%d)",
                              c->audio_channel_count, PL_AUDIO_MAX_CHANNELS);
            memset(&s->fmt, 0, sizeof s->fmt);
            s->fmt.container = PL_AUDIO_CONTAINER_NONE;
            s->fmt.encoding = (enum pl_audio_encoding)enc;
            s->fmt.sample_rate = c->sample_rate_hertz;
            s->fmt.channels = c->audio_channel_count > 0 ? c->audio_channel_count : 1;
            s->fmt.bits = enc == PL_AUDIO_ENC_LINEAR_PCM ? 16 : 8;
        }
        s->have_fmt = true;
        if (s->fmt.sample_rate != s->m->sample_rate)
            PL_TRY(pl_resampler_create(s->fmt.sample_rate, s->m->sample_rate, 1, &s->rs));
        PL_LOGD("streaming_recognize: %s %d Hz x %d ch, model %s",
                pl_audio_container_str(s->fmt.container), s->fmt.sample_rate, s->fmt.channels,
                s->m->name);
    }
    struct pl_audio *a = NULL;
    size_t used = 0;
    pl_status st = pl_audio_decode_frames(s->pend + off, s->n_pend - off, &s->fmt, &a, &used);
    if (st != PL_OK)
        return pl__asrsvc_wrap(st == PL_E_NOMEM ? st : PL_E_INVALID_ARG, "streamed audio");
    off += used;
    if (off) memmove(s->pend, s->pend + off, s->n_pend - off);
    s->n_pend -= off;
    pl_audio_downmix(a->samples, a->n_frames, a->channels, a->samples);
    for (size_t i = 0; i < a->n_frames; i++)
        if (!isfinite(a->samples[i])) a->samples[i] = 0.0f;
    if (s->rs) {
        const float *o = NULL;
        size_t no = 0;
        st = pl_resampler_process(s->rs, a->samples, a->n_frames, &o, &no);
        if (st == PL_OK) st = push_samples(s, o, no, false);
    } else {
        st = push_samples(s, a->samples, a->n_frames, false);
    }
    pl_audio_destroy(a);
    return st;
}

/* ---- session calls ------------------------------------------------------------------------- */

/* Tell the scheduler that this session is about to step (it gathers steps while some are
 * announced), and take that back when the handling ends without a step. */
static void announce(struct pl_asrsvc_session *s) {
    if (s->sched && !s->expecting) {
        pl_asrsvc_sched_expect(s->sched, +1);
        s->expecting = true;
    }
}

static void unannounce(struct pl_asrsvc_session *s) {
    if (s->expecting) {
        pl_asrsvc_sched_expect(s->sched, -1);
        s->expecting = false;
    }
}

pl_status pl_asrsvc_session_message(struct pl_asrsvc_session *s, const uint8_t *data, size_t n) {
    if (!s || (!data && n)) return PL_ERR(PL_E_INVALID_ARG, "pl_asrsvc_session_message: NULL argument");
    if (s->ended) return PL_ERR(PL_E_INVALID_ARG, "message after the end of the stream");
    ProtobufCMessage *msg = NULL;
    pl_status st =
        pl_proto_unpack(&nvidia__riva__asr__streaming_recognize_request__descriptor, data, n, &msg);
    if (st != PL_OK) return PL_ERR(PL_E_INVALID_ARG, "StreamingRecognizeRequest does not parse");
    Nvidia__Riva__Asr__StreamingRecognizeRequest *rq = (void *)msg;
    if (!s->cfg_msg) {
        if (rq->streaming_request_case !=
            NVIDIA__RIVA__ASR__STREAMING_RECOGNIZE_REQUEST__STREAMING_REQUEST_STREAMING_CONFIG) {
            st = PL_ERR(PL_E_INVALID_ARG,
                        "the first StreamingRecognizeRequest must carry streaming_config only");
            goto fail;
        }
        s->cfg_msg = msg;
        return pl__asrsvc_session_setup(s, rq->streaming_config);
    }
    if (rq->streaming_request_case !=
        NVIDIA__RIVA__ASR__STREAMING_RECOGNIZE_REQUEST__STREAMING_REQUEST_AUDIO_CONTENT) {
        st = PL_ERR(
            PL_E_INVALID_ARG,
            "streaming_config may only come in the first message; later ones carry audio_content");
        goto fail;
    }
    if (!s->fs) {
        st = PL_ERR(PL_E_INVALID_ARG, "the stream's configuration was refused");
        goto fail;
    }
    announce(s);
    st = take_audio(s, rq->audio_content.data, rq->audio_content.len);
    unannounce(s);
    if (st != PL_OK) goto fail;
    st = send_interim(s);
fail:
    pl_proto_free(msg);
    return st;
}

static pl_status sess_flush(struct pl_asrsvc_session *s) {
    if (s->rs) {
        const float *o = NULL;
        size_t no = 0;
        PL_TRY(pl_resampler_flush(s->rs, &o, &no));
        PL_TRY(push_samples(s, o, no, true));
    } else {
        PL_TRY(push_samples(s, NULL, 0, true));
    }
    if (s->ep) {
        s->n_evs = 0;
        pl_endpoint_finish(s->ep, on_event, s);
        for (size_t e = 0; e < s->n_evs; e++)
            if (s->evs[e].type == PL_ENDPOINT_END) s->sp_last = s->evs[e].last;
    }
    PL_TRY(feed_until(s, s->recv));
    return end_utt(s, s->recv);
}

pl_status pl_asrsvc_session_end(struct pl_asrsvc_session *s) {
    if (!s) return PL_ERR(PL_E_INVALID_ARG, "pl_asrsvc_session_end: NULL session");
    if (s->ended) return PL_OK;
    s->ended = true;
    if (!s->cfg_msg || !s->fs) return PL_OK; /* nothing was streamed */
    announce(s);
    pl_status st = sess_flush(s);
    unannounce(s);
    return st;
}

/* ---- worker adapter ------------------------------------------------------------------------ */

static pl_status w_send(void *ud, const uint8_t *data, size_t n) {
    return pl_worker_session_send(ud, data, n);
}

static pl_status w_open(void *ud, struct pl_worker_session *ws, const struct pl_worker_ctx *ctx,
                        void **state) {
    (void)ctx;
    struct pl_asrsvc_session *s = NULL;
    PL_TRY(pl_asrsvc_session_create(ud, w_send, ws, &s));
    *state = s;
    return PL_OK;
}

static pl_status w_message(void *state, struct pl_worker_session *ws, const uint8_t *data,
                           size_t n) {
    (void)ws;
    return pl_asrsvc_session_message(state, data, n);
}

static pl_status w_end(void *state, struct pl_worker_session *ws) {
    (void)ws;
    pl_status st = pl_asrsvc_session_end(state);
    pl_asrsvc_session_destroy(state);
    return st;
}

static void w_cancel(void *state, struct pl_worker_session *ws) {
    (void)ws;
    pl_asrsvc_session_destroy(state);
}

static const struct pl_worker_stream_i stream_iface = {w_open, w_message, w_end, w_cancel};

pl_status pl_asrsvc_streaming_register(struct pl_asrsvc_streaming *ss, struct pl_worker *w) {
    if (!ss || !w) return PL_ERR(PL_E_INVALID_ARG, "pl_asrsvc_streaming_register: NULL argument");
    return pl_worker_add_stream(w, "streaming_recognize", &stream_iface, ss);
}
