/* Fuzzes charset.c, which every HTML page that is not valid UTF-8 goes
 * through: the first input byte picks a Content-Type (none, a charset
 * parameter, or one taken from the input), the rest is the page. Any
 * bytes must pass without a sanitizer report; charset_is_utf8 must agree
 * with glibc's strict decoder; a declared label must be short, lower-case
 * printable ASCII; and a decoded page must be valid UTF-8, NUL-terminated
 * at its length. */
#include "charset.h"
#include "fuzz.h"

#include <errno.h>
#include <iconv.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int oracle_utf8(const char *p, size_t n)
{
  static iconv_t cd = (iconv_t)-1;
  if (cd == (iconv_t)-1)
    cd = iconv_open("UTF-32LE", "UTF-8");
  ENSURE(cd != (iconv_t)-1);
  char out[1024], *in = (char *)p;
  size_t in_left = n;
  iconv(cd, NULL, NULL, NULL, NULL);
  while (in_left) {
    char *o = out;
    size_t out_left = sizeof(out);
    if (iconv(cd, &in, &in_left, &o, &out_left) == (size_t)-1 &&
        errno != E2BIG)
      return 0;
  }
  return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static const char *const types[] = {
      NULL,
      "text/html",
      "text/html; charset=shift_jis",
      "text/html; charset=iso-2022-jp",
      "text/html; charset=gb18030",
      "text/html; charset=utf-16le",
      "text/html; charset=\"koi8-r",
      "text/html; charset=big5",
  };
  if (size < 1)
    return 0;
  char ct[96];
  const char *type;
  unsigned pick = data[0] % 9;
  data++;
  size--;
  if (pick < 8) {
    type = types[pick];
  } else {
    /* A Content-Type from the input: up to its first newline. */
    const uint8_t *nl = memchr(data, '\n', size < 80 ? size : 80);
    size_t n = nl ? (size_t)(nl - data) : 0;
    memcpy(ct, data, n);
    ct[n] = '\0';
    type = ct;
    data += n + (nl != NULL);
    size -= n + (nl != NULL);
  }
  /* An exact-size copy, so reads past the end are caught. */
  char *body = malloc(size ? size : 1);
  ENSURE(body);
  memcpy(body, data, size);

  ENSURE(charset_is_utf8(body, size) == oracle_utf8(body, size));
  char name[CHARSET_NAME_MAX];
  if (charset_declared(type, body, size, name)) {
    size_t n = strlen(name);
    ENSURE(n > 0 && n < CHARSET_NAME_MAX);
    for (size_t i = 0; i < n; i++)
      ENSURE(name[i] > ' ' && name[i] < 0x7f &&
             !(name[i] >= 'A' && name[i] <= 'Z'));
  }
  size_t len = 0;
  char *out = charset_to_utf8(type, body, size, &len);
  if (out) {
    ENSURE(out[len] == '\0');
    ENSURE(oracle_utf8(out, len));
    free(out);
  }
  free(body);
  return 0;
}
