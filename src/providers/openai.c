/* The OpenAI Chat Completions provider (POST /v1/chat/completions), also
 * used for every server that speaks the same wire format: vLLM, llama.cpp,
 * Ollama, LiteLLM, Azure-style proxies.  Builds and parses; no I/O. */
#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "llmorch/ext/provider.h"
#include "providers/openai.h"
#include "providers/openai_read.h"
#include "providers/ratelimit.h"
#include "providers/wire.h"
#include "transport/headers.h"

#define DEFAULT_BASE_URL "https://api.openai.com"
#define DEFAULT_KEY_ENV "OPENAI_API_KEY"
#define DEFAULT_TRACE_HEADER "X-Client-Request-Id"

struct openai_impl {
    struct llm__endpoint ep; /* first (llm__http_provider_new); no key: send no
                                Authorization (local servers) */
};
_Static_assert(offsetof(struct openai_impl, ep) == 0, "llm__http_provider_new fills the first member");

static const struct openai_impl *impl_of(const struct llm_provider *p)
{
    return p->impl;
}

/* ---- request ------------------------------------------------------------------ */

/* The request body into out->body / out->body_len (malloc'd, as
 * llm_http_request_clear expects); on error nothing is allocated.
 *
 * Written straight into one buffer (base/jsonout.h), not built as a cJSON
 * tree: that cost an allocation per node and a second pass to print, on
 * every request.  The bytes MUST stay the ones the tree printed (hosts may
 * key caches on them); tests/unit/test_jsonout.c compares them with a copy
 * of the cJSON builder. */
/* Content parts as OpenAI's array: text parts, and images as image_url
 * (base64 data as a data: URL, the only way Chat Completions takes it). */
static void put_parts(struct llm__jo *w, const struct llm_message *m)
{
    llm__jo_array_begin(w);
    for (size_t k = 0; k < m->n_parts; k++) {
        const struct llm_content_part *pt = &m->parts[k];
        llm__jo_object_begin(w);
        llm__jo_key_lit(w, "type");
        if (pt->type == LLM_PART_TEXT) {
            llm__jo_string(w, "text");
            llm__jo_key_lit(w, "text");
            llm__jo_string(w, pt->text);
        } else {
            llm__jo_string(w, "image_url");
            llm__jo_key_lit(w, "image_url");
            llm__jo_object_begin(w);
            llm__jo_key_lit(w, "url");
            llm__put_image_url(w, pt);
            if (pt->detail != NULL) {
                llm__jo_key_lit(w, "detail");
                llm__jo_string(w, pt->detail);
            }
            llm__jo_object_end(w);
        }
        llm__jo_object_end(w);
    }
    llm__jo_array_end(w);
}

/* One message.  A plain text turn keeps the historical two-member shape
 * (the body bytes of such requests are pinned by test_jsonout.c). */
static void put_message(struct llm__body *b, const struct llm_message *m)
{
    struct llm__jo *w = &b->w;
    if (m->n_parts == 0 && m->n_tool_calls == 0 && m->tool_call_id == NULL) {
        llm__put_message(w, m->role, m->content);
        return;
    }
    llm__jo_object_begin(w);
    llm__jo_key_lit(w, "role");
    llm__jo_string(w, m->role);
    if (m->tool_call_id != NULL) {
        llm__jo_key_lit(w, "tool_call_id");
        llm__jo_string(w, m->tool_call_id);
    }
    llm__jo_key_lit(w, "content");
    if (m->n_parts > 0)
        put_parts(w, m);
    else
        llm__jo_string(w, m->content); /* NULL: null, as the SDK sends */
    if (m->n_tool_calls > 0) {
        llm__jo_key_lit(w, "tool_calls");
        llm__jo_array_begin(w);
        for (size_t k = 0; k < m->n_tool_calls; k++) {
            const struct llm_tool_call *c = &m->tool_calls[k];
            llm__jo_object_begin(w);
            llm__jo_key_lit(w, "id");
            llm__jo_string(w, c->id);
            llm__jo_key_lit(w, "type");
            llm__jo_string(w, "function");
            llm__jo_key_lit(w, "function");
            llm__jo_object_begin(w);
            llm__jo_key_lit(w, "name");
            llm__jo_string(w, c->name);
            /* Arguments travel as JSON text inside a string. */
            llm__jo_key_lit(w, "arguments");
            llm__jo_string(w, c->arguments != NULL ? c->arguments : "{}");
            llm__jo_object_end(w);
            llm__jo_object_end(w);
        }
        llm__jo_array_end(w);
    }
    llm__jo_object_end(w);
}

