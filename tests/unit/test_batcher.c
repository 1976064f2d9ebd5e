/* test_batcher.c - dynamic batching: order, errors, deadlines, cancel, shutdown, sizes,
 * batches by length, one waiter per request. */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "alloc.h"
#include "nrpc_batcher.h"
#include "nrpc_metrics.h"
#include "util.h"

/* A model that doubles integers, records what it saw and can be told to stall. */
struct model {
    pthread_mutex_t lock;
    intptr_t seen[4096];
    int n_seen;
    int sizes[4096];
    int n_batches;
    int max_size;
    int stall_ms;       /* sleep in run */
    bool fail_odd;      /* fail odd inputs one by one */
    bool fail_all;      /* return an error for the whole batch */
    atomic_int running; /* batches in run() now */
    atomic_int max_running;
};

static pl_status run_model(void *ud, int instance, struct pl_batch_req **reqs, int n) {
    struct model *m = ud;
    (void)instance;
    int now = atomic_fetch_add(&m->running, 1) + 1;
    int prev = atomic_load(&m->max_running);
    while (now > prev && !atomic_compare_exchange_weak(&m->max_running, &prev, now)) {
    }
    pthread_mutex_lock(&m->lock);
    for (int i = 0; i < n && m->n_seen < 4096; i++) m->seen[m->n_seen++] = (intptr_t)reqs[i]->input;
    if (m->n_batches < 4096) m->sizes[m->n_batches++] = n;
    if (n > m->max_size) m->max_size = n;
    pthread_mutex_unlock(&m->lock);
    if (m->stall_ms) pl_sleep_ms(m->stall_ms);
    atomic_fetch_sub(&m->running, 1);
    if (m->fail_all) return PL_ERR(PL_E_BACKEND, "device lost");
    for (int i = 0; i < n; i++) {
        intptr_t x = (intptr_t)reqs[i]->input;
        if (m->fail_odd && (x & 1)) {
            pl_batch_req_fail(reqs[i], PL_E_INVALID_ARG, "odd input %ld", (long)x);
            continue;
        }
        reqs[i]->output = (void *)(x * 2);
    }
    return PL_OK;
}

/* Wait until the model runs a batch (no sleeps that a loaded machine could outlast). */
static void wait_running(struct model *m) {
    for (int i = 0; i < 5000 && atomic_load(&m->running) == 0; i++) pl_sleep_ms(1);
    ck_assert_int_gt(atomic_load(&m->running), 0);
}

static void model_init(struct model *m) {
    memset(m, 0, sizeof *m);
    pthread_mutex_init(&m->lock, NULL);
}

static struct pl_batcher *make(struct model *m, int max_batch, int64_t delay_us, int inst,
                               int max_queue) {
    struct pl_batcher_opts o = PL_BATCHER_OPTS_INIT;
    o.max_batch_size = max_batch;
    o.max_queue_delay_us = delay_us;
    o.n_instances = inst;
    o.max_queue = max_queue;
    struct pl_batcher *b = NULL;
    ck_assert_int_eq(pl_batcher_create(&o, run_model, m, &b), PL_OK);
    return b;
}

START_TEST(test_order_and_results) {
    struct model m;
    model_init(&m);
    struct pl_batcher *b = make(&m, 4, 300000, 1, 0);
    struct pl_batch_req r[10];
    for (int i = 0; i < 10; i++) {
        pl_batch_req_init(&r[i], (void *)(intptr_t)i, 0);
        ck_assert_int_eq(pl_batcher_submit(b, &r[i]), PL_OK);
    }
    ck_assert_int_eq(pl_batcher_submit(b, &r[9]), PL_E_INVALID_ARG); /* twice (still queued) */
    for (int i = 0; i < 10; i++) {
        ck_assert_int_eq(pl_batcher_wait(b, &r[i], 2000000), PL_OK);
        ck_assert_int_eq(r[i].status, PL_OK);
        ck_assert_int_eq((intptr_t)r[i].output, 2 * i);
    }
    ck_assert_int_eq(m.n_seen, 10);
    for (int i = 0; i < 10; i++) ck_assert_int_eq(m.seen[i], i); /* arrival order */
    ck_assert_int_eq(m.max_size, 4);
    ck_assert_int_eq(m.sizes[0], 4);
    ck_assert_int_eq(m.sizes[1], 4);
    ck_assert_int_eq(m.sizes[2], 2); /* the rest after max_queue_delay */
    struct pl_batcher_stats st;
    pl_batcher_stats(b, &st);
    ck_assert_int_eq(st.batches, 3);
    ck_assert_int_eq(st.requests, 10);
    pl_batcher_destroy(b);
}
END_TEST

