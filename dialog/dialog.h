/*
 * dialog.h - Parley's dialog manager core (library parley_dialog_core): dialog specs, the turn
 * policy over a session's stack of contexts, and the durable state in SQLite. docs/dialog.md
 * describes the spec format, the policy and the schema; services/dialog/ serves it over NATS.
 *
 * Layers, one file each:
 *   dialog_yaml.c    YAML (or JSON) text -> a small node tree with line numbers (libyaml)
 *   dialog_spec.c    node tree -> a validated spec: slots, intents, flows, responses
 *   dialog_text.c    text helpers: templates with {slot} and variations, number words,
 *                    keyword phrases, yes/no
 *   dialog_engine.c  one user turn: intent routing, form filling, confirmation, context
 *                    switch and resume, actions, fallbacks; produces replies, events, effects
 *   dialog_store.c   SQLite (WAL): users, sessions, contexts, slots, the event log, records
 *   dialog_external.c external actions' JSON, a webhook's POST (blocking), a turn's replay
 *   dialog_http.c    webhook calls of many turns on one I/O thread (libcurl multi)
 *
 * Thread-safety: a spec is immutable after load and may be shared by any number of threads. A
 * state (pl_dlg_state) and a turn (pl_dlg_turn) belong to one thread at a time. The store
 * serializes its statements (one connection under a mutex) and may be used from any thread.
 */
#ifndef PL_DIALOG_H
#define PL_DIALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PL_DLG_ID_LEN 33 /* 32 hex digits + NUL: session and context ids */

/* ---- specs (dialog_spec.c) ------------------------------------------------------------------ */

struct pl_dlg_spec;

/*
 * Load and validate a dialog spec file (.yaml, .yml or .json; JSON is read as YAML). Every
 * problem is PL_E_FORMAT with a message "FILE:LINE: KEY.PATH: what" (unknown key, missing
 * required key, wrong type, a reference to an undefined slot/response/flow, a cycle of flows
 * started by flows). OUT: *out (caller owns; pl_dlg_spec_destroy). PL_E_IO when unreadable.
 */
pl_status pl_dlg_spec_load(const char *path, struct pl_dlg_spec **out);
/* The same from text in memory; name stands for the file in messages. */
pl_status pl_dlg_spec_parse(const char *name, const char *text, size_t len,
                            struct pl_dlg_spec **out);
void pl_dlg_spec_destroy(struct pl_dlg_spec *s); /* NULL is a no-op */
const char *pl_dlg_spec_name(const struct pl_dlg_spec *s); /* the `dialog:` key */
/* Does some slot of the spec take values from named entities (`entities:`)? The service asks
 * parley-nlu for entities only then. */
bool pl_dlg_spec_uses_entities(const struct pl_dlg_spec *s);
/* The NLU model the spec's sessions are understood with (`settings.nlu_model`: a model trained
 * from its own examples), or NULL: the pipeline's, else parley-nlu's default. */
const char *pl_dlg_spec_nlu_model(const struct pl_dlg_spec *s);

/* ---- pipelines (dialog_pipeline.c) ----------------------------------------------------------- */

/*
 * A pipeline (pipelines/NAME.json, docs/pipelines.md) names the stages a conversation runs
 * and the models and options of each. A stage that is absent does not run: no asr = audio is
 * refused, no nlu = no intent (keywords and answers only), no dialog = every utterance goes to
 * the knowledge base (qa), no tts = replies are text only. Strings "" = the serving worker's
 * default. Immutable after load; shared by any number of threads.
 */
struct pl_dlg_pipeline {
    char *name;        /* the `pipeline` key (owned) */
    char *file;        /* where it came from (owned) */
    char *description; /* (owned; may be "") */
    bool has_asr, has_nlu, has_dialog, has_qa, has_tts;
    struct {
        char *model;         /* ASR model (StreamingRecognize config.model) */
        char *language_code; /* "en-US" by default */
        int silence_ms;      /* hands-free: silence that ends an utterance; 0 = the ASR's */
        int eot_silence_ms;  /* hands-free: the short silence that ends a complete-looking
                                turn (end_of_turn_silence_ms); 0 = the service's, -1 = off */
        float eot_min_confidence; /* the NLU confidence that makes it complete; 0 = the
                                     service's (end_of_turn_min_confidence) */
        int eot_tone;        /* the tone of the voice decides when known (end_of_turn_tone):
                                0 = the service's, 1 = on, -1 = off */
        char *eot_model;     /* the end-of-turn classifier (end_of_turn_model): NULL = the
                                service's, "" = none (the intent confidence decides) */
        float eot_min_complete; /* its P(complete) that ends the turn; 0 = the service's */
    } asr;
    struct {
        bool enabled; /* punctuate each utterance (parley-nlu PunctuateText) before the NLU */
        char *model;
    } punctuation;
    struct {
        char *model;   /* AnalyzeIntent options.domain: a model name or domain */
        bool entities; /* ask for named entities when the spec maps some (default true) */
    } nlu;
    struct {
        char *spec; /* dialog spec of new sessions; "" = the server's default */
    } dialog;
    struct {
        char *knowledge_base; /* "default": the knowledge base parley-qa serves */
        int top_n;            /* answers asked of parley-qa (n-best, 1..10) */
        float threshold;      /* the first answer scoring at least this is said (0..1) */
    } qa;
    struct {
        char *voice;        /* "" = parley-dialog's dialog.tts_voice */
        int sample_rate_hz; /* 0 = dialog.tts_sample_rate */
        int encoding;       /* nvidia.riva.AudioEncoding number; 0 = LINEAR_PCM */
    } tts;
};

