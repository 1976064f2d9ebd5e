/*
 * dialog_impl.h - the dialog core's private structures: the YAML node tree and the loaded
 * spec. Only the dialog core's sources and the unit tests include it.
 */
#ifndef PL_DIALOG_IMPL_H
#define PL_DIALOG_IMPL_H

#include "dialog.h"

/* ---- YAML node tree (dialog_yaml.c) ------------------------------------------------------- */

enum pl__dy_type { PL__DY_SCALAR, PL__DY_SEQ, PL__DY_MAP };

struct pl__dy {
    enum pl__dy_type type;
    int line;      /* 1-based line where the node starts */
    char *scalar;  /* SCALAR: its text (owned) */
    char **keys;   /* MAP: keys[i] names items[i] (owned) */
    int *key_lines;
    struct pl__dy **items; /* SEQ and MAP children (owned) */
    int n;
};

/* Parse YAML (JSON is YAML) into a tree: one document, anchors and aliases refused, duplicate
 * keys refused. Errors: PL_E_FORMAT "NAME:LINE: ..." . OUT: *out (pl__dy_free). */
pl_status pl__dy_parse(const char *name, const char *text, size_t len, struct pl__dy **out);
void pl__dy_free(struct pl__dy *n);
/* The child of map m under key, or NULL. */
struct pl__dy *pl__dy_get(const struct pl__dy *m, const char *key);

/* ---- the spec (dialog_spec.c) -------------------------------------------------------------- */

enum pl__dlg_slot_type { PL__SLOT_TEXT, PL__SLOT_NUMBER, PL__SLOT_CHOICE };

struct pl__dlg_slot {
    char *name;
    enum pl__dlg_slot_type type;
    char **nlu; /* NLU slot labels that fill it */
    int n_nlu;
    char **entities; /* NER entity types that fill it when no NLU slot does (PER, LOC, ...) */
    int n_entities;
    long min, max; /* number: valid range */
    bool has_min, has_max;
    char **choices; /* choice: allowed values (normalized) */
    int n_choices;
    char **strip; /* leading words dropped from a typed answer ("in", "at") (normalized) */
    int n_strip;
    int prompt;  /* response index asked when the slot is missing; -1 = the flow's default */
    int invalid; /* response index said when a value fails validation; -1 = generic */
};

struct pl__dlg_response {
    char *name;
    char **texts; /* variations */
    int n;
};

enum pl__dlg_step_kind { PL__STEP_SAY, PL__STEP_ACTION, PL__STEP_START };

enum pl__dlg_action {
    PL__ACT_KB_ANSWER,
    PL__ACT_TELL_TIME,
    PL__ACT_TELL_DATE,
    PL__ACT_SET_SLOT,
    PL__ACT_CLEAR_SLOT,
    PL__ACT_CLOSE,
    PL__ACT_SAVE,
    PL__ACT_LIST,
    PL__ACT_CANCEL,
    PL__ACT_WEBHOOK, /* an HTTP endpoint declared under `webhooks:` (dialog_external.c) */
    PL__ACT_NATS,    /* request/reply on a NATS subject through the service's connection */
};

/* An HTTP endpoint a spec may call (top-level `webhooks:`); the only URLs a dialog reaches. */
struct pl__dlg_webhook {
    char *name;
    char *url;     /* resolved at load: url_env's value when set, else `url`; "" = unconfigured */
    char *url_env; /* the environment variable the operator sets it with, or NULL */
    int timeout_ms; /* per attempt */
    int retries;    /* attempts after the first, on timeouts, refused connections and 5xx/429 */
    char **headers; /* "Name: value" lines sent with every call */
    int n_headers;
    int line;
};

struct pl__dlg_step {
    enum pl__dlg_step_kind kind;
    int response;              /* SAY: response; ACTION: response said after (-1 = none) */
    enum pl__dlg_action action;
    int empty;                 /* ACTION: response when the action yields nothing (-1) */
    int item;                  /* LIST/CANCEL: response rendering one record (-1 = its JSON) */
    int slot;                  /* SET_SLOT/CLEAR_SLOT: the slot */
    char *value;               /* SET_SLOT: template of the value */
    char *kind_name;           /* SAVE/LIST/CANCEL: record kind */
    int flow;                  /* START: the flow */
    int webhook;               /* WEBHOOK: index in spec->webhooks */
    char *subject;             /* NATS: the subject (parley.<svc>.<rpc>, not a Parley service) */
    int timeout_ms;            /* NATS: how long to wait for the reply */
    int failed;                /* WEBHOOK/NATS: said when the call fails (-1 = spec default) */
    int unconfigured;          /* WEBHOOK: no URL; NATS: no responder (-1 = `failed`) */
};

