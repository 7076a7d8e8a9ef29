/* The sliding-window gate, on a fake clock (plain integers: the gate takes
 * time as an argument, so nothing here sleeps). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "llmorch/ext/gate.h"

#define W 60000 /* default window */

static struct llm_gate *window_gate(int64_t limit, int64_t window_ms, size_t max_entries)
{
    struct llm_window_gate_options o = {
        .name = "test", .limit = limit, .window_ms = window_ms, .max_entries = max_entries};
    struct llm_gate *g = NULL;
    assert_int_equal(llm_gate_new_sliding_window(&o, &g), LLM_OK);
    assert_non_null(g);
    return g;
}

static int64_t used_at(struct llm_gate *g, int64_t now)
{
    int64_t used = -1, limit = -1;
    llm_gate_usage(g, now, &used, &limit);
    return used;
}

/* ---- a reference model: the definition, computed the slow way ----------- */

#define MODEL_MAX 40000

struct model {
    int64_t t[MODEL_MAX];
    int64_t amount[MODEL_MAX];
    int64_t ticket[MODEL_MAX];
    size_t n;
    int64_t limit, window;
};

static int64_t model_sum(const struct model *m, int64_t now)
{
    int64_t s = 0;
    for (size_t i = 0; i < m->n; i++) {
        if (m->t[i] > now - m->window && m->t[i] <= now)
            s += m->amount[i];
    }
    return s;
}

/* Whether `x` may be admitted at `now` by the definition in gate.h. */
static bool model_admits(const struct model *m, int64_t now, int64_t x)
{
    int64_t s = model_sum(m, now);
    return x > m->limit ? s == 0 : s + x <= m->limit;
}

/* Earliest time >= now at which x fits, given no further admissions: the
 * answer can only change when an entry ages out, so try those instants. */
static int64_t model_earliest(const struct model *m, int64_t now, int64_t x)
{
    if (model_admits(m, now, x))
        return now;
    int64_t best = INT64_MAX;
    for (size_t i = 0; i < m->n; i++) {
        if (m->t[i] <= now - m->window)
            continue;
        int64_t cand = m->t[i] + m->window;
        if (cand < best && model_admits(m, cand, x))
            best = cand;
    }
    return best;
}

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Drive the gate with random amounts, times and refunds; check each
 * decision and each "not before" against the model, then check the
 * invariant itself over every window. */
static void run_property(uint64_t seed, int64_t limit, int64_t window, int ops)
{
    struct model *m = calloc(1, sizeof(*m));
    assert_non_null(m);
    m->limit = limit;
    m->window = window;
    struct llm_gate *g = window_gate(limit, window, 0);
    uint64_t rng = seed;
    int64_t now = 1000;
    int refused = 0;
    for (int op = 0; op < ops; op++) {
        uint64_t r = splitmix64(&rng);
        now += (int64_t)(r % 8 == 0 ? splitmix64(&rng) % (uint64_t)(window / 4)
                                    : splitmix64(&rng) % (uint64_t)(window / 50 + 1));
        int64_t x;
        switch (splitmix64(&rng) % 20) {
        case 0:
            x = 0;
            break;
        case 1:
            x = limit + 1 + (int64_t)(splitmix64(&rng) % (uint64_t)limit); /* oversized */
            break;
        default:
            x = 1 + (int64_t)(splitmix64(&rng) % (uint64_t)(limit / 4 + 1));
        }
        bool expect = model_admits(m, now, x);
        int64_t ticket = -1;
        int64_t t = llm_gate_try_acquire(g, now, x, &ticket);
        if (expect) {
            assert_int_equal(t, 0);
            assert_true(m->n < MODEL_MAX);
            m->t[m->n] = now;
            m->amount[m->n] = x;
            m->ticket[m->n] = ticket;
            m->n++;
        } else {
            refused++;
            assert_true(t > now);
            assert_int_equal(t, model_earliest(m, now, x));
        }
        /* Now and then a refund on a random recent admission (TPM usage
         * arriving below the estimate). */
        if (m->n > 0 && splitmix64(&rng) % 5 == 0) {
            size_t k = m->n - 1 - (size_t)(splitmix64(&rng) % (m->n < 50 ? m->n : 50));
            int64_t actual = m->amount[k] / 2;
            llm_gate_adjust(g, m->ticket[k], actual, now);
            if (m->t[k] > now - window)
                m->amount[k] = actual; /* aged-out tickets are ignored */
        }
        assert_int_equal(used_at(g, now), model_sum(m, now));
    }
    /* The invariant: no window of `window` ms holds more than the limit,
     * except a single oversized admission alone in its window. */
    for (size_t i = 0; i < m->n; i++) {
        int64_t s = 0;
        size_t count = 0;
        for (size_t j = 0; j < m->n; j++) {
            if (m->t[j] > m->t[i] - window && m->t[j] <= m->t[i] && m->amount[j] > 0) {
                s += m->amount[j];
                count++;
            }
        }
        if (s > limit)
            assert_int_equal(count, 1);
    }
    assert_true(refused > ops / 20); /* the test did exercise refusals */
    llm_gate_free(g);
    free(m);
}

