/*
 * test_proto_c2py.c - C -> Python direction of the `proto` suite (see test_proto.c): C builds
 * messages through the generated structs, writes their bytes and its flattened view of them;
 * tests/proto/wire_vectors.py parses the bytes with Python protobuf, compares field by field,
 * checks explicit presence (HasField) and re-serializes them to identical bytes.
 */
#include <check.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "parley/dialog/v1/dialog.pb-c.h"
#include "proto_util.h"
#include "riva/proto/health.pb-c.h"
#include "riva/proto/riva_asr.pb-c.h"
#include "riva/proto/riva_nlp.pb-c.h"
#include "riva/proto/riva_tts.pb-c.h"
#include "test_proto.h"

/* A set zero and an unset field differ on the wire: presence is really encoded. */
START_TEST(test_presence_on_the_wire) {
    Nvidia__Riva__Asr__EndpointingConfig e = NVIDIA__RIVA__ASR__ENDPOINTING_CONFIG__INIT;
    ck_assert_uint_eq(protobuf_c_message_get_packed_size(&e.base), 0);
    e._start_history_case = NVIDIA__RIVA__ASR__ENDPOINTING_CONFIG___START_HISTORY_START_HISTORY;
    e.start_history = 0;
    uint8_t buf[16];
    ck_assert_uint_eq(protobuf_c_message_pack(&e.base, buf), 2);
    ck_assert_uint_eq(buf[0], 0x08); /* field 1, varint */
    ck_assert_uint_eq(buf[1], 0x00);
}
END_TEST

/* ------------------------------------------------------------------ C -> Python */

static const char *py_module(const char *package) {
    static const char *const map[][2] = {
        {"nvidia.riva.asr", "riva.proto.riva_asr_pb2"},
        {"nvidia.riva.nlp", "riva.proto.riva_nlp_pb2"},
        {"nvidia.riva.tts", "riva.proto.riva_tts_pb2"},
        {"nvidia.riva.nmt", "riva.proto.riva_nmt_pb2"},
        {"grpc.health.v1", "riva.proto.health_pb2"},
        {"parley.dialog.v1", "parley.dialog.v1.dialog_pb2"},
    };
    for (size_t i = 0; i < PL_ARRAY_LEN(map); i++)
        if (!strcmp(map[i][0], package)) return map[i][1];
    return NULL;
}

/* Write <dir>/<name>.bin and .json for message m; present/absent: NULL-terminated path lists. */
static void emit(const char *dir, const char *name, const ProtobufCMessage *m,
                 const char *const *present, const char *const *absent) {
    char p[PATH_MAX];
    uint8_t *b = NULL;
    size_t n = 0;
    ck_assert_int_eq(pl_proto_pack(m, &b, &n), PL_OK);
    SNPRINTF(p, "%s/%s.bin", dir, name);
    ck_assert_int_eq(pl__proto_write_file(p, b, n), 0);
    pl_free(b);

    const char *mod = py_module(m->descriptor->package_name);
    ck_assert_ptr_nonnull(mod);
    json_t *meta = json_object();
    json_object_set_new(meta, "full_name", json_string(m->descriptor->name));
    json_object_set_new(meta, "module", json_string(mod));
    json_object_set_new(meta, "message", json_string(m->descriptor->short_name));
    json_object_set_new(meta, "fields", pl__proto_flatten(m, NULL));
    json_t *pa = json_array(), *aa = json_array();
    for (; present && *present; present++) json_array_append_new(pa, json_string(*present));
    for (; absent && *absent; absent++) json_array_append_new(aa, json_string(*absent));
    json_object_set_new(meta, "present", pa);
    json_object_set_new(meta, "absent", aa);
    SNPRINTF(p, "%s/%s.json", dir, name);
    ck_assert_int_eq(json_dump_file(meta, p, JSON_SORT_KEYS | JSON_INDENT(1)), 0);
    json_decref(meta);
}

static uint8_t g_audio[1000];

