/* Amazon Bedrock Runtime: Converse (POST {base}/model/{modelId}/converse)
 * and ConverseStream (/converse-stream, AWS event-stream framing),
 * signed with SigV4 (sigv4.c, service "bedrock") or sent with a bearer
 * token (AWS_BEARER_TOKEN_BEDROCK).  Errors are named by x-amzn-ErrorType
 * or the body's __type; in a stream by :exception-type.
 *
 * build_request reads the wall clock (SigV4 signs the time): the engine
 * builds each attempt's request afresh, so a retry is signed anew. */
#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/clock.h"
#include "base/util.h"
#include "llmorch/ext/provider.h"
#include "providers/hooks.h"
#include "providers/sigv4.h"
#include "providers/wire.h"
#include "transport/headers.h"

#define SERVICE "bedrock"
#define DEFAULT_REGION "us-east-1"
#define BEARER_ENV "AWS_BEARER_TOKEN_BEDROCK"
/* Bedrock requires maxTokens for some models and not others; when the
 * request has none the model's own default applies, so none is sent. */

struct bedrock_impl {
    struct llm__endpoint ep; /* first (llm__http_provider_new); url: the base,
                                api_key: the bearer token (NULL: SigV4) */
    char *region;
    char *access_key_id;     /* NULL: send unsigned (the service refuses it) */
    char *secret_access_key; /* wiped on free */
    char *session_token;     /* wiped on free */
};
_Static_assert(offsetof(struct bedrock_impl, ep) == 0, "llm__http_provider_new fills the first member");

/* ---- request ------------------------------------------------------------------ */

static void put_text_block(struct llm__jo *w, const char *text)
{
    llm__jo_object_begin(w);
    llm__jo_key(w, "text");
    llm__jo_string(w, text);
    llm__jo_object_end(w);
}

/* {"image":{"format":"png","source":{"bytes":"<base64>"}}}: Converse
 * takes images as bytes only, so a URL that is not a data: URL cannot be
 * sent (the request is refused rather than silently losing the image). */
static void put_image_block(struct llm__body *b, const struct llm_content_part *pt)
{
    struct llm__jo *w = &b->w;
    const char *media = pt->media_type, *data = pt->data;
    size_t media_len = media != NULL ? strlen(media) : 0;
    if (pt->type == LLM_PART_IMAGE_URL && !llm__data_url_split(pt->url, &media, &media_len, &data)) {
        b->bad = true;
        return;
    }
    const char *slash = memchr(media, '/', media_len);
    char format[16];
    size_t fl = slash ? media_len - (size_t)(slash + 1 - media) : 0;
    snprintf(format, sizeof(format), "%.*s", (int)(fl < 15 ? fl : 15), slash ? slash + 1 : "");
    llm__jo_object_begin(w);
    llm__jo_key(w, "image");
    llm__jo_object_begin(w);
    llm__jo_key(w, "format");
    llm__jo_string(w, strcmp(format, "jpg") == 0 ? "jpeg" : format);
    llm__jo_key(w, "source");
    llm__jo_object_begin(w);
    llm__jo_key(w, "bytes");
    llm__jo_string(w, data);
    llm__jo_object_end(w);
    llm__jo_object_end(w);
    llm__jo_object_end(w);
}

/* {"toolResult":{"toolUseId","content":[{"json":{...}}|{"text":...}],
 * "status":"success"}}: a JSON object result as json, anything else as
 * text. */
