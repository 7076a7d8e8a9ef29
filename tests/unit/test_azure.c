/* The Azure OpenAI provider: deployment and v1 URLs, api-key vs bearer
 * auth, endpoint from AZURE_OPENAI_ENDPOINT, the OpenAI body with the
 * deployment as model, content-filter errors naming the categories, and
 * the x-ratelimit-remaining-* headers.  Keys are placeholders. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "llmorch/ext/provider.h"
#include "provider_helpers.h"

static struct llm_provider *new_azure(const struct llm_provider_options *opts)
{
    return prov_new(llm_provider_new_azure, opts);
}

static void azure_deployment_url_api_version_and_api_key_match_the_sdk(void **state)
{
    (void)state;
    struct llm_provider_options o = {.base_url = "https://res.openai.azure.com/openai/",
                                     .api_key = "azure-key-not-real"};
    struct llm_provider *p = new_azure(&o);
    struct llm_request req = prov_minimal_request("gpt-4o-mini-prod");
    struct llm_http_request r;
    prov_build(p, &req, &r);
    assert_string_equal(r.url, "https://res.openai.azure.com/openai/deployments/gpt-4o-mini-prod/"
                               "chat/completions?api-version=2024-10-21");
    assert_string_equal(prov_header(&r, "api-key"), "azure-key-not-real");
    assert_null(prov_header(&r, "authorization"));
    assert_json_equal(r.body, "{\"model\":\"gpt-4o-mini-prod\",\"messages\":[{\"role\":\"user\","
                              "\"content\":\"Hello\"}]}");
    llm_http_request_clear(&r);
    llm_provider_free(p);

    /* A configured deployment wins over the model; the v1 route; Entra tokens. */
    struct llm_provider_options o2 = {.base_url = "https://res.openai.azure.com",
                                      .api_key = "Bearer entra-token", .deployment = "dep1",
                                      .api_version = "v1"};
    p = new_azure(&o2);
    prov_build(p, &req, &r);
    assert_string_equal(r.url, "https://res.openai.azure.com/openai/v1/chat/completions");
    assert_string_equal(prov_header(&r, "authorization"), "Bearer entra-token");
    assert_null(prov_header(&r, "api-key"));
    assert_non_null(strstr(r.body, "\"model\":\"dep1\""));
    llm_http_request_clear(&r);
    llm_provider_free(p);
}

static void azure_endpoint_and_key_come_from_the_environment(void **state)
{
    (void)state;
    setenv("AZURE_OPENAI_ENDPOINT", "http://127.0.0.1:9", 1);
    setenv("AZURE_OPENAI_API_KEY", "env-key", 1);
    struct llm_provider_options o = {.api_version = "2025-04-01-preview"};
    struct llm_provider *p = new_azure(&o);
    struct llm_request req = prov_minimal_request("d");
    req.stream = true;
    struct llm_http_request r;
    prov_build(p, &req, &r);
    assert_string_equal(r.url, "http://127.0.0.1:9/openai/deployments/d/chat/completions"
                               "?api-version=2025-04-01-preview");
    assert_string_equal(prov_header(&r, "api-key"), "env-key");
    assert_non_null(strstr(r.body, "\"include_usage\":true"));
    llm_http_request_clear(&r);
    llm_provider_free(p);

    unsetenv("AZURE_OPENAI_ENDPOINT");
    struct llm_provider *q = NULL;
    assert_int_equal(llm_provider_new_azure(NULL, &q), LLM_ERR_INVALID_ARGUMENT);
    struct llm_provider_options bad = {.base_url = "http://x", .api_version = "1&x=2"};
    assert_int_equal(llm_provider_new_azure(&bad, &q), LLM_ERR_INVALID_ARGUMENT);
    assert_null(q);
    unsetenv("AZURE_OPENAI_API_KEY");
}

static void azure_content_filter_error_names_the_filtered_categories(void **state)
{
    (void)state;
    struct llm_provider_options o = {.base_url = "http://x", .api_key = ""};
    struct llm_provider *p = new_azure(&o);
    static const char body[] =
        "{\"error\":{\"message\":\"The response was filtered due to the prompt triggering Azure "
        "OpenAI's content management policy.\",\"type\":null,\"param\":\"prompt\",\"code\":"
        "\"content_filter\",\"status\":400,\"innererror\":{\"code\":"
        "\"ResponsibleAIPolicyViolation\",\"content_filter_result\":{\"hate\":{\"filtered\":true,"
        "\"severity\":\"high\"},\"jailbreak\":{\"filtered\":true,\"detected\":true},\"self_harm\":"
        "{\"filtered\":false,\"severity\":\"safe\"},\"violence\":{\"filtered\":true,\"severity\":"
        "\"medium\"}}}}}";
    struct llm_error_info info = {0};
    prov_classify(p, 400, NULL, body, &info);
    assert_int_equal(info.type, LLM_ERR_CONTENT_FILTERED);
    assert_false(info.retryable);
    assert_string_equal(info.provider_code, "content_filter");
    assert_non_null(strstr(info.message, "content management policy"));
    assert_non_null(strstr(info.message, "(content filter: hate=high, jailbreak, violence=medium)"));
    assert_null(strstr(info.message, "self_harm"));
    llm_error_info_clear(&info);
    /* Other errors go through OpenAI's table unchanged. */
    prov_classify(p, 429, NULL, "{\"error\":{\"code\":\"429\",\"message\":\"Requests to the "
                                "ChatCompletions_Create Operation have exceeded call rate limit\"}}",
                  &info);
    assert_int_equal(info.type, LLM_ERR_RATE_LIMITED);
    llm_error_info_clear(&info);
    prov_classify(p, 401, NULL, "{\"error\":{\"code\":\"401\",\"message\":\"Access denied due to "
                                "invalid subscription key\"}}",
                  &info);
    assert_int_equal(info.type, LLM_ERR_AUTHENTICATION);
    llm_error_info_clear(&info);
    prov_classify(p, 404, NULL, "{\"error\":{\"code\":\"DeploymentNotFound\",\"message\":\"The API "
                                "deployment for this resource does not exist.\"}}",
                  &info);
    assert_int_equal(info.type, LLM_ERR_NOT_FOUND);
    llm_error_info_clear(&info);
    llm_provider_free(p);
}

static void azure_remaining_rate_limit_headers_are_read(void **state)
{
    (void)state;
    struct llm_provider_options o = {.base_url = "http://x", .api_key = ""};
    struct llm_provider *p = new_azure(&o);
    struct llm_header h[] = {{(char *)"x-ratelimit-remaining-requests", (char *)"119"},
                             {(char *)"x-ratelimit-remaining-tokens", (char *)"119800"}};
    struct llm_http_headers hh = {h, 2};
    struct llm_rate_limit_info rl;
    memset(&rl, 0xff, sizeof(rl)); /* every field -1 */
    p->vtable->read_rate_limits(p, &hh, &rl);
    assert_int_equal(rl.remaining_requests, 119);
    assert_int_equal(rl.remaining_tokens, 119800);
    assert_int_equal(rl.limit_requests, -1);
    assert_string_equal(p->vtable->name, "azure");
    llm_provider_free(p);
}

int main(void)
{
    unsetenv("AZURE_OPENAI_ENDPOINT");
    unsetenv("AZURE_OPENAI_API_KEY");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(azure_deployment_url_api_version_and_api_key_match_the_sdk),
        cmocka_unit_test(azure_endpoint_and_key_come_from_the_environment),
        cmocka_unit_test(azure_content_filter_error_names_the_filtered_categories),
        cmocka_unit_test(azure_remaining_rate_limit_headers_are_read),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
