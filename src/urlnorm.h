/* urlnorm: the canonical form of a URL, the crawl's dedup key.
 *
 * Two URLs that name the same resource by the rules below get the same
 * string; libcurl's URL API (curl_url) does all parsing and RFC 3986
 * reference resolution, this module only rewrites the parts it returns.
 *
 * The contract (every rule is a case in tests/urlnorm_cases.txt):
 *
 *  - Only http and https come out; anything else is "unsupported_scheme".
 *    A URL without a scheme gets http://, as url_check() does.
 *  - Scheme and host are lower-cased. A non-ASCII (IDN) host becomes its
 *    punycode A-label (curl's CURLU_PUNYCODE, libidn2, UTS #46
 *    non-transitional). IPv4 hosts in any form curl accepts ("127.1",
 *    "0x7f.0.0.1") become dotted quads; IPv6 hosts are in curl's
 *    compressed form, lower-cased, zone id kept. Trailing dots of the host
 *    are removed ("example.com." is "example.com"). curl decodes escapes
 *    in a host name ("m%C3%BCnchen.de" is "xn--mnchen-3ya.de"); a host
 *    that is nothing but dots, or still holds a '%' (outside an IPv6 zone
 *    id), is "bad_url".
 *  - The default port is removed (http 80, https 443); any other port is
 *    kept as a plain decimal ("080" is 80).
 *  - An empty path becomes "/"; dot segments are removed (RFC 3986
 *    §5.2.4) after escaped unreserved characters are decoded, as §6.2.2
 *    orders it: "/a/%2E%2E/.." is "/".
 *  - The fragment is removed.
 *  - Percent-encoding (RFC 3986 §6.2.2) in userinfo, path and query: the
 *    hex digits of an escape are upper-cased; an escaped unreserved
 *    character (ALPHA DIGIT - . _ ~) is decoded; no other escape is
 *    decoded ("%2F" stays, so "/a%2Fb" and "/a/b" differ). Bytes that
 *    RFC 3986 does not allow raw in that part (non-ASCII bytes, '"', '<',
 *    '>', '\', '^', '`', '{', '|', '}', '[', ']') are encoded, and so is
 *    a '%' that does not start an escape ("%zz" becomes "%25zz"), so the
 *    output is a valid RFC 3986 URI in ASCII. '+' is left alone.
 *  - Query: split on '&'; empty parameters are dropped ("a=1&&b=2&" is
 *    "a=1&b=2") and an empty query is removed ("/x?" is "/x"). Parameters
 *    stay in their order unless sort_query is set, which sorts them by
 *    name (bytewise, after percent normalisation), stably: parameters with
 *    the same name keep their order.
 *  - Stripped parameters: a query parameter, or a ";name=value" path
 *    parameter of any path segment, whose name matches an entry of
 *    strip_params is removed. Names match ASCII case-insensitively; an
 *    entry ending in '*' matches every name starting with what precedes
 *    the '*'. The default list is urlnorm_default_strip: utm_*, fbclid,
 *    gclid, jsessionid, phpsessid, sid.
 *  - Userinfo is kept (percent-normalised): credentials can change what a
 *    server returns. An empty one ("http://@host/", "http://:@host/") is
 *    dropped.
 *  - Spaces and control characters anywhere are "bad_url" (as url_check:
 *    a caller extracting hrefs from HTML trims them first); an input or
 *    an output longer than max_len is "url_too_long".
 *  - Idempotent: normalising an output returns it unchanged (each result
 *    is normalised again until it no longer changes; one that does not
 *    settle is "bad_url").
 *
 * Thread-safe: no shared state. IDN conversion switches the calling
 * thread's LC_CTYPE to C.UTF-8 for its duration (uselocale), because
 * libidn2 reads the host in the locale's encoding; the process locale is
 * not touched. */
#ifndef SPATE_URLNORM_H
#define SPATE_URLNORM_H

#include <stddef.h>

/* The default strip_params: tracking parameters and session ids. */
extern const char *const urlnorm_default_strip[];

/* All-zero (or a NULL pointer to it) means the defaults. */
struct urlnorm_options {
  int sort_query; /* sort query parameters by name (stable) */
  /* NULL-terminated list of parameter names to drop ("utm_*" is a
   * prefix); NULL means urlnorm_default_strip, a list holding only NULL
   * strips nothing. Not copied: must outlive the calls. */
  const char *const *strip_params;
  size_t max_len; /* input and output limit in bytes; 0 means 8192 */
};

/* Returns the canonical form of url (owned by the caller, free() it), or
 * NULL with *err set to a stable code: ERR_BAD_URL, ERR_UNSUPPORTED_SCHEME,
 * ERR_URL_TOO_LONG, or ERR_INTERNAL when memory ran out. opt may be NULL;
 * err must not be. */
char *urlnorm_normalize(const char *url, const struct urlnorm_options *opt,
                        const char **err);

/* Resolves href (as found in a page: absolute, scheme-relative,
 * path-relative, query- or fragment-only, or empty) against the absolute
 * URL base per RFC 3986 §5.2 (done by curl), then normalises the result
 * as urlnorm_normalize does, with the same output and error contract.
 * base must be an http(s) URL (else ERR_UNSUPPORTED_SCHEME, or
 * ERR_BAD_URL if it does not parse); an href with another scheme
 * ("mailto:", "javascript:", "tel:") is ERR_UNSUPPORTED_SCHEME. curl
 * resolves strictly: "http:g" (RFC 3986 §5.4.2's scheme-but-relative
 * case) is ERR_BAD_URL, not "http://a/b/c/g". max_len applies to base
 * and href each, and to the result. */
char *urlnorm_resolve(const char *base, const char *href,
                      const struct urlnorm_options *opt, const char **err);

/* urlnorm_resolve for a base that is itself a key (an output of
 * urlnorm_normalize or urlnorm_resolve with the same opt), with the same
 * result. The common href of a crawled page — a plain path such as
 * "/docs/a.html" or "b.html", made only of unreserved characters and '/',
 * with no "." or ".." segment — is joined to the key without parsing
 * (about 40 times faster); anything else goes to urlnorm_resolve. */
char *urlnorm_resolve_key(const char *key, const char *href,
                          const struct urlnorm_options *opt, const char **err);

#endif
