/* test_asrsvc.c - parley-asr without NATS: segmentation of long audio at pauses, audio input
 * (every encoding, resampling, channels, errors), and the rpcs through pl_worker_call on a
 * tiny random-weight model written by tests/reference/asr_model_ref.py (PL_PYTHON).
 * With PL_ASRSVC_DEVICE set (the gpu test gpu_asrsvc_device: "cuda") only the device case
 * runs: Recognize with the acoustic model on that device against the CPU. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "asr_service.h"
#include "audio.h"
#include "nrpc_worker.h"
#include "proto_util.h"
#include "riva/proto/riva_asr.pb-c.h"
#include "status.h"
#include "test_engine_util.h"
#include "util.h"

/* Tone bursts of `on` seconds separated by `off` seconds of low noise, at 16 kHz. */
static float *bursts(int n_bursts, double on, double off, size_t *n) {
    size_t per_on = (size_t)(on * 16000), per_off = (size_t)(off * 16000);
    *n = (size_t)n_bursts * (per_on + per_off) + per_off;
    float *x = pl_calloc(*n, sizeof *x);
    ck_assert_ptr_nonnull(x);
    uint32_t seed = 12345;
    size_t i = 0;
    for (int b = 0; b <= n_bursts; b++) {
        for (size_t k = 0; k < per_off; k++, i++) {
            seed = seed * 1664525u + 1013904223u;
            x[i] = 1e-4f * ((float)(seed >> 8) / (float)(1u << 24) - 0.5f);
        }
        if (b == n_bursts) break;
        for (size_t k = 0; k < per_on; k++, i++)
            x[i] = 0.3f * sinf(2.0f * 3.14159265f * 440.0f * (float)k / 16000.0f);
    }
    return x;
}

START_TEST(test_segment_pauses) {
    struct pl_asrsvc_seg_opts o;
    pl_asrsvc_seg_opts_default(&o);
    size_t n;
    float *x = bursts(3, 1.5, 1.0, &n);
    struct pl_asrsvc_segment *s = NULL;
    int ns = 0;
    ck_assert_int_eq(pl_asrsvc_segment(x, n, &o, &s, &ns), PL_OK);
    ck_assert_int_eq(ns, 3);
    for (int i = 0; i < ns; i++) {
        /* burst i spans [1.0 + 2.5 i, 2.5 + 2.5 i] s; each segment holds it whole */
        double a = s[i].start / 16000.0, b = s[i].end / 16000.0;
        ck_assert_msg(a <= 1.0 + 2.5 * i && b >= 2.5 + 2.5 * i, "segment %d: %.2f..%.2f", i, a, b);
        ck_assert(i == 0 || s[i].start >= s[i - 1].end);
    }
    pl_free(s);
    /* pauses shorter than pause_s do not split */
    o.pause_s = 1.5;
    ck_assert_int_eq(pl_asrsvc_segment(x, n, &o, &s, &ns), PL_OK);
    ck_assert_int_eq(ns, 1);
    pl_free(s);
    pl_free(x);
}
END_TEST

START_TEST(test_segment_silence_and_long) {
    struct pl_asrsvc_seg_opts o;
    pl_asrsvc_seg_opts_default(&o);
    struct pl_asrsvc_segment *s = NULL;
    int ns = 7;
    float *z = pl_calloc(32000, sizeof *z);
    ck_assert_int_eq(pl_asrsvc_segment(z, 32000, &o, &s, &ns), PL_OK);
    ck_assert_int_eq(ns, 0); /* silence: nothing */
    ck_assert_ptr_null(s);
    ck_assert_int_eq(pl_asrsvc_segment(NULL, 0, &o, &s, &ns), PL_OK);
    ck_assert_int_eq(ns, 0);
    pl_free(z);
    /* 50 s without a pause, max 20 s: cut into pieces of at most 20 s covering all of it */
    size_t n;
    float *x = bursts(1, 50.0, 0.2, &n);
    ck_assert_int_eq(pl_asrsvc_segment(x, n, &o, &s, &ns), PL_OK);
    ck_assert_int_ge(ns, 3);
    size_t covered = 0;
    for (int i = 0; i < ns; i++) {
        ck_assert_msg(s[i].end - s[i].start <= (size_t)(20.0 * 16000) + 160, "segment %d too long", i);
        covered += s[i].end - s[i].start;
    }
    ck_assert(covered >= (size_t)(49.0 * 16000));
    pl_free(s);
    o.max_s = 0.5;
    ck_assert_int_eq(pl_asrsvc_segment(x, n, &o, &s, &ns), PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_asrsvc_segment(NULL, 10, &o, &s, &ns), PL_E_INVALID_ARG);
    pl_free(x);
}
END_TEST

