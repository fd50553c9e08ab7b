/* sitemap: the URLs a sitemap lists (sitemaps.org protocol 0.9): a
 * <urlset> of <url><loc>, or a <sitemapindex> of <sitemap><loc>, plain or
 * gzip-compressed, read by libxml2's streaming reader.
 *
 * Safety as in feed.c: no network, no DTD loading, no entity substitution
 * and no validation, set on the reader itself; a <loc> is the text and
 * CDATA directly inside it (an entity reference other than the five
 * predefined ones is skipped, never expanded); one longer than
 * SITEMAP_LOC_MAX bytes is counted but not handed over. Decompressed and read,
 * a sitemap is at most SITEMAP_MAX_BYTES, the protocol's own limit; past that
 * it is cut. */
#ifndef SPATE_SITEMAP_H
#define SPATE_SITEMAP_H

#include <stddef.h>

#define SITEMAP_MAX_BYTES (50u * 1024 * 1024)
#define SITEMAP_LOC_MAX 8192

/* Whether a response is worth sitemap_scan(): gzip bytes, or XML by its
 * Content-Type (may be NULL) or its first non-blank byte. */
int sitemap_maybe(const char *content_type, const char *body, size_t len);

/* Calls each(arg, loc) for the first max <loc>s of body[0..len), trimmed
 * and NUL-terminated, in document order; each returns 0 to go on. Returns
 * how many <loc>s the sitemap has (a cut or broken one: how many came
 * before the first error, as URLs after it may have lost characters), or -1
 * when body is not a sitemap (not XML, or another root element) or memory ran
 * out. */
long sitemap_scan(const char *body, size_t len, long max,
                  int (*each)(void *arg, const char *loc), void *arg);

#endif
