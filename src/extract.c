#include "extract.h"

#include "buf.h"
#include "charset.h"
#include "css.h"
#include "html.h"
#include "result.h"
#include "scope.h"
#include "search.h"
#include "sitemap.h"
#include "store.h"
#include "urlnorm.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <libxml/HTMLparser.h>
#include <libxml/xpath.h>
#include <math.h>
#include <openssl/evp.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum extractor_kind { EXTRACT_JSON, EXTRACT_RE, EXTRACT_XPATH };

/* An xpath: field reads a page of at most this many bytes (libxml2's tree
 * of a page takes several times its size), and keeps at most this many
 * nodes and bytes of their text. */
#define XPATH_DOC_MAX (8u << 20)
#define XPATH_NODES_MAX 1000
#define XPATH_TEXT_MAX (64u << 10)
/* All of a field's text, at most; and libxml2's operation budget for one
 * evaluation (hostile pages can make sibling axes cost cubic time: past
 * the budget the field is null). */
#define XPATH_FIELD_MAX (1u << 20)
#define XPATH_OPS_MAX 5000000

struct extractor {
  char *name;
  enum extractor_kind kind;
  char *expr; /* JSON pointer, the regex source, or the XPath */
  pcre2_code *re;
};

#if LIBXML_VERSION >= 21200
static void quiet_xml(void *arg, const xmlError *e)
#else
static void quiet_xml(void *arg, xmlErrorPtr e)
#endif
{
  (void)arg;
  (void)e;
}

int extract_spec_init(struct extract_spec *s)
{
  memset(s, 0, sizeof(*s));
  s->max_links = 10000;
  s->md = EVP_MD_fetch(NULL, "SHA256", NULL);
  return s->md ? 0 : -ENOMEM;
}

int extract_spec_add(struct extract_spec *s, const char *arg, char *err,
                     size_t errlen)
{
  const char *eq = strchr(arg, '=');
  if (!eq || eq == arg) {
    snprintf(err, errlen,
             "--extract wants NAME=json:/pointer, NAME=re:REGEX, "
             "NAME=xpath:EXPR or NAME=css:SELECTOR, got '%s'",
             arg);
    return -EINVAL;
  }
  const char *spec = eq + 1;
  struct extractor x = {0};
  if (strncmp(spec, "json:", 5) == 0) {
    x.kind = EXTRACT_JSON;
    x.expr = strdup(spec + 5);
    if (x.expr && x.expr[0] != '\0' && x.expr[0] != '/') {
      snprintf(err, errlen,
               "--extract %.*s: a JSON pointer starts with '/'"
               " (or is empty for the whole document)",
               (int)(eq - arg), arg);
      free(x.expr);
      return -EINVAL;
    }
  } else if (strncmp(spec, "re:", 3) == 0) {
    int code;
    PCRE2_SIZE off;
    x.kind = EXTRACT_RE;
    x.expr = strdup(spec + 3);
    x.re =
        pcre2_compile((PCRE2_SPTR)(spec + 3), PCRE2_ZERO_TERMINATED,
                      PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, &code, &off, NULL);
    if (!x.re) {
      PCRE2_UCHAR msg[160];
      pcre2_get_error_message(code, msg, sizeof(msg));
      snprintf(err, errlen, "--extract %.*s: bad regex at offset %zu: %s",
               (int)(eq - arg), arg, (size_t)off, (char *)msg);
      free(x.expr);
      return -EINVAL;
    }
    /* JIT is an optimisation; matching works without it. */
    pcre2_jit_compile(x.re, PCRE2_JIT_COMPLETE);
  } else if (strncmp(spec, "xpath:", 6) == 0 ||
             strncmp(spec, "css:", 4) == 0) {
    x.kind = EXTRACT_XPATH;
    if (spec[0] == 'c') {
      /* A CSS selector is its XPath from here on (css.h). */
      char why[160];
      x.expr = css_to_xpath(spec + 4, why, sizeof(why));
      if (!x.expr) {
        snprintf(err, errlen, "--extract %.*s: bad CSS selector: %s",
                 (int)(eq - arg), arg, why);
        return strcmp(why, "out of memory") ? -EINVAL : -ENOMEM;
      }
    } else {
      x.expr = strdup(spec + 6);
    }
    /* Compiled now so that a typo is a usage error, not a null in every
     * result; each page compiles its own (contexts are per thread).
     * libxml2 wants its first call on the main thread, before workers. */
    xmlInitParser();
    xmlStructuredErrorFunc was = xmlStructuredError;
    void *was_arg = xmlStructuredErrorContext;
    xmlSetStructuredErrorFunc(NULL, quiet_xml);
    xmlXPathCompExprPtr c =
        x.expr && x.expr[0] ? xmlXPathCompile((const xmlChar *)x.expr) : NULL;
    xmlSetStructuredErrorFunc(was_arg, was);
    if (!c) {
      snprintf(err, errlen, "--extract %.*s: bad XPath expression '%s'",
               (int)(eq - arg), arg, x.expr ? x.expr : spec);
      free(x.expr);
      return -EINVAL;
    }
    xmlXPathFreeCompExpr(c);
  } else {
    snprintf(err, errlen,
             "--extract %.*s: unknown kind; use json:/pointer, "
             "re:REGEX, xpath:EXPR or css:SELECTOR",
             (int)(eq - arg), arg);
    return -EINVAL;
  }
  x.name = strndup(arg, (size_t)(eq - arg));
  struct extractor *v = realloc(s->v, (size_t)(s->n + 1) * sizeof(*v));
  if (!x.name || !x.expr || !v) {
    free(x.name);
    free(x.expr);
    pcre2_code_free(x.re);
    if (v)
      s->v = v;
    snprintf(err, errlen, "out of memory");
    return -ENOMEM;
  }
  s->v = v;
  s->v[s->n++] = x;
  if (x.kind == EXTRACT_JSON)
    s->any_json = 1;
  if (x.kind == EXTRACT_XPATH)
    s->any_xpath = 1;
  return 0;
}

