/* failpoint: the testing aids SPATE_TEST_FAIL_* (spate(1), ENVIRONMENT).
 * Every Nth attempt at something fails as if there were no memory for it,
 * so that the paths taken under memory pressure run in the tests. The
 * variable is read where options are filled in (the CLI); the engine only
 * counts, with a counter of its own. failpoint_every also reads the other
 * numeric testing aids (SPATE_TEST_HOSTS_MAX). */
#ifndef SPATE_FAILPOINT_H
#define SPATE_FAILPOINT_H

#include <stdint.h>
#include <stdlib.h>

/* N from the environment variable name; 0 (never) when it is unset. */
static inline unsigned failpoint_every(const char *name)
{
  const char *v = getenv(name);
  return v ? (unsigned)strtoul(v, NULL, 10) : 0;
}

/* Counts one attempt in *seq: 1 when it is the Nth, to fail. */
static inline int failpoint_hit(unsigned every, uint64_t *seq)
{
  return every && ++*seq % every == 0;
}

#endif
