/* struct llm_stats: freeing, JSON, and the Prometheus text format. */
#include "llmorch/stats.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "base/jsonw.h"
#include "llmorch/result.h"

void llm_stats_free(struct llm_stats *s)
{
    if (s == NULL)
        return;
    free(s->provider);
    for (size_t i = 0; i < s->n_gates; i++)
        free(s->gates[i].name);
    free(s->shared.mode);
    free(s->shared.quota);
    free(s->shared.redis);
    free(s->gates);
    for (size_t i = 0; i < s->n_models; i++)
        free(s->models[i].model);
    free(s->models);
    free(s);
}

/* ---- JSON ---------------------------------------------------------------------------- */

/* Remembers whether any allocation failed, so building reads straight
 * through (as in core/result.c). */
struct json {
    bool oom;
};

static cJSON *num(double v)
{
    return cJSON_CreateNumber(v);
}

static cJSON *ms_or_null(const struct llm_stats_latency *l, double v)
{
    return l->count > 0 ? num(v) : cJSON_CreateNull();
}

static void add_latency(struct llm__jw *j, cJSON *parent, const char *key,
                        const struct llm_stats_latency *l)
{
    cJSON *o = llm__jw_add(j, parent, key, cJSON_CreateObject());
    llm__jw_add(j, o, "count", num((double)l->count));
    llm__jw_add(j, o, "p50_ms", ms_or_null(l, l->p50_ms));
    llm__jw_add(j, o, "p90_ms", ms_or_null(l, l->p90_ms));
    llm__jw_add(j, o, "p99_ms", ms_or_null(l, l->p99_ms));
    llm__jw_add(j, o, "min_ms", ms_or_null(l, l->min_ms));
    llm__jw_add(j, o, "max_ms", ms_or_null(l, l->max_ms));
    llm__jw_add(j, o, "mean_ms", ms_or_null(l, l->count > 0 ? l->sum_ms / (double)l->count : 0));
}

