/* Google Gemini's native API: POST {base}/v1beta/models/{model}:generateContent
 * and :streamGenerateContent?alt=sse (SSE of whole GenerateContentResponse
 * objects, each holding only the new parts).  Errors are google.rpc.Status
 * objects; a RetryInfo detail's retryDelay is the server's wait.  Builds
 * and parses; no I/O. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "base/util.h"
#include "llmorch/ext/provider.h"
#include "providers/wire.h"
#include "transport/headers.h"

#define DEFAULT_BASE_URL "https://generativelanguage.googleapis.com"
#define DEFAULT_KEY_ENV "GEMINI_API_KEY"
#define FALLBACK_KEY_ENV "GOOGLE_API_KEY"

struct gemini_impl {
    struct llm__endpoint ep; /* first (llm__http_provider_new); url is the bare base */
};
_Static_assert(offsetof(struct gemini_impl, ep) == 0, "llm__http_provider_new fills the first member");

/* ---- request ------------------------------------------------------------------ */

/* Gemini's roles are "user" and "model"; system turns go to
 * systemInstruction, tool results are functionResponse parts of a user
 * turn. */
static const char *gemini_role(const char *role)
{
    return strcmp(role, "assistant") == 0 ? "model" : "user";
}

/* Gemini's schema dialect (an OpenAPI subset): type names upper-case
 * ("OBJECT", "STRING"), no additionalProperties or $schema. */
static void gemini_schema(cJSON *v)
{
    if (cJSON_IsArray(v) || cJSON_IsObject(v)) {
        cJSON_DeleteItemFromObjectCaseSensitive(v, "additionalProperties");
        cJSON_DeleteItemFromObjectCaseSensitive(v, "$schema");
        cJSON *c;
        cJSON_ArrayForEach(c, v) {
            if (cJSON_IsObject(v) && c->string != NULL && strcmp(c->string, "type") == 0 &&
                cJSON_IsString(c)) {
                for (char *t = c->valuestring; *t; t++)
                    if (*t >= 'a' && *t <= 'z')
                        *t = (char)(*t - 'a' + 'A');
            } else {
                gemini_schema(c);
            }
        }
    }
}

/* The MIME type of an image URL from its extension (fileData needs one). */
static const char *image_mime(const char *url)
{
    static const struct {
        const char *ext, *mime;
    } types[] = {{".png", "image/png"}, {".gif", "image/gif"}, {".webp", "image/webp"},
                 {".heic", "image/heic"}};
    size_t n = strcspn(url, "?#");
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        size_t k = strlen(types[i].ext);
        if (n >= k && strncasecmp(url + n - k, types[i].ext, k) == 0)
            return types[i].mime;
    }
    return "image/jpeg";
}

static void put_image_part(struct llm__jo *w, const struct llm_content_part *pt)
{
    const char *media, *data;
    size_t media_len;
    llm__jo_object_begin(w);
    if (pt->type == LLM_PART_IMAGE_BASE64 ||
        llm__data_url_split(pt->url, &media, &media_len, &data)) {
        llm__jo_key(w, "inlineData");
        llm__jo_object_begin(w);
        llm__jo_key(w, "mimeType");
        if (pt->type == LLM_PART_IMAGE_BASE64) {
            llm__jo_string(w, pt->media_type);
            llm__jo_key(w, "data");
            llm__jo_string(w, pt->data);
        } else {
            char mt[128];
            snprintf(mt, sizeof(mt), "%.*s", (int)(media_len < 127 ? media_len : 127), media);
            llm__jo_string(w, mt);
            llm__jo_key(w, "data");
            llm__jo_string(w, data);
        }
    } else {
        llm__jo_key(w, "fileData");
        llm__jo_object_begin(w);
        llm__jo_key(w, "mimeType");
        llm__jo_string(w, image_mime(pt->url));
        llm__jo_key(w, "fileUri");
        llm__jo_string(w, pt->url);
    }
    llm__jo_object_end(w);
    llm__jo_object_end(w);
}

