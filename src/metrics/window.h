/* A fixed-memory sliding-window counter (internal): "how much was added
 * during the last window_ms?", for requests per minute and tokens per
 * minute.
 *
 * Time is injected (`now_ms`, any monotonic millisecond clock, never
 * negative).  The window is cut into n_buckets buckets of bucket_ms =
 * window_ms / n_buckets each.  When n_buckets does not divide window_ms,
 * the largest count between n_buckets / 2 and n_buckets that does is used
 * instead (10000 ms in 60 asked for: 50 buckets of 200 ms); if there is
 * none, window_ms is rounded down to a multiple of n_buckets.  The struct
 * holds the effective values.  A bucket is reused, and reset, when its slot
 * of the ring comes round again.
 * llm__window_sum() at time `now` adds the current bucket and the
 * n_buckets - 1 before it, so an amount added at time t, of age
 * now - t:
 *   - is never counted once its age is >= window_ms;
 *   - is always counted while its age is < window_ms - bucket_ms;
 *   - in between (the oldest bucket_ms of the window) it may be dropped a
 *     little early: the sum never over-counts, and under-counts by at most
 *     what arrived during one bucket_ms (1 s with the defaults).
 * Time that goes backwards is taken as the latest time seen, as the gates
 * do.  A gap longer than the window leaves every bucket stale: the sum is 0.
 *
 * Memory: inline, at most LLM__WINDOW_MAX_BUCKETS buckets; no allocation.
 * Not thread-safe: the owner serialises access. */
#ifndef LLMORCH_METRICS_WINDOW_H
#define LLMORCH_METRICS_WINDOW_H

#include <stdint.h>

#define LLM__WINDOW_DEFAULT_MS 60000
#define LLM__WINDOW_DEFAULT_BUCKETS 60
#define LLM__WINDOW_MAX_BUCKETS 600

struct llm__window_bucket {
    int64_t epoch;               /* now_ms / bucket_ms when last written; -1 = never */
    int64_t sum;
};

struct llm__window {
    int64_t window_ms;
    int64_t bucket_ms;
    int n_buckets;
    int64_t last_ms;             /* latest time seen */
    struct llm__window_bucket b[LLM__WINDOW_MAX_BUCKETS];
};

/* Set up an empty window.  window_ms <= 0 gives 60000; n_buckets <= 0 gives
 * 60 (and is capped at LLM__WINDOW_MAX_BUCKETS and at window_ms, so a
 * bucket is at least 1 ms), then adjusted as described above.
 * w->window_ms is the effective window, bucket_ms * n_buckets. */
void llm__window_init(struct llm__window *w, int64_t window_ms, int n_buckets);

/* Add `amount` at time now_ms.  Negative amounts are ignored; sums saturate
 * at INT64_MAX. */
void llm__window_add(struct llm__window *w, int64_t now_ms, int64_t amount);

/* The total added during the window ending at now_ms (see above). */
int64_t llm__window_sum(const struct llm__window *w, int64_t now_ms);

#endif /* LLMORCH_METRICS_WINDOW_H */
