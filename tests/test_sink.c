/* Tests for the sinks: every format written from two threads at once and
 * read back, plus faults (full device, broken pipe, unwritable targets). */
#include "buf.h"
#include "check.h"
#include "result.h"
#include "sink.h"
#include "sink_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NTHREADS 2
#define PER_THREAD 2500
#define TOTAL (NTHREADS * PER_THREAD)

static void sleep_ms(int ms)
{
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
  nanosleep(&ts, NULL);
}

/* What a result built by make_result(t, i) must read back as. */
static int want_status(int i)
{
  return i % 10 == 0 ? 0 : 200 + i % 5;
}

static void want_title(int t, int i, char *out, size_t cap)
{
  /* Each thing that forces CSV quoting on its own, and nothing. */
  if (i % 3 == 0)
    snprintf(out, cap, "Title, \"%d/%d\"\r\nline two", t, i);
  else if (i % 6 == 1)
    snprintf(out, cap, "cr\ronly %d/%d", t, i);
  else if (i % 6 == 4)
    snprintf(out, cap, "lf\nonly %d/%d", t, i);
  else
    snprintf(out, cap, "plain %d/%d", t, i);
}

static struct result *make_result(int t, int i)
{
  char s[128];
  int n = snprintf(s, sizeof(s), "https://example.com/t%d/%d", t, i);
  struct result *r = result_new(s, (size_t)n);
  r->status = want_status(i);
  r->error = i % 10 == 0 ? ERR_TIMEOUT : NULL;
  r->attempts = 1 + i % 3;
  r->elapsed_ms = i / 10.0;
  r->ttfb_ms = i % 4 ? 1.5 : -1;
  r->bytes = i * 100;
  want_title(t, i, s, sizeof(s));
  r->title = strdup(s);
  if (i % 2 == 0) {
    n = snprintf(s, sizeof(s), "https://l.example/%d", i);
    r->links = malloc((size_t)n + 1);
    memcpy(r->links, s, (size_t)n + 1);
    r->nlinks = 1;
  } else {
    r->nlinks = i % 7;
  }
  if (i % 2)
    memcpy(r->hash,
           "0123456789abcdef0123456789abcdef"
           "0123456789abcdef0123456789abcdef",
           65);
  r->fetched_at_us = INT64_C(1795449784123456);
  r->nfields = 2;
  r->fields = calloc(2, sizeof(*r->fields));
  r->fields[0].name = "n";
  snprintf(s, sizeof(s), "%d", i);
  r->fields[0].json = strdup(s);
  r->fields[1].name = "s";
  r->fields[1].json = strdup("\"x,y\"");
  return r;
}

/* Parses "https://example.com/t<t>/<i>". Returns 0 when it fits. */
static int parse_url(const char *url, int *t, int *i)
{
  char tail;
  if (!url || sscanf(url, "https://example.com/t%d/%d%c", t, i, &tail) != 2)
    return -1;
  return *t >= 0 && *t < NTHREADS && *i >= 0 && *i < PER_THREAD ? 0 : -1;
}

struct counter {
  atomic_size_t written;
  atomic_int calls;
  atomic_int on_main; /* calls made on the main thread: must stay 0 */
  pthread_t main_thread;
};

static void on_written(void *arg, size_t n)
{
  struct counter *c = arg;
  atomic_fetch_add(&c->written, n);
  atomic_fetch_add(&c->calls, 1);
  if (pthread_equal(pthread_self(), c->main_thread))
    atomic_fetch_add(&c->on_main, 1);
}

static void counter_init(struct counter *c, struct sink_options *opt)
{
  atomic_init(&c->written, 0);
  atomic_init(&c->calls, 0);
  atomic_init(&c->on_main, 0);
  c->main_thread = pthread_self();
  opt->on_written = on_written;
  opt->arg = c;
}

struct submitter {
  struct sink *s;
  int t;
  int accepted; /* sink_submit returned 0 */
  int rejected; /* returned an error */
  int last_rc;
};

static void *submit_main(void *arg)
{
  struct submitter *w = arg;
  for (int i = 0; i < PER_THREAD; i++) {
    int rc = sink_submit(w->s, make_result(w->t, i));
    if (rc) {
      w->rejected++;
      w->last_rc = rc;
    } else {
      w->accepted++;
    }
  }
  return NULL;
}

/* Submits TOTAL results from NTHREADS threads at once. Returns the number
 * accepted. */
