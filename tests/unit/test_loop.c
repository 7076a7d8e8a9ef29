/* The event loop's timer heap (src/base/loop.c): timers re-armed in place
 * (moved earlier or later while armed, as curl's timer callback does about
 * twice per request) and stopped ones fire exactly as a reference order
 * says: each armed timer once, in order of its last due time. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/loop.h"

#define N 300

struct fired {
    int order[N];
    int n;
};

static struct fired g_fired;

static void on_fire(struct llm__timer *t, void *user)
{
    (void)t;
    g_fired.order[g_fired.n++] = (int)(intptr_t)user;
}

static uint64_t rng_state = 88172645463325252ull;
static unsigned rnd(unsigned n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (unsigned)(rng_state % n);
}

/* Every due time is in the past of the monotonic clock (small values), so
 * one turn of the loop fires every armed timer. */
static void rearmed_and_stopped_timers_fire_once_each_in_due_order(void **state)
{
    (void)state;
    for (int round = 0; round < 20; round++) {
        struct llm__loop *l = NULL;
        assert_int_equal(llm__loop_new(&l), 0);
        static struct llm__timer t[N];
        int64_t due[N];
        bool armed[N];
        memset(t, 0, sizeof(t));
        for (int i = 0; i < N; i++) {
            /* Distinct due times (i in the low digits) make the order exact. */
            due[i] = 1000 + (int64_t)rnd(1000) * N + i;
            assert_int_equal(llm__timer_start(l, &t[i], due[i], on_fire, (void *)(intptr_t)i), 0);
            armed[i] = true;
        }
        for (int k = 0; k < 4 * N; k++) {
            int i = (int)rnd(N);
            switch (rnd(4)) {
            case 0: /* earlier */
                due[i] = 1000 + (int64_t)rnd((unsigned)((due[i] - 1000) / N + 1)) * N + i;
                break;
            case 1: /* later */
                due[i] = due[i] + (int64_t)rnd(500) * N;
                break;
            case 2: /* the same */
                break;
            default: /* stopped (re-armed later maybe) */
                llm__timer_stop(l, &t[i]);
                armed[i] = false;
                continue;
            }
            assert_int_equal(llm__timer_start(l, &t[i], due[i], on_fire, (void *)(intptr_t)i), 0);
            armed[i] = true;
            assert_true(llm__timer_armed(&t[i]));
        }
        g_fired.n = 0;
        llm__loop_run_once(l, 0);
        int expect = 0;
        for (int i = 0; i < N; i++)
            expect += armed[i];
        assert_int_equal(g_fired.n, expect);
        for (int k = 0; k < g_fired.n; k++) {
            int i = g_fired.order[k];
            assert_true(armed[i]);
            armed[i] = false; /* once */
            assert_false(llm__timer_armed(&t[i]));
            if (k > 0)
                assert_true(due[g_fired.order[k - 1]] < due[i]);
        }
        llm__loop_free(l);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rearmed_and_stopped_timers_fire_once_each_in_due_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
