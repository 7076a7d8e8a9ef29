/* The Anthropic Messages provider: request building (URL, headers, golden
 * bodies, system handling), response and SSE parsing, the error
 * classification table, and rate-limit headers.  Keys used here are
 * obvious placeholders. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "llmorch/ext/provider.h"
#include "provider_helpers.h"

#define FAKE_KEY "test-key-not-real"

/* ---- helpers ----------------------------------------------------------------- */

static struct llm_provider *new_anthropic(const struct llm_provider_options *opts)
{
    return prov_new(llm_provider_new_anthropic, opts);
}

static struct llm_request minimal_request(void)
{
    return prov_minimal_request("claude-sonnet-4-5");
}

/* ---- requests ------------------------------------------------------------------ */

static void anthropic_request_body_matches_golden(void **state)
{
    (void)state;
    struct llm_provider *p = new_anthropic(NULL);
    static const struct llm_message msgs[] = {
        {.role = "system", .content = "Answer in French."},
        {.role = "user", .content = "What is 2+2?"},
        {.role = "assistant", .content = "4"},
        {.role = "developer", .content = "Be terse."},
        {.role = "user", .content = "And \"3+3\"?\nThanks"},
    };
    static const char *const stop[] = {"\n\nHuman:", "END"};
    struct llm_request req = {0};
    req.model = "claude-sonnet-4-5";
    req.system = "You are a calculator.";
    req.messages = msgs;
    req.n_messages = 5;
    req.max_tokens = 300;
    req.has_temperature = true;
    req.temperature = 0.25;
    req.has_top_p = true;
    req.top_p = 0.95;
    req.stop = stop;
    req.n_stop = 2;
    struct llm_http_request out = {0};
    prov_build(p, &req, &out);
    assert_json_equal(out.body,
                      "{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":300,"
                      "\"system\":\"You are a calculator.\\n\\nAnswer in French.\\n\\nBe terse.\","
                      "\"messages\":["
                      "{\"role\":\"user\",\"content\":\"What is 2+2?\"},"
                      "{\"role\":\"assistant\",\"content\":\"4\"},"
                      "{\"role\":\"user\",\"content\":\"And \\\"3+3\\\"?\\nThanks\"}],"
                      "\"temperature\":0.25,\"top_p\":0.95,"
                      "\"stop_sequences\":[\"\\n\\nHuman:\",\"END\"]}");
    assert_string_equal(out.url, "https://api.anthropic.com/v1/messages");
    llm_http_request_clear(&out);
    llm_provider_free(p);
}

static void anthropic_max_tokens_is_always_sent_and_system_only_when_present(void **state)
{
    (void)state;
    struct llm_provider *p = new_anthropic(NULL);
    struct llm_request req = minimal_request();
    req.temperature = 1; /* not sent: has_temperature is false */
    struct llm_http_request out = {0};
    prov_build(p, &req, &out);
    assert_json_equal(out.body, "{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":1024,"
                                "\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}]}");
    llm_http_request_clear(&out);

    /* A system message alone becomes the system field. */
    static const struct llm_message msgs[] = {{.role = "system", .content = "Be brief."}, {.role = "user", .content = "Hi"}};
    req.messages = msgs;
    req.n_messages = 2;
    req.max_tokens = 7;
    prov_build(p, &req, &out);
    assert_json_equal(out.body, "{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":7,"
                                "\"system\":\"Be brief.\","
                                "\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}");
    llm_http_request_clear(&out);
    llm_provider_free(p);
}

static void anthropic_streaming_request_sets_stream(void **state)
{
    (void)state;
    struct llm_provider *p = new_anthropic(NULL);
    struct llm_request req = minimal_request();
    req.stream = true;
    struct llm_http_request out = {0};
    prov_build(p, &req, &out);
    assert_json_equal(out.body, "{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":1024,"
                                "\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}],"
                                "\"stream\":true}");
    llm_http_request_clear(&out);
    llm_provider_free(p);
}

static void anthropic_extra_json_is_merged_and_non_objects_rejected(void **state)
{
    (void)state;
    struct llm_provider *p = new_anthropic(NULL);
    struct llm_request req = minimal_request();
    req.extra_json = "{\"max_tokens\": 64000, \"thinking\": {\"type\": \"enabled\", "
                     "\"budget_tokens\": 2048}, \"metadata\": {\"user_id\": \"u-1\"}}";
    struct llm_http_request out = {0};
    prov_build(p, &req, &out);
    assert_json_equal(out.body, "{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":64000,"
                                "\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}],"
                                "\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":2048},"
                                "\"metadata\":{\"user_id\":\"u-1\"}}");
    llm_http_request_clear(&out);

    static const char *const bad[] = {"[]", "1", "\"x\"", "null", "{", "{} {}", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        req.extra_json = bad[i];
        assert_int_equal(p->vtable->build_request(p, &req, "t", &out), LLM_ERR_INVALID_REQUEST);
        assert_null(out.url);
        assert_null(out.body);
        assert_int_equal(out.n_headers, 0);
    }
    llm_provider_free(p);
}

static void anthropic_url_is_built_for_each_base_url_form(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {NULL, "https://api.anthropic.com/v1/messages"},
        {"https://api.anthropic.com/", "https://api.anthropic.com/v1/messages"},
        {"https://api.anthropic.com/v1", "https://api.anthropic.com/v1/messages"},
        {"http://127.0.0.1:9999", "http://127.0.0.1:9999/v1/messages"},
        {"https://gw.example.com/anthropic/v1/", "https://gw.example.com/anthropic/v1/messages"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct llm_provider_options o = {.base_url = cases[i][0]};
        struct llm_provider *p = new_anthropic(&o);
        struct llm_request req = minimal_request();
        struct llm_http_request out = {0};
        prov_build(p, &req, &out);
        assert_string_equal(out.url, cases[i][1]);
        llm_http_request_clear(&out);
        llm_provider_free(p);
    }
}

