/* The OpenAI Chat Completions provider: request building (URL, headers,
 * golden bodies), response and stream parsing, the error classification
 * table, and rate-limit headers.  No network: every slot is a pure
 * function.  Keys used here are obvious placeholders. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "llmorch/ext/provider.h"
#include "provider_helpers.h"

#define FAKE_KEY "test-key-not-real"

/* ---- helpers ----------------------------------------------------------------- */

static struct llm_provider *new_openai(const struct llm_provider_options *opts)
{
    return prov_new(llm_provider_new_openai, opts);
}

static struct llm_request minimal_request(void)
{
    return prov_minimal_request("gpt-4o-mini");
}

/* ---- requests ------------------------------------------------------------------ */

static void openai_request_body_matches_golden(void **state)
{
    (void)state;
    struct llm_provider *p = new_openai(NULL);
    static const struct llm_message msgs[] = {
        {.role = "user", .content = "What is 2+2?"},
        {.role = "assistant", .content = "4"},
        {.role = "developer", .content = "Answer tersely."},
        {.role = "user", .content = "And \"3+3\"?\nThanks"},
    };
    static const char *const stop[] = {"END", "###"};
    struct llm_request req = {0};
    req.model = "gpt-4o-mini";
    req.system = "You are a calculator.";
    req.messages = msgs;
    req.n_messages = 4;
    req.max_tokens = 256;
    req.has_temperature = true;
    req.temperature = 0.7;
    req.has_top_p = true;
    req.top_p = 0.9;
    req.stop = stop;
    req.n_stop = 2;
    req.metadata_json = "{\"custom_id\": \"never-sent\"}";
    struct llm_http_request out = {0};
    prov_build(p, &req, &out);
    assert_json_equal(out.body,
                      "{\"model\":\"gpt-4o-mini\","
                      "\"messages\":["
                      "{\"role\":\"system\",\"content\":\"You are a calculator.\"},"
                      "{\"role\":\"user\",\"content\":\"What is 2+2?\"},"
                      "{\"role\":\"assistant\",\"content\":\"4\"},"
                      "{\"role\":\"developer\",\"content\":\"Answer tersely.\"},"
                      "{\"role\":\"user\",\"content\":\"And \\\"3+3\\\"?\\nThanks\"}],"
                      "\"max_tokens\":256,\"temperature\":0.7,\"top_p\":0.9,"
                      "\"stop\":[\"END\",\"###\"]}");
    /* Compact: one line, no pretty-printing. */
    assert_null(strchr(out.body, '\n'));
    assert_string_equal(out.url, "https://api.openai.com/v1/chat/completions");
    llm_http_request_clear(&out);
    llm_provider_free(p);
}

static void openai_minimal_request_sends_only_model_and_messages(void **state)
{
    (void)state;
    struct llm_provider *p = new_openai(NULL);
    struct llm_request req = minimal_request();
    req.temperature = 0.5; /* ignored: has_temperature is false */
    req.top_p = 0.5;
    struct llm_http_request out = {0};
    prov_build(p, &req, &out);
    assert_json_equal(out.body, "{\"model\":\"gpt-4o-mini\","
                                "\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}]}");
    llm_http_request_clear(&out);

    /* A temperature of exactly 0 is sent when asked for. */
    req.has_temperature = true;
    req.temperature = 0;
    prov_build(p, &req, &out);
    assert_json_equal(out.body, "{\"model\":\"gpt-4o-mini\","
                                "\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}],"
                                "\"temperature\":0}");
    llm_http_request_clear(&out);
    llm_provider_free(p);
}

static void openai_streaming_request_asks_for_usage(void **state)
{
    (void)state;
    struct llm_provider *p = new_openai(NULL);
    struct llm_request req = minimal_request();
    req.stream = true;
    req.max_tokens = 5;
    struct llm_http_request out = {0};
    prov_build(p, &req, &out);
    assert_json_equal(out.body, "{\"model\":\"gpt-4o-mini\","
                                "\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}],"
                                "\"max_tokens\":5,\"stream\":true,"
                                "\"stream_options\":{\"include_usage\":true}}");
    llm_http_request_clear(&out);
    llm_provider_free(p);
}

static void openai_extra_json_members_are_merged_and_override(void **state)
{
    (void)state;
    struct llm_provider *p = new_openai(NULL);
    struct llm_request req = minimal_request();
    req.max_tokens = 100;
    req.stream = true;
    req.extra_json = " {\"seed\": 7, \"max_tokens\": 50, "
                     "\"response_format\": {\"type\": \"json_object\"}, "
                     "\"stream_options\": {\"include_usage\": false}} ";
    struct llm_http_request out = {0};
    prov_build(p, &req, &out);
    assert_json_equal(out.body, "{\"model\":\"gpt-4o-mini\","
                                "\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}],"
                                "\"max_tokens\":50,\"stream\":true,"
                                "\"stream_options\":{\"include_usage\":false},"
                                "\"seed\":7,\"response_format\":{\"type\":\"json_object\"}}");
    llm_http_request_clear(&out);

    req.extra_json = "{}";
    prov_build(p, &req, &out);
    cJSON *b = cJSON_Parse(out.body);
    assert_int_equal(cJSON_GetObjectItem(b, "max_tokens")->valueint, 100);
    cJSON_Delete(b);
    llm_http_request_clear(&out);
    llm_provider_free(p);
}

static void openai_extra_json_that_is_not_an_object_is_rejected(void **state)
{
    (void)state;
    struct llm_provider *p = new_openai(NULL);
    static const char *const bad[] = {"[1, 2]", "42", "\"seed\"", "null", "true", "{\"seed\": ",
                                      "{\"a\":1} {\"b\":2}", "{\"a\":1} x", "", "not json"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct llm_request req = minimal_request();
        req.extra_json = bad[i];
        struct llm_http_request out = {0};
        if (p->vtable->build_request(p, &req, "t", &out) != LLM_ERR_INVALID_REQUEST) {
            print_error("extra_json '%s' was accepted\n", bad[i]);
            fail();
        }
        assert_null(out.url);
        assert_null(out.body);
        assert_null(out.headers);
        assert_int_equal(out.n_headers, 0);
    }
    llm_provider_free(p);
}

static void openai_url_is_built_for_each_base_url_form(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {NULL, "https://api.openai.com/v1/chat/completions"},
        {"https://api.openai.com", "https://api.openai.com/v1/chat/completions"},
        {"https://api.openai.com/", "https://api.openai.com/v1/chat/completions"},
        {"https://api.openai.com/v1", "https://api.openai.com/v1/chat/completions"},
        {"https://api.openai.com/v1/", "https://api.openai.com/v1/chat/completions"},
        {"http://127.0.0.1:8080", "http://127.0.0.1:8080/v1/chat/completions"},       /* llama.cpp */
        {"http://localhost:8000//", "http://localhost:8000/v1/chat/completions"},    /* vLLM */
        {"http://localhost:11434/v1", "http://localhost:11434/v1/chat/completions"}, /* Ollama */
        {"https://gw.example.com/openai", "https://gw.example.com/openai/v1/chat/completions"},
        {"https://gw.example.com/v1beta", "https://gw.example.com/v1beta/v1/chat/completions"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct llm_provider_options o = {.base_url = cases[i][0]};
        struct llm_provider *p = new_openai(&o);
        struct llm_request req = minimal_request();
        struct llm_http_request out = {0};
        prov_build(p, &req, &out);
        assert_string_equal(out.url, cases[i][1]);
        llm_http_request_clear(&out);
        llm_provider_free(p);
    }
}