char *llm_stats_to_json(const struct llm_stats *s)
{
    if (s == NULL)
        return NULL;
    struct llm__jw j = {0};
    cJSON *root = cJSON_CreateObject();
    if (root == NULL)
        return NULL;
    llm__jw_add(&j, root, "provider", llm__jw_str_or_null(s->provider));
    llm__jw_add(&j, root, "snapshot_unix_ms", num((double)s->snapshot_unix_ms));
    llm__jw_add(&j, root, "uptime_ms", num((double)s->uptime_ms));

    cJSON *o = llm__jw_add(&j, root, "requests", cJSON_CreateObject());
    llm__jw_add(&j, o, "submitted", num((double)s->requests_submitted));
    llm__jw_add(&j, o, "completed", num((double)s->requests_completed));
    llm__jw_add(&j, o, "succeeded", num((double)s->requests_succeeded));
    llm__jw_add(&j, o, "failed", num((double)s->requests_failed));

    o = llm__jw_add(&j, root, "failures", cJSON_CreateObject());
    for (int e = 1; e < LLM_ERROR_COUNT; e++)
        llm__jw_add(&j, o, llm_error_name((enum llm_error)e), num((double)s->failures_by_error[e]));

    llm__jw_add(&j, root, "retries", num((double)s->retries));
    llm__jw_add(&j, root, "rate_limited", num((double)s->rate_limited));
    llm__jw_add(&j, root, "in_flight", num((double)s->in_flight));
    llm__jw_add(&j, root, "queue_depth", num((double)s->queue_depth));

    cJSON *arr = llm__jw_add(&j, root, "gates", cJSON_CreateArray());
    for (size_t i = 0; i < s->n_gates && arr != NULL; i++) {
        cJSON *g = cJSON_CreateObject();
        llm__jw_add(&j, g, "name", llm__jw_str_or_null(s->gates[i].name));
        llm__jw_add(&j, g, "waiting", num((double)s->gates[i].waiting));
        llm__jw_add(&j, g, "used", num((double)s->gates[i].used));
        llm__jw_add(&j, g, "limit", num((double)s->gates[i].limit));
        llm__jw_push(&j, arr, g);
    }

    o = llm__jw_add(&j, root, "window", cJSON_CreateObject());
    llm__jw_add(&j, o, "window_ms", num((double)s->window_ms));
    llm__jw_add(&j, o, "requests", num((double)s->window_requests));
    llm__jw_add(&j, o, "input_tokens", num((double)s->window_input_tokens));
    llm__jw_add(&j, o, "output_tokens", num((double)s->window_output_tokens));

    o = llm__jw_add(&j, root, "latency", cJSON_CreateObject());
    add_latency(&j, o, "total", &s->latency_total);
    add_latency(&j, o, "ttfb", &s->latency_ttfb);
    add_latency(&j, o, "ttft", &s->latency_ttft);

    o = llm__jw_add(&j, root, "tokens", cJSON_CreateObject());
    llm__jw_add(&j, o, "input", num((double)s->tokens_input));
    llm__jw_add(&j, o, "output", num((double)s->tokens_output));
    llm__jw_add(&j, o, "cached_input", num((double)s->tokens_cached_input));

    o = llm__jw_add(&j, root, "cost", cJSON_CreateObject());
    llm__jw_add(&j, o, "usd", num(s->cost_usd));
    llm__jw_add(&j, o, "known_requests", num((double)s->cost_known_requests));
    llm__jw_add(&j, o, "unknown_requests", num((double)s->cost_unknown_requests));

    arr = llm__jw_add(&j, root, "models", cJSON_CreateArray());
    for (size_t i = 0; i < s->n_models && arr != NULL; i++) {
        const struct llm_stats_model *m = &s->models[i];
        cJSON *mo = cJSON_CreateObject();
        llm__jw_add(&j, mo, "model", llm__jw_str_or_null(m->model));
        llm__jw_add(&j, mo, "requests", num((double)m->requests));
        llm__jw_add(&j, mo, "input_tokens", num((double)m->input_tokens));
        llm__jw_add(&j, mo, "output_tokens", num((double)m->output_tokens));
        llm__jw_add(&j, mo, "cost_usd", num(m->cost_usd));
        llm__jw_push(&j, arr, mo);
    }

    if (!s->shared.enabled) {
        llm__jw_add(&j, root, "shared", cJSON_CreateNull());
    } else {
        const struct llm_stats_shared *sh = &s->shared;
        o = llm__jw_add(&j, root, "shared", cJSON_CreateObject());
        llm__jw_add(&j, o, "mode", llm__jw_str_or_null(sh->mode));
        llm__jw_add(&j, o, "quota", llm__jw_str_or_null(sh->quota));
        llm__jw_add(&j, o, "redis", llm__jw_str_or_null(sh->redis));
        llm__jw_add(&j, o, "members", num((double)sh->members));
        llm__jw_add(&j, o, "redis_calls", num((double)sh->redis_calls));
        llm__jw_add(&j, o, "redis_errors", num((double)sh->redis_errors));
        llm__jw_add(&j, o, "connects", num((double)sh->connects));
        llm__jw_add(&j, o, "script_loads", num((double)sh->script_loads));
        llm__jw_add(&j, o, "admitted_shared", num((double)sh->admitted_shared));
        llm__jw_add(&j, o, "admitted_local", num((double)sh->admitted_local));
        llm__jw_add(&j, o, "failed", num((double)sh->failed));
        llm__jw_add(&j, o, "round_trips_per_request", num(sh->round_trips_per_request));
        llm__jw_add(&j, o, "waiting", num((double)sh->waiting));
        llm__jw_add(&j, o, "rpm_used", num((double)sh->rpm_used));
        llm__jw_add(&j, o, "rpm_limit", num((double)sh->rpm_limit));
        llm__jw_add(&j, o, "tpm_used", num((double)sh->tpm_used));
        llm__jw_add(&j, o, "tpm_limit", num((double)sh->tpm_limit));
    }

    return llm__jw_finish(&j, root);
}