void extract_spec_free(struct extract_spec *s)
{
  for (int i = 0; i < s->n; i++) {
    free(s->v[i].name);
    free(s->v[i].expr);
    pcre2_code_free(s->v[i].re);
  }
  free(s->v);
  EVP_MD_free(s->md);
  memset(s, 0, sizeof(*s));
}

/* RFC 6901: '/'-separated reference tokens, "~1" is '/', "~0" is '~'. */
json_t *extract_json_at(json_t *doc, const char *p)
{
  char tok[1024];
  while (doc && *p == '/') {
    p++;
    size_t n = 0;
    while (*p && *p != '/') {
      char c = *p++;
      if (c == '~') {
        if (*p == '0')
          c = '~';
        else if (*p == '1')
          c = '/';
        else
          return NULL;
        p++;
      }
      if (n + 1 >= sizeof(tok))
        return NULL;
      tok[n++] = c;
    }
    tok[n] = '\0';
    if (json_is_object(doc)) {
      doc = json_object_get(doc, tok);
    } else if (json_is_array(doc)) {
      char *end;
      if (n == 0 || (tok[0] == '0' && n > 1) || tok[0] < '0' || tok[0] > '9')
        return NULL;
      unsigned long i = strtoul(tok, &end, 10);
      doc = *end ? NULL : json_array_get(doc, i);
    } else {
      return NULL;
    }
  }
  return *p ? NULL : doc;
}

static char *pointer_in(json_t *doc, const char *pointer)
{
  json_t *v = extract_json_at(doc, pointer);
  return v ? json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
}

char *extract_json_pointer(const char *json, size_t len, const char *pointer)
{
  json_t *doc = json_loadb(json, len, JSON_DECODE_ANY, NULL);
  if (!doc)
    return NULL;
  char *out = pointer_in(doc, pointer);
  json_decref(doc);
  return out;
}

