/* Tests of the crawl store: exact dedup, breadth-first takes, page
 * round trips, FTS indexing, and consistency after SIGKILL at many
 * points. */
#include "check.h"

#include "result.h"
#include "store.h"

#include <errno.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char tmpdir[] = "/tmp/spate-test-store-XXXXXX";

/* Removes a database and its WAL files. */
static void rm_db(const char *path)
{
  char side[300];
  unlink(path);
  snprintf(side, sizeof(side), "%s-wal", path);
  unlink(side);
  snprintf(side, sizeof(side), "%s-shm", path);
  unlink(side);
}

static void tmp_path(char *out, size_t cap, const char *name)
{
  snprintf(out, cap, "%s/%s", tmpdir, name);
  rm_db(out);
}

static struct store *open_store(const char *path)
{
  struct store *s = NULL;
  char err[256];
  int rc = store_open(&s, path, err);
  if (rc)
    fprintf(stderr, "store_open(%s): %s\n", path, err);
  CHECK(rc == 0);
  return s;
}

static int64_t query_int(sqlite3 *db, const char *sql)
{
  sqlite3_stmt *st;
  int64_t v = -1;
  if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
    fprintf(stderr, "%s: %s\n", sql, sqlite3_errmsg(db));
    return -1;
  }
  if (sqlite3_step(st) == SQLITE_ROW)
    v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return v;
}

static sqlite3 *open_db(const char *path)
{
  sqlite3 *db = NULL;
  CHECK(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                        NULL) == SQLITE_OK);
  return db;
}

/* A fetched page: links are the given keys, back to back. */
static struct result *make_page(const char *url, const char *title,
                                const char *const *links, int nlinks)
{
  struct result *r = result_new(url, strlen(url));
  size_t len = 0;
  r->final_url = strdup(url);
  r->status = 200;
  r->attempts = 1;
  r->bytes = 1234;
  r->content_type = strdup("text/html");
  r->title = title ? strdup(title) : NULL;
  memcpy(r->hash, "ab12", 5);
  r->fetched_at_us = INT64_C(1795449784123000);
  for (int i = 0; i < nlinks; i++)
    len += strlen(links[i]) + 1;
  if (nlinks) {
    r->links = malloc(len);
    char *p = r->links;
    for (int i = 0; i < nlinks; i++) {
      size_t l = strlen(links[i]) + 1;
      memcpy(p, links[i], l);
      p += l;
    }
    r->nlinks = nlinks;
  }
  return r;
}

static void test_open(void)
{
  char path[256], err[256];
  struct store *s;
  char *v;

  tmp_path(path, sizeof(path), "open.db");
  s = open_store(path);
  if (!s)
    return;
  CHECK(store_meta_get(s, "format", &v) == 0);
  CHECK_STR(v, STORE_FORMAT);
  free(v);
  CHECK(store_meta_get(s, "schema_version", &v) == 0);
  CHECK_STR(v, STORE_SCHEMA_VERSION);
  free(v);
  CHECK(store_meta_get(s, "nothing", &v) == 0);
  CHECK(v == NULL);
  const char *crawl = "{\"seeds\":[\"http://a.test/\"],\"scope\":\"host\"}";
  CHECK(store_meta_expect(s, "crawl", crawl) == 0);
  CHECK(store_meta_expect(s, "crawl", crawl) == 0);
  store_close(s);

  /* Reopened: the same crawl is accepted, another refused. */
  s = open_store(path);
  if (!s)
    return;
  CHECK(store_meta_expect(s, "crawl", crawl) == 0);
  CHECK(store_meta_expect(s, "crawl", "{\"seeds\":[\"http://b.test/\"]}") ==
        -EEXIST);
  CHECK(strstr(store_errmsg(s), "another crawl") != NULL);
  store_close(s);

  sqlite3 *db = open_db(path);
  CHECK(query_int(db, "SELECT count(*) FROM pragma_journal_mode "
                      "WHERE journal_mode = 'wal'") == 1);
  sqlite3_close(db);

  /* A database that is not a crawl store is refused and left as is. */
  tmp_path(path, sizeof(path), "other.db");
  db = open_db(path);
  CHECK(sqlite3_exec(db,
                     "CREATE TABLE results(x); INSERT INTO results "
                     "VALUES (1)",
                     NULL, NULL, NULL) == SQLITE_OK);
  sqlite3_close(db);
  s = NULL;
  CHECK(store_open(&s, path, err) == -EINVAL);
  CHECK(s == NULL);
  CHECK(strstr(err, "not a spate crawl store") != NULL);
  CHECK(strstr(err, path) != NULL);
  db = open_db(path);
  CHECK(query_int(db, "SELECT count(*) FROM sqlite_schema") == 1);
  sqlite3_close(db);

  /* A directory that does not exist. */
  CHECK(store_open(&s, "/nonexistent-dir/x.db", err) < 0);
  CHECK(strstr(err, "/nonexistent-dir/x.db") != NULL);
}

