/* Integration tests of the gemini, azure, bedrock and ollama providers:
 * the engine through real libcurl against the mock server, which speaks
 * each wire format on its own paths.  Per provider: a plain and a
 * streamed reply with usage and cost, and a 429 retried (after the
 * provider's own retry hint where it has one).  Bedrock: the mock
 * verifies SigV4 signatures (its own verifier), so success proves the
 * signature, a wrong secret fails as AUTHENTICATION without a retry, a
 * session token is sent and signed, and a corrupted event-stream CRC is a
 * PARSE error.  Credentials are AWS's documented examples. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "llmorch/ext/provider.h"
#include "llmorch/llmorch.h"
#include "mock_server.h"

#define AKID "AKIDEXAMPLE"
#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define KEY "provider-test-key-not-real"
#define RETRY_MS 300

struct case_ {
    const char *provider;
    const char *model;
    bool server_hint; /* the 429 carries a wait the client honours */
};

static const struct case_ cases[] = {
    {"gemini", "gemini-2.5-flash", true},
    {"azure", "gpt-4o-mini", true},
    {"bedrock", "us.anthropic.claude-3-5-haiku-20241022-v1:0", false},
    {"ollama", "llama3.2", false},
};

static struct mocksrv *start(const char *script)
{
    struct mocksrv_options o = {0};
    o.aws_secret_key = SECRET;
    o.retry_after_ms = RETRY_MS;
    o.script = script;
    struct mocksrv *s = NULL;
    assert_int_equal(mocksrv_start(&o, &s), 0);
    return s;
}

static struct llm_engine *engine(const char *provider, const char *url, int max_attempts,
                                 const char *secret, const char *token)
{
    struct llm_engine_options o = {0};
    o.provider = provider;
    o.base_url = url;
    o.api_key = KEY;
    o.max_attempts = max_attempts;
    o.base_backoff_ms = 1;
    o.max_backoff_ms = 5;
    if (strcmp(provider, "bedrock") == 0) {
        struct llm_provider_options po = {0};
        po.base_url = url;
        po.api_key = ""; /* SigV4, not a bearer token */
        po.region = "us-east-1";
        po.aws_access_key_id = AKID;
        po.aws_secret_access_key = secret;
        po.aws_session_token = token;
        assert_int_equal(llm_provider_new_bedrock(&po, &o.provider_instance), LLM_OK);
        o.provider = NULL;
    }
    struct llm_engine *e = NULL;
    char err[256] = "";
    if (llm_engine_new_ex(&o, &e, err, sizeof(err)) != LLM_OK)
        fail_msg("engine %s: %s", provider, err);
    return e;
}

struct deltas {
    char text[1024];
    size_t len;
    int n;
};

static void on_delta(void *user, const char *text, size_t len)
{
    struct deltas *d = user;
    assert_true(d->len + len < sizeof(d->text));
    memcpy(d->text + d->len, text, len);
    d->len += len;
    d->n++;
}

static struct llm_result *run(struct llm_engine *e, const char *model, bool stream,
                              struct deltas *d)
{
    struct llm_message m = {0};
    m.role = "user";
    m.content = "hi";
    struct llm_request req = {0};
    req.model = model;
    req.messages = &m;
    req.n_messages = 1;
    req.max_tokens = 64;
    req.stream = stream;
    if (stream) {
        req.on_delta = on_delta;
        req.delta_user = d;
    }
    struct llm_result *res = llm_generate(e, &req);
    assert_non_null(res);
    return res;
}

static void assert_reply(const struct case_ *c, const struct llm_result *res)
{
    if (!res->success)
        fail_msg("%s: %s: %s", c->provider, llm_error_name(res->error.type),
                 res->error.message ? res->error.message : "");
    assert_string_equal(res->content, "mock reply to: hi");
    /* The mock's counts: ceil(2 bytes / 4) in, ceil(17 / 4) out. */
    assert_true(res->usage.known);
    assert_int_equal(res->usage.input_tokens, 1);
    assert_int_equal(res->usage.output_tokens, 5);
    assert_true(res->cost.known);
    /* The server's own timing where the format reports one (the mock's:
     * Ollama eval_duration = 1 ms per output token, Bedrock latencyMs 1). */
    if (strcmp(c->provider, "ollama") == 0) {
        assert_true(res->server_timing.known);
        assert_int_equal(res->server_timing.eval_us, 5000);
    } else if (strcmp(c->provider, "bedrock") == 0) {
        assert_true(res->server_timing.known);
        assert_int_equal(res->server_timing.total_us, 1000);
    } else {
        assert_false(res->server_timing.known);
    }
    if (strcmp(c->provider, "ollama") == 0) {
        assert_true(res->cost.local);
        assert_true(res->cost.total_usd == 0);
    } else {
        assert_false(res->cost.local);
        assert_true(res->cost.total_usd > 0);
    }
    char *json = llm_result_to_json(res);
    assert_non_null(json);
    assert_null(strstr(json, KEY));
    assert_null(strstr(json, SECRET));
    /* server_timing is in the JSON exactly when the server reported one. */
    assert_int_equal(strstr(json, "\"server_timing\":{\"total_us\"") != NULL,
                     res->server_timing.known);
    llm_free(json);
}

