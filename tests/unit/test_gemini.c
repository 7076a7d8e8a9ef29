/* The Gemini provider: request (URL, key header, golden body with
 * systemInstruction and generationConfig), replies and SSE events (text,
 * finish reasons, usageMetadata with cached and thought tokens, blocked
 * prompts), the google.rpc.Status table row by row with RetryInfo, and
 * key resolution from GEMINI_API_KEY / GOOGLE_API_KEY.  Keys are
 * placeholders. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "llmorch/ext/provider.h"
#include "provider_helpers.h"

#define FAKE_KEY "gemini-test-key-not-real"

static struct llm_provider *new_gemini(const struct llm_provider_options *opts)
{
    return prov_new(llm_provider_new_gemini, opts);
}

static void gemini_request_body_url_and_key_match_the_sdk(void **state)
{
    (void)state;
    struct llm_provider_options o = {.api_key = FAKE_KEY, .base_url = "http://127.0.0.1:9/"};
    struct llm_provider *p = new_gemini(&o);
    static const struct llm_message msgs[] = {
        {.role = "system", .content = "Answer in French."},
        {.role = "user", .content = "What is 2+2?"},
        {.role = "assistant", .content = "4"},
        {.role = "user", .content = "And 3+3?"},
    };
    static const char *const stop[] = {"END"};
    struct llm_request req = {0};
    req.model = "gemini-2.5-flash";
    req.system = "You are a calculator.";
    req.messages = msgs;
    req.n_messages = 4;
    req.max_tokens = 64;
    req.has_temperature = true;
    req.temperature = 0.5;
    req.has_top_p = true;
    req.top_p = 0.9;
    req.stop = stop;
    req.n_stop = 1;
    struct llm_http_request r;
    prov_build(p, &req, &r);
    assert_string_equal(r.url, "http://127.0.0.1:9/v1beta/models/gemini-2.5-flash:generateContent");
    assert_string_equal(prov_header(&r, "x-goog-api-key"), FAKE_KEY);
    assert_string_equal(prov_header(&r, "content-type"), "application/json");
    assert_null(prov_header(&r, "authorization"));
    assert_json_equal(r.body,
                      "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"What is 2+2?\"}]},"
                      "{\"role\":\"model\",\"parts\":[{\"text\":\"4\"}]},"
                      "{\"role\":\"user\",\"parts\":[{\"text\":\"And 3+3?\"}]}],"
                      "\"systemInstruction\":{\"parts\":[{\"text\":"
                      "\"You are a calculator.\\n\\nAnswer in French.\"}]},"
                      "\"generationConfig\":{\"maxOutputTokens\":64,\"temperature\":0.5,"
                      "\"topP\":0.9,\"stopSequences\":[\"END\"]}}");
    llm_http_request_clear(&r);

    /* Streaming: same body, the SSE method; "models/" prefixes dropped. */
    req.stream = true;
    req.model = "models/gemini-2.0-flash";
    prov_build(p, &req, &r);
    assert_string_equal(
        r.url, "http://127.0.0.1:9/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse");
    assert_null(strstr(r.body, "stream"));
    llm_http_request_clear(&r);
    llm_provider_free(p);
}

static void gemini_minimal_request_sends_no_config_and_a_versioned_base_is_kept(void **state)
{
    (void)state;
    struct llm_provider_options o = {.api_key = "",
                                     .base_url = "https://example.test/v1beta"};
    struct llm_provider *p = new_gemini(&o);
    struct llm_request req = prov_minimal_request("gemini-2.5-pro");
    struct llm_http_request r;
    prov_build(p, &req, &r);
    assert_string_equal(r.url, "https://example.test/v1beta/models/gemini-2.5-pro:generateContent");
    assert_null(prov_header(&r, "x-goog-api-key"));
    assert_json_equal(r.body, "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"Hello\"}]}]}");
    llm_http_request_clear(&r);
    llm_provider_free(p);
}

static void gemini_key_comes_from_gemini_api_key_then_google_api_key(void **state)
{
    (void)state;
    struct llm_request req = prov_minimal_request("gemini-2.5-flash");
    struct llm_http_request r;
    unsetenv("GEMINI_API_KEY");
    setenv("GOOGLE_API_KEY", "google-key", 1);
    struct llm_provider *p = new_gemini(NULL);
    prov_build(p, &req, &r);
    assert_string_equal(prov_header(&r, "x-goog-api-key"), "google-key");
    assert_string_equal(r.url, "https://generativelanguage.googleapis.com/v1beta/models/"
                               "gemini-2.5-flash:generateContent");
    llm_http_request_clear(&r);
    llm_provider_free(p);

    setenv("GEMINI_API_KEY", "gemini-key", 1);
    p = new_gemini(NULL);
    prov_build(p, &req, &r);
    assert_string_equal(prov_header(&r, "x-goog-api-key"), "gemini-key");
    llm_http_request_clear(&r);
    llm_provider_free(p);
    unsetenv("GEMINI_API_KEY");
    unsetenv("GOOGLE_API_KEY");
}

