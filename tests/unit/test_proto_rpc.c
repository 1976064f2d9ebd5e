/*
 * test_proto_rpc.c - the gateway's RPC table against protobuf-c's service descriptors and the
 * streaming kinds of the .proto files (read through Python's descriptors), and malformed
 * input: truncated and garbage bytes must make unpacking fail cleanly.
 * Part of the `proto` suite (test_proto.c).
 */
#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "proto_util.h"
#include "riva/proto/health.pb-c.h"
#include "riva/proto/riva_asr.pb-c.h"
#include "riva/proto/riva_nlp.pb-c.h"
#include "rpc_table.h"
#include "test_proto.h"


/* ------------------------------------------------------------------ RPC table */

/* "GetRivaNLPConfig" -> "get_riva_nlp_config": an underscore before an upper-case letter that
 * follows a lower-case letter or digit, or that starts a word after an acronym. */
static void snake(const char *in, char *out, size_t n) {
    size_t o = 0;
    for (size_t i = 0; in[i] && o + 2 < n; i++) {
        char c = in[i];
        bool up = c >= 'A' && c <= 'Z';
        if (up && i > 0) {
            char p = in[i - 1], nx = in[i + 1];
            bool p_low = (p >= 'a' && p <= 'z') || (p >= '0' && p <= '9');
            bool p_up = p >= 'A' && p <= 'Z';
            bool n_low = nx >= 'a' && nx <= 'z';
            if (p_low || (p_up && n_low)) out[o++] = '_';
        }
        out[o++] = up ? (char)(c - 'A' + 'a') : c;
    }
    out[o] = '\0';
}

/* The internal service each gRPC service maps to (docs/nats-protocol.md). */
static const char *expected_service(const char *grpc_service, const char *method) {
    if (!strcmp(grpc_service, "nvidia.riva.asr.RivaSpeechRecognition")) return "asr";
    if (!strcmp(grpc_service, "nvidia.riva.nlp.RivaLanguageUnderstanding"))
        return strcmp(method, "NaturalQuery") ? "nlu" : "qa";
    if (!strcmp(grpc_service, "nvidia.riva.tts.RivaSpeechSynthesis")) return "tts";
    if (!strcmp(grpc_service, "nvidia.riva.nmt.RivaTranslation")) return "nmt";
    if (!strcmp(grpc_service, "parley.dialog.v1.Dialog")) return "dialog";
    if (!strcmp(grpc_service, "grpc.health.v1.Health")) return "health";
    return NULL;
}

START_TEST(test_snake_case) {
    char b[64];
    snake("GetRivaNLPConfig", b, sizeof b);
    ck_assert_str_eq(b, "get_riva_nlp_config");
    snake("StreamingTranslateSpeechToText", b, sizeof b);
    ck_assert_str_eq(b, "streaming_translate_speech_to_text");
    snake("Check", b, sizeof b);
    ck_assert_str_eq(b, "check");
}
END_TEST

/* Every entry agrees with protobuf-c's own ServiceDescriptor. */
START_TEST(test_table_matches_descriptors) {
    ck_assert_uint_gt(pl_rpc_count(), 0);
    for (size_t i = 0; i < pl_rpc_count(); i++) {
        const struct pl_rpc_info *e = pl_rpc_at(i);
        ck_assert_ptr_nonnull(e);
        char path[256], sn[128];
        SNPRINTF(path, "/%s/%s", e->grpc_service, e->method);
        ck_assert_str_eq(e->path, path);

        const ProtobufCServiceDescriptor *sd = NULL;
        for (size_t k = 0; k < pl_rpc_service_count(); k++)
            if (!strcmp(pl_rpc_service_at(k)->name, e->grpc_service)) sd = pl_rpc_service_at(k);
        ck_assert_msg(sd != NULL, "%s: no protobuf-c service %s", e->path, e->grpc_service);
        const ProtobufCMethodDescriptor *md =
            protobuf_c_service_descriptor_get_method_by_name(sd, e->method);
        ck_assert_msg(md != NULL, "%s: %s has no method %s", e->path, sd->name, e->method);
        ck_assert_msg(md->input == e->input, "%s: input %s, descriptor says %s", e->path,
                      e->input->name, md->input->name);
        ck_assert_msg(md->output == e->output, "%s: output %s, descriptor says %s", e->path,
                      e->output->name, md->output->name);

        snake(e->method, sn, sizeof sn);
        ck_assert_str_eq(e->rpc, sn);
        const char *svc = expected_service(e->grpc_service, e->method);
        ck_assert_ptr_nonnull(svc);
        ck_assert_str_eq(e->service, svc);

        ck_assert_ptr_eq(pl_rpc_find(e->path, strlen(e->path)), e);
        ck_assert_ptr_eq(pl_rpc_find_name(e->service, e->rpc), e);
        for (size_t j = 0; j < i; j++) ck_assert_str_ne(pl_rpc_at(j)->path, e->path);
    }
}
END_TEST

