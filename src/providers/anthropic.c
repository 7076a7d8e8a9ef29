/* The Anthropic Messages API provider (POST /v1/messages).  Builds and
 * parses; no I/O. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/util.h"
#include "llmorch/ext/provider.h"
#include "providers/ratelimit.h"
#include "providers/wire.h"
#include "transport/headers.h"

#define DEFAULT_BASE_URL "https://api.anthropic.com"
#define DEFAULT_KEY_ENV "ANTHROPIC_API_KEY"
#define DEFAULT_VERSION "2023-06-01"
/* The API requires max_tokens; request.h documents this default. */
#define DEFAULT_MAX_TOKENS 1024

struct anthropic_impl {
    struct llm__endpoint ep; /* first (llm__http_provider_new); no key: send no
                                x-api-key (a proxy adds it) */
    char *version;        /* anthropic-version */
};
_Static_assert(offsetof(struct anthropic_impl, ep) == 0, "llm__http_provider_new fills the first member");

static const struct anthropic_impl *impl_of(const struct llm_provider *p)
{
    return p->impl;
}

/* ---- request ------------------------------------------------------------------ */

static void put_text_block(struct llm__jo *w, const char *text)
{
    llm__jo_object_begin(w);
    llm__jo_key(w, "type");
    llm__jo_string(w, "text");
    llm__jo_key(w, "text");
    llm__jo_string(w, text);
    llm__jo_object_end(w);
}

/* An image block: base64 data (also out of a data: URL, which the API
 * does not take as a URL) or an http(s) URL source. */
static void put_image_block(struct llm__jo *w, const struct llm_content_part *pt)
{
    const char *media = pt->media_type, *data = pt->data;
    size_t media_len = media != NULL ? strlen(media) : 0;
    bool b64 = pt->type == LLM_PART_IMAGE_BASE64 ||
               llm__data_url_split(pt->url, &media, &media_len, &data);
    llm__jo_object_begin(w);
    llm__jo_key(w, "type");
    llm__jo_string(w, "image");
    llm__jo_key(w, "source");
    llm__jo_object_begin(w);
    llm__jo_key(w, "type");
    if (b64) {
        char mt[128];
        snprintf(mt, sizeof(mt), "%.*s", (int)(media_len < sizeof(mt) ? media_len : 0), media);
        llm__jo_string(w, "base64");
        llm__jo_key(w, "media_type");
        llm__jo_string(w, mt);
        llm__jo_key(w, "data");
        llm__jo_string(w, data);
    } else {
        llm__jo_string(w, "url");
        llm__jo_key(w, "url");
        llm__jo_string(w, pt->url);
    }
    llm__jo_object_end(w);
    llm__jo_object_end(w);
}

static void put_blocks_of(struct llm__body *b, const struct llm_message *m)
{
    struct llm__jo *w = &b->w;
    if (m->n_parts == 0) {
        if (m->content != NULL && m->content[0] != '\0')
            put_text_block(w, m->content);
    }
    for (size_t k = 0; k < m->n_parts; k++) {
        if (m->parts[k].type == LLM_PART_TEXT)
            put_text_block(w, m->parts[k].text);
        else
            put_image_block(w, &m->parts[k]);
    }
    for (size_t k = 0; k < m->n_tool_calls; k++) {
        const struct llm_tool_call *c = &m->tool_calls[k];
        llm__jo_object_begin(w);
        llm__jo_key(w, "type");
        llm__jo_string(w, "tool_use");
        llm__jo_key(w, "id");
        llm__jo_string(w, c->id);
        llm__jo_key(w, "name");
        llm__jo_string(w, c->name);
        llm__jo_key(w, "input");
        llm__body_put_json_text(b, c->arguments, "{}");
        llm__jo_object_end(w);
    }
}

static void put_tool_result(struct llm__body *b, const struct llm_message *m)
{
    struct llm__jo *w = &b->w;
    llm__jo_object_begin(w);
    llm__jo_key(w, "type");
    llm__jo_string(w, "tool_result");
    llm__jo_key(w, "tool_use_id");
    llm__jo_string(w, m->tool_call_id != NULL ? m->tool_call_id : "");
    llm__jo_key(w, "content");
    llm__put_message_text(w, m);
    llm__jo_object_end(w);
}

