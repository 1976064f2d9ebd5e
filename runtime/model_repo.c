/*
 * model_repo.c - scanning a model repository and publishing reference-counted sets of
 * loaded models (model_repo.h).
 *
 * The models of one directory form a unit, loaded and unloaded together. A set holds a
 * reference on each of its units; a reload builds the next set from the previous one's
 * units (unchanged directories) and freshly loaded ones, publishes it under the lock, then
 * drops the repository's reference on the previous set. A unit is unloaded when the last
 * set holding it is released, which is after the last request that acquired such a set.
 */
#include "model_repo.h"

#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "log.h"
#include "util.h"

struct unit {
    atomic_int refs; /* sets holding it */
    const struct pl_model_repo_i *iface;
    void *ud;
    char *dir_name, *dir;
    uint64_t fp; /* fingerprint of the directory's files when it was loaded */
    int n, cap;
    char **names;
    void **models;
};

struct pl_model_list {
    struct unit *u;
};

struct entry {
    const char *name, *dir;
    void *model;
};

struct pl_model_set {
    atomic_int refs;
    uint64_t gen;
    int n_units;
    struct unit **units;
    int n;
    struct entry *e;
};

struct pl_model_repo {
    char *root;
    const struct pl_model_repo_i *iface;
    void *ud;
    pthread_mutex_t lock;        /* guards cur */
    pthread_mutex_t reload_lock; /* one scan at a time */
    struct pl_model_set *cur;
    uint64_t gen;
};

/* ---- units ------------------------------------------------------------------------------ */

static void unit_free(struct unit *u) {
    if (!u) return;
    for (int i = 0; i < u->n; i++) {
        u->iface->unload(u->ud, u->models[i]);
        pl_free(u->names[i]);
    }
    pl_free(u->names);
    pl_free(u->models);
    pl_free(u->dir_name);
    pl_free(u->dir);
    pl_free(u);
}

static void unit_release(struct unit *u) {
    if (u && atomic_fetch_sub(&u->refs, 1) == 1) unit_free(u);
}

pl_status pl_model_list_add(struct pl_model_list *l, const char *name, void *model) {
    if (!l || !name || !*name || !model)
        return PL_ERR(PL_E_INVALID_ARG, "model list: NULL or empty name, or NULL model");
    struct unit *u = l->u;
    if (u->n == u->cap) {
        int cap = u->cap ? u->cap * 2 : 2;
        char **nn = pl_realloc(u->names, sizeof *nn * (size_t)cap);
        if (nn) u->names = nn;
        void **nm = nn ? pl_realloc(u->models, sizeof *nm * (size_t)cap) : NULL;
        if (!nm) {
            u->iface->unload(u->ud, model);
            return PL_ERR(PL_E_NOMEM, "model list");
        }
        u->models = nm;
        u->cap = cap;
    }
    char *copy = pl_strdup(name);
    if (!copy) {
        u->iface->unload(u->ud, model);
        return PL_ERR(PL_E_NOMEM, "model list");
    }
    u->names[u->n] = copy;
    u->models[u->n++] = model;
    return PL_OK;
}

/* ---- sets ------------------------------------------------------------------------------- */

void pl_model_set_release(struct pl_model_set *s) {
    if (!s || atomic_fetch_sub(&s->refs, 1) != 1) return;
    for (int i = 0; i < s->n_units; i++) unit_release(s->units[i]);
    pl_free(s->units);
    pl_free(s->e);
    pl_free(s);
}

int pl_model_set_count(const struct pl_model_set *s) { return s ? s->n : 0; }

void *pl_model_set_at(const struct pl_model_set *s, int i, const char **name, const char **dir) {
    if (!s || i < 0 || i >= s->n) return NULL;
    if (name) *name = s->e[i].name;
    if (dir) *dir = s->e[i].dir;
    return s->e[i].model;
}

void *pl_model_set_find(const struct pl_model_set *s, const char *name) {
    for (int i = 0; s && name && i < s->n; i++)
        if (!strcmp(s->e[i].name, name)) return s->e[i].model;
    return NULL;
}

