/*
 * tts_service.c - parley-tts's shared state (lexicons, G2P, front end, voices), the
 * GetRivaSynthesisConfig rpc and the checks of a SynthesizeSpeechRequest (tts.h).
 *
 * A request is checked before any work is spent on it, in the order a client would fix
 * things: voice, language, encoding, sample rate, then the text (empty, too long), then the
 * front end (invalid UTF-8, SSML, custom dictionary: its own messages), then whether there is
 * anything to say at all.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "log.h"
#include "proto_util.h"
#include "strbuf.h"
#include "tts_g2p.h"
#include "tts_service_impl.h"
#include "util.h"

void pl_tts_service_opts_default(struct pl_tts_service_opts *o) {
    memset(o, 0, sizeof *o);
    o->voices = "models/tts-voice";
    o->lexicon = "";
    o->user_dictionary = "";
    o->g2p = "";
    o->backend = "cpu";
    o->max_text_bytes = 8192;
    o->max_stream_text_bytes = 1 << 20;
}

pl_status pl__ttssvc_err_prefix(pl_status st, const char *prefix) {
    char msg[512];
    snprintf(msg, sizeof msg, "%s", pl_last_error());
    return PL_ERR(st, "%s: %s", prefix, msg);
}

/* ---- create / destroy ---------------------------------------------------------------------- */

void pl_tts_service_destroy(struct pl_tts_service *s) {
    if (!s) return;
    for (int i = 0; i < s->n_voices; i++) {
        pl_tts_voice_destroy(s->voices[i]);
        pl_free(s->voice_dirs[i]);
    }
    pl_free(s->voices);
    pl_free(s->voice_dirs);
    pl_tts_front_destroy(s->front);
    pl_tts_g2p_destroy(s->g2p);
    pl_tts_lexicon_destroy(s->user);
    pl_tts_lexicon_destroy(s->cmu);
    pl_free(s);
}

/* Split "a, b,c" into trimmed, non-empty heap strings. OUT: *dirs (caller frees each and the
 * array), *n. */
static pl_status split_list(const char *list, char ***dirs, int *n) {
    *dirs = NULL;
    *n = 0;
    int cap = 1;
    for (const char *p = list; *p; p++) cap += *p == ',';
    char **v = pl_calloc((size_t)cap, sizeof *v);
    if (!v) return PL_ERR(PL_E_NOMEM, "tts: voice list");
    int k = 0;
    for (const char *p = list;;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        while (len && (*p == ' ' || *p == '\t')) p++, len--;
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t')) len--;
        if (len) {
            v[k] = pl_malloc(len + 1);
            if (!v[k]) {
                for (int i = 0; i < k; i++) pl_free(v[i]);
                pl_free(v);
                return PL_ERR(PL_E_NOMEM, "tts: voice list");
            }
            memcpy(v[k], p, len);
            v[k++][len] = 0;
        }
        if (!e) break;
        p = e + 1;
    }
    *dirs = v;
    *n = k;
    return PL_OK;
}