/* Every method of every service is in the table, and nothing else is. */
START_TEST(test_every_method_in_table) {
    size_t total = 0;
    ck_assert_uint_eq(pl_rpc_service_count(), 6);
    for (size_t k = 0; k < pl_rpc_service_count(); k++) {
        const ProtobufCServiceDescriptor *sd = pl_rpc_service_at(k);
        for (unsigned m = 0; m < sd->n_methods; m++) {
            char path[256];
            SNPRINTF(path, "/%s/%s", sd->name, sd->methods[m].name);
            const struct pl_rpc_info *e = pl_rpc_find(path, strlen(path));
            ck_assert_msg(e != NULL, "%s is not in the RPC table", path);
            ck_assert_str_eq(e->method, sd->methods[m].name);
            total++;
        }
    }
    ck_assert_uint_eq(total, pl_rpc_count());
    ck_assert_uint_eq(total, 29);
    ck_assert_ptr_null(pl_rpc_at(pl_rpc_count()));
    ck_assert_ptr_null(pl_rpc_service_at(pl_rpc_service_count()));
}
END_TEST

/* Streaming kinds against the .proto files, read through Python's descriptors. */
START_TEST(test_streaming_kinds_match_protos) {
    char dir[PATH_MAX], file[PATH_MAX + 16], line[512];
    ck_assert_int_eq(pl__proto_make_tmpdir(dir, sizeof dir), 0);
    SNPRINTF(file, "%s/rpcs.txt", dir);
    int st = pl__proto_run_python("rpcs", file);
    FILE *f = st == 0 ? fopen(file, "r") : NULL;
    pl__proto_remove_dir(dir); /* the open file stays readable */
    ck_assert_msg(st == 0, "wire_vectors.py rpcs: status %d", st);
    ck_assert_ptr_nonnull(f);
    size_t n = 0;
    while (fgets(line, sizeof line, f)) {
        char path[400];
        int cs, ss;
        if (sscanf(line, "%399s %d %d", path, &cs, &ss) != 3) continue;
        const struct pl_rpc_info *e = pl_rpc_find(path, strlen(path));
        ck_assert_msg(e != NULL, "%s (from the .proto files) is not in the table", path);
        ck_assert_msg(e->client_streaming == (cs != 0) && e->server_streaming == (ss != 0),
                      "%s: table says %d/%d, .proto says %d/%d", path, e->client_streaming,
                      e->server_streaming, cs, ss);
        n++;
    }
    fclose(f);
    ck_assert_uint_eq(n, pl_rpc_count());
}
END_TEST

/* Messages, field numbers and types, enums and RPCs of our Riva .proto files against the golden
 * transcription of Riva's own (tests/proto/riva_reference.txt); and that check can fail. */
START_TEST(test_protos_match_riva_reference) {
    const char *src = getenv("PARLEY_SOURCE_DIR");
    ck_assert_ptr_nonnull(src);
    char golden[PATH_MAX], dir[PATH_MAX], bad[PATH_MAX + 16], line[512];
    SNPRINTF(golden, "%s/tests/proto/riva_reference.txt", src);
    int st = pl__proto_run_python("reference", golden);
    ck_assert_msg(st == 0, "our .proto files differ from Riva's API (status %d, see stdout)", st);

    ck_assert_int_eq(pl__proto_make_tmpdir(dir, sizeof dir), 0);
    SNPRINTF(bad, "%s/bad.txt", dir);
    FILE *in = fopen(golden, "r"), *out = fopen(bad, "w");
    ck_assert(in && out);
    while (fgets(line, sizeof line, in)) fputs(line, out);
    fputs("field nvidia.riva.asr.SpeechContext 9 bogus string -\n", out);
    fclose(in);
    fclose(out);
    st = pl__proto_run_python("reference", bad);
    pl__proto_remove_dir(dir);
    ck_assert_int_eq(st, 1);
}
END_TEST

