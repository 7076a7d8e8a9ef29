/* Ground floor (src/base/): clocks, timestamps and calendar arithmetic.
 *
 * Every timestamp the library records (llm_result.timestamps, the attempts,
 * post-processing steps) comes from llm__stamp_now() / llm__stamp_at(): the
 * wall time of a monotonic instant, through one offset per process, so
 * stamps keep the monotonic order whatever steps the wall clock takes. */
#ifndef LLMORCH_BASE_CLOCK_H
#define LLMORCH_BASE_CLOCK_H

#include <stdatomic.h>
#include <stdint.h>

int64_t llm__now_mono_us(void);   /* CLOCK_MONOTONIC */
int64_t llm__now_wall_us(void);   /* CLOCK_REALTIME, µs since epoch */

/* Wall-clock µs since the epoch of the monotonic instant `mono_us`, and of
 * now.  Thread-safe.  One offset per process keeps every stamp ordered like
 * the monotonic clock, whatever steps the wall clock takes meanwhile. */
static inline int64_t llm__stamp_at(int64_t mono_us);
int64_t llm__stamp_now(void);

/* The offset (0 = not set yet) and its setter; use llm__stamp_at. */
extern _Atomic int64_t llm__wall_offset_us;
int64_t llm__stamp_init(void);

static inline int64_t llm__stamp_at(int64_t mono_us)
{
    int64_t off = atomic_load_explicit(&llm__wall_offset_us, memory_order_relaxed);
    return mono_us + (off != 0 ? off : llm__stamp_init());
}

/* Days since 1970-01-01 of a proleptic Gregorian date (month 1-12), by
 * H. Hinnant's days_from_civil: HTTP dates and RFC 3339 stamps become
 * epoch times without timegm(), which is neither C11 nor independent of
 * the process's time zone. */
int64_t llm__days_from_civil(int64_t y, int m, int d);

/* ISO-8601 UTC with microseconds: "2026-11-29T03:40:04.123456Z" into out[32]. */
void llm__format_iso8601_us(int64_t wall_us, char out[32]);

#endif /* LLMORCH_BASE_CLOCK_H */
