/* ratelimit: a token bucket, one per host when --rate is given.
 *
 * Time is passed in by the caller (milliseconds from uv_now), so the bucket
 * is deterministic under test. */
#ifndef SPATE_RATELIMIT_H
#define SPATE_RATELIMIT_H

#include <stdint.h>

struct ratelimit {
  double rate;  /* tokens per second; <= 0 means unlimited */
  double burst; /* bucket size */
  double tokens;
  uint64_t last_ms;
};

/* The bucket starts full. */
void ratelimit_init(struct ratelimit *r, double rate, double burst,
                    uint64_t now_ms);
/* Takes one token and returns 0 when one is available at now_ms; otherwise
 * takes nothing and returns how many ms until one will be (>= 1). */
uint64_t ratelimit_take(struct ratelimit *r, uint64_t now_ms);
/* The request a token was taken for went out at now_ms: the bucket fills
 * again from then, not from when the token was taken. Without this, a
 * request that waited in the loop after its take (a busy iteration, curl
 * sending on the next one) and a next one that did not would reach the
 * server closer together than the rate allows. */
void ratelimit_sent(struct ratelimit *r, uint64_t now_ms);

#endif