/* The conversation.  Plain text turns keep {"role","content":"text"} (bytes
 * pinned by test_jsonout.c); turns with parts or tool calls use content
 * blocks; "tool" turns become tool_result blocks of a "user" turn, and
 * consecutive ones share that turn, as the API requires for the results of
 * parallel calls. */
static void put_messages(struct llm__body *b, const struct llm_request *req)
{
    struct llm__jo *w = &b->w;
    llm__jo_array_begin(w);
    for (size_t i = 0; i < req->n_messages; i++) {
        const struct llm_message *m = &req->messages[i];
        if (llm__is_system_role(m->role))
            continue;
        if (strcmp(m->role, "tool") == 0) {
            llm__jo_object_begin(w);
            llm__jo_key(w, "role");
            llm__jo_string(w, "user");
            llm__jo_key(w, "content");
            llm__jo_array_begin(w);
            put_tool_result(b, m);
            while (i + 1 < req->n_messages && strcmp(req->messages[i + 1].role, "tool") == 0)
                put_tool_result(b, &req->messages[++i]);
            llm__jo_array_end(w);
            llm__jo_object_end(w);
        } else if (m->n_parts == 0 && m->n_tool_calls == 0) {
            llm__put_message(w, m->role, m->content);
        } else {
            llm__jo_object_begin(w);
            llm__jo_key(w, "role");
            llm__jo_string(w, m->role);
            llm__jo_key(w, "content");
            llm__jo_array_begin(w);
            put_blocks_of(b, m);
            llm__jo_array_end(w);
            llm__jo_object_end(w);
        }
    }
    llm__jo_array_end(w);
}

/* tools, tool_choice (with disable_parallel_tool_use), output_config. */
static void put_tools_and_format(struct llm__body *b, const struct llm_request *req)
{
    struct llm__jo *w = &b->w;
    if (req->n_tools > 0 && llm__extra_member(&b->x, w, "tools")) {
        llm__jo_array_begin(w);
        for (size_t i = 0; i < req->n_tools; i++) {
            const struct llm_tool *t = &req->tools[i];
            llm__jo_object_begin(w);
            llm__jo_key(w, "name");
            llm__jo_string(w, t->name);
            if (t->description != NULL) {
                llm__jo_key(w, "description");
                llm__jo_string(w, t->description);
            }
            llm__jo_key(w, "input_schema");
            llm__body_put_json_text(b, t->parameters_json,
                                    "{\"type\":\"object\",\"properties\":{}}");
            llm__jo_object_end(w);
        }
        llm__jo_array_end(w);
    }
    bool no_parallel = req->has_parallel_tool_calls && !req->parallel_tool_calls &&
                       req->n_tools > 0 && req->tool_choice != LLM_TOOL_CHOICE_NONE;
    /* The API refuses tool_choice without tools. */
    if ((req->tool_choice != LLM_TOOL_CHOICE_DEFAULT || no_parallel) && req->n_tools > 0 &&
        llm__extra_member(&b->x, w, "tool_choice")) {
        static const char *const types[] = {
            [LLM_TOOL_CHOICE_DEFAULT] = "auto", [LLM_TOOL_CHOICE_AUTO] = "auto",
            [LLM_TOOL_CHOICE_NONE] = "none",    [LLM_TOOL_CHOICE_REQUIRED] = "any",
            [LLM_TOOL_CHOICE_NAMED] = "tool",
        };
        unsigned c = (unsigned)req->tool_choice;
        llm__jo_object_begin(w);
        llm__jo_key(w, "type");
        llm__jo_string(w, c < sizeof(types) / sizeof(types[0]) ? types[c] : "auto");
        if (req->tool_choice == LLM_TOOL_CHOICE_NAMED) {
            llm__jo_key(w, "name");
            llm__jo_string(w, req->tool_choice_name);
        }
        if (no_parallel) {
            llm__jo_key(w, "disable_parallel_tool_use");
            llm__jo_bool(w, true);
        }
        llm__jo_object_end(w);
    }
    /* Structured output takes a schema; the API has no schema-less JSON
     * mode, so LLM_RESPONSE_JSON_OBJECT asks for any object. */
    const struct llm_response_format *f = &req->response_format;
    if (f->type != LLM_RESPONSE_TEXT && llm__extra_member(&b->x, w, "output_config")) {
        llm__jo_object_begin(w);
        llm__jo_key(w, "format");
        llm__jo_object_begin(w);
        llm__jo_key(w, "type");
        llm__jo_string(w, "json_schema");
        llm__jo_key(w, "schema");
        if (f->type == LLM_RESPONSE_JSON_SCHEMA)
            llm__body_put_json_text(b, f->schema_json, "{}");
        else
            llm__jo_raw(w, "{\"type\":\"object\"}", 17);
        llm__jo_object_end(w);
        llm__jo_object_end(w);
    }
}

