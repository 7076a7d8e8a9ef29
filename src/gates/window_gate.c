/* The sliding-window gate: an exact log of admissions.
 *
 * Why a log and not sub-buckets: a bucketed window either over-admits (a
 * burst at the end of one bucket and the start of the next fits twice in a
 * real window of the same length) or, made conservative, waits up to a
 * bucket longer than needed and cannot say exactly when an amount will
 * fit.  A server that enforces a true sliding window 429s the first kind;
 * the engine's timers want the exact "not before" of the second.  The log
 * costs 16 bytes per admission still in the window: a 10k RPM gate holds
 * at most 10k entries (160 KiB), and max_entries bounds the worst case.
 *
 * Entries sit in a ring buffer in admission order, which is also time order
 * because time never goes backwards here (an earlier now_ms is taken as the
 * latest seen).  A ticket is the entry's sequence number: the ring holds the
 * contiguous range [head_seq, head_seq + count), so a ticket is found, or
 * known to have aged out, in O(1) without any per-ticket state. */
#include "llmorch/ext/gate.h"

#include <stdlib.h>
#include <string.h>

#define DEFAULT_WINDOW_MS 60000
#define DEFAULT_MAX_ENTRIES ((size_t)1 << 18)
#define MIN_CAPACITY ((size_t)16)

struct entry {
    int64_t t_ms;                /* admission time */
    int64_t amount;              /* units, 0..LLM_GATE_MAX_AMOUNT */
};

struct window_gate {
    struct entry *ring;
    size_t cap;                  /* slots allocated, <= max_entries */
    size_t head;                 /* index of the oldest entry */
    size_t count;                /* entries held */
    size_t max_entries;
    int64_t head_seq;            /* ticket of the oldest entry (next ticket when empty) */
    int64_t sum;                 /* total amount held; <= 2^62 by the bounds in gate.h */
    int64_t limit;
    int64_t window_ms;
    int64_t now_ms;              /* latest time seen */
    int64_t blocked_until_ms;
};

static int64_t add_sat(int64_t a, int64_t b)
{
    return a > INT64_MAX - b ? INT64_MAX : a + b;
}

static int64_t clamp_amount(int64_t amount)
{
    return amount < 0 ? 0 : amount > LLM_GATE_MAX_AMOUNT ? LLM_GATE_MAX_AMOUNT : amount;
}

static struct entry *at(struct window_gate *w, size_t k)
{
    return &w->ring[(w->head + k) % w->cap];
}

/* Time never runs backwards for the gate: an earlier reading than one
 * already seen could otherwise admit what a later one refused. */
static int64_t advance(struct window_gate *w, int64_t now_ms)
{
    if (now_ms > w->now_ms)
        w->now_ms = now_ms;
    return w->now_ms;
}

/* Move the live entries into a ring of `cap` slots (cap >= count). */
static bool resize(struct window_gate *w, size_t cap)
{
    struct entry *r = malloc(cap * sizeof(*r));
    if (r == NULL)
        return false;
    for (size_t k = 0; k < w->count; k++)
        r[k] = *at(w, k);
    free(w->ring);
    w->ring = r;
    w->cap = cap;
    w->head = 0;
    return true;
}

/* Double the ring, up to max_entries. */
static bool grow(struct window_gate *w)
{
    size_t cap = w->cap > w->max_entries / 2 ? w->max_entries : w->cap * 2;
    return cap > w->cap && resize(w, cap);
}

/* Forget entries outside the window ending at now: an entry at t counts
 * while now - window_ms < t, i.e. until t + window_ms. */
static void prune(struct window_gate *w, int64_t now_ms)
{
    while (w->count > 0 && at(w, 0)->t_ms <= now_ms - w->window_ms) {
        w->sum -= at(w, 0)->amount;
        w->head = (w->head + 1) % w->cap;
        w->count--;
        w->head_seq++;
    }
    /* Give memory back after a burst, keeping room to grow again without
     * thrashing (shrink at 1/8 full to half size). */
    if (w->cap > MIN_CAPACITY && w->count < w->cap / 8)
        (void)resize(w, w->cap / 2);
}

/* Earliest time at which `target` units have aged out: walk from the
 * oldest entry until the freed amount reaches it.  0 < target <= sum. */
static int64_t time_freeing(struct window_gate *w, int64_t target)
{
    int64_t freed = 0;
    for (size_t k = 0; k < w->count; k++) {
        const struct entry *e = at(w, k);
        freed += e->amount;
        if (freed >= target)
            return add_sat(e->t_ms, w->window_ms);
    }
    /* Unreachable while sum is consistent; be safe anyway. */
    return add_sat(w->count > 0 ? at(w, w->count - 1)->t_ms : w->now_ms, w->window_ms);
}

