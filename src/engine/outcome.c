/* Outcomes: a finished transfer becomes either the request's success (then
 * the pipeline), a backoff before the next attempt, or the final error.
 * Engine thread. */
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/util.h"
#include "core/result_internal.h"
#include "engine/engine_internal.h"
#include "llmorch/pipeline.h"

/* What an attempt came to; msg and code are owned. */
struct verdict {
    enum llm_error err;
    char *msg;
    char *code;
    bool retryable;
    bool final;                 /* no retry whatever the server says (a redirect) */
    int64_t body_wait_ms;       /* a wait the error BODY asked for (Gemini RetryInfo); 0 = none */
};

static void set_msg(struct verdict *v, char *msg)
{
    free(v->msg);
    v->msg = msg;
}

/* ---- what the reply says -------------------------------------------------------- */

/* A 2xx reply: parse it (streamed replies were parsed as they came). */
static void judge_success(struct ereq *r, const struct llm__xfer_outcome *o, struct verdict *v)
{
    struct llm_engine *e = r->eng;
    const char *body = o->body ? o->body : "";
    if (!r->req.stream) {
        v->err = e->provider->vtable->parse_response(e->provider, body, o->body_len, &r->parsed);
        if (v->err != LLM_OK && !r->parsed.error_message) {
            char *ex = llm__excerpt(body, o->body_len, 120);
            set_msg(v, llm__asprintf("could not parse the response body: %s", ex ? ex : ""));
            free(ex);
        }
    } else if (r->parsed.error == LLM_OK && !r->parsed.done &&
               llm__eng_stream_finish(r) == 0 && !r->parsed.done) {
        v->err = LLM_ERR_PARSE;
        set_msg(v, llm__strdup("stream ended before its final event (truncated)"));
    }
    if (v->err == LLM_OK && r->parsed.error != LLM_OK)
        v->err = r->parsed.error;
    if (v->err != LLM_OK && r->parsed.error_message && !v->msg)
        v->msg = llm__strdup(r->parsed.error_message);
    if (r->parsed.provider_code)
        v->code = llm__strdup(r->parsed.provider_code);
    v->retryable = llm_error_is_retryable(v->err);
}

/* A 3xx.  Redirects are never followed: the key would go wherever the
 * server points.  Nor retried: the next answer would be the same. */
static void judge_redirect(const struct llm__xfer_outcome *o, struct verdict *v)
{
    const char *loc = llm_http_headers_get(&o->headers, "location");
    char *ex = loc ? llm__excerpt(loc, strlen(loc), 200) : NULL;
    set_msg(v, llm__asprintf("HTTP %d: the server redirected to %s; redirects are not followed "
                             "(check base_url)",
                             o->status, ex ? ex : "(no Location header)"));
    free(ex);
    v->err = LLM_ERR_SERVER_ERROR;
    v->retryable = false;
    v->final = true;
}

/* Any other status: the provider's table classifies it. */
static void judge_failure(struct ereq *r, const struct llm__xfer_outcome *o, struct verdict *v)
{
    struct llm_engine *e = r->eng;
    const char *body = o->body ? o->body : "";
    if (o->status >= 300 && o->status < 400) {
        judge_redirect(o, v);
        return;
    }
    struct llm_error_info info = {0};
    e->provider->vtable->classify_error(e->provider, o->status, &o->headers, body, o->body_len,
                                        &info);
    v->err = info.type != LLM_OK ? info.type : LLM_ERR_SERVER_ERROR;
    v->retryable = info.retryable;
    v->body_wait_ms = info.retry_after_ms;
    char *ex = info.message ? NULL : llm__excerpt(body, o->body_len, 120);
    set_msg(v, llm__asprintf("HTTP %d: %s", o->status, info.message ? info.message : (ex ? ex : "")));
    free(ex);
    v->code = info.provider_code;
    info.provider_code = NULL;
    llm_error_info_clear(&info);
}

static void judge(struct ereq *r, const struct llm__xfer_outcome *o, struct verdict *v)
{
    v->err = o->transport_error;
    /* A stream whose final event arrived is a complete reply, whatever
     * happened to the connection after it (the engine may have closed it
     * itself: attempt.c, feed_stream). */
    if (v->err != LLM_OK && r->req.stream && r->parsed.done && r->parsed.error == LLM_OK &&
        o->status >= 200 && o->status < 300)
        v->err = LLM_OK;
    v->msg = v->err != LLM_OK && o->transport_message ? llm__strdup(o->transport_message) : NULL;
    if (v->err != LLM_OK)
        v->retryable = llm_error_is_retryable(v->err);
    else if (o->status >= 200 && o->status < 300)
        judge_success(r, o, v);
    else
        judge_failure(r, o, v);
}

/* ---- records ---------------------------------------------------------------------- */

