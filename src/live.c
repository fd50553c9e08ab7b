#include "live.h"

#include "frontier.h"
#include "httpd.h"
#include "input.h"
#include "sink.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/time.h>
#include <unistd.h>

#ifndef SPATE_WEB_DIR
#define SPATE_WEB_DIR "web"
#endif
#define CHARTJS_PATH "/usr/share/javascript/chart.js/chart.min.js"
#define TICK_MS 100
#define WINDOW 10 /* ticks in the rate and latency window: one second */
#define MAX_HOSTS 20
#define FILE_MAX (8 << 20)

/* What one job loop last reported (under live->lock). */
struct live_slot {
  struct live *live;
  int have;
  struct scheduler_stats st;
  int inflight;
  struct scheduler_host_info hosts[MAX_HOSTS];
  int nhosts;
};

/* A host as the dashboard remembers it: the scheduler forgets idle hosts
 * (and counts from zero when one comes back), the dashboard's table shows
 * totals since the job started. */
#define HOST_ROWS 256
#define LIVE_TOKEN_MIN 16 /* SPATE_TOKEN: shorter is too easily guessed */
#define FRESH_MAX 256     /* "items" messages waiting for the next tick */
struct host_row {
  char host[96];
  uint64_t base_done, base_failed; /* from earlier lives of the host */
  uint64_t last_done, last_failed; /* as last reported */
  int inflight, queued, breaker;
  uint64_t seen; /* the tick it was last reported in */
};

/* One tick's totals, kept for the one-second window. */
struct sample {
  double t;
  uint64_t done, failed, bytes;
  struct histogram lat;
};

struct live {
  struct live_options o;
  char host[64];
  int port;
  char token[HTTPD_TOKEN_MAX + 1];
  char job_name[256]; /* a copy: the caller's may not outlive start */
  char web_dir[1024];
  uv_loop_t loop;
  uv_thread_t thread;
  int have_thread;
  uv_async_t async; /* stop */
  uv_timer_t timer;
  struct httpd *httpd;
  pthread_mutex_t lock;
  struct live_slot *slots;
  const char *state; /* atomic pointer to a literal */
  uint64_t end_ns;   /* atomic: when the job ended (elapsed stops) */
  int stop;          /* atomic */
  int stopped;       /* on the live loop: httpd_stop called */

  /* The live loop's own: */
  uint64_t seq;
  struct sample ring[WINDOW + 1];
  int nring, ring_head;
  char *tick; /* the latest tick's JSON */
  size_t tick_len;
  char *metrics; /* /metrics as of tick metrics_seq */
  size_t metrics_len;
  uint64_t metrics_seq;
  struct scheduler_stats merged; /* the latest totals */
  struct histogram window;       /* latency of the last second */
  uint64_t next_tick_ms;         /* the tick grid, in the loop's clock */
  struct host_row rows[HOST_ROWS];
  int nrows;
  int merged_inflight;
  char *chartjs;
  size_t chartjs_len;
  /* spate serve, under lock: */
  char *sources_json;
  struct live_items {
    char *name, *json;
  } * items;
  int nitems, items_cap;
  char **fresh; /* "items" messages waiting for the live loop */
  int nfresh, fresh_cap;
  /* "items" messages not broadcast (more than FRESH_MAX waiting, or no
   * memory); their items are in the store and /api/sources/NAME/items. */
  atomic_ullong items_unpushed;
};

static double now_s(void)
{
  struct timeval tv;
  gettimeofday(&tv, NULL);
  return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

int live_parse_addr(const char *s, char host[64], int *port)
{
  const char *p = s, *colon = NULL;
  snprintf(host, 64, "127.0.0.1");
  if (*s == '[') {
    const char *close = strchr(s, ']');
    if (!close || close[1] != ':' || close - s - 1 <= 0 || close - s > 63)
      return -1;
    snprintf(host, 64, "%.*s", (int)(close - s - 1), s + 1);
    p = close + 2;
  } else if ((colon = strrchr(s, ':'))) {
    if (colon == s || colon - s > 63)
      return -1;
    snprintf(host, 64, "%.*s", (int)(colon - s), s);
    p = colon + 1;
  }
  char *end;
  errno = 0;
  long v = strtol(p, &end, 10);
  if (end == p || *end || errno || v < 0 || v > 65535)
    return -1;
  *port = (int)v;
  return 0;
}

static int is_loopback(const char *h)
{
  return strncmp(h, "127.", 4) == 0 || strcmp(h, "::1") == 0 ||
         strcmp(h, "localhost") == 0;
}

/* Reads a whole regular file of at most FILE_MAX bytes. */
static char *read_file(const char *path, size_t *len)
{
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return NULL;
  char *data = NULL;
  size_t n = 0, cap = 0;
  for (;;) {
    if (n == cap) {
      cap = cap ? cap * 2 : 65536;
      char *d = cap <= FILE_MAX ? realloc(data, cap) : NULL;
      if (!d) {
        free(data);
        close(fd);
        return NULL;
      }
      data = d;
    }
    ssize_t r = read(fd, data + n, cap - n);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0) {
      free(data);
      close(fd);
      return NULL;
    }
    if (r == 0)
      break;
    n += (size_t)r;
  }
  close(fd);
  *len = n;
  return data;
}

