/*
 * fuzz_safetensors.c - the safetensors reader (engine/safetensors.c): the 8-byte header
 * length, the JSON header, dtypes, shapes, offsets, overlaps. The input is the file.
 * An opened file's entries are then read as the loaders read them: lookup by name,
 * metadata, and the F32/F16/BF16 conversion of every float tensor (which must stay
 * inside the input).
 */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_util.h"
#include "safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int init;
    if (!init) {
        fz_quiet();
        init = 1;
    }
    struct pl_safetensors *st = NULL;
    if (pl_safetensors_open_memory(data, size, &st) != PL_OK) return 0;
    int n = pl_safetensors_count(st);
    (void)pl_safetensors_metadata(st, "format");
    for (int i = 0; i < n; i++) {
        const struct pl_st_entry *e = pl_safetensors_at(st, i);
        if (!e || pl_safetensors_find(st, e->name) == NULL) abort();
        if (e->offset > size || e->nbytes > size - e->offset) abort(); /* inside the file */
        if (e->dtype != PL_DTYPE_F32 && e->dtype != PL_DTYPE_F16 && e->dtype != PL_DTYPE_BF16)
            continue;
        size_t esz = e->dtype == PL_DTYPE_F32 ? 4 : 2;
        size_t count = e->nbytes / esz;
        if (count > (1u << 20)) continue; /* keep each run fast */
        float *dst = pl_malloc(count ? count * sizeof *dst : 1);
        if (!dst) continue;
        pl_st_entry_to_f32(e, dst);
        pl_free(dst);
    }
    pl_safetensors_close(st);
    return 0;
}
