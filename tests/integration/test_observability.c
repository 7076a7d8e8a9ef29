/* Observability over loopback: the canary key never leaks through any
 * output path; result JSON carries a UUIDv7, 15+ timestamps, usage and a
 * known cost; trace ids reach the server; stats and Prometheus text
 * reflect what happened; adaptive limits show up as gates. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "llmorch/llmorch.h"
#include "engine_helpers.h"
#include "mock_server.h"

#define CANARY "sk-canary-7f3a9c1e5b2d4680aa-NEVER-PRINT"

/* Everything any sink received, appended under a lock. */
struct sink {
    pthread_mutex_t mu;
    char *buf;
    size_t len;
    int lines;
};

static void sink_add(struct sink *s, const char *text)
{
    pthread_mutex_lock(&s->mu);
    size_t n = strlen(text);
    s->buf = realloc(s->buf, s->len + n + 2);
    memcpy(s->buf + s->len, text, n);
    s->len += n;
    s->buf[s->len++] = '\n';
    s->buf[s->len] = '\0';
    s->lines++;
    pthread_mutex_unlock(&s->mu);
}

static void on_log(void *user, enum llm_log_level level, const char *msg)
{
    (void)level;
    sink_add(user, msg);
}

static void on_line(void *user, const char *line) { sink_add(user, line); }

static void assert_no_canary(const char *what, const char *text)
{
    if (text && strstr(text, CANARY))
        fail_msg("the API key leaked into %s", what);
}

static struct llm_result *run_one(struct llm_engine *e, const char *model, bool stream)
{
    struct llm_message m = {.role = "user", .content = "observe me"};
    struct llm_request req = {0};
    req.model = model;
    req.messages = &m;
    req.n_messages = 1;
    req.max_tokens = 64;
    req.stream = stream;
    return llm_generate(e, &req);
}

static void canary_key_never_appears_in_any_output(void **state)
{
    (void)state;
    char ledger[] = "/tmp/llmorch-obs-ledger-XXXXXX";
    int fd = mkstemp(ledger);
    assert_true(fd >= 0);
    close(fd);
    struct mocksrv_options so = {0};
    so.script = "500,ok,429,ok,region";
    so.retry_after_ms = 1;
    so.ledger_path = ledger;
    struct mocksrv *s = NULL;
    assert_int_equal(mocksrv_start(&so, &s), 0);

    struct sink logs = {PTHREAD_MUTEX_INITIALIZER, NULL, 0, 0};
    struct sink metrics = logs, events = logs;
    pthread_mutex_init(&metrics.mu, NULL);
    pthread_mutex_init(&events.mu, NULL);
    struct llm_engine_options o = {0};
    o.provider = "openai";
    o.base_url = mocksrv_url(s);
    o.api_key = CANARY;
    o.log = on_log;
    o.log_user = &logs;
    o.log_level = LLM_LOG_DEBUG;
    o.metrics_cb = on_line;
    o.metrics_user = &metrics;
    o.metrics_interval_ms = 5;
    o.events_cb = on_line;
    o.events_user = &events;
    o.base_backoff_ms = 1;
    o.max_backoff_ms = 2;
    struct llm_engine *e = NULL;
    assert_int_equal(llm_engine_new(&o, &e), LLM_OK);

    struct llm_result *ok = run_one(e, "gpt-4o-mini", false);  /* 500 then ok */
    struct llm_result *st = run_one(e, "gpt-4o-mini", true);   /* 429 then ok */
    struct llm_result *bad = run_one(e, "gpt-4o-mini", false); /* region: final */
    assert_true(ok->success);
    assert_true(st->success);
    assert_int_equal(bad->error.type, LLM_ERR_UNSUPPORTED_REGION);
    struct llm_result *all[] = {ok, st, bad};
    for (int i = 0; i < 3; i++) {
        char *j = llm_result_to_json(all[i]);
        assert_no_canary("result JSON", j);
        assert_no_canary("error message", all[i]->error.message);
        llm_free(j);
    }

    struct llm_stats *stats = NULL;
    assert_int_equal(llm_engine_stats(e, &stats), LLM_OK);
    char *sj = llm_stats_to_json(stats);
    char *prom = llm_stats_to_prometheus(stats, "openai");
    assert_no_canary("stats JSON", sj);
    assert_no_canary("Prometheus text", prom);
    assert_int_equal(stats->requests_completed, 3);
    assert_int_equal(stats->requests_succeeded, 2);
    assert_int_equal(stats->failures_by_error[LLM_ERR_UNSUPPORTED_REGION], 1);
    assert_true(stats->retries >= 2);
    assert_true(stats->rate_limited >= 1);
    assert_non_null(strstr(prom, "llmorch_requests_total"));
    llm_free(sj);
    llm_free(prom);
    llm_stats_free(stats);

    /* An error path with the key: nothing listens on the discard port. */
    llm_engine_free(e);
    o.base_url = "http://127.0.0.1:9";
    o.max_attempts = 1;
    assert_int_equal(llm_engine_new(&o, &e), LLM_OK);
    struct llm_result *conn = run_one(e, "gpt-4o-mini", false);
    assert_int_equal(conn->error.type, LLM_ERR_CONNECTION);
    assert_no_canary("connection error", conn->error.message);
    llm_engine_free(e);
    mocksrv_stop(s);

    assert_true(logs.lines > 0);
    assert_true(metrics.lines > 0); /* at least the final line */
    assert_int_equal(events.lines, 4);
    assert_no_canary("debug log", logs.buf);
    assert_no_canary("metrics lines", metrics.buf);
    assert_no_canary("event lines", events.buf);

    /* The trace id went to the server in X-Client-Request-Id. */
    FILE *f = fopen(ledger, "r");
    assert_non_null(f);
    char line[4096];
    bool seen = false;
    while (fgets(line, sizeof(line), f))
        if (strstr(line, ok->trace_id))
            seen = true;
    fclose(f);
    unlink(ledger);
    assert_true(seen);
    assert_non_null(ok->request_id);

    for (int i = 0; i < 3; i++)
        llm_result_free(all[i]);
    llm_result_free(conn);
    free(logs.buf);
    free(metrics.buf);
    free(events.buf);
}

