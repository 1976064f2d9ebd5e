/*
 * qa.h - parley-qa: extractive question answering (Riva NaturalQuery) over a given context or
 * over the passages of a knowledge base in SQLite.
 *
 * Layers, one file each:
 *   qa_read.c     the reader: a question and passages -> [CLS] question [SEP] chunk [SEP]
 *                 windows (BERT run_squad's doc stride) -> start/end logits through the NLU
 *                 model code (services/nlu: batching, int8 variants) -> the best spans of all
 *                 windows with their byte offsets in the passages, n-best, "no answer".
 *   qa_kb.c       the knowledge base: documents cut into paragraphs in an SQLite file with an
 *                 FTS5 index (BM25); add, list, remove; search.
 *   qa_service.c  the model repository (every question_answering model under model_dir) and
 *                 the NaturalQuery handler: the request's context, or the knowledge base's
 *                 top passages when the context is empty.
 *
 * Thread-safety: the service, its models and its knowledge base handle may be used from any
 * number of threads (the knowledge base serializes its statements).
 */
#ifndef PL_QA_H
#define PL_QA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nlu.h"
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the reader (qa_read.c) ------------------------------------------------------------- */

struct pl_qa_read_opts {
    int n_best;            /* answers to return (1..100) */
    int max_answer_tokens; /* longest span in tokens (30) */
    int max_windows;       /* windows over all passages of one question (INVALID_ARGUMENT past) */
    bool allow_null;       /* the model was trained with "no answer" ([CLS] span) */
    float null_threshold;  /* answer "no answer" when null score - best span score > this */
    const struct pl_qa_verifier *verifier; /* set: its score decides instead (pl_qa_verify) */
};

/* One answer: a span of passage `passage`, or no answer (text "", passage -1). */
struct pl_qa_answer {
    char *text;                 /* NUL-terminated copy (owned) */
    int passage;                /* index into the passages given; -1 = no answer */
    int32_t byte_start, byte_end; /* [start, end) in that passage */
    float logit;                /* start + end logit (null: the [CLS] pair) */
    float prob;                 /* softmax over the candidates kept, "no answer" included */
};

struct pl_qa_answers {
    int n;
    struct pl_qa_answer *a; /* [n], best first (owned) */
};
void pl_qa_answers_deinit(struct pl_qa_answers *r);

/*
 * Read passages[0..n_passages) (UTF-8, lengths lens) for the question with model m (a
 * PL_NLU_TASK_QA model): every passage is windowed ([CLS] question [SEP] chunk [SEP], the
 * question cut to m->max_query tokens, chunks every m->stride tokens), every window runs
 * through the model's batcher, and the best spans over all windows of all passages win: start
 * and end in the passage's tokens, start where its window gives it the most context, end >=
 * start, at most max_answer_tokens long; the same text span is kept once. With allow_null,
 * "no answer" (the smallest [CLS] start + end logit over the windows) is one of the
 * candidates and comes first when it beats the best span by more than null_threshold, or,
 * with a verifier, when the verifier's score says so.
 * Errors: PL_E_INVALID_ARG (invalid UTF-8, a question with no tokens, more than max_windows
 * windows), and those of pl_nlu_model_forward_windows. OUT: *out (caller owns;
 * pl_qa_answers_deinit). Thread-safe.
 */
pl_status pl_qa_read(struct pl_nlu_model *m, const char *question, size_t qlen,
                     const char *const *passages, const size_t *lens, int n_passages,
                     const struct pl_qa_read_opts *o, int64_t deadline_us,
                     struct pl_qa_answers *out);

#define PL_QA_VERIFY_WORDS 64 /* question words the verifier reads (train/qa/verifier.py too) */

/*
 * The no-answer verifier's score (qa_verify.c) of a question whose best span lies in passage,
 * with margin = null score - that span's score: "no answer" when it is above v->threshold.
 */
float pl_qa_verify(const struct pl_qa_verifier *v, const char *question, size_t qlen,
                   const char *passage, size_t plen, float margin);

/* ---- the knowledge base (qa_kb.c) -------------------------------------------------------- */

struct pl_qa_kb;

/* The knowledge base path a setting means: path itself; "" = $PARLEY_STATE_DIR/kb.sqlite, else
 * state/kb.sqlite (`parley up` sets PARLEY_STATE_DIR for its services); "none" = no knowledge
 * base (buf gets ""). Returns buf. */
const char *pl_qa_kb_path(const char *path, char *buf, size_t n);

/* Open (creating it, its directory and its tables if needed) the knowledge base file at path,
 * WAL mode. An existing knowledge base whose file or directory cannot be written opens for
 * reading only (pl_qa_kb_read_only): searches and lists work, add and remove fail with
 * PL_E_UNAVAILABLE "knowledge base PATH is read-only (why) ...".
 * Errors: PL_E_IO (cannot open or create), PL_E_FORMAT (not a knowledge base), PL_E_NOMEM.
 * OUT: *out (caller owns; pl_qa_kb_close). */
