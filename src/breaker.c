#include "breaker.h"

void breaker_init(struct breaker *b, int threshold, uint64_t cooldown_ms,
                  uint64_t max_cooldown_ms)
{
  b->state = BREAKER_CLOSED;
  b->threshold = threshold;
  b->failures = 0;
  b->cooldown_ms = cooldown_ms;
  b->max_cooldown_ms =
      max_cooldown_ms < cooldown_ms ? cooldown_ms : max_cooldown_ms;
  b->cur_cooldown_ms = cooldown_ms;
  b->opened_ms = 0;
  b->probing = 0;
  b->trips = 0;
}

enum breaker_verdict breaker_allow(struct breaker *b, uint64_t now_ms)
{
  if (b->threshold <= 0)
    return BREAKER_ALLOW;
  switch (b->state) {
  case BREAKER_CLOSED:
    return BREAKER_ALLOW;
  case BREAKER_OPEN:
    if (now_ms - b->opened_ms < b->cur_cooldown_ms)
      return BREAKER_REJECT;
    b->state = BREAKER_HALF_OPEN;
    b->probing = 0;
    /* The first caller after the cool-down is the probe. */
    __attribute__((fallthrough));
  case BREAKER_HALF_OPEN:
    if (b->probing)
      return BREAKER_WAIT;
    b->probing = 1;
    return BREAKER_ALLOW;
  }
  return BREAKER_ALLOW;
}

void breaker_success(struct breaker *b)
{
  b->failures = 0;
  if (b->state != BREAKER_CLOSED) {
    b->state = BREAKER_CLOSED;
    b->probing = 0;
    b->cur_cooldown_ms = b->cooldown_ms;
  }
}

static void trip(struct breaker *b, uint64_t now_ms)
{
  b->state = BREAKER_OPEN;
  b->opened_ms = now_ms;
  b->probing = 0;
  b->trips++;
}

void breaker_failure(struct breaker *b, uint64_t now_ms)
{
  if (b->threshold <= 0)
    return;
  b->failures++;
  if (b->state == BREAKER_HALF_OPEN) {
    /* The probe failed: back off harder before the next one. */
    b->cur_cooldown_ms *= 2;
    if (b->cur_cooldown_ms > b->max_cooldown_ms)
      b->cur_cooldown_ms = b->max_cooldown_ms;
    trip(b, now_ms);
  } else if (b->state == BREAKER_CLOSED && b->failures >= b->threshold) {
    trip(b, now_ms);
  }
}

uint64_t breaker_wait_ms(const struct breaker *b, uint64_t now_ms)
{
  if (b->state != BREAKER_OPEN)
    return 0;
  uint64_t gone = now_ms - b->opened_ms;
  return gone >= b->cur_cooldown_ms ? 0 : b->cur_cooldown_ms - gone;
}
