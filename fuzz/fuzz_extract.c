/* extract_run on arbitrary bodies with JSON-pointer, regex and XPath
 * extractors and link resolution: never crash, fields always valid JSON
 * texts. */
#include "extract.h"
#include "result.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct extract_spec spec;
static int ready;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (!ready) {
    char err[256];
    if (extract_spec_init(&spec) ||
        extract_spec_add(&spec, "a=json:/a/0/b~1c", err, sizeof(err)) ||
        extract_spec_add(&spec, "all=json:", err, sizeof(err)) ||
        extract_spec_add(&spec, "t=re:<h1>([^<]*)</h1>", err, sizeof(err)) ||
        extract_spec_add(&spec, "x=xpath://a/@href", err, sizeof(err)) ||
        extract_spec_add(&spec, "y=xpath:normalize-space(//title)", err,
                         sizeof(err)) ||
        extract_spec_add(&spec, "z=xpath:count(//*) div 3", err, sizeof(err)))
      abort();
    spec.want_links = 1;
    spec.max_links = 50;
    ready = 1;
  }
  char *body = malloc(size + 1);
  if (!body)
    return 0;
  memcpy(body, data, size);
  body[size] = '\0';
  struct result *r = result_new("http://fuzz.example/a/b", 23);
  const char *ct = size && (data[0] & 1) ? "application/json" : "text/html";
  extract_run(&spec, body, size, ct, "http://fuzz.example/a/b", r);
  for (int i = 0; i < r->nfields; i++) {
    json_t *v =
        json_loads(r->fields[i].json, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (!v)
      abort();
    json_decref(v);
  }
  if (r->links) {
    const char *p = r->links;
    for (int i = 0; i < r->nlinks; i++) {
      if (strncmp(p, "http://", 7) != 0 && strncmp(p, "https://", 8) != 0)
        abort();
      p += strlen(p) + 1;
    }
  }
  result_free(r);
  free(body);
  return 0;
}
