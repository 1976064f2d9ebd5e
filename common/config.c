/*
 * config.c - layered service configuration (defaults, JSON file, environment).
 *
 * Every layer goes through one function per source (set_from_text for
 * defaults and environment values, set_from_json for the file) so that a
 * value is checked the same way wherever it comes from. Strings stored in
 * the caller's struct are owned by it from the first layer on: replacing one
 * frees the previous copy, and any failure runs pl_config_deinit so that the
 * struct holds no memory afterwards.
 *
 * jansson allocates through pl_malloc/pl_free for the whole process (set by
 * a constructor before main), so that the OOM loop reaches its allocations
 * and pl_alloc_stats sees them.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "file.h"
#include "log.h"
#include "strbuf.h"

/* Longest PARLEY_<SECTION>_<KEY> name we build; longer names are an error. */
#define ENV_NAME_MAX 256
/* Bytes of the "(known: a, b, c)" list in unknown-key errors. */
#define KNOWN_MAX 300

__attribute__((constructor)) static void config_set_json_alloc(void) {
    json_set_alloc_funcs(pl_malloc, pl_free);
}

static const char *type_name(enum pl_config_type t) {
    switch (t) {
    case PL_CONFIG_STRING: return "string";
    case PL_CONFIG_INT: return "int";
    case PL_CONFIG_DOUBLE: return "double";
    case PL_CONFIG_BOOL: return "bool";
    }
    return "?";
}

static const char *json_type_name(const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER: return "integer";
    case JSON_REAL: return "real";
    case JSON_TRUE:
    case JSON_FALSE: return "boolean";
    case JSON_NULL: return "null";
    }
    return "?";
}

static bool bounded(const struct pl_config_field *f) { return f->min <= f->max; }

/* Range text for errors and --help: "[1024, 1073741824]". */
static void format_range(const struct pl_config_field *f, char *buf, size_t n) {
    if (f->type == PL_CONFIG_INT)
        snprintf(buf, n, "[%.0f, %.0f]", f->min, f->max);
    else
        snprintf(buf, n, "[%g, %g]", f->min, f->max);
}

/* The place a value came from, for error messages: "config.json: " or
 * "PARLEY_GATEWAY_TLS: " or "default of ". `where` is a prefix, `key`
 * printed after it is section.key (file and defaults) or nothing (env). */
struct origin {
    const char *prefix; /* "config.json", "PARLEY_X_Y" or "default" */
    bool name_key;      /* true: print "section.key: " after the prefix */
};

#define ORIGIN_FMT "%s: %s%s%s"
#define ORIGIN_ARGS(o, f)                                                                          \
    (o)->prefix, (o)->name_key ? (f)->section : "", (o)->name_key ? "." : "",                     \
        (o)->name_key ? (f)->key : ""

static void *field_ptr(const struct pl_config_field *f, void *out) {
    return (char *)out + f->offset;
}

static pl_status check_int_range(const struct pl_config_field *f, int64_t v,
                                 const struct origin *o) {
    if (bounded(f) && ((double)v < f->min || (double)v > f->max)) {
        char r[96];
        format_range(f, r, sizeof r);
        return PL_ERR(PL_E_INVALID_ARG, ORIGIN_FMT "%s%" PRId64 " out of range %s",
                      ORIGIN_ARGS(o, f), o->name_key ? ": " : "", v, r);
    }
    return PL_OK;
}

static pl_status check_double_range(const struct pl_config_field *f, double v,
                                    const struct origin *o) {
    if (!isfinite(v))
        return PL_ERR(PL_E_INVALID_ARG, ORIGIN_FMT "%sexpected a finite number, got %g",
                      ORIGIN_ARGS(o, f), o->name_key ? ": " : "", v);
    if (bounded(f) && (v < f->min || v > f->max)) {
        char r[96];
        format_range(f, r, sizeof r);
        return PL_ERR(PL_E_INVALID_ARG, ORIGIN_FMT "%s%g out of range %s", ORIGIN_ARGS(o, f),
                      o->name_key ? ": " : "", v, r);
    }
    return PL_OK;
}

/* Replace the string at `dst` with a copy of s (the old copy is freed). */
static pl_status store_string(char **dst, const char *s) {
    char *copy = pl_strdup(s);
    if (!copy) return PL_ERR(PL_E_NOMEM, "config: out of memory copying a string value");
    pl_free(*dst);
    *dst = copy;
    return PL_OK;
}

