/* extract: JSON pointer (RFC 6901's own examples), regex fields, body hash,
 * link resolution and the HTML fields of a result. */
#include "buf.h"
#include "check.h"
#include "extract.h"
#include "result.h"
#include "scope.h"

#include <curl/curl.h>
#include <jansson.h>
#include <errno.h>
#include <stdlib.h>

static const char *rfc6901_doc =
    "{\"foo\": [\"bar\", \"baz\"], \"\": 0, \"a/b\": 1, \"c%d\": 2,"
    " \"e^f\": 3, \"g|h\": 4, \"i\\\\j\": 5, \"k\\\"l\": 6, \" \": 7,"
    " \"m~n\": 8}";

static const struct {
  const char *pointer;
  const char *want; /* compact JSON, or NULL: no match */
} pointer_cases[] = {
    {"/foo", "[\"bar\",\"baz\"]"},
    {"/foo/0", "\"bar\""},
    {"/foo/1", "\"baz\""},
    {"/foo/2", NULL},
    {"/foo/01", NULL},
    {"/foo/-", NULL},
    {"/", "0"},
    {"/a~1b", "1"},
    {"/c%d", "2"},
    {"/e^f", "3"},
    {"/g|h", "4"},
    {"/i\\j", "5"},
    {"/k\"l", "6"},
    {"/ ", "7"},
    {"/m~0n", "8"},
    {"/m~2n", NULL},
    {"/nope", NULL},
    {"/foo/0/x", NULL},
};

static void test_pointer(void)
{
  for (size_t i = 0; i < sizeof(pointer_cases) / sizeof(pointer_cases[0]);
       i++) {
    char *got = extract_json_pointer(rfc6901_doc, strlen(rfc6901_doc),
                                     pointer_cases[i].pointer);
    if ((got == NULL) != (pointer_cases[i].want == NULL) ||
        (got && strcmp(got, pointer_cases[i].want)))
      fprintf(stderr, "pointer %s\n", pointer_cases[i].pointer);
    CHECK_STR(got, pointer_cases[i].want);
    free(got);
  }
  char *whole = extract_json_pointer("[1, 2]", 6, "");
  CHECK_STR(whole, "[1,2]");
  free(whole);
  CHECK(extract_json_pointer("{not json", 9, "/a") == NULL);
}

static void test_spec_errors(void)
{
  struct extract_spec s;
  char err[256];
  CHECK(extract_spec_init(&s) == 0);
  CHECK(extract_spec_add(&s, "noequals", err, sizeof(err)) == -EINVAL);
  CHECK(extract_spec_add(&s, "=json:/a", err, sizeof(err)) == -EINVAL);
  CHECK(extract_spec_add(&s, "x=yaml:h1", err, sizeof(err)) == -EINVAL);
  CHECK(strstr(err, "unknown kind") != NULL);
  CHECK(extract_spec_add(&s, "x=css:a:hover", err, sizeof(err)) == -EINVAL);
  CHECK(strstr(err, "bad CSS selector") && strstr(err, ":hover"));
  CHECK(extract_spec_add(&s, "x=json:a", err, sizeof(err)) == -EINVAL);
  CHECK(extract_spec_add(&s, "x=re:(unclosed", err, sizeof(err)) == -EINVAL);
  CHECK(strstr(err, "bad regex") != NULL);
  CHECK(extract_spec_add(&s, "x=xpath://[", err, sizeof(err)) == -EINVAL);
  CHECK(strstr(err, "bad XPath") != NULL);
  CHECK(extract_spec_add(&s, "x=xpath:", err, sizeof(err)) == -EINVAL);
  CHECK(s.n == 0);
  extract_spec_free(&s);
}

/* xpath: fields on the page's HTML tree: one node is its text, several an
 * array, none null; strings, numbers and booleans as themselves; not
 * HTML, null. */
