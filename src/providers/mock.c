/* The in-process mock provider: an inner OpenAI provider (it builds the
 * request, parses and classifies replies) plus a reply source for the
 * engine's local transport (llm__mock_reply), which produces OpenAI-format
 * bodies (plain or SSE) by script.  So a mock request takes the same
 * attempt path, parsing and error paths as a real one; only curl is
 * replaced. */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/util.h"
#include "llmorch/ext/provider.h"
#include "llmorch/mock.h"
#include "providers/mock_reply.h"

enum outcome_kind { OUT_OK, OUT_STATUS, OUT_QUOTA, OUT_REGION, OUT_CONTEXT, OUT_FILTER,
                    OUT_TRANSPORT, OUT_MALFORMED };

struct outcome {
    enum outcome_kind kind;
    int status;
    enum llm_error transport;
};

struct mock_impl {
    struct llm_provider *inner;      /* openai, for parsing/classifying */
    struct outcome *script;
    size_t n_script;
    char *reply;
    int64_t latency_ms;
    int64_t retry_after_ms;
};

#define MAX_SCRIPT 256
#define REPLY_PROMPT_MAX 200

static bool parse_token(const char *tok, struct outcome *o)
{
    static const struct { const char *name; struct outcome o; } names[] = {
        {"ok", {OUT_OK, 200, LLM_OK}},
        {"insufficient_quota", {OUT_QUOTA, 429, LLM_OK}},
        {"unsupported_region", {OUT_REGION, 403, LLM_OK}},
        {"region", {OUT_REGION, 403, LLM_OK}},
        {"context_length_exceeded", {OUT_CONTEXT, 400, LLM_OK}},
        {"content_filter", {OUT_FILTER, 400, LLM_OK}},
        {"CONTENT_FILTERED", {OUT_FILTER, 400, LLM_OK}},
        {"malformed_json", {OUT_MALFORMED, 200, LLM_OK}},
        {"PARSE", {OUT_MALFORMED, 200, LLM_OK}},
        {"timeout", {OUT_TRANSPORT, 0, LLM_ERR_TIMEOUT}},
        {"connection", {OUT_TRANSPORT, 0, LLM_ERR_CONNECTION}},
        {"reset", {OUT_TRANSPORT, 0, LLM_ERR_CONNECTION}},
        {"RATE_LIMITED", {OUT_STATUS, 429, LLM_OK}},
        {"AUTHENTICATION", {OUT_STATUS, 401, LLM_OK}},
        {"PERMISSION_DENIED", {OUT_STATUS, 403, LLM_OK}},
        {"NOT_FOUND", {OUT_STATUS, 404, LLM_OK}},
        {"INVALID_REQUEST", {OUT_STATUS, 400, LLM_OK}},
        {"OVERLOADED", {OUT_STATUS, 529, LLM_OK}},
        {"SERVER_ERROR", {OUT_STATUS, 500, LLM_OK}},
    };
    /* Case-insensitive: "ok" and "OK", "timeout" and "TIMEOUT" alike. */
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcasecmp(tok, names[i].name) == 0) {
            *o = names[i].o;
            return true;
        }
    char *end;
    long st = strtol(tok, &end, 10);
    if (*tok && *end == '\0' && st >= 100 && st <= 599) {
        o->kind = st >= 200 && st < 300 ? OUT_OK : OUT_STATUS;
        o->status = (int)st;
        o->transport = LLM_OK;
        return true;
    }
    return false;
}

static enum llm_error parse_script(const char *s, struct mock_impl *m)
{
    if (!s || !*s)
        return LLM_OK;
    char *copy = llm__strdup(s);
    if (!copy)
        return LLM_ERR_OUT_OF_MEMORY;
    m->script = calloc(MAX_SCRIPT, sizeof(*m->script));
    if (!m->script) {
        free(copy);
        return LLM_ERR_OUT_OF_MEMORY;
    }
    enum llm_error rc = LLM_OK;
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (isspace((unsigned char)*tok))
            tok++;
        char *e = tok + strlen(tok);
        while (e > tok && isspace((unsigned char)e[-1]))
            *--e = '\0';
        if (m->n_script == MAX_SCRIPT || !parse_token(tok, &m->script[m->n_script])) {
            rc = LLM_ERR_INVALID_ARGUMENT;
            break;
        }
        m->n_script++;
    }
    free(copy);
    return rc;
}

