/* URL checking and host keys: cases as data. */
#include "check.h"
#include "result.h"
#include "url.h"

#include <curl/curl.h>
#include <stdlib.h>

static const struct {
  const char *in;
  const char *err; /* expected error code, NULL for success */
  const char *url; /* expected normalised URL */
  const char *key; /* expected host key */
} cases[] = {
    {"http://example.com/", NULL, "http://example.com/",
     "http://example.com:80"},
    {"HTTP://Example.COM", NULL, "http://example.com/",
     "http://example.com:80"},
    {"https://example.com:443/a?b=c#frag", NULL,
     "https://example.com:443/a?b=c#frag", "https://example.com:443"},
    {"example.com/path", NULL, "http://example.com/path",
     "http://example.com:80"},
    {"http://127.0.0.1:8080/p/1.html", NULL, "http://127.0.0.1:8080/p/1.html",
     "http://127.0.0.1:8080"},
    {"http://[::1]:9/x", NULL, "http://[::1]:9/x", "http://[::1]:9"},
    {"http://example.com/a/../b/./c", NULL, "http://example.com/b/c",
     "http://example.com:80"},
    /* Normalisation reaches a fixed point (found by fuzz_url). */
    {"%325", NULL, "http://0.0.0.25/", "http://0.0.0.25:80"},
    {"http://ampl%.COM:80/a", ERR_BAD_URL, NULL, NULL},
    {"ftp://example.com/file", ERR_UNSUPPORTED_SCHEME, NULL, NULL},
    {"file:///etc/passwd", ERR_UNSUPPORTED_SCHEME, NULL, NULL},
    {"javascript:alert(1)", ERR_UNSUPPORTED_SCHEME, NULL, NULL},
    {"gopher://x/", ERR_UNSUPPORTED_SCHEME, NULL, NULL},
    {"not a url", ERR_BAD_URL, NULL, NULL},
    {"http://", ERR_BAD_URL, NULL, NULL},
    {"http://exa mple.com/", ERR_BAD_URL, NULL, NULL},
    {"http://example.com:99999/", ERR_BAD_URL, NULL, NULL},
    {"http://[::1/", ERR_BAD_URL, NULL, NULL},
    {"http://example.com/\x01", ERR_BAD_URL, NULL, NULL},
    {"", ERR_BAD_URL, NULL, NULL},
};

int main(void)
{
  curl_global_init(CURL_GLOBAL_DEFAULT);
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    struct url_info u;
    const char *err = url_check(cases[i].in, strlen(cases[i].in), 8192, &u);
    if ((err == NULL) != (cases[i].err == NULL) ||
        (err && strcmp(err, cases[i].err) != 0))
      fprintf(stderr, "case %zu (%s): got %s\n", i, cases[i].in,
              err ? err : "ok");
    CHECK_STR(err, cases[i].err);
    if (!err && !cases[i].err) {
      CHECK_STR(u.url, cases[i].url);
      CHECK_STR(u.hostkey, cases[i].key);
      char *k = url_hostkey(u.url);
      CHECK_STR(k, cases[i].key);
      free(k);
      /* The handle curl is given fetches the URL reported. */
      char *again = NULL;
      CHECK(u.uh && curl_url_get(u.uh, CURLUPART_URL, &again, 0) == 0);
      CHECK_STR(again, u.url);
      curl_free(again);
    } else {
      CHECK(u.url == NULL && u.hostkey == NULL && u.uh == NULL);
    }
    url_info_free(&u);
  }
  /* Length limit, before and after normalisation. */
  char longurl[300];
  memset(longurl, 'a', sizeof(longurl));
  memcpy(longurl, "http://x.com/", 13);
  struct url_info u;
  CHECK_STR(url_check(longurl, sizeof(longurl), 299, &u), ERR_URL_TOO_LONG);
  CHECK(url_check(longurl, sizeof(longurl), 300, &u) == NULL);
  url_info_free(&u);
  /* Embedded NUL. */
  CHECK_STR(url_check("http://a.com/\0x", 15, 100, &u), ERR_BAD_URL);
  curl_global_cleanup();
  return check_report("test_url");
}