static bool parse_bool_text(const char *s, bool *out) {
    if (!strcasecmp(s, "true") || !strcmp(s, "1")) {
        *out = true;
        return true;
    }
    if (!strcasecmp(s, "false") || !strcmp(s, "0")) {
        *out = false;
        return true;
    }
    return false;
}

/* Parse a value given as text (a default or an environment variable). */
static pl_status set_from_text(const struct pl_config_field *f, const char *text,
                               const struct origin *o, void *out) {
    void *p = field_ptr(f, out);
    const char *sep = o->name_key ? ": " : "";

    switch (f->type) {
    case PL_CONFIG_STRING: return store_string((char **)p, text);
    case PL_CONFIG_INT: {
        char *end;
        errno = 0;
        long long v = strtoll(text, &end, 10);
        if (end == text || *end != '\0' || isspace((unsigned char)text[0]))
            return PL_ERR(PL_E_INVALID_ARG, ORIGIN_FMT "%sexpected an integer, got \"%s\"",
                          ORIGIN_ARGS(o, f), sep, text);
        if (errno == ERANGE)
            return PL_ERR(PL_E_INVALID_ARG,
                          ORIGIN_FMT "%sinteger \"%s\" does not fit in 64 bits", ORIGIN_ARGS(o, f),
                          sep, text);
        PL_TRY(check_int_range(f, (int64_t)v, o));
        *(int64_t *)p = (int64_t)v;
        return PL_OK;
    }
    case PL_CONFIG_DOUBLE: {
        char *end;
        errno = 0;
        double v = strtod(text, &end);
        if (end == text || *end != '\0' || isspace((unsigned char)text[0]))
            return PL_ERR(PL_E_INVALID_ARG, ORIGIN_FMT "%sexpected a number, got \"%s\"",
                          ORIGIN_ARGS(o, f), sep, text);
        if (errno == ERANGE && fabs(v) > 1.0)
            return PL_ERR(PL_E_INVALID_ARG, ORIGIN_FMT "%snumber \"%s\" is too large",
                          ORIGIN_ARGS(o, f), sep, text);
        PL_TRY(check_double_range(f, v, o));
        *(double *)p = v;
        return PL_OK;
    }
    case PL_CONFIG_BOOL: {
        bool b;
        if (!parse_bool_text(text, &b))
            return PL_ERR(PL_E_INVALID_ARG, ORIGIN_FMT "%sexpected true/false/1/0, got \"%s\"",
                          ORIGIN_ARGS(o, f), sep, text);
        *(bool *)p = b;
        return PL_OK;
    }
    }
    return PL_ERR(PL_E_INVALID_ARG, "%s.%s: unknown field type %d", f->section, f->key,
                  (int)f->type);
}

/* Check and store a value from the JSON file. */
static pl_status set_from_json(const struct pl_config_field *f, const json_t *v,
                               const struct origin *o, void *out) {
    void *p = field_ptr(f, out);

    switch (f->type) {
    case PL_CONFIG_STRING:
        if (!json_is_string(v)) break;
        return store_string((char **)p, json_string_value(v));
    case PL_CONFIG_INT:
        if (!json_is_integer(v)) break;
        PL_TRY(check_int_range(f, (int64_t)json_integer_value(v), o));
        *(int64_t *)p = (int64_t)json_integer_value(v);
        return PL_OK;
    case PL_CONFIG_DOUBLE:
        if (!json_is_number(v)) break;
        PL_TRY(check_double_range(f, json_number_value(v), o));
        *(double *)p = json_number_value(v);
        return PL_OK;
    case PL_CONFIG_BOOL:
        if (!json_is_boolean(v)) break;
        *(bool *)p = json_is_true(v);
        return PL_OK;
    default:
        return PL_ERR(PL_E_INVALID_ARG, "%s.%s: unknown field type %d", f->section, f->key,
                      (int)f->type);
    }
    static const char *const expected[] = {
        [PL_CONFIG_STRING] = "a string",
        [PL_CONFIG_INT] = "an integer",
        [PL_CONFIG_DOUBLE] = "a number",
        [PL_CONFIG_BOOL] = "true or false",
    };
    return PL_ERR(PL_E_INVALID_ARG, ORIGIN_FMT ": expected %s, got %s", ORIGIN_ARGS(o, f),
                  expected[f->type], json_type_name(v));
}