/*
 * Load and validate a pipeline file (JSON). Every problem is PL_E_FORMAT "FILE:LINE: KEY.PATH:
 * what" (JSON syntax with its line and column, unknown key, wrong type, value out of range, a
 * stage combination that cannot answer). PL_E_IO when unreadable. OUT: *out (caller owns;
 * pl_dlg_pipeline_destroy).
 */
pl_status pl_dlg_pipeline_load(const char *path, struct pl_dlg_pipeline **out);
/* The same from text in memory; name stands for the file in messages. */
pl_status pl_dlg_pipeline_parse(const char *name, const char *text, size_t len,
                                struct pl_dlg_pipeline **out);
void pl_dlg_pipeline_destroy(struct pl_dlg_pipeline *p); /* NULL is a no-op */

/* ---- end of turn (dialog_eot.c) ------------------------------------------------------------- */

/* What a short pause in hands-free speech does with the words heard so far. */
enum pl_dlg_eot_verdict {
    PL_DLG_EOT_WAIT_WORDS = 1,  /* the last word leaves the sentence open: wait for the window */
    PL_DLG_EOT_ASK_NLU = 2,     /* the words could end: the NLU's intent score decides */
    PL_DLG_EOT_WAIT_INTENT = 3, /* no intent at min_confidence: wait for the window */
    PL_DLG_EOT_END_INTENT = 4,  /* a complete request: end the turn now */
    PL_DLG_EOT_END_ANSWER = 5,  /* the answer to the prompt just spoken: end the turn now */
    PL_DLG_EOT_END_TONE = 6,    /* the voice fell as at the end of a clause: end the turn now */
    PL_DLG_EOT_WAIT_TONE = 7,   /* the voice rose, as before more words: wait */
};

/* What the tone before the pause says (pl_dlg_eot_prosody, pl_dlg_eot_tone_of). */
enum pl_dlg_eot_tone {
    PL_DLG_EOT_TONE_UNKNOWN = 0, /* not measured, or too little voiced speech */
    PL_DLG_EOT_TONE_FALLS = 1,   /* the pitch falls: the end of a clause */
    PL_DLG_EOT_TONE_LEVEL = 2,   /* between: the tone says nothing */
    PL_DLG_EOT_TONE_RISES = 3,   /* the pitch rises: more is coming */
};

/* Whether text (an interim transcript) may end an English utterance: it has a word, and its
 * last word is not an article, a preposition that needs an object, a conjunction, a
 * possessive, a subject pronoun or a filler ("um"). Case and punctuation do not matter. */
bool pl_dlg_eot_words_complete(const char *text);
/* The decision for text after a short pause. awaiting: the dialog's last prompt asked for a
 * slot or a confirmation (any complete words answer it); intent_score: the NLU's confidence
 * in its intent for text, negative when not asked yet (then PL_DLG_EOT_ASK_NLU when the
 * words pass). Pure; thread-safe. */
enum pl_dlg_eot_verdict pl_dlg_eot_judge(const char *text, bool awaiting, float intent_score,
                                         float min_confidence);
/* The tone of the speech before a pause, from the audio (pl_dlg_eot_prosody). A clause that
 * ends falls in pitch over its last syllables; one that goes on after a comma or a hesitation
 * mostly holds its pitch or rises. */
struct pl_dlg_eot_prosody {
    float speech_end_s;    /* where the speech ends in the buffer (last 10 ms frame above 5% of
                              the loudest frame's RMS) */
    float pause_s;         /* the buffer after it */
    int voiced;            /* voiced 10 ms frames in the last 400 ms of speech */
    float last_voiced_ms;  /* the final voiced run */
    float f0_median_hz;    /* median F0 of the buffer's voiced frames (the speaker's middle) */
    float f0_end_hz;       /* median F0 of the last 3 voiced frames */
    float f0_end_rel_st;   /* f0_end against f0_median, semitones (negative: below) */
    float f0_slope_st;     /* least-squares F0 slope over the final stretch, semitones/s */
    float energy_slope_db; /* RMS slope over the last 200 ms of speech, dB/s */
};
/* Measure the tone of mono audio x (n samples at rate, the latest audio: speech then a pause)
 * by autocorrelation pitch tracking (60-400 Hz, 10 ms frames, on the audio decimated to about
 * 8 kHz). Returns true when the final stretch has enough voiced frames (5) for the pitch
 * fields; false leaves them 0 (too short, silent, unvoiced ending). Pure; thread-safe. */
