/* url: checking and normalising the URLs spate is asked to fetch, with
 * libcurl's URL API (curl_url) doing the parsing.
 *
 * A URL without a scheme gets http://, as in curl and wget. Only http and
 * https pass; the host key groups URLs for per-host politeness. */
#ifndef SPATE_URL_H
#define SPATE_URL_H

#include <curl/curl.h>
#include <stddef.h>
#include <stdint.h>

#define URL_MAX_LEN_DEFAULT 8192

struct url_info {
  char *url;     /* normalised absolute URL (owned, curl_free() it) */
  char *hostkey; /* "scheme://host:port", lower case (owned, free()) */
  /* The parsed URL (owned): given to curl as CURLOPT_CURLU, it spares
   * curl parsing and printing the URL again for the transfer. A caller
   * may take it (and set it NULL) before url_info_free. */
  CURLU *uh;
};

/* Parses in[0..len). On success fills *out and returns NULL; on failure
 * returns the stable error code (ERR_BAD_URL, ERR_URL_TOO_LONG,
 * ERR_UNSUPPORTED_SCHEME) and leaves *out zeroed. */
const char *url_check(const char *in, size_t len, size_t max_len,
                      struct url_info *out);
void url_info_free(struct url_info *u);
/* Whether s starts with a scheme other than http(s) and is not a
 * "host:port" ("mailto:x", "javascript:y", "ftp://h"): a URL of a kind we
 * do not fetch rather than a malformed one. curl would read
 * "mailto:me@host" as user "mailto" at "host", so callers check this
 * before parsing. */
int url_has_other_scheme(const char *s);
/* The "scheme://host:port" key of an absolute URL; NULL if it does not
 * parse. Caller frees. */
char *url_hostkey(const char *url);
/* FNV-1a of a NUL-terminated string: the hash of the engine's tables of
 * URLs and host keys. */
uint64_t url_hash(const char *s);
/* The same of p[0..n). */
uint64_t url_hash_n(const char *p, size_t n);

#endif
