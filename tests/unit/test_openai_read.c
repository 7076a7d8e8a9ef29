/* OpenAI replies read without a tree (src/providers/openai_read.c) are
 * read exactly as the cJSON reader reads them, and whatever the fast
 * reader cannot vouch for it leaves to cJSON without touching the result.
 * Differential: the same bodies (real shapes, then tens of thousands of
 * random mutations of them) through both readers, field by field. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "llmorch/ext/provider.h"
#include "providers/openai_read.h"

/* Replies and stream chunks in the shapes servers send. */
static const char *const replies[] = {
    /* llmorch's mock server */
    "{\"id\":\"chatcmpl-mock-1\",\"object\":\"chat.completion\",\"created\":1795934552,"
    "\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
    "\"content\":\"mock reply to: hi\"},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":1,"
    "\"completion_tokens\":5,\"total_tokens\":6,\"prompt_tokens_details\":{\"cached_tokens\":0},"
    "\"completion_tokens_details\":{\"reasoning_tokens\":0}}}",
    /* OpenAI, pretty-printed, with escapes, refusal/annotations and details */
    "{\n  \"id\": \"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT\",\n  \"object\": \"chat.completion\",\n"
    "  \"created\": 1741569952,\n  \"model\": \"gpt-4.1-2025-04-14\",\n  \"choices\": [\n    {\n"
    "      \"index\": 0,\n      \"message\": {\n        \"role\": \"assistant\",\n"
    "        \"content\": \"Line one\\nLine \\\"two\\\" \\u00e9\\u4e2d\\ud83d\\ude00 \\\\ end\",\n"
    "        \"refusal\": null,\n        \"annotations\": []\n      },\n      \"logprobs\": null,\n"
    "      \"finish_reason\": \"length\"\n    }\n  ],\n  \"usage\": {\n"
    "    \"prompt_tokens\": 19,\n    \"completion_tokens\": 10,\n    \"total_tokens\": 29,\n"
    "    \"prompt_tokens_details\": {\n      \"cached_tokens\": 7,\n      \"audio_tokens\": 0\n"
    "    },\n    \"completion_tokens_details\": {\n      \"reasoning_tokens\": 3,\n"
    "      \"audio_tokens\": 0,\n      \"accepted_prediction_tokens\": 0,\n"
    "      \"rejected_prediction_tokens\": 0\n    }\n  },\n  \"service_tier\": \"default\",\n"
    "  \"system_fingerprint\": null\n}\n",
    /* tool call: content null */
    "{\"id\":\"c2\",\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
    "\"content\":null,\"tool_calls\":[{\"id\":\"call_1\",\"type\":\"function\",\"function\":"
    "{\"name\":\"f\",\"arguments\":\"{\\\"x\\\":1}\"}}]},\"finish_reason\":\"tool_calls\"}],"
    "\"usage\":{\"prompt_tokens\":80,\"completion_tokens\":17,\"total_tokens\":97}}",
    /* a local server without usage or id */
    "{\"model\":\"llama\",\"choices\":[{\"message\":{\"content\":\"\"},\"finish_reason\":null}]}",
    /* an error body, and content parts: left to cJSON */
    ("{\"error\":{\"message\":\"Rate limit reached\",\"type\":\"requests\",\"code\":"
     "\"rate_limit_exceeded\"}}"),
    "{\"choices\":[{\"message\":{\"content\":[{\"type\":\"text\",\"text\":\"a\"}]}}]}",
};

static const char *const chunks[] = {
    "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\","
    "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\",\"refusal\":null},"
    "\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}",
    "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\","
    "\"choices\":[{\"index\":0,\"delta\":{\"content\":\" wor\\u00ebld\\n\"},\"logprobs\":null,"
    "\"finish_reason\":null}],\"usage\":null}",
    "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\","
    "\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"stop\"}],"
    "\"usage\":null}",
    "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\","
    "\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":12,\"total_tokens\":21,"
    "\"prompt_tokens_details\":{\"cached_tokens\":0},\"completion_tokens_details\":"
    "{\"reasoning_tokens\":0}}}",
    "{\"id\":\"x\",\"choices\":null,\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}",
    "{\"error\":{\"message\":\"bad key\",\"code\":\"invalid_api_key\"}}",
};

/* A result already holding what earlier chunks left (streams accumulate). */
static void start(struct llm_parsed *p, bool stream)
{
    memset(p, 0, sizeof(*p));
    if (stream) {
        assert_int_equal(llm_parsed_append(p, "Hello", 5), LLM_OK);
        assert_int_equal(llm_parsed_set(&p->model, "gpt-4o"), LLM_OK);
        p->usage.input_tokens = 4;
    }
}

