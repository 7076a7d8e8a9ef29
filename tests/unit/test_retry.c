/* Retry budget, Retry-After parsing and the retry decision. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "llmorch/ext/retry.h"

/* ---- budget ------------------------------------------------------------------ */

static struct llm_retry_budget *budget(const struct llm_retry_budget_options *o)
{
    struct llm_retry_budget *b = NULL;
    assert_int_equal(llm_retry_budget_new(o, &b), LLM_OK);
    assert_non_null(b);
    return b;
}

static void budget_allows_100_retries_from_500_then_refuses(void **state)
{
    (void)state;
    struct llm_retry_budget *b = budget(NULL);
    assert_int_equal(llm_retry_budget_available(b), 500);
    for (int i = 0; i < 100; i++)
        assert_true(llm_retry_budget_try_spend(b, LLM_ERR_RATE_LIMITED));
    assert_int_equal(llm_retry_budget_available(b), 0);
    assert_false(llm_retry_budget_try_spend(b, LLM_ERR_SERVER_ERROR));
    assert_int_equal(llm_retry_budget_available(b), 0);
    llm_retry_budget_free(b);
}

static void budget_charges_10_for_a_retry_after_a_timeout(void **state)
{
    (void)state;
    struct llm_retry_budget *b = budget(NULL);
    for (int i = 0; i < 50; i++)
        assert_true(llm_retry_budget_try_spend(b, LLM_ERR_TIMEOUT));
    assert_false(llm_retry_budget_try_spend(b, LLM_ERR_TIMEOUT));
    llm_retry_budget_free(b);

    b = budget(NULL);
    assert_true(llm_retry_budget_try_spend(b, LLM_ERR_TIMEOUT));
    assert_int_equal(llm_retry_budget_available(b), 490);
    assert_true(llm_retry_budget_try_spend(b, LLM_ERR_CONNECTION));
    assert_int_equal(llm_retry_budget_available(b), 485);
    llm_retry_budget_free(b);
}

static void budget_refusal_debits_nothing(void **state)
{
    (void)state;
    struct llm_retry_budget_options o = {.capacity = 13};
    struct llm_retry_budget *b = budget(&o);
    assert_true(llm_retry_budget_try_spend(b, LLM_ERR_OVERLOADED)); /* 8 */
    assert_false(llm_retry_budget_try_spend(b, LLM_ERR_TIMEOUT));   /* needs 10 */
    assert_int_equal(llm_retry_budget_available(b), 8);
    assert_true(llm_retry_budget_try_spend(b, LLM_ERR_OVERLOADED)); /* 3 */
    assert_false(llm_retry_budget_try_spend(b, LLM_ERR_OVERLOADED));
    assert_int_equal(llm_retry_budget_available(b), 3);
    llm_retry_budget_free(b);
}

static void budget_success_refunds_one_and_never_exceeds_capacity(void **state)
{
    (void)state;
    struct llm_retry_budget *b = budget(NULL);
    for (int i = 0; i < 10; i++)
        llm_retry_budget_refund_success(b);
    assert_int_equal(llm_retry_budget_available(b), 500);
    for (int i = 0; i < 100; i++)
        assert_true(llm_retry_budget_try_spend(b, LLM_ERR_RATE_LIMITED));
    /* Five successes pay for one more retry. */
    for (int i = 0; i < 4; i++)
        llm_retry_budget_refund_success(b);
    assert_false(llm_retry_budget_try_spend(b, LLM_ERR_RATE_LIMITED));
    llm_retry_budget_refund_success(b);
    assert_true(llm_retry_budget_try_spend(b, LLM_ERR_RATE_LIMITED));
    for (int i = 0; i < 1000; i++)
        llm_retry_budget_refund_success(b);
    assert_int_equal(llm_retry_budget_available(b), 500);
    llm_retry_budget_free(b);
}

