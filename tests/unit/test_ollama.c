/* The Ollama provider: /api/chat bodies (stream flag always sent, options),
 * OLLAMA_HOST forms, replies and NDJSON lines (usage from eval counts,
 * done_reason), and the {"error": "..."} table row by row. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "llmorch/ext/provider.h"
#include "provider_helpers.h"

static struct llm_provider *new_ollama(const struct llm_provider_options *opts)
{
    return prov_new(llm_provider_new_ollama, opts);
}

static void ollama_body_always_carries_the_stream_flag_and_options(void **state)
{
    (void)state;
    unsetenv("OLLAMA_HOST");
    setenv("OPENAI_API_KEY", "must-not-leak", 1);
    struct llm_provider *p = new_ollama(NULL);
    static const struct llm_message msgs[] = {{.role = "developer", .content = "Be terse."},
                                               {.role = "user", .content = "Hi"}};
    static const char *const stop[] = {"\n"};
    struct llm_request req = {0};
    req.model = "llama3.2";
    req.system = "You are helpful.";
    req.messages = msgs;
    req.n_messages = 2;
    req.max_tokens = 32;
    req.has_top_p = true;
    req.top_p = 0.5;
    req.stop = stop;
    req.n_stop = 1;
    struct llm_http_request r;
    prov_build(p, &req, &r);
    assert_string_equal(r.url, "http://127.0.0.1:11434/api/chat");
    assert_null(prov_header(&r, "authorization"));
    assert_json_equal(r.body,
                      "{\"model\":\"llama3.2\",\"messages\":[{\"role\":\"system\",\"content\":"
                      "\"You are helpful.\"},{\"role\":\"system\",\"content\":\"Be terse.\"},"
                      "{\"role\":\"user\",\"content\":\"Hi\"}],\"stream\":false,"
                      "\"options\":{\"num_predict\":32,\"top_p\":0.5,\"stop\":[\"\\n\"]}}");
    llm_http_request_clear(&r);
    req.stream = true;
    prov_build(p, &req, &r);
    assert_non_null(strstr(r.body, "\"stream\":true"));
    llm_http_request_clear(&r);
    llm_provider_free(p);
    unsetenv("OPENAI_API_KEY");
}

static void ollama_host_comes_from_ollama_host_in_each_form(void **state)
{
    (void)state;
    static const struct {
        const char *env, *url;
    } cases[] = {
        {"gpu-box", "http://gpu-box:11434/api/chat"},
        {"gpu-box:8080", "http://gpu-box:8080/api/chat"},
        {"https://ollama.example.test", "https://ollama.example.test/api/chat"},
        {"http://10.0.0.2:11434/", "http://10.0.0.2:11434/api/chat"},
    };
    struct llm_request req = prov_minimal_request("qwen3");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        setenv("OLLAMA_HOST", cases[i].env, 1);
        struct llm_provider *p = new_ollama(NULL);
        struct llm_http_request r;
        prov_build(p, &req, &r);
        assert_string_equal(r.url, cases[i].url);
        llm_http_request_clear(&r);
        llm_provider_free(p);
    }
    /* An explicit base URL wins, and a trailing /v1 (the OpenAI routes) is dropped. */
    struct llm_provider_options o = {.base_url = "http://127.0.0.1:5/v1"};
    struct llm_provider *p = new_ollama(&o);
    struct llm_http_request r;
    prov_build(p, &req, &r);
    assert_string_equal(r.url, "http://127.0.0.1:5/api/chat");
    llm_http_request_clear(&r);
    llm_provider_free(p);
    unsetenv("OLLAMA_HOST");
}

static void ollama_reply_gives_text_done_reason_and_eval_counts(void **state)
{
    (void)state;
    struct llm_provider *p = new_ollama(NULL);
    struct llm_parsed out = {0};
    assert_int_equal(
        prov_parse(p,
                   "{\"model\":\"llama3.2\",\"created_at\":\"2026-11-29T12:00:00Z\",\"message\":"
                   "{\"role\":\"assistant\",\"content\":\"Hi there\"},\"done_reason\":\"length\","
                   "\"done\":true,\"total_duration\":5191566416,\"load_duration\":2154458,"
                   "\"prompt_eval_count\":26,\"prompt_eval_duration\":383809000,"
                   "\"eval_count\":298,\"eval_duration\":4799921000}",
                   &out),
        LLM_OK);
    assert_string_equal(out.content, "Hi there");
    assert_string_equal(out.finish_reason, "length");
    assert_string_equal(out.model, "llama3.2");
    assert_true(out.done);
    assert_true(out.usage.known);
    assert_int_equal(out.usage.input_tokens, 26);
    assert_int_equal(out.usage.output_tokens, 298);
    /* The *_duration fields (ns) as the server's timing (µs). */
    assert_true(out.server_timing.known);
    assert_int_equal(out.server_timing.total_us, 5191566);
    assert_int_equal(out.server_timing.load_us, 2154);
    assert_int_equal(out.server_timing.prompt_eval_us, 383809);
    assert_int_equal(out.server_timing.eval_us, 4799921);
    llm_parsed_clear(&out);
    static const char *const bad[] = {
        "{\"message\":",
        "[]",
        "{\"message\":{\"content\":3},\"done\":true}",
        "{\"message\":{\"content\":\"x\"}}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(prov_parse(p, bad[i], &out), LLM_ERR_PARSE);
        llm_parsed_clear(&out);
    }
    llm_provider_free(p);
}