pl_status pl_tts_service_create(const struct pl_tts_service_opts *o, struct pl_tts_service **out) {
    *out = NULL;
    struct pl_tts_service *s = pl_calloc(1, sizeof *s);
    if (!s) return PL_ERR(PL_E_NOMEM, "tts service");
    s->o = *o;
    /* the strings of o are not kept: only the numbers */
    s->o.voices = s->o.lexicon = s->o.user_dictionary = s->o.g2p = s->o.backend = NULL;
    pl_status st = PL_OK;
    int64_t t0 = pl_time_mono_ms();
    if (o->lexicon && *o->lexicon) {
        PL_TRY_GOTO(st, pl_tts_lexicon_load_cmu(o->lexicon, &s->cmu));
        struct pl_tts_lexicon_stats ls;
        pl_tts_lexicon_stats(s->cmu, &ls);
        PL_LOGI("lexicon %s: %zu words, %zu pronunciations", o->lexicon, ls.n_words, ls.n_prons);
    } else {
        PL_LOGW("no CMU lexicon (tts.lexicon): every word goes through the G2P model");
    }
    if (o->user_dictionary && *o->user_dictionary) {
        PL_TRY_GOTO(st, pl_tts_lexicon_load_user(o->user_dictionary, &s->user));
        struct pl_tts_lexicon_stats ls;
        pl_tts_lexicon_stats(s->user, &ls);
        PL_LOGI("user dictionary %s: %zu words", o->user_dictionary, ls.n_words);
    }
    if (o->g2p && *o->g2p) {
        PL_TRY_GOTO(st, pl_tts_g2p_load(o->g2p, &s->g2p));
        PL_LOGI("g2p %s", o->g2p);
    }
    struct pl_tts_front_opts fo = {.cmu = s->cmu,
                                   .user = s->user,
                                   .g2p = s->g2p ? pl_tts_g2p_phones : NULL,
                                   .g2p_ud = s->g2p,
                                   .max_words = o->max_words};
    PL_TRY_GOTO(st, pl_tts_front_create(&fo, &s->front));

    PL_TRY_GOTO(st, split_list(o->voices ? o->voices : "", &s->voice_dirs, &s->n_voices));
    if (s->n_voices == 0) {
        st = PL_ERR(PL_E_INVALID_ARG, "no voice to serve (tts.voices is empty)");
        goto fail;
    }
    s->voices = pl_calloc((size_t)s->n_voices, sizeof *s->voices);
    if (!s->voices) {
        st = PL_ERR(PL_E_NOMEM, "tts voices");
        goto fail;
    }
    /* A voice that does not load is logged and left out: the others serve (with none, every
     * request answers UNAVAILABLE naming why, and /readyz stays 503). */
    struct pl_tts_voice_opts vo = {.backend = o->backend, .n_threads = o->threads};
    int n_dirs = s->n_voices, k = 0;
    for (int i = 0; i < n_dirs; i++) {
        char *dir = s->voice_dirs[i];
        s->voice_dirs[i] = NULL;
        struct pl_tts_voice *v = NULL;
        char err[sizeof s->load_error];
        err[0] = 0;
        if (pl_tts_voice_load(dir, &vo, &v) != PL_OK) {
            snprintf(err, sizeof err, "voice %s: %s", dir, pl_last_error());
        } else {
            for (int j = 0; j < k; j++)
                if (strcmp(pl_tts_voice_name(s->voices[j]), pl_tts_voice_name(v)) == 0)
                    snprintf(err, sizeof err, "voice %s: named '%s' like %s", dir,
                             pl_tts_voice_name(v), s->voice_dirs[j]);
        }
        if (err[0]) {
            PL_LOGE("%s: not served", err);
            if (!s->load_error[0]) memcpy(s->load_error, err, sizeof err);
            pl_tts_voice_destroy(v);
            pl_free(dir);
            continue;
        }
        PL_LOGI("voice %s (%s, %s, %d Hz) from %s", pl_tts_voice_name(v),
                pl_tts_voice_language(v), o->backend ? o->backend : "cpu",
                pl_tts_voice_sample_rate(v), dir);
        s->voices[k] = v;
        s->voice_dirs[k++] = dir;
    }
    s->n_voices = k;
    if (k == 0) PL_LOGE("no voice loaded: every request answers UNAVAILABLE");
    PL_LOGI("tts ready in %lld ms: %d voice(s)", (long long)(pl_time_mono_ms() - t0), s->n_voices);
    *out = s;
    return PL_OK;
fail:
    pl_tts_service_destroy(s);
    return st;
}

int pl_tts_service_n_voices(const struct pl_tts_service *s) { return s->n_voices; }

const char *pl_tts_service_voice_name(const struct pl_tts_service *s, int i) {
    return i >= 0 && i < s->n_voices ? pl_tts_voice_name(s->voices[i]) : NULL;
}

/* ---- GetRivaSynthesisConfig ------------------------------------------------------------------ */

/* One Config per voice: model_name = the voice's name; parameters as talk.py --list-voices
 * reads them (language_code, voice_name, subvoices "name:index") plus sample_rate and the
 * encodings accepted. talk.py prints voice_name + "." + subvoice, which must give back a name
 * a request may use: a voice named the Riva way, "English-US.Female-1", is listed as
 * voice_name "English-US", subvoices "Female-1:0"; a name without a dot as itself with the
 * subvoice "default". A request's model_name picks one voice (NOT_FOUND when none has it). */
