/* The error taxonomy's names, messages and the one retryability table.
 *
 * Tables are indexed by the enum with designated initializers, so a value
 * added to error.h without an entry here fails the static asserts (size) and
 * the unit test (NULL entry) instead of printing garbage. */
#include "base/errors.h"

#include <stddef.h>

static const char *const error_names[] = {
    [LLM_OK] = "OK",
    [LLM_ERR_INVALID_REQUEST] = "INVALID_REQUEST",
    [LLM_ERR_AUTHENTICATION] = "AUTHENTICATION",
    [LLM_ERR_PERMISSION_DENIED] = "PERMISSION_DENIED",
    [LLM_ERR_UNSUPPORTED_REGION] = "UNSUPPORTED_REGION",
    [LLM_ERR_NOT_FOUND] = "NOT_FOUND",
    [LLM_ERR_CONTEXT_LENGTH_EXCEEDED] = "CONTEXT_LENGTH_EXCEEDED",
    [LLM_ERR_CONTENT_FILTERED] = "CONTENT_FILTERED",
    [LLM_ERR_RATE_LIMITED] = "RATE_LIMITED",
    [LLM_ERR_INSUFFICIENT_QUOTA] = "INSUFFICIENT_QUOTA",
    [LLM_ERR_OVERLOADED] = "OVERLOADED",
    [LLM_ERR_SERVER_ERROR] = "SERVER_ERROR",
    [LLM_ERR_TIMEOUT] = "TIMEOUT",
    [LLM_ERR_CONNECTION] = "CONNECTION",
    [LLM_ERR_PARSE] = "PARSE",
    [LLM_ERR_CANCELLED] = "CANCELLED",
    [LLM_ERR_DEADLINE_EXCEEDED] = "DEADLINE_EXCEEDED",
    [LLM_ERR_QUEUE_FULL] = "QUEUE_FULL",
    [LLM_ERR_RETRY_BUDGET_EXHAUSTED] = "RETRY_BUDGET_EXHAUSTED",
    [LLM_ERR_OUT_OF_MEMORY] = "OUT_OF_MEMORY",
    [LLM_ERR_INTERNAL] = "INTERNAL",
    [LLM_ERR_RESPONSE_TOO_LARGE] = "RESPONSE_TOO_LARGE",
    [LLM_ERR_INVALID_ARGUMENT] = "INVALID_ARGUMENT",
    [LLM_ERR_SERVER_WAIT_TOO_LONG] = "SERVER_WAIT_TOO_LONG",
    [LLM_ERR_LOCAL_RESOURCE] = "LOCAL_RESOURCE",
    [LLM_ERR_LIMITER_UNAVAILABLE] = "LIMITER_UNAVAILABLE",
};

static const char *const error_messages[] = {
    [LLM_OK] = "success",
    [LLM_ERR_INVALID_REQUEST] = "invalid request",
    [LLM_ERR_AUTHENTICATION] = "authentication failed (missing or invalid API key)",
    [LLM_ERR_PERMISSION_DENIED] = "permission denied",
    [LLM_ERR_UNSUPPORTED_REGION] = "provider does not serve this region",
    [LLM_ERR_NOT_FOUND] = "model or endpoint not found",
    [LLM_ERR_CONTEXT_LENGTH_EXCEEDED] = "context length exceeded",
    [LLM_ERR_CONTENT_FILTERED] = "content filtered by the provider",
    [LLM_ERR_RATE_LIMITED] = "rate limited",
    [LLM_ERR_INSUFFICIENT_QUOTA] = "insufficient quota (billing)",
    [LLM_ERR_OVERLOADED] = "provider overloaded",
    [LLM_ERR_SERVER_ERROR] = "provider server error",
    [LLM_ERR_TIMEOUT] = "timed out",
    [LLM_ERR_CONNECTION] = "connection failed",
    [LLM_ERR_PARSE] = "response could not be parsed",
    [LLM_ERR_CANCELLED] = "cancelled",
    [LLM_ERR_DEADLINE_EXCEEDED] = "deadline exceeded",
    [LLM_ERR_QUEUE_FULL] = "admission queue full",
    [LLM_ERR_RETRY_BUDGET_EXHAUSTED] = "retry budget exhausted",
    [LLM_ERR_OUT_OF_MEMORY] = "out of memory",
    [LLM_ERR_INTERNAL] = "internal error",
    [LLM_ERR_RESPONSE_TOO_LARGE] = "response too large",
    [LLM_ERR_INVALID_ARGUMENT] = "invalid argument",
    [LLM_ERR_SERVER_WAIT_TOO_LONG] = "server asked to wait longer than allowed",
    [LLM_ERR_LOCAL_RESOURCE] = "out of a local resource (file descriptors)",
    [LLM_ERR_LIMITER_UNAVAILABLE] = "shared rate limiter (Redis) unavailable",
};