/* ---- the observer: on the job loops' threads ---------------------------- */

void *live_observe_arg(struct live *l, int i)
{
  return &l->slots[i];
}

void live_observe(void *arg, struct scheduler *s)
{
  struct live_slot *slot = arg;
  struct live *l = slot->live;
  pthread_mutex_lock(&l->lock);
  slot->st = s->stats;
  slot->inflight = s->inflight;
  slot->nhosts = scheduler_top_hosts(s, slot->hosts, MAX_HOSTS);
  slot->have = 1;
  pthread_mutex_unlock(&l->lock);
}

void live_set_state(struct live *l, const char *state)
{
  if (!l)
    return;
  if (strcmp(state, "done") == 0 || strcmp(state, "failed") == 0 ||
      strcmp(state, "stopped") == 0)
    __atomic_store_n(&l->end_ns, uv_hrtime(), __ATOMIC_RELEASE);
  __atomic_store_n(&l->state, state, __ATOMIC_RELEASE);
}

int live_port(const struct live *l)
{
  return l->port;
}

void live_publish_sources(struct live *l, const char *json)
{
  char *copy = strdup(json);
  if (!copy)
    return;
  pthread_mutex_lock(&l->lock);
  free(l->sources_json);
  l->sources_json = copy;
  pthread_mutex_unlock(&l->lock);
}

static struct live_items *items_of(struct live *l, const char *name, int add)
{
  for (int i = 0; i < l->nitems; i++)
    if (strcmp(l->items[i].name, name) == 0)
      return &l->items[i];
  if (!add)
    return NULL;
  if (l->nitems == l->items_cap) {
    int cap = l->items_cap ? l->items_cap * 2 : 16;
    struct live_items *v = realloc(l->items, (size_t)cap * sizeof(*v));
    if (!v)
      return NULL;
    l->items = v;
    l->items_cap = cap;
  }
  struct live_items *it = &l->items[l->nitems];
  if (!(it->name = strdup(name)))
    return NULL;
  it->json = NULL;
  l->nitems++;
  return it;
}

void live_publish_items(struct live *l, const char *name, const char *recent,
                        const char *fresh)
{
  char *copy = strdup(recent);
  char *msg = NULL;
  int handed = 0;
  if (fresh) {
    json_t *j = json_pack("{s:s, s:s, s:o}", "type", "items", "source", name,
                          "items", json_loads(fresh, 0, NULL));
    msg = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
  }
  pthread_mutex_lock(&l->lock);
  struct live_items *it = copy ? items_of(l, name, 1) : NULL;
  if (it) {
    free(it->json);
    it->json = copy;
    copy = NULL;
  }
  /* At most FRESH_MAX waiting: the live loop sends them within 100 ms. */
  if (msg && l->nfresh < FRESH_MAX) {
    if (l->nfresh == l->fresh_cap) {
      int cap = l->fresh_cap ? l->fresh_cap * 2 : 16;
      char **v = realloc(l->fresh, (size_t)cap * sizeof(*v));
      if (v) {
        l->fresh = v;
        l->fresh_cap = cap;
      }
    }
    if (l->nfresh < l->fresh_cap) {
      l->fresh[l->nfresh++] = msg;
      msg = NULL;
      handed = 1;
    }
  }
  pthread_mutex_unlock(&l->lock);
  if (fresh && !handed) /* not made, or too many waiting */
    atomic_fetch_add(&l->items_unpushed, 1);
  free(copy);
  free(msg);
}

void live_forget_source(struct live *l, const char *name)
{
  pthread_mutex_lock(&l->lock);
  struct live_items *it = items_of(l, name, 0);
  if (it) {
    free(it->name);
    free(it->json);
    *it = l->items[--l->nitems];
  }
  pthread_mutex_unlock(&l->lock);
}

void live_publish_stats(struct live *l, const struct scheduler_stats *st,
                        int inflight)
{
  pthread_mutex_lock(&l->lock);
  l->slots[0].st = *st;
  l->slots[0].inflight = inflight;
  l->slots[0].nhosts = 0;
  l->slots[0].have = 1;
  pthread_mutex_unlock(&l->lock);
}

/* ---- the tick: on the live loop ---------------------------------------- */

/* Busiest first: in flight, then queued, then done. */
static int host_cmp(const void *a, const void *b)
{
  const struct scheduler_host_info *x = a, *y = b;
  if (x->inflight != y->inflight)
    return x->inflight < y->inflight ? 1 : -1;
  if (x->queued != y->queued)
    return x->queued < y->queued ? 1 : -1;
  return x->done < y->done ? 1 : x->done > y->done ? -1 : 0;
}

static const char *breaker_name(int st)
{
  return st == 0 ? "closed" : st == 1 ? "open" : "half-open";
}

