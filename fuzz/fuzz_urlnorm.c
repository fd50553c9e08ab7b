/* urlnorm_normalize and urlnorm_resolve on arbitrary bytes: never crash,
 * and every URL that comes out is http(s), within max_len, and a fixed
 * point (normalising it again gives it back). The first byte picks the
 * options, so sorting and stripping are fuzzed too. */
#include "urlnorm.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LEN 2048

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const char *out, const struct urlnorm_options *o)
{
  const char *err = NULL;
  if (!out)
    return;
  if (strncmp(out, "http://", 7) != 0 && strncmp(out, "https://", 8) != 0)
    abort();
  if (strlen(out) > MAX_LEN)
    abort();
  for (const char *p = out; *p; p++)
    if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f || *p == '#')
      abort();
  char *again = urlnorm_normalize(out, o, &err);
  if (!again || strcmp(again, out) != 0)
    abort();
  free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static const char *const strip[] = {"a", "b*", NULL};
  static const char *const none[] = {NULL};
  const char *err = NULL;
  if (size < 1)
    return 0;
  struct urlnorm_options o = {.max_len = MAX_LEN};
  o.sort_query = data[0] & 1;
  o.strip_params = (data[0] & 6) == 2   ? strip
                   : (data[0] & 6) == 4 ? none
                                        : NULL;
  char *s = malloc(size);
  if (!s)
    return 0;
  memcpy(s, data + 1, size - 1);
  s[size - 1] = '\0'; /* stops at the first NUL, as a C string would */

  char *out = urlnorm_normalize(s, &o, &err);
  check(out, &o);
  free(out);

  out = urlnorm_resolve("http://a/b/c/d;p?q", s, &o, &err);
  check(out, &o);
  free(out);
  out = urlnorm_resolve("https://xn--mnchen-3ya.de:8443/%7Ex/", s, &o, &err);
  check(out, &o);
  free(out);
  /* The fast path for keys gives what the full resolution gives. */
  static const char *const keys[] = {"http://a/b/c/d;p?q",
                                     "https://xn--mnchen-3ya.de:8443/x/y",
                                     "http://h:81/", "http://h/a/b.html?x=1"};
  for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
    const char *e1 = NULL, *e2 = NULL;
    char *slow = urlnorm_resolve(keys[k], s, &o, &e1);
    char *fast = urlnorm_resolve_key(keys[k], s, &o, &e2);
    if ((slow == NULL) != (fast == NULL) || (slow && strcmp(slow, fast)) ||
        (!slow && e1 != e2))
      abort();
    free(slow);
    free(fast);
  }
  free(s);
  return 0;
}
