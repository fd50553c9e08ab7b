#include "frontier.h"

#include "failpoint.h"
#include "input.h"
#include "store.h"
#include "url.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A transaction stays open across batches and is committed when it holds
 * COMMIT_ROWS pages, is COMMIT_MS old, when the writer runs out of work,
 * and at the end. Fewer commits write each b-tree page
 * of the indexes once per commit instead of once per batch. URLs taken
 * in an open transaction may be handed out before it commits: a crash
 * then rolls the take back with the pages, and they are simply queued. */
#define COMMIT_ROWS 1000
#define COMMIT_MS 500

/* Keys known to be in the frontier table, so that the links a page shares
 * with many others (navigation, the same neighbours) skip the store's
 * UNIQUE probe. Exact: full keys are compared, and a key is added only
 * once the store has it; a rolled-back transaction empties the cache. It
 * is bounded (SEEN_SLOTS, SEEN_ARENA bytes of keys) and simply emptied
 * when full, so memory stays flat however long the crawl. */
#define SEEN_SLOTS (1u << 18)
#define SEEN_ARENA (8u << 20)

struct seen {
  uint32_t *slot; /* arena offset + 1, 0 = empty */
  char *arena;
  size_t used;
  uint32_t n;
};

/* A host of the frontier, as the writer knows it: its queued URLs (kept
 * up to date by adds and takes; QUEUED_SOME when taken in from the store,
 * where they were not counted) and the URLs handed out and not yet
 * written back. */
struct fhost {
  char *name; /* "scheme://authority", the keys' prefix */
  int64_t queued, out;
  int level; /* exact_depth: the deepest depth out while out > 0 */
};

/* "Some, how many unknown": a take that gets fewer URLs than it asked
 * for sets the count to 0 (take_host), which is all the count is for. */
#define QUEUED_SOME (INT64_MAX / 4)

/* The writer's hosts: an array (taken from in turn) and an open-addressing
 * index into it. It holds at most max hosts: those with URLs out, and as
 * many with URLs queued as fit. A host whose URLs are all done leaves it
 * (hosts_compact); a host with URLs queued that did not fit is "spilled"
 * and taken in from the store's queue index when there is room
 * (hosts_admit), in the order of their names from a cursor that wraps
 * around, so that every host gets its turn. A broad crawl's memory and
 * the cost of each take are then bounded by max, not by the hosts met. */
struct hosts {
  struct fhost *v;
  size_t n, cap, max;
  uint32_t *slot; /* index + 1, 0 = empty; nslots a power of two */
  size_t nslots;
  size_t next;         /* round-robin position */
  unsigned fail_every; /* frontier_options.fail_host_every */
  uint64_t created;    /* hosts about to be recorded, for it */
  /* The store may hold queued URLs of hosts not in v: cleared only by a
   * walk of the whole queue index, from its beginning, that found every
   * host it met in v or took it in, with no host left out meanwhile. */
  int spilled;
  int clean;    /* the walk began at the beginning and left nothing out */
  int was_full; /* hosts have had to wait: those taken in since waited */
  char *cursor; /* the walk's last host; NULL: at the beginning */
};

struct frontier {
  struct store *store; /* the writer thread's once the sink runs */
  int64_t host_cap;
  struct hosts hosts; /* the writer's */
  int64_t max_pages;
  int64_t taken; /* URLs ever taken (done + in flight): --max-pages */
  void (*notify)(void *arg);
  void *notify_arg;
  int complete;
  int exact_depth;
  int in_tx;        /* the writer's transaction is open */
  struct seen seen; /* the writer's */
  uint64_t tx_start_ms;
  size_t tx_rows;

  pthread_mutex_t lock; /* ring, ended, stop */
  struct store_item ring[FRONTIER_RING];
  size_t head, count;
  int ended;
  int stop;

  struct frontier_stats st; /* relaxed atomics */
};

#define STAT_SET(fr, f, v) __atomic_store_n(&(fr)->st.f, (v), __ATOMIC_RELAXED)
#define STAT_ADD(fr, f, v)                                                    \
  __atomic_fetch_add(&(fr)->st.f, (v), __ATOMIC_RELAXED)