/* Builds the C-side messages on the stack and writes them to dir. */
static void emit_all(const char *dir) {
    for (size_t i = 0; i < sizeof g_audio; i++) g_audio[i] = (uint8_t)(i * 37 + 11);

    /* StreamingRecognizeRequest with explicit zeros in EndpointingConfig */
    Nvidia__Riva__Asr__EndpointingConfig ep = NVIDIA__RIVA__ASR__ENDPOINTING_CONFIG__INIT;
    ep._start_history_case = NVIDIA__RIVA__ASR__ENDPOINTING_CONFIG___START_HISTORY_START_HISTORY;
    ep.start_history = 0;
    ep._stop_threshold_case = NVIDIA__RIVA__ASR__ENDPOINTING_CONFIG___STOP_THRESHOLD_STOP_THRESHOLD;
    ep.stop_threshold = 0.0f;
    ep._stop_history_eou_case = NVIDIA__RIVA__ASR__ENDPOINTING_CONFIG___STOP_HISTORY_EOU_STOP_HISTORY_EOU;
    ep.stop_history_eou = 300;
    char *phrases[] = {"Parley", "gRPC"};
    Nvidia__Riva__Asr__SpeechContext sc = NVIDIA__RIVA__ASR__SPEECH_CONTEXT__INIT;
    sc.n_phrases = 2;
    sc.phrases = phrases;
    sc.boost = 7.5f;
    Nvidia__Riva__Asr__SpeechContext *scs[] = {&sc};
    /* map entries in key order: Python's deterministic serialization sorts them too */
    Nvidia__Riva__Asr__RecognitionConfig__CustomConfigurationEntry ce1 =
        NVIDIA__RIVA__ASR__RECOGNITION_CONFIG__CUSTOM_CONFIGURATION_ENTRY__INIT;
    Nvidia__Riva__Asr__RecognitionConfig__CustomConfigurationEntry ce2 =
        NVIDIA__RIVA__ASR__RECOGNITION_CONFIG__CUSTOM_CONFIGURATION_ENTRY__INIT;
    ce1.key = "apply_vad";
    ce1.value = "true";
    ce2.key = "beam";
    ce2.value = "4";
    Nvidia__Riva__Asr__RecognitionConfig__CustomConfigurationEntry *ces[] = {&ce1, &ce2};
    Nvidia__Riva__Asr__RecognitionConfig rc = NVIDIA__RIVA__ASR__RECOGNITION_CONFIG__INIT;
    rc.encoding = NVIDIA__RIVA__AUDIO_ENCODING__ALAW;
    rc.sample_rate_hertz = 8000;
    rc.language_code = "de-DE";
    rc.max_alternatives = 2;
    rc.enable_word_time_offsets = 1;
    rc.n_speech_contexts = 1;
    rc.speech_contexts = scs;
    rc.n_custom_configuration = 2;
    rc.custom_configuration = ces;
    rc.endpointing_config = &ep;
    Nvidia__Riva__Asr__StreamingRecognitionConfig src = NVIDIA__RIVA__ASR__STREAMING_RECOGNITION_CONFIG__INIT;
    src.config = &rc;
    src.interim_results = 1;
    Nvidia__Riva__RequestId rid = NVIDIA__RIVA__REQUEST_ID__INIT;
    rid.value = "c-req-1";
    Nvidia__Riva__Asr__StreamingRecognizeRequest sr = NVIDIA__RIVA__ASR__STREAMING_RECOGNIZE_REQUEST__INIT;
    sr.streaming_request_case = NVIDIA__RIVA__ASR__STREAMING_RECOGNIZE_REQUEST__STREAMING_REQUEST_STREAMING_CONFIG;
    sr.streaming_config = &src;
    sr.id = &rid;
#define EP "streaming_config.config.endpointing_config."
    const char *present[] = {EP "start_history", EP "stop_threshold", EP "stop_history_eou", "id", NULL};
    const char *absent[] = {EP "start_threshold", EP "stop_history", EP "stop_threshold_eou",
                            "streaming_config.config.diarization_config", NULL};
#undef EP
    emit(dir, "c_asr_streaming_config", &sr.base, present, absent);

    /* StreamingRecognizeResponse: interim + final with words and VAD states */
    Nvidia__Riva__Asr__WordInfo w1 = NVIDIA__RIVA__ASR__WORD_INFO__INIT, w2 = NVIDIA__RIVA__ASR__WORD_INFO__INIT;
    w1.start_time = 0;
    w1.end_time = 320;
    w1.word = "hello";
    w1.confidence = -0.25f;
    w2.start_time = 320;
    w2.end_time = 800;
    w2.word = "wörld";
    w2.speaker_tag = 2;
    Nvidia__Riva__Asr__WordInfo *ws[] = {&w1, &w2};
    char *langs[] = {"en-US"};
    Nvidia__Riva__Asr__SpeechRecognitionAlternative alt = NVIDIA__RIVA__ASR__SPEECH_RECOGNITION_ALTERNATIVE__INIT;
    alt.transcript = "hello wörld";
    alt.confidence = -1.75f;
    alt.n_words = 2;
    alt.words = ws;
    alt.n_language_code = 1;
    alt.language_code = langs;
    Nvidia__Riva__Asr__SpeechRecognitionAlternative *alts[] = {&alt};
    float vad[] = {0.0f, 0.5f, 0.875f};
    Nvidia__Riva__Asr__PipelineStates ps = NVIDIA__RIVA__ASR__PIPELINE_STATES__INIT;
    ps.n_vad_probabilities = 3;
    ps.vad_probabilities = vad;
    Nvidia__Riva__Asr__StreamingRecognitionResult res = NVIDIA__RIVA__ASR__STREAMING_RECOGNITION_RESULT__INIT;
    res.n_alternatives = 1;
    res.alternatives = alts;
    res.is_final = 1;
    res.audio_processed = 0.8f;
    res.pipeline_states = &ps;
    Nvidia__Riva__Asr__StreamingRecognitionResult res0 = NVIDIA__RIVA__ASR__STREAMING_RECOGNITION_RESULT__INIT;
    res0.stability = 0.25f;
    Nvidia__Riva__Asr__StreamingRecognitionResult *rs[] = {&res0, &res};
    Nvidia__Riva__Asr__StreamingRecognizeResponse srr = NVIDIA__RIVA__ASR__STREAMING_RECOGNIZE_RESPONSE__INIT;
    srr.n_results = 2;
    srr.results = rs;
    srr.id = &rid;
    emit(dir, "c_asr_streaming_response", &srr.base, NULL, NULL);

    /* RecognizeResponse with only id = 100 */
    Nvidia__Riva__Asr__RecognizeResponse rr = NVIDIA__RIVA__ASR__RECOGNIZE_RESPONSE__INIT;
    rr.id = &rid;
    emit(dir, "c_asr_recognize_response", &rr.base, (const char *[]){"id", NULL}, NULL);

    /* AnalyzeIntentResponse */
    Nvidia__Riva__Nlp__Classification intent = NVIDIA__RIVA__NLP__CLASSIFICATION__INIT;
    intent.class_name = "weather.temperature";
    intent.score = 0.9375f;
    Nvidia__Riva__Nlp__Classification dom = NVIDIA__RIVA__NLP__CLASSIFICATION__INIT;
    dom.class_name = "weather";
    dom.score = 1.0f;
    Nvidia__Riva__Nlp__Classification lab = NVIDIA__RIVA__NLP__CLASSIFICATION__INIT;
    lab.class_name = "weatherplace";
    lab.score = 0.5f;
    Nvidia__Riva__Nlp__Classification *labs[] = {&lab};
    Nvidia__Riva__Nlp__Span span = NVIDIA__RIVA__NLP__SPAN__INIT;
    span.start = 18;
    span.end = 24;
    Nvidia__Riva__Nlp__Span *spans[] = {&span};
    Nvidia__Riva__Nlp__TokenClassValue slot = NVIDIA__RIVA__NLP__TOKEN_CLASS_VALUE__INIT;
    slot.token = "berlin";
    slot.n_label = 1;
    slot.label = labs;
    slot.n_span = 1;
    slot.span = spans;
    Nvidia__Riva__Nlp__TokenClassValue *slots[] = {&slot};
    Nvidia__Riva__Nlp__AnalyzeIntentResponse air = NVIDIA__RIVA__NLP__ANALYZE_INTENT_RESPONSE__INIT;
    air.intent = &intent;
    air.n_slots = 1;
    air.slots = slots;
    air.domain_str = "weather";
    air.domain = &dom;
    air.id = &rid;
    emit(dir, "c_nlp_analyze_intent_response", &air.base, (const char *[]){"intent", "domain", NULL},
         NULL);

    /* SynthesizeSpeechResponse */
    float durs[] = {2.0f, 0.0f, 5.5f};
    Nvidia__Riva__Tts__SynthesizeSpeechResponseMetadata meta = NVIDIA__RIVA__TTS__SYNTHESIZE_SPEECH_RESPONSE_METADATA__INIT;
    meta.text = "It's 5 °C.";
    meta.processed_text = "it's five degrees celsius.";
    meta.n_predicted_durations = 3;
    meta.predicted_durations = durs;
    Nvidia__Riva__Tts__SynthesizeSpeechResponse ssr = NVIDIA__RIVA__TTS__SYNTHESIZE_SPEECH_RESPONSE__INIT;
    ssr.audio.data = g_audio;
    ssr.audio.len = sizeof g_audio;
    ssr.meta = &meta;
    emit(dir, "c_tts_synthesize_response", &ssr.base, (const char *[]){"meta", NULL},
         (const char *[]){"id", NULL});

    /* HealthCheckResponse NOT_SERVING */
    Grpc__Health__V1__HealthCheckResponse hr = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
    hr.status = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING;
    emit(dir, "c_health_response", &hr.base, NULL, NULL);

    /* ConverseResponse: bot audio, and an event with attributes */
    Parley__Dialog__V1__BotAudio ba = PARLEY__DIALOG__V1__BOT_AUDIO__INIT;
    ba.audio.data = g_audio;
    ba.audio.len = 320;
    ba.encoding = NVIDIA__RIVA__AUDIO_ENCODING__LINEAR_PCM;
    ba.sample_rate_hz = 22050;
    ba.is_last = 1;
    Parley__Dialog__V1__ConverseResponse cr = PARLEY__DIALOG__V1__CONVERSE_RESPONSE__INIT;
    cr.response_case = PARLEY__DIALOG__V1__CONVERSE_RESPONSE__RESPONSE_BOT_AUDIO;
    cr.bot_audio = &ba;
    cr.session_id = "5e55";
    cr.context_id = "c0";
    cr.turn = 2;
    emit(dir, "c_dialog_bot_audio", &cr.base, (const char *[]){"bot_audio", NULL},
         (const char *[]){"nlu", "event", NULL});

    Parley__Dialog__V1__DialogEvent__AttributesEntry at1 = PARLEY__DIALOG__V1__DIALOG_EVENT__ATTRIBUTES_ENTRY__INIT;
    Parley__Dialog__V1__DialogEvent__AttributesEntry at2 = PARLEY__DIALOG__V1__DIALOG_EVENT__ATTRIBUTES_ENTRY__INIT;
    at1.key = "from";
    at1.value = "c0";
    at2.key = "to";
    at2.value = "c1";
    Parley__Dialog__V1__DialogEvent__AttributesEntry *ats[] = {&at1, &at2};
    Parley__Dialog__V1__DialogEvent ev = PARLEY__DIALOG__V1__DIALOG_EVENT__INIT;
    ev.type = PARLEY__DIALOG__V1__EVENT_TYPE__EVENT_CONTEXT_SWITCHED;
    ev.detail = "switched to c1";
    ev.n_attributes = 2;
    ev.attributes = ats;
    Parley__Dialog__V1__ConverseResponse cr2 = PARLEY__DIALOG__V1__CONVERSE_RESPONSE__INIT;
    cr2.response_case = PARLEY__DIALOG__V1__CONVERSE_RESPONSE__RESPONSE_EVENT;
    cr2.event = &ev;
    cr2.session_id = "5e55";
    emit(dir, "c_dialog_event", &cr2.base, (const char *[]){"event", NULL}, NULL);

    /* GetHistoryResponse: oneof payloads of several kinds */
    Parley__Dialog__V1__HistoryEvent h1 = PARLEY__DIALOG__V1__HISTORY_EVENT__INIT;
    h1.seq = 1;
    h1.time_ms = 1790000000123LL;
    h1.context_id = "c0";
    h1.turn = 1;
    h1.payload_case = PARLEY__DIALOG__V1__HISTORY_EVENT__PAYLOAD_USER_TEXT;
    h1.user_text = "what's the weather";
    Parley__Dialog__V1__ActionRecord__ArgumentsEntry arg = PARLEY__DIALOG__V1__ACTION_RECORD__ARGUMENTS_ENTRY__INIT;
    arg.key = "city";
    arg.value = "Berlin";
    Parley__Dialog__V1__ActionRecord__ArgumentsEntry *args[] = {&arg};
    Parley__Dialog__V1__ActionRecord act = PARLEY__DIALOG__V1__ACTION_RECORD__INIT;
    act.name = "weather_lookup";
    act.n_arguments = 1;
    act.arguments = args;
    act.ok = 0;
    act.error = "timeout";
    act.duration_ms = 5000;
    Parley__Dialog__V1__HistoryEvent h2 = PARLEY__DIALOG__V1__HISTORY_EVENT__INIT;
    h2.seq = 2;
    h2.time_ms = 1790000000456LL;
    h2.context_id = "c0";
    h2.turn = 1;
    h2.payload_case = PARLEY__DIALOG__V1__HISTORY_EVENT__PAYLOAD_ACTION;
    h2.action = &act;
    Parley__Dialog__V1__HistoryEvent h3 = PARLEY__DIALOG__V1__HISTORY_EVENT__INIT;
    h3.seq = 3;
    h3.payload_case = PARLEY__DIALOG__V1__HISTORY_EVENT__PAYLOAD_BOT_TEXT;
    Parley__Dialog__V1__BotText bt = PARLEY__DIALOG__V1__BOT_TEXT__INIT;
    h3.bot_text = &bt; /* an empty BotText: presence only */
    Parley__Dialog__V1__HistoryEvent *hs[] = {&h1, &h2, &h3};
    Parley__Dialog__V1__GetHistoryResponse ghr = PARLEY__DIALOG__V1__GET_HISTORY_RESPONSE__INIT;
    ghr.n_events = 3;
    ghr.events = hs;
    ghr.more = 1;
    emit(dir, "c_dialog_history", &ghr.base, NULL, NULL);
}

