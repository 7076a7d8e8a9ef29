/* libllmorch error taxonomy.
 *
 * One enum, append-only: values are never renumbered or reused (curl's
 * CURLcode rule), so they are safe to store, log and compare across
 * versions. */
#ifndef LLMORCH_ERROR_H
#define LLMORCH_ERROR_H

#include "common.h"

LLM_BEGIN_DECLS

enum llm_error {
    LLM_OK = 0,
    LLM_ERR_INVALID_REQUEST = 1,      /* the request is malformed (ours or the server says so) */
    LLM_ERR_AUTHENTICATION = 2,       /* missing or wrong API key (401) */
    LLM_ERR_PERMISSION_DENIED = 3,    /* key lacks access (403) */
    LLM_ERR_UNSUPPORTED_REGION = 4,   /* provider refuses the caller's country/region */
    LLM_ERR_NOT_FOUND = 5,            /* unknown model or endpoint (404) */
    LLM_ERR_CONTEXT_LENGTH_EXCEEDED = 6,
    LLM_ERR_CONTENT_FILTERED = 7,
    LLM_ERR_RATE_LIMITED = 8,         /* 429, retryable */
    LLM_ERR_INSUFFICIENT_QUOTA = 9,   /* billing: never retried */
    LLM_ERR_OVERLOADED = 10,          /* 529 / 503 */
    LLM_ERR_SERVER_ERROR = 11,        /* other 5xx */
    LLM_ERR_TIMEOUT = 12,             /* an attempt timed out */
    LLM_ERR_CONNECTION = 13,          /* DNS, refused, reset, TLS */
    LLM_ERR_PARSE = 14,               /* the response could not be understood */
    LLM_ERR_CANCELLED = 15,           /* cancelled by the caller or engine shutdown */
    LLM_ERR_DEADLINE_EXCEEDED = 16,   /* the request's total deadline passed */
    LLM_ERR_QUEUE_FULL = 17,          /* admission queue at capacity */
    LLM_ERR_RETRY_BUDGET_EXHAUSTED = 18,
    LLM_ERR_OUT_OF_MEMORY = 19,
    LLM_ERR_INTERNAL = 20,
    LLM_ERR_RESPONSE_TOO_LARGE = 21,  /* body over max_response_bytes */
    LLM_ERR_INVALID_ARGUMENT = 22,    /* API misuse: bad option, NULL pointer */
    LLM_ERR_SERVER_WAIT_TOO_LONG = 23, /* a wait longer than the cap (ext/retry.h verdict); the
                                         engine itself reports the server's own error type with
                                         the asked wait in the message */
    LLM_ERR_LOCAL_RESOURCE = 24,      /* this process ran out of a resource (file descriptors:
                                         EMFILE/ENFILE); never retried, so it spends no retry
                                         budget */
    LLM_ERR_LIMITER_UNAVAILABLE = 25  /* the shared limiter (Redis) is unreachable and the
                                         failure policy is LLM_SHARED_FAIL_FAIL */
    /* Append new values here; never renumber. */
};

/* Number of defined values (one past the highest).  Grows with the enum. */
#define LLM_ERROR_COUNT 26

/* Human-readable, static description of `err` ("rate limited").  Never NULL:
 * unknown values give "unknown error".  Thread-safe. */
LLM_API const char *llm_strerror(enum llm_error err);

/* Stable machine name of `err` ("RATE_LIMITED"), as used in JSON output.
 * Never NULL ("UNKNOWN" for unknown values).  Thread-safe. */
LLM_API const char *llm_error_name(enum llm_error err);

/* Whether an error of this type is worth retrying by default (rate limits,
 * overload, 5xx, timeouts, connection failures).  A server MAY override this
 * per response (x-should-retry); the result's `error.retryable` holds the
 * final verdict. */
LLM_API bool llm_error_is_retryable(enum llm_error err);

LLM_END_DECLS

#endif /* LLMORCH_ERROR_H */