static void seen_clear(struct seen *c)
{
  if (c->slot)
    memset(c->slot, 0, SEEN_SLOTS * sizeof(*c->slot));
  c->used = 0;
  c->n = 0;
}

/* The slot holding k, or the empty slot where it would go. */
static uint32_t *seen_find(struct seen *c, const char *k)
{
  uint32_t i = (uint32_t)url_hash(k) & (SEEN_SLOTS - 1);
  for (;; i = (i + 1) & (SEEN_SLOTS - 1)) {
    uint32_t v = c->slot[i];
    if (!v || strcmp(c->arena + v - 1, k) == 0)
      return &c->slot[i];
  }
}

static int seen_has(struct seen *c, const char *k)
{
  return c->slot && *seen_find(c, k) != 0;
}

static void seen_add(struct seen *c, const char *k)
{
  size_t len = strlen(k) + 1;
  if (!c->slot || len > SEEN_ARENA)
    return;
  if (c->n >= SEEN_SLOTS / 4 * 3 || c->used + len > SEEN_ARENA)
    seen_clear(c);
  uint32_t *sl = seen_find(c, k);
  if (*sl)
    return;
  memcpy(c->arena + c->used, k, len);
  *sl = (uint32_t)c->used + 1;
  c->used += len;
  c->n++;
}

static void seen_free(struct seen *c)
{
  free(c->slot);
  free(c->arena);
  c->slot = NULL;
  c->arena = NULL;
}

/* ---- hosts (writer thread) --------------------------------------------- */

static uint32_t *host_slot(struct hosts *hs, const char *name, size_t len)
{
  size_t i = (size_t)url_hash_n(name, len) & (hs->nslots - 1);
  for (;; i = (i + 1) & (hs->nslots - 1)) {
    uint32_t v = hs->slot[i];
    if (!v || (strncmp(hs->v[v - 1].name, name, len) == 0 &&
               hs->v[v - 1].name[len] == '\0'))
      return &hs->slot[i];
  }
}

static void hosts_index(struct hosts *hs)
{
  memset(hs->slot, 0, hs->nslots * sizeof(*hs->slot));
  for (size_t i = 0; i < hs->n; i++)
    *host_slot(hs, hs->v[i].name, strlen(hs->v[i].name)) = (uint32_t)i + 1;
}

/* The host named by the first len bytes of name, or NULL. */
static struct fhost *host_find(struct hosts *hs, const char *name, size_t len)
{
  if (!hs->n)
    return NULL;
  uint32_t v = *host_slot(hs, name, len);
  return v ? &hs->v[v - 1] : NULL;
}

/* Records the host named by the first len bytes of name, not yet known;
 * NULL when out of memory. */
static struct fhost *host_add(struct hosts *hs, const char *name, size_t len)
{
  if (hs->n + 1 > hs->nslots / 2) { /* grow the index (and start it) */
    size_t ns = hs->nslots ? hs->nslots * 2 : 64;
    uint32_t *sl = calloc(ns, sizeof(*sl));
    if (!sl)
      return NULL;
    free(hs->slot);
    hs->slot = sl;
    hs->nslots = ns;
    hosts_index(hs);
  }
  if (failpoint_hit(hs->fail_every, &hs->created))
    return NULL; /* as if out of memory */
  if (hs->n == hs->cap) {
    size_t nc = hs->cap ? hs->cap * 2 : 16;
    struct fhost *v = realloc(hs->v, nc * sizeof(*v));
    if (!v)
      return NULL;
    hs->v = v;
    hs->cap = nc;
  }
  char *copy = strndup(name, len);
  if (!copy)
    return NULL;
  hs->v[hs->n] = (struct fhost){.name = copy};
  *host_slot(hs, name, len) = (uint32_t)++hs->n;
  return &hs->v[hs->n - 1];
}

/* Forgets the hosts with nothing queued and nothing out, once they are an
 * eighth of the set or the set is full: rebuilding the index costs a pass
 * over every name, and a host kept a while costs nothing (takes skip it). */