static int64_t max64(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

static int64_t window_try_acquire(void *impl, int64_t now_ms, int64_t amount, int64_t *ticket)
{
    struct window_gate *w = impl;
    int64_t now = advance(w, now_ms);
    prune(w, now);
    amount = clamp_amount(amount);

    int64_t not_before = 0;
    if (now < w->blocked_until_ms)
        not_before = w->blocked_until_ms;

    /* Units that must age out first.  An amount over the whole limit waits
     * for an empty window instead of never fitting. */
    int64_t target = amount > w->limit ? w->sum : w->sum + amount - w->limit;
    if (target > 0)
        not_before = max64(not_before, time_freeing(w, target));

    /* Never admit what cannot be recorded: with the log full (or unable to
     * grow) the next slot frees when the oldest entry ages out. */
    if (not_before == 0 && (w->count >= w->max_entries ||
                            (w->count == w->cap && !grow(w))))
        not_before = add_sat(at(w, 0)->t_ms, w->window_ms);
    if (not_before > 0)
        return not_before;

    *at(w, w->count) = (struct entry){.t_ms = now, .amount = amount};
    w->count++;
    w->sum += amount;
    *ticket = w->head_seq + (int64_t)w->count - 1;
    return 0;
}

static void window_adjust(void *impl, int64_t ticket, int64_t actual_amount, int64_t now_ms)
{
    struct window_gate *w = impl;
    prune(w, advance(w, now_ms));
    /* Aged out (or never issued): the correction could no longer matter. */
    if (ticket < w->head_seq || ticket - w->head_seq >= (int64_t)w->count)
        return;
    struct entry *e = at(w, (size_t)(ticket - w->head_seq));
    int64_t actual = clamp_amount(actual_amount);
    w->sum += actual - e->amount;
    e->amount = actual;
}

static void window_set_limit(void *impl, int64_t limit, int64_t window_ms)
{
    struct window_gate *w = impl;
    if (limit > 0)
        w->limit = limit > LLM_GATE_MAX_LIMIT ? LLM_GATE_MAX_LIMIT : limit;
    if (window_ms > 0)
        w->window_ms = window_ms;
}

static void window_block_until(void *impl, int64_t until_ms)
{
    struct window_gate *w = impl;
    if (until_ms > w->blocked_until_ms)
        w->blocked_until_ms = until_ms;
}

static void window_usage(void *impl, int64_t now_ms, int64_t *used, int64_t *limit)
{
    struct window_gate *w = impl;
    prune(w, advance(w, now_ms));
    *used = w->sum;
    *limit = w->limit;
}

static void window_destroy(void *impl)
{
    struct window_gate *w = impl;
    free(w->ring);
    free(w);
}

static const struct llm_gate_vtable window_gate_vtable = {
    .try_acquire = window_try_acquire,
    .adjust = window_adjust,
    .set_limit = window_set_limit,
    .block_until = window_block_until,
    .usage = window_usage,
    .destroy = window_destroy,
};

enum llm_error llm_gate_new_sliding_window(const struct llm_window_gate_options *o,
                                           struct llm_gate **out)
{
    if (out != NULL)
        *out = NULL;
    if (o == NULL || out == NULL || o->limit <= 0 || o->window_ms < 0)
        return LLM_ERR_INVALID_ARGUMENT;
    struct window_gate *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return LLM_ERR_OUT_OF_MEMORY;
    w->limit = o->limit > LLM_GATE_MAX_LIMIT ? LLM_GATE_MAX_LIMIT : o->limit;
    w->window_ms = o->window_ms > 0 ? o->window_ms : DEFAULT_WINDOW_MS;
    w->max_entries = o->max_entries > 0 ? o->max_entries : DEFAULT_MAX_ENTRIES;
    if (w->max_entries > LLM_GATE_MAX_ENTRIES)
        w->max_entries = LLM_GATE_MAX_ENTRIES;
    w->head_seq = 1; /* tickets start at 1 so that 0 is never a live ticket */
    w->cap = w->max_entries < MIN_CAPACITY ? w->max_entries : MIN_CAPACITY;
    w->ring = malloc(w->cap * sizeof(*w->ring));
    if (w->ring == NULL) {
        free(w);
        return LLM_ERR_OUT_OF_MEMORY;
    }
    enum llm_error err =
        llm_gate_new(&window_gate_vtable, w, o->name != NULL ? o->name : "window", out);
    if (err != LLM_OK)
        window_destroy(w);
    return err;
}