static void each_provider_answers_plain_requests_with_usage_and_cost(void **state)
{
    (void)state;
    struct mocksrv *s = start(NULL);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct llm_engine *e = engine(cases[i].provider, mocksrv_url(s), 1, SECRET, NULL);
        struct llm_result *res = run(e, cases[i].model, false, NULL);
        assert_reply(&cases[i], res);
        assert_int_equal(res->n_attempts, 1);
        assert_int_equal(res->attempts[0].http_status, 200);
        llm_result_free(res);
        llm_engine_free(e);
    }
    mocksrv_stop(s);
}

static void each_provider_streams_in_its_own_framing_with_usage_and_cost(void **state)
{
    (void)state;
    struct mocksrv *s = start(NULL);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct llm_engine *e = engine(cases[i].provider, mocksrv_url(s), 1, SECRET, NULL);
        struct deltas d = {0};
        struct llm_result *res = run(e, cases[i].model, true, &d);
        assert_reply(&cases[i], res);
        /* The text came in pieces (the mock sends up to 3 words a delta). */
        assert_true(d.n >= 2);
        assert_int_equal(d.len, res->content_len);
        assert_memory_equal(d.text, res->content, d.len);
        llm_result_free(res);
        llm_engine_free(e);
    }
    mocksrv_stop(s);
}

static void each_provider_retries_a_429_honouring_its_retry_hint(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct mocksrv *s = start("429,ok");
        struct llm_engine *e = engine(cases[i].provider, mocksrv_url(s), 3, SECRET, NULL);
        struct llm_result *res = run(e, cases[i].model, false, NULL);
        assert_reply(&cases[i], res);
        assert_int_equal(res->n_attempts, 2);
        assert_int_equal(res->attempts[0].http_status, 429);
        assert_int_equal(res->attempts[0].error, LLM_ERR_RATE_LIMITED);
        if (cases[i].server_hint) {
            /* Gemini's RetryInfo.retryDelay (body), Azure's retry-after-ms
             * (header): the server's wait, slept as such. */
            if (res->attempts[0].retry_after_ms != RETRY_MS)
                fail_msg("%s: retry_after_ms %lld", cases[i].provider,
                         (long long)res->attempts[0].retry_after_ms);
            assert_int_equal(res->backoff.server_wait_ms, RETRY_MS);
        } else {
            /* Bedrock and Ollama give no hint: the client's own backoff. */
            assert_int_equal(res->attempts[0].retry_after_ms, -1);
            assert_int_equal(res->backoff.server_wait_ms, 0);
        }
        llm_result_free(res);
        llm_engine_free(e);
        mocksrv_stop(s);
    }
}

static void bedrock_wrong_secret_is_an_authentication_error_not_retried(void **state)
{
    (void)state;
    struct mocksrv *s = start(NULL);
    struct llm_engine *e = engine("bedrock", mocksrv_url(s), 3,
                                  "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEZ", NULL);
    for (int stream = 0; stream < 2; stream++) {
        struct deltas d = {0};
        struct llm_result *res = run(e, cases[2].model, stream, &d);
        assert_false(res->success);
        assert_int_equal(res->error.type, LLM_ERR_AUTHENTICATION);
        assert_int_equal(res->error.http_status, 403);
        assert_false(res->error.retryable);
        assert_int_equal(res->n_attempts, 1);
        assert_non_null(strstr(res->error.message, "signature we calculated does not match"));
        char *json = llm_result_to_json(res);
        assert_null(strstr(json, "EXAMPLEKEZ"));
        llm_free(json);
        llm_result_free(res);
    }
    llm_engine_free(e);
    mocksrv_stop(s);
}

