/*
 * dialog_store.c - the dialog state in SQLite (dialog.h). Schema (docs/dialog.md, "State"):
 *
 *   schema_version(version)                          one row: the migrations applied
 *   users(user_id PK, created_ms)
 *   sessions(session_id PK, user_id, dialog, language, state, created_ms, last_active_ms,
 *            ended_ms, metadata JSON, last_seq, next_activation)
 *   contexts(context_id PK, session_id, user_id, name, flow, awaiting, state, activated,
 *            turn_count, fallbacks, created_ms, updated_ms)
 *   slots(context_id, name, value)                   PK (context_id, name)
 *   events(session_id, seq, user_id, context_id, turn, time_ms, kind, data JSON)
 *                                                    PK (session_id, seq): append-only
 *   records(id PK, user_id, kind, data JSON, state, created_ms, cancelled_ms)   (version 2)
 *
 * Every statement that reads or writes a session names its user_id too, so a session id of
 * another user finds nothing (NOT_FOUND), never the other user's data.
 *
 * Durability: WAL journal, synchronous=NORMAL. A commit is in the WAL file (write(2) done)
 * when it returns, so a crash of the process (kill -9) loses nothing committed. With
 * sync_full a write call also returns only once the WAL file has been fsynced after its
 * commit, so a power loss or a file system turned read-only loses nothing either: a group
 * commit (durable()), where the first writer to find no fsync running syncs every commit
 * made so far and the writers behind it wait for that one or the next, outside the store's
 * lock. synchronous=FULL would fsync inside the lock, one commit at a time (about 3 ms each
 * on the development VM's disk: a ceiling near 300 turns/s). One connection under a mutex:
 * SQLite allows one writer at a time anyway, and a turn's statements take tens of
 * microseconds.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "alloc.h"
#include "dialog_impl.h"
#include "file.h"
#include "strbuf.h"
#include "util.h"

static const char *const migrations[] = {
    /* 1: users, sessions, contexts, slots, the event log */
    "CREATE TABLE users(user_id TEXT PRIMARY KEY, created_ms INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE sessions(session_id TEXT PRIMARY KEY, user_id TEXT NOT NULL,"
    " dialog TEXT NOT NULL, language TEXT NOT NULL, state INTEGER NOT NULL,"
    " created_ms INTEGER NOT NULL, last_active_ms INTEGER NOT NULL,"
    " ended_ms INTEGER NOT NULL DEFAULT 0, metadata TEXT NOT NULL DEFAULT '{}',"
    " last_seq INTEGER NOT NULL DEFAULT 0, next_activation INTEGER NOT NULL DEFAULT 1)"
    " WITHOUT ROWID;"
    "CREATE INDEX sessions_user ON sessions(user_id);"
    "CREATE TABLE contexts(context_id TEXT PRIMARY KEY, session_id TEXT NOT NULL,"
    " user_id TEXT NOT NULL, name TEXT NOT NULL, flow TEXT NOT NULL, awaiting TEXT NOT NULL,"
    " state INTEGER NOT NULL, activated INTEGER NOT NULL, turn_count INTEGER NOT NULL,"
    " fallbacks INTEGER NOT NULL, created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL)"
    " WITHOUT ROWID;"
    "CREATE INDEX contexts_session ON contexts(session_id);"
    "CREATE TABLE slots(context_id TEXT NOT NULL, name TEXT NOT NULL, value TEXT NOT NULL,"
    " PRIMARY KEY(context_id, name)) WITHOUT ROWID;"
    "CREATE TABLE events(session_id TEXT NOT NULL, seq INTEGER NOT NULL, user_id TEXT NOT NULL,"
    " context_id TEXT NOT NULL, turn INTEGER NOT NULL, time_ms INTEGER NOT NULL,"
    " kind INTEGER NOT NULL, data TEXT NOT NULL, PRIMARY KEY(session_id, seq)) WITHOUT ROWID;",
    /* 2: per-user records (bookings, playlist entries); retention by end time */
    "CREATE TABLE records(id INTEGER PRIMARY KEY, user_id TEXT NOT NULL, kind TEXT NOT NULL,"
    " data TEXT NOT NULL, state INTEGER NOT NULL DEFAULT 1, created_ms INTEGER NOT NULL,"
    " cancelled_ms INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX records_user ON records(user_id, kind, state);"
    "CREATE INDEX sessions_ended ON sessions(state, ended_ms);",
};

int pl_dlg_store_latest_version(void) { return (int)PL_ARRAY_LEN(migrations); }

/* Prepared statements kept for reuse, keyed by their SQL text: compiling a statement cost
 * more than running it (a turn runs about a dozen). */
#define STMT_CACHE 48

struct pl_dlg_store {
    sqlite3 *db;
    pthread_mutex_t lock;
    char *path;
    int version;
    int shard; /* new session ids begin with its two hex digits; -1 = random ids */
    struct {
        char *sql;
        sqlite3_stmt *q;
        bool busy; /* handed out by prepare(), not yet given back by done() */
    } stmts[STMT_CACHE];
    int n_stmts;
    /* group commit (sync_full): commits counted under `lock`; the WAL file's descriptor and
     * the count known durable under `sync_lock` */
    bool sync_full;
    _Atomic uint64_t commits;
    pthread_mutex_t sync_lock;
    pthread_cond_t synced_cond;
    bool syncing;
    uint64_t synced, fsyncs;
    int wal_fd; /* -1 until the first sync */
};

/* Is this failure the file system refusing to grow a file of the store: SQLITE_FULL
 * (ENOSPC), an I/O error whose errno says so (EFBIG past the process's RLIMIT_FSIZE,
 * EDQUOT), or an I/O error while the store's files have no room left (SQLite's errno is often
 * overwritten by the rollback that follows the failed write)? OUT: why. */
static bool disk_full(struct pl_dlg_store *st, int rc, char *why, size_t n) {
    int en = sqlite3_system_errno(st->db);
    if ((rc & 0xff) == SQLITE_FULL ||
        ((rc & 0xff) == SQLITE_IOERR && (en == ENOSPC || en == EFBIG || en == EDQUOT))) {
        snprintf(why, n, "%s", strerror((rc & 0xff) == SQLITE_FULL ? ENOSPC : en));
        return true;
    }
    if ((rc & 0xff) != SQLITE_IOERR) return false;
    char wal[4200], journal[4200];
    snprintf(wal, sizeof wal, "%s-wal", st->path);
    snprintf(journal, sizeof journal, "%s-journal", st->path);
    const char *const files[] = {st->path, wal, journal};
    return pl_file_no_room(files, 3, 65536, why, n);
}