static void gate_never_admits_more_than_the_limit_in_any_window(void **state)
{
    (void)state;
    run_property(1, 100, 1000, 6000);
    run_property(2, 7, 500, 6000);
    run_property(3, 90000, W, 6000);
    run_property(4, 1, 100, 3000);
}

/* ---- specific behaviours -------------------------------------------------- */

static void not_before_is_exactly_the_earliest_admission_time(void **state)
{
    (void)state;
    struct llm_gate *g = window_gate(10, 1000, 0);
    int64_t tk;
    assert_int_equal(llm_gate_try_acquire(g, 0, 4, &tk), 0);
    assert_int_equal(llm_gate_try_acquire(g, 100, 4, &tk), 0);
    /* 8 held; 5 more needs 3 freed: the entry at 0 ages out at 1000. */
    assert_int_equal(llm_gate_try_acquire(g, 200, 5, &tk), 1000);
    assert_int_equal(llm_gate_try_acquire(g, 999, 5, &tk), 1000);
    assert_int_equal(llm_gate_try_acquire(g, 1000, 5, &tk), 0);
    /* Now 4 (at 100) + 5 (at 1000): 1 more fits exactly, and anything
     * beyond needs the entry at 100 gone. */
    assert_int_equal(llm_gate_try_acquire(g, 1000, 2, &tk), 1100);
    assert_int_equal(llm_gate_try_acquire(g, 1000, 1, &tk), 0);
    assert_int_equal(llm_gate_try_acquire(g, 1000, 1, &tk), 1100);
    assert_int_equal(llm_gate_try_acquire(g, 1099, 1, &tk), 1100);
    assert_int_equal(llm_gate_try_acquire(g, 1100, 4, &tk), 0);
    /* Refusals debit nothing. */
    assert_int_equal(used_at(g, 1100), 10);
    llm_gate_free(g);
}

static void entries_leave_the_window_exactly_window_ms_after_admission(void **state)
{
    (void)state;
    struct llm_gate *g = window_gate(1, 1000, 0);
    assert_int_equal(llm_gate_try_acquire(g, 5, 1, NULL), 0);
    assert_int_equal(used_at(g, 1004), 1);
    assert_int_equal(llm_gate_try_acquire(g, 1004, 1, NULL), 1005);
    assert_int_equal(used_at(g, 1005), 0);
    assert_int_equal(llm_gate_try_acquire(g, 1005, 1, NULL), 0);
    llm_gate_free(g);
}

static void adjust_refunds_an_overestimate(void **state)
{
    (void)state;
    struct llm_gate *g = window_gate(10, W, 0);
    int64_t a;
    assert_int_equal(llm_gate_try_acquire(g, 0, 8, &a), 0);
    assert_int_equal(llm_gate_try_acquire(g, 10, 5, NULL), W);
    llm_gate_adjust(g, a, 3, 20);
    assert_int_equal(used_at(g, 20), 3);
    assert_int_equal(llm_gate_try_acquire(g, 20, 5, NULL), 0);
    assert_int_equal(used_at(g, 20), 8);
    llm_gate_free(g);
}