/* tools, tool_choice, parallel_tool_calls, response_format. */
static void put_tools_and_format(struct llm__body *b, const struct llm_request *req)
{
    struct llm__jo *w = &b->w;
    if (req->n_tools > 0 && llm__extra_member_lit(&b->x, w, "tools")) {
        llm__body_put_function_tools(b, req, true);
    }
    static const char *const choice_words[] = {
        [LLM_TOOL_CHOICE_AUTO] = "auto",
        [LLM_TOOL_CHOICE_NONE] = "none",
        [LLM_TOOL_CHOICE_REQUIRED] = "required",
    };
    /* The API refuses tool_choice without tools. */
    if (req->tool_choice != LLM_TOOL_CHOICE_DEFAULT && req->n_tools > 0 &&
        llm__extra_member_lit(&b->x, w, "tool_choice")) {
        if (req->tool_choice == LLM_TOOL_CHOICE_NAMED) {
            llm__jo_object_begin(w);
            llm__jo_key_lit(w, "type");
            llm__jo_string(w, "function");
            llm__jo_key_lit(w, "function");
            llm__jo_object_begin(w);
            llm__jo_key_lit(w, "name");
            llm__jo_string(w, req->tool_choice_name);
            llm__jo_object_end(w);
            llm__jo_object_end(w);
        } else {
            unsigned c = (unsigned)req->tool_choice;
            llm__jo_string(w, c < sizeof(choice_words) / sizeof(choice_words[0]) &&
                                      choice_words[c] != NULL
                                  ? choice_words[c]
                                  : "auto");
        }
    }
    if (req->has_parallel_tool_calls && req->n_tools > 0 &&
        llm__extra_member_lit(&b->x, w, "parallel_tool_calls"))
        llm__jo_bool(w, req->parallel_tool_calls);
    const struct llm_response_format *f = &req->response_format;
    if (f->type != LLM_RESPONSE_TEXT && llm__extra_member_lit(&b->x, w, "response_format")) {
        llm__jo_object_begin(w);
        llm__jo_key_lit(w, "type");
        if (f->type == LLM_RESPONSE_JSON_SCHEMA) {
            llm__jo_string(w, "json_schema");
            llm__jo_key_lit(w, "json_schema");
            llm__jo_object_begin(w);
            llm__jo_key_lit(w, "name");
            llm__jo_string(w, f->name);
            llm__jo_key_lit(w, "strict");
            llm__jo_bool(w, f->strict);
            llm__jo_key_lit(w, "schema");
            llm__body_put_json_text(b, f->schema_json, "{}");
            llm__jo_object_end(w);
        } else {
            llm__jo_string(w, "json_object");
        }
        llm__jo_object_end(w);
    }
}

enum llm_error llm__openai_build_body(const struct llm_request *req, const char *model,
                                     struct llm_http_request *out)
{
    struct llm__body b;
    enum llm_error err = llm__body_begin(&b, req);
    if (err != LLM_OK)
        return err;
    if (llm__extra_member_lit(&b.x, &b.w, "model"))
        llm__jo_string(&b.w, model != NULL ? model : req->model);
    if (llm__extra_member_lit(&b.x, &b.w, "messages")) {
        llm__jo_array_begin(&b.w);
        if (req->system != NULL && req->system[0] != '\0')
            llm__put_message(&b.w, "system", req->system);
        for (size_t i = 0; i < req->n_messages; i++)
            put_message(&b, &req->messages[i]);
        llm__jo_array_end(&b.w);
    }
    if (req->max_tokens > 0 && llm__extra_member_lit(&b.x, &b.w, "max_tokens"))
        llm__jo_int(&b.w, req->max_tokens);
    if (req->max_completion_tokens > 0 &&
        llm__extra_member_lit(&b.x, &b.w, "max_completion_tokens"))
        llm__jo_int(&b.w, req->max_completion_tokens);
    llm__body_put_sampling(&b, req, "stop");
    if (req->stream) {
        /* include_usage: without it a streamed reply carries no token
         * counts, and usage feeds the TPM gate and the cost. */
        if (llm__extra_member_lit(&b.x, &b.w, "stream"))
            llm__jo_bool(&b.w, true);
        if (llm__extra_member_lit(&b.x, &b.w, "stream_options")) {
            llm__jo_object_begin(&b.w);
            llm__jo_key_lit(&b.w, "include_usage");
            llm__jo_bool(&b.w, true);
            llm__jo_object_end(&b.w);
        }
    }
    put_tools_and_format(&b, req);
    return llm__body_end(&b, out);
}