START_TEST(test_errors_per_request) {
    struct model m;
    model_init(&m);
    m.fail_odd = true;
    struct pl_batcher *b = make(&m, 8, 20000, 1, 0);
    struct pl_batch_req r[6];
    for (int i = 0; i < 6; i++) {
        pl_batch_req_init(&r[i], (void *)(intptr_t)i, 0);
        ck_assert_int_eq(pl_batcher_submit(b, &r[i]), PL_OK);
    }
    for (int i = 0; i < 6; i++) {
        ck_assert_int_eq(pl_batcher_wait(b, &r[i], 2000000), PL_OK);
        if (i & 1) {
            ck_assert_int_eq(r[i].status, PL_E_INVALID_ARG);
            char want[32];
            snprintf(want, sizeof want, "odd input %d", i);
            ck_assert_str_eq(r[i].error, want);
        } else {
            ck_assert_int_eq(r[i].status, PL_OK);
            ck_assert_int_eq((intptr_t)r[i].output, 2 * i);
        }
    }
    /* a failing batch fails every request with run's message */
    m.fail_odd = false;
    m.fail_all = true;
    for (int i = 0; i < 3; i++) {
        pl_batch_req_init(&r[i], (void *)(intptr_t)i, 0);
        ck_assert_int_eq(pl_batcher_submit(b, &r[i]), PL_OK);
    }
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(pl_batcher_wait(b, &r[i], 2000000), PL_OK);
        ck_assert_int_eq(r[i].status, PL_E_BACKEND);
        ck_assert_str_eq(r[i].error, "device lost");
    }
    pl_batcher_destroy(b);
}
END_TEST

START_TEST(test_deadline_in_queue) {
    struct model m;
    model_init(&m);
    m.stall_ms = 150;
    struct pl_batcher *b = make(&m, 1, 0, 1, 0);
    struct pl_batch_req a, late, fine;
    pl_batch_req_init(&a, (void *)(intptr_t)1, 0);
    ck_assert_int_eq(pl_batcher_submit(b, &a), PL_OK);
    wait_running(&m); /* a is running */
    pl_batch_req_init(&late, (void *)(intptr_t)2, pl_time_mono_us() + 30000);
    pl_batch_req_init(&fine, (void *)(intptr_t)3, pl_time_mono_us() + 5000000);
    ck_assert_int_eq(pl_batcher_submit(b, &late), PL_OK);
    ck_assert_int_eq(pl_batcher_submit(b, &fine), PL_OK);
    ck_assert_int_eq(pl_batcher_wait(b, &late, 2000000), PL_OK);
    ck_assert_int_eq(late.status, PL_E_TIMEOUT);
    ck_assert_ptr_nonnull(strstr(late.error, "deadline exceeded"));
    ck_assert_int_eq(pl_batcher_wait(b, &fine, 2000000), PL_OK);
    ck_assert_int_eq(fine.status, PL_OK);
    ck_assert_int_eq(pl_batcher_wait(b, &a, 2000000), PL_OK);
    pthread_mutex_lock(&m.lock);
    ck_assert_int_eq(m.n_seen, 2); /* the expired request never reached the model */
    ck_assert_int_eq(m.seen[0], 1);
    ck_assert_int_eq(m.seen[1], 3);
    pthread_mutex_unlock(&m.lock);
    struct pl_batcher_stats st;
    pl_batcher_stats(b, &st);
    ck_assert_int_eq(st.expired, 1);
    pl_batcher_destroy(b);
}
END_TEST

static atomic_int done_calls;
static void on_done(struct pl_batch_req *r, void *ud) {
    (void)r;
    (void)ud;
    atomic_fetch_add(&done_calls, 1);
}

START_TEST(test_cancel) {
    struct model m;
    model_init(&m);
    m.stall_ms = 150;
    struct pl_batcher *b = make(&m, 1, 0, 1, 0);
    struct pl_batch_req a, c;
    atomic_store(&done_calls, 0);
    pl_batch_req_init(&a, (void *)(intptr_t)1, 0);
    pl_batch_req_init(&c, (void *)(intptr_t)2, 0);
    c.done = on_done;
    ck_assert_int_eq(pl_batcher_submit(b, &a), PL_OK);
    wait_running(&m);
    ck_assert_int_eq(pl_batcher_submit(b, &c), PL_OK);
    ck_assert(pl_batcher_cancel(b, &c));  /* still queued */
    ck_assert(!pl_batcher_cancel(b, &a)); /* already running */
    ck_assert_int_eq(c.status, PL_E_CANCELLED);
    ck_assert_int_eq(atomic_load(&done_calls), 1);
    ck_assert(!pl_batcher_cancel(b, &c)); /* done */
    ck_assert_int_eq(pl_batcher_wait(b, &c, 0), PL_OK);
    ck_assert_int_eq(pl_batcher_wait(b, &a, 2000000), PL_OK);
    ck_assert_int_eq(a.status, PL_OK);
    pl_batcher_destroy(b); /* joins the batch thread: n_seen is final, no sleep needed */
    ck_assert_int_eq(m.n_seen, 1);
}
END_TEST

