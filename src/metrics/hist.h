/* A fixed-memory log-linear latency histogram (internal).
 *
 * Values are durations in microseconds.  Buckets are HdrHistogram-like:
 * values below 2^LLM__HIST_SUB_BITS (128 µs) each have a bucket of their
 * own (exact); above that, every power-of-two range [2^e, 2^(e+1)) is cut
 * into 128 equal sub-buckets of width 2^(e-7).  A percentile is reported as
 * the midpoint of the bucket holding the ranked value, clamped to the
 * recorded [min, max], so it is within half a bucket width of the true
 * value: a relative error of at most 1/256 (< 0.4 %) of the true value.
 * Values at or above LLM__HIST_MAX_US (2^36 µs, about 19 hours) share the
 * last bucket (their min, max and sum stay exact).
 *
 * Alongside, the histogram counts observations against the fixed Prometheus
 * bucket bounds (llm__hist_prom_bounds_s), exactly, at record time.
 *
 * Memory: one struct of about 31 KiB, no allocation.  Not thread-safe: the
 * owner serialises access (the stats accumulator holds its lock). */
#ifndef LLMORCH_METRICS_HIST_H
#define LLMORCH_METRICS_HIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LLM__HIST_SUB_BITS 7
#define LLM__HIST_SUB ((int64_t)1 << LLM__HIST_SUB_BITS)         /* 128 */
#define LLM__HIST_MAX_EXP 36                                      /* exclusive */
#define LLM__HIST_MAX_US ((int64_t)1 << LLM__HIST_MAX_EXP)
/* 128 exact buckets + 128 per power of two from 2^7 up to 2^36. */
#define LLM__HIST_BUCKETS                                                                  \
    ((size_t)(LLM__HIST_SUB + (LLM__HIST_MAX_EXP - LLM__HIST_SUB_BITS) * LLM__HIST_SUB))

/* Number of finite Prometheus bucket bounds (the "+Inf" bucket is the
 * count). */
#define LLM__HIST_PROM_BUCKETS 15

/* The finite upper bounds (`le`) of the Prometheus buckets, in seconds,
 * ascending: 0.01 0.025 0.05 0.1 0.25 0.5 1 2.5 5 10 30 60 120 300 600. */
extern const double llm__hist_prom_bounds_s[LLM__HIST_PROM_BUCKETS];

struct llm__hist {
    uint64_t count;
    int64_t sum_us;              /* saturates at INT64_MAX */
    int64_t min_us;              /* meaningful when count > 0 */
    int64_t max_us;
    uint64_t prom[LLM__HIST_PROM_BUCKETS]; /* observations <= bound (not cumulative) */
    uint64_t buckets[LLM__HIST_BUCKETS];
};

/* Empty the histogram. */
void llm__hist_init(struct llm__hist *h);

/* Record one duration; negative values count as 0. */
void llm__hist_record(struct llm__hist *h, int64_t value_us);

/* The value at percentile `p` (0..100) by the nearest-rank definition (the
 * ceil(p/100 * count)-th smallest value; p <= 0 gives min, p >= 100 max),
 * within the error bound above.  0 when the histogram is empty. */
int64_t llm__hist_percentile(const struct llm__hist *h, double p);

/* Cumulative counts for the Prometheus bounds: out[i] = observations
 * <= llm__hist_prom_bounds_s[i].  Non-decreasing; every value is <= count
 * (the "+Inf" bucket). */
void llm__hist_prom_cumulative(const struct llm__hist *h, uint64_t out[LLM__HIST_PROM_BUCKETS]);

/* Bucket index of a value, and the smallest and largest value of a bucket
 * (inclusive).  Exposed for tests. */
size_t llm__hist_index(int64_t value_us);
int64_t llm__hist_bucket_low(size_t idx);
int64_t llm__hist_bucket_high(size_t idx);

#endif /* LLMORCH_METRICS_HIST_H */