/* One second of a 440 Hz tone at rate r, channels c, as s16le. */
static int16_t *tone_s16(int r, int c, size_t *n_bytes) {
    int16_t *p = pl_malloc(sizeof *p * (size_t)r * (size_t)c);
    ck_assert_ptr_nonnull(p);
    for (int i = 0; i < r; i++)
        for (int k = 0; k < c; k++)
            p[i * c + k] = (int16_t)(8000 * sin(2 * M_PI * 440 * i / r) * (k == 1 ? 0.5 : 1.0));
    *n_bytes = sizeof *p * (size_t)r * (size_t)c;
    return p;
}

START_TEST(test_input_decode) {
    struct pl_asrsvc_input in;
    size_t nb;
    int16_t *pcm = tone_s16(8000, 1, &nb);
    ck_assert_int_eq(pl_asrsvc_input_decode(pcm, nb, PL_AUDIO_ENC_LINEAR_PCM, 8000, 1, false, 16000, 60, &in), PL_OK);
    ck_assert_int_eq(in.n_ch, 1);
    ck_assert_int_eq(in.in_rate, 8000);
    ck_assert(in.n >= 15999 && in.n <= 16001); /* resampled to 16 kHz */
    pl_asrsvc_input_deinit(&in);
    pl_free(pcm);
    /* stereo 44.1 kHz: downmixed, or kept apart */
    pcm = tone_s16(44100, 2, &nb);
    ck_assert_int_eq(pl_asrsvc_input_decode(pcm, nb, PL_AUDIO_ENC_LINEAR_PCM, 44100, 2, false, 16000, 60, &in), PL_OK);
    ck_assert_int_eq(in.n_ch, 1);
    ck_assert_int_eq(in.in_channels, 2);
    pl_asrsvc_input_deinit(&in);
    ck_assert_int_eq(pl_asrsvc_input_decode(pcm, nb, PL_AUDIO_ENC_LINEAR_PCM, 44100, 2, true, 16000, 60, &in), PL_OK);
    ck_assert_int_eq(in.n_ch, 2);
    double e0 = 0, e1 = 0;
    for (size_t i = 0; i < in.n; i++) {
        e0 += in.ch[0][i] * in.ch[0][i];
        e1 += in.ch[1][i] * in.ch[1][i];
    }
    ck_assert_msg(fabs(e1 / e0 - 0.25) < 0.01, "channel 2 has half the amplitude: %g", e1 / e0);
    pl_asrsvc_input_deinit(&in);
    /* the same samples in a WAV file, encoding unset */
    struct pl_audio *a = NULL;
    ck_assert_int_eq(pl_audio_decode_raw(pcm, nb, PL_AUDIO_ENC_LINEAR_PCM, 44100, 2, &a), PL_OK);
    uint8_t *wav = NULL;
    size_t wn = 0;
    ck_assert_int_eq(pl_audio_encode(a, PL_AUDIO_FMT_WAV, &wav, &wn), PL_OK);
    ck_assert_int_eq(pl_asrsvc_input_decode(wav, wn, 0, 0, 0, true, 16000, 60, &in), PL_OK);
    ck_assert_int_eq(in.n_ch, 2);
    ck_assert_int_eq(in.in_rate, 44100);
    pl_asrsvc_input_deinit(&in);
    /* too long */
    ck_assert_int_eq(pl_asrsvc_input_decode(wav, wn, 0, 0, 0, false, 16000, 0.5, &in), PL_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(pl_last_error(), "longer"));
    /* errors name the problem */
    ck_assert_int_eq(pl_asrsvc_input_decode(wav, 0, 0, 0, 0, false, 16000, 60, &in), PL_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(pl_last_error(), "empty"));
    ck_assert_int_eq(pl_asrsvc_input_decode(wav, 30, 0, 0, 0, false, 16000, 60, &in), PL_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(pl_last_error(), "header"));
    ck_assert_int_eq(pl_asrsvc_input_decode(pcm, nb, 0, 0, 0, false, 16000, 60, &in), PL_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(pl_last_error(), "encoding is unset"));
    ck_assert_int_eq(pl_asrsvc_input_decode(pcm, nb, PL_AUDIO_ENC_MULAW, 0, 0, false, 16000, 60, &in), PL_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(pl_last_error(), "sample_rate_hertz"));
    ck_assert_int_eq(pl_asrsvc_input_decode(pcm, nb, 9, 16000, 1, false, 16000, 60, &in), PL_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(pl_last_error(), "encoding 9"));
    ck_assert_int_eq(pl_asrsvc_input_decode(pcm, 3, PL_AUDIO_ENC_LINEAR_PCM, 16000, 1, false, 16000, 60, &in), PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_asrsvc_input_decode(pcm, nb, PL_AUDIO_ENC_LINEAR_PCM, 16000, 9, false, 16000, 60, &in), PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_asrsvc_input_decode(pcm, nb, PL_AUDIO_ENC_OGGOPUS, 16000, 1, false, 16000, 60, &in), PL_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(pl_last_error(), "Ogg"));
    /* mu-law */
    uint8_t mu[8000];
    for (int i = 0; i < 8000; i++) mu[i] = (uint8_t)(i * 7);
    ck_assert_int_eq(pl_asrsvc_input_decode(mu, sizeof mu, PL_AUDIO_ENC_MULAW, 8000, 1, false, 16000, 60, &in), PL_OK);
    ck_assert(in.n >= 15999 && in.n <= 16001);
    pl_asrsvc_input_deinit(&in);
    pl_audio_destroy(a);
    pl_free(wav);
    pl_free(pcm);
}
END_TEST

