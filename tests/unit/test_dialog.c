/*
 * test_dialog.c - the dialog core (dialog/): spec validation errors with file, line and key;
 * templates and variations; number words; the form state machine, corrections and the
 * context stack driven with NLU results as inputs; the SQLite store (persistence across
 * reopen, user scoping, migrations, per-user delete, retention).
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "dialog_impl.h"
#include "test_dialog_util.h"

/* ---- spec validation --------------------------------------------------------------------- */

START_TEST(test_spec_errors) {
    ASSERT_ERR("dialog: x\nresponses:\n" BASE_RESPONSES "intents:\n  a:\n    nlu: [A]\n"
               "    do: [{say: fallback}]\n    colour: red\n",
               "t.yaml:13: intents.a: unknown key 'colour'");
    ASSERT_ERR("dialog: x\nresponses:\n" BASE_RESPONSES, "t.yaml:1: (top): missing required key 'intents'");
    ASSERT_ERR("dialog: x\nresponses:\n" BASE_RESPONSES "intents:\n  a:\n    nlu: [A]\n"
               "    do: [{say: nope}]\n", "t.yaml:12: intents.a.do[0].say: undefined response 'nope'");
    ASSERT_ERR("dialog: x\nresponses:\n" BASE_RESPONSES "  r: 'hi {who}'\nintents:\n  a:\n"
               "    nlu: [A]\n    do: [{say: r}]\n", "t.yaml:9: responses.r: undefined slot 'who'");
    ASSERT_ERR("dialog: x\nresponses:\n" BASE_RESPONSES "intents:\n  a:\n    nlu: [A]\n"
               "    flow: f\n", "t.yaml:12: intents.a.flow: undefined flow 'f'");
    ASSERT_ERR("dialog: x\nresponses:\n  fallback: x\nintents:\n  a:\n    nlu: [A]\n"
               "    do: [{say: fallback}]\n", "missing required response 'kb_no_answer'");
    ASSERT_ERR("dialog: x\nresponses:\n" BASE_RESPONSES "flows:\n  f:\n    done: [{start: g}]\n"
               "  g:\n    done: [{start: f}]\nintents:\n  a:\n    nlu: [A]\n    flow: f\n",
               "flows: cycle: flow 'g' starts 'f', which leads back to it");
    ASSERT_ERR("dialog: x\nresponses:\n" BASE_RESPONSES "slots:\n  n:\n    type: number\n"
               "flows:\n  f:\n    slots: [n]\nintents:\n  a:\n    nlu: [A]\n    flow: f\n",
               "slot 'n' is required but has no prompt");
    ASSERT_ERR("dialog: x\nresponses:\n" BASE_RESPONSES "intents:\n  a:\n    nlu: [A]\n"
               "    do: [{action: fly}]\n", "unknown action 'fly'");
    ASSERT_ERR("dialog: x\ndialog: y\n", "t.yaml:2: dialog: duplicate key");
    ASSERT_ERR("dialog: [x\n", "invalid YAML");
    ASSERT_ERR("dialog: x\nsettings: {nlu_threshold: 2}\nresponses:\n" BASE_RESPONSES
               "intents: {}\n", "settings.nlu_threshold: expected a number in [0, 1]");
}
END_TEST

/* The shipped demo spec, dialog/specs/assistant.yaml (caller destroys). */
static struct pl_dlg_spec *shipped_spec(void) {
    const char *src = getenv("PARLEY_SOURCE_DIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/dialog/specs/assistant.yaml", src ? src : "..");
    struct pl_dlg_spec *s = NULL;
    ck_assert_msg(pl_dlg_spec_load(path, &s) == PL_OK, "%s", pl_last_error());
    return s;
}

START_TEST(test_shipped_spec_loads) {
    struct pl_dlg_spec *s = shipped_spec();
    ck_assert_str_eq(pl_dlg_spec_name(s), "assistant");
    pl_dlg_spec_destroy(s);
    /* the same spec as JSON is read by the same loader */
    const char *json = "{\"dialog\": \"j\", \"responses\": {\"fallback\": \"a\", \"kb_no_answer\":"
                       " \"b\", \"kb_unavailable\": \"c\", \"ask_yes_no\": \"d\", "
                       "\"invalid_value\": \"e\", \"resume\": \"f {prompt}\"}, \"intents\": "
                       "{\"hi\": {\"keywords\": [\"hi\"], \"do\": [{\"say\": \"fallback\"}]}}}";
    ck_assert_msg(pl_dlg_spec_parse("j.json", json, strlen(json), &s) == PL_OK, "%s", pl_last_error());
    pl_dlg_spec_destroy(s);
}
END_TEST

