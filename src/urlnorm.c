#include "urlnorm.h"

#include "buf.h"
#include "result.h"
#include "url.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <locale.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *const urlnorm_default_strip[] = {
    "utm_*", "fbclid", "gclid", "jsessionid", "phpsessid", "sid", NULL};

/* How many times a result is normalised again before it is declared
 * unsettled. Every rule below is idempotent on its own; what can need a
 * second pass is an interplay ("%2E%2E" decodes to a dot segment that
 * only curl's next parse removes, curl's "%325" host quirk). */
#define SETTLE_ROUNDS 4

/* The first parse keeps dot segments: RFC 3986 §6.2.2 decodes "%2E"
 * before §5.2.4 removes dot segments, so "/a/%2E%2E/.." is "/" (not
 * "/a/", what removing first would give). The next parse, in settle(),
 * removes them. */
#define FIRST_PARSE (CURLU_NON_SUPPORT_SCHEME | CURLU_PATH_AS_IS)

struct norm {
  int sort_query;
  const char *const *strip;
  size_t max_len;
};

enum part { PART_USER, PART_PASSWORD, PART_PATH, PART_QUERY };

static void norm_init(struct norm *n, const struct urlnorm_options *opt)
{
  n->sort_query = opt ? opt->sort_query : 0;
  n->strip =
      opt && opt->strip_params ? opt->strip_params : urlnorm_default_strip;
  n->max_len = opt && opt->max_len ? opt->max_len : URL_MAX_LEN_DEFAULT;
}

