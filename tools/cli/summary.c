/* Batch figures: counters kept by the main thread from the results it
 * writes, the final summary table, the progress line and metrics lines. */
#include "cli.h"

#include <cjson/cJSON.h>
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
    llm_stats_free(s->engine);
    s->engine = NULL;
}

void cli_stats_add_result(struct cli_stats *s, const struct llm_result *res)
{
    if (res->success) {
        s->succeeded++;
        if (!res->usage.known)
            s->usage_unknown++;
    } else {
        s->failed++;
        unsigned e = (unsigned)res->error.type;
        s->by_error[e < LLM_ERROR_COUNT ? e : LLM_ERROR_COUNT]++;
    }
}

void cli_stats_snapshot(struct cli_stats *s, struct llm_engine *eng)
{
    struct llm_stats *snap = NULL;
    if (eng == NULL || llm_engine_stats(eng, &snap) != LLM_OK)
        return;
    llm_stats_free(s->engine);
    s->engine = snap;
}

uint64_t cli_stats_done(const struct cli_stats *s)
{
    return s->succeeded + s->failed + s->invalid;
}

static const char *fmt_dur(double ms, char *buf, size_t n)
{
    if (ms >= 10000)
        snprintf(buf, n, "%.2f s", ms / 1000);
    else if (ms >= 100)
        snprintf(buf, n, "%.0f ms", ms);
    else
        snprintf(buf, n, "%.1f ms", ms);
    return buf;
}

static void print_percentiles(FILE *f, const char *label, const struct llm_stats_latency *l,
                              const char *note)
{
    if (l->count == 0)
        return;
    char a[32], b[32], c[32], d[32];
    fprintf(f, "  %-16s p50 %s   p90 %s   p99 %s   max %s%s\n", label,
            fmt_dur(l->p50_ms, a, sizeof(a)), fmt_dur(l->p90_ms, b, sizeof(b)),
            fmt_dur(l->p99_ms, c, sizeof(c)), fmt_dur(l->max_ms, d, sizeof(d)), note);
}

static void print_counts(const struct cli_stats *s, FILE *f)
{
    uint64_t done = cli_stats_done(s);
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
}

/* The engine's figures: latency, retries, tokens, cost. */
static void print_engine(const struct cli_stats *s, FILE *f)
{
    static const struct llm_stats none;
    const struct llm_stats *e = s->engine != NULL ? s->engine : &none;
    print_percentiles(f, "latency", &e->latency_total, "");
    char note[96];
    snprintf(note, sizeof(note), "   (%llu replies)",
             (unsigned long long)e->latency_ttft.count);
    print_percentiles(f, "first token", &e->latency_ttft, note);
    fprintf(f, "  %-16s %llu   (HTTP 429 answers: %llu)\n", "retries",
            (unsigned long long)e->retries, (unsigned long long)e->rate_limited);
    if (s->usage_unknown)
        fprintf(f, "  %-16s in %llu   out %llu (+ %llu request%s whose usage was not reported)\n",
                "tokens", (unsigned long long)e->tokens_input,
                (unsigned long long)e->tokens_output, (unsigned long long)s->usage_unknown,
                s->usage_unknown == 1 ? "" : "s");
    else
        fprintf(f, "  %-16s in %llu   out %llu\n", "tokens",
                (unsigned long long)e->tokens_input, (unsigned long long)e->tokens_output);
    if (e->cost_unknown_requests)
        fprintf(f, "  %-16s $%.6f (+ %llu request%s with no known price)\n", "cost",
                e->cost_usd, (unsigned long long)e->cost_unknown_requests,
                e->cost_unknown_requests == 1 ? "" : "s");
    else
        fprintf(f, "  %-16s $%.6f\n", "cost", e->cost_usd);
}

void cli_stats_print_summary(const struct cli_stats *s, FILE *f, const char *out_path,
                             bool interrupted)
{
    double wall = (double)(cli_now_us() - s->start_us) / 1e6;
    fprintf(f, "llmorch batch: %s\n", interrupted ? "interrupted (rerun the same command to "
                                                    "resume)" : "done");
    fprintf(f, "  %-16s %s\n", "output", out_path);
    print_counts(s, f);
    fprintf(f, "  %-16s %.2f s\n", "wall time", wall);
    fprintf(f, "  %-16s %.1f req/s\n", "throughput",
            wall > 0 ? (double)cli_stats_done(s) / wall : 0.0);
    print_engine(s, f);
}

/* ---- shared limits ------------------------------------------------------------- */

