/* sitemap: see sitemap.h. */
#include "sitemap.h"

#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

int sitemap_maybe(const char *content_type, const char *body, size_t len)
{
  if (len >= 2 && (unsigned char)body[0] == 0x1f &&
      (unsigned char)body[1] == 0x8b)
    return 1;
  if (content_type && strcasestr(content_type, "xml"))
    return 1;
  size_t i = 0;
  while (i < len && (body[i] == ' ' || body[i] == '\t' || body[i] == '\r' ||
                     body[i] == '\n'))
    i++;
  return i < len && body[i] == '<';
}

/* gzip body[0..len) inflated, at most SITEMAP_MAX_BYTES of it (a cut
 * stream keeps what came out). NULL when it is not gzip at all or memory
 * ran out. */
static char *gunzip(const char *body, size_t len, size_t *out_len)
{
  z_stream z;
  memset(&z, 0, sizeof(z));
  if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
    return NULL;
  size_t cap = len * 4 + 4096, used = 0;
  if (cap > SITEMAP_MAX_BYTES)
    cap = SITEMAP_MAX_BYTES;
  char *out = malloc(cap);
  z.next_in = (Bytef *)(uintptr_t)body;
  z.avail_in = (uInt)(len < UINT32_MAX ? len : UINT32_MAX);
  int rc = Z_OK;
  while (out && rc == Z_OK) {
    if (used == cap) {
      if (cap == SITEMAP_MAX_BYTES)
        break;
      size_t bigger =
          cap * 2 < SITEMAP_MAX_BYTES ? cap * 2 : SITEMAP_MAX_BYTES;
      char *p = realloc(out, bigger);
      if (!p) {
        free(out);
        out = NULL;
        break;
      }
      out = p;
      cap = bigger;
    }
    z.next_out = (Bytef *)out + used;
    z.avail_out = (uInt)(cap - used);
    rc = inflate(&z, Z_NO_FLUSH);
    used = cap - z.avail_out;
  }
  inflateEnd(&z);
  if (out && used == 0 && rc != Z_STREAM_END) {
    free(out);
    return NULL;
  }
  *out_len = used;
  return out;
}

struct walk {
  xmlParserCtxt *ctxt;
  const char *entry; /* "url" or "sitemap", once the root is known */
  int depth;         /* of the element being read; the root's is 0 */
  int in_entry, in_loc;
  char *loc; /* SITEMAP_LOC_MAX + 1 bytes */
  size_t loc_len;
  int loc_long; /* the <loc> had more than SITEMAP_LOC_MAX bytes */
  long n, max;
  int (*each)(void *arg, const char *loc);
  void *arg;
};

static int is_name(const xmlChar *n, const char *want)
{
  return n && strcmp((const char *)n, want) == 0;
}

static int is_blank(int c)
{
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void on_start(void *ctx, const xmlChar *name, const xmlChar *prefix,
                     const xmlChar *uri, int nns, const xmlChar **ns,
                     int nattr, int ndefaulted, const xmlChar **attrs)
{
  struct walk *w = ctx;
  (void)prefix, (void)uri, (void)nns, (void)ns, (void)nattr, (void)ndefaulted,
      (void)attrs;
  int d = ++w->depth;
  if (d == 0) {
    w->entry = is_name(name, "urlset")         ? "url"
               : is_name(name, "sitemapindex") ? "sitemap"
                                               : NULL;
    if (!w->entry)
      xmlStopParser(w->ctxt);
  } else if (d == 1) {
    w->in_entry = is_name(name, w->entry);
  } else if (d == 2 && w->in_entry && is_name(name, "loc")) {
    w->in_loc = 1;
    w->loc_len = 0;
    w->loc_long = 0;
  } else if (d > 2) {
    w->in_loc = 0; /* text of an element inside <loc> is not the URL */
  }
}

static void on_end(void *ctx, const xmlChar *name, const xmlChar *prefix,
                   const xmlChar *uri)
{
  struct walk *w = ctx;
  (void)name, (void)prefix, (void)uri;
  int d = w->depth--;
  if (d == 1) {
    w->in_entry = 0;
  } else if (d == 2 && w->in_loc) {
    w->in_loc = 0;
    size_t a = 0, b = w->loc_len;
    while (a < b && is_blank((unsigned char)w->loc[a]))
      a++;
    while (b > a && is_blank((unsigned char)w->loc[b - 1]))
      b--;
    w->loc[b] = '\0';
    /* Past the first error libxml2 recovers, but drops every entity
     * reference after it, &amp; included: the URLs from there on could
     * be wrong, so they are not taken. */
    if (!w->ctxt->wellFormed) {
      xmlStopParser(w->ctxt);
      return;
    }
    if (a == b)
      return;
    /* A URL cut short is another URL: one too long is counted, not
     * handed over. */
    if (w->loc_long) {
      w->n++;
      return;
    }
    if (w->n++ < w->max && w->each(w->arg, w->loc + a))
      xmlStopParser(w->ctxt);
  }
}

static void on_text(void *ctx, const xmlChar *p, int len)
{
  struct walk *w = ctx;
  if (!w->in_loc || len <= 0)
    return;
  size_t n = (size_t)len;
  if (n > SITEMAP_LOC_MAX - w->loc_len) {
    n = SITEMAP_LOC_MAX - w->loc_len;
    w->loc_long = 1;
  }
  memcpy(w->loc + w->loc_len, p, n);
  w->loc_len += n;
}

long sitemap_scan(const char *body, size_t len, long max,
                  int (*each)(void *arg, const char *loc), void *arg)
{
  char *plain = NULL;
  if (len >= 2 && (unsigned char)body[0] == 0x1f &&
      (unsigned char)body[1] == 0x8b) {
    if (!(plain = gunzip(body, len, &len)))
      return -1;
    body = plain;
  }
  if (len > SITEMAP_MAX_BYTES)
    len = SITEMAP_MAX_BYTES;
  struct walk w = {.depth = -1, .max = max, .each = each, .arg = arg};
  xmlInitParser();
  w.loc = malloc(SITEMAP_LOC_MAX + 1);
  w.ctxt = w.loc && len ? xmlCreateMemoryParserCtxt(body, (int)len) : NULL;
  if (!w.ctxt) {
    free(w.loc);
    free(plain);
    return -1;
  }
  /* SAX, so memory stays flat however long the sitemap: only the element
   * and text events, so no tree, no entity table (a reference to a
   * declared entity is an undefined one here: never expanded, never
   * loaded), no DTD. RECOVER: a sitemap with a mistake still gives the
   * URLs around it. */
  xmlSAXHandler *sax = w.ctxt->sax;
  memset(sax, 0, sizeof(*sax));
  sax->initialized = XML_SAX2_MAGIC;
  sax->startElementNs = on_start;
  sax->endElementNs = on_end;
  sax->characters = on_text;
  sax->cdataBlock = on_text;
  w.ctxt->userData = &w;
  xmlCtxtUseOptions(w.ctxt, XML_PARSE_NONET | XML_PARSE_RECOVER |
                                XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
  w.ctxt->options &= ~(XML_PARSE_NOENT | XML_PARSE_DTDLOAD |
                       XML_PARSE_DTDATTR | XML_PARSE_DTDVALID);
  w.ctxt->replaceEntities = 0;
  w.ctxt->loadsubset = 0;
  w.ctxt->validate = 0;
  xmlParseDocument(w.ctxt);
  if (w.ctxt->myDoc)
    xmlFreeDoc(w.ctxt->myDoc);
  xmlFreeParserCtxt(w.ctxt);
  free(w.loc);
  free(plain);
  return w.entry ? w.n : -1;
}
