/*
 * dialog_spec.c - load and validate a dialog spec (dialog.h; the format is docs/dialog.md).
 *
 * Two passes over the YAML tree: the names of slots, responses and flows first (so that a
 * reference may come before its definition), then every entry, resolving references to
 * indexes. Every error names the file, the line and the key path ("flows.book_table.confirm").
 * Finally the flows that start other flows (`start:` steps) are checked for cycles.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "dialog_impl.h"
#include "file.h"
#include "strbuf.h"

struct ld {
    const char *file;
    struct pl_dlg_spec *s;
};

static pl_status bad(struct ld *ld, int line, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static pl_status bad(struct ld *ld, int line, const char *path, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return PL_ERR(PL_E_FORMAT, "%s:%d: %s: %s", ld->file, line, path, msg);
}

/* ---- lookups -------------------------------------------------------------------------------- */

int pl__dlg_spec_slot(const struct pl_dlg_spec *s, const char *name) {
    for (int i = 0; i < s->n_slots; i++)
        if (!strcmp(s->slots[i].name, name)) return i;
    return -1;
}

int pl__dlg_spec_flow(const struct pl_dlg_spec *s, const char *name) {
    for (int i = 0; i < s->n_flows; i++)
        if (!strcmp(s->flows[i].name, name)) return i;
    return -1;
}

int pl__dlg_spec_response(const struct pl_dlg_spec *s, const char *name) {
    for (int i = 0; i < s->n_responses; i++)
        if (!strcmp(s->responses[i].name, name)) return i;
    return -1;
}

const char *pl_dlg_spec_name(const struct pl_dlg_spec *s) { return s->name; }
bool pl_dlg_spec_uses_entities(const struct pl_dlg_spec *s) { return s->uses_entities; }
const char *pl_dlg_spec_nlu_model(const struct pl_dlg_spec *s) { return s->nlu_model; }

/* ---- node checks ---------------------------------------------------------------------------- */

static pl_status want(struct ld *ld, const struct pl__dy *n, enum pl__dy_type t, const char *path) {
    static const char *const names[] = {"a single value", "a list", "a map"};
    if (n->type == t) return PL_OK;
    return bad(ld, n->line, path, "expected %s, got %s", names[t], names[n->type]);
}

/* Every key of map m is in allowed[] (NULL-terminated); every key of required[] is present. */
static pl_status keys_ok(struct ld *ld, const struct pl__dy *m, const char *path,
                         const char *const *allowed, const char *const *required) {
    PL_TRY(want(ld, m, PL__DY_MAP, path));
    for (int i = 0; i < m->n; i++) {
        bool ok = false;
        for (const char *const *a = allowed; *a && !ok; a++) ok = !strcmp(*a, m->keys[i]);
        if (ok) continue;
        struct pl_strbuf known;
        pl_strbuf_init(&known);
        for (const char *const *a = allowed; *a; a++) {
            if (a != allowed) pl_strbuf_append(&known, ", ");
            pl_strbuf_append(&known, *a);
        }
        pl_status st = bad(ld, m->key_lines[i], path, "unknown key '%s' (known: %s)", m->keys[i],
                           known.data ? known.data : "");
        pl_strbuf_deinit(&known);
        return st;
    }
    for (const char *const *r = required; r && *r; r++)
        if (!pl__dy_get(m, *r)) return bad(ld, m->line, path, "missing required key '%s'", *r);
    return PL_OK;
}

/* buf = "a.b", cut to n bytes (a key path in a message; cut paths are still readable). */
static void join(char *buf, size_t n, const char *a, const char *b) {
    if (snprintf(buf, n, "%s.%s", a, b) >= (int)n) buf[n - 1] = '\0';
}

static pl_status scalar(struct ld *ld, const struct pl__dy *n, const char *path, char **out) {
    PL_TRY(want(ld, n, PL__DY_SCALAR, path));
    *out = pl_strdup(n->scalar);
    return *out ? PL_OK : PL_ERR(PL_E_NOMEM, "spec");
}

static pl_status number(struct ld *ld, const struct pl__dy *n, const char *path, double lo,
                        double hi, double *out) {
    PL_TRY(want(ld, n, PL__DY_SCALAR, path));
    char *end = NULL;
    *out = strtod(n->scalar, &end);
    if (!n->scalar[0] || *end || *out < lo || *out > hi)
        return bad(ld, n->line, path, "expected a number in [%g, %g], got '%s'", lo, hi, n->scalar);
    return PL_OK;
}

static pl_status boolean(struct ld *ld, const struct pl__dy *n, const char *path, bool *out) {
    PL_TRY(want(ld, n, PL__DY_SCALAR, path));
    if (!strcmp(n->scalar, "true") || !strcmp(n->scalar, "yes")) *out = true;
    else if (!strcmp(n->scalar, "false") || !strcmp(n->scalar, "no")) *out = false;
    else return bad(ld, n->line, path, "expected true or false, got '%s'", n->scalar);
    return PL_OK;
}

