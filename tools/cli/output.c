/* Batch output lines, in the OpenAI Batch API output format:
 *
 *   {"id": "batch_req_<trace id>", "custom_id": "...",
 *    "response": {"status_code": 200, "request_id": "...", "body": {...}},
 *    "error": null | {"code": "...", "message": "..."},
 *    "llmorch": <llm_result_to_json()>}
 *
 * `response.body` is the provider's own Chat Completions body when the
 * provider is OpenAI and the reply was not streamed, and otherwise a Chat
 * Completions body built from the result (so Anthropic, the mock provider
 * and streamed replies read the same: content, tool_calls, refusal, and
 * finish_reason in OpenAI's words).  A request that failed has `error`
 * set (code = the provider's error code, else the lower-cased error type)
 * and `response` holds the HTTP status and error body when the server
 * answered, or is null. */
#include "cli.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "base/jsonw.h"

static void lower_name(enum llm_error e, char *buf, size_t n)
{
    snprintf(buf, n, "%s", llm_error_name(e));
    for (char *p = buf; *p; p++)
        *p = (char)tolower((unsigned char)*p);
}

/* Every string from outside (a server's text, the input's custom_id) goes
 * through the library's JSON string writer (base/jsonw.h), which keeps
 * lines valid UTF-8 and NUL bytes as \u0000; cJSON_CreateString copies
 * bytes as they are and stops at a NUL. */
static cJSON *str_or_null(const char *s)
{
    return llm__jw_str_or_null(s);
}

static void add_str(cJSON *obj, const char *key, const char *s)
{
    cJSON_AddItemToObject(obj, key, str_or_null(s));
}

/* The provider's body when it is a JSON object we can reuse as is: cJSON
 * would print its strings back byte for byte, so not when it is not valid
 * UTF-8, nor when it escapes a NUL (cJSON would cut the string there); the
 * body is then built from the result instead. */
static cJSON *raw_body(const struct llm_result *res)
{
    if (res->raw_response == NULL || res->provider == NULL ||
        strcmp(res->provider, "openai") != 0 ||
        !llm__utf8_valid(res->raw_response, res->raw_response_len) ||
        memmem(res->raw_response, res->raw_response_len, "\\u0000", 6) != NULL)
        return NULL;
    cJSON *b = cJSON_ParseWithLength(res->raw_response, res->raw_response_len);
    if (b != NULL && !cJSON_IsObject(b)) {
        cJSON_Delete(b);
        return NULL;
    }
    return b;
}

/* The finish reason in OpenAI's words: Anthropic's tool_use / end_turn /
 * max_tokens / stop_sequence / refusal become tool_calls / stop / length /
 * stop / stop, so that a batch reads the same whatever the provider. */
static const char *openai_finish(const struct llm_result *res)
{
    const char *f = res->finish_reason;
    if (res->n_tool_calls > 0)
        return "tool_calls";
    if (f == NULL)
        return NULL;
    if (strcmp(f, "end_turn") == 0 || strcmp(f, "stop_sequence") == 0 ||
        strcmp(f, "refusal") == 0)
        return "stop";
    if (strcmp(f, "max_tokens") == 0)
        return "length";
    return f;
}