static void test_xpath(void)
{
  struct extract_spec s;
  char err[256];
  static const char *const specs[] = {
      "h=xpath://h1",
      "hrefs=xpath://a/@href",
      "n=xpath:count(//a)",
      "half=xpath:count(//a) div 2",
      "has=xpath:boolean(//table)",
      "t=xpath:normalize-space(//title)",
      "none=xpath://table",
      "runtime=xpath:count(1)", /* a type error when evaluated: null */
      "css=css:p > a::attr(href)",
  };
  CHECK(extract_spec_init(&s) == 0);
  for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++)
    CHECK(extract_spec_add(&s, specs[i], err, sizeof(err)) == 0);
  const char *page =
      "<html><head><title> A  \"quoted\"\n title </title></head><body>"
      "<h1>Caf&eacute; <b>bold</b></h1><p>unclosed <a href=/x>1</a>"
      "<a href='/y?a=1&amp;b=2'>2</a><a href=/z>3</a></body>";
  struct result *r = result_new("http://x/", 9);
  extract_run(&s, page, strlen(page), "text/html", "http://x/", r);
  static const char *const want[] = {
      "\"Caf\u00e9 bold\"",
      "[\"/x\",\"/y?a=1&b=2\",\"/z\"]",
      "3",
      "1.5",
      "false",
      "\"A \\\"quoted\\\" title\"",
      "null",
      "null",
      "[\"/x\",\"/y?a=1&b=2\",\"/z\"]",
  };
  CHECK(r->nfields == 9);
  for (int i = 0; i < r->nfields && i < 9; i++) {
    /* Compare parsed, so the JSON's spelling of é does not matter. */
    json_t *g = json_loads(r->fields[i].json, JSON_DECODE_ANY, NULL);
    json_t *w = json_loads(want[i], JSON_DECODE_ANY, NULL);
    CHECK(g && w && json_equal(g, w));
    if (!(g && w && json_equal(g, w)))
      fprintf(stderr, "field %s: %s, want %s\n", r->fields[i].name,
              r->fields[i].json, want[i]);
    json_decref(g);
    json_decref(w);
  }
  result_free(r);
  /* Bounds: a field's text stops at 1 MiB however many nodes match (four
   * nests of 250 <div>s around 64 KiB each would give 65 MB); an
   * expression past libxml2's operation budget is null. */
  {
    struct extract_spec b;
    CHECK(extract_spec_init(&b) == 0);
    CHECK(extract_spec_add(&b, "divs=css:div", err, sizeof(err)) == 0);
    CHECK(extract_spec_add(
              &b, "quad=xpath:count(//*[count(//*[count(//*) > 0]) > 0])", err,
              sizeof(err)) == 0);
    CHECK(extract_spec_add(&b, "ok=xpath:count(//div)", err, sizeof(err)) ==
          0);
    struct buf nest = {0};
    for (int k = 0; k < 4; k++) {
      for (int i = 0; i < 250; i++)
        buf_puts(&nest, "<div>");
      for (int i = 0; i < 65536 / 8; i++)
        buf_puts(&nest, "yyyyyyy ");
      for (int i = 0; i < 250; i++)
        buf_puts(&nest, "</div>");
    }
    r = result_new("http://x/", 9);
    extract_run(&b, nest.data, nest.len, "text/html", "http://x/", r);
    CHECK(r->nfields == 3);
    if (r->nfields == 3) {
      size_t n = strlen(r->fields[0].json);
      CHECK(n > 1000000 && n < (1u << 20) + 70000);
      CHECK_STR(r->fields[1].json, "null");
      CHECK_STR(r->fields[2].json, "1000");
    }
    result_free(r);
    buf_free(&nest);
    extract_spec_free(&b);
  }

  /* Not HTML: every xpath: field is null. */
  r = result_new("http://x/", 9);
  extract_run(&s, "{\"a\":1}", 7, "application/json", "http://x/", r);
  CHECK(r->nfields == 9 && !strcmp(r->fields[0].json, "null") &&
        !strcmp(r->fields[2].json, "null"));
  result_free(r);
  extract_spec_free(&s);
}