/* THE retryability table: how each error type is retried.  Everything that
 * decides "retry or not" reads it through llm__error_retry_kind() (the
 * retry plan in src/retry/, llm_error_is_retryable(), the providers'
 * llm_error_info.retryable).  Spelt out to the last value so that the size
 * tracks the enum: appending an error fails the static assert below until
 * someone decides here how it is retried. */
static const unsigned char retry_kinds[] = {
    [LLM_OK] = LLM__RETRY_NEVER,
    [LLM_ERR_INVALID_REQUEST] = LLM__RETRY_FINAL,
    [LLM_ERR_AUTHENTICATION] = LLM__RETRY_FINAL,
    [LLM_ERR_PERMISSION_DENIED] = LLM__RETRY_FINAL,
    [LLM_ERR_UNSUPPORTED_REGION] = LLM__RETRY_FINAL,
    [LLM_ERR_NOT_FOUND] = LLM__RETRY_FINAL,
    [LLM_ERR_CONTEXT_LENGTH_EXCEEDED] = LLM__RETRY_FINAL,
    [LLM_ERR_CONTENT_FILTERED] = LLM__RETRY_FINAL,
    [LLM_ERR_RATE_LIMITED] = LLM__RETRY_YES,
    [LLM_ERR_INSUFFICIENT_QUOTA] = LLM__RETRY_NEVER,
    [LLM_ERR_OVERLOADED] = LLM__RETRY_YES,
    [LLM_ERR_SERVER_ERROR] = LLM__RETRY_YES,
    [LLM_ERR_TIMEOUT] = LLM__RETRY_YES,
    [LLM_ERR_CONNECTION] = LLM__RETRY_YES,
    [LLM_ERR_PARSE] = LLM__RETRY_BY_STATUS,
    [LLM_ERR_CANCELLED] = LLM__RETRY_NEVER,
    [LLM_ERR_DEADLINE_EXCEEDED] = LLM__RETRY_NEVER,
    [LLM_ERR_QUEUE_FULL] = LLM__RETRY_NEVER,
    [LLM_ERR_RETRY_BUDGET_EXHAUSTED] = LLM__RETRY_NEVER,
    [LLM_ERR_OUT_OF_MEMORY] = LLM__RETRY_NEVER,
    [LLM_ERR_INTERNAL] = LLM__RETRY_NEVER,
    [LLM_ERR_RESPONSE_TOO_LARGE] = LLM__RETRY_FINAL,
    [LLM_ERR_INVALID_ARGUMENT] = LLM__RETRY_NEVER,
    [LLM_ERR_SERVER_WAIT_TOO_LONG] = LLM__RETRY_NEVER,
    /* Retrying cannot help while the process is out of descriptors, and
     * must not drain the budget other requests share. */
    [LLM_ERR_LOCAL_RESOURCE] = LLM__RETRY_NEVER,
    [LLM_ERR_LIMITER_UNAVAILABLE] = LLM__RETRY_NEVER,
};

_Static_assert(sizeof(error_names) / sizeof(error_names[0]) == LLM_ERROR_COUNT,
               "error_names must have one entry per enum llm_error value");
_Static_assert(sizeof(error_messages) / sizeof(error_messages[0]) == LLM_ERROR_COUNT,
               "error_messages must have one entry per enum llm_error value");
_Static_assert(sizeof(retry_kinds) / sizeof(retry_kinds[0]) == LLM_ERROR_COUNT,
               "retry_kinds must have one entry per enum llm_error value");

/* Compare as unsigned so that negative values (casts from int) are out of
 * range too. */
static bool in_range(enum llm_error err)
{
    return (unsigned)err < LLM_ERROR_COUNT;
}

const char *llm_strerror(enum llm_error err)
{
    if (!in_range(err) || error_messages[err] == NULL)
        return "unknown error";
    return error_messages[err];
}

const char *llm_error_name(enum llm_error err)
{
    if (!in_range(err) || error_names[err] == NULL)
        return "UNKNOWN";
    return error_names[err];
}

enum llm__retry_kind llm__error_retry_kind(enum llm_error err)
{
    /* Values from a newer version of the enum: final. */
    return in_range(err) ? (enum llm__retry_kind)retry_kinds[err] : LLM__RETRY_FINAL;
}

bool llm__status_retryable(int status)
{
    return status == 408 || status == 409 || status == 429 || (status >= 500 && status <= 599);
}

bool llm_error_is_retryable(enum llm_error err)
{
    return llm__error_retry_kind(err) == LLM__RETRY_YES;
}
