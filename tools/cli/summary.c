/* Batch figures: counters kept by the main thread from the results it
 * writes, the final summary table, the progress line and metrics lines. */
#include "cli.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <llmorch/stats.h>

void cli_stats_init(struct cli_stats *s)
{
    memset(s, 0, sizeof(*s));
    s->start_us = cli_now_us();
}

void cli_stats_free(struct cli_stats *s)
{
    free(s->latency_us);
    free(s->ttft_us);
    s->latency_us = s->ttft_us = NULL;
}

static void push(int64_t **arr, size_t *n, size_t *cap, int64_t v)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 1024;
        int64_t *na = realloc(*arr, nc * sizeof(*na));
        if (na == NULL)
            return; /* the percentiles lose a sample; nothing else does */
        *arr = na;
        *cap = nc;
    }
    (*arr)[(*n)++] = v;
}

void cli_stats_add_result(struct cli_stats *s, const struct llm_result *res, bool streamed)
{
    if (res->success) {
        s->succeeded++;
    } else {
        s->failed++;
        unsigned e = (unsigned)res->error.type;
        s->by_error[e < LLM_ERROR_COUNT ? e : LLM_ERROR_COUNT]++;
    }
    if (res->n_attempts > 1)
        s->retries += res->n_attempts - 1;
    for (size_t i = 0; i < res->n_attempts; i++)
        if (res->attempts[i].http_status == 429)
            s->http_429++;
    if (res->usage.known) {
        s->input_tokens = cli_sat_add(s->input_tokens, res->usage.input_tokens);
        s->output_tokens = cli_sat_add(s->output_tokens, res->usage.output_tokens);
    } else if (res->success) {
        s->usage_unknown++;
    }
    /* A non-finite cost would print as $inf or $-nan: count it unknown. */
    if (res->cost.known && isfinite(res->cost.total_usd))
        s->cost_usd += res->cost.total_usd;
    else if (res->success)
        s->cost_unknown++;
    const int64_t *ts = res->timestamps;
    if (ts[LLM_TS_COMPLETED] && ts[LLM_TS_REQUESTED])
        push(&s->latency_us, &s->n_latency, &s->cap_latency,
             ts[LLM_TS_COMPLETED] - ts[LLM_TS_REQUESTED]);
    if (streamed && ts[LLM_TS_FIRST_TOKEN] && ts[LLM_TS_REQUESTED])
        push(&s->ttft_us, &s->n_ttft, &s->cap_ttft, ts[LLM_TS_FIRST_TOKEN] - ts[LLM_TS_REQUESTED]);
}