/* ---- Prometheus text format 0.0.4 ---------------------------------------------------- */

/* Shortest of %.15g / %.17g that reads back as the same double; the
 * special values as the format spells them. */
static void fmt_double(double v, char out[40])
{
    if (isnan(v)) {
        strcpy(out, "NaN");
        return;
    }
    if (isinf(v)) {
        strcpy(out, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    snprintf(out, 40, "%.15g", v);
    if (strtod(out, NULL) != v)
        snprintf(out, 40, "%.17g", v);
}

struct prom {
    struct llm__buf b;
    bool oom;
    const char *provider;        /* escaped */
};

static void put(struct prom *p, const char *s, size_t n)
{
    if (!p->oom && llm__buf_append(&p->b, s, n) != LLM_OK)
        p->oom = true;
}

static void puts_(struct prom *p, const char *s)
{
    put(p, s, strlen(s));
}

/* A label value with \, " and newline escaped.  malloc'd; NULL on OOM. */
static char *escape_label(const char *v)
{
    if (v == NULL)
        v = "";
    size_t n = strlen(v);
    if (n > (SIZE_MAX - 1) / 2)
        return NULL;
    char *out = malloc(2 * n + 1), *o = out;
    if (out == NULL)
        return NULL;
    for (const char *c = v; *c != '\0'; c++) {
        switch (*c) {
        case '\\': *o++ = '\\'; *o++ = '\\'; break;
        case '"': *o++ = '\\'; *o++ = '"'; break;
        case '\n': *o++ = '\\'; *o++ = 'n'; break;
        default: *o++ = *c;
        }
    }
    *o = '\0';
    return out;
}

static void header(struct prom *p, const char *name, const char *type, const char *help)
{
    puts_(p, "# HELP ");
    puts_(p, name);
    put(p, " ", 1);
    puts_(p, help);
    puts_(p, "\n# TYPE ");
    puts_(p, name);
    put(p, " ", 1);
    puts_(p, type);
    put(p, "\n", 1);
}

/* name{provider="..."[,extra]} value\n; `extra` is preformatted
 * (already-escaped) labels or NULL. */
static void sample_raw(struct prom *p, const char *name, const char *extra, const char *value)
{
    puts_(p, name);
    puts_(p, "{provider=\"");
    puts_(p, p->provider);
    put(p, "\"", 1);
    if (extra != NULL) {
        put(p, ",", 1);
        puts_(p, extra);
    }
    puts_(p, "} ");
    puts_(p, value);
    put(p, "\n", 1);
}

static void sample_u64(struct prom *p, const char *name, const char *extra, uint64_t v)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%" PRIu64, v);
    sample_raw(p, name, extra, buf);
}

static void sample_i64(struct prom *p, const char *name, const char *extra, int64_t v)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%" PRId64, v);
    sample_raw(p, name, extra, buf);
}

static void sample_f(struct prom *p, const char *name, const char *extra, double v)
{
    char buf[40];
    fmt_double(v, buf);
    sample_raw(p, name, extra, buf);
}

/* `key="escaped value"` into a fresh string, or NULL on OOM. */
static char *label(const char *key, const char *value)
{
    char *esc = escape_label(value);
    if (esc == NULL)
        return NULL;
    char *out = llm__asprintf("%s=\"%s\"", key, esc);
    free(esc);
    return out;
}

/* A sample with one extra label whose value needs escaping. */
static void sample_labelled_f(struct prom *p, const char *name, const char *key,
                              const char *value, double v)
{
    char *l = label(key, value);
    if (l == NULL) {
        p->oom = true;
        return;
    }
    sample_f(p, name, l, v);
    free(l);
}

