/* Tests of the checkpointer: commits wake it and it copies the log back,
 * so the WAL starts over instead of growing; a writer that never pauses
 * between transactions (the crawl store's) is bounded by the inline
 * checkpoint; nothing written is lost. */
#include "check.h"

#include "checkpointer.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char tmpdir[] = "/tmp/spate-test-ckpt-XXXXXX";

#define PAGE 4096
#define FRAME (PAGE + 24) /* a WAL frame: its header and one page */
#define ROW 4096          /* about what insert_pages' rows take each */

static void sleep_ms(long ms)
{
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static long long file_size(const char *path)
{
  struct stat st;
  return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

static int exec(sqlite3 *db, const char *sql)
{
  char *msg = NULL;
  int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
  if (rc)
    fprintf(stderr, "%s: %s\n", sql, msg ? msg : "?");
  sqlite3_free(msg);
  return rc;
}

static sqlite3 *open_wal(const char *path, int page)
{
  sqlite3 *db = NULL;
  char sql[200];
  snprintf(sql, sizeof(sql),
           "PRAGMA page_size=%d; PRAGMA journal_mode=WAL;"
           "PRAGMA synchronous=NORMAL;"
           "CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, b)",
           page);
  CHECK(sqlite3_open(path, &db) == SQLITE_OK);
  CHECK(exec(db, sql) == 0);
  return db;
}

/* n rows of about ROW bytes: n pages of 4 KiB. */
static int insert_pages(sqlite3 *db, int n)
{
  sqlite3_stmt *st;
  int rc = sqlite3_prepare_v2(db, "INSERT INTO t(b) VALUES (randomblob(3900))",
                              -1, &st, NULL);
  for (int i = 0; i < n && rc == SQLITE_OK; i++) {
    rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
    sqlite3_reset(st);
  }
  sqlite3_finalize(st);
  return rc;
}

static long long count_rows(sqlite3 *db)
{
  sqlite3_stmt *st;
  long long n = -1;
  if (sqlite3_prepare_v2(db, "SELECT count(*) FROM t", -1, &st, NULL) ==
      SQLITE_OK) {
    if (sqlite3_step(st) == SQLITE_ROW)
      n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
  }
  return n;
}

/* A WAL database name in tmpdir (path and its log's name filled in)
 * with a checkpointer on its connection, or NULL (a failed check). */
static struct checkpointer *start(const char *name, int page, char path[300],
                                  char wal[310], sqlite3 **db)
{
  struct checkpointer *c = NULL;
  char err[256] = "";
  snprintf(path, 300, "%s/%s", tmpdir, name);
  snprintf(wal, 310, "%s-wal", path);
  *db = open_wal(path, page);
  CHECK(checkpointer_start(&c, *db, path, err) == 0);
  if (!c) {
    fprintf(stderr, "checkpointer_start: %s\n", err);
    sqlite3_close(*db);
  }
  return c;
}

/* Commits with pauses between them (the result sink's way): each commit
 * past CHECKPOINTER_WAKE_BYTES is copied back by the thread, and the next
 * transaction starts the log over, so it stays about one commit long. */
static void test_background(void)
{
  char path[300], wal[310];
  sqlite3 *db;
  struct checkpointer *c = start("bg.db", PAGE, path, wal, &db);
  if (!c)
    return;
  struct checkpointer_stats st = {0};
  long long max_wal = 0, done = 0;
  for (int i = 0; i < 16; i++) {
    CHECK(exec(db, "BEGIN IMMEDIATE") == 0);
    CHECK(insert_pages(db, 600) == SQLITE_OK);
    CHECK(exec(db, "COMMIT") == 0);
    long long sz = file_size(wal);
    if (sz > max_wal)
      max_wal = sz;
    /* About every other commit crosses the threshold: give the thread
     * (at most 300 ms) to have copied it before the next transaction. */
    for (int w = 0; w < 30; w++) {
      checkpointer_stats(c, &st);
      if (st.background > done)
        break;
      sleep_ms(10);
    }
    done = st.background;
  }
  checkpointer_stats(c, &st);
  fprintf(stderr,
          "background: %lld checkpoints, %lld inline, WAL at most "
          "%lld bytes\n",
          st.background, st.inline_runs, max_wal);
  CHECK(st.background >= 4);
  CHECK(st.inline_runs == 0);
  /* 16 x 600 pages went through a log never much longer than two
   * commits: without the checkpoints it would be 9,600 pages long. */
  CHECK(max_wal > 0 &&
        max_wal <= 2LL * (CHECKPOINTER_WAKE_BYTES / PAGE + 700) * FRAME);
  checkpointer_stop(c);
  CHECK(count_rows(db) == 16 * 600);
  CHECK(sqlite3_close(db) == SQLITE_OK);
  /* The last connection's close checkpointed and removed the log. */
  CHECK(file_size(wal) == -1);
  db = open_wal(path, PAGE);
  CHECK(count_rows(db) == 16 * 600);
  sqlite3_close(db);
}

/* A writer that begins its next transaction the moment it commits (the
 * crawl store's): its open read snapshot keeps SQLite from starting the
 * log over after a background checkpoint, so the inline checkpoint at
 * CHECKPOINTER_HARD_BYTES is what bounds it, in bytes whatever the page
 * size (the crawl store's pages are 64 KiB). */
static void test_bound(int page)
{
  char path[300], wal[310], name[32];
  sqlite3 *db;
  snprintf(name, sizeof(name), "bound-%d.db", page);
  struct checkpointer *c = start(name, page, path, wal, &db);
  if (!c)
    return;
  const int commits = 20, per = 1000; /* 80 MB in all */
  long long max_wal = 0;
  CHECK(exec(db, "BEGIN IMMEDIATE") == 0);
  for (int i = 0; i < commits; i++) {
    CHECK(insert_pages(db, per) == SQLITE_OK);
    CHECK(exec(db, "COMMIT; BEGIN IMMEDIATE") == 0);
    long long sz = file_size(wal);
    if (sz > max_wal)
      max_wal = sz;
  }
  CHECK(exec(db, "COMMIT") == 0);
  struct checkpointer_stats st;
  checkpointer_stats(c, &st);
  fprintf(stderr,
          "bound, %d-byte pages: %lld checkpoints, %lld inline, WAL at "
          "most %lld bytes\n",
          page, st.background, st.inline_runs, max_wal);
  CHECK(st.inline_runs >= 1);
  /* The bound and two commits' worth, with the frames' headers. */
  CHECK(max_wal > 0 && max_wal <= (CHECKPOINTER_HARD_BYTES + 2LL * per * ROW) /
                                      page * (page + 24));
  checkpointer_stop(c);
  CHECK(count_rows(db) == (long long)commits * per);
  CHECK(sqlite3_close(db) == SQLITE_OK);
  CHECK(file_size(wal) == -1);
}

/* A path that is not a database the writer has in WAL mode is refused
 * with a reason, and the writer keeps SQLite's own checkpoints. */
static void test_refused(void)
{
  char path[300];
  snprintf(path, sizeof(path), "%s/rollback.db", tmpdir);
  sqlite3 *db = NULL;
  CHECK(sqlite3_open(path, &db) == SQLITE_OK);
  CHECK(exec(db, "CREATE TABLE t(x)") == 0);
  struct checkpointer *c = (struct checkpointer *)&c;
  char err[256] = "";
  CHECK(checkpointer_start(&c, db, path, err) < 0);
  CHECK(c == NULL);
  CHECK(strstr(err, "not in WAL mode") != NULL);
  checkpointer_stop(NULL);
  sqlite3_close(db);
}

int main(void)
{
  if (!mkdtemp(tmpdir)) {
    perror("mkdtemp");
    return 1;
  }
  test_background();
  test_bound(PAGE);
  test_bound(65536);
  test_refused();
  check_rmtree(tmpdir);
  return check_report("test_checkpointer");
}
