/*
 * pl-sdk-ask: answer a question with NaturalQuery, from a text file or from the server's
 * knowledge base.
 *
 *   pl-sdk-ask QUESTION [--context FILE] [--top-n N] [connection options]
 *
 * Prints "score<TAB>answer" per answer. Exit status: 0 ok, 1 the call failed, 2 bad usage.
 */
#include "example_common.h"

int main(int argc, char **argv) {
    struct pl_client_opts o = {0};
    const char *question = NULL, *context_file = NULL;
    unsigned top_n = 1;
    for (int i = 1; i < argc; i++) {
        if (connect_opt(argc, argv, &i, &o)) continue;
        if (!strcmp(argv[i], "--context") && i + 1 < argc) context_file = argv[++i];
        else if (!strcmp(argv[i], "--top-n") && i + 1 < argc) top_n = (unsigned)atoi(argv[++i]);
        else if (!question && argv[i][0] != '-') question = argv[i];
        else question = NULL, i = argc;
    }
    if (!question) {
        fprintf(stderr, "usage: pl-sdk-ask QUESTION [--context FILE] [--top-n N]\n" CONNECT_USAGE);
        return 2;
    }
    char *context = NULL;
    if (context_file) {
        size_t n;
        unsigned char *b = read_all(argv[0], context_file, &n);
        if (!b || !(context = realloc(b, n + 1))) return free(b), 2;
        context[n] = 0;
    }
    struct pl_client *c;
    pl_status st = pl_client_open(&o, &c);
    if (st != PL_OK) return free(context), report(argv[0], st);
    struct pl_client_answers *a;
    st = pl_client_natural_query(c, question, context, top_n, &a);
    if (st == PL_OK) {
        for (size_t i = 0; i < a->n; i++)
            printf("%.3f\t%s\n", a->v[i].score, *a->v[i].answer ? a->v[i].answer : "(no answer)");
        if (a->n == 0) printf("(no answer)\n");
        pl_client_answers_destroy(a);
    }
    pl_client_close(c);
    free(context);
    return st == PL_OK ? 0 : report(argv[0], st);
}
