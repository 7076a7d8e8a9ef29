/* Tools, content parts, tool turns and structured output on the OpenAI and
 * Anthropic wire formats: the bodies the providers write (compared as JSON
 * values with the shapes in WIRE-NOTES.md), and the tool calls and refusals
 * they read back from whole replies and from streams split at every byte. */
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
#include "transport/sse.h"

#define SCHEMA "{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}},\"required\":[\"city\"]}"

static const struct llm_tool tools[] = {
    {.name = "get_weather", .description = "Weather in a city", .parameters_json = SCHEMA},
    {.name = "get_time"},
};

static const struct llm_tool_call calls[] = {
    {.id = "call_1", .name = "get_weather", .arguments = "{\"city\": \"Paris\"}"},
    {.id = "call_2", .name = "get_time", .arguments = "{}"},
};

static const struct llm_content_part parts[] = {
    {.type = LLM_PART_TEXT, .text = "What is in these?"},
    {.type = LLM_PART_IMAGE_URL, .url = "https://example.com/cat.png", .detail = "low"},
    {.type = LLM_PART_IMAGE_BASE64, .data = "iVBORw0KGgo=", .media_type = "image/png"},
};

/* user (parts) -> assistant (text + two calls) -> two tool turns. */
static const struct llm_message conversation[] = {
    {.role = "system", .content = "Be brief."},
    {.role = "user", .parts = parts, .n_parts = 3},
    {.role = "assistant", .content = "Let me look.", .tool_calls = calls, .n_tool_calls = 2},
    {.role = "tool", .content = "{\"temp\":21}", .tool_call_id = "call_1", .name = "get_weather"},
    {.role = "tool", .content = "12:00", .tool_call_id = "call_2", .name = "get_time"},
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
        .has_parallel_tool_calls = true,
        .parallel_tool_calls = false,
        .max_completion_tokens = 300,
    };
    return r;
}

static char *body_of(enum llm_error (*ctor)(const struct llm_provider_options *,
                                            struct llm_provider **),
                     const struct llm_request *req)
{
    struct llm_provider_options o = {.api_key = "k"};
    struct llm_provider *p = prov_new(ctor, &o);
    struct llm_http_request out;
    prov_build(p, req, &out);
    char *body = strdup(out.body);
    llm_http_request_clear(&out);
    llm_provider_free(p);
    return body;
}

static void openai_body_carries_tools_parts_tool_calls_and_tool_turns(void **state)
{
    (void)state;
    struct llm_request req = tool_request();
    char *body = body_of(llm_provider_new_openai, &req);
    assert_json_equal(
        body,
        "{\"model\":\"m\",\"messages\":["
        "{\"role\":\"system\",\"content\":\"Be brief.\"},"
        "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"What is in these?\"},"
        "{\"type\":\"image_url\",\"image_url\":{\"url\":\"https://example.com/cat.png\",\"detail\":\"low\"}},"
        "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64,iVBORw0KGgo=\"}}]},"
        "{\"role\":\"assistant\",\"content\":\"Let me look.\",\"tool_calls\":["
        "{\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":\"{\\\"city\\\": \\\"Paris\\\"}\"}},"
        "{\"id\":\"call_2\",\"type\":\"function\",\"function\":{\"name\":\"get_time\",\"arguments\":\"{}\"}}]},"
        "{\"role\":\"tool\",\"tool_call_id\":\"call_1\",\"content\":\"{\\\"temp\\\":21}\"},"
        "{\"role\":\"tool\",\"tool_call_id\":\"call_2\",\"content\":\"12:00\"}],"
        "\"max_completion_tokens\":300,"
        "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"description\":"
        "\"Weather in a city\",\"parameters\":" SCHEMA "}},"
        "{\"type\":\"function\",\"function\":{\"name\":\"get_time\",\"parameters\":"
        "{\"type\":\"object\",\"properties\":{}}}}],"
        "\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"get_weather\"}},"
        "\"parallel_tool_calls\":false}");
    free(body);
}

