/* scope: which discovered links a crawl follows. Tables of cases, each a
 * group of seeds and options with the keys (already normalised) it must
 * follow (-1) or drop (an enum crawl_drop); the trap guards exactly at and
 * one past each limit, defaults and custom values, with keys built by
 * repetition; scope_private_ok, scope_url_host and the errors of
 * scope_new. */
#include "check.h"
#include "result.h"
#include "scope.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define FOLLOW (-1)
#define MAX_SEEDS 4
#define MAX_KEYS 16

static int ncases;

static const char *drop_name(int why)
{
  static const char *const names[] = {
      "scope",    "excluded",   "depth",   "long_url", "deep_path",
      "repeated", "long_query", "bad_url", "nofollow",
  };
  if (why == FOLLOW)
    return "follow";
  if (why >= 0 && why < CRAWL_DROP_N)
    return names[why];
  return "(out of range)";
}

static int count_seeds(const char *const *seeds)
{
  int n = 0;
  while (n < MAX_SEEDS && seeds[n])
    n++;
  return n;
}

struct key_case {
  const char *key;
  int depth;
  int want;
};

struct group {
  const char *name;
  struct scope_options o;
  const char *seeds[MAX_SEEDS];
  struct key_case keys[MAX_KEYS]; /* ended by a NULL key */
};

static const char *const docs_api[] = {"/docs/", "/api/"};
static const char *const pdf_private[] = {"\\.pdf$", "/private/"};

