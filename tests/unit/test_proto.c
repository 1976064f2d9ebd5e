/*
 * test_proto.c - wire compatibility of Parley's .proto files between Python protobuf and
 * protobuf-c, both directions.
 *
 * Python -> C: tests/proto/wire_vectors.py (Debian python3-protobuf, stubs generated from our
 * own .proto files at build time) writes messages and a flattened view of every field it set.
 * Here protobuf-c unpacks each one, flattens it the same way from its descriptors, must agree
 * field by field, must see no unknown fields, and must re-pack to identical bytes. Typed checks
 * then read the key fields through the generated C structs, as the services will.
 *
 * C -> Python is in test_proto_c2py.c; the RPC table and malformed input in test_proto_rpc.c.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "alloc.h"
#include "parley/dialog/v1/dialog.pb-c.h"
#include "proto_util.h"
#include "riva/proto/health.pb-c.h"
#include "riva/proto/riva_asr.pb-c.h"
#include "riva/proto/riva_nlp.pb-c.h"
#include "riva/proto/riva_tts.pb-c.h"
#include "rpc_table.h"
#include "test_proto.h"


/* ------------------------------------------------------------------ helpers */

/* Run tests/proto/wire_vectors.py <mode> <arg> with the build's Python stubs; its exit status,
 * or -1 when it could not run (missing environment, exec failure, signal). */
int pl__proto_run_python(const char *mode, const char *arg) {
    const char *src = getenv("PARLEY_SOURCE_DIR");
    const char *bin = getenv("PARLEY_BINARY_DIR");
    const char *py = getenv("PL_PYTHON");
    if (!src || !bin) {
        fprintf(stderr, "PARLEY_SOURCE_DIR / PARLEY_BINARY_DIR not set (run through ctest)\n");
        return -1;
    }
    if (!py || !*py) py = "/usr/bin/python3";
    char script[PATH_MAX], pypath[PATH_MAX];
    SNPRINTF(script, "%s/tests/proto/wire_vectors.py", src);
    SNPRINTF(pypath, "%s/python", bin);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        setenv("PYTHONPATH", pypath, 1);
        setenv("PYTHONDONTWRITEBYTECODE", "1", 1);
        execl(py, py, script, mode, arg, (char *)NULL);
        _exit(127);
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0) {
        if (errno != EINTR) return -1;
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int pl__proto_make_tmpdir(char *out, size_t n) {
    const char *t = getenv("TMPDIR");
    snprintf(out, n, "%s/pl_proto_XXXXXX", t && *t ? t : "/tmp");
    return mkdtemp(out) ? 0 : -1;
}

/* Remove a flat directory of files (what these tests create). */
void pl__proto_remove_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char p[PATH_MAX];
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        SNPRINTF(p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

static uint8_t *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    uint8_t *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? 2 * cap : 4096;
            uint8_t *nb = pl_realloc(buf, cap);
            if (!nb) break;
            buf = nb;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0) break;
    }
    fclose(f);
    *len = n;
    return buf;
}

int pl__proto_write_file(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = len ? fwrite(data, 1, len, f) : 0;
    return (fclose(f) == 0 && w == len) ? 0 : -1;
}

char *pl__proto_hex(const uint8_t *p, size_t n) {
    static const char digits[] = "0123456789abcdef";
    char *s = pl_malloc(2 * n + 1);
    ck_assert_ptr_nonnull(s);
    for (size_t i = 0; i < n; i++) {
        s[2 * i] = digits[p[i] >> 4];
        s[2 * i + 1] = digits[p[i] & 15];
    }
    s[2 * n] = '\0';
    return s;
}

/* ------------------------------------------------------------------ flattening */

/* The same flattened view as wire_vectors.py's flatten(), built from protobuf-c descriptors. */
struct flat {
    json_t *obj;
    size_t unknown; /* unknown fields met anywhere in the message tree */
};

static void flat_msg(struct flat *f, const ProtobufCMessage *m, const char *prefix);

static size_t elem_size(ProtobufCType t) {
    switch (t) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return 8;
    case PROTOBUF_C_TYPE_DOUBLE:
        return sizeof(double);
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING:
        return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(ProtobufCMessage *);
    default:
        return 4; /* 32-bit ints, float, enum */
    }
}

