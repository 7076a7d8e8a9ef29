/* Ground floor (src/base/): growable buffers, string helpers, excerpts of
 * untrusted bytes, UUIDv7.  Shared by every component (llm__ prefix); not
 * installed. */
#ifndef LLMORCH_BASE_UTIL_H
#define LLMORCH_BASE_UTIL_H

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

/* printf into a caller's error buffer: nothing when buf is NULL or len 0,
 * else at most len bytes including the NUL (truncated, never overrun). */
void llm__set_err(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* strdup/strndup that return NULL for NULL input. */
/* memset(p, 0, n) through libc's vector code: a constant n of a few
 * hundred bytes made gcc inline `rep stosq`, which costs an instruction per
 * 8 bytes (callgrind: a request's 600-byte state 75, libc ~35). */
void llm__zero(void *p, size_t n);

char *llm__strdup(const char *s);
char *llm__strndup(const char *s, size_t n);
/* malloc'd printf. */
char *llm__asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* ASCII case-insensitive equality. */
bool llm__strcaseeq(const char *a, const char *b);

/* Length of the well-formed UTF-8 sequence at s[0..len) (len >= 1), or 0
 * if it is not one (overlong forms, surrogates and values above U+10FFFF
 * are rejected, as in RFC 3629). */
size_t llm__utf8_seq_len(const unsigned char *s, size_t len);

/* Where llm__utf8_seq_len says 0: the length (>= 1) of the maximal
 * ill-formed subpart at s, which one U+FFFD replaces (Unicode's "maximal
 * subpart" practice, as WHATWG decoders and Python's errors="replace"). */
size_t llm__utf8_bad_len(const unsigned char *s, size_t len);

/* True if s[0..len) is well-formed UTF-8 throughout. */
bool llm__utf8_valid(const char *s, size_t len);

/* A malloc'd, NUL-terminated copy of s[0..len) with every ill-formed
 * UTF-8 sequence replaced by U+FFFD (NUL bytes are kept); its length in
 * *out_len when not NULL.  NULL when out of memory. */
char *llm__utf8_sanitize(const char *s, size_t len, size_t *out_len);

/* A short, printable excerpt of untrusted bytes for error messages:
 * at most max_chars, control bytes replaced with '?', "..." if cut. */
char *llm__excerpt(const char *s, size_t len, size_t max_chars);

/* UUIDv7 (RFC 9562) into out[37], time-ordered, from wall ms + random. */
void llm__uuid_v7(char out[37]);

#endif /* LLMORCH_BASE_UTIL_H */
