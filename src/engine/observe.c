/* Observability: the log sink, prices, the event line of each finished
 * request, periodic metric lines and stats snapshots. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/util.h"
#include "engine/engine_internal.h"
#include "llmorch/stats.h"
#include "metrics/stats_acc.h"

void llm__eng_log_stderr(void *user, enum llm_log_level level, const char *msg)
{
    static const char *const names[] = {"none", "error", "warn", "info", "debug"};
    fprintf(stderr, "llmorch %s: %s\n", names[level <= LLM_LOG_DEBUG ? level : 0], msg);
}

void llm__eng_log(struct llm_engine *e, enum llm_log_level lvl, const char *fmt, ...)
{
    if (!e->log || lvl > e->log_level)
        return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (llm__secrets_found(&e->secrets, buf, strlen(buf))) {
        char *clean = llm__redact(&e->secrets, llm__strdup(buf), NULL);
        e->log(e->log_user, lvl, clean ? clean : LLM__REDACTED);
        free(clean);
        return;
    }
    e->log(e->log_user, lvl, buf);
}

/* One JSON line to a FILE and/or a callback (engine thread). */
static void emit_line(FILE *f, llm_line_fn *cb, void *user, const char *line)
{
    if (f) {
        fputs(line, f);
        fputc('\n', f);
        fflush(f);
    }
    if (cb)
        cb(user, line);
}

/* Cost from the pricing table; unknown models say so (never a silent 0). */
static void price_result(struct llm_engine *e, struct llm_result *res)
{
    memset(&res->cost, 0, sizeof(res->cost));
    if (!res->usage.known || !e->pricing)
        return;
    const char *model = res->model ? res->model : "";
    if (!e->price_model || strcmp(e->price_model, model) != 0) {
        free(e->price_model);
        e->price_model = llm__strdup(model);
        e->price_known = llm_pricing_lookup(e->pricing, model, &e->price) == LLM_OK;
    }
    if (!e->price_known && strcmp(e->provider->vtable->name, "ollama") == 0) {
        /* Local models cost nothing per token: known, zero, and said so. */
        res->cost.known = true;
        res->cost.local = true;
        return;
    }
    llm_cost_compute(e->price_known ? &e->price : NULL, &res->usage, &res->cost);
}

void llm__eng_observe_done(struct llm_engine *e, struct llm_result *res, enum llm_error err,
                           int64_t now_mono_us)
{
    price_result(e, res);
    llm__stats_acc_record_result(e->stats, res, now_mono_us / 1000);
    if (e->events_file || e->events_cb) {
        char *line = llm_result_to_json(res);
        if (line)
            emit_line(e->events_file, e->events_cb, e->events_user, line);
        free(line);
    }
    if (llm__eng_logs(e, LLM_LOG_DEBUG))
        llm__eng_log(e, LLM_LOG_DEBUG, "trace=%s done: %s after %zu attempt(s)%s%s",
                     res->trace_id, err == LLM_OK ? "success" : llm_error_name(err),
                     res->n_attempts, err == LLM_OK ? "" : ": ",
                     err == LLM_OK ? "" : (res->error.message ? res->error.message : ""));
}

/* A full snapshot: the accumulator's counters plus the gauges only the
 * engine thread may read.  Engine thread. */
enum llm_error llm__eng_snapshot(struct llm_engine *e, struct llm_stats **out)
{
    *out = NULL;
    int64_t now_us = llm__now_mono_us();
    struct llm_stats *s = NULL;
    enum llm_error rc = llm__stats_acc_snapshot(e->stats, now_us / 1000, &s);
    if (rc != LLM_OK)
        return rc;
    s->in_flight = (int64_t)e->in_flight;
    s->queue_depth = (int64_t)e->n_waiting;
    rc = llm__adm_report(e, s, now_us);
    if (rc != LLM_OK) {
        llm_stats_free(s);
        return rc;
    }
    *out = s;
    return LLM_OK;
}