/* The Messages body into out->body / out->body_len, written as openai.c
 * writes its body (wire.h's llm__body_*): max_tokens always (Anthropic
 * requires it), system and developer messages joined into the top-level
 * "system", stop strings as "stop_sequences".  Byte-identical to the cJSON
 * tree it replaced (tests/unit/test_jsonout.c). */
static enum llm_error build_body(const struct llm_request *req, struct llm_http_request *out)
{
    struct llm__body b;
    enum llm_error err = llm__body_begin(&b, req);
    if (err != LLM_OK)
        return err;
    if (llm__extra_member(&b.x, &b.w, "model"))
        llm__jo_string(&b.w, req->model);
    if (llm__extra_member(&b.x, &b.w, "max_tokens"))
        llm__jo_int(&b.w, req->max_tokens > 0             ? req->max_tokens
                          : req->max_completion_tokens > 0 ? req->max_completion_tokens
                                                           : DEFAULT_MAX_TOKENS);
    if (llm__has_system(req) && llm__extra_member(&b.x, &b.w, "system"))
        llm__put_system(&b.w, req);
    if (llm__extra_member(&b.x, &b.w, "messages"))
        put_messages(&b, req);
    llm__body_put_sampling(&b, req, "stop_sequences");
    if (req->stream && llm__extra_member(&b.x, &b.w, "stream"))
        llm__jo_bool(&b.w, true);
    put_tools_and_format(&b, req);
    return llm__body_end(&b, out);
}

static enum llm_error anthropic_build_request(const struct llm_provider *p,
                                              const struct llm_request *req,
                                              const char *trace_id, struct llm_http_request *out)
{
    const struct anthropic_impl *m = impl_of(p);
    memset(out, 0, sizeof(*out));
    enum llm_error err = build_body(req, out);
    if (err != LLM_OK)
        return err;
    err = llm__endpoint_begin(&m->ep, trace_id, out);
    if (err == LLM_OK && m->ep.api_key != NULL)
        err = llm_http_request_add_header(out, "x-api-key", m->ep.api_key);
    if (err == LLM_OK)
        err = llm_http_request_add_header(out, "anthropic-version", m->version);
    if (err == LLM_OK)
        err = llm_http_request_add_header(out, "content-type", "application/json");
    return llm__request_built(out, err);
}

/* ---- error classification -------------------------------------------------------- */

/* Anthropic's verdicts, status first (see LLM__STATUS_RULES): a 429 is
 * rate limiting and a 403 a refusal whatever the body says (the official
 * SDKs classify by status too).  The rows before the status rows refine
 * a status by the message or type Anthropic documents with it; the rows
 * after them classify an error that came without an HTTP error status (an
 * `error` event in a stream) by error.type, as its documented status
 * would: invalid_request_error 400, authentication_error 401,
 * billing_error 402, permission_error 403, not_found_error 404,
 * request_too_large 413, rate_limit_error 429, api_error 500,
 * timeout_error 504, overloaded_error 529. */