static int64_t queued_now(struct live *l, const struct scheduler_stats *st,
                          int inflight)
{
  if (l->o.fr) {
    struct frontier_stats fs;
    frontier_get_stats(l->o.fr, &fs);
    return fs.queued;
  }
  if (l->o.in) {
    int known;
    int64_t total = (int64_t)input_total(l->o.in, &known);
    int64_t q = total - (int64_t)st->done - inflight;
    return q > 0 ? q : 0;
  }
  return 0;
}

static json_t *tick_json(struct live *l)
{
  struct scheduler_host_info *hosts = NULL;
  int nhosts = 0;
  struct scheduler_stats *m = &l->merged;
  memset(m, 0, sizeof(*m));
  histogram_init(&m->latency_us);
  histogram_init(&m->ttfb_us);
  int inflight = 0, have = 0;
  size_t cap = (size_t)l->o.nloops * MAX_HOSTS;
  hosts = calloc(cap ? cap : 1, sizeof(*hosts));
  pthread_mutex_lock(&l->lock);
  for (int i = 0; i < l->o.nloops; i++) {
    struct live_slot *sl = &l->slots[i];
    if (!sl->have)
      continue;
    if (!have++)
      *m = sl->st;
    else
      scheduler_stats_merge(m, &sl->st);
    inflight += sl->inflight;
    /* With several loops a host has an entry on each: one row. */
    for (int k = 0; hosts && k < sl->nhosts; k++) {
      const struct scheduler_host_info *hi = &sl->hosts[k];
      int at = 0;
      while (at < nhosts && strcmp(hosts[at].host, hi->host) != 0)
        at++;
      if (at == nhosts) {
        hosts[nhosts++] = *hi;
        continue;
      }
      hosts[at].inflight += hi->inflight;
      hosts[at].queued += hi->queued;
      hosts[at].done += hi->done;
      hosts[at].failed += hi->failed;
      if (hi->breaker > hosts[at].breaker)
        hosts[at].breaker = hi->breaker;
    }
  }
  pthread_mutex_unlock(&l->lock);
  l->merged_inflight = inflight;
  /* Fold this tick's hosts into the remembered rows. */
  uint64_t seq = l->seq + 1;
  for (int i = 0; i < nhosts; i++) {
    struct host_row *row = NULL, *oldest = NULL;
    for (int k = 0; k < l->nrows && !row; k++) {
      if (strcmp(l->rows[k].host, hosts[i].host) == 0)
        row = &l->rows[k];
      else if (!oldest || l->rows[k].seen < oldest->seen)
        oldest = &l->rows[k];
    }
    if (!row) {
      row = l->nrows < HOST_ROWS ? &l->rows[l->nrows++] : oldest;
      memset(row, 0, sizeof(*row));
      snprintf(row->host, sizeof(row->host), "%s", hosts[i].host);
    }
    if (hosts[i].done < row->last_done ||
        hosts[i].failed < row->last_failed) { /* forgotten and back */
      row->base_done += row->last_done;
      row->base_failed += row->last_failed;
    }
    row->last_done = hosts[i].done;
    row->last_failed = hosts[i].failed;
    row->inflight = hosts[i].inflight;
    row->queued = hosts[i].queued;
    row->breaker = hosts[i].breaker;
    row->seen = seq;
  }
  free(hosts);
  hosts = calloc((size_t)(l->nrows ? l->nrows : 1), sizeof(*hosts));
  nhosts = 0;
  for (int k = 0; hosts && k < l->nrows; k++) {
    const struct host_row *row = &l->rows[k];
    struct scheduler_host_info *h = &hosts[nhosts++];
    snprintf(h->host, sizeof(h->host), "%s", row->host);
    int now = row->seen == seq;
    h->inflight = now ? row->inflight : 0;
    h->queued = now ? row->queued : 0;
    h->breaker = now ? row->breaker : 0;
    h->done = row->base_done + row->last_done;
    h->failed = row->base_failed + row->last_failed;
  }
  if (hosts)
    qsort(hosts, (size_t)nhosts, sizeof(*hosts), host_cmp);
  if (nhosts > MAX_HOSTS)
    nhosts = MAX_HOSTS;

  /* The one-second window. */
  double t = now_s();
  struct sample *cur = &l->ring[l->ring_head];
  cur->t = t;
  cur->done = m->done;
  cur->failed = m->failed;
  cur->bytes = m->bytes;
  cur->lat = m->latency_us;
  int oldest_i = l->nring < WINDOW + 1 ? 0 : (l->ring_head + 1) % (WINDOW + 1);
  struct sample *old = &l->ring[oldest_i];
  l->ring_head = (l->ring_head + 1) % (WINDOW + 1);
  if (l->nring < WINDOW + 1)
    l->nring++;
  double dt = cur->t - old->t;
  struct histogram *win = &l->window;
  histogram_sub(win, &cur->lat, &old->lat);
  double rate = dt > 0 ? (double)(cur->done - old->done) / dt : 0;
  double erate = dt > 0 ? (double)(cur->failed - old->failed) / dt : 0;
  double brate = dt > 0 ? (double)(cur->bytes - old->bytes) / dt : 0;

  const char *state = __atomic_load_n(&l->state, __ATOMIC_ACQUIRE);
  uint64_t end = __atomic_load_n(&l->end_ns, __ATOMIC_ACQUIRE);
  double elapsed =
      m->start_ns ? (double)((end ? end : uv_hrtime()) - m->start_ns) / 1e9
                  : 0;
  json_t *errors = json_object();
  for (int i = 0; i < m->nerrors; i++)
    json_object_set_new(errors, m->errors[i].code,
                        json_integer((json_int_t)m->errors[i].n));
  json_t *hl = json_array();
  for (int i = 0; i < nhosts; i++)
    json_array_append_new(
        hl, json_pack("{s:s, s:i, s:i, s:I, s:I, s:s}", "host", hosts[i].host,
                      "inflight", hosts[i].inflight, "queued", hosts[i].queued,
                      "done", (json_int_t)hosts[i].done, "failed",
                      (json_int_t)hosts[i].failed, "breaker",
                      breaker_name(hosts[i].breaker)));
  free(hosts);
  struct httpd_stats hs = {0};
  if (l->httpd)
    httpd_get_stats(l->httpd, &hs);
  const char *src_state = strcmp(state, "running") == 0    ? "running"
                          : strcmp(state, "stopping") == 0 ? "stopped"
                          : strcmp(state, "failed") == 0   ? "down"
                          : strcmp(state, "done") == 0     ? "done"
                                                           : "stopped";
  json_t *sources = NULL;
  if (l->o.action) {
    pthread_mutex_lock(&l->lock);
    sources = l->sources_json ? json_loads(l->sources_json, 0, NULL) : NULL;
    pthread_mutex_unlock(&l->lock);
    if (!sources)
      sources = json_array();
  } else {
    sources =
        json_pack("[{s:s, s:s, s:s, s:n, s:{}}]", "name", "job", "kind",
                  l->o.job_kind, "state", src_state, "last_error", "values");
  }
  json_t *j = json_pack(
      "{s:s, s:I, s:f, s:{s:s, s:s, s:s, s:f}, "
      "s:{s:I, s:I, s:I, s:I, s:i, s:I, s:I, s:I, s:I, s:I}, "
      "s:{s:f, s:f, s:f}, s:{s:f, s:f, s:f, s:f}, "
      "s:{s:I, s:I, s:I, s:I, s:I, s:I}, s:o, s:o, "
      "s:o, s:{s:i, s:i, s:I, s:I}}",
      "type", "tick", "seq", (json_int_t)++l->seq, "time", t, "job", "kind",
      l->o.job_kind, "name", l->o.job_name, "state", state, "elapsed_s",
      elapsed, "totals", "admitted", (json_int_t)m->admitted, "done",
      (json_int_t)m->done, "ok", (json_int_t)m->ok, "failed",
      (json_int_t)m->failed, "inflight", inflight, "queued",
      (json_int_t)queued_now(l, m, inflight), "bytes", (json_int_t)m->bytes,
      "retries", (json_int_t)m->retries, "redirects", (json_int_t)m->redirects,
      "robots_fetched", (json_int_t)m->robots_fetched, "rate", "pages_s", rate,
      "errors_s", erate, "bytes_s", brate, "latency_ms", "p50",
      (double)histogram_quantile(win, 0.50) / 1000, "p95",
      (double)histogram_quantile(win, 0.95) / 1000, "p99",
      (double)histogram_quantile(win, 0.99) / 1000, "max",
      (double)win->max / 1000, "status", "none",
      (json_int_t)m->status_class[0], "1xx", (json_int_t)m->status_class[1],
      "2xx", (json_int_t)m->status_class[2], "3xx",
      (json_int_t)m->status_class[3], "4xx", (json_int_t)m->status_class[4],
      "5xx", (json_int_t)m->status_class[5], "errors", errors, "hosts", hl,
      "sources", sources, "server", "ws_clients", hs.ws_clients, "sse_clients",
      hs.sse_clients, "dropped_slow", (json_int_t)hs.dropped_slow,
      "items_unpushed", (json_int_t)atomic_load(&l->items_unpushed));
  return j;
}

