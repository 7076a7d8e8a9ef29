/* Tools, structured output, content parts and request control end to end:
 * the engine through libcurl against the mock server, for both wire
 * formats, plain and streamed.  The server's capture hook shows what
 * reached it (body, headers, path and query string). */
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
#include <strings.h>

#include "llmorch/llmorch.h"
#include "mock_server.h"

#define WEATHER_SCHEMA                                                                     \
    "{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"},\"days\":"         \
    "{\"type\":\"integer\",\"minimum\":1},\"unit\":{\"enum\":[\"celsius\",\"fahrenheit\"]}}," \
    "\"required\":[\"city\",\"unit\"]}"

static const struct llm_tool tools[] = {
    {.name = "get_weather", .description = "Current weather", .parameters_json = WEATHER_SCHEMA},
    {.name = "get_time", .description = "Current time"},
};

/* ---- what reached the server ----------------------------------------------------- */

struct seen {
    pthread_mutex_t mu;
    char *body, *headers, *path, *query;
};

static void on_capture(void *user, const struct mocksrv_capture *c)
{
    struct seen *s = user;
    pthread_mutex_lock(&s->mu);
    free(s->body);
    free(s->headers);
    free(s->path);
    free(s->query);
    s->body = strndup(c->body, c->body_len);
    s->headers = strdup(c->headers);
    s->path = strdup(c->path);
    s->query = strdup(c->query);
    pthread_mutex_unlock(&s->mu);
}

struct fixture {
    struct seen seen;
    struct mocksrv *srv;
    struct llm_engine *eng;
    const char *provider;
    bool stream;
};

static void start(struct fixture *f, const char *provider, bool stream,
                  const struct llm_engine_options *extra)
{
    memset(f, 0, sizeof(*f));
    pthread_mutex_init(&f->seen.mu, NULL);
    struct mocksrv_options mo = {.capture = on_capture, .capture_user = &f->seen};
    assert_int_equal(mocksrv_start(&mo, &f->srv), 0);
    struct llm_engine_options o = extra != NULL ? *extra : (struct llm_engine_options){0};
    o.provider = provider;
    o.base_url = mocksrv_url(f->srv);
    o.api_key = "";
    o.max_attempts = 1;
    char err[256];
    if (llm_engine_new_ex(&o, &f->eng, err, sizeof(err)) != LLM_OK)
        fail_msg("engine: %s", err);
    f->provider = provider;
    f->stream = stream;
}

static void stop(struct fixture *f)
{
    llm_engine_free(f->eng);
    mocksrv_stop(f->srv);
    free(f->seen.body);
    free(f->seen.headers);
    free(f->seen.path);
    free(f->seen.query);
    pthread_mutex_destroy(&f->seen.mu);
}

static cJSON *seen_body(struct fixture *f)
{
    pthread_mutex_lock(&f->seen.mu);
    cJSON *j = f->seen.body != NULL ? cJSON_Parse(f->seen.body) : NULL;
    pthread_mutex_unlock(&f->seen.mu);
    assert_non_null(j);
    return j;
}

static struct llm_result *run(struct fixture *f, struct llm_request *req)
{
    req->stream = f->stream;
    if (req->model == NULL)
        req->model = "test-model";
    struct llm_result *res = llm_generate(f->eng, req);
    assert_non_null(res);
    return res;
}

static void expect_success(const struct fixture *f, const struct llm_result *res)
{
    if (!res->success)
        fail_msg("%s %s: %s: %s", f->provider, f->stream ? "streamed" : "plain",
                 llm_error_name(res->error.type), res->error.message);
}

/* Arguments parse as a JSON object holding `key`. */
static void expect_args_with(const struct llm_tool_call *c, const char *key)
{
    cJSON *a = cJSON_Parse(c->arguments);
    if (!cJSON_IsObject(a) || cJSON_GetObjectItemCaseSensitive(a, key) == NULL)
        fail_msg("arguments %s lack \"%s\"", c->arguments, key);
    cJSON_Delete(a);
}

static const char *tool_finish(const struct fixture *f)
{
    return strcmp(f->provider, "openai") == 0 ? "tool_calls" : "tool_use";
}