#define NURLS 10000

static void key_of(char *out, size_t cap, int i)
{
  snprintf(out, cap, "http://h%d.test/page/%d?q=%d", i % 7, i, i * 31);
}

/* 10,000 URLs in batches that overlap each other and repeat keys within a
 * batch: added counts are exact. */
static void test_add_dedup(void)
{
  static unsigned char seen[NURLS];
  static char keys[500][64];
  const char *ptrs[500];
  char path[256];
  unsigned seed = 12345;
  size_t added, total = 0;
  int bad = 0;

  tmp_path(path, sizeof(path), "dedup.db");
  struct store *s = open_store(path);
  if (!s)
    return;
  memset(seen, 0, sizeof(seen));
  for (int batch = 0; batch < 60; batch++) {
    size_t want = 0;
    for (int k = 0; k < 500; k++) {
      int i = (int)(rand_r(&seed) % NURLS);
      /* Every fifth key repeats the previous one in the same batch. */
      if (k % 5 == 4)
        memcpy(keys[k], keys[k - 1], sizeof(keys[k]));
      else
        key_of(keys[k], sizeof(keys[k]), i);
      if (k % 5 != 4 && !seen[i]) {
        seen[i] = 1;
        want++;
      }
      ptrs[k] = keys[k];
    }
    CHECK(store_begin(s) == 0);
    CHECK(store_add_urls(s, ptrs, 500, batch % 3, 0, &added) == 0);
    CHECK(store_commit(s) == 0);
    bad += added != want;
    total += added;
  }
  CHECK(bad == 0);
  /* Then all of them: exactly the rest are new. */
  size_t rest = NURLS - total;
  CHECK(store_begin(s) == 0);
  for (int i = 0; i < NURLS; i += 500) {
    for (int k = 0; k < 500; k++) {
      key_of(keys[k], sizeof(keys[k]), i + k);
      ptrs[k] = keys[k];
    }
    CHECK(store_add_urls(s, ptrs, 500, 1, 0, &added) == 0);
    total += added;
  }
  CHECK(store_commit(s) == 0);
  CHECK(total == NURLS);
  CHECK(rest > 0);
  int64_t q, f, d;
  store_counts(s, &q, &f, &d);
  CHECK(q == NURLS && f == 0 && d == 0);

  /* Outside a transaction, a call is its own. */
  CHECK(store_add_urls(s, ptrs, 1, 0, 0, &added) == 0);
  CHECK(added == 0);
  const char *fresh = "http://fresh.test/";
  CHECK(store_add_urls(s, &fresh, 1, 0, 0, &added) == 0);
  CHECK(added == 1);

  /* A rolled-back add leaves neither rows nor counts. */
  const char *gone = "http://gone.test/";
  CHECK(store_begin(s) == 0);
  CHECK(store_add_urls(s, &gone, 1, 0, 0, &added) == 0 && added == 1);
  store_counts(s, &q, NULL, NULL);
  CHECK(q == NURLS + 2);
  CHECK(store_begin(s) == -EINVAL); /* no nesting */
  CHECK(store_rollback(s) == 0);
  store_counts(s, &q, NULL, NULL);
  CHECK(q == NURLS + 1);
  store_close(s);

  sqlite3 *db = open_db(path);
  CHECK(query_int(db, "SELECT count(*) FROM frontier") == NURLS + 1);
  CHECK(query_int(db, "SELECT count(*) FROM frontier WHERE url = "
                      "'http://gone.test/'") == 0);
  sqlite3_close(db);
}

#define TREE 400

/* A site where page n links to 3n+1..3n+3 (below TREE), to its parent and
 * to itself: a crawl of it by take/put round trips finds every page once,
 * breadth-first, with the right depths and referrers. */