static json_t *scalar_json(ProtobufCType t, const void *p) {
    switch (t) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        return json_integer(*(const int32_t *)p);
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return json_integer(*(const uint32_t *)p);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        return json_integer(*(const int64_t *)p);
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return json_integer((json_int_t) * (const uint64_t *)p);
    case PROTOBUF_C_TYPE_FLOAT:
        return json_real(*(const float *)p);
    case PROTOBUF_C_TYPE_DOUBLE:
        return json_real(*(const double *)p);
    case PROTOBUF_C_TYPE_BOOL:
        return json_boolean(*(const protobuf_c_boolean *)p);
    case PROTOBUF_C_TYPE_ENUM:
        return json_integer(*(const int *)p);
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)p;
        json_t *j = json_string(s ? s : "");
        return j ? j : json_string("<invalid utf-8>");
    }
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *b = p;
        char *h = pl__proto_hex(b->data, b->len);
        json_t *j = json_string(h);
        pl_free(h);
        return j;
    }
    default:
        return json_string("<unsupported type>");
    }
}

static bool is_default(ProtobufCType t, const void *p) {
    switch (t) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return *(const uint64_t *)p == 0;
    case PROTOBUF_C_TYPE_FLOAT:
        return *(const float *)p == 0.0f;
    case PROTOBUF_C_TYPE_DOUBLE:
        return *(const double *)p == 0.0;
    case PROTOBUF_C_TYPE_BOOL:
        return !*(const protobuf_c_boolean *)p;
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)p;
        return !s || !*s;
    }
    case PROTOBUF_C_TYPE_BYTES:
        return ((const ProtobufCBinaryData *)p)->len == 0;
    case PROTOBUF_C_TYPE_MESSAGE:
        return *(ProtobufCMessage *const *)p == NULL;
    default:
        return *(const uint32_t *)p == 0;
    }
}

/* One value at path: a scalar, or "<msg>" followed by the sub-message's fields. */
static void flat_value(struct flat *f, const char *path, ProtobufCType t, const void *p) {
    if (t == PROTOBUF_C_TYPE_MESSAGE) {
        const ProtobufCMessage *sub = *(ProtobufCMessage *const *)p;
        json_object_set_new(f->obj, path, json_string("<msg>"));
        if (sub) {
            char pre[512];
            SNPRINTF(pre, "%s.", path);
            flat_msg(f, sub, pre);
        }
        return;
    }
    json_object_set_new(f->obj, path, scalar_json(t, p));
}

/* Map fields are repeated *Entry messages with fields key = 1, value = 2. */
static bool is_map_entry(const ProtobufCFieldDescriptor *fd) {
    if (fd->type != PROTOBUF_C_TYPE_MESSAGE || fd->label != PROTOBUF_C_LABEL_REPEATED) return false;
    const ProtobufCMessageDescriptor *d = fd->descriptor;
    size_t nl = strlen(d->name);
    return d->n_fields == 2 && nl > 5 && !strcmp(d->name + nl - 5, "Entry") &&
           protobuf_c_message_descriptor_get_field(d, 1) &&
           !strcmp(protobuf_c_message_descriptor_get_field(d, 1)->name, "key") &&
           protobuf_c_message_descriptor_get_field(d, 2) &&
           !strcmp(protobuf_c_message_descriptor_get_field(d, 2)->name, "value");
}

static void flat_msg(struct flat *f, const ProtobufCMessage *m, const char *prefix) {
    const ProtobufCMessageDescriptor *d = m->descriptor;
    const char *base = (const char *)m;
    char path[512], ep[600];
    f->unknown += m->n_unknown_fields;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *fd = &d->fields[i];
        const void *val = base + fd->offset;
        SNPRINTF(path, "%s%s", prefix, fd->name);
        if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)(base + fd->quantifier_offset);
            if (n == 0) continue;
            const char *arr = *(char *const *)val;
            SNPRINTF(ep, "%s#", path);
            json_object_set_new(f->obj, ep, json_integer((json_int_t)n));
            if (is_map_entry(fd)) {
                const ProtobufCMessageDescriptor *ed = fd->descriptor;
                const ProtobufCFieldDescriptor *kf = protobuf_c_message_descriptor_get_field(ed, 1);
                const ProtobufCFieldDescriptor *vf = protobuf_c_message_descriptor_get_field(ed, 2);
                for (size_t k = 0; k < n; k++) {
                    const ProtobufCMessage *e = ((ProtobufCMessage *const *)arr)[k];
                    const char *eb = (const char *)e;
                    f->unknown += e->n_unknown_fields;
                    json_t *kj = scalar_json(kf->type, eb + kf->offset);
                    if (json_is_string(kj))
                        SNPRINTF(ep, "%s{%s}", path, json_string_value(kj));
                    else
                        SNPRINTF(ep, "%s{%lld}", path,
                                 (long long)json_integer_value(kj));
                    json_decref(kj);
                    flat_value(f, ep, vf->type, eb + vf->offset);
                }
                continue;
            }
            size_t es = elem_size(fd->type);
            for (size_t k = 0; k < n; k++) {
                SNPRINTF(ep, "%s[%zu]", path, k);
                flat_value(f, ep, fd->type, arr + k * es);
            }
        } else if (fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
            if (*(const uint32_t *)(base + fd->quantifier_offset) != fd->id) continue;
            flat_value(f, path, fd->type, val);
        } else if (fd->label == PROTOBUF_C_LABEL_OPTIONAL && fd->type != PROTOBUF_C_TYPE_MESSAGE &&
                   fd->type != PROTOBUF_C_TYPE_STRING) {
            if (!*(const protobuf_c_boolean *)(base + fd->quantifier_offset)) continue;
            flat_value(f, path, fd->type, val);
        } else {
            if (is_default(fd->type, val)) continue;
            flat_value(f, path, fd->type, val);
        }
    }
}

