/* Integration tests: the engine through real libcurl against a scripted
 * raw HTTP server on 127.0.0.1 (a thread in this process), for replies no
 * well-behaved server sends: events after the end of a stream, usage that
 * says 0 tokens, bytes that are not UTF-8.  The server answers each request
 * with the next canned response of its script, on the same connection
 * while the client keeps it open. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "llmorch/llmorch.h"

/* ---- the scripted server ------------------------------------------------------ */

struct canned {
    const char *content_type;   /* "text/event-stream", "application/json" */
    const char *body;           /* sent with a Content-Length, unless junk_bytes */
    size_t body_len;            /* 0: strlen(body) */
    /* > 0: send the body as a chunk of a chunked reply, then chunks of
     * `junk` until junk_bytes have gone or the client has closed. */
    size_t junk_bytes;
    const char *junk;
};

struct rawsrv {
    int lfd;
    int port;
    pthread_t th;
    const struct canned *script;
    size_t n_script;
    atomic_size_t served;
    atomic_int connections;
    atomic_size_t junk_sent;
    atomic_bool junk_refused;   /* a write of junk failed: the client closed */
    atomic_int conn_fd;
    atomic_bool stopping;
};

static bool send_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w <= 0)
            return false;
        c += w;
        n -= (size_t)w;
    }
    return true;
}

/* Read one request (head and Content-Length body).  False at EOF/error. */
static bool read_request(int fd)
{
    char buf[65536];
    size_t have = 0;
    char *end = NULL;
    while (end == NULL) {
        if (have == sizeof(buf))
            return false;
        ssize_t r = recv(fd, buf + have, sizeof(buf) - have, 0);
        if (r <= 0)
            return false;
        have += (size_t)r;
        end = memmem(buf, have, "\r\n\r\n", 4);
    }
    size_t head = (size_t)(end - buf) + 4;
    size_t clen = 0;
    for (char *p = buf; p < end; p++) {
        if (strncasecmp(p, "\r\ncontent-length:", 17) == 0) {
            clen = strtoul(p + 17, NULL, 10);
            break;
        }
    }
    size_t body = have - head;
    while (body < clen) {
        ssize_t r = recv(fd, buf, sizeof(buf), 0);
        if (r <= 0)
            return false;
        body += (size_t)r;
    }
    return true;
}

static void respond(struct rawsrv *s, int fd, const struct canned *c)
{
    size_t blen = c->body_len ? c->body_len : strlen(c->body);
    char head[256];
    if (c->junk_bytes == 0) {
        int n = snprintf(head, sizeof(head),
                         "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %zu\r\n\r\n",
                         c->content_type, blen);
        send_all(fd, head, (size_t)n);
        send_all(fd, c->body, blen);
        return;
    }
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "%zx\r\n",
                     c->content_type, blen);
    send_all(fd, head, (size_t)n);
    send_all(fd, c->body, blen);
    send_all(fd, "\r\n", 2);
    size_t jlen = strlen(c->junk);
    char chunk_head[32];
    int ch = snprintf(chunk_head, sizeof(chunk_head), "%zx\r\n", jlen);
    while (atomic_load(&s->junk_sent) < c->junk_bytes) {
        if (!send_all(fd, chunk_head, (size_t)ch) || !send_all(fd, c->junk, jlen) ||
            !send_all(fd, "\r\n", 2)) {
            atomic_store(&s->junk_refused, true);
            return;
        }
        atomic_fetch_add(&s->junk_sent, jlen);
    }
    send_all(fd, "0\r\n\r\n", 5);
}

static void *serve(void *arg)
{
    struct rawsrv *s = arg;
    while (!atomic_load(&s->stopping)) {
        int fd = accept(s->lfd, NULL, NULL);
        if (fd < 0)
            break;
        atomic_fetch_add(&s->connections, 1);
        atomic_store(&s->conn_fd, fd);
        while (!atomic_load(&s->stopping) && read_request(fd)) {
            size_t i = atomic_fetch_add(&s->served, 1);
            respond(s, fd, &s->script[i < s->n_script ? i : s->n_script - 1]);
        }
        atomic_store(&s->conn_fd, -1);
        close(fd);
    }
    return NULL;
}

static struct rawsrv *rawsrv_start(const struct canned *script, size_t n)
{
    struct rawsrv *s = calloc(1, sizeof(*s));
    assert_non_null(s);
    s->script = script;
    s->n_script = n;
    atomic_store(&s->conn_fd, -1);
    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s->lfd >= 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    socklen_t al = sizeof(a);
    assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&a, &al), 0);
    s->port = ntohs(a.sin_port);
    assert_int_equal(listen(s->lfd, 8), 0);
    assert_int_equal(pthread_create(&s->th, NULL, serve, s), 0);
    return s;
}