static const struct llm__error_rule anthropic_rules[] = {
    /* Matched on the message alone: a proxy may have replaced the type. */
    {400, 400, NULL, "prompt is too long", LLM_ERR_CONTEXT_LENGTH_EXCEEDED},
    {400, 400, NULL, "exceed context limit", LLM_ERR_CONTEXT_LENGTH_EXCEEDED},
    {400, 400, NULL, "credit balance is too low", LLM_ERR_INSUFFICIENT_QUOTA},
    /* The API's edge answers requests from unsupported countries with this
     * bare 403 (no top-level "type"). */
    {403, 403, "forbidden", "request not allowed", LLM_ERR_UNSUPPORTED_REGION},
    /* A 504 of Anthropic's own is its request timeout; a gateway's 504
     * stays a server error. */
    {504, 504, "timeout_error", NULL, LLM_ERR_TIMEOUT},
    LLM__STATUS_RULES,
    {LLM__ANY_STATUS, "invalid_request_error", "prompt is too long",
     LLM_ERR_CONTEXT_LENGTH_EXCEEDED},
    {LLM__ANY_STATUS, "invalid_request_error", "exceed context limit",
     LLM_ERR_CONTEXT_LENGTH_EXCEEDED},
    {LLM__ANY_STATUS, "invalid_request_error", "credit balance is too low",
     LLM_ERR_INSUFFICIENT_QUOTA},
    {LLM__ANY_STATUS, "invalid_request_error", NULL, LLM_ERR_INVALID_REQUEST},
    {LLM__ANY_STATUS, "authentication_error", NULL, LLM_ERR_AUTHENTICATION},
    {LLM__ANY_STATUS, "billing_error", NULL, LLM_ERR_INSUFFICIENT_QUOTA},
    {LLM__ANY_STATUS, "permission_error", NULL, LLM_ERR_PERMISSION_DENIED},
    {LLM__ANY_STATUS, "permission_denied_error", NULL, LLM_ERR_PERMISSION_DENIED},
    {LLM__ANY_STATUS, "not_found_error", NULL, LLM_ERR_NOT_FOUND},
    {LLM__ANY_STATUS, "request_too_large", NULL, LLM_ERR_INVALID_REQUEST},
    {LLM__ANY_STATUS, "rate_limit_error", NULL, LLM_ERR_RATE_LIMITED},
    {LLM__ANY_STATUS, "api_error", NULL, LLM_ERR_SERVER_ERROR},
    {LLM__ANY_STATUS, "timeout_error", NULL, LLM_ERR_TIMEOUT},
    {LLM__ANY_STATUS, "overloaded_error", NULL, LLM_ERR_OVERLOADED},
    {LLM__ANY_STATUS, NULL, NULL, LLM_ERR_SERVER_ERROR},
};

#define N_ANTHROPIC_RULES (sizeof(anthropic_rules) / sizeof(anthropic_rules[0]))

static void anthropic_classify_error(const struct llm_provider *p, int status,
                                     const struct llm_http_headers *headers, const char *body,
                                     size_t len, struct llm_error_info *out)
{
    llm__classify_http_error(anthropic_rules, N_ANTHROPIC_RULES, status, headers, body, len,
                             out);
}

/* ---- responses ------------------------------------------------------------------- */

/* Anthropic's usage.input_tokens EXCLUDES the prompt tokens read from or
 * written to the cache (cache_read_input_tokens,
 * cache_creation_input_tokens); OpenAI's prompt_tokens includes cached
 * ones.  llm_usage.input_tokens is the whole prompt for every provider, so
 * here it is the sum of the three, with the two cache parts also reported
 * on their own (cached_input_tokens, cache_write_tokens) for pricing.
 *
 * Applied to message_start and then message_delta in a stream, so each
 * field present replaces the earlier value (the counts are cumulative) and
 * the total is recomputed from the parts. */
static void apply_usage(const cJSON *u, struct llm_usage *usage)
{
    if (!cJSON_IsObject(u))
        return;
    int64_t uncached = usage->input_tokens - usage->cached_input_tokens - usage->cache_write_tokens;
    if (uncached < 0)
        uncached = 0;
    llm__json_count(u, "input_tokens", &uncached);
    llm__json_count(u, "cache_read_input_tokens", &usage->cached_input_tokens);
    llm__json_count(u, "cache_creation_input_tokens", &usage->cache_write_tokens);
    llm__json_count(u, "output_tokens", &usage->output_tokens);
    /* Each part is capped at INT64_MAX / 2 by llm__json_count; saturate
     * the sum rather than overflow on a hostile body. */
    int64_t total = uncached;
    int64_t parts[2] = {usage->cached_input_tokens, usage->cache_write_tokens};
    for (int i = 0; i < 2; i++)
        total = parts[i] > INT64_MAX - total ? INT64_MAX : total + parts[i];
    usage->input_tokens = total;
    usage->known = true;
}

