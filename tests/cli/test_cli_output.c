/* Batch output lines (tools/cli/output.c): the usage sum saturates, and the
 * resume scan's helpers tell batch output lines from anything else. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "cli.h"

static struct llm_result *result_with_usage(int64_t in, int64_t out)
{
    struct llm_result *r = calloc(1, sizeof(*r));
    assert_non_null(r);
    r->success = true;
    r->provider = "anthropic"; /* not OpenAI: the body is built from the result */
    r->model = "claude-x";
    r->content = "hi";
    r->finish_reason = "stop";
    strcpy(r->trace_id, "01234567-89ab-7def-8123-456789abcdef");
    r->usage.known = true;
    r->usage.input_tokens = in;
    r->usage.output_tokens = out;
    return r;
}

static double total_tokens_of(const char *line)
{
    cJSON *root = cJSON_Parse(line);
    assert_non_null(root);
    const cJSON *u = cJSON_GetObjectItem(
        cJSON_GetObjectItem(cJSON_GetObjectItem(root, "response"), "body"), "usage");
    const cJSON *t = cJSON_GetObjectItem(u, "total_tokens");
    assert_true(cJSON_IsNumber(t));
    double v = t->valuedouble;
    cJSON_Delete(root);
    return v;
}

static void usage_total_saturates_instead_of_overflowing(void **state)
{
    (void)state;
    /* A server that says INT64_MAX input tokens (saturated upstream) plus
     * output tokens: the sum was signed overflow (UBSan) and printed
     * negative. */
    struct llm_result *r = result_with_usage(INT64_MAX, 5);
    char *line = cli_output_result_line("c1", r);
    assert_non_null(line);
    assert_true(total_tokens_of(line) == (double)INT64_MAX);
    free(line);
    r->usage.input_tokens = 7;
    line = cli_output_result_line("c1", r);
    assert_true(total_tokens_of(line) == 12.0);
    free(line);
    free(r);
    assert_int_equal(cli_sat_add(INT64_MAX, INT64_MAX), INT64_MAX);
    assert_int_equal(cli_sat_add(INT64_MIN, -1), INT64_MIN);
    assert_int_equal(cli_sat_add(40, 2), 42);
}

static void batch_output_lines_are_told_from_input_lines(void **state)
{
    (void)state;
    const char *out = "{\"id\":\"batch_req_1\",\"custom_id\":\"a\",\"response\":null,"
                      "\"error\":{\"code\":\"x\",\"message\":\"y\"}}";
    char *id = cli_output_line_custom_id(out, strlen(out));
    assert_string_equal(id, "a");
    free(id);
    /* The OpenAI Batch API's own spacing is a batch output line too. */
    const char *openai = "{\"id\": \"batch_req_2\", \"custom_id\": \"b\", \"response\": "
                         "{\"status_code\": 200}, \"error\": null}";
    id = cli_output_line_custom_id(openai, strlen(openai));
    assert_string_equal(id, "b");
    free(id);
    const char *input = "{\"custom_id\":\"a\",\"method\":\"POST\",\"url\":\"/v1/chat/completions\","
                        "\"body\":{}}";
    assert_null(cli_output_line_custom_id(input, strlen(input)));
    assert_null(cli_output_line_custom_id("[1]", 3));
    assert_false(cli_output_line_may_be_cut(input, strlen(input)));
    assert_true(cli_output_line_may_be_cut("{\"id\":\"batch_req_1\",\"cus", 24));
    assert_true(cli_output_line_may_be_cut("{ \"i", 4));
    assert_false(cli_output_line_may_be_cut("\0\0\0\0\0\0", 6));
}

static void a_long_line_is_known_by_its_start(void **state)
{
    (void)state;
    const char *start = "{\"id\":\"batch_req_1\",\"custom_id\":\"q\\\"\\u00e9\",\"response\":{\"bo";
    char *id = cli_output_prefix_custom_id(start, strlen(start));
    assert_string_equal(id, "q\"\xc3\xa9");
    free(id);
    /* The custom_id must be whole within the start. */
    assert_null(cli_output_prefix_custom_id(start, 40));
    const char *other = "{\"custom_id\":\"a\",\"id\":\"b\"";
    assert_null(cli_output_prefix_custom_id(other, strlen(other)));
    assert_null(cli_output_prefix_custom_id("\0\0\0\0", 4));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(usage_total_saturates_instead_of_overflowing),
        cmocka_unit_test(batch_output_lines_are_told_from_input_lines),
        cmocka_unit_test(a_long_line_is_known_by_its_start),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
