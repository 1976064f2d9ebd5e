/*
 * nlu.h - parley-nlu: NLU models (BERT encoder + heads) served with the Riva NLP API.
 *
 * Three layers, one file each:
 *   nlu_post.c     pure pre/post-processing: whitespace words from token offsets, merging
 *                  the logits of overlapping windows, softmax, BIO decoding to spans with
 *                  character offsets, punctuation/capitalization reconstruction of text.
 *   nlu_model.c    one model directory (train/common/export.py format): config.json,
 *                  model.safetensors, vocab; the shared immutable encoder with the heads in
 *                  the engine (engine/models/bert.h, pl_bert_heads: one graph, one backend),
 *                  per-instance states and a dynamic batcher.
 *   nlu_service.c  the model repository (every NLU model under a directory) and the unary
 *                  handlers of the rpcs (snake-case subjects parley.nlu.<rpc>).
 *
 * Model directory format (what train/common/export.py writes):
 *   config.json  Hugging Face BERT keys plus Parley's
 *                  "task":      "joint_intent_slot" | "token_classification" |
 *                               "text_classification" | "punctuation_capitalization"
 *                  "labels":    {"<list>": ["O", "B-city", ...], ...}
 *                  "heads":     {"<head>": {"tensor_prefix": "slot_classifier",
 *                                "input": "pooler" | "cls" | "tokens", "labels": "<list>"}}
 *                  "max_length": tokens per window, [CLS] and [SEP] included
 *                  "tokenizer": {"type": "wordpiece", "vocab": "vocab.txt",
 *                                "do_lower_case": true, "max_input_chars_per_word": 100,
 *                                optional "token_type_ids": case for an uncased vocabulary,
 *                                computed from the original text of each piece's whitespace
 *                                word: "word_starts_upper" (1 when the word starts with an
 *                                upper-case letter, else 0) or "word_case" (the 4 classes of
 *                                pl_nlu_word_case_class; type_vocab_size >= 4); for question
 *                                answering "question_match" (type_vocab_size >= 3: the
 *                                passage's words that are also words of the question get 2)}
 *                  optional "domain" (AnalyzeIntent's domain), "batching":
 *                  {"max_batch_size": N, "max_queue_delay_us": N, "by_length": bool
 *                  (default true: a batch gathers windows of close lengths)}, "precision",
 *                  "variants": {"<v>": {"precision": "int8", "batching": {...}}}: each
 *                  variant is served as a second model "<name>-<v>" from the same files,
 *                  its keys replacing config.json's (see pl_nlu_model_variants).
 *   model.safetensors  bert.* encoder tensors, bert.pooler.dense.* when a head reads the
 *                pooler, and <tensor_prefix>.weight [n_labels, hidden] / .bias [n_labels].
 * Without "heads", a Hugging Face token or sequence classifier (architectures
 * *ForTokenClassification / *ForSequenceClassification with id2label) is read as one head
 * "token" / "label" on tensors "classifier.*".
 *
 * Thread-safety: a loaded model and the service are immutable after creation and may be used
 * from any number of threads; pl_nlu_model_run may be called concurrently (the batcher
 * serializes the forwards).
 */
#ifndef PL_NLU_H
#define PL_NLU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"
#include "wordpiece.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PL_NLU_MAX_HEADS 4

/* ---- post-processing (nlu_post.c) ------------------------------------------------------ */

/* One whitespace-separated word of a text: the model labels it at its first sub-token
 * (the training alignment "first_subtoken_of_each_whitespace_word"). */
struct pl_nlu_word {
    int32_t first_token, last_token; /* token indices (text tokens, no specials) */
    int32_t byte_start, byte_end;    /* [start, end) in the text, from the tokens' offsets */
    int32_t char_start, char_end;    /* same in code points */
};

/*
 * Group the tokens of one text into whitespace words: a token starts a new word when it is
 * the first one or when the bytes between it and the previous token contain whitespace
 * (ASCII space, \t, \n, \r, \v, \f, or a Unicode space separator Zs / U+2028 / U+2029).
 * offs: [n_tok] token offsets into text (in order). OUT: *words (caller owns; pl_free),
 * *n_words (0 and NULL when n_tok is 0). Errors: PL_E_INVALID_ARG (offsets out of the text
 * or out of order), PL_E_NOMEM.
 */