static enum llm_error read_message_meta(const cJSON *msg, struct llm_parsed *out)
{
    enum llm_error err = llm__parsed_update(&out->response_id, llm__json_string(msg, "id"));
    if (err == LLM_OK)
        err = llm__parsed_update(&out->model, llm__json_string(msg, "model"));
    if (err == LLM_OK)
        err = llm__parsed_update(&out->finish_reason, llm__json_string(msg, "stop_reason"));
    if (err == LLM_OK)
        apply_usage(cJSON_GetObjectItemCaseSensitive(msg, "usage"), &out->usage);
    return err;
}

/* A tool_use block opened: a call keyed by the block's index (-1 in a
 * whole reply, where blocks come in order).  `input` is the whole input
 * in a reply; a stream's content_block_start carries {} and the input
 * follows as input_json_delta fragments. */
static enum llm_error start_tool_use(const cJSON *block, int64_t index, bool whole,
                                     struct llm_parsed *out)
{
    struct llm_parsed_tool_call *call;
    enum llm_error err = llm_parsed_tool_call(out, index, &call);
    if (err == LLM_ERR_PARSE)
        return llm__parse_failure(out, "too many tool calls in reply", NULL, 0);
    if (err == LLM_OK)
        err = llm__parsed_update(&call->id, llm__json_string(block, "id"));
    if (err == LLM_OK)
        err = llm__parsed_update(&call->name, llm__json_string(block, "name"));
    const cJSON *input = cJSON_GetObjectItemCaseSensitive(block, "input");
    if (err == LLM_OK && whole && cJSON_IsObject(input)) {
        char *text = cJSON_PrintUnformatted(input);
        err = text != NULL ? llm__parsed_tool_append(out, call, text, strlen(text))
                           : LLM_ERR_OUT_OF_MEMORY;
        cJSON_free(text);
    }
    return err;
}

/* stop_reason "refusal": the API's safety classifier stopped the reply;
 * the text so far (often empty) is what the model said. */
static enum llm_error note_refusal(struct llm_parsed *out)
{
    if (out->finish_reason == NULL || strcmp(out->finish_reason, "refusal") != 0 ||
        out->refusal != NULL)
        return LLM_OK;
    if (out->content_len > 0)
        return llm_parsed_refusal_append(out, out->content, out->content_len);
    return llm_parsed_refusal_append(out, "refusal", 7);
}

static enum llm_error anthropic_parse_response(const struct llm_provider *p, const char *body,
                                               size_t len, struct llm_parsed *out)
{
    if (body == NULL || len == 0) {
        enum llm_error err = llm_parsed_set_error(out, LLM_ERR_PARSE, NULL, "empty response body");
        return err == LLM_OK ? LLM_ERR_PARSE : err;
    }
    cJSON *root = llm__json_parse(body, len);
    if (root == NULL)
        return llm__parse_failure(out, "invalid JSON in response body", body, len);

    enum llm_error err = LLM_OK;
    struct llm__wire_error we;
    const cJSON *content;
    if (!cJSON_IsObject(root)) {
        err = llm__parse_failure(out, "response body is not a JSON object", body, len);
    } else if (llm__wire_error_find(root, &we)) {
        err = llm__parsed_set_wire_error(out, anthropic_rules, N_ANTHROPIC_RULES, &we);
    } else if (!cJSON_IsArray(content = cJSON_GetObjectItemCaseSensitive(root, "content"))) {
        err = llm__parse_failure(out, "no content in response body", body, len);
    } else {
        /* Text blocks only: thinking, tool_use and others are not reply
         * text. */
        err = llm_parsed_append(out, "", 0);
        const cJSON *block;
        cJSON_ArrayForEach(block, content) {
            const char *type = llm__json_string(block, "type");
            const char *text = llm__json_string(block, "text");
            if (err == LLM_OK && type != NULL && strcmp(type, "text") == 0 && text != NULL)
                err = llm_parsed_append(out, text, strlen(text));
            else if (err == LLM_OK && type != NULL && strcmp(type, "tool_use") == 0)
                err = start_tool_use(block, -1, true, out);
        }
        if (err == LLM_OK)
            err = read_message_meta(root, out);
        if (err == LLM_OK)
            err = note_refusal(out);
        llm__parsed_settle_usage(out);
    }
    cJSON_Delete(root);
    return err;
}

