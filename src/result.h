/* result: the one record every input URL yields, success or failure.
 *
 * Field names and meanings are the stable output contract (docs/spate.1,
 * "RESULT FORMAT"). A result is built on the loop and extraction threads,
 * then handed whole to a sink, which owns it from then on and frees it with
 * result_free(). */
#ifndef SPATE_RESULT_H
#define SPATE_RESULT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Stable error codes, printed as is; compare with ERR_IS. NULL means "no
 * error". */
#define ERR_TIMEOUT "timeout"
#define ERR_CONNECT "connect"
#define ERR_DNS "dns"
#define ERR_TLS "tls"
#define ERR_RESET "reset"
#define ERR_TRUNCATED "truncated"
#define ERR_TOO_LARGE "too_large"
#define ERR_ROBOTS "robots"
#define ERR_CIRCUIT_OPEN "circuit_open"
#define ERR_BLOCKED_ADDRESS "blocked_address"
#define ERR_HTTP "http"
#define ERR_BAD_URL "bad_url"
#define ERR_URL_TOO_LONG "url_too_long"
#define ERR_UNSUPPORTED_SCHEME "unsupported_scheme"
#define ERR_REDIRECT_LOOP "redirect_loop"
#define ERR_TOO_MANY_REDIRECTS "too_many_redirects"
#define ERR_PROTOCOL "protocol"
#define ERR_CANCELLED "cancelled"
#define ERR_INTERNAL "internal"

/* Whether error code e (may be NULL) is code. */
#define ERR_IS(e, code) ((e) != NULL && strcmp((e), (code)) == 0)

/* One --extract value: name is borrowed from the options (lives as long as
 * the run); json is an owned, already-serialised JSON value ("\"text\"",
 * "42", "null", an object...). */
struct result_field {
  const char *name;
  char *json;
};

/* Crawl reasons a discovered link is not followed (counted per page). */
enum crawl_drop {
  CRAWL_DROP_SCOPE,      /* outside --scope */
  CRAWL_DROP_EXCLUDED,   /* --exclude matched, or --include did not */
  CRAWL_DROP_DEPTH,      /* beyond --max-depth */
  CRAWL_DROP_LONG_URL,   /* trap: longer than --max-url-length */
  CRAWL_DROP_DEEP_PATH,  /* trap: too many path segments */
  CRAWL_DROP_REPEATED,   /* trap: a path segment repeated (a/a/a/...) */
  CRAWL_DROP_LONG_QUERY, /* trap: too long a query or too many params */
  CRAWL_DROP_BAD_URL,    /* not an http(s) URL that normalises */
  CRAWL_DROP_NOFOLLOW,   /* <meta name=robots content=nofollow> */
  CRAWL_DROP_N
};

/* What a crawl adds to a result: where the URL sits in the frontier, and
 * what the page gives the store. Owned by the result. */
struct result_crawl {
  int64_t id; /* frontier id (the page's id) */
  int depth;  /* link distance from the seeds */
  char *text; /* visible text to index, or NULL (noindex, not HTML) */
  size_t text_len;
  char *follow; /* normalised keys to queue, each ended by '\0' */
  size_t follow_len;
  int nfollow;
  /* Keys to queue that the page does not link to, likewise: the Sitemap
   * lines of its host's robots.txt, queued at depth 1 with no referrer
   * (handed to the first result of the host after robots.txt). */
  char *more;
  size_t more_len;
  int noindex, nofollow;
  /* The outcome is its host's, not the page's (breaker open, robots.txt
   * unavailable): stored in frontier state 3, fetched again by the next
   * run. */
  int retry_later;
  unsigned drops[CRAWL_DROP_N];
};

struct result {
  struct result_crawl *crawl; /* crawl runs only, else NULL */
  char *url;                  /* the input line, trimmed (owned, never NULL) */
  char *final_url;            /* after redirects (owned), NULL when no request
                                 was made */
  int status;                 /* last HTTP status, 0 when none */
  const char *error;          /* NULL or one of the ERR_* codes */
  int attempts;               /* requests made for this URL, redirect hops not
                                 counted; 0 when none was made */
  double elapsed_ms;  /* admission to completion, retry waits included */
  double ttfb_ms;     /* last attempt: request start to first byte, -1 */
  int64_t bytes;      /* body bytes after decoding */
  char *content_type; /* owned or NULL */
  char *title;        /* owned, valid UTF-8, whitespace collapsed, or NULL */
  int nlinks;         /* number of links found */
  char *links;        /* with --links: nlinks absolute URLs, each ended by
                         '\0', back to back (owned); else NULL */
  char *canonical;    /* owned or NULL */
  char *meta_robots;  /* owned or NULL */
  char hash[65];      /* SHA-256 of the body, lowercase hex; "" if none */
  int64_t fetched_at_us; /* Unix time of completion, microseconds */
  int nfields;
  struct result_field *fields; /* owned array of nfields */
};

/* A zeroed result for url (copied). Returns NULL when out of memory. */
struct result *result_new(const char *url, size_t len);
void result_free(struct result *r);
/* A crawl's part of a result, or of an input line not yet admitted.
 * NULL-safe. */
void result_crawl_free(struct result_crawl *c);

struct buf;
/* Formatting shared by the sinks and the crawl store. The put functions
 * write at o, which must have room (result_put_ms: 24 bytes,
 * result_put_time: 24), and return the end. result_put_time writes RFC
 * 3339 UTC with milliseconds. */
char *result_put_ms(char *o, double ms);
char *result_put_time(char *o, int64_t us);
/* r->links as a JSON array of strings. Returns 0 or -ENOMEM. */
int result_links_json(const struct result *r, struct buf *out);

/* Stable order of the CSV columns and SQLite columns, for documentation and
 * the sinks. */
extern const char *const result_columns[];

#endif