/* The name of the function whose call `id` answers: the tool turn's own
 * name, else the name of the call with that id in an earlier assistant
 * turn (Gemini matches results to calls by name). */
static const char *tool_result_name(const struct llm_request *req, size_t upto,
                                    const struct llm_message *m)
{
    if (m->name != NULL)
        return m->name;
    for (size_t i = upto; i-- > 0;) {
        const struct llm_message *a = &req->messages[i];
        for (size_t k = 0; k < a->n_tool_calls; k++)
            if (a->tool_calls[k].id != NULL && m->tool_call_id != NULL &&
                strcmp(a->tool_calls[k].id, m->tool_call_id) == 0)
                return a->tool_calls[k].name;
    }
    return "";
}

static void put_turn(struct llm__body *b, const struct llm_request *req, size_t i)
{
    struct llm__jo *w = &b->w;
    const struct llm_message *m = &req->messages[i];
    llm__jo_object_begin(w);
    llm__jo_key(w, "role");
    llm__jo_string(w, gemini_role(m->role));
    llm__jo_key(w, "parts");
    llm__jo_array_begin(w);
    if (m->tool_call_id != NULL) {
        /* {"functionResponse":{"name","response":{...}}}: a JSON object
         * result as it is, anything else wrapped as {"content": text}. */
        llm__jo_object_begin(w);
        llm__jo_key(w, "functionResponse");
        llm__jo_object_begin(w);
        llm__jo_key(w, "name");
        llm__jo_string(w, tool_result_name(req, i, m));
        llm__jo_key(w, "response");
        cJSON *v = m->content != NULL ? cJSON_Parse(m->content) : NULL;
        if (cJSON_IsObject(v)) {
            llm__body_put_json_text(b, m->content, "{}");
        } else {
            llm__jo_object_begin(w);
            llm__jo_key(w, "content");
            llm__put_message_text(w, m);
            llm__jo_object_end(w);
        }
        cJSON_Delete(v);
        llm__jo_object_end(w);
        llm__jo_object_end(w);
    } else if (m->n_parts > 0) {
        for (size_t k = 0; k < m->n_parts; k++) {
            if (m->parts[k].type == LLM_PART_TEXT) {
                llm__jo_object_begin(w);
                llm__jo_key(w, "text");
                llm__jo_string(w, m->parts[k].text);
                llm__jo_object_end(w);
            } else {
                put_image_part(w, &m->parts[k]);
            }
        }
    } else if (m->content != NULL && (m->content[0] != '\0' || m->n_tool_calls == 0)) {
        llm__jo_object_begin(w);
        llm__jo_key(w, "text");
        llm__jo_string(w, m->content);
        llm__jo_object_end(w);
    }
    for (size_t k = 0; k < m->n_tool_calls; k++) {
        llm__jo_object_begin(w);
        llm__jo_key(w, "functionCall");
        llm__jo_object_begin(w);
        llm__jo_key(w, "name");
        llm__jo_string(w, m->tool_calls[k].name);
        llm__jo_key(w, "args");
        llm__body_put_json_text(b, m->tool_calls[k].arguments, "{}");
        llm__jo_object_end(w);
        llm__jo_object_end(w);
    }
    llm__jo_array_end(w);
    llm__jo_object_end(w);
}

