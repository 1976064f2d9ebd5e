/* nrpc_metrics.c - Prometheus registry (counters, gauges, histograms) and the standard series. */
#include "nrpc_metrics.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

#include "alloc.h"

enum metric_type { M_COUNTER, M_GAUGE, M_HISTOGRAM };

struct pl_metric {
    struct pl_metrics *reg;
    struct family *fam;
    char *labels; /* "" for none */
    double value; /* counter/gauge; histogram: sum */
    uint64_t count;
    uint64_t *buckets; /* histogram: per bound (not cumulative), n_bounds entries */
    struct pl_metric *next;
};

struct family {
    char *name;
    char *help;
    enum metric_type type;
    double *bounds;
    int n_bounds;
    struct pl_metric *series, *series_tail;
    struct family *next;
};

struct collector {
    pl_metrics_collect_fn fn;
    void *ud;
    struct collector *next;
};

struct pl_metrics {
    pthread_mutex_t lock;
    struct family *families, *families_tail;
    struct collector *collectors;
    bool have_memory_collector;
};

static const double default_us_bounds[] = {100,     250,     500,     1000,    2500,   5000,
                                           10000,   25000,   50000,   100000,  250000, 500000,
                                           1000000, 2500000, 5000000, 10000000};
static const double batch_bounds[] = {1, 2, 4, 8, 16, 32, 64, 128, 256};

pl_status pl_metrics_create(struct pl_metrics **out) {
    if (!out) return PL_ERR(PL_E_INVALID_ARG, "metrics: NULL out");
    struct pl_metrics *m = pl_calloc(1, sizeof *m);
    *out = NULL;
    if (!m) return PL_ERR(PL_E_NOMEM, "metrics registry");
    pthread_mutex_init(&m->lock, NULL);
    *out = m;
    return PL_OK;
}

void pl_metrics_destroy(struct pl_metrics *m) {
    if (!m) return;
    for (struct family *f = m->families; f;) {
        struct family *fn = f->next;
        for (struct pl_metric *s = f->series; s;) {
            struct pl_metric *sn = s->next;
            pl_free(s->labels);
            pl_free(s->buckets);
            pl_free(s);
            s = sn;
        }
        pl_free(f->name);
        pl_free(f->help);
        pl_free(f->bounds);
        pl_free(f);
        f = fn;
    }
    for (struct collector *c = m->collectors; c;) {
        struct collector *cn = c->next;
        pl_free(c);
        c = cn;
    }
    pthread_mutex_destroy(&m->lock);
    pl_free(m);
}

static struct pl_metric *get_series(struct pl_metrics *m, const char *name, const char *help,
                                    const char *labels, enum metric_type type, const double *bounds,
                                    int n_bounds) {
    struct pl_metric *s = NULL;
    if (!m || !name || !*name) return NULL;
    if (!labels) labels = "";
    pthread_mutex_lock(&m->lock);
    struct family *f = m->families;
    while (f && strcmp(f->name, name) != 0) f = f->next;
    if (f && f->type != type) goto done;
    if (!f) {
        f = pl_calloc(1, sizeof *f);
        if (!f) goto done;
        f->name = pl_strdup(name);
        f->help = pl_strdup(help ? help : name);
        f->type = type;
        if (type == M_HISTOGRAM) {
            if (!bounds) {
                bounds = n_bounds < 0 ? batch_bounds : default_us_bounds;
                n_bounds = n_bounds < 0 ? (int)PL_ARRAY_LEN(batch_bounds)
                                        : (int)PL_ARRAY_LEN(default_us_bounds);
            }
            f->bounds = pl_calloc((size_t)(n_bounds > 0 ? n_bounds : 1), sizeof(double));
            if (f->bounds && n_bounds > 0)
                memcpy(f->bounds, bounds, (size_t)n_bounds * sizeof(double));
            f->n_bounds = n_bounds > 0 ? n_bounds : 0;
        }
        if (!f->name || !f->help || (type == M_HISTOGRAM && !f->bounds)) {
            pl_free(f->name);
            pl_free(f->help);
            pl_free(f->bounds);
            pl_free(f);
            f = NULL;
            goto done;
        }
        if (m->families_tail)
            m->families_tail->next = f;
        else
            m->families = f;
        m->families_tail = f;
    }
    for (s = f->series; s; s = s->next)
        if (strcmp(s->labels, labels) == 0) goto done;
    s = pl_calloc(1, sizeof *s);
    if (!s) goto done;
    s->reg = m;
    s->fam = f;
    s->labels = pl_strdup(labels);
    if (type == M_HISTOGRAM)
        s->buckets = pl_calloc((size_t)(f->n_bounds > 0 ? f->n_bounds : 1), sizeof(uint64_t));
    if (!s->labels || (type == M_HISTOGRAM && !s->buckets)) {
        pl_free(s->labels);
        pl_free(s->buckets);
        pl_free(s);
        s = NULL;
        goto done;
    }
    if (f->series_tail)
        f->series_tail->next = s;
    else
        f->series = s;
    f->series_tail = s;
done:
    pthread_mutex_unlock(&m->lock);
    return s;
}