static void tick(uv_timer_t *t)
{
  struct live *l = t->data;
  /* Ticks on a fixed 100 ms grid: a repeating timer would count each
   * period from before this callback, so building and sending a tick to
   * many subscribers would stretch every period. A tick that overran its
   * slot is not made up for. */
  if (!l->stopped) {
    uint64_t now = uv_now(&l->loop);
    l->next_tick_ms += TICK_MS;
    if (l->next_tick_ms <= now)
      l->next_tick_ms = now + 1;
    uv_timer_start(&l->timer, tick, l->next_tick_ms - now, 0);
  }
  json_t *j = tick_json(l);
  char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
  json_decref(j);
  if (!s)
    return;
  free(l->tick);
  l->tick = s;
  l->tick_len = strlen(s);
  if (l->httpd)
    httpd_broadcast(l->httpd, l->tick, l->tick_len);
  /* spate serve: new items since the last tick. */
  pthread_mutex_lock(&l->lock);
  char **fresh = l->fresh;
  int nfresh = l->nfresh;
  l->fresh = NULL;
  l->nfresh = l->fresh_cap = 0;
  pthread_mutex_unlock(&l->lock);
  for (int i = 0; i < nfresh; i++) {
    if (l->httpd)
      httpd_broadcast(l->httpd, fresh[i], strlen(fresh[i]));
    free(fresh[i]);
  }
  free(fresh);
}