/* PARLEY_<SECTION>_<KEY>: upper case, anything not alphanumeric becomes '_'. */
static pl_status env_name(const struct pl_config_field *f, char *buf, size_t n) {
    int len = snprintf(buf, n, "PARLEY_%s_%s", f->section, f->key);
    if (len < 0 || (size_t)len >= n)
        return PL_ERR(PL_E_INVALID_ARG, "%s.%s: environment variable name too long", f->section,
                      f->key);
    for (char *c = buf; *c; c++)
        *c = isalnum((unsigned char)*c) ? (char)toupper((unsigned char)*c) : '_';
    return PL_OK;
}

static bool section_known(const struct pl_config_field *fields, size_t n, const char *section) {
    for (size_t i = 0; i < n; i++)
        if (!strcmp(fields[i].section, section)) return true;
    return false;
}

/* "listen, max_receive_bytes, tls" into a fixed buffer (no allocation on the
 * error path); cut with "..." when it does not fit. */
static void known_keys(const struct pl_config_field *fields, size_t n, const char *section,
                       char *buf, size_t cap) {
    size_t len = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (strcmp(fields[i].section, section)) continue;
        int w = snprintf(buf + len, cap - len, "%s%s", len ? ", " : "", fields[i].key);
        if (w < 0 || (size_t)w >= cap - len) {
            if (cap >= 4) memcpy(buf + cap - 4, "...", 4);
            return;
        }
        len += (size_t)w;
    }
}

/* Layer 2: the JSON document. Unknown sections are left alone; inside a
 * section the table names every key must be known. */
static pl_status apply_json(const struct pl_config_field *fields, size_t n, const json_t *root,
                            const char *origin, void *out) {
    const char *section, *key;
    json_t *sv, *v;
    struct origin o = {origin, true};

    if (!json_is_object(root))
        return PL_ERR(PL_E_INVALID_ARG, "%s: expected a JSON object at the top level, got %s",
                      origin, json_type_name(root));
    json_object_foreach((json_t *)root, section, sv) {
        if (!section_known(fields, n, section)) continue;
        if (!json_is_object(sv))
            return PL_ERR(PL_E_INVALID_ARG, "%s: %s: expected an object, got %s", origin,
                          section, json_type_name(sv));
        json_object_foreach(sv, key, v) {
            const struct pl_config_field *f = NULL;
            for (size_t i = 0; i < n && !f; i++)
                if (!strcmp(fields[i].section, section) && !strcmp(fields[i].key, key))
                    f = &fields[i];
            if (!f) {
                char known[KNOWN_MAX];
                known_keys(fields, n, section, known, sizeof known);
                return PL_ERR(PL_E_INVALID_ARG, "%s: %s.%s: unknown key (known: %s)", origin,
                              section, key, known);
            }
            PL_TRY(set_from_json(f, v, &o, out));
        }
    }
    return PL_OK;
}

static bool in_json(const json_t *root, const struct pl_config_field *f) {
    if (!root) return false;
    const json_t *sv = json_object_get(root, f->section);
    return sv && json_object_get(sv, f->key);
}

/* Strings only: other types hold no memory. */
void pl_config_deinit(const struct pl_config_field *fields, size_t n_fields, void *out) {
    if (!fields || !out) return;
    for (size_t i = 0; i < n_fields; i++) {
        if (fields[i].type != PL_CONFIG_STRING) continue;
        char **p = field_ptr(&fields[i], out);
        pl_free(*p);
        *p = NULL;
    }
}

/*
 * The three layers over an already parsed document (root may be NULL).
 * `out`'s string fields are NULLed first: whatever the caller had there is
 * not ours to free.
 */
static pl_status load_layers(const struct pl_config_field *fields, size_t n, const json_t *root,
                             const char *origin, void *out) {
    pl_status st = PL_OK;
    char name[ENV_NAME_MAX];

    for (size_t i = 0; i < n; i++)
        if (fields[i].type == PL_CONFIG_STRING) *(char **)field_ptr(&fields[i], out) = NULL;

    for (size_t i = 0; i < n; i++) {
        if (!fields[i].def) continue;
        struct origin o = {"default", true};
        PL_TRY_GOTO(st, set_from_text(&fields[i], fields[i].def, &o, out));
    }
    if (root) PL_TRY_GOTO(st, apply_json(fields, n, root, origin, out));
    for (size_t i = 0; i < n; i++) {
        PL_TRY_GOTO(st, env_name(&fields[i], name, sizeof name));
        const char *val = getenv(name);
        if (val) {
            struct origin o = {name, false};
            PL_TRY_GOTO(st, set_from_text(&fields[i], val, &o, out));
        } else if (!fields[i].def && !in_json(root, &fields[i])) {
            st = PL_ERR(PL_E_INVALID_ARG, "%s.%s: required (set it in %s or %s)",
                        fields[i].section, fields[i].key, root ? origin : "the config file",
                        name);
            goto fail;
        }
    }
    return PL_OK;
fail:
    pl_config_deinit(fields, n, out);
    return st;
}