static const struct group groups[] = {
    {"host: any scheme and port, no other host",
     {.kind = SCOPE_HOST, .max_depth = -1},
     {"http://example.com/"},
     {{"http://example.com/", 0, FOLLOW},
      {"https://example.com:8443/x", 0, FOLLOW},
      {"http://example.com:81/a?b=c", 0, FOLLOW},
      {"http://www.example.com/", 0, CRAWL_DROP_SCOPE},
      {"http://example.co/", 0, CRAWL_DROP_SCOPE},
      {"http://example.com.evil.net/", 0, CRAWL_DROP_SCOPE},
      {"http://evil.net/example.com", 0, CRAWL_DROP_SCOPE},
      {"http://evil.net/?u=http://example.com/", 0, CRAWL_DROP_SCOPE},
      {"http://example.com@evil.net/", 0, CRAWL_DROP_SCOPE},
      {"http://example.com:80@evil.net/", 0, CRAWL_DROP_SCOPE},
      {"http://evil.net@example.com/", 0, FOLLOW}}},
    {"host: userinfo tricks on an IP seed",
     {.kind = SCOPE_HOST, .max_depth = -1},
     {"http://127.0.0.1/"},
     {{"http://127.0.0.1:8080/", 0, FOLLOW},
      {"http://127.0.0.1:80@evil.com/", 0, CRAWL_DROP_SCOPE},
      {"http://user:pass@127.0.0.1/", 0, FOLLOW},
      {"http://a@b@127.0.0.1/", 0, FOLLOW},
      {"http://127.0.0.1@a@evil.com/", 0, CRAWL_DROP_SCOPE},
      {"http://127.0.0.10/", 0, CRAWL_DROP_SCOPE},
      {"http://127.0.0.1.evil.com/", 0, CRAWL_DROP_SCOPE}}},
    {"host: IPv6 literal",
     {.kind = SCOPE_HOST, .max_depth = -1},
     {"http://[::1]:8080/"},
     {{"http://[::1]/", 0, FOLLOW},
      {"https://[::1]:9/x", 0, FOLLOW},
      {"http://u@[::1]/", 0, FOLLOW},
      {"http://[::2]/", 0, CRAWL_DROP_SCOPE},
      {"http://[::10]/", 0, CRAWL_DROP_SCOPE},
      {"http://[::1]@evil.com/", 0, CRAWL_DROP_SCOPE},
      {"http://[::1]:80@evil.com/", 0, CRAWL_DROP_SCOPE}}},
    {"host: several seeds widen the scope",
     {.kind = SCOPE_HOST, .max_depth = -1},
     {"http://a.com/", "https://b.com:8443/x/y"},
     {{"http://a.com/p", 0, FOLLOW},
      {"http://b.com/", 0, FOLLOW},
      {"https://b.com/q?r", 0, FOLLOW},
      {"http://c.com/", 0, CRAWL_DROP_SCOPE},
      {"http://a.b.com/", 0, CRAWL_DROP_SCOPE}}},
    {"domain: registrable domain and its subdomains",
     {.kind = SCOPE_DOMAIN, .max_depth = -1},
     {"http://www.example.co.uk/"},
     {{"http://www.example.co.uk/", 0, FOLLOW},
      {"http://example.co.uk/", 0, FOLLOW},
      {"https://a.b.example.co.uk:8443/x", 0, FOLLOW},
      {"http://example.com/", 0, CRAWL_DROP_SCOPE},
      {"http://notexample.co.uk/", 0, CRAWL_DROP_SCOPE},
      {"http://other.co.uk/", 0, CRAWL_DROP_SCOPE},
      {"http://co.uk/", 0, CRAWL_DROP_SCOPE},
      {"http://example.co.uk.evil.com/", 0, CRAWL_DROP_SCOPE},
      {"http://evil.com/x.example.co.uk", 0, CRAWL_DROP_SCOPE},
      {"http://example.co.uk@evil.com/", 0, CRAWL_DROP_SCOPE},
      {"http://evil.com@a.example.co.uk/", 0, FOLLOW}}},
    {"domain: a private suffix (github.io) is a public suffix too",
     {.kind = SCOPE_DOMAIN, .max_depth = -1},
     {"https://a.github.io/"},
     {{"https://a.github.io/x", 0, FOLLOW},
      {"https://x.a.github.io/", 0, FOLLOW},
      {"https://b.github.io/", 0, CRAWL_DROP_SCOPE},
      {"https://github.io/", 0, CRAWL_DROP_SCOPE}}},
    {"domain: an IPv4 seed admits only that address",
     {.kind = SCOPE_DOMAIN, .max_depth = -1},
     {"http://127.0.0.1:8080/"},
     {{"http://127.0.0.1/", 0, FOLLOW},
      {"http://127.0.0.1:9/x", 0, FOLLOW},
      {"http://10.0.0.1/", 0, CRAWL_DROP_SCOPE},
      {"http://192.168.0.1/", 0, CRAWL_DROP_SCOPE},
      {"http://0.1/", 0, CRAWL_DROP_SCOPE},
      {"http://127.0.0.2/", 0, CRAWL_DROP_SCOPE}}},
    {"domain: an IPv6 seed admits only that address",
     {.kind = SCOPE_DOMAIN, .max_depth = -1},
     {"http://[::1]:8080/"},
     {{"http://[::1]/", 0, FOLLOW},
      {"http://[::2]/", 0, CRAWL_DROP_SCOPE},
      {"http://[a::1]/", 0, CRAWL_DROP_SCOPE}}},
    {"domain: a bare name admits that host",
     {.kind = SCOPE_DOMAIN, .max_depth = -1},
     {"http://localhost:3000/"},
     {{"http://localhost/", 0, FOLLOW},
      {"https://localhost:8443/a", 0, FOLLOW},
      {"http://example.com/", 0, CRAWL_DROP_SCOPE},
      {"http://notlocalhost/", 0, CRAWL_DROP_SCOPE}}},
    {"domain: several seeds widen the scope",
     {.kind = SCOPE_DOMAIN, .max_depth = -1},
     {"http://www.example.com/", "http://b.example.org/"},
     {{"http://example.com/", 0, FOLLOW},
      {"http://x.example.org/", 0, FOLLOW},
      {"http://example.net/", 0, CRAWL_DROP_SCOPE}}},
    {"prefix: up to the last '/' of the seed's path",
     {.kind = SCOPE_PREFIX, .max_depth = -1},
     {"http://h/docs/i.html"},
     {{"http://h/docs/x", 0, FOLLOW},
      {"http://h/docs/", 0, FOLLOW},
      {"http://h/docs/i.html", 0, FOLLOW},
      {"http://h/docs/a/b?c=d", 0, FOLLOW},
      {"http://h/doc", 0, CRAWL_DROP_SCOPE},
      {"http://h/docs", 0, CRAWL_DROP_SCOPE},
      {"http://h/docsx/", 0, CRAWL_DROP_SCOPE},
      {"http://h/", 0, CRAWL_DROP_SCOPE},
      {"http://h/?/docs/", 0, CRAWL_DROP_SCOPE},
      {"http://hh/docs/x", 0, CRAWL_DROP_SCOPE},
      {"http://h:8080/docs/x", 0, CRAWL_DROP_SCOPE},
      {"https://h/docs/x", 0, CRAWL_DROP_SCOPE}}},
    {"prefix: a '/' in the seed's query does not count",
     {.kind = SCOPE_PREFIX, .max_depth = -1},
     {"http://h/a/b?x=/c/d"},
     {{"http://h/a/z", 0, FOLLOW},
      {"http://h/a/b?x=/c/dz", 0, FOLLOW},
      {"http://h/a", 0, CRAWL_DROP_SCOPE},
      {"http://h/a?x=/c/", 0, CRAWL_DROP_SCOPE}}},
    {"prefix: root seed and several seeds",
     {.kind = SCOPE_PREFIX, .max_depth = -1},
     {"http://h/", "https://g:8443/api/v1/x"},
     {{"http://h/x/y", 0, FOLLOW},
      {"http://h/", 0, FOLLOW},
      {"https://g:8443/api/v1/", 0, FOLLOW},
      {"https://g:8443/api/v1/y/z", 0, FOLLOW},
      {"https://g:8443/api/v2/", 0, CRAWL_DROP_SCOPE},
      {"https://g/api/v1/y", 0, CRAWL_DROP_SCOPE},
      {"http://hx/", 0, CRAWL_DROP_SCOPE}}},
    {"regex: anchored",
     {.kind = SCOPE_REGEX,
      .regex = "^https?://(www\\.)?example\\.org/blog/",
      .max_depth = -1},
     {"http://example.org/"},
     {{"http://example.org/blog/1", 0, FOLLOW},
      {"https://www.example.org/blog/", 0, FOLLOW},
      {"http://example.org/about", 0, CRAWL_DROP_SCOPE},
      {"http://example.org/", 0, CRAWL_DROP_SCOPE},
      {"http://evil.com/?http://example.org/blog/", 0, CRAWL_DROP_SCOPE}}},
    {"regex: unanchored, seeds do not widen it",
     {.kind = SCOPE_REGEX, .regex = "/wiki/", .max_depth = -1},
     {"http://h/"},
     {{"http://any.org/wiki/X", 0, FOLLOW},
      {"http://h/x?y=/wiki/", 0, FOLLOW},
      {"http://h/", 0, CRAWL_DROP_SCOPE},
      {"http://any.org/w/", 0, CRAWL_DROP_SCOPE}}},
    {"include and exclude: exclude wins, one include must match",
     {.kind = SCOPE_HOST,
      .include = docs_api,
      .ninclude = 2,
      .exclude = pdf_private,
      .nexclude = 2,
      .max_depth = -1},
     {"http://h/"},
     {{"http://h/docs/a.html", 0, FOLLOW},
      {"http://h/api/x", 0, FOLLOW},
      {"http://h/docs/a.pdf", 0, CRAWL_DROP_EXCLUDED},
      {"http://h/api/private/x", 0, CRAWL_DROP_EXCLUDED},
      {"http://h/private/docs/", 0, CRAWL_DROP_EXCLUDED},
      {"http://h/blog/", 0, CRAWL_DROP_EXCLUDED},
      {"http://h/", 0, CRAWL_DROP_EXCLUDED},
      {"http://other/docs/", 0, CRAWL_DROP_SCOPE}}},
    {"exclude alone",
     {.kind = SCOPE_HOST,
      .exclude = pdf_private,
      .nexclude = 2,
      .max_depth = -1},
     {"http://h/"},
     {{"http://h/blog/", 0, FOLLOW},
      {"http://h/a.pdf?x", 0, FOLLOW},
      {"http://h/a.pdf", 0, CRAWL_DROP_EXCLUDED},
      {"http://h/x/private/", 0, CRAWL_DROP_EXCLUDED}}},
    {"include alone",
     {.kind = SCOPE_HOST, .include = docs_api, .ninclude = 1, .max_depth = -1},
     {"http://h/"},
     {{"http://h/docs/", 0, FOLLOW},
      {"http://h/api/", 0, CRAWL_DROP_EXCLUDED}}},
    {"depth: max_depth 2",
     {.kind = SCOPE_HOST, .max_depth = 2},
     {"http://h/"},
     {{"http://h/a", 0, FOLLOW},
      {"http://h/a", 1, FOLLOW},
      {"http://h/a", 2, FOLLOW},
      {"http://h/a", 3, CRAWL_DROP_DEPTH},
      {"http://h/a", 1000, CRAWL_DROP_DEPTH},
      {"http://other/a", 3, CRAWL_DROP_SCOPE}}},
    {"depth: max_depth 0 keeps the seeds only",
     {.kind = SCOPE_HOST, .max_depth = 0},
     {"http://h/"},
     {{"http://h/a", 0, FOLLOW}, {"http://h/a", 1, CRAWL_DROP_DEPTH}}},
    {"depth: max_depth < 0 is no cap",
     {.kind = SCOPE_HOST, .max_depth = -1},
     {"http://h/"},
     {{"http://h/a", 101, FOLLOW}, {"http://h/a", 1000000, FOLLOW}}},
    {"traps apply to in-scope links",
     {.kind = SCOPE_HOST, .max_depth = -1},
     {"http://h/"},
     {{"http://h/a/b/a/b/a/b/a/", 0, CRAWL_DROP_REPEATED},
      {"http://h/a/b/a/b/a/", 0, FOLLOW}}},
};