/* tools:[{functionDeclarations:[...]}] and toolConfig. */
static void put_tools(struct llm__body *b, const struct llm_request *req)
{
    struct llm__jo *w = &b->w;
    if (req->n_tools > 0 && llm__extra_member(&b->x, w, "tools")) {
        llm__jo_array_begin(w);
        llm__jo_object_begin(w);
        llm__jo_key(w, "functionDeclarations");
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
            llm__jo_key(w, "parameters");
            llm__body_put_json_text_fixed(b, t->parameters_json,
                                          "{\"type\":\"object\",\"properties\":{}}",
                                          gemini_schema);
            llm__jo_object_end(w);
        }
        llm__jo_array_end(w);
        llm__jo_object_end(w);
        llm__jo_array_end(w);
    }
    static const char *const modes[] = {
        [LLM_TOOL_CHOICE_AUTO] = "AUTO",
        [LLM_TOOL_CHOICE_NONE] = "NONE",
        [LLM_TOOL_CHOICE_REQUIRED] = "ANY",
        [LLM_TOOL_CHOICE_NAMED] = "ANY",
    };
    unsigned c = (unsigned)req->tool_choice;
    if (req->tool_choice != LLM_TOOL_CHOICE_DEFAULT && c < sizeof(modes) / sizeof(modes[0]) &&
        llm__extra_member(&b->x, w, "toolConfig")) {
        llm__jo_object_begin(w);
        llm__jo_key(w, "functionCallingConfig");
        llm__jo_object_begin(w);
        llm__jo_key(w, "mode");
        llm__jo_string(w, modes[c]);
        if (req->tool_choice == LLM_TOOL_CHOICE_NAMED && req->tool_choice_name != NULL) {
            llm__jo_key(w, "allowedFunctionNames");
            llm__jo_array_begin(w);
            llm__jo_string(w, req->tool_choice_name);
            llm__jo_array_end(w);
        }
        llm__jo_object_end(w);
        llm__jo_object_end(w);
    }
}

static enum llm_error build_body(const struct llm_request *req, struct llm_http_request *out)
{
    struct llm__body b;
    enum llm_error err = llm__body_begin(&b, req);
    if (err != LLM_OK)
        return err;
    if (llm__extra_member(&b.x, &b.w, "contents")) {
        llm__jo_array_begin(&b.w);
        for (size_t i = 0; i < req->n_messages; i++)
            if (!llm__is_system_role(req->messages[i].role))
                put_turn(&b, req, i);
        llm__jo_array_end(&b.w);
    }
    if (llm__has_system(req) && llm__extra_member(&b.x, &b.w, "systemInstruction")) {
        llm__jo_object_begin(&b.w);
        llm__jo_key(&b.w, "parts");
        llm__jo_array_begin(&b.w);
        llm__jo_object_begin(&b.w);
        llm__jo_key(&b.w, "text");
        llm__put_system(&b.w, req);
        llm__jo_object_end(&b.w);
        llm__jo_array_end(&b.w);
        llm__jo_object_end(&b.w);
    }
    put_tools(&b, req);
    /* generationConfig: sampling, and structured output as
     * responseMimeType (+ responseSchema in Gemini's dialect). */
    static const struct llm__sampling_keys keys = {"maxOutputTokens", "temperature", "topP",
                                                   "stopSequences"};
    const struct llm_response_format *f = &req->response_format;
    bool json = f->type == LLM_RESPONSE_JSON_OBJECT || f->type == LLM_RESPONSE_JSON_SCHEMA;
    if ((llm__has_sampling(req, true) || json) &&
        llm__extra_member(&b.x, &b.w, "generationConfig")) {
        llm__jo_object_begin(&b.w);
        llm__put_sampling_members(&b.w, req, &keys);
        if (json) {
            llm__jo_key(&b.w, "responseMimeType");
            llm__jo_string(&b.w, "application/json");
        }
        if (f->type == LLM_RESPONSE_JSON_SCHEMA) {
            llm__jo_key(&b.w, "responseSchema");
            llm__body_put_json_text_fixed(&b, f->schema_json, "{}", gemini_schema);
        }
        llm__jo_object_end(&b.w);
    }
    return llm__body_end(&b, out);
}

/* {base}/v1beta/models/{model}:{method}; a base that already ends in
 * /v1beta or /v1 keeps its version.  A model given as "models/x" is x. */