static void hosts_compact(struct hosts *hs)
{
  size_t dead = 0, k = 0;
  for (size_t i = 0; i < hs->n; i++)
    dead += hs->v[i].queued <= 0 && hs->v[i].out <= 0;
  if (!dead || (dead * 8 < hs->n && hs->n < hs->max))
    return;
  for (size_t i = 0; i < hs->n; i++) {
    if (hs->v[i].queued <= 0 && hs->v[i].out <= 0) {
      free(hs->v[i].name);
      continue;
    }
    hs->v[k++] = hs->v[i];
  }
  hs->n = k;
  hs->next = k ? hs->next % k : 0;
  hosts_index(hs);
}

static void hosts_free(struct hosts *hs)
{
  for (size_t i = 0; i < hs->n; i++)
    free(hs->v[i].name);
  free(hs->v);
  free(hs->slot);
  free(hs->cursor);
  memset(hs, 0, sizeof(*hs));
}

/* A host with URLs queued could not be taken in (the set is full, or the
 * walk stopped before the hosts after its cursor): it waits in the
 * store, and the walk under way cannot clear the spill. */
static void hosts_left_out(struct hosts *hs)
{
  hs->spilled = 1;
  hs->clean = 0;
  hs->was_full = 1;
}

/* Store lookups per hosts_admit, at most: a take costs a bounded amount
 * however many hosts are queued. */
#define ADMIT_STEPS 256

/* Takes spilled hosts in from the store while there is room. */
static int hosts_admit(struct frontier *fr)
{
  struct hosts *hs = &fr->hosts;
  for (int steps = 0; hs->spilled && steps < ADMIT_STEPS; steps++) {
    if (hs->n >= hs->max) {
      hosts_left_out(hs); /* those after the cursor may be */
      break;
    }
    char *host = NULL;
    int rc =
        store_next_queued_host(fr->store, hs->cursor ? hs->cursor : "", &host);
    if (rc)
      return rc;
    if (!host) { /* the end of the index */
      if (hs->clean) {
        hs->spilled = 0; /* a whole walk found every queued host here */
        break;
      }
      free(hs->cursor); /* from the beginning again */
      hs->cursor = NULL;
      hs->clean = 1;
      continue;
    }
    size_t len = strlen(host);
    if (!host_find(hs, host, len)) {
      struct fhost *h = host_add(hs, host, len);
      if (!h) {
        free(host);
        return -ENOMEM;
      }
      h->queued = QUEUED_SOME;
      if (hs->was_full)
        STAT_ADD(fr, hosts_waited, 1);
    }
    free(hs->cursor);
    hs->cursor = host;
  }
  return 0;
}

static uint64_t now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void publish_counts(struct frontier *fr)
{
  int64_t q = 0, inf = 0, done = 0;
  store_counts(fr->store, &q, &inf, &done);
  STAT_SET(fr, queued, q);
  STAT_SET(fr, in_flight, inf);
  STAT_SET(fr, done, done);
}

/* Appends host h's next URLs (up to k) to *items. */
static int take_host(struct frontier *fr, struct fhost *h, size_t k,
                     struct store_item **items, size_t *n, size_t *cap)
{
  struct store_item *got = NULL;
  size_t ngot = 0;
  int rc = fr->exact_depth
               ? store_take_level(fr->store, h->name,
                                  h->out > 0 ? h->level : -1, k, &got, &ngot)
               : store_take_host(fr->store, h->name, k, &got, &ngot);
  if (rc)
    return rc;
  if (fr->exact_depth && ngot && h->out == 0)
    h->level = got[ngot - 1].depth; /* the host's lowest: all at it */
  if (*n + ngot > *cap) {
    size_t nc = *n + ngot > *cap * 2 ? *n + ngot : *cap * 2;
    struct store_item *v = realloc(*items, nc * sizeof(*v));
    if (!v) {
      store_items_free(got, ngot);
      return -ENOMEM;
    }
    *items = v;
    *cap = nc;
  }
  if (ngot)
    memcpy(*items + *n, got, ngot * sizeof(*got));
  free(got); /* the urls moved to *items */
  *n += ngot;
  h->out += (int64_t)ngot;
  /* Fewer than asked: nothing more is queued there, unless a level held
   * the rest back. All that was asked: there may be more whatever the
   * count says, so only a short take calls the host drained. */
  int more = 0;
  if (ngot < k && fr->exact_depth &&
      (rc = store_host_has_queued(fr->store, h->name, &more)))
    return rc;
  int64_t left = h->queued - (int64_t)ngot;
  if (ngot < k && !more)
    left = 0;
  else if (left < 1)
    left = 1;
  h->queued = left;
  return 0;
}

