/* Rate-limit header value parsers: Go durations (OpenAI), RFC 3339
 * timestamps (Anthropic), plain integers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "providers/ratelimit.h"

/* Name the input when a table row fails, without printing every row that
 * passes. */
#define CHECK_EQ(in, got, want)                                                        \
    do {                                                                               \
        int64_t got_ = (got), want_ = (want);                                          \
        if (got_ != want_) {                                                           \
            print_error("input '%s': got %lld, want %lld\n", (in), (long long)got_,    \
                        (long long)want_);                                             \
            fail();                                                                    \
        }                                                                              \
    } while (0)

struct dur_case {
    const char *in;
    int64_t ms;
};

static void go_durations_parse_to_milliseconds(void **state)
{
    (void)state;
    static const struct dur_case cases[] = {
        {"6m0s", 360000},
        {"1.5s", 1500},
        {"12ms", 12},
        {"20ms", 20},
        {"1h", 3600000},
        {"1h2m3.5s", 3723500},
        {"0s", 0},
        {"0", 0},
        {"+5s", 5000},
        {".5s", 500},
        {"1.s", 1000},
        {"2m30s", 150000},
        {"59.999s", 59999},
        {"1s1s", 2000},
        {"3h0m0s", 10800000},
        {"2562047h", INT64_C(2562047) * 3600000},
        {" 7s\t", 7000},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        CHECK_EQ(cases[i].in, llm__parse_go_duration_ms(cases[i].in), cases[i].ms);
    }
}

static void go_durations_round_sub_millisecond_parts_up(void **state)
{
    (void)state;
    static const struct dur_case cases[] = {
        {"500us", 1},
        {"1us", 1},
        {"2\xC2\xB5s", 1},      /* U+00B5 MICRO SIGN */
        {"2\xCE\xBCs", 1},      /* U+03BC GREEK SMALL LETTER MU */
        {"1500000ns", 2},
        {"1000000ns", 1},
        {"1ns", 1},
        {"0.001s", 1},
        {"1.0000001s", 1001},
        {"0.4ms", 1},
        {"999us", 1},
        {"1001us", 2},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        CHECK_EQ(cases[i].in, llm__parse_go_duration_ms(cases[i].in), cases[i].ms);
    }
}

static void invalid_go_durations_give_minus_one(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "", " ", "5", "1.5", "-5s", "-0", "s", "ms", "1x", "1h2", "..5s", "1..5s", "1e3s",
        "5 s", "abc", "1S", "1H", "1sec", "1m-1s", ".s", "+", "9999999999999999999h",
        "2562048h", "99999999999999999999ns", "1s\r\n", "0x10s",
    };
    assert_int_equal(llm__parse_go_duration_ms(NULL), -1);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK_EQ(bad[i], llm__parse_go_duration_ms(bad[i]), -1);
    }
}

static void rfc3339_timestamps_parse_to_epoch_milliseconds(void **state)
{
    (void)state;
    static const struct dur_case cases[] = {
        {"1970-01-01T00:00:00Z", 0},
        {"2025-01-15T14:24:00Z", INT64_C(1736951040000)},
        {"2025-01-15T14:24:00.123Z", INT64_C(1736951040123)},
        {"2025-01-15T14:24:00.123456789Z", INT64_C(1736951040123)},
        {"2025-01-15T14:24:00.5Z", INT64_C(1736951040500)},
        {"2025-01-15T14:24:00.05Z", INT64_C(1736951040050)},
        {"2025-01-15T16:24:00+02:00", INT64_C(1736951040000)},
        {"2025-01-15T08:54:00-05:30", INT64_C(1736951040000)},
        {"2025-01-15T14:24:00+00:00", INT64_C(1736951040000)},
        {"2025-01-15T14:24:00-00:00", INT64_C(1736951040000)},
        {"2025-01-15t14:24:00z", INT64_C(1736951040000)},
        {"2025-01-15 14:24:00Z", INT64_C(1736951040000)},
        {"2024-02-29T12:00:00Z", INT64_C(1709208000000)},
        {"2016-12-31T23:59:60Z", INT64_C(1483228800000)}, /* leap second */
        {"9999-12-31T23:59:59Z", INT64_C(253402300799000)},
        {" 2025-01-15T14:24:00Z ", INT64_C(1736951040000)},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        CHECK_EQ(cases[i].in, llm__parse_rfc3339_ms(cases[i].in), cases[i].ms);
    }
}

