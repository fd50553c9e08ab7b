/* feed on arbitrary bytes. Every input runs four ways:
 *
 * 1. As the whole document.
 * 2. As the inside of an RSS 2.0 <item> and 3. of an Atom <entry> (so the
 *    field code is reached without the fuzzer having to find a feed's
 *    skeleton first).
 * 4. Escaped, as an item's <pubDate> (the date parsers on any text).
 *
 * Each result must be well formed: 0 with a sane feed or -1 with a
 * one-line message of a known kind and nothing allocated; every string
 * valid UTF-8, at most FEED_MAX_TEXT bytes, trimmed, whitespace collapsed;
 * ids never empty; at most FEED_MAX_ITEMS items; a time only with a date,
 * and in the years 1..9999; the same answer when parsed twice. */
#include "feed.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int valid_utf8(const unsigned char *s)
{
  while (*s) {
    int n = *s < 0x80         ? 0
            : (*s >> 5) == 6  ? 1
            : (*s >> 4) == 14 ? 2
            : (*s >> 3) == 30 ? 3
                              : -1;
    if (n < 0)
      return 0;
    s++;
    for (int i = 0; i < n; i++, s++)
      if ((*s & 0xC0) != 0x80)
        return 0;
  }
  return 1;
}

/* A field: NULL allowed or not; when set, a clean collapsed string. */
static void check_text(const char *s, int may_be_null, int may_be_empty)
{
  if (s == NULL) {
    if (!may_be_null)
      abort();
    return;
  }
  size_t n = strlen(s);
  if (n > FEED_MAX_TEXT || (n == 0 && !may_be_empty))
    abort();
  if (!valid_utf8((const unsigned char *)s))
    abort();
  if (n > 0 && (s[0] == ' ' || s[n - 1] == ' '))
    abort();
  for (size_t i = 0; i < n; i++)
    if (s[i] == '\t' || s[i] == '\n' || s[i] == '\r' ||
        (s[i] == ' ' && s[i + 1] == ' '))
      abort();
}

static int same(const char *a, const char *b)
{
  return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

static void check_feed(const char *doc, size_t len)
{
  struct feed f, g;
  char err[256], err2[256];
  memset(err, 'x', sizeof(err));
  int rc = feed_parse(&f, doc, len, err, sizeof(err));
  if (rc != 0 && rc != -1)
    abort();
  if (memchr(err, '\0', sizeof(err)) == NULL || strchr(err, '\n') ||
      !valid_utf8((const unsigned char *)err))
    abort();
  if (rc == -1) {
    if (f.items != NULL || f.nitems != 0 || f.title != NULL)
      abort();
    if (strncmp(err, "not XML: ", 9) != 0 &&
        strncmp(err, "not a feed: root element <", 26) != 0 &&
        strncmp(err, "too large", 9) != 0 && strcmp(err, "out of memory") != 0)
      abort();
  } else {
    if (err[0] != '\0' || f.nitems < 0 || f.nitems > FEED_MAX_ITEMS ||
        (f.nitems > 0) != (f.items != NULL))
      abort();
    check_text(f.title, 1, 0);
    for (int i = 0; i < f.nitems; i++) {
      const struct feed_item *it = &f.items[i];
      check_text(it->id, 0, 0);
      check_text(it->title, 0, 1);
      check_text(it->link, 1, 0);
      check_text(it->summary, 1, 0);
      check_text(it->date, 1, 0);
      if (it->date == NULL && it->time != 0)
        abort();
      if (it->time < -62135596800LL - 86400 ||
          it->time > 253402300799LL + 86400)
        abort();
    }
  }
  /* deterministic */
  int rc2 = feed_parse(&g, doc, len, err2, sizeof(err2));
  if (rc2 != rc || strcmp(err, err2) != 0)
    abort();
  if (rc == 0) {
    if (g.nitems != f.nitems || !same(f.title, g.title))
      abort();
    for (int i = 0; i < f.nitems; i++)
      if (!same(f.items[i].id, g.items[i].id) ||
          !same(f.items[i].summary, g.items[i].summary) ||
          f.items[i].time != g.items[i].time)
        abort();
    feed_free(&g);
    feed_free(&f);
    if (f.items != NULL || f.title != NULL || f.nitems != 0)
      abort();
  }
}

static void wrapped(const char *head, const uint8_t *data, size_t size,
                    const char *tail)
{
  size_t hl = strlen(head), tl = strlen(tail);
  char *doc = malloc(hl + size + tl + 1);
  if (doc == NULL)
    abort();
  memcpy(doc, head, hl);
  if (size)
    memcpy(doc + hl, data, size);
  memcpy(doc + hl + size, tail, tl);
  check_feed(doc, hl + size + tl);
  free(doc);
}

static void as_date(const uint8_t *data, size_t size)
{
  static const char head[] = "<rss><channel><item><pubDate>",
                    tail[] = "</pubDate></item></channel></rss>";
  if (size > 4096)
    size = 4096;
  char *doc = malloc(sizeof(head) + size * 5 + sizeof(tail));
  if (doc == NULL)
    abort();
  size_t n = sizeof(head) - 1;
  memcpy(doc, head, n);
  for (size_t i = 0; i < size; i++) {
    if (data[i] == '&') {
      memcpy(doc + n, "&amp;", 5);
      n += 5;
    } else if (data[i] == '<') {
      memcpy(doc + n, "&lt;", 4);
      n += 4;
    } else {
      doc[n++] = (char)data[i];
    }
  }
  memcpy(doc + n, tail, sizeof(tail) - 1);
  n += sizeof(tail) - 1;
  check_feed(doc, n);
  free(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  check_feed((const char *)data, size);
  wrapped("<rss version=\"2.0\" "
          "xmlns:content=\"http://purl.org/rss/1.0/modules/content/\" "
          "xmlns:dc=\"http://purl.org/dc/elements/1.1/\"><channel><item>",
          data, size, "</item></channel></rss>");
  wrapped("<feed xmlns=\"http://www.w3.org/2005/Atom\"><entry>", data, size,
          "</entry></feed>");
  as_date(data, size);
  return 0;
}
