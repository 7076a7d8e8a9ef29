/* Post-processing: each built-in step, custom steps, the DEGRADE and
 * FAIL_RESULT policies, and the step results recorded on the result. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/result_internal.h"
#include "llmorch/pipeline.h"

/* ---- helpers ---------------------------------------------------------------------------- */

typedef enum llm_error (*factory_fn)(struct llm_step **);

/* Run one step on `in`; returns its error, output in *out (caller frees). */
static enum llm_error run1(factory_fn make, const char *in, char **out, char **msg)
{
    struct llm_step *s = NULL;
    assert_int_equal(make(&s), LLM_OK);
    size_t len = 0;
    enum llm_error err = llm_step_run(s, in, strlen(in), out, &len, msg);
    if (err == LLM_OK) {
        assert_non_null(*out);
        assert_int_equal(len, strlen(*out));
    } else {
        assert_null(*out);
    }
    llm_step_free(s);
    return err;
}

static void expect_out(factory_fn make, const char *in, const char *want)
{
    char *out = NULL, *msg = NULL;
    enum llm_error err = run1(make, in, &out, &msg);
    if (err != LLM_OK)
        fail_msg("step failed on '%s': %s", in, msg ? msg : "?");
    assert_string_equal(out, want);
    free(out);
    free(msg);
}

static void expect_fail(factory_fn make, const char *in, const char *msg_part)
{
    char *out = NULL, *msg = NULL;
    enum llm_error err = run1(make, in, &out, &msg);
    if (err == LLM_OK)
        fail_msg("step accepted '%s' giving '%s'", in, out);
    assert_int_equal(err, LLM_ERR_PARSE);
    assert_non_null(msg);
    if (msg_part != NULL && strstr(msg, msg_part) == NULL)
        fail_msg("message '%s' lacks '%s'", msg, msg_part);
    free(msg);
}

static struct llm_result *ok_result(const char *content)
{
    struct llm_result *r = llm__result_new();
    assert_non_null(r);
    free(r->content);
    r->content = strdup(content);
    r->content_len = strlen(content);
    r->success = true;
    return r;
}

/* A fake clock advancing 10 µs per reading. */
static int64_t fake_clock(void *user)
{
    int64_t *t = user;
    *t += 10;
    return *t;
}

static struct llm_pipeline *pipeline(enum llm_pipeline_policy policy, int64_t *clock,
                                     struct llm_step **steps, size_t n)
{
    struct llm_pipeline_options o = {.policy = policy, .clock = clock ? fake_clock : NULL,
                                     .clock_user = clock};
    struct llm_pipeline *p = NULL;
    assert_int_equal(llm_pipeline_new(&o, steps, n, &p), LLM_OK);
    assert_int_equal(llm_pipeline_n_steps(p), n);
    return p;
}

static struct llm_step *mk(factory_fn make)
{
    struct llm_step *s = NULL;
    assert_int_equal(make(&s), LLM_OK);
    return s;
}

/* ---- trim ------------------------------------------------------------------------------- */

static void trim_removes_whitespace_at_both_ends_only(void **state)
{
    (void)state;
    expect_out(llm_step_new_trim, "  \t\n hello  world \r\n\v\f", "hello  world");
    expect_out(llm_step_new_trim, "plain", "plain");
    expect_out(llm_step_new_trim, " \n\t ", "");
    expect_out(llm_step_new_trim, "", "");
}

/* ---- strip_reasoning --------------------------------------------------------------------- */

static void strip_reasoning_removes_think_and_thinking_blocks(void **state)
{
    (void)state;
    factory_fn f = llm_step_new_strip_reasoning;
    expect_out(f, "<think>let me see</think>\n\nThe answer is 4.", "\n\nThe answer is 4.");
    expect_out(f, "<thinking>hmm</thinking>Yes", "Yes");
    expect_out(f, "A<think>1</think>B<THINK>2</Think>C<thinking>3</thinking>D", "ABCD");
    /* A block ends at the first closing tag of its own name. */
    expect_out(f, "<thinking>a </think> b</thinking>ok", "ok");
    expect_out(f, "no tags at all", "no tags at all");
    expect_out(f, "a < b and <thin> is not a tag", "a < b and <thin> is not a tag");
}

static void strip_reasoning_handles_a_missing_opening_tag(void **state)
{
    (void)state;
    /* Output that starts inside the reasoning (the model's template opened
     * the block). */
    expect_out(llm_step_new_strip_reasoning, "I should add.\n</think>\nFour.", "\nFour.");
    expect_out(llm_step_new_strip_reasoning, "r</thinking>x<think>y</think>z", "xz");
}