static void record_attempt(struct ereq *r, const struct llm__xfer_outcome *o,
                           const struct verdict *v, int64_t retry_after_ms, int64_t end_us)
{
    struct llm_attempt a = {
        .start_us = r->attempt_start_wall_us,
        .end_us = end_us,
        .http_status = o->status,
        .error = v->err,
        .error_message = v->err != LLM_OK
                             ? llm__eng_scrub(r->eng, llm__strdup(v->msg ? v->msg : llm_strerror(v->err)))
                             : NULL,
        .retry_after_ms = retry_after_ms,
        .backoff_ms = 0,
        .bytes_sent = o->bytes_sent,
        .bytes_received = o->bytes_received,
    };
    if (llm__result_add_attempt(r->res, &a) != LLM_OK)
        free(a.error_message);
}

void llm__eng_set_raw(struct ereq *r, const char *body, size_t len)
{
    bool keep = r->req.keep_raw_response != 0 ? r->req.keep_raw_response > 0 : r->eng->keep_raw;
    if (!keep || !body)
        return;
    free(r->res->raw_response);
    /* A copy of all `len` bytes: a binary body (Bedrock's event-stream)
     * holds NUL bytes, where strndup would stop short of what the
     * scrubber then reads. */
    char *copy = len < SIZE_MAX ? malloc(len + 1) : NULL;
    if (copy != NULL) {
        memcpy(copy, body, len);
        copy[len] = '\0';
    }
    r->res->raw_response = llm__redact(&r->eng->secrets, copy, &len);
    r->res->raw_response_len = r->res->raw_response ? len : 0;
}

void llm__eng_record_cut(struct ereq *r, enum llm_error err, const char *msg)
{
    struct llm__xfer_outcome o = {.status = 0};
    llm__transport_progress(r->eng->transport, r->xfer, &o.status, &o.bytes_sent,
                            &o.bytes_received);
    struct verdict v = {.err = err, .msg = (char *)msg};
    record_attempt(r, &o, &v, -1, llm__stamp_now());
    if (r->stream && r->stream->raw_stream.len)
        llm__eng_set_raw(r, r->stream->raw_stream.data, r->stream->raw_stream.len);
}

void llm__eng_scrub_field(struct llm_engine *e, struct llm_result *res, char **field)
{
    if (*field == NULL || e->secrets.n == 0)
        return;
    size_t n = strlen(*field);
    if (!llm__secrets_found(&e->secrets, *field, n))
        return;
    /* The string may live in the result's own block: scrub a copy. */
    char *copy = llm__strndup(*field, n);
    llm__result_free_str(res, *field);
    *field = llm__eng_scrub(e, copy);
}

/* Move a string the parser owns into the result. */
static void take(struct llm_result *res, char **dst, char **src)
{
    if (!*src)
        return;
    llm__result_free_str(res, *dst);
    *dst = *src;
    *src = NULL;
}

/* The reply so far into the result: text, finish reason, model, ids,
 * usage, tool calls and refusal. */
static void take_reply(struct ereq *r)
{
    struct llm_result *res = r->res;
    struct llm_parsed *p = &r->parsed;
    llm__result_free_str(res, res->content);
    res->content = p->content ? p->content : llm__strdup("");
    res->content_len = p->content ? p->content_len : 0;
    p->content = NULL;
    p->content_len = p->content_cap = 0;
    take(res, &res->finish_reason, &p->finish_reason);
    take(res, &res->model, &p->model);
    take(res, &res->response_id, &p->response_id);
    /* The reply's own words (content) are the server's business; the
     * identifiers we keep and print next to our own fields are scrubbed. */
    llm__eng_scrub_field(r->eng, res, &res->finish_reason);
    llm__eng_scrub_field(r->eng, res, &res->model);
    llm__eng_scrub_field(r->eng, res, &res->response_id);
    res->usage = p->usage;
    res->server_timing = p->server_timing;
    /* Out of memory here loses only the calls, which the host can see by
     * finish_reason; the reply itself stands. */
    (void)llm__result_take_tools(res, p);
}

/* `parsed`: the wall time the reply was judged (the attempt's end). */
static void succeed(struct ereq *r, int64_t parsed)
{
    struct llm_result *res = r->res;
    take_reply(r);
    if (res->content_len && !res->timestamps[LLM_TS_FIRST_TOKEN]) {
        ts_set(r, LLM_TS_FIRST_TOKEN, res->timestamps[LLM_TS_RESPONSE_RECEIVED]);
        ts_set(r, LLM_TS_LAST_TOKEN, res->timestamps[LLM_TS_RESPONSE_RECEIVED]);
    }
    ts_set(r, LLM_TS_PARSED, parsed);
    if (r->eng->pipeline) {
        res->success = true;
        enum llm_error rc = llm_pipeline_run(r->eng->pipeline, res);
        if (rc != LLM_OK) {
            /* FAIL_RESULT policy (or out of memory): the step's verdict. */
            char *m = llm__strdup(res->error.message ? res->error.message : llm_strerror(rc));
            llm__eng_finish(r, res->error.type != LLM_OK ? res->error.type : rc, m, 0, NULL,
                            false);
            free(m);
            return;
        }
    }
    llm__eng_finish(r, LLM_OK, NULL, 0, NULL, false);
}