static cJSON *completion_body(const struct llm_result *res)
{
    cJSON *b = cJSON_CreateObject();
    if (b == NULL)
        return NULL;
    char id[64];
    if (res->response_id == NULL)
        snprintf(id, sizeof(id), "chatcmpl-%s", res->trace_id);
    add_str(b, "id", res->response_id ? res->response_id : id);
    cJSON_AddStringToObject(b, "object", "chat.completion");
    int64_t done_us = res->timestamps[LLM_TS_COMPLETED];
    cJSON_AddNumberToObject(b, "created", (double)(done_us / 1000000));
    cJSON_AddItemToObject(b, "model", str_or_null(res->model));
    cJSON *choices = cJSON_AddArrayToObject(b, "choices");
    cJSON *c = cJSON_CreateObject();
    cJSON_AddItemToArray(choices, c);
    cJSON_AddNumberToObject(c, "index", 0);
    cJSON *msg = cJSON_AddObjectToObject(c, "message");
    cJSON_AddStringToObject(msg, "role", "assistant");
    /* A tool-call reply has content null, as the API sends it. */
    if (res->n_tool_calls > 0 && (res->content == NULL || res->content_len == 0))
        cJSON_AddNullToObject(msg, "content");
    else
        cJSON_AddItemToObject(msg, "content", res->content ? llm__jw_strn(res->content, res->content_len)
                                                           : str_or_null(""));
    if (res->refusal != NULL)
        add_str(msg, "refusal", res->refusal);
    if (res->n_tool_calls > 0) {
        cJSON *calls = cJSON_AddArrayToObject(msg, "tool_calls");
        for (size_t i = 0; i < res->n_tool_calls && calls != NULL; i++) {
            cJSON *tc = cJSON_CreateObject();
            cJSON_AddItemToArray(calls, tc);
            add_str(tc, "id", res->tool_calls[i].id);
            add_str(tc, "type", "function");
            cJSON *fn = cJSON_AddObjectToObject(tc, "function");
            add_str(fn, "name", res->tool_calls[i].name);
            add_str(fn, "arguments", res->tool_calls[i].arguments);
        }
    }
    cJSON_AddNullToObject(c, "logprobs");
    cJSON_AddItemToObject(c, "finish_reason", str_or_null(openai_finish(res)));
    if (res->usage.known) {
        cJSON *u = cJSON_AddObjectToObject(b, "usage");
        cJSON_AddNumberToObject(u, "prompt_tokens", (double)res->usage.input_tokens);
        cJSON_AddNumberToObject(u, "completion_tokens", (double)res->usage.output_tokens);
        cJSON_AddNumberToObject(u, "total_tokens",
                                (double)cli_sat_add(res->usage.input_tokens,
                                                    res->usage.output_tokens));
        cJSON *pd = cJSON_AddObjectToObject(u, "prompt_tokens_details");
        cJSON_AddNumberToObject(pd, "cached_tokens", (double)res->usage.cached_input_tokens);
        cJSON *cd = cJSON_AddObjectToObject(u, "completion_tokens_details");
        cJSON_AddNumberToObject(cd, "reasoning_tokens", (double)res->usage.reasoning_tokens);
    }
    return b;
}

static cJSON *error_body(const struct llm_result *res, const char *code)
{
    cJSON *b = cJSON_CreateObject();
    cJSON *e = cJSON_AddObjectToObject(b, "error");
    add_str(e, "message", res->error.message ? res->error.message : llm_strerror(res->error.type));
    char type[64];
    lower_name(res->error.type, type, sizeof(type));
    cJSON_AddStringToObject(e, "type", type);
    add_str(e, "code", code);
    return b;
}

static char *print_line(cJSON *root)
{
    /* Resume relies on every line naming its custom_id: a line that lost it
     * to an allocation failure is not written at all. */
    const cJSON *cid = cJSON_GetObjectItemCaseSensitive(root, "custom_id");
    if (!cJSON_IsString(cid) && !cJSON_IsRaw(cid)) {
        cJSON_Delete(root);
        return NULL;
    }
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (s == NULL)
        return NULL;
    /* Hand back plain malloc'd memory whatever cJSON's hooks are. */
    char *copy = strdup(s);
    cJSON_free(s);
    return copy;
}

char *cli_output_result_line(const char *custom_id, const struct llm_result *res)
{
    cJSON *root = cJSON_CreateObject();
    if (root == NULL)
        return NULL;
    char id[64];
    size_t k = 0;
    k += (size_t)snprintf(id, sizeof(id), "batch_req_");
    for (const char *p = res->trace_id; *p && k + 1 < sizeof(id); p++)
        if (*p != '-')
            id[k++] = *p;
    id[k] = '\0';
    cJSON_AddStringToObject(root, "id", id);
    add_str(root, "custom_id", custom_id);

    int status = res->error.http_status;
    if (res->success) {
        cJSON *r = cJSON_AddObjectToObject(root, "response");
        cJSON_AddNumberToObject(r, "status_code", status ? status : 200);
        cJSON_AddItemToObject(r, "request_id", str_or_null(res->request_id));
        cJSON *body = raw_body(res);
        cJSON_AddItemToObject(r, "body", body ? body : completion_body(res));
        cJSON_AddNullToObject(root, "error");
    } else {
        char code[64];
        if (res->error.provider_code != NULL)
            snprintf(code, sizeof(code), "%s", res->error.provider_code);
        else
            lower_name(res->error.type, code, sizeof(code));
        if (status > 0) {
            cJSON *r = cJSON_AddObjectToObject(root, "response");
            cJSON_AddNumberToObject(r, "status_code", status);
            cJSON_AddItemToObject(r, "request_id", str_or_null(res->request_id));
            cJSON *body = raw_body(res);
            cJSON_AddItemToObject(r, "body", body ? body : error_body(res, code));
        } else {
            cJSON_AddNullToObject(root, "response");
        }
        cJSON *e = cJSON_AddObjectToObject(root, "error");
        add_str(e, "code", code);
        add_str(e, "message",
                res->error.message ? res->error.message : llm_strerror(res->error.type));
    }

    /* Embedded as printed (not parsed back: cJSON would cut the content
     * at an escaped NUL). */
    char *rj = llm_result_to_json(res);
    cJSON *full = rj != NULL ? cJSON_CreateRaw(rj) : NULL;
    llm_free(rj);
    if (full == NULL) {
        cJSON_Delete(root);
        return NULL;
    }
    cJSON_AddItemToObject(root, "llmorch", full);
    return print_line(root);
}