static enum llm_error openai_build_request(const struct llm_provider *p,
                                           const struct llm_request *req, const char *trace_id,
                                           struct llm_http_request *out)
{
    const struct openai_impl *m = impl_of(p);
    memset(out, 0, sizeof(*out));
    enum llm_error err = llm__openai_build_body(req, NULL, out);
    if (err != LLM_OK)
        return err;
    err = llm__endpoint_begin(&m->ep, trace_id, out);
    if (err == LLM_OK)
        err = llm__http_request_add_header_lit(out, "Content-Type", "application/json");
    if (err == LLM_OK && m->ep.api_key != NULL) {
        err = llm__add_bearer(out, m->ep.api_key);
    }
    return llm__request_built(out, err);
}

/* ---- error classification -------------------------------------------------------- */

/* OpenAI's verdicts, status first (see LLM__STATUS_RULES).  The rows
 * before the status rows refine a status by the error code OpenAI
 * documents with it (400 context_length_exceeded / content_policy_violation,
 * 403 unsupported_country_region_territory, 429 insufficient_quota); the
 * rows after them classify an error found inside a 2xx body or a stream,
 * where there is no status.  Codes and types are matched both against
 * error.code and error.type (insufficient_quota appears as either). */
static const struct llm__error_rule openai_rules[] = {
    {400, 400, "context_length_exceeded", NULL, LLM_ERR_CONTEXT_LENGTH_EXCEEDED},
    {400, 400, "content_filter", NULL, LLM_ERR_CONTENT_FILTERED},
    {400, 400, "content_policy_violation", NULL, LLM_ERR_CONTENT_FILTERED},
    {403, 403, "unsupported_country_region_territory", NULL, LLM_ERR_UNSUPPORTED_REGION},
    {429, 429, "insufficient_quota", NULL, LLM_ERR_INSUFFICIENT_QUOTA},
    LLM__STATUS_RULES,
    /* No HTTP status: the code decides, else the type.  The precise codes
     * come first: OpenAI's bad-key error is
     * {"type":"invalid_request_error","code":"invalid_api_key"}, and
     * servers that stream their errors (mock-llm) send it in a 200. */
    {LLM__ANY_STATUS, "context_length_exceeded", NULL, LLM_ERR_CONTEXT_LENGTH_EXCEEDED},
    {LLM__ANY_STATUS, "content_filter", NULL, LLM_ERR_CONTENT_FILTERED},
    {LLM__ANY_STATUS, "content_policy_violation", NULL, LLM_ERR_CONTENT_FILTERED},
    {LLM__ANY_STATUS, "unsupported_country_region_territory", NULL,
     LLM_ERR_UNSUPPORTED_REGION},
    {LLM__ANY_STATUS, "insufficient_quota", NULL, LLM_ERR_INSUFFICIENT_QUOTA},
    {LLM__ANY_STATUS, "invalid_api_key", NULL, LLM_ERR_AUTHENTICATION},
    {LLM__ANY_STATUS, "model_not_found", NULL, LLM_ERR_NOT_FOUND},
    {LLM__ANY_STATUS, "rate_limit_exceeded", NULL, LLM_ERR_RATE_LIMITED},
    {LLM__ANY_STATUS, "invalid_request_error", NULL, LLM_ERR_INVALID_REQUEST},
    {LLM__ANY_STATUS, "authentication_error", NULL, LLM_ERR_AUTHENTICATION},
    {LLM__ANY_STATUS, "permission_error", NULL, LLM_ERR_PERMISSION_DENIED},
    {LLM__ANY_STATUS, "not_found_error", NULL, LLM_ERR_NOT_FOUND},
    {LLM__ANY_STATUS, "rate_limit_error", NULL, LLM_ERR_RATE_LIMITED},
    {LLM__ANY_STATUS, "overloaded_error", NULL, LLM_ERR_OVERLOADED},
    {LLM__ANY_STATUS, "server_error", NULL, LLM_ERR_SERVER_ERROR},
    {LLM__ANY_STATUS, NULL, NULL, LLM_ERR_SERVER_ERROR},
};

#define N_OPENAI_RULES (sizeof(openai_rules) / sizeof(openai_rules[0]))

void llm__openai_classify_error(const struct llm_provider *p, int status,
                                  const struct llm_http_headers *headers, const char *body,
                                  size_t len, struct llm_error_info *out)
{
    llm__classify_http_error(openai_rules, N_OPENAI_RULES, status, headers, body, len, out);
}

