/* test_asrstream.c - StreamingRecognize sessions of parley-asr without NATS (asr_stream.h):
 * a real LJ Speech recording streamed as a WAV in 100 ms chunks gives the same final text as
 * Recognize on the same bytes; chunk sizes from 20 ms to 1 s give the same finals; silence
 * gives no final; two utterances separated by silence give two finals (Silero VAD from
 * PARLEY_DATA_DIR); interim results; raw mu-law at 8 kHz through the resampler; protocol
 * errors; an ended stream's recycled model state computes as a new one. The acoustic model is
 * the tiny random-weight model of tests/reference/asr_model_ref.py with unnormalized features
 * (so streaming and offline features are the same numbers): its words are gibberish, equality
 * is what is tested. */
#include <check.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "asr_impl.h"
#include "model_repo.h"
#include "asr_sched.h"
#include "asr_service.h"
#include "asr_stream.h"
#include "models/asr_model.h"
#include "audio.h"
#include "nrpc_worker.h"
#include "proto_util.h"
#include "riva/proto/riva_asr.pb-c.h"
#include "status.h"
#include "test_asrstream_util.h"
#include "util.h"

static char g_dir[256];
static struct pl_asrsvc *g_svc;
static struct pl_asrsvc_streaming *g_ss;
static struct pl_audio *g_clip; /* 16 kHz mono real speech */
/* the stream service's endpointing and utterance cut of the running TCase */
static int g_mode = PL_ASRSVC_EP_VAD;
static double g_max_utt = 30.0;

static void setup_model(void) {
    const char *py = getenv("PL_PYTHON"), *src = getenv("PARLEY_SOURCE_DIR"),
               *data = getenv("PARLEY_DATA_DIR");
    ck_assert_msg(py && src && data && strlen(py) < 512 && strlen(src) < 1024 &&
                      strlen(data) < 1024,
                  "PL_PYTHON, PARLEY_SOURCE_DIR and PARLEY_DATA_DIR must be set (ctest sets them)");
    snprintf(g_dir, sizeof g_dir, "/tmp/pl_test_asrstream_%d", (int)getpid());
    char cmd[4096];
    snprintf(
        cmd, sizeof cmd,
        "rm -rf %s && mkdir -p %s && %s %s/tests/reference/asr_model_ref.py %s/tiny --config tiny "
        "--cases 1 > /dev/null && %s -c \"import json,sys; p=sys.argv[1]; c=json.load(open(p)); "
        "c.setdefault('features', {})['normalize']='none'; json.dump(c, open(p,'w'))\" "
        "%s/tiny/config.json",
        g_dir, g_dir, py, src, g_dir, py, g_dir);
    ck_assert_msg(system(cmd) == 0, "%s failed", cmd);
}

/* The service in each test's own process (its scheduler thread would not survive a fork). */
static void setup(void) {
    const char *data = getenv("PARLEY_DATA_DIR"), *src = getenv("PARLEY_SOURCE_DIR");
    struct pl_asrsvc_opts o;
    pl_asrsvc_opts_default(&o);
    o.model_dir = g_dir;
    o.lm_path = "none";
    o.beam_width = 8;
    ck_assert_int_eq(pl_asrsvc_create(&o, &g_svc), PL_OK);
    ck_assert_int_eq(pl_asrsvc_n_models(g_svc), 1);
    char vad[1100];
    snprintf(vad, sizeof vad, "%s/models/vad-silero/model.safetensors", src);
    struct pl_asrsvc_streaming_opts so;
    pl_asrsvc_streaming_opts_default(&so);
    so.vad_path = vad;
    so.endpointing = g_mode;
    so.max_utterance_s = g_max_utt;
    ck_assert_int_eq(pl_asrsvc_streaming_create(g_svc, &so, &g_ss), PL_OK);
    ck_assert(pl_asrsvc_streaming_has_vad(g_ss));
    char wav[1100];
    snprintf(wav, sizeof wav, "%s/speech/ljspeech-subset/wavs/LJ001-0010.flac", data);
    struct pl_audio *a = NULL;
    ck_assert_int_eq(pl_audio_decode_file(wav, NULL, &a, NULL), PL_OK);
    ck_assert_int_eq(pl_audio_to_mono(a), PL_OK);
    ck_assert_int_eq(pl_audio_resample(a, 16000, &g_clip), PL_OK);
    pl_audio_destroy(a);
}

/* "vad": the VAD alone (the random-weight model's blanks say nothing); "vad+blank": the
 * service default, the model running ahead of the endpointer. */
static void setup_vad(void) {
    g_mode = PL_ASRSVC_EP_VAD;
    g_max_utt = 30.0;
    setup();
}
static void setup_blank(void) {
    g_mode = PL_ASRSVC_EP_VAD_BLANK;
    g_max_utt = 30.0;
    setup();
}
/* vad+blank with utterances cut every 2 s: every cut happens while the model has already
 * run ahead, so the audio after it is fed again to fresh caches */
