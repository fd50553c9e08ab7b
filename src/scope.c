#include "scope.h"

#include "result.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <errno.h>
#include <libpsl.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pattern {
  pcre2_code *re;
};

struct seed {
  char *host;   /* host name (lower case, brackets kept for IPv6) */
  char *domain; /* SCOPE_DOMAIN: registrable domain, or the host */
  char *prefix; /* SCOPE_PREFIX: key up to the last '/' of the path */
};

struct scope {
  struct scope_options o;
  struct seed *seeds;
  int nseeds;
  struct pattern regex;
  struct pattern *include, *exclude;
  int ninclude, nexclude;
};

const char *scope_url_host(const char *url, size_t *len)
{
  const char *p = strstr(url, "://");
  if (!p)
    return NULL;
  p += 3;
  size_t auth = strcspn(p, "/?#");
  const char *at = memchr(p, '@', auth);
  /* userinfo may hold '@' only escaped: the last one ends it */
  while (at) {
    const char *next = memchr(at + 1, '@', auth - (size_t)(at + 1 - p));
    if (!next)
      break;
    at = next;
  }
  if (at) {
    auth -= (size_t)(at + 1 - p);
    p = at + 1;
  }
  size_t n;
  if (*p == '[') {
    const char *close = memchr(p, ']', auth);
    if (!close)
      return NULL;
    n = (size_t)(close + 1 - p);
  } else {
    const char *colon = memchr(p, ':', auth);
    n = colon ? (size_t)(colon - p) : auth;
  }
  if (n == 0)
    return NULL;
  *len = n;
  return p;
}

static int compile(struct pattern *p, const char *src, const char *what,
                   char *err, size_t errlen)
{
  int code;
  PCRE2_SIZE off;
  p->re = pcre2_compile((PCRE2_SPTR)src, PCRE2_ZERO_TERMINATED, 0, &code, &off,
                        NULL);
  if (!p->re) {
    PCRE2_UCHAR msg[160];
    pcre2_get_error_message(code, msg, sizeof(msg));
    snprintf(err, errlen, "%s '%s': bad regex at offset %zu: %s", what, src,
             (size_t)off, (char *)msg);
    return -EINVAL;
  }
  pcre2_jit_compile(p->re, PCRE2_JIT_COMPLETE);
  return 0;
}

/* 1 when p matches s, 0 when not; a match error (out of memory, or a
 * hostile key hitting PCRE2's match limit) counts as on_error, which the
 * callers choose so that it drops the link (fails closed). */
static int matches(const struct pattern *p, const char *s, int on_error)
{
  pcre2_match_data *md = pcre2_match_data_create(1, NULL);
  if (!md)
    return on_error;
  int rc = pcre2_match(p->re, (PCRE2_SPTR)s, strlen(s), 0, 0, md, NULL);
  pcre2_match_data_free(md);
  if (rc >= 0)
    return 1;
  return rc == PCRE2_ERROR_NOMATCH ? 0 : on_error;
}

static char *lower_dup(const char *s, size_t n)
{
  char *d = strndup(s, n);
  for (char *p = d; p && *p; p++)
    if (*p >= 'A' && *p <= 'Z')
      *p = (char)(*p - 'A' + 'a');
  return d;
}

/* Dotted decimal, as urlnorm writes every IPv4 host. */
static int is_ipv4(const char *h)
{
  int dots = 0;
  for (; *h; h++) {
    if (*h == '.')
      dots++;
    else if (*h < '0' || *h > '9')
      return 0;
  }
  return dots == 3;
}

