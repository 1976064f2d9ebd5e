/*
 * model_repo.h - the model repository a service serves from, and its reload.
 *
 * A repository is a folder of model directories, <root>/<dir>/config.json plus the files the
 * model needs (the shipped one is models/). Every service scans the same folder through this
 * scanner and takes the directories it claims (by their config.json: an NLU model's "task", an
 * acoustic model's "model_type", ...); the rest are not its business.
 *
 * What is served at one moment is an immutable, reference-counted set of named models
 * (struct pl_model_set). A request takes the current set when it starts and releases it when
 * it ends; a stream may keep it for its whole life. pl_model_repo_reload() (the worker's
 * SIGHUP hook) rescans the folder and publishes a new set:
 *   - a directory that appeared is loaded;
 *   - a directory whose files changed (names, sizes or modification times) is loaded again;
 *     if that fails, the loaded version keeps serving and the failure is logged;
 *   - a directory that disappeared (or no longer parses as ours) is dropped;
 *   - every other directory keeps its loaded models (no reload, no copy).
 * Models leave memory only when the last set holding them is released, so requests and
 * streams in flight during a reload finish on the models they started with.
 *
 *   static const struct pl_model_repo_i nlu_repo = {"nlu", claims, load, unload};
 *   PL_TRY(pl_model_repo_create("models", &nlu_repo, svc, &repo));
 *   pl_worker_set_reload(w, pl_model_repo_reload_hook, repo);  // kill -HUP reloads
 *   ...
 *   struct pl_model_set *set = pl_model_repo_acquire(repo);
 *   struct nlu_model *m = pl_model_set_find(set, "ner-conll2003");
 *   ... use m ...
 *   pl_model_set_release(set);
 *
 * A directory may give several models (a model and its variants): load adds each with
 * pl_model_list_add. Model names are unique within a set: a later directory (by name order)
 * whose model name is already taken is refused with a log line.
 *
 * Thread-safety: acquire/release and the set accessors are safe from any thread; reload is
 * serialized internally (one at a time) and runs concurrently with requests. The service's
 * callbacks run on the thread that called create or reload.
 */
#ifndef PL_MODEL_REPO_H
#define PL_MODEL_REPO_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

struct pl_model_list;

/* What a service tells the repository. All callbacks get the ud given to create. */
struct pl_model_repo_i {
    const char *what; /* what the service's models are, for log lines ("NLU model") */
    /* True when the directory dir (its config.json parsed as config, borrowed) is a model of
     * this service. Must not fail: a config it cannot use is load's business. */
    bool (*claims)(void *ud, const char *dir, const json_t *config);
    /* Load the model(s) of directory dir, named dir_name in the repository, into out with
     * pl_model_list_add (at least one). On failure return the status with PL_ERR's message:
     * the repository logs it and unloads what was already added. */
    pl_status (*load)(void *ud, const char *dir_name, const char *dir, const json_t *config,
                      struct pl_model_list *out);
    /* Free one model given to pl_model_list_add (when the last set holding it goes). */
    void (*unload)(void *ud, void *model);
};

/* Add a model named name (copied) to the list load is filling. model is owned by the
 * repository from now on (unloaded through the interface, also on failure).
 * Errors: PL_E_INVALID_ARG (NULL or empty name, NULL model), PL_E_NOMEM. */
pl_status pl_model_list_add(struct pl_model_list *l, const char *name, void *model);

struct pl_model_repo;
struct pl_model_set;

/* Scan root and load every directory iface claims (failures are logged and skipped; an
 * unreadable root gives an empty set and a warning). iface and ud are borrowed for the
 * repository's life and for as long as any set made from it is held.
 * Errors: PL_E_INVALID_ARG (NULL arguments), PL_E_NOMEM.
 * OUT: *out; free with pl_model_repo_destroy(). */
pl_status pl_model_repo_create(const char *root, const struct pl_model_repo_i *iface, void *ud,
                               struct pl_model_repo **out);

/* Release the repository's own reference to the current set and free the repository. Models
 * still held through sets are unloaded when those are released. NULL is a no-op. */
void pl_model_repo_destroy(struct pl_model_repo *r);

/* What one reload did (counts of model directories). */
struct pl_model_repo_report {
    int added, changed, removed, failed, kept;
};

/* Rescan and publish the new set (see the top of this file). rep may be NULL.
 * Returns PL_OK when every claimed directory is served in its current form, PL_E_FORMAT
 * (or the first failing load's status) when some failed to load (each is logged; the rest
 * of the reload still took effect), PL_E_NOMEM when nothing changed for lack of memory. */
pl_status pl_model_repo_reload(struct pl_model_repo *r, struct pl_model_repo_report *rep);

/* The same, in the shape of pl_worker_reload_fn: pl_worker_set_reload(w, this, repo). Returns
 * PL_OK also when some directories failed (each was logged, the rest took effect); only
 * PL_E_NOMEM (nothing changed) is an error. */
pl_status pl_model_repo_reload_hook(void *repo);

/* The set served now, with a reference the caller gives back with pl_model_set_release().
 * Never NULL. */
struct pl_model_set *pl_model_repo_acquire(struct pl_model_repo *r);
void pl_model_set_release(struct pl_model_set *s); /* NULL is a no-op */

/* Models in the set, in directory-name order (a directory's models in the order load added
 * them). */
int pl_model_set_count(const struct pl_model_set *s);
/* Model i and (opt) its name and directory (borrowed while the set is held); NULL when i is
 * out of range. */
void *pl_model_set_at(const struct pl_model_set *s, int i, const char **name, const char **dir);
/* The model named name, or NULL. */
void *pl_model_set_find(const struct pl_model_set *s, const char *name);
/* Increases by one with every published set (the first is 1). */
uint64_t pl_model_set_generation(const struct pl_model_set *s);

#ifdef __cplusplus
}
#endif
#endif