static void adjust_charges_an_underestimate_at_the_original_time(void **state)
{
    (void)state;
    struct llm_gate *g = window_gate(10, W, 0);
    int64_t a, b;
    assert_int_equal(llm_gate_try_acquire(g, 0, 2, &a), 0);
    assert_int_equal(llm_gate_try_acquire(g, 100, 2, &b), 0);
    llm_gate_adjust(g, a, 12, 500);
    /* Over the limit now: nothing fits until the corrected entry (still
     * booked at 0) ages out at W. */
    assert_int_equal(used_at(g, 500), 14);
    assert_int_equal(llm_gate_try_acquire(g, 500, 0, NULL), W);
    assert_int_equal(llm_gate_try_acquire(g, 500, 1, NULL), W);
    assert_int_equal(llm_gate_try_acquire(g, W, 8, NULL), 0);
    /* A ticket may be corrected again; the last word counts. */
    llm_gate_adjust(g, b, 0, W);
    assert_int_equal(used_at(g, W), 8);
    llm_gate_free(g);
}

static void an_amount_over_the_limit_is_admitted_when_the_window_is_empty(void **state)
{
    (void)state;
    struct llm_gate *g = window_gate(10, W, 0);
    int64_t tk;
    assert_int_equal(llm_gate_try_acquire(g, 0, 25, &tk), 0);
    assert_int_equal(used_at(g, 0), 25);
    /* It then occupies the window alone. */
    assert_int_equal(llm_gate_try_acquire(g, 10, 1, NULL), W);
    assert_int_equal(llm_gate_try_acquire(g, W, 1, NULL), 0);
    llm_gate_free(g);
}

static void an_amount_over_the_limit_waits_for_every_entry_to_age_out(void **state)
{
    (void)state;
    struct llm_gate *g = window_gate(10, W, 0);
    assert_int_equal(llm_gate_try_acquire(g, 0, 1, NULL), 0);
    assert_int_equal(llm_gate_try_acquire(g, 300, 1, NULL), 0);
    assert_int_equal(llm_gate_try_acquire(g, 400, 0, NULL), 0);
    assert_int_equal(llm_gate_try_acquire(g, 500, 11, NULL), 300 + W);
    assert_int_equal(llm_gate_try_acquire(g, W, 11, NULL), 300 + W);
    /* Zero-amount entries do not hold it back. */
    assert_int_equal(llm_gate_try_acquire(g, 300 + W, 11, NULL), 0);
    llm_gate_free(g);
}

static void block_until_admits_nothing_before_the_time(void **state)
{
    (void)state;
    struct llm_gate *g = window_gate(10, 1000, 0);
    llm_gate_block_until(g, 5000);
    assert_int_equal(llm_gate_try_acquire(g, 0, 1, NULL), 5000);
    assert_int_equal(llm_gate_try_acquire(g, 4999, 0, NULL), 5000);
    /* Blocks only extend. */
    llm_gate_block_until(g, 3000);
    assert_int_equal(llm_gate_try_acquire(g, 4000, 1, NULL), 5000);
    assert_int_equal(used_at(g, 4000), 0);
    assert_int_equal(llm_gate_try_acquire(g, 5000, 10, NULL), 0);
    /* A block and a full window: the later of the two. */
    llm_gate_block_until(g, 5500);
    assert_int_equal(llm_gate_try_acquire(g, 5100, 1, NULL), 6000);
    llm_gate_block_until(g, 7000);
    assert_int_equal(llm_gate_try_acquire(g, 5100, 1, NULL), 7000);
    llm_gate_free(g);
}

static void set_limit_shrinks_and_grows_the_allowance(void **state)
{
    (void)state;
    struct llm_gate *g = window_gate(10, W, 0);
    int64_t used, limit;
    assert_int_equal(llm_gate_try_acquire(g, 0, 8, NULL), 0);
    llm_gate_set_limit(g, 5, 0);
    llm_gate_usage(g, 1, &used, &limit);
    assert_int_equal(used, 8);
    assert_int_equal(limit, 5);
    assert_int_equal(llm_gate_try_acquire(g, 1, 1, NULL), W);
    llm_gate_set_limit(g, 20, 0);
    assert_int_equal(llm_gate_try_acquire(g, 2, 12, NULL), 0);
    assert_int_equal(llm_gate_try_acquire(g, 3, 1, NULL), W);
    /* Values <= 0 leave a setting alone. */
    llm_gate_set_limit(g, 0, -1);
    llm_gate_usage(g, 3, &used, &limit);
    assert_int_equal(limit, 20);
    llm_gate_free(g);
}

