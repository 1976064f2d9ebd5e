/*
 * parley-nlu (`parley nlu`): language understanding through the gateway with libparley-client
 * (clients/c): AnalyzeIntent, AnalyzeEntities, ClassifyTokens and PunctuateText of parley-nlu.
 *
 *   parley nlu intent|entities|tokens|punctuate [TEXT...] [--model NAME] [--server HOST:PORT]
 *              [--api-key KEY] [--tls-ca CA.pem] [--timeout-ms MS] [--json]
 *   parley nlu train FILE [--out DIR] [--name NAME] [--minutes M] [--folds K] [...]
 *
 * `train` calls no server: it runs the training recipe train/nlu/custom_intents.py of the
 * source tree this program was built from with Debian's python3 (python3-torch), which
 * fine-tunes an intent/slot model on FILE's examples and writes a model directory that
 * parley-nlu serves after a reload (docs/nlu.md, "Custom intents"); its options and exit
 * status are the recipe's (0; 1 for a bad FILE, naming file, line and key; 2 for a bad
 * command line).
 *
 * Each TEXT argument is one query; without any, each non-empty line of stdin is one. Plain
 * output: intent, entities and tokens print the query, then one indented line per result
 * (tab-separated: what, the words, [start,end) character span, score); punctuate prints the
 * punctuated text, one line per query. --json prints one JSON object per query and line.
 * The first failed call stops the command: its message ("AnalyzeIntent: NOT_FOUND: model 'x'
 * is not loaded (loaded: ...)") and what to do about it on stderr. Exit status 0, 1 when a
 * call failed, 2 for a bad command line (an unreadable --tls-ca file included).
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "client_grpc.h"
#include "parley/client.h"

#ifndef PL_SOURCE_DIR
#define PL_SOURCE_DIR "."
#endif
#define TRAIN_RECIPE "train/nlu/custom_intents.py"

static const char usage[] =
    "usage: parley nlu intent|entities|tokens|punctuate|train [TEXT...] [--model NAME]\n"
    "                  [--server HOST:PORT] [--api-key KEY] [--tls-ca CA.pem]\n"
    "                  [--timeout-ms MS] [--json]\n"
    "       parley nlu train FILE [--out DIR] [--name NAME] [--minutes M] [--folds K]\n"
    "  intent      AnalyzeIntent: the intent, its score, the slots with their spans\n"
    "  entities    AnalyzeEntities: named entities (PER, LOC, ORG, MISC) with spans\n"
    "  tokens      ClassifyTokens: every word's tag with its span\n"
    "  punctuate   PunctuateText: the text with case and punctuation restored\n"
    "  train       fine-tune an intent/slot model on FILE's examples (Rasa-style nlu.yml\n"
    "              or a dialog spec's nlu: section) into DIR/NAME (default models/NAME),\n"
    "              which parley-nlu serves after a reload; `parley nlu train --help`\n"
    "  TEXT        one query per argument; none: one per line of stdin\n"
    "  --model NAME        intent: the model or its domain; tokens, punctuate: the model\n"
    "                      (default: the server's; entities takes none)\n"
    "  --server HOST:PORT  the gateway (default 127.0.0.1:50051)\n"
    "  --api-key KEY       sent as 'authorization: Bearer KEY'\n"
    "  --tls-ca CA.pem     TLS, verifying the gateway with this CA certificate\n"
    "  --timeout-ms MS     deadline of each call (default 60000)\n"
    "  --json              one JSON object per query and line\n";

enum mode { MODE_INTENT, MODE_ENTITIES, MODE_TOKENS, MODE_PUNCTUATE };

static const char *const mode_names[] = {"intent", "entities", "tokens", "punctuate"};

struct nlu {
    enum mode mode;
    const char *model, *server;
    bool json;
    struct pl_client *c;
};

static void print_span(unsigned start, unsigned end, float score) {
    printf("\t[%u,%u)\t%.3f\n", start, end, score);
}

static void json_span(unsigned start, unsigned end, float score) {
    printf(", \"score\": %.6g, \"start\": %u, \"end\": %u}", score, start, end);
}

static pl_status run_intent(struct nlu *n, const char *q) {
    struct pl_client_intent *r = NULL;
    PL_TRY(pl_client_analyze_intent(n->c, q, n->model, &r));
    if (n->json) {
        printf("{\"query\": ");
        pl_client_json_str(stdout, q);
        printf(", \"intent\": ");
        pl_client_json_str(stdout, r->intent);
        printf(", \"score\": %.6g, \"domain\": ", r->score);
        pl_client_json_str(stdout, r->domain);
        printf(", \"slots\": [");
        for (size_t i = 0; i < r->n_slots; i++) {
            const struct pl_client_slot *s = &r->slots[i];
            printf("%s{\"slot\": ", i ? ", " : "");
            pl_client_json_str(stdout, s->name);
            printf(", \"value\": ");
            pl_client_json_str(stdout, s->value);
            json_span(s->start, s->end, s->score);
        }
        printf("]}\n");
    } else {
        printf("%s\n  intent\t%s\t%.3f\n", q, *r->intent ? r->intent : "(none)", r->score);
        for (size_t i = 0; i < r->n_slots; i++) {
            const struct pl_client_slot *s = &r->slots[i];
            printf("  slot\t%s=%s", s->name, s->value);
            print_span(s->start, s->end, s->score);
        }
    }
    pl_client_intent_destroy(r);
    return PL_OK;
}

/* entities and tokens: the same result shape, under their own JSON key */
static pl_status run_entities(struct nlu *n, const char *q) {
    struct pl_client_entities *e = NULL;
    bool tokens = n->mode == MODE_TOKENS;
    PL_TRY(tokens ? pl_client_classify_tokens(n->c, q, n->model, &e)
                  : pl_client_analyze_entities(n->c, q, &e));
    if (n->json) {
        printf("{\"query\": ");
        pl_client_json_str(stdout, q);
        printf(", \"%s\": [", tokens ? "tokens" : "entities");
        for (size_t i = 0; i < e->n; i++) {
            printf("%s{\"text\": ", i ? ", " : "");
            pl_client_json_str(stdout, e->v[i].text);
            printf(", \"label\": ");
            pl_client_json_str(stdout, e->v[i].label);
            json_span(e->v[i].start, e->v[i].end, e->v[i].score);
        }
        printf("]}\n");
    } else {
        printf("%s\n", q);
        if (e->n == 0) printf("  (no %s)\n", tokens ? "tokens" : "entities");
        for (size_t i = 0; i < e->n; i++) {
            printf("  %s\t%s", e->v[i].label, e->v[i].text);
            print_span(e->v[i].start, e->v[i].end, e->v[i].score);
        }
    }
    pl_client_entities_destroy(e);
    return PL_OK;
}