/* Takes up to room URLs host by host in turn, breadth-first within each,
 * an equal share per host with URLs queued, and at most host_cap handed
 * out per host while another host is active too (has URLs queued or out):
 * a host alone is not held back. */
static int take_fair(struct frontier *fr, size_t room,
                     struct store_item **items, size_t *n)
{
  struct hosts *hs = &fr->hosts;
  size_t cap = 0, ready = 0, active = 0;
  *items = NULL;
  *n = 0;
  hosts_compact(hs);
  int rc = hosts_admit(fr);
  if (rc)
    return rc;
  /* Only this thread writes it. */
  if ((int64_t)hs->n >
      __atomic_load_n(&fr->st.hosts_held_max, __ATOMIC_RELAXED))
    STAT_SET(fr, hosts_held_max, (int64_t)hs->n);
  for (size_t i = 0; i < hs->n; i++) {
    ready += hs->v[i].queued > 0;
    active += hs->v[i].queued > 0 || hs->v[i].out > 0;
  }
  while (!rc && *n < room && ready) {
    size_t share = (room - *n) / ready, took = *n, visited = 0;
    share = share ? share : 1;
    for (; visited < hs->n && *n < room && !rc; visited++) {
      struct fhost *h = &hs->v[hs->next];
      hs->next = (hs->next + 1) % hs->n;
      if (h->queued <= 0)
        continue;
      size_t k = share < room - *n ? share : room - *n;
      if (fr->host_cap > 0 && active > 1) {
        int64_t left = fr->host_cap - h->out;
        if (left <= 0)
          continue;
        if ((int64_t)k > left)
          k = (size_t)left;
      }
      rc = take_host(fr, h, k, items, n, &cap);
    }
    if (*n == took)
      break; /* every host with URLs is at its cap */
    ready = 0;
    for (size_t i = 0; i < hs->n; i++)
      ready += hs->v[i].queued > 0;
  }
  if (rc) {
    store_items_free(*items, *n);
    *items = NULL;
    *n = 0;
  }
  return rc;
}

/* Takes queued URLs for the ring's free slots (within --max-pages) in the
 * open transaction; push_taken hands them out. */
static int take_more(struct frontier *fr, struct store_item **items, size_t *n)
{
  *items = NULL;
  *n = 0;
  pthread_mutex_lock(&fr->lock);
  size_t room = fr->stop ? 0 : FRONTIER_RING - fr->count;
  pthread_mutex_unlock(&fr->lock);
  if (fr->max_pages > 0) {
    int64_t left = fr->max_pages - fr->taken;
    if (left < 0)
      left = 0;
    if ((int64_t)room > left)
      room = (size_t)left;
  }
  if (!room)
    return 0;
  /* Host by host even without a cap: each take is then a range of the
   * host's queue index, where one across hosts would sort the whole
   * queue (store_take). */
  int rc = take_fair(fr, room, items, n);
  if (rc == 0)
    fr->taken += (int64_t)*n;
  return rc;
}

/* Hands the taken URLs to the loops, and ends the crawl when nothing is
 * left to do. */
static void push_taken(struct frontier *fr, struct store_item *items, size_t n)
{
  int64_t q = 0, inf = 0;
  store_counts(fr->store, &q, &inf, NULL);
  int wake = 0;
  pthread_mutex_lock(&fr->lock);
  for (size_t i = 0; i < n; i++) {
    fr->ring[(fr->head + fr->count) % FRONTIER_RING] = items[i];
    fr->count++;
    items[i].url = NULL; /* the ring owns it now */
  }
  wake = n > 0;
  int out_of_work =
      q == 0 || (fr->max_pages > 0 && fr->taken >= fr->max_pages);
  if (!fr->ended && out_of_work && inf == 0) {
    fr->ended = 1;
    wake = 1;
  }
  pthread_mutex_unlock(&fr->lock);
  store_items_free(items, n);
  publish_counts(fr);
  if (wake && fr->notify)
    fr->notify(fr->notify_arg);
}

