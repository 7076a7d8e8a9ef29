/* Statistics: booking synthetic results into the accumulator, snapshots,
 * the JSON form key by key, and the Prometheus text format parsed line by
 * line against the 0.0.4 grammar. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "core/result_internal.h"
#include "llmorch/result.h"
#include "llmorch/stats.h"
#include "metrics/stats_acc.h"

/* 2026-11-29T03:40:04Z in µs. */
#define T0 INT64_C(1795923604000000)

static void add_attempt(struct llm_result *r, int status, enum llm_error e)
{
    struct llm_attempt a = {.http_status = status, .error = e, .retry_after_ms = -1};
    assert_int_equal(llm__result_add_attempt(r, &a), LLM_OK);
}

static struct llm_result *result(bool success, const char *model, enum llm_error type)
{
    struct llm_result *r = llm__result_new();
    assert_non_null(r);
    r->success = success;
    r->error.type = type;
    r->model = model != NULL ? strdup(model) : NULL;
    r->provider = strdup("openai");
    return r;
}

static void set_times(struct llm_result *r, int64_t ttfb_ms, int64_t ttft_ms, int64_t total_ms)
{
    r->timestamps[LLM_TS_REQUESTED] = T0;
    if (ttfb_ms >= 0)
        r->timestamps[LLM_TS_FIRST_BYTE] = T0 + ttfb_ms * 1000;
    if (ttft_ms >= 0)
        r->timestamps[LLM_TS_FIRST_TOKEN] = T0 + ttft_ms * 1000;
    r->timestamps[LLM_TS_COMPLETED] = T0 + total_ms * 1000;
}

/* Four results, booked at 1 s, 30 s, 30 s and 61 s of a fake clock that
 * started at 0:
 *  1. success, gpt-4o snapshot, 1000 in (100 cached) / 200 out, $0.0045,
 *     a 429 then a success; 300 ms to first byte, 400 ms to first token,
 *     1.2 s in all;
 *  2. RATE_LIMITED failure, same model, no usage, three 429s, 5 s;
 *  3. success on an unpriced model: 500 in / 50 out, cost unknown, 250 ms;
 *  4. a failure without a type and without a model, no timestamps. */
static struct llm__stats_acc *booked_acc(void)
{
    struct llm__stats_acc *acc = NULL;
    assert_int_equal(llm__stats_acc_new("openai", 0, 0, &acc), LLM_OK);

    struct llm_result *r = result(true, "gpt-4o-2024-08-06", LLM_OK);
    r->usage = (struct llm_usage){.input_tokens = 1000, .output_tokens = 200,
                                  .cached_input_tokens = 100, .known = true};
    r->cost = (struct llm_cost){.input_usd = 0.0025, .output_usd = 0.002, .total_usd = 0.0045,
                                .known = true};
    add_attempt(r, 429, LLM_ERR_RATE_LIMITED);
    add_attempt(r, 200, LLM_OK);
    set_times(r, 300, 400, 1200);
    llm__stats_acc_note_submitted(acc, 1);
    llm__stats_acc_record_result(acc, r, 1000);
    llm_result_free(r);

    r = result(false, "gpt-4o-2024-08-06", LLM_ERR_RATE_LIMITED);
    for (int i = 0; i < 3; i++)
        add_attempt(r, 429, LLM_ERR_RATE_LIMITED);
    set_times(r, -1, -1, 5000);
    llm__stats_acc_note_submitted(acc, 1);
    llm__stats_acc_record_result(acc, r, 30000);
    llm_result_free(r);

    r = result(true, "claude-\"quoted\"\\model\nx", LLM_OK);
    r->usage = (struct llm_usage){.input_tokens = 500, .output_tokens = 50, .known = true};
    add_attempt(r, 200, LLM_OK);
    set_times(r, 100, 150, 250);
    llm__stats_acc_note_submitted(acc, 1);
    llm__stats_acc_record_result(acc, r, 30000);
    llm_result_free(r);

    r = result(false, NULL, LLM_OK);
    llm__stats_acc_note_submitted(acc, 1);
    llm__stats_acc_note_submitted(acc, 1); /* one more still in flight */
    llm__stats_acc_record_result(acc, r, 61000);
    llm_result_free(r);
    return acc;
}

