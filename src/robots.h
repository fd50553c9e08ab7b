/* robots: robots.txt per RFC 9309 (the Robots Exclusion Protocol), parsed
 * for one product token and queried per path.
 *
 * Parsing (robots_parse):
 * - Only the first ROBOTS_MAX_BYTES of the body count (RFC 9309 §2.5); a
 *   UTF-8 byte order mark at the start (or a truncated one, EF or EF BB) is
 *   skipped. Lines end in LF, CR or CRLF; '#' starts a comment; a line
 *   longer than ROBOTS_MAX_LINE bytes is cut there and the rest ignored (as
 *   Google's parser does: a cut Disallow still disallows its prefix).
 * - A line is "key: value", whitespace around both tolerated. Without a
 *   colon, "key value" (exactly two words) is accepted too. Keys are
 *   case-insensitive and compared whole; the typos Google's parser accepts
 *   are accepted: "useragent" and "user agent"; "dissallow", "dissalow",
 *   "disalow", "diasllow" and "disallaw"; "site-map". "crawl-delay" (also
 *   "crawldelay") is non-standard but widely used. Other keys and
 *   unparseable lines are ignored.
 * - A group is one or more user-agent lines followed by records; a
 *   user-agent line after any other record starts a new group, and records
 *   before the first user-agent line are ignored (§2.1). The user-agent
 *   value's token is its leading run of [A-Za-z_-] ("Foo Bar" and
 *   "Foo/1.2" name Foo), compared case-insensitively with the caller's
 *   `agent` as a whole; "*" (alone or followed by whitespace) is the
 *   fallback group. Every group naming the agent is merged (§2.2.1); only
 *   when none does are the "*" groups used (merged likewise); a group that
 *   names the agent but has no rules allows everything.
 * - An empty Allow/Disallow value is no rule. At most ROBOTS_MAX_RULES rules
 *   are kept for the agent's groups and as many for the "*" groups; later
 *   ones are dropped.
 * - Crawl-delay: seconds as digits with an optional fraction ("10",
 *   "0.5", ".5"); anything else is ignored. From the chosen groups only;
 *   several values: the largest wins (the most polite reading).
 * - Sitemap lines are collected wherever they appear, in order, at most
 *   ROBOTS_MAX_SITEMAPS; values with control bytes are ignored. They do not
 *   end a group.
 *
 * Matching (robots_allowed):
 * - Patterns and the path are compared as octets (§2.2.2): a valid %XX is
 *   the octet it encodes, in either hex case, so "/a%62" equals "/ab",
 *   "%3A" equals ":" and "%E3%83%84" equals the raw UTF-8 bytes. The RFC
 *   asks for unreserved characters to be decoded and reserved and
 *   non-ASCII ones encoded before comparing, and its table has a raw
 *   "https://foo.bar" in a rule match "https%3A%2F%2Ffoo.bar" in a URI;
 *   comparing octets does all of that. (Google's parser compares encoded
 *   spellings as written; the test data notes the two cases that differ.)
 *   In a pattern a raw '*' is the wildcard and a final raw '$' the end
 *   anchor; %2A and %24 name the octets '*' and '$', and a '$' elsewhere
 *   is literal (§2.2.3). Matching is case-sensitive.
 * - The longest matching pattern wins, its length being the octets it
 *   stands for (a %XX counts one) plus its '*'s and '$'; on a tie Allow
 *   wins. No match allows. "/robots.txt" is always allowed.
 * - Matching a pattern costs time linear in pattern + path (segments
 *   between '*' are found leftmost with memmem, never backtracking). A
 *   query is also bounded as a whole: when ROBOTS_MATCH_STEPS (bytes of
 *   pattern and path compared or scanned, summed over the rules tried,
 *   longest first, until one matches) run out before a decision, the
 *   answer is "disallowed" (fail closed). Only hostile files get there:
 *   thousands of wildcard rules against a very long path.
 *
 * Ownership: every struct robots is the caller's, freed with robots_free.
 * Strings returned by robots_sitemaps live as long as the struct. A parsed
 * struct is never written again, so threads may query it at once. */
#ifndef SPATE_ROBOTS_H
#define SPATE_ROBOTS_H

#include <stddef.h>

#define ROBOTS_MAX_BYTES (500 * 1024)
#define ROBOTS_MAX_LINE 16664 /* 8 * 2083, as Google's parser */
#define ROBOTS_MAX_RULES 10000
#define ROBOTS_MAX_SITEMAPS 64
#define ROBOTS_MATCH_STEPS 10000000

struct robots;

/* Parses body[0..len) (any bytes; body may be NULL when len is 0) keeping
 * the groups that apply to product token `agent` (NULL or "" names no
 * group, so only "*" applies). Returns NULL only when out of memory. */
struct robots *robots_parse(const char *body, size_t len, const char *agent);
/* Policies for when robots.txt could not be used (§2.3.1): a 4xx answer
 * allows everything, a 5xx answer or an unreachable host disallows
 * everything (except /robots.txt itself). NULL when out of memory. */
struct robots *robots_allow_all(void);
struct robots *robots_disallow_all(void);
/* 1 when path may be fetched, else 0. path is the URL's path plus
 * "?query", percent-encoded as sent on the wire, starting with '/'; NULL
 * or "" means "/", and anything from a '#' on is ignored. Also 0 when the
 * step budget runs out or memory for the canonical path cannot be had. */
int robots_allowed(const struct robots *r, const char *path);
/* The Crawl-delay of the chosen groups in seconds, -1 if none. */
double robots_crawl_delay(const struct robots *r);
/* Sets *out to the Sitemap URLs (NUL-terminated, in file order; NULL when
 * there are none) and returns how many. */
size_t robots_sitemaps(const struct robots *r, const char *const **out);
void robots_free(struct robots *r);

#endif
