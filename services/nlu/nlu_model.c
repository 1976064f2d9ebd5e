/*
 * nlu_model.c - one NLU model: config.json (export format, see nlu.h), the shared BERT
 * encoder from engine/models/bert.h loaded without its Hugging Face head, the model's heads
 * (intent, slot, token, punctuation, capitalization; pl_bert_heads) run by the engine in the
 * encoder's graph, windows over long texts, and a dynamic batcher whose one instance owns the
 * forward state.
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "backend.h"
#include "log.h"
#include "model_repo.h"
#include "models/bert.h"
#include "nlu.h"
#include "nrpc_batcher.h"
#include "util.h"

/* One window of one text waiting in the batcher. */
struct nlu_job {
    const struct pl_encoding *enc;
    float *out[PL_NLU_MAX_HEADS]; /* token heads: [enc->n x n_labels]; pooled: [n_labels] */
};

static const char *task_names[PL_NLU_TASK_COUNT] = {"joint_intent_slot", "token_classification",
                                                    "text_classification",
                                                    "punctuation_capitalization",
                                                    "question_answering"};

static bool parse_task(const char *s, enum pl_nlu_task *t) {
    if (!s) return false;
    for (int i = 0; i < PL_NLU_TASK_COUNT; i++)
        if (!strcmp(s, task_names[i])) {
            *t = (enum pl_nlu_task)i;
            return true;
        }
    if (!strcmp(s, "sequence_classification") || !strcmp(s, "intent_classification")) {
        *t = PL_NLU_TASK_TEXT_CLS;
        return true;
    }
    if (!strcmp(s, "punctuation") || !strcmp(s, "punct_capit")) {
        *t = PL_NLU_TASK_PUNCT;
        return true;
    }
    if (!strcmp(s, "ner") || !strcmp(s, "named_entity_recognition")) {
        *t = PL_NLU_TASK_TOKEN_CLS;
        return true;
    }
    if (!strcmp(s, "qa") || !strcmp(s, "extractive_qa")) {
        *t = PL_NLU_TASK_QA;
        return true;
    }
    return false;
}

/* The task of a config: its "task", else QA for a Hugging Face *ForQuestionAnswering. */
static bool task_of(json_t *root, enum pl_nlu_task *t) {
    if (parse_task(json_string_value(json_object_get(root, "task")), t)) return true;
    if (json_object_get(root, "task")) return false;
    json_t *arch = json_object_get(root, "architectures");
    for (size_t i = 0; json_is_array(arch) && i < json_array_size(arch); i++) {
        const char *a = json_string_value(json_array_get(arch, i));
        if (a && strstr(a, "ForQuestionAnswering")) {
            *t = PL_NLU_TASK_QA;
            return true;
        }
    }
    return false;
}

bool pl_nlu_model_probe(const char *dir, enum pl_nlu_task *task) {
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/config.json", dir) >= sizeof path) return false;
    json_t *root = json_load_file(path, 0, NULL);
    if (!root) return false;
    enum pl_nlu_task t;
    bool ok = task_of(root, &t);
    json_decref(root);
    if (ok && task) *task = t;
    return ok;
}

/* A non-empty JSON list of strings (what: its name in messages) as an owned array. */
static pl_status read_strings(json_t *arr, const char *path, const char *what, char ***out,
                              int *n) {
    *out = NULL;
    *n = 0;
    if (!json_is_array(arr) || json_array_size(arr) == 0 || json_array_size(arr) > 100000)
        return PL_ERR(PL_E_FORMAT, "%s: %s: a non-empty list of strings expected", path, what);
    size_t k = json_array_size(arr);
    char **l = pl_calloc(k, sizeof *l);
    if (!l) return PL_ERR(PL_E_NOMEM, "%s: %s", path, what);
    for (size_t i = 0; i < k; i++) {
        const char *s = json_string_value(json_array_get(arr, i));
        if (!s || !(l[i] = pl_strdup(s))) {
            for (size_t j = 0; j < i; j++) pl_free(l[j]);
            pl_free(l);
            return s ? PL_ERR(PL_E_NOMEM, "%s: %s", path, what)
                     : PL_ERR(PL_E_FORMAT, "%s: %s[%zu] is not a string", path, what, i);
        }
    }
    *out = l;
    *n = (int)k;
    return PL_OK;
}

/* id2label {"0": "O", "1": "B-PER", ...} as a JSON array, for Hugging Face configs. */
static json_t *id2label_array(json_t *id2label) {
    size_t n = json_object_size(id2label);
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++) {
        char key[32];
        snprintf(key, sizeof key, "%zu", i);
        json_t *v = json_object_get(id2label, key);
        json_array_append(arr, v ? v : json_null());
    }
    return arr;
}

static pl_status load_head(struct pl_nlu_model *m, const char *path, const char *name,
                           json_t *head, json_t *labels_root) {
    if (m->n_heads >= PL_NLU_MAX_HEADS)
        return PL_ERR(PL_E_FORMAT, "%s: more than %d heads", path, PL_NLU_MAX_HEADS);
    struct pl_nlu_head *h = &m->heads[m->n_heads];
    const char *prefix = json_string_value(json_object_get(head, "tensor_prefix"));
    const char *input = json_string_value(json_object_get(head, "input"));
    const char *lname = json_string_value(json_object_get(head, "labels"));
    if (!prefix || !input)
        return PL_ERR(PL_E_FORMAT, "%s: heads.%s needs tensor_prefix and input", path, name);
    if (!strcmp(input, "tokens")) h->tokens = true;
    else if (!strcmp(input, "pooler")) h->pooler = true;
    else if (strcmp(input, "cls") != 0)
        return PL_ERR(PL_E_FORMAT, "%s: heads.%s.input '%s' (tokens, pooler or cls)", path, name,
                      input);
    const char *align = json_string_value(json_object_get(head, "alignment"));
    h->last_subtoken = h->tokens && align && strstr(align, "last") != NULL;
    json_t *larr = json_object_get(labels_root, lname ? lname : name);
    if (!(h->name = pl_strdup(name))) return PL_ERR(PL_E_NOMEM, "%s: head", path);
    m->n_heads++; /* from here on destroy frees the head */
    char what[160];
    snprintf(what, sizeof what, "labels %.60s (head %.60s)", lname ? lname : name, name);
    PL_TRY(read_strings(larr, path, what, &h->labels, &h->n_labels));
    if (h->tokens)
        PL_TRY(pl_nlu_bio_transitions((const char *const *)h->labels, h->n_labels, &h->bio_next));
    /* the weights are the engine's (pl_bert_heads_create, per instance) */
    if (!(h->tensor_prefix = pl_strdup(prefix))) return PL_ERR(PL_E_NOMEM, "%s: head", path);
    return PL_OK;
}