static const struct mock_impl *impl(const struct llm_provider *p) { return p->impl; }

static enum llm_error mock_build(const struct llm_provider *p, const struct llm_request *req,
                                 const char *trace_id, struct llm_http_request *out)
{
    /* Never sent anywhere; built so the request path is exercised. */
    return impl(p)->inner->vtable->build_request(impl(p)->inner, req, trace_id, out);
}

static enum llm_error mock_parse(const struct llm_provider *p, const char *body, size_t len,
                                 struct llm_parsed *out)
{
    return impl(p)->inner->vtable->parse_response(impl(p)->inner, body, len, out);
}

static enum llm_error mock_parse_event(const struct llm_provider *p, const char *event,
                                       const char *data, size_t len, struct llm_parsed *acc)
{
    return impl(p)->inner->vtable->parse_stream_event(impl(p)->inner, event, data, len, acc);
}

static void mock_classify(const struct llm_provider *p, int status,
                          const struct llm_http_headers *h, const char *body, size_t len,
                          struct llm_error_info *out)
{
    impl(p)->inner->vtable->classify_error(impl(p)->inner, status, h, body, len, out);
}

static int64_t tokens_of(size_t bytes) { return (int64_t)((bytes + 3) / 4); }

static char *print_and_delete(cJSON *root)
{
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}

static char *error_body(const struct outcome *o)
{
    const char *msg = "mock error", *type = "server_error", *code = NULL;
    switch (o->kind) {
    case OUT_QUOTA:
        msg = "You exceeded your current quota, please check your plan and billing details.";
        type = code = "insufficient_quota";
        break;
    case OUT_REGION:
        msg = "Country, region, or territory not supported";
        type = "request_forbidden";
        code = "unsupported_country_region_territory";
        break;
    case OUT_CONTEXT:
        msg = "This model's maximum context length is 128000 tokens.";
        type = "invalid_request_error";
        code = "context_length_exceeded";
        break;
    case OUT_FILTER:
        msg = "The response was filtered due to the prompt triggering content management policy.";
        type = "invalid_request_error";
        code = "content_filter";
        break;
    default:
        switch (o->status) {
        case 429: msg = "Rate limit reached (mock)"; type = "requests"; code = "rate_limit_exceeded"; break;
        case 401: msg = "Incorrect API key provided (mock)"; type = "invalid_request_error"; code = "invalid_api_key"; break;
        case 403: msg = "Permission denied (mock)"; type = "permission_error"; break;
        case 404: msg = "The model does not exist (mock)"; type = "invalid_request_error"; code = "model_not_found"; break;
        case 400: msg = "Invalid request (mock)"; type = "invalid_request_error"; break;
        case 503: msg = "The server is overloaded (mock)"; type = "server_error"; break;
        case 529: msg = "Overloaded (mock)"; type = "overloaded_error"; break;
        default: break;
        }
    }
    cJSON *root = cJSON_CreateObject(), *err = cJSON_AddObjectToObject(root, "error");
    cJSON_AddStringToObject(err, "message", msg);
    cJSON_AddStringToObject(err, "type", type);
    cJSON_AddNullToObject(err, "param");
    if (code)
        cJSON_AddStringToObject(err, "code", code);
    else
        cJSON_AddNullToObject(err, "code");
    return print_and_delete(root);
}

static char *make_reply(const struct mock_impl *m, const struct llm_request *req)
{
    if (m->reply)
        return llm__strdup(m->reply);
    const char *last = "";
    for (size_t i = req->n_messages; i-- > 0;)
        if (strcmp(req->messages[i].role, "user") == 0 && req->messages[i].content != NULL) {
            last = req->messages[i].content;
            break;
        }
    size_t n = strlen(last);
    if (n > REPLY_PROMPT_MAX)
        n = REPLY_PROMPT_MAX;
    return llm__asprintf("mock reply to: %.*s", (int)n, last);
}

static void add_usage(cJSON *obj, int64_t in, int64_t out)
{
    cJSON *u = cJSON_AddObjectToObject(obj, "usage");
    cJSON_AddNumberToObject(u, "prompt_tokens", (double)in);
    cJSON_AddNumberToObject(u, "completion_tokens", (double)out);
    cJSON_AddNumberToObject(u, "total_tokens", (double)(in + out));
    cJSON_AddNumberToObject(cJSON_AddObjectToObject(u, "prompt_tokens_details"), "cached_tokens", 0);
    cJSON_AddNumberToObject(cJSON_AddObjectToObject(u, "completion_tokens_details"),
                            "reasoning_tokens", 0);
}

