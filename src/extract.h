/* extract: turns a fetched body into the result's fields, off the loop.
 *
 * An extract_spec is built once from the options and then only read, so
 * any number of worker threads may run extract_run() on it at once. */
#ifndef SPATE_EXTRACT_H
#define SPATE_EXTRACT_H

#include <stddef.h>

struct result;
struct extractor;
struct scope;

struct extract_spec {
  struct extractor *v;
  int n;
  int want_links; /* --links: the resolved list, not just the count */
  int max_links;  /* cap on the stored list */
  int any_json;   /* some extractor needs the body parsed as JSON */
  int any_xpath;  /* some extractor needs the page's HTML tree */
  void *md;       /* the SHA-256 implementation, fetched once */
  /* A crawl's scope: links become normalised keys (urlnorm.h), sorted
   * into followed and dropped by it, and the page's visible text is kept
   * for the index (results that carry r->crawl only). */
  const struct scope *crawl;
};

int extract_spec_init(struct extract_spec *s);
/* Adds one --extract NAME=KIND:EXPR argument (KIND json or re). Returns 0,
 * or -EINVAL with a one-line reason in err. */
int extract_spec_add(struct extract_spec *s, const char *arg, char *err,
                     size_t errlen);
void extract_spec_free(struct extract_spec *s);

/* Fills title, links, canonical, meta_robots, hash and fields of r from
 * body[0..len) (NUL-terminated at len). base_url resolves relative links.
 * Thread-safe for a shared spec. Out of memory leaves fields unset. */
void extract_run(const struct extract_spec *s, const char *body, size_t len,
                 const char *content_type, const char *base_url,
                 struct result *r);

/* Resolves pointer (RFC 6901) in a JSON text; returns an owned compact
 * JSON text of the value, or NULL when the document does not parse or the
 * pointer matches nothing. Exposed for tests. */
char *extract_json_pointer(const char *json, size_t len, const char *pointer);
/* The value pointer (RFC 6901) names in a parsed document, or NULL; a
 * borrowed reference. */
struct json_t;
struct json_t *extract_json_at(struct json_t *doc, const char *pointer);

#endif
