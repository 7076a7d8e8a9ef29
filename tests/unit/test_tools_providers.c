/* Tools, content parts, tool turns and structured output on the Gemini,
 * Bedrock and Ollama wire formats (WIRE-NOTES.md): the bodies the
 * providers write, compared as JSON values, and the tool calls they read
 * back from replies and streams. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "es_encode.h"
#include "llmorch/ext/provider.h"
#include "provider_helpers.h"
#include "transport/eventstream.h"

#define SCHEMA "{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}},\"required\":[\"city\"],\"additionalProperties\":false}"

static const struct llm_tool tools[] = {
    {.name = "get_weather", .description = "Weather in a city", .parameters_json = SCHEMA},
    {.name = "get_time"},
};
static const struct llm_tool_call calls[] = {
    {.id = "call_1", .name = "get_weather", .arguments = "{\"city\": \"Paris\"}"},
    {.id = "call_2", .name = "get_time", .arguments = "{}"},
};
static const struct llm_content_part parts[] = {
    {.type = LLM_PART_TEXT, .text = "What is in this?"},
    {.type = LLM_PART_IMAGE_BASE64, .data = "iVBORw0KGgo=", .media_type = "image/png"},
};
static const struct llm_message conversation[] = {
    {.role = "system", .content = "Be brief."},
    {.role = "user", .parts = parts, .n_parts = 2},
    {.role = "assistant", .content = "Let me look.", .tool_calls = calls, .n_tool_calls = 2},
    {.role = "tool", .content = "{\"temp\":21}", .tool_call_id = "call_1", .name = "get_weather"},
    {.role = "tool", .content = "12:00", .tool_call_id = "call_2"},
};

static struct llm_request tool_request(void)
{
    struct llm_request r = {
        .model = "m",
        .messages = conversation,
        .n_messages = 5,
        .tools = tools,
        .n_tools = 2,
        .tool_choice = LLM_TOOL_CHOICE_NAMED,
        .tool_choice_name = "get_weather",
        .max_completion_tokens = 300,
    };
    r.response_format.type = LLM_RESPONSE_JSON_SCHEMA;
    r.response_format.name = "weather";
    r.response_format.schema_json = SCHEMA;
    return r;
}

static char *body_of(enum llm_error (*ctor)(const struct llm_provider_options *,
                                            struct llm_provider **),
                     const struct llm_request *req)
{
    struct llm_provider_options o = {.api_key = "", .base_url = "http://127.0.0.1:1"};
    struct llm_provider *p = prov_new(ctor, &o);
    struct llm_http_request out;
    prov_build(p, req, &out);
    char *body = strdup(out.body);
    llm_http_request_clear(&out);
    llm_provider_free(p);
    return body;
}

#define GEMINI_SCHEMA "{\"type\":\"OBJECT\",\"properties\":{\"city\":{\"type\":\"STRING\"}},\"required\":[\"city\"]}"

static void gemini_body_maps_tools_images_calls_results_and_schema(void **state)
{
    (void)state;
    struct llm_request req = tool_request();
    char *body = body_of(llm_provider_new_gemini, &req);
    assert_json_equal(
        body,
        "{\"contents\":["
        "{\"role\":\"user\",\"parts\":[{\"text\":\"What is in this?\"},"
        "{\"inlineData\":{\"mimeType\":\"image/png\",\"data\":\"iVBORw0KGgo=\"}}]},"
        "{\"role\":\"model\",\"parts\":[{\"text\":\"Let me look.\"},"
        "{\"functionCall\":{\"name\":\"get_weather\",\"args\":{\"city\":\"Paris\"}}},"
        "{\"functionCall\":{\"name\":\"get_time\",\"args\":{}}}]},"
        "{\"role\":\"user\",\"parts\":[{\"functionResponse\":{\"name\":\"get_weather\","
        "\"response\":{\"temp\":21}}}]},"
        "{\"role\":\"user\",\"parts\":[{\"functionResponse\":{\"name\":\"get_time\","
        "\"response\":{\"content\":\"12:00\"}}}]}],"
        "\"systemInstruction\":{\"parts\":[{\"text\":\"Be brief.\"}]},"
        "\"tools\":[{\"functionDeclarations\":["
        "{\"name\":\"get_weather\",\"description\":\"Weather in a city\",\"parameters\":" GEMINI_SCHEMA "},"
        "{\"name\":\"get_time\",\"parameters\":{\"type\":\"OBJECT\",\"properties\":{}}}]}],"
        "\"toolConfig\":{\"functionCallingConfig\":{\"mode\":\"ANY\","
        "\"allowedFunctionNames\":[\"get_weather\"]}},"
        "\"generationConfig\":{\"maxOutputTokens\":300,\"responseMimeType\":\"application/json\","
        "\"responseSchema\":" GEMINI_SCHEMA "}}");
    free(body);
}

static void gemini_function_calls_are_read_from_replies_and_streams(void **state)
{
    (void)state;
    struct llm_provider_options o = {.api_key = ""};
    struct llm_provider *p = prov_new(llm_provider_new_gemini, &o);
    struct llm_parsed out = {0};
    assert_int_equal(
        prov_parse(p, "{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":["
                      "{\"functionCall\":{\"name\":\"get_weather\",\"args\":{\"city\":\"Paris\"}}},"
                      "{\"functionCall\":{\"id\":\"fc-7\",\"name\":\"get_time\",\"args\":{}}}]},"
                      "\"finishReason\":\"STOP\"}],\"usageMetadata\":{\"promptTokenCount\":5,"
                      "\"candidatesTokenCount\":9}}",
                   &out),
        LLM_OK);
    assert_int_equal(out.error, LLM_OK);
    assert_int_equal(out.n_tool_calls, 2);
    assert_string_equal(out.tool_calls[0].name, "get_weather");
    assert_string_equal(out.tool_calls[0].arguments, "{\"city\":\"Paris\"}");
    assert_non_null(out.tool_calls[0].id);
    assert_string_equal(out.tool_calls[1].id, "fc-7");
    assert_string_equal(out.finish_reason, "tool_calls");
    llm_parsed_clear(&out);
    /* In a stream each call arrives whole in one event. */
    assert_int_equal(prov_feed(p, NULL, "{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":"
                                        "[{\"functionCall\":{\"name\":\"get_time\",\"args\":{}}}]},"
                                        "\"finishReason\":\"STOP\"}]}",
                               &out),
                     LLM_OK);
    assert_int_equal(out.n_tool_calls, 1);
    assert_string_equal(out.tool_calls[0].arguments, "{}");
    llm_parsed_clear(&out);
    llm_provider_free(p);
}

