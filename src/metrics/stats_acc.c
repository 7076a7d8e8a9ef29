/* Statistics accumulator: counters, histograms, windows and per-model
 * totals under one lock, and snapshots of them. */
#include "metrics/stats_acc.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/util.h"
#include "metrics/hist.h"
#include "metrics/window.h"

struct model_total {
    char *model;                 /* "other" for the overflow row */
    uint64_t requests;
    uint64_t input_tokens;
    uint64_t output_tokens;
    double cost_usd;
};

struct llm__stats_acc {
    /* stats_lock guards every field below it. */
    pthread_mutex_t stats_lock;

    char *provider;              /* immutable after creation */
    int64_t start_ms;

    uint64_t submitted, completed, succeeded, failed;
    uint64_t failures[LLM_ERROR_COUNT];
    uint64_t retries, rate_limited;
    uint64_t tok_in, tok_out, tok_cached;
    double cost_usd;
    uint64_t cost_known, cost_unknown;

    struct llm__window win_requests, win_in, win_out;
    struct llm__hist h_total, h_ttfb, h_ttft;

    /* First-seen order; models[LLM__STATS_MAX_MODELS] is "other". */
    struct model_total models[LLM__STATS_MAX_MODELS + 1];
    size_t n_models;
};

static const char other_model[] = "other";

enum llm_error llm__stats_acc_new(const char *provider, int64_t window_ms, int64_t now_ms,
                                  struct llm__stats_acc **out)
{
    if (out == NULL)
        return LLM_ERR_INVALID_ARGUMENT;
    *out = NULL;
    struct llm__stats_acc *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return LLM_ERR_OUT_OF_MEMORY;
    if (provider != NULL && (a->provider = strdup(provider)) == NULL) {
        free(a);
        return LLM_ERR_OUT_OF_MEMORY;
    }
    if (pthread_mutex_init(&a->stats_lock, NULL) != 0) {
        free(a->provider);
        free(a);
        return LLM_ERR_INTERNAL;
    }
    a->start_ms = now_ms;
    /* One-second buckets for the default minute; finer windows keep 60. */
    llm__window_init(&a->win_requests, window_ms, LLM__WINDOW_DEFAULT_BUCKETS);
    llm__window_init(&a->win_in, window_ms, LLM__WINDOW_DEFAULT_BUCKETS);
    llm__window_init(&a->win_out, window_ms, LLM__WINDOW_DEFAULT_BUCKETS);
    llm__hist_init(&a->h_total);
    llm__hist_init(&a->h_ttfb);
    llm__hist_init(&a->h_ttft);
    *out = a;
    return LLM_OK;
}

void llm__stats_acc_free(struct llm__stats_acc *acc)
{
    if (acc == NULL)
        return;
    for (size_t i = 0; i < acc->n_models; i++)
        free(acc->models[i].model);
    pthread_mutex_destroy(&acc->stats_lock);
    free(acc->provider);
    free(acc);
}



static uint64_t nonneg(int64_t v)
{
    return v > 0 ? (uint64_t)v : 0;
}

static void add_sat(uint64_t *dst, uint64_t v)
{
    *dst = v > UINT64_MAX - *dst ? UINT64_MAX : *dst + v;
}

void llm__stats_acc_note_submitted(struct llm__stats_acc *acc, uint64_t n)
{
    if (acc == NULL || n == 0)
        return;
    pthread_mutex_lock(&acc->stats_lock);
    add_sat(&acc->submitted, n);
    pthread_mutex_unlock(&acc->stats_lock);
}

/* The row for `model`, adding it if there is room; the "other" row when
 * the table is full or the name cannot be copied.  Under stats_lock. */
static struct model_total *model_row(struct llm__stats_acc *a, const char *model)
{
    for (size_t i = 0; i < a->n_models; i++)
        if (strcmp(a->models[i].model, model) == 0)
            return &a->models[i];
    if (a->n_models < LLM__STATS_MAX_MODELS) {
        char *copy = strdup(model);
        if (copy != NULL) {
            struct model_total *m = &a->models[a->n_models++];
            m->model = copy;
            return m;
        }
    }
    return &a->models[LLM__STATS_MAX_MODELS];
}

