/* Integration tests: the engine through real libcurl against the project's
 * mock HTTP server on 127.0.0.1 (ephemeral port, started in-process). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "llmorch/llmorch.h"
#include "mock_server.h"

/* A key that must never show up anywhere. */
#define CANARY_KEY "sk-canary-DO-NOT-PRINT-0123456789"

static struct mocksrv *start_server(const struct mocksrv_options *o)
{
    struct mocksrv_options def = {0};
    struct mocksrv *s = NULL;
    assert_int_equal(mocksrv_start(o ? o : &def, &s), 0);
    assert_non_null(s);
    return s;
}

static struct llm_engine *engine_for(const char *provider, const char *url, int max_attempts,
                                     size_t max_body)
{
    struct llm_engine_options o = {0};
    o.provider = provider;
    o.base_url = url;
    o.api_key = CANARY_KEY;
    o.max_attempts = max_attempts;
    o.base_backoff_ms = 1;
    o.max_backoff_ms = 5;
    o.max_in_flight = 200;
    o.max_response_bytes = max_body;
    struct llm_engine *e = NULL;
    char err[256];
    if (llm_engine_new_ex(&o, &e, err, sizeof(err)) != LLM_OK)
        fail_msg("engine: %s", err);
    return e;
}

static struct llm_request req_for(struct llm_message *m, const char *model, const char *prompt)
{
    *m = (struct llm_message){0}; /* the struct grows at its end (ABI rule) */
    m->role = "user";
    m->content = prompt;
    struct llm_request r = {0};
    r.model = model;
    r.messages = m;
    r.n_messages = 1;
    r.max_tokens = 256;
    return r;
}

static void assert_no_key(const struct llm_result *res)
{
    char *json = llm_result_to_json(res);
    assert_non_null(json);
    assert_null(strstr(json, CANARY_KEY));
    llm_free(json);
}

static void plain_request(const char *provider, const char *model)
{
    struct mocksrv *s = start_server(NULL);
    struct llm_engine *e = engine_for(provider, mocksrv_url(s), 1, 0);
    struct llm_message m;
    struct llm_request req = req_for(&m, model, "hello over http");
    req.system = "be brief";
    struct llm_result *res = llm_generate(e, &req);
    if (!res->success)
        fail_msg("%s: %s", llm_error_name(res->error.type), res->error.message);
    assert_string_equal(res->content, "mock reply to: hello over http");
    assert_int_equal(res->error.http_status, 200);
    assert_true(res->usage.known);
    assert_true(res->usage.input_tokens > 0);
    assert_true(res->usage.output_tokens > 0);
    assert_non_null(res->request_id);
    assert_non_null(strstr(res->request_id, "req_mock_"));
    assert_true(res->timestamps[LLM_TS_CONNECTED] != 0);
    assert_true(res->timestamps[LLM_TS_FIRST_BYTE] != 0);
    assert_true(res->attempts[0].bytes_received > 0);
    assert_no_key(res);
    llm_result_free(res);
    llm_engine_free(e);
    mocksrv_stop(s);
}

static void openai_plain_request_succeeds_over_http(void **state)
{
    (void)state;
    plain_request("openai", "gpt-4o-mini");
}

static void anthropic_plain_request_succeeds_over_http(void **state)
{
    (void)state;
    plain_request("anthropic", "claude-3-5-haiku-20241022");
}

struct delta_acc {
    char buf[8192];
    size_t len;
    int calls;
};

static void on_delta(void *user, const char *text, size_t len)
{
    struct delta_acc *a = user;
    if (a->len + len < sizeof(a->buf)) {
        memcpy(a->buf + a->len, text, len);
        a->len += len;
    }
    a->calls++;
}

