/* Fuzzes html_scan: any bytes must scan without a sanitizer report, and
 * the outputs must keep the header's promises, with and without the link
 * list and whatever the cap. */
#include "fuzz.h"
#include "html.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int is_ws(unsigned char c)
{
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

static void ensure_trimmed(const char *s)
{
  size_t n;
  if (!s)
    return;
  n = strlen(s);
  ENSURE(n == 0 ||
         (!is_ws((unsigned char)s[0]) && !is_ws((unsigned char)s[n - 1])));
}

static int same(const char *a, const char *b)
{
  return (a == NULL) == (b == NULL) && (!a || strcmp(a, b) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  const char *buf = (const char *)data;
  /* The first byte picks the cap, from none (-1) to 6. */
  int max_links = size ? data[0] % 8 - 1 : -1;
  struct html_info a, b;

  if (html_scan(buf, size, 1, max_links, &a) != 0)
    return 0;
  if (html_scan(buf, size, 0, 0, &b) != 0) {
    html_info_free(&a);
    return 0;
  }

  /* The stored list: non-empty, trimmed, NUL-ended entries, no more than
   * the count or the cap, and all of them when there is no cap. */
  ENSURE((a.links == NULL) == (a.links_len == 0));
  ENSURE(a.links_len == 0 || a.links[a.links_len - 1] == '\0');
  int stored = 0;
  for (size_t off = 0; off < a.links_len; stored++) {
    size_t n = strlen(a.links + off);
    ENSURE(n > 0);
    ensure_trimmed(a.links + off);
    off += n + 1;
  }
  ENSURE(a.nlinks >= 0 && stored <= a.nlinks);
  ENSURE(max_links < 0
             ? stored == a.nlinks
             : stored == (a.nlinks < max_links ? a.nlinks : max_links));

  /* Asking for the list changes nothing else. */
  ENSURE(b.links == NULL && b.links_len == 0 && b.nlinks == a.nlinks);
  ENSURE(same(a.title, b.title) && same(a.canonical, b.canonical) &&
         same(a.meta_robots, b.meta_robots) && same(a.base_href, b.base_href));

  /* The title is collapsed: single spaces only, none at the ends. */
  if (a.title) {
    size_t n = strlen(a.title);
    ENSURE(n <= HTML_TITLE_MAX);
    ensure_trimmed(a.title);
    for (size_t i = 0; i < n; i++) {
      unsigned char c = (unsigned char)a.title[i];
      ENSURE(c == ' ' || !is_ws(c));
      ENSURE(!(c == ' ' && a.title[i + 1] == ' '));
    }
  }
  ensure_trimmed(a.canonical);
  ensure_trimmed(a.meta_robots);
  ensure_trimmed(a.base_href);

  html_info_free(&a);
  html_info_free(&b);
  return 0;
}
