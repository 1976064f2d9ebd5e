/*
 * test_dialog_pool.c - parley-dialog's action pool (services/dialog/dialog_pool.c): a lane's
 * jobs run one at a time in the order pushed, lanes share the threads (a lane whose job waits
 * does not hold up another lane), busy/wait, closing a lane drops what it had queued and
 * calls back once its running job has returned, the per-lane cap, a job that parks its lane
 * (no thread held while it waits; its continuation runs first; closed meanwhile: dropped).
 */
#include <check.h>
#include <stdatomic.h>
#include <string.h>

#include "alloc.h"
#include "dialog_svc.h"
#include "util.h"

struct rec {
    pthread_mutex_t mu;
    int order[300]; /* job ids in the order they ran */
    int n;
    atomic_int running;  /* jobs of the lane running now */
    atomic_int overlap;  /* a job started while another of its lane ran */
    atomic_int dropped;
    atomic_int closed;
};

struct job {
    struct rec *r;
    int id;
    int sleep_ms;
    atomic_int *gate; /* non-NULL: the job runs until the test opens it */
};

static void job_run(void *arg) {
    struct job *j = arg;
    if (atomic_fetch_add(&j->r->running, 1) > 0) atomic_store(&j->r->overlap, 1);
    if (j->sleep_ms) pl_sleep_ms(j->sleep_ms);
    while (j->gate && !atomic_load(j->gate)) pl_sleep_ms(1);
    pthread_mutex_lock(&j->r->mu);
    j->r->order[j->r->n++] = j->id;
    pthread_mutex_unlock(&j->r->mu);
    atomic_fetch_sub(&j->r->running, 1);
    pl_free(j);
}

static void job_drop(void *arg) {
    struct job *j = arg;
    atomic_fetch_add(&j->r->dropped, 1);
    pl_free(j);
}

static void on_closed(void *ud) { atomic_fetch_add(&((struct rec *)ud)->closed, 1); }

static void push(struct pl__dlg_lane *l, struct rec *r, int id, int sleep_ms) {
    struct job *j = pl_calloc(1, sizeof *j);
    j->r = r;
    j->id = id;
    j->sleep_ms = sleep_ms;
    ck_assert_int_eq(pl__dlg_lane_push(l, job_run, job_drop, j), PL_OK);
}

static void rec_init(struct rec *r) {
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->mu, NULL);
}

START_TEST(test_lane_order_and_sharing) {
    struct pl__dlg_pool *p;
    ck_assert_int_eq(pl__dlg_pool_create(4, &p), PL_OK);
    struct pl__dlg_lane *slow, *fast;
    ck_assert_int_eq(pl__dlg_lane_create(p, &slow), PL_OK);
    ck_assert_int_eq(pl__dlg_lane_create(p, &fast), PL_OK);
    struct rec rs, rf;
    rec_init(&rs);
    rec_init(&rf);
    /* a turn waiting on a slow service: its job runs until the test opens the gate, so the
     * other lane's jobs can only finish if the pool runs them beside it */
    atomic_int gate = 0;
    struct job *first = pl_calloc(1, sizeof *first);
    first->r = &rs;
    first->gate = &gate;
    ck_assert_int_eq(pl__dlg_lane_push(slow, job_run, job_drop, first), PL_OK);
    for (int i = 1; i < 20; i++) push(slow, &rs, i, i % 3);
    ck_assert(pl__dlg_lane_busy(slow));
    for (int i = 0; i < 10; i++) push(fast, &rf, i, 0);
    ck_assert_msg(pl__dlg_lane_wait(fast, 5000), "the other lane waited behind a busy one");
    ck_assert(pl__dlg_lane_busy(slow)); /* its first job is still held */
    ck_assert_int_eq(rs.n, 0);
    atomic_store(&gate, 1);
    ck_assert(pl__dlg_lane_wait(slow, 5000));
    ck_assert(!pl__dlg_lane_busy(slow));
    ck_assert_int_eq(rs.n, 20);
    ck_assert_int_eq(rf.n, 10);
    for (int i = 0; i < 20; i++) ck_assert_int_eq(rs.order[i], i);
    for (int i = 0; i < 10; i++) ck_assert_int_eq(rf.order[i], i);
    ck_assert_int_eq(atomic_load(&rs.overlap), 0); /* one job of a lane at a time */
    ck_assert_int_eq(atomic_load(&rf.overlap), 0);
    pl__dlg_lane_close(slow, on_closed, &rs);
    pl__dlg_lane_close(fast, on_closed, &rf);
    ck_assert_int_eq(atomic_load(&rs.closed), 1);
    ck_assert_int_eq(atomic_load(&rs.dropped), 0);
    pl__dlg_pool_destroy(p);
}
END_TEST

