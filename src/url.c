#include "url.h"

#include "result.h"

#include <ctype.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static char *hostkey_of(CURLU *h)
{
  char *scheme = NULL, *host = NULL, *port = NULL, *key = NULL;
  if (curl_url_get(h, CURLUPART_SCHEME, &scheme, 0) ||
      curl_url_get(h, CURLUPART_HOST, &host, 0) ||
      curl_url_get(h, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT))
    goto out;
  size_t n = strlen(scheme) + strlen(host) + strlen(port) + 5;
  key = malloc(n);
  if (key) {
    snprintf(key, n, "%s://%s:%s", scheme, host, port);
    for (char *p = key; *p; p++)
      if (*p >= 'A' && *p <= 'Z')
        *p = (char)(*p + 32);
  }
out:
  curl_free(scheme);
  curl_free(host);
  curl_free(port);
  return key;
}

int url_has_other_scheme(const char *s)
{
  const char *p = s;
  if (!isalpha((unsigned char)*p))
    return 0;
  while (isalnum((unsigned char)*p) || *p == '+' || *p == '-' || *p == '.')
    p++;
  if (*p != ':' || isdigit((unsigned char)p[1]))
    return 0;
  return !(p - s == 4 && strncasecmp(s, "http", 4) == 0) &&
         !(p - s == 5 && strncasecmp(s, "https", 5) == 0);
}

/* Host names are case-insensitive; one spelling keeps dedup and per-host
 * accounting exact. Lower-cases h's host and returns it (curl_free it), or
 * NULL when the host is unusable. *changed says whether h was altered. */
static char *lower_host(CURLU *h, int *changed)
{
  char *host = NULL;
  *changed = 0;
  if (curl_url_get(h, CURLUPART_HOST, &host, 0))
    return NULL;
  /* '%' belongs in no host name (an IPv6 zone id aside): curl would
   * otherwise keep it raw here and encoded in the URL. */
  if (host[0] != '[' && strchr(host, '%')) {
    curl_free(host);
    return NULL;
  }
  for (char *p = host; *p; p++)
    if (*p >= 'A' && *p <= 'Z') {
      *p = (char)(*p + 32);
      *changed = 1;
    }
  if (*changed && curl_url_set(h, CURLUPART_HOST, host, 0)) {
    curl_free(host);
    return NULL;
  }
  return host;
}

/* 5 for "https://...", 4 for "http://...", else 0. curl writes the scheme
 * of a URL it returns in lower case. */
static size_t http_scheme_len(const char *url)
{
  if (strncmp(url, "http://", 7) == 0)
    return 4;
  if (strncmp(url, "https://", 8) == 0)
    return 5;
  return 0;
}

/* "scheme://host:port" from the scheme of url, h's lower-cased host and its
 * port (the scheme's default when none is given). */
static char *make_hostkey(CURLU *h, const char *url, size_t schemelen,
                          const char *host)
{
  char *port = NULL, *key = NULL;
  if (curl_url_get(h, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT))
    return NULL;
  size_t n = schemelen + strlen(host) + strlen(port) + 5;
  key = malloc(n);
  if (key)
    snprintf(key, n, "%.*s://%s:%s", (int)schemelen, url, host, port);
  curl_free(port);
  return key;
}

const char *url_check(const char *in, size_t len, size_t max_len,
                      struct url_info *out)
{
  const char *err = ERR_BAD_URL;
  char *host = NULL;
  char *copy = NULL;
  CURLU *h = NULL;
  int changed;
  size_t schemelen;
  memset(out, 0, sizeof(*out));
  if (len > max_len)
    return ERR_URL_TOO_LONG;
  if (len == 0 || memchr(in, '\0', len))
    return ERR_BAD_URL;
  copy = malloc(len + 1);
  h = curl_url();
  if (!copy || !h) {
    err = ERR_INTERNAL;
    goto fail;
  }
  memcpy(copy, in, len);
  copy[len] = '\0';
  /* Spaces and controls are not in any URL a user means; curl would
   * otherwise percent-encode some of them silently. */
  for (size_t i = 0; i < len; i++)
    if ((unsigned char)copy[i] <= ' ')
      goto fail;
  /* Before parsing: curl would read "mailto:me@host" as user "mailto"
   * at host "host". */
  if (url_has_other_scheme(copy)) {
    err = ERR_UNSUPPORTED_SCHEME;
    goto fail;
  }
  if (curl_url_set(h, CURLUPART_URL, copy,
                   CURLU_GUESS_SCHEME | CURLU_NON_SUPPORT_SCHEME))
    goto fail;
  if (!(host = lower_host(h, &changed)) ||
      curl_url_get(h, CURLUPART_URL, &out->url, 0))
    goto fail;
  if (!(schemelen = http_scheme_len(out->url))) {
    err = ERR_UNSUPPORTED_SCHEME;
    goto fail;
  }
  /* curl's normalisation is not always a fixed point ("%325" becomes
   * "http://25/", which parses as 0.0.0.25): when it changed the input,
   * parse the result once more, so one host always gets one key. */
  if (strcmp(out->url, copy) != 0) {
    curl_free(host);
    host = NULL;
    if (curl_url_set(h, CURLUPART_URL, out->url, 0))
      goto fail;
    curl_free(out->url);
    out->url = NULL;
    if (!(host = lower_host(h, &changed)) ||
        curl_url_get(h, CURLUPART_URL, &out->url, 0))
      goto fail;
  }
  if (strlen(out->url) > max_len) {
    err = ERR_URL_TOO_LONG;
    goto fail;
  }
  out->hostkey = make_hostkey(h, out->url, schemelen, host);
  if (!out->hostkey)
    goto fail;
  out->uh = h;
  curl_free(host);
  free(copy);
  return NULL;
fail:
  url_info_free(out);
  curl_free(host);
  curl_url_cleanup(h);
  free(copy);
  return err;
}

void url_info_free(struct url_info *u)
{
  curl_free(u->url);
  free(u->hostkey);
  curl_url_cleanup(u->uh);
  u->url = NULL;
  u->hostkey = NULL;
  u->uh = NULL;
}

char *url_hostkey(const char *url)
{
  CURLU *h = curl_url();
  char *key = NULL;
  if (h && curl_url_set(h, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) == 0)
    key = hostkey_of(h);
  curl_url_cleanup(h);
  return key;
}

uint64_t url_hash(const char *p)
{
  uint64_t h = 1469598103934665603ULL;
  for (; *p; p++)
    h = (h ^ (unsigned char)*p) * 1099511628211ULL;
  return h;
}

uint64_t url_hash_n(const char *p, size_t n)
{
  uint64_t h = 1469598103934665603ULL;
  for (size_t i = 0; i < n; i++)
    h = (h ^ (unsigned char)p[i]) * 1099511628211ULL;
  return h;
}