static int find_head(const struct pl_nlu_model *m, const char *name, int tokens) {
    for (int i = 0; i < m->n_heads; i++)
        if ((!name || !strcmp(m->heads[i].name, name)) &&
            (tokens < 0 || m->heads[i].tokens == (tokens == 1)))
            return i;
    return -1;
}

static pl_status run_batch(void *ud, int instance, struct pl_batch_req **reqs, int n);

const char *const pl_qa_vfeature_names[PL_QA_VF_COUNT] = {
    "null_minus_span", "negation", "missing_names", "missing_words", "words_in_context"};

/* config "no_answer_verifier" (train/qa/verifier.py): {"weights": {feature: w}, "bias",
 * "threshold", "function_words": [...], "negation_words": [...]}. */
static pl_status read_verifier(struct pl_qa_verifier *v, json_t *o, const char *path) {
    const char *key;
    json_t *val, *w = json_object_get(o, "weights");
    json_t *b = json_object_get(o, "bias"), *t = json_object_get(o, "threshold");
    if (!json_is_object(o) || !json_is_object(w) || !json_is_number(b) || !json_is_number(t))
        return PL_ERR(PL_E_FORMAT, "%s: no_answer_verifier needs weights {feature: number}, bias "
                                   "and threshold", path);
    json_object_foreach(w, key, val) {
        int f = 0;
        while (f < PL_QA_VF_COUNT && strcmp(pl_qa_vfeature_names[f], key) != 0) f++;
        if (f == PL_QA_VF_COUNT || !json_is_number(val))
            return PL_ERR(PL_E_FORMAT, "%s: no_answer_verifier.weights: '%s' %s (features: "
                                       "null_minus_span, negation, missing_names, missing_words, "
                                       "words_in_context)", path, key,
                          f == PL_QA_VF_COUNT ? "is not a feature" : "needs a number");
        v->weight[f] = (float)json_number_value(val);
    }
    v->bias = (float)json_number_value(b);
    v->threshold = (float)json_number_value(t);
    PL_TRY(read_strings(json_object_get(o, "function_words"), path,
                        "no_answer_verifier.function_words", &v->function_words,
                        &v->n_function_words));
    PL_TRY(read_strings(json_object_get(o, "negation_words"), path,
                        "no_answer_verifier.negation_words", &v->negation_words,
                        &v->n_negation_words));
    v->on = true;
    return PL_OK;
}