/* ---- metrics ------------------------------------------------------------ */

static char *metrics_text(struct live *l, size_t *len)
{
  const struct scheduler_stats *m = &l->merged;
  struct httpd_stats hs = {0};
  httpd_get_stats(l->httpd, &hs);
  char *out = NULL;
  size_t n = 0;
  FILE *f = open_memstream(&out, &n);
  if (!f)
    return NULL;
  fputs("# HELP spate_up Whether the job's service is up.\n"
        "# TYPE spate_up gauge\nspate_up 1\n",
        f);
  fputs("# HELP spate_requests_total URLs finished, by outcome.\n"
        "# TYPE spate_requests_total counter\n",
        f);
  fprintf(f, "spate_requests_total{outcome=\"ok\"} %llu\n",
          (unsigned long long)m->ok);
  fprintf(f, "spate_requests_total{outcome=\"failed\"} %llu\n",
          (unsigned long long)m->failed);
  fputs("# HELP spate_errors_total URLs finished with an error, by code.\n"
        "# TYPE spate_errors_total counter\n",
        f);
  for (int i = 0; i < m->nerrors; i++)
    fprintf(f, "spate_errors_total{code=\"%s\"} %llu\n", m->errors[i].code,
            (unsigned long long)m->errors[i].n);
  fputs("# HELP spate_responses_total Final responses by status class.\n"
        "# TYPE spate_responses_total counter\n",
        f);
  static const char *cls[] = {"none", "1xx", "2xx", "3xx", "4xx", "5xx"};
  for (int i = 0; i < 6; i++)
    fprintf(f, "spate_responses_total{class=\"%s\"} %llu\n", cls[i],
            (unsigned long long)m->status_class[i]);
  fprintf(f,
          "# HELP spate_inflight Requests in flight.\n"
          "# TYPE spate_inflight gauge\nspate_inflight %d\n"
          "# HELP spate_queued URLs waiting.\n"
          "# TYPE spate_queued gauge\nspate_queued %lld\n"
          "# HELP spate_bytes_total Body bytes received, decoded.\n"
          "# TYPE spate_bytes_total counter\nspate_bytes_total %llu\n"
          "# HELP spate_retries_total Retries of transient failures.\n"
          "# TYPE spate_retries_total counter\nspate_retries_total %llu\n",
          l->merged_inflight, (long long)queued_now(l, m, l->merged_inflight),
          (unsigned long long)m->bytes, (unsigned long long)m->retries);
  fputs("# HELP spate_request_duration_seconds Time from a URL's first "
        "attempt to its result.\n"
        "# TYPE spate_request_duration_seconds histogram\n",
        f);
  static const double le[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                              0.5,   1,    2.5,   5,    10};
  for (size_t i = 0; i < sizeof(le) / sizeof(le[0]); i++)
    fprintf(f, "spate_request_duration_seconds_bucket{le=\"%g\"} %llu\n",
            le[i],
            (unsigned long long)histogram_count_le(
                &m->latency_us, (uint64_t)(le[i] * 1e6 + 0.5)));
  double sum = histogram_sum(&m->latency_us) / 1e6;
  fprintf(f,
          "spate_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
          "spate_request_duration_seconds_sum %.6f\n"
          "spate_request_duration_seconds_count %llu\n",
          (unsigned long long)m->latency_us.count, sum,
          (unsigned long long)m->latency_us.count);
  fprintf(f,
          "# HELP spate_live_clients Stream subscribers connected.\n"
          "# TYPE spate_live_clients gauge\n"
          "spate_live_clients{kind=\"ws\"} %d\n"
          "spate_live_clients{kind=\"sse\"} %d\n"
          "# HELP spate_live_broadcasts_total Ticks broadcast.\n"
          "# TYPE spate_live_broadcasts_total counter\n"
          "spate_live_broadcasts_total %llu\n"
          "# HELP spate_live_dropped_slow_total Subscribers dropped for "
          "falling behind.\n"
          "# TYPE spate_live_dropped_slow_total counter\n"
          "spate_live_dropped_slow_total %llu\n"
          "# HELP spate_live_items_unpushed_total Items messages not "
          "broadcast (too many waiting); the items are in the store.\n"
          "# TYPE spate_live_items_unpushed_total counter\n"
          "spate_live_items_unpushed_total %llu\n",
          hs.ws_clients, hs.sse_clients, (unsigned long long)hs.broadcasts,
          (unsigned long long)hs.dropped_slow,
          (unsigned long long)atomic_load(&l->items_unpushed));
  if (fclose(f)) {
    free(out);
    return NULL;
  }
  *len = n;
  return out;
}