static void histogram(struct prom *p, const char *name, const char *help,
                      const struct llm_stats_latency *l)
{
    header(p, name, "histogram", help);
    char metric[96], extra[48], le[40];
    snprintf(metric, sizeof(metric), "%s_bucket", name);
    for (size_t i = 0; i < LLM_STATS_BUCKETS; i++) {
        fmt_double(l->bucket_le_s[i], le);
        snprintf(extra, sizeof(extra), "le=\"%s\"", le);
        sample_u64(p, metric, extra, l->bucket_count[i]);
    }
    sample_u64(p, metric, "le=\"+Inf\"", l->count);
    snprintf(metric, sizeof(metric), "%s_sum", name);
    sample_f(p, metric, NULL, l->sum_ms / 1e3);
    snprintf(metric, sizeof(metric), "%s_count", name);
    sample_u64(p, metric, NULL, l->count);
}

char *llm_stats_to_prometheus(const struct llm_stats *s, const char *provider_label)
{
    if (s == NULL)
        return NULL;
    const char *prov = provider_label != NULL ? provider_label
                       : s->provider != NULL  ? s->provider
                                              : "unknown";
    char *esc_provider = escape_label(prov);
    if (esc_provider == NULL)
        return NULL;
    struct prom p = {.provider = esc_provider};

    header(&p, "llmorch_requests_total", "counter",
           "Requests completed, by outcome (success or the error type).");
    sample_u64(&p, "llmorch_requests_total", "outcome=\"success\"", s->requests_succeeded);
    for (int e = 1; e < LLM_ERROR_COUNT; e++) {
        /* Error names are static upper-case identifiers: no escaping. */
        char lower[48], extra[64];
        snprintf(lower, sizeof(lower), "%s", llm_error_name((enum llm_error)e));
        for (char *c = lower; *c != '\0'; c++)
            *c = (char)tolower((unsigned char)*c);
        snprintf(extra, sizeof(extra), "outcome=\"%s\"", lower);
        sample_u64(&p, "llmorch_requests_total", extra, s->failures_by_error[e]);
    }

    header(&p, "llmorch_requests_submitted_total", "counter",
           "Requests accepted by the engine.");
    sample_u64(&p, "llmorch_requests_submitted_total", NULL, s->requests_submitted);

    header(&p, "llmorch_tokens_total", "counter",
           "Tokens reported by the provider; input includes cached_input.");
    sample_u64(&p, "llmorch_tokens_total", "direction=\"input\"", s->tokens_input);
    sample_u64(&p, "llmorch_tokens_total", "direction=\"output\"", s->tokens_output);
    sample_u64(&p, "llmorch_tokens_total", "direction=\"cached_input\"", s->tokens_cached_input);

    header(&p, "llmorch_retries_total", "counter", "Attempts beyond each request's first.");
    sample_u64(&p, "llmorch_retries_total", NULL, s->retries);

    header(&p, "llmorch_rate_limited_total", "counter",
           "Attempts answered with HTTP 429 (rate limited).");
    sample_u64(&p, "llmorch_rate_limited_total", NULL, s->rate_limited);

    header(&p, "llmorch_cost_usd_total", "counter",
           "Cost in USD of the requests whose price was known, by model.");
    for (size_t i = 0; i < s->n_models; i++)
        sample_labelled_f(&p, "llmorch_cost_usd_total", "model", s->models[i].model,
                          s->models[i].cost_usd);

    header(&p, "llmorch_cost_unknown_requests_total", "counter",
           "Requests that reported usage for a model without a known price.");
    sample_u64(&p, "llmorch_cost_unknown_requests_total", NULL, s->cost_unknown_requests);

    header(&p, "llmorch_in_flight", "gauge", "Attempts on the wire.");
    sample_i64(&p, "llmorch_in_flight", NULL, s->in_flight);
    header(&p, "llmorch_queue_depth", "gauge", "Requests waiting for admission or a slot.");
    sample_i64(&p, "llmorch_queue_depth", NULL, s->queue_depth);

    header(&p, "llmorch_window_requests", "gauge",
           "Requests completed in the last window (see llmorch_window_seconds).");
    sample_i64(&p, "llmorch_window_requests", NULL, s->window_requests);
    header(&p, "llmorch_window_input_tokens", "gauge", "Input tokens in the last window.");
    sample_i64(&p, "llmorch_window_input_tokens", NULL, s->window_input_tokens);
    header(&p, "llmorch_window_output_tokens", "gauge", "Output tokens in the last window.");
    sample_i64(&p, "llmorch_window_output_tokens", NULL, s->window_output_tokens);
    header(&p, "llmorch_window_seconds", "gauge", "Length of the sliding window.");
    sample_f(&p, "llmorch_window_seconds", NULL, (double)s->window_ms / 1e3);

    if (s->n_gates > 0) {
        static const char *const names[3] = {"llmorch_gate_waiting", "llmorch_gate_used",
                                             "llmorch_gate_limit"};
        static const char *const helps[3] = {"Requests waiting on the gate.",
                                             "Units used in the gate's current window.",
                                             "The gate's limit per window (0: none)."};
        for (int k = 0; k < 3; k++) {
            header(&p, names[k], "gauge", helps[k]);
            for (size_t i = 0; i < s->n_gates; i++) {
                const struct llm_stats_gate *g = &s->gates[i];
                int64_t v = k == 0 ? g->waiting : k == 1 ? g->used : g->limit;
                char *l = label("gate", g->name);
                if (l == NULL) {
                    p.oom = true;
                    break;
                }
                sample_i64(&p, names[k], l, v);
                free(l);
            }
        }
    }

    if (s->shared.enabled) {
        const struct llm_stats_shared *sh = &s->shared;
        header(&p, "llmorch_shared_members", "gauge",
               "Live members sharing the quota through Redis, last seen.");
        sample_i64(&p, "llmorch_shared_members", NULL, sh->members);
        header(&p, "llmorch_shared_redis_calls_total", "counter",
               "Script calls sent to Redis (one round trip each).");
        sample_u64(&p, "llmorch_shared_redis_calls_total", NULL, sh->redis_calls);
        header(&p, "llmorch_shared_redis_errors_total", "counter",
               "Redis connections lost, error or garbage replies, timeouts.");
        sample_u64(&p, "llmorch_shared_redis_errors_total", NULL, sh->redis_errors);
        header(&p, "llmorch_shared_admitted_total", "counter",
               "Admissions by the shared gates (via=shared) or the local fallback (via=local).");
        sample_labelled_f(&p, "llmorch_shared_admitted_total", "via", "shared",
                          (double)sh->admitted_shared);
        sample_labelled_f(&p, "llmorch_shared_admitted_total", "via", "local",
                          (double)sh->admitted_local);
        header(&p, "llmorch_shared_mode", "gauge", "1 for the shared limiter's mode in force.");
        sample_labelled_f(&p, "llmorch_shared_mode", "mode", sh->mode ? sh->mode : "unknown", 1);
    }

    header(&p, "llmorch_uptime_seconds", "gauge", "Time since the statistics started.");
    sample_f(&p, "llmorch_uptime_seconds", NULL, (double)s->uptime_ms / 1e3);

    histogram(&p, "llmorch_request_duration_seconds",
              "Time from the call to completion, waits and retries included.",
              &s->latency_total);
    histogram(&p, "llmorch_time_to_first_byte_seconds",
              "Time from the call to the first response byte.", &s->latency_ttfb);
    histogram(&p, "llmorch_time_to_first_token_seconds",
              "Time from the call to the first generated token.", &s->latency_ttft);

    free(esc_provider);
    if (p.oom) {
        llm__buf_free(&p.b);
        return NULL;
    }
    return llm__buf_steal(&p.b);
}
