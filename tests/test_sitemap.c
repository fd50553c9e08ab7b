/* sitemap: urlsets and sitemap indexes, plain and gzip; what is not a
 * sitemap; cut and broken documents; entities never expanded, external
 * ones never read; the caps. */
#include "buf.h"
#include "check.h"
#include "sitemap.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

struct got {
  struct buf b; /* the locs, each followed by '\n' */
  int stop_after;
  int calls;
};

static int collect(void *arg, const char *loc)
{
  struct got *g = arg;
  buf_puts(&g->b, loc);
  buf_putc(&g->b, '\n');
  return ++g->calls == g->stop_after;
}

/* The locs of doc as one string, and the count through *n. */
static char *scan(const char *doc, size_t len, long max, long *n)
{
  struct got g = {{0}, 0, 0};
  *n = sitemap_scan(doc, len, max, collect, &g);
  return g.b.data ? g.b.data : strdup("");
}

static void expect(const char *doc, long want_n, const char *want)
{
  long n;
  /* An exact-size copy, so a sanitizer build sees any over-read. */
  size_t len = strlen(doc);
  char *copy = malloc(len ? len : 1);
  memcpy(copy, doc, len);
  char *got = scan(copy, len, 1000, &n);
  if (n != want_n)
    fprintf(stderr, "count %ld, want %ld: %s\n", n, want_n, doc);
  CHECK(n == want_n);
  CHECK_STR(got, want);
  free(got);
  free(copy);
}

static void test_documents(void)
{
  expect(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n"
      "  <url><loc>http://s.test/a</loc><lastmod>2026-01-01</lastmod></url>\n"
      "  <url>\n    <loc>\n  http://s.test/b?x=1&amp;y=2  \n</loc>\n"
      "  </url>\n"
      "  <url><loc><![CDATA[http://s.test/c]]></loc></url>\n"
      "  <url><loc>http://s.test/&lt;&#65;&gt;</loc></url>\n"
      "</urlset>\n",
      4,
      "http://s.test/a\nhttp://s.test/b?x=1&y=2\nhttp://s.test/c\n"
      "http://s.test/<A>\n");
  expect("<sitemapindex xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">"
         "<sitemap><loc>http://s.test/s1.xml.gz</loc></sitemap>"
         "<sitemap><loc>http://s.test/s2.xml</loc></sitemap>"
         "</sitemapindex>",
         2, "http://s.test/s1.xml.gz\nhttp://s.test/s2.xml\n");
  /* A prefix on the elements; locs outside their entry, empty ones and
   * entries of the other kind do not count. */
  expect("<sm:urlset xmlns:sm=\"http://www.sitemaps.org/schemas/sitemap/0.9\">"
         "<sm:url><sm:loc>http://s.test/p</sm:loc></sm:url>"
         "<loc>http://s.test/stray</loc>"
         "<sm:sitemap><sm:loc>http://s.test/other</sm:loc></sm:sitemap>"
         "<sm:url><sm:loc>  </sm:loc><sm:loc/></sm:url>"
         "<sm:url><x><loc>http://s.test/nested</loc></x></sm:url>"
         "</sm:urlset>",
         1, "http://s.test/p\n");
  /* Not sitemaps. */
  expect("<rss><channel><item><link>http://s.test/</link></item></channel>"
         "</rss>",
         -1, "");
  expect("<html><body><a href=/x>x</a></body></html>", -1, "");
  expect("not xml at all", -1, "");
  expect("", -1, "");
  /* Cut or broken: what came before the break counts. */
  expect("<urlset><url><loc>http://s.test/1</loc></url><url><loc>http://s", 1,
         "http://s.test/1\n");
  expect("<urlset><url><loc>http://s.test/1</loc></url><url></oops></urlset>",
         1, "http://s.test/1\n");
  /* Entities other than the predefined ones are never expanded (no
   * billion laughs) nor an external one read (no XXE): a reference to one
   * is an error, and nothing from there on is taken. */
  expect("<?xml version=\"1.0\"?>\n<!DOCTYPE urlset [\n"
         "<!ENTITY a \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\">\n"
         "<!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">\n"
         "<!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\">\n"
         "<!ENTITY d \"&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;\">\n"
         "<!ENTITY e \"&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;\">\n"
         "<!ENTITY x SYSTEM \"file:///etc/passwd\">\n"
         "]>\n<urlset><url><loc>http://s.test/ok</loc></url>"
         "<url><loc>http://s.test/&e;</loc></url>"
         "<url><loc>&x;http://s.test/x</loc></url></urlset>",
         1, "http://s.test/ok\n");
  expect("<urlset><url><loc>&x;http://s.test/x</loc></url></urlset>", 0, "");
}

