/*
 * qa_kb.c - the knowledge base (qa.h): documents cut into paragraphs, in SQLite with FTS5.
 *
 * File layout (one SQLite file, WAL journal, so that parley-qa reads while `parley kb`
 * writes, and every committed change is visible to the next query):
 *   documents(id INTEGER PRIMARY KEY, name, added_ms, bytes, paragraphs)
 *   passages  FTS5(text, doc_id UNINDEXED, paragraph UNINDEXED), porter stemming over
 *             unicode61 tokens; ranked with bm25().
 * All statements of a handle run under its mutex (one connection per handle).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "file.h"
#include "qa.h"
#include "strbuf.h"
#include "util.h"

#define MAX_PARAGRAPH 2000 /* bytes; longer paragraphs are cut at whitespace */

struct pl_qa_kb {
    sqlite3 *db;
    pthread_mutex_t lock;
    char *path;
    char *read_only; /* NULL: writable; else why it was opened for reading only */
};

/* Did the file system refuse to grow a file of the knowledge base? OUT: why. */
static bool disk_full(struct pl_qa_kb *kb, int rc, char *why, size_t n) {
    int en = sqlite3_system_errno(kb->db);
    if ((rc & 0xff) == SQLITE_FULL ||
        ((rc & 0xff) == SQLITE_IOERR && (en == ENOSPC || en == EFBIG || en == EDQUOT))) {
        snprintf(why, n, "%s", strerror((rc & 0xff) == SQLITE_FULL ? ENOSPC : en));
        return true;
    }
    if ((rc & 0xff) != SQLITE_IOERR) return false; /* SQLite's errno may be overwritten */
    char wal[4200], journal[4200];
    snprintf(wal, sizeof wal, "%s-wal", kb->path);
    snprintf(journal, sizeof journal, "%s-journal", kb->path);
    const char *const files[] = {kb->path, wal, journal};
    return pl_file_no_room(files, 3, 65536, why, n);
}

/* Has the knowledge base's file system turned read-only under an open writer (a read-only
 * mount, or the kernel after an I/O error, which statvfs does not show): EROFS from SQLite, or
 * from opening the file for writing (no create, no truncate: nothing changes)? */
static bool fs_read_only(struct pl_qa_kb *kb, const char *path) {
    if (sqlite3_system_errno(kb->db) == EROFS) return true;
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
        close(fd);
        return false;
    }
    return errno == EROFS;
}

/* A failed SQLite call, naming the file. A file that cannot be written is not the caller's
 * fault: read-only -> PL_E_UNAVAILABLE, disk full (SQLITE_FULL, or EFBIG past RLIMIT_FSIZE,
 * ENOSPC, EDQUOT under an I/O error, or an I/O error while its files have no room left) ->
 * PL_E_EXHAUSTED. */
static pl_status db_err(struct pl_qa_kb *kb, int rc, const char *what) {
    char why[600];
    if ((rc & 0xff) == SQLITE_IOERR && fs_read_only(kb, kb->path))
        return PL_ERR(PL_E_UNAVAILABLE, "knowledge base %s is read-only: %s: %s (its file "
                      "system is read-only)", kb->path, what, sqlite3_errmsg(kb->db));
    if ((rc & 0xff) == SQLITE_READONLY)
        return PL_ERR(PL_E_UNAVAILABLE, "knowledge base %s is read-only: %s: %s", kb->path, what,
                      sqlite3_errmsg(kb->db));
    if (disk_full(kb, rc, why, sizeof why))
        return PL_ERR(PL_E_EXHAUSTED, "knowledge base %s: disk full: %s: %s (%s)", kb->path,
                      what, sqlite3_errmsg(kb->db), why);
    return PL_ERR(rc == SQLITE_NOMEM ? PL_E_NOMEM : PL_E_IO, "knowledge base %s: %s: %s",
                  kb->path, what, sqlite3_errmsg(kb->db));
}

/* Writes to a knowledge base opened for reading only are refused before they start. */
static pl_status check_writable(struct pl_qa_kb *kb) {
    if (!kb->read_only) return PL_OK;
    return PL_ERR(PL_E_UNAVAILABLE, "knowledge base %s is read-only (%s): documents cannot be "
                  "added or removed", kb->path, kb->read_only);
}