/* A service over a tiny random-weight model written by the reference script. */
static struct pl_asrsvc *make_service(const char *tag) {
    const char *py = getenv("PL_PYTHON"), *src = getenv("PARLEY_SOURCE_DIR");
    ck_assert_msg(py && src && strlen(py) < 512 && strlen(src) < 1024,
                  "PL_PYTHON and PARLEY_SOURCE_DIR must be set (ctest sets them)");
    char dir[256], cmd[4096];
    snprintf(dir, sizeof dir, "/tmp/pl_test_asrsvc_%d_%s", (int)getpid(), tag);
    snprintf(cmd, sizeof cmd,
             "rm -rf %s && mkdir -p %s && %s %s/tests/reference/asr_model_ref.py %s/tiny --config tiny "
             "--cases 1 > /dev/null && mkdir -p %s/not-a-model",
             dir, dir, py, src, dir, dir);
    ck_assert_msg(system(cmd) == 0, "%s failed", cmd);
    struct pl_asrsvc_opts o;
    pl_asrsvc_opts_default(&o);
    o.model_dir = dir;
    char lm[1024];
    snprintf(lm, sizeof lm, "%s/models/asr-lm/lm.arpa.gz", src);
    o.lm_path = access(lm, R_OK) == 0 ? lm : "none";
    struct pl_asrsvc *s = NULL;
    ck_assert_int_eq(pl_asrsvc_create(&o, &s), PL_OK);
    ck_assert_int_eq(pl_asrsvc_n_models(s), 1);
    ck_assert_str_eq(pl_asrsvc_model_name(s, 0), "tiny");
    return s;
}

static void drop_service(struct pl_asrsvc *s, const char *tag) {
    pl_asrsvc_destroy(s);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf /tmp/pl_test_asrsvc_%d_%s", (int)getpid(), tag);
    ck_assert_int_eq(system(cmd), 0);
}

/* One rpc through the runtime's dispatch (a worker that is never started: no NATS). */
static pl_status asr_call(struct pl_asrsvc *s, const char *rpc, const uint8_t *req, size_t n,
                          int64_t deadline_us, struct pl_worker_out *out) {
    struct pl_worker_opts o = PL_WORKER_OPTS_INIT;
    o.service = "asr";
    struct pl_worker *w = NULL;
    ck_assert_int_eq(pl_worker_create(&o, &w), PL_OK);
    ck_assert_int_eq(pl_asrsvc_register(s, w), PL_OK);
    pl_status st = pl_worker_call(w, rpc, deadline_us, req, n, out);
    pl_worker_destroy(w);
    return st;
}

