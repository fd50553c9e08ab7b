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
      {"a[title='say \"it\\'s\"']", NULL}, /* escapes are not supported */
      {"a[href^=/]", NULL}, /* '/' is not an identifier: quote it */
      {"a[href^='/']", "descendant-or-self::a[starts-with(@href,'/')]"},
      {"a[href$=pdf]",
       "descendant-or-self::a[substring(@href,string-length(@href)-string-"
       "length('pdf')+1)='pdf']"},
      {"a[href*='']", "descendant-or-self::a[contains(@href,'') and false()]"},
      {"a[lang|=en]",
       "descendant-or-self::a[@lang='en' or starts-with(@lang,concat('en','-'"
       "))]"},
      {"ul > li", "descendant-or-self::ul/li"},
      {"ul li", "descendant-or-self::ul/descendant::li"},
      {"h1 + p", "descendant-or-self::h1/following-sibling::*[1]/self::p"},
      {"h1 ~ p", "descendant-or-self::p[preceding-sibling::h1]"},
      {".a ~ p.b > i",
       "descendant-or-self::p[contains(concat(' ',normalize-space(@class),' "
       "'),"
       "' b ')][preceding-sibling::*[contains(concat(' ',normalize-space(@"
       "class),' '),' a ')]]/i"},
      {"ul li ~ li",
       "descendant-or-self::ul/descendant::li[preceding-sibling::li]"},
      {"ul > li ~ li ~ b",
       "descendant-or-self::ul/b[preceding-sibling::li[preceding-sibling::li]"
       "]"},
      {"h1 + p ~ ul", "descendant-or-self::h1/following-sibling::*[1]/self::p"
                      "/following-sibling::ul"},
      {"li:first-child",
       "descendant-or-self::li[not(preceding-sibling::*[1])]"},
      {"li:nth-child(3)", "descendant-or-self::li[preceding-sibling::*[2] and "
                          "not(preceding-sibling::*[3])]"},
      {"li:nth-child(1)",
       "descendant-or-self::li[not(preceding-sibling::*[1])]"},
      {"li:not(.x)",
       "descendant-or-self::li[not(contains(concat(' ',normalize-space(@class)"
       ",' '),' x '))]"},
      {"a:not(b)", "descendant-or-self::a[not(self::b)]"},
      {"a::text", "descendant-or-self::a/text()"},
      {"a::attr(href)", "descendant-or-self::a/@href"},
      {"h1, h2", "descendant-or-self::h1 | descendant-or-self::h2"},
      /* refused */
      {"", NULL},
      {"a,", NULL},
      {"a >", NULL},
      {"> a", NULL},
      {"a:hover", NULL},
      {"li:nth-child(2n+1)", NULL},
      {"li:nth-child(0)", NULL},
      {"a:not(b c)", NULL},
      {"a:not(:not(b))", NULL},
      {"a::text b", NULL},
      {"a::before", NULL},
      {"a[href", NULL},
      {"a[href='x]", NULL},
      {"a[1x]", NULL},
      {"ns|a", NULL},
      {"a)", NULL},
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

int main(void)
{
  xmlInitParser();
  test_text();
  test_select();
  return check_report("test_css");
}
