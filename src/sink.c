/* sink: the bounded queue, the writer thread, target dispatch, and the
 * buffered file output the text formats share.
 *
 * Producers append to one array while the writer works on the other; the
 * writer swaps them under the lock, so the lock is taken once per batch
 * however large the batch is, and a slow write never holds it. */
#include "sink.h"

#include "buf.h"
#include "result.h"
#include "sink_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

struct sink {
  const struct sink_format *fmt;
  struct sink_out *out;
  void (*on_written)(void *arg, size_t n);
  void *arg;

  pthread_mutex_t lock;
  pthread_cond_t nonempty; /* the writer waits here for work */
  pthread_cond_t nonfull;  /* producers wait here for room */
  struct result **q;       /* producers append here: nq of cap */
  struct result **spare;   /* the writer's batch after a swap */
  size_t nq, cap;
  size_t write_max;  /* 0: no limit */
  size_t gather_min; /* 0: write whatever is queued at once */
  long gather_ns;
  int closing;
  pthread_t thread;

  /* Written once by the writer (msg first, then err with release order),
   * so a reader that sees err != 0 also sees the message. */
  _Atomic int err;
  char msg[SINK_ERRMSG_MAX];

  /* While a format's write says -EAGAIN (a store briefly unwritable), the
   * writer retries the same batch; stalled and why (under lock) say so. */
  int stalled;
  char why[SINK_ERRMSG_MAX];
};

/* Keeps the first error only: later ones are usually its consequences. */
static void set_error(struct sink *s, int rc, const char *msg)
{
  if (atomic_load_explicit(&s->err, memory_order_relaxed))
    return;
  snprintf(s->msg, sizeof(s->msg), "%s", msg);
  atomic_store_explicit(&s->err, rc, memory_order_release);
}

int sink_error(const struct sink *s)
{
  return atomic_load_explicit(&s->err, memory_order_acquire);
}

const char *sink_errmsg(const struct sink *s)
{
  return sink_error(s) ? s->msg : "";
}

/* Writes one batch; a transient failure (-EAGAIN from the format) is
 * retried with a backoff from 100 ms to 5 s for as long as it lasts, or,
 * once the sink is closing, for CLOSE_RETRY_MS more. */
#define CLOSE_RETRY_MS 10000