static void test_crawl_round_trip(void)
{
  char path[256], keys[5][64];
  const char *links[5];
  int taken[TREE] = {0};
  int depth_of[TREE];
  struct store_item *items;
  size_t n, added;
  int last_depth = 0, order_bad = 0, depth_bad = 0, take_calls = 0;
  int64_t last_id = 0;

  tmp_path(path, sizeof(path), "crawl.db");
  struct store *s = open_store(path);
  if (!s)
    return;
  depth_of[0] = 0;
  for (int i = 1; i < TREE; i++)
    depth_of[i] = depth_of[(i - 1) / 3] + 1;
  snprintf(keys[0], sizeof(keys[0]), "http://t.test/0");
  links[0] = keys[0];
  CHECK(store_add_urls(s, links, 1, 0, 0, &added) == 0 && added == 1);

  for (;;) {
    CHECK(store_begin(s) == 0);
    CHECK(store_take(s, 7, &items, &n) == 0);
    CHECK(store_commit(s) == 0);
    take_calls++;
    if (n == 0)
      break;
    CHECK(store_begin(s) == 0);
    for (size_t k = 0; k < n; k++) {
      int page = atoi(items[k].url + strlen("http://t.test/"));
      if (page < 0 || page >= TREE)
        continue;
      taken[page]++;
      /* Breadth-first: depth never decreases; discovery order within. */
      if (items[k].depth < last_depth ||
          (items[k].depth == last_depth && items[k].id < last_id))
        order_bad++;
      last_depth = items[k].depth;
      last_id = items[k].id;
      depth_bad += items[k].depth != depth_of[page];
      int nl = 0;
      for (int c = 3 * page + 1; c <= 3 * page + 3 && c < TREE; c++) {
        snprintf(keys[nl], sizeof(keys[nl]), "http://t.test/%d", c);
        links[nl] = keys[nl];
        nl++;
      }
      snprintf(keys[nl], sizeof(keys[nl]), "http://t.test/%d",
               page ? (page - 1) / 3 : 0);
      links[nl] = keys[nl];
      nl++;
      links[nl++] = items[k].url;
      CHECK(store_add_urls(s, links, (size_t)nl, items[k].depth + 1,
                           items[k].id, NULL) == 0);
      char title[64], text[128];
      snprintf(title, sizeof(title), "Page %d", page);
      snprintf(text, sizeof(text), "body of page number %d word%d", page,
               page);
      struct result *r = make_page(items[k].url, title, links, nl);
      CHECK(store_put_page(s, items[k].id, r, items[k].depth, text,
                           strlen(text)) == 0);
      result_free(r);
    }
    CHECK(store_commit(s) == 0);
    store_items_free(items, n);
  }
  int missing = 0, twice = 0;
  for (int i = 0; i < TREE; i++) {
    missing += taken[i] == 0;
    twice += taken[i] > 1;
  }
  CHECK(missing == 0);
  CHECK(twice == 0);
  CHECK(order_bad == 0);
  CHECK(depth_bad == 0);
  CHECK(take_calls > TREE / 7);
  int64_t q, f, d;
  store_counts(s, &q, &f, &d);
  CHECK(q == 0 && f == 0 && d == TREE);

  /* Unknown frontier id. */
  struct result *r = make_page("http://t.test/none", "x", NULL, 0);
  CHECK(store_put_page(s, 999999, r, 0, NULL, 0) == -ENOENT);
  result_free(r);

  /* Storing a page again replaces its row, links and indexed text. */
  const char *one = "http://t.test/1";
  r = make_page(one, "Replaced", &one, 1);
  CHECK(store_put_page(s, 2, r, 1, "zebra text", 10) == 0);
  result_free(r);
  store_close(s);

  sqlite3 *db = open_db(path);
  CHECK(query_int(db, "SELECT count(*) FROM pages") == TREE);
  CHECK(query_int(db, "SELECT count(DISTINCT url) FROM pages") == TREE);
  CHECK(query_int(db, "SELECT count(*) FROM frontier") == TREE);
  CHECK(query_int(db, "SELECT count(*) FROM frontier WHERE state <> 2") == 0);
  /* Depth and referrer of each page agree with the tree. */
  CHECK(query_int(db, "SELECT count(*) FROM pages p JOIN pages r"
                      " ON r.id = p.referrer_id WHERE p.depth <> r.depth + 1"
                      " OR CAST(substr(r.url, 15) AS INTEGER) <>"
                      " (CAST(substr(p.url, 15) AS INTEGER) - 1) / 3") == 0);
  CHECK(query_int(
            db, "SELECT count(*) FROM pages WHERE referrer_id IS NULL") == 1);
  /* Links: children + parent + self, one edge per distinct target. */
  CHECK(query_int(db, "SELECT count(*) FROM links WHERE from_id = 1") == 4);
  CHECK(query_int(db, "SELECT count(*) FROM links l JOIN pages p"
                      " ON p.url = l.to_url") ==
        query_int(db, "SELECT count(*) FROM links"));
  CHECK(query_int(db, "SELECT count(*) FROM links WHERE from_id = 2") == 1);
  CHECK(query_int(db, "SELECT count(*) FROM pages WHERE id = 2 AND title ="
                      " 'Replaced' AND status = 200 AND hash = 'ab12' AND"
                      " fetched_at = '2026-11-23T16:03:04.123Z'") == 1);
  CHECK(query_int(db, "SELECT count(*) FROM pages_fts WHERE pages_fts"
                      " MATCH 'zebra'") == 1);
  CHECK(query_int(db, "SELECT count(*) FROM pages_fts WHERE pages_fts"
                      " MATCH 'word1'") == 0);
  CHECK(query_int(db, "SELECT count(*) FROM pages_fts WHERE pages_fts"
                      " MATCH 'word2'") == 1);
  CHECK(sqlite3_exec(db,
                     "INSERT INTO pages_fts(pages_fts, rank)"
                     " VALUES ('integrity-check', 1)",
                     NULL, NULL, NULL) == SQLITE_OK);
  sqlite3_close(db);
}

