/* sink_jsonl: one JSON object per line, to a file or stdout.
 *
 * Records are serialised straight into the output buffer, so a result is
 * copied once, from its fields to the bytes that go to write(2). */
#include "buf.h"
#include "sink_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

struct sink_out {
  struct sink_fd *fd;
};

static int jsonl_open(struct sink_out **out, const char *path,
                      const struct sink_options *opt, char *err)
{
  (void)opt;
  struct sink_out *o = calloc(1, sizeof(*o));
  int rc;

  *out = NULL;
  if (!o) {
    snprintf(err, SINK_ERRMSG_MAX, "out of memory");
    return -ENOMEM;
  }
  rc = sink_fd_open(&o->fd, path, err);
  if (rc) {
    free(o);
    return rc;
  }
  *out = o;
  return 0;
}

static int jsonl_row(void *ctx, const struct result *r, struct buf *b)
{
  (void)ctx;
  return result_to_json(r, b);
}

static int jsonl_write(struct sink_out *o, struct result *const *rs, size_t n,
                       char *err)
{
  return sink_fd_write_rows(o->fd, rs, n, jsonl_row, NULL, err);
}

static int jsonl_flush(struct sink_out *o, char *err)
{
  return sink_fd_drain(o->fd, 0, err);
}

static int jsonl_close(struct sink_out *o, int failed, char *err)
{
  int rc = sink_fd_close(o->fd, failed, err);
  free(o);
  return rc;
}

const struct sink_format sink_jsonl_format = {
    .open = jsonl_open,
    .write = jsonl_write,
    .flush = jsonl_flush,
    .close = jsonl_close,
};