static void streamed_request(const char *provider, const char *model)
{
    struct mocksrv_options so = {0};
    so.inter_token_ms = 1;
    struct mocksrv *s = start_server(&so);
    struct llm_engine *e = engine_for(provider, mocksrv_url(s), 1, 0);
    struct llm_message m;
    struct llm_request req = req_for(&m, model,
                                     "stream this reply back to me in many small pieces please");
    struct delta_acc acc = {{0}, 0, 0};
    req.stream = true;
    req.on_delta = on_delta;
    req.delta_user = &acc;
    struct llm_result *res = llm_generate(e, &req);
    if (!res->success)
        fail_msg("%s: %s", llm_error_name(res->error.type), res->error.message);
    assert_string_equal(res->content,
                        "mock reply to: stream this reply back to me in many small pieces please");
    assert_true(acc.calls > 2);
    assert_int_equal(acc.len, res->content_len);
    assert_memory_equal(acc.buf, res->content, acc.len);
    assert_true(res->usage.known);
    assert_true(res->usage.output_tokens > 0);
    assert_non_null(res->finish_reason);
    assert_true(res->timestamps[LLM_TS_FIRST_TOKEN] != 0);
    assert_true(res->timestamps[LLM_TS_LAST_TOKEN] >= res->timestamps[LLM_TS_FIRST_TOKEN]);
    llm_result_free(res);
    llm_engine_free(e);
    mocksrv_stop(s);
}

static void openai_stream_is_reassembled_exactly(void **state)
{
    (void)state;
    streamed_request("openai", "gpt-4o-mini");
}

static void anthropic_stream_is_reassembled_exactly(void **state)
{
    (void)state;
    streamed_request("anthropic", "claude-3-5-haiku-20241022");
}

/* ---- 1,000 concurrent async requests ---------------------------------------- */

#define N 1000

struct counts {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
    int ok;
    atomic_int calls[N];
    enum llm_error err[N];
};

struct slot {
    struct counts *c;
    int i;
};

static void on_done(void *user, struct llm_result *res)
{
    struct slot *s = user;
    atomic_fetch_add(&s->c->calls[s->i], 1);
    s->c->err[s->i] = res->error.type;
    pthread_mutex_lock(&s->c->mu);
    s->c->done++;
    if (res->success)
        s->c->ok++;
    pthread_cond_broadcast(&s->c->cv);
    pthread_mutex_unlock(&s->c->mu);
    llm_result_free(res);
}

static struct counts *counts_new(void)
{
    struct counts *c = calloc(1, sizeof(*c));
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    return c;
}

static void counts_free(struct counts *c)
{
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    free(c);
}

static void thousand_concurrent_async_requests_over_http_each_complete_once(void **state)
{
    (void)state;
    struct mocksrv_options so = {0};
    so.latency_ms = 20;
    struct mocksrv *s = start_server(&so);
    struct llm_engine *e = engine_for("openai", mocksrv_url(s), 1, 0);
    struct counts *c = counts_new();
    static struct slot slots[N];
    for (int i = 0; i < N; i++) {
        slots[i] = (struct slot){c, i};
        struct llm_message m;
        struct llm_request req = req_for(&m, "gpt-4o-mini", "concurrent");
        req.stream = (i % 2) == 1;
        assert_int_equal(llm_generate_async(e, &req, on_done, &slots[i]), LLM_OK);
    }
    pthread_mutex_lock(&c->mu);
    while (c->done < N)
        pthread_cond_wait(&c->cv, &c->mu);
    pthread_mutex_unlock(&c->mu);
    for (int i = 0; i < N; i++) {
        assert_int_equal(atomic_load(&c->calls[i]), 1);
        if (c->err[i] != LLM_OK)
            fail_msg("request %d: %s", i, llm_error_name(c->err[i]));
    }
    assert_int_equal(c->ok, N);
    llm_engine_free(e);
    counts_free(c);
    mocksrv_stop(s);
}

/* Silence deadlines of many transfers at once (one ordered list and one
 * timer serve them, see src/transport/http_silence.c): in two waves,
 * stalled requests interleaved with ones answered at once (so deadlines
 * leave the list from its head, middle and tail), plain and streamed (a
 * stream's idle limit, shorter than the first-byte one, moves its deadline
 * earlier at the first byte): every stalled one times out, every other
 * one succeeds, each completes once. */