static struct llm_stats *booked_snapshot(void)
{
    struct llm__stats_acc *acc = booked_acc();
    struct llm_stats *s = NULL;
    assert_int_equal(llm__stats_acc_snapshot(acc, 61500, &s), LLM_OK);
    assert_non_null(s);
    llm__stats_acc_free(acc);
    s->in_flight = 3;
    s->queue_depth = 7;
    assert_int_equal(llm__stats_add_gate(s, "rpm", 2, 450, 500), LLM_OK);
    assert_int_equal(llm__stats_add_gate(s, "tpm \"x\"", 0, 1000, 0), LLM_OK);
    return s;
}

static void snapshot_counts_outcomes_retries_429s_tokens_and_cost(void **state)
{
    (void)state;
    struct llm_stats *s = booked_snapshot();
    assert_string_equal(s->provider, "openai");
    assert_int_equal(s->uptime_ms, 61500);
    assert_true(s->snapshot_unix_ms > 0);
    assert_int_equal(s->requests_submitted, 5);
    assert_int_equal(s->requests_completed, 4);
    assert_int_equal(s->requests_succeeded, 2);
    assert_int_equal(s->requests_failed, 2);
    assert_int_equal(s->failures_by_error[LLM_ERR_RATE_LIMITED], 1);
    assert_int_equal(s->failures_by_error[LLM_ERR_INTERNAL], 1); /* untyped failure */
    assert_int_equal(s->failures_by_error[LLM_OK], 0);
    assert_int_equal(s->retries, 1 + 2);
    assert_int_equal(s->rate_limited, 1 + 3);
    assert_int_equal(s->tokens_input, 1500);
    assert_int_equal(s->tokens_output, 250);
    assert_int_equal(s->tokens_cached_input, 100);
    assert_true(s->cost_usd == 0.0045);
    assert_int_equal(s->cost_known_requests, 1);
    assert_int_equal(s->cost_unknown_requests, 1); /* usage but no price */
    llm_stats_free(s);
}

static void snapshot_window_keeps_only_the_last_minute(void **state)
{
    (void)state;
    struct llm_stats *s = booked_snapshot();
    assert_int_equal(s->window_ms, 60000);
    /* At 61.5 s the result booked at 1 s has aged out. */
    assert_int_equal(s->window_requests, 3);
    assert_int_equal(s->window_input_tokens, 500);
    assert_int_equal(s->window_output_tokens, 50);
    llm_stats_free(s);
}

static void snapshot_latencies_come_from_the_result_timestamps(void **state)
{
    (void)state;
    struct llm_stats *s = booked_snapshot();
    const struct llm_stats_latency *t = &s->latency_total;
    assert_int_equal(t->count, 3); /* the untimed failure is not counted */
    assert_true(t->min_ms == 250 && t->max_ms == 5000);
    assert_true(t->sum_ms == 250 + 1200 + 5000);
    assert_true(t->p50_ms > 1200 * 0.996 && t->p50_ms < 1200 * 1.004);
    assert_int_equal(s->latency_ttfb.count, 2);
    assert_true(s->latency_ttfb.min_ms == 100 && s->latency_ttfb.max_ms == 300);
    assert_int_equal(s->latency_ttft.count, 2);
    /* Prometheus buckets: 0.25 s holds 1, 1 s still 1, 2.5 s 2, 5 s 3. */
    assert_true(t->bucket_le_s[4] == 0.25);
    assert_int_equal(t->bucket_count[4], 1);
    assert_int_equal(t->bucket_count[6], 1);
    assert_int_equal(t->bucket_count[7], 2);
    assert_int_equal(t->bucket_count[8], 3);
    assert_int_equal(t->bucket_count[LLM_STATS_BUCKETS - 1], 3);
    llm_stats_free(s);
}

static void snapshot_keeps_per_model_totals_in_first_seen_order(void **state)
{
    (void)state;
    struct llm_stats *s = booked_snapshot();
    assert_int_equal(s->n_models, 3);
    assert_string_equal(s->models[0].model, "gpt-4o-2024-08-06");
    assert_int_equal(s->models[0].requests, 2);
    assert_int_equal(s->models[0].input_tokens, 1000);
    assert_true(s->models[0].cost_usd == 0.0045);
    assert_string_equal(s->models[1].model, "claude-\"quoted\"\\model\nx");
    assert_int_equal(s->models[1].output_tokens, 50);
    assert_true(s->models[1].cost_usd == 0);
    assert_string_equal(s->models[2].model, "unknown");
    llm_stats_free(s);
}

