/* Politeness arithmetic: token bucket, backoff, Retry-After, breaker,
 * histogram. Time is passed in, so every case is deterministic. */
#include "breaker.h"
#include "check.h"
#include "histogram.h"
#include "ratelimit.h"
#include "result.h"
#include "retry.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <time.h>

static void test_ratelimit(void)
{
  struct ratelimit r;
  ratelimit_init(&r, 10, 1, 1000); /* 10/s, burst 1 */
  CHECK(ratelimit_take(&r, 1000) == 0);
  uint64_t w = ratelimit_take(&r, 1000);
  CHECK(w == 100);
  CHECK(ratelimit_take(&r, 1050) == 50);
  CHECK(ratelimit_take(&r, 1100) == 0);
  /* A long idle period does not bank more than the burst. */
  CHECK(ratelimit_take(&r, 60000) == 0);
  CHECK(ratelimit_take(&r, 60000) > 0);
  /* Over one simulated second at most rate+burst tokens are handed out. */
  ratelimit_init(&r, 50, 1, 0);
  int taken = 0;
  for (uint64_t t = 0; t <= 1000; t++)
    if (ratelimit_take(&r, t) == 0)
      taken++;
  CHECK(taken == 51);
  /* A request that went out 8 ms after its take: the next token counts
   * from the send, so two requests are never closer than 1/rate. */
  ratelimit_init(&r, 5, 1, 0); /* Crawl-delay 0.2 */
  CHECK(ratelimit_take(&r, 0) == 0);
  ratelimit_sent(&r, 8);
  w = ratelimit_take(&r, 200); /* 8, or 9 when the float rounds up */
  CHECK(w >= 8 && w <= 9);
  CHECK(ratelimit_take(&r, 207) > 0);
  CHECK(ratelimit_take(&r, 208) == 0);
  ratelimit_sent(&r, 208); /* sent at once: nothing changes */
  CHECK(ratelimit_take(&r, 407) > 0);
  CHECK(ratelimit_take(&r, 408) == 0);
  /* A send stamped before the last take moves nothing back. */
  ratelimit_sent(&r, 300);
  CHECK(ratelimit_take(&r, 607) > 0);
  CHECK(ratelimit_take(&r, 608) == 0);
  /* Unlimited: a send changes nothing either. */
  ratelimit_init(&r, 0, 1, 0);
  ratelimit_sent(&r, 50);
  for (int i = 0; i < 1000; i++)
    CHECK(ratelimit_take(&r, 0) == 0);
}

static void test_backoff(void)
{
  uint64_t rng = 12345;
  /* Full jitter: within [0, min(cap, base*2^(n-1))], and not constant. */
  for (int retry = 1; retry <= 12; retry++) {
    uint64_t ceiling = 250ull << (retry - 1);
    if (ceiling > 20000)
      ceiling = 20000;
    uint64_t lo = UINT64_MAX, hi = 0;
    for (int i = 0; i < 2000; i++) {
      uint64_t w = retry_backoff_ms(retry, 250, 20000, &rng);
      if (w < lo)
        lo = w;
      if (w > hi)
        hi = w;
    }
    CHECK(hi <= ceiling);
    CHECK(hi > ceiling / 2);
    CHECK(lo < ceiling / 2);
  }
  CHECK(retry_backoff_ms(3, 0, 1000, &rng) == 0);
}

static void test_transient(void)
{
  static const struct {
    const char *err;
    int status;
    int want;
  } cases[] = {
      {NULL, 200, 0},          {NULL, 404, 0},
      {ERR_HTTP, 429, 1},      {ERR_HTTP, 500, 0},
      {ERR_HTTP, 502, 1},      {ERR_HTTP, 503, 1},
      {ERR_HTTP, 504, 1},      {ERR_HTTP, 403, 0},
      {ERR_CONNECT, 0, 1},     {ERR_TIMEOUT, 0, 1},
      {ERR_RESET, 0, 1},       {ERR_TRUNCATED, 200, 1},
      {ERR_DNS, 0, 0},         {ERR_TLS, 0, 0},
      {ERR_TOO_LARGE, 200, 0}, {ERR_REDIRECT_LOOP, 302, 0},
      {ERR_BAD_URL, 0, 0},     {ERR_CIRCUIT_OPEN, 0, 0},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    int got = retry_is_transient(cases[i].err, cases[i].status);
    if (got != cases[i].want)
      fprintf(stderr, "case %zu: %s %d\n", i,
              cases[i].err ? cases[i].err : "-", cases[i].status);
    CHECK(got == cases[i].want);
  }
}

static void test_retry_after(void)
{
  time_t now = 1700000000; /* Tue, 14 Nov 2023 22:13:20 GMT */
  CHECK(retry_after_parse("0", now) == 0);
  CHECK(retry_after_parse(" 120", now) == 120000);
  CHECK(retry_after_parse("5\r\n", now) == 5000);
  CHECK(retry_after_parse("Tue, 14 Nov 2023 22:13:30 GMT", now) == 10000);
  CHECK(retry_after_parse("Tue, 14 Nov 2023 22:00:00 GMT", now) == 0);
  CHECK(retry_after_parse("", now) == -1);
  CHECK(retry_after_parse("soon", now) == -1);
  CHECK(retry_after_parse("12abc", now) == -1);
  CHECK(retry_after_parse("-5", now) == -1);
  CHECK(retry_after_parse("99999999999999999999", now) == -1);
  CHECK(retry_after_parse(NULL, now) == -1);
  /* A date centuries ahead saturates instead of overflowing (UBSan
   * checks the arithmetic). */
  CHECK(retry_after_parse("Fri, 31 Dec 9999 23:59:59 GMT", now) ==
        (int64_t)100000000 * 1000);
}

