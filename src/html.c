#include "html.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A growable output string. Invariant: when p is non-NULL, cap > len, so
 * there is always room for the terminating NUL. */
struct obuf {
  char *p;
  size_t len;
  size_t cap;
};

static int ob_reserve(struct obuf *b, size_t extra)
{
  if (b->p && b->cap - b->len > extra)
    return 0;
  if (extra > SIZE_MAX / 2 - b->len)
    return -ENOMEM;
  size_t want = b->len + extra + 1;
  size_t cap = b->cap ? b->cap : 64;
  while (cap < want)
    cap *= 2;
  char *p = realloc(b->p, cap);
  if (!p)
    return -ENOMEM;
  b->p = p;
  b->cap = cap;
  return 0;
}

/* Byte classes, one table lookup in the inner loops. Whitespace is the
 * tokenizer's: CR is included because the spec turns every CR into LF
 * before tokenizing. */
enum {
  C_WS = 1,       /* tab LF FF CR space */
  C_DELIM = 2,    /* ends a tag name: whitespace '/' '>' */
  C_NAME_END = 4, /* ends an attribute name: whitespace '/' '>' '=' */
  C_UNQ_END = 8,  /* ends an unquoted value: whitespace '>' */
  C_ATTR = 16,    /* needs decoding in a value: '&' NUL CR */
  C_TEXT = 32,    /* needs decoding in a title: '&' NUL and whitespace */
};

#define WS_CLASSES (C_WS | C_DELIM | C_NAME_END | C_UNQ_END | C_TEXT)

static const unsigned char byte_class[256] = {
    ['\t'] = WS_CLASSES,
    ['\n'] = WS_CLASSES,
    ['\f'] = WS_CLASSES,
    ['\r'] = WS_CLASSES | C_ATTR,
    [' '] = WS_CLASSES,
    ['/'] = C_DELIM | C_NAME_END,
    ['>'] = C_DELIM | C_NAME_END | C_UNQ_END,
    ['='] = C_NAME_END,
    ['&'] = C_ATTR | C_TEXT,
    [0] = C_ATTR | C_TEXT,
};

static inline int is_class(char c, int cls)
{
  return byte_class[(unsigned char)c] & cls;
}

static inline int is_ws(unsigned c)
{
  return c < 256 && (byte_class[c] & C_WS);
}

static inline int is_alpha(unsigned char c)
{
  return (unsigned)((c | 0x20) - 'a') < 26;
}

static inline int is_alnum(unsigned char c)
{
  return is_alpha(c) || (unsigned)(c - '0') < 10;
}

/* Ends a tag name and the "appropriate end tag" of raw text elements. */
static inline int is_delim(unsigned char c)
{
  return byte_class[c] & C_DELIM;
}

/* s[0..n) equals lit (lower-case letters only) ignoring ASCII case. For a
 * letter-only lit, c | 0x20 == lit[i] holds for exactly the two cases of
 * that letter, so no other byte can match. */
static int ieq(const char *s, const char *lit, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (((unsigned char)s[i] | 0x20) != (unsigned char)lit[i])
      return 0;
  return 1;
}

/* ---- character references ---------------------------------------------
 *
 * The HTML 4 entities, &apos; and the HTML 5 upper-case aliases, sorted by
 * byte value of the name for a binary search. legacy marks the names the
 * spec lets appear without their ';' (its whole legacy list is here). */
struct entity {
  char name[9];
  uint16_t cp;
  uint8_t legacy;
};

#define ENT_NAME_MAX 8
#define ENT_LEGACY_MAX 6