struct pl_metric *pl_metrics_counter(struct pl_metrics *m, const char *name, const char *help,
                                     const char *labels) {
    return get_series(m, name, help, labels, M_COUNTER, NULL, 0);
}

struct pl_metric *pl_metrics_gauge(struct pl_metrics *m, const char *name, const char *help,
                                   const char *labels) {
    return get_series(m, name, help, labels, M_GAUGE, NULL, 0);
}

struct pl_metric *pl_metrics_histogram(struct pl_metrics *m, const char *name, const char *help,
                                       const char *labels, const double *bounds, int n_bounds) {
    return get_series(m, name, help, labels, M_HISTOGRAM, bounds, n_bounds);
}

void pl_metric_add(struct pl_metric *h, double v) {
    if (!h || h->fam->type == M_HISTOGRAM) return;
    if (h->fam->type == M_COUNTER && v < 0) return; /* counters never go down */
    pthread_mutex_lock(&h->reg->lock);
    h->value += v;
    pthread_mutex_unlock(&h->reg->lock);
}

void pl_metric_set(struct pl_metric *h, double v) {
    if (!h || h->fam->type != M_GAUGE) return;
    pthread_mutex_lock(&h->reg->lock);
    h->value = v;
    pthread_mutex_unlock(&h->reg->lock);
}

void pl_metric_observe(struct pl_metric *h, double v) {
    if (!h || h->fam->type != M_HISTOGRAM) return;
    pthread_mutex_lock(&h->reg->lock);
    h->value += v;
    h->count++;
    for (int i = 0; i < h->fam->n_bounds; i++) {
        if (v <= h->fam->bounds[i]) {
            h->buckets[i]++;
            break;
        }
    }
    pthread_mutex_unlock(&h->reg->lock);
}

double pl_metric_value(struct pl_metric *h) {
    if (!h) return 0;
    pthread_mutex_lock(&h->reg->lock);
    double v = h->fam->type == M_HISTOGRAM ? (double)h->count : h->value;
    pthread_mutex_unlock(&h->reg->lock);
    return v;
}

pl_status pl_metrics_add_collector(struct pl_metrics *m, pl_metrics_collect_fn fn, void *ud) {
    if (!m || !fn) return PL_ERR(PL_E_INVALID_ARG, "metrics collector: NULL argument");
    struct collector *c = pl_calloc(1, sizeof *c);
    if (!c) return PL_ERR(PL_E_NOMEM, "metrics collector");
    c->fn = fn;
    c->ud = ud;
    pthread_mutex_lock(&m->lock);
    c->next = m->collectors;
    m->collectors = c;
    pthread_mutex_unlock(&m->lock);
    return PL_OK;
}

static void append_num(struct pl_strbuf *sb, double v) {
    if (isinf(v))
        pl_strbuf_append(sb, v > 0 ? "+Inf" : "-Inf");
    else if (isnan(v))
        pl_strbuf_append(sb, "NaN");
    else if (v == floor(v) && fabs(v) < 1e15)
        pl_strbuf_appendf(sb, "%.0f", v);
    else
        pl_strbuf_appendf(sb, "%.9g", v);
}

/* name{labels[,extra]} */
static void append_name(struct pl_strbuf *sb, const char *name, const char *suffix,
                        const char *labels, const char *extra) {
    pl_strbuf_append(sb, name);
    pl_strbuf_append(sb, suffix);
    bool l = labels && *labels, e = extra && *extra;
    if (!l && !e) return;
    pl_strbuf_append_char(sb, '{');
    if (l) pl_strbuf_append(sb, labels);
    if (l && e) pl_strbuf_append_char(sb, ',');
    if (e) pl_strbuf_append(sb, extra);
    pl_strbuf_append_char(sb, '}');
}