static void models_beyond_the_limit_are_added_up_as_other(void **state)
{
    (void)state;
    struct llm__stats_acc *acc = NULL;
    assert_int_equal(llm__stats_acc_new(NULL, 0, 0, &acc), LLM_OK);
    for (int i = 0; i < LLM__STATS_MAX_MODELS + 10; i++) {
        char name[32];
        snprintf(name, sizeof(name), "model-%d", i);
        struct llm_result *r = result(true, name, LLM_OK);
        llm__stats_acc_record_result(acc, r, 0);
        llm_result_free(r);
    }
    struct llm_stats *s = NULL;
    assert_int_equal(llm__stats_acc_snapshot(acc, 0, &s), LLM_OK);
    assert_int_equal(s->n_models, LLM__STATS_MAX_MODELS + 1);
    assert_string_equal(s->models[LLM__STATS_MAX_MODELS].model, "other");
    assert_int_equal(s->models[LLM__STATS_MAX_MODELS].requests, 10);
    assert_null(s->provider);
    llm_stats_free(s);
    llm__stats_acc_free(acc);
}

/* ---- JSON ------------------------------------------------------------------------------ */

static const cJSON *key(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (v == NULL)
        fail_msg("missing key '%s'", k);
    return v;
}

static double num(const cJSON *o, const char *k)
{
    const cJSON *v = key(o, k);
    assert_true(cJSON_IsNumber(v));
    return v->valuedouble;
}

static void stats_json_has_every_documented_key(void **state)
{
    (void)state;
    struct llm_stats *s = booked_snapshot();
    char *json = llm_stats_to_json(s);
    assert_non_null(json);
    assert_null(strchr(json, '\n'));
    cJSON *j = cJSON_Parse(json);
    assert_non_null(j);

    assert_string_equal(key(j, "provider")->valuestring, "openai");
    assert_true(num(j, "uptime_ms") == 61500);
    assert_true(num(j, "snapshot_unix_ms") > 0);
    const cJSON *req = key(j, "requests");
    assert_true(num(req, "submitted") == 5 && num(req, "completed") == 4 &&
                num(req, "succeeded") == 2 && num(req, "failed") == 2);
    const cJSON *fails = key(j, "failures");
    assert_int_equal(cJSON_GetArraySize(fails), LLM_ERROR_COUNT - 1);
    assert_true(num(fails, "RATE_LIMITED") == 1 && num(fails, "INTERNAL") == 1 &&
                num(fails, "TIMEOUT") == 0);
    assert_true(num(j, "retries") == 3 && num(j, "rate_limited") == 4);
    assert_true(num(j, "in_flight") == 3 && num(j, "queue_depth") == 7);
    const cJSON *gates = key(j, "gates");
    assert_int_equal(cJSON_GetArraySize(gates), 2);
    const cJSON *g0 = cJSON_GetArrayItem(gates, 0);
    assert_string_equal(key(g0, "name")->valuestring, "rpm");
    assert_true(num(g0, "waiting") == 2 && num(g0, "used") == 450 && num(g0, "limit") == 500);
    const cJSON *win = key(j, "window");
    assert_true(num(win, "window_ms") == 60000 && num(win, "requests") == 3 &&
                num(win, "input_tokens") == 500 && num(win, "output_tokens") == 50);
    const cJSON *lat = key(j, "latency");
    static const char *const lat_keys[] = {"total", "ttfb", "ttft"};
    for (int i = 0; i < 3; i++) {
        const cJSON *l = key(lat, lat_keys[i]);
        static const char *const f[] = {"count", "p50_ms", "p90_ms", "p99_ms",
                                        "min_ms", "max_ms", "mean_ms"};
        for (int k = 0; k < 7; k++)
            assert_true(cJSON_IsNumber(key(l, f[k])));
    }
    assert_true(num(key(lat, "total"), "mean_ms") == (250.0 + 1200 + 5000) / 3);
    const cJSON *tok = key(j, "tokens");
    assert_true(num(tok, "input") == 1500 && num(tok, "output") == 250 &&
                num(tok, "cached_input") == 100);
    const cJSON *cost = key(j, "cost");
    assert_true(num(cost, "usd") == 0.0045 && num(cost, "known_requests") == 1 &&
                num(cost, "unknown_requests") == 1);
    const cJSON *models = key(j, "models");
    assert_int_equal(cJSON_GetArraySize(models), 3);
    const cJSON *m1 = cJSON_GetArrayItem(models, 1);
    assert_string_equal(key(m1, "model")->valuestring, "claude-\"quoted\"\\model\nx");
    assert_true(num(m1, "requests") == 1 && num(m1, "input_tokens") == 500 &&
                num(m1, "output_tokens") == 50 && num(m1, "cost_usd") == 0);
    cJSON_Delete(j);
    llm_free(json);
    llm_stats_free(s);
}