static int seed_init(struct seed *sd, enum scope_kind kind, const char *key)
{
  size_t hl;
  const char *h = scope_url_host(key, &hl);
  if (!h)
    return -EINVAL;
  if (!(sd->host = lower_dup(h, hl)))
    return -ENOMEM;
  if (kind == SCOPE_DOMAIN) {
    /* An address has no registrable domain (libpsl would answer "0.1"
     * for 127.0.0.1): it admits itself only. */
    const char *reg = NULL;
    if (sd->host[0] != '[' && !is_ipv4(sd->host))
      reg = psl_registrable_domain(psl_builtin(), sd->host);
    if (!(sd->domain = strdup(reg ? reg : sd->host)))
      return -ENOMEM;
  } else if (kind == SCOPE_PREFIX) {
    const char *path = h + hl + strcspn(h + hl, "/?#");
    size_t plen = strcspn(path, "?#");
    const char *slash = path;
    for (const char *q = path; q < path + plen; q++)
      if (*q == '/')
        slash = q;
    size_t n = (size_t)(slash - key) + (*slash == '/' ? 1 : 0);
    if (!(sd->prefix = strndup(key, n)))
      return -ENOMEM;
  }
  return 0;
}

int scope_new(struct scope **out, const struct scope_options *o,
              const char *const *seeds, int nseeds, char *err, size_t errlen)
{
  struct scope *sc = calloc(1, sizeof(*sc));
  int rc = -ENOMEM;
  *out = NULL;
  if (!sc)
    goto fail;
  sc->o = *o;
  if (!sc->o.max_url_len)
    sc->o.max_url_len = 2048;
  if (!sc->o.max_path_segments)
    sc->o.max_path_segments = 32;
  if (!sc->o.max_repeats)
    sc->o.max_repeats = 3;
  if (!sc->o.max_query_len)
    sc->o.max_query_len = 1024;
  if (!sc->o.max_query_params)
    sc->o.max_query_params = 32;
  sc->o.regex = NULL;
  sc->o.include = sc->o.exclude = NULL;
  sc->seeds = calloc((size_t)(nseeds > 0 ? nseeds : 1), sizeof(*sc->seeds));
  if (!sc->seeds)
    goto fail;
  for (int i = 0; i < nseeds; i++) {
    rc = seed_init(&sc->seeds[sc->nseeds++], o->kind, seeds[i]);
    if (rc) {
      snprintf(err, errlen, "%s: %s", seeds[i],
               rc == -ENOMEM ? "out of memory" : "no host in the seed");
      goto fail;
    }
  }
  if (o->kind == SCOPE_REGEX &&
      (rc = compile(&sc->regex, o->regex ? o->regex : "", "--scope regex", err,
                    errlen)))
    goto fail;
  rc = -ENOMEM;
  sc->include = calloc((size_t)o->ninclude + 1, sizeof(*sc->include));
  sc->exclude = calloc((size_t)o->nexclude + 1, sizeof(*sc->exclude));
  if (!sc->include || !sc->exclude)
    goto fail;
  for (int i = 0; i < o->ninclude; i++) {
    if ((rc = compile(&sc->include[i], o->include[i], "--include", err,
                      errlen)))
      goto fail;
    sc->ninclude++;
  }
  for (int i = 0; i < o->nexclude; i++) {
    if ((rc = compile(&sc->exclude[i], o->exclude[i], "--exclude", err,
                      errlen)))
      goto fail;
    sc->nexclude++;
  }
  *out = sc;
  return 0;
fail:
  if (rc == -ENOMEM)
    snprintf(err, errlen, "out of memory");
  scope_free(sc);
  return rc;
}

void scope_free(struct scope *sc)
{
  if (!sc)
    return;
  for (int i = 0; i < sc->nseeds; i++) {
    free(sc->seeds[i].host);
    free(sc->seeds[i].domain);
    free(sc->seeds[i].prefix);
  }
  free(sc->seeds);
  pcre2_code_free(sc->regex.re);
  for (int i = 0; i < sc->ninclude; i++)
    pcre2_code_free(sc->include[i].re);
  for (int i = 0; i < sc->nexclude; i++)
    pcre2_code_free(sc->exclude[i].re);
  free(sc->include);
  free(sc->exclude);
  free(sc);
}

static int host_is(const char *h, size_t hl, const char *want)
{
  return strlen(want) == hl && memcmp(h, want, hl) == 0;
}

