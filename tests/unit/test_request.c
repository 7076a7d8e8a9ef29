/* Request validation names the bad field; the deep copy holds every
 * string and array of the request (tools, parts, tool calls, headers) in
 * its own block, so the caller may free the original at once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/request.h"

static const struct llm_tool weather_tool = {
    .name = "get_weather",
    .description = "Weather in a city",
    .parameters_json = "{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}},"
                       "\"required\":[\"city\"]}",
};

/* A request using every member added for tools and request control. */
struct full {
    struct llm_content_part parts[2];
    struct llm_tool_call calls[1];
    struct llm_message msgs[3];
    struct llm_tool tools[1];
    const char *headers[1];
    struct llm_request req;
};

static void fill_full(struct full *f)
{
    memset(f, 0, sizeof(*f));
    f->parts[0] = (struct llm_content_part){.type = LLM_PART_TEXT, .text = "What is this?"};
    f->parts[1] = (struct llm_content_part){
        .type = LLM_PART_IMAGE_BASE64, .data = "iVBORw0KGgo=", .media_type = "image/png"};
    f->calls[0] = (struct llm_tool_call){
        .id = "call_1", .name = "get_weather", .arguments = "{\"city\":\"Paris\"}"};
    f->msgs[0] = (struct llm_message){.role = "user", .parts = f->parts, .n_parts = 2};
    f->msgs[1] = (struct llm_message){
        .role = "assistant", .tool_calls = f->calls, .n_tool_calls = 1};
    f->msgs[2] = (struct llm_message){
        .role = "tool", .content = "{\"temp\":21}", .tool_call_id = "call_1",
        .name = "get_weather"};
    f->tools[0] = weather_tool;
    f->headers[0] = "OpenAI-Project: proj_1";
    f->req = (struct llm_request){
        .model = "gpt-4o",
        .messages = f->msgs,
        .n_messages = 3,
        .tools = f->tools,
        .n_tools = 1,
        .tool_choice = LLM_TOOL_CHOICE_NAMED,
        .tool_choice_name = "get_weather",
        .response_format = {.type = LLM_RESPONSE_JSON_SCHEMA, .name = "answer",
                            .schema_json = "{\"type\":\"object\"}", .strict = true},
        .max_completion_tokens = 100,
        .headers = f->headers,
        .n_headers = 1,
        .max_attempts = 2,
        .attempt_timeout_ms = 5000,
        .keep_raw_response = 1,
    };
}

/* Validate and return the message ("" when valid). */
static const char *verdict(const struct llm_request *r)
{
    static char err[256];
    err[0] = '\0';
    enum llm_error e = llm__request_validate(r, err, sizeof(err));
    assert_int_equal(e, err[0] == '\0' ? LLM_OK : LLM_ERR_INVALID_REQUEST);
    return err;
}

static void expect_rejected(const struct llm_request *r, const char *field_and_why)
{
    const char *msg = verdict(r);
    if (strstr(msg, field_and_why) == NULL)
        fail_msg("message \"%s\" does not contain \"%s\"", msg, field_and_why);
}

static void a_request_with_tools_parts_and_tool_turns_is_valid(void **state)
{
    (void)state;
    struct full f;
    fill_full(&f);
    assert_string_equal(verdict(&f.req), "");
}

/* Roles are told apart by their first byte, then one compare (request.c):
 * exactly the five names pass, near misses of each fail naming the field. */
static void exactly_the_five_role_names_are_valid(void **state)
{
    (void)state;
    static const char *const ok[] = {"system", "developer", "user", "assistant"};
    static const char *const bad[] = {"", "s", "systems", "System", "developer ", "use",
                                      "users", "assistan", "assistant\n", "tool_", "t",
                                      "robot", "\x01"};
    struct llm_message m = {.content = "hi"};
    struct llm_request r = {.model = "m", .messages = &m, .n_messages = 1};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        m.role = ok[i];
        assert_string_equal(verdict(&r), "");
    }
    m.role = "tool";
    m.tool_call_id = "call_1";
    assert_string_equal(verdict(&r), "");
    m.tool_call_id = NULL;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        m.role = bad[i];
        expect_rejected(&r, "messages[0].role: invalid role");
    }
}