pl_status pl_qa_kb_open(const char *path, struct pl_qa_kb **out);
void pl_qa_kb_close(struct pl_qa_kb *kb); /* NULL is a no-op */
/* NULL when kb is writable; else why it was opened for reading only (borrowed from kb). */
const char *pl_qa_kb_read_only(const struct pl_qa_kb *kb);

/*
 * Add a document: text (UTF-8, plain or Markdown) cut into paragraphs at blank lines and before
 * Markdown headings, paragraphs longer than max_paragraph bytes cut at whitespace; each
 * paragraph becomes one searchable passage. One transaction: durable and visible to every
 * reader of the file when this returns. OUT: *id (opt), *n_paragraphs (opt).
 * Errors: PL_E_INVALID_ARG (empty or invalid UTF-8 text, empty name), PL_E_UNAVAILABLE (the
 * knowledge base is read-only), PL_E_EXHAUSTED ("disk full": the file system refused to grow
 * the file; nothing of the document is stored), PL_E_IO, PL_E_NOMEM.
 */
pl_status pl_qa_kb_add(struct pl_qa_kb *kb, const char *name, const char *text, size_t len,
                       int64_t *id, int *n_paragraphs);

/* Remove document id and its passages. Errors: PL_E_NOT_FOUND, PL_E_UNAVAILABLE (read-only),
 * PL_E_EXHAUSTED (disk full), PL_E_IO. */
pl_status pl_qa_kb_remove(struct pl_qa_kb *kb, int64_t id);

struct pl_qa_kb_doc {
    int64_t id;
    char *name;       /* owned */
    int64_t added_ms; /* Unix epoch ms */
    int64_t bytes;
    int paragraphs;
};
/* Every document, oldest first. OUT: *docs (caller owns; pl_qa_kb_docs_free), *n. */
pl_status pl_qa_kb_list(struct pl_qa_kb *kb, struct pl_qa_kb_doc **docs, int *n);
void pl_qa_kb_docs_free(struct pl_qa_kb_doc *docs, int n);

struct pl_qa_passage {
    int64_t doc_id;
    int paragraph;
    char *text;  /* owned */
    size_t len;
    double score; /* BM25, larger is better */
};
/* The k passages that best match the query's words (BM25 over FTS5; words are matched with
 * OR, stemmed). A query with no word gives none. OUT: *out (caller owns;
 * pl_qa_passages_free), *n (0..k). Errors: PL_E_INVALID_ARG, PL_E_IO, PL_E_NOMEM. */
pl_status pl_qa_kb_search(struct pl_qa_kb *kb, const char *query, int k,
                          struct pl_qa_passage **out, int *n);
void pl_qa_passages_free(struct pl_qa_passage *p, int n);

/* ---- the service (qa_service.c) ------------------------------------------------------------ */

struct pl_qa_service_opts {
    const char *model_dir;        /* every question_answering model under it is loaded, with
                                     the variants its config.json declares ("<dir>-int8") */
    const char *model_name;       /* the one that answers (NaturalQuery has no model field);
                                     NULL or "": the first by name. Not loaded -> NOT_FOUND */
    struct pl_nlu_model_opts model;
    const char *kb_path;          /* knowledge base file ("" = none: an empty context is
                                     INVALID_ARGUMENT) */
    int64_t max_context_bytes;    /* larger context -> RESOURCE_EXHAUSTED (4 MiB) */
    int max_windows;              /* per question (4096) */
    int max_answer_tokens;        /* (30) */
    int kb_passages;              /* passages read per knowledge-base question (5) */
    double kb_weight;             /* how much retrieval counts in the ranking (see qa_service.c) */
};
void pl_qa_service_opts_default(struct pl_qa_service_opts *o);

struct pl_qa_service;
struct pl_worker;
struct pl_model_repo;

/* Load the models and open the knowledge base. OUT: *out (caller owns;
 * pl_qa_service_destroy after the worker). */
pl_status pl_qa_service_create(const struct pl_qa_service_opts *o, struct pl_qa_service **out);
void pl_qa_service_destroy(struct pl_qa_service *s);
/* Models served now. */
int pl_qa_service_n_models(const struct pl_qa_service *s);
/* Register natural_query on w (s borrowed for w's life); SIGHUP reloads the models. */
pl_status pl_qa_service_register(struct pl_qa_service *s, struct pl_worker *w);
struct pl_model_repo *pl_qa_service_repo(struct pl_qa_service *s);

#ifdef __cplusplus
}
#endif
#endif