/* Is the store's file system read-only: mounted so, or turned so by the kernel after an I/O
 * error (ext4's errors=remount-ro, which shows as "emergency_ro", not in statvfs)? Writes
 * through descriptors opened before then fail with EROFS, which SQLite reports as a plain I/O
 * error (and its errno may be the rollback's). Opening for writing (no create, no truncate)
 * changes nothing and says EROFS. */
static bool fs_read_only(const char *path) {
    struct statvfs vfs;
    if (statvfs(path, &vfs) == 0 && (vfs.f_flag & ST_RDONLY)) return true;
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
        close(fd);
        return false;
    }
    return errno == EROFS;
}

/* The status of a failed SQLite call, its message naming the store (and `what` was done,
 * when given). A store that cannot be written is not the request's fault: read-only ->
 * PL_E_UNAVAILABLE "... is read-only", disk full -> PL_E_EXHAUSTED "... disk full"; the
 * service ends the request with that status. detail: SQLite's message. */
static pl_status store_err(struct pl_dlg_store *st, int rc, const char *what, const char *detail) {
    const char *sep = what ? ": " : "";
    if (!what) what = "";
    if ((rc & 0xff) == SQLITE_IOERR &&
        (sqlite3_system_errno(st->db) == EROFS || fs_read_only(st->path)))
        return PL_ERR(PL_E_UNAVAILABLE, "dialog store %s is read-only: %s%s%s (its file system "
                      "is read-only)", st->path, what, sep, detail);
    if ((rc & 0xff) == SQLITE_READONLY)
        return PL_ERR(PL_E_UNAVAILABLE, "dialog store %s is read-only: %s%s%s (the file or its "
                      "directory is not writable)", st->path, what, sep, detail);
    char why[600];
    if (disk_full(st, rc, why, sizeof why))
        return PL_ERR(PL_E_EXHAUSTED, "dialog store %s: disk full: %s%s%s (%s)", st->path, what,
                      sep, detail, why);
    pl_status s = rc == SQLITE_NOTADB ? PL_E_FORMAT : rc == SQLITE_NOMEM ? PL_E_NOMEM : PL_E_IO;
    return PL_ERR(s, "dialog store %s: %s%s%s", st->path, what, sep, detail);
}

static pl_status db_err(struct pl_dlg_store *st, int rc, const char *what) {
    return store_err(st, rc, what, sqlite3_errmsg(st->db));
}

static pl_status exec(struct pl_dlg_store *st, const char *sql) {
    char *err = NULL;
    int rc = sqlite3_exec(st->db, sql, NULL, NULL, &err);
    if (rc == SQLITE_OK) return PL_OK;
    pl_status s = store_err(st, rc, NULL, err ? err : sqlite3_errstr(rc));
    sqlite3_free(err);
    return s;
}

/* A statement for sql: the cached one when it is free, else a new one (cached while there is
 * room). Give it back with done(). Callers hold st->lock (or own st alone, at open). */
static pl_status prepare(struct pl_dlg_store *st, const char *sql, sqlite3_stmt **out) {
    for (int i = 0; i < st->n_stmts; i++)
        if (!st->stmts[i].busy && !strcmp(st->stmts[i].sql, sql)) {
            st->stmts[i].busy = true;
            *out = st->stmts[i].q;
            return PL_OK;
        }
    int rc = sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, out, NULL);
    if (rc != SQLITE_OK) return db_err(st, rc, "prepare");
    if (st->n_stmts < STMT_CACHE) {
        char *copy = pl_strdup(sql);
        if (copy) {
            st->stmts[st->n_stmts].sql = copy;
            st->stmts[st->n_stmts].q = *out;
            st->stmts[st->n_stmts++].busy = true;
        }
    }
    return PL_OK;
}

/* Give back a statement from prepare(): reset for the next use, or finalized when uncached. */
static void done(struct pl_dlg_store *st, sqlite3_stmt *q) {
    for (int i = 0; i < st->n_stmts; i++)
        if (st->stmts[i].q == q) {
            sqlite3_reset(q);
            sqlite3_clear_bindings(q);
            st->stmts[i].busy = false;
            return;
        }
    sqlite3_finalize(q);
}

static void bind_text(sqlite3_stmt *s, int i, const char *v) {
    sqlite3_bind_text(s, i, v ? v : "", -1, SQLITE_TRANSIENT);
}

/* Run a statement that returns no rows; give it back. */
static pl_status run(struct pl_dlg_store *st, sqlite3_stmt *s, const char *what) {
    int rc = sqlite3_step(s);
    done(st, s);
    return rc == SQLITE_DONE ? PL_OK : db_err(st, rc, what);
}

/* ---- open and migrate ----------------------------------------------------------------------- */

static pl_status read_version(struct pl_dlg_store *st, int *v) {
    *v = 0;
    sqlite3_stmt *s = NULL;
    PL_TRY(prepare(st, "SELECT (SELECT count(*) FROM sqlite_master WHERE name='schema_version'),"
                       " (SELECT count(*) FROM sqlite_master)", &s));
    int rc = sqlite3_step(s);
    int has = rc == SQLITE_ROW ? sqlite3_column_int(s, 0) : 0;
    int any = rc == SQLITE_ROW ? sqlite3_column_int(s, 1) : 0;
    done(st, s);
    if (rc != SQLITE_ROW) return db_err(st, rc, "read the schema");
    if (!has && any)
        return PL_ERR(PL_E_FORMAT, "dialog store %s: the file holds other tables, not a dialog "
                      "store", st->path);
    if (!has) return PL_OK;
    PL_TRY(prepare(st, "SELECT version FROM schema_version", &s));
    if (sqlite3_step(s) == SQLITE_ROW) *v = sqlite3_column_int(s, 0);
    done(st, s);
    return PL_OK;
}

