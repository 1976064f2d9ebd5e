/*
 * dialog_svc.h - parley-dialog: the dialog manager served over NATS (queue group "dialog"):
 * parley.dialog.v1.Dialog's unary rpcs and Converse (text turns) on the dialog core
 * (dialog/dialog.h), calling parley-nlu (analyze_intent) and parley-qa (natural_query).
 *
 *   dialog_service.c   the service object, specs, the store, the unary rpcs, protobuf glue
 *   dialog_converse.c  one text turn end to end (NLU, policy, commit) and the Converse stream
 *   dialog_voice.c     Converse's voice: replies out through parley-tts streaming, barge-in,
 *                      the voice thread that runs spoken turns (dialog_voice_impl.h)
 *   dialog_voice_asr.c Converse's voice: audio in through parley-asr streaming, endpointing,
 *                      the answer to an utterance without words
 *   dialog_actions.c   the calls out over NATS: the `nats` action (a spec's subject) and the
 *                      knowledge base (parley-qa), blocking or without a thread (the pool)
 *   dialog_pool.c      the action pool: turns that call out (webhook, nats, parley-qa) wait
 *                      there, in order per stream, not on the worker's handler threads
 *
 * Thread-safety: the service is used by every handler thread; turns of one session are
 * serialized by a per-session lock (pl__dlgsvc_lock), and every turn is committed before its
 * reply goes out.
 */
#ifndef PL_DIALOG_SVC_H
#define PL_DIALOG_SVC_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "dialog.h"
#include "status.h"

struct pl_worker;
struct pl_worker_ctx;
struct pl_nrpc_conn;
struct pl_arena;

/* End of turn by default (docs/dialog.md, "End of turn": chosen by measurement) */
#define PL__DLG_EOT_SILENCE_MS 120
#define PL__DLG_EOT_MIN_CONFIDENCE 0.99f
#define PL__DLG_EOT_TONE false
#define PL__DLG_EOT_FALL_SLOPE (-10.0f)
#define PL__DLG_EOT_RISE_SLOPE 0.0f
#define PL__DLG_EOT_MODEL "nlu-eot"
#define PL__DLG_EOT_MIN_COMPLETE 0.75f

struct pl_dlgsvc_opts {
    const char *spec_dir;       /* every *.yaml, *.yml, *.json in it is a dialog spec */
    const char *default_dialog; /* a session that names none runs this ("" = the first) */
    const char *store_path;     /* SQLite file */
    bool sync_full;             /* synchronous=FULL (fsync per turn) */
    const char *nats_url;       /* for the calls to parley-nlu and parley-qa (NULL = default) */
    int nlu_timeout_ms;         /* analyze_intent (2000) */
    int qa_timeout_ms;          /* natural_query (5000) */
    int64_t max_text_bytes;     /* longest utterance (4096) */
    int64_t idle_end_ms;        /* end sessions idle this long (0 = never) */
    int64_t ended_ttl_ms;       /* delete ended sessions after this (0 = keep) */
    int tz_offset_min;          /* tell_time / tell_date */
    const char *tts_voice;      /* voice of replies whose output_audio names none ("" = TTS's) */
    int tts_sample_rate;        /* rate of replies whose output_audio says 0 (22050) */
    int64_t voice_wait_ms;      /* half-close: longest wait for the last voice turn (60000) */
    const char *pipeline_dir;   /* pipelines (*.json) a Converse config may name; a missing
                                   directory = none */
    int shard, shards;          /* this replica serves shard `shard` of `shards` (0 of 1 = every
                                   session: no partitioning); dialog_shard.c */
    int endpointing_silence_ms; /* hands-free: the ASR's stop window when the pipeline names
                                   none (400; 0 = parley-asr's own, 800 ms) */
    int eot_silence_ms;         /* hands-free: the short silence after which words that look
                                   like a complete turn end it (docs/dialog.md, "End of turn";
                                   0 = off) */
    float eot_min_confidence;   /* ... when the NLU's intent confidence is at least this */
    const char *eot_model;      /* ... or, when not "", when this end-of-turn classifier of
                                   parley-nlu (ClassifyText, labels complete / incomplete)
                                   gives "complete" at least eot_min_complete */
    float eot_min_complete;
    bool eot_tone;              /* ... the tone of the voice: a fall ends the turn, a rise
                                   waits, the intent decides otherwise */
    float eot_fall_slope;       /* ... a fall: the pitch slope over the last 400 ms of speech
                                   at most this (semitones per second) */
    float eot_rise_slope;       /* ... a rise: above this */
    int action_threads;         /* the action pool: threads for turns that call out (32; 0 =
                                   none: such turns wait on the handler thread) */
};
void pl_dlgsvc_opts_default(struct pl_dlgsvc_opts *o);

