/* Resilience over loopback: random faults, cancellation at every stage,
 * deadlines during backoff, adaptive limits.  Asserts outcomes only, never
 * durations. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmorch/llmorch.h"
#include "engine_helpers.h"
#include "mock_server.h"

static struct mocksrv *start_server(const struct mocksrv_options *o)
{
    struct mocksrv *s = NULL;
    assert_int_equal(mocksrv_start(o, &s), 0);
    return s;
}

static struct llm_request req_for(struct llm_message *m, const char *prompt)
{
    *m = (struct llm_message){0}; /* the struct grows at its end (ABI rule) */
    m->role = "user";
    m->content = prompt;
    struct llm_request r = {0};
    r.model = "gpt-4o-mini";
    r.messages = m;
    r.n_messages = 1;
    r.max_tokens = 32;
    return r;
}

struct tally {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done, ok, max_attempts_seen;
    int by_error[LLM_ERROR_COUNT];
};

static void on_done(void *user, struct llm_result *res)
{
    struct tally *t = user;
    pthread_mutex_lock(&t->mu);
    t->done++;
    if (res->success)
        t->ok++;
    if ((int)res->n_attempts > t->max_attempts_seen)
        t->max_attempts_seen = (int)res->n_attempts;
    if (res->error.type < LLM_ERROR_COUNT)
        t->by_error[res->error.type]++;
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
    llm_result_free(res);
}

static void five_hundred_requests_at_fail_rate_0_2_all_succeed_within_8_attempts(void **state)
{
    (void)state;
    struct mocksrv_options so = {0};
    so.fail_rate = 0.2;
    so.retry_after_ms = 5;
    so.seed = 42;
    struct mocksrv *s = start_server(&so);
    struct llm_engine_options o = {0};
    o.max_attempts = 8;
    o.base_backoff_ms = 1;
    o.max_backoff_ms = 20;
    o.max_in_flight = 64;
    struct llm_engine *e = openai_engine_for(mocksrv_url(s), &o);
    struct tally t = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, {0}};
    struct llm_message m;
    struct llm_request req = req_for(&m, "flaky");
    for (int i = 0; i < 500; i++)
        assert_int_equal(llm_generate_async(e, &req, on_done, &t), LLM_OK);
    pthread_mutex_lock(&t.mu);
    while (t.done < 500)
        pthread_cond_wait(&t.cv, &t.mu);
    pthread_mutex_unlock(&t.mu);
    llm_engine_free(e);
    struct mocksrv_counters c;
    mocksrv_stats(s, &c);
    mocksrv_stop(s);
    for (int i = 1; i < LLM_ERROR_COUNT; i++)
        if (t.by_error[i])
            print_message("%d requests failed with %s\n", t.by_error[i], llm_error_name(i));
    assert_int_equal(t.ok, 500);
    assert_true(t.max_attempts_seen <= 8);
    assert_true(t.max_attempts_seen >= 2); /* faults really happened */
}

static void scripted_500_is_retried(void **state)
{
    (void)state;
    struct mocksrv_options so = {0};
    so.script = "500,500,ok";
    struct mocksrv *s = start_server(&so);
    struct llm_engine_options o = {0};
    o.max_attempts = 3;
    o.base_backoff_ms = 1;
    o.max_backoff_ms = 2;
    struct llm_engine *e = openai_engine_for(mocksrv_url(s), &o);
    struct llm_message m;
    struct llm_request req = req_for(&m, "x");
    struct llm_result *res = llm_generate(e, &req);
    assert_true(res->success);
    assert_int_equal(res->n_attempts, 3);
    assert_int_equal(res->attempts[0].error, LLM_ERR_SERVER_ERROR);
    assert_int_equal(res->attempts[0].http_status, 500);
    assert_true(res->backoff.backoff_ms >= 0);
    llm_result_free(res);
    llm_engine_free(e);
    mocksrv_stop(s);
}