/* Apply the migrations after version `from`, each in its own transaction with the version. */
static pl_status migrate(struct pl_dlg_store *st, int from, int to) {
    for (int v = from; v < to; v++) {
        PL_TRY(exec(st, "BEGIN IMMEDIATE"));
        pl_status s = exec(st, migrations[v]);
        if (s == PL_OK && v == 0)
            s = exec(st, "CREATE TABLE schema_version(version INTEGER NOT NULL);"
                         "INSERT INTO schema_version VALUES(0)");
        char sql[64];
        snprintf(sql, sizeof sql, "UPDATE schema_version SET version=%d", v + 1);
        if (s == PL_OK) s = exec(st, sql);
        if (s == PL_OK) s = exec(st, "COMMIT");
        if (s != PL_OK) {
            sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
            return s;
        }
    }
    st->version = to > from ? to : from;
    return PL_OK;
}

static pl_status make_dir(const char *path) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir) return PL_OK;
    *slash = '\0';
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return PL_ERR(PL_E_IO, "dialog store %s: cannot create %s: %s", path, dir,
                      strerror(errno));
    return PL_OK;
}

/* Open path read-write (created when missing) in WAL mode; OUT: *v the schema version. */
static pl_status open_rw(struct pl_dlg_store *st, const struct pl_dlg_store_opts *o, int *v) {
    int rc = sqlite3_open_v2(st->path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                                                    SQLITE_OPEN_FULLMUTEX, NULL);
    if (rc != SQLITE_OK)
        return PL_ERR(PL_E_IO, "dialog store %s: cannot open: %s", st->path,
                      st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
    sqlite3_busy_timeout(st->db, o->busy_timeout_ms > 0 ? o->busy_timeout_ms : 5000);
    PL_TRY(exec(st, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL"));
    st->sync_full = o->sync_full; /* durable(): one fsync for the commits made meanwhile */
    return read_version(st, v);
}

/* Can the existing, non-empty store at path not be written (file, directory or file system
 * read-only)? */
static bool unwritable(const char *path) {
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size == 0) return false;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
    return access(path, W_OK) != 0 || access(slash ? (dir[0] ? dir : "/") : ".", W_OK) != 0;
}

/* The read-write open failed on a store that cannot be written: open it for reading (history
 * answers, writes are refused as read-only). mode=ro needs the -shm file a writer leaves;
 * immutable=1 reads a WAL store in a read-only directory without it (nothing can write it
 * then). OUT: *v. */
static pl_status open_ro(struct pl_dlg_store *st, const char *why, int *v) {
    static const char *const params[] = {"mode=ro", "immutable=1"};
    pl_status s = PL_OK;
    for (size_t i = 0; i < PL_ARRAY_LEN(params); i++) {
        sqlite3_close(st->db);
        st->db = NULL;
        struct pl_strbuf uri; /* file:PATH?PARAM, with %, ? and # of the path escaped */
        pl_strbuf_init(&uri);
        pl_strbuf_append(&uri, "file:");
        for (const char *p = st->path; *p; p++)
            if (*p == '%' || *p == '?' || *p == '#')
                pl_strbuf_appendf(&uri, "%%%02X", (unsigned)*p);
            else
                pl_strbuf_append_char(&uri, *p);
        pl_strbuf_appendf(&uri, "?%s", params[i]);
        if (uri.failed) {
            pl_strbuf_deinit(&uri);
            return PL_ERR(PL_E_NOMEM, "dialog store");
        }
        int rc = sqlite3_open_v2(uri.data, &st->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI |
                                                        SQLITE_OPEN_FULLMUTEX, NULL);
        pl_strbuf_deinit(&uri);
        if (rc == SQLITE_OK) sqlite3_busy_timeout(st->db, 5000);
        s = rc == SQLITE_OK ? read_version(st, v)
                            : PL_ERR(PL_E_IO, "%s", st->db ? sqlite3_errmsg(st->db)
                                                            : sqlite3_errstr(rc));
        if (s == PL_OK) return PL_OK;
    }
    char last[600];
    snprintf(last, sizeof last, "%s", pl_last_error());
    return PL_ERR(s, "dialog store %s: %s; read-only: %s", st->path, why, last);
}

pl_status pl_dlg_store_open(const char *path, const struct pl_dlg_store_opts *o,
                            struct pl_dlg_store **out) {
    *out = NULL;
    static const struct pl_dlg_store_opts defaults = PL_DLG_STORE_OPTS_INIT;
    if (!o) o = &defaults;
    if (!path || !*path) return PL_ERR(PL_E_INVALID_ARG, "dialog store: no path");
    PL_TRY(make_dir(path));
    struct pl_dlg_store *st = pl_calloc(1, sizeof *st);
    if (!st || !(st->path = pl_strdup(path))) {
        pl_free(st);
        return PL_ERR(PL_E_NOMEM, "dialog store");
    }
    pthread_mutex_init(&st->lock, NULL);
    pthread_mutex_init(&st->sync_lock, NULL);
    pthread_cond_init(&st->synced_cond, NULL);
    st->wal_fd = -1;
    st->shard = -1;
    if (o->sharded && o->shard >= 0 && o->shard <= 255) st->shard = o->shard;
    int v = 0, latest = pl_dlg_store_latest_version();
    pl_status s = open_rw(st, o, &v);
    if (s != PL_OK && unwritable(path)) {
        char why[600];
        snprintf(why, sizeof why, "%s", pl_last_error());
        s = open_ro(st, why, &v);
    }
    if (s != PL_OK) goto fail;
    if (v > latest) {
        s = PL_ERR(PL_E_FORMAT, "dialog store %s: schema version %d is newer than this build's "
                   "(%d)", path, v, latest);
        goto fail;
    }
    int to = o->max_version > 0 && o->max_version < latest ? o->max_version : latest;
    PL_TRY_GOTO(s, migrate(st, v, to));
    *out = st;
    return PL_OK;
fail:
    pl_dlg_store_close(st);
    return s;
}

void pl_dlg_store_close(struct pl_dlg_store *st) {
    if (!st) return;
    for (int i = 0; i < st->n_stmts; i++) {
        sqlite3_finalize(st->stmts[i].q);
        pl_free(st->stmts[i].sql);
    }
    sqlite3_close(st->db);
    if (st->wal_fd >= 0) close(st->wal_fd);
    pthread_mutex_destroy(&st->lock);
    pthread_mutex_destroy(&st->sync_lock);
    pthread_cond_destroy(&st->synced_cond);
    pl_free(st->path);
    pl_free(st);
}

int pl_dlg_store_version(struct pl_dlg_store *st) { return st->version; }

void pl_dlg_store_sync_stats(struct pl_dlg_store *st, uint64_t *commits, uint64_t *synced,
                             uint64_t *fsyncs) {
    pthread_mutex_lock(&st->sync_lock);
    if (commits) *commits = atomic_load(&st->commits);
    if (synced) *synced = st->synced;
    if (fsyncs) *fsyncs = st->fsyncs;
    pthread_mutex_unlock(&st->sync_lock);
}
const char *pl_dlg_store_path(const struct pl_dlg_store *st) { return st->path; }
bool pl_dlg_store_read_only(struct pl_dlg_store *st) {
    return sqlite3_db_readonly(st->db, "main") == 1;
}

/* ---- sessions ------------------------------------------------------------------------------- */

static pl_status tx_begin(struct pl_dlg_store *st) { return exec(st, "BEGIN IMMEDIATE"); }

/* Commit (or roll back) the transaction; under st->lock. OUT: *seq the commit's number for
 * durable(). */
static pl_status tx_end(struct pl_dlg_store *st, pl_status s, uint64_t *seq) {
    if (s == PL_OK) s = exec(st, "COMMIT");
    if (s != PL_OK) sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    else *seq = atomic_fetch_add(&st->commits, 1) + 1; /* after its write(2) to the WAL */
    return s;
}

/* fdatasync the WAL file (and, the first time, the directory that holds it, so that the file
 * itself survives). Called with sync_lock released. */
static pl_status sync_wal(struct pl_dlg_store *st, int fd) {
    if (fdatasync(fd) == 0) return PL_OK;
    int en = errno;
    if (en == ENOSPC || en == EDQUOT)
        return PL_ERR(PL_E_EXHAUSTED, "dialog store %s: disk full: fsync of the WAL: %s",
                      st->path, strerror(en));
    if (en == EROFS || fs_read_only(st->path))
        return PL_ERR(PL_E_UNAVAILABLE, "dialog store %s is read-only: fsync of the WAL: %s "
                      "(its file system is read-only)", st->path, strerror(en));
    return PL_ERR(PL_E_IO, "dialog store %s: fsync of the WAL: %s", st->path, strerror(en));
}

static pl_status open_wal(struct pl_dlg_store *st) {
    char wal[4200];
    snprintf(wal, sizeof wal, "%s-wal", st->path);
    int fd = open(wal, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return PL_ERR(PL_E_IO, "dialog store %s: open %s: %s", st->path, wal,
                              strerror(errno));
    char dir[4200];
    snprintf(dir, sizeof dir, "%s", st->path);
    char *slash = strrchr(dir, '/');
    if (slash) *(slash == dir ? slash + 1 : slash) = '\0';
    int dfd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd); /* best effort: some file systems refuse a directory fsync */
        close(dfd);
    }
    st->wal_fd = fd;
    return PL_OK;
}

/* With sync_full: return once commit seq is on disk. The first caller to find no fsync
 * running becomes the leader: it syncs everything committed so far (every commit up to
 * st->commits was written to the WAL by then) and wakes the others, who either were covered
 * or lead the next round. Without sync_full: PL_OK at once. */
static pl_status durable(struct pl_dlg_store *st, uint64_t seq) {
    if (!st->sync_full) return PL_OK;
    pl_status r = PL_OK;
    pthread_mutex_lock(&st->sync_lock);
    while (st->synced < seq && r == PL_OK) {
        if (st->syncing) {
            pthread_cond_wait(&st->synced_cond, &st->sync_lock);
            continue;
        }
        st->syncing = true;
        pthread_mutex_unlock(&st->sync_lock);
        uint64_t upto = atomic_load(&st->commits);
        r = st->wal_fd >= 0 ? PL_OK : open_wal(st);
        if (r == PL_OK) r = sync_wal(st, st->wal_fd);
        pthread_mutex_lock(&st->sync_lock);
        st->syncing = false;
        st->fsyncs++;
        if (r == PL_OK && upto > st->synced) st->synced = upto;
        pthread_cond_broadcast(&st->synced_cond);
    }
    pthread_mutex_unlock(&st->sync_lock);
    return r;
}

static pl_status not_found(const char *sid) {
    return PL_ERR(PL_E_NOT_FOUND, "session %s not found", sid ? sid : "");
}

static pl_status write_ctx(struct pl_dlg_store *st, const struct pl_dlg_state *s,
                           const struct pl_dlg_ctx *c) {
    /* An existing context is updated in place: its indexed columns (session_id) never change,
     * so only the table's page is written (a REPLACE also rewrote the index entry). */
    sqlite3_stmt *q = NULL;
    PL_TRY(prepare(st, "UPDATE contexts SET name=?, flow=?, awaiting=?, state=?, activated=?,"
                       " turn_count=?, fallbacks=?, updated_ms=? WHERE context_id=? AND"
                       " session_id=? AND user_id=?", &q));
    bind_text(q, 1, c->name);
    bind_text(q, 2, c->flow);
    bind_text(q, 3, c->awaiting);
    sqlite3_bind_int(q, 4, c->state);
    sqlite3_bind_int64(q, 5, c->activated);
    sqlite3_bind_int(q, 6, c->turn_count);
    sqlite3_bind_int(q, 7, c->fallbacks);
    sqlite3_bind_int64(q, 8, c->updated_ms);
    bind_text(q, 9, c->id);
    bind_text(q, 10, s->session_id);
    bind_text(q, 11, s->user);
    PL_TRY(run(st, q, "update a context"));
    if (sqlite3_changes(st->db) > 0) goto slots;
    PL_TRY(prepare(st, "INSERT OR REPLACE INTO contexts VALUES(?,?,?,?,?,?,?,?,?,?,?,?)", &q));
    bind_text(q, 1, c->id);
    bind_text(q, 2, s->session_id);
    bind_text(q, 3, s->user);
    bind_text(q, 4, c->name);
    bind_text(q, 5, c->flow);
    bind_text(q, 6, c->awaiting);
    sqlite3_bind_int(q, 7, c->state);
    sqlite3_bind_int64(q, 8, c->activated);
    sqlite3_bind_int(q, 9, c->turn_count);
    sqlite3_bind_int(q, 10, c->fallbacks);
    sqlite3_bind_int64(q, 11, c->created_ms);
    sqlite3_bind_int64(q, 12, c->updated_ms);
    PL_TRY(run(st, q, "write a context"));
slots:
    PL_TRY(prepare(st, "DELETE FROM slots WHERE context_id=?", &q));
    bind_text(q, 1, c->id);
    PL_TRY(run(st, q, "clear slots"));
    for (int i = 0; i < c->n_slots; i++) {
        PL_TRY(prepare(st, "INSERT INTO slots VALUES(?,?,?)", &q));
        bind_text(q, 1, c->id);
        bind_text(q, 2, c->slots[i].name);
        bind_text(q, 3, c->slots[i].value);
        PL_TRY(run(st, q, "write a slot"));
    }
    return PL_OK;
}

static pl_status write_events(struct pl_dlg_store *st, const struct pl_dlg_state *s,
                              const struct pl_dlg_turn *t, int64_t *seq) {
    for (int i = 0; i < t->n_events; i++) {
        const struct pl_dlg_event *e = &t->events[i];
        sqlite3_stmt *q = NULL;
        PL_TRY(prepare(st, "INSERT INTO events VALUES(?,?,?,?,?,?,?,?)", &q));
        bind_text(q, 1, s->session_id);
        sqlite3_bind_int64(q, 2, ++*seq);
        bind_text(q, 3, s->user);
        bind_text(q, 4, e->context_id);
        sqlite3_bind_int(q, 5, e->turn);
        sqlite3_bind_int64(q, 6, e->time_ms);
        sqlite3_bind_int(q, 7, e->kind);
        bind_text(q, 8, e->data);
        PL_TRY(run(st, q, "append an event"));
    }
    return PL_OK;
}

static pl_status write_effects(struct pl_dlg_store *st, const char *user,
                               const struct pl_dlg_turn *t, int64_t now) {
    for (int i = 0; i < t->n_effects; i++) {
        const struct pl_dlg_effect *e = &t->effects[i];
        sqlite3_stmt *q = NULL;
        if (e->cancel) {
            PL_TRY(prepare(st, "UPDATE records SET state=2, cancelled_ms=? WHERE id=? AND "
                               "user_id=?", &q));
            sqlite3_bind_int64(q, 1, now);
            sqlite3_bind_int64(q, 2, e->id);
            bind_text(q, 3, user);
        } else {
            PL_TRY(prepare(st, "INSERT INTO records(user_id, kind, data, created_ms) "
                               "VALUES(?,?,?,?)", &q));
            bind_text(q, 1, user);
            bind_text(q, 2, e->kind);
            bind_text(q, 3, e->data);
            sqlite3_bind_int64(q, 4, now);
        }
        PL_TRY(run(st, q, "write a record"));
    }
    return PL_OK;
}

/* The session's header, scoped by user; NOT_FOUND when absent. */
static pl_status session_row(struct pl_dlg_store *st, const char *user, const char *sid,
                             int64_t *last_seq) {
    sqlite3_stmt *q = NULL;
    PL_TRY(prepare(st, "SELECT last_seq FROM sessions WHERE session_id=? AND user_id=?", &q));
    bind_text(q, 1, sid);
    bind_text(q, 2, user);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) *last_seq = sqlite3_column_int64(q, 0);
    done(st, q);
    if (rc == SQLITE_ROW) return PL_OK;
    return rc == SQLITE_DONE ? not_found(sid) : db_err(st, rc, "read a session");
}