int frontier_open(struct frontier **out, const struct frontier_options *o,
                  char err[256])
{
  struct frontier *fr = calloc(1, sizeof(*fr));
  struct store_item *items = NULL;
  size_t n = 0;
  int rc;
  *out = NULL;
  if (!fr) {
    snprintf(err, 256, "out of memory");
    return -ENOMEM;
  }
  pthread_mutex_init(&fr->lock, NULL);
  /* Without memory for the cache the store's probe does the work. */
  fr->seen.slot = calloc(SEEN_SLOTS, sizeof(*fr->seen.slot));
  fr->seen.arena = malloc(SEEN_ARENA);
  if (!fr->seen.slot || !fr->seen.arena)
    seen_free(&fr->seen);
  fr->max_pages = o->max_pages;
  fr->host_cap = o->host_cap;
  fr->exact_depth = o->exact_depth;
  fr->hosts.fail_every = o->fail_host_every;
  fr->hosts.max = o->hosts_max > 0 ? o->hosts_max : FRONTIER_HOSTS_MAX;
  /* The queued URLs' hosts are in the store: hosts_admit takes them in. */
  fr->hosts.spilled = 1;
  fr->hosts.clean = 1;
  fr->notify = o->notify;
  fr->notify_arg = o->notify_arg;
  rc = store_open(&fr->store, o->path, err);
  if (rc)
    goto fail;
  rc = store_begin(fr->store);
  if (rc)
    goto fail_msg;
  rc = store_meta_expect(fr->store, "crawl", o->identity);
  if (rc == -EEXIST) {
    snprintf(err, 256,
             "%s holds another crawl (%s); use another file, or the same "
             "seeds and options",
             o->path, store_errmsg(fr->store));
    store_rollback(fr->store);
    goto fail;
  }
  size_t requeued = 0, retried = 0;
  if (!rc)
    rc = store_requeue_in_flight(fr->store, &requeued);
  if (!rc)
    rc = store_requeue_retry(fr->store, &retried);
  for (int i = 0; !rc && i < o->nseeds; i++)
    rc = store_add_urls(fr->store, &o->seeds[i], 1, 0, 0, NULL);
  int64_t done = 0, q = 0;
  if (!rc)
    rc = store_counts(fr->store, &q, NULL, &done);
  fr->taken = done;
  fr->complete = q == 0;
  if (!rc)
    rc = take_more(fr, &items, &n);
  if (rc) {
    store_rollback(fr->store);
    goto fail_msg;
  }
  rc = store_commit(fr->store);
  if (rc)
    goto fail_msg;
  STAT_SET(fr, requeued, (int64_t)requeued);
  STAT_SET(fr, requeued_retry, (int64_t)retried);
  STAT_SET(fr, resumed_done, done);
  push_taken(fr, items, n);
  *out = fr;
  return 0;

fail_msg:
  /* The store's message names the file; -ENOMEM may be the hosts'. */
  if (rc == -ENOMEM)
    snprintf(err, 256, "%s: out of memory", o->path);
  else
    snprintf(err, 256, "%s", store_errmsg(fr->store));
fail:
  store_items_free(items, n);
  store_close(fr->store);
  pthread_mutex_destroy(&fr->lock);
  seen_free(&fr->seen);
  hosts_free(&fr->hosts);
  free(fr);
  return rc;
}

