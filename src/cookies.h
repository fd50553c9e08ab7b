/* cookies: a run's cookie jar, one for every transfer of every loop.
 *
 * libcurl's cookie engine (RFC 6265 matching by domain, path, expiry and
 * Secure) in a share handle, locked for the loops' threads. Cookies a
 * response sets go with later requests to the hosts they belong to, as in
 * a browser, wget2 or Scrapy. A jar can start from a Netscape cookie file
 * (what curl -c and wget --save-cookies write, and browser extensions
 * export) and be saved to one at the end.
 *
 * Bounded: each time responses have set COOKIES_CHECK_EVERY more cookies
 * the jar is counted, and past COOKIES_MAX (the total a browser such as
 * Chrome keeps) it is emptied, so a site that sets a new cookie on every
 * page cannot grow it without end: it holds at most about COOKIES_MAX +
 * COOKIES_CHECK_EVERY (and what the responses in flight set meanwhile).
 * libcurl itself takes at most 50 cookies from one
 * response and sends at most 150. */
#ifndef SPATE_COOKIES_H
#define SPATE_COOKIES_H

#include <curl/curl.h>
#include <stddef.h>
#include <uv.h>

#define COOKIES_MAX 3000
#define COOKIES_CHECK_EVERY 1000
#define COOKIES_EFILE (-1) /* the file to load cannot be read */
#define COOKIES_ESELF (-2) /* no memory, no lock */

struct cookies {
  CURLSH *share;
  uv_mutex_t lock[CURL_LOCK_DATA_LAST];
  int nlocks;
  long set_seen; /* Set-Cookie headers seen in the run (atomic) */
  long cleared;  /* times the jar was emptied at COOKIES_MAX (atomic) */
};

/* An empty jar, then the cookies of the Netscape file load when not NULL.
 * 0, or COOKIES_EFILE or COOKIES_ESELF with a one-line reason in err;
 * *loaded (when not NULL) is how many cookies the file gave. */
int cookies_init(struct cookies *c, const char *load, long *loaded, char *err,
                 size_t errlen);
/* Makes e use the jar. */
void cookies_attach(struct cookies *c, CURL *e);
/* A response of e set n cookies: counts them, and empties the jar if it
 * has grown past COOKIES_MAX. Any thread. */
void cookies_seen(struct cookies *c, CURL *e, long n);
/* Cookies in the jar now; -1 when they cannot be listed. */
long cookies_count(struct cookies *c);
/* Writes the jar to path as a Netscape cookie file: a new file readable
 * by its owner only (0600), renamed over path. 0, or -1 with a one-line
 * reason in err. */
int cookies_save(struct cookies *c, const char *path, char *err,
                 size_t errlen);
/* After every handle attached has been cleaned up. */
void cookies_free(struct cookies *c);

#endif