static void openai_rejects_bad_options_at_creation(void **state)
{
    (void)state;
    static const struct llm_provider_options bad[] = {
        {.base_url = ""},
        {.base_url = "/"},
        {.base_url = "https://api.openai.com\r\nX-Injected: 1"},
        {.base_url = "https://api.openai.com\n"},
        {.base_url = "https://api.openai.com/ v1"},
        {.api_key = FAKE_KEY "\r\nX-Injected: 1"},
        {.api_key = FAKE_KEY "\n"},
        {.trace_header = "X-Trace\r\nX-Injected"},
        {.trace_header = "X-Trace: 1"},
        {.trace_header = "X Trace"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct llm_provider *p = (struct llm_provider *)&p; /* not NULL */
        assert_int_equal(llm_provider_new_openai(&bad[i], &p), LLM_ERR_INVALID_ARGUMENT);
        assert_null(p);
    }
    /* The same from the environment. */
    setenv("LLM_TEST_BAD_KEY", FAKE_KEY "\r\nX-Injected: 1", 1);
    struct llm_provider_options o = {.api_key_env = "LLM_TEST_BAD_KEY"};
    struct llm_provider *p = NULL;
    assert_int_equal(llm_provider_new_openai(&o, &p), LLM_ERR_INVALID_ARGUMENT);
    assert_null(p);
    unsetenv("LLM_TEST_BAD_KEY");
    assert_int_equal(llm_provider_new_openai(NULL, NULL), LLM_ERR_INVALID_ARGUMENT);
}

static void openai_headers_carry_bearer_key_content_type_and_trace_id(void **state)
{
    (void)state;
    struct llm_provider_options o = {.api_key = FAKE_KEY};
    struct llm_provider *p = new_openai(&o);
    struct llm_request req = minimal_request();
    struct llm_http_request out = {0};
    assert_int_equal(p->vtable->build_request(p, &req, "trace-123", &out), LLM_OK);
    assert_int_equal(out.n_headers, 3);
    assert_string_equal(prov_header(&out, "Authorization"), "Bearer " FAKE_KEY);
    assert_string_equal(prov_header(&out, "Content-Type"), "application/json");
    assert_string_equal(prov_header(&out, "X-Client-Request-Id"), "trace-123");
    /* The key never ends up in the body or URL. */
    assert_null(strstr(out.body, FAKE_KEY));
    assert_null(strstr(out.url, FAKE_KEY));
    llm_http_request_clear(&out);

    /* Without a trace id there is no trace header. */
    assert_int_equal(p->vtable->build_request(p, &req, NULL, &out), LLM_OK);
    assert_null(prov_header(&out, "X-Client-Request-Id"));
    llm_http_request_clear(&out);
    llm_provider_free(p);
}

/* provider.h: every string of a built request is its own malloc'd block,
 * which a wrapping provider may free and replace (the constant
 * Content-Type header and the trace header take an internal path that
 * must keep that promise).  Under ASan a shared or static block fails. */
static void openai_built_request_strings_are_each_freeable_and_replaceable(void **state)
{
    (void)state;
    struct llm_provider_options o = {.api_key = FAKE_KEY};
    struct llm_provider *p = new_openai(&o);
    struct llm_request req = minimal_request();
    struct llm_http_request out = {0};
    assert_int_equal(p->vtable->build_request(p, &req, "trace-123", &out), LLM_OK);
    assert_int_equal(out.n_headers, 3);
    for (size_t i = 0; i < out.n_headers; i++) {
        char *n = malloc(strlen(out.headers[i].name) + 3);
        char *v = malloc(strlen(out.headers[i].value) + 3);
        assert_non_null(n);
        assert_non_null(v);
        strcpy(n, "X-");
        strcat(n, out.headers[i].name);
        strcpy(v, "v-");
        strcat(v, out.headers[i].value);
        free(out.headers[i].name);
        free(out.headers[i].value);
        out.headers[i].name = n;
        out.headers[i].value = v;
    }
    assert_string_equal(prov_header(&out, "X-Content-Type"), "v-application/json");
    assert_string_equal(prov_header(&out, "X-X-Client-Request-Id"), "v-trace-123");
    /* The array grows in place of the provider's own headers. */
    assert_int_equal(llm_http_request_add_header(&out, "X-More", "1"), LLM_OK);
    assert_int_equal(out.n_headers, 4);
    free(out.url);
    out.url = strdup("http://127.0.0.1:1/v1/chat/completions");
    llm_http_request_clear(&out);
    llm_provider_free(p);
}

static void openai_sends_no_authorization_without_a_key(void **state)
{
    (void)state;
    unsetenv("OPENAI_API_KEY");
    struct llm_provider_options o = {.base_url = "http://127.0.0.1:8080"};
    struct llm_provider *p = new_openai(&o);
    struct llm_request req = minimal_request();
    struct llm_http_request out = {0};
    prov_build(p, &req, &out);
    assert_null(prov_header(&out, "Authorization"));
    assert_string_equal(prov_header(&out, "Content-Type"), "application/json");
    llm_http_request_clear(&out);
    llm_provider_free(p);

    /* An empty api_key means "no key", whatever the environment holds. */
    setenv("OPENAI_API_KEY", FAKE_KEY "-env", 1);
    struct llm_provider_options none = {.base_url = "http://127.0.0.1:8080", .api_key = ""};
    p = new_openai(&none);
    prov_build(p, &req, &out);
    assert_null(prov_header(&out, "Authorization"));
    llm_http_request_clear(&out);
    llm_provider_free(p);

    /* An empty variable is no key either. */
    setenv("OPENAI_API_KEY", "", 1);
    p = new_openai(&o);
    prov_build(p, &req, &out);
    assert_null(prov_header(&out, "Authorization"));
    llm_http_request_clear(&out);
    llm_provider_free(p);
    unsetenv("OPENAI_API_KEY");
}

static void openai_key_comes_from_the_environment(void **state)
{
    (void)state;
    struct llm_request req = minimal_request();
    struct llm_http_request out = {0};

    setenv("OPENAI_API_KEY", FAKE_KEY "-default-env", 1);
    struct llm_provider *p = new_openai(NULL);
    prov_build(p, &req, &out);
    assert_string_equal(prov_header(&out, "Authorization"), "Bearer " FAKE_KEY "-default-env");
    llm_http_request_clear(&out);
    llm_provider_free(p);

    /* A named variable replaces the default one. */
    setenv("LLM_TEST_OPENAI_KEY", FAKE_KEY "-named-env", 1);
    struct llm_provider_options o = {.api_key_env = "LLM_TEST_OPENAI_KEY"};
    p = new_openai(&o);
    prov_build(p, &req, &out);
    assert_string_equal(prov_header(&out, "Authorization"), "Bearer " FAKE_KEY "-named-env");
    llm_http_request_clear(&out);
    llm_provider_free(p);

    /* An explicit key wins over both, and is copied at creation. */
    char key[] = FAKE_KEY "-explicit";
    o.api_key = key;
    p = new_openai(&o);
    key[0] = 'X';
    setenv("LLM_TEST_OPENAI_KEY", "changed", 1);
    prov_build(p, &req, &out);
    assert_string_equal(prov_header(&out, "Authorization"), "Bearer " FAKE_KEY "-explicit");
    llm_http_request_clear(&out);
    llm_provider_free(p);

    unsetenv("LLM_TEST_OPENAI_KEY");
    unsetenv("OPENAI_API_KEY");
}

static void openai_trace_header_can_be_renamed_or_disabled(void **state)
{
    (void)state;
    struct llm_request req = minimal_request();
    struct llm_http_request out = {0};

    struct llm_provider_options o = {.trace_header = "X-Trace-Id"};
    struct llm_provider *p = new_openai(&o);
    assert_int_equal(p->vtable->build_request(p, &req, "trace-9", &out), LLM_OK);
    assert_string_equal(prov_header(&out, "X-Trace-Id"), "trace-9");
    assert_null(prov_header(&out, "X-Client-Request-Id"));
    llm_http_request_clear(&out);
    llm_provider_free(p);

    o.trace_header = "";
    p = new_openai(&o);
    assert_int_equal(p->vtable->build_request(p, &req, "trace-9", &out), LLM_OK);
    assert_int_equal(out.n_headers, 1); /* Content-Type only */
    llm_http_request_clear(&out);

    /* A trace id that would inject a header line fails the request. */
    llm_provider_free(p);
    p = new_openai(NULL);
    assert_int_equal(p->vtable->build_request(p, &req, "t\r\nX-Injected: 1", &out),
                     LLM_ERR_INVALID_REQUEST);
    assert_null(out.url);
    llm_provider_free(p);
}

/* ---- responses ------------------------------------------------------------------- */

static void openai_response_maps_content_finish_reason_model_id_and_usage(void **state)
{
    (void)state;
    struct llm_provider *p = new_openai(NULL);
    const char *body =
        "{\"id\":\"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT\",\"object\":\"chat.completion\","
        "\"created\":1741569952,\"model\":\"gpt-4o-2024-08-06\","
        "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
        "\"content\":\"Hello! How can I assist you today?\",\"refusal\":null,"
        "\"annotations\":[]},\"logprobs\":null,\"finish_reason\":\"stop\"}],"
        "\"usage\":{\"prompt_tokens\":1117,\"completion_tokens\":346,\"total_tokens\":1463,"
        "\"prompt_tokens_details\":{\"cached_tokens\":1024,\"audio_tokens\":0},"
        "\"completion_tokens_details\":{\"reasoning_tokens\":192,\"audio_tokens\":0,"
        "\"accepted_prediction_tokens\":0,\"rejected_prediction_tokens\":0}},"
        "\"service_tier\":\"default\"}";
    struct llm_parsed out = {0};
    assert_int_equal(prov_parse(p, body, &out), LLM_OK);
    assert_int_equal(out.error, LLM_OK);
    assert_string_equal(out.content, "Hello! How can I assist you today?");
    assert_int_equal(out.content_len, strlen("Hello! How can I assist you today?"));
    assert_string_equal(out.finish_reason, "stop");
    assert_string_equal(out.model, "gpt-4o-2024-08-06");
    assert_string_equal(out.response_id, "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT");
    assert_true(out.usage.known);
    assert_int_equal(out.usage.input_tokens, 1117);
    assert_int_equal(out.usage.output_tokens, 346);
    assert_int_equal(out.usage.cached_input_tokens, 1024);
    assert_int_equal(out.usage.reasoning_tokens, 192);
    assert_int_equal(out.usage.cache_write_tokens, 0);
    llm_parsed_clear(&out);

    /* No usage object: usage unknown, not zero-and-known. */
    assert_int_equal(prov_parse(p, "{\"choices\":[{\"message\":{\"content\":\"hi\"},"
                              "\"finish_reason\":\"length\"}]}", &out),
                     LLM_OK);
    assert_string_equal(out.content, "hi");
    assert_string_equal(out.finish_reason, "length");
    assert_false(out.usage.known);
    assert_null(out.model);
    llm_parsed_clear(&out);

    /* Usage without the detail objects (llama.cpp, Ollama). */
    assert_int_equal(prov_parse(p, "{\"choices\":[{\"message\":{\"content\":\"x\"}}],"
                              "\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1,"
                              "\"prompt_tokens_details\":null}}", &out),
                     LLM_OK);
    assert_true(out.usage.known);
    assert_int_equal(out.usage.input_tokens, 3);
    assert_int_equal(out.usage.output_tokens, 1);
    assert_int_equal(out.usage.cached_input_tokens, 0);
    assert_int_equal(out.usage.reasoning_tokens, 0);
    llm_parsed_clear(&out);
    llm_provider_free(p);
}

static void openai_null_content_parses_as_empty_text(void **state)
{
    (void)state;
    struct llm_provider *p = new_openai(NULL);
    static const char *const bodies[] = {
        "{\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":null,"
        "\"tool_calls\":[{\"id\":\"call_1\",\"type\":\"function\"}]},"
        "\"finish_reason\":\"tool_calls\"}]}",
        "{\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\"},"
        "\"finish_reason\":\"tool_calls\"}]}",
    };
    for (size_t i = 0; i < 2; i++) {
        struct llm_parsed out = {0};
        assert_int_equal(prov_parse(p, bodies[i], &out), LLM_OK);
        assert_non_null(out.content);
        assert_string_equal(out.content, "");
        assert_int_equal(out.content_len, 0);
        assert_string_equal(out.finish_reason, "tool_calls");
        llm_parsed_clear(&out);
    }
    /* Content-part arrays (some compatible servers): the text parts. */
    struct llm_parsed out = {0};
    assert_int_equal(prov_parse(p, "{\"choices\":[{\"message\":{\"content\":["
                              "{\"type\":\"text\",\"text\":\"a\"},{\"type\":\"image_url\"},"
                              "{\"type\":\"text\",\"text\":\"b\"}]}}]}", &out),
                     LLM_OK);
    assert_string_equal(out.content, "ab");
    llm_parsed_clear(&out);
    llm_provider_free(p);
}

static void openai_malformed_responses_are_parse_errors_with_an_excerpt(void **state)
{
    (void)state;
    struct llm_provider *p = new_openai(NULL);
    static const char *const cases[][2] = {
        /* body, expected start of the message */
        {"not json at all", "invalid JSON in response body: not json at all"},
        {"{\"id\":\"chatcmpl-1\",\"choices\":[", "invalid JSON in response body: {\"id\":"},
        {"<html><body>502 Bad Gateway</body></html>", "invalid JSON in response body: <html>"},
        {"{\"choices\":[]} trailing", "invalid JSON in response body: {\"choices\""},
        {"[1,2,3]", "response body is not a JSON object: [1,2,3]"},
        {"{\"id\":\"chatcmpl-1\"}", "no choices in response body: {\"id\":\"chatcmpl-1\"}"},
        {"{\"choices\":[]}", "no choices in response body"},
        {"{\"choices\":{}}", "no choices in response body"},
        {"{\"choices\":[{\"text\":\"legacy\"}]}", "no message content in response body"},
        {"{\"choices\":[{\"message\":{\"content\":42}}]}", "no message content in response body"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct llm_parsed out = {0};
        assert_int_equal(prov_parse(p, cases[i][0], &out), LLM_ERR_PARSE);
        assert_int_equal(out.error, LLM_ERR_PARSE);
        assert_non_null(out.error_message);
        if (strncmp(out.error_message, cases[i][1], strlen(cases[i][1])) != 0) {
            print_error("body '%s'\n got message '%s'\nwant prefix '%s'\n", cases[i][0],
                        out.error_message, cases[i][1]);
            fail();
        }
        llm_parsed_clear(&out);
    }

    struct llm_parsed out = {0};
    assert_int_equal(prov_parse(p, "", &out), LLM_ERR_PARSE);
    assert_string_equal(out.error_message, "empty response body");
    llm_parsed_clear(&out);

    /* A body that is not NUL-terminated is never read past its length. */
    const char buf[] = "{\"choices\":[{\"message\":{\"content\":\"ok\"}}]}GARBAGE";
    assert_int_equal(p->vtable->parse_response(p, buf, strlen(buf) - 7, &out), LLM_OK);
    assert_string_equal(out.content, "ok");
    llm_parsed_clear(&out);

    /* A long body is quoted only in part, control bytes made printable. */
    char big[4096];
    memset(big, 'x', sizeof(big) - 1);
    big[0] = '\x01';
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(prov_parse(p, big, &out), LLM_ERR_PARSE);
    assert_true(strlen(out.error_message) < 200);
    assert_null(strchr(out.error_message, '\x01'));
    assert_non_null(strstr(out.error_message, "..."));
    llm_parsed_clear(&out);
    llm_provider_free(p);
}

static void openai_error_inside_a_2xx_body_is_classified(void **state)
{
    (void)state;
    struct llm_provider *p = new_openai(NULL);
    struct llm_parsed out = {0};
    assert_int_equal(prov_parse(p, "{\"error\":{\"message\":\"You exceeded your current quota.\","
                              "\"type\":\"insufficient_quota\",\"param\":null,"
                              "\"code\":\"insufficient_quota\"}}", &out),
                     LLM_OK);
    assert_int_equal(out.error, LLM_ERR_INSUFFICIENT_QUOTA);
    assert_string_equal(out.provider_code, "insufficient_quota");
    assert_string_equal(out.error_message, "You exceeded your current quota.");
    llm_parsed_clear(&out);

    /* llama.cpp puts the HTTP status in a numeric code. */
    assert_int_equal(prov_parse(p, "{\"error\":{\"code\":503,\"message\":\"Loading model\","
                              "\"type\":\"unavailable_error\"}}", &out),
                     LLM_OK);
    assert_int_equal(out.error, LLM_ERR_OVERLOADED);
    assert_string_equal(out.provider_code, "unavailable_error");
    llm_parsed_clear(&out);

    /* Ollama: "error" is a plain string. */
    assert_int_equal(prov_parse(p, "{\"error\":\"model 'x' not found\"}", &out), LLM_OK);
    assert_int_equal(out.error, LLM_ERR_SERVER_ERROR);
    assert_string_equal(out.error_message, "model 'x' not found");
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

#define OAI_ERR(msg, type, code) \
    "{\"error\":{\"message\":\"" msg "\",\"type\":\"" type "\",\"param\":null,\"code\":" code "}}"

static void openai_classification_table_maps_every_row(void **state)
{
    (void)state;
    static const struct class_case cases[] = {
        {400, OAI_ERR("Invalid 'messages'", "invalid_request_error", "null"),
         LLM_ERR_INVALID_REQUEST, false, "invalid_request_error"},
        {400, OAI_ERR("This model's maximum context length is 128000 tokens.",
                      "invalid_request_error", "\"context_length_exceeded\""),
         LLM_ERR_CONTEXT_LENGTH_EXCEEDED, false, "context_length_exceeded"},
        {400, OAI_ERR("filtered", "invalid_request_error", "\"content_filter\""),
         LLM_ERR_CONTENT_FILTERED, false, "content_filter"},
        {400, OAI_ERR("blocked", "invalid_request_error", "\"content_policy_violation\""),
         LLM_ERR_CONTENT_FILTERED, false, "content_policy_violation"},
        {401, OAI_ERR("Incorrect API key provided", "invalid_request_error",
                      "\"invalid_api_key\""),
         LLM_ERR_AUTHENTICATION, false, "invalid_api_key"},
        {403, OAI_ERR("denied", "permission_error", "null"), LLM_ERR_PERMISSION_DENIED, false,
         "permission_error"},
        {403, OAI_ERR("Country, region, or territory not supported", "request_forbidden",
                      "\"unsupported_country_region_territory\""),
         LLM_ERR_UNSUPPORTED_REGION, false, "unsupported_country_region_territory"},
        {404, OAI_ERR("The model `gpt-9` does not exist", "invalid_request_error",
                      "\"model_not_found\""),
         LLM_ERR_NOT_FOUND, false, "model_not_found"},
        {408, OAI_ERR("timeout", "timeout", "null"), LLM_ERR_TIMEOUT, true, "timeout"},
        {409, OAI_ERR("conflict", "conflict", "null"), LLM_ERR_SERVER_ERROR, true, "conflict"},
        {413, OAI_ERR("too large", "invalid_request_error", "null"), LLM_ERR_INVALID_REQUEST,
         false, "invalid_request_error"},
        {422, OAI_ERR("unprocessable", "invalid_request_error", "null"),
         LLM_ERR_INVALID_REQUEST, false, "invalid_request_error"},
        {429, OAI_ERR("Rate limit reached for requests", "requests", "\"rate_limit_exceeded\""),
         LLM_ERR_RATE_LIMITED, true, "rate_limit_exceeded"},
        {429, OAI_ERR("You exceeded your current quota", "insufficient_quota",
                      "\"insufficient_quota\""),
         LLM_ERR_INSUFFICIENT_QUOTA, false, "insufficient_quota"},
        /* insufficient_quota as the type alone */
        {429, OAI_ERR("You exceeded your current quota", "insufficient_quota", "null"),
         LLM_ERR_INSUFFICIENT_QUOTA, false, "insufficient_quota"},
        {500, OAI_ERR("The server had an error", "server_error", "null"), LLM_ERR_SERVER_ERROR,
         true, "server_error"},
        {502, OAI_ERR("Bad gateway", "server_error", "null"), LLM_ERR_SERVER_ERROR, true,
         "server_error"},
        {503, OAI_ERR("The engine is currently overloaded", "server_error", "null"),
         LLM_ERR_OVERLOADED, true, "server_error"},
        {504, OAI_ERR("Gateway timeout", "server_error", "null"), LLM_ERR_SERVER_ERROR, true,
         "server_error"},
        {529, OAI_ERR("Overloaded", "overloaded_error", "null"), LLM_ERR_OVERLOADED, true,
         "overloaded_error"},
        {520, OAI_ERR("Unknown", "server_error", "null"), LLM_ERR_SERVER_ERROR, true,
         "server_error"},
        {418, OAI_ERR("teapot", "invalid_request_error", "null"), LLM_ERR_INVALID_REQUEST, false,
         "invalid_request_error"},
        /* vLLM's older top-level shape */
        {400, "{\"object\":\"error\",\"message\":\"bad\",\"type\":\"BadRequestError\","
              "\"param\":null,\"code\":400}",
         LLM_ERR_INVALID_REQUEST, false, "BadRequestError"},
    };
    struct llm_provider *p = new_openai(NULL);
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
        assert_null(strchr(info.message, '{')); /* the server's words, not the JSON */
        llm_error_info_clear(&info);
    }
    llm_provider_free(p);
}

/* Status first (issue 10 #6), the same rule as Anthropic's table: every
 * documented status with every documented code; a code refines only the
 * status it is documented with. */
static void openai_status_decides_whatever_code_the_body_names(void **state)
{
    (void)state;
    static const char *const codes[] = {
        "invalid_request_error", "invalid_api_key",  "model_not_found",
        "context_length_exceeded", "content_policy_violation",
        "unsupported_country_region_territory", "rate_limit_exceeded", "insufficient_quota",
        "server_error",
    };
    static const struct {
        int status;
        enum llm_error type;
        bool retryable;
    } by_status[] = {
        {400, LLM_ERR_INVALID_REQUEST, false}, {401, LLM_ERR_AUTHENTICATION, false},
        {403, LLM_ERR_PERMISSION_DENIED, false}, {404, LLM_ERR_NOT_FOUND, false},
        {429, LLM_ERR_RATE_LIMITED, true},     {500, LLM_ERR_SERVER_ERROR, true},
        {503, LLM_ERR_OVERLOADED, true},
    };
    static const struct {
        int status;
        const char *code;
        enum llm_error type;
    } refine[] = {
        {400, "context_length_exceeded", LLM_ERR_CONTEXT_LENGTH_EXCEEDED},
        {400, "content_policy_violation", LLM_ERR_CONTENT_FILTERED},
        {403, "unsupported_country_region_territory", LLM_ERR_UNSUPPORTED_REGION},
        {429, "insufficient_quota", LLM_ERR_INSUFFICIENT_QUOTA},
    };
    struct llm_provider *p = new_openai(NULL);
    char body[256];
    for (size_t s = 0; s < sizeof(by_status) / sizeof(by_status[0]); s++) {
        for (size_t c = 0; c < sizeof(codes) / sizeof(codes[0]); c++) {
            snprintf(body, sizeof(body),
                     "{\"error\":{\"message\":\"m\",\"type\":\"api_error\",\"param\":null,"
                     "\"code\":\"%s\"}}",
                     codes[c]);
            enum llm_error want = by_status[s].type;
            bool want_retry = by_status[s].retryable;
            for (size_t r = 0; r < sizeof(refine) / sizeof(refine[0]); r++) {
                if (refine[r].status == by_status[s].status && strcmp(refine[r].code, codes[c]) == 0) {
                    want = refine[r].type;
                    want_retry = llm_error_is_retryable(want);
                }
            }
            struct llm_error_info info = {0};
            prov_classify(p, by_status[s].status, NULL, body, &info);
            if (info.type != want || info.retryable != want_retry) {
                print_error("%d %s: got %s retryable=%d, want %s retryable=%d\n",
                            by_status[s].status, codes[c], llm_error_name(info.type),
                            info.retryable, llm_error_name(want), want_retry);
                fail();
            }
            llm_error_info_clear(&info);
        }
    }
    llm_provider_free(p);
}

static void openai_unreadable_error_body_falls_back_on_status_and_quotes_it(void **state)
{
    (void)state;
    struct llm_provider *p = new_openai(NULL);
    struct llm_error_info info = {0};
    prov_classify(p, 502, NULL, "<html><head><title>502 Bad Gateway</title></head></html>", &info);
    assert_int_equal(info.type, LLM_ERR_SERVER_ERROR);
    assert_true(info.retryable);
    assert_null(info.provider_code);
    assert_string_equal(info.message, "<html><head><title>502 Bad Gateway</title></head></html>");
    llm_error_info_clear(&info);

    prov_classify(p, 429, NULL, "", &info);
    assert_int_equal(info.type, LLM_ERR_RATE_LIMITED);
    assert_true(info.retryable);
    assert_null(info.message);
    llm_error_info_clear(&info);

    prov_classify(p, 401, NULL, NULL, &info);
    assert_int_equal(info.type, LLM_ERR_AUTHENTICATION);
    assert_false(info.retryable);
    llm_error_info_clear(&info);
    llm_provider_free(p);
}

static void openai_x_should_retry_header_overrides_retryable(void **state)
{
    (void)state;
    struct llm_provider *p = new_openai(NULL);
    const char *body = OAI_ERR("x", "server_error", "null");
    struct llm_header yes[] = {{"X-Should-Retry", "true"}};
    struct llm_header no[] = {{"x-should-retry", " false "}};
    struct llm_header junk[] = {{"x-should-retry", "maybe"}};
    struct llm_http_headers hy = {yes, 1}, hn = {no, 1}, hj = {junk, 1};
    struct llm_error_info info = {0};

    prov_classify(p, 400, &hy, body, &info);
    assert_int_equal(info.type, LLM_ERR_INVALID_REQUEST);
    assert_true(info.retryable);
    llm_error_info_clear(&info);

    prov_classify(p, 500, &hn, body, &info);
    assert_int_equal(info.type, LLM_ERR_SERVER_ERROR);
    assert_false(info.retryable);
    llm_error_info_clear(&info);

    prov_classify(p, 500, &hj, body, &info);
    assert_true(info.retryable);
    llm_error_info_clear(&info);
    prov_classify(p, 400, &hj, body, &info);
    assert_false(info.retryable);
    llm_error_info_clear(&info);
    llm_provider_free(p);
}

/* ---- streaming ------------------------------------------------------------------- */

#define CHUNK_HEAD \
    "{\"id\":\"chatcmpl-stream1\",\"object\":\"chat.completion.chunk\",\"created\":1741569952," \
    "\"model\":\"gpt-4o-mini-2024-07-18\",\"system_fingerprint\":\"fp_06737a9306\","

static void openai_stream_events_accumulate_text_finish_reason_and_usage(void **state)
{
    (void)state;
    struct llm_provider *p = new_openai(NULL);
    static const char *const events[] = {
        CHUNK_HEAD "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\","
                   "\"refusal\":null},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}",
        CHUNK_HEAD "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello\"},"
                   "\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}",
        CHUNK_HEAD "\"choices\":[{\"index\":0,\"delta\":{\"content\":\", w\\u00f6rld\"},"
                   "\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}",
        CHUNK_HEAD "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"!\\n\"},"
                   "\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}",
        CHUNK_HEAD "\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,"
                   "\"finish_reason\":\"stop\"}],\"usage\":null}",
        CHUNK_HEAD "\"choices\":[],\"usage\":{\"prompt_tokens\":19,\"completion_tokens\":4,"
                   "\"total_tokens\":23,\"prompt_tokens_details\":{\"cached_tokens\":8,"
                   "\"audio_tokens\":0},\"completion_tokens_details\":{\"reasoning_tokens\":2,"
                   "\"audio_tokens\":0,\"accepted_prediction_tokens\":0,"
                   "\"rejected_prediction_tokens\":0}}}",
    };
    struct llm_parsed acc = {0};
    for (size_t i = 0; i < sizeof(events) / sizeof(events[0]); i++) {
        assert_int_equal(prov_feed(p, NULL, events[i], &acc), LLM_OK);
        assert_false(acc.done);
        if (i == 3)
            assert_false(acc.usage.known);
    }
    assert_int_equal(prov_feed(p, NULL, "", &acc), LLM_OK); /* keep-alive */
    assert_false(acc.done);
    assert_int_equal(prov_feed(p, NULL, "[DONE]", &acc), LLM_OK);
    assert_true(acc.done);
    assert_int_equal(acc.error, LLM_OK);
    assert_string_equal(acc.content, "Hello, w\xC3\xB6rld!\n");
    assert_string_equal(acc.finish_reason, "stop");
    assert_string_equal(acc.model, "gpt-4o-mini-2024-07-18");
    assert_string_equal(acc.response_id, "chatcmpl-stream1");
    assert_true(acc.usage.known);
    assert_int_equal(acc.usage.input_tokens, 19);
    assert_int_equal(acc.usage.output_tokens, 4);
    assert_int_equal(acc.usage.cached_input_tokens, 8);
    assert_int_equal(acc.usage.reasoning_tokens, 2);
    llm_parsed_clear(&acc);

    /* vLLM ends with a usage chunk whose choices are null. */
    assert_int_equal(prov_feed(p, NULL, "{\"choices\":null,\"usage\":{\"prompt_tokens\":1,"
                                   "\"completion_tokens\":2}}", &acc),
                     LLM_OK);
    assert_true(acc.usage.known);
    assert_int_equal(acc.usage.output_tokens, 2);
    assert_int_equal(prov_feed(p, NULL, " [DONE]\n", &acc), LLM_OK);
    assert_true(acc.done);
    llm_parsed_clear(&acc);
    llm_provider_free(p);
}

/* Issue 10 #1: the fast reader writes deltas in place; the bound is on the
 * decoded text (here 12 escaped bytes are 4 of text), not the escapes. */
static void openai_stream_deltas_stop_at_max_bytes_of_decoded_text(void **state)
{
    (void)state;
    struct llm_provider *p = new_openai(NULL);
    struct llm_parsed acc = {0};
    acc.max_bytes = 6;
    assert_int_equal(prov_feed(p, NULL, CHUNK_HEAD "\"choices\":[{\"index\":0,\"delta\":"
                                         "{\"content\":\"ab\"},\"finish_reason\":null}]}", &acc),
                     LLM_OK);
    assert_int_equal(prov_feed(p, NULL, CHUNK_HEAD "\"choices\":[{\"index\":0,\"delta\":"
                                         "{\"content\":\"\\u00e9\\u00e9\"},\"finish_reason\":null}]}",
                               &acc),
                     LLM_OK);
    assert_int_equal(acc.content_len, 6);
    assert_int_equal(prov_feed(p, NULL, CHUNK_HEAD "\"choices\":[{\"index\":0,\"delta\":"
                                         "{\"content\":\"x\"},\"finish_reason\":null}]}", &acc),
                     LLM_ERR_RESPONSE_TOO_LARGE);
    assert_int_equal(acc.error, LLM_ERR_RESPONSE_TOO_LARGE);
    assert_int_equal(acc.content_len, 6);
    assert_string_equal(acc.content, "ab\xc3\xa9\xc3\xa9");
    /* The tree reader (content parts) is bounded the same way. */
    assert_int_equal(prov_feed(p, NULL, CHUNK_HEAD "\"choices\":[{\"index\":0,\"delta\":"
                                         "{\"content\":[{\"type\":\"text\",\"text\":\"y\"}]}}]}",
                               &acc),
                     LLM_ERR_RESPONSE_TOO_LARGE);
    assert_int_equal(acc.content_len, 6);
    llm_parsed_clear(&acc);

    /* Tool-call arguments count against the same bound. */
    acc.max_bytes = 8;
    assert_int_equal(prov_feed(p, NULL, CHUNK_HEAD "\"choices\":[{\"index\":0,\"delta\":"
                                         "{\"tool_calls\":[{\"index\":0,\"id\":\"call_1\","
                                         "\"type\":\"function\",\"function\":{\"name\":\"f\","
                                         "\"arguments\":\"{\\\"a\\\":\"}}]}}]}",
                               &acc),
                     LLM_OK);
    assert_int_equal(acc.n_tool_calls, 1);
    assert_int_equal(acc.tool_calls[0].arguments_len, 5);
    assert_int_equal(prov_feed(p, NULL, CHUNK_HEAD "\"choices\":[{\"index\":0,\"delta\":"
                                         "{\"tool_calls\":[{\"index\":0,\"function\":"
                                         "{\"arguments\":\"12345\"}}]}}]}",
                               &acc),
                     LLM_ERR_RESPONSE_TOO_LARGE);
    assert_int_equal(acc.error, LLM_ERR_RESPONSE_TOO_LARGE);
    assert_int_equal(acc.tool_calls[0].arguments_len, 5);
    llm_parsed_clear(&acc);
    llm_provider_free(p);
}

/* Issue 10 #5: a delta after [DONE] was appended ("aINJECTED") and an
 * error event after it turned the finished reply into SERVER_ERROR. */
static void openai_events_after_done_change_nothing(void **state)
{
    (void)state;
    struct llm_provider *p = new_openai(NULL);
    struct llm_parsed acc = {0};
    assert_int_equal(prov_feed(p, NULL, CHUNK_HEAD "\"choices\":[{\"index\":0,\"delta\":"
                                         "{\"content\":\"a\"},\"finish_reason\":\"stop\"}]}", &acc),
                     LLM_OK);
    assert_int_equal(prov_feed(p, NULL, "[DONE]", &acc), LLM_OK);
    assert_true(acc.done);
    /* Both readers: the fast one (a plain delta) and the tree (parts). */
    assert_int_equal(prov_feed(p, NULL, CHUNK_HEAD "\"choices\":[{\"index\":0,\"delta\":"
                                         "{\"content\":\"INJECTED\"},\"finish_reason\":null}]}",
                               &acc),
                     LLM_OK);
    assert_int_equal(prov_feed(p, NULL, CHUNK_HEAD "\"choices\":[{\"index\":0,\"delta\":"
                                         "{\"content\":[{\"type\":\"text\",\"text\":\"X\"}]}}]}",
                               &acc),
                     LLM_OK);
    assert_int_equal(prov_feed(p, NULL, "{\"error\":{\"message\":\"late\",\"type\":"
                                         "\"server_error\",\"code\":null}}", &acc),
                     LLM_OK);
    assert_int_equal(prov_feed(p, NULL, "not json", &acc), LLM_OK);
    assert_string_equal(acc.content, "a");
    assert_int_equal(acc.error, LLM_OK);
    assert_null(acc.error_message);
    llm_parsed_clear(&acc);
    llm_provider_free(p);
}

/* Issue 10 #12: text with 0 completion tokens is unknown usage, streamed
 * (settled at [DONE]) or not; an empty reply's zero is real. */
static void openai_zero_completion_tokens_with_text_is_unknown_usage(void **state)
{
    (void)state;
    struct llm_provider *p = new_openai(NULL);
    struct llm_parsed acc = {0};
    assert_int_equal(prov_feed(p, NULL, CHUNK_HEAD "\"choices\":[{\"index\":0,\"delta\":"
                                         "{\"content\":\"hello\"},\"finish_reason\":\"stop\"}]}",
                               &acc),
                     LLM_OK);
    assert_int_equal(prov_feed(p, NULL, CHUNK_HEAD "\"choices\":[],\"usage\":{\"prompt_tokens\":0,"
                                         "\"completion_tokens\":0,\"total_tokens\":0}}", &acc),
                     LLM_OK);
    assert_int_equal(prov_feed(p, NULL, "[DONE]", &acc), LLM_OK);
    assert_false(acc.usage.known);
    llm_parsed_clear(&acc);

    assert_int_equal(prov_parse(p,
                                "{\"id\":\"c\",\"object\":\"chat.completion\",\"model\":\"m\","
                                "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
                                "\"content\":\"hello\"},\"finish_reason\":\"stop\"}],"
                                "\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":0,"
                                "\"total_tokens\":4}}",
                                &acc),
                     LLM_OK);
    assert_false(acc.usage.known);
    assert_int_equal(acc.usage.input_tokens, 4);
    llm_parsed_clear(&acc);

    assert_int_equal(prov_parse(p,
                                "{\"id\":\"c\",\"object\":\"chat.completion\",\"model\":\"m\","
                                "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
                                "\"content\":\"\"},\"finish_reason\":\"stop\"}],"
                                "\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":0,"
                                "\"total_tokens\":4}}",
                                &acc),
                     LLM_OK);
    assert_true(acc.usage.known);
    llm_parsed_clear(&acc);
    llm_provider_free(p);
}

static void openai_stream_error_event_is_recorded_as_parsed_error(void **state)
{
    (void)state;
    struct llm_provider *p = new_openai(NULL);
    struct llm_parsed acc = {0};
    assert_int_equal(prov_feed(p, NULL, CHUNK_HEAD "\"choices\":[{\"index\":0,\"delta\":"
                                   "{\"content\":\"partial\"},\"finish_reason\":null}]}", &acc),
                     LLM_OK);
    assert_int_equal(prov_feed(p, NULL, "{\"error\":{\"message\":\"The server had an error while "
                                   "processing your request.\",\"type\":\"server_error\","
                                   "\"param\":null,\"code\":null}}", &acc),
                     LLM_OK);
    assert_int_equal(acc.error, LLM_ERR_SERVER_ERROR);
    assert_string_equal(acc.provider_code, "server_error");
    assert_string_equal(acc.error_message,
                        "The server had an error while processing your request.");
    assert_string_equal(acc.content, "partial");
    assert_false(acc.done);
    llm_parsed_clear(&acc);

    assert_int_equal(prov_feed(p, NULL, "{\"error\":{\"message\":\"Rate limit\",\"type\":\"tokens\","
                                   "\"code\":\"rate_limit_exceeded\"}}", &acc),
                     LLM_OK);
    assert_int_equal(acc.error, LLM_ERR_RATE_LIMITED);
    llm_parsed_clear(&acc);
    llm_provider_free(p);
}

/* Without an HTTP status (an error streamed in a 200, as mock-llm does, or
 * inside a 2xx body) the precise code wins over the broad type: OpenAI's
 * bad-key error has type invalid_request_error and code invalid_api_key. */
static void openai_error_code_beats_error_type_without_a_status(void **state)
{
    (void)state;
    struct llm_provider *p = new_openai(NULL);
    struct llm_parsed acc = {0};
    /* mock-llm's streamed 401, byte for byte. */
    assert_int_equal(prov_feed(p, NULL, "{\"error\":{\"message\":\"Incorrect API key provided.\","
                                   "\"type\":\"invalid_request_error\",\"param\":null,"
                                   "\"code\":\"invalid_api_key\"}}", &acc),
                     LLM_OK);
    assert_int_equal(acc.error, LLM_ERR_AUTHENTICATION);
    assert_string_equal(acc.provider_code, "invalid_api_key");
    assert_string_equal(acc.error_message, "Incorrect API key provided.");
    llm_parsed_clear(&acc);

    struct llm_parsed out = {0};
    assert_int_equal(prov_parse(p, OAI_ERR("The model `gpt-9` does not exist",
                                      "invalid_request_error", "\"model_not_found\""), &out),
                     LLM_OK);
    assert_int_equal(out.error, LLM_ERR_NOT_FOUND);
    llm_parsed_clear(&out);

    assert_int_equal(prov_parse(p, OAI_ERR("Rate limit reached", "invalid_request_error",
                                      "\"rate_limit_exceeded\""), &out),
                     LLM_OK);
    assert_int_equal(out.error, LLM_ERR_RATE_LIMITED);
    llm_parsed_clear(&out);

    /* A type alone still decides. */
    assert_int_equal(prov_parse(p, OAI_ERR("bad", "invalid_request_error", "null"), &out), LLM_OK);
    assert_int_equal(out.error, LLM_ERR_INVALID_REQUEST);
    llm_parsed_clear(&out);
    llm_provider_free(p);
}

/* {"error":"<kind>","message":"<words>"} (mock-llm's 500, Fastify, Express
 * apps): the words are the message and the kind is the provider code, not
 * the kind alone. */
static void openai_string_error_with_a_message_keeps_both(void **state)
{
    (void)state;
    struct llm_provider *p = new_openai(NULL);
    struct llm_error_info info = {0};
    prov_classify(p, 500, NULL,
             "{\"error\":\"SyntaxError\",\"message\":\"Expected ',' or '}' after property value "
             "in JSON at position 166\",\"status\":500}",
             &info);
    assert_int_equal(info.type, LLM_ERR_SERVER_ERROR);
    assert_true(info.retryable);
    assert_non_null(info.provider_code);
    assert_string_equal(info.provider_code, "SyntaxError");
    assert_string_equal(info.message,
                        "Expected ',' or '}' after property value in JSON at position 166");
    llm_error_info_clear(&info);

    prov_classify(p, 400, NULL,
             "{\"statusCode\":400,\"error\":\"Bad Request\",\"message\":\"body must have "
             "required property 'model'\"}",
             &info);
    assert_int_equal(info.type, LLM_ERR_INVALID_REQUEST);
    assert_false(info.retryable);
    assert_non_null(info.provider_code);
    assert_string_equal(info.provider_code, "Bad Request");
    assert_string_equal(info.message, "body must have required property 'model'");
    llm_error_info_clear(&info);

    /* In a stream, a string "error" with a message is still an error. */
    struct llm_parsed acc = {0};
    assert_int_equal(prov_feed(p, NULL, "{\"error\":\"rate_limit_exceeded\",\"message\":\"slow down\"}",
                          &acc),
                     LLM_OK);
    assert_int_equal(acc.error, LLM_ERR_RATE_LIMITED);
    assert_string_equal(acc.error_message, "slow down");
    llm_parsed_clear(&acc);

    /* Ollama's bare string is unchanged: the string is the message. */
    struct llm_parsed out = {0};
    assert_int_equal(prov_parse(p, "{\"error\":\"model 'x' not found\"}", &out), LLM_OK);
    assert_string_equal(out.error_message, "model 'x' not found");
    assert_null(out.provider_code);
    llm_parsed_clear(&out);
    llm_provider_free(p);
}

static void openai_malformed_stream_event_is_a_parse_error(void **state)
{
    (void)state;
    struct llm_provider *p = new_openai(NULL);
    static const char *const bad[] = {
        "{\"choices\": [{\"delta\": {\"content\": \"tr",
        "DONE",
        "[1]",
        "{\"choices\":[{\"delta\":{\"content\":{\"x\":1}}}]}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct llm_parsed acc = {0};
        assert_int_equal(prov_feed(p, NULL, bad[i], &acc), LLM_ERR_PARSE);
        assert_int_equal(acc.error, LLM_ERR_PARSE);
        assert_non_null(acc.error_message);
        assert_false(acc.done);
        llm_parsed_clear(&acc);
    }
    struct llm_parsed acc = {0};
    assert_int_equal(prov_feed(p, NULL, "{\"choices\": [{\"delta\": {\"content\": \"tr", &acc),
                     LLM_ERR_PARSE);
    assert_string_equal(acc.error_message,
                        "invalid JSON in stream event: {\"choices\": [{\"delta\": "
                        "{\"content\": \"tr");
    llm_parsed_clear(&acc);
    llm_provider_free(p);
}

/* ---- rate limits and identity ---------------------------------------------------- */

static void openai_rate_limit_headers_are_read(void **state)
{
    (void)state;
    struct llm_provider *p = new_openai(NULL);
    struct llm_header items[] = {
        {"x-ratelimit-limit-requests", "10000"},
        {"x-ratelimit-remaining-requests", "9999"},
        {"x-ratelimit-reset-requests", "6ms"},
        {"X-RateLimit-Limit-Tokens", "30000000"},
        {"x-ratelimit-remaining-tokens", "29999970"},
        {"x-ratelimit-reset-tokens", "1m2.5s"},
        {"x-request-id", "req_abc"},
    };
    struct llm_http_headers h = {items, sizeof(items) / sizeof(items[0])};
    struct llm_rate_limit_info rl;
    memset(&rl, 0xff, sizeof(rl)); /* all -1 */
    p->vtable->read_rate_limits(p, &h, &rl);
    assert_int_equal(rl.limit_requests, 10000);
    assert_int_equal(rl.remaining_requests, 9999);
    assert_int_equal(rl.reset_requests_ms, 6);
    assert_int_equal(rl.limit_tokens, 30000000);
    assert_int_equal(rl.remaining_tokens, 29999970);
    assert_int_equal(rl.reset_tokens_ms, 62500);
    assert_int_equal(rl.limit_input_tokens, -1);
    assert_int_equal(rl.reset_output_tokens_ms, -1);

    /* Missing or malformed values leave -1; bare seconds are accepted. */
    struct llm_header odd[] = {
        {"x-ratelimit-limit-requests", "lots"},
        {"x-ratelimit-reset-requests", "soon"},
        {"x-ratelimit-reset-tokens", "2"},
    };
    struct llm_http_headers h2 = {odd, 3};
    memset(&rl, 0xff, sizeof(rl));
    p->vtable->read_rate_limits(p, &h2, &rl);
    assert_int_equal(rl.limit_requests, -1);
    assert_int_equal(rl.remaining_requests, -1);
    assert_int_equal(rl.reset_requests_ms, -1);
    assert_int_equal(rl.reset_tokens_ms, 2000);

    struct llm_http_headers none = {NULL, 0};
    memset(&rl, 0xff, sizeof(rl));
    p->vtable->read_rate_limits(p, &none, &rl);
    assert_int_equal(rl.limit_tokens, -1);
    llm_provider_free(p);
}

static void openai_vtable_names_itself_and_its_request_id_header(void **state)
{
    (void)state;
    struct llm_provider *p = new_openai(NULL);
    assert_string_equal(p->vtable->name, "openai");
    assert_string_equal(p->vtable->request_id_header, "x-request-id");
    assert_null(p->vtable->execute_local);
    assert_non_null(p->vtable->read_rate_limits);
    llm_provider_free(p);
}

int main(void)
{
    /* Keys in the developer's or CI's environment must not leak into the
     * expectations. */
    unsetenv("OPENAI_API_KEY");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(openai_request_body_matches_golden),
        cmocka_unit_test(openai_minimal_request_sends_only_model_and_messages),
        cmocka_unit_test(openai_streaming_request_asks_for_usage),
        cmocka_unit_test(openai_extra_json_members_are_merged_and_override),
        cmocka_unit_test(openai_extra_json_that_is_not_an_object_is_rejected),
        cmocka_unit_test(openai_url_is_built_for_each_base_url_form),
        cmocka_unit_test(openai_rejects_bad_options_at_creation),
        cmocka_unit_test(openai_headers_carry_bearer_key_content_type_and_trace_id),
        cmocka_unit_test(openai_built_request_strings_are_each_freeable_and_replaceable),
        cmocka_unit_test(openai_sends_no_authorization_without_a_key),
        cmocka_unit_test(openai_key_comes_from_the_environment),
        cmocka_unit_test(openai_trace_header_can_be_renamed_or_disabled),
        cmocka_unit_test(openai_response_maps_content_finish_reason_model_id_and_usage),
        cmocka_unit_test(openai_null_content_parses_as_empty_text),
        cmocka_unit_test(openai_malformed_responses_are_parse_errors_with_an_excerpt),
        cmocka_unit_test(openai_error_inside_a_2xx_body_is_classified),
        cmocka_unit_test(openai_classification_table_maps_every_row),
        cmocka_unit_test(openai_unreadable_error_body_falls_back_on_status_and_quotes_it),
        cmocka_unit_test(openai_status_decides_whatever_code_the_body_names),
        cmocka_unit_test(openai_x_should_retry_header_overrides_retryable),
        cmocka_unit_test(openai_stream_events_accumulate_text_finish_reason_and_usage),
        cmocka_unit_test(openai_stream_deltas_stop_at_max_bytes_of_decoded_text),
        cmocka_unit_test(openai_events_after_done_change_nothing),
        cmocka_unit_test(openai_zero_completion_tokens_with_text_is_unknown_usage),
        cmocka_unit_test(openai_stream_error_event_is_recorded_as_parsed_error),
        cmocka_unit_test(openai_error_code_beats_error_type_without_a_status),
        cmocka_unit_test(openai_string_error_with_a_message_keeps_both),
        cmocka_unit_test(openai_malformed_stream_event_is_a_parse_error),
        cmocka_unit_test(openai_rate_limit_headers_are_read),
        cmocka_unit_test(openai_vtable_names_itself_and_its_request_id_header),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
