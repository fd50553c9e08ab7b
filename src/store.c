/* store: the crawl store over one SQLite file. See store.h for the
 * contract and docs/STORE.md for the schema (quoted from schema_sql below;
 * keep them in step) and why a SIGKILL at any moment leaves it consistent.
 *
 * Same SQLite habits as sink_sqlite.c: WAL with synchronous=NORMAL (a
 * commit costs no fsync; a crash of the process loses nothing committed,
 * a power loss at most the last commits, never consistency), persistent
 * prepared statements, transactions batched by the caller. */
#include "store.h"

#include "buf.h"
#include "checkpointer.h"
#include "db.h"
#include "result.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

/* Keep in step with docs/STORE.md, which quotes these statements. */
static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS meta (\n"
    "  key TEXT PRIMARY KEY,\n"
    "  value TEXT\n"
    ");\n"
    "CREATE TABLE IF NOT EXISTS frontier (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  url TEXT NOT NULL UNIQUE,\n"
    "  depth INTEGER NOT NULL,\n"
    "  referrer_id INTEGER,\n"
    "  state INTEGER NOT NULL DEFAULT 0,\n"
    "  host TEXT NOT NULL DEFAULT ''\n"
    ");\n"
    "CREATE INDEX IF NOT EXISTS frontier_host_queue\n"
    "  ON frontier(host, depth, id) WHERE state = 0;\n"
    "CREATE TABLE IF NOT EXISTS pages (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  url TEXT NOT NULL UNIQUE,\n"
    "  final_url TEXT,\n"
    "  status INTEGER NOT NULL,\n"
    "  error TEXT,\n"
    "  depth INTEGER NOT NULL,\n"
    "  referrer_id INTEGER,\n"
    "  title TEXT,\n"
    "  canonical TEXT,\n"
    "  meta_robots TEXT,\n"
    "  hash TEXT,\n"
    "  fetched_at TEXT NOT NULL,\n"
    "  bytes INTEGER NOT NULL,\n"
    "  content_type TEXT\n"
    ");\n"
    "CREATE TABLE IF NOT EXISTS links (\n"
    "  from_id INTEGER NOT NULL,\n"
    "  to_url TEXT NOT NULL,\n"
    "  PRIMARY KEY (from_id, to_url)\n"
    ") WITHOUT ROWID;\n"
    "CREATE TABLE IF NOT EXISTS page_text (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  title TEXT,\n"
    "  body TEXT\n"
    ");\n"
    "CREATE VIRTUAL TABLE IF NOT EXISTS pages_fts USING fts5(\n"
    "  title, body,\n"
    "  content = 'page_text', content_rowid = 'id',\n"
    "  tokenize = 'unicode61 remove_diacritics 2'\n"
    ");\n"
    "INSERT OR IGNORE INTO meta(key, value) VALUES\n"
    "  ('format', '" STORE_FORMAT "'),\n"
    "  ('schema_version', '" STORE_SCHEMA_VERSION "');\n";

enum {
  ST_BEGIN,
  ST_COMMIT,
  ST_ROLLBACK,
  ST_ADD,
  ST_TAKE,
  ST_TAKE_HOST,
  ST_TAKE_LEVEL,
  ST_HOST_QUEUED,
  ST_NEXT_HOST,
  ST_SET_STATE,
  ST_FRONT,
  ST_PAGE,
  ST_LINKS_DEL,
  ST_PAGE_DEL,
  ST_LINK,
  ST_LINKS16,
  ST_FTS_DEL,
  ST_TEXT_DEL,
  ST_TEXT,
  ST_FTS,
  ST_META_GET,
  ST_META_SET,
  ST_COUNT
};

static const char *const stmt_sql[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_ADD] = "INSERT OR IGNORE INTO frontier(url, depth, referrer_id, state,"
               " host) VALUES (?, ?, ?, 0, ?)",
    [ST_TAKE] = "SELECT id, url, depth, referrer_id FROM frontier"
                " WHERE state = 0 ORDER BY depth, id LIMIT ?",
    [ST_TAKE_HOST] = "SELECT id, url, depth, referrer_id FROM frontier"
                     " WHERE state = 0 AND host = ? ORDER BY depth, id"
                     " LIMIT ?",
    [ST_TAKE_LEVEL] = "SELECT id, url, depth, referrer_id FROM frontier"
                      " WHERE state = 0 AND host = ?1 AND depth <= CASE"
                      " WHEN ?2 >= 0 THEN ?2 ELSE (SELECT min(depth) FROM"
                      " frontier WHERE state = 0 AND host = ?1) END"
                      " ORDER BY depth, id LIMIT ?3",
    [ST_HOST_QUEUED] = "SELECT EXISTS (SELECT 1 FROM frontier"
                       " WHERE state = 0 AND host = ?)",
    [ST_NEXT_HOST] = "SELECT host FROM frontier WHERE state = 0 AND host > ?"
                     " ORDER BY host LIMIT 1",
    [ST_SET_STATE] = "UPDATE frontier SET state = ? WHERE id = ?",
    [ST_FRONT] = "SELECT url, referrer_id, state FROM frontier WHERE id = ?",
    /* Not OR REPLACE: that makes SQLite open a statement journal, which
     * cost 300 us per page beside an FTS5 transaction; a replaced page
     * is deleted first (forget_page). */
    [ST_PAGE] = "INSERT INTO pages(id, url, final_url, status,"
                " error, depth, referrer_id, title, canonical, meta_robots,"
                " hash, fetched_at, bytes, content_type)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
    [ST_LINKS_DEL] = "DELETE FROM links WHERE from_id = ?",
    [ST_PAGE_DEL] = "DELETE FROM pages WHERE id = ?",
    [ST_LINK] = "INSERT OR IGNORE INTO links(from_id, to_url) VALUES (?, ?)",
    /* A page's links go 16 to a statement: one step instead of 16. */
    [ST_LINKS16] = "INSERT OR IGNORE INTO links(from_id, to_url) VALUES"
                   " (?1, ?2), (?1, ?3), (?1, ?4), (?1, ?5), (?1, ?6),"
                   " (?1, ?7), (?1, ?8), (?1, ?9), (?1, ?10), (?1, ?11),"
                   " (?1, ?12), (?1, ?13), (?1, ?14), (?1, ?15), (?1, ?16),"
                   " (?1, ?17)",
    /* An external-content index forgets a row only when told the exact
     * values it indexed, which page_text still holds. */
    [ST_FTS_DEL] = "INSERT INTO pages_fts(pages_fts, rowid, title, body)"
                   " SELECT 'delete', id, title, body FROM page_text"
                   " WHERE id = ?",
    [ST_TEXT_DEL] = "DELETE FROM page_text WHERE id = ?",
    [ST_TEXT] = "INSERT INTO page_text(id, title, body) VALUES (?, ?, ?)",
    [ST_FTS] = "INSERT INTO pages_fts(rowid, title, body) VALUES (?, ?, ?)",
    [ST_META_GET] = "SELECT value FROM meta WHERE key = ?",
    [ST_META_SET] = "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
};

