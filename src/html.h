/* html: a one-pass streaming tag scanner that pulls out what a fetcher
 * needs from a page (title, links, canonical, robots, base) without
 * building a tree.
 *
 * It follows the WHATWG HTML tokenizer (comments, bogus comments, doctype,
 * the four attribute forms, RCDATA title/textarea, RAWTEXT
 * style/xmp/iframe/noembed/noframes, script data with its <!-- escapes,
 * plaintext, character references) closely enough to agree with a real
 * parser on real pages. It does not model the tree builder: <noscript> is
 * parsed as markup (a fetcher runs no scripts, and links there are real
 * links), and SVG/MathML foreign content and <template> contents are
 * treated like any other markup, so a <title> inside inline SVG counts when
 * it comes first.
 *
 * Character references: numeric ones per the spec (including the
 * windows-1252 remapping of &#128;..&#159;), named ones from the HTML 4
 * set plus &apos; and the HTML 5 upper-case aliases (&AMP; ...). Names
 * outside that table are left as written. The legacy names may omit the
 * ';' as the spec allows (in attribute values only when not followed by an
 * alphanumeric or '=').
 *
 * A NUL byte in a title or attribute value becomes U+FFFD; other bytes,
 * valid UTF-8 or not, are passed through as they are. */
#ifndef SPATE_HTML_H
#define SPATE_HTML_H

#include <stddef.h>
#include <stdint.h>

/* Bytes kept of a title, at most; the cut never splits a UTF-8 sequence. */
#define HTML_TITLE_MAX 1024

/* Every string is owned by the struct, NUL-terminated, and freed by
 * html_info_free(). "Trimmed" means leading and trailing ASCII whitespace
 * (tab, LF, FF, CR, space) removed after references are decoded. */
struct html_info {
  /* Text of the first <title> element, references decoded, whitespace
   * runs collapsed to one space and trimmed, cut to HTML_TITLE_MAX bytes;
   * "" for an empty title, NULL if there is no title element. A title
   * left open at the end of input runs to the end. */
  char *title;
  /* href of the first <link> having an href and a rel whose
   * space-separated tokens include "canonical" (any case); trimmed. */
  char *canonical;
  /* content of the first <meta> having a content and a name equal to
   * "robots" (any case); trimmed. */
  char *meta_robots;
  /* href of the first <base> having an href; trimmed, possibly "". */
  char *base_href;
  /* The URL of the first <meta http-equiv=refresh> whose content names
   * one ("5; url=/next", quotes and "url=" optional), references decoded,
   * not resolved; NULL when none does. */
  char *refresh;
  /* <a> and <area> start tags whose href is non-empty after trimming. */
  int nlinks;
  /* With want_links: the first min(nlinks, max_links) of those hrefs as
   * written (decoded and trimmed, not resolved), each followed by '\0',
   * back to back; NULL when none is stored. */
  char *links;
  size_t links_len; /* bytes used in links, terminators included */
};

/* Scans buf[0..len); buf need not be NUL-terminated and may contain NUL
 * bytes, and nothing outside it is read. Zeroes *out, then fills it.
 * max_links caps the stored list (a negative value means no cap); nlinks
 * counts every link regardless. One pass, linear in len, no recursion;
 * nothing is allocated but the outputs and, only for a rel, name or
 * uncollected href holding a character reference, one scratch buffer. A
 * tag left unterminated at the end of input is ignored, as the spec says.
 * Thread-safe: no state outside the arguments. Returns 0, or -ENOMEM with
 * *out zeroed. */
int html_scan(const char *buf, size_t len, int want_links, int max_links,
              struct html_info *out);

/* Frees the strings and zeroes *info. NULL-safe; idempotent. */
void html_info_free(struct html_info *info);
/* body points just after "<!--": returns the byte after the comment's end
 * (the HTML spec's comment states: the first "-->" or "--!>", or at once
 * for "<!-->" and "<!--->"), or NULL when it runs to e. */
const char *html_comment_end(const char *body, const char *e);
/* The character reference after an '&' at s (text, not an attribute
 * value): how many bytes after the '&' it spans, with its code point in
 * *cp, or 0 when the '&' stands for itself. Numeric references, the HTML 4
 * names and the legacy names without ';' are decoded as html_scan does. */
size_t html_charref(const char *s, const char *e, uint32_t *cp);
/* The '<' of the first "</name" in p[0..e) that closes a RCDATA or
 * RAWTEXT element: name (n lower-case ASCII letters) in any case, followed
 * by whitespace, '/' or '>'; NULL when there is none. */
const char *html_find_close(const char *p, const char *e, const char *name,
                            size_t n);

#endif
