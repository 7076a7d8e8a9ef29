/* Ground floor (src/base/): the one retryability table behind
 * llm_error_is_retryable() and the retry plan (src/retry/).  Not
 * installed. */
#ifndef LLMORCH_BASE_ERRORS_H
#define LLMORCH_BASE_ERRORS_H

#include <stdbool.h>

#include "llmorch/error.h"

/* How an error type is retried. */
enum llm__retry_kind {
    LLM__RETRY_NEVER = 0,      /* never, whatever the server says (billing, the
                                  client's own decisions) */
    LLM__RETRY_FINAL,          /* not retried unless the server says so */
    LLM__RETRY_YES,            /* retried unless the server says not to */
    LLM__RETRY_BY_STATUS       /* PARSE: decided by the HTTP status */
};

/* The row of `err` in the table; LLM__RETRY_FINAL for values this version
 * does not know.  Thread-safe (pure). */
enum llm__retry_kind llm__error_retry_kind(enum llm_error err);

/* Whether an HTTP status is itself worth retrying (408, 409, 429, 5xx):
 * decides LLM__RETRY_BY_STATUS. */
bool llm__status_retryable(int status);

#endif /* LLMORCH_BASE_ERRORS_H */