uint64_t pl_model_set_generation(const struct pl_model_set *s) { return s ? s->gen : 0; }

/* A set of units[0..n) (their references move into the set: the caller took one per unit). A
 * model whose name an earlier unit already gives is left out, with a log line. NULL when out
 * of memory (the references are then dropped). */
static struct pl_model_set *set_make(struct pl_model_repo *r, struct unit **units, int n,
                                     uint64_t gen) {
    int total = 0;
    for (int i = 0; i < n; i++) total += units[i]->n;
    struct pl_model_set *s = pl_calloc(1, sizeof *s);
    if (s) {
        s->units = pl_calloc((size_t)n + 1, sizeof *s->units);
        s->e = pl_calloc((size_t)total + 1, sizeof *s->e);
    }
    if (!s || !s->units || !s->e) {
        if (s) {
            pl_free(s->units);
            pl_free(s->e);
            pl_free(s);
        }
        for (int i = 0; i < n; i++) unit_release(units[i]);
        return NULL;
    }
    atomic_init(&s->refs, 1);
    s->gen = gen;
    for (int i = 0; i < n; i++) {
        struct unit *u = units[i];
        s->units[s->n_units++] = u;
        for (int k = 0; k < u->n; k++) {
            const char *taken = NULL;
            for (int j = 0; j < s->n && !taken; j++)
                if (!strcmp(s->e[j].name, u->names[k])) taken = s->e[j].dir;
            if (taken) {
                PL_LOGE("%s %s (%s) not served: the name is taken by %s", r->iface->what,
                        u->names[k], u->dir, taken);
                continue;
            }
            s->e[s->n++] = (struct entry){u->names[k], u->dir, u->models[k]};
        }
    }
    return s;
}

struct pl_model_set *pl_model_repo_acquire(struct pl_model_repo *r) {
    pthread_mutex_lock(&r->lock);
    struct pl_model_set *s = r->cur;
    atomic_fetch_add(&s->refs, 1);
    pthread_mutex_unlock(&r->lock);
    return s;
}

/* ---- scanning --------------------------------------------------------------------------- */

static int by_name(const struct dirent **a, const struct dirent **b) {
    return strcmp((*a)->d_name, (*b)->d_name);
}

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

/* A fingerprint of the regular files of dir (name, size, modification time; links
 * followed), so that replacing or touching any file counts as a change. */
static uint64_t fingerprint(const char *dir) {
    uint64_t h = 1469598103934665603ull;
    struct dirent **ents = NULL;
    int ne = scandir(dir, &ents, NULL, by_name);
    for (int i = 0; i < ne; i++) {
        char path[4096];
        struct stat sb;
        if (ents[i]->d_name[0] != '.' &&
            (size_t)snprintf(path, sizeof path, "%s/%s", dir, ents[i]->d_name) < sizeof path &&
            stat(path, &sb) == 0 && S_ISREG(sb.st_mode)) {
            int64_t v[3] = {(int64_t)sb.st_size, (int64_t)sb.st_mtim.tv_sec,
                            (int64_t)sb.st_mtim.tv_nsec};
            h = fnv(h, ents[i]->d_name, strlen(ents[i]->d_name) + 1);
            h = fnv(h, v, sizeof v);
        }
        free(ents[i]); /* scandir allocates with malloc */
    }
    free(ents);
    return h;
}

static struct unit *find_unit(struct pl_model_set *s, const char *dir_name) {
    for (int i = 0; s && i < s->n_units; i++)
        if (!strcmp(s->units[i]->dir_name, dir_name)) return s->units[i];
    return NULL;
}

