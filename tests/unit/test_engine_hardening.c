/* Engine hardening (issue 10): extreme but legal inputs, misuse from
 * callbacks, and hostile servers (a raw socket server on 127.0.0.1 that
 * answers with whatever bytes a test chooses).  No timed assertions: every
 * wait is for an event, and time-based options are only set small so that
 * the event comes soon. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine_helpers.h"
#include "llmorch/ext/provider.h"
#include "llmorch/llmorch.h"
#include "raw_server.h"

static const char OK_BODY[] =
    "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"created\":1,\"model\":\"gpt-4o-mini\","
    "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"hi\"},"
    "\"finish_reason\":\"stop\"}],"
    "\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":1,\"total_tokens\":2}}";

static struct llm_request simple_request(struct llm_message *m, const char *prompt)
{
    *m = (struct llm_message){0};
    m->role = "user";
    m->content = prompt;
    struct llm_request r = {0};
    r.model = "gpt-4o-mini";
    r.messages = m;
    r.n_messages = 1;
    return r;
}

/* A 200 reply with `extra_headers` (each line ending in \r\n) and `body`. */
static void reply_200(int fd, const char *extra_headers, const char *body)
{
    char head[1024];
    snprintf(head, sizeof(head),
             "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n%s"
             "Connection: close\r\n\r\n",
             strlen(body), extra_headers ? extra_headers : "");
    raw_write_str(fd, head);
    raw_write_str(fd, body);
}

/* ---- #9: extreme options -------------------------------------------------- */

static void non_finite_or_absurd_rates_are_refused_by_engine_new(void **state)
{
    (void)state;
    const double bad[] = {NAN, INFINITY, -INFINITY, 1e300, 1e13};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        for (int which = 0; which < 2; which++) {
            struct llm_engine_options o = {0};
            if (which)
                o.tpm = bad[i];
            else
                o.rpm = bad[i];
            struct llm_engine *e = NULL;
            char err[256] = "";
            assert_int_equal(llm_engine_new_ex(&o, &e, err, sizeof(err)),
                             LLM_ERR_INVALID_ARGUMENT);
            assert_null(e);
            assert_non_null(strstr(err, which ? "tpm" : "rpm"));
        }
    }
    struct llm_engine_options o = {.window_ms = INT64_MAX, .rpm = 10};
    struct llm_engine *e = NULL;
    assert_int_equal(llm_engine_new(&o, &e), LLM_ERR_INVALID_ARGUMENT);
    /* The largest accepted rate still works. */
    o = (struct llm_engine_options){.rpm = 1e12, .tpm = 1e12};
    assert_int_equal(llm_engine_new(&o, &e), LLM_OK);
    llm_engine_free(e);
}

/* A bad pricing file fails llm_engine_new_ex with the loader's own code and
 * message (naming the entry and field, or the path), not as a failure to
 * start the event loop. */
static void a_bad_pricing_file_fails_engine_new_with_the_loaders_code_and_message(void **state)
{
    (void)state;
    char path[] = "/tmp/llmorch-pricing-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    static const char doc[] =
        "{\"gpt-x\": {\"input_cost_per_token\": 1e305, \"output_cost_per_token\": 1e-06}}";
    assert_int_equal(write(fd, doc, sizeof(doc) - 1), (ssize_t)(sizeof(doc) - 1));
    close(fd);

    /* What the loader itself says about this document. */
    struct llm_pricing *p = NULL;
    char want[256] = "";
    assert_int_equal(llm_pricing_new_empty(&p), LLM_OK);
    enum llm_error want_rc = llm_pricing_load_litellm_file(p, path, want, sizeof(want));
    llm_pricing_free(p);
    assert_int_not_equal(want_rc, LLM_OK);
    assert_non_null(strstr(want, "entry 'gpt-x': input_cost_per_token is absurd"));

    struct llm_engine_options o = {.pricing_file = path};
    struct llm_engine *e = NULL;
    char err[512] = "";
    assert_int_equal(llm_engine_new_ex(&o, &e, err, sizeof(err)), want_rc);
    assert_null(e);
    assert_string_equal(err, want);
    unlink(path);

    /* A file that is not there: the loader's NOT_FOUND, naming the path. */
    assert_int_equal(llm_engine_new_ex(&o, &e, err, sizeof(err)), LLM_ERR_NOT_FOUND);
    assert_null(e);
    assert_non_null(strstr(err, path));
}