/* Read config.json, the tokenizer and the heads; everything but the encoder. */
static pl_status load_config(struct pl_nlu_model *m, const char *dir, json_t *root,
                             const char *path, const char *base_name, char *precision,
                             size_t prec_n) {
    const char *task = json_string_value(json_object_get(root, "task"));
    if (!task_of(root, &m->task))
        return PL_ERR(PL_E_FORMAT, "%s: task '%s' is not an NLU task", path, task ? task : "");
    const char *dom = json_string_value(json_object_get(root, "domain"));
    if (!(m->domain = pl_strdup(dom ? dom : base_name))) return PL_ERR(PL_E_NOMEM, "%s", path);
    json_t *ml = json_object_get(root, "max_length");
    json_t *mp = json_object_get(root, "max_position_embeddings");
    m->max_length = json_is_integer(ml) ? (int)json_integer_value(ml)
                                        : json_is_integer(mp) ? (int)json_integer_value(mp) : 128;
    /* a QA checkpoint without max_length: run_squad's 384-token windows */
    if (m->task == PL_NLU_TASK_QA && !json_is_integer(ml) && m->max_length > 384) m->max_length = 384;
    if (json_is_integer(mp) && m->max_length > json_integer_value(mp))
        return PL_ERR(PL_E_FORMAT, "%s: max_length %d exceeds max_position_embeddings %lld", path,
                      m->max_length, (long long)json_integer_value(mp));
    if (m->max_length < 8 || m->max_length > 4096)
        return PL_ERR(PL_E_FORMAT, "%s: max_length %d out of range [8, 4096]", path, m->max_length);
    /* window step: half a window of text tokens, so every token sees context on both sides;
     * QA: BERT run_squad's doc_stride over the context, the question cut to max_query_length */
    m->stride = (m->max_length - 2) / 2;
    if (m->task == PL_NLU_TASK_QA) {
        json_t *ds = json_object_get(root, "doc_stride"), *mq = json_object_get(root, "max_query_length");
        m->stride = json_is_integer(ds) ? (int)json_integer_value(ds) : 128;
        m->max_query = json_is_integer(mq) ? (int)json_integer_value(mq) : 64;
        json_t *nt = json_object_get(root, "no_answer_threshold");
        m->qa_allow_null = json_is_number(nt);
        m->qa_null_threshold = m->qa_allow_null ? (float)json_number_value(nt) : 0.0f;
        json_t *ver = json_object_get(root, "no_answer_verifier");
        if (ver) PL_TRY(read_verifier(&m->qa_verifier, ver, path));
        if (m->stride < 1 || m->max_query < 1 || m->max_query > m->max_length - 8)
            return PL_ERR(PL_E_FORMAT, "%s: doc_stride %d / max_query_length %d out of range for "
                                       "max_length %d", path, m->stride, m->max_query,
                          m->max_length);
    }
    if (m->stride < 1) m->stride = 1;
    json_t *batching = json_object_get(root, "batching");
    json_t *mb = json_object_get(batching, "max_batch_size");
    json_t *md = json_object_get(batching, "max_queue_delay_us");
    if (m->max_batch_size <= 0) m->max_batch_size = json_is_integer(mb) ? (int)json_integer_value(mb) : 8;
    /* No delay by default: a batch takes what queued while the instances were busy, so a lone
     * request never waits and a loaded model still runs full batches (perf_nlu.sh: a 500 us
     * delay cost c=1 about a millisecond of p50 and bought no throughput at c=64). */
    if (m->max_queue_delay_us < 0)
        m->max_queue_delay_us = json_is_integer(md) ? json_integer_value(md) : 0;
    /* a batch pads to its longest window: by default it gathers windows of close lengths */
    json_t *bl = json_object_get(batching, "by_length");
    if (bl && !json_is_boolean(bl))
        return PL_ERR(PL_E_FORMAT, "%s: batching.by_length must be true or false", path);
    m->batch_by_length = bl ? json_is_true(bl) : true;
    if (m->max_batch_size < 1 || m->max_batch_size > 1024 || m->max_queue_delay_us < 0 ||
        m->max_queue_delay_us > 10000000)
        return PL_ERR(PL_E_FORMAT, "%s: batching out of range (max_batch_size %d, delay %lld us)",
                      path, m->max_batch_size, (long long)m->max_queue_delay_us);
    const char *prec = json_string_value(json_object_get(root, "precision"));
    if (!precision[0] && prec) snprintf(precision, prec_n, "%s", prec);

    /* tokenizer */
    json_t *tk = json_object_get(root, "tokenizer");
    const char *ttype = json_string_value(json_object_get(tk, "type"));
    if (ttype && strcmp(ttype, "wordpiece") != 0)
        return PL_ERR(PL_E_UNSUPPORTED, "%s: tokenizer type '%s' (wordpiece only)", path, ttype);
    const char *vocab = json_string_value(json_object_get(tk, "vocab"));
    char vpath[4096];
    if ((size_t)snprintf(vpath, sizeof vpath, "%s/%s", dir, vocab ? vocab : "vocab.txt") >=
        sizeof vpath)
        return PL_ERR(PL_E_INVALID_ARG, "%s: vocabulary path too long", path);
    if (vocab && (strstr(vocab, "..") || vocab[0] == '/'))
        return PL_ERR(PL_E_FORMAT, "%s: tokenizer.vocab '%s' must stay inside the model directory",
                      path, vocab);
    struct pl_wordpiece_opts wo;
    pl_wordpiece_opts_default(&wo);
    json_t *lc = json_object_get(tk, "do_lower_case");
    json_t *hf_tok = NULL;
    if (!tk) {
        /* a Hugging Face checkpoint: its tokenizer_config.json says cased or uncased */
        char tpath[4096];
        if ((size_t)snprintf(tpath, sizeof tpath, "%s/tokenizer_config.json", dir) < sizeof tpath)
            hf_tok = json_load_file(tpath, 0, NULL);
        lc = json_object_get(hf_tok, "do_lower_case");
    }
    if (json_is_boolean(lc)) wo.do_lower_case = json_is_true(lc);
    json_decref(hf_tok);
    json_t *tt = json_object_get(tk, "token_type_ids");
    if (tt) {
        const char *tts = json_string_value(tt);
        if (tts && !strcmp(tts, "word_starts_upper"))
            m->case_types = PL_NLU_TYPES_STARTS_UPPER;
        else if (tts && !strcmp(tts, "word_case"))
            m->case_types = PL_NLU_TYPES_WORD_CASE;
        else if (tts && !strcmp(tts, "question_match") && m->task == PL_NLU_TASK_QA)
            m->case_types = PL_NLU_TYPES_QUESTION_MATCH;
        else
            return PL_ERR(PL_E_UNSUPPORTED, "%s: tokenizer.token_type_ids must be "
                                            "\"word_starts_upper\" or \"word_case\"%s when present",
                          path, m->task == PL_NLU_TASK_QA ? " or \"question_match\"" : "");
    }
    json_t *mc = json_object_get(tk, "max_input_chars_per_word");
    if (json_is_integer(mc) && json_integer_value(mc) >= 1 && json_integer_value(mc) < (1 << 20))
        wo.max_input_chars_per_word = (int32_t)json_integer_value(mc);
    PL_TRY(pl_wordpiece_create(vpath, &wo, &m->tok));

    /* heads */
    pl_status s = PL_OK;
    json_t *heads = json_object_get(root, "heads");
    json_t *labels = json_object_get(root, "labels");
    json_t *made = NULL;
    if (json_is_object(heads)) {
        const char *key;
        json_t *val;
        json_object_foreach(heads, key, val) {
            s = load_head(m, path, key, val, labels);
            if (s != PL_OK) goto out;
        }
    } else if (m->task == PL_NLU_TASK_QA) {
        /* a Hugging Face question-answering checkpoint: qa_outputs [2, hidden] on the tokens */
        made = json_pack("{s:[s,s]}", "span", "start", "end");
        json_t *hd = json_pack("{s:s,s:s}", "tensor_prefix", "qa_outputs", "input", "tokens");
        if (!made || !hd) {
            json_decref(hd);
            s = PL_ERR(PL_E_NOMEM, "%s", path);
            goto out;
        }
        s = load_head(m, path, "span", hd, made);
        json_decref(hd);
        if (s != PL_OK) goto out;
    } else {
        /* a plain Hugging Face classifier: classifier.* on tokens or the pooler */
        json_t *id2label = json_object_get(root, "id2label");
        bool tok = m->task == PL_NLU_TASK_TOKEN_CLS;
        if (!json_is_object(id2label) || (m->task != PL_NLU_TASK_TOKEN_CLS && m->task != PL_NLU_TASK_TEXT_CLS)) {
            s = PL_ERR(PL_E_FORMAT, "%s: no \"heads\" (and no id2label classifier to read)", path);
            goto out;
        }
        made = json_pack("{s:o}", tok ? "token" : "label", id2label_array(id2label));
        json_t *hd = json_pack("{s:s,s:s}", "tensor_prefix", "classifier", "input",
                               tok ? "tokens" : "pooler");
        if (!made || !hd) {
            json_decref(hd);
            s = PL_ERR(PL_E_NOMEM, "%s", path);
            goto out;
        }
        s = load_head(m, path, tok ? "token" : "label", hd, made);
        json_decref(hd);
        if (s != PL_OK) goto out;
    }
    m->head_second = -1;
    switch (m->task) {
    case PL_NLU_TASK_INTENT_SLOT:
        m->head_main = find_head(m, "intent", 0);
        m->head_second = find_head(m, "slot", 1);
        if (m->head_main < 0 || m->head_second < 0)
            s = PL_ERR(PL_E_FORMAT, "%s: joint_intent_slot needs a pooled head \"intent\" and a "
                                    "token head \"slot\"", path);
        break;
    case PL_NLU_TASK_TOKEN_CLS:
        m->head_main = find_head(m, NULL, 1);
        if (m->head_main < 0) s = PL_ERR(PL_E_FORMAT, "%s: token_classification needs a token head", path);
        break;
    case PL_NLU_TASK_TEXT_CLS:
        m->head_main = find_head(m, NULL, 0);
        if (m->head_main < 0) s = PL_ERR(PL_E_FORMAT, "%s: text_classification needs a pooled head", path);
        break;
    case PL_NLU_TASK_PUNCT:
        m->head_main = find_head(m, "punct", 1);
        m->head_second = find_head(m, "capit", 1);
        if (m->head_main < 0)
            s = PL_ERR(PL_E_FORMAT, "%s: punctuation_capitalization needs a token head \"punct\"", path);
        break;
    case PL_NLU_TASK_QA:
        m->head_main = find_head(m, NULL, 1);
        if (m->head_main < 0 || m->n_heads != 1 || m->heads[m->head_main].n_labels != 2)
            s = PL_ERR(PL_E_FORMAT, "%s: question_answering needs one token head of 2 labels "
                                    "(start, end)", path);
        break;
    default: s = PL_ERR(PL_E_INTERNAL, "task"); break;
    }
out:
    json_decref(made);
    return s;
}