static void tool_role_without_tool_call_id_is_rejected(void **state)
{
    (void)state;
    struct full f;
    fill_full(&f);
    f.msgs[2].tool_call_id = NULL;
    expect_rejected(&f.req, "messages[2].tool_call_id: is NULL");
}

static void invalid_tool_schema_text_is_rejected_with_its_position(void **state)
{
    (void)state;
    struct full f;
    fill_full(&f);
    f.tools[0].parameters_json = "{\"type\": \"object\",}";
    expect_rejected(&f.req, "tools[0].parameters_json: invalid JSON schema text (invalid JSON at byte");
    f.tools[0].parameters_json = "[1]";
    expect_rejected(&f.req, "tools[0].parameters_json: invalid JSON schema text (not a JSON object)");
}

static void invalid_response_schema_is_rejected(void **state)
{
    (void)state;
    struct full f;
    fill_full(&f);
    f.req.response_format.schema_json = "{";
    expect_rejected(&f.req, "response_format.schema_json: invalid JSON schema text");
    fill_full(&f);
    f.req.response_format.name = "has space";
    expect_rejected(&f.req, "response_format.name: is not a name");
}

static void headers_with_cr_or_lf_are_rejected(void **state)
{
    (void)state;
    struct full f;
    fill_full(&f);
    f.headers[0] = "X-Test: a\r\nX-Injected: b";
    expect_rejected(&f.req, "headers[0]: contains CR or LF");
    f.headers[0] = "no colon here";
    expect_rejected(&f.req, "headers[0]: is not \"Name: value\"");
    f.headers[0] = "Bad Name: v";
    expect_rejected(&f.req, "headers[0]: is not \"Name: value\"");
}

static void named_tool_choice_must_name_a_given_tool(void **state)
{
    (void)state;
    struct full f;
    fill_full(&f);
    f.req.tool_choice_name = "get_time";
    expect_rejected(&f.req, "tool_choice_name: \"get_time\" is not one of the request's tools");
    fill_full(&f);
    f.req.tool_choice = LLM_TOOL_CHOICE_REQUIRED;
    f.req.tool_choice_name = NULL;
    f.req.n_tools = 0;
    expect_rejected(&f.req, "tool_choice: \"required\" but the request has no tools");
}

static void tool_call_arguments_must_be_a_json_object(void **state)
{
    (void)state;
    struct full f;
    fill_full(&f);
    f.calls[0].arguments = "\"Paris\"";
    expect_rejected(&f.req, "messages[1].tool_calls[0].arguments: not a JSON object");
    fill_full(&f);
    f.msgs[0].tool_calls = f.calls;
    f.msgs[0].n_tool_calls = 1;
    expect_rejected(&f.req, "messages[0].tool_calls: only \"assistant\" turns carry tool calls");
}

static void image_parts_need_valid_base64_and_a_media_type(void **state)
{
    (void)state;
    struct full f;
    fill_full(&f);
    f.parts[1].data = "not base64!";
    expect_rejected(&f.req, "messages[0].parts[1].data: is not base64");
    fill_full(&f);
    f.parts[1].media_type = NULL;
    expect_rejected(&f.req, "messages[0].parts[1].media_type: is NULL");
    fill_full(&f);
    f.msgs[0].content = "both";
    expect_rejected(&f.req, "messages[0]: content and parts are both set");
    fill_full(&f);
    f.msgs[0].role = "system";
    expect_rejected(&f.req, "messages[0].parts[1]: images are accepted in \"user\" turns only");
}

