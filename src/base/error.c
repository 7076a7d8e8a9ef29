/* The error taxonomy's names, messages and default retry verdicts.
 *
 * Tables are indexed by the enum with designated initializers, so a value
 * added to error.h without an entry here fails the static asserts (size) and
 * the unit test (NULL entry) instead of printing garbage. */
#include "llmorch/error.h"

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
};

/* The default verdict; a server may override it per response.  The last
 * value is spelt out so that the table's size tracks the enum: appending an
 * error makes the static assert below fail until someone decides here
 * whether it is retryable. */
static const bool error_retryable[] = {
    [LLM_ERR_RATE_LIMITED] = true,
    [LLM_ERR_OVERLOADED] = true,
    [LLM_ERR_SERVER_ERROR] = true,
    [LLM_ERR_TIMEOUT] = true,
    [LLM_ERR_CONNECTION] = true,
    [LLM_ERR_SERVER_WAIT_TOO_LONG] = false,
};

_Static_assert(sizeof(error_names) / sizeof(error_names[0]) == LLM_ERROR_COUNT,
               "error_names must have one entry per enum llm_error value");
_Static_assert(sizeof(error_messages) / sizeof(error_messages[0]) == LLM_ERROR_COUNT,
               "error_messages must have one entry per enum llm_error value");
_Static_assert(sizeof(error_retryable) / sizeof(error_retryable[0]) == LLM_ERROR_COUNT,
               "error_retryable must have one entry per enum llm_error value");

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

bool llm_error_is_retryable(enum llm_error err)
{
    return in_range(err) && error_retryable[err];
}
