/*
 * test_model_repo.c - the model repository (runtime/model_repo.h) on a folder of fake model
 * directories: which directories are claimed, reload after adding, changing, breaking and
 * removing them, sets held across a reload (their models stay until released), duplicate
 * names, and allocation failures during a reload (the old set keeps serving, nothing leaks).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "model_repo.h"

/* A fake model: the directory's "value" file content; "fail" in it makes load fail. */
struct fake {
    char name[64];
    char value[64];
};

static int g_loaded, g_unloaded;
static char g_root[64];

static bool claims(void *ud, const char *dir, const json_t *config) {
    (void)ud;
    (void)dir;
    const char *t = json_string_value(json_object_get(config, "model_type"));
    return t && !strcmp(t, "fake");
}

static pl_status load(void *ud, const char *dir_name, const char *dir, const json_t *config,
                      struct pl_model_list *out) {
    (void)ud;
    char path[512], value[64] = "";
    snprintf(path, sizeof path, "%s/value", dir);
    FILE *f = fopen(path, "r");
    if (f) {
        if (!fgets(value, sizeof value, f)) value[0] = 0;
        fclose(f);
    }
    if (strstr(value, "fail")) return PL_ERR(PL_E_FORMAT, "%s: the value says fail", path);
    /* "extra": a second model from the same directory, named by the config */
    const char *extra = json_string_value(json_object_get(config, "extra"));
    for (int k = 0; k < (extra ? 2 : 1); k++) {
        struct fake *m = pl_calloc(1, sizeof *m);
        if (!m) return PL_ERR(PL_E_NOMEM, "fake model");
        snprintf(m->name, sizeof m->name, "%s", k ? extra : dir_name);
        snprintf(m->value, sizeof m->value, "%s", value);
        g_loaded++;
        PL_TRY(pl_model_list_add(out, m->name, m));
    }
    return PL_OK;
}

static void unload(void *ud, void *model) {
    (void)ud;
    g_unloaded++;
    pl_free(model);
}

static const struct pl_model_repo_i fake_i = {"fake model", claims, load, unload};

static void put(const char *dir, const char *file, const char *text) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", g_root, dir);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/%s/%s", g_root, dir, file);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

static void model(const char *dir, const char *value) {
    put(dir, "config.json", "{\"model_type\": \"fake\"}");
    put(dir, "value", value);
}

static const char *value_of(struct pl_model_repo *r, const char *name) {
    static char v[64];
    struct pl_model_set *s = pl_model_repo_acquire(r);
    struct fake *m = pl_model_set_find(s, name);
    snprintf(v, sizeof v, "%s", m ? m->value : "(none)");
    pl_model_set_release(s);
    return v;
}

static void setup(void) {
    snprintf(g_root, sizeof g_root, "/tmp/pl_repo_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(g_root));
    g_loaded = g_unloaded = 0;
}

static void teardown(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_root);
    ck_assert_int_eq(system(cmd), 0);
}

START_TEST(test_scan_and_reload) {
    model("a", "1");
    model("b", "2");
    put("other", "config.json", "{\"model_type\": \"bert\"}"); /* another service's */
    put("nocfg", "value", "x");                               /* not a model directory */
    put("badjson", "config.json", "{not json");               /* logged, skipped */
    struct pl_model_repo *r = NULL;
    ck_assert_int_eq(pl_model_repo_create(g_root, &fake_i, NULL, &r), PL_OK);
    struct pl_model_set *s0 = pl_model_repo_acquire(r);
    ck_assert_int_eq(pl_model_set_count(s0), 2);
    const char *name, *dir;
    ck_assert_ptr_nonnull(pl_model_set_at(s0, 0, &name, &dir));
    ck_assert_str_eq(name, "a"); /* directory-name order */
    ck_assert_ptr_nonnull(strstr(dir, "/a"));
    ck_assert_ptr_null(pl_model_set_at(s0, 2, NULL, NULL));
    ck_assert_uint_eq(pl_model_set_generation(s0), 1);

    /* nothing changed: everything kept, nothing loaded again */
    struct pl_model_repo_report rep;
    ck_assert_int_eq(pl_model_repo_reload(r, &rep), PL_OK);
    ck_assert_int_eq(rep.kept, 2);
    ck_assert_int_eq(g_loaded, 2);

    /* c added, b changed, a removed; s0 (still held) keeps the old a and b alive */
    model("c", "3");
    put("b", "value", "22");
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf %s/a", g_root);
    ck_assert_int_eq(system(cmd), 0);
    ck_assert_int_eq(pl_model_repo_reload(r, &rep), PL_OK);
    ck_assert_int_eq(rep.added, 1);
    ck_assert_int_eq(rep.changed, 1);
    ck_assert_int_eq(rep.removed, 1);
    ck_assert_str_eq(value_of(r, "b"), "22");
    ck_assert_str_eq(value_of(r, "c"), "3");
    ck_assert_str_eq(value_of(r, "a"), "(none)");
    ck_assert_int_eq(g_unloaded, 0); /* old a and old b are still in s0 */
    ck_assert_str_eq(((struct fake *)pl_model_set_find(s0, "b"))->value, "2");
    pl_model_set_release(s0);
    ck_assert_int_eq(g_unloaded, 2);

    /* a broken change: the loaded version keeps serving; a broken new one is not served */
    put("b", "value", "fail");
    model("d", "fail");
    ck_assert_int_eq(pl_model_repo_reload(r, &rep), PL_E_FORMAT);
    ck_assert_int_eq(rep.failed, 2);
    ck_assert_str_eq(value_of(r, "b"), "22");
    ck_assert_str_eq(value_of(r, "d"), "(none)");
    /* a config.json that stops parsing: also keeps the loaded version */
    put("c", "config.json", "{broken");
    ck_assert_int_eq(pl_model_repo_reload(r, &rep), PL_E_FORMAT);
    ck_assert_str_eq(value_of(r, "c"), "3");
    /* fixed again: served in its new form */
    put("b", "value", "222");
    model("c", "33");
    snprintf(cmd, sizeof cmd, "rm -rf %s/d", g_root);
    ck_assert_int_eq(system(cmd), 0);
    ck_assert_int_eq(pl_model_repo_reload(r, &rep), PL_OK);
    ck_assert_str_eq(value_of(r, "b"), "222");
    ck_assert_str_eq(value_of(r, "c"), "33");
    pl_model_repo_destroy(r);
    ck_assert_int_eq(g_unloaded, g_loaded);
}
END_TEST