START_TEST(test_find_known_paths) {
    const char *p = "/nvidia.riva.asr.RivaSpeechRecognition/StreamingRecognize";
    const struct pl_rpc_info *e = pl_rpc_find(p, strlen(p));
    ck_assert_ptr_nonnull(e);
    ck_assert_str_eq(e->service, "asr");
    ck_assert_str_eq(e->rpc, "streaming_recognize");
    ck_assert(e->client_streaming && e->server_streaming);
    ck_assert_ptr_eq(e->input, &nvidia__riva__asr__streaming_recognize_request__descriptor);

    p = "/nvidia.riva.nlp.RivaLanguageUnderstanding/NaturalQuery";
    e = pl_rpc_find(p, strlen(p));
    ck_assert_ptr_nonnull(e);
    ck_assert_str_eq(e->service, "qa");
    ck_assert(!e->client_streaming && !e->server_streaming);

    p = "/nvidia.riva.nlp.RivaLanguageUnderstanding/AnalyzeEntities";
    e = pl_rpc_find(p, strlen(p));
    ck_assert_ptr_eq(e->output, &nvidia__riva__nlp__token_class_response__descriptor);

    p = "/nvidia.riva.tts.RivaSpeechSynthesis/SynthesizeOnline";
    e = pl_rpc_find(p, strlen(p));
    ck_assert(e && e->client_streaming && e->server_streaming);

    p = "/grpc.health.v1.Health/Watch";
    e = pl_rpc_find(p, strlen(p));
    ck_assert(e && !e->client_streaming && e->server_streaming);
    ck_assert_str_eq(e->service, "health");

    e = pl_rpc_find_name("tts", "get_riva_synthesis_config");
    ck_assert_ptr_nonnull(e);
    ck_assert_str_eq(e->path, "/nvidia.riva.tts.RivaSpeechSynthesis/GetRivaSynthesisConfig");
    e = pl_rpc_find_name("dialog", "converse");
    ck_assert_ptr_nonnull(e);
    ck_assert_str_eq(e->path, "/parley.dialog.v1.Dialog/Converse");
}
END_TEST

START_TEST(test_find_rejects) {
    const char *p = "/grpc.health.v1.Health/Check";
    size_t n = strlen(p);
    ck_assert_ptr_nonnull(pl_rpc_find(p, n));
    ck_assert_ptr_null(pl_rpc_find(p, n - 1)); /* a prefix */
    ck_assert_ptr_null(pl_rpc_find("/grpc.health.v1.Health/CheckX", n + 1));
    ck_assert_ptr_null(pl_rpc_find("/grpc.health.v1.Health/check", n)); /* case matters */
    ck_assert_ptr_null(pl_rpc_find(NULL, 5));
    ck_assert_ptr_null(pl_rpc_find(p, 0));
    ck_assert_ptr_null(pl_rpc_find("", 0));
    ck_assert_ptr_null(pl_rpc_find("/nvidia.riva.asr.RivaSpeechRecognition/Nope", 43));
    /* not NUL-terminated at len: the slice of a longer buffer */
    char buf[64];
    memcpy(buf, p, n);
    memcpy(buf + n, "garbage", 8);
    ck_assert_ptr_eq(pl_rpc_find(buf, n), pl_rpc_find(p, n));
    ck_assert_ptr_null(pl_rpc_find_name("nlu", "natural_query")); /* served by qa */
    ck_assert_ptr_null(pl_rpc_find_name(NULL, "check"));
    ck_assert_ptr_null(pl_rpc_find_name("health", NULL));
}
END_TEST

TCase *pl__proto_rpc_tcase(void) {
    TCase *tc = tcase_create("rpc_table");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_snake_case);
    tcase_add_test(tc, test_table_matches_descriptors);
    tcase_add_test(tc, test_every_method_in_table);
    tcase_add_test(tc, test_streaming_kinds_match_protos);
    tcase_add_test(tc, test_protos_match_riva_reference);
    tcase_add_test(tc, test_find_known_paths);
    tcase_add_test(tc, test_find_rejects);
    return tc;
}

