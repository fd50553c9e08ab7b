/* feed: RSS 2.0, RSS 1.0 and Atom documents with every field, with fields
 * missing, CDATA, references, whitespace, relative links, dates in many
 * forms, ids (guids kept as written, hash ids), the caps, HTML kept as
 * text; what is refused (not XML, not a feed, too large) and with what
 * message; hostile documents (entity expansion bombs, external entities,
 * external DTDs, XInclude). */
#include "check.h"
#include "feed.h"

#include <libxml/parser.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define RSS_HEAD                                                              \
  "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"                              \
  "<rss version=\"2.0\" xmlns:content=\"http://purl.org/rss/1.0/modules/"     \
  "content/\" xmlns:dc=\"http://purl.org/dc/elements/1.1/\" "                 \
  "xmlns:atom=\"http://www.w3.org/2005/Atom\">\n<channel>\n"
#define RSS_TAIL "</channel>\n</rss>\n"
#define ATOM_HEAD                                                             \
  "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"                              \
  "<feed xmlns=\"http://www.w3.org/2005/Atom\">\n"
#define ATOM_TAIL "</feed>\n"

static int parse(struct feed *f, const char *doc, char *err, size_t errlen)
{
  return feed_parse(f, doc, strlen(doc), err, errlen);
}

/* Parses a document that must parse, reporting the error if not. */
static int parse_ok(struct feed *f, const char *doc, int line)
{
  char err[256] = "";
  int rc = parse(f, doc, err, sizeof(err));
  check_count++;
  if (rc != 0) {
    check_failures++;
    fprintf(stderr, "test_feed.c:%d: feed_parse failed: %s\n", line, err);
  }
  return rc;
}

#define PARSE_OK(f, doc) parse_ok((f), (doc), __LINE__)

/* The document refused, and its message starts with want. */
static void expect_error(const char *doc, size_t len, const char *want,
                         int line)
{
  struct feed f;
  char err[256] = "x";
  int rc = feed_parse(&f, doc, len, err, sizeof(err));
  check_count++;
  if (rc != -1 || strncmp(err, want, strlen(want)) != 0 ||
      strchr(err, '\n') != NULL || f.nitems != 0 || f.items != NULL ||
      f.title != NULL) {
    check_failures++;
    fprintf(stderr, "test_feed.c:%d: rc %d err \"%s\", want \"%s...\"\n", line,
            rc, err, want);
  }
  if (rc == 0)
    feed_free(&f);
}

#define EXPECT_ERROR(doc, want)                                               \
  expect_error((doc), strlen(doc), (want), __LINE__)

static char *xasprintf(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  char *s = malloc((size_t)n + 1);
  if (s == NULL)
    abort();
  va_start(ap, fmt);
  vsnprintf(s, (size_t)n + 1, fmt, ap);
  va_end(ap);
  return s;
}

/* "sha256:" and the hex SHA-256 of title "\n" summary, computed here. */
static void want_hash(const char *title, const char *summary, char out[72])
{
  char *in = xasprintf("%s\n%s", title, summary);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (!EVP_Digest(in, strlen(in), md, &n, EVP_sha256(), NULL) || n != 32)
    abort();
  free(in);
  strcpy(out, "sha256:");
  for (unsigned i = 0; i < 32; i++)
    snprintf(out + 7 + 2 * i, 3, "%02x", md[i]);
}

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

static void test_rss2_full(void)
{
  struct feed f;
  const char *doc = RSS_HEAD
      "<title>Example Blog</title>\n"
      "<link>https://example.com/</link>\n"
      "<atom:link href=\"https://example.com/feed.xml\" rel=\"self\"/>\n"
      "<description>All about examples</description>\n"
      "<item>\n"
      "  <title>First post</title>\n"
      "  <atom:link href=\"https://example.com/not-this\"/>\n"
      "  <link>https://example.com/first</link>\n"
      "  <guid isPermaLink=\"false\">tag:example.com,2003:1</guid>\n"
      "  <description>The first one.</description>\n"
      "  <content:encoded><![CDATA[<p>The <b>full</b> "
      "text.</p>]]></content:encoded>\n"
      "  <pubDate>Tue, 10 Jun 2003 04:00:00 GMT</pubDate>\n"
      "  <dc:date>2001-01-01T00:00:00Z</dc:date>\n"
      "  <dc:creator>someone</dc:creator>\n"
      "  <category>x</category>\n"
      "</item>\n"
      "<item>\n"
      "  <title>Second</title>\n"
      "  <link>https://example.com/second</link>\n"
      "  <guid>https://example.com/?p=2</guid>\n"
      "  <content:encoded>Only content</content:encoded>\n"
      "  <dc:date>2003-12-13T18:30:02Z</dc:date>\n"
      "</item>\n" RSS_TAIL;
  if (PARSE_OK(&f, doc) != 0)
    return;
  CHECK_STR(f.title, "Example Blog");
  CHECK(f.nitems == 2);
  if (f.nitems == 2) {
    struct feed_item *a = &f.items[0], *b = &f.items[1];
    CHECK_STR(a->id, "tag:example.com,2003:1");
    CHECK_STR(a->title, "First post");
    CHECK_STR(a->link, "https://example.com/first");
    CHECK_STR(a->summary, "The first one.");
    CHECK_STR(a->date, "Tue, 10 Jun 2003 04:00:00 GMT");
    CHECK(a->time == 1055217600);
    CHECK_STR(b->id, "https://example.com/?p=2");
    CHECK_STR(b->link, "https://example.com/second");
    CHECK_STR(b->summary, "Only content");      /* content:encoded stands in */
    CHECK_STR(b->date, "2003-12-13T18:30:02Z"); /* dc:date stands in */
    CHECK(b->time == 1071340202);
  }
  feed_free(&f);
  CHECK(f.items == NULL && f.nitems == 0 && f.title == NULL);
  feed_free(&f); /* twice is harmless */
}

