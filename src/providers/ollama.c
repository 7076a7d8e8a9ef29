/* Ollama's native chat API: POST {base}/api/chat, NDJSON streaming (one
 * JSON object per line, the last with "done": true).  Local models: no
 * key, priced zero (see pricing).  Builds and parses; no I/O. */
#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "llmorch/ext/provider.h"
#include "providers/wire.h"
#include "transport/headers.h"

#define DEFAULT_BASE_URL "http://127.0.0.1:11434"
#define HOST_ENV "OLLAMA_HOST"

struct ollama_impl {
    struct llm__endpoint ep; /* first (llm__http_provider_new); url: base + /api/chat */
};
_Static_assert(offsetof(struct ollama_impl, ep) == 0, "llm__http_provider_new fills the first member");

/* ---- request ------------------------------------------------------------------ */

/* One message: text, images as base64 "images" (Ollama takes no URLs:
 * data: URLs are unpacked, other URLs refuse the request), assistant
 * tool_calls with arguments as an OBJECT, tool results with tool_name. */
static void put_message(struct llm__body *b, const struct llm_message *m)
{
    struct llm__jo *w = &b->w;
    const char *role = strcmp(m->role, "developer") == 0 ? "system" : m->role;
    if (m->n_parts == 0 && m->n_tool_calls == 0 && m->tool_call_id == NULL) {
        llm__put_message(w, role, m->content);
        return;
    }
    llm__jo_object_begin(w);
    llm__jo_key(w, "role");
    llm__jo_string(w, role);
    llm__jo_key(w, "content");
    llm__put_message_text(w, m);
    bool images = false;
    for (size_t k = 0; k < m->n_parts; k++)
        images = images || m->parts[k].type != LLM_PART_TEXT;
    if (images) {
        llm__jo_key(w, "images");
        llm__jo_array_begin(w);
        for (size_t k = 0; k < m->n_parts; k++) {
            const struct llm_content_part *pt = &m->parts[k];
            const char *media, *data = pt->data;
            size_t media_len;
            if (pt->type == LLM_PART_TEXT)
                continue;
            if (pt->type == LLM_PART_IMAGE_URL &&
                !llm__data_url_split(pt->url, &media, &media_len, &data)) {
                b->bad = true;
                continue;
            }
            llm__jo_string(w, data);
        }
        llm__jo_array_end(w);
    }
    if (m->n_tool_calls > 0) {
        llm__jo_key(w, "tool_calls");
        llm__jo_array_begin(w);
        for (size_t k = 0; k < m->n_tool_calls; k++) {
            llm__jo_object_begin(w);
            llm__jo_key(w, "function");
            llm__jo_object_begin(w);
            llm__jo_key(w, "name");
            llm__jo_string(w, m->tool_calls[k].name);
            llm__jo_key(w, "arguments");
            llm__body_put_json_text(b, m->tool_calls[k].arguments, "{}");
            llm__jo_object_end(w);
            llm__jo_object_end(w);
        }
        llm__jo_array_end(w);
    }
    if (m->tool_call_id != NULL && m->name != NULL) {
        llm__jo_key(w, "tool_name");
        llm__jo_string(w, m->name);
    }
    llm__jo_object_end(w);
}

/* tools as OpenAI declares them (Ollama has no tool_choice: the server
 * decides), and structured output as "format". */
static void put_tools_and_format(struct llm__body *b, const struct llm_request *req)
{
    struct llm__jo *w = &b->w;
    if (req->n_tools > 0 && req->tool_choice != LLM_TOOL_CHOICE_NONE &&
        llm__extra_member(&b->x, w, "tools")) {
        llm__body_put_function_tools(b, req, false);
    }
    const struct llm_response_format *f = &req->response_format;
    if (f->type != LLM_RESPONSE_TEXT && llm__extra_member(&b->x, w, "format")) {
        if (f->type == LLM_RESPONSE_JSON_SCHEMA)
            llm__body_put_json_text(b, f->schema_json, "{}");
        else
            llm__jo_string(w, "json");
    }
}

static enum llm_error build_body(const struct llm_request *req, struct llm_http_request *out)
{
    struct llm__body b;
    enum llm_error err = llm__body_begin(&b, req);
    if (err != LLM_OK)
        return err;
    if (llm__extra_member(&b.x, &b.w, "model"))
        llm__jo_string(&b.w, req->model);
    if (llm__extra_member(&b.x, &b.w, "messages")) {
        llm__jo_array_begin(&b.w);
        if (req->system != NULL && req->system[0] != '\0')
            llm__put_message(&b.w, "system", req->system);
        for (size_t i = 0; i < req->n_messages; i++)
            put_message(&b, &req->messages[i]);
        llm__jo_array_end(&b.w);
    }
    put_tools_and_format(&b, req);
    /* Always explicit: Ollama streams unless told not to. */
    if (llm__extra_member(&b.x, &b.w, "stream"))
        llm__jo_bool(&b.w, req->stream);
    static const struct llm__sampling_keys keys = {"num_predict", "temperature", "top_p", "stop"};
    if (llm__has_sampling(req, true) && llm__extra_member(&b.x, &b.w, "options"))
        llm__put_sampling_object(&b.w, req, &keys);
    return llm__body_end(&b, out);
}