bool pl_dlg_eot_prosody(const float *x, size_t n, int rate, struct pl_dlg_eot_prosody *out);

/* The tone of p (from pl_dlg_eot_prosody; NULL or without 5 voiced frames: unknown) from the
 * pitch slope over the last 400 ms of speech (semitones per second): at most fall_slope it
 * falls, above rise_slope it rises, else level. */
enum pl_dlg_eot_tone pl_dlg_eot_tone_of(const struct pl_dlg_eot_prosody *p, float fall_slope,
                                        float rise_slope);
/* pl_dlg_eot_judge with the tone: when the words can end and no prompt waits, a falling tone
 * ends the turn (PL_DLG_EOT_END_TONE) and a rising one waits (PL_DLG_EOT_WAIT_TONE) without
 * the NLU; a level or unknown tone leaves it to intent_score as pl_dlg_eot_judge does. Pure;
 * thread-safe. */
enum pl_dlg_eot_verdict pl_dlg_eot_judge_tone(const char *text, bool awaiting,
                                              enum pl_dlg_eot_tone tone, float intent_score,
                                              float min_confidence);
/* A short description of v for logs ("end: a complete request"); static. */
const char *pl_dlg_eot_verdict_name(enum pl_dlg_eot_verdict v);

/* ---- session state (dialog_engine.c) -------------------------------------------------------- */

enum pl_dlg_ctx_state { PL_DLG_CTX_OPEN = 1, PL_DLG_CTX_CLOSED = 2 };
enum pl_dlg_session_state { PL_DLG_SESSION_ACTIVE = 1, PL_DLG_SESSION_ENDED = 2 };

struct pl_dlg_kv {
    char *name;  /* owned */
    char *value; /* owned */
};

/* One context: a conversation of the session, with the flow it serves and its slots. */
struct pl_dlg_ctx {
    char id[PL_DLG_ID_LEN];
    char *name;     /* client label; "" when none (owned) */
    char *flow;     /* flow being served; "" = idle (owned) */
    char *awaiting; /* what the last prompt asked: a slot name, "!confirm", or "" (owned) */
    enum pl_dlg_ctx_state state;
    int64_t activated; /* activation order: the open context with the largest is active */
    int turn_count;    /* user turns taken in this context */
    int fallbacks;     /* consecutive turns not understood (fallback policy) */
    struct pl_dlg_kv *slots;
    int n_slots;
    int64_t created_ms, updated_ms;
    bool dirty; /* changed since loaded: the store writes it back */
};

/* A session and its open contexts (closed ones appear only while a turn closes them). */
struct pl_dlg_state {
    char session_id[PL_DLG_ID_LEN];
    char *user;     /* owner (owned) */
    char *dialog;   /* spec name (owned) */
    char *language; /* BCP-47 (owned) */
    enum pl_dlg_session_state state;
    int64_t created_ms, last_active_ms, ended_ms;
    int64_t next_activation; /* next pl_dlg_ctx.activated value */
    struct pl_dlg_ctx *ctx;  /* [n_ctx] (owned) */
    int n_ctx;
    /* Ids the contexts this state creates take, in order, before random ones (borrowed; a
     * turn run again after a webhook's answer opens the contexts its first run named in the
     * webhook's request: struct pl_dlg_replay). */
    const char (*preset_ids)[PL_DLG_ID_LEN];
    int n_preset_ids, next_preset_id;
};

/* Allocate an empty state (no contexts). OUT: *out (caller owns; pl_dlg_state_destroy). */
pl_status pl_dlg_state_create(const char *session_id, const char *user, const char *dialog,
                              const char *language, struct pl_dlg_state **out);
void pl_dlg_state_destroy(struct pl_dlg_state *s); /* NULL is a no-op */
/* The active context (open, largest activation), or NULL when none is open. Borrowed. */
struct pl_dlg_ctx *pl_dlg_state_active(struct pl_dlg_state *s);
struct pl_dlg_ctx *pl_dlg_state_find(struct pl_dlg_state *s, const char *context_id);
/* Slot value of a context, or NULL. Borrowed. */
const char *pl_dlg_ctx_slot(const struct pl_dlg_ctx *c, const char *name);
/* Set (value non-NULL) or clear (NULL) a slot; marks the context dirty. */
pl_status pl_dlg_ctx_set_slot(struct pl_dlg_ctx *c, const char *name, const char *value);

/* ---- a turn: its input, what it produces ------------------------------------------------- */

