/* storebench: the crawl store's writer alone, without a network. Feeds N
 * synthetic pages like bench/crawl.sh's site (about 6.3 KB of text from 20
 * words and the links' texts, 15 links: the next page, page 7i+3 and 13 at
 * random) through the
 * frontier's sink format, as the writer thread receives them in a crawl:
 * pages, links, full-text index, new URLs queued, the ring topped up, a
 * commit every 1,000 pages. Prints the writer's CPU time per page and the
 * bytes written per page.
 *
 *   build/storebench [-n PAGES] [-s SITE] [-p PAGE_SIZE] [-k] STORE.db
 *
 * -n pages are stored, of a site of -s pages (default: -n). -p creates the
 * store with that SQLite page size (default: the one spate crawl makes).
 * -k keeps the store. Deterministic for a given binary: run it under
 * `valgrind --tool=callgrind` for instruction counts. */
#include "buf.h"
#include "frontier.h"
#include "input.h"
#include "result.h"

#include <errno.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define ORIGIN "http://bench.invalid"
#define BATCH 64 /* results per write, as the engine hands them over */

static const char *const words[] = {
    "alpha",   "beta", "gamma", "delta",  "epsilon", "zeta",   "eta",
    "theta",   "iota", "kappa", "lambda", "mu",      "nu",     "xi",
    "omicron", "pi",   "rho",   "sigma",  "tau",     "upsilon"};

static uint32_t next_rand(uint64_t *s)
{
  *s = *s * 6364136223846793005u + 1442695040888963407u;
  return (uint32_t)(*s >> 33);
}

