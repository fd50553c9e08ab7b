/* scope_new, scope_check, scope_trap, scope_private_ok and scope_url_host
 * on arbitrary bytes: never crash, answers within their range, and what
 * the header promises holds. The first line of the input is the seed, each
 * further line a key; a scope of every kind is built from the seed, with
 * the default limits and with tiny ones and patterns. */
#include "result.h"
#include "scope.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_KEYS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* scope_url_host's answer lies inside the authority of url. */
static void check_host(const char *url)
{
  size_t len = 0;
  const char *h = scope_url_host(url, &len);
  if (!h)
    return;
  size_t n = strlen(url);
  if (len == 0 || h < url || h + len > url + n)
    abort();
  if (memchr(h, '/', len) || memchr(h, '?', len) || memchr(h, '#', len))
    abort();
  if (h[0] == '[' ? h[len - 1] != ']' : memchr(h, ':', len) != NULL)
    abort();
}

static int in_range(int why)
{
  return why >= -1 && why < CRAWL_DROP_N;
}

static int has_upper(const char *s)
{
  for (; *s; s++)
    if (*s >= 'A' && *s <= 'Z')
      return 1;
  return 0;
}

static void run(const struct scope_options *o, const char *seed,
                char *const *keys, int nkeys)
{
  struct scope *sc = NULL;
  char err[128];
  memset(err, 'x', sizeof(err));
  const char *const seeds[] = {seed};
  int rc = scope_new(&sc, o, seeds, 1, err, sizeof(err));
  if (rc != 0) {
    if (sc || !memchr(err, '\0', sizeof(err)))
      abort();
    return;
  }
  int plain = !o->ninclude && !o->nexclude;
  /* The seed itself is within a seed-based scope (seeds are normalised:
   * lower case). */
  if (plain && o->kind != SCOPE_REGEX && !has_upper(seed) &&
      scope_check(sc, seed, 0) == CRAWL_DROP_SCOPE)
    abort();
  if (scope_private_ok(sc, seed) != 1 && !o->allow_private && !has_upper(seed))
    abort();
  for (int i = 0; i < nkeys; i++) {
    int why = scope_check(sc, keys[i], i % 4);
    int trap = scope_trap(sc, keys[i]);
    if (!in_range(why) || !in_range(trap))
      abort();
    /* A followed link passed the traps. */
    if (why == -1 && trap != -1)
      abort();
    int ok = scope_private_ok(sc, keys[i]);
    if (ok != 0 && ok != 1)
      abort();
  }
  scope_free(sc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static const char *const include[] = {"a", "/d/"};
  static const char *const exclude[] = {"\\.pdf$", "x{3}"};
  static const enum scope_kind kinds[] = {SCOPE_HOST, SCOPE_DOMAIN,
                                          SCOPE_PREFIX, SCOPE_REGEX};
  char *s = malloc(size + 1);
  if (!s)
    return 0;
  memcpy(s, data, size);
  s[size] = '\0'; /* each line stops at its first NUL, as a C string */

  char *keys[MAX_KEYS];
  int nkeys = 0;
  char *seed = s;
  char *nl = strchr(s, '\n');
  char *p = NULL;
  if (nl) {
    *nl = '\0';
    p = nl + 1;
  }
  while (p && nkeys < MAX_KEYS) {
    keys[nkeys++] = p;
    nl = strchr(p, '\n');
    if (nl)
      *nl = '\0';
    p = nl ? nl + 1 : NULL;
  }

  check_host(seed);
  for (int i = 0; i < nkeys; i++)
    check_host(keys[i]);

  for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
    struct scope_options o = {.kind = kinds[k],
                              .regex = "^https?://[a-z0-9.-]+(:[0-9]+)?/",
                              .max_depth = -1};
    run(&o, seed, keys, nkeys);
    o.max_depth = 2;
    o.max_url_len = 64;
    o.max_path_segments = 3;
    o.max_repeats = 1;
    o.max_query_len = 8;
    o.max_query_params = 2;
    o.include = include;
    o.ninclude = 2;
    o.exclude = exclude;
    o.nexclude = 2;
    o.allow_private = 1;
    run(&o, seed, keys, nkeys);
  }
  free(s);
  return 0;
}