static void bedrock_session_token_is_sent_and_signed(void **state)
{
    (void)state;
    struct mocksrv *s = start(NULL);
    /* The mock's verifier refuses a request whose x-amz-security-token is
     * not among the signed headers, so success here means it was both. */
    struct llm_engine *e = engine("bedrock", mocksrv_url(s), 1, SECRET, "FwoGZXIvYXdzEXAMPLETOKEN");
    for (int stream = 0; stream < 2; stream++) {
        struct deltas d = {0};
        struct llm_result *res = run(e, cases[2].model, stream, &d);
        assert_reply(&cases[2], res);
        llm_result_free(res);
    }
    llm_engine_free(e);
    mocksrv_stop(s);
}

static void bedrock_unsigned_requests_are_refused_by_the_verifier(void **state)
{
    (void)state;
    struct mocksrv *s = start(NULL);
    struct llm_provider_options po = {0};
    po.base_url = mocksrv_url(s);
    po.api_key = "";
    po.aws_access_key_id = "";   /* explicitly none: no signature at all */
    po.aws_secret_access_key = "";
    struct llm_engine_options o = {0};
    assert_int_equal(llm_provider_new_bedrock(&po, &o.provider_instance), LLM_OK);
    o.max_attempts = 3;
    struct llm_engine *e = NULL;
    assert_int_equal(llm_engine_new(&o, &e), LLM_OK);
    struct llm_result *res = run(e, cases[2].model, false, NULL);
    assert_int_equal(res->error.type, LLM_ERR_AUTHENTICATION);
    assert_int_equal(res->n_attempts, 1);
    llm_result_free(res);
    llm_engine_free(e);
    mocksrv_stop(s);
}

static void bedrock_corrupted_event_stream_crc_is_a_parse_error(void **state)
{
    (void)state;
    struct mocksrv *s = start("malformed_json");
    struct llm_engine *e = engine("bedrock", mocksrv_url(s), 1, SECRET, NULL);
    struct deltas d = {0};
    struct llm_result *res = run(e, cases[2].model, true, &d);
    assert_false(res->success);
    assert_int_equal(res->error.type, LLM_ERR_PARSE);
    assert_non_null(strstr(res->error.message, "CRC"));
    assert_int_equal(d.n, 0); /* the corrupted frame delivered nothing */
    llm_result_free(res);
    llm_engine_free(e);
    mocksrv_stop(s);
}

static void truncated_streams_are_parse_errors_in_every_framing(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct mocksrv *s = start("truncated_sse");
        struct llm_engine *e = engine(cases[i].provider, mocksrv_url(s), 1, SECRET, NULL);
        struct deltas d = {0};
        struct llm_result *res = run(e, cases[i].model, true, &d);
        if (res->error.type != LLM_ERR_PARSE)
            fail_msg("%s: %s", cases[i].provider, llm_error_name(res->error.type));
        llm_result_free(res);
        llm_engine_free(e);
        mocksrv_stop(s);
    }
}

/* The mock's RPM window answers in each format's own 429: Gemini's wait
 * in RetryInfo (no header), Azure's in retry-after(-ms), none for Bedrock
 * and Ollama; the client reads each as the server's wait or none. */
static void each_format_answers_a_full_rate_window_with_its_own_429(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct mocksrv_options mo = {0};
        mo.aws_secret_key = SECRET;
        mo.rpm = 1;
        struct mocksrv *s = NULL;
        assert_int_equal(mocksrv_start(&mo, &s), 0);
        struct llm_engine *e = engine(cases[i].provider, mocksrv_url(s), 1, SECRET, NULL);
        struct llm_result *first = run(e, cases[i].model, false, NULL);
        assert_true(first->success);
        struct llm_result *res = run(e, cases[i].model, false, NULL);
        assert_false(res->success);
        assert_int_equal(res->error.type, LLM_ERR_RATE_LIMITED);
        assert_int_equal(res->attempts[0].http_status, 429);
        if (cases[i].server_hint)
            assert_true(res->attempts[0].retry_after_ms > 0 &&
                        res->attempts[0].retry_after_ms <= 60000);
        else
            assert_int_equal(res->attempts[0].retry_after_ms, -1);
        llm_result_free(first);
        llm_result_free(res);
        llm_engine_free(e);
        mocksrv_stop(s);
    }
}

#define CANARY_SECRET "canary-aws-secret-DO-NOT-PRINT-0123456789"
#define CANARY_TOKEN "canary-aws-session-token-DO-NOT-PRINT"
#define CANARY_KEY "canary-gemini-key-DO-NOT-PRINT-4242"

