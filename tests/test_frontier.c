/* Tests of the crawl frontier driven as a crawl drives it, without a
 * network: URLs taken with frontier_next, their results (with the links
 * to follow) written through the frontier's sink format. About the
 * writer's bounded set of hosts (frontier_options.hosts_max): every URL
 * is still taken, the crawl ends, and no more hosts than the set holds
 * have URLs out at once. */
#include "check.h"
#include "frontier.h"
#include "input.h"
#include "result.h"
#include "sink_impl.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[] = "/tmp/spate-test-frontier-XXXXXX";

/* A crawl in progress: the URLs taken and not yet written back. */
struct drive {
  struct frontier *fr;
  struct sink_out *out;
  struct input_line held[4096];
  size_t nheld;
  int ended; /* frontier_next said the crawl is over */
};

static void notify(void *arg)
{
  (void)arg;
}

static int drive_open(struct drive *d, const char *path,
                      const char *const *seeds, int nseeds, size_t hosts_max,
                      int64_t host_cap)
{
  char err[256];
  struct frontier_options fo = {
      .path = path,
      .seeds = seeds,
      .nseeds = nseeds,
      .identity = "test_frontier",
      .host_cap = host_cap,
      .hosts_max = hosts_max,
      .notify = notify,
  };
  memset(d, 0, sizeof(*d));
  if (frontier_open(&d->fr, &fo, err)) {
    fprintf(stderr, "frontier_open: %s\n", err);
    return -1;
  }
  d->out = (struct sink_out *)(void *)d->fr;
  return 0;
}

/* Takes every URL the frontier hands out now. */
static void pull(struct drive *d)
{
  struct input_line l;
  int r;
  while (d->nheld < sizeof(d->held) / sizeof(d->held[0]) &&
         (r = frontier_next(d->fr, &l)) == 1)
    d->held[d->nheld++] = l;
  if (frontier_next(d->fr, &l) == -1)
    d->ended = 1;
}

/* The result of held URL i, a page whose links are links[0..n). */
static struct result *page_of(struct drive *d, size_t i,
                              const char *const *links, int n)
{
  struct input_line l = d->held[i];
  d->held[i] = d->held[--d->nheld];
  struct result *r = result_new(l.text, l.len);
  free(l.text);
  if (!r)
    return NULL;
  r->crawl = l.crawl;
  r->status = 200;
  r->fetched_at_us = INT64_C(1700000000000000);
  size_t len = 0;
  for (int k = 0; k < n; k++)
    len += strlen(links[k]) + 1;
  if (n) {
    char *p = r->crawl->follow = malloc(len);
    if (!p) {
      result_free(r);
      return NULL;
    }
    for (int k = 0; k < n; k++) {
      memcpy(p, links[k], strlen(links[k]) + 1);
      p += strlen(links[k]) + 1;
    }
  }
  r->crawl->follow_len = len;
  r->crawl->nfollow = n;
  return r;
}

/* Writes rs[0..n) (n may be 0: a write that only takes more), frees
 * them, and takes what the frontier hands out. */
static int write_back(struct drive *d, struct result **rs, size_t n)
{
  char err[SINK_ERRMSG_MAX];
  int rc = frontier_sink_format.write(d->out, rs, n, err);
  if (rc)
    fprintf(stderr, "write: %s\n", err);
  for (size_t i = 0; i < n; i++)
    result_free(rs[i]);
  pull(d);
  return rc;
}

static size_t held_index(const struct drive *d, const char *url)
{
  for (size_t i = 0; i < d->nheld; i++)
    if (strcmp(d->held[i].text, url) == 0)
      return i;
  return SIZE_MAX;
}

/* Writes the result of url (held) with links[0..n). */
static int done(struct drive *d, const char *url, const char *const *links,
                int n)
{
  size_t i = held_index(d, url);
  CHECK(i != SIZE_MAX);
  if (i == SIZE_MAX)
    return -1;
  struct result *r = page_of(d, i, links, n);
  return r ? write_back(d, &r, 1) : -1;
}