static void duplicate_tool_names_and_both_token_limits_are_rejected(void **state)
{
    (void)state;
    struct full f;
    fill_full(&f);
    struct llm_tool two[2] = {weather_tool, weather_tool};
    f.req.tools = two;
    f.req.n_tools = 2;
    expect_rejected(&f.req, "tools[1].name: \"get_weather\" is also tools[0]'s name");
    fill_full(&f);
    f.req.max_tokens = 10;
    expect_rejected(&f.req, "max_completion_tokens: set together with max_tokens");
    fill_full(&f);
    f.req.max_attempts = -1;
    expect_rejected(&f.req, "max_attempts: -1 is out of range");
}

static void an_assistant_turn_with_only_tool_calls_needs_no_content(void **state)
{
    (void)state;
    struct full f;
    fill_full(&f);
    assert_null(f.msgs[1].content);
    assert_string_equal(verdict(&f.req), "");
    f.msgs[1].n_tool_calls = 0;
    expect_rejected(&f.req, "messages[1].content: is NULL");
}

/* What a copy of fill_full()'s request holds, field by field. */
static void assert_copy_of_full(const struct llm_request *c)
{
    const struct llm_request copy = *c;
    assert_string_equal(copy.model, "gpt-4o");
    assert_int_equal(copy.n_messages, 3);
    assert_int_equal(copy.messages[0].n_parts, 2);
    assert_string_equal(copy.messages[0].parts[0].text, "What is this?");
    assert_int_equal(copy.messages[0].parts[1].type, LLM_PART_IMAGE_BASE64);
    assert_string_equal(copy.messages[0].parts[1].data, "iVBORw0KGgo=");
    assert_string_equal(copy.messages[0].parts[1].media_type, "image/png");
    assert_null(copy.messages[0].parts[1].url);
    assert_int_equal(copy.messages[1].n_tool_calls, 1);
    assert_string_equal(copy.messages[1].tool_calls[0].id, "call_1");
    assert_string_equal(copy.messages[1].tool_calls[0].arguments, "{\"city\":\"Paris\"}");
    assert_null(copy.messages[1].content);
    assert_string_equal(copy.messages[2].tool_call_id, "call_1");
    assert_string_equal(copy.messages[2].name, "get_weather");
    assert_int_equal(copy.n_tools, 1);
    assert_string_equal(copy.tools[0].parameters_json, weather_tool.parameters_json);
    assert_string_equal(copy.tool_choice_name, "get_weather");
    assert_string_equal(copy.response_format.schema_json, "{\"type\":\"object\"}");
    assert_true(copy.response_format.strict);
    assert_int_equal(copy.n_headers, 1);
    assert_string_equal(copy.headers[0], "OpenAI-Project: proj_1");
    assert_int_equal(copy.max_attempts, 2);
    assert_int_equal(copy.keep_raw_response, 1);
    /* The copy validates as the original did. */
    assert_string_equal(verdict(&copy), "");
}

/* Scribble over the original after copying: the copy must not notice. */
static void the_copy_owns_every_string_and_array(void **state)
{
    (void)state;
    struct full *f = malloc(sizeof(*f));
    assert_non_null(f);
    fill_full(f);
    char *args = strdup(f->calls[0].arguments);
    char *hdr = strdup(f->headers[0]);
    char *schema = strdup(weather_tool.parameters_json);
    f->calls[0].arguments = args;
    f->headers[0] = hdr;
    f->tools[0].parameters_json = schema;

    struct llm_request copy;
    void *block = NULL;
    assert_int_equal(llm__request_copy(&f->req, &copy, &block), LLM_OK);
    memset(args, 'x', strlen(args));
    memset(hdr, 'x', strlen(hdr));
    memset(schema, 'x', strlen(schema));
    free(args);
    free(hdr);
    free(schema);
    memset(f, 0xA5, sizeof(*f));
    free(f);

    assert_copy_of_full(&copy);
    llm__request_free_copy(&copy, block);
    assert_null(copy.messages);
}