struct pl_dlgsvc;

/* Load the specs, open the store, connect to NATS for the calls (in the background when the
 * server is not up yet). Errors: a spec's PL_E_FORMAT (file, line, key), the store's.
 * OUT: *out (caller owns; pl_dlgsvc_destroy after the worker). */
pl_status pl_dlgsvc_create(const struct pl_dlgsvc_opts *o, struct pl_dlgsvc **out);
void pl_dlgsvc_destroy(struct pl_dlgsvc *s);
int pl_dlgsvc_n_specs(const struct pl_dlgsvc *s);
/* Register the unary rpcs and the converse stream on w. */
pl_status pl_dlgsvc_register(struct pl_dlgsvc *s, struct pl_worker *w);
/* Retention pass (ends idle sessions, deletes expired ones); main calls it periodically. */
void pl_dlgsvc_expire(struct pl_dlgsvc *s);

/* ---- private to services/dialog -------------------------------------------------------- */

#define PL__DLG_STRIPES 64
#define PL__DLG_STRIPE_BUSY 16 /* sessions of one stripe worked on at once (more wait) */

/* Per-session mutual exclusion, hashed into stripes: a stripe's mutex guards only its list of
 * busy sessions, so a turn that waits long (a webhook, parley-qa) blocks its own session's
 * next turn and nobody else's. */
struct pl__dlg_waiter;
struct pl__dlg_stripe {
    pthread_mutex_t mu;
    pthread_cond_t released; /* a session of this stripe was released */
    char busy[PL__DLG_STRIPE_BUSY][PL_DLG_ID_LEN];
    int n_busy;
    struct pl__dlg_waiter *waiters; /* pl__dlgsvc_lock_or_wait's, woken at the next release */
};

/* A turn on the action pool waiting for its session without a thread. */
struct pl__dlg_waiter {
    void (*wake)(void *ud); /* called (on the releasing thread) once a session of the stripe
                               is released: try again */
    void *ud;
    struct pl__dlg_waiter *next;
};

/* The action pool's calls over NATS in flight (dialog_actions.c). */
struct pl__dlg_acall;
struct pl__dlg_calls {
    pthread_mutex_t mu;
    struct pl__dlg_acall *active; /* sent, their done not yet run */
    int in_flight;
    uint64_t next_id; /* the last call's id */
    bool stopping; /* pl__dlgsvc_calls_stop: calls end at once */
};

struct pl_dlgsvc {
    struct pl_dlgsvc_opts o;
    char *spec_dir, *default_dialog, *store_path, *tts_voice;
    struct pl_dlg_spec **specs;
    int n_specs;
    char *pipeline_dir;
    struct pl_dlg_pipeline **pipelines;
    int n_pipelines;
    struct pl_dlg_store *store;
    struct pl_nrpc_conn *nc;
    struct pl__dlg_stripe stripes[PL__DLG_STRIPES];
    struct pl__dlg_pool *pool; /* the action pool (dialog_pool.c), or NULL */
    struct pl_dlg_http *http;  /* the pool's webhook calls on one I/O thread (with pool) */
    struct pl__dlg_calls calls; /* the pool's nats and parley-qa calls in flight */
};

/* The user of a request: the gateway's identity, else the request's user_id, else
 * "anonymous". Borrowed from ctx or req_user. */
const char *pl__dlgsvc_user(const struct pl_worker_ctx *ctx, const char *req_user);
const struct pl_dlg_spec *pl__dlgsvc_spec(struct pl_dlgsvc *s, const char *name);
/* A loaded pipeline by name, or NULL. */
const struct pl_dlg_pipeline *pl__dlgsvc_pipeline(struct pl_dlgsvc *s, const char *name);
/* The loaded pipelines' names, comma-separated, for messages ("none" when none). */
void pl__dlgsvc_pipeline_names(struct pl_dlgsvc *s, char *buf, size_t n);
/* Hold session_id (load, change, commit of one session by one thread at a time); waits while
 * another thread holds the same session. Session ids longer than 32 bytes are held by their
 * first 32 (two such ids merely wait for each other). Every lock needs one unlock. */