/* Run `body` for both providers, plain and streamed. */
#define EVERY_WIRE(fn)                                                 \
    do {                                                               \
        static const char *const provs[] = {"openai", "anthropic"};    \
        for (int p_ = 0; p_ < 2; p_++)                                 \
            for (int s_ = 0; s_ < 2; s_++)                             \
                fn(provs[p_], s_ == 1);                                \
    } while (0)

/* ---- tests -------------------------------------------------------------------------- */

static void two_turns(const char *provider, bool stream)
{
    struct fixture f;
    start(&f, provider, stream, NULL);
    struct llm_message m1[3] = {{.role = "user", .content = "What is the weather? Use get_weather."}};
    struct llm_request req = {.messages = m1, .n_messages = 1, .tools = tools, .n_tools = 2};
    struct llm_result *call = run(&f, &req);
    expect_success(&f, call);
    assert_int_equal(call->n_tool_calls, 1);
    assert_string_equal(call->tool_calls[0].name, "get_weather");
    assert_true(call->tool_calls[0].id[0] != '\0');
    expect_args_with(&call->tool_calls[0], "city");
    expect_args_with(&call->tool_calls[0], "unit");
    assert_string_equal(call->finish_reason, tool_finish(&f));
    /* The result's JSON carries the calls in OpenAI's shape. */
    char *json = llm_result_to_json(call);
    cJSON *rj = cJSON_Parse(json);
    const cJSON *fn = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(rj, "tool_calls"), 0), "function");
    assert_non_null(fn);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(fn, "name")->valuestring, "get_weather");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(fn, "arguments")->valuestring,
                        call->tool_calls[0].arguments);
    cJSON_Delete(rj);
    llm_free(json);

    /* Turn two: the call goes back with its result. */
    m1[1] = (struct llm_message){.role = "assistant", .tool_calls = call->tool_calls,
                                 .n_tool_calls = call->n_tool_calls};
    m1[2] = (struct llm_message){.role = "tool", .content = "{\"temp\":21}",
                                 .tool_call_id = call->tool_calls[0].id, .name = "get_weather"};
    req.n_messages = 3;
    struct llm_result *final = run(&f, &req);
    expect_success(&f, final);
    assert_string_equal(final->content, "tool result: {\"temp\":21}");
    assert_int_equal(final->n_tool_calls, 0);
    /* The server got the call id back in its own wire shape. */
    cJSON *body = seen_body(&f);
    char *printed = cJSON_PrintUnformatted(body);
    assert_non_null(strstr(printed, call->tool_calls[0].id));
    assert_non_null(strstr(printed, strcmp(provider, "openai") == 0 ? "\"tool_call_id\""
                                                                   : "\"tool_use_id\""));
    free(printed);
    cJSON_Delete(body);
    llm_result_free(call);
    llm_result_free(final);
    stop(&f);
}

static void a_tool_call_then_its_result_gives_the_final_text(void **state)
{
    (void)state;
    EVERY_WIRE(two_turns);
}

static void parallel(const char *provider, bool stream)
{
    struct fixture f;
    start(&f, provider, stream, NULL);
    struct llm_message m = {.role = "user", .content = "call get_weather and get_time"};
    struct llm_request req = {.messages = &m, .n_messages = 1, .tools = tools, .n_tools = 2};
    struct llm_result *res = run(&f, &req);
    expect_success(&f, res);
    assert_int_equal(res->n_tool_calls, 2);
    assert_string_equal(res->tool_calls[0].name, "get_weather");
    assert_string_equal(res->tool_calls[1].name, "get_time");
    assert_string_not_equal(res->tool_calls[0].id, res->tool_calls[1].id);
    expect_args_with(&res->tool_calls[0], "city");
    assert_string_equal(res->tool_calls[1].arguments, "{}");
    llm_result_free(res);
    /* Parallel calls switched off: one call. */
    req.has_parallel_tool_calls = true;
    req.parallel_tool_calls = false;
    res = run(&f, &req);
    expect_success(&f, res);
    assert_int_equal(res->n_tool_calls, 1);
    llm_result_free(res);
    stop(&f);
}

static void parallel_tool_calls_come_back_together(void **state)
{
    (void)state;
    EVERY_WIRE(parallel);
}

#define PERSON_SCHEMA                                                                   \
    "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\",\"minLength\":2}," \
    "\"age\":{\"type\":\"integer\",\"minimum\":0}},\"required\":[\"name\",\"age\"],"      \
    "\"additionalProperties\":false}"