static void run_group(const struct group *g)
{
  struct scope *sc = NULL;
  char err[256] = "";
  int rc =
      scope_new(&sc, &g->o, g->seeds, count_seeds(g->seeds), err, sizeof(err));
  if (rc != 0)
    fprintf(stderr, "%s: scope_new: %d %s\n", g->name, rc, err);
  CHECK(rc == 0 && sc != NULL);
  if (!sc)
    return;
  for (int i = 0; i < MAX_KEYS && g->keys[i].key; i++) {
    const struct key_case *c = &g->keys[i];
    int got = scope_check(sc, c->key, c->depth);
    if (got != c->want)
      fprintf(stderr, "%s: %s at depth %d: got %s, want %s\n", g->name, c->key,
              c->depth, drop_name(got), drop_name(c->want));
    CHECK(got == c->want);
    ncases++;
  }
  scope_free(sc);
}

/* The traps, exactly at and one past each limit: the key is head, then
 * unit count times (with its index appended when numbered, so that the
 * segments differ), then tail. Limits of 0 take the defaults. */
struct trap_case {
  const char *what;
  size_t max_url_len;
  int max_path_segments;
  int max_repeats;
  size_t max_query_len;
  int max_query_params;
  const char *head;
  const char *unit;
  int count;
  int numbered;
  const char *tail;
  int want;
};