/* Two directories giving the same model name: the first (by directory name) wins. */
START_TEST(test_duplicate_names) {
    put("x", "config.json", "{\"model_type\": \"fake\", \"extra\": \"y\"}");
    put("x", "value", "from-x");
    model("y", "from-y");
    struct pl_model_repo *r = NULL;
    ck_assert_int_eq(pl_model_repo_create(g_root, &fake_i, NULL, &r), PL_OK);
    struct pl_model_set *s = pl_model_repo_acquire(r);
    ck_assert_int_eq(pl_model_set_count(s), 2);
    ck_assert_str_eq(((struct fake *)pl_model_set_find(s, "y"))->value, "from-x");
    pl_model_set_release(s);
    pl_model_repo_destroy(r);
    ck_assert_int_eq(g_unloaded, g_loaded);
}
END_TEST

/* A missing root serves nothing; allocation failures during reload leave the set served. */
START_TEST(test_missing_root_and_oom) {
    struct pl_model_repo *r = NULL;
    ck_assert_int_eq(pl_model_repo_create("/nonexistent-parley-repo", &fake_i, NULL, &r), PL_OK);
    struct pl_model_set *s = pl_model_repo_acquire(r);
    ck_assert_int_eq(pl_model_set_count(s), 0);
    pl_model_set_release(s);
    pl_model_repo_destroy(r);
    pl_model_set_release(NULL);
    pl_model_repo_destroy(NULL);

    model("a", "1");
    ck_assert_int_eq(pl_model_repo_create(g_root, &fake_i, NULL, &r), PL_OK);
    model("b", "2");
    put("a", "value", "11");
    struct pl_alloc_stats st0, st1;
    for (int k = 0; k < 60; k++) {
        pl_alloc_fail_after(k);
        pl_status st = pl_model_repo_reload(r, NULL);
        pl_alloc_fail_after(-1);
        /* whatever failed, a is served (old or new), and b when its load went through */
        const char *v = value_of(r, "a");
        ck_assert_msg(!strcmp(v, "1") || !strcmp(v, "11"), "a = %s after failure at %d", v, k);
        if (st == PL_OK && !strcmp(value_of(r, "b"), "2") && !strcmp(v, "11")) break;
    }
    ck_assert_str_eq(value_of(r, "a"), "11");
    ck_assert_str_eq(value_of(r, "b"), "2");
    pl_alloc_stats(&st0);
    pl_model_repo_destroy(r);
    pl_alloc_stats(&st1);
    ck_assert_int_eq(g_unloaded, g_loaded);
    ck_assert_int_lt(st1.blocks_in_use, st0.blocks_in_use);
}
END_TEST

Suite *pl_model_repo_suite(void) {
    Suite *s = suite_create("model_repo");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_scan_and_reload);
    tcase_add_test(tc, test_duplicate_names);
    tcase_add_test(tc, test_missing_root_and_oom);
    suite_add_tcase(s, tc);
    return s;
}
