/* scheduler: runs one fetch job on one loop — admission from the input,
 * per-host queues and politeness, retries, redirects, the circuit breaker,
 * hand-off to extraction (thread pool) and to the sink (writer thread).
 *
 *   input ──► admit ──► host queue ──► fetcher ──► decide:
 *   (reader     (live < cap)   (per-host cap,  (curl on   redirect: requeue
 *    thread)                    rate, breaker)  the loop)  transient: retry
 *                                                         final: extract ──►
 * sink
 *
 * Every admitted URL yields exactly one result. "Live" counts URLs from
 * admission until the sink has written them; admission stops at live_cap,
 * so a slow sink stalls the input, never memory. All state is in struct
 * scheduler: two schedulers on two loops share nothing. */
#ifndef SPATE_SCHEDULER_H
#define SPATE_SCHEDULER_H

#include "extract.h"
#include "fetcher.h"
#include "histogram.h"
#include "input.h"

#include <stdatomic.h>
#include <stdint.h>
#include <uv.h>

struct sink;
struct host;
struct job;
struct scheduler;

/* What the schedulers of one run share when it runs on several loops (one
 * per core): the input, the sink, and the count of live URLs, so the
 * memory bound holds for the run as a whole. Each loop takes URLs from the
 * input as it has room, so the loops balance themselves. */
#define SCHEDULER_MAX_LOOPS 16

struct scheduler_shared {
  atomic_uint_fast64_t live; /* admitted, not yet written, all loops */
  uint64_t live_cap;
  struct scheduler *loops[SCHEDULER_MAX_LOOPS];
  int nloops;
};

/* Where a loop takes its URLs from: the input (a fetch) or the crawl's
 * frontier. next has input_next's contract (1 a line, 0 none yet and
 * notify will fire, -1 the end); stop asks for no more. Thread-safe. */
struct scheduler_source {
  int (*next)(void *arg, struct input_line *out);
  void (*stop)(void *arg);
  void *arg;
};

struct scheduler_options {
  int concurrency; /* global in-flight cap (-c) */
  int per_host;    /* in-flight cap per host (--per-host) */
  double rate;     /* requests/s per host, <= 0: no limit */
  int retries;     /* extra attempts for transient failures */
  uint64_t backoff_base_ms;
  uint64_t backoff_cap_ms;
  uint64_t max_retry_after_ms; /* a longer Retry-After ends the URL */
  int max_redirects;
  size_t max_url_len;
  int breaker_threshold; /* consecutive failures; <= 0: off */
  uint64_t breaker_cooldown_ms;
  uint64_t drain_ms; /* after the first SIGINT, in-flight grace */
  int backlog;       /* URLs admitted beyond the in-flight cap */
  int max_jobs;      /* URLs this loop holds before the sink; 0: concurrency +
                        backlog */
  /* Several loops share one input: take a URL only while this loop has
   * a transfer slot free, so a loop whose share of -c is busy leaves the
   * input to the others instead of queueing URLs they could start now. */
  int take_for_free_slot;
  size_t inline_extract_max; /* bodies up to this size are scanned on the
                                loop; larger ones in the thread pool */
  struct fetcher_options fetch;
  const struct extract_spec *extract;
  /* Crawl: a 3xx is the URL's result (its target goes to the frontier as
   * a link) instead of being followed. */
  int crawl;
  /* robots.txt product token: when set, a host's /robots.txt is fetched
   * before anything else on it, and URLs it disallows end with
   * ERR_ROBOTS without a request; its Crawl-delay (at most
   * max_crawl_delay_ms) paces the host. */
  const char *robots_agent;
  uint64_t max_crawl_delay_ms;
  /* When set, every connection is checked (netguard.h); private_ok says
   * per host key whether private addresses may be used. */
  int (*private_ok)(const void *arg, const char *hostkey);
  const void *private_arg;
  /* A crawl: the seeds' "scheme://host:port" keys, the only hosts the -H
   * Authorization and Cookie headers and -b cookies go to (a fetch: NULL,
   * every URL's own host, not a redirect elsewhere). */
  const char *const *cred_hosts;
  int ncred_hosts;
  /* Called on the loop's thread every 100 ms while the run lasts, and
   * once at its end (the live dashboard copies the counts it needs). */
  void (*observe)(void *arg, struct scheduler *s);
  void *observe_arg;
  /* Testing aid (SPATE_TEST_FAIL_ADMIT): every Nth admission finds no
   * memory for its job on the first try, as under memory pressure. 0:
   * never. */
  unsigned fail_admit_every;
};

#define STATS_MAX_ERRORS 32