static void many_silence_deadlines_each_fire_for_their_own_transfer(void **state)
{
    (void)state;
    struct mocksrv *s = start_server(NULL);
    struct llm_engine_options o = {.provider = "openai", .base_url = mocksrv_url(s),
                                   .api_key = "", .max_attempts = 1,
                                   .first_byte_timeout_ms = 300, .stream_idle_timeout_ms = 150};
    struct llm_engine *e = NULL;
    assert_int_equal(llm_engine_new(&o, &e), LLM_OK);
    static const char *const stall[] = {"x-mock-fault: stall"};
    enum { WAVE = 16 };
    for (int wave = 0; wave < 2; wave++) {
        struct counts *c = counts_new();
        static struct slot slots[WAVE];
        for (int i = 0; i < WAVE; i++) {
            slots[i] = (struct slot){c, i};
            struct llm_message m;
            struct llm_request req = req_for(&m, "gpt-4o-mini", "silence");
            req.stream = (i / 2) % 2 == 1;
            if (i % 2 == wave % 2) {
                req.headers = stall;
                req.n_headers = 1;
            }
            assert_int_equal(llm_generate_async(e, &req, on_done, &slots[i]), LLM_OK);
        }
        pthread_mutex_lock(&c->mu);
        while (c->done < WAVE)
            pthread_cond_wait(&c->cv, &c->mu);
        pthread_mutex_unlock(&c->mu);
        for (int i = 0; i < WAVE; i++) {
            assert_int_equal(atomic_load(&c->calls[i]), 1);
            enum llm_error want = i % 2 == wave % 2 ? LLM_ERR_TIMEOUT : LLM_OK;
            if (c->err[i] != want)
                fail_msg("wave %d request %d: %s, expected %s", wave, i,
                         llm_error_name(c->err[i]), llm_error_name(want));
        }
        assert_int_equal(c->ok, WAVE / 2);
        counts_free(c);
    }
    llm_engine_free(e);
    mocksrv_stop(s);
}

static void shutdown_with_requests_in_flight_cancels_each_once(void **state)
{
    (void)state;
    struct mocksrv_options so = {0};
    so.latency_ms = 30000;
    struct mocksrv *s = start_server(&so);
    struct llm_engine *e = engine_for("openai", mocksrv_url(s), 1, 0);
    struct counts *c = counts_new();
    static struct slot slots[100];
    for (int i = 0; i < 100; i++) {
        slots[i] = (struct slot){c, i};
        struct llm_message m;
        struct llm_request req = req_for(&m, "gpt-4o-mini", "hang");
        req.stream = (i % 2) == 1;
        assert_int_equal(llm_generate_async(e, &req, on_done, &slots[i]), LLM_OK);
    }
    llm_engine_free(e);
    assert_int_equal(c->done, 100);
    for (int i = 0; i < 100; i++) {
        assert_int_equal(atomic_load(&c->calls[i]), 1);
        assert_int_equal(c->err[i], LLM_ERR_CANCELLED);
    }
    counts_free(c);
    mocksrv_stop(s);
}

/* ---- errors over the wire -------------------------------------------------- */

static struct llm_result *one_with_script(const char *provider, const char *script, bool stream,
                                          int max_attempts, size_t max_body, const char *prompt)
{
    struct mocksrv_options so = {0};
    so.script = script;
    so.retry_after_ms = 10;
    so.stall_ms = 5000;
    struct mocksrv *s = start_server(&so);
    struct llm_engine_options o = {0};
    o.provider = provider;
    o.base_url = mocksrv_url(s);
    o.api_key = CANARY_KEY;
    o.max_attempts = max_attempts;
    o.base_backoff_ms = 1;
    o.max_backoff_ms = 5;
    o.max_response_bytes = max_body;
    /* Only the stall needs a short attempt timeout (the server is silent
     * for 5 s).  Every other script ends on its own; 300 ms for them would
     * turn a scheduling pause on a loaded machine into a TIMEOUT that the
     * test does not expect. */
    if (script != NULL && strcmp(script, "stall") == 0)
        o.attempt_timeout_ms = 300;
    struct llm_engine *e = NULL;
    assert_int_equal(llm_engine_new(&o, &e), LLM_OK);
    struct llm_message m;
    struct llm_request req = req_for(&m, provider[0] == 'a' ? "claude-3-5-haiku" : "gpt-4o-mini",
                                     prompt ? prompt : "fault");
    req.stream = stream;
    if (prompt && strncmp(prompt, "ECHO_LEN:", 9) == 0)
        req.max_tokens = 0; /* let the server send the whole body */
    struct llm_result *res = llm_generate(e, &req);
    llm_engine_free(e);
    mocksrv_stop(s);
    assert_no_key(res);
    return res;
}