static const struct trap_case traps[] = {
    /* "http://h/" is 9 bytes */
    {"url length 2048 (default)", 0, 0, 0, 0, 0, "http://h/", "a", 2039, 0, "",
     FOLLOW},
    {"url length 2049 (default)", 0, 0, 0, 0, 0, "http://h/", "a", 2040, 0, "",
     CRAWL_DROP_LONG_URL},
    {"url length 20", 20, 0, 0, 0, 0, "http://h/", "a", 11, 0, "", FOLLOW},
    {"url length 21", 20, 0, 0, 0, 0, "http://h/", "a", 12, 0, "",
     CRAWL_DROP_LONG_URL},
    {"url length 21, in the query", 20, 0, 0, 0, 0, "http://h/?", "a", 11, 0,
     "", CRAWL_DROP_LONG_URL},
    {"32 segments (default)", 0, 0, 0, 0, 0, "http://h", "/s", 32, 1, "",
     FOLLOW},
    {"33 segments (default)", 0, 0, 0, 0, 0, "http://h", "/s", 33, 1, "",
     CRAWL_DROP_DEEP_PATH},
    {"32 segments and a query (default)", 0, 0, 0, 0, 0, "http://h", "/s", 32,
     1, "?a/b/c/d/e", FOLLOW},
    {"4 segments", 0, 4, 0, 0, 0, "http://h", "/s", 4, 1, "", FOLLOW},
    {"5 segments", 0, 4, 0, 0, 0, "http://h", "/s", 5, 1, "",
     CRAWL_DROP_DEEP_PATH},
    {"1 segment", 0, 1, 0, 0, 0, "http://h", "/s", 1, 1, "", FOLLOW},
    {"2 segments", 0, 1, 0, 0, 0, "http://h", "/s", 2, 1, "",
     CRAWL_DROP_DEEP_PATH},
    {"65 segments, limit 100", 0, 100, 0, 0, 0, "http://h", "/s", 65, 1, "",
     FOLLOW},
    {"100 segments, limit 100", 0, 100, 0, 0, 0, "http://h", "/s", 100, 1, "",
     FOLLOW},
    {"101 segments, limit 100", 0, 100, 0, 0, 0, "http://h", "/s", 101, 1, "",
     CRAWL_DROP_DEEP_PATH},
    {"a segment 3 times (default)", 0, 0, 0, 0, 0, "http://h", "/a/b", 3, 0,
     "", FOLLOW},
    {"a segment 4 times (default)", 0, 0, 0, 0, 0, "http://h", "/a/b", 4, 0,
     "", CRAWL_DROP_REPEATED},
    {"a segment 4 times, not adjacent (default)", 0, 0, 0, 0, 0,
     "http://h/x/y", "/z", 3, 0, "/w/z", CRAWL_DROP_REPEATED},
    {"the header's loop (default)", 0, 0, 0, 0, 0, "http://h/a/b/a/b/a/b/a/",
     "", 0, 0, "", CRAWL_DROP_REPEATED},
    {"empty segments do not repeat", 0, 0, 0, 0, 0, "http://h", "/", 20, 0, "",
     FOLLOW},
    {"repeats in the query do not count", 0, 0, 0, 0, 0, "http://h/a?", "a/",
     10, 0, "", FOLLOW},
    {"a segment once, limit 1", 0, 0, 1, 0, 0, "http://h", "/x", 1, 0, "/y/z",
     FOLLOW},
    {"a segment twice, limit 1", 0, 0, 1, 0, 0, "http://h", "/x", 2, 0, "",
     CRAWL_DROP_REPEATED},
    {"a segment 5 times, limit 5", 0, 0, 5, 0, 0, "http://h", "/x/y", 5, 0, "",
     FOLLOW},
    {"a segment 6 times, limit 5", 0, 0, 5, 0, 0, "http://h", "/x/y", 6, 0, "",
     CRAWL_DROP_REPEATED},
    {"a prefix of a segment is another segment", 0, 0, 1, 0, 0, "http://h",
     "/ab/a/abc/b", 1, 0, "", FOLLOW},
    {"query 1024 bytes (default)", 0, 0, 0, 0, 0, "http://h/?", "q", 1024, 0,
     "", FOLLOW},
    {"query 1025 bytes (default)", 0, 0, 0, 0, 0, "http://h/?", "q", 1025, 0,
     "", CRAWL_DROP_LONG_QUERY},
    {"query 8 bytes", 0, 0, 0, 8, 0, "http://h/x?", "q", 8, 0, "", FOLLOW},
    {"query 9 bytes", 0, 0, 0, 8, 0, "http://h/x?", "q", 9, 0, "",
     CRAWL_DROP_LONG_QUERY},
    {"32 params (default)", 0, 0, 0, 0, 0, "http://h/?p=0", "&p", 31, 1, "",
     FOLLOW},
    {"33 params (default)", 0, 0, 0, 0, 0, "http://h/?p=0", "&p", 32, 1, "",
     CRAWL_DROP_LONG_QUERY},
    {"3 params", 0, 0, 0, 0, 3, "http://h/?a=1", "&b", 2, 1, "", FOLLOW},
    {"4 params", 0, 0, 0, 0, 3, "http://h/?a=1", "&b", 3, 1, "",
     CRAWL_DROP_LONG_QUERY},
    {"1 param", 0, 0, 0, 0, 1, "http://h/?a=1", "", 0, 0, "", FOLLOW},
    {"2 params", 0, 0, 0, 0, 1, "http://h/?a=1&b=2", "", 0, 0, "",
     CRAWL_DROP_LONG_QUERY},
    {"an ordinary key", 0, 0, 0, 0, 0, "http://h/a/b/c.html?x=1&y=2", "", 0, 0,
     "", FOLLOW},
    {"an ordinary key with a port", 0, 0, 0, 0, 0, "http://h:8080/a", "", 0, 0,
     "", FOLLOW},
};

