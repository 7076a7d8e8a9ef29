/* Retry machinery: a retry budget shared by all requests, parsing of the
 * server's "wait this long" headers, and the pure retry decision.
 *
 * Nothing here sleeps, starts threads or does I/O; time is passed in. */
#ifndef LLMORCH_EXT_RETRY_H
#define LLMORCH_EXT_RETRY_H

#include "../common.h"
#include "../error.h"

LLM_BEGIN_DECLS

/* ---- retry budget ------------------------------------------------------- */

/* A token bucket that caps retries across all requests of an engine, as the
 * AWS SDKs' standard retry mode does: every retry spends tokens, every
 * success puts a little back, and when the bucket is empty failures are
 * returned instead of retried.  While a provider is healthy the bucket
 * stays full; when it fails everything, at most capacity / retry_cost
 * retries happen before the budget stops a retry storm.
 *
 * Not thread-safe: the engine uses it from its event-loop thread only. */
struct llm_retry_budget;

/* Budget options.  Zero means default; negative values are invalid. */
struct llm_retry_budget_options {
    int64_t capacity;            /* tokens when full (and at start); default 500 */
    int64_t retry_cost;          /* spent by a retry; default 5 */
    int64_t timeout_retry_cost;  /* spent by a retry after LLM_ERR_TIMEOUT; default 10 */
    int64_t success_refund;      /* returned by a success; default 1 */
};

/* Create a full budget.  `o` may be NULL (all defaults).  Returns LLM_OK and
 * sets *out (free with llm_retry_budget_free()), or
 * LLM_ERR_INVALID_ARGUMENT (NULL `out`, a negative option) or
 * LLM_ERR_OUT_OF_MEMORY with *out NULL.  Any thread. */
LLM_API enum llm_error llm_retry_budget_new(const struct llm_retry_budget_options *o,
                                            struct llm_retry_budget **out);

/* Spend the cost of one retry caused by `cause` (timeout_retry_cost for
 * LLM_ERR_TIMEOUT, retry_cost otherwise).  Returns true and debits it if
 * that many tokens are available; returns false and debits nothing
 * otherwise (the caller then fails the request instead of retrying, with
 * LLM_ERR_RETRY_BUDGET_EXHAUSTED or the last error).  A NULL budget always
 * allows.  Engine thread. */
LLM_API bool llm_retry_budget_try_spend(struct llm_retry_budget *b, enum llm_error cause);

/* Credit a successful attempt: success_refund tokens, never above capacity.
 * NULL-safe.  Engine thread. */
LLM_API void llm_retry_budget_refund_success(struct llm_retry_budget *b);

/* Tokens available now (0..capacity); 0 for NULL.  Engine thread. */
LLM_API int64_t llm_retry_budget_available(const struct llm_retry_budget *b);

/* Free a budget.  NULL-safe. */
LLM_API void llm_retry_budget_free(struct llm_retry_budget *b);

/* ---- server-directed waits --------------------------------------------- */

/* Largest wait llm_parse_retry_after_ms() returns: one day.  Anything longer
 * (or too large to represent) is clamped to it, which still exceeds any
 * sensible max_server_wait_ms, so the request fails instead of sleeping. */
#define LLM_RETRY_AFTER_MAX_MS ((int64_t)86400000)

/* How long the server asked us to wait, in ms, from the values of the
 * `retry-after-ms` and `retry-after` response headers (either may be NULL
 * when absent; both are borrowed for the call).
 *   - `retry-after-ms` (OpenAI, Anthropic) is preferred: a decimal number of
 *     milliseconds ("1500", "20.5"; fractions round up).
 *   - Otherwise `retry-after` (RFC 9110): delta-seconds, integer or decimal
 *     ("30", "1.5"; rounded up to whole ms), or an HTTP-date, whose wait is
 *     the date minus `now_wall_ms` (ms since the Unix epoch, UTC).  All three
 *     date forms are accepted: IMF-fixdate "Wed, 21 Oct 2015 07:28:00 GMT",
 *     RFC 850 "Wednesday, 21-Oct-15 07:28:00 GMT" and asctime
 *     "Wed Oct 21 07:28:00 2015".
 * Surrounding spaces and tabs are ignored; numbers are parsed by hand,
 * independently of the C locale.  A negative number or a date in the past
 * gives 0 (retry now).  Values above LLM_RETRY_AFTER_MAX_MS are clamped to
 * it.  A header that does not parse is ignored as if absent (a garbage
 * `retry-after-ms` falls back to `retry-after`); returns -1 when neither
 * gives a wait.  Thread-safe (pure). */
