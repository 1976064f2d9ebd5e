/* safetensors.c - see safetensors.h. */
#include "safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"

struct pl_safetensors {
    void *map; /* mmap'ed file or NULL for memory */
    size_t map_size;
    const unsigned char *bytes;
    size_t size;
    int n;
    struct pl_st_entry *entries; /* sorted by offset */
    json_t *header;              /* owns the name strings */
};

static const struct {
    const char *name;
    enum pl_dtype dt;
    size_t size;
} dtypes[] = {
    {"F32", PL_DTYPE_F32, 4},    {"F16", PL_DTYPE_F16, 2},    {"BF16", PL_DTYPE_BF16, 2},
    {"I8", PL_DTYPE_I8, 1},      {"I32", PL_DTYPE_I32, 4},    {"F64", PL_DTYPE_COUNT, 8},
    {"I64", PL_DTYPE_COUNT, 8},  {"U64", PL_DTYPE_COUNT, 8},  {"U32", PL_DTYPE_COUNT, 4},
    {"I16", PL_DTYPE_COUNT, 2},  {"U16", PL_DTYPE_COUNT, 2},  {"U8", PL_DTYPE_COUNT, 1},
    {"BOOL", PL_DTYPE_COUNT, 1}, {"F8_E4M3", PL_DTYPE_COUNT, 1}, {"F8_E5M2", PL_DTYPE_COUNT, 1},
};

static int cmp_offset(const void *a, const void *b) {
    const struct pl_st_entry *x = a, *y = b;
    return x->offset < y->offset ? -1 : x->offset > y->offset ? 1 : (x->nbytes > y->nbytes) - (x->nbytes < y->nbytes);
}

static pl_status parse_entry(const char *name, json_t *v, size_t data_start, size_t data_size,
                             const unsigned char *bytes, struct pl_st_entry *e) {
    if (!json_is_object(v)) return PL_ERR(PL_E_FORMAT, "safetensors: tensor %s: not an object", name);
    json_t *dt = json_object_get(v, "dtype"), *shape = json_object_get(v, "shape"),
           *offs = json_object_get(v, "data_offsets");
    if (!json_is_string(dt)) return PL_ERR(PL_E_FORMAT, "safetensors: tensor %s: no dtype", name);
    size_t es = 0;
    e->name = name;
    e->dtype_str = json_string_value(dt);
    for (size_t i = 0; i < PL_ARRAY_LEN(dtypes); i++)
        if (strcmp(dtypes[i].name, e->dtype_str) == 0) {
            e->dtype = dtypes[i].dt;
            es = dtypes[i].size;
        }
    if (!es)
        return PL_ERR(PL_E_FORMAT, "safetensors: tensor %s: unknown dtype '%.16s'", name, e->dtype_str);
    if (!json_is_array(shape)) return PL_ERR(PL_E_FORMAT, "safetensors: tensor %s: no shape", name);
    size_t nd = json_array_size(shape);
    if (nd > PL_MAX_DIMS)
        return PL_ERR(PL_E_UNSUPPORTED, "safetensors: tensor %s: %zu dims (at most %d)", name, nd,
                      PL_MAX_DIMS);
    e->n_dims = (int)nd;
    uint64_t nel = 1;
    for (size_t i = 0; i < PL_MAX_DIMS; i++) e->shape[i] = 1;
    for (size_t i = 0; i < nd; i++) {
        json_t *d = json_array_get(shape, i);
        if (!json_is_integer(d) || json_integer_value(d) < 0)
            return PL_ERR(PL_E_FORMAT, "safetensors: tensor %s: bad dim %zu", name, i);
        uint64_t dv = (uint64_t)json_integer_value(d);
        if (dv && nel > UINT64_MAX / 16 / dv)
            return PL_ERR(PL_E_FORMAT, "safetensors: tensor %s: shape overflows", name);
        nel *= dv;
        e->shape[i] = (int64_t)dv;
    }
    if (!json_is_array(offs) || json_array_size(offs) != 2 ||
        !json_is_integer(json_array_get(offs, 0)) || !json_is_integer(json_array_get(offs, 1)))
        return PL_ERR(PL_E_FORMAT, "safetensors: tensor %s: bad data_offsets", name);
    json_int_t b = json_integer_value(json_array_get(offs, 0)),
               en = json_integer_value(json_array_get(offs, 1));
    if (b < 0 || en < b)
        return PL_ERR(PL_E_FORMAT, "safetensors: tensor %s: data_offsets [%lld, %lld] invalid", name,
                      (long long)b, (long long)en);
    if ((uint64_t)en > data_size)
        return PL_ERR(PL_E_FORMAT, "safetensors: tensor %s: data ends at %lld, past the %zu data bytes",
                      name, (long long)en, data_size);
    uint64_t nbytes = (uint64_t)(en - b);
    if (nbytes != nel * es)
        return PL_ERR(PL_E_FORMAT, "safetensors: tensor %s: %llu bytes but %s x %llu elements needs %llu",
                      name, (unsigned long long)nbytes, e->dtype_str, (unsigned long long)nel,
                      (unsigned long long)(nel * es));
    e->offset = data_start + (size_t)b;
    e->nbytes = (size_t)nbytes;
    e->data = bytes + e->offset;
    return PL_OK;
}

