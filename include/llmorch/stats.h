/* Engine statistics: an immutable snapshot, and its JSON and Prometheus
 * forms.
 *
 * A struct llm_stats is plain data the caller owns: read its fields
 * directly, serialise it, free it with llm_stats_free().  Nothing in it
 * changes after it is handed over, and it shares nothing with the engine,
 * so any thread may read, serialise or free it.  All strings are
 * NUL-terminated UTF-8 owned by the snapshot. */
#ifndef LLMORCH_STATS_H
#define LLMORCH_STATS_H

#include "common.h"
#include "error.h"

LLM_BEGIN_DECLS

/* Number of finite Prometheus histogram buckets in struct llm_stats_latency
 * (the "+Inf" bucket is `count`). */
#define LLM_STATS_BUCKETS 15

/* A latency distribution (ms).  Percentiles are within 0.4 % of the true
 * nearest-rank value; all fields are 0 when count is 0. */
struct llm_stats_latency {
    uint64_t count;
    double p50_ms;
    double p90_ms;
    double p99_ms;
    double min_ms;
    double max_ms;
    double sum_ms;               /* exact (sum of µs values) */
    /* Prometheus buckets: bucket_le_s[i] is an upper bound in seconds
     * (ascending: 0.01 0.025 0.05 0.1 0.25 0.5 1 2.5 5 10 30 60 120 300
     * 600), bucket_count[i] the number of observations <= it (cumulative,
     * exact: counted against these bounds when recorded). */
    double bucket_le_s[LLM_STATS_BUCKETS];
    uint64_t bucket_count[LLM_STATS_BUCKETS];
};

/* One admission gate at snapshot time (filled in by the engine). */
struct llm_stats_gate {
    char *name;                  /* "rpm", "tpm", ... */
    int64_t waiting;             /* requests waiting on this gate */
    int64_t used;                /* units used in its current window */
    int64_t limit;               /* its limit per window; 0 = none */
};

/* Totals of one model (the model name the provider reported). */
struct llm_stats_model {
    char *model;
    uint64_t requests;           /* completed, success or not */
    uint64_t input_tokens;
    uint64_t output_tokens;
    double cost_usd;             /* of the requests whose cost was known */
};

/* The shared limiter (Redis), when the engine has one (see
 * llm_engine_options.redis_url). */
struct llm_stats_shared {
    bool enabled;                /* false: no shared limiter; every other field 0/NULL */
    char *mode;                  /* "connecting", "shared", "local" (fallback at
                                    this member's share), "waiting" or "failing" */
    char *quota;                 /* quota name */
    char *redis;                 /* the Redis URL with the password replaced by *** */
    int64_t members;             /* live members sharing the quota, last seen */
    uint64_t redis_calls;        /* script calls sent (each one round trip; they
                                    carry admissions, settlements and heartbeats) */
    uint64_t redis_errors;       /* connections lost, error or garbage replies, timeouts */
    uint64_t connects;           /* connections established (scripts loaded) */
    uint64_t script_loads;       /* scripts loaded (at each connect and after NOSCRIPT) */
    uint64_t admitted_shared;    /* admissions by the shared gates */
    uint64_t admitted_local;     /* admissions by the local fallback gates */
    uint64_t failed;             /* admissions failed (policy fail) */
    double round_trips_per_request; /* redis_calls / admitted_shared; 0 if none */
    int64_t waiting;             /* admissions waiting for Redis's answer */
    int64_t rpm_used, rpm_limit; /* shared windows, last seen (per window) */
    int64_t tpm_used, tpm_limit;
};

struct llm_stats {
    char *provider;              /* the engine's provider; NULL if unknown */
    int64_t snapshot_unix_ms;    /* wall-clock time of the snapshot */
    int64_t uptime_ms;           /* since the statistics started */

    /* Requests.  completed = succeeded + failed; submitted - completed are
     * still queued or running. */
    uint64_t requests_submitted;
    uint64_t requests_completed;
    uint64_t requests_succeeded;
    uint64_t requests_failed;
    /* (Failures by error type: failures_by_error, at the end.) */
    uint64_t retries;            /* attempts beyond each request's first */
    uint64_t rate_limited;       /* attempts answered with HTTP 429 / RATE_LIMITED */

    /* Gauges at snapshot time (filled in by the engine). */
    int64_t in_flight;           /* attempts on the wire */
    int64_t queue_depth;         /* requests waiting for admission or a slot */
    struct llm_stats_gate *gates;
    size_t n_gates;

    /* Sliding window ending at the snapshot (see window_ms).  Counts are
     * booked when a request completes. */
    int64_t window_ms;
    int64_t window_requests;
    int64_t window_input_tokens;
    int64_t window_output_tokens;