static void stats_json_of_an_empty_snapshot_uses_nulls_for_latencies(void **state)
{
    (void)state;
    struct llm__stats_acc *acc = NULL;
    assert_int_equal(llm__stats_acc_new("mock", 10000, 0, &acc), LLM_OK);
    struct llm_stats *s = NULL;
    assert_int_equal(llm__stats_acc_snapshot(acc, 5, &s), LLM_OK);
    char *json = llm_stats_to_json(s);
    cJSON *j = cJSON_Parse(json);
    assert_non_null(j);
    const cJSON *total = key(key(j, "latency"), "total");
    assert_true(num(total, "count") == 0);
    assert_true(cJSON_IsNull(key(total, "p50_ms")));
    assert_true(cJSON_IsNull(key(total, "mean_ms")));
    assert_true(num(key(j, "window"), "window_ms") == 10000);
    assert_int_equal(cJSON_GetArraySize(key(j, "models")), 0);
    assert_int_equal(cJSON_GetArraySize(key(j, "gates")), 0);
    cJSON_Delete(j);
    llm_free(json);
    llm_stats_free(s);
    llm__stats_acc_free(acc);
    assert_null(llm_stats_to_json(NULL));
    assert_null(llm_stats_to_prometheus(NULL, "x"));
    llm_stats_free(NULL);
}

/* ---- Prometheus ----------------------------------------------------------------------- */

#define MAX_FAMILIES 64
#define MAX_LABELS 4

struct family {
    char name[96];
    char type[16];
    bool help, type_seen;
};

struct sample {
    char name[96];
    int n_labels;
    char label[MAX_LABELS][32];
    char value_of[MAX_LABELS][160]; /* unescaped */
    double value;
};

struct exposition {
    struct family fam[MAX_FAMILIES];
    int n_fam;
};

static struct family *family(struct exposition *x, const char *name)
{
    for (int i = 0; i < x->n_fam; i++)
        if (strcmp(x->fam[i].name, name) == 0)
            return &x->fam[i];
    return NULL;
}

static bool name_char(char c, bool first, bool colon_ok)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
           (colon_ok && c == ':') || (!first && c >= '0' && c <= '9');
}

/* Parses one sample line per the 0.0.4 grammar; fails the test otherwise. */
static void parse_sample(const char *line, struct sample *s)
{
    memset(s, 0, sizeof(*s));
    const char *p = line;
    size_t n = 0;
    if (!name_char(*p, true, true))
        fail_msg("bad metric name in: %s", line);
    while (name_char(*p, false, true)) {
        assert_true(n + 1 < sizeof(s->name));
        s->name[n++] = *p++;
    }
    if (*p == '{') {
        p++;
        while (*p != '}') {
            assert_true(s->n_labels < MAX_LABELS);
            size_t k = 0;
            if (!name_char(*p, true, false))
                fail_msg("bad label name in: %s", line);
            while (name_char(*p, false, false))
                s->label[s->n_labels][k++] = *p++;
            if (p[0] != '=' || p[1] != '"')
                fail_msg("expected =\" in: %s", line);
            p += 2;
            size_t v = 0;
            while (*p != '"') {
                if (*p == '\0' || *p == '\n')
                    fail_msg("unterminated label value in: %s", line);
                char c = *p++;
                if (c == '\\') {
                    c = *p++;
                    if (c == 'n')
                        c = '\n';
                    else if (c != '\\' && c != '"')
                        fail_msg("bad escape in: %s", line);
                }
                assert_true(v + 1 < sizeof(s->value_of[0]));
                s->value_of[s->n_labels][v++] = c;
            }
            p++;
            s->n_labels++;
            if (*p == ',')
                p++;
            else if (*p != '}')
                fail_msg("expected , or } in: %s", line);
        }
        p++;
    }
    if (*p != ' ')
        fail_msg("expected a space before the value in: %s", line);
    p++;
    if (strcmp(p, "+Inf") == 0 || strcmp(p, "-Inf") == 0 || strcmp(p, "NaN") == 0) {
        s->value = strtod(p, NULL);
        return;
    }
    char *end;
    s->value = strtod(p, &end);
    if (end == p || *end != '\0')
        fail_msg("value is not a float in: %s", line);
}

