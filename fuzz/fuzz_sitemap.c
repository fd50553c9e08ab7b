/* Fuzzes sitemap_scan, which reads every XML or gzip response of a crawl:
 * any bytes (gzipped when the first input byte is odd) must pass without a
 * sanitizer report, every <loc> handed over must be a non-empty string of
 * at most SITEMAP_LOC_MAX bytes with no blank at either end, the count must
 * be -1 or at least the number handed over, and max must be obeyed. */
#include "fuzz.h"
#include "sitemap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static int blank(char c)
{
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int on_loc(void *arg, const char *loc)
{
  long *calls = arg;
  size_t n = strlen(loc);
  ENSURE(n > 0 && n <= SITEMAP_LOC_MAX);
  ENSURE(!blank(loc[0]) && !blank(loc[n - 1]));
  (*calls)++;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 1)
    return 0;
  int zip = data[0] & 1;
  long max = (data[0] >> 1) % 8;
  data++;
  size--;
  unsigned char *doc = malloc(size ? size : 1);
  size_t len = size;
  ENSURE(doc);
  memcpy(doc, data, size);
  if (zip) {
    uLongf cap = compressBound(size) + 32;
    unsigned char *gz = malloc(cap);
    z_stream z;
    memset(&z, 0, sizeof(z));
    ENSURE(gz && deflateInit2(&z, 1, Z_DEFLATED, 16 + MAX_WBITS, 8,
                              Z_DEFAULT_STRATEGY) == Z_OK);
    z.next_in = doc;
    z.avail_in = (uInt)size;
    z.next_out = gz;
    z.avail_out = (uInt)cap;
    ENSURE(deflate(&z, Z_FINISH) == Z_STREAM_END);
    len = cap - z.avail_out;
    deflateEnd(&z);
    free(doc);
    doc = gz;
  }
  long calls = 0;
  long n = sitemap_scan((const char *)doc, len, max, on_loc, &calls);
  ENSURE(n >= 0 ? n >= calls : calls == 0);
  ENSURE(calls <= max);
  sitemap_maybe(NULL, (const char *)doc, len);
  free(doc);
  return 0;
}