static void budget_costs_are_configurable(void **state)
{
    (void)state;
    struct llm_retry_budget_options o = {
        .capacity = 20, .retry_cost = 2, .timeout_retry_cost = 7, .success_refund = 3};
    struct llm_retry_budget *b = budget(&o);
    assert_true(llm_retry_budget_try_spend(b, LLM_ERR_TIMEOUT));
    assert_int_equal(llm_retry_budget_available(b), 13);
    assert_true(llm_retry_budget_try_spend(b, LLM_ERR_RATE_LIMITED));
    assert_int_equal(llm_retry_budget_available(b), 11);
    llm_retry_budget_refund_success(b);
    assert_int_equal(llm_retry_budget_available(b), 14);
    llm_retry_budget_free(b);

    /* Refunds near INT64_MAX saturate at capacity. */
    o = (struct llm_retry_budget_options){.capacity = INT64_MAX, .success_refund = INT64_MAX};
    b = budget(&o);
    assert_true(llm_retry_budget_try_spend(b, LLM_ERR_RATE_LIMITED));
    llm_retry_budget_refund_success(b);
    assert_int_equal(llm_retry_budget_available(b), INT64_MAX);
    llm_retry_budget_free(b);
}

static void budget_rejects_negative_options_and_tolerates_null(void **state)
{
    (void)state;
    struct llm_retry_budget *b = (struct llm_retry_budget *)1;
    struct llm_retry_budget_options o = {.retry_cost = -1};
    assert_int_equal(llm_retry_budget_new(&o, &b), LLM_ERR_INVALID_ARGUMENT);
    assert_null(b);
    o = (struct llm_retry_budget_options){.capacity = -5};
    assert_int_equal(llm_retry_budget_new(&o, &b), LLM_ERR_INVALID_ARGUMENT);
    assert_int_equal(llm_retry_budget_new(NULL, NULL), LLM_ERR_INVALID_ARGUMENT);
    assert_true(llm_retry_budget_try_spend(NULL, LLM_ERR_TIMEOUT));
    llm_retry_budget_refund_success(NULL);
    assert_int_equal(llm_retry_budget_available(NULL), 0);
    llm_retry_budget_free(NULL);
}

/* ---- Retry-After ------------------------------------------------------------ */

#define NOW 1445412480000LL /* Wed, 21 Oct 2015 07:28:00 GMT, in ms */

static void retry_after_ms_is_read_as_fractional_milliseconds(void **state)
{
    (void)state;
    assert_int_equal(llm_parse_retry_after_ms("1500", NULL, NOW), 1500);
    assert_int_equal(llm_parse_retry_after_ms("20.5", NULL, NOW), 21);
    assert_int_equal(llm_parse_retry_after_ms("20.000", NULL, NOW), 20);
    assert_int_equal(llm_parse_retry_after_ms("0.001", NULL, NOW), 1);
    assert_int_equal(llm_parse_retry_after_ms(" \t7 ", NULL, NOW), 7);
    assert_int_equal(llm_parse_retry_after_ms("0", NULL, NOW), 0);
    assert_int_equal(llm_parse_retry_after_ms(".5", NULL, NOW), 1);
}

static void retry_after_ms_is_preferred_over_retry_after(void **state)
{
    (void)state;
    assert_int_equal(llm_parse_retry_after_ms("250", "30", NOW), 250);
    assert_int_equal(llm_parse_retry_after_ms("250", "Wed, 21 Oct 2015 07:29:00 GMT", NOW), 250);
    /* A garbage retry-after-ms falls back to retry-after. */
    assert_int_equal(llm_parse_retry_after_ms("soon", "2", NOW), 2000);
    assert_int_equal(llm_parse_retry_after_ms("", "2", NOW), 2000);
}

