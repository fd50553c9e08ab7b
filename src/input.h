/* input: the URL list, read lazily.
 *
 * A file or stdin is read by a thread of its own into a bounded queue of
 * lines, so a 10-million-line file costs the queue's size in memory and a
 * slow pipe never blocks the event loop. Blank lines and lines starting
 * with '#' are skipped; surrounding whitespace and a trailing CR are
 * trimmed. A line longer than INPUT_LINE_MAX is cut there and flagged, so
 * it still yields a result (url_too_long) instead of unbounded memory. */
#ifndef SPATE_INPUT_H
#define SPATE_INPUT_H

#include <pthread.h>
#include <stddef.h>
#include <stdio.h>

#define INPUT_LINE_MAX 65536
#define INPUT_QUEUE 4096

struct result_crawl;

struct input_line {
  char *text; /* owned, NUL-terminated */
  size_t len;
  int truncated; /* the line was longer than INPUT_LINE_MAX */
  /* A crawl's frontier item: where the URL sits (owned; it moves to the
   * URL's result). NULL for a fetch. */
  struct result_crawl *crawl;
};

struct input {
  /* Arguments given on the command line, served before any file. */
  char **args;
  int nargs;
  int next_arg;

  FILE *fp; /* NULL when only arguments */
  int own_fp;
  pthread_t thread;
  int thread_started;

  pthread_mutex_t lock;
  pthread_cond_t not_full;
  struct input_line ring[INPUT_QUEUE];
  size_t head, count;
  int eof;        /* the reader has finished (end of file or error) */
  int read_errno; /* non-zero when reading failed */
  int stop;       /* asked to stop early */
  int detached;   /* closed while the reader ran: it frees the struct */
  size_t lines_read;

  /* Called from the reader thread when lines become available or at end;
   * must be thread-safe (uv_async_send). */
  void (*notify)(void *arg);
  void *notify_arg;
};

/* Sets up input from args and, when path is non-NULL, from the file path
 * ("-" is stdin). Returns 0 and sets *out, or a negative errno (the file
 * cannot be opened). The reader thread starts with input_start(). args
 * must outlive the input. */
int input_open(struct input **out, char **args, int nargs, const char *path,
               void (*notify)(void *), void *notify_arg);
int input_start(struct input *in);
/* Marks the file part as ended with error e (the reader could not start):
 * arguments are still served, and input_error() reports e. */
void input_fail(struct input *in, int e);
/* Takes the next line (thread-safe: several loops may share one input):
 * returns 1 and fills *out (ownership passes to the
 * caller), 0 when none is ready yet (notify will fire), -1 at the end. */
int input_next(struct input *in, struct input_line *out);
/* Asks the reader to stop; input_next then returns -1 once drained of
 * nothing more (queued lines are dropped: they were never admitted). */
void input_stop(struct input *in);
/* Lines handed out so far plus lines still queued, and whether the end is
 * known: together they give the progress line its total. */
size_t input_total(struct input *in, int *known);
int input_error(struct input *in);
/* Frees the input. A reader still blocked in read() (stdin that never
 * ends, after input_stop) is left to free it when its read returns. */
void input_close(struct input *in);

#endif
