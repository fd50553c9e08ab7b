/* frontier: a crawl's URLs on their way between the store and the loops.
 *
 *   store (SQLite)  ──store_take──►  ring  ──frontier_next──►  loops
 *        ▲                                                      │
 *        └── pages, links, new keys (one transaction) ◄── sink ◄┘
 *
 * The store belongs to one thread, the sink's writer: the frontier is
 * that sink's format (frontier_sink_format). Each batch of results is
 * stored with the URLs it discovered and the ring is topped up from the
 * queue, in one transaction that spans batches — so a crash at any
 * moment leaves every URL queued, in flight (requeued on the next open)
 * or done with its page row; a take not yet committed is rolled back
 * with the pages, its URLs simply queued again (docs/STORE.md).
 * The loops take URLs from the ring as from an input (the scheduler's
 * source); the writer wakes them when it adds some or when the crawl is
 * over: nothing queued, nothing in flight, or --max-pages reached.
 *
 * Memory: the ring holds at most FRONTIER_RING URLs and the writer at
 * most FRONTIER_HOSTS_MAX hosts; everything else waits in the store. A
 * result that was cancelled (a stopped run) is not stored: its URL stays
 * in flight and is queued again when the crawl is closed or resumed. */
#ifndef SPATE_FRONTIER_H
#define SPATE_FRONTIER_H

#include "result.h"
#include "sink_impl.h"

#include <stdint.h>

struct input_line;
struct frontier;

#define FRONTIER_RING 2048
#define FRONTIER_HOSTS_MAX 16384

struct frontier_options {
  const char *path; /* the store file */
  /* Seeds as normalised keys, queued at depth 0 (already known ones are
   * not queued again, so a resumed crawl does not refetch them). */
  const char *const *seeds;
  int nseeds;
  /* The crawl's identity (seeds, scope, patterns, depth as one text):
   * a store holding another crawl is refused. */
  const char *identity;
  int64_t max_pages; /* pages stored in all runs, at most; <= 0: none */
  /* URLs of one host handed out and not yet written back, at most, while
   * other hosts have URLs queued (a host alone is not held back): a slow
   * host (Crawl-delay, --rate) cannot fill the loops' admitted jobs and
   * starve the others. <= 0: no limit. */
  int64_t host_cap;
  /* Breadth-first by whole levels within each host: a host's URLs at depth
   * d are handed out only once none of its URLs at a smaller depth is
   * queued or out, so that a page's recorded depth is its link distance
   * and --max-depth misses nothing within it (links between hosts can
   * still arrive late). A level's slowest page holds its host's next
   * level back: set with an explicit --max-depth. */
  int exact_depth;
  /* Hosts the writer keeps in memory at once, at most (those with URLs
   * out, and as many with URLs queued as fit; the others wait in the
   * store until there is room); 0: FRONTIER_HOSTS_MAX. */
  size_t hosts_max;
  /* Testing aid (SPATE_TEST_FAIL_HOST): every Nth host the writer would
   * record fails as if out of memory; 0: never. */
  unsigned fail_host_every;
  /* Wakes the loops (thread-safe). */
  void (*notify)(void *arg);
  void *notify_arg;
};

/* Counters, written by the writer thread and read by anyone (relaxed
 * atomics). queued/in_flight/done are the store's, done including
 * earlier runs; stored is this run's pages. */
struct frontier_stats {
  int64_t queued, in_flight, done;
  int64_t resumed_done;   /* done when this run opened the store */
  int64_t requeued;       /* in flight from a killed run, queued again */
  int64_t requeued_retry; /* failed for their host's sake last run, again */
  int64_t stored;         /* pages stored by this run */
  int64_t discovered;     /* new URLs queued by this run */
  int64_t links;          /* links seen on this run's pages */
  /* URLs this run ended for their host's sake (breaker open, robots.txt
   * unavailable): stored with the error, queued again by the next run. */
  int64_t retry_later;
  int64_t drops[CRAWL_DROP_N];
  /* The most hosts the writer held in memory at once
   * (frontier_options.hosts_max); hosts taken in from the store after
   * waiting there while the set was full. */
  int64_t hosts_held_max, hosts_waited;
};

/* Opens (or resumes) the store, queues the seeds and fills the ring.
 * Returns 0, or a negative errno with a one-line reason in err: -EEXIST
 * when the store holds another crawl. */
int frontier_open(struct frontier **out, const struct frontier_options *o,
                  char err[256]);
/* After the sink is closed: queues again what is still in flight (a
 * stopped run), records the time, and closes the store. Returns 0 or a
 * negative errno with the reason in err. NULL-safe. */
int frontier_close(struct frontier *fr, char err[256]);

/* The scheduler's source (struct scheduler_source), arg = fr. */
int frontier_next(void *fr, struct input_line *out);
void frontier_stop(void *fr);

/* Whether the crawl had nothing left to do when opened (a finished
 * crawl run again). */
int frontier_complete(const struct frontier *fr);
void frontier_get_stats(const struct frontier *fr, struct frontier_stats *st);

/* The sink format of a crawl; sink_options.format_arg = fr. */
extern const struct sink_format frontier_sink_format;

#endif