static void retry_after_seconds_may_be_integer_or_decimal(void **state)
{
    (void)state;
    assert_int_equal(llm_parse_retry_after_ms(NULL, "30", NOW), 30000);
    assert_int_equal(llm_parse_retry_after_ms(NULL, "1.5", NOW), 1500);
    assert_int_equal(llm_parse_retry_after_ms(NULL, "0.0001", NOW), 1);
    assert_int_equal(llm_parse_retry_after_ms(NULL, "0.1234567891", NOW), 124);
    assert_int_equal(llm_parse_retry_after_ms(NULL, "2.0000000000001", NOW), 2001);
    assert_int_equal(llm_parse_retry_after_ms(NULL, "0", NOW), 0);
    assert_int_equal(llm_parse_retry_after_ms(NULL, "007", NOW), 7000);
    assert_int_equal(llm_parse_retry_after_ms(NULL, " 12 ", NOW), 12000);
}

static void negative_waits_mean_retry_now(void **state)
{
    (void)state;
    assert_int_equal(llm_parse_retry_after_ms("-3", NULL, NOW), 0);
    assert_int_equal(llm_parse_retry_after_ms(NULL, "-5", NOW), 0);
    assert_int_equal(llm_parse_retry_after_ms(NULL, "-1.5", NOW), 0);
}

static void an_http_date_in_the_future_gives_the_time_until_it(void **state)
{
    (void)state;
    /* IMF-fixdate, the form servers send. */
    assert_int_equal(llm_parse_retry_after_ms(NULL, "Wed, 21 Oct 2015 07:28:00 GMT", NOW - 5000),
                     5000);
    assert_int_equal(llm_parse_retry_after_ms(NULL, "Wed, 21 Oct 2015 07:28:07 GMT", NOW), 7000);
    assert_int_equal(llm_parse_retry_after_ms(NULL, "Thu, 22 Oct 2015 07:28:00 GMT", NOW),
                     86400000);
    /* Sub-second wall clocks count too. */
    assert_int_equal(llm_parse_retry_after_ms(NULL, "Wed, 21 Oct 2015 07:28:01 GMT", NOW + 250),
                     750);
    /* The obsolete forms a recipient must still accept. */
    assert_int_equal(llm_parse_retry_after_ms(NULL, "Wednesday, 21-Oct-15 07:28:30 GMT", NOW),
                     30000);
    assert_int_equal(llm_parse_retry_after_ms(NULL, "Wed Oct 21 07:28:30 2015", NOW), 30000);
    assert_int_equal(llm_parse_retry_after_ms(NULL, "Sun Nov  6 08:49:37 1994", 784111777000LL - 1),
                     1);
    /* Names are matched without regard to case; a leap day is a day. */
    assert_int_equal(llm_parse_retry_after_ms(NULL, "THU, 29 FEB 2024 23:59:59 gmt",
                                              1709251199000LL - 42),
                     42);
}

static void an_http_date_in_the_past_means_retry_now(void **state)
{
    (void)state;
    assert_int_equal(llm_parse_retry_after_ms(NULL, "Wed, 21 Oct 2015 07:27:59 GMT", NOW), 0);
    assert_int_equal(llm_parse_retry_after_ms(NULL, "Sun, 06 Nov 1994 08:49:37 GMT", NOW), 0);
    assert_int_equal(llm_parse_retry_after_ms(NULL, "Wed, 21 Oct 2015 07:28:00 GMT", NOW), 0);
}

static void garbage_gives_minus_one(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "", "   ", "soon", "1e3", "12abc", "0x10", "1,5", "1.2.3", ".", "-", "+", "- 5",
        "inf", "nan", "3 seconds",
        "Wed, 32 Oct 2015 07:28:00 GMT",  /* no 32nd */
        "Sun, 29 Feb 2015 07:28:00 GMT",  /* not a leap year */
        "Wed, 21 Oct 2015 24:00:00 GMT",  /* no hour 24 */
        "Wed, 21 Oct 2015 07:28:00 UTC",  /* HTTP dates are GMT */
        "Wed, 21 Oct 2015 07:28:00",      /* no zone */
        "Wed, 21 Foo 2015 07:28:00 GMT",  /* no month Foo */
        "Xyz, 21 Oct 2015 07:28:00 GMT",  /* no day Xyz */
        "Wed, 21 Oct 2015 07:28:00 GMT junk",
        "Wed, 1 Oct 2015 07:28:00 GMT",   /* IMF-fixdate days have two digits */
        "2015-10-21T07:28:00Z",           /* not an HTTP-date */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (llm_parse_retry_after_ms(NULL, bad[i], NOW) != -1)
            fail_msg("\"%s\" was accepted", bad[i]);
        if (llm_parse_retry_after_ms(bad[i], NULL, NOW) != -1)
            fail_msg("\"%s\" was accepted as retry-after-ms", bad[i]);
    }
    assert_int_equal(llm_parse_retry_after_ms(NULL, NULL, NOW), -1);
    assert_int_equal(llm_parse_retry_after_ms("junk", "junk", NOW), -1);
}