static pl_status commit_locked(struct pl_dlg_store *st, struct pl_dlg_state *s,
                               const struct pl_dlg_turn *t, int64_t now) {
    int64_t seq = 0;
    PL_TRY(session_row(st, s->user, s->session_id, &seq));
    for (int i = 0; i < s->n_ctx; i++)
        if (s->ctx[i].dirty) PL_TRY(write_ctx(st, s, &s->ctx[i]));
    if (t) PL_TRY(write_events(st, s, t, &seq));
    if (t) PL_TRY(write_effects(st, s->user, t, now));
    sqlite3_stmt *q = NULL;
    PL_TRY(prepare(st, "UPDATE sessions SET last_active_ms=?, last_seq=?, next_activation=?"
                       " WHERE session_id=? AND user_id=?", &q));
    sqlite3_bind_int64(q, 1, now);
    sqlite3_bind_int64(q, 2, seq);
    sqlite3_bind_int64(q, 3, s->next_activation);
    bind_text(q, 4, s->session_id);
    bind_text(q, 5, s->user);
    PL_TRY(run(st, q, "update the session"));
    /* state and ended_ms are indexed (sessions_ended): written only when they change, so that
     * a turn does not rewrite the index's page too */
    PL_TRY(prepare(st, "UPDATE sessions SET state=?1, ended_ms=?2 WHERE session_id=?3 AND"
                       " user_id=?4 AND (state<>?1 OR ended_ms<>?2)", &q));
    sqlite3_bind_int(q, 1, s->state);
    sqlite3_bind_int64(q, 2, s->ended_ms);
    bind_text(q, 3, s->session_id);
    bind_text(q, 4, s->user);
    PL_TRY(run(st, q, "update the session's state"));
    s->last_active_ms = now;
    return PL_OK;
}