json_t *pl__proto_flatten(const ProtobufCMessage *m, size_t *unknown) {
    struct flat f = {json_object(), 0};
    flat_msg(&f, m, "");
    if (unknown) *unknown = f.unknown;
    return f.obj;
}

/* Number of keys whose values differ; each difference is printed. */
static int compare_flat(const char *name, json_t *want, json_t *got) {
    int bad = 0;
    const char *k;
    json_t *v;
    json_object_foreach(want, k, v) {
        json_t *g = json_object_get(got, k);
        if (!g || !json_equal(v, g)) {
            char *a = json_dumps(v, JSON_ENCODE_ANY), *b = g ? json_dumps(g, JSON_ENCODE_ANY) : NULL;
            fprintf(stderr, "%s: %s: python %s, C %s\n", name, k, a, b ? b : "(absent)");
            free(a);
            free(b);
            bad++;
        }
    }
    json_object_foreach(got, k, v) {
        if (!json_object_get(want, k)) {
            char *b = json_dumps(v, JSON_ENCODE_ANY);
            fprintf(stderr, "%s: %s: python (absent), C %s\n", name, k, b);
            free(b);
            bad++;
        }
    }
    return bad;
}

/* ------------------------------------------------------------------ Python -> C vectors */

static char g_vec_dir[PATH_MAX];
static int g_vec_status = -1; /* exit status of "wire_vectors.py write" */

static void vectors_setup(void) {
    if (pl__proto_make_tmpdir(g_vec_dir, sizeof g_vec_dir) != 0) {
        g_vec_status = -1;
        return;
    }
    g_vec_status = pl__proto_run_python("write", g_vec_dir);
}

static void vectors_teardown(void) {
    if (g_vec_dir[0]) pl__proto_remove_dir(g_vec_dir);
}

/* Every message type the vectors use is a request or response of some RPC. */
static const ProtobufCMessageDescriptor *find_desc(const char *full_name) {
    for (size_t i = 0; i < pl_rpc_count(); i++) {
        const struct pl_rpc_info *r = pl_rpc_at(i);
        if (!strcmp(r->input->name, full_name)) return r->input;
        if (!strcmp(r->output->name, full_name)) return r->output;
    }
    return NULL;
}

struct vec {
    json_t *meta;   /* the case's .json */
    json_t *fields; /* borrowed from meta */
    uint8_t *bin;
    size_t len;
    const ProtobufCMessageDescriptor *desc;
    ProtobufCMessage *msg; /* unpacked with pl_proto_unpack */
};

static void vec_load(struct vec *v, const char *name) {
    ck_assert_msg(g_vec_status == 0, "wire_vectors.py write failed (status %d)", g_vec_status);
    char p[PATH_MAX];
    memset(v, 0, sizeof *v);
    SNPRINTF(p, "%s/%s.json", g_vec_dir, name);
    json_error_t err;
    v->meta = json_load_file(p, 0, &err);
    ck_assert_msg(v->meta != NULL, "%s: %s", p, err.text);
    v->fields = json_object_get(v->meta, "fields");
    ck_assert_ptr_nonnull(v->fields);
    SNPRINTF(p, "%s/%s.bin", g_vec_dir, name);
    v->bin = read_file(p, &v->len);
    ck_assert_msg(v->bin != NULL, "cannot read %s", p);
    const char *full = json_string_value(json_object_get(v->meta, "full_name"));
    ck_assert_ptr_nonnull(full);
    v->desc = find_desc(full);
    ck_assert_msg(v->desc != NULL, "%s: no descriptor for %s", name, full);
    pl_status st = pl_proto_unpack(v->desc, v->bin, v->len, &v->msg);
    ck_assert_msg(st == PL_OK, "%s: unpack failed: %s", name, pl_last_error());
}