static void put_tool_result(struct llm__body *b, const struct llm_message *m)
{
    struct llm__jo *w = &b->w;
    llm__jo_object_begin(w);
    llm__jo_key(w, "toolResult");
    llm__jo_object_begin(w);
    llm__jo_key(w, "toolUseId");
    llm__jo_string(w, m->tool_call_id);
    llm__jo_key(w, "content");
    llm__jo_array_begin(w);
    llm__jo_object_begin(w);
    cJSON *v = m->content != NULL ? cJSON_Parse(m->content) : NULL;
    if (cJSON_IsObject(v)) {
        llm__jo_key(w, "json");
        llm__body_put_json_text(b, m->content, "{}");
    } else {
        llm__jo_key(w, "text");
        llm__put_message_text(w, m);
    }
    cJSON_Delete(v);
    llm__jo_object_end(w);
    llm__jo_array_end(w);
    llm__jo_key(w, "status");
    llm__jo_string(w, "success");
    llm__jo_object_end(w);
    llm__jo_object_end(w);
}

/* One message's content blocks: text and images, then toolUse blocks. */
static void put_blocks(struct llm__body *b, const struct llm_message *m)
{
    struct llm__jo *w = &b->w;
    if (m->n_parts > 0) {
        for (size_t k = 0; k < m->n_parts; k++) {
            if (m->parts[k].type == LLM_PART_TEXT)
                put_text_block(w, m->parts[k].text);
            else
                put_image_block(b, &m->parts[k]);
        }
    } else if (m->content != NULL && (m->content[0] != '\0' || m->n_tool_calls == 0)) {
        put_text_block(w, m->content);
    }
    for (size_t k = 0; k < m->n_tool_calls; k++) {
        const struct llm_tool_call *c = &m->tool_calls[k];
        llm__jo_object_begin(w);
        llm__jo_key(w, "toolUse");
        llm__jo_object_begin(w);
        llm__jo_key(w, "toolUseId");
        llm__jo_string(w, c->id != NULL ? c->id : "");
        llm__jo_key(w, "name");
        llm__jo_string(w, c->name);
        llm__jo_key(w, "input");
        llm__body_put_json_text(b, c->arguments, "{}");
        llm__jo_object_end(w);
        llm__jo_object_end(w);
    }
}

/* messages: Converse knows user and assistant; consecutive tool results
 * travel together in one user turn (the turns must alternate). */
static void put_messages(struct llm__body *b, const struct llm_request *req)
{
    struct llm__jo *w = &b->w;
    llm__jo_array_begin(w);
    for (size_t i = 0; i < req->n_messages; i++) {
        const struct llm_message *m = &req->messages[i];
        if (llm__is_system_role(m->role))
            continue;
        llm__jo_object_begin(w);
        llm__jo_key(w, "role");
        llm__jo_string(w, strcmp(m->role, "assistant") == 0 ? "assistant" : "user");
        llm__jo_key(w, "content");
        llm__jo_array_begin(w);
        if (m->tool_call_id != NULL) {
            for (;;) {
                put_tool_result(b, &req->messages[i]);
                if (i + 1 >= req->n_messages || req->messages[i + 1].tool_call_id == NULL)
                    break;
                i++;
            }
        } else {
            put_blocks(b, m);
        }
        llm__jo_array_end(w);
        llm__jo_object_end(w);
    }
    llm__jo_array_end(w);
}

/* toolConfig:{tools:[{toolSpec:{name,description,inputSchema:{json}}}],
 * toolChoice}.  Converse has no "none": the tools are still declared (a
 * history with toolUse blocks needs them) and no choice is sent. */