static pl_status run_punctuate(struct nlu *n, const char *q) {
    char *text = NULL;
    PL_TRY(pl_client_punctuate(n->c, q, n->model, &text));
    if (n->json) {
        printf("{\"query\": ");
        pl_client_json_str(stdout, q);
        printf(", \"text\": ");
        pl_client_json_str(stdout, text);
        printf("}\n");
    } else {
        printf("%s\n", text);
    }
    pl_client_free(text);
    return PL_OK;
}

/* What to do about a failed call, by the gRPC status the gateway answered. */
static const char *hint(const struct nlu *n, int code) {
    switch (code) {
    case 4: return "the call ran out of time: raise --timeout-ms";
    case 5: return n->model ? "--model names a model parley-nlu has not loaded (the loaded ones "
                              "are listed above); leave it out for the server's default"
                            : "parley-nlu has no model for this task loaded";
    case 14: return "is the gateway running there? start it with `parley up`, check it with "
                    "`parley status`, or point --server at it";
    case 16: return "the gateway wants an API key: --api-key KEY";
    default: return NULL;
    }
}

/* One query: its call and output. Reports a failure on stderr. */
static bool query(struct nlu *n, const char *q) {
    pl_status st = n->mode == MODE_INTENT      ? run_intent(n, q)
                   : n->mode == MODE_PUNCTUATE ? run_punctuate(n, q)
                                               : run_entities(n, q);
    fflush(stdout);
    if (st == PL_OK) return true;
    fprintf(stderr, "parley nlu %s: %s: %s\n", mode_names[n->mode], n->server, pl_last_error());
    const char *h = hint(n, pl_client_last_grpc_status());
    if (h) fprintf(stderr, "parley nlu %s: %s\n", mode_names[n->mode], h);
    return false;
}

/* Each non-empty line of stdin (trailing CR/LF cut) as a query; false at the first failure. */
static bool queries_from_stdin(struct nlu *n) {
    char *line = NULL;
    size_t cap = 0;
    bool ok = true;
    for (ssize_t len; ok && (len = getline(&line, &cap, stdin)) >= 0;) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = '\0';
        if (len > 0) ok = query(n, line);
    }
    free(line);
    return ok;
}

static long num_arg(const char *opt, const char *v, long lo, long hi) {
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi) {
        fprintf(stderr, "parley nlu: %s wants a number in %ld..%ld, not '%s'\n", opt, lo, hi, v);
        exit(2);
    }
    return x;
}

/*
 * `parley nlu train ARGS`: exec PARLEY_PYTHON (default /usr/bin/python3) on the recipe under
 * PARLEY_SOURCE_DIR (default the source tree of this build), with that tree first on
 * PYTHONPATH so that the recipe imports its package `train`. Returns only when it cannot run.
 */