static void vec_free(struct vec *v) {
    pl_proto_free(v->msg);
    pl_free(v->bin);
    json_decref(v->meta);
    memset(v, 0, sizeof *v);
}

static json_t *exp_get(const struct vec *v, const char *key) {
    json_t *j = json_object_get(v->fields, key);
    ck_assert_msg(j != NULL, "vector lacks field %s", key);
    return j;
}
static long long exp_int(const struct vec *v, const char *key) {
    json_t *j = exp_get(v, key);
    ck_assert_msg(json_is_integer(j), "%s is not an integer", key);
    return json_integer_value(j);
}
static float exp_float(const struct vec *v, const char *key) {
    json_t *j = exp_get(v, key);
    ck_assert_msg(json_is_real(j), "%s is not a real", key);
    return (float)json_real_value(j);
}
static const char *exp_str(const struct vec *v, const char *key) {
    json_t *j = exp_get(v, key);
    ck_assert_msg(json_is_string(j), "%s is not a string", key);
    return json_string_value(j);
}
static bool exp_bool(const struct vec *v, const char *key) {
    json_t *j = exp_get(v, key);
    ck_assert_msg(json_is_boolean(j), "%s is not a boolean", key);
    return json_is_true(j);
}
static void check_bytes(const struct vec *v, const char *key, ProtobufCBinaryData b) {
    char *h = pl__proto_hex(b.data, b.len);
    ck_assert_str_eq(h, exp_str(v, key));
    pl_free(h);
}

START_TEST(test_python_to_c_all_cases) {
    ck_assert_msg(g_vec_status == 0, "wire_vectors.py write failed (status %d)", g_vec_status);
    char p[PATH_MAX], line[256];
    SNPRINTF(p, "%s/cases.txt", g_vec_dir);
    FILE *f = fopen(p, "r");
    ck_assert_ptr_nonnull(f);
    int n = 0, differs = 0;
    struct pl_alloc_stats a0, a1;
    pl_alloc_stats(&a0);
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (!line[0]) continue;
        struct vec v;
        vec_load(&v, line);
        size_t unknown = 0;
        json_t *got = pl__proto_flatten(v.msg, &unknown);
        ck_assert_msg(compare_flat(line, v.fields, got) == 0, "%s: fields differ (see stderr)", line);
        ck_assert_msg(unknown == 0, "%s: %zu unknown fields", line, unknown);
        json_decref(got);
        uint8_t *again = NULL;
        size_t alen = 0;
        ck_assert_int_eq(pl_proto_pack(v.msg, &again, &alen), PL_OK);
        if (json_is_true(json_object_get(v.meta, "repack_identical"))) {
            ck_assert_msg(alen == v.len && memcmp(again, v.bin, alen) == 0,
                          "%s: re-packed %zu bytes differ from Python's %zu", line, alen, v.len);
        } else {
            /* another valid encoding (see wire_vectors.py): must still mean the same */
            ProtobufCMessage *m2 = NULL;
            ck_assert_int_eq(pl_proto_unpack(v.desc, again, alen, &m2), PL_OK);
            json_t *got2 = pl__proto_flatten(m2, NULL);
            ck_assert_msg(compare_flat(line, v.fields, got2) == 0, "%s: re-pack changed fields", line);
            json_decref(got2);
            pl_proto_free(m2);
            differs++;
        }
        pl_free(again);
        vec_free(&v);
        n++;
    }
    fclose(f);
    ck_assert_int_ge(n, 20);
    ck_assert_int_eq(differs, 1); /* only asr_map_empty_value */
    pl_alloc_stats(&a1);
    ck_assert_int_eq(a1.blocks_in_use, a0.blocks_in_use); /* every unpacked message freed */
}
END_TEST

/* The comparison itself can fail: a changed byte inside a string is caught. */
START_TEST(test_python_to_c_detects_change) {
    struct vec v;
    vec_load(&v, "health_request");
    const char *svc = exp_str(&v, "service");
    uint8_t *hit = memmem(v.bin, v.len, svc, strlen(svc));
    ck_assert_ptr_nonnull(hit);
    hit[0] ^= 0x20; /* 'n' -> 'N' */
    ProtobufCMessage *m = NULL;
    ck_assert_int_eq(pl_proto_unpack(v.desc, v.bin, v.len, &m), PL_OK);
    json_t *got = pl__proto_flatten(m, NULL);
    ck_assert_int_eq(compare_flat("health_request (changed on purpose)", v.fields, got), 1);
    json_decref(got);
    pl_proto_free(m);
    vec_free(&v);
}
END_TEST