/* One NLU slot as parley-nlu's AnalyzeIntent gives it (the label without B-/I-). */
struct pl_dlg_nlu_slot {
    const char *label; /* "party_size_number" (borrowed) */
    const char *value; /* "four" (borrowed) */
    float score;
    int start, end; /* byte offsets in the utterance; -1 when unknown */
};

/* The understanding of one utterance (borrowed for the turn). intent NULL or "" = none
 * (NLU unavailable, or no domain matched). */
struct pl_dlg_nlu {
    const char *intent;
    float score;
    const struct pl_dlg_nlu_slot *slots;
    int n_slots;
    /* named entities (parley-nlu AnalyzeEntities): label = the type (PER, LOC, ORG, MISC);
     * they fill slots whose `entities:` name the type when no NLU slot does */
    const struct pl_dlg_nlu_slot *entities;
    int n_entities;
};

/* What the log keeps of a turn, in order: the kind names the HistoryEvent payload. */
enum pl_dlg_ev_kind {
    PL_DLG_EV_USER = 1,   /* data: {"text"} */
    PL_DLG_EV_NLU = 2,    /* data: {"text","intent","score","slots":[{name,value,score,start,end}],
                             "entities" (when any): the same} */
    PL_DLG_EV_SLOT = 3,   /* data: {"name","value","source"} (value "" = cleared; source:
                             nlu, entity, answer, action) */
    PL_DLG_EV_ACTION = 4, /* data: {"name","arguments":{},"result","ok","error","duration_ms"} */
    PL_DLG_EV_BOT = 5,    /* data: {"text","response","expects_input"} */
    PL_DLG_EV_EVENT = 6,  /* data: {"type" (EventType number),"detail","attributes":{}} */
};

struct pl_dlg_event {
    enum pl_dlg_ev_kind kind;
    char context_id[PL_DLG_ID_LEN]; /* "" = session-wide */
    int turn;                       /* turn within the context; 0 = not part of a turn */
    int64_t time_ms;
    char *data; /* JSON object (owned) */
};

/* EventType numbers of dialog.proto used in PL_DLG_EV_EVENT. */
enum pl_dlg_event_type {
    PL_DLG_E_SESSION_CREATED = 1,
    PL_DLG_E_SESSION_ENDED = 2,
    PL_DLG_E_CONTEXT_CREATED = 3,
    PL_DLG_E_CONTEXT_SWITCHED = 4,
    PL_DLG_E_CONTEXT_CLOSED = 5,
    PL_DLG_E_SLOT_SET = 8,
    PL_DLG_E_ACTION_STARTED = 9,
    PL_DLG_E_ACTION_FINISHED = 10,
    PL_DLG_E_TURN_COMPLETE = 11,
    PL_DLG_E_ERROR = 12,
};

/* A change to the per-user records (bookings, playlist entries) that the store applies in the
 * turn's transaction. */
struct pl_dlg_effect {
    bool cancel;   /* false: save a new record; true: cancel record id */
    char *kind;    /* "booking" (owned) */
    char *data;    /* save: JSON object of the record's fields (owned) */
    int64_t id;    /* cancel: the record */
};

struct pl_dlg_reply {
    char *text;     /* owned */
    char *response; /* response name ("ask_party_size") (owned) */
    bool expects_input;
};

/* Everything one turn (or one explicit context operation) produced. */
struct pl_dlg_turn {
    struct pl_dlg_reply *replies;
    int n_replies;
    struct pl_dlg_event *events;
    int n_events;
    struct pl_dlg_effect *effects;
    int n_effects;
    char *intent;       /* the spec intent chosen ("" = none) (owned) */
    char context_id[PL_DLG_ID_LEN]; /* context the turn ran in (active at its start or opened) */
    int turn;           /* its turn number there */
    bool switched;      /* the turn opened or switched context */
    bool calls_out;     /* opts.local_only: the turn stopped (PL_E_CANCELLED) at a step that
                           calls out of the process; nothing of it stands, run it again */
};
void pl_dlg_turn_init(struct pl_dlg_turn *t);
void pl_dlg_turn_deinit(struct pl_dlg_turn *t);
/* Append an event (data JSON copied). Errors: PL_E_NOMEM. */
pl_status pl_dlg_turn_event(struct pl_dlg_turn *t, enum pl_dlg_ev_kind kind, const char *ctx_id,
                            int turn, int64_t time_ms, const char *data);

/* ---- what a turn may call (the service: NATS and the store; tests: their own) ------------ */

/* One stored record. */
struct pl_dlg_record {
    int64_t id;
    char *kind;  /* owned */
    char *data;  /* JSON object (owned) */
    int64_t created_ms;
};
void pl_dlg_records_free(struct pl_dlg_record *r, int n);

