/*
 * fuzz_qa_kb.c - the knowledge base of parley-qa (services/qa/qa_kb.c): the paragraph
 * splitter (blank lines, Markdown headings, long paragraphs cut at whitespace or a UTF-8
 * boundary) behind pl_qa_kb_add, and the FTS5 query sanitizer behind pl_qa_kb_search, on an
 * in-memory SQLite database (a new one per input).
 *
 * Input: part 1 (up to FZ_SEP) is a document, part 2 a query, further parts more queries.
 * The document is added, every query searched, and the document removed again.
 */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_util.h"
#include "qa.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int init;
    if (!init) {
        fz_quiet();
        init = 1;
    }
    /* a fresh database per input: runs do not depend on each other, and FTS5's deletion
     * markers do not pile up and slow the target down */
    struct pl_qa_kb *kb = NULL;
    if (pl_qa_kb_open(":memory:", &kb) != PL_OK) abort();
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
    pl_qa_kb_close(kb);
    return 0;
}