/* A generateContent reply as the API returns it. */
static const char reply[] =
    "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"thinking...\",\"thought\":true},"
    "{\"text\":\"Quatre\"},{\"text\":\".\"}],\"role\":\"model\"},\"finishReason\":\"STOP\","
    "\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":12,\"candidatesTokenCount\":3,"
    "\"totalTokenCount\":25,\"cachedContentTokenCount\":4,\"thoughtsTokenCount\":10},"
    "\"modelVersion\":\"gemini-2.5-flash\",\"responseId\":\"abc123\"}";

static void gemini_reply_gives_text_finish_usage_model_and_id(void **state)
{
    (void)state;
    struct llm_provider *p = new_gemini(NULL);
    struct llm_parsed out = {0};
    assert_int_equal(prov_parse(p, reply, &out), LLM_OK);
    assert_int_equal(out.error, LLM_OK);
    assert_string_equal(out.content, "Quatre.");
    assert_string_equal(out.finish_reason, "stop");
    assert_string_equal(out.model, "gemini-2.5-flash");
    assert_string_equal(out.response_id, "abc123");
    assert_true(out.usage.known);
    assert_int_equal(out.usage.input_tokens, 12);
    assert_int_equal(out.usage.cached_input_tokens, 4);
    assert_int_equal(out.usage.output_tokens, 13);
    assert_int_equal(out.usage.reasoning_tokens, 10);
    llm_parsed_clear(&out);
    llm_provider_free(p);
}

static void gemini_finish_reasons_map_and_safety_without_text_is_content_filtered(void **state)
{
    (void)state;
    static const struct {
        const char *gemini, *ours;
    } map[] = {{"MAX_TOKENS", "length"}, {"SAFETY", "content_filter"},
               {"RECITATION", "content_filter"}, {"OTHER", "other"}};
    struct llm_provider *p = new_gemini(NULL);
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        char body[256];
        snprintf(body, sizeof(body),
                 "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"x\"}],\"role\":\"model\"},"
                 "\"finishReason\":\"%s\"}]}",
                 map[i].gemini);
        struct llm_parsed out = {0};
        assert_int_equal(prov_parse(p, body, &out), LLM_OK);
        assert_string_equal(out.finish_reason, map[i].ours);
        assert_int_equal(out.error, LLM_OK);
        llm_parsed_clear(&out);
    }
    struct llm_parsed out = {0};
    assert_int_equal(prov_parse(p, "{\"candidates\":[{\"finishReason\":\"SAFETY\",\"index\":0}]}",
                                &out),
                     LLM_OK);
    assert_int_equal(out.error, LLM_ERR_CONTENT_FILTERED);
    assert_string_equal(out.provider_code, "SAFETY");
    llm_parsed_clear(&out);
    /* A prompt blocked before generation. */
    assert_int_equal(prov_parse(p, "{\"promptFeedback\":{\"blockReason\":\"PROHIBITED_CONTENT\"},"
                                   "\"usageMetadata\":{\"promptTokenCount\":7}}",
                                &out),
                     LLM_OK);
    assert_int_equal(out.error, LLM_ERR_CONTENT_FILTERED);
    assert_non_null(strstr(out.error_message, "PROHIBITED_CONTENT"));
    assert_int_equal(out.usage.input_tokens, 7);
    llm_parsed_clear(&out);
    llm_provider_free(p);
}

static void gemini_malformed_replies_are_parse_errors(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "{\"candidates\":", "[1,2]", "{}", "{\"candidates\":[]}", "{\"candidates\":{}}",
        "{\"candidates\":[{\"content\":{\"parts\":{}}}]}", "{\"candidates\":[7]}",
    };
    struct llm_provider *p = new_gemini(NULL);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct llm_parsed out = {0};
        if (prov_parse(p, bad[i], &out) != LLM_ERR_PARSE)
            fail_msg("accepted %s", bad[i]);
        assert_int_equal(out.error, LLM_ERR_PARSE);
        assert_non_null(out.error_message);
        llm_parsed_clear(&out);
    }
    llm_provider_free(p);
}