static void malformed_json_body_fails_with_parse_and_an_excerpt(void **state)
{
    (void)state;
    struct llm_result *res = one_with_script("openai", "malformed_json", false, 1, 0, NULL);
    assert_int_equal(res->error.type, LLM_ERR_PARSE);
    assert_non_null(res->error.message);
    assert_true(strlen(res->error.message) < 400);
    llm_result_free(res);
}

static void truncated_stream_fails_with_parse(void **state)
{
    (void)state;
    struct llm_result *res = one_with_script("openai", "truncated_sse", true, 1, 0, NULL);
    assert_int_equal(res->error.type, LLM_ERR_PARSE);
    assert_non_null(strstr(res->error.message, "truncated"));
    llm_result_free(res);
    res = one_with_script("anthropic", "truncated_sse", true, 1, 0, NULL);
    assert_int_equal(res->error.type, LLM_ERR_PARSE);
    llm_result_free(res);
}

static void body_over_the_cap_fails_clearly(void **state)
{
    (void)state;
    struct llm_result *res = one_with_script("openai", NULL, false, 1, 4096, "ECHO_LEN:100000");
    assert_int_equal(res->error.type, LLM_ERR_RESPONSE_TOO_LARGE);
    assert_non_null(strstr(res->error.message, "4096"));
    llm_result_free(res);
}

/* Issue 10 #1: max_response_bytes bounded only non-streamed bodies; a
 * stream of small valid deltas grew the content without end.  Now what a
 * streamed reply keeps is bounded too (the mock sends ECHO_LEN text in
 * deltas of at most 64 bytes; Anthropic's reply is cut at the default
 * max_tokens, 4096 bytes). */
static void streamed_reply_over_the_cap_fails_with_response_too_large(void **state)
{
    (void)state;
    const char *providers[] = {"openai", "anthropic"};
    for (int i = 0; i < 2; i++) {
        struct llm_result *res =
            one_with_script(providers[i], NULL, true, 1, 2048, "ECHO_LEN:100000");
        assert_false(res->success);
        assert_int_equal(res->error.type, LLM_ERR_RESPONSE_TOO_LARGE);
        assert_non_null(strstr(res->error.message, "2048"));
        assert_true(res->content_len <= 2048);
        llm_result_free(res);
    }
}

/* ... but the raw stream is not what is capped: its framing (event names,
 * JSON around each delta) is many times the text, and a reply whose text
 * fits succeeds although far more bytes than the cap came over the wire. */
static void streamed_reply_under_the_cap_succeeds_although_its_framing_is_larger(void **state)
{
    (void)state;
    const char *providers[] = {"openai", "anthropic"};
    for (int i = 0; i < 2; i++) {
        struct llm_result *res =
            one_with_script(providers[i], NULL, true, 1, 4096, "ECHO_LEN:4000");
        assert_true(res->success);
        assert_int_equal(res->content_len, 4000);
        assert_int_equal(res->n_attempts, 1);
        assert_true(res->attempts[0].bytes_received > 3 * 4096);
        llm_result_free(res);
    }
}

static void connection_reset_mid_body_fails_with_connection(void **state)
{
    (void)state;
    struct llm_result *res = one_with_script("openai", "reset", false, 1, 0, NULL);
    assert_int_equal(res->error.type, LLM_ERR_CONNECTION);
    llm_result_free(res);
}