static int is_unreserved(int c)
{
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
         (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
         c == '~';
}

/* What RFC 3986 allows unencoded in each part (§3.2.1, §3.3, §3.4). The
 * user name loses ':' because it ends the user name. */
static int allowed_raw(int c, enum part p)
{
  if (is_unreserved(c))
    return 1;
  if (c != 0 && strchr("!$&'()*+,;=", c))
    return 1;
  switch (p) {
  case PART_USER:
    return 0;
  case PART_PASSWORD:
    return c == ':';
  case PART_PATH:
    return c == ':' || c == '@' || c == '/';
  case PART_QUERY:
    return c == ':' || c == '@' || c == '/' || c == '?';
  }
  return 0;
}

static int hexval(int c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

static int put_escape(struct buf *b, unsigned char c)
{
  static const char hex[] = "0123456789ABCDEF";
  char e[3] = {'%', hex[c >> 4], hex[c & 15]};
  return buf_append(b, e, 3);
}

/* Appends s in its RFC 3986 §6.2.2 canonical encoding for part p. */
static int pct_normalize(struct buf *b, const char *s, enum part p)
{
  for (const unsigned char *q = (const unsigned char *)s; *q; q++) {
    int rc;
    if (*q == '%' && hexval(q[1]) >= 0 && hexval(q[2]) >= 0) {
      unsigned char v = (unsigned char)(hexval(q[1]) * 16 + hexval(q[2]));
      rc = is_unreserved(v) ? buf_putc(b, (char)v) : put_escape(b, v);
      q += 2;
    } else if (allowed_raw(*q, p)) {
      rc = buf_putc(b, (char)*q);
    } else {
      rc = put_escape(b, *q); /* also a '%' that starts no escape */
    }
    if (rc)
      return rc;
  }
  return 0;
}

static int strip_match(const char *name, size_t n, const char *const *list)
{
  for (; *list; list++) {
    size_t len = strlen(*list);
    if (len && (*list)[len - 1] == '*') {
      if (n >= len - 1 && strncasecmp(name, *list, len - 1) == 0)
        return 1;
    } else if (n == len && strncasecmp(name, *list, n) == 0) {
      return 1;
    }
  }
  return 0;
}

static size_t name_len(const char *p, size_t n)
{
  const char *eq = memchr(p, '=', n);
  return eq ? (size_t)(eq - p) : n;
}

/* Appends path without the ";name=value" parameters strip matches. */
static int strip_path_params(struct buf *b, const char *path,
                             const struct norm *n)
{
  const char *p = path;
  while (*p) {
    size_t seg = strcspn(p, "/");
    const char *end = p + seg;
    /* The first piece of a segment is its name, never a parameter. */
    size_t first = strcspn(p, ";");
    if (first > seg)
      first = seg;
    if (buf_append(b, p, first))
      return -ENOMEM;
    const char *q = p + first;
    while (q < end) {
      const char *param = q + 1; /* past ';' */
      size_t len = (size_t)(end - param);
      const char *semi = memchr(param, ';', len);
      if (semi)
        len = (size_t)(semi - param);
      if (!strip_match(param, name_len(param, len), n->strip) &&
          buf_append(b, q, len + 1))
        return -ENOMEM;
      q = param + len;
    }
    p = end;
    if (*p == '/') {
      if (buf_putc(b, '/'))
        return -ENOMEM;
      p++;
    }
  }
  return 0;
}

struct param {
  const char *p;
  size_t len, name, idx;
};

static int param_cmp(const void *a, const void *b)
{
  const struct param *x = a, *y = b;
  size_t n = x->name < y->name ? x->name : y->name;
  int c = memcmp(x->p, y->p, n);
  if (c)
    return c;
  if (x->name != y->name)
    return x->name < y->name ? -1 : 1;
  return x->idx < y->idx ? -1 : (x->idx > y->idx); /* stable */
}

/* Appends the parameters of the (normalised) query q that survive strip,
 * '&'-joined, sorted if asked. */
static int filter_query(struct buf *b, const char *q, const struct norm *n)
{
  size_t cap = 1, count = 0;
  for (const char *s = q; *s; s++)
    cap += *s == '&';
  struct param *ps = malloc(cap * sizeof(*ps));
  if (!ps)
    return -ENOMEM;
  for (const char *s = q;;) {
    size_t len = strcspn(s, "&");
    size_t nm = name_len(s, len);
    if (len && !strip_match(s, nm, n->strip)) {
      ps[count] = (struct param){s, len, nm, count};
      count++;
    }
    if (!s[len])
      break;
    s += len + 1;
  }
  if (n->sort_query && count > 1)
    qsort(ps, count, sizeof(*ps), param_cmp);
  int rc = 0;
  for (size_t i = 0; i < count && !rc; i++)
    rc = (i && buf_putc(b, '&')) || buf_append(b, ps[i].p, ps[i].len);
  free(ps);
  return rc ? -ENOMEM : 0;
}

/* curl (7.88) converts an IDN host with libidn2's idn2_lookup_ul, which
 * reads the name in the locale's encoding: under the C locale every
 * non-ASCII host would fail. The thread's LC_CTYPE is switched to UTF-8
 * for this one call; the process locale stays as it is. */
static CURLUcode get_punycode_host(CURLU *h, char **host)
{
  locale_t loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
  if (!loc)
    loc = newlocale(LC_CTYPE_MASK, "C.utf8", (locale_t)0);
  locale_t old = loc ? uselocale(loc) : (locale_t)0;
  CURLUcode rc = curl_url_get(h, CURLUPART_HOST, host, CURLU_PUNYCODE);
  if (loc) {
    uselocale(old);
    freelocale(loc);
  }
  return rc;
}

static int is_ascii(const char *s)
{
  for (; *s; s++)
    if ((unsigned char)*s >= 0x80)
      return 0;
  return 1;
}

/* Appends the host: lower case, punycode, no trailing dots, IPv6 zone id
 * kept (escaped, as RFC 6874 writes it). */
static const char *put_host(struct buf *b, CURLU *h)
{
  char *host = NULL, *zone = NULL;
  const char *err = ERR_BAD_URL;
  if (curl_url_get(h, CURLUPART_HOST, &host, 0))
    return ERR_BAD_URL;
  if (!is_ascii(host)) {
    curl_free(host);
    host = NULL;
    if (get_punycode_host(h, &host) || !is_ascii(host))
      goto out;
  }
  /* '%' belongs in no host name (an IPv6 zone id aside, which curl keeps
   * apart): as in url_check. */
  if (host[0] != '[' && strchr(host, '%'))
    goto out;
  for (char *p = host; *p; p++)
    if (*p >= 'A' && *p <= 'Z')
      *p = (char)(*p + 32);
  size_t len = strlen(host);
  if (host[0] != '[') {
    while (len && host[len - 1] == '.')
      len--;
    if (!len)
      goto out;
  }
  err = ERR_INTERNAL;
  if (host[0] == '[' &&
      curl_url_get(h, CURLUPART_ZONEID, &zone, 0) == CURLUE_OK) {
    if (buf_append(b, host, len - 1) || buf_puts(b, "%25") ||
        pct_normalize(b, zone, PART_USER) || buf_putc(b, ']'))
      goto out;
  } else if (buf_append(b, host, len)) {
    goto out;
  }
  err = NULL;
out:
  curl_free(zone);
  curl_free(host);
  return err;
}

/* Appends the normalised form of one part (with its parameters filtered
 * for the path and query), after prefix; appends nothing for a user,
 * password or query the URL does not have, or a query left empty. */
static const char *put_part(struct buf *out, CURLU *h, CURLUPart what,
                            enum part p, const char *prefix,
                            const struct norm *n)
{
  char *v = NULL;
  struct buf a = {0}, b = {0};
  const char *err = ERR_INTERNAL;
  CURLUcode rc = curl_url_get(h, what, &v, 0);
  if (rc == CURLUE_NO_USER || rc == CURLUE_NO_PASSWORD ||
      rc == CURLUE_NO_QUERY)
    return NULL;
  if (rc)
    return rc == CURLUE_OUT_OF_MEMORY ? ERR_INTERNAL : ERR_BAD_URL;
  if (pct_normalize(&a, v, p))
    goto out;
  const char *s = a.data ? a.data : "";
  if (p == PART_PATH) {
    if (strip_path_params(&b, s, n))
      goto out;
  } else if (p == PART_QUERY) {
    if (filter_query(&b, s, n))
      goto out;
  } else if (buf_puts(&b, s)) {
    goto out;
  }
  const char *v2 = b.data ? b.data : "";
  if (p == PART_PATH && *v2 != '/')
    rc = buf_putc(out, '/'); /* "" (and, defensively, "x") */
  /* An empty query is no query: "/x?" and "/x" are one key. */
  if (!(p == PART_QUERY && !*v2) &&
      (rc || buf_puts(out, prefix) || buf_puts(out, v2)))
    goto out;
  err = NULL;
out:
  buf_free(&a);
  buf_free(&b);
  curl_free(v);
  return err;
}

static const char *put_port(struct buf *b, CURLU *h, const char *scheme)
{
  char *port = NULL;
  CURLUcode rc = curl_url_get(h, CURLUPART_PORT, &port, 0);
  if (rc == CURLUE_NO_PORT)
    return NULL;
  if (rc)
    return ERR_BAD_URL;
  long def = strcmp(scheme, "https") == 0 ? 443 : 80;
  long num = strtol(port, NULL, 10);
  curl_free(port);
  if (num != def && buf_printf(b, ":%ld", num))
    return ERR_INTERNAL;
  return NULL;
}

/* One pass over a parsed URL: every rule of the header once. The result
 * is assembled here from the parts curl returns, because curl_url_set()
 * would lower-case the escapes of a part that is set back. */
static char *normalize_handle(CURLU *h, const struct norm *n, const char **err)
{
  char *scheme = NULL;
  struct buf b = {0};
  *err = ERR_BAD_URL;
  if (curl_url_get(h, CURLUPART_SCHEME, &scheme, 0))
    goto out;
  for (char *p = scheme; *p; p++)
    *p = (char)tolower((unsigned char)*p);
  if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) {
    *err = ERR_UNSUPPORTED_SCHEME;
    goto out;
  }
  if (buf_puts(&b, scheme) || buf_puts(&b, "://")) {
    *err = ERR_INTERNAL;
    goto out;
  }
  /* Userinfo: kept, unless both halves are empty ("http://@host/"). */
  size_t mark = b.len;
  struct buf pw = {0};
  *err = put_part(&b, h, CURLUPART_USER, PART_USER, "", n);
  if (!*err)
    *err = put_part(&pw, h, CURLUPART_PASSWORD, PART_PASSWORD, ":", n);
  if (!*err && (b.len > mark || pw.len > 1) &&
      ((pw.len && buf_append(&b, pw.data, pw.len)) || buf_putc(&b, '@')))
    *err = ERR_INTERNAL;
  buf_free(&pw);
  if (!*err)
    *err = put_host(&b, h);
  if (!*err)
    *err = put_port(&b, h, scheme);
  if (!*err)
    *err = put_part(&b, h, CURLUPART_PATH, PART_PATH, "", n);
  if (!*err)
    *err = put_part(&b, h, CURLUPART_QUERY, PART_QUERY, "?", n);
out:
  curl_free(scheme);
  if (*err) {
    buf_free(&b);
    return NULL;
  }
  char *url = buf_steal(&b);
  if (!url)
    *err = ERR_INTERNAL;
  return url;
}

static char *normalize_string(const char *s, unsigned flags,
                              const struct norm *n, const char **err)
{
  CURLU *h = curl_url();
  char *out = NULL;
  if (!h) {
    *err = ERR_INTERNAL;
    return NULL;
  }
  if (curl_url_set(h, CURLUPART_URL, s, flags | CURLU_NON_SUPPORT_SCHEME))
    *err = ERR_BAD_URL;
  else
    out = normalize_handle(h, n, err);
  curl_url_cleanup(h);
  return out;
}

/* The checks made on raw input before curl sees it. */
static const char *precheck(const char *s, const struct norm *n)
{
  size_t len = strlen(s);
  if (len > n->max_len)
    return ERR_URL_TOO_LONG;
  for (size_t i = 0; i < len; i++)
    if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f)
      return ERR_BAD_URL;
  if (url_has_other_scheme(s))
    return ERR_UNSUPPORTED_SCHEME;
  return NULL;
}

