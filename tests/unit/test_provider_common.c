/* Provider helpers: HTTP request headers, response header lookup, the
 * llm_parsed accumulator, and provider freeing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "llmorch/ext/provider.h"

static void add_header_copies_name_and_value(void **state)
{
    (void)state;
    struct llm_http_request req = {0};
    char name[] = "Authorization";
    char value[] = "Bearer sk-test";
    assert_int_equal(llm_http_request_add_header(&req, name, value), LLM_OK);
    assert_int_equal(llm_http_request_add_header(&req, "Content-Type", "application/json"),
                     LLM_OK);
    name[0] = 'X';
    value[0] = 'X';
    assert_int_equal(req.n_headers, 2);
    assert_string_equal(req.headers[0].name, "Authorization");
    assert_string_equal(req.headers[0].value, "Bearer sk-test");
    assert_string_equal(req.headers[1].name, "Content-Type");
    assert_string_equal(req.headers[1].value, "application/json");
    llm_http_request_clear(&req);
}

static void add_header_rejects_cr_or_lf_anywhere_and_leaves_request_unchanged(void **state)
{
    (void)state;
    struct llm_http_request req = {0};
    assert_int_equal(llm_http_request_add_header(&req, "X-Ok", "1"), LLM_OK);
    struct llm_header *before = req.headers;
    static const char *const bad[][2] = {
        {"X-Bad", "a\r\nX-Injected: 1"},
        {"X-Bad", "trailing\n"},
        {"X-Bad", "\rleading"},
        {"X-Bad", "mid\rdle"},
        {"X-Bad\r\nX-Injected", "v"},
        {"X-Bad\n", "v"},
        {"\rX", "v"},
        {"", "v"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(llm_http_request_add_header(&req, bad[i][0], bad[i][1]),
                         LLM_ERR_INVALID_ARGUMENT);
        assert_int_equal(req.n_headers, 1);
        assert_ptr_equal(req.headers, before);
        assert_string_equal(req.headers[0].name, "X-Ok");
    }
    assert_int_equal(llm_http_request_add_header(&req, NULL, "v"), LLM_ERR_INVALID_ARGUMENT);
    assert_int_equal(llm_http_request_add_header(&req, "X", NULL), LLM_ERR_INVALID_ARGUMENT);
    assert_int_equal(llm_http_request_add_header(NULL, "X", "v"), LLM_ERR_INVALID_ARGUMENT);
    assert_int_equal(req.n_headers, 1);
    /* An empty value is a valid header. */
    assert_int_equal(llm_http_request_add_header(&req, "X-Empty", ""), LLM_OK);
    assert_int_equal(req.n_headers, 2);
    llm_http_request_clear(&req);
}

static void http_request_clear_frees_everything_and_zeroes(void **state)
{
    (void)state;
    struct llm_http_request req = {0};
    req.url = strdup("https://api.openai.com/v1/chat/completions");
    req.body = strdup("{}");
    req.body_len = 2;
    for (int i = 0; i < 20; i++)
        assert_int_equal(llm_http_request_add_header(&req, "X-N", "v"), LLM_OK);
    llm_http_request_clear(&req);
    assert_null(req.url);
    assert_null(req.body);
    assert_null(req.headers);
    assert_int_equal(req.n_headers, 0);
    assert_int_equal(req.body_len, 0);
    llm_http_request_clear(&req);
    llm_http_request_clear(NULL);
}

static void headers_get_matches_names_ascii_case_insensitively(void **state)
{
    (void)state;
    struct llm_header items[] = {
        {"content-type", "text/event-stream"},
        {"Retry-After", "20"},
        {"x-ratelimit-remaining-requests", "499"},
        {"retry-after", "second"},
    };
    struct llm_http_headers h = {items, 4};
    assert_string_equal(llm_http_headers_get(&h, "retry-after"), "20");
    assert_string_equal(llm_http_headers_get(&h, "RETRY-AFTER"), "20");
    assert_string_equal(llm_http_headers_get(&h, "Content-Type"), "text/event-stream");
    assert_string_equal(llm_http_headers_get(&h, "X-RateLimit-Remaining-Requests"), "499");
    assert_null(llm_http_headers_get(&h, "retry-afte"));
    assert_null(llm_http_headers_get(&h, "retry-after-ms"));
    assert_null(llm_http_headers_get(&h, ""));
    assert_null(llm_http_headers_get(&h, NULL));
    assert_null(llm_http_headers_get(NULL, "retry-after"));
    struct llm_http_headers empty = {NULL, 0};
    assert_null(llm_http_headers_get(&empty, "retry-after"));
}

