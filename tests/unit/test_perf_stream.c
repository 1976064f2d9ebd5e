/* The measurement definitions of `parley perf --stream` (clients/perf/perf_stats.h), which
 * must match tests/integration/asr_stream_bench.py, and its command-line names of RPCs
 * (clients/perf/perf_common.h). */
#include <check.h>
#include <math.h>
#include <string.h>

#include "perf_common.h"
#include "perf_stats.h"

START_TEST(test_pct_matches_python) {
    /* asr_stream_bench.py: sorted(v)[min(n - 1, int(p / 100 * n))] */
    struct pl_perf_samples s = {0};
    ck_assert(isnan(pl_perf_samples_pct(&s, 50)));
    ck_assert(isnan(pl_perf_samples_max(&s)));
    for (int i = 10; i >= 1; i--) ck_assert_int_eq(pl_perf_samples_add(&s, i), PL_OK);
    ck_assert_double_eq(pl_perf_samples_pct(&s, 50), 6);  /* int(5.0) = 5 -> 6 */
    ck_assert_double_eq(pl_perf_samples_pct(&s, 90), 10); /* int(9.0) = 9 -> 10 */
    ck_assert_double_eq(pl_perf_samples_pct(&s, 99), 10); /* int(9.9) = 9 */
    ck_assert_double_eq(pl_perf_samples_pct(&s, 0), 1);
    ck_assert_double_eq(pl_perf_samples_pct(&s, 100), 10); /* clamped to n - 1 */
    ck_assert_double_eq(pl_perf_samples_max(&s), 10);
    /* adding after a percentile re-sorts */
    ck_assert_int_eq(pl_perf_samples_add(&s, 0.5), PL_OK);
    ck_assert_double_eq(pl_perf_samples_pct(&s, 0), 0.5);
    ck_assert_double_eq(pl_perf_samples_pct(&s, 50), 5); /* n 11: int(5.5) = 5 */
    pl_perf_samples_clear(&s);
    ck_assert(isnan(pl_perf_samples_pct(&s, 50)));
    /* many values: storage grows */
    for (int i = 0; i < 1000; i++) ck_assert_int_eq(pl_perf_samples_add(&s, 999 - i), PL_OK);
    ck_assert_double_eq(pl_perf_samples_pct(&s, 99), 990);
    ck_assert_double_eq(pl_perf_samples_pct(&s, 50), 500);
    pl_perf_samples_deinit(&s);
    ck_assert_ptr_null(s.v);
    ck_assert_int_eq(pl_perf_samples_add(NULL, 1), PL_E_INVALID_ARG);
}
END_TEST

START_TEST(test_chunk_for) {
    /* 100 ms chunks of a 0.35 s recording: ends 0.1, 0.2, 0.3, 0.35 */
    const double end[] = {0.1, 0.2, 0.3, 0.35};
    ck_assert_int_eq(pl_perf_chunk_for(end, 4, 0.0), 0);
    ck_assert_int_eq(pl_perf_chunk_for(end, 4, 0.1), 0);
    ck_assert_int_eq(pl_perf_chunk_for(end, 4, 0.1009), 0); /* within the 1 ms tolerance */
    ck_assert_int_eq(pl_perf_chunk_for(end, 4, 0.102), 1);
    ck_assert_int_eq(pl_perf_chunk_for(end, 4, 0.25), 2);
    ck_assert_int_eq(pl_perf_chunk_for(end, 4, 0.35), 3);
    ck_assert_int_eq(pl_perf_chunk_for(end, 4, 0.36), -1); /* beyond what was sent */
    ck_assert_int_eq(pl_perf_chunk_for(end, 2, 0.25), -1); /* only 2 chunks sent so far */
    ck_assert_int_eq(pl_perf_chunk_for(end, 0, 0.0), -1);
    ck_assert_int_eq(pl_perf_chunk_for(NULL, 4, 0.0), -1);
    /* equal ends (a repeated position): the first one */
    const double eq[] = {0.1, 0.2, 0.2, 0.3};
    ck_assert_int_eq(pl_perf_chunk_for(eq, 4, 0.2), 1);
}
END_TEST

