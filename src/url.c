#include "url.h"

#include "result.h"

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

const char *url_check(const char *in, size_t len, size_t max_len,
                      struct url_info *out)
{
  const char *err = ERR_BAD_URL;
  char *scheme = NULL;
  char *copy = NULL;
  CURLU *h = NULL;
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
  if (curl_url_set(h, CURLUPART_URL, copy,
                   CURLU_DEFAULT_SCHEME | CURLU_NON_SUPPORT_SCHEME))
    goto fail;
  if (curl_url_get(h, CURLUPART_SCHEME, &scheme, 0))
    goto fail;
  if (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0) {
    err = ERR_UNSUPPORTED_SCHEME;
    goto fail;
  }
  if (curl_url_get(h, CURLUPART_URL, &out->url, 0))
    goto fail;
  if (strlen(out->url) > max_len) {
    err = ERR_URL_TOO_LONG;
    goto fail;
  }
  out->hostkey = hostkey_of(h);
  if (!out->hostkey)
    goto fail;
  curl_free(scheme);
  curl_url_cleanup(h);
  free(copy);
  return NULL;
fail:
  url_info_free(out);
  curl_free(scheme);
  curl_url_cleanup(h);
  free(copy);
  return err;
}

void url_info_free(struct url_info *u)
{
  curl_free(u->url);
  free(u->hostkey);
  u->url = NULL;
  u->hostkey = NULL;
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