static void gemini_stream_events_accumulate_parts_and_end_on_finish_reason(void **state)
{
    (void)state;
    static const char *const events[] = {
        "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Hel\"}],\"role\":\"model\"},"
        "\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":9,\"totalTokenCount\":9},"
        "\"modelVersion\":\"gemini-2.5-flash\",\"responseId\":\"r1\"}",
        "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"lo\"}],\"role\":\"model\"},"
        "\"index\":0}],\"modelVersion\":\"gemini-2.5-flash\",\"responseId\":\"r1\"}",
        "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"!\"}],\"role\":\"model\"},"
        "\"finishReason\":\"STOP\",\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":9,"
        "\"candidatesTokenCount\":2,\"totalTokenCount\":11},"
        "\"modelVersion\":\"gemini-2.5-flash\",\"responseId\":\"r1\"}",
    };
    struct llm_provider *p = new_gemini(NULL);
    struct llm_parsed acc = {0};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(prov_feed(p, NULL, events[i], &acc), LLM_OK);
        assert_int_equal(acc.done, i == 2);
    }
    assert_string_equal(acc.content, "Hello!");
    assert_string_equal(acc.finish_reason, "stop");
    assert_int_equal(acc.usage.input_tokens, 9);
    assert_int_equal(acc.usage.output_tokens, 2);
    assert_int_equal(acc.error, LLM_OK);
    /* Keep-alives are nothing; malformed JSON is PARSE. */
    assert_int_equal(prov_feed(p, NULL, "  ", &acc), LLM_OK);
    assert_int_equal(prov_feed(p, NULL, "{\"candidates\":[", &acc), LLM_ERR_PARSE);
    llm_parsed_clear(&acc);
    /* An error object in the stream is classified. */
    assert_int_equal(prov_feed(p, NULL,
                               "{\"error\":{\"code\":503,\"message\":\"The model is overloaded.\","
                               "\"status\":\"UNAVAILABLE\"}}",
                               &acc),
                     LLM_OK);
    assert_int_equal(acc.error, LLM_ERR_OVERLOADED);
    llm_parsed_clear(&acc);
    llm_provider_free(p);
}

#define STATUS(code, status, msg)                                                    \
    "{\"error\":{\"code\":" #code ",\"message\":\"" msg "\",\"status\":\"" status "\"}}"

static void gemini_classification_table_maps_every_row(void **state)
{
    (void)state;
    static const struct {
        int status;
        const char *body;
        enum llm_error type;
        bool retryable;
        const char *code;
    } cases[] = {
        {400, STATUS(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key."),
         LLM_ERR_AUTHENTICATION, false, "INVALID_ARGUMENT"},
        {400, STATUS(400, "INVALID_ARGUMENT",
                     "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576)."),
         LLM_ERR_CONTEXT_LENGTH_EXCEEDED, false, "INVALID_ARGUMENT"},
        {400, STATUS(400, "INVALID_ARGUMENT", "input token count too high"),
         LLM_ERR_CONTEXT_LENGTH_EXCEEDED, false, "INVALID_ARGUMENT"},
        {400, STATUS(400, "INVALID_ARGUMENT", "Invalid JSON payload received."),
         LLM_ERR_INVALID_REQUEST, false, "INVALID_ARGUMENT"},
        {400, STATUS(400, "FAILED_PRECONDITION", "User location is not supported for the API use."),
         LLM_ERR_UNSUPPORTED_REGION, false, "FAILED_PRECONDITION"},
        {400, STATUS(400, "FAILED_PRECONDITION",
                     "Gemini API free tier is not available in your country. Please enable billing."),
         LLM_ERR_UNSUPPORTED_REGION, false, "FAILED_PRECONDITION"},
        {400, STATUS(400, "FAILED_PRECONDITION", "Precondition check failed."),
         LLM_ERR_INVALID_REQUEST, false, "FAILED_PRECONDITION"},
        {401, STATUS(401, "UNAUTHENTICATED", "Request had invalid authentication credentials."),
         LLM_ERR_AUTHENTICATION, false, "UNAUTHENTICATED"},
        {403, STATUS(403, "PERMISSION_DENIED", "Permission denied on resource project x."),
         LLM_ERR_PERMISSION_DENIED, false, "PERMISSION_DENIED"},
        {404, STATUS(404, "NOT_FOUND", "models/gemini-9 is not found for API version v1beta"),
         LLM_ERR_NOT_FOUND, false, "NOT_FOUND"},
        {429, STATUS(429, "RESOURCE_EXHAUSTED", "You exceeded your current quota."),
         LLM_ERR_RATE_LIMITED, true, "RESOURCE_EXHAUSTED"},
        {500, STATUS(500, "INTERNAL", "An internal error has occurred."), LLM_ERR_SERVER_ERROR,
         true, "INTERNAL"},
        {503, STATUS(503, "UNAVAILABLE", "The model is overloaded. Please try again later."),
         LLM_ERR_OVERLOADED, true, "UNAVAILABLE"},
        {504, STATUS(504, "DEADLINE_EXCEEDED", "Deadline expired before operation could complete."),
         LLM_ERR_TIMEOUT, true, "DEADLINE_EXCEEDED"},
        {499, STATUS(499, "CANCELLED", "The operation was cancelled."), LLM_ERR_SERVER_ERROR,
         true, "CANCELLED"},
        /* Unknown status names: the HTTP status decides. */
        {429, STATUS(429, "FUTURE", "x"), LLM_ERR_RATE_LIMITED, true, "FUTURE"},
        {502, STATUS(502, "FUTURE", "x"), LLM_ERR_SERVER_ERROR, true, "FUTURE"},
        {403, STATUS(403, "FUTURE", "x"), LLM_ERR_PERMISSION_DENIED, false, "FUTURE"},
    };
    struct llm_provider *p = new_gemini(NULL);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct llm_error_info info = {0};
        prov_classify(p, cases[i].status, NULL, cases[i].body, &info);
        if (info.type != cases[i].type || info.retryable != cases[i].retryable ||
            info.provider_code == NULL || strcmp(info.provider_code, cases[i].code) != 0)
            fail_msg("row %zu: got %s retryable=%d code=%s", i, llm_error_name(info.type),
                     info.retryable, info.provider_code ? info.provider_code : "(null)");
        assert_non_null(info.message);
        assert_int_equal(info.retry_after_ms, 0);
        llm_error_info_clear(&info);
    }
    /* Not a Status: the status decides and the body is quoted. */
    struct llm_error_info info = {0};
    prov_classify(p, 503, NULL, "<html>Service Unavailable</html>", &info);
    assert_int_equal(info.type, LLM_ERR_OVERLOADED);
    assert_string_equal(info.message, "<html>Service Unavailable</html>");
    llm_error_info_clear(&info);
    llm_provider_free(p);
}