/* The first capture group when the regex has one, else the whole match. */
static char *regex_field(const struct extractor *x, const char *body,
                         size_t len)
{
  pcre2_match_data *md = pcre2_match_data_create_from_pattern(x->re, NULL);
  char *out = NULL;
  if (!md)
    return NULL;
  int rc = pcre2_match(x->re, (PCRE2_SPTR)body, len, 0, 0, md, NULL);
  if (rc > 0) {
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    int g = rc > 1 ? 1 : 0;
    if (ov[2 * g] != PCRE2_UNSET) {
      struct buf b = {0};
      if (buf_json_str(&b, body + ov[2 * g], ov[2 * g + 1] - ov[2 * g]) == 0)
        out = buf_steal(&b);
      buf_free(&b);
    }
  }
  pcre2_match_data_free(md);
  return out;
}

/* Appends to t the text of n's subtree (its string value), up to cap
 * bytes: walked here, so a huge subtree costs no more than cap. */
static int node_text(xmlNodePtr n, struct buf *t, size_t cap)
{
  if (n->type == XML_NAMESPACE_DECL) { /* an xmlNs in XPath's node sets */
    const xmlChar *h = ((xmlNsPtr)(void *)n)->href;
    size_t l = h ? strlen((const char *)h) : 0;
    return buf_append(t, h, l < cap ? l : cap);
  }
  if (n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE ||
      n->type == XML_COMMENT_NODE || n->type == XML_PI_NODE) {
    size_t l = n->content ? strlen((const char *)n->content) : 0;
    return buf_append(t, n->content, l < cap - t->len ? l : cap - t->len);
  }
  xmlNodePtr top = n, c = n->children;
  while (c && t->len < cap) {
    if (c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) {
      size_t l = c->content ? strlen((const char *)c->content) : 0;
      if (buf_append(t, c->content, l < cap - t->len ? l : cap - t->len))
        return -ENOMEM;
    }
    if (c->children && c->type == XML_ELEMENT_NODE) {
      c = c->children;
      continue;
    }
    while (c && !c->next && c != top)
      c = c->parent;
    c = c && c != top ? c->next : NULL;
  }
  return 0;
}

/* The text of a node as JSON, at most cap bytes, cut on a UTF-8
 * boundary. */
static int put_node_text(struct buf *b, xmlNodePtr n, size_t cap)
{
  struct buf t = {0};
  int rc = node_text(n, &t, cap);
  size_t len = t.len;
  if (len == cap && t.data)
    while (len > 0 && ((unsigned char)t.data[len] & 0xC0) == 0x80)
      len--;
  if (!rc)
    rc = buf_json_str(b, t.data ? t.data : "", len);
  buf_free(&t);
  return rc;
}

/* An xpath: field of doc as JSON: a node set is the text of its one node,
 * an array of the texts of several (at most XPATH_NODES_MAX), or NULL
 * (JSON null) when empty; a string, number or boolean is itself. */
static char *xpath_field(const struct extractor *x, xmlDocPtr doc)
{
  xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
  xmlXPathObjectPtr o = NULL;
  struct buf b = {0};
  int rc = -1;
  if (!ctx)
    return NULL;
  ctx->error = quiet_xml;      /* an evaluation error is a null, not a line */
  ctx->node = (xmlNodePtr)doc; /* a relative path starts at the document */
  ctx->opLimit = XPATH_OPS_MAX;
  o = xmlXPathEvalExpression((const xmlChar *)x->expr, ctx);
  if (!o)
    goto out;
  switch (o->type) {
  case XPATH_NODESET: {
    int n = o->nodesetval ? o->nodesetval->nodeNr : 0;
    if (n == 1) {
      rc = put_node_text(&b, o->nodesetval->nodeTab[0], XPATH_TEXT_MAX);
    } else if (n > 1) {
      /* Nodes while the field has room: at most XPATH_FIELD_MAX of text
       * in all, each at most XPATH_TEXT_MAX. */
      size_t room = XPATH_FIELD_MAX;
      rc = buf_putc(&b, '[');
      for (int i = 0; !rc && i < n && i < XPATH_NODES_MAX && room; i++) {
        size_t before = b.len;
        if (i)
          rc = buf_putc(&b, ',');
        if (!rc)
          rc = put_node_text(&b, o->nodesetval->nodeTab[i],
                             room < XPATH_TEXT_MAX ? room : XPATH_TEXT_MAX);
        room = b.len - before >= room ? 0 : room - (b.len - before);
      }
      if (!rc)
        rc = buf_putc(&b, ']');
    }
    break;
  }
  case XPATH_STRING:
    rc = buf_json_str(&b, (const char *)o->stringval,
                      strlen((const char *)o->stringval));
    break;
  case XPATH_NUMBER:
    /* The range test first: a cast of 2^63 or more is undefined. */
    if (isfinite(o->floatval))
      rc = fabs(o->floatval) < 1e15 &&
                   o->floatval == (double)(long long)o->floatval
               ? buf_printf(&b, "%lld", (long long)o->floatval)
               : buf_printf(&b, "%.17g", o->floatval);
    break;
  case XPATH_BOOLEAN:
    rc = buf_puts(&b, o->boolval ? "true" : "false");
    break;
  default:
    break;
  }
out:
  xmlXPathFreeObject(o);
  xmlXPathFreeContext(ctx);
  if (rc) {
    buf_free(&b);
    return NULL;
  }
  return buf_steal(&b);
}