static void rawsrv_stop(struct rawsrv *s)
{
    atomic_store(&s->stopping, true);
    shutdown(s->lfd, SHUT_RDWR);
    int fd = atomic_load(&s->conn_fd);
    if (fd >= 0)
        shutdown(fd, SHUT_RDWR);
    pthread_join(s->th, NULL);
    close(s->lfd);
    free(s);
}

static struct llm_engine *engine_on(const char *provider, const struct rawsrv *s)
{
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", s->port);
    struct llm_engine_options o = {0};
    o.provider = provider;
    o.base_url = url;
    o.api_key = "";
    o.max_attempts = 1;
    o.attempt_timeout_ms = 30000;
    struct llm_engine *e = NULL;
    char err[256];
    if (llm_engine_new_ex(&o, &e, err, sizeof(err)) != LLM_OK)
        fail_msg("engine: %s", err);
    return e;
}

static struct llm_result *ask(struct llm_engine *e, const char *model, bool stream)
{
    struct llm_message m = {.role = "user", .content = "hi"};
    struct llm_request r = {0};
    r.model = model;
    r.messages = &m;
    r.n_messages = 1;
    r.max_tokens = 16;
    r.stream = stream;
    struct llm_result *res = llm_generate(e, &r);
    assert_non_null(res);
    return res;
}

#define OAI_CHUNK(text)                                                                       \
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o-mini\","   \
    "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"" text "\"},\"finish_reason\":null}]}\n\n"
#define OAI_STOP                                                                              \
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o-mini\","   \
    "\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"
#define OAI_USAGE(in, out)                                                                    \
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o-mini\","   \
    "\"choices\":[],\"usage\":{\"prompt_tokens\":" #in ",\"completion_tokens\":" #out          \
    ",\"total_tokens\":" #in "}}\n\n"
#define OAI_ERROR_EVENT                                                                       \
    "data: {\"error\":{\"message\":\"late failure\",\"type\":\"server_error\",\"code\":null}}\n\n"

