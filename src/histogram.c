#include "histogram.h"

#include <string.h>

void histogram_init(struct histogram *h)
{
  memset(h, 0, sizeof(*h));
}

/* Values below HISTOGRAM_SUB map one to one; above, the top
 * HISTOGRAM_SUB_BITS+1 significant bits pick the bucket. */
static unsigned bucket_of(uint64_t v)
{
  if (v < HISTOGRAM_SUB)
    return (unsigned)v;
  unsigned msb = 63u - (unsigned)__builtin_clzll(v);
  unsigned shift = msb - HISTOGRAM_SUB_BITS;
  unsigned sub = (unsigned)(v >> shift) & (HISTOGRAM_SUB - 1);
  return (shift + 1) * HISTOGRAM_SUB + sub;
}

/* The largest value that falls in bucket b. */
static uint64_t bucket_top(unsigned b)
{
  if (b < HISTOGRAM_SUB)
    return b;
  unsigned shift = b / HISTOGRAM_SUB - 1;
  uint64_t sub = b % HISTOGRAM_SUB;
  uint64_t lo = (HISTOGRAM_SUB + sub) << shift;
  return lo + ((uint64_t)1 << shift) - 1;
}

void histogram_record(struct histogram *h, uint64_t value)
{
  unsigned b = bucket_of(value);
  if (b >= HISTOGRAM_BUCKETS)
    b = HISTOGRAM_BUCKETS - 1;
  h->buckets[b]++;
  h->count++;
  if (value > h->max)
    h->max = value;
}

uint64_t histogram_quantile(const struct histogram *h, double q)
{
  if (h->count == 0)
    return 0;
  if (q < 0)
    q = 0;
  if (q > 1)
    q = 1;
  /* rank is 1-based: the smallest value with at least q of the samples at
   * or below it. */
  uint64_t rank = (uint64_t)(q * (double)h->count + 0.999999);
  if (rank == 0)
    rank = 1;
  uint64_t seen = 0;
  for (unsigned b = 0; b < HISTOGRAM_BUCKETS; b++) {
    seen += h->buckets[b];
    if (seen >= rank) {
      uint64_t top = bucket_top(b);
      return top < h->max ? top : h->max;
    }
  }
  return h->max;
}

void histogram_merge(struct histogram *into, const struct histogram *from)
{
  for (unsigned b = 0; b < HISTOGRAM_BUCKETS; b++)
    into->buckets[b] += from->buckets[b];
  into->count += from->count;
  if (from->max > into->max)
    into->max = from->max;
}

void histogram_sub(struct histogram *out, const struct histogram *a,
                   const struct histogram *b)
{
  uint64_t max = 0;
  out->count = 0;
  for (unsigned i = 0; i < HISTOGRAM_BUCKETS; i++) {
    uint64_t n =
        a->buckets[i] >= b->buckets[i] ? a->buckets[i] - b->buckets[i] : 0;
    out->buckets[i] = n;
    out->count += n;
    if (n)
      max = bucket_top(i);
  }
  out->max = max < a->max ? max : a->max;
}

uint64_t histogram_count_le(const struct histogram *h, uint64_t value)
{
  uint64_t n = 0;
  for (unsigned b = 0; b < HISTOGRAM_BUCKETS && bucket_top(b) <= value; b++)
    n += h->buckets[b];
  return n;
}

double histogram_sum(const struct histogram *h)
{
  double sum = 0;
  for (unsigned b = 0; b < HISTOGRAM_BUCKETS; b++)
    if (h->buckets[b])
      sum += (double)h->buckets[b] * (double)bucket_top(b);
  return sum;
}