static void anthropic_headers_carry_key_version_and_content_type(void **state)
{
    (void)state;
    struct llm_request req = minimal_request();
    struct llm_http_request out = {0};

    struct llm_provider_options o = {.api_key = FAKE_KEY};
    struct llm_provider *p = new_anthropic(&o);
    prov_build(p, &req, &out);
    assert_int_equal(out.n_headers, 3);
    assert_string_equal(prov_header(&out, "x-api-key"), FAKE_KEY);
    assert_string_equal(prov_header(&out, "anthropic-version"), "2023-06-01");
    assert_string_equal(prov_header(&out, "content-type"), "application/json");
    assert_null(prov_header(&out, "Authorization"));
    assert_null(prov_header(&out, "X-Client-Request-Id")); /* no trace header by default */
    assert_null(strstr(out.body, FAKE_KEY));
    llm_http_request_clear(&out);
    llm_provider_free(p);

    o.anthropic_version = "2024-01-01";
    o.trace_header = "X-Trace-Id";
    p = new_anthropic(&o);
    assert_int_equal(p->vtable->build_request(p, &req, "trace-7", &out), LLM_OK);
    assert_string_equal(prov_header(&out, "anthropic-version"), "2024-01-01");
    assert_string_equal(prov_header(&out, "X-Trace-Id"), "trace-7");
    llm_http_request_clear(&out);
    llm_provider_free(p);
}

static void anthropic_key_comes_from_the_environment_or_is_omitted(void **state)
{
    (void)state;
    struct llm_request req = minimal_request();
    struct llm_http_request out = {0};

    unsetenv("ANTHROPIC_API_KEY");
    struct llm_provider *p = new_anthropic(NULL);
    prov_build(p, &req, &out);
    assert_null(prov_header(&out, "x-api-key"));
    llm_http_request_clear(&out);
    llm_provider_free(p);

    setenv("ANTHROPIC_API_KEY", FAKE_KEY "-default-env", 1);
    p = new_anthropic(NULL);
    prov_build(p, &req, &out);
    assert_string_equal(prov_header(&out, "x-api-key"), FAKE_KEY "-default-env");
    llm_http_request_clear(&out);
    llm_provider_free(p);

    /* An empty api_key means "no key", whatever the environment holds. */
    struct llm_provider_options empty = {.api_key = ""};
    p = new_anthropic(&empty);
    prov_build(p, &req, &out);
    assert_null(prov_header(&out, "x-api-key"));
    llm_http_request_clear(&out);
    llm_provider_free(p);

    setenv("LLM_TEST_ANTHROPIC_KEY", FAKE_KEY "-named-env", 1);
    struct llm_provider_options o = {.api_key_env = "LLM_TEST_ANTHROPIC_KEY"};
    p = new_anthropic(&o);
    prov_build(p, &req, &out);
    assert_string_equal(prov_header(&out, "x-api-key"), FAKE_KEY "-named-env");
    llm_http_request_clear(&out);
    llm_provider_free(p);

    unsetenv("LLM_TEST_ANTHROPIC_KEY");
    unsetenv("ANTHROPIC_API_KEY");
}