/* end - start in µs when both points were reached in order, else -1. */
static int64_t span_us(const struct llm_result *r, enum llm_timestamp start,
                       enum llm_timestamp end)
{
    int64_t s = r->timestamps[start], e = r->timestamps[end];
    if (s <= 0 || e <= 0 || e < s)
        return -1;
    return e - s;
}

void llm__stats_acc_record_result(struct llm__stats_acc *acc, const struct llm_result *r,
                                  int64_t now_ms)
{
    if (acc == NULL || r == NULL)
        return;
    uint64_t retries = r->n_attempts > 1 ? (uint64_t)(r->n_attempts - 1) : 0;
    uint64_t limited = 0;
    for (size_t i = 0; i < r->n_attempts; i++)
        if (r->attempts[i].http_status == 429 || r->attempts[i].error == LLM_ERR_RATE_LIMITED)
            limited++;
    const struct llm_usage *u = &r->usage;
    uint64_t in = u->known ? nonneg(u->input_tokens) : 0;
    uint64_t out = u->known ? nonneg(u->output_tokens) : 0;
    uint64_t cached = u->known ? nonneg(u->cached_input_tokens) : 0;
    int64_t total_us = span_us(r, LLM_TS_REQUESTED, LLM_TS_COMPLETED);
    int64_t ttfb_us = span_us(r, LLM_TS_REQUESTED, LLM_TS_FIRST_BYTE);
    int64_t ttft_us = span_us(r, LLM_TS_REQUESTED, LLM_TS_FIRST_TOKEN);
    const char *model = r->model != NULL ? r->model : "unknown";

    pthread_mutex_lock(&acc->stats_lock);
    acc->completed++;
    if (r->success) {
        acc->succeeded++;
    } else {
        acc->failed++;
        unsigned t = (unsigned)r->error.type;
        /* A failure without a type, or of a type this build does not know,
         * is still a failure: book it as INTERNAL rather than lose it. */
        if (t == LLM_OK || t >= LLM_ERROR_COUNT)
            t = LLM_ERR_INTERNAL;
        acc->failures[t]++;
    }
    add_sat(&acc->retries, retries);
    add_sat(&acc->rate_limited, limited);
    add_sat(&acc->tok_in, in);
    add_sat(&acc->tok_out, out);
    add_sat(&acc->tok_cached, cached);
    if (r->cost.known) {
        acc->cost_usd += r->cost.total_usd;
        acc->cost_known++;
    } else if (u->known) {
        acc->cost_unknown++;
    }
    llm__window_add(&acc->win_requests, now_ms, 1);
    llm__window_add(&acc->win_in, now_ms, (int64_t)(in > INT64_MAX ? INT64_MAX : in));
    llm__window_add(&acc->win_out, now_ms, (int64_t)(out > INT64_MAX ? INT64_MAX : out));
    if (total_us >= 0)
        llm__hist_record(&acc->h_total, total_us);
    if (ttfb_us >= 0)
        llm__hist_record(&acc->h_ttfb, ttfb_us);
    if (ttft_us >= 0)
        llm__hist_record(&acc->h_ttft, ttft_us);
    struct model_total *m = model_row(acc, model);
    m->requests++;
    add_sat(&m->input_tokens, in);
    add_sat(&m->output_tokens, out);
    if (r->cost.known)
        m->cost_usd += r->cost.total_usd;
    pthread_mutex_unlock(&acc->stats_lock);
}

static void latency_of(const struct llm__hist *h, struct llm_stats_latency *l)
{
    memset(l, 0, sizeof(*l));
    for (size_t i = 0; i < LLM_STATS_BUCKETS; i++)
        l->bucket_le_s[i] = llm__hist_prom_bounds_s[i];
    _Static_assert(LLM_STATS_BUCKETS == LLM__HIST_PROM_BUCKETS,
                   "public and internal bucket counts must agree");
    llm__hist_prom_cumulative(h, l->bucket_count);
    l->count = h->count;
    if (h->count == 0)
        return;
    l->p50_ms = (double)llm__hist_percentile(h, 50) / 1e3;
    l->p90_ms = (double)llm__hist_percentile(h, 90) / 1e3;
    l->p99_ms = (double)llm__hist_percentile(h, 99) / 1e3;
    l->min_ms = (double)h->min_us / 1e3;
    l->max_ms = (double)h->max_us / 1e3;
    l->sum_ms = (double)h->sum_us / 1e3;
}

