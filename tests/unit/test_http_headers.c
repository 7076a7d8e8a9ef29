/* Response header collection (src/transport/headers.h): raw header lines
 * in, name/value views out, within bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "transport/headers.h"

static void add(struct llm__hdr_list *l, const char *line, size_t max_headers, size_t max_bytes)
{
    assert_true(llm__hdr_list_add_line(l, line, strlen(line), max_headers, max_bytes));
}

static void header_lines_become_trimmed_name_value_pairs(void **state)
{
    (void)state;
    struct llm__hdr_list l = {0};
    add(&l, "Content-Type:  text/event-stream \r\n", 128, 65536);
    add(&l, "x-request-id:req_1\r\n", 128, 65536);
    add(&l, "x-empty:\r\n", 128, 65536);
    struct llm_http_headers h;
    assert_true(llm__hdr_list_view(&l, &h));
    assert_int_equal(h.n, 3);
    assert_string_equal(h.items[0].name, "Content-Type");
    assert_string_equal(h.items[0].value, "text/event-stream");
    assert_string_equal(llm_http_headers_get(&h, "X-REQUEST-ID"), "req_1");
    assert_string_equal(llm_http_headers_get(&h, "x-empty"), "");
    llm__hdr_list_free(&l);
}

static void lines_without_a_colon_or_past_the_bounds_are_skipped(void **state)
{
    (void)state;
    struct llm__hdr_list l = {0};
    add(&l, "HTTP/1.1 200 OK\r\n", 2, 64);
    add(&l, "a: 1\r\n", 2, 64);
    add(&l, "b: 2\r\n", 2, 64);
    add(&l, "c: 3\r\n", 2, 64); /* a third header: over max_headers */
    struct llm_http_headers h;
    assert_true(llm__hdr_list_view(&l, &h));
    assert_int_equal(h.n, 2);
    assert_null(llm_http_headers_get(&h, "c"));

    llm__hdr_list_reset(&l);
    assert_true(llm__hdr_list_view(&l, &h));
    assert_int_equal(h.n, 0);
    assert_null(h.items);
    add(&l, "long: 0123456789012345678901234567890123456789\r\n", 8, 40); /* over max_bytes */
    add(&l, "short: x\r\n", 8, 40);
    assert_true(llm__hdr_list_view(&l, &h));
    assert_int_equal(h.n, 1);
    assert_string_equal(h.items[0].name, "short");
    llm__hdr_list_free(&l);
}

static void many_headers_keep_their_views_right_through_growth_and_trim(void **state)
{
    (void)state;
    struct llm__hdr_list l = {0};
    char line[32], want[16];
    struct llm_http_headers h;
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 100; i++) {
            snprintf(line, sizeof(line), "h%d: v%d\r\n", i, i);
            add(&l, line, 128, 65536);
            if (i == 10) /* a view taken mid-way is rebuilt after growth */
                assert_true(llm__hdr_list_view(&l, &h));
        }
        assert_true(llm__hdr_list_view(&l, &h));
        assert_int_equal(h.n, 100);
        for (int i = 0; i < 100; i++) {
            snprintf(want, sizeof(want), "v%d", i);
            assert_string_equal(h.items[i].value, want);
        }
        llm__hdr_list_trim(&l, 16); /* pooled: memory above the bounds goes */
        assert_true(llm__hdr_list_view(&l, &h));
        assert_int_equal(h.n, 0);
    }
    llm__hdr_list_free(&l);
}

/* A slow, obviously right ASCII case-insensitive equality. */
static int ref_eq(const char *a, const char *b)
{
    for (;; a++, b++) {
        int ca = *a >= 'A' && *a <= 'Z' ? *a + 32 : (unsigned char)*a;
        int cb = *b >= 'A' && *b <= 'Z' ? *b + 32 : (unsigned char)*b;
        if (ca != cb)
            return 0;
        if (ca == 0)
            return 1;
    }
}

/* The one-walk family reader agrees with one llm_http_headers_get per name
 * (first header of a name wins, any case), and llm_http_headers_get with a
 * reference compare, over random header sets: names drawn from the family,
 * case variants, prefixes of it, near misses ('@' and '`' differ by the
 * case bit but are not letters), duplicates. */
static void header_family_reader_agrees_with_single_lookups(void **state)
{
    (void)state;
    static const char *const pool[] = {
        "x-ratelimit-limit-requests", "X-RateLimit-Limit-Requests", "x-ratelimit-reset-tokens",
        "X-RATELIMIT-RESET-TOKENS", "x-ratelimit-", "x-ratelimit", "x-ratelimit-limit-tokens",
        "x-ratelimit-remaining-tokens", "x-ratelimit-remaining-requests", "x-ratelimit-reset",
        "x-ratelimit-reset-requests", "x-ratelimit-reset-requestsx", "x@ratelimit-limit-tokens",
        "x`ratelimit-limit-tokens", "content-type", "", "x", "x-request-id", "X-Ratelimit-Limit-TOKENS",
        "x-ratelimit-limit-requests\xc3", "x-ratelimit-limit-request\xd3"};
    static const char *const suffixes[] = {"limit-requests", "remaining-requests",
                                           "reset-requests", "limit-tokens",
                                           "remaining-tokens", "reset-tokens"};
    const size_t np = sizeof(pool) / sizeof(pool[0]);
    uint64_t rng = 0x9E3779B97F4A7C15ULL;
    for (int round = 0; round < 20000; round++) {
        struct llm_header items[12];
        char values[12][8];
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        size_t n = rng % 13;
        for (size_t i = 0; i < n; i++) {
            rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
            items[i].name = (char *)pool[rng % np];
            snprintf(values[i], sizeof(values[i]), "v%zu", i);
            items[i].value = values[i];
        }
        struct llm_http_headers h = {.items = n ? items : NULL, .n = n};
        const char *got[6];
        llm__http_headers_get_family(&h, "x-ratelimit-", suffixes, 6, got);
        for (size_t j = 0; j < 6; j++) {
            char full[64];
            snprintf(full, sizeof(full), "x-ratelimit-%s", suffixes[j]);
            const char *want = NULL;
            for (size_t i = 0; i < n && !want; i++)
                if (ref_eq(items[i].name, full))
                    want = items[i].value;
            assert_ptr_equal(got[j], want);
            assert_ptr_equal(llm_http_headers_get(&h, full), want);
        }
        for (size_t k = 0; k < np; k++) {
            const char *want = NULL;
            for (size_t i = 0; i < n && !want; i++)
                if (ref_eq(items[i].name, pool[k]))
                    want = items[i].value;
            assert_ptr_equal(llm_http_headers_get(&h, pool[k]), want);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(header_lines_become_trimmed_name_value_pairs),
        cmocka_unit_test(lines_without_a_colon_or_past_the_bounds_are_skipped),
        cmocka_unit_test(many_headers_keep_their_views_right_through_growth_and_trim),
        cmocka_unit_test(header_family_reader_agrees_with_single_lookups),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