/* The page as libxml2's HTML tree, for xpath: fields; NULL when it is not
 * HTML or too large to parse. body is UTF-8 by now (charset.h). */
static xmlDocPtr xpath_doc(const char *body, size_t len, int html)
{
  if (!html || len > XPATH_DOC_MAX)
    return NULL;
  xmlDocPtr doc = htmlReadMemory(body, (int)len, NULL, "UTF-8",
                                 HTML_PARSE_RECOVER | HTML_PARSE_NOERROR |
                                     HTML_PARSE_NOWARNING | HTML_PARSE_NONET |
                                     HTML_PARSE_COMPACT);
  /* Numbered in document order, node comparisons are O(1): without it
   * sorting a sibling axis's nodes costs cubic time on long lists. */
  if (doc)
    xmlXPathOrderDocElems(doc);
  return doc;
}

static void run_fields(const struct extract_spec *s, const char *body,
                       size_t len, int html, struct result *r)
{
  json_t *doc = NULL;
  xmlDocPtr hdoc = s->any_xpath ? xpath_doc(body, len, html) : NULL;
  if (s->any_json)
    doc = json_loadb(body, len, JSON_DECODE_ANY, NULL);
  r->fields = calloc((size_t)s->n, sizeof(*r->fields));
  if (!r->fields)
    goto out;
  r->nfields = s->n;
  for (int i = 0; i < s->n; i++) {
    const struct extractor *x = &s->v[i];
    char *v = NULL;
    if (x->kind == EXTRACT_JSON)
      v = doc ? pointer_in(doc, x->expr) : NULL;
    else if (x->kind == EXTRACT_XPATH)
      v = hdoc ? xpath_field(x, hdoc) : NULL;
    else
      v = regex_field(x, body, len);
    r->fields[i].name = x->name;
    r->fields[i].json = v ? v : strdup("null");
  }
out:
  json_decref(doc);
  xmlFreeDoc(hdoc);
}