/* parley-dialog asks parley-nlu for named entities only when one could fill a slot of the
 * turn (pl_dlg_turn_wants_entities), on the shipped spec: `place` takes LOC entities and
 * belongs to book_table (asked), weather and screenings (optional). */
START_TEST(test_turn_wants_entities) {
    struct pl_dlg_spec *sp = shipped_spec();
    struct pl_dlg_nlu_slot city = {"city", "boston", 0.9f, 20, 26};
    struct pl_dlg_nlu_slot four = {"party_size_number", "four", 0.9f, 16, 20};
    struct pl_dlg_nlu book = {"BookRestaurant", 0.99f, NULL, 0, NULL, 0};
    struct pl_dlg_nlu book_in = {"BookRestaurant", 0.99f, &city, 1, NULL, 0};
    struct pl_dlg_nlu book_four = {"BookRestaurant", 0.99f, &four, 1, NULL, 0};
    struct pl_dlg_nlu song = {"AddToPlaylist", 0.99f, NULL, 0, NULL, 0};
    struct pl_dlg_nlu none = {NULL, 0.0f, NULL, 0, NULL, 0};
    /* the session not known: whenever the place is not tagged */
    ck_assert(pl_dlg_turn_wants_entities(sp, NULL, &book));
    ck_assert(pl_dlg_turn_wants_entities(sp, NULL, &none));
    ck_assert(!pl_dlg_turn_wants_entities(sp, NULL, &book_in));
    /* no open context: only an intent whose flow holds the place */
    struct pl_dlg_state *st = NULL;
    ck_assert_int_eq(pl_dlg_state_create("s1", "u1", "assistant", "en-US", &st), PL_OK);
    ck_assert(pl_dlg_turn_wants_entities(sp, st, &book));
    ck_assert(pl_dlg_turn_wants_entities(sp, st, &book_four));
    ck_assert(!pl_dlg_turn_wants_entities(sp, st, &book_in));
    ck_assert(!pl_dlg_turn_wants_entities(sp, st, &song));
    ck_assert(!pl_dlg_turn_wants_entities(sp, st, &none));
    /* a booking open: while its place is empty or asked, any utterance may answer it */
    struct pl_dlg_turn t;
    pl_dlg_turn_init(&t);
    struct pl_dlg_ctx *c;
    ck_assert_int_eq(pl_dlg_context_create(st, "", NULL, 0, true, 1, &t, &c), PL_OK);
    ck_assert_int_eq(pl__dlg_set_str(&c->flow, "book_table"), PL_OK);
    ck_assert(pl_dlg_turn_wants_entities(sp, st, &none));
    ck_assert(pl_dlg_turn_wants_entities(sp, st, &song));
    ck_assert_int_eq(pl_dlg_ctx_set_slot(c, "place", "madrid"), PL_OK);
    ck_assert_int_eq(pl__dlg_set_str(&c->awaiting, "time"), PL_OK);
    ck_assert(!pl_dlg_turn_wants_entities(sp, st, &none));
    ck_assert(!pl_dlg_turn_wants_entities(sp, st, &song));
    ck_assert_int_eq(pl__dlg_set_str(&c->awaiting, "place"), PL_OK); /* asked again */
    ck_assert(pl_dlg_turn_wants_entities(sp, st, &none));
    pl_dlg_turn_deinit(&t);
    pl_dlg_state_destroy(st);
    pl_dlg_spec_destroy(sp);
}
END_TEST

/* A spec may carry the training examples of its own NLU model (`nlu:`, read by
 * `parley nlu train`); the loader accepts the section and refuses one that is not a list. */
