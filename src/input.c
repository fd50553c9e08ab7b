#include "input.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void input_free(struct input *in)
{
  while (in->count) {
    free(in->ring[in->head].text);
    in->head = (in->head + 1) % INPUT_QUEUE;
    in->count--;
  }
  if (in->own_fp)
    fclose(in->fp);
  pthread_cond_destroy(&in->not_full);
  pthread_mutex_destroy(&in->lock);
  free(in);
}

int input_open(struct input **out, char **args, int nargs, const char *path,
               void (*notify)(void *), void *notify_arg)
{
  struct input *in = calloc(1, sizeof(*in));
  *out = NULL;
  if (!in)
    return -ENOMEM;
  in->args = args;
  in->nargs = nargs;
  in->notify = notify;
  in->notify_arg = notify_arg;
  pthread_mutex_init(&in->lock, NULL);
  pthread_cond_init(&in->not_full, NULL);
  if (path) {
    if (strcmp(path, "-") == 0) {
      in->fp = stdin;
    } else {
      in->fp = fopen(path, "r");
      if (!in->fp) {
        int e = errno;
        input_free(in);
        return -e;
      }
      in->own_fp = 1;
    }
  } else {
    in->eof = 1;
  }
  *out = in;
  return 0;
}

/* Trims and queues one line; blocks while the queue is full. Returns -1
 * when asked to stop. */
static int push_line(struct input *in, char *line, size_t len, int trunc)
{
  size_t a = 0;
  while (a < len && isspace((unsigned char)line[a]))
    a++;
  while (len > a && isspace((unsigned char)line[len - 1]))
    len--;
  if (len == a || line[a] == '#')
    return 0;
  struct input_line l = {malloc(len - a + 1), len - a, trunc, NULL};
  if (!l.text) {
    pthread_mutex_lock(&in->lock);
    in->read_errno = ENOMEM; /* reported, not a silently short input */
    pthread_mutex_unlock(&in->lock);
    return -1;
  }
  memcpy(l.text, line + a, len - a);
  l.text[len - a] = '\0';

  pthread_mutex_lock(&in->lock);
  while (in->count == INPUT_QUEUE && !in->stop)
    pthread_cond_wait(&in->not_full, &in->lock);
  if (in->stop) {
    pthread_mutex_unlock(&in->lock);
    free(l.text);
    return -1;
  }
  in->ring[(in->head + in->count) % INPUT_QUEUE] = l;
  in->lines_read++;
  /* Notify under the lock: once input_stop() has returned, no notify can
   * be running or start, so the owner may close what notify touches. */
  if (in->count++ == 0)
    in->notify(in->notify_arg);
  pthread_mutex_unlock(&in->lock);
  return 0;
}

static void *reader_main(void *arg)
{
  struct input *in = arg;
  pthread_setname_np(pthread_self(), "spate-input");
  size_t cap = INPUT_LINE_MAX;
  char *line = malloc(cap + 1);
  char chunk[65536];
  size_t len = 0;
  int skipping = 0; /* past INPUT_LINE_MAX: drop bytes up to the newline */
  int err = 0;
  if (!line) {
    err = ENOMEM;
    goto done;
  }
  for (;;) {
    /* read(2), not fread: on a pipe it returns what has arrived, so a
     * URL streamed on stdin is fetched at once, not after 64 KiB more. */
    ssize_t got = read(fileno(in->fp), chunk, sizeof(chunk));
    if (got < 0 && errno == EINTR)
      continue;
    if (got <= 0) {
      if (got < 0)
        err = errno;
      break;
    }
    size_t n = (size_t)got;
    for (size_t i = 0; i < n;) {
      char *nl = memchr(chunk + i, '\n', n - i);
      size_t take = (nl ? (size_t)(nl - chunk) : n) - i;
      if (!skipping) {
        size_t room = cap - len;
        if (take > room) {
          memcpy(line + len, chunk + i, room);
          len += room;
          skipping = 1;
        } else {
          memcpy(line + len, chunk + i, take);
          len += take;
        }
      }
      i += take;
      if (nl) {
        if (push_line(in, line, len, skipping) < 0)
          goto done;
        len = 0;
        skipping = 0;
        i++;
      }
    }
  }
  if (len && push_line(in, line, len, skipping) < 0)
    goto done;
done:
  free(line);
  pthread_mutex_lock(&in->lock);
  in->eof = 1;
  if (err)
    in->read_errno = err;
  if (in->detached) {
    pthread_mutex_unlock(&in->lock);
    input_free(in);
    return NULL;
  }
  if (!in->stop)
    in->notify(in->notify_arg);
  pthread_mutex_unlock(&in->lock);
  return NULL;
}

int input_start(struct input *in)
{
  if (!in->fp)
    return 0;
  int rc = pthread_create(&in->thread, NULL, reader_main, in);
  if (rc)
    return -rc;
  in->thread_started = 1;
  return 0;
}

void input_fail(struct input *in, int e)
{
  pthread_mutex_lock(&in->lock);
  in->eof = 1;
  in->read_errno = e;
  pthread_mutex_unlock(&in->lock);
}

int input_next(struct input *in, struct input_line *out)
{
  pthread_mutex_lock(&in->lock);
  if (in->next_arg < in->nargs && !in->stop) {
    const char *a = in->args[in->next_arg++];
    pthread_mutex_unlock(&in->lock);
    size_t n = strlen(a);
    out->crawl = NULL;
    out->truncated = n > INPUT_LINE_MAX;
    out->len = out->truncated ? INPUT_LINE_MAX : n;
    out->text = strndup(a, out->len);
    if (!out->text)
      input_fail(in, ENOMEM); /* reported as an input error, not an end */
    return out->text ? 1 : -1;
  }
  if (in->count) {
    *out = in->ring[in->head];
    in->head = (in->head + 1) % INPUT_QUEUE;
    /* Wake the reader only when half the ring is free, so it refills in
     * bulk instead of one line per wake-up. */
    if (in->count-- == INPUT_QUEUE / 2 + 1 || in->count == 0)
      pthread_cond_signal(&in->not_full);
    pthread_mutex_unlock(&in->lock);
    return 1;
  }
  int end = in->eof || in->stop;
  pthread_mutex_unlock(&in->lock);
  return end ? -1 : 0;
}

void input_stop(struct input *in)
{
  pthread_mutex_lock(&in->lock);
  in->stop = 1;
  pthread_cond_broadcast(&in->not_full);
  pthread_mutex_unlock(&in->lock);
  /* A reader blocked in fread on a pipe cannot be woken portably; it is
   * detached on close instead of joined (see input_close). */
}

size_t input_total(struct input *in, int *known)
{
  pthread_mutex_lock(&in->lock);
  size_t n = (size_t)in->nargs + in->lines_read;
  /* Arguments are all known at once; the file's end only when read. */
  *known = in->eof;
  pthread_mutex_unlock(&in->lock);
  return n;
}

int input_error(struct input *in)
{
  pthread_mutex_lock(&in->lock);
  int e = in->read_errno;
  pthread_mutex_unlock(&in->lock);
  return e;
}

void input_close(struct input *in)
{
  if (in->thread_started) {
    pthread_mutex_lock(&in->lock);
    if (!in->eof) {
      in->stop = 1;
      in->detached = 1;
      pthread_cond_broadcast(&in->not_full);
      /* Detach before unlocking: once unlocked, the reader may see
       * detached and free in. */
      pthread_detach(in->thread);
      pthread_mutex_unlock(&in->lock);
      return;
    }
    pthread_mutex_unlock(&in->lock);
    pthread_join(in->thread, NULL);
  }
  input_free(in);
}
