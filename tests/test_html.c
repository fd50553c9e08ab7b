/* html_scan: table cases with the spec's answers, edge inputs (truncation
 * at every offset, a 2 MB page, title cut), and an oracle run that checks
 * a generated corpus against libxml2's HTML parser. */
#include "buf.h"
#include "html.h"

#include "check.h"

#include <libxml/HTMLparser.h>
#include <libxml/xpath.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Inputs and link lists may hold NUL bytes, so both carry their length. */
#define IN(s) .in = s, .len = sizeof(s) - 1
#define LINKS(s) .links = s, .links_len = sizeof(s) - 1

struct html_case {
  const char *name;
  const char *in;
  size_t len;
  const char *title, *canonical, *robots, *base, *refresh;
  int nlinks;
  const char *links; /* the stored list; NULL: none stored */
  size_t links_len;
};

/* Where libxml2 2.9 answers otherwise, the case says "libxml2:" and what
 * it gives; those inputs stay out of the oracle corpus. */
static const struct html_case cases[] = {
    {"plain title", IN("<html><head><title>Hello</title></head></html>"),
     .title = "Hello"},
    {"basic entities",
     IN("<title>Fish &amp; Chips &lt;3 &gt; &quot;q&quot; &apos;a&#39;"
        "</title>"),
     .title = "Fish & Chips <3 > \"q\" 'a'"},
    {"numeric references", IN("<title>&#65;&#x42;&#X43;&#0068;</title>"),
     .title = "ABCD"},
    {"named references",
     IN("<title>a&nbsp;b &copy; &mdash; &eacute;&hellip;&thetasym;</title>"),
     .title = "a\xC2\xA0"
              "b \xC2\xA9 \xE2\x80\x94 \xC3\xA9\xE2\x80\xA6"
              "\xCF\x91"},
    {"astral reference", IN("<title>&#x1F600;</title>"),
     .title = "\xF0\x9F\x98\x80"},
    /* libxml2: no remap, U+0080 U+0096 U+0081 */
    {"windows-1252 remap", IN("<title>&#128;&#150;&#x81;</title>"),
     .title = "\xE2\x82\xAC\xE2\x80\x93\xC2\x81"},
    /* libxml2: drops them */
    {"invalid code points",
     IN("<title>&#0;&#xD800;&#x110000;&#99999999999;</title>"),
     .title = "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"},
    /* libxml2: drops "&#;" and "&#x;" */
    {"not references",
     IN("<title>&bogus; &#; &#x; & x &Amp; &aaaaaaaaaaaa;</title>"),
     .title = "&bogus; &#; &#x; & x &Amp; &aaaaaaaaaaaa;"},
    /* libxml2, here and in the next two: knows neither the upper-case
     * aliases nor names without ';' */
    {"upper-case aliases", IN("<title>&AMP;&LT;&COPY;</title>"),
     .title = "&<\xC2\xA9"},
    {"legacy names without ';' in text",
     IN("<title>&copy 2024 &ampx &notit; &lt</title>"),
     .title = "\xC2\xA9 2024 &x \xC2\xACit; <"},
    {"legacy names without ';' in attributes",
     IN("<a href=\"?a=1&copy=2&b=&lt3&gt\">"), .nlinks = 1,
     LINKS("?a=1&copy=2&b=&lt3>\0")},
    {"whitespace collapsed", IN("<title>\n\t  Hello \r\n  World \f </title>"),
     .title = "Hello World"},
    {"whitespace from references", IN("<title>&#32;a&#9;&#10;b&#32;</title>"),
     .title = "a b"},
    {"whitespace-only title", IN("<title> \n </title>"), .title = ""},
    {"empty title wins", IN("<title></title><title>second</title>"),
     .title = ""},
    {"first title wins", IN("<title>one</title><body><title>two</title>"),
     .title = "one"},
    {"title in body", IN("<body><p>x</p><title>late</title>"),
     .title = "late"},
    {"upper-case tags",
     IN("<HTML><HEAD><TITLE>Up</TITLE></HEAD><BODY><A HREF=\"/x\">x</A>"
        "<AREA HREF=/y></BODY>"),
     .title = "Up", .nlinks = 2, LINKS("/x\0/y\0")},
    {"every quoting form",
     IN("<a href=\"d\"><a href='s'><a href=u><a href><a href = \"sp\" >"
        "<a\thref\n=\n'nl'>"),
     .nlinks = 5, LINKS("d\0s\0u\0sp\0nl\0")},
    {"'>' in quoted values",
     IN("<a title=\"a>b\" href='c>d'><a title='>' href=e>"), .nlinks = 2,
     LINKS("c>d\0e\0")},
    {"unquoted value keeps quotes and '='", IN("<a href=a\"b'c=d>"),
     .nlinks = 1, LINKS("a\"b'c=d\0")},
    {"no space between attributes", IN("<a title=\"x\"href=\"y\">"),
     .nlinks = 1, LINKS("y\0")},
    {"repeated attribute: first wins", IN("<a href=first href=second>"),
     .nlinks = 1, LINKS("first\0")},
    /* libxml2: reads "<a/href=z>" as an a without attributes */
    {"odd attribute names",
     IN("<a =x href=y><a/href=z><a foo/bar href=w><a href=v/>"), .nlinks = 4,
     LINKS("y\0z\0w\0v/\0")},
    {"comment hides tags",
     IN("<!-- <title>no</title> <a href=no> --><title>yes</title>"),
     .title = "yes"},
    /* libxml2: runs "<!-->" on to the next "-->" */
    {"comment end forms",
     IN("<!--><a href=a1><!---><a href=a2><!-- x --!><a href=a3>"
        "<!-- -- > <a href=no> --><a href=a4>"),
     .nlinks = 4, LINKS("a1\0a2\0a3\0a4\0")},
    {"unterminated comment", IN("<a href=a><!-- <a href=b>"), .nlinks = 1,
     LINKS("a\0")},
    /* libxml2: sees the <a> inside "<![CDATA[" */
    {"doctype, processing instruction, CDATA",
     IN("<!DOCTYPE html PUBLIC \"a>b\"><?xml version=\"1.0\"?>"
        "<![CDATA[<a href=no>]]><a href=yes>"),
     .nlinks = 1, LINKS("yes\0")},
    /* libxml2: sees the <a> after "</ " */
    {"end tags and bogus comments",
     IN("</a href=\"x>y\"><a href=z></ <a href=no>><a href=k></>"),
     .nlinks = 2, LINKS("z\0k\0")},
    {"'<' that is text", IN("<p>1 < 2 <3 <.a href=no> <a href=yes>"),
     .nlinks = 1, LINKS("yes\0")},
    {"script hides markup",
     IN("<title>t</title><script>var s = \"<a href='x'>\"; "
        "document.write(\"</title>\");</script><a href=y>"),
     .title = "t", .nlinks = 1, LINKS("y\0")},
    {"script before title",
     IN("<script>\"<title>no</title>\"</script><title>yes</title>"),
     .title = "yes"},
    /* libxml2: ends the script at the first "</script" */
    {"script double escape",
     IN("<script><!-- document.write(\"<script>x</script>\"); "
        "<a href=no> --></script><a href=yes>"),
     .nlinks = 1, LINKS("yes\0")},
    {"script escape then end tag", IN("<script><!-- a </script><a href=yes>"),
     .nlinks = 1, LINKS("yes\0")},
    {"</scripts> is not the end",
     IN("<script>x</scripts><a href=no></script ><a href=yes>"), .nlinks = 1,
     LINKS("yes\0")},
    /* libxml2: treats "<script/>" as empty */
    {"self-closing script is still raw text",
     IN("<script src=x /><a href=no></script><a href=yes>"), .nlinks = 1,
     LINKS("yes\0")},
    {"unterminated script", IN("<a href=a><script><a href=b>"), .nlinks = 1,
     LINKS("a\0")},
    {"style is raw text",
     IN("<style>a[href=\"<a href=no>\"]{}</STYLE ><a href=yes>"), .nlinks = 1,
     LINKS("yes\0")},
    {"end tag attributes", IN("<style></style x=\">\"><a href=y>"),
     .nlinks = 1, LINKS("y\0")},
    /* libxml2, here and in the next: parses markup inside these */
    {"textarea is RCDATA", IN("<textarea><a href=no></textarea><a href=yes>"),
     .nlinks = 1, LINKS("yes\0")},
    {"raw text elements",
     IN("<iframe><a href=i></iframe><noembed><a href=e></noembed>"
        "<noframes><a href=f></noframes><xmp><a href=x></xmp><a href=y>"),
     .nlinks = 1, LINKS("y\0")},
    /* libxml2, here and in the next: parses markup inside a title */
    {"title is RCDATA",
     IN("<title>a <b>bold</b> &amp; <a href=no></title><a href=yes>"),
     .title = "a <b>bold</b> & <a href=no>", .nlinks = 1, LINKS("yes\0")},
    {"title end tag must be exact",
     IN("<title>x</titlex>y</title foo=\"</title>\">z"),
     .title = "x</titlex>y"},
    {"title start tag with quoted '>'", IN("<title lang=\"a>b\">T</title>"),
     .title = "T"},
    /* libxml2: "<title/>" is an empty title */
    {"self-closing title still opens", IN("<title/>x</title>"), .title = "x"},
    {"unterminated title", IN("<title>  open to the end  "),
     .title = "open to the end"},
    /* libxml2: parses markup after <plaintext> */
    {"plaintext ends markup", IN("<a href=a><plaintext><a href=no>"),
     .nlinks = 1, LINKS("a\0")},
    {"noscript is markup", IN("<noscript><a href=ns></noscript>"), .nlinks = 1,
     LINKS("ns\0")},
    /* libxml2, in the next four: keeps a tag cut off by the end of input,
     * and makes "<title" an empty title */
    {"unterminated start tag", IN("<title>t</title><a href=\"x"),
     .title = "t"},
    {"unterminated attribute list", IN("<a href='x' "), .nlinks = 0},
    {"unterminated self-closing", IN("<a href=x /"), .nlinks = 0},
    {"unterminated title tag", IN("<title"), .nlinks = 0},
    {"lone '<'", IN("<"), .nlinks = 0},
    {"lone '</'", IN("</"), .nlinks = 0},
    {"lone '<!'", IN("<!"), .nlinks = 0},
    {"lone '<!-'", IN("<!-"), .nlinks = 0},
    {"unterminated PI", IN("<?x <a href=no>"), .nlinks = 0},
    {"unterminated end tag", IN("</a"), .nlinks = 0},
    {"unterminated doctype", IN("<!doctype <a href=no"), .nlinks = 0},
    {"empty and blank hrefs",
     IN("<a href=\"\"><a href=\"  \"><a href=&#32;><a href><area href=\"\t\">"
        "<a name=x>"),
     .nlinks = 0},
    {"trimmed hrefs", IN("<a href=\" /a \n\"><a href=\"&#32;/b&#9;\">"),
     .nlinks = 2, LINKS("/a\0/b\0")},
    {"area", IN("<map><area shape=rect href=\"/m1\"><area nohref></map>"),
     .nlinks = 1, LINKS("/m1\0")},
    /* libxml2: drops a lone CR */
    {"CR and CRLF in attributes", IN("<a href=\"a\r\nb\rc\">"), .nlinks = 1,
     LINKS("a\nb\nc\0")},
    {"canonical among rel tokens",
     IN("<link rel=\"Canonical alternate\" href=\"/c1\">"
        "<link rel=canonical href=/c2>"),
     .canonical = "/c1"},
    {"canonical token, not substring",
     IN("<link rel=\"noncanonical\" href=/no>"
        "<link rel=\" alternate\tCANONICAL \" href=\" /yes \">"),
     .canonical = "/yes"},
    {"canonical needs an href",
     IN("<link rel=canonical><link href=/c rel=canonical>"),
     .canonical = "/c"},
    {"canonical rel with a reference",
     IN("<link rel=\"&#99;anonical\" href=\"/e?a=1&amp;b=2\">"),
     .canonical = "/e?a=1&b=2"},
    {"meta robots",
     IN("<meta name=\"description\" content=\"d\"><meta name=robots>"
        "<meta content=\"noindex, nofollow\" NAME=\"Robots\">"
        "<meta name=robots content=second>"),
     .robots = "noindex, nofollow"},
    {"meta robots name with a reference",
     IN("<meta name=\"&#114;obots\" content=' x '>"), .robots = "x"},
    {"base href", IN("<base target=_top><base href=\" /b/ \"><base href=/c/>"),
     .base = "/b/"},
    {"meta refresh", IN("<meta http-equiv=refresh content=\"5; url=/next\">"),
     .refresh = "/next"},
    {"meta refresh, quoted URL with a space",
     IN("<meta HTTP-EQUIV=\"Refresh\" content=\"0;URL='/q a'\">"),
     .refresh = "/q a"},
    {"meta refresh, comma and no url=",
     IN("<meta http-equiv=refresh content=\"3, /c\">"), .refresh = "/c"},
    {"meta refresh, spaces, a fraction, text after the quote",
     IN("<meta http-equiv=refresh content=' 1.5 ;  url = \"/d\" tail'>"),
     .refresh = "/d"},
    {"meta refresh without a URL does not count",
     IN("<meta http-equiv=refresh content=30>"
        "<meta http-equiv=refresh content=\"0; url=/later\">"),
     .refresh = "/later"},
    {"meta refresh with no time, or a bad one, is none",
     IN("<meta http-equiv=refresh content=\"url=/x\">"
        "<meta http-equiv=refresh content=\"0x; url=/y\">"
        "<meta name=refresh content=\"0; url=/z\">")},
    {"meta refresh with a reference, beside robots",
     IN("<meta name=robots content=noindex>"
        "<meta http-equiv=refresh content=\"0;url=/e?a=1&amp;b=2\">"),
     .robots = "noindex", .refresh = "/e?a=1&b=2"},
    /* libxml2: stops at the NULs or drops them */
    {"NUL bytes",
     IN("<title>a\0b</title><a href=\"x\0y\">\0<a\0 href=no><a href=z>"),
     .title = "a\xEF\xBF\xBD"
              "b",
     .nlinks = 2, LINKS("x\xEF\xBF\xBDy\0z\0")},
    /* libxml2: re-reads the bad bytes as Latin-1 */
    {"bytes that are not UTF-8",
     IN("<title>caf\xE9 \xFF\xFE</title><a href=\"/\xE9\">"),
     .title = "caf\xE9 \xFF\xFE", .nlinks = 1, LINKS("/\xE9\0")},
    /* libxml2: ends the tag name at the first non-ASCII byte */
    {"tag name with non-ASCII", IN("<a\xC3\xA9 href=no><\xC3\xA9>"),
     .nlinks = 0},
};

