/*
 * nrpc_metrics.h - a Prometheus metrics registry (served on the side port, httpd.h).
 *
 * The registry holds counters, gauges and histograms, each a family (name,
 * help, type) with any number of label sets. Handles are got once and kept:
 *
 *   struct pl_metric *ok = pl_metrics_counter(reg, "parley_request_success_total",
 *       "Successful requests", "model=\"nlu\",rpc=\"punctuate_text\"");
 *   pl_metric_add(ok, 1);
 *
 * pl_metrics_render() writes the Prometheus text exposition format (0.0.4).
 * Names follow Triton's with a `parley_` prefix (see pl_metrics_std below).
 *
 * Thread-safety: every function may be called from any thread. Handles stay
 * valid until the registry is destroyed. Update functions never fail.
 */
#ifndef PL_NRPC_METRICS_H
#define PL_NRPC_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"
#include "strbuf.h"

#ifdef __cplusplus
extern "C" {
#endif

struct pl_metrics;
struct pl_metric;

/* OUT: *out; free with pl_metrics_destroy (NULL is a no-op). */
pl_status pl_metrics_create(struct pl_metrics **out);
void pl_metrics_destroy(struct pl_metrics *m);

/* Get or create the series `name{labels}`. labels is the inside of the braces,
 * already escaped ("model=\"nlu\",rpc=\"x\""), or NULL/"" for none. Returns NULL
 * only when out of memory or when name exists with another type (then
 * updates through the NULL handle are ignored). Strings are copied. */
struct pl_metric *pl_metrics_counter(struct pl_metrics *m, const char *name, const char *help,
                                     const char *labels);
struct pl_metric *pl_metrics_gauge(struct pl_metrics *m, const char *name, const char *help,
                                   const char *labels);
/* bounds: ascending upper bounds (copied; +Inf is implicit); NULL = default
 * microsecond buckets 100us..10s, or batch-size buckets when n_bounds < 0 (1,2,4,..,256). */
struct pl_metric *pl_metrics_histogram(struct pl_metrics *m, const char *name, const char *help,
                                       const char *labels, const double *bounds, int n_bounds);

void pl_metric_add(struct pl_metric *h, double v);     /* counter/gauge; NULL ignored */
void pl_metric_set(struct pl_metric *h, double v);     /* gauge; NULL ignored */
void pl_metric_observe(struct pl_metric *h, double v); /* histogram; NULL ignored */
double pl_metric_value(struct pl_metric *h);           /* counter/gauge value; histogram: count */

/* A collector runs at the start of each render (e.g. to set memory gauges).
 * fn and ud are borrowed for the registry's life. */
typedef void (*pl_metrics_collect_fn)(struct pl_metrics *m, void *ud);
pl_status pl_metrics_add_collector(struct pl_metrics *m, pl_metrics_collect_fn fn, void *ud);

/* Append the whole registry in Prometheus text format to out. */
pl_status pl_metrics_render(struct pl_metrics *m, struct pl_strbuf *out);

/* The standard per-model series of a worker (Triton-style names):
 *   parley_request_success_total{model,rpc}   parley_request_failure_total{model,rpc}
 *   parley_inference_count{model}             parley_execution_count{model}
 *   parley_batch_size{model} (histogram)      parley_queue_duration_us{model} (histogram)
 *   parley_compute_duration_us{model} (hist.) parley_request_duration_us{model} (hist.)
 *   parley_active_streams{model} (gauge)      parley_model_ready{model} (gauge)
 *   parley_memory_bytes (gauge, from pl_alloc_stats at render time)
 * pl_metrics_std_model returns the per-model handles (created on first use). */
struct pl_metrics_model {
    struct pl_metric *inference_count; /* requests inferred (batch items) */
    struct pl_metric *execution_count; /* model executions (batches) */
    struct pl_metric *batch_size;
    struct pl_metric *queue_us;
    struct pl_metric *compute_us;
    struct pl_metric *request_us;
    struct pl_metric *active_streams;
    struct pl_metric *ready;
};
pl_status pl_metrics_std_model(struct pl_metrics *m, const char *model,
                               struct pl_metrics_model *out);
/* Count one finished request of model/rpc as success (code 0) or failure. */
void pl_metrics_std_request(struct pl_metrics *m, const char *model, const char *rpc, int code);

#ifdef __cplusplus
}
#endif
#endif