static void strip_reasoning_of_an_unterminated_block_keeps_the_answer_before_it(void **state)
{
    (void)state;
    expect_out(llm_step_new_strip_reasoning, "Answer first. <think>and then musing",
               "Answer first. ");
    /* Cut short during the reasoning: nothing was answered at all. */
    expect_fail(llm_step_new_strip_reasoning, "<think>step 1, step 2, step", "unterminated");
    expect_fail(llm_step_new_strip_reasoning, "  \n<think>only thinking</think>\n ",
                "no answer");
}

/* ---- extract_json ----------------------------------------------------------------------- */

static void extract_json_prefers_a_json_fence(void **state)
{
    (void)state;
    factory_fn f = llm_step_new_extract_json;
    expect_out(f, "Here you go:\n```json\n{\"a\": [1, 2]}\n```\nbye", "{\"a\": [1, 2]}");
    expect_out(f, "```JSON \n  [1]  \n```", "[1]");
    /* A bare fence counts when it holds an object or array... */
    expect_out(f, "```\n{\"x\": 1}\n```", "{\"x\": 1}");
    /* ...and other languages are skipped. */
    expect_out(f, "```python\nd = {'a': 1}\n```\n```json\n{\"b\": 2}\n```", "{\"b\": 2}");
    expect_out(f, "```sh\nls\n```\n```\nplain text\n```\nthen {\"c\": 3}", "{\"c\": 3}");
    /* Even a non-JSON ```json block is extracted: validation is another step. */
    expect_out(f, "```json\nnot json\n```", "not json");
}

static void extract_json_falls_back_to_the_first_balanced_value(void **state)
{
    (void)state;
    factory_fn f = llm_step_new_extract_json;
    expect_out(f, "Result: {\"a\": {\"b\": [1, {\"c\": 2}]}} -- done {\"z\": 0}",
               "{\"a\": {\"b\": [1, {\"c\": 2}]}}");
    expect_out(f, "list [1, [2, 3]] end", "[1, [2, 3]]");
    /* Brackets inside strings do not count. */
    expect_out(f, "x {\"s\": \"} ] \\\" {\"} y", "{\"s\": \"} ] \\\" {\"}");
    /* Quotes in the prose around it do not confuse the scan. */
    expect_out(f, "He said \"look: {\"k\": 1}", "{\"k\": 1}");
    /* A mismatched region is skipped. */
    expect_out(f, "{ oops ] then [true]", "[true]");
    /* An unclosed outer bracket: the first complete inner value. */
    expect_out(f, "{\"a\": {\"b\": 1}, \"c\": [2", "{\"b\": 1}");
    /* An unterminated fence falls back to scanning. */
    expect_out(f, "```json\n{\"t\": 1}", "{\"t\": 1}");
}

static void extract_json_fails_when_there_is_no_json(void **state)
{
    (void)state;
    expect_fail(llm_step_new_extract_json, "I cannot help with that.", "no JSON found");
    expect_fail(llm_step_new_extract_json, "{ never closed", NULL);
    expect_fail(llm_step_new_extract_json, "", NULL);
}

/* ---- validate_json ---------------------------------------------------------------------- */