/* ---- variants ---------------------------------------------------------------------------- */

static bool variant_name_ok(const char *v) {
    size_t n = strlen(v);
    if (n < 1 || n > 32) return false;
    for (size_t i = 0; i < n; i++) {
        char c = v[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.'))
            return false;
    }
    return true;
}

/* Check variants.<key> = val: a good name, an object holding only keys a variant may set. */
static pl_status check_variant(const char *path, const char *key, json_t *val) {
    if (!variant_name_ok(key))
        return PL_ERR(PL_E_FORMAT, "%s: variant name '%.64s' (1-32 of A-Z a-z 0-9 _ .)", path, key);
    if (!json_is_object(val))
        return PL_ERR(PL_E_FORMAT, "%s: variants.%s is not an object", path, key);
    const char *k;
    json_t *v;
    json_object_foreach(val, k, v) {
        if (!strcmp(k, "precision")) {
            if (!json_is_string(v))
                return PL_ERR(PL_E_FORMAT, "%s: variants.%s.precision is not a string", path, key);
        } else if (!strcmp(k, "batching")) {
            if (!json_is_object(v))
                return PL_ERR(PL_E_FORMAT, "%s: variants.%s.batching is not an object", path, key);
        } else if (!strcmp(k, "no_answer_threshold")) {
            if (!json_is_number(v))
                return PL_ERR(PL_E_FORMAT, "%s: variants.%s.no_answer_threshold is not a number",
                              path, key);
        } else if (!strcmp(k, "no_answer_verifier")) {
            /* the threshold alone: the features and weights are the reader's */
            if (!json_is_object(v) || json_object_size(v) != 1 ||
                !json_is_number(json_object_get(v, "threshold")))
                return PL_ERR(PL_E_FORMAT, "%s: variants.%s.no_answer_verifier: only "
                                           "{\"threshold\": number}", path, key);
        } else {
            return PL_ERR(PL_E_FORMAT, "%s: variants.%s.%.64s: a variant sets only precision, "
                                       "batching, no_answer_threshold and no_answer_verifier",
                          path, key, k);
        }
    }
    return PL_OK;
}

static int by_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void pl_nlu_variants_free(char **names, int n) {
    for (int i = 0; names && i < n; i++) pl_free(names[i]);
    pl_free(names);
}

pl_status pl_nlu_model_variants(const char *dir, char ***names, int *n) {
    *names = NULL;
    *n = 0;
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/config.json", dir) >= sizeof path)
        return PL_ERR(PL_E_INVALID_ARG, "model directory path too long");
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (!root) return PL_ERR(PL_E_IO, "%s: %s (line %d)", path, jerr.text, jerr.line);
    pl_status st = PL_OK;
    char **v = NULL;
    int k = 0;
    json_t *vars = json_object_get(root, "variants");
    if (!vars) goto fail;
    if (!json_is_object(vars) || json_object_size(vars) > 64) {
        st = PL_ERR(PL_E_FORMAT, "%s: \"variants\" must be an object of at most 64 variants", path);
        goto fail;
    }
    v = pl_calloc(json_object_size(vars) + 1, sizeof *v);
    if (!v) {
        st = PL_ERR(PL_E_NOMEM, "%s: variants", path);
        goto fail;
    }
    const char *key;
    json_t *val;
    json_object_foreach(vars, key, val) {
        PL_TRY_GOTO(st, check_variant(path, key, val));
        if (!(v[k] = pl_strdup(key))) {
            st = PL_ERR(PL_E_NOMEM, "%s: variants", path);
            goto fail;
        }
        k++;
    }
    qsort(v, (size_t)k, sizeof *v, by_str);
fail:
    json_decref(root);
    if (st != PL_OK) {
        pl_nlu_variants_free(v, k);
        return st;
    }
    if (k == 0) {
        pl_free(v);
        v = NULL;
    }
    *names = v;
    *n = k;
    return PL_OK;
}

pl_status pl_nlu_model_load(const char *dir, const char *name, const struct pl_nlu_model_opts *o,
                            struct pl_nlu_model **out) {
    *out = NULL;
    struct pl_nlu_model_opts def = PL_NLU_MODEL_OPTS_INIT;
    if (!o) o = &def;
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/config.json", dir) >= sizeof path)
        return PL_ERR(PL_E_INVALID_ARG, "model directory path too long");
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (!root) return PL_ERR(PL_E_IO, "%s: %s (line %d)", path, jerr.text, jerr.line);
    pl_status st = PL_OK;
    struct pl_nlu_model *m = pl_calloc(1, sizeof *m);
    if (!m || !(m->name = pl_strdup(name)) || !(m->dir = pl_strdup(dir))) {
        st = PL_ERR(PL_E_NOMEM, "model %s", name);
        goto fail;
    }
    m->max_batch_size = o->max_batch_size;
    m->max_queue_delay_us = o->max_queue_delay_us;
    char precision[16] = "";
    if (o->precision) snprintf(precision, sizeof precision, "%s", o->precision);
    /* the domain a variant reports is its base model's: name minus "-<variant>" */
    char base[512];
    snprintf(base, sizeof base, "%s", name);
    if (o->variant) {
        /* a variant: its keys replace config.json's; its precision wins over the service's */
        json_t *var = json_object_get(json_object_get(root, "variants"), o->variant);
        if (!var) {
            st = PL_ERR(PL_E_INVALID_ARG, "%s: no variant '%s' in \"variants\"", path, o->variant);
            goto fail;
        }
        PL_TRY_GOTO(st, check_variant(path, o->variant, var));
        if (!(m->variant = pl_strdup(o->variant))) {
            st = PL_ERR(PL_E_NOMEM, "model %s", name);
            goto fail;
        }
        const char *vp = json_string_value(json_object_get(var, "precision"));
        if (vp) snprintf(precision, sizeof precision, "%s", vp);
        /* every other key check_variant allows replaces config.json's; a QA variant's
         * no_answer_verifier (its threshold alone) is merged into the reader's verifier */
        const char *vk;
        json_t *vval;
        json_object_foreach(var, vk, vval) {
            if (!strcmp(vk, "precision")) continue;
            json_t *cur = json_object_get(root, vk);
            bool merge = !strcmp(vk, "no_answer_verifier");
            if (merge && !json_is_object(cur)) {
                st = PL_ERR(PL_E_FORMAT, "%s: variants.%s.no_answer_verifier without a "
                                         "no_answer_verifier to change", path, o->variant);
                goto fail;
            }
            if ((merge ? json_object_update(cur, vval) : json_object_set(root, vk, vval)) != 0) {
                st = PL_ERR(PL_E_NOMEM, "model %s", name);
                goto fail;
            }
        }
        size_t nl = strlen(name), vl = strlen(o->variant);
        if (nl > vl + 1 && name[nl - vl - 1] == '-' && !strcmp(name + nl - vl, o->variant) &&
            nl - vl - 1 < sizeof base)
            base[nl - vl - 1] = '\0';
    }
    PL_TRY_GOTO(st, load_config(m, dir, root, path, base, precision, sizeof precision));

    m->n_instances = o->instances > 0 ? o->instances : 1;
    if (m->n_instances > 64) {
        st = PL_ERR(PL_E_INVALID_ARG, "model %s: %d instances (1..64)", name, m->n_instances);
        goto fail;
    }
    m->inst = pl_calloc((size_t)m->n_instances, sizeof *m->inst);
    if (!m->inst) {
        st = PL_ERR(PL_E_NOMEM, "model %s: instances", name);
        goto fail;
    }
    /* Each instance has its own backend (the CPU backend's scratch and thread pool serve one
     * graph at a time) and encoder: f32 weights map the same file pages, int8 ones are
     * quantized once per instance. */
    for (int i = 0; i < m->n_instances; i++) {
        struct pl_nlu_instance *in = &m->inst[i];
        PL_TRY_GOTO(st, pl_backend_create(o->backend && *o->backend ? o->backend : "cpu", &in->be));
        if (o->threads > 0 && !strncmp(pl_backend_name(in->be), "cpu", 3))
            PL_TRY_GOTO(st, pl_backend_cpu_set_threads(in->be, o->threads));
        struct pl_bert_options bo = {precision[0] ? precision : NULL, m->max_batch_size,
                                     m->max_length, 1};
        PL_TRY_GOTO(st, pl_bert_load(dir, in->be, &bo, &in->bert));
        /* the width as the encoder read it (BERT's hidden_size, DistilBERT's dim) */
        m->hidden = pl_bert_get_config(in->bert)->hidden;
        int types_needed = m->case_types == PL_NLU_TYPES_WORD_CASE         ? 4
                           : m->case_types == PL_NLU_TYPES_QUESTION_MATCH ? 3
                           : m->case_types == PL_NLU_TYPES_STARTS_UPPER   ? 2
                                                                          : 0;
        if (pl_bert_get_config(in->bert)->type_vocab_size < types_needed) {
            st = PL_ERR(PL_E_INVALID_ARG, "model %s: tokenizer.token_type_ids needs "
                                          "type_vocab_size >= %d, config.json has %d", name,
                        types_needed, pl_bert_get_config(in->bert)->type_vocab_size);
            goto fail;
        }
        if (pl_bert_max_seq(in->bert) < m->max_length) m->max_length = pl_bert_max_seq(in->bert);
        PL_TRY_GOTO(st, pl_bert_state_create(in->bert, &in->state));
        struct pl_bert_head_spec specs[PL_NLU_MAX_HEADS];
        for (int k = 0; k < m->n_heads; k++)
            specs[k] = (struct pl_bert_head_spec){
                .tensor_prefix = m->heads[k].tensor_prefix,
                .input = m->heads[k].tokens   ? PL_BERT_HEAD_IN_TOKENS
                         : m->heads[k].pooler ? PL_BERT_HEAD_IN_POOLER
                                              : PL_BERT_HEAD_IN_CLS,
                .n_labels = m->heads[k].n_labels};
        PL_TRY_GOTO(st, pl_bert_heads_create(in->bert, specs, m->n_heads, &in->heads));
        size_t cells = (size_t)m->max_batch_size * (size_t)m->max_length;
        in->ids = pl_malloc(sizeof(int32_t) * cells);
        in->mask = pl_malloc(sizeof(int32_t) * cells);
        in->types = pl_malloc(sizeof(int32_t) * cells);
        bool ok = in->ids && in->mask && in->types;
        for (int k = 0; k < m->n_heads; k++) {
            in->logits[k] = pl_malloc(sizeof(float) * (size_t)m->heads[k].n_labels *
                                      (m->heads[k].tokens ? cells : (size_t)m->max_batch_size));
            ok = ok && in->logits[k];
        }
        if (!ok) {
            st = PL_ERR(PL_E_NOMEM, "model %s: workspace", name);
            goto fail;
        }
    }
    m->bert = m->inst[0].bert;
    struct pl_batcher_opts bopt = PL_BATCHER_OPTS_INIT;
    bopt.max_batch_size = m->max_batch_size;
    bopt.max_queue_delay_us = m->max_queue_delay_us;
    bopt.n_instances = m->n_instances; /* one thread per instance, each its own backend */
    bopt.max_queue = 4096;
    bopt.bucket_by_length = m->batch_by_length;
    bopt.metrics = o->metrics;
    bopt.model = m->name;
    PL_TRY_GOTO(st, pl_batcher_create(&bopt, run_batch, m, &m->batcher));
    json_decref(root);
    *out = m;
    return PL_OK;
fail:
    json_decref(root);
    pl_nlu_model_destroy(m);
    return st;
}

void pl_nlu_model_destroy(struct pl_nlu_model *m) {
    if (!m) return;
    pl_batcher_destroy(m->batcher);
    for (int i = 0; m->inst && i < m->n_instances; i++) {
        struct pl_nlu_instance *in = &m->inst[i];
        pl_bert_heads_destroy(in->heads);
        pl_bert_state_destroy(in->state);
        pl_bert_destroy(in->bert);
        pl_backend_destroy(in->be);
        pl_free(in->ids);
        pl_free(in->mask);
        pl_free(in->types);
        for (int k = 0; k < PL_NLU_MAX_HEADS; k++) pl_free(in->logits[k]);
    }
    pl_free(m->inst);
    pl_wordpiece_destroy(m->tok);
    for (int i = 0; i < m->n_heads; i++) {
        struct pl_nlu_head *h = &m->heads[i];
        for (int j = 0; h->labels && j < h->n_labels; j++) pl_free(h->labels[j]);
        pl_free(h->labels);
        pl_free(h->bio_next);
        pl_free(h->name);
        pl_free(h->tensor_prefix);
    }
    struct pl_qa_verifier *v = &m->qa_verifier;
    for (int i = 0; v->function_words && i < v->n_function_words; i++) pl_free(v->function_words[i]);
    for (int i = 0; v->negation_words && i < v->n_negation_words; i++) pl_free(v->negation_words[i]);
    pl_free(v->function_words);
    pl_free(v->negation_words);
    pl_free(m->domain);
    pl_free(m->name);
    pl_free(m->dir);
    pl_free(m->variant);
    pl_free(m);
}

/* The batcher's run callback: one forward of the encoder and the heads over the batch's
 * windows, padded to the longest; each window takes its rows of every head's logits. */
static pl_status run_batch(void *ud, int instance, struct pl_batch_req **reqs, int n) {
    struct pl_nlu_model *m = ud;
    struct pl_nlu_instance *in = &m->inst[instance];
    int seq = 1;
    for (int i = 0; i < n; i++) {
        const struct nlu_job *j = reqs[i]->input;
        if (j->enc->n > seq) seq = j->enc->n;
    }
    if (seq > m->max_length || n > m->max_batch_size)
        return PL_ERR(PL_E_INTERNAL, "batch %d x %d exceeds %d x %d", n, seq, m->max_batch_size,
                      m->max_length);
    int32_t pad = pl_bert_get_config(in->bert)->pad_token_id;
    for (int i = 0; i < n; i++) {
        const struct pl_encoding *e = ((const struct nlu_job *)reqs[i]->input)->enc;
        for (int t = 0; t < seq; t++) {
            in->ids[i * seq + t] = t < e->n ? e->ids[t] : pad;
            in->mask[i * seq + t] = t < e->n;
            in->types[i * seq + t] = t < e->n ? e->type_ids[t] : 0;
        }
    }
    PL_TRY(pl_bert_forward_heads(in->state, in->heads, n, seq, in->ids, in->types, in->mask,
                                 in->logits));
    for (int i = 0; i < n; i++) {
        const struct nlu_job *j = reqs[i]->input;
        for (int k = 0; k < m->n_heads; k++) {
            size_t nl = (size_t)m->heads[k].n_labels;
            if (m->heads[k].tokens) /* the window's own tokens of row i (no padding) */
                memcpy(j->out[k], in->logits[k] + (size_t)i * seq * nl,
                       sizeof(float) * (size_t)j->enc->n * nl);
            else
                memcpy(j->out[k], in->logits[k] + (size_t)i * nl, sizeof(float) * nl);
        }
    }
    return PL_OK;
}

void pl_nlu_results_destroy(struct pl_nlu_result *r, int n) {
    if (!r) return;
    for (int i = 0; i < n; i++) {
        pl_free(r[i].offs);
        for (int k = 0; k < PL_NLU_MAX_HEADS; k++) pl_free(r[i].probs[k]);
    }
    pl_free(r);
}

/* Turn the windows' raw logits of text i into its result: softmax per row, then merge. */
static pl_status finish_text(const struct pl_nlu_model *m, const struct pl_windows *w,
                             struct nlu_job *jobs, struct pl_nlu_result *r) {
    r->n_tokens = w->n_text_tokens;
    r->n_windows = w->n;
    r->offs = pl_calloc((size_t)w->n_text_tokens + 1, sizeof *r->offs);
    if (!r->offs) return PL_ERR(PL_E_NOMEM, "result offsets");
    const float *rows[1024];
    if (w->n > 1024) return PL_ERR(PL_E_INVALID_ARG, "%d windows in one text", w->n);
    for (int k = 0; k < m->n_heads; k++) {
        const struct pl_nlu_head *h = &m->heads[k];
        if (h->tokens) {
            for (int wi = 0; wi < w->n; wi++) {
                for (int t = 0; t < w->windows[wi].n; t++)
                    pl_nlu_softmax(jobs[wi].out[k] + (size_t)t * h->n_labels, h->n_labels);
                rows[wi] = jobs[wi].out[k];
            }
            r->probs[k] = pl_calloc((size_t)w->n_text_tokens * h->n_labels + 1, sizeof(float));
            if (!r->probs[k]) return PL_ERR(PL_E_NOMEM, "result scores");
            PL_TRY(pl_nlu_merge_windows(w, rows, h->n_labels, r->probs[k], r->offs));
        } else {
            r->probs[k] = pl_calloc((size_t)h->n_labels, sizeof(float));
            if (!r->probs[k]) return PL_ERR(PL_E_NOMEM, "result scores");
            for (int wi = 0; wi < w->n; wi++) {
                pl_nlu_softmax(jobs[wi].out[k], h->n_labels);
                for (int c = 0; c < h->n_labels; c++) r->probs[k][c] += jobs[wi].out[k][c] / (float)w->n;
            }
        }
    }
    if (find_head(m, NULL, 1) < 0) {
        /* no token head merged the offsets: take them from the windows */
        for (int wi = 0; wi < w->n; wi++) {
            const struct pl_encoding *e = &w->windows[wi];
            int32_t c = 0;
            for (int t = 0; t < e->n; t++)
                if (e->seq[t] >= 0 && e->window_start + c < w->n_text_tokens)
                    r->offs[e->window_start + c++] = e->offsets[t];
        }
    }
    return PL_OK;
}

/* Every job through the batcher, then wait for all; the first failure wins. */
static pl_status run_jobs(struct pl_nlu_model *m, struct nlu_job *jobs, int n_jobs,
                          int64_t deadline_us) {
    struct pl_batch_req *reqs = pl_calloc((size_t)n_jobs + 1, sizeof *reqs);
    if (!reqs) return PL_ERR(PL_E_NOMEM, "run: %d windows", n_jobs);
    pl_status st = PL_OK;
    int submitted = 0;
    for (int j = 0; j < n_jobs; j++) {
        pl_batch_req_init(&reqs[j], &jobs[j], deadline_us);
        reqs[j].length = jobs[j].enc->n;
        st = pl_batcher_submit(m->batcher, &reqs[j]);
        if (st != PL_OK) {
            st = st == PL_E_EXHAUSTED ? PL_ERR(st, "model %s: batch queue is full", m->name)
                                      : PL_ERR(st, "model %s: shutting down", m->name);
            break;
        }
        submitted++;
    }
    for (int j = 0; j < submitted; j++) {
        pl_batcher_wait(m->batcher, &reqs[j], -1);
        if (st == PL_OK && reqs[j].status != PL_OK)
            st = PL_ERR(reqs[j].status == PL_E_TIMEOUT ? PL_E_TIMEOUT : reqs[j].status,
                        "model %s: %s", m->name, reqs[j].error);
    }
    pl_free(reqs);
    return st;
}

pl_status pl_nlu_model_forward_windows(struct pl_nlu_model *m, const struct pl_encoding *const *encs,
                                       int n, int64_t deadline_us, float *const *outs) {
    if (!m || (n > 0 && (!encs || !outs)) || n < 0)
        return PL_ERR(PL_E_INVALID_ARG, "forward windows: NULL argument");
    if (m->n_heads != 1 || !m->heads[0].tokens)
        return PL_ERR(PL_E_INVALID_ARG, "model %s: forward windows needs a single token head",
                      m->name);
    for (int i = 0; i < n; i++)
        if (!encs[i] || !outs[i] || encs[i]->n < 1 || encs[i]->n > m->max_length)
            return PL_ERR(PL_E_INVALID_ARG, "model %s: window %d of %d tokens (1..%d)", m->name,
                          i, encs[i] ? encs[i]->n : 0, m->max_length);
    struct nlu_job *jobs = pl_calloc((size_t)n + 1, sizeof *jobs);
    if (!jobs) return PL_ERR(PL_E_NOMEM, "forward windows: %d windows", n);
    for (int i = 0; i < n; i++) {
        jobs[i].enc = encs[i];
        jobs[i].out[0] = outs[i];
    }
    pl_status st = run_jobs(m, jobs, n, deadline_us);
    pl_free(jobs);
    return st;
}

pl_status pl_nlu_model_run(struct pl_nlu_model *m, const char *const *texts, const size_t *lens,
                           int n, const struct pl_nlu_limits *lim, int64_t deadline_us,
                           struct pl_nlu_result **out) {
    *out = NULL;
    pl_status st = PL_OK;
    struct pl_windows **wins = pl_calloc((size_t)n + 1, sizeof *wins);
    int *first_job = pl_calloc((size_t)n + 1, sizeof *first_job);
    struct pl_nlu_result *res = pl_calloc((size_t)n + 1, sizeof *res);
    struct nlu_job *jobs = NULL;
    float *scratch = NULL;
    int n_jobs = 0;
    if (!wins || !first_job || !res) {
        st = PL_ERR(PL_E_NOMEM, "run: %d texts", n);
        goto fail;
    }
    struct pl_window_opts wo = {m->max_length, m->stride, 0};
    size_t floats = 0;
    for (int i = 0; i < n; i++) {
        st = pl_wordpiece_windows(m->tok, NULL, 0, texts[i], lens[i], &wo, &wins[i]);
        if (st != PL_OK) {
            char msg[256];
            snprintf(msg, sizeof msg, "%s", pl_last_error());
            st = PL_ERR(st, "text[%d]: %s", i, msg);
            goto fail;
        }
        if (wins[i]->n_text_tokens == 0) {
            st = PL_ERR(PL_E_INVALID_ARG, "text[%d] has no tokens (only whitespace or control "
                                          "characters)", i);
            goto fail;
        }
        if (m->case_types == PL_NLU_TYPES_STARTS_UPPER || m->case_types == PL_NLU_TYPES_WORD_CASE)
            for (int w = 0; w < wins[i]->n; w++) {
                struct pl_encoding *e = &wins[i]->windows[w];
                for (int t = 0; t < e->n; t++) {
                    size_t at = (size_t)e->offsets[t].byte_start;
                    e->type_ids[t] =
                        e->seq[t] != 0 ? 0
                        : m->case_types == PL_NLU_TYPES_WORD_CASE
                            ? pl_nlu_word_case_class(texts[i], lens[i], at)
                            : pl_nlu_word_starts_upper(texts[i], lens[i], at);
                }
            }
        first_job[i] = n_jobs;
        n_jobs += wins[i]->n;
        if (lim && lim->max_windows > 0 && n_jobs > lim->max_windows) {
            st = PL_ERR(PL_E_INVALID_ARG, "input too long: more than %d windows of %d tokens "
                                          "(nlu.max_windows)", lim->max_windows, m->max_length);
            goto fail;
        }
        for (int w = 0; w < wins[i]->n; w++)
            for (int k = 0; k < m->n_heads; k++)
                floats += (size_t)m->heads[k].n_labels *
                          (m->heads[k].tokens ? (size_t)wins[i]->windows[w].n : 1);
    }
    jobs = pl_calloc((size_t)n_jobs, sizeof *jobs);
    scratch = pl_malloc(sizeof(float) * (floats + 1));
    if (!jobs || !scratch) {
        st = PL_ERR(PL_E_NOMEM, "run: %d windows", n_jobs);
        goto fail;
    }
    float *p = scratch;
    for (int i = 0, j = 0; i < n; i++)
        for (int w = 0; w < wins[i]->n; w++, j++) {
            jobs[j].enc = &wins[i]->windows[w];
            for (int k = 0; k < m->n_heads; k++) {
                jobs[j].out[k] = p;
                p += (size_t)m->heads[k].n_labels *
                     (m->heads[k].tokens ? (size_t)jobs[j].enc->n : 1);
            }
        }
    PL_TRY_GOTO(st, run_jobs(m, jobs, n_jobs, deadline_us));
    for (int i = 0; i < n; i++) PL_TRY_GOTO(st, finish_text(m, wins[i], jobs + first_job[i], &res[i]));
    *out = res;
    res = NULL;
fail:
    pl_nlu_results_destroy(res, n);
    for (int i = 0; wins && i < n; i++) pl_windows_destroy(wins[i]);
    pl_free(wins);
    pl_free(first_job);
    pl_free(jobs);
    pl_free(scratch);
    return st;
}

/* ---- the model repository's load step: a directory and its variants ---------------------- */

static pl_status repo_load_one(const char *dir, const char *name, const char *variant,
                               const struct pl_nlu_model_opts *o, struct pl_model_list *out) {
    struct pl_nlu_model_opts mo = *o;
    mo.variant = variant;
    struct pl_nlu_model *m = NULL;
    PL_TRY(pl_nlu_model_load(dir, name, &mo, &m));
    PL_LOGI("model %s: %s, %s, max_length %d, batch %d, delay %lld us, %d instance%s", name,
            pl_nlu_task_name(m->task), pl_bert_precision(m->bert), m->max_length,
            m->max_batch_size, (long long)m->max_queue_delay_us, m->n_instances,
            m->n_instances == 1 ? "" : "s");
    return pl_model_list_add(out, name, m); /* the list owns m, also on failure */
}

pl_status pl_nlu_repo_load(const char *dir, const char *dir_name, const struct pl_nlu_model_opts *o,
                           struct pl_model_list *out) {
    struct pl_nlu_model_opts def = PL_NLU_MODEL_OPTS_INIT;
    if (!o) o = &def;
    PL_TRY(repo_load_one(dir, dir_name, NULL, o, out));
    char **vars = NULL;
    int nv = 0;
    if (pl_nlu_model_variants(dir, &vars, &nv) != PL_OK) {
        PL_LOGE("model %s: variants not loaded: %s", dir, pl_last_error());
        return PL_OK;
    }
    pl_status st = PL_OK;
    for (int k = 0; k < nv && st != PL_E_NOMEM; k++) {
        char vname[512];
        if ((size_t)snprintf(vname, sizeof vname, "%s-%s", dir_name, vars[k]) >= sizeof vname)
            st = PL_ERR(PL_E_FORMAT, "variant %s: name too long", vars[k]);
        else
            st = repo_load_one(dir, vname, vars[k], o, out);
        if (st != PL_OK) PL_LOGE("model %s (%s) not loaded: %s", vname, dir, pl_last_error());
    }
    pl_nlu_variants_free(vars, nv);
    return st == PL_E_NOMEM ? st : PL_OK;
}