LLM_API int64_t llm_parse_retry_after_ms(const char *retry_after_ms_hdr,
                                         const char *retry_after_hdr, int64_t now_wall_ms);

/* ---- the retry decision -------------------------------------------------- */

/* Retry policy.  Zero means default. */
struct llm_retry_policy {
    /* Total attempts per request including the first; default 3; 1 = no
     * retries. */
    unsigned max_attempts;
    /* A server-directed wait longer than this stops the request with
     * LLM_VERDICT_STOP_SERVER_WAIT_TOO_LONG instead of sleeping; default
     * 60000; negative = no cap. */
    int64_t max_server_wait_ms;
    /* Retry LLM_ERR_PARSE on a 2xx response too (see llm_retry_classify());
     * default false. */
    bool retry_parse_errors;
};

enum llm_retry_verdict {
    LLM_VERDICT_RETRY = 0,                   /* retry (after a backoff or the server's wait) */
    LLM_VERDICT_STOP_NOT_RETRYABLE = 1,      /* the error is final */
    LLM_VERDICT_STOP_MAX_ATTEMPTS = 2,       /* retryable, but attempts are used up */
    LLM_VERDICT_STOP_SERVER_WAIT_TOO_LONG = 3 /* retryable, but the server's wait exceeds the cap */
};

/* Stable name of a verdict ("RETRY", "STOP_MAX_ATTEMPTS", ...); "UNKNOWN"
 * for other values.  Never NULL.  Thread-safe. */
LLM_API const char *llm_retry_verdict_name(enum llm_retry_verdict v);

/* Whether a failure is worth retrying at all, ignoring attempt counts and
 * waits: the value for llm_result's `error.retryable`.
 *
 * By error type:
 *   retryable:  RATE_LIMITED (429), OVERLOADED (503/529), SERVER_ERROR (other
 *               5xx, and 409 as providers classify it), TIMEOUT (including
 *               408), CONNECTION.
 *   final:      INVALID_REQUEST, AUTHENTICATION, PERMISSION_DENIED,
 *               UNSUPPORTED_REGION, NOT_FOUND, CONTEXT_LENGTH_EXCEEDED,
 *               CONTENT_FILTERED, RESPONSE_TOO_LARGE, and values this
 *               version does not know.
 *   PARSE:      retryable only when `http_status` is itself a retryable
 *               status (408, 409, 429, 5xx: typically a proxy's HTML error
 *               page).  On a 2xx (or no status) it is final by default: a
 *               success body we cannot read is usually truncated or
 *               malformed, and re-sending may bill the generation twice.
 *               `p->retry_parse_errors` makes it retryable.
 * The server's `x-should-retry` header (`should_retry` 1 = "true", 0 =
 * "false", -1 = absent) overrides the type either way, except that it never
 * makes these retryable:
 *   INSUFFICIENT_QUOTA (billing: retrying cannot succeed and costs budget),
 *   and the errors the client itself decided, which no server header is
 *   about: CANCELLED, DEADLINE_EXCEEDED, QUEUE_FULL,
 *   RETRY_BUDGET_EXHAUSTED, SERVER_WAIT_TOO_LONG, OUT_OF_MEMORY, INTERNAL,
 *   INVALID_ARGUMENT.
 * LLM_OK is never retryable.  `p` may be NULL (defaults).  Thread-safe
 * (pure). */
LLM_API bool llm_retry_classify(const struct llm_retry_policy *p, enum llm_error err,
                                int http_status, int should_retry);

/* Decide what to do after a failed attempt.
 *   attempts_made   attempts made so far, including the one that failed (>= 1)
 *   err, http_status, should_retry   as for llm_retry_classify(); http_status
 *                   0 when there was no HTTP response
 *   server_wait_ms  the server's requested wait (llm_parse_retry_after_ms()),
 *                   -1 when none
 * Checked in this order: not retryable (llm_retry_classify()) ->
 * LLM_VERDICT_STOP_NOT_RETRYABLE; attempts_made >= max_attempts ->
 * LLM_VERDICT_STOP_MAX_ATTEMPTS; server_wait_ms > max_server_wait_ms ->
 * LLM_VERDICT_STOP_SERVER_WAIT_TOO_LONG; otherwise LLM_VERDICT_RETRY.
 * The retry budget and the request's deadline are the caller's further
 * checks after a RETRY.  `p` may be NULL (defaults).  Thread-safe (pure). */
LLM_API enum llm_retry_verdict llm_retry_decide(const struct llm_retry_policy *p,
                                                unsigned attempts_made, enum llm_error err,
                                                int http_status, int should_retry,
                                                int64_t server_wait_ms);

LLM_END_DECLS

#endif /* LLMORCH_EXT_RETRY_H */