static size_t count_links(const char *links, size_t len)
{
  size_t n = 0;
  for (size_t i = 0; i < len; i++)
    n += links[i] == '\0';
  return n;
}

static void check_links(const char *name, const struct html_info *h,
                        const char *want, size_t want_len)
{
  int ok = (h->links == NULL) == (want == NULL) && h->links_len == want_len &&
           (!want || memcmp(h->links, want, want_len) == 0);
  CHECK(ok);
  if (!ok)
    fprintf(stderr, "  case \"%s\": links differ (len %zu, want %zu)\n", name,
            h->links_len, want_len);
}

static void test_cases(void)
{
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const struct html_case *c = &cases[i];
    /* An exact-size copy, so a sanitizer build sees any over-read. */
    char *in = malloc(c->len ? c->len : 1);
    memcpy(in, c->in, c->len);
    struct html_info h;
    int rc = html_scan(in, c->len, 1, -1, &h);
    CHECK(rc == 0);
    int before = check_failures;
    CHECK_STR(h.title, c->title);
    CHECK_STR(h.canonical, c->canonical);
    CHECK_STR(h.meta_robots, c->robots);
    CHECK_STR(h.base_href, c->base);
    CHECK_STR(h.refresh, c->refresh);
    CHECK(h.nlinks == c->nlinks);
    check_links(c->name, &h, c->links, c->links_len);
    html_info_free(&h);

    /* Without the list, the count is the same and nothing is stored. */
    rc = html_scan(in, c->len, 0, -1, &h);
    CHECK(rc == 0 && h.nlinks == c->nlinks && h.links == NULL &&
          h.links_len == 0);
    html_info_free(&h);
    if (check_failures != before)
      fprintf(stderr, "  in case \"%s\"\n", c->name);
    free(in);
  }
}

