/* Backoff strategies: exponential (none / full / decorrelated jitter) and
 * constant, plus the wrapper every strategy is called through.
 *
 * The built-in strategies keep no state between calls (the previous delay
 * is passed back in), so one instance serves every request concurrently. */
#include "llmorch/ext/backoff.h"

#include <stdlib.h>

#include "base/util.h"

#define DEFAULT_BASE_MS 500
#define DEFAULT_CAP_MS 30000

struct llm_backoff {
    struct llm_backoff_vtable vt;
    void *impl;
    char *name;
};

static void noop_destroy(void *impl)
{
    (void)impl;
}

enum llm_error llm_backoff_new(const struct llm_backoff_vtable *vt, void *impl,
                               const char *name, struct llm_backoff **out)
{
    if (out != NULL)
        *out = NULL;
    if (vt == NULL || vt->next_delay_ms == NULL || out == NULL)
        return LLM_ERR_INVALID_ARGUMENT;
    struct llm_backoff *b = calloc(1, sizeof(*b));
    if (b == NULL)
        return LLM_ERR_OUT_OF_MEMORY;
    b->name = llm__strdup(name != NULL ? name : "backoff");
    if (b->name == NULL) {
        free(b);
        return LLM_ERR_OUT_OF_MEMORY;
    }
    b->vt = *vt;
    if (b->vt.destroy == NULL)
        b->vt.destroy = noop_destroy;
    b->impl = impl;
    *out = b;
    return LLM_OK;
}

int64_t llm_backoff_next_delay_ms(const struct llm_backoff *b, unsigned attempt,
                                  int64_t prev_delay_ms, llm_rand_fn *rand_fn, void *rand_user)
{
    if (b == NULL)
        return -1;
    int64_t d = b->vt.next_delay_ms(b->impl, attempt == 0 ? 1 : attempt,
                                    prev_delay_ms < 0 ? 0 : prev_delay_ms, rand_fn, rand_user);
    /* A custom strategy's other negative answers mean stop, too. */
    return d < 0 ? -1 : d;
}

const char *llm_backoff_name(const struct llm_backoff *b)
{
    return b != NULL ? b->name : "(null)";
}

void llm_backoff_free(struct llm_backoff *b)
{
    if (b == NULL)
        return;
    b->vt.destroy(b->impl);
    free(b->name);
    free(b);
}

/* ---- exponential ---------------------------------------------------------- */

struct exponential {
    int64_t base_ms;
    int64_t cap_ms;
    enum llm_jitter jitter;
    unsigned max_retries;
};

/* min(cap, base * 2^(n-1)) without ever forming a product that overflows:
 * the shift is only taken when base fits under cap shifted back. */
static int64_t ceiling_ms(int64_t base, int64_t cap, unsigned n)
{
    unsigned shift = n - 1;
    if (shift >= 63 || base > (cap >> shift))
        return cap;
    return base << shift;
}

/* Uniform integer in [lo, hi] (lo <= hi).  Without a random source the
 * upper bound: deterministic, and never shorter than asked for. */
static int64_t random_between(int64_t lo, int64_t hi, llm_rand_fn *rand_fn, void *rand_user)
{
    if (hi <= lo)
        return lo;
    if (rand_fn == NULL)
        return hi;
    /* hi - lo < 2^63, so the range size fits in uint64 without wrapping. */
    uint64_t range = (uint64_t)hi - (uint64_t)lo + 1u;
    return lo + (int64_t)(rand_fn(rand_user) % range);
}