static const char *label_of(const struct sample *s, const char *name)
{
    for (int i = 0; i < s->n_labels; i++)
        if (strcmp(s->label[i], name) == 0)
            return s->value_of[i];
    return NULL;
}

/* The family a sample belongs to: a histogram's _bucket/_sum/_count
 * series belong to the histogram. */
static struct family *family_of(struct exposition *x, const char *name)
{
    struct family *f = family(x, name);
    if (f != NULL)
        return f;
    static const char *const suffixes[] = {"_bucket", "_sum", "_count"};
    for (int i = 0; i < 3; i++) {
        size_t ln = strlen(name), ls = strlen(suffixes[i]);
        if (ln > ls && strcmp(name + ln - ls, suffixes[i]) == 0) {
            char base[96];
            memcpy(base, name, ln - ls);
            base[ln - ls] = '\0';
            f = family(x, base);
            if (f != NULL && strcmp(f->type, "histogram") == 0)
                return f;
        }
    }
    return NULL;
}

struct hist_check {
    char name[96];
    double last_le;
    double last_count;
    bool inf_seen;
    double inf_count;
    double count;
    bool count_seen;
};

/* Checks the whole exposition; returns the samples for further checks
 * (caller frees). */
static struct sample *check_exposition(const char *text, int *n_samples,
                                       const char *want_provider)
{
    static struct exposition x;
    memset(&x, 0, sizeof(x));
    struct hist_check hc[8];
    int n_hist = 0;
    memset(hc, 0, sizeof(hc));
    size_t len = strlen(text);
    assert_true(len > 0 && text[len - 1] == '\n');
    struct sample *samples = calloc(512, sizeof(*samples));
    assert_non_null(samples);
    *n_samples = 0;

    char *copy = strdup(text);
    char *save = NULL;
    for (char *line = strtok_r(copy, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '#') {
            char kind[8], name[96];
            int off = 0;
            if (sscanf(line, "# %7s %95s %n", kind, name, &off) < 2)
                fail_msg("bad comment line: %s", line);
            struct family *f = family(&x, name);
            if (f == NULL) {
                assert_true(x.n_fam < MAX_FAMILIES);
                f = &x.fam[x.n_fam++];
                snprintf(f->name, sizeof(f->name), "%s", name);
            }
            if (strcmp(kind, "HELP") == 0) {
                assert_false(f->help); /* once per metric */
                assert_true(strlen(line + off) > 0);
                f->help = true;
            } else if (strcmp(kind, "TYPE") == 0) {
                assert_false(f->type_seen);
                snprintf(f->type, sizeof(f->type), "%s", line + off);
                assert_true(strcmp(f->type, "counter") == 0 || strcmp(f->type, "gauge") == 0 ||
                            strcmp(f->type, "histogram") == 0);
                f->type_seen = true;
            } else {
                fail_msg("unknown comment: %s", line);
            }
            continue;
        }
        assert_true(*n_samples < 512);
        struct sample *s = &samples[(*n_samples)++];
        parse_sample(line, s);
        struct family *f = family_of(&x, s->name);
        if (f == NULL || !f->help || !f->type_seen)
            fail_msg("sample before its HELP and TYPE: %s", line);
        const char *prov = label_of(s, "provider");
        assert_non_null(prov);
        assert_string_equal(prov, want_provider);
        if (strcmp(f->type, "counter") == 0) {
            size_t ln = strlen(s->name);
            assert_true(ln > 6 && strcmp(s->name + ln - 6, "_total") == 0);
            assert_true(s->value >= 0);
        }
        if (strcmp(f->type, "histogram") != 0)
            continue;
        struct hist_check *h = NULL;
        for (int i = 0; i < n_hist; i++)
            if (strcmp(hc[i].name, f->name) == 0)
                h = &hc[i];
        if (h == NULL) {
            assert_true(n_hist < 8);
            h = &hc[n_hist++];
            snprintf(h->name, sizeof(h->name), "%s", f->name);
            h->last_le = -1;
        }
        size_t ln = strlen(s->name);
        if (strcmp(s->name + ln - 7, "_bucket") == 0) {
            const char *le = label_of(s, "le");
            assert_non_null(le);
            assert_false(h->inf_seen); /* +Inf is last */
            if (strcmp(le, "+Inf") == 0) {
                h->inf_seen = true;
                h->inf_count = s->value;
            } else {
                char *end;
                double b = strtod(le, &end);
                assert_true(*end == '\0');
                assert_true(b > h->last_le);
                h->last_le = b;
            }
            assert_true(s->value >= h->last_count); /* cumulative */
            h->last_count = s->value;
        } else if (strcmp(s->name + ln - 6, "_count") == 0) {
            h->count = s->value;
            h->count_seen = true;
        }
    }
    free(copy);
    assert_int_equal(n_hist, 3);
    for (int i = 0; i < n_hist; i++) {
        assert_true(hc[i].inf_seen && hc[i].count_seen);
        assert_true(hc[i].inf_count == hc[i].count);
    }
    return samples;
}