void pl__dlgsvc_lock(struct pl_dlgsvc *s, const char *session_id);
void pl__dlgsvc_unlock(struct pl_dlgsvc *s, const char *session_id);
/* The same without waiting (the action pool, whose threads must never wait for a session: a
 * session held by a turn waiting for its webhook is released by a pool thread): true when the
 * session is now held; false when it (or every place of its stripe) is taken, and then
 * w->wake(w->ud) is called once a session of the stripe is released (w, the caller's, must
 * stay valid until then). */
bool pl__dlgsvc_lock_or_wait(struct pl_dlgsvc *s, const char *session_id,
                             struct pl__dlg_waiter *w);

/* One text turn's outcome for the Converse stream. */
struct pl__dlg_turn_result {
    struct pl_dlg_turn turn;
    struct pl_dlg_state *state;
    void *nlu_msg; /* the AnalyzeIntentResponse (ProtobufCMessage), or NULL */
    char *text;    /* the text the turn ran on (punctuated when the pipeline says so) */
    /* what the stages before the policy found, kept for a turn that is run again */
    struct pl_dlg_nlu nlu;                  /* borrows from nlu_slots, ents and the messages */
    struct pl_dlg_nlu_slot *nlu_slots, *ents;
    void *ner_msg;                          /* the AnalyzeEntities response, or NULL */
};
void pl__dlg_turn_result_deinit(struct pl__dlg_turn_result *r);
/* Run and commit one text turn of user in session sid, with the stages of pipeline p (NULL =
 * the default: NLU, entities when the spec maps some, the dialog, QA's best answer): the text
 * punctuated first when p says so (the turn's text is then the punctuated one: out->text).
 * Errors: PL_E_INVALID_ARG (text), PL_E_NOT_FOUND (session), PL_E_IO (store). */
pl_status pl__dlgsvc_text_turn(struct pl_dlgsvc *s, const struct pl_dlg_pipeline *p,
                               const char *user, const char *sid, const char *text,
                               int64_t deadline_us, struct pl__dlg_turn_result *out);

/* The same turn in two parts, so that a handler thread never waits on a call out of the
 * process (docs/dialog.md, "Threads"): _local runs it as far as it can without calling out;
 * PL_OK with out->turn.calls_out set means nothing was stored and the turn must be finished
 * with _resume (on the action pool), which runs the policy again on the same NLU result
 * and commits. With a replay (dialog.h), _resume makes kb_answer and nats calls but stops at
 * a webhook not yet answered: PL_OK with *held true, replay->pending the webhook to call,
 * the session held (not stored); once the call's outcome is added to the replay, _resume
 * again with the same replay and held finishes it (or stops at the next webhook); *held is
 * false once the session is released. Errors as pl__dlgsvc_text_turn. */
pl_status pl__dlgsvc_text_turn_local(struct pl_dlgsvc *s, const struct pl_dlg_pipeline *p,
                                     const char *user, const char *sid, const char *text,
                                     int64_t deadline_us, struct pl__dlg_turn_result *out);
/* The stages before the policy only (the text checked, punctuation, NLU, entities), for a
 * turn then finished with _resume. Errors: PL_E_INVALID_ARG (text), the store's. */
pl_status pl__dlgsvc_text_turn_prepare(struct pl_dlgsvc *s, const struct pl_dlg_pipeline *p,
                                       const char *user, const char *sid, const char *text,
                                       int64_t deadline_us, struct pl__dlg_turn_result *out);
pl_status pl__dlgsvc_text_turn_resume(struct pl_dlgsvc *s, const struct pl_dlg_pipeline *p,
                                      const char *user, const char *sid, int64_t deadline_us,
                                      struct pl_dlg_replay *replay, bool *held,
                                      struct pl__dlg_turn_result *out);

/* The NLU's confidence in its intent for text, with the model a turn of session sid would use
 * (the spec's or pipeline p's); -1 when it finds none, the pipeline has no NLU, or parley-nlu
 * fails (logged). For the end-of-turn check of a hands-free utterance (dialog_voice_asr.c).
 * Errors: the store's (PL_E_NOT_FOUND). */
pl_status pl__dlgsvc_intent_score(struct pl_dlgsvc *s, const struct pl_dlg_pipeline *p,
                                  const char *user, const char *sid, const char *text,
                                  int64_t deadline_us, float *score);
/* P("complete") of text by the end-of-turn classifier `model` (parley-nlu ClassifyText);
 * -1 when parley-nlu fails or the model has no "complete" label (logged). For the end-of-turn
 * check with dialog.end_of_turn_model. */
