/* feed: RSS 2.0, RSS 1.0 (RDF) and Atom 1.0 into items, on libxml2's DOM
 * parser.
 *
 * Safety. The parser runs with no network, no DTD loading, no entity
 * substitution and no validation, set on the context itself (not left to
 * libxml2's process-wide defaults, which other code may have changed), so
 * external entities (XXE) and external DTD subsets are never read. The
 * entity references of the internal subset stay reference nodes in the
 * tree; the text collector below expands internal general entities
 * itself, with a document-wide budget of expanded nodes and the per-field
 * byte cap, so a "billion laughs" document either fails libxml2's own
 * amplification checks or yields a few KiB of text. Attribute values are
 * read the same way (never through xmlGetProp, which expands without
 * bound). */
#include "feed.h"

#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define FEED_MAX_BYTES (16u << 20)
#define MAX_NEST 1024 /* element + entity nesting the collector walks */
#define ENTITY_BUDGET 1000000L /* entity-expanded nodes per document */

#define NS_ATOM "http://www.w3.org/2005/Atom"
#define NS_ATOM03 "http://purl.org/atom/ns#"
#define NS_RDF "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
#define NS_RSS1 "http://purl.org/rss/1.0/"
#define NS_RSS090 "http://my.netscape.com/rdf/simple/0.9/"
#define NS_CONTENT "http://purl.org/rss/1.0/modules/content/"
#define NS_DC "http://purl.org/dc/elements/1.1/"

enum format { FMT_RSS2, FMT_RSS1, FMT_ATOM };

struct walk {
  long budget; /* entity-expanded nodes left */
  int oom;
  enum format fmt;
  const char *core_ns; /* the format's own namespace, or NULL */
};

/* ---- text: trimmed, whitespace collapsed, capped on a UTF-8 boundary */

struct text {
  char *s;
  size_t n, cap;
  int space; /* whitespace seen since the last byte kept */
  int full;  /* more than FEED_MAX_TEXT bytes collected: stop */
};