static const struct sample *find_sample(const struct sample *s, int n, const char *name,
                                        const char *label, const char *value)
{
    for (int i = 0; i < n; i++) {
        if (strcmp(s[i].name, name) != 0)
            continue;
        if (label == NULL || (label_of(&s[i], label) != NULL &&
                              strcmp(label_of(&s[i], label), value) == 0))
            return &s[i];
    }
    fail_msg("no sample %s{%s=%s}", name, label ? label : "", value ? value : "");
    return NULL;
}

static void prometheus_text_follows_the_exposition_format(void **state)
{
    (void)state;
    struct llm_stats *s = booked_snapshot();
    char *text = llm_stats_to_prometheus(s, NULL);
    assert_non_null(text);
    int n = 0;
    struct sample *smp = check_exposition(text, &n, "openai");

    assert_true(find_sample(smp, n, "llmorch_requests_total", "outcome", "success")->value == 2);
    assert_true(
        find_sample(smp, n, "llmorch_requests_total", "outcome", "rate_limited")->value == 1);
    assert_true(find_sample(smp, n, "llmorch_requests_total", "outcome", "internal")->value == 1);
    assert_true(find_sample(smp, n, "llmorch_requests_total", "outcome", "timeout")->value == 0);
    assert_true(find_sample(smp, n, "llmorch_tokens_total", "direction", "input")->value == 1500);
    assert_true(find_sample(smp, n, "llmorch_tokens_total", "direction", "output")->value == 250);
    assert_true(
        find_sample(smp, n, "llmorch_tokens_total", "direction", "cached_input")->value == 100);
    assert_true(find_sample(smp, n, "llmorch_retries_total", NULL, NULL)->value == 3);
    assert_true(find_sample(smp, n, "llmorch_rate_limited_total", NULL, NULL)->value == 4);
    assert_true(find_sample(smp, n, "llmorch_cost_usd_total", "model", "gpt-4o-2024-08-06")
                    ->value == 0.0045);
    assert_true(find_sample(smp, n, "llmorch_in_flight", NULL, NULL)->value == 3);
    assert_true(find_sample(smp, n, "llmorch_queue_depth", NULL, NULL)->value == 7);
    assert_true(find_sample(smp, n, "llmorch_gate_limit", "gate", "rpm")->value == 500);
    assert_true(find_sample(smp, n, "llmorch_gate_used", "gate", "tpm \"x\"")->value == 1000);
    assert_true(find_sample(smp, n, "llmorch_request_duration_seconds_bucket", "le", "0.25")
                    ->value == 1);
    assert_true(find_sample(smp, n, "llmorch_request_duration_seconds_bucket", "le", "+Inf")
                    ->value == 3);
    assert_true(find_sample(smp, n, "llmorch_request_duration_seconds_sum", NULL, NULL)->value ==
                6.45);
    assert_true(find_sample(smp, n, "llmorch_time_to_first_token_seconds_count", NULL, NULL)
                    ->value == 2);
    free(smp);
    llm_free(text);
    llm_stats_free(s);
}