/* Load directory dir_name as a new unit (one reference). NULL on failure, logged. */
static struct unit *unit_load(struct pl_model_repo *r, const char *dir_name, const char *dir,
                              const json_t *config, uint64_t fp, bool had_old) {
    pl_status st;
    struct unit *u = pl_calloc(1, sizeof *u);
    if (!u || !(u->dir_name = pl_strdup(dir_name)) || !(u->dir = pl_strdup(dir))) {
        st = PL_ERR(PL_E_NOMEM, "model unit");
        goto fail;
    }
    atomic_init(&u->refs, 1);
    u->iface = r->iface;
    u->ud = r->ud;
    u->fp = fp;
    struct pl_model_list l = {u};
    int64_t t0 = pl_time_mono_us();
    pl_clear_error();
    st = r->iface->load(r->ud, dir_name, dir, config, &l);
    if (st == PL_OK && u->n == 0)
        st = PL_ERR(PL_E_INTERNAL, "%s gave no model", dir);
    if (st != PL_OK) goto fail;
    PL_LOGI("%s %s loaded from %s (%d model%s, %.0f ms)", r->iface->what, dir_name, dir, u->n,
            u->n == 1 ? "" : "s", (pl_time_mono_us() - t0) / 1000.0);
    return u;
fail:
    if (had_old)
        PL_LOGE("%s %s (%s) not reloaded: %s; the loaded version keeps serving", r->iface->what,
                dir_name, dir, pl_last_error());
    else
        PL_LOGE("%s %s (%s) not loaded: %s", r->iface->what, dir_name, dir, pl_last_error());
    unit_free(u);
    return NULL;
}

/*
 * The scan both create and reload run: the next set from old (may be NULL). Every claimed
 * directory ends up in units (new or old), the rest of old's units are removed. Returns
 * PL_OK or the first failure's status (the set is made anyway) or PL_E_NOMEM (no set).
 */