pl_status pl_dlg_store_commit(struct pl_dlg_store *st, struct pl_dlg_state *s,
                              const struct pl_dlg_turn *t, int64_t now) {
    uint64_t seq = 0;
    pthread_mutex_lock(&st->lock);
    pl_status r = tx_begin(st);
    if (r == PL_OK) r = tx_end(st, commit_locked(st, s, t, now), &seq);
    pthread_mutex_unlock(&st->lock);
    if (r != PL_OK) return r;
    /* committed: the state matches the store even when the fsync below fails */
    for (int i = 0; i < s->n_ctx; i++) s->ctx[i].dirty = false;
    return durable(st, seq);
}

static pl_status create_locked(struct pl_dlg_store *st, struct pl_dlg_state *s,
                               const char *metadata, struct pl_dlg_turn *t, int64_t now) {
    sqlite3_stmt *q = NULL;
    PL_TRY(prepare(st, "INSERT OR IGNORE INTO users VALUES(?,?)", &q));
    bind_text(q, 1, s->user);
    sqlite3_bind_int64(q, 2, now);
    PL_TRY(run(st, q, "create the user"));
    PL_TRY(prepare(st, "INSERT INTO sessions(session_id, user_id, dialog, language, state,"
                       " created_ms, last_active_ms, metadata) VALUES(?,?,?,?,1,?,?,?)", &q));
    bind_text(q, 1, s->session_id);
    bind_text(q, 2, s->user);
    bind_text(q, 3, s->dialog);
    bind_text(q, 4, s->language);
    sqlite3_bind_int64(q, 5, now);
    sqlite3_bind_int64(q, 6, now);
    bind_text(q, 7, metadata && *metadata ? metadata : "{}");
    PL_TRY(run(st, q, "create the session"));
    return commit_locked(st, s, t, now);
}

