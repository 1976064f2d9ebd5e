/*
 * dialog_pipeline.c - load and validate a pipeline file (dialog.h; the format is
 * docs/pipelines.md, the shipped ones are in pipelines/).
 *
 * The text is read twice: by jansson, strictly as JSON (syntax errors name line and column,
 * duplicate keys are refused, types are exact: "800" is not a number), and by the dialog
 * core's YAML reader (JSON is YAML), which remembers the line of every key, so a message about
 * a value names the line it is on. Values are then checked stage by stage; every error is
 * "FILE:LINE: KEY.PATH: what".
 */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "dialog_impl.h"
#include "file.h"
#include "strbuf.h"

struct pl_ld {
    const char *file;
    const struct pl__dy *tree; /* the same document with line numbers */
};

static pl_status bad(const struct pl_ld *ld, int line, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static pl_status bad(const struct pl_ld *ld, int line, const char *path, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return PL_ERR(PL_E_FORMAT, "%s:%d: %s: %s", ld->file, line, path, msg);
}

/* The line of key `key` of stage `stage` ("" = a top-level key; key NULL = the stage's own
 * line); 1 when unknown. */
static int line_of(const struct pl_ld *ld, const char *stage, const char *key) {
    const struct pl__dy *m = ld->tree;
    if (stage[0]) {
        for (int i = 0; m && i < m->n; i++)
            if (!strcmp(m->keys[i], stage)) {
                if (!key) return m->key_lines[i];
                m = m->items[i];
                break;
            }
    }
    for (int i = 0; m && m->type == PL__DY_MAP && key && i < m->n; i++)
        if (!strcmp(m->keys[i], key)) return m->key_lines[i];
    return m ? m->line : 1;
}

static const char *type_name(const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "a list";
    case JSON_STRING: return "a string";
    case JSON_INTEGER:
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "true or false";
    default: return "null";
    }
}

/* Every key of o is in allowed[] (NULL-terminated). */
static pl_status keys_ok(const struct pl_ld *ld, const json_t *o, const char *stage,
                         const char *const *allowed) {
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)o, k, v) {
        bool ok = false;
        for (const char *const *a = allowed; *a && !ok; a++) ok = !strcmp(*a, k);
        if (ok) continue;
        struct pl_strbuf known;
        pl_strbuf_init(&known);
        for (const char *const *a = allowed; *a; a++) {
            if (a != allowed) pl_strbuf_append(&known, ", ");
            pl_strbuf_append(&known, *a);
        }
        pl_status st = bad(ld, line_of(ld, stage, k), stage[0] ? stage : "pipeline",
                           "unknown key '%s' (known: %s)", k, known.data ? known.data : "");
        pl_strbuf_deinit(&known);
        return st;
    }
    return PL_OK;
}

/* "stage.key", or "key" at the top level. */
static void kpath(char *buf, size_t n, const char *stage, const char *key) {
    snprintf(buf, n, "%s%s%s", stage, stage[0] ? "." : "", key);
}

/* Optional string stage.key into *out (a copy; def when absent). */
static pl_status str(const struct pl_ld *ld, const json_t *o, const char *stage, const char *key,
                     const char *def, char **out) {
    const json_t *v = json_object_get(o, key);
    char path[128];
    kpath(path, sizeof path, stage, key);
    if (v && !json_is_string(v))
        return bad(ld, line_of(ld, stage, key), path, "expected a string, got %s", type_name(v));
    *out = pl_strdup(v ? json_string_value(v) : def);
    return *out ? PL_OK : PL_ERR(PL_E_NOMEM, "pipeline");
}

/* Optional integer stage.key in [lo, hi] (or exactly zero when zero_ok). */
static pl_status integer(const struct pl_ld *ld, const json_t *o, const char *stage,
                         const char *key, long lo, long hi, bool zero_ok, int *out) {
    const json_t *v = json_object_get(o, key);
    if (!v) return PL_OK;
    char path[128];
    kpath(path, sizeof path, stage, key);
    if (!json_is_integer(v))
        return bad(ld, line_of(ld, stage, key), path, "expected an integer, got %s",
                   type_name(v));
    json_int_t x = json_integer_value(v);
    if ((x < lo || x > hi) && !(zero_ok && x == 0))
        return bad(ld, line_of(ld, stage, key), path, "%lld is out of range: %s%ld..%ld",
                   (long long)x, zero_ok ? "0 or " : "", lo, hi);
    *out = (int)x;
    return PL_OK;
}

