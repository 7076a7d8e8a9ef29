/* NDJSON reader (Ollama streams): a recorded stream whole, split at every
 * byte boundary and byte by byte (identical lines), CRLF and blank lines,
 * a last line without newline, and the line bound. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "transport/ndjson.h"

struct seen {
    char text[4096];
    size_t len;
    int n;
};

static int collect(void *user, const char *event, const char *data, size_t len)
{
    struct seen *s = user;
    assert_null(event);
    assert_int_equal(data[len], '\0');
    int w = snprintf(s->text + s->len, sizeof(s->text) - s->len, "[%.*s]", (int)len, data);
    assert_true(w > 0 && (size_t)w < sizeof(s->text) - s->len);
    s->len += (size_t)w;
    s->n++;
    return 0;
}

/* /api/chat with stream:true, as Ollama 0.6 answers it. */
static const char ollama_stream[] =
    "{\"model\":\"llama3.2\",\"created_at\":\"2026-11-29T12:00:00.1Z\",\"message\":{\"role\":"
    "\"assistant\",\"content\":\"Hel\"},\"done\":false}\n"
    "{\"model\":\"llama3.2\",\"created_at\":\"2026-11-29T12:00:00.2Z\",\"message\":{\"role\":"
    "\"assistant\",\"content\":\"lo\"},\"done\":false}\n"
    "{\"model\":\"llama3.2\",\"created_at\":\"2026-11-29T12:00:00.3Z\",\"message\":{\"role\":"
    "\"assistant\",\"content\":\"\"},\"done_reason\":\"stop\",\"done\":true,\"total_duration\":"
    "512000000,\"load_duration\":1000000,\"prompt_eval_count\":26,\"prompt_eval_duration\":"
    "20000000,\"eval_count\":2,\"eval_duration\":30000000}\n";

static void ndjson_lines_are_identical_at_every_split(void **state)
{
    (void)state;
    size_t n = strlen(ollama_stream);
    struct seen whole = {0};
    struct llm__ndjson r;
    llm__ndjson_init(&r, 0);
    assert_int_equal(llm__ndjson_feed(&r, ollama_stream, n, collect, &whole), 0);
    assert_int_equal(llm__ndjson_finish(&r, collect, &whole), 0);
    llm__ndjson_free(&r);
    assert_int_equal(whole.n, 3);
    assert_memory_equal(whole.text + 1, ollama_stream, 40);

    for (size_t cut = 0; cut <= n; cut++) {
        struct seen s = {0};
        llm__ndjson_init(&r, 0);
        assert_int_equal(llm__ndjson_feed(&r, ollama_stream, cut, collect, &s), 0);
        assert_int_equal(llm__ndjson_feed(&r, ollama_stream + cut, n - cut, collect, &s), 0);
        assert_int_equal(llm__ndjson_finish(&r, collect, &s), 0);
        assert_string_equal(s.text, whole.text);
        llm__ndjson_free(&r);
    }
    struct seen s = {0};
    llm__ndjson_init(&r, 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(llm__ndjson_feed(&r, ollama_stream + i, 1, collect, &s), 0);
    assert_string_equal(s.text, whole.text);
    llm__ndjson_free(&r);
}

static void ndjson_crlf_and_blank_lines_and_a_last_line_without_newline(void **state)
{
    (void)state;
    static const char in[] = "\r\n{\"a\":1}\r\n\n  \n{\"b\":2}\n{\"c\":3}";
    struct seen s = {0};
    struct llm__ndjson r;
    llm__ndjson_init(&r, 0);
    assert_int_equal(llm__ndjson_feed(&r, in, strlen(in), collect, &s), 0);
    assert_string_equal(s.text, "[{\"a\":1}][{\"b\":2}]");
    assert_int_equal(llm__ndjson_finish(&r, collect, &s), 0);
    assert_string_equal(s.text, "[{\"a\":1}][{\"b\":2}][{\"c\":3}]");
    assert_int_equal(llm__ndjson_finish(&r, collect, &s), 0);
    assert_int_equal(s.n, 3);
    llm__ndjson_free(&r);
}

static void ndjson_a_line_over_the_limit_stops_the_reader_at_any_split(void **state)
{
    (void)state;
    static const char in[] = "{\"a\":1}\n{\"too\":\"long line\"}\n{\"c\":3}\n";
    size_t n = strlen(in);
    for (size_t cut = 0; cut <= n; cut++) {
        struct seen s = {0};
        struct llm__ndjson r;
        llm__ndjson_init(&r, 10);
        int rc = llm__ndjson_feed(&r, in, cut, collect, &s);
        if (rc == 0)
            rc = llm__ndjson_feed(&r, in + cut, n - cut, collect, &s);
        assert_int_equal(rc, LLM__NDJSON_TOO_LARGE);
        assert_string_equal(s.text, "[{\"a\":1}]");
        assert_true(r.cap <= 256);
        assert_int_equal(llm__ndjson_feed(&r, "{}\n", 3, collect, &s), LLM__NDJSON_TOO_LARGE);
        llm__ndjson_free(&r);
    }
    /* Exactly at the limit is fine. */
    struct seen s = {0};
    struct llm__ndjson r;
    llm__ndjson_init(&r, 7);
    assert_int_equal(llm__ndjson_feed(&r, "{\"a\":1}\n", 8, collect, &s), 0);
    assert_int_equal(llm__ndjson_feed(&r, "{\"a\":", 5, collect, &s), 0);
    assert_int_equal(llm__ndjson_feed(&r, "2}\n", 3, collect, &s), 0);
    assert_string_equal(s.text, "[{\"a\":1}][{\"a\":2}]");
    llm__ndjson_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ndjson_lines_are_identical_at_every_split),
        cmocka_unit_test(ndjson_crlf_and_blank_lines_and_a_last_line_without_newline),
        cmocka_unit_test(ndjson_a_line_over_the_limit_stops_the_reader_at_any_split),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