/* The engine keeps its per-request state in front of the copy (one
 * allocation): the head is the caller's, the copy after it is complete,
 * aligned, and freed with the block. */
static void a_copy_after_a_head_leaves_the_head_to_the_caller(void **state)
{
    (void)state;
    const size_t heads[] = {0, 1, 13, 1368};
    for (size_t i = 0; i < sizeof(heads) / sizeof(heads[0]); i++) {
        struct full *f = malloc(sizeof(*f));
        assert_non_null(f);
        fill_full(f);
        struct llm_request copy;
        void *block = NULL;
        assert_int_equal(llm__request_copy_after(&f->req, &copy, heads[i], &block), LLM_OK);
        assert_non_null(block);
        memset(block, 0x5A, heads[i]);
        memset(f, 0xA5, sizeof(*f));
        free(f);
        assert_true((uintptr_t)copy.messages % _Alignof(max_align_t) == 0);
        assert_true((const char *)copy.messages >= (const char *)block + heads[i]);
        assert_copy_of_full(&copy);
        free(block);
    }
}

static void counts_with_null_arrays_copy_as_empty(void **state)
{
    (void)state;
    struct llm_message m = {.role = "user", .content = "hi", .n_parts = 3, .n_tool_calls = 2};
    struct llm_request r = {.model = "m", .messages = &m, .n_messages = 1, .n_tools = 4,
                            .n_headers = 5};
    struct llm_request copy;
    void *block = NULL;
    assert_int_equal(llm__request_copy(&r, &copy, &block), LLM_OK);
    assert_int_equal(copy.messages[0].n_parts, 0);
    assert_int_equal(copy.messages[0].n_tool_calls, 0);
    assert_int_equal(copy.n_tools, 0);
    assert_int_equal(copy.n_headers, 0);
    llm__request_free_copy(&copy, block);
}

static void assert_same_str(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        assert_ptr_equal(a, b);
    else
        assert_string_equal(a, b);
}

/* Field by field: the copy a plain request takes (fast path) against the
 * general one. */
static void assert_same_copy(const struct llm_request *a, const struct llm_request *b)
{
    struct llm_request x = *a, y = *b;
    assert_same_str(x.model, y.model);
    assert_same_str(x.system, y.system);
    assert_same_str(x.extra_json, y.extra_json);
    assert_same_str(x.metadata_json, y.metadata_json);
    assert_same_str(x.tool_choice_name, y.tool_choice_name);
    assert_same_str(x.response_format.name, y.response_format.name);
    assert_same_str(x.response_format.schema_json, y.response_format.schema_json);
    assert_int_equal(x.n_messages, y.n_messages);
    assert_int_equal(x.messages == NULL, y.messages == NULL);
    for (size_t i = 0; i < x.n_messages; i++) {
        struct llm_message m = x.messages[i], n = y.messages[i];
        assert_same_str(m.role, n.role);
        assert_same_str(m.content, n.content);
        assert_same_str(m.tool_call_id, n.tool_call_id);
        assert_same_str(m.name, n.name);
        assert_ptr_equal(m.parts, n.parts);
        assert_int_equal(m.n_parts, n.n_parts);
        assert_ptr_equal(m.tool_calls, n.tool_calls);
        assert_int_equal(m.n_tool_calls, n.n_tool_calls);
    }
    assert_ptr_equal(x.stop, y.stop);
    assert_int_equal(x.n_stop, y.n_stop);
    assert_ptr_equal(x.tools, y.tools);
    assert_int_equal(x.n_tools, y.n_tools);
    assert_ptr_equal(x.headers, y.headers);
    assert_int_equal(x.n_headers, y.n_headers);
    /* Everything else is the caller's, copied as it was. */
    x.model = x.system = x.extra_json = x.metadata_json = x.tool_choice_name = NULL;
    x.response_format.name = x.response_format.schema_json = NULL;
    x.messages = NULL;
    y.model = y.system = y.extra_json = y.metadata_json = y.tool_choice_name = NULL;
    y.response_format.name = y.response_format.schema_json = NULL;
    y.messages = NULL;
    assert_memory_equal(&x, &y, sizeof(x));
}

