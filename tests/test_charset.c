/* charset: the UTF-8 check against iconv's strict decoder, the declared
 * encoding from BOM, Content-Type and <meta>, and the decoding of legacy
 * pages. */
#include "charset.h"
#include "check.h"

#include <errno.h>
#include <iconv.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The oracle: glibc's decoder, which refuses overlong forms, surrogates
 * and code points past U+10FFFF. */
static int iconv_is_utf8(iconv_t cd, const char *p, size_t n)
{
  char out[4 * 64 + 16], *in = (char *)p;
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

static void test_is_utf8(void)
{
  static const struct {
    const char *s;
    int ok;
  } cases[] = {
      {"", 1},
      {"plain ASCII, longer than eight bytes", 1},
      {"caf\xc3\xa9", 1},
      {"\x7f\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf", 1},
      {"\xf0\x90\x80\x80\xf4\x8f\xbf\xbf", 1},
      {"\xed\x9f\xbf\xee\x80\x80", 1}, /* either side of the surrogates */
      {"caf\xe9", 0},                  /* Latin-1 */
      {"\xc0\x80", 0},                 /* overlong NUL */
      {"\xc1\xbf", 0},
      {"\xe0\x9f\xbf", 0},     /* overlong 3-byte */
      {"\xed\xa0\x80", 0},     /* a surrogate */
      {"\xf0\x8f\xbf\xbf", 0}, /* overlong 4-byte */
      {"\xf4\x90\x80\x80", 0}, /* past U+10FFFF */
      {"\xf5\x80\x80\x80", 0},
      {"\x80", 0},         /* a lone continuation */
      {"abcdefgh\xc3", 0}, /* cut at the end, after the fast path */
      {"abcdefg\xe2\x82", 0},
      {"\xe2\x82\xac\xe2\x82", 0},
      {"\xc3\xa9\xc3", 0},
      {"\xe2\x28\xa1", 0}, /* a bad second byte */
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    int got = charset_is_utf8(cases[i].s, strlen(cases[i].s));
    if (got != cases[i].ok)
      fprintf(stderr, "case %zu\n", i);
    CHECK(got == cases[i].ok);
  }
  /* One bad byte, or one good sequence, at every offset of a long ASCII
   * run: the 32- and 8-byte fast paths must hand over at any point. */
  for (size_t at = 0; at < 100; at++) {
    char run[104];
    memset(run, 'a', sizeof(run));
    run[at] = (char)0xff;
    CHECK(!charset_is_utf8(run, sizeof(run)));
    memcpy(run + at, "\xc3\xa9", 2);
    CHECK(charset_is_utf8(run, sizeof(run)));
    run[at + 1] = 'a'; /* a lead byte without its continuation */
    CHECK(!charset_is_utf8(run, sizeof(run)));
  }
  /* Random mixes of ASCII runs, valid sequences and bad bytes, at every
   * alignment of the eight-byte fast path, against the oracle. */
  iconv_t cd = iconv_open("UTF-32LE", "UTF-8");
  CHECK(cd != (iconv_t)-1);
  if (cd == (iconv_t)-1)
    return;
  static const char *const pieces[] = {"a",
                                       "abcdefghij",
                                       "\xc3\xa9",
                                       "\xe2\x82\xac",
                                       "\xf0\x9f\x98\x80",
                                       "\xed\xa0\x80",
                                       "\xc0\xaf",
                                       "\xff",
                                       "\x80",
                                       "\xe2\x82",
                                       "\xf4\x90\x80\x80",
                                       "\xf4\x8f\xbf\xbf",
                                       "\xe0\xa0\x80",
                                       "\xe0\x80\x80",
                                       "\x00"};
  uint32_t seed = 12345;
  int disagree = 0;
  for (int round = 0; round < 20000; round++) {
    char buf[64];
    size_t n = 0;
    seed = seed * 1103515245u + 12345u;
    int parts = 1 + (int)((seed >> 16) % 6);
    for (int k = 0; k < parts; k++) {
      seed = seed * 1103515245u + 12345u;
      /* Bad pieces one time in four. */
      size_t pick = (seed >> 16) % 4
                        ? (seed >> 8) % 5
                        : (seed >> 8) % (sizeof(pieces) / sizeof(pieces[0]));
      const char *p = pieces[pick];
      size_t l = pick == 14 ? 1 : strlen(p);
      if (n + l > sizeof(buf))
        break;
      memcpy(buf + n, p, l);
      n += l;
    }
    if (charset_is_utf8(buf, n) != iconv_is_utf8(cd, buf, n))
      disagree++;
  }
  iconv_close(cd);
  CHECK(disagree == 0);
}

static void test_declared(void)
{
  char name[CHARSET_NAME_MAX];
  static const struct {
    const char *ct, *body, *want; /* want NULL: none declared */
  } cases[] = {
      {NULL, "\xef\xbb\xbf<p>x", "utf-8"},
      {NULL, "\xff\xfe<\0p\0", "utf-16le"},
      {NULL, "\xfe\xff\0<\0p", "utf-16be"},
      {"text/html; charset=ISO-8859-1", "<p>", "iso-8859-1"},
      {"text/html;charset=\"Shift_JIS\"", "<p>", "shift_jis"},
      {"text/html; Charset = koi8-r ; x=y", "<p>", "koi8-r"},
      {"text/html", "<meta charset=windows-1251><p>", "windows-1251"},
      {NULL, "<html><head><META CHARSET=\"EUC-JP\">", "euc-jp"},
      {NULL, "<meta name=x charset='gbk'/>", "gbk"},
      {NULL,
       "<meta http-equiv=\"Content-Type\" content=\"text/html; "
       "charset=iso-8859-2\">",
       "iso-8859-2"},
      {NULL, "<meta content='text/html;charset=big5' http-equiv=content-type>",
       "big5"},
      /* The header wins over the meta. */
      {"text/html; charset=latin1", "<meta charset=utf-8>", "latin1"},
      /* A meta may not say UTF-16 of a page that spells "<meta". */
      {NULL, "<meta charset=utf-16le>", "utf-8"},
      /* Not declarations. */
      {NULL, "<!-- <meta charset=koi8-r> --><p>", NULL},
      {NULL, "<metadata charset=koi8-r>", NULL},
      {NULL, "<meta http-equiv=refresh content='0; charset=koi8-r'>", NULL},
      {NULL, "<meta charset=>", NULL},
      {"text/html", "<p>no declaration</p>", NULL},
      {NULL, "<meta charset=\"unterminated", NULL},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    size_t len = strlen(cases[i].body);
    if (cases[i].body[0] == '\xff' || cases[i].body[0] == '\xfe')
      len = 6;
    int got = charset_declared(cases[i].ct, cases[i].body, len, name);
    if (cases[i].want) {
      CHECK(got);
      if (got)
        CHECK_STR(name, cases[i].want);
    } else {
      if (got)
        fprintf(stderr, "case %zu declared %s\n", i, name);
      CHECK(!got);
    }
  }
  /* Only the first 1024 bytes are looked at. */
  char big[1200];
  memset(big, ' ', sizeof(big));
  memcpy(big + 1100, "<meta charset=koi8-r>", 21);
  CHECK(!charset_declared(NULL, big, sizeof(big), name));
  memcpy(big + 900, "<meta charset=koi8-u>", 21);
  CHECK(charset_declared(NULL, big, sizeof(big), name));
  CHECK_STR(name, "koi8-u");
}

static void decodes(const char *ct, const char *body, size_t len,
                    const char *want)
{
  size_t n = 0;
  char *got = charset_to_utf8(ct, body, len, &n);
  CHECK(got != NULL);
  if (!got)
    return;
  CHECK(n == strlen(got));
  CHECK_STR(got, want);
  CHECK(charset_is_utf8(got, n));
  free(got);
}

static void test_to_utf8(void)
{
  size_t n;
  /* Valid UTF-8 is read as it is, whatever it declares. */
  const char *u = "<meta charset=iso-8859-1><title>caf\xc3\xa9</title>";
  CHECK(charset_to_utf8(NULL, u, strlen(u), &n) == NULL);
  CHECK(charset_to_utf8("text/html; charset=shift_jis", "plain", 5, &n) ==
        NULL);
  /* Declared UTF-8 on bad bytes: left for the readers to replace. */
  CHECK(charset_to_utf8("text/html; charset=utf-8", "caf\xe9", 4, &n) == NULL);
  /* No declaration: windows-1252, whose 0x80-0x9f are letters. */
  decodes(NULL, "caf\xe9 \x80 \x93q\x94", 10,
          "caf\xc3\xa9 \xe2\x82\xac \xe2\x80\x9cq\xe2\x80\x9d");
  /* Declared ISO-8859-1 is read as windows-1252, as browsers do. */
  decodes("text/html; charset=iso-8859-1", "\x93x\x94 cr\xe8me", 9,
          "\xe2\x80\x9cx\xe2\x80\x9d cr\xc3\xa8me");
  /* A label iconv does not know: windows-1252. */
  decodes("text/html; charset=x-no-such-thing", "na\xefve", 5, "na\xc3\xafve");
  /* Shift_JIS from a meta: "日本" */
  const char *sj = "<meta charset=shift_jis>\x93\xfa\x96\x7b";
  decodes(NULL, sj, strlen(sj),
          "<meta charset=shift_jis>\xe6\x97\xa5\xe6\x9c\xac");
  /* gb2312 is read as GBK: "中文" */
  decodes("text/html; charset=gb2312", "\xd6\xd0\xce\xc4", 4,
          "\xe4\xb8\xad\xe6\x96\x87");
  /* KOI8-R: "Мир" */
  decodes("text/html; charset=koi8-r", "\xed\xc9\xd2", 3,
          "\xd0\x9c\xd0\xb8\xd1\x80");
  /* UTF-16LE by its BOM, which goes: "<p>é" */
  decodes(NULL, "\xff\xfe<\0p\0>\0\xe9\0", 10, "<p>\xc3\xa9");
  /* By its Content-Type, without a BOM: nothing skipped; a bare utf-16
   * is little-endian. */
  decodes("text/html; charset=utf-16le", "<\0p\0>\0\xe9\0", 8, "<p>\xc3\xa9");
  decodes("text/html; charset=utf-16", "<\0p\0>\0\xe9\0", 8, "<p>\xc3\xa9");
  /* Outside the Encoding Standard: windows-1252, not the system's
   * decoder. */
  decodes("text/html; charset=utf-7", "+AOk-\xe9", 6, "+AOk-\xc3\xa9");
  decodes("text/html; charset=ebcdic-us", "\xe9", 1, "\xc3\xa9");
  /* Bytes the encoding has no character for, and a sequence cut by the
   * end, become U+FFFD, and decoding goes on. */
  decodes("text/html; charset=shift_jis",
          "a\x80"
          "b\x93",
          4,
          "a\xef\xbf\xbd"
          "b\xef\xbf\xbd");
  decodes(NULL, "\x81x", 2, "\xef\xbf\xbdx");
  /* NUL bytes pass. */
  char *z = charset_to_utf8(NULL, "a\0\xe9", 3, &n);
  CHECK(z && n == 4 && !memcmp(z, "a\0\xc3\xa9", 4));
  free(z);
  /* A page that decodes to more than three bytes a byte (4-byte
   * characters from GB18030's 4-byte forms). */
  char gb[4 * 300];
  for (int i = 0; i < 300; i++)
    memcpy(gb + 4 * i, "\x90\x30\x81\x30", 4); /* U+10000 */
  char *big =
      charset_to_utf8("text/html; charset=gb18030", gb, sizeof(gb), &n);
  CHECK(big && n == 4 * 300 && charset_is_utf8(big, n) &&
        !memcmp(big, "\xf0\x90\x80\x80", 4));
  free(big);
}

int main(void)
{
  test_is_utf8();
  test_declared();
  test_to_utf8();
  return check_report("test_charset");
}