static void a_deadline_of_int64_max_means_no_deadline(void **state)
{
    (void)state;
    struct llm_engine *e = NULL;
    assert_int_equal(llm_engine_new(NULL, &e), LLM_OK);
    struct llm_message m;
    struct llm_request req = simple_request(&m, "far future");
    req.deadline_ms = INT64_MAX;
    struct llm_result *res = llm_generate(e, &req);
    assert_non_null(res);
    assert_int_equal(res->error.type, LLM_OK);
    assert_true(res->success);
    llm_result_free(res);
    req.deadline_ms = (int64_t)9.3e15;
    res = llm_generate(e, &req);
    assert_int_equal(res->error.type, LLM_OK);
    llm_result_free(res);
    llm_engine_free(e);

    struct llm_engine_options o = {.default_deadline_ms = INT64_MAX};
    assert_int_equal(llm_engine_new(&o, &e), LLM_OK);
    req.deadline_ms = 0;
    res = llm_generate(e, &req);
    assert_int_equal(res->error.type, LLM_OK);
    llm_result_free(res);
    llm_engine_free(e);
}

/* Usage counts near INT64_MAX (a proxy's nonsense) reconcile the TPM gate
 * without overflowing (UBSan aborts the sanitizer build on the old code). */
static void huge_usage_handler(struct raw_server *s, int fd, const char *req, size_t len)
{
    (void)s, (void)req, (void)len;
    /* Anthropic's prompt is the sum of three parts: the provider saturates
     * it at INT64_MAX, and output comes on top. */
    reply_200(fd, NULL,
              "{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\","
              "\"model\":\"claude-3-5-haiku-latest\",\"content\":[{\"type\":\"text\",\"text\":\"hi\"}],"
              "\"stop_reason\":\"end_turn\",\"usage\":{\"input_tokens\":9000000000000000000,"
              "\"cache_read_input_tokens\":9000000000000000000,"
              "\"cache_creation_input_tokens\":9000000000000000000,"
              "\"output_tokens\":9000000000000000000}}");
}

static void huge_usage_counts_reconcile_the_tpm_gate_without_overflow(void **state)
{
    (void)state;
    struct raw_server s;
    raw_server_start(&s, huge_usage_handler, NULL);
    struct llm_engine_options o = {.provider = "anthropic", .base_url = s.url, .api_key = "",
                                   .tpm = 1e9, .rpm = 1e6, .max_attempts = 1};
    struct llm_engine *e = NULL;
    assert_int_equal(llm_engine_new(&o, &e), LLM_OK);
    struct llm_message m;
    struct llm_request req = simple_request(&m, "count me");
    req.model = "claude-3-5-haiku-latest";
    req.max_tokens = 16;
    /* One request: the gate then counts ~INT64_MAX tokens, so a second one
     * would rightly wait for the window to pass. */
    struct llm_result *res = llm_generate(e, &req);
    assert_int_equal(res->error.type, LLM_OK);
    assert_int_equal(res->usage.input_tokens, INT64_MAX);
    assert_true(res->usage.output_tokens > 0);
    llm_result_free(res);
    llm_engine_free(e);
    raw_server_stop(&s);
}

/* ---- #3: absurd server limits -------------------------------------------- */

static void unlimited_limits_handler(struct raw_server *s, int fd, const char *req, size_t len)
{
    (void)s, (void)req, (void)len;
    reply_200(fd,
              "x-ratelimit-limit-requests: 9223372036854775807\r\n"
              "x-ratelimit-remaining-requests: 9223372036854775806\r\n"
              "x-ratelimit-limit-tokens: 9300000000000000\r\n"
              "x-ratelimit-remaining-tokens: 9299999999999000\r\n",
              OK_BODY);
}

static void server_limits_of_int64_max_are_taken_as_unlimited(void **state)
{
    (void)state;
    struct raw_server s;
    raw_server_start(&s, unlimited_limits_handler, NULL);
    struct llm_engine *e = openai_engine_for(s.url, NULL);
    struct llm_message m;
    struct llm_request req = simple_request(&m, "no limits");
    for (int i = 0; i < 3; i++) {
        struct llm_result *res = llm_generate(e, &req);
        assert_int_equal(res->error.type, LLM_OK);
        llm_result_free(res);
    }
    /* No gate was made from the absurd numbers: nothing throttles. */
    struct llm_stats *st = NULL;
    assert_int_equal(llm_engine_stats(e, &st), LLM_OK);
    assert_int_equal(st->n_gates, 0);
    llm_stats_free(st);
    llm_engine_free(e);
    raw_server_stop(&s);
}

