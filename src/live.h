/* live: the dashboard, its streams, /health, /metrics and the API beside a
 * running fetch or crawl job (docs/LIVE.md).
 *
 * It runs on a loop and thread of its own, with its own httpd. The job's
 * loops hand it their counts through the scheduler's observe hook (every
 * 100 ms, on their threads, under a mutex); the live loop merges them ten
 * times a second into a "tick" that it broadcasts to every WebSocket and
 * SSE subscriber and keeps for /api/stats and /metrics. The job never
 * waits for a browser: a slow subscriber is dropped by httpd. */
#ifndef SPATE_LIVE_H
#define SPATE_LIVE_H

#include "scheduler.h"

struct live;
struct frontier;
struct input;
struct sink;

struct live_options {
  const char *addr;     /* "[ADDR:]PORT"; ADDR defaults to 127.0.0.1 */
  const char *job_kind; /* "fetch" or "crawl" */
  const char *job_name; /* shown on the dashboard */
  const char *web_dir;  /* NULL: $SPATE_WEB_DIR, else the build's web/ */
  int nloops;           /* schedulers that will observe */
  struct frontier *fr;  /* a crawl's, for "queued" (or NULL) */
  struct input *in;     /* a fetch's, for "queued" (or NULL) */
  struct sink *sink;    /* for readiness (may be NULL) */
  /* Stops the job gracefully (thread-safe): the dashboard's Stop. */
  void (*stop)(void *arg);
  void *stop_arg;
};

/* Parses "[ADDR:]PORT" ("8080", "127.0.0.1:0", "[::1]:8080",
 * "0.0.0.0:8080"). Returns 0, or -1 for a malformed one. host gets the
 * address (or "127.0.0.1"). */
int live_parse_addr(const char *s, char host[64], int *port);

/* Starts the service; prints its URL (and, off loopback, the login link
 * with the token) on stderr unless quiet. Returns 0, or a negative errno
 * with a one-line reason in err. */
int live_start(struct live **out, const struct live_options *o, int quiet,
               char err[256]);
/* The scheduler observe hook for loop i: pass live_observe and
 * live_observe_arg(l, i) in its options. */
void live_observe(void *arg, struct scheduler *s);
void *live_observe_arg(struct live *l, int i);
/* "starting", "running", "stopping", "done", "failed" (thread-safe). */
void live_set_state(struct live *l, const char *state);
/* The port bound (after live_start). */
int live_port(const struct live *l);
/* Broadcasts the final tick, closes every subscriber (WebSocket 1001),
 * stops the thread and frees l. NULL-safe. */
void live_stop(struct live *l);

#endif