/* A list of strings (a single string is a list of one); normalize: pl_dlg_normalize each. */
static pl_status strings(struct ld *ld, const struct pl__dy *n, const char *path, bool normalize,
                         char ***out, int *count) {
    const struct pl__dy *one[1] = {n};
    const struct pl__dy *const *items = n->type == PL__DY_SCALAR ? one
                                        : (const struct pl__dy *const *)n->items;
    int k = n->type == PL__DY_SCALAR ? 1 : n->n;
    if (n->type == PL__DY_MAP) return bad(ld, n->line, path, "expected a list of words");
    char **v = pl_calloc((size_t)k + 1, sizeof *v);
    if (!v) return PL_ERR(PL_E_NOMEM, "spec");
    *out = v;
    for (int i = 0; i < k; i++) {
        PL_TRY(want(ld, items[i], PL__DY_SCALAR, path));
        v[i] = normalize ? pl_dlg_normalize(items[i]->scalar) : pl_strdup(items[i]->scalar);
        if (!v[i]) return PL_ERR(PL_E_NOMEM, "spec");
        *count = i + 1;
        if (!v[i][0]) return bad(ld, items[i]->line, path, "empty value");
    }
    return PL_OK;
}

static pl_status ref_response(struct ld *ld, const struct pl__dy *n, const char *path, int *out) {
    PL_TRY(want(ld, n, PL__DY_SCALAR, path));
    *out = pl__dlg_spec_response(ld->s, n->scalar);
    if (*out < 0) return bad(ld, n->line, path, "undefined response '%s'", n->scalar);
    return PL_OK;
}

static pl_status ref_slot(struct ld *ld, const struct pl__dy *n, const char *path, int *out) {
    PL_TRY(want(ld, n, PL__DY_SCALAR, path));
    *out = pl__dlg_spec_slot(ld->s, n->scalar);
    if (*out < 0) return bad(ld, n->line, path, "undefined slot '%s'", n->scalar);
    return PL_OK;
}

static pl_status ref_flow(struct ld *ld, const struct pl__dy *n, const char *path, int *out) {
    PL_TRY(want(ld, n, PL__DY_SCALAR, path));
    *out = pl__dlg_spec_flow(ld->s, n->scalar);
    if (*out < 0) return bad(ld, n->line, path, "undefined flow '%s'", n->scalar);
    return PL_OK;
}

/* An optional response reference: -1 when the key is absent. */
static pl_status opt_response(struct ld *ld, const struct pl__dy *m, const char *key,
                              const char *path, int *out) {
    *out = -1;
    const struct pl__dy *n = pl__dy_get(m, key);
    if (!n) return PL_OK;
    char p[256];
    join(p, sizeof p, path, key);
    return ref_response(ld, n, p, out);
}

/* ---- names (pass 1) ------------------------------------------------------------------------- */

static pl_status names(struct ld *ld, const struct pl__dy *m, const char *path, size_t elem,
                       void **arr, int *count) {
    if (!m) return PL_OK;
    PL_TRY(want(ld, m, PL__DY_MAP, path));
    char *v = pl_calloc((size_t)m->n + 1, elem);
    if (!v) return PL_ERR(PL_E_NOMEM, "spec");
    *arr = v;
    for (int i = 0; i < m->n; i++) {
        char **name = (char **)(void *)(v + (size_t)i * elem); /* name is each struct's first */
        if (!(*name = pl_strdup(m->keys[i]))) return PL_ERR(PL_E_NOMEM, "spec");
        *count = i + 1;
    }
    return PL_OK;
}

/* ---- responses ------------------------------------------------------------------------------ */

struct tmpl_check {
    struct ld *ld;
    int line;
    const char *path;
};

static const char *const builtin_vars[] = {"result", "items", "count", "prompt", "answer",
                                           "slot", "value", "min", "max", "choices", NULL};

static pl_status check_ref(void *ud, const char *name) {
    struct tmpl_check *c = ud;
    for (const char *const *v = builtin_vars; *v; v++)
        if (!strcmp(*v, name)) return PL_OK;
    for (int i = 0; i < c->ld->s->n_vars; i++)
        if (!strcmp(c->ld->s->vars[i], name)) return PL_OK;
    if (pl__dlg_spec_slot(c->ld->s, name) >= 0) return PL_OK;
    return bad(c->ld, c->line, c->path, "undefined slot '%s' in the template", name);
}

static pl_status check_template(struct ld *ld, const char *t, int line, const char *path) {
    struct tmpl_check c = {ld, line, path};
    pl_status st = pl__dlg_template_refs(t, check_ref, &c);
    if (st != PL_OK && !strstr(pl_last_error(), ld->file)) /* a syntax error: add where */
        return bad(ld, line, path, "%s", pl_last_error());
    return st;
}

static pl_status load_responses(struct ld *ld, const struct pl__dy *m) {
    for (int i = 0; i < m->n; i++) {
        char path[256];
        join(path, sizeof path, "responses", m->keys[i]);
        struct pl__dlg_response *r = &ld->s->responses[i];
        PL_TRY(strings(ld, m->items[i], path, false, &r->texts, &r->n));
        if (r->n == 0) return bad(ld, m->items[i]->line, path, "no text");
        const struct pl__dy *n = m->items[i];
        for (int k = 0; k < r->n; k++)
            PL_TRY(check_template(ld, r->texts[k], n->type == PL__DY_SEQ ? n->items[k]->line
                                                                         : n->line, path));
    }
    return PL_OK;
}

/* ---- slots ---------------------------------------------------------------------------------- */

