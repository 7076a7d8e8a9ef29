/* Incremental reader of newline-delimited JSON (Ollama's streams): one
 * value per line, LF or CRLF, blank lines skipped.  Bytes go in split at
 * any boundary; each complete line comes out through the SSE parser's
 * callback type (transport/sse.h) with `event` NULL and `data` the line
 * without its line ending.  A line longer than max_line_bytes stops the
 * reader (memory is bounded).  Not thread-safe: one reader per stream. */
#ifndef LLMORCH_NDJSON_H
#define LLMORCH_NDJSON_H

#include <stdbool.h>
#include <stddef.h>

#include "transport/sse.h"

#define LLM__NDJSON_TOO_LARGE LLM__SSE_TOO_LARGE
#define LLM__NDJSON_NOMEM LLM__SSE_NOMEM

#define LLM__NDJSON_DEFAULT_MAX_LINE_BYTES ((size_t)16 * 1024 * 1024)

struct llm__ndjson {
    char *buf;       /* the incomplete line */
    size_t cap;
    size_t len;
    size_t max_line_bytes;
    int status;      /* sticky, as llm__sse */
};

void llm__ndjson_init(struct llm__ndjson *r, size_t max_line_bytes);

/* Feed bytes; `cb` gets each complete non-blank line.  Returns as
 * llm__sse_feed (0, the callback's non-zero, LLM__NDJSON_TOO_LARGE,
 * LLM__NDJSON_NOMEM), sticky. */
int llm__ndjson_feed(struct llm__ndjson *r, const char *buf, size_t len, llm__sse_event_fn *cb,
                     void *user);

/* The stream ended: hand on a last line that had no newline, if any.
 * Returns as llm__ndjson_feed. */
int llm__ndjson_finish(struct llm__ndjson *r, llm__sse_event_fn *cb, void *user);

void llm__ndjson_free(struct llm__ndjson *r);

#endif /* LLMORCH_NDJSON_H */