static void setup_agree(void) {
    g_mode = PL_ASRSVC_EP_AGREE;
    g_max_utt = 30.0;
    setup();
}
static void setup_blank_cut(void) {
    g_mode = PL_ASRSVC_EP_VAD_BLANK;
    g_max_utt = 2.0;
    setup();
}

static void teardown(void) {
    pl_asrsvc_streaming_destroy(g_ss);
    pl_asrsvc_destroy(g_svc);
    pl_audio_destroy(g_clip);
}

static void teardown_model(void) {
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* ---- helpers ------------------------------------------------------------------------------- */

struct got {
    int n_final, n_interim;
    char finals[16][4096];
    float final_end[16];
    int first_word_ms[16];
    int last_word_end_ms[16];
    float confidence[16];
    float stability_max;
};

static pl_status collect(void *ud, const uint8_t *data, size_t n) {
    struct got *g = ud;
    ProtobufCMessage *m = NULL;
    ck_assert_int_eq(
        pl_proto_unpack(&nvidia__riva__asr__streaming_recognize_response__descriptor, data, n, &m),
        PL_OK);
    Nvidia__Riva__Asr__StreamingRecognizeResponse *r = (void *)m;
    ck_assert_uint_eq(r->n_results, 1);
    Nvidia__Riva__Asr__StreamingRecognitionResult *res = r->results[0];
    ck_assert_uint_ge(res->n_alternatives, 1);
    if (res->is_final) {
        ck_assert_int_lt(g->n_final, 16);
        snprintf(g->finals[g->n_final], sizeof g->finals[0], "%s",
                 res->alternatives[0]->transcript);
        g->final_end[g->n_final] = res->audio_processed;
        Nvidia__Riva__Asr__SpeechRecognitionAlternative *al = res->alternatives[0];
        g->first_word_ms[g->n_final] = al->n_words ? al->words[0]->start_time : -1;
        g->last_word_end_ms[g->n_final] = al->n_words ? al->words[al->n_words - 1]->end_time : -1;
        g->confidence[g->n_final] = al->confidence;
        g->n_final++;
    } else {
        g->n_interim++;
        ck_assert(res->stability >= 0 && res->stability <= 1);
        if (res->stability > g->stability_max) g->stability_max = res->stability;
    }
    pl_proto_free(m);
    return PL_OK;
}

static void default_cfg(Nvidia__Riva__Asr__RecognitionConfig *cfg) {
    nvidia__riva__asr__recognition_config__init(cfg);
    cfg->language_code = "en-US";
    cfg->enable_word_time_offsets = true;
    cfg->max_alternatives = 2;
}

/* Stream bytes in chunks of `chunk` bytes (the first one also carries the header). */
static void stream(const uint8_t *audio, size_t n, size_t chunk, bool interim,
                   const Nvidia__Riva__Asr__RecognitionConfig *cfg, struct got *g) {
    memset(g, 0, sizeof *g);
    pl_test_asrstream_run(g_ss, cfg, interim, collect, g, audio, n, chunk, chunk);
}

/* Recognize on the same bytes: the concatenated transcripts of its results. */
static void recognize_text(const uint8_t *audio, size_t n, char *out, size_t cap, int *n_results) {
    Nvidia__Riva__Asr__RecognitionConfig cfg;
    default_cfg(&cfg);
    *n_results = pl_test_asrstream_recognize(g_svc, &cfg, audio, n, out, cap);
}

static void joined(const struct got *g, char *out, size_t cap) {
    out[0] = 0;
    for (int i = 0; i < g->n_final; i++)
        snprintf(out + strlen(out), cap - strlen(out), "%s%s", i ? " " : "", g->finals[i]);
}

/* ---- tests --------------------------------------------------------------------------------- */

/* The first acoustic model of svc (borrowed while svc lives and nothing reloads). */
static const struct pl_asr_model *am_of(struct pl_asrsvc *svc) {
    struct pl_model_set *set = pl_model_repo_acquire(svc->repo);
    const struct pl_asr_model *am = pl__asrsvc_model_at(set, 0)->am;
    pl_model_set_release(set);
    return am;
}

START_TEST(test_same_as_recognize) {
    size_t n = 0;
    uint8_t *wav = pl_test_asrstream_wav(g_clip->samples, g_clip->n_frames, 16000, &n);
    char want[8192], have[8192];
    int nr = 0;
    recognize_text(wav, n, want, sizeof want, &nr);
    ck_assert_int_eq(nr, 1);
    ck_assert_msg(strlen(want) > 0, "Recognize gave no text");
    Nvidia__Riva__Asr__RecognitionConfig cfg;
    default_cfg(&cfg);
    struct got g;
    stream(wav, n, 3200, true, &cfg, &g); /* 100 ms of 16-bit 16 kHz */
    joined(&g, have, sizeof have);
    ck_assert_int_eq(g.n_final, 1);
    ck_assert_msg(!strcmp(want, have), "Recognize '%s' != streamed '%s'", want, have);
    ck_assert_int_gt(g.n_interim, 10); /* an interim after (nearly) every chunk with speech */
    ck_assert(g.stability_max > 0);
    ck_assert(fabsf(g.final_end[0] - (float)g_clip->n_frames / 16000) < 0.02f);
    ck_assert_int_ge(g.first_word_ms[0], 0);
    ck_assert_int_le(g.last_word_end_ms[0], (int)(1000 * g_clip->n_frames / 16000) + 80);
    pl_free(wav);
}
END_TEST

START_TEST(test_chunk_sizes) {
    size_t n = 0;
    uint8_t *wav = pl_test_asrstream_wav(g_clip->samples, g_clip->n_frames, 16000, &n);
    Nvidia__Riva__Asr__RecognitionConfig cfg;
    default_cfg(&cfg);
    struct got ref, g;
    stream(wav, n, 3200, false, &cfg, &ref);
    const size_t chunks[] = {640, 1000, 4801, 16000, 32000}; /* 20 ms .. 1 s, odd sizes too */
    for (size_t i = 0; i < sizeof chunks / sizeof chunks[0]; i++) {
        stream(wav, n, chunks[i], i == 1, &cfg, &g);
        ck_assert_int_eq(g.n_final, ref.n_final);
        for (int k = 0; k < g.n_final; k++) {
            ck_assert_str_eq(g.finals[k], ref.finals[k]);
            ck_assert_int_eq(g.first_word_ms[k], ref.first_word_ms[k]);
        }
    }
    pl_free(wav);
}
END_TEST

/* An ended stream's model state is kept and the next stream computes on it as on a new one:
 * the clip after a stream that ended mid-utterance (the clip's second half, no half-close) on
 * the recycled state gives the finals and word times of the first stream, which had a new one. */
START_TEST(test_state_reused) {
    size_t n = 0, nh = 0;
    uint8_t *wav = pl_test_asrstream_wav(g_clip->samples, g_clip->n_frames, 16000, &n);
    size_t half = g_clip->n_frames / 2;
    uint8_t *wav2 = pl_test_asrstream_wav(g_clip->samples + half, g_clip->n_frames - half, 16000,
                                          &nh);
    struct pl_model_set *set = pl_model_repo_acquire(g_svc->repo);
    struct pl_asrsvc_model *m = pl__asrsvc_model_at(set, 0);
    ck_assert_int_eq(m->n_idle_states, 0);
    Nvidia__Riva__Asr__RecognitionConfig cfg;
    default_cfg(&cfg);
    struct got ref, g;
    stream(wav, n, 3200, true, &cfg, &ref);
    ck_assert_int_eq(m->n_idle_states, 1);
    struct pl_asr_state *kept = m->idle_states[0];
    /* a client that goes away mid-utterance: its session ends without a half-close */
    struct pl_asrsvc_session *ses = NULL;
    memset(&g, 0, sizeof g);
    ck_assert_int_eq(pl_asrsvc_session_create(g_ss, collect, &g, &ses), PL_OK);
    size_t cn = 0;
    uint8_t *c = pl_test_asrstream_pack_config(&cfg, true, &cn);
    ck_assert_int_eq(pl_asrsvc_session_message(ses, c, cn), PL_OK);
    pl_free(c);
    for (size_t off = 0; off < nh; off += 3200) {
        size_t k = nh - off < 3200 ? nh - off : 3200;
        ck_assert_int_eq(pl_test_asrstream_send_audio(ses, wav2 + off, k), PL_OK);
    }
    ck_assert_int_eq(m->n_idle_states, 0); /* the stream has it */
    pl_asrsvc_session_destroy(ses);
    ck_assert_int_eq(m->n_idle_states, 1);
    ck_assert_ptr_eq(m->idle_states[0], kept);
    stream(wav, n, 3200, true, &cfg, &g);
    ck_assert_int_eq(m->n_idle_states, 1);
    ck_assert_ptr_eq(m->idle_states[0], kept);
    ck_assert_int_ge(ref.n_final, 1);
    ck_assert_int_eq(g.n_final, ref.n_final);
    ck_assert_int_eq(g.n_interim, ref.n_interim);
    for (int k = 0; k < g.n_final; k++) {
        ck_assert_str_eq(g.finals[k], ref.finals[k]);
        ck_assert_int_eq(g.first_word_ms[k], ref.first_word_ms[k]);
        ck_assert_int_eq(g.last_word_end_ms[k], ref.last_word_end_ms[k]);
        ck_assert(g.confidence[k] == ref.confidence[k]);
    }
    pl_model_set_release(set);
    pl_free(wav);
    pl_free(wav2);
}
END_TEST

START_TEST(test_silence) {
    size_t ns = 16000 * 3;
    float *z = pl_calloc(ns, sizeof *z);
    ck_assert_ptr_nonnull(z);
    uint32_t seed = 7;
    for (size_t i = 0; i < ns; i++) { /* very low noise */
        seed = seed * 1664525u + 1013904223u;
        z[i] = ((float)(seed >> 8) / 16777216.0f - 0.5f) * 1e-4f;
    }
    size_t n = 0;
    uint8_t *wav = pl_test_asrstream_wav(z, ns, 16000, &n);
    Nvidia__Riva__Asr__RecognitionConfig cfg;
    default_cfg(&cfg);
    struct got g;
    stream(wav, n, 3200, true, &cfg, &g);
    ck_assert_int_eq(g.n_final, 0);
    ck_assert_int_eq(g.n_interim, 0);
    pl_free(wav);
    pl_free(z);
}
END_TEST

START_TEST(test_two_utterances) {
    size_t c = g_clip->n_frames, gap = 16000 * 2, ns = 2 * c + gap;
    float *x = pl_calloc(ns, sizeof *x);
    ck_assert_ptr_nonnull(x);
    memcpy(x, g_clip->samples, sizeof *x * c);
    memcpy(x + c + gap, g_clip->samples, sizeof *x * c);
    size_t n = 0;
    uint8_t *wav = pl_test_asrstream_wav(x, ns, 16000, &n);
    Nvidia__Riva__Asr__RecognitionConfig cfg;
    default_cfg(&cfg);
    struct got g;
    stream(wav, n, 3200, false, &cfg, &g);
    ck_assert_int_eq(g.n_final, 2);
    /* the second final's words are absolute in the stream: after the first clip and the gap */
    ck_assert_int_ge(g.first_word_ms[1], (int)(1000 * g.final_end[0]) - 1);
    ck_assert(g.final_end[0] * 16000 > c && g.final_end[0] * 16000 < c + gap);
    ck_assert(g.final_end[1] > g.final_end[0]);
    ck_assert(fabsf(g.final_end[1] - (float)ns / 16000) < 0.02f);
    /* a stop window shorter than the pause still splits; longer than the pause: one final */
    Nvidia__Riva__Asr__EndpointingConfig ec = NVIDIA__RIVA__ASR__ENDPOINTING_CONFIG__INIT;
    ec._stop_history_case = NVIDIA__RIVA__ASR__ENDPOINTING_CONFIG___STOP_HISTORY_STOP_HISTORY;
    ec.stop_history = 3000;
    cfg.endpointing_config = &ec;
    stream(wav, n, 3200, false, &cfg, &g);
    ck_assert_int_eq(g.n_final, 1);
    pl_free(wav);
    pl_free(x);
}
END_TEST

START_TEST(test_mulaw_8k) {
    struct pl_audio *a8 = NULL;
    ck_assert_int_eq(pl_audio_resample(g_clip, 8000, &a8), PL_OK);
    uint8_t *mu = pl_malloc(a8->n_frames);
    ck_assert_ptr_nonnull(mu);
    pl_g711_float_to_mulaw(a8->samples, a8->n_frames, mu);
    Nvidia__Riva__Asr__RecognitionConfig cfg;
    default_cfg(&cfg);
    cfg.encoding = NVIDIA__RIVA__AUDIO_ENCODING__MULAW;
    cfg.sample_rate_hertz = 8000;
    struct got g;
    stream(mu, a8->n_frames, 800, true, &cfg, &g);
    ck_assert_int_eq(g.n_final, 1);
    ck_assert_int_gt((int)strlen(g.finals[0]), 0);
    ck_assert(fabsf(g.final_end[0] - (float)a8->n_frames / 8000) < 0.05f);
    pl_free(mu);
    pl_audio_destroy(a8);
}
END_TEST

START_TEST(test_protocol_errors) {
    Nvidia__Riva__Asr__RecognitionConfig cfg;
    default_cfg(&cfg);
    struct got g;
    memset(&g, 0, sizeof g);
    struct pl_asrsvc_session *s = NULL;
    /* audio first */
    ck_assert_int_eq(pl_asrsvc_session_create(g_ss, collect, &g, &s), PL_OK);
    uint8_t pcm[320] = {0};
    ck_assert_int_eq(pl_test_asrstream_send_audio(s, pcm, sizeof pcm), PL_E_INVALID_ARG);
    pl_asrsvc_session_destroy(s);
    /* garbage, config twice, raw without a rate, unknown model, bad endpointing */
    ck_assert_int_eq(pl_asrsvc_session_create(g_ss, collect, &g, &s), PL_OK);
    const uint8_t junk[] = {0xff, 0xff, 0xff, 0x07};
    ck_assert_int_eq(pl_asrsvc_session_message(s, junk, sizeof junk), PL_E_INVALID_ARG);
    size_t cn = 0;
    uint8_t *c = pl_test_asrstream_pack_config(&cfg, false, &cn);
    ck_assert_int_eq(pl_asrsvc_session_message(s, c, cn), PL_OK);
    ck_assert_int_eq(pl_asrsvc_session_message(s, c, cn), PL_E_INVALID_ARG);
    /* raw, no rate */
    ck_assert_int_eq(pl_test_asrstream_send_audio(s, pcm, sizeof pcm), PL_E_INVALID_ARG);
    pl_asrsvc_session_destroy(s);
    pl_free(c);
    cfg.model = "nope";
    c = pl_test_asrstream_pack_config(&cfg, false, &cn);
    ck_assert_int_eq(pl_asrsvc_session_create(g_ss, collect, &g, &s), PL_OK);
    ck_assert_int_eq(pl_asrsvc_session_message(s, c, cn), PL_E_NOT_FOUND);
    pl_asrsvc_session_destroy(s);
    pl_free(c);
    cfg.model = NULL;
    Nvidia__Riva__Asr__EndpointingConfig ec = NVIDIA__RIVA__ASR__ENDPOINTING_CONFIG__INIT;
    ec._stop_threshold_case = NVIDIA__RIVA__ASR__ENDPOINTING_CONFIG___STOP_THRESHOLD_STOP_THRESHOLD;
    ec.stop_threshold = 3.0f;
    cfg.endpointing_config = &ec;
    c = pl_test_asrstream_pack_config(&cfg, false, &cn);
    ck_assert_int_eq(pl_asrsvc_session_create(g_ss, collect, &g, &s), PL_OK);
    ck_assert_int_eq(pl_asrsvc_session_message(s, c, cn), PL_E_INVALID_ARG);
    pl_asrsvc_session_destroy(s);
    pl_free(c);
    /* a FLAC stream is refused with a message */
    cfg.endpointing_config = NULL;
    c = pl_test_asrstream_pack_config(&cfg, false, &cn);
    ck_assert_int_eq(pl_asrsvc_session_create(g_ss, collect, &g, &s), PL_OK);
    ck_assert_int_eq(pl_asrsvc_session_message(s, c, cn), PL_OK);
    const uint8_t flac[] = {'f', 'L', 'a', 'C', 0, 0, 0, 34};
    ck_assert_int_eq(pl_test_asrstream_send_audio(s, flac, sizeof flac), PL_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(pl_last_error(), "FLAC"));
    pl_asrsvc_session_destroy(s);
    pl_free(c);
    ck_assert_int_eq(g.n_final, 0);
}
END_TEST

/* Concurrent sessions share batched model steps and still give the finals of a lone one. */
struct conc {
    const uint8_t *wav;
    size_t n, chunk;
    struct got g;
};

static void *conc_run(void *ud) {
    struct conc *c = ud;
    Nvidia__Riva__Asr__RecognitionConfig cfg;
    default_cfg(&cfg);
    stream(c->wav, c->n, c->chunk, true, &cfg, &c->g);
    return NULL;
}

START_TEST(test_concurrent_batched) {
    size_t n = 0;
    uint8_t *wav = pl_test_asrstream_wav(g_clip->samples, g_clip->n_frames, 16000, &n);
    Nvidia__Riva__Asr__RecognitionConfig cfg;
    default_cfg(&cfg);
    struct got ref;
    stream(wav, n, 3200, false, &cfg, &ref);
    long s0 = 0, r0 = 0, s1 = 0, r1 = 0;
    pl_asrsvc_streaming_batch_stats(g_ss, &s0, &r0);
    enum { N = 6 };
    struct conc c[N];
    pthread_t th[N];
    for (int i = 0; i < N; i++) {
        c[i].wav = wav;
        c[i].n = n;
        c[i].chunk = 1600 + 640 * (size_t)i;
        ck_assert_int_eq(pthread_create(&th[i], NULL, conc_run, &c[i]), 0);
    }
    for (int i = 0; i < N; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(c[i].g.n_final, ref.n_final);
        for (int k = 0; k < ref.n_final; k++) ck_assert_str_eq(c[i].g.finals[k], ref.finals[k]);
    }
    pl_asrsvc_streaming_batch_stats(g_ss, &s1, &r1);
    ck_assert_int_gt(s1 - s0, 0);
    /* the scheduler really batched: more stream steps than model steps (mean batch > 1) */
    ck_assert_msg(r1 - r0 > s1 - s0, "mean batch %ld/%ld is not above 1", r1 - r0, s1 - s0);
    fprintf(stderr, "concurrent: %ld batched steps for %ld stream steps\n", s1 - s0, r1 - r0);
    pl_free(wav);
}
END_TEST

/* Random bytes as messages, and random audio after a valid config (raw, and behind a "RIFF"
 * magic): errors or results, never a crash (also run under ASan+UBSan). */
START_TEST(test_random_input) {
    uint32_t seed = 99;
    uint8_t buf[4096];
    struct got g;
    Nvidia__Riva__Asr__RecognitionConfig cfg;
    default_cfg(&cfg);
    for (int it = 0; it < 60; it++) {
        memset(&g, 0, sizeof g);
        struct pl_asrsvc_session *s = NULL;
        ck_assert_int_eq(pl_asrsvc_session_create(g_ss, collect, &g, &s), PL_OK);
        if (it % 3 == 0) {
            size_t n = (size_t)(it * 37 % 200);
            for (size_t i = 0; i < n; i++)
                buf[i] = (uint8_t)((seed = seed * 1664525u + 1013904223u) >> 24);
            (void)pl_asrsvc_session_message(s, buf, n);
        } else {
            cfg.encoding = it % 3 == 1 ? NVIDIA__RIVA__AUDIO_ENCODING__LINEAR_PCM
                                       : NVIDIA__RIVA__AUDIO_ENCODING__ALAW;
            cfg.sample_rate_hertz = 8000 + 1000 * (it % 40);
            size_t cn = 0;
            uint8_t *c = pl_test_asrstream_pack_config(&cfg, true, &cn);
            ck_assert_int_eq(pl_asrsvc_session_message(s, c, cn), PL_OK);
            pl_free(c);
            for (int k = 0; k < 4; k++) {
                size_t n = 1 + (size_t)((seed = seed * 1664525u + 1013904223u) >> 20) % sizeof buf;
                for (size_t i = 0; i < n; i++)
                    buf[i] = (uint8_t)((seed = seed * 1664525u + 1013904223u) >> 24);
                if (it % 2 == 0 && k == 0 && n >= 4) memcpy(buf, "RIFF", 4);
                if (pl_test_asrstream_send_audio(s, buf, n) != PL_OK) break;
            }
            (void)pl_asrsvc_session_end(s);
        }
        pl_asrsvc_session_destroy(s);
    }
}
END_TEST

/* The scheduler itself: a lone step runs at once although the gather window is long; a step
 * waits for a stream that announced itself and both run as ONE batched step whose results
 * equal separate feeding; a step without expectations never waits. */
struct sched_arg {
    struct pl_asrsvc_sched *sc;
    struct pl_asr_state *st;
    const float *feats;
    float *out;
    int n_out;
    pl_status status;
};

static void *sched_run(void *ud) {
    struct sched_arg *a = ud;
    usleep(50000); /* announced 50 ms before it steps */
    a->status = pl_asrsvc_sched_step(a->sc, a->st, a->feats, 40, false, a->out, &a->n_out, true);
    return NULL;
}

START_TEST(test_scheduler) {
    const struct pl_asr_model *am = am_of(g_svc);
    int mels = pl_asr_model_get_config(am)->n_mels, V = pl_asr_model_get_config(am)->vocab_size;
    struct pl_asrsvc_sched_opts o;
    pl_asrsvc_sched_opts_default(&o);
    /* long, so that any wrong wait shows: a step that waited takes 1 s, a step that did not
     * takes one model run (tens of ms in a sanitizer build, more on a loaded machine); 1 s is
     * the most the scheduler allows */
    o.max_wait_us = 1000000;
    struct pl_asrsvc_sched *sc = NULL;
    ck_assert_int_eq(pl_asrsvc_sched_create(am, &o, &sc), PL_OK);
    struct pl_asr_state *a = NULL, *b = NULL, *ref = NULL;
    ck_assert_int_eq(pl_asr_state_create(am, 256, &a), PL_OK);
    ck_assert_int_eq(pl_asr_state_create(am, 256, &b), PL_OK);
    ck_assert_int_eq(pl_asr_state_create(am, 256, &ref), PL_OK);
    int mo = pl_asr_state_max_out(a);
    float *feats = pl_malloc(sizeof *feats * 80 * (size_t)mels);
    size_t on = (size_t)(mo * V);
    float *oa = pl_malloc(sizeof *oa * on), *ob = pl_malloc(sizeof *ob * on),
          *orf = pl_malloc(sizeof *orf * on);
    for (int i = 0; i < 80 * mels; i++) feats[i] = sinf(0.37f * (float)i);
    /* a lone step, nothing announced: no wait */
    int na = 0, nb = 0, nr = 0;
    int64_t t0 = pl_time_mono_us();
    ck_assert_int_eq(pl_asrsvc_sched_step(sc, a, feats, 40, false, oa, &na, false), PL_OK);
    ck_assert_int_lt(pl_time_mono_us() - t0, 900000);
    struct pl_asrsvc_sched_stats st;
    pl_asrsvc_sched_get_stats(sc, &st);
    ck_assert_int_eq(st.steps, 1);
    /* b announces itself and steps 50 ms later: a's second step waits for it, one batch */
    pl_asrsvc_sched_expect(sc, +1);
    struct sched_arg arg = {sc, b, feats + 40 * mels, ob, 0, PL_OK};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, sched_run, &arg), 0);
    ck_assert_int_eq(pl_asrsvc_sched_step(sc, a, feats + 40 * mels, 40, false, oa, &na, false), PL_OK);
    pthread_join(th, NULL);
    ck_assert_int_eq(arg.status, PL_OK);
    pl_asrsvc_sched_get_stats(sc, &st);
    ck_assert_int_eq(st.steps, 2);
    ck_assert_int_eq(st.stream_steps, 3);
    ck_assert_int_eq(st.max_seen, 2);
    /* b's output equals its own unbatched feeding */
    ck_assert_int_eq(pl_asr_state_feed(ref, feats + 40 * mels, 40, orf, &nr), PL_OK);
    nb = arg.n_out;
    ck_assert_int_eq(nb, nr);
    for (int i = 0; i < nr * V; i++) ck_assert(fabsf(ob[i] - orf[i]) <= 1e-5f);
    /* an announcement taken back without a step: no wait either */
    pl_asrsvc_sched_expect(sc, +1);
    pl_asrsvc_sched_expect(sc, -1);
    t0 = pl_time_mono_us();
    ck_assert_int_eq(pl_asrsvc_sched_step(sc, a, feats, 40, false, oa, &na, false), PL_OK);
    ck_assert_int_lt(pl_time_mono_us() - t0, 900000);
    ck_assert_int_eq(pl_asrsvc_sched_step(sc, a, feats, 9999, false, oa, &na, false),
                     PL_E_INVALID_ARG);
    pl_asrsvc_sched_destroy(sc);
    pl_asr_state_destroy(a);
    pl_asr_state_destroy(b);
    pl_asr_state_destroy(ref);
    pl_free(feats);
    pl_free(oa);
    pl_free(ob);
    pl_free(orf);
}
END_TEST