static char *gemini_url(const char *base, const char *model, bool stream)
{
    if (strncmp(model, "models/", 7) == 0)
        model += 7;
    char *seg = llm__url_segment(model);
    if (seg == NULL)
        return NULL;
    size_t n = strlen(base);
    bool versioned = (n >= 7 && strcmp(base + n - 7, "/v1beta") == 0) ||
                     (n >= 3 && strcmp(base + n - 3, "/v1") == 0);
    char *url = llm__asprintf("%s%s/models/%s:%s", base, versioned ? "" : "/v1beta", seg,
                              stream ? "streamGenerateContent?alt=sse" : "generateContent");
    free(seg);
    return url;
}

static enum llm_error gemini_build_request(const struct llm_provider *p,
                                           const struct llm_request *req, const char *trace_id,
                                           struct llm_http_request *out)
{
    const struct gemini_impl *m = p->impl;
    memset(out, 0, sizeof(*out));
    enum llm_error err = build_body(req, out);
    if (err != LLM_OK)
        return err;
    err = llm__endpoint_begin(&m->ep, trace_id, out);
    if (err == LLM_OK) {
        free(out->url);
        out->url = gemini_url(m->ep.url, req->model, req->stream);
        if (out->url == NULL)
            err = LLM_ERR_OUT_OF_MEMORY;
    }
    if (err == LLM_OK)
        err = llm__http_request_add_header_lit(out, "Content-Type", "application/json");
    if (err == LLM_OK && m->ep.api_key != NULL)
        err = llm_http_request_add_header(out, "x-goog-api-key", m->ep.api_key);
    return llm__request_built(out, err);
}

/* ---- errors ------------------------------------------------------------------- */

/* google.rpc.Status: {"error": {"code": 429, "message": "...", "status":
 * "RESOURCE_EXHAUSTED", "details": [...]}}.  The canonical status name
 * decides (it is what Google's client libraries switch on); a few
 * messages refine it. */
static const struct llm__error_rule gemini_rules[] = {
    {LLM__ANY_STATUS, "INVALID_ARGUMENT", "API key not valid", LLM_ERR_AUTHENTICATION},
    {LLM__ANY_STATUS, "INVALID_ARGUMENT", "exceeds the maximum number of tokens",
     LLM_ERR_CONTEXT_LENGTH_EXCEEDED},
    {LLM__ANY_STATUS, "INVALID_ARGUMENT", "input token count", LLM_ERR_CONTEXT_LENGTH_EXCEEDED},
    {LLM__ANY_STATUS, "INVALID_ARGUMENT", NULL, LLM_ERR_INVALID_REQUEST},
    {LLM__ANY_STATUS, "FAILED_PRECONDITION", "location is not supported",
     LLM_ERR_UNSUPPORTED_REGION},
    {LLM__ANY_STATUS, "FAILED_PRECONDITION", "not available in your country",
     LLM_ERR_UNSUPPORTED_REGION},
    {LLM__ANY_STATUS, "FAILED_PRECONDITION", NULL, LLM_ERR_INVALID_REQUEST},
    {LLM__ANY_STATUS, "UNAUTHENTICATED", NULL, LLM_ERR_AUTHENTICATION},
    {LLM__ANY_STATUS, "PERMISSION_DENIED", NULL, LLM_ERR_PERMISSION_DENIED},
    {LLM__ANY_STATUS, "NOT_FOUND", NULL, LLM_ERR_NOT_FOUND},
    {LLM__ANY_STATUS, "RESOURCE_EXHAUSTED", NULL, LLM_ERR_RATE_LIMITED},
    {LLM__ANY_STATUS, "UNAVAILABLE", NULL, LLM_ERR_OVERLOADED},
    {LLM__ANY_STATUS, "INTERNAL", NULL, LLM_ERR_SERVER_ERROR},
    {LLM__ANY_STATUS, "DEADLINE_EXCEEDED", NULL, LLM_ERR_TIMEOUT},
    {LLM__ANY_STATUS, "CANCELLED", NULL, LLM_ERR_SERVER_ERROR},
    LLM__STATUS_RULES,
    {LLM__ANY_STATUS, NULL, NULL, LLM_ERR_SERVER_ERROR},
};

#define N_GEMINI_RULES (sizeof(gemini_rules) / sizeof(gemini_rules[0]))