/* ------------------------------------------------------------------ malformed input */

/* A rich StreamingRecognizeRequest built in C, packed into *out (pl_free). */
static size_t build_config_request(uint8_t **out) {
    Nvidia__Riva__Asr__EndpointingConfig ep = NVIDIA__RIVA__ASR__ENDPOINTING_CONFIG__INIT;
    ep._stop_history_case = NVIDIA__RIVA__ASR__ENDPOINTING_CONFIG___STOP_HISTORY_STOP_HISTORY;
    ep.stop_history = 700;
    char *phrases[] = {"alpha", "beta"};
    Nvidia__Riva__Asr__SpeechContext sc = NVIDIA__RIVA__ASR__SPEECH_CONTEXT__INIT;
    sc.n_phrases = 2;
    sc.phrases = phrases;
    sc.boost = 3.0f;
    Nvidia__Riva__Asr__SpeechContext *scs[] = {&sc};
    Nvidia__Riva__Asr__RecognitionConfig rc = NVIDIA__RIVA__ASR__RECOGNITION_CONFIG__INIT;
    rc.encoding = NVIDIA__RIVA__AUDIO_ENCODING__LINEAR_PCM;
    rc.sample_rate_hertz = 16000;
    rc.language_code = "en-US";
    rc.n_speech_contexts = 1;
    rc.speech_contexts = scs;
    rc.endpointing_config = &ep;
    Nvidia__Riva__Asr__StreamingRecognitionConfig src = NVIDIA__RIVA__ASR__STREAMING_RECOGNITION_CONFIG__INIT;
    src.config = &rc;
    src.interim_results = 1;
    Nvidia__Riva__RequestId rid = NVIDIA__RIVA__REQUEST_ID__INIT;
    rid.value = "truncate-me";
    Nvidia__Riva__Asr__StreamingRecognizeRequest sr = NVIDIA__RIVA__ASR__STREAMING_RECOGNIZE_REQUEST__INIT;
    sr.streaming_request_case = NVIDIA__RIVA__ASR__STREAMING_RECOGNIZE_REQUEST__STREAMING_REQUEST_STREAMING_CONFIG;
    sr.streaming_config = &src;
    sr.id = &rid;
    size_t n = 0;
    ck_assert_int_eq(pl_proto_pack(&sr.base, out, &n), PL_OK);
    return n;
}

/* Offsets where a top-level field ends (and 0): the only prefixes that are whole messages. */
static size_t field_ends(const uint8_t *b, size_t n, size_t *ends, size_t max) {
    size_t k = 0, i = 0;
    ends[k++] = 0;
    while (i < n && k < max) {
        uint64_t tag = 0;
        int sh = 0;
        while (b[i] & 0x80) tag |= (uint64_t)(b[i++] & 0x7f) << sh, sh += 7;
        tag |= (uint64_t)b[i++] << sh;
        switch (tag & 7) {
        case 0:
            while (b[i++] & 0x80) {}
            break;
        case 1:
            i += 8;
            break;
        case 5:
            i += 4;
            break;
        case 2: {
            uint64_t len = 0;
            sh = 0;
            while (b[i] & 0x80) len |= (uint64_t)(b[i++] & 0x7f) << sh, sh += 7;
            len |= (uint64_t)b[i++] << sh;
            i += len;
            break;
        }
        default:
            ck_abort_msg("unexpected wire type in our own bytes");
        }
        ends[k++] = i;
    }
    ck_assert_uint_eq(i, n);
    return k;
}