static char *trap_key(const struct trap_case *t)
{
  size_t ulen = strlen(t->unit) + 12;
  size_t cap = strlen(t->head) + (size_t)t->count * ulen + strlen(t->tail);
  char *k = malloc(cap + 1);
  if (!k)
    return NULL;
  size_t n = (size_t)snprintf(k, cap + 1, "%s", t->head);
  for (int i = 0; i < t->count; i++) {
    if (t->numbered)
      n += (size_t)snprintf(k + n, cap + 1 - n, "%s%d", t->unit, i);
    else
      n += (size_t)snprintf(k + n, cap + 1 - n, "%s", t->unit);
  }
  snprintf(k + n, cap + 1 - n, "%s", t->tail);
  return k;
}

static void test_traps(void)
{
  static const char *const seeds[] = {"http://h/"};
  for (size_t i = 0; i < sizeof(traps) / sizeof(traps[0]); i++) {
    const struct trap_case *t = &traps[i];
    struct scope_options o = {.kind = SCOPE_HOST,
                              .max_depth = -1,
                              .max_url_len = t->max_url_len,
                              .max_path_segments = t->max_path_segments,
                              .max_repeats = t->max_repeats,
                              .max_query_len = t->max_query_len,
                              .max_query_params = t->max_query_params};
    struct scope *sc = NULL;
    char err[256] = "";
    CHECK(scope_new(&sc, &o, seeds, 1, err, sizeof(err)) == 0);
    char *key = trap_key(t);
    CHECK(key != NULL);
    if (!sc || !key) {
      scope_free(sc);
      free(key);
      continue;
    }
    int got = scope_trap(sc, key);
    int via_check = scope_check(sc, key, 5);
    if (got != t->want || via_check != t->want)
      fprintf(stderr,
              "trap %s (%zu bytes): scope_trap %s, scope_check %s, "
              "want %s\n",
              t->what, strlen(key), drop_name(got), drop_name(via_check),
              drop_name(t->want));
    CHECK(got == t->want);
    CHECK(via_check == t->want);
    ncases++;
    free(key);
    scope_free(sc);
  }
}