#define ANT_EVENT(name, json) "event: " name "\ndata: " json "\n\n"
#define ANT_START(in, out)                                                                    \
    ANT_EVENT("message_start", "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\","    \
                               "\"type\":\"message\",\"role\":\"assistant\",\"model\":"        \
                               "\"claude-3-5-haiku\",\"content\":[],\"usage\":{"              \
                               "\"input_tokens\":" #in ",\"output_tokens\":" #out "}}}")
#define ANT_DELTA(text)                                                                       \
    ANT_EVENT("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":0,"          \
                                     "\"delta\":{\"type\":\"text_delta\",\"text\":\"" text "\"}}")
#define ANT_END(out)                                                                          \
    ANT_EVENT("message_delta", "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"       \
                               "\"end_turn\"},\"usage\":{\"output_tokens\":" #out "}}")          \
    ANT_EVENT("message_stop", "{\"type\":\"message_stop\"}")
#define ANT_ERROR_EVENT                                                                       \
    ANT_EVENT("error", "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\","        \
                       "\"message\":\"late failure\"}}")

/* ---- issue 10 #5: events after the end of a stream --------------------------------- */

/* Junk after the final event in the same body (Content-Length framed):
 * ignored, the reply a success, and the next request on the same engine
 * is served normally (the connection was either reused or closed, never
 * left with unread bytes that a later reply would be mistaken for). */
static void events_after_the_final_event_are_ignored(const char *provider, const char *model,
                                                     const char *body, const char *next)
{
    const struct canned script[] = {
        {"text/event-stream", body, 0, 0, NULL},
        {"text/event-stream", next, 0, 0, NULL},
    };
    struct rawsrv *s = rawsrv_start(script, 2);
    struct llm_engine *e = engine_on(provider, s);
    struct llm_result *res = ask(e, model, true);
    assert_true(res->success);
    assert_int_equal(res->error.type, LLM_OK);
    assert_string_equal(res->content, "a");
    llm_result_free(res);
    res = ask(e, model, true);
    assert_true(res->success);
    assert_string_equal(res->content, "b");
    llm_result_free(res);
    llm_engine_free(e);
    assert_int_equal(atomic_load(&s->served), 2);
    rawsrv_stop(s);
}

static void openai_delta_and_error_after_done_are_ignored(void **state)
{
    (void)state;
    events_after_the_final_event_are_ignored(
        "openai", "gpt-4o-mini",
        OAI_CHUNK("a") OAI_STOP "data: [DONE]\n\n" OAI_CHUNK("INJECTED") OAI_ERROR_EVENT,
        OAI_CHUNK("b") OAI_STOP "data: [DONE]\n\n");
}

static void anthropic_delta_and_error_after_message_stop_are_ignored(void **state)
{
    (void)state;
    events_after_the_final_event_are_ignored(
        "anthropic", "claude-3-5-haiku",
        ANT_START(3, 1) ANT_DELTA("a") ANT_END(1) ANT_DELTA("INJECTED") ANT_ERROR_EVENT,
        ANT_START(3, 1) ANT_DELTA("b") ANT_END(1));
}

/* A server that goes on sending after the final event, without end: the
 * reply is complete, so the engine stops reading (closes the connection)
 * and reports the success, instead of appending or reading on until the
 * attempt times out.  The server sees its writes refused well before it
 * has sent what it meant to. */
static void stream_that_goes_on_after_its_final_event_is_cut_and_succeeds(void **state)
{
    (void)state;
    static const struct {
        const char *provider, *model, *body, *junk;
    } cases[] = {
        {"openai", "gpt-4o-mini", OAI_CHUNK("a") OAI_STOP "data: [DONE]\n\n",
         OAI_CHUNK("INJECTED")},
        {"anthropic", "claude-3-5-haiku", ANT_START(3, 1) ANT_DELTA("a") ANT_END(1),
         ANT_DELTA("INJECTED")},
    };
    for (size_t i = 0; i < 2; i++) {
        const size_t junk_bytes = (size_t)256 * 1024 * 1024;
        const struct canned script[] = {
            {"text/event-stream", cases[i].body, 0, junk_bytes, cases[i].junk},
            {"text/event-stream", cases[i].body, 0, 0, NULL},
        };
        struct rawsrv *s = rawsrv_start(script, 2);
        struct llm_engine *e = engine_on(cases[i].provider, s);
        struct llm_result *res = ask(e, cases[i].model, true);
        assert_true(res->success);
        assert_string_equal(res->content, "a");
        llm_result_free(res);
        /* The engine still works: a fresh connection serves the next. */
        res = ask(e, cases[i].model, true);
        assert_true(res->success);
        assert_string_equal(res->content, "a");
        llm_result_free(res);
        llm_engine_free(e);
        assert_true(atomic_load(&s->junk_refused));
        assert_true(atomic_load(&s->junk_sent) < junk_bytes);
        rawsrv_stop(s);
    }
}

/* ---- issue 10 #12: usage of 0 output tokens with text -------------------------------- */

static void zero_usage_with_text_is_reported_unknown_with_unknown_cost(void **state)
{
    (void)state;
    static const struct {
        const char *provider, *model, *zero, *real;
    } cases[] = {
        {"openai", "gpt-4o-mini",
         OAI_CHUNK("hello") OAI_STOP OAI_USAGE(0, 0) "data: [DONE]\n\n",
         OAI_CHUNK("hello") OAI_STOP OAI_USAGE(5, 2) "data: [DONE]\n\n"},
        {"anthropic", "claude-3-5-haiku", ANT_START(0, 0) ANT_DELTA("hello") ANT_END(0),
         ANT_START(5, 1) ANT_DELTA("hello") ANT_END(2)},
    };
    for (size_t i = 0; i < 2; i++) {
        const struct canned script[] = {
            {"text/event-stream", cases[i].zero, 0, 0, NULL},
            {"text/event-stream", cases[i].real, 0, 0, NULL},
        };
        struct rawsrv *s = rawsrv_start(script, 2);
        struct llm_engine *e = engine_on(cases[i].provider, s);
        struct llm_result *res = ask(e, cases[i].model, true);
        assert_true(res->success);
        assert_string_equal(res->content, "hello");
        assert_false(res->usage.known);
        assert_false(res->cost.known);
        char *json = llm_result_to_json(res);
        assert_non_null(strstr(json, "\"known\":false"));
        llm_free(json);
        llm_result_free(res);
        /* The control: the same reply with real counts is known and priced. */
        res = ask(e, cases[i].model, true);
        assert_true(res->success);
        assert_true(res->usage.known);
        assert_int_equal(res->usage.output_tokens, 2);
        assert_true(res->cost.known);
        llm_result_free(res);
        llm_engine_free(e);
        rawsrv_stop(s);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(openai_delta_and_error_after_done_are_ignored),
        cmocka_unit_test(anthropic_delta_and_error_after_message_stop_are_ignored),
        cmocka_unit_test(stream_that_goes_on_after_its_final_event_is_cut_and_succeeds),
        cmocka_unit_test(zero_usage_with_text_is_reported_unknown_with_unknown_cost),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
