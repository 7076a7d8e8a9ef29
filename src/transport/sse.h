/* Incremental Server-Sent Events parser (WHATWG HTML, "event stream
 * interpretation").  Bytes go in as they arrive from the network, split at
 * any boundary; complete events come out through a callback, in order.
 *
 * Memory is bounded for untrusted streams: one growable buffer holds the
 * pending event name, the event's data so far and an incomplete line, and it
 * never grows past max_event_bytes.  Comment lines are skipped without being
 * buffered.  Not thread-safe: one parser per stream. */
#ifndef LLMORCH_SSE_H
#define LLMORCH_SSE_H

#include <stdbool.h>
#include <stddef.h>

/* Returned by llm__sse_feed when the pending event (name + data) plus the
 * current line (every field line, whole or cut by a read boundary, counted
 * with its field name; comment lines excepted) would exceed
 * max_event_bytes: LLM_ERR_RESPONSE_TOO_LARGE.  The verdict depends only
 * on the bytes, never on how they were split into feeds. */
#define LLM__SSE_TOO_LARGE (-1)
/* Returned by llm__sse_feed when the buffer could not grow: LLM_ERR_OUT_OF_MEMORY. */
#define LLM__SSE_NOMEM (-2)

/* Used when max_event_bytes is 0. */
#define LLM__SSE_DEFAULT_MAX_EVENT_BYTES ((size_t)16 * 1024 * 1024)

/* One complete event.  `event` is the value of its last `event:` field, NUL-
 * terminated, or NULL when it had none (or an empty one: the stream's default
 * type, "message").  `data` is its `data:` lines joined with "\n" (no
 * trailing newline), `data_len` bytes long and NUL-terminated at
 * data[data_len] (it may contain NUL bytes before that).  Both are borrowed
 * for the call.  Return 0 to go on; anything else stops the parser at once
 * and is returned by llm__sse_feed.  Return a positive value so that it
 * cannot be mistaken for LLM__SSE_TOO_LARGE / LLM__SSE_NOMEM.  MUST NOT call
 * back into the same parser. */
typedef int llm__sse_event_fn(void *user, const char *event, const char *data,
                              size_t data_len);

/* Parser state.  Treat as opaque; it lives inside its owner (no allocation
 * until the first incomplete line or data field). */
struct llm__sse {
    char *buf;                   /* [event '\0'][data lines, each + '\n'][partial line] */
    size_t cap;
    size_t event_len;            /* bytes of the event region incl. its NUL; 0 = none */
    size_t data_len;             /* bytes of the data region */
    size_t line_len;             /* bytes of the incomplete line */
    size_t max_event_bytes;
    int status;                  /* 0, or the code that stopped the parser (sticky) */
    unsigned char bom_seen;      /* bytes of a leading UTF-8 BOM matched so far */
    bool bom_done;               /* past the point where a BOM may appear */
    bool cr_pending;             /* the last byte fed was CR: a leading LF is its pair */
    bool in_comment;             /* inside a comment line that spans feeds */
};

/* Initialise `p` for a new stream.  max_event_bytes bounds the memory the
 * parser may hold; 0 means LLM__SSE_DEFAULT_MAX_EVENT_BYTES. */
void llm__sse_init(struct llm__sse *p, size_t max_event_bytes);

/* Feed the next `len` bytes of the stream; `cb` is called for each event
 * they complete.  Returns 0; the callback's non-zero return (remaining bytes
 * are not parsed); LLM__SSE_TOO_LARGE; or LLM__SSE_NOMEM.  After a non-zero
 * return the parser is stopped: every later feed returns the same code
 * without parsing or calling `cb`.  An event still incomplete when the stream
 * ends is discarded, as the spec requires (just call llm__sse_free). */
int llm__sse_feed(struct llm__sse *p, const char *buf, size_t len, llm__sse_event_fn *cb,
                  void *user);

/* Release the buffer.  `p` may be initialised again afterwards.  NULL-safe. */
void llm__sse_free(struct llm__sse *p);

#endif /* LLMORCH_SSE_H */