static int submit_all(struct sink *s, int *last_rc)
{
  pthread_t th[NTHREADS];
  struct submitter w[NTHREADS];
  int accepted = 0;
  for (int t = 0; t < NTHREADS; t++) {
    w[t] = (struct submitter){.s = s, .t = t};
    CHECK(pthread_create(&th[t], NULL, submit_main, &w[t]) == 0);
  }
  *last_rc = 0;
  for (int t = 0; t < NTHREADS; t++) {
    pthread_join(th[t], NULL);
    accepted += w[t].accepted;
    if (w[t].last_rc)
      *last_rc = w[t].last_rc;
  }
  return accepted;
}

/* Opens target, writes TOTAL results from two threads, closes. */
static void write_all(const char *target, int batch_rows)
{
  struct counter c;
  struct sink_options opt = {.batch_rows = batch_rows, .queue_cap = 64};
  char err[SINK_ERRMSG_MAX];
  struct sink *s;
  int last_rc;
  counter_init(&c, &opt);
  int rc = sink_open(&s, target, &opt, err);
  if (rc)
    fprintf(stderr, "sink_open(%s): %s\n", target, err);
  CHECK(rc == 0);
  if (rc)
    return;
  CHECK(submit_all(s, &last_rc) == TOTAL);
  CHECK(last_rc == 0);
  CHECK(sink_close(s) == 0);
  CHECK(atomic_load(&c.written) == TOTAL);
  CHECK(atomic_load(&c.calls) >= 1);
  CHECK(atomic_load(&c.on_main) == 0);
}

static char tmpdir[] = "/tmp/spate-test-sink-XXXXXX";

static void tmp_path(char *out, size_t cap, const char *name)
{
  snprintf(out, cap, "%s/%s", tmpdir, name);
}

/* Checks that every (t, i) was seen exactly once. */
static void check_seen(const unsigned char seen[NTHREADS][PER_THREAD])
{
  int missing = 0, dup = 0;
  for (int t = 0; t < NTHREADS; t++)
    for (int i = 0; i < PER_THREAD; i++) {
      missing += seen[t][i] == 0;
      dup += seen[t][i] > 1;
    }
  CHECK(missing == 0);
  CHECK(dup == 0);
}

static void test_jsonl(void)
{
  static unsigned char seen[NTHREADS][PER_THREAD];
  char path[256], title[128];
  tmp_path(path, sizeof(path), "out.jsonl");
  write_all(path, 0);

  FILE *f = fopen(path, "r");
  CHECK(f != NULL);
  if (!f)
    return;
  char *line = NULL;
  size_t cap = 0;
  int lines = 0, bad = 0;
  while (getline(&line, &cap, f) > 0) {
    json_error_t jerr;
    json_t *j = json_loads(line, 0, &jerr);
    int t, i;
    lines++;
    if (!j ||
        parse_url(json_string_value(json_object_get(j, "url")), &t, &i)) {
      bad++;
      json_decref(j);
      continue;
    }
    seen[t][i]++;
    want_title(t, i, title, sizeof(title));
    json_t *fields = json_object_get(j, "fields");
    json_t *links = json_object_get(j, "links");
    if (json_integer_value(json_object_get(j, "status")) != want_status(i) ||
        strcmp(json_string_value(json_object_get(j, "title")), title) ||
        json_integer_value(json_object_get(fields, "n")) != i ||
        strcmp(json_string_value(json_object_get(fields, "s")), "x,y") ||
        (i % 2 == 0) != json_is_array(links) ||
        (i % 2 && json_integer_value(links) != i % 7))
      bad++;
    json_decref(j);
  }
  free(line);
  fclose(f);
  CHECK(lines == TOTAL);
  CHECK(bad == 0);
  check_seen(seen);
}

/* A small RFC 4180 reader: the whole file into rows of fields. Quoted
 * fields may hold commas, doubled quotes, CR and LF; records end with CRLF
 * (a bare LF is accepted too). */
struct csv {
  char ***rows;
  int *nfields;
  int nrows;
};

static void csv_add_field(struct csv *c, struct buf *field)
{
  int r = c->nrows - 1;
  c->rows[r] = realloc(c->rows[r], sizeof(char *) * (c->nfields[r] + 1));
  c->rows[r][c->nfields[r]++] = strdup(field->data ? field->data : "");
  buf_reset(field);
}

static void csv_new_row(struct csv *c)
{
  c->rows = realloc(c->rows, sizeof(*c->rows) * (c->nrows + 1));
  c->nfields = realloc(c->nfields, sizeof(int) * (c->nrows + 1));
  c->rows[c->nrows] = NULL;
  c->nfields[c->nrows++] = 0;
}