START_TEST(test_spec_with_nlu_examples) {
    const char *src = getenv("PARLEY_SOURCE_DIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/data/nlu/coffee_dialog.yaml", src ? src : "..");
    struct pl_dlg_spec *s = NULL;
    ck_assert_msg(pl_dlg_spec_load(path, &s) == PL_OK, "%s", pl_last_error());
    ck_assert_str_eq(pl_dlg_spec_name(s), "coffee_shop");
    ck_assert_str_eq(pl_dlg_spec_nlu_model(s), "coffee_shop");
    pl_dlg_spec_destroy(s);
    ASSERT_ERR("dialog: x\nsettings: {nlu_model: ../x}\nresponses:\n" BASE_RESPONSES
               "intents: {}\n", "t.yaml:2: settings.nlu_model: '../x' is not a model name");
    ASSERT_ERR("dialog: x\nsettings: {nlu_model: [a]}\nresponses:\n" BASE_RESPONSES
               "intents: {}\n", "settings.nlu_model");
    ASSERT_ERR("dialog: x\nresponses:\n" BASE_RESPONSES "intents:\n  a:\n    nlu: [A]\n"
               "    do: [{say: fallback}]\nnlu: 5\n", "t.yaml:13: nlu: a list of '- intent: NAME'");
}
END_TEST

/* ---- text --------------------------------------------------------------------------------- */

START_TEST(test_templates_and_numbers) {
    struct pl_dlg_kv slots[] = {{"place", "new york"}, {"n", "4"}};
    struct pl_dlg_kv vk[] = {{"prompt", "What Time?"}};
    struct pl_dlg_vars v = {vk, 1};
    char *out = NULL;
    ck_assert_int_eq(pl_dlg_template_fill("{n} in {place|title}: {prompt|lower} {{x}}", &v, slots,
                                          2, &out), PL_OK);
    ck_assert_str_eq(out, "4 in New York: what time? {x}");
    pl_free(out);
    ck_assert_int_eq(pl_dlg_template_fill("{missing}", &v, slots, 2, &out), PL_E_NOT_FOUND);
    ck_assert_ptr_null(out);
    long n = 0;
    ck_assert(pl_dlg_parse_number("make it six people", &n) && n == 6);
    ck_assert(pl_dlg_parse_number("twenty one", &n) && n == 21);
    ck_assert(pl_dlg_parse_number("for 12", &n) && n == 12);
    ck_assert(!pl_dlg_parse_number("tonight", &n));
    char *norm = pl_dlg_normalize("  No, that's NOT right!  ");
    ck_assert_str_eq(norm, "no that's not right");
    ck_assert_int_eq(pl__dlg_yes_no(norm), -1);
    ck_assert(pl_dlg_has_phrase(norm, "not right") && !pl_dlg_has_phrase(norm, "righ"));
    ck_assert(!pl__dlg_only_yes_no(norm)); /* "that's" says something more */
    pl_free(norm);
    /* a bare answer to a confirmation, which the slot tagger must not read as a correction */
    ck_assert(pl__dlg_only_yes_no("no") && pl__dlg_only_yes_no("yes please"));
    ck_assert(pl__dlg_only_yes_no("no thank you") && pl__dlg_only_yes_no("go ahead"));
    ck_assert(!pl__dlg_only_yes_no("no make it six people") && !pl__dlg_only_yes_no("yes in paris"));
    ck_assert(!pl__dlg_only_yes_no("") && !pl__dlg_only_yes_no("nor") && !pl__dlg_only_yes_no("ahea"));
}
END_TEST

/* ---- the engine ------------------------------------------------------------------------------ */