struct scheduler_stats {
  /* done and failed are also read by the progress line on another loop's
   * thread: written with relaxed atomic stores. */
  uint64_t admitted, done, ok, failed, retries, redirects;
  uint64_t status_class[6]; /* 0 = no status, 1xx..5xx */
  struct {
    const char *code;
    uint64_t n;
  } errors[STATS_MAX_ERRORS];
  int nerrors;
  uint64_t bytes;
  uint64_t breaker_trips;
  uint64_t admit_waits;    /* admissions that found no memory and waited */
  uint64_t robots_fetched; /* robots.txt files fetched (or given up on) */
  int inflight;
  uint64_t start_ns;
  struct histogram latency_us; /* elapsed_ms of each result, in µs */
  struct histogram ttfb_us;
};

/* One host as the dashboard shows it (scheduler_top_hosts). */
struct scheduler_host_info {
  char host[96]; /* the host key, cut */
  int inflight, queued;
  uint64_t done, failed;
  int breaker; /* enum breaker_state */
};

struct scheduler {
  /* Hashes of the host keys whose robots.txt Sitemap lines were taken: a
   * host forgotten when idle and met again has them counted once. */
  uint64_t *sitemap_hosts;
  size_t sitemap_hosts_n, sitemap_hosts_cap;
  uv_loop_t *loop;
  struct scheduler_options opt;
  struct scheduler_source src;
  struct sink *sink;
  struct fetcher fetcher;
  uv_async_t wake;         /* input lines ready, results written */
  uv_check_t flush;        /* hands the iteration's results to the sink */
  struct result **pending; /* results of this loop iteration */
  size_t npending, pending_cap;
  uv_signal_t sigint, sigterm;
  uv_timer_t drain_timer, gc_timer;
  int nsignals;

  /* hosts: a chained hash table, resized by doubling */
  struct host **table;
  size_t table_size, nhosts;
  struct host *ready_head, *ready_tail; /* hosts that may start a job */

  struct job *jobs; /* every job not yet handed to the sink */
  int njobs;
  int inflight;
  int nqueued;      /* jobs in the hosts' queues */
  int idle_closing; /* fetcher_close_idle was called */
  struct scheduler_shared *shared;
  int input_done;
  /* A line taken from the input that could not be admitted for want of
   * memory: it keeps its live slot and is tried again by held_timer. */
  struct input_line held;
  int has_held;
  uv_timer_t held_timer;
  uint64_t admit_seq; /* for fail_admit_every */
  int stopping;       /* SIGINT/SIGTERM or a sink failure */
  int interrupted;    /* the signal that stopped the run, or 0 */
  int stop_started;
  int closing;
  int sink_failed;
  uint64_t rng;
  struct scheduler_stats stats;
  uv_timer_t observe_timer;
  int stop_requested; /* atomic: scheduler_request_stop */
};

/* Prepares one loop's part of a run with the given source and sink (both
 * opened by the caller, who closes them after every loop has returned) and
 * registers it in shared (zeroed, live_cap set, by the caller). opt's caps
 * are this loop's share. */
int scheduler_init(struct scheduler *s, uv_loop_t *loop,
                   const struct scheduler_options *opt,
                   const struct scheduler_source *src, struct sink *sink,
                   struct scheduler_shared *shared);
/* The source for a fetch: in (the caller's struct input). */
struct scheduler_source scheduler_input_source(struct input *in);
/* The input's notify hook (arg: the shared struct): thread-safe, wakes
 * every loop. */
void scheduler_notify(void *shared);
/* The sink's on_written hook (arg: the shared struct): thread-safe. */
void scheduler_written(void *shared, size_t n);
/* Runs this loop until the input has ended (or the run was stopped) and
 * every URL it admitted has gone to the sink. The caller starts the input
 * once, after every loop's scheduler_init. Returns 0. */
int scheduler_run(struct scheduler *s);
/* Asks the run to stop as the first SIGINT does (thread-safe). The run
 * then reports interrupted = SIGINT. */
void scheduler_request_stop(struct scheduler *s);
/* The busiest hosts (in flight, then queued), at most max, into out;
 * returns how many. Call on the loop's thread (from observe). */
int scheduler_top_hosts(struct scheduler *s, struct scheduler_host_info *out,
                        int max);
/* Adds the counts and distributions of from into into. */
void scheduler_stats_merge(struct scheduler_stats *into,
                           const struct scheduler_stats *from);
/* Releases what scheduler_init and the run allocated. Call it after the
 * sink and the input are closed (their threads signal the loop). */
void scheduler_free(struct scheduler *s);

#endif