static void stalled_server_fails_with_timeout(void **state)
{
    (void)state;
    struct llm_result *res = one_with_script("openai", "stall", false, 1, 0, NULL);
    assert_int_equal(res->error.type, LLM_ERR_TIMEOUT);
    assert_true(res->error.retryable);
    llm_result_free(res);
}

static void quota_and_region_errors_fail_at_once(void **state)
{
    (void)state;
    struct llm_result *res = one_with_script("openai", "insufficient_quota", false, 5, 0, NULL);
    assert_int_equal(res->error.type, LLM_ERR_INSUFFICIENT_QUOTA);
    assert_int_equal(res->n_attempts, 1);
    assert_int_equal(res->error.http_status, 429);
    llm_result_free(res);
    res = one_with_script("openai", "region", false, 5, 0, NULL);
    assert_int_equal(res->error.type, LLM_ERR_UNSUPPORTED_REGION);
    assert_int_equal(res->n_attempts, 1);
    llm_result_free(res);
    res = one_with_script("anthropic", "region", false, 5, 0, NULL);
    assert_int_equal(res->error.type, LLM_ERR_UNSUPPORTED_REGION);
    assert_int_equal(res->n_attempts, 1);
    llm_result_free(res);
    res = one_with_script("anthropic", "insufficient_quota", false, 5, 0, NULL);
    assert_int_equal(res->error.type, LLM_ERR_INSUFFICIENT_QUOTA);
    assert_int_equal(res->n_attempts, 1);
    llm_result_free(res);
}

static void rate_limit_then_success_records_the_server_wait(void **state)
{
    (void)state;
    struct llm_result *res = one_with_script("openai", "429,503,ok", false, 5, 0, NULL);
    if (!res->success)
        fail_msg("%s: %s", llm_error_name(res->error.type), res->error.message);
    assert_int_equal(res->n_attempts, 3);
    assert_int_equal(res->attempts[0].http_status, 429);
    assert_int_equal(res->attempts[0].error, LLM_ERR_RATE_LIMITED);
    assert_true(res->attempts[0].retry_after_ms >= 0);
    assert_int_equal(res->attempts[1].error, LLM_ERR_OVERLOADED);
    assert_true(res->backoff.server_wait_ms > 0);
    llm_result_free(res);
    res = one_with_script("anthropic", "529,ok", false, 5, 0, NULL);
    assert_true(res->success);
    assert_int_equal(res->attempts[0].error, LLM_ERR_OVERLOADED);
    llm_result_free(res);
}

/* A loopback port bound by *fd but never listened on: a connection there is
 * refused.  The socket stays bound until the caller closes it, so that no
 * other process (tests of other builds run alongside) can start a server on
 * the port meanwhile, and the kernel cannot hand it out as the client's own
 * source port. */
static int refusing_port(int *fd)
{
    *fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(*fd >= 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(*fd, (struct sockaddr *)&a, sizeof(a)), 0);
    socklen_t len = sizeof(a);
    assert_int_equal(getsockname(*fd, (struct sockaddr *)&a, &len), 0);
    return ntohs(a.sin_port);
}

static void connection_refused_fails_with_connection(void **state)
{
    (void)state;
    char url[64];
    int fd;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", refusing_port(&fd));
    struct llm_engine *e = engine_for("openai", url, 2, 0);
    struct llm_message m;
    struct llm_request req = req_for(&m, "gpt-4o-mini", "anyone there?");
    struct llm_result *res = llm_generate(e, &req);
    assert_int_equal(res->error.type, LLM_ERR_CONNECTION);
    assert_true(res->error.retryable);
    assert_int_equal(res->n_attempts, 2);
    assert_int_equal(res->error.http_status, 0);
    assert_no_key(res);
    llm_result_free(res);
    llm_engine_free(e);
    close(fd);
}

/* Completion tally for a burst of llm_generate_async requests. */
struct burst {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done, ok;
};

static void burst_done(void *user, struct llm_result *res)
{
    struct burst *b = user;
    pthread_mutex_lock(&b->mu);
    b->done++;
    b->ok += res->success ? 1 : 0;
    pthread_cond_signal(&b->cv);
    pthread_mutex_unlock(&b->mu);
    llm_result_free(res);
}