static void ollama_stream_lines_accumulate_until_done(void **state)
{
    (void)state;
    static const char *const lines[] = {
        "{\"model\":\"llama3.2\",\"message\":{\"role\":\"assistant\",\"content\":\"Hel\"},"
        "\"done\":false}",
        "{\"model\":\"llama3.2\",\"message\":{\"role\":\"assistant\",\"content\":\"lo\"},"
        "\"done\":false}",
        "{\"model\":\"llama3.2\",\"message\":{\"role\":\"assistant\",\"content\":\"\"},"
        "\"done_reason\":\"stop\",\"done\":true,\"prompt_eval_count\":5,\"eval_count\":2}",
    };
    struct llm_provider *p = new_ollama(NULL);
    assert_int_equal(p->vtable->stream_framing, LLM_STREAM_NDJSON);
    struct llm_parsed acc = {0};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(prov_feed(p, NULL, lines[i], &acc), LLM_OK);
        assert_int_equal(acc.done, i == 2);
    }
    assert_string_equal(acc.content, "Hello");
    assert_string_equal(acc.finish_reason, "stop");
    assert_int_equal(acc.usage.input_tokens, 5);
    assert_int_equal(acc.usage.output_tokens, 2);
    llm_parsed_clear(&acc);
    /* An error line mid-stream. */
    assert_int_equal(prov_feed(p, NULL, "{\"error\":\"an error was encountered while running the "
                                        "model: unexpected EOF\"}",
                               &acc),
                     LLM_OK);
    assert_int_equal(acc.error, LLM_ERR_SERVER_ERROR);
    llm_parsed_clear(&acc);
    llm_provider_free(p);
}

static void ollama_classification_table_maps_every_row(void **state)
{
    (void)state;
    static const struct {
        int status;
        const char *body;
        enum llm_error type;
        bool retryable;
    } cases[] = {
        {404, "{\"error\":\"model \\\"llama9\\\" not found, try pulling it first\"}",
         LLM_ERR_NOT_FOUND, false},
        {404, "{\"error\":\"model not found\"}", LLM_ERR_NOT_FOUND, false},
        {500, "{\"error\":\"model requires more system memory (64 GiB) than is available (8 GiB)\"}",
         LLM_ERR_SERVER_ERROR, true},
        {400, "{\"error\":\"input exceeds the context length\"}", LLM_ERR_CONTEXT_LENGTH_EXCEEDED,
         false},
        {503, "{\"error\":\"server busy, please try again.  maximum pending requests exceeded\"}",
         LLM_ERR_OVERLOADED, true},
        {400, "{\"error\":\"invalid options\"}", LLM_ERR_INVALID_REQUEST, false},
        {401, "{\"error\":\"unauthorized\"}", LLM_ERR_AUTHENTICATION, false},
        {429, "{\"error\":\"too many requests\"}", LLM_ERR_RATE_LIMITED, true},
        {500, "{\"error\":\"llama runner process has terminated\"}", LLM_ERR_SERVER_ERROR, true},
        {502, "Bad Gateway", LLM_ERR_SERVER_ERROR, true},
    };
    struct llm_provider *p = new_ollama(NULL);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct llm_error_info info = {0};
        prov_classify(p, cases[i].status, NULL, cases[i].body, &info);
        if (info.type != cases[i].type || info.retryable != cases[i].retryable)
            fail_msg("row %zu: got %s retryable=%d", i, llm_error_name(info.type), info.retryable);
        assert_non_null(info.message);
        llm_error_info_clear(&info);
    }
    llm_provider_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ollama_body_always_carries_the_stream_flag_and_options),
        cmocka_unit_test(ollama_host_comes_from_ollama_host_in_each_form),
        cmocka_unit_test(ollama_reply_gives_text_done_reason_and_eval_counts),
        cmocka_unit_test(ollama_stream_lines_accumulate_until_done),
        cmocka_unit_test(ollama_classification_table_maps_every_row),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