/* Indexing: diacritics, title vs body columns, marker bytes, the cap. */
static void test_fts(void)
{
  char path[256];
  struct store_item *items;
  size_t n;
  const char *keys[] = {"http://f.test/a", "http://f.test/b",
                        "http://f.test/c"};

  tmp_path(path, sizeof(path), "fts.db");
  struct store *s = open_store(path);
  if (!s)
    return;
  CHECK(store_add_urls(s, keys, 3, 0, 0, NULL) == 0);
  CHECK(store_take(s, 10, &items, &n) == 0 && n == 3);
  if (n != 3)
    return;
  CHECK(store_begin(s) == 0);
  struct result *r = make_page(keys[0], "Crème brûlée recipes", NULL, 0);
  const char *text = "Whisk the eggs\x01 with sugar; the \x02 caramel";
  CHECK(store_put_page(s, items[0].id, r, 0, text, strlen(text)) == 0);
  result_free(r);
  /* No title, no text: a page row but nothing to index. */
  r = make_page(keys[1], NULL, NULL, 0);
  CHECK(store_put_page(s, items[1].id, r, 0, NULL, 0) == 0);
  result_free(r);
  /* A text past the cap is cut on a UTF-8 boundary. */
  size_t big = STORE_TEXT_MAX + 1000;
  char *t = malloc(big);
  for (size_t i = 0; i + 2 <= big; i += 2)
    memcpy(t + i, "\xC3\xA9", 2); /* é */
  memcpy(t + 10, " needle ", 8);
  r = make_page(keys[2], "Big", NULL, 0);
  CHECK(store_put_page(s, items[2].id, r, 0, t + 1, big - 1) == 0);
  result_free(r);
  free(t);
  CHECK(store_commit(s) == 0);
  store_items_free(items, n);
  store_close(s);

  sqlite3 *db = open_db(path);
  CHECK(query_int(db, "SELECT rowid FROM pages_fts WHERE pages_fts MATCH"
                      " 'creme AND brulee'") == 1);
  CHECK(query_int(db, "SELECT rowid FROM pages_fts WHERE pages_fts MATCH"
                      " 'title:recipes'") == 1);
  CHECK(query_int(db, "SELECT count(*) FROM pages_fts WHERE pages_fts MATCH"
                      " 'title:caramel'") == 0);
  CHECK(query_int(db, "SELECT rowid FROM pages_fts WHERE pages_fts MATCH"
                      " 'body:caramel'") == 1);
  CHECK(query_int(db, "SELECT count(*) FROM page_text WHERE instr(body,"
                      " char(1)) OR instr(body, char(2))") == 0);
  CHECK(query_int(db, "SELECT count(*) FROM page_text") == 2);
  CHECK(query_int(db, "SELECT count(*) FROM pages") == 3);
  CHECK(query_int(db, "SELECT length(CAST(body AS BLOB)) <= 1048576 AND"
                      " length(CAST(body AS BLOB)) > 1048000 FROM page_text"
                      " WHERE id = 3") == 1);
  /* Valid UTF-8 all through: the cut did not split a sequence (the text
   * started one byte into a sequence, which stays as given). */
  CHECK(query_int(db, "SELECT rowid FROM pages_fts WHERE pages_fts MATCH"
                      " 'needle'") == 3);
  CHECK(query_int(db, "SELECT hex(substr(CAST(body AS BLOB),"
                      " length(CAST(body AS BLOB)) - 1)) = 'C3A9'"
                      " FROM page_text WHERE id = 3") == 1);
  sqlite3_close(db);

  /* The index can be rebuilt from page_text. */
  s = open_store(path);
  if (!s)
    return;
  CHECK(store_rebuild_index(s) == 0);
  store_close(s);
  db = open_db(path);
  CHECK(query_int(db, "SELECT rowid FROM pages_fts WHERE pages_fts MATCH"
                      " 'caramel'") == 1);
  sqlite3_close(db);
}

/* An error inside a transaction poisons it: commit refuses. */
/* A page stored with its host's failure: state 3, not queued, not done;
 * the next open's store_requeue_retry forgets its row (links, text and
 * index entries too) and queues it; stored again it has one row. */