static void test_rss2_missing(void)
{
  struct feed f;
  char h[72];
  const char *doc =
      RSS_HEAD "<item><title>Only a title</title></item>\n"
               "<item><link>https://example.com/a</link></item>\n"
               "<item><guid>https://example.com/g</guid></item>\n"
               "<item><guid isPermaLink=\"false\">https://example.com/h</guid>"
               "</item>\n"
               "<item><guid>urn:uuid:1</guid></item>\n"
               "<item><description>Only a description</description></item>\n"
               "<item></item>\n"
               "<item><title> </title><link>  </link><guid></guid>"
               "<description>\n</description><pubDate> </pubDate></item>\n"
               "<item><link>https://example.com/b</link>"
               "<guid>https://example.com/c</guid></item>\n" RSS_TAIL;
  if (PARSE_OK(&f, doc) != 0)
    return;
  CHECK(f.title == NULL);
  CHECK(f.nitems == 9);
  if (f.nitems != 9) {
    feed_free(&f);
    return;
  }
  struct feed_item *it = f.items;
  want_hash("Only a title", "", h);
  CHECK_STR(it[0].id, h);
  CHECK_STR(it[0].title, "Only a title");
  CHECK(it[0].link == NULL && it[0].summary == NULL && it[0].date == NULL);
  CHECK(it[0].time == 0);
  CHECK_STR(it[1].id, "https://example.com/a"); /* the link stands in */
  CHECK_STR(it[1].title, "");
  CHECK_STR(it[1].link, "https://example.com/a");
  /* A permalink guid (the default) is the link too ... */
  CHECK_STR(it[2].id, "https://example.com/g");
  CHECK_STR(it[2].link, "https://example.com/g");
  /* ... but not one marked isPermaLink="false", nor a non-URL */
  CHECK_STR(it[3].id, "https://example.com/h");
  CHECK(it[3].link == NULL);
  CHECK_STR(it[4].id, "urn:uuid:1");
  CHECK(it[4].link == NULL);
  want_hash("", "Only a description", h);
  CHECK_STR(it[5].id, h);
  CHECK_STR(it[5].title, "");
  CHECK_STR(it[5].summary, "Only a description");
  want_hash("", "", h);
  CHECK_STR(it[6].id, h);
  CHECK_STR(it[6].title, "");
  /* blank elements are missing ones */
  CHECK_STR(it[7].id, h);
  CHECK_STR(it[7].title, "");
  CHECK(it[7].link == NULL && it[7].summary == NULL && it[7].date == NULL);
  /* the guid wins over the link as id; the link stays the link */
  CHECK_STR(it[8].id, "https://example.com/c");
  CHECK_STR(it[8].link, "https://example.com/b");
  feed_free(&f);

  /* no channel, an empty channel */
  CHECK(PARSE_OK(&f, "<rss version=\"2.0\"/>") == 0);
  CHECK(f.nitems == 0 && f.items == NULL && f.title == NULL);
  feed_free(&f);
  CHECK(PARSE_OK(&f, "<rss><channel></channel></rss>") == 0);
  CHECK(f.nitems == 0 && f.title == NULL);
  feed_free(&f);
}

static void test_rss2_namespaces(void)
{
  struct feed f;
  /* Extension elements by namespace URI, whatever their prefix; elements
   * of other namespaces that share a name are not RSS's; undeclared
   * content:/dc: prefixes are tolerated. */
  const char *doc =
      "<rss version=\"2.0\" xmlns:c=\"http://purl.org/rss/1.0/modules/"
      "content/\" xmlns:d=\"http://purl.org/dc/elements/1.1/\" "
      "xmlns:m=\"http://search.yahoo.com/mrss/\"><channel>"
      "<m:title>not the title</m:title><title>T</title>"
      "<item><m:title>media</m:title><title>a</title>"
      "<m:description>no</m:description><c:encoded>enc</c:encoded>"
      "<m:link>https://x/no</m:link><d:date>2003-12-13</d:date></item>"
      "</channel></rss>";
  if (PARSE_OK(&f, doc) == 0) {
    CHECK_STR(f.title, "T");
    CHECK(f.nitems == 1);
    if (f.nitems == 1) {
      CHECK_STR(f.items[0].title, "a");
      CHECK_STR(f.items[0].summary, "enc");
      CHECK(f.items[0].link == NULL);
      CHECK(f.items[0].time == 1071273600);
    }
    feed_free(&f);
  }
  /* content: and dc: used without their namespace declarations */
  doc = "<rss><channel><item><content:encoded>enc</content:encoded>"
        "<dc:date>2003-12-13</dc:date><x:date>no</x:date></item>"
        "</channel></rss>";
  if (PARSE_OK(&f, doc) == 0) {
    CHECK(f.nitems == 1);
    if (f.nitems == 1) {
      CHECK_STR(f.items[0].summary, "enc");
      CHECK_STR(f.items[0].date, "2003-12-13");
      CHECK(f.items[0].time == 1071273600);
    }
    feed_free(&f);
  }
  /* The element names of another vocabulary are not content:encoded. */
  doc = "<rss><channel><item><x:encoded xmlns:x=\"urn:x\">no</x:encoded>"
        "</item></channel></rss>";
  if (PARSE_OK(&f, doc) == 0) {
    CHECK(f.nitems == 1 && f.items[0].summary == NULL);
    feed_free(&f);
  }
}

static void test_rss1(void)
{
  struct feed f;
  const char *doc =
      "<?xml version=\"1.0\"?>\n"
      "<rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\"\n"
      "  xmlns=\"http://purl.org/rss/1.0/\"\n"
      "  xmlns:dc=\"http://purl.org/dc/elements/1.1/\">\n"
      "<channel rdf:about=\"https://example.org/\">\n"
      "  <title>RDF Site</title><link>https://example.org/</link>\n"
      "  <description>d</description>\n"
      "  <items><rdf:Seq><rdf:li rdf:resource=\"https://example.org/1\"/>"
      "</rdf:Seq></items>\n"
      "</channel>\n"
      "<item rdf:about=\"https://example.org/1\">\n"
      "  <title>One</title><link>https://example.org/1.html</link>\n"
      "  <description>First &amp; best</description>\n"
      "  <dc:date>2003-12-13T18:30:02+01:00</dc:date>\n"
      "</item>\n"
      "<item>\n"
      "  <title>Two</title><link>https://example.org/2</link>\n"
      "</item>\n"
      "<item><title>Three</title><description>x</description></item>\n"
      "</rdf:RDF>\n";
  if (PARSE_OK(&f, doc) != 0)
    return;
  CHECK_STR(f.title, "RDF Site");
  CHECK(f.nitems == 3);
  if (f.nitems == 3) {
    CHECK_STR(f.items[0].id, "https://example.org/1");
    CHECK_STR(f.items[0].title, "One");
    CHECK_STR(f.items[0].link, "https://example.org/1.html");
    CHECK_STR(f.items[0].summary, "First & best");
    CHECK_STR(f.items[0].date, "2003-12-13T18:30:02+01:00");
    CHECK(f.items[0].time == 1071340202 - 3600);
    CHECK_STR(f.items[1].id, "https://example.org/2");
    char h[72];
    want_hash("Three", "x", h);
    CHECK_STR(f.items[2].id, h);
  }
  feed_free(&f);

  /* Prefixed RSS 1.0 elements, the RSS 0.90 namespace, and unprefixed
   * elements in no namespace are all taken. */
  doc = "<r:RDF xmlns:r=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\" "
        "xmlns:rss=\"http://purl.org/rss/1.0/\">"
        "<rss:channel><rss:title>P</rss:title></rss:channel>"
        "<rss:item r:about=\"u1\"><rss:title>a</rss:title></rss:item>"
        "<item xmlns=\"http://my.netscape.com/rdf/simple/0.9/\">"
        "<title>b</title><link>u2</link></item>"
        "<item><title>c</title><link>u3</link></item>"
        "<x:item xmlns:x=\"urn:other\"><x:title>no</x:title></x:item>"
        "</r:RDF>";
  if (PARSE_OK(&f, doc) == 0) {
    CHECK_STR(f.title, "P");
    CHECK(f.nitems == 3);
    if (f.nitems == 3) {
      CHECK_STR(f.items[0].id, "u1");
      CHECK_STR(f.items[1].id, "u2");
      CHECK_STR(f.items[2].title, "c");
    }
    feed_free(&f);
  }
  /* An RDF root in another namespace is no feed. */
  EXPECT_ERROR("<RDF><item/></RDF>", "not a feed: root element <RDF>");
}

