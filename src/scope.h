/* scope: which URLs a crawl follows — the scope rule, include/exclude
 * patterns, the depth cap and the trap guards — decided on the
 * normalised key (urlnorm.h) of each discovered link.
 *
 * Scope kinds (the seeds define them; several seeds widen the scope):
 *   host    the link's host name is a seed's host name (any scheme, any
 *           port): http://h/ and https://h:8443/ are one site;
 *   domain  the link's host is a seed's registrable domain or a
 *           subdomain of it (public suffix list, libpsl): seed
 *           www.example.co.uk admits example.co.uk and a.b.example.co.uk;
 *           a seed that is an IP address admits that address only; a
 *           name without a registrable domain (localhost, or a public
 *           suffix itself such as github.io) admits itself and its
 *           subdomains;
 *   prefix  the key starts with a seed's key up to the last '/' of its
 *           path (wget's --no-parent): seed http://h/docs/i.html admits
 *           http://h/docs/... ;
 *   regex   the key matches a PCRE2 pattern (unanchored; anchor it).
 * Then --exclude patterns (any match drops the link) and --include
 * patterns (when given, one must match), both PCRE2 on the key.
 *
 * Traps, checked on every followable link (the counts are reported):
 *   a key longer than max_url_len bytes (default 2,048);
 *   a path of more than max_path_segments segments (default 32);
 *   one non-empty path segment occurring more than max_repeats times
 *   among the first 64 segments (default 3: /a/b/a/b/a/b/a/ is a loop
 *   of relative links);
 *   a query longer than max_query_len bytes (default 1,024) or with more
 *   than max_query_params parameters (default 32).
 * Endless calendars and other ever-new URLs that look ordinary are
 * bounded by --max-depth (default 100) and --max-pages.
 *
 * A built struct scope is only read: any number of threads may use it. */
#ifndef SPATE_SCOPE_H
#define SPATE_SCOPE_H

#include <stddef.h>

enum scope_kind { SCOPE_HOST, SCOPE_DOMAIN, SCOPE_PREFIX, SCOPE_REGEX };

struct scope_options {
  enum scope_kind kind;
  const char *regex; /* SCOPE_REGEX */
  const char *const *include;
  int ninclude;
  const char *const *exclude;
  int nexclude;
  int max_depth;         /* < 0: no cap */
  size_t max_url_len;    /* 0: 2048 */
  int max_path_segments; /* 0: 32 */
  int max_repeats;       /* 0: 3 */
  size_t max_query_len;  /* 0: 1024 */
  int max_query_params;  /* 0: 32 */
  int allow_private;     /* connect to private addresses anywhere */
};

struct scope;

/* Builds the scope for the seeds (normalised keys). Returns 0, or -EINVAL
 * (a bad pattern) or -ENOMEM with a one-line reason in err. */
int scope_new(struct scope **out, const struct scope_options *o,
              const char *const *seeds, int nseeds, char *err, size_t errlen);
void scope_free(struct scope *sc);

/* Whether a link key found on a page at depth-1 (so itself at depth) is
 * followed: -1 when it is, else the enum crawl_drop (result.h) reason. */
int scope_check(const struct scope *sc, const char *key, int depth);

/* The trap guards alone (no scope, depth or patterns): -1 or a reason. */
int scope_trap(const struct scope *sc, const char *key);

/* Whether transfers to hostkey ("scheme://host:port", url.h) may connect
 * to loopback, private, link-local or metadata addresses: with
 * allow_private, or when a seed has that host name. (The seeds were given
 * by the user; a link found on a page was not.) arg is the scope. */
int scope_private_ok(const void *arg, const char *hostkey);

/* The host name of an absolute URL or host key: *len bytes at the return
 * value (brackets of an IPv6 literal included), or NULL. */
const char *scope_url_host(const char *url, size_t *len);

#endif