START_TEST(test_asr_streaming_config_typed) {
    struct vec v;
    vec_load(&v, "asr_streaming_config");
    const Nvidia__Riva__Asr__StreamingRecognizeRequest *r = (const void *)v.msg;
    ck_assert_int_eq(r->streaming_request_case,
                     NVIDIA__RIVA__ASR__STREAMING_RECOGNIZE_REQUEST__STREAMING_REQUEST_STREAMING_CONFIG);
    ck_assert_ptr_nonnull(r->streaming_config);
    ck_assert(r->streaming_config->interim_results == exp_bool(&v, "streaming_config.interim_results"));
    const Nvidia__Riva__Asr__RecognitionConfig *c = r->streaming_config->config;
    ck_assert_ptr_nonnull(c);
#define K(x) "streaming_config.config." x
    ck_assert_int_eq(c->encoding, NVIDIA__RIVA__AUDIO_ENCODING__LINEAR_PCM);
    ck_assert_int_eq(c->encoding, exp_int(&v, K("encoding")));
    ck_assert_int_eq(c->sample_rate_hertz, exp_int(&v, K("sample_rate_hertz")));
    ck_assert_str_eq(c->language_code, exp_str(&v, K("language_code")));
    ck_assert_int_eq(c->max_alternatives, exp_int(&v, K("max_alternatives")));
    ck_assert(c->enable_word_time_offsets == exp_bool(&v, K("enable_word_time_offsets")));
    ck_assert(c->enable_word_time_offsets);
    ck_assert(c->profanity_filter && c->verbatim_transcripts && c->enable_automatic_punctuation);
    ck_assert_str_eq(c->model, exp_str(&v, K("model")));
    ck_assert_ptr_nonnull(c->diarization_config);
    ck_assert_int_eq(c->diarization_config->max_speaker_count,
                     exp_int(&v, K("diarization_config.max_speaker_count")));

    ck_assert_uint_eq(c->n_speech_contexts, exp_int(&v, K("speech_contexts#")));
    ck_assert_uint_eq(c->speech_contexts[0]->n_phrases, 2);
    ck_assert_str_eq(c->speech_contexts[0]->phrases[1], exp_str(&v, K("speech_contexts[0].phrases[1]")));
    ck_assert_str_eq(c->speech_contexts[1]->phrases[0], exp_str(&v, K("speech_contexts[1].phrases[0]")));
    ck_assert_float_eq(c->speech_contexts[0]->boost, exp_float(&v, K("speech_contexts[0].boost")));
    ck_assert_float_eq(c->speech_contexts[1]->boost, 4.0f);

    ck_assert_uint_eq(c->n_custom_configuration, exp_int(&v, K("custom_configuration#")));
    for (size_t i = 0; i < c->n_custom_configuration; i++) {
        char key[256];
        SNPRINTF(key, K("custom_configuration{%s}"), c->custom_configuration[i]->key);
        ck_assert_str_eq(c->custom_configuration[i]->value, exp_str(&v, key));
    }

    /* explicit presence: zeros that were set stay set, unset stays unset */
    const Nvidia__Riva__Asr__EndpointingConfig *e = c->endpointing_config;
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(e->_start_history_case,
                     NVIDIA__RIVA__ASR__ENDPOINTING_CONFIG___START_HISTORY_START_HISTORY);
    ck_assert_int_eq(e->start_history, 0);
    ck_assert_int_eq(exp_int(&v, K("endpointing_config.start_history")), 0);
    ck_assert_int_eq(e->_start_threshold_case,
                     NVIDIA__RIVA__ASR__ENDPOINTING_CONFIG___START_THRESHOLD_START_THRESHOLD);
    ck_assert_float_eq(e->start_threshold, 0.0f);
    ck_assert_int_eq(e->_stop_history_case,
                     NVIDIA__RIVA__ASR__ENDPOINTING_CONFIG___STOP_HISTORY_STOP_HISTORY);
    ck_assert_int_eq(e->stop_history, exp_int(&v, K("endpointing_config.stop_history")));
    ck_assert_int_eq(e->_stop_threshold_case,
                     NVIDIA__RIVA__ASR__ENDPOINTING_CONFIG___STOP_THRESHOLD_STOP_THRESHOLD);
    ck_assert_float_eq(e->stop_threshold, exp_float(&v, K("endpointing_config.stop_threshold")));
    ck_assert_int_eq(e->_stop_history_eou_case,
                     NVIDIA__RIVA__ASR__ENDPOINTING_CONFIG___STOP_HISTORY_EOU__NOT_SET);
    ck_assert_ptr_null(json_object_get(v.fields, K("endpointing_config.stop_history_eou")));
    ck_assert_int_eq(e->_stop_threshold_eou_case,
                     NVIDIA__RIVA__ASR__ENDPOINTING_CONFIG___STOP_THRESHOLD_EOU_STOP_THRESHOLD_EOU);
    ck_assert_float_eq(e->stop_threshold_eou, exp_float(&v, K("endpointing_config.stop_threshold_eou")));
#undef K
    ck_assert_str_eq(r->id->value, exp_str(&v, "id.value"));

    /* presence survives a C round trip too */
    uint8_t *b = NULL;
    size_t n = 0;
    ck_assert_int_eq(pl_proto_pack(v.msg, &b, &n), PL_OK);
    ProtobufCMessage *m2 = NULL;
    ck_assert_int_eq(pl_proto_unpack(v.desc, b, n, &m2), PL_OK);
    const Nvidia__Riva__Asr__EndpointingConfig *e2 =
        ((Nvidia__Riva__Asr__StreamingRecognizeRequest *)m2)->streaming_config->config->endpointing_config;
    ck_assert_int_eq(e2->_start_history_case, e->_start_history_case);
    ck_assert_int_eq(e2->_stop_history_eou_case, NVIDIA__RIVA__ASR__ENDPOINTING_CONFIG___STOP_HISTORY_EOU__NOT_SET);
    pl_proto_free(m2);
    pl_free(b);
    vec_free(&v);
}
END_TEST