float pl__dlgsvc_complete_score(struct pl_dlgsvc *s, const char *model, const char *text,
                                int64_t deadline_us);
/* A lifecycle event's JSON data ({"type","detail","attributes"}; attrs: key, value, ...,
 * NULL). OUT: caller owns (pl_free); NULL = out of memory. */
char *pl__dlgsvc_event_json(int type, const char *detail, const char *const *attrs);
/* Append one event (data: its JSON) to session sid's log outside a turn (barge-in), holding
 * the session. Errors: the store's (PL_E_NOT_FOUND, PL_E_UNAVAILABLE, ...). */
pl_status pl__dlgsvc_log_event(struct pl_dlgsvc *s, const char *user, const char *sid,
                               const char *ctx_id, int turn, const char *data);

/* Protobuf glue (dialog_service.c): messages allocated in arena a. */
void *pl__dlgsvc_session_msg(struct pl_arena *a, const struct pl_dlg_state *s);
void *pl__dlgsvc_context_msg(struct pl_arena *a, const struct pl_dlg_state *s,
                             const struct pl_dlg_ctx *c, bool active);
/* A DialogEvent (ProtobufCMessage) from an event's JSON data; NULL when not one. */
void *pl__dlgsvc_event_msg(struct pl_arena *a, const char *data);

pl_status pl__dlgsvc_register_converse(struct pl_dlgsvc *s, struct pl_worker *w);

/* Shards (dialog_shard.c). Fail (PL_E_INVALID_ARG) when another running replica already serves
 * this replica's shard; PL_OK when unpartitioned or the shard is free. */
pl_status pl__dlgsvc_shard_check(struct pl_dlgsvc *s);
/* DeleteUser on every other shard (their sessions_deleted added to *count); an unreachable
 * shard fails with PL_E_UNAVAILABLE naming it, after the others were asked. */
pl_status pl__dlgsvc_delete_other_shards(struct pl_dlgsvc *s, const struct pl_worker_ctx *ctx,
                                         const char *req_user, int *count);
/* The `nats` action's request/reply (dialog_actions.c; hook nats_request of dialog.h; ud is
 * the service). */
pl_status pl__dlgsvc_nats_request(void *ud, const char *subject, const char *user,
                                  const char *body, int timeout_ms, int64_t deadline_us,
                                  char **reply, size_t *len);

/* The knowledge base's answer to question (parley-qa natural_query, empty context): the first
 * non-empty answer of pipeline p's n-best (qa.top_n, else 1) scoring at least qa.threshold;
 * "" = none. Blocks (at most dialog.qa_timeout_ms). OUT: *answer (pl_free). Errors: parley-qa's
 * status ("parley.qa.natural_query: CODE: message"), PL_E_NOMEM. */
pl_status pl__dlgsvc_kb_answer(struct pl_dlgsvc *s, const struct pl_dlg_pipeline *p,
                               const char *question, int64_t deadline_us, char **answer);
/* Make the call a turn of the action pool stopped at (rp->pending_kind PL_DLG_CALL_NATS: the
 * nats action's request on its subject as user; PL_DLG_CALL_KB: the question to parley-qa with
 * pipeline p's settings) without a thread waiting: done(ud, call) runs once with the outcome
 * the blocking call gives (done takes call's contents), on a thread of the NATS connection
 * (or on this one when the call cannot be sent). After pl__dlgsvc_calls_stop, calls end at
 * once (PL_E_CANCELLED). p and the spec of rp's subject must outlive the call. Returns the
 * call's id for pl__dlgsvc_call_cancel (0 when done has run already: not sent). */
uint64_t pl__dlgsvc_call_start(struct pl_dlgsvc *s, const struct pl_dlg_pipeline *p,
                               const char *user, const char *request_id,
                               const struct pl_dlg_replay *rp, int64_t deadline_us,
                               void (*done)(void *ud, struct pl_dlg_call *call), void *ud);
/* End call id at once if it is still in flight: its done runs here with PL_E_CANCELLED ("nats
 * 'SUBJECT': the turn was cancelled"), and its reply, should it come, is ignored. A call that
 * has been answered (its done has run or runs now) or id 0: nothing happens. Any thread. */
void pl__dlgsvc_call_cancel(struct pl_dlgsvc *s, uint64_t id);
/* End every call in flight (PL_E_CANCELLED "parley-dialog is stopping"; their done runs here)
 * and every call started from now on. */
