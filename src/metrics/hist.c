/* Log-linear latency histogram; see hist.h for the error bound. */
#include "metrics/hist.h"

#include <math.h>
#include <string.h>

const double llm__hist_prom_bounds_s[LLM__HIST_PROM_BUCKETS] = {
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600,
};

/* The same bounds in µs, so recording compares integers. */
static const int64_t prom_bounds_us[LLM__HIST_PROM_BUCKETS] = {
    10000,   25000,    50000,    100000,   250000,    500000,    1000000,  2500000,
    5000000, 10000000, 30000000, 60000000, 120000000, 300000000, 600000000,
};

void llm__hist_init(struct llm__hist *h)
{
    memset(h, 0, sizeof(*h));
}

static int floor_log2(uint64_t v)
{
    return 63 - __builtin_clzll(v);
}

size_t llm__hist_index(int64_t v)
{
    if (v < LLM__HIST_SUB)
        return v > 0 ? (size_t)v : 0;
    if (v >= LLM__HIST_MAX_US)
        return LLM__HIST_BUCKETS - 1;
    int e = floor_log2((uint64_t)v);
    int shift = e - LLM__HIST_SUB_BITS;
    size_t sub = (size_t)(v >> shift) - (size_t)LLM__HIST_SUB;
    return (size_t)LLM__HIST_SUB + (size_t)shift * (size_t)LLM__HIST_SUB + sub;
}

int64_t llm__hist_bucket_low(size_t idx)
{
    if (idx < (size_t)LLM__HIST_SUB)
        return (int64_t)idx;
    size_t k = idx - (size_t)LLM__HIST_SUB;
    int shift = (int)(k / (size_t)LLM__HIST_SUB);
    int64_t sub = (int64_t)(k % (size_t)LLM__HIST_SUB);
    return (LLM__HIST_SUB + sub) << shift;
}

int64_t llm__hist_bucket_high(size_t idx)
{
    if (idx < (size_t)LLM__HIST_SUB)
        return (int64_t)idx;
    int shift = (int)((idx - (size_t)LLM__HIST_SUB) / (size_t)LLM__HIST_SUB);
    return llm__hist_bucket_low(idx) + ((int64_t)1 << shift) - 1;
}

void llm__hist_record(struct llm__hist *h, int64_t v)
{
    if (v < 0)
        v = 0;
    if (h->count == 0 || v < h->min_us)
        h->min_us = v;
    if (h->count == 0 || v > h->max_us)
        h->max_us = v;
    h->count++;
    h->sum_us = v > INT64_MAX - h->sum_us ? INT64_MAX : h->sum_us + v;
    h->buckets[llm__hist_index(v)]++;
    /* The first bound >= v: no bound below 2^e can be (v >= 2^e), and as
     * each bound is at least twice the one before, only the first bound
     * >= 2^e or the next can be.  Two compares instead of a walk up the
     * list (a request records three latencies of seconds: ~8 compares
     * each, callgrind). */
    static const unsigned char first_at_least[64] = {
        0, 0, 0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  1,  2,  3,  4,  5,  6,  7,  7,
        8, 9, 10, 11, 12, 13, 13, 14, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15,
        15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15};
    size_t i = first_at_least[v > 0 ? floor_log2((uint64_t)v) : 0];
    if (i < LLM__HIST_PROM_BUCKETS && v > prom_bounds_us[i])
        i++;
    if (i < LLM__HIST_PROM_BUCKETS)
        h->prom[i]++;
}

int64_t llm__hist_percentile(const struct llm__hist *h, double p)
{
    if (h->count == 0)
        return 0;
    if (!(p > 0))
        return h->min_us;
    if (p >= 100)
        return h->max_us;
    double r = ceil(p * (double)h->count / 100.0);
    uint64_t rank = r < 1 ? 1 : r >= (double)h->count ? h->count : (uint64_t)r;
    uint64_t seen = 0;
    for (size_t i = 0; i < LLM__HIST_BUCKETS; i++) {
        seen += h->buckets[i];
        if (seen >= rank) {
            int64_t lo = llm__hist_bucket_low(i), hi = llm__hist_bucket_high(i);
            if (i == LLM__HIST_BUCKETS - 1)
                hi = h->max_us > hi ? h->max_us : hi; /* the overflow bucket */
            int64_t mid = lo + (hi - lo) / 2;
            if (mid < h->min_us)
                mid = h->min_us;
            if (mid > h->max_us)
                mid = h->max_us;
            return mid;
        }
    }
    return h->max_us;
}

void llm__hist_prom_cumulative(const struct llm__hist *h, uint64_t out[LLM__HIST_PROM_BUCKETS])
{
    uint64_t cum = 0;
    for (size_t i = 0; i < LLM__HIST_PROM_BUCKETS; i++) {
        cum += h->prom[i];
        out[i] = cum;
    }
}