static void anthropic_rejects_bad_options_at_creation(void **state)
{
    (void)state;
    static const struct llm_provider_options bad[] = {
        {.base_url = ""},
        {.base_url = "https://api.anthropic.com\r\n"},
        {.api_key = FAKE_KEY "\r\nX-Injected: 1"},
        {.anthropic_version = "2023-06-01\r\nX-Injected: 1"},
        {.trace_header = "X-Trace:"},
        {.trace_header = "X-Trace\n"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct llm_provider *p = (struct llm_provider *)&p;
        assert_int_equal(llm_provider_new_anthropic(&bad[i], &p), LLM_ERR_INVALID_ARGUMENT);
        assert_null(p);
    }
    setenv("LLM_TEST_BAD_KEY", FAKE_KEY "\n", 1);
    struct llm_provider_options o = {.api_key_env = "LLM_TEST_BAD_KEY"};
    struct llm_provider *p = NULL;
    assert_int_equal(llm_provider_new_anthropic(&o, &p), LLM_ERR_INVALID_ARGUMENT);
    assert_null(p);
    unsetenv("LLM_TEST_BAD_KEY");
    assert_int_equal(llm_provider_new_anthropic(NULL, NULL), LLM_ERR_INVALID_ARGUMENT);
}

/* ---- responses ------------------------------------------------------------------- */

static void anthropic_response_joins_text_blocks_and_maps_usage_to_total_input(void **state)
{
    (void)state;
    struct llm_provider *p = new_anthropic(NULL);
    const char *body =
        "{\"id\":\"msg_013Zva2CMHLNnXjNJJKqJ2EF\",\"type\":\"message\",\"role\":\"assistant\","
        "\"model\":\"claude-sonnet-4-5-20250929\",\"content\":["
        "{\"type\":\"thinking\",\"thinking\":\"Let me think.\",\"signature\":\"sig\"},"
        "{\"type\":\"text\",\"text\":\"Hi! \"},"
        "{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"f\",\"input\":{}},"
        "{\"type\":\"text\",\"text\":\"My name is Claude.\"}],"
        "\"stop_reason\":\"end_turn\",\"stop_sequence\":null,"
        "\"usage\":{\"input_tokens\":100,\"cache_creation_input_tokens\":300,"
        "\"cache_read_input_tokens\":2000,\"output_tokens\":50,\"service_tier\":\"standard\"}}";
    struct llm_parsed out = {0};
    assert_int_equal(prov_parse(p, body, &out), LLM_OK);
    assert_int_equal(out.error, LLM_OK);
    assert_string_equal(out.content, "Hi! My name is Claude.");
    assert_string_equal(out.finish_reason, "end_turn");
    assert_string_equal(out.model, "claude-sonnet-4-5-20250929");
    assert_string_equal(out.response_id, "msg_013Zva2CMHLNnXjNJJKqJ2EF");
    assert_true(out.usage.known);
    /* input = uncached 100 + cache read 2000 + cache write 300 */
    assert_int_equal(out.usage.input_tokens, 2400);
    assert_int_equal(out.usage.cached_input_tokens, 2000);
    assert_int_equal(out.usage.cache_write_tokens, 300);
    assert_int_equal(out.usage.output_tokens, 50);
    assert_int_equal(out.usage.reasoning_tokens, 0);
    llm_parsed_clear(&out);

    /* No cache fields: input is input_tokens. */
    assert_int_equal(prov_parse(p, "{\"content\":[],\"stop_reason\":\"max_tokens\","
                              "\"usage\":{\"input_tokens\":12,\"output_tokens\":0}}", &out),
                     LLM_OK);
    assert_non_null(out.content);
    assert_string_equal(out.content, "");
    assert_string_equal(out.finish_reason, "max_tokens");
    assert_int_equal(out.usage.input_tokens, 12);
    assert_int_equal(out.usage.cached_input_tokens, 0);
    llm_parsed_clear(&out);
    llm_provider_free(p);
}

static void anthropic_malformed_responses_are_parse_errors_with_an_excerpt(void **state)
{
    (void)state;
    struct llm_provider *p = new_anthropic(NULL);
    static const char *const cases[][2] = {
        {"Internal Server Error", "invalid JSON in response body: Internal Server Error"},
        {"{\"id\":\"msg_1\",\"content\":[{\"type\":\"text\",\"text\":\"Hel",
         "invalid JSON in response body: {\"id\":\"msg_1\""},
        {"\"just a string\"", "response body is not a JSON object: \"just a string\""},
        {"{\"id\":\"msg_1\",\"type\":\"message\"}", "no content in response body: {\"id\""},
        {"{\"content\":\"text\"}", "no content in response body"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct llm_parsed out = {0};
        assert_int_equal(prov_parse(p, cases[i][0], &out), LLM_ERR_PARSE);
        assert_int_equal(out.error, LLM_ERR_PARSE);
        if (strncmp(out.error_message, cases[i][1], strlen(cases[i][1])) != 0) {
            print_error("body '%s'\n got '%s'\nwant prefix '%s'\n", cases[i][0],
                        out.error_message, cases[i][1]);
            fail();
        }
        llm_parsed_clear(&out);
    }
    struct llm_parsed out = {0};
    assert_int_equal(prov_parse(p, NULL, &out), LLM_ERR_PARSE);
    assert_string_equal(out.error_message, "empty response body");
    llm_parsed_clear(&out);
    llm_provider_free(p);
}

/* ---- classification ----------------------------------------------------------- */

struct class_case {
    int status;
    const char *body;
    enum llm_error type;
    bool retryable;
    const char *provider_code;
};

#define ANT_ERR(type, msg)                                                     \
    "{\"type\":\"error\",\"error\":{\"type\":\"" type "\",\"message\":\"" msg "\"}," \
    "\"request_id\":\"req_011CSHoEeqs5C35K2UUqR7Fy\"}"

static void anthropic_classification_table_maps_every_row(void **state)
{
    (void)state;
    static const struct class_case cases[] = {
        {400, ANT_ERR("invalid_request_error", "messages: field required"),
         LLM_ERR_INVALID_REQUEST, false, "invalid_request_error"},
        {400, ANT_ERR("invalid_request_error", "prompt is too long: 215000 tokens > 200000 maximum"),
         LLM_ERR_CONTEXT_LENGTH_EXCEEDED, false, "invalid_request_error"},
        {400, ANT_ERR("invalid_request_error",
                      "input length and `max_tokens` exceed context limit: 198000 + 8192 > 200000"),
         LLM_ERR_CONTEXT_LENGTH_EXCEEDED, false, "invalid_request_error"},
        {400, ANT_ERR("invalid_request_error",
                      "Your credit balance is too low to access the Anthropic API."),
         LLM_ERR_INSUFFICIENT_QUOTA, false, "invalid_request_error"},
        {401, ANT_ERR("authentication_error", "invalid x-api-key"), LLM_ERR_AUTHENTICATION,
         false, "authentication_error"},
        {402, ANT_ERR("billing_error", "billing"), LLM_ERR_INSUFFICIENT_QUOTA, false,
         "billing_error"},
        {403, ANT_ERR("permission_error", "no access"), LLM_ERR_PERMISSION_DENIED, false,
         "permission_error"},
        {403, ANT_ERR("permission_denied_error", "no access"), LLM_ERR_PERMISSION_DENIED, false,
         "permission_denied_error"},
        /* The edge's bare 403 for unsupported countries (no top-level type). */
        {403, "{\"error\":{\"type\":\"forbidden\",\"message\":\"Request not allowed\"}}",
         LLM_ERR_UNSUPPORTED_REGION, false, "forbidden"},
        {404, ANT_ERR("not_found_error", "model: claude-9"), LLM_ERR_NOT_FOUND, false,
         "not_found_error"},
        {413, ANT_ERR("request_too_large", "Request exceeds the maximum size"),
         LLM_ERR_INVALID_REQUEST, false, "request_too_large"},
        {429, ANT_ERR("rate_limit_error", "Number of request tokens has exceeded your limit"),
         LLM_ERR_RATE_LIMITED, true, "rate_limit_error"},
        {500, ANT_ERR("api_error", "Internal server error"), LLM_ERR_SERVER_ERROR, true,
         "api_error"},
        {504, ANT_ERR("timeout_error", "Request timed out"), LLM_ERR_TIMEOUT, true,
         "timeout_error"},
        {529, ANT_ERR("overloaded_error", "Overloaded"), LLM_ERR_OVERLOADED, true,
         "overloaded_error"},
        /* Unknown types: the status decides, as for OpenAI. */
        {408, ANT_ERR("future_error", "x"), LLM_ERR_TIMEOUT, true, "future_error"},
        {409, ANT_ERR("conflict_error", "x"), LLM_ERR_SERVER_ERROR, true, "conflict_error"},
        {422, ANT_ERR("future_error", "x"), LLM_ERR_INVALID_REQUEST, false, "future_error"},
        {429, ANT_ERR("future_error", "x"), LLM_ERR_RATE_LIMITED, true, "future_error"},
        {502, ANT_ERR("future_error", "x"), LLM_ERR_SERVER_ERROR, true, "future_error"},
        {503, ANT_ERR("future_error", "x"), LLM_ERR_OVERLOADED, true, "future_error"},
        {529, ANT_ERR("future_error", "x"), LLM_ERR_OVERLOADED, true, "future_error"},
    };
    struct llm_provider *p = new_anthropic(NULL);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct llm_error_info info = {0};
        prov_classify(p, cases[i].status, NULL, cases[i].body, &info);
        if (info.type != cases[i].type || info.retryable != cases[i].retryable ||
            info.provider_code == NULL || strcmp(info.provider_code, cases[i].provider_code) != 0) {
            print_error("row %zu (%d %s): got %s retryable=%d code=%s\n", i, cases[i].status,
                        cases[i].body, llm_error_name(info.type), info.retryable,
                        info.provider_code ? info.provider_code : "(null)");
            fail();
        }
        assert_non_null(info.message);
        llm_error_info_clear(&info);
    }
    llm_provider_free(p);
}

static void anthropic_unreadable_error_body_falls_back_on_status(void **state)
{
    (void)state;
    struct llm_provider *p = new_anthropic(NULL);
    struct llm_error_info info = {0};
    prov_classify(p, 529, NULL, "upstream connect error", &info);
    assert_int_equal(info.type, LLM_ERR_OVERLOADED);
    assert_true(info.retryable);
    assert_null(info.provider_code);
    assert_string_equal(info.message, "upstream connect error");
    llm_error_info_clear(&info);

    struct llm_header h[] = {{"x-should-retry", "false"}};
    struct llm_http_headers hh = {h, 1};
    prov_classify(p, 529, &hh, ANT_ERR("overloaded_error", "Overloaded"), &info);
    assert_int_equal(info.type, LLM_ERR_OVERLOADED);
    assert_false(info.retryable);
    llm_error_info_clear(&info);
    llm_provider_free(p);
}

/* Status first (issue 10 #6): a proxy that wraps every upstream error as
 * {"error":{"type":"api_error"}} made a 429 a SERVER_ERROR and a 403 a
 * retryable SERVER_ERROR.  Every documented status with every documented
 * type: the status class decides, and only the documented pairs refine it
 * (504 timeout_error), plus the message rows of 400 and 403. */
static void anthropic_status_decides_whatever_type_the_body_names(void **state)
{
    (void)state;
    static const char *const types[] = {
        "invalid_request_error", "authentication_error", "billing_error", "permission_error",
        "not_found_error",       "request_too_large",    "rate_limit_error", "api_error",
        "timeout_error",         "overloaded_error",
    };
    static const struct {
        int status;
        enum llm_error type;
        bool retryable;
    } by_status[] = {
        {400, LLM_ERR_INVALID_REQUEST, false},   {401, LLM_ERR_AUTHENTICATION, false},
        {402, LLM_ERR_INSUFFICIENT_QUOTA, false}, {403, LLM_ERR_PERMISSION_DENIED, false},
        {404, LLM_ERR_NOT_FOUND, false},         {413, LLM_ERR_INVALID_REQUEST, false},
        {429, LLM_ERR_RATE_LIMITED, true},       {500, LLM_ERR_SERVER_ERROR, true},
        {504, LLM_ERR_SERVER_ERROR, true},       {529, LLM_ERR_OVERLOADED, true},
    };
    struct llm_provider *p = new_anthropic(NULL);
    char body[256];
    for (size_t s = 0; s < sizeof(by_status) / sizeof(by_status[0]); s++) {
        for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
            snprintf(body, sizeof(body),
                     "{\"type\":\"error\",\"error\":{\"type\":\"%s\",\"message\":\"upstream "
                     "said no\"}}",
                     types[t]);
            enum llm_error want = by_status[s].type;
            bool want_retry = by_status[s].retryable;
            if (by_status[s].status == 504 && strcmp(types[t], "timeout_error") == 0)
                want = LLM_ERR_TIMEOUT;
            struct llm_error_info info = {0};
            prov_classify(p, by_status[s].status, NULL, body, &info);
            if (info.type != want || info.retryable != want_retry) {
                print_error("%d %s: got %s retryable=%d, want %s retryable=%d\n",
                            by_status[s].status, types[t], llm_error_name(info.type),
                            info.retryable, llm_error_name(want), want_retry);
                fail();
            }
            assert_non_null(info.provider_code);
            assert_string_equal(info.provider_code, types[t]);
            llm_error_info_clear(&info);
        }
    }
    /* Message refinements hold whatever type a proxy put on them. */
    static const struct {
        int status;
        const char *message;
        enum llm_error type;
    } refine[] = {
        {400, "prompt is too long: 215000 tokens > 200000 maximum", LLM_ERR_CONTEXT_LENGTH_EXCEEDED},
        {400, "Your credit balance is too low to access the Anthropic API.",
         LLM_ERR_INSUFFICIENT_QUOTA},
        /* ... but only within their status. */
        {429, "Your credit balance is too low to access the Anthropic API.", LLM_ERR_RATE_LIMITED},
        {500, "prompt is too long", LLM_ERR_SERVER_ERROR},
    };
    for (size_t i = 0; i < sizeof(refine) / sizeof(refine[0]); i++) {
        snprintf(body, sizeof(body),
                 "{\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"%s\"}}",
                 refine[i].message);
        struct llm_error_info info = {0};
        prov_classify(p, refine[i].status, NULL, body, &info);
        assert_int_equal(info.type, refine[i].type);
        llm_error_info_clear(&info);
    }
    llm_provider_free(p);
}

