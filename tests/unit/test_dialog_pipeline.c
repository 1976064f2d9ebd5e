/*
 * test_dialog_pipeline.c - pipelines (dialog/dialog_pipeline.c): the shipped files load with
 * the stages and options they state; broken files (JSON syntax, unknown keys, wrong types,
 * values out of range, stages that cannot answer) fail with file, line and key. Slots from
 * named entities (dialog_engine.c): a slot the NLU's tagger misses is filled from an entity
 * of a mapped type, and the slot event says where each value came from.
 */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "dialog_impl.h"

static struct pl_dlg_pipeline *shipped(const char *name) {
    const char *src = getenv("PARLEY_SOURCE_DIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/pipelines/%s.json", src ? src : "..", name);
    struct pl_dlg_pipeline *p = NULL;
    ck_assert_msg(pl_dlg_pipeline_load(path, &p) == PL_OK, "%s", pl_last_error());
    ck_assert_str_eq(p->name, name);
    return p;
}

START_TEST(test_shipped_pipelines) {
    struct pl_dlg_pipeline *p = shipped("voice_assistant");
    ck_assert(p->has_asr && p->punctuation.enabled && p->has_nlu && p->has_dialog && p->has_tts);
    ck_assert_str_eq(p->asr.language_code, "en-US");
    ck_assert_int_eq(p->asr.silence_ms, 400);
    ck_assert_str_eq(p->dialog.spec, "assistant");
    ck_assert(p->nlu.entities);
    ck_assert_int_eq(p->tts.sample_rate_hz, 22050);
    ck_assert_int_eq(p->tts.encoding, 1); /* LINEAR_PCM */
    pl_dlg_pipeline_destroy(p);
    p = shipped("text_assistant");
    ck_assert(!p->has_asr && !p->punctuation.enabled && p->has_nlu && p->has_dialog &&
              !p->has_tts);
    pl_dlg_pipeline_destroy(p);
    p = shipped("document_qa");
    ck_assert(p->has_asr && !p->has_nlu && !p->has_dialog && p->has_qa && p->has_tts);
    ck_assert_int_eq(p->qa.top_n, 3);
    ck_assert(p->qa.threshold > 0.04f && p->qa.threshold < 0.06f);
    ck_assert_str_eq(p->qa.knowledge_base, "default");
    pl_dlg_pipeline_destroy(p);
    pl_dlg_pipeline_destroy(NULL);
}
END_TEST

static const char *pipeline_error(const char *text) {
    static char msg[512];
    struct pl_dlg_pipeline *p = NULL;
    pl_status st = pl_dlg_pipeline_parse("p.json", text, strlen(text), &p);
    ck_assert_ptr_null(p);
    if (st == PL_OK) return NULL;
    ck_assert_int_eq(st, PL_E_FORMAT);
    snprintf(msg, sizeof msg, "%s", pl_last_error());
    return msg;
}

#define ASSERT_ERR(text, want)                                                                     \
    do {                                                                                           \
        const char *e_ = pipeline_error(text);                                                     \
        ck_assert_msg(e_ && strstr(e_, want), "want '%s', got '%s'", want, e_ ? e_ : "(ok)");     \
    } while (0)