#define STORE_PAGE_SIZE "65536"

struct store {
  sqlite3 *db;
  sqlite3_stmt *st[ST_COUNT];
  int in_tx;     /* store_begin() is open */
  int tx_failed; /* a call failed inside it: only rollback is allowed */
  /* Frontier rows by state: committed, and the open transaction's
   * changes, applied on commit and dropped on rollback. */
  int64_t count[STORE_NSTATES], pend[STORE_NSTATES];
  int migrate;            /* an existing store of schema_version 1 */
  struct buf title, text; /* scratch: cleaned copies for the index */
  int lock_fd; /* holds flock(LOCK_EX) on the file: one crawl at a time */
  struct checkpointer *ckpt; /* WAL checkpoints off this thread */
  char msg[256];
  char path[];
};

static int fail(struct store *s, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct store *s, int rc, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  int n = snprintf(s->msg, sizeof(s->msg), "%s: ", s->path);
  if (n < 0 || (size_t)n >= sizeof(s->msg))
    n = 0;
  vsnprintf(s->msg + n, sizeof(s->msg) - (size_t)n, fmt, ap);
  va_end(ap);
  return rc;
}

/* Records the connection's error for what and returns it as an errno. */
static int fail_db(struct store *s, int rc, const char *what)
{
  int sys = sqlite3_system_errno(s->db);
  if (((rc & 0xff) == SQLITE_CANTOPEN || (rc & 0xff) == SQLITE_IOERR) &&
      sys > 0)
    return fail(s, db_errno(s->db, rc), "%s: %s (%s)", what, strerror(sys),
                sqlite3_errmsg(s->db));
  return fail(s, db_errno(s->db, rc), "%s: %s", what, sqlite3_errmsg(s->db));
}