/* Silent (no rate-limit headers) for the first *user requests, then
 * announcing 60000 requests per minute. */
static void late_limits_handler(struct raw_server *s, int fd, const char *req, size_t len)
{
    (void)req, (void)len;
    int silent_for = *(const int *)s->user;
    reply_200(fd,
              atomic_load(&s->n_requests) > silent_for
                  ? "x-ratelimit-limit-requests: 60000\r\n"
                    "x-ratelimit-remaining-requests: 59999\r\n"
                  : NULL,
              OK_BODY);
}

static size_t gates_of(struct llm_engine *e)
{
    struct llm_stats *st = NULL;
    assert_int_equal(llm_engine_stats(e, &st), LLM_OK);
    size_t n = st->n_gates;
    llm_stats_free(st);
    return n;
}

static void run_requests(struct llm_engine *e, int n)
{
    struct llm_message m;
    struct llm_request req = simple_request(&m, "limits?");
    for (int i = 0; i < n; i++) {
        struct llm_result *res = llm_generate(e, &req);
        assert_int_equal(res->error.type, LLM_OK);
        llm_result_free(res);
    }
}

static void limits_first_announced_by_an_early_reply_are_learned_from_that_reply(void **state)
{
    (void)state;
    int silent_for = 5;
    struct raw_server s;
    raw_server_start(&s, late_limits_handler, &silent_for);
    struct llm_engine *e = openai_engine_for(s.url, NULL);
    run_requests(e, 5);
    assert_int_equal(gates_of(e), 0);
    run_requests(e, 1);
    assert_int_equal(gates_of(e), 1);
    llm_engine_free(e);
    raw_server_stop(&s);
}

/* After 32 replies in a row without limits the engine reads one reply in
 * 32 (admission.c): limits a server starts to announce later are still
 * learned, within 32 replies. */
static void limits_announced_after_many_silent_replies_are_learned_within_32(void **state)
{
    (void)state;
    int silent_for = 40;
    struct raw_server s;
    raw_server_start(&s, late_limits_handler, &silent_for);
    struct llm_engine *e = openai_engine_for(s.url, NULL);
    run_requests(e, 40);
    assert_int_equal(gates_of(e), 0);
    run_requests(e, 32);
    assert_int_equal(gates_of(e), 1);
    llm_engine_free(e);
    raw_server_stop(&s);
}

/* ---- #4: blocking waits from callbacks ---------------------------------- */

struct cb_wait {
    struct llm_engine *e;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    enum llm_error wait_rc;
    enum llm_error poll_rc;
    bool in_delta;
};

static void wait_from_engine_thread(struct cb_wait *w)
{
    struct llm_message m;
    struct llm_request req = simple_request(&m, "inner");
    struct llm_future *f = NULL;
    assert_int_equal(llm_submit(w->e, &req, &f), LLM_OK);
    struct llm_result *res = NULL;
    w->poll_rc = llm_future_wait(f, 0, &res);
    w->wait_rc = llm_future_wait(f, -1, &res);
    assert_null(res);
    llm_future_free(f);
}

