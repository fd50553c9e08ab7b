/* Fuzzes css_to_xpath, which turns a user's --extract css: selector into
 * XPath: any bytes must pass without a sanitizer report, a refusal must
 * come with a reason, and an accepted selector must give an expression
 * that libxml2 compiles (nothing in a selector can break out of its
 * string literals or names). */
#include "css.h"
#include "fuzz.h"

#include <libxml/xpath.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if LIBXML_VERSION >= 21200
static void quiet(void *arg, const xmlError *e)
#else
static void quiet(void *arg, xmlErrorPtr e)
#endif
{
  (void)arg;
  (void)e;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static int ready;
  if (!ready) {
    xmlInitParser();
    xmlSetStructuredErrorFunc(NULL, quiet);
    ready = 1;
  }
  char *sel = malloc(size + 1);
  ENSURE(sel);
  memcpy(sel, data, size);
  sel[size] = '\0';
  char err[160] = "";
  char *x = css_to_xpath(sel, err, sizeof(err));
  if (!x) {
    ENSURE(err[0] != '\0');
  } else {
    xmlXPathCompExprPtr c = xmlXPathCompile((const xmlChar *)x);
    ENSURE(c != NULL);
    xmlXPathFreeCompExpr(c);
    free(x);
  }
  free(sel);
  return 0;
}