static const char test_spec[] =
    "dialog: t\n"
    "slots:\n"
    "  size: {type: number, nlu: [party_size_number], min: 1, max: 10, prompt: ask_size}\n"
    "  place: {nlu: [city], strip: [in], prompt: ask_place}\n"
    "  song: {nlu: [entity_name], prompt: ask_song}\n"
    "intents:\n"
    "  book: {nlu: [BookRestaurant], flow: booking}\n"
    "  add: {nlu: [AddToPlaylist], flow: songs}\n"
    "  thanks: {keywords: [thanks], do: [{say: welcome}]}\n"
    "  mine: {keywords: [my bookings], do: [{action: list, kind: booking, item: item, say: list,"
    " empty: none}]}\n"
    "flows:\n"
    "  booking:\n"
    "    slots: [size, place]\n"
    "    confirm: confirm\n"
    "    resume: back\n"
    "    done: [{action: save, kind: booking}, {say: booked}]\n"
    "  songs:\n"
    "    slots: [song]\n"
    "    done: [{say: added}]\n"
    "responses:\n"
    "  ask_size: How many?\n"
    "  ask_place: Where?\n"
    "  ask_song: Which song?\n"
    "  confirm: '{size} in {place|title}?'\n"
    "  booked: 'Booked {size} in {place|title}.'\n"
    "  back: ['Back to {size} in {place|title}: {prompt|lower}', 'Back: {prompt|lower}']\n"
    "  added: 'Added {song}.'\n"
    "  welcome: Welcome.\n"
    "  item: '{size} in {place}'\n"
    "  list: 'You have {count}: {items}'\n"
    "  none: None.\n"
    BASE_RESPONSES;

struct fixture {
    struct pl_dlg_spec *spec;
    struct pl_dlg_state *st;
    struct pl_dlg_turn t;
    struct pl_dlg_record *recs; /* what `records` answers */
    int n_recs;
};

static pl_status fake_records(void *ud, const char *user, const char *kind,
                              struct pl_dlg_record **out, int *n) {
    (void)user, (void)kind;
    struct fixture *f = ud;
    *out = pl_calloc((size_t)f->n_recs + 1, sizeof **out);
    for (int i = 0; i < f->n_recs; i++) {
        (*out)[i].id = f->recs[i].id;
        (*out)[i].kind = pl_strdup("booking");
        (*out)[i].data = pl_strdup(f->recs[i].data);
    }
    *n = f->n_recs;
    return PL_OK;
}

static const struct pl_dlg_hooks_i fake_hooks = {NULL, fake_records, NULL};

static void fx_init(struct fixture *f) {
    memset(f, 0, sizeof *f);
    ck_assert_int_eq(pl_dlg_spec_parse("t.yaml", test_spec, strlen(test_spec), &f->spec), PL_OK);
    ck_assert_int_eq(pl_dlg_state_create("s1", "u1", "t", "en-US", &f->st), PL_OK);
    struct pl_dlg_ctx *c;
    pl_dlg_turn_init(&f->t);
    ck_assert_int_eq(pl_dlg_context_create(f->st, "", NULL, 0, true, 1, &f->t, &c), PL_OK);
}

static void fx_deinit(struct fixture *f) {
    pl_dlg_turn_deinit(&f->t);
    pl_dlg_state_destroy(f->st);
    pl_dlg_spec_destroy(f->spec);
}

/* One turn: intent (NULL = none), slots as "label=value" strings; returns the replies joined
 * with " | ". */
static const char *turn(struct fixture *f, const char *text, const char *intent, float score,
                        const char *slot1, const char *slot2) {
    static char buf[1024];
    struct pl_dlg_nlu_slot s[2];
    char tmp[2][64];
    int n = 0;
    const char *in[2] = {slot1, slot2};
    for (int i = 0; i < 2; i++) {
        if (!in[i]) continue;
        snprintf(tmp[n], sizeof tmp[n], "%s", in[i]);
        char *eq = strchr(tmp[n], '=');
        *eq = '\0';
        const char *at = strstr(text, eq + 1);
        s[n] = (struct pl_dlg_nlu_slot){tmp[n], eq + 1, 1.0f, at ? (int)(at - text) : -1,
                                        at ? (int)(at - text + strlen(eq + 1)) : -1};
        n++;
    }
    struct pl_dlg_nlu nlu = {intent, score, s, n, NULL, 0};
    pl_dlg_turn_deinit(&f->t);
    pl_dlg_turn_init(&f->t);
    struct pl_dlg_turn_opts o = {&fake_hooks, f, 1000, 0, 0, false, NULL};
    ck_assert_int_eq(pl_dlg_turn_run(f->spec, f->st, text, &nlu, &o, &f->t), PL_OK);
    buf[0] = '\0';
    for (int i = 0; i < f->t.n_replies; i++)
        snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s%s", i ? " | " : "",
                 f->t.replies[i].text);
    return buf;
}