static void test_empty(void)
{
  struct html_info h;
  CHECK(html_scan(NULL, 0, 1, -1, &h) == 0);
  CHECK(h.title == NULL && h.nlinks == 0 && h.links == NULL);
  html_info_free(&h);
  html_info_free(&h); /* idempotent */
  html_info_free(NULL);
}

static void test_max_links(void)
{
  const char page[] = "<a href=1><a href=2><a href=\"\"><a href=3><a href=4>";
  struct html_info h;
  CHECK(html_scan(page, sizeof page - 1, 1, 2, &h) == 0);
  CHECK(h.nlinks == 4);
  check_links("max_links 2", &h,
              "1\0"
              "2\0",
              4);
  html_info_free(&h);
  CHECK(html_scan(page, sizeof page - 1, 1, 0, &h) == 0);
  CHECK(h.nlinks == 4 && h.links == NULL && h.links_len == 0);
  html_info_free(&h);
}

/* Every prefix of a page is a page cut short by the network: it must scan
 * without reading past its end, and what it reports can only grow with
 * the prefix, reaching the full answer once the relevant tag is whole. */
static void test_truncation(void)
{
  const char page[] =
      "<!DOCTYPE html>\n<html><head><meta charset=utf-8>\n"
      "<title>Caf&eacute; &amp; Bar</title>\n"
      "<link rel=\"canonical\" href=\"https://e.com/c\">\n"
      "<meta name=robots content='noindex'>\n"
      "<script>if (a < b) document.write('<a href=\"no\">');</script>\n"
      "<!-- <a href=\"/hidden\"> -->\n"
      "</head><body><h1>T</h1>\n"
      "<p>Some <b>bold</b> text &copy; 2024.</p>\n"
      "<ul><li><a href=\"/p/1.html\">one</a></li>\n"
      "<li><a href='/p/2.html' class=x>two</a></li>\n"
      "<li><A HREF=/p/3.html>three</A></li></ul>\n"
      "<map><area href=\"/m\"></map></body></html>\n";
  size_t len = sizeof page - 1;
  size_t title_end = (size_t)(strstr(page, "</title>") - page) + 8;
  size_t canon_end = (size_t)(strstr(page, "/c\">") - page) + 4;
  struct html_info full;
  CHECK(html_scan(page, len, 1, -1, &full) == 0);
  CHECK_STR(full.title, "Caf\xC3\xA9 & Bar");
  CHECK_STR(full.canonical, "https://e.com/c");
  CHECK_STR(full.meta_robots, "noindex");
  CHECK(full.nlinks == 4);
  static const char want[] = "/p/1.html\0/p/2.html\0/p/3.html\0/m";
  check_links("truncation full", &full, want, sizeof want);

  int prev = 0, bad = 0;
  for (size_t n = 0; n <= len; n++) {
    char *in = malloc(n ? n : 1);
    memcpy(in, page, n);
    struct html_info h;
    if (html_scan(in, n, 1, -1, &h) != 0)
      bad++;
    if (h.nlinks < prev || h.nlinks > full.nlinks ||
        count_links(h.links, h.links_len) != (size_t)h.nlinks ||
        (h.links_len && memcmp(h.links, full.links, h.links_len) != 0))
      bad++;
    if (n >= title_end && (!h.title || strcmp(h.title, full.title)))
      bad++;
    if (h.title && strlen(h.title) > strlen(full.title) + 8)
      bad++;
    if ((n >= canon_end) != (h.canonical != NULL) ||
        (h.canonical && strcmp(h.canonical, full.canonical)))
      bad++;
    if (bad) {
      fprintf(stderr, "  truncation: wrong at %zu bytes\n", n);
      html_info_free(&h);
      free(in);
      break;
    }
    prev = h.nlinks;
    html_info_free(&h);
    free(in);
  }
  CHECK(bad == 0);
  html_info_free(&full);
}