static void parsed_append_grows_and_keeps_content_nul_terminated(void **state)
{
    (void)state;
    struct llm_parsed p = {0};
    assert_int_equal(llm_parsed_append(&p, "", 0), LLM_OK);
    assert_non_null(p.content);
    assert_string_equal(p.content, "");
    size_t total = 0;
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(llm_parsed_append(&p, "token ", 6), LLM_OK);
        total += 6;
        assert_int_equal(p.content_len, total);
        assert_true(p.content_cap > p.content_len);
        assert_int_equal(p.content[p.content_len], '\0');
    }
    assert_int_equal(strncmp(p.content, "token token ", 12), 0);
    /* Binary-safe: a NUL in the text is content, not the end. */
    assert_int_equal(llm_parsed_append(&p, "a\0b", 3), LLM_OK);
    assert_memory_equal(p.content + total, "a\0b", 4);
    llm_parsed_clear(&p);
    assert_null(p.content);
    assert_int_equal(p.content_len, 0);
    assert_int_equal(p.content_cap, 0);
}

static void parsed_append_refuses_overflowing_lengths_and_bad_arguments(void **state)
{
    (void)state;
    struct llm_parsed p = {0};
    assert_int_equal(llm_parsed_append(&p, "abc", 3), LLM_OK);
    char *content = p.content;
    assert_int_equal(llm_parsed_append(&p, "x", SIZE_MAX), LLM_ERR_OUT_OF_MEMORY);
    assert_int_equal(llm_parsed_append(&p, "x", SIZE_MAX - 3), LLM_ERR_OUT_OF_MEMORY);
    assert_ptr_equal(p.content, content);
    assert_string_equal(p.content, "abc");
    assert_int_equal(llm_parsed_append(&p, NULL, 1), LLM_ERR_INVALID_ARGUMENT);
    assert_int_equal(llm_parsed_append(NULL, "x", 1), LLM_ERR_INVALID_ARGUMENT);
    assert_int_equal(llm_parsed_append(&p, NULL, 0), LLM_OK);
    assert_string_equal(p.content, "abc");
    llm_parsed_clear(&p);
}

/* Issue 10 #1: the bound on what a reply accumulates. */
static void parsed_append_stops_at_max_bytes_and_records_response_too_large(void **state)
{
    (void)state;
    struct llm_parsed p = {0};
    p.max_bytes = 10;
    assert_int_equal(llm_parsed_append(&p, "01234", 5), LLM_OK);
    assert_int_equal(llm_parsed_append(&p, "56789", 5), LLM_OK);
    assert_int_equal(p.error, LLM_OK);
    assert_int_equal(llm_parsed_append(&p, "a", 1), LLM_ERR_RESPONSE_TOO_LARGE);
    assert_int_equal(p.error, LLM_ERR_RESPONSE_TOO_LARGE);
    assert_non_null(strstr(p.error_message, "10-byte limit"));
    assert_int_equal(p.content_len, 10);
    assert_string_equal(p.content, "0123456789");
    /* Refusal and tool-call arguments count with the content. */
    llm_parsed_clear(&p);
    p.max_bytes = 10;
    assert_int_equal(llm_parsed_refusal_append(&p, "no", 2), LLM_OK);
    struct llm_parsed_tool_call *call;
    assert_int_equal(llm_parsed_tool_call(&p, 0, &call), LLM_OK);
    assert_int_equal(llm_parsed_tool_append(call, "{\"a\":1}", 7), LLM_OK);
    assert_int_equal(llm_parsed_append(&p, "x", 1), LLM_OK);
    assert_int_equal(llm_parsed_append(&p, "y", 1), LLM_ERR_RESPONSE_TOO_LARGE);
    assert_int_equal(llm_parsed_refusal_append(&p, "!", 1), LLM_ERR_RESPONSE_TOO_LARGE);
    assert_int_equal(p.content_len, 1);
    assert_int_equal(p.refusal_len, 2);
    llm_parsed_clear(&p);
    /* 0 = no bound. */
    assert_int_equal(llm_parsed_append(&p, "0123456789abcdef", 16), LLM_OK);
    llm_parsed_clear(&p);
}

