/* breaker: a per-host circuit breaker, so a dead host costs a few failed
 * attempts and a cool-down instead of one timeout per queued URL.
 *
 *   closed --threshold consecutive failures--> open
 *   open   --cooldown elapsed--> half-open: one probe request
 *   probe ok --> closed;  probe failed --> open, cooldown doubled (capped)
 *
 * While open, requests are rejected (they fail fast as circuit_open); while
 * a probe is in flight the others wait. */
#ifndef SPATE_BREAKER_H
#define SPATE_BREAKER_H

#include <stdint.h>

enum breaker_state { BREAKER_CLOSED, BREAKER_OPEN, BREAKER_HALF_OPEN };
enum breaker_verdict { BREAKER_ALLOW, BREAKER_WAIT, BREAKER_REJECT };

struct breaker {
  enum breaker_state state;
  int threshold;        /* <= 0 disables the breaker */
  int failures;         /* consecutive */
  uint64_t cooldown_ms; /* initial cool-down */
  uint64_t max_cooldown_ms;
  uint64_t cur_cooldown_ms;
  uint64_t opened_ms;
  int probing;    /* a half-open probe is in flight */
  unsigned trips; /* times it opened, for the summary */
};

void breaker_init(struct breaker *b, int threshold, uint64_t cooldown_ms,
                  uint64_t max_cooldown_ms);
/* May a request start at now_ms? ALLOW in half-open marks the caller as the
 * probe; it must report its outcome with breaker_success/failure. */
enum breaker_verdict breaker_allow(struct breaker *b, uint64_t now_ms);
void breaker_success(struct breaker *b);
void breaker_failure(struct breaker *b, uint64_t now_ms);
/* ms until an open breaker half-opens (0 if not open). */
uint64_t breaker_wait_ms(const struct breaker *b, uint64_t now_ms);

#endif