static void put_tool_config(struct llm__body *b, const struct llm_request *req)
{
    struct llm__jo *w = &b->w;
    if (req->n_tools == 0 || !llm__extra_member(&b->x, w, "toolConfig"))
        return;
    llm__jo_object_begin(w);
    llm__jo_key(w, "tools");
    llm__jo_array_begin(w);
    for (size_t i = 0; i < req->n_tools; i++) {
        const struct llm_tool *t = &req->tools[i];
        llm__jo_object_begin(w);
        llm__jo_key(w, "toolSpec");
        llm__jo_object_begin(w);
        llm__jo_key(w, "name");
        llm__jo_string(w, t->name);
        if (t->description != NULL) {
            llm__jo_key(w, "description");
            llm__jo_string(w, t->description);
        }
        llm__jo_key(w, "inputSchema");
        llm__jo_object_begin(w);
        llm__jo_key(w, "json");
        llm__body_put_json_text(b, t->parameters_json, "{\"type\":\"object\",\"properties\":{}}");
        llm__jo_object_end(w);
        llm__jo_object_end(w);
        llm__jo_object_end(w);
    }
    llm__jo_array_end(w);
    const char *choice = req->tool_choice == LLM_TOOL_CHOICE_AUTO       ? "auto"
                         : req->tool_choice == LLM_TOOL_CHOICE_REQUIRED ? "any"
                         : req->tool_choice == LLM_TOOL_CHOICE_NAMED    ? "tool"
                                                                         : NULL;
    if (choice != NULL) {
        llm__jo_key(w, "toolChoice");
        llm__jo_object_begin(w);
        llm__jo_key(w, choice);
        llm__jo_object_begin(w);
        if (req->tool_choice == LLM_TOOL_CHOICE_NAMED) {
            llm__jo_key(w, "name");
            llm__jo_string(w, req->tool_choice_name != NULL ? req->tool_choice_name : "");
        }
        llm__jo_object_end(w);
        llm__jo_object_end(w);
    }
    llm__jo_object_end(w);
}

/* outputConfig:{textFormat:{type:"json_schema",structure:{jsonSchema:
 * {name,schema:"<schema as a JSON string>"}}}}; a bare JSON object
 * request is the schema {"type":"object"}. */
static void put_output_config(struct llm__body *b, const struct llm_request *req)
{
    const struct llm_response_format *f = &req->response_format;
    if (f->type == LLM_RESPONSE_TEXT || !llm__extra_member(&b->x, &b->w, "outputConfig"))
        return;
    struct llm__jo *w = &b->w;
    llm__jo_object_begin(w);
    llm__jo_key(w, "textFormat");
    llm__jo_object_begin(w);
    llm__jo_key(w, "type");
    llm__jo_string(w, "json_schema");
    llm__jo_key(w, "structure");
    llm__jo_object_begin(w);
    llm__jo_key(w, "jsonSchema");
    llm__jo_object_begin(w);
    llm__jo_key(w, "name");
    llm__jo_string(w, f->type == LLM_RESPONSE_JSON_SCHEMA && f->name != NULL ? f->name
                                                                              : "json_object");
    llm__jo_key(w, "schema");
    llm__body_put_json_text_as_string(
        b, f->type == LLM_RESPONSE_JSON_SCHEMA ? f->schema_json : "{\"type\":\"object\"}");
    llm__jo_object_end(w);
    llm__jo_object_end(w);
    llm__jo_object_end(w);
    llm__jo_object_end(w);
}

static enum llm_error build_body(const struct llm_request *req, struct llm_http_request *out)
{
    struct llm__body b;
    enum llm_error err = llm__body_begin(&b, req);
    if (err != LLM_OK)
        return err;
    if (llm__extra_member(&b.x, &b.w, "messages"))
        put_messages(&b, req);
    if (llm__has_system(req) && llm__extra_member(&b.x, &b.w, "system")) {
        llm__jo_array_begin(&b.w);
        llm__jo_object_begin(&b.w);
        llm__jo_key(&b.w, "text");
        llm__put_system(&b.w, req);
        llm__jo_object_end(&b.w);
        llm__jo_array_end(&b.w);
    }
    static const struct llm__sampling_keys keys = {"maxTokens", "temperature", "topP",
                                                   "stopSequences"};
    if (llm__has_sampling(req, true) && llm__extra_member(&b.x, &b.w, "inferenceConfig"))
        llm__put_sampling_object(&b.w, req, &keys);
    put_tool_config(&b, req);
    put_output_config(&b, req);
    return llm__body_end(&b, out);
}

