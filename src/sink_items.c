/* sink_items: spate serve's items in the table `items` of an SQLite file,
 * written by the sink's writer thread (sink_open_format with
 * sink_items_format). An item travels as a struct result:
 *
 *   url        the source's name        canonical   the item's key
 *   title      its title (or NULL)      final_url   its link (or NULL)
 *   fields[0]  "data": the item as JSON fetched_at_us when it arrived
 *
 * (source, key) is unique: an item seen again (a feed polled again after a
 * restart) is not stored twice. WAL, synchronous=NORMAL, one transaction
 * per batch. The schema is in docs/LIVE.md. */
#include "db.h"
#include "result.h"
#include "sink_impl.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char schema_sql[] = "CREATE TABLE IF NOT EXISTS items (\n"
                                 "  id INTEGER PRIMARY KEY,\n"
                                 "  source TEXT NOT NULL,\n"
                                 "  key TEXT NOT NULL,\n"
                                 "  fetched_at TEXT NOT NULL,\n"
                                 "  title TEXT,\n"
                                 "  link TEXT,\n"
                                 "  data TEXT NOT NULL,\n"
                                 "  UNIQUE (source, key)\n"
                                 ");\n"
                                 "CREATE INDEX IF NOT EXISTS items_by_source\n"
                                 "  ON items(source, id);\n";

struct sink_out {
  sqlite3 *db;
  sqlite3_stmt *ins;
  char path[];
};

static int db_fail(struct sink_out *o, int rc, const char *what, char *err)
{
  snprintf(err, SINK_ERRMSG_MAX, "%s: %s: %s", o->path, what,
           o->db ? sqlite3_errmsg(o->db) : sqlite3_errstr(rc));
  return db_errno(o->db, rc);
}

static void items_free(struct sink_out *o)
{
  sqlite3_finalize(o->ins);
  if (o->db)
    sqlite3_close_v2(o->db);
  free(o);
}

static int items_open(struct sink_out **out, const char *path,
                      const struct sink_options *opt, char *err)
{
  (void)opt;
  size_t len = strlen(path);
  struct sink_out *o = calloc(1, sizeof(*o) + len + 1);
  char mode[16];
  int rc;
  *out = NULL;
  if (!o) {
    snprintf(err, SINK_ERRMSG_MAX, "out of memory");
    return -ENOMEM;
  }
  memcpy(o->path, path, len + 1);
  rc = sqlite3_open_v2(
      path, &o->db,
      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
  if (rc) {
    rc = db_fail(o, rc, "cannot open", err);
    items_free(o);
    return rc;
  }
  sqlite3_busy_timeout(o->db, 5000);
  rc = db_query_text(o->db, "PRAGMA journal_mode=WAL", mode, sizeof(mode));
  if (!rc)
    rc = sqlite3_exec(o->db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL);
  if (!rc)
    rc = sqlite3_exec(o->db, schema_sql, NULL, NULL, NULL);
  if (!rc)
    rc = sqlite3_prepare_v2(o->db,
                            "INSERT OR IGNORE INTO items(source, key, "
                            "fetched_at, title, link, data) "
                            "VALUES (?, ?, ?, ?, ?, ?)",
                            -1, &o->ins, NULL);
  if (rc) {
    rc = db_fail(o, rc, "cannot set up the items table", err);
    items_free(o);
    return rc;
  }
  *out = o;
  return 0;
}

static int items_write(struct sink_out *o, struct result *const *rs, size_t n,
                       char *err)
{
  int rc = sqlite3_exec(o->db, "BEGIN", NULL, NULL, NULL);
  for (size_t i = 0; !rc && i < n; i++) {
    const struct result *r = rs[i];
    char when[32];
    *result_put_time(when, r->fetched_at_us) = '\0';
    sqlite3_bind_text(o->ins, 1, r->url, -1, SQLITE_STATIC);
    sqlite3_bind_text(o->ins, 2, r->canonical ? r->canonical : "", -1,
                      SQLITE_STATIC);
    sqlite3_bind_text(o->ins, 3, when, -1, SQLITE_TRANSIENT);
    if (r->title)
      sqlite3_bind_text(o->ins, 4, r->title, -1, SQLITE_STATIC);
    else
      sqlite3_bind_null(o->ins, 4);
    if (r->final_url)
      sqlite3_bind_text(o->ins, 5, r->final_url, -1, SQLITE_STATIC);
    else
      sqlite3_bind_null(o->ins, 5);
    sqlite3_bind_text(o->ins, 6, r->nfields ? r->fields[0].json : "{}", -1,
                      SQLITE_STATIC);
    rc = sqlite3_step(o->ins);
    rc = rc == SQLITE_DONE ? 0 : rc;
    sqlite3_reset(o->ins);
    sqlite3_clear_bindings(o->ins);
  }
  if (!rc)
    rc = sqlite3_exec(o->db, "COMMIT", NULL, NULL, NULL);
  if (rc) {
    int e = db_fail(o, rc, "writing items failed", err);
    int prim = rc & 0xff;
    sqlite3_exec(o->db, "ROLLBACK", NULL, NULL, NULL);
    /* Locked by another writer, a full disk, an I/O error: the service
     * keeps the batch and tries again (sink.c) rather than stop storing. */
    if (prim == SQLITE_BUSY || prim == SQLITE_LOCKED || prim == SQLITE_FULL ||
        prim == SQLITE_IOERR)
      return -EAGAIN;
    return e;
  }
  return 0;
}

static int items_flush(struct sink_out *o, char *err)
{
  (void)o;
  (void)err;
  return 0; /* every write commits */
}

static int items_close(struct sink_out *o, int failed, char *err)
{
  (void)failed;
  (void)err;
  items_free(o);
  return 0;
}

const struct sink_format sink_items_format = {
    items_open,
    items_write,
    items_flush,
    items_close,
};