/* Normalises first (already parsed into h) until the result settles. */
static char *settle(CURLU *h, const struct norm *n, const char **err)
{
  char *cur = normalize_handle(h, n, err);
  for (int i = 0; cur && i < SETTLE_ROUNDS; i++) {
    char *next = normalize_string(cur, 0, n, err);
    if (!next) {
      free(cur);
      return NULL;
    }
    if (strcmp(next, cur) == 0) {
      free(next);
      if (strlen(cur) > n->max_len) {
        free(cur);
        *err = ERR_URL_TOO_LONG;
        return NULL;
      }
      return cur;
    }
    free(cur);
    cur = next;
  }
  if (cur) {
    free(cur);
    *err = ERR_BAD_URL;
  }
  return NULL;
}

char *urlnorm_normalize(const char *url, const struct urlnorm_options *opt,
                        const char **err)
{
  struct norm n;
  char *out = NULL;
  norm_init(&n, opt);
  *err = precheck(url, &n);
  if (*err)
    return NULL;
  if (!*url) {
    *err = ERR_BAD_URL;
    return NULL;
  }
  CURLU *h = curl_url();
  if (!h) {
    *err = ERR_INTERNAL;
    return NULL;
  }
  if (curl_url_set(h, CURLUPART_URL, url, FIRST_PARSE | CURLU_GUESS_SCHEME))
    *err = ERR_BAD_URL;
  else
    out = settle(h, &n, err);
  curl_url_cleanup(h);
  return out;
}

