/* Helpers shared by the engine and integration tests (cmocka assertions
 * inside). */
#ifndef LLM_TEST_ENGINE_HELPERS_H
#define LLM_TEST_ENGINE_HELPERS_H

#include "llmorch/llmorch.h"

/* An "openai" engine on `url` with no API key; `base` (may be NULL) gives
 * the other options.  Fails the test if the engine cannot be made. */
struct llm_engine *openai_engine_for(const char *url, const struct llm_engine_options *base);

/* Submit `req`, check it is still pending after `pending_ms`, cancel it,
 * and return its result, asserted CANCELLED (the future is freed). */
struct llm_result *submit_then_cancel(struct llm_engine *e, const struct llm_request *req,
                                      int64_t pending_ms);

#endif