static void gemini_retry_info_delay_becomes_the_server_wait(void **state)
{
    (void)state;
    static const struct {
        const char *delay;
        int64_t ms;
    } cases[] = {{"37s", 37000}, {"0.250s", 250}, {"1.0001s", 1001}, {"", 0}, {"5m", 0},
                 {"-3s", 0},     {"abc", 0},      {"1e9s", 0}};
    struct llm_provider *p = new_gemini(NULL);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char body[512];
        snprintf(body, sizeof(body),
                 "{\"error\":{\"code\":429,\"message\":\"Resource has been exhausted\","
                 "\"status\":\"RESOURCE_EXHAUSTED\",\"details\":[{\"@type\":"
                 "\"type.googleapis.com/google.rpc.QuotaFailure\",\"violations\":[]},"
                 "{\"@type\":\"type.googleapis.com/google.rpc.RetryInfo\",\"retryDelay\":\"%s\"}]}}",
                 cases[i].delay);
        struct llm_error_info info = {0};
        prov_classify(p, 429, NULL, body, &info);
        assert_int_equal(info.type, LLM_ERR_RATE_LIMITED);
        if (info.retry_after_ms != cases[i].ms)
            fail_msg("retryDelay \"%s\": %lld ms", cases[i].delay, (long long)info.retry_after_ms);
        llm_error_info_clear(&info);
    }
    llm_provider_free(p);
}

static void gemini_vtable_names_itself_and_streams_sse(void **state)
{
    (void)state;
    struct llm_provider *p = new_gemini(NULL);
    assert_string_equal(p->vtable->name, "gemini");
    assert_int_equal(p->vtable->stream_framing, LLM_STREAM_SSE);
    llm_provider_free(p);
    struct llm_provider_options bad = {.base_url = "http://x\r\n"};
    struct llm_provider *q = NULL;
    assert_int_equal(llm_provider_new_gemini(&bad, &q), LLM_ERR_INVALID_ARGUMENT);
    assert_null(q);
}

int main(void)
{
    unsetenv("GEMINI_API_KEY");
    unsetenv("GOOGLE_API_KEY");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(gemini_request_body_url_and_key_match_the_sdk),
        cmocka_unit_test(gemini_minimal_request_sends_no_config_and_a_versioned_base_is_kept),
        cmocka_unit_test(gemini_key_comes_from_gemini_api_key_then_google_api_key),
        cmocka_unit_test(gemini_reply_gives_text_finish_usage_model_and_id),
        cmocka_unit_test(gemini_finish_reasons_map_and_safety_without_text_is_content_filtered),
        cmocka_unit_test(gemini_malformed_replies_are_parse_errors),
        cmocka_unit_test(gemini_stream_events_accumulate_parts_and_end_on_finish_reason),
        cmocka_unit_test(gemini_classification_table_maps_every_row),
        cmocka_unit_test(gemini_retry_info_delay_becomes_the_server_wait),
        cmocka_unit_test(gemini_vtable_names_itself_and_streams_sse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