static void test_atom(void)
{
  struct feed f;
  char h[72];
  const char *doc = ATOM_HEAD
      "<title type=\"text\">Atom Feed</title>\n"
      "<link href=\"https://example.net/\"/>\n"
      "<id>urn:uuid:feed</id><updated>2003-12-13T18:30:02Z</updated>\n"
      "<entry>\n"
      "  <title type=\"html\">A &lt;em&gt;bold&lt;/em&gt; title</title>\n"
      "  <link rel=\"self\" href=\"https://example.net/self\"/>\n"
      "  <link rel=\"alternate\" type=\"text/html\" "
      "href=\"https://example.net/2003/12/13/atom\"/>\n"
      "  <link href=\"https://example.net/second-alternate\"/>\n"
      "  <id>urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a</id>\n"
      "  <updated>2003-12-13T18:30:02.25Z</updated>\n"
      "  <published>2003-12-01T00:00:00Z</published>\n"
      "  <summary>Some text.</summary>\n"
      "  <content type=\"xhtml\"><div "
      "xmlns=\"http://www.w3.org/1999/xhtml\"><p>Full</p></div></content>\n"
      "  <author><name>John</name></author>\n"
      "</entry>\n"
      "<entry>\n"
      "  <title>No id</title>\n"
      "  <link rel=\"enclosure\" href=\"/audio.mp3\"/>\n"
      "  <link rel=\"related\" href=\"/related\"/>\n"
      "  <content type=\"html\">&lt;p&gt;Body&lt;/p&gt;</content>\n"
      "  <published>2003-12-13T18:30:02-05:00</published>\n"
      "</entry>\n"
      "<entry>\n"
      "  <title>Nothing</title>\n"
      "  <content type=\"xhtml\"><div xmlns=\"http://www.w3.org/1999/xhtml\">"
      "<p>Para <b>one</b></p>\n<p>two</p></div></content>\n"
      "  <link rel=\"alternate\"/>\n"
      "</entry>\n"
      "<entry><link rel=\"alternate\" href=\"https://example.net/x\"/>"
      "<link rel=\"self\" "
      "href=\"https://example.net/y\"/></entry>\n" ATOM_TAIL;
  if (PARSE_OK(&f, doc) != 0)
    return;
  CHECK_STR(f.title, "Atom Feed");
  CHECK(f.nitems == 4);
  if (f.nitems == 4) {
    struct feed_item *it = f.items;
    CHECK_STR(it[0].id, "urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a");
    CHECK_STR(it[0].title, "A <em>bold</em> title");
    CHECK_STR(it[0].link, "https://example.net/2003/12/13/atom");
    CHECK_STR(it[0].summary, "Some text.");
    CHECK_STR(it[0].date, "2003-12-13T18:30:02.25Z");
    CHECK(it[0].time == 1071340202);
    /* no alternate link: the first link; no id: that link */
    CHECK_STR(it[1].link, "/audio.mp3");
    CHECK_STR(it[1].id, "/audio.mp3");
    CHECK_STR(it[1].summary, "<p>Body</p>");
    CHECK_STR(it[1].date, "2003-12-13T18:30:02-05:00");
    CHECK(it[1].time == 1071340202 + 5 * 3600);
    /* a link without href is no link; xhtml content as its text */
    CHECK(it[2].link == NULL);
    CHECK_STR(it[2].summary, "Para one two");
    want_hash("Nothing", "Para one two", h);
    CHECK_STR(it[2].id, h);
    CHECK_STR(it[3].link, "https://example.net/x");
    CHECK_STR(it[3].title, "");
  }
  feed_free(&f);

  /* A prefixed Atom feed; elements of other namespaces named like Atom's
   * are not Atom's. */
  doc = "<a:feed xmlns:a=\"http://www.w3.org/2005/Atom\" "
        "xmlns:m=\"http://search.yahoo.com/mrss/\">"
        "<m:title>no</m:title><a:title>Prefixed</a:title>"
        "<a:entry><m:id>no</m:id><a:id>e1</a:id><m:title>no</m:title>"
        "<a:title>t</a:title><m:link href=\"no\"/>"
        "<a:link href=\"yes\"/></a:entry>"
        "<entry><id>not Atom: no namespace</id></entry>"
        "</a:feed>";
  if (PARSE_OK(&f, doc) == 0) {
    CHECK_STR(f.title, "Prefixed");
    CHECK(f.nitems == 1);
    if (f.nitems == 1) {
      CHECK_STR(f.items[0].id, "e1");
      CHECK_STR(f.items[0].title, "t");
      CHECK_STR(f.items[0].link, "yes");
    }
    feed_free(&f);
  }
  /* Atom 0.3 and a namespace-less <feed> are taken as Atom; a <feed> of
   * another vocabulary is not a feed. */
  doc = "<feed xmlns=\"http://purl.org/atom/ns#\" version=\"0.3\"><entry>"
        "<id>o</id><modified>2003-12-13T18:30:02Z</modified></entry></feed>";
  if (PARSE_OK(&f, doc) == 0) {
    CHECK(f.nitems == 1 && f.items[0].time == 1071340202);
    feed_free(&f);
  }
  if (PARSE_OK(&f, "<feed><entry><id>n</id></entry></feed>") == 0) {
    CHECK(f.nitems == 1);
    feed_free(&f);
  }
  EXPECT_ERROR("<feed xmlns=\"urn:not-atom\"><entry/></feed>",
               "not a feed: root element <feed>");
  EXPECT_ERROR("<entry xmlns=\"http://www.w3.org/2005/Atom\"><id>x</id>"
               "</entry>",
               "not a feed: root element <entry>");
}

