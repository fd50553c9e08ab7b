/* search: `spate search STORE QUERY` over a crawl store's FTS5 index, and
 * the visible-text pass that produces what the store indexes.
 *
 * Query syntax, ranking, output formats and highlight markers are
 * documented in docs/STORE.md ("Searching"). */
#ifndef SPATE_SEARCH_H
#define SPATE_SEARCH_H

#include <stddef.h>
#include <stdio.h>

struct buf;

/* Highlight markers of the plain-text and JSON outputs (U+00AB, U+00BB).
 * A « or » in the page's own text is shown as ‹ or › (U+2039, U+203A) in
 * a snippet, so a marker is always a marker. */
#define SEARCH_MARK_OPEN "\xC2\xAB"
#define SEARCH_MARK_CLOSE "\xC2\xBB"
/* Terminal (out is a tty, not JSON): bold on, bold off. */
#define SEARCH_TTY_OPEN "\033[1m"
#define SEARCH_TTY_CLOSE "\033[22m"

/* Runs query (FTS5 syntax) against the crawl store at db_path, opened
 * read-only, and writes up to limit results (limit <= 0: 10) to out, best
 * first: bm25 with a title match weighing 10 times a body match. json
 * selects one JSON object per line {rank, url, title, snippet, score};
 * otherwise a numbered block of title, URL and snippet per result, the
 * matches in bold when out is a terminal and between « » when not.
 * Control characters of page text never reach the terminal. Ranking that
 * takes more than max_ms milliseconds (<= 0: 10 s) is given up.
 *
 * Returns the number of results written (0 when nothing matched), or a
 * negative errno with a one-line reason in err: -EINVAL for a query FTS5
 * rejects ("bad query: fts5: syntax error near ..."), one given up ("bad
 * query: gave up after ..."), one too long, or an empty one, or
 * for a file that is not a crawl store; -ENOENT when the file does not
 * exist; -EIO and others for SQLite and output failures. */
int search_query(const char *db_path, const char *query, int limit, int json,
                 int max_ms, FILE *out, char err[256]);

/* Appends the visible text of the HTML html[0..len) to out: text outside
 * tags, with character references decoded (numeric ones, and the common
 * named ones; other names stay as written), whitespace runs collapsed to
 * one space and trimmed, control characters dropped. <script>, <style>,
 * <title> (the store indexes the title on its own), <iframe>, <noembed>,
 * <noframes>, comments, doctypes and processing instructions contribute
 * nothing; <textarea> and <xmp> their raw text; <plaintext> the rest of
 * the input. A tag ends a word unless it is an inline one (<a>, <b>,
 * <span>, <em>, ...), so "<p>a</p><p>b</p>" is "a b" and "w<b>or</b>d"
 * is "word".
 *
 * Not a parser: a single forward pass with bounded look-ahead, linear in
 * len, no recursion, no allocation but out's growth; nothing outside
 * html[0..len) is read (NUL bytes allowed). At most max bytes are
 * appended (0: no cap), cut on a UTF-8 boundary. Bytes are passed through
 * as they are: the caller converts other charsets first. Returns 0 or
 * -ENOMEM (out then holds a prefix). */
int search_text_from_html(const char *html, size_t len, size_t max,
                          struct buf *out);
/* The pass's inner step (search_text_from_html), exposed for its tests:
 * how many of the n bytes at p go to the output unchanged once some text
 * is out, none of whitespace owed: bytes other than controls, DEL, spaces
 * and the stops ('<' when stop_lt, '&' when stop_amp), and a single space
 * between two such bytes. Vectorised where the CPU has SSE2. */
size_t search_text_span(const char *p, size_t n, int stop_lt, int stop_amp);

#endif