static void structured(const char *provider, bool stream)
{
    /* The step checks the reply against the schema; FAIL_RESULT makes a
     * mismatch fail the result. */
    struct llm_step *step = NULL;
    assert_int_equal(llm_step_new_validate_schema(PERSON_SCHEMA, &step), LLM_OK);
    struct llm_pipeline *pl = NULL;
    struct llm_pipeline_options po = {.policy = LLM_PIPELINE_FAIL_RESULT};
    assert_int_equal(llm_pipeline_new(&po, &step, 1, &pl), LLM_OK);
    struct llm_engine_options eo = {.pipeline = pl};
    struct fixture f;
    start(&f, provider, stream, &eo);
    struct llm_message m = {.role = "user", .content = "Describe a person."};
    struct llm_request req = {
        .messages = &m, .n_messages = 1,
        .response_format = {.type = LLM_RESPONSE_JSON_SCHEMA, .name = "person",
                            .schema_json = PERSON_SCHEMA, .strict = true}};
    struct llm_result *res = run(&f, &req);
    expect_success(&f, res);
    assert_string_equal(res->content, "{\"name\":\"xx\",\"age\":1}");
    assert_int_equal(res->n_pipeline, 1);
    assert_true(res->pipeline[0].success);
    llm_result_free(res);
    /* A reply that does not fit the step's schema fails with its path:
     * ask for a schema whose instance lacks "age". */
    req.response_format.schema_json =
        "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"}},\"required\":[\"name\"]}";
    res = run(&f, &req);
    assert_false(res->success);
    assert_int_equal(res->error.type, LLM_ERR_PARSE);
    assert_non_null(strstr(res->error.message, "$: missing required property \"age\""));
    llm_result_free(res);
    stop(&f);
}

static void json_schema_output_passes_the_schema_step(void **state)
{
    (void)state;
    EVERY_WIRE(structured);
}

static void image(const char *provider, bool stream)
{
    struct fixture f;
    start(&f, provider, stream, NULL);
    struct llm_content_part parts[] = {
        {.type = LLM_PART_TEXT, .text = "What is in this picture?"},
        {.type = LLM_PART_IMAGE_BASE64, .data = "iVBORw0KGgo=", .media_type = "image/png"},
    };
    struct llm_message m = {.role = "user", .parts = parts, .n_parts = 2};
    struct llm_request req = {.messages = &m, .n_messages = 1};
    struct llm_result *res = run(&f, &req);
    expect_success(&f, res);
    /* The mock echoes the text parts. */
    assert_string_equal(res->content, "mock reply to: What is in this picture?");
    cJSON *body = seen_body(&f);
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(body, "messages"), 0), "content");
    const cJSON *img = cJSON_GetArrayItem(content, 1);
    assert_non_null(img);
    if (strcmp(provider, "openai") == 0) {
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(img, "type")->valuestring, "image_url");
        const cJSON *iu = cJSON_GetObjectItemCaseSensitive(img, "image_url");
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(iu, "url")->valuestring,
                            "data:image/png;base64,iVBORw0KGgo=");
    } else {
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(img, "type")->valuestring, "image");
        const cJSON *src = cJSON_GetObjectItemCaseSensitive(img, "source");
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(src, "type")->valuestring, "base64");
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(src, "media_type")->valuestring,
                            "image/png");
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(src, "data")->valuestring,
                            "iVBORw0KGgo=");
    }
    cJSON_Delete(body);
    llm_result_free(res);
    stop(&f);
}

static void an_image_part_reaches_the_server_in_the_wire_shape(void **state)
{
    (void)state;
    EVERY_WIRE(image);
}

