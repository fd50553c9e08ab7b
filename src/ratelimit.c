#include "ratelimit.h"

#include <math.h>

void ratelimit_init(struct ratelimit *r, double rate, double burst,
                    uint64_t now_ms)
{
  r->rate = rate;
  r->burst = burst < 1 ? 1 : burst;
  r->tokens = r->burst;
  r->last_ms = now_ms;
}

void ratelimit_sent(struct ratelimit *r, uint64_t now_ms)
{
  if (r->rate > 0 && now_ms > r->last_ms)
    r->last_ms = now_ms;
}

uint64_t ratelimit_take(struct ratelimit *r, uint64_t now_ms)
{
  if (r->rate <= 0)
    return 0;
  if (now_ms > r->last_ms) {
    r->tokens += (double)(now_ms - r->last_ms) * r->rate / 1000.0;
    if (r->tokens > r->burst)
      r->tokens = r->burst;
    r->last_ms = now_ms;
  }
  if (r->tokens >= 1.0) {
    r->tokens -= 1.0;
    return 0;
  }
  double wait = ceil((1.0 - r->tokens) * 1000.0 / r->rate);
  return wait < 1 ? 1 : (uint64_t)wait;
}