static int run_train(int argc, char **argv) {
    const char *src = getenv("PARLEY_SOURCE_DIR");
    const char *py = getenv("PARLEY_PYTHON");
    if (!src || !*src) src = PL_SOURCE_DIR;
    if (!py || !*py) py = "/usr/bin/python3";
    char recipe[PATH_MAX], path[PATH_MAX * 2];
    if ((size_t)snprintf(recipe, sizeof recipe, "%s/%s", src, TRAIN_RECIPE) >= sizeof recipe ||
        access(recipe, R_OK) != 0) {
        fprintf(stderr, "parley nlu train: the training recipe %s/%s is missing: point "
                "PARLEY_SOURCE_DIR at the Parley source tree\n", src, TRAIN_RECIPE);
        return 2;
    }
    const char *old = getenv("PYTHONPATH");
    snprintf(path, sizeof path, "%s%s%s", src, old && *old ? ":" : "", old ? old : "");
    char **args = pl_calloc((size_t)argc + 3, sizeof *args);
    if (!args || setenv("PYTHONPATH", path, 1) != 0) {
        pl_free(args);
        fprintf(stderr, "parley nlu train: out of memory\n");
        return 1;
    }
    args[0] = (char *)py;
    args[1] = recipe;
    for (int i = 0; i < argc; i++) args[i + 2] = argv[i];
    execv(py, args);
    fprintf(stderr, "parley nlu train: cannot run %s: %s (it needs python3 with python3-torch "
            "and python3-yaml: scripts/deps.sh)\n", py, strerror(errno));
    pl_free(args);
    return 127;
}

static int mode_of(const char *s) {
    for (int i = 0; i < (int)(sizeof mode_names / sizeof mode_names[0]); i++)
        if (!strcmp(s, mode_names[i])) return i;
    return -1;
}

int main(int argc, char **argv) {
    struct nlu n = {.mode = MODE_INTENT, .server = "127.0.0.1:50051"};
    struct pl_client_opts o = {0};
    const char **texts = pl_calloc((size_t)argc, sizeof *texts);
    int n_texts = 0, mode = -1;
    if (!texts) return 1;
    if (argc >= 2 && !strcmp(argv[1], "train")) {
        pl_free(texts);
        return run_train(argc - 2, argv + 2);
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage, stdout);
            pl_free(texts);
            return 0;
        } else if (i + 1 < argc && !strcmp(a, "--model")) {
            n.model = argv[++i];
        } else if (i + 1 < argc && !strcmp(a, "--server")) {
            n.server = argv[++i];
        } else if (i + 1 < argc && !strcmp(a, "--api-key")) {
            o.api_key = argv[++i];
        } else if (i + 1 < argc && !strcmp(a, "--tls-ca")) {
            o.tls_ca_file = argv[++i];
        } else if (i + 1 < argc && !strcmp(a, "--timeout-ms")) {
            o.timeout_ms = (int)num_arg(a, argv[++i], 1, 3600000);
        } else if (!strcmp(a, "--json")) {
            n.json = true;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "parley nlu: unknown option '%s' (or it lacks its value)\n%s", a,
                    usage);
            pl_free(texts);
            return 2;
        } else if (mode < 0) {
            if (!strcmp(a, "train")) {
                fprintf(stderr, "parley nlu: 'train' comes first: parley nlu train FILE "
                        "[options]\n");
                pl_free(texts);
                return 2;
            }
            if ((mode = mode_of(a)) < 0) {
                fprintf(stderr, "parley nlu: '%s' is not a mode: say intent, entities, tokens, "
                        "punctuate or train\n%s", a, usage);
                pl_free(texts);
                return 2;
            }
        } else if (strcmp(a, "-")) { /* "-": stdin, as no TEXT */
            texts[n_texts++] = a;
        }
    }
    if (mode < 0) {
        fprintf(stderr, "parley nlu: say what to do: intent, entities, tokens, punctuate or "
                "train\n%s",
                usage);
        pl_free(texts);
        return 2;
    }
    n.mode = (enum mode)mode;
    if (n.mode == MODE_ENTITIES && n.model) {
        fprintf(stderr, "parley nlu entities: --model does not apply: AnalyzeEntities names no "
                "model (parley-nlu uses its first token classification model); for a named "
                "model use `parley nlu tokens --model %s`\n", n.model);
        pl_free(texts);
        return 2;
    }
    o.target = n.server;
    if (pl_client_open(&o, &n.c) != PL_OK) {
        fprintf(stderr, "parley nlu: %s\n", pl_last_error()); /* names the file or the key */
        pl_free(texts);
        return 2;
    }
    bool ok = true;
    for (int i = 0; ok && i < n_texts; i++) ok = query(&n, texts[i]);
    if (n_texts == 0) ok = queries_from_stdin(&n);
    pl_client_close(n.c);
    pl_free(texts);
    return ok ? 0 : 1;
}
