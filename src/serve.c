#include "serve.h"

#include "cli.h"
#include "config.h"
#include "extract.h"
#include "feed.h"
#include "fetcher.h"
#include "histogram.h"
#include "live.h"
#include "result.h"
#include "retry.h"
#include "scheduler.h"
#include "sink.h"
#include "sink_impl.h"
#include "url.h"
#include "wsclient.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>
#include <uv.h>

#define RECENT 50    /* items kept per source for /api/.../items */
#define FRESH_MAX 20 /* items per "items" message */
#define SEEN 4096    /* feed item ids remembered per source (dedup) */
#define BACKOFF_BASE_MS 500
#define MAX_HOPS 5 /* redirects followed per poll */
#define container_of(p, type, member)                                         \
  ((type *)(void *)((char *)(p)-offsetof(type, member)))

struct serve;

struct source {
  struct transfer t; /* first: the fetcher hands it back */
  struct serve *sv;
  struct config_source c; /* own copy */
  struct source *next;
  int running;   /* wanted: started, not stopped by the API */
  int removed;   /* to be freed once nothing is in flight */
  int in_flight; /* a request */
  int transforming;
  const char *status; /* "running", "stopped", "down" */
  char last_error[256];
  int failures_in_row;
  int hops;               /* redirects followed in this poll */
  uint64_t poll_start_ms; /* loop time the poll began */
  uv_timer_t timer;
  int timer_open;
  char *etag, *last_modified;
  struct curl_slist *hdrs;
  char *values; /* JSON object of the last values, or NULL */
  uint64_t polls, items, failures, not_modified;
  uint64_t unstored; /* items the store's queue had no room for */
  double last_ok, last_poll;
  char *recent[RECENT]; /* item JSON, oldest first once full */
  int nrecent, recent_head;
  char *seen[SEEN]; /* feed item ids, a ring */
  int nseen, seen_head;
  /* transform, in the pool */
  uv_work_t work;
  char *body;
  size_t body_len;
  char *new_values; /* json */
  struct feed feed;
  int feed_ok;
  char feed_err[256];
  struct wsclient *wsc; /* a websocket source's connection */
};

struct cmd {
  char action[16];
  char name[128];
  struct config_source *src; /* "add" */
  struct cmd *next;
};

struct serve {
  uv_loop_t loop;
  const char *path;
  struct config cfg;
  struct fetcher fetcher;
  int fetcher_open;
  struct sink *sink;
  struct live *live;
  struct source *sources;
  uv_signal_t sigint, sigterm, sighup;
  uv_async_t cmd_async;
  pthread_mutex_t cmd_lock;
  struct cmd *cmds;
  char **names; /* the sources' names, for the live thread (cmd_lock) */
  int nnames;
  struct scheduler_stats st;
  int stopping; /* atomic: the API reads it */
  int signum;
  int dirty;
  uv_timer_t publish_timer;
  uint64_t rng;
};

