/* robots: the data-driven cases in tests/robots_cases/ (RFC 9309's own
 * examples, Google's robotstxt conformance suite, and ours), then what
 * does not fit a text file: the access-failure policies, the size and line
 * caps, binary garbage and hostile patterns.
 *
 * Case file format, one directive a line (blank lines and lines starting
 * with '#' are comments):
 *   == TITLE        a new case group: empty body, agent "FooBot"
 *   |TEXT           a body line: TEXT and "\n" are appended to the body
 *   ~TEXT           TEXT is appended with no line end
 *   agent NAME      the product token for the checks that follow
 *                   ("agent" alone: the empty token)
 *   allow PATH      robots_allowed(PATH) must be 1
 *   deny PATH       ... must be 0
 *   delay X         robots_crawl_delay() must be X (-1: none)
 *   sitemaps N      robots_sitemaps() must return N
 *   sitemap I URL   ... and its entry I must be URL
 * A body line after a check starts a new body (the agent stays). TEXT and
 * PATH take the escapes \r \n \t \\ and \xHH. */
#include "check.h"
#include "robots.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct runner {
  char body[65536];
  size_t blen;
  char agent[256];
  int checked; /* a check ran since the last body line */
  char title[256];
  const char *file;
  int line;
  int cases; /* allow/deny checks */
};

/* Decodes the escapes of s into out (as long as s at most); returns the
 * length. */
static size_t unescape(const char *s, char *out)
{
  size_t n = 0;
  for (; *s; s++) {
    if (*s != '\\' || s[1] == '\0') {
      out[n++] = *s;
      continue;
    }
    s++;
    switch (*s) {
    case 'r':
      out[n++] = '\r';
      break;
    case 'n':
      out[n++] = '\n';
      break;
    case 't':
      out[n++] = '\t';
      break;
    case 'x': {
      unsigned v = 0;
      for (int k = 0; k < 2 && s[1]; k++) {
        char c = *++s;
        v = v * 16 + (unsigned)(c <= '9' ? c - '0' : (c | 32) - 'a' + 10);
      }
      out[n++] = (char)v;
      break;
    }
    default:
      out[n++] = *s;
    }
  }
  out[n] = '\0';
  return n;
}

static void fail_at(const struct runner *t, const char *what)
{
  fprintf(stderr, "%s:%d: [%s] agent \"%s\": %s\n", t->file, t->line, t->title,
          t->agent, what);
}

static void run_check(struct runner *t, const char *verb, const char *arg)
{
  char msg[1024];
  struct robots *r = robots_parse(t->body, t->blen, t->agent);
  CHECK(r != NULL);
  if (r == NULL)
    return;
  t->checked = 1;
  if (strcmp(verb, "allow") == 0 || strcmp(verb, "deny") == 0) {
    char path[4096];
    unescape(arg, path);
    int want = verb[0] == 'a';
    int got = robots_allowed(r, path);
    t->cases++;
    CHECK(got == want);
    if (got != want) {
      snprintf(msg, sizeof(msg), "%s %s: got %s", verb, arg,
               got ? "allowed" : "disallowed");
      fail_at(t, msg);
    }
  } else if (strcmp(verb, "delay") == 0) {
    double want = strtod(arg, NULL), got = robots_crawl_delay(r);
    CHECK(got == want);
    if (got != want) {
      snprintf(msg, sizeof(msg), "delay: got %g, want %g", got, want);
      fail_at(t, msg);
    }
  } else if (strcmp(verb, "sitemaps") == 0) {
    const char *const *maps;
    size_t got = robots_sitemaps(r, &maps);
    CHECK(got == strtoul(arg, NULL, 10));
    if (got != strtoul(arg, NULL, 10)) {
      snprintf(msg, sizeof(msg), "sitemaps: got %zu, want %s", got, arg);
      fail_at(t, msg);
    }
  } else if (strcmp(verb, "sitemap") == 0) {
    const char *const *maps;
    size_t n = robots_sitemaps(r, &maps);
    char *end;
    size_t i = strtoul(arg, &end, 10);
    CHECK(i < n);
    if (i < n)
      CHECK_STR(maps[i], end + 1);
    else
      fail_at(t, "no such sitemap");
  } else {
    CHECK(!"unknown directive");
    fail_at(t, verb);
  }
  robots_free(r);
}

