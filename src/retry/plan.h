/* The retry plan: after a failed attempt, whether the request tries again,
 * when, and if not, with which final error and message.  Everything that
 * decides "retry or not" is here (on the one table of base/errors.h);
 * providers only classify a reply into an error type.  Modelled on
 * aws-c-io's aws_retry_strategy: the strategy owns the backoff, the retry
 * budget (token bucket) and the jitter's random state; each failure is put
 * to it and it answers with a plan.  Engine thread (the strategy is not
 * thread-safe); the helpers are pure.  Not installed. */
#ifndef LLMORCH_RETRY_PLAN_H
#define LLMORCH_RETRY_PLAN_H

#include <stdbool.h>
#include <stdint.h>

#include "llmorch/ext/backoff.h"
#include "llmorch/ext/provider.h"
#include "llmorch/ext/retry.h"

/* x-should-retry: 1 ("true"), 0 ("false"), -1 (absent or anything else). */
int llm__should_retry(const struct llm_http_headers *h);

/* The server's requested wait from retry-after-ms / retry-after
 * (llm_parse_retry_after_ms), -1 when none. */
int64_t llm__retry_after(const struct llm_http_headers *h, int64_t now_wall_ms);

struct llm__retry_strategy {
    struct llm_retry_policy policy;
    struct llm_backoff *backoff;     /* owned */
    struct llm_retry_budget *budget; /* owned; NULL = no budget */
    uint64_t rng;                    /* xorshift64* state for the jitter */
};

/* One failed attempt, as the strategy sees it.  Pointers are borrowed for
 * the call. */
struct llm__retry_input {
    unsigned attempt;                /* attempts made, including this one (>= 1) */
    enum llm_error err;              /* the attempt's error (not LLM_OK) */
    const char *message;             /* its message; NULL = llm_strerror(err) */
    int status;                      /* HTTP status, 0 = none */
    const struct llm_http_headers *headers; /* the response's (x-should-retry) */
    int64_t server_wait_ms;          /* llm__retry_after(), -1 = none */
    int64_t prev_backoff_ms;         /* the previous own backoff, 0 = none */
    int64_t now_mono_us;
    int64_t deadline_mono_us;        /* 0 = none */
    bool delivered_delta;            /* streamed text went out: a retry would repeat it */
    unsigned max_attempts;           /* the request's own limit; 0 = the policy's */
};

struct llm__retry_plan {
    enum llm_retry_verdict verdict;  /* RETRY, or why not */
    bool retryable;                  /* for llm_result.error.retryable */
    /* RETRY: the wait before the next attempt, and whether the server
     * asked for it (else it is our own backoff). */
    int64_t delay_ms;
    bool server_directed;
    /* Not RETRY: the request's final error, and a message that replaces
     * the attempt's (malloc'd; NULL = keep the attempt's message). */
    enum llm_error final_error;
    char *final_message;
};

/* Decide.  A RETRY plan has spent the retry budget.  Fills *out always;
 * free out->final_message. */
void llm__retry_plan(struct llm__retry_strategy *s, const struct llm__retry_input *in,
                     struct llm__retry_plan *out);

/* A success: refund the retry budget. */
void llm__retry_success(struct llm__retry_strategy *s);

void llm__retry_strategy_clear(struct llm__retry_strategy *s);

#endif /* LLMORCH_RETRY_PLAN_H */