static pl_status rpc_config(void *ud, const struct pl_worker_ctx *ctx, const uint8_t *req,
                            size_t n, struct pl_worker_out *out) {
    (void)ctx;
    struct pl_tts_service *s = ud;
    ProtobufCMessage *msg = NULL;
    PL_TRY(pl_proto_unpack(&nvidia__riva__tts__riva_synthesis_config_request__descriptor, req, n,
                           &msg));
    Nvidia__Riva__Tts__RivaSynthesisConfigRequest *rq = (void *)msg;
    enum { NP = 5 };
    size_t nv = (size_t)s->n_voices + 1; /* + 1: never a 0-byte allocation */
    Nvidia__Riva__Tts__RivaSynthesisConfigResponse__Config *cfg = pl_calloc(nv, sizeof *cfg);
    Nvidia__Riva__Tts__RivaSynthesisConfigResponse__Config **cfgv = pl_calloc(nv, sizeof *cfgv);
    Nvidia__Riva__Tts__RivaSynthesisConfigResponse__Config__ParametersEntry *ent =
        pl_calloc(nv * NP, sizeof *ent);
    Nvidia__Riva__Tts__RivaSynthesisConfigResponse__Config__ParametersEntry **entv =
        pl_calloc(nv * NP, sizeof *entv);
    char(*rate)[16] = pl_calloc(nv, sizeof *rate);
    char(*sub)[160] = pl_calloc(nv, sizeof *sub);
    char(*fam)[160] = pl_calloc(nv, sizeof *fam);
    pl_status st = PL_OK;
    if (!cfg || !cfgv || !ent || !entv || !rate || !sub || !fam) {
        st = PL_ERR(PL_E_NOMEM, "synthesis config");
        goto fail;
    }
    const char *want = rq->model_name && *rq->model_name ? rq->model_name : NULL;
    size_t k = 0;
    for (int i = 0; i < s->n_voices; i++) {
        struct pl_tts_voice *v = s->voices[i];
        if (want && strcmp(want, pl_tts_voice_name(v)) != 0) continue;
        snprintf(rate[k], sizeof rate[k], "%d", pl_tts_voice_sample_rate(v));
        const char *vn = pl_tts_voice_name(v), *dot = strrchr(vn, '.');
        if (dot && dot > vn && dot[1]) { /* Riva's form "English-US.Female-1" */
            snprintf(fam[k], sizeof fam[k], "%.*s", (int)(dot - vn), vn);
            snprintf(sub[k], sizeof sub[k], "%s:0", dot + 1);
        } else {
            snprintf(fam[k], sizeof fam[k], "%s", vn);
            snprintf(sub[k], sizeof sub[k], "%s:0", PL_TTS_SUBVOICE);
        }
        const char *kv[NP][2] = {{"language_code", pl_tts_voice_language(v)},
                                 {"voice_name", fam[k]},
                                 {"subvoices", sub[k]},
                                 {"sample_rate", rate[k]},
                                 {"encodings", "LINEAR_PCM,OGGOPUS,MULAW,ALAW"}};
        Nvidia__Riva__Tts__RivaSynthesisConfigResponse__Config *c = &cfg[k];
        nvidia__riva__tts__riva_synthesis_config_response__config__init(c);
        c->model_name = (char *)pl_tts_voice_name(v);
        c->n_parameters = NP;
        c->parameters = &entv[k * NP];
        for (int j = 0; j < NP; j++) {
            Nvidia__Riva__Tts__RivaSynthesisConfigResponse__Config__ParametersEntry *e =
                &ent[k * NP + (size_t)j];
            nvidia__riva__tts__riva_synthesis_config_response__config__parameters_entry__init(e);
            e->key = (char *)kv[j][0];
            e->value = (char *)kv[j][1];
            entv[k * NP + (size_t)j] = e;
        }
        cfgv[k++] = c;
    }
    if (want && k == 0) {
        struct pl_strbuf sb;
        pl_strbuf_init(&sb);
        for (int i = 0; i < s->n_voices; i++)
            pl_strbuf_appendf(&sb, "%s%s", i ? ", " : "", pl_tts_voice_name(s->voices[i]));
        st = PL_ERR(PL_E_NOT_FOUND, "no voice named '%s'; voices: %s", want,
                    sb.data ? sb.data : "none");
        pl_strbuf_deinit(&sb);
        goto fail;
    }
    Nvidia__Riva__Tts__RivaSynthesisConfigResponse resp =
        NVIDIA__RIVA__TTS__RIVA_SYNTHESIS_CONFIG_RESPONSE__INIT;
    resp.n_model_config = k;
    resp.model_config = cfgv;
    st = pl_proto_pack(&resp.base, &out->data, &out->len);
fail:
    pl_free(cfg);
    pl_free(cfgv);
    pl_free(ent);
    pl_free(entv);
    pl_free(rate);
    pl_free(sub);
    pl_free(fam);
    pl_proto_free(msg);
    return st;
}

