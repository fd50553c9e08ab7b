/* css: selectors to XPath, checked two ways: the XPath text for each form,
 * and what it selects from a page through libxml2 (the elements a browser's
 * querySelectorAll would give, worked out by hand for the fixture). */
#include "check.h"
#include "css.h"

#include <libxml/HTMLparser.h>
#include <libxml/xpath.h>
#include <stdlib.h>
#include <string.h>

static void test_text(void)
{
  static const struct {
    const char *css, *xpath;
  } cases[] = {
      {"h1", "descendant-or-self::h1"},
      {"  DIV  ", "descendant-or-self::div"},
      {"*", "descendant-or-self::*"},
      {"#main", "descendant-or-self::*[@id='main']"},
      {".a.b",
       "descendant-or-self::*[contains(concat(' ',normalize-space(@class),' "
       "'),"
       "' a ')][contains(concat(' ',normalize-space(@class),' '),' b ')]"},
      {"a[href]", "descendant-or-self::a[@href]"},
      {"a[HREF='x y']", "descendant-or-self::a[@href='x y']"},
      {"a[title=\"it's\"]", "descendant-or-self::a[@title=\"it's\"]"},
      {"a[title='say \"it\\'s\"']",
       "descendant-or-self::a[@title=concat('','say \"it',\"'\",'s\"')]"},
      /* Escapes, as CSS Syntax reads them (Tailwind's classes need them). */
      {".md\\:flex", "descendant-or-self::*[contains(concat(' ',normalize-"
                     "space(@class),' '),' md:flex ')]"},
      {"#a\\.b", "descendant-or-self::*[@id='a.b']"},
      {".\\31 0", "descendant-or-self::*[contains(concat(' ',normalize-space("
                  "@class),' '),' 10 ')]"},
      {".\\0000e9t\\E9",
       "descendant-or-self::*[contains(concat(' ',"
       "normalize-space(@class),' '),' \xc3\xa9t\xc3\xa9 ')]"},
      {"[t='a\\\nb']", "descendant-or-self::*[@t='ab']"},
      {".\\110000", "descendant-or-self::*[contains(concat(' ',normalize-"
                    "space(@class),' '),' \xef\xbf\xbd ')]"},
      {".a\\", NULL}, /* escapes nothing */
      {".1a", NULL},  /* a name does not start with a digit */
      {"#-2", NULL},
      {"[t=1a]", NULL}, /* nor an unquoted value */
      {"[t='1a']", "descendant-or-self::*[@t='1a']"},
      /* A word with white space, or none, matches nothing. */
      {".a\\ b", "descendant-or-self::*[false()]"},
      {"[class~='a b']", "descendant-or-self::*[false()]"},
      {"[t~='']", "descendant-or-self::*[false()]"},
      {".\\1", NULL},       /* U+0001: not an XML character */
      {"[t='a\nb']", NULL}, /* a line break ends a string badly */
      {"a[href^=/]", NULL}, /* '/' is not an identifier: quote it */
      {"a[href^='/']", "descendant-or-self::a[starts-with(@href,'/')]"},
      {"a[href$=pdf]",
       "descendant-or-self::a[substring(@href,string-length(@href)-string-"
       "length('pdf')+1)='pdf']"},
      {"a[href*='']", "descendant-or-self::a[contains(@href,'') and false()]"},
      {"a[lang|=en]",
       "descendant-or-self::a[@lang='en' or starts-with(@lang,concat('en','-'"
       "))]"},
      {"ul > li", "descendant-or-self::li[parent::ul]"},
      {"ul li", "descendant-or-self::li[ancestor::ul]"},
      {"h1 + p", "descendant-or-self::p[preceding-sibling::*[1]/self::h1]"},
      {"h1 ~ p", "descendant-or-self::p[preceding-sibling::h1]"},
      {".a ~ p.b > i",
       "descendant-or-self::i[parent::p[contains(concat(' ',normalize-space("
       "@class),' '),' b ')][preceding-sibling::*[contains(concat(' ',"
       "normalize-space(@class),' '),' a ')]]]"},
      /* A run of siblings shares its parent: tested once, on the last. */
      {"ul li ~ li",
       "descendant-or-self::li[preceding-sibling::li][ancestor::ul]"},
      {"ul > li ~ li ~ b", "descendant-or-self::b[preceding-sibling::li["
                           "preceding-sibling::li]][parent::ul]"},
      {"h1 + p ~ ul", "descendant-or-self::ul[preceding-sibling::p[preceding-"
                      "sibling::*[1]/self::h1]]"},
      {"div > h1 + p a",
       "descendant-or-self::a[ancestor::p[preceding-sibling::*[1]/self::h1]"
       "[parent::div][1]]"},
      {"li:first-child",
       "descendant-or-self::li[not(preceding-sibling::*[1])]"},
      {"li:nth-child(3)", "descendant-or-self::li[preceding-sibling::*[2] and "
                          "not(preceding-sibling::*[3])]"},
      {"li:nth-child(1)",
       "descendant-or-self::li[not(preceding-sibling::*[1])]"},
      {"li:nth-child(0)", "descendant-or-self::li[false()]"},
      /* An+B on the last compound: a step, position() the sibling index. */
      {"li:nth-child(odd)",
       "descendant-or-self::node()/*[(position()-1) mod 2=0][self::li]"},
      {"LI:NTH-CHILD(EVEN)", /* names in any case, as CSS reads them */
       "descendant-or-self::node()/*[position() mod 2=0][self::li]"},
      {"li:nth-child(EVEN)",
       "descendant-or-self::node()/*[position() mod 2=0][self::li]"},
      {"li:nth-child( -n + 3 )",
       "descendant-or-self::node()/*[position()<=3][self::li]"},
      {"li:nth-child(3n-1)",
       "descendant-or-self::node()/*[(position()+1) mod 3=0][self::li]"},
      {"ul > .x:nth-child(n+2)::text",
       "descendant-or-self::node()/*[position()>=2][self::*[contains(concat("
       "' ',normalize-space(@class),' '),' x ')][parent::ul]]/text()"},
      /* Elsewhere the earlier siblings are counted. */
      {"tr:nth-child(2n) td",
       "descendant-or-self::td[ancestor::tr[(count(preceding-sibling::*)+1) "
       "mod 2=0][1]]"},
      {"li:not(.x)",
       "descendant-or-self::li[not(contains(concat(' ',normalize-space(@class)"
       ",' '),' x '))]"},
      {"a:not(b)", "descendant-or-self::a[not(self::b)]"},
      {"a::text", "descendant-or-self::a/text()"},
      {"a::attr(href)", "descendant-or-self::a/@href"},
      /* A group is one step, its selectors or'ed: no union to merge. */
      {"h1, h2", "descendant-or-self::*[self::h1 or self::h2]"},
      {"a::text, b::text", "descendant-or-self::*[self::a or self::b]/text()"},
      {"a::attr(href),link::attr(href)",
       "descendant-or-self::*[self::a or self::link]/@href"},
      /* refused */
      {"", NULL},
      {"a,", NULL},
      {"a >", NULL},
      {"> a", NULL},
      {"a:hover", NULL},
      {"li:nth-child(2n+)", NULL},
      {"li:nth-child(- n)", NULL}, /* no space between sign and n */
      {"li:nth-child(n-)", NULL},
      {"li:nth-child(2n+-1)", NULL},
      {"li:nth-child(12345678)", NULL}, /* at most 7 digits */
      {"li:nth-child(odd", NULL},
      {"li:nth-child()", NULL},
      {"a:not(b c)", NULL},
      {"a:not(:not(b))", NULL},
      {"a::text b", NULL},
      {"a::before", NULL},
      {"a[href", NULL},
      {"a[href='x]", NULL},
      {"a[1x]", NULL},
      {"ns|a", NULL},
      {"a)", NULL},
      {"a::text, b", NULL}, /* a group's selectors end alike */
      {"a::attr(x), b::attr(y)", NULL},
      {"a::attr(", NULL}, /* fuzz_css: read past the end */
      {"a::attr(1)", NULL},
      {"a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a",
       NULL}, /* 33 compounds */
      /* XPath takes XML characters only (fuzz_css found the first). */
      {"a[c='x\fy']", NULL},
      {".caf\xe9", NULL},
      {"a[t=\"\xef\xbf\xbf\"]", NULL},
      {".caf\xc3\xa9",
       "descendant-or-self::*[contains(concat(' ',normalize-space(@class),' '"
       "),' caf\xc3\xa9 ')]"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    char err[160] = "";
    char *x = css_to_xpath(cases[i].css, err, sizeof(err));
    if (cases[i].xpath) {
      CHECK_STR(x, cases[i].xpath);
    } else {
      if (x)
        fprintf(stderr, "'%s' gave %s\n", cases[i].css, x);
      CHECK(x == NULL && err[0] != '\0');
    }
    free(x);
  }
  /* Both quotes in one value: concat(). */
  char err[160];
  char *x = css_to_xpath("[title=\"a'b\"]", err, sizeof(err));
  CHECK_STR(x, "descendant-or-self::*[@title=\"a'b\"]");
  free(x);
}

static const char page[] =
    "<html><head><title>T</title></head><body>"
    "<div id=main class='box wide'>"
    "<h1>Head</h1><p>one</p><p class=x>two</p>"
    "<ul><li>a</li><li class=x>b</li><li>c <a href='/f.pdf' lang=en-GB>"
    "pdf</a></li></ul></div>"
    "<p>three <a href='http://o/' title=\"it's\">out</a></p>"
    "<span class='md:flex w-1/2' id='a.b'>tw</span>"
    "</body></html>";

/* The texts (joined by '|') of what sel selects from the page. */
static char *select_texts(htmlDocPtr doc, const char *sel)
{
  char err[160];
  char *x = css_to_xpath(sel, err, sizeof(err));
  if (!x)
    return strdup(err);
  xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
  ctx->node = (xmlNodePtr)doc;
  xmlXPathObjectPtr o = xmlXPathEvalExpression((const xmlChar *)x, ctx);
  free(x);
  char *out = calloc(1, 4096);
  for (int i = 0; o && o->nodesetval && i < o->nodesetval->nodeNr; i++) {
    xmlChar *t = xmlXPathCastNodeToString(o->nodesetval->nodeTab[i]);
    if (i)
      strcat(out, "|");
    strncat(out, (const char *)t, 4000 - strlen(out));
    xmlFree(t);
  }
  xmlXPathFreeObject(o);
  xmlXPathFreeContext(ctx);
  return out;
}

static void test_select(void)
{
  static const struct {
    const char *css, *want;
  } cases[] = {
      {"h1", "Head"},
      {"#main > p", "one|two"},
      {"p", "one|two|three out"},
      {".x", "two|b"},
      {"li.x", "b"},
      {"div.box.wide h1", "Head"},
      {"div.box.narrow h1", ""},
      {"h1 + p", "one"},
      {"h1 ~ p", "one|two"},
      {"h1 ~ ul li ~ li", "b|c pdf"},
      {"#main > h1 ~ p ~ ul > li:last-child", "c pdf"},
      {"h1 + p ~ p", "two"},
      {"h1 + p ~ h1", ""},
      {"p ~ p", "two"},
      {"li:first-child", "a"},
      {"li:last-child", "c pdf"},
      {"li:nth-child(2)", "b"},
      {"li:nth-child(odd)", "a|c pdf"},
      {"li:nth-child(even)", "b"},
      {"li:nth-child(-n+2)", "a|b"},
      {"li:nth-child(n+2)::text", "b|c "},
      {"#main > :nth-child(2n+1)", "Head|two"},
      {"li:nth-child(odd) a", "pdf"},
      {"li:not(:nth-child(odd))", "b"},
      {"h1, li:nth-child(2n)", "Head|b"},
      {"a:only-child", "pdf|out"},
      {"li:not(.x)", "a|c pdf"},
      {"a[href$='.pdf']::attr(lang)", "en-GB"},
      {"a[lang|=en]::text", "pdf"},
      {"a[href^='http']", "out"},
      {"a[href*='f.p']", "pdf"},
      {"[title=\"it's\"]", "out"},
      {"ul li a, h1", "Head|pdf"},
      {"li::text", "a|b|c "},
      {"P", "one|two|three out"},
      {".md\\:flex.w-1\\/2", "tw"},
      {"#a\\2e b", "tw"},
      {"span[class~='w-1/2']", "tw"},
  };
  htmlDocPtr doc = htmlReadMemory(page, (int)strlen(page), NULL, "UTF-8",
                                  HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING);
  CHECK(doc != NULL);
  for (size_t i = 0; doc && i < sizeof(cases) / sizeof(cases[0]); i++) {
    char *got = select_texts(doc, cases[i].css);
    if (strcmp(got, cases[i].want))
      fprintf(stderr, "'%s':\n", cases[i].css);
    CHECK_STR(got, cases[i].want);
    free(got);
  }
  xmlFreeDoc(doc);
}

#if LIBXML_VERSION >= 21200
static void quiet(void *arg, const xmlError *e)
#else
static void quiet(void *arg, xmlErrorPtr e)
#endif
{
  (void)arg;
  (void)e;
}

/* The selector's node count on doc, and libxml2's operation count for it
 * in *ops; -1 when the evaluation failed (the budget ran out). */
static int select_count(htmlDocPtr doc, const char *sel, unsigned long *ops)
{
  char err[160];
  char *x = css_to_xpath(sel, err, sizeof(err));
  CHECK(x != NULL);
  if (!x)
    return -1;
  xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
  ctx->node = (xmlNodePtr)doc;
  ctx->opLimit = 5000000; /* extract.c's XPATH_OPS_MAX */
  ctx->error = quiet;
  xmlXPathObjectPtr o = xmlXPathEvalExpression((const xmlChar *)x, ctx);
  free(x);
  int n = o && o->nodesetval ? o->nodesetval->nodeNr : o ? 0 : -1;
  *ops = ctx->opCount;
  xmlXPathFreeObject(o);
  xmlXPathFreeContext(ctx);
  return n;
}

static htmlDocPtr parse(const char *html, size_t len)
{
  htmlDocPtr doc =
      htmlReadMemory(html, (int)len, NULL, "UTF-8",
                     HTML_PARSE_RECOVER | HTML_PARSE_NOERROR |
                         HTML_PARSE_NOWARNING | HTML_PARSE_COMPACT);
  if (doc)
    xmlXPathOrderDocElems(doc); /* as extract.c does */
  return doc;
}

/* Hostile shapes: 200 nested <div> over a list of 5,000 <li>. Matched right
 * to left, each element is tested once: the whole answer, in operations
 * linear in the elements (the paths these selectors used to become merged
 * one node set per ancestor, 1.6 s for "div li", uncounted by the
 * budget). A '~' after conditions on a list this long runs into the
 * budget and stops there. */
static void test_hostile(void)
{
  enum { DEPTH = 200, ITEMS = 5000 };
  struct {
    char *p;
    size_t n;
  } h = {malloc(DEPTH * 11 + ITEMS * 20 + 64), 0};
  CHECK(h.p != NULL);
  if (!h.p)
    return;
  for (int i = 0; i < DEPTH; i++)
    h.n += (size_t)sprintf(h.p + h.n, "<div>");
  h.n += (size_t)sprintf(h.p + h.n, "<ul>");
  for (int i = 0; i < ITEMS; i++)
    h.n +=
        (size_t)sprintf(h.p + h.n, "<li%s>x</li>", i == 7 ? " class=x" : "");
  h.n += (size_t)sprintf(h.p + h.n, "</ul>");
  for (int i = 0; i < DEPTH; i++)
    h.n += (size_t)sprintf(h.p + h.n, "</div>");
  htmlDocPtr doc = parse(h.p, h.n);
  free(h.p);
  CHECK(doc != NULL);
  if (!doc)
    return;
  static const struct {
    const char *css;
    int want;
  } cases[] = {
      {"div li", ITEMS},
      {"div div ul li", ITEMS},
      {"div > ul > li:last-child", 1},
      {"ul li ~ li", ITEMS - 1},
      {"div > ul li + li", ITEMS - 1},
      {"li:first-child + li", 1},
      {"div li, ul li", ITEMS},
      {"div li:nth-child(odd)", ITEMS / 2},
      {"ul > li:nth-child(-n+3)", 3},
      {"li::text", ITEMS},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    unsigned long ops;
    int n = select_count(doc, cases[i].css, &ops);
    /* Each element once, with a walk up its ancestors at most. */
    if (n != cases[i].want || ops > 2UL * (DEPTH + 20) * ITEMS)
      fprintf(stderr, "'%s': %d nodes, %lu operations\n", cases[i].css, n,
              ops);
    CHECK(n == cases[i].want);
    CHECK(ops <= 2UL * (DEPTH + 20) * ITEMS);
  }
  /* Conditions on the left of '~' over 5,000 siblings: quadratic, ended
   * by the budget (a null field), not left to run. */
  static const char *const quadratic[] = {"li + li ~ li", "li.x ~ li",
                                          "ul > li.x + li ~ li",
                                          "li:nth-child(odd) + li"};
  for (size_t i = 0; i < sizeof(quadratic) / sizeof(quadratic[0]); i++) {
    unsigned long ops;
    CHECK(select_count(doc, quadratic[i], &ops) == -1);
    CHECK(ops >= 5000000);
  }
  xmlFreeDoc(doc);
}

int main(void)
{
  xmlInitParser();
  test_text();
  test_select();
  test_hostile();
  return check_report("test_css");
}
