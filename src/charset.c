/* charset: see charset.h. */
#include "charset.h"

#include <errno.h>
#include <iconv.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int charset_is_utf8(const char *s, size_t n)
{
  const unsigned char *p = (const unsigned char *)s, *e = p + n;
  while (p < e) {
    /* ASCII 32 and then eight bytes at a time: most of any page. */
    while (e - p >= 32) {
      uint64_t a, b, c, d;
      memcpy(&a, p, 8);
      memcpy(&b, p + 8, 8);
      memcpy(&c, p + 16, 8);
      memcpy(&d, p + 24, 8);
      if ((a | b | c | d) & 0x8080808080808080ull)
        break;
      p += 32;
    }
    while (e - p >= 8) {
      uint64_t w;
      memcpy(&w, p, 8);
      if (w & 0x8080808080808080ull)
        break;
      p += 8;
    }
    if (p == e)
      break;
    unsigned c = *p;
    if (c < 0x80) {
      p++;
      continue;
    }
    /* The second byte's range rules out overlong forms, surrogates and
     * code points past U+10FFFF (RFC 3629 table). */
    size_t need;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF)
      need = 1;
    else if (c == 0xE0)
      need = 2, lo = 0xA0;
    else if (c == 0xED)
      need = 2, hi = 0x9F;
    else if (c >= 0xE1 && c <= 0xEF)
      need = 2;
    else if (c == 0xF0)
      need = 3, lo = 0x90;
    else if (c == 0xF4)
      need = 3, hi = 0x8F;
    else if (c >= 0xF1 && c <= 0xF3)
      need = 3;
    else
      return 0;
    if ((size_t)(e - p) <= need || p[1] < lo || p[1] > hi)
      return 0;
    for (size_t k = 2; k <= need; k++)
      if ((p[k] & 0xC0) != 0x80)
        return 0;
    p += need + 1;
  }
  return 1;
}

static int is_space(int c)
{
  return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r';
}

/* Copies the label p[0..n), trimmed and lower-cased, into name. 0 when it
 * is empty or too long to be a label. */
static int put_label(const char *p, size_t n, char name[CHARSET_NAME_MAX])
{
  while (n && is_space((unsigned char)*p))
    p++, n--;
  while (n && is_space((unsigned char)p[n - 1]))
    n--;
  if (!n || n >= CHARSET_NAME_MAX)
    return 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)p[i];
    if (c <= ' ' || c >= 0x7f)
      return 0;
    name[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
  }
  name[n] = '\0';
  return 1;
}

/* "charset" followed by optional spaces, '=', optional spaces and a value
 * quoted or up to ';' or a space, in s[0..n) (a Content-Type, or a meta's
 * content: the Encoding Standard's extraction from a meta element). */
static int charset_param(const char *s, size_t n, char name[CHARSET_NAME_MAX])
{
  for (size_t i = 0; i + 7 <= n; i++) {
    if (strncasecmp(s + i, "charset", 7) != 0)
      continue;
    size_t j = i + 7;
    while (j < n && is_space((unsigned char)s[j]))
      j++;
    if (j >= n || s[j] != '=')
      continue;
    j++;
    while (j < n && is_space((unsigned char)s[j]))
      j++;
    if (j < n && (s[j] == '"' || s[j] == '\'')) {
      const char *end = memchr(s + j + 1, s[j], n - j - 1);
      return end && put_label(s + j + 1, (size_t)(end - s - j - 1), name);
    }
    size_t k = j;
    while (k < n && s[k] != ';' && !is_space((unsigned char)s[k]))
      k++;
    return put_label(s + j, k - j, name);
  }
  return 0;
}

/* One attribute of a tag at p (below e): its name and value spans (the
 * value may be empty); returns where the next one may start, or NULL at
 * the tag's end. Follows the prescan's "get an attribute" loosely. */
static const char *attribute(const char *p, const char *e, const char **name,
                             size_t *nlen, const char **val, size_t *vlen)
{
  while (p < e && (is_space((unsigned char)*p) || *p == '/'))
    p++;
  if (p >= e || *p == '>')
    return NULL;
  *name = p;
  while (p < e && !is_space((unsigned char)*p) && *p != '/' && *p != '>' &&
         (*p != '=' || p == *name))
    p++;
  *nlen = (size_t)(p - *name);
  *val = p;
  *vlen = 0;
  while (p < e && is_space((unsigned char)*p))
    p++;
  if (p >= e || *p != '=')
    return p;
  p++;
  while (p < e && is_space((unsigned char)*p))
    p++;
  if (p < e && (*p == '"' || *p == '\'')) {
    const char *end = memchr(p + 1, *p, (size_t)(e - p - 1));
    if (!end)
      return NULL;
    *val = p + 1;
    *vlen = (size_t)(end - p - 1);
    return end + 1;
  }
  *val = p;
  while (p < e && !is_space((unsigned char)*p) && *p != '>')
    p++;
  *vlen = (size_t)(p - *val);
  return p;
}