/* ---- requests ----------------------------------------------------------- */

static void respond_json(struct httpd_req *r, int status, json_t *j)
{
  char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
  json_decref(j);
  if (!s) {
    httpd_respond(r, 500, "text/plain", "out of memory\n", 14);
    return;
  }
  httpd_respond(r, status, "application/json", s, strlen(s));
  free(s);
}

static int ready(struct live *l, json_t *reasons)
{
  int ok = 1;
  char why[SINK_ERRMSG_MAX + 32];
  if (l->o.sink && sink_error(l->o.sink)) {
    json_array_append_new(reasons, json_string(sink_errmsg(l->o.sink)));
    ok = 0;
  } else if (l->o.sink && sink_stalled(l->o.sink, why, SINK_ERRMSG_MAX)) {
    strcat(why, " (retrying)");
    json_array_append_new(reasons, json_string(why));
    ok = 0;
  }
  const char *state = __atomic_load_n(&l->state, __ATOMIC_ACQUIRE);
  if (strcmp(state, "failed") == 0) {
    json_array_append_new(reasons, json_string("the job failed"));
    ok = 0;
  }
  return ok;
}

/* spate serve's /api/sources...: the service's sources and actions. */
static void serve_api(struct live *l, struct httpd_req *r, const char *m,
                      const char *p)
{
  char msg[256] = "";
  int get = strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0;
  if (strcmp(p, "/api/sources") == 0) {
    if (get) {
      pthread_mutex_lock(&l->lock);
      char *s = strdup(l->sources_json ? l->sources_json : "[]");
      pthread_mutex_unlock(&l->lock);
      if (s)
        httpd_respond(r, 200, "application/json", s, strlen(s));
      else
        httpd_respond(r, 500, "text/plain", "out of memory\n", 14);
      free(s);
    } else if (strcmp(m, "POST") == 0) {
      size_t len;
      const char *body = httpd_req_body(r, &len);
      int st = l->o.action(l->o.action_arg, NULL, "add", body, len, msg,
                           sizeof(msg));
      respond_json(r, st,
                   json_pack("{s:s}", st < 300 ? "state" : "error", msg));
    } else {
      respond_json(r, 405, json_pack("{s:s}", "error", "use GET or POST"));
    }
    return;
  }
  if (strncmp(p, "/api/sources/", 13) != 0) {
    respond_json(r, 404, json_pack("{s:s}", "error", "not found"));
    return;
  }
  char name[128];
  const char *n = p + 13, *slash = strchr(n, '/');
  size_t nl = slash ? (size_t)(slash - n) : strlen(n);
  if (nl == 0 || nl >= sizeof(name)) {
    respond_json(r, 404, json_pack("{s:s}", "error", "no such source"));
    return;
  }
  memcpy(name, n, nl);
  name[nl] = '\0';
  const char *act = slash ? slash + 1 : "";
  if (get && strcmp(act, "items") == 0) {
    pthread_mutex_lock(&l->lock);
    struct live_items *it = items_of(l, name, 0);
    char *s = it && it->json ? strdup(it->json) : NULL;
    pthread_mutex_unlock(&l->lock);
    if (s)
      httpd_respond(r, 200, "application/json", s, strlen(s));
    else
      respond_json(r, 404, json_pack("{s:s}", "error", "no items"));
    free(s);
    return;
  }
  const char *action = NULL;
  if (strcmp(m, "POST") == 0 &&
      (strcmp(act, "stop") == 0 || strcmp(act, "start") == 0))
    action = act;
  else if (strcmp(m, "DELETE") == 0 && !*act)
    action = "remove";
  if (!action) {
    respond_json(
        r, strcmp(act, "stop") == 0 || strcmp(act, "start") == 0 ? 405 : 404,
        json_pack("{s:s}", "error", "no such action"));
    return;
  }
  int st =
      l->o.action(l->o.action_arg, name, action, NULL, 0, msg, sizeof(msg));
  respond_json(r, st, json_pack("{s:s}", st < 300 ? "state" : "error", msg));
}