static int step_once(sqlite3_stmt *st)
{
  int rc = sqlite3_step(st);
  sqlite3_reset(st);
  return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

static void bind_text(sqlite3_stmt *st, int i, const char *p, size_t n)
{
  /* SQLITE_STATIC: the strings outlive the step that reads them, and
   * every parameter is bound again before the next step. */
  if (p)
    sqlite3_bind_text64(st, i, p, n, SQLITE_STATIC, SQLITE_UTF8);
  else
    sqlite3_bind_null(st, i);
}

static void bind_str(sqlite3_stmt *st, int i, const char *p)
{
  bind_text(st, i, p, p ? strlen(p) : 0);
}

static void bind_id(sqlite3_stmt *st, int i, int64_t id)
{
  if (id > 0)
    sqlite3_bind_int64(st, i, id);
  else
    sqlite3_bind_null(st, i);
}

/* ---- transactions ------------------------------------------------------ */

static int tx_begin(struct store *s)
{
  int rc = step_once(s->st[ST_BEGIN]);
  if (rc)
    return fail_db(s, rc, "cannot begin a transaction");
  memset(s->pend, 0, sizeof(s->pend));
  return 0;
}

static void tx_rollback(struct store *s)
{
  if (!sqlite3_get_autocommit(s->db))
    step_once(s->st[ST_ROLLBACK]);
  memset(s->pend, 0, sizeof(s->pend));
}

static int tx_commit(struct store *s)
{
  int rc = step_once(s->st[ST_COMMIT]);
  if (rc) {
    rc = fail_db(s, rc, "commit failed");
    tx_rollback(s);
    return rc;
  }
  for (int i = 0; i < STORE_NSTATES; i++)
    s->count[i] += s->pend[i];
  memset(s->pend, 0, sizeof(s->pend));
  return 0;
}

int store_begin(struct store *s)
{
  if (s->in_tx)
    return fail(s, -EINVAL, "a transaction is already open");
  int rc = tx_begin(s);
  if (!rc) {
    s->in_tx = 1;
    s->tx_failed = 0;
  }
  return rc;
}

int store_commit(struct store *s)
{
  if (!s->in_tx)
    return fail(s, -EINVAL, "no transaction is open");
  if (s->tx_failed) {
    tx_rollback(s);
    s->in_tx = s->tx_failed = 0;
    /* s->msg still names the call that failed. */
    return -EIO;
  }
  s->in_tx = 0;
  return tx_commit(s);
}

int store_rollback(struct store *s)
{
  if (s->in_tx || !sqlite3_get_autocommit(s->db))
    tx_rollback(s);
  s->in_tx = s->tx_failed = 0;
  return 0;
}

/* A mutating call runs in the caller's transaction, or in its own. */
static int op_enter(struct store *s, int *own)
{
  *own = !s->in_tx;
  if (s->in_tx && s->tx_failed)
    return fail(s, -EIO,
                "an earlier call failed: roll the transaction "
                "back");
  return *own ? tx_begin(s) : 0;
}

static int op_leave(struct store *s, int own, int rc)
{
  if (!own) {
    if (rc)
      s->tx_failed = 1;
    return rc;
  }
  if (rc) {
    tx_rollback(s);
    return rc;
  }
  return tx_commit(s);
}

/* ---- open and close ---------------------------------------------------- */

/* Creates the schema in an empty database, or checks that an existing one
 * is a crawl store of this version, in one transaction so that two
 * processes opening the same new file agree. */
/* A database that already has tables must be a crawl store of this
 * schema version. Only reads: a foreign file is refused untouched. */
static int check_format(struct store *s)
{
  char tables[32], format[64] = "", version[32] = "";
  int rc = db_query_text(
      s->db, "SELECT count(*) FROM sqlite_schema WHERE type = 'table'", tables,
      sizeof(tables));
  if (rc || strcmp(tables, "0") == 0)
    return rc ? fail_db(s, rc, "cannot read the schema") : 0;
  rc = db_query_text(s->db,
                     "SELECT count(*) FROM sqlite_schema WHERE type = 'table'"
                     " AND name = 'meta'",
                     tables, sizeof(tables));
  if (!rc && strcmp(tables, "1") == 0)
    rc = db_query_text(s->db, "SELECT value FROM meta WHERE key = 'format'",
                       format, sizeof(format));
  if (!rc && strcmp(format, STORE_FORMAT) == 0)
    rc = db_query_text(s->db,
                       "SELECT value FROM meta WHERE key = 'schema_version'",
                       version, sizeof(version));
  if (rc)
    return fail_db(s, rc, "cannot read the schema");
  if (strcmp(format, STORE_FORMAT) != 0)
    return fail(s, -EINVAL, "not a spate crawl store (it holds other tables)");
  if (strcmp(version, "1") == 0) {
    s->migrate = 1;
    return 0;
  }
  if (strcmp(version, STORE_SCHEMA_VERSION) != 0)
    return fail(s, -EINVAL,
                "schema_version is %s, this spate uses " STORE_SCHEMA_VERSION,
                version);
  return 0;
}

size_t store_host_len(const char *key)
{
  const char *p = strstr(key, "://");
  if (!p)
    return 0;
  p += 3;
  return (size_t)(p - key) + strcspn(p, "/?#");
}

/* Version 1 to 2: the frontier gets its host column (filled in for the
 * rows not done) and the per-host queue index instead of the global one.
 * Inside setup_schema's transaction: all or nothing. */
static int migrate_v1(struct store *s)
{
  sqlite3_stmt *sel = NULL, *upd = NULL;
  int rc = sqlite3_exec(s->db,
                        "ALTER TABLE frontier ADD COLUMN host TEXT NOT NULL"
                        " DEFAULT ''; DROP INDEX IF EXISTS frontier_queue;",
                        NULL, NULL, NULL);
  if (!rc)
    rc = sqlite3_prepare_v2(s->db,
                            "SELECT id, url FROM frontier WHERE state != 2",
                            -1, &sel, NULL);
  if (!rc)
    rc = sqlite3_prepare_v2(s->db, "UPDATE frontier SET host = ? WHERE id = ?",
                            -1, &upd, NULL);
  while (!rc && (rc = sqlite3_step(sel)) == SQLITE_ROW) {
    const char *url = (const char *)sqlite3_column_text(sel, 1);
    url = url ? url : "";
    sqlite3_bind_text(upd, 1, url, (int)store_host_len(url), SQLITE_STATIC);
    sqlite3_bind_int64(upd, 2, sqlite3_column_int64(sel, 0));
    rc = sqlite3_step(upd);
    rc = rc == SQLITE_DONE ? 0 : rc;
    sqlite3_reset(upd);
  }
  if (rc == SQLITE_DONE)
    rc = 0;
  sqlite3_finalize(sel);
  sqlite3_finalize(upd);
  if (!rc)
    rc = sqlite3_exec(s->db,
                      "UPDATE meta SET value = '" STORE_SCHEMA_VERSION
                      "' WHERE key = 'schema_version'",
                      NULL, NULL, NULL);
  return rc ? fail_db(s, rc,
                      "cannot upgrade the store to "
                      "schema_version " STORE_SCHEMA_VERSION)
            : 0;
}

static int setup_schema(struct store *s)
{
  int rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
  if (rc)
    return fail_db(s, rc, "cannot lock the database");
  /* Again under the lock: another process may have created it since. */
  rc = check_format(s);
  if (!rc && s->migrate)
    rc = migrate_v1(s);
  if (rc)
    goto out;
  rc = sqlite3_exec(s->db, schema_sql, NULL, NULL, NULL);
  if (rc) {
    if (strstr(sqlite3_errmsg(s->db), "fts5"))
      rc = fail(s, -ENOTSUP, "this SQLite has no FTS5: %s",
                sqlite3_errmsg(s->db));
    else
      rc = fail_db(s, rc, "cannot create the schema");
    goto out;
  }
  rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
  if (rc)
    rc = fail_db(s, rc, "cannot create the schema");
out:
  if (rc)
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
  return rc;
}

static int load_counts(struct store *s)
{
  sqlite3_stmt *st;
  int rc = sqlite3_prepare_v2(
      s->db, "SELECT state, count(*) FROM frontier GROUP BY state", -1, &st,
      NULL);
  if (rc)
    return fail_db(s, rc, "cannot count the frontier");
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    int state = sqlite3_column_int(st, 0);
    if (state >= 0 && state < STORE_NSTATES)
      s->count[state] = sqlite3_column_int64(st, 1);
  }
  sqlite3_finalize(st);
  return rc == SQLITE_DONE ? 0 : fail_db(s, rc, "cannot count the frontier");
}