START_TEST(test_form_and_correction) {
    struct fixture f;
    fx_init(&f);
    ck_assert_str_eq(turn(&f, "book a table", "BookRestaurant", 1, NULL, NULL), "How many?");
    ck_assert_str_eq(turn(&f, "four", "RateBook", 1, "rating_value=four", NULL), "Where?");
    /* the answer to "Where?" labelled a time by NLU: the words fill the slot asked */
    ck_assert_str_eq(turn(&f, "in boston", "GetWeather", 1, "timeRange=boston", NULL),
                     "4 in Boston?");
    ck_assert_str_eq(turn(&f, "no, make it six", "GetWeather", 1, NULL, NULL), "6 in Boston?");
    ck_assert_str_eq(turn(&f, "maybe", NULL, 0, NULL, NULL), "Yes or no?");
    ck_assert_str_eq(turn(&f, "yes", NULL, 0, NULL, NULL), "Booked 6 in Boston.");
    ck_assert_int_eq(f.t.n_effects, 1);
    ck_assert_str_eq(f.t.effects[0].data, "{\"place\":\"boston\",\"size\":\"6\"}");
    /* the last context stays open, idle and empty */
    struct pl_dlg_ctx *c = pl_dlg_state_active(f.st);
    ck_assert_str_eq(c->flow, "");
    ck_assert_int_eq(c->n_slots, 0);
    /* validation: out of range, then the prompt again */
    ck_assert_str_eq(turn(&f, "a table for 40 in paris", "BookRestaurant", 1,
                          "party_size_number=40", "city=paris"), "Bad 40. | How many?");
    ck_assert_str_eq(turn(&f, "thanks", "SearchCreativeWork", 1, NULL, NULL), "Welcome. | How many?");
    ck_assert_str_eq(turn(&f, "two", NULL, 0, NULL, NULL), "2 in Paris?");
    ck_assert_str_eq(turn(&f, "no", NULL, 0, NULL, NULL), "");
    fx_deinit(&f);
}
END_TEST

START_TEST(test_context_switch_and_resume) {
    struct fixture f;
    fx_init(&f);
    turn(&f, "book a table for four", "BookRestaurant", 1, "party_size_number=four", NULL);
    ck_assert_str_eq(f.t.replies[0].text, "Where?");
    char booking[PL_DLG_ID_LEN];
    snprintf(booking, sizeof booking, "%s", pl_dlg_state_active(f.st)->id);
    /* a short utterance of another flow is an answer, not a switch ... */
    /* ... a long, confident one with that flow's slots switches, then resumes */
    ck_assert_str_eq(turn(&f, "add wonderwall to my road trip playlist", "AddToPlaylist", 0.99f,
                          "entity_name=wonderwall", NULL),
                     "Added wonderwall. | Back: where?");
    ck_assert(f.t.switched);
    ck_assert_str_eq(pl_dlg_state_active(f.st)->id, booking);
    int closed = 0;
    for (int i = 0; i < f.st->n_ctx; i++) closed += f.st->ctx[i].state == PL_DLG_CTX_CLOSED;
    ck_assert_int_eq(closed, 1);
    /* explicit contexts: create one without activating, switch to it and back */
    struct pl_dlg_ctx *c = NULL;
    struct pl_dlg_kv kv[] = {{"place", "rome"}};
    ck_assert_int_eq(pl_dlg_context_create(f.st, "trip", kv, 1, false, 5, &f.t, &c), PL_OK);
    char trip[PL_DLG_ID_LEN], prev[PL_DLG_ID_LEN];
    snprintf(trip, sizeof trip, "%s", c->id);
    ck_assert_str_eq(pl_dlg_state_active(f.st)->id, booking);
    ck_assert_int_eq(pl_dlg_context_switch(f.st, trip, 6, &f.t, prev), PL_OK);
    ck_assert_str_eq(prev, booking);
    ck_assert_str_eq(pl_dlg_ctx_slot(pl_dlg_state_active(f.st), "place"), "rome");
    ck_assert_int_eq(pl_dlg_context_switch(f.st, "nope", 7, &f.t, prev), PL_E_NOT_FOUND);
    ck_assert_int_eq(pl_dlg_context_switch(f.st, booking, 8, &f.t, prev), PL_OK);
    ck_assert_str_eq(turn(&f, "in rome", NULL, 0, NULL, NULL), "four in Rome?");
    fx_deinit(&f);
}
END_TEST

