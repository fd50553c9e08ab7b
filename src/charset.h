/* charset: an HTML page's bytes turned into UTF-8 before anything reads
 * its title, links or text.
 *
 * A page that is valid UTF-8 is taken as it is, whatever it declares: that
 * is every UTF-8 and every pure-ASCII page, and costs one pass over the
 * bytes. Anything else is decoded from its declared encoding, found as a
 * browser finds it (a simplified WHATWG "prescan"): a byte order mark, the
 * charset parameter of the Content-Type, then a <meta charset> or
 * <meta http-equiv=Content-Type content="...; charset=..."> in the first
 * 1024 bytes; with none, windows-1252, the web's legacy default. Labels are
 * mapped as the Encoding Standard maps them (latin1, iso-8859-1 and
 * us-ascii are windows-1252; gb2312 is GBK; shift_jis is windows-31J),
 * and only the Standard's encodings are decoded: any other label (UTF-7,
 * EBCDIC, an unknown name) is read as windows-1252. A declaration of UTF-8
 * (or, in a meta, UTF-16) on invalid bytes leaves them as they are: the
 * scanners and the sinks replace what is not UTF-8 with U+FFFD. Bytes the
 * decoder rejects become U+FFFD too. */
#ifndef SPATE_CHARSET_H
#define SPATE_CHARSET_H

#include <stddef.h>

/* Longest encoding label kept, terminator included. */
#define CHARSET_NAME_MAX 40

/* Whether p[0..n) is valid UTF-8 (no overlong forms, surrogates or code
 * points past U+10FFFF). */
int charset_is_utf8(const char *p, size_t n);

/* The encoding label body[0..len) declares, by BOM, content_type (may be
 * NULL) or <meta>, lower-cased, into name; 0 when it declares none. */
int charset_declared(const char *content_type, const char *body, size_t len,
                     char name[CHARSET_NAME_MAX]);

/* body[0..len) in UTF-8: NULL when it is to be read as it is (valid UTF-8,
 * or declared UTF-8), else an owned NUL-terminated copy of *out_len bytes.
 * On out of memory, NULL too: the page is then read as it is. */
char *charset_to_utf8(const char *content_type, const char *body, size_t len,
                      size_t *out_len);

#endif