/* The trap guards alone: no scope, depth or patterns. */
static void test_trap_alone(void)
{
  static const char *const seeds[] = {"http://h/"};
  struct scope_options o = {.kind = SCOPE_HOST,
                            .max_depth = 0,
                            .exclude = pdf_private,
                            .nexclude = 2};
  struct scope *sc = NULL;
  char err[256] = "";
  CHECK(scope_new(&sc, &o, seeds, 1, err, sizeof(err)) == 0);
  if (!sc)
    return;
  CHECK(scope_trap(sc, "http://other.com/a") == FOLLOW);
  CHECK(scope_trap(sc, "http://h/a.pdf") == FOLLOW);
  CHECK(scope_check(sc, "http://h/a.pdf", 0) == CRAWL_DROP_EXCLUDED);
  CHECK(scope_check(sc, "http://other.com/a", 0) == CRAWL_DROP_SCOPE);
  CHECK(scope_check(sc, "http://h/a", 1) == CRAWL_DROP_DEPTH);
  CHECK(scope_trap(sc, "http://other.com/x/x/x/x") == CRAWL_DROP_REPEATED);
  ncases += 6;
  scope_free(sc);
}

static const struct {
  enum scope_kind kind;
  int allow_private;
  const char *seeds[MAX_SEEDS];
  const char *hostkey;
  int want;
} private_cases[] = {
    {SCOPE_HOST, 0, {"http://127.0.0.1:8080/"}, "http://127.0.0.1:8080", 1},
    {SCOPE_HOST, 0, {"http://127.0.0.1:8080/"}, "https://127.0.0.1:443", 1},
    {SCOPE_HOST, 0, {"http://127.0.0.1:8080/"}, "http://127.0.0.2:8080", 0},
    {SCOPE_HOST, 0, {"http://127.0.0.1:8080/"}, "http://localhost:8080", 0},
    {SCOPE_HOST, 0, {"http://localhost/"}, "http://localhost:80", 1},
    {SCOPE_HOST, 0, {"http://localhost/"}, "http://a.localhost:80", 0},
    {SCOPE_HOST, 0, {"http://[::1]:8080/"}, "http://[::1]:8080", 1},
    {SCOPE_HOST, 0, {"http://[::1]:8080/"}, "http://[::2]:8080", 0},
    {SCOPE_HOST,
     0,
     {"http://a/", "http://10.0.0.1/"},
     "http://10.0.0.1:80",
     1},
    {SCOPE_HOST, 0, {"http://a/", "http://10.0.0.1/"}, "http://a:80", 1},
    {SCOPE_HOST, 0, {"http://a/", "http://10.0.0.1/"}, "http://b:80", 0},
    {SCOPE_HOST, 0, {"http://h/"}, "nohost", 0},
    {SCOPE_DOMAIN,
     0,
     {"http://www.example.co.uk/"},
     "http://www.example.co.uk:80",
     1},
    {SCOPE_DOMAIN,
     0,
     {"http://www.example.co.uk/"},
     "http://example.co.uk:80",
     0},
    {SCOPE_DOMAIN, 0, {"http://127.0.0.1/"}, "http://10.0.0.1:80", 0},
    {SCOPE_PREFIX, 0, {"http://h/docs/x"}, "http://h:80", 1},
    {SCOPE_REGEX, 0, {"http://h/"}, "http://h:80", 1},
    {SCOPE_REGEX, 0, {"http://h/"}, "http://g:80", 0},
    {SCOPE_HOST, 1, {"http://h/"}, "http://127.0.0.1:80", 1},
    {SCOPE_HOST, 1, {"http://h/"}, "http://169.254.169.254:80", 1},
    {SCOPE_DOMAIN, 1, {"http://h/"}, "http://[::1]:80", 1},
    {SCOPE_HOST, 1, {"http://h/"}, "http://h:80", 1},
};