/* Parse JSON text (len bytes); NULL text = no file layer. */
static pl_status load_buffer(const struct pl_config_field *fields, size_t n, const char *text,
                             size_t len, const char *origin, void *out) {
    json_t *root = NULL;
    json_error_t jerr;
    pl_status st;

    if (text) {
        size_t i = 0;
        while (i < len && isspace((unsigned char)text[i])) i++;
        if (i == len) {
            st = PL_ERR(PL_E_FORMAT, "%s: empty (expected a JSON object)", origin);
            goto fail;
        }
        struct pl_alloc_stats before, after;
        memset(&jerr, 0, sizeof jerr);
        pl_alloc_stats(&before);
        root = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
        if (!root) {
            /* jansson does not always say when an allocation failed (a
             * string it could not copy reads as a syntax error), so any
             * failed allocation during the parse counts as out of memory. */
            pl_alloc_stats(&after);
            if (json_error_code(&jerr) == json_error_out_of_memory ||
                after.failed_allocs != before.failed_allocs)
                st = PL_ERR(PL_E_NOMEM, "%s: out of memory parsing JSON", origin);
            else
                st = PL_ERR(PL_E_FORMAT, "%s:%d:%d: invalid JSON: %s", origin, jerr.line,
                            jerr.column, jerr.text);
            goto fail;
        }
    }
    st = load_layers(fields, n, root, origin, out);
    json_decref(root);
    return st;
fail:
    /* The struct's strings were never touched; clear them as documented. */
    for (size_t i = 0; i < n; i++)
        if (fields[i].type == PL_CONFIG_STRING) *(char **)field_ptr(&fields[i], out) = NULL;
    return st;
}

pl_status pl_config_load_string(const struct pl_config_field *fields, size_t n_fields,
                                const char *json, const char *origin, void *out) {
    if ((!fields && n_fields) || !out)
        return PL_ERR(PL_E_INVALID_ARG, "pl_config_load_string: NULL fields or out");
    if (!origin) origin = "<string>";
    return load_buffer(fields, n_fields, json, json ? strlen(json) : 0, origin, out);
}

pl_status pl_config_load(const struct pl_config_field *fields, size_t n_fields, const char *path,
                         void *out) {
    char *text = NULL;
    size_t len = 0;
    pl_status st;

    if ((!fields && n_fields) || !out)
        return PL_ERR(PL_E_INVALID_ARG, "pl_config_load: NULL fields or out");
    if (!path) return load_buffer(fields, n_fields, NULL, 0, NULL, out);
    st = pl_read_file(path, 16u << 20, &text, &len);
    if (st != PL_OK) {
        for (size_t i = 0; i < n_fields; i++)
            if (fields[i].type == PL_CONFIG_STRING) *(char **)field_ptr(&fields[i], out) = NULL;
        return st;
    }
    st = load_buffer(fields, n_fields, text, len, path, out);
    pl_free(text);
    if (st == PL_OK) PL_LOGD("config loaded from %s", path);
    return st;
}

char *pl_config_describe(const struct pl_config_field *fields, size_t n_fields) {
    struct pl_strbuf sb;
    pl_strbuf_init(&sb);
    for (size_t i = 0; i < n_fields; i++) {
        const struct pl_config_field *f = &fields[i];
        char name[160], env[ENV_NAME_MAX], range[96] = "";
        snprintf(name, sizeof name, "%s.%s", f->section, f->key);
        if (env_name(f, env, sizeof env) != PL_OK) env[0] = '\0';
        if (f->type != PL_CONFIG_STRING && f->type != PL_CONFIG_BOOL && bounded(f)) {
            range[0] = ' ';
            format_range(f, range + 1, sizeof range - 1);
        }
        pl_strbuf_appendf(&sb, "%-32s %-6s %-20s %s%s (env %s)\n", name, type_name(f->type),
                          f->def ? (f->def[0] ? f->def : "\"\"") : "(required)",
                          f->help ? f->help : "", range, env);
    }
    return pl_strbuf_detach(&sb);
}