/* SigV4 over every header `out` carries, at the wall clock's second. */
static enum llm_error sign(const struct bedrock_impl *m, struct llm_http_request *out)
{
    struct llm__aws_credentials c = {m->access_key_id, m->secret_access_key, m->session_token};
    return llm__sigv4_sign_request(out, "POST", &c, m->region, SERVICE,
                                   llm__now_wall_us() / 1000000);
}

static enum llm_error bedrock_build_request(const struct llm_provider *p,
                                            const struct llm_request *req, const char *trace_id,
                                            struct llm_http_request *out)
{
    const struct bedrock_impl *m = p->impl;
    memset(out, 0, sizeof(*out));
    enum llm_error err = build_body(req, out);
    if (err != LLM_OK)
        return err;
    err = llm__endpoint_begin(&m->ep, trace_id, out);
    if (err == LLM_OK) {
        /* The model id is one path segment: ':' and '/' (inference profile
         * ARNs) percent-encoded, as the AWS SDK sends them. */
        char *seg = llm__url_segment(req->model);
        free(out->url);
        out->url = seg ? llm__asprintf("%s/model/%s/%s", m->ep.url, seg,
                                       req->stream ? "converse-stream" : "converse")
                       : NULL;
        free(seg);
        if (out->url == NULL)
            err = LLM_ERR_OUT_OF_MEMORY;
    }
    if (err == LLM_OK)
        err = llm__http_request_add_header_lit(out, "Content-Type", "application/json");
    if (err == LLM_OK && m->ep.api_key != NULL)
        err = llm__add_bearer(out, m->ep.api_key);
    else if (err == LLM_OK && m->access_key_id != NULL)
        err = sign(m, out);
    return llm__request_built(out, err);
}

/* The headers a SigV4 signature sets itself (Host from the URL): an extra
 * header line may not replace them. */
static const char *const signer_headers[] = {"Authorization", "Host", "X-Amz-Date",
                                             "X-Amz-Content-Sha256", "X-Amz-Security-Token"};

/* The engine's and the request's extra headers came after build_request
 * signed: refuse those naming a header of the signature's own, then sign
 * the final header set again (a replaced Content-Type, or any header
 * added, is then signed too). */
enum llm_error llm__bedrock_headers_added(const struct llm_provider *p,
                                          struct llm_http_request *req,
                                          const char *const *const lines[2], const size_t n[2],
                                          char *why, size_t why_cap)
{
    if (p == NULL || p->vtable == NULL || p->vtable->build_request != bedrock_build_request)
        return LLM_OK;
    const struct bedrock_impl *m = p->impl;
    if (m->ep.api_key != NULL || m->access_key_id == NULL || n[0] + n[1] == 0)
        return LLM_OK; /* nothing signed */
    for (size_t set = 0; set < 2; set++)
        for (size_t i = 0; i < n[set]; i++) {
            const char *line = lines[set][i];
            size_t len = strcspn(line, ":");
            for (size_t k = 0; k < sizeof(signer_headers) / sizeof(signer_headers[0]); k++)
                if (strlen(signer_headers[k]) == len &&
                    strncasecmp(line, signer_headers[k], len) == 0) {
                    snprintf(why, why_cap,
                             "%s header %s: bedrock signs the request with SigV4 and sets "
                             "this header itself",
                             set == 0 ? "engine" : "request", signer_headers[k]);
                    return LLM_ERR_INVALID_REQUEST;
                }
        }
    enum llm_error err = sign(m, req);
    return err == LLM_ERR_INVALID_ARGUMENT ? LLM_ERR_INVALID_REQUEST : err;
}

/* ---- errors ------------------------------------------------------------------- */

/* By exception name (x-amzn-ErrorType, __type, :exception-type), in the
 * spelling of the HTTP API (ThrottlingException; the stream's
 * throttlingException is normalised to it). */
