/* Shared internals: buffer, strings, excerpts, clocks, UUIDv7, ISO-8601. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/clock.h"
#include "base/util.h"

/* ---- buffer ------------------------------------------------------------------ */

static void buf_append_grows_and_stays_nul_terminated(void **state)
{
    (void)state;
    struct llm__buf b = {0};
    char expect[5000];
    for (size_t i = 0; i < sizeof(expect); i++) {
        char c = (char)('a' + i % 26);
        expect[i] = c;
        assert_int_equal(llm__buf_append(&b, &c, 1), LLM_OK);
        assert_int_equal(b.len, i + 1);
        assert_true(b.cap > b.len);
        assert_int_equal(b.data[b.len], '\0');
    }
    assert_memory_equal(b.data, expect, sizeof(expect));
    llm__buf_free(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
}

static void buf_append_of_nothing_still_yields_a_string(void **state)
{
    (void)state;
    struct llm__buf b = {0};
    assert_int_equal(llm__buf_append(&b, NULL, 0), LLM_OK);
    assert_non_null(b.data);
    assert_string_equal(b.data, "");
    llm__buf_free(&b);
    assert_int_equal(llm__buf_append(&b, NULL, 1), LLM_ERR_INVALID_ARGUMENT);
}

static void buf_append_refuses_a_length_that_would_overflow(void **state)
{
    (void)state;
    char storage[16] = "abc";
    struct llm__buf b = {.data = storage, .len = SIZE_MAX - 4, .cap = sizeof(storage)};
    /* The size check comes before any allocation or write. */
    assert_int_equal(llm__buf_append(&b, "12345", 5), LLM_ERR_OUT_OF_MEMORY);
    assert_int_equal(llm__buf_append(&b, "1234", 4), LLM_ERR_OUT_OF_MEMORY);
    assert_ptr_equal(b.data, storage);
    assert_int_equal(b.len, SIZE_MAX - 4);
    assert_string_equal(storage, "abc");
}

static void buf_appendf_formats_and_appends(void **state)
{
    (void)state;
    struct llm__buf b = {0};
    assert_int_equal(llm__buf_append(&b, "x=", 2), LLM_OK);
    assert_int_equal(llm__buf_appendf(&b, "%d,%s,%05.1f", 42, "y", 2.5), LLM_OK);
    assert_string_equal(b.data, "x=42,y,002.5");
    assert_int_equal(b.len, strlen("x=42,y,002.5"));
    /* Longer than the initial capacity in one go. */
    assert_int_equal(llm__buf_appendf(&b, "%300s", "|"), LLM_OK);
    assert_int_equal(b.len, 12 + 300);
    assert_int_equal(b.data[b.len - 1], '|');
    assert_int_equal(b.data[b.len], '\0');
    llm__buf_free(&b);
}

static void buf_steal_hands_over_the_data_and_resets(void **state)
{
    (void)state;
    struct llm__buf b = {0};
    char *empty = llm__buf_steal(&b);
    assert_non_null(empty);
    assert_string_equal(empty, "");
    free(empty);

    assert_int_equal(llm__buf_append(&b, "hello", 5), LLM_OK);
    char *s = llm__buf_steal(&b);
    assert_string_equal(s, "hello");
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
    free(s);
    llm__buf_free(&b);
    llm__buf_free(NULL);
}

/* ---- strings ------------------------------------------------------------------- */

static void strdup_helpers_pass_null_through(void **state)
{
    (void)state;
    assert_null(llm__strdup(NULL));
    assert_null(llm__strndup(NULL, 3));
    char *a = llm__strdup("abc");
    char *b = llm__strndup("abcdef", 3);
    char *c = llm__strndup("ab", 10);
    assert_string_equal(a, "abc");
    assert_string_equal(b, "abc");
    assert_string_equal(c, "ab");
    free(a);
    free(b);
    free(c);
}

static void asprintf_returns_a_formatted_malloced_string(void **state)
{
    (void)state;
    char *s = llm__asprintf("%s-%03d", "req", 7);
    assert_string_equal(s, "req-007");
    free(s);
}

static void strcaseeq_ignores_ascii_case_only(void **state)
{
    (void)state;
    assert_true(llm__strcaseeq("Retry-After", "retry-after"));
    assert_true(llm__strcaseeq("X-RATELIMIT-LIMIT-REQUESTS", "x-ratelimit-limit-requests"));
    assert_true(llm__strcaseeq("", ""));
    assert_false(llm__strcaseeq("retry-after", "retry-afte"));
    assert_false(llm__strcaseeq("retry-afte", "retry-after"));
    assert_false(llm__strcaseeq("a", "b"));
    /* '@' and '`' differ from 'A'/'a' by the case bit but are not letters. */
    assert_false(llm__strcaseeq("@", "`"));
    assert_false(llm__strcaseeq("\xC3\x89", "\xC3\xA9")); /* É vs é: not ASCII */
    assert_true(llm__strcaseeq(NULL, NULL));
    assert_false(llm__strcaseeq("a", NULL));
    assert_false(llm__strcaseeq(NULL, "a"));
}

/* ---- excerpts ---------------------------------------------------------------------- */

static void excerpt_replaces_control_bytes_and_marks_the_cut(void **state)
{
    (void)state;
    char *e = llm__excerpt("line1\nline2\r\t\x7f" "end", 17, 100);
    assert_string_equal(e, "line1?line2???end");
    free(e);

    e = llm__excerpt("0123456789", 10, 4);
    assert_string_equal(e, "0123...");
    free(e);

    e = llm__excerpt("0123456789", 10, 10);
    assert_string_equal(e, "0123456789");
    free(e);

    /* Bytes after an embedded NUL are still looked at: len rules. */
    e = llm__excerpt("a\0b", 3, 10);
    assert_string_equal(e, "a?b");
    free(e);

    e = llm__excerpt("abc", 3, 0);
    assert_string_equal(e, "...");
    free(e);

    e = llm__excerpt(NULL, 5, 10);
    assert_string_equal(e, "");
    free(e);
}

static void excerpt_keeps_valid_utf8_and_replaces_broken_sequences(void **state)
{
    (void)state;
    /* "héllo wörld": multi-byte characters count once. */
    char *e = llm__excerpt("h\xC3\xA9llo w\xC3\xB6rld", 13, 3);
    assert_string_equal(e, "h\xC3\xA9l...");
    free(e);

    /* A character cut by `len` is broken: each of its bytes becomes '?'. */
    e = llm__excerpt("ab\xE2\x82\xAC", 4, 10);
    assert_string_equal(e, "ab??");
    free(e);

    /* Stray continuation byte, overlong encoding, surrogate, beyond U+10FFFF. */
    e = llm__excerpt("\x80" "\xC0\xAF" "\xED\xA0\x80" "\xF4\x90\x80\x80" "\xF0\x9F\x98\x80", 14, 100);
    assert_string_equal(e, "?" "??" "???" "????" "\xF0\x9F\x98\x80");
    free(e);
}

/* ---- clocks -------------------------------------------------------------------------- */

static void clocks_are_plausible_and_monotonic_clock_never_goes_back(void **state)
{
    (void)state;
    int64_t a = llm__now_mono_us();
    int64_t b = llm__now_mono_us();
    assert_true(b >= a);
    /* After 2020-01-01 and before 2200-01-01. */
    int64_t w = llm__now_wall_us();
    assert_true(w > INT64_C(1577836800000000));
    assert_true(w < INT64_C(7258118400000000));
}

/* ---- UUIDv7 ----------------------------------------------------------------------------- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

static void assert_uuid_v7_shape(const char *u)
{
    assert_int_equal(strlen(u), 36);
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23)
            assert_int_equal(u[i], '-');
        else
            assert_true(hexval(u[i]) >= 0); /* lowercase hex only */
    }
    assert_int_equal(u[14], '7');                      /* version */
    assert_non_null(strchr("89ab", u[19]));            /* variant 10xx */
}