struct pl_dlg_hooks_i {
    /* Answer a question from the knowledge base (parley-qa NaturalQuery with an empty
     * context). OUT: *answer (pl_malloc'd; "" or NULL = no answer). A non-OK return is an
     * action failure the turn reports (the turn itself goes on). */
    pl_status (*kb_answer)(void *ud, const char *question, int64_t deadline_us, char **answer);
    /* The user's active records of one kind, oldest first. OUT: *out (pl_dlg_records_free). */
    pl_status (*records)(void *ud, const char *user, const char *kind,
                         struct pl_dlg_record **out, int *n);
    /* The `nats` action: send body (a JSON object) to subject as user and wait at most
     * timeout_ms (and not past deadline_us) for the reply. OUT: *reply (pl_malloc'd,
     * NUL-terminated; caller frees), *len. Errors: PL_E_NOT_FOUND when nothing serves the
     * subject, PL_E_TIMEOUT, others from the responder's status; NULL hook = unavailable. */
    pl_status (*nats_request)(void *ud, const char *subject, const char *user, const char *body,
                              int timeout_ms, int64_t deadline_us, char **reply, size_t *len);
};

/* What one call out of the process gave a turn: a `webhook`, a `nats` action, `kb_answer`. */
struct pl_dlg_call {
    pl_status st;      /* PL_OK, or the failure (PL_E_TIMEOUT, PL_E_UNAVAILABLE, ...) */
    bool unconfigured; /* no URL configured / no responder on the subject */
    char *body;        /* the reply or the answer (owned, pl_malloc'd; NUL-terminated), or NULL */
    size_t len;
    int http_status;   /* webhooks: the last HTTP status (0 = none) */
    int attempts;
    char error[256];   /* why it failed ("" when st == PL_OK) */
    int64_t duration_ms; /* how long the call took (the action event's duration) */
};
void pl_dlg_call_deinit(struct pl_dlg_call *c);

/*
 * A turn that waits for its calls out without a thread (docs/dialog.md, "Threads"). With
 * opts.replay set, the turn's calls out are taken from `calls` in the order the turn makes
 * them; a webhook not there yet stops the turn (PL_E_CANCELLED, out->calls_out) with
 * `pending_kind` PL_DLG_CALL_WEBHOOK, `pending` its index in the spec and `pending_body` the
 * request to POST: nothing of the turn stands. With `defer_all`, a `nats` action (its subject
 * and timeout in pending_subject, pending_timeout_ms, the request in pending_body) and a
 * kb_answer (the question in pending_body) not there yet stop the turn the same way; without
 * it they are made here (blocking) and appended. The caller makes the call (pl_dlg_http_start
 * for a webhook, a NATS request for the others), appends its outcome and runs the turn again
 * on the same state as loaded, with the same replay: the policy is deterministic on the same
 * input, now_ms is kept, and the contexts the turn creates get the ids the first run gave
 * them (`ids`, taken from the state after a stopped run: pl_dlg_replay_keep_ids), so the
 * request names the context the stored turn has.
 */
enum pl_dlg_call_kind {
    PL_DLG_CALL_NONE = 0,
    PL_DLG_CALL_WEBHOOK = 1, /* pending: the webhook's index; pending_body: the POST's body */
    PL_DLG_CALL_NATS = 2,    /* pending_subject, pending_timeout_ms; pending_body: the request */
    PL_DLG_CALL_KB = 3,      /* kb_answer: pending_body is the question */
};
struct pl_dlg_replay {
    struct pl_dlg_call *calls; /* owned */
    int n_calls, cap_calls;
    int next;            /* during a run: the next call to take */
    bool defer_all;      /* nats and kb_answer calls stop the turn too (the caller makes them) */
    enum pl_dlg_call_kind pending_kind; /* after a stopped run: the call to make, else NONE */
    int pending;         /* ... a webhook: its index, else -1 */
    const char *pending_subject; /* ... a nats action: its subject (the spec's) */
    int pending_timeout_ms;      /* ... and its timeout_ms */
    char *pending_body;  /* ... the request, or kb_answer's question (owned) */
    int64_t now_ms;      /* the turn's clock, kept across runs (0 = set at the first) */
    char (*ids)[PL_DLG_ID_LEN]; /* owned */
    int n_ids;
    int n_loaded;        /* contexts of the state as loaded (pl_dlg_replay_prepare) */
};
void pl_dlg_replay_init(struct pl_dlg_replay *r);
void pl_dlg_replay_deinit(struct pl_dlg_replay *r);
/* Append a call's outcome (moved: *c is zeroed). Errors: PL_E_NOMEM (c freed). */
pl_status pl_dlg_replay_add(struct pl_dlg_replay *r, struct pl_dlg_call *c);
/* After a run stopped at a webhook: keep the ids of the contexts it created (those of st past
 * r->n_loaded). Errors: PL_E_NOMEM. */