static void parsed_set_replaces_copies_and_clears(void **state)
{
    (void)state;
    struct llm_parsed p = {0};
    assert_int_equal(llm_parsed_set(&p.finish_reason, "stop"), LLM_OK);
    assert_string_equal(p.finish_reason, "stop");
    assert_int_equal(llm_parsed_set(&p.finish_reason, "length"), LLM_OK);
    assert_string_equal(p.finish_reason, "length");
    /* Setting a slot from (part of) its own value is safe. */
    assert_int_equal(llm_parsed_set(&p.finish_reason, p.finish_reason + 3), LLM_OK);
    assert_string_equal(p.finish_reason, "gth");
    assert_int_equal(llm_parsed_set(&p.finish_reason, NULL), LLM_OK);
    assert_null(p.finish_reason);
    assert_int_equal(llm_parsed_set(NULL, "x"), LLM_ERR_INVALID_ARGUMENT);
    assert_int_equal(llm_parsed_set(&p.model, "gpt-4o-mini"), LLM_OK);
    assert_int_equal(llm_parsed_set(&p.response_id, "chatcmpl-1"), LLM_OK);
    llm_parsed_clear(&p);
    assert_null(p.model);
    assert_null(p.response_id);
}

static void parsed_set_error_records_type_code_and_message(void **state)
{
    (void)state;
    struct llm_parsed p = {0};
    assert_int_equal(llm_parsed_set_error(&p, LLM_ERR_OVERLOADED, "overloaded_error",
                                          "Overloaded"),
                     LLM_OK);
    assert_int_equal(p.error, LLM_ERR_OVERLOADED);
    assert_string_equal(p.provider_code, "overloaded_error");
    assert_string_equal(p.error_message, "Overloaded");
    assert_int_equal(llm_parsed_set_error(&p, LLM_ERR_SERVER_ERROR, NULL, p.error_message),
                     LLM_OK);
    assert_int_equal(p.error, LLM_ERR_SERVER_ERROR);
    assert_null(p.provider_code);
    assert_string_equal(p.error_message, "Overloaded");
    assert_int_equal(llm_parsed_set_error(NULL, LLM_ERR_PARSE, NULL, NULL),
                     LLM_ERR_INVALID_ARGUMENT);
    llm_parsed_clear(&p);
    assert_int_equal(p.error, LLM_OK);
    assert_null(p.error_message);
    llm_parsed_clear(NULL);
}

static void error_info_clear_frees_strings_and_resets(void **state)
{
    (void)state;
    struct llm_error_info info = {.type = LLM_ERR_RATE_LIMITED, .retryable = true,
                                  .provider_code = strdup("rate_limit_exceeded"),
                                  .message = strdup("slow down")};
    llm_error_info_clear(&info);
    assert_null(info.provider_code);
    assert_null(info.message);
    assert_int_equal(info.type, LLM_OK);
    assert_false(info.retryable);
    llm_error_info_clear(NULL);
}

static int destroyed;

static void count_destroy(struct llm_provider *p)
{
    destroyed++;
    free(p->impl);
}

static void provider_free_calls_destroy_then_frees_and_accepts_null(void **state)
{
    (void)state;
    static const struct llm_provider_vtable with_destroy = {.name = "t",
                                                            .destroy = count_destroy};
    static const struct llm_provider_vtable without_destroy = {.name = "t"};
    struct llm_provider *p = calloc(1, sizeof(*p));
    p->vtable = &with_destroy;
    p->impl = malloc(16);
    llm_provider_free(p);
    assert_int_equal(destroyed, 1);

    p = calloc(1, sizeof(*p));
    p->vtable = &without_destroy;
    llm_provider_free(p);
    assert_int_equal(destroyed, 1);

    llm_provider_free(NULL);
}

static enum llm_error stub_build(const struct llm_provider *p, const struct llm_request *req,
                                 const char *trace_id, struct llm_http_request *out)
{
    (void)p, (void)req, (void)trace_id, (void)out;
    return LLM_OK;
}

static enum llm_error stub_parse(const struct llm_provider *p, const char *body, size_t len,
                                 struct llm_parsed *out)
{
    (void)p, (void)body, (void)len, (void)out;
    return LLM_OK;
}

static enum llm_error stub_event(const struct llm_provider *p, const char *event,
                                 const char *data, size_t len, struct llm_parsed *acc)
{
    (void)p, (void)event, (void)data, (void)len, (void)acc;
    return LLM_OK;
}

static void stub_classify(const struct llm_provider *p, int status,
                          const struct llm_http_headers *h, const char *body, size_t len,
                          struct llm_error_info *out)
{
    (void)p, (void)status, (void)h, (void)body, (void)len;
    out->type = LLM_ERR_SERVER_ERROR;
}