START_TEST(test_asr_audio_typed) {
    struct vec v;
    vec_load(&v, "asr_streaming_audio");
    const Nvidia__Riva__Asr__StreamingRecognizeRequest *r = (const void *)v.msg;
    ck_assert_int_eq(r->streaming_request_case,
                     NVIDIA__RIVA__ASR__STREAMING_RECOGNIZE_REQUEST__STREAMING_REQUEST_AUDIO_CONTENT);
    ck_assert_uint_eq(r->audio_content.len, 3200);
    check_bytes(&v, "audio_content", r->audio_content);
    ck_assert_ptr_null(r->id);
    vec_free(&v);

    /* an empty audio chunk is still "audio_content" (oneof presence) */
    vec_load(&v, "asr_streaming_audio_empty");
    r = (const void *)v.msg;
    ck_assert_int_eq(r->streaming_request_case,
                     NVIDIA__RIVA__ASR__STREAMING_RECOGNIZE_REQUEST__STREAMING_REQUEST_AUDIO_CONTENT);
    ck_assert_uint_eq(r->audio_content.len, 0);
    ck_assert_str_eq(exp_str(&v, "audio_content"), "");
    vec_free(&v);
}
END_TEST

START_TEST(test_recognize_request_id_100) {
    struct vec v;
    vec_load(&v, "asr_recognize");
    const Nvidia__Riva__Asr__RecognizeRequest *r = (const void *)v.msg;
    ck_assert_ptr_nonnull(r->config);
    ck_assert_ptr_null(r->config->endpointing_config);
    check_bytes(&v, "audio", r->audio);
    ck_assert_ptr_nonnull(r->id);
    const char *id = exp_str(&v, "id.value");
    ck_assert_str_eq(r->id->value, id);
    /* field 100 is the highest, so it comes last: tag 100<<3|2 = 802 = varint a2 06 */
    size_t il = strlen(id), tail = 2 + 1 + 2 + il;
    ck_assert_uint_gt(v.len, tail);
    const uint8_t *t = v.bin + v.len - tail;
    ck_assert_uint_eq(t[0], 0xa2);
    ck_assert_uint_eq(t[1], 0x06);
    ck_assert_uint_eq(t[2], 2 + il); /* RequestId message length */
    ck_assert_uint_eq(t[3], 0x0a);   /* RequestId.value = field 1, length-delimited */
    ck_assert_uint_eq(t[4], il);
    ck_assert(memcmp(t + 5, id, il) == 0);
    vec_free(&v);
}
END_TEST