static void validate_json_accepts_exactly_one_json_value(void **state)
{
    (void)state;
    factory_fn f = llm_step_new_validate_json;
    static const char *const good[] = {
        "{}", "[]", " {\"a\": [1, -2.5e+3, true, false, null, \"x\\u00e9\\n\"]} \n", "0",
        "\"caf\xC3\xA9 \xF0\x9F\x98\x80\"", "-0.0E-1", "[[[[]]]]",
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        expect_out(f, good[i], good[i]); /* output unchanged */
}

static void validate_json_rejects_invalid_text_with_position_and_reason(void **state)
{
    (void)state;
    factory_fn f = llm_step_new_validate_json;
    expect_fail(f, "", "empty");
    expect_fail(f, "{\"a\": 1,}", "trailing comma");
    expect_fail(f, "[1, 2", "expected ',' or ']'");
    expect_fail(f, "{\"a\" 1}", "expected ':'");
    expect_fail(f, "{a: 1}", "expected a string key");
    expect_fail(f, "{} {}", "unexpected data after the JSON value");
    expect_fail(f, "01", "leading zero");
    expect_fail(f, "1.", "invalid number");
    expect_fail(f, "tru", "invalid literal");
    expect_fail(f, "\"a\tb\"", "control character");
    expect_fail(f, "\"\\x\"", "invalid escape");
    expect_fail(f, "\"\\u12G4\"", "invalid \\u escape");
    expect_fail(f, "\"\xC0\xAF\"", "invalid UTF-8");   /* overlong */
    expect_fail(f, "\"\xED\xA0\x80\"", "invalid UTF-8"); /* surrogate */
    expect_fail(f, "// c\n{}", "unexpected character");
    expect_fail(f, "[1] x", "at byte 4");

    /* Nesting: 512 levels are fine, 513 are not. */
    char deep[2 * 513 + 1];
    for (int depth = 512; depth <= 513; depth++) {
        memset(deep, '[', (size_t)depth);
        memset(deep + depth, ']', (size_t)depth);
        deep[2 * depth] = '\0';
        if (depth == 512)
            expect_out(f, deep, deep);
        else
            expect_fail(f, deep, "nested too deeply");
    }

    /* An embedded NUL is not the end of the text. */
    struct llm_step *s = mk(f);
    char *out = NULL, *msg = NULL;
    size_t len = 0;
    assert_int_equal(llm_step_run(s, "{}\0{", 4, &out, &len, &msg), LLM_ERR_PARSE);
    assert_null(out);
    free(msg);
    llm_step_free(s);
}

/* ---- custom steps ---------------------------------------------------------------------- */

static enum llm_error upper_fn(void *user, const char *in, size_t in_len, char **out,
                               size_t *out_len, char **err_msg)
{
    (void)err_msg;
    int *calls = user;
    (*calls)++;
    char *o = malloc(in_len + 1);
    if (o == NULL)
        return LLM_ERR_OUT_OF_MEMORY;
    for (size_t i = 0; i < in_len; i++)
        o[i] = (char)(in[i] >= 'a' && in[i] <= 'z' ? in[i] - 32 : in[i]);
    o[in_len] = '\0';
    *out = o;
    *out_len = in_len;
    return LLM_OK;
}

static enum llm_error refuse_fn(void *user, const char *in, size_t in_len, char **out,
                                size_t *out_len, char **err_msg)
{
    (void)user, (void)in, (void)in_len, (void)out, (void)out_len;
    *err_msg = strdup("schema mismatch: field 'x' missing");
    return LLM_ERR_PARSE;
}

static enum llm_error broken_fn(void *user, const char *in, size_t in_len, char **out,
                                size_t *out_len, char **err_msg)
{
    (void)user, (void)in, (void)in_len, (void)out, (void)out_len, (void)err_msg;
    return LLM_OK; /* success without output: breaks the contract */
}

static enum llm_error sloppy_fn(void *user, const char *in, size_t in_len, char **out,
                                size_t *out_len, char **err_msg)
{
    (void)user, (void)in, (void)in_len, (void)out_len, (void)err_msg;
    *out = strdup("left behind"); /* fails but leaves output: must not leak */
    return LLM_ERR_INTERNAL;
}

static void custom_steps_run_user_functions_with_their_pointer(void **state)
{
    (void)state;
    int calls = 0;
    struct llm_step *s = NULL;
    assert_int_equal(llm_step_new_custom("upper", upper_fn, &calls, &s), LLM_OK);
    assert_string_equal(llm_step_name(s), "upper");
    char *out = NULL, *msg = NULL;
    size_t len = 0;
    assert_int_equal(llm_step_run(s, "abc1", 4, &out, &len, &msg), LLM_OK);
    assert_string_equal(out, "ABC1");
    assert_int_equal(calls, 1);
    free(out);
    llm_step_free(s);

    assert_int_equal(llm_step_new_custom(NULL, broken_fn, NULL, &s), LLM_OK);
    assert_string_equal(llm_step_name(s), "custom");
    assert_int_equal(llm_step_run(s, "x", 1, &out, &len, &msg), LLM_ERR_INTERNAL);
    assert_null(out);
    assert_non_null(strstr(msg, "without output"));
    free(msg);
    llm_step_free(s);

    assert_int_equal(llm_step_new_custom("sloppy", sloppy_fn, NULL, &s), LLM_OK);
    assert_int_equal(llm_step_run(s, "x", 1, &out, &len, &msg), LLM_ERR_INTERNAL);
    assert_null(out);
    llm_step_free(s);

    assert_int_equal(llm_step_new_custom("x", NULL, NULL, &s), LLM_ERR_INVALID_ARGUMENT);
    assert_null(s);
    assert_int_equal(llm_step_run(NULL, "x", 1, &out, &len, &msg), LLM_ERR_INVALID_ARGUMENT);
    llm_step_free(NULL);
}

/* ---- pipelines -------------------------------------------------------------------------- */

static void pipeline_runs_steps_in_order_and_records_each(void **state)
{
    (void)state;
    int64_t clock = 1000;
    struct llm_step *steps[] = {mk(llm_step_new_strip_reasoning), mk(llm_step_new_extract_json),
                                mk(llm_step_new_validate_json), mk(llm_step_new_trim)};
    struct llm_pipeline *p = pipeline(LLM_PIPELINE_DEGRADE, &clock, steps, 4);
    static const char raw[] = "<think>plan</think>Sure!\n```json\n{\"ok\": true}\n```\n";
    struct llm_result *r = ok_result(raw);

    assert_int_equal(llm_pipeline_run(p, r), LLM_OK);
    assert_true(r->success);
    assert_string_equal(r->content, "{\"ok\": true}");
    assert_int_equal(r->content_len, strlen("{\"ok\": true}"));
    assert_int_equal(r->n_pipeline, 4);
    static const char *const names[] = {"strip_reasoning", "extract_json", "validate_json",
                                        "trim"};
    size_t in = strlen(raw);
    for (size_t i = 0; i < 4; i++) {
        const struct llm_step_result *sr = &r->pipeline[i];
        assert_string_equal(sr->name, names[i]);
        assert_true(sr->success);
        assert_null(sr->error);
        assert_int_equal(sr->duration_us, 10); /* one fake tick per step */
        assert_int_equal(sr->bytes_in, in);
        in = sr->bytes_out;
    }
    assert_int_equal(r->pipeline[0].bytes_out, strlen(raw) - strlen("<think>plan</think>"));
    assert_int_equal(r->pipeline[3].bytes_out, strlen("{\"ok\": true}"));
    /* Timestamps from the same clock: started before, ended after. */
    assert_int_equal(r->timestamps[LLM_TS_POSTPROCESS_STARTED], 1010);
    assert_int_equal(r->timestamps[LLM_TS_POSTPROCESS_ENDED], 1100);
    llm_result_free(r);
    llm_pipeline_free(p);
}

static void degrade_keeps_the_previous_output_and_records_the_failure(void **state)
{
    (void)state;
    struct llm_step *steps[] = {mk(llm_step_new_trim), mk(llm_step_new_extract_json),
                                mk(llm_step_new_validate_json)};
    struct llm_pipeline *p = pipeline(LLM_PIPELINE_DEGRADE, NULL, steps, 3);
    struct llm_result *r = ok_result("  I'm sorry, I can't produce JSON.  ");

    assert_int_equal(llm_pipeline_run(p, r), LLM_OK);
    assert_true(r->success);                   /* partial success beats failure */
    assert_int_equal(r->error.type, LLM_OK);
    assert_string_equal(r->content, "I'm sorry, I can't produce JSON."); /* trim's output */
    assert_int_equal(r->n_pipeline, 3);
    assert_true(r->pipeline[0].success);
    assert_false(r->pipeline[1].success);
    assert_non_null(strstr(r->pipeline[1].error, "no JSON found"));
    assert_int_equal(r->pipeline[1].bytes_out, 0);
    /* The next step ran on the last good output. */
    assert_false(r->pipeline[2].success);
    assert_int_equal(r->pipeline[2].bytes_in, strlen("I'm sorry, I can't produce JSON."));
    assert_true(r->pipeline[0].duration_us >= 0);
    assert_true(r->timestamps[LLM_TS_POSTPROCESS_ENDED] >=
                r->timestamps[LLM_TS_POSTPROCESS_STARTED]);
    assert_true(r->timestamps[LLM_TS_POSTPROCESS_STARTED] > 0);
    llm_result_free(r);
    llm_pipeline_free(p);
}

static void fail_result_policy_fails_the_result_and_keeps_the_raw_output(void **state)
{
    (void)state;
    int calls = 0;
    struct llm_step *upper = NULL, *refuse = NULL, *after = NULL;
    assert_int_equal(llm_step_new_custom("upper", upper_fn, &calls, &upper), LLM_OK);
    assert_int_equal(llm_step_new_custom("schema", refuse_fn, NULL, &refuse), LLM_OK);
    assert_int_equal(llm_step_new_custom("after", upper_fn, &calls, &after), LLM_OK);
    struct llm_step *steps[] = {upper, refuse, after};
    struct llm_pipeline *p = pipeline(LLM_PIPELINE_FAIL_RESULT, NULL, steps, 3);
    struct llm_result *r = ok_result("raw text");
    r->error.http_status = 200;

    assert_int_equal(llm_pipeline_run(p, r), LLM_ERR_PARSE);
    assert_false(r->success);
    assert_int_equal(r->error.type, LLM_ERR_PARSE);
    assert_false(r->error.retryable);
    assert_non_null(strstr(r->error.message, "'schema'"));
    assert_non_null(strstr(r->error.message, "field 'x' missing"));
    assert_string_equal(r->content, "raw text"); /* not "RAW TEXT" */
    assert_int_equal(r->n_pipeline, 2);           /* "after" never ran */
    assert_int_equal(calls, 1);
    assert_true(r->pipeline[0].success);
    assert_false(r->pipeline[1].success);
    assert_string_equal(r->pipeline[1].error, "schema mismatch: field 'x' missing");
    assert_true(r->timestamps[LLM_TS_POSTPROCESS_ENDED] > 0);
    llm_result_free(r);
    llm_pipeline_free(p);
}

static void pipeline_leaves_failed_results_alone(void **state)
{
    (void)state;
    struct llm_step *steps[] = {mk(llm_step_new_trim)};
    struct llm_pipeline *p = pipeline(LLM_PIPELINE_FAIL_RESULT, NULL, steps, 1);
    struct llm_result *r = ok_result("  x ");
    r->success = false;
    r->error.type = LLM_ERR_TIMEOUT;
    assert_int_equal(llm_pipeline_run(p, r), LLM_OK);
    assert_string_equal(r->content, "  x ");
    assert_int_equal(r->n_pipeline, 0);
    assert_int_equal(r->timestamps[LLM_TS_POSTPROCESS_STARTED], 0);
    assert_int_equal(r->error.type, LLM_ERR_TIMEOUT);
    llm_result_free(r);
    llm_pipeline_free(p);
}

static void pipeline_construction_checks_its_arguments(void **state)
{
    (void)state;
    struct llm_pipeline *p = NULL;
    struct llm_step *t = mk(llm_step_new_trim);
    struct llm_step *twice[] = {t, t};
    assert_int_equal(llm_pipeline_new(NULL, twice, 2, &p), LLM_ERR_INVALID_ARGUMENT);
    assert_null(p);
    struct llm_step *with_null[] = {t, NULL};
    assert_int_equal(llm_pipeline_new(NULL, with_null, 2, &p), LLM_ERR_INVALID_ARGUMENT);
    struct llm_pipeline_options bad = {.policy = (enum llm_pipeline_policy)7};
    assert_int_equal(llm_pipeline_new(&bad, &t, 1, &p), LLM_ERR_INVALID_ARGUMENT);
    assert_int_equal(llm_pipeline_new(NULL, NULL, 1, &p), LLM_ERR_INVALID_ARGUMENT);
    /* Still ours after every failure. */
    llm_step_free(t);

    /* An empty pipeline only stamps the timestamps. */
    assert_int_equal(llm_pipeline_new(NULL, NULL, 0, &p), LLM_OK);
    struct llm_result *r = ok_result("same");
    assert_int_equal(llm_pipeline_run(p, r), LLM_OK);
    assert_string_equal(r->content, "same");
    assert_true(r->timestamps[LLM_TS_POSTPROCESS_STARTED] > 0);
    assert_int_equal(llm_pipeline_run(NULL, r), LLM_ERR_INVALID_ARGUMENT);
    assert_int_equal(llm_pipeline_run(p, NULL), LLM_ERR_INVALID_ARGUMENT);
    llm_result_free(r);
    llm_pipeline_free(p);
    llm_pipeline_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(trim_removes_whitespace_at_both_ends_only),
        cmocka_unit_test(strip_reasoning_removes_think_and_thinking_blocks),
        cmocka_unit_test(strip_reasoning_handles_a_missing_opening_tag),
        cmocka_unit_test(strip_reasoning_of_an_unterminated_block_keeps_the_answer_before_it),
        cmocka_unit_test(extract_json_prefers_a_json_fence),
        cmocka_unit_test(extract_json_falls_back_to_the_first_balanced_value),
        cmocka_unit_test(extract_json_fails_when_there_is_no_json),
        cmocka_unit_test(validate_json_accepts_exactly_one_json_value),
        cmocka_unit_test(validate_json_rejects_invalid_text_with_position_and_reason),
        cmocka_unit_test(custom_steps_run_user_functions_with_their_pointer),
        cmocka_unit_test(pipeline_runs_steps_in_order_and_records_each),
        cmocka_unit_test(degrade_keeps_the_previous_output_and_records_the_failure),
        cmocka_unit_test(fail_result_policy_fails_the_result_and_keeps_the_raw_output),
        cmocka_unit_test(pipeline_leaves_failed_results_alone),
        cmocka_unit_test(pipeline_construction_checks_its_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