static const struct llm__error_rule bedrock_rules[] = {
    {LLM__ANY_STATUS, "ThrottlingException", NULL, LLM_ERR_RATE_LIMITED},
    {LLM__ANY_STATUS, "ServiceQuotaExceededException", NULL, LLM_ERR_RATE_LIMITED},
    {LLM__ANY_STATUS, "ModelTimeoutException", NULL, LLM_ERR_TIMEOUT},
    {LLM__ANY_STATUS, "ModelNotReadyException", NULL, LLM_ERR_OVERLOADED},
    {LLM__ANY_STATUS, "ServiceUnavailableException", NULL, LLM_ERR_OVERLOADED},
    {LLM__ANY_STATUS, "InternalServerException", NULL, LLM_ERR_SERVER_ERROR},
    {LLM__ANY_STATUS, "ModelStreamErrorException", NULL, LLM_ERR_SERVER_ERROR},
    {LLM__ANY_STATUS, "ModelErrorException", NULL, LLM_ERR_SERVER_ERROR},
    {LLM__ANY_STATUS, "ValidationException", "too long", LLM_ERR_CONTEXT_LENGTH_EXCEEDED},
    {LLM__ANY_STATUS, "ValidationException", "too many input tokens",
     LLM_ERR_CONTEXT_LENGTH_EXCEEDED},
    {LLM__ANY_STATUS, "ValidationException", NULL, LLM_ERR_INVALID_REQUEST},
    {LLM__ANY_STATUS, "AccessDeniedException", NULL, LLM_ERR_PERMISSION_DENIED},
    {LLM__ANY_STATUS, "ResourceNotFoundException", NULL, LLM_ERR_NOT_FOUND},
    /* Credentials the service does not accept. */
    {LLM__ANY_STATUS, "UnrecognizedClientException", NULL, LLM_ERR_AUTHENTICATION},
    {LLM__ANY_STATUS, "InvalidSignatureException", NULL, LLM_ERR_AUTHENTICATION},
    {LLM__ANY_STATUS, "IncompleteSignatureException", NULL, LLM_ERR_AUTHENTICATION},
    {LLM__ANY_STATUS, "MissingAuthenticationTokenException", NULL, LLM_ERR_AUTHENTICATION},
    {LLM__ANY_STATUS, "ExpiredTokenException", NULL, LLM_ERR_AUTHENTICATION},
    {LLM__ANY_STATUS, "InvalidClientTokenId", NULL, LLM_ERR_AUTHENTICATION},
    LLM__STATUS_RULES,
    {LLM__ANY_STATUS, NULL, NULL, LLM_ERR_SERVER_ERROR},
};

#define N_BEDROCK_RULES (sizeof(bedrock_rules) / sizeof(bedrock_rules[0]))

/* "ThrottlingException:http://internal.amazon.com/coral/...",
 * "com.amazon.coral.service#ThrottlingException" and
 * "throttlingException" all become "ThrottlingException" in buf. */
static const char *normalise_type(const char *t, char *buf, size_t cap)
{
    if (t == NULL)
        return NULL;
    const char *hash = strrchr(t, '#');
    if (hash != NULL)
        t = hash + 1;
    size_t n = strcspn(t, ":");
    if (n == 0)
        return NULL;
    if (n >= cap)
        n = cap - 1;
    memcpy(buf, t, n);
    buf[n] = '\0';
    if (buf[0] >= 'a' && buf[0] <= 'z')
        buf[0] = (char)(buf[0] - 'a' + 'A');
    return buf;
}

static void bedrock_classify_error(const struct llm_provider *p, int status,
                                   const struct llm_http_headers *headers, const char *body,
                                   size_t len, struct llm_error_info *out)
{
    cJSON *root = llm__json_parse(body, len);
    char tbuf[96];
    const char *type = normalise_type(llm_http_headers_get(headers, "x-amzn-ErrorType"), tbuf,
                                      sizeof(tbuf));
    if (type == NULL)
        type = normalise_type(llm__json_string(root, "__type"), tbuf, sizeof(tbuf));
    const char *message = llm__json_string(root, "message");
    if (message == NULL)
        message = llm__json_string(root, "Message");
    struct llm__wire_error e = {.code = type, .message = message};
    bool found = type != NULL || message != NULL;
    llm__classify_body(bedrock_rules, N_BEDROCK_RULES, status, found ? &e : NULL, body, len, out);
    cJSON_Delete(root);
}