const char *pl_qa_kb_path(const char *path, char *buf, size_t n) {
    const char *state = getenv("PARLEY_STATE_DIR");
    if (path && !strcmp(path, "none"))
        snprintf(buf, n, "%s", "");
    else if (path && *path)
        snprintf(buf, n, "%s", path);
    else
        snprintf(buf, n, "%s/kb.sqlite", state && *state ? state : "state");
    return buf;
}

static const char schema[] =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=FULL;"
    "CREATE TABLE IF NOT EXISTS documents(id INTEGER PRIMARY KEY, name TEXT NOT NULL,"
    " added_ms INTEGER NOT NULL, bytes INTEGER NOT NULL, paragraphs INTEGER NOT NULL);"
    "CREATE VIRTUAL TABLE IF NOT EXISTS passages USING fts5(text, doc_id UNINDEXED,"
    " paragraph UNINDEXED, tokenize='porter unicode61');";

/* Open kb->path read-write (creating it) with its schema; SQLite's code, *err its message
 * (sqlite3_free). */
static int open_rw(struct pl_qa_kb *kb, char **err) {
    int rc = sqlite3_open_v2(kb->path, &kb->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                                                    SQLITE_OPEN_FULLMUTEX, NULL);
    if (rc != SQLITE_OK) {
        *err = sqlite3_mprintf("cannot open: %s", kb->db ? sqlite3_errmsg(kb->db)
                                                         : sqlite3_errstr(rc));
        return rc;
    }
    sqlite3_busy_timeout(kb->db, 5000); /* a writer in another process holds the lock briefly */
    return sqlite3_exec(kb->db, schema, NULL, NULL, err);
}

/* "file:" URI of path with mode=ro or immutable=1 (%, ? and # escaped). */
static char *ro_uri(const char *path, const char *param) {
    struct pl_strbuf sb;
    pl_strbuf_init(&sb);
    pl_strbuf_appendf(&sb, "file:");
    for (const char *p = path; *p; p++) {
        if (*p == '%' || *p == '?' || *p == '#') pl_strbuf_appendf(&sb, "%%%02X", (unsigned)*p);
        else pl_strbuf_appendf(&sb, "%c", *p);
    }
    pl_strbuf_appendf(&sb, "?%s", param);
    if (!sb.failed) return pl_strbuf_detach(&sb);
    pl_strbuf_deinit(&sb);
    return NULL;
}

/*
 * Open an existing knowledge base that cannot be written (file or directory read-only) for
 * reading only: mode=ro first, which sees the later commits of a writer (it needs the -wal
 * and -shm files, which a writer keeps); else immutable=1, for a WAL file in a read-only
 * directory without its -shm file: no process can write it then, so nothing changes under
 * the reader. The documents table must be there. why: the read-write open's error.
 */
static pl_status open_ro(struct pl_qa_kb *kb, const char *why) {
    static const char *const params[] = {"mode=ro", "immutable=1"};
    int rc = SQLITE_CANTOPEN;
    for (size_t i = 0; i < PL_ARRAY_LEN(params); i++) {
        sqlite3_close(kb->db);
        kb->db = NULL;
        char *uri = ro_uri(kb->path, params[i]);
        if (!uri) return PL_ERR(PL_E_NOMEM, "knowledge base");
        rc = sqlite3_open_v2(uri, &kb->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI |
                                               SQLITE_OPEN_FULLMUTEX, NULL);
        pl_free(uri);
        if (rc == SQLITE_OK)
            rc = sqlite3_exec(kb->db, "SELECT count(*) FROM documents", NULL, NULL, NULL);
        if (rc == SQLITE_OK) break;
    }
    if (rc != SQLITE_OK)
        return PL_ERR(PL_E_IO, "knowledge base %s: %s; read-only: %s", kb->path, why,
                      kb->db ? sqlite3_errmsg(kb->db) : sqlite3_errstr(rc));
    sqlite3_busy_timeout(kb->db, 5000);
    kb->read_only = pl_strdup(why);
    return kb->read_only ? PL_OK : PL_ERR(PL_E_NOMEM, "knowledge base");
}