pl_status pl_dlg_replay_keep_ids(struct pl_dlg_replay *r, const struct pl_dlg_state *st);
/* Before each run, on the state as loaded: its new contexts take r's ids, the calls are taken
 * from the first, the pending call is cleared. */
void pl_dlg_replay_prepare(struct pl_dlg_replay *r, struct pl_dlg_state *st);

struct pl_dlg_turn_opts {
    const struct pl_dlg_hooks_i *hooks; /* NULL: knowledge base and records unavailable */
    void *hooks_ud;
    int64_t now_ms;      /* wall clock of the turn (0 = now) */
    int64_t deadline_us; /* for the hooks; 0 = none */
    int tz_offset_min;   /* tell_time/tell_date: minutes east of UTC (0 = UTC) */
    /* Run only what needs nothing outside the process: at the first step that would call out
     * (kb_answer, webhook, nats) the turn stops with PL_E_CANCELLED and out->calls_out set,
     * so that the caller can run it again where waiting blocks no one (parley-dialog's
     * action pool). The records hook is local and still runs. */
    bool local_only;
    /* Calls out taken from and recorded in a replay, webhooks (and with defer_all every call
     * out) left to the caller (above); NULL: every call is made here, blocking. */
    struct pl_dlg_replay *replay;
};

/*
 * Run one user turn of `text` in the session's active context (docs/dialog.md, "The turn"):
 * keywords, intent routing, form filling from NLU slots or from the answer to the last prompt,
 * validation, confirmation and corrections, opening or switching contexts and resuming the
 * interrupted one, actions, fallbacks. state is updated in memory (contexts marked dirty);
 * out gets the replies, the log events (user text, NLU, slot changes, actions, replies) and
 * the record effects. Nothing is stored: the caller commits (pl_dlg_store_commit) before it
 * sends the replies. Errors: PL_E_INVALID_ARG (an ended session, empty text), PL_E_NOMEM;
 * failing hooks are not errors (the action is logged as failed, the reply says so).
 */
pl_status pl_dlg_turn_run(const struct pl_dlg_spec *spec, struct pl_dlg_state *state,
                          const char *text, const struct pl_dlg_nlu *nlu,
                          const struct pl_dlg_turn_opts *o, struct pl_dlg_turn *out);

/* Could a named entity fill a slot in a turn with this understanding (nlu's intent and
 * slots; its entities are not read)? The service asks parley-nlu for entities only then.
 * The turn takes an entity for a slot only when none of the utterance's NLU slots fills it
 * and the slot is empty in, or asked by, the context of a flow that holds it; the answer is
 * yes whenever that can happen: some slot with `entities:` is not filled by the NLU slots,
 * and a flow holding it may take the turn (an open context of state serving it with the slot
 * empty or asked, an intent of it named by the NLU intent or with keywords, a `start:` step
 * anywhere in the spec). state NULL (not known): yes whenever some such slot is unfilled. */
bool pl_dlg_turn_wants_entities(const struct pl_dlg_spec *spec, const struct pl_dlg_state *state,
                                const struct pl_dlg_nlu *nlu);

/* A turn that only asks the knowledge base (a pipeline without a dialog stage: document_qa):
 * the utterance goes to the kb_answer hook and its answer is the reply (else the spec's
 * kb_no_answer / kb_unavailable); logged and committed like any turn. Errors as above. */
pl_status pl_dlg_turn_run_kb(const struct pl_dlg_spec *spec, struct pl_dlg_state *state,
                             const char *text, const struct pl_dlg_turn_opts *o,
                             struct pl_dlg_turn *out);

/* Open a new context (idle, with initial slots kv[0..n)); activate it when asked. Events go
 * to out. OUT: *ctx (borrowed from state). Errors: PL_E_INVALID_ARG (ended session). */
pl_status pl_dlg_context_create(struct pl_dlg_state *state, const char *name,
                                const struct pl_dlg_kv *kv, int n, bool activate, int64_t now_ms,
                                struct pl_dlg_turn *out, struct pl_dlg_ctx **ctx);
/* Make an open context of the session the active one. PL_E_NOT_FOUND when context_id is not
 * an open context of this session. OUT: previous active id (may be ""). */
pl_status pl_dlg_context_switch(struct pl_dlg_state *state, const char *context_id,
                                int64_t now_ms, struct pl_dlg_turn *out,
                                char previous[PL_DLG_ID_LEN]);

/* ---- webhooks on one I/O thread (dialog_http.c) ------------------------------------------ */

/* Webhook calls in flight, driven by libcurl's multi interface on one thread of their own:
 * waiting for a webhook holds no other thread (docs/dialog.md, "Threads"). */
struct pl_dlg_http;
/* Start the I/O thread. Errors: PL_E_NOMEM, PL_E_UNAVAILABLE (libcurl). OUT: *out. */
pl_status pl_dlg_http_create(struct pl_dlg_http **out);
/* Stop the thread: calls in flight end at once (PL_E_CANCELLED, done called), and so do calls
 * started from then on (done called before pl_dlg_http_start returns), so that turns still
 * running elsewhere may go on calling it until they are all done. NULL is a no-op. */