static void test_text(void)
{
  struct feed f;
  const char *doc = RSS_HEAD
      "<title>\n   Spaced \t\r\n  out   \n</title>\n"
      "<item><title><![CDATA[Tom & Jerry <3]]></title>"
      "<description>Caf&#xE9; &amp; bar &#x2019;quoted&#8217; &lt;tag&gt; "
      "&quot;q&quot; &apos;a&apos;</description></item>\n"
      "<item><title>a<![CDATA[ b ]]>c  <!-- comment -->d<?pi x?>e</title>"
      "<description>no&#xA0;break\xC2\xA0here</description></item>\n"
      "<item><title>\xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x98\x80</title>"
      "<description><![CDATA[<p>Hello <b>HTML</b></p>]]></description>"
      "</item>\n"
      "<item><description>&lt;p&gt;Escaped &lt;a "
      "href=\"x\"&gt;html&lt;/a&gt;&lt;/p&gt;</description></item>\n"
      "<item><description><p>Raw <b>markup</b></p> tail</description>"
      "</item>\n" RSS_TAIL;
  if (PARSE_OK(&f, doc) != 0)
    return;
  CHECK_STR(f.title, "Spaced out");
  CHECK(f.nitems == 5);
  if (f.nitems == 5) {
    CHECK_STR(f.items[0].title, "Tom & Jerry <3");
    CHECK_STR(f.items[0].summary, "Caf\xC3\xA9 & bar \xE2\x80\x99quoted"
                                  "\xE2\x80\x99 <tag> \"q\" 'a'");
    CHECK_STR(f.items[1].title, "a b c de");
    /* no-break spaces are not whitespace to collapse */
    CHECK_STR(f.items[1].summary, "no\xC2\xA0"
                                  "break\xC2\xA0here");
    CHECK_STR(f.items[2].title, "\xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x98\x80");
    /* HTML stays as text, to be escaped by whoever shows it */
    CHECK_STR(f.items[2].summary, "<p>Hello <b>HTML</b></p>");
    CHECK_STR(f.items[3].summary, "<p>Escaped <a href=\"x\">html</a></p>");
    /* unescaped markup (not valid RSS) gives its text */
    CHECK_STR(f.items[4].summary, "Raw markup tail");
  }
  feed_free(&f);

  /* Another declared encoding is decoded to UTF-8. */
  doc = "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>"
        "<rss><channel><title>Caf\xE9</title></channel></rss>";
  if (PARSE_OK(&f, doc) == 0) {
    CHECK_STR(f.title, "Caf\xC3\xA9");
    feed_free(&f);
  }
  /* A UTF-8 BOM is fine. */
  doc = "\xEF\xBB\xBF<rss><channel><title>bom</title></channel></rss>";
  if (PARSE_OK(&f, doc) == 0) {
    CHECK_STR(f.title, "bom");
    feed_free(&f);
  }
  /* Internal entities of the document's own DTD are expanded. */
  doc = "<!DOCTYPE rss [<!ENTITY co \"ACME &amp; Co\">"
        "<!ENTITY two \"&co; and &co;\"><!ENTITY nbsp \"&#160;\">]>"
        "<rss><channel><title>&two;</title><item><title>a&nbsp;b</title>"
        "<guid isPermaLink=\"&co;\">&co;</guid></item></channel></rss>";
  if (PARSE_OK(&f, doc) == 0) {
    CHECK_STR(f.title, "ACME & Co and ACME & Co");
    CHECK(f.nitems == 1);
    if (f.nitems == 1) {
      CHECK_STR(f.items[0].title, "a\xC2\xA0"
                                  "b");
      CHECK_STR(f.items[0].id, "ACME & Co");
    }
    feed_free(&f);
  }
}

static void test_links(void)
{
  struct feed f;
  const char *doc = RSS_HEAD
      "<item><link> /posts/1?a=1&amp;b=2 </link></item>"
      "<item><link>../up</link></item>"
      "<item><link>//cdn.example.com/x</link></item>"
      "<item><link>HTTPS://Example.COM/A%20B#frag</link></item>" RSS_TAIL;
  if (PARSE_OK(&f, doc) != 0)
    return;
  CHECK(f.nitems == 4);
  if (f.nitems == 4) {
    CHECK_STR(f.items[0].link, "/posts/1?a=1&b=2");
    CHECK_STR(f.items[0].id, "/posts/1?a=1&b=2");
    CHECK_STR(f.items[1].link, "../up");
    CHECK_STR(f.items[2].link, "//cdn.example.com/x");
    CHECK_STR(f.items[3].link, "HTTPS://Example.COM/A%20B#frag");
  }
  feed_free(&f);
  doc = "<feed xmlns=\"http://www.w3.org/2005/Atom\" "
        "xml:base=\"https://example.com/blog/\">"
        "<entry><link href=\"2024/post\"/></entry></feed>";
  if (PARSE_OK(&f, doc) == 0) {
    CHECK(f.nitems == 1 && f.items[0].link &&
          strcmp(f.items[0].link, "2024/post") == 0);
    feed_free(&f);
  }
}

struct date_case {
  const char *in;
  int64_t want;
};

static int64_t rss_time(const char *date)
{
  char *doc = xasprintf("<rss><channel><item><pubDate>%s</pubDate></item>"
                        "</channel></rss>",
                        date);
  struct feed f;
  int64_t t = -1;
  if (PARSE_OK(&f, doc) == 0) {
    if (f.nitems == 1)
      t = f.items[0].time;
    feed_free(&f);
  }
  free(doc);
  return t;
}

static int64_t atom_time(const char *date)
{
  char *doc = xasprintf(ATOM_HEAD "<entry><id>x</id><updated>%s</updated>"
                                  "</entry>" ATOM_TAIL,
                        date);
  struct feed f;
  int64_t t = -1;
  if (PARSE_OK(&f, doc) == 0) {
    if (f.nitems == 1)
      t = f.items[0].time;
    feed_free(&f);
  }
  free(doc);
  return t;
}

