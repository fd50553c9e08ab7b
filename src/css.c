/* css: see css.h. A recursive-descent reading of the selector that writes
 * the XPath as it goes. */
#include "css.h"

#include "buf.h"
#include "charset.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A compound selector's XPath text, at [start, end) of the output so far,
 * and the combinator before it (' ', '>', '+', '~'; 0 for the first). */
struct part {
  char comb;
  size_t start, end;
  /* Its first :nth-child(An+B) with A != 0, at [anb_start, anb_end)
   * (anb_end == 0: none), which as the last compound becomes a step. */
  size_t anb_start, anb_end;
  long a, b;
};

/* One selector of a group: its compounds left to right, and where its
 * ::text or ::attr() suffix is (start == end: none). */
struct sel {
  int n;
  struct part part[CSS_MAX_COMPOUNDS];
  size_t suffix_start, suffix_end;
};

struct rd {
  struct buf val; /* the value being read, escapes decoded */
  /* The first :nth-child(An+B) with A != 0 of the compound being read. */
  int anb_set;
  size_t anb_start, anb_end;
  long anb_a, anb_b;
  const char *p;
  struct buf out;
  int nomem;
  char *err;
  size_t errlen;
  int failed;
};

static void fail(struct rd *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void fail(struct rd *r, const char *fmt, ...)
{
  if (r->failed)
    return;
  r->failed = 1;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->err, r->errlen, fmt, ap);
  va_end(ap);
}

static void put(struct rd *r, const char *s)
{
  if (buf_puts(&r->out, s))
    r->nomem = 1;
}

static void putn(struct rd *r, const char *s, size_t n)
{
  if (buf_append(&r->out, s, n))
    r->nomem = 1;
}