static void test_breaker(void)
{
  struct breaker b;
  breaker_init(&b, 3, 1000, 4000);
  CHECK(breaker_allow(&b, 0) == BREAKER_ALLOW);
  breaker_failure(&b, 0);
  breaker_failure(&b, 0);
  breaker_success(&b); /* resets the run of failures */
  breaker_failure(&b, 0);
  breaker_failure(&b, 0);
  CHECK(b.state == BREAKER_CLOSED);
  breaker_failure(&b, 10);
  CHECK(b.state == BREAKER_OPEN);
  CHECK(b.trips == 1);
  CHECK(breaker_allow(&b, 500) == BREAKER_REJECT);
  CHECK(breaker_wait_ms(&b, 500) == 510);
  /* Cool-down over: exactly one probe, the others wait. */
  CHECK(breaker_allow(&b, 1010) == BREAKER_ALLOW);
  CHECK(b.state == BREAKER_HALF_OPEN);
  CHECK(breaker_allow(&b, 1010) == BREAKER_WAIT);
  /* Probe fails: open again with the cool-down doubled. */
  breaker_failure(&b, 1100);
  CHECK(b.state == BREAKER_OPEN);
  CHECK(breaker_allow(&b, 2099) == BREAKER_REJECT);
  CHECK(breaker_allow(&b, 3100) == BREAKER_ALLOW);
  breaker_failure(&b, 3100); /* 4000, the cap */
  breaker_failure(&b, 3100);
  CHECK(breaker_allow(&b, 7099) == BREAKER_REJECT);
  CHECK(breaker_allow(&b, 7100) == BREAKER_ALLOW);
  breaker_success(&b);
  CHECK(b.state == BREAKER_CLOSED);
  CHECK(b.cur_cooldown_ms == 1000);
  /* Disabled. */
  breaker_init(&b, 0, 1000, 1000);
  for (int i = 0; i < 100; i++)
    breaker_failure(&b, 0);
  CHECK(breaker_allow(&b, 0) == BREAKER_ALLOW);
}

static int cmp_u64(const void *a, const void *b)
{
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static void test_histogram(void)
{
  static struct histogram h;
  histogram_init(&h);
  CHECK(histogram_quantile(&h, 0.5) == 0);
  for (uint64_t v = 0; v < 32; v++)
    histogram_record(&h, v);
  CHECK(histogram_quantile(&h, 0.5) == 15);
  CHECK(histogram_quantile(&h, 1.0) == 31);
  CHECK(histogram_quantile(&h, 0.0) == 0);

  /* Against exact quantiles of a skewed sample: within 1/32 relative. */
  enum { N = 100000 };
  uint64_t *v = malloc(N * sizeof(*v));
  uint64_t x = 88172645463325252ULL;
  histogram_init(&h);
  for (int i = 0; i < N; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    v[i] = (x % 1000) * (x % 1000) * (x % 7 + 1) + 1; /* up to ~7e6 */
    histogram_record(&h, v[i]);
  }
  qsort(v, N, sizeof(*v), cmp_u64);
  static const double qs[] = {0.5, 0.9, 0.95, 0.99, 0.999, 1.0};
  for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
    uint64_t exact = v[(size_t)(qs[i] * N) - (qs[i] == 1.0 ? 1 : 0)];
    uint64_t got = histogram_quantile(&h, qs[i]);
    CHECK(got >= exact);
    CHECK((double)got <= (double)exact * (1.0 + 1.0 / 32) + 1);
  }
  CHECK(h.count == N);
  CHECK(h.max == v[N - 1]);
  histogram_record(&h, UINT64_MAX); /* the top bucket absorbs it */
  CHECK(histogram_quantile(&h, 1.0) == UINT64_MAX);
  free(v);
}

/* A window of a cumulative histogram, and Prometheus-style counts. */
static void test_histogram_window(void)
{
  static struct histogram a, b, w;
  histogram_init(&a);
  for (uint64_t v = 1; v <= 1000; v++)
    histogram_record(&a, v * 100); /* 100 us .. 100 ms */
  b = a;                           /* the earlier snapshot */
  for (int i = 0; i < 10; i++)
    histogram_record(&a, 5000000); /* ten of 5 s */
  histogram_sub(&w, &a, &b);
  CHECK(w.count == 10);
  uint64_t q = histogram_quantile(&w, 0.5);
  CHECK(q >= 5000000 && q <= 5000000 + 5000000 / 32);
  histogram_sub(&w, &a, &a);
  CHECK(w.count == 0 && histogram_quantile(&w, 0.99) == 0);
  /* le: 100 of the 1000 are <= 10 ms; one bucket of slack below. */
  uint64_t le = histogram_count_le(&b, 10000);
  CHECK(le <= 100 && le >= 100 - 100 / 32 - 1);
  CHECK(histogram_count_le(&b, UINT64_MAX) == 1000);
  CHECK(histogram_count_le(&b, 0) == 0);
}

int main(void)
{
  curl_global_init(CURL_GLOBAL_DEFAULT);
  test_ratelimit();
  test_backoff();
  test_transient();
  test_retry_after();
  test_breaker();
  test_histogram();
  test_histogram_window();
  curl_global_cleanup();
  return check_report("test_policy");
}
