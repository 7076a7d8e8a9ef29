/* The retry plan (src/retry/plan.h): the one place that decides whether a
 * failed attempt is retried, after how long, or with which final error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "llmorch/ext/backoff.h"
#include "retry/plan.h"

/* A backoff that answers 100 ms * attempt, up to attempt 5, then stops. */
static int64_t linear(const void *impl, unsigned attempt, int64_t prev, llm_rand_fn *rand_fn,
                      void *rand_user)
{
    (void)impl, (void)prev, (void)rand_fn, (void)rand_user;
    return attempt <= 5 ? (int64_t)attempt * 100 : -1;
}

static void strategy(struct llm__retry_strategy *s, unsigned max_attempts, int64_t budget)
{
    memset(s, 0, sizeof(*s));
    s->policy.max_attempts = max_attempts;
    s->policy.max_server_wait_ms = 60000;
    s->rng = 1;
    static const struct llm_backoff_vtable vt = {.next_delay_ms = linear};
    assert_int_equal(llm_backoff_new(&vt, NULL, "linear", &s->backoff), LLM_OK);
    if (budget > 0) {
        struct llm_retry_budget_options bo = {.capacity = budget};
        assert_int_equal(llm_retry_budget_new(&bo, &s->budget), LLM_OK);
    }
}

static struct llm__retry_input failure(enum llm_error err, int status)
{
    static const struct llm_http_headers none = {NULL, 0};
    return (struct llm__retry_input){.attempt = 1, .err = err, .message = "boom",
                                     .status = status, .headers = &none,
                                     .server_wait_ms = -1, .now_mono_us = 1000000};
}

