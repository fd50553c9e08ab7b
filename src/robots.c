/* robots: RFC 9309 parsing and matching. The header states the rules and
 * the choices made where the RFC leaves room; this file says how. */
#include "robots.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum robots_mode { MODE_RULES, MODE_ALLOW_ALL, MODE_DISALLOW_ALL };

/* One Allow/Disallow pattern, canonical (see canon()), stored in the
 * arena at off, len bytes, without the trailing '$' (anchored says so).
 * prio is the specificity: the octets and wildcards it stands for, plus
 * one for the '$'. */
struct robots_rule {
  size_t off;
  size_t len;
  size_t prio;
  unsigned char allow;
  unsigned char anchored;
};

/* The rules of one class of groups (those naming the agent, or "*"). */
struct rule_set {
  struct robots_rule *rules;
  size_t n, cap;
  char *arena;
  size_t alen, acap;
  double delay; /* -1: none */
  int seen;     /* a group of this class exists, even without rules */
};

struct robots {
  enum robots_mode mode;
  struct robots_rule *rules; /* sorted: prio descending, Allow first */
  size_t nrules;
  char *arena;
  double delay;
  char **sitemaps;
  size_t nsitemaps;
};

enum key_kind {
  KEY_UNKNOWN,
  KEY_USER_AGENT,
  KEY_ALLOW,
  KEY_DISALLOW,
  KEY_SITEMAP,
  KEY_CRAWL_DELAY
};

struct parser {
  const char *agent;
  size_t agent_len;
  struct rule_set specific, global;
  int in_group;     /* a user-agent line has been seen */
  int cur_specific; /* the current group names the agent */
  int cur_global;   /* the current group names "*" */
  int separator;    /* a record other than user-agent since the last one */
  char **sitemaps;  /* ROBOTS_MAX_SITEMAPS slots */
  size_t nsitemaps;
  char *scratch; /* canonical pattern, 3 * ROBOTS_MAX_LINE bytes */
  int oom;
};

static int is_ws(unsigned char c)
{
  return c == ' ' || c == '\t' || c == '\v' || c == '\f';
}