static bool blank(const char *data, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (data[i] != ' ' && data[i] != '\t' && data[i] != '\r' && data[i] != '\n')
            return false;
    }
    return true;
}

static bool named(const char *name, const char *want)
{
    return name != NULL && strcmp(name, want) == 0;
}

/* A stream event's content block "index" (-2 when absent or bad, which
 * matches no tool call: -1 would mean "append a new one"). */
static int64_t block_index(const cJSON *root)
{
    const cJSON *idx = cJSON_GetObjectItemCaseSensitive(root, "index");
    return cJSON_IsNumber(idx) && idx->valuedouble >= 0 && idx->valuedouble < 1e6
               ? (int64_t)idx->valuedouble
               : -2;
}

static enum llm_error anthropic_parse_stream_event(const struct llm_provider *p,
                                                   const char *event, const char *data,
                                                   size_t len, struct llm_parsed *acc)
{
    /* After message_stop the reply is complete: a delta or an error event
     * that follows it changes nothing. */
    if (acc->done)
        return LLM_OK;
    if (event != NULL && event[0] == '\0')
        event = NULL;
    if (data == NULL || blank(data, len)) {
        /* Every Anthropic event has a JSON payload; tolerate a bare one. */
        if (named(event, "message_stop")) {
            acc->done = true;
            llm__parsed_settle_usage(acc);
        }
        return LLM_OK;
    }
    cJSON *root = llm__json_parse(data, len);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return llm__parse_failure(acc, "invalid JSON in stream event", data, len);
    }
    /* The SSE event name and the payload's "type" agree; the name wins if
     * both are there. */
    const char *name = event != NULL ? event : llm__json_string(root, "type");
    enum llm_error err = LLM_OK;
    struct llm__wire_error we;

    if (named(name, "message_start")) {
        err = read_message_meta(llm__json_object(root, "message"), acc);
    } else if (named(name, "content_block_start")) {
        const cJSON *block = llm__json_object(root, "content_block");
        const char *text = llm__json_string(block, "text");
        if (named(llm__json_string(block, "type"), "text") && text != NULL)
            err = llm_parsed_append(acc, text, strlen(text));
        else if (named(llm__json_string(block, "type"), "tool_use"))
            err = start_tool_use(block, block_index(root), false, acc);
    } else if (named(name, "content_block_delta")) {
        /* thinking_delta, signature_delta: not reply text. */
        const cJSON *delta = llm__json_object(root, "delta");
        const char *text = llm__json_string(delta, "text");
        const char *json = llm__json_string(delta, "partial_json");
        if (named(llm__json_string(delta, "type"), "text_delta") && text != NULL) {
            err = llm_parsed_append(acc, text, strlen(text));
        } else if (named(llm__json_string(delta, "type"), "input_json_delta") && json != NULL) {
            /* Fragments belong to the tool_use block of the same index;
             * one without such a block is ignored, not guessed at. */
            int64_t idx = block_index(root);
            for (size_t k = acc->n_tool_calls; k-- > 0;) {
                if (acc->tool_calls[k].wire_index == idx) {
                    err = llm__parsed_tool_append(acc, &acc->tool_calls[k], json, strlen(json));
                    break;
                }
            }
        }
    } else if (named(name, "message_delta")) {
        err = llm__parsed_update(&acc->finish_reason,
                                 llm__json_string(llm__json_object(root, "delta"), "stop_reason"));
        if (err == LLM_OK)
            apply_usage(cJSON_GetObjectItemCaseSensitive(root, "usage"), &acc->usage);
        if (err == LLM_OK)
            err = note_refusal(acc);
    } else if (named(name, "message_stop")) {
        acc->done = true;
        llm__parsed_settle_usage(acc);
    } else if (named(name, "error")) {
        if (llm__wire_error_find(root, &we))
            err = llm__parsed_set_wire_error(acc, anthropic_rules, N_ANTHROPIC_RULES, &we);
        else
            err = llm_parsed_set_error(acc, LLM_ERR_SERVER_ERROR, NULL,
                                       "error event without details");
    }
    /* ping, content_block_stop and event types added later: nothing to
     * record. */
    cJSON_Delete(root);
    return err;
}

