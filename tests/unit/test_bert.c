/*
 * test_bert.c - BERT-family parity against the PyTorch reference
 * (tests/reference/bert_ref.py, float64) on random weights saved under
 * Hugging Face names: BERT / RoBERTa / DistilBERT, every head, batch 1-8,
 * sequence 1-512, padded batches. f32: max |diff| <= 1e-4; int8: cosine
 * >= 0.999 against the reference; bf16 >= 0.9999 (measured
 * 0.999986-0.999997 with the attention's products in bf16 on AVX-512 BF16,
 * 0.999996-0.999997 in the reference; int8 0.99988-0.99998). Also: a forward allocates nothing after
 * warm-up, and broken model directories fail with PL_E_FORMAT naming the
 * tensor. Heads of one's own (pl_bert_heads: token, [CLS] and pooler inputs)
 * against the Hugging Face head and the encoder's hidden states.
 */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "backend.h"
#include "models/bert.h"
#include "safetensors.h"

/* Every reference model the suite uses, made by ONE run of the reference script (importing
 * torch dominates a run: once for all models instead of once per model). Each test reads its
 * own directory <root>/<name>. */
static const struct {
    const char *name, *args;
} refs[] = {
    {"bert_seq_cls", "--arch bert --head seq_cls --cases '1;7;5,9,2;3,1,8,8,2,6,4,7'"},
    {"bert_long", "--arch bert --head none --cases '512;300,512;1,1'"},
    {"bert_mlm_tanh_gelu", "--arch bert --head mlm --act gelu_new --cases '4;2,6'"},
    {"bert_token_cls", "--arch bert --head token_cls --hidden 48 --heads 3 --cases '6,2'"},
    {"roberta", "--arch roberta --head token_cls --cases '6;4,9,1'"},
    {"roberta_seq_cls", "--arch roberta --head seq_cls --cases '3,5'"},
    {"roberta_mlm", "--arch roberta --head mlm --cases '4'"},
    {"distilbert_qa", "--arch distilbert --head qa --cases '5;3,8'"},
    {"distilbert_seq_cls", "--arch distilbert --head seq_cls --layers 3 --cases '5,3'"},
    {"int8", "--arch bert --head seq_cls --hidden 128 --inter 256 --cases '9;16,5,11'"},
    {"warmup", "--arch bert --head seq_cls --cases '4'"},
    {"broken", "--arch bert --head qa --cases '2'"},
};

static char root[256];
static char tmpdir[300];

/* Unchecked fixture (runs once, in the parent): make every reference model. */
static void refs_make(void) {
    snprintf(root, sizeof root, "/tmp/pl_bert_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(root));
    char list[512];
    snprintf(list, sizeof list, "%s/models.txt", root);
    FILE *f = fopen(list, "w");
    ck_assert_ptr_nonnull(f);
    for (size_t i = 0; i < sizeof refs / sizeof refs[0]; i++)
        fprintf(f, "%s/%s %s\n", root, refs[i].name, refs[i].args);
    fclose(f);
    const char *py = getenv("PL_PYTHON"), *src = getenv("PARLEY_SOURCE_DIR");
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s %s/tests/reference/bert_ref.py --batch %s >/dev/null",
             py ? py : "/usr/bin/python3", src ? src : ".", list);
    ck_assert_msg(system(cmd) == 0, "reference failed: %s", cmd);
}

static void refs_remove(void) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (root[0]) ck_assert_int_eq(system(cmd), 0);
}

/* Point tmpdir at the reference model `name` (one of refs[]). */
static void use_ref(const char *name) {
    snprintf(tmpdir, sizeof tmpdir, "%s/%s", root, name);
    char path[600];
    snprintf(path, sizeof path, "%s/manifest.json", tmpdir);
    ck_assert_msg(access(path, R_OK) == 0, "no reference model %s", tmpdir);
}

