/*
 * libparley-client without a server: option checks, the gRPC -> pl_status mapping, a call to
 * a port nobody listens on (UNAVAILABLE with gRPC status 14), the WAV writer, and the stream
 * helpers' argument checks.
 */
#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "parley/client.h"

/* A loopback port that was free a moment ago (bound, then closed). */
static int dead_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static struct pl_client *open_dead(char *target, size_t n) {
    snprintf(target, n, "127.0.0.1:%d", dead_port());
    struct pl_client_opts o = {.target = target, .timeout_ms = 3000};
    struct pl_client *c = NULL;
    ck_assert_int_eq(pl_client_open(&o, &c), PL_OK);
    return c;
}

START_TEST(test_open_checks) {
    struct pl_client *c = (void *)1;
    ck_assert_int_eq(pl_client_open(NULL, &c), PL_E_INVALID_ARG);
    ck_assert_ptr_null(c);
    ck_assert_int_eq(pl_client_last_grpc_status(), -1);
    struct pl_client_opts o = {.api_key = "has a space"};
    ck_assert_int_eq(pl_client_open(&o, &c), PL_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(pl_last_error(), "api_key"));
    struct pl_client_opts t = {.tls_ca_file = "/nonexistent/ca.pem"};
    ck_assert_int_eq(pl_client_open(&t, &c), PL_E_IO);
    ck_assert_ptr_nonnull(strstr(pl_last_error(), "/nonexistent/ca.pem"));
    ck_assert_ptr_null(c);
    struct pl_client_opts neg = {.timeout_ms = -1};
    ck_assert_int_eq(pl_client_open(&neg, &c), PL_E_INVALID_ARG);
    pl_client_close(NULL);
}
END_TEST

START_TEST(test_status_mapping) {
    ck_assert_int_eq(pl_client_status_of_grpc(0), PL_OK);
    ck_assert_int_eq(pl_client_status_of_grpc(3), PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_client_status_of_grpc(4), PL_E_TIMEOUT);
    ck_assert_int_eq(pl_client_status_of_grpc(5), PL_E_NOT_FOUND);
    ck_assert_int_eq(pl_client_status_of_grpc(8), PL_E_EXHAUSTED);
    ck_assert_int_eq(pl_client_status_of_grpc(12), PL_E_UNSUPPORTED);
    ck_assert_int_eq(pl_client_status_of_grpc(14), PL_E_UNAVAILABLE);
    ck_assert_int_eq(pl_client_status_of_grpc(16), PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_client_status_of_grpc(13), PL_E_INTERNAL);
}
END_TEST

START_TEST(test_unavailable) {
    char target[64];
    struct pl_client *c = open_dead(target, sizeof target);
    char *out = (char *)1;
    ck_assert_int_eq(pl_client_punctuate(c, "hello", NULL, &out), PL_E_UNAVAILABLE);
    ck_assert_ptr_null(out);
    ck_assert_int_eq(pl_client_last_grpc_status(), 14);
    ck_assert_ptr_nonnull(strstr(pl_last_error(), "PunctuateText: UNAVAILABLE"));
    enum pl_client_health h = PL_CLIENT_HEALTH_SERVING;
    ck_assert_int_eq(pl_client_health(c, "", &h), PL_E_UNAVAILABLE);
    ck_assert_int_eq(h, PL_CLIENT_HEALTH_UNKNOWN);
    ck_assert_ptr_nonnull(strstr(pl_last_error(), "Check: UNAVAILABLE"));
    ck_assert_int_eq(pl_client_health(NULL, "", &h), PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_client_last_grpc_status(), -1);
    ck_assert_str_eq(pl_client_health_str(PL_CLIENT_HEALTH_NOT_SERVING), "NOT_SERVING");
    ck_assert_str_eq(pl_client_health_str((enum pl_client_health)42), "UNKNOWN");
    /* a stream to nowhere: the send or the finish reports it */
    struct pl_client_stream *s = NULL;
    ck_assert_int_eq(pl_client_converse_open(c, NULL, (pl_client_converse_cb)1, NULL, &s), PL_OK);
    pl_status st = pl_client_stream_send_text(s, "hi");
    pl_status fin = pl_client_stream_finish(s);
    ck_assert(st == PL_E_UNAVAILABLE || fin == PL_E_UNAVAILABLE);
    ck_assert_int_eq(pl_client_last_grpc_status(), 14);
    ck_assert_int_eq(pl_client_stream_send_text(s, "again"), PL_E_INVALID_ARG); /* finished */
    pl_client_stream_destroy(s);
    pl_client_close(c);
}
END_TEST

START_TEST(test_stream_args) {
    char target[64];
    struct pl_client *c = open_dead(target, sizeof target);
    struct pl_client_stream *s = (void *)1;
    ck_assert_int_eq(pl_client_recognize_stream_open(c, NULL, NULL, NULL, &s), PL_E_INVALID_ARG);
    ck_assert_ptr_null(s);
    ck_assert_int_eq(pl_client_synthesize_stream_open(c, NULL, (pl_client_audio_cb)1, NULL, &s),
                     PL_OK);
    ck_assert_int_eq(pl_client_stream_send_audio(s, "x", 1), PL_E_INVALID_ARG); /* TTS: text */
    ck_assert_ptr_nonnull(strstr(pl_last_error(), "SynthesizeOnline takes no audio"));
    ck_assert_int_eq(pl_client_stream_end_utterance(s), PL_E_INVALID_ARG);
    pl_client_stream_destroy(s); /* cancels the call that never connected */
    ck_assert_int_eq(pl_client_recognize_streaming(c, NULL, "not a wav", 9, 100,
                                                   (pl_client_asr_cb)1, NULL),
                     PL_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(pl_last_error(), "not a WAV"));
    pl_client_close(c);
}
END_TEST

START_TEST(test_write_wav) {
    uint8_t pcm[8] = {1, 0, 2, 0, 3, 0, 4, 0};
    struct pl_client_audio a = {pcm, sizeof pcm, 16000, PL_CLIENT_ENC_LINEAR16};
    char path[] = "/tmp/pl_sdk_wav_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    ck_assert_int_eq(pl_client_audio_write_wav(&a, path), PL_OK);
    FILE *f = fopen(path, "rb");
    uint8_t buf[64];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    unlink(path);
    ck_assert_uint_eq(n, 44 + sizeof pcm);
    ck_assert_mem_eq(buf, "RIFF", 4);
    ck_assert_mem_eq(buf + 8, "WAVEfmt ", 8);
    ck_assert_uint_eq(buf[24] | buf[25] << 8, 16000);
    ck_assert_uint_eq(buf[34], 16);
    ck_assert_mem_eq(buf + 44, pcm, sizeof pcm);
    ck_assert_int_eq(pl_client_audio_write_wav(&a, "/nonexistent/dir/x.wav"), PL_E_IO);
    ck_assert_ptr_nonnull(strstr(pl_last_error(), "/nonexistent/dir/x.wav"));
}
END_TEST

Suite *pl_client_sdk_suite(void) {
    Suite *s = suite_create("client_sdk");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_open_checks);
    tcase_add_test(tc, test_status_mapping);
    tcase_add_test(tc, test_unavailable);
    tcase_add_test(tc, test_stream_args);
    tcase_add_test(tc, test_write_wav);
    suite_add_tcase(s, tc);
    return s;
}