pl_status pl_qa_kb_open(const char *path, struct pl_qa_kb **out) {
    *out = NULL;
    if (!path || !*path) return PL_ERR(PL_E_INVALID_ARG, "knowledge base: no path");
    /* the directory the file goes in (one level), e.g. state/ on a fresh checkout */
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        if (mkdir(dir, 0755) != 0 && errno != EEXIST)
            return PL_ERR(PL_E_IO, "knowledge base %s: cannot create %s: %s", path, dir,
                          strerror(errno));
    }
    struct pl_qa_kb *kb = pl_calloc(1, sizeof *kb);
    if (!kb || !(kb->path = pl_strdup(path))) {
        pl_free(kb);
        return PL_ERR(PL_E_NOMEM, "knowledge base");
    }
    pthread_mutex_init(&kb->lock, NULL);
    pl_status st = PL_OK;
    char *err = NULL;
    int rc = open_rw(kb, &err);
    const char *why = err ? err : sqlite3_errstr(rc);
    struct stat sb;
    bool exists = stat(path, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size > 0;
    if (rc == SQLITE_OK && sqlite3_db_readonly(kb->db, "main") == 1)
        st = open_ro(kb, "the file is not writable");
    else if (exists && ((rc & 0xff) == SQLITE_READONLY || (rc & 0xff) == SQLITE_CANTOPEN ||
                        (rc & 0xff) == SQLITE_PERM))
        st = open_ro(kb, why);
    else if (rc != SQLITE_OK)
        st = PL_ERR(rc == SQLITE_NOTADB ? PL_E_FORMAT : PL_E_IO, "knowledge base %s: %s", path,
                    why);
    sqlite3_free(err);
    if (st != PL_OK) goto fail;
    *out = kb;
    return PL_OK;
fail:
    pl_qa_kb_close(kb);
    return st;
}

const char *pl_qa_kb_read_only(const struct pl_qa_kb *kb) { return kb->read_only; }

void pl_qa_kb_close(struct pl_qa_kb *kb) {
    if (!kb) return;
    sqlite3_close(kb->db);
    pthread_mutex_destroy(&kb->lock);
    pl_free(kb->path);
    pl_free(kb->read_only);
    pl_free(kb);
}

/* ---- paragraphs ------------------------------------------------------------------------ */

/* Is text[i..end) a blank line (only spaces/tabs before '\n' or the end)? */
static bool blank_line(const char *p, const char *end) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r')) p++;
    return p == end || *p == '\n';
}

typedef pl_status (*para_fn)(void *ud, const char *p, size_t n);

/* Emit one paragraph, trimmed, cut at whitespace into pieces of at most MAX_PARAGRAPH bytes
 * (a cut never splits a UTF-8 sequence: it falls on an ASCII space or newline). */
static pl_status emit(const char *p, const char *e, para_fn fn, void *ud) {
    while (p < e && isspace((unsigned char)*p)) p++;
    while (e > p && isspace((unsigned char)e[-1])) e--;
    while (p < e) {
        const char *cut = e;
        if (e - p > MAX_PARAGRAPH) {
            cut = p + MAX_PARAGRAPH;
            while (cut > p && !isspace((unsigned char)*cut)) cut--;
            if (cut == p) { /* no whitespace: cut at a UTF-8 boundary */
                cut = p + MAX_PARAGRAPH;
                while (cut > p && ((unsigned char)*cut & 0xC0) == 0x80) cut--;
            }
        }
        PL_TRY(fn(ud, p, (size_t)(cut - p)));
        p = cut;
        while (p < e && isspace((unsigned char)*p)) p++;
    }
    return PL_OK;
}

/* Paragraphs of a document: blank lines separate them; a Markdown heading line ("# ...")
 * starts a new one (and stays with the text under it). */
