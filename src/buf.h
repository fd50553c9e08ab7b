/* buf: a growable byte buffer with a hard cap.
 *
 * The caller owns the struct (usually embedded) and frees the storage with
 * buf_free(). data is always NUL-terminated when non-NULL, so a body can be
 * handed to C string functions without a copy. */
#ifndef SPATE_BUF_H
#define SPATE_BUF_H

#include <stddef.h>

struct buf {
  char *data;
  size_t len;
  size_t cap; /* allocated bytes, excluding the terminating NUL */
};

/* Makes room for extra more bytes. Returns 0, or -ENOMEM. */
int buf_reserve(struct buf *b, size_t extra);
/* Appends n bytes. Returns 0, or -ENOMEM. */
int buf_append(struct buf *b, const void *p, size_t n);
int buf_puts(struct buf *b, const char *s);
int buf_putc(struct buf *b, char c);
/* printf-style append. Returns 0, or -ENOMEM. */
int buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Appends s[0..n) as a JSON string literal, quotes included. Invalid UTF-8
 * becomes U+FFFD, so the output is always valid JSON. */
int buf_json_str(struct buf *b, const char *s, size_t n);
/* Hands the storage to the caller (NUL-terminated, or NULL if empty) and
 * resets the buffer. */
char *buf_steal(struct buf *b);
void buf_reset(struct buf *b); /* len = 0, storage kept */
void buf_free(struct buf *b);

#endif
