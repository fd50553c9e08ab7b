/* Fuzzes search_text_from_html, the visible-text pass every crawled page
 * goes through before it is indexed: any bytes must pass without a
 * sanitizer report, and the output must keep the header's promises —
 * appended after what the buffer held, at most max bytes, a cap that only
 * cuts the uncapped text short (on a UTF-8 boundary), valid UTF-8 out of
 * valid UTF-8 in, no white space at either end; and its vectorised inner
 * step (search_text_span) must agree with its byte-by-byte definition. */
#include "buf.h"
#include "fuzz.h"
#include "search.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Strict UTF-8: no overlongs, surrogates or code points past U+10FFFF. */
static int utf8_valid(const unsigned char *s, size_t n)
{
  size_t i = 0;
  while (i < n) {
    unsigned c = s[i];
    size_t k;
    unsigned min, cp;
    if (c < 0x80) {
      i++;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      k = 1, min = 0x80, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      k = 2, min = 0x800, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      k = 3, min = 0x10000, cp = c & 0x07;
    } else {
      return 0;
    }
    if (n - i <= k)
      return 0;
    for (size_t j = 1; j <= k; j++) {
      if ((s[i + j] & 0xC0) != 0x80)
        return 0;
      cp = cp << 6 | (s[i + j] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return 0;
    i += k + 1;
  }
  return 1;
}

/* search_text_span's definition, byte by byte. */
static int plain(unsigned char c, int lt, int amp)
{
  return c > 0x20 && c != 0x7F && !(lt && c == '<') && !(amp && c == '&');
}

static size_t span_by_byte(const unsigned char *p, size_t n, int lt, int amp)
{
  size_t i = 0;
  while (i < n && (plain(p[i], lt, amp) ||
                   (p[i] == ' ' && i + 1 < n && plain(p[i + 1], lt, amp))))
    i++;
  return i;
}

static int is_space(unsigned char c)
{
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static const char before[] = "kept";
  const char *html = (const char *)data;
  /* The first byte picks the cap: none, or 1 to 64 bytes. */
  size_t max = size ? data[0] % 65 : 0;
  struct buf full = {0}, capped = {0};

  /* The vectorised step agrees with its definition. */
  for (int lt = 0; lt <= 1; lt++)
    for (int amp = 0; amp <= 1; amp++)
      ENSURE(search_text_span(html, size, lt, amp) ==
             span_by_byte(data, size, lt, amp));

  if (search_text_from_html(html, size, 0, &full) != 0)
    goto out;
  if (buf_append(&capped, before, sizeof(before) - 1) != 0 ||
      search_text_from_html(html, size, max, &capped) != 0)
    goto out;

  const unsigned char *f = (const unsigned char *)full.data;
  size_t fn = full.len;
  ENSURE(fn == 0 || (f && f[fn] == '\0'));
  ENSURE(fn == 0 || (!is_space(f[0]) && !is_space(f[fn - 1])));
  int valid = utf8_valid(data, size);
  if (valid)
    ENSURE(utf8_valid(f, fn));

  /* What the buffer held is untouched; the text is appended after it. */
  ENSURE(capped.len >= sizeof(before) - 1);
  ENSURE(memcmp(capped.data, before, sizeof(before) - 1) == 0);
  const unsigned char *c =
      (const unsigned char *)capped.data + sizeof(before) - 1;
  size_t cn = capped.len - (sizeof(before) - 1);
  if (max == 0) {
    ENSURE(cn == fn && (fn == 0 || memcmp(c, f, fn) == 0));
  } else {
    ENSURE(cn <= max);
    /* The cap only stops the text early: what is kept is how the whole
     * text begins, cut where a character starts (bytes that are not
     * UTF-8 pass through as they are, and have no characters to keep). */
    ENSURE(cn <= fn && (cn == 0 || memcmp(c, f, cn) == 0));
    if (valid)
      ENSURE(cn == fn || (f[cn] & 0xC0) != 0x80);
  }
out:
  buf_free(&full);
  buf_free(&capped);
  return 0;
}
