/*
 * test_dialog_eot.c - end of turn (dialog/dialog_eot.c): which words can end an English
 * utterance after a short pause, the decision with the NLU's intent score and with a pending
 * prompt, and the pipeline keys that configure it (asr.end_of_turn_silence_ms,
 * asr.end_of_turn_min_confidence) with their errors naming file, line and key.
 */
#include <check.h>
#include <string.h>

#include "alloc.h"
#include "dialog.h"

START_TEST(test_words_complete) {
    /* complete requests and answers */
    static const char *const done[] = {
        "play some jazz", "book a table for four", "what's the weather in boston",
        "seven", "yes", "turn it on", "log in", "thank you", "Add it to my playlist.",
        "rate this book five stars", "I'd like that", "  book it  ", "it's ok", NULL,
    };
    for (const char *const *t = done; *t; t++)
        ck_assert_msg(pl_dlg_eot_words_complete(*t), "'%s' should look complete", *t);
    /* a pause after these words is a pause inside the turn */
    static const char *const open[] = {
        "book a table for", "play the", "add this song to", "i want to", "salt and",
        "coffee or", "a", "um", "play jazz uh", "the weather in boston and", "book a table at",
        "Play it, and", "I", "it's", "because", "", "   ", ",.!", NULL,
    };
    for (const char *const *t = open; *t; t++)
        ck_assert_msg(!pl_dlg_eot_words_complete(*t), "'%s' should not look complete", *t);
    ck_assert(!pl_dlg_eot_words_complete(NULL));
    /* the last word, not a word inside another */
    ck_assert(pl_dlg_eot_words_complete("play andy"));
    ck_assert(pl_dlg_eot_words_complete("go to toronto"));
    ck_assert(!pl_dlg_eot_words_complete("from toronto TO"));
}
END_TEST

START_TEST(test_judge) {
    /* words first: an open ending waits whatever the NLU or the prompt says */
    ck_assert_int_eq(pl_dlg_eot_judge("book a table for", false, 0.99f, 0.9f),
                     PL_DLG_EOT_WAIT_WORDS);
    ck_assert_int_eq(pl_dlg_eot_judge("four and", true, -1, 0.9f), PL_DLG_EOT_WAIT_WORDS);
    /* complete words: the NLU is asked, its confidence decides */
    ck_assert_int_eq(pl_dlg_eot_judge("play some jazz", false, -1, 0.9f), PL_DLG_EOT_ASK_NLU);
    ck_assert_int_eq(pl_dlg_eot_judge("play some jazz", false, 0.97f, 0.9f),
                     PL_DLG_EOT_END_INTENT);
    ck_assert_int_eq(pl_dlg_eot_judge("play some jazz", false, 0.9f, 0.9f),
                     PL_DLG_EOT_END_INTENT);
    ck_assert_int_eq(pl_dlg_eot_judge("oh my god", false, 0.6f, 0.9f), PL_DLG_EOT_WAIT_INTENT);
    /* the answer to the prompt just spoken ends the turn without the NLU */
    ck_assert_int_eq(pl_dlg_eot_judge("four", true, -1, 0.9f), PL_DLG_EOT_END_ANSWER);
    ck_assert(strstr(pl_dlg_eot_verdict_name(PL_DLG_EOT_END_INTENT), "end"));
    ck_assert(strstr(pl_dlg_eot_verdict_name(PL_DLG_EOT_WAIT_WORDS), "wait"));
}
END_TEST

static const char *pipeline_error(const char *text) {
    struct pl_dlg_pipeline *p = NULL;
    if (pl_dlg_pipeline_parse("p.json", text, strlen(text), &p) == PL_OK) {
        pl_dlg_pipeline_destroy(p);
        return NULL;
    }
    return pl_last_error();
}

START_TEST(test_pipeline_keys) {
    const char *ok = "{\"pipeline\": \"x\", \"dialog\": {},\n \"asr\": {\"end_of_turn_silence_ms\": "
                     "150, \"end_of_turn_min_confidence\": 0.8}}";
    struct pl_dlg_pipeline *p = NULL;
    ck_assert_msg(pl_dlg_pipeline_parse("p.json", ok, strlen(ok), &p) == PL_OK, "%s",
                  pl_last_error());
    ck_assert_int_eq(p->asr.eot_silence_ms, 150);
    ck_assert(p->asr.eot_min_confidence > 0.79f && p->asr.eot_min_confidence < 0.81f);
    pl_dlg_pipeline_destroy(p);
    const char *off = "{\"pipeline\": \"x\", \"dialog\": {}, \"asr\": {\"end_of_turn_silence_ms\": -1}}";
    ck_assert(pl_dlg_pipeline_parse("p.json", off, strlen(off), &p) == PL_OK);
    ck_assert_int_eq(p->asr.eot_silence_ms, -1);
    ck_assert(p->asr.eot_min_confidence == 0.0f); /* the service's */
    pl_dlg_pipeline_destroy(p);
    const char *e = pipeline_error("{\"pipeline\": \"x\", \"dialog\": {},\n \"asr\": {\n "
                                   "\"end_of_turn_silence_ms\": 20}}");
    ck_assert_msg(e && strstr(e, "p.json:3: asr.end_of_turn_silence_ms: 20 is out of range: 0 "
                                 "(the service's), -1 (off) or 50..5000"), "%s", e ? e : "(ok)");
    e = pipeline_error("{\"pipeline\": \"x\", \"dialog\": {},\n \"asr\": "
                       "{\"end_of_turn_silence_ms\": 9000}}");
    ck_assert_msg(e && strstr(e, "asr.end_of_turn_silence_ms: 9000 is out of range"), "%s",
                  e ? e : "(ok)");
    e = pipeline_error("{\"pipeline\": \"x\", \"dialog\": {},\n \"asr\": "
                       "{\"end_of_turn_min_confidence\": 1.5}}");
    ck_assert_msg(e && strstr(e, "p.json:2: asr.end_of_turn_min_confidence: expected a number in "
                                 "0..1"), "%s", e ? e : "(ok)");
    e = pipeline_error("{\"pipeline\": \"x\", \"dialog\": {},\n \"asr\": "
                       "{\"end_of_turn_min_confidence\": \"high\"}}");
    ck_assert_msg(e && strstr(e, "asr.end_of_turn_min_confidence"), "%s", e ? e : "(ok)");
}
END_TEST

Suite *pl_dialog_eot_suite(void) {
    Suite *s = suite_create("dialog_eot");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_words_complete);
    tcase_add_test(tc, test_judge);
    tcase_add_test(tc, test_pipeline_keys);
    suite_add_tcase(s, tc);
    return s;
}