static pl_status parse(struct pl_safetensors *st) {
    if (st->size < 8)
        return PL_ERR(PL_E_FORMAT, "safetensors: file of %zu bytes has no header length", st->size);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = (hl << 8) | st->bytes[i];
    if (hl > st->size - 8)
        return PL_ERR(PL_E_FORMAT, "safetensors: header of %llu bytes runs past the end (%zu bytes)",
                      (unsigned long long)hl, st->size);
    if (hl > PL_SAFETENSORS_MAX_HEADER || hl < 2)
        return PL_ERR(PL_E_FORMAT, "safetensors: header length %llu", (unsigned long long)hl);
    json_error_t jerr;
    st->header = json_loadb((const char *)st->bytes + 8, (size_t)hl,
                            JSON_REJECT_DUPLICATES, &jerr);
    if (!st->header)
        return PL_ERR(PL_E_FORMAT, "safetensors: bad header JSON (%s at byte %d)", jerr.text,
                      jerr.position);
    if (!json_is_object(st->header)) return PL_ERR(PL_E_FORMAT, "safetensors: header is not an object");
    size_t data_start = 8 + (size_t)hl, data_size = st->size - data_start;
    size_t cap = json_object_size(st->header);
    st->entries = pl_calloc(cap ? cap : 1, sizeof *st->entries);
    if (!st->entries) return PL_ERR(PL_E_NOMEM, "safetensors: out of memory for %zu tensors", cap);
    const char *key;
    json_t *v;
    json_object_foreach(st->header, key, v) {
        if (strcmp(key, "__metadata__") == 0) {
            if (!json_is_object(v)) return PL_ERR(PL_E_FORMAT, "safetensors: __metadata__ is not an object");
            continue;
        }
        PL_TRY(parse_entry(key, v, data_start, data_size, st->bytes, &st->entries[st->n]));
        st->n++;
    }
    qsort(st->entries, (size_t)st->n, sizeof *st->entries, cmp_offset);
    for (int i = 1; i < st->n; i++) {
        const struct pl_st_entry *a = &st->entries[i - 1], *b = &st->entries[i];
        if (b->offset < a->offset + a->nbytes)
            return PL_ERR(PL_E_FORMAT, "safetensors: tensor %s overlaps tensor %s", b->name, a->name);
    }
    return PL_OK;
}

pl_status pl_safetensors_open_memory(const void *data, size_t n, struct pl_safetensors **out) {
    *out = NULL;
    struct pl_safetensors *st = pl_calloc(1, sizeof *st);
    if (!st) return PL_ERR(PL_E_NOMEM, "safetensors: out of memory");
    st->bytes = data;
    st->size = n;
    pl_status s = parse(st);
    if (s != PL_OK) {
        pl_safetensors_close(st);
        return s;
    }
    *out = st;
    return PL_OK;
}

pl_status pl_safetensors_open(const char *path, struct pl_safetensors **out) {
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return PL_ERR(PL_E_IO, "safetensors: cannot open %s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return PL_ERR(PL_E_IO, "safetensors: %s is not a regular file", path);
    }
    size_t size = (size_t)sb.st_size;
    void *map = NULL;
    if (size > 0) {
        map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            close(fd);
            return PL_ERR(PL_E_IO, "safetensors: cannot map %s: %s", path, strerror(errno));
        }
    }
    close(fd);
    static const unsigned char empty[1];
    pl_status s = pl_safetensors_open_memory(map ? map : empty, size, out);
    if (s != PL_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", pl_last_error());
        if (map) munmap(map, size);
        return PL_ERR(s, "%s: %s", path, msg);
    }
    (*out)->map = map;
    (*out)->map_size = size;
    return PL_OK;
}

void pl_safetensors_close(struct pl_safetensors *st) {
    if (!st) return;
    if (st->map) munmap(st->map, st->map_size);
    json_decref(st->header);
    pl_free(st->entries);
    pl_free(st);
}

int pl_safetensors_count(const struct pl_safetensors *st) { return st->n; }

const struct pl_st_entry *pl_safetensors_at(const struct pl_safetensors *st, int i) {
    return i >= 0 && i < st->n ? &st->entries[i] : NULL;
}

const struct pl_st_entry *pl_safetensors_find(const struct pl_safetensors *st, const char *name) {
    for (int i = 0; i < st->n; i++)
        if (strcmp(st->entries[i].name, name) == 0) return &st->entries[i];
    return NULL;
}

const char *pl_safetensors_metadata(const struct pl_safetensors *st, const char *key) {
    json_t *m = json_object_get(st->header, "__metadata__");
    json_t *v = m ? json_object_get(m, key) : NULL;
    return json_is_string(v) ? json_string_value(v) : NULL;
}

void pl_st_entry_to_f32(const struct pl_st_entry *e, float *dst) {
    PL_ASSERT(e->dtype == PL_DTYPE_F32 || e->dtype == PL_DTYPE_F16 || e->dtype == PL_DTYPE_BF16);
    size_t n = e->nbytes / pl_dtype_size(e->dtype);
    const unsigned char *src = e->data;
    for (size_t i = 0; i < n; i++) {
        if (e->dtype == PL_DTYPE_F32) {
            memcpy(&dst[i], src + 4 * i, 4);
        } else {
            uint16_t h;
            memcpy(&h, src + 2 * i, 2);
            dst[i] = e->dtype == PL_DTYPE_F16 ? pl_f16_to_f32(h) : pl_bf16_to_f32(h);
        }
    }
}