static pl_status recognize(struct pl_asrsvc *s, Nvidia__Riva__Asr__RecognitionConfig *cfg,
                           const void *audio, size_t n, int64_t deadline,
                           Nvidia__Riva__Asr__RecognizeResponse **resp) {
    Nvidia__Riva__Asr__RecognizeRequest rq = NVIDIA__RIVA__ASR__RECOGNIZE_REQUEST__INIT;
    rq.config = cfg;
    rq.audio.data = (uint8_t *)audio;
    rq.audio.len = n;
    uint8_t *buf = NULL;
    size_t len = 0;
    ck_assert_int_eq(pl_proto_pack(&rq.base, &buf, &len), PL_OK);
    struct pl_worker_out out = {0};
    pl_status st = asr_call(s, "recognize", buf, len, deadline, &out);
    pl_free(buf);
    *resp = NULL;
    if (st == PL_OK) {
        ProtobufCMessage *m = NULL;
        ck_assert_int_eq(pl_proto_unpack(&nvidia__riva__asr__recognize_response__descriptor, out.data,
                                         out.len, &m), PL_OK);
        *resp = (void *)m;
    }
    pl_free(out.data);
    return st;
}

START_TEST(test_service_rpcs) {
    struct pl_asrsvc *s = make_service("rpcs");
    size_t n;
    float *x = bursts(2, 1.0, 1.0, &n);
    int16_t *pcm = pl_malloc(sizeof *pcm * n);
    pl_audio_float_to_s16(x, n, pcm);
    Nvidia__Riva__Asr__RecognitionConfig cfg = NVIDIA__RIVA__ASR__RECOGNITION_CONFIG__INIT;
    cfg.encoding = NVIDIA__RIVA__AUDIO_ENCODING__LINEAR_PCM;
    cfg.sample_rate_hertz = 16000;
    cfg.enable_word_time_offsets = 1;
    cfg.max_alternatives = 2;
    Nvidia__Riva__Asr__RecognizeResponse *r = NULL;
    ck_assert_int_eq(recognize(s, &cfg, pcm, n * 2, 0, &r), PL_OK);
    /* two bursts -> two segments; results only for segments with a non-empty transcript */
    ck_assert_int_le(r->n_results, 2);
    for (size_t i = 0; i < r->n_results; i++) {
        ck_assert_int_eq(r->results[i]->channel_tag, 1);
        ck_assert(r->results[i]->audio_processed > 0 && r->results[i]->audio_processed <= n / 16000.0 + 0.01);
        ck_assert_int_ge(r->results[i]->n_alternatives, 1);
        ck_assert_int_le(r->results[i]->n_alternatives, 2);
        for (size_t w = 0; w < r->results[i]->alternatives[0]->n_words; w++) {
            Nvidia__Riva__Asr__WordInfo *wi = r->results[i]->alternatives[0]->words[w];
            ck_assert(wi->start_time <= wi->end_time && wi->end_time <= (int)(n / 16) + 50);
        }
    }
    pl_proto_free(&r->base);
    /* greedy, punctuation asked with no NATS: still answers */
    Nvidia__Riva__Asr__RecognitionConfig__CustomConfigurationEntry e =
        NVIDIA__RIVA__ASR__RECOGNITION_CONFIG__CUSTOM_CONFIGURATION_ENTRY__INIT, *ep = &e;
    e.key = "decoder";
    e.value = "greedy";
    cfg.custom_configuration = &ep;
    cfg.n_custom_configuration = 1;
    cfg.enable_automatic_punctuation = 1;
    cfg.max_alternatives = 1;
    ck_assert_int_eq(recognize(s, &cfg, pcm, n * 2, 0, &r), PL_OK);
    pl_proto_free(&r->base);
    e.value = "viterbi";
    ck_assert_int_eq(recognize(s, &cfg, pcm, n * 2, 0, &r), PL_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(pl_last_error(), "viterbi"));
    /* lm_oov_logp: a number in -100..0 */
    e.key = "lm_oov_logp";
    e.value = "-20";
    ck_assert_int_eq(recognize(s, &cfg, pcm, n * 2, 0, &r), PL_OK);
    pl_proto_free(&r->base);
    e.value = "3";
    ck_assert_int_eq(recognize(s, &cfg, pcm, n * 2, 0, &r), PL_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(pl_last_error(), "lm_oov_logp"));
    /* lm_unk_penalty: a number in -100..0 */
    e.key = "lm_unk_penalty";
    e.value = "-30";
    ck_assert_int_eq(recognize(s, &cfg, pcm, n * 2, 0, &r), PL_OK);
    pl_proto_free(&r->base);
    e.value = "-101";
    ck_assert_int_eq(recognize(s, &cfg, pcm, n * 2, 0, &r), PL_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(pl_last_error(), "lm_unk_penalty"));
    cfg.n_custom_configuration = 0;
    /* a deadline already passed */
    ck_assert_int_eq(recognize(s, &cfg, pcm, n * 2, pl_time_mono_us() - 1000, &r), PL_E_TIMEOUT);
    /* request errors */
    cfg.language_code = "fr-FR";
    ck_assert_int_eq(recognize(s, &cfg, pcm, n * 2, 0, &r), PL_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(pl_last_error(), "fr-FR"));
    cfg.language_code = "en-US";
    cfg.model = "other";
    ck_assert_int_eq(recognize(s, &cfg, pcm, n * 2, 0, &r), PL_E_NOT_FOUND);
    cfg.model = "tiny";
    cfg.max_alternatives = -1;
    ck_assert_int_eq(recognize(s, &cfg, pcm, n * 2, 0, &r), PL_E_INVALID_ARG);
    cfg.max_alternatives = 1;
    ck_assert_int_eq(recognize(s, &cfg, pcm, 0, 0, &r), PL_E_INVALID_ARG);
    struct pl_worker_out out = {0};
    static const uint8_t junk[] = {0x0a, 0xff, 0xff, 0xff};
    ck_assert_int_eq(asr_call(s, "recognize", junk, sizeof junk, 0, &out), PL_E_INVALID_ARG);
    ck_assert_int_eq(asr_call(s, "streaming_recognize", junk, 0, 0, &out), PL_E_UNSUPPORTED);
    /* GetRivaSpeechRecognitionConfig */
    ck_assert_int_eq(asr_call(s, "get_riva_speech_recognition_config", NULL, 0, 0, &out), PL_OK);
    ProtobufCMessage *m = NULL;
    ck_assert_int_eq(pl_proto_unpack(&nvidia__riva__asr__riva_speech_recognition_config_response__descriptor,
                                     out.data, out.len, &m), PL_OK);
    Nvidia__Riva__Asr__RivaSpeechRecognitionConfigResponse *cr = (void *)m;
    ck_assert_int_eq(cr->n_model_config, 2); /* offline and online entries */
    int seen = 0;
    for (size_t c = 0; c < 2; c++) {
        ck_assert_str_eq(cr->model_config[c]->model_name, "tiny");
        for (size_t i = 0; i < cr->model_config[c]->n_parameters; i++) {
            const char *k = cr->model_config[c]->parameters[i]->key;
            const char *v = cr->model_config[c]->parameters[i]->value;
            if (!strcmp(k, "type")) seen += !strcmp(v, c == 0 ? "offline" : "online");
            if (!strcmp(k, "language_code")) seen += !strcmp(v, "en-US");
        }
    }
    ck_assert_int_eq(seen, 4);
    pl_proto_free(m);
    pl_free(out.data);
    Nvidia__Riva__Asr__RivaSpeechRecognitionConfigRequest cq =
        NVIDIA__RIVA__ASR__RIVA_SPEECH_RECOGNITION_CONFIG_REQUEST__INIT;
    cq.model_name = "zzz";
    uint8_t *buf = NULL;
    size_t len = 0;
    ck_assert_int_eq(pl_proto_pack(&cq.base, &buf, &len), PL_OK);
    out.data = NULL;
    ck_assert_int_eq(asr_call(s, "get_riva_speech_recognition_config", buf, len, 0, &out), PL_E_NOT_FOUND);
    pl_free(buf);
    pl_free(pcm);
    pl_free(x);
    drop_service(s, "rpcs");
}
END_TEST