/* ---- whether and when to try again ----------------------------------------------- */

static void on_backoff_done(struct llm__timer *t, void *user)
{
    struct ereq *r = user;
    /* Retries go to the head of the line: they were admitted before. */
    llm__eng_fifo_push(r->eng, r, true, llm__now_mono_us());
    llm__eng_pump(r->eng);
}

static void back_off(struct ereq *r, int64_t delay, bool server_directed)
{
    struct llm_engine *e = r->eng;
    struct llm_result *res = r->res;
    res->attempts[res->n_attempts - 1].backoff_ms = delay;
    if (server_directed)
        res->backoff.server_wait_ms += delay;
    else
        res->backoff.backoff_ms += delay;
    r->state = ST_BACKOFF;
    if (llm__timer_start(e->loop, &r->timer,
                         llm__add_sat(llm__now_mono_us(), llm__ms_to_us_sat(delay)),
                         on_backoff_done, r) != 0)
        llm__eng_finish(r, LLM_ERR_OUT_OF_MEMORY, "out of memory arming a timer", 0, NULL, false);
}

/* ---- the attempt's end ---------------------------------------------------------- */

/* A failed attempt: put it to the retry strategy; back off or finish. */
static void retry_or_fail(struct ereq *r, const struct llm__xfer_outcome *o,
                          int64_t retry_after, struct verdict *v)
{
    struct llm_engine *e = r->eng;
    if (v->final) {
        llm__eng_finish(r, v->err, v->msg, o->status, v->code, false);
        return;
    }
    struct llm__retry_input in = {
        .attempt = r->attempt,
        .err = v->err,
        .message = v->msg,
        .status = o->status,
        .headers = &o->headers,
        .server_wait_ms = retry_after,
        .prev_backoff_ms = r->pending_backoff_ms,
        .now_mono_us = llm__now_mono_us(),
        .deadline_mono_us = r->deadline_mono_us,
        .delivered_delta = r->delivered_delta,
        .max_attempts = r->req.max_attempts > 0 ? (unsigned)r->req.max_attempts : 0,
    };
    struct llm__retry_plan plan;
    llm__retry_plan(&e->retry, &in, &plan);
    if (plan.verdict == LLM_VERDICT_RETRY) {
        if (!plan.server_directed)
            r->pending_backoff_ms = plan.delay_ms;
        back_off(r, plan.delay_ms, plan.server_directed);
    } else {
        llm__eng_finish(r, plan.final_error, plan.final_message ? plan.final_message : v->msg,
                        o->status, v->code, plan.retryable);
    }
    free(plan.final_message);
}

void llm__eng_attempt_done(struct ereq *r, const struct llm__xfer_outcome *o)
{
    struct llm_engine *e = r->eng;
    /* The slot goes back the moment the response is in: one clock read
     * (for admission's bookkeeping too). */
    int64_t received_mono = llm__now_mono_us();
    int64_t received = llm__stamp_at(received_mono);
    llm__eng_release_slot_at(e, r, received);
    ts_set(r, LLM_TS_RESPONSE_RECEIVED, received);
    r->res->error.http_status = o->status;
    if (r->stream && o->status >= 200 && o->status < 300)
        llm__eng_set_raw(r, r->stream->raw_stream.data ? r->stream->raw_stream.data : "",
                         r->stream->raw_stream.len);
    else
        llm__eng_set_raw(r, o->body, o->body_len);

    /* A success has no server-directed wait to honour: skip the lookups. */
    int64_t retry_after = o->status >= 200 && o->status < 300
                              ? -1
                              : llm__retry_after(&o->headers, llm__now_wall_us() / 1000);
    struct verdict v = {0};
    judge(r, o, &v);
    /* A wait asked for in the body counts as a Retry-After when the
     * headers gave none. */
    if (retry_after < 0 && v.body_wait_ms > 0)
        retry_after = v.body_wait_ms;
    /* The attempt ends, and a reply counts as parsed, once judged: one
     * clock read for both. */
    int64_t judged = llm__stamp_now();
    record_attempt(r, o, &v, retry_after, judged);
    llm__adm_feedback(e, r, o->status, &o->headers, retry_after, received_mono);
    if (v.err == LLM_OK) {
        llm__retry_success(&e->retry);
        succeed(r, judged);
    } else if (r->stopped) {
        /* The host stopped the stream: what arrived is kept, nothing is
         * retried. */
        take_reply(r);
        llm__eng_finish(r, LLM_ERR_CANCELLED, "stopped by the stream event callback",
                        o->status, NULL, false);
    } else {
        llm__eng_log(e, LLM_LOG_DEBUG, "trace=%s attempt %u failed: %s (%s)", r->res->trace_id,
                     r->attempt, llm_error_name(v.err), v.msg ? v.msg : "");
        retry_or_fail(r, o, retry_after, &v);
    }
    free(v.msg);
    free(v.code);
}