static void anthropic_body_maps_tool_turns_to_tool_use_and_tool_result_blocks(void **state)
{
    (void)state;
    struct llm_request req = tool_request();
    char *body = body_of(llm_provider_new_anthropic, &req);
    assert_json_equal(
        body,
        "{\"model\":\"m\",\"max_tokens\":300,\"system\":\"Be brief.\",\"messages\":["
        "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"What is in these?\"},"
        "{\"type\":\"image\",\"source\":{\"type\":\"url\",\"url\":\"https://example.com/cat.png\"}},"
        "{\"type\":\"image\",\"source\":{\"type\":\"base64\",\"media_type\":\"image/png\",\"data\":\"iVBORw0KGgo=\"}}]},"
        "{\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"Let me look.\"},"
        "{\"type\":\"tool_use\",\"id\":\"call_1\",\"name\":\"get_weather\",\"input\":{\"city\":\"Paris\"}},"
        "{\"type\":\"tool_use\",\"id\":\"call_2\",\"name\":\"get_time\",\"input\":{}}]},"
        "{\"role\":\"user\",\"content\":["
        "{\"type\":\"tool_result\",\"tool_use_id\":\"call_1\",\"content\":\"{\\\"temp\\\":21}\"},"
        "{\"type\":\"tool_result\",\"tool_use_id\":\"call_2\",\"content\":\"12:00\"}]}],"
        "\"tools\":[{\"name\":\"get_weather\",\"description\":\"Weather in a city\",\"input_schema\":" SCHEMA "},"
        "{\"name\":\"get_time\",\"input_schema\":{\"type\":\"object\",\"properties\":{}}}],"
        "\"tool_choice\":{\"type\":\"tool\",\"name\":\"get_weather\",\"disable_parallel_tool_use\":true}}");
    free(body);
}

static void response_formats_map_to_each_wire_format(void **state)
{
    (void)state;
    struct llm_message m = {.role = "user", .content = "hi"};
    struct llm_request req = {
        .model = "m", .messages = &m, .n_messages = 1,
        .response_format = {.type = LLM_RESPONSE_JSON_SCHEMA, .name = "person",
                            .schema_json = "{ \"type\" : \"object\" }", .strict = true},
        .tool_choice = LLM_TOOL_CHOICE_REQUIRED, .tools = tools, .n_tools = 1};
    char *o = body_of(llm_provider_new_openai, &req);
    assert_json_equal(o, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
                         "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
                         "\"description\":\"Weather in a city\",\"parameters\":" SCHEMA "}}],"
                         "\"tool_choice\":\"required\",\"response_format\":{\"type\":\"json_schema\","
                         "\"json_schema\":{\"name\":\"person\",\"strict\":true,\"schema\":"
                         "{\"type\":\"object\"}}}}");
    /* The schema is compacted, not pasted. */
    assert_non_null(strstr(o, "\"schema\":{\"type\":\"object\"}"));
    char *a = body_of(llm_provider_new_anthropic, &req);
    assert_json_equal(a, "{\"model\":\"m\",\"max_tokens\":1024,\"messages\":[{\"role\":\"user\","
                         "\"content\":\"hi\"}],\"tools\":[{\"name\":\"get_weather\",\"description\":"
                         "\"Weather in a city\",\"input_schema\":" SCHEMA "}],"
                         "\"tool_choice\":{\"type\":\"any\"},\"output_config\":{\"format\":"
                         "{\"type\":\"json_schema\",\"schema\":{\"type\":\"object\"}}}}");
    free(o);
    free(a);
    req.response_format = (struct llm_response_format){.type = LLM_RESPONSE_JSON_OBJECT};
    req.tool_choice = LLM_TOOL_CHOICE_NONE;
    o = body_of(llm_provider_new_openai, &req);
    assert_non_null(strstr(o, "\"tool_choice\":\"none\",\"response_format\":{\"type\":\"json_object\"}"));
    free(o);
}

static void tool_choice_is_not_sent_without_tools(void **state)
{
    (void)state;
    struct llm_message m = {.role = "user", .content = "hi"};
    struct llm_request req = {.model = "m", .messages = &m, .n_messages = 1,
                              .tool_choice = LLM_TOOL_CHOICE_NONE};
    char *o = body_of(llm_provider_new_openai, &req);
    char *a = body_of(llm_provider_new_anthropic, &req);
    assert_null(strstr(o, "tool_choice"));
    assert_null(strstr(a, "tool_choice"));
    free(o);
    free(a);
}

