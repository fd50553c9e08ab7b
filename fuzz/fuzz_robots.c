/* robots on arbitrary bytes. Two halves, every input runs both:
 *
 * 1. The input is a robots.txt body. Parsing never fails or crashes;
 *    "/robots.txt" is always allowed; the answers for paths taken from the
 *    input are 0 or 1, the same when asked twice, when the agent's case
 *    changes, when a UTF-8 BOM is put in front and when a comment line is
 *    appended; a Crawl-delay is -1 or a finite non-negative number;
 *    sitemaps are capped and clean; allow_all and disallow_all answer as
 *    they must.
 * 2. Differential: the input, mapped onto a small alphabet, becomes one
 *    Disallow pattern and one path, and robots_allowed must agree with a
 *    plain dynamic-programming glob matcher. */
#include "robots.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_PATHS 8

/* Paths from the input: each line's text from its first '/', at most 300
 * bytes, NUL bytes stopping it. */
static size_t take_paths(const uint8_t *d, size_t n, char paths[][301])
{
  size_t np = 0;
  for (size_t i = 0; i < n && np < MAX_PATHS; i++) {
    if (d[i] != '/')
      continue;
    size_t k = 0;
    while (i < n && k < 300 && d[i] != '\n' && d[i] != '\r' && d[i] != 0)
      paths[np][k++] = (char)d[i++];
    paths[np][k] = '\0';
    np++;
  }
  return np;
}

static void check_same(const struct robots *a, const struct robots *b,
                       char paths[][301], size_t np)
{
  for (size_t i = 0; i < np; i++)
    if (robots_allowed(a, paths[i]) != robots_allowed(b, paths[i]))
      abort();
}

static void body_half(const uint8_t *data, size_t size)
{
  char paths[MAX_PATHS + 3][301];
  size_t np = take_paths(data, size, paths);
  strcpy(paths[np++], "/");
  strcpy(paths[np++], "/index.html?q=1");
  strcpy(paths[np++], "/robots.txt");

  struct robots *r = robots_parse((const char *)data, size, "spate");
  struct robots *upper = robots_parse((const char *)data, size, "SPATE");
  if (r == NULL || upper == NULL)
    abort();
  for (size_t i = 0; i < np; i++) {
    int a = robots_allowed(r, paths[i]);
    if ((a != 0 && a != 1) || a != robots_allowed(r, paths[i]))
      abort();
  }
  if (robots_allowed(r, "/robots.txt") != 1)
    abort();
  check_same(r, upper, paths, np);

  double d = robots_crawl_delay(r);
  if (d != -1 && !(d >= 0 && isfinite(d)))
    abort();
  if (d != robots_crawl_delay(upper))
    abort();
  const char *const *maps;
  size_t nm = robots_sitemaps(r, &maps);
  if (nm > ROBOTS_MAX_SITEMAPS || (nm == 0) != (maps == NULL))
    abort();
  for (size_t i = 0; i < nm; i++)
    for (const char *c = maps[i]; *c; c++)
      if ((unsigned char)*c < 0x20)
        abort();

  /* A BOM in front (unless the body starts with a BOM byte of its own)
   * and a comment line at the end change nothing. */
  if (size < ROBOTS_MAX_BYTES - 64 && (size == 0 || data[0] != 0xEF)) {
    char *b = malloc(size + 16);
    if (b == NULL)
      abort();
    memcpy(b, "\xEF\xBB\xBF", 3);
    if (size)
      memcpy(b + 3, data, size);
    memcpy(b + 3 + size, "\n# end\n", 7);
    struct robots *r2 = robots_parse(b, size + 10, "spate");
    if (r2 == NULL)
      abort();
    check_same(r, r2, paths, np);
    robots_free(r2);
    free(b);
  }
  robots_free(upper);
  robots_free(r);

  struct robots *all = robots_allow_all(), *none = robots_disallow_all();
  if (all == NULL || none == NULL)
    abort();
  for (size_t i = 0; i < np; i++)
    if (robots_allowed(all, paths[i]) != 1)
      abort();
  if (robots_allowed(none, "/") != 0 ||
      robots_allowed(none, "/robots.txt") != 1)
    abort();
  robots_free(all);
  robots_free(none);
}

/* Does pattern p (wildcard '*', no '$') match a prefix of t (anchored: all
 * of t)? Plain O(|p| * |t|) dynamic programming over prefixes. */
static int ref_match(const char *p, size_t pn, const char *t, size_t tn,
                     int anchored)
{
  /* row[j]: p[0..i) matches t[0..j) */
  unsigned char *row = calloc(tn + 1, 1), *next = calloc(tn + 1, 1);
  if (row == NULL || next == NULL)
    abort();
  row[0] = 1;
  for (size_t i = 0; i < pn; i++) {
    memset(next, 0, tn + 1);
    for (size_t j = 0; j <= tn; j++) {
      if (p[i] == '*')
        next[j] = row[j] || (j > 0 && next[j - 1]);
      else
        next[j] = j > 0 && row[j - 1] && t[j - 1] == p[i];
    }
    unsigned char *tmp = row;
    row = next;
    next = tmp;
  }
  int m = 0;
  if (anchored)
    m = row[tn];
  else
    for (size_t j = 0; j <= tn; j++)
      m |= row[j];
  free(row);
  free(next);
  return m;
}

static void differential_half(const uint8_t *data, size_t size)
{
  static const char pat_abc[] = "ab/*", path_abc[] = "ab/";
  if (size < 2)
    return;
  size_t split = data[0] % size, pn = 1, tn = 1;
  char pat[512], path[512];
  int anchored = data[1] & 1;
  pat[0] = path[0] = '/';
  for (size_t i = 2; i < size; i++) {
    if (i < split + 2 && pn < 200)
      pat[pn++] = pat_abc[data[i] % 4];
    else if (i >= split + 2 && tn < 500)
      path[tn++] = path_abc[data[i] % 3];
  }
  char body[600];
  int bn = snprintf(body, sizeof(body), "User-agent: *\nDisallow: %.*s%s\n",
                    (int)pn, pat, anchored ? "$" : "");
  path[tn] = '\0';
  struct robots *r = robots_parse(body, (size_t)bn, "spate");
  if (r == NULL)
    abort();
  int want = !ref_match(pat, pn, path, tn, anchored);
  if (strcmp(path, "/robots.txt") != 0 && robots_allowed(r, path) != want)
    abort();
  robots_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  body_half(data, size);
  differential_half(data, size);
  return 0;
}
