/* Backoff strategies with a scripted random source. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "llmorch/ext/backoff.h"

/* A scripted RNG: hands out `values` in order, then repeats the last. */
struct script {
    const uint64_t *values;
    size_t n, next;
    unsigned calls;
};

static uint64_t scripted(void *user)
{
    struct script *s = user;
    s->calls++;
    uint64_t v = s->values[s->next < s->n ? s->next : s->n - 1];
    if (s->next < s->n)
        s->next++;
    return v;
}

static uint64_t splitmix64(void *user)
{
    uint64_t *s = user;
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static struct llm_backoff *expo(int64_t base, int64_t cap, enum llm_jitter j, unsigned max)
{
    struct llm_backoff_options o = {.base_ms = base, .cap_ms = cap, .jitter = j,
                                    .max_retries = max};
    struct llm_backoff *b = NULL;
    assert_int_equal(llm_backoff_new_exponential(&o, &b), LLM_OK);
    assert_non_null(b);
    return b;
}

static void exponential_without_jitter_doubles_from_the_base(void **state)
{
    (void)state;
    struct llm_backoff *b = expo(100, 100000, LLM_JITTER_NONE, 0);
    int64_t expect = 100;
    for (unsigned n = 1; n <= 10; n++, expect *= 2)
        assert_int_equal(llm_backoff_next_delay_ms(b, n, 0, NULL, NULL), expect);
    assert_string_equal(llm_backoff_name(b), "exponential");
    llm_backoff_free(b);
}

static void exponential_backoff_caps_at_max_delay(void **state)
{
    (void)state;
    struct llm_backoff *b = expo(100, 1000, LLM_JITTER_NONE, 0);
    static const int64_t expect[] = {100, 200, 400, 800, 1000, 1000, 1000};
    for (unsigned n = 1; n <= 7; n++)
        assert_int_equal(llm_backoff_next_delay_ms(b, n, 0, NULL, NULL), expect[n - 1]);
    llm_backoff_free(b);
}

static void defaults_are_full_jitter_from_500_ms_capped_at_30_s(void **state)
{
    (void)state;
    struct llm_backoff *b = NULL;
    assert_int_equal(llm_backoff_new_exponential(NULL, &b), LLM_OK);
    /* Without randomness full jitter answers its ceiling. */
    assert_int_equal(llm_backoff_next_delay_ms(b, 1, 0, NULL, NULL), 500);
    assert_int_equal(llm_backoff_next_delay_ms(b, 2, 0, NULL, NULL), 1000);
    assert_int_equal(llm_backoff_next_delay_ms(b, 6, 0, NULL, NULL), 16000);
    assert_int_equal(llm_backoff_next_delay_ms(b, 7, 0, NULL, NULL), 30000);
    /* And with it, uniform over 0..ceiling: r % (ceiling + 1). */
    const uint64_t v[] = {0, 500, 501, 1234};
    struct script s = {v, 4, 0, 0};
    assert_int_equal(llm_backoff_next_delay_ms(b, 1, 0, scripted, &s), 0);
    assert_int_equal(llm_backoff_next_delay_ms(b, 1, 0, scripted, &s), 500);
    assert_int_equal(llm_backoff_next_delay_ms(b, 1, 0, scripted, &s), 0);
    assert_int_equal(llm_backoff_next_delay_ms(b, 1, 0, scripted, &s), 1234 % 501);
    assert_int_equal(s.calls, 4);
    /* It never stops by itself: the retry policy counts attempts. */
    assert_int_equal(llm_backoff_next_delay_ms(b, 1000, 0, NULL, NULL), 30000);
    llm_backoff_free(b);
}

static void full_jitter_stays_between_zero_and_the_ceiling(void **state)
{
    (void)state;
    struct llm_backoff *b = expo(100, 5000, LLM_JITTER_FULL, 0);
    uint64_t seed = 7;
    for (unsigned n = 1; n <= 12; n++) {
        int64_t ceiling = 100LL << (n - 1) > 5000 ? 5000 : 100LL << (n - 1);
        int64_t lo = INT64_MAX, hi = -1, sum = 0;
        for (int i = 0; i < 4000; i++) {
            int64_t d = llm_backoff_next_delay_ms(b, n, 0, splitmix64, &seed);
            assert_true(d >= 0 && d <= ceiling);
            lo = d < lo ? d : lo;
            hi = d > hi ? d : hi;
            sum += d;
        }
        /* Spread over the whole range, centred on its middle. */
        assert_true(lo <= ceiling / 20);
        assert_true(hi >= ceiling - ceiling / 20);
        int64_t mean = sum / 4000;
        assert_true(mean > ceiling * 45 / 100 && mean < ceiling * 55 / 100);
    }
    /* The extremes of the random source map to the ends of the range. */
    const uint64_t v[] = {UINT64_MAX};
    struct script s = {v, 1, 0, 0};
    int64_t d = llm_backoff_next_delay_ms(b, 3, 0, scripted, &s);
    assert_int_equal(d, (int64_t)(UINT64_MAX % 401));
    llm_backoff_free(b);
}

static void decorrelated_jitter_stays_between_base_and_three_times_the_previous(void **state)
{
    (void)state;
    struct llm_backoff *b = expo(100, 2000, LLM_JITTER_DECORRELATED, 0);
    /* First retry: prev counts as base, so uniform over 100..300. */
    const uint64_t first[] = {0, 200, 201};
    struct script s = {first, 3, 0, 0};
    assert_int_equal(llm_backoff_next_delay_ms(b, 1, 0, scripted, &s), 100);
    assert_int_equal(llm_backoff_next_delay_ms(b, 1, 0, scripted, &s), 300);
    assert_int_equal(llm_backoff_next_delay_ms(b, 1, 0, scripted, &s), 100);
    /* Later: uniform over base..3*prev, then capped. */
    const uint64_t later[] = {400, 1400, 3000};
    struct script t = {later, 3, 0, 0};
    assert_int_equal(llm_backoff_next_delay_ms(b, 2, 500, scripted, &t), 500);  /* 100+400 */
    assert_int_equal(llm_backoff_next_delay_ms(b, 3, 500, scripted, &t), 1500); /* 100+1400 */
    assert_int_equal(llm_backoff_next_delay_ms(b, 4, 1500, scripted, &t), 2000); /* capped */
    /* Without randomness: the upper bound min(cap, 3 * prev). */
    assert_int_equal(llm_backoff_next_delay_ms(b, 2, 400, NULL, NULL), 1200);
    assert_int_equal(llm_backoff_next_delay_ms(b, 2, 900, NULL, NULL), 2000);
    /* A previous delay below base/3 still starts at base. */
    assert_int_equal(llm_backoff_next_delay_ms(b, 2, 10, NULL, NULL), 100);

    /* A random walk never leaves [base, cap] nor exceeds 3 * prev. */
    uint64_t seed = 99;
    int64_t prev = 0;
    for (unsigned n = 1; n <= 5000; n++) {
        int64_t d = llm_backoff_next_delay_ms(b, n, prev, splitmix64, &seed);
        assert_true(d >= 100 && d <= 2000);
        assert_true(d <= 3 * (prev > 0 ? prev : 100));
        prev = d;
    }
    llm_backoff_free(b);
}

static void constant_backoff_returns_the_same_delay_every_time(void **state)
{
    (void)state;
    struct llm_backoff_constant_options o = {.delay_ms = 250};
    struct llm_backoff *b = NULL;
    assert_int_equal(llm_backoff_new_constant(&o, &b), LLM_OK);
    assert_string_equal(llm_backoff_name(b), "constant");
    const uint64_t v[] = {12345};
    struct script s = {v, 1, 0, 0};
    for (unsigned n = 1; n < 100; n++)
        assert_int_equal(llm_backoff_next_delay_ms(b, n, n * 7, scripted, &s), 250);
    assert_int_equal(s.calls, 0);
    llm_backoff_free(b);

    assert_int_equal(llm_backoff_new_constant(NULL, &b), LLM_OK);
    assert_int_equal(llm_backoff_next_delay_ms(b, 1, 0, NULL, NULL), 500);
    llm_backoff_free(b);
}

static void max_retries_stops_with_minus_one(void **state)
{
    (void)state;
    struct llm_backoff *b = expo(10, 100, LLM_JITTER_NONE, 3);
    assert_int_equal(llm_backoff_next_delay_ms(b, 3, 0, NULL, NULL), 40);
    assert_int_equal(llm_backoff_next_delay_ms(b, 4, 0, NULL, NULL), -1);
    llm_backoff_free(b);

    struct llm_backoff_constant_options o = {.delay_ms = 5, .max_retries = 2};
    assert_int_equal(llm_backoff_new_constant(&o, &b), LLM_OK);
    assert_int_equal(llm_backoff_next_delay_ms(b, 2, 0, NULL, NULL), 5);
    assert_int_equal(llm_backoff_next_delay_ms(b, 3, 0, NULL, NULL), -1);
    llm_backoff_free(b);
}

static void attempt_zero_counts_as_the_first_retry(void **state)
{
    (void)state;
    struct llm_backoff *b = expo(100, 1000, LLM_JITTER_NONE, 0);
    assert_int_equal(llm_backoff_next_delay_ms(b, 0, 0, NULL, NULL), 100);
    llm_backoff_free(b);
}

static void huge_attempt_numbers_do_not_overflow(void **state)
{
    (void)state;
    static const unsigned attempts[] = {62, 63, 64, 65, 100, 1000, UINT_MAX - 1, UINT_MAX};
    struct llm_backoff *b = expo(1, INT64_MAX, LLM_JITTER_NONE, 0);
    /* cap is clamped to 2^53 ms; 2^(n-1) reaches it at n = 54. */
    assert_int_equal(llm_backoff_next_delay_ms(b, 53, 0, NULL, NULL), (int64_t)1 << 52);
    assert_int_equal(llm_backoff_next_delay_ms(b, 54, 0, NULL, NULL), (int64_t)1 << 53);
    for (size_t i = 0; i < sizeof(attempts) / sizeof(attempts[0]); i++)
        assert_int_equal(llm_backoff_next_delay_ms(b, attempts[i], 0, NULL, NULL),
                         (int64_t)1 << 53);
    llm_backoff_free(b);

    b = expo(INT64_MAX, INT64_MAX, LLM_JITTER_FULL, 0);
    uint64_t seed = 1;
    for (size_t i = 0; i < sizeof(attempts) / sizeof(attempts[0]); i++) {
        int64_t d = llm_backoff_next_delay_ms(b, attempts[i], 0, splitmix64, &seed);
        assert_true(d >= 0 && d <= (int64_t)1 << 53);
    }
    llm_backoff_free(b);

    b = expo(1000, 30000, LLM_JITTER_DECORRELATED, 0);
    assert_int_equal(llm_backoff_next_delay_ms(b, UINT_MAX, INT64_MAX, NULL, NULL), 30000);
    int64_t d = llm_backoff_next_delay_ms(b, UINT_MAX, INT64_MAX, splitmix64, &seed);
    assert_true(d >= 1000 && d <= 30000);
    /* A negative previous delay counts as none. */
    assert_int_equal(llm_backoff_next_delay_ms(b, 2, -5, NULL, NULL), 3000);
    llm_backoff_free(b);
}

static void factories_reject_bad_options(void **state)
{
    (void)state;
    struct llm_backoff *b = (struct llm_backoff *)1;
    struct llm_backoff_options o = {.base_ms = 1000, .cap_ms = 10};
    assert_int_equal(llm_backoff_new_exponential(&o, &b), LLM_ERR_INVALID_ARGUMENT);
    assert_null(b);
    o = (struct llm_backoff_options){.base_ms = 60000}; /* over the default cap */
    assert_int_equal(llm_backoff_new_exponential(&o, &b), LLM_ERR_INVALID_ARGUMENT);
    o = (struct llm_backoff_options){.base_ms = -1};
    assert_int_equal(llm_backoff_new_exponential(&o, &b), LLM_ERR_INVALID_ARGUMENT);
    o = (struct llm_backoff_options){.cap_ms = -1};
    assert_int_equal(llm_backoff_new_exponential(&o, &b), LLM_ERR_INVALID_ARGUMENT);
    o = (struct llm_backoff_options){.jitter = (enum llm_jitter)7};
    assert_int_equal(llm_backoff_new_exponential(&o, &b), LLM_ERR_INVALID_ARGUMENT);
    assert_int_equal(llm_backoff_new_exponential(NULL, NULL), LLM_ERR_INVALID_ARGUMENT);
    struct llm_backoff_constant_options c = {.delay_ms = -1};
    assert_int_equal(llm_backoff_new_constant(&c, &b), LLM_ERR_INVALID_ARGUMENT);
    assert_null(b);
    assert_int_equal(llm_backoff_new_constant(NULL, NULL), LLM_ERR_INVALID_ARGUMENT);
}

struct custom {
    int destroyed;
};

static int64_t custom_next(const void *impl, unsigned attempt, int64_t prev_delay_ms,
                           llm_rand_fn *rand_fn, void *rand_user)
{
    (void)impl, (void)prev_delay_ms, (void)rand_fn, (void)rand_user;
    return attempt < 3 ? (int64_t)attempt * 1000 : -42;
}

static void custom_destroy(void *impl)
{
    ((struct custom *)impl)->destroyed++;
}

static void a_custom_strategy_is_called_through_the_wrapper(void **state)
{
    (void)state;
    struct custom c = {0};
    struct llm_backoff_vtable vt = {.next_delay_ms = custom_next, .destroy = custom_destroy};
    struct llm_backoff *b = NULL;
    assert_int_equal(llm_backoff_new(&vt, &c, "linear", &b), LLM_OK);
    assert_string_equal(llm_backoff_name(b), "linear");
    assert_int_equal(llm_backoff_next_delay_ms(b, 2, 0, NULL, NULL), 2000);
    /* Any negative answer is normalised to -1 (stop). */
    assert_int_equal(llm_backoff_next_delay_ms(b, 3, 0, NULL, NULL), -1);
    llm_backoff_free(b);
    assert_int_equal(c.destroyed, 1);

    vt.destroy = NULL;
    assert_int_equal(llm_backoff_new(&vt, &c, NULL, &b), LLM_OK);
    assert_string_equal(llm_backoff_name(b), "backoff");
    llm_backoff_free(b);
    vt.next_delay_ms = NULL;
    assert_int_equal(llm_backoff_new(&vt, &c, NULL, &b), LLM_ERR_INVALID_ARGUMENT);
    assert_null(b);
    assert_int_equal(c.destroyed, 1);
}

static void a_null_backoff_stops_and_free_is_null_safe(void **state)
{
    (void)state;
    assert_int_equal(llm_backoff_next_delay_ms(NULL, 1, 0, NULL, NULL), -1);
    llm_backoff_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(exponential_without_jitter_doubles_from_the_base),
        cmocka_unit_test(exponential_backoff_caps_at_max_delay),
        cmocka_unit_test(defaults_are_full_jitter_from_500_ms_capped_at_30_s),
        cmocka_unit_test(full_jitter_stays_between_zero_and_the_ceiling),
        cmocka_unit_test(decorrelated_jitter_stays_between_base_and_three_times_the_previous),
        cmocka_unit_test(constant_backoff_returns_the_same_delay_every_time),
        cmocka_unit_test(max_retries_stops_with_minus_one),
        cmocka_unit_test(attempt_zero_counts_as_the_first_retry),
        cmocka_unit_test(huge_attempt_numbers_do_not_overflow),
        cmocka_unit_test(factories_reject_bad_options),
        cmocka_unit_test(a_custom_strategy_is_called_through_the_wrapper),
        cmocka_unit_test(a_null_backoff_stops_and_free_is_null_safe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