/* clang-format off */
static const struct entity entities[] = {
    {"AElig", 0x00C6, 1}, {"AMP", 0x0026, 1}, {"Aacute", 0x00C1, 1},
    {"Acirc", 0x00C2, 1}, {"Agrave", 0x00C0, 1}, {"Alpha", 0x0391, 0},
    {"Aring", 0x00C5, 1}, {"Atilde", 0x00C3, 1}, {"Auml", 0x00C4, 1},
    {"Beta", 0x0392, 0}, {"COPY", 0x00A9, 1}, {"Ccedil", 0x00C7, 1},
    {"Chi", 0x03A7, 0}, {"Dagger", 0x2021, 0}, {"Delta", 0x0394, 0},
    {"ETH", 0x00D0, 1}, {"Eacute", 0x00C9, 1}, {"Ecirc", 0x00CA, 1},
    {"Egrave", 0x00C8, 1}, {"Epsilon", 0x0395, 0}, {"Eta", 0x0397, 0},
    {"Euml", 0x00CB, 1}, {"GT", 0x003E, 1}, {"Gamma", 0x0393, 0},
    {"Iacute", 0x00CD, 1}, {"Icirc", 0x00CE, 1}, {"Igrave", 0x00CC, 1},
    {"Iota", 0x0399, 0}, {"Iuml", 0x00CF, 1}, {"Kappa", 0x039A, 0},
    {"LT", 0x003C, 1}, {"Lambda", 0x039B, 0}, {"Mu", 0x039C, 0},
    {"Ntilde", 0x00D1, 1}, {"Nu", 0x039D, 0}, {"OElig", 0x0152, 0},
    {"Oacute", 0x00D3, 1}, {"Ocirc", 0x00D4, 1}, {"Ograve", 0x00D2, 1},
    {"Omega", 0x03A9, 0}, {"Omicron", 0x039F, 0}, {"Oslash", 0x00D8, 1},
    {"Otilde", 0x00D5, 1}, {"Ouml", 0x00D6, 1}, {"Phi", 0x03A6, 0},
    {"Pi", 0x03A0, 0}, {"Prime", 0x2033, 0}, {"Psi", 0x03A8, 0},
    {"QUOT", 0x0022, 1}, {"REG", 0x00AE, 1}, {"Rho", 0x03A1, 0},
    {"Scaron", 0x0160, 0}, {"Sigma", 0x03A3, 0}, {"THORN", 0x00DE, 1},
    {"Tau", 0x03A4, 0}, {"Theta", 0x0398, 0}, {"Uacute", 0x00DA, 1},
    {"Ucirc", 0x00DB, 1}, {"Ugrave", 0x00D9, 1}, {"Upsilon", 0x03A5, 0},
    {"Uuml", 0x00DC, 1}, {"Xi", 0x039E, 0}, {"Yacute", 0x00DD, 1},
    {"Yuml", 0x0178, 0}, {"Zeta", 0x0396, 0}, {"aacute", 0x00E1, 1},
    {"acirc", 0x00E2, 1}, {"acute", 0x00B4, 1}, {"aelig", 0x00E6, 1},
    {"agrave", 0x00E0, 1}, {"alefsym", 0x2135, 0}, {"alpha", 0x03B1, 0},
    {"amp", 0x0026, 1}, {"and", 0x2227, 0}, {"ang", 0x2220, 0},
    {"apos", 0x0027, 0}, {"aring", 0x00E5, 1}, {"asymp", 0x2248, 0},
    {"atilde", 0x00E3, 1}, {"auml", 0x00E4, 1}, {"bdquo", 0x201E, 0},
    {"beta", 0x03B2, 0}, {"brvbar", 0x00A6, 1}, {"bull", 0x2022, 0},
    {"cap", 0x2229, 0}, {"ccedil", 0x00E7, 1}, {"cedil", 0x00B8, 1},
    {"cent", 0x00A2, 1}, {"chi", 0x03C7, 0}, {"circ", 0x02C6, 0},
    {"clubs", 0x2663, 0}, {"cong", 0x2245, 0}, {"copy", 0x00A9, 1},
    {"crarr", 0x21B5, 0}, {"cup", 0x222A, 0}, {"curren", 0x00A4, 1},
    {"dArr", 0x21D3, 0}, {"dagger", 0x2020, 0}, {"darr", 0x2193, 0},
    {"deg", 0x00B0, 1}, {"delta", 0x03B4, 0}, {"diams", 0x2666, 0},
    {"divide", 0x00F7, 1}, {"eacute", 0x00E9, 1}, {"ecirc", 0x00EA, 1},
    {"egrave", 0x00E8, 1}, {"empty", 0x2205, 0}, {"emsp", 0x2003, 0},
    {"ensp", 0x2002, 0}, {"epsilon", 0x03B5, 0}, {"equiv", 0x2261, 0},
    {"eta", 0x03B7, 0}, {"eth", 0x00F0, 1}, {"euml", 0x00EB, 1},
    {"euro", 0x20AC, 0}, {"exist", 0x2203, 0}, {"fnof", 0x0192, 0},
    {"forall", 0x2200, 0}, {"frac12", 0x00BD, 1}, {"frac14", 0x00BC, 1},
    {"frac34", 0x00BE, 1}, {"frasl", 0x2044, 0}, {"gamma", 0x03B3, 0},
    {"ge", 0x2265, 0}, {"gt", 0x003E, 1}, {"hArr", 0x21D4, 0},
    {"harr", 0x2194, 0}, {"hearts", 0x2665, 0}, {"hellip", 0x2026, 0},
    {"iacute", 0x00ED, 1}, {"icirc", 0x00EE, 1}, {"iexcl", 0x00A1, 1},
    {"igrave", 0x00EC, 1}, {"image", 0x2111, 0}, {"infin", 0x221E, 0},
    {"int", 0x222B, 0}, {"iota", 0x03B9, 0}, {"iquest", 0x00BF, 1},
    {"isin", 0x2208, 0}, {"iuml", 0x00EF, 1}, {"kappa", 0x03BA, 0},
    {"lArr", 0x21D0, 0}, {"lambda", 0x03BB, 0}, {"lang", 0x2329, 0},
    {"laquo", 0x00AB, 1}, {"larr", 0x2190, 0}, {"lceil", 0x2308, 0},
    {"ldquo", 0x201C, 0}, {"le", 0x2264, 0}, {"lfloor", 0x230A, 0},
    {"lowast", 0x2217, 0}, {"loz", 0x25CA, 0}, {"lrm", 0x200E, 0},
    {"lsaquo", 0x2039, 0}, {"lsquo", 0x2018, 0}, {"lt", 0x003C, 1},
    {"macr", 0x00AF, 1}, {"mdash", 0x2014, 0}, {"micro", 0x00B5, 1},
    {"middot", 0x00B7, 1}, {"minus", 0x2212, 0}, {"mu", 0x03BC, 0},
    {"nabla", 0x2207, 0}, {"nbsp", 0x00A0, 1}, {"ndash", 0x2013, 0},
    {"ne", 0x2260, 0}, {"ni", 0x220B, 0}, {"not", 0x00AC, 1},
    {"notin", 0x2209, 0}, {"nsub", 0x2284, 0}, {"ntilde", 0x00F1, 1},
    {"nu", 0x03BD, 0}, {"oacute", 0x00F3, 1}, {"ocirc", 0x00F4, 1},
    {"oelig", 0x0153, 0}, {"ograve", 0x00F2, 1}, {"oline", 0x203E, 0},
    {"omega", 0x03C9, 0}, {"omicron", 0x03BF, 0}, {"oplus", 0x2295, 0},
    {"or", 0x2228, 0}, {"ordf", 0x00AA, 1}, {"ordm", 0x00BA, 1},
    {"oslash", 0x00F8, 1}, {"otilde", 0x00F5, 1}, {"otimes", 0x2297, 0},
    {"ouml", 0x00F6, 1}, {"para", 0x00B6, 1}, {"part", 0x2202, 0},
    {"permil", 0x2030, 0}, {"perp", 0x22A5, 0}, {"phi", 0x03C6, 0},
    {"pi", 0x03C0, 0}, {"piv", 0x03D6, 0}, {"plusmn", 0x00B1, 1},
    {"pound", 0x00A3, 1}, {"prime", 0x2032, 0}, {"prod", 0x220F, 0},
    {"prop", 0x221D, 0}, {"psi", 0x03C8, 0}, {"quot", 0x0022, 1},
    {"rArr", 0x21D2, 0}, {"radic", 0x221A, 0}, {"rang", 0x232A, 0},
    {"raquo", 0x00BB, 1}, {"rarr", 0x2192, 0}, {"rceil", 0x2309, 0},
    {"rdquo", 0x201D, 0}, {"real", 0x211C, 0}, {"reg", 0x00AE, 1},
    {"rfloor", 0x230B, 0}, {"rho", 0x03C1, 0}, {"rlm", 0x200F, 0},
    {"rsaquo", 0x203A, 0}, {"rsquo", 0x2019, 0}, {"sbquo", 0x201A, 0},
    {"scaron", 0x0161, 0}, {"sdot", 0x22C5, 0}, {"sect", 0x00A7, 1},
    {"shy", 0x00AD, 1}, {"sigma", 0x03C3, 0}, {"sigmaf", 0x03C2, 0},
    {"sim", 0x223C, 0}, {"spades", 0x2660, 0}, {"sub", 0x2282, 0},
    {"sube", 0x2286, 0}, {"sum", 0x2211, 0}, {"sup", 0x2283, 0},
    {"sup1", 0x00B9, 1}, {"sup2", 0x00B2, 1}, {"sup3", 0x00B3, 1},
    {"supe", 0x2287, 0}, {"szlig", 0x00DF, 1}, {"tau", 0x03C4, 0},
    {"there4", 0x2234, 0}, {"theta", 0x03B8, 0}, {"thetasym", 0x03D1, 0},
    {"thinsp", 0x2009, 0}, {"thorn", 0x00FE, 1}, {"tilde", 0x02DC, 0},
    {"times", 0x00D7, 1}, {"trade", 0x2122, 0}, {"uArr", 0x21D1, 0},
    {"uacute", 0x00FA, 1}, {"uarr", 0x2191, 0}, {"ucirc", 0x00FB, 1},
    {"ugrave", 0x00F9, 1}, {"uml", 0x00A8, 1}, {"upsih", 0x03D2, 0},
    {"upsilon", 0x03C5, 0}, {"uuml", 0x00FC, 1}, {"weierp", 0x2118, 0},
    {"xi", 0x03BE, 0}, {"yacute", 0x00FD, 1}, {"yen", 0x00A5, 1},
    {"yuml", 0x00FF, 1}, {"zeta", 0x03B6, 0}, {"zwj", 0x200D, 0},
    {"zwnj", 0x200C, 0},
};
/* clang-format on */