static void headers_and_endpoint(const char *provider, bool stream)
{
    static const char *const defaults[] = {"X-Team: blue", "OpenAI-Project: proj_default"};
    struct llm_engine_options eo = {.headers = defaults, .n_headers = 2};
    struct fixture f;
    start(&f, provider, stream, &eo);
    /* A second engine on the same server, with the exact URL (and a query
     * string the library must keep) as endpoint_url. */
    char url[256];
    snprintf(url, sizeof(url), "%s%s", mocksrv_url(f.srv),
             strcmp(provider, "openai") == 0 ? "/v1/chat/completions?api-version=2024-10-21"
                                             : "/v1/messages?beta=true");
    struct llm_engine_options o2 = eo;
    o2.provider = provider;
    o2.endpoint_url = url;
    o2.base_url = "http://127.0.0.1:1"; /* ignored: endpoint_url wins */
    o2.api_key = "";
    o2.max_attempts = 1;
    o2.user_agent = "llmorch/" LLM_VERSION_STRING;
    struct llm_engine *e2 = NULL;
    assert_int_equal(llm_engine_new(&o2, &e2), LLM_OK);
    static const char *const mine[] = {"X-Request-Tag: 7", "OpenAI-Project: proj_mine"};
    struct llm_message m = {.role = "user", .content = "hi"};
    struct llm_request req = {.model = "test-model", .messages = &m, .n_messages = 1,
                              .headers = mine, .n_headers = 2, .stream = stream};
    struct llm_result *res = llm_generate(e2, &req);
    expect_success(&f, res);
    pthread_mutex_lock(&f.seen.mu);
    assert_string_equal(f.seen.path, strcmp(provider, "openai") == 0 ? "/v1/chat/completions"
                                                                     : "/v1/messages");
    assert_string_equal(f.seen.query, strcmp(provider, "openai") == 0 ? "api-version=2024-10-21"
                                                                      : "beta=true");
    assert_non_null(strstr(f.seen.headers, "X-Team: blue\n"));
    assert_non_null(strstr(f.seen.headers, "X-Request-Tag: 7\n"));
    /* The request's header replaced the engine's default of that name. */
    assert_non_null(strstr(f.seen.headers, "OpenAI-Project: proj_mine\n"));
    assert_null(strstr(f.seen.headers, "proj_default"));
    assert_non_null(strstr(f.seen.headers, "User-Agent: llmorch/" LLM_VERSION_STRING "\n"));
    pthread_mutex_unlock(&f.seen.mu);
    llm_result_free(res);
    llm_engine_free(e2);
    stop(&f);
}

static void extra_headers_and_the_exact_endpoint_url_reach_the_server(void **state)
{
    (void)state;
    EVERY_WIRE(headers_and_endpoint);
}

static void refusal(const char *provider, bool stream)
{
    struct fixture f;
    start(&f, provider, stream, NULL);
    struct llm_message m = {.role = "user", .content = "MOCK_REFUSE do something bad"};
    struct llm_request req = {.messages = &m, .n_messages = 1};
    struct llm_result *res = run(&f, &req);
    expect_success(&f, res);
    assert_non_null(res->refusal);
    if (strcmp(provider, "openai") == 0)
        assert_string_equal(res->refusal, "I'm sorry, but I can't help with that.");
    else
        assert_string_equal(res->finish_reason, "refusal");
    char *json = llm_result_to_json(res);
    assert_non_null(strstr(json, "\"refusal\":"));
    llm_free(json);
    llm_result_free(res);
    stop(&f);
}

static void a_refusal_is_reported(void **state)
{
    (void)state;
    EVERY_WIRE(refusal);
}

struct stopper {
    int events;
    int tool_events;
    int stop_after;
};

static int stop_cb(void *user, const struct llm_stream_event *ev)
{
    struct stopper *s = user;
    s->events++;
    if (ev->type == LLM_STREAM_TOOL_CALL)
        s->tool_events++;
    return s->events >= s->stop_after;
}

static void stop_from_callback(const char *provider, bool stream)
{
    if (!stream)
        return; /* events come from streams only */
    struct fixture f;
    start(&f, provider, stream, NULL);
    /* Text: stop at the first delta of a long reply. */
    struct llm_message m = {.role = "user", .content = "ECHO_LEN:5000"};
    struct stopper st = {.stop_after = 1};
    struct llm_request req = {.messages = &m, .n_messages = 1, .on_event = stop_cb,
                              .event_user = &st};
    struct llm_result *res = run(&f, &req);
    assert_false(res->success);
    assert_int_equal(res->error.type, LLM_ERR_CANCELLED);
    assert_int_equal(st.events, 1);
    assert_true(res->content_len > 0 && res->content_len < 5000);
    assert_int_equal(res->n_attempts, 1);
    llm_result_free(res);
    /* Tool calls: every event is seen until the callback says stop. */
    struct llm_message m2 = {.role = "user", .content = "use get_weather"};
    struct stopper all = {.stop_after = 1000};
    struct llm_request treq = {.messages = &m2, .n_messages = 1, .tools = tools, .n_tools = 2,
                               .on_event = stop_cb, .event_user = &all};
    res = run(&f, &treq);
    expect_success(&f, res);
    assert_true(all.tool_events >= 3); /* the start and several argument fragments */
    llm_result_free(res);
    struct stopper two = {.stop_after = 2};
    treq.event_user = &two;
    res = run(&f, &treq);
    assert_int_equal(res->error.type, LLM_ERR_CANCELLED);
    assert_int_equal(two.events, 2);
    assert_int_equal(res->n_tool_calls, 1); /* what arrived is kept */
    llm_result_free(res);
    stop(&f);
}