int store_open(struct store **out, const char *path, char err[256])
{
  size_t len = strlen(path);
  struct store *s = calloc(1, sizeof(*s) + len + 1);
  char mode[16];
  int rc;

  *out = NULL;
  if (!s) {
    snprintf(err, 256, "out of memory");
    return -ENOMEM;
  }
  s->lock_fd = -1;
  memcpy(s->path, path, len + 1);
  if (!sqlite3_threadsafe()) {
    rc = fail(s, -ENOTSUP, "SQLite was built without threads");
    goto fail;
  }
  /* Opened here, then used by the store's thread alone: allowed in
   * multi-thread mode, which NOMUTEX asks for. */
  rc = sqlite3_open_v2(path, &s->db,
                       SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                           SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE,
                       NULL);
  if (rc && !s->db) {
    rc = fail(s, -ENOMEM, "out of memory");
    goto fail;
  }
  if (rc) {
    rc = fail_db(s, rc, "cannot open the SQLite database");
    goto fail;
  }
  if (sqlite3_db_readonly(s->db, "main") == 1) {
    rc = fail(s, -EROFS, "the database is read-only (no write permission)");
    goto fail;
  }
  sqlite3_busy_timeout(s->db, 5000);
  rc = check_format(s);
  if (rc)
    goto fail;
  /* Two crawls writing one store would each requeue the other's work and
   * never see their own end: the second is refused. flock is not the
   * kind of lock SQLite takes (POSIX record locks), so they do not meet;
   * readers (spate search, sqlite3) take none. */
  s->lock_fd = open(path, O_RDONLY | O_CLOEXEC);
  if (s->lock_fd < 0 || flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0) {
    rc = errno == EWOULDBLOCK
             ? fail(s, -EBUSY, "another spate crawl is using it")
             : fail(s, -errno, "cannot lock it: %s", strerror(errno));
    goto fail;
  }
  /* A new store gets large pages (an existing one keeps its own: the
   * pragma does nothing once the file has been written). Most of what a crawl
   * writes is page text and its full-text index, rows of kilobytes: with
   * 64 KiB pages the log and the checkpoint take far fewer write calls,
   * and the writer spends 30% less CPU per page than with SQLite's 4 KiB
   * (bench/storebench.c, bench/README.md). */
  rc = sqlite3_exec(s->db, "PRAGMA page_size=" STORE_PAGE_SIZE, NULL, NULL,
                    NULL);
  if (!rc)
    rc = db_query_text(s->db, "PRAGMA journal_mode=WAL", mode, sizeof(mode));
  /* The frontier's UNIQUE index is probed for every discovered link: a
   * 16 MiB page cache keeps the hot part of it without a read call. */
  if (!rc)
    rc = sqlite3_exec(s->db,
                      "PRAGMA synchronous=NORMAL; PRAGMA cache_size=-16384",
                      NULL, NULL, NULL);
  if (rc) {
    rc = fail_db(s, rc, "cannot set up the database");
    goto fail;
  }
  if (strcmp(mode, "wal") != 0) {
    rc = fail(s, -ENOTSUP, "cannot use WAL mode (journal_mode is %s)", mode);
    goto fail;
  }
  rc = setup_schema(s);
  if (rc)
    goto fail;
  rc = checkpointer_start(&s->ckpt, s->db, path, err);
  if (rc) {
    fail(s, rc, "%s", err);
    goto fail;
  }
  for (int i = 0; i < ST_COUNT; i++) {
    rc = sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
                            &s->st[i], NULL);
    if (rc) {
      rc = fail_db(s, rc, "cannot prepare statements");
      goto fail;
    }
  }
  rc = load_counts(s);
  if (rc)
    goto fail;
  *out = s;
  return 0;