static void set_limit_can_shorten_the_window(void **state)
{
    (void)state;
    struct llm_gate *g = window_gate(1, W, 0);
    assert_int_equal(llm_gate_try_acquire(g, 100, 1, NULL), 0);
    assert_int_equal(llm_gate_try_acquire(g, 200, 1, NULL), 100 + W);
    llm_gate_set_limit(g, 0, 1000);
    assert_int_equal(llm_gate_try_acquire(g, 200, 1, NULL), 1100);
    assert_int_equal(llm_gate_try_acquire(g, 1100, 1, NULL), 0);
    llm_gate_free(g);
}

static void a_ticket_is_harmless_after_its_entry_ages_out(void **state)
{
    (void)state;
    struct llm_gate *g = window_gate(10, 1000, 0);
    int64_t a, b;
    assert_int_equal(llm_gate_try_acquire(g, 0, 5, &a), 0);
    assert_int_equal(llm_gate_try_acquire(g, 1000, 10, &b), 0);
    assert_true(b != a);
    llm_gate_adjust(g, a, 1000, 1000);
    assert_int_equal(used_at(g, 1000), 10);
    /* Tickets never issued are ignored as well. */
    llm_gate_adjust(g, 0, 1000, 1000);
    llm_gate_adjust(g, -7, 1000, 1000);
    llm_gate_adjust(g, b + 1000, 1000, 1000);
    llm_gate_adjust(g, INT64_MAX, 1000, 1000);
    llm_gate_adjust(g, INT64_MIN, 1000, 1000);
    assert_int_equal(used_at(g, 1000), 10);
    /* A correction arriving after the window has passed is ignored too. */
    assert_int_equal(llm_gate_try_acquire(g, 1500, 0, NULL), 0);
    llm_gate_adjust(g, b, 1, 2000);
    assert_int_equal(used_at(g, 2000), 0);
    llm_gate_free(g);
}

static void a_zero_amount_gets_a_ticket_that_can_be_charged_later(void **state)
{
    (void)state;
    struct llm_gate *g = window_gate(10, W, 0);
    int64_t z = 0;
    assert_int_equal(llm_gate_try_acquire(g, 0, 0, &z), 0);
    assert_true(z > 0);
    assert_int_equal(llm_gate_try_acquire(g, 0, -5, NULL), 0); /* counts as 0 */
    llm_gate_adjust(g, z, 7, 10);
    assert_int_equal(used_at(g, 10), 7);
    assert_int_equal(llm_gate_try_acquire(g, 10, 4, NULL), W);
    llm_gate_free(g);
}

static void time_going_backwards_counts_as_the_latest_time(void **state)
{
    (void)state;
    struct llm_gate *g = window_gate(1, 1000, 0);
    assert_int_equal(llm_gate_try_acquire(g, 5000, 1, NULL), 0);
    /* An earlier reading must not see the window as emptier. */
    assert_int_equal(llm_gate_try_acquire(g, 100, 1, NULL), 6000);
    assert_int_equal(used_at(g, 0), 1);
    llm_gate_free(g);
}

static void a_full_log_refuses_until_its_oldest_entry_ages_out(void **state)
{
    (void)state;
    struct llm_gate *g = window_gate(1000, 1000, 3);
    assert_int_equal(llm_gate_try_acquire(g, 0, 1, NULL), 0);
    assert_int_equal(llm_gate_try_acquire(g, 10, 1, NULL), 0);
    assert_int_equal(llm_gate_try_acquire(g, 20, 1, NULL), 0);
    assert_int_equal(llm_gate_try_acquire(g, 30, 1, NULL), 1000);
    assert_int_equal(llm_gate_try_acquire(g, 1000, 1, NULL), 0);
    assert_int_equal(used_at(g, 1000), 3);
    llm_gate_free(g);
}