/* ---- rate limits ------------------------------------------------------------------ */

/* anthropic-ratelimit-<kind>-{limit,remaining,reset}, kinds in this order. */
#define N_LIMIT_KINDS 4
static const char *const limit_names[N_LIMIT_KINDS * 3] = {
    "requests-limit",      "requests-remaining",      "requests-reset",
    "tokens-limit",        "tokens-remaining",        "tokens-reset",
    "input-tokens-limit",  "input-tokens-remaining",  "input-tokens-reset",
    "output-tokens-limit", "output-tokens-remaining", "output-tokens-reset",
};

static void read_limit(const char *const *v, int64_t now_ms, int64_t *limit, int64_t *remaining,
                       int64_t *reset_ms)
{
    int64_t x;
    if ((x = llm__parse_header_int(v[0])) >= 0)
        *limit = x;
    if ((x = llm__parse_header_int(v[1])) >= 0)
        *remaining = x;
    if ((x = llm__rfc3339_ms_from_now(v[2], now_ms)) >= 0)
        *reset_ms = x;
}

static void anthropic_read_rate_limits(const struct llm_provider *p,
                                       const struct llm_http_headers *h,
                                       struct llm_rate_limit_info *out)
{
    /* One walk of the headers for all twelve (see
     * llm__http_headers_get_family). */
    const char *v[N_LIMIT_KINDS * 3];
    llm__http_headers_get_family(h, "anthropic-ratelimit-", limit_names, N_LIMIT_KINDS * 3, v);
    /* Reset times are absolute; the slot reports them relative to now. */
    int64_t now_ms = llm__now_wall_us() / 1000;
    read_limit(v, now_ms, &out->limit_requests, &out->remaining_requests,
               &out->reset_requests_ms);
    read_limit(v + 3, now_ms, &out->limit_tokens, &out->remaining_tokens, &out->reset_tokens_ms);
    read_limit(v + 6, now_ms, &out->limit_input_tokens, &out->remaining_input_tokens,
               &out->reset_input_tokens_ms);
    read_limit(v + 9, now_ms, &out->limit_output_tokens, &out->remaining_output_tokens,
               &out->reset_output_tokens_ms);
}

/* ---- lifecycle --------------------------------------------------------------------- */

static void anthropic_destroy(struct llm_provider *p)
{
    struct anthropic_impl *m = p->impl;
    if (m == NULL)
        return;
    llm__endpoint_clear(&m->ep);
    free(m->version);
    free(m);
    p->impl = NULL;
}

static const struct llm_provider_vtable anthropic_vtable = {
    .name = "anthropic",
    .build_request = anthropic_build_request,
    .parse_response = anthropic_parse_response,
    .parse_stream_event = anthropic_parse_stream_event,
    .classify_error = anthropic_classify_error,
    .read_rate_limits = anthropic_read_rate_limits,
    .request_id_header = "request-id",
    .execute_local = NULL,
    .destroy = anthropic_destroy,
};

enum llm_error llm_provider_new_anthropic(const struct llm_provider_options *opts,
                                          struct llm_provider **out)
{
    if (out == NULL)
        return LLM_ERR_INVALID_ARGUMENT;
    *out = NULL;
    const struct llm_provider_options zero = {0};
    if (opts == NULL)
        opts = &zero;

    /* No trace header by default: Anthropic documents none. */
    const char *trace = opts->trace_header != NULL ? opts->trace_header : "";
    const char *version = opts->anthropic_version != NULL && opts->anthropic_version[0] != '\0'
                              ? opts->anthropic_version
                              : DEFAULT_VERSION;
    if (!llm__option_value_ok(version))
        return LLM_ERR_INVALID_ARGUMENT;

    struct llm_provider *p;
    enum llm_error err = llm__http_provider_new(&anthropic_vtable, sizeof(struct anthropic_impl),
                                                opts, DEFAULT_BASE_URL, "messages",
                                                DEFAULT_KEY_ENV, trace, &p);
    if (err != LLM_OK)
        return err;
    struct anthropic_impl *m = p->impl;
    if ((m->version = llm__strdup(version)) == NULL) {
        llm_provider_free(p);
        return LLM_ERR_OUT_OF_MEMORY;
    }
    *out = p;
    return LLM_OK;
}