static void test_gzip_and_caps(void)
{
  /* 3,000 URLs, gzipped. */
  struct buf doc = {0};
  buf_puts(&doc, "<urlset>");
  for (int i = 0; i < 3000; i++)
    buf_printf(&doc, "<url><loc>http://s.test/p/%d.html</loc></url>", i);
  buf_puts(&doc, "</urlset>");
  uLongf zcap = compressBound(doc.len) + 64;
  unsigned char *gz = malloc(zcap);
  z_stream z;
  memset(&z, 0, sizeof(z));
  CHECK(deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8,
                     Z_DEFAULT_STRATEGY) == Z_OK);
  z.next_in = (Bytef *)doc.data;
  z.avail_in = (uInt)doc.len;
  z.next_out = gz;
  z.avail_out = (uInt)zcap;
  CHECK(deflate(&z, Z_FINISH) == Z_STREAM_END);
  size_t gzlen = zcap - z.avail_out;
  deflateEnd(&z);
  CHECK(sitemap_maybe("application/octet-stream", (char *)gz, gzlen));
  long n;
  char *got = scan((char *)gz, gzlen, 100000, &n);
  CHECK(n == 3000);
  CHECK(strncmp(got, "http://s.test/p/0.html\nhttp://s.test/p/1.html\n", 46) ==
        0);
  free(got);
  /* max: only the first ones are handed over, all are counted. */
  got = scan((char *)gz, gzlen, 2, &n);
  CHECK(n == 3000);
  CHECK_STR(got, "http://s.test/p/0.html\nhttp://s.test/p/1.html\n");
  free(got);
  /* A gzip stream cut in the middle gives what it had. */
  got = scan((char *)gz, gzlen / 2, 100000, &n);
  CHECK(n > 0 && n < 3000);
  free(got);
  /* Bytes that only start like gzip. */
  got = scan("\x1f\x8bnot really", 12, 10, &n);
  CHECK(n == -1);
  free(got);
  /* The callback can stop the walk. */
  struct got g = {{0}, 2, 0};
  n = sitemap_scan(doc.data, doc.len, 100000, collect, &g);
  CHECK(g.calls == 2 && n == 2);
  buf_free(&g.b);
  free(gz);
  buf_free(&doc);

  /* A gzip bomb: 64 MiB of white space after <urlset>, then a URL past
   * SITEMAP_MAX_BYTES that is never read. */
  {
    const size_t blank = 64u << 20;
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    CHECK(deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS, 9,
                       Z_DEFAULT_STRATEGY) == Z_OK);
    size_t zcap2 = 1 << 20, zl = 0;
    unsigned char *bomb = malloc(zcap2);
    char *spaces = malloc(1 << 20);
    memset(spaces, ' ', 1 << 20);
    const char *head = "<urlset><url><loc>http://s.test/first</loc></url>";
    const char *tail = "<url><loc>http://s.test/late</loc></url></urlset>";
    for (size_t part = 0; part < blank / (1 << 20) + 2; part++) {
      const char *in = part == 0                   ? head
                       : part <= blank / (1 << 20) ? spaces
                                                   : tail;
      zs.next_in = (Bytef *)in;
      zs.avail_in =
          (uInt)(part == 0 || part > blank / (1 << 20) ? strlen(in) : 1 << 20);
      int last = part == blank / (1 << 20) + 1;
      do {
        zs.next_out = bomb + zl;
        zs.avail_out = (uInt)(zcap2 - zl);
        deflate(&zs, last ? Z_FINISH : Z_NO_FLUSH);
        zl = zcap2 - zs.avail_out;
      } while (zs.avail_in);
    }
    deflateEnd(&zs);
    CHECK(zl < 200000); /* a bomb indeed */
    got = scan((char *)bomb, zl, 10, &n);
    CHECK(n == 1);
    CHECK_STR(got, "http://s.test/first\n");
    free(got);
    free(bomb);
    free(spaces);
  }

  /* A loc of SITEMAP_LOC_MAX bytes is handed over; a longer one is
   * counted but not cut into another URL. */
  for (int extra = 0; extra <= 1; extra++) {
    struct buf big = {0};
    buf_puts(&big, "<urlset><url><loc>http://s.test/");
    for (int i = 0; i < SITEMAP_LOC_MAX - 14 + extra; i++)
      buf_putc(&big, 'a');
    buf_puts(&big, "</loc></url><url><loc>http://s.test/b</loc></url>"
                   "</urlset>");
    got = scan(big.data, big.len, 10, &n);
    CHECK(n == 2);
    CHECK(strlen(got) ==
          (extra ? strlen("http://s.test/b\n")
                 : SITEMAP_LOC_MAX + 1 + strlen("http://s.test/b\n")));
    free(got);
    buf_free(&big);
  }

  CHECK(sitemap_maybe("text/xml", "x", 1));
  CHECK(sitemap_maybe(NULL, " \n<?xml", 7));
  CHECK(!sitemap_maybe("text/plain", "hello", 5));
  CHECK(!sitemap_maybe(NULL, "", 0));
}

int main(void)
{
  test_documents();
  test_gzip_and_caps();
  return check_report("test_sitemap");
}