static void bad_argument_json_fails_the_build_with_invalid_request(void **state)
{
    (void)state;
    struct llm_tool_call bad = {.id = "c", .name = "f", .arguments = "{not json"};
    struct llm_message msgs[] = {
        {.role = "user", .content = "x"},
        {.role = "assistant", .tool_calls = &bad, .n_tool_calls = 1},
    };
    struct llm_request req = {.model = "m", .messages = msgs, .n_messages = 2};
    struct llm_provider_options o = {.api_key = "k"};
    struct llm_provider *p = prov_new(llm_provider_new_anthropic, &o);
    struct llm_http_request out;
    assert_int_equal(p->vtable->build_request(p, &req, TEST_TRACE_ID, &out),
                     LLM_ERR_INVALID_REQUEST);
    assert_null(out.body);
    llm_provider_free(p);
}

static void endpoint_url_is_used_exactly_as_given(void **state)
{
    (void)state;
    struct llm_provider_options o = {
        .api_key = "k",
        .endpoint_url = "http://127.0.0.1:9/openai/deployments/d/chat/completions?api-version=2024-10-21"};
    struct llm_provider *p = prov_new(llm_provider_new_openai, &o);
    struct llm_request req = prov_minimal_request("m");
    struct llm_http_request out;
    prov_build(p, &req, &out);
    assert_string_equal(out.url, o.endpoint_url);
    llm_http_request_clear(&out);
    llm_provider_free(p);
    struct llm_provider *bad = NULL;
    o.endpoint_url = "http://host/a b";
    assert_int_equal(llm_provider_new_openai(&o, &bad), LLM_ERR_INVALID_ARGUMENT);
    o.endpoint_url = "ftp://host/x";
    assert_int_equal(llm_provider_new_openai(&o, &bad), LLM_ERR_INVALID_ARGUMENT);
    assert_null(bad);
}

/* ---- reading ----------------------------------------------------------------- */

static void openai_reply_tool_calls_and_refusal_are_read(void **state)
{
    (void)state;
    struct llm_provider *p = prov_new(llm_provider_new_openai, NULL);
    struct llm_parsed out = {0};
    assert_int_equal(
        prov_parse(p, "{\"id\":\"c\",\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"message\":"
                      "{\"role\":\"assistant\",\"content\":null,\"refusal\":null,\"tool_calls\":["
                      "{\"id\":\"call_a\",\"type\":\"function\",\"function\":{\"name\":\"f\","
                      "\"arguments\":\"{\\\"x\\\":1}\"}},{\"id\":\"call_b\",\"type\":\"function\","
                      "\"function\":{\"name\":\"g\",\"arguments\":\"{}\"}}]},"
                      "\"finish_reason\":\"tool_calls\"}]}",
                   &out),
        LLM_OK);
    assert_int_equal(out.n_tool_calls, 2);
    assert_string_equal(out.tool_calls[0].id, "call_a");
    assert_string_equal(out.tool_calls[0].name, "f");
    assert_string_equal(out.tool_calls[0].arguments, "{\"x\":1}");
    assert_string_equal(out.tool_calls[1].name, "g");
    assert_string_equal(out.finish_reason, "tool_calls");
    assert_null(out.refusal);
    llm_parsed_clear(&out);
    assert_int_equal(prov_parse(p, "{\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
                                   "\"content\":null,\"refusal\":\"I can't help with that.\"},"
                                   "\"finish_reason\":\"stop\"}]}",
                                &out),
                     LLM_OK);
    assert_string_equal(out.refusal, "I can't help with that.");
    assert_string_equal(out.content, "");
    llm_parsed_clear(&out);
    llm_provider_free(p);
}