/* "auto" takes vad+blank for a model whose look-ahead is within the budget and the VAD alone
 * for one beyond it (models/asr-en-quartznet: 770 ms); explicit modes are kept; names parse. */
START_TEST(test_auto_mode) {
    int m = -1;
    ck_assert_int_eq(pl_asrsvc_endpointing_parse("auto", &m), PL_OK);
    ck_assert_int_eq(m, PL_ASRSVC_EP_AUTO);
    ck_assert_int_eq(pl_asrsvc_endpointing_parse("vad+blank", &m), PL_OK);
    ck_assert_int_eq(m, PL_ASRSVC_EP_VAD_BLANK);
    ck_assert_int_eq(pl_asrsvc_endpointing_parse("vad", &m), PL_OK);
    ck_assert_int_eq(m, PL_ASRSVC_EP_VAD);
    ck_assert_int_eq(pl_asrsvc_endpointing_parse("agree", &m), PL_OK);
    ck_assert_int_eq(m, PL_ASRSVC_EP_AGREE);
    ck_assert_int_eq(pl_asrsvc_endpointing_parse("blank", &m), PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_asrsvc_streaming_endpointing(g_ss, NULL), PL_ASRSVC_EP_VAD);
    ck_assert_int_eq(pl_asrsvc_streaming_endpointing(g_ss, "nope"), -1);
    struct pl_asrsvc_streaming_opts so;
    pl_asrsvc_streaming_opts_default(&so);
    ck_assert_int_eq(so.endpointing, PL_ASRSVC_EP_AUTO);
    so.vad_path = "none";
    struct pl_asrsvc_streaming *ss = NULL;
    ck_assert_int_eq(pl_asrsvc_streaming_create(g_svc, &so, &ss), PL_OK);
    int la = pl_asr_model_get_config(am_of(g_svc))->right_context * 10 + 10;
    ck_assert_int_eq(pl_asrsvc_streaming_endpointing(ss, NULL),
                     la <= PL_ASRSVC_AUTO_LOOKAHEAD_MS ? PL_ASRSVC_EP_VAD_BLANK
                                                           : PL_ASRSVC_EP_VAD);
    pl_asrsvc_streaming_destroy(ss);
    so.endpointing = 9;
    ck_assert_int_eq(pl_asrsvc_streaming_create(g_svc, &so, &ss), PL_E_INVALID_ARG);
    /* the shipped model, when it is there: 770 ms of look-ahead -> the VAD alone */
    char qn[1300], dir[300], cmd[3000];
    snprintf(qn, sizeof qn, "%s/models/asr-en-quartznet", getenv("PARLEY_SOURCE_DIR"));
    snprintf(dir, sizeof dir, "%s_q", g_dir);
    char w[1400];
    snprintf(w, sizeof w, "%s/model.safetensors", qn);
    if (access(w, R_OK) != 0) return;
    snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir -p %s && ln -s %s %s/asr-en-quartznet", dir, dir,
             qn, dir);
    ck_assert_int_eq(system(cmd), 0);
    struct pl_asrsvc_opts o;
    pl_asrsvc_opts_default(&o);
    o.model_dir = dir;
    o.lm_path = "none";
    struct pl_asrsvc *svc = NULL;
    ck_assert_msg(pl_asrsvc_create(&o, &svc) == PL_OK, "%s", pl_last_error());
    so.endpointing = PL_ASRSVC_EP_AUTO;
    ck_assert_int_eq(pl_asrsvc_streaming_create(svc, &so, &ss), PL_OK);
    ck_assert_int_eq(pl_asr_model_get_config(am_of(svc))->right_context, 77);
    ck_assert_int_eq(pl_asrsvc_streaming_endpointing(ss, "asr-en-quartznet"), PL_ASRSVC_EP_VAD);
    pl_asrsvc_streaming_destroy(ss);
    so.endpointing = PL_ASRSVC_EP_VAD_BLANK;
    ck_assert_int_eq(pl_asrsvc_streaming_create(svc, &so, &ss), PL_OK);
    ck_assert_int_eq(pl_asrsvc_streaming_endpointing(ss, NULL), PL_ASRSVC_EP_VAD_BLANK);
    pl_asrsvc_streaming_destroy(ss);
    pl_asrsvc_destroy(svc);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* vad+blank, utterances cut at 2 s while the model runs ahead: every chunking gives the same
 * finals at the same places (2, 4, 6 s, the end), so the look-ahead is fed again exactly. */