int frontier_close(struct frontier *fr, char err[256])
{
  if (!fr)
    return 0;
  /* URLs never handed out go back with the cancelled ones: all are still
   * in flight in the store. */
  for (; fr->count; fr->count--) {
    free(fr->ring[fr->head].url);
    fr->head = (fr->head + 1) % FRONTIER_RING;
  }
  int rc = store_requeue_in_flight(fr->store, NULL);
  if (rc)
    snprintf(err, 256, "%s", store_errmsg(fr->store));
  store_close(fr->store);
  pthread_mutex_destroy(&fr->lock);
  seen_free(&fr->seen);
  hosts_free(&fr->hosts);
  free(fr);
  return rc;
}

int frontier_next(void *arg, struct input_line *out)
{
  struct frontier *fr = arg;
  pthread_mutex_lock(&fr->lock);
  if (fr->stop || (!fr->count && fr->ended)) {
    pthread_mutex_unlock(&fr->lock);
    return -1;
  }
  if (!fr->count) {
    pthread_mutex_unlock(&fr->lock);
    return 0;
  }
  struct result_crawl *c = calloc(1, sizeof(*c));
  if (!c) {
    pthread_mutex_unlock(&fr->lock);
    return 0; /* stays in the ring; the next result retries */
  }
  /* Copied out under the lock: once head moves, the writer may refill
   * the slot. */
  struct store_item it = fr->ring[fr->head];
  fr->ring[fr->head].url = NULL;
  fr->head = (fr->head + 1) % FRONTIER_RING;
  fr->count--;
  pthread_mutex_unlock(&fr->lock);
  c->id = it.id;
  c->depth = it.depth;
  out->text = it.url;
  out->len = strlen(it.url);
  out->truncated = 0;
  out->crawl = c;
  return 1;
}

void frontier_stop(void *arg)
{
  struct frontier *fr = arg;
  pthread_mutex_lock(&fr->lock);
  fr->stop = 1;
  pthread_mutex_unlock(&fr->lock);
}

int frontier_complete(const struct frontier *fr)
{
  return fr->complete;
}

void frontier_get_stats(const struct frontier *fr, struct frontier_stats *st)
{
  const int64_t *src = (const int64_t *)&fr->st;
  int64_t *dst = (int64_t *)st;
  for (size_t i = 0; i < sizeof(*st) / sizeof(int64_t); i++)
    dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}

/* ---- the sink format: runs on the writer thread ------------------------ */

static int fr_open(struct sink_out **out, const char *path,
                   const struct sink_options *opt, char *err)
{
  (void)path;
  (void)err;
  *out = opt->format_arg;
  return 0;
}

/* Queues the keys in p[0..len) (each ended by '\0') that the frontier
 * does not have, at depth with referrer (0: none). */
static int add_keys(struct frontier *fr, const char *p, size_t len, int depth,
                    int64_t referrer, size_t *added)
{
  enum { CHUNK = 256 };
  const char *keys[CHUNK];
  unsigned char fresh[CHUNK];
  const char *end = p + len;
  *added = 0;
  while (p < end) {
    size_t k = 0;
    while (p < end && k < CHUNK) {
      if (!seen_has(&fr->seen, p))
        keys[k++] = p;
      p += strlen(p) + 1;
    }
    size_t a = 0;
    int rc =
        k ? store_add_urls_each(fr->store, keys, k, depth, referrer, &a, fresh)
          : 0;
    if (rc)
      return rc;
    for (size_t i = 0; i < k; i++) {
      seen_add(&fr->seen, keys[i]);
      if (!fresh[i])
        continue;
      struct hosts *hs = &fr->hosts;
      size_t hl = store_host_len(keys[i]);
      struct fhost *h = host_find(hs, keys[i], hl);
      if (!h && hs->n >= hs->max) {
        hosts_left_out(hs); /* hosts_admit takes it in later */
        continue;
      }
      /* A URL queued under a host the writer cannot record would never
       * be taken, and the crawl would wait for it forever: fail the write
       * instead (rolled back; the crawl stops and can be resumed). */
      if (!h) {
        if (!(h = host_add(hs, keys[i], hl)))
          return -ENOMEM;
        /* While hosts are spilled this one may have URLs in the store
         * that no count took in: counted as "some", it stays until a
         * take finds it drained, and is never dropped with URLs left. */
        h->queued = hs->spilled ? QUEUED_SOME : 0;
      }
      h->queued++;
    }
    *added += a;
  }
  return 0;
}