pl_status pl_nlu_words(const char *text, size_t len, const struct pl_token_offset *offs,
                       int32_t n_tok, struct pl_nlu_word **words, int32_t *n_words);

/*
 * Merge per-window token scores into one row per token of the whole text. win_scores[w] holds
 * [windows->windows[w].n x n_labels] floats (one row per window token, specials included).
 * Each text token takes the row of the window that gives it the most context (max_context);
 * a token no window marks takes the first window's row. OUT: out [n_text_tokens x n_labels]
 * and out_offs [n_text_tokens] (caller-provided). PL_E_INVALID_ARG on inconsistent windows.
 */
pl_status pl_nlu_merge_windows(const struct pl_windows *windows, const float *const *win_scores,
                               int n_labels, float *out, struct pl_token_offset *out_offs);

/* In-place softmax of n floats (numerically stable; n >= 1). */
void pl_nlu_softmax(float *x, int n);
/* Index of the largest of n floats (the first on ties). */
int pl_nlu_argmax(const float *x, int n);

/* One labelled span decoded from per-word BIO tags. */
struct pl_nlu_span {
    int32_t first_word, last_word; /* inclusive word range */
    int32_t type_label;            /* the label index the span's type was read from */
    const char *type;              /* type name (borrowed from labels; not NUL-terminated) */
    int32_t type_len;
    float score;                   /* mean probability of the words' tags */
};

/*
 * BIO decoding as conlleval reads tags: "B-X" starts a span of type X; "I-X" continues a span
 * of type X and starts one otherwise; "O" (or "") is outside; a label without a B-/I- prefix
 * (IO scheme, e.g. "PER") behaves like "I-PER". labels: [n_labels] names. word_label/word_score:
 * [n_words] chosen label index and its probability. OUT: *spans (caller owns; pl_free; NULL
 * when none), *n_spans. Errors: PL_E_INVALID_ARG (label index out of range), PL_E_NOMEM.
 */
/*
 * The BIO transitions of a label set, built once per head: "I-X" may only follow "B-X" or
 * "I-X" and never come first; labels without an "I-" prefix may go anywhere.
 * OUT: *allowed [(n_labels + 1) x n_labels] (caller owns; pl_free): row i < n_labels says
 * which labels may follow label i, row n_labels which may come first; NULL when no label is an
 * "I-" tag (not a BIO set). Errors: PL_E_INVALID_ARG, PL_E_NOMEM.
 */
pl_status pl_nlu_bio_transitions(const char *const *labels, int n_labels, uint8_t **allowed);
/*
 * The best label sequence under `allowed` (from pl_nlu_bio_transitions; NULL = every
 * sequence, i.e. each word's argmax): Viterbi over log probabilities. rows: [n_words]
 * pointers to n_labels probabilities each. OUT: out[n_words] label indices.
 * Errors: PL_E_INVALID_ARG (NULL or bad sizes), PL_E_NOMEM.
 */
pl_status pl_nlu_bio_viterbi(const uint8_t *allowed, int n_labels, const float *const *rows,
                             int32_t n_words, int32_t *out);

pl_status pl_nlu_bio_decode(const char *const *labels, int n_labels, const int32_t *word_label,
                            const float *word_score, int32_t n_words, struct pl_nlu_span **spans,
                            int32_t *n_spans);

/* What a capitalization label asks for (see pl_nlu_case_of_label). */
enum pl_nlu_case { PL_NLU_CASE_LOWER = 0, PL_NLU_CASE_CAPITALIZE = 1, PL_NLU_CASE_UPPER = 2 };

/* Capitalization label name -> case: "UPPER"/"ALL_CAPS"/"A" -> UPPER; "Capitalized"/"C"/"U"
 * (NeMo's "upper first letter") -> CAPITALIZE; anything else ("lower", "O", "l") -> LOWER. */
enum pl_nlu_case pl_nlu_case_of_label(const char *label);
/* Punctuation label name -> the mark to append ("" for "O", "none" or ""), else the label. */
const char *pl_nlu_mark_of_label(const char *label);

/* Whether the whitespace-separated word of text[0..len) that holds byte `pos` starts with an
 * upper-case letter (Unicode category Lu): the token type a model trained with
 * "token_type_ids": "word_starts_upper" sees for every piece of that word (1, else 0). */