pl_status pl_dlg_store_session_create(struct pl_dlg_store *st, const char *user,
                                      const char *dialog, const char *language,
                                      const char *metadata, int64_t now,
                                      struct pl_dlg_state **out) {
    *out = NULL;
    char sid[PL_DLG_ID_LEN];
    pl_request_id_new(sid);
    if (st->shard >= 0) { /* the shard's digits replace the first two random ones */
        static const char hex[] = "0123456789abcdef";
        sid[0] = hex[(st->shard >> 4) & 15];
        sid[1] = hex[st->shard & 15];
    }
    struct pl_dlg_state *s = NULL;
    PL_TRY(pl_dlg_state_create(sid, user, dialog, language, &s));
    s->created_ms = s->last_active_ms = now;
    struct pl_dlg_turn t;
    pl_dlg_turn_init(&t);
    struct pl_dlg_ctx *c = NULL;
    pl_status r = pl__dlg_lifecycle(&t, PL_DLG_E_SESSION_CREATED, "", 0, now, "session created",
                                    "dialog", s->dialog);
    if (r == PL_OK) r = pl_dlg_context_create(s, "", NULL, 0, true, now, &t, &c);
    if (r == PL_OK) {
        uint64_t seq = 0;
        pthread_mutex_lock(&st->lock);
        r = tx_begin(st);
        if (r == PL_OK) r = tx_end(st, create_locked(st, s, metadata, &t, now), &seq);
        pthread_mutex_unlock(&st->lock);
        if (r == PL_OK) r = durable(st, seq);
    }
    pl_dlg_turn_deinit(&t);
    if (r != PL_OK) {
        pl_dlg_state_destroy(s);
        return r;
    }
    for (int i = 0; i < s->n_ctx; i++) s->ctx[i].dirty = false;
    *out = s;
    return PL_OK;
}

static char *col_text(sqlite3_stmt *q, int i) {
    const unsigned char *v = sqlite3_column_text(q, i);
    return pl_strdup(v ? (const char *)v : "");
}

/* The session header into a new state. */
static pl_status load_header(struct pl_dlg_store *st, const char *user, const char *sid,
                             struct pl_dlg_state **out) {
    sqlite3_stmt *q = NULL;
    PL_TRY(prepare(st, "SELECT dialog, language, state, created_ms, last_active_ms, ended_ms,"
                       " next_activation FROM sessions WHERE session_id=? AND user_id=?", &q));
    bind_text(q, 1, sid);
    bind_text(q, 2, user);
    int rc = sqlite3_step(q);
    pl_status r = rc == SQLITE_ROW ? PL_OK : rc == SQLITE_DONE ? not_found(sid)
                                                               : db_err(st, rc, "read a session");
    if (r == PL_OK)
        r = pl_dlg_state_create(sid, user, (const char *)sqlite3_column_text(q, 0),
                                (const char *)sqlite3_column_text(q, 1), out);
    if (r == PL_OK) {
        (*out)->state = sqlite3_column_int(q, 2);
        (*out)->created_ms = sqlite3_column_int64(q, 3);
        (*out)->last_active_ms = sqlite3_column_int64(q, 4);
        (*out)->ended_ms = sqlite3_column_int64(q, 5);
        (*out)->next_activation = sqlite3_column_int64(q, 6);
    }
    done(st, q);
    return r;
}

static pl_status load_slots(struct pl_dlg_store *st, struct pl_dlg_ctx *c) {
    sqlite3_stmt *q = NULL;
    PL_TRY(prepare(st, "SELECT name, value FROM slots WHERE context_id=? ORDER BY name", &q));
    bind_text(q, 1, c->id);
    pl_status r = PL_OK;
    int rc;
    while (r == PL_OK && (rc = sqlite3_step(q)) == SQLITE_ROW)
        r = pl_dlg_ctx_set_slot(c, (const char *)sqlite3_column_text(q, 0),
                                (const char *)sqlite3_column_text(q, 1));
    if (r == PL_OK && rc != SQLITE_DONE) r = db_err(st, rc, "read slots");
    done(st, q);
    return r;
}

static pl_status load_contexts(struct pl_dlg_store *st, struct pl_dlg_state *s,
                               bool include_closed) {
    sqlite3_stmt *q = NULL;
    PL_TRY(prepare(st, "SELECT context_id, name, flow, awaiting, state, activated, turn_count,"
                       " fallbacks, created_ms, updated_ms FROM contexts WHERE session_id=? AND"
                       " user_id=? AND (state=1 OR ?) ORDER BY created_ms, activated", &q));
    bind_text(q, 1, s->session_id);
    bind_text(q, 2, s->user);
    sqlite3_bind_int(q, 3, include_closed);
    pl_status r = PL_OK;
    int rc;
    while (r == PL_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        struct pl_dlg_ctx *c = NULL;
        r = pl__dlg_state_add(s, (const char *)sqlite3_column_text(q, 0), &c);
        if (r != PL_OK) break;
        r = pl__dlg_set_str(&c->name, (const char *)sqlite3_column_text(q, 1));
        if (r == PL_OK) r = pl__dlg_set_str(&c->flow, (const char *)sqlite3_column_text(q, 2));
        if (r == PL_OK) r = pl__dlg_set_str(&c->awaiting, (const char *)sqlite3_column_text(q, 3));
        c->state = sqlite3_column_int(q, 4);
        c->activated = sqlite3_column_int64(q, 5);
        c->turn_count = sqlite3_column_int(q, 6);
        c->fallbacks = sqlite3_column_int(q, 7);
        c->created_ms = sqlite3_column_int64(q, 8);
        c->updated_ms = sqlite3_column_int64(q, 9);
        if (r == PL_OK) r = load_slots(st, c);
        c->dirty = false;
    }
    if (r == PL_OK && rc != SQLITE_DONE) r = db_err(st, rc, "read contexts");
    done(st, q);
    return r;
}