enum llm_error llm__stats_acc_snapshot(struct llm__stats_acc *acc, int64_t now_ms,
                                       struct llm_stats **out)
{
    if (out == NULL)
        return LLM_ERR_INVALID_ARGUMENT;
    *out = NULL;
    if (acc == NULL)
        return LLM_ERR_INVALID_ARGUMENT;
    struct llm_stats *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return LLM_ERR_OUT_OF_MEMORY;
    if (acc->provider != NULL && (s->provider = strdup(acc->provider)) == NULL)
        goto oom;
    /* Room for every model row; names are copied under the lock, and a
     * failed copy fails the whole snapshot rather than drop a row. */
    s->models = calloc(LLM__STATS_MAX_MODELS + 1, sizeof(*s->models));
    if (s->models == NULL)
        goto oom;
    s->snapshot_unix_ms = llm__now_wall_us() / 1000;

    pthread_mutex_lock(&acc->stats_lock);
    s->uptime_ms = now_ms > acc->start_ms ? now_ms - acc->start_ms : 0;
    s->requests_submitted = acc->submitted;
    s->requests_completed = acc->completed;
    s->requests_succeeded = acc->succeeded;
    s->requests_failed = acc->failed;
    memcpy(s->failures_by_error, acc->failures, sizeof(s->failures_by_error));
    s->retries = acc->retries;
    s->rate_limited = acc->rate_limited;
    s->window_ms = acc->win_requests.window_ms;
    s->window_requests = llm__window_sum(&acc->win_requests, now_ms);
    s->window_input_tokens = llm__window_sum(&acc->win_in, now_ms);
    s->window_output_tokens = llm__window_sum(&acc->win_out, now_ms);
    latency_of(&acc->h_total, &s->latency_total);
    latency_of(&acc->h_ttfb, &s->latency_ttfb);
    latency_of(&acc->h_ttft, &s->latency_ttft);
    s->tokens_input = acc->tok_in;
    s->tokens_output = acc->tok_out;
    s->tokens_cached_input = acc->tok_cached;
    s->cost_usd = acc->cost_usd;
    s->cost_known_requests = acc->cost_known;
    s->cost_unknown_requests = acc->cost_unknown;
    bool oom = false;
    const struct model_total *other = &acc->models[LLM__STATS_MAX_MODELS];
    for (size_t i = 0; i <= acc->n_models && !oom; i++) {
        const struct model_total *m = i < acc->n_models ? &acc->models[i] : other;
        if (m == other && other->requests == 0)
            break;
        struct llm_stats_model *dst = &s->models[s->n_models];
        dst->model = strdup(m == other ? other_model : m->model);
        if (dst->model == NULL) {
            oom = true;
            break;
        }
        dst->requests = m->requests;
        dst->input_tokens = m->input_tokens;
        dst->output_tokens = m->output_tokens;
        dst->cost_usd = m->cost_usd;
        s->n_models++;
    }
    pthread_mutex_unlock(&acc->stats_lock);
    if (oom)
        goto oom;
    *out = s;
    return LLM_OK;
oom:
    llm_stats_free(s);
    return LLM_ERR_OUT_OF_MEMORY;
}

enum llm_error llm__stats_add_gate(struct llm_stats *s, const char *name, int64_t waiting,
                                   int64_t used, int64_t limit)
{
    if (s == NULL || name == NULL)
        return LLM_ERR_INVALID_ARGUMENT;
    if (s->n_gates >= SIZE_MAX / sizeof(*s->gates) - 1)
        return LLM_ERR_OUT_OF_MEMORY;
    char *copy = strdup(name);
    if (copy == NULL)
        return LLM_ERR_OUT_OF_MEMORY;
    struct llm_stats_gate *g = realloc(s->gates, (s->n_gates + 1) * sizeof(*g));
    if (g == NULL) {
        free(copy);
        return LLM_ERR_OUT_OF_MEMORY;
    }
    g[s->n_gates] = (struct llm_stats_gate){
        .name = copy, .waiting = waiting, .used = used, .limit = limit};
    s->gates = g;
    s->n_gates++;
    return LLM_OK;
}