bool pl_nlu_word_starts_upper(const char *text, size_t len, size_t pos);

/* The case class of the whitespace-separated word of text[0..len) that holds byte `pos`: the
 * token type a model trained with "token_type_ids": "word_case" (type_vocab_size >= 4) sees for
 * every piece of that word (Unicode general categories of the word's characters):
 *   0  lower case, or no letter or number at all ("lives", "-", "")
 *   1  Title: the first letter or number is upper case (Lu) and the word has a lower-case
 *      letter (Ll) or only one letter ("John", "(Reuters)", "McDonald", "I")
 *   2  ALL-CAPS: the first letter or number is Lu, no Ll, two letters or more ("EU", "U.S.")
 *   3  digits or mixed: otherwise, when the word holds a decimal digit (Nd) or an Lu ("1996",
 *      "iPhone", "0-1")
 * 0 when text is NULL or pos is out of range. train/nlu/ner_conll2003.py word_case_class is the
 * same rule. */
int pl_nlu_word_case_class(const char *text, size_t len, size_t pos);

/*
 * The text a punctuation model reads: a copy of text[0..len) in which the characters at either
 * end of every whitespace-separated word that are not word characters (letters, marks, numbers:
 * Unicode L*, M*, N*) are replaced by spaces, one per byte, so that every byte offset stays that
 * of text. "(stylized" "LOOΠΔ," "$103" "''Girl" are read as "stylized" "LOOΠΔ" "103" "Girl",
 * the words the model was trained on (its labels come from text stripped the same way); inner
 * marks stay ("A.M", "12:45", "don't"), a word of punctuation only becomes spaces. A text
 * without any word character is copied unchanged. OUT: *out (len bytes and a NUL; caller owns;
 * pl_free). Errors: PL_E_NOMEM.
 */
pl_status pl_nlu_punct_model_text(const char *text, size_t len, char **out);

/*
 * Rebuild a text with the case and following mark the model gave each word (words[i] spans a
 * word of text, as read in pl_nlu_punct_model_text's copy): everything between words (whitespace,
 * the punctuation and symbols typed around a word) is copied as it is, and
 *  - the case: a word typed with punctuation or symbols at either end ("(stylized", "lit.",
 *    "$103") or with an upper-case letter (Lu, Lt) is kept as typed, the latter unless the text
 *    has no lower-case letter at all (all-capitals input, read as uncased); any other word
 *    takes cases[i]: UPPER raises every letter, CAPITALIZE the first one and lowers the rest,
 *    LOWER lowers every letter (a change only in all-capitals input);
 *    case maps per code point (Unicode, utf8proc);
 *  - the mark: marks[i] (NUL-terminated; "" = none) is appended only when the typed word
 *    ends with the word: followed by whitespace or the end of the text (not by typed
 *    punctuation such as the "." of "A.M." or the "," of "LOOΠΔ,") and ending in a word
 *    character.
 * OUT: *out (NUL-terminated; caller owns; pl_free).
 * Errors: PL_E_INVALID_ARG (words outside the text), PL_E_NOMEM.
 */
pl_status pl_nlu_punct_rebuild(const char *text, size_t len, const struct pl_nlu_word *words,
                               int32_t n_words, const enum pl_nlu_case *cases,
                               const char *const *marks, char **out);

/* ---- models (nlu_model.c) ----------------------------------------------------------------- */

enum pl_nlu_task {
    PL_NLU_TASK_INTENT_SLOT = 0, /* "joint_intent_slot": heads intent (pooled) + slot (tokens) */
    PL_NLU_TASK_TOKEN_CLS = 1,   /* "token_classification" (NER): one token head */
    PL_NLU_TASK_TEXT_CLS = 2,    /* "text_classification": one pooled head */
    PL_NLU_TASK_PUNCT = 3,       /* "punctuation_capitalization": punct (+ capit) token heads */
    PL_NLU_TASK_QA = 4,          /* "question_answering": one token head "span" of two labels
                                    (start, end logits) over [CLS] question [SEP] context [SEP]
                                    windows; served by parley-qa, not parley-nlu */
    PL_NLU_TASK_COUNT
};
/* "joint_intent_slot", ...; static. */
const char *pl_nlu_task_name(enum pl_nlu_task t);