static void test_retry_later(void)
{
  char path[256];
  struct store_item *items;
  size_t n, k = 9;
  int64_t q = -1, f = -1, d = -1;
  const char *keys[] = {"http://r.test/a", "http://r.test/b"};
  tmp_path(path, sizeof(path), "retry.db");
  struct store *s = open_store(path);
  if (!s)
    return;
  CHECK(store_add_urls(s, keys, 2, 0, 0, NULL) == 0);
  CHECK(store_take(s, 10, &items, &n) == 0 && n == 2);
  if (n != 2)
    return;
  CHECK(store_begin(s) == 0);
  struct result *r = make_page(keys[0], "down", &keys[1], 1);
  r->error = "circuit_open";
  CHECK(store_put_page(s, items[0].id, r, 0, "uniquewordzz", 12) == 0);
  CHECK(store_retry_later(s, items[0].id) == 0);
  result_free(r);
  r = make_page(keys[1], "fine", NULL, 0);
  CHECK(store_put_page(s, items[1].id, r, 0, NULL, 0) == 0);
  result_free(r);
  CHECK(store_commit(s) == 0);
  store_counts(s, &q, &f, &d);
  CHECK(q == 0 && f == 0 && d == 1);
  store_items_free(items, n);
  store_close(s);

  sqlite3 *db = open_db(path);
  CHECK(query_int(db, "SELECT state FROM frontier WHERE url = "
                      "'http://r.test/a'") == 3);
  CHECK(query_int(db, "SELECT count(*) FROM pages") == 2);
  sqlite3_close(db);

  s = open_store(path);
  if (!s)
    return;
  CHECK(store_requeue_retry(s, &k) == 0 && k == 1);
  store_counts(s, &q, &f, &d);
  CHECK(q == 1 && f == 0 && d == 1);
  db = open_db(path);
  CHECK(query_int(db, "SELECT count(*) FROM pages") == 1);
  CHECK(query_int(db, "SELECT count(*) FROM links") == 0);
  CHECK(query_int(db, "SELECT count(*) FROM pages_fts "
                      "WHERE pages_fts MATCH 'uniquewordzz'") == 0);
  sqlite3_close(db);
  CHECK(store_take(s, 10, &items, &n) == 0 && n == 1);
  if (n == 1) {
    r = make_page(keys[0], "back", NULL, 0);
    CHECK(store_put_page(s, items[0].id, r, 0, NULL, 0) == 0);
    result_free(r);
    store_items_free(items, n);
  }
  CHECK(store_requeue_retry(s, &k) == 0 && k == 0);
  store_close(s);
  db = open_db(path);
  CHECK(query_int(db, "SELECT count(*) FROM pages") == 2);
  CHECK(query_int(db, "SELECT count(*) FROM frontier WHERE state = 2") == 2);
  sqlite3_close(db);
}

static void test_failed_tx(void)
{
  char path[256];
  tmp_path(path, sizeof(path), "failed.db");
  struct store *s = open_store(path);
  if (!s)
    return;
  const char *k = "http://x.test/";
  CHECK(store_begin(s) == 0);
  CHECK(store_add_urls(s, &k, 1, 0, 0, NULL) == 0);
  struct result *r = make_page(k, "t", NULL, 0);
  CHECK(store_put_page(s, 42, r, 0, NULL, 0) == -ENOENT);
  CHECK(store_add_urls(s, &k, 1, 0, 0, NULL) == -EIO);
  CHECK(store_commit(s) < 0);
  int64_t q;
  store_counts(s, &q, NULL, NULL);
  CHECK(q == 0);
  CHECK(store_commit(s) == -EINVAL); /* none open */
  /* And the store goes on working. */
  CHECK(store_add_urls(s, &k, 1, 0, 0, NULL) == 0);
  store_counts(s, &q, NULL, NULL);
  CHECK(q == 1);
  result_free(r);
  store_close(s);
}

/* ---- SIGKILL at any moment ---------------------------------------------- */

#define SEEDS 1000
#define CRASH_TAKE 100
#define CRASH_PUT 50
#define CRASH_BATCH 10
#define CHILDREN 5

/* One crawl step of the child: the kill point counts them. */
static int crash_step, crash_at;

static void step(void)
{
  if (++crash_step == crash_at)
    raise(SIGKILL);
}

/* The child: takes 100 URLs, stores 50 pages in transactions of 10, each
 * page with its 5 discovered children added in the same transaction as
 * the page, as the crawler does. Killed at step crash_at (or by the
 * parent). */
static void crash_child(const char *path)
{
  char err[256], keys[CHILDREN + 1][80];
  const char *links[CHILDREN + 1];
  struct store *s;
  struct store_item *items;
  size_t n;

  if (store_open(&s, path, err))
    _exit(2);
  step();
  if (store_begin(s) || store_take(s, CRASH_TAKE, &items, &n))
    _exit(3);
  step();
  if (store_commit(s) || n != CRASH_TAKE)
    _exit(4);
  step();
  for (int i = 0; i < CRASH_PUT; i++) {
    if (i % CRASH_BATCH == 0) {
      if (store_begin(s))
        _exit(5);
      step();
    }
    for (int c = 0; c < CHILDREN; c++) {
      snprintf(keys[c], sizeof(keys[c]), "http://c.test/%lld/%d",
               (long long)items[i].id, c);
      links[c] = keys[c];
    }
    links[CHILDREN] = items[i].url; /* a link back: a duplicate */
    if (store_add_urls(s, links, CHILDREN + 1, 1, items[i].id, NULL))
      _exit(6);
    step();
    char text[128];
    snprintf(text, sizeof(text), "text of %s uniqueword%lld", items[i].url,
             (long long)items[i].id);
    struct result *r =
        make_page(items[i].url, "crash page", links, CHILDREN + 1);
    if (store_put_page(s, items[i].id, r, 0, text, strlen(text)))
      _exit(7);
    result_free(r);
    step();
    if (i % CRASH_BATCH == CRASH_BATCH - 1) {
      if (store_commit(s))
        _exit(8);
      step();
    }
  }
  store_items_free(items, n);
  store_close(s);
  _exit(0);
}