static pl_status paragraphs(const char *text, size_t len, para_fn fn, void *ud) {
    const char *end = text + len, *start = text, *p = text;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *next = nl ? nl + 1 : end;
        bool heading = *p == '#';
        if (heading && p > start) {
            PL_TRY(emit(start, p, fn, ud));
            start = p;
        }
        if (blank_line(p, end)) {
            PL_TRY(emit(start, p, fn, ud));
            start = next;
        }
        p = next;
    }
    return emit(start, end, fn, ud);
}

struct add_ctx {
    struct pl_qa_kb *kb;
    sqlite3_stmt *ins;
    int64_t doc;
    int n;
};

static pl_status add_para(void *ud, const char *p, size_t n) {
    struct add_ctx *a = ud;
    sqlite3_reset(a->ins);
    sqlite3_bind_text(a->ins, 1, p, (int)n, SQLITE_TRANSIENT);
    sqlite3_bind_int64(a->ins, 2, a->doc);
    sqlite3_bind_int(a->ins, 3, a->n);
    int rc = sqlite3_step(a->ins);
    if (rc != SQLITE_DONE) return db_err(a->kb, rc, "insert a passage");
    a->n++;
    return PL_OK;
}

static bool utf8_ok(const char *s, size_t n) {
    const unsigned char *p = (const unsigned char *)s, *e = p + n;
    while (p < e) {
        unsigned c = *p;
        int k = c < 0x80 ? 0 : (c >> 5) == 6 ? 1 : (c >> 4) == 14 ? 2 : (c >> 3) == 30 ? 3 : -1;
        if (k < 0 || e - p <= k) return false;
        for (int i = 1; i <= k; i++)
            if ((p[i] & 0xC0) != 0x80) return false;
        p += k + 1;
    }
    return true;
}