struct pl_nlu_head {
    char *name;       /* "intent", "slot", "token", "punct", "capit", ... */
    bool tokens;      /* true: one row per token; false: one row per text */
    bool pooler;      /* pooled heads: through bert.pooler (tanh(W h_cls + b)); false: raw h_cls */
    bool last_subtoken; /* token heads: a word's tag is read at its last sub-token (config
                           "alignment" naming "last"), else at its first */
    int n_labels;
    char **labels;    /* [n_labels] */
    uint8_t *bio_next; /* BIO heads: pl_nlu_bio_transitions of the labels; NULL otherwise */
    char *tensor_prefix; /* its weights in model.safetensors (engine pl_bert_head_spec) */
};

struct pl_nlu_model_opts {
    const char *backend;        /* engine backend ("cpu"; NULL = "cpu") */
    int threads;                /* CPU backend threads (0 = backend default) */
    const char *precision;      /* NULL or "" = config.json's */
    int max_batch_size;         /* 0 = config.json's batching.max_batch_size, else 8 */
    int64_t max_queue_delay_us; /* < 0 = config.json's batching.max_queue_delay_us, else 0 */
    struct pl_metrics *metrics; /* optional: batch metrics (borrowed) */
    int instances;              /* forward instances, each its own backend, encoder state and
                                   batcher thread, so batches run in parallel (0 = 1) */
    const char *variant;        /* NULL: the model as config.json states it; else the key of
                                   config.json's "variants" to load (its "precision" wins over
                                   the precision above; its "batching" counts as config.json's) */
};
#define PL_NLU_MODEL_OPTS_INIT {NULL, 0, NULL, 0, -1, NULL, 0, NULL}

/* tokenizer.token_type_ids of config.json: how the token type ids are computed */
enum pl_nlu_case_types {
    PL_NLU_TYPES_ZERO = 0,         /* absent: all 0 */
    PL_NLU_TYPES_STARTS_UPPER = 1, /* "word_starts_upper": pl_nlu_word_starts_upper */
    PL_NLU_TYPES_WORD_CASE = 2,    /* "word_case": pl_nlu_word_case_class */
    PL_NLU_TYPES_QUESTION_MATCH = 3, /* "question_match" (question answering only): passage
                                        words that are also question words get type 2, the
                                        other passage tokens 1 (pl_qa_read) */
};

/* QA: the no-answer verifier (config "no_answer_verifier", written by train/qa/verifier.py):
 * a linear score of the reader's margin and lexical signals of the question against the
 * passage; "no answer" when it is above threshold (services/qa/qa_verify.c computes it). */
enum pl_qa_vfeature {
    PL_QA_VF_MARGIN,           /* "null_minus_span": null score - best span score */
    PL_QA_VF_NEGATION,         /* "negation": a negation word or "n't" in the question */
    PL_QA_VF_MISSING_NAMES,    /* "missing_names": the question's names absent from the passage */
    PL_QA_VF_MISSING_WORDS,    /* "missing_words": its content words absent from the passage */
    PL_QA_VF_WORDS_IN_CONTEXT, /* "words_in_context": the share of its content words present */
    PL_QA_VF_COUNT
};
extern const char *const pl_qa_vfeature_names[PL_QA_VF_COUNT];

struct pl_qa_verifier {
    bool on;
    float weight[PL_QA_VF_COUNT]; /* 0 for a feature the config leaves out */
    float bias, threshold;
    char **function_words, **negation_words; /* lower case */
    int n_function_words, n_negation_words;
};