void pl__dlgsvc_calls_stop(struct pl_dlgsvc *s);
/* Calls in flight now (logs, tests). */
int pl__dlgsvc_calls_in_flight(struct pl_dlgsvc *s);

/* ---- the action pool (dialog_pool.c) ------------------------------------------------------ */

/* Threads that run the turns that call out of the process (a webhook, a nats action, the
 * knowledge base), in lanes: a lane's jobs run one at a time in the order pushed. */
struct pl__dlg_pool;
struct pl__dlg_lane;
/* Start n_threads (>= 1). OUT: *out (pl__dlg_pool_destroy). */
pl_status pl__dlg_pool_create(int n_threads, struct pl__dlg_pool **out);
/* Stop and join the threads; every lane must be closed first. NULL is a no-op. */
void pl__dlg_pool_destroy(struct pl__dlg_pool *p);
/* A lane of pool p. OUT: *out (pl__dlg_lane_close). */
pl_status pl__dlg_lane_create(struct pl__dlg_pool *p, struct pl__dlg_lane **out);
/* Queue a job: run(arg) on a pool thread after the lane's earlier jobs (run frees arg), or
 * drop(arg) if the lane closes first. PL_E_EXHAUSTED when 256 wait already (arg not taken).
 * Thread-safe. */
pl_status pl__dlg_lane_push(struct pl__dlg_lane *l, void (*run)(void *), void (*drop)(void *),
                            void *arg);
/* Called by the job running on l: when it returns, l stays held (its later jobs wait) without
 * a thread until pl__dlg_lane_resume. */
void pl__dlg_lane_park(struct pl__dlg_lane *l);
/* Called by the job running on l that parked it, when it goes on after all (what it would
 * have waited for was there). */
void pl__dlg_lane_unpark(struct pl__dlg_lane *l);
/* The parked job's continuation: run(arg) first on the lane, or drop(arg) when the lane was
 * closed meanwhile (then the lane is freed and its on_closed called). Any thread. */
void pl__dlg_lane_resume(struct pl__dlg_lane *l, void (*run)(void *), void (*drop)(void *),
                         void *arg);
/* Whether a job of l is queued, running or parked. Thread-safe. */
bool pl__dlg_lane_busy(struct pl__dlg_lane *l);
/* When l has work (queued, running or parked): on_idle(ud) runs once, on the thread that
 * finishes its last job, as soon as it has none (while that job's thread still holds the lane,
 * so that a close meanwhile calls its on_closed only after on_idle returned), and true is
 * returned. A lane closed first never calls it. False (nothing registered) when l is idle. */
bool pl__dlg_lane_on_idle(struct pl__dlg_lane *l, void (*on_idle)(void *ud), void *ud);
/* Wait until l has nothing queued or running, at most timeout_ms. Returns whether it has. */
bool pl__dlg_lane_wait(struct pl__dlg_lane *l, int64_t timeout_ms);
/* Drop l's queued jobs and free it; on_closed(ud) runs once no job of it runs (at once, or
 * on the pool thread after the running job). NULL l: on_closed(ud) at once. */
void pl__dlg_lane_close(struct pl__dlg_lane *l, void (*on_closed)(void *ud), void *ud);

/* ---- a Converse stream (dialog_converse.c), shared with dialog_voice.c ------------------- */

struct pl_worker_session;
struct pl__dlg_voice;

struct pl__dlg_conv {
    struct pl_dlgsvc *s;
    struct pl_worker_session *ws; /* valid until on_end/on_cancel (the voice retains it) */
    char user[129];
    char session_id[PL_DLG_ID_LEN];
    bool configured, include_nlu;
    void *id;                     /* Nvidia__Riva__RequestId echoed (owned copy), or NULL */
    struct pl__dlg_voice *voice;  /* input_audio or output_audio configured; else NULL */
    const struct pl_dlg_pipeline *pipe; /* ConverseConfig.pipeline (the service's), or NULL */
    struct pl__dlg_lane *lane;    /* text turns that call out, in order (made at the first);
                                     the stream's session is retained while it exists */
    int64_t deadline_us;          /* the stream's deadline (0 = none) */
    char request_id[65];
    _Atomic int fail_st;          /* a turn on the pool ended the stream with this status */
    char fail_msg[512];           /* ... and this message (written before fail_st) */
    pthread_mutex_t call_mu;      /* guards the three below */
    bool closing;                 /* cancelled or ended: the lane's turns are dropped unrun and
                                     the call out of its waiting turn is ended (conv_close) */
    enum pl_dlg_call_kind call_kind; /* the call out the lane's turn waits for, or NONE */
    uint64_t call_id;             /* its id (0 while it is being started) */
};