static int is_ws(unsigned char c)
{
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int text_push(struct walk *w, struct text *t, char c)
{
  if (t->n + 1 >= t->cap) {
    size_t cap = t->cap ? t->cap * 2 : 64;
    if (cap > FEED_MAX_TEXT + 2)
      cap = FEED_MAX_TEXT + 2;
    char *s = realloc(t->s, cap);
    if (s == NULL) {
      w->oom = 1;
      t->full = 1;
      return -1;
    }
    t->s = s;
    t->cap = cap;
  }
  t->s[t->n++] = c;
  if (t->n > FEED_MAX_TEXT)
    t->full = 1;
  return 0;
}

static void text_add(struct walk *w, struct text *t, const xmlChar *p)
{
  if (p == NULL)
    return;
  for (; *p && !t->full; p++) {
    if (is_ws(*p)) {
      t->space = 1;
      continue;
    }
    if (t->space && t->n > 0 && text_push(w, t, ' ') < 0)
      return;
    t->space = 0;
    if (!t->full)
      text_push(w, t, (char)*p);
  }
}

/* The collected text as a string of at most FEED_MAX_TEXT bytes, cut
 * before a partial UTF-8 sequence; NULL when blank (or out of memory). */
static char *text_take(struct text *t)
{
  size_t n = t->n;
  if (n > FEED_MAX_TEXT) {
    n = FEED_MAX_TEXT;
    while (n > 0 && ((unsigned char)t->s[n] & 0xC0) == 0x80)
      n--;
    while (n > 0 && t->s[n - 1] == ' ')
      n--;
  }
  char *s = NULL;
  if (n > 0) {
    s = realloc(t->s, n + 1);
    if (s == NULL)
      s = t->s;
    s[n] = '\0';
  } else {
    free(t->s);
  }
  t->s = NULL;
  t->n = t->cap = 0;
  return s;
}

static void collect(struct walk *w, struct text *t, const xmlNode *node,
                    int depth, int in_entity);

/* An entity reference: internal general entities are expanded (their
 * parsed content hangs off the declaration), anything else is dropped. */
static void collect_ref(struct walk *w, struct text *t, const xmlNode *ref,
                        int depth)
{
  const xmlNode *decl = ref->children;
  if (decl == NULL || decl->type != XML_ENTITY_DECL)
    return;
  const xmlEntity *ent = (const xmlEntity *)decl;
  if (ent->etype != XML_INTERNAL_GENERAL_ENTITY)
    return;
  collect(w, t, ent->children, depth + 1, 1);
}

/* Appends the text of node and its following siblings (their descendants'
 * text, CDATA included; comments and PIs skipped). */
static void collect(struct walk *w, struct text *t, const xmlNode *node,
                    int depth, int in_entity)
{
  if (depth > MAX_NEST)
    return;
  for (; node != NULL && !t->full; node = node->next) {
    if (in_entity && --w->budget < 0)
      return;
    switch (node->type) {
    case XML_TEXT_NODE:
    case XML_CDATA_SECTION_NODE:
      text_add(w, t, node->content);
      break;
    case XML_ELEMENT_NODE:
      collect(w, t, node->children, depth + 1, in_entity);
      break;
    case XML_ENTITY_REF_NODE:
      if (w->budget > 0)
        collect_ref(w, t, node, depth);
      break;
    default:
      break;
    }
  }
}

/* The text content of an element, NULL when blank. */
static char *elem_text(struct walk *w, const xmlNode *el)
{
  struct text t = {0};
  collect(w, &t, el->children, 0, 0);
  return text_take(&t);
}

/* ---- names and namespaces */

static const char *ns_of(const xmlNode *n)
{
  return n->ns && n->ns->href ? (const char *)n->ns->href : NULL;
}

static int ns_eq(const char *a, const char *b)
{
  return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

/* Is el the element {ns}name? With an undeclared prefix libxml2 keeps
 * "prefix:name" as the name and no namespace: "content:encoded" and
 * "dc:date" written that way are taken too, by their usual prefix. */
static int is_elem(const xmlNode *el, const char *ns, const char *name,
                   const char *usual_prefix)
{
  if (el->type != XML_ELEMENT_NODE)
    return 0;
  const char *n = (const char *)el->name;
  if (ns_eq(ns_of(el), ns) && strcmp(n, name) == 0)
    return 1;
  if (usual_prefix && ns_of(el) == NULL) {
    size_t pl = strlen(usual_prefix);
    return strncmp(n, usual_prefix, pl) == 0 && n[pl] == ':' &&
           strcmp(n + pl + 1, name) == 0;
  }
  return 0;
}

/* One of the format's own elements: in its namespace, or (RSS) in none. */
static int is_core(const struct walk *w, const xmlNode *el, const char *name)
{
  if (el->type != XML_ELEMENT_NODE || strcmp((const char *)el->name, name))
    return 0;
  const char *ns = ns_of(el);
  if (ns_eq(ns, w->core_ns))
    return 1;
  if (w->fmt == FMT_ATOM)
    return 0;
  return ns == NULL || (w->fmt == FMT_RSS1 && (strcmp(ns, NS_RSS1) == 0 ||
                                               strcmp(ns, NS_RSS090) == 0));
}

/* An attribute's value (entity references expanded as in text, with the
 * same bounds), NULL when absent or blank. ns NULL: an attribute in no
 * namespace; any_ns: in the given namespace or in none. */
static char *attr_text(struct walk *w, const xmlNode *el, const char *ns,
                       const char *name, int or_none)
{
  for (const xmlAttr *a = el->properties; a; a = a->next) {
    if (strcmp((const char *)a->name, name) != 0)
      continue;
    const char *ans = a->ns && a->ns->href ? (const char *)a->ns->href : NULL;
    if (!ns_eq(ans, ns) && !(or_none && ans == NULL))
      continue;
    struct text t = {0};
    collect(w, &t, a->children, 0, 0);
    return text_take(&t);
  }
  return NULL;
}

/* Sets *slot to el's text unless it is already set. */
static void take_first(struct walk *w, char **slot, const xmlNode *el)
{
  if (*slot == NULL)
    *slot = elem_text(w, el);
}

/* ---- dates */

static const char *const month_names[12] = {
    "january", "february", "march",     "april",   "may",      "june",
    "july",    "august",   "september", "october", "november", "december"};
static const char *const day_names[7] = {"monday",   "tuesday", "wednesday",
                                         "thursday", "friday",  "saturday",
                                         "sunday"};

/* Reads n (min..max) digits at *p. */
static int digits(const char **p, int min, int max, int *out)
{
  int v = 0, k = 0;
  while (k < max && (*p)[k] >= '0' && (*p)[k] <= '9') {
    v = v * 10 + ((*p)[k] - '0');
    k++;
  }
  if (k < min)
    return -1;
  *p += k;
  *out = v;
  return 0;
}

/* Is the word w[0..n) one of names (its first 3 letters or all of it)? */
static int name_index(const char *w, size_t n, const char *const *names,
                      int count)
{
  for (int i = 0; i < count; i++)
    if ((n == 3 || n == strlen(names[i])) && strncasecmp(w, names[i], n) == 0)
      return i;
  return -1;
}

static size_t word_len(const char *p)
{
  size_t n = 0;
  while ((p[n] >= 'a' && p[n] <= 'z') || (p[n] >= 'A' && p[n] <= 'Z'))
    n++;
  return n;
}

static void skip_ws(const char **p)
{
  while (**p == ' ' || **p == '\t')
    (*p)++;
}

static int leap(int y)
{
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Unix seconds of a checked calendar time at UTC offset off (seconds),
 * or 0 when a field is out of range. */
static int64_t to_unix(int y, int mo, int d, int h, int mi, int s, long off)
{
  static const int mdays[12] = {31, 28, 31, 30, 31, 30,
                                31, 31, 30, 31, 30, 31};
  if (y < 1 || y > 9999 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 ||
      s > 60)
    return 0;
  if (d > mdays[mo - 1] + (mo == 2 && leap(y)))
    return 0;
  struct tm tm = {0};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  time_t t = timegm(&tm);
  return (int64_t)t - off;
}

/* A numeric offset "+hhmm", "-hh:mm" at *p, in seconds. */
static int num_zone(const char **p, long *off)
{
  int sign = **p == '-' ? -1 : 1, hh, mm;
  (*p)++;
  if (digits(p, 2, 2, &hh) < 0)
    return -1;
  if (**p == ':')
    (*p)++;
  if (digits(p, 2, 2, &mm) < 0 || hh > 23 || mm > 59)
    return -1;
  *off = sign * (hh * 3600L + mm * 60L);
  return 0;
}

/* RFC 822 / 2822: "[Day,] DD Mon YY[YY] HH:MM[:SS] [zone] [(comment)]";
 * a missing zone is taken as UTC. */
static int64_t parse_rfc822(const char *p)
{
  int d, y, h, mi, s = 0;
  long off = 0;
  skip_ws(&p);
  size_t n = word_len(p);
  if (n > 0) {
    if (name_index(p, n, day_names, 7) < 0)
      return 0;
    p += n;
    skip_ws(&p);
    if (*p == ',')
      p++;
    skip_ws(&p);
  }
  if (digits(&p, 1, 2, &d) < 0 || (*p != ' ' && *p != '\t'))
    return 0;
  skip_ws(&p);
  n = word_len(p);
  int mo = name_index(p, n, month_names, 12);
  if (n == 0 || mo < 0)
    return 0;
  p += n;
  if (*p != ' ' && *p != '\t')
    return 0;
  skip_ws(&p);
  const char *ys = p;
  if (digits(&p, 2, 4, &y) < 0 || p - ys == 3)
    return 0;
  if (p - ys == 2)
    y += y < 50 ? 2000 : 1900;
  if (*p != ' ' && *p != '\t')
    return 0;
  skip_ws(&p);
  if (digits(&p, 1, 2, &h) < 0 || *p++ != ':' || digits(&p, 2, 2, &mi) < 0)
    return 0;
  if (*p == ':') {
    p++;
    if (digits(&p, 2, 2, &s) < 0)
      return 0;
  }
  if (*p != '\0' && *p != ' ' && *p != '\t')
    return 0;
  skip_ws(&p);
  static const struct {
    const char *name;
    int hours;
  } zones[] = {{"GMT", 0},  {"UT", 0},   {"UTC", 0},  {"Z", 0},
               {"EST", -5}, {"EDT", -4}, {"CST", -6}, {"CDT", -5},
               {"MST", -7}, {"MDT", -6}, {"PST", -8}, {"PDT", -7}};
  if (*p == '+' || *p == '-') {
    if (num_zone(&p, &off) < 0)
      return 0;
  } else if ((n = word_len(p)) > 0) {
    size_t z = 0, nz = sizeof(zones) / sizeof(zones[0]);
    while (z < nz && !(strlen(zones[z].name) == n &&
                       strncasecmp(p, zones[z].name, n) == 0))
      z++;
    if (z == nz)
      return 0;
    off = zones[z].hours * 3600L;
    p += n;
  }
  skip_ws(&p);
  if (*p == '(') {
    const char *close = strchr(p, ')');
    if (close == NULL)
      return 0;
    p = close + 1;
    skip_ws(&p);
  }
  if (*p != '\0')
    return 0;
  return to_unix(y, mo + 1, d, h, mi, s, off);
}

/* RFC 3339 "YYYY-MM-DDTHH:MM:SS[.frac](Z|+hh:mm)", also as W3C-DTF has
 * it (dc:date): a date alone, or no seconds. 'T' may be 't' or a space; a
 * missing zone is taken as UTC. */
static int64_t parse_rfc3339(const char *p)
{
  int y, mo, d, h = 0, mi = 0, s = 0;
  long off = 0;
  if (digits(&p, 4, 4, &y) < 0 || *p++ != '-' || digits(&p, 2, 2, &mo) < 0 ||
      *p++ != '-' || digits(&p, 2, 2, &d) < 0)
    return 0;
  if (*p != '\0') {
    if (*p != 'T' && *p != 't' && *p != ' ')
      return 0;
    p++;
    if (digits(&p, 2, 2, &h) < 0 || *p++ != ':' || digits(&p, 2, 2, &mi) < 0)
      return 0;
    if (*p == ':') {
      p++;
      if (digits(&p, 2, 2, &s) < 0)
        return 0;
      if (*p == '.' || *p == ',') {
        p++;
        if (*p < '0' || *p > '9')
          return 0;
        while (*p >= '0' && *p <= '9')
          p++;
      }
    }
    if (*p == 'Z' || *p == 'z') {
      p++;
    } else if (*p == '+' || *p == '-') {
      if (num_zone(&p, &off) < 0)
        return 0;
    }
  }
  if (*p != '\0')
    return 0;
  return to_unix(y, mo, d, h, mi, s, off);
}

static int64_t parse_date(const char *s)
{
  if (s == NULL)
    return 0;
  int64_t t = parse_rfc3339(s);
  return t ? t : parse_rfc822(s);
}

/* ---- items */

struct fields {
  char *id, *title, *link, *guid, *guid_permalink, *summary, *content, *date,
      *date2;
};

static void fields_free(struct fields *f)
{
  free(f->id);
  free(f->title);
  free(f->link);
  free(f->guid);
  free(f->guid_permalink);
  free(f->summary);
  free(f->content);
  free(f->date);
  free(f->date2);
}

static char *hash_id(const char *title, const char *summary)
{
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  unsigned char h[EVP_MAX_MD_SIZE];
  unsigned int hn = 0;
  int ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) &&
           EVP_DigestUpdate(md, title, strlen(title)) &&
           EVP_DigestUpdate(md, "\n", 1) &&
           EVP_DigestUpdate(md, summary, strlen(summary)) &&
           EVP_DigestFinal_ex(md, h, &hn) && hn == 32;
  EVP_MD_CTX_free(md);
  if (!ok)
    return NULL;
  static const char hex[] = "0123456789abcdef";
  char *s = malloc(7 + 64 + 1);
  if (s == NULL)
    return NULL;
  memcpy(s, "sha256:", 7);
  for (unsigned i = 0; i < 32; i++) {
    s[7 + 2 * i] = hex[h[i] >> 4];
    s[8 + 2 * i] = hex[h[i] & 15];
  }
  s[71] = '\0';
  return s;
}

static int starts_http(const char *s)
{
  return strncasecmp(s, "http://", 7) == 0 ||
         strncasecmp(s, "https://", 8) == 0;
}

static void read_rss_item(struct walk *w, const xmlNode *item,
                          struct fields *f)
{
  if (w->fmt == FMT_RSS1)
    f->id = attr_text(w, item, NS_RDF, "about", 1);
  for (const xmlNode *c = item->children; c; c = c->next) {
    if (c->type != XML_ELEMENT_NODE)
      continue;
    if (is_core(w, c, "title")) {
      take_first(w, &f->title, c);
    } else if (is_core(w, c, "link")) {
      take_first(w, &f->link, c);
    } else if (is_core(w, c, "guid")) {
      if (f->guid == NULL) {
        f->guid = elem_text(w, c);
        f->guid_permalink = attr_text(w, c, NULL, "isPermaLink", 0);
      }
    } else if (is_core(w, c, "description")) {
      take_first(w, &f->summary, c);
    } else if (is_elem(c, NS_CONTENT, "encoded", "content")) {
      take_first(w, &f->content, c);
    } else if (is_core(w, c, "pubDate")) {
      take_first(w, &f->date, c);
    } else if (is_elem(c, NS_DC, "date", "dc")) {
      take_first(w, &f->date2, c);
    }
  }
  if (f->id == NULL) {
    f->id = f->guid;
    f->guid = NULL;
  }
  /* No <link>: a guid that is a permalink (the default) and looks like
   * one stands in. */
  if (f->link == NULL && f->id && starts_http(f->id) &&
      !(f->guid_permalink && strcasecmp(f->guid_permalink, "false") == 0) &&
      w->fmt == FMT_RSS2)
    f->link = strdup(f->id);
}

static void read_atom_entry(struct walk *w, const xmlNode *entry,
                            struct fields *f)
{
  char *first_href = NULL;
  for (const xmlNode *c = entry->children; c; c = c->next) {
    if (c->type != XML_ELEMENT_NODE)
      continue;
    if (is_core(w, c, "id")) {
      take_first(w, &f->id, c);
    } else if (is_core(w, c, "title")) {
      take_first(w, &f->title, c);
    } else if (is_core(w, c, "link")) {
      if (f->link != NULL)
        continue;
      char *href = attr_text(w, c, NULL, "href", 0);
      if (href == NULL)
        continue;
      char *rel = attr_text(w, c, NULL, "rel", 0);
      if (rel == NULL || strcmp(rel, "alternate") == 0 ||
          strcmp(rel, "http://www.iana.org/assignments/relation/alternate") ==
              0) {
        f->link = href;
      } else if (first_href == NULL) {
        first_href = href;
      } else {
        free(href);
      }
      free(rel);
    } else if (is_core(w, c, "summary")) {
      take_first(w, &f->summary, c);
    } else if (is_core(w, c, "content")) {
      take_first(w, &f->content, c);
    } else if (is_core(w, c, "updated") || is_core(w, c, "modified")) {
      take_first(w, &f->date, c);
    } else if (is_core(w, c, "published") || is_core(w, c, "issued")) {
      take_first(w, &f->date2, c);
    }
  }
  if (f->link == NULL) {
    f->link = first_href;
    first_href = NULL;
  }
  free(first_href);
}

/* Moves the fields into it; -1 when out of memory. */
static int make_item(struct walk *w, struct fields *f, struct feed_item *it)
{
  memset(it, 0, sizeof(*it));
  if (w->oom)
    return -1;
  if (f->summary == NULL) {
    f->summary = f->content;
    f->content = NULL;
  }
  if (f->date == NULL) {
    f->date = f->date2;
    f->date2 = NULL;
  }
  if (f->title == NULL && (f->title = strdup("")) == NULL)
    return -1;
  if (f->id == NULL && f->link != NULL && (f->id = strdup(f->link)) == NULL)
    return -1;
  if (f->id == NULL &&
      (f->id = hash_id(f->title, f->summary ? f->summary : "")) == NULL)
    return -1;
  it->id = f->id;
  it->title = f->title;
  it->link = f->link;
  it->summary = f->summary;
  it->date = f->date;
  it->time = parse_date(f->date);
  f->id = f->title = f->link = f->summary = f->date = NULL;
  return 0;
}

/* ---- the document */

struct errs {
  char first[512]; /* the first error */
  char fatal[512]; /* the first fatal one */
};

static void one_line(char *dst, size_t cap, const xmlError *e)
{
  const char *m = e->message ? e->message : "unknown error";
  size_t n = 0;
  for (; *m && n + 1 < cap; m++)
    dst[n++] = ((unsigned char)*m < 0x20 || *m == 0x7f) ? ' ' : *m;
  while (n > 0 && ((unsigned char)*m & 0xC0) == 0x80) { /* cut mid-char */
    n--;
    m--;
  }
  while (n > 0 && dst[n - 1] == ' ')
    n--;
  dst[n] = '\0';
  if (e->line > 0 && n + 24 < cap)
    snprintf(dst + n, cap - n, " (line %d)", e->line);
}

#if LIBXML_VERSION >= 21200
static void on_error(void *data, const xmlError *e)
#else
static void on_error(void *data, xmlErrorPtr e)
#endif
{
  const xmlParserCtxt *ctxt = data;
  struct errs *s = ctxt ? ctxt->_private : NULL;
  if (s == NULL || e == NULL || e->level < XML_ERR_ERROR)
    return;
  if (s->first[0] == '\0')
    one_line(s->first, sizeof(s->first), e);
  if (e->level == XML_ERR_FATAL && s->fatal[0] == '\0')
    one_line(s->fatal, sizeof(s->fatal), e);
}

/* snprintf into err, cut before a partial UTF-8 sequence. */
static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
  if (err == NULL || errlen == 0)
    return;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n < errlen)
    return;
  /* cut: drop the last character if it lost bytes */
  size_t k = errlen - 1, i = k;
  while (i > 0 && ((unsigned char)err[i - 1] & 0xC0) == 0x80)
    i--;
  if (i > 0) {
    unsigned char lead = (unsigned char)err[i - 1];
    size_t want = lead < 0x80         ? 1
                  : (lead >> 5) == 6  ? 2
                  : (lead >> 4) == 14 ? 3
                  : (lead >> 3) == 30 ? 4
                                      : 1;
    if (i - 1 + want > k)
      err[i - 1] = '\0';
  }
}