static void anthropic_reply_tool_use_blocks_and_refusal_are_read(void **state)
{
    (void)state;
    struct llm_provider *p = prov_new(llm_provider_new_anthropic, NULL);
    struct llm_parsed out = {0};
    assert_int_equal(
        prov_parse(p, "{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"c\","
                      "\"content\":[{\"type\":\"text\",\"text\":\"Checking.\"},{\"type\":\"tool_use\","
                      "\"id\":\"toolu_1\",\"name\":\"get_weather\",\"input\":{\"city\":\"Paris\"}}],"
                      "\"stop_reason\":\"tool_use\",\"usage\":{\"input_tokens\":5,\"output_tokens\":7}}",
                   &out),
        LLM_OK);
    assert_string_equal(out.content, "Checking.");
    assert_int_equal(out.n_tool_calls, 1);
    assert_string_equal(out.tool_calls[0].id, "toolu_1");
    assert_string_equal(out.tool_calls[0].arguments, "{\"city\":\"Paris\"}");
    assert_string_equal(out.finish_reason, "tool_use");
    llm_parsed_clear(&out);
    assert_int_equal(prov_parse(p, "{\"id\":\"msg_2\",\"content\":[],\"stop_reason\":\"refusal\","
                                   "\"usage\":{\"input_tokens\":5,\"output_tokens\":0}}",
                                &out),
                     LLM_OK);
    assert_non_null(out.refusal);
    llm_parsed_clear(&out);
    llm_provider_free(p);
}

/* ---- streams, split at every byte ------------------------------------------- */

struct feed {
    struct llm_provider *p;
    struct llm_parsed acc;
    int rc;
};

static int on_event(void *user, const char *event, const char *data, size_t len)
{
    struct feed *f = user;
    enum llm_error e = f->p->vtable->parse_stream_event(f->p, event, data, len, &f->acc);
    if (e != LLM_OK && f->rc == 0)
        f->rc = (int)e;
    return 0;
}

/* Feed `sse` in two pieces split at `at`; the caller checks f->acc. */
static void feed_split(struct feed *f, const char *sse, size_t at)
{
    struct llm__sse parser;
    llm__sse_init(&parser, 0);
    memset(&f->acc, 0, sizeof(f->acc));
    f->rc = 0;
    size_t n = strlen(sse);
    assert_int_equal(llm__sse_feed(&parser, sse, at, on_event, f), 0);
    assert_int_equal(llm__sse_feed(&parser, sse + at, n - at, on_event, f), 0);
    llm__sse_free(&parser);
    assert_int_equal(f->rc, 0);
}

static const char openai_stream[] =
    "data: {\"id\":\"c1\",\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"role\":"
    "\"assistant\",\"content\":null,\"tool_calls\":[{\"index\":0,\"id\":\"call_a\",\"type\":"
    "\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":\"\"}}]},\"finish_reason\":null}]}\n\n"
    "data: {\"id\":\"c1\",\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":"
    "[{\"index\":0,\"function\":{\"arguments\":\"{\\\"ci\"}}]},\"finish_reason\":null}]}\n\n"
    "data: {\"id\":\"c1\",\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":"
    "[{\"index\":1,\"id\":\"call_b\",\"type\":\"function\",\"function\":{\"name\":\"get_time\","
    "\"arguments\":\"{}\"}}]},\"finish_reason\":null}]}\n\n"
    "data: {\"id\":\"c1\",\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":"
    "[{\"index\":0,\"function\":{\"arguments\":\"ty\\\": \\\"Paris\\\"}\"}}]},\"finish_reason\":null}]}\n\n"
    "data: {\"id\":\"c1\",\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{},"
    "\"finish_reason\":\"tool_calls\"}]}\n\n"
    "data: {\"id\":\"c1\",\"model\":\"gpt-4o\",\"choices\":[],\"usage\":{\"prompt_tokens\":3,"
    "\"completion_tokens\":9}}\n\n"
    "data: [DONE]\n\n";

static const char anthropic_stream[] =
    "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":"
    "\"message\",\"role\":\"assistant\",\"model\":\"c\",\"content\":[],\"stop_reason\":null,"
    "\"usage\":{\"input_tokens\":3,\"output_tokens\":1}}}\n\n"
    "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,"
    "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
    "{\"type\":\"text_delta\",\"text\":\"Let me check.\"}}\n\n"
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
    "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,"
    "\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_a\",\"name\":\"get_weather\",\"input\":{}}}\n\n"
    "event: ping\ndata: {\"type\":\"ping\"}\n\n"
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":"
    "{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"ci\"}}\n\n"
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":"
    "{\"type\":\"input_json_delta\",\"partial_json\":\"ty\\\": \\\"Paris\\\"}\"}}\n\n"
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n"
    "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":2,"
    "\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_b\",\"name\":\"get_time\",\"input\":{}}}\n\n"
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":2}\n\n"
    "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"},"
    "\"usage\":{\"output_tokens\":20}}\n\n"
    "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";