static void bedrock_body_maps_tool_config_blocks_results_and_output_config(void **state)
{
    (void)state;
    struct llm_request req = tool_request();
    char *body = body_of(llm_provider_new_bedrock, &req);
    assert_json_equal(
        body,
        "{\"messages\":["
        "{\"role\":\"user\",\"content\":[{\"text\":\"What is in this?\"},"
        "{\"image\":{\"format\":\"png\",\"source\":{\"bytes\":\"iVBORw0KGgo=\"}}}]},"
        "{\"role\":\"assistant\",\"content\":[{\"text\":\"Let me look.\"},"
        "{\"toolUse\":{\"toolUseId\":\"call_1\",\"name\":\"get_weather\",\"input\":{\"city\":\"Paris\"}}},"
        "{\"toolUse\":{\"toolUseId\":\"call_2\",\"name\":\"get_time\",\"input\":{}}}]},"
        "{\"role\":\"user\",\"content\":["
        "{\"toolResult\":{\"toolUseId\":\"call_1\",\"content\":[{\"json\":{\"temp\":21}}],\"status\":\"success\"}},"
        "{\"toolResult\":{\"toolUseId\":\"call_2\",\"content\":[{\"text\":\"12:00\"}],\"status\":\"success\"}}]}],"
        "\"system\":[{\"text\":\"Be brief.\"}],"
        "\"inferenceConfig\":{\"maxTokens\":300},"
        "\"toolConfig\":{\"tools\":["
        "{\"toolSpec\":{\"name\":\"get_weather\",\"description\":\"Weather in a city\",\"inputSchema\":{\"json\":" SCHEMA "}}},"
        "{\"toolSpec\":{\"name\":\"get_time\",\"inputSchema\":{\"json\":{\"type\":\"object\",\"properties\":{}}}}}],"
        "\"toolChoice\":{\"tool\":{\"name\":\"get_weather\"}}},"
        "\"outputConfig\":{\"textFormat\":{\"type\":\"json_schema\",\"structure\":{\"jsonSchema\":"
        "{\"name\":\"weather\",\"schema\":\"{\\\"type\\\":\\\"object\\\",\\\"properties\\\":{\\\"city\\\":"
        "{\\\"type\\\":\\\"string\\\"}},\\\"required\\\":[\\\"city\\\"],\\\"additionalProperties\\\":false}\"}}}}}");
    free(body);
    /* An image by http URL cannot go to Converse (bytes only). */
    static const struct llm_content_part url_part[] = {
        {.type = LLM_PART_IMAGE_URL, .url = "https://example.com/cat.png"}};
    static const struct llm_message m[] = {{.role = "user", .parts = url_part, .n_parts = 1}};
    struct llm_request r2 = {.model = "m", .messages = m, .n_messages = 1};
    struct llm_provider_options o = {.api_key = "", .base_url = "http://127.0.0.1:1"};
    struct llm_provider *p = prov_new(llm_provider_new_bedrock, &o);
    struct llm_http_request out;
    assert_int_equal(p->vtable->build_request(p, &r2, NULL, &out), LLM_ERR_INVALID_REQUEST);
    llm_provider_free(p);
}