static void prometheus_label_values_are_escaped(void **state)
{
    (void)state;
    struct llm_stats *s = booked_snapshot();
    static const char tricky[] = "prov\\ider \"one\"\nline2";
    char *text = llm_stats_to_prometheus(s, tricky);
    assert_non_null(text);
    /* Escaped on the wire... */
    assert_non_null(strstr(text, "provider=\"prov\\\\ider \\\"one\\\"\\nline2\""));
    assert_non_null(strstr(text, "model=\"claude-\\\"quoted\\\"\\\\model\\nx\""));
    /* ...and every line still parses, the values reading back exactly. */
    int n = 0;
    struct sample *smp = check_exposition(text, &n, tricky);
    assert_non_null(find_sample(smp, n, "llmorch_cost_usd_total", "model",
                                "claude-\"quoted\"\\model\nx"));
    free(smp);
    llm_free(text);
    llm_stats_free(s);
}

static void prometheus_of_an_empty_snapshot_is_still_complete(void **state)
{
    (void)state;
    struct llm__stats_acc *acc = NULL;
    assert_int_equal(llm__stats_acc_new(NULL, 0, 0, &acc), LLM_OK);
    struct llm_stats *s = NULL;
    assert_int_equal(llm__stats_acc_snapshot(acc, 0, &s), LLM_OK);
    char *text = llm_stats_to_prometheus(s, NULL);
    int n = 0;
    struct sample *smp = check_exposition(text, &n, "unknown");
    assert_true(find_sample(smp, n, "llmorch_request_duration_seconds_count", NULL, NULL)
                    ->value == 0);
    free(smp);
    llm_free(text);
    llm_stats_free(s);
    llm__stats_acc_free(acc);
}

/* ---- threads ---------------------------------------------------------------------------- */

#define RECORDS 20000

static void *recorder(void *arg)
{
    struct llm__stats_acc *acc = arg;
    struct llm_result *r = result(true, "gpt-4o", LLM_OK);
    r->usage = (struct llm_usage){.input_tokens = 2, .output_tokens = 1, .known = true};
    set_times(r, 10, 20, 30);
    for (int i = 0; i < RECORDS; i++) {
        llm__stats_acc_note_submitted(acc, 1);
        llm__stats_acc_record_result(acc, r, i);
    }
    llm_result_free(r);
    return NULL;
}

static void a_host_thread_may_snapshot_while_the_engine_records(void **state)
{
    (void)state;
    struct llm__stats_acc *acc = NULL;
    assert_int_equal(llm__stats_acc_new("openai", 0, 0, &acc), LLM_OK);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, recorder, acc), 0);
    uint64_t last = 0;
    for (int i = 0; i < 200; i++) {
        struct llm_stats *s = NULL;
        assert_int_equal(llm__stats_acc_snapshot(acc, 0, &s), LLM_OK);
        /* A snapshot is consistent: never half of one booking. */
        assert_int_equal(s->tokens_input, 2 * s->requests_completed);
        assert_int_equal(s->latency_total.count, s->requests_completed);
        assert_true(s->requests_completed >= last);
        assert_true(s->requests_submitted >= s->requests_completed);
        last = s->requests_completed;
        llm_stats_free(s);
    }
    pthread_join(th, NULL);
    struct llm_stats *s = NULL;
    assert_int_equal(llm__stats_acc_snapshot(acc, RECORDS, &s), LLM_OK);
    assert_int_equal(s->requests_completed, RECORDS);
    assert_int_equal(s->requests_succeeded, RECORDS);
    llm_stats_free(s);
    llm__stats_acc_free(acc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(snapshot_counts_outcomes_retries_429s_tokens_and_cost),
        cmocka_unit_test(snapshot_window_keeps_only_the_last_minute),
        cmocka_unit_test(snapshot_latencies_come_from_the_result_timestamps),
        cmocka_unit_test(snapshot_keeps_per_model_totals_in_first_seen_order),
        cmocka_unit_test(models_beyond_the_limit_are_added_up_as_other),
        cmocka_unit_test(stats_json_has_every_documented_key),
        cmocka_unit_test(stats_json_of_an_empty_snapshot_uses_nulls_for_latencies),
        cmocka_unit_test(prometheus_text_follows_the_exposition_format),
        cmocka_unit_test(prometheus_label_values_are_escaped),
        cmocka_unit_test(prometheus_of_an_empty_snapshot_is_still_complete),
        cmocka_unit_test(a_host_thread_may_snapshot_while_the_engine_records),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