static void test_big_page(void)
{
  struct buf b = {0};
  buf_puts(&b, "<!doctype html><html><head><title>Big</title></head><body>");
  int n = 0;
  while (b.len < 2 * 1024 * 1024) {
    buf_printf(&b,
               "<p>Paragraph %d with some words &amp; an entity.</p>"
               "<a href=\"/p/%d.html\">p</a><!-- c --><br/>\n",
               n, n);
    n++;
  }
  buf_puts(&b, "</body></html>");
  struct html_info h;
  CHECK(html_scan(b.data, b.len, 1, 100, &h) == 0);
  CHECK_STR(h.title, "Big");
  CHECK(h.nlinks == n);
  CHECK(count_links(h.links, h.links_len) == 100);
  CHECK(h.links && strcmp(h.links, "/p/0.html") == 0);
  html_info_free(&h);
  CHECK(html_scan(b.data, b.len, 1, -1, &h) == 0);
  CHECK(h.nlinks == n && count_links(h.links, h.links_len) == (size_t)n);
  html_info_free(&h);

  /* A title left open at the top of a 2 MB page runs to the end: it is
   * cut, and everything after it is text. */
  memcpy(strstr(b.data, "</title>"), "</xitle>", 8);
  CHECK(html_scan(b.data, b.len, 1, -1, &h) == 0);
  CHECK(h.title && strlen(h.title) <= HTML_TITLE_MAX &&
        strlen(h.title) > HTML_TITLE_MAX - 8);
  CHECK(h.title && strncmp(h.title, "Big</xitle></head><body>", 24) == 0);
  CHECK(h.nlinks == 0);
  html_info_free(&h);
  buf_free(&b);
}

/* The cut never splits a sequence, whatever its length. */
static void test_title_cut(void)
{
  static const char *const chars[] = {"a", "\xC3\xA9", "\xE2\x82\xAC",
                                      "\xF0\x9F\x98\x80"};
  for (size_t shift = 0; shift < 4; shift++) {
    for (size_t c = 0; c < 4; c++) {
      struct buf b = {0};
      buf_puts(&b, "<title>");
      for (size_t i = 0; i < shift; i++)
        buf_puts(&b, "x");
      for (int i = 0; i < 1200; i++)
        buf_puts(&b, chars[c]);
      buf_puts(&b, "</title>");
      struct html_info h;
      CHECK(html_scan(b.data, b.len, 0, 0, &h) == 0);
      size_t tl = h.title ? strlen(h.title) : 0;
      size_t clen = strlen(chars[c]);
      CHECK(tl <= HTML_TITLE_MAX && tl > HTML_TITLE_MAX - clen);
      CHECK(tl >= shift && (tl - shift) % clen == 0);
      html_info_free(&h);
      buf_free(&b);
    }
  }
  /* A space at the cut does not survive as a trailing space. */
  struct buf b = {0};
  buf_puts(&b, "<title>");
  for (int i = 0; i < 1023; i++)
    buf_puts(&b, "y");
  buf_puts(&b, "  z</title>");
  struct html_info h;
  CHECK(html_scan(b.data, b.len, 0, 0, &h) == 0);
  CHECK(h.title && strlen(h.title) == 1023);
  html_info_free(&h);
  buf_free(&b);
}