struct feed_ctx {
    struct llm_provider *p;
    struct llm_parsed *acc;
};

static int feed_event(void *user, const char *event, const char *data, size_t len)
{
    struct feed_ctx *c = user;
    return c->p->vtable->parse_stream_event(c->p, event, data, len, c->acc) == LLM_OK ? 0 : 1;
}

static void bedrock_tool_use_is_read_from_replies_and_streams_at_every_split(void **state)
{
    (void)state;
    struct llm_provider_options o = {.api_key = "", .base_url = "http://127.0.0.1:1"};
    struct llm_provider *p = prov_new(llm_provider_new_bedrock, &o);
    struct llm_parsed out = {0};
    assert_int_equal(prov_parse(p, "{\"output\":{\"message\":{\"role\":\"assistant\",\"content\":["
                                   "{\"text\":\"Checking.\"},{\"toolUse\":{\"toolUseId\":\"tooluse_1\","
                                   "\"name\":\"get_weather\",\"input\":{\"city\":\"Paris\"}}}]}},"
                                   "\"stopReason\":\"tool_use\",\"usage\":{\"inputTokens\":3,"
                                   "\"outputTokens\":8,\"totalTokens\":11}}",
                                &out),
                     LLM_OK);
    assert_string_equal(out.content, "Checking.");
    assert_int_equal(out.n_tool_calls, 1);
    assert_string_equal(out.tool_calls[0].id, "tooluse_1");
    assert_string_equal(out.tool_calls[0].arguments, "{\"city\":\"Paris\"}");
    assert_string_equal(out.finish_reason, "tool_use");
    llm_parsed_clear(&out);

    unsigned char buf[4096];
    size_t n = 0;
    es_event(buf, sizeof(buf), &n, "messageStart", "{\"role\":\"assistant\"}");
    es_event(buf, sizeof(buf), &n, "contentBlockStart",
             "{\"contentBlockIndex\":1,\"start\":{\"toolUse\":{\"toolUseId\":\"tooluse_9\","
             "\"name\":\"get_weather\"}}}");
    es_event(buf, sizeof(buf), &n, "contentBlockDelta",
             "{\"contentBlockIndex\":1,\"delta\":{\"toolUse\":{\"input\":\"{\\\"city\\\":\"}}}");
    es_event(buf, sizeof(buf), &n, "contentBlockDelta",
             "{\"contentBlockIndex\":1,\"delta\":{\"toolUse\":{\"input\":\" \\\"Paris\\\"}\"}}}");
    es_event(buf, sizeof(buf), &n, "contentBlockStop", "{\"contentBlockIndex\":1}");
    es_event(buf, sizeof(buf), &n, "messageStop", "{\"stopReason\":\"tool_use\"}");
    es_event(buf, sizeof(buf), &n, "metadata", "{\"usage\":{\"inputTokens\":3,\"outputTokens\":8}}");
    for (size_t cut = 0; cut <= n; cut += 7) {
        struct llm_parsed acc = {0};
        struct feed_ctx c = {p, &acc};
        struct llm__es d;
        llm__es_init(&d, 0);
        assert_int_equal(llm__es_feed(&d, buf, cut, feed_event, &c), 0);
        assert_int_equal(llm__es_feed(&d, buf + cut, n - cut, feed_event, &c), 0);
        assert_true(acc.done);
        assert_int_equal(acc.n_tool_calls, 1);
        assert_string_equal(acc.tool_calls[0].id, "tooluse_9");
        assert_string_equal(acc.tool_calls[0].name, "get_weather");
        assert_string_equal(acc.tool_calls[0].arguments, "{\"city\": \"Paris\"}");
        llm__es_free(&d);
        llm_parsed_clear(&acc);
    }
    llm_provider_free(p);
}