fail:
  snprintf(err, 256, "%s", s->msg);
  store_close(s);
  return rc;
}

void store_close(struct store *s)
{
  if (!s)
    return;
  if (s->db && !sqlite3_get_autocommit(s->db))
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
  checkpointer_stop(s->ckpt);
  for (int i = 0; i < ST_COUNT; i++)
    sqlite3_finalize(s->st[i]);
  /* The last connection to close checkpoints the WAL into the file. */
  if (s->db && sqlite3_close(s->db) != SQLITE_OK)
    sqlite3_close_v2(s->db);
  if (s->lock_fd >= 0)
    close(s->lock_fd); /* releases the flock */
  buf_free(&s->title);
  buf_free(&s->text);
  free(s);
}

const char *store_errmsg(const struct store *s)
{
  return s->msg;
}

/* ---- meta --------------------------------------------------------------- */

int store_meta_get(struct store *s, const char *key, char **value)
{
  sqlite3_stmt *st = s->st[ST_META_GET];
  *value = NULL;
  bind_str(st, 1, key);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    const char *v = (const char *)sqlite3_column_text(st, 0);
    if (v && !(*value = strdup(v))) {
      sqlite3_reset(st);
      return fail(s, -ENOMEM, "out of memory");
    }
    rc = SQLITE_DONE;
  }
  sqlite3_reset(st);
  return rc == SQLITE_DONE ? 0 : fail_db(s, rc, "cannot read meta");
}

int store_meta_set(struct store *s, const char *key, const char *value)
{
  int own, rc = op_enter(s, &own);
  if (rc)
    return rc;
  sqlite3_stmt *st = s->st[ST_META_SET];
  bind_str(st, 1, key);
  bind_str(st, 2, value);
  rc = step_once(st);
  if (rc)
    rc = fail_db(s, rc, "cannot write meta");
  return op_leave(s, own, rc);
}

int store_meta_expect(struct store *s, const char *key, const char *value)
{
  char *have;
  int rc = store_meta_get(s, key, &have);
  if (rc)
    return rc;
  if (!have)
    return store_meta_set(s, key, value);
  if (strcmp(have, value) != 0)
    rc = fail(s, -EEXIST, "holds another crawl: %s is %s, not %s", key, have,
              value);
  free(have);
  return rc;
}

/* ---- frontier ----------------------------------------------------------- */

int store_add_urls(struct store *s, const char *const *keys, size_t n,
                   int depth, int64_t referrer_id, size_t *added)
{
  return store_add_urls_each(s, keys, n, depth, referrer_id, added, NULL);
}

int store_add_urls_each(struct store *s, const char *const *keys, size_t n,
                        int depth, int64_t referrer_id, size_t *added,
                        unsigned char *each)
{
  size_t count = 0;
  int own, rc = op_enter(s, &own);
  if (rc)
    return rc;
  sqlite3_stmt *st = s->st[ST_ADD];
  sqlite3_bind_int(st, 2, depth);
  bind_id(st, 3, referrer_id);
  for (size_t i = 0; i < n && !rc; i++) {
    bind_str(st, 1, keys[i]);
    sqlite3_bind_text(st, 4, keys[i], (int)store_host_len(keys[i]),
                      SQLITE_STATIC);
    rc = step_once(st);
    if (rc) {
      rc = fail_db(s, rc, "cannot add to the frontier");
    } else {
      int c = sqlite3_changes(s->db);
      count += (size_t)c;
      if (each)
        each[i] = c > 0;
    }
  }
  s->pend[STORE_QUEUED] += (int64_t)count;
  rc = op_leave(s, own, rc);
  if (added)
    *added = rc ? 0 : count;
  return rc;
}

