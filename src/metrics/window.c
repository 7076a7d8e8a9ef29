/* Sliding-window counter over a ring of time buckets; see window.h. */
#include "metrics/window.h"

void llm__window_init(struct llm__window *w, int64_t window_ms, int n_buckets)
{
    if (window_ms <= 0)
        window_ms = LLM__WINDOW_DEFAULT_MS;
    if (n_buckets <= 0)
        n_buckets = LLM__WINDOW_DEFAULT_BUCKETS;
    if (n_buckets > LLM__WINDOW_MAX_BUCKETS)
        n_buckets = LLM__WINDOW_MAX_BUCKETS;
    if (n_buckets > window_ms)
        n_buckets = (int)window_ms;
    /* The n buckets summed must never reach back a whole window (that
     * would over-count), so bucket_ms * n <= window_ms.  Prefer a bucket
     * count near the one asked for that divides the window exactly;
     * failing that, round the window down to a multiple of n. */
    for (int k = n_buckets; k >= n_buckets / 2 && k >= 1; k--) {
        if (window_ms % k == 0) {
            n_buckets = k;
            break;
        }
    }
    w->n_buckets = n_buckets;
    w->bucket_ms = window_ms / n_buckets;
    w->window_ms = w->bucket_ms * n_buckets;
    w->last_ms = 0;
    for (int i = 0; i < LLM__WINDOW_MAX_BUCKETS; i++) {
        w->b[i].epoch = -1;
        w->b[i].sum = 0;
    }
}

/* Clock reading as the window sees it: never negative, never before the
 * latest reading. */
static int64_t effective_now(const struct llm__window *w, int64_t now_ms)
{
    if (now_ms < 0)
        now_ms = 0;
    return now_ms < w->last_ms ? w->last_ms : now_ms;
}

void llm__window_add(struct llm__window *w, int64_t now_ms, int64_t amount)
{
    now_ms = effective_now(w, now_ms);
    w->last_ms = now_ms;
    if (amount <= 0)
        return;
    int64_t epoch = now_ms / w->bucket_ms;
    struct llm__window_bucket *b = &w->b[epoch % w->n_buckets];
    if (b->epoch != epoch) {
        b->epoch = epoch;
        b->sum = 0;
    }
    b->sum = amount > INT64_MAX - b->sum ? INT64_MAX : b->sum + amount;
}

int64_t llm__window_sum(const struct llm__window *w, int64_t now_ms)
{
    now_ms = effective_now(w, now_ms);
    int64_t epoch = now_ms / w->bucket_ms;
    /* The current bucket and the n - 1 before it: they begin at most
     * n * bucket_ms - 1 = window_ms - 1 ms ago (see window.h). */
    int64_t oldest = epoch - (w->n_buckets - 1);
    int64_t total = 0;
    for (int i = 0; i < w->n_buckets; i++) {
        const struct llm__window_bucket *b = &w->b[i];
        if (b->epoch >= oldest && b->epoch <= epoch)
            total = b->sum > INT64_MAX - total ? INT64_MAX : total + b->sum;
    }
    return total;
}
