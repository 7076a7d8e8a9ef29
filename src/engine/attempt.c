/* Attempts: take a concurrency slot, have the provider build the HTTP
 * request, start it on the engine's transport (curl, or local for the
 * mock), feed streamed bytes to the provider's event parser, and hand the
 * finished transfer to outcome.c.  Every transport completes through the
 * same three callbacks below.  Engine thread. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/clock.h"
#include "base/util.h"
#include "core/result_internal.h"
#include "engine/engine_internal.h"
#include "providers/hooks.h"
#include "transport/headers.h"

/* ---- streamed replies ------------------------------------------------------------ */

/* From deliver_event: the terminal event has been applied; parse no more. */
#define STREAM_OVER 2

/* Tell the host's on_event what an event added: text, refusal text, tool
 * calls begun or grown (each fragment once; the parsed state remembers what
 * was reported).  Returns non-zero when the callback asks to stop. */
static int report_events(struct ereq *r, size_t before)
{
    llm_stream_event_fn *fn = r->req.on_event;
    struct llm_parsed *p = &r->parsed;
    if (fn == NULL)
        return 0;
    if (p->content_len > before) {
        struct llm_stream_event ev = {.type = LLM_STREAM_TEXT, .text = p->content + before,
                                      .len = p->content_len - before};
        if (fn(r->req.event_user, &ev) != 0)
            return 1;
    }
    if (p->refusal_len > p->refusal_reported) {
        struct llm_stream_event ev = {.type = LLM_STREAM_REFUSAL,
                                      .text = p->refusal + p->refusal_reported,
                                      .len = p->refusal_len - p->refusal_reported};
        p->refusal_reported = p->refusal_len;
        if (fn(r->req.event_user, &ev) != 0)
            return 1;
    }
    for (size_t i = 0; i < p->n_tool_calls; i++) {
        struct llm_parsed_tool_call *c = &p->tool_calls[i];
        if (c->announced && c->arguments_len == c->reported)
            continue;
        struct llm_stream_event ev = {
            .type = LLM_STREAM_TOOL_CALL,
            .text = c->arguments != NULL ? c->arguments + c->reported : "",
            .len = c->arguments_len - c->reported,
            .tool_index = i,
            .tool_id = c->id,
            .tool_name = c->name,
        };
        c->announced = true;
        c->reported = c->arguments_len;
        if (fn(r->req.event_user, &ev) != 0)
            return 1;
    }
    return 0;
}

static int deliver_event(void *user, const char *event, const char *data, size_t len)
{
    struct ereq *r = user;
    struct llm_engine *e = r->eng;
    if (r->parsed.done)
        return STREAM_OVER;
    size_t before = r->parsed.content_len;
    enum llm_error rc = e->provider->vtable->parse_stream_event(e->provider, event, data, len,
                                                                &r->parsed);
    if (rc != LLM_OK) {
        if (!r->parsed.error_message) {
            char *ex = llm__excerpt(data, len, 120);
            char *m = llm__asprintf("malformed stream event: %s", ex ? ex : "");
            llm_parsed_set_error(&r->parsed, rc, NULL, m);
            free(m);
            free(ex);
        }
        return 1;
    }
    if (r->parsed.content_len > before) {
        int64_t now = llm__stamp_now();
        ts_set_once(r, LLM_TS_FIRST_TOKEN, now);
        ts_set(r, LLM_TS_LAST_TOKEN, now);
        if (r->req.on_delta) {
            r->delivered_delta = true;
            r->req.on_delta(r->req.delta_user, r->parsed.content + before,
                            r->parsed.content_len - before);
        }
    }
    if (r->req.on_event != NULL) {
        /* Whatever the host saw cannot be taken back by a retry. */
        bool any = r->parsed.content_len > before || r->parsed.n_tool_calls > 0 ||
                   r->parsed.refusal_len > 0;
        r->delivered_delta = r->delivered_delta || any;
        if (report_events(r, before) != 0) {
            r->stopped = true;
            llm_parsed_set_error(&r->parsed, LLM_ERR_CANCELLED, NULL,
                                 "stopped by the stream event callback");
            return 1;
        }
    }
    return r->parsed.done ? STREAM_OVER : 0;
}

static bool all_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '\n' && s[i] != '\r' && s[i] != ' ' && s[i] != '\t')
            return false;
    }
    return true;
}

