/*
 * parley-kb (`parley kb`): the knowledge base parley-qa answers from, edited in place.
 *
 *   parley kb add FILE...     add documents (plain text or Markdown); prints each id
 *   parley kb list            id, paragraphs, bytes, date added, name
 *   parley kb rm ID...        remove documents
 *   parley kb search [-k N] QUERY...|-
 *                             the passages parley-qa would read for each query (BM25, best
 *                             first; "-": one query per line of stdin), one line per passage:
 *                             query index, rank, score, document id, paragraph, text
 *   options: --kb FILE (default $PARLEY_QA_KB_PATH, else $PARLEY_STATE_DIR/kb.sqlite, else
 *            state/kb.sqlite: the file parley-qa reads, qa.kb_path)
 *
 * Each change is one SQLite transaction on the file parley-qa reads (WAL): durable when the
 * command returns and seen by parley-qa's next query, no restart or reload needed.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "file.h"
#include "log.h"
#include "qa.h"

static const char usage[] =
    "usage: parley kb add FILE...  |  parley kb list  |  parley kb rm ID...  |\n"
    "       parley kb search [-k N] QUERY...|-      [--kb FILE]\n"
    "  search      the best passages per query (\"-\": queries from stdin, one per line):\n"
    "              query index, rank, BM25 score, document id, paragraph, text\n"
    "  --kb FILE   the knowledge base (default $PARLEY_QA_KB_PATH, else\n"
    "              $PARLEY_STATE_DIR/kb.sqlite, else state/kb.sqlite: what parley-qa reads)\n";

static int cmd_add(struct pl_qa_kb *kb, int n, char **files) {
    int rc = 0;
    for (int i = 0; i < n; i++) {
        char *text = NULL;
        size_t len = 0;
        int64_t id = 0;
        int paras = 0;
        const char *base = strrchr(files[i], '/');
        if (pl_read_file(files[i], 256u << 20, &text, &len) != PL_OK ||
            pl_qa_kb_add(kb, base ? base + 1 : files[i], text, len, &id, &paras) != PL_OK) {
            fprintf(stderr, "parley kb: %s\n", pl_last_error());
            rc = 1;
        } else {
            printf("%lld\t%d paragraphs\t%s\n", (long long)id, paras, files[i]);
        }
        pl_free(text);
    }
    return rc;
}

static int cmd_list(struct pl_qa_kb *kb) {
    struct pl_qa_kb_doc *d = NULL;
    int n = 0;
    if (pl_qa_kb_list(kb, &d, &n) != PL_OK) {
        fprintf(stderr, "parley kb: %s\n", pl_last_error());
        return 1;
    }
    printf("id\tparagraphs\tbytes\tadded (UTC)\tname\n");
    for (int i = 0; i < n; i++) {
        time_t t = (time_t)(d[i].added_ms / 1000);
        struct tm tm;
        char when[32];
        gmtime_r(&t, &tm);
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
        printf("%lld\t%d\t%lld\t%s\t%s\n", (long long)d[i].id, d[i].paragraphs,
               (long long)d[i].bytes, when, d[i].name);
    }
    pl_qa_kb_docs_free(d, n);
    return 0;
}

static int cmd_rm(struct pl_qa_kb *kb, int n, char **ids) {
    int rc = 0;
    for (int i = 0; i < n; i++) {
        char *end;
        errno = 0;
        long long id = strtoll(ids[i], &end, 10);
        if (errno || end == ids[i] || *end) {
            fprintf(stderr, "parley kb: '%s' is not a document id\n", ids[i]);
            rc = 2;
            continue;
        }
        if (pl_qa_kb_remove(kb, id) != PL_OK) {
            fprintf(stderr, "parley kb: %s\n", pl_last_error());
            rc = 1;
        } else {
            printf("removed %lld\n", id);
        }
    }
    return rc;
}

/* One query's passages as lines "qi rank score doc paragraph text" (tabs; the text on one
 * line: tabs and line breaks become spaces). */
static int search_one(struct pl_qa_kb *kb, int qi, const char *q, int k) {
    struct pl_qa_passage *ps = NULL;
    int n = 0;
    if (pl_qa_kb_search(kb, q, k, &ps, &n) != PL_OK) {
        fprintf(stderr, "parley kb: %s\n", pl_last_error());
        return 1;
    }
    for (int i = 0; i < n; i++) {
        printf("%d\t%d\t%.4f\t%lld\t%d\t", qi, i + 1, ps[i].score, (long long)ps[i].doc_id,
               ps[i].paragraph);
        for (size_t j = 0; j < ps[i].len; j++) {
            char c = ps[i].text[j];
            putchar(c == '\t' || c == '\n' || c == '\r' ? ' ' : c);
        }
        putchar('\n');
    }
    pl_qa_passages_free(ps, n);
    return 0;
}

static int cmd_search(struct pl_qa_kb *kb, int n, char **args) {
    int k = 5, rc = 0, qi = 0;
    for (int i = 0; i < n; i++) {
        if (!strcmp(args[i], "-k") && i + 1 < n) {
            char *end;
            long v = strtol(args[++i], &end, 10);
            if (*end || v < 1 || v > 1000) {
                fprintf(stderr, "parley kb: -k %s: a number of passages 1..1000\n", args[i]);
                return 2;
            }
            k = (int)v;
        } else if (!strcmp(args[i], "-")) {
            char line[8192];
            while (fgets(line, sizeof line, stdin)) {
                line[strcspn(line, "\r\n")] = '\0';
                rc |= search_one(kb, qi++, line, k);
            }
        } else {
            rc |= search_one(kb, qi++, args[i], k);
        }
    }
    fflush(stdout);
    return rc;
}

int main(int argc, char **argv) {
    pl_log_set_service("parley-kb");
    signal(SIGXFSZ, SIG_IGN); /* past RLIMIT_FSIZE: a "disk full" error, not a killed command */
    pl_log_set_level(PL_LOG_WARN);
    char buf[4096];
    const char *path = pl_qa_kb_path(getenv("PARLEY_QA_KB_PATH"), buf, sizeof buf);
    char *args[256];
    int na = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--kb") && i + 1 < argc) {
            path = argv[++i];
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(usage, stdout);
            return 0;
        } else if (na < 256) {
            args[na++] = argv[i];
        }
    }
    if (na < 1 || (strcmp(args[0], "list") != 0 && na < 2) ||
        (strcmp(args[0], "add") && strcmp(args[0], "list") && strcmp(args[0], "rm") &&
         strcmp(args[0], "search"))) {
        fputs(usage, stderr);
        return 2;
    }
    struct pl_qa_kb *kb = NULL;
    if (pl_qa_kb_open(path, &kb) != PL_OK) {
        fprintf(stderr, "parley kb: %s\n", pl_last_error());
        return 1;
    }
    int rc = !strcmp(args[0], "add")      ? cmd_add(kb, na - 1, args + 1)
             : !strcmp(args[0], "list")   ? cmd_list(kb)
             : !strcmp(args[0], "search") ? cmd_search(kb, na - 1, args + 1)
                                          : cmd_rm(kb, na - 1, args + 1);
    pl_qa_kb_close(kb);
    return rc;
}
