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
  /* Descriptors the job may need at once (its in-flight cap): dashboard
   * connections are capped so as to leave them (httpd_options). */
  int reserve_fds;
  struct frontier *fr; /* a crawl's, for "queued" (or NULL) */
  struct input *in;    /* a fetch's, for "queued" (or NULL) */
  struct sink *sink;   /* for readiness (may be NULL) */
  /* Stops the job gracefully (thread-safe): the dashboard's Stop. */
  void (*stop)(void *arg);
  void *stop_arg;
  /* spate serve: the sources are the service's own (live_publish_sources)
   * and the API's actions on them go to action, on the live thread; it
   * must be thread-safe and quick (queue the work), and returns an HTTP
   * status with a one-line message in msg. name is NULL for "add" (body:
   * the source as a JSON object). Actions: "stop", "start", "remove",
   * "add". NULL: the job is the one source. */
  int (*action)(void *arg, const char *name, const char *action,
                const char *body, size_t len, char *msg, size_t msglen);
  void *action_arg;
};

/* spate serve (thread-safe): the sources as a JSON array (copied), shown
 * in every tick and at /api/sources. */
void live_publish_sources(struct live *l, const char *json);
/* spate serve (thread-safe): source name's recent items as a JSON array
 * (copied), served at /api/sources/NAME/items; also broadcast at once as
 * {"type":"items","source":NAME,"items":[the new ones]} when fresh is
 * non-NULL (the new items, a JSON array). */
void live_publish_items(struct live *l, const char *name, const char *recent,
                        const char *fresh);
/* Forgets source name's items (it was removed). */
void live_forget_source(struct live *l, const char *name);
/* spate serve (thread-safe): the service's own totals, as a loop's
 * observe hook would report them (slot 0). */
void live_publish_stats(struct live *l, const struct scheduler_stats *st,
                        int inflight);

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
