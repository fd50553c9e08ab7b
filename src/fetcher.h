/* fetcher: libcurl's multi_socket API driven by a libuv loop.
 *
 * The fetcher moves bytes and reports how a transfer ended; it decides
 * nothing about retries, redirects or politeness (the scheduler does).
 * One fetcher per loop; it keeps a pool of easy handles so a steady run
 * allocates nothing per request but the body. */
#ifndef SPATE_FETCHER_H
#define SPATE_FETCHER_H

#include "buf.h"
#include "cookies.h"
#include "netguard.h"

#include <curl/curl.h>
#include <stdint.h>
#include <uv.h>

struct fetcher_options {
  long connect_timeout_ms;
  long ttfb_timeout_ms; /* request start to first response byte */
  long total_timeout_ms;
  long stall_timeout_ms; /* no body byte for this long */
  int64_t max_body;      /* decoded bytes; beyond: too_large */
  size_t max_headers;    /* total response header bytes */
  const char *user_agent;
  int insecure;     /* skip TLS verification */
  long buffer_size; /* curl receive buffer per transfer */
  /* Check every address a transfer connects to (netguard.h); each
   * transfer's guard.allow_private says whether private ones may be
   * used. A refusal ends the transfer with ERR_BLOCKED_ADDRESS. */
  int guard;
  /* -H: sent with every request (curl's rules: "Name:" takes a header
   * away, "Name;" sends it empty); NULL for none. Read only, shared. */
  const struct curl_slist *headers;
  const struct curl_slist *headers_cross; /* headers less the above */
  const char *cookie;      /* -b NAME=VALUE: a Cookie on every request */
  struct cookies *cookies; /* the run's jar; NULL: no cookie engine */
  /* With guard: the environment's proxies; the one a URL goes through
   * may be connected to whatever its range. Read only, shared. */
  const struct netguard_env *proxies;
};

/* Whether s[0..n) is an HTTP field name (an RFC 9110 token), and whether
 * it is a value curl can send as given (no control characters but tab,
 * so nothing ends the header early or adds another): what -H and a serve
 * source's headers must be. */
int fetcher_header_name_ok(const char *s, size_t n);
int fetcher_header_value_ok(const char *s, size_t n);

/* One request. The caller embeds it (in its job) and owns it; the fetcher
 * borrows it from fetcher_start() until the done callback. */
struct transfer {
  CURL *easy;
  struct transfer *prev, *next; /* in the fetcher's in-flight list */
  int listed;                   /* on the fetcher's in-flight list */
  struct fetcher_lane *lane;    /* while added to a multi handle */
  struct fetcher *fetcher;      /* set by fetcher_start */
  uint64_t start_ns, first_byte_ns;
  /* Last header or body byte, in the loop's cached milliseconds: the
   * stall check needs no more, and it costs no clock read per chunk. */
  uint64_t last_byte_ms;
  uv_loop_t *loop;
  size_t header_bytes;
  int too_large;
  int64_t max_body;
  size_t max_headers;
  const char *forced_error; /* set when the fetcher ends it itself */
  struct buf body;
  struct netguard guard; /* set allow_private before fetcher_start */
  /* Extra request headers (If-None-Match...), owned by the caller and
   * kept until done; NULL for none. */
  struct curl_slist *req_headers;
  int want_validators; /* keep ETag and Last-Modified of the response */
  int set_cookies;     /* Set-Cookie headers in the response */
  /* in: a redirect hop to another scheme, host or port than the URL's
   * first: the -H list without Authorization and Cookie, and no -b
   * cookies, as curl does. */
  int cross_origin;
  long timeout_ms; /* whole transfer; 0: the fetcher's total_timeout */
  /* Called just before the request goes out on its connection (after any
   * connect and TLS handshake; for each redirect hop too); NULL: none. */
  void (*on_sent)(struct transfer *t);

  /* Filled in when done: */
  int status;                 /* HTTP status of the response, 0 if none */
  const char *error;          /* NULL or an ERR_* code */
  double ttfb_ms;             /* -1 when no byte arrived */
  int64_t retry_after_ms;     /* parsed Retry-After, -1 when absent */
  char *content_type;         /* owned by the transfer, or NULL */
  char *location;             /* absolute redirect target, or NULL */
  char *etag, *last_modified; /* with want_validators, else NULL (owned) */
};

struct fetcher;
typedef void (*fetcher_done_cb)(struct fetcher *f, struct transfer *t,
                                void *arg);

/* One curl multi handle with its timer. curl 7.88 looks for a reusable
 * connection by walking every connection to the host, so one multi with
 * 10,000 connections to a host spends most of its CPU there; lanes of at
 * most FETCHER_LANE_SIZE transfers keep that walk short. */
#define FETCHER_LANE_SIZE 512
#define FETCHER_MAX_LANES 64

struct fetcher_lane {
  struct fetcher *f;
  CURLM *multi;
  uv_timer_t timer; /* curl's own timeout */
  int running;
  int active; /* transfers added to this lane */
};

struct fetcher {
  uv_loop_t *loop;
  struct fetcher_lane lanes[FETCHER_MAX_LANES];
  int nlanes;
  uv_timer_t sweep; /* first-byte and stall deadlines */
  struct fetcher_options opt;
  fetcher_done_cb done;
  void *arg;
  /* Every transfer in flight: the sweep checks first-byte and stall
   * deadlines, which curl has no option for (its low-speed limit counts
   * from the start, connect and first byte included). */
  struct transfer *inflight_head, *inflight_tail;
  CURL **pool;
  int npool, pool_cap;
  int closing;
  void (*closed_cb)(struct fetcher *f);
  int open_handles;
  /* The sockets curl polls, by descriptor (fetcher.c's struct fsock), and
   * the epoll set they are watched in, which libuv polls as one. */
  struct fsock **socks;
  int nsocks;
  int epfd;
  uv_poll_t epoll;
};

/* concurrency sizes the number of lanes. */
int fetcher_init(struct fetcher *f, uv_loop_t *loop,
                 const struct fetcher_options *opt, int concurrency,
                 fetcher_done_cb done, void *arg);
/* Starts fetching url into t. uh, when not NULL, is url already parsed
 * (url_check's handle, curl_url_get(uh, CURLUPART_URL) == url): curl then
 * need not parse it again. It must stay alive until the transfer is done.
 * Returns 0, or a negative code after which the done callback is NOT
 * called. */
int fetcher_start(struct fetcher *f, struct transfer *t, const char *url,
                  CURLU *uh);
/* Ends an in-flight transfer now with the given error code; the done
 * callback runs before this returns. */
void fetcher_cancel(struct fetcher *f, struct transfer *t, const char *err);
/* Frees what a finished transfer still holds (body, strings). */
void transfer_release(struct transfer *t);
/* From now on a connection is closed as soon as its transfer ends,
 * instead of being kept for the next one: for when no more are coming. */
void fetcher_close_idle(struct fetcher *f);
/* Cancels nothing: call when no transfer is in flight. closed runs once
 * every handle is closed. */
void fetcher_close(struct fetcher *f, void (*closed)(struct fetcher *f));

#endif