static void *read_file(const char *dir, const char *name, size_t *n) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *p = pl_malloc((size_t)len + 1);
    ck_assert_int_eq(fread(p, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *n = (size_t)len;
    return p;
}

/* Compare every case in dir's manifest. tol > 0: max abs diff; tol < 0:
 * cosine >= -tol. Returns the worst max |diff|. */
static double check_dir(const char *dir, const char *backend, const char *precision, double tol) {
    char path[1024];
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    json_error_t jerr;
    json_t *man = json_load_file(path, 0, &jerr);
    ck_assert_ptr_nonnull(man);
    struct pl_backend *be;
    ck_assert_int_eq(pl_backend_create(backend, &be), PL_OK);
    struct pl_bert_options opt = {.precision = precision, .max_batch = 8, .max_seq = 512};
    struct pl_bert *m;
    ck_assert_msg(pl_bert_load(dir, be, &opt, &m) == PL_OK, "load: %s", pl_last_error());
    struct pl_bert_state *st;
    ck_assert_int_eq(pl_bert_state_create(m, &st), PL_OK);
    int hsz = pl_bert_get_config(m)->hidden;
    double worst = 0;
    json_t *cases = json_object_get(man, "cases"), *c;
    size_t ci;
    json_array_foreach(cases, ci, c) {
        int b = (int)json_integer_value(json_object_get(c, "batch"));
        int s = (int)json_integer_value(json_object_get(c, "seq"));
        size_t n;
        int32_t *ids = read_file(dir, json_string_value(json_object_get(c, "ids")), &n);
        int32_t *mask = read_file(dir, json_string_value(json_object_get(c, "mask")), &n);
        int32_t *tt = read_file(dir, json_string_value(json_object_get(c, "tt")), &n);
        float *want = read_file(dir, json_string_value(json_object_get(c, "hidden")), &n);
        ck_assert_int_eq(n, (size_t)b * s * hsz * 4);
        float *got = pl_malloc(n);
        int64_t hn = pl_bert_head_size(m, b, s);
        float *got_head = hn ? pl_malloc((size_t)hn * 4) : NULL, *want_head = NULL;
        if (json_object_get(c, "head")) {
            size_t hb;
            want_head = read_file(dir, json_string_value(json_object_get(c, "head")), &hb);
            ck_assert_int_eq(hb, (size_t)hn * 4);
        }
        ck_assert_msg(pl_bert_forward(st, b, s, ids, tt, mask, got, got_head) == PL_OK, "forward: %s",
                      pl_last_error());
        for (int pass = 0; pass < 2; pass++) {
            const float *g = pass ? got_head : got, *w = pass ? want_head : want;
            size_t cnt = pass ? (size_t)hn : n / 4;
            if (!g || !w) continue;
            double md = 0, dot = 0, ng = 0, nw = 0;
            for (size_t i = 0; i < cnt; i++) {
                ck_assert_msg(isfinite(g[i]), "%s case %zu: non-finite output", dir, ci);
                md = fmax(md, fabs((double)g[i] - w[i]));
                dot += (double)g[i] * w[i];
                ng += (double)g[i] * g[i];
                nw += (double)w[i] * w[i];
            }
            double cosv = dot / sqrt(ng * nw + 1e-30);
            if (tol > 0)
                ck_assert_msg(md <= tol, "%s %s case %zu (%dx%d) %s: max |diff| %g > %g", dir, backend, ci,
                              b, s, pass ? "head" : "hidden", md, tol);
            else
                ck_assert_msg(cosv >= -tol, "%s %s case %zu (%dx%d) %s: cosine %.6f < %g", dir, precision,
                              ci, b, s, pass ? "head" : "hidden", cosv, -tol);
            if (!pass) worst = fmax(worst, md);
        }
        pl_free(ids);
        pl_free(mask);
        pl_free(tt);
        pl_free(want);
        pl_free(got);
        pl_free(got_head);
        pl_free(want_head);
    }
    pl_bert_state_destroy(st);
    pl_bert_destroy(m);
    pl_backend_destroy(be);
    json_decref(man);
    return worst;
}

static void parity(const char *name) {
    use_ref(name);
    double w = check_dir(tmpdir, "cpu", NULL, 1e-4);
    fprintf(stderr, "bert parity [%s]: worst max |diff| %.3g\n", name, w);
}

START_TEST(test_bert_seq_cls) { parity("bert_seq_cls"); }
END_TEST
START_TEST(test_bert_long) { parity("bert_long"); }
END_TEST
START_TEST(test_bert_mlm_tanh_gelu) { parity("bert_mlm_tanh_gelu"); }
END_TEST
START_TEST(test_bert_token_cls) { parity("bert_token_cls"); }
END_TEST
START_TEST(test_roberta) { parity("roberta"); }
END_TEST
START_TEST(test_roberta_cls_mlm) {
    parity("roberta_seq_cls");
    parity("roberta_mlm");
}
END_TEST
START_TEST(test_distilbert) {
    parity("distilbert_qa");
    parity("distilbert_seq_cls");
}
END_TEST

START_TEST(test_ref_backend_and_int8) {
    use_ref("int8");
    check_dir(tmpdir, "cpu-ref", NULL, 1e-4);
    check_dir(tmpdir, "cpu", "int8", -0.999);
    check_dir(tmpdir, "cpu-ref", "int8", -0.999);
    check_dir(tmpdir, "cpu", "f16", -0.999);
    /* bf16: the AVX-512 BF16 GEMM where the CPU has it, and the bf16 weights widened into
     * the f32 GEMM (the AVX2 family) and in the reference */
    check_dir(tmpdir, "cpu", "bf16", -0.9999);
    setenv("PARLEY_CPU_KERNELS", "avx2", 1);
    check_dir(tmpdir, "cpu", "bf16", -0.9999);
    /* int8 in the AVX2 families: vpmaddwd (also AVX-512 without VNNI's), and AVX-VNNI's
     * vpdpbusd where the CPU has it */
    check_dir(tmpdir, "cpu", "int8", -0.999);
    setenv("PARLEY_CPU_KERNELS", "avx2vnni", 1);
    check_dir(tmpdir, "cpu", "int8", -0.999);
    setenv("PARLEY_CPU_KERNELS", "avx512novnni", 1);
    check_dir(tmpdir, "cpu", "int8", -0.999);
    unsetenv("PARLEY_CPU_KERNELS");
    check_dir(tmpdir, "cpu-ref", "bf16", -0.9999);
}
END_TEST

START_TEST(test_no_alloc_after_warmup) {
    use_ref("warmup");
    struct pl_backend *be;
    ck_assert_int_eq(pl_backend_create("cpu", &be), PL_OK);
    static const char *const precs[] = {"f32", "int8", "bf16"};
    for (int prec = 0; prec < 3; prec++) {
        struct pl_bert_options opt = {.precision = precs[prec], .max_batch = 4, .max_seq = 64};
        struct pl_bert *m;
        ck_assert_int_eq(pl_bert_load(tmpdir, be, &opt, &m), PL_OK);
        struct pl_bert_state *st;
        ck_assert_int_eq(pl_bert_state_create(m, &st), PL_OK);
        int32_t ids[4 * 64];
        for (int i = 0; i < 4 * 64; i++) ids[i] = 2 + i % 100;
        float *out = pl_malloc(sizeof(float) * 4 * 64 * 64);
        ck_assert_int_eq(pl_bert_forward(st, 4, 64, ids, NULL, NULL, out, NULL), PL_OK); /* warm-up */
        struct pl_alloc_stats a, b;
        pl_alloc_stats(&a);
        for (int r = 0; r < 3; r++) {
            ck_assert_int_eq(pl_bert_forward(st, 4, 64, ids, NULL, NULL, out, NULL), PL_OK);
            ck_assert_int_eq(pl_bert_forward(st, 2, 17, ids, NULL, NULL, out, NULL), PL_OK);
        }
        pl_alloc_stats(&b);
        ck_assert_int_eq(b.total_allocs, a.total_allocs);
        /* Bad requests are errors, not crashes. */
        ck_assert_int_eq(pl_bert_forward(st, 5, 64, ids, NULL, NULL, out, NULL), PL_E_INVALID_ARG);
        ck_assert_int_eq(pl_bert_forward(st, 1, 65, ids, NULL, NULL, out, NULL), PL_E_INVALID_ARG);
        ids[3] = 100000;
        ck_assert_int_eq(pl_bert_forward(st, 1, 8, ids, NULL, NULL, out, NULL), PL_E_INVALID_ARG);
        ids[3] = 5;
        pl_free(out);
        pl_bert_state_destroy(st);
        pl_bert_destroy(m);
    }
    pl_backend_destroy(be);
}
END_TEST

/* pl_bert_heads on a BERT sequence classifier's weights: read through the pooler they are
 * the model's own head (the same ops: equal bit for bit); on the [CLS] row and on every
 * token they are W h + b of the hidden states (within 1e-4 of a double-precision product). */
START_TEST(test_heads) {
    use_ref("warmup");
    struct pl_backend *be;
    ck_assert_int_eq(pl_backend_create("cpu", &be), PL_OK);
    struct pl_bert_options opt = {.max_batch = 4, .max_seq = 32};
    struct pl_bert *m;
    ck_assert_int_eq(pl_bert_load(tmpdir, be, &opt, &m), PL_OK);
    const struct pl_bert_config *c = pl_bert_get_config(m);
    int nl = c->n_labels, H = c->hidden, B = 3, S = 9;
    struct pl_bert_head_spec specs[3] = {{"classifier", PL_BERT_HEAD_IN_POOLER, nl},
                                         {"classifier", PL_BERT_HEAD_IN_CLS, nl},
                                         {"classifier", PL_BERT_HEAD_IN_TOKENS, nl}};
    struct pl_bert_heads *h = NULL;
    ck_assert_msg(pl_bert_heads_create(m, specs, 3, &h) == PL_OK, "%s", pl_last_error());
    struct pl_bert_state *st;
    ck_assert_int_eq(pl_bert_state_create(m, &st), PL_OK);
    int32_t ids[3 * 9], mask[3 * 9];
    for (int i = 0; i < B * S; i++) {
        ids[i] = 2 + (i * 37) % 90;
        mask[i] = i % S < S - i / S; /* rows 1 and 2 padded */
    }
    float *hidden = pl_malloc(sizeof(float) * B * S * H), *head = pl_malloc(sizeof(float) * B * nl);
    float *o0 = pl_malloc(sizeof(float) * B * nl), *o1 = pl_malloc(sizeof(float) * B * nl);
    float *o2 = pl_malloc(sizeof(float) * B * S * nl), *outs[3] = {o0, o1, o2};
    ck_assert_int_eq(pl_bert_forward(st, B, S, ids, NULL, mask, hidden, head), PL_OK);
    ck_assert_int_eq(pl_bert_forward_heads(st, h, B, S, ids, NULL, mask, outs), PL_OK);
    ck_assert(memcmp(o0, head, sizeof(float) * B * nl) == 0);
    char path[700];
    snprintf(path, sizeof path, "%s/model.safetensors", tmpdir);
    struct pl_safetensors *sf;
    ck_assert_int_eq(pl_safetensors_open(path, &sf), PL_OK);
    float *w = pl_malloc(sizeof(float) * nl * H), *b = pl_malloc(sizeof(float) * nl);
    pl_st_entry_to_f32(pl_safetensors_find(sf, "classifier.weight"), w);
    pl_st_entry_to_f32(pl_safetensors_find(sf, "classifier.bias"), b);
    double worst = 0;
    for (int r = 0; r < B * S; r++)
        for (int l = 0; l < nl; l++) {
            double want = b[l];
            for (int k = 0; k < H; k++) want += (double)w[l * H + k] * hidden[(size_t)r * H + k];
            worst = fmax(worst, fabs(o2[(size_t)r * nl + l] - want));
            if (r % S == 0) worst = fmax(worst, fabs(o1[(r / S) * nl + l] - want));
        }
    ck_assert_msg(worst <= 1e-4, "heads vs W h + b: %g", worst);
    /* a missing head tensor is a format error naming it; bad specs are refused */
    struct pl_bert_heads *bad = (struct pl_bert_heads *)1;
    specs[1].tensor_prefix = "slot_classifier";
    ck_assert_int_eq(pl_bert_heads_create(m, specs, 2, &bad), PL_E_FORMAT);
    ck_assert_ptr_null(bad);
    ck_assert_msg(strstr(pl_last_error(), "slot_classifier.weight"), "%s", pl_last_error());
    specs[1].n_labels = 0;
    ck_assert_int_eq(pl_bert_heads_create(m, specs, 2, &bad), PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_bert_heads_create(m, specs, 0, &bad), PL_E_INVALID_ARG);
    pl_safetensors_close(sf);
    pl_free(w);
    pl_free(b);
    pl_free(hidden);
    pl_free(head);
    pl_free(o0);
    pl_free(o1);
    pl_free(o2);
    pl_bert_heads_destroy(h);
    pl_bert_state_destroy(st);
    pl_bert_destroy(m);
    pl_backend_destroy(be);
}
END_TEST

START_TEST(test_broken_models) {
    use_ref("broken");
    struct pl_backend *be;
    ck_assert_int_eq(pl_backend_create("cpu", &be), PL_OK);
    struct pl_bert *m = NULL;
    char path[600], cmd[1200];
    /* Drop one tensor: rewrite the file without it using the script's writer. */
    snprintf(cmd, sizeof cmd,
             "cd '%s' && %s -c \"import json,struct;d=open('model.safetensors','rb').read();n=struct.unpack('<Q',d[:8])[0];"
             "h=json.loads(d[8:8+n]);h.pop('bert.encoder.layer.1.output.dense.bias');b=json.dumps(h).encode();"
             "open('model.safetensors','wb').write(struct.pack('<Q',len(b))+b+d[8+n:])\"",
             tmpdir, getenv("PL_PYTHON") ? getenv("PL_PYTHON") : "/usr/bin/python3");
    ck_assert_int_eq(system(cmd), 0);
    ck_assert_int_eq(pl_bert_load(tmpdir, be, NULL, &m), PL_E_FORMAT);
    ck_assert_ptr_null(m);
    ck_assert_msg(strstr(pl_last_error(), "layer.1.output.dense.bias"), "%s", pl_last_error());
    /* Truncated weights file. */
    snprintf(path, sizeof path, "%s/model.safetensors", tmpdir);
    ck_assert_int_eq(truncate(path, 4000), 0);
    ck_assert_int_eq(pl_bert_load(tmpdir, be, NULL, &m), PL_E_FORMAT);
    /* Missing files and a bad config. */
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(pl_bert_load(tmpdir, be, NULL, &m), PL_E_IO);
    snprintf(path, sizeof path, "%s/config.json", tmpdir);
    FILE *f = fopen(path, "w");
    fputs("{\"model_type\":\"bert\",\"hidden_size\":-4}", f);
    fclose(f);
    ck_assert_int_eq(pl_bert_load(tmpdir, be, NULL, &m), PL_E_FORMAT);
    f = fopen(path, "w");
    fputs("{\"model_type\":", f);
    fclose(f);
    ck_assert_int_eq(pl_bert_load(tmpdir, be, NULL, &m), PL_E_IO);
    pl_backend_destroy(be);
}
END_TEST

Suite *pl_bert_suite(void) {
    Suite *s = suite_create("bert");
    TCase *tc = tcase_create("parity");
    tcase_set_timeout(tc, 240);
    tcase_add_unchecked_fixture(tc, refs_make, refs_remove);
    tcase_add_test(tc, test_bert_seq_cls);
    tcase_add_test(tc, test_bert_long);
    tcase_add_test(tc, test_bert_mlm_tanh_gelu);
    tcase_add_test(tc, test_bert_token_cls);
    tcase_add_test(tc, test_roberta);
    tcase_add_test(tc, test_roberta_cls_mlm);
    tcase_add_test(tc, test_distilbert);
    tcase_add_test(tc, test_ref_backend_and_int8);
    tcase_add_test(tc, test_no_alloc_after_warmup);
    tcase_add_test(tc, test_heads);
    tcase_add_test(tc, test_broken_models);
    suite_add_tcase(s, tc);
    return s;
}
