/* store: the crawl's state and output in one SQLite file — the frontier
 * (exact seen-set and queue), one row per fetched page, the link graph and
 * the full-text index that `spate search` reads. The schema and the crash
 * argument are in docs/STORE.md; change both together and bump
 * STORE_SCHEMA_VERSION.
 *
 * Threads: a struct store belongs to ONE thread, the crawl's store writer
 * (the connection is opened without SQLite's mutexes). It may be opened on
 * one thread and then handed to another, as the sinks do, but never used
 * from two at once. Readers (`spate search`, an sqlite3 shell) use their
 * own connections; WAL lets them read while the writer writes.
 *
 * Ids: a URL's frontier id is also its page's id (pages.id, page_text.id,
 * pages_fts.rowid, links.from_id), and the referrer of a URL is the
 * frontier id of the page that linked to it (0 for a seed).
 *
 * Transactions: the mutating calls run inside the transaction opened by
 * store_begin() and are made durable together by store_commit(); called
 * outside one, each call is its own transaction. After any error inside
 * store_begin()/store_commit() the transaction may hold part of a call's
 * work: call store_rollback() (store_commit() refuses to commit it).
 *
 * Errors are negative errno values (-ENOMEM, -ENOSPC, -EIO, -EBUSY,
 * -EINVAL, -ENOENT...); store_errmsg() has the one-line reason. */
#ifndef SPATE_STORE_H
#define SPATE_STORE_H

#include <stddef.h>
#include <stdint.h>

struct result;
struct store;

/* 2: frontier.host and the per-host queue index (a store of version 1 is
 * upgraded in place when opened). */
#define STORE_SCHEMA_VERSION "2"
/* The value of meta.format in a crawl store. */
#define STORE_FORMAT "spate-crawl"
/* Bytes of a page's text that are stored and indexed, at most; the cut
 * never splits a UTF-8 sequence. */
#define STORE_TEXT_MAX (1024 * 1024)

/* frontier.state */
enum store_state {
  STORE_QUEUED = 0,
  STORE_IN_FLIGHT = 1,
  STORE_DONE = 2,
  /* Stored with a failure of its host's, not its own (the host's breaker
   * was open, its robots.txt could not be had): not taken again this run;
   * the next run forgets the row and queues the URL again. */
  STORE_RETRY = 3,
  STORE_NSTATES
};

/* One URL handed out by store_take(). */
struct store_item {
  int64_t id;          /* frontier id, the page's id once stored */
  char *url;           /* the normalised key (owned) */
  int depth;           /* link distance from the seeds (seeds: 0) */
  int64_t referrer_id; /* frontier id of the linking page, 0 for a seed */
};

/* Creates the file and schema, or opens an existing crawl store (same
 * schema_version; any other database is refused untouched). WAL,
 * synchronous=NORMAL, 5 s busy timeout. Returns 0 or a negative errno with
 * the reason, naming path, in err. */
int store_open(struct store **out, const char *path, char err[256]);
/* Rolls back an open transaction (nothing half-written is committed) and
 * closes. NULL-safe. */
void store_close(struct store *s);
/* The reason for the last failed call on s. */
const char *store_errmsg(const struct store *s);

int store_begin(struct store *s);
/* Commits; on failure the transaction is rolled back. */
int store_commit(struct store *s);
/* Discards the open transaction, if any. */
int store_rollback(struct store *s);

/* meta: the crawl's identity. store_meta_expect() records key=value when
 * key is absent and otherwise checks that it is the same: a resumed crawl
 * passes its parameters (seeds, scope... as one canonical text) and gets
 * -EEXIST, with both values in store_errmsg(), when the store holds another
 * crawl. Keys "format" and "schema_version" belong to the store. */
int store_meta_expect(struct store *s, const char *key, const char *value);
int store_meta_set(struct store *s, const char *key, const char *value);
/* *value is owned by the caller (free()), NULL when key is absent. */
int store_meta_get(struct store *s, const char *key, char **value);