/* Parent side: everything the store promises after a crash. */
static void crash_check(const char *path, int point)
{
  int64_t q, f, d;
  size_t n, requeued;
  struct store_item *items;
  int bad = 0;

  sqlite3 *db = open_db(path);
  int64_t pages = query_int(db, "SELECT count(*) FROM pages");
  int64_t total = query_int(db, "SELECT count(*) FROM frontier");
  int64_t in_flight =
      query_int(db, "SELECT count(*) FROM frontier WHERE state = 1");
  /* Done exactly when stored; no page twice; links and text with it. */
  int64_t mismatch =
      query_int(db, "SELECT count(*) FROM frontier f LEFT JOIN pages p"
                    " ON p.id = f.id WHERE (f.state = 2) <> (p.id IS NOT"
                    " NULL)") +
      query_int(db, "SELECT count(*) FROM pages WHERE id NOT IN"
                    " (SELECT id FROM frontier)");
  int64_t dup = query_int(db, "SELECT count(*) - count(DISTINCT url) FROM "
                              "pages");
  int64_t text_rows = query_int(db, "SELECT count(*) FROM page_text");
  int64_t link_rows = query_int(db, "SELECT count(*) FROM links");
  int fts_ok = sqlite3_exec(db,
                            "INSERT INTO pages_fts(pages_fts, rank)"
                            " VALUES ('integrity-check', 1)",
                            NULL, NULL, NULL) == SQLITE_OK;
  sqlite3_close(db);

  if (mismatch != 0 || dup != 0 || text_rows != pages ||
      link_rows != pages * (CHILDREN + 1) ||
      total != SEEDS + pages * CHILDREN || !fts_ok ||
      (pages % CRASH_BATCH) != 0 ||
      (in_flight != 0 && in_flight != CRASH_TAKE - pages)) {
    fprintf(stderr,
            "kill point %d: pages %lld total %lld in_flight %lld "
            "mismatch %lld dup %lld text %lld links %lld fts %d\n",
            point, (long long)pages, (long long)total, (long long)in_flight,
            (long long)mismatch, (long long)dup, (long long)text_rows,
            (long long)link_rows, fts_ok);
    bad++;
  }

  struct store *s = open_store(path);
  if (!s)
    return;
  store_counts(s, &q, &f, &d);
  bad += q + f + d != total || d != pages || f != in_flight;
  CHECK(store_requeue_in_flight(s, &requeued) == 0);
  bad += (int64_t)requeued != in_flight;
  store_counts(s, &q, &f, &d);
  bad += f != 0 || q != total - pages;

  /* Resume to the end: no page stored before the kill comes out again. */
  unsigned char *stored = calloc((size_t)total + 1, 1);
  db = open_db(path);
  sqlite3_stmt *st;
  CHECK(sqlite3_prepare_v2(db, "SELECT id FROM pages", -1, &st, NULL) ==
        SQLITE_OK);
  while (sqlite3_step(st) == SQLITE_ROW) {
    int64_t id = sqlite3_column_int64(st, 0);
    if (id > 0 && id <= total)
      stored[id] = 1;
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  int again = 0;
  for (;;) {
    CHECK(store_take(s, 300, &items, &n) == 0);
    if (n == 0)
      break;
    CHECK(store_begin(s) == 0);
    for (size_t k = 0; k < n; k++) {
      if (items[k].id > 0 && items[k].id <= total && stored[items[k].id])
        again++;
      struct result *r = make_page(items[k].url, "resumed", NULL, 0);
      CHECK(store_put_page(s, items[k].id, r, items[k].depth, "resumed", 7) ==
            0);
      result_free(r);
    }
    CHECK(store_commit(s) == 0);
    store_items_free(items, n);
  }
  free(stored);
  store_counts(s, &q, &f, &d);
  bad += q != 0 || f != 0 || d != total;
  store_close(s);
  db = open_db(path);
  bad += query_int(db, "SELECT count(*) FROM pages") != total;
  bad +=
      query_int(db, "SELECT count(*) - count(DISTINCT url) FROM pages") != 0;
  sqlite3_close(db);
  if (bad || again)
    fprintf(stderr, "kill point %d: %d inconsistencies, %d fetched again\n",
            point, bad, again);
  CHECK(bad == 0);
  CHECK(again == 0);
}

static void crash_prepare(const char *path)
{
  static char keys[SEEDS][48];
  const char *ptrs[SEEDS];
  rm_db(path);
  struct store *s = open_store(path);
  if (!s)
    return;
  for (int i = 0; i < SEEDS; i++) {
    snprintf(keys[i], sizeof(keys[i]), "http://seed.test/%d", i);
    ptrs[i] = keys[i];
  }
  CHECK(store_add_urls(s, ptrs, SEEDS, 0, 0, NULL) == 0);
  store_close(s);
}

/* point > 0: the child kills itself at that step; point < 0: the parent
 * kills it after -point microseconds. */
static void crash_run(int point)
{
  char path[256];
  snprintf(path, sizeof(path), "%s/crash.db", tmpdir);
  crash_prepare(path);
  fflush(NULL);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    crash_step = 0;
    crash_at = point > 0 ? point : 0;
    crash_child(path);
  }
  if (point < 0) {
    usleep((useconds_t)-point);
    kill(pid, SIGKILL);
  }
  int status;
  CHECK(waitpid(pid, &status, 0) == pid);
  int killed = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
  int clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  if (!killed && !clean)
    fprintf(stderr, "kill point %d: child status %d\n", point, status);
  CHECK(killed || clean);
  if (point > 0 && point < 3 + 5 * 22)
    CHECK(killed);
  crash_check(path, point);
}

