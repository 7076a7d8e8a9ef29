/* The framing of a streamed reply, chosen by the provider
 * (llm_provider_vtable.stream_framing): SSE, NDJSON or AWS event-stream
 * behind one feed, so the engine's stream path is the same for all.
 * Every framing delivers through llm__sse_event_fn. */
#ifndef LLMORCH_FRAMING_H
#define LLMORCH_FRAMING_H

#include <stdbool.h>
#include <stddef.h>

#include "llmorch/ext/provider.h"
#include "transport/eventstream.h"
#include "transport/ndjson.h"
#include "transport/sse.h"

struct llm__framer {
    enum llm_stream_framing kind;
    bool init;
    union {
        struct llm__sse sse;
        struct llm__ndjson ndjson;
        struct llm__es es;
    } u;
};

/* Ready `f` for a new stream of `kind` (an unknown kind is SSE), each
 * event or message bounded by max_event_bytes. */
void llm__framer_init(struct llm__framer *f, enum llm_stream_framing kind,
                      size_t max_event_bytes);

/* Feed bytes.  Returns 0, the callback's non-zero return,
 * LLM__SSE_TOO_LARGE, LLM__SSE_NOMEM or LLM__ES_CORRUPT (the framing
 * itself is malformed: a PARSE error), sticky as llm__sse_feed. */
int llm__framer_feed(struct llm__framer *f, const char *buf, size_t len,
                     llm__sse_event_fn *cb, void *user);

/* The stream ended cleanly: deliver what a framing holds back until then
 * (NDJSON's last line without a newline).  Returns as llm__framer_feed. */
int llm__framer_finish(struct llm__framer *f, llm__sse_event_fn *cb, void *user);

/* Why LLM__ES_CORRUPT was returned (static text), or NULL. */
const char *llm__framer_detail(const struct llm__framer *f);

/* Release; `f` may be initialised again.  Safe on a never-initialised,
 * zeroed framer. */
void llm__framer_free(struct llm__framer *f);

#endif /* LLMORCH_FRAMING_H */