/* ---- replies ------------------------------------------------------------------ */

/* Bedrock's inputTokens, like Anthropic's, excludes the prompt tokens read
 * from or written to the cache; llm_usage.input_tokens is the whole
 * prompt (see anthropic.c). */
/* metrics.latencyMs: the service's own time for the request. */
static void read_metrics(const cJSON *m, struct llm_server_timing *t)
{
    int64_t ms;
    if (llm__json_count(m, "latencyMs", &ms) && ms <= INT64_MAX / 1000) {
        t->total_us = ms * 1000;
        t->known = true;
    }
}

static void read_usage(const cJSON *u, struct llm_usage *usage)
{
    if (!cJSON_IsObject(u))
        return;
    int64_t in = 0, rd = 0, wr = 0;
    llm__json_count(u, "inputTokens", &in);
    llm__json_count(u, "cacheReadInputTokens", &rd);
    llm__json_count(u, "cacheWriteInputTokens", &wr);
    llm__json_count(u, "outputTokens", &usage->output_tokens);
    int64_t total = in;
    total = rd > INT64_MAX - total ? INT64_MAX : total + rd;
    total = wr > INT64_MAX - total ? INT64_MAX : total + wr;
    usage->input_tokens = total;
    usage->cached_input_tokens = rd;
    usage->cache_write_tokens = wr;
    usage->known = true;
}

/* A stop reason that means the reply was withheld. */
static bool filtered(const char *r)
{
    return r != NULL &&
           (strcmp(r, "content_filtered") == 0 || strcmp(r, "guardrail_intervened") == 0);
}

static enum llm_error finish(struct llm_parsed *out, const char *stop)
{
    enum llm_error err = llm__parsed_update(&out->finish_reason, stop);
    if (err == LLM_OK && filtered(stop) && out->content_len == 0 && out->n_tool_calls == 0) {
        char *msg = llm__asprintf("reply withheld by Bedrock (stopReason %s)", stop);
        err = llm_parsed_set_error(out, LLM_ERR_CONTENT_FILTERED, stop, msg ? msg : stop);
        free(msg);
    }
    return err;
}

static enum llm_error bedrock_parse_response(const struct llm_provider *p, const char *body,
                                             size_t len, struct llm_parsed *out)
{
    if (body == NULL || len == 0) {
        enum llm_error err = llm_parsed_set_error(out, LLM_ERR_PARSE, NULL, "empty response body");
        return err == LLM_OK ? LLM_ERR_PARSE : err;
    }
    cJSON *root = llm__json_parse(body, len);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return llm__parse_failure(out, "invalid JSON in response body", body, len);
    }
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(
        llm__json_object(llm__json_object(root, "output"), "message"), "content");
    enum llm_error err;
    if (!cJSON_IsArray(content)) {
        err = llm__parse_failure(out, "no output.message.content in response body", body, len);
    } else {
        err = llm_parsed_append(out, "", 0);
        const cJSON *block;
        cJSON_ArrayForEach(block, content) {
            const char *text = llm__json_string(block, "text");
            const cJSON *use = llm__json_object(block, "toolUse");
            if (err == LLM_OK && text != NULL)
                err = llm_parsed_append(out, text, strlen(text));
            else if (err == LLM_OK && use != NULL)
                err = llm__parsed_tool_from_json(out, llm__json_string(use, "toolUseId"),
                                                 llm__json_string(use, "name"),
                                                 cJSON_GetObjectItemCaseSensitive(use, "input"));
        }
        read_usage(cJSON_GetObjectItemCaseSensitive(root, "usage"), &out->usage);
        read_metrics(llm__json_object(root, "metrics"), &out->server_timing);
        if (err == LLM_OK)
            err = finish(out, llm__json_string(root, "stopReason"));
        llm__parsed_settle_usage(out);
    }
    cJSON_Delete(root);
    return err;
}