static void cancel_reaches_a_request_in_flight_over_http(void **state)
{
    (void)state;
    struct mocksrv_options so = {0};
    so.latency_ms = 30000;
    struct mocksrv *s = start_server(&so);
    struct llm_engine *e = openai_engine_for(mocksrv_url(s), NULL);
    struct llm_message m;
    struct llm_request req = req_for(&m, "x");
    llm_result_free(submit_then_cancel(e, &req, 100));
    llm_engine_free(e);
    mocksrv_stop(s);
}

static void cancel_reaches_a_request_waiting_at_a_gate(void **state)
{
    (void)state;
    struct llm_engine_options o = {0};
    o.rpm = 1; /* one per minute: the second request waits at the gate */
    struct llm_engine *e = NULL;
    assert_int_equal(llm_engine_new(&o, &e), LLM_OK);
    struct llm_message m;
    struct llm_request req = req_for(&m, "x");
    struct llm_result *first = llm_generate(e, &req);
    assert_true(first->success);
    llm_result_free(first);
    struct llm_result *res = submit_then_cancel(e, &req, 50);
    assert_int_equal(res->n_attempts, 0);
    assert_true(res->timestamps[LLM_TS_GATES_ENTERED] != 0);
    assert_int_equal(res->timestamps[LLM_TS_GATES_PASSED], 0);
    llm_result_free(res);
    llm_engine_free(e);
}

static void deadline_that_would_pass_during_backoff_fails_early(void **state)
{
    (void)state;
    struct llm_mock_options mo = {0};
    mo.script = "429,ok";
    mo.retry_after_ms = 5000;
    struct llm_engine_options o = {0};
    o.mock = &mo;
    struct llm_engine *e = NULL;
    assert_int_equal(llm_engine_new(&o, &e), LLM_OK);
    struct llm_message m;
    struct llm_request req = req_for(&m, "x");
    req.deadline_ms = 1000;
    struct llm_result *res = llm_generate(e, &req);
    assert_int_equal(res->error.type, LLM_ERR_DEADLINE_EXCEEDED);
    assert_int_equal(res->n_attempts, 1);
    assert_non_null(strstr(res->error.message, "deadline would pass"));
    assert_non_null(strstr(res->error.message, "HTTP 429"));
    llm_result_free(res);
    llm_engine_free(e);
}


static void adaptive_probe_ends_when_the_first_headers_arrive(void **state)
{
    (void)state;
    struct mocksrv_options so = {0};
    so.inter_token_ms = 100; /* a streamed reply takes seconds */
    so.rpm = 6000;
    struct mocksrv *s = start_server(&so);
    struct llm_engine *e = openai_engine_for(mocksrv_url(s), NULL);
    struct llm_message m1, m2;
    struct llm_request slow = req_for(&m1, "a fairly long prompt so that the streamed reply comes "
                                           "back in a good number of separate chunks");
    slow.max_tokens = 0;
    slow.stream = true;
    struct llm_request quick = req_for(&m2, "quick");
    struct llm_future *fa = NULL, *fb = NULL;
    assert_int_equal(llm_submit(e, &slow, &fa), LLM_OK);
    assert_int_equal(llm_submit(e, &quick, &fb), LLM_OK);
    struct llm_result *a = NULL, *b = NULL;
    assert_int_equal(llm_future_wait(fa, -1, &a), LLM_OK);
    assert_int_equal(llm_future_wait(fb, -1, &b), LLM_OK);
    assert_true(a->success);
    assert_true(b->success);
    /* The quick request did not wait for the whole streamed reply. */
    assert_true(b->timestamps[LLM_TS_COMPLETED] < a->timestamps[LLM_TS_COMPLETED]);
    llm_result_free(a);
    llm_result_free(b);
    llm_future_free(fa);
    llm_future_free(fb);
    llm_engine_free(e);
    mocksrv_stop(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(five_hundred_requests_at_fail_rate_0_2_all_succeed_within_8_attempts),
        cmocka_unit_test(scripted_500_is_retried),
        cmocka_unit_test(cancel_reaches_a_request_in_flight_over_http),
        cmocka_unit_test(cancel_reaches_a_request_waiting_at_a_gate),
        cmocka_unit_test(deadline_that_would_pass_during_backoff_fails_early),
        cmocka_unit_test(adaptive_probe_ends_when_the_first_headers_arrive),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