static uint64_t uuid_unix_ms(const char *u)
{
    uint64_t ms = 0;
    for (int i = 0; i < 13; i++) {
        if (u[i] == '-')
            continue;
        ms = ms << 4 | (uint64_t)hexval(u[i]);
    }
    return ms;
}

static void uuid_v7_has_version_variant_and_the_current_unix_ms(void **state)
{
    (void)state;
    uint64_t before = (uint64_t)llm__now_wall_us() / 1000;
    char u[37];
    llm__uuid_v7(u);
    assert_uuid_v7_shape(u);
    uint64_t ms = uuid_unix_ms(u);
    assert_true(ms >= before);
    /* Not a timing claim: the process-wide counter may run ahead of the
     * clock, but never by an hour. */
    assert_true(ms < before + 3600 * 1000);
}

static void uuid_v7_ids_from_one_process_strictly_increase(void **state)
{
    (void)state;
    enum { N = 20000 };
    char prev[37], cur[37];
    llm__uuid_v7(prev);
    for (int i = 0; i < N; i++) {
        llm__uuid_v7(cur);
        assert_uuid_v7_shape(cur);
        /* Fixed-width lowercase hex: string order is time order. */
        assert_true(strcmp(cur, prev) > 0);
        memcpy(prev, cur, sizeof(prev));
    }
}

