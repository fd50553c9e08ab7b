/* config_parse on arbitrary bytes: never crash or leak, and what comes
 * out keeps the documented invariants. On success every source is
 * complete and within its limits, found by its name, and equal to itself;
 * on failure the message is one non-empty line naming the file, and the
 * config is left empty. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_source(const struct config *c, const struct config_source *s)
{
  if (!s->name || !s->url || !*s->name || strlen(s->name) > 64 ||
      strspn(s->name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                      "0123456789_-") != strlen(s->name))
    abort();
  if (config_find(c, s->name) != s || !config_source_equal(s, s))
    abort();
  if (s->kind == SOURCE_WEBSOCKET
          ? s->interval_ms != 0
          : s->interval_ms < 100 || s->interval_ms > 86400000)
    abort();
  if (s->timeout_ms < 100 || s->timeout_ms > 600000 || s->retries < 0 ||
      s->retries > 10 || (s->enabled != 0 && s->enabled != 1) || s->line < 1)
    abort();
  if (s->nfields < 0 || s->nfields > CONFIG_MAX_FIELDS ||
      (s->nfields && s->kind == SOURCE_FEED))
    abort();
  for (int i = 0; i < s->nfields; i++) {
    const struct config_field *f = &s->fields[i];
    if (!f->name || !f->pointer || !*f->name ||
        (*f->pointer && *f->pointer != '/'))
      abort();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct config c;
  char err[256];
  if (config_parse(&c, (const char *)data, size, "f.yaml", err, sizeof(err)) ==
      0) {
    if (!c.listen || !c.store || !*c.store || c.nsources < 0 ||
        c.nsources > CONFIG_MAX_SOURCES || (c.nsources && !c.sources))
      abort();
    for (int i = 0; i < c.nsources; i++)
      check_source(&c, &c.sources[i]);
    config_free(&c);
    if (c.sources || c.listen || c.store || c.nsources)
      abort();
  } else {
    if (strncmp(err, "f.yaml:", 7) != 0 || strlen(err) <= 7 ||
        strchr(err, '\n'))
      abort();
    if (c.sources || c.listen || c.store || c.nsources)
      abort();
  }
  return 0;
}
