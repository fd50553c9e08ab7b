#include "scheduler.h"

#include "breaker.h"
#include "buf.h"
#include "extract.h"
#include "failpoint.h"
#include "ratelimit.h"
#include "result.h"
#include "retry.h"
#include "robots.h"
#include "scope.h"
#include "sink.h"
#include "url.h"
#include "urlnorm.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#define MAX_REDIRECTS_CAP 30
#define container_of(p, type, member)                                         \
  ((type *)(void *)((char *)(p)-offsetof(type, member)))
#define HOST_IDLE_KEEP_MS 60000
#define GC_MS 1000
#define HELD_RETRY_MS 50 /* a line that found no memory waits this long */

enum robots_state {
  ROBOTS_NONE,
  ROBOTS_QUEUED,
  ROBOTS_FETCHING,
  ROBOTS_READY
};

struct host {
  char *key;
  struct host *hnext; /* hash chain */
  struct host *rnext; /* ready list */
  int in_ready;
  int blocked; /* waiting for a breaker probe */
  struct job *qhead, *qtail;
  int queued, inflight, jobs; /* jobs: every job pointing here */
  struct ratelimit rl;
  struct breaker br;
  uv_timer_t timer; /* wakes a rate- or breaker-blocked host */
  int timer_armed;
  uint64_t last_used_ms;
  struct scheduler *s;
  enum robots_state robots_state; /* with opt.robots_agent */
  struct robots *robots;
  /* A crawl: its robots.txt's Sitemap lines in scope, as keys each ended
   * by '\0', until the host's next result takes them to the frontier. */
  char *sitemaps;
  size_t sitemaps_len;
  /* The Sitemap lines not followed, by reason, for the same result: the
   * crawl's summary counts them with the links not followed. */
  unsigned sitemap_drops[CRAWL_DROP_N];
  int sitemaps_pending;  /* sitemaps or sitemap_drops to hand over */
  int private_ok;        /* may connect to private addresses */
  int cred_ok;           /* gets -H credentials and -b cookies */
  uint64_t done, failed; /* URLs finished here (the dashboard's table) */
  /* Why robots.txt could not be fetched when the host was unreachable
   * (dns, connect, timeout...): its URLs end with it rather than with
   * "robots", which would say the site forbids them. */
  const char *robots_err;
  /* robots.txt could not be had (5xx, 429, unreachable): everything is
   * disallowed for this run, and the URLs are the next run's. */
  int robots_unavailable;
};

enum job_state { JOB_QUEUED, JOB_INFLIGHT, JOB_WAITING, JOB_EXTRACTING };

struct job {
  struct transfer t; /* first: the fetcher hands it back */
  struct scheduler *s;
  struct host *host;
  struct job *qnext;       /* host queue */
  struct job *prev, *next; /* scheduler's list of jobs */
  enum job_state state;
  struct result *res;
  char *url; /* current URL (after redirects) */
  CURLU *uh; /* url parsed (url_check), for curl; NULL: curl parses url */
  int attempts, redirects;
  /* Hashes of the URLs visited, for loop detection: the first, then the
   * redirect targets (allocated at the first redirect: most URLs have
   * none, and 10,000 in flight should not carry 10,000 empty arrays). */
  uint64_t first_hash;
  uint64_t *chain;
  /* The first URL's "scheme://host:port", kept at the first redirect:
   * a hop elsewhere carries no -H Authorization or Cookie (as curl). */
  char *origin_key;
  int cross_hop;     /* the current hop is on another host than the first */
  uint64_t first_ns; /* first attempt started, 0 before */
  uv_timer_t *retry_timer; /* allocated while waiting to retry */
  uv_work_t work;
  struct host *robots_for; /* a robots.txt job: the host it is for */
  int record_redirect;     /* crawl: the 3xx is the result */
};

static void pump(struct scheduler *s);
static void held_retry(uv_timer_t *t);
static void stop_run(struct scheduler *s, uint64_t drain_ms);
static void wake_all(struct scheduler_shared *sh);
static void flush_pending(uv_check_t *c);
static void sink_failed(struct scheduler *s, size_t n);

/* ---- hosts ---------------------------------------------------------- */

static int table_grow(struct scheduler *s)
{
  size_t n = s->table_size ? s->table_size * 2 : 256;
  struct host **t = calloc(n, sizeof(*t));
  if (!t)
    return -ENOMEM;
  for (size_t i = 0; i < s->table_size; i++) {
    struct host *h = s->table[i];
    while (h) {
      struct host *next = h->hnext;
      size_t b = url_hash(h->key) & (n - 1);
      h->hnext = t[b];
      t[b] = h;
      h = next;
    }
  }
  free(s->table);
  s->table = t;
  s->table_size = n;
  return 0;
}

static struct host *host_get(struct scheduler *s, const char *key)
{
  uint64_t hv = url_hash(key);
  if (s->table_size) {
    for (struct host *h = s->table[hv & (s->table_size - 1)]; h; h = h->hnext)
      if (strcmp(h->key, key) == 0)
        return h;
  }
  if (s->nhosts >= s->table_size && table_grow(s))
    return NULL;
  struct host *h = calloc(1, sizeof(*h));
  if (!h || !(h->key = strdup(key))) {
    free(h);
    return NULL;
  }
  h->s = s;
  ratelimit_init(&h->rl, s->opt.rate, 1, uv_now(s->loop));
  breaker_init(&h->br, s->opt.breaker_threshold, s->opt.breaker_cooldown_ms,
               s->opt.breaker_cooldown_ms * 16);
  uv_timer_init(s->loop, &h->timer);
  h->timer.data = h;
  h->private_ok =
      s->opt.private_ok ? s->opt.private_ok(s->opt.private_arg, key) : 1;
  h->cred_ok = !s->opt.cred_hosts;
  for (int i = 0; i < s->opt.ncred_hosts && !h->cred_ok; i++)
    h->cred_ok = !strcmp(s->opt.cred_hosts[i], key);
  size_t b = hv & (s->table_size - 1);
  h->hnext = s->table[b];
  s->table[b] = h;
  s->nhosts++;
  return h;
}