static int64_t exponential_next(const void *impl, unsigned attempt, int64_t prev_delay_ms,
                                llm_rand_fn *rand_fn, void *rand_user)
{
    const struct exponential *e = impl;
    if (e->max_retries != 0 && attempt > e->max_retries)
        return -1;
    switch (e->jitter) {
    case LLM_JITTER_NONE:
        return ceiling_ms(e->base_ms, e->cap_ms, attempt);
    case LLM_JITTER_DECORRELATED: {
        /* prev is clamped to cap first: this strategy never returns more,
         * so that only changes callers passing foreign values, and keeps
         * 3 * prev far from overflow. */
        int64_t prev = prev_delay_ms > 0 ? prev_delay_ms : e->base_ms;
        if (prev > e->cap_ms)
            prev = e->cap_ms;
        int64_t hi = prev * 3;
        if (hi < e->base_ms)
            hi = e->base_ms;
        int64_t d = random_between(e->base_ms, hi, rand_fn, rand_user);
        return d > e->cap_ms ? e->cap_ms : d;
    }
    case LLM_JITTER_FULL:
    default:
        return random_between(0, ceiling_ms(e->base_ms, e->cap_ms, attempt), rand_fn,
                              rand_user);
    }
}

static const struct llm_backoff_vtable exponential_vtable = {
    .next_delay_ms = exponential_next,
    .destroy = free,
};

/* Cap values so that 3 * cap and the shifts above stay far from overflow;
 * a delay of 2^53 ms is 285 000 years. */
#define MAX_DELAY_MS ((int64_t)1 << 53)

enum llm_error llm_backoff_new_exponential(const struct llm_backoff_options *o,
                                           struct llm_backoff **out)
{
    if (out != NULL)
        *out = NULL;
    struct llm_backoff_options d = {0};
    if (o != NULL)
        d = *o;
    if (out == NULL || d.base_ms < 0 || d.cap_ms < 0 ||
        (d.jitter != LLM_JITTER_NONE && d.jitter != LLM_JITTER_FULL &&
         d.jitter != LLM_JITTER_DECORRELATED))
        return LLM_ERR_INVALID_ARGUMENT;
    struct exponential *e = malloc(sizeof(*e));
    if (e == NULL)
        return LLM_ERR_OUT_OF_MEMORY;
    e->base_ms = d.base_ms > 0 ? d.base_ms : DEFAULT_BASE_MS;
    e->cap_ms = d.cap_ms > 0 ? d.cap_ms : DEFAULT_CAP_MS;
    if (e->base_ms > MAX_DELAY_MS)
        e->base_ms = MAX_DELAY_MS;
    if (e->cap_ms > MAX_DELAY_MS)
        e->cap_ms = MAX_DELAY_MS;
    e->jitter = d.jitter;
    e->max_retries = d.max_retries;
    if (e->cap_ms < e->base_ms) {
        free(e);
        return LLM_ERR_INVALID_ARGUMENT;
    }
    enum llm_error err = llm_backoff_new(&exponential_vtable, e, "exponential", out);
    if (err != LLM_OK)
        free(e);
    return err;
}

/* ---- constant --------------------------------------------------------------- */

struct constant {
    int64_t delay_ms;
    unsigned max_retries;
};

static int64_t constant_next(const void *impl, unsigned attempt, int64_t prev_delay_ms,
                             llm_rand_fn *rand_fn, void *rand_user)
{
    const struct constant *c = impl;
    (void)prev_delay_ms, (void)rand_fn, (void)rand_user;
    if (c->max_retries != 0 && attempt > c->max_retries)
        return -1;
    return c->delay_ms;
}

static const struct llm_backoff_vtable constant_vtable = {
    .next_delay_ms = constant_next,
    .destroy = free,
};

enum llm_error llm_backoff_new_constant(const struct llm_backoff_constant_options *o,
                                        struct llm_backoff **out)
{
    if (out != NULL)
        *out = NULL;
    struct llm_backoff_constant_options d = {0};
    if (o != NULL)
        d = *o;
    if (out == NULL || d.delay_ms < 0)
        return LLM_ERR_INVALID_ARGUMENT;
    struct constant *c = malloc(sizeof(*c));
    if (c == NULL)
        return LLM_ERR_OUT_OF_MEMORY;
    c->delay_ms = d.delay_ms > 0 ? d.delay_ms : DEFAULT_BASE_MS;
    c->max_retries = d.max_retries;
    enum llm_error err = llm_backoff_new(&constant_vtable, c, "constant", out);
    if (err != LLM_OK)
        free(c);
    return err;
}