pl_status pl_metrics_render(struct pl_metrics *m, struct pl_strbuf *out) {
    static const char *const type_names[] = {"counter", "gauge", "histogram"};
    if (!m || !out) return PL_ERR(PL_E_INVALID_ARG, "metrics render: NULL argument");
    /* collectors update series through the public API (which locks), so run them unlocked;
     * the list only grows at the head, so walking a snapshot of it is safe */
    pthread_mutex_lock(&m->lock);
    struct collector *cs = m->collectors;
    pthread_mutex_unlock(&m->lock);
    for (struct collector *c = cs; c; c = c->next) c->fn(m, c->ud);

    pthread_mutex_lock(&m->lock);
    for (struct family *f = m->families; f; f = f->next) {
        pl_strbuf_appendf(out, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name,
                          type_names[f->type]);
        for (struct pl_metric *s = f->series; s; s = s->next) {
            if (f->type != M_HISTOGRAM) {
                append_name(out, f->name, "", s->labels, NULL);
                pl_strbuf_append_char(out, ' ');
                append_num(out, s->value);
                pl_strbuf_append_char(out, '\n');
                continue;
            }
            uint64_t cum = 0;
            for (int i = 0; i <= f->n_bounds; i++) {
                char le[48];
                struct pl_strbuf tmp;
                pl_strbuf_init(&tmp);
                if (i < f->n_bounds) {
                    cum += s->buckets[i];
                    append_num(&tmp, f->bounds[i]);
                } else {
                    cum = s->count;
                    pl_strbuf_append(&tmp, "+Inf");
                }
                snprintf(le, sizeof le, "le=\"%s\"", tmp.data ? tmp.data : "");
                pl_strbuf_deinit(&tmp);
                append_name(out, f->name, "_bucket", s->labels, le);
                pl_strbuf_appendf(out, " %llu\n", (unsigned long long)cum);
            }
            append_name(out, f->name, "_sum", s->labels, NULL);
            pl_strbuf_append_char(out, ' ');
            append_num(out, s->value);
            pl_strbuf_append_char(out, '\n');
            append_name(out, f->name, "_count", s->labels, NULL);
            pl_strbuf_appendf(out, " %llu\n", (unsigned long long)s->count);
        }
    }
    pthread_mutex_unlock(&m->lock);
    return pl_strbuf_status(out);
}

/* ---- standard series ------------------------------------------------------------------------- */

static void collect_memory(struct pl_metrics *m, void *ud) {
    (void)ud;
    struct pl_alloc_stats st;
    pl_alloc_stats(&st);
    pl_metric_set(pl_metrics_gauge(m, "parley_memory_bytes",
                                   "Bytes allocated through pl_malloc and live", NULL),
                  (double)st.bytes_in_use);
}

pl_status pl_metrics_std_model(struct pl_metrics *m, const char *model,
                               struct pl_metrics_model *out) {
    char lab[160];
    if (!m || !model || !out) return PL_ERR(PL_E_INVALID_ARG, "std metrics: NULL argument");
    snprintf(lab, sizeof lab, "model=\"%s\"", model);
    memset(out, 0, sizeof *out);
    /* the memory collector once per registry */
    pthread_mutex_lock(&m->lock);
    bool have_mem = m->have_memory_collector;
    pthread_mutex_unlock(&m->lock);
    if (!have_mem) {
        if (!pl_metrics_gauge(m, "parley_memory_bytes",
                              "Bytes allocated through pl_malloc and live", NULL))
            return PL_ERR(PL_E_NOMEM, "std metrics");
        PL_TRY(pl_metrics_add_collector(m, collect_memory, NULL));
        pthread_mutex_lock(&m->lock);
        m->have_memory_collector = true;
        pthread_mutex_unlock(&m->lock);
    }
    out->inference_count =
        pl_metrics_counter(m, "parley_inference_count", "Requests inferred (batch items)", lab);
    out->execution_count =
        pl_metrics_counter(m, "parley_execution_count", "Model executions (batches)", lab);
    out->batch_size =
        pl_metrics_histogram(m, "parley_batch_size", "Batch sizes executed", lab, NULL, -1);
    out->queue_us = pl_metrics_histogram(m, "parley_queue_duration_us",
                                         "Time requests waited in queue (us)", lab, NULL, 0);
    out->compute_us = pl_metrics_histogram(m, "parley_compute_duration_us",
                                           "Time spent computing (us)", lab, NULL, 0);
    out->request_us =
        pl_metrics_histogram(m, "parley_request_duration_us",
                             "End-to-end request time in the worker (us)", lab, NULL, 0);
    out->active_streams =
        pl_metrics_gauge(m, "parley_active_streams", "Open streaming sessions", lab);
    out->ready = pl_metrics_gauge(m, "parley_model_ready", "1 when the model serves", lab);
    if (!out->inference_count || !out->execution_count || !out->batch_size || !out->queue_us ||
        !out->compute_us || !out->request_us || !out->active_streams || !out->ready)
        return PL_ERR(PL_E_NOMEM, "std metrics for model %s", model);
    return PL_OK;
}

void pl_metrics_std_request(struct pl_metrics *m, const char *model, const char *rpc, int code) {
    char lab[256];
    snprintf(lab, sizeof lab, "model=\"%s\",rpc=\"%s\"", model ? model : "", rpc ? rpc : "");
    if (code == 0)
        pl_metric_add(
            pl_metrics_counter(m, "parley_request_success_total", "Requests answered OK", lab), 1);
    else
        pl_metric_add(pl_metrics_counter(m, "parley_request_failure_total",
                                         "Requests answered with an error", lab),
                      1);
}