START_TEST(test_blank_cut_chunks) {
    size_t n = 0;
    uint8_t *wav = pl_test_asrstream_wav(g_clip->samples, g_clip->n_frames, 16000, &n);
    Nvidia__Riva__Asr__RecognitionConfig cfg;
    default_cfg(&cfg);
    struct got ref, g;
    stream(wav, n, 3200, true, &cfg, &ref);
    ck_assert_int_ge(ref.n_final, 3);
    ck_assert(fabsf(ref.final_end[0] - 2.0f) < 1e-3f);
    ck_assert(fabsf(ref.final_end[1] - 4.0f) < 1e-3f);
    const size_t chunks[] = {640, 4801, 32000};
    for (size_t i = 0; i < sizeof chunks / sizeof chunks[0]; i++) {
        stream(wav, n, chunks[i], i == 0, &cfg, &g);
        ck_assert_int_eq(g.n_final, ref.n_final);
        for (int k = 0; k < g.n_final; k++) {
            ck_assert_str_eq(g.finals[k], ref.finals[k]);
            ck_assert(g.final_end[k] == ref.final_end[k]);
            ck_assert_int_eq(g.first_word_ms[k], ref.first_word_ms[k]);
            ck_assert_int_eq(g.last_word_end_ms[k], ref.last_word_end_ms[k]);
            /* the confidence depends on every log-prob row decoded: exactly the same rows */
            ck_assert_msg(g.confidence[k] == ref.confidence[k],
                          "chunk %zu final %d: confidence %g != %g", chunks[i], k,
                          (double)g.confidence[k], (double)ref.confidence[k]);
        }
    }
    pl_free(wav);
}
END_TEST