static void host_closed(uv_handle_t *t)
{
  struct host *h = t->data;
  robots_free(h->robots);
  free(h->sitemaps);
  free(h->key);
  free(h);
}

static void host_unlink_free(struct scheduler *s, struct host *h)
{
  struct host **pp = &s->table[url_hash(h->key) & (s->table_size - 1)];
  while (*pp != h)
    pp = &(*pp)->hnext;
  *pp = h->hnext;
  s->nhosts--;
  uv_close((uv_handle_t *)&h->timer, host_closed);
}

/* A host is forgotten when nothing refers to it and forgetting loses no
 * politeness state: its breaker is closed and clean, and with --rate its
 * last request is long past. Keeps the table bounded by recent hosts. */
static int host_collectable(struct scheduler *s, struct host *h, uint64_t now)
{
  if (h->jobs || h->in_ready || h->timer_armed)
    return 0;
  if (h->br.state != BREAKER_CLOSED || h->br.failures || h->robots)
    return now - h->last_used_ms > HOST_IDLE_KEEP_MS * 10;
  if (s->opt.rate > 0)
    return now - h->last_used_ms > HOST_IDLE_KEEP_MS;
  return 1;
}

static void gc_hosts(uv_timer_t *t)
{
  struct scheduler *s = t->data;
  uint64_t now = uv_now(s->loop);
  for (size_t i = 0; i < s->table_size; i++) {
    struct host *h = s->table[i];
    while (h) {
      struct host *next = h->hnext;
      if (host_collectable(s, h, now))
        host_unlink_free(s, h);
      h = next;
    }
  }
}

static void ready_push(struct scheduler *s, struct host *h)
{
  if (h->in_ready || !h->queued || h->timer_armed || h->blocked ||
      h->inflight >= s->opt.per_host)
    return;
  /* While its robots.txt is being fetched a host starts nothing else,
   * but the robots.txt job itself after a redirect to the same host. */
  if (h->robots_state == ROBOTS_FETCHING && !h->qhead->robots_for)
    return;
  h->in_ready = 1;
  h->rnext = NULL;
  if (s->ready_tail)
    s->ready_tail->rnext = h;
  else
    s->ready_head = h;
  s->ready_tail = h;
}

static struct host *ready_pop(struct scheduler *s)
{
  struct host *h = s->ready_head;
  if (h) {
    s->ready_head = h->rnext;
    if (!s->ready_head)
      s->ready_tail = NULL;
    h->in_ready = 0;
  }
  return h;
}

static void host_timer_fired(uv_timer_t *t)
{
  struct host *h = t->data;
  h->timer_armed = 0;
  ready_push(h->s, h);
  pump(h->s);
}

static void host_sleep(struct host *h, uint64_t ms)
{
  h->timer_armed = 1;
  uv_timer_start(&h->timer, host_timer_fired, ms, 0);
}

static void enqueue(struct host *h, struct job *j, int front)
{
  j->state = JOB_QUEUED;
  if (front) {
    j->qnext = h->qhead;
    h->qhead = j;
    if (!h->qtail)
      h->qtail = j;
  } else {
    j->qnext = NULL;
    if (h->qtail)
      h->qtail->qnext = j;
    else
      h->qhead = j;
    h->qtail = j;
  }
  h->queued++;
  h->s->nqueued++;
  ready_push(h->s, h);
}

static struct job *dequeue(struct host *h)
{
  struct job *j = h->qhead;
  if (j) {
    h->qhead = j->qnext;
    if (!h->qhead)
      h->qtail = NULL;
    h->queued--;
    h->s->nqueued--;
    j->qnext = NULL;
  }
  return j;
}

static void job_set_host(struct job *j, struct host *h)
{
  if (j->host)
    j->host->jobs--;
  j->host = h;
  if (h)
    h->jobs++;
}

/* ---- results -------------------------------------------------------- */

static void count_errors(struct scheduler_stats *st, const char *code,
                         uint64_t n)
{
  for (int i = 0; i < st->nerrors; i++)
    if (strcmp(st->errors[i].code, code) == 0) {
      st->errors[i].n += n;
      return;
    }
  if (st->nerrors < STATS_MAX_ERRORS) {
    st->errors[st->nerrors].code = code;
    st->errors[st->nerrors++].n = n;
  }
}

