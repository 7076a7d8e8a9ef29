/* The sliding-window counter on a fake clock: sums, expiry at the window's
 * edge, gaps longer than the window, clocks that go backwards. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "metrics/window.h"

static struct llm__window *new_window(int64_t window_ms, int n_buckets)
{
    struct llm__window *w = malloc(sizeof(*w));
    assert_non_null(w);
    llm__window_init(w, window_ms, n_buckets);
    return w;
}

static void defaults_are_one_minute_in_one_second_buckets(void **state)
{
    (void)state;
    struct llm__window *w = new_window(0, 0);
    assert_int_equal(w->window_ms, 60000);
    assert_int_equal(w->bucket_ms, 1000);
    assert_int_equal(w->n_buckets, 60);
    assert_int_equal(llm__window_sum(w, 123456), 0);
    free(w);

    /* A bucket count that does not divide the window: a nearby one that
     * does... */
    w = new_window(10000, 60);
    assert_int_equal(w->n_buckets, 50);
    assert_int_equal(w->bucket_ms, 200);
    assert_int_equal(w->window_ms, 10000);
    free(w);
    /* ...or, failing that, the window rounded down, never up. */
    w = new_window(60013, 60);
    assert_int_equal(w->n_buckets, 60);
    assert_int_equal(w->bucket_ms, 1000);
    assert_int_equal(w->window_ms, 60000);
    free(w);
    /* More buckets than milliseconds: 1 ms buckets. */
    w = new_window(10, 600);
    assert_int_equal(w->n_buckets, 10);
    assert_int_equal(w->bucket_ms, 1);
    free(w);
}

static void sum_adds_everything_within_the_window(void **state)
{
    (void)state;
    struct llm__window *w = new_window(60000, 60);
    int64_t t0 = 1000000;
    llm__window_add(w, t0, 5);
    llm__window_add(w, t0 + 10, 7);
    llm__window_add(w, t0 + 30500, 100);
    llm__window_add(w, t0 + 30500, -50); /* ignored */
    llm__window_add(w, t0 + 58999, 1);
    assert_int_equal(llm__window_sum(w, t0 + 58999), 113);
    /* Up to window - bucket after the oldest add, everything still counts. */
    assert_int_equal(llm__window_sum(w, t0 + 59000), 113);
    free(w);
}

static void amounts_expire_once_the_window_has_passed(void **state)
{
    (void)state;
    struct llm__window *w = new_window(60000, 60);
    int64_t t0 = 5000000; /* on a bucket boundary */
    llm__window_add(w, t0, 10);
    llm__window_add(w, t0 + 20000, 20);
    llm__window_add(w, t0 + 40000, 40);
    assert_int_equal(llm__window_sum(w, t0 + 40000), 70);
    assert_int_equal(llm__window_sum(w, t0 + 59999), 70);
    assert_int_equal(llm__window_sum(w, t0 + 60000), 60); /* the first is a minute old */
    assert_int_equal(llm__window_sum(w, t0 + 80000), 40);
    assert_int_equal(llm__window_sum(w, t0 + 99999), 40);
    assert_int_equal(llm__window_sum(w, t0 + 100000), 0);

    /* Never counted at or beyond the window, whatever the phase. */
    struct llm__window *v = new_window(60000, 60);
    for (int64_t phase = 0; phase < 1000; phase += 37) {
        llm__window_init(v, 60000, 60);
        llm__window_add(v, t0 + phase, 1);
        assert_int_equal(llm__window_sum(v, t0 + phase + 58999), 1);
        assert_int_equal(llm__window_sum(v, t0 + phase + 60000), 0);
    }
    free(v);
    free(w);
}

static void a_gap_longer_than_the_window_leaves_nothing_behind(void **state)
{
    (void)state;
    struct llm__window *w = new_window(60000, 60);
    for (int64_t t = 0; t < 60000; t += 500)
        llm__window_add(w, t, 2);
    assert_int_equal(llm__window_sum(w, 59999), 240);
    /* Ten minutes of silence: stale buckets must not be mistaken for the
     * current ones when their slots come round again. */
    int64_t later = 60000 + 600000;
    assert_int_equal(llm__window_sum(w, later), 0);
    llm__window_add(w, later, 3);
    assert_int_equal(llm__window_sum(w, later), 3);
    /* Exactly one ring-length later, the same slot, a different epoch. */
    assert_int_equal(llm__window_sum(w, later + 60000), 0);
    llm__window_add(w, later + 60000, 4);
    assert_int_equal(llm__window_sum(w, later + 60000), 4);
    free(w);
}

static void a_clock_going_backwards_counts_as_the_latest_time(void **state)
{
    (void)state;
    struct llm__window *w = new_window(60000, 60);
    llm__window_add(w, 100000, 1);
    llm__window_add(w, 50000, 2); /* booked at 100000 */
    assert_int_equal(llm__window_sum(w, 100000), 3);
    assert_int_equal(llm__window_sum(w, 0), 3);
    assert_int_equal(llm__window_sum(w, 160000), 0);
    llm__window_add(w, -5, 1); /* negative: treated as the latest time */
    free(w);
}

static void sums_saturate_instead_of_overflowing(void **state)
{
    (void)state;
    struct llm__window *w = new_window(60000, 60);
    llm__window_add(w, 0, INT64_MAX);
    llm__window_add(w, 0, INT64_MAX);
    llm__window_add(w, 1000, INT64_MAX);
    assert_int_equal(llm__window_sum(w, 1000), INT64_MAX);
    free(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults_are_one_minute_in_one_second_buckets),
        cmocka_unit_test(sum_adds_everything_within_the_window),
        cmocka_unit_test(amounts_expire_once_the_window_has_passed),
        cmocka_unit_test(a_gap_longer_than_the_window_leaves_nothing_behind),
        cmocka_unit_test(a_clock_going_backwards_counts_as_the_latest_time),
        cmocka_unit_test(sums_saturate_instead_of_overflowing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
