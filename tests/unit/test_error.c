/* Error taxonomy: every value has a name and a message, the retryable set is
 * exactly the documented one, and anything out of range degrades safely. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "llmorch/error.h"

static void every_error_value_has_a_distinct_upper_case_name(void **state)
{
    (void)state;
    for (int i = 0; i < LLM_ERROR_COUNT; i++) {
        const char *name = llm_error_name((enum llm_error)i);
        assert_non_null(name);
        assert_true(strlen(name) > 0);
        assert_string_not_equal(name, "UNKNOWN");
        for (const char *c = name; *c != '\0'; c++)
            assert_true((*c >= 'A' && *c <= 'Z') || *c == '_');
        for (int k = 0; k < i; k++)
            assert_string_not_equal(name, llm_error_name((enum llm_error)k));
    }
}

static void every_error_value_has_a_message(void **state)
{
    (void)state;
    for (int i = 0; i < LLM_ERROR_COUNT; i++) {
        const char *msg = llm_strerror((enum llm_error)i);
        assert_non_null(msg);
        assert_true(strlen(msg) > 0);
        assert_string_not_equal(msg, "unknown error");
    }
}

static void error_names_match_the_json_spelling(void **state)
{
    (void)state;
    assert_string_equal(llm_error_name(LLM_OK), "OK");
    assert_string_equal(llm_error_name(LLM_ERR_RATE_LIMITED), "RATE_LIMITED");
    assert_string_equal(llm_error_name(LLM_ERR_INSUFFICIENT_QUOTA), "INSUFFICIENT_QUOTA");
    assert_string_equal(llm_error_name(LLM_ERR_CONTEXT_LENGTH_EXCEEDED), "CONTEXT_LENGTH_EXCEEDED");
    assert_string_equal(llm_error_name(LLM_ERR_RETRY_BUDGET_EXHAUSTED), "RETRY_BUDGET_EXHAUSTED");
    assert_string_equal(llm_error_name(LLM_ERR_SERVER_WAIT_TOO_LONG), "SERVER_WAIT_TOO_LONG");
    assert_string_equal(llm_error_name(LLM_ERR_LIMITER_UNAVAILABLE), "LIMITER_UNAVAILABLE");
    assert_false(llm_error_is_retryable(LLM_ERR_LIMITER_UNAVAILABLE));
    assert_string_equal(llm_strerror(LLM_ERR_RATE_LIMITED), "rate limited");
}

static void exactly_transient_errors_are_retryable(void **state)
{
    (void)state;
    for (int i = 0; i < LLM_ERROR_COUNT; i++) {
        enum llm_error e = (enum llm_error)i;
        bool want = e == LLM_ERR_RATE_LIMITED || e == LLM_ERR_OVERLOADED ||
                    e == LLM_ERR_SERVER_ERROR || e == LLM_ERR_TIMEOUT || e == LLM_ERR_CONNECTION;
        assert_int_equal(llm_error_is_retryable(e), want);
    }
    /* Billing problems never get better by retrying. */
    assert_false(llm_error_is_retryable(LLM_ERR_INSUFFICIENT_QUOTA));
}

static void out_of_range_errors_are_unknown_and_not_retryable(void **state)
{
    (void)state;
    const int bad[] = {LLM_ERROR_COUNT, LLM_ERROR_COUNT + 1, 1000, -1, INT32_MIN, INT32_MAX};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        enum llm_error e = (enum llm_error)bad[i];
        assert_string_equal(llm_strerror(e), "unknown error");
        assert_string_equal(llm_error_name(e), "UNKNOWN");
        assert_false(llm_error_is_retryable(e));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_error_value_has_a_distinct_upper_case_name),
        cmocka_unit_test(every_error_value_has_a_message),
        cmocka_unit_test(error_names_match_the_json_spelling),
        cmocka_unit_test(exactly_transient_errors_are_retryable),
        cmocka_unit_test(out_of_range_errors_are_unknown_and_not_retryable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