static pl_status boolean(const struct pl_ld *ld, const json_t *o, const char *stage,
                         const char *key, bool *out) {
    const json_t *v = json_object_get(o, key);
    if (!v) return PL_OK;
    char path[128];
    kpath(path, sizeof path, stage, key);
    if (!json_is_boolean(v))
        return bad(ld, line_of(ld, stage, key), path, "expected true or false, got %s",
                   type_name(v));
    *out = json_is_true(v);
    return PL_OK;
}

/* The stage object of the document, or NULL when absent (an error when not an object). */
static pl_status stage_of(const struct pl_ld *ld, const json_t *root, const char *stage,
                          const char *const *allowed, const json_t **out, bool *has) {
    *out = json_object_get(root, stage);
    *has = *out != NULL;
    if (!*out) return PL_OK;
    if (!json_is_object(*out))
        return bad(ld, line_of(ld, stage, NULL), stage, "expected an object, got %s",
                   type_name(*out));
    return keys_ok(ld, *out, stage, allowed);
}

/* ---- stages --------------------------------------------------------------------------------- */

/* asr.end_of_turn_silence_ms (0 = the service's, -1 = off, else 50..5000),
 * asr.end_of_turn_min_confidence (0 = the service's, else up to 1) and
 * asr.end_of_turn_tone (true or false; absent = the service's),
 * asr.end_of_turn_model (a string; absent = the service's, "" = none) and
 * asr.end_of_turn_min_complete (0 = the service's, else up to 1). */
static pl_status load_eot(const struct pl_ld *ld, const json_t *o, struct pl_dlg_pipeline *p) {
    PL_TRY(integer(ld, o, "asr", "end_of_turn_silence_ms", -1, 5000, true,
                   &p->asr.eot_silence_ms));
    if (p->asr.eot_silence_ms > 0 && p->asr.eot_silence_ms < 50)
        return bad(ld, line_of(ld, "asr", "end_of_turn_silence_ms"), "asr.end_of_turn_silence_ms",
                   "%d is out of range: 0 (the service's), -1 (off) or 50..5000",
                   p->asr.eot_silence_ms);
    const json_t *t = o ? json_object_get(o, "end_of_turn_min_confidence") : NULL;
    if (t && (!json_is_number(t) || json_number_value(t) < 0 || json_number_value(t) > 1))
        return bad(ld, line_of(ld, "asr", "end_of_turn_min_confidence"),
                   "asr.end_of_turn_min_confidence", "expected a number in 0..1");
    p->asr.eot_min_confidence = t ? (float)json_number_value(t) : 0.0f;
    if (o && json_object_get(o, "end_of_turn_tone")) {
        bool tone = false;
        PL_TRY(boolean(ld, o, "asr", "end_of_turn_tone", &tone));
        p->asr.eot_tone = tone ? 1 : -1;
    }
    if (o && json_object_get(o, "end_of_turn_model"))
        PL_TRY(str(ld, o, "asr", "end_of_turn_model", "", &p->asr.eot_model));
    t = o ? json_object_get(o, "end_of_turn_min_complete") : NULL;
    if (t && (!json_is_number(t) || json_number_value(t) < 0 || json_number_value(t) > 1))
        return bad(ld, line_of(ld, "asr", "end_of_turn_min_complete"),
                   "asr.end_of_turn_min_complete", "expected a number in 0..1");
    p->asr.eot_min_complete = t ? (float)json_number_value(t) : 0.0f;
    return PL_OK;
}

static pl_status load_asr(const struct pl_ld *ld, const json_t *root, struct pl_dlg_pipeline *p) {
    static const char *const keys[] = {"model", "language_code", "endpointing_silence_ms",
                                       "end_of_turn_silence_ms", "end_of_turn_min_confidence",
                                       "end_of_turn_tone", "end_of_turn_model",
                                       "end_of_turn_min_complete", NULL};
    const json_t *o;
    PL_TRY(stage_of(ld, root, "asr", keys, &o, &p->has_asr));
    PL_TRY(str(ld, o, "asr", "model", "", &p->asr.model));
    PL_TRY(str(ld, o, "asr", "language_code", "en-US", &p->asr.language_code));
    if (!p->asr.language_code[0])
        return bad(ld, line_of(ld, "asr", "language_code"), "asr.language_code", "empty");
    PL_TRY(integer(ld, o, "asr", "endpointing_silence_ms", 100, 60000, true, &p->asr.silence_ms));
    return load_eot(ld, o, p);
}