char *urlnorm_resolve(const char *base, const char *href,
                      const struct urlnorm_options *opt, const char **err)
{
  struct norm n;
  char *out = NULL;
  norm_init(&n, opt);
  *err = precheck(base, &n);
  if (!*err)
    *err = precheck(href, &n);
  if (*err)
    return NULL;
  if (!*base) {
    *err = ERR_BAD_URL;
    return NULL;
  }
  CURLU *h = curl_url();
  if (!h) {
    *err = ERR_INTERNAL;
    return NULL;
  }
  *err = ERR_BAD_URL;
  /* With a URL in the handle, setting another one resolves it as a
   * reference against the first (RFC 3986 §5.2). An empty or
   * fragment-only href is the base itself (the fragment goes anyway):
   * curl 7.88 would resolve "#s" like a path, "http://a/b/c/d;p?q" to
   * "http://a/b/c/". */
  if (*href == '#')
    href = "";
  if (curl_url_set(h, CURLUPART_URL, base, FIRST_PARSE | CURLU_GUESS_SCHEME) ==
          0 &&
      (!*href || curl_url_set(h, CURLUPART_URL, href, FIRST_PARSE) == 0))
    out = settle(h, &n, err);
  curl_url_cleanup(h);
  return out;
}

/* Whether href is a plain path that normalises to itself: unreserved
 * characters and '/' only, not "//" first (an authority), and no "." or
 * ".." segment. */
static int plain_path(const char *href, size_t *len)
{
  const char *p = href;
  if (!*p || (p[0] == '/' && p[1] == '/'))
    return 0;
  const char *seg = p;
  for (;; p++) {
    unsigned char c = (unsigned char)*p;
    if (c == '/' || c == '\0') {
      size_t n = (size_t)(p - seg);
      if ((n == 1 && seg[0] == '.') ||
          (n == 2 && seg[0] == '.' && seg[1] == '.'))
        return 0;
      if (c == '\0')
        break;
      seg = p + 1;
      continue;
    }
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
          c == '~'))
      return 0;
  }
  *len = (size_t)(p - href);
  return 1;
}

char *urlnorm_resolve_key(const char *key, const char *href,
                          const struct urlnorm_options *opt, const char **err)
{
  size_t hl, max = opt && opt->max_len ? opt->max_len : 8192;
  const char *auth = strstr(key, "://");
  if (!auth || !plain_path(href, &hl))
    return urlnorm_resolve(key, href, opt, err);
  auth += 3;
  const char *path = auth + strcspn(auth, "/?#");
  size_t keep; /* bytes of key kept before href */
  if (href[0] == '/') {
    keep = (size_t)(path - key);
  } else {
    /* relative: the base's path up to its last '/' */
    size_t plen = strcspn(path, "?#");
    const char *slash = NULL;
    for (const char *q = path; q < path + plen; q++)
      if (*q == '/')
        slash = q;
    if (!slash)
      return urlnorm_resolve(key, href, opt, err);
    keep = (size_t)(slash + 1 - key);
  }
  if (keep + hl > max || strlen(key) > max)
    return urlnorm_resolve(key, href, opt, err);
  char *out = malloc(keep + hl + 1);
  if (!out) {
    *err = ERR_INTERNAL;
    return NULL;
  }
  memcpy(out, key, keep);
  memcpy(out + keep, href, hl + 1);
  *err = NULL;
  return out;
}