static void test_dates(void)
{
  const int64_t T = 1055217600; /* Tue, 10 Jun 2003 04:00:00 GMT */
  static const struct date_case rfc822[] = {
      {"Tue, 10 Jun 2003 04:00:00 GMT", 1055217600},
      {"10 Jun 2003 04:00:00 GMT", 1055217600},
      {"Tue, 10 Jun 03 04:00:00 GMT", 1055217600},
      {"Thu, 10 Jun 99 04:00:00 GMT", 928987200},
      {"Sat, 01 Jan 49 00:00:00 GMT", 2493072000},
      {"Sun, 01 Jan 50 00:00:00 GMT", -631152000},
      {"Tue, 10 Jun 2003 04:00 GMT", 1055217600},
      {"Tue, 10 Jun 2003 04:00:00 UT", 1055217600},
      {"Tue, 10 Jun 2003 04:00:00 UTC", 1055217600},
      {"Tue, 10 Jun 2003 04:00:00 Z", 1055217600},
      {"Tue, 10 Jun 2003 04:00:00 +0000", 1055217600},
      {"Tue, 10 Jun 2003 04:00:00 -0000", 1055217600},
      {"Tue, 10 Jun 2003 06:00:00 +0200", 1055217600},
      {"Mon, 09 Jun 2003 22:30:00 -0530", 1055217600},
      {"Tue, 10 Jun 2003 06:00:00 +02:00", 1055217600},
      {"Mon, 09 Jun 2003 23:00:00 EST", 1055217600},
      {"Tue, 10 Jun 2003 00:00:00 EDT", 1055217600},
      {"Mon, 09 Jun 2003 22:00:00 CST", 1055217600},
      {"Mon, 09 Jun 2003 23:00:00 CDT", 1055217600},
      {"Mon, 09 Jun 2003 21:00:00 MST", 1055217600},
      {"Mon, 09 Jun 2003 22:00:00 MDT", 1055217600},
      {"Mon, 09 Jun 2003 20:00:00 PST", 1055217600},
      {"Mon, 09 Jun 2003 21:00:00 PDT", 1055217600},
      {"  Tue,   10  Jun\n2003 \t04:00:00   GMT  ", 1055217600},
      {"tue, 10 jun 2003 04:00:00 gmt", 1055217600},
      {"Tuesday, 10 June 2003 04:00:00 GMT", 1055217600},
      {"Tue 10 Jun 2003 04:00:00 GMT", 1055217600},
      {"Tue, 10 Jun 2003 4:00:00 GMT", 1055217600},
      {"Tue, 10 Jun 2003 04:00:00 +0000 (UTC)", 1055217600},
      {"Tue, 10 Jun 2003 04:00:00", 1055217600}, /* no zone: UTC */
      {"Wed, 4 Jun 2003 04:00:00 GMT", 1055217600 - 6 * 86400},
      {"Fri, 10 Jun 2003 04:00:00 GMT", 1055217600}, /* wrong day name */
      {"Thu, 29 Feb 2024 12:00:00 GMT", 1709208000},
      {"Sat, 31 Dec 2016 23:59:60 GMT", 1483228800}, /* leap second */
      /* not dates */
      {"yesterday", 0},
      {"Tue, 32 Jun 2003 04:00:00 GMT", 0},
      {"Tue, 00 Jun 2003 04:00:00 GMT", 0},
      {"Wed, 29 Feb 2023 04:00:00 GMT", 0},
      {"Tue, 31 Apr 2003 04:00:00 GMT", 0},
      {"Tue, 10 Foo 2003 04:00:00 GMT", 0},
      {"Tue, 10 Ju 2003 04:00:00 GMT", 0},
      {"Tue, 10 Jun 2003 24:00:00 GMT", 0},
      {"Tue, 10 Jun 2003 04:60:00 GMT", 0},
      {"Tue, 10 Jun 2003 04:00:61 GMT", 0},
      {"Tue, 10 Jun 2003 04:00:00 XYZ", 0},
      {"Tue, 10 Jun 2003 04:00:00 A", 0},
      {"Tue, 10 Jun 2003 04:00:00 +2500", 0},
      {"Tue, 10 Jun 2003 04:00:00 +0060", 0},
      {"Tue, 10 Jun 2003 04:00:00 +02", 0},
      {"Tue, 10 Jun 2003 04:00:00 +02000", 0},
      {"Tue, 10 Jun 203 04:00:00 GMT", 0},
      {"Tue, 10 Jun 20033 04:00:00 GMT", 0},
      {"Tue, 10 Jun 2003", 0},
      {"Tue, 10 Jun 2003 04", 0},
      {"Tue, 10 Jun 2003 04:00:00 GMT garbage", 0},
      {"Tue, 10 Jun 2003 04:00:00 GMT (unclosed", 0},
      {"Xyz, 10 Jun 2003 04:00:00 GMT", 0},
      {"Tue, 10Jun 2003 04:00:00 GMT", 0},
      {"Tue, 10 Jun 2003 04:00:00GMT", 0},
      {"Tue,", 0},
      {"10/06/2003", 0},
      {"1055217600", 0},
      {"Tue, 10 Jun 2003 04:00:00 GMT\xC2\xA0", 0},
  };
  for (size_t i = 0; i < sizeof(rfc822) / sizeof(rfc822[0]); i++) {
    int64_t got = rss_time(rfc822[i].in);
    check_count++;
    if (got != rfc822[i].want) {
      check_failures++;
      fprintf(stderr, "date \"%s\": got %lld, want %lld\n", rfc822[i].in,
              (long long)got, (long long)rfc822[i].want);
    }
  }
  static const struct date_case rfc3339[] = {
      {"2003-12-13T18:30:02Z", 1071340202},
      {"2003-12-13T18:30:02.25Z", 1071340202},
      {"2003-12-13T18:30:02.999999999Z", 1071340202},
      {"2003-12-13T19:30:02+01:00", 1071340202},
      {"2003-12-13T13:00:02-05:30", 1071340202},
      {"2003-12-13T19:30:02+0100", 1071340202},
      {"2003-12-13T18:30:02-00:00", 1071340202},
      {"2003-12-13t18:30:02z", 1071340202},
      {"2003-12-13 18:30:02Z", 1071340202},
      {"  2003-12-13T18:30:02Z\n", 1071340202},
      {"2003-12-13T18:30Z", 1071340200},
      {"2003-12-13", 1071273600},
      {"2003-12-13T18:30:02", 1071340202}, /* no zone: UTC */
      {"2016-12-31T23:59:60Z", 1483228800},
      {"2024-02-29T12:00:00Z", 1709208000},
      /* and RFC 822 in an Atom document, as some write it */
      {"Tue, 10 Jun 2003 04:00:00 GMT", 1055217600},
      /* not dates */
      {"2003-13-13T18:30:02Z", 0},
      {"2003-00-13T18:30:02Z", 0},
      {"2003-02-30T00:00:00Z", 0},
      {"2100-02-29T00:00:00Z", 0},
      {"2003-12-13T24:00:00Z", 0},
      {"2003-12-13T18:61:00Z", 0},
      {"2003-12-13T18:30:02.Z", 0},
      {"2003-12-13T18:30:02+01", 0},
      {"2003-12-13T18:30:02+24:00", 0},
      {"03-12-13T18:30:02Z", 0},
      {"2003-12-13T18:30:02Zjunk", 0},
      {"2003-12-13T", 0},
      {"2003-12-13T18", 0},
      {"2003/12/13", 0},
      {"2003-1-13", 0},
      {"20031213T183002Z", 0},
      {"T18:30:02Z", 0},
  };
  for (size_t i = 0; i < sizeof(rfc3339) / sizeof(rfc3339[0]); i++) {
    int64_t got = atom_time(rfc3339[i].in);
    check_count++;
    if (got != rfc3339[i].want) {
      check_failures++;
      fprintf(stderr, "date \"%s\": got %lld, want %lld\n", rfc3339[i].in,
              (long long)got, (long long)rfc3339[i].want);
    }
  }
  /* the date as written is kept even when it does not parse */
  struct feed f;
  if (PARSE_OK(&f, "<rss><channel><item><pubDate> last  Tuesday </pubDate>"
                   "</item></channel></rss>") == 0) {
    CHECK(f.nitems == 1 && f.items[0].time == 0);
    if (f.nitems == 1)
      CHECK_STR(f.items[0].date, "last Tuesday");
    feed_free(&f);
  }
  /* pubDate wins over dc:date; Atom's updated over published */
  if (PARSE_OK(&f, RSS_HEAD
               "<item><dc:date>2003-12-13</dc:date><pubDate>"
               "Tue, 10 Jun 2003 04:00:00 GMT</pubDate></item>" RSS_TAIL) ==
      0) {
    CHECK(f.nitems == 1 && f.items[0].time == T);
    feed_free(&f);
  }
  if (PARSE_OK(&f, ATOM_HEAD "<entry><published>2003-12-13</published>"
                             "<updated>2003-06-10T04:00:00Z</updated>"
                             "</entry>" ATOM_TAIL) == 0) {
    CHECK(f.nitems == 1 && f.items[0].time == T);
    feed_free(&f);
  }
}