static void test_private_ok(void)
{
  size_t n = sizeof(private_cases) / sizeof(private_cases[0]);
  for (size_t i = 0; i < n; i++) {
    struct scope_options o = {.kind = private_cases[i].kind,
                              .regex = "^http://h/",
                              .allow_private = private_cases[i].allow_private,
                              .max_depth = -1};
    struct scope *sc = NULL;
    char err[256] = "";
    const char *const *seeds = private_cases[i].seeds;
    CHECK(scope_new(&sc, &o, seeds, count_seeds(seeds), err, sizeof(err)) ==
          0);
    if (!sc)
      continue;
    int got = scope_private_ok(sc, private_cases[i].hostkey);
    if (got != private_cases[i].want)
      fprintf(stderr, "private_ok %s (seed %s, allow_private %d): got %d\n",
              private_cases[i].hostkey, seeds[0],
              private_cases[i].allow_private, got);
    CHECK(got == private_cases[i].want);
    ncases++;
    scope_free(sc);
  }
}

static const struct {
  const char *url;
  const char *host; /* NULL: none */
} host_cases[] = {
    {"http://example.com/", "example.com"},
    {"http://example.com", "example.com"},
    {"https://example.com:8443/x", "example.com"},
    {"https://example.com:8443", "example.com"},
    {"http://example.com?q", "example.com"},
    {"http://example.com#f", "example.com"},
    {"http://u:p@h:81/", "h"},
    {"http://127.0.0.1:80@evil.com/", "evil.com"},
    {"http://a@b@c/", "c"},
    {"http://good.com/@evil.com", "good.com"},
    {"http://good.com?@evil.com", "good.com"},
    {"http://good.com#@evil.com", "good.com"},
    {"http://good.com/a:b@evil.com", "good.com"},
    {"http://[::1]:8080/", "[::1]"},
    {"http://[::1]", "[::1]"},
    {"http://u@[2001:db8::1]/", "[2001:db8::1]"},
    {"http://[::1]@evil.com/", "evil.com"},
    {"http://[fe80::1%25eth0]:80/", "[fe80::1%25eth0]"},
    {"http://[::1/", NULL},
    {"http://[::1", NULL},
    {"http:///x", NULL},
    {"http://", NULL},
    {"http://:80/", NULL},
    {"http://u@/", NULL},
    {"http://u@:80/", NULL},
    {"example.com/x", NULL},
    {"", NULL},
};

static void test_url_host(void)
{
  size_t n = sizeof(host_cases) / sizeof(host_cases[0]);
  for (size_t i = 0; i < n; i++) {
    size_t len = 0;
    const char *h = scope_url_host(host_cases[i].url, &len);
    char got[256];
    if (h) {
      /* within the URL */
      CHECK(h >= host_cases[i].url &&
            h + len <= host_cases[i].url + strlen(host_cases[i].url));
      snprintf(got, sizeof(got), "%.*s", (int)len, h);
    }
    if ((h == NULL) != (host_cases[i].host == NULL))
      fprintf(stderr, "scope_url_host %s\n", host_cases[i].url);
    CHECK_STR(h ? got : NULL, host_cases[i].host);
    ncases++;
  }
}