/* {"id":"chatcmpl-mock","object":object,"model":model,"choices":[]}, the
 * choices array in *choices. */
static cJSON *completion_root(const char *object, const char *model, cJSON **choices)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "id", "chatcmpl-mock");
    cJSON_AddStringToObject(root, "object", object);
    cJSON_AddStringToObject(root, "model", model);
    *choices = cJSON_AddArrayToObject(root, "choices");
    return root;
}

/* Append {"index":0, key: {["role":role,] ["content": text[0..len)]},
 * "finish_reason": finish or null} to `choices`. */
static void add_choice(cJSON *choices, const char *key, const char *role, const char *text,
                       size_t len, const char *finish)
{
    cJSON *ch = cJSON_CreateObject();
    cJSON_AddItemToArray(choices, ch);
    cJSON_AddNumberToObject(ch, "index", 0);
    cJSON *inner = cJSON_AddObjectToObject(ch, key);
    if (role)
        cJSON_AddStringToObject(inner, "role", role);
    if (text) {
        char *t = llm__strndup(text, len);
        cJSON_AddStringToObject(inner, "content", t ? t : "");
        free(t);
    }
    if (finish)
        cJSON_AddStringToObject(ch, "finish_reason", finish);
    else
        cJSON_AddNullToObject(ch, "finish_reason");
}

static char *chunk_json(const char *model, const char *text, size_t len, const char *finish)
{
    cJSON *choices;
    cJSON *c = completion_root("chat.completion.chunk", model, &choices);
    add_choice(choices, "delta", NULL, text, len, finish);
    return print_and_delete(c);
}

static enum llm_error build_success(const struct llm_request *req, const char *reply,
                                    struct llm_local_response *out)
{
    int64_t in_tok = tokens_of(req->system ? strlen(req->system) : 0);
    for (size_t i = 0; i < req->n_messages; i++)
        in_tok += tokens_of(req->messages[i].content ? strlen(req->messages[i].content) : 0);
    size_t rlen = strlen(reply);
    const char *finish = "stop";
    if (req->max_tokens > 0 && tokens_of(rlen) > req->max_tokens) {
        rlen = (size_t)req->max_tokens * 4;
        finish = "length";
    }
    int64_t out_tok = tokens_of(rlen);
    struct llm__buf b = {0};
    enum llm_error rc = LLM_OK;
    if (!req->stream) {
        cJSON *choices;
        cJSON *root = completion_root("chat.completion", req->model, &choices);
        add_choice(choices, "message", "assistant", reply, rlen, finish);
        add_usage(root, in_tok, out_tok);
        char *s = print_and_delete(root);
        if (!s)
            return LLM_ERR_OUT_OF_MEMORY;
        out->body = s;
        out->body_len = strlen(s);
        return LLM_OK;
    }
    /* Streaming: a chunk per word, a finish chunk, a usage chunk, [DONE]. */
    size_t i = 0;
    while (i < rlen && rc == LLM_OK) {
        size_t j = i;
        while (j < rlen && reply[j] != ' ')
            j++;
        if (j < rlen)
            j++;
        char *c = chunk_json(req->model, reply + i, j - i, NULL);
        rc = c ? llm__buf_appendf(&b, "data: %s\n\n", c) : LLM_ERR_OUT_OF_MEMORY;
        free(c);
        i = j;
    }
    char *c = chunk_json(req->model, NULL, 0, finish);
    if (rc == LLM_OK)
        rc = c ? llm__buf_appendf(&b, "data: %s\n\n", c) : LLM_ERR_OUT_OF_MEMORY;
    free(c);
    cJSON *no_choices;
    cJSON *u = completion_root("chat.completion.chunk", req->model, &no_choices);
    add_usage(u, in_tok, out_tok);
    char *us = print_and_delete(u);
    if (rc == LLM_OK)
        rc = us ? llm__buf_appendf(&b, "data: %s\n\ndata: [DONE]\n\n", us) : LLM_ERR_OUT_OF_MEMORY;
    free(us);
    if (rc != LLM_OK) {
        llm__buf_free(&b);
        return rc;
    }
    out->body_len = b.len;
    out->body = llm__buf_steal(&b);
    return out->body ? LLM_OK : LLM_ERR_OUT_OF_MEMORY;
}