/* A name of at most 8 bytes as an integer whose order is the names' byte
 * order (first byte most significant, zero-padded, so a prefix sorts
 * first): the search compares integers instead of calling strncmp. */
static uint64_t name_key(const char *name)
{
  uint64_t k;
  memcpy(&k, name, sizeof k);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  k = __builtin_bswap64(k);
#endif
  return k;
}

/* s[0..n), n <= ENT_NAME_MAX. */
static const struct entity *entity_find(const char *s, size_t n)
{
  char padded[ENT_NAME_MAX] = {0};
  memcpy(padded, s, n);
  uint64_t key = name_key(padded);
  size_t lo = 0, hi = sizeof entities / sizeof entities[0];
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    uint64_t k = name_key(entities[mid].name);
    if (k == key)
      return &entities[mid];
    if (key < k)
      hi = mid;
    else
      lo = mid + 1;
  }
  return NULL;
}

/* What &#128;..&#159; mean: the spec maps them through windows-1252 because
 * that is what pages written in it meant. 0 = no mapping, keep as is. */
static const uint16_t cp1252[32] = {
    0x20AC, 0,      0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
    0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0,      0x017D, 0,
    0,      0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
    0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0,      0x017E, 0x0178,
};

static int digit_val(unsigned char c, int hex)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (hex && (c | 0x20) >= 'a' && (c | 0x20) <= 'f')
    return (c | 0x20) - 'a' + 10;
  return -1;
}