START_TEST(test_broken_pipelines) {
    ASSERT_ERR("{\"pipeline\": \"x\",\n \"dialog\": {}\n", "p.json:3:0: invalid JSON");
    ASSERT_ERR("{\"pipeline\": \"x\", \"pipeline\": \"y\", \"dialog\": {}}", "invalid JSON: "
               "duplicate object key");
    ASSERT_ERR("[1, 2]", "p.json:1: pipeline: expected a JSON object, got a list");
    ASSERT_ERR("{\"dialog\": {}}", "p.json:1: pipeline: missing required key 'pipeline'");
    ASSERT_ERR("{\"pipeline\": \"a b\", \"dialog\": {}}", "pipeline: 'a b' is not a name");
    ASSERT_ERR("{\"pipeline\": \"x\",\n \"dialog\": {},\n \"tss\": {}}",
               "p.json:3: pipeline: unknown key 'tss' (known: pipeline, description, asr, "
               "punctuation, nlu, dialog, qa, tts)");
    ASSERT_ERR("{\"pipeline\": \"x\",\n \"dialog\": {\n  \"spec\": \"a\",\n  \"model\": \"b\"}}",
               "p.json:4: dialog: unknown key 'model' (known: spec)");
    ASSERT_ERR("{\"pipeline\": \"x\", \"dialog\": {},\n \"asr\": {\"endpointing_silence_ms\": "
               "\"800\"}}", "p.json:2: asr.endpointing_silence_ms: expected an integer, got a "
               "string");
    ASSERT_ERR("{\"pipeline\": \"x\", \"dialog\": {},\n \"asr\": {\n \"endpointing_silence_ms\": "
               "5}}", "p.json:3: asr.endpointing_silence_ms: 5 is out of range: 0 or 100..60000");
    ASSERT_ERR("{\"pipeline\": \"x\", \"dialog\": {}, \"asr\": {\"language_code\": \"\"}}",
               "asr.language_code: empty");
    ASSERT_ERR("{\"pipeline\": \"x\", \"dialog\": {}, \"asr\": []}",
               "asr: expected an object, got a list");
    ASSERT_ERR("{\"pipeline\": \"x\", \"dialog\": {},\n\n \"punctuation\": {\"enabled\": 1}}",
               "p.json:3: punctuation.enabled: expected true or false, got a number");
    ASSERT_ERR("{\"pipeline\": \"x\", \"dialog\": {}, \"nlu\": {\"model\": 3}}",
               "nlu.model: expected a string, got a number");
    ASSERT_ERR("{\"pipeline\": \"x\", \"qa\": {\"top_n\": 0}}",
               "qa.top_n: 0 is out of range: 1..10");
    ASSERT_ERR("{\"pipeline\": \"x\", \"qa\": {\"threshold\": 1.5}}",
               "qa.threshold: expected a number in 0..1");
    ASSERT_ERR("{\"pipeline\": \"x\", \"qa\": {\"knowledge_base\": \"manuals\"}}",
               "qa.knowledge_base: unknown knowledge base 'manuals'");
    ASSERT_ERR("{\"pipeline\": \"x\", \"dialog\": {},\n \"tts\": {\"encoding\": \"FLAC\"}}",
               "p.json:2: tts.encoding: unknown encoding 'FLAC' (LINEAR_PCM, OGGOPUS, MULAW, "
               "ALAW)");
    ASSERT_ERR("{\"pipeline\": \"x\", \"dialog\": {}, \"tts\": {\"sample_rate_hz\": 100}}",
               "tts.sample_rate_hz: 100 is out of range: 0 or 8000..48000");
    ASSERT_ERR("{\"pipeline\": \"x\", \"asr\": {}, \"tts\": {}}",
               "pipeline: neither a dialog nor a qa stage");
    ASSERT_ERR("{\"pipeline\": \"x\", \"qa\": {},\n \"nlu\": {}}",
               "p.json:2: nlu: an nlu stage needs a dialog stage");
    /* the smallest good one: defaults everywhere */
    struct pl_dlg_pipeline *p = NULL;
    const char *ok = "{\"pipeline\": \"tiny\", \"qa\": {}}";
    ck_assert_int_eq(pl_dlg_pipeline_parse("t.json", ok, strlen(ok), &p), PL_OK);
    ck_assert(p->has_qa && !p->has_dialog && !p->punctuation.enabled && p->nlu.entities);
    ck_assert_int_eq(p->qa.top_n, 1);
    ck_assert_str_eq(p->asr.language_code, "en-US");
    pl_dlg_pipeline_destroy(p);
    ck_assert_int_eq(pl_dlg_pipeline_load("/nonexistent/x.json", &p), PL_E_IO);
}
END_TEST

/* ---- slots from named entities --------------------------------------------------------------- */

static const char entity_spec[] =
    "dialog: t\n"
    "slots:\n"
    "  size: {type: number, nlu: [party_size_number], prompt: ask_size}\n"
    "  place: {nlu: [city], entities: [LOC, GPE], strip: [in], prompt: ask_place}\n"
    "  guest: {entities: PER}\n"
    "intents:\n"
    "  book: {nlu: [BookRestaurant], flow: booking}\n"
    "flows:\n"
    "  booking: {slots: [size, place], optional: [guest], done: [{say: booked}]}\n"
    "responses:\n"
    "  ask_size: How many?\n  ask_place: Where?\n  booked: '{size} in {place}'\n"
    "  fallback: Sorry?\n  kb_no_answer: No idea.\n  kb_unavailable: Can't.\n"
    "  ask_yes_no: Yes or no?\n  invalid_value: Bad {value}.\n  resume: 'Back: {prompt}'\n";

/* Run one turn; returns the source of the slot event of `slot` ("" = none set). */
static const char *turn(const struct pl_dlg_spec *sp, struct pl_dlg_state *st, const char *text,
                        const char *intent, const struct pl_dlg_nlu_slot *slots, int n_slots,
                        const struct pl_dlg_nlu_slot *ents, int n_ents, const char *slot,
                        char *reply, size_t n_reply) {
    static char src[32];
    struct pl_dlg_nlu nlu = {intent, 0.99f, slots, n_slots, ents, n_ents};
    struct pl_dlg_turn t;
    pl_dlg_turn_init(&t);
    ck_assert_msg(pl_dlg_turn_run(sp, st, text, &nlu, NULL, &t) == PL_OK, "%s", pl_last_error());
    src[0] = '\0';
    for (int i = 0; i < t.n_events; i++) {
        if (t.events[i].kind != PL_DLG_EV_SLOT) continue;
        json_t *o = json_loads(t.events[i].data, 0, NULL);
        ck_assert_ptr_nonnull(o);
        if (!strcmp(json_string_value(json_object_get(o, "name")), slot))
            snprintf(src, sizeof src, "%s", json_string_value(json_object_get(o, "source")));
        json_decref(o);
    }
    snprintf(reply, n_reply, "%s", t.n_replies ? t.replies[t.n_replies - 1].text : "");
    pl_dlg_turn_deinit(&t);
    return src;
}