static void invalid_rfc3339_timestamps_give_minus_one(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "2025-01-15",
        "2025-01-15T14:24:00",           /* no offset */
        "2025-01-15T14:24Z",             /* no seconds */
        "2025-1-15T14:24:00Z",
        "2025-01-15T14:24:00.Z",         /* empty fraction */
        "2025-13-01T00:00:00Z",
        "2025-00-01T00:00:00Z",
        "2025-01-32T00:00:00Z",
        "2023-02-29T00:00:00Z",          /* not a leap year */
        "1900-02-29T00:00:00Z",
        "2025-04-31T00:00:00Z",
        "2025-01-15T24:00:00Z",
        "2025-01-15T14:60:00Z",
        "2025-01-15T14:24:61Z",
        "2025-01-15T14:24:00+2:00",
        "2025-01-15T14:24:00+0200",
        "2025-01-15T14:24:00+24:00",
        "2025-01-15T14:24:00Zjunk",
        "2025-01-15X14:24:00Z",
        "1969-12-31T23:59:59Z",          /* before the epoch */
        "1970-01-01T00:30:00+01:00",     /* also before the epoch */
        "Wed, 15 Jan 2025 14:24:00 GMT",
        "1736951040",
    };
    assert_int_equal(llm__parse_rfc3339_ms(NULL), -1);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK_EQ(bad[i], llm__parse_rfc3339_ms(bad[i]), -1);
    }
}

static void rfc3339_reset_is_relative_to_now_and_never_negative(void **state)
{
    (void)state;
    const int64_t now = INT64_C(1736951040000); /* 2025-01-15T14:24:00Z */
    assert_int_equal(llm__rfc3339_ms_from_now("2025-01-15T14:24:01.500Z", now), 1500);
    assert_int_equal(llm__rfc3339_ms_from_now("2025-01-15T14:25:00Z", now), 60000);
    assert_int_equal(llm__rfc3339_ms_from_now("2025-01-15T14:24:00Z", now), 0);
    assert_int_equal(llm__rfc3339_ms_from_now("2025-01-15T14:23:00Z", now), 0);
    assert_int_equal(llm__rfc3339_ms_from_now("not a time", now), -1);
    assert_int_equal(llm__rfc3339_ms_from_now(NULL, now), -1);
}

static void header_integers_accept_only_plain_non_negative_decimals(void **state)
{
    (void)state;
    assert_int_equal(llm__parse_header_int("60000"), 60000);
    assert_int_equal(llm__parse_header_int("0"), 0);
    assert_int_equal(llm__parse_header_int(" 42 "), 42);
    assert_int_equal(llm__parse_header_int("9223372036854775807"), INT64_MAX);
    static const char *const bad[] = {"", " ", "-1", "+1", "1.5", "12a", "1e3", "0x10",
                                      "9223372036854775808", "99999999999999999999"};
    assert_int_equal(llm__parse_header_int(NULL), -1);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK_EQ(bad[i], llm__parse_header_int(bad[i]), -1);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(go_durations_parse_to_milliseconds),
        cmocka_unit_test(go_durations_round_sub_millisecond_parts_up),
        cmocka_unit_test(invalid_go_durations_give_minus_one),
        cmocka_unit_test(rfc3339_timestamps_parse_to_epoch_milliseconds),
        cmocka_unit_test(invalid_rfc3339_timestamps_give_minus_one),
        cmocka_unit_test(rfc3339_reset_is_relative_to_now_and_never_negative),
        cmocka_unit_test(header_integers_accept_only_plain_non_negative_decimals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