static void done_then_wait(void *user, struct llm_result *res)
{
    struct cb_wait *w = user;
    llm_result_free(res);
    if (!w->in_delta)
        wait_from_engine_thread(w);
    pthread_mutex_lock(&w->mu);
    w->done = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static void delta_then_wait(void *user, const char *text, size_t len)
{
    struct cb_wait *w = user;
    (void)text, (void)len;
    if (w->wait_rc == LLM_OK)
        wait_from_engine_thread(w);
}

static void future_wait_from_a_callback_fails_instead_of_deadlocking(void **state)
{
    (void)state;
    for (int in_delta = 0; in_delta < 2; in_delta++) {
        struct cb_wait w = {.wait_rc = LLM_OK, .in_delta = in_delta};
        pthread_mutex_init(&w.mu, NULL);
        pthread_cond_init(&w.cv, NULL);
        assert_int_equal(llm_engine_new(NULL, &w.e), LLM_OK);
        struct llm_message m;
        struct llm_request req = simple_request(&m, "outer");
        if (in_delta) {
            req.stream = true;
            req.on_delta = delta_then_wait;
            req.delta_user = &w;
        }
        assert_int_equal(llm_generate_async(w.e, &req, done_then_wait, &w), LLM_OK);
        pthread_mutex_lock(&w.mu);
        while (!w.done)
            pthread_cond_wait(&w.cv, &w.mu);
        pthread_mutex_unlock(&w.mu);
        assert_int_equal(w.wait_rc, LLM_ERR_INTERNAL);
        assert_int_equal(w.poll_rc, LLM_ERR_TIMEOUT);
        llm_engine_free(w.e);
        pthread_mutex_destroy(&w.mu);
        pthread_cond_destroy(&w.cv);
    }
}

/* ---- #2: a server that echoes the key ----------------------------------- */

#define ECHO_KEY "sk-test-ECHOED-0123456789abcdef"

static void echo_key_handler(struct raw_server *s, int fd, const char *req, size_t len)
{
    (void)req, (void)len;
    int n = atomic_load(&s->n_requests);
    if (n % 2 == 1) {
        static const char body[] =
            "{\"error\":{\"message\":\"Incorrect API key provided: Bearer " ECHO_KEY "\","
            "\"type\":\"invalid_request_error\",\"param\":null,\"code\":\"" ECHO_KEY "\"}}";
        char head[512];
        snprintf(head, sizeof(head),
                 "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\n"
                 "x-request-id: " ECHO_KEY "\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
                 strlen(body));
        raw_write_str(fd, head);
        raw_write_str(fd, body);
    } else {
        reply_200(fd, "x-request-id: req-" ECHO_KEY "\r\n",
                  "{\"id\":\"" ECHO_KEY "\",\"object\":\"chat.completion\",\"model\":\"m-" ECHO_KEY
                  "\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
                  "\"content\":\"hi\"},\"finish_reason\":\"stop\"}],"
                  "\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":1}}");
    }
}

/* Everything the engine said, through every sink. */
struct sink {
    pthread_mutex_t mu;
    char *text;
    size_t len;
    int lines;
};

static void sink_add(struct sink *k, const char *line)
{
    pthread_mutex_lock(&k->mu);
    size_t n = strlen(line);
    k->text = realloc(k->text, k->len + n + 2);
    assert_non_null(k->text);
    memcpy(k->text + k->len, line, n);
    k->len += n;
    k->text[k->len++] = '\n';
    k->text[k->len] = '\0';
    k->lines++;
    pthread_mutex_unlock(&k->mu);
}

static void log_to_sink(void *user, enum llm_log_level level, const char *msg)
{
    (void)level;
    sink_add(user, msg);
}

static void line_to_sink(void *user, const char *line) { sink_add(user, line); }

static void assert_no_key(const char *s)
{
    if (s && strstr(s, ECHO_KEY))
        fail_msg("the key leaked: %s", s);
}

static void result_has_no_key(const struct llm_result *res)
{
    assert_no_key(res->error.message);
    assert_no_key(res->error.provider_code);
    assert_no_key(res->request_id);
    assert_no_key(res->response_id);
    assert_no_key(res->model);
    assert_no_key(res->raw_response);
    for (size_t i = 0; i < res->n_attempts; i++)
        assert_no_key(res->attempts[i].error_message);
    char *json = llm_result_to_json(res);
    assert_non_null(json);
    assert_no_key(json);
    free(json);
}

/* by_header: the engine is given a provider made elsewhere, so it learns
 * the key only from the header the provider sends. */
static void check_key_echo(bool by_header)
{
    struct raw_server s;
    raw_server_start(&s, echo_key_handler, NULL);
    struct sink k = {.text = NULL};
    pthread_mutex_init(&k.mu, NULL);
    struct llm_engine_options o = {
        .provider = "openai",
        .base_url = s.url,
        .api_key = ECHO_KEY,
        .max_attempts = 1,
        .keep_raw_response = true,
        .log = log_to_sink,
        .log_user = &k,
        .log_level = LLM_LOG_DEBUG,
        .events_cb = line_to_sink,
        .events_user = &k,
        .metrics_cb = line_to_sink,
        .metrics_user = &k,
    };
    if (by_header) {
        struct llm_provider_options po = {.base_url = s.url, .api_key = ECHO_KEY};
        assert_int_equal(llm_provider_new_openai(&po, &o.provider_instance), LLM_OK);
        o.api_key = NULL;
        o.base_url = NULL;
    }
    struct llm_engine *e = NULL;
    assert_int_equal(llm_engine_new(&o, &e), LLM_OK);
    struct llm_message m;
    struct llm_request req = simple_request(&m, "who am I");

    struct llm_result *res = llm_generate(e, &req);
    assert_int_equal(res->error.type, LLM_ERR_AUTHENTICATION);
    /* The server did echo it: what we kept says where it was. */
    assert_non_null(strstr(res->error.message, "[REDACTED]"));
    assert_int_equal(res->n_attempts, 1);
    result_has_no_key(res);
    llm_result_free(res);

    res = llm_generate(e, &req);
    assert_int_equal(res->error.type, LLM_OK);
    assert_non_null(res->request_id);
    assert_string_equal(res->request_id, "req-[REDACTED]");
    assert_string_equal(res->content, "hi");
    result_has_no_key(res);
    llm_result_free(res);
    llm_engine_free(e);
    raw_server_stop(&s);

    assert_true(k.lines > 2);
    assert_no_key(k.text);
    free(k.text);
    pthread_mutex_destroy(&k.mu);
}