/* ---- the oracle ---------------------------------------------------------
 *
 * A generated corpus, scanned by html_scan and parsed by libxml2; both must
 * agree on everything. The generator keeps to markup on which libxml2 2.9
 * and the spec agree: no "<!-->" comments, no "<!--" or "</script" in
 * scripts, no markup inside title or textarea, no legacy references
 * without ';', no non-UTF-8 bytes, no NULs (those are table cases). */

struct rng {
  uint64_t s;
};

static uint32_t rnd(struct rng *r, uint32_t n)
{
  r->s ^= r->s << 13;
  r->s ^= r->s >> 7;
  r->s ^= r->s << 17;
  return (uint32_t)(r->s >> 32) % n;
}

static const char *pick(struct rng *r, const char *const *v, size_t n)
{
  return v[rnd(r, (uint32_t)n)];
}

#define PICK(r, v) pick(r, v, sizeof v / sizeof v[0])

static const char *const words[] = {
    "alpha",       "beta",         "gamma",
    "delta",       "page",         "site",
    "synthetic",   "of",           "the",
    "and",         "crawl",        "fetch",
    "caf\xC3\xA9", "na\xC3\xAFve", "\xE6\x97\xA5\xE6\x9C\xAC",
    "1 < 2",       "a > b",        "x&y",
    "100%",
};
static const char *const refs[] = {
    "&amp;",    "&lt;",     "&gt;",    "&quot;",  "&apos;",  "&#39;",
    "&#233;",   "&#x41;",   "&#8212;", "&nbsp;",  "&copy;",  "&mdash;",
    "&eacute;", "&hellip;", "&laquo;", "&raquo;", "&rsquo;", "&#32;",
    "&#x9;",    "&euro;",   "&trade;",
};
static const char *const spaces[] = {" ",      "  ",   "\n", "\t",
                                     " \n\t ", "\r\n", ""};
static const char *const a_tags[] = {"a", "A", "a", "a"};
static const char *const href_names[] = {"href", "HREF", "Href", "href"};

static void put_words(struct rng *r, struct buf *b, int n, int with_refs)
{
  for (int i = 0; i < n; i++) {
    if (i) {
      const char *sp = PICK(r, spaces);
      buf_puts(b, *sp ? sp : " ");
    }
    if (with_refs && rnd(r, 4) == 0)
      buf_puts(b, PICK(r, refs));
    buf_puts(b, PICK(r, words));
  }
}

/* An attribute value in one of the quoting forms; unquoted only when the
 * value allows it. */
static void put_value(struct rng *r, struct buf *b, const char *v)
{
  int plain = strcspn(v, " \t\n\"'=<>`&") == strlen(v) && *v;
  switch (rnd(r, plain ? 3 : 2)) {
  case 0:
    buf_printf(b, "\"%s\"", v);
    break;
  case 1:
    buf_printf(b, "'%s'", v);
    break;
  default:
    buf_puts(b, v);
  }
}

static void put_attr(struct rng *r, struct buf *b, const char *name,
                     const char *v)
{
  buf_puts(b, rnd(r, 5) ? " " : "\n  ");
  buf_puts(b, name);
  buf_puts(b, rnd(r, 6) ? "=" : " = ");
  put_value(r, b, v);
}

static void put_filler_attr(struct rng *r, struct buf *b)
{
  switch (rnd(r, 5)) {
  case 0:
    put_attr(r, b, "class", "nav item");
    break;
  case 1:
    put_attr(r, b, "title", "a > b");
    break;
  case 2:
    buf_puts(b, " data-x");
    break;
  case 3:
    put_attr(r, b, "rel", "nofollow");
    break;
  default:
    put_attr(r, b, "id", "x1");
  }
}

static void put_href(struct rng *r, struct buf *b, int site, int j)
{
  char v[128];
  switch (rnd(r, 12)) {
  case 0:
    snprintf(v, sizeof v, "/p/%d.html?a=1&amp;b=%d", j, site);
    break;
  case 1:
    snprintf(v, sizeof v, "  /p/%d.html ", j);
    break;
  case 2:
    snprintf(v, sizeof v, "%s", rnd(r, 2) ? "" : "   ");
    break;
  case 3:
    snprintf(v, sizeof v, "https://example.com/p/%d.html#top", j);
    break;
  case 4:
    snprintf(v, sizeof v, "/p/%d.html?q=caf&#233;&amp;x", j);
    break;
  default:
    snprintf(v, sizeof v, "/p/%d.html", j);
  }
  put_attr(r, b, PICK(r, href_names), v);
}

static const char *const comments[] = {
    "<!-- <title>hidden</title> -->",
    "<!-- <a href=\"/hidden\">x</a> -->",
    "<!---->",
    "<!-- a -- b - c -->",
    ("<!-- <link rel=canonical href=/hidden> <meta name=robots "
     "content=hidden> -->"),
};
static const char *const scripts[] = {
    "<script>var s = \"<a href='/in-script'>x</a>\";</script>",
    ("<script type=\"text/javascript\">if (a < b && c > d) { "
     "document.title = '</title>'; }</script>"),
    "<SCRIPT>var t = '<title>no</title>';</SCRIPT>",
    "<script src=\"/app.js\"></script>",
    ("<style>a > b { color: red } .x:before { content: \"<a href=x>\" }"
     "</style>"),
    "<script>\n// </div> <area href=/no>\n</script >",
};

