/* One feed over the three stream framings; see framing.h. */
#include "transport/framing.h"

#include <string.h>

void llm__framer_init(struct llm__framer *f, enum llm_stream_framing kind,
                      size_t max_event_bytes)
{
    memset(f, 0, sizeof(*f));
    f->kind = kind;
    f->init = true;
    switch (kind) {
    case LLM_STREAM_NDJSON:
        llm__ndjson_init(&f->u.ndjson, max_event_bytes);
        break;
    case LLM_STREAM_AWS_EVENTSTREAM:
        llm__es_init(&f->u.es, max_event_bytes);
        break;
    case LLM_STREAM_SSE:
    default:
        f->kind = LLM_STREAM_SSE;
        llm__sse_init(&f->u.sse, max_event_bytes);
        break;
    }
}

int llm__framer_feed(struct llm__framer *f, const char *buf, size_t len,
                     llm__sse_event_fn *cb, void *user)
{
    switch (f->kind) {
    case LLM_STREAM_NDJSON:
        return llm__ndjson_feed(&f->u.ndjson, buf, len, cb, user);
    case LLM_STREAM_AWS_EVENTSTREAM:
        return llm__es_feed(&f->u.es, buf, len, cb, user);
    case LLM_STREAM_SSE:
    default:
        return llm__sse_feed(&f->u.sse, buf, len, cb, user);
    }
}

int llm__framer_finish(struct llm__framer *f, llm__sse_event_fn *cb, void *user)
{
    if (!f->init)
        return 0;
    if (f->kind == LLM_STREAM_NDJSON)
        return llm__ndjson_finish(&f->u.ndjson, cb, user);
    /* SSE discards an unterminated event (the spec says so); an
     * event-stream cut mid-message delivers nothing either.  Both leave
     * the provider without its final event: the engine reports the stream
     * as truncated. */
    return 0;
}

const char *llm__framer_detail(const struct llm__framer *f)
{
    return f->init && f->kind == LLM_STREAM_AWS_EVENTSTREAM ? f->u.es.detail : NULL;
}

void llm__framer_free(struct llm__framer *f)
{
    if (!f->init)
        return;
    switch (f->kind) {
    case LLM_STREAM_NDJSON:
        llm__ndjson_free(&f->u.ndjson);
        break;
    case LLM_STREAM_AWS_EVENTSTREAM:
        llm__es_free(&f->u.es);
        break;
    case LLM_STREAM_SSE:
    default:
        llm__sse_free(&f->u.sse);
        break;
    }
    f->init = false;
}
