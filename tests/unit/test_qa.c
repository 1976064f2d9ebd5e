/*
 * test_qa.c - parley-qa's knowledge base (services/qa/qa_kb.c) on real SQLite files:
 * paragraphs (blank lines, Markdown headings, long paragraphs cut), BM25 search and its query
 * sanitizing, list, remove, persistence across handles, a second handle seeing a change at
 * once, bad input, and the path rule; and the reader's argument checks.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "qa.h"

static char g_dir[64], g_path[128];

static void setup(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/pl_qakb_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(g_dir));
    snprintf(g_path, sizeof g_path, "%s/sub/kb.sqlite", g_dir); /* the directory is made */
}

static void teardown(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    ck_assert_int_eq(system(cmd), 0);
}

static const char DOC[] = "# Rivers\n"
                          "The Amazon river carries more water than any other river.\n"
                          "\n"
                          "It flows through Brazil, Peru and Colombia.\n"
                          "## Deserts\n"
                          "The Sahara is the largest hot desert.\n";

START_TEST(test_kb_roundtrip) {
    struct pl_qa_kb *kb = NULL;
    ck_assert_int_eq(pl_qa_kb_open(g_path, &kb), PL_OK);
    int64_t id = 0;
    int paras = 0;
    ck_assert_int_eq(pl_qa_kb_add(kb, "geo.md", DOC, strlen(DOC), &id, &paras), PL_OK);
    ck_assert_int_eq(paras, 3); /* "# Rivers" + its line, the blank-line paragraph, "## Deserts" */
    /* a long paragraph without blank lines is cut at whitespace into pieces <= 2000 bytes */
    char *big = pl_malloc(9000);
    for (int i = 0; i < 9000 / 9; i++) memcpy(big + i * 9, "elephant ", 9);
    int64_t id2 = 0;
    ck_assert_int_eq(pl_qa_kb_add(kb, "big.txt", big, 9000, &id2, &paras), PL_OK);
    ck_assert_int_ge(paras, 5);
    pl_free(big);

    struct pl_qa_passage *ps = NULL;
    int n = 0;
    ck_assert_int_eq(pl_qa_kb_search(kb, "Which river carries the most water?", 3, &ps, &n), PL_OK);
    ck_assert_int_ge(n, 1);
    ck_assert_ptr_nonnull(strstr(ps[0].text, "Amazon river"));
    ck_assert_int_eq(ps[0].doc_id, id);
    ck_assert(ps[0].score > 0);
    pl_qa_passages_free(ps, n);
    /* stemming: "deserts" finds "desert"; FTS5 syntax in the question is only words */
    ck_assert_int_eq(pl_qa_kb_search(kb, "\"deserts\" AND (NEAR OR *", 3, &ps, &n), PL_OK);
    ck_assert_int_ge(n, 1);
    ck_assert_ptr_nonnull(strstr(ps[0].text, "Sahara"));
    pl_qa_passages_free(ps, n);
    ck_assert_int_eq(pl_qa_kb_search(kb, "?! ...", 3, &ps, &n), PL_OK); /* no word: nothing */
    ck_assert_int_eq(n, 0);

    /* a second handle (another process would do the same) sees the documents at once */
    struct pl_qa_kb *kb2 = NULL;
    ck_assert_int_eq(pl_qa_kb_open(g_path, &kb2), PL_OK);
    struct pl_qa_kb_doc *docs = NULL;
    ck_assert_int_eq(pl_qa_kb_list(kb2, &docs, &n), PL_OK);
    ck_assert_int_eq(n, 2);
    ck_assert_str_eq(docs[0].name, "geo.md");
    ck_assert_int_eq(docs[0].paragraphs, 3);
    ck_assert_int_eq(docs[0].bytes, (int64_t)strlen(DOC));
    pl_qa_kb_docs_free(docs, n);

    /* remove through one handle, gone through the other */
    ck_assert_int_eq(pl_qa_kb_remove(kb, id), PL_OK);
    ck_assert_int_eq(pl_qa_kb_remove(kb, id), PL_E_NOT_FOUND);
    ck_assert_int_eq(pl_qa_kb_search(kb2, "Amazon river water", 3, &ps, &n), PL_OK);
    for (int i = 0; i < n; i++) ck_assert_ptr_null(strstr(ps[i].text, "Amazon"));
    pl_qa_passages_free(ps, n);

    /* bad input: nothing is added */
    ck_assert_int_eq(pl_qa_kb_add(kb, "bad", "\xff\xfe", 2, NULL, NULL), PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_qa_kb_add(kb, "blank", " \n\n \n", 5, NULL, NULL), PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_qa_kb_add(kb, "", DOC, strlen(DOC), NULL, NULL), PL_E_INVALID_ARG);
    pl_qa_kb_close(kb);
    pl_qa_kb_close(kb2);

    /* persistence: a new handle on the file after both closed */
    ck_assert_int_eq(pl_qa_kb_open(g_path, &kb), PL_OK);
    ck_assert_int_eq(pl_qa_kb_list(kb, &docs, &n), PL_OK);
    ck_assert_int_eq(n, 1);
    ck_assert_str_eq(docs[0].name, "big.txt");
    pl_qa_kb_docs_free(docs, n);
    pl_qa_kb_close(kb);
}
END_TEST