void pl_dlg_http_stop(struct pl_dlg_http *h);
/* pl_dlg_http_stop, then free: no call may be started any more. NULL is a no-op. */
void pl_dlg_http_destroy(struct pl_dlg_http *h);
/* POST body to webhook `webhook` of spec as the blocking call does (per attempt at most its
 * timeout_ms, never past deadline_us; retries with backoff on timeouts, connection errors,
 * 5xx and 429; http(s) only, no redirects, at most 64 KiB back), and call done(ud, call) on
 * the I/O thread with the outcome (done takes call's contents: pl_dlg_call_deinit). done is
 * always called once, also when the call cannot start. spec must outlive the call. Returns
 * the call's id for pl_dlg_http_cancel (0 when done has run already: the call could not
 * start). */
uint64_t pl_dlg_http_start(struct pl_dlg_http *h, const struct pl_dlg_spec *spec, int webhook,
                           const char *body, int64_t deadline_us,
                           void (*done)(void *ud, struct pl_dlg_call *call), void *ud);
/* End call id at once if it is still in flight: its transfer is removed (libcurl closes its
 * connection), no further attempt is made, and its done runs on the I/O thread soon after
 * with PL_E_CANCELLED ("webhook 'NAME': the turn was cancelled"). A call that has finished
 * (its done has run or runs now), id 0 or a stopped h: nothing happens. Any thread. */
void pl_dlg_http_cancel(struct pl_dlg_http *h, uint64_t id);
/* Calls in flight now (tests, logs). */
int pl_dlg_http_in_flight(struct pl_dlg_http *h);

/* ---- text helpers (dialog_text.c) ----------------------------------------------------------- */

/* The number a phrase says: digits ("4", "12") or English words up to ninety-nine ("four",
 * "twenty one", "a dozen"), the first found in text. Returns false when there is none. */
bool pl_dlg_parse_number(const char *text, long *out);
/* Lowercase, punctuation to spaces, single spaces, trimmed. OUT: caller owns (pl_free). */
char *pl_dlg_normalize(const char *text);
/* Does normalized text contain phrase (normalized) as whole words? */
bool pl_dlg_has_phrase(const char *norm_text, const char *norm_phrase);
int pl_dlg_word_count(const char *norm_text);

/* Variables a template may use besides slots; NULL value = unset. */
struct pl_dlg_vars {
    const struct pl_dlg_kv *kv;
    int n;
};
/*
 * Fill a template: "{name}" is a variable (looked up in vars first, then slots) and
 * "{name|filter}" applies lower, upper, title or capfirst; "{{" and "}}" are braces. Returns
 * PL_E_NOT_FOUND (nothing written) when a referenced name has no value.
 * OUT: *out (caller owns; pl_free).
 */
pl_status pl_dlg_template_fill(const char *tmpl, const struct pl_dlg_vars *vars,
                               const struct pl_dlg_kv *slots, int n_slots, char **out);

/* ---- the store (dialog_store.c) ------------------------------------------------------------- */

struct pl_dlg_store;

struct pl_dlg_store_opts {
    bool sync_full;      /* a write returns once its commit is fsynced (a group commit: one
                          * fdatasync of the WAL for the commits made meanwhile); false: once
                          * it is in the WAL file (a process crash loses nothing, a power loss
                          * or a file system turned read-only may lose the last commits) */
    int max_version;     /* migrate up to this schema version (0 = latest; tests) */
    int busy_timeout_ms; /* another process holding the file (default 5000) */
    /* Partitioned sessions (docs/deployment.md, "Dialog shards"): new session ids begin with
     * the shard's two hex digits (shard 0..255), so that the gateway routes later calls to
     * this replica; false = random ids (one replica holds every session). */
    bool sharded;
    int shard;
};
#define PL_DLG_STORE_OPTS_INIT {false, 0, 5000, false, 0}

/* The newest schema version this build knows. */
int pl_dlg_store_latest_version(void);

/* Open (creating the file and its directory) and migrate to the newest schema version. A file
 * that is not writable (at the newest version) opens read-only: reads work, every write fails
 * as below.
 * Errors: PL_E_IO, PL_E_FORMAT (not a dialog store, or a newer schema than this build's).
 * OUT: *out (caller owns; pl_dlg_store_close).
 * Every call that writes (session create/end, commit, delete, expire) fails with
 * PL_E_UNAVAILABLE "dialog store PATH is read-only: ..." when the file or its directory cannot
 * be written, and PL_E_EXHAUSTED "dialog store PATH: disk full: ..." when the file system
 * refuses to grow a file (ENOSPC, EFBIG past RLIMIT_FSIZE, EDQUOT); nothing of that call is
 * stored and what was committed before stays. */
