/* The log-linear latency histogram: bucket layout, percentiles within the
 * stated error on known distributions, exact aggregates, Prometheus
 * buckets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "metrics/hist.h"

/* The bound stated in hist.h: half a bucket width over the bucket's low
 * edge, 1/256. */
#define MAX_REL_ERR (1.0 / 256.0)

static struct llm__hist *new_hist(void)
{
    struct llm__hist *h = malloc(sizeof(*h));
    assert_non_null(h);
    llm__hist_init(h);
    return h;
}

static void assert_within(int64_t got, int64_t want)
{
    double err = (double)(got > want ? got - want : want - got);
    if (err > MAX_REL_ERR * (double)want)
        fail_msg("got %lld, want %lld (relative error %.5f > %.5f)", (long long)got,
                 (long long)want, err / (double)want, MAX_REL_ERR);
}

static void buckets_tile_the_range_without_gaps_or_overlaps(void **state)
{
    (void)state;
    assert_int_equal(llm__hist_bucket_low(0), 0);
    for (size_t i = 0; i + 1 < LLM__HIST_BUCKETS; i++) {
        assert_true(llm__hist_bucket_high(i) >= llm__hist_bucket_low(i));
        assert_int_equal(llm__hist_bucket_high(i) + 1, llm__hist_bucket_low(i + 1));
        assert_int_equal(llm__hist_index(llm__hist_bucket_low(i)), i);
        assert_int_equal(llm__hist_index(llm__hist_bucket_high(i)), i);
        /* Width over low edge never exceeds 1/128 (so half of it 1/256). */
        int64_t lo = llm__hist_bucket_low(i);
        int64_t w = llm__hist_bucket_high(i) - lo + 1;
        if (lo > 0)
            assert_true((double)w / (double)lo <= 1.0 / 128.0 || w == 1);
    }
    assert_int_equal(llm__hist_bucket_high(LLM__HIST_BUCKETS - 1), LLM__HIST_MAX_US - 1);
    assert_int_equal(llm__hist_index(LLM__HIST_MAX_US), LLM__HIST_BUCKETS - 1);
    assert_int_equal(llm__hist_index(INT64_MAX), LLM__HIST_BUCKETS - 1);
    assert_int_equal(llm__hist_index(-5), 0);
}

static void percentiles_of_uniform_1_to_100000_are_within_the_stated_error(void **state)
{
    (void)state;
    struct llm__hist *h = new_hist();
    for (int64_t v = 1; v <= 100000; v++)
        llm__hist_record(h, v);
    assert_within(llm__hist_percentile(h, 50), 50000);
    assert_within(llm__hist_percentile(h, 90), 90000);
    assert_within(llm__hist_percentile(h, 99), 99000);
    assert_within(llm__hist_percentile(h, 99.9), 99900);
    assert_within(llm__hist_percentile(h, 1), 1000);
    assert_int_equal(llm__hist_percentile(h, 0), 1);
    assert_int_equal(llm__hist_percentile(h, 100), 100000);
    /* Every percentile, against the nearest-rank value. */
    for (int p = 1; p < 100; p++)
        assert_within(llm__hist_percentile(h, p), (int64_t)p * 1000);
    free(h);
}

static void percentiles_of_a_bimodal_distribution_land_in_the_right_mode(void **state)
{
    (void)state;
    struct llm__hist *h = new_hist();
    /* 80 % fast answers around 200 ms, 20 % slow ones around 30 s (µs). */
    for (int i = 0; i < 8000; i++)
        llm__hist_record(h, 150000 + (i % 100) * 1000); /* 150..249 ms */
    for (int i = 0; i < 2000; i++)
        llm__hist_record(h, 25000000 + (i % 100) * 100000); /* 25.0..34.9 s */
    /* Sorted: ranks 1..8000 fast, 8001..10000 slow; each fast value
     * repeats 80 times, each slow one 20, so rank r is fast value
     * (r - 1) / 80, or slow value (r - 8001) / 20. */
    assert_within(llm__hist_percentile(h, 50), 150000 + 62 * 1000);     /* rank 5000 */
    assert_within(llm__hist_percentile(h, 80), 150000 + 99 * 1000);     /* rank 8000 */
    assert_within(llm__hist_percentile(h, 80.01), 25000000);            /* rank 8001 */
    assert_within(llm__hist_percentile(h, 90), 25000000 + 49 * 100000); /* rank 9000 */
    assert_within(llm__hist_percentile(h, 99), 25000000 + 94 * 100000); /* rank 9900 */
    free(h);
}

static void small_values_are_exact_and_huge_ones_keep_exact_extremes(void **state)
{
    (void)state;
    struct llm__hist *h = new_hist();
    for (int64_t v = 0; v < 100; v++)
        llm__hist_record(h, v);
    assert_int_equal(llm__hist_percentile(h, 50), 49);
    assert_int_equal(llm__hist_percentile(h, 99), 98);

    struct llm__hist *big = new_hist();
    llm__hist_record(big, LLM__HIST_MAX_US * 4);
    llm__hist_record(big, 10);
    assert_int_equal(big->max_us, LLM__HIST_MAX_US * 4);
    assert_int_equal(llm__hist_percentile(big, 100), LLM__HIST_MAX_US * 4);
    assert_int_equal(llm__hist_percentile(big, 50), 10);
    free(h);
    free(big);
}