/* With no HTTP status (an `error` event in a stream) the type decides, as
 * its documented status would. */
static void anthropic_error_event_type_maps_as_its_documented_status(void **state)
{
    (void)state;
    static const struct {
        const char *type;
        enum llm_error want;
    } cases[] = {
        {"invalid_request_error", LLM_ERR_INVALID_REQUEST},
        {"authentication_error", LLM_ERR_AUTHENTICATION},
        {"billing_error", LLM_ERR_INSUFFICIENT_QUOTA},
        {"permission_error", LLM_ERR_PERMISSION_DENIED},
        {"not_found_error", LLM_ERR_NOT_FOUND},
        {"request_too_large", LLM_ERR_INVALID_REQUEST},
        {"rate_limit_error", LLM_ERR_RATE_LIMITED},
        {"api_error", LLM_ERR_SERVER_ERROR},
        {"timeout_error", LLM_ERR_TIMEOUT},
        {"overloaded_error", LLM_ERR_OVERLOADED},
    };
    struct llm_provider *p = new_anthropic(NULL);
    char data[256];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(data, sizeof(data),
                 "{\"type\":\"error\",\"error\":{\"type\":\"%s\",\"message\":\"m\"}}",
                 cases[i].type);
        struct llm_parsed acc = {0};
        assert_int_equal(prov_feed(p, "error", data, &acc), LLM_OK);
        assert_int_equal(acc.error, cases[i].want);
        llm_parsed_clear(&acc);
    }
    llm_provider_free(p);
}