struct llm_stats *cli_shared_snapshot(struct llm_engine *eng)
{
    struct llm_stats *snap = NULL;
    if (eng == NULL || llm_engine_stats(eng, &snap) != LLM_OK)
        return NULL;
    if (!snap->shared.enabled) {
        llm_stats_free(snap);
        return NULL;
    }
    return snap;
}

void cli_print_shared(FILE *f, const struct llm_stats *snap)
{
    if (snap == NULL || !snap->shared.enabled)
        return;
    const struct llm_stats_shared *sh = &snap->shared;
    fprintf(f, "  %-16s \"%s\" through %s: mode %s, %lld member%s\n", "shared quota",
            sh->quota ? sh->quota : "", sh->redis ? sh->redis : "", sh->mode ? sh->mode : "?",
            (long long)sh->members, sh->members == 1 ? "" : "s");
    fprintf(f, "  %-16s shared %llu, local fallback %llu, failed %llu;  Redis calls %llu "
            "(%.2f per request), errors %llu, connects %llu, script loads %llu\n", "admissions",
            (unsigned long long)sh->admitted_shared, (unsigned long long)sh->admitted_local,
            (unsigned long long)sh->failed, (unsigned long long)sh->redis_calls,
            sh->round_trips_per_request, (unsigned long long)sh->redis_errors,
            (unsigned long long)sh->connects, (unsigned long long)sh->script_loads);
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

void cli_progress_tick(struct cli_progress *p, struct cli_stats *s, struct llm_engine *eng,
                       bool force)
{
    if (!p->enabled)
        return;
    int64_t now = cli_now_us();
    if (!force && now - p->last_us < p->interval_us)
        return;
    p->last_us = now;
    cli_stats_snapshot(s, eng);
    static const struct llm_stats none;
    const struct llm_stats *e = s->engine != NULL ? s->engine : &none;
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
    unsigned long long tok = (unsigned long long)(e->tokens_input + e->tokens_output);
    if (p->tty) {
        fprintf(stderr, "\r%llu/%s%s  %.1f req/s  ETA %s  in flight %llu  retries %llu  429s %llu"
                "  tokens %llu  $%.4f\033[K",
                (unsigned long long)seen, total, pctbuf, rate, eta,
                (unsigned long long)s->in_flight, (unsigned long long)e->retries,
                (unsigned long long)e->rate_limited, tok, e->cost_usd);
        p->drawn = true;
    } else {
        fprintf(stderr, "llmorch: %llu/%s done%s, %.1f req/s, ETA %s, in flight %llu, "
                "retries %llu, 429s %llu, tokens %llu, cost $%.4f\n",
                (unsigned long long)seen, total, pctbuf, rate, eta,
                (unsigned long long)s->in_flight, (unsigned long long)e->retries,
                (unsigned long long)e->rate_limited, tok, e->cost_usd);
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

void cli_metrics_write(FILE *f, struct cli_stats *s, struct llm_engine *eng)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[64];
    snprintf(when, sizeof(when), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
    double el = (double)(cli_now_us() - s->start_us) / 1e6;
    cli_stats_snapshot(s, eng);
    static const struct llm_stats none;
    const struct llm_stats *e = s->engine != NULL ? s->engine : &none;
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
    for (unsigned i = 0; i <= LLM_ERROR_COUNT; i++)
        if (s->by_error[i])
            cJSON_AddNumberToObject(by, i < LLM_ERROR_COUNT ? llm_error_name(i) : "OTHER",
                                    (double)s->by_error[i]);
    cJSON_AddNumberToObject(o, "retries", (double)e->retries);
    cJSON_AddNumberToObject(o, "http_429", (double)e->rate_limited);
    cJSON_AddNumberToObject(o, "input_tokens", (double)e->tokens_input);
    cJSON_AddNumberToObject(o, "output_tokens", (double)e->tokens_output);
    cJSON_AddNumberToObject(o, "cost_usd", e->cost_usd);
    cJSON_AddNumberToObject(o, "requests_per_s", el > 0 ? (double)cli_stats_done(s) / el : 0);
    /* The engine's snapshot goes in as the library wrote it (raw JSON, not
     * parsed back into a tree). */
    char *engine_json = s->engine != NULL ? llm_stats_to_json(s->engine) : NULL;
    if (engine_json != NULL)
        cJSON_AddRawToObject(o, "engine", engine_json);
    llm_free(engine_json);
    char *line = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (line != NULL) {
        fprintf(f, "%s\n", line);
        fflush(f);
        cJSON_free(line);
    }
}