START_TEST(test_shutdown_with_work_queued) {
    struct model m;
    model_init(&m);
    m.stall_ms = 150;
    struct pl_batcher *b = make(&m, 1, 0, 1, 0);
    struct pl_batch_req r[6];
    atomic_store(&done_calls, 0);
    for (int i = 0; i < 6; i++) {
        pl_batch_req_init(&r[i], (void *)(intptr_t)i, 0);
        r[i].done = on_done;
        ck_assert_int_eq(pl_batcher_submit(b, &r[i]), PL_OK);
        if (i == 0) wait_running(&m); /* r[0] runs */
    }
    pl_batcher_destroy(b); /* waits for r[0], cancels the rest */
    ck_assert_int_eq(atomic_load(&done_calls), 6);
    ck_assert_int_eq(r[0].status, PL_OK);
    ck_assert_int_eq((intptr_t)r[0].output, 0);
    for (int i = 1; i < 6; i++) {
        ck_assert_int_eq(r[i].status, PL_E_CANCELLED);
        ck_assert_str_eq(r[i].error, "batcher shutting down");
    }
    ck_assert_int_eq(m.n_seen, 1);
}
END_TEST

struct load_arg {
    struct pl_batcher *b;
    int base;
    int bad;
};

static void *load_thread(void *p) {
    struct load_arg *a = p;
    for (int i = 0; i < 50; i++) {
        struct pl_batch_req r;
        intptr_t x = a->base + i;
        pl_batch_req_init(&r, (void *)x, 0);
        if (pl_batcher_submit(a->b, &r) != PL_OK || pl_batcher_wait(a->b, &r, 5000000) != PL_OK ||
            r.status != PL_OK || (intptr_t)r.output != 2 * x)
            a->bad++;
    }
    return NULL;
}

START_TEST(test_batches_under_load) {
    struct model m;
    model_init(&m);
    m.stall_ms = 2; /* a model that takes a little time: requests pile up meanwhile */
    struct pl_metrics *reg = NULL;
    ck_assert_int_eq(pl_metrics_create(&reg), PL_OK);
    struct pl_batcher_opts o = PL_BATCHER_OPTS_INIT;
    o.max_batch_size = 8;
    o.max_queue_delay_us = 2000;
    o.n_instances = 2;
    o.metrics = reg;
    o.model = "doubler";
    struct pl_batcher *b = NULL;
    ck_assert_int_eq(pl_batcher_create(&o, run_model, &m, &b), PL_OK);
    enum { T = 12 };
    pthread_t th[T];
    struct load_arg a[T];
    for (int i = 0; i < T; i++) {
        a[i] = (struct load_arg){b, i * 1000, 0};
        pthread_create(&th[i], NULL, load_thread, &a[i]);
    }
    for (int i = 0; i < T; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(a[i].bad, 0);
    }
    struct pl_batcher_stats st;
    pl_batcher_stats(b, &st);
    ck_assert_int_eq(st.requests, T * 50);
    ck_assert_int_le(st.max_batch, 8);
    ck_assert_int_ge(st.max_batch, 4); /* batches really formed */
    ck_assert_int_lt(st.batches, T * 50 / 2);
    ck_assert_int_le(atomic_load(&m.max_running), 2);
    struct pl_strbuf sb;
    pl_strbuf_init(&sb);
    ck_assert_int_eq(pl_metrics_render(reg, &sb), PL_OK);
    char want[128];
    snprintf(want, sizeof want, "parley_batch_size_count{model=\"doubler\"} %lld\n",
             (long long)st.batches);
    ck_assert_ptr_nonnull(strstr(sb.data, want));
    snprintf(want, sizeof want, "parley_inference_count{model=\"doubler\"} %d\n", T * 50);
    ck_assert_ptr_nonnull(strstr(sb.data, want));
    pl_strbuf_deinit(&sb);
    pl_batcher_destroy(b);
    pl_metrics_destroy(reg);
}
END_TEST