static pl_status load_slot(struct ld *ld, struct pl__dlg_slot *sl, const struct pl__dy *m,
                           const char *path) {
    static const char *const allowed[] = {"type", "nlu", "entities", "min", "max", "choices",
                                          "strip", "prompt", "invalid", NULL};
    PL_TRY(keys_ok(ld, m, path, allowed, NULL));
    char p[256];
    const struct pl__dy *n;
    sl->type = PL__SLOT_TEXT;
    if ((n = pl__dy_get(m, "type"))) {
        join(p, sizeof p, path, "type");
        PL_TRY(want(ld, n, PL__DY_SCALAR, p));
        if (!strcmp(n->scalar, "number")) sl->type = PL__SLOT_NUMBER;
        else if (!strcmp(n->scalar, "choice")) sl->type = PL__SLOT_CHOICE;
        else if (strcmp(n->scalar, "text"))
            return bad(ld, n->line, p, "unknown type '%s' (text, number, choice)", n->scalar);
    }
    if ((n = pl__dy_get(m, "nlu"))) {
        join(p, sizeof p, path, "nlu");
        PL_TRY(strings(ld, n, p, false, &sl->nlu, &sl->n_nlu));
    }
    if ((n = pl__dy_get(m, "entities"))) { /* NER types (PER, LOC, ...) filling it */
        join(p, sizeof p, path, "entities");
        PL_TRY(strings(ld, n, p, false, &sl->entities, &sl->n_entities));
        ld->s->uses_entities = true;
    }
    double d;
    if ((n = pl__dy_get(m, "min"))) {
        join(p, sizeof p, path, "min");
        PL_TRY(number(ld, n, p, -1e9, 1e9, &d));
        sl->min = (long)d;
        sl->has_min = true;
    }
    if ((n = pl__dy_get(m, "max"))) {
        join(p, sizeof p, path, "max");
        PL_TRY(number(ld, n, p, -1e9, 1e9, &d));
        sl->max = (long)d;
        sl->has_max = true;
    }
    if ((sl->has_min || sl->has_max) && sl->type != PL__SLOT_NUMBER)
        return bad(ld, m->line, path, "min/max need type: number");
    if ((n = pl__dy_get(m, "choices"))) {
        join(p, sizeof p, path, "choices");
        PL_TRY(strings(ld, n, p, true, &sl->choices, &sl->n_choices));
    }
    if ((sl->type == PL__SLOT_CHOICE) != (sl->n_choices > 0))
        return bad(ld, m->line, path, "type: choice and choices go together");
    if ((n = pl__dy_get(m, "strip"))) {
        join(p, sizeof p, path, "strip");
        PL_TRY(strings(ld, n, p, true, &sl->strip, &sl->n_strip));
    }
    PL_TRY(opt_response(ld, m, "prompt", path, &sl->prompt));
    return opt_response(ld, m, "invalid", path, &sl->invalid);
}

/* ---- steps ---------------------------------------------------------------------------------- */

static const struct {
    const char *name;
    enum pl__dlg_action a;
} actions[] = {
    {"kb_answer", PL__ACT_KB_ANSWER}, {"tell_time", PL__ACT_TELL_TIME},
    {"tell_date", PL__ACT_TELL_DATE}, {"set_slot", PL__ACT_SET_SLOT},
    {"clear_slot", PL__ACT_CLEAR_SLOT}, {"close", PL__ACT_CLOSE},
    {"save", PL__ACT_SAVE},           {"list", PL__ACT_LIST},
    {"cancel", PL__ACT_CANCEL},       {"webhook", PL__ACT_WEBHOOK},
    {"nats", PL__ACT_NATS},
};

/* ---- external actions: webhooks and NATS subjects ------------------------------------------ */

/* An http(s) URL without spaces or control characters. */
static bool url_ok(const char *u) {
    if (strncmp(u, "http://", 7) && strncmp(u, "https://", 8)) return false;
    size_t n = strlen(u);
    if (n > 2048 || n <= 8) return false;
    for (const unsigned char *p = (const unsigned char *)u; *p; p++)
        if (*p <= ' ' || *p == 0x7f) return false;
    return true;
}