static void absurd_waits_are_clamped_to_a_day(void **state)
{
    (void)state;
    const int64_t day = LLM_RETRY_AFTER_MAX_MS;
    assert_int_equal(day, 86400000);
    assert_int_equal(llm_parse_retry_after_ms("99999999999999999999999999", NULL, NOW), day);
    assert_int_equal(llm_parse_retry_after_ms("86400001", NULL, NOW), day);
    assert_int_equal(llm_parse_retry_after_ms("86400000", NULL, NOW), day);
    assert_int_equal(llm_parse_retry_after_ms(NULL, "86400", NOW), day);
    assert_int_equal(llm_parse_retry_after_ms(NULL, "86400.001", NOW), day);
    assert_int_equal(llm_parse_retry_after_ms(NULL, "1e999", NOW), -1);
    assert_int_equal(llm_parse_retry_after_ms(NULL, "9223372036854775808", NOW), day);
    assert_int_equal(llm_parse_retry_after_ms(NULL, "Fri, 31 Dec 9999 23:59:59 GMT", NOW), day);
    /* Wall clocks at the ends of int64 do not overflow. */
    assert_int_equal(llm_parse_retry_after_ms(NULL, "Wed, 21 Oct 2015 07:28:00 GMT", INT64_MIN),
                     day);
    assert_int_equal(llm_parse_retry_after_ms(NULL, "Wed, 21 Oct 2015 07:28:00 GMT", INT64_MAX),
                     0);
}

/* ---- the decision ------------------------------------------------------------ */

/* The default verdict (no x-should-retry) for every error type, with the
 * status a provider would report alongside it. */