START_TEST(test_nlp_typed) {
    struct vec v;
    vec_load(&v, "nlp_analyze_intent");
    const Nvidia__Riva__Nlp__AnalyzeIntentRequest *a = (const void *)v.msg;
    ck_assert_str_eq(a->query, exp_str(&v, "query"));
    ck_assert_ptr_nonnull(a->options);
    ck_assert_int_eq(a->options->context_case,
                     NVIDIA__RIVA__NLP__ANALYZE_INTENT_OPTIONS__CONTEXT_PREVIOUS_INTENT);
    ck_assert_str_eq(a->options->previous_intent, exp_str(&v, "options.previous_intent"));
    ck_assert_str_eq(a->options->domain, exp_str(&v, "options.domain"));
    ck_assert_str_eq(a->options->lang, exp_str(&v, "options.lang"));
    ck_assert_str_eq(a->id->value, exp_str(&v, "id.value"));
    vec_free(&v);

    vec_load(&v, "nlp_analyze_intent_vectors");
    a = (const void *)v.msg;
    ck_assert_int_eq(a->options->context_case, NVIDIA__RIVA__NLP__ANALYZE_INTENT_OPTIONS__CONTEXT_VECTORS);
    ck_assert_ptr_nonnull(a->options->vectors);
    ck_assert_str_eq(exp_str(&v, "options.vectors"), "<msg>");
    vec_free(&v);

    vec_load(&v, "nlp_analyze_intent_empty_previous");
    a = (const void *)v.msg;
    ck_assert_int_eq(a->options->context_case,
                     NVIDIA__RIVA__NLP__ANALYZE_INTENT_OPTIONS__CONTEXT_PREVIOUS_INTENT);
    ck_assert_str_eq(a->options->previous_intent, "");
    vec_free(&v);

    vec_load(&v, "nlp_token_class_response");
    const Nvidia__Riva__Nlp__TokenClassResponse *t = (const void *)v.msg;
    ck_assert_uint_eq(t->n_results, exp_int(&v, "results#"));
    ck_assert_uint_eq(t->n_results, 2);
    ck_assert_uint_eq(t->results[0]->n_results, exp_int(&v, "results[0].results#"));
    ck_assert_uint_eq(t->results[1]->n_results, 0);
    const Nvidia__Riva__Nlp__TokenClassValue *tv = t->results[0]->results[1];
    ck_assert_str_eq(tv->token, exp_str(&v, "results[0].results[1].token"));
    ck_assert_uint_eq(tv->n_label, 2);
    ck_assert_str_eq(tv->label[0]->class_name, exp_str(&v, "results[0].results[1].label[0].class_name"));
    ck_assert_float_eq(tv->label[1]->score, exp_float(&v, "results[0].results[1].label[1].score"));
    ck_assert_uint_eq(tv->span[0]->start, exp_int(&v, "results[0].results[1].span[0].start"));
    ck_assert_uint_eq(tv->span[0]->end, exp_int(&v, "results[0].results[1].span[0].end"));
    vec_free(&v);

    vec_load(&v, "nlp_natural_query");
    const Nvidia__Riva__Nlp__NaturalQueryRequest *q = (const void *)v.msg;
    ck_assert_str_eq(q->context, exp_str(&v, "context"));
    ck_assert_uint_eq(q->top_n, exp_int(&v, "top_n"));
    vec_free(&v);
}
END_TEST

START_TEST(test_tts_typed) {
    struct vec v;
    vec_load(&v, "tts_synthesize_request");
    const Nvidia__Riva__Tts__SynthesizeSpeechRequest *r = (const void *)v.msg;
    ck_assert_str_eq(r->text, exp_str(&v, "text")); /* UTF-8 intact */
    ck_assert_str_eq(r->language_code, exp_str(&v, "language_code"));
    ck_assert_int_eq(r->encoding, NVIDIA__RIVA__AUDIO_ENCODING__LINEAR_PCM);
    ck_assert_int_eq(r->sample_rate_hz, exp_int(&v, "sample_rate_hz"));
    ck_assert_str_eq(r->voice_name, exp_str(&v, "voice_name"));
    ck_assert_str_eq(r->custom_dictionary, exp_str(&v, "custom_dictionary"));
    ck_assert_ptr_nonnull(r->zero_shot_data);
    ck_assert_int_eq(r->zero_shot_data->encoding, NVIDIA__RIVA__AUDIO_ENCODING__OGGOPUS);
    ck_assert_int_eq(r->zero_shot_data->quality, exp_int(&v, "zero_shot_data.quality"));
    check_bytes(&v, "zero_shot_data.audio_prompt", r->zero_shot_data->audio_prompt);
    vec_free(&v);

    vec_load(&v, "tts_synthesize_response");
    const Nvidia__Riva__Tts__SynthesizeSpeechResponse *s = (const void *)v.msg;
    check_bytes(&v, "audio", s->audio);
    ck_assert_uint_eq(s->audio.len, 4000);
    ck_assert_ptr_nonnull(s->meta);
    ck_assert_str_eq(s->meta->text, exp_str(&v, "meta.text"));
    ck_assert_str_eq(s->meta->processed_text, exp_str(&v, "meta.processed_text"));
    ck_assert_uint_eq(s->meta->n_predicted_durations, exp_int(&v, "meta.predicted_durations#"));
    for (size_t i = 0; i < s->meta->n_predicted_durations; i++) {
        char key[64];
        SNPRINTF(key, "meta.predicted_durations[%zu]", i);
        ck_assert_float_eq(s->meta->predicted_durations[i], exp_float(&v, key));
    }
    ck_assert_str_eq(s->id->value, exp_str(&v, "id.value"));
    vec_free(&v);
}
END_TEST