START_TEST(test_c_to_python) {
    char dir[PATH_MAX];
    ck_assert_int_eq(pl__proto_make_tmpdir(dir, sizeof dir), 0);
    emit_all(dir);
    int st = pl__proto_run_python("check", dir);
    pl__proto_remove_dir(dir);
    ck_assert_msg(st == 0, "wire_vectors.py check: status %d (mismatches on stdout)", st);
}
END_TEST

/* The Python check can fail: a C vector whose stated fields disagree with its bytes. */
START_TEST(test_c_to_python_detects_mismatch) {
    char dir[PATH_MAX], p[PATH_MAX];
    ck_assert_int_eq(pl__proto_make_tmpdir(dir, sizeof dir), 0);
    Grpc__Health__V1__HealthCheckResponse hr = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
    hr.status = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING;
    emit(dir, "c_health_wrong", &hr.base, NULL, NULL);
    /* claim SERVING while the bytes say NOT_SERVING */
    SNPRINTF(p, "%s/c_health_wrong.json", dir);
    json_t *meta = json_load_file(p, 0, NULL);
    ck_assert_ptr_nonnull(meta);
    json_object_set_new(json_object_get(meta, "fields"), "status", json_integer(1));
    ck_assert_int_eq(json_dump_file(meta, p, 0), 0);
    json_decref(meta);
    int st = pl__proto_run_python("check", dir);
    pl__proto_remove_dir(dir);
    ck_assert_int_eq(st, 1);
}
END_TEST

TCase *pl__proto_c2py_tcase(void) {
    TCase *c = tcase_create("c_to_python");
    tcase_set_timeout(c, 60);
    tcase_add_test(c, test_presence_on_the_wire);
    tcase_add_test(c, test_c_to_python);
    tcase_add_test(c, test_c_to_python_detects_mismatch);
    return c;
}