/* The Status in `root`: code = its canonical status name. */
static bool find_status(const cJSON *root, struct llm__wire_error *e)
{
    const cJSON *err = llm__json_object(root, "error");
    if (err == NULL)
        return false;
    memset(e, 0, sizeof(*e));
    e->code = llm__json_string(err, "status");
    e->message = llm__json_string(err, "message");
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(err, "code");
    if (cJSON_IsNumber(c) && c->valuedouble >= 100 && c->valuedouble <= 599)
        e->numeric_code = (int)c->valuedouble;
    return true;
}

/* protobuf Duration in JSON ("37s", "0.250s") to ms; -1 if malformed. */
static int64_t parse_duration_ms(const char *s)
{
    if (s == NULL)
        return -1;
    size_t n = strlen(s);
    if (n < 2 || n > 24 || s[n - 1] != 's' || strspn(s, "0123456789.") != n - 1)
        return -1;
    char *end = NULL;
    double v = strtod(s, &end);
    if (end != s + n - 1 || !isfinite(v) || v < 0 || v > 86400.0 * 365)
        return -1;
    return (int64_t)ceil(v * 1000.0);
}

/* RetryInfo.retryDelay among error.details, in ms; 0 if none. */
static int64_t retry_delay_ms(const cJSON *root)
{
    const cJSON *details = cJSON_GetObjectItemCaseSensitive(llm__json_object(root, "error"),
                                                            "details");
    if (!cJSON_IsArray(details))
        return 0;
    const cJSON *d;
    cJSON_ArrayForEach(d, details) {
        const char *type = llm__json_string(d, "@type");
        size_t tl = type ? strlen(type) : 0;
        if (tl < 20 || strcmp(type + tl - 20, "google.rpc.RetryInfo") != 0)
            continue;
        int64_t ms = parse_duration_ms(llm__json_string(d, "retryDelay"));
        if (ms > 0)
            return ms;
    }
    return 0;
}

static void gemini_classify_error(const struct llm_provider *p, int status,
                                  const struct llm_http_headers *headers, const char *body,
                                  size_t len, struct llm_error_info *out)
{
    cJSON *root = llm__json_parse(body, len);
    struct llm__wire_error e;
    bool found = find_status(root, &e);
    llm__classify_body(gemini_rules, N_GEMINI_RULES, status, found ? &e : NULL, body, len, out);
    if (found)
        out->retry_after_ms = retry_delay_ms(root);
    cJSON_Delete(root);
}

/* ---- replies ------------------------------------------------------------------ */

/* Gemini's finish reasons in the OpenAI vocabulary the other providers'
 * callers already handle; unknown ones lowercased. */
static const char *map_finish(const char *r, char *buf, size_t cap)
{
    static const struct {
        const char *gemini, *ours;
    } map[] = {
        {"STOP", "stop"},
        {"MAX_TOKENS", "length"},
        {"SAFETY", "content_filter"},
        {"RECITATION", "content_filter"},
        {"BLOCKLIST", "content_filter"},
        {"PROHIBITED_CONTENT", "content_filter"},
        {"SPII", "content_filter"},
        {"IMAGE_SAFETY", "content_filter"},
        {"MALFORMED_FUNCTION_CALL", "malformed_function_call"},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(r, map[i].gemini) == 0)
            return map[i].ours;
    size_t n = 0;
    for (; r[n] != '\0' && n + 1 < cap; n++)
        buf[n] = (r[n] >= 'A' && r[n] <= 'Z') ? (char)(r[n] - 'A' + 'a') : r[n];
    buf[n] = '\0';
    return buf;
}