START_TEST(test_max_batch_one) {
    struct model m;
    model_init(&m);
    /* a queue delay of 10 s: a batch that waited for it would time the wait below out */
    struct pl_batcher *b = make(&m, 1, 10000000, 2, 0);
    struct pl_batch_req r[20];
    for (int i = 0; i < 20; i++) {
        pl_batch_req_init(&r[i], (void *)(intptr_t)i, 0);
        ck_assert_int_eq(pl_batcher_submit(b, &r[i]), PL_OK);
    }
    int64_t t0 = pl_time_mono_us();
    for (int i = 0; i < 20; i++) {
        ck_assert_int_eq(pl_batcher_wait(b, &r[i], 2000000), PL_OK);
        ck_assert_int_eq((intptr_t)r[i].output, 2 * i);
    }
    /* a full batch of one never waits for the queue delay (20 runs take well under 2 s even on
     * a loaded machine; one wait would take 10) */
    ck_assert_int_lt(pl_time_mono_us() - t0, 2000000);
    ck_assert_int_eq(m.max_size, 1);
    ck_assert_int_eq(m.n_batches, 20);
    pl_batcher_destroy(b);
}
END_TEST

START_TEST(test_queue_delay_and_limits) {
    struct model m;
    model_init(&m);
    struct pl_batcher *b = make(&m, 4, 40000, 1, 3);
    struct pl_batch_req r[4];
    int64_t t0 = pl_time_mono_us();
    pl_batch_req_init(&r[0], (void *)(intptr_t)1, 0);
    ck_assert_int_eq(pl_batcher_submit(b, &r[0]), PL_OK);
    ck_assert_int_eq(pl_batcher_wait(b, &r[0], 2000000), PL_OK);
    int64_t el = pl_time_mono_us() - t0;
    ck_assert_int_ge(el, 35000); /* a lone request waits for max_queue_delay_us */
    ck_assert_int_lt(el, 400000);
    pl_batcher_destroy(b);

    /* max_queue: the fourth queued request is refused */
    model_init(&m);
    m.stall_ms = 100;
    b = make(&m, 1, 0, 1, 3);
    pl_batch_req_init(&r[0], (void *)(intptr_t)0, 0);
    ck_assert_int_eq(pl_batcher_submit(b, &r[0]), PL_OK);
    wait_running(&m);
    for (int i = 1; i < 4; i++) {
        pl_batch_req_init(&r[i], (void *)(intptr_t)i, 0);
        ck_assert_int_eq(pl_batcher_submit(b, &r[i]), PL_OK);
    }
    struct pl_batch_req extra;
    pl_batch_req_init(&extra, NULL, 0);
    ck_assert_int_eq(pl_batcher_submit(b, &extra), PL_E_EXHAUSTED);
    pl_batcher_destroy(b);

    struct pl_batcher_opts o = PL_BATCHER_OPTS_INIT;
    o.max_batch_size = 0;
    ck_assert_int_eq(pl_batcher_create(&o, run_model, &m, &b), PL_E_INVALID_ARG);
    o = (struct pl_batcher_opts)PL_BATCHER_OPTS_INIT;
    o.n_instances = 0;
    ck_assert_int_eq(pl_batcher_create(&o, run_model, &m, &b), PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_batcher_create(NULL, NULL, &m, &b), PL_E_INVALID_ARG);
    pl_batcher_destroy(NULL);
}
END_TEST

/* Run 17 requests through one instance with max_batch_size 4: the first alone while the
 * other 16 (lengths 10 and 50 alternating, the input is the index) queue behind it; return
 * the stats and leave the batches the model saw in m. */
static void run_mixed_lengths(struct model *m, bool bucket, struct pl_batcher_stats *st) {
    model_init(m);
    m->stall_ms = 50;
    struct pl_batcher_opts o = PL_BATCHER_OPTS_INIT;
    o.max_batch_size = 4;
    o.max_queue_delay_us = 0;
    o.bucket_by_length = bucket;
    struct pl_batcher *b = NULL;
    ck_assert_int_eq(pl_batcher_create(&o, run_model, m, &b), PL_OK);
    struct pl_batch_req r[17];
    pl_batch_req_init(&r[0], (void *)(intptr_t)0, 0);
    r[0].length = 10;
    ck_assert_int_eq(pl_batcher_submit(b, &r[0]), PL_OK);
    wait_running(m);
    for (int i = 1; i < 17; i++) {
        pl_batch_req_init(&r[i], (void *)(intptr_t)i, 0);
        r[i].length = i % 2 ? 10 : 50;
        ck_assert_int_eq(pl_batcher_submit(b, &r[i]), PL_OK);
    }
    for (int i = 0; i < 17; i++) {
        ck_assert_int_eq(pl_batcher_wait(b, &r[i], 5000000), PL_OK);
        ck_assert_int_eq(r[i].status, PL_OK);
        ck_assert_int_eq((intptr_t)r[i].output, 2 * i);
    }
    pl_batcher_stats(b, st);
    pl_batcher_destroy(b);
}