/* Parses the reference after an '&' at s (s < e). Returns how many bytes
 * after the '&' it spans and sets *cp, or 0 when the '&' stands for itself.
 * attr selects the attribute-value rule for legacy names. */
static size_t charref(const char *s, const char *e, int attr, uint32_t *cp)
{
  const char *p = s;
  if (*p == '#') {
    int hex = 0;
    p++;
    if (p < e && (*p == 'x' || *p == 'X')) {
      hex = 1;
      p++;
    }
    const char *digits = p;
    uint32_t v = 0;
    int d;
    for (; p < e && (d = digit_val((unsigned char)*p, hex)) >= 0; p++)
      v = v > 0x10FFFF ? 0x110000 : v * (hex ? 16 : 10) + (uint32_t)d;
    if (p == digits)
      return 0;
    if (p < e && *p == ';')
      p++;
    if (v == 0 || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
      v = 0xFFFD;
    else if (v >= 0x80 && v <= 0x9F && cp1252[v - 0x80])
      v = cp1252[v - 0x80];
    *cp = v;
    return (size_t)(p - s);
  }
  /* A name longer than any in the table cannot match in full; looking one
   * byte past the longest is enough to know. */
  while (p < e && p - s <= ENT_NAME_MAX && is_alnum((unsigned char)*p))
    p++;
  size_t n = (size_t)(p - s);
  if (n == 0)
    return 0;
  const struct entity *ent;
  /* "&amp;" is most of the references in real hrefs: skip the search. */
  if (n == 3 && p < e && *p == ';' && s[0] == 'a' && s[1] == 'm' &&
      s[2] == 'p') {
    *cp = '&';
    return 4;
  }
  if (n <= ENT_NAME_MAX && p < e && *p == ';' &&
      (ent = entity_find(s, n)) != NULL) {
    *cp = ent->cp;
    return n + 1;
  }
  /* The longest legacy name that prefixes the run, used without ';'. */
  for (size_t k = n < ENT_LEGACY_MAX ? n : ENT_LEGACY_MAX; k >= 2; k--) {
    ent = entity_find(s, k);
    if (!ent || !ent->legacy)
      continue;
    /* In attribute values "&copy=2" or "&copyx" stay literal, so query
     * strings written without escaping survive. */
    if (attr && s + k < e && (is_alnum((unsigned char)s[k]) || s[k] == '='))
      return 0;
    *cp = ent->cp;
    return k;
  }
  return 0;
}

static size_t utf8_put(char *u, uint32_t cp)
{
  if (cp < 0x80) {
    u[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    u[0] = (char)(0xC0 | cp >> 6);
    u[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    u[0] = (char)(0xE0 | cp >> 12);
    u[1] = (char)(0x80 | (cp >> 6 & 0x3F));
    u[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  u[0] = (char)(0xF0 | cp >> 18);
  u[1] = (char)(0x80 | (cp >> 12 & 0x3F));
  u[2] = (char)(0x80 | (cp >> 6 & 0x3F));
  u[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

/* ---- decoding into an output ------------------------------------------ */

/* Appends decoded text to ob. In collapse mode (titles) whitespace runs
 * become one space and leading/trailing whitespace is dropped; else (an
 * attribute value) CR and CRLF become LF as the spec's input preprocessing
 * does. Output stops at limit bytes, which bounds the work on a huge
 * unterminated title. */
struct dec {
  struct obuf *ob;
  size_t limit;
  int collapse;
  int space; /* collapse: a space is owed before the next other byte */
};

static int dec_put(struct dec *d, const char *s, size_t n)
{
  struct obuf *b = d->ob;
  if (d->space) {
    d->space = 0;
    if (ob_reserve(b, 1))
      return -ENOMEM;
    b->p[b->len++] = ' ';
  }
  if (n > d->limit - b->len)
    n = d->limit - b->len;
  if (ob_reserve(b, n))
    return -ENOMEM;
  memcpy(b->p + b->len, s, n);
  b->len += n;
  return 0;
}

static void dec_ws(struct dec *d)
{
  if (d->ob->len)
    d->space = 1;
}

static int dec_cp(struct dec *d, uint32_t cp)
{
  char u[4];
  if (d->collapse && is_ws(cp)) {
    dec_ws(d);
    return 0;
  }
  return dec_put(d, u, utf8_put(u, cp));
}

static int decode(struct dec *d, const char *s, size_t n)
{
  const char *e = s + n;
  int attr = !d->collapse;
  int special = d->collapse ? C_TEXT : C_ATTR;
  while (s < e && d->ob->len < d->limit) {
    const char *r = s;
    while (r < e && !is_class(*r, special))
      r++;
    if (r > s) {
      if (dec_put(d, s, (size_t)(r - s)))
        return -ENOMEM;
      s = r;
      continue;
    }
    char c = *s++;
    int rc;
    if (c == '&') {
      uint32_t cp;
      size_t k = s < e ? charref(s, e, attr, &cp) : 0;
      s += k;
      rc = k ? dec_cp(d, cp) : dec_put(d, "&", 1);
    } else if (c == '\0') {
      rc = dec_put(d, "\xEF\xBF\xBD", 3);
    } else if (c == '\r' && !d->collapse) {
      if (s < e && *s == '\n')
        s++;
      rc = dec_put(d, "\n", 1);
    } else {
      dec_ws(d);
      rc = 0;
    }
    if (rc)
      return rc;
  }
  return 0;
}

/* Appends the decoded, trimmed attribute value v[0..n) to ob and sets *len
 * to the bytes appended (not NUL-terminated). */
static int attr_append(struct obuf *ob, const char *v, size_t n, size_t *len)
{
  size_t start = ob->len;
  struct dec d = {ob, SIZE_MAX, 0, 0};
  if (ob_reserve(ob, n) || decode(&d, v, n))
    return -ENOMEM;
  size_t i = start;
  while (i < ob->len && is_ws((unsigned char)ob->p[i]))
    i++;
  if (i > start) {
    memmove(ob->p + start, ob->p + i, ob->len - i);
    ob->len -= i - start;
  }
  while (ob->len > start && is_ws((unsigned char)ob->p[ob->len - 1]))
    ob->len--;
  *len = ob->len - start;
  return 0;
}

/* ---- the scanner ------------------------------------------------------ */

enum tag_id {
  T_OTHER,
  T_A,
  T_AREA,
  T_LINK,
  T_META,
  T_BASE,
  T_TITLE,
  T_TEXTAREA,
  T_SCRIPT,
  T_RAWTEXT, /* style, xmp, iframe, noembed, noframes */
  T_PLAINTEXT,
};

struct tag_name {
  const char *name;
  unsigned char len;
  unsigned char id;
};

/* Sorted by length, so the lookup of a common short tag (li, td, div)
 * stops after a compare or two. */
static const struct tag_name tag_names[] = {
    {"a", 1, T_A},
    {"xmp", 3, T_RAWTEXT},
    {"area", 4, T_AREA},
    {"link", 4, T_LINK},
    {"meta", 4, T_META},
    {"base", 4, T_BASE},
    {"title", 5, T_TITLE},
    {"style", 5, T_RAWTEXT},
    {"script", 6, T_SCRIPT},
    {"iframe", 6, T_RAWTEXT},
    {"noembed", 7, T_RAWTEXT},
    {"textarea", 8, T_TEXTAREA},
    {"noframes", 8, T_RAWTEXT},
    {"plaintext", 9, T_PLAINTEXT},
};

static const struct tag_name *tag_lookup(const char *s, size_t n)
{
  const size_t count = sizeof tag_names / sizeof tag_names[0];
  for (size_t i = 0; i < count && tag_names[i].len <= n; i++)
    if (tag_names[i].len == n && ieq(s, tag_names[i].name, n))
      return &tag_names[i];
  return NULL;
}

enum attr_id { A_HREF, A_REL, A_NAME, A_CONTENT, A_HTTP_EQUIV, A_COUNT };

static const struct {
  const char *name;
  size_t len;
} attr_names[A_COUNT] = {
    {"href", 4}, {"rel", 3}, {"name", 4}, {"content", 7}, {"http-equiv", 10},
};

/* A raw attribute value: the bytes between the quotes, or the unquoted
 * run, or empty for a valueless attribute. */
struct span {
  const char *p;
  size_t n;
  int set;
};

struct tag {
  struct span a[A_COUNT];
};

/* Runs the tokenizer's attribute states from just after a tag name up to
 * and including the '>'. Returns the byte after it, or NULL when input
 * ends first (the spec then drops the tag). When t is not NULL, records
 * the first occurrence of each attribute of interest: a repeated attribute
 * is dropped, as the spec says. */
static const char *scan_attrs(const char *p, const char *e, struct tag *t)
{
  for (;;) {
    while (p < e && is_class(*p, C_WS))
      p++;
    if (p == e)
      return NULL;
    if (*p == '>')
      return p + 1;
    if (*p == '/') {
      /* Self-closing flag: meaningless for what we extract, and "/x"
       * goes back to the before-attribute-name state anyway. */
      p++;
      continue;
    }
    const char *name = p++; /* the first byte may even be '=' */
    while (p < e && !is_class(*p, C_NAME_END))
      p++;
    size_t nlen = (size_t)(p - name);
    while (p < e && is_class(*p, C_WS))
      p++;
    if (p == e)
      return NULL;
    const char *v = p;
    size_t vlen = 0;
    if (*p == '=') {
      p++;
      while (p < e && is_class(*p, C_WS))
        p++;
      if (p == e)
        return NULL;
      if (*p == '"' || *p == '\'') {
        const char *q = memchr(p + 1, *p, (size_t)(e - p - 1));
        if (!q)
          return NULL;
        v = p + 1;
        vlen = (size_t)(q - v);
        p = q + 1;
      } else {
        v = p;
        while (p < e && !is_class(*p, C_UNQ_END))
          p++;
        vlen = (size_t)(p - v);
      }
    }
    if (!t)
      continue;
    for (int i = 0; i < A_COUNT; i++) {
      if (!t->a[i].set && attr_names[i].len == nlen &&
          ieq(name, attr_names[i].name, nlen)) {
        t->a[i].p = v;
        t->a[i].n = vlen;
        t->a[i].set = 1;
        break;
      }
    }
  }
}

/* Most tags have no attributes ("<li>", "</a>"): finish those without the
 * call. */
static inline const char *tag_end(const char *p, const char *e, struct tag *t)
{
  if (p < e && *p == '>')
    return p + 1;
  return scan_attrs(p, e, t);
}

const char *html_find_close(const char *p, const char *e, const char *name,
                            size_t n)
{
  while (p < e && (p = memchr(p, '<', (size_t)(e - p))) != NULL) {
    if ((size_t)(e - p) > n + 2 && p[1] == '/' && ieq(p + 2, name, n) &&
        is_delim((unsigned char)p[n + 2]))
      return p;
    p++;
  }
  return NULL;
}

/* p starts a run of letters equal to "script" (any case) that ends in
 * whitespace, '/' or '>'. */
static int script_word(const char *p, const char *e)
{
  return e - p > 6 && ieq(p, "script", 6) && is_delim((unsigned char)p[6]);
}

/* The '<' of the "</script" that ends a script element, or NULL.
 *
 * Script data has the spec's escape states: after "<!--", a "<script"
 * starts a double-escaped part in which "</script" does not end the
 * element, so old pages doing document.write("<script>...</script>")
 * inside "<!-- -->" keep working; "-->" leaves the escape. Outside the
 * escapes only '<' matters, so the common case is a memchr loop. */
static const char *script_end(const char *p, const char *e)
{
  for (;;) {
    const char *lt = p < e ? memchr(p, '<', (size_t)(e - p)) : NULL;
    if (!lt)
      return NULL;
    p = lt + 1;
    if (p < e && *p == '/') {
      if (script_word(p + 1, e))
        return lt;
      continue;
    }
    if (!(e - p >= 3 && p[0] == '!' && p[1] == '-' && p[2] == '-'))
      continue;
    p += 3;
    /* Escaped; the two dashes of "<!--" count toward a "-->". */
    int dbl = 0, dashes = 2;
    for (;;) {
      if (p == e)
        return NULL;
      char c = *p;
      if (c == '-') {
        dashes += dashes < 2;
        p++;
        continue;
      }
      if (c == '>' && dashes == 2) {
        p++;
        break; /* back to plain script data */
      }
      dashes = 0;
      if (c != '<') {
        p++;
        continue;
      }
      lt = p++;
      if (p < e && *p == '/') {
        p++;
        if (script_word(p, e)) {
          if (!dbl)
            return lt;
          dbl = 0;
          p += 7;
        }
      } else if (!dbl && script_word(p, e)) {
        dbl = 1;
        p += 7;
      }
      /* Otherwise the bytes at p are reconsumed as escaped text. */
    }
  }
}

/* After "<!--": the byte after the comment's end, or NULL if it runs to
 * the end of input. The spec's comment states end a comment exactly at
 * the first "-->" or "--!>" whose dashes follow the opening "<!--", or
 * right away for "<!-->" and "<!--->". */
const char *html_comment_end(const char *body, const char *e)
{
  if (body < e && *body == '>')
    return body + 1;
  if (e - body >= 2 && body[0] == '-' && body[1] == '>')
    return body + 2;
  const char *p = body;
  while (p < e && (p = memchr(p, '>', (size_t)(e - p))) != NULL) {
    size_t k = (size_t)(p - body);
    if (k >= 2 && p[-1] == '-' && p[-2] == '-')
      return p + 1;
    if (k >= 3 && p[-1] == '!' && p[-2] == '-' && p[-3] == '-')
      return p + 1;
    p++;
  }
  return NULL;
}

struct scan {
  struct html_info *out;
  int want_links;
  int max_links;
  int nstored;
  struct obuf links;
  struct obuf tmp; /* scratch for values that hold references */
};

/* A view of an attribute value decoded, borrowing the input when there is
 * nothing to decode (no '&'; a NUL would become U+FFFD, which compares
 * equal to no ASCII word either way). */
static int attr_view(struct scan *s, const struct span *v, const char **p,
                     size_t *n)
{
  if (!memchr(v->p, '&', v->n)) {
    *p = v->p;
    *n = v->n;
    return 0;
  }
  s->tmp.len = 0;
  if (attr_append(&s->tmp, v->p, v->n, n))
    return -ENOMEM;
  *p = s->tmp.p;
  return 0;
}

static int attr_dup(char **dst, const struct span *v)
{
  struct obuf b = {0};
  size_t n;
  if (attr_append(&b, v->p, v->n, &n)) {
    free(b.p);
    return -ENOMEM;
  }
  b.p[b.len] = '\0';
  *dst = b.p;
  return 0;
}

static int has_token(const char *s, size_t n, const char *tok, size_t tn)
{
  size_t i = 0;
  while (i < n) {
    while (i < n && is_ws((unsigned char)s[i]))
      i++;
    size_t j = i;
    while (j < n && !is_ws((unsigned char)s[j]))
      j++;
    if (j - i == tn && ieq(s + i, tok, tn))
      return 1;
    i = j;
  }
  return 0;
}

static int on_anchor(struct scan *s, const struct span *href)
{
  struct html_info *out = s->out;
  size_t n;
  if (s->want_links && (s->max_links < 0 || s->nstored < s->max_links)) {
    if (attr_append(&s->links, href->p, href->n, &n))
      return -ENOMEM;
    if (n == 0)
      return 0;
    s->links.p[s->links.len++] = '\0'; /* room kept by the invariant */
    s->nstored++;
  } else {
    /* Only counting: a first non-space byte other than '&' is output as
     * is, so the value is non-empty without decoding it. */
    size_t i = 0;
    while (i < href->n && is_ws((unsigned char)href->p[i]))
      i++;
    if (i == href->n)
      return 0;
    if (href->p[i] == '&') {
      const char *p;
      if (attr_view(s, href, &p, &n))
        return -ENOMEM;
      if (n == 0)
        return 0;
    }
  }
  if (out->nlinks < INT_MAX)
    out->nlinks++;
  return 0;
}

/* The URL in the content of a <meta http-equiv=refresh>, as HTML's shared
 * declarative refresh steps find it: a time (digits, then digits and
 * dots), ';' or ',' or white space, then the URL, after an optional
 * "url =" and between optional quotes. 0 when there is none (a refresh
 * of the page itself, or a content that is not a refresh). */
static int refresh_url(const char *p, size_t n, const char **url, size_t *len)
{
  size_t i = 0;
  while (i < n && is_ws((unsigned char)p[i]))
    i++;
  if (i == n || !((p[i] >= '0' && p[i] <= '9') || p[i] == '.'))
    return 0;
  while (i < n && ((p[i] >= '0' && p[i] <= '9') || p[i] == '.'))
    i++;
  if (i < n && p[i] != ';' && p[i] != ',' && !is_ws((unsigned char)p[i]))
    return 0;
  while (i < n && is_ws((unsigned char)p[i]))
    i++;
  if (i < n && (p[i] == ';' || p[i] == ','))
    i++;
  while (i < n && is_ws((unsigned char)p[i]))
    i++;
  if (n - i >= 3 && ieq(p + i, "url", 3)) {
    size_t k = i + 3;
    while (k < n && is_ws((unsigned char)p[k]))
      k++;
    if (k < n && p[k] == '=') {
      for (i = k + 1; i < n && is_ws((unsigned char)p[i]);)
        i++;
    }
  }
  size_t end = n;
  if (i < n && (p[i] == '"' || p[i] == '\'')) {
    const char *q = memchr(p + i + 1, p[i], n - i - 1);
    i++;
    if (q)
      end = (size_t)(q - p);
  }
  while (end > i && is_ws((unsigned char)p[end - 1]))
    end--;
  *url = p + i;
  *len = end - i;
  return end > i;
}

static int on_meta(struct scan *s, const struct tag *t)
{
  struct html_info *out = s->out;
  const struct span *content = &t->a[A_CONTENT];
  const char *p, *u;
  size_t n, un;
  if (!content->set)
    return 0;
  if (!out->meta_robots && t->a[A_NAME].set) {
    if (attr_view(s, &t->a[A_NAME], &p, &n))
      return -ENOMEM;
    if (n == 6 && ieq(p, "robots", 6))
      return attr_dup(&out->meta_robots, content);
  }
  if (!out->refresh && t->a[A_HTTP_EQUIV].set) {
    if (attr_view(s, &t->a[A_HTTP_EQUIV], &p, &n))
      return -ENOMEM;
    if (n != 7 || !ieq(p, "refresh", 7))
      return 0;
    if (attr_view(s, content, &p, &n))
      return -ENOMEM;
    if (refresh_url(p, n, &u, &un) && !(out->refresh = strndup(u, un)))
      return -ENOMEM;
  }
  return 0;
}

static int on_tag(struct scan *s, enum tag_id id, const struct tag *t)
{
  struct html_info *out = s->out;
  const struct span *href = &t->a[A_HREF];
  const char *p;
  size_t n;

  switch (id) {
  case T_A:
  case T_AREA:
    return href->set ? on_anchor(s, href) : 0;
  case T_LINK:
    if (out->canonical || !href->set || !t->a[A_REL].set)
      return 0;
    if (attr_view(s, &t->a[A_REL], &p, &n))
      return -ENOMEM;
    return has_token(p, n, "canonical", 9) ? attr_dup(&out->canonical, href)
                                           : 0;
  case T_META:
    return on_meta(s, t);
  case T_BASE:
    return !out->base_href && href->set ? attr_dup(&out->base_href, href) : 0;
  default:
    return 0;
  }
}

static int set_title(struct scan *s, const char *p, size_t n)
{
  struct obuf b = {0};
  /* One byte past the cap shows whether the cut lands inside a UTF-8
   * sequence. */
  struct dec d = {&b, HTML_TITLE_MAX + 1, 1, 0};
  if (ob_reserve(&b, n < d.limit ? n : d.limit) || decode(&d, p, n)) {
    free(b.p);
    return -ENOMEM;
  }
  if (b.len > HTML_TITLE_MAX) {
    /* Step back to the lead byte of a split sequence; no further than a
     * sequence can be long, whatever the bytes are. */
    size_t cut = HTML_TITLE_MAX;
    while (cut > HTML_TITLE_MAX - 3 &&
           ((unsigned char)b.p[cut] & 0xC0) == 0x80)
      cut--;
    b.len = cut;
    while (b.len && b.p[b.len - 1] == ' ')
      b.len--;
  }
  b.p[b.len] = '\0';
  s->out->title = b.p;
  return 0;
}

/* Skips the text of a RCDATA/RAWTEXT/script element that starts at *pp,
 * and its end tag, capturing the first title's text on the way. Sets *pp
 * to where scanning resumes, NULL when input ends first. Returns 0 or
 * -ENOMEM. */
static int skip_text_element(struct scan *s, const struct tag_name *tn,
                             const char **pp, const char *e)
{
  const char *p = *pp;
  const char *lt;
  if (tn->id == T_SCRIPT) {
    lt = script_end(p, e);
  } else {
    lt = html_find_close(p, e, tn->name, tn->len);
    if (tn->id == T_TITLE && !s->out->title &&
        set_title(s, p, (size_t)((lt ? lt : e) - p)))
      return -ENOMEM;
  }
  /* The end tag is tokenized like any tag: a '>' in a quoted attribute of
   * it does not end it. */
  *pp = lt ? tag_end(lt + 2 + tn->len, e, NULL) : NULL;
  return 0;
}

static int scan(struct scan *s, const char *p, const char *e)
{
  struct tag t;
  const char *q;

  while (p < e) {
    const char *lt = memchr(p, '<', (size_t)(e - p));
    if (!lt || lt + 1 == e)
      return 0;
    p = lt + 1;
    unsigned char c = (unsigned char)*p;
    if (is_alpha(c)) {
      const char *name = p;
      while (p < e && !is_delim((unsigned char)*p))
        p++;
      const struct tag_name *tn = tag_lookup(name, (size_t)(p - name));
      enum tag_id id = tn ? (enum tag_id)tn->id : T_OTHER;
      if (id >= T_A && id <= T_BASE) {
        memset(&t, 0, sizeof t);
        p = tag_end(p, e, &t);
        if (!p)
          return 0;
        if (on_tag(s, id, &t))
          return -ENOMEM;
        continue;
      }
      p = tag_end(p, e, NULL);
      if (!p || id == T_PLAINTEXT) /* plaintext: the rest is text */
        return 0;
      if (id != T_OTHER && skip_text_element(s, tn, &p, e))
        return -ENOMEM;
      if (!p)
        return 0;
    } else if (c == '/') {
      p++;
      if (p == e)
        return 0;
      if (is_alpha((unsigned char)*p)) {
        while (p < e && !is_delim((unsigned char)*p))
          p++;
        p = tag_end(p, e, NULL);
      } else if (*p == '>') {
        p++; /* "</>" is dropped */
      } else {
        q = memchr(p, '>', (size_t)(e - p)); /* bogus comment */
        p = q ? q + 1 : NULL;
      }
      if (!p)
        return 0;
    } else if (c == '!' || c == '?') {
      p++;
      if (c == '!' && e - p >= 2 && p[0] == '-' && p[1] == '-') {
        p = html_comment_end(p + 2, e);
      } else {
        /* Doctype, CDATA outside foreign content, "<?...>" and other
         * "<!...>": all end at the first '>', quotes or not. */
        q = p < e ? memchr(p, '>', (size_t)(e - p)) : NULL;
        p = q ? q + 1 : NULL;
      }
      if (!p)
        return 0;
    }
    /* Anything else: the '<' was text. */
  }
  return 0;
}

void html_info_free(struct html_info *info)
{
  if (!info)
    return;
  free(info->title);
  free(info->canonical);
  free(info->meta_robots);
  free(info->base_href);
  free(info->refresh);
  free(info->links);
  memset(info, 0, sizeof *info);
}

int html_scan(const char *buf, size_t len, int want_links, int max_links,
              struct html_info *out)
{
  struct scan s = {
      .out = out,
      .want_links = want_links,
      .max_links = max_links,
  };
  memset(out, 0, sizeof *out);
  if (!buf || !len)
    return 0;
  int rc = scan(&s, buf, buf + len);
  free(s.tmp.p);
  if (rc) {
    free(s.links.p);
    html_info_free(out);
    return rc;
  }
  if (s.nstored) {
    out->links = s.links.p;
    out->links_len = s.links.len;
  } else {
    free(s.links.p);
  }
  return 0;
}

size_t html_charref(const char *s, const char *e, uint32_t *cp)
{
  return s < e ? charref(s, e, 0, cp) : 0;
}