static void read_usage(const cJSON *u, struct llm_usage *usage)
{
    if (!cJSON_IsObject(u))
        return;
    int64_t candidates = 0, thoughts = 0;
    llm__json_count(u, "promptTokenCount", &usage->input_tokens);
    llm__json_count(u, "cachedContentTokenCount", &usage->cached_input_tokens);
    bool have_c = llm__json_count(u, "candidatesTokenCount", &candidates);
    bool have_t = llm__json_count(u, "thoughtsTokenCount", &thoughts);
    if (have_c || have_t) {
        /* Output includes the reasoning ("thoughts") tokens, which Gemini
         * counts apart from the candidates but bills as output. */
        usage->output_tokens = candidates + thoughts;
        usage->reasoning_tokens = thoughts;
    }
    usage->known = true;
}

/* Apply one GenerateContentResponse (a whole reply, or one stream event)
 * to `out`.  `what` names it in parse errors. */
static enum llm_error apply_reply(const cJSON *root, const char *data, size_t len,
                                  const char *what, struct llm_parsed *out)
{
    struct llm__wire_error we;
    if (!cJSON_IsObject(root))
        return llm__parse_failure(out, what, data, len);
    if (find_status(root, &we))
        return llm__parsed_set_wire_error(out, gemini_rules, N_GEMINI_RULES, &we);

    enum llm_error err = llm_parsed_append(out, "", 0);
    if (err == LLM_OK)
        err = llm__parsed_update(&out->model, llm__json_string(root, "modelVersion"));
    if (err == LLM_OK)
        err = llm__parsed_update(&out->response_id, llm__json_string(root, "responseId"));
    read_usage(cJSON_GetObjectItemCaseSensitive(root, "usageMetadata"), &out->usage);

    const cJSON *cands = cJSON_GetObjectItemCaseSensitive(root, "candidates");
    if (cands != NULL && !cJSON_IsArray(cands))
        return llm__parse_failure(out, "candidates is not an array", data, len);
    const cJSON *cand = cJSON_GetArrayItem(cands, 0);
    if (cand == NULL) {
        /* A prompt blocked before generation: no candidates, a block reason. */
        const char *block = llm__json_string(llm__json_object(root, "promptFeedback"),
                                             "blockReason");
        if (block != NULL) {
            char *msg = llm__asprintf("prompt blocked by Gemini: %s", block);
            err = llm_parsed_set_error(out, LLM_ERR_CONTENT_FILTERED, block,
                                       msg ? msg : "prompt blocked");
            free(msg);
            if (err == LLM_OK)
                err = llm__parsed_update(&out->finish_reason, "content_filter");
            out->done = true;
        }
        return err;
    }
    if (!cJSON_IsObject(cand))
        return llm__parse_failure(out, "candidate is not an object", data, len);
    const cJSON *parts = cJSON_GetObjectItemCaseSensitive(llm__json_object(cand, "content"),
                                                          "parts");
    if (parts != NULL && !cJSON_IsArray(parts))
        return llm__parse_failure(out, "content.parts is not an array", data, len);
    const cJSON *part;
    cJSON_ArrayForEach(part, parts) {
        const cJSON *call = llm__json_object(part, "functionCall");
        if (call != NULL) {
            /* Calls come whole (also in streams); Gemini 2.x ids them only
             * sometimes: one is made so results can refer to the call. */
            const char *id = llm__json_string(call, "id");
            char made[32];
            if (id == NULL) {
                snprintf(made, sizeof(made), "call_%zu", out->n_tool_calls);
                id = made;
            }
            err = llm__parsed_tool_from_json(out, id, llm__json_string(call, "name"),
                                             cJSON_GetObjectItemCaseSensitive(call, "args"));
            if (err != LLM_OK)
                return err;
            continue;
        }
        const char *text = llm__json_string(part, "text");
        /* Thought summaries are not the reply. */
        if (text == NULL || cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(part, "thought")))
            continue;
        err = llm_parsed_append(out, text, strlen(text));
        if (err != LLM_OK)
            return err;
    }
    const char *fr = llm__json_string(cand, "finishReason");
    if (fr != NULL && strcmp(fr, "FINISH_REASON_UNSPECIFIED") != 0) {
        char buf[48];
        const char *mapped = map_finish(fr, buf, sizeof(buf));
        /* A turn that ends in function calls ends for them, as OpenAI says. */
        if (strcmp(mapped, "stop") == 0 && out->n_tool_calls > 0)
            mapped = "tool_calls";
        err = llm__parsed_update(&out->finish_reason, mapped);
        out->done = true;
        llm__parsed_settle_usage(out);
        /* Blocked with nothing said: a refusal, not an empty success. */
        if (err == LLM_OK && strcmp(mapped, "content_filter") == 0 && out->content_len == 0 &&
            out->n_tool_calls == 0) {
            char *msg = llm__asprintf("reply blocked by Gemini (finishReason %s)", fr);
            err = llm_parsed_set_error(out, LLM_ERR_CONTENT_FILTERED, fr,
                                       msg ? msg : "reply blocked");
            free(msg);
        }
    }
    return err;
}