static void test_ids(void)
{
  struct feed f, g;
  /* duplicate guids are kept as they are: dedup is the caller's */
  const char *doc = RSS_HEAD "<item><guid>same</guid><title>1</title></item>"
                             "<item><guid>same</guid><title>2</title></item>"
                             "<item><title>t</title><description>d"
                             "</description></item>"
                             "<item><title>t</title><description>d"
                             "</description></item>"
                             "<item><title>t</title><description>e"
                             "</description></item>"
                             "<item><title>t\nd</title></item>"
                             "<item><title>t</title><description>d"
                             "</description><guid> </guid></item>" RSS_TAIL;
  if (PARSE_OK(&f, doc) != 0)
    return;
  CHECK(f.nitems == 7);
  if (f.nitems == 7) {
    CHECK_STR(f.items[0].id, "same");
    CHECK_STR(f.items[1].id, "same");
    CHECK_STR(f.items[1].title, "2");
    char h[72];
    want_hash("t", "d", h);
    CHECK_STR(f.items[2].id, h);
    CHECK_STR(f.items[3].id, h);
    CHECK_STR(f.items[6].id, h); /* a blank guid is no guid */
    CHECK(strcmp(f.items[4].id, h) != 0);
    CHECK(strncmp(f.items[2].id, "sha256:", 7) == 0);
    CHECK(strlen(f.items[2].id) == 7 + 64);
    /* "t d" (collapsed) and no summary hashes "t d\n", not "t\nd" */
    want_hash("t d", "", h);
    CHECK_STR(f.items[5].id, h);
    /* stable across parses, and across formats: the same title and
     * summary in an Atom entry hash the same */
    if (PARSE_OK(&g, doc) == 0) {
      for (int i = 0; i < g.nitems && i < f.nitems; i++)
        CHECK_STR(g.items[i].id, f.items[i].id);
      feed_free(&g);
    }
    if (PARSE_OK(&g, ATOM_HEAD "<entry><title>t</title><summary>d</summary>"
                               "</entry>" ATOM_TAIL) == 0) {
      CHECK(g.nitems == 1);
      if (g.nitems == 1)
        CHECK_STR(g.items[0].id, f.items[2].id);
      feed_free(&g);
    }
  }
  feed_free(&f);
  /* The hash known independently: SHA-256("Hello\nWorld"). */
  if (PARSE_OK(&f, "<rss><channel><item><title>Hello</title><description>"
                   "World</description></item></channel></rss>") == 0) {
    CHECK(f.nitems == 1);
    if (f.nitems == 1)
      CHECK_STR(f.items[0].id, "sha256:"
                               "35c6b9f66dceb6cf8f733d08689564e420e18eb40250"
                               "d9435352617c027f36d6");
    feed_free(&f);
  }
}

static void test_limits(void)
{
  struct feed f;
  /* a long title is cut at FEED_MAX_TEXT */
  char *longt = malloc(FEED_MAX_TEXT + 1001);
  memset(longt, 'a', FEED_MAX_TEXT + 1000);
  longt[FEED_MAX_TEXT + 1000] = '\0';
  char *doc = xasprintf("<rss><channel><title>%s</title><item><title>%s"
                        "</title><link>%s</link></item></channel></rss>",
                        longt, longt, longt);
  if (PARSE_OK(&f, doc) == 0) {
    CHECK(f.title && strlen(f.title) == FEED_MAX_TEXT);
    CHECK(f.nitems == 1);
    if (f.nitems == 1) {
      CHECK(strlen(f.items[0].title) == FEED_MAX_TEXT);
      CHECK(strlen(f.items[0].link) == FEED_MAX_TEXT);
      CHECK(strlen(f.items[0].id) == FEED_MAX_TEXT);
    }
    feed_free(&f);
  }
  free(doc);

  /* exactly FEED_MAX_TEXT bytes are kept whole */
  longt[FEED_MAX_TEXT] = '\0';
  doc =
      xasprintf("<rss><channel><title>  %s  </title></channel></rss>", longt);
  if (PARSE_OK(&f, doc) == 0) {
    CHECK(f.title && strlen(f.title) == FEED_MAX_TEXT);
    feed_free(&f);
  }
  free(doc);

  /* cut on a UTF-8 boundary: 4095 ASCII then a 2-byte, a 3-byte and a
   * 4-byte character at the boundary */
  static const char *const tails[] = {"\xC3\xA9", "\xE2\x80\x99",
                                      "\xF0\x9F\x98\x80"};
  for (int k = 0; k < 3; k++)
    for (int pad = 1; pad <= 3; pad++) {
      longt[FEED_MAX_TEXT - pad] = '\0';
      doc = xasprintf("<rss><channel><title>%s%s%s</title></channel></rss>",
                      longt, tails[k], tails[k]);
      if (PARSE_OK(&f, doc) == 0) {
        size_t len = f.title ? strlen(f.title) : 0;
        size_t tl = strlen(tails[k]);
        size_t want = FEED_MAX_TEXT - pad;
        if (pad >= (int)tl)
          want += tl * (size_t)(pad / (int)tl > 2 ? 2 : pad / (int)tl);
        CHECK(len == want);
        CHECK(len <= FEED_MAX_TEXT);
        feed_free(&f);
      }
      free(doc);
      longt[FEED_MAX_TEXT - pad] = 'a';
    }
  /* a cut that falls on a space leaves no trailing space */
  longt[FEED_MAX_TEXT - 1] = '\0';
  doc =
      xasprintf("<rss><channel><title>%s   b</title></channel></rss>", longt);
  if (PARSE_OK(&f, doc) == 0) {
    CHECK(f.title && strlen(f.title) == FEED_MAX_TEXT - 1);
    feed_free(&f);
  }
  free(doc);
  free(longt);

  /* the first FEED_MAX_ITEMS items are kept */
  size_t cap = 64 + (FEED_MAX_ITEMS + 50) * 48;
  doc = malloc(cap);
  size_t n = (size_t)snprintf(doc, cap, "<rss><channel>");
  for (int i = 0; i < FEED_MAX_ITEMS + 50; i++)
    n +=
        (size_t)snprintf(doc + n, cap - n, "<item><guid>g%d</guid></item>", i);
  snprintf(doc + n, cap - n, "</channel></rss>");
  if (PARSE_OK(&f, doc) == 0) {
    CHECK(f.nitems == FEED_MAX_ITEMS);
    if (f.nitems == FEED_MAX_ITEMS) {
      CHECK_STR(f.items[0].id, "g0");
      char want[16];
      snprintf(want, sizeof(want), "g%d", FEED_MAX_ITEMS - 1);
      CHECK_STR(f.items[FEED_MAX_ITEMS - 1].id, want);
    }
    feed_free(&f);
  }
  free(doc);

  /* over 16 MiB is refused before parsing; 16 MiB is parsed (items of
   * 8 KiB descriptions, padded with spaces) */
  size_t big = (size_t)16 << 20;
  char *b = malloc(big + 1);
  const char *open = "<rss><channel><title>big</title>";
  const char *end = "</channel></rss>";
  size_t at = strlen(open);
  memcpy(b, open, at);
  char chunk[8300];
  int cn = snprintf(chunk, sizeof(chunk),
                    "<item><description>%8000d"
                    "</description></item>",
                    7);
  while (at + (size_t)cn + strlen(end) <= big + 1) {
    memcpy(b + at, chunk, (size_t)cn);
    at += (size_t)cn;
  }
  memset(b + at, ' ', big + 1 - at);
  memcpy(b + big + 1 - strlen(end), end, strlen(end));
  expect_error(b, big + 1, "too large", __LINE__);
  b[big - strlen(end)] = ' ';
  memcpy(b + big - strlen(end), end, strlen(end));
  char err[128];
  CHECK(feed_parse(&f, b, big, err, sizeof(err)) == 0);
  CHECK_STR(f.title, "big");
  CHECK(f.nitems == FEED_MAX_ITEMS);
  if (f.nitems > 0)
    CHECK(f.items[0].summary && strlen(f.items[0].summary) == 1);
  feed_free(&f);
  free(b);
}

