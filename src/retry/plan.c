/* The retry plan.  See plan.h. */
#include "retry/plan.h"

#include <inttypes.h>
#include <stdlib.h>

#include "base/util.h"

static uint64_t next_random(void *user)
{
    /* xorshift64*: quality is ample for jitter. */
    struct llm__retry_strategy *s = user;
    uint64_t x = s->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    s->rng = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static const char *msg_of(const struct llm__retry_input *in)
{
    return in->message ? in->message : llm_strerror(in->err);
}

/* The wait before the next attempt: the server's, else our backoff's;
 * -1 when the backoff strategy gives up. */
static int64_t next_delay(struct llm__retry_strategy *s, const struct llm__retry_input *in,
                          struct llm__retry_plan *out)
{
    out->server_directed = in->server_wait_ms >= 0;
    if (out->server_directed)
        return in->server_wait_ms;
    return llm_backoff_next_delay_ms(s->backoff, in->attempt, in->prev_backoff_ms, next_random, s);
}

void llm__retry_plan(struct llm__retry_strategy *s, const struct llm__retry_input *in,
                     struct llm__retry_plan *out)
{
    *out = (struct llm__retry_plan){.final_error = in->err};
    struct llm_retry_policy policy = s->policy;
    if (in->max_attempts > 0)
        policy.max_attempts = in->max_attempts;
    int should_retry = llm__should_retry(in->headers);
    out->retryable = !in->delivered_delta &&
                     llm_retry_classify(&policy, in->err, in->status, should_retry);
    out->verdict = in->delivered_delta
                       ? LLM_VERDICT_STOP_NOT_RETRYABLE
                       : llm_retry_decide(&policy, in->attempt, in->err, in->status,
                                          should_retry, in->server_wait_ms);
    if (out->verdict == LLM_VERDICT_STOP_SERVER_WAIT_TOO_LONG)
        out->final_message = llm__asprintf("%s (server asked to wait %" PRId64
                                           " ms, above max_server_wait_ms %" PRId64 ")",
                                           msg_of(in), in->server_wait_ms,
                                           s->policy.max_server_wait_ms);
    if (out->verdict != LLM_VERDICT_RETRY)
        return;
    out->delay_ms = next_delay(s, in, out);
    if (out->delay_ms < 0) {
        /* The backoff strategy gave up: the attempt's error stands. */
        out->verdict = LLM_VERDICT_STOP_MAX_ATTEMPTS;
        return;
    }
    /* delay_ms may be a server's or an option's (huge): compare without
     * overflow. */
    if (in->deadline_mono_us &&
        (in->now_mono_us >= in->deadline_mono_us ||
         out->delay_ms > (in->deadline_mono_us - in->now_mono_us - 1) / 1000)) {
        out->verdict = LLM_VERDICT_STOP_NOT_RETRYABLE;
        out->final_error = LLM_ERR_DEADLINE_EXCEEDED;
        out->retryable = false;
        out->final_message = llm__asprintf("deadline would pass during the %" PRId64
                                           " ms wait before attempt %u; last error: %s",
                                           out->delay_ms, in->attempt + 1, msg_of(in));
        return;
    }
    if (s->budget && !llm_retry_budget_try_spend(s->budget, in->err)) {
        out->verdict = LLM_VERDICT_STOP_NOT_RETRYABLE;
        out->final_error = LLM_ERR_RETRY_BUDGET_EXHAUSTED;
        out->retryable = false;
        out->final_message = llm__asprintf(
            "retry budget exhausted (%" PRId64
            " left): the provider is failing wholesale; last error: %s",
            llm_retry_budget_available(s->budget), msg_of(in));
    }
}

void llm__retry_success(struct llm__retry_strategy *s)
{
    if (s->budget)
        llm_retry_budget_refund_success(s->budget);
}

void llm__retry_strategy_clear(struct llm__retry_strategy *s)
{
    llm_retry_budget_free(s->budget);
    llm_backoff_free(s->backoff);
    s->budget = NULL;
    s->backoff = NULL;
}