/* Markup a page may hold anywhere in its body. */
static const char *const extras[] = {
    "<img src=\"/i.png\" alt=\"a <b> c\"><br/><hr />",
    "<a title=\"x\"href=\"/glued\">glued</a>",
    "<a href=/slash/>slash</a >",
    "<noscript><a href=\"/ns\">ns</a></noscript>",
    "<table><tr><td><a href='/td'>t</a></td></tr></table>",
    "<div data-json='{\"a\":\"<a href=x>\"}'>j</div>",
    "<p>1 <2 &amp; 3 <= 4 and x <. y</p>",
    "<form action=/f><input name=q value=\"<a href=v>\"></form>",
    "</p ><p></a\n>",
    "<a href=\"&#x2F;hex&#47;dec\">h</a>",
    "<a HREF=\"/dup1\" href=\"/dup2\">d</a>",
    "<link rel=\"canonical\" href=\"/in-body\">",
    "<meta content=\"noarchive\" http-equiv=x name=\"robots\">",
    "<a\nhref\n=\n\"/nl\"\n>nl</a>",
    "<em>emph &lt;a href=x&gt; text</em>",
    "<a href=\"/q?x=1&amp;y=2\" hreflang=en>q</a>",
};

static void put_title(struct rng *r, struct buf *b, int n)
{
  static const char *const tags[] = {"title", "TITLE", "Title"};
  const char *t = PICK(r, tags);
  buf_printf(b, "<%s%s>", t, rnd(r, 6) ? "" : " lang=\"en\"");
  if (rnd(r, 3) == 0)
    buf_puts(b, PICK(r, spaces));
  if (rnd(r, 2))
    buf_printf(b, "Page %d of the synthetic site", n);
  else
    put_words(r, b, 1 + (int)rnd(r, 8), 1);
  if (rnd(r, 3) == 0)
    buf_puts(b, PICK(r, spaces));
  buf_printf(b, "</%s%s>", t, rnd(r, 6) ? "" : " ");
}

static void gen_doc(struct rng *r, struct buf *b, int n)
{
  static const char *const rels[] = {"canonical", "Canonical alternate",
                                     "alternate", "stylesheet", "CANONICAL"};
  static const char *const names[] = {"robots", "ROBOTS", "description",
                                      "googlebot", "Robots"};
  b->len = 0;
  if (n < 20) {
    /* The plain synthetic page first, as the origin serves it. */
    buf_printf(b,
               "<!doctype html><html><head><meta charset=utf-8><title>Page "
               "%d of the synthetic site</title></head><body><h1>Page "
               "%d</h1><p>",
               n, n);
    put_words(r, b, 50 + n * 10, 0);
    buf_puts(b, "</p><ul>");
    for (int j = 0; j < n * 3; j++)
      buf_printf(b, "<li><a href=\"/p/%d.html\">page %d</a></li>",
                 (n * 7 + j) % 1000, j);
    buf_puts(b, "</ul></body></html>");
    return;
  }
  static const char *const doctypes[] = {
      "<!doctype html>", "<!DOCTYPE html>\n",
      ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE html PUBLIC "
       "\"-//W3C//DTD XHTML 1.0 Strict//EN\" "
       "\"http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd\">\n"),
      ""};
  buf_puts(b, PICK(r, doctypes));
  buf_puts(b, rnd(r, 2) ? "<html>" : "<HTML lang=en>");
  buf_puts(b, "<head>");
  if (rnd(r, 2))
    buf_puts(b, "<meta charset=utf-8>");
  for (int k = (int)rnd(r, 3); k > 0; k--) {
    int what = (int)rnd(r, 5);
    if (what == 0)
      buf_puts(b, PICK(r, comments));
    else if (what == 1)
      buf_puts(b, PICK(r, scripts));
    else if (what == 2) {
      buf_puts(b, "<link");
      if (rnd(r, 2))
        put_attr(r, b, "href", "/c/first");
      put_attr(r, b, rnd(r, 2) ? "rel" : "REL", PICK(r, rels));
      put_attr(r, b, "href", rnd(r, 2) ? "/c/x.html" : " /c/&amp;y ");
      buf_puts(b, rnd(r, 3) ? ">" : " />");
    } else if (what == 3) {
      buf_puts(b, "<meta");
      put_attr(r, b, rnd(r, 2) ? "name" : "NAME", PICK(r, names));
      put_attr(r, b, "content",
               rnd(r, 2) ? "noindex, nofollow" : "index&#44; follow");
      buf_puts(b, ">");
    } else {
      buf_puts(b, "<base");
      put_attr(r, b, "href", rnd(r, 2) ? "/base/" : " https://e.com/ ");
      buf_puts(b, ">");
    }
    buf_puts(b, PICK(r, spaces));
  }
  if (rnd(r, 8))
    put_title(r, b, n);
  buf_puts(b, PICK(r, spaces));
  if (rnd(r, 3) == 0)
    buf_puts(b, PICK(r, scripts));
  buf_puts(b, "</head>");
  buf_puts(b, rnd(r, 2) ? "<body>" : "<BODY class=\"main\">");
  buf_printf(b, "<h1>Page %d</h1>", n);
  int nlinks = (int)rnd(r, 40);
  buf_puts(b, "<ul>");
  for (int j = 0; j < nlinks; j++) {
    int what = (int)rnd(r, 20);
    if (what == 0)
      buf_puts(b, PICK(r, comments));
    else if (what == 1)
      buf_puts(b, PICK(r, scripts));
    else if (what == 2) {
      buf_puts(b, "<p>");
      put_words(r, b, 5 + (int)rnd(r, 30), 1);
      buf_puts(b, "</p>");
    } else if (what == 3) {
      buf_puts(b, "<map name=m><area shape=rect");
      put_href(r, b, n, j);
      buf_puts(b, "></map>");
    } else if (what == 4 && rnd(r, 3) == 0) {
      put_title(r, b, n + 1000); /* a second title: the first wins */
    } else if (what >= 5 && what <= 7) {
      buf_puts(b, PICK(r, extras));
    }
    const char *a = PICK(r, a_tags);
    buf_printf(b, "<li><%s", a);
    if (rnd(r, 3) == 0)
      put_filler_attr(r, b);
    if (rnd(r, 10))
      put_href(r, b, n, j);
    if (rnd(r, 3) == 0)
      put_filler_attr(r, b);
    buf_puts(b, rnd(r, 8) ? ">" : " />");
    put_words(r, b, 1 + (int)rnd(r, 3), 1);
    buf_printf(b, "</%s></li>%s", a, PICK(r, spaces));
  }
  buf_puts(b, "</ul></body></html>\n");
}