Suite *pl_asrstream_suite(void) {
    Suite *su = suite_create("asrstream");
    TCase *tc = tcase_create("stream");
    tcase_add_unchecked_fixture(tc, setup_model, teardown_model);
    tcase_add_checked_fixture(tc, setup_vad, teardown);
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_same_as_recognize);
    tcase_add_test(tc, test_chunk_sizes);
    tcase_add_test(tc, test_state_reused);
    tcase_add_test(tc, test_silence);
    tcase_add_test(tc, test_two_utterances);
    tcase_add_test(tc, test_mulaw_8k);
    tcase_add_test(tc, test_protocol_errors);
    tcase_add_test(tc, test_concurrent_batched);
    tcase_add_test(tc, test_random_input);
    tcase_add_test(tc, test_auto_mode);
    tcase_add_test(tc, test_scheduler);
    suite_add_tcase(su, tc);
    TCase *tb = tcase_create("stream_blank");
    tcase_add_unchecked_fixture(tb, setup_model, teardown_model);
    tcase_add_checked_fixture(tb, setup_blank, teardown);
    tcase_set_timeout(tb, 240);
    tcase_add_test(tb, test_same_as_recognize);
    tcase_add_test(tb, test_chunk_sizes);
    tcase_add_test(tb, test_silence);
    tcase_add_test(tb, test_concurrent_batched);
    tcase_add_test(tb, test_random_input);
    suite_add_tcase(su, tb);
    TCase *ta = tcase_create("stream_agree"); /* VAD and blanks must agree on both */
    tcase_add_unchecked_fixture(ta, setup_model, teardown_model);
    tcase_add_checked_fixture(ta, setup_agree, teardown);
    tcase_set_timeout(ta, 240);
    tcase_add_test(ta, test_chunk_sizes);
    tcase_add_test(ta, test_silence);
    suite_add_tcase(su, ta);
    TCase *tcut = tcase_create("stream_blank_cut");
    tcase_add_unchecked_fixture(tcut, setup_model, teardown_model);
    tcase_add_checked_fixture(tcut, setup_blank_cut, teardown);
    tcase_set_timeout(tcut, 240);
    tcase_add_test(tcut, test_blank_cut_chunks);
    suite_add_tcase(su, tcut);
    return su;
}