struct pl_nlu_model {
    char *name;          /* directory name (variants: "<dir name>-<variant>"): what model_name
                            selects */
    char *dir;
    char *variant;       /* the variant key, NULL for the model as config.json states it */
    enum pl_nlu_task task;
    char *domain;        /* config "domain", else the name */
    int max_length;      /* tokens per window including [CLS]/[SEP] */
    int stride;          /* window step in text tokens (QA: config "doc_stride", 128) */
    int max_query;       /* QA: question tokens kept (config "max_query_length", 64) */
    bool qa_allow_null;  /* QA: the model says "no answer" (config "no_answer_threshold" set) */
    float qa_null_threshold; /* QA: "no answer" when its score beats the best span's by more */
    struct pl_qa_verifier qa_verifier; /* QA: config "no_answer_verifier" (on: it decides) */
    int hidden;
    int max_batch_size;
    int64_t max_queue_delay_us;
    bool batch_by_length; /* config batching.by_length (default true): the batcher's
                             bucket_by_length */
    int n_heads;
    struct pl_nlu_head heads[PL_NLU_MAX_HEADS];
    int head_main;       /* intent / token / label / punct head index */
    int head_second;     /* slot / capit head index, or -1 */
    int n_instances;     /* forward instances (batcher threads) */
    enum pl_nlu_case_types case_types; /* tokenizer.token_type_ids */
    struct pl_bert *bert; /* instance 0's encoder: its config and precision (borrowed) */
    /* private */
    struct pl_wordpiece *tok;
    struct pl_nlu_instance *inst; /* [n_instances] */
    struct pl_batcher *batcher;
};

/* One forward instance: the batcher thread `instance` owns it alone. */
struct pl_nlu_instance {
    struct pl_backend *be;
    struct pl_bert *bert;
    struct pl_bert_state *state;
    struct pl_bert_heads *heads; /* the model's heads on this instance's encoder */
    int32_t *ids, *mask, *types; /* [max_batch_size x max_length] */
    float *logits[PL_NLU_MAX_HEADS]; /* per head: [max_batch_size x max_length x n_labels]
                                        (token heads) or [max_batch_size x n_labels] */
};

/* Whether dir/config.json names a task of this model code: its "task", or a Hugging Face
 * question-answering checkpoint (architectures *ForQuestionAnswering, no "task"). OUT: *task
 * (on true). Never fails: unreadable or foreign configs are simply not NLU models. */
bool pl_nlu_model_probe(const char *dir, enum pl_nlu_task *task);

/*
 * The variants config.json declares: "variants": {"int8": {"precision": "int8"}, ...}, keys
 * sorted. A variant is the same files served under a second name with some settings replaced:
 * "precision" (f32, int8, f16, bf16) and "batching" are the keys a variant may set. Names are
 * 1-32 of [A-Za-z0-9_.]. OUT: *names (caller owns; pl_nlu_variants_free), *n (0 and NULL
 * when there are none). Errors: PL_E_IO, PL_E_FORMAT ("variants" not an object, a bad name,
 * a variant not an object or with another key, naming it), PL_E_NOMEM.
 */
pl_status pl_nlu_model_variants(const char *dir, char ***names, int *n);
void pl_nlu_variants_free(char **names, int n);

/* Load the model in dir, named name (copied); o->variant selects a declared variant. Errors name the file and the problem:
 * PL_E_IO, PL_E_FORMAT (missing keys, heads or tensors, shapes), PL_E_UNSUPPORTED,
 * PL_E_NOMEM. OUT: *out (caller owns; pl_nlu_model_destroy). */
pl_status pl_nlu_model_load(const char *dir, const char *name, const struct pl_nlu_model_opts *o,
                            struct pl_nlu_model **out);
/* Stops the batcher (queued requests fail CANCELLED) and frees. NULL is a no-op. */
void pl_nlu_model_destroy(struct pl_nlu_model *m);

/* A model repository's load step (runtime/model_repo.h) for one directory: its model, named
 * dir_name, and each variant its config.json declares, named "<dir_name>-<variant>" (the same
 * files with the variant's settings). A variant that cannot be served (a bad "variants" entry,
 * a precision the engine refuses) is logged and left out; the model itself and its other
 * variants are served. Errors: the model's own load errors, PL_E_NOMEM. */
struct pl_model_list;
pl_status pl_nlu_repo_load(const char *dir, const char *dir_name, const struct pl_nlu_model_opts *o,
                           struct pl_model_list *out);

/* Scores of one text: probabilities (softmax) per head. */
struct pl_nlu_result {
    int32_t n_tokens;              /* text tokens (no specials) */
    struct pl_token_offset *offs;  /* [n_tokens] */
    int32_t n_windows;
    float *probs[PL_NLU_MAX_HEADS]; /* token heads: [n_tokens x n_labels];
                                       pooled heads: [n_labels], averaged over windows */
};