void store_items_free(struct store_item *items, size_t n)
{
  if (!items)
    return;
  for (size_t i = 0; i < n; i++)
    free(items[i].url);
  free(items);
}

static int set_state(struct store *s, int64_t id, int state)
{
  sqlite3_stmt *st = s->st[ST_SET_STATE];
  sqlite3_bind_int(st, 1, state);
  sqlite3_bind_int64(st, 2, id);
  int rc = step_once(st);
  return rc ? fail_db(s, rc, "cannot update the frontier") : 0;
}

int store_take(struct store *s, size_t max, struct store_item **items,
               size_t *n)
{
  return store_take_host(s, NULL, max, items, n);
}

/* The rows st selects (id, url, depth, referrer_id; its parameters bound),
 * at most max, taken: in flight, and handed back in *items. */
static int take_rows(struct store *s, sqlite3_stmt *st, size_t max,
                     struct store_item **items, size_t *n);

int store_take_host(struct store *s, const char *host, size_t max,
                    struct store_item **items, size_t *n)
{
  sqlite3_stmt *st = s->st[host ? ST_TAKE_HOST : ST_TAKE];
  if (host)
    sqlite3_bind_text(st, 1, host, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, host ? 2 : 1,
                     max > INT64_MAX ? INT64_MAX : (int64_t)max);
  return take_rows(s, st, max, items, n);
}

int store_take_level(struct store *s, const char *host, int level, size_t max,
                     struct store_item **items, size_t *n)
{
  sqlite3_stmt *st = s->st[ST_TAKE_LEVEL];
  sqlite3_bind_text(st, 1, host, -1, SQLITE_STATIC);
  sqlite3_bind_int(st, 2, level);
  sqlite3_bind_int64(st, 3, max > INT64_MAX ? INT64_MAX : (int64_t)max);
  return take_rows(s, st, max, items, n);
}

int store_host_has_queued(struct store *s, const char *host, int *yes)
{
  int own, rc = op_enter(s, &own);
  *yes = 0;
  if (rc)
    return rc;
  sqlite3_stmt *st = s->st[ST_HOST_QUEUED];
  sqlite3_bind_text(st, 1, host, -1, SQLITE_STATIC);
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    *yes = sqlite3_column_int(st, 0) != 0;
    rc = 0;
  } else {
    rc = fail_db(s, rc, "cannot read the frontier");
  }
  sqlite3_reset(st);
  return op_leave(s, own, rc);
}

static int take_rows(struct store *s, sqlite3_stmt *st, size_t max,
                     struct store_item **items, size_t *n)
{
  struct store_item *v = NULL;
  size_t len = 0, cap = 0;
  int own, rc;

  *items = NULL;
  *n = 0;
  if (max == 0) {
    sqlite3_reset(st);
    return 0;
  }
  rc = op_enter(s, &own);
  if (rc) {
    sqlite3_reset(st);
    return rc;
  }
  /* Collected first, updated after: changing rows under a running SELECT
   * of the same index is undefined in SQLite. */
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    if (len == cap) {
      size_t ncap = cap ? cap * 2 : (max < 64 ? max : 64);
      struct store_item *nv = realloc(v, ncap * sizeof(*v));
      if (!nv) {
        rc = SQLITE_NOMEM;
        break;
      }
      v = nv;
      cap = ncap;
    }
    const char *url = (const char *)sqlite3_column_text(st, 1);
    struct store_item *it = &v[len];
    it->id = sqlite3_column_int64(st, 0);
    it->depth = sqlite3_column_int(st, 2);
    it->referrer_id = sqlite3_column_int64(st, 3);
    if (!(it->url = strdup(url ? url : ""))) {
      rc = SQLITE_NOMEM;
      break;
    }
    len++;
  }
  sqlite3_reset(st);
  if (rc == SQLITE_NOMEM)
    rc = fail(s, -ENOMEM, "out of memory");
  else if (rc != SQLITE_DONE)
    rc = fail_db(s, rc, "cannot read the frontier");
  else
    rc = 0;
  for (size_t i = 0; i < len && !rc; i++)
    rc = set_state(s, v[i].id, STORE_IN_FLIGHT);
  if (!rc) {
    s->pend[STORE_QUEUED] -= (int64_t)len;
    s->pend[STORE_IN_FLIGHT] += (int64_t)len;
  }
  rc = op_leave(s, own, rc);
  if (rc) {
    store_items_free(v, len);
    return rc;
  }
  *items = v;
  *n = len;
  return 0;
}

int store_retry_later(struct store *s, int64_t frontier_id)
{
  int own, rc = op_enter(s, &own);
  if (rc)
    return rc;
  rc = set_state(s, frontier_id, STORE_RETRY);
  if (!rc) {
    s->pend[STORE_DONE]--;
    s->pend[STORE_RETRY]++;
  }
  return op_leave(s, own, rc);
}

static int forget_page(struct store *s, int64_t id);