static void test_run(void)
{
  struct extract_spec s;
  char err[256];
  CHECK(extract_spec_init(&s) == 0);
  CHECK(extract_spec_add(&s, "id=json:/id", err, sizeof(err)) == 0);
  CHECK(extract_spec_add(&s, "ok=json:/nested/ok", err, sizeof(err)) == 0);
  CHECK(extract_spec_add(&s, "num=re:item (\\d+)", err, sizeof(err)) == 0);
  CHECK(extract_spec_add(&s, "whole=re:it.m", err, sizeof(err)) == 0);
  CHECK(extract_spec_add(&s, "none=re:zzz", err, sizeof(err)) == 0);
  const char *json = "{\"id\":7,\"name\":\"item 7\",\"nested\":{\"ok\":true}}";
  struct result *r = result_new("http://x/json/7", 15);
  extract_run(&s, json, strlen(json), "application/json", "http://x/json/7",
              r);
  CHECK(r->nfields == 5);
  if (r->nfields == 5) {
    CHECK_STR(r->fields[0].name, "id");
    CHECK_STR(r->fields[0].json, "7");
    CHECK_STR(r->fields[1].json, "true");
    CHECK_STR(r->fields[2].json, "\"7\"");
    CHECK_STR(r->fields[3].json, "\"item\"");
    CHECK_STR(r->fields[4].json, "null");
  }
  CHECK(r->title == NULL); /* JSON is not scanned as HTML */
  CHECK(strlen(r->hash) == 64);
  result_free(r);
  extract_spec_free(&s);

  CHECK(extract_spec_init(&s) == 0);
  r = result_new("x", 1);
  extract_run(&s, "abc", 3, "text/plain", "http://x/", r);
  CHECK_STR(
      r->hash,
      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  result_free(r);

  s.want_links = 1;
  const char *html =
      "<html><head><title> A  &amp; B </title><base href=\"/dir/\">"
      "<link rel=canonical href=\"http://x/canon\">"
      "<meta name=robots content=\"noindex, nofollow\"></head><body>"
      "<a href=\"page.html#top\">1</a><a href='/abs'>2</a>"
      "<a href=\"https://other.example/p?q=1\">3</a>"
      "<a href=\"mailto:me@x\">4</a><a href=\"javascript:void(0)\">5</a>"
      "<a href=\"//proto.example/rel\">6</a></body></html>";
  r = result_new("http://x/a/b.html", 17);
  extract_run(&s, html, strlen(html), "text/html; charset=utf-8",
              "http://x/a/b.html", r);
  CHECK_STR(r->title, "A & B");
  CHECK_STR(r->canonical, "http://x/canon");
  CHECK_STR(r->meta_robots, "noindex, nofollow");
  CHECK(r->nlinks == 4);
  if (r->links && r->nlinks == 4) {
    const char *p = r->links;
    CHECK_STR(p, "http://x/dir/page.html");
    p += strlen(p) + 1;
    CHECK_STR(p, "http://x/abs");
    p += strlen(p) + 1;
    CHECK_STR(p, "https://other.example/p?q=1");
    p += strlen(p) + 1;
    CHECK_STR(p, "http://proto.example/rel");
  }
  result_free(r);

  /* Without --links only the count, of every <a href>. */
  s.want_links = 0;
  r = result_new("x", 1);
  extract_run(&s, html, strlen(html), NULL, "http://x/", r);
  CHECK(r->links == NULL);
  CHECK(r->nlinks == 6);
  result_free(r);
  extract_spec_free(&s);
}

/* Crawl mode: links become normalised keys, the scope sorts them into
 * followed and dropped, <meta name=robots> nofollow/noindex are obeyed,
 * and a 3xx's target is its one link. */
static void crawl_run(struct extract_spec *s, const char *html, int status,
                      const char *final_url, struct result **out)
{
  const char *url = "http://x/a/b.html";
  struct result *r = result_new(url, strlen(url));
  r->crawl = calloc(1, sizeof(*r->crawl));
  r->crawl->depth = 1;
  r->status = status;
  r->final_url = strdup(final_url ? final_url : url);
  extract_run(s, html, strlen(html), "text/html", r->final_url, r);
  *out = r;
}

static int count_keys(const char *p, size_t len)
{
  int n = 0;
  for (const char *e = p + len; p && p < e; p += strlen(p) + 1)
    n++;
  return n;
}

static void test_crawl(void)
{
  struct extract_spec s;
  struct scope *sc;
  char err[256];
  const char *seed = "http://x/";
  struct scope_options so = {.kind = SCOPE_HOST, .max_depth = 2};
  CHECK(scope_new(&sc, &so, &seed, 1, err, sizeof(err)) == 0);
  CHECK(extract_spec_init(&s) == 0);
  s.crawl = sc;
  const char *page =
      "<title>T</title><p>Hello <b>wor</b>ld</p>"
      "<a href=\"c.html#f\">1</a><a href=\"/A/./d?utm_x=1\">2</a>"
      "<a href=\"http://other/\">3</a><a href=\"mailto:m@x\">4</a>"
      "<a href=\"/%7Ee\">5</a><a href=\"c.html\">6</a>"
      "<a href=\" /b c\n.html\">7</a>";
  struct result *r;
  crawl_run(&s, page, 200, NULL, &r);
  CHECK(r->nlinks == 6); /* mailto is no link; the repeat is one twice */
  const char *p = r->links;
  CHECK_STR(p, "http://x/a/c.html");
  p += strlen(p) + 1;
  CHECK_STR(p, "http://x/A/d");
  p += strlen(p) + 1;
  CHECK_STR(p, "http://other/");
  p += strlen(p) + 1;
  CHECK_STR(p, "http://x/~e");
  p += strlen(p) + 1;
  p += strlen(p) + 1;                  /* c.html again */
  CHECK_STR(p, "http://x/b%20c.html"); /* as a browser reads it */
  CHECK(r->crawl->nfollow == 5);
  CHECK(count_keys(r->crawl->follow, r->crawl->follow_len) == 5);
  CHECK(r->crawl->drops[CRAWL_DROP_SCOPE] == 1);
  CHECK(r->crawl->drops[CRAWL_DROP_BAD_URL] == 1);
  CHECK(r->crawl->text && strcmp(r->crawl->text, "Hello world 1234567") == 0);
  result_free(r);

  /* Depth: links of a page at the cap are not followed. */
  struct result *deep;
  const char *u = "http://x/";
  deep = result_new(u, strlen(u));
  deep->crawl = calloc(1, sizeof(*deep->crawl));
  deep->crawl->depth = 2;
  deep->status = 200;
  extract_run(&s, page, strlen(page), "text/html", u, deep);
  CHECK(deep->crawl->nfollow == 0);
  CHECK(deep->crawl->drops[CRAWL_DROP_DEPTH] == 5);
  result_free(deep);

  /* nofollow: links recorded, none followed; noindex: no text. */
  crawl_run(&s,
            "<meta name=ROBOTS content=\"NoFollow\"><p>kept</p>"
            "<a href=\"/n\">n</a>",
            200, NULL, &r);
  CHECK(r->nlinks == 1 && r->crawl->nfollow == 0);
  CHECK(r->crawl->drops[CRAWL_DROP_NOFOLLOW] == 1);
  CHECK(r->crawl->text != NULL && !r->crawl->noindex);
  result_free(r);
  crawl_run(&s,
            "<meta name=robots content=\"noindex\"><p>secret</p>"
            "<a href=\"/n\">n</a>",
            200, NULL, &r);
  CHECK(r->crawl->noindex && r->crawl->text == NULL);
  CHECK(r->crawl->nfollow == 1);
  result_free(r);
  crawl_run(&s, "<meta name=robots content=\"none\"><a href=\"/n\">n</a>", 200,
            NULL, &r);
  CHECK(r->crawl->noindex && r->crawl->nofollow && r->crawl->nfollow == 0);
  result_free(r);

  /* A redirect: its target is the one link, followed when in scope. */
  crawl_run(&s, "", 301, "http://X:80/a/../t.html", &r);
  CHECK(r->nlinks == 1 && r->crawl->nfollow == 1);
  CHECK_STR(r->links, "http://x/t.html");
  result_free(r);
  crawl_run(&s, "", 302, "http://elsewhere/", &r);
  CHECK(r->nlinks == 1 && r->crawl->nfollow == 0);
  CHECK(r->crawl->drops[CRAWL_DROP_SCOPE] == 1);
  result_free(r);

  /* A <meta http-equiv=refresh> is a link to follow, resolved against
   * <base>. */
  crawl_run(&s,
            "<base href=\"/b/\"><meta http-equiv=refresh "
            "content=\"0; url=next.html\"><a href=\"/a\">a</a>",
            200, NULL, &r);
  CHECK(r->nlinks == 2 && r->crawl->nfollow == 2);
  CHECK(r->links && count_keys(r->links, strlen(r->links) + 1) >= 1);
  if (r->links) {
    const char *k = r->links;
    CHECK_STR(k, "http://x/a");
    k += strlen(k) + 1;
    CHECK_STR(k, "http://x/b/next.html");
  }
  result_free(r);

  /* A sitemap, even without a Content-Type (an XML declaration is not
   * HTML): its <loc>s are the links, sorted by the scope like any. */
  {
    const char *sm = "<?xml version=\"1.0\"?><urlset><url><loc>http://x/s1"
                     "</loc></url><url><loc>/rel</loc></url><url><loc>"
                     "http://other/s2</loc></url></urlset>";
    const char *url = "http://x/sitemap.xml";
    r = result_new(url, strlen(url));
    r->crawl = calloc(1, sizeof(*r->crawl));
    r->status = 200;
    r->final_url = strdup(url);
    extract_run(&s, sm, strlen(sm), NULL, url, r);
    CHECK(r->nlinks == 3 && r->crawl->nfollow == 2);
    CHECK(r->crawl->drops[CRAWL_DROP_SCOPE] == 1);
    CHECK(r->crawl->follow && !strcmp(r->crawl->follow, "http://x/s1") &&
          !strcmp(r->crawl->follow + strlen(r->crawl->follow) + 1,
                  "http://x/rel"));
    result_free(r);
  }

  /* A legacy page is read in its encoding: title, text and links in
   * UTF-8 (here windows-1252 by its meta); the hash stays the served
   * bytes'. */
  const char *latin = "<meta charset=windows-1252><title>Caf\xe9 \x93"
                      "cr\xe8me\x94</title>"
                      "<p>na\xef"
                      "ve \x80</p><a href=\"/men\xfc"
                      ".html\">m</a>";
  crawl_run(&s, latin, 200, NULL, &r);
  CHECK_STR(r->title, "Caf\xc3\xa9 \xe2\x80\x9c"
                      "cr\xc3\xa8me\xe2\x80\x9d");
  CHECK(r->crawl->text &&
        strstr(r->crawl->text, "na\xc3\xafve \xe2\x82\xac") != NULL);
  CHECK(r->nlinks == 1);
  CHECK_STR(r->links, "http://x/men%C3%BC.html");
  struct result *raw = result_new("x", 1);
  extract_run(&s, latin, strlen(latin), "text/plain", "http://x/", raw);
  CHECK_STR(r->hash, raw->hash); /* not HTML: no decoding, same bytes */
  result_free(raw);
  result_free(r);

  extract_spec_free(&s);
  scope_free(sc);
}

int main(void)
{
  curl_global_init(CURL_GLOBAL_DEFAULT);
  test_crawl();
  test_pointer();
  test_spec_errors();
  test_run();
  test_xpath();
  curl_global_cleanup();
  return check_report("test_extract");
}