static double now_s(void)
{
  struct timeval tv;
  gettimeofday(&tv, NULL);
  return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static int64_t now_us(void)
{
  struct timeval tv;
  gettimeofday(&tv, NULL);
  return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

/* ---- config copies ------------------------------------------------------ */

static void src_config_free(struct config_source *c)
{
  free(c->name);
  free(c->url);
  for (int i = 0; i < c->nfields; i++) {
    free(c->fields[i].name);
    free(c->fields[i].pointer);
  }
  free(c->fields);
  for (int i = 0; i < c->nheaders; i++)
    free(c->headers[i]);
  free(c->headers);
  memset(c, 0, sizeof(*c));
}

static int src_config_copy(struct config_source *d,
                           const struct config_source *s)
{
  *d = *s;
  d->name = strdup(s->name);
  d->url = strdup(s->url);
  d->fields =
      s->nfields ? calloc((size_t)s->nfields, sizeof(*d->fields)) : NULL;
  d->headers =
      s->nheaders ? calloc((size_t)s->nheaders, sizeof(*d->headers)) : NULL;
  int ok = d->name && d->url && (!s->nfields || d->fields) &&
           (!s->nheaders || d->headers);
  for (int i = 0; ok && i < s->nfields; i++) {
    d->fields[i].name = strdup(s->fields[i].name);
    d->fields[i].pointer = strdup(s->fields[i].pointer);
    ok = d->fields[i].name && d->fields[i].pointer;
  }
  for (int i = 0; ok && i < s->nheaders; i++)
    ok = (d->headers[i] = strdup(s->headers[i])) != NULL;
  if (!ok) {
    d->nfields = d->fields ? s->nfields : 0;
    d->nheaders = d->headers ? s->nheaders : 0;
    src_config_free(d);
    return -ENOMEM;
  }
  return 0;
}

static const char *kind_name(enum source_kind k)
{
  return k == SOURCE_JSON ? "json" : k == SOURCE_FEED ? "feed" : "websocket";
}

/* ---- publishing to the live service ------------------------------------- */

static void publish_names(struct serve *sv)
{
  int n = 0;
  for (struct source *s = sv->sources; s; s = s->next)
    n += !s->removed;
  char **v = calloc((size_t)(n ? n : 1), sizeof(*v));
  int k = 0;
  for (struct source *s = sv->sources; v && s; s = s->next)
    if (!s->removed)
      v[k++] = strdup(s->c.name);
  pthread_mutex_lock(&sv->cmd_lock);
  for (int i = 0; i < sv->nnames; i++)
    free(sv->names[i]);
  free(sv->names);
  sv->names = v;
  sv->nnames = v ? k : 0;
  pthread_mutex_unlock(&sv->cmd_lock);
}

/* Values longer than this are shown as {"truncated": bytes}: the sources
 * go into every tick. */
#define VALUES_SHOWN_MAX 2048

static void publish_now(struct serve *sv)
{
  sv->dirty = 0;
  if (!sv->live)
    return;
  json_t *arr = json_array();
  int inflight = 0;
  for (struct source *s = sv->sources; s; s = s->next) {
    if (s->removed)
      continue;
    inflight += s->in_flight;
    json_t *values =
        !s->values ? NULL
        : strlen(s->values) > VALUES_SHOWN_MAX
            ? json_pack("{s:I}", "truncated", (json_int_t)strlen(s->values))
            : json_loads(s->values, 0, NULL);
    json_array_append_new(
        arr,
        json_pack("{s:s, s:s, s:s, s:s, s:s?, s:o, s:I, s:I, s:I, s:I, "
                  "s:I, s:f, s:f, s:I}",
                  "name", s->c.name, "kind", kind_name(s->c.kind), "url",
                  s->c.url, "state", s->status, "last_error",
                  s->last_error[0] ? s->last_error : NULL, "values",
                  values ? values : json_object(), "items",
                  (json_int_t)s->items, "polls", (json_int_t)s->polls,
                  "failures", (json_int_t)s->failures, "not_modified",
                  (json_int_t)s->not_modified, "unstored",
                  (json_int_t)s->unstored, "last_ok", s->last_ok, "last_poll",
                  s->last_poll, "interval_ms", (json_int_t)s->c.interval_ms));
  }
  char *js = json_dumps(arr, JSON_COMPACT);
  json_decref(arr);
  if (js)
    live_publish_sources(sv->live, js);
  free(js);
  live_publish_stats(sv->live, &sv->st, inflight);
}

/* Sources change often (every message of a stream): the live service
 * gets them at most every PUBLISH_MS. */
#define PUBLISH_MS 100

static void publish(struct serve *sv)
{
  sv->dirty = 1;
}

static void publish_tick(uv_timer_t *t)
{
  struct serve *sv = t->data;
  if (sv->dirty)
    publish_now(sv);
}

/* ---- items ----------------------------------------------------------------
 */

static void recent_push(struct source *s, char *json)
{
  if (s->nrecent < RECENT) {
    s->recent[s->nrecent++] = json;
  } else {
    free(s->recent[s->recent_head]);
    s->recent[s->recent_head] = json;
    s->recent_head = (s->recent_head + 1) % RECENT;
  }
}

static char *recent_json(const struct source *s)
{
  json_t *a = json_array();
  for (int i = 0; i < s->nrecent; i++) {
    int k = s->nrecent < RECENT ? i : (s->recent_head + i) % RECENT;
    json_array_append_new(a, json_loads(s->recent[k], 0, NULL));
  }
  char *out = json_dumps(a, JSON_COMPACT);
  json_decref(a);
  return out;
}

/* Hands one item to the store (the writer thread) and the hub. */
static void emit(struct serve *sv, struct source *s, const char *key,
                 const char *title, const char *link, json_t *item,
                 json_t *fresh)
{
  char *js = json_dumps(item, JSON_COMPACT);
  if (!js)
    return;
  s->items++;
  struct result *r = result_new(s->c.name, strlen(s->c.name));
  if (r) {
    r->canonical = strdup(key);
    r->title = title ? strdup(title) : NULL;
    r->final_url = link ? strdup(link) : NULL;
    r->fetched_at_us = now_us();
    r->fields = calloc(1, sizeof(*r->fields));
    if (r->fields && (r->fields[0].json = strdup(js))) {
      r->fields[0].name = "data";
      r->nfields = 1;
    }
    /* Never waits: the loop also answers signals and runs every other
     * source. A full queue (the store unwritable for a while, /health
     * says so) costs the item its row, counted and said. */
    int rc = sink_try_submit(sv->sink, r);
    if (rc == -EAGAIN) {
      s->unstored++;
      snprintf(s->last_error, sizeof(s->last_error),
               "store: %llu items not stored (the store is not keeping up)",
               (unsigned long long)s->unstored);
    } else if (rc && !s->last_error[0]) {
      snprintf(s->last_error, sizeof(s->last_error), "store: %s",
               sink_errmsg(sv->sink));
    }
  } else {
    s->unstored++;
  }
  json_array_append(fresh, item);
  recent_push(s, js);
}

static int seen_has(const struct source *s, const char *id)
{
  for (int i = 0; i < s->nseen; i++)
    if (strcmp(s->seen[i], id) == 0)
      return 1;
  return 0;
}

static void seen_add(struct source *s, const char *id)
{
  char *d = strdup(id);
  if (!d)
    return;
  if (s->nseen < SEEN) {
    s->seen[s->nseen++] = d;
  } else {
    free(s->seen[s->seen_head]);
    s->seen[s->seen_head] = d;
    s->seen_head = (s->seen_head + 1) % SEEN;
  }
}

/* Hands the new items of one poll or message (fresh, consumed) to the
 * hub with the source's recent list, and marks the sources changed. A
 * subscriber gets at most the newest FRESH_MAX of them (all are stored): a
 * message must stay far below a subscriber's queue bound. */
static void publish_items(struct serve *sv, struct source *s, json_t *fresh)
{
  while (json_array_size(fresh) > FRESH_MAX)
    json_array_remove(fresh, 0);
  if (json_array_size(fresh) && sv->live) {
    char *recent = recent_json(s), *fr = json_dumps(fresh, JSON_COMPACT);
    if (recent && fr)
      live_publish_items(sv->live, s->c.name, recent, fr);
    free(recent);
    free(fr);
  }
  json_decref(fresh);
  publish(sv);
}

/* ---- polling ------------------------------------------------------------ */

static void poll_now(uv_timer_t *t);
static void source_free(struct source *s);
static struct source *find(struct serve *sv, const char *name);

static void schedule(struct source *s, uint64_t ms)
{
  if (s->running && !s->removed && !s->sv->stopping)
    uv_timer_start(&s->timer, poll_now, ms, 0);
}

/* The source's fields picked from doc (parsed once): an object of name ->
 * value, null where a pointer matches nothing (or doc is NULL). */
static json_t *pick_fields(const struct source *s, json_t *doc)
{
  json_t *v = json_object();
  for (int i = 0; i < s->c.nfields; i++) {
    json_t *x = doc ? extract_json_at(doc, s->c.fields[i].pointer) : NULL;
    json_object_set(v, s->c.fields[i].name, x ? x : json_null());
  }
  return v;
}

/* The body (in the pool): JSON fields, or the feed's items. */
static void transform_work(uv_work_t *w)
{
  struct source *s = container_of(w, struct source, work);
  if (s->c.kind == SOURCE_FEED) {
    s->feed_ok = feed_parse(&s->feed, s->body, s->body_len, s->feed_err,
                            sizeof(s->feed_err)) == 0;
  } else {
    json_error_t jerr;
    json_t *doc = json_loadb(s->body, s->body_len, JSON_DECODE_ANY, &jerr);
    if (!doc) {
      s->feed_ok = 0;
      snprintf(s->feed_err, sizeof(s->feed_err), "not JSON: %s (line %d)",
               jerr.text, jerr.line);
      return;
    }
    s->feed_ok = 1;
    json_t *v = pick_fields(s, doc);
    json_decref(doc);
    s->new_values = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(v);
  }
}

static void transform_done(uv_work_t *w, int status)
{
  (void)status;
  struct source *s = container_of(w, struct source, work);
  struct serve *sv = s->sv;
  s->transforming = 0;
  if (s->removed) { /* removed meanwhile: its results go nowhere */
    feed_free(&s->feed);
    memset(&s->feed, 0, sizeof(s->feed));
    if (!sv->stopping)
      source_free(s);
    return;
  }
  json_t *fresh = json_array();
  double t = now_s();
  if (s->c.kind == SOURCE_FEED) {
    if (!s->feed_ok) {
      s->status = "down";
      snprintf(s->last_error, sizeof(s->last_error), "%s", s->feed_err);
      s->failures++;
    } else {
      /* Oldest first, so the store and the hub see them in order. */
      for (int i = s->feed.nitems - 1; i >= 0; i--) {
        const struct feed_item *it = &s->feed.items[i];
        if (seen_has(s, it->id))
          continue;
        seen_add(s, it->id);
        json_t *item =
            json_pack("{s:s, s:f, s:s, s:s, s:s?, s:s?, s:s?, s:I}", "source",
                      s->c.name, "time", t, "id", it->id, "title", it->title,
                      "link", it->link, "summary", it->summary, "date",
                      it->date, "published", (json_int_t)it->time);
        if (item)
          emit(sv, s, it->id, it->title, it->link, item, fresh);
        json_decref(item);
      }
    }
    feed_free(&s->feed);
    memset(&s->feed, 0, sizeof(s->feed));
  } else if (!s->feed_ok) {
    s->status = "down";
    snprintf(s->last_error, sizeof(s->last_error), "%s", s->feed_err);
    s->failures++;
    s->failures_in_row++;
  } else if (s->new_values &&
             (!s->values || strcmp(s->values, s->new_values) != 0)) {
    /* A JSON source yields an item when its values change. */
    free(s->values);
    s->values = s->new_values;
    s->new_values = NULL;
    char key[64]; /* unique: a value may come back with an old ETag */
    snprintf(key, sizeof(key), "%.6f#%llu", t, (unsigned long long)s->items);
    json_t *item = json_pack("{s:s, s:f, s:o}", "source", s->c.name, "time", t,
                             "values", json_loads(s->values, 0, NULL));
    if (item)
      emit(sv, s, key, NULL, NULL, item, fresh);
    json_decref(item);
  }
  free(s->new_values);
  s->new_values = NULL;
  free(s->body);
  s->body = NULL;
  publish_items(sv, s, fresh);
  if (s->removed && !s->in_flight && !sv->stopping) {
    source_free(s);
    return;
  }
  schedule(s, s->c.interval_ms);
}

/* The poll's request headers: the validators, then the source's own
 * unless own is 0. */
static void set_header(struct source *s, int own)
{
  curl_slist_free_all(s->hdrs);
  s->hdrs = NULL;
  char h[1100];
  if (s->etag && strlen(s->etag) < 1024) {
    snprintf(h, sizeof(h), "If-None-Match: %s", s->etag);
    s->hdrs = curl_slist_append(s->hdrs, h);
  }
  if (s->last_modified && strlen(s->last_modified) < 1024) {
    snprintf(h, sizeof(h), "If-Modified-Since: %s", s->last_modified);
    struct curl_slist *n = curl_slist_append(s->hdrs, h);
    if (n)
      s->hdrs = n;
  }
  /* The source's own (an API token): to the configured URL's scheme, host
   * and port, not after a redirect elsewhere (as curl -L). */
  for (int i = 0; own && i < s->c.nheaders; i++) {
    struct curl_slist *n = curl_slist_append(s->hdrs, s->c.headers[i]);
    if (n)
      s->hdrs = n;
  }
}

static void fetch_done(struct fetcher *f, struct transfer *t, void *arg)
{
  (void)f;
  struct serve *sv = arg;
  struct source *s = (struct source *)t;
  s->in_flight = 0;
  s->polls++;
  sv->st.done++;
  double ms = (double)(uv_hrtime() - t->start_ns) / 1e6;
  histogram_record(&sv->st.latency_us, (uint64_t)(ms * 1000));
  sv->st.status_class[t->status >= 100 && t->status < 600 ? t->status / 100
                                                          : 0]++;
  sv->st.bytes += t->body.len;
  if (sv->stopping) { /* shutting down: the sources go at the end */
    transfer_release(t);
    return;
  }
  if (s->removed) {
    transfer_release(t);
    source_free(s);
    return;
  }
  if (!s->running) { /* stopped while it was in flight: not a failure */
    transfer_release(t);
    publish(sv);
    return;
  }
  const char *err = t->error;
  int status = t->status;
  if (!err && status == 304) {
    s->not_modified++;
    sv->st.ok++;
    s->status = "running";
    s->last_error[0] = '\0';
    s->failures_in_row = 0;
    s->last_ok = now_s();
    transfer_release(t);
    publish(sv);
    schedule(s, s->c.interval_ms);
    return;
  }
  if (!err && status >= 300 && status < 400) {
    /* Followed as curl -L does, up to MAX_HOPS, to http(s) only; each poll
     * starts from the configured URL again (a 301 is not remembered). */
    const char *to = t->location;
    int web = to && (!strncasecmp(to, "http://", 7) ||
                     !strncasecmp(to, "https://", 8));
    /* The hops share the source's timeout. */
    uint64_t spent = uv_now(&sv->loop) - s->poll_start_ms;
    if (web && s->hops < MAX_HOPS && spent < s->c.timeout_ms) {
      char *next = strdup(to);
      s->hops++;
      s->polls--; /* one poll, however many hops */
      sv->st.redirects++;
      transfer_release(t);
      s->t.timeout_ms = (long)(s->c.timeout_ms - spent);
      if (s->c.nheaders && next) {
        char *a = url_hostkey(next), *b = url_hostkey(s->c.url);
        set_header(s, a && b && !strcmp(a, b));
        s->t.req_headers = s->hdrs;
        free(a);
        free(b);
      }
      if (next && fetcher_start(&sv->fetcher, &s->t, next, NULL) == 0) {
        free(next);
        s->in_flight = 1;
        sv->st.admitted++; /* each hop is a request */
        return;
      }
      free(next);
      s->polls++;
      sv->st.failed++;
      s->failures++;
      s->failures_in_row++;
      s->status = "down";
      snprintf(s->last_error, sizeof(s->last_error), "cannot start a request");
      publish(sv);
      schedule(s, s->c.interval_ms);
      return;
    }
    sv->st.failed++;
    s->failures++;
    s->failures_in_row++;
    s->status = "down";
    if (!to)
      snprintf(s->last_error, sizeof(s->last_error),
               "HTTP %d without a Location", status);
    else if (web && s->hops < MAX_HOPS)
      snprintf(s->last_error, sizeof(s->last_error),
               "timeout (after %d redirects)", s->hops);
    else if (!web)
      snprintf(s->last_error, sizeof(s->last_error),
               "HTTP %d to %.150s: only http and https are followed", status,
               to);
    else
      snprintf(s->last_error, sizeof(s->last_error),
               "too many redirects (%d), the last to %.150s", MAX_HOPS, to);
    transfer_release(t);
    publish(sv);
    schedule(s, s->c.interval_ms);
    return;
  }
  if (err || status >= 400 || status < 200) {
    sv->st.failed++;
    s->failures++;
    s->failures_in_row++;
    if (err)
      snprintf(s->last_error, sizeof(s->last_error), "%s", err);
    else
      snprintf(s->last_error, sizeof(s->last_error), "HTTP %d", status);
    /* Transient: retry soon (with backoff, never sooner than
     * Retry-After); past the retries the source is down and is tried
     * again with a backoff that grows up to ten intervals. */
    uint64_t wait;
    if (retry_is_transient(err, status) &&
        s->failures_in_row <= s->c.retries) {
      wait = retry_backoff_ms(s->failures_in_row, BACKOFF_BASE_MS,
                              s->c.interval_ms, &sv->rng);
    } else {
      s->status = "down";
      wait = retry_backoff_ms(s->failures_in_row, s->c.interval_ms,
                              s->c.interval_ms * 10, &sv->rng);
      if (wait < BACKOFF_BASE_MS)
        wait = BACKOFF_BASE_MS;
    }
    /* Retry-After is honoured up to ten intervals or 5 minutes. */
    uint64_t ra_max =
        s->c.interval_ms * 10 > 300000 ? s->c.interval_ms * 10 : 300000;
    if (t->retry_after_ms > 0 && (uint64_t)t->retry_after_ms > wait)
      wait = (uint64_t)t->retry_after_ms < ra_max ? (uint64_t)t->retry_after_ms
                                                  : ra_max;
    transfer_release(t);
    publish(sv);
    schedule(s, wait);
    return;
  }
  sv->st.ok++;
  s->status = "running";
  s->last_error[0] = '\0';
  s->failures_in_row = 0;
  s->last_ok = now_s();
  if (t->etag) {
    free(s->etag);
    s->etag = t->etag;
    t->etag = NULL;
  }
  if (t->last_modified) {
    free(s->last_modified);
    s->last_modified = t->last_modified;
    t->last_modified = NULL;
  }
  /* The body goes to the pool (one transform per source at a time). */
  s->body = t->body.data ? t->body.data : strdup("");
  s->body_len = t->body.len;
  t->body.data = NULL;
  t->body.len = t->body.cap = 0;
  transfer_release(t);
  s->transforming = 1;
  if (uv_queue_work(&sv->loop, &s->work, transform_work, transform_done)) {
    transform_work(&s->work);
    transform_done(&s->work, 0);
  }
}

/* ---- websocket sources -------------------------------------------------- */

static void ws_open(void *arg)
{
  struct source *s = arg;
  s->status = "running";
  s->last_error[0] = '\0';
  s->failures_in_row = 0;
  s->last_ok = now_s();
  s->polls++;
  s->sv->st.done++;
  s->sv->st.ok++;
  publish(s->sv);
}

static void ws_message(void *arg, const char *msg, size_t len)
{
  struct source *s = arg;
  struct serve *sv = s->sv;
  double t = now_s();
  s->last_ok = t;
  sv->st.bytes += len;
  json_t *doc = json_loadb(msg, len, JSON_DECODE_ANY, NULL);
  json_t *v = pick_fields(s, doc);
  json_decref(doc);
  free(s->values);
  s->values = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
  json_t *fresh = json_array();
  json_t *item = json_pack("{s:s, s:f, s:o}", "source", s->c.name, "time", t,
                           "values", v);
  char key[64];
  snprintf(key, sizeof(key), "%.6f#%llu", t, (unsigned long long)s->items);
  if (item)
    emit(sv, s, key, NULL, NULL, item, fresh);
  json_decref(item);
  publish_items(sv, s, fresh);
}

static void ws_closed(void *arg, const char *why)
{
  struct source *s = arg;
  struct serve *sv = s->sv;
  s->wsc = NULL;
  s->failures++;
  s->failures_in_row++;
  sv->st.failed++;
  s->status = "down";
  snprintf(s->last_error, sizeof(s->last_error), "%s", why);
  publish(sv);
  /* Reconnect with a backoff growing from 0.5 s to 30 s. */
  schedule(s, retry_backoff_ms(s->failures_in_row, BACKOFF_BASE_MS, 30000,
                               &sv->rng));
}

static const struct wsclient_callbacks ws_cb = {ws_open, ws_message,
                                                ws_closed};

static void poll_now(uv_timer_t *t)
{
  struct source *s = t->data;
  struct serve *sv = s->sv;
  if (!s->running || s->in_flight || s->transforming || s->removed ||
      sv->stopping)
    return;
  if (s->c.kind == SOURCE_WEBSOCKET) {
    if (s->wsc)
      return;
    char err[256];
    s->last_poll = now_s();
    sv->st.admitted++;
    if (wsclient_open(&s->wsc, &sv->loop, s->c.url,
                      (const char *const *)s->c.headers, s->c.nheaders,
                      s->c.timeout_ms, &ws_cb, s, err, sizeof(err))) {
      s->wsc = NULL;
      s->status = "down";
      snprintf(s->last_error, sizeof(s->last_error), "%s", err);
      publish(sv);
      schedule(s, 30000);
    }
    return;
  }
  set_header(s, 1);
  s->hops = 0;
  s->poll_start_ms = uv_now(&sv->loop);
  s->t.req_headers = s->hdrs;
  s->t.want_validators = 1;
  s->t.timeout_ms = (long)s->c.timeout_ms;
  s->last_poll = now_s();
  if (fetcher_start(&sv->fetcher, &s->t, s->c.url, NULL) != 0) {
    s->status = "down";
    snprintf(s->last_error, sizeof(s->last_error), "cannot start a request");
    schedule(s, s->c.interval_ms);
    return;
  }
  sv->st.admitted++;
  s->in_flight = 1;
}

/* ---- sources: add, start, stop, remove ---------------------------------- */

/* What a source holds besides its configuration and its timer. */
static void source_release(struct source *s)
{
  transfer_release(&s->t);
  curl_slist_free_all(s->hdrs);
  free(s->etag);
  free(s->last_modified);
  free(s->values);
  free(s->body);
  free(s->new_values);
  for (int i = 0; i < s->nrecent; i++)
    free(s->recent[i]);
  for (int i = 0; i < s->nseen; i++)
    free(s->seen[i]);
}

static void timer_closed(uv_handle_t *h)
{
  struct source *s = h->data;
  src_config_free(&s->c);
  free(s);
}

static void source_free(struct source *s)
{
  struct serve *sv = s->sv;
  struct source **pp = &sv->sources;
  while (*pp && *pp != s)
    pp = &(*pp)->next;
  if (*pp)
    *pp = s->next;
  source_release(s);
  if (sv->live && !find(sv, s->c.name)) /* not a same-named successor */
    live_forget_source(sv->live, s->c.name);
  uv_close((uv_handle_t *)&s->timer, timer_closed);
  publish_names(sv);
  publish(sv);
}

static struct source *find(struct serve *sv, const char *name)
{
  for (struct source *s = sv->sources; s; s = s->next)
    if (!s->removed && strcmp(s->c.name, name) == 0)
      return s;
  return NULL;
}

static void start(struct source *s)
{
  s->running = 1;
  s->status = "running";
  s->failures_in_row = 0;
  schedule(s, 0);
}

static void stop(struct source *s)
{
  s->running = 0;
  s->status = "stopped";
  uv_timer_stop(&s->timer);
  if (s->wsc) {
    wsclient_close(s->wsc, s->sv->stopping);
    s->wsc = NULL;
  }
  if (s->in_flight)
    fetcher_cancel(&s->sv->fetcher, &s->t, ERR_CANCELLED);
}

static void remove_source(struct source *s)
{
  stop(s);
  s->removed = 1;
  if (!s->in_flight && !s->transforming)
    source_free(s);
}

/* A feed source remembers the ids it stored before (the store's keys are
 * the feed ids), so that a restart does not publish them again. Read once,
 * when the source is added, on a connection of its own (WAL: beside the
 * writer's); an unreadable store only costs the memory of this. */
static void seen_prime(struct serve *sv, struct source *s)
{
  sqlite3 *db = NULL;
  sqlite3_stmt *st = NULL;
  if (sqlite3_open_v2(sv->cfg.store, &db, SQLITE_OPEN_READONLY, NULL) ==
          SQLITE_OK &&
      sqlite3_busy_timeout(db, 2000) == SQLITE_OK &&
      sqlite3_prepare_v2(db,
                         "SELECT key FROM (SELECT id, key FROM items"
                         " WHERE source = ? ORDER BY id DESC LIMIT ?)"
                         " ORDER BY id",
                         -1, &st, NULL) == SQLITE_OK) {
    sqlite3_bind_text(st, 1, s->c.name, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, SEEN);
    while (sqlite3_step(st) == SQLITE_ROW) {
      const char *k = (const char *)sqlite3_column_text(st, 0);
      if (k)
        seen_add(s, k);
    }
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
}

static int add(struct serve *sv, const struct config_source *c)
{
  struct source *s = calloc(1, sizeof(*s));
  if (!s || src_config_copy(&s->c, c)) {
    free(s);
    return -ENOMEM;
  }
  s->sv = sv;
  s->status = "stopped";
  if (c->kind == SOURCE_FEED)
    seen_prime(sv, s);
  uv_timer_init(&sv->loop, &s->timer);
  s->timer.data = s;
  /* appended, so the dashboard keeps the configuration's order */
  struct source **pp = &sv->sources;
  while (*pp)
    pp = &(*pp)->next;
  *pp = s;
  if (c->enabled)
    start(s);
  return 0;
}

/* ---- the API's actions (from the live thread) --------------------------- */

static int known(struct serve *sv, const char *name)
{
  int k = 0;
  for (int i = 0; i < sv->nnames && !k; i++)
    k = strcmp(sv->names[i], name) == 0;
  return k;
}

static int action(void *arg, const char *name, const char *act,
                  const char *body, size_t len, char *msg, size_t msglen)
{
  struct serve *sv = arg;
  if (__atomic_load_n(&sv->stopping, __ATOMIC_ACQUIRE)) {
    snprintf(msg, msglen, "shutting down");
    return 503;
  }
  if (body && memchr(body, '\0', len)) {
    snprintf(msg, msglen, "a NUL byte in the body");
    return 400;
  }
  struct cmd *c = calloc(1, sizeof(*c));
  if (!c) {
    snprintf(msg, msglen, "out of memory");
    return 500;
  }
  snprintf(c->action, sizeof(c->action), "%s", act);
  if (strcmp(act, "add") == 0) {
    /* The body is a JSON object, which is also YAML: checked by the
     * configuration's own rules. */
    struct config tmp;
    char err[256];
    size_t n = len + 32;
    char *doc = malloc(n);
    int rc = -1;
    if (doc) {
      int k =
          snprintf(doc, n, "sources: [%.*s]\n", (int)len, body ? body : "");
      rc = config_parse(&tmp, doc, (size_t)k, "request", err, sizeof(err));
    }
    free(doc);
    if (rc || tmp.nsources != 1) {
      snprintf(msg, msglen, "%s", rc ? err : "want one source object");
      if (!rc)
        config_free(&tmp);
      free(c);
      return 400;
    }
    c->src = calloc(1, sizeof(*c->src));
    if (!c->src || src_config_copy(c->src, &tmp.sources[0])) {
      free(c->src);
      config_free(&tmp);
      free(c);
      snprintf(msg, msglen, "out of memory");
      return 500;
    }
    config_free(&tmp);
    snprintf(c->name, sizeof(c->name), "%s", c->src->name);
  } else {
    snprintf(c->name, sizeof(c->name), "%s", name);
  }
  pthread_mutex_lock(&sv->cmd_lock);
  int exists = known(sv, c->name);
  int adding = strcmp(act, "add") == 0;
  int full = adding && sv->nnames >= CONFIG_MAX_SOURCES;
  int ok = !full && (adding ? !exists : exists);
  if (ok) {
    c->next = sv->cmds;
    sv->cmds = c;
    /* The name list changes now, so the next request sees it. */
    if (adding) {
      char **v = realloc(sv->names, (size_t)(sv->nnames + 1) * sizeof(*v));
      if (v) {
        sv->names = v;
        if ((v[sv->nnames] = strdup(c->name)))
          sv->nnames++;
      }
    } else if (strcmp(act, "remove") == 0) {
      for (int i = 0; i < sv->nnames; i++)
        if (strcmp(sv->names[i], c->name) == 0) {
          free(sv->names[i]);
          sv->names[i] = sv->names[--sv->nnames];
          break;
        }
    }
  }
  pthread_mutex_unlock(&sv->cmd_lock);
  if (full) {
    snprintf(msg, msglen, "at most %d sources", CONFIG_MAX_SOURCES);
    if (c->src) {
      src_config_free(c->src);
      free(c->src);
    }
    free(c);
    return 409;
  }
  if (!ok) {
    snprintf(msg, msglen,
             exists ? "a source '%s' exists already" : "no source '%s'",
             c->name);
    if (c->src) {
      src_config_free(c->src);
      free(c->src);
    }
    free(c);
    return exists ? 409 : 404;
  }
  uv_async_send(&sv->cmd_async);
  snprintf(msg, msglen, "%s",
           strcmp(act, "add") == 0     ? "added"
           : strcmp(act, "stop") == 0  ? "stopping"
           : strcmp(act, "start") == 0 ? "starting"
                                       : "removing");
  return strcmp(act, "add") == 0 ? 201 : 202;
}

static void run_cmds(uv_async_t *a)
{
  struct serve *sv = a->data;
  pthread_mutex_lock(&sv->cmd_lock);
  struct cmd *c = sv->cmds, *rev = NULL;
  sv->cmds = NULL;
  pthread_mutex_unlock(&sv->cmd_lock);
  while (c) { /* oldest first */
    struct cmd *n = c->next;
    c->next = rev;
    rev = c;
    c = n;
  }
  for (c = rev; c; c = rev) {
    rev = c->next;
    struct source *s = find(sv, c->name);
    if (!sv->stopping) {
      if (strcmp(c->action, "add") == 0 && !s && c->src)
        add(sv, c->src);
      else if (s && strcmp(c->action, "stop") == 0)
        stop(s);
      else if (s && strcmp(c->action, "start") == 0 && !s->running)
        start(s);
      else if (s && strcmp(c->action, "remove") == 0)
        remove_source(s);
    }
    if (c->src) {
      src_config_free(c->src);
      free(c->src);
    }
    free(c);
  }
  publish_names(sv);
  publish(sv);
}

/* ---- signals ------------------------------------------------------------ */

static void reload(struct serve *sv)
{
  struct config next;
  char err[512];
  struct stat stt;
  if (stat(sv->path, &stt) != 0 || !S_ISREG(stt.st_mode)) {
    fprintf(stderr,
            "spate serve: SIGHUP: %s is not a regular file (the "
            "running configuration stays)\n",
            sv->path);
    return;
  }
  if (config_load(&next, sv->path, err, sizeof(err))) {
    fprintf(stderr,
            "spate serve: SIGHUP: %s (the running configuration "
            "stays)\n",
            err);
    return;
  }
  int added = 0, removed = 0, changed = 0;
  for (struct source *s = sv->sources, *n; s; s = n) {
    n = s->next;
    if (s->removed)
      continue;
    const struct config_source *c = config_find(&next, s->c.name);
    if (!c) {
      remove_source(s);
      removed++;
    } else if (!config_source_equal(c, &s->c)) {
      remove_source(s);
      changed++;
    }
  }
  for (int i = 0; i < next.nsources; i++)
    if (!find(sv, next.sources[i].name)) {
      add(sv, &next.sources[i]);
      added++;
    }
  added -= changed;
  fprintf(stderr,
          "spate serve: configuration reloaded: %d added, %d removed, %d "
          "changed\n",
          added, removed, changed);
  config_free(&next);
  publish_names(sv);
  publish(sv);
}

static void fetcher_closed(struct fetcher *f)
{
  (void)f;
}

static void shutdown_sources(struct serve *sv)
{
  __atomic_store_n(&sv->stopping, 1, __ATOMIC_RELEASE);
  for (struct source *s = sv->sources, *n; s; s = n) {
    n = s->next;
    stop(s);
  }
}

static void on_signal(uv_signal_t *h, int signum)
{
  struct serve *sv = h->data;
  if (signum == SIGHUP) {
    reload(sv);
    return;
  }
  if (sv->stopping)
    _exit(128 + signum); /* a second one: at once */
  sv->signum = signum;
  shutdown_sources(sv);
  /* The loop ends once the in-flight requests (cancelled) and the
   * transforms have come back; closing the handles lets it. */
  uv_close((uv_handle_t *)&sv->sigint, NULL);
  uv_close((uv_handle_t *)&sv->sigterm, NULL);
  uv_close((uv_handle_t *)&sv->sighup, NULL);
  uv_close((uv_handle_t *)&sv->cmd_async, NULL);
  uv_close((uv_handle_t *)&sv->publish_timer, NULL);
  for (struct source *s = sv->sources; s; s = s->next)
    uv_close((uv_handle_t *)&s->timer, NULL);
  fetcher_close(&sv->fetcher, fetcher_closed);
}

/* ---- main -----------------------------------------------------------------
 */

static void usage(FILE *out)
{
  fputs("usage: spate serve [-q] CONFIG\n"
        "Runs the sources of CONFIG (YAML; examples/spate.yaml explains "
        "every\nkey) continuously: JSON APIs and feeds are polled with "
        "conditional GET,\ntheir items stored in SQLite and pushed live to "
        "the dashboard, /ws and\n/events (docs/LIVE.md). SIGHUP reloads "
        "CONFIG; SIGTERM or Ctrl-C stops\ncleanly.\n\n"
        "  -q, --quiet   no start-up lines\n"
        "  -h, --help    this help\n\n"
        "Exit status: 0 stopped by a signal, 2 usage or a bad CONFIG, 3 the "
        "store\ncould not be opened, 5 the service could not start.\n",
        out);
}

int serve_main(int argc, char **argv)
{
  const char *path = NULL;
  int quiet = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
      usage(stdout);
      return 0;
    } else if (strcmp(argv[i], "-q") == 0 || strcmp(argv[i], "--quiet") == 0) {
      quiet = 1;
    } else if (argv[i][0] == '-' && argv[i][1]) {
      fprintf(stderr, "spate serve: unknown option '%s' (see --help)\n",
              argv[i]);
      return CLI_EXIT_USAGE;
    } else if (!path) {
      path = argv[i];
    } else {
      fprintf(stderr, "spate serve: one CONFIG only (see --help)\n");
      return CLI_EXIT_USAGE;
    }
  }
  if (!path) {
    usage(stderr);
    return CLI_EXIT_USAGE;
  }
  struct serve *sv = calloc(1, sizeof(*sv));
  char err[512];
  int code = CLI_EXIT_INTERNAL;
  if (!sv)
    return code;
  sv->path = path;
  sv->rng = (uint64_t)uv_hrtime() | 1;
  histogram_init(&sv->st.latency_us);
  sv->st.start_ns = uv_hrtime();
  histogram_init(&sv->st.ttfb_us);
  pthread_mutex_init(&sv->cmd_lock, NULL);
  if (config_load(&sv->cfg, path, err, sizeof(err))) {
    fprintf(stderr, "spate serve: %s\n", err);
    code = CLI_EXIT_USAGE;
    goto out_cfg;
  }
  if (uv_loop_init(&sv->loop))
    goto out_cfg;
  struct sink_options so = {.queue_cap = 4096};
  char serr[SINK_ERRMSG_MAX];
  if (sink_open_format(&sv->sink, &sink_items_format, sv->cfg.store, &so,
                       serr)) {
    fprintf(stderr, "spate serve: %s\n", serr);
    code = CLI_EXIT_INPUT;
    goto out_loop;
  }
  /* A source's own timeout (up to 10 minutes) bounds its whole request:
   * no first-byte or stall deadline of the fetcher's may cut it shorter. */
  struct fetcher_options fo = {
      .connect_timeout_ms = 10000,
      .ttfb_timeout_ms = 0,
      .total_timeout_ms = 30000,
      .stall_timeout_ms = 0,
      .max_body = 16 << 20,
      .max_headers = 64 << 10,
      .user_agent = "spate/" CLI_VERSION,
      .buffer_size = 16384,
  };
  if (fetcher_init(&sv->fetcher, &sv->loop, &fo, 64, fetch_done, sv)) {
    fprintf(stderr, "spate serve: cannot start the fetcher\n");
    goto out_sink;
  }
  sv->fetcher_open = 1;
  struct live_options lo = {
      .addr = sv->cfg.listen,
      .job_kind = "serve",
      .job_name = path,
      .nloops = 1,
      .sink = sv->sink,
      .action = action,
      .action_arg = sv,
  };
  if (live_start(&sv->live, &lo, quiet, err)) {
    fprintf(stderr, "spate serve: listen %s: %s\n", sv->cfg.listen, err);
    code = CLI_EXIT_USAGE;
    fetcher_close(&sv->fetcher, fetcher_closed);
    uv_run(&sv->loop, UV_RUN_DEFAULT);
    goto out_sink;
  }
  live_set_state(sv->live, "running");
  uv_timer_init(&sv->loop, &sv->publish_timer);
  sv->publish_timer.data = sv;
  uv_timer_start(&sv->publish_timer, publish_tick, PUBLISH_MS, PUBLISH_MS);
  uv_async_init(&sv->loop, &sv->cmd_async, run_cmds);
  sv->cmd_async.data = sv;
  uv_signal_init(&sv->loop, &sv->sigint);
  uv_signal_init(&sv->loop, &sv->sigterm);
  uv_signal_init(&sv->loop, &sv->sighup);
  sv->sigint.data = sv->sigterm.data = sv->sighup.data = sv;
  uv_signal_start(&sv->sigint, on_signal, SIGINT);
  uv_signal_start(&sv->sigterm, on_signal, SIGTERM);
  uv_signal_start(&sv->sighup, on_signal, SIGHUP);
  for (int i = 0; i < sv->cfg.nsources; i++)
    add(sv, &sv->cfg.sources[i]);
  publish_names(sv);
  publish(sv);
  if (!quiet)
    fprintf(stderr, "spate serve: %d sources from %s, items into %s\n",
            sv->cfg.nsources, path, sv->cfg.store);
  uv_run(&sv->loop, UV_RUN_DEFAULT);

  /* Drained: nothing in flight, no transform running. The store gets
   * everything queued, then the live service says goodbye (1001). */
  publish_now(sv);
  live_set_state(sv->live, "stopped"); /* by a signal */
  /* The live service reads the store's state: it goes first. */
  live_stop(sv->live);
  sv->live = NULL;
  int rc = sink_close(sv->sink);
  sv->sink = NULL;
  if (rc) {
    fprintf(stderr, "spate serve: writing items failed: %s\n", strerror(-rc));
    code = CLI_EXIT_OUTPUT;
  } else {
    code = CLI_EXIT_OK;
  }
  if (!quiet)
    fprintf(stderr, "spate serve: stopped (%s)\n",
            sv->signum == SIGTERM ? "SIGTERM" : "SIGINT");
  while (sv->sources) {
    struct source *s = sv->sources;
    sv->sources = s->next;
    source_release(s);
    src_config_free(&s->c);
    free(s);
  }
  for (int i = 0; i < sv->nnames; i++)
    free(sv->names[i]);
  free(sv->names);
  while (sv->cmds) { /* accepted just before the shutdown */
    struct cmd *c = sv->cmds;
    sv->cmds = c->next;
    if (c->src) {
      src_config_free(c->src);
      free(c->src);
    }
    free(c);
  }
out_sink:
  if (sv->sink)
    sink_close(sv->sink);
out_loop:
  uv_run(&sv->loop, UV_RUN_NOWAIT);
  uv_loop_close(&sv->loop);
out_cfg:
  config_free(&sv->cfg);
  pthread_mutex_destroy(&sv->cmd_lock);
  free(sv);
  return code;
}