/* Every prefix of a valid message: whole only at top-level field boundaries, else NULL. */
START_TEST(test_truncated_bytes_fail) {
    uint8_t *b = NULL;
    size_t n = build_config_request(&b);
    size_t ends[16];
    size_t ne = field_ends(b, n, ends, 16);
    ck_assert_uint_eq(ne, 3); /* 0, after streaming_config, after id */
    struct pl_alloc_stats a0, a1;
    pl_alloc_stats(&a0);
    size_t failed = 0;
    for (size_t len = 0; len < n; len++) {
        /* a heap copy of exactly len bytes, so ASan sees any read past the end */
        uint8_t *cut = pl_malloc(len ? len : 1);
        memcpy(cut, b, len);
        ProtobufCMessage *m = protobuf_c_message_unpack(
            &nvidia__riva__asr__streaming_recognize_request__descriptor, NULL, len, cut);
        bool boundary = false;
        for (size_t k = 0; k < ne; k++) boundary |= ends[k] == len;
        ck_assert_msg((m != NULL) == boundary, "prefix of %zu/%zu bytes: unpack %s", len, n,
                      m ? "succeeded" : "failed");
        if (m) protobuf_c_message_free_unpacked(m, NULL);
        ProtobufCMessage *pm = NULL;
        pl_status st = pl_proto_unpack(&nvidia__riva__asr__streaming_recognize_request__descriptor,
                                       cut, len, &pm);
        ck_assert_int_eq(st, boundary ? PL_OK : PL_E_INVALID_ARG);
        ck_assert((pm != NULL) == boundary);
        pl_proto_free(pm);
        failed += !boundary;
        pl_free(cut);
    }
    ck_assert_uint_eq(failed, n - 2);
    pl_alloc_stats(&a1);
    ck_assert_int_eq(a1.blocks_in_use, a0.blocks_in_use);
    pl_free(b);
}
END_TEST

struct bad_case {
    const char *what;
    uint8_t bytes[24];
    size_t len;
};

START_TEST(test_garbage_bytes_fail) {
    static const struct bad_case cases[] = {
        {"length past the end", {0x0a, 0x05, 0x01}, 3},
        {"field number 0", {0x00, 0x01}, 2},
        {"wire type 3 (start group)", {0x0b, 0x0c}, 2},
        {"wire type 7", {0x0f, 0x00}, 2},
        {"varint longer than 10 bytes",
         {0x90, 0x03, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, 13},
        {"unterminated varint", {0x90, 0x03, 0xff, 0xff}, 4},
        {"message field sent as varint", {0x08, 0x01}, 2},
        {"4 GiB length", {0x12, 0xff, 0xff, 0xff, 0xff, 0x0f}, 6},
        {"nested length past its parent", {0x0a, 0x02, 0x0a, 0x05}, 4},
        {"fixed32 cut short", {0x25, 0x01, 0x02}, 3},
        {"fixed64 cut short", {0x21, 0x01, 0x02, 0x03}, 4},
        {"tag cut short", {0x80}, 1},
    };
    const ProtobufCMessageDescriptor *d = &nvidia__riva__asr__streaming_recognize_request__descriptor;
    for (size_t i = 0; i < PL_ARRAY_LEN(cases); i++) {
        uint8_t *copy = pl_malloc(cases[i].len);
        memcpy(copy, cases[i].bytes, cases[i].len);
        ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, cases[i].len, copy);
        ck_assert_msg(m == NULL, "%s: unpack succeeded", cases[i].what);
        pl_status st = pl_proto_unpack(d, copy, cases[i].len, &m);
        ck_assert_msg(st == PL_E_INVALID_ARG, "%s: status %s", cases[i].what, pl_status_str(st));
        ck_assert_ptr_null(m);
        ck_assert_ptr_nonnull(strstr(pl_last_error(), "nvidia.riva.asr.StreamingRecognizeRequest"));
        pl_free(copy);
    }
    /* unknown fields are not errors: they are kept (forward compatibility) */
    static const uint8_t unknown[] = {0xc8, 0x3e, 0x07}; /* field 1001 varint 7 */
    ProtobufCMessage *m = NULL;
    ck_assert_int_eq(pl_proto_unpack(d, unknown, sizeof unknown, &m), PL_OK);
    ck_assert_uint_eq(m->n_unknown_fields, 1);
    uint8_t *b = NULL;
    size_t n = 0;
    ck_assert_int_eq(pl_proto_pack(m, &b, &n), PL_OK);
    ck_assert_uint_eq(n, sizeof unknown);
    ck_assert(memcmp(b, unknown, n) == 0);
    pl_free(b);
    pl_proto_free(m);
    /* an empty buffer is an empty message */
    ck_assert_int_eq(pl_proto_unpack(d, NULL, 0, &m), PL_OK);
    ck_assert_int_eq(((Nvidia__Riva__Asr__StreamingRecognizeRequest *)m)->streaming_request_case,
                     NVIDIA__RIVA__ASR__STREAMING_RECOGNIZE_REQUEST__STREAMING_REQUEST__NOT_SET);
    pl_proto_free(m);
    ck_assert_int_eq(pl_proto_unpack(d, NULL, 3, &m), PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_proto_unpack(NULL, unknown, 3, &m), PL_E_INVALID_ARG);
}
END_TEST