START_TEST(test_slots_from_entities) {
    struct pl_dlg_spec *sp = NULL;
    ck_assert_msg(pl_dlg_spec_parse("e.yaml", entity_spec, strlen(entity_spec), &sp) == PL_OK,
                  "%s", pl_last_error());
    ck_assert(pl_dlg_spec_uses_entities(sp));
    struct pl_dlg_state *st = NULL;
    ck_assert_int_eq(pl_dlg_state_create("s1", "u", "t", "en-US", &st), PL_OK);
    char reply[256];
    /* the tagger finds the size, misses the place ("poi"); NER has LOC and PER */
    struct pl_dlg_nlu_slot s1[] = {{"party_size_number", "four", 0.9f, 16, 20},
                                   {"poi", "Rome", 0.5f, 24, 28}};
    struct pl_dlg_nlu_slot e1[] = {{"PER", "Ada", 0.9f, 40, 43}, {"LOC", "Rome", 0.9f, 24, 28}};
    ck_assert_str_eq(turn(sp, st, "book a table for four near Rome, name of Ada", "BookRestaurant",
                          s1, 2, e1, 2, "place", reply, sizeof reply), "entity");
    ck_assert_str_eq(reply, "four in Rome");
    /* the tagger's slot wins over an entity; the guest came from the PER entity */
    pl_dlg_state_destroy(st);
    ck_assert_int_eq(pl_dlg_state_create("s2", "u", "t", "en-US", &st), PL_OK);
    struct pl_dlg_nlu_slot s2[] = {{"city", "paris", 0.9f, 20, 25}};
    struct pl_dlg_nlu_slot e2[] = {{"LOC", "Lyon", 0.9f, 30, 34}, {"PER", "Bo", 0.9f, 40, 42}};
    ck_assert_str_eq(turn(sp, st, "book a table in paris not lyon for Bo", "BookRestaurant", s2, 1,
                          e2, 2, "place", reply, sizeof reply), "nlu");
    ck_assert_str_eq(reply, "How many?");
    ck_assert_str_eq(pl_dlg_ctx_slot(pl_dlg_state_active(st), "guest"), "Bo");
    /* an answer to the prompt: no slot, no entity: the words ("answer") */
    ck_assert_str_eq(turn(sp, st, "4", "RateBook", NULL, 0, NULL, 0, "size", reply, sizeof reply),
                     "answer");
    ck_assert_str_eq(reply, "4 in paris");
    /* the answer to "Where?" from an entity, not the whole utterance */
    pl_dlg_state_destroy(st);
    ck_assert_int_eq(pl_dlg_state_create("s3", "u", "t", "en-US", &st), PL_OK);
    struct pl_dlg_nlu_slot s3[] = {{"party_size_number", "2", 0.9f, 18, 19}};
    turn(sp, st, "book a table for 2", "BookRestaurant", s3, 1, NULL, 0, "size", reply,
         sizeof reply);
    ck_assert_str_eq(reply, "Where?");
    struct pl_dlg_nlu_slot s4[] = {{"object_name", "one in Madrid", 0.5f, 4, 17}};
    struct pl_dlg_nlu_slot e4[] = {{"LOC", "Madrid", 0.9f, 11, 17}};
    ck_assert_str_eq(turn(sp, st, "the one in Madrid please", "RateBook", s4, 1, e4, 1, "place",
                          reply, sizeof reply), "entity");
    ck_assert_str_eq(reply, "2 in Madrid");
    pl_dlg_state_destroy(st);
    pl_dlg_spec_destroy(sp);
    /* a spec without `entities:` does not ask for them */
    const char *plain = "dialog: p\nresponses:\n  fallback: a\n  kb_no_answer: b\n"
                        "  kb_unavailable: c\n  ask_yes_no: d\n  invalid_value: e\n"
                        "  resume: 'f {prompt}'\nintents:\n"
                        "  hi: {keywords: [hi], do: [{say: fallback}]}\n";
    ck_assert_int_eq(pl_dlg_spec_parse("p.yaml", plain, strlen(plain), &sp), PL_OK);
    ck_assert(!pl_dlg_spec_uses_entities(sp));
    pl_dlg_spec_destroy(sp);
    const char *badent = "dialog: p\nslots:\n  a: {entities: {LOC: 1}}\nresponses:\n"
                         "  fallback: a\n  kb_no_answer: b\n  kb_unavailable: c\n"
                         "  ask_yes_no: d\n  invalid_value: e\n  resume: 'f {prompt}'\n"
                         "intents: {}\n";
    ck_assert_int_eq(pl_dlg_spec_parse("b.yaml", badent, strlen(badent), &sp), PL_E_FORMAT);
    ck_assert_msg(strstr(pl_last_error(), "b.yaml:3: slots.a.entities: expected a list"), "%s",
                  pl_last_error());
}
END_TEST

Suite *pl_dialog_pipeline_suite(void) {
    Suite *s = suite_create("dialog_pipeline");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_shipped_pipelines);
    tcase_add_test(tc, test_broken_pipelines);
    tcase_add_test(tc, test_slots_from_entities);
    suite_add_tcase(s, tc);
    return s;
}