static void returning_stop_from_the_event_callback_cancels_the_request(void **state)
{
    (void)state;
    EVERY_WIRE(stop_from_callback);
}

/* The User-Agent header lines the server saw in the last request. */
static int seen_user_agents(struct fixture *f, char *first, size_t cap)
{
    pthread_mutex_lock(&f->seen.mu);
    int n = 0;
    first[0] = '\0';
    for (const char *l = f->seen.headers; l != NULL && *l != '\0'; l += strcspn(l, "\n") + 1) {
        if (strncasecmp(l, "User-Agent:", 11) == 0 && n++ == 0)
            snprintf(first, cap, "%.*s", (int)strcspn(l, "\n"), l);
        if (l[strcspn(l, "\n")] == '\0')
            break;
    }
    pthread_mutex_unlock(&f->seen.mu);
    return n;
}

/* engine user_agent: sent as given when set, once; a request's own
 * User-Agent header replaces it; unset, no User-Agent at all (libcurl's
 * default); CR/LF in it is refused at engine creation. */
static void user_agent_is_sent_only_when_configured(void **state)
{
    (void)state;
    struct llm_engine_options eo = {.user_agent = "acme-batch/1.2 llmorch/" LLM_VERSION_STRING};
    struct fixture f;
    char ua[256];
    start(&f, "openai", false, &eo);
    struct llm_message m = {.role = "user", .content = "hi"};
    struct llm_request req = {.messages = &m, .n_messages = 1};
    struct llm_result *res = run(&f, &req);
    expect_success(&f, res);
    llm_result_free(res);
    assert_int_equal(seen_user_agents(&f, ua, sizeof(ua)), 1);
    assert_string_equal(ua, "User-Agent: acme-batch/1.2 llmorch/" LLM_VERSION_STRING);
    static const char *const mine[] = {"user-agent: mine/7"};
    req.headers = mine;
    req.n_headers = 1;
    res = run(&f, &req);
    expect_success(&f, res);
    llm_result_free(res);
    assert_int_equal(seen_user_agents(&f, ua, sizeof(ua)), 1);
    assert_true(strcasecmp(ua, "User-Agent: mine/7") == 0);
    stop(&f);

    start(&f, "anthropic", true, NULL);
    req.headers = NULL;
    req.n_headers = 0;
    res = run(&f, &req);
    expect_success(&f, res);
    llm_result_free(res);
    assert_int_equal(seen_user_agents(&f, ua, sizeof(ua)), 0);
    stop(&f);

    struct llm_engine_options bad = {.provider = "openai", .base_url = "http://127.0.0.1:1",
                                     .api_key = "", .user_agent = "x/1\r\nX-Injected: 1"};
    struct llm_engine *e = NULL;
    char err[256] = "";
    assert_int_equal(llm_engine_new_ex(&bad, &e, err, sizeof(err)), LLM_ERR_INVALID_ARGUMENT);
    assert_null(e);
    assert_non_null(strstr(err, "user_agent"));
}

/* max_attempts, attempt_timeout_ms and keep_raw_response per request, on
 * an engine whose own settings differ; faults come from the mock's
 * x-mock-fault header, sent as a request header. */