struct pl__dlg_steps {
    struct pl__dlg_step *v;
    int n;
};

struct pl__dlg_flow {
    char *name;
    int *required; /* slot indexes, asked in this order */
    int n_required;
    int *optional; /* slot indexes filled when given, never asked */
    int n_optional;
    int confirm;   /* response asking yes/no, -1 = no confirmation step */
    int resume;    /* response saying we are back here (may use {prompt}), -1 = generic */
    struct pl__dlg_steps done;   /* when complete (and confirmed) */
    struct pl__dlg_steps denied; /* when the user says no at the confirmation */
    int line;
};

struct pl__dlg_intent {
    char *name;
    char **nlu; /* NLU intent labels */
    int n_nlu;
    char **keywords; /* normalized phrases */
    int n_keywords;
    int flow;                /* -1 = none: runs `steps` in the current context */
    struct pl__dlg_steps steps;
};

struct pl_dlg_spec {
    char *name;
    char *file;
    float nlu_threshold;    /* an NLU intent below it is not trusted (fallback) */
    float switch_threshold; /* while a prompt waits: an intent of another flow switches only
                               at or above it */
    int switch_min_words;   /* ... and only for utterances at least this long */
    int keyword_slack;      /* extra words a keyword utterance may have */
    bool questions_to_kb;   /* an unknown question goes to the knowledge base at once */
    bool uses_entities;     /* some slot is filled from NER entities (`entities:`) */
    char *nlu_model;        /* settings.nlu_model: the NLU model of its sessions, NULL = the
                               pipeline's (the spec's own, from `parley nlu train`) */
    struct pl__dlg_slot *slots;
    int n_slots;
    struct pl__dlg_response *responses;
    int n_responses;
    struct pl__dlg_flow *flows;
    int n_flows;
    struct pl__dlg_intent *intents;
    int n_intents;
    struct pl__dlg_webhook *webhooks;
    int n_webhooks;
    char **vars; /* template variables external actions may set (every `vars:` list) */
    int n_vars;
    /* responses the engine itself uses; each is required in the spec */
    int r_fallback;      /* "fallback": did not understand (re-prompt) */
    int r_kb_no_answer;  /* "kb_no_answer" */
    int r_kb_failed;     /* "kb_unavailable" */
    int r_ask_confirm;   /* "ask_yes_no": the answer to a confirmation was neither */
    int r_invalid;       /* "invalid_value": generic validation failure (may use {slot}) */
    int r_resume;        /* "resume": generic resume (may use {prompt}) */
    int r_action_failed; /* "action_failed" when defined: an external action failed (-1) */
};

int pl__dlg_spec_slot(const struct pl_dlg_spec *s, const char *name);
int pl__dlg_spec_flow(const struct pl_dlg_spec *s, const char *name);
int pl__dlg_spec_response(const struct pl_dlg_spec *s, const char *name);

/*
 * Choose a variation of response r for filling with the given values: among the variations
 * whose every reference has a value, those with the most references, rotated by `turn`.
 * OUT: *out (caller owns). PL_E_NOT_FOUND when no variation can be filled.
 */
pl_status pl__dlg_render(const struct pl_dlg_spec *s, int r, int turn,
                         const struct pl_dlg_vars *vars, const struct pl_dlg_kv *slots,
                         int n_slots, char **out);
/* Names a template refers to ("{party_size|title}" -> "party_size"), for validation.
 * Calls fn for each; stops at the first non-OK. */
pl_status pl__dlg_template_refs(const char *tmpl, pl_status (*fn)(void *ud, const char *name),
                                void *ud);

struct json_t;
/* ---- external actions (dialog_external.c; webhooks on the I/O thread: dialog_http.c) ------- */

/*
 * POST body (JSON) to webhook w: per attempt at most w->timeout_ms (and never past deadline_us,
 * pl_time_mono_us clock, 0 = none); retries with backoff (100 ms, doubling) on timeouts,
 * connection errors and HTTP 5xx/429; only http and https, no redirects, a reply of at most
 * 64 KiB. A 2xx reply is PL_OK with its body (not checked here). Blocks the calling thread.
 * Thread-safe. Never fails itself: the outcome is in *r.
 */