/* String fields must be UTF-8 (protobuf-c alone does not check; pl_proto_unpack does). */
START_TEST(test_invalid_utf8_rejected) {
    const ProtobufCMessageDescriptor *hd = &grpc__health__v1__health_check_request__descriptor;
    static const struct {
        const char *what;
        uint8_t s[8];
        size_t n;
        bool ok;
    } cases[] = {
        {"ascii", "asr", 3, true},
        {"2-byte", {0x5a, 0xc3, 0xbc, 0x72}, 4, true},
        {"4-byte emoji", {0xf0, 0x9f, 0x99, 0x82}, 4, true},
        {"U+10FFFF", {0xf4, 0x8f, 0xbf, 0xbf}, 4, true},
        {"lone continuation", {0x80}, 1, false},
        {"bad lead byte", {0xff, 0xfe}, 2, false},
        {"overlong '/'", {0xc0, 0xaf}, 2, false},
        {"overlong 3-byte", {0xe0, 0x80, 0xaf}, 3, false},
        {"surrogate", {0xed, 0xa0, 0x80}, 3, false},
        {"past U+10FFFF", {0xf4, 0x90, 0x80, 0x80}, 4, false},
        {"cut short", {0x61, 0xe2, 0x82}, 3, false},
    };
    for (size_t i = 0; i < PL_ARRAY_LEN(cases); i++) {
        uint8_t b[16] = {0x0a, (uint8_t)cases[i].n};
        memcpy(b + 2, cases[i].s, cases[i].n);
        ProtobufCMessage *m = NULL;
        pl_status st = pl_proto_unpack(hd, b, 2 + cases[i].n, &m);
        ck_assert_msg((st == PL_OK) == cases[i].ok, "%s: %s", cases[i].what, pl_status_str(st));
        if (st == PL_OK) {
            ck_assert(memcmp(((Grpc__Health__V1__HealthCheckRequest *)m)->service, cases[i].s,
                             cases[i].n) == 0);
            pl_proto_free(m);
        } else {
            ck_assert_int_eq(st, PL_E_INVALID_ARG);
            ck_assert_ptr_null(m);
            ck_assert_ptr_nonnull(strstr(pl_last_error(), "grpc.health.v1.HealthCheckRequest.service"));
        }
    }
    /* deep inside: a repeated string of a message in a repeated field of a message in a oneof */
    char *phrases[] = {"fine", "bad \xc3"};
    Nvidia__Riva__Asr__SpeechContext sc = NVIDIA__RIVA__ASR__SPEECH_CONTEXT__INIT;
    sc.n_phrases = 2;
    sc.phrases = phrases;
    Nvidia__Riva__Asr__SpeechContext *scs[] = {&sc};
    Nvidia__Riva__Asr__RecognitionConfig rc = NVIDIA__RIVA__ASR__RECOGNITION_CONFIG__INIT;
    rc.n_speech_contexts = 1;
    rc.speech_contexts = scs;
    Nvidia__Riva__Asr__StreamingRecognitionConfig src = NVIDIA__RIVA__ASR__STREAMING_RECOGNITION_CONFIG__INIT;
    src.config = &rc;
    Nvidia__Riva__Asr__StreamingRecognizeRequest sr = NVIDIA__RIVA__ASR__STREAMING_RECOGNIZE_REQUEST__INIT;
    sr.streaming_request_case = NVIDIA__RIVA__ASR__STREAMING_RECOGNIZE_REQUEST__STREAMING_REQUEST_STREAMING_CONFIG;
    sr.streaming_config = &src;
    uint8_t *b = NULL;
    size_t n = 0;
    ck_assert_int_eq(pl_proto_pack(&sr.base, &b, &n), PL_OK);
    struct pl_alloc_stats a0, a1;
    pl_alloc_stats(&a0);
    ProtobufCMessage *m = NULL;
    ck_assert_int_eq(pl_proto_unpack(sr.base.descriptor, b, n, &m), PL_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(pl_last_error(), "nvidia.riva.asr.SpeechContext.phrases"));
    pl_alloc_stats(&a1);
    ck_assert_int_eq(a1.blocks_in_use, a0.blocks_in_use); /* the rejected message was freed */
    phrases[1] = "fine too";
    pl_free(b);
    ck_assert_int_eq(pl_proto_pack(&sr.base, &b, &n), PL_OK);
    ck_assert_int_eq(pl_proto_unpack(sr.base.descriptor, b, n, &m), PL_OK);
    pl_proto_free(m);
    pl_free(b);
}
END_TEST