/* ---- responses ------------------------------------------------------------------- */

static void read_usage(const cJSON *u, struct llm_usage *usage)
{
    if (!cJSON_IsObject(u))
        return; /* streams send "usage": null on every chunk but the last */
    llm__json_count(u, "prompt_tokens", &usage->input_tokens);
    llm__json_count(u, "completion_tokens", &usage->output_tokens);
    llm__json_count(llm__json_object(u, "prompt_tokens_details"), "cached_tokens",
                    &usage->cached_input_tokens);
    llm__json_count(llm__json_object(u, "completion_tokens_details"), "reasoning_tokens",
                    &usage->reasoning_tokens);
    usage->known = true;
}

/* The choice with "index": 0, else the first (n > 1 is not requested, but
 * servers are free to order choices as they like). */
static const cJSON *first_choice(const cJSON *root)
{
    const cJSON *choices = cJSON_GetObjectItemCaseSensitive(root, "choices");
    if (!cJSON_IsArray(choices))
        return NULL;
    const cJSON *c;
    cJSON_ArrayForEach(c, choices) {
        const cJSON *idx = cJSON_GetObjectItemCaseSensitive(c, "index");
        if (cJSON_IsNumber(idx) && idx->valuedouble == 0)
            return c;
    }
    return cJSON_GetArrayItem(choices, 0);
}

/* Append message or delta content: a string, null/absent (nothing: a
 * tool call or a refusal), or an array of content parts whose "text" parts
 * some compatible servers send.  False if it is something else. */
static bool content_ok(const cJSON *content)
{
    return content == NULL || cJSON_IsNull(content) || cJSON_IsString(content) ||
           cJSON_IsArray(content);
}

static enum llm_error append_content(struct llm_parsed *out, const cJSON *content)
{
    if (cJSON_IsString(content))
        return llm_parsed_append(out, content->valuestring, strlen(content->valuestring));
    if (cJSON_IsArray(content)) {
        const cJSON *part;
        cJSON_ArrayForEach(part, content) {
            const char *type = llm__json_string(part, "type");
            const char *text = llm__json_string(part, "text");
            if (text != NULL && (type == NULL || strcmp(type, "text") == 0)) {
                enum llm_error err = llm_parsed_append(out, text, strlen(text));
                if (err != LLM_OK)
                    return err;
            }
        }
    }
    return LLM_OK;
}

/* message.tool_calls (whole calls) or delta.tool_calls (pieces keyed by
 * "index": the first piece of a call brings id and name, later ones
 * argument fragments).  Legacy function_call replies are not read. */
static enum llm_error read_tool_calls(const cJSON *msg, bool stream, struct llm_parsed *out)
{
    const cJSON *calls = cJSON_GetObjectItemCaseSensitive(msg, "tool_calls");
    if (!cJSON_IsArray(calls))
        return LLM_OK; /* absent or null */
    const cJSON *c;
    int64_t pos = 0;
    cJSON_ArrayForEach(c, calls) {
        if (!cJSON_IsObject(c))
            continue;
        int64_t index = pos++;
        if (stream) {
            const cJSON *idx = cJSON_GetObjectItemCaseSensitive(c, "index");
            /* A chunk without an index continues the last call. */
            index = cJSON_IsNumber(idx) && idx->valuedouble >= 0 && idx->valuedouble < 1e6
                        ? (int64_t)idx->valuedouble
                        : (out->n_tool_calls > 0
                               ? out->tool_calls[out->n_tool_calls - 1].wire_index
                               : 0);
        }
        struct llm_parsed_tool_call *call;
        enum llm_error err = llm_parsed_tool_call(out, index, &call);
        if (err == LLM_ERR_PARSE)
            return llm__parse_failure(out, "too many tool calls in reply", NULL, 0);
        if (err != LLM_OK)
            return err;
        const cJSON *fn = llm__json_object(c, "function");
        const char *args = llm__json_string(fn, "arguments");
        err = llm__parsed_update(&call->id, llm__json_string(c, "id"));
        if (err == LLM_OK)
            err = llm__parsed_update(&call->name, llm__json_string(fn, "name"));
        if (err == LLM_OK && args != NULL)
            err = llm__parsed_tool_append(out, call, args, strlen(args));
        if (err != LLM_OK)
            return err;
    }
    return LLM_OK;
}