/* Limits a run enforces (INVALID_ARGUMENT when exceeded). */
struct pl_nlu_limits {
    int max_windows; /* windows over all texts of one request */
};

/*
 * Run texts[0..n) (UTF-8, lengths lens) through the model: each text is cut into windows of
 * max_length tokens overlapping by max_length - stride, every window is submitted to the
 * batcher, and the windows' scores are merged back (token heads: max-context rule; pooled
 * heads: mean of the windows' probabilities). deadline_us: pl_time_mono_us() deadline, 0 none.
 * Errors: PL_E_INVALID_ARG (invalid UTF-8 "text[i] is not valid UTF-8", a text with no
 * tokens, too many windows), PL_E_TIMEOUT, PL_E_EXHAUSTED (batcher queue full),
 * PL_E_CANCELLED, PL_E_BACKEND, PL_E_NOMEM. OUT: *out [n] (caller owns;
 * pl_nlu_results_destroy(*out, n)).
 */
pl_status pl_nlu_model_run(struct pl_nlu_model *m, const char *const *texts, const size_t *lens,
                           int n, const struct pl_nlu_limits *lim, int64_t deadline_us,
                           struct pl_nlu_result **out);
void pl_nlu_results_destroy(struct pl_nlu_result *r, int n);

/*
 * The raw logits of the model's first head for ready-made windows (e.g. a QA model's
 * [CLS] question [SEP] chunk [SEP] windows from pl_wordpiece_windows): every window goes
 * through the batcher; outs[i] (caller-provided, [encs[i]->n x n_labels] floats of head 0)
 * receives window i's rows. Only for models with a single token head (PL_NLU_TASK_QA, and
 * token_classification). Errors: PL_E_INVALID_ARG (another model, a window longer than
 * max_length), PL_E_TIMEOUT, PL_E_EXHAUSTED, PL_E_CANCELLED, PL_E_BACKEND, PL_E_NOMEM.
 */
pl_status pl_nlu_model_forward_windows(struct pl_nlu_model *m, const struct pl_encoding *const *encs,
                                       int n, int64_t deadline_us, float *const *outs);

/* ---- service (nlu_service.c) ------------------------------------------------------------- */

struct pl_nlu_service_opts {
    const char *model_dir;         /* every subdirectory that is an NLU model is loaded */
    struct pl_nlu_model_opts model;
    int64_t max_text_bytes;        /* per text */
    int max_texts;                 /* texts per request */
    int max_windows;               /* windows per request */
    const char *model_aliases;     /* "alias=model,alias=model": names a request may use for a
                                      loaded model (Riva's default names); NULL or "": none */
    const char *default_models;    /* "model,model": preferred, in order, when a request names
                                      no model; NULL or "": the first of the task by name */
};

struct pl_nlu_service;
struct pl_worker;
struct pl_model_repo;
struct pl_worker_ctx;
struct pl_worker_out;

/* Load every NLU model under o->model_dir (sorted by name). A model that fails to load is
 * logged and skipped; a missing directory leaves the service with no models (every rpc then
 * answers UNAVAILABLE naming the missing task). OUT: *out (caller owns). */
pl_status pl_nlu_service_create(const struct pl_nlu_service_opts *o, struct pl_nlu_service **out);
void pl_nlu_service_destroy(struct pl_nlu_service *s);
/* Models served now, and model i of them (directory-name order). The model is borrowed until
 * the next reload: for start-up reports and tests, not for request paths (they hold the set). */
int pl_nlu_service_n_models(const struct pl_nlu_service *s);
const struct pl_nlu_model *pl_nlu_service_model(const struct pl_nlu_service *s, int i);

/* Register the rpcs (analyze_intent, classify_text, classify_tokens, analyze_entities,
 * punctuate_text, transform_text, get_riva_nlp_config) on w, one handler each; s is borrowed
 * for w's life. pl_worker_call(w, rpc, ...) runs one outside NATS. */
pl_status pl_nlu_service_register(struct pl_nlu_service *s, struct pl_worker *w);

/* The service's model repository (for pl_model_repo_reload; borrowed). Registering on a worker
 * also makes the worker's SIGHUP reload it. */
struct pl_model_repo *pl_nlu_service_repo(struct pl_nlu_service *s);

#ifdef __cplusplus
}
#endif
#endif