static bool token_ok(const char *t, size_t n) {
    if (n == 0) return false;
    for (size_t i = 0; i < n; i++) {
        char c = t[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return false;
    }
    return true;
}

/* parley.<svc>.<rpc> where svc is not one of Parley's own services (a spec must not talk to
 * parley-nlu, parley-qa, ... as if they were fulfilment). */
static pl_status subject_ok(struct ld *ld, const struct pl__dy *n, const char *path) {
    static const char *const own[] = {"asr", "nlu", "qa", "tts", "dialog", "gateway", "kb", NULL};
    const char *v = n->scalar, *a = v + 7, *b = strchr(a, '.');
    bool ok = !strncmp(v, "parley.", 7) && b && token_ok(a, (size_t)(b - a)) &&
              token_ok(b + 1, strlen(b + 1));
    if (!ok)
        return bad(ld, n->line, path, "'%s' is not a subject parley.<service>.<action> (letters, "
                   "digits, _ and -; no wildcards)", v);
    for (const char *const *o = own; *o; o++)
        if (strlen(*o) == (size_t)(b - a) && !strncmp(a, *o, (size_t)(b - a)))
            return bad(ld, n->line, path, "'%s' is a subject of parley-%s, not of an action", v,
                       *o);
    return PL_OK;
}

/* Every `vars:` list of the spec (webhooks and actions): template variables an external action
 * may set. Collected before the responses are checked, wherever they are declared. */
static pl_status collect_vars(struct ld *ld, const struct pl__dy *n) {
    if (!n || n->type == PL__DY_SCALAR) return PL_OK;
    for (int i = 0; i < n->n; i++) {
        const struct pl__dy *c = n->items[i];
        bool is_vars = n->type == PL__DY_MAP && !strcmp(n->keys[i], "vars");
        if (!is_vars) {
            PL_TRY(collect_vars(ld, c));
            continue;
        }
        int k = c->type == PL__DY_SCALAR ? 1 : c->type == PL__DY_SEQ ? c->n : 0;
        for (int j = 0; j < k; j++) {
            const struct pl__dy *v = c->type == PL__DY_SCALAR ? c : c->items[j];
            if (v->type != PL__DY_SCALAR) continue; /* reported where it is loaded */
            char **nv = pl_realloc(ld->s->vars, (size_t)(ld->s->n_vars + 1) * sizeof *nv);
            if (!nv) return PL_ERR(PL_E_NOMEM, "spec");
            ld->s->vars = nv;
            if (!(nv[ld->s->n_vars] = pl_strdup(v->scalar))) return PL_ERR(PL_E_NOMEM, "spec");
            ld->s->n_vars++;
        }
    }
    return PL_OK;
}

static pl_status opt_int(struct ld *ld, const struct pl__dy *m, const char *key, const char *path,
                         double lo, double hi, int *out) {
    const struct pl__dy *n = pl__dy_get(m, key);
    if (!n) return PL_OK;
    char p[256];
    join(p, sizeof p, path, key);
    double d;
    PL_TRY(number(ld, n, p, lo, hi, &d));
    *out = (int)d;
    return PL_OK;
}

static pl_status load_headers(struct ld *ld, struct pl__dlg_webhook *w, const struct pl__dy *m,
                              const char *path) {
    PL_TRY(want(ld, m, PL__DY_MAP, path));
    if (!(w->headers = pl_calloc((size_t)m->n + 1, sizeof *w->headers)))
        return PL_ERR(PL_E_NOMEM, "spec");
    for (int i = 0; i < m->n; i++) {
        PL_TRY(want(ld, m->items[i], PL__DY_SCALAR, path));
        const char *k = m->keys[i], *v = m->items[i]->scalar;
        if (!token_ok(k, strlen(k)) || strpbrk(v, "\r\n"))
            return bad(ld, m->key_lines[i], path, "bad header '%s'", k);
        struct pl_strbuf b;
        pl_strbuf_init(&b);
        pl_strbuf_appendf(&b, "%s: %s", k, v);
        if (!b.data) return PL_ERR(PL_E_NOMEM, "spec");
        w->headers[w->n_headers++] = b.data;
    }
    return PL_OK;
}

/* One entry of `webhooks:`. The URL is the value of url_env when the operator set it, else
 * `url`; neither = the webhook is not configured (its actions say so). */
static pl_status load_webhook(struct ld *ld, struct pl__dlg_webhook *w, const struct pl__dy *m,
                              const char *path) {
    static const char *const allowed[] = {"url", "url_env", "timeout_ms", "retries", "headers",
                                          "vars", NULL};
    PL_TRY(keys_ok(ld, m, path, allowed, NULL));
    w->line = m->line;
    w->timeout_ms = 2000;
    w->retries = 1;
    char p[256];
    const struct pl__dy *n;
    PL_TRY(opt_int(ld, m, "timeout_ms", path, 1, 600000, &w->timeout_ms));
    PL_TRY(opt_int(ld, m, "retries", path, 0, 10, &w->retries));
    if ((n = pl__dy_get(m, "headers"))) {
        join(p, sizeof p, path, "headers");
        PL_TRY(load_headers(ld, w, n, p));
    }
    if ((n = pl__dy_get(m, "vars"))) {
        char **v = NULL;
        int k = 0;
        join(p, sizeof p, path, "vars");
        pl_status st = strings(ld, n, p, false, &v, &k);
        for (int i = 0; i < k; i++) pl_free(v[i]);
        pl_free(v);
        PL_TRY(st);
    }
    const char *url = "";
    if ((n = pl__dy_get(m, "url_env"))) {
        join(p, sizeof p, path, "url_env");
        PL_TRY(scalar(ld, n, p, &w->url_env));
        const char *e = getenv(w->url_env);
        if (e && *e) {
            if (!url_ok(e))
                return bad(ld, n->line, p, "$%s is not an http(s) URL: '%.200s'", w->url_env, e);
            url = e;
        }
    }
    if ((n = pl__dy_get(m, "url")) && !*url) {
        join(p, sizeof p, path, "url");
        PL_TRY(want(ld, n, PL__DY_SCALAR, p));
        if (n->scalar[0] && !url_ok(n->scalar))
            return bad(ld, n->line, p, "'%.200s' is not an http(s) URL", n->scalar);
        url = n->scalar;
    }
    w->url = pl_strdup(url);
    return w->url ? PL_OK : PL_ERR(PL_E_NOMEM, "spec");
}

/* The keys of a webhook or nats step (after action, say). */
static pl_status load_external(struct ld *ld, struct pl__dlg_step *st, const struct pl__dy *m,
                               const char *path) {
    char p[256];
    const struct pl__dy *n = pl__dy_get(m, "webhook"), *subj = pl__dy_get(m, "subject");
    bool web = st->action == PL__ACT_WEBHOOK;
    if (web ? subj : n)
        return bad(ld, (web ? subj : n)->line, path, web ? "a webhook action has no subject "
                   "(its URL is under webhooks:)" : "a nats action has no webhook");
    if (web ? !n : !subj)
        return bad(ld, m->line, path, "missing required key '%s'", web ? "webhook" : "subject");
    if (pl__dy_get(m, "timeout_ms") && web)
        return bad(ld, pl__dy_get(m, "timeout_ms")->line, path,
                   "a webhook's timeout_ms is set under webhooks:");
    join(p, sizeof p, path, web ? "webhook" : "subject");
    if (web) {
        PL_TRY(want(ld, n, PL__DY_SCALAR, p));
        st->webhook = -1;
        for (int i = 0; i < ld->s->n_webhooks; i++)
            if (!strcmp(ld->s->webhooks[i].name, n->scalar)) st->webhook = i;
        if (st->webhook < 0) return bad(ld, n->line, p, "undefined webhook '%s'", n->scalar);
    } else {
        PL_TRY(want(ld, subj, PL__DY_SCALAR, p));
        PL_TRY(subject_ok(ld, subj, p));
        PL_TRY(scalar(ld, subj, p, &st->subject));
        st->timeout_ms = 2000;
        PL_TRY(opt_int(ld, m, "timeout_ms", path, 1, 600000, &st->timeout_ms));
    }
    if ((n = pl__dy_get(m, "vars"))) {
        char **v = NULL;
        int k = 0;
        join(p, sizeof p, path, "vars");
        pl_status s2 = web ? bad(ld, n->line, p, "a webhook's vars are set under webhooks:")
                           : strings(ld, n, p, false, &v, &k);
        for (int i = 0; i < k; i++) pl_free(v[i]);
        pl_free(v);
        PL_TRY(s2);
    }
    PL_TRY(opt_response(ld, m, "failed", path, &st->failed));
    return opt_response(ld, m, "unconfigured", path, &st->unconfigured);
}

static pl_status load_action(struct ld *ld, struct pl__dlg_step *st, const struct pl__dy *m,
                             const char *path) {
    static const char *const allowed[] = {"action", "say", "empty", "item", "slot", "value",
                                          "kind", "webhook", "subject", "timeout_ms", "vars",
                                          "failed", "unconfigured", NULL};
    PL_TRY(keys_ok(ld, m, path, allowed, NULL));
    const struct pl__dy *n = pl__dy_get(m, "action");
    char p[256];
    join(p, sizeof p, path, "action");
    PL_TRY(want(ld, n, PL__DY_SCALAR, p));
    size_t k = 0;
    while (k < PL_ARRAY_LEN(actions) && strcmp(actions[k].name, n->scalar)) k++;
    if (k == PL_ARRAY_LEN(actions))
        return bad(ld, n->line, p, "unknown action '%s' (kb_answer, tell_time, tell_date, "
                   "set_slot, clear_slot, close, save, list, cancel, webhook, nats)", n->scalar);
    st->kind = PL__STEP_ACTION;
    st->action = actions[k].a;
    PL_TRY(opt_response(ld, m, "say", path, &st->response));
    PL_TRY(opt_response(ld, m, "empty", path, &st->empty));
    PL_TRY(opt_response(ld, m, "item", path, &st->item));
    bool external = st->action == PL__ACT_WEBHOOK || st->action == PL__ACT_NATS;
    if (external) PL_TRY(load_external(ld, st, m, path));
    static const char *const external_only[] = {"webhook", "subject", "timeout_ms", "vars",
                                                "failed", "unconfigured", NULL};
    for (const char *const *x = external_only; !external && *x; x++)
        if ((n = pl__dy_get(m, *x)))
            return bad(ld, n->line, path, "only webhook and nats actions take %s", *x);
    bool needs_slot = st->action == PL__ACT_SET_SLOT || st->action == PL__ACT_CLEAR_SLOT;
    bool needs_kind = st->action == PL__ACT_SAVE || st->action == PL__ACT_LIST ||
                      st->action == PL__ACT_CANCEL;
    if ((n = pl__dy_get(m, "slot")) || needs_slot) {
        join(p, sizeof p, path, "slot");
        if (!n || !needs_slot)
            return bad(ld, n ? n->line : m->line, p, n ? "only set_slot and clear_slot take a "
                       "slot" : "missing required key 'slot'");
        PL_TRY(ref_slot(ld, n, p, &st->slot));
    }
    if ((n = pl__dy_get(m, "value")) || st->action == PL__ACT_SET_SLOT) {
        join(p, sizeof p, path, "value");
        if (!n || st->action != PL__ACT_SET_SLOT)
            return bad(ld, n ? n->line : m->line, p, n ? "only set_slot takes a value"
                                                       : "missing required key 'value'");
        PL_TRY(scalar(ld, n, p, &st->value));
        PL_TRY(check_template(ld, st->value, n->line, p));
    }
    if ((n = pl__dy_get(m, "kind")) || needs_kind) {
        join(p, sizeof p, path, "kind");
        if (!n || !needs_kind)
            return bad(ld, n ? n->line : m->line, p, n ? "only save, list and cancel take a "
                       "kind" : "missing required key 'kind'");
        PL_TRY(scalar(ld, n, p, &st->kind_name));
    }
    return PL_OK;
}

static pl_status load_step(struct ld *ld, struct pl__dlg_step *st, const struct pl__dy *m,
                           const char *path) {
    st->response = st->empty = st->item = st->slot = st->flow = -1;
    st->webhook = st->failed = st->unconfigured = -1;
    PL_TRY(want(ld, m, PL__DY_MAP, path));
    if (pl__dy_get(m, "action")) return load_action(ld, st, m, path);
    static const char *const allowed[] = {"say", "start", "action", NULL};
    PL_TRY(keys_ok(ld, m, path, allowed, NULL));
    const struct pl__dy *say = pl__dy_get(m, "say"), *start = pl__dy_get(m, "start");
    if (!!say == !!start)
        return bad(ld, m->line, path, "a step is one of say, start or action");
    char p[256];
    join(p, sizeof p, path, say ? "say" : "start");
    st->kind = say ? PL__STEP_SAY : PL__STEP_START;
    return say ? ref_response(ld, say, p, &st->response) : ref_flow(ld, start, p, &st->flow);
}

static pl_status load_steps(struct ld *ld, struct pl__dlg_steps *out, const struct pl__dy *n,
                            const char *path) {
    if (!n) return PL_OK;
    PL_TRY(want(ld, n, PL__DY_SEQ, path));
    out->v = pl_calloc((size_t)n->n + 1, sizeof *out->v);
    if (!out->v) return PL_ERR(PL_E_NOMEM, "spec");
    for (int i = 0; i < n->n; i++) {
        char p[256];
        if (snprintf(p, sizeof p, "%s[%d]", path, i) >= (int)sizeof p) p[sizeof p - 1] = '\0';
        out->n = i + 1;
        PL_TRY(load_step(ld, &out->v[i], n->items[i], p));
    }
    return PL_OK;
}

/* ---- flows ---------------------------------------------------------------------------------- */

static pl_status slot_list(struct ld *ld, const struct pl__dy *n, const char *path, int **out,
                           int *count) {
    if (!n) return PL_OK;
    char **names_v = NULL;
    int k = 0;
    pl_status st = strings(ld, n, path, false, &names_v, &k);
    if (st == PL_OK && !(*out = pl_calloc((size_t)k + 1, sizeof **out)))
        st = PL_ERR(PL_E_NOMEM, "spec");
    for (int i = 0; st == PL_OK && i < k; i++) {
        (*out)[i] = pl__dlg_spec_slot(ld->s, names_v[i]);
        *count = i + 1;
        if ((*out)[i] < 0) st = bad(ld, n->line, path, "undefined slot '%s'", names_v[i]);
    }
    for (int i = 0; i < k; i++) pl_free(names_v[i]);
    pl_free(names_v);
    return st;
}

static pl_status load_flow(struct ld *ld, struct pl__dlg_flow *f, const struct pl__dy *m,
                           const char *path) {
    static const char *const allowed[] = {"slots", "optional", "confirm", "resume", "done",
                                          "denied", NULL};
    PL_TRY(keys_ok(ld, m, path, allowed, NULL));
    f->line = m->line;
    char p[256];
    join(p, sizeof p, path, "slots");
    PL_TRY(slot_list(ld, pl__dy_get(m, "slots"), p, &f->required, &f->n_required));
    join(p, sizeof p, path, "optional");
    PL_TRY(slot_list(ld, pl__dy_get(m, "optional"), p, &f->optional, &f->n_optional));
    PL_TRY(opt_response(ld, m, "confirm", path, &f->confirm));
    PL_TRY(opt_response(ld, m, "resume", path, &f->resume));
    join(p, sizeof p, path, "done");
    PL_TRY(load_steps(ld, &f->done, pl__dy_get(m, "done"), p));
    join(p, sizeof p, path, "denied");
    PL_TRY(load_steps(ld, &f->denied, pl__dy_get(m, "denied"), p));
    for (int i = 0; i < f->n_required; i++) /* each asked slot needs a prompt */
        if (ld->s->slots[f->required[i]].prompt < 0)
            return bad(ld, m->line, path, "slot '%s' is required but has no prompt",
                       ld->s->slots[f->required[i]].name);
    return PL_OK;
}

/* Depth-first search over the `start:` edges; color 1 = on the path, 2 = done. */
static pl_status cycle_from(struct ld *ld, int f, char *color) {
    color[f] = 1;
    const struct pl__dlg_flow *fl = &ld->s->flows[f];
    const struct pl__dlg_steps *lists[2] = {&fl->done, &fl->denied};
    for (int l = 0; l < 2; l++)
        for (int i = 0; i < lists[l]->n; i++) {
            int g = lists[l]->v[i].kind == PL__STEP_START ? lists[l]->v[i].flow : -1;
            if (g < 0 || color[g] == 2) continue;
            if (color[g] == 1)
                return bad(ld, fl->line, "flows", "cycle: flow '%s' starts '%s', which leads "
                           "back to it", fl->name, ld->s->flows[g].name);
            PL_TRY(cycle_from(ld, g, color));
        }
    color[f] = 2;
    return PL_OK;
}

static pl_status check_cycles(struct ld *ld) {
    char *color = pl_calloc((size_t)ld->s->n_flows + 1, 1);
    if (!color) return PL_ERR(PL_E_NOMEM, "spec");
    pl_status st = PL_OK;
    for (int f = 0; f < ld->s->n_flows && st == PL_OK; f++)
        if (!color[f]) st = cycle_from(ld, f, color);
    pl_free(color);
    return st;
}

/* ---- intents -------------------------------------------------------------------------------- */

static pl_status load_intent(struct ld *ld, struct pl__dlg_intent *in, const struct pl__dy *m,
                             const char *path) {
    static const char *const allowed[] = {"nlu", "keywords", "flow", "do", NULL};
    PL_TRY(keys_ok(ld, m, path, allowed, NULL));
    char p[256];
    const struct pl__dy *n;
    in->flow = -1;
    if ((n = pl__dy_get(m, "nlu"))) {
        join(p, sizeof p, path, "nlu");
        PL_TRY(strings(ld, n, p, false, &in->nlu, &in->n_nlu));
    }
    if ((n = pl__dy_get(m, "keywords"))) {
        join(p, sizeof p, path, "keywords");
        PL_TRY(strings(ld, n, p, true, &in->keywords, &in->n_keywords));
    }
    if (in->n_nlu == 0 && in->n_keywords == 0)
        return bad(ld, m->line, path, "an intent needs nlu labels or keywords");
    const struct pl__dy *flow = pl__dy_get(m, "flow"), *steps = pl__dy_get(m, "do");
    if (!!flow == !!steps) return bad(ld, m->line, path, "an intent has either flow or do");
    join(p, sizeof p, path, flow ? "flow" : "do");
    return flow ? ref_flow(ld, flow, p, &in->flow) : load_steps(ld, &in->steps, steps, p);
}

/* ---- the whole spec ------------------------------------------------------------------------- */

/* A model directory's name as parley-nlu serves it: letters, digits, '.', '_', '-'. */
static bool model_name_ok(const char *n) {
    size_t len = strlen(n);
    if (len == 0 || len > 128 || n[0] == '.') return false;
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)n[i]) && !strchr("._-", n[i])) return false;
    return true;
}