static xmlDoc *parse_xml(const char *body, size_t len, char *err,
                         size_t errlen)
{
  int opts = XML_PARSE_NONET;
#if LIBXML_VERSION >= 21300
  opts |= XML_PARSE_NO_XXE;
#endif
  struct errs es = {{0}, {0}};
  xmlParserCtxt *ctxt = xmlCreateMemoryParserCtxt(body, (int)len);
  if (ctxt == NULL) {
    set_err(err, errlen, "%s", "out of memory");
    return NULL;
  }
  xmlCtxtUseOptions(ctxt, opts);
  /* Whatever libxml2's global defaults say: no entity substitution, no
   * external subset, no validation. */
  ctxt->replaceEntities = 0;
  ctxt->loadsubset = 0;
  ctxt->validate = 0;
  ctxt->options &= ~(XML_PARSE_NOENT | XML_PARSE_DTDLOAD | XML_PARSE_DTDATTR |
                     XML_PARSE_DTDVALID | XML_PARSE_XINCLUDE | XML_PARSE_HUGE);
  ctxt->_private = &es;
  if (ctxt->sax)
    ctxt->sax->serror = on_error;
  xmlParseDocument(ctxt);
  xmlDoc *doc = ctxt->myDoc;
  int ok = doc != NULL && ctxt->wellFormed;
  if (!ok) {
    const char *m = es.fatal[0] ? es.fatal : es.first;
    char last[512] = "";
    if (m[0] == '\0') {
      const xmlError *e = xmlCtxtGetLastError(ctxt);
      if (e)
        one_line(last, sizeof(last), e);
      m = last[0] ? last : "malformed document";
    }
    set_err(err, errlen, "not XML: %s", m);
    xmlFreeDoc(doc);
    doc = NULL;
  }
  ctxt->myDoc = NULL;
  xmlFreeParserCtxt(ctxt);
  return doc;
}