static enum llm_error ollama_build_request(const struct llm_provider *p,
                                           const struct llm_request *req, const char *trace_id,
                                           struct llm_http_request *out)
{
    const struct ollama_impl *m = p->impl;
    memset(out, 0, sizeof(*out));
    enum llm_error err = build_body(req, out);
    if (err != LLM_OK)
        return err;
    err = llm__endpoint_begin(&m->ep, trace_id, out);
    if (err == LLM_OK)
        err = llm__http_request_add_header_lit(out, "Content-Type", "application/json");
    if (err == LLM_OK && m->ep.api_key != NULL) {
        /* Only when asked for: an Ollama behind an authenticating proxy. */
        err = llm__add_bearer(out, m->ep.api_key);
    }
    return llm__request_built(out, err);
}

/* ---- errors ------------------------------------------------------------------- */

/* Ollama answers {"error": "text"}; the text is all there is to go on. */
static const struct llm__error_rule ollama_rules[] = {
    {LLM__ANY_STATUS, NULL, "not found, try pulling it first", LLM_ERR_NOT_FOUND},
    {LLM__ANY_STATUS, NULL, "model not found", LLM_ERR_NOT_FOUND},
    {LLM__ANY_STATUS, NULL, "context length", LLM_ERR_CONTEXT_LENGTH_EXCEEDED},
    {LLM__ANY_STATUS, NULL, "server busy", LLM_ERR_OVERLOADED},
    LLM__STATUS_RULES,
    {LLM__ANY_STATUS, NULL, NULL, LLM_ERR_SERVER_ERROR},
};

#define N_OLLAMA_RULES (sizeof(ollama_rules) / sizeof(ollama_rules[0]))

static void ollama_classify_error(const struct llm_provider *p, int status,
                                  const struct llm_http_headers *headers, const char *body,
                                  size_t len, struct llm_error_info *out)
{
    llm__classify_http_error(ollama_rules, N_OLLAMA_RULES, status, headers, body, len, out);
}

/* ---- replies ------------------------------------------------------------------ */

/* One reply object, whole or one NDJSON line of a stream. */
static enum llm_error apply_reply(const char *data, size_t len, const char *what,
                                  struct llm_parsed *out)
{
    cJSON *root = llm__json_parse(data, len);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return llm__parse_failure(out, what, data, len);
    }
    enum llm_error err = LLM_OK;
    struct llm__wire_error we;
    const cJSON *msg = llm__json_object(root, "message");
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(msg, "content");
    const cJSON *done = cJSON_GetObjectItemCaseSensitive(root, "done");
    if (llm__wire_error_find(root, &we)) {
        err = llm__parsed_set_wire_error(out, ollama_rules, N_OLLAMA_RULES, &we);
    } else if ((content != NULL && !cJSON_IsString(content)) || !cJSON_IsBool(done)) {
        err = llm__parse_failure(out, "unexpected shape of Ollama reply", data, len);
    } else {
        err = llm_parsed_append(out, "", 0);
        if (err == LLM_OK && content != NULL)
            err = llm_parsed_append(out, content->valuestring, strlen(content->valuestring));
        /* Tool calls come whole (in a stream, in one line), arguments as an
         * object; Ollama gives them no id: one is made. */
        const cJSON *calls = cJSON_GetObjectItemCaseSensitive(msg, "tool_calls");
        const cJSON *c;
        if (cJSON_IsArray(calls)) {
            cJSON_ArrayForEach(c, calls) {
                const cJSON *fn = llm__json_object(c, "function");
                char id[32];
                snprintf(id, sizeof(id), "call_%zu", out->n_tool_calls);
                if (err == LLM_OK && fn != NULL)
                    err = llm__parsed_tool_from_json(out, id, llm__json_string(fn, "name"),
                                                     cJSON_GetObjectItemCaseSensitive(fn, "arguments"));
            }
        }
        if (err == LLM_OK)
            err = llm__parsed_update(&out->model, llm__json_string(root, "model"));
        if (err == LLM_OK && cJSON_IsTrue(done)) {
            err = llm__parsed_update(&out->finish_reason, llm__json_string(root, "done_reason"));
            bool a = llm__json_count(root, "prompt_eval_count", &out->usage.input_tokens);
            bool b = llm__json_count(root, "eval_count", &out->usage.output_tokens);
            if (a || b)
                out->usage.known = true;
            out->done = true;
            /* Ollama's *_duration fields are nanoseconds. */
            struct {
                const char *key;
                int64_t *slot;
            } times[] = {{"total_duration", &out->server_timing.total_us},
                         {"load_duration", &out->server_timing.load_us},
                         {"prompt_eval_duration", &out->server_timing.prompt_eval_us},
                         {"eval_duration", &out->server_timing.eval_us}};
            for (size_t t = 0; t < sizeof(times) / sizeof(times[0]); t++) {
                int64_t ns;
                if (llm__json_count(root, times[t].key, &ns)) {
                    *times[t].slot = ns / 1000;
                    out->server_timing.known = true;
                }
            }
            /* A turn that ends in tool calls ends for them, as OpenAI says. */
            if (err == LLM_OK && out->n_tool_calls > 0 && out->finish_reason != NULL &&
                strcmp(out->finish_reason, "stop") == 0)
                err = llm__parsed_update(&out->finish_reason, "tool_calls");
            llm__parsed_settle_usage(out);
        }
    }
    cJSON_Delete(root);
    return err;
}