static int attr_is(const char *a, size_t n, const char *want)
{
  return n == strlen(want) && strncasecmp(a, want, n) == 0;
}

/* The first <meta> in p[0..n) that names an encoding, as the prescan
 * finds it: comments and other tags are skipped. */
static int meta_charset(const char *p, size_t n, char name[CHARSET_NAME_MAX])
{
  const char *e = p + n;
  while (p < e && (p = memchr(p, '<', (size_t)(e - p))) != NULL) {
    if (e - p >= 4 && !memcmp(p, "<!--", 4)) {
      const char *end = p + 4;
      while (end + 3 <= e && memcmp(end, "-->", 3))
        end++;
      if (end + 3 > e)
        break; /* the comment runs to the end */
      p = end + 3;
      continue;
    }
    if (e - p < 6 || strncasecmp(p + 1, "meta", 4) ||
        !(is_space((unsigned char)p[5]) || p[5] == '/')) {
      p++;
      continue;
    }
    const char *a = p + 5, *an, *av, *content = NULL;
    size_t anl, avl, content_len = 0;
    int http_equiv = 0;
    char got[CHARSET_NAME_MAX];
    while ((a = attribute(a, e, &an, &anl, &av, &avl)) != NULL) {
      if (attr_is(an, anl, "charset")) {
        if (put_label(av, avl, name))
          return 1;
      } else if (attr_is(an, anl, "http-equiv")) {
        http_equiv = attr_is(av, avl, "content-type");
      } else if (attr_is(an, anl, "content") && !content) {
        content = av;
        content_len = avl;
      }
    }
    if (http_equiv && content && charset_param(content, content_len, got)) {
      memcpy(name, got, sizeof(got));
      return 1;
    }
    p += 5;
  }
  return 0;
}

int charset_declared(const char *content_type, const char *body, size_t len,
                     char name[CHARSET_NAME_MAX])
{
  const unsigned char *b = (const unsigned char *)body;
  if (len >= 3 && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF) {
    strcpy(name, "utf-8");
    return 1;
  }
  if (len >= 2 &&
      ((b[0] == 0xFE && b[1] == 0xFF) || (b[0] == 0xFF && b[1] == 0xFE))) {
    strcpy(name, b[0] == 0xFE ? "utf-16be" : "utf-16le");
    return 1;
  }
  const char *semi = content_type ? strchr(content_type, ';') : NULL;
  if (semi && charset_param(semi, strlen(semi), name))
    return 1;
  if (!meta_charset(body, len < 1024 ? len : 1024, name))
    return 0;
  /* A page that can say "<meta" in ASCII is not UTF-16. */
  if (!strncmp(name, "utf-16", 6) || !strcmp(name, "unicode"))
    strcpy(name, "utf-8");
  return 1;
}

/* The encoding a label names, as the Encoding Standard reads labels (the
 * ones browsers decode as windows-1252, GBK, windows-31J, windows-949...),
 * in iconv's spelling; windows-1252 for a label outside the Standard. */