static int in_scope(const struct scope *sc, const char *key)
{
  size_t hl;
  const char *h = scope_url_host(key, &hl);
  if (!h)
    return 0;
  for (int i = 0; i < sc->nseeds; i++) {
    const struct seed *sd = &sc->seeds[i];
    switch (sc->o.kind) {
    case SCOPE_HOST:
      if (host_is(h, hl, sd->host))
        return 1;
      break;
    case SCOPE_DOMAIN: {
      size_t dl = strlen(sd->domain);
      if (host_is(h, hl, sd->domain) ||
          (hl > dl + 1 && h[hl - dl - 1] == '.' &&
           memcmp(h + hl - dl, sd->domain, dl) == 0))
        return 1;
      break;
    }
    case SCOPE_PREFIX:
      if (strncmp(key, sd->prefix, strlen(sd->prefix)) == 0)
        return 1;
      break;
    case SCOPE_REGEX:
      break;
    }
  }
  if (sc->o.kind == SCOPE_REGEX)
    return matches(&sc->regex, key, 0);
  return 0;
}

int scope_trap(const struct scope *sc, const char *key)
{
  size_t len = strlen(key);
  if (len > sc->o.max_url_len)
    return CRAWL_DROP_LONG_URL;
  size_t hl;
  const char *h = scope_url_host(key, &hl);
  if (!h)
    return CRAWL_DROP_BAD_URL;
  const char *path = h + hl + strcspn(h + hl, "/?#");
  size_t plen = strcspn(path, "?#");
  /* segments: between '/'s; the first '/' starts the path */
  enum { MAXSEG = 64 };
  const char *seg[MAXSEG];
  size_t segl[MAXSEG];
  int nseg = 0;
  const char *p = path, *end = path + plen;
  while (p < end) {
    p++; /* the '/' */
    const char *e = memchr(p, '/', (size_t)(end - p));
    if (!e)
      e = end;
    if (nseg >= sc->o.max_path_segments)
      return CRAWL_DROP_DEEP_PATH;
    if (nseg < MAXSEG) { /* the repeat check looks at the first 64 */
      seg[nseg] = p;
      segl[nseg] = (size_t)(e - p);
    }
    nseg++;
    p = e;
  }
  if (nseg > MAXSEG)
    nseg = MAXSEG;
  for (int i = 0; i < nseg; i++) {
    if (!segl[i])
      continue;
    int same = 1;
    for (int j = i + 1; j < nseg; j++)
      if (segl[j] == segl[i] && memcmp(seg[j], seg[i], segl[i]) == 0)
        same++;
    if (same > sc->o.max_repeats)
      return CRAWL_DROP_REPEATED;
  }
  if (*end == '?') {
    const char *q = end + 1;
    size_t qlen = strcspn(q, "#");
    if (qlen > sc->o.max_query_len)
      return CRAWL_DROP_LONG_QUERY;
    int params = 1;
    for (size_t i = 0; i < qlen; i++)
      params += q[i] == '&';
    if (params > sc->o.max_query_params)
      return CRAWL_DROP_LONG_QUERY;
  }
  return -1;
}

int scope_check(const struct scope *sc, const char *key, int depth)
{
  if (!in_scope(sc, key))
    return CRAWL_DROP_SCOPE;
  for (int i = 0; i < sc->nexclude; i++)
    if (matches(&sc->exclude[i], key, 1))
      return CRAWL_DROP_EXCLUDED;
  if (sc->ninclude) {
    int any = 0;
    for (int i = 0; i < sc->ninclude && !any; i++)
      any = matches(&sc->include[i], key, 0);
    if (!any)
      return CRAWL_DROP_EXCLUDED;
  }
  if (sc->o.max_depth >= 0 && depth > sc->o.max_depth)
    return CRAWL_DROP_DEPTH;
  return scope_trap(sc, key);
}

int scope_private_ok(const void *arg, const char *hostkey)
{
  const struct scope *sc = arg;
  if (sc->o.allow_private)
    return 1;
  size_t hl;
  const char *h = scope_url_host(hostkey, &hl);
  if (!h)
    return 0;
  for (int i = 0; i < sc->nseeds; i++)
    if (host_is(h, hl, sc->seeds[i].host))
      return 1;
  return 0;
}