/* Feed streamed bytes; returns 0 or non-zero to abort. */
static int feed_stream(struct ereq *r, const char *data, size_t len)
{
    /* After the terminal event ([DONE], message_stop) the reply is
     * complete and the rest of the body is ignored: events there must not
     * add text or turn the success into an error.  More than blank lines
     * there ends the transfer (xfer_on_data) instead of reading on. */
    if (r->parsed.done) {
        if (!all_blank(data, len))
            r->bytes_after_end = true;
        return 0;
    }
    struct ereq_stream *st = r->stream; /* on_data comes for streams only */
    if (!st->sse.init)
        llm__framer_init(&st->sse, r->eng->provider->vtable->stream_framing, MAX_SSE_EVENT_BYTES);
    if (r->eng->keep_raw && st->raw_stream.len < r->eng->max_response_bytes) {
        size_t room = r->eng->max_response_bytes - st->raw_stream.len;
        /* Out of memory only loses the copy, not the reply. */
        (void)llm__buf_append(&st->raw_stream, data, len < room ? len : room);
    }
    int rc = llm__framer_feed(&st->sse, data, len, deliver_event, r);
    if (rc == STREAM_OVER)
        return 0;
    if (rc == LLM__SSE_TOO_LARGE && r->parsed.error == LLM_OK)
        llm_parsed_set_error(&r->parsed, LLM_ERR_RESPONSE_TOO_LARGE, NULL,
                             "a stream event exceeds the 1 MiB limit");
    else if (rc == LLM__SSE_NOMEM && r->parsed.error == LLM_OK)
        llm_parsed_set_error(&r->parsed, LLM_ERR_OUT_OF_MEMORY, NULL,
                             "out of memory parsing the stream");
    else if (rc == LLM__ES_CORRUPT && r->parsed.error == LLM_OK)
        llm_parsed_set_error(&r->parsed, LLM_ERR_PARSE, NULL, llm__framer_detail(&st->sse));
    return rc;
}

int llm__eng_stream_finish(struct ereq *r)
{
    return llm__framer_finish(&r->stream->sse, deliver_event, r);
}

/* ---- transport callbacks ------------------------------------------------------------ */

static int xfer_on_data(void *user, const char *data, size_t len)
{
    struct ereq *r = user;
    if (feed_stream(r, data, len) != 0) {
        llm__transport_fail(r->eng->transport, r->xfer,
                            r->parsed.error != LLM_OK ? r->parsed.error : LLM_ERR_PARSE,
                            r->parsed.error_message ? r->parsed.error_message : "stream aborted");
        return 1;
    }
    if (r->bytes_after_end) {
        /* Closing the connection is cheaper than reading a body that may
         * not end; the outcome keeps the complete reply a success. */
        llm__transport_fail(r->eng->transport, r->xfer, LLM_ERR_CANCELLED,
                            "data after the stream's final event");
        return 1;
    }
    return 0;
}

static void xfer_on_headers(void *user, int status, const struct llm_http_headers *h)
{
    struct ereq *r = user;
    llm__adm_on_headers(r->eng, h);
}

/* The one completion path of every attempt, whichever transport ran it. */
static void xfer_on_done(void *user, const struct llm__xfer_outcome *o)
{
    struct ereq *r = user;
    r->xfer = NULL; /* the transport frees it after this call */
    int64_t start = r->attempt_start_wall_us;
    if (o->dns_us >= 0)
        ts_set(r, LLM_TS_DNS_DONE, start + o->dns_us);
    if (o->connect_us >= 0)
        ts_set(r, LLM_TS_CONNECTED, start + o->connect_us);
    if (o->tls_us >= 0)
        ts_set(r, LLM_TS_TLS_DONE, start + o->tls_us);
    if (o->pretransfer_us >= 0)
        ts_set(r, LLM_TS_REQUEST_SENT, start + o->pretransfer_us);
    if (o->first_byte_us >= 0)
        ts_set(r, LLM_TS_FIRST_BYTE, start + o->first_byte_us);
    const char *rid_hdr = r->eng->provider->vtable->request_id_header;
    const char *rid = rid_hdr ? llm_http_headers_get(&o->headers, rid_hdr) : NULL;
    if (rid) {
        /* Kept in the result's spare bytes when it fits: no allocation. */
        llm__result_free_str(r->res, r->res->request_id);
        r->res->request_id = llm__result_keep(r->res, rid, strlen(rid));
        llm__eng_scrub_field(r->eng, r->res, &r->res->request_id);
    }
    llm__eng_attempt_done(r, o);
}

/* ---- starting ------------------------------------------------------------------------ */

/* Take the slot and reset the per-attempt state: only the final attempt's
 * text counts. */
