/*
 * dialog_turn_impl.h - one turn being run, shared by the policy (dialog_engine.c: keywords,
 * routing, forms, contexts) and the steps it runs (dialog_steps.c: say, start, the built-in
 * actions and the external ones). Private to the dialog core.
 *
 * The seam: the policy decides what happens to an utterance and which steps run; a step does
 * one thing (a reply, a record, a call out of the process) and reports back through the
 * turn's replies, variables and events. Neither keeps state outside struct pl__turn.
 */
#ifndef PL_DIALOG_TURN_IMPL_H
#define PL_DIALOG_TURN_IMPL_H

#include "dialog_impl.h"

#define CONFIRM "!confirm"
#define MAX_VARS 24
#define ENGINE_VARS 10 /* room kept for the engine's own (result, prompt, slot, ...) */

struct pl__turn {
    const struct pl_dlg_spec *sp;
    struct pl_dlg_state *st;
    const struct pl_dlg_turn_opts *o;
    struct pl_dlg_turn *out;
    const char *text;
    char *norm;
    const struct pl_dlg_nlu *nlu;
    char ctx_id[PL_DLG_ID_LEN]; /* the context the turn works in now (pointers move) */
    int turn_no;
    int64_t now;
    struct pl_dlg_kv vars[MAX_VARS];
    int n_vars;
    int depth;    /* flows started by flows */
    int finishes; /* flows finished (or handed over by `start`) so far in this turn */
};

/* ---- the policy's helpers the steps use (dialog_engine.c) ----------------------------- */

/* The context the turn works in now (NULL when none is open). */
struct pl_dlg_ctx *pl__turn_cur(struct pl__turn *t);
/* A variable of the turn's templates ({result}, {answer}, ...); value copied. */
pl_status pl__turn_set_var(struct pl__turn *t, const char *name, const char *value);
/* Render response r with context c's slots and the turn's variables. OUT: *out (pl_free);
 * PL_E_NOT_FOUND when no variation can be filled. */
pl_status pl__turn_render(struct pl__turn *t, int r, const struct pl_dlg_ctx *c, char **out);
/* Add a reply (text is taken, also on failure) said in ctx_id, with its log event. */
pl_status pl__turn_add_reply(struct pl__turn *t, char *text, const char *response, bool expects,
                             const char *ctx_id);
/* Say response r in context c (an unfillable one is an error event, never a crash). */
pl_status pl__turn_say(struct pl__turn *t, int r, struct pl_dlg_ctx *c, bool expects);
/* Set (v NULL: clear) a slot of c and log it with its source ("nlu", "answer", "action"...). */
pl_status pl__turn_set_slot(struct pl__turn *t, struct pl_dlg_ctx *c, const char *name,
                            const char *v, const char *source);
/* The current flow is over: close its context and resume the one it interrupted. */
pl_status pl__turn_finish_flow(struct pl__turn *t);
/* An intent of flow fi: open or switch to its context, fill it from the NLU, move it on. */
pl_status pl__turn_flow_intent(struct pl__turn *t, int fi);
/* Close the current context (or make it idle when it is the last open one). */
pl_status pl__turn_close_current(struct pl__turn *t);
/* The open context that was active before the current one, or NULL. */
struct pl_dlg_ctx *pl__turn_previous_open(struct pl__turn *t);

/* ---- the steps (dialog_steps.c) --------------------------------------------------------- */

/* Run steps in order until one starts another flow (which owns the rest of the turn). */
pl_status pl__turn_run_steps(struct pl__turn *t, const struct pl__dlg_steps *steps);
/* The knowledge base's answer to the utterance (parley-qa through the kb_answer hook), said
 * with response r (else as is), or `empty` / kb_no_answer / kb_unavailable. */
pl_status pl__turn_kb_answer(struct pl__turn *t, int r, int empty);

#endif