static int run_file(const char *name)
{
  char path[512], line[8192];
  snprintf(path, sizeof(path), "robots_cases/%s", name);
  FILE *f = fopen(path, "r");
  CHECK(f != NULL);
  if (f == NULL)
    return 0;
  struct runner *t = calloc(1, sizeof(*t));
  t->file = path;
  strcpy(t->agent, "FooBot");
  while (fgets(line, sizeof(line), f)) {
    t->line++;
    size_t n = strlen(line);
    CHECK(n < sizeof(line) - 1); /* a line longer than the buffer */
    if (n && line[n - 1] == '\n')
      line[--n] = '\0';
    if (line[0] == '|' || line[0] == '~') {
      if (t->checked) {
        t->blen = 0;
        t->checked = 0;
      }
      CHECK(t->blen + n + 1 < sizeof(t->body));
      t->blen += unescape(line + 1, t->body + t->blen);
      if (line[0] == '|')
        t->body[t->blen++] = '\n';
      continue;
    }
    if (line[0] == '\0' || line[0] == '#')
      continue;
    if (strncmp(line, "== ", 3) == 0) {
      snprintf(t->title, sizeof(t->title), "%.200s", line + 3);
      t->blen = 0;
      t->checked = 0;
      strcpy(t->agent, "FooBot");
      continue;
    }
    char *sp = strchr(line, ' ');
    if (sp)
      *sp = '\0';
    if (strcmp(line, "agent") == 0) {
      snprintf(t->agent, sizeof(t->agent), "%.200s", sp ? sp + 1 : "");
      continue;
    }
    run_check(t, line, sp ? sp + 1 : "");
  }
  fclose(f);
  int cases = t->cases;
  fprintf(stderr, "robots_cases/%s: %d cases\n", name, cases);
  free(t);
  return cases;
}

static int cmp_names(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_case_files(void)
{
  DIR *d = opendir("robots_cases");
  CHECK(d != NULL);
  if (d == NULL)
    return;
  char *names[64];
  size_t n = 0;
  struct dirent *e;
  while ((e = readdir(d)) && n < 64) {
    size_t l = strlen(e->d_name);
    if (l > 4 && strcmp(e->d_name + l - 4, ".txt") == 0)
      names[n++] = strdup(e->d_name);
  }
  closedir(d);
  qsort(names, n, sizeof(*names), cmp_names);
  int total = 0;
  for (size_t i = 0; i < n; i++) {
    total += run_file(names[i]);
    free(names[i]);
  }
  fprintf(stderr, "robots_cases: %d cases in %zu files\n", total, n);
  CHECK(n >= 3);
  CHECK(total >= 80);
}

/* §2.3.1: 4xx allows everything, 5xx or unreachable disallows everything
 * but /robots.txt itself. */
static void test_policies(void)
{
  struct robots *all = robots_allow_all(), *none = robots_disallow_all();
  CHECK(all && none);
  const char *paths[] = {"/", "/x", "/a/b?c=d", "", "/robots.txt?x"};
  for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
    CHECK(robots_allowed(all, paths[i]) == 1);
    CHECK(robots_allowed(none, paths[i]) == 0);
  }
  CHECK(robots_allowed(none, "/robots.txt") == 1);
  CHECK(robots_allowed(none, "/robots%2Etxt") == 1);
  CHECK(robots_crawl_delay(all) == -1);
  CHECK(robots_crawl_delay(none) == -1);
  const char *const *maps = (const char *const *)"x";
  CHECK(robots_sitemaps(none, &maps) == 0);
  CHECK(maps == NULL);
  robots_free(all);
  robots_free(none);
  robots_free(NULL);
  CHECK(robots_allowed(NULL, "/") == 0);

  /* An empty body: no groups, everything allowed. */
  struct robots *r = robots_parse(NULL, 0, "spate");
  CHECK(r != NULL);
  CHECK(robots_allowed(r, "/anything") == 1);
  robots_free(r);
}

/* §2.5: a Disallow that starts past the first 500 KiB is not applied; one
 * inside is. */
