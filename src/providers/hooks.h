/* What the engine asks a built-in provider after build_request.  Internal:
 * not part of the public vtable (a custom provider has no such step). */
#ifndef LLMORCH_PROVIDERS_HOOKS_H
#define LLMORCH_PROVIDERS_HOOKS_H

#include <stddef.h>

#include "llmorch/ext/provider.h"

/* The engine has added its default header lines (`engine_lines`) and the
 * request's (`request_lines`), "Name: value" each, to `req` as built by
 * p's build_request: the provider's last word on the final header set.
 * Bedrock signing with SigV4 refuses a line naming a header its signature
 * sets (Authorization, Host, X-Amz-Date, X-Amz-Content-Sha256,
 * X-Amz-Security-Token) and signs the request again, over every header it
 * now carries; every other provider leaves `req` alone.  Returns LLM_OK,
 * LLM_ERR_INVALID_REQUEST (the reason in why, never a secret) or
 * LLM_ERR_OUT_OF_MEMORY; `req` is then the caller's to clear. */
enum llm_error llm__provider_headers_added(const struct llm_provider *p,
                                           struct llm_http_request *req,
                                           const char *const *engine_lines, size_t n_engine,
                                           const char *const *request_lines, size_t n_request,
                                           char *why, size_t why_cap);

/* Bedrock's part of llm__provider_headers_added (bedrock.c): LLM_OK at
 * once when `p` is not a Bedrock provider signing with SigV4. */
enum llm_error llm__bedrock_headers_added(const struct llm_provider *p,
                                          struct llm_http_request *req,
                                          const char *const *const lines[2], const size_t n[2],
                                          char *why, size_t why_cap);

#endif /* LLMORCH_PROVIDERS_HOOKS_H */