pl_status pl_dlg_store_open(const char *path, const struct pl_dlg_store_opts *o,
                            struct pl_dlg_store **out);
void pl_dlg_store_close(struct pl_dlg_store *st); /* NULL is a no-op */
int pl_dlg_store_version(struct pl_dlg_store *st);
const char *pl_dlg_store_path(const struct pl_dlg_store *st);
/* True when the store was opened read-only (the file is not writable). */
bool pl_dlg_store_read_only(struct pl_dlg_store *st);

/* Create a session for user (the user row too) with its first context, idle and active; its
 * SESSION_CREATED and CONTEXT_CREATED events are logged. metadata_json: a JSON object or NULL.
 * OUT: *out (caller owns). */
pl_status pl_dlg_store_session_create(struct pl_dlg_store *st, const char *user,
                                      const char *dialog, const char *language,
                                      const char *metadata_json, int64_t now_ms,
                                      struct pl_dlg_state **out);
/* Load a session of user with its open contexts. PL_E_NOT_FOUND when there is no such
 * session or it belongs to another user (the same message either way). */
pl_status pl_dlg_store_session_load(struct pl_dlg_store *st, const char *user,
                                    const char *session_id, struct pl_dlg_state **out);
/* A session's metadata (JSON object text; caller owns, pl_free). */
pl_status pl_dlg_store_session_metadata(struct pl_dlg_store *st, const char *user,
                                        const char *session_id, char **json);
/* End a session: contexts closed, state ENDED, an event logged. Ending an ended session is
 * a no-op. PL_E_NOT_FOUND as above. */
pl_status pl_dlg_store_session_end(struct pl_dlg_store *st, const char *user,
                                   const char *session_id, int64_t now_ms);

/*
 * Write back a turn in one transaction: the session's changed contexts and slots, the turn's
 * events (numbered after the session's last), its record effects, last_active_ms. Durable
 * against a crash of the process when this returns (WAL; against power loss too with
 * sync_full). Errors: PL_E_IO (SQLite, including SQLITE_FULL), PL_E_NOMEM; on error nothing
 * of the turn is stored, except when the commit's fsync (sync_full) fails: then the turn is
 * in the WAL but may not be on disk (PL_E_EXHAUSTED, PL_E_UNAVAILABLE for a read-only file
 * system, PL_E_IO). Clears the contexts' dirty marks once committed.
 */
pl_status pl_dlg_store_commit(struct pl_dlg_store *st, struct pl_dlg_state *s,
                              const struct pl_dlg_turn *t, int64_t now_ms);

/* Since the store was opened: commits made, commits known to be on disk (sync_full: each
 * write call returns only once its commit is counted here) and fsyncs of the WAL that made
 * them so (fewer than the commits when writers overlap). Any pointer may be NULL. */
void pl_dlg_store_sync_stats(struct pl_dlg_store *st, uint64_t *commits, uint64_t *synced,
                             uint64_t *fsyncs);

/* Every context of a session, open and (when asked) closed, oldest first. OUT: *out
 * (caller owns; destroy with pl_dlg_state_destroy): a state whose ctx[] holds them. */
pl_status pl_dlg_store_contexts(struct pl_dlg_store *st, const char *user,
                                const char *session_id, bool include_closed,
                                struct pl_dlg_state **out);

struct pl_dlg_hist {
    int64_t seq;
    struct pl_dlg_event ev; /* data owned */
};
void pl_dlg_hist_free(struct pl_dlg_hist *h, int n);
/* Events of a session (or one of its contexts: context_id non-empty) with seq > after_seq,
 * oldest first, at most limit; *more when others follow. PL_E_NOT_FOUND as above. */
pl_status pl_dlg_store_history(struct pl_dlg_store *st, const char *user, const char *session_id,
                               const char *context_id, int64_t after_seq, int limit,
                               struct pl_dlg_hist **out, int *n, bool *more);

/* The user's active records of a kind, oldest first. */
pl_status pl_dlg_store_records(struct pl_dlg_store *st, const char *user, const char *kind,
                               struct pl_dlg_record **out, int *n);

/* Delete everything of a user (sessions, contexts, slots, events, records, the user row).
 * OUT: *n_sessions (opt) how many sessions went. */
pl_status pl_dlg_store_delete_user(struct pl_dlg_store *st, const char *user, int *n_sessions);

/* Retention: end sessions idle longer than idle_ms (0 = never) and delete sessions ended more
 * than ttl_ms ago (0 = keep), with their contexts and events. OUT: counts (opt). */
pl_status pl_dlg_store_expire(struct pl_dlg_store *st, int64_t now_ms, int64_t idle_ms,
                              int64_t ttl_ms, int *n_ended, int *n_deleted);

#ifdef __cplusplus
}
#endif
#endif