START_TEST(test_close_while_running) {
    struct pl__dlg_pool *p;
    ck_assert_int_eq(pl__dlg_pool_create(1, &p), PL_OK);
    struct pl__dlg_lane *l;
    ck_assert_int_eq(pl__dlg_lane_create(p, &l), PL_OK);
    struct rec r;
    rec_init(&r);
    push(l, &r, 0, 300);
    push(l, &r, 1, 0);
    push(l, &r, 2, 0);
    while (atomic_load(&r.running) == 0) pl_sleep_ms(1);
    ck_assert(!pl__dlg_lane_wait(l, 50)); /* the wait gives up */
    pl__dlg_lane_close(l, on_closed, &r);
    /* the queued jobs are dropped at once; on_closed waits for the running one */
    ck_assert_int_eq(atomic_load(&r.dropped), 2);
    ck_assert_int_eq(atomic_load(&r.closed), 0);
    for (int i = 0; i < 200 && atomic_load(&r.closed) == 0; i++) pl_sleep_ms(5);
    ck_assert_int_eq(atomic_load(&r.closed), 1);
    ck_assert_int_eq(r.n, 1);
    ck_assert_int_eq(r.order[0], 0);
    /* closing an idle lane calls back at once; a NULL lane too */
    ck_assert_int_eq(pl__dlg_lane_create(p, &l), PL_OK);
    pl__dlg_lane_close(l, on_closed, &r);
    pl__dlg_lane_close(NULL, on_closed, &r);
    ck_assert_int_eq(atomic_load(&r.closed), 3);
    pl__dlg_pool_destroy(p);
}
END_TEST

START_TEST(test_lane_cap) {
    struct pl__dlg_pool *p;
    ck_assert_int_eq(pl__dlg_pool_create(1, &p), PL_OK);
    struct pl__dlg_lane *l;
    ck_assert_int_eq(pl__dlg_lane_create(p, &l), PL_OK);
    struct rec r;
    rec_init(&r);
    atomic_int gate = 0; /* the first job runs until the lane is full (a sleep could end
                            before a loaded machine let this thread fill it) */
    struct job *j = pl_calloc(1, sizeof *j);
    j->r = &r;
    j->gate = &gate;
    ck_assert_int_eq(pl__dlg_lane_push(l, job_run, job_drop, j), PL_OK);
    while (atomic_load(&r.running) == 0) pl_sleep_ms(1);
    for (int i = 1; i <= 256; i++) push(l, &r, i, 0);
    j = pl_calloc(1, sizeof *j);
    j->r = &r;
    ck_assert_int_eq(pl__dlg_lane_push(l, job_run, job_drop, j), PL_E_EXHAUSTED);
    pl_free(j); /* not taken */
    atomic_store(&gate, 1);
    ck_assert(pl__dlg_lane_wait(l, 10000));
    ck_assert_int_eq(r.n, 257);
    pl__dlg_lane_close(l, NULL, NULL);
    pl__dlg_pool_destroy(p);
    ck_assert_int_eq(pl__dlg_pool_create(0, &p), PL_E_INVALID_ARG);
    ck_assert_ptr_null(p);
}
END_TEST

/* A job that parks its lane (a turn waiting for a webhook on the I/O thread): a thread of
 * this test plays the I/O thread and resumes it once the test says go. */
struct parked {
    struct pl__dlg_lane *l;
    struct rec *r;
    int id;
    pthread_t th;
    atomic_int n_parked;
    atomic_int go;
};