static void decisions_cover_every_error_type(void **state)
{
    (void)state;
    static const struct {
        enum llm_error err;
        int status;
        bool retry;
    } table[] = {
        {LLM_OK, 200, false},
        {LLM_ERR_INVALID_REQUEST, 400, false},
        {LLM_ERR_AUTHENTICATION, 401, false},
        {LLM_ERR_PERMISSION_DENIED, 403, false},
        {LLM_ERR_UNSUPPORTED_REGION, 403, false},
        {LLM_ERR_NOT_FOUND, 404, false},
        {LLM_ERR_CONTEXT_LENGTH_EXCEEDED, 400, false},
        {LLM_ERR_CONTENT_FILTERED, 400, false},
        {LLM_ERR_RATE_LIMITED, 429, true},
        {LLM_ERR_INSUFFICIENT_QUOTA, 429, false},
        {LLM_ERR_OVERLOADED, 529, true},
        {LLM_ERR_SERVER_ERROR, 500, true},
        {LLM_ERR_TIMEOUT, 0, true},
        {LLM_ERR_CONNECTION, 0, true},
        {LLM_ERR_PARSE, 200, false},
        {LLM_ERR_CANCELLED, 0, false},
        {LLM_ERR_DEADLINE_EXCEEDED, 0, false},
        {LLM_ERR_QUEUE_FULL, 0, false},
        {LLM_ERR_RETRY_BUDGET_EXHAUSTED, 0, false},
        {LLM_ERR_OUT_OF_MEMORY, 0, false},
        {LLM_ERR_INTERNAL, 0, false},
        {LLM_ERR_RESPONSE_TOO_LARGE, 200, false},
        {LLM_ERR_INVALID_ARGUMENT, 0, false},
        {LLM_ERR_SERVER_WAIT_TOO_LONG, 429, false},
        {LLM_ERR_LOCAL_RESOURCE, 0, false},
        {LLM_ERR_LIMITER_UNAVAILABLE, 0, false},
    };
    _Static_assert(sizeof(table) / sizeof(table[0]) == LLM_ERROR_COUNT,
                   "one row per error type");
    for (size_t i = 0; i < LLM_ERROR_COUNT; i++) {
        assert_int_equal(table[i].err, (enum llm_error)i);
        enum llm_retry_verdict v = llm_retry_decide(NULL, 1, table[i].err, table[i].status, -1, -1);
        enum llm_retry_verdict want =
            table[i].retry ? LLM_VERDICT_RETRY : LLM_VERDICT_STOP_NOT_RETRYABLE;
        if (v != want)
            fail_msg("%s: got %s", llm_error_name(table[i].err), llm_retry_verdict_name(v));
        assert_int_equal(llm_retry_classify(NULL, table[i].err, table[i].status, -1),
                         table[i].retry);
    }
    /* An error value from a future version is final by default. */
    assert_int_equal(llm_retry_decide(NULL, 1, (enum llm_error)(LLM_ERROR_COUNT + 3), 500, -1, -1),
                     LLM_VERDICT_STOP_NOT_RETRYABLE);
    assert_int_equal(llm_retry_decide(NULL, 1, (enum llm_error)-1, 500, -1, -1),
                     LLM_VERDICT_STOP_NOT_RETRYABLE);
}

static void retryable_statuses_retry_as_providers_classify_them(void **state)
{
    (void)state;
    static const struct {
        enum llm_error err;
        int status;
    } rows[] = {
        {LLM_ERR_TIMEOUT, 408},    {LLM_ERR_SERVER_ERROR, 409}, {LLM_ERR_RATE_LIMITED, 429},
        {LLM_ERR_SERVER_ERROR, 500}, {LLM_ERR_SERVER_ERROR, 502}, {LLM_ERR_OVERLOADED, 503},
        {LLM_ERR_SERVER_ERROR, 504}, {LLM_ERR_OVERLOADED, 529},  {LLM_ERR_CONNECTION, 0},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        assert_int_equal(llm_retry_decide(NULL, 1, rows[i].err, rows[i].status, -1, -1),
                         LLM_VERDICT_RETRY);
}

static void a_parse_error_is_final_on_2xx_and_retried_on_a_retryable_status(void **state)
{
    (void)state;
    assert_false(llm_retry_classify(NULL, LLM_ERR_PARSE, 200, -1));
    assert_false(llm_retry_classify(NULL, LLM_ERR_PARSE, 0, -1));
    assert_false(llm_retry_classify(NULL, LLM_ERR_PARSE, 400, -1));
    assert_true(llm_retry_classify(NULL, LLM_ERR_PARSE, 502, -1));
    assert_true(llm_retry_classify(NULL, LLM_ERR_PARSE, 429, -1));
    assert_true(llm_retry_classify(NULL, LLM_ERR_PARSE, 408, -1));
    assert_true(llm_retry_classify(NULL, LLM_ERR_PARSE, 409, -1));
    struct llm_retry_policy p = {.retry_parse_errors = true};
    assert_true(llm_retry_classify(&p, LLM_ERR_PARSE, 200, -1));
    assert_int_equal(llm_retry_decide(&p, 1, LLM_ERR_PARSE, 200, -1, -1), LLM_VERDICT_RETRY);
    /* The option is about PARSE only. */
    assert_false(llm_retry_classify(&p, LLM_ERR_RESPONSE_TOO_LARGE, 200, -1));
}

static void x_should_retry_overrides_the_classification_either_way(void **state)
{
    (void)state;
    assert_int_equal(llm_retry_decide(NULL, 1, LLM_ERR_INVALID_REQUEST, 400, 1, -1),
                     LLM_VERDICT_RETRY);
    assert_int_equal(llm_retry_decide(NULL, 1, LLM_ERR_PARSE, 200, 1, -1), LLM_VERDICT_RETRY);
    assert_int_equal(llm_retry_decide(NULL, 1, LLM_ERR_RATE_LIMITED, 429, 0, -1),
                     LLM_VERDICT_STOP_NOT_RETRYABLE);
    assert_int_equal(llm_retry_decide(NULL, 1, LLM_ERR_SERVER_ERROR, 500, 0, -1),
                     LLM_VERDICT_STOP_NOT_RETRYABLE);
    assert_int_equal(llm_retry_decide(NULL, 1, LLM_ERR_PARSE, 502, 0, -1),
                     LLM_VERDICT_STOP_NOT_RETRYABLE);
    /* Values other than 0 and 1 mean "absent". */
    assert_int_equal(llm_retry_decide(NULL, 1, LLM_ERR_RATE_LIMITED, 429, 7, -1),
                     LLM_VERDICT_RETRY);
}

static void x_should_retry_never_revives_quota_or_client_side_errors(void **state)
{
    (void)state;
    static const enum llm_error never[] = {
        LLM_ERR_INSUFFICIENT_QUOTA, LLM_ERR_CANCELLED,   LLM_ERR_DEADLINE_EXCEEDED,
        LLM_ERR_QUEUE_FULL,        LLM_ERR_RETRY_BUDGET_EXHAUSTED, LLM_ERR_SERVER_WAIT_TOO_LONG,
        LLM_ERR_OUT_OF_MEMORY,     LLM_ERR_INTERNAL,    LLM_ERR_INVALID_ARGUMENT, LLM_OK,
    };
    for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++) {
        if (llm_retry_decide(NULL, 1, never[i], 429, 1, -1) != LLM_VERDICT_STOP_NOT_RETRYABLE)
            fail_msg("%s was revived by x-should-retry", llm_error_name(never[i]));
    }
}