/* Send one ConverseResponse (its oneof already set; a Parley__Dialog__V1__ConverseResponse *)
 * stamped with the session, ctx_id, turn and id. Thread-safe (any thread while ws is valid);
 * PL_E_CANCELLED once the stream has ended. */
pl_status pl__dlgconv_send(struct pl__dlg_conv *c, void *response, const char *ctx_id, int turn);
/* Send a DialogEvent; attrs: key, value, ..., NULL (may be NULL). */
pl_status pl__dlgconv_event(struct pl__dlg_conv *c, int type, const char *detail,
                            const char *const *attrs, const char *ctx_id, int turn);
/* Send the NLU result of a turn (include_nlu). */
pl_status pl__dlgconv_send_nlu(struct pl__dlg_conv *c, const char *text,
                               const struct pl__dlg_turn_result *t);
/* Send the turn's events and BotTexts in order: part 0 all, 1 all but TURN_COMPLETE (the
 * voice speaks the replies first), 2 TURN_COMPLETE only. */
pl_status pl__dlgconv_send_turn(struct pl__dlg_conv *c, const struct pl__dlg_turn_result *t,
                                int part);

/* A spoken turn that pl__dlgsvc_text_turn_local stopped where it calls out (t, taken) goes
 * to the action pool on the stream's lane and is finished there as a typed one is, no thread
 * waiting for its calls; done(ud, st, err, t) then runs on a pool thread with the outcome (st,
 * its message err, the turn: done takes *t's contents) instead of an answer on the stream. Not
 * called when the lane closes first. Errors: PL_E_NOMEM, PL_E_EXHAUSTED (t freed). */
pl_status pl__dlgconv_queue_spoken(struct pl__dlg_conv *c, struct pl__dlg_turn_result *t,
                                   void (*done)(void *ud, pl_status st, const char *err,
                                                struct pl__dlg_turn_result *t),
                                   void *ud);
/* A half-closed stream (its end deferred) has sent everything it owed: end it with st (PL_OK,
 * or the status of a turn that ended it) and msg. Any thread. */
void pl__dlgconv_finished(struct pl__dlg_conv *c, pl_status st, const char *msg);

/* Whether a turn that failed with st ends the Converse stream with st (no later turn could
 * work either: unknown session, store read-only or full, no memory, dialog not loaded)
 * rather than being an EVENT_ERROR on a stream that goes on. */
bool pl__dlgsvc_ends_stream(pl_status st);

/* The voice of a Converse stream (dialog_voice.c, dialog_voice_asr.c). cfg is the
 * ConverseConfig (Parley__Dialog__V1__ConverseConfig *). Errors: PL_E_INVALID_ARG naming the
 * field of a bad audio config. OUT: c->voice. Runs a thread for the stream's turns. */
pl_status pl__dlg_voice_create(struct pl__dlg_conv *c, const void *cfg);
/* Client messages (on the stream's handler thread): audio_content bytes, a text turn (queued
 * behind the voice turns), ControlInput kinds. Errors end the stream (INVALID_ARGUMENT); once
 * a turn has ended the stream (pl__dlgsvc_ends_stream) they return that turn's status. */
pl_status pl__dlg_voice_audio(struct pl__dlg_voice *v, const uint8_t *data, size_t n);
pl_status pl__dlg_voice_text(struct pl__dlg_voice *v, const char *text);
pl_status pl__dlg_voice_control(struct pl__dlg_voice *v, int kind);
/* The client half-closed (handler thread; the stream's end deferred): the last utterance is
 * recognized and every queued turn answered, then the voice thread ends the stream
 * (pl__dlgconv_finished), after at most voice_wait_ms; nothing here waits. */
void pl__dlg_voice_finish(struct pl__dlg_voice *v);
/* The status of a spoken turn that ended the stream (with its message), else PL_OK. */
pl_status pl__dlg_voice_status(struct pl__dlg_voice *v);
/* Stop at once (cancel ASR and TTS streams, a wait for a spoken turn on the action pool), join
 * the thread (handler thread). Again, or NULL: a no-op. */
void pl__dlg_voice_stop(struct pl__dlg_voice *v);
/* Stop if not stopped yet, and free (after it, any thread). NULL is a no-op. */
void pl__dlg_voice_destroy(struct pl__dlg_voice *v);

#endif