/* Random bytes never crash or leak; what does parse re-packs. Seeded, so repeatable. */
START_TEST(test_random_bytes) {
    const ProtobufCMessageDescriptor *ds[] = {
        &nvidia__riva__asr__streaming_recognize_request__descriptor,
        &nvidia__riva__asr__recognize_request__descriptor,
        &nvidia__riva__nlp__analyze_intent_request__descriptor,
        &grpc__health__v1__health_check_request__descriptor,
    };
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    struct pl_alloc_stats a0, a1;
    pl_alloc_stats(&a0);
    size_t ok = 0, bad = 0;
    uint8_t *valid = NULL;
    size_t vlen = build_config_request(&valid);
    for (int it = 0; it < 4000; it++) {
        uint8_t buf[96];
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t len = (size_t)(x % sizeof buf);
        if (it % 2 && len <= vlen) {
            /* mutate a valid message: flip a few bytes */
            memcpy(buf, valid, len);
            for (int f = 0; f < 3 && len; f++) {
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                buf[x % len] ^= (uint8_t)(x >> 32);
            }
        } else {
            for (size_t i = 0; i < len; i++) {
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                buf[i] = (uint8_t)x;
            }
        }
        uint8_t *copy = pl_malloc(len ? len : 1);
        memcpy(copy, buf, len);
        ProtobufCMessage *m = NULL;
        pl_status st = pl_proto_unpack(ds[it % 4], copy, len, &m);
        if (st == PL_OK) {
            uint8_t *b = NULL;
            size_t n = 0;
            ck_assert_int_eq(pl_proto_pack(m, &b, &n), PL_OK);
            pl_free(b);
            pl_proto_free(m);
            ok++;
        } else {
            ck_assert_int_eq(st, PL_E_INVALID_ARG);
            bad++;
        }
        pl_free(copy);
    }
    pl_free(valid);
    ck_assert_uint_gt(ok, 0);
    ck_assert_uint_gt(bad, 0);
    pl_alloc_stats(&a1);
    ck_assert_int_eq(a1.blocks_in_use, a0.blocks_in_use);
}
END_TEST

/* Out of memory while unpacking: PL_E_NOMEM (not INVALID_ARG), nothing leaked. */
START_TEST(test_unpack_out_of_memory) {
    uint8_t *b = NULL;
    size_t n = build_config_request(&b);
    struct pl_alloc_stats a0, a1;
    pl_alloc_stats(&a0);
    int nomem = 0;
    for (int k = 0; k < 64; k++) {
        ProtobufCMessage *m = NULL;
        pl_alloc_fail_after(k);
        pl_status st = pl_proto_unpack(&nvidia__riva__asr__streaming_recognize_request__descriptor,
                                       b, n, &m);
        pl_alloc_fail_after(-1);
        if (st == PL_OK) {
            pl_proto_free(m);
            break;
        }
        ck_assert_msg(st == PL_E_NOMEM, "fail after %d: %s", k, pl_status_str(st));
        ck_assert_ptr_null(m);
        nomem++;
    }
    ck_assert_int_gt(nomem, 3);
    ck_assert_int_lt(nomem, 64);
    pl_alloc_stats(&a1);
    ck_assert_int_eq(a1.blocks_in_use, a0.blocks_in_use);
    pl_free(b);
}
END_TEST

TCase *pl__proto_malformed_tcase(void) {
    TCase *tc = tcase_create("malformed");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_truncated_bytes_fail);
    tcase_add_test(tc, test_garbage_bytes_fail);
    tcase_add_test(tc, test_invalid_utf8_rejected);
    tcase_add_test(tc, test_random_bytes);
    tcase_add_test(tc, test_unpack_out_of_memory);
    return tc;
}
