/* rpc_table.c - the table of rpc_table.h, written out by hand and checked against protobuf-c's
 * own service descriptors by tests/unit/test_proto.c (every method present, same messages). */
#include "rpc_table.h"

#include <string.h>

#include "parley/dialog/v1/dialog.pb-c.h"
#include "riva/proto/health.pb-c.h"
#include "riva/proto/riva_asr.pb-c.h"
#include "riva/proto/riva_nlp.pb-c.h"
#include "riva/proto/riva_nmt.pb-c.h"
#include "riva/proto/riva_tts.pb-c.h"

#define UNARY false, false
#define SERVER_STREAM false, true
#define BIDI true, true

/* ENTRY(grpc service, method, service, rpc, kind, input, output): the path is spelled from
 * the first two so that it cannot drift from them. */
#define ENTRY(gsvc, meth, svc, rpc, kind, in, out)                                                 \
    { "/" gsvc "/" meth, svc, rpc, kind, &in##__descriptor, &out##__descriptor, gsvc, meth }

#define ASR "nvidia.riva.asr.RivaSpeechRecognition"
#define NLP "nvidia.riva.nlp.RivaLanguageUnderstanding"
#define TTS "nvidia.riva.tts.RivaSpeechSynthesis"
#define NMT "nvidia.riva.nmt.RivaTranslation"
#define DLG "parley.dialog.v1.Dialog"
#define HEALTH "grpc.health.v1.Health"

static const struct pl_rpc_info table[] = {
    /* speech recognition */
    ENTRY(ASR, "Recognize", "asr", "recognize", UNARY, nvidia__riva__asr__recognize_request,
          nvidia__riva__asr__recognize_response),
    ENTRY(ASR, "StreamingRecognize", "asr", "streaming_recognize", BIDI,
          nvidia__riva__asr__streaming_recognize_request,
          nvidia__riva__asr__streaming_recognize_response),
    ENTRY(ASR, "GetRivaSpeechRecognitionConfig", "asr", "get_riva_speech_recognition_config",
          UNARY, nvidia__riva__asr__riva_speech_recognition_config_request,
          nvidia__riva__asr__riva_speech_recognition_config_response),

    /* language understanding (NaturalQuery goes to the QA service) */
    ENTRY(NLP, "ClassifyText", "nlu", "classify_text", UNARY, nvidia__riva__nlp__text_class_request,
          nvidia__riva__nlp__text_class_response),
    ENTRY(NLP, "ClassifyTokens", "nlu", "classify_tokens", UNARY,
          nvidia__riva__nlp__token_class_request, nvidia__riva__nlp__token_class_response),
    ENTRY(NLP, "TransformText", "nlu", "transform_text", UNARY,
          nvidia__riva__nlp__text_transform_request, nvidia__riva__nlp__text_transform_response),
    ENTRY(NLP, "AnalyzeEntities", "nlu", "analyze_entities", UNARY,
          nvidia__riva__nlp__analyze_entities_request, nvidia__riva__nlp__token_class_response),
    ENTRY(NLP, "AnalyzeIntent", "nlu", "analyze_intent", UNARY,
          nvidia__riva__nlp__analyze_intent_request, nvidia__riva__nlp__analyze_intent_response),
    ENTRY(NLP, "PunctuateText", "nlu", "punctuate_text", UNARY,
          nvidia__riva__nlp__text_transform_request, nvidia__riva__nlp__text_transform_response),
    ENTRY(NLP, "NaturalQuery", "qa", "natural_query", UNARY,
          nvidia__riva__nlp__natural_query_request, nvidia__riva__nlp__natural_query_response),
    ENTRY(NLP, "GetRivaNLPConfig", "nlu", "get_riva_nlp_config", UNARY,
          nvidia__riva__nlp__riva_nlpconfig_request, nvidia__riva__nlp__riva_nlpconfig_response),

    /* speech synthesis */
    ENTRY(TTS, "Synthesize", "tts", "synthesize", UNARY, nvidia__riva__tts__synthesize_speech_request,
          nvidia__riva__tts__synthesize_speech_response),
    ENTRY(TTS, "SynthesizeOnline", "tts", "synthesize_online", BIDI,
          nvidia__riva__tts__synthesize_speech_request,
          nvidia__riva__tts__synthesize_speech_response),
    ENTRY(TTS, "GetRivaSynthesisConfig", "tts", "get_riva_synthesis_config", UNARY,
          nvidia__riva__tts__riva_synthesis_config_request,
          nvidia__riva__tts__riva_synthesis_config_response),

    /* translation */
    ENTRY(NMT, "TranslateText", "nmt", "translate_text", UNARY,
          nvidia__riva__nmt__translate_text_request, nvidia__riva__nmt__translate_text_response),
    ENTRY(NMT, "ListSupportedLanguagePairs", "nmt", "list_supported_language_pairs", UNARY,
          nvidia__riva__nmt__available_language_request,
          nvidia__riva__nmt__available_language_response),
    ENTRY(NMT, "StreamingTranslateSpeechToText", "nmt", "streaming_translate_speech_to_text", BIDI,
          nvidia__riva__nmt__streaming_translate_speech_to_text_request,
          nvidia__riva__nmt__streaming_translate_speech_to_text_response),
    ENTRY(NMT, "StreamingTranslateSpeechToSpeech", "nmt", "streaming_translate_speech_to_speech",
          BIDI, nvidia__riva__nmt__streaming_translate_speech_to_speech_request,
          nvidia__riva__nmt__streaming_translate_speech_to_speech_response),

    /* dialog */
    ENTRY(DLG, "Converse", "dialog", "converse", BIDI, parley__dialog__v1__converse_request,
          parley__dialog__v1__converse_response),
    ENTRY(DLG, "CreateSession", "dialog", "create_session", UNARY,
          parley__dialog__v1__create_session_request, parley__dialog__v1__create_session_response),
    ENTRY(DLG, "GetSession", "dialog", "get_session", UNARY, parley__dialog__v1__get_session_request,
          parley__dialog__v1__get_session_response),
    ENTRY(DLG, "EndSession", "dialog", "end_session", UNARY, parley__dialog__v1__end_session_request,
          parley__dialog__v1__end_session_response),
    ENTRY(DLG, "ListContexts", "dialog", "list_contexts", UNARY,
          parley__dialog__v1__list_contexts_request, parley__dialog__v1__list_contexts_response),
    ENTRY(DLG, "CreateContext", "dialog", "create_context", UNARY,
          parley__dialog__v1__create_context_request, parley__dialog__v1__create_context_response),
    ENTRY(DLG, "SwitchContext", "dialog", "switch_context", UNARY,
          parley__dialog__v1__switch_context_request, parley__dialog__v1__switch_context_response),
    ENTRY(DLG, "GetHistory", "dialog", "get_history", UNARY, parley__dialog__v1__get_history_request,
          parley__dialog__v1__get_history_response),
    ENTRY(DLG, "DeleteUser", "dialog", "delete_user", UNARY, parley__dialog__v1__delete_user_request,
          parley__dialog__v1__delete_user_response),

    /* health: answered by the gateway */
    ENTRY(HEALTH, "Check", "health", "check", UNARY, grpc__health__v1__health_check_request,
          grpc__health__v1__health_check_response),
    ENTRY(HEALTH, "Watch", "health", "watch", SERVER_STREAM, grpc__health__v1__health_check_request,
          grpc__health__v1__health_check_response),
};

static const ProtobufCServiceDescriptor *const services[] = {
    &nvidia__riva__asr__riva_speech_recognition__descriptor,
    &nvidia__riva__nlp__riva_language_understanding__descriptor,
    &nvidia__riva__tts__riva_speech_synthesis__descriptor,
    &nvidia__riva__nmt__riva_translation__descriptor,
    &parley__dialog__v1__dialog__descriptor,
    &grpc__health__v1__health__descriptor,
};

size_t pl_rpc_count(void) {
    return sizeof(table) / sizeof(table[0]);
}

const struct pl_rpc_info *pl_rpc_at(size_t i) {
    return i < pl_rpc_count() ? &table[i] : NULL;
}

const struct pl_rpc_info *pl_rpc_find(const char *path, size_t len) {
    if (!path || len == 0) return NULL;
    /* 29 entries: a linear scan that compares lengths first is as fast as anything fancier. */
    for (size_t i = 0; i < pl_rpc_count(); i++) {
        const char *p = table[i].path;
        if (strlen(p) == len && memcmp(p, path, len) == 0) return &table[i];
    }
    return NULL;
}

const struct pl_rpc_info *pl_rpc_find_name(const char *service, const char *rpc) {
    if (!service || !rpc) return NULL;
    for (size_t i = 0; i < pl_rpc_count(); i++) {
        if (strcmp(table[i].service, service) == 0 && strcmp(table[i].rpc, rpc) == 0)
            return &table[i];
    }
    return NULL;
}

size_t pl_rpc_service_count(void) {
    return sizeof(services) / sizeof(services[0]);
}

const ProtobufCServiceDescriptor *pl_rpc_service_at(size_t i) {
    return i < pl_rpc_service_count() ? services[i] : NULL;
}