static void begin(struct llm_engine *e, struct ereq *r, int64_t now_mono)
{
    int64_t now = llm__stamp_at(now_mono);
    r->state = ST_ATTEMPT;
    r->holds_slot = true;
    e->in_flight++;
    r->attempt++;
    r->attempt_start_mono_us = now_mono;
    r->attempt_start_wall_us = now;
    ts_set_once(r, LLM_TS_SLOT_ACQUIRED, now);
    ts_set_once(r, LLM_TS_FIRST_ATTEMPT_STARTED, now);
    ts_set(r, LLM_TS_LAST_ATTEMPT_STARTED, now);
    /* A first attempt's parsed state is still the zeroed one (submit.c):
     * clearing it would be eight free(NULL) calls (~100 instructions). */
    if (r->attempt > 1)
        llm_parsed_clear(&r->parsed);
    /* What a reply accumulates is bounded like a body, streamed or not. */
    r->parsed.max_bytes = e->max_response_bytes;
    r->bytes_after_end = false;
    if (r->stream) {
        llm__framer_free(&r->stream->sse);
        r->stream->raw_stream.len = 0;
    }
}

/* Add "Name: value" lines (checked at submission or engine creation),
 * each replacing the provider's header of that name. */
static enum llm_error add_header_lines(struct llm_http_request *h, const char *const *lines,
                                       size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *colon = strchr(lines[i], ':');
        if (colon == NULL)
            return LLM_ERR_INVALID_REQUEST;
        size_t name_len = (size_t)(colon - lines[i]);
        const char *v = colon + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        size_t vlen = strlen(v);
        while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
            vlen--;
        char *name = llm__strndup(lines[i], name_len);
        char *value = llm__strndup(v, vlen);
        enum llm_error rc = name && value ? LLM_OK : LLM_ERR_OUT_OF_MEMORY;
        if (rc == LLM_OK) {
            llm__http_request_remove_header(h, name, name_len);
            rc = llm_http_request_add_header(h, name, value);
        }
        free(name);
        free(value);
        if (rc != LLM_OK)
            return rc == LLM_ERR_INVALID_ARGUMENT ? LLM_ERR_INVALID_REQUEST : rc;
    }
    return LLM_OK;
}

void llm__eng_start_attempt(struct ereq *r, int64_t now_mono_us)
{
    struct llm_engine *e = r->eng;
    begin(e, r, now_mono_us);

    const struct llm_provider_vtable *vt = e->provider->vtable;
    struct llm_http_request hreq = {0};
    enum llm_error rc = vt->build_request(e->provider, &r->req, r->res->trace_id, &hreq);
    /* Asked first: most requests add no header lines, and a call that finds
     * none cost ~24 instructions each (callgrind). */
    if (rc == LLM_OK && e->n_headers > 0)
        rc = add_header_lines(&hreq, (const char *const *)e->headers, e->n_headers);
    if (rc == LLM_OK && r->req.n_headers > 0)
        rc = add_header_lines(&hreq, r->req.headers, r->req.n_headers);
    /* The provider's last word on the final header set (Bedrock signs it). */
    char why[192];
    why[0] = '\0'; /* not the whole buffer: only a message written there is read */
    if (rc == LLM_OK && e->n_headers + r->req.n_headers > 0)
        rc = llm__provider_headers_added(e->provider, &hreq, (const char *const *)e->headers,
                                         e->n_headers, r->req.headers, r->req.n_headers, why,
                                         sizeof(why));
    if (rc != LLM_OK) {
        llm_http_request_clear(&hreq);
        llm__eng_finish(r, rc,
                        why[0] != '\0'                  ? why
                        : rc == LLM_ERR_INVALID_REQUEST ? "provider rejected the request (extra_json?)"
                                                        : llm_strerror(rc),
                        0, NULL, false);
        return;
    }
    /* The credentials the provider sends are secrets from now on (cheap:
     * known ones are recognised by a compare). */
    for (size_t i = 0; i < hreq.n_headers; i++)
        llm__secrets_add_header(&e->secrets, hreq.headers[i].name, hreq.headers[i].value);
    struct llm__xfer_opts xo = {
        .timeout_ms = r->req.attempt_timeout_ms > 0 ? r->req.attempt_timeout_ms
                                                     : e->attempt_timeout_ms,
        .proxy = e->proxy,
        .ca_file = e->ca_file,
        .ca_path = e->ca_path,
        .connect_timeout_ms = e->connect_timeout_ms,
        .max_response_bytes = e->max_response_bytes,
        .stream = r->req.stream,
        .first_byte_timeout_ms = e->first_byte_timeout_ms,
        .idle_timeout_ms = r->req.stream ? e->stream_idle_timeout_ms : e->first_byte_timeout_ms,
        .origin = &r->req,
        .attempt = r->attempt,
    };
    static const struct llm__xfer_cbs cbs = {
        .on_data = xfer_on_data, .on_done = xfer_on_done, .on_headers = xfer_on_headers};
    rc = llm__transport_start(e->transport, &hreq, &xo, &cbs, r, &r->xfer);
    if (rc != LLM_OK)
        llm__eng_finish(r, rc, e->transport->vt->start_failure, 0, NULL, false);
}