static void a_large_burst_grows_and_drains_the_log(void **state)
{
    (void)state;
    enum { N = 50000 };
    struct llm_gate *g = window_gate(N, 1000, 0);
    int64_t first = 0, last = 0;
    for (int i = 0; i < N; i++) {
        int64_t tk;
        assert_int_equal(llm_gate_try_acquire(g, i / 100, 1, &tk), 0);
        if (i == 0)
            first = tk;
        last = tk;
    }
    assert_int_equal(last - first, N - 1);
    assert_int_equal(llm_gate_try_acquire(g, 499, 1, NULL), 1000);
    /* Half ages out: refusal time walks to the entry freeing enough. */
    assert_int_equal(used_at(g, 1000 + 249), N / 2);
    assert_int_equal(llm_gate_try_acquire(g, 1249, N / 2 + 100, NULL), 1250);
    assert_int_equal(used_at(g, 2000), 0);
    /* Tickets keep counting after the log shrank. */
    int64_t tk;
    assert_int_equal(llm_gate_try_acquire(g, 2000, 1, &tk), 0);
    assert_int_equal(tk, last + 1);
    llm_gate_free(g);
}

static void huge_amounts_and_limits_do_not_overflow(void **state)
{
    (void)state;
    struct llm_gate *g = window_gate(INT64_MAX, INT64_MAX, 0);
    int64_t used, limit;
    for (int i = 0; i < 100; i++)
        assert_int_equal(llm_gate_try_acquire(g, i, INT64_MAX, NULL), 0);
    llm_gate_usage(g, 100, &used, &limit);
    assert_int_equal(limit, LLM_GATE_MAX_LIMIT);
    assert_int_equal(used, 100 * LLM_GATE_MAX_AMOUNT);
    llm_gate_block_until(g, INT64_MAX);
    assert_int_equal(llm_gate_try_acquire(g, 200, 1, NULL), INT64_MAX);
    llm_gate_free(g);

    g = window_gate(1, INT64_MAX, 0);
    assert_int_equal(llm_gate_try_acquire(g, 10, 1, NULL), 0);
    assert_int_equal(llm_gate_try_acquire(g, 20, 1, NULL), INT64_MAX); /* saturates */
    llm_gate_free(g);
}

static void the_factory_checks_its_options_and_applies_defaults(void **state)
{
    (void)state;
    struct llm_gate *g = (struct llm_gate *)1;
    struct llm_window_gate_options o = {0};
    assert_int_equal(llm_gate_new_sliding_window(&o, &g), LLM_ERR_INVALID_ARGUMENT);
    assert_null(g);
    o.limit = -1;
    assert_int_equal(llm_gate_new_sliding_window(&o, &g), LLM_ERR_INVALID_ARGUMENT);
    o.limit = 1;
    o.window_ms = -1;
    assert_int_equal(llm_gate_new_sliding_window(&o, &g), LLM_ERR_INVALID_ARGUMENT);
    assert_int_equal(llm_gate_new_sliding_window(NULL, &g), LLM_ERR_INVALID_ARGUMENT);
    o.window_ms = 0;
    assert_int_equal(llm_gate_new_sliding_window(&o, NULL), LLM_ERR_INVALID_ARGUMENT);

    assert_int_equal(llm_gate_new_sliding_window(&o, &g), LLM_OK);
    assert_string_equal(llm_gate_name(g), "window");
    assert_int_equal(llm_gate_try_acquire(g, 0, 1, NULL), 0);
    assert_int_equal(llm_gate_try_acquire(g, 0, 1, NULL), 60000); /* default window */
    llm_gate_free(g);

    char name[] = "rpm";
    o.name = name;
    assert_int_equal(llm_gate_new_sliding_window(&o, &g), LLM_OK);
    name[0] = 'x'; /* copied */
    assert_string_equal(llm_gate_name(g), "rpm");
    llm_gate_free(g);
}

/* ---- the wrapper ------------------------------------------------------------ */

struct counting {
    int acquires, destroyed;
};

static int64_t counting_acquire(void *impl, int64_t now_ms, int64_t amount, int64_t *ticket)
{
    struct counting *c = impl;
    c->acquires++;
    *ticket = 42;
    return amount > 5 ? now_ms + 1 : 0;
}