static int is_alpha(unsigned char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_digit(unsigned char c)
{
  return c >= '0' && c <= '9';
}

static unsigned char lower(unsigned char c)
{
  return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

/* s[0..n) equals the NUL-terminated lit, ASCII case-insensitively. */
static int ieq(const char *s, size_t n, const char *lit)
{
  size_t i = 0;
  for (; i < n && lit[i]; i++)
    if (lower((unsigned char)s[i]) != lower((unsigned char)lit[i]))
      return 0;
  return i == n && lit[i] == '\0';
}

static int hexval(unsigned char c)
{
  if (is_digit(c))
    return c - '0';
  c = lower(c);
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  return -1;
}

/* RFC 3986 §2.3 unreserved. */
static int is_unreserved(unsigned char c)
{
  return is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_' ||
         c == '~';
}

/* Writes the canonical form of s[0..n) to out (room for 3 * n bytes) and
 * returns its length; *octets gets the number of octets (and wildcards) it
 * stands for, the specificity measure of RFC 9309 §2.2.2.
 *
 * Canonical: every valid %XX is decoded to its octet, then every octet
 * other than unreserved characters and '/' is written as upper-case %XX.
 * So an octet compares equal whether it came raw or encoded, in any hex
 * case: §2.2.2 asks both sides to decode unreserved characters and to
 * encode reserved and non-ASCII ones before comparing, and its table has
 * a raw "https://foo.bar" in a rule match "https%3A%2F%2Ffoo.bar" in the
 * URI. With pattern set a raw '*' stays the (raw) wildcard; every other
 * '*' or '$', including the path's, is the octet, which a pattern names as
 * %2A or %24 (§2.2.3). A '%' without two hex digits is the octet '%'. */
static size_t canon(const unsigned char *s, size_t n, char *out, int pattern,
                    size_t *octets)
{
  char *o = out;
  size_t units = 0;
  for (size_t i = 0; i < n; i++, units++) {
    unsigned char c = s[i];
    if (c == '*' && pattern) {
      *o++ = '*';
      continue;
    }
    if (c == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 &&
        hexval(s[i + 2]) >= 0) {
      c = (unsigned char)(hexval(s[i + 1]) << 4 | hexval(s[i + 2]));
      i += 2;
    }
    if (is_unreserved(c) || c == '/') {
      *o++ = (char)c;
    } else {
      static const char hex[] = "0123456789ABCDEF";
      *o++ = '%';
      *o++ = hex[c >> 4];
      *o++ = hex[c & 15];
    }
  }
  if (octets)
    *octets = units;
  return (size_t)(o - out);
}

/* Crawl-delay value: digits with an optional fraction, else -1. */
static double parse_delay(const char *s, size_t n)
{
  double whole = 0, frac = 0, scale = 1;
  size_t i = 0, digits = 0;
  for (; i < n && is_digit((unsigned char)s[i]); i++, digits++)
    whole = whole * 10 + (s[i] - '0');
  if (i < n && s[i] == '.') {
    i++;
    for (size_t k = 0; i < n && is_digit((unsigned char)s[i]); i++, k++) {
      digits++;
      if (k < 9) { /* finer than a nanosecond is noise */
        frac = frac * 10 + (s[i] - '0');
        scale *= 10;
      }
    }
  }
  if (digits == 0 || i != n || !isfinite(whole))
    return -1;
  return whole + frac / scale;
}

static enum key_kind key_kind(const char *k, size_t n)
{
  if (ieq(k, n, "user-agent") || ieq(k, n, "useragent") ||
      ieq(k, n, "user agent"))
    return KEY_USER_AGENT;
  if (ieq(k, n, "allow"))
    return KEY_ALLOW;
  if (ieq(k, n, "disallow") || ieq(k, n, "dissallow") ||
      ieq(k, n, "dissalow") || ieq(k, n, "disalow") || ieq(k, n, "diasllow") ||
      ieq(k, n, "disallaw"))
    return KEY_DISALLOW;
  if (ieq(k, n, "sitemap") || ieq(k, n, "site-map"))
    return KEY_SITEMAP;
  if (ieq(k, n, "crawl-delay") || ieq(k, n, "crawldelay"))
    return KEY_CRAWL_DELAY;
  return KEY_UNKNOWN;
}

static int grow(void **p, size_t *cap, size_t need, size_t size)
{
  if (need <= *cap)
    return 0;
  size_t ncap = *cap ? *cap : 16;
  while (ncap < need)
    ncap *= 2;
  void *np = realloc(*p, ncap * size);
  if (np == NULL)
    return -1;
  *p = np;
  *cap = ncap;
  return 0;
}

static void add_rule(struct parser *p, struct rule_set *set, const char *v,
                     size_t n, int allow)
{
  if (set->n >= ROBOTS_MAX_RULES)
    return;
  int anchored = v[n - 1] == '$';
  if (anchored)
    n--;
  size_t octets;
  size_t len = canon((const unsigned char *)v, n, p->scratch, 1, &octets);
  if (grow((void **)&set->arena, &set->acap, set->alen + len + 1, 1) ||
      grow((void **)&set->rules, &set->cap, set->n + 1, sizeof(*set->rules))) {
    p->oom = 1;
    return;
  }
  memcpy(set->arena + set->alen, p->scratch, len);
  set->rules[set->n++] = (struct robots_rule){
      .off = set->alen,
      .len = len,
      .prio = octets + (size_t)anchored,
      .allow = (unsigned char)allow,
      .anchored = (unsigned char)anchored,
  };
  set->alen += len;
}

static void set_delay(struct rule_set *set, double d)
{
  if (d > set->delay)
    set->delay = d;
}

static void add_sitemap(struct parser *p, const char *v, size_t n)
{
  if (p->nsitemaps >= ROBOTS_MAX_SITEMAPS)
    return;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
      return;
  char *s = malloc(n + 1);
  if (s == NULL) {
    p->oom = 1;
    return;
  }
  memcpy(s, v, n);
  s[n] = '\0';
  p->sitemaps[p->nsitemaps++] = s;
}

static void user_agent_line(struct parser *p, const char *v, size_t n)
{
  if (p->separator) { /* the previous group had records: a new group */
    p->cur_specific = p->cur_global = 0;
    p->separator = 0;
  }
  p->in_group = 1;
  if (n >= 1 && v[0] == '*' && (n == 1 || is_ws((unsigned char)v[1]))) {
    p->cur_global = 1;
    p->global.seen = 1;
    return;
  }
  size_t t = 0;
  while (t < n &&
         (is_alpha((unsigned char)v[t]) || v[t] == '-' || v[t] == '_'))
    t++;
  if (t > 0 && t == p->agent_len && ieq(v, t, p->agent)) {
    p->cur_specific = 1;
    p->specific.seen = 1;
  }
}

/* One line, without its end-of-line, at most ROBOTS_MAX_LINE bytes. */
static void parse_line(struct parser *p, const char *s, size_t n)
{
  const char *hash = memchr(s, '#', n);
  if (hash)
    n = (size_t)(hash - s);
  while (n && is_ws((unsigned char)s[n - 1]))
    n--;
  while (n && is_ws((unsigned char)*s))
    s++, n--;
  if (n == 0)
    return;

  const char *key = s, *val;
  size_t klen, vlen;
  const char *colon = memchr(s, ':', n);
  if (colon) {
    klen = (size_t)(colon - s);
    val = colon + 1;
    vlen = n - klen - 1;
  } else {
    /* No colon: accept "key value", exactly two words. */
    klen = 0;
    while (klen < n && !is_ws((unsigned char)s[klen]))
      klen++;
    if (klen == n)
      return;
    val = s + klen;
    vlen = n - klen;
    while (vlen && is_ws((unsigned char)*val))
      val++, vlen--;
    for (size_t i = 0; i < vlen; i++)
      if (is_ws((unsigned char)val[i]))
        return;
  }
  while (klen && is_ws((unsigned char)key[klen - 1]))
    klen--;
  while (vlen && is_ws((unsigned char)*val))
    val++, vlen--;
  if (klen == 0)
    return;

  enum key_kind kind = key_kind(key, klen);
  if (kind == KEY_USER_AGENT) {
    user_agent_line(p, val, vlen);
    return;
  }
  p->separator = 1;
  switch (kind) {
  case KEY_ALLOW:
  case KEY_DISALLOW:
    if (!p->in_group || vlen == 0)
      return;
    if (p->cur_specific)
      add_rule(p, &p->specific, val, vlen, kind == KEY_ALLOW);
    if (p->cur_global)
      add_rule(p, &p->global, val, vlen, kind == KEY_ALLOW);
    return;
  case KEY_CRAWL_DELAY: {
    double d = parse_delay(val, vlen);
    if (!p->in_group || d < 0)
      return;
    if (p->cur_specific)
      set_delay(&p->specific, d);
    if (p->cur_global)
      set_delay(&p->global, d);
    return;
  }
  case KEY_SITEMAP:
    if (vlen)
      add_sitemap(p, val, vlen);
    return;
  default:
    return;
  }
}

static int rule_cmp(const void *a, const void *b)
{
  const struct robots_rule *x = a, *y = b;
  if (x->prio != y->prio)
    return x->prio > y->prio ? -1 : 1;
  if (x->allow != y->allow)
    return x->allow ? -1 : 1;
  return x->off < y->off ? -1 : x->off > y->off;
}

static void set_free(struct rule_set *set)
{
  free(set->rules);
  free(set->arena);
}

static struct robots *robots_new(enum robots_mode mode)
{
  struct robots *r = calloc(1, sizeof(*r));
  if (r == NULL)
    return NULL;
  r->mode = mode;
  r->delay = -1;
  return r;
}

struct robots *robots_parse(const char *body, size_t len, const char *agent)
{
  struct parser p;
  memset(&p, 0, sizeof(p));
  p.agent = agent ? agent : "";
  p.agent_len = strlen(p.agent);
  p.specific.delay = p.global.delay = -1;
  struct robots *r = robots_new(MODE_RULES);
  p.scratch = malloc(3 * (size_t)ROBOTS_MAX_LINE);
  p.sitemaps = calloc(ROBOTS_MAX_SITEMAPS, sizeof(*p.sitemaps));
  if (r == NULL || p.scratch == NULL || p.sitemaps == NULL)
    goto fail;

  const unsigned char *b = (const unsigned char *)body;
  size_t n = body ? len : 0, i = 0;
  if (n > ROBOTS_MAX_BYTES)
    n = ROBOTS_MAX_BYTES;
  /* A UTF-8 BOM, or what is left of one, is not part of the first line. */
  if (i < n && b[i] == 0xEF) {
    i++;
    if (i < n && b[i] == 0xBB) {
      i++;
      if (i < n && b[i] == 0xBF)
        i++;
    }
  }
  while (i < n && !p.oom) {
    size_t start = i;
    while (i < n && b[i] != '\n' && b[i] != '\r')
      i++;
    size_t l = i - start;
    if (l > ROBOTS_MAX_LINE)
      l = ROBOTS_MAX_LINE;
    parse_line(&p, body + start, l);
    /* CR, LF or CRLF: one line end. */
    if (i < n && b[i] == '\r')
      i++;
    if (i < n && b[i] == '\n')
      i++;
  }
  if (p.oom)
    goto fail;

  struct rule_set *use = p.specific.seen ? &p.specific
                         : p.global.seen ? &p.global
                                         : NULL;
  if (use) {
    if (use->n)
      qsort(use->rules, use->n, sizeof(*use->rules), rule_cmp);
    r->rules = use->rules;
    r->nrules = use->n;
    r->arena = use->arena;
    r->delay = use->delay;
    use->rules = NULL;
    use->arena = NULL;
  }
  set_free(&p.specific);
  set_free(&p.global);
  if (p.nsitemaps) {
    r->sitemaps = p.sitemaps;
    r->nsitemaps = p.nsitemaps;
  } else {
    free(p.sitemaps);
  }
  free(p.scratch);
  return r;

fail:
  if (p.sitemaps)
    for (size_t k = 0; k < p.nsitemaps; k++)
      free(p.sitemaps[k]);
  free(p.sitemaps);
  set_free(&p.specific);
  set_free(&p.global);
  free(p.scratch);
  robots_free(r);
  return NULL;
}

struct robots *robots_allow_all(void)
{
  return robots_new(MODE_ALLOW_ALL);
}

struct robots *robots_disallow_all(void)
{
  return robots_new(MODE_DISALLOW_ALL);
}

/* Adds cost to *steps unless that would pass the budget. */
static int charge(size_t *steps, size_t cost)
{
  if (cost > ROBOTS_MATCH_STEPS - *steps)
    return 0;
  *steps += cost;
  return 1;
}

/* Does canonical pattern pat[0..plen) (anchored: ended in '$') match the
 * canonical path t[0..n)? 1 yes, 0 no, -1 out of steps.
 *
 * The text before the first '*' must be a prefix of the path. Each later
 * piece between stars is found at its leftmost place after the previous
 * one: leftmost leaves the most room for what follows, so this never needs
 * to backtrack, and memmem is linear-time in glibc and musl (two-way).
 * Without '$' the match may end anywhere; with it the last piece must end
 * the path: a suffix test at or after where the previous piece ended. */
static int rule_match(const char *pat, size_t plen, int anchored,
                      const char *t, size_t n, size_t *steps)
{
  const char *star = memchr(pat, '*', plen);
  size_t seg = star ? (size_t)(star - pat) : plen;
  if (!charge(steps, plen + seg + 1))
    return -1;
  if (seg > n || memcmp(pat, t, seg) != 0)
    return 0;
  if (star == NULL)
    return anchored ? seg == n : 1;
  size_t pos = seg;
  for (;;) {
    plen -= seg + 1;
    pat = star + 1;
    star = memchr(pat, '*', plen);
    seg = star ? (size_t)(star - pat) : plen;
    if (star == NULL && anchored) {
      if (!charge(steps, seg))
        return -1;
      return seg <= n - pos && memcmp(t + n - seg, pat, seg) == 0;
    }
    if (seg > 0) {
      /* memmem's work is linear in what it scanned: charge that. */
      const char *f = memmem(t + pos, n - pos, pat, seg);
      size_t end = f ? (size_t)(f - t) + seg : n;
      if (!charge(steps, end - pos + seg))
        return -1;
      if (f == NULL)
        return 0;
      pos = end;
    }
    if (star == NULL)
      return 1;
  }
}

int robots_allowed(const struct robots *r, const char *path)
{
  if (r == NULL)
    return 0;
  if (path == NULL || *path == '\0' || *path == '#')
    path = "/";
  size_t n = strcspn(path, "#");
  char small[1024];
  char *t = small;
  if (n > sizeof(small) / 3) {
    t = malloc(3 * n);
    if (t == NULL)
      return 0;
  }
  size_t tn = canon((const unsigned char *)path, n, t, 0, NULL);
  int allowed = 1;
  if (tn == 11 && memcmp(t, "/robots.txt", 11) == 0)
    goto done;
  if (r->mode != MODE_RULES) {
    allowed = r->mode == MODE_ALLOW_ALL;
    goto done;
  }
  size_t steps = 0;
  for (size_t i = 0; i < r->nrules; i++) {
    const struct robots_rule *rule = &r->rules[i];
    int m = rule_match(r->arena + rule->off, rule->len, rule->anchored, t, tn,
                       &steps);
    if (m < 0) {
      allowed = 0;
      break;
    }
    if (m) {
      allowed = rule->allow;
      break;
    }
  }
done:
  if (t != small)
    free(t);
  return allowed;
}

double robots_crawl_delay(const struct robots *r)
{
  return r ? r->delay : -1;
}

size_t robots_sitemaps(const struct robots *r, const char *const **out)
{
  if (out)
    *out = r && r->nsitemaps ? (const char *const *)r->sitemaps : NULL;
  return r ? r->nsitemaps : 0;
}

void robots_free(struct robots *r)
{
  if (r == NULL)
    return;
  for (size_t i = 0; i < r->nsitemaps; i++)
    free(r->sitemaps[i]);
  free(r->sitemaps);
  free(r->rules);
  free(r->arena);
  free(r);
}