char *cli_output_error_line(const char *custom_id, uint64_t line_no, const char *code,
                            const char *message)
{
    cJSON *root = cJSON_CreateObject();
    if (root == NULL)
        return NULL;
    char id[64];
    snprintf(id, sizeof(id), "batch_req_invalid_line_%llu", (unsigned long long)line_no);
    cJSON_AddStringToObject(root, "id", id);
    add_str(root, "custom_id", custom_id);
    cJSON_AddNullToObject(root, "response");
    cJSON *e = cJSON_AddObjectToObject(root, "error");
    add_str(e, "code", code);
    add_str(e, "message", message);
    cJSON *l = cJSON_AddObjectToObject(root, "llmorch");
    cJSON_AddNumberToObject(l, "line", (double)line_no);
    return print_line(root);
}

char *cli_output_line_custom_id(const char *line, size_t len)
{
    cJSON *root = cJSON_ParseWithLength(line, len);
    if (root == NULL)
        return NULL;
    const cJSON *cid = cJSON_GetObjectItemCaseSensitive(root, "custom_id");
    /* A batch output line (ours, or the OpenAI Batch API's) names its id,
     * its custom_id, its response and its error; an input line does not. */
    bool ours = cJSON_IsObject(root) && cJSON_IsString(cid) &&
                cJSON_IsString(cJSON_GetObjectItemCaseSensitive(root, "id")) &&
                cJSON_HasObjectItem(root, "response") && cJSON_HasObjectItem(root, "error");
    char *id = ours ? strdup(cid->valuestring) : NULL;
    cJSON_Delete(root);
    return id;
}

static size_t skip_ws(const char *s, size_t i, size_t n)
{
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r'))
        i++;
    return i;
}

/* End (past the closing quote) of the JSON string starting at s[i], or 0. */
static size_t string_end(const char *s, size_t i, size_t n)
{
    if (i >= n || s[i] != '"')
        return 0;
    for (i++; i < n; i++) {
        if (s[i] == '\\')
            i++;
        else if (s[i] == '"')
            return i + 1;
        else if ((unsigned char)s[i] < 0x20)
            return 0;
    }
    return 0;
}

/* Expect `"key"` then `:` at s[*i]; advances *i past the colon. */
static bool expect_key(const char *s, size_t *i, size_t n, const char *key)
{
    size_t k = strlen(key);
    size_t j = skip_ws(s, *i, n);
    if (n - j < k + 2 || s[j] != '"' || memcmp(s + j + 1, key, k) != 0 || s[j + 1 + k] != '"')
        return false;
    j = skip_ws(s, j + k + 2, n);
    if (j >= n || s[j] != ':')
        return false;
    *i = j + 1;
    return true;
}

char *cli_output_prefix_custom_id(const char *prefix, size_t len)
{
    size_t i = skip_ws(prefix, 0, len);
    if (i >= len || prefix[i] != '{')
        return NULL;
    i++;
    if (!expect_key(prefix, &i, len, "id"))
        return NULL;
    i = skip_ws(prefix, i, len);
    size_t e = string_end(prefix, i, len);
    if (e == 0)
        return NULL;
    i = skip_ws(prefix, e, len);
    if (i >= len || prefix[i] != ',')
        return NULL;
    i++;
    if (!expect_key(prefix, &i, len, "custom_id"))
        return NULL;
    i = skip_ws(prefix, i, len);
    e = string_end(prefix, i, len);
    if (e == 0)
        return NULL;
    /* The string alone is a JSON text: let cJSON decode its escapes. */
    cJSON *v = cJSON_ParseWithLength(prefix + i, e - i);
    char *id = cJSON_IsString(v) ? strdup(v->valuestring) : NULL;
    cJSON_Delete(v);
    return id;
}

bool cli_output_line_may_be_cut(const char *line, size_t len)
{
    /* The start of every line we write, `{"id"`, allowing the whitespace of
     * other writers; a shorter line must be a start of it. */
    static const char head[] = "{\"id\"";
    size_t k = 0;
    for (size_t i = 0; i < len && k < sizeof(head) - 1; i++) {
        if (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')
            continue;
        if (line[i] != head[k++])
            return false;
    }
    return len > 0;
}