static const char *iconv_name(const char *label)
{
  static const struct {
    const char *label, *name;
  } map[] = {
      {"utf8", "utf-8"},
      {"unicode-1-1-utf-8", "utf-8"},
      {"latin1", "windows-1252"},
      {"l1", "windows-1252"},
      {"iso-8859-1", "windows-1252"},
      {"iso8859-1", "windows-1252"},
      {"iso_8859-1", "windows-1252"},
      {"iso_8859-1:1987", "windows-1252"},
      {"iso-ir-100", "windows-1252"},
      {"csisolatin1", "windows-1252"},
      {"cp819", "windows-1252"},
      {"ibm819", "windows-1252"},
      {"ascii", "windows-1252"},
      {"us-ascii", "windows-1252"},
      {"ansi_x3.4-1968", "windows-1252"},
      {"x-cp1252", "windows-1252"},
      {"gb2312", "gbk"},
      {"csgb2312", "gbk"},
      {"chinese", "gbk"},
      {"x-gbk", "gbk"},
      {"shift_jis", "cp932"},
      {"shift-jis", "cp932"},
      {"sjis", "cp932"},
      {"x-sjis", "cp932"},
      {"ms_kanji", "cp932"},
      {"windows-31j", "cp932"},
      {"csshiftjis", "cp932"},
      {"euc-kr", "cp949"},
      {"ks_c_5601-1987", "cp949"},
      {"windows-949", "cp949"},
      {"x-mac-roman", "macintosh"},
      {"iso-8859-8-i", "iso-8859-8"},
      {"utf-16", "utf-16le"},
      {"latin2", "iso-8859-2"},
      {"latin3", "iso-8859-3"},
      {"latin4", "iso-8859-4"},
      {"cyrillic", "iso-8859-5"},
      {"arabic", "iso-8859-6"},
      {"greek", "iso-8859-7"},
      {"hebrew", "iso-8859-8"},
      {"latin6", "iso-8859-10"},
      {"iso-8859-9", "windows-1254"},
      {"latin5", "windows-1254"},
      {"iso-8859-11", "windows-874"},
      {"tis-620", "windows-874"},
      {"cp1250", "windows-1250"},
      {"cp1251", "windows-1251"},
      {"cp1253", "windows-1253"},
      {"cp1254", "windows-1254"},
      {"cp1255", "windows-1255"},
      {"cp1256", "windows-1256"},
      {"cp1257", "windows-1257"},
      {"cp1258", "windows-1258"},
      {"cp866", "ibm866"},
      {"koi8-ru", "koi8-u"},
      {"big5-hkscs", "big5"},
      {"x-euc-jp", "euc-jp"},
      {"csiso2022jp", "iso-2022-jp"},
  };
  /* The Encoding Standard's encodings: no other decoder of the system's
   * iconv (UTF-7, EBCDIC, ...) ever sees a page's bytes. */
  static const char *const allowed[] = {
      "utf-8",        "ibm866",       "iso-8859-2",   "iso-8859-3",
      "iso-8859-4",   "iso-8859-5",   "iso-8859-6",   "iso-8859-7",
      "iso-8859-8",   "iso-8859-10",  "iso-8859-13",  "iso-8859-14",
      "iso-8859-15",  "iso-8859-16",  "koi8-r",       "koi8-u",
      "macintosh",    "windows-874",  "windows-1250", "windows-1251",
      "windows-1252", "windows-1253", "windows-1254", "windows-1255",
      "windows-1256", "windows-1257", "windows-1258", "gbk",
      "gb18030",      "big5",         "euc-jp",       "iso-2022-jp",
      "cp932",        "cp949",        "utf-16be",     "utf-16le",
  };
  for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
    if (!strcmp(label, map[i].label)) {
      label = map[i].name;
      break;
    }
  for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
    if (!strcmp(label, allowed[i]))
      return label;
  return "windows-1252";
}

/* Appends U+FFFD at *o; the caller made room. */
static char *put_fffd(char *o)
{
  memcpy(o, "\xEF\xBF\xBD", 3);
  return o + 3;
}

static char *convert(iconv_t cd, const char *body, size_t len, size_t *out_len)
{
  /* Three bytes out per byte in covers every single-byte encoding and the
   * replacement of any rejected byte; the loop grows it for the rest. */
  size_t cap = len * 3 + 16;
  char *out = malloc(cap + 1);
  if (!out)
    return NULL;
  char *in = (char *)body, *o = out;
  size_t in_left = len, out_left = cap;
  for (;;) {
    int grow = 0;
    if (iconv(cd, &in, &in_left, &o, &out_left) != (size_t)-1) {
      /* All in: end any shift state (ISO-2022-JP). */
      if (iconv(cd, NULL, NULL, &o, &out_left) != (size_t)-1 || errno != E2BIG)
        break;
      grow = 1;
    } else if (errno == E2BIG || out_left < 3) {
      grow = 1;
    } else if (!in_left) {
      break; /* not an error iconv gives; no loop on it either */
    } else {
      /* A byte the encoding has no character for (EILSEQ), or a sequence
       * cut by the end (EINVAL): U+FFFD, and on after that byte. */
      o = put_fffd(o);
      out_left -= 3;
      in++;
      in_left--;
    }
    if (grow) {
      size_t used = (size_t)(o - out);
      char *bigger = realloc(out, cap * 2 + 1);
      if (!bigger) {
        free(out);
        return NULL;
      }
      out = bigger;
      o = out + used;
      out_left += cap;
      cap *= 2;
    }
  }
  *o = '\0';
  *out_len = (size_t)(o - out);
  return out;
}

char *charset_to_utf8(const char *content_type, const char *body, size_t len,
                      size_t *out_len)
{
  char label[CHARSET_NAME_MAX];
  if (charset_is_utf8(body, len))
    return NULL;
  if (!charset_declared(content_type, body, len, label))
    strcpy(label, "windows-1252");
  const char *name = iconv_name(label);
  if (!strcmp(name, "utf-8"))
    return NULL;
  iconv_t cd = iconv_open("UTF-8", name);
  if (cd == (iconv_t)-1) /* a system without that decoder */
    cd = iconv_open("UTF-8", "WINDOWS-1252");
  if (cd == (iconv_t)-1)
    return NULL;
  /* A BOM says what the page is and is not part of it. */
  const unsigned char *u = (const unsigned char *)body;
  size_t skip = 0;
  if (!strncmp(name, "utf-16", 6) && len >= 2 &&
      ((u[0] == 0xFF && u[1] == 0xFE) || (u[0] == 0xFE && u[1] == 0xFF)))
    skip = 2;
  char *out = convert(cd, body + skip, len - skip, out_len);
  iconv_close(cd);
  return out;
}