static enum llm_error ollama_parse_response(const struct llm_provider *p, const char *body,
                                            size_t len, struct llm_parsed *out)
{
    if (body == NULL || len == 0) {
        enum llm_error err = llm_parsed_set_error(out, LLM_ERR_PARSE, NULL, "empty response body");
        return err == LLM_OK ? LLM_ERR_PARSE : err;
    }
    return apply_reply(body, len, "invalid JSON in response body", out);
}

static enum llm_error ollama_parse_stream_event(const struct llm_provider *p, const char *event,
                                                const char *data, size_t len,
                                                struct llm_parsed *acc)
{
    if (data == NULL || len == 0)
        return LLM_OK;
    return apply_reply(data, len, "invalid JSON in stream line", acc);
}

/* ---- lifecycle ---------------------------------------------------------------- */

static const struct llm_provider_vtable ollama_vtable = {
    .name = "ollama",
    .build_request = ollama_build_request,
    .parse_response = ollama_parse_response,
    .parse_stream_event = ollama_parse_stream_event,
    .classify_error = ollama_classify_error,
    .read_rate_limits = NULL,
    .request_id_header = NULL,
    .execute_local = NULL,
    .destroy = llm__endpoint_provider_destroy,
    .stream_framing = LLM_STREAM_NDJSON,
};

enum llm_error llm_provider_new_ollama(const struct llm_provider_options *opts,
                                       struct llm_provider **out)
{
    if (out == NULL)
        return LLM_ERR_INVALID_ARGUMENT;
    *out = NULL;
    struct llm_provider_options o = {0};
    if (opts != NULL)
        o = *opts;
    /* OLLAMA_HOST as the ollama CLI reads it (envconfig.Host): "host" or
     * "host:port" is http with default port 11434; a URL keeps its
     * scheme's default port. */
    char *base = NULL;
    const char *env = o.base_url == NULL ? getenv(HOST_ENV) : NULL;
    if (env != NULL && env[0] != '\0') {
        bool scheme = strstr(env, "://") != NULL;
        const char *hostpart = scheme ? strstr(env, "://") + 3 : env;
        bool port = strchr(hostpart, ':') != NULL;
        base = llm__asprintf("%s%s%s", scheme ? "" : "http://", env,
                             port || scheme ? "" : ":11434");
        if (base == NULL)
            return LLM_ERR_OUT_OF_MEMORY;
        o.base_url = base;
    }
    /* No key unless one is given explicitly: never OPENAI_API_KEY & co. */
    if (o.api_key == NULL && (o.api_key_env == NULL || o.api_key_env[0] == '\0'))
        o.api_key = "";
    const char *trace = o.trace_header != NULL ? o.trace_header : "";
    char *url_base = NULL;
    enum llm_error err = llm__endpoint_url(o.base_url, DEFAULT_BASE_URL, NULL, &url_base);
    if (err == LLM_OK) {
        /* The native API lives at /api/chat, not under /v1 (Ollama's
         * OpenAI-compatible routes): drop a "/v1" the caller kept. */
        size_t n = strlen(url_base);
        if (n >= 3 && strcmp(url_base + n - 3, "/v1") == 0)
            url_base[n - 3] = '\0';
        o.base_url = url_base;
        err = llm__http_provider_new(&ollama_vtable, sizeof(struct ollama_impl), &o,
                                     DEFAULT_BASE_URL, NULL, "OLLAMA_API_KEY", trace, out);
    }
    if (err == LLM_OK) {
        struct ollama_impl *m = (*out)->impl;
        char *u = llm__asprintf("%s/api/chat", m->ep.url);
        if (u == NULL) {
            llm_provider_free(*out);
            *out = NULL;
            err = LLM_ERR_OUT_OF_MEMORY;
        } else {
            free(m->ep.url);
            m->ep.url = u;
        }
    }
    free(url_base);
    free(base);
    return err;
}