/* Resolves each raw href against base; keeps http(s) links only. */
static void resolve_links(const struct html_info *h, const char *base,
                          struct result *r)
{
  CURLU *u = curl_url();
  struct buf out = {0};
  int n = 0;
  if (!u || curl_url_set(u, CURLUPART_URL, base, 0) != CURLUE_OK)
    goto done;
  /* <base href> may itself be relative to the document's URL. */
  if (h->base_href &&
      curl_url_set(u, CURLUPART_URL, h->base_href, 0) != CURLUE_OK)
    goto done;
  if (!h->links)
    goto done;
  const char *p = h->links, *end = h->links + h->links_len;
  while (p < end) {
    size_t l = strlen(p);
    char *abs = NULL, *scheme = NULL;
    CURLU *c = curl_url_dup(u);
    if (c &&
        curl_url_set(c, CURLUPART_URL, p, CURLU_NON_SUPPORT_SCHEME) ==
            CURLUE_OK &&
        curl_url_get(c, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        (strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0) &&
        curl_url_set(c, CURLUPART_FRAGMENT, NULL, 0) == CURLUE_OK &&
        curl_url_get(c, CURLUPART_URL, &abs, 0) == CURLUE_OK) {
      if (buf_append(&out, abs, strlen(abs) + 1) == 0)
        n++;
    }
    curl_free(abs);
    curl_free(scheme);
    curl_url_cleanup(c);
    p += l + 1;
  }
done:
  curl_url_cleanup(u);
  r->links = out.data ? out.data : strdup("");
  r->nlinks = n;
}

/* Whether the comma/space separated robots directives hold word. */
static int has_directive(const char *v, const char *word)
{
  size_t n = strlen(word);
  while (v && *v) {
    v += strspn(v, " \t,");
    size_t l = strcspn(v, " \t,");
    if (l == n && strncasecmp(v, word, n) == 0)
      return 1;
    v += l;
  }
  return 0;
}

static void crawl_link(const struct extract_spec *s, struct result_crawl *c,
                       const char *key, struct buf *all, struct buf *follow,
                       int *nall)
{
  if (buf_append(all, key, strlen(key) + 1) == 0)
    (*nall)++;
  int why = scope_check(s->crawl, key, c->depth + 1);
  if (why < 0 && c->nofollow)
    why = CRAWL_DROP_NOFOLLOW;
  if (why >= 0) {
    c->drops[why]++;
    return;
  }
  if (buf_append(follow, key, strlen(key) + 1) == 0)
    c->nfollow++;
}

/* href[0..len) without tabs and newlines, spaces as %20 (owned), or
 * NULL when out of memory. */
static char *href_clean(const char *href, size_t len)
{
  char *out = malloc(len * 3 + 1), *o = out;
  if (!out)
    return NULL;
  for (size_t i = 0; i < len; i++) {
    char ch = href[i];
    if (ch == '\t' || ch == '\n' || ch == '\r')
      continue;
    if (ch == ' ') {
      memcpy(o, "%20", 3);
      o += 3;
    } else {
      *o++ = ch;
    }
  }
  *o = '\0';
  return out;
}

/* One href of the page at base: resolved, normalised, and sorted by
 * crawl_link(), or counted as dropped. */
static void crawl_href(const struct extract_spec *s, struct result_crawl *c,
                       const char *base, const char *href, size_t len,
                       struct buf *all, struct buf *follow, int *nall)
{
  const char *err;
  /* As a browser does: tabs and newlines go, spaces are %20. */
  char *clean = strpbrk(href, " \t\n\r") ? href_clean(href, len) : NULL;
  char *key = urlnorm_resolve_key(base, clean ? clean : href, NULL, &err);
  if (key)
    crawl_link(s, c, key, all, follow, nall);
  else
    c->drops[ERR_IS(err, ERR_URL_TOO_LONG) ? CRAWL_DROP_LONG_URL
                                           : CRAWL_DROP_BAD_URL]++;
  free(key);
  free(clean);
}

struct loc_ctx {
  const struct extract_spec *s;
  struct result_crawl *c;
  const char *base;
  struct buf *all, *follow;
  int *nall;
};

static int on_loc(void *arg, const char *loc)
{
  struct loc_ctx *x = arg;
  crawl_href(x->s, x->c, x->base, loc, strlen(loc), x->all, x->follow,
             x->nall);
  return 0;
}

/* Crawl mode: every link as a normalised key (r->links), the ones to
 * follow (r->crawl->follow), and the text to index. */
static void crawl_page(const struct extract_spec *s, const struct html_info *h,
                       const char *body, size_t len, struct result *r)
{
  struct result_crawl *c = r->crawl;
  struct buf all = {0}, follow = {0};
  int nall = 0;
  const char *err;
  c->noindex = has_directive(r->meta_robots, "noindex") ||
               has_directive(r->meta_robots, "none");
  c->nofollow = has_directive(r->meta_robots, "nofollow") ||
                has_directive(r->meta_robots, "none");
  if (r->status >= 300 && r->status < 400) {
    /* A redirect's target (final_url) is followed like a link of the
     * page. */
    char *key =
        r->final_url ? urlnorm_normalize(r->final_url, NULL, &err) : NULL;
    if (!key)
      c->drops[CRAWL_DROP_BAD_URL]++;
    else if (strcmp(key, r->url) != 0)
      crawl_link(s, c, key, &all, &follow, &nall);
    free(key);
  } else if (h) {
    char *base = NULL;
    /* r->url is the page's key (a 3xx is handled above, so it is where
     * the body came from): links resolve against it on the fast path. */
    const char *b = r->url;
    if (h->base_href && h->base_href[0])
      base = urlnorm_resolve_key(b, h->base_href, NULL, &err);
    if (base)
      b = base;
    const char *p = h->links, *end = h->links + h->links_len;
    while (p && p < end) {
      size_t l = strlen(p);
      crawl_href(s, c, b, p, l, &all, &follow, &nall);
      p += l + 1;
    }
    /* A <meta http-equiv=refresh> sends a browser on: its URL is
     * followed like a link (as Scrapy's redirect middleware does). */
    if (h->refresh)
      crawl_href(s, c, b, h->refresh, strlen(h->refresh), &all, &follow,
                 &nall);
    free(base);
    if (!c->noindex) {
      struct buf text = {0};
      if (search_text_from_html(body, len, STORE_TEXT_MAX, &text) == 0 &&
          text.data) {
        c->text = text.data;
        c->text_len = text.len;
      } else {
        buf_free(&text);
      }
    }
  }
  if (!h && r->status >= 200 && r->status < 300 &&
      sitemap_maybe(r->content_type, body, len)) {
    /* A sitemap's URLs are its links (the protocol allows 50,000). */
    struct loc_ctx x = {s, c, r->url, &all, &follow, &nall};
    sitemap_scan(body, len, 50000, on_loc, &x);
  }
  free(r->links);
  r->links = all.data ? all.data : strdup("");
  r->nlinks = nall;
  c->follow = follow.data;
  c->follow_len = follow.len;
}

static int is_html(const char *ct, const char *body, size_t len)
{
  if (ct)
    return strncasecmp(ct, "text/html", 9) == 0 ||
           strncasecmp(ct, "application/xhtml", 17) == 0;
  /* No Content-Type: sniff the start as browsers do, roughly; an XML
   * declaration is XML (a sitemap, a feed). */
  size_t i = len >= 3 && !memcmp(body, "\xEF\xBB\xBF", 3) ? 3 : 0;
  while (i < len && strchr(" \t\r\n", body[i]) && body[i])
    i++;
  if (len - i >= 5 && !memcmp(body + i, "<?xml", 5))
    return 0;
  for (i = 0; i < len && i < 512; i++)
    if (body[i] == '<')
      return 1;
  return 0;
}

void extract_run(const struct extract_spec *s, const char *body, size_t len,
                 const char *content_type, const char *base_url,
                 struct result *r)
{
  if (len) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (EVP_Digest(body, len, md, &mdlen, s->md, NULL) && mdlen == 32) {
      static const char hex[] = "0123456789abcdef";
      for (unsigned i = 0; i < 32; i++) {
        r->hash[2 * i] = hex[md[i] >> 4];
        r->hash[2 * i + 1] = hex[md[i] & 15];
      }
      r->hash[64] = '\0';
    }
  }
  int crawl = s->crawl && r->crawl;
  int scanned = 0, html = is_html(content_type, body, len);
  /* The hash above is of the bytes as served; everything below reads the
   * page in UTF-8. */
  size_t utf8_len;
  char *utf8 =
      html ? charset_to_utf8(content_type, body, len, &utf8_len) : NULL;
  if (utf8) {
    body = utf8;
    len = utf8_len;
  }
  if (html) {
    struct html_info h;
    if (html_scan(body, len, s->want_links || crawl, s->max_links, &h) == 0) {
      r->title = h.title;
      r->canonical = h.canonical;
      r->meta_robots = h.meta_robots;
      h.title = h.canonical = h.meta_robots = NULL;
      r->nlinks = h.nlinks;
      if (crawl)
        crawl_page(s, &h, body, len, r);
      else if (s->want_links)
        resolve_links(&h, base_url, r);
      scanned = 1;
      html_info_free(&h);
    }
  }
  if (crawl && !scanned)
    crawl_page(s, NULL, body, len, r);
  if (s->n)
    run_fields(s, body, len, html, r);
  free(utf8);
}