static void a_key_echoed_by_the_server_appears_in_no_output(void **state)
{
    (void)state;
    check_key_echo(false);
    check_key_echo(true);
}

/* A proxy URL's password is a secret like the key: a hostile proxy that
 * echoes it gets it into no result. */
#define PROXY_PASSWORD "Pr0xyPassw0rdCanary"
static void proxy_echo_handler(struct raw_server *s, int fd, const char *req, size_t len)
{
    (void)s, (void)req, (void)len;
    const char *body = "{\"error\":{\"message\":\"proxy login user:" PROXY_PASSWORD
                       " refused\",\"type\":\"server_error\",\"code\":\"" PROXY_PASSWORD "\"}}";
    char head[256];
    snprintf(head, sizeof head,
             "HTTP/1.1 502 Bad Gateway\r\nContent-Type: application/json\r\n"
             "x-request-id: " PROXY_PASSWORD "\r\nContent-Length: %zu\r\n"
             "Connection: close\r\n\r\n",
             strlen(body));
    raw_write_str(fd, head);
    raw_write_str(fd, body);
}

/* The proxy from the option, or (`from_env`) from http_proxy. */
static void check_proxy_password_scrubbed(bool from_env)
{
    struct raw_server s;
    raw_server_start(&s, proxy_echo_handler, NULL);
    char proxy[128];
    snprintf(proxy, sizeof proxy, "http://user:" PROXY_PASSWORD "@127.0.0.1:%d", s.port);
    struct llm_engine_options o = {.max_attempts = 1, .proxy = from_env ? NULL : proxy,
                                   .keep_raw_response = true};
    if (from_env)
        setenv("http_proxy", proxy, 1);
    /* The server named here is never reached: the proxy answers. */
    struct llm_engine *e = openai_engine_for("http://127.0.0.1:9/v1", &o);
    /* Read when the engine was made: unset at once, so that a failing
     * assertion below cannot leave it to the tests after this one. */
    if (from_env)
        unsetenv("http_proxy");
    struct llm_message m;
    struct llm_request req = simple_request(&m, "through the proxy");
    struct llm_result *res = llm_generate(e, &req);
    assert_int_equal(atomic_load(&s.n_requests), 1);
    assert_false(res->success);
    char *json = llm_result_to_json(res);
    assert_non_null(json);
    assert_null(strstr(json, PROXY_PASSWORD));
    assert_non_null(strstr(json, "[REDACTED]"));
    llm_free(json);
    llm_result_free(res);
    llm_engine_free(e);
    raw_server_stop(&s);
}

static void a_proxy_password_echoed_back_appears_in_no_result(void **state)
{
    (void)state;
    check_proxy_password_scrubbed(false);
}

static void a_proxy_password_from_the_environment_is_scrubbed_too(void **state)
{
    (void)state;
    check_proxy_password_scrubbed(true);
}

/* ---- #10: misleading error types ----------------------------------------- */