int store_requeue_retry(struct store *s, size_t *n)
{
  int own, rc = op_enter(s, &own);
  sqlite3_stmt *st = NULL;
  int64_t count = 0;
  if (rc)
    return rc;
  rc = sqlite3_prepare_v2(s->db, "SELECT id FROM frontier WHERE state = 3", -1,
                          &st, NULL);
  while (!rc) {
    int step = sqlite3_step(st);
    if (step == SQLITE_DONE)
      break;
    if (step != SQLITE_ROW) {
      rc = step;
      break;
    }
    int64_t id = sqlite3_column_int64(st, 0);
    /* Forgetting rows of the table being read: SQLite allows it, and the
     * cursor goes on past them. */
    if ((rc = forget_page(s, id)) || (rc = set_state(s, id, STORE_QUEUED)))
      break;
    count++;
  }
  sqlite3_finalize(st);
  if (rc > 0)
    rc = fail_db(s, rc, "cannot requeue");
  if (!rc) {
    s->pend[STORE_RETRY] -= count;
    s->pend[STORE_QUEUED] += count;
  }
  rc = op_leave(s, own, rc);
  if (n)
    *n = rc ? 0 : (size_t)count;
  return rc;
}

int store_requeue_in_flight(struct store *s, size_t *n)
{
  int own, rc = op_enter(s, &own);
  int64_t count = 0;
  if (rc)
    return rc;
  rc = sqlite3_exec(s->db, "UPDATE frontier SET state = 0 WHERE state = 1",
                    NULL, NULL, NULL);
  if (rc) {
    rc = fail_db(s, rc, "cannot requeue");
  } else {
    count = sqlite3_changes64(s->db);
    s->pend[STORE_IN_FLIGHT] -= count;
    s->pend[STORE_QUEUED] += count;
  }
  rc = op_leave(s, own, rc);
  if (n)
    *n = rc ? 0 : (size_t)count;
  return rc;
}

int store_next_queued_host(struct store *s, const char *after, char **host)
{
  int own, rc = op_enter(s, &own);
  *host = NULL;
  if (rc)
    return rc;
  sqlite3_stmt *st = s->st[ST_NEXT_HOST];
  sqlite3_bind_text(st, 1, after, -1, SQLITE_STATIC);
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    const char *h = (const char *)sqlite3_column_text(st, 0);
    rc = (*host = strdup(h ? h : "")) ? 0 : fail(s, -ENOMEM, "out of memory");
  } else {
    rc = rc == SQLITE_DONE ? 0 : fail_db(s, rc, "cannot read the frontier");
  }
  sqlite3_reset(st);
  return op_leave(s, own, rc);
}

int store_counts(struct store *s, int64_t *queued, int64_t *in_flight,
                 int64_t *done)
{
  if (queued)
    *queued = s->count[STORE_QUEUED] + s->pend[STORE_QUEUED];
  if (in_flight)
    *in_flight = s->count[STORE_IN_FLIGHT] + s->pend[STORE_IN_FLIGHT];
  if (done)
    *done = s->count[STORE_DONE] + s->pend[STORE_DONE];
  return 0;
}

/* ---- pages -------------------------------------------------------------- */

/* The indexed copy of p[0..*n): at most max bytes, cut on a UTF-8
 * boundary, with the bytes 0x01 and 0x02 (search.c's highlight markers)
 * turned into spaces. Returns p itself when nothing had to change, else a
 * copy in b; NULL when out of memory. */
static const char *index_text(struct buf *b, const char *p, size_t *n,
                              size_t max)
{
  size_t len = *n;
  if (len > max) {
    len = max;
    while (len > 0 && ((unsigned char)p[len] & 0xC0) == 0x80)
      len--;
  }
  *n = len;
  if (!memchr(p, 0x01, len) && !memchr(p, 0x02, len))
    return p;
  buf_reset(b);
  if (buf_append(b, p, len))
    return NULL;
  for (size_t i = 0; i < len; i++)
    if (b->data[i] == 0x01 || b->data[i] == 0x02)
      b->data[i] = ' ';
  return b->data;
}

static int put_links(struct store *s, int64_t id, const struct result *r)
{
  if (!r->links)
    return 0;
  enum { GROUP = 16 };
  const char *key[GROUP];
  size_t len[GROUP], n = 0;
  const char *p = r->links;
  for (int i = 0; i <= r->nlinks; i++) {
    if (i < r->nlinks) {
      size_t l = strlen(p);
      if (l) {
        key[n] = p;
        len[n++] = l;
      }
      p += l + 1;
      if (n < GROUP)
        continue;
    }
    /* A full group in one step; what is left at the end one by one. */
    sqlite3_stmt *st = s->st[n == GROUP ? ST_LINKS16 : ST_LINK];
    size_t per = n == GROUP ? GROUP : 1;
    for (size_t k = 0; k < n; k += per) {
      sqlite3_bind_int64(st, 1, id);
      for (size_t j = 0; j < per; j++)
        bind_text(st, (int)j + 2, key[k + j], len[k + j]);
      int rc = step_once(st);
      if (rc)
        return fail_db(s, rc, "cannot store links");
    }
    n = 0;
  }
  return 0;
}