pl_status pl_tts_service_register(struct pl_tts_service *s, struct pl_worker *w) {
    static const struct pl_worker_unary rpcs[] = {
        {"synthesize", pl__tts_rpc_synthesize},
        {"get_riva_synthesis_config", rpc_config},
    };
    PL_TRY(pl_worker_add_unaries(w, rpcs, PL_ARRAY_LEN(rpcs), s));
    PL_TRY(pl_worker_add_stream(w, "synthesize_online", &pl__tts_online_iface, s));
    return PL_OK;
}

/* ---- request checks ------------------------------------------------------------------------ */

/* Copy s into dst for an error message: printable ASCII kept, anything else as '?', cut to
 * cap - 1 bytes (a client's string may be any bytes; a status message must stay UTF-8). */
static void printable(const char *s, char *dst, size_t cap) {
    size_t k = 0;
    for (; *s && k + 1 < cap; s++) dst[k++] = *s >= 0x20 && *s < 0x7f ? *s : '?';
    dst[k] = 0;
}

/* The voice a request names, case-insensitive: "" = the first; the voice's name; for a name
 * "English-US.Female-1" also its family "English-US" (the first such voice); for a name
 * without a dot also "<name>.default" (as talk.py --list-voices prints it). NOT_FOUND lists
 * the voices. */
static pl_status find_voice(const struct pl_tts_service *s, const char *name,
                            struct pl_tts_voice **out) {
    *out = NULL;
    if (s->n_voices == 0)
        return PL_ERR(PL_E_UNAVAILABLE, "no voice is loaded (%s)", s->load_error);
    if (!name || !*name) {
        *out = s->voices[0];
        return PL_OK;
    }
    for (int i = 0; i < s->n_voices; i++) { /* the exact name first */
        if (strcasecmp(name, pl_tts_voice_name(s->voices[i])) == 0) {
            *out = s->voices[i];
            return PL_OK;
        }
    }
    for (int i = 0; i < s->n_voices; i++) {
        const char *vn = pl_tts_voice_name(s->voices[i]), *dot = strrchr(vn, '.');
        size_t l = strlen(vn), nl = strlen(name);
        bool family = dot && (size_t)(dot - vn) == nl && strncasecmp(name, vn, nl) == 0;
        bool dflt = !dot && strncasecmp(name, vn, l) == 0 && name[l] == '.' &&
                    strcasecmp(name + l + 1, PL_TTS_SUBVOICE) == 0;
        if (family || dflt) {
            *out = s->voices[i];
            return PL_OK;
        }
    }
    struct pl_strbuf sb;
    pl_strbuf_init(&sb);
    for (int i = 0; i < s->n_voices; i++)
        pl_strbuf_appendf(&sb, "%s%s", i ? ", " : "", pl_tts_voice_name(s->voices[i]));
    char shown[101];
    printable(name, shown, sizeof shown);
    pl_status st = PL_ERR(PL_E_NOT_FOUND, "voice '%s' not found; voices: %s", shown,
                          sb.data ? sb.data : "none");
    pl_strbuf_deinit(&sb);
    return st;
}

/* Opus codes 8, 12, 16, 24 and 48 kHz: the first of these at or above rate. */
static int opus_rate(int rate) {
    static const int r[] = {8000, 12000, 16000, 24000, 48000};
    for (size_t i = 0; i < PL_ARRAY_LEN(r); i++)
        if (rate <= r[i]) return r[i];
    return 48000;
}

static bool blank(const char *t) {
    for (; *t; t++)
        if (!(*t == ' ' || *t == '\t' || *t == '\n' || *t == '\r' || *t == '\f' || *t == '\v'))
            return false;
    return true;
}

/* True when the result has something to voice: a word with phones, or (SSML) a break. */
static bool has_speech(const struct pl_tts_result *r) {
    for (size_t i = 0; i < r->n_sentences; i++) {
        const struct pl_tts_sentence *se = &r->sentences[i];
        for (size_t j = 0; j < se->n_items; j++) {
            const struct pl_tts_item *it = &se->items[j];
            if (it->kind == PL_TTS_ITEM_WORD && it->n_phones > 0) return true;
            if (it->kind == PL_TTS_ITEM_PAUSE && it->punct == PL_TTS_PUNCT_NONE) return true;
        }
    }
    return false;
}