static void test_size_cap(void)
{
  size_t cap = ROBOTS_MAX_BYTES, size = cap + 4096;
  char *body = malloc(size);
  const char head[] = "User-agent: *\nDisallow: /early\n";
  memcpy(body, head, sizeof(head) - 1);
  size_t i = sizeof(head) - 1;
  for (; i < cap - 40; i++)
    body[i] = i % 64 == 0 ? '\n' : '#'; /* comment lines as filler */
  body[i++] = '\n';
  const char in[] = "Disallow: /inside\n";
  memcpy(body + i, in, sizeof(in) - 1);
  i += sizeof(in) - 1;
  CHECK(i < cap);
  while (i < cap + 100)
    body[i++] = '\n';
  const char out[] = "Disallow: /beyond\n";
  memcpy(body + i, out, sizeof(out) - 1);
  i += sizeof(out) - 1;
  struct robots *r = robots_parse(body, i, "spate");
  CHECK(robots_allowed(r, "/early") == 0);
  CHECK(robots_allowed(r, "/inside") == 0);
  CHECK(robots_allowed(r, "/beyond") == 1);
  robots_free(r);

  /* A rule straddling the cap is cut there, as a long line would be. */
  memset(body, '\n', size);
  memcpy(body, "User-agent: *\n", 14);
  memcpy(body + cap - 13, "Disallow: /abcdef\n", 18); /* "/ab" inside */
  r = robots_parse(body, size, "spate");
  CHECK(robots_allowed(r, "/ab") == 0);
  CHECK(robots_allowed(r, "/a") == 1);
  robots_free(r);
  free(body);
}

/* Lines longer than ROBOTS_MAX_LINE are cut there (ported from Google's
 * GoogleOnly_LineTooLong, with our cap): a cut Disallow or Allow still
 * applies to its prefix. */
static void test_long_lines(void)
{
  size_t cap = ROBOTS_MAX_LINE;
  char *body = malloc(3 * cap + 256), *url = malloc(cap + 64);
  size_t n = (size_t)sprintf(body, "user-agent: FooBot\n");
  size_t line = n;
  n += (size_t)sprintf(body + n, "disallow: /x/");
  while (n - line < cap)
    body[n++] = 'a';
  n += (size_t)sprintf(body + n, "/qux\n");
  struct robots *r = robots_parse(body, n, "FooBot");
  CHECK(robots_allowed(r, "/fux") == 1);
  size_t plen = cap - strlen("disallow: ");
  memcpy(url, body + line + strlen("disallow: "), plen);
  strcpy(url + plen, "/fux");
  CHECK(robots_allowed(r, url) == 0); /* matches the cut rule */
  robots_free(r);

  /* Two long Allows under Disallow: /. */
  n = (size_t)sprintf(body, "user-agent: FooBot\ndisallow: /\n");
  for (char c = 'a'; c <= 'b'; c++) {
    line = n;
    n += (size_t)sprintf(body + n, "allow: /x/");
    while (n - line < cap)
      body[n++] = c;
    n += (size_t)sprintf(body + n, "/qux\n");
  }
  r = robots_parse(body, n, "FooBot");
  CHECK(robots_allowed(r, "/") == 0);
  plen = cap - strlen("allow: ");
  memcpy(url, "/x/", 3);
  memset(url + 3, 'b', plen - 3);
  strcpy(url + plen, "/fux");
  CHECK(robots_allowed(r, url) == 1);
  url[3] = 'c';
  CHECK(robots_allowed(r, url) == 0);
  robots_free(r);

  /* A very long line that is not a rule is skipped whole and the next
   * line parses. */
  n = (size_t)sprintf(body, "user-agent: *\n#");
  memset(body + n, 'z', 3 * cap);
  n += 3 * cap;
  n += (size_t)sprintf(body + n, "\ndisallow: /after\n");
  r = robots_parse(body, n, "x");
  CHECK(robots_allowed(r, "/after") == 0);
  robots_free(r);
  free(url);
  free(body);
}

/* Arbitrary bytes parse without harm, and rules around garbage survive. */
static void test_garbage(void)
{
  unsigned char buf[4096];
  unsigned x = 12345;
  for (int round = 0; round < 200; round++) {
    for (size_t i = 0; i < sizeof(buf); i++) {
      x = x * 1103515245u + 12345u;
      buf[i] = (unsigned char)(x >> 16);
    }
    struct robots *r = robots_parse((char *)buf, sizeof(buf), "spate");
    CHECK(r != NULL);
    CHECK(robots_allowed(r, "/robots.txt") == 1);
    robots_allowed(r, "/");
    char path[64];
    memcpy(path, buf + round, sizeof(path) - 1);
    path[sizeof(path) - 1] = '\0';
    robots_allowed(r, path);
    robots_free(r);
  }
  const char body[] = "\x01\x02\xff\xfe garbage\x00\x7f\n"
                      "User-agent: *\n"
                      "\x80\x81: \xc3\x28\n"
                      "Disallow: /private\n"
                      "\x00\x00\x00\n"
                      "Allow: /private/\xe3\x83\x84\n";
  struct robots *r = robots_parse(body, sizeof(body) - 1, "spate");
  CHECK(robots_allowed(r, "/private/x") == 0);
  CHECK(robots_allowed(r, "/public") == 1);
  CHECK(robots_allowed(r, "/private/%E3%83%84") == 1);
  robots_free(r);
}