void pl__dlg_webhook_call(const struct pl__dlg_webhook *w, const char *body, int64_t deadline_us,
                          struct pl_dlg_call *r);

/* The parts both ways of calling share (the blocking call above, dialog_http.c). */

/* libcurl's global state, initialized once (PL_OK, else why not). */
pl_status pl__dlg_curl_init(void);
/* A reply being received: at most 64 KiB (more sets too_big and aborts the transfer). */
struct pl__dlg_body {
    char *data; /* NUL-terminated (owned) */
    size_t len;
    bool too_big;
};
/* A CURL easy handle that POSTs body to w (URL, http(s) only, no redirects, no signals, the
 * headers; the reply written to *reply). body is read in place: it must outlive the handle.
 * OUT: *hdr, the header list (curl_slist_free_all after the handle). NULL when libcurl cannot
 * make one (nothing to free). */
void *pl__dlg_webhook_handle(const struct pl__dlg_webhook *w, const char *body,
                             struct pl__dlg_body *reply, void **hdr);
/* The outcome of one finished attempt into *r (the body moved from *b on a 2xx): returns
 * true when another attempt may help (timeouts, connection errors, 5xx, 429). rc is the
 * CURLcode, code the HTTP status, errbuf libcurl's message. */
bool pl__dlg_webhook_outcome(const struct pl__dlg_webhook *w, int rc, long code,
                             const char *errbuf, int64_t timeout_ms, struct pl__dlg_body *b,
                             struct pl_dlg_call *r);
/* The failure of a webhook not configured, or of a call past the turn's deadline. */
void pl__dlg_webhook_unconfigured(const struct pl__dlg_webhook *w, struct pl_dlg_call *r);
void pl__dlg_webhook_past_deadline(const struct pl__dlg_webhook *w, struct pl_dlg_call *r);
#define PL__DLG_WEBHOOK_BACKOFF_MS 100

/*
 * The JSON an external action sends (docs/dialog.md, "External actions"): {"action": kind,
 * "name", "dialog", "user", "session", "context", "flow", "turn", "intent", "utterance",
 * "slots": {the context's slots}, "nlu": {"intent", "score", "slots": [{name, value}]}}.
 * OUT: caller owns (pl_free); NULL = out of memory.
 */
char *pl__dlg_ext_request(const struct pl_dlg_state *st, const struct pl_dlg_ctx *c, int turn,
                          const char *intent, const char *text, const struct pl_dlg_nlu *nlu,
                          const char *kind, const char *name);
/*
 * Check a reply: a JSON object whose optional members are "text" (string), "vars" (object of
 * strings or numbers), "slots" (object of strings, numbers or null) and "close" (boolean);
 * other members are ignored. OUT: *out (json_decref). PL_E_FORMAT with what is wrong.
 */
pl_status pl__dlg_ext_reply_parse(const char *body, size_t len, struct json_t **out);
/* A value of a reply's "vars" or "slots" (string or number) as text. OUT: caller owns. */
char *pl__dlg_json_text(const struct json_t *v);
/* Up to n-1 bytes of s for the log, printable ASCII only (a reply may be anything). */
void pl__dlg_excerpt(char *dst, size_t n, const char *s);

/* ---- state helpers (dialog_state.c) ------------------------------------------------------- */

struct json_t;
/* Append an open, idle context (fresh id when id is NULL). The array may move. */
pl_status pl__dlg_state_add(struct pl_dlg_state *s, const char *id, struct pl_dlg_ctx **out);
pl_status pl__dlg_set_str(char **field, const char *v);
/* An event whose data is a jansson object (stolen; NULL = out of memory). */
pl_status pl__dlg_turn_event_json(struct pl_dlg_turn *t, enum pl_dlg_ev_kind kind,
                                  const char *ctx_id, int turn, int64_t time_ms,
                                  struct json_t *obj);
/* A lifecycle event (EventType type) with one attribute (attr NULL = none). */
pl_status pl__dlg_lifecycle(struct pl_dlg_turn *t, int type, const char *ctx_id, int turn,
                            int64_t now, const char *detail, const char *attr, const char *val);

/* yes / no classification of an answer to a confirmation: 1 yes, -1 no, 0 neither. */
int pl__dlg_yes_no(const char *norm_text);
/* Every word of norm_text belongs to the yes / no phrases or is "thanks", "thank", "you",
 * "please" (and there is at least one word). */
bool pl__dlg_only_yes_no(const char *norm_text);

#endif