START_TEST(test_records_and_fallback) {
    struct fixture f;
    fx_init(&f);
    ck_assert_str_eq(turn(&f, "my bookings", NULL, 0, NULL, NULL), "None.");
    struct pl_dlg_record r[2] = {{1, NULL, "{\"size\":\"2\",\"place\":\"oslo\"}", 0},
                                 {2, NULL, "{\"size\":\"3\",\"place\":\"rome\"}", 0}};
    f.recs = r;
    f.n_recs = 2;
    ck_assert_str_eq(turn(&f, "show my bookings", NULL, 0, NULL, NULL),
                     "You have 2: 1. 2 in oslo; 2. 3 in rome");
    /* not understood: re-prompt once, then the knowledge base (none here: unavailable) */
    ck_assert_str_eq(turn(&f, "blah blah", "PlayMusic", 0.3f, NULL, NULL), "Sorry?");
    ck_assert_str_eq(turn(&f, "blah blah", "PlayMusic", 0.3f, NULL, NULL), "Can't.");
    ck_assert_str_eq(turn(&f, "who wrote it?", NULL, 0, NULL, NULL), "Can't.");
    fx_deinit(&f);
}
END_TEST

/* ---- the store ----------------------------------------------------------------------------- */

static void tmp_path(char *buf, size_t n) {
    snprintf(buf, n, "/tmp/pl_dialog_test_%d_%ld.sqlite", (int)getpid(), random());
}

static void rm_db(const char *p) {
    char b[4200];
    unlink(p);
    snprintf(b, sizeof b, "%s-wal", p);
    unlink(b);
    snprintf(b, sizeof b, "%s-shm", p);
    unlink(b);
}

START_TEST(test_store_persistence_and_scoping) {
    char path[256];
    tmp_path(path, sizeof path);
    struct pl_dlg_store *st = NULL;
    ck_assert_int_eq(pl_dlg_store_open(path, NULL, &st), PL_OK);
    ck_assert_int_eq(pl_dlg_store_version(st), pl_dlg_store_latest_version());
    struct pl_dlg_state *s = NULL;
    ck_assert_int_eq(pl_dlg_store_session_create(st, "alice", "t", "", "{\"app\":\"x\"}", 100, &s),
                     PL_OK);
    char sid[PL_DLG_ID_LEN];
    snprintf(sid, sizeof sid, "%s", s->session_id);
    /* a turn: a slot, an event, a record */
    struct pl_dlg_turn t;
    pl_dlg_turn_init(&t);
    struct pl_dlg_ctx *c = pl_dlg_state_active(s);
    ck_assert_int_eq(pl_dlg_ctx_set_slot(c, "place", "boston"), PL_OK);
    pl__dlg_set_str(&c->flow, "booking");
    pl_dlg_turn_event(&t, PL_DLG_EV_USER, c->id, 1, 101, "{\"text\":\"hi\"}");
    t.effects = pl_calloc(1, sizeof *t.effects);
    t.effects[0] = (struct pl_dlg_effect){false, pl_strdup("booking"), pl_strdup("{}"), 0};
    t.n_effects = 1;
    ck_assert_int_eq(pl_dlg_store_commit(st, s, &t, 101), PL_OK);
    pl_dlg_turn_deinit(&t);
    pl_dlg_state_destroy(s);
    pl_dlg_store_close(st);

    /* reopen: everything is there, for alice only */
    ck_assert_int_eq(pl_dlg_store_open(path, NULL, &st), PL_OK);
    ck_assert_int_eq(pl_dlg_store_session_load(st, "alice", sid, &s), PL_OK);
    c = pl_dlg_state_active(s);
    ck_assert_str_eq(c->flow, "booking");
    ck_assert_str_eq(pl_dlg_ctx_slot(c, "place"), "boston");
    pl_dlg_state_destroy(s);
    ck_assert_int_eq(pl_dlg_store_session_load(st, "bob", sid, &s), PL_E_NOT_FOUND);
    ck_assert_ptr_null(s);
    struct pl_dlg_hist *h = NULL;
    int n = 0;
    bool more = false;
    ck_assert_int_eq(pl_dlg_store_history(st, "bob", sid, "", 0, 10, &h, &n, &more), PL_E_NOT_FOUND);
    ck_assert_int_eq(pl_dlg_store_history(st, "alice", sid, "", 0, 2, &h, &n, &more), PL_OK);
    ck_assert_int_eq(n, 2); /* session created, context created, (user text after) */
    ck_assert(more);
    ck_assert_int_eq(h[0].seq, 1);
    pl_dlg_hist_free(h, n);
    struct pl_dlg_record *r = NULL;
    ck_assert_int_eq(pl_dlg_store_records(st, "alice", "booking", &r, &n), PL_OK);
    ck_assert_int_eq(n, 1);
    pl_dlg_records_free(r, n);
    ck_assert_int_eq(pl_dlg_store_records(st, "bob", "booking", &r, &n), PL_OK);
    ck_assert_int_eq(n, 0);
    pl_dlg_records_free(r, n);
    ck_assert_int_eq(pl_dlg_store_session_end(st, "bob", sid, 200), PL_E_NOT_FOUND);
    ck_assert_int_eq(pl_dlg_store_session_end(st, "alice", sid, 200), PL_OK);
    /* retention: ended at 200, ttl 50 -> gone at 300 */
    int ended = -1, deleted = -1;
    ck_assert_int_eq(pl_dlg_store_expire(st, 300, 0, 50, &ended, &deleted), PL_OK);
    ck_assert_int_eq(deleted, 1);
    ck_assert_int_eq(pl_dlg_store_session_load(st, "alice", sid, &s), PL_E_NOT_FOUND);
    /* per-user delete */
    ck_assert_int_eq(pl_dlg_store_session_create(st, "carol", "t", "", NULL, 400, &s), PL_OK);
    pl_dlg_state_destroy(s);
    ck_assert_int_eq(pl_dlg_store_delete_user(st, "carol", &n), PL_OK);
    ck_assert_int_eq(n, 1);
    ck_assert_int_eq(pl_dlg_store_delete_user(st, "alice", &n), PL_OK);
    ck_assert_int_eq(pl_dlg_store_records(st, "alice", "booking", &r, &n), PL_OK);
    ck_assert_int_eq(n, 0);
    pl_dlg_records_free(r, n);
    pl_dlg_store_close(st);
    rm_db(path);
}
END_TEST

