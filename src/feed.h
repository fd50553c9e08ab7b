/* feed: RSS 2.0, RSS 1.0 (RDF) and Atom 1.0 documents into items, with
 * libxml2 (its reader or its DOM parser; no network, no entity
 * expansion, no DTD loading: a hostile feed cannot fetch or blow up
 * anything).
 *
 * An item's id is what dedups it across polls: RSS <guid>, else <link>,
 * else a hash of title + description; Atom <id>, else <link href>, else
 * the same hash. Text is trimmed, whitespace collapsed, CDATA and
 * character references decoded, HTML tags in descriptions left as text
 * (the dashboard escapes everything it shows). Dates are kept as
 * written, and also as Unix seconds when they parse (RFC 822 for RSS,
 * RFC 3339 for Atom), else 0. */
#ifndef SPATE_FEED_H
#define SPATE_FEED_H

#include <stddef.h>
#include <stdint.h>

#define FEED_MAX_ITEMS 1000 /* items kept per document, the first ones */
#define FEED_MAX_TEXT 4096  /* bytes kept per text field (UTF-8 safe) */

struct feed_item {
  char *id;      /* never NULL */
  char *title;   /* may be "" */
  char *link;    /* may be NULL */
  char *summary; /* description / summary / content, may be NULL */
  char *date;    /* as written, may be NULL */
  int64_t time;  /* Unix seconds, 0 when unknown */
};

struct feed {
  char *title; /* the channel's / feed's title, may be NULL */
  struct feed_item *items;
  int nitems;
};

/* Parses body[0..len). Returns 0, or -1 with a one-line reason in err
 * ("not XML: ...", "not a feed: root element <html>"). */
int feed_parse(struct feed *out, const char *body, size_t len, char *err,
               size_t errlen);
void feed_free(struct feed *f);

#endif