static void drive_close(struct drive *d, struct frontier_stats *st)
{
  char err[SINK_ERRMSG_MAX];
  if (st)
    frontier_get_stats(d->fr, st);
  CHECK(frontier_sink_format.close(d->out, 0, err) == 0);
  for (size_t i = 0; i < d->nheld; i++) {
    free(d->held[i].text);
    result_crawl_free(d->held[i].crawl);
  }
  d->nheld = 0;
  CHECK(frontier_close(d->fr, err) == 0);
}

/* The host part of a key: "http://hNNNN.test". */
static size_t host_len(const char *key)
{
  const char *p = strchr(key + 7, '/');
  return p ? (size_t)(p - key) : strlen(key);
}

/* A host taken into the set by a new link while its URLs from before wait
 * in the store must not be taken for drained after one take: with a set
 * of 300 and 298 hosts at two URLs each (one held back by host_cap 1), the
 * walk that takes hosts in stops at its 256 lookups with room left; a
 * link then brings in a host with a URL already queued. Before the fix
 * (8c3ea32) that host was dropped with the URL still queued, the walk had
 * passed it, and the crawl never ended. */
static void test_host_met_while_spilled(void)
{
  char path[300];
  static char keys[600][40];
  const char *seeds[600];
  int ns = 0;
  snprintf(path, sizeof(path), "%s/spilled.db", tmpdir);
  for (int i = 1; i <= 298; i++)
    for (int k = 0; k < 2; k++) {
      snprintf(keys[ns], sizeof(keys[ns]), "http://h%04d.test/p/%d", i, k);
      seeds[ns] = keys[ns];
      ns++;
    }
  seeds[ns++] = "http://h0900.test/p/0";
  seeds[ns++] = "http://h0901.test/p/0";
  struct drive d;
  if (drive_open(&d, path, seeds, ns, 300, 1))
    return;
  pull(&d);
  for (int i = 0; i < 3; i++)
    write_back(&d, NULL, 0);
  CHECK(d.nheld == 300); /* one URL of each host */
  /* A link to W while the set is full: W waits in the store. */
  const char *w0[] = {"http://h0500.test/p/0"};
  struct result *two[2];
  size_t i0 = held_index(&d, "http://h0900.test/p/0");
  CHECK(i0 != SIZE_MAX);
  if (i0 == SIZE_MAX)
    return;
  two[0] = page_of(&d, i0, w0, 1);
  size_t i1 = held_index(&d, "http://h0901.test/p/0");
  CHECK(i1 != SIZE_MAX);
  if (i1 == SIZE_MAX)
    return;
  two[1] = page_of(&d, i1, NULL, 0);
  CHECK(two[0] && two[1] && write_back(&d, two, 2) == 0);
  write_back(&d, NULL, 0); /* room for two; the walk spends its lookups */
  /* W met again through a link, now that there is room. */
  const char *w1[] = {"http://h0500.test/p/1"};
  CHECK(done(&d, "http://h0001.test/p/0", w1, 1) == 0);
  /* Everything out comes back, page by page, until nothing is handed out. */
  for (int rounds = 0; d.nheld && rounds < 5000; rounds++)
    done(&d, d.held[0].text, NULL, 0);
  for (int i = 0; i < 3 && !d.ended; i++)
    write_back(&d, NULL, 0);
  struct frontier_stats st;
  frontier_get_stats(d.fr, &st);
  CHECK(d.ended);
  CHECK(st.queued == 0 && st.in_flight == 0);
  CHECK(st.done == 600);
  CHECK(st.hosts_held_max <= 300);
  drive_close(&d, NULL);
}

/* A random site of 40 hosts × 12 pages, each page linking to 3 pages
 * anywhere, crawled from one seed with room for 3 hosts (host_cap 2),
 * pages written back in a scrambled order, and the crawl stopped once
 * and resumed. Every page reachable from the seed is written exactly once
 * and the crawl ends; at no moment do more than 3 hosts have URLs out. */
