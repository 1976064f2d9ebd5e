/* perf_stats.c - percentiles, chunk matching and the real-time criterion (perf_stats.h). */
#include "perf_stats.h"

#include <math.h>
#include <stdlib.h>

#include "alloc.h"

pl_status pl_perf_samples_add(struct pl_perf_samples *s, double x) {
    if (!s) return PL_ERR(PL_E_INVALID_ARG, "perf samples: NULL");
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 256;
        double *v = pl_realloc(s->v, cap * sizeof *v);
        if (!v) return PL_ERR(PL_E_NOMEM, "perf samples: %zu values", cap);
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = x;
    s->sorted = false;
    return PL_OK;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double pl_perf_samples_pct(struct pl_perf_samples *s, double p) {
    if (!s || !s->n) return NAN;
    if (!s->sorted) {
        qsort(s->v, s->n, sizeof *s->v, cmp_double);
        s->sorted = true;
    }
    if (p < 0) p = 0;
    size_t i = (size_t)(p / 100.0 * (double)s->n);
    return s->v[i < s->n ? i : s->n - 1];
}

double pl_perf_samples_max(const struct pl_perf_samples *s) {
    if (!s || !s->n) return NAN;
    double m = s->v[0];
    for (size_t i = 1; i < s->n; i++)
        if (s->v[i] > m) m = s->v[i];
    return m;
}

void pl_perf_samples_clear(struct pl_perf_samples *s) {
    if (!s) return;
    s->n = 0;
    s->sorted = false;
}

void pl_perf_samples_deinit(struct pl_perf_samples *s) {
    if (!s) return;
    pl_free(s->v);
    s->v = NULL;
    s->n = s->cap = 0;
    s->sorted = false;
}

long pl_perf_chunk_for(const double *sent_end, size_t n, double audio_processed) {
    if (!sent_end || !n) return -1;
    double want = audio_processed - 1e-3;
    /* binary search for the first sent_end >= want (sent_end is non-decreasing) */
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (sent_end[mid] >= want)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo < n ? (long)lo : -1;
}

bool pl_perf_is_last_final(bool is_final, bool closed, double audio_processed, double audio_s) {
    return is_final && closed && audio_processed >= audio_s - 0.05;
}

bool pl_perf_level_realtime(const struct pl_perf_level_summary *l) {
    if (!l || !l->paced || l->streams <= 0 || l->errors > 0 || l->finals < l->streams) return false;
    if (!(l->slowest_s <= l->audio_s + l->rt_margin_s + l->chunk_s)) return false;
    return l->p99_ms < l->rt_p99_ms; /* false for NAN: no chunk latency measured */
}