/* Token soup: tags in orders no page would use, which exercises libxml2's
 * recovery (implied and misnested elements) against our tree-less view. */
static const char *const soup[] = {
    "<a href=x>",
    "<a href=\"y z\">",
    "<A HREF='q'>",
    "</a>",
    "<p>",
    "</p>",
    " ",
    "\n",
    "text",
    "<title>t &amp; u</title>",
    "&amp;",
    "&lt;",
    "<b>",
    "</b>",
    "<!-- c -->",
    "<div class=\"a>b\">",
    "</div>",
    "<table>",
    "<tr>",
    "<td>",
    "<li>",
    "<ul>",
    "<head>",
    "<body>",
    "</body>",
    "<html>",
    "</html>",
    "<link rel=canonical href=/c>",
    "<meta name=robots content=n>",
    "<base href=/b>",
    "<area href=/ar>",
    "<select>",
    "<option>",
    "<br/>",
    "<img src=i>",
    "<h1>",
    "<form>",
    "<a href=\"/w\">w</a>",
    "<script>var a = \"<a href=s>\";</script>",
    "<style>a>b{}</style>",
    "<!-- <a href=h> -->",
    "<",
    "</ x>",
    "<!x>",
    "<?pi?>",
    "<a href=a&b>",
    "<a href = x>",
    "<a href=\"x\"/>",
    "<a href=\"\" >",
    "&copy;",
    "<a href=\"&#47;e\">",
    "<!---->",
    "<!-- a -- b -->",
    "<x-y>",
    "<a\thref=t>",
    "<meta name=\"ROBOTS\" content=\"N\">",
    "<LINK REL=\"alternate canonical\" HREF=\"/cc\">",
    "<noscript><a href=ns></noscript>",
    "<svg>",
    "</svg>",
    "<math>",
    "<template>",
    "</template>",
    "<frameset>",
    "<frame src=f>",
    "<iframe src=x></iframe>",
    "<object>",
    "<embed>",
    "<button>",
    "<input value=\"<a href=no>\">",
    "<label>",
    "<span>",
    "<pre>",
    "<dl>",
    "<dd>",
    "<caption>",
    "<colgroup>",
    "<col>",
    "<thead>",
    "<th>",
    "<map>",
    "</map>",
    "<nav>",
};

static void gen_soup(struct rng *r, struct buf *b)
{
  b->len = 0;
  for (int k = 1 + (int)rnd(r, 40); k > 0; k--)
    buf_puts(b, PICK(r, soup));
}

struct oracle {
  char *title, *canonical, *robots, *base;
  int nlinks;
  struct buf links;
};