/* sync_full: every commit is on disk when its call returns, and writers that overlap share
 * fsyncs (a group commit). Eight threads, each with its own session, commit turns at once. */
struct sync_arg {
    struct pl_dlg_store *st;
    int id, turns, bad;
};

static void *sync_writer(void *p) {
    struct sync_arg *a = p;
    char user[32];
    snprintf(user, sizeof user, "user%d", a->id);
    struct pl_dlg_state *s = NULL;
    if (pl_dlg_store_session_create(a->st, user, "t", "", NULL, 100, &s) != PL_OK) {
        a->bad++;
        return NULL;
    }
    for (int i = 0; i < a->turns; i++) {
        struct pl_dlg_turn t;
        pl_dlg_turn_init(&t);
        struct pl_dlg_ctx *c = pl_dlg_state_active(s);
        pl_dlg_turn_event(&t, PL_DLG_EV_USER, c->id, i + 1, 101 + i, "{\"text\":\"hi\"}");
        uint64_t before = 0, synced = 0;
        pl_dlg_store_sync_stats(a->st, &before, NULL, NULL);
        if (pl_dlg_store_commit(a->st, s, &t, 101 + i) != PL_OK) a->bad++;
        pl_dlg_store_sync_stats(a->st, NULL, &synced, NULL);
        if (synced < before + 1) a->bad++; /* returned before its commit was synced */
        pl_dlg_turn_deinit(&t);
    }
    pl_dlg_state_destroy(s);
    return NULL;
}