#define HOSTS 40
#define PAGES 12
#define LINKS 3

static int page_id(const char *url)
{
  int h, p;
  if (sscanf(url, "http://h%d.test/p/%d", &h, &p) != 2 || h < 0 ||
      h >= HOSTS || p < 0 || p >= PAGES)
    return -1;
  return h * PAGES + p;
}

static void test_random_site(void)
{
  char path[300];
  static char url[HOSTS * PAGES][40];
  static int link[HOSTS * PAGES][LINKS];
  int reach[HOSTS * PAGES] = {0}, written[HOSTS * PAGES] = {0};
  uint32_t x = 2024;
  for (int i = 0; i < HOSTS * PAGES; i++) {
    snprintf(url[i], sizeof(url[i]), "http://h%d.test/p/%d", i / PAGES,
             i % PAGES);
    for (int k = 0; k < LINKS; k++) {
      x = x * 1103515245u + 12345u;
      link[i][k] = (int)((x >> 8) % (HOSTS * PAGES));
    }
  }
  /* What a crawl from page 0 reaches. */
  int queue[HOSTS * PAGES], qh = 0, qt = 0;
  reach[0] = 1;
  queue[qt++] = 0;
  while (qh < qt) {
    int i = queue[qh++];
    for (int k = 0; k < LINKS; k++)
      if (!reach[link[i][k]]) {
        reach[link[i][k]] = 1;
        queue[qt++] = link[i][k];
      }
  }

  snprintf(path, sizeof(path), "%s/random.db", tmpdir);
  const char *seed = url[0];
  int most = 0, wrong = 0, total = 0;
  for (int run = 0; run < 2; run++) {
    struct drive d;
    if (drive_open(&d, path, &seed, 1, 3, 2))
      return;
    pull(&d);
    for (int steps = 0; !d.ended && steps < 10000; steps++) {
      /* Hosts with URLs out now. */
      int hosts = 0;
      for (size_t i = 0; i < d.nheld; i++) {
        size_t j = 0, len = host_len(d.held[i].text);
        while (j < i && (host_len(d.held[j].text) != len ||
                         strncmp(d.held[j].text, d.held[i].text, len)))
          j++;
        hosts += j == i;
      }
      if (hosts > most)
        most = hosts;
      if (!d.nheld) {
        write_back(&d, NULL, 0);
        if (!d.nheld && !d.ended)
          break; /* nothing out, nothing handed out: stuck */
        continue;
      }
      x = x * 1103515245u + 12345u;
      size_t pick = (x >> 8) % d.nheld;
      int id = page_id(d.held[pick].text);
      if (id < 0) {
        wrong++;
        id = 0;
      }
      const char *ls[LINKS];
      for (int k = 0; k < LINKS; k++)
        ls[k] = url[link[id][k]];
      written[id]++;
      total++;
      struct result *r = page_of(&d, pick, ls, LINKS);
      CHECK(r && write_back(&d, &r, 1) == 0);
      if (run == 0 && total == 150)
        break; /* stopped: what is out goes back to the queue */
    }
    CHECK(run == 0 || d.ended);
    struct frontier_stats st;
    drive_close(&d, &st);
    CHECK(st.hosts_held_max <= 3);
  }
  CHECK(wrong == 0);
  CHECK(most >= 2 && most <= 3);
  int missing = 0, twice = 0, extra = 0;
  for (int i = 0; i < HOSTS * PAGES; i++) {
    missing += reach[i] && !written[i];
    twice += written[i] > 1;
    extra += !reach[i] && written[i];
  }
  CHECK(missing == 0);
  CHECK(twice == 0);
  CHECK(extra == 0);
  CHECK(total == qt);
}

int main(void)
{
  if (!mkdtemp(tmpdir)) {
    perror("mkdtemp");
    return 1;
  }
  test_host_met_while_spilled();
  test_random_site();
  check_rmtree(tmpdir);
  return check_report("test_frontier");
}