static pl_status load_settings(struct ld *ld, const struct pl__dy *m) {
    struct pl_dlg_spec *s = ld->s;
    s->nlu_threshold = 0.5f;
    s->switch_threshold = 0.9f;
    s->switch_min_words = 4;
    s->keyword_slack = 3;
    s->questions_to_kb = true;
    if (!m) return PL_OK;
    static const char *const allowed[] = {"nlu_threshold", "switch_threshold", "switch_min_words",
                                          "keyword_slack", "questions_to_kb", "nlu_model", NULL};
    PL_TRY(keys_ok(ld, m, "settings", allowed, NULL));
    const struct pl__dy *n;
    double d;
    if ((n = pl__dy_get(m, "nlu_threshold"))) {
        PL_TRY(number(ld, n, "settings.nlu_threshold", 0, 1, &d));
        s->nlu_threshold = (float)d;
    }
    if ((n = pl__dy_get(m, "switch_threshold"))) {
        PL_TRY(number(ld, n, "settings.switch_threshold", 0, 1, &d));
        s->switch_threshold = (float)d;
    }
    if ((n = pl__dy_get(m, "switch_min_words"))) {
        PL_TRY(number(ld, n, "settings.switch_min_words", 0, 100, &d));
        s->switch_min_words = (int)d;
    }
    if ((n = pl__dy_get(m, "keyword_slack"))) {
        PL_TRY(number(ld, n, "settings.keyword_slack", 0, 100, &d));
        s->keyword_slack = (int)d;
    }
    if ((n = pl__dy_get(m, "questions_to_kb")))
        PL_TRY(boolean(ld, n, "settings.questions_to_kb", &s->questions_to_kb));
    if ((n = pl__dy_get(m, "nlu_model"))) {
        PL_TRY(scalar(ld, n, "settings.nlu_model", &s->nlu_model));
        if (!model_name_ok(s->nlu_model))
            return bad(ld, n->line, "settings.nlu_model", "'%s' is not a model name (letters, "
                       "digits, '.', '_' and '-', at most 128)", s->nlu_model);
    }
    return PL_OK;
}