/* Returns 0, or -1 on a malformed file. */
static int csv_parse(const char *p, size_t n, struct csv *c)
{
  struct buf field = {0};
  size_t i = 0;
  int rc = 0;
  memset(c, 0, sizeof(*c));
  while (i < n) {
    csv_new_row(c);
    for (;;) { /* one field per turn */
      if (i < n && p[i] == '"') {
        i++;
        for (;;) {
          if (i >= n) {
            rc = -1; /* unterminated quote */
            goto out;
          }
          if (p[i] == '"' && i + 1 < n && p[i + 1] == '"') {
            buf_putc(&field, '"');
            i += 2;
          } else if (p[i] == '"') {
            i++;
            break;
          } else {
            buf_putc(&field, p[i++]);
          }
        }
      } else {
        while (i < n && p[i] != ',' && p[i] != '\r' && p[i] != '\n') {
          if (p[i] == '"') {
            rc = -1; /* a quote inside an unquoted field */
            goto out;
          }
          buf_putc(&field, p[i++]);
        }
      }
      csv_add_field(c, &field);
      if (i < n && p[i] == ',') {
        i++;
        continue;
      }
      if (i + 1 < n && p[i] == '\r' && p[i + 1] == '\n')
        i += 2;
      else if (i < n && p[i] == '\n')
        i++;
      else if (i < n) {
        rc = -1; /* junk after a closing quote, or a bare CR */
        goto out;
      }
      break;
    }
  }
out:
  buf_free(&field);
  return rc;
}

static void csv_free(struct csv *c)
{
  for (int r = 0; r < c->nrows; r++) {
    for (int k = 0; k < c->nfields[r]; k++)
      free(c->rows[r][k]);
    free(c->rows[r]);
  }
  free(c->rows);
  free(c->nfields);
}

static char *read_file(const char *path, size_t *len)
{
  struct buf b = {0};
  char chunk[65536];
  FILE *f = fopen(path, "rb");
  size_t n;
  if (!f)
    return NULL;
  while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
    buf_append(&b, chunk, n);
  fclose(f);
  *len = b.len;
  return b.data ? buf_steal(&b) : calloc(1, 1);
}

static void test_csv_reader(void)
{
  /* The reader itself, on a hand-written file. */
  static const char text[] = "a,b,c\r\n\"x,1\",\"say \"\"hi\"\"\",\"l1\r\n"
                             "l2\"\r\n,,\r\n";
  struct csv c;
  CHECK(csv_parse(text, sizeof(text) - 1, &c) == 0);
  CHECK(c.nrows == 3);
  if (c.nrows == 3) {
    CHECK(c.nfields[1] == 3 && c.nfields[2] == 3);
    CHECK_STR(c.rows[1][0], "x,1");
    CHECK_STR(c.rows[1][1], "say \"hi\"");
    CHECK_STR(c.rows[1][2], "l1\r\nl2");
    CHECK_STR(c.rows[2][2], "");
  }
  csv_free(&c);
  CHECK(csv_parse("\"open", 5, &c) == -1);
  csv_free(&c);
}

static void test_csv(void)
{
  static unsigned char seen[NTHREADS][PER_THREAD];
  char path[256], title[128];
  tmp_path(path, sizeof(path), "out.csv");
  write_all(path, 0);

  size_t len;
  char *text = read_file(path, &len);
  CHECK(text != NULL);
  if (!text)
    return;
  struct csv c;
  CHECK(csv_parse(text, len, &c) == 0);
  CHECK(c.nrows == TOTAL + 1);
  CHECK(c.nrows > 0 && c.nfields[0] == RESULT_NCOLUMNS);
  for (int k = 0; c.nrows > 0 && k < c.nfields[0] && result_columns[k]; k++)
    CHECK_STR(c.rows[0][k], result_columns[k]);
  int bad = 0;
  for (int r = 1; r < c.nrows; r++) {
    char **f = c.rows[r];
    int t, i;
    if (c.nfields[r] != RESULT_NCOLUMNS || parse_url(f[0], &t, &i)) {
      bad++;
      continue;
    }
    seen[t][i]++;
    want_title(t, i, title, sizeof(title));
    json_t *fields = json_loads(f[15], 0, NULL);
    char links[16];
    snprintf(links, sizeof(links), "%d", i % 2 ? i % 7 : 1);
    if (atoi(f[2]) != want_status(i) || strcmp(f[9], title) ||
        strcmp(f[10], links) || strcmp(f[14], "2026-11-23T16:03:04.123Z") ||
        strcmp(f[6], i % 4 ? "1.5" : "") ||
        strcmp(f[3], i % 10 ? "" : "timeout") || !fields ||
        json_integer_value(json_object_get(fields, "n")) != i ||
        strcmp(json_string_value(json_object_get(fields, "s")), "x,y"))
      bad++;
    json_decref(fields);
  }
  CHECK(bad == 0);
  check_seen(seen);
  csv_free(&c);
  free(text);
}