START_TEST(test_kb_errors_and_paths) {
    struct pl_qa_kb *kb = NULL;
    /* not a knowledge base: a file of other bytes */
    char junk[160];
    snprintf(junk, sizeof junk, "%s/junk.sqlite", g_dir);
    FILE *f = fopen(junk, "wb");
    ck_assert_ptr_nonnull(f);
    for (int i = 0; i < 4096; i++) fputc(i * 7, f);
    fclose(f);
    ck_assert_int_ne(pl_qa_kb_open(junk, &kb), PL_OK);
    ck_assert_ptr_null(kb);
    ck_assert_int_eq(pl_qa_kb_open("", &kb), PL_E_INVALID_ARG);
    char buf[256];
    ck_assert_str_eq(pl_qa_kb_path("/x/y.sqlite", buf, sizeof buf), "/x/y.sqlite");
    ck_assert_str_eq(pl_qa_kb_path("none", buf, sizeof buf), "");
    setenv("PARLEY_STATE_DIR", "/var/parley", 1);
    ck_assert_str_eq(pl_qa_kb_path("", buf, sizeof buf), "/var/parley/kb.sqlite");
    unsetenv("PARLEY_STATE_DIR");
    ck_assert_str_eq(pl_qa_kb_path(NULL, buf, sizeof buf), "state/kb.sqlite");
}
END_TEST

/* The reader refuses what it cannot read before touching a model. */
START_TEST(test_read_args) {
    struct pl_qa_answers a;
    struct pl_qa_read_opts o = {.n_best = 1, .max_answer_tokens = 30, .max_windows = 100};
    ck_assert_int_eq(pl_qa_read(NULL, "q", 1, NULL, NULL, 0, &o, 0, &a), PL_E_INVALID_ARG);
    ck_assert_int_eq(a.n, 0);
    pl_qa_answers_deinit(&a);
}
END_TEST

/* The verifier's score of q over passage with only feature f weighted (1.0, bias 0). */
static float vfeature(int f, const char *q, const char *passage, float margin) {
    char *fw[] = {"when", "did", "the", "who", "what", "of"}, *neg[] = {"not", "never"};
    struct pl_qa_verifier v = {.on = true, .function_words = fw, .n_function_words = 6,
                               .negation_words = neg, .n_negation_words = 2, .threshold = 0.5f};
    v.weight[f] = 1.0f;
    return pl_qa_verify(&v, q, strlen(q), passage, strlen(passage), margin);
}

/* The features as train/qa/verifier.py defines them (train/qa/test_qa.py checks the same
 * cases there). */