static void handle(void *arg, struct httpd_req *r)
{
  struct live *l = arg;
  const char *m = httpd_req_method(r), *p = httpd_req_path(r);
  int get = strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0;
  int post = strcmp(m, "POST") == 0;
  if (get && (strcmp(p, "/") == 0 || strcmp(p, "/index.html") == 0)) {
    char path[1100];
    size_t len;
    snprintf(path, sizeof(path), "%s/index.html", l->web_dir);
    char *body = read_file(path, &len);
    if (!body) {
      static const char msg[] = "the dashboard's files are missing "
                                "(set SPATE_WEB_DIR to spate's web/)\n";
      httpd_respond(r, 500, "text/plain", msg, sizeof(msg) - 1);
      return;
    }
    httpd_respond(r, 200, "text/html; charset=utf-8", body, len);
    free(body);
  } else if (get && strcmp(p, "/vendor/chart.min.js") == 0) {
    if (!l->chartjs)
      httpd_respond(r, 404, "text/plain", "Chart.js is not installed\n", 26);
    else
      httpd_respond(r, 200, "text/javascript", l->chartjs, l->chartjs_len);
  } else if (get && strcmp(p, "/health") == 0) {
    json_t *reasons = json_array();
    int ok = ready(l, reasons);
    respond_json(r, ok ? 200 : 503,
                 json_pack("{s:b, s:b, s:o}", "live", 1, "ready", ok,
                           "reasons", reasons));
  } else if (get && strcmp(p, "/metrics") == 0) {
    /* A small TTL cache: many scrapers cost one rendering per tick. */
    if (!l->metrics || l->metrics_seq != l->seq) {
      size_t len;
      char *body = metrics_text(l, &len);
      if (body) {
        free(l->metrics);
        l->metrics = body;
        l->metrics_len = len;
        l->metrics_seq = l->seq;
      }
    }
    if (l->metrics)
      httpd_respond(r, 200, "text/plain; version=0.0.4; charset=utf-8",
                    l->metrics, l->metrics_len);
    else
      httpd_respond(r, 500, "text/plain", "out of memory\n", 14);
  } else if (get && strcmp(p, "/api/stats") == 0) {
    if (l->tick)
      httpd_respond(r, 200, "application/json", l->tick, l->tick_len);
    else
      httpd_respond(r, 503, "application/json", "{\"error\":\"starting\"}",
                    20);
  } else if (l->o.action && strncmp(p, "/api/sources", 12) == 0) {
    serve_api(l, r, m, p);
  } else if (get && strcmp(p, "/api/sources") == 0) {
    const char *state = __atomic_load_n(&l->state, __ATOMIC_ACQUIRE);
    respond_json(r, 200,
                 json_pack("[{s:s, s:s, s:s}]", "name", "job", "kind",
                           l->o.job_kind, "state", state));
  } else if (strncmp(p, "/api/sources/", 13) == 0) {
    const char *name = p + 13, *slash = strchr(name, '/');
    if (!slash || (size_t)(slash - name) != 3 || strncmp(name, "job", 3)) {
      respond_json(r, 404, json_pack("{s:s}", "error", "no such source"));
    } else if (!post) {
      respond_json(r, 405, json_pack("{s:s}", "error", "use POST"));
    } else if (strcmp(slash, "/stop") == 0) {
      const char *state = __atomic_load_n(&l->state, __ATOMIC_ACQUIRE);
      if (strcmp(state, "running") == 0 && l->o.stop) {
        live_set_state(l, "stopping");
        l->o.stop(l->o.stop_arg);
      }
      respond_json(r, 202,
                   json_pack("{s:s}", "state",
                             __atomic_load_n(&l->state, __ATOMIC_ACQUIRE)));
    } else if (strcmp(slash, "/start") == 0) {
      respond_json(r, 409,
                   json_pack("{s:s}", "error",
                             "a fetch or crawl job cannot be restarted "
                             "from here: run it again (a crawl resumes)"));
    } else {
      respond_json(r, 404, json_pack("{s:s}", "error", "no such action"));
    }
  } else if (get && strcmp(p, "/events") == 0) {
    httpd_upgrade_sse(r); /* the next tick comes within 100 ms */
  } else if (get && strcmp(p, "/ws") == 0) {
    httpd_upgrade_ws(r);
  } else {
    respond_json(r, 404, json_pack("{s:s}", "error", "not found"));
  }
}

/* ---- the thread --------------------------------------------------------- */

static void closed_cb(uv_handle_t *h)
{
  (void)h;
}

static void httpd_done(void *arg)
{
  struct live *l = arg;
  l->httpd = NULL;
  uv_close((uv_handle_t *)&l->async, closed_cb);
}

static void on_async(uv_async_t *a)
{
  struct live *l = a->data;
  if (!__atomic_load_n(&l->stop, __ATOMIC_ACQUIRE) || l->stopped)
    return;
  l->stopped = 1;
  uv_timer_stop(&l->timer);
  tick(&l->timer); /* the final counts */
  uv_close((uv_handle_t *)&l->timer, closed_cb);
  httpd_stop(l->httpd, httpd_done, l);
}

static void thread_main(void *arg)
{
  struct live *l = arg;
  pthread_setname_np(pthread_self(), "spate-live");
  uv_run(&l->loop, UV_RUN_DEFAULT);
}

static void live_free(struct live *l)
{
  free(l->sources_json);
  for (int i = 0; i < l->nitems; i++) {
    free(l->items[i].name);
    free(l->items[i].json);
  }
  free(l->items);
  for (int i = 0; i < l->nfresh; i++)
    free(l->fresh[i]);
  free(l->fresh);
  free(l->slots);
  free(l->tick);
  free(l->metrics);
  free(l->chartjs);
  pthread_mutex_destroy(&l->lock);
  free(l);
}