static const char *const bad_pattern[] = {"("};
static const char *const good_pattern[] = {"x"};

static const struct {
  enum scope_kind kind;
  const char *regex;
  const char *const *include;
  int ninclude;
  const char *const *exclude;
  int nexclude;
  const char *names; /* what err must name */
} bad_cases[] = {
    {SCOPE_REGEX, "(", NULL, 0, NULL, 0, "--scope regex"},
    {SCOPE_REGEX, "a[", NULL, 0, NULL, 0, "--scope regex"},
    {SCOPE_HOST, NULL, bad_pattern, 1, NULL, 0, "--include"},
    {SCOPE_HOST, NULL, NULL, 0, bad_pattern, 1, "--exclude"},
    {SCOPE_DOMAIN, NULL, good_pattern, 1, bad_pattern, 1, "--exclude"},
    {SCOPE_PREFIX, NULL, bad_pattern, 1, good_pattern, 1, "--include"},
    {SCOPE_REGEX, "ok", NULL, 0, bad_pattern, 1, "--exclude"},
};

static void test_bad_patterns(void)
{
  static const char *const seeds[] = {"http://h/"};
  size_t n = sizeof(bad_cases) / sizeof(bad_cases[0]);
  for (size_t i = 0; i < n; i++) {
    struct scope_options o = {.kind = bad_cases[i].kind,
                              .regex = bad_cases[i].regex,
                              .include = bad_cases[i].include,
                              .ninclude = bad_cases[i].ninclude,
                              .exclude = bad_cases[i].exclude,
                              .nexclude = bad_cases[i].nexclude,
                              .max_depth = -1};
    struct scope *sc = (struct scope *)&o; /* must be reset to NULL */
    char err[256] = "";
    int rc = scope_new(&sc, &o, seeds, 1, err, sizeof(err));
    CHECK(rc == -EINVAL);
    CHECK(sc == NULL);
    if (!strstr(err, bad_cases[i].names))
      fprintf(stderr, "bad pattern %zu: err \"%s\" does not name %s\n", i, err,
              bad_cases[i].names);
    CHECK(strstr(err, bad_cases[i].names) != NULL);
    CHECK(strchr(err, '\n') == NULL);
    ncases++;
  }
  /* A short err buffer is not overrun. */
  struct scope_options o = {.kind = SCOPE_REGEX, .regex = "(", .max_depth = 0};
  struct scope *sc = NULL;
  char err[8];
  memset(err, 'x', sizeof(err));
  CHECK(scope_new(&sc, &o, (const char *const[]){"http://h/"}, 1, err, 4) ==
        -EINVAL);
  CHECK(err[3] == '\0' && err[4] == 'x');
  ncases++;
}

/* No seeds: nothing is in a seed-based scope; a regex scope still works. */
static void test_no_seeds(void)
{
  struct scope_options o = {.kind = SCOPE_HOST, .max_depth = -1};
  struct scope *sc = NULL;
  char err[256] = "";
  CHECK(scope_new(&sc, &o, NULL, 0, err, sizeof(err)) == 0);
  if (sc) {
    CHECK(scope_check(sc, "http://h/", 0) == CRAWL_DROP_SCOPE);
    CHECK(scope_private_ok(sc, "http://h:80") == 0);
    scope_free(sc);
  }
  o.kind = SCOPE_REGEX;
  o.regex = "^http://h/";
  CHECK(scope_new(&sc, &o, NULL, 0, err, sizeof(err)) == 0);
  if (sc) {
    CHECK(scope_check(sc, "http://h/", 0) == FOLLOW);
    CHECK(scope_check(sc, "http://g/", 0) == CRAWL_DROP_SCOPE);
    scope_free(sc);
  }
  scope_free(NULL);
  ncases += 4;
}

int main(void)
{
  for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++)
    run_group(&groups[i]);
  test_traps();
  test_trap_alone();
  test_private_ok();
  test_url_host();
  test_bad_patterns();
  test_no_seeds();
  fprintf(stderr, "scope: %d cases\n", ncases);
  return check_report("test_scope");
}