START_TEST(test_store_group_commit) {
    char path[256];
    tmp_path(path, sizeof path);
    struct pl_dlg_store_opts o = {.sync_full = true};
    struct pl_dlg_store *st = NULL;
    ck_assert_int_eq(pl_dlg_store_open(path, &o, &st), PL_OK);
    enum { THREADS = 8, TURNS = 25 };
    pthread_t th[THREADS];
    struct sync_arg args[THREADS];
    for (int i = 0; i < THREADS; i++) {
        args[i] = (struct sync_arg){st, i, TURNS, 0};
        ck_assert_int_eq(pthread_create(&th[i], NULL, sync_writer, &args[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(args[i].bad, 0);
    }
    uint64_t commits = 0, synced = 0, fsyncs = 0;
    pl_dlg_store_sync_stats(st, &commits, &synced, &fsyncs);
    ck_assert_uint_eq(commits, THREADS * (TURNS + 1)); /* and the session creations */
    ck_assert_uint_eq(synced, commits);
    ck_assert_uint_ge(fsyncs, 1);
    ck_assert_uint_le(fsyncs, commits);
    pl_dlg_store_close(st);

    /* without sync_full nothing waits for the disk and nothing is counted as synced */
    ck_assert_int_eq(pl_dlg_store_open(path, NULL, &st), PL_OK);
    struct pl_dlg_state *s = NULL;
    ck_assert_int_eq(pl_dlg_store_session_create(st, "dave", "t", "", NULL, 100, &s), PL_OK);
    pl_dlg_state_destroy(s);
    pl_dlg_store_sync_stats(st, &commits, &synced, &fsyncs);
    ck_assert_uint_eq(commits, 1);
    ck_assert_uint_eq(synced, 0);
    ck_assert_uint_eq(fsyncs, 0);
    pl_dlg_store_close(st);
    rm_db(path);
}
END_TEST

START_TEST(test_store_migrations) {
    char path[256];
    tmp_path(path, sizeof path);
    struct pl_dlg_store_opts o = PL_DLG_STORE_OPTS_INIT;
    o.max_version = 1;
    struct pl_dlg_store *st = NULL;
    ck_assert_int_eq(pl_dlg_store_open(path, &o, &st), PL_OK);
    ck_assert_int_eq(pl_dlg_store_version(st), 1);
    struct pl_dlg_state *s = NULL;
    ck_assert_int_eq(pl_dlg_store_session_create(st, "u", "t", "", NULL, 1, &s), PL_OK);
    char sid[PL_DLG_ID_LEN];
    snprintf(sid, sizeof sid, "%s", s->session_id);
    pl_dlg_state_destroy(s);
    struct pl_dlg_record *r = NULL;
    int n = 0;
    ck_assert_int_eq(pl_dlg_store_records(st, "u", "booking", &r, &n), PL_E_UNSUPPORTED);
    pl_dlg_store_close(st);
    /* reopen with this build: migrated to the latest, the version-1 data kept */
    ck_assert_int_eq(pl_dlg_store_open(path, NULL, &st), PL_OK);
    ck_assert_int_eq(pl_dlg_store_version(st), pl_dlg_store_latest_version());
    ck_assert_int_eq(pl_dlg_store_session_load(st, "u", sid, &s), PL_OK);
    pl_dlg_state_destroy(s);
    ck_assert_int_eq(pl_dlg_store_records(st, "u", "booking", &r, &n), PL_OK);
    pl_dlg_store_close(st);
    rm_db(path);
    /* a file of something else is refused */
    FILE *fp = fopen(path, "w");
    fputs("not a database at all, just text that is long enough to be a header", fp);
    fclose(fp);
    ck_assert_int_ne(pl_dlg_store_open(path, NULL, &st), PL_OK);
    ck_assert_ptr_null(st);
    rm_db(path);
}
END_TEST

Suite *pl_dialog_suite(void) {
    Suite *s = suite_create("dialog");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_spec_errors);
    tcase_add_test(tc, test_shipped_spec_loads);
    tcase_add_test(tc, test_turn_wants_entities);
    tcase_add_test(tc, test_spec_with_nlu_examples);
    tcase_add_test(tc, test_templates_and_numbers);
    tcase_add_test(tc, test_form_and_correction);
    tcase_add_test(tc, test_context_switch_and_resume);
    tcase_add_test(tc, test_records_and_fallback);
    tcase_add_test(tc, test_store_persistence_and_scoping);
    tcase_add_test(tc, test_store_migrations);
    tcase_add_test(tc, test_store_group_commit);
    suite_add_tcase(s, tc);
    return s;
}
