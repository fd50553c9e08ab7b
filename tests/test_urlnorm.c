/* URL normalisation for crawl dedup: cases as data in urlnorm_cases.txt.
 *
 * The file, one case a line: INPUT TAB EXPECTED, where EXPECTED is the
 * canonical URL or "!code" for an error. A line starting with '#' and
 * holding no TAB is a comment.
 * Directives change how the following cases run:
 *   @base URL      resolve each INPUT as an href against URL
 *   @base -        back to normalising INPUT itself
 *   @options LIST  space-separated: default, sort_query, strip=a,b*
 *                  (strip= alone strips nothing), max_len=N
 * Every successful case is also checked to be a fixed point: normalising
 * the output again returns it unchanged. */
#include "check.h"
#include "result.h"
#include "urlnorm.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#define MAX_STRIP 16

struct opts {
  struct urlnorm_options o;
  const char *strip[MAX_STRIP + 1];
  char strip_buf[512];
};

static void parse_options(struct opts *op, char *list)
{
  memset(op, 0, sizeof(*op));
  for (char *tok = strtok(list, " "); tok; tok = strtok(NULL, " ")) {
    if (strcmp(tok, "sort_query") == 0) {
      op->o.sort_query = 1;
    } else if (strncmp(tok, "max_len=", 8) == 0) {
      op->o.max_len = strtoul(tok + 8, NULL, 10);
    } else if (strncmp(tok, "strip=", 6) == 0) {
      size_t n = 0;
      snprintf(op->strip_buf, sizeof(op->strip_buf), "%s", tok + 6);
      for (char *s = op->strip_buf; *s && n < MAX_STRIP;) {
        op->strip[n++] = s;
        s += strcspn(s, ",");
        if (*s)
          *s++ = '\0';
      }
      op->strip[n] = NULL;
      op->o.strip_params = op->strip;
    } else if (strcmp(tok, "default") != 0) {
      fprintf(stderr, "unknown option %s\n", tok);
      CHECK(0);
    }
  }
}

static void run_case(int line, const char *base, const char *in,
                     const char *want, const struct urlnorm_options *o)
{
  const char *err = NULL;
  char *got = base ? urlnorm_resolve(base, in, o, &err)
                   : urlnorm_normalize(in, o, &err);
  char errbuf[64];
  const char *shown = got;
  if (!got) {
    snprintf(errbuf, sizeof(errbuf), "!%s", err ? err : "(no code)");
    shown = errbuf;
  }
  if (strcmp(shown, want) != 0)
    fprintf(stderr, "urlnorm_cases.txt:%d: %s%s%s\n", line, base ? base : "",
            base ? " + " : "", in);
  CHECK_STR(shown, want);
  if (got) {
    char *again = urlnorm_normalize(got, o, &err);
    CHECK_STR(again, got);
    free(again);
  }
  free(got);
}

static int run_file(const char *path)
{
  FILE *f = fopen(path, "r");
  char line[4096], base[4096];
  int have_base = 0, lineno = 0, cases = 0;
  struct opts op;
  memset(&op, 0, sizeof(op));
  CHECK(f != NULL);
  if (!f)
    return 0;
  while (fgets(line, sizeof(line), f)) {
    lineno++;
    line[strcspn(line, "\n")] = '\0';
    /* "#s<TAB>..." is a case (RFC 3986's fragment-only reference). */
    if (!line[0] || (line[0] == '#' && !strchr(line, '\t')))
      continue;
    if (strncmp(line, "@base ", 6) == 0) {
      have_base = strcmp(line + 6, "-") != 0;
      snprintf(base, sizeof(base), "%s", line + 6);
      continue;
    }
    if (strncmp(line, "@options", 8) == 0) {
      parse_options(&op, line + 8);
      continue;
    }
    char *tab = strchr(line, '\t');
    CHECK(tab != NULL);
    if (!tab) {
      fprintf(stderr, "urlnorm_cases.txt:%d: no TAB\n", lineno);
      continue;
    }
    *tab = '\0';
    run_case(lineno, have_base ? base : NULL, line, tab + 1, &op.o);
    cases++;
  }
  fclose(f);
  return cases;
}

/* What a text file cannot hold: controls, and lengths at the limit. */
static void test_edges(void)
{
  const char *err = NULL;
  const char *bad[] = {"http://example.com/\x01", "http://example.com/a b",
                       "http://example.com/\x7f", "", "\t"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    err = NULL;
    CHECK(urlnorm_normalize(bad[i], NULL, &err) == NULL);
    CHECK(ERR_IS(err, ERR_BAD_URL));
  }
  char *got = urlnorm_resolve("http://a/b", "c\nd", NULL, &err);
  CHECK(got == NULL && ERR_IS(err, ERR_BAD_URL));

  /* Exactly max_len passes, one more byte does not; a default-sized
   * limit applies when max_len is 0. */
  struct urlnorm_options o = {.max_len = 32};
  char u[64];
  snprintf(u, sizeof(u), "http://example.com/%s", "aaaaaaaaaaaaa");
  CHECK(strlen(u) == 32);
  got = urlnorm_normalize(u, &o, &err);
  CHECK_STR(got, u);
  free(got);
  snprintf(u, sizeof(u), "http://example.com/%s", "aaaaaaaaaaaaaa");
  got = urlnorm_normalize(u, &o, &err);
  CHECK(got == NULL && ERR_IS(err, ERR_URL_TOO_LONG));
  /* Within the limit as input, over it once encoded. */
  snprintf(u, sizeof(u), "http://example.com/%s", "aaaaaaaaaaa\"");
  got = urlnorm_normalize(u, &o, &err);
  CHECK(got == NULL && ERR_IS(err, ERR_URL_TOO_LONG));

  size_t big = 9000;
  char *long_url = malloc(big + 1);
  memcpy(long_url, "http://e.com/", 13);
  memset(long_url + 13, 'a', big - 13);
  long_url[big] = '\0';
  got = urlnorm_normalize(long_url, NULL, &err);
  CHECK(got == NULL && ERR_IS(err, ERR_URL_TOO_LONG));
  long_url[8192] = '\0';
  got = urlnorm_normalize(long_url, NULL, &err);
  CHECK(got != NULL && strlen(got) == 8192);
  free(got);
  free(long_url);

  /* The default list is what the header promises. */
  const char *const *d = urlnorm_default_strip;
  CHECK_STR(d[0], "utm_*");
  CHECK(d[6] == NULL);
}

int main(void)
{
  curl_global_init(CURL_GLOBAL_DEFAULT);
  int n = run_file("urlnorm_cases.txt");
  fprintf(stderr, "urlnorm: %d cases from urlnorm_cases.txt\n", n);
  CHECK(n >= 60);
  test_edges();
  curl_global_cleanup();
  return check_report("test_urlnorm");
}
