/* sink_impl: what sink.c needs from each output format, and the pieces of
 * result serialisation the formats share. Internal to the sink_* files and
 * result.c.
 *
 * All format calls run on the writer thread, one at a time, except open,
 * which runs in sink_open on the caller's thread before the writer starts.
 * Each returns 0 or a negative errno, with a one-line message in err
 * (SINK_ERRMSG_MAX bytes). */
#ifndef SPATE_SINK_IMPL_H
#define SPATE_SINK_IMPL_H

#include "sink.h"

#include <stddef.h>
#include <stdint.h>

struct buf;
struct result;
struct sink_out; /* one format's state, defined in its own file */

struct sink_format {
  int (*open)(struct sink_out **out, const char *path,
              const struct sink_options *opt, char *err);
  /* Writes n results; they stay owned by the caller. -EAGAIN: nothing of
   * them was written and the failure may pass (the sink retries the same
   * batch later, err saying why); any other error is final. */
  int (*write)(struct sink_out *o, struct result *const *rs, size_t n,
               char *err);
  /* The queue is empty: make everything written so far visible (write the
   * buffer out, commit the transaction). */
  int (*flush)(struct sink_out *o, char *err);
  /* Flushes unless failed is set (then drops what is pending), closes and
   * frees o whatever happens. */
  int (*close)(struct sink_out *o, int failed, char *err);
};

/* sink_open with a format of the caller's (the crawl's store writer),
 * whatever target is; fmt->open gets opt (opt->format_arg). */
int sink_open_format(struct sink **out, const struct sink_format *fmt,
                     const char *target, const struct sink_options *opt,
                     char err[SINK_ERRMSG_MAX]);

extern const struct sink_format sink_jsonl_format;
extern const struct sink_format sink_csv_format;
extern const struct sink_format sink_sqlite_format;
/* spate serve's items (sink_items.c), for sink_open_format. */
extern const struct sink_format sink_items_format;

/* Buffered output to a file descriptor, for the text formats: records are
 * serialised straight into buf, which goes out with write(2) once it holds
 * SINK_FD_CHUNK bytes or on flush. Own buffering rather than stdio gives
 * the exact errno of a failed write (EPIPE, ENOSPC, EIO). */
#define SINK_FD_CHUNK (256 * 1024)

struct sink_fd;
int sink_fd_open(struct sink_fd **out, const char *path, char *err);
struct buf *sink_fd_buf(struct sink_fd *f);
/* Writes the buffer out if it holds at least min bytes. */
int sink_fd_drain(struct sink_fd *f, size_t min, char *err);
int sink_fd_close(struct sink_fd *f, int failed, char *err);
/* Appends each result as one row (row() formats it into b), writing the
 * buffer out whenever it holds SINK_FD_CHUNK bytes. Returns 0, -ENOMEM, or
 * a write error, with err set. */
typedef int (*sink_row_fn)(void *ctx, const struct result *r, struct buf *b);
int sink_fd_write_rows(struct sink_fd *f, struct result *const *rs, size_t n,
                       sink_row_fn row, void *ctx, char *err);

/* result_put_ms, result_put_time and result_links_json are in result.h. */
/* r->fields as a JSON object, values verbatim. Returns 0 or -ENOMEM. */
int result_fields_json(const struct result *r, struct buf *out);

#endif