static int64_t now_us(void)
{
  struct timeval tv;
  gettimeofday(&tv, NULL);
  return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

static void job_unlink(struct scheduler *s, struct job *j)
{
  if (j->prev)
    j->prev->next = j->next;
  else
    s->jobs = j->next;
  if (j->next)
    j->next->prev = j->prev;
}

/* Hands the result to the sink and frees the job. */
static void job_submit(struct scheduler *s, struct job *j)
{
  struct result *r = j->res;
  struct scheduler_stats *st = &s->stats;
  r->fetched_at_us = now_us();
  if (j->first_ns)
    r->elapsed_ms = (double)(uv_hrtime() - j->first_ns) / 1e6;
  __atomic_store_n(&st->done, st->done + 1, __ATOMIC_RELAXED);
  st->status_class[r->status >= 100 && r->status < 600 ? r->status / 100
                                                       : 0]++;
  st->bytes += (uint64_t)(r->bytes > 0 ? r->bytes : 0);
  if (r->error) {
    __atomic_store_n(&st->failed, st->failed + 1, __ATOMIC_RELAXED);
    count_errors(st, r->error, 1);
  } else {
    st->ok++;
  }
  if (r->attempts) {
    histogram_record(&st->latency_us, (uint64_t)(r->elapsed_ms * 1000));
    if (r->ttfb_ms >= 0)
      histogram_record(&st->ttfb_us, (uint64_t)(r->ttfb_ms * 1000));
  }
  if (j->host) {
    j->host->done++;
    j->host->failed += r->error != NULL;
  }
  job_unlink(s, j);
  s->njobs--;
  job_set_host(j, NULL);
  transfer_release(&j->t);
  free(j->url);
  free(j->chain);
  free(j->origin_key);
  curl_url_cleanup(j->uh);
  free(j);
  /* Results leave in batches, once per loop iteration (flush_pending):
   * one lock and one writer wake-up for many results. pending never
   * outgrows the live cap, which sized it. */
  if (s->npending < s->pending_cap) {
    s->pending[s->npending++] = r;
    uv_check_start(&s->flush, flush_pending);
  } else if (sink_submit(s->sink, r) != 0) {
    sink_failed(s, 1);
  }
}

/* The sink freed n results it will never report: count them ourselves,
 * and stop taking work, since nothing more can be written. */
static void sink_failed(struct scheduler *s, size_t n)
{
  atomic_fetch_sub(&s->shared->live, n);
  s->sink_failed = 1;
  s->stopping = 1;
}

static void flush_pending(uv_check_t *c)
{
  struct scheduler *s = c->data;
  size_t n = s->npending;
  uv_check_stop(c);
  s->npending = 0;
  size_t nfreed = 0;
  if (n && sink_submit_many(s->sink, s->pending, n, &nfreed) != 0)
    sink_failed(s, nfreed);
  /* The last results of the run may just have left: let pump see it. */
  pump(s);
}

static void extract_work(uv_work_t *w)
{
  struct job *j = container_of(w, struct job, work);
  struct scheduler *s = j->s;
  extract_run(s->opt.extract, j->t.body.data, j->t.body.len,
              j->res->content_type, j->res->final_url, j->res);
  buf_free(&j->t.body);
}

static void extract_done(uv_work_t *w, int status)
{
  (void)status;
  struct job *j = container_of(w, struct job, work);
  struct scheduler *s = j->s;
  job_submit(s, j);
  pump(s);
}

/* The URL's outcome is known: fill in what the transfer saw and send the
 * body to a worker thread for extraction, or submit at once. */
static void robots_done(struct scheduler *s, struct job *j, const char *err);

static void job_finish(struct scheduler *s, struct job *j, const char *err)
{
  struct result *r = j->res;
  struct transfer *t = &j->t;
  if (j->robots_for) {
    robots_done(s, j, err);
    return;
  }
  r->attempts = j->attempts;
  if (j->attempts) {
    r->status = t->status;
    r->ttfb_ms = t->ttfb_ms;
    r->bytes = (int64_t)t->body.len;
    r->content_type = t->content_type;
    t->content_type = NULL;
    free(r->final_url);
    r->final_url =
        strdup(j->record_redirect && t->location ? t->location : j->url);
  }
  r->error = err ? err : (r->status >= 400 ? ERR_HTTP : NULL);
  if (r->crawl && j->host && j->host->sitemaps_pending && !r->crawl->more) {
    struct host *h = j->host;
    r->crawl->more = h->sitemaps;
    r->crawl->more_len = h->sitemaps_len;
    for (int k = 0; k < CRAWL_DROP_N; k++)
      r->crawl->drops[k] += h->sitemap_drops[k];
    h->sitemaps = NULL;
    h->sitemaps_len = 0;
    h->sitemaps_pending = 0;
  }
  /* A crawl needs the extraction step even without a body: a redirect's
   * target becomes a link there. */
  if ((t->body.len || (r->crawl && j->attempts && !err)) && s->opt.extract) {
    /* A small HTML page scans in a few microseconds, less than handing it
     * to a worker thread and back costs (two wake-ups): do those here.
     * Large bodies and regex/JSON extractors, whose cost grows with the
     * input, go to the thread pool so the loop never stalls on them. */
    /* Gzip bytes (a compressed sitemap) may inflate a thousandfold: never
     * on the loop. */
    int gz = t->body.len >= 2 && (unsigned char)t->body.data[0] == 0x1f &&
             (unsigned char)t->body.data[1] == 0x8b;
    if (t->body.len <= s->opt.inline_extract_max && s->opt.extract->n == 0 &&
        !gz) {
      extract_work(&j->work);
    } else {
      j->state = JOB_EXTRACTING;
      if (uv_queue_work(s->loop, &j->work, extract_work, extract_done) == 0)
        return;
    }
  }
  job_submit(s, j);
}

static int transport_failure(const char *err)
{
  return ERR_IS(err, ERR_CONNECT) || ERR_IS(err, ERR_TIMEOUT) ||
         ERR_IS(err, ERR_RESET) || ERR_IS(err, ERR_DNS) ||
         ERR_IS(err, ERR_TLS);
}

/* ---- robots.txt ------------------------------------------------------ */

static void job_free(struct scheduler *s, struct job *j)
{
  job_unlink(s, j);
  s->njobs--;
  job_set_host(j, NULL);
  transfer_release(&j->t);
  result_free(j->res);
  free(j->url);
  free(j->chain);
  free(j->origin_key);
  curl_url_cleanup(j->uh);
  free(j);
}

/* Whether the host key hashing to hv had its Sitemap lines taken
 * before; notes it if not. An open-addressing set, 8 bytes a host. Out
 * of memory: "before", so nothing is counted twice. */
static int sitemaps_seen(struct scheduler *s, uint64_t hv)
{
  hv |= 1; /* 0 marks an empty slot */
  if ((s->sitemap_hosts_n + 1) * 2 > s->sitemap_hosts_cap) {
    size_t cap = s->sitemap_hosts_cap ? s->sitemap_hosts_cap * 2 : 64;
    uint64_t *t = calloc(cap, sizeof(*t));
    if (!t)
      return 1;
    for (size_t i = 0; i < s->sitemap_hosts_cap; i++) {
      uint64_t k = s->sitemap_hosts[i];
      if (!k)
        continue;
      size_t j = k & (cap - 1);
      while (t[j])
        j = (j + 1) & (cap - 1);
      t[j] = k;
    }
    free(s->sitemap_hosts);
    s->sitemap_hosts = t;
    s->sitemap_hosts_cap = cap;
  }
  size_t j = hv & (s->sitemap_hosts_cap - 1);
  for (; s->sitemap_hosts[j]; j = (j + 1) & (s->sitemap_hosts_cap - 1))
    if (s->sitemap_hosts[j] == hv)
      return 1;
  s->sitemap_hosts[j] = hv;
  s->sitemap_hosts_n++;
  return 0;
}

/* A crawl follows the Sitemap lines of robots.txt (RFC 9309 §2.2.4), as
 * wget2 does: those the crawl's scope admits at depth 1 wait on h for
 * its next result, and those it does not are counted there. Out of memory
 * loses them, nothing else. */
static void take_sitemaps(struct scheduler *s, struct host *h,
                          const struct robots *rb)
{
  const char *const *urls;
  size_t n = robots_sitemaps(rb, &urls);
  if (!n || !s->opt.extract || !s->opt.extract->crawl || h->sitemaps_pending ||
      sitemaps_seen(s, url_hash(h->key)))
    return;
  struct buf keys = {0};
  memset(h->sitemap_drops, 0, sizeof(h->sitemap_drops));
  for (size_t i = 0; i < n; i++) {
    const char *why;
    char *key = urlnorm_normalize(urls[i], NULL, &why);
    int drop =
        key ? scope_check(s->opt.extract->crawl, key, 1) : CRAWL_DROP_BAD_URL;
    if (drop >= 0)
      h->sitemap_drops[drop]++;
    else
      buf_append(&keys, key, strlen(key) + 1);
    free(key);
  }
  h->sitemaps_len = keys.len;
  h->sitemaps = buf_steal(&keys);
  h->sitemaps_pending = 1;
}

/* A host's robots.txt has an outcome (RFC 9309 §2.3.1): a 2xx is parsed
 * (its first 500 KiB); a 4xx other than 429, or redirects that lead
 * nowhere, allow everything; a 5xx, a 429 that outlasted the retries, or
 * an unreachable host disallow everything. */
static void robots_done(struct scheduler *s, struct job *j, const char *err)
{
  struct host *h = j->robots_for;
  struct transfer *t = &j->t;
  int status = j->attempts ? t->status : 0;
  struct robots *rb;
  h->robots_err = NULL;
  h->robots_unavailable = 0;
  if (status >= 200 && status < 300 && (!err || ERR_IS(err, ERR_TOO_LARGE))) {
    rb = robots_parse(t->body.data, t->body.len, s->opt.robots_agent);
  } else if ((status >= 400 && status < 500 && status != 429 && !err) ||
             (status >= 300 && status < 400) ||
             ERR_IS(err, ERR_TOO_MANY_REDIRECTS) ||
             ERR_IS(err, ERR_REDIRECT_LOOP) || ERR_IS(err, ERR_BAD_URL) ||
             ERR_IS(err, ERR_UNSUPPORTED_SCHEME)) {
    /* A 4xx, or redirects that lead nowhere: no robots.txt. */
    rb = robots_allow_all();
  } else if (ERR_IS(err, ERR_BLOCKED_ADDRESS) && j->host == h) {
    /* A host spate may not connect to: its URLs end as blocked_address
     * (refused before any connection), not as robots. */
    rb = robots_allow_all();
  } else {
    /* 5xx, 429, or robots.txt could not be had (the host unreachable,
     * its breaker open, robots.txt redirected somewhere refused): nothing
     * may be fetched. A failure to reach the host is what its URLs end
     * with; a server's refusal is "robots". */
    rb = robots_disallow_all();
    h->robots_unavailable = 1;
    if (err && !ERR_IS(err, ERR_BLOCKED_ADDRESS) &&
        !ERR_IS(err, ERR_CANCELLED))
      h->robots_err = err;
  }
  if (rb)
    take_sitemaps(s, h, rb);
  robots_free(h->robots);
  h->robots = rb; /* NULL (out of memory) disallows everything */
  h->robots_state = ROBOTS_READY;
  double delay = rb ? robots_crawl_delay(rb) : -1;
  if (delay > 0) {
    double ms = delay * 1000;
    if (ms > (double)s->opt.max_crawl_delay_ms)
      ms = (double)s->opt.max_crawl_delay_ms;
    double rate = ms > 0 ? 1000.0 / ms : 0;
    if (rate > 0 && (s->opt.rate <= 0 || rate < s->opt.rate))
      ratelimit_init(&h->rl, rate, 1, uv_now(s->loop));
  }
  /* Also read by the progress line on the control thread. */
  __atomic_store_n(&s->stats.robots_fetched, s->stats.robots_fetched + 1,
                   __ATOMIC_RELAXED);
  h->jobs--; /* the reference robots_for held */
  j->robots_for = NULL;
  job_free(s, j);
  ready_push(s, h);
}

/* Queues the fetch of h's robots.txt ahead of everything else on h. */
static void robots_enqueue(struct scheduler *s, struct host *h)
{
  struct job *j = calloc(1, sizeof(*j));
  size_t kl = strlen(h->key);
  char *url = malloc(kl + sizeof("/robots.txt"));
  struct result *r = url ? result_new(h->key, kl) : NULL;
  h->robots_state = ROBOTS_READY; /* unless the job can be queued */
  if (!j || !r) {
    free(j);
    free(url);
    result_free(r);
    return; /* h->robots stays NULL: nothing is fetched on h */
  }
  memcpy(url, h->key, kl);
  memcpy(url + kl, "/robots.txt", sizeof("/robots.txt"));
  j->s = s;
  j->res = r;
  j->url = url;
  j->first_hash = url_hash(url);
  j->robots_for = h;
  h->jobs++;
  j->next = s->jobs;
  if (s->jobs)
    s->jobs->prev = j;
  s->jobs = j;
  s->njobs++;
  job_set_host(j, h);
  h->robots_state = ROBOTS_QUEUED;
  enqueue(h, j, 1);
}

/* Whether h's robots.txt lets url be fetched. */
static int robots_ok(const struct host *h, const char *url)
{
  if (!h->robots)
    return 0;
  const char *p = strstr(url, "://");
  p = p ? p + 3 + strcspn(p + 3, "/?#") : NULL;
  return robots_allowed(h->robots, p && *p == '/' ? p : "/");
}

/* ---- admission ------------------------------------------------------ */

/* Frees a line that will not be admitted. */
static void line_free(struct input_line *line)
{
  free(line->text);
  result_crawl_free(line->crawl);
}

/* Turns line into a job: its one result is certain from here on. Returns
 * -ENOMEM, with line untouched and still the caller's, when there is no
 * memory for the job and its result; the caller holds the line and tries
 * again later, so no URL goes unanswered for a passing shortage. */
static int admit(struct scheduler *s, struct input_line *line, int retry)
{
  if (!retry && failpoint_hit(s->opt.fail_admit_every, &s->admit_seq))
    return -ENOMEM;
  struct job *j = calloc(1, sizeof(*j));
  struct result *r = j ? result_new(line->text, line->len) : NULL;
  if (!j || !r) {
    free(j);
    return -ENOMEM;
  }
  free(line->text);
  r->crawl = line->crawl;
  j->s = s;
  j->res = r;
  r->ttfb_ms = -1;
  j->next = s->jobs;
  if (s->jobs)
    s->jobs->prev = j;
  s->jobs = j;
  s->stats.admitted++;
  s->njobs++;

  struct url_info u;
  const char *err = line->truncated ? ERR_URL_TOO_LONG
                                    : url_check(r->url, strlen(r->url),
                                                s->opt.max_url_len, &u);
  if (err) {
    job_finish(s, j, err);
    return 0;
  }
  j->url = strdup(u.url);
  j->uh = u.uh;
  u.uh = NULL;
  struct host *h = j->url ? host_get(s, u.hostkey) : NULL;
  url_info_free(&u);
  if (!h) {
    job_finish(s, j, ERR_INTERNAL);
    return 0;
  }
  j->first_hash = url_hash(j->url);
  job_set_host(j, h);
  if (s->opt.robots_agent && h->robots_state == ROBOTS_NONE)
    robots_enqueue(s, h);
  enqueue(h, j, 0);
  return 0;
}

/* ---- transfers ------------------------------------------------------ */

static void retry_fired(uv_timer_t *t)
{
  struct job *j = t->data;
  uv_close((uv_handle_t *)t, (uv_close_cb)free);
  j->retry_timer = NULL;
  enqueue(j->host, j, 1);
  pump(j->s);
}

/* Follows a redirect by queueing the job again on the target's host.
 * Returns NULL, or the error that ends the URL. */
static const char *follow(struct scheduler *s, struct job *j)
{
  if (j->redirects >= s->opt.max_redirects)
    return ERR_TOO_MANY_REDIRECTS;
  struct url_info u;
  const char *err =
      url_check(j->t.location, strlen(j->t.location), s->opt.max_url_len, &u);
  if (err)
    return err;
  uint64_t hv = url_hash(u.url);
  int loop = hv == j->first_hash;
  for (int i = 0; i < j->redirects && !loop; i++)
    loop = j->chain[i] == hv;
  if (loop) {
    url_info_free(&u);
    return ERR_REDIRECT_LOOP;
  }
  if (!j->chain)
    j->chain = malloc((size_t)s->opt.max_redirects * sizeof(*j->chain));
  if (!j->origin_key && j->host)
    j->origin_key = strdup(j->host->key);
  struct host *h = host_get(s, u.hostkey);
  char *next = strdup(u.url);
  CURLU *uh = u.uh;
  u.uh = NULL;
  url_info_free(&u);
  if (!h || !next || !j->chain || !j->origin_key) {
    free(next);
    curl_url_cleanup(uh);
    return ERR_INTERNAL;
  }
  j->cross_hop = strcmp(h->key, j->origin_key) != 0;
  free(j->url);
  curl_url_cleanup(j->uh);
  j->url = next;
  j->uh = uh;
  j->chain[j->redirects++] = hv;
  s->stats.redirects++;
  job_set_host(j, h);
  enqueue(h, j, 1);
  return NULL;
}

/* Decides what a finished attempt means for its URL: follow, retry, or
 * finish. */
static void decide(struct scheduler *s, struct job *j)
{
  struct transfer *t = &j->t;
  struct host *h = j->host;
  uint64_t now = uv_now(s->loop);
  h->inflight--;
  __atomic_store_n(&s->inflight, s->inflight - 1, __ATOMIC_RELAXED);
  h->last_used_ms = now;
  h->blocked = 0;
  unsigned trips = h->br.trips;
  if (transport_failure(t->error))
    breaker_failure(&h->br, now);
  else if (!ERR_IS(t->error, ERR_CANCELLED))
    breaker_success(&h->br);
  s->stats.breaker_trips += h->br.trips - trips;
  ready_push(s, h);

  if (!t->error && t->status >= 300 && t->status < 400 && t->location &&
      s->opt.crawl && !j->robots_for) {
    /* A crawl records the redirect; its target is queued as a link. */
    j->record_redirect = 1;
    job_finish(s, j, NULL);
    return;
  }
  if (!t->error && t->status >= 300 && t->status < 400 && t->location) {
    /* A redirect hop is not a new attempt at the URL. */
    j->attempts--;
    const char *err = s->stopping ? ERR_CANCELLED : follow(s, j);
    if (err)
      j->attempts++;
    if (err)
      job_finish(s, j, err);
    return;
  }
  if (retry_is_transient(t->error, t->status) && !s->stopping &&
      j->attempts <= s->opt.retries) {
    uint64_t wait = retry_backoff_ms(j->attempts, s->opt.backoff_base_ms,
                                     s->opt.backoff_cap_ms, &s->rng);
    int ok = 1;
    if (t->retry_after_ms >= 0) {
      if ((uint64_t)t->retry_after_ms > s->opt.max_retry_after_ms)
        ok = 0;
      else if ((uint64_t)t->retry_after_ms > wait)
        wait = (uint64_t)t->retry_after_ms;
    }
    j->retry_timer = ok ? malloc(sizeof(uv_timer_t)) : NULL;
    if (j->retry_timer) {
      s->stats.retries++;
      j->state = JOB_WAITING;
      uv_timer_init(s->loop, j->retry_timer);
      j->retry_timer->data = j;
      uv_timer_start(j->retry_timer, retry_fired, wait, 0);
      return;
    }
  }
  /* A crawl stopping (SIGINT, SIGTERM, the dashboard's Stop) with a retry
   * still due: not the page's outcome, which the next run finds out, so
   * it stays in flight and is queued again. */
  if (s->opt.crawl && s->stopping && !j->robots_for &&
      retry_is_transient(t->error, t->status) &&
      j->attempts <= s->opt.retries) {
    job_finish(s, j, ERR_CANCELLED);
    return;
  }
  job_finish(s, j, t->error);
}

static void transfer_done(struct fetcher *f, struct transfer *t, void *arg)
{
  (void)f;
  struct scheduler *s = arg;
  decide(s, (struct job *)t);
  /* A slot freed, or the job went back to a queue: start what can. */
  pump(s);
}

/* A rate-limited host's interval (--rate, Crawl-delay) counts from when
 * its request went out, in whole milliseconds rounded up, so the server
 * never sees two closer than the rate allows. */
static void job_sent(struct transfer *t)
{
  struct job *j = (struct job *)t;
  ratelimit_sent(&j->host->rl, (uv_hrtime() + 999999) / 1000000);
}

/* Ends j for a reason of its host's (its breaker open, its robots.txt
 * unavailable): in a crawl the URL is the next run's to fetch. */
static void job_finish_host(struct scheduler *s, struct job *j,
                            const char *err)
{
  if (j->res && j->res->crawl)
    j->res->crawl->retry_later = 1;
  job_finish(s, j, err);
}

/* Starts the next job of h if the host's politeness allows it now.
 * Returns 1 when one started. */
static int host_start_one(struct scheduler *s, struct host *h)
{
  uint64_t now = uv_now(s->loop);
  struct job *head = h->qhead;
  if (!head)
    return 0; /* emptied since it was made ready (a breaker rejection) */
  if (s->opt.robots_agent && !head->robots_for) {
    if (h->robots_state != ROBOTS_READY)
      return 0; /* its robots.txt job is ahead of it */
    if (!robots_ok(h, head->url)) {
      /* Disallowed: answered without a request, and without taking a
       * token of the host's rate. */
      struct job *j = dequeue(h);
      const char *why = h->robots_err ? h->robots_err : ERR_ROBOTS;
      if (h->robots_unavailable)
        job_finish_host(s, j, why);
      else
        job_finish(s, j, why);
      return 0;
    }
  }
  switch (breaker_allow(&h->br, now)) {
  case BREAKER_REJECT: {
    /* A host that keeps failing: its queued URLs fail fast instead of
     * each paying for a timeout. */
    struct job *j;
    while ((j = dequeue(h)))
      job_finish_host(s, j, ERR_CIRCUIT_OPEN);
    return 0;
  }
  case BREAKER_WAIT:
    h->blocked = 1; /* until the probe in flight comes back */
    return 0;
  case BREAKER_ALLOW:
    break;
  }
  uint64_t wait = ratelimit_take(&h->rl, now);
  if (wait) {
    if (h->br.probing)
      h->br.probing = 0; /* give the probe slot back */
    host_sleep(h, wait);
    return 0;
  }
  struct job *j = dequeue(h);
  j->attempts++;
  if (!j->first_ns)
    j->first_ns = uv_hrtime();
  j->state = JOB_INFLIGHT;
  if (j->robots_for == h)
    h->robots_state = ROBOTS_FETCHING;
  j->t.guard.allow_private = h->private_ok;
  j->t.cross_origin = j->cross_hop || !h->cred_ok;
  j->t.on_sent = h->rl.rate > 0 ? job_sent : NULL;
  if (fetcher_start(&s->fetcher, &j->t, j->url, j->uh) != 0) {
    h->br.probing = 0; /* no probe went out: let the next one try */
    job_finish(s, j, ERR_INTERNAL);
    return 0;
  }
  h->inflight++;
  __atomic_store_n(&s->inflight, s->inflight + 1, __ATOMIC_RELAXED);
  h->last_used_ms = now;
  return 1;
}

static void dispatch(struct scheduler *s)
{
  struct host *h;
  while (s->inflight < s->opt.concurrency && (h = ready_pop(s))) {
    host_start_one(s, h);
    ready_push(s, h);
  }
}

/* ---- the run -------------------------------------------------------- */

static void on_closed(uv_handle_t *h)
{
  (void)h;
}

static void fetcher_closed(struct fetcher *f)
{
  (void)f;
}

static void shutdown_loop(struct scheduler *s)
{
  if (s->closing)
    return;
  s->closing = 1;
  /* The wake handle stays open (unreferenced) until every loop of the run
   * is done: the input and writer threads may still signal it. It is
   * closed by scheduler_free. */
  uv_unref((uv_handle_t *)&s->wake);
  uv_close((uv_handle_t *)&s->flush, on_closed);
  /* The signal watchers stay (unreferenced) until scheduler_free too:
   * were every watcher closed, libuv would restore the default action and
   * a Ctrl-C while the sink drains would kill the process mid-write. */
  uv_unref((uv_handle_t *)&s->sigint);
  uv_unref((uv_handle_t *)&s->sigterm);
  uv_close((uv_handle_t *)&s->drain_timer, on_closed);
  uv_close((uv_handle_t *)&s->gc_timer, on_closed);
  uv_close((uv_handle_t *)&s->held_timer, on_closed);
  if (s->opt.observe)
    s->opt.observe(s->opt.observe_arg, s); /* the final counts */
  uv_close((uv_handle_t *)&s->observe_timer, on_closed);
  for (size_t i = 0; i < s->table_size; i++) {
    struct host *h = s->table[i];
    while (h) {
      struct host *next = h->hnext;
      uv_close((uv_handle_t *)&h->timer, host_closed);
      h = next;
    }
    s->table[i] = NULL;
  }
  s->nhosts = 0;
  fetcher_close(&s->fetcher, fetcher_closed);
}

static void pump(struct scheduler *s)
{
  if (s->closing)
    return;
  /* A write failure seen by any loop, or by the writer itself, ends the
   * run for every loop. */
  if (!s->sink_failed && sink_error(s->sink)) {
    s->sink_failed = 1;
    s->stopping = 1;
  }
  if (s->sink_failed && !s->stop_started) {
    /* Nothing more can be written: end the run without waiting. */
    stop_run(s, 0);
    return;
  }
  if (__atomic_load_n(&s->stop_requested, __ATOMIC_ACQUIRE) &&
      !s->stop_started) {
    if (!s->interrupted)
      s->interrupted = SIGINT;
    stop_run(s, s->opt.drain_ms);
    return;
  }
  /* Live is shared by every loop of the run: reserve a slot before
   * taking a line, give it back if there was none. */
  struct scheduler_shared *sh = s->shared;
  while (!s->stopping && s->njobs < s->opt.max_jobs) {
    struct input_line line;
    int retry = s->has_held;
    if (retry) {
      if (uv_is_active((uv_handle_t *)&s->held_timer))
        break;        /* its wait is not over */
      line = s->held; /* it kept its live slot */
      s->has_held = 0;
    } else {
      if (s->input_done)
        break;
      if (s->opt.take_for_free_slot) {
        dispatch(s); /* start what is queued: is a slot still free? */
        if (s->inflight >= s->opt.concurrency)
          break;
      }
      if (atomic_fetch_add(&sh->live, 1) >= sh->live_cap) {
        atomic_fetch_sub(&sh->live, 1);
        break;
      }
      int rc = s->src.next(s->src.arg, &line);
      if (rc != 1) {
        atomic_fetch_sub(&sh->live, 1);
        if (rc < 0)
          s->input_done = 1;
        break;
      }
    }
    if (admit(s, &line, retry) == -ENOMEM) {
      s->held = line;
      s->has_held = 1;
      s->stats.admit_waits++;
      uv_timer_start(&s->held_timer, held_retry, HELD_RETRY_MS, 0);
      break;
    }
  }
  if (!s->stopping)
    dispatch(s);
  /* Nothing more will come in and nothing waits for a slot: a connection
   * whose transfer ends now would only wait, idle, for the end of the
   * run, to be closed then with all the others. Close each as its
   * transfer ends instead, while the last responses are still on their
   * way (and the server gets its connections back sooner). */
  if (s->input_done && !s->has_held && !s->nqueued && !s->idle_closing) {
    s->idle_closing = 1;
    fetcher_close_idle(&s->fetcher);
  }
  /* This loop is done when nothing more comes in and all its results have
   * gone to the sink; the sink drains them after every loop has ended. */
  if ((s->input_done || s->stopping) && !s->has_held && !s->jobs &&
      s->npending == 0)
    shutdown_loop(s);
}

static void held_retry(uv_timer_t *t)
{
  pump(t->data);
}

static void on_wake(uv_async_t *a)
{
  pump(a->data);
}

static void wake_all(struct scheduler_shared *sh)
{
  for (int i = 0; i < sh->nloops; i++)
    uv_async_send(&sh->loops[i]->wake);
}

void scheduler_notify(void *arg)
{
  wake_all(arg);
}

void scheduler_written(void *arg, size_t n)
{
  struct scheduler_shared *sh = arg;
  atomic_fetch_sub(&sh->live, n);
  wake_all(sh);
}

static void drain_expired(uv_timer_t *t)
{
  struct scheduler *s = t->data;
  for (struct job *j = s->jobs, *next; j; j = next) {
    next = j->next;
    if (j->state == JOB_INFLIGHT)
      fetcher_cancel(&s->fetcher, &j->t, ERR_CANCELLED);
  }
  pump(s);
}

/* Takes no new work, ends queued and waiting URLs as cancelled, and gives
 * in-flight transfers drain_ms to finish before cancelling them. Every URL
 * admitted still gets its one result. */
static void stop_run(struct scheduler *s, uint64_t drain_ms)
{
  if (s->stop_started)
    return;
  s->stop_started = 1;
  s->stopping = 1;
  s->src.stop(s->src.arg);
  if (s->has_held) {
    /* Never admitted: like the lines still in the input, it has no
     * result, and its slot goes back. */
    uv_timer_stop(&s->held_timer);
    line_free(&s->held);
    s->has_held = 0;
    atomic_fetch_sub(&s->shared->live, 1);
  }
  /* After input_stop the reader sends no end-of-input wake-up: wake the
   * other loops here, or an idle one would wait for it forever. */
  wake_all(s->shared);
  for (struct job *j = s->jobs, *next; j; j = next) {
    next = j->next;
    if (j->state == JOB_WAITING) {
      uv_close((uv_handle_t *)j->retry_timer, (uv_close_cb)free);
      j->retry_timer = NULL;
      job_finish(s, j, ERR_CANCELLED);
    }
  }
  for (size_t i = 0; i < s->table_size; i++)
    for (struct host *h = s->table[i]; h; h = h->hnext) {
      struct job *j;
      while ((j = dequeue(h)))
        job_finish(s, j, ERR_CANCELLED);
    }
  uv_timer_start(&s->drain_timer, drain_expired, drain_ms, 0);
  pump(s);
}

/* The first SIGINT/SIGTERM stops the run gently; a second exits at once. */
static void on_signal(uv_signal_t *sig, int signum)
{
  struct scheduler *s = sig->data;
  if (++s->nsignals > 1)
    _exit(128 + signum);
  s->interrupted = signum;
  stop_run(s, s->opt.drain_ms);
}

static int input_source_next(void *arg, struct input_line *out)
{
  return input_next(arg, out);
}

static void input_source_stop(void *arg)
{
  input_stop(arg);
}

struct scheduler_source scheduler_input_source(struct input *in)
{
  struct scheduler_source src = {input_source_next, input_source_stop, in};
  return src;
}

int scheduler_init(struct scheduler *s, uv_loop_t *loop,
                   const struct scheduler_options *opt,
                   const struct scheduler_source *src, struct sink *sink,
                   struct scheduler_shared *shared)
{
  memset(s, 0, sizeof(*s));
  s->loop = loop;
  s->opt = *opt;
  if (s->opt.max_redirects > MAX_REDIRECTS_CAP)
    s->opt.max_redirects = MAX_REDIRECTS_CAP;
  if (s->opt.per_host <= 0)
    s->opt.per_host = s->opt.concurrency;
  if (s->opt.max_jobs <= 0)
    s->opt.max_jobs = s->opt.concurrency + s->opt.backlog;
  s->src = *src;
  s->sink = sink;
  if (s->opt.private_ok)
    s->opt.fetch.guard = 1;
  s->shared = shared;
  s->rng = (uint64_t)uv_hrtime() | 1;
  histogram_init(&s->stats.latency_us);
  histogram_init(&s->stats.ttfb_us);
  /* The steps that can fail come first, so a failure leaves nothing on
   * the loop to close. */
  if (shared->nloops >= SCHEDULER_MAX_LOOPS)
    return -EINVAL;
  s->pending_cap = (size_t)s->opt.concurrency + (size_t)s->opt.backlog;
  s->pending = malloc(s->pending_cap * sizeof(*s->pending));
  if (!s->pending)
    return -ENOMEM;
  int rc = fetcher_init(&s->fetcher, loop, &s->opt.fetch, s->opt.concurrency,
                        transfer_done, s);
  if (rc) {
    free(s->pending);
    s->pending = NULL;
    return rc;
  }
  uv_async_init(loop, &s->wake, on_wake);
  s->wake.data = s;
  uv_check_init(loop, &s->flush);
  s->flush.data = s;
  shared->loops[shared->nloops++] = s;
  uv_signal_init(loop, &s->sigint);
  s->sigint.data = s;
  uv_signal_init(loop, &s->sigterm);
  s->sigterm.data = s;
  uv_timer_init(loop, &s->drain_timer);
  s->drain_timer.data = s;
  uv_timer_init(loop, &s->gc_timer);
  s->gc_timer.data = s;
  uv_timer_init(loop, &s->held_timer);
  s->held_timer.data = s;
  uv_timer_init(loop, &s->observe_timer);
  s->observe_timer.data = s;
  return 0;
}

static void observe_tick(uv_timer_t *t)
{
  struct scheduler *s = t->data;
  s->opt.observe(s->opt.observe_arg, s);
}

void scheduler_request_stop(struct scheduler *s)
{
  __atomic_store_n(&s->stop_requested, 1, __ATOMIC_RELEASE);
  uv_async_send(&s->wake);
}

int scheduler_top_hosts(struct scheduler *s, struct scheduler_host_info *out,
                        int max)
{
  int n = 0;
  for (size_t i = 0; i < s->table_size; i++)
    for (struct host *h = s->table[i]; h; h = h->hnext) {
      /* insertion into the sorted top list */
      int64_t w = (int64_t)h->inflight * 1000000 + h->queued;
      int at = n;
      while (at > 0 &&
             (int64_t)out[at - 1].inflight * 1000000 + out[at - 1].queued < w)
        at--;
      if (at >= max)
        continue;
      if (n < max)
        n++;
      memmove(&out[at + 1], &out[at], (size_t)(n - 1 - at) * sizeof(*out));
      snprintf(out[at].host, sizeof(out[at].host), "%s", h->key);
      out[at].inflight = h->inflight;
      out[at].queued = h->queued;
      out[at].done = h->done;
      out[at].failed = h->failed;
      out[at].breaker = (int)h->br.state;
    }
  return n;
}

int scheduler_run(struct scheduler *s)
{
  __atomic_store_n(&s->stats.start_ns, uv_hrtime(), __ATOMIC_RELAXED);
  uv_signal_start(&s->sigint, on_signal, SIGINT);
  uv_signal_start(&s->sigterm, on_signal, SIGTERM);
  uv_timer_start(&s->gc_timer, gc_hosts, GC_MS, GC_MS);
  if (s->opt.observe)
    uv_timer_start(&s->observe_timer, observe_tick, 0, 100);
  pump(s);
  uv_run(s->loop, UV_RUN_DEFAULT);
  return 0;
}

void scheduler_free(struct scheduler *s)
{
  free(s->sitemap_hosts);
  s->sitemap_hosts = NULL;
  /* A loop that never ran (a later loop of the run failed to start)
   * still has every handle open. */
  if (!s->closing)
    shutdown_loop(s);
  if (!uv_is_closing((uv_handle_t *)&s->wake)) {
    uv_close((uv_handle_t *)&s->wake, on_closed);
    uv_close((uv_handle_t *)&s->sigint, on_closed);
    uv_close((uv_handle_t *)&s->sigterm, on_closed);
    uv_run(s->loop, UV_RUN_NOWAIT);
  }
  free(s->pending);
  s->pending = NULL;
  free(s->table);
  s->table = NULL;
}

void scheduler_stats_merge(struct scheduler_stats *into,
                           const struct scheduler_stats *from)
{
  into->admitted += from->admitted;
  into->done += from->done;
  into->ok += from->ok;
  into->failed += from->failed;
  into->retries += from->retries;
  into->redirects += from->redirects;
  for (int i = 0; i < 6; i++)
    into->status_class[i] += from->status_class[i];
  for (int i = 0; i < from->nerrors; i++)
    count_errors(into, from->errors[i].code, from->errors[i].n);
  into->bytes += from->bytes;
  into->breaker_trips += from->breaker_trips;
  into->admit_waits += from->admit_waits;
  into->robots_fetched += from->robots_fetched;
  if (from->start_ns && (!into->start_ns || from->start_ns < into->start_ns))
    into->start_ns = from->start_ns;
  histogram_merge(&into->latency_us, &from->latency_us);
  histogram_merge(&into->ttfb_us, &from->ttfb_us);
}