static int count_rows(sqlite3 *db, const char *sql)
{
  sqlite3_stmt *st;
  int n = -1;
  if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
      sqlite3_step(st) == SQLITE_ROW)
    n = sqlite3_column_int(st, 0);
  sqlite3_finalize(st);
  return n;
}

static const char *col_text(sqlite3_stmt *st, int k)
{
  return (const char *)sqlite3_column_text(st, k);
}

static void test_sqlite(void)
{
  static unsigned char seen[NTHREADS][PER_THREAD];
  char path[256], title[128];
  tmp_path(path, sizeof(path), "out.db");
  write_all(path, 100);

  sqlite3 *db;
  sqlite3_stmt *st;
  CHECK(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
  CHECK(count_rows(db, "SELECT count(*) FROM results") == TOTAL);
  CHECK(count_rows(db, "SELECT count(*) FROM meta WHERE key = "
                       "'schema_version' AND value = '1'") == 1);
  CHECK(count_rows(db, "SELECT count(*) FROM sqlite_schema WHERE type = "
                       "'index' AND name = 'results_url'") == 1);
  CHECK(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL) == 0);
  CHECK(sqlite3_step(st) == SQLITE_ROW);
  CHECK_STR(col_text(st, 0), "wal");
  sqlite3_finalize(st);

  CHECK(sqlite3_prepare_v2(db,
                           "SELECT url, status, error, title, nlinks, links,"
                           " ttfb_ms, hash, fetched_at, fields,"
                           " json_extract(fields, '$.n') FROM results",
                           -1, &st, NULL) == SQLITE_OK);
  int bad = 0;
  while (sqlite3_step(st) == SQLITE_ROW) {
    int t, i;
    if (parse_url(col_text(st, 0), &t, &i)) {
      bad++;
      continue;
    }
    seen[t][i]++;
    want_title(t, i, title, sizeof(title));
    char links[64];
    snprintf(links, sizeof(links), "[\"https://l.example/%d\"]", i);
    if (sqlite3_column_int(st, 1) != want_status(i) ||
        (sqlite3_column_type(st, 2) == SQLITE_NULL) != (i % 10 != 0) ||
        strcmp(col_text(st, 3), title) ||
        sqlite3_column_int(st, 4) != (i % 2 ? i % 7 : 1) ||
        (i % 2 ? sqlite3_column_type(st, 5) != SQLITE_NULL
               : strcmp(col_text(st, 5), links) != 0) ||
        (sqlite3_column_type(st, 6) == SQLITE_NULL) != (i % 4 == 0) ||
        (sqlite3_column_type(st, 7) == SQLITE_NULL) != (i % 2 == 0) ||
        strcmp(col_text(st, 8), "2026-11-23T16:03:04.123Z") ||
        sqlite3_column_int(st, 10) != i)
      bad++;
  }
  sqlite3_finalize(st);
  CHECK(bad == 0);
  check_seen(seen);
  sqlite3_close(db);

  /* A second run appends to the same file. */
  struct sink *s;
  char err[SINK_ERRMSG_MAX];
  CHECK(sink_open(&s, path, NULL, err) == 0);
  for (int i = 0; i < 10; i++)
    CHECK(sink_submit(s, make_result(0, i)) == 0);
  CHECK(sink_close(s) == 0);
  CHECK(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
  CHECK(count_rows(db, "SELECT count(*) FROM results") == TOTAL + 10);
  CHECK(count_rows(db, "SELECT count(*) FROM results WHERE url = "
                       "'https://example.com/t0/3'") == 2);
  sqlite3_close(db);
}

/* A written row or line becomes visible before close, once the queue runs
 * dry: a reader of a live run sees results promptly. */
static void test_prompt(void)
{
  char jpath[256], dpath[256], err[SINK_ERRMSG_MAX];
  struct sink *s;
  struct stat stb;
  int ok = 0;

  tmp_path(jpath, sizeof(jpath), "prompt.jsonl");
  CHECK(sink_open(&s, jpath, NULL, err) == 0);
  CHECK(sink_submit(s, make_result(0, 1)) == 0);
  for (int k = 0; k < 500 && !ok; k++) {
    ok = stat(jpath, &stb) == 0 && stb.st_size > 0;
    if (!ok)
      sleep_ms(10);
  }
  CHECK(ok);
  CHECK(sink_close(s) == 0);

  tmp_path(dpath, sizeof(dpath), "prompt.db");
  CHECK(sink_open(&s, dpath, NULL, err) == 0);
  CHECK(sink_submit(s, make_result(0, 1)) == 0);
  sqlite3 *db;
  CHECK(sqlite3_open_v2(dpath, &db, SQLITE_OPEN_READONLY, NULL) == 0);
  ok = 0;
  for (int k = 0; k < 500 && !ok; k++) {
    ok = count_rows(db, "SELECT count(*) FROM results") == 1;
    if (!ok)
      sleep_ms(10);
  }
  CHECK(ok);
  sqlite3_close(db);
  CHECK(sink_close(s) == 0);
}

static double mono_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Group commit (gather_min, gather_us): a few results wait for more, up to
 * gather_us, and go as one batch; gather_min results go at once; closing
 * cuts the wait short. The waits here are long (2 s and 30 s), so the
 * bounds checked hold on any machine. */
static void test_gather(void)
{
  char path[256], err[SINK_ERRMSG_MAX];
  struct sink *s;
  struct counter c;
  struct sink_options opt = {.gather_min = 16, .gather_us = 2000000};
  tmp_path(path, sizeof(path), "gather.jsonl");

  /* 3 results, one at a time: one batch of 3, not before 2 s. */
  counter_init(&c, &opt);
  CHECK(sink_open(&s, path, &opt, err) == 0);
  double t0 = mono_ms();
  for (int i = 0; i < 3; i++)
    CHECK(sink_submit(s, make_result(0, i)) == 0);
  sleep_ms(300);
  CHECK(atomic_load(&c.written) == 0);
  while (atomic_load(&c.written) < 3 && mono_ms() - t0 < 20000)
    sleep_ms(5);
  double waited = mono_ms() - t0;
  CHECK(atomic_load(&c.written) == 3);
  CHECK(atomic_load(&c.calls) == 1);
  CHECK(waited >= 1990);

  /* 3 more, then 13 in one hand-over: 16 reached, written long before
   * the 30 s a gather may last. */
  opt.gather_us = 30000000;
  CHECK(sink_close(s) == 0);
  counter_init(&c, &opt);
  CHECK(sink_open(&s, path, &opt, err) == 0);
  t0 = mono_ms();
  for (int i = 0; i < 3; i++)
    CHECK(sink_submit(s, make_result(0, i)) == 0);
  struct result *v[13];
  size_t nfreed = 99;
  for (int i = 0; i < 13; i++)
    v[i] = make_result(1, i);
  CHECK(sink_submit_many(s, v, 13, &nfreed) == 0);
  CHECK(nfreed == 0);
  while (atomic_load(&c.written) < 16 && mono_ms() - t0 < 20000)
    sleep_ms(5);
  CHECK(atomic_load(&c.written) == 16);
  CHECK(mono_ms() - t0 < 20000);

  /* A gather in progress ends at close: everything is written. */
  CHECK(sink_submit(s, make_result(2, 0)) == 0);
  sleep_ms(50);
  t0 = mono_ms();
  CHECK(sink_close(s) == 0);
  CHECK(mono_ms() - t0 < 20000);
  CHECK(atomic_load(&c.written) == 17);
  size_t len = 0;
  char *text = read_file(path, &len);
  size_t lines = 0;
  for (size_t i = 0; text && i < len; i++)
    lines += text[i] == '\n';
  CHECK(lines == 17);
  free(text);
}

/* batch_rows bounds a transaction even inside one drained batch. The
 * first on_written call holds the writer until 250 more results are
 * queued; they arrive as one batch that continues the open transaction
 * (the queue never ran dry, so nothing was flushed), and when on_written
 * reports it, the 200 rows of the two full transactions of 100 are
 * visible to another connection while the last 51 wait for the flush. */
struct batch_probe {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  int queued; /* set by main once the 250 are submitted */
  int calls;
  int visible[4]; /* rows another connection saw, per on_written call */
  sqlite3 *reader;
};

static void probe_written(void *arg, size_t n)
{
  struct batch_probe *p = arg;
  (void)n;
  pthread_mutex_lock(&p->lock);
  if (p->calls < 4)
    p->visible[p->calls] =
        count_rows(p->reader, "SELECT count(*) FROM results");
  if (p->calls++ == 0)
    pthread_cond_broadcast(&p->cond);
  if (p->calls == 1)
    while (!p->queued)
      pthread_cond_wait(&p->cond, &p->lock);
  pthread_mutex_unlock(&p->lock);
}

static void test_batch_rows(void)
{
  char path[256], err[SINK_ERRMSG_MAX];
  struct batch_probe p = {.lock = PTHREAD_MUTEX_INITIALIZER,
                          .cond = PTHREAD_COND_INITIALIZER};
  struct sink_options opt = {
      .batch_rows = 100, .on_written = probe_written, .arg = &p};
  struct sink *s;
  tmp_path(path, sizeof(path), "batch.db");
  CHECK(sink_open(&s, path, &opt, err) == 0);
  CHECK(sqlite3_open_v2(path, &p.reader, SQLITE_OPEN_READONLY, NULL) == 0);
  CHECK(sink_submit(s, make_result(0, 0)) == 0);
  pthread_mutex_lock(&p.lock);
  while (p.calls == 0)
    pthread_cond_wait(&p.cond, &p.lock);
  pthread_mutex_unlock(&p.lock);
  for (int i = 1; i <= 250; i++)
    CHECK(sink_submit(s, make_result(0, i)) == 0);
  pthread_mutex_lock(&p.lock);
  p.queued = 1;
  pthread_cond_signal(&p.cond);
  pthread_mutex_unlock(&p.lock);
  CHECK(sink_close(s) == 0);
  CHECK(p.calls == 2);
  CHECK(p.visible[0] == 0);   /* one row, not yet committed */
  CHECK(p.visible[1] == 200); /* two full transactions of 100 */
  CHECK(count_rows(p.reader, "SELECT count(*) FROM results") == 251);
  sqlite3_close(p.reader);
}

/* Points fd 1 at fd; returns a copy of the old fd 1 for stdout_restore. */
static int stdout_swap(int fd)
{
  fflush(stdout);
  int saved = dup(STDOUT_FILENO);
  dup2(fd, STDOUT_FILENO);
  return saved;
}

static void stdout_restore(int saved)
{
  dup2(saved, STDOUT_FILENO);
  close(saved);
}

static void test_stdout(void)
{
  char path[256], err[SINK_ERRMSG_MAX];
  struct sink *s;
  tmp_path(path, sizeof(path), "stdout.jsonl");
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  CHECK(fd >= 0);
  int saved = stdout_swap(fd);
  close(fd);
  /* NULL and "-" both mean stdout. */
  CHECK(sink_open(&s, NULL, NULL, err) == 0);
  CHECK(sink_submit(s, make_result(1, 7)) == 0);
  CHECK(sink_close(s) == 0);
  CHECK(sink_open(&s, "-", NULL, err) == 0);
  CHECK(sink_submit(s, make_result(1, 8)) == 0);
  CHECK(sink_close(s) == 0);
  stdout_restore(saved);
  /* The sink must not close the real stdout. */
  CHECK(fcntl(STDOUT_FILENO, F_GETFD) != -1);

  size_t len;
  char *text = read_file(path, &len);
  CHECK(text &&
        strncmp(text, "{\"url\":\"https://example.com/t1/7\"", 33) == 0);
  CHECK(text && strstr(text, "}\n{\"url\":\"https://example.com/t1/8\""));
  free(text);
}

/* stdout is a pipe whose reader went away (`spate fetch | head`): the
 * error is EPIPE, sticky, and no SIGPIPE kills the process even though
 * the test does not ignore it, since the writer thread blocks signals. */
static void test_epipe(void)
{
  int p[2];
  char err[SINK_ERRMSG_MAX];
  struct sink *s;
  CHECK(pipe(p) == 0);
  close(p[0]);
  int saved = stdout_swap(p[1]);
  close(p[1]);
  CHECK(sink_open(&s, "-", NULL, err) == 0);
  CHECK(sink_submit(s, make_result(0, 0)) == 0);
  for (int k = 0; k < 500 && !sink_error(s); k++)
    sleep_ms(10);
  CHECK(sink_error(s) == -EPIPE);
  CHECK(strstr(sink_errmsg(s), "stdout") != NULL);
  CHECK(sink_submit(s, make_result(0, 1)) == -EPIPE);
  CHECK(sink_close(s) == -EPIPE);
  stdout_restore(saved);
}

static void test_full_device(void)
{
  char err[SINK_ERRMSG_MAX];
  struct sink *s;
  struct counter c;
  struct sink_options opt = {.queue_cap = 8};
  int last_rc;

  /* One result: the flush when the queue runs dry hits ENOSPC. */
  CHECK(sink_open(&s, "/dev/full", NULL, err) == 0);
  CHECK(sink_error(s) == 0);
  CHECK_STR(sink_errmsg(s), "");
  CHECK(sink_submit(s, make_result(0, 0)) == 0);
  for (int k = 0; k < 500 && !sink_error(s); k++)
    sleep_ms(10);
  CHECK(sink_error(s) == -ENOSPC);
  CHECK(strstr(sink_errmsg(s), "/dev/full") != NULL);
  CHECK(sink_submit(s, make_result(0, 1)) == -ENOSPC);
  CHECK(sink_close(s) == -ENOSPC);

  /* Two threads keep submitting through the failure into a tiny queue:
   * nobody hangs, and every accepted result is reported by on_written. */
  counter_init(&c, &opt);
  CHECK(sink_open(&s, "/dev/full", &opt, err) == 0);
  int accepted = submit_all(s, &last_rc);
  CHECK(sink_close(s) == -ENOSPC);
  CHECK(atomic_load(&c.written) == (size_t)accepted);
  CHECK(accepted >= 1);

  /* The same for CSV (its header alone fails). */
  char path[256];
  tmp_path(path, sizeof(path), "full.csv");
  unlink(path);
  CHECK(symlink("/dev/full", path) == 0);
  CHECK(sink_open(&s, path, NULL, err) == 0);
  CHECK(sink_submit(s, make_result(0, 0)) == 0);
  CHECK(sink_close(s) == -ENOSPC);
}

static void test_open_errors(void)
{
  char path[256], err[SINK_ERRMSG_MAX];
  struct sink *s = (struct sink *)&s;

  tmp_path(path, sizeof(path), "no/such/dir/out.db");
  int rc = sink_open(&s, path, NULL, err);
  CHECK(rc < 0);
  CHECK(s == NULL);
  CHECK(strstr(err, path) != NULL);
  CHECK(strstr(err, "No such file or directory") != NULL);
  fprintf(stderr, "missing directory (expected): %s\n", err);

  tmp_path(path, sizeof(path), "no/such/dir/out.jsonl");
  CHECK(sink_open(&s, path, NULL, err) == -ENOENT);
  CHECK(strstr(err, path) != NULL);

  CHECK(sink_open(&s, "postgres://user@localhost/db", NULL, err) == -ENOTSUP);
  CHECK(s == NULL);
  CHECK(strstr(err, "PostgreSQL") != NULL);
  CHECK(sink_open(&s, "postgresql://localhost/db", NULL, NULL) == -ENOTSUP);

  /* A database whose results table is someone else's is left alone. */
  sqlite3 *db;
  tmp_path(path, sizeof(path), "foreign.sqlite");
  CHECK(sqlite3_open(path, &db) == SQLITE_OK);
  CHECK(sqlite3_exec(db, "CREATE TABLE results(x)", NULL, NULL, NULL) == 0);
  sqlite3_close(db);
  CHECK(sink_open(&s, path, NULL, err) == -EINVAL);
  CHECK(strstr(err, "not a spate results database") != NULL);
  CHECK(sqlite3_open(path, &db) == SQLITE_OK);
  CHECK(count_rows(db, "SELECT count(*) FROM sqlite_schema WHERE name = "
                       "'meta'") == 0);
  sqlite3_close(db);

  /* A newer schema version is refused rather than written into. */
  tmp_path(path, sizeof(path), "v2.sqlite3");
  CHECK(sink_open(&s, path, NULL, err) == 0);
  CHECK(sink_close(s) == 0);
  CHECK(sqlite3_open(path, &db) == SQLITE_OK);
  CHECK(sqlite3_exec(db, "UPDATE meta SET value = '2'", NULL, NULL, NULL) ==
        0);
  sqlite3_close(db);
  CHECK(sink_open(&s, path, NULL, err) == -EINVAL);
  CHECK(strstr(err, "schema_version is 2") != NULL);

  /* Not a database at all. */
  tmp_path(path, sizeof(path), "text.db");
  FILE *f = fopen(path, "w");
  fputs("this is not an SQLite file, just text that is long enough to "
        "fill a header of one hundred bytes or so. 0123456789\n",
        f);
  fclose(f);
  rc = sink_open(&s, path, NULL, err);
  CHECK(rc < 0);
  CHECK(strstr(err, path) != NULL);
  fprintf(stderr, "not a database (expected): %s\n", err);
}

/* An existing database the process may not write. Root writes anything,
 * so the check runs in a child that drops to nobody when run as root. */
static void test_readonly_db(void)
{
  char path[256], err[SINK_ERRMSG_MAX];
  struct sink *s;
  tmp_path(path, sizeof(path), "ro.db");
  CHECK(sink_open(&s, path, NULL, err) == 0);
  CHECK(sink_submit(s, make_result(0, 0)) == 0);
  CHECK(sink_close(s) == 0);
  CHECK(chmod(path, 0444) == 0);
  CHECK(chmod(tmpdir, 0755) == 0);

  pid_t pid = fork();
  if (pid == 0) {
    if (geteuid() == 0 && (setgid(65534) || setuid(65534)))
      _exit(3);
    int rc = sink_open(&s, path, NULL, err);
    if (rc == 0) {
      sink_close(s);
      _exit(1);
    }
    fprintf(stderr, "read-only db (expected): %s\n", err);
    _exit(strstr(err, path) && strstr(err, "read-only") ? 0 : 2);
  }
  int status = 0;
  CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  chmod(tmpdir, 0700);

  /* The file was not touched. */
  sqlite3 *db;
  CHECK(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == 0);
  CHECK(count_rows(db, "SELECT count(*) FROM results") == 1);
  sqlite3_close(db);
}

/* One item for spate serve's items format. */
static struct result *item(int i)
{
  char key[32];
  struct result *r = result_new("src", 3);
  snprintf(key, sizeof(key), "k%d", i);
  r->canonical = strdup(key);
  r->fields = calloc(1, sizeof(*r->fields));
  r->fields[0].name = "data";
  r->fields[0].json = strdup("{}");
  r->nfields = 1;
  return r;
}

/* The items store locked by another writer past its busy timeout: the
 * writer keeps the batch and says so (sink_stalled), sink_try_submit
 * refuses at once when the queue is full instead of waiting, and once the
 * lock goes everything queued is written. */
static void test_stall(void)
{
  char path[256], why[SINK_ERRMSG_MAX];
  struct sink *s;
  struct sink_options opt = {.queue_cap = 4};
  sqlite3 *lock;
  tmp_path(path, sizeof(path), "items.db");
  CHECK(sink_open_format(&s, &sink_items_format, path, &opt, NULL) == 0);
  CHECK(sqlite3_open(path, &lock) == 0);
  CHECK(sqlite3_exec(lock, "BEGIN EXCLUSIVE", NULL, NULL, NULL) == 0);
  CHECK(sink_try_submit(s, item(0)) == 0);
  /* SQLite's busy wait (5 s), then the retries. */
  for (int i = 0; i < 1500 && !sink_stalled(s, NULL, 0); i++)
    sleep_ms(10);
  CHECK(sink_stalled(s, why, sizeof(why)) == 1 && strstr(why, "locked"));
  CHECK(sink_error(s) == 0);
  for (int i = 1; i <= 4; i++)
    CHECK(sink_try_submit(s, item(i)) == 0);
  CHECK(sink_try_submit(s, item(5)) == -EAGAIN);
  CHECK(sqlite3_exec(lock, "COMMIT", NULL, NULL, NULL) == 0);
  for (int i = 0; i < 1000 && sink_stalled(s, NULL, 0); i++)
    sleep_ms(10);
  CHECK(sink_stalled(s, NULL, 0) == 0);
  CHECK(sink_close(s) == 0);
  CHECK(count_rows(lock, "SELECT count(*) FROM items") == 5);
  sqlite3_close(lock);
}

static void cleanup(void)
{
  static const char *const names[] = {
      "out.jsonl",      "out.csv",       "out.db",         "out.db-wal",
      "out.db-shm",     "prompt.jsonl",  "gather.jsonl",   "prompt.db",
      "prompt.db-wal",  "prompt.db-shm", "stdout.jsonl",   "full.csv",
      "foreign.sqlite", "v2.sqlite3",    "text.db",        "ro.db",
      "ro.db-wal",      "ro.db-shm",     "v2.sqlite3-wal", "v2.sqlite3-shm",
      "batch.db",       "batch.db-wal",  "batch.db-shm",   "items.db",
      "items.db-wal",   "items.db-shm"};
  char path[256];
  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
    tmp_path(path, sizeof(path), names[i]);
    unlink(path);
  }
  if (rmdir(tmpdir))
    fprintf(stderr, "left %s behind: %s\n", tmpdir, strerror(errno));
}

int main(void)
{
  if (!mkdtemp(tmpdir)) {
    perror("mkdtemp");
    return 1;
  }
  test_csv_reader();
  test_jsonl();
  test_csv();
  test_sqlite();
  test_prompt();
  test_gather();
  test_batch_rows();
  test_stdout();
  test_epipe();
  test_full_device();
  test_open_errors();
  test_readonly_db();
  test_stall();
  cleanup();
  return check_report("test_sink");
}