pl_status pl_qa_kb_add(struct pl_qa_kb *kb, const char *name, const char *text, size_t len,
                       int64_t *id, int *n_paragraphs) {
    if (!kb || !name || !*name || !text)
        return PL_ERR(PL_E_INVALID_ARG, "knowledge base add: no document or name");
    if (!utf8_ok(text, len)) return PL_ERR(PL_E_INVALID_ARG, "document %s is not valid UTF-8", name);
    PL_TRY(check_writable(kb));
    pthread_mutex_lock(&kb->lock);
    pl_status st = PL_OK;
    sqlite3_stmt *doc = NULL, *upd = NULL;
    struct add_ctx a = {kb, NULL, 0, 0};
    int rc = sqlite3_exec(kb->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        st = db_err(kb, rc, "begin");
        goto out;
    }
    if ((rc = sqlite3_prepare_v2(kb->db, "INSERT INTO documents(name, added_ms, bytes, paragraphs)"
                                         " VALUES(?, ?, ?, 0)", -1, &doc, NULL)) != SQLITE_OK ||
        (rc = sqlite3_prepare_v2(kb->db, "INSERT INTO passages(text, doc_id, paragraph)"
                                         " VALUES(?, ?, ?)", -1, &a.ins, NULL)) != SQLITE_OK ||
        (rc = sqlite3_prepare_v2(kb->db, "UPDATE documents SET paragraphs = ? WHERE id = ?", -1,
                                 &upd, NULL)) != SQLITE_OK) {
        st = db_err(kb, rc, "prepare");
        goto rollback;
    }
    sqlite3_bind_text(doc, 1, name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(doc, 2, pl_time_wall_ms());
    sqlite3_bind_int64(doc, 3, (sqlite3_int64)len);
    if ((rc = sqlite3_step(doc)) != SQLITE_DONE) {
        st = db_err(kb, rc, "insert a document");
        goto rollback;
    }
    a.doc = sqlite3_last_insert_rowid(kb->db);
    PL_TRY_GOTO(st, paragraphs(text, len, add_para, &a));
    if (a.n == 0) {
        st = PL_ERR(PL_E_INVALID_ARG, "document %s has no text", name);
        goto rollback;
    }
    sqlite3_bind_int(upd, 1, a.n);
    sqlite3_bind_int64(upd, 2, a.doc);
    if ((rc = sqlite3_step(upd)) != SQLITE_DONE) {
        st = db_err(kb, rc, "update a document");
        goto rollback;
    }
    if ((rc = sqlite3_exec(kb->db, "COMMIT", NULL, NULL, NULL)) != SQLITE_OK) {
        st = db_err(kb, rc, "commit");
        goto rollback;
    }
    if (id) *id = a.doc;
    if (n_paragraphs) *n_paragraphs = a.n;
    goto out;
fail:
rollback:
    sqlite3_exec(kb->db, "ROLLBACK", NULL, NULL, NULL);
out:
    sqlite3_finalize(doc);
    sqlite3_finalize(a.ins);
    sqlite3_finalize(upd);
    pthread_mutex_unlock(&kb->lock);
    return st;
}

pl_status pl_qa_kb_remove(struct pl_qa_kb *kb, int64_t id) {
    if (!kb) return PL_ERR(PL_E_INVALID_ARG, "knowledge base remove: NULL");
    PL_TRY(check_writable(kb));
    pthread_mutex_lock(&kb->lock);
    pl_status st = PL_OK;
    sqlite3_stmt *del = NULL, *dp = NULL;
    int rc = sqlite3_exec(kb->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        st = db_err(kb, rc, "begin");
        goto out;
    }
    if ((rc = sqlite3_prepare_v2(kb->db, "DELETE FROM documents WHERE id = ?", -1, &del, NULL)) !=
            SQLITE_OK ||
        (rc = sqlite3_prepare_v2(kb->db, "DELETE FROM passages WHERE doc_id = ?", -1, &dp, NULL)) !=
            SQLITE_OK) {
        st = db_err(kb, rc, "prepare");
        goto rollback;
    }
    sqlite3_bind_int64(del, 1, id);
    if ((rc = sqlite3_step(del)) != SQLITE_DONE) {
        st = db_err(kb, rc, "delete a document");
        goto rollback;
    }
    if (sqlite3_changes(kb->db) == 0) {
        st = PL_ERR(PL_E_NOT_FOUND, "knowledge base %s has no document %lld", kb->path,
                    (long long)id);
        goto rollback;
    }
    sqlite3_bind_int64(dp, 1, id);
    if ((rc = sqlite3_step(dp)) != SQLITE_DONE) {
        st = db_err(kb, rc, "delete passages");
        goto rollback;
    }
    if ((rc = sqlite3_exec(kb->db, "COMMIT", NULL, NULL, NULL)) != SQLITE_OK) {
        st = db_err(kb, rc, "commit");
        goto rollback;
    }
    goto out;
rollback:
    sqlite3_exec(kb->db, "ROLLBACK", NULL, NULL, NULL);
out:
    sqlite3_finalize(del);
    sqlite3_finalize(dp);
    pthread_mutex_unlock(&kb->lock);
    return st;
}

void pl_qa_kb_docs_free(struct pl_qa_kb_doc *docs, int n) {
    for (int i = 0; docs && i < n; i++) pl_free(docs[i].name);
    pl_free(docs);
}

pl_status pl_qa_kb_list(struct pl_qa_kb *kb, struct pl_qa_kb_doc **docs, int *n) {
    *docs = NULL;
    *n = 0;
    pthread_mutex_lock(&kb->lock);
    pl_status st = PL_OK;
    sqlite3_stmt *q = NULL;
    struct pl_qa_kb_doc *v = NULL;
    int nv = 0, cap = 0, rc;
    if ((rc = sqlite3_prepare_v2(kb->db, "SELECT id, name, added_ms, bytes, paragraphs FROM "
                                         "documents ORDER BY id", -1, &q, NULL)) != SQLITE_OK) {
        st = db_err(kb, rc, "list");
        goto out;
    }
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (nv == cap) {
            cap = cap ? cap * 2 : 16;
            struct pl_qa_kb_doc *nd = pl_realloc(v, sizeof *nd * (size_t)cap);
            if (!nd) {
                st = PL_ERR(PL_E_NOMEM, "knowledge base list");
                goto out;
            }
            v = nd;
        }
        struct pl_qa_kb_doc *d = &v[nv];
        d->id = sqlite3_column_int64(q, 0);
        d->name = pl_strdup((const char *)sqlite3_column_text(q, 1));
        d->added_ms = sqlite3_column_int64(q, 2);
        d->bytes = sqlite3_column_int64(q, 3);
        d->paragraphs = sqlite3_column_int(q, 4);
        if (!d->name) {
            st = PL_ERR(PL_E_NOMEM, "knowledge base list");
            goto out;
        }
        nv++;
    }
    if (rc != SQLITE_DONE) st = db_err(kb, rc, "list");
out:
    sqlite3_finalize(q);
    pthread_mutex_unlock(&kb->lock);
    if (st != PL_OK) {
        pl_qa_kb_docs_free(v, nv);
        return st;
    }
    *docs = v;
    *n = nv;
    return PL_OK;
}