START_TEST(test_service_no_models) {
    struct pl_asrsvc_opts o;
    pl_asrsvc_opts_default(&o);
    o.model_dir = "/nonexistent-parley-models";
    o.lm_path = "none";
    struct pl_asrsvc *s = NULL;
    ck_assert_int_eq(pl_asrsvc_create(&o, &s), PL_OK);
    ck_assert_int_eq(pl_asrsvc_n_models(s), 0);
    Nvidia__Riva__Asr__RecognitionConfig cfg = NVIDIA__RIVA__ASR__RECOGNITION_CONFIG__INIT;
    Nvidia__Riva__Asr__RecognizeResponse *r = NULL;
    ck_assert_int_eq(recognize(s, &cfg, "RIFF", 4, 0, &r), PL_E_UNAVAILABLE);
    pl_asrsvc_destroy(s);
    /* an explicit LM path that does not load is an error */
    o.lm_path = "/nonexistent.arpa";
    ck_assert_int_ne(pl_asrsvc_create(&o, &s), PL_OK);
    ck_assert_ptr_null(s);
}
END_TEST

/* A service over the shipped model (a link in a temporary repository) on `device`. */
static struct pl_asrsvc *shipped_service(const char *device, const char *dir) {
    const char *src = getenv("PARLEY_SOURCE_DIR");
    ck_assert_ptr_nonnull(src);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "mkdir -p %s && ln -sfn %s/models/asr-en-quartznet %s/asr-en-quartznet",
             dir, src, dir);
    ck_assert_int_eq(system(cmd), 0);
    struct pl_asrsvc_opts o;
    pl_asrsvc_opts_default(&o);
    o.model_dir = dir;
    o.lm_path = "none";
    o.device = device;
    struct pl_asrsvc *s = NULL;
    ck_assert_int_eq(pl_asrsvc_create(&o, &s), PL_OK);
    ck_assert_msg(pl_asrsvc_n_models(s) == 1, "the model did not load on %s", device);
    return s;
}