int live_start(struct live **out, const struct live_options *o, int quiet,
               char err[256])
{
  struct live *l = calloc(1, sizeof(*l));
  *out = NULL;
  if (!l) {
    snprintf(err, 256, "out of memory");
    return -ENOMEM;
  }
  l->o = *o;
  snprintf(l->job_name, sizeof(l->job_name), "%s",
           o->job_name ? o->job_name : "");
  l->o.job_name = l->job_name;
  l->o.addr = NULL; /* parsed below, not kept */
  pthread_mutex_init(&l->lock, NULL);
  l->state = "starting";
  l->slots =
      calloc((size_t)(o->nloops > 0 ? o->nloops : 1), sizeof(*l->slots));
  if (!l->slots) {
    live_free(l);
    snprintf(err, 256, "out of memory");
    return -ENOMEM;
  }
  for (int i = 0; i < o->nloops; i++)
    l->slots[i].live = l;
  if (live_parse_addr(o->addr, l->host, &l->port)) {
    live_free(l);
    snprintf(err, 256, "'%s': want [ADDR:]PORT", o->addr);
    return -EINVAL;
  }
  const char *wd = o->web_dir ? o->web_dir : getenv("SPATE_WEB_DIR");
  snprintf(l->web_dir, sizeof(l->web_dir), "%s", wd ? wd : SPATE_WEB_DIR);
  l->chartjs = read_file(CHARTJS_PATH, &l->chartjs_len);
  if (!is_loopback(l->host)) {
    /* Anything but loopback needs the token: from the environment, or a
     * fresh random one. */
    const char *env = getenv("SPATE_TOKEN");
    if (env && *env) {
      /* Taken whole or refused: a token cut short would be a weaker one
       * than the user chose, and theirs would not work. */
      size_t n = strlen(env);
      if (n < LIVE_TOKEN_MIN || n > HTTPD_TOKEN_MAX) {
        live_free(l);
        snprintf(err, 256, "SPATE_TOKEN: want %d to %d characters, not %zu",
                 LIVE_TOKEN_MIN, HTTPD_TOKEN_MAX, n);
        return -EINVAL;
      }
      memcpy(l->token, env, n + 1);
    } else {
      unsigned char raw[16];
      if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw)) {
        live_free(l);
        snprintf(err, 256, "cannot make an access token");
        return -EIO;
      }
      for (int i = 0; i < 16; i++)
        snprintf(l->token + 2 * i, 3, "%02x", raw[i]);
    }
  }
  int rc = uv_loop_init(&l->loop);
  if (rc) {
    live_free(l);
    snprintf(err, 256, "cannot start a loop: %s", uv_strerror(rc));
    return -ENOMEM;
  }
  struct httpd_options ho = {
      .host = l->host,
      .port = l->port,
      .token = l->token[0] ? l->token : NULL,
      .reserve_fds = o->reserve_fds,
      .static_dir = l->web_dir,
      .handle = handle,
      .arg = l,
  };
  rc = httpd_start(&l->httpd, &l->loop, &ho, err);
  if (rc) {
    uv_loop_close(&l->loop);
    live_free(l);
    return rc;
  }
  l->port = httpd_port(l->httpd);
  uv_async_init(&l->loop, &l->async, on_async);
  l->async.data = l;
  uv_timer_init(&l->loop, &l->timer);
  l->timer.data = l;
  l->next_tick_ms = uv_now(&l->loop) + TICK_MS;
  uv_timer_start(&l->timer, tick, TICK_MS, 0);
  if (uv_thread_create(&l->thread, thread_main, l)) {
    __atomic_store_n(&l->stop, 1, __ATOMIC_RELEASE);
    on_async(&l->async);
    uv_run(&l->loop, UV_RUN_DEFAULT);
    uv_loop_close(&l->loop);
    live_free(l);
    snprintf(err, 256, "cannot start the dashboard's thread");
    return -ENOMEM;
  }
  l->have_thread = 1;
  if (!quiet) {
    int v6 = strchr(l->host, ':') != NULL;
    if (l->token[0])
      fprintf(stderr,
              "spate: dashboard on http://%s%s%s:%d/ — open "
              "http://%s%s%s:%d/login?token=%s to sign in\n",
              v6 ? "[" : "", l->host, v6 ? "]" : "", l->port, v6 ? "[" : "",
              l->host, v6 ? "]" : "", l->port, l->token);
    else
      fprintf(stderr, "spate: dashboard on http://%s%s%s:%d/\n", v6 ? "[" : "",
              l->host, v6 ? "]" : "", l->port);
  }
  *out = l;
  return 0;
}

void live_stop(struct live *l)
{
  if (!l)
    return;
  __atomic_store_n(&l->stop, 1, __ATOMIC_RELEASE);
  uv_async_send(&l->async);
  if (l->have_thread)
    uv_thread_join(&l->thread);
  uv_run(&l->loop, UV_RUN_NOWAIT);
  uv_loop_close(&l->loop);
  live_free(l);
}