static void huge_header_handler(struct raw_server *s, int fd, const char *req, size_t len)
{
    (void)s, (void)req, (void)len;
    raw_write_str(fd, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Big: ");
    size_t n = 1024 * 1024;
    char *big = malloc(n);
    assert_non_null(big);
    memset(big, 'a', n);
    raw_write(fd, big, n);
    free(big);
    raw_write_str(fd, "\r\nContent-Length: 2\r\n\r\n{}");
}

static void a_huge_response_header_is_a_parse_error_naming_the_header_size(void **state)
{
    (void)state;
    struct raw_server s;
    raw_server_start(&s, huge_header_handler, NULL);
    struct llm_engine_options o = {.max_attempts = 1};
    struct llm_engine *e = openai_engine_for(s.url, &o);
    struct llm_message m;
    struct llm_request req = simple_request(&m, "big header");
    struct llm_result *res = llm_generate(e, &req);
    assert_int_equal(res->error.type, LLM_ERR_PARSE);
    assert_non_null(strstr(res->error.message, "header too large"));
    assert_non_null(strstr(res->error.message, "102400"));
    llm_result_free(res);
    llm_engine_free(e);
    raw_server_stop(&s);
}

static void redirect_handler(struct raw_server *s, int fd, const char *req, size_t len)
{
    (void)s, (void)req, (void)len;
    raw_write_str(fd, "HTTP/1.1 301 Moved Permanently\r\n"
                      "Location: https://elsewhere.example/v1/chat/completions\r\n"
                      "Content-Length: 0\r\nConnection: close\r\n\r\n");
}

static void a_redirect_is_reported_with_its_location_and_not_retried(void **state)
{
    (void)state;
    struct raw_server s;
    raw_server_start(&s, redirect_handler, NULL);
    struct llm_engine_options o = {.max_attempts = 3, .base_backoff_ms = 1, .max_backoff_ms = 2};
    struct llm_engine *e = openai_engine_for(s.url, &o);
    struct llm_message m;
    struct llm_request req = simple_request(&m, "moved");
    struct llm_result *res = llm_generate(e, &req);
    assert_int_equal(res->error.type, LLM_ERR_SERVER_ERROR);
    assert_false(res->error.retryable);
    assert_int_equal(res->error.http_status, 301);
    assert_int_equal(res->n_attempts, 1);
    assert_non_null(strstr(res->error.message, "redirected"));
    assert_non_null(strstr(res->error.message, "https://elsewhere.example/v1/chat/completions"));
    llm_result_free(res);
    llm_engine_free(e);
    raw_server_stop(&s);
    assert_int_equal(atomic_load(&s.n_requests), 1); /* never followed, never retried */
}

/* In a child: an engine, then every descriptor the limit allows taken, then
 * a request.  Exit status 0 when the result is LOCAL_RESOURCE after one
 * attempt, saying EMFILE. */
static int emfile_child(void)
{
    struct llm_engine_options o = {.provider = "openai", .base_url = "http://127.0.0.1:9/v1",
                                   .api_key = "", .max_attempts = 3, .base_backoff_ms = 1,
                                   .max_backoff_ms = 2, .retry_budget = 10};
    struct llm_engine *e = NULL;
    if (llm_engine_new(&o, &e) != LLM_OK)
        return 10;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 11;
    rl.rlim_cur = rl.rlim_max < 256 ? rl.rlim_max : 256;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 12;
    int taken = 0;
    while (open("/dev/null", O_RDONLY | O_CLOEXEC) >= 0)
        taken++;
    if (errno != EMFILE)
        return 13;
    struct llm_message m;
    struct llm_request req = simple_request(&m, "no fds");
    struct llm_result *res = llm_generate(e, &req);
    int rc = 0;
    if (!res)
        rc = 14;
    else if (res->error.type != LLM_ERR_LOCAL_RESOURCE)
        rc = 15;
    else if (res->n_attempts != 1)
        rc = 16;
    else if (!strstr(res->error.message, "EMFILE"))
        rc = 17;
    else if (res->error.retryable)
        rc = 18;
    if (rc)
        fprintf(stderr, "emfile child: rc %d, %s after %zu attempt(s): %s (%d fds taken)\n", rc,
                res ? llm_error_name(res->error.type) : "-", res ? res->n_attempts : 0,
                res && res->error.message ? res->error.message : "", taken);
    llm_result_free(res);
    llm_engine_free(e);
    return rc;
}

static void running_out_of_file_descriptors_is_a_local_error_that_is_not_retried(void **state)
{
    (void)state;
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(emfile_child());
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

/* ---- #11 and #14: streams cut short, silent servers ---------------------- */

#define CHUNK(text)                                                                            \
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o-mini\","     \
    "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"" text "\"},\"finish_reason\":null}]}\n\n"

static void stream_head(int fd)
{
    raw_write_str(fd, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                      "Connection: close\r\n\r\n");
}

/* One event, then silence until the client hangs up. */
static void stream_then_silence_handler(struct raw_server *s, int fd, const char *req, size_t len)
{
    (void)req, (void)len;
    stream_head(fd);
    raw_write_str(fd, CHUNK("first"));
    raw_hold_silent(s, fd);
}

static void full_stream_handler(struct raw_server *s, int fd, const char *req, size_t len)
{
    (void)s, (void)req, (void)len;
    stream_head(fd);
    raw_write_str(fd, CHUNK("a") CHUNK("b")
                  "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o-mini\","
                  "\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"
                  "data: [DONE]\n\n");
}

static void silent_handler(struct raw_server *s, int fd, const char *req, size_t len)
{
    (void)req, (void)len;
    raw_hold_silent(s, fd);
}

static void a_silent_server_times_out_waiting_for_the_first_byte(void **state)
{
    (void)state;
    struct raw_server s;
    raw_server_start(&s, silent_handler, NULL);
    struct llm_engine_options o = {.max_attempts = 1, .first_byte_timeout_ms = 50};
    struct llm_engine *e = openai_engine_for(s.url, &o);
    struct llm_message m;
    struct llm_request req = simple_request(&m, "anyone there?");
    struct llm_result *res = llm_generate(e, &req);
    assert_int_equal(res->error.type, LLM_ERR_TIMEOUT);
    assert_true(res->error.retryable);
    assert_non_null(strstr(res->error.message, "first-byte timeout"));
    assert_int_equal(res->n_attempts, 1);
    llm_result_free(res);
    llm_engine_free(e);
    raw_server_stop(&s);
}

static void a_stream_that_goes_silent_times_out(void **state)
{
    (void)state;
    struct raw_server s;
    raw_server_start(&s, stream_then_silence_handler, NULL);
    struct llm_engine_options o = {.max_attempts = 1, .stream_idle_timeout_ms = 50,
                                   .keep_raw_response = true};
    struct llm_engine *e = openai_engine_for(s.url, &o);
    struct llm_message m;
    struct llm_request req = simple_request(&m, "then silence");
    req.stream = true;
    struct llm_result *res = llm_generate(e, &req);
    assert_int_equal(res->error.type, LLM_ERR_TIMEOUT);
    assert_non_null(strstr(res->error.message, "idle timeout"));
    assert_int_equal(res->n_attempts, 1);
    assert_int_equal(res->attempts[0].error, LLM_ERR_TIMEOUT);
    assert_true(res->attempts[0].bytes_received > 0);
    llm_result_free(res);
    llm_engine_free(e);
    raw_server_stop(&s);
}

struct delta_seen {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool seen;
};

static void on_delta_signal(void *user, const char *text, size_t len)
{
    struct delta_seen *d = user;
    (void)text, (void)len;
    pthread_mutex_lock(&d->mu);
    d->seen = true;
    pthread_cond_signal(&d->cv);
    pthread_mutex_unlock(&d->mu);
}

/* Cut by a cancel (by_deadline false) or a deadline after the first delta:
 * the attempt is in the record with its bytes and the error that ended it,
 * and the raw SSE received so far is kept. */
static void check_cut_stream(bool by_deadline)
{
    struct raw_server s;
    raw_server_start(&s, stream_then_silence_handler, NULL);
    struct llm_engine_options o = {.max_attempts = 1, .keep_raw_response = true};
    struct llm_engine *e = openai_engine_for(s.url, &o);
    struct delta_seen d = {.seen = false};
    pthread_mutex_init(&d.mu, NULL);
    pthread_cond_init(&d.cv, NULL);
    struct llm_message m;
    struct llm_request req = simple_request(&m, "cut me");
    req.stream = true;
    req.on_delta = on_delta_signal;
    req.delta_user = &d;
    if (by_deadline)
        req.deadline_ms = 200;
    struct llm_future *f = NULL;
    assert_int_equal(llm_submit(e, &req, &f), LLM_OK);
    pthread_mutex_lock(&d.mu);
    while (!d.seen)
        pthread_cond_wait(&d.cv, &d.mu);
    pthread_mutex_unlock(&d.mu);
    if (!by_deadline)
        assert_int_equal(llm_future_cancel(f), LLM_OK);
    struct llm_result *res = NULL;
    assert_int_equal(llm_future_wait(f, -1, &res), LLM_OK);
    llm_future_free(f);
    enum llm_error want = by_deadline ? LLM_ERR_DEADLINE_EXCEEDED : LLM_ERR_CANCELLED;
    assert_int_equal(res->error.type, want);
    assert_int_equal(res->n_attempts, 1);
    assert_int_equal(res->attempts[0].error, want);
    assert_int_equal(res->attempts[0].http_status, 200);
    assert_true(res->attempts[0].bytes_received > 0);
    assert_true(res->attempts[0].bytes_sent > 0);
    assert_true(res->attempts[0].end_us >= res->attempts[0].start_us);
    assert_non_null(res->attempts[0].error_message);
    assert_non_null(res->raw_response);
    assert_non_null(strstr(res->raw_response, "\"first\""));
    llm_result_free(res);
    llm_engine_free(e);
    raw_server_stop(&s);
    pthread_mutex_destroy(&d.mu);
    pthread_cond_destroy(&d.cv);
}

static void a_stream_cancelled_midway_is_recorded_as_an_attempt(void **state)
{
    (void)state;
    check_cut_stream(false);
}

static void a_stream_cut_by_the_deadline_is_recorded_as_an_attempt(void **state)
{
    (void)state;
    check_cut_stream(true);
}

static void keep_raw_response_keeps_the_raw_sse_body_of_a_stream(void **state)
{
    (void)state;
    struct raw_server s;
    raw_server_start(&s, full_stream_handler, NULL);
    struct llm_engine_options o = {.max_attempts = 1, .keep_raw_response = true};
    struct llm_engine *e = openai_engine_for(s.url, &o);
    struct llm_message m;
    struct llm_request req = simple_request(&m, "raw please");
    req.stream = true;
    struct llm_result *res = llm_generate(e, &req);
    assert_int_equal(res->error.type, LLM_OK);
    assert_string_equal(res->content, "ab");
    assert_non_null(res->raw_response);
    assert_non_null(strstr(res->raw_response, "data: [DONE]"));
    assert_non_null(strstr(res->raw_response, "\"finish_reason\":\"stop\""));
    assert_int_equal(res->raw_response_len, strlen(res->raw_response));
    llm_result_free(res);
    /* Bounded by max_response_bytes. */
    llm_engine_free(e);
    o.max_response_bytes = 64;
    e = openai_engine_for(s.url, &o);
    res = llm_generate(e, &req);
    assert_int_equal(res->error.type, LLM_OK);
    assert_int_equal(res->raw_response_len, 64);
    llm_result_free(res);
    llm_engine_free(e);
    raw_server_stop(&s);

    /* The in-process mock's streams too. */
    struct llm_engine_options mo = {.keep_raw_response = true};
    assert_int_equal(llm_engine_new(&mo, &e), LLM_OK);
    res = llm_generate(e, &req);
    assert_int_equal(res->error.type, LLM_OK);
    assert_non_null(res->raw_response);
    assert_non_null(strstr(res->raw_response, "data: "));
    llm_result_free(res);
    llm_engine_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(non_finite_or_absurd_rates_are_refused_by_engine_new),
        cmocka_unit_test(a_bad_pricing_file_fails_engine_new_with_the_loaders_code_and_message),
        cmocka_unit_test(a_deadline_of_int64_max_means_no_deadline),
        cmocka_unit_test(huge_usage_counts_reconcile_the_tpm_gate_without_overflow),
        cmocka_unit_test(server_limits_of_int64_max_are_taken_as_unlimited),
        cmocka_unit_test(limits_first_announced_by_an_early_reply_are_learned_from_that_reply),
        cmocka_unit_test(limits_announced_after_many_silent_replies_are_learned_within_32),
        cmocka_unit_test(future_wait_from_a_callback_fails_instead_of_deadlocking),
        cmocka_unit_test(a_key_echoed_by_the_server_appears_in_no_output),
        cmocka_unit_test(a_proxy_password_echoed_back_appears_in_no_result),
        cmocka_unit_test(a_proxy_password_from_the_environment_is_scrubbed_too),
        cmocka_unit_test(a_huge_response_header_is_a_parse_error_naming_the_header_size),
        cmocka_unit_test(a_redirect_is_reported_with_its_location_and_not_retried),
        cmocka_unit_test(running_out_of_file_descriptors_is_a_local_error_that_is_not_retried),
        cmocka_unit_test(a_silent_server_times_out_waiting_for_the_first_byte),
        cmocka_unit_test(a_stream_that_goes_silent_times_out),
        cmocka_unit_test(a_stream_cancelled_midway_is_recorded_as_an_attempt),
        cmocka_unit_test(a_stream_cut_by_the_deadline_is_recorded_as_an_attempt),
        cmocka_unit_test(keep_raw_response_keeps_the_raw_sse_body_of_a_stream),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
