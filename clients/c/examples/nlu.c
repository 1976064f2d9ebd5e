/*
 * pl-sdk-nlu: what parley-nlu makes of a sentence: the intent and its slots (AnalyzeIntent),
 * the named entities (AnalyzeEntities) and the punctuated text (PunctuateText).
 *
 *   pl-sdk-nlu TEXT [--model DOMAIN] [--only intent|entities|punct] [connection options]
 *
 * Exit status: 0 ok, 1 a call failed (status and message on stderr), 2 bad usage.
 */
#include "example_common.h"

static pl_status intent(struct pl_client *c, const char *text, const char *model) {
    struct pl_client_intent *r;
    pl_status st = pl_client_analyze_intent(c, text, model, &r);
    if (st != PL_OK) return st;
    printf("intent: %s (%.3f) domain %s\n", r->intent, r->score, r->domain);
    for (size_t i = 0; i < r->n_slots; i++)
        printf("  slot %s = %s [%u, %u)\n", r->slots[i].name, r->slots[i].value,
               r->slots[i].start, r->slots[i].end);
    pl_client_intent_destroy(r);
    return PL_OK;
}

static pl_status entities(struct pl_client *c, const char *text) {
    struct pl_client_entities *e;
    pl_status st = pl_client_analyze_entities(c, text, &e);
    if (st != PL_OK) return st;
    for (size_t i = 0; i < e->n; i++)
        printf("entity: %s %s (%.3f)\n", e->v[i].label, e->v[i].text, e->v[i].score);
    pl_client_entities_destroy(e);
    return PL_OK;
}

static pl_status punct(struct pl_client *c, const char *text) {
    char *p;
    pl_status st = pl_client_punctuate(c, text, NULL, &p);
    if (st != PL_OK) return st;
    printf("punctuated: %s\n", p);
    pl_client_free(p);
    return PL_OK;
}

int main(int argc, char **argv) {
    struct pl_client_opts o = {0};
    const char *text = NULL, *model = NULL, *only = "";
    for (int i = 1; i < argc; i++) {
        if (connect_opt(argc, argv, &i, &o)) continue;
        if (!strcmp(argv[i], "--model") && i + 1 < argc) model = argv[++i];
        else if (!strcmp(argv[i], "--only") && i + 1 < argc) only = argv[++i];
        else if (!text && argv[i][0] != '-') text = argv[i];
        else text = NULL, i = argc;
    }
    if (!text) {
        fprintf(stderr, "usage: pl-sdk-nlu TEXT [--model DOMAIN] [--only intent|entities|punct]\n"
                        CONNECT_USAGE);
        return 2;
    }
    struct pl_client *c;
    pl_status st = pl_client_open(&o, &c);
    if (st != PL_OK) return report(argv[0], st);
    if (st == PL_OK && (!*only || !strcmp(only, "intent"))) st = intent(c, text, model);
    if (st == PL_OK && (!*only || !strcmp(only, "entities"))) st = entities(c, text);
    if (st == PL_OK && (!*only || !strcmp(only, "punct"))) st = punct(c, text);
    pl_client_close(c);
    return st == PL_OK ? 0 : report(argv[0], st);
}