static void x_should_retry_is_read_only_as_exactly_true_or_false(void **state)
{
    (void)state;
    static const struct { const char *value; int want; } cases[] = {
        {"true", 1},  {"TRUE", 1},   {" true\t", 1}, {"false", 0},  {" False ", 0},
        {"trueish", -1}, {"falsey", -1}, {"t", -1},  {"", -1},      {"1", -1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct llm_header h = {(char *)"X-Should-Retry", (char *)cases[i].value};
        struct llm_http_headers hs = {&h, 1};
        if (llm__should_retry(&hs) != cases[i].want)
            fail_msg("\"%s\": got %d, want %d", cases[i].value, llm__should_retry(&hs),
                     cases[i].want);
    }
    struct llm_http_headers none = {NULL, 0};
    assert_int_equal(llm__should_retry(&none), -1);
}

static void a_trueish_header_does_not_make_a_final_error_retryable(void **state)
{
    (void)state;
    struct llm__retry_strategy s;
    strategy(&s, 3, 0);
    struct llm_header h = {(char *)"x-should-retry", (char *)"trueish"};
    struct llm_http_headers hs = {&h, 1};
    struct llm__retry_input in = failure(LLM_ERR_INVALID_REQUEST, 400);
    in.headers = &hs;
    struct llm__retry_plan p;
    llm__retry_plan(&s, &in, &p);
    assert_int_equal(p.verdict, LLM_VERDICT_STOP_NOT_RETRYABLE);
    assert_false(p.retryable);
    assert_int_equal(p.final_error, LLM_ERR_INVALID_REQUEST);
    free(p.final_message);

    h.value = (char *)"true";
    llm__retry_plan(&s, &in, &p);
    assert_int_equal(p.verdict, LLM_VERDICT_RETRY);
    assert_int_equal(p.delay_ms, 100);
    assert_false(p.server_directed);
    llm__retry_strategy_clear(&s);
}

static void the_server_wait_replaces_the_backoff(void **state)
{
    (void)state;
    struct llm__retry_strategy s;
    strategy(&s, 3, 0);
    struct llm__retry_input in = failure(LLM_ERR_RATE_LIMITED, 429);
    in.server_wait_ms = 2500;
    struct llm__retry_plan p;
    llm__retry_plan(&s, &in, &p);
    assert_int_equal(p.verdict, LLM_VERDICT_RETRY);
    assert_int_equal(p.delay_ms, 2500);
    assert_true(p.server_directed);
    assert_true(p.retryable);
    assert_null(p.final_message);
    llm__retry_strategy_clear(&s);
}

static void a_wait_past_the_deadline_ends_the_request_with_deadline_exceeded(void **state)
{
    (void)state;
    struct llm__retry_strategy s;
    strategy(&s, 3, 0);
    struct llm__retry_input in = failure(LLM_ERR_SERVER_ERROR, 500);
    in.attempt = 2;                                   /* backoff answers 200 ms */
    in.deadline_mono_us = in.now_mono_us + 150 * 1000; /* ... but 150 ms are left */
    struct llm__retry_plan p;
    llm__retry_plan(&s, &in, &p);
    assert_int_not_equal(p.verdict, LLM_VERDICT_RETRY);
    assert_int_equal(p.final_error, LLM_ERR_DEADLINE_EXCEEDED);
    assert_false(p.retryable);
    assert_non_null(p.final_message);
    assert_non_null(strstr(p.final_message, "200 ms wait before attempt 3; last error: boom"));
    free(p.final_message);

    in.deadline_mono_us = in.now_mono_us + 250 * 1000;
    llm__retry_plan(&s, &in, &p);
    assert_int_equal(p.verdict, LLM_VERDICT_RETRY);
    assert_int_equal(p.delay_ms, 200);
    llm__retry_strategy_clear(&s);
}

static void an_empty_budget_ends_the_request_with_retry_budget_exhausted(void **state)
{
    (void)state;
    struct llm__retry_strategy s;
    strategy(&s, 10, 10); /* two retries at 5 each */
    struct llm__retry_input in = failure(LLM_ERR_OVERLOADED, 503);
    struct llm__retry_plan p;
    for (int i = 0; i < 2; i++) {
        llm__retry_plan(&s, &in, &p);
        assert_int_equal(p.verdict, LLM_VERDICT_RETRY);
    }
    llm__retry_plan(&s, &in, &p);
    assert_int_equal(p.final_error, LLM_ERR_RETRY_BUDGET_EXHAUSTED);
    assert_false(p.retryable);
    assert_non_null(strstr(p.final_message, "retry budget exhausted (0 left)"));
    free(p.final_message);
    llm__retry_success(&s); /* a success puts one token back: still not enough */
    llm__retry_plan(&s, &in, &p);
    assert_int_equal(p.final_error, LLM_ERR_RETRY_BUDGET_EXHAUSTED);
    free(p.final_message);
    llm__retry_strategy_clear(&s);
}

static void streamed_text_already_delivered_is_never_retried(void **state)
{
    (void)state;
    struct llm__retry_strategy s;
    strategy(&s, 3, 0);
    struct llm__retry_input in = failure(LLM_ERR_CONNECTION, 0);
    in.delivered_delta = true;
    struct llm__retry_plan p;
    llm__retry_plan(&s, &in, &p);
    assert_int_equal(p.verdict, LLM_VERDICT_STOP_NOT_RETRYABLE);
    assert_int_equal(p.final_error, LLM_ERR_CONNECTION);
    assert_false(p.retryable);
    assert_null(p.final_message);
    llm__retry_strategy_clear(&s);
}

static void a_server_wait_over_the_cap_says_so_in_the_message(void **state)
{
    (void)state;
    struct llm__retry_strategy s;
    strategy(&s, 3, 0);
    struct llm__retry_input in = failure(LLM_ERR_RATE_LIMITED, 429);
    in.server_wait_ms = 90000;
    struct llm__retry_plan p;
    llm__retry_plan(&s, &in, &p);
    assert_int_equal(p.verdict, LLM_VERDICT_STOP_SERVER_WAIT_TOO_LONG);
    assert_int_equal(p.final_error, LLM_ERR_RATE_LIMITED);
    assert_true(p.retryable);
    assert_string_equal(p.final_message,
                        "boom (server asked to wait 90000 ms, above max_server_wait_ms 60000)");
    free(p.final_message);
    llm__retry_strategy_clear(&s);
}

static void a_backoff_that_gives_up_leaves_the_attempts_error(void **state)
{
    (void)state;
    struct llm__retry_strategy s;
    strategy(&s, 100, 0);
    struct llm__retry_input in = failure(LLM_ERR_TIMEOUT, 0);
    in.attempt = 6; /* the backoff stops after 5 */
    struct llm__retry_plan p;
    llm__retry_plan(&s, &in, &p);
    assert_int_not_equal(p.verdict, LLM_VERDICT_RETRY);
    assert_int_equal(p.final_error, LLM_ERR_TIMEOUT);
    assert_true(p.retryable);
    assert_null(p.final_message);
    llm__retry_strategy_clear(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(x_should_retry_is_read_only_as_exactly_true_or_false),
        cmocka_unit_test(a_trueish_header_does_not_make_a_final_error_retryable),
        cmocka_unit_test(the_server_wait_replaces_the_backoff),
        cmocka_unit_test(a_wait_past_the_deadline_ends_the_request_with_deadline_exceeded),
        cmocka_unit_test(an_empty_budget_ends_the_request_with_retry_budget_exhausted),
        cmocka_unit_test(streamed_text_already_delivered_is_never_retried),
        cmocka_unit_test(a_server_wait_over_the_cap_says_so_in_the_message),
        cmocka_unit_test(a_backoff_that_gives_up_leaves_the_attempts_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