static int fr_write(struct sink_out *o, struct result *const *rs, size_t n,
                    char *err)
{
  struct frontier *fr = (struct frontier *)(void *)o;
  struct store_item *items = NULL;
  size_t nitems = 0;
  int64_t stored = 0, discovered = 0, links = 0, retry = 0;
  int64_t drops[CRAWL_DROP_N] = {0};
  int rc = 0;
  if (!fr->in_tx) {
    rc = store_begin(fr->store);
    fr->in_tx = rc == 0;
    fr->tx_start_ms = now_ms();
    fr->tx_rows = 0;
  }
  for (size_t i = 0; !rc && i < n; i++) {
    const struct result *r = rs[i];
    const struct result_crawl *c = r->crawl;
    if (c) { /* back from the loop, whatever became of it */
      struct fhost *h = host_find(&fr->hosts, r->url, store_host_len(r->url));
      if (h && h->out > 0)
        h->out--;
    }
    /* Cancelled: not an outcome. It stays in flight, queued again when
     * the crawl is closed or resumed. */
    if (!c || ERR_IS(r->error, ERR_CANCELLED))
      continue;
    rc = store_put_page(fr->store, c->id, r, c->depth, c->text, c->text_len);
    if (!rc && c->retry_later) {
      rc = store_retry_later(fr->store, c->id);
      retry++;
    }
    size_t added = 0, more = 0;
    if (!rc && c->nfollow)
      rc = add_keys(fr, c->follow, c->follow_len, c->depth + 1, c->id, &added);
    if (!rc && c->more_len)
      rc = add_keys(fr, c->more, c->more_len, 1, 0, &more);
    added += more;
    stored++;
    discovered += (int64_t)added;
    links += r->nlinks;
    for (int k = 0; k < CRAWL_DROP_N; k++)
      drops[k] += c->drops[k];
  }
  if (!rc)
    rc = take_more(fr, &items, &nitems);
  fr->tx_rows += (size_t)stored;
  if (!rc && (fr->tx_rows >= COMMIT_ROWS ||
              now_ms() - fr->tx_start_ms >= COMMIT_MS)) {
    fr->in_tx = 0;
    rc = store_commit(fr->store);
  }
  if (rc) {
    snprintf(err, SINK_ERRMSG_MAX, "crawl store: %s",
             rc == -ENOMEM ? "out of memory" : store_errmsg(fr->store));
    store_rollback(fr->store);
    fr->in_tx = 0;
    seen_clear(&fr->seen); /* it may name keys that were rolled back */
    store_items_free(items, nitems);
    return rc;
  }
  STAT_ADD(fr, stored, stored);
  STAT_ADD(fr, retry_later, retry);
  STAT_ADD(fr, discovered, discovered);
  STAT_ADD(fr, links, links);
  for (int k = 0; k < CRAWL_DROP_N; k++)
    STAT_ADD(fr, drops[k], drops[k]);
  push_taken(fr, items, nitems);
  return 0;
}

static int commit(struct frontier *fr, char *err)
{
  if (!fr->in_tx)
    return 0;
  fr->in_tx = 0;
  int rc = store_commit(fr->store);
  if (rc)
    snprintf(err, SINK_ERRMSG_MAX, "crawl store: %s", store_errmsg(fr->store));
  return rc;
}

/* The writer has nothing queued: commit, so that what is stored is
 * visible and safe while it waits (it may wait long: a Crawl-delay). */
static int fr_flush(struct sink_out *o, char *err)
{
  return commit((struct frontier *)(void *)o, err);
}

/* frontier_close closes the store; what is written is committed here. */
static int fr_close(struct sink_out *o, int failed, char *err)
{
  struct frontier *fr = (struct frontier *)(void *)o;
  if (failed) {
    store_rollback(fr->store);
    fr->in_tx = 0;
    seen_clear(&fr->seen);
    return 0;
  }
  return commit(fr, err);
}

const struct sink_format frontier_sink_format = {
    fr_open,
    fr_write,
    fr_flush,
    fr_close,
};