static void provider_new_copies_the_vtable_fills_defaults_and_owns_impl(void **state)
{
    (void)state;
    struct llm_provider_vtable vt = {.build_request = stub_build, .parse_response = stub_parse,
                                     .parse_stream_event = stub_event,
                                     .classify_error = stub_classify, .destroy = count_destroy};
    int before = destroyed;
    struct llm_provider *p = NULL;
    void *impl = malloc(16);
    assert_int_equal(llm_provider_new(&vt, impl, &p), LLM_OK);
    vt.build_request = NULL; /* copied: the provider keeps the original slots */
    assert_ptr_equal(llm_provider_impl(p), impl);
    const struct llm_provider_vtable *got = llm_provider_vtable(p);
    assert_ptr_equal(got->build_request, stub_build);
    assert_string_equal(llm_provider_name(p), "custom");
    assert_null(got->execute_local);
    /* A missing read_rate_limits becomes a no-op that announces nothing. */
    assert_non_null(got->read_rate_limits);
    struct llm_rate_limit_info rl;
    memset(&rl, 0xff, sizeof(rl));
    got->read_rate_limits(p, NULL, &rl);
    assert_int_equal(rl.limit_requests, -1);
    llm_provider_free(p);
    assert_int_equal(destroyed, before + 1);

    /* A required slot missing: refused, impl untouched and still the caller's. */
    impl = malloc(16);
    p = (struct llm_provider *)0x1;
    assert_int_equal(llm_provider_new(&vt, impl, &p), LLM_ERR_INVALID_ARGUMENT);
    assert_null(p);
    assert_int_equal(destroyed, before + 1);
    free(impl);
    assert_int_equal(llm_provider_new(NULL, NULL, &p), LLM_ERR_INVALID_ARGUMENT);
    assert_int_equal(llm_provider_new(&vt, NULL, NULL), LLM_ERR_INVALID_ARGUMENT);
    assert_null(llm_provider_vtable(NULL));
    assert_string_equal(llm_provider_name(NULL), "custom");
}

static void providers_are_made_by_registered_name(void **state)
{
    (void)state;
    static const char *const names[] = {"openai", "anthropic", "mock"};
    struct llm_provider_options po = {.api_key = ""};
    for (size_t i = 0; i < 3; i++) {
        struct llm_provider *p = NULL;
        assert_int_equal(llm_provider_new_by_name(names[i], &po, NULL, &p, NULL, 0), LLM_OK);
        assert_string_equal(llm_provider_name(p), names[i]);
        llm_provider_free(p);
    }
    char err[128] = "";
    struct llm_provider *p = (struct llm_provider *)0x1;
    assert_int_equal(llm_provider_new_by_name("gpt", &po, NULL, &p, err, sizeof(err)),
                     LLM_ERR_INVALID_ARGUMENT);
    assert_null(p);
    assert_string_equal(err, "unknown provider \"gpt\" (expected openai, anthropic, gemini, azure, "
                             "bedrock, ollama or mock)");
    po.api_key = "bad\nkey";
    assert_int_equal(llm_provider_new_by_name("openai", &po, NULL, &p, err, sizeof(err)),
                     LLM_ERR_INVALID_ARGUMENT);
    assert_null(p);
    assert_non_null(strstr(err, "could not create provider \"openai\""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(add_header_copies_name_and_value),
        cmocka_unit_test(add_header_rejects_cr_or_lf_anywhere_and_leaves_request_unchanged),
        cmocka_unit_test(http_request_clear_frees_everything_and_zeroes),
        cmocka_unit_test(headers_get_matches_names_ascii_case_insensitively),
        cmocka_unit_test(parsed_append_grows_and_keeps_content_nul_terminated),
        cmocka_unit_test(parsed_append_refuses_overflowing_lengths_and_bad_arguments),
        cmocka_unit_test(parsed_append_stops_at_max_bytes_and_records_response_too_large),
        cmocka_unit_test(parsed_set_replaces_copies_and_clears),
        cmocka_unit_test(parsed_set_error_records_type_code_and_message),
        cmocka_unit_test(error_info_clear_frees_strings_and_resets),
        cmocka_unit_test(provider_free_calls_destroy_then_frees_and_accepts_null),
        cmocka_unit_test(provider_new_copies_the_vtable_fills_defaults_and_owns_impl),
        cmocka_unit_test(providers_are_made_by_registered_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