/* ---- streaming ------------------------------------------------------------------- */

struct sse {
    const char *event;
    const char *data;
};

static void anthropic_stream_events_accumulate_text_stop_reason_and_usage(void **state)
{
    (void)state;
    struct llm_provider *p = new_anthropic(NULL);
    static const struct sse events[] = {
        {"message_start",
         "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY\","
         "\"type\":\"message\",\"role\":\"assistant\",\"content\":[],"
         "\"model\":\"claude-sonnet-4-5-20250929\",\"stop_reason\":null,\"stop_sequence\":null,"
         "\"usage\":{\"input_tokens\":25,\"cache_creation_input_tokens\":10,"
         "\"cache_read_input_tokens\":1000,\"output_tokens\":1}}}"},
        {"content_block_start",
         "{\"type\":\"content_block_start\",\"index\":0,"
         "\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\",\"signature\":\"\"}}"},
        {"content_block_delta",
         "{\"type\":\"content_block_delta\",\"index\":0,"
         "\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"hidden reasoning\"}}"},
        {"content_block_delta",
         "{\"type\":\"content_block_delta\",\"index\":0,"
         "\"delta\":{\"type\":\"signature_delta\",\"signature\":\"EqQBCgIYAhIM\"}}"},
        {"content_block_stop", "{\"type\":\"content_block_stop\",\"index\":0}"},
        {"content_block_start",
         "{\"type\":\"content_block_start\",\"index\":1,"
         "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}"},
        {"ping", "{\"type\": \"ping\"}"},
        {"content_block_delta",
         "{\"type\":\"content_block_delta\",\"index\":1,"
         "\"delta\":{\"type\":\"text_delta\",\"text\":\"Hello\"}}"},
        {"content_block_delta",
         "{\"type\":\"content_block_delta\",\"index\":1,"
         "\"delta\":{\"type\":\"text_delta\",\"text\":\", w\\u00f6rld!\"}}"},
        {"content_block_stop", "{\"type\":\"content_block_stop\",\"index\":1}"},
        {"content_block_start",
         "{\"type\":\"content_block_start\",\"index\":2,\"content_block\":{\"type\":\"tool_use\","
         "\"id\":\"toolu_1\",\"name\":\"get_weather\",\"input\":{}}}"},
        {"content_block_delta",
         "{\"type\":\"content_block_delta\",\"index\":2,"
         "\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"location\\\":\"}}"},
        {"content_block_stop", "{\"type\":\"content_block_stop\",\"index\":2}"},
        {"message_delta",
         "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\","
         "\"stop_sequence\":null},\"usage\":{\"output_tokens\":15}}"},
    };
    struct llm_parsed acc = {0};
    for (size_t i = 0; i < sizeof(events) / sizeof(events[0]); i++) {
        assert_int_equal(prov_feed(p, events[i].event, events[i].data, &acc), LLM_OK);
        assert_false(acc.done);
        assert_int_equal(acc.error, LLM_OK);
        if (i == 0) {
            assert_true(acc.usage.known);
            assert_int_equal(acc.usage.output_tokens, 1);
            assert_null(acc.finish_reason);
        }
    }
    assert_int_equal(prov_feed(p, "message_stop", "{\"type\":\"message_stop\"}", &acc), LLM_OK);
    assert_true(acc.done);
    assert_string_equal(acc.content, "Hello, w\xC3\xB6rld!");
    assert_string_equal(acc.finish_reason, "end_turn");
    assert_string_equal(acc.model, "claude-sonnet-4-5-20250929");
    assert_string_equal(acc.response_id, "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY");
    assert_true(acc.usage.known);
    assert_int_equal(acc.usage.input_tokens, 25 + 10 + 1000);
    assert_int_equal(acc.usage.cached_input_tokens, 1000);
    assert_int_equal(acc.usage.cache_write_tokens, 10);
    assert_int_equal(acc.usage.output_tokens, 15);
    llm_parsed_clear(&acc);
    llm_provider_free(p);
}