static void test_crash(void)
{
  /* Steps: 1 open, 2 take, 3 commit, then per batch of 10 pages: begin,
   * 10 x (add, put), commit = 22 steps; 113 the end. */
  static const int points[] = {1,  2,  3,  4,  5,  6,   7,   24,
                               25, 26, 27, 46, 70, 112, 113, 1000};
  for (size_t i = 0; i < sizeof(points) / sizeof(points[0]); i++)
    crash_run(points[i]);
  unsigned seed = (unsigned)time(NULL);
  fprintf(stderr, "test_store: random kill points, seed %u\n", seed);
  for (int i = 0; i < 6; i++)
    crash_run(1 + (int)(rand_r(&seed) % 113));
  /* The parent's kill lands wherever the child is, possibly inside
   * SQLite's commit. */
  for (int i = 0; i < 8; i++)
    crash_run(-(int)(rand_r(&seed) % 8000));
}

/* A store of schema_version 1 (no frontier.host, the global queue index)
 * is upgraded when opened: the host filled in for what is left to crawl,
 * the per-host take working, version 2 recorded. */
static void test_upgrade_v1(void)
{
  char path[256];
  const char *keys[] = {"http://a.test/1", "http://b.test:8080/2",
                        "https://a.test/3?x"};
  struct store_item *items = NULL;
  size_t n = 0;
  sqlite3 *db;
  tmp_path(path, sizeof(path), "v1.db");
  struct store *s = open_store(path);
  if (!s)
    return;
  CHECK(store_add_urls(s, keys, 3, 0, 0, NULL) == 0);
  store_close(s);
  /* Back to version 1, as an older spate left it. */
  CHECK(sqlite3_open(path, &db) == SQLITE_OK);
  CHECK(sqlite3_exec(db,
                     "DROP INDEX frontier_host_queue;"
                     "ALTER TABLE frontier DROP COLUMN host;"
                     "CREATE INDEX frontier_queue ON frontier(depth, id)"
                     " WHERE state = 0;"
                     "UPDATE meta SET value = '1'"
                     " WHERE key = 'schema_version';",
                     NULL, NULL, NULL) == SQLITE_OK);
  sqlite3_close(db);
  s = open_store(path);
  if (!s)
    return;
  CHECK(store_take_host(s, "http://b.test:8080", 10, &items, &n) == 0 &&
        n == 1 && !strcmp(items[0].url, keys[1]));
  store_items_free(items, n);
  CHECK(store_take_host(s, "http://a.test", 10, &items, &n) == 0 && n == 1 &&
        !strcmp(items[0].url, keys[0]));
  store_items_free(items, n);
  store_close(s);
  CHECK(sqlite3_open(path, &db) == SQLITE_OK);
  CHECK(query_int(db, "SELECT value FROM meta WHERE key = 'schema_version'") ==
        2);
  CHECK(query_int(db, "SELECT count(*) FROM sqlite_schema WHERE name ="
                      " 'frontier_queue'") == 0);
  CHECK(query_int(db, "SELECT count(*) FROM frontier WHERE host ="
                      " 'https://a.test'") == 1);
  sqlite3_close(db);
}

/* A page's links are stored 16 to a statement and the rest one by one:
 * every distinct non-empty key once, whatever the count. */
