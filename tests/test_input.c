/* The lazy URL reader: trimming, comments, long lines, bounded queue, and
 * a file much larger than the queue. */
#include "check.h"
#include "input.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

static atomic_int notified;

static void notify(void *arg)
{
  (void)arg;
  atomic_fetch_add(&notified, 1);
}

/* Drains the input, polling as the loop would after a notify. */
static size_t drain(struct input *in, char ***out)
{
  size_t n = 0, cap = 0;
  char **v = NULL;
  for (;;) {
    struct input_line l;
    int rc = input_next(in, &l);
    if (rc < 0)
      break;
    if (rc == 0) {
      usleep(1000);
      continue;
    }
    if (n == cap) {
      cap = cap ? cap * 2 : 16;
      v = realloc(v, cap * sizeof(*v));
    }
    if (l.truncated) {
      free(l.text);
      l.text = strdup("<truncated>");
    }
    v[n++] = l.text;
  }
  *out = v;
  return n;
}

static void free_lines(char **v, size_t n)
{
  for (size_t i = 0; i < n; i++)
    free(v[i]);
  free(v);
}

static void test_file(void)
{
  char path[] = "/tmp/spate-test-input-XXXXXX";
  int fd = mkstemp(path);
  FILE *f = fdopen(fd, "w");
  fputs("  http://a/1  \n\n# a comment\n\thttp://a/2\r\nhttp://a/3", f);
  fputc('\n', f);
  for (int i = 0; i < INPUT_LINE_MAX + 10; i++)
    fputc('x', f);
  fputs("\nhttp://a/4", f); /* no final newline */
  fclose(f);

  struct input *in;
  char *args[] = {"http://arg/1"};
  CHECK(input_open(&in, args, 1, path, notify, NULL) == 0);
  CHECK(input_start(in) == 0);
  char **v;
  size_t n = drain(in, &v);
  CHECK(n == 6);
  if (n == 6) {
    CHECK_STR(v[0], "http://arg/1");
    CHECK_STR(v[1], "http://a/1");
    CHECK_STR(v[2], "http://a/2");
    CHECK_STR(v[3], "http://a/3");
    CHECK_STR(v[4], "<truncated>");
    CHECK_STR(v[5], "http://a/4");
  }
  int known;
  CHECK(input_total(in, &known) == 6 && known);
  CHECK(input_error(in) == 0);
  CHECK(atomic_load(&notified) > 0);
  free_lines(v, n);
  input_close(in);
  unlink(path);
}

/* 100,000 lines through a 4,096-line queue: all arrive, in order. */
static void test_large(void)
{
  char path[] = "/tmp/spate-test-input-XXXXXX";
  int fd = mkstemp(path);
  FILE *f = fdopen(fd, "w");
  for (int i = 0; i < 100000; i++)
    fprintf(f, "http://h%d/%d\n", i % 7, i);
  fclose(f);
  struct input *in;
  CHECK(input_open(&in, NULL, 0, path, notify, NULL) == 0);
  CHECK(input_start(in) == 0);
  /* The reader fills the queue and then waits: it never runs ahead. */
  usleep(100000);
  int known;
  CHECK(input_total(in, &known) <= INPUT_QUEUE + 1 && !known);
  char **v;
  size_t n = drain(in, &v);
  CHECK(n == 100000);
  int ordered = 1;
  for (size_t i = 0; i < n && ordered; i++) {
    char want[64];
    snprintf(want, sizeof(want), "http://h%zu/%zu", i % 7, i);
    ordered = strcmp(v[i], want) == 0;
  }
  CHECK(ordered);
  free_lines(v, n);
  input_close(in);
  unlink(path);
}

static void test_errors(void)
{
  struct input *in;
  CHECK(input_open(&in, NULL, 0, "/nonexistent/urls.txt", notify, NULL) ==
        -ENOENT);
  /* A directory opens but cannot be read: the error is reported. */
  CHECK(input_open(&in, NULL, 0, "/", notify, NULL) == 0);
  CHECK(input_start(in) == 0);
  char **v;
  size_t n = drain(in, &v);
  CHECK(n == 0);
  CHECK(input_error(in) == EISDIR);
  free_lines(v, n);
  input_close(in);
}

/* Closing while the reader is blocked on a full queue returns promptly. */
static void test_stop(void)
{
  char path[] = "/tmp/spate-test-input-XXXXXX";
  int fd = mkstemp(path);
  FILE *f = fdopen(fd, "w");
  for (int i = 0; i < 20000; i++)
    fprintf(f, "http://x/%d\n", i);
  fclose(f);
  struct input *in;
  CHECK(input_open(&in, NULL, 0, path, notify, NULL) == 0);
  CHECK(input_start(in) == 0);
  usleep(50000);
  input_stop(in);
  struct input_line l;
  int rc;
  while ((rc = input_next(in, &l)) == 1)
    free(l.text);
  CHECK(rc == -1);
  input_close(in);
  unlink(path);
}

int main(void)
{
  test_file();
  test_large();
  test_errors();
  test_stop();
  return check_report("test_input");
}