static void anthropic_message_delta_may_update_input_usage(void **state)
{
    (void)state;
    struct llm_provider *p = new_anthropic(NULL);
    struct llm_parsed acc = {0};
    assert_int_equal(prov_feed(p, "message_start",
                          "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_2\","
                          "\"model\":\"m\",\"usage\":{\"input_tokens\":5,"
                          "\"cache_read_input_tokens\":100,\"output_tokens\":1}}}", &acc),
                     LLM_OK);
    assert_int_equal(acc.usage.input_tokens, 105);
    /* Newer API versions repeat the cumulative input counts here. */
    assert_int_equal(prov_feed(p, "message_delta",
                          "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"max_tokens\"},"
                          "\"usage\":{\"input_tokens\":6,\"cache_read_input_tokens\":100,"
                          "\"cache_creation_input_tokens\":0,\"output_tokens\":42}}", &acc),
                     LLM_OK);
    assert_int_equal(acc.usage.input_tokens, 106);
    assert_int_equal(acc.usage.cached_input_tokens, 100);
    assert_int_equal(acc.usage.output_tokens, 42);
    assert_string_equal(acc.finish_reason, "max_tokens");
    llm_parsed_clear(&acc);
    llm_provider_free(p);
}

static void anthropic_stream_events_without_names_use_the_payload_type(void **state)
{
    (void)state;
    struct llm_provider *p = new_anthropic(NULL);
    struct llm_parsed acc = {0};
    assert_int_equal(prov_feed(p, NULL, "{\"type\":\"content_block_delta\",\"index\":0,"
                                   "\"delta\":{\"type\":\"text_delta\",\"text\":\"ok\"}}", &acc),
                     LLM_OK);
    assert_int_equal(prov_feed(p, "", "{\"type\":\"future_event\",\"x\":1}", &acc), LLM_OK);
    assert_false(acc.done);
    assert_int_equal(prov_feed(p, NULL, "{\"type\":\"message_stop\"}", &acc), LLM_OK);
    assert_true(acc.done);
    assert_string_equal(acc.content, "ok");
    llm_parsed_clear(&acc);
    llm_provider_free(p);
}

static void anthropic_stream_error_event_is_classified_by_type(void **state)
{
    (void)state;
    struct llm_provider *p = new_anthropic(NULL);
    struct llm_parsed acc = {0};
    assert_int_equal(prov_feed(p, "content_block_delta",
                          "{\"type\":\"content_block_delta\",\"index\":0,"
                          "\"delta\":{\"type\":\"text_delta\",\"text\":\"partial\"}}", &acc),
                     LLM_OK);
    assert_int_equal(prov_feed(p, "error",
                          "{\"type\": \"error\", \"error\": {\"type\": \"overloaded_error\", "
                          "\"message\": \"Overloaded\"}}", &acc),
                     LLM_OK);
    assert_int_equal(acc.error, LLM_ERR_OVERLOADED);
    assert_string_equal(acc.provider_code, "overloaded_error");
    assert_string_equal(acc.error_message, "Overloaded");
    assert_string_equal(acc.content, "partial");
    assert_false(acc.done);
    llm_parsed_clear(&acc);

    assert_int_equal(prov_feed(p, "error", "{\"type\":\"error\",\"error\":{\"type\":\"api_error\","
                                      "\"message\":\"Internal server error\"}}", &acc),
                     LLM_OK);
    assert_int_equal(acc.error, LLM_ERR_SERVER_ERROR);
    llm_parsed_clear(&acc);

    assert_int_equal(prov_feed(p, "error", "{\"type\":\"error\"}", &acc), LLM_OK);
    assert_int_equal(acc.error, LLM_ERR_SERVER_ERROR);
    llm_parsed_clear(&acc);
    llm_provider_free(p);
}