static double cpu_seconds(void)
{
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* Bytes this process has written (to the page cache, by write calls). */
static long long written_bytes(void)
{
  FILE *f = fopen("/proc/self/io", "r");
  char line[128];
  long long v = -1;
  while (f && fgets(line, sizeof(line), f))
    if (sscanf(line, "wchar: %lld", &v) == 1)
      break;
  if (f)
    fclose(f);
  return v;
}

static int page_number(const char *url)
{
  const char *p = strstr(url, "/p/");
  return p ? atoi(p + 3) : -1;
}

/* The result the engine would hand the writer for the page at url. */
static struct result *make_result(struct input_line *line, int npages,
                                  uint64_t *seed, struct buf *text)
{
  struct result *r = result_new(line->text, line->len);
  if (!r)
    return NULL;
  r->crawl = line->crawl;
  line->crawl = NULL;
  int i = page_number(r->url);
  r->status = 200;
  r->bytes = 6600;
  r->fetched_at_us = 1700000000000000;
  r->final_url = strdup(r->url);
  r->content_type = strdup("text/html");
  char title[64];
  snprintf(title, sizeof(title),
           i < 0 ? "Synthetic site" : "Page %d of the synthetic site", i);
  r->title = strdup(title);
  memset(r->hash, 'a', 64);
  if (!r->final_url || !r->content_type || !r->title)
    goto oom;

  /* Links: the index links to page 0 only. */
  int targets[15], n = 0;
  if (i < 0) {
    targets[n++] = 0;
  } else {
    targets[n++] = (i + 1) % npages;
    targets[n++] = (int)(((int64_t)i * 7 + 3) % npages);
    while (n < 15)
      targets[n++] = (int)(next_rand(seed) % (uint32_t)npages);
  }

  /* The visible text as the crawl extracts it: the heading, 1,100 words,
   * then each link's text ("page N": a number is a term of its own, so
   * the index holds about as many terms as the site has pages). */
  buf_reset(text);
  int bad = buf_printf(text, "Page %d ", i < 0 ? 0 : i);
  for (int w = 0; w < 1100; w++)
    bad |= buf_puts(text, words[next_rand(seed) % 20]) | buf_putc(text, ' ');
  for (int k = 0; k < n; k++)
    bad |= buf_printf(text, " page %d", targets[k]);
  if (bad)
    goto oom;
  struct result_crawl *c = r->crawl;
  c->text = malloc(text->len + 1);
  if (!c->text)
    goto oom;
  memcpy(c->text, text->data, text->len + 1);
  c->text_len = text->len;

  struct buf keys = {0};
  for (int k = 0; k < n; k++)
    bad |= buf_printf(&keys, ORIGIN "/p/%d.html", targets[k]) |
           buf_putc(&keys, '\0');
  if (bad) {
    buf_free(&keys);
    goto oom;
  }
  r->nlinks = n;
  r->links = malloc(keys.len);
  c->follow = keys.data;
  if (!r->links)
    goto oom;
  memcpy(r->links, keys.data, keys.len);
  c->follow_len = keys.len;
  c->nfollow = n;
  return r;
oom:
  result_free(r);
  return NULL;
}

static void notify(void *arg)
{
  (void)arg;
}

static void usage(void)
{
  fprintf(stderr, "usage: storebench [-n PAGES] [-s SITE] [-p PAGE_SIZE] [-k] "
                  "STORE.db\n");
  exit(2);
}

int main(int argc, char **argv)
{
  int npages = 20000, site = 0, page_size = 0, keep = 0, opt;
  while ((opt = getopt(argc, argv, "n:s:p:k")) != -1) {
    if (opt == 'n')
      npages = atoi(optarg);
    else if (opt == 's')
      site = atoi(optarg);
    else if (opt == 'p')
      page_size = atoi(optarg);
    else if (opt == 'k')
      keep = 1;
    else
      usage();
  }
  if (optind != argc - 1 || npages < 1 || site < 0)
    usage();
  if (!site)
    site = npages;
  const char *path = argv[optind];
  char wal[4096], shm[4096];
  snprintf(wal, sizeof(wal), "%s-wal", path);
  snprintf(shm, sizeof(shm), "%s-shm", path);
  unlink(path);
  unlink(wal);
  unlink(shm);
  if (page_size) {
    sqlite3 *db;
    char sql[96];
    snprintf(sql, sizeof(sql), "PRAGMA page_size=%d; VACUUM;", page_size);
    if (sqlite3_open(path, &db) != SQLITE_OK ||
        sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) {
      fprintf(stderr, "storebench: %s: %s\n", path, sqlite3_errmsg(db));
      return 1;
    }
    sqlite3_close(db);
  }

  const char *seed_key = ORIGIN "/index.html";
  struct frontier_options fo = {
      .path = path,
      .seeds = &seed_key,
      .nseeds = 1,
      .identity = "storebench",
      .host_cap = (256 + 1024) / 2, /* as spate crawl's defaults set it */
      .notify = notify,
  };
  struct frontier *fr;
  char err[256];
  int rc = frontier_open(&fr, &fo, err);
  if (rc) {
    fprintf(stderr, "storebench: %s\n", err);
    return 1;
  }
  struct sink_out *out = (struct sink_out *)(void *)fr;
  struct result *rs[BATCH];
  struct buf text = {0};
  uint64_t seed = 7;
  char werr[SINK_ERRMSG_MAX];
  long stored = 0;
  double spent = 0; /* in the writer's calls, not making pages */
  while (stored < npages) {
    size_t n = 0;
    struct input_line line;
    while (n < BATCH && stored + (long)n < npages &&
           frontier_next(fr, &line) == 1) {
      rs[n] = make_result(&line, site, &seed, &text);
      /* The result copied the URL and took the crawl part, unless it
       * could not be made. */
      free(line.text);
      result_crawl_free(line.crawl);
      if (!rs[n]) {
        fprintf(stderr, "storebench: out of memory\n");
        return 1;
      }
      n++;
    }
    if (!n)
      break; /* nothing left to take: the site is smaller than -n */
    double w0 = cpu_seconds();
    rc = frontier_sink_format.write(out, rs, n, werr);
    spent += cpu_seconds() - w0;
    for (size_t k = 0; k < n; k++)
      result_free(rs[k]);
    if (rc) {
      fprintf(stderr, "storebench: %s\n", werr);
      return 1;
    }
    stored += (long)n;
  }
  double t1 = cpu_seconds();
  rc = frontier_sink_format.close(out, 0, werr);
  spent += cpu_seconds() - t1;
  if (rc) {
    fprintf(stderr, "storebench: %s\n", werr);
    return 1;
  }
  t1 = cpu_seconds();
  if (frontier_close(fr, err)) {
    fprintf(stderr, "storebench: %s\n", err);
    return 1;
  }
  double t2 = cpu_seconds();
  buf_free(&text);
  printf("%ld pages stored: %.1f us of writer CPU per page (%.2f s), "
         "close %.2f s, %.1f KB written per page\n",
         stored, spent * 1e6 / (double)stored, spent, t2 - t1,
         (double)written_bytes() / 1e3 / (double)stored);
  if (!keep) {
    unlink(path);
    unlink(wal);
    unlink(shm);
  }
  return 0;
}