static int put_text(struct store *s, int64_t id, const struct result *r,
                    const char *text, size_t text_len)
{
  /* <meta name=robots content=noindex>: out of the index, title too. */
  if (r->crawl && r->crawl->noindex)
    return 0;
  size_t tlen = r->title ? strlen(r->title) : 0;
  const char *title = r->title, *body = text;
  if (title && !(title = index_text(&s->title, title, &tlen, tlen)))
    return fail(s, -ENOMEM, "out of memory");
  if (body && !(body = index_text(&s->text, body, &text_len, STORE_TEXT_MAX)))
    return fail(s, -ENOMEM, "out of memory");
  if (!title && !body)
    return 0;
  for (int k = ST_TEXT; k <= ST_FTS; k++) {
    sqlite3_stmt *st = s->st[k];
    sqlite3_bind_int64(st, 1, id);
    bind_text(st, 2, title, tlen);
    bind_text(st, 3, body, text_len);
    int rc = step_once(st);
    if (rc)
      return fail_db(s, rc,
                     k == ST_TEXT ? "cannot store the page text"
                                  : "cannot index the page text");
  }
  return 0;
}

/* Forgets what an earlier store_put_page() of id wrote, index first (it
 * reads the text it indexed from page_text). */
static int forget_page(struct store *s, int64_t id)
{
  static const int order[] = {ST_FTS_DEL, ST_TEXT_DEL, ST_LINKS_DEL,
                              ST_PAGE_DEL};
  for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
    sqlite3_stmt *st = s->st[order[i]];
    sqlite3_bind_int64(st, 1, id);
    int rc = step_once(st);
    if (rc)
      return fail_db(s, rc, "cannot replace the page");
  }
  return 0;
}

static int put_page(struct store *s, int64_t id, const struct result *r,
                    int depth, const char *text, size_t text_len)
{
  sqlite3_stmt *st = s->st[ST_FRONT];
  int64_t referrer;
  int state, rc;
  char *url, when[32];

  sqlite3_bind_int64(st, 1, id);
  rc = sqlite3_step(st);
  if (rc != SQLITE_ROW) {
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
      return fail(s, -ENOENT, "no frontier row %lld", (long long)id);
    return fail_db(s, rc, "cannot read the frontier");
  }
  const char *u = (const char *)sqlite3_column_text(st, 0);
  url = strdup(u ? u : "");
  referrer = sqlite3_column_int64(st, 1);
  state = sqlite3_column_int(st, 2);
  sqlite3_reset(st);
  if (!url)
    return fail(s, -ENOMEM, "out of memory");

  if (state == STORE_DONE) {
    rc = forget_page(s, id);
  } else {
    rc = set_state(s, id, STORE_DONE);
    if (!rc && state >= 0 && state < STORE_NSTATES) {
      s->pend[state]--;
      s->pend[STORE_DONE]++;
    }
  }
  if (rc)
    goto out;

  st = s->st[ST_PAGE];
  *result_put_time(when, r->fetched_at_us) = '\0';
  sqlite3_bind_int64(st, 1, id);
  bind_str(st, 2, url);
  bind_str(st, 3, r->final_url);
  sqlite3_bind_int(st, 4, r->status);
  bind_str(st, 5, r->error);
  sqlite3_bind_int(st, 6, depth);
  bind_id(st, 7, referrer);
  bind_str(st, 8, r->title);
  bind_str(st, 9, r->canonical);
  bind_str(st, 10, r->meta_robots);
  bind_str(st, 11, r->hash[0] ? r->hash : NULL);
  bind_str(st, 12, when);
  sqlite3_bind_int64(st, 13, r->bytes);
  bind_str(st, 14, r->content_type);
  rc = step_once(st);
  if (rc) {
    rc = fail_db(s, rc, "cannot store the page");
    goto out;
  }
  rc = put_links(s, id, r);
  if (!rc)
    rc = put_text(s, id, r, text, text_len);
out:
  free(url);
  return rc;
}

int store_put_page(struct store *s, int64_t frontier_id,
                   const struct result *r, int depth, const char *text,
                   size_t text_len)
{
  int own, rc = op_enter(s, &own);
  if (rc)
    return rc;
  rc = put_page(s, frontier_id, r, depth, text, text_len);
  return op_leave(s, own, rc);
}

int store_rebuild_index(struct store *s)
{
  if (s->in_tx)
    return fail(s, -EINVAL, "rebuild runs in its own transaction");
  int own, rc = op_enter(s, &own);
  if (rc)
    return rc;
  rc = sqlite3_exec(s->db,
                    "INSERT INTO pages_fts(pages_fts) VALUES ('rebuild')",
                    NULL, NULL, NULL);
  if (rc)
    rc = fail_db(s, rc, "cannot rebuild the index");
  return op_leave(s, own, rc);
}