static void anthropic_malformed_stream_event_is_a_parse_error(void **state)
{
    (void)state;
    struct llm_provider *p = new_anthropic(NULL);
    struct llm_parsed acc = {0};
    assert_int_equal(prov_feed(p, "content_block_delta", "{\"type\":\"content_block_delta\",\"del",
                          &acc),
                     LLM_ERR_PARSE);
    assert_int_equal(acc.error, LLM_ERR_PARSE);
    assert_string_equal(acc.error_message,
                        "invalid JSON in stream event: {\"type\":\"content_block_delta\",\"del");
    llm_parsed_clear(&acc);
    assert_int_equal(prov_feed(p, "ping", "[]", &acc), LLM_ERR_PARSE);
    llm_parsed_clear(&acc);
    /* An empty payload is tolerated. */
    assert_int_equal(prov_feed(p, "ping", "", &acc), LLM_OK);
    assert_int_equal(acc.error, LLM_OK);
    llm_parsed_clear(&acc);
    llm_provider_free(p);
}

/* ---- rate limits and identity ---------------------------------------------------- */

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Issue 10 #5: after message_stop the reply is complete; a delta or an
 * error event after it was applied ("aINJECTED", or a finished reply turned
 * into SERVER_ERROR). */
static void anthropic_events_after_message_stop_change_nothing(void **state)
{
    (void)state;
    struct llm_provider *p = new_anthropic(NULL);
    struct llm_parsed acc = {0};
    assert_int_equal(prov_feed(p, "message_start",
                               "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\","
                               "\"model\":\"claude\",\"content\":[],\"usage\":{\"input_tokens\":3,"
                               "\"output_tokens\":1}}}",
                               &acc),
                     LLM_OK);
    assert_int_equal(prov_feed(p, "content_block_delta",
                               "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
                               "{\"type\":\"text_delta\",\"text\":\"a\"}}",
                               &acc),
                     LLM_OK);
    assert_int_equal(prov_feed(p, "message_delta",
                               "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
                               "\"end_turn\"},\"usage\":{\"output_tokens\":2}}",
                               &acc),
                     LLM_OK);
    assert_int_equal(prov_feed(p, "message_stop", "{\"type\":\"message_stop\"}", &acc), LLM_OK);
    assert_true(acc.done);
    assert_int_equal(prov_feed(p, "content_block_delta",
                               "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
                               "{\"type\":\"text_delta\",\"text\":\"INJECTED\"}}",
                               &acc),
                     LLM_OK);
    assert_int_equal(prov_feed(p, "error",
                               "{\"type\":\"error\",\"error\":{\"type\":\"api_error\","
                               "\"message\":\"late\"}}",
                               &acc),
                     LLM_OK);
    assert_int_equal(prov_feed(p, "message_delta",
                               "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
                               "\"max_tokens\"},\"usage\":{\"output_tokens\":99}}",
                               &acc),
                     LLM_OK);
    assert_int_equal(prov_feed(p, "content_block_delta", "not json", &acc), LLM_OK);
    assert_string_equal(acc.content, "a");
    assert_int_equal(acc.error, LLM_OK);
    assert_string_equal(acc.finish_reason, "end_turn");
    assert_int_equal(acc.usage.output_tokens, 2);
    llm_parsed_clear(&acc);
    llm_provider_free(p);
}

/* Issue 10 #12: a proxy's stream carried usage 0/0 with text; the result
 * said known usage of 0 tokens (cost 0).  Output with 0 output tokens is
 * unknown usage. */
static void anthropic_zero_output_tokens_with_text_is_unknown_usage(void **state)
{
    (void)state;
    struct llm_provider *p = new_anthropic(NULL);
    struct llm_parsed acc = {0};
    assert_int_equal(prov_feed(p, "message_start",
                               "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\","
                               "\"content\":[],\"usage\":{\"input_tokens\":0,"
                               "\"output_tokens\":0}}}",
                               &acc),
                     LLM_OK);
    assert_int_equal(prov_feed(p, "content_block_delta",
                               "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
                               "{\"type\":\"text_delta\",\"text\":\"hello\"}}",
                               &acc),
                     LLM_OK);
    assert_int_equal(prov_feed(p, "message_delta",
                               "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
                               "\"end_turn\"},\"usage\":{\"output_tokens\":0}}",
                               &acc),
                     LLM_OK);
    assert_int_equal(prov_feed(p, "message_stop", "{\"type\":\"message_stop\"}", &acc), LLM_OK);
    assert_true(acc.done);
    assert_false(acc.usage.known);
    llm_parsed_clear(&acc);

    /* Not streamed: the same. */
    assert_int_equal(prov_parse(p,
                                "{\"id\":\"msg_1\",\"type\":\"message\",\"content\":[{\"type\":"
                                "\"text\",\"text\":\"hello\"}],\"stop_reason\":\"end_turn\","
                                "\"usage\":{\"input_tokens\":5,\"output_tokens\":0}}",
                                &acc),
                     LLM_OK);
    assert_false(acc.usage.known);
    assert_int_equal(acc.usage.input_tokens, 5);
    llm_parsed_clear(&acc);

    /* An empty reply of 0 output tokens is a real zero. */
    assert_int_equal(prov_parse(p,
                                "{\"id\":\"msg_1\",\"type\":\"message\",\"content\":[],"
                                "\"stop_reason\":\"end_turn\","
                                "\"usage\":{\"input_tokens\":5,\"output_tokens\":0}}",
                                &acc),
                     LLM_OK);
    assert_true(acc.usage.known);
    llm_parsed_clear(&acc);
    llm_provider_free(p);
}