static void test_many_links(void)
{
  char path[300];
  tmp_path(path, sizeof(path), "links.db");
  struct store *s = open_store(path);
  if (!s)
    return;
  const char *seed = "http://t.test/";
  struct store_item *items = NULL;
  size_t added = 0, n = 0;
  CHECK(store_add_urls(s, &seed, 1, 0, 0, &added) == 0 && added == 1);
  CHECK(store_take(s, 1, &items, &n) == 0 && n == 1);
  if (n != 1) {
    store_close(s);
    return;
  }
  /* 38 keys, one of them twice and an empty one between: 40 entries. */
  char keys[40][32];
  const char *links[40];
  for (int i = 0; i < 40; i++) {
    snprintf(keys[i], sizeof(keys[i]), "http://t.test/L%d", i);
    links[i] = keys[i];
  }
  links[20] = "";
  links[33] = keys[5];
  struct result *r = make_page(items[0].url, "Links", links, 40);
  CHECK(store_put_page(s, items[0].id, r, 0, NULL, 0) == 0);
  result_free(r);
  store_items_free(items, n);
  store_close(s);
  sqlite3 *db = open_db(path);
  CHECK(query_int(db, "SELECT count(*) FROM links") == 38);
  CHECK(query_int(db, "SELECT count(*) FROM links WHERE to_url IN"
                      " ('http://t.test/L0', 'http://t.test/L15',"
                      " 'http://t.test/L16', 'http://t.test/L39',"
                      " 'http://t.test/L5')") == 5);
  CHECK(query_int(db, "SELECT count(*) FROM links WHERE to_url IN"
                      " ('', 'http://t.test/L20', 'http://t.test/L33')") == 0);
  sqlite3_close(db);
}

/* A new store is made with 64 KiB pages; a file that already has its page
 * size (here an empty database made with 4 KiB) keeps it, and works. */
static void test_page_size(void)
{
  char path[300];
  const char *key = "http://a.test/";
  size_t added = 0;
  tmp_path(path, sizeof(path), "pages.db");
  struct store *s = open_store(path);
  if (!s)
    return;
  CHECK(store_add_urls(s, &key, 1, 0, 0, &added) == 0 && added == 1);
  store_close(s);
  sqlite3 *db = open_db(path);
  CHECK(query_int(db, "PRAGMA page_size") == 65536);
  sqlite3_close(db);

  tmp_path(path, sizeof(path), "pages4k.db");
  db = open_db(path);
  CHECK(sqlite3_exec(db, "PRAGMA page_size=4096; VACUUM", NULL, NULL, NULL) ==
        SQLITE_OK);
  sqlite3_close(db);
  s = open_store(path);
  if (!s)
    return;
  CHECK(store_add_urls(s, &key, 1, 0, 0, &added) == 0 && added == 1);
  store_close(s);
  db = open_db(path);
  CHECK(query_int(db, "PRAGMA page_size") == 4096);
  CHECK(query_int(db, "SELECT count(*) FROM frontier") == 1);
  sqlite3_close(db);
}

/* store_host_len: the "scheme://authority" prefix of a key. */
static void test_host_len(void)
{
  static const struct {
    const char *key;
    size_t len;
  } cases[] = {
      {"http://a.test/x", 13},      {"http://a.test", 13},
      {"https://a.test:8443/", 19}, {"http://a.test?q=1", 13},
      {"http://[::1]:80/p", 15},    {"http://a.test#f", 13},
      {"no scheme here", 0},        {"", 0},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
    CHECK(store_host_len(cases[i].key) == cases[i].len);
}

/* The walk frontier.c's hosts_admit makes over the hosts with URLs
 * queued: in byte order after a name, skipping hosts with none queued. */
static void test_next_queued_host(void)
{
  char path[256];
  char *h = NULL;
  struct store_item *items;
  size_t n;
  const char *keys[] = {"http://c.test/1", "http://a.test/1",
                        "http://b.test:8080/1", "http://a.test/2",
                        "https://a.test/1"};
  tmp_path(path, sizeof(path), "hosts.db");
  struct store *s = open_store(path);
  if (!s)
    return;
  CHECK(store_next_queued_host(s, "", &h) == 0 && h == NULL);
  CHECK(store_add_urls(s, keys, 5, 0, 0, NULL) == 0);
  static const char *const order[] = {"http://a.test", "http://b.test:8080",
                                      "http://c.test", "https://a.test"};
  const char *after = "";
  char *prev = NULL;
  for (size_t i = 0; i < 4; i++) {
    CHECK(store_next_queued_host(s, after, &h) == 0 && h &&
          strcmp(h, order[i]) == 0);
    free(prev);
    prev = h;
    after = h ? h : "~";
  }
  CHECK(store_next_queued_host(s, after, &h) == 0 && h == NULL);
  free(prev);
  /* b.test's only URL taken (in flight): b.test is no longer met. */
  CHECK(store_take_host(s, "http://b.test:8080", 10, &items, &n) == 0 &&
        n == 1);
  store_items_free(items, n);
  CHECK(store_next_queued_host(s, "http://a.test", &h) == 0 && h &&
        strcmp(h, "http://c.test") == 0);
  free(h);
  store_close(s);
}

int main(void)
{
  if (!mkdtemp(tmpdir)) {
    perror("mkdtemp");
    return 1;
  }
  test_open();
  test_add_dedup();
  test_crawl_round_trip();
  test_fts();
  test_retry_later();
  test_failed_tx();
  test_crash();
  test_page_size();
  test_many_links();
  test_upgrade_v1();
  test_host_len();
  test_next_queued_host();
  check_rmtree(tmpdir);
  return check_report("test_store");
}