/* message.refusal (whole) or delta.refusal (a fragment). */
static enum llm_error read_refusal(const cJSON *msg, struct llm_parsed *out)
{
    const char *r = llm__json_string(msg, "refusal");
    return r != NULL ? llm_parsed_refusal_append(out, r, strlen(r)) : LLM_OK;
}

static enum llm_error read_common(const cJSON *root, struct llm_parsed *out)
{
    enum llm_error err = llm__parsed_update(&out->model, llm__json_string(root, "model"));
    if (err == LLM_OK)
        err = llm__parsed_update(&out->response_id, llm__json_string(root, "id"));
    if (err == LLM_OK)
        read_usage(cJSON_GetObjectItemCaseSensitive(root, "usage"), &out->usage);
    return err;
}

static enum llm_error read_response_tree(const char *body, size_t len, struct llm_parsed *out)
{
    cJSON *root = llm__json_parse(body, len);
    if (root == NULL)
        return llm__parse_failure(out, "invalid JSON in response body", body, len);

    enum llm_error err = LLM_OK;
    struct llm__wire_error we;
    const cJSON *choice, *message = NULL, *content = NULL;
    if (!cJSON_IsObject(root)) {
        err = llm__parse_failure(out, "response body is not a JSON object", body, len);
    } else if (llm__wire_error_find(root, &we)) {
        err = llm__parsed_set_wire_error(out, openai_rules, N_OPENAI_RULES, &we);
    } else if ((choice = first_choice(root)) == NULL) {
        err = llm__parse_failure(out, "no choices in response body", body, len);
    } else if ((message = llm__json_object(choice, "message")) == NULL ||
               !content_ok(content = cJSON_GetObjectItemCaseSensitive(message, "content"))) {
        err = llm__parse_failure(out, "no message content in response body", body, len);
    } else {
        /* A null content (tool calls, refusals) is an empty reply, and the
         * result's content is never NULL. */
        err = llm_parsed_append(out, "", 0);
        if (err == LLM_OK)
            err = append_content(out, content);
        if (err == LLM_OK)
            err = read_tool_calls(message, false, out);
        if (err == LLM_OK)
            err = read_refusal(message, out);
        if (err == LLM_OK)
            err = llm__parsed_update(&out->finish_reason,
                                     llm__json_string(choice, "finish_reason"));
        if (err == LLM_OK)
            err = read_common(root, out);
    }
    cJSON_Delete(root);
    return err;
}

static bool data_is(const char *data, size_t len, const char *word)
{
    while (len > 0 && (*data == ' ' || *data == '\t' || *data == '\r' || *data == '\n')) {
        data++;
        len--;
    }
    while (len > 0 && (data[len - 1] == ' ' || data[len - 1] == '\t' || data[len - 1] == '\r' ||
                       data[len - 1] == '\n'))
        len--;
    return len == strlen(word) && memcmp(data, word, len) == 0;
}

static enum llm_error read_stream_tree(const char *data, size_t len, struct llm_parsed *acc)
{
    cJSON *root = llm__json_parse(data, len);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return llm__parse_failure(acc, "invalid JSON in stream event", data, len);
    }
    enum llm_error err = LLM_OK;
    struct llm__wire_error we;
    if (llm__wire_error_find(root, &we)) {
        err = llm__parsed_set_wire_error(acc, openai_rules, N_OPENAI_RULES, &we);
    } else {
        /* The usage chunk has "choices": [] (some servers: null or none). */
        const cJSON *choice = first_choice(root);
        if (choice != NULL) {
            const cJSON *delta = llm__json_object(choice, "delta");
            const cJSON *content = cJSON_GetObjectItemCaseSensitive(delta, "content");
            if (!content_ok(content)) {
                err = llm__parse_failure(acc, "unexpected delta content in stream event", data,
                                         len);
            } else {
                err = append_content(acc, content);
                if (err == LLM_OK)
                    err = read_tool_calls(delta, true, acc);
                if (err == LLM_OK)
                    err = read_refusal(delta, acc);
                if (err == LLM_OK)
                    err = llm__parsed_update(&acc->finish_reason,
                                             llm__json_string(choice, "finish_reason"));
            }
        }
        if (err == LLM_OK)
            err = read_common(root, acc);
    }
    cJSON_Delete(root);
    return err;
}

enum llm_error llm__openai_read_tree(const char *body, size_t len, bool stream,
                                     struct llm_parsed *out)
{
    return stream ? read_stream_tree(body, len, out) : read_response_tree(body, len, out);
}

