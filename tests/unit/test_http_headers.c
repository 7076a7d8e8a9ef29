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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(header_lines_become_trimmed_name_value_pairs),
        cmocka_unit_test(lines_without_a_colon_or_past_the_bounds_are_skipped),
        cmocka_unit_test(many_headers_keep_their_views_right_through_growth_and_trim),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