/* The responses the engine says on its own must be defined by every spec. */
static pl_status builtin_responses(struct ld *ld, int line) {
    struct {
        const char *name;
        int *at;
    } need[] = {{"fallback", &ld->s->r_fallback},     {"kb_no_answer", &ld->s->r_kb_no_answer},
                {"kb_unavailable", &ld->s->r_kb_failed}, {"ask_yes_no", &ld->s->r_ask_confirm},
                {"invalid_value", &ld->s->r_invalid}, {"resume", &ld->s->r_resume}};
    for (size_t i = 0; i < PL_ARRAY_LEN(need); i++) {
        *need[i].at = pl__dlg_spec_response(ld->s, need[i].name);
        if (*need[i].at < 0)
            return bad(ld, line, "responses", "missing required response '%s' (the engine "
                       "says it)", need[i].name);
    }
    ld->s->r_action_failed = pl__dlg_spec_response(ld->s, "action_failed");
    return PL_OK;
}

static pl_status load(struct ld *ld, const struct pl__dy *root) {
    /* nlu: training examples for `parley nlu train` (docs/nlu.md, "Custom intents"); the
     * dialog itself does not read them, the model trained from them serves its intents */
    static const char *const allowed[] = {"dialog", "version", "settings", "slots", "responses",
                                          "intents", "flows", "webhooks", "nlu", NULL};
    static const char *const required[] = {"dialog", "responses", "intents", NULL};
    struct pl_dlg_spec *s = ld->s;
    PL_TRY(keys_ok(ld, root, "(top)", allowed, required));
    const struct pl__dy *nlu = pl__dy_get(root, "nlu");
    if (nlu && nlu->type != PL__DY_SEQ)
        return bad(ld, nlu->line, "nlu", "a list of '- intent: NAME' entries with their "
                   "examples (the training data of `parley nlu train`; docs/nlu.md)");
    PL_TRY(scalar(ld, pl__dy_get(root, "dialog"), "dialog", &s->name));
    const struct pl__dy *n;
    double d;
    if ((n = pl__dy_get(root, "version"))) PL_TRY(number(ld, n, "version", 1, 1, &d));
    PL_TRY(load_settings(ld, pl__dy_get(root, "settings")));
    const struct pl__dy *slots = pl__dy_get(root, "slots"), *flows = pl__dy_get(root, "flows");
    const struct pl__dy *resp = pl__dy_get(root, "responses"), *ints = pl__dy_get(root, "intents");
    PL_TRY(names(ld, slots, "slots", sizeof *s->slots, (void **)&s->slots, &s->n_slots));
    PL_TRY(names(ld, resp, "responses", sizeof *s->responses, (void **)&s->responses,
                 &s->n_responses));
    PL_TRY(names(ld, flows, "flows", sizeof *s->flows, (void **)&s->flows, &s->n_flows));
    PL_TRY(names(ld, ints, "intents", sizeof *s->intents, (void **)&s->intents, &s->n_intents));
    const struct pl__dy *hooks = pl__dy_get(root, "webhooks");
    PL_TRY(names(ld, hooks, "webhooks", sizeof *s->webhooks, (void **)&s->webhooks,
                 &s->n_webhooks));
    PL_TRY(builtin_responses(ld, resp->line));
    PL_TRY(collect_vars(ld, root));
    PL_TRY(load_responses(ld, resp));
    char p[256];
    for (int i = 0; i < s->n_webhooks; i++) {
        join(p, sizeof p, "webhooks", hooks->keys[i]);
        PL_TRY(load_webhook(ld, &s->webhooks[i], hooks->items[i], p));
    }
    for (int i = 0; i < s->n_slots; i++) {
        join(p, sizeof p, "slots", slots->keys[i]);
        PL_TRY(load_slot(ld, &s->slots[i], slots->items[i], p));
    }
    for (int i = 0; i < s->n_flows; i++) {
        join(p, sizeof p, "flows", flows->keys[i]);
        PL_TRY(load_flow(ld, &s->flows[i], flows->items[i], p));
    }
    for (int i = 0; i < s->n_intents; i++) {
        join(p, sizeof p, "intents", ints->keys[i]);
        PL_TRY(load_intent(ld, &s->intents[i], ints->items[i], p));
    }
    return check_cycles(ld);
}

