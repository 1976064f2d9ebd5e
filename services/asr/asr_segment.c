/*
 * asr_segment.c - split long audio into utterances at pauses.
 *
 * Why: the acoustic model normalizes features per utterance and its memory grows with the
 * input, and Riva returns one result per utterance. An energy detector is enough for the
 * offline path: the noise floor is estimated as the 10th percentile of the frame levels of
 * the whole file, and speech is what rises well above it (but never less than 25 dB under the
 * loudest frames, for audio without pauses).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "asr_service.h"

void pl_asrsvc_seg_opts_default(struct pl_asrsvc_seg_opts *o) {
    o->sample_rate = 16000;
    o->pause_s = 0.6;
    o->max_s = 20.0;
    o->min_speech_s = 0.1;
    o->margin_db = 12.0;
    o->floor_dbfs = -55.0;
}

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static pl_status push(struct pl_asrsvc_segment **v, int *n, int *cap, size_t a, size_t b) {
    if (*n == *cap) {
        int nc = *cap ? *cap * 2 : 16;
        struct pl_asrsvc_segment *nv = pl_realloc(*v, sizeof *nv * (size_t)nc);
        if (!nv) return PL_ERR(PL_E_NOMEM, "segments");
        *v = nv;
        *cap = nc;
    }
    (*v)[*n].start = a;
    (*v)[*n].end = b;
    (*n)++;
    return PL_OK;
}

pl_status pl_asrsvc_segment(const float *x, size_t n, const struct pl_asrsvc_seg_opts *o,
                         struct pl_asrsvc_segment **segs, int *n_segs) {
    if (!segs || !n_segs || !o || (!x && n > 0))
        return PL_ERR(PL_E_INVALID_ARG, "pl_asrsvc_segment: NULL argument");
    *segs = NULL;
    *n_segs = 0;
    if (o->sample_rate < 1000 || !(o->pause_s > 0) || !(o->max_s >= 1.0) || o->min_speech_s < 0)
        return PL_ERR(PL_E_INVALID_ARG, "segmentation options: rate %d, pause %g s, max %g s",
                      o->sample_rate, o->pause_s, o->max_s);
    if (n == 0) return PL_OK;
    size_t hop = (size_t)o->sample_rate / 100; /* 10 ms frames */
    size_t nf = (n + hop - 1) / hop;
    pl_status st = PL_OK;
    float *db = pl_malloc(sizeof *db * nf), *sorted = pl_malloc(sizeof *sorted * nf);
    unsigned char *sp = pl_malloc(nf);
    struct pl_asrsvc_segment *out = NULL;
    int n_out = 0, cap = 0;
    if (!db || !sorted || !sp) {
        st = PL_ERR(PL_E_NOMEM, "segmentation of %zu samples", n);
        goto fail;
    }
    for (size_t f = 0; f < nf; f++) {
        size_t a = f * hop, b = a + hop < n ? a + hop : n;
        double e = 0;
        for (size_t i = a; i < b; i++) e += (double)x[i] * x[i];
        e /= (double)(b - a);
        db[f] = (float)(10.0 * log10(e + 1e-12));
        if (!isfinite(db[f])) db[f] = -120.0f;
        sorted[f] = db[f];
    }
    qsort(sorted, nf, sizeof *sorted, cmp_float);
    /* Noise floor: the 10th percentile level. Audio that is speech nearly throughout has no
     * floor to find, so the threshold never goes above 25 dB under the loud frames (99th
     * percentile). */
    double floor_db = sorted[nf / 10], loud_db = sorted[nf - 1 - nf / 100];
    double thr = floor_db + o->margin_db;
    if (thr > loud_db - 25.0) thr = loud_db - 25.0;
    if (thr < o->floor_dbfs) thr = o->floor_dbfs;
    for (size_t f = 0; f < nf; f++) sp[f] = db[f] > thr;

    size_t pause_f = (size_t)(o->pause_s * 100 + 0.5), max_f = (size_t)(o->max_s * 100 + 0.5);
    size_t min_sp = (size_t)(o->min_speech_s * 100 + 0.5);
    if (pause_f < 1) pause_f = 1;
    /* Walk the frames: a segment starts at `seg`; it ends in the middle of a long enough
     * pause, or when it reaches max_f frames (cut at the quietest frame of its second half). */
    size_t seg = 0, f = 0, speech = 0;
    while (f < nf) {
        if (sp[f]) {
            speech++;
            f++;
        } else {
            size_t g = f;
            while (g < nf && !sp[g]) g++;
            if (g - f >= pause_f || g == nf) {
                size_t cut = g == nf ? nf : f + (g - f) / 2;
                if (speech > min_sp) {
                    size_t a = seg, b = cut;
                    /* keep at most half a pause of leading silence */
                    PL_TRY_GOTO(st, push(&out, &n_out, &cap, a * hop, b * hop < n ? b * hop : n));
                }
                seg = cut;
                speech = 0;
                f = g;
                continue;
            }
            f = g;
        }
        if (f - seg >= max_f) {
            size_t lo = seg + max_f / 2, best = lo;
            for (size_t k = lo; k < f && k < nf; k++)
                if (db[k] < db[best]) best = k;
            if (best <= seg) best = f;
            size_t cnt = 0;
            for (size_t k = seg; k < best; k++) cnt += sp[k];
            if (cnt > min_sp) PL_TRY_GOTO(st, push(&out, &n_out, &cap, seg * hop, best * hop));
            speech = 0;
            for (size_t k = best; k < f; k++) speech += sp[k];
            seg = best;
        }
    }
    if (seg < nf && speech > min_sp)
        PL_TRY_GOTO(st, push(&out, &n_out, &cap, seg * hop, n));
    *segs = out;
    *n_segs = n_out;
    out = NULL;
fail:
    pl_free(out);
    pl_free(db);
    pl_free(sorted);
    pl_free(sp);
    return st;
}