static void *resume_later(void *ud) {
    struct parked *pk = ud;
    while (!atomic_load(&pk->go)) pl_sleep_ms(1);
    struct job *j = pl_calloc(1, sizeof *j);
    j->r = pk->r;
    j->id = pk->id;
    pl__dlg_lane_resume(pk->l, job_run, job_drop, j);
    return NULL;
}

static void park_run(void *arg) {
    struct parked *pk = arg;
    pl__dlg_lane_park(pk->l);
    pthread_create(&pk->th, NULL, resume_later, pk);
    atomic_fetch_add(&pk->n_parked, 1);
}

START_TEST(test_park_and_resume) {
    struct pl__dlg_pool *p;
    ck_assert_int_eq(pl__dlg_pool_create(1, &p), PL_OK); /* one thread: parking must free it */
    struct pl__dlg_lane *a, *b;
    ck_assert_int_eq(pl__dlg_lane_create(p, &a), PL_OK);
    ck_assert_int_eq(pl__dlg_lane_create(p, &b), PL_OK);
    struct rec ra, rb;
    rec_init(&ra);
    rec_init(&rb);
    struct parked pk = {a, &ra, 0, 0, 0, 0};
    ck_assert_int_eq(pl__dlg_lane_push(a, park_run, NULL, &pk), PL_OK);
    while (atomic_load(&pk.n_parked) < 1) pl_sleep_ms(1);
    push(a, &ra, 1, 0); /* pushed to the parked lane: waits for the continuation */
    int64_t t0 = pl_time_mono_us();
    for (int i = 0; i < 5; i++) push(b, &rb, i, 0);
    ck_assert(pl__dlg_lane_wait(b, 5000)); /* the parked lane holds no thread: b runs */
    int64_t b_ms = (pl_time_mono_us() - t0) / 1000;
    ck_assert_msg(b_ms < 2000, "the other lane took %lld ms beside a parked one", (long long)b_ms);
    ck_assert(pl__dlg_lane_busy(a)); /* parked: held, no thread */
    ck_assert_int_eq(ra.n, 0);
    atomic_store(&pk.go, 1);
    ck_assert(pl__dlg_lane_wait(a, 5000));
    pthread_join(pk.th, NULL);
    ck_assert_int_eq(ra.n, 2);
    ck_assert_int_eq(ra.order[0], 0); /* the continuation first, then the queued job */
    ck_assert_int_eq(ra.order[1], 1);
    /* closed while parked: the queued job is dropped at once, the continuation when it
     * comes, and on_closed runs then, once */
    pk.id = 7;
    atomic_store(&pk.go, 0);
    ck_assert_int_eq(pl__dlg_lane_push(a, park_run, NULL, &pk), PL_OK);
    while (atomic_load(&pk.n_parked) < 2) pl_sleep_ms(1);
    push(a, &ra, 8, 0);
    pl_sleep_ms(50);
    ck_assert_int_eq(ra.n, 2); /* job 8 did not run while the lane is parked */
    pl__dlg_lane_close(a, on_closed, &ra);
    ck_assert_int_eq(atomic_load(&ra.dropped), 1);
    ck_assert_int_eq(atomic_load(&ra.closed), 0);
    atomic_store(&pk.go, 1);
    pthread_join(pk.th, NULL);
    ck_assert_int_eq(atomic_load(&ra.dropped), 2);
    ck_assert_int_eq(atomic_load(&ra.closed), 1);
    ck_assert_int_eq(ra.n, 2);
    pl__dlg_lane_close(b, on_closed, &rb);
    pl__dlg_pool_destroy(p);
}
END_TEST

Suite *pl_dialog_pool_suite(void) {
    Suite *s = suite_create("dialog_pool");
    TCase *tc = tcase_create("pool");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_lane_order_and_sharing);
    tcase_add_test(tc, test_close_while_running);
    tcase_add_test(tc, test_lane_cap);
    tcase_add_test(tc, test_park_and_resume);
    suite_add_tcase(s, tc);
    return s;
}