pl_status pl_dlg_spec_parse(const char *name, const char *text, size_t len,
                            struct pl_dlg_spec **out) {
    *out = NULL;
    struct pl__dy *root = NULL;
    PL_TRY(pl__dy_parse(name, text, len, &root));
    struct pl_dlg_spec *s = pl_calloc(1, sizeof *s);
    pl_status st = s ? PL_OK : PL_ERR(PL_E_NOMEM, "spec");
    if (st == PL_OK && !(s->file = pl_strdup(name))) st = PL_ERR(PL_E_NOMEM, "spec");
    struct ld ld = {name, s};
    if (st == PL_OK) st = load(&ld, root);
    pl__dy_free(root);
    if (st != PL_OK) {
        pl_dlg_spec_destroy(s);
        return st;
    }
    *out = s;
    return PL_OK;
}

pl_status pl_dlg_spec_load(const char *path, struct pl_dlg_spec **out) {
    *out = NULL;
    char *text = NULL;
    size_t len = 0;
    PL_TRY(pl_read_file(path, 4 << 20, &text, &len));
    pl_status st = pl_dlg_spec_parse(path, text, len, out);
    pl_free(text);
    return st;
}

/* ---- destroy -------------------------------------------------------------------------------- */

static void free_strings(char **v, int n) {
    for (int i = 0; v && i < n; i++) pl_free(v[i]);
    pl_free(v);
}