static pl_status load(struct pl_dlg_store *st, const char *user, const char *sid, bool closed,
                      struct pl_dlg_state **out) {
    *out = NULL;
    pthread_mutex_lock(&st->lock);
    pl_status r = load_header(st, user, sid, out);
    if (r == PL_OK) r = load_contexts(st, *out, closed);
    pthread_mutex_unlock(&st->lock);
    if (r != PL_OK) {
        pl_dlg_state_destroy(*out);
        *out = NULL;
    }
    return r;
}

pl_status pl_dlg_store_session_load(struct pl_dlg_store *st, const char *user, const char *sid,
                                    struct pl_dlg_state **out) {
    return load(st, user, sid, false, out);
}

pl_status pl_dlg_store_contexts(struct pl_dlg_store *st, const char *user, const char *sid,
                                bool include_closed, struct pl_dlg_state **out) {
    return load(st, user, sid, include_closed, out);
}

pl_status pl_dlg_store_session_metadata(struct pl_dlg_store *st, const char *user,
                                        const char *sid, char **json) {
    *json = NULL;
    pthread_mutex_lock(&st->lock);
    sqlite3_stmt *q = NULL;
    pl_status r = prepare(st, "SELECT metadata FROM sessions WHERE session_id=? AND user_id=?",
                          &q);
    if (r == PL_OK) {
        bind_text(q, 1, sid);
        bind_text(q, 2, user);
        int rc = sqlite3_step(q);
        r = rc == SQLITE_ROW ? PL_OK : rc == SQLITE_DONE ? not_found(sid)
                                                         : db_err(st, rc, "read metadata");
        if (r == PL_OK && !(*json = col_text(q, 0))) r = PL_ERR(PL_E_NOMEM, "metadata");
        done(st, q);
    }
    pthread_mutex_unlock(&st->lock);
    return r;
}

pl_status pl_dlg_store_session_end(struct pl_dlg_store *st, const char *user, const char *sid,
                                   int64_t now) {
    struct pl_dlg_state *s = NULL;
    PL_TRY(pl_dlg_store_session_load(st, user, sid, &s));
    if (s->state == PL_DLG_SESSION_ENDED) {
        pl_dlg_state_destroy(s);
        return PL_OK;
    }
    struct pl_dlg_turn t;
    pl_dlg_turn_init(&t);
    pl_status r = PL_OK;
    for (int i = 0; i < s->n_ctx && r == PL_OK; i++) {
        s->ctx[i].state = PL_DLG_CTX_CLOSED;
        s->ctx[i].dirty = true;
        s->ctx[i].updated_ms = now;
        r = pl__dlg_lifecycle(&t, PL_DLG_E_CONTEXT_CLOSED, s->ctx[i].id, 0, now,
                              "context closed", "reason", "session ended");
    }
    s->state = PL_DLG_SESSION_ENDED;
    s->ended_ms = now;
    if (r == PL_OK)
        r = pl__dlg_lifecycle(&t, PL_DLG_E_SESSION_ENDED, "", 0, now, "session ended", NULL, NULL);
    if (r == PL_OK) r = pl_dlg_store_commit(st, s, &t, now);
    pl_dlg_turn_deinit(&t);
    pl_dlg_state_destroy(s);
    return r;
}

/* ---- history and records ------------------------------------------------------------------ */

void pl_dlg_hist_free(struct pl_dlg_hist *h, int n) {
    for (int i = 0; h && i < n; i++) pl_free(h[i].ev.data);
    pl_free(h);
}

static pl_status history_locked(struct pl_dlg_store *st, const char *user, const char *sid,
                                const char *cid, int64_t after, int limit,
                                struct pl_dlg_hist **out, int *n, bool *more) {
    int64_t last = 0;
    PL_TRY(session_row(st, user, sid, &last));
    sqlite3_stmt *q = NULL;
    PL_TRY(prepare(st, "SELECT seq, context_id, turn, time_ms, kind, data FROM events WHERE"
                       " session_id=? AND user_id=? AND seq>? AND (?='' OR context_id=?)"
                       " ORDER BY seq LIMIT ?", &q));
    bind_text(q, 1, sid);
    bind_text(q, 2, user);
    sqlite3_bind_int64(q, 3, after);
    bind_text(q, 4, cid);
    bind_text(q, 5, cid);
    sqlite3_bind_int(q, 6, limit + 1);
    struct pl_dlg_hist *h = pl_calloc((size_t)limit + 1, sizeof *h);
    pl_status r = h ? PL_OK : PL_ERR(PL_E_NOMEM, "history");
    int k = 0, rc = SQLITE_DONE;
    while (r == PL_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (k == limit) {
            *more = true;
            break;
        }
        h[k].seq = sqlite3_column_int64(q, 0);
        snprintf(h[k].ev.context_id, PL_DLG_ID_LEN, "%s", sqlite3_column_text(q, 1));
        h[k].ev.turn = sqlite3_column_int(q, 2);
        h[k].ev.time_ms = sqlite3_column_int64(q, 3);
        h[k].ev.kind = sqlite3_column_int(q, 4);
        if (!(h[k].ev.data = col_text(q, 5))) r = PL_ERR(PL_E_NOMEM, "history");
        k++;
    }
    if (r == PL_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) r = db_err(st, rc, "read events");
    done(st, q);
    if (r != PL_OK) {
        pl_dlg_hist_free(h, k);
        return r;
    }
    *out = h;
    *n = k;
    return PL_OK;
}

pl_status pl_dlg_store_history(struct pl_dlg_store *st, const char *user, const char *sid,
                               const char *cid, int64_t after, int limit,
                               struct pl_dlg_hist **out, int *n, bool *more) {
    *out = NULL;
    *n = 0;
    *more = false;
    if (limit <= 0) limit = 100;
    pthread_mutex_lock(&st->lock);
    pl_status r = history_locked(st, user, sid, cid ? cid : "", after, limit, out, n, more);
    pthread_mutex_unlock(&st->lock);
    return r;
}

void pl_dlg_records_free(struct pl_dlg_record *r, int n) {
    for (int i = 0; r && i < n; i++) {
        pl_free(r[i].kind);
        pl_free(r[i].data);
    }
    pl_free(r);
}

