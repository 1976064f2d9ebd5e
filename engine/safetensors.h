/*
 * safetensors.h - read-only, memory-mapped safetensors files.
 *
 * Byte layout (little-endian):
 *   [0, 8)        u64 N: length of the JSON header
 *   [8, 8+N)      JSON object: {"<name>": {"dtype": "F32", "shape": [d0, ...],
 *                 "data_offsets": [begin, end]}, ..., "__metadata__": {str: str}}
 *   [8+N, EOF)    tensor bytes; offsets are relative to 8+N, row-major,
 *                 little-endian.
 *
 * Opening validates everything a hostile file could get wrong and returns
 * PL_E_FORMAT with a message naming the tensor: header length past the end,
 * bad JSON, duplicate names, unknown dtype, negative or overflowing shape,
 * offsets past the end, begin > end, byte size != dtype size x elements,
 * overlapping ranges. A valid file never leads to an out-of-bounds read.
 * Tensors of dtypes the engine does not compute with (F64, I64, U8, BOOL,
 * ...) are listed with dtype PL_DTYPE_COUNT and their raw dtype name, so a
 * checkpoint carrying e.g. an I64 position_ids buffer still opens.
 *
 * Thread-safety: an open file is immutable; any thread may read it.
 */
#ifndef PL_SAFETENSORS_H
#define PL_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PL_SAFETENSORS_MAX_HEADER (100u << 20)

struct pl_st_entry {
    const char *name;      /* borrowed from the file object */
    const char *dtype_str; /* "F32", "I64", ... borrowed */
    enum pl_dtype dtype;   /* PL_DTYPE_COUNT when the engine has no such dtype */
    int n_dims;            /* 0..PL_MAX_DIMS (0 = scalar) */
    int64_t shape[PL_MAX_DIMS];
    size_t offset; /* from the start of the file */
    size_t nbytes;
    const void *data; /* inside the mapping; NOT necessarily aligned for dtype */
};

struct pl_safetensors;

/* Map and validate path. Errors: PL_E_IO (cannot open/map), PL_E_FORMAT,
 * PL_E_UNSUPPORTED (a tensor with more than PL_MAX_DIMS dims), PL_E_NOMEM.
 * OUT: *out, caller owns; free with pl_safetensors_close(). */
pl_status pl_safetensors_open(const char *path, struct pl_safetensors **out);
/* Same, on bytes the caller keeps alive until close (no copy). */
pl_status pl_safetensors_open_memory(const void *data, size_t n, struct pl_safetensors **out);
void pl_safetensors_close(struct pl_safetensors *st); /* NULL is a no-op */

int pl_safetensors_count(const struct pl_safetensors *st);
/* i in [0, count), sorted by data offset. Borrowed until close. */
const struct pl_st_entry *pl_safetensors_at(const struct pl_safetensors *st, int i);
/* NULL when absent. Borrowed until close. */
const struct pl_st_entry *pl_safetensors_find(const struct pl_safetensors *st, const char *name);
/* A "__metadata__" string value or NULL. Borrowed until close. */
const char *pl_safetensors_metadata(const struct pl_safetensors *st, const char *key);

/* Convert e's data to f32 at dst (nbytes / element size floats; dst need not be aligned and
 * e->data is read unaligned-safe). e->dtype must be PL_DTYPE_F32, F16 or BF16 (callers check
 * the entry first); any other dtype is a programmer error (PL_ASSERT). Thread-safe. */
void pl_st_entry_to_f32(const struct pl_st_entry *e, float *dst);

#ifdef __cplusplus
}
#endif
#endif