static void mock_server_result_has_trace_timestamps_usage_and_known_cost(void **state)
{
    (void)state;
    struct mocksrv_options so = {0};
    struct mocksrv *s = NULL;
    assert_int_equal(mocksrv_start(&so, &s), 0);
    struct llm_engine *e = openai_engine_for(mocksrv_url(s), NULL);
    struct llm_result *res = run_one(e, "gpt-4o-mini", true);
    assert_true(res->success);
    char *json = llm_result_to_json(res);
    cJSON *j = cJSON_Parse(json);
    assert_non_null(j);
    const char *tid = cJSON_GetStringValue(cJSON_GetObjectItem(j, "trace_id"));
    assert_non_null(tid);
    assert_int_equal(strlen(tid), 36);
    assert_int_equal(tid[8], '-');
    assert_int_equal(tid[14], '7');
    assert_true(strchr("89ab", tid[19]) != NULL);
    int set = 0;
    cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(j, "timestamps"))
        if (cJSON_IsString(it))
            set++;
    if (set < 15)
        fail_msg("only %d timestamps set", set);
    cJSON *usage = cJSON_GetObjectItem(j, "usage");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(usage, "known")));
    assert_true(cJSON_GetObjectItem(usage, "input_tokens")->valuedouble > 0);
    cJSON *cost = cJSON_GetObjectItem(j, "cost");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(cost, "known")));
    assert_true(cJSON_GetObjectItem(cost, "total_usd")->valuedouble > 0);
    cJSON_Delete(j);
    llm_free(json);
    llm_result_free(res);
    llm_engine_free(e);
    mocksrv_stop(s);
}

static void unknown_model_cost_is_marked_unknown_not_zero(void **state)
{
    (void)state;
    struct llm_engine *e = NULL;
    assert_int_equal(llm_engine_new(NULL, &e), LLM_OK);
    struct llm_result *res = run_one(e, "my-private-finetune", false);
    assert_true(res->success);
    assert_true(res->usage.known);
    assert_false(res->cost.known);
    llm_result_free(res);
    llm_engine_free(e);
}

static void limits_announced_by_the_server_become_gates(void **state)
{
    (void)state;
    struct mocksrv_options so = {0};
    so.rpm = 600;
    so.tpm = 600000;
    struct mocksrv *s = NULL;
    assert_int_equal(mocksrv_start(&so, &s), 0);
    struct llm_engine *e = openai_engine_for(mocksrv_url(s), NULL);
    struct llm_result *res = run_one(e, "gpt-4o-mini", false);
    assert_true(res->success);
    llm_result_free(res);
    struct llm_stats *st = NULL;
    assert_int_equal(llm_engine_stats(e, &st), LLM_OK);
    bool rpm = false, tpm = false;
    for (size_t i = 0; i < st->n_gates; i++) {
        if (strcmp(st->gates[i].name, "rpm") == 0 && st->gates[i].limit == 10)
            rpm = true; /* 600/min over the 1 s adaptive window */
        if (strcmp(st->gates[i].name, "tpm") == 0 && st->gates[i].limit == 10000)
            tpm = true;
    }
    assert_true(rpm);
    assert_true(tpm);
    llm_stats_free(st);
    llm_engine_free(e);
    mocksrv_stop(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(canary_key_never_appears_in_any_output),
        cmocka_unit_test(mock_server_result_has_trace_timestamps_usage_and_known_cost),
        cmocka_unit_test(unknown_model_cost_is_marked_unknown_not_zero),
        cmocka_unit_test(limits_announced_by_the_server_become_gates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