static pl_status records_locked(struct pl_dlg_store *st, const char *user, const char *kind,
                                struct pl_dlg_record **out, int *n) {
    sqlite3_stmt *q = NULL;
    PL_TRY(prepare(st, "SELECT id, kind, data, created_ms FROM records WHERE user_id=? AND"
                       " kind=? AND state=1 ORDER BY id", &q));
    bind_text(q, 1, user);
    bind_text(q, 2, kind);
    pl_status r = PL_OK;
    int rc;
    while (r == PL_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        struct pl_dlg_record *v = pl_realloc(*out, (size_t)(*n + 1) * sizeof *v);
        if (!v) {
            r = PL_ERR(PL_E_NOMEM, "records");
            break;
        }
        *out = v;
        v[*n].id = sqlite3_column_int64(q, 0);
        v[*n].kind = col_text(q, 1);
        v[*n].data = col_text(q, 2);
        v[*n].created_ms = sqlite3_column_int64(q, 3);
        (*n)++;
        if (!v[*n - 1].kind || !v[*n - 1].data) r = PL_ERR(PL_E_NOMEM, "records");
    }
    if (r == PL_OK && rc != SQLITE_DONE) r = db_err(st, rc, "read records");
    done(st, q);
    return r;
}

pl_status pl_dlg_store_records(struct pl_dlg_store *st, const char *user, const char *kind,
                               struct pl_dlg_record **out, int *n) {
    *out = NULL;
    *n = 0;
    if (st->version < 2) return PL_ERR(PL_E_UNSUPPORTED, "dialog store: no records before v2");
    pthread_mutex_lock(&st->lock);
    pl_status r = records_locked(st, user, kind, out, n);
    pthread_mutex_unlock(&st->lock);
    if (r != PL_OK) {
        pl_dlg_records_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return r;
}

/* ---- retention ------------------------------------------------------------------------------ */

/* Delete the sessions selected by `where` (SQL over sessions, binding ?1 and ?2) with their
 * contexts, slots and events. */
static pl_status delete_sessions(struct pl_dlg_store *st, const char *where, const char *a,
                                 int64_t b, int *n) {
    static const char *const parts[] = {
        "DELETE FROM slots WHERE context_id IN (SELECT context_id FROM contexts WHERE "
        "session_id IN (SELECT session_id FROM sessions WHERE %s))",
        "DELETE FROM contexts WHERE session_id IN (SELECT session_id FROM sessions WHERE %s)",
        "DELETE FROM events WHERE session_id IN (SELECT session_id FROM sessions WHERE %s)",
        "DELETE FROM sessions WHERE %s",
    };
    for (size_t i = 0; i < PL_ARRAY_LEN(parts); i++) {
        char sql[512];
        snprintf(sql, sizeof sql, parts[i], where);
        sqlite3_stmt *q = NULL;
        PL_TRY(prepare(st, sql, &q));
        if (a) bind_text(q, 1, a);
        else sqlite3_bind_int64(q, 1, b);
        PL_TRY(run(st, q, "delete sessions"));
        if (n && i + 1 == PL_ARRAY_LEN(parts)) *n = sqlite3_changes(st->db);
    }
    return PL_OK;
}

static pl_status delete_user_locked(struct pl_dlg_store *st, const char *user, int *n) {
    PL_TRY(delete_sessions(st, "user_id=?1", user, 0, n));
    sqlite3_stmt *q = NULL;
    if (st->version >= 2) {
        PL_TRY(prepare(st, "DELETE FROM records WHERE user_id=?", &q));
        bind_text(q, 1, user);
        PL_TRY(run(st, q, "delete records"));
    }
    PL_TRY(prepare(st, "DELETE FROM users WHERE user_id=?", &q));
    bind_text(q, 1, user);
    return run(st, q, "delete the user");
}

pl_status pl_dlg_store_delete_user(struct pl_dlg_store *st, const char *user, int *n) {
    int k = 0;
    uint64_t seq = 0;
    pthread_mutex_lock(&st->lock);
    pl_status r = tx_begin(st);
    if (r == PL_OK) r = tx_end(st, delete_user_locked(st, user, &k), &seq);
    pthread_mutex_unlock(&st->lock);
    if (r == PL_OK) r = durable(st, seq);
    if (n) *n = r == PL_OK ? k : 0;
    return r;
}

static pl_status expire_locked(struct pl_dlg_store *st, int64_t now, int64_t idle, int64_t ttl,
                               int *n_ended, int *n_deleted) {
    sqlite3_stmt *q = NULL;
    if (idle > 0) {
        PL_TRY(prepare(st, "UPDATE contexts SET state=2, updated_ms=?1 WHERE state=1 AND "
                           "session_id IN (SELECT session_id FROM sessions WHERE state=1 AND "
                           "last_active_ms<?2)", &q));
        sqlite3_bind_int64(q, 1, now);
        sqlite3_bind_int64(q, 2, now - idle);
        PL_TRY(run(st, q, "close idle contexts"));
        PL_TRY(prepare(st, "UPDATE sessions SET state=2, ended_ms=?1 WHERE state=1 AND "
                           "last_active_ms<?2", &q));
        sqlite3_bind_int64(q, 1, now);
        sqlite3_bind_int64(q, 2, now - idle);
        PL_TRY(run(st, q, "end idle sessions"));
        *n_ended = sqlite3_changes(st->db);
    }
    if (ttl > 0) PL_TRY(delete_sessions(st, "state=2 AND ended_ms<?1", NULL, now - ttl, n_deleted));
    return PL_OK;
}

pl_status pl_dlg_store_expire(struct pl_dlg_store *st, int64_t now, int64_t idle, int64_t ttl,
                              int *n_ended, int *n_deleted) {
    int e = 0, d = 0;
    uint64_t seq = 0;
    pthread_mutex_lock(&st->lock);
    pl_status r = tx_begin(st);
    if (r == PL_OK) r = tx_end(st, expire_locked(st, now, idle, ttl, &e, &d), &seq);
    pthread_mutex_unlock(&st->lock);
    if (r == PL_OK) r = durable(st, seq);
    if (n_ended) *n_ended = r == PL_OK ? e : 0;
    if (n_deleted) *n_deleted = r == PL_OK ? d : 0;
    return r;
}