enum llm_error llm__openai_parse_response(const struct llm_provider *p, const char *body,
                                            size_t len, struct llm_parsed *out)
{
    if (body == NULL || len == 0) {
        enum llm_error err = llm_parsed_set_error(out, LLM_ERR_PARSE, NULL, "empty response body");
        return err == LLM_OK ? LLM_ERR_PARSE : err;
    }
    /* The common reply without a tree; anything else through cJSON. */
    int r = llm__openai_read_fast(body, len, false, out);
    enum llm_error err =
        r != LLM__READ_DECLINED ? (enum llm_error)r : read_response_tree(body, len, out);
    llm__parsed_settle_usage(out);
    return err;
}

enum llm_error llm__openai_parse_stream_event(const struct llm_provider *p, const char *event,
                                                const char *data, size_t len,
                                                struct llm_parsed *acc)
{
    /* After [DONE] the reply is complete: a delta or an error event that
     * follows it changes nothing. */
    if (acc->done || data == NULL || data_is(data, len, ""))
        return LLM_OK; /* or a keep-alive */
    if (data_is(data, len, "[DONE]")) {
        acc->done = true;
        llm__parsed_settle_usage(acc);
        return LLM_OK;
    }
    int r = llm__openai_read_fast(data, len, true, acc);
    return r != LLM__READ_DECLINED ? (enum llm_error)r : read_stream_tree(data, len, acc);
}

/* ---- rate limits ------------------------------------------------------------------ */

/* x-ratelimit-reset-* is a Go duration ("6m0s"); a bare number of seconds,
 * as some compatible proxies send, is accepted too. */
static int64_t parse_reset(const char *v)
{
    int64_t ms = llm__parse_go_duration_ms(v);
    if (ms >= 0 || v == NULL)
        return ms;
    char buf[40];
    size_t n = strlen(v);
    if (n == 0 || n >= sizeof(buf) - 1 || strspn(v, "0123456789. \t") != n)
        return -1;
    memcpy(buf, v, n);
    while (n > 0 && (buf[n - 1] == ' ' || buf[n - 1] == '\t'))
        n--;
    buf[n] = 's';
    buf[n + 1] = '\0';
    return llm__parse_go_duration_ms(buf);
}

static void set_if_valid(int64_t *slot, int64_t v)
{
    if (v >= 0)
        *slot = v;
}

void llm__openai_read_rate_limits(const struct llm_provider *p,
                                    const struct llm_http_headers *h,
                                    struct llm_rate_limit_info *out)
{
    /* One walk of the headers for the six (six lookups cost ~1,200
     * instructions per response, callgrind). */
    static const char *const names[6] = {"limit-requests", "remaining-requests",
                                         "reset-requests", "limit-tokens",
                                         "remaining-tokens", "reset-tokens"};
    const char *v[6];
    llm__http_headers_get_family(h, "x-ratelimit-", names, 6, v);
    set_if_valid(&out->limit_requests, llm__parse_header_int(v[0]));
    set_if_valid(&out->remaining_requests, llm__parse_header_int(v[1]));
    set_if_valid(&out->reset_requests_ms, parse_reset(v[2]));
    set_if_valid(&out->limit_tokens, llm__parse_header_int(v[3]));
    set_if_valid(&out->remaining_tokens, llm__parse_header_int(v[4]));
    set_if_valid(&out->reset_tokens_ms, parse_reset(v[5]));
}

/* ---- lifecycle --------------------------------------------------------------------- */

static const struct llm_provider_vtable openai_vtable = {
    .name = "openai",
    .build_request = openai_build_request,
    .parse_response = llm__openai_parse_response,
    .parse_stream_event = llm__openai_parse_stream_event,
    .classify_error = llm__openai_classify_error,
    .read_rate_limits = llm__openai_read_rate_limits,
    .request_id_header = "x-request-id",
    .execute_local = NULL,
    .destroy = llm__endpoint_provider_destroy,
};

enum llm_error llm_provider_new_openai(const struct llm_provider_options *opts,
                                       struct llm_provider **out)
{
    if (out == NULL)
        return LLM_ERR_INVALID_ARGUMENT;
    *out = NULL;
    const struct llm_provider_options zero = {0};
    if (opts == NULL)
        opts = &zero;

    const char *trace = opts->trace_header != NULL ? opts->trace_header : DEFAULT_TRACE_HEADER;

    return llm__http_provider_new(&openai_vtable, sizeof(struct openai_impl), opts,
                                  DEFAULT_BASE_URL, "chat/completions", DEFAULT_KEY_ENV, trace,
                                  out);
}
