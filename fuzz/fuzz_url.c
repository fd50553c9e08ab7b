/* url_check and url_hostkey on arbitrary bytes: never crash, and a URL
 * that passes is http(s), within the length limit, and re-checks to
 * itself (normalisation is idempotent). */
#include "result.h"
#include "url.h"

#include <curl/curl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct url_info u, again;
  const char *err = url_check((const char *)data, size, 2048, &u);
  if (err)
    return 0;
  if (strncmp(u.url, "http://", 7) != 0 && strncmp(u.url, "https://", 8))
    abort();
  if (strlen(u.url) > 2048)
    abort();
  const char *err2 = url_check(u.url, strlen(u.url), 2048, &again);
  if (err2 || strcmp(again.url, u.url) != 0 ||
      strcmp(again.hostkey, u.hostkey) != 0)
    abort();
  char *k = url_hostkey(u.url);
  if (!k || strcmp(k, u.hostkey) != 0)
    abort();
  free(k);
  url_info_free(&again);
  url_info_free(&u);
  return 0;
}