static void attempts_stop_at_max_attempts(void **state)
{
    (void)state;
    assert_int_equal(llm_retry_decide(NULL, 1, LLM_ERR_OVERLOADED, 529, -1, -1), LLM_VERDICT_RETRY);
    assert_int_equal(llm_retry_decide(NULL, 2, LLM_ERR_OVERLOADED, 529, -1, -1), LLM_VERDICT_RETRY);
    assert_int_equal(llm_retry_decide(NULL, 3, LLM_ERR_OVERLOADED, 529, -1, -1),
                     LLM_VERDICT_STOP_MAX_ATTEMPTS);
    struct llm_retry_policy one = {.max_attempts = 1};
    assert_int_equal(llm_retry_decide(&one, 1, LLM_ERR_TIMEOUT, 0, -1, -1),
                     LLM_VERDICT_STOP_MAX_ATTEMPTS);
    struct llm_retry_policy ten = {.max_attempts = 10};
    assert_int_equal(llm_retry_decide(&ten, 9, LLM_ERR_TIMEOUT, 0, -1, -1), LLM_VERDICT_RETRY);
    assert_int_equal(llm_retry_decide(&ten, 10, LLM_ERR_TIMEOUT, 0, -1, -1),
                     LLM_VERDICT_STOP_MAX_ATTEMPTS);
    /* A final error says so even when attempts are also used up. */
    assert_int_equal(llm_retry_decide(&one, 1, LLM_ERR_AUTHENTICATION, 401, -1, -1),
                     LLM_VERDICT_STOP_NOT_RETRYABLE);
}

