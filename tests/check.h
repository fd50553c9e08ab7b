/* A tiny test harness: CHECK records a failure and goes on; the test's
 * main returns check_report(), non-zero when anything failed. */
#ifndef SPATE_TESTS_CHECK_H
#define SPATE_TESTS_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_failures;
static int check_count;

#define CHECK(cond)                                                           \
  do {                                                                        \
    check_count++;                                                            \
    if (!(cond)) {                                                            \
      check_failures++;                                                       \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__,        \
              #cond);                                                         \
    }                                                                         \
  } while (0)

#define CHECK_STR(got, want)                                                  \
  do {                                                                        \
    const char *g_ = (got), *w_ = (want);                                     \
    check_count++;                                                            \
    if ((g_ == NULL) != (w_ == NULL) || (g_ && strcmp(g_, w_) != 0)) {        \
      check_failures++;                                                       \
      fprintf(stderr, "%s:%d: got \"%s\", want \"%s\"\n", __FILE__, __LINE__, \
              g_ ? g_ : "(null)", w_ ? w_ : "(null)");                        \
    }                                                                         \
  } while (0)

/* Removes a test's scratch directory and what is in it. */
static inline void check_rmtree(const char *dir)
{
  char cmd[4200];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
  if (system(cmd) != 0)
    fprintf(stderr, "could not remove %s\n", dir);
}

static inline int check_report(const char *name)
{
  fprintf(stderr, "%s: %d checks, %d failed\n", name, check_count,
          check_failures);
  return check_failures ? 1 : 0;
}

#endif