static int oracle_ws(unsigned char c)
{
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

/* Copy of s[0..n) trimmed; with collapse, inner runs become one space. */
static char *oracle_clean(const char *s, int collapse)
{
  size_t n = strlen(s), o = 0;
  char *d = malloc(n + 1);
  int space = 0;
  for (size_t i = 0; i < n; i++) {
    if (oracle_ws((unsigned char)s[i]) && (collapse || o == 0)) {
      space = o > 0;
      continue;
    }
    if (space && collapse)
      d[o++] = ' ';
    space = 0;
    d[o++] = s[i];
  }
  d[o] = '\0';
  while (o && oracle_ws((unsigned char)d[o - 1]))
    d[--o] = '\0';
  return d;
}

static xmlNodeSetPtr oracle_eval(xmlXPathContextPtr x, const char *expr,
                                 xmlXPathObjectPtr *obj)
{
  *obj = xmlXPathEvalExpression((const xmlChar *)expr, x);
  return *obj && (*obj)->nodesetval ? (*obj)->nodesetval : NULL;
}

static char *oracle_prop(xmlNodePtr node, const char *name)
{
  xmlChar *v = xmlGetProp(node, (const xmlChar *)name);
  char *s = oracle_clean(v ? (const char *)v : "", 0);
  xmlFree(v);
  return s;
}

static int oracle_has_canonical(const char *rel)
{
  const char *p = rel;
  while (*p) {
    while (*p && oracle_ws((unsigned char)*p))
      p++;
    size_t n = 0;
    while (p[n] && !oracle_ws((unsigned char)p[n]))
      n++;
    if (n == 9 && strncasecmp(p, "canonical", 9) == 0)
      return 1;
    p += n;
  }
  return 0;
}

static int oracle_parse(const char *doc, size_t len, struct oracle *o)
{
  memset(o, 0, sizeof *o);
  htmlDocPtr d = htmlReadMemory(doc, (int)len, NULL, "UTF-8",
                                HTML_PARSE_RECOVER | HTML_PARSE_NOERROR |
                                    HTML_PARSE_NOWARNING | HTML_PARSE_NONET);
  if (!d)
    return -1;
  xmlXPathContextPtr x = xmlXPathNewContext(d);
  xmlXPathObjectPtr obj;
  xmlNodeSetPtr ns = oracle_eval(x, "//title", &obj);
  if (ns && ns->nodeNr) {
    xmlChar *t = xmlNodeGetContent(ns->nodeTab[0]);
    o->title = oracle_clean(t ? (const char *)t : "", 1);
    xmlFree(t);
    size_t tl = strlen(o->title);
    if (tl > HTML_TITLE_MAX) {
      size_t cut = HTML_TITLE_MAX;
      while (((unsigned char)o->title[cut] & 0xC0) == 0x80)
        cut--;
      while (cut && o->title[cut - 1] == ' ')
        cut--;
      o->title[cut] = '\0';
    }
  }
  xmlXPathFreeObject(obj);
  ns = oracle_eval(x, "//a[@href] | //area[@href]", &obj);
  for (int i = 0; ns && i < ns->nodeNr; i++) {
    char *h = oracle_prop(ns->nodeTab[i], "href");
    if (*h) {
      o->nlinks++;
      buf_append(&o->links, h, strlen(h) + 1);
    }
    free(h);
  }
  xmlXPathFreeObject(obj);
  ns = oracle_eval(x, "//link[@href and @rel]", &obj);
  for (int i = 0; ns && i < ns->nodeNr && !o->canonical; i++) {
    xmlChar *rel = xmlGetProp(ns->nodeTab[i], (const xmlChar *)"rel");
    if (oracle_has_canonical((const char *)rel))
      o->canonical = oracle_prop(ns->nodeTab[i], "href");
    xmlFree(rel);
  }
  xmlXPathFreeObject(obj);
  ns = oracle_eval(x, "//meta[@name and @content]", &obj);
  for (int i = 0; ns && i < ns->nodeNr && !o->robots; i++) {
    xmlChar *name = xmlGetProp(ns->nodeTab[i], (const xmlChar *)"name");
    if (strcasecmp((const char *)name, "robots") == 0)
      o->robots = oracle_prop(ns->nodeTab[i], "content");
    xmlFree(name);
  }
  xmlXPathFreeObject(obj);
  ns = oracle_eval(x, "//base[@href]", &obj);
  if (ns && ns->nodeNr)
    o->base = oracle_prop(ns->nodeTab[0], "href");
  xmlXPathFreeObject(obj);
  xmlXPathFreeContext(x);
  xmlFreeDoc(d);
  return 0;
}

static void oracle_free(struct oracle *o)
{
  free(o->title);
  free(o->canonical);
  free(o->robots);
  free(o->base);
  buf_free(&o->links);
}

/* Every entity libxml2 knows (the HTML 4 set and &apos;) decodes to the
 * same code point here, in a title and in an attribute. */
static void test_entities(void)
{
  int found = 0, bad = 0;
  for (unsigned cp = 1; cp < 0x10000; cp++) {
    const htmlEntityDesc *ent = htmlEntityValueLookup(cp);
    if (!ent)
      continue;
    found++;
    char page[128], want[8] = {0};
    snprintf(page, sizeof page, "<title>&%s;</title><a href=\"&%s;\">",
             ent->name, ent->name);
    if (cp < 0x80) {
      want[0] = (char)cp;
    } else if (cp < 0x800) {
      want[0] = (char)(0xC0 | cp >> 6);
      want[1] = (char)(0x80 | (cp & 0x3F));
    } else {
      want[0] = (char)(0xE0 | cp >> 12);
      want[1] = (char)(0x80 | (cp >> 6 & 0x3F));
      want[2] = (char)(0x80 | (cp & 0x3F));
    }
    struct html_info h;
    if (html_scan(page, strlen(page), 1, -1, &h) != 0 || !h.title ||
        strcmp(h.title, cp == ' ' ? "" : want) != 0 || !h.links ||
        strcmp(h.links, want) != 0) {
      if (bad++ < 5)
        fprintf(stderr, "  entity &%s; (U+%04X) decodes wrong\n", ent->name,
                cp);
    }
    html_info_free(&h);
  }
  CHECK(found >= 250);
  CHECK(bad == 0);
}

static int same_str(const char *a, const char *b)
{
  return (a == NULL) == (b == NULL) && (!a || strcmp(a, b) == 0);
}

static void test_oracle(void)
{
  enum { NPAGES = 400, NDOCS = NPAGES + 200 };
  struct rng r = {0x9E3779B97F4A7C15ull};
  struct buf doc = {0};
  int agree = 0, shown = 0, with_title = 0, with_canon = 0, links = 0;
  for (int n = 0; n < NDOCS; n++) {
    if (n < NPAGES)
      gen_doc(&r, &doc, n);
    else
      gen_soup(&r, &doc);
    struct oracle o;
    struct html_info h;
    if (oracle_parse(doc.data, doc.len, &o) != 0 ||
        html_scan(doc.data, doc.len, 1, -1, &h) != 0) {
      CHECK(!"oracle or scan failed");
      continue;
    }
    int ok =
        same_str(h.title, o.title) && same_str(h.canonical, o.canonical) &&
        same_str(h.meta_robots, o.robots) && same_str(h.base_href, o.base) &&
        h.nlinks == o.nlinks && h.links_len == o.links.len &&
        (!h.links_len || memcmp(h.links, o.links.data, h.links_len) == 0);
    agree += ok;
    with_title += o.title != NULL;
    with_canon += o.canonical != NULL;
    links += o.nlinks;
    if (!ok && shown++ < 3)
      fprintf(stderr,
              "oracle: document %d differs\n  title [%s] vs libxml2 [%s]\n"
              "  canonical [%s] vs [%s]\n  robots [%s] vs [%s]\n"
              "  base [%s] vs [%s]\n  links %d vs %d\n---\n%s\n---\n",
              n, h.title, o.title, h.canonical, o.canonical, h.meta_robots,
              o.robots, h.base_href, o.base, h.nlinks, o.nlinks, doc.data);
    html_info_free(&h);
    oracle_free(&o);
  }
  CHECK(agree == NDOCS);
  /* The corpus must exercise what it claims to. */
  CHECK(with_title > NDOCS / 2 && with_canon > 10 && links > 10 * NDOCS);
  fprintf(stderr, "oracle: %d/%d documents agree with libxml2 (%d links)\n",
          agree, NDOCS, links);
  buf_free(&doc);
}

int main(void)
{
  test_cases();
  test_empty();
  test_max_links();
  test_truncation();
  test_big_page();
  test_title_cut();
  test_entities();
  test_oracle();
  xmlCleanupParser();
  return check_report("test_html");
}