static void per_request_overrides_win_over_the_engine_options(void **state)
{
    (void)state;
    struct mocksrv *srv = NULL;
    struct mocksrv_options mo = {.stall_ms = 20000};
    assert_int_equal(mocksrv_start(&mo, &srv), 0);
    struct llm_engine_options o = {.provider = "openai", .base_url = mocksrv_url(srv),
                                   .api_key = "", .max_attempts = 3, .base_backoff_ms = 1,
                                   .max_backoff_ms = 2};
    struct llm_engine *e = NULL;
    assert_int_equal(llm_engine_new(&o, &e), LLM_OK);
    static const char *const fail500[] = {"x-mock-fault: 500"};
    struct llm_message m = {.role = "user", .content = "hi"};
    struct llm_request req = {.model = "m", .messages = &m, .n_messages = 1,
                              .headers = fail500, .n_headers = 1};
    struct llm_result *res = llm_generate(e, &req);
    assert_int_equal(res->error.type, LLM_ERR_SERVER_ERROR);
    assert_int_equal(res->n_attempts, 3); /* the engine's */
    llm_result_free(res);
    req.max_attempts = 1;
    res = llm_generate(e, &req);
    assert_int_equal(res->error.type, LLM_ERR_SERVER_ERROR);
    assert_int_equal(res->n_attempts, 1); /* the request's */
    llm_result_free(res);

    /* A stalled server: the request's attempt timeout, not the engine's
     * ten minutes, ends it. */
    static const char *const stall[] = {"x-mock-fault: stall"};
    req.headers = stall;
    req.attempt_timeout_ms = 300;
    res = llm_generate(e, &req);
    assert_int_equal(res->error.type, LLM_ERR_TIMEOUT);
    llm_result_free(res);

    /* The raw body only when asked for. */
    struct llm_request ok = {.model = "m", .messages = &m, .n_messages = 1};
    res = llm_generate(e, &ok);
    assert_true(res->success);
    assert_null(res->raw_response);
    llm_result_free(res);
    ok.keep_raw_response = 1;
    res = llm_generate(e, &ok);
    assert_true(res->success);
    assert_non_null(res->raw_response);
    assert_non_null(strstr(res->raw_response, "mock reply to: hi"));
    llm_result_free(res);
    llm_engine_free(e);
    mocksrv_stop(srv);
}

/* The proxy option: a request for a host that does not exist reaches the
 * mock server acting as the HTTP proxy, which (not being one) answers 404
 * naming the absolute URL it was asked for. */
static void requests_go_through_the_configured_proxy(void **state)
{
    (void)state;
    struct mocksrv *srv = NULL;
    struct mocksrv_options mo = {0};
    assert_int_equal(mocksrv_start(&mo, &srv), 0);
    struct llm_engine_options o = {.provider = "openai", .base_url = "http://llmorch-test.invalid",
                                   .proxy = mocksrv_url(srv), .api_key = "", .max_attempts = 1};
    struct llm_engine *e = NULL;
    assert_int_equal(llm_engine_new(&o, &e), LLM_OK);
    struct llm_message m = {.role = "user", .content = "hi"};
    struct llm_request req = {.model = "m", .messages = &m, .n_messages = 1};
    struct llm_result *res = llm_generate(e, &req);
    assert_int_equal(res->error.http_status, 404);
    assert_non_null(strstr(res->error.message, "http://llmorch-test.invalid/v1/chat/completions"));
    llm_result_free(res);
    llm_engine_free(e);
    /* CR/LF in an option is refused at creation. */
    o.proxy = "http://a\r\nb";
    assert_int_equal(llm_engine_new(&o, &e), LLM_ERR_INVALID_ARGUMENT);
    static const char *const bad[] = {"X-Bad: a\nInjected: b"};
    o.proxy = NULL;
    o.headers = bad;
    o.n_headers = 1;
    assert_int_equal(llm_engine_new(&o, &e), LLM_ERR_INVALID_ARGUMENT);
    mocksrv_stop(srv);
}

/* One request to a closed port (127.0.0.1:1): 404 naming its absolute URL
 * if it went through the mock server acting as the proxy, a connection
 * error if it went direct. */
static enum llm_error via_env(const struct llm_engine_options *o, int *status)
{
    struct llm_engine *e = NULL;
    assert_int_equal(llm_engine_new(o, &e), LLM_OK);
    struct llm_message m = {.role = "user", .content = "hi"};
    struct llm_request req = {.model = "m", .messages = &m, .n_messages = 1};
    struct llm_result *res = llm_generate(e, &req);
    enum llm_error err = res->error.type;
    *status = res->error.http_status;
    if (*status == 404)
        assert_non_null(strstr(res->error.message, "http://127.0.0.1:1/v1/chat/completions"));
    llm_result_free(res);
    llm_engine_free(e);
    return err;
}