/* Patterns that make backtracking matchers exponential are linear here;
 * and the step budget bounds a query over many rules and a long path,
 * answering "disallowed" when it runs out. */
static void test_hostile(void)
{
  size_t plen = 200000;
  char *path = malloc(plen + 2);
  path[0] = '/';
  memset(path + 1, 'a', plen - 1);
  path[plen] = '\0';

  const char one[] = "User-agent: *\nDisallow: /*a*a*a*a*a*a*a*a*a*a*b\n";
  struct robots *r = robots_parse(one, sizeof(one) - 1, "spate");
  CHECK(robots_allowed(r, path) == 1); /* no 'b': no match, decided */
  path[plen - 1] = 'b';
  CHECK(robots_allowed(r, path) == 0); /* matches */
  path[plen - 1] = 'a';
  robots_free(r);

  const char anchored[] = "User-agent: *\nDisallow: /*a*a*a*a*a*a*b$\n"
                          "Disallow: /*aaaaaaaaaaaaaaaaaaaab\n";
  r = robots_parse(anchored, sizeof(anchored) - 1, "spate");
  CHECK(robots_allowed(r, path) == 1);
  robots_free(r);

  /* ROBOTS_MAX_RULES wildcard rules, each scanning the 200 KB path: far
   * past the budget, so the answer is the fail-closed one. The same rules
   * against a short path decide normally. */
  size_t cap = 64 + ROBOTS_MAX_RULES * 32;
  char *body = malloc(cap);
  size_t n = (size_t)sprintf(body, "User-agent: *\nDisallow: /x\n");
  for (int i = 0; i < ROBOTS_MAX_RULES + 50; i++)
    n += (size_t)snprintf(body + n, cap - n, "Allow: /*a*a*%05d\n", i);
  CHECK(n < cap);
  r = robots_parse(body, n, "spate");
  CHECK(robots_allowed(r, path) == 0);         /* budget spent: fail closed */
  CHECK(robots_allowed(r, "/xaya00017") == 1); /* an Allow matches */
  CHECK(robots_allowed(r, "/xayb00017") == 0); /* only Disallow: /x */
  CHECK(robots_allowed(r, "/robots.txt") == 1);
  robots_free(r);

  /* Rule cap: rules past ROBOTS_MAX_RULES for a class are dropped. */
  n = (size_t)sprintf(body, "User-agent: *\n");
  for (int i = 0; i < ROBOTS_MAX_RULES + 1; i++)
    n += (size_t)snprintf(body + n, cap - n, "Disallow: /r%d/\n", i);
  r = robots_parse(body, n, "spate");
  CHECK(robots_allowed(r, "/r0/") == 0);
  CHECK(robots_allowed(r, "/r9999/") == 0);
  CHECK(robots_allowed(r, "/r10000/") == 1);
  robots_free(r);
  free(body);
  free(path);
}

/* Sitemap cap: the first ROBOTS_MAX_SITEMAPS are kept. */
static void test_sitemap_cap(void)
{
  char body[8192];
  size_t n = 0;
  for (int i = 0; i < ROBOTS_MAX_SITEMAPS + 10; i++)
    n += (size_t)sprintf(body + n, "Sitemap: https://e.com/s%d.xml\n", i);
  struct robots *r = robots_parse(body, n, "spate");
  const char *const *maps;
  CHECK(robots_sitemaps(r, &maps) == ROBOTS_MAX_SITEMAPS);
  CHECK_STR(maps[0], "https://e.com/s0.xml");
  CHECK_STR(maps[ROBOTS_MAX_SITEMAPS - 1], "https://e.com/s63.xml");
  robots_free(r);
}

int main(void)
{
  test_case_files();
  test_policies();
  test_size_cap();
  test_long_lines();
  test_garbage();
  test_hostile();
  test_sitemap_cap();
  return check_report("test_robots");
}