struct sink {
    char text[65536];
    size_t len;
};

static void sink_add(struct sink *k, const char *s)
{
    size_t n = strlen(s);
    if (n > sizeof(k->text) - 1 - k->len)
        n = sizeof(k->text) - 1 - k->len;
    memcpy(k->text + k->len, s, n);
    k->len += n;
    k->text[k->len] = '\0';
}

static void log_to_sink(void *user, enum llm_log_level level, const char *msg)
{
    (void)level;
    sink_add(user, msg);
}

static void line_to_sink(void *user, const char *line)
{
    sink_add(user, line);
}

/* The AWS secret and session token (given as provider options, so the
 * engine knows them as secrets) and a Gemini key never show up in results,
 * debug logs, event or metrics lines, whatever the server answers. */
static void provider_secrets_never_appear_in_results_logs_or_metrics(void **state)
{
    (void)state;
    struct mocksrv_options mo = {0};
    mo.aws_secret_key = CANARY_SECRET;
    mo.script = "429,ok,500,ok";
    mo.retry_after_ms = 10;
    struct mocksrv *s = NULL;
    assert_int_equal(mocksrv_start(&mo, &s), 0);
    static const char *const names[] = {"bedrock", "gemini"};
    for (size_t i = 0; i < 2; i++) {
        struct sink sink = {{0}, 0};
        struct llm_provider_options po = {0};
        po.base_url = mocksrv_url(s);
        po.api_key = i == 0 ? "" : CANARY_KEY;
        po.aws_access_key_id = AKID;
        po.aws_secret_access_key = CANARY_SECRET;
        po.aws_session_token = CANARY_TOKEN;
        struct llm_engine_options o = {0};
        o.provider = names[i];
        o.provider_options = &po;
        o.max_attempts = 3;
        o.base_backoff_ms = 1;
        o.max_backoff_ms = 2;
        o.log = log_to_sink;
        o.log_user = &sink;
        o.log_level = LLM_LOG_DEBUG;
        o.events_cb = line_to_sink;
        o.events_user = &sink;
        o.metrics_cb = line_to_sink;
        o.metrics_user = &sink;
        o.keep_raw_response = true;
        struct llm_engine *e = NULL;
        assert_int_equal(llm_engine_new(&o, &e), LLM_OK);
        for (int stream = 0; stream < 2; stream++) {
            struct deltas d = {0};
            struct llm_result *res = run(e, i == 0 ? cases[2].model : cases[0].model, stream, &d);
            if (!res->success)
                fail_msg("%s: %s", names[i], res->error.message ? res->error.message : "");
            char *json = llm_result_to_json(res);
            sink_add(&sink, json);
            llm_free(json);
            llm_result_free(res);
        }
        llm_engine_free(e); /* flushes the last metrics line */
        assert_true(sink.len > 0);
        assert_null(strstr(sink.text, CANARY_SECRET));
        assert_null(strstr(sink.text, CANARY_TOKEN));
        assert_null(strstr(sink.text, CANARY_KEY));
    }
    mocksrv_stop(s);
}

/* What the last Bedrock request carried, seen by the mock (capture hook). */
struct seen {
    pthread_mutex_t mu;
    char headers[4096];
};

static void capture_headers(void *user, const struct mocksrv_capture *c)
{
    struct seen *k = user;
    pthread_mutex_lock(&k->mu);
    snprintf(k->headers, sizeof(k->headers), "%s", c->headers);
    pthread_mutex_unlock(&k->mu);
}

/* The engine's default headers and the request's own come after
 * build_request: Bedrock signs the final header set, so a replaced
 * Content-Type and an added header are signed (the mock's verifier accepts
 * the request and SignedHeaders names them), while a header the signature
 * sets itself cannot be replaced (INVALID_REQUEST naming it, nothing sent). */
