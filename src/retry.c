#include "retry.h"

#include "result.h"

#include <ctype.h>
#include <curl/curl.h>
#include <string.h>

int retry_is_transient(const char *error, int status)
{
  if (error == NULL || ERR_IS(error, ERR_HTTP))
    return status == 429 || status == 502 || status == 503 || status == 504;
  return ERR_IS(error, ERR_CONNECT) || ERR_IS(error, ERR_TIMEOUT) ||
         ERR_IS(error, ERR_RESET) || ERR_IS(error, ERR_TRUNCATED);
}

/* xorshift64*: a PRNG per run, so jitter needs no shared state. */
static uint64_t next_rand(uint64_t *s)
{
  uint64_t x = *s;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *s = x;
  return x * 0x2545F4914F6CDD1DULL;
}

uint64_t retry_backoff_ms(int retry, uint64_t base_ms, uint64_t cap_ms,
                          uint64_t *rng)
{
  if (retry < 1)
    retry = 1;
  uint64_t ceiling = base_ms;
  for (int i = 1; i < retry && ceiling < cap_ms; i++)
    ceiling *= 2;
  if (ceiling > cap_ms)
    ceiling = cap_ms;
  return ceiling ? next_rand(rng) % (ceiling + 1) : 0;
}

int64_t retry_after_parse(const char *value, time_t now)
{
  if (value == NULL)
    return -1;
  while (*value == ' ' || *value == '\t')
    value++;
  if (*value == '\0')
    return -1;
  if (isdigit((unsigned char)*value)) {
    int64_t secs = 0;
    const char *p = value;
    for (; isdigit((unsigned char)*p); p++) {
      if (secs > 100000000)
        return -1;
      secs = secs * 10 + (*p - '0');
    }
    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
      p++;
    return *p ? -1 : secs * 1000;
  }
  time_t when = curl_getdate(value, NULL);
  if (when == -1)
    return -1;
  if (when <= now)
    return 0;
  /* Far-future dates saturate (a day is already past any sane cap). */
  int64_t secs = (int64_t)when - (int64_t)now;
  return secs > 100000000 ? (int64_t)100000000 * 1000 : secs * 1000;
}
