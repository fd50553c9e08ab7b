/* retry: which failures are worth another attempt, and when.
 *
 * Transient: connect errors, timeouts, resets and truncated bodies, and HTTP
 * 429, 502, 503, 504. Everything else (DNS failure, TLS, other 4xx, 500,
 * too_large...) is final on the first attempt. Waits use exponential backoff
 * with full jitter, and never undercut a server's Retry-After. */
#ifndef SPATE_RETRY_H
#define SPATE_RETRY_H

#include <stdint.h>
#include <time.h>

int retry_is_transient(const char *error, int status);
/* Full jitter: uniform in [0, min(cap_ms, base_ms * 2^(retry-1))], retry
 * being 1 for the first retry. *rng is the caller's PRNG state (non-zero). */
uint64_t retry_backoff_ms(int retry, uint64_t base_ms, uint64_t cap_ms,
                          uint64_t *rng);
/* Parses a Retry-After value, delta-seconds or an HTTP date, relative to
 * now. Returns the wait in ms (0 for a date in the past), or -1 when the
 * value is neither. */
int64_t retry_after_parse(const char *value, time_t now);

#endif