    /* Latency from the host's call (LLM_TS_REQUESTED) to completion, to the
     * first response byte and to the first generated token; queue, gate and
     * retry waits included.  Every completed request counts in `total`;
     * only those that reached the point count in the other two. */
    struct llm_stats_latency latency_total;
    struct llm_stats_latency latency_ttfb;
    struct llm_stats_latency latency_ttft;

    /* Tokens of requests whose usage was reported; input includes cached. */
    uint64_t tokens_input;
    uint64_t tokens_output;
    uint64_t tokens_cached_input;

    /* Cost.  cost_usd sums the requests whose price was known;
     * cost_unknown_requests counts requests that reported usage for a
     * model without a price (their cost is missing from cost_usd). */
    double cost_usd;
    uint64_t cost_known_requests;
    uint64_t cost_unknown_requests;

    /* Per-model totals, in first-seen order.  At most 256 models are told
     * apart; later ones are added up under the model name "other". */
    struct llm_stats_model *models;
    size_t n_models;

    /* Failed requests by final error type; index LLM_OK stays 0.  Kept
     * last: LLM_ERROR_COUNT grows as error types are appended, and here
     * that moves no other field, so a host built against older headers
     * still reads every field it knows. */
    uint64_t failures_by_error[LLM_ERROR_COUNT];

    /* Appended after the array: a host reads these with the headers
     * of the library it runs against (the SONAME carries the minor). */
    struct llm_stats_shared shared;
};

/* Free a snapshot and everything it owns.  NULL-safe.  Any thread. */
LLM_API void llm_stats_free(struct llm_stats *s);

/* The snapshot as one line of compact JSON (no trailing newline):
 *   {"provider", "snapshot_unix_ms", "uptime_ms",
 *    "requests": {submitted, completed, succeeded, failed},
 *    "failures": {"RATE_LIMITED": n, ...}   (every error type, 0 included),
 *    "retries", "rate_limited", "in_flight", "queue_depth",
 *    "gates": [{name, waiting, used, limit}],
 *    "window": {window_ms, requests, input_tokens, output_tokens},
 *    "latency": {"total"|"ttfb"|"ttft": {count, p50_ms, p90_ms, p99_ms,
 *                min_ms, max_ms, mean_ms}}   (ms fields null when count 0),
 *    "tokens": {input, output, cached_input},
 *    "cost": {usd, known_requests, unknown_requests},
 *    "models": [{model, requests, input_tokens, output_tokens, cost_usd}],
 *    "shared": null | {mode, quota, redis, members, redis_calls,
 *               redis_errors, connects, script_loads, admitted_shared,
 *               admitted_local, failed, round_trips_per_request, waiting,
 *               rpm_used, rpm_limit, tpm_used, tpm_limit}}
 * Returns a malloc'd string the caller frees with llm_free() (result.h);
 * NULL if `s` is NULL or memory ran out.  Any thread. */
LLM_API char *llm_stats_to_json(const struct llm_stats *s);

/* The snapshot in the Prometheus text exposition format, version 0.0.4
 * (serve it as "text/plain; version=0.0.4").  Every metric has a # HELP and
 * a # TYPE line; every sample carries provider="<provider_label>"
 * (NULL: s->provider, else "unknown"); label values are escaped as the
 * format requires (\\ for backslash, \" for double quote, \n for newline).
 *   llmorch_requests_total{outcome="success"|"<error type, lowercase>"}
 *       counter; every outcome is present, 0 included
 *   llmorch_requests_submitted_total                      counter
 *   llmorch_tokens_total{direction="input"|"output"|"cached_input"} counter
 *   llmorch_retries_total, llmorch_rate_limited_total     counter
 *   llmorch_cost_usd_total{model=...}                     counter, per model
 *   llmorch_cost_unknown_requests_total                   counter
 *   llmorch_in_flight, llmorch_queue_depth                gauge
 *   llmorch_window_requests, llmorch_window_input_tokens,
 *   llmorch_window_output_tokens                          gauge (last window)
 *   llmorch_gate_waiting / _used / _limit{gate=...}       gauge, per gate
 *   llmorch_uptime_seconds                                gauge
 *   llmorch_request_duration_seconds, llmorch_time_to_first_byte_seconds,
 *   llmorch_time_to_first_token_seconds                   histogram
 *       (_bucket{le=...} cumulative, ending with le="+Inf" = _count;
 *        _sum; _count)
 * Returns a malloc'd string (ending in a newline) the caller frees with
 * llm_free(); NULL if `s` is NULL or memory ran out.  Any thread. */
LLM_API char *llm_stats_to_prometheus(const struct llm_stats *s, const char *provider_label);

LLM_END_DECLS

#endif /* LLMORCH_STATS_H */