static void free_steps(struct pl__dlg_steps *s) {
    for (int i = 0; i < s->n; i++) {
        pl_free(s->v[i].value);
        pl_free(s->v[i].kind_name);
        pl_free(s->v[i].subject);
    }
    pl_free(s->v);
}

void pl_dlg_spec_destroy(struct pl_dlg_spec *s) {
    if (!s) return;
    for (int i = 0; s->slots && i < s->n_slots; i++) {
        pl_free(s->slots[i].name);
        free_strings(s->slots[i].nlu, s->slots[i].n_nlu);
        free_strings(s->slots[i].entities, s->slots[i].n_entities);
        free_strings(s->slots[i].choices, s->slots[i].n_choices);
        free_strings(s->slots[i].strip, s->slots[i].n_strip);
    }
    for (int i = 0; s->responses && i < s->n_responses; i++) {
        pl_free(s->responses[i].name);
        free_strings(s->responses[i].texts, s->responses[i].n);
    }
    for (int i = 0; s->flows && i < s->n_flows; i++) {
        pl_free(s->flows[i].name);
        pl_free(s->flows[i].required);
        pl_free(s->flows[i].optional);
        free_steps(&s->flows[i].done);
        free_steps(&s->flows[i].denied);
    }
    for (int i = 0; s->intents && i < s->n_intents; i++) {
        pl_free(s->intents[i].name);
        free_strings(s->intents[i].nlu, s->intents[i].n_nlu);
        free_strings(s->intents[i].keywords, s->intents[i].n_keywords);
        free_steps(&s->intents[i].steps);
    }
    for (int i = 0; s->webhooks && i < s->n_webhooks; i++) {
        pl_free(s->webhooks[i].name);
        pl_free(s->webhooks[i].url);
        pl_free(s->webhooks[i].url_env);
        free_strings(s->webhooks[i].headers, s->webhooks[i].n_headers);
    }
    pl_free(s->webhooks);
    pl_free(s->nlu_model);
    free_strings(s->vars, s->n_vars);
    pl_free(s->slots);
    pl_free(s->responses);
    pl_free(s->flows);
    pl_free(s->intents);
    pl_free(s->name);
    pl_free(s->file);
    pl_free(s);
}