/* Plain requests (text messages only) take a fast copy: it must agree with
 * the general copy, and whatever the source holds must be in the block. */
static void the_plain_fast_copy_agrees_with_the_general_copy(void **state)
{
    (void)state;
    struct llm_message msgs[9];
    for (size_t i = 0; i < 9; i++)
        msgs[i] = (struct llm_message){.role = i % 2 ? "assistant" : "user",
                                       .content = i == 3 ? "" : "some words of text"};
    msgs[1].name = "bob";
    msgs[2].role = "tool";
    msgs[2].tool_call_id = "call_1";
    msgs[4].n_parts = 3;      /* NULL array: copied as empty */
    msgs[5].n_tool_calls = 2; /* likewise */
    struct llm_request reqs[] = {
        {.model = "gpt-4o-mini", .messages = msgs, .n_messages = 1, .max_tokens = 16},
        {.model = "m", .system = "be brief", .messages = msgs, .n_messages = 8,
         .extra_json = "{\"seed\":1}", .metadata_json = "{\"k\":\"v\"}",
         .tool_choice_name = "t", .response_format = {.name = "n", .schema_json = "{}"},
         .n_stop = 2, .n_tools = 1, .n_headers = 4, .stream = true, .user_data = msgs},
        {.model = "m", .messages = msgs, .n_messages = 9}, /* past the fast path */
        {.model = "m", .messages = msgs, .n_messages = 0},
    };
    const size_t heads[] = {0, 13, 872};
    for (size_t k = 0; k < sizeof(reqs) / sizeof(reqs[0]); k++) {
        for (size_t h = 0; h < sizeof(heads) / sizeof(heads[0]); h++) {
            struct llm_request a, b;
            void *ba = NULL, *bb = NULL;
            assert_int_equal(llm__request_copy_after(&reqs[k], &a, heads[h], &ba), LLM_OK);
            assert_int_equal(llm__request_copy_general(&reqs[k], &b, heads[h], &bb), LLM_OK);
            assert_same_copy(&a, &b);
            const char *lo = (const char *)ba + heads[h];
            assert_true(a.model >= lo);
            for (size_t i = 0; i < a.n_messages; i++)
                assert_true(a.messages[i].role >= lo && a.messages[i].content >= lo);
            if (a.n_messages > 0)
                assert_true((uintptr_t)a.messages % _Alignof(max_align_t) == 0);
            free(ba);
            free(bb);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_request_with_tools_parts_and_tool_turns_is_valid),
        cmocka_unit_test(exactly_the_five_role_names_are_valid),
        cmocka_unit_test(tool_role_without_tool_call_id_is_rejected),
        cmocka_unit_test(invalid_tool_schema_text_is_rejected_with_its_position),
        cmocka_unit_test(invalid_response_schema_is_rejected),
        cmocka_unit_test(headers_with_cr_or_lf_are_rejected),
        cmocka_unit_test(named_tool_choice_must_name_a_given_tool),
        cmocka_unit_test(tool_call_arguments_must_be_a_json_object),
        cmocka_unit_test(image_parts_need_valid_base64_and_a_media_type),
        cmocka_unit_test(duplicate_tool_names_and_both_token_limits_are_rejected),
        cmocka_unit_test(an_assistant_turn_with_only_tool_calls_needs_no_content),
        cmocka_unit_test(the_copy_owns_every_string_and_array),
        cmocka_unit_test(a_copy_after_a_head_leaves_the_head_to_the_caller),
        cmocka_unit_test(counts_with_null_arrays_copy_as_empty),
        cmocka_unit_test(the_plain_fast_copy_agrees_with_the_general_copy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