static void bedrock_signs_extra_headers_and_refuses_replacing_its_own(void **state)
{
    (void)state;
    struct seen k = {.mu = PTHREAD_MUTEX_INITIALIZER};
    struct mocksrv_options mo = {0};
    mo.aws_secret_key = SECRET;
    mo.capture = capture_headers;
    mo.capture_user = &k;
    struct mocksrv *s = NULL;
    assert_int_equal(mocksrv_start(&mo, &s), 0);

    struct llm_provider_options po = {0};
    po.base_url = mocksrv_url(s);
    po.api_key = "";
    po.region = "us-east-1";
    po.aws_access_key_id = AKID;
    po.aws_secret_access_key = SECRET;
    po.aws_session_token = "FwoGZXIvYXdzEXAMPLETOKEN";
    struct llm_engine_options o = {0};
    assert_int_equal(llm_provider_new_bedrock(&po, &o.provider_instance), LLM_OK);
    static const char *const defaults[] = {"Content-Type: application/json; charset=utf-8"};
    o.headers = defaults;
    o.n_headers = 1;
    o.max_attempts = 1;
    struct llm_engine *e = NULL;
    assert_int_equal(llm_engine_new(&o, &e), LLM_OK);

    struct llm_message m = {.role = "user", .content = "hi"};
    struct llm_request req = {0};
    req.model = cases[2].model;
    req.messages = &m;
    req.n_messages = 1;
    static const char *const extra[] = {"X-Extra-Header: one  two"};
    req.headers = extra;
    req.n_headers = 1;
    for (int stream = 0; stream < 2; stream++) {
        struct deltas d = {0};
        req.stream = stream;
        req.on_delta = stream ? on_delta : NULL;
        req.delta_user = stream ? &d : NULL;
        struct llm_result *res = llm_generate(e, &req);
        assert_non_null(res);
        if (!res->success)
            fail_msg("stream=%d: %s", stream, res->error.message);
        pthread_mutex_lock(&k.mu);
        assert_non_null(strstr(k.headers, "application/json; charset=utf-8"));
        assert_non_null(strstr(k.headers, "SignedHeaders=content-type;host;x-amz-content-sha256;"
                                          "x-amz-date;x-amz-security-token;x-extra-header,"));
        pthread_mutex_unlock(&k.mu);
        llm_result_free(res);
    }

    static const char *const own[][2] = {
        {"X-Amz-Date: 20150830T123600Z", "X-Amz-Date"},
        {"host: example.com", "Host"},
        {"authorization: AWS4-HMAC-SHA256 made-up", "Authorization"},
        {"X-Amz-Security-Token: other", "X-Amz-Security-Token"},
        {"x-amz-content-sha256: UNSIGNED-PAYLOAD", "X-Amz-Content-Sha256"},
    };
    /* The mock counts a request when libmicrohttpd reports it complete, on
     * its own thread after the reply went out: wait for both to be counted
     * (no timed assertion: a count that never comes fails at ctest's
     * timeout). */
    struct mocksrv_counters before;
    for (mocksrv_stats(s, &before); before.requests < 2; mocksrv_stats(s, &before))
        usleep(1000);
    assert_int_equal(before.requests, 2);
    for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++) {
        const char *line = own[i][0];
        req.headers = &line;
        req.stream = false;
        req.on_delta = NULL;
        req.delta_user = NULL;
        struct llm_result *res = llm_generate(e, &req);
        assert_non_null(res);
        assert_false(res->success);
        assert_int_equal(res->error.type, LLM_ERR_INVALID_REQUEST);
        assert_non_null(strstr(res->error.message, own[i][1]));
        assert_non_null(strstr(res->error.message, "SigV4"));
        llm_result_free(res);
    }
    /* Then one more signed request: once it is counted, any refused one
     * that had been sent before it would be counted too. */
    req.headers = extra;
    struct llm_result *last = llm_generate(e, &req);
    assert_non_null(last);
    assert_true(last->success);
    llm_result_free(last);
    struct mocksrv_counters after;
    for (mocksrv_stats(s, &after); after.requests < 3; mocksrv_stats(s, &after))
        usleep(1000);
    assert_int_equal(after.requests, 3);
    llm_engine_free(e);
    mocksrv_stop(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(each_provider_answers_plain_requests_with_usage_and_cost),
        cmocka_unit_test(each_provider_streams_in_its_own_framing_with_usage_and_cost),
        cmocka_unit_test(each_provider_retries_a_429_honouring_its_retry_hint),
        cmocka_unit_test(bedrock_wrong_secret_is_an_authentication_error_not_retried),
        cmocka_unit_test(bedrock_session_token_is_sent_and_signed),
        cmocka_unit_test(bedrock_unsigned_requests_are_refused_by_the_verifier),
        cmocka_unit_test(bedrock_signs_extra_headers_and_refuses_replacing_its_own),
        cmocka_unit_test(bedrock_corrupted_event_stream_crc_is_a_parse_error),
        cmocka_unit_test(truncated_streams_are_parse_errors_in_every_framing),
        cmocka_unit_test(each_format_answers_a_full_rate_window_with_its_own_429),
        cmocka_unit_test(provider_secrets_never_appear_in_results_logs_or_metrics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