void pl_qa_passages_free(struct pl_qa_passage *p, int n) {
    for (int i = 0; p && i < n; i++) pl_free(p[i].text);
    pl_free(p);
}

/* The query's words as an FTS5 expression: "w1" OR "w2" ... (letters and digits only, so no
 * user text reaches the FTS5 syntax). */
static pl_status fts_query(const char *q, struct pl_strbuf *sb) {
    const unsigned char *p = (const unsigned char *)q;
    while (*p) {
        while (*p && !(isalnum(*p) || *p >= 0x80)) p++;
        const unsigned char *w = p;
        while (*p && (isalnum(*p) || *p >= 0x80)) p++;
        if (p > w) pl_strbuf_appendf(sb, "%s\"%.*s\"", sb->len ? " OR " : "", (int)(p - w), w);
    }
    return sb->failed ? PL_ERR(PL_E_NOMEM, "knowledge base query") : PL_OK;
}

pl_status pl_qa_kb_search(struct pl_qa_kb *kb, const char *query, int k,
                          struct pl_qa_passage **out, int *n) {
    *out = NULL;
    *n = 0;
    if (!kb || !query || k < 1) return PL_ERR(PL_E_INVALID_ARG, "knowledge base search: bad arguments");
    struct pl_strbuf fq;
    pl_strbuf_init(&fq);
    PL_TRY(fts_query(query, &fq));
    if (fq.len == 0) {
        pl_strbuf_deinit(&fq);
        return PL_OK;
    }
    pthread_mutex_lock(&kb->lock);
    pl_status st = PL_OK;
    sqlite3_stmt *q = NULL;
    struct pl_qa_passage *v = pl_calloc((size_t)k, sizeof *v);
    int nv = 0, rc;
    if (!v) {
        st = PL_ERR(PL_E_NOMEM, "knowledge base search");
        goto out;
    }
    if ((rc = sqlite3_prepare_v2(kb->db, "SELECT doc_id, paragraph, text, bm25(passages) FROM "
                                         "passages WHERE passages MATCH ? ORDER BY bm25(passages)"
                                         " LIMIT ?", -1, &q, NULL)) != SQLITE_OK) {
        st = db_err(kb, rc, "search");
        goto out;
    }
    sqlite3_bind_text(q, 1, fq.data, (int)fq.len, SQLITE_STATIC);
    sqlite3_bind_int(q, 2, k);
    while (nv < k && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        struct pl_qa_passage *p = &v[nv];
        p->doc_id = sqlite3_column_int64(q, 0);
        p->paragraph = sqlite3_column_int(q, 1);
        p->len = (size_t)sqlite3_column_bytes(q, 2);
        p->text = pl_strndup((const char *)sqlite3_column_text(q, 2), p->len);
        p->score = -sqlite3_column_double(q, 3); /* bm25() is smaller for better matches */
        if (!p->text) {
            st = PL_ERR(PL_E_NOMEM, "knowledge base search");
            goto out;
        }
        nv++;
    }
    if (nv < k && rc != SQLITE_DONE) st = db_err(kb, rc, "search");
out:
    sqlite3_finalize(q);
    pthread_mutex_unlock(&kb->lock);
    pl_strbuf_deinit(&fq);
    if (st != PL_OK) {
        pl_qa_passages_free(v, nv);
        return st;
    }
    *out = v;
    *n = nv;
    return PL_OK;
}