static pl_status load_punct(const struct pl_ld *ld, const json_t *root,
                            struct pl_dlg_pipeline *p) {
    static const char *const keys[] = {"enabled", "model", NULL};
    const json_t *o;
    bool has;
    PL_TRY(stage_of(ld, root, "punctuation", keys, &o, &has));
    p->punctuation.enabled = has;
    PL_TRY(boolean(ld, o, "punctuation", "enabled", &p->punctuation.enabled));
    return str(ld, o, "punctuation", "model", "", &p->punctuation.model);
}

static pl_status load_nlu(const struct pl_ld *ld, const json_t *root, struct pl_dlg_pipeline *p) {
    static const char *const keys[] = {"model", "entities", NULL};
    const json_t *o;
    PL_TRY(stage_of(ld, root, "nlu", keys, &o, &p->has_nlu));
    p->nlu.entities = true;
    PL_TRY(str(ld, o, "nlu", "model", "", &p->nlu.model));
    return boolean(ld, o, "nlu", "entities", &p->nlu.entities);
}

static pl_status load_dialog(const struct pl_ld *ld, const json_t *root,
                             struct pl_dlg_pipeline *p) {
    static const char *const keys[] = {"spec", NULL};
    const json_t *o;
    PL_TRY(stage_of(ld, root, "dialog", keys, &o, &p->has_dialog));
    return str(ld, o, "dialog", "spec", "", &p->dialog.spec);
}

static pl_status load_qa(const struct pl_ld *ld, const json_t *root, struct pl_dlg_pipeline *p) {
    static const char *const keys[] = {"knowledge_base", "top_n", "threshold", NULL};
    const json_t *o;
    PL_TRY(stage_of(ld, root, "qa", keys, &o, &p->has_qa));
    p->qa.top_n = 1;
    PL_TRY(str(ld, o, "qa", "knowledge_base", "default", &p->qa.knowledge_base));
    if (strcmp(p->qa.knowledge_base, "default"))
        return bad(ld, line_of(ld, "qa", "knowledge_base"), "qa.knowledge_base",
                   "unknown knowledge base '%s' (parley-qa serves one: 'default')",
                   p->qa.knowledge_base);
    PL_TRY(integer(ld, o, "qa", "top_n", 1, 10, false, &p->qa.top_n));
    const json_t *t = json_object_get(o, "threshold");
    if (t && (!json_is_number(t) || json_number_value(t) < 0 || json_number_value(t) > 1))
        return bad(ld, line_of(ld, "qa", "threshold"), "qa.threshold",
                   "expected a number in 0..1, got %s", json_is_number(t) ? "one outside"
                                                                          : type_name(t));
    p->qa.threshold = t ? (float)json_number_value(t) : 0.0f;
    return PL_OK;
}

static pl_status load_tts(const struct pl_ld *ld, const json_t *root, struct pl_dlg_pipeline *p) {
    static const char *const keys[] = {"voice", "sample_rate_hz", "encoding", NULL};
    /* nvidia.riva.AudioEncoding numbers of the encodings a spoken reply may have */
    static const struct { const char *name; int number; } encs[] = {
        {"LINEAR_PCM", 1}, {"MULAW", 3}, {"OGGOPUS", 4}, {"ALAW", 20}};
    const json_t *o;
    PL_TRY(stage_of(ld, root, "tts", keys, &o, &p->has_tts));
    PL_TRY(str(ld, o, "tts", "voice", "", &p->tts.voice));
    PL_TRY(integer(ld, o, "tts", "sample_rate_hz", 8000, 48000, true, &p->tts.sample_rate_hz));
    char *e = NULL;
    PL_TRY(str(ld, o, "tts", "encoding", "", &e));
    for (size_t i = 0; e[0] && i < sizeof encs / sizeof encs[0]; i++)
        if (!strcmp(encs[i].name, e)) p->tts.encoding = encs[i].number;
    pl_status st = PL_OK;
    if (e[0] && !p->tts.encoding)
        st = bad(ld, line_of(ld, "tts", "encoding"), "tts.encoding",
                 "unknown encoding '%s' (LINEAR_PCM, OGGOPUS, MULAW, ALAW)", e);
    pl_free(e);
    return st;
}