static int is_ws(char c)
{
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

static void skip_ws(struct rd *r)
{
  while (is_ws(*r->p))
    r->p++;
}

static int name_start(unsigned char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int name_char(unsigned char c)
{
  return name_start(c) || (c >= '0' && c <= '9') || c == '-';
}

/* A name that goes into the XPath as a name (element, attribute): ASCII,
 * starting with a letter or '_', written lower-case (HTML's names are). */
static size_t name(struct rd *r, const char *what)
{
  size_t n = 0;
  if (!name_start((unsigned char)*r->p)) {
    fail(r, "expected %s at '%.20s'", what, r->p);
    return 0;
  }
  while (name_char((unsigned char)r->p[n]))
    n++;
  for (size_t i = 0; i < n; i++) {
    char c = r->p[i];
    putn(r, &(char){c >= 'A' && c <= 'Z' ? (char)(c + 32) : c}, 1);
  }
  r->p += n;
  return n;
}

/* s[0..n) as an XPath string literal. */
static void literal(struct rd *r, const char *s, size_t n)
{
  int sq = memchr(s, '\'', n) != NULL, dq = memchr(s, '"', n) != NULL;
  if (!sq || !dq) {
    const char *q = sq ? "\"" : "'";
    put(r, q);
    putn(r, s, n);
    put(r, q);
    return;
  }
  /* Both quotes: concat('a', "'", 'b', ...). */
  put(r, "concat(''");
  size_t i = 0;
  while (i < n) {
    size_t j = i;
    while (j < n && s[j] != '\'')
      j++;
    if (j > i) {
      put(r, ",'");
      putn(r, s + i, j - i);
      put(r, "'");
    }
    if (j < n)
      put(r, ",\"'\"");
    i = j + 1;
  }
  put(r, ")");
}

static void val_put(struct rd *r, const char *s, size_t n)
{
  if (buf_append(&r->val, s, n))
    r->nomem = 1;
}

static int hex_digit(char c)
{
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
         (c >= 'A' && c <= 'F');
}

/* Code point cp as UTF-8 into the value; U+FFFD for 0, a surrogate or
 * past U+10FFFF, as CSS Syntax says. */
static void val_cp(struct rd *r, unsigned long cp)
{
  char u[4];
  if (cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
    cp = 0xFFFD;
  if (cp < 0x80) {
    u[0] = (char)cp;
    val_put(r, u, 1);
  } else if (cp < 0x800) {
    u[0] = (char)(0xC0 | (cp >> 6));
    u[1] = (char)(0x80 | (cp & 0x3F));
    val_put(r, u, 2);
  } else if (cp < 0x10000) {
    u[0] = (char)(0xE0 | (cp >> 12));
    u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    u[2] = (char)(0x80 | (cp & 0x3F));
    val_put(r, u, 3);
  } else {
    u[0] = (char)(0xF0 | (cp >> 18));
    u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    u[3] = (char)(0x80 | (cp & 0x3F));
    val_put(r, u, 4);
  }
}

/* The escape at r->p (its '\' just read) into the value: 1 to 6 hex
 * digits and one white space after them, or the character itself
 * (".md\:flex", "#a\.b", ".\31 0"). -1 for a '\' at the end or before a
 * line break, which CSS does not take as an escape. */
static int escape(struct rd *r)
{
  if (*r->p == '\0' || *r->p == '\n' || *r->p == '\r' || *r->p == '\f') {
    fail(r, "a '\\' escapes nothing at '%.20s'", r->p - 1);
    return -1;
  }
  if (hex_digit(*r->p)) {
    unsigned long cp = 0;
    for (int i = 0; i < 6 && hex_digit(*r->p); i++, r->p++)
      cp = cp * 16 + (unsigned long)(*r->p <= '9'   ? *r->p - '0'
                                     : *r->p <= 'F' ? *r->p - 'A' + 10
                                                    : *r->p - 'a' + 10);
    if (r->p[0] == '\r' && r->p[1] == '\n')
      r->p += 2;
    else if (is_ws(*r->p))
      r->p++;
    val_cp(r, cp);
    return 0;
  }
  /* The character as it is: a UTF-8 sequence's bytes all go. */
  size_t n = 1;
  while (((unsigned char)r->p[n] & 0xC0) == 0x80 && n < 4)
    n++;
  val_put(r, r->p, n);
  r->p += n;
  return 0;
}

/* An identifier for a value (id, class) into r->val: name characters,
 * bytes from 0x80 (UTF-8) and escapes. 1 when there was one, 0 when not,
 * -1 on a bad escape. */
static int ident_value(struct rd *r)
{
  buf_reset(&r->val);
  const char *start = r->p;
  /* CSS: no digit first, nor after a first '-' (escape it: "\\31 0"). */
  const char *d = r->p + (*r->p == '-');
  if (*d >= '0' && *d <= '9') {
    fail(r, "a name cannot start with a digit at '%.20s' (escape it)", r->p);
    return -1;
  }
  for (;;) {
    if (name_char((unsigned char)*r->p) || (unsigned char)*r->p >= 0x80) {
      val_put(r, r->p++, 1);
    } else if (*r->p == '\\') {
      r->p++;
      if (escape(r))
        return -1;
    } else {
      break;
    }
  }
  return r->p > start;
}

/* A value into r->val: an identifier or a quoted string (escapes as in an
 * identifier; '\' and a line break go on to the next line). */
static int value_read(struct rd *r)
{
  char q = *r->p;
  if (q == '"' || q == '\'') {
    buf_reset(&r->val);
    const char *open = r->p++;
    while (*r->p != q) {
      if (*r->p == '\0' || *r->p == '\n' || *r->p == '\r' || *r->p == '\f') {
        fail(r, "unterminated string at '%.20s'", open);
        return -1;
      }
      if (*r->p != '\\') {
        val_put(r, r->p++, 1);
        continue;
      }
      r->p++;
      if (r->p[0] == '\r' && r->p[1] == '\n')
        r->p += 2;
      else if (*r->p == '\n' || *r->p == '\r' || *r->p == '\f')
        r->p++;
      else if (*r->p == '\0') {
        fail(r, "unterminated string at '%.20s'", open);
        return -1;
      } else if (escape(r))
        return -1;
    }
    r->p++;
    return 0;
  }
  int rc = ident_value(r);
  if (rc == 0)
    fail(r, "expected a value at '%.20s'", r->p);
  return rc == 1 ? 0 : -1;
}

/* Whether s[0..n) may stand in an XPath string literal: XML characters
 * only (valid UTF-8; no C0 controls but tab, LF and CR; not U+FFFE or
 * U+FFFF). */
static int xml_chars(const char *s, size_t n)
{
  if (!charset_is_utf8(s, n))
    return 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
      return 0;
    if (c == 0xEF && i + 2 < n && (unsigned char)s[i + 1] == 0xBF &&
        ((unsigned char)s[i + 2] == 0xBE || (unsigned char)s[i + 2] == 0xBF))
      return 0;
  }
  return 1;
}

/* A value: an identifier or a quoted string, of XML characters; *v is
 * r->val's, good until the next value. */
static int value(struct rd *r, const char **v, size_t *n)
{
  if (value_read(r) || r->nomem)
    return -1;
  *v = r->val.data ? r->val.data : "";
  *n = r->val.len;
  if (!xml_chars(*v, *n)) {
    fail(r, "a value with control characters or bytes that are not UTF-8");
    return -1;
  }
  return 0;
}

/* "contains(concat(' ', normalize-space(@A), ' '), ' V ')" for @A given
 * as its XPath text a[0..an). */
static void has_word(struct rd *r, const char *a, size_t an, const char *v,
                     size_t vn)
{
  /* The Selectors spec: an empty word, or one with white space in it
   * (".a\\ b", [class~="a b"]), matches nothing. */
  if (!vn || memchr(v, ' ', vn) || memchr(v, '\t', vn) ||
      memchr(v, '\n', vn) || memchr(v, '\r', vn) || memchr(v, '\f', vn)) {
    put(r, "false()");
    return;
  }
  put(r, "contains(concat(' ',normalize-space(");
  putn(r, a, an);
  put(r, "),' '),");
  char *w = malloc(vn + 3);
  if (!w) {
    r->nomem = 1;
    return;
  }
  w[0] = ' ';
  memcpy(w + 1, v, vn);
  w[vn + 1] = ' ';
  literal(r, w, vn + 2);
  free(w);
  put(r, ")");
}

/* [attr OP value], from just after '['. */
static void attribute(struct rd *r)
{
  char a[80];
  skip_ws(r);
  size_t start = r->out.len;
  put(r, "@");
  if (!name(r, "an attribute name") || r->out.len - start >= sizeof(a)) {
    fail(r, "attribute name too long");
    return;
  }
  size_t an = r->out.len - start;
  memcpy(a, r->out.data + start, an);
  r->out.len = start; /* written below as the operator needs it */
  skip_ws(r);
  char op = 0;
  if (*r->p == ']') {
    r->p++;
    putn(r, a, an);
    return;
  }
  if (*r->p == '=') {
    op = '=';
    r->p++;
  } else if (strchr("~|^$*", *r->p) && *r->p && r->p[1] == '=') {
    op = *r->p;
    r->p += 2;
  } else {
    {
      fail(r, "expected ], = or an operator at '%.20s'", r->p);
      return;
    }
  }
  skip_ws(r);
  const char *v;
  size_t vn;
  if (value(r, &v, &vn))
    return;
  skip_ws(r);
  if (*r->p != ']') {
    fail(r, "expected ] at '%.20s'", r->p);
    return;
  }
  r->p++;
  switch (op) {
  case '=':
    putn(r, a, an);
    put(r, "=");
    literal(r, v, vn);
    break;
  case '~':
    has_word(r, a, an, v, vn);
    break;
  case '|':
    putn(r, a, an);
    put(r, "=");
    literal(r, v, vn);
    put(r, " or starts-with(");
    putn(r, a, an);
    put(r, ",concat(");
    literal(r, v, vn);
    put(r, ",'-'))");
    break;
  case '^':
    put(r, "starts-with(");
    putn(r, a, an);
    put(r, ",");
    literal(r, v, vn);
    put(r, ")");
    break;
  case '$':
    put(r, "substring(");
    putn(r, a, an);
    put(r, ",string-length(");
    putn(r, a, an);
    put(r, ")-string-length(");
    literal(r, v, vn);
    put(r, ")+1)=");
    literal(r, v, vn);
    break;
  default: /* '*' */
    put(r, "contains(");
    putn(r, a, an);
    put(r, ",");
    literal(r, v, vn);
    put(r, ")");
    break;
  }
  /* The Selectors spec: an empty value never matches ^= $= *=. */
  if (!vn && (op == '^' || op == '$' || op == '*'))
    put(r, " and false()");
}

static void simple_pred(struct rd *r, int in_not);

/* A signed decimal of at most 7 digits at r->p; 0, or -1 (no digits). */
static int small_int(struct rd *r, long *v)
{
  int neg = 0;
  if (*r->p == '+' || *r->p == '-')
    neg = *r->p++ == '-';
  if (*r->p < '0' || *r->p > '9')
    return -1;
  long n = 0;
  for (int d = 0; *r->p >= '0' && *r->p <= '9'; d++, r->p++) {
    if (d == 7)
      return -1;
    n = n * 10 + (*r->p - '0');
  }
  *v = neg ? -n : n;
  return 0;
}

/* The argument of :nth-child() up to its ')': odd, even, B, or An+B with
 * A as '', '+', '-' or a number ("-n+3", "2n - 1"), as CSS Syntax reads
 * it; numbers of at most 7 digits. */
static int an_plus_b(struct rd *r, long *a, long *b)
{
  static const char want[] =
      ":nth-child wants odd, even, B or An+B (\"2n+1\", \"-n+3\")";
  skip_ws(r);
  *a = 0;
  *b = 0;
  if (!strncasecmp(r->p, "odd", 3) && !name_char((unsigned char)r->p[3])) {
    r->p += 3;
    *a = 2;
    *b = 1;
  } else if (!strncasecmp(r->p, "even", 4) &&
             !name_char((unsigned char)r->p[4])) {
    r->p += 4;
    *a = 2;
  } else {
    const char *start = r->p;
    long v = 1;
    int sign = 0, digits;
    if (*r->p == '+' || *r->p == '-')
      sign = *r->p == '-' ? -1 : 1;
    digits = r->p[sign != 0] >= '0' && r->p[sign != 0] <= '9';
    if (digits) {
      if (small_int(r, &v)) {
        fail(r, "%s", want);
        return -1;
      }
    } else if (sign) {
      r->p++;
      v = sign;
    }
    if (*r->p == 'n' || *r->p == 'N') {
      r->p++;
      *a = v;
      const char *before = r->p;
      skip_ws(r);
      if (*r->p == '+' || *r->p == '-') {
        int neg = *r->p++ == '-';
        skip_ws(r);
        if (*r->p == '+' || *r->p == '-' || small_int(r, b)) {
          fail(r, "%s", want);
          return -1;
        }
        if (neg)
          *b = -*b;
      } else {
        r->p = before;
      }
    } else if (digits) {
      *b = v;
    } else {
      r->p = start;
      fail(r, "%s", want);
      return -1;
    }
  }
  skip_ws(r);
  if (*r->p != ')') {
    fail(r, "%s", want);
    return -1;
  }
  r->p++;
  return 0;
}

/* The test that index pos (an XPath expression, from 1) is A*n+B for some
 * n >= 0, A != 0: on B's side of it (at or after B when A > 0, at or
 * before when A < 0), and B plus a multiple of |A| away; m dividing the
 * difference either way, XPath's truncating mod is 0 for both signs. */
static void an_b_test(struct rd *r, long a, long b, const char *pos)
{
  char buf[224];
  size_t n = 0;
  long m = a > 0 ? a : -a;
  if (a > 0 && b > 1)
    n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s>=%ld", pos, b);
  else if (a < 0)
    n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s<=%ld", pos, b);
  if (m > 1) {
    if (n)
      n += (size_t)snprintf(buf + n, sizeof(buf) - n, " and ");
    if (b)
      n += (size_t)snprintf(buf + n, sizeof(buf) - n, "(%s%c%ld) mod %ld=0",
                            pos, b > 0 ? '-' : '+', b > 0 ? b : -b, m);
    else
      n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s mod %ld=0", pos, m);
  }
  put(r, n ? buf : "true()");
}

/* :pseudo-class, from just after ':'. */
static void pseudo(struct rd *r, int in_not)
{
  static const struct {
    const char *name, *xpath;
  } fixed[] = {
      /* Positional forms: libxml2 stops at the first sibling. */
      {"first-child", "not(preceding-sibling::*[1])"},
      {"last-child", "not(following-sibling::*[1])"},
      {"only-child",
       "not(preceding-sibling::*[1]) and not(following-sibling::*[1])"},
  };
  for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
    size_t n = strlen(fixed[i].name);
    if (!strncasecmp(r->p, fixed[i].name, n) &&
        !name_char((unsigned char)r->p[n])) {
      r->p += n;
      put(r, fixed[i].xpath);
      return;
    }
  }
  if (!strncasecmp(r->p, "nth-child(", 10)) {
    r->p += 10;
    long a, b;
    if (an_plus_b(r, &a, &b))
      return;
    if (a == 0) {
      char buf[96];
      /* The b-1th sibling back exists and the bth does not: no count() of
       * a whole axis. */
      if (b < 1)
        snprintf(buf, sizeof(buf), "false()");
      else if (b == 1)
        snprintf(buf, sizeof(buf), "not(preceding-sibling::*[1])");
      else
        snprintf(
            buf, sizeof(buf),
            "preceding-sibling::*[%ld] and not(preceding-sibling::*[%ld])",
            b - 1, b);
      put(r, buf);
      return;
    }
    /* Counting the earlier siblings: quadratic on a long list, but as the
     * last compound of a selector this becomes position() on a step
     * (compound() notes where its predicate ends). */
    if (!in_not && !r->anb_set) {
      r->anb_set = 1;
      r->anb_start = r->out.len - 1; /* the '[' compound() put */
      r->anb_a = a;
      r->anb_b = b;
    }
    an_b_test(r, a, b, "(count(preceding-sibling::*)+1)");
    return;
  }
  if (!strncasecmp(r->p, "not(", 4) && !in_not) {
    r->p += 4;
    skip_ws(r);
    put(r, "not(");
    simple_pred(r, 1);
    skip_ws(r);
    if (*r->p != ')') {
      fail(r, ":not() takes one simple selector");
      return;
    }
    r->p++;
    put(r, ")");
    return;
  }
  fail(r, "unsupported pseudo-class ':%.20s'", r->p);
}

/* One simple selector other than a type, as a predicate's expression
 * (no brackets); in :not() a type selector too (as self::NAME). */
static void simple_pred(struct rd *r, int in_not)
{
  const char *v;
  size_t vn;
  char c = *r->p;
  if (c == '#' || c == '.') {
    r->p++;
    int rc = ident_value(r);
    if (rc < 0 || r->nomem)
      return;
    if (!rc) {
      fail(r, "expected a name after '%c'", c);
      return;
    }
    v = r->val.data;
    vn = r->val.len;
    if (!xml_chars(v, vn)) {
      fail(r, "a name with control characters or bytes that are not UTF-8");
      return;
    }
    if (c == '#') {
      put(r, "@id=");
      literal(r, v, vn);
    } else {
      has_word(r, "@class", 6, v, vn);
    }
  } else if (c == '[') {
    r->p++;
    attribute(r);
  } else if (c == ':' && r->p[1] != ':') {
    r->p++;
    pseudo(r, in_not);
  } else if (in_not && (name_start((unsigned char)c) || c == '*')) {
    if (c == '*') {
      r->p++;
      put(r, "self::*");
    } else {
      put(r, "self::");
      name(r, "an element name");
    }
  } else {
    fail(r, "expected a selector at '%.20s'", r->p);
  }
}

/* A compound selector: the node test, then its predicates. */
static void compound(struct rd *r)
{
  int any = 0;
  if (*r->p == '*') {
    r->p++;
    put(r, "*");
    any = 1;
  } else if (name_start((unsigned char)*r->p)) {
    name(r, "an element name");
    any = 1;
  } else {
    put(r, "*");
  }
  while (!r->failed && (*r->p == '#' || *r->p == '.' || *r->p == '[' ||
                        (*r->p == ':' && r->p[1] != ':'))) {
    int had = r->anb_set;
    put(r, "[");
    simple_pred(r, 0);
    put(r, "]");
    if (!had && r->anb_set)
      r->anb_end = r->out.len;
    any = 1;
  }
  if (!any && !r->failed)
    fail(r, "expected a selector at '%.20s'", r->p);
}

/* One selector of a group, up to ',' or the end, read left to right: each
 * compound's XPath text goes to r->out and its span and the combinator
 * before it to sel->part; a final ::text or ::attr() to sel->suffix. */
static void selector(struct rd *r, struct sel *sel)
{
  skip_ws(r);
  char comb = 0;
  for (;;) {
    if (sel->n == CSS_MAX_COMPOUNDS) {
      fail(r, "more than %d compound selectors in one selector",
           CSS_MAX_COMPOUNDS);
      return;
    }
    struct part *p = &sel->part[sel->n++];
    p->comb = comb;
    p->start = r->out.len;
    r->anb_set = 0;
    r->anb_end = 0;
    compound(r);
    p->end = r->out.len;
    p->anb_end = r->anb_end;
    p->anb_start = r->anb_start;
    p->a = r->anb_a;
    p->b = r->anb_b;
    if (r->failed)
      return;
    const char *before = r->p;
    skip_ws(r);
    char c = *r->p;
    if (c == '\0' || c == ',')
      return;
    if (c == ':' && r->p[1] == ':') {
      r->p += 2;
      sel->suffix_start = r->out.len;
      if (!strncasecmp(r->p, "text", 4) &&
          !name_char((unsigned char)r->p[4])) {
        r->p += 4;
        put(r, "/text()");
      } else if (!strncasecmp(r->p, "attr(", 5)) {
        r->p += 5;
        skip_ws(r);
        put(r, "/@");
        if (!name(r, "an attribute name in ::attr()"))
          return;
        skip_ws(r);
        if (*r->p != ')') {
          fail(r, "::attr() takes one attribute name");
          return;
        }
        r->p++;
      } else {
        fail(r, "unsupported pseudo-element '::%.20s'", r->p);
        return;
      }
      sel->suffix_end = r->out.len;
      skip_ws(r);
      if (*r->p != '\0' && *r->p != ',')
        fail(r, "a pseudo-element ends its selector");
      return;
    }
    if (c == '>' || c == '+' || c == '~') {
      r->p++;
      skip_ws(r);
      comb = c;
    } else if (r->p > before) {
      comb = ' ';
    } else {
      fail(r, "unexpected '%.20s'", r->p);
      return;
    }
  }
}

static void condition(struct rd *r, const struct buf *src,
                      const struct sel *sel, int i);

static void compound_text(struct rd *r, const struct buf *src,
                          const struct sel *sel, int i)
{
  putn(r, src->data + sel->part[i].start,
       sel->part[i].end - sel->part[i].start);
}

static int sibling(char comb)
{
  return comb == '+' || comb == '~';
}

static void siblings(struct rd *r, const struct buf *src,
                     const struct sel *sel, int i);

/* The predicate that compound i's earlier siblings in its run of '+' and
 * '~' come before it (i is not the first of its run). '+': the [1] alone
 * on its step, where libxml2 stops at the first sibling ("*[1][self::X]"
 * would collect every earlier one). '~': every earlier sibling is
 * collected when X has predicates, so a very long list of them runs into
 * the budget. */
static void sibling_pred(struct rd *r, const struct buf *src,
                         const struct sel *sel, int i)
{
  put(r, sel->part[i].comb == '+' ? "[preceding-sibling::*[1]/self::"
                                  : "[preceding-sibling::");
  siblings(r, src, sel, i - 1);
  put(r, "]");
}

/* Compound i, and the earlier siblings that must come before it in its run
 * of '+' and '~'. */
static void siblings(struct rd *r, const struct buf *src,
                     const struct sel *sel, int i)
{
  compound_text(r, src, sel, i);
  if (i > 0 && sibling(sel->part[i].comb))
    sibling_pred(r, src, sel, i);
}

/* The predicates for what must hold to the left of compound i of sel.
 * Siblings share their parent and ancestors, so what the first of a run
 * of '+' and '~' needs above it is tested once, on the run's last
 * element, not again on each earlier sibling. */
static void context(struct rd *r, const struct buf *src, const struct sel *sel,
                    int i)
{
  if (i == 0)
    return;
  if (sibling(sel->part[i].comb)) {
    sibling_pred(r, src, sel, i);
    while (i > 0 && sibling(sel->part[i].comb))
      i--;
    if (i == 0)
      return;
  }
  int ancestor = sel->part[i].comb == ' ';
  put(r, ancestor ? "[ancestor::" : "[parent::");
  size_t at = r->out.len;
  condition(r, src, sel, i - 1);
  /* With conditions on it, libxml2 would test them on every ancestor
   * (depth times depth, again for each level of the selector); [1] after
   * them stops at the nearest that passes. */
  if (ancestor && !r->nomem && memchr(r->out.data + at, '[', r->out.len - at))
    put(r, "[1]");
  put(r, "]");
}

/* Compound i of sel with what must hold to its left, as a node test and
 * predicates: the selector matched right to left, as browsers do. Each
 * element is tested once, by walking its ancestors or its earlier
 * siblings, and the walk is counted in libxml2's operation budget; the
 * left-to-right path (ul/descendant::li) would merge one overlapping node
 * set per ancestor, work libxml2 does not count (200 nested <div> over
 * 5,000 <li>: 1.6 s for "div li", against 1 ms). */
static void condition(struct rd *r, const struct buf *src,
                      const struct sel *sel, int i)
{
  compound_text(r, src, sel, i);
  context(r, src, sel, i);
}

char *css_to_xpath(const char *selector_text, char *err, size_t errlen)
{
  struct rd r = {.p = selector_text, .err = err, .errlen = errlen};
  struct sel *sels = NULL;
  int n = 0;
  for (;;) {
    if (n == CSS_MAX_SELECTORS) {
      fail(&r, "more than %d selectors in a group", CSS_MAX_SELECTORS);
      break;
    }
    struct sel *more = realloc(sels, (size_t)(n + 1) * sizeof(*sels));
    if (!more) {
      r.nomem = 1;
      break;
    }
    sels = more;
    sels[n] = (struct sel){0};
    selector(&r, &sels[n++]);
    if (r.failed || *r.p != ',')
      break;
    r.p++;
  }
  if (!r.failed && !r.nomem && *r.p != '\0')
    fail(&r, "unexpected '%.20s'", r.p);
  /* A group is one step with its selectors or'ed: a union of paths would
   * merge node sets, quadratic work outside the budget. So they all end
   * the same way. */
  struct buf src = r.out;
  const char *suffix = "";
  size_t suffix_len = 0;
  for (int i = 0; !r.failed && i < n; i++) {
    size_t len = sels[i].suffix_end - sels[i].suffix_start;
    const char *s = src.data ? src.data + sels[i].suffix_start : "";
    if (i == 0) {
      suffix = s;
      suffix_len = len;
    } else if (len != suffix_len || memcmp(s, suffix, len)) {
      fail(&r, "the selectors of a group must all end alike (::text, the "
               "same ::attr() or neither)");
    }
  }
  r.out = (struct buf){0};
  if (!r.failed && !r.nomem) {
    const struct sel *one = &sels[0];
    const struct part *last = &one->part[one->n - 1];
    if (n == 1 && last->anb_end) {
      /* :nth-child(An+B) on the last compound: every element's children
       * as a step, where position() is the index among its siblings, and
       * the rest as before. Counting each element's earlier siblings
       * instead would be quadratic on a long list (5,000 table rows run
       * into the budget; this is linear). node(): the root element is a
       * child of the document. */
      put(&r, "descendant-or-self::node()/*[");
      an_b_test(&r, last->a, last->b, "position()");
      put(&r, "][self::");
      putn(&r, src.data + last->start, last->anb_start - last->start);
      putn(&r, src.data + last->anb_end, last->end - last->anb_end);
      context(&r, &src, one, one->n - 1);
      put(&r, "]");
    } else if (n == 1) {
      put(&r, "descendant-or-self::");
      condition(&r, &src, &sels[0], sels[0].n - 1);
    } else {
      put(&r, "descendant-or-self::*[");
      for (int i = 0; i < n; i++) {
        put(&r, i ? " or self::" : "self::");
        condition(&r, &src, &sels[i], sels[i].n - 1);
      }
      put(&r, "]");
    }
    putn(&r, suffix, suffix_len);
  }
  buf_free(&src);
  buf_free(&r.val);
  free(sels);
  if (!r.failed && r.nomem)
    fail(&r, "out of memory");
  if (r.failed) {
    buf_free(&r.out);
    return NULL;
  }
  return buf_steal(&r.out);
}