static void emit_metrics(struct llm_engine *e)
{
    struct llm_stats *s = NULL;
    if (llm__eng_snapshot(e, &s) != LLM_OK)
        return;
    char *line = llm_stats_to_json(s);
    if (line)
        emit_line(e->metrics_file, e->metrics_cb, e->metrics_user, line);
    free(line);
    llm_stats_free(s);
}

static void on_metrics_timer(struct llm__timer *t, void *user)
{
    struct llm_engine *e = user;
    emit_metrics(e);
    llm__timer_start(e->loop, &e->metrics_timer,
                     llm__add_sat(llm__now_mono_us(), llm__ms_to_us_sat(e->metrics_interval_ms)),
                     on_metrics_timer, e);
}

void llm__eng_metrics_start(struct llm_engine *e)
{
    if (e->metrics_file || e->metrics_cb)
        llm__timer_start(e->loop, &e->metrics_timer,
                         llm__add_sat(llm__now_mono_us(), llm__ms_to_us_sat(e->metrics_interval_ms)),
                         on_metrics_timer, e);
}

void llm__eng_metrics_stop(struct llm_engine *e)
{
    if (e->metrics_file || e->metrics_cb)
        emit_metrics(e); /* a last line with the final totals */
    llm__timer_stop(e->loop, &e->metrics_timer);
}

enum llm_error llm__eng_observe_init(struct llm_engine *e, const struct llm_engine_options *o,
                                     char *errbuf, size_t errlen)
{
    if (llm__stats_acc_new(e->provider_name, o->stats_window_ms ? o->stats_window_ms : 60000,
                           llm__now_mono_us() / 1000, &e->stats) != LLM_OK ||
        llm_pricing_new_builtin(&e->pricing) != LLM_OK) {
        llm__eng_set_err(errbuf, errlen, "out of memory");
        return LLM_ERR_OUT_OF_MEMORY;
    }
    if (o->pricing_file) {
        char perr[256] = "";
        enum llm_error rc = llm_pricing_load_litellm_file(e->pricing, o->pricing_file, perr,
                                                          sizeof(perr));
        if (rc != LLM_OK) {
            /* The loader's messages already begin "pricing file '<path>'". */
            llm__eng_set_err(errbuf, errlen, "%s", perr[0] ? perr : llm_strerror(rc));
            return rc;
        }
    }
    e->metrics_file = o->metrics_file;
    e->metrics_cb = o->metrics_cb;
    e->metrics_user = o->metrics_user;
    e->metrics_interval_ms = o->metrics_interval_ms > 0 ? o->metrics_interval_ms : 10000;
    e->events_file = o->events_file;
    e->events_cb = o->events_cb;
    e->events_user = o->events_user;
    return LLM_OK;
}

enum llm_error llm_engine_stats(struct llm_engine *e, struct llm_stats **out)
{
    if (!out)
        return LLM_ERR_INVALID_ARGUMENT;
    *out = NULL;
    if (!e)
        return LLM_ERR_INVALID_ARGUMENT;
    if (llm__tls_engine == e)
        return llm__eng_snapshot(e, out);
    struct stats_req sr = {.done = false, .rc = LLM_OK, .out = NULL};
    struct cmd *c = calloc(1, sizeof(*c));
    if (!c)
        return LLM_ERR_OUT_OF_MEMORY;
    c->type = CMD_STATS;
    c->sr = &sr;
    pthread_mutex_init(&sr.mu, NULL);
    pthread_cond_init(&sr.cv, NULL);
    enum llm_error rc = llm__cmdq_push(e, c);
    if (rc == LLM_OK) {
        pthread_mutex_lock(&sr.mu);
        while (!sr.done)
            pthread_cond_wait(&sr.cv, &sr.mu);
        pthread_mutex_unlock(&sr.mu);
        *out = sr.out;
        rc = sr.rc;
    } else {
        free(c);
    }
    pthread_mutex_destroy(&sr.mu);
    pthread_cond_destroy(&sr.cv);
    return rc;
}