START_TEST(test_last_final) {
    ck_assert(pl_perf_is_last_final(true, true, 7.30, 7.34));   /* within 50 ms */
    ck_assert(!pl_perf_is_last_final(true, true, 7.28, 7.34));  /* an endpoint final */
    ck_assert(!pl_perf_is_last_final(true, false, 7.34, 7.34)); /* before the half-close */
    ck_assert(!pl_perf_is_last_final(false, true, 7.34, 7.34)); /* an interim */
}
END_TEST

static struct pl_perf_level_summary good(void) {
    return (struct pl_perf_level_summary){.paced = true,
                                          .streams = 8,
                                          .errors = 0,
                                          .finals = 8,
                                          .slowest_s = 8.3,
                                          .audio_s = 7.34,
                                          .chunk_s = 0.1,
                                          .p99_ms = 120,
                                          .rt_p99_ms = 500,
                                          .rt_margin_s = 1.0};
}

START_TEST(test_realtime) {
    struct pl_perf_level_summary l = good();
    ck_assert(pl_perf_level_realtime(&l));
    l.slowest_s = 7.34 + 1.0 + 0.1 + 0.01; /* later than audio + margin + one chunk */
    ck_assert(!pl_perf_level_realtime(&l));
    l = good();
    l.p99_ms = 500; /* strictly under the bound */
    ck_assert(!pl_perf_level_realtime(&l));
    l.p99_ms = NAN; /* no latency measured */
    ck_assert(!pl_perf_level_realtime(&l));
    l = good();
    l.finals = 7;
    ck_assert(!pl_perf_level_realtime(&l));
    l = good();
    l.errors = 1;
    ck_assert(!pl_perf_level_realtime(&l));
    l = good();
    l.paced = false; /* as fast as possible says nothing about real time */
    ck_assert(!pl_perf_level_realtime(&l));
    l = good();
    l.streams = 0;
    ck_assert(!pl_perf_level_realtime(&l));
    ck_assert(!pl_perf_level_realtime(NULL));
}
END_TEST

START_TEST(test_rpc_names) {
    const char *want = "/nvidia.riva.asr.RivaSpeechRecognition/StreamingRecognize";
    const char *forms[] = {want, want + 1, "riva.asr.RivaSpeechRecognition/StreamingRecognize",
                           "streaming_recognize", "StreamingRecognize"};
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        const struct pl_rpc_info *r = pl_perf_rpc_resolve(forms[i]);
        ck_assert_msg(r != NULL, "%s", forms[i]);
        ck_assert_str_eq(r->path, want);
    }
    ck_assert_str_eq(pl_perf_rpc_resolve("punctuate_text")->method, "PunctuateText");
    ck_assert_ptr_null(pl_perf_rpc_resolve("riva.asr.RivaSpeechRecognition/NoSuchRpc"));
    ck_assert_ptr_null(pl_perf_rpc_resolve("StreamingRecognizeX"));
    ck_assert_ptr_null(pl_perf_rpc_resolve(""));
    ck_assert_ptr_null(pl_perf_rpc_resolve(NULL));
    ck_assert_str_eq(pl_perf_status_name(GRPC_STATUS_UNAVAILABLE), "UNAVAILABLE");
    ck_assert_str_eq(pl_perf_status_name(GRPC_STATUS_UNAUTHENTICATED), "UNAUTHENTICATED");
    ck_assert_str_eq(pl_perf_status_name((grpc_status_code)99), "UNKNOWN_CODE");
}
END_TEST

START_TEST(test_channel_bad_cert) {
    grpc_channel *ch = (grpc_channel *)1;
    ck_assert_int_eq(pl_perf_channel_create("127.0.0.1:1", true, "/nonexistent.pem", &ch), PL_E_IO);
    ck_assert_ptr_null(ch);
}
END_TEST

Suite *pl_perf_stream_suite(void) {
    Suite *s = suite_create("perf_stream");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_pct_matches_python);
    tcase_add_test(tc, test_chunk_for);
    tcase_add_test(tc, test_last_final);
    tcase_add_test(tc, test_realtime);
    tcase_add_test(tc, test_rpc_names);
    tcase_add_test(tc, test_channel_bad_cert);
    suite_add_tcase(s, tc);
    return s;
}