uint64_t cli_stats_done(const struct cli_stats *s)
{
    return s->succeeded + s->failed + s->invalid;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of a sorted array. */
static int64_t pct(const int64_t *v, size_t n, double p)
{
    size_t rank = (size_t)((p / 100.0) * (double)n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return v[rank - 1];
}

static const char *fmt_dur(int64_t us, char *buf, size_t n)
{
    double ms = (double)us / 1000.0;
    if (ms >= 10000)
        snprintf(buf, n, "%.2f s", ms / 1000);
    else if (ms >= 100)
        snprintf(buf, n, "%.0f ms", ms);
    else
        snprintf(buf, n, "%.1f ms", ms);
    return buf;
}

static void print_percentiles(FILE *f, const char *label, int64_t *v, size_t n,
                              const char *note)
{
    if (n == 0)
        return;
    qsort(v, n, sizeof(*v), cmp_i64);
    char a[32], b[32], c[32], d[32];
    fprintf(f, "  %-16s p50 %s   p95 %s   p99 %s   max %s%s\n", label,
            fmt_dur(pct(v, n, 50), a, sizeof(a)), fmt_dur(pct(v, n, 95), b, sizeof(b)),
            fmt_dur(pct(v, n, 99), c, sizeof(c)), fmt_dur(v[n - 1], d, sizeof(d)), note);
}

void cli_stats_print_summary(struct cli_stats *s, FILE *f, const char *out_path,
                             bool interrupted)
{
    double wall = (double)(cli_now_us() - s->start_us) / 1e6;
    uint64_t done = cli_stats_done(s);
    fprintf(f, "llmorch batch: %s\n", interrupted ? "interrupted (rerun the same command to "
                                                    "resume)" : "done");
    fprintf(f, "  %-16s %s\n", "output", out_path);
    fprintf(f, "  %-16s %llu written: %llu succeeded, %llu failed, %llu invalid input line%s\n",
            "requests", (unsigned long long)done, (unsigned long long)s->succeeded,
            (unsigned long long)s->failed, (unsigned long long)s->invalid,
            s->invalid == 1 ? "" : "s");
    if (s->skipped)
        fprintf(f, "  %-16s %llu already in the output (not redone)\n", "skipped",
                (unsigned long long)s->skipped);
    if (s->discarded)
        fprintf(f, "  %-16s %llu cancelled in flight (not written; redone on rerun)\n",
                "cancelled", (unsigned long long)s->discarded);
    if (s->failed) {
        fprintf(f, "  %-16s", "failed by type");
        const char *sep = " ";
        for (unsigned e = 0; e <= LLM_ERROR_COUNT; e++)
            if (s->by_error[e]) {
                fprintf(f, "%s%s %llu", sep, e < LLM_ERROR_COUNT ? llm_error_name(e) : "OTHER",
                        (unsigned long long)s->by_error[e]);
                sep = ", ";
            }
        fputc('\n', f);
    }
    fprintf(f, "  %-16s %.2f s\n", "wall time", wall);
    fprintf(f, "  %-16s %.1f req/s\n", "throughput", wall > 0 ? (double)done / wall : 0.0);
    print_percentiles(f, "latency", s->latency_us, s->n_latency, "");
    char note[64];
    snprintf(note, sizeof(note), "   (%zu streamed)", s->n_ttft);
    print_percentiles(f, "first token", s->ttft_us, s->n_ttft, note);
    fprintf(f, "  %-16s %llu   (HTTP 429 answers: %llu)\n", "retries",
            (unsigned long long)s->retries, (unsigned long long)s->http_429);
    if (s->usage_unknown)
        fprintf(f, "  %-16s in %lld   out %lld (+ %llu request%s whose usage was not reported)\n",
                "tokens", (long long)s->input_tokens, (long long)s->output_tokens,
                (unsigned long long)s->usage_unknown, s->usage_unknown == 1 ? "" : "s");
    else
        fprintf(f, "  %-16s in %lld   out %lld\n", "tokens", (long long)s->input_tokens,
                (long long)s->output_tokens);
    if (s->cost_unknown)
        fprintf(f, "  %-16s $%.6f (+ %llu request%s with no known price)\n", "cost", s->cost_usd,
                (unsigned long long)s->cost_unknown, s->cost_unknown == 1 ? "" : "s");
    else
        fprintf(f, "  %-16s $%.6f\n", "cost", s->cost_usd);
}

/* ---- progress ---------------------------------------------------------------- */

void cli_progress_init(struct cli_progress *p, bool quiet)
{
    memset(p, 0, sizeof(*p));
    p->enabled = !quiet;
    p->tty = isatty(STDERR_FILENO) == 1;
    p->interval_us = p->tty ? 200000 : 5000000;
    p->last_us = cli_now_us();
}

static void fmt_eta(double s, char *buf, size_t n)
{
    if (s < 0 || s > 1e7)
        snprintf(buf, n, "?");
    else if (s >= 3600)
        snprintf(buf, n, "%dh%02dm", (int)(s / 3600), (int)(s / 60) % 60);
    else
        snprintf(buf, n, "%d:%02d", (int)(s / 60), (int)s % 60);
}

void cli_progress_tick(struct cli_progress *p, const struct cli_stats *s, bool force)
{
    if (!p->enabled)
        return;
    int64_t now = cli_now_us();
    if (!force && now - p->last_us < p->interval_us)
        return;
    p->last_us = now;
    double el = (double)(now - s->start_us) / 1e6;
    uint64_t done = cli_stats_done(s);
    uint64_t seen = done + s->skipped;
    double rate = el > 0 ? (double)done / el : 0;
    char total[32] = "?", eta[32] = "?", pctbuf[16] = "";
    if (s->total_known) {
        snprintf(total, sizeof(total), "%llu", (unsigned long long)s->total);
        if (s->total > 0)
            snprintf(pctbuf, sizeof(pctbuf), " %3.0f%%",
                     100.0 * (double)(seen < s->total ? seen : s->total) / (double)s->total);
        if (rate > 0)
            fmt_eta((double)(s->total > seen ? s->total - seen : 0) / rate, eta, sizeof(eta));
    }
    long long tok = (long long)cli_sat_add(s->input_tokens, s->output_tokens);
    if (p->tty) {
        fprintf(stderr, "\r%llu/%s%s  %.1f req/s  ETA %s  in flight %llu  retries %llu  429s %llu"
                "  tokens %lld  $%.4f\033[K",
                (unsigned long long)seen, total, pctbuf, rate, eta,
                (unsigned long long)s->in_flight, (unsigned long long)s->retries,
                (unsigned long long)s->http_429, tok, s->cost_usd);
        p->drawn = true;
    } else {
        fprintf(stderr, "llmorch: %llu/%s done%s, %.1f req/s, ETA %s, in flight %llu, "
                "retries %llu, 429s %llu, tokens %lld, cost $%.4f\n",
                (unsigned long long)seen, total, pctbuf, rate, eta,
                (unsigned long long)s->in_flight, (unsigned long long)s->retries,
                (unsigned long long)s->http_429, tok, s->cost_usd);
    }
    fflush(stderr);
}

void cli_progress_clear(struct cli_progress *p)
{
    if (p->enabled && p->tty && p->drawn) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
        p->drawn = false;
    }
}

/* ---- metrics log ------------------------------------------------------------- */

/* The engine's own snapshot (queue depth, gates, windows, latency
 * histograms), when the library has llm_engine_stats(). */
static cJSON *engine_stats(struct llm_engine *eng)
{
    struct llm_stats *snap = NULL;
    if (eng == NULL || llm_engine_stats(eng, &snap) != LLM_OK)
        return NULL;
    char *j = llm_stats_to_json(snap);
    llm_stats_free(snap);
    cJSON *v = j != NULL ? cJSON_Parse(j) : NULL;
    llm_free(j);
    return v;
}

void cli_metrics_write(FILE *f, const struct cli_stats *s, struct llm_engine *eng)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[64];
    snprintf(when, sizeof(when), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
    double el = (double)(cli_now_us() - s->start_us) / 1e6;
    cJSON *o = cJSON_CreateObject();
    if (o == NULL)
        return;
    cJSON_AddStringToObject(o, "time", when);
    cJSON_AddNumberToObject(o, "elapsed_s", el);
    cJSON_AddNumberToObject(o, "done", (double)cli_stats_done(s));
    if (s->total_known)
        cJSON_AddNumberToObject(o, "total", (double)s->total);
    else
        cJSON_AddNullToObject(o, "total");
    cJSON_AddNumberToObject(o, "skipped", (double)s->skipped);
    cJSON_AddNumberToObject(o, "in_flight", (double)s->in_flight);
    cJSON_AddNumberToObject(o, "succeeded", (double)s->succeeded);
    cJSON_AddNumberToObject(o, "failed", (double)s->failed);
    cJSON_AddNumberToObject(o, "invalid", (double)s->invalid);
    cJSON *by = cJSON_AddObjectToObject(o, "failed_by_type");
    for (unsigned e = 0; e <= LLM_ERROR_COUNT; e++)
        if (s->by_error[e])
            cJSON_AddNumberToObject(by, e < LLM_ERROR_COUNT ? llm_error_name(e) : "OTHER",
                                    (double)s->by_error[e]);
    cJSON_AddNumberToObject(o, "retries", (double)s->retries);
    cJSON_AddNumberToObject(o, "http_429", (double)s->http_429);
    cJSON_AddNumberToObject(o, "input_tokens", (double)s->input_tokens);
    cJSON_AddNumberToObject(o, "output_tokens", (double)s->output_tokens);
    cJSON_AddNumberToObject(o, "cost_usd", s->cost_usd);
    cJSON_AddNumberToObject(o, "requests_per_s", el > 0 ? (double)cli_stats_done(s) / el : 0);
    cJSON *es = engine_stats(eng);
    if (es != NULL)
        cJSON_AddItemToObject(o, "engine", es);
    char *line = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (line != NULL) {
        fprintf(f, "%s\n", line);
        fflush(f);
        cJSON_free(line);
    }
}