static void anthropic_rate_limit_headers_are_read_with_resets_relative_to_now(void **state)
{
    (void)state;
    struct llm_provider *p = new_anthropic(NULL);
    /* 2999-01-01T00:00:00Z, far in the future; 2001 long past. */
    const int64_t future_ms = INT64_C(32472144000000);
    struct llm_header items[] = {
        {"anthropic-ratelimit-requests-limit", "4000"},
        {"anthropic-ratelimit-requests-remaining", "3999"},
        {"anthropic-ratelimit-requests-reset", "2999-01-01T00:00:00Z"},
        {"anthropic-ratelimit-tokens-limit", "400000"},
        {"anthropic-ratelimit-tokens-remaining", "312000"},
        {"anthropic-ratelimit-tokens-reset", "2001-01-01T00:00:00Z"},
        {"anthropic-ratelimit-input-tokens-limit", "200000"},
        {"anthropic-ratelimit-input-tokens-remaining", "199000"},
        {"anthropic-ratelimit-input-tokens-reset", "2999-01-01T02:00:00+02:00"},
        {"Anthropic-RateLimit-Output-Tokens-Limit", "80000"},
        {"anthropic-ratelimit-output-tokens-remaining", "79000"},
        {"anthropic-ratelimit-output-tokens-reset", "not a date"},
        {"request-id", "req_018EeWyXxfu5pfWkrYcMdjWG"},
    };
    struct llm_http_headers h = {items, sizeof(items) / sizeof(items[0])};
    struct llm_rate_limit_info rl;
    memset(&rl, 0xff, sizeof(rl));
    int64_t before = wall_ms();
    p->vtable->read_rate_limits(p, &h, &rl);
    int64_t after = wall_ms();
    assert_int_equal(rl.limit_requests, 4000);
    assert_int_equal(rl.remaining_requests, 3999);
    /* Bounded by the clock readings around the call: no timing assumption. */
    assert_in_range(rl.reset_requests_ms, future_ms - after - 1, future_ms - before + 1);
    assert_int_equal(rl.limit_tokens, 400000);
    assert_int_equal(rl.remaining_tokens, 312000);
    assert_int_equal(rl.reset_tokens_ms, 0); /* already passed: clamped */
    assert_int_equal(rl.limit_input_tokens, 200000);
    assert_int_equal(rl.remaining_input_tokens, 199000);
    assert_in_range(rl.reset_input_tokens_ms, future_ms - after - 1, future_ms - before + 1);
    assert_int_equal(rl.limit_output_tokens, 80000);
    assert_int_equal(rl.remaining_output_tokens, 79000);
    assert_int_equal(rl.reset_output_tokens_ms, -1);

    struct llm_http_headers none = {NULL, 0};
    memset(&rl, 0xff, sizeof(rl));
    p->vtable->read_rate_limits(p, &none, &rl);
    assert_int_equal(rl.limit_requests, -1);
    assert_int_equal(rl.reset_tokens_ms, -1);
    llm_provider_free(p);
}

static void anthropic_vtable_names_itself_and_its_request_id_header(void **state)
{
    (void)state;
    struct llm_provider *p = new_anthropic(NULL);
    assert_string_equal(p->vtable->name, "anthropic");
    assert_string_equal(p->vtable->request_id_header, "request-id");
    assert_null(p->vtable->execute_local);
    llm_provider_free(p);
}

int main(void)
{
    unsetenv("ANTHROPIC_API_KEY");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(anthropic_request_body_matches_golden),
        cmocka_unit_test(anthropic_max_tokens_is_always_sent_and_system_only_when_present),
        cmocka_unit_test(anthropic_streaming_request_sets_stream),
        cmocka_unit_test(anthropic_extra_json_is_merged_and_non_objects_rejected),
        cmocka_unit_test(anthropic_url_is_built_for_each_base_url_form),
        cmocka_unit_test(anthropic_headers_carry_key_version_and_content_type),
        cmocka_unit_test(anthropic_key_comes_from_the_environment_or_is_omitted),
        cmocka_unit_test(anthropic_rejects_bad_options_at_creation),
        cmocka_unit_test(anthropic_response_joins_text_blocks_and_maps_usage_to_total_input),
        cmocka_unit_test(anthropic_malformed_responses_are_parse_errors_with_an_excerpt),
        cmocka_unit_test(anthropic_classification_table_maps_every_row),
        cmocka_unit_test(anthropic_unreadable_error_body_falls_back_on_status),
        cmocka_unit_test(anthropic_status_decides_whatever_type_the_body_names),
        cmocka_unit_test(anthropic_error_event_type_maps_as_its_documented_status),
        cmocka_unit_test(anthropic_stream_events_accumulate_text_stop_reason_and_usage),
        cmocka_unit_test(anthropic_message_delta_may_update_input_usage),
        cmocka_unit_test(anthropic_stream_events_without_names_use_the_payload_type),
        cmocka_unit_test(anthropic_stream_error_event_is_classified_by_type),
        cmocka_unit_test(anthropic_malformed_stream_event_is_a_parse_error),
        cmocka_unit_test(anthropic_events_after_message_stop_change_nothing),
        cmocka_unit_test(anthropic_zero_output_tokens_with_text_is_unknown_usage),
        cmocka_unit_test(anthropic_rate_limit_headers_are_read_with_resets_relative_to_now),
        cmocka_unit_test(anthropic_vtable_names_itself_and_its_request_id_header),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