START_TEST(test_verifier_features) {
    const char *q = "When did Paris host the 1924 Games?", *p = "PARIS hosted them in 1900.";
    ck_assert_float_eq(vfeature(PL_QA_VF_MARGIN, q, p, 2.5f), 2.5f);
    ck_assert_float_eq(vfeature(PL_QA_VF_MISSING_NAMES, q, p, 0), 2.0f); /* 1924, games */
    ck_assert_float_eq(vfeature(PL_QA_VF_MISSING_WORDS, q, p, 0), 3.0f); /* host, 1924, games */
    ck_assert_float_eq(vfeature(PL_QA_VF_WORDS_IN_CONTEXT, q, p, 0), 0.25f);
    ck_assert_float_eq(vfeature(PL_QA_VF_NEGATION, q, p, 0), 0.0f);
    ck_assert_float_eq(vfeature(PL_QA_VF_NEGATION, "Who didn't win?", p, 0), 1.0f);
    ck_assert_float_eq(vfeature(PL_QA_VF_NEGATION, "Who DIDN\xE2\x80\x99T win?", p, 0), 1.0f);
    ck_assert_float_eq(vfeature(PL_QA_VF_NEGATION, "Who was Never there?", p, 0), 1.0f);
    ck_assert_float_eq(vfeature(PL_QA_VF_NEGATION, "Who knotted it?", p, 0), 0.0f);
    /* the first word is no name; repeated words count once; non-ASCII letters are word
     * characters, general punctuation (the em dash) separates */
    ck_assert_float_eq(vfeature(PL_QA_VF_MISSING_NAMES, "Where is ZÜRICH, Oslo or Oslo, Bern?",
                                "Bern\xE2\x80\x94Zürich", 0), 2.0f); /* ZÜRICH, Oslo */
    ck_assert_float_eq(vfeature(PL_QA_VF_MISSING_WORDS, "Zürich or café?",
                                "a caf\xC3\xA9\xE2\x80\x94" "bar in zürich", 0), 1.0f); /* "or" */
    /* only the first PL_QA_VERIFY_WORDS words count: a name past them is not missing, and a
     * megabyte of question costs one bounded pass */
    char *longq = malloc(1 << 20);
    size_t n = 0;
    for (int i = 0; n + 16 < (1 << 20); i++) /* word 100 is a name */
        n += (size_t)(i == 100 ? sprintf(longq + n, "Oslo ") : sprintf(longq + n, "w%d ", i));
    ck_assert_float_eq(vfeature(PL_QA_VF_MISSING_WORDS, longq, p, 0), (float)PL_QA_VERIFY_WORDS);
    ck_assert_float_eq(vfeature(PL_QA_VF_MISSING_NAMES, longq, p, 0), 0.0f);
    free(longq);
    /* a question without content words */
    ck_assert_float_eq(vfeature(PL_QA_VF_WORDS_IN_CONTEXT, "Who did what?", p, 0), 0.0f);
    /* the score: bias + weights . features, against the threshold */
    char *none[] = {"x"};
    struct pl_qa_verifier v = {.on = true, .function_words = none, .n_function_words = 1,
                               .negation_words = none, .n_negation_words = 1, .bias = -1.0f};
    v.weight[PL_QA_VF_MARGIN] = 0.5f;
    v.weight[PL_QA_VF_MISSING_WORDS] = 2.0f;
    ck_assert_float_eq_tol(pl_qa_verify(&v, "Is snow white", 13, "snow is cold", 12, 4.0f),
                           -1.0f + 0.5f * 4.0f + 2.0f * 1.0f, 1e-6f);
}
END_TEST

Suite *pl_qa_suite(void) {
    Suite *s = suite_create("qa");
    TCase *tc = tcase_create("kb");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_kb_roundtrip);
    tcase_add_test(tc, test_kb_errors_and_paths);
    tcase_add_test(tc, test_verifier_features);
    tcase_add_test(tc, test_read_args);
    suite_add_tcase(s, tc);
    return s;
}