static void ollama_body_maps_tools_images_object_arguments_and_format(void **state)
{
    (void)state;
    struct llm_request req = tool_request();
    char *body = body_of(llm_provider_new_ollama, &req);
    assert_json_equal(
        body,
        "{\"model\":\"m\",\"messages\":["
        "{\"role\":\"system\",\"content\":\"Be brief.\"},"
        "{\"role\":\"user\",\"content\":\"What is in this?\",\"images\":[\"iVBORw0KGgo=\"]},"
        "{\"role\":\"assistant\",\"content\":\"Let me look.\",\"tool_calls\":["
        "{\"function\":{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Paris\"}}},"
        "{\"function\":{\"name\":\"get_time\",\"arguments\":{}}}]},"
        "{\"role\":\"tool\",\"content\":\"{\\\"temp\\\":21}\",\"tool_name\":\"get_weather\"},"
        "{\"role\":\"tool\",\"content\":\"12:00\"}],"
        "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
        "\"description\":\"Weather in a city\",\"parameters\":" SCHEMA "}},"
        "{\"type\":\"function\",\"function\":{\"name\":\"get_time\",\"parameters\":"
        "{\"type\":\"object\",\"properties\":{}}}}],"
        "\"format\":" SCHEMA ",\"stream\":false,\"options\":{\"num_predict\":300}}");
    free(body);
}

static void ollama_tool_calls_with_object_arguments_are_read(void **state)
{
    (void)state;
    struct llm_provider_options o = {.api_key = ""};
    struct llm_provider *p = prov_new(llm_provider_new_ollama, &o);
    struct llm_parsed out = {0};
    assert_int_equal(prov_parse(p, "{\"model\":\"qwen3\",\"message\":{\"role\":\"assistant\","
                                   "\"content\":\"\",\"tool_calls\":[{\"function\":{\"name\":"
                                   "\"get_weather\",\"arguments\":{\"city\":\"Paris\"}}}]},"
                                   "\"done_reason\":\"stop\",\"done\":true,"
                                   "\"prompt_eval_count\":4,\"eval_count\":7}",
                                &out),
                     LLM_OK);
    assert_int_equal(out.n_tool_calls, 1);
    assert_string_equal(out.tool_calls[0].name, "get_weather");
    assert_string_equal(out.tool_calls[0].arguments, "{\"city\":\"Paris\"}");
    assert_non_null(out.tool_calls[0].id);
    assert_string_equal(out.finish_reason, "tool_calls");
    llm_parsed_clear(&out);
    llm_provider_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(gemini_body_maps_tools_images_calls_results_and_schema),
        cmocka_unit_test(gemini_function_calls_are_read_from_replies_and_streams),
        cmocka_unit_test(bedrock_body_maps_tool_config_blocks_results_and_output_config),
        cmocka_unit_test(bedrock_tool_use_is_read_from_replies_and_streams_at_every_split),
        cmocka_unit_test(ollama_body_maps_tools_images_object_arguments_and_format),
        cmocka_unit_test(ollama_tool_calls_with_object_arguments_are_read),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