static bool same_str(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static bool same(const struct llm_parsed *a, const struct llm_parsed *b)
{
    bool content = a->content_len == b->content_len &&
                   ((a->content == NULL) == (b->content == NULL)) &&
                   (a->content == NULL || memcmp(a->content, b->content, a->content_len + 1) == 0);
    if (a->n_tool_calls != b->n_tool_calls || !same_str(a->refusal, b->refusal))
        return false;
    for (size_t i = 0; i < a->n_tool_calls; i++) {
        if (!same_str(a->tool_calls[i].id, b->tool_calls[i].id) ||
            !same_str(a->tool_calls[i].name, b->tool_calls[i].name) ||
            !same_str(a->tool_calls[i].arguments, b->tool_calls[i].arguments))
            return false;
    }
    return content && same_str(a->finish_reason, b->finish_reason) &&
           same_str(a->model, b->model) && same_str(a->response_id, b->response_id) &&
           memcmp(&a->usage, &b->usage, sizeof(a->usage)) == 0 && a->done == b->done &&
           a->error == b->error && same_str(a->error_message, b->error_message) &&
           same_str(a->provider_code, b->provider_code);
}

/* One body through both readers.  Returns whether the fast one read it. */
static bool check(const char *body, size_t len, bool stream)
{
    struct llm_parsed fast, tree, untouched;
    start(&fast, stream);
    start(&tree, stream);
    start(&untouched, stream);
    int r = llm__openai_read_fast(body, len, stream, &fast);
    enum llm_error t = llm__openai_read_tree(body, len, stream, &tree);
    bool read = r != LLM__READ_DECLINED;
    if (read) {
        if ((int)t != r || !same(&fast, &tree))
            fail_msg("fast and tree readers differ (%d vs %d) on: %.*s", r, (int)t, (int)len,
                     body);
    } else if (!same(&fast, &untouched)) {
        fail_msg("declined but changed the result on: %.*s", (int)len, body);
    }
    llm_parsed_clear(&fast);
    llm_parsed_clear(&tree);
    llm_parsed_clear(&untouched);
    return read;
}

static void usual_replies_are_read_without_a_tree_and_alike(void **state)
{
    (void)state;
    /* The usual success shapes are read fast; a tool-call reply goes to
     * cJSON, which reads its tool_calls (the fast reader once read it and
     * dropped the calls: issue 13). */
    for (size_t i = 0; i < 4; i++)
        assert_true(check(replies[i], strlen(replies[i]), false) == (i != 2));
    /* An error and content parts go to cJSON. */
    assert_false(check(replies[4], strlen(replies[4]), false));
    assert_false(check(replies[5], strlen(replies[5]), false));

    struct llm_parsed p;
    start(&p, false);
    assert_int_equal(llm__openai_read_fast(replies[1], strlen(replies[1]), false, &p), LLM_OK);
    assert_string_equal(p.content,
                        "Line one\nLine \"two\" \xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80 \\ end");
    assert_string_equal(p.finish_reason, "length");
    assert_string_equal(p.model, "gpt-4.1-2025-04-14");
    assert_string_equal(p.response_id, "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT");
    assert_true(p.usage.known);
    assert_int_equal(p.usage.input_tokens, 19);
    assert_int_equal(p.usage.output_tokens, 10);
    assert_int_equal(p.usage.cached_input_tokens, 7);
    assert_int_equal(p.usage.reasoning_tokens, 3);
    llm_parsed_clear(&p);
}

static void usual_stream_chunks_are_read_without_a_tree_and_alike(void **state)
{
    (void)state;
    for (size_t i = 0; i < 5; i++)
        assert_true(check(chunks[i], strlen(chunks[i]), true));
    assert_false(check(chunks[5], strlen(chunks[5]), true));
}

/* Each of these is valid JSON the fast reader must leave to cJSON. */
static void shapes_cjson_must_judge_are_declined(void **state)
{
    (void)state;
    static const char *const declined[] = {
        "{\"object\":\"error\",\"message\":\"vLLM says no\",\"code\":400}",
        "{\"error\":null,\"choices\":[{\"message\":{\"content\":\"a\"}}]}",
        "{\"choices\":[{\"message\":{\"content\":\"a\",\"content\":\"b\"}}]}",
        "{\"model\":\"a\",\"model\":\"b\",\"choices\":[{\"message\":{\"content\":\"a\"}}]}",
        ("{\"choices\":[{\"index\":1,\"message\":{\"content\":\"b\"}},"
         "{\"index\":0,\"message\":{\"content\":\"a\"}}]}"),
        "{\"choices\":[{\"message\":{\"content\":\"a\"}}],\"usage\":{\"prompt_tokens\":1.5}}",
        "{\"choices\":[{\"message\":{\"content\":\"a\"}}],\"usage\":{\"prompt_tokens\":-1}}",
        "{\"choices\":[{\"message\":{\"content\":\"a\\u0000b\"}}]}",
        "{\"choices\":[{\"message\":{\"cont\\u0065nt\":\"a\"}}]}",
        "{\"choices\":[{\"message\":{\"content\":7}}]}",
        "{\"choices\":[{\"message\":\"a\"}]}",
        "{\"choices\":[]}",
        "{\"choices\":[{\"finish_reason\":\"stop\"}]}",
        "[]",
    };
    for (size_t i = 0; i < sizeof(declined) / sizeof(declined[0]); i++) {
        if (check(declined[i], strlen(declined[i]), false))
            fail_msg("read what cJSON must judge: %s", declined[i]);
    }
}

/* The walker counts the containers around each value it skips: a reply
 * nesting an ignored member to jsonr.h's limit (64 open containers, the
 * reply's own object included) is read, one more level is declined, at
 * each level of the reply where members are skipped. */
static void nesting_is_read_to_the_limit_at_every_level(void **state)
{
    (void)state;
    /* The ignored member goes between `before` and `after`; `open`:
     * containers already open there. */
    static const struct {
        const char *before, *after;
        int open;
    } places[] = {
        {"{\"x\":", ",\"choices\":[{\"message\":{\"content\":\"a\"}}]}", 1},
        {"{\"choices\":[{\"x\":", ",\"message\":{\"content\":\"a\"}}]}", 3},
        {"{\"choices\":[{\"message\":{\"x\":", ",\"content\":\"a\"}}]}", 4},
        {"{\"choices\":[{\"message\":{\"content\":\"a\"}}],\"usage\":{\"x\":", "}}", 2},
        {"{\"choices\":[{\"message\":{\"content\":\"a\"}}],"
         "\"usage\":{\"prompt_tokens_details\":{\"x\":",
         "}}}", 3},
    };
    char body[400];
    for (size_t i = 0; i < sizeof(places) / sizeof(places[0]); i++) {
        for (int extra = 0; extra <= 1; extra++) {
            int levels = 64 - places[i].open + extra;
            size_t n = strlen(places[i].before);
            memcpy(body, places[i].before, n);
            for (int k = 0; k < levels; k++)
                body[n++] = '[';
            for (int k = 0; k < levels; k++)
                body[n++] = ']';
            memcpy(body + n, places[i].after, strlen(places[i].after));
            n += strlen(places[i].after);
            bool read = check(body, n, false);
            if (read != (extra == 0))
                fail_msg("%d levels at place %zu: %s", levels, i, read ? "read" : "declined");
        }
    }
}

/* Mutations of every body (replace, delete, insert JSON-significant
 * bytes; cut short): both readers agree whenever the fast one reads. */
static void random_mutations_are_read_alike_or_left_to_cjson(void **state)
{
    (void)state;
    static const char alphabet[] = "{}[]\":,\\ u0123456789abcdefDE.-+etrunlx\n\x01\xc3";
    uint64_t rng = 0x2545F4914F6CDD1Dull;
    int read = 0, total = 0;
    char buf[1400];
    for (int iter = 0; iter < 40000; iter++) {
        bool stream = iter % 2 == 1;
        const char *seed = stream ? chunks[(iter / 2) % 6] : replies[(iter / 2) % 6];
        size_t n = strlen(seed);
        memcpy(buf, seed, n);
        int edits = iter % 4; /* 0: the body itself, or cut short below */
        for (int e = 0; e < edits; e++) {
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            size_t pos = (size_t)(rng >> 33) % n;
            char c = alphabet[(rng >> 17) % (sizeof(alphabet) - 1)];
            switch ((rng >> 7) % 3) {
            case 0: buf[pos] = c; break;
            case 1: memmove(buf + pos, buf + pos + 1, n - pos - 1); n--; break;
            default:
                if (n + 1 < sizeof(buf)) {
                    memmove(buf + pos + 1, buf + pos, n - pos);
                    buf[pos] = c;
                    n++;
                }
            }
        }
        if (edits == 0) {
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            n = (size_t)(rng >> 33) % (n + 1);
        }
        if (n == 0)
            continue;
        total++;
        read += check(buf, n, stream);
    }
    print_message("%d of %d bodies read by the fast reader, all alike\n", read, total);
    assert_true(read > total / 20);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(usual_replies_are_read_without_a_tree_and_alike),
        cmocka_unit_test(usual_stream_chunks_are_read_without_a_tree_and_alike),
        cmocka_unit_test(shapes_cjson_must_judge_are_declined),
        cmocka_unit_test(nesting_is_read_to_the_limit_at_every_level),
        cmocka_unit_test(random_mutations_are_read_alike_or_left_to_cjson),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
