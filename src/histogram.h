/* histogram: latency distribution with bounded memory and ~3% relative
 * error, for the end summary and the live metrics.
 *
 * Values are microseconds. Buckets are log-linear: 32 sub-buckets per power
 * of two, so recording is a few integer operations and the struct is a
 * fixed 16 KiB whatever the number of samples. */
#ifndef SPATE_HISTOGRAM_H
#define SPATE_HISTOGRAM_H

#include <stdint.h>

#define HISTOGRAM_SUB_BITS 5
#define HISTOGRAM_SUB (1 << HISTOGRAM_SUB_BITS)
#define HISTOGRAM_BUCKETS (64 * HISTOGRAM_SUB)

struct histogram {
  uint64_t count;
  uint64_t max;
  uint64_t buckets[HISTOGRAM_BUCKETS];
};

void histogram_init(struct histogram *h);
void histogram_record(struct histogram *h, uint64_t value);
/* Adds every sample of from to into. */
void histogram_merge(struct histogram *into, const struct histogram *from);
/* out = a - b bucket by bucket (b: an earlier copy of a), for the
 * distribution of a time window; out->max is the top of its highest
 * non-empty bucket (capped at a->max). out may not alias a or b. */
void histogram_sub(struct histogram *out, const struct histogram *a,
                   const struct histogram *b);
/* Samples in buckets whose values are all <= value (Prometheus "le"
 * buckets: a sample is counted in the first bucket whose edge holds its
 * whole bucket, so counts err low by at most one bucket width, ~3%). */
uint64_t histogram_count_le(const struct histogram *h, uint64_t value);
/* The sum of the samples, estimated from their buckets' tops (high by at
 * most ~3%). */
double histogram_sum(const struct histogram *h);
/* The value at quantile q in [0, 1] (upper edge of its bucket, so never
 * below the true quantile by more than the bucket width); 0 if empty. */
uint64_t histogram_quantile(const struct histogram *h, double q);

#endif