static enum llm_error bedrock_parse_stream_event(const struct llm_provider *p, const char *event,
                                                 const char *data, size_t len,
                                                 struct llm_parsed *acc)
{
    if (event == NULL)
        return llm__parse_failure(acc, "event-stream message without :event-type", data, len);
    if (strncmp(event, "error:", 6) == 0 || strncmp(event, "exception:", 10) == 0) {
        /* {"message": "..."} for exceptions; the text itself for errors. */
        bool exc = event[0] == 'e' && event[1] == 'x';
        cJSON *root = exc ? llm__json_parse(data, len) : NULL;
        /* `data` is not NUL-terminated (the slot's contract): an error
         * message's text is copied before it is used as a string. */
        char *text = exc ? NULL : llm__strndup(data, len);
        if (!exc && text == NULL)
            return LLM_ERR_OUT_OF_MEMORY;
        char tbuf[96];
        struct llm__wire_error e = {
            .code = normalise_type(event + (exc ? 10 : 6), tbuf, sizeof(tbuf)),
            .message = exc ? llm__json_string(root, "message") : text,
        };
        enum llm_error err = llm__parsed_set_wire_error(acc, bedrock_rules, N_BEDROCK_RULES, &e);
        cJSON_Delete(root);
        free(text);
        return err;
    }
    cJSON *root = llm__json_parse(data, len);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return llm__parse_failure(acc, "invalid JSON in event-stream payload", data, len);
    }
    enum llm_error err = LLM_OK;
    /* Tool calls are keyed by their content block's index: the start
     * names the call, deltas carry fragments of its input JSON. */
    int64_t index = -1;
    llm__json_count(root, "contentBlockIndex", &index);
    if (strcmp(event, "contentBlockStart") == 0) {
        const cJSON *use = llm__json_object(llm__json_object(root, "start"), "toolUse");
        struct llm_parsed_tool_call *call;
        if (use != NULL && (err = llm_parsed_tool_call(acc, index, &call)) == LLM_OK) {
            err = llm__parsed_update(&call->id, llm__json_string(use, "toolUseId"));
            if (err == LLM_OK)
                err = llm__parsed_update(&call->name, llm__json_string(use, "name"));
        }
    } else if (strcmp(event, "contentBlockDelta") == 0) {
        const cJSON *delta = llm__json_object(root, "delta");
        const char *text = llm__json_string(delta, "text");
        const char *input = llm__json_string(llm__json_object(delta, "toolUse"), "input");
        err = llm_parsed_append(acc, "", 0);
        if (err == LLM_OK && text != NULL)
            err = llm_parsed_append(acc, text, strlen(text));
        if (err == LLM_OK && input != NULL) {
            struct llm_parsed_tool_call *call;
            err = llm_parsed_tool_call(acc, index, &call);
            if (err == LLM_OK)
                err = llm__parsed_tool_append(acc, call, input, strlen(input));
        }
    } else if (strcmp(event, "messageStop") == 0) {
        err = llm_parsed_append(acc, "", 0);
        if (err == LLM_OK)
            err = finish(acc, llm__json_string(root, "stopReason"));
    } else if (strcmp(event, "metadata") == 0) {
        /* The last event of a ConverseStream: usage and metrics. */
        read_usage(cJSON_GetObjectItemCaseSensitive(root, "usage"), &acc->usage);
        read_metrics(llm__json_object(root, "metrics"), &acc->server_timing);
        acc->done = true;
        llm__parsed_settle_usage(acc);
    }
    /* messageStart, contentBlockStart/Stop and unknown events: nothing. */
    cJSON_Delete(root);
    return err;
}