/* A name of [A-Za-z0-9_-], 1..64 bytes (it travels in ConverseConfig.pipeline). */
static bool name_ok(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > 64) return false;
    for (const char *c = s; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '_' || *c == '-'))
            return false;
    return true;
}

static pl_status load(const struct pl_ld *ld, const json_t *root, struct pl_dlg_pipeline *p) {
    static const char *const keys[] = {"pipeline", "description", "asr", "punctuation", "nlu",
                                       "dialog", "qa", "tts", NULL};
    if (!json_is_object(root))
        return bad(ld, 1, "pipeline", "expected a JSON object, got %s", type_name(root));
    PL_TRY(keys_ok(ld, root, "", keys));
    if (!json_object_get(root, "pipeline"))
        return bad(ld, 1, "pipeline", "missing required key 'pipeline' (the pipeline's name)");
    PL_TRY(str(ld, root, "", "pipeline", "", &p->name));
    if (!name_ok(p->name))
        return bad(ld, line_of(ld, "", "pipeline"), "pipeline", "'%s' is not a name (1-64 "
                   "letters, digits, '_' or '-')", p->name);
    PL_TRY(str(ld, root, "", "description", "", &p->description));
    PL_TRY(load_asr(ld, root, p));
    PL_TRY(load_punct(ld, root, p));
    PL_TRY(load_nlu(ld, root, p));
    PL_TRY(load_dialog(ld, root, p));
    PL_TRY(load_qa(ld, root, p));
    PL_TRY(load_tts(ld, root, p));
    if (!p->has_dialog && !p->has_qa)
        return bad(ld, 1, "pipeline", "neither a dialog nor a qa stage: nothing would answer");
    if (p->has_nlu && !p->has_dialog)
        return bad(ld, line_of(ld, "nlu", NULL), "nlu", "an nlu stage needs a dialog stage "
                   "(without one every utterance goes to the knowledge base)");
    return PL_OK;
}

pl_status pl_dlg_pipeline_parse(const char *name, const char *text, size_t len,
                                struct pl_dlg_pipeline **out) {
    *out = NULL;
    json_error_t je;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) return PL_ERR(PL_E_FORMAT, "%s:%d:%d: invalid JSON: %s", name, je.line,
                             je.column, je.text);
    struct pl_ld ld = {name, NULL};
    struct pl__dy *tree = NULL;
    struct pl_dlg_pipeline *p = pl_calloc(1, sizeof *p);
    pl_status st = p ? PL_OK : PL_ERR(PL_E_NOMEM, "pipeline");
    /* valid JSON that the YAML reader refuses (tabs) only loses the line numbers */
    if (st == PL_OK && pl__dy_parse(name, text, len, &tree) != PL_OK) tree = NULL;
    ld.tree = tree;
    if (st != PL_OK) goto fail;
    PL_TRY_GOTO(st, (p->file = pl_strdup(name)) ? PL_OK : PL_ERR(PL_E_NOMEM, "pipeline"));
    PL_TRY_GOTO(st, load(&ld, root, p));
    *out = p;
    p = NULL;
fail:
    pl_dlg_pipeline_destroy(p);
    pl__dy_free(tree);
    json_decref(root);
    return st;
}

pl_status pl_dlg_pipeline_load(const char *path, struct pl_dlg_pipeline **out) {
    *out = NULL;
    char *text = NULL;
    size_t len = 0;
    PL_TRY(pl_read_file(path, 1 << 20, &text, &len));
    pl_status st = pl_dlg_pipeline_parse(path, text, len, out);
    pl_free(text);
    return st;
}

void pl_dlg_pipeline_destroy(struct pl_dlg_pipeline *p) {
    if (!p) return;
    pl_free(p->name);
    pl_free(p->file);
    pl_free(p->description);
    pl_free(p->asr.model);
    pl_free(p->asr.language_code);
    pl_free(p->asr.eot_model);
    pl_free(p->punctuation.model);
    pl_free(p->nlu.model);
    pl_free(p->dialog.spec);
    pl_free(p->qa.knowledge_base);
    pl_free(p->tts.voice);
    pl_free(p);
}