static void test_refused(void)
{
  EXPECT_ERROR("", "not XML: ");
  expect_error(NULL, 0, "not XML: ", __LINE__);
  EXPECT_ERROR("   \n ", "not XML: ");
  EXPECT_ERROR("garbage", "not XML: ");
  EXPECT_ERROR("{\"items\": []}", "not XML: ");
  expect_error("\x00\x01\x02\xff\xfe", 5, "not XML: ", __LINE__);
  EXPECT_ERROR("<rss><channel><title>x</channel></rss>", "not XML: ");
  EXPECT_ERROR("<rss><channel>", "not XML: ");
  EXPECT_ERROR("<rss></rss><rss></rss>", "not XML: ");
  EXPECT_ERROR("<rss><channel><title>a &nbsp; b</title></channel></rss>",
               "not XML: ");
  EXPECT_ERROR("<rss><channel><title>\xC3(</title></channel></rss>",
               "not XML: ");
  /* HTML: not well-formed, or well-formed but no feed */
  EXPECT_ERROR("<!DOCTYPE html>\n<html><head><meta charset=utf-8>"
               "<title>x</title></head><body><p>hi<br></body></html>",
               "not XML: ");
  EXPECT_ERROR("<!DOCTYPE html>\n<html><head><title>x</title></head>"
               "<body><p>hi</p></body></html>",
               "not a feed: root element <html>");
  EXPECT_ERROR("<?xml version=\"1.0\"?>\n<html "
               "xmlns=\"http://www.w3.org/1999/xhtml\"><body/></html>",
               "not a feed: root element <html>");
  EXPECT_ERROR("<?xml version=\"1.0\"?><urlset "
               "xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">"
               "<url><loc>https://x/</loc></url></urlset>",
               "not a feed: root element <urlset>");
  EXPECT_ERROR("<s:Envelope xmlns:s=\"urn:soap\"/>",
               "not a feed: root element <s:Envelope>");
  EXPECT_ERROR("<channel><item/></channel>",
               "not a feed: root element <channel>");

  /* the libxml2 message, one line, and the exact non-feed message */
  struct feed f;
  char err[256];
  CHECK(parse(&f, "<rss>\n<channel>\n</rss>", err, sizeof(err)) == -1);
  CHECK(strncmp(err, "not XML: ", 9) == 0 && strlen(err) > 9 &&
        strchr(err, '\n') == NULL);
  CHECK(parse(&f, "<html/>", err, sizeof(err)) == -1);
  CHECK_STR(err, "not a feed: root element <html>");
  /* a small buffer gets a cut, terminated message; none at all is fine */
  char small[12];
  memset(small, 'x', sizeof(small));
  CHECK(parse(&f, "<html/>", small, sizeof(small)) == -1);
  CHECK_STR(small, "not a feed:");
  CHECK(parse(&f, "<html/>", NULL, 0) == -1);
  CHECK(parse(&f, "nope", NULL, 0) == -1);
  /* a message cut at any length stays valid UTF-8 */
  char *name = malloc(1200);
  strcpy(name, "a");
  for (int i = 0; i < 200; i++)
    strcat(name, i % 2 ? "\xC3\xA9" : "\xE2\x80\x99");
  char *bad = xasprintf("<rss><channel><%s></x></channel></rss>", name);
  int cut_ok = 1;
  for (size_t len = 1; len < 600; len++) {
    char e[600];
    if (parse(&f, bad, e, len) != -1 || strlen(e) >= len ||
        !valid_utf8((const unsigned char *)e) ||
        (len > 20 && strncmp(e, "not XML: ", 9) != 0))
      cut_ok = 0;
  }
  CHECK(cut_ok);
  free(bad);
  bad = xasprintf("<%s/>", name);
  cut_ok = 1;
  for (size_t len = 1; len < 600; len++) {
    char e[600];
    if (parse(&f, bad, e, len) != -1 || strlen(e) >= len ||
        !valid_utf8((const unsigned char *)e))
      cut_ok = 0;
  }
  CHECK(cut_ok);
  free(bad);
  free(name);
  /* success clears the message */
  CHECK(parse(&f, "<rss/>", err, sizeof(err)) == 0);
  CHECK_STR(err, "");
  feed_free(&f);
}

#define LOLS(n, m)                                                            \
  "<!ENTITY " n " \"&" m ";&" m ";&" m ";&" m ";&" m ";&" m ";&" m ";&" m     \
  ";&" m ";&" m ";\">"

static int contains_passwd(const struct feed *f)
{
  if (f->title && strstr(f->title, "root:"))
    return 1;
  for (int i = 0; i < f->nitems; i++) {
    const struct feed_item *it = &f->items[i];
    const char *s[] = {it->id, it->title, it->link, it->summary, it->date};
    for (size_t k = 0; k < 5; k++)
      if (s[k] && strstr(s[k], "root:"))
        return 1;
  }
  return 0;
}

