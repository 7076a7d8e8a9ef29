/* The OpenAI wire format's slots, shared with the Azure OpenAI provider
 * (azure.c), which differs only in URL and auth.  Internal. */
#ifndef LLMORCH_PROVIDERS_OPENAI_H
#define LLMORCH_PROVIDERS_OPENAI_H

#include "llmorch/ext/provider.h"

/* The Chat Completions body for `req` into out->body / out->body_len;
 * `model` (NULL: req->model) is the "model" member (Azure: the
 * deployment).  Returns as build_request; nothing allocated on error. */
enum llm_error llm__openai_build_body(const struct llm_request *req, const char *model,
                                      struct llm_http_request *out);

/* The openai vtable's slots (none of them reads the provider's impl). */
void llm__openai_classify_error(const struct llm_provider *p, int status,
                                const struct llm_http_headers *headers, const char *body,
                                size_t len, struct llm_error_info *out);
enum llm_error llm__openai_parse_response(const struct llm_provider *p, const char *body,
                                          size_t len, struct llm_parsed *out);
enum llm_error llm__openai_parse_stream_event(const struct llm_provider *p, const char *event,
                                              const char *data, size_t len,
                                              struct llm_parsed *acc);
void llm__openai_read_rate_limits(const struct llm_provider *p, const struct llm_http_headers *h,
                                  struct llm_rate_limit_info *out);

#endif /* LLMORCH_PROVIDERS_OPENAI_H */
