/* sink_csv: RFC 4180 CSV, a header row of result_columns, then one row per
 * result. Lines end with CRLF as the RFC says; a field is quoted only when
 * it holds a comma, a quote, CR or LF. NULL and "" both become an empty
 * field (CSV cannot tell them apart; JSONL and SQLite can). */
#include "buf.h"
#include "result.h"
#include "sink_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sink_out {
  struct sink_fd *fd;
  struct buf tmp; /* the fields object of the row being written */
};

static int put_field(struct buf *b, const char *s, size_t n)
{
  const char *q = memchr(s, '"', n);
  size_t i;
  for (i = 0; !q && i < n; i++)
    if (s[i] == ',' || s[i] == '\r' || s[i] == '\n')
      break;
  if (!q && i == n)
    return buf_append(b, s, n);
  if (buf_putc(b, '"'))
    return -ENOMEM;
  /* Copy up to and including each quote, then double it. */
  while ((q = memchr(s, '"', n))) {
    size_t k = (size_t)(q - s) + 1;
    if (buf_append(b, s, k) || buf_putc(b, '"'))
      return -ENOMEM;
    s += k;
    n -= k;
  }
  if (buf_append(b, s, n))
    return -ENOMEM;
  return buf_putc(b, '"');
}

static int put_str(struct buf *b, const char *s)
{
  return s ? put_field(b, s, strlen(s)) : 0;
}

static int put_int(struct buf *b, long long v)
{
  char num[24];
  int n = snprintf(num, sizeof(num), "%lld", v);
  return buf_append(b, num, (size_t)n);
}

static int put_ms(struct buf *b, double ms)
{
  char num[32];
  char *e = result_put_ms(num, ms);
  /* An impossible duration is left empty, as JSONL writes null. */
  if (e - num == 4 && memcmp(num, "null", 4) == 0)
    return 0;
  return buf_append(b, num, (size_t)(e - num));
}

static int put_row(void *ctx, const struct result *r, struct buf *b)
{
  struct sink_out *o = ctx;
  char when[32];
  char *e = result_put_time(when, r->fetched_at_us);
  buf_reset(&o->tmp);
  if (result_fields_json(r, &o->tmp))
    return -ENOMEM;
  if (put_str(b, r->url) || buf_putc(b, ',') || put_str(b, r->final_url) ||
      buf_putc(b, ',') || put_int(b, r->status) || buf_putc(b, ',') ||
      put_str(b, r->error) || buf_putc(b, ',') || put_int(b, r->attempts) ||
      buf_putc(b, ',') || put_ms(b, r->elapsed_ms) || buf_putc(b, ',') ||
      (r->ttfb_ms >= 0 && put_ms(b, r->ttfb_ms)) || buf_putc(b, ',') ||
      put_int(b, r->bytes) || buf_putc(b, ',') ||
      put_str(b, r->content_type) || buf_putc(b, ',') ||
      put_str(b, r->title) || buf_putc(b, ',') || put_int(b, r->nlinks) ||
      buf_putc(b, ',') || put_str(b, r->canonical) || buf_putc(b, ',') ||
      put_str(b, r->meta_robots) || buf_putc(b, ',') || put_str(b, r->hash) ||
      buf_putc(b, ',') || buf_append(b, when, (size_t)(e - when)) ||
      buf_putc(b, ',') || put_field(b, o->tmp.data, o->tmp.len) ||
      buf_append(b, "\r\n", 2))
    return -ENOMEM;
  return 0;
}

static int csv_open(struct sink_out **out, const char *path,
                    const struct sink_options *opt, char *err)
{
  (void)opt;
  struct sink_out *o = calloc(1, sizeof(*o));
  struct buf *b;
  int rc;

  *out = NULL;
  if (!o) {
    snprintf(err, SINK_ERRMSG_MAX, "out of memory");
    return -ENOMEM;
  }
  rc = sink_fd_open(&o->fd, path, err);
  if (rc)
    goto fail;
  /* The header goes out with the first rows; a run that writes nothing
   * still leaves a header-only file at close. */
  b = sink_fd_buf(o->fd);
  for (int i = 0; result_columns[i] && !rc; i++)
    rc = (i && buf_putc(b, ',')) || buf_puts(b, result_columns[i]);
  if (rc || buf_append(b, "\r\n", 2)) {
    rc = -ENOMEM;
    snprintf(err, SINK_ERRMSG_MAX, "out of memory");
    goto fail;
  }
  *out = o;
  return 0;

fail:
  if (o->fd) {
    char ignored[SINK_ERRMSG_MAX];
    sink_fd_close(o->fd, 1, ignored);
  }
  free(o);
  return rc;
}

static int csv_write(struct sink_out *o, struct result *const *rs, size_t n,
                     char *err)
{
  return sink_fd_write_rows(o->fd, rs, n, put_row, o, err);
}

static int csv_flush(struct sink_out *o, char *err)
{
  return sink_fd_drain(o->fd, 0, err);
}

static int csv_close(struct sink_out *o, int failed, char *err)
{
  int rc = sink_fd_close(o->fd, failed, err);
  buf_free(&o->tmp);
  free(o);
  return rc;
}

const struct sink_format sink_csv_format = {
    .open = csv_open,
    .write = csv_write,
    .flush = csv_flush,
    .close = csv_close,
};