static void count_sum_min_and_max_are_exact(void **state)
{
    (void)state;
    struct llm__hist *h = new_hist();
    assert_int_equal(llm__hist_percentile(h, 50), 0);
    assert_int_equal(h->count, 0);
    int64_t vals[] = {731, 12, 99999, 5000000, 12, -3};
    int64_t sum = 0;
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        llm__hist_record(h, vals[i]);
        sum += vals[i] > 0 ? vals[i] : 0;
    }
    assert_int_equal(h->count, 6);
    assert_int_equal(h->sum_us, sum);
    assert_int_equal(h->min_us, 0); /* negative recorded as 0 */
    assert_int_equal(h->max_us, 5000000);
    /* Percentiles are clamped to the recorded extremes. */
    assert_int_equal(llm__hist_percentile(h, 100), 5000000);
    assert_true(llm__hist_percentile(h, 99) <= 5000000);

    llm__hist_record(h, INT64_MAX);
    assert_int_equal(h->sum_us, INT64_MAX); /* saturates */
    free(h);
}

/* Recording finds a value's Prometheus bucket without walking the bounds:
 * it must agree with the walk (first bound >= v) on every bound, its
 * neighbours, every power of two and its neighbours. */
static void the_prometheus_bucket_of_a_value_is_the_first_bound_at_or_above_it(void **state)
{
    (void)state;
    int64_t vals[256];
    size_t n = 0;
    for (size_t i = 0; i < LLM__HIST_PROM_BUCKETS; i++) {
        int64_t b = (int64_t)(llm__hist_prom_bounds_s[i] * 1e6 + 0.5);
        vals[n++] = b - 1;
        vals[n++] = b;
        vals[n++] = b + 1;
    }
    for (int e = 0; e < 62; e++) {
        vals[n++] = ((int64_t)1 << e) - 1;
        vals[n++] = (int64_t)1 << e;
        vals[n++] = ((int64_t)1 << e) + 1;
    }
    vals[n++] = INT64_MAX;
    vals[n++] = -5;
    for (size_t k = 0; k < n; k++) {
        struct llm__hist *h = new_hist();
        llm__hist_record(h, vals[k]);
        int64_t v = vals[k] < 0 ? 0 : vals[k];
        size_t want = LLM__HIST_PROM_BUCKETS; /* +Inf only */
        for (size_t i = 0; i < LLM__HIST_PROM_BUCKETS && want == LLM__HIST_PROM_BUCKETS; i++)
            if (v <= (int64_t)(llm__hist_prom_bounds_s[i] * 1e6 + 0.5))
                want = i;
        for (size_t i = 0; i < LLM__HIST_PROM_BUCKETS; i++)
            assert_int_equal(h->prom[i], i == want ? 1 : 0);
        free(h);
    }
}

static void prometheus_buckets_are_cumulative_exact_and_bounded_by_count(void **state)
{
    (void)state;
    struct llm__hist *h = new_hist();
    /* Exactly on a bound counts in that bucket (le = less or equal). */
    llm__hist_record(h, 10000);     /* 0.01 s */
    llm__hist_record(h, 10001);     /* just over: 0.025 */
    llm__hist_record(h, 1000000);   /* 1 s */
    llm__hist_record(h, 59999999);  /* < 60 s */
    llm__hist_record(h, 700000000); /* 700 s: only +Inf */
    uint64_t cum[LLM__HIST_PROM_BUCKETS];
    llm__hist_prom_cumulative(h, cum);
    static const uint64_t want[LLM__HIST_PROM_BUCKETS] = {1, 2, 2, 2, 2, 2, 3, 3,
                                                          3, 3, 3, 4, 4, 4, 4};
    for (size_t i = 0; i < LLM__HIST_PROM_BUCKETS; i++) {
        assert_int_equal(cum[i], want[i]);
        if (i > 0) {
            assert_true(cum[i] >= cum[i - 1]);
            assert_true(llm__hist_prom_bounds_s[i] > llm__hist_prom_bounds_s[i - 1]);
        }
        assert_true(cum[i] <= h->count);
    }
    assert_int_equal(h->count, 5);
    assert_true(llm__hist_prom_bounds_s[0] == 0.01);
    assert_true(llm__hist_prom_bounds_s[LLM__HIST_PROM_BUCKETS - 1] == 600);
    free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(buckets_tile_the_range_without_gaps_or_overlaps),
        cmocka_unit_test(percentiles_of_uniform_1_to_100000_are_within_the_stated_error),
        cmocka_unit_test(percentiles_of_a_bimodal_distribution_land_in_the_right_mode),
        cmocka_unit_test(small_values_are_exact_and_huge_ones_keep_exact_extremes),
        cmocka_unit_test(count_sum_min_and_max_are_exact),
        cmocka_unit_test(prometheus_buckets_are_cumulative_exact_and_bounded_by_count),
        cmocka_unit_test(the_prometheus_bucket_of_a_value_is_the_first_bound_at_or_above_it),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