static pl_status scan(struct pl_model_repo *r, struct pl_model_set *old,
                      struct pl_model_set **out, struct pl_model_repo_report *rep) {
    pl_status first_fail = PL_OK;
    struct pl_model_repo_report k = {0};
    struct unit **units = NULL;
    int n_units = 0;
    bool *seen = old ? pl_calloc((size_t)old->n_units + 1, sizeof *seen) : NULL;
    struct dirent **ents = NULL;
    int ne = scandir(r->root, &ents, NULL, by_name);
    if (ne < 0) {
        PL_LOGW("model repository %s cannot be read; serving no %ss", r->root, r->iface->what);
        ne = 0;
    }
    units = pl_calloc((size_t)ne + 1, sizeof *units);
    if (!units || (old && !seen)) {
        for (int i = 0; i < ne; i++) free(ents[i]);
        free(ents);
        pl_free(units);
        pl_free(seen);
        return PL_ERR(PL_E_NOMEM, "model repository scan");
    }
    for (int i = 0; i < ne; i++) {
        const char *d = ents[i]->d_name;
        char dir[4096], cfg[4200];
        struct stat sb;
        json_t *config = NULL;
        if (d[0] == '.' || (size_t)snprintf(dir, sizeof dir, "%s/%s", r->root, d) >= sizeof dir ||
            stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
            goto next;
        snprintf(cfg, sizeof cfg, "%s/config.json", dir);
        if (access(cfg, F_OK) != 0) goto next; /* not a model directory */
        struct unit *o = find_unit(old, d);
        if (o)
            for (int j = 0; j < old->n_units; j++)
                if (old->units[j] == o) seen[j] = true;
        json_error_t jerr;
        config = json_load_file(cfg, 0, &jerr);
        if (!config) {
            if (o) {
                PL_LOGE("%s %s not reloaded: %s line %d: %s; the loaded version keeps serving",
                        r->iface->what, d, cfg, jerr.line, jerr.text);
                if (first_fail == PL_OK) first_fail = PL_E_FORMAT;
                k.failed++;
                atomic_fetch_add(&o->refs, 1);
                units[n_units++] = o;
            } else {
                PL_LOGW("%s: line %d: %s (the directory is skipped)", cfg, jerr.line, jerr.text);
            }
            goto next;
        }
        if (!r->iface->claims(r->ud, dir, config)) {
            if (o) {
                PL_LOGI("%s %s: %s is no longer such a model; dropped", r->iface->what, d, cfg);
                k.removed++;
            }
            goto next;
        }
        uint64_t fp = fingerprint(dir);
        if (o && o->fp == fp) {
            atomic_fetch_add(&o->refs, 1);
            units[n_units++] = o;
            k.kept++;
            goto next;
        }
        struct unit *u = unit_load(r, d, dir, config, fp, o != NULL);
        if (u) {
            units[n_units++] = u;
            if (o)
                k.changed++;
            else
                k.added++;
        } else {
            if (first_fail == PL_OK) first_fail = pl_last_status() ? pl_last_status() : PL_E_FORMAT;
            k.failed++;
            if (o) {
                atomic_fetch_add(&o->refs, 1);
                units[n_units++] = o;
            }
        }
    next:
        json_decref(config);
        free(ents[i]);
    }
    free(ents);
    for (int j = 0; old && j < old->n_units; j++)
        if (!seen[j]) {
            PL_LOGI("%s %s (%s) is gone from the repository; dropped", r->iface->what,
                    old->units[j]->dir_name, old->units[j]->dir);
            k.removed++;
        }
    pl_free(seen);
    struct pl_model_set *s = set_make(r, units, n_units, r->gen + 1);
    pl_free(units);
    if (!s) return PL_ERR(PL_E_NOMEM, "model set");
    r->gen++;
    *out = s;
    if (rep) *rep = k;
    return first_fail;
}

pl_status pl_model_repo_create(const char *root, const struct pl_model_repo_i *iface, void *ud,
                               struct pl_model_repo **out) {
    if (out) *out = NULL;
    if (!root || !iface || !iface->what || !iface->claims || !iface->load || !iface->unload || !out)
        return PL_ERR(PL_E_INVALID_ARG, "model repository: NULL argument or callback");
    struct pl_model_repo *r = pl_calloc(1, sizeof *r);
    if (!r || !(r->root = pl_strdup(root))) {
        pl_free(r);
        return PL_ERR(PL_E_NOMEM, "model repository");
    }
    r->iface = iface;
    r->ud = ud;
    pthread_mutex_init(&r->lock, NULL);
    pthread_mutex_init(&r->reload_lock, NULL);
    struct pl_model_set *s = NULL;
    pl_status st = scan(r, NULL, &s, NULL);
    if (!s) {
        pl_model_repo_destroy(r);
        return st;
    }
    r->cur = s;
    if (s->n == 0) PL_LOGW("no %s under %s", iface->what, root);
    *out = r;
    return PL_OK;
}

void pl_model_repo_destroy(struct pl_model_repo *r) {
    if (!r) return;
    pl_model_set_release(r->cur);
    pthread_mutex_destroy(&r->lock);
    pthread_mutex_destroy(&r->reload_lock);
    pl_free(r->root);
    pl_free(r);
}

pl_status pl_model_repo_reload(struct pl_model_repo *r, struct pl_model_repo_report *rep) {
    if (!r) return PL_ERR(PL_E_INVALID_ARG, "model repository: NULL");
    pthread_mutex_lock(&r->reload_lock);
    struct pl_model_set *old = pl_model_repo_acquire(r), *s = NULL;
    struct pl_model_repo_report k = {0};
    pl_status st = scan(r, old, &s, &k);
    if (s) {
        pthread_mutex_lock(&r->lock);
        struct pl_model_set *prev = r->cur;
        r->cur = s;
        pthread_mutex_unlock(&r->lock);
        pl_model_set_release(prev); /* the repository's reference */
        PL_LOGI("%s repository %s reloaded: %d added, %d changed, %d removed, %d failed, %d kept; "
                "%d model%s served", r->iface->what, r->root, k.added, k.changed, k.removed,
                k.failed, k.kept, s->n, s->n == 1 ? "" : "s");
    }
    pl_model_set_release(old);
    pthread_mutex_unlock(&r->reload_lock);
    if (rep) *rep = k;
    return st;
}

pl_status pl_model_repo_reload_hook(void *repo) {
    /* a directory that failed is logged and the rest of the reload took effect: that is a
     * reload done, not one to report as failed; only running out of memory is */
    pl_status st = pl_model_repo_reload(repo, NULL);
    return st == PL_E_NOMEM ? st : PL_OK;
}
