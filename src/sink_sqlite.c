/* sink_sqlite: one row per result in the table `results` of an SQLite
 * database, appended (never upserted: a URL fetched twice, in one run or in
 * two, has two rows). The schema is documented verbatim in docs/OUTPUT.md;
 * change both together and bump schema_version.
 *
 * Rows are grouped into transactions of batch_rows rows, and a transaction
 * is also committed whenever the queue runs dry, so rows become visible
 * promptly at low rates while high rates get large batches. WAL with
 * synchronous=NORMAL: a commit costs no fsync, and a crash can lose the last
 * commits but never corrupts the file. The WAL is copied back into the
 * file by a checkpointer thread (checkpointer.h), not inside the writer's
 * COMMIT; where WAL mode is not available, SQLite's own rules apply. */
#include "buf.h"
#include "checkpointer.h"
#include "result.h"
#include "sink_impl.h"
#include "db.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCHEMA_VERSION "1"

/* Keep in step with docs/OUTPUT.md, which quotes these statements. */
static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS meta (\n"
    "  key TEXT PRIMARY KEY,\n"
    "  value TEXT\n"
    ");\n"
    "CREATE TABLE IF NOT EXISTS results (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  url TEXT NOT NULL,\n"
    "  final_url TEXT,\n"
    "  status INTEGER NOT NULL,\n"
    "  error TEXT,\n"
    "  attempts INTEGER NOT NULL,\n"
    "  elapsed_ms REAL,\n"
    "  ttfb_ms REAL,\n"
    "  bytes INTEGER NOT NULL,\n"
    "  content_type TEXT,\n"
    "  title TEXT,\n"
    "  nlinks INTEGER NOT NULL,\n"
    "  links TEXT,\n"
    "  canonical TEXT,\n"
    "  meta_robots TEXT,\n"
    "  hash TEXT,\n"
    "  fetched_at TEXT NOT NULL,\n"
    "  fields TEXT NOT NULL\n"
    ");\n"
    "CREATE INDEX IF NOT EXISTS results_url ON results(url);\n"
    "INSERT OR IGNORE INTO meta(key, value)\n"
    "  VALUES ('schema_version', '" SCHEMA_VERSION "');\n";

/* The columns of results, in order, as an existing table must have them. */
static const char *const table_columns[] = {
    "id",       "url",        "final_url", "status",    "error",
    "attempts", "elapsed_ms", "ttfb_ms",   "bytes",     "content_type",
    "title",    "nlinks",     "links",     "canonical", "meta_robots",
    "hash",     "fetched_at", "fields",    NULL};

static const char insert_sql[] =
    "INSERT INTO results(url, final_url, status, error, attempts,"
    " elapsed_ms, ttfb_ms, bytes, content_type, title, nlinks, links,"
    " canonical, meta_robots, hash, fetched_at, fields)"
    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";

struct sink_out {
  sqlite3 *db;
  struct checkpointer *ckpt; /* NULL: SQLite checkpoints in COMMIT */
  sqlite3_stmt *insert, *begin, *commit;
  int batch_rows;
  /* Rows in the open transaction, or -1 when none is open. */
  int rows;
  /* The JSON text of the row being inserted, kept for reuse. */
  struct buf links, fields;
  char path[];
};

/* Records the connection's current error for what (a short phrase) and
 * returns it as a negative errno. */
static int fail_db(struct sink_out *o, int rc, const char *what, char *err)
{
  int sys = sqlite3_system_errno(o->db);
  if (((rc & 0xff) == SQLITE_CANTOPEN || (rc & 0xff) == SQLITE_IOERR) &&
      sys > 0)
    snprintf(err, SINK_ERRMSG_MAX, "%s: %s: %s (%s)", o->path, what,
             strerror(sys), sqlite3_errmsg(o->db));
  else
    snprintf(err, SINK_ERRMSG_MAX, "%s: %s: %s", o->path, what,
             sqlite3_errmsg(o->db));
  return db_errno(o->db, rc);
}

static int step_once(sqlite3_stmt *st)
{
  int rc = sqlite3_step(st);
  sqlite3_reset(st);
  return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

/* Compares the columns of table with want (NULL-terminated). Sets *exists
 * and *same. Returns an SQLite code. */
static int table_shape(sqlite3 *db, const char *table, const char *const *want,
                       int *exists, int *same)
{
  char sql[64];
  sqlite3_stmt *st;
  int rc, i = 0;
  snprintf(sql, sizeof(sql), "PRAGMA table_info(%s)", table);
  rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
  if (rc)
    return rc;
  *exists = 0;
  *same = 1;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    const unsigned char *name = sqlite3_column_text(st, 1);
    *exists = 1;
    if (!want[i] || !name || strcmp((const char *)name, want[i]) != 0)
      *same = 0;
    if (want[i])
      i++;
  }
  if (want[i])
    *same = 0;
  sqlite3_finalize(st);
  return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Creates the schema, or checks that an existing database has it, in one
 * transaction so that two processes opening the same new file agree. */
static int setup_schema(struct sink_out *o, char *err)
{
  static const char *const meta_columns[] = {"key", "value", NULL};
  char version[32] = "";
  int rc, results_exist, results_same, meta_exist, meta_same;

  rc = sqlite3_exec(o->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
  if (rc)
    return fail_db(o, rc, "cannot lock the database", err);
  rc = table_shape(o->db, "results", table_columns, &results_exist,
                   &results_same);
  if (!rc)
    rc = table_shape(o->db, "meta", meta_columns, &meta_exist, &meta_same);
  if (!rc && meta_exist && meta_same)
    rc = db_query_text(o->db,
                       "SELECT value FROM meta WHERE key = 'schema_version'",
                       version, sizeof(version));
  if (rc) {
    rc = fail_db(o, rc, "cannot read the schema", err);
    goto fail;
  }
  if ((meta_exist && !meta_same) || (results_exist && !results_same) ||
      (results_exist && !version[0])) {
    snprintf(err, SINK_ERRMSG_MAX,
             "%s: not a spate results database (its tables \"results\" or "
             "\"meta\" have other columns)",
             o->path);
    rc = -EINVAL;
    goto fail;
  }
  if (version[0] && strcmp(version, SCHEMA_VERSION) != 0) {
    snprintf(err, SINK_ERRMSG_MAX,
             "%s: schema_version is %s, this spate writes " SCHEMA_VERSION,
             o->path, version);
    rc = -EINVAL;
    goto fail;
  }
  rc = sqlite3_exec(o->db, schema_sql, NULL, NULL, NULL);
  if (!rc)
    rc = sqlite3_exec(o->db, "COMMIT", NULL, NULL, NULL);
  if (rc) {
    rc = fail_db(o, rc, "cannot create the schema", err);
    goto fail;
  }
  return 0;

fail:
  sqlite3_exec(o->db, "ROLLBACK", NULL, NULL, NULL);
  return rc;
}

static int sqlite_close(struct sink_out *o, int failed, char *err);

static int sqlite_open(struct sink_out **out, const char *path,
                       const struct sink_options *opt, char *err)
{
  size_t len = strlen(path);
  struct sink_out *o = calloc(1, sizeof(*o) + len + 1);
  char mode[16], ignored[SINK_ERRMSG_MAX];
  int rc;

  *out = NULL;
  if (!o) {
    snprintf(err, SINK_ERRMSG_MAX, "out of memory");
    return -ENOMEM;
  }
  memcpy(o->path, path, len + 1);
  o->rows = -1;
  o->batch_rows = opt->batch_rows > 0 ? opt->batch_rows : 500;
  /* The connection is opened here and then used by the writer thread
   * alone; that is allowed in multi-thread mode, which NOMUTEX asks for. */
  if (!sqlite3_threadsafe()) {
    snprintf(err, SINK_ERRMSG_MAX, "%s: SQLite was built without threads",
             path);
    rc = -ENOTSUP;
    goto fail;
  }
  rc = sqlite3_open_v2(path, &o->db,
                       SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                           SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE,
                       NULL);
  if (rc && !o->db) {
    snprintf(err, SINK_ERRMSG_MAX, "out of memory");
    rc = -ENOMEM;
    goto fail;
  }
  if (rc) {
    rc = fail_db(o, rc, "cannot open the SQLite database", err);
    goto fail;
  }
  /* SQLite falls back to read-only when the file is write-protected; a
   * sink must find out now, not at the first insert. */
  if (sqlite3_db_readonly(o->db, "main") == 1) {
    snprintf(err, SINK_ERRMSG_MAX,
             "%s: the SQLite database is read-only (no write permission)",
             path);
    rc = -EROFS;
    goto fail;
  }
  sqlite3_busy_timeout(o->db, 5000);
  rc = db_query_text(o->db, "PRAGMA journal_mode=WAL", mode, sizeof(mode));
  if (!rc)
    rc = sqlite3_exec(o->db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL);
  if (rc) {
    rc = fail_db(o, rc, "cannot set up the database", err);
    goto fail;
  }
  rc = setup_schema(o, err);
  if (rc)
    goto fail;
  /* Without the thread (no WAL here, no memory) the writer checkpoints
   * as SQLite does by default: slower, not wrong. */
  if (strcmp(mode, "wal") == 0)
    checkpointer_start(&o->ckpt, o->db, path, ignored);
  rc = sqlite3_prepare_v3(o->db, insert_sql, -1, SQLITE_PREPARE_PERSISTENT,
                          &o->insert, NULL);
  if (!rc)
    rc = sqlite3_prepare_v3(o->db, "BEGIN IMMEDIATE", -1,
                            SQLITE_PREPARE_PERSISTENT, &o->begin, NULL);
  if (!rc)
    rc = sqlite3_prepare_v3(o->db, "COMMIT", -1, SQLITE_PREPARE_PERSISTENT,
                            &o->commit, NULL);
  if (rc) {
    rc = fail_db(o, rc, "cannot prepare statements", err);
    goto fail;
  }
  *out = o;
  return 0;

fail:
  sqlite_close(o, 1, ignored);
  return rc;
}

static int commit(struct sink_out *o, char *err)
{
  if (o->rows < 0)
    return 0;
  int rc = step_once(o->commit);
  if (rc) {
    rc = fail_db(o, rc, "commit failed", err);
    sqlite3_exec(o->db, "ROLLBACK", NULL, NULL, NULL);
  }
  o->rows = -1;
  return rc;
}

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
  /* SQLITE_STATIC: the strings outlive the step that reads them, and
   * every parameter is bound again before the next step. */
  if (s)
    sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
  else
    sqlite3_bind_null(st, i);
}

static int insert(struct sink_out *o, const struct result *r, char *err)
{
  sqlite3_stmt *st = o->insert;
  char when[32];
  *result_put_time(when, r->fetched_at_us) = '\0';
  buf_reset(&o->fields);
  buf_reset(&o->links);
  if (result_fields_json(r, &o->fields) ||
      (r->links && result_links_json(r, &o->links))) {
    snprintf(err, SINK_ERRMSG_MAX, "out of memory");
    return -ENOMEM;
  }
  bind_text(st, 1, r->url);
  bind_text(st, 2, r->final_url);
  sqlite3_bind_int(st, 3, r->status);
  bind_text(st, 4, r->error);
  sqlite3_bind_int(st, 5, r->attempts);
  sqlite3_bind_double(st, 6, r->elapsed_ms);
  if (r->ttfb_ms >= 0)
    sqlite3_bind_double(st, 7, r->ttfb_ms);
  else
    sqlite3_bind_null(st, 7);
  sqlite3_bind_int64(st, 8, r->bytes);
  bind_text(st, 9, r->content_type);
  bind_text(st, 10, r->title);
  sqlite3_bind_int(st, 11, r->nlinks);
  bind_text(st, 12, r->links ? o->links.data : NULL);
  bind_text(st, 13, r->canonical);
  bind_text(st, 14, r->meta_robots);
  bind_text(st, 15, r->hash[0] ? r->hash : NULL);
  bind_text(st, 16, when);
  bind_text(st, 17, o->fields.data);
  int rc = step_once(st);
  return rc ? fail_db(o, rc, "insert failed", err) : 0;
}

static int sqlite_write(struct sink_out *o, struct result *const *rs, size_t n,
                        char *err)
{
  int rc;
  for (size_t i = 0; i < n; i++) {
    if (o->rows < 0) {
      rc = step_once(o->begin);
      if (rc)
        return fail_db(o, rc, "cannot begin a transaction", err);
      o->rows = 0;
    }
    rc = insert(o, rs[i], err);
    if (rc) {
      sqlite3_exec(o->db, "ROLLBACK", NULL, NULL, NULL);
      o->rows = -1;
      return rc;
    }
    if (++o->rows >= o->batch_rows) {
      rc = commit(o, err);
      if (rc)
        return rc;
    }
  }
  return 0;
}

static int sqlite_flush(struct sink_out *o, char *err)
{
  return commit(o, err);
}

static int sqlite_close(struct sink_out *o, int failed, char *err)
{
  int rc = 0;
  if (o->rows >= 0) {
    if (failed) {
      sqlite3_exec(o->db, "ROLLBACK", NULL, NULL, NULL);
      o->rows = -1;
    } else {
      rc = commit(o, err);
    }
  }
  sqlite3_finalize(o->commit);
  sqlite3_finalize(o->begin);
  sqlite3_finalize(o->insert);
  checkpointer_stop(o->ckpt);
  /* The last connection to close checkpoints the WAL into the db file. */
  int crc = sqlite3_close(o->db);
  if (crc) {
    if (!rc)
      rc = fail_db(o, crc, "close failed", err);
    sqlite3_close_v2(o->db); /* do not leak it whatever held it open */
  }
  buf_free(&o->fields);
  buf_free(&o->links);
  free(o);
  return rc;
}

const struct sink_format sink_sqlite_format = {
    .open = sqlite_open,
    .write = sqlite_write,
    .flush = sqlite_flush,
    .close = sqlite_close,
};