START_TEST(test_bucket_by_length) {
    struct model m;
    struct pl_batcher_stats st;
    /* arrival order: every batch of the queued 16 mixes 10s and 50s and pads to 50 */
    run_mixed_lengths(&m, false, &st);
    ck_assert_int_eq(st.requests, 17);
    ck_assert_int_eq(st.lengths, 9 * 10 + 8 * 50);
    ck_assert_int_eq(st.padded, 10 + 4 * 4 * 50);
    /* by length: the oldest (a 10) takes the three other 10s nearest in the queue, then the
     * oldest left is a 50, ...: every batch is of one length and nothing is padded */
    run_mixed_lengths(&m, true, &st);
    ck_assert_int_eq(st.requests, 17);
    ck_assert_int_eq(st.batches, 5);
    ck_assert_int_eq(st.padded, st.lengths);
    /* each batch in arrival order; the oldest queued request is always in the next batch */
    int at = 0;
    for (int k = 0; k < m.n_batches; k++) {
        for (int i = 1; i < m.sizes[k]; i++) ck_assert_int_lt(m.seen[at + i - 1], m.seen[at + i]);
        at += m.sizes[k];
    }
    ck_assert_int_eq(m.seen[0], 0);
    ck_assert_int_eq(m.seen[1], 1); /* batch 2 starts with the oldest queued one: 1 (a 10) */
    ck_assert_int_eq(m.seen[5], 2); /* batch 3 with the oldest left: 2 (a 50) */
}
END_TEST

/* Many threads, each waiting for its own request, with requests finishing one by one: every
 * waiter returns with its own result (a completion wakes its waiter, not another). */
struct waiter_arg {
    struct pl_batcher *b;
    int index;
    bool ok;
};

static void *wait_own(void *v) {
    struct waiter_arg *a = v;
    struct pl_batch_req r;
    pl_batch_req_init(&r, (void *)(intptr_t)a->index, 0);
    a->ok = pl_batcher_submit(a->b, &r) == PL_OK && pl_batcher_wait(a->b, &r, 10000000) == PL_OK &&
            r.status == PL_OK && (intptr_t)r.output == 2 * a->index;
    return NULL;
}

START_TEST(test_waiters_get_their_own) {
    struct model m;
    model_init(&m);
    m.stall_ms = 1;
    struct pl_batcher *b = make(&m, 1, 0, 2, 0);
    enum { N = 48 };
    pthread_t t[N];
    struct waiter_arg a[N];
    for (int i = 0; i < N; i++) {
        a[i] = (struct waiter_arg){b, i, false};
        ck_assert_int_eq(pthread_create(&t[i], NULL, wait_own, &a[i]), 0);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        ck_assert(a[i].ok);
    }
    pl_batcher_destroy(b);
}
END_TEST

START_TEST(test_create_oom) {
    struct model m;
    model_init(&m);
    for (int k = 0; k < 4; k++) {
        struct pl_batcher *b = (struct pl_batcher *)1;
        pl_alloc_fail_after(k);
        pl_status st = pl_batcher_create(NULL, run_model, &m, &b);
        pl_alloc_fail_after(-1);
        if (st == PL_OK) {
            pl_batcher_destroy(b);
            break;
        }
        ck_assert_int_eq(st, PL_E_NOMEM);
        ck_assert_ptr_null(b);
    }
}
END_TEST

Suite *pl_batcher_suite(void) {
    Suite *s = suite_create("batcher");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_order_and_results);
    tcase_add_test(tc, test_errors_per_request);
    tcase_add_test(tc, test_deadline_in_queue);
    tcase_add_test(tc, test_cancel);
    tcase_add_test(tc, test_shutdown_with_work_queued);
    tcase_add_test(tc, test_batches_under_load);
    tcase_add_test(tc, test_max_batch_one);
    tcase_add_test(tc, test_queue_delay_and_limits);
    tcase_add_test(tc, test_bucket_by_length);
    tcase_add_test(tc, test_waiters_get_their_own);
    tcase_add_test(tc, test_create_oom);
    suite_add_tcase(s, tc);
    return s;
}
