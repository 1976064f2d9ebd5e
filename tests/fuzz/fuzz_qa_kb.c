/*
 * fuzz_qa_kb.c - the knowledge base of parley-qa (services/qa/qa_kb.c): the paragraph
 * splitter (blank lines, Markdown headings, long paragraphs cut at whitespace or a UTF-8
 * boundary) behind pl_qa_kb_add, and the FTS5 query sanitizer behind pl_qa_kb_search, on an
 * in-memory SQLite database.
 *
 * Input: part 1 (up to FZ_SEP) is a document, part 2 a query, further parts more queries.
 * The document is added, every query searched, and the document removed again.
 */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_util.h"
#include "qa.h"

static struct pl_qa_kb *g_kb;
static int g_uses;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* a new database every 64 inputs: opening one (schema, FTS5 tables) costs more than most
     * inputs, while one kept for good piles up FTS5's deletion markers and slows down */
    if (!g_kb || ++g_uses == 64) {
        fz_quiet();
        pl_qa_kb_close(g_kb);
        g_kb = NULL;
        g_uses = 0;
        if (pl_qa_kb_open(":memory:", &g_kb) != PL_OK) abort();
    }
    struct pl_qa_kb *kb = g_kb;
    struct fz_in in = {data, size};
    size_t len = 0;
    const uint8_t *doc = fz_next_part(&in, &len);
    int64_t id = -1;
    int n_par = 0;
    if (doc && pl_qa_kb_add(kb, "fuzz.md", (const char *)doc, len, &id, &n_par) == PL_OK &&
        n_par < 1)
        abort(); /* an added document has at least one paragraph */
    const uint8_t *q;
    while ((q = fz_next_part(&in, &len)) != NULL) {
        char *query = fz_str(q, len);
        if (!query) break;
        struct pl_qa_passage *p = NULL;
        int n = 0;
        if (pl_qa_kb_search(kb, query, 3, &p, &n) == PL_OK) {
            for (int i = 0; i < n; i++)
                if (!p[i].text) abort();
            pl_qa_passages_free(p, n);
        }
        pl_free(query);
    }
    if (id >= 0 && pl_qa_kb_remove(kb, id) != PL_OK) abort();
    return 0;
}