static enum llm_error mock_reply(const void *ctx, const struct llm_request *req, unsigned attempt,
                                 struct llm_local_response *out)
{
    const struct mock_impl *m = ctx;
    memset(out, 0, sizeof(*out));
    out->latency_ms = m->latency_ms;
    out->retry_after_ms = -1;
    struct outcome o = {OUT_OK, 200, LLM_OK};
    if (attempt >= 1 && attempt <= m->n_script)
        o = m->script[attempt - 1];
    switch (o.kind) {
    case OUT_OK: {
        out->status = o.status ? o.status : 200;
        char *reply = make_reply(m, req);
        if (!reply)
            return LLM_ERR_OUT_OF_MEMORY;
        enum llm_error rc = build_success(req, reply, out);
        free(reply);
        return rc;
    }
    case OUT_TRANSPORT:
        out->transport_error = o.transport;
        return LLM_OK;
    case OUT_MALFORMED:
        out->status = 200;
        out->body = llm__strdup(req->stream ? "data: {\"choices\": [{\"delta\": {\"content\": \"tr\n\n"
                                            : "{\"id\": \"chatcmpl-mock\", \"choices\": [");
        if (!out->body)
            return LLM_ERR_OUT_OF_MEMORY;
        out->body_len = strlen(out->body);
        return LLM_OK;
    default:
        out->status = o.status;
        out->body = error_body(&o);
        if (!out->body)
            return LLM_ERR_OUT_OF_MEMORY;
        out->body_len = strlen(out->body);
        if ((o.status == 429 && o.kind == OUT_STATUS) || o.status == 503)
            out->retry_after_ms = m->retry_after_ms > 0 ? m->retry_after_ms : -1;
        return LLM_OK;
    }
}

static void mock_destroy(struct llm_provider *p)
{
    struct mock_impl *m = p->impl;
    if (!m)
        return;
    llm_provider_free(m->inner);
    free(m->script);
    free(m->reply);
    free(m);
}

static const struct llm_provider_vtable mock_vtable = {
    .name = "mock",
    .build_request = mock_build,
    .parse_response = mock_parse,
    .parse_stream_event = mock_parse_event,
    .classify_error = mock_classify,
    .read_rate_limits = NULL,
    .request_id_header = NULL,
    .execute_local = NULL, /* replies come from the local transport: llm__mock_reply */
    .destroy = mock_destroy,
};

bool llm__mock_reply(const struct llm_provider *p, llm__local_reply_fn **reply,
                     const void **ctx)
{
    /* The vtable is a copy (llm_provider_new): recognise the mock by a slot. */
    if (p == NULL || p->vtable == NULL || p->vtable->destroy != mock_destroy)
        return false;
    *reply = mock_reply;
    *ctx = p->impl;
    return true;
}

enum llm_error llm_provider_new_mock(const struct llm_mock_options *opts, struct llm_provider **out)
{
    if (!out)
        return LLM_ERR_INVALID_ARGUMENT;
    *out = NULL;
    struct llm_mock_options zero = {0};
    if (!opts)
        opts = &zero;
    if (opts->latency_ms < 0 || opts->retry_after_ms < 0)
        return LLM_ERR_INVALID_ARGUMENT;
    struct llm_provider *p = NULL;
    struct mock_impl *m = calloc(1, sizeof(*m));
    if (!m)
        return LLM_ERR_OUT_OF_MEMORY;
    enum llm_error rc = llm_provider_new(&mock_vtable, m, &p);
    if (rc != LLM_OK) {
        free(m);
        return rc;
    }
    m->latency_ms = opts->latency_ms;
    m->retry_after_ms = opts->retry_after_ms;
    struct llm_provider_options po = {.base_url = "http://mock.invalid", .api_key = "",
                                      .trace_header = ""};
    rc = llm_provider_new_openai(&po, &m->inner);
    if (rc == LLM_OK && opts->reply && !(m->reply = llm__strdup(opts->reply)))
        rc = LLM_ERR_OUT_OF_MEMORY;
    if (rc == LLM_OK)
        rc = parse_script(opts->script, m);
    if (rc != LLM_OK) {
        llm_provider_free(p);
        return rc;
    }
    *out = p;
    return LLM_OK;
}
