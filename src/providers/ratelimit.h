/* Parsers for the values providers put in rate-limit response headers.
 * Internal (llm__), not installed.
 *
 * Header values are untrusted: every parser here accepts only the exact
 * grammar it names (plus surrounding spaces and tabs, which HTTP allows
 * around a field value), rejects anything else with -1 and never reads past
 * the terminating NUL. */
#ifndef LLMORCH_PROVIDERS_RATELIMIT_H
#define LLMORCH_PROVIDERS_RATELIMIT_H

#include <stdint.h>

/* A Go time.Duration string as OpenAI sends in x-ratelimit-reset-*:
 * "6m0s", "1.5s", "12ms", "1h2m3.5s", "20ms", "0s", "0".  Units ns, us
 * (also µs / μs), ms, s, m, h; each component may have a decimal fraction.
 * Returns the duration in milliseconds, rounded UP to the next whole
 * millisecond (a reset hint should never make a caller retry early), or -1
 * if `s` is NULL, empty, negative, malformed or overflows int64
 * nanoseconds (~292 years). */
int64_t llm__parse_go_duration_ms(const char *s);

/* An RFC 3339 timestamp as Anthropic sends in anthropic-ratelimit-*-reset:
 * "2025-01-15T14:24:00Z", "2025-01-15T14:24:00.123456Z",
 * "2025-01-15T16:24:00+02:00".  'T' may also be 't' or a space, 'Z' also
 * 'z' (RFC 3339 §5.6 note).  Fractional seconds beyond milliseconds are
 * truncated.  A leap second (":60") is accepted and counts as the first
 * second of the next minute.  Returns milliseconds since the Unix epoch, or
 * -1 if `s` is malformed, names an impossible date, or lies before
 * 1970-01-01T00:00:00Z. */
int64_t llm__parse_rfc3339_ms(const char *s);

/* Milliseconds from `now_ms` (since the epoch) until the RFC 3339 time `s`:
 * 0 if that time has already passed, -1 if `s` is not valid RFC 3339. */
int64_t llm__rfc3339_ms_from_now(const char *s, int64_t now_ms);

/* A non-negative decimal integer header value ("60000"): the value, or -1
 * if `s` is NULL, empty, signed, has other characters or overflows
 * int64. */
int64_t llm__parse_header_int(const char *s);

#endif /* LLMORCH_PROVIDERS_RATELIMIT_H */