static void a_server_wait_over_the_cap_stops_the_request(void **state)
{
    (void)state;
    assert_int_equal(llm_retry_decide(NULL, 1, LLM_ERR_RATE_LIMITED, 429, -1, 60000),
                     LLM_VERDICT_RETRY);
    assert_int_equal(llm_retry_decide(NULL, 1, LLM_ERR_RATE_LIMITED, 429, -1, 60001),
                     LLM_VERDICT_STOP_SERVER_WAIT_TOO_LONG);
    assert_int_equal(llm_retry_decide(NULL, 1, LLM_ERR_RATE_LIMITED, 429, -1,
                                      LLM_RETRY_AFTER_MAX_MS),
                     LLM_VERDICT_STOP_SERVER_WAIT_TOO_LONG);
    struct llm_retry_policy p = {.max_server_wait_ms = 5000};
    assert_int_equal(llm_retry_decide(&p, 1, LLM_ERR_OVERLOADED, 529, -1, 5001),
                     LLM_VERDICT_STOP_SERVER_WAIT_TOO_LONG);
    assert_int_equal(llm_retry_decide(&p, 1, LLM_ERR_OVERLOADED, 529, -1, 0), LLM_VERDICT_RETRY);
    struct llm_retry_policy uncapped = {.max_server_wait_ms = -1};
    assert_int_equal(llm_retry_decide(&uncapped, 1, LLM_ERR_OVERLOADED, 529, -1,
                                      LLM_RETRY_AFTER_MAX_MS),
                     LLM_VERDICT_RETRY);
    /* Attempts are checked first. */
    assert_int_equal(llm_retry_decide(NULL, 3, LLM_ERR_RATE_LIMITED, 429, -1, 999999),
                     LLM_VERDICT_STOP_MAX_ATTEMPTS);
}

static void verdicts_have_stable_names(void **state)
{
    (void)state;
    assert_string_equal(llm_retry_verdict_name(LLM_VERDICT_RETRY), "RETRY");
    assert_string_equal(llm_retry_verdict_name(LLM_VERDICT_STOP_NOT_RETRYABLE),
                        "STOP_NOT_RETRYABLE");
    assert_string_equal(llm_retry_verdict_name(LLM_VERDICT_STOP_MAX_ATTEMPTS),
                        "STOP_MAX_ATTEMPTS");
    assert_string_equal(llm_retry_verdict_name(LLM_VERDICT_STOP_SERVER_WAIT_TOO_LONG),
                        "STOP_SERVER_WAIT_TOO_LONG");
    assert_string_equal(llm_retry_verdict_name((enum llm_retry_verdict)99), "UNKNOWN");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(budget_allows_100_retries_from_500_then_refuses),
        cmocka_unit_test(budget_charges_10_for_a_retry_after_a_timeout),
        cmocka_unit_test(budget_refusal_debits_nothing),
        cmocka_unit_test(budget_success_refunds_one_and_never_exceeds_capacity),
        cmocka_unit_test(budget_costs_are_configurable),
        cmocka_unit_test(budget_rejects_negative_options_and_tolerates_null),
        cmocka_unit_test(retry_after_ms_is_read_as_fractional_milliseconds),
        cmocka_unit_test(retry_after_ms_is_preferred_over_retry_after),
        cmocka_unit_test(retry_after_seconds_may_be_integer_or_decimal),
        cmocka_unit_test(negative_waits_mean_retry_now),
        cmocka_unit_test(an_http_date_in_the_future_gives_the_time_until_it),
        cmocka_unit_test(an_http_date_in_the_past_means_retry_now),
        cmocka_unit_test(garbage_gives_minus_one),
        cmocka_unit_test(absurd_waits_are_clamped_to_a_day),
        cmocka_unit_test(decisions_cover_every_error_type),
        cmocka_unit_test(retryable_statuses_retry_as_providers_classify_them),
        cmocka_unit_test(a_parse_error_is_final_on_2xx_and_retried_on_a_retryable_status),
        cmocka_unit_test(x_should_retry_overrides_the_classification_either_way),
        cmocka_unit_test(x_should_retry_never_revives_quota_or_client_side_errors),
        cmocka_unit_test(attempts_stop_at_max_attempts),
        cmocka_unit_test(a_server_wait_over_the_cap_stops_the_request),
        cmocka_unit_test(verdicts_have_stable_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