static int count_items(const struct walk *w, const xmlNode *parent,
                       const char *name)
{
  int n = 0;
  for (const xmlNode *c = parent ? parent->children : NULL;
       c && n < FEED_MAX_ITEMS; c = c->next)
    n += is_core(w, c, name);
  return n;
}

void feed_free(struct feed *f)
{
  if (f == NULL)
    return;
  for (int i = 0; i < f->nitems; i++) {
    struct feed_item *it = &f->items[i];
    free(it->id);
    free(it->title);
    free(it->link);
    free(it->summary);
    free(it->date);
  }
  free(f->items);
  free(f->title);
  memset(f, 0, sizeof(*f));
}

int feed_parse(struct feed *out, const char *body, size_t len, char *err,
               size_t errlen)
{
  memset(out, 0, sizeof(*out));
  if (err && errlen)
    err[0] = '\0';
  if (len > FEED_MAX_BYTES) {
    set_err(err, errlen, "%s", "too large: over 16 MiB");
    return -1;
  }
  if (body == NULL || len == 0) {
    set_err(err, errlen, "%s", "not XML: empty document");
    return -1;
  }
  xmlInitParser();
  xmlDoc *doc = parse_xml(body, len, err, errlen);
  if (doc == NULL)
    return -1;

  const xmlNode *root = xmlDocGetRootElement(doc);
  struct walk w = {ENTITY_BUDGET, 0, FMT_RSS2, NULL};
  const xmlNode *channel = NULL, *items_parent = NULL;
  const char *item_name = "item";
  const char *rns = root ? ns_of(root) : NULL;
  if (root && strcmp((const char *)root->name, "rss") == 0) {
    w.fmt = FMT_RSS2;
    w.core_ns = rns;
    for (const xmlNode *c = root->children; c && !channel; c = c->next)
      if (is_core(&w, c, "channel"))
        channel = c;
    items_parent = channel;
  } else if (root && strcmp((const char *)root->name, "RDF") == 0 &&
             ns_eq(rns, NS_RDF)) {
    w.fmt = FMT_RSS1;
    w.core_ns = NS_RSS1;
    for (const xmlNode *c = root->children; c && !channel; c = c->next)
      if (is_core(&w, c, "channel"))
        channel = c;
    items_parent = root;
  } else if (root && strcmp((const char *)root->name, "feed") == 0 &&
             (rns == NULL || strcmp(rns, NS_ATOM) == 0 ||
              strcmp(rns, NS_ATOM03) == 0)) {
    w.fmt = FMT_ATOM;
    w.core_ns = rns;
    channel = root;
    items_parent = root;
    item_name = "entry";
  } else {
    const char *pre = root && root->ns && root->ns->prefix
                          ? (const char *)root->ns->prefix
                          : NULL;
    set_err(err, errlen, "not a feed: root element <%s%s%s>", pre ? pre : "",
            pre ? ":" : "", root ? (const char *)root->name : "");
    xmlFreeDoc(doc);
    return -1;
  }

  int rc = 0;
  if (channel) {
    for (const xmlNode *c = channel->children; c; c = c->next)
      if (is_core(&w, c, "title")) {
        out->title = elem_text(&w, c);
        break;
      }
  }
  int want = count_items(&w, items_parent, item_name);
  if (want > 0 &&
      (out->items = calloc((size_t)want, sizeof(*out->items))) == NULL)
    rc = -1;
  for (const xmlNode *c = items_parent ? items_parent->children : NULL;
       c && rc == 0 && out->nitems < want; c = c->next) {
    if (!is_core(&w, c, item_name))
      continue;
    struct fields f = {0};
    if (w.fmt == FMT_ATOM)
      read_atom_entry(&w, c, &f);
    else
      read_rss_item(&w, c, &f);
    if (make_item(&w, &f, &out->items[out->nitems]) < 0)
      rc = -1;
    else
      out->nitems++;
    fields_free(&f);
  }
  if (w.oom)
    rc = -1;
  xmlFreeDoc(doc);
  if (rc < 0) {
    feed_free(out);
    set_err(err, errlen, "%s", "out of memory");
  }
  return rc;
}