/* Adds URLs (already normalised keys, see urlnorm.h) discovered at depth d
 * from referrer_id (0 for seeds) as queued. A key already in the frontier,
 * in any state, is ignored: the UNIQUE index is the exact seen-set. *added
 * (may be NULL) is how many were new. */
int store_add_urls(struct store *s, const char *const *keys, size_t n,
                   int depth, int64_t referrer_id, size_t *added);
/* The same, and each[i] (each may be NULL) set to 1 when keys[i] was new. */
int store_add_urls_each(struct store *s, const char *const *keys, size_t n,
                        int depth, int64_t referrer_id, size_t *added,
                        unsigned char *each);

/* The length of key's "scheme://authority" prefix: its host in the
 * frontier (0 when key has no "://"). */
size_t store_host_len(const char *key);

/* Takes up to max queued URLs, shallowest first and in discovery order
 * within a depth (breadth-first), and marks them in_flight. *items is an
 * owned array of *n items (NULL when *n is 0), freed with
 * store_items_free(). A crash before the commit rolls the take back (the
 * URLs are queued again); after it, leaves them in_flight for
 * store_requeue_in_flight(). */
int store_take(struct store *s, size_t max, struct store_item **items,
               size_t *n);
/* The same for one host's queue (the per-host index: cheap); host NULL is
 * store_take (every host: a sort of the whole queue, for tools and
 * tests). */
int store_take_host(struct store *s, const char *host, size_t max,
                    struct store_item **items, size_t *n);
/* As store_take_host, but only URLs no deeper than level (level < 0: the
 * host's lowest queued depth), breadth-first by whole levels (frontier's
 * exact_depth). */
int store_take_level(struct store *s, const char *host, int level, size_t max,
                     struct store_item **items, size_t *n);
/* Whether host has any URL queued. */
int store_host_has_queued(struct store *s, const char *host, int *yes);
/* The first host, in byte order after the name after ("" for the first
 * of all), with a URL queued (committed or in the open transaction): a
 * seek in the per-host queue index. *host is a copy to free, or NULL when
 * there is none. Returns 0 or a negative errno. */
int store_next_queued_host(struct store *s, const char *after, char **host);
void store_items_free(struct store_item *items, size_t n);

/* Records the fetch of frontier row frontier_id: marks it done, inserts or
 * replaces its pages row (url and referrer from the frontier row, the rest
 * from r), replaces its outgoing links with r->links, and indexes r->title
 * and text[0..text_len) (the page's visible text, may be NULL; cut at
 * STORE_TEXT_MAX) in pages_fts, unless r->crawl says noindex. r->links must
 * hold normalised keys (the same form as frontier.url), so the graph joins
 * with frontier and pages; a key repeated on a page is one edge. -ENOENT when
 * frontier_id is not in the frontier.
 *
 * To lose nothing in a crash, add the URLs the page links to
 * (store_add_urls) in the same transaction as its store_put_page. */
int store_put_page(struct store *s, int64_t frontier_id,
                   const struct result *r, int depth, const char *text,
                   size_t text_len);

/* The page just stored at frontier_id failed for its host's sake: its row
 * stays until store_requeue_retry (the next run) forgets it and queues
 * the URL again. */
int store_retry_later(struct store *s, int64_t frontier_id);
/* At open: every STORE_RETRY row's page forgotten and its URL queued
 * again; *n (may be NULL) says how many. */
int store_requeue_retry(struct store *s, size_t *n);
/* On resume: puts the in_flight rows of a killed run back to queued (they
 * were never stored as done). *n (may be NULL) is how many. */
int store_requeue_in_flight(struct store *s, size_t *n);

/* Frontier rows by state, committed work plus the open transaction's.
 * Kept in memory (no query): cheap enough for a progress line. Any
 * pointer may be NULL. */
int store_counts(struct store *s, int64_t *queued, int64_t *in_flight,
                 int64_t *done);

/* Rebuilds pages_fts from page_text (after a tokenizer change, or to
 * repair the index); its own transaction. */
int store_rebuild_index(struct store *s);

#endif