static void openai_streamed_tool_calls_assemble_at_every_split(void **state)
{
    (void)state;
    struct feed f = {.p = prov_new(llm_provider_new_openai, NULL)};
    for (size_t at = 0; at <= strlen(openai_stream); at++) {
        feed_split(&f, openai_stream, at);
        assert_int_equal(f.acc.n_tool_calls, 2);
        assert_string_equal(f.acc.tool_calls[0].id, "call_a");
        assert_string_equal(f.acc.tool_calls[0].name, "get_weather");
        assert_string_equal(f.acc.tool_calls[0].arguments, "{\"city\": \"Paris\"}");
        assert_string_equal(f.acc.tool_calls[1].id, "call_b");
        assert_string_equal(f.acc.tool_calls[1].arguments, "{}");
        assert_string_equal(f.acc.finish_reason, "tool_calls");
        assert_true(f.acc.done);
        llm_parsed_clear(&f.acc);
    }
    llm_provider_free(f.p);
}

static void anthropic_streamed_tool_use_assembles_at_every_split(void **state)
{
    (void)state;
    struct feed f = {.p = prov_new(llm_provider_new_anthropic, NULL)};
    for (size_t at = 0; at <= strlen(anthropic_stream); at++) {
        feed_split(&f, anthropic_stream, at);
        assert_string_equal(f.acc.content, "Let me check.");
        assert_int_equal(f.acc.n_tool_calls, 2);
        assert_string_equal(f.acc.tool_calls[0].id, "toolu_a");
        assert_string_equal(f.acc.tool_calls[0].arguments, "{\"city\": \"Paris\"}");
        assert_string_equal(f.acc.tool_calls[1].name, "get_time");
        /* No input_json_delta: empty here, "{}" in the result. */
        assert_int_equal(f.acc.tool_calls[1].arguments_len, 0);
        assert_string_equal(f.acc.finish_reason, "tool_use");
        assert_true(f.acc.done);
        llm_parsed_clear(&f.acc);
    }
    llm_provider_free(f.p);
}

static void openai_streamed_refusal_fragments_are_joined(void **state)
{
    (void)state;
    struct llm_provider *p = prov_new(llm_provider_new_openai, NULL);
    struct llm_parsed acc = {0};
    assert_int_equal(prov_feed(p, NULL, "{\"choices\":[{\"index\":0,\"delta\":{\"refusal\":\"I can\"}}]}", &acc), LLM_OK);
    assert_int_equal(prov_feed(p, NULL, "{\"choices\":[{\"index\":0,\"delta\":{\"refusal\":\"'t.\"}}]}", &acc), LLM_OK);
    assert_string_equal(acc.refusal, "I can't.");
    llm_parsed_clear(&acc);
    llm_provider_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(openai_body_carries_tools_parts_tool_calls_and_tool_turns),
        cmocka_unit_test(anthropic_body_maps_tool_turns_to_tool_use_and_tool_result_blocks),
        cmocka_unit_test(response_formats_map_to_each_wire_format),
        cmocka_unit_test(tool_choice_is_not_sent_without_tools),
        cmocka_unit_test(bad_argument_json_fails_the_build_with_invalid_request),
        cmocka_unit_test(endpoint_url_is_used_exactly_as_given),
        cmocka_unit_test(openai_reply_tool_calls_and_refusal_are_read),
        cmocka_unit_test(anthropic_reply_tool_use_blocks_and_refusal_are_read),
        cmocka_unit_test(openai_streamed_tool_calls_assemble_at_every_split),
        cmocka_unit_test(anthropic_streamed_tool_use_assembles_at_every_split),
        cmocka_unit_test(openai_streamed_refusal_fragments_are_joined),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