/* Recognize on real speech (an LJ Speech sentence) with the acoustic model on the device and
 * on the CPU: the same transcripts, confidences within 1e-3 (the device's GEMMs sum in another
 * order; the log-probs differ by ~1e-5, see test_asrcuda). */
START_TEST(test_service_device) {
    const char *device = getenv("PL_ASRSVC_DEVICE"), *data = getenv("PARLEY_DATA_DIR");
    char path[1024], dir[2][128];
    snprintf(path, sizeof path, "%s/speech/ljspeech-subset/wavs/LJ001-0001.flac",
             data && *data ? data : "/work/shared/data");
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    uint8_t *audio = pl_malloc(1 << 22);
    size_t n = fread(audio, 1, 1 << 22, f);
    fclose(f);
    ck_assert(n > 1000 && n < (1 << 22));
    Nvidia__Riva__Asr__RecognizeResponse *r[2] = {NULL, NULL};
    for (int k = 0; k < 2; k++) {
        snprintf(dir[k], sizeof dir[k], "/tmp/pl_test_asrsvc_%d_dev%d", (int)getpid(), k);
        struct pl_asrsvc *s = shipped_service(k ? device : "cpu", dir[k]);
        Nvidia__Riva__Asr__RecognitionConfig cfg = NVIDIA__RIVA__ASR__RECOGNITION_CONFIG__INIT;
        ck_assert_msg(recognize(s, &cfg, audio, n, 0, &r[k]) == PL_OK, "%s: %s",
                      k ? device : "cpu", pl_last_error());
        pl_asrsvc_destroy(s);
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir[k]);
        ck_assert_int_eq(system(cmd), 0);
    }
    ck_assert_int_eq(r[1]->n_results, r[0]->n_results);
    ck_assert_int_ge(r[0]->n_results, 1);
    for (size_t i = 0; i < r[0]->n_results; i++) {
        const Nvidia__Riva__Asr__SpeechRecognitionAlternative *a = r[0]->results[i]->alternatives[0],
                                                                *b = r[1]->results[i]->alternatives[0];
        fprintf(stderr, "result %zu: cpu \"%s\" (%.4f), %s \"%s\" (%.4f)\n", i, a->transcript,
                (double)a->confidence, device, b->transcript, (double)b->confidence);
        ck_assert_str_eq(b->transcript, a->transcript);
        ck_assert(fabsf(b->confidence - a->confidence) <= 1e-3f);
    }
    pl_proto_free(&r[0]->base);
    pl_proto_free(&r[1]->base);
    pl_free(audio);
}
END_TEST

Suite *pl_asrsvc_suite(void) {
    Suite *s = suite_create("asrsvc");
    const char *device = getenv("PL_ASRSVC_DEVICE");
    if (device && *device) {
        if (!pl_test_have_backend(device)) {
            printf("skipped: no CUDA device\n");
            fflush(stdout);
            return s;
        }
        TCase *td = tcase_create("device");
        tcase_set_timeout(td, 240);
        tcase_add_test(td, test_service_device);
        suite_add_tcase(s, td);
        return s;
    }
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_segment_pauses);
    tcase_add_test(tc, test_segment_silence_and_long);
    tcase_add_test(tc, test_input_decode);
    tcase_add_test(tc, test_service_rpcs);
    tcase_add_test(tc, test_service_no_models);
    suite_add_tcase(s, tc);
    return s;
}
