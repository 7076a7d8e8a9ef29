/* The in-process mock provider: no network, no key.  Replies are
 * deterministic functions of the prompt, with token usage, so every engine
 * path (latency, streaming, each error type, retries) can be exercised
 * without a server.  It is the engine's default provider. */
#ifndef LLMORCH_MOCK_H
#define LLMORCH_MOCK_H

#include "common.h"
#include "error.h"

LLM_BEGIN_DECLS

struct llm_provider;

struct llm_mock_options {
    /* Simulated latency of each attempt, applied with engine timers (no
     * thread sleeps).  0 = immediate (the reply is still delivered
     * asynchronously, on the engine thread). */
    int64_t latency_ms;

    /* Scripted outcomes, one per attempt in order, for every request:
     * a comma-separated list of HTTP statuses and/or error names, e.g.
     * "429,503,ok" (fail twice, then succeed) or "TIMEOUT,CONNECTION,200".
     * Status codes produce a provider-format error body that the engine
     * classifies as a real one; "insufficient_quota" and "unsupported_region"
     * produce the matching 429/403 bodies.  Attempts past the end of the list
     * succeed.  Tokens are case-insensitive.  NULL or "" = always succeed.
     * Copied. */
    const char *script;

    /* Reply text instead of the default echo ("mock reply to: <prompt>").
     * Copied. */
    const char *reply;

    /* Retry-After sent with scripted 429/503 statuses, ms; 0 = none. */
    int64_t retry_after_ms;
};

/* Create a mock provider.  `opts` may be NULL.  Returns LLM_OK and sets
 * *out, or LLM_ERR_INVALID_ARGUMENT for an unparsable script. */
LLM_API enum llm_error llm_provider_new_mock(const struct llm_mock_options *opts,
                                             struct llm_provider **out);

LLM_END_DECLS

#endif /* LLMORCH_MOCK_H */