static int run_burst(struct llm_engine *e, const struct llm_request *req, int n)
{
    struct burst b = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    for (int i = 0; i < n; i++)
        assert_int_equal(llm_generate_async(e, req, burst_done, &b), LLM_OK);
    pthread_mutex_lock(&b.mu);
    while (b.done < n)
        pthread_cond_wait(&b.cv, &b.mu);
    pthread_mutex_unlock(&b.mu);
    return b.ok;
}

/* The server's counters once it has counted `n` finished requests.  It
 * counts a request when libmicrohttpd reports it complete, which happens on
 * the server's thread after the reply went out: the client may already have
 * its result (under load it often does).  So wait for the count instead of
 * reading it at once; a request never counted hangs the test until ctest's
 * timeout, a failure all the same. */
static void stats_after(struct mocksrv *s, uint64_t n, struct mocksrv_counters *c)
{
    for (mocksrv_stats(s, c); c->requests < n; mocksrv_stats(s, c))
        usleep(1000);
}

/* The transport spreads transfers over several curl multi handles (256
 * plain HTTP/1.1 transfers each): 600 at once need three, and a second
 * burst must find the first one's idle connections in whichever handle
 * owns them (without reuse the server would see 1,200 connections). */
static void bursts_beyond_one_multi_handle_complete_and_reuse_their_connections(void **state)
{
    (void)state;
    enum { BURST = 600 };
    struct mocksrv_options so = {0};
    so.latency_ms = 500; /* the whole burst is in flight at once */
    struct mocksrv *s = start_server(&so);
    struct llm_engine_options o = {0};
    o.provider = "openai";
    o.base_url = mocksrv_url(s);
    o.api_key = CANARY_KEY;
    o.max_attempts = 1;
    o.max_in_flight = BURST;
    o.max_queue = BURST;
    o.no_adaptive_limits = true;
    struct llm_engine *e = NULL;
    assert_int_equal(llm_engine_new(&o, &e), LLM_OK);
    struct llm_message m;
    struct llm_request req = req_for(&m, "gpt-4o-mini", "burst");

    assert_int_equal(run_burst(e, &req, BURST), BURST);
    struct mocksrv_counters c;
    mocksrv_stats(s, &c);
    assert_true(c.connections_peak > 256); /* more than one handle's share ran at once */
    assert_int_equal(run_burst(e, &req, BURST), BURST);
    stats_after(s, 2 * BURST, &c);
    assert_true(c.connections_peak <= BURST);
    assert_int_equal(c.requests, 2 * BURST);
    llm_engine_free(e);
    mocksrv_stop(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(openai_plain_request_succeeds_over_http),
        cmocka_unit_test(anthropic_plain_request_succeeds_over_http),
        cmocka_unit_test(openai_stream_is_reassembled_exactly),
        cmocka_unit_test(anthropic_stream_is_reassembled_exactly),
        cmocka_unit_test(thousand_concurrent_async_requests_over_http_each_complete_once),
        cmocka_unit_test(many_silence_deadlines_each_fire_for_their_own_transfer),
        cmocka_unit_test(shutdown_with_requests_in_flight_cancels_each_once),
        cmocka_unit_test(malformed_json_body_fails_with_parse_and_an_excerpt),
        cmocka_unit_test(truncated_stream_fails_with_parse),
        cmocka_unit_test(body_over_the_cap_fails_clearly),
        cmocka_unit_test(streamed_reply_over_the_cap_fails_with_response_too_large),
        cmocka_unit_test(streamed_reply_under_the_cap_succeeds_although_its_framing_is_larger),
        cmocka_unit_test(connection_reset_mid_body_fails_with_connection),
        cmocka_unit_test(stalled_server_fails_with_timeout),
        cmocka_unit_test(quota_and_region_errors_fail_at_once),
        cmocka_unit_test(rate_limit_then_success_records_the_server_wait),
        cmocka_unit_test(connection_refused_fails_with_connection),
        cmocka_unit_test(bursts_beyond_one_multi_handle_complete_and_reuse_their_connections),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