static void counting_destroy(void *impl)
{
    ((struct counting *)impl)->destroyed++;
}

static void a_custom_gate_gets_no_op_defaults_for_optional_slots(void **state)
{
    (void)state;
    struct counting c = {0};
    struct llm_gate_vtable vt = {.try_acquire = counting_acquire};
    struct llm_gate *g = NULL;
    assert_int_equal(llm_gate_new(&vt, &c, NULL, &g), LLM_OK);
    assert_string_equal(llm_gate_name(g), "gate");
    int64_t tk = 0;
    assert_int_equal(llm_gate_try_acquire(g, 10, 1, &tk), 0);
    assert_int_equal(tk, 42);
    assert_int_equal(llm_gate_try_acquire(g, 10, 9, NULL), 11);
    llm_gate_adjust(g, tk, 3, 10);
    llm_gate_set_limit(g, 3, 3);
    llm_gate_block_until(g, 100);
    int64_t used = -1, limit = -1;
    llm_gate_usage(g, 10, &used, &limit);
    assert_int_equal(used, 0);
    assert_int_equal(limit, 0);
    llm_gate_usage(g, 10, NULL, NULL);
    assert_int_equal(c.acquires, 2);
    llm_gate_free(g);

    vt.destroy = counting_destroy;
    assert_int_equal(llm_gate_new(&vt, &c, "mine", &g), LLM_OK);
    assert_string_equal(llm_gate_name(g), "mine");
    llm_gate_free(g);
    assert_int_equal(c.destroyed, 1);

    vt.try_acquire = NULL;
    assert_int_equal(llm_gate_new(&vt, &c, NULL, &g), LLM_ERR_INVALID_ARGUMENT);
    assert_null(g);
    assert_int_equal(llm_gate_new(NULL, &c, NULL, &g), LLM_ERR_INVALID_ARGUMENT);
}

static void a_null_gate_admits_everything_and_free_is_null_safe(void **state)
{
    (void)state;
    int64_t used = -1, limit = -1;
    int64_t tk = -1;
    assert_int_equal(llm_gate_try_acquire(NULL, 0, 1000000, NULL), 0);
    assert_int_equal(llm_gate_try_acquire(NULL, 0, 1000000, &tk), 0);
    assert_int_equal(tk, 0);
    llm_gate_adjust(NULL, 1, 1, 0);
    llm_gate_set_limit(NULL, 1, 1);
    llm_gate_block_until(NULL, 10);
    llm_gate_usage(NULL, 0, &used, &limit);
    assert_int_equal(used, 0);
    assert_int_equal(limit, 0);
    llm_gate_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(gate_never_admits_more_than_the_limit_in_any_window),
        cmocka_unit_test(not_before_is_exactly_the_earliest_admission_time),
        cmocka_unit_test(entries_leave_the_window_exactly_window_ms_after_admission),
        cmocka_unit_test(adjust_refunds_an_overestimate),
        cmocka_unit_test(adjust_charges_an_underestimate_at_the_original_time),
        cmocka_unit_test(an_amount_over_the_limit_is_admitted_when_the_window_is_empty),
        cmocka_unit_test(an_amount_over_the_limit_waits_for_every_entry_to_age_out),
        cmocka_unit_test(block_until_admits_nothing_before_the_time),
        cmocka_unit_test(set_limit_shrinks_and_grows_the_allowance),
        cmocka_unit_test(set_limit_can_shorten_the_window),
        cmocka_unit_test(a_ticket_is_harmless_after_its_entry_ages_out),
        cmocka_unit_test(a_zero_amount_gets_a_ticket_that_can_be_charged_later),
        cmocka_unit_test(time_going_backwards_counts_as_the_latest_time),
        cmocka_unit_test(a_full_log_refuses_until_its_oldest_entry_ages_out),
        cmocka_unit_test(a_large_burst_grows_and_drains_the_log),
        cmocka_unit_test(huge_amounts_and_limits_do_not_overflow),
        cmocka_unit_test(the_factory_checks_its_options_and_applies_defaults),
        cmocka_unit_test(a_custom_gate_gets_no_op_defaults_for_optional_slots),
        cmocka_unit_test(a_null_gate_admits_everything_and_free_is_null_safe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