/* Without the proxy option the environment decides, read when the engine
 * is made with libcurl's rules (the transport reads it once instead of
 * libcurl at every transfer). */
static void the_proxy_environment_is_read_by_libcurl_rules(void **state)
{
    (void)state;
    static const char *const vars[] = {"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY",
                                       "all_proxy",  "ALL_PROXY",  "no_proxy",    "NO_PROXY"};
    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
        unsetenv(vars[i]);
    struct mocksrv *srv = NULL;
    struct mocksrv_options mo = {0};
    assert_int_equal(mocksrv_start(&mo, &srv), 0);
    struct llm_engine_options o = {.provider = "openai", .base_url = "http://127.0.0.1:1",
                                   .api_key = "", .max_attempts = 1};
    int status = 0;
    /* Nothing set: direct (the port is closed). */
    assert_int_equal(via_env(&o, &status), LLM_ERR_CONNECTION);
    /* http_proxy: through it. */
    setenv("http_proxy", mocksrv_url(srv), 1);
    assert_int_equal(via_env(&o, &status), LLM_ERR_NOT_FOUND);
    assert_int_equal(status, 404);
    /* no_proxy naming the host: direct again; and NO_PROXY alike. */
    setenv("no_proxy", "127.0.0.1", 1);
    assert_int_equal(via_env(&o, &status), LLM_ERR_CONNECTION);
    unsetenv("no_proxy");
    setenv("NO_PROXY", "example.com,127.0.0.1", 1);
    assert_int_equal(via_env(&o, &status), LLM_ERR_CONNECTION);
    unsetenv("NO_PROXY");
    /* The proxy option wins over the environment; "" means none. */
    o.proxy = "";
    assert_int_equal(via_env(&o, &status), LLM_ERR_CONNECTION);
    o.proxy = NULL;
    /* Uppercase HTTP_PROXY is not read for http:// (libcurl's rule: CGI
     * lets a client set it through a "Proxy:" header). */
    unsetenv("http_proxy");
    setenv("HTTP_PROXY", mocksrv_url(srv), 1);
    assert_int_equal(via_env(&o, &status), LLM_ERR_CONNECTION);
    unsetenv("HTTP_PROXY");
    /* all_proxy / ALL_PROXY serve any scheme; an empty variable is unset. */
    setenv("http_proxy", "", 1);
    setenv("ALL_PROXY", mocksrv_url(srv), 1);
    assert_int_equal(via_env(&o, &status), LLM_ERR_NOT_FOUND);
    assert_int_equal(status, 404);
    /* Read when the engine is made: a change afterwards is not seen. */
    struct llm_engine *e = NULL;
    assert_int_equal(llm_engine_new(&o, &e), LLM_OK);
    unsetenv("ALL_PROXY");
    unsetenv("http_proxy");
    struct llm_message m = {.role = "user", .content = "hi"};
    struct llm_request req = {.model = "m", .messages = &m, .n_messages = 1};
    struct llm_result *res = llm_generate(e, &req);
    assert_int_equal(res->error.http_status, 404);
    llm_result_free(res);
    llm_engine_free(e);
    mocksrv_stop(srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_tool_call_then_its_result_gives_the_final_text),
        cmocka_unit_test(parallel_tool_calls_come_back_together),
        cmocka_unit_test(json_schema_output_passes_the_schema_step),
        cmocka_unit_test(an_image_part_reaches_the_server_in_the_wire_shape),
        cmocka_unit_test(extra_headers_and_the_exact_endpoint_url_reach_the_server),
        cmocka_unit_test(a_refusal_is_reported),
        cmocka_unit_test(returning_stop_from_the_event_callback_cancels_the_request),
        cmocka_unit_test(user_agent_is_sent_only_when_configured),
        cmocka_unit_test(per_request_overrides_win_over_the_engine_options),
        cmocka_unit_test(requests_go_through_the_configured_proxy),
        cmocka_unit_test(the_proxy_environment_is_read_by_libcurl_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
