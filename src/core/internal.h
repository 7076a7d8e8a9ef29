/* Internals shared across libllmorch's components (llm__ prefix).
 * Not installed. */
#ifndef LLMORCH_INTERNAL_H
#define LLMORCH_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "llmorch/error.h"

/* Growable byte buffer; always NUL-terminated when data != NULL. */
struct llm__buf {
    char *data;
    size_t len;
    size_t cap;
};

/* The capacity to give a buffer of capacity `cap` so that it holds `need`
 * bytes: at least 64, doubling (appends stay amortised O(1)), `need`
 * itself where doubling would overflow. */
size_t llm__grow_cap(size_t cap, size_t need);

/* Make *data (capacity *cap) hold at least `need` bytes: realloc'd to
 * llm__grow_cap's capacity, or to exactly `need` when `exact`.  False
 * (nothing changed) when out of memory. */
bool llm__grow(char **data, size_t *cap, size_t need, bool exact);

/* Append n bytes; checks size arithmetic.  Returns LLM_OK or OUT_OF_MEMORY. */
enum llm_error llm__buf_append(struct llm__buf *b, const void *p, size_t n);
enum llm_error llm__buf_appendf(struct llm__buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Take ownership of the data (returns "" copy if empty); buffer is reset. */
char *llm__buf_steal(struct llm__buf *b);
void llm__buf_free(struct llm__buf *b);

/* strdup/strndup that return NULL for NULL input. */
char *llm__strdup(const char *s);
char *llm__strndup(const char *s, size_t n);
/* malloc'd printf. */
char *llm__asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* ASCII case-insensitive equality. */
bool llm__strcaseeq(const char *a, const char *b);

/* A short, printable excerpt of untrusted bytes for error messages:
 * at most max_chars, control bytes replaced with '?', "..." if cut. */
char *llm__excerpt(const char *s, size_t len, size_t max_chars);

/* Clocks. */
int64_t llm__now_mono_us(void);   /* CLOCK_MONOTONIC */
int64_t llm__now_wall_us(void);   /* CLOCK_REALTIME, µs since epoch */

/* Days since 1970-01-01 of a proleptic Gregorian date (month 1-12), by
 * H. Hinnant's days_from_civil: HTTP dates and RFC 3339 stamps become
 * epoch times without timegm(), which is neither C11 nor independent of
 * the process's time zone. */
int64_t llm__days_from_civil(int64_t y, int m, int d);

/* UUIDv7 (RFC 9562) into out[37], time-ordered, from wall ms + random. */
void llm__uuid_v7(char out[37]);

/* ISO-8601 UTC with microseconds: "2026-11-29T03:40:04.123456Z" into out[32]. */
void llm__format_iso8601_us(int64_t wall_us, char out[32]);

#endif /* LLMORCH_INTERNAL_H */