START_TEST(test_health_and_dialog_typed) {
    struct vec v;
    vec_load(&v, "health_response");
    const Grpc__Health__V1__HealthCheckResponse *h = (const void *)v.msg;
    ck_assert_int_eq(h->status, GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING);
    ck_assert_int_eq(h->status, exp_int(&v, "status"));
    ck_assert_uint_eq(v.len, 2);
    vec_free(&v);

    vec_load(&v, "dialog_converse_config");
    const Parley__Dialog__V1__ConverseRequest *c = (const void *)v.msg;
    ck_assert_int_eq(c->request_case, PARLEY__DIALOG__V1__CONVERSE_REQUEST__REQUEST_CONFIG);
    const Parley__Dialog__V1__ConverseConfig *cfg = c->config;
    ck_assert_str_eq(cfg->session_id, "");
    ck_assert_str_eq(cfg->user_id, exp_str(&v, "config.user_id"));
    ck_assert_str_eq(cfg->context_id, exp_str(&v, "config.context_id"));
    ck_assert_ptr_nonnull(cfg->input_audio);
    ck_assert_int_eq(cfg->input_audio->sample_rate_hertz, exp_int(&v, "config.input_audio.sample_rate_hertz"));
    ck_assert(cfg->input_audio->server_endpointing);
    ck_assert_int_eq(cfg->output_audio->sample_rate_hz, exp_int(&v, "config.output_audio.sample_rate_hz"));
    ck_assert(cfg->interim_results && cfg->include_nlu);
    vec_free(&v);

    vec_load(&v, "dialog_converse_text");
    c = (const void *)v.msg;
    ck_assert_int_eq(c->request_case, PARLEY__DIALOG__V1__CONVERSE_REQUEST__REQUEST_TEXT);
    ck_assert_str_eq(c->text->text, exp_str(&v, "text.text"));
    vec_free(&v);

    vec_load(&v, "dialog_converse_nlu");
    const Parley__Dialog__V1__ConverseResponse *r = (const void *)v.msg;
    ck_assert_int_eq(r->response_case, PARLEY__DIALOG__V1__CONVERSE_RESPONSE__RESPONSE_NLU);
    ck_assert_str_eq(r->nlu->intent->name, exp_str(&v, "nlu.intent.name"));
    ck_assert_float_eq(r->nlu->intent->score, exp_float(&v, "nlu.intent.score"));
    ck_assert_uint_eq(r->nlu->n_slots, exp_int(&v, "nlu.slots#"));
    ck_assert_str_eq(r->nlu->slots[1]->value, exp_str(&v, "nlu.slots[1].value"));
    ck_assert_uint_eq(r->nlu->slots[1]->end, exp_int(&v, "nlu.slots[1].end"));
    ck_assert_int_eq(r->turn, exp_int(&v, "turn"));
    vec_free(&v);

    vec_load(&v, "dialog_converse_event");
    r = (const void *)v.msg;
    ck_assert_int_eq(r->response_case, PARLEY__DIALOG__V1__CONVERSE_RESPONSE__RESPONSE_EVENT);
    ck_assert_int_eq(r->event->type, PARLEY__DIALOG__V1__EVENT_TYPE__EVENT_SLOT_SET);
    ck_assert_uint_eq(r->event->n_attributes, 2);
    vec_free(&v);
}
END_TEST

Suite *pl_proto_suite(void) {
    Suite *s = suite_create("proto");

    TCase *py = tcase_create("python_to_c");
    tcase_add_unchecked_fixture(py, vectors_setup, vectors_teardown);
    tcase_set_timeout(py, 60);
    tcase_add_test(py, test_python_to_c_all_cases);
    tcase_add_test(py, test_python_to_c_detects_change);
    tcase_add_test(py, test_asr_streaming_config_typed);
    tcase_add_test(py, test_asr_audio_typed);
    tcase_add_test(py, test_recognize_request_id_100);
    tcase_add_test(py, test_nlp_typed);
    tcase_add_test(py, test_tts_typed);
    tcase_add_test(py, test_health_and_dialog_typed);
    suite_add_tcase(s, py);

    suite_add_tcase(s, pl__proto_c2py_tcase());

    suite_add_tcase(s, pl__proto_rpc_tcase());
    suite_add_tcase(s, pl__proto_malformed_tcase());
    return s;
}