static int write_batch(struct sink *s, struct result **batch, size_t n,
                       char *err)
{
  unsigned wait_ms = 100, closing_ms = 0;
  int rc;
  while ((rc = s->fmt->write(s->out, batch, n, err)) == -EAGAIN) {
    int closing;
    pthread_mutex_lock(&s->lock);
    s->stalled = 1;
    snprintf(s->why, sizeof(s->why), "%s", err);
    closing = s->closing;
    pthread_mutex_unlock(&s->lock);
    if (closing && closing_ms >= CLOSE_RETRY_MS)
      break;
    struct timespec ts = {wait_ms / 1000, (long)(wait_ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
    if (closing)
      closing_ms += wait_ms;
    wait_ms = wait_ms * 2 > 5000 ? 5000 : wait_ms * 2;
  }
  pthread_mutex_lock(&s->lock);
  s->stalled = 0;
  pthread_mutex_unlock(&s->lock);
  return rc == -EAGAIN ? -EIO : rc;
}

int sink_stalled(struct sink *s, char *why, size_t len)
{
  pthread_mutex_lock(&s->lock);
  int st = s->stalled;
  if (st && why && len)
    snprintf(why, len, "%s", s->why);
  pthread_mutex_unlock(&s->lock);
  return st;
}

/* Called with the lock held and fewer than gather_min results queued:
 * waits, at most gather_ns, until gather_min are queued or the sink
 * closes. Producers signal nonempty when the queue reaches gather_min. */
static void gather(struct sink *s)
{
  struct timespec dl;
  clock_gettime(CLOCK_MONOTONIC, &dl);
  dl.tv_sec += s->gather_ns / 1000000000;
  dl.tv_nsec += s->gather_ns % 1000000000;
  dl.tv_sec += dl.tv_nsec / 1000000000;
  dl.tv_nsec %= 1000000000;
  while (s->nq < s->gather_min && !s->closing)
    if (pthread_cond_timedwait(&s->nonempty, &s->lock, &dl) == ETIMEDOUT)
      break;
}

static void *writer_main(void *arg)
{
  struct sink *s = arg;
  char err[SINK_ERRMSG_MAX];
  int dirty = 0; /* written since the last flush */

  pthread_setname_np(pthread_self(), "spate-sink");
  pthread_mutex_lock(&s->lock);
  for (;;) {
    if (s->nq == 0 && dirty) {
      /* The queue ran dry: make the output visible now (a reader of the
       * pipe or the db sees rows promptly; a killed process loses at most
       * one batch), then look again, since results may have come in. */
      dirty = 0;
      pthread_mutex_unlock(&s->lock);
      if (!sink_error(s)) {
        int rc = s->fmt->flush(s->out, err);
        if (rc) {
          set_error(s, rc, err);
          /* Wake the engine so it sees the error now, not at its next
           * result. */
          if (s->on_written)
            s->on_written(s->arg, 0);
        }
      }
      pthread_mutex_lock(&s->lock);
      continue;
    }
    if (s->nq == 0) {
      if (s->closing)
        break;
      pthread_cond_wait(&s->nonempty, &s->lock);
      continue;
    }
    if (s->nq < s->gather_min && !s->closing)
      gather(s);
    struct result **batch;
    size_t n = s->nq;
    if (s->write_max && n > s->write_max) {
      /* The oldest write_max go now; the rest move up. */
      n = s->write_max;
      batch = s->spare;
      memcpy(batch, s->q, n * sizeof(*batch));
      memmove(s->q, s->q + n, (s->nq - n) * sizeof(*s->q));
      s->nq -= n;
    } else {
      batch = s->q;
      s->q = s->spare;
      s->spare = batch;
      s->nq = 0;
    }
    pthread_cond_broadcast(&s->nonfull);
    pthread_mutex_unlock(&s->lock);

    /* After a failure results are still taken and freed, so producers
     * never block on a queue nobody drains. */
    if (!sink_error(s)) {
      int rc = write_batch(s, batch, n, err);
      if (rc)
        set_error(s, rc, err);
    }
    for (size_t i = 0; i < n; i++)
      result_free(batch[i]);
    if (s->on_written)
      s->on_written(s->arg, n);
    dirty = 1;
    pthread_mutex_lock(&s->lock);
  }
  pthread_mutex_unlock(&s->lock);
  return NULL;
}

/* Queues r, waiting for room when wait is set; else -EAGAIN when full. */
static int submit(struct sink *s, struct result *r, int wait)
{
  int rc = sink_error(s);
  if (rc) {
    result_free(r);
    return rc;
  }
  pthread_mutex_lock(&s->lock);
  while (wait && s->nq == s->cap && !sink_error(s))
    pthread_cond_wait(&s->nonfull, &s->lock);
  rc = sink_error(s);
  if (!rc && s->nq == s->cap)
    rc = -EAGAIN;
  if (!rc) {
    s->q[s->nq++] = r;
    if (s->nq == 1 || s->nq == s->gather_min)
      pthread_cond_signal(&s->nonempty);
  }
  pthread_mutex_unlock(&s->lock);
  if (rc)
    result_free(r);
  return rc;
}

int sink_submit(struct sink *s, struct result *r)
{
  return submit(s, r, 1);
}

int sink_try_submit(struct sink *s, struct result *r)
{
  return submit(s, r, 0);
}

int sink_submit_many(struct sink *s, struct result **v, size_t n,
                     size_t *nfreed)
{
  int rc = sink_error(s);
  size_t i = 0;
  if (rc || n == 0)
    goto out;
  pthread_mutex_lock(&s->lock);
  size_t before = s->nq;
  int was_empty = before == 0;
  for (; i < n; i++) {
    while (s->nq == s->cap && !sink_error(s)) {
      /* The writer must hear about what is queued before we wait. */
      pthread_cond_signal(&s->nonempty);
      was_empty = 0;
      pthread_cond_wait(&s->nonfull, &s->lock);
    }
    if ((rc = sink_error(s)))
      break;
    s->q[s->nq++] = v[i];
  }
  if ((was_empty && s->nq) ||
      (before < s->gather_min && s->nq >= s->gather_min))
    pthread_cond_signal(&s->nonempty);
  pthread_mutex_unlock(&s->lock);
out:
  *nfreed = n - i;
  for (; i < n; i++)
    result_free(v[i]);
  return rc;
}

static void sink_free(struct sink *s)
{
  pthread_cond_destroy(&s->nonfull);
  pthread_cond_destroy(&s->nonempty);
  pthread_mutex_destroy(&s->lock);
  free(s->spare);
  free(s->q);
  free(s);
}

int sink_close(struct sink *s)
{
  return sink_close_msg(s, NULL);
}

int sink_close_msg(struct sink *s, char msg[SINK_ERRMSG_MAX])
{
  char err[SINK_ERRMSG_MAX];
  pthread_mutex_lock(&s->lock);
  s->closing = 1;
  pthread_cond_signal(&s->nonempty);
  pthread_mutex_unlock(&s->lock);
  pthread_join(s->thread, NULL);

  int failed = sink_error(s) != 0;
  int rc = s->fmt->close(s->out, failed, err);
  if (rc)
    set_error(s, rc, err);
  rc = sink_error(s);
  if (msg)
    snprintf(msg, SINK_ERRMSG_MAX, "%s", rc ? sink_errmsg(s) : "");
  sink_free(s);
  return rc;
}

static int has_suffix(const char *s, const char *suffix)
{
  size_t n = strlen(s), k = strlen(suffix);
  return n > k && strcasecmp(s + n - k, suffix) == 0;
}

static const struct sink_format *format_for(const char *target)
{
  if (has_suffix(target, ".csv"))
    return &sink_csv_format;
  if (has_suffix(target, ".db") || has_suffix(target, ".sqlite") ||
      has_suffix(target, ".sqlite3"))
    return &sink_sqlite_format;
  return &sink_jsonl_format;
}

static int open_with(struct sink **out, const struct sink_format *fmt,
                     const char *target, const struct sink_options *opt,
                     char err[SINK_ERRMSG_MAX]);

int sink_open(struct sink **out, const char *target,
              const struct sink_options *opt, char err[SINK_ERRMSG_MAX])
{
  return open_with(out, NULL, target, opt, err);
}

int sink_open_format(struct sink **out, const struct sink_format *fmt,
                     const char *target, const struct sink_options *opt,
                     char err[SINK_ERRMSG_MAX])
{
  return open_with(out, fmt, target, opt, err);
}

static int open_with(struct sink **out, const struct sink_format *fmt,
                     const char *target, const struct sink_options *opt,
                     char err[SINK_ERRMSG_MAX])
{
  static const struct sink_options defaults = {0};
  char scratch[SINK_ERRMSG_MAX];
  struct sink *s = NULL;
  sigset_t all, old;
  int rc;

  *out = NULL;
  if (!err)
    err = scratch;
  err[0] = '\0';
  if (!opt)
    opt = &defaults;
  if (!target)
    target = "-";
  if (!fmt && (strncmp(target, "postgres://", 11) == 0 ||
               strncmp(target, "postgresql://", 13) == 0)) {
    snprintf(err, SINK_ERRMSG_MAX, "PostgreSQL output is not supported yet");
    return -ENOTSUP;
  }

  s = calloc(1, sizeof(*s));
  if (!s) {
    snprintf(err, SINK_ERRMSG_MAX, "out of memory");
    return -ENOMEM;
  }
  atomic_init(&s->err, 0);
  pthread_mutex_init(&s->lock, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&s->nonempty, &ca);
  pthread_condattr_destroy(&ca);
  pthread_cond_init(&s->nonfull, NULL);
  s->on_written = opt->on_written;
  s->arg = opt->arg;
  s->cap = opt->queue_cap > 0 ? (size_t)opt->queue_cap : 1024;
  s->write_max = opt->write_max > 0 ? (size_t)opt->write_max : 0;
  if (opt->gather_min > 1 && opt->gather_us > 0) {
    s->gather_min = (size_t)opt->gather_min;
    s->gather_ns = (long)opt->gather_us * 1000;
  }
  s->q = malloc(s->cap * sizeof(*s->q));
  s->spare = malloc(s->cap * sizeof(*s->spare));
  if (!s->q || !s->spare) {
    rc = -ENOMEM;
    snprintf(err, SINK_ERRMSG_MAX, "out of memory");
    goto fail;
  }

  s->fmt = fmt ? fmt : format_for(target);
  rc = s->fmt->open(&s->out, target, opt, err);
  if (rc)
    goto fail;

  /* The writer blocks every signal, so handlers run on the engine's
   * threads and never interrupt a write here. */
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  rc = -pthread_create(&s->thread, NULL, writer_main, s);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (rc) {
    snprintf(err, SINK_ERRMSG_MAX, "cannot start the writer thread: %s",
             strerror(-rc));
    s->fmt->close(s->out, 1, scratch);
    goto fail;
  }
  *out = s;
  return 0;

fail:
  sink_free(s);
  return rc;
}

/* Buffered output to a file descriptor (see sink_impl.h). */

struct sink_fd {
  int fd;
  int own; /* not stdout: close it at the end */
  const char *name;
  struct buf buf;
  char path[]; /* name points here, or to "stdout" */
};

int sink_fd_open(struct sink_fd **out, const char *path, char *err)
{
  int is_stdout = strcmp(path, "-") == 0;
  size_t len = strlen(path);
  struct sink_fd *f = calloc(1, sizeof(*f) + len + 1);
  int rc;

  *out = NULL;
  if (!f) {
    snprintf(err, SINK_ERRMSG_MAX, "out of memory");
    return -ENOMEM;
  }
  memcpy(f->path, path, len + 1);
  f->name = is_stdout ? "stdout" : f->path;
  if (is_stdout) {
    f->fd = STDOUT_FILENO;
  } else {
    f->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (f->fd < 0) {
      rc = -errno;
      snprintf(err, SINK_ERRMSG_MAX, "%s: cannot open: %s", path,
               strerror(errno));
      goto fail;
    }
    f->own = 1;
  }
  /* One chunk plus the largest ordinary record, so the buffer settles at
   * its size instead of doubling past the chunk every time. */
  if (buf_reserve(&f->buf, SINK_FD_CHUNK + SINK_FD_CHUNK / 4)) {
    rc = -ENOMEM;
    snprintf(err, SINK_ERRMSG_MAX, "out of memory");
    goto fail;
  }
  *out = f;
  return 0;

fail:
  if (f->own)
    close(f->fd);
  buf_free(&f->buf);
  free(f);
  return rc;
}

struct buf *sink_fd_buf(struct sink_fd *f)
{
  return &f->buf;
}

int sink_fd_write_rows(struct sink_fd *f, struct result *const *rs, size_t n,
                       sink_row_fn row, void *ctx, char *err)
{
  struct buf *b = sink_fd_buf(f);
  for (size_t i = 0; i < n; i++) {
    if (row(ctx, rs[i], b)) {
      snprintf(err, SINK_ERRMSG_MAX, "out of memory");
      return -ENOMEM;
    }
    int rc = sink_fd_drain(f, SINK_FD_CHUNK, err);
    if (rc)
      return rc;
  }
  return 0;
}

int sink_fd_drain(struct sink_fd *f, size_t min, char *err)
{
  if (f->buf.len < min || f->buf.len == 0)
    return 0;
  const char *p = f->buf.data;
  size_t left = f->buf.len;
  while (left) {
    ssize_t n = write(f->fd, p, left);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      int rc = -errno;
      snprintf(err, SINK_ERRMSG_MAX, "%s: write failed: %s", f->name,
               strerror(errno));
      return rc;
    }
    p += n;
    left -= (size_t)n;
  }
  buf_reset(&f->buf);
  return 0;
}

int sink_fd_close(struct sink_fd *f, int failed, char *err)
{
  int rc = failed ? 0 : sink_fd_drain(f, 0, err);
  /* close can report a deferred write error (NFS, quotas). */
  if (f->own && close(f->fd) && !rc) {
    rc = -errno;
    snprintf(err, SINK_ERRMSG_MAX, "%s: close failed: %s", f->name,
             strerror(errno));
  }
  buf_free(&f->buf);
  free(f);
  return rc;
}