/* ---- lifecycle ---------------------------------------------------------------- */

static void wipe_free(char *s)
{
    if (s != NULL) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

static void bedrock_destroy(struct llm_provider *p)
{
    struct bedrock_impl *m = p->impl;
    if (m == NULL)
        return;
    llm__endpoint_clear(&m->ep);
    free(m->region);
    free(m->access_key_id);
    wipe_free(m->secret_access_key);
    wipe_free(m->session_token);
    free(m);
    p->impl = NULL;
}

static const struct llm_provider_vtable bedrock_vtable = {
    .name = "bedrock",
    .build_request = bedrock_build_request,
    .parse_response = bedrock_parse_response,
    .parse_stream_event = bedrock_parse_stream_event,
    .classify_error = bedrock_classify_error,
    .read_rate_limits = NULL,
    .request_id_header = "x-amzn-requestid",
    .execute_local = NULL,
    .destroy = bedrock_destroy,
    .stream_framing = LLM_STREAM_AWS_EVENTSTREAM,
};

static const char *opt_or_env(const char *v, const char *env)
{
    if (v != NULL)
        return v[0] != '\0' ? v : NULL;
    v = getenv(env);
    return v != NULL && v[0] != '\0' ? v : NULL;
}

static bool region_ok(const char *r)
{
    size_t n = strlen(r);
    return n > 0 && n < 64 && strspn(r, "abcdefghijklmnopqrstuvwxyz0123456789-") == n;
}

enum llm_error llm_provider_new_bedrock(const struct llm_provider_options *opts,
                                        struct llm_provider **out)
{
    if (out == NULL)
        return LLM_ERR_INVALID_ARGUMENT;
    *out = NULL;
    struct llm_provider_options o = {0};
    if (opts != NULL)
        o = *opts;
    const char *region = opt_or_env(o.region, "AWS_REGION");
    if (region == NULL)
        region = opt_or_env(NULL, "AWS_DEFAULT_REGION");
    if (region == NULL)
        region = DEFAULT_REGION;
    if (!region_ok(region))
        return LLM_ERR_INVALID_ARGUMENT;
    const char *akid = opt_or_env(o.aws_access_key_id, "AWS_ACCESS_KEY_ID");
    const char *secret = opt_or_env(o.aws_secret_access_key, "AWS_SECRET_ACCESS_KEY");
    const char *token = opt_or_env(o.aws_session_token, "AWS_SESSION_TOKEN");
    if ((akid != NULL) != (secret != NULL) || (akid != NULL && !llm__option_value_ok(akid)) ||
        (secret != NULL && !llm__option_value_ok(secret)) ||
        (token != NULL && !llm__option_value_ok(token)))
        return LLM_ERR_INVALID_ARGUMENT;

    char *base = o.base_url == NULL
                     ? llm__asprintf("https://bedrock-runtime.%s.amazonaws.com", region)
                     : NULL;
    if (o.base_url == NULL && base == NULL)
        return LLM_ERR_OUT_OF_MEMORY;
    if (base != NULL)
        o.base_url = base;
    const char *trace = o.trace_header != NULL ? o.trace_header : "";
    enum llm_error err = llm__http_provider_new(&bedrock_vtable, sizeof(struct bedrock_impl), &o,
                                                base, NULL, BEARER_ENV, trace, out);
    free(base);
    if (err != LLM_OK)
        return err;
    struct bedrock_impl *m = (*out)->impl;
    if ((m->region = llm__strdup(region)) == NULL ||
        (akid != NULL && ((m->access_key_id = llm__strdup(akid)) == NULL ||
                          (m->secret_access_key = llm__strdup(secret)) == NULL)) ||
        (token != NULL && (m->session_token = llm__strdup(token)) == NULL)) {
        llm_provider_free(*out);
        *out = NULL;
        return LLM_ERR_OUT_OF_MEMORY;
    }
    return LLM_OK;
}
