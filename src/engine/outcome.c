/* Outcomes: a finished transfer becomes either the request's success (then
 * the pipeline), a backoff before the next attempt, or the final error.
 * Engine thread. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/clock.h"
#include "base/util.h"
#include "core/result_internal.h"
#include "engine/engine_internal.h"
#include "llmorch/ext/backoff.h"
#include "llmorch/pipeline.h"

/* What an attempt came to; msg and code are owned. */
struct verdict {
    enum llm_error err;
    char *msg;
    char *code;
    bool retryable;
};

static void set_msg(struct verdict *v, char *msg)
{
    free(v->msg);
    v->msg = msg;
}

static int64_t parse_retry_after(const struct llm_http_headers *h)
{
    return llm_parse_retry_after_ms(llm_http_headers_get(h, "retry-after-ms"),
                                    llm_http_headers_get(h, "retry-after"),
                                    llm__now_wall_us() / 1000);
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
    } else if (r->parsed.error == LLM_OK && !r->parsed.done) {
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

/* Any other status: the provider's table classifies it. */
static void judge_failure(struct ereq *r, const struct llm__xfer_outcome *o, struct verdict *v)
{
    struct llm_engine *e = r->eng;
    const char *body = o->body ? o->body : "";
    struct llm_error_info info = {0};
    e->provider->vtable->classify_error(e->provider, o->status, &o->headers, body, o->body_len,
                                        &info);
    v->err = info.type != LLM_OK ? info.type : LLM_ERR_SERVER_ERROR;
    v->retryable = info.retryable;
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
    v->msg = o->transport_message ? llm__strdup(o->transport_message) : NULL;
    if (v->err != LLM_OK)
        v->retryable = llm_error_is_retryable(v->err);
    else if (o->status >= 200 && o->status < 300)
        judge_success(r, o, v);
    else
        judge_failure(r, o, v);
}

/* ---- records ---------------------------------------------------------------------- */

static void record_attempt(struct ereq *r, const struct llm__xfer_outcome *o,
                           const struct verdict *v, int64_t retry_after_ms)
{
    struct llm_attempt a = {
        .start_us = r->attempt_start_wall_us,
        .end_us = llm__stamp_now(),
        .http_status = o->status,
        .error = v->err,
        .error_message = v->err != LLM_OK ? llm__strdup(v->msg ? v->msg : llm_strerror(v->err))
                                          : NULL,
        .retry_after_ms = retry_after_ms,
        .backoff_ms = 0,
        .bytes_sent = o->bytes_sent,
        .bytes_received = o->bytes_received,
    };
    if (llm__result_add_attempt(r->res, &a) != LLM_OK)
        free(a.error_message);
}

static void set_raw(struct ereq *r, const char *body, size_t len)
{
    if (!r->eng->keep_raw || !body)
        return;
    free(r->res->raw_response);
    r->res->raw_response = llm__strndup(body, len);
    r->res->raw_response_len = r->res->raw_response ? len : 0;
}

/* Move a string the parser owns into the result. */
static void take(char **dst, char **src)
{
    if (!*src)
        return;
    free(*dst);
    *dst = *src;
    *src = NULL;
}

static void succeed(struct ereq *r)
{
    struct llm_result *res = r->res;
    struct llm_parsed *p = &r->parsed;
    free(res->content);
    res->content = p->content ? p->content : llm__strdup("");
    res->content_len = p->content ? p->content_len : 0;
    p->content = NULL;
    p->content_len = p->content_cap = 0;
    take(&res->finish_reason, &p->finish_reason);
    take(&res->model, &p->model);
    take(&res->response_id, &p->response_id);
    res->usage = p->usage;
    if (res->content_len && !res->timestamps[LLM_TS_FIRST_TOKEN]) {
        ts_set(r, LLM_TS_FIRST_TOKEN, res->timestamps[LLM_TS_RESPONSE_RECEIVED]);
        ts_set(r, LLM_TS_LAST_TOKEN, res->timestamps[LLM_TS_RESPONSE_RECEIVED]);
    }
    ts_set(r, LLM_TS_PARSED, llm__stamp_now());
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

static uint64_t engine_rand(void *user)
{
    /* xorshift64*: quality is ample for jitter. */
    struct llm_engine *e = user;
    uint64_t x = e->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    e->rng = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static int should_retry_header(const struct llm_http_headers *h)
{
    const char *sr = llm_http_headers_get(h, "x-should-retry");
    if (!sr)
        return -1;
    while (*sr == ' ' || *sr == '\t')
        sr++;
    if (strncasecmp(sr, "true", 4) == 0)
        return 1;
    if (strncasecmp(sr, "false", 5) == 0)
        return 0;
    return -1;
}

/* The wait before the next attempt, or -1 when the request ends with *v
 * (its error and message rewritten to say why it stops). */
static int64_t plan_retry(struct ereq *r, const struct llm__xfer_outcome *o, int64_t retry_after,
                          struct verdict *v)
{
    struct llm_engine *e = r->eng;
    int should_retry = should_retry_header(&o->headers);
    v->retryable = llm_retry_classify(&e->policy, v->err, o->status, should_retry) &&
                   !r->delivered_delta;
    enum llm_retry_verdict verdict =
        r->delivered_delta ? LLM_VERDICT_STOP_NOT_RETRYABLE
                           : llm_retry_decide(&e->policy, r->attempt, v->err, o->status,
                                              should_retry, retry_after);
    if (verdict == LLM_VERDICT_STOP_SERVER_WAIT_TOO_LONG)
        set_msg(v, llm__asprintf("%s (server asked to wait %" PRId64
                                 " ms, above max_server_wait_ms %" PRId64 ")",
                                 v->msg ? v->msg : llm_strerror(v->err), retry_after,
                                 e->max_server_wait_ms));
    if (verdict != LLM_VERDICT_RETRY)
        return -1;
    int64_t delay = retry_after;
    if (retry_after < 0) {
        delay = llm_backoff_next_delay_ms(e->backoff, r->attempt, r->pending_backoff_ms,
                                          engine_rand, e);
        if (delay < 0)
            return -1;
        r->pending_backoff_ms = delay;
    }
    if (r->deadline_mono_us && llm__now_mono_us() + delay * 1000 >= r->deadline_mono_us) {
        set_msg(v, llm__asprintf("deadline would pass during the %" PRId64
                                 " ms wait before attempt %u; last error: %s",
                                 delay, r->attempt + 1, v->msg ? v->msg : llm_strerror(v->err)));
        v->err = LLM_ERR_DEADLINE_EXCEEDED;
        v->retryable = false;
        return -1;
    }
    if (e->budget && !llm_retry_budget_try_spend(e->budget, v->err)) {
        set_msg(v, llm__asprintf("retry budget exhausted (%" PRId64
                                 " left): the provider is failing wholesale; last error: %s",
                                 llm_retry_budget_available(e->budget),
                                 v->msg ? v->msg : llm_strerror(v->err)));
        v->err = LLM_ERR_RETRY_BUDGET_EXHAUSTED;
        v->retryable = false;
        return -1;
    }
    return delay;
}

static void on_backoff_done(struct llm__timer *t, void *user)
{
    struct ereq *r = user;
    /* Retries go to the head of the line: they were admitted before. */
    llm__eng_fifo_push(r->eng, r, true);
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
    if (llm__timer_start(e->loop, &r->timer, llm__now_mono_us() + delay * 1000, on_backoff_done,
                         r) != 0)
        llm__eng_finish(r, LLM_ERR_OUT_OF_MEMORY, "out of memory arming a timer", 0, NULL, false);
}

/* ---- the attempt's end ---------------------------------------------------------- */

void llm__eng_attempt_done(struct ereq *r, const struct llm__xfer_outcome *o)
{
    struct llm_engine *e = r->eng;
    llm__eng_release_slot(e, r);
    ts_set(r, LLM_TS_RESPONSE_RECEIVED, llm__stamp_now());
    r->res->error.http_status = o->status;
    set_raw(r, o->body, o->body_len);

    /* A success has no server-directed wait to honour: skip the lookups. */
    int64_t retry_after = o->status >= 200 && o->status < 300 ? -1 : parse_retry_after(&o->headers);
    struct verdict v = {0};
    judge(r, o, &v);
    record_attempt(r, o, &v, retry_after);
    llm__adm_feedback(e, r, o->status, &o->headers, retry_after);
    if (v.err == LLM_OK) {
        if (e->budget)
            llm_retry_budget_refund_success(e->budget);
        succeed(r);
    } else {
        llm__eng_log(e, LLM_LOG_DEBUG, "trace=%s attempt %u failed: %s (%s)", r->res->trace_id,
                     r->attempt, llm_error_name(v.err), v.msg ? v.msg : "");
        int64_t delay = plan_retry(r, o, retry_after, &v);
        if (delay < 0)
            llm__eng_finish(r, v.err, v.msg, o->status, v.code, v.retryable);
        else
            back_off(r, delay, retry_after >= 0);
    }
    free(v.msg);
    free(v.code);
}
