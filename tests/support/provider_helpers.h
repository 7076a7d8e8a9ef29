/* Helpers shared by the provider unit tests: call a provider's slots on
 * string literals and check what comes back.  cmocka assertions inside. */
#ifndef LLM_TEST_PROVIDER_HELPERS_H
#define LLM_TEST_PROVIDER_HELPERS_H

#include "llmorch/ext/provider.h"

/* Trace id every build_request call in the tests receives. */
#define TEST_TRACE_ID "0190a5b2-0000-7000-8000-000000000001"

/* A provider made by `ctor` from `opts`; fails the test unless it is made. */
struct llm_provider *prov_new(enum llm_error (*ctor)(const struct llm_provider_options *,
                                                     struct llm_provider **),
                              const struct llm_provider_options *opts);

/* The smallest valid request: `model`, one user message "Hello". */
struct llm_request prov_minimal_request(const char *model);

/* Value of the one header named `name` (case-insensitive), NULL if absent;
 * fails the test if it appears twice. */
const char *prov_header(const struct llm_http_request *r, const char *name);

/* Fail unless the two JSON texts are equal as values (member order free). */
void assert_json_equal(const char *got, const char *want);

/* build_request with TEST_TRACE_ID; fails the test unless it succeeds with
 * a NUL-terminated body. */
void prov_build(struct llm_provider *p, const struct llm_request *req,
                struct llm_http_request *out);

/* parse_response / parse_stream_event / classify_error on C strings. */
enum llm_error prov_parse(struct llm_provider *p, const char *body, struct llm_parsed *out);
enum llm_error prov_feed(struct llm_provider *p, const char *event, const char *data,
                         struct llm_parsed *acc);
void prov_classify(struct llm_provider *p, int status, const struct llm_http_headers *h,
                   const char *body, struct llm_error_info *info);

#endif