static enum llm_error gemini_parse_response(const struct llm_provider *p, const char *body,
                                            size_t len, struct llm_parsed *out)
{
    if (body == NULL || len == 0) {
        enum llm_error err = llm_parsed_set_error(out, LLM_ERR_PARSE, NULL, "empty response body");
        return err == LLM_OK ? LLM_ERR_PARSE : err;
    }
    cJSON *root = llm__json_parse(body, len);
    if (root == NULL)
        return llm__parse_failure(out, "invalid JSON in response body", body, len);
    enum llm_error err = apply_reply(root, body, len, "response body is not a JSON object", out);
    if (err == LLM_OK && out->error == LLM_OK &&
        cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(root, "candidates"), 0) == NULL)
        err = llm__parse_failure(out, "no candidates in response body", body, len);
    cJSON_Delete(root);
    return err;
}

static enum llm_error gemini_parse_stream_event(const struct llm_provider *p, const char *event,
                                                const char *data, size_t len,
                                                struct llm_parsed *acc)
{
    if (data == NULL)
        return LLM_OK;
    size_t i = 0;
    while (i < len && (data[i] == ' ' || data[i] == '\r' || data[i] == '\n' || data[i] == '\t'))
        i++;
    if (i == len)
        return LLM_OK; /* keep-alive */
    cJSON *root = llm__json_parse(data, len);
    if (root == NULL)
        return llm__parse_failure(acc, "invalid JSON in stream event", data, len);
    enum llm_error err = apply_reply(root, data, len, "stream event is not a JSON object", acc);
    cJSON_Delete(root);
    return err;
}

/* ---- lifecycle ---------------------------------------------------------------- */

static const struct llm_provider_vtable gemini_vtable = {
    .name = "gemini",
    .build_request = gemini_build_request,
    .parse_response = gemini_parse_response,
    .parse_stream_event = gemini_parse_stream_event,
    .classify_error = gemini_classify_error,
    .read_rate_limits = NULL,
    .request_id_header = NULL,
    .execute_local = NULL,
    .destroy = llm__endpoint_provider_destroy,
    .stream_framing = LLM_STREAM_SSE,
};

enum llm_error llm_provider_new_gemini(const struct llm_provider_options *opts,
                                       struct llm_provider **out)
{
    if (out == NULL)
        return LLM_ERR_INVALID_ARGUMENT;
    *out = NULL;
    struct llm_provider_options o = {0};
    if (opts != NULL)
        o = *opts;
    /* GEMINI_API_KEY first, then GOOGLE_API_KEY, as Google's SDK does. */
    if (o.api_key == NULL && (o.api_key_env == NULL || o.api_key_env[0] == '\0')) {
        const char *k = getenv(DEFAULT_KEY_ENV);
        o.api_key_env = k != NULL && k[0] != '\0' ? DEFAULT_KEY_ENV : FALLBACK_KEY_ENV;
    }
    const char *trace = o.trace_header != NULL ? o.trace_header : "";
    return llm__http_provider_new(&gemini_vtable, sizeof(struct gemini_impl), &o,
                                  DEFAULT_BASE_URL, NULL, DEFAULT_KEY_ENV, trace, out);
}