static void uuid_v7_random_bits_differ_between_ids(void **state)
{
    (void)state;
    char a[37], b[37];
    llm__uuid_v7(a);
    llm__uuid_v7(b);
    /* rand_b (the last 62 bits) is fresh randomness for every id. */
    assert_string_not_equal(a + 19, b + 19);
}

/* ---- ISO-8601 ---------------------------------------------------------------------------- */

static void iso8601_formats_a_known_time_with_microseconds(void **state)
{
    (void)state;
    char out[32];
    llm__format_iso8601_us(INT64_C(1795923604123456), out);
    assert_string_equal(out, "2026-11-29T03:40:04.123456Z");
    llm__format_iso8601_us(INT64_C(951868799999999), out);
    assert_string_equal(out, "2000-02-29T23:59:59.999999Z");
    llm__format_iso8601_us(0, out);
    assert_string_equal(out, "1970-01-01T00:00:00.000000Z");
    llm__format_iso8601_us(7, out);
    assert_string_equal(out, "1970-01-01T00:00:00.000007Z");
}

static void iso8601_before_the_epoch_floors_to_the_previous_second(void **state)
{
    (void)state;
    char out[32];
    llm__format_iso8601_us(-1, out);
    assert_string_equal(out, "1969-12-31T23:59:59.999999Z");
}

static void iso8601_out_of_range_years_give_a_marker_not_garbage(void **state)
{
    (void)state;
    char out[32];
    llm__format_iso8601_us(INT64_MAX, out);
    assert_string_equal(out, "invalid-time");
    llm__format_iso8601_us(INT64_MIN, out);
    assert_string_equal(out, "invalid-time");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(buf_append_grows_and_stays_nul_terminated),
        cmocka_unit_test(buf_append_of_nothing_still_yields_a_string),
        cmocka_unit_test(buf_append_refuses_a_length_that_would_overflow),
        cmocka_unit_test(buf_appendf_formats_and_appends),
        cmocka_unit_test(buf_steal_hands_over_the_data_and_resets),
        cmocka_unit_test(strdup_helpers_pass_null_through),
        cmocka_unit_test(asprintf_returns_a_formatted_malloced_string),
        cmocka_unit_test(strcaseeq_ignores_ascii_case_only),
        cmocka_unit_test(excerpt_replaces_control_bytes_and_marks_the_cut),
        cmocka_unit_test(excerpt_keeps_valid_utf8_and_replaces_broken_sequences),
        cmocka_unit_test(clocks_are_plausible_and_monotonic_clock_never_goes_back),
        cmocka_unit_test(uuid_v7_has_version_variant_and_the_current_unix_ms),
        cmocka_unit_test(uuid_v7_ids_from_one_process_strictly_increase),
        cmocka_unit_test(uuid_v7_random_bits_differ_between_ids),
        cmocka_unit_test(iso8601_formats_a_known_time_with_microseconds),
        cmocka_unit_test(iso8601_before_the_epoch_floors_to_the_previous_second),
        cmocka_unit_test(iso8601_out_of_range_years_give_a_marker_not_garbage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