static void test_hostile(void)
{
  struct feed f;
  char err[256];
  /* billion laughs: refused, or bounded */
  const char *lol =
      "<?xml version=\"1.0\"?>\n<!DOCTYPE rss [\n"
      "<!ENTITY lol \"lol\">" LOLS("lol1", "lol") LOLS("lol2", "lol1") LOLS(
          "lol3", "lol2") LOLS("lol4", "lol3") LOLS("lol5", "lol4")
          LOLS("lol6", "lol5") LOLS("lol7", "lol6") LOLS("lol8", "lol7") LOLS(
              "lol9",
              "lol8") "]>\n<rss><channel><title>&lol9;</title><item><title>"
                      "&lol9;</title><description a=\"&lol9;\">&lol9;"
                      "</description></item></channel></rss>";
  int rc = parse(&f, lol, err, sizeof(err));
  CHECK((rc == -1 && strncmp(err, "not XML: ", 9) == 0) ||
        (rc == 0 && f.title && strlen(f.title) <= FEED_MAX_TEXT));
  if (rc == 0)
    feed_free(&f);
  /* the same with whitespace, which never fills a field */
  const char *ws = "<!DOCTYPE rss [<!ENTITY s \" \">" LOLS("s1", "s") LOLS(
      "s2", "s1") LOLS("s3", "s2") LOLS("s4", "s3") LOLS("s5", "s4")
      LOLS("s6", "s5") LOLS("s7", "s6") LOLS(
          "s8", "s7") "]><rss><channel><title>a&s8;b</title></channel></rss>";
  rc = parse(&f, ws, err, sizeof(err));
  CHECK((rc == -1 && strncmp(err, "not XML: ", 9) == 0) ||
        (rc == 0 && f.title && strlen(f.title) <= FEED_MAX_TEXT));
  if (rc == 0)
    feed_free(&f);
  /* a small expansion is fine */
  const char *mild = "<!DOCTYPE rss [<!ENTITY l \"lol\">" LOLS(
      "l1", "l") "]><rss><channel><title>&l1;</title></channel></rss>";
  if (PARSE_OK(&f, mild) == 0) {
    CHECK_STR(f.title, "lollollollollollollollollollol");
    feed_free(&f);
  }
  /* many references within libxml2's amplification limits: the
   * collector's own budget keeps the walk short */
  size_t nref = 100000;
  char *many = malloc(nref * 4 + 256), *q = many;
  q += sprintf(q,
               "<!DOCTYPE rss [<!ENTITY e \"%100s\">]><rss><channel>"
               "<title>a",
               "");
  for (size_t i = 0; i < nref; i++)
    q += sprintf(q, "&e;");
  sprintf(q, "b</title></channel></rss>");
  rc = parse(&f, many, err, sizeof(err));
  CHECK(rc == -1 || (f.title && strlen(f.title) <= FEED_MAX_TEXT));
  if (rc == 0)
    feed_free(&f);
  free(many);
  /* the same with entities of many nodes: past the budget the rest of
   * the references are dropped, the document still parses */
  size_t nel = 20000;
  char *els = malloc(nel * 4 + 512);
  q = els;
  q += sprintf(q, "<!DOCTYPE rss [<!ENTITY e \"");
  for (int i = 0; i < 50; i++)
    q += sprintf(q, " <b/>");
  q += sprintf(q, "\">]><rss><channel><title>a");
  for (size_t i = 0; i < nel; i++)
    q += sprintf(q, "&e;");
  sprintf(q, "b</title></channel></rss>");
  rc = parse(&f, els, err, sizeof(err));
  CHECK(rc == -1 || (f.title && strlen(f.title) <= FEED_MAX_TEXT));
  if (rc == 0)
    feed_free(&f);
  free(els);
  /* entity references that do not terminate */
  EXPECT_ERROR("<!DOCTYPE rss [<!ENTITY a \"&b;\"><!ENTITY b \"&a;\">]>"
               "<rss><channel><title>&a;</title></channel></rss>",
               "not XML: ");

  /* external entities are never read: general, parameter, the external
   * subset, XInclude */
  static const char *const xxe[] = {
      "<?xml version=\"1.0\"?><!DOCTYPE rss [<!ENTITY x SYSTEM "
      "\"file:///etc/passwd\">]><rss><channel><title>[&x;]</title><item>"
      "<title>&x;</title><description>&x;</description></item></channel>"
      "</rss>",
      "<!DOCTYPE rss [<!ENTITY % p SYSTEM \"file:///etc/passwd\"> %p;]>"
      "<rss><channel><title>[]</title></channel></rss>",
      "<!DOCTYPE rss SYSTEM \"file:///etc/passwd\"><rss><channel>"
      "<title>[]</title></channel></rss>",
      "<!DOCTYPE rss [<!ENTITY x SYSTEM \"http://127.0.0.1:1/x\">]>"
      "<rss><channel><title>[&x;]</title></channel></rss>",
      "<rss xmlns:xi=\"http://www.w3.org/2001/XInclude\"><channel><title>["
      "<xi:include href=\"file:///etc/passwd\" parse=\"text\"/>]</title>"
      "</channel></rss>",
      "<feed xmlns=\"http://www.w3.org/2005/Atom\"><title>[]</title>"
      "<entry><link href=\"&x;\"/></entry></feed>",
  };
  for (size_t i = 0; i < sizeof(xxe) / sizeof(xxe[0]); i++) {
    rc = parse(&f, xxe[i], err, sizeof(err));
    if (rc == 0) {
      CHECK(!contains_passwd(&f));
      CHECK_STR(f.title, "[]");
      feed_free(&f);
    } else {
      CHECK(strstr(err, "root:") == NULL);
    }
  }
  /* ... even when libxml2's process-wide defaults ask for substitution
   * and DTD loading (another part of the process may have set them) */
#if LIBXML_VERSION < 21200
  int old_sub = xmlSubstituteEntitiesDefault(1);
  int old_load = xmlLoadExtDtdDefaultValue;
  xmlLoadExtDtdDefaultValue = XML_DETECT_IDS | XML_COMPLETE_ATTRS;
  for (size_t i = 0; i < 3; i++) {
    rc = parse(&f, xxe[i], err, sizeof(err));
    if (rc == 0) {
      CHECK(!contains_passwd(&f));
      CHECK_STR(f.title, "[]");
      feed_free(&f);
    } else {
      CHECK(strstr(err, "root:") == NULL);
    }
  }
  xmlSubstituteEntitiesDefault(old_sub);
  xmlLoadExtDtdDefaultValue = old_load;
#endif

  /* deep nesting: refused by libxml2's depth limit, or parsed */
  size_t depth = 100000, cap = depth * 7 + 128;
  char *deep = malloc(cap), *p = deep;
  p += sprintf(p, "<rss><channel><item><title>");
  for (size_t i = 0; i < depth; i++)
    p += sprintf(p, "<a>");
  p += sprintf(p, "x");
  for (size_t i = 0; i < depth; i++)
    p += sprintf(p, "</a>");
  sprintf(p, "</title></item></channel></rss>");
  rc = parse(&f, deep, err, sizeof(err));
  CHECK(rc == -1 || f.nitems == 1);
  if (rc == 0)
    feed_free(&f);
  free(deep);
}

int main(void)
{
  test_rss2_full();
  test_rss2_missing();
  test_rss2_namespaces();
  test_rss1();
  test_atom();
  test_text();
  test_links();
  test_dates();
  test_ids();
  test_limits();
  test_refused();
  test_hostile();
  return check_report("test_feed");
}