pl_status pl__tts_job_init(const struct pl_tts_service *s,
                           const Nvidia__Riva__Tts__SynthesizeSpeechRequest *rq, size_t max_bytes,
                           struct pl__tts_job *job) {
    memset(job, 0, sizeof *job);
    PL_TRY(find_voice(s, rq->voice_name, &job->voice));
    const char *lang = pl_tts_voice_language(job->voice);
    if (rq->language_code && *rq->language_code && strcasecmp(rq->language_code, lang) != 0) {
        char shown[41];
        printable(rq->language_code, shown, sizeof shown);
        return PL_ERR(PL_E_INVALID_ARG, "language_code '%s' is not served: voice %s speaks %s",
                      shown, pl_tts_voice_name(job->voice), lang);
    }
    switch ((int)rq->encoding) {
    case NVIDIA__RIVA__AUDIO_ENCODING__ENCODING_UNSPECIFIED:
    case NVIDIA__RIVA__AUDIO_ENCODING__LINEAR_PCM: job->enc = PL_AUDIO_ENC_LINEAR_PCM; break;
    case NVIDIA__RIVA__AUDIO_ENCODING__OGGOPUS: job->enc = PL_AUDIO_ENC_OGGOPUS; break;
    case NVIDIA__RIVA__AUDIO_ENCODING__MULAW: job->enc = PL_AUDIO_ENC_MULAW; break;
    case NVIDIA__RIVA__AUDIO_ENCODING__ALAW: job->enc = PL_AUDIO_ENC_ALAW; break;
    default:
        return PL_ERR(PL_E_INVALID_ARG,
                      "encoding %s (%d) is not supported for synthesis; use LINEAR_PCM, OGGOPUS, "
                      "MULAW or ALAW",
                      pl_audio_encoding_str((enum pl_audio_encoding)rq->encoding),
                      (int)rq->encoding);
    }
    int rate = rq->sample_rate_hz ? rq->sample_rate_hz : pl_tts_voice_sample_rate(job->voice);
    if (rate < PL_AUDIO_RAW_MIN_RATE || rate > PL_AUDIO_RAW_MAX_RATE)
        return PL_ERR(PL_E_INVALID_ARG,
                      "sample_rate_hz %d is not supported: give 8000-48000 (0 = the voice's %d)",
                      (int)rq->sample_rate_hz, pl_tts_voice_sample_rate(job->voice));
    job->rate = job->enc == PL_AUDIO_ENC_OGGOPUS ? opus_rate(rate) : rate;
    const char *text = rq->text ? rq->text : "";
    if (blank(text)) return PL_ERR(PL_E_INVALID_ARG, "text is empty: nothing to synthesize");
    size_t len = strlen(text);
    if (len > max_bytes)
        return PL_ERR(PL_E_EXHAUSTED,
                      "text is %zu bytes; the limit of one %s request is %zu bytes (%s)%s", len,
                      max_bytes == s->o.max_text_bytes ? "Synthesize" : "SynthesizeOnline",
                      max_bytes,
                      max_bytes == s->o.max_text_bytes ? "tts.max_text_bytes"
                                                       : "tts.max_stream_text_bytes",
                      max_bytes == s->o.max_text_bytes
                          ? ": send longer text with SynthesizeOnline, which streams it sentence "
                            "by sentence"
                          : "");
    job->text = text;
    char err[512] = "";
    const char *dict = rq->custom_dictionary && *rq->custom_dictionary ? rq->custom_dictionary
                                                                        : NULL;
    pl_status st = pl_tts_front_run(s->front, text, PL_TTS_INPUT_AUTO, dict, &job->res, err,
                                    sizeof err);
    if (st != PL_OK) {
        if (err[0]) return PL_ERR(st, "%s", err);
        return st;
    }
    if (!has_speech(job->res)) {
        pl__tts_job_deinit(job);
        return PL_ERR(PL_E_INVALID_ARG,
                      "text has no words to speak (only punctuation, symbols or emoji?)");
    }
    return PL_OK;
}

void pl__tts_job_deinit(struct pl__tts_job *job) {
    pl_tts_result_destroy(job->res);
    job->res = NULL;
}
