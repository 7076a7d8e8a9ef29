/* Batch input: one JSON line -> one llm_request.
 *
 * Accepted forms, per line:
 *   {"custom_id": "...", "method": "POST", "url": "/v1/chat/completions",
 *    "body": {...}}                                  (OpenAI Batch API)
 *   {...}                                             (a bare request body;
 *                                                      custom_id "line-N")
 * The body is a Chat Completions request; keys the library models are
 * mapped onto struct llm_request -- messages (text or content parts with
 * images, assistant tool_calls, tool turns), tools, tool_choice,
 * parallel_tool_calls, response_format, max_tokens / max_completion_tokens,
 * sampling, stop, stream -- so that the same line works with every
 * provider; every other key is passed through to the provider with
 * extra_json. */
#include "cli.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

#define MAX_STOP 16

__attribute__((format(printf, 4, 5)))
static bool fail(char *err, size_t err_len, uint64_t line_no, const char *fmt, ...)
{
    int n = snprintf(err, err_len, "line %llu: ", (unsigned long long)line_no);
    if (n < 0 || (size_t)n >= err_len)
        return false;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err + n, err_len - (size_t)n, fmt, ap);
    va_end(ap);
    return false;
}

static char *own(struct cli_parsed_line *p, char *s)
{
    if (s == NULL)
        return NULL;
    char **n = realloc(p->owned, (p->n_owned + 1) * sizeof(*n));
    if (n == NULL) {
        free(s);
        return NULL;
    }
    p->owned = n;
    p->owned[p->n_owned++] = s;
    return s;
}

/* Memory the request points into, freed with the line. */
static void *own_mem(struct cli_parsed_line *p, size_t n, size_t size)
{
    if (n == 0)
        return NULL;
    return own(p, calloc(n, size));
}

/* A JSON value as compact text owned by the line (tool schemas, object
 * arguments). */
static const char *own_json(struct cli_parsed_line *p, const cJSON *v)
{
    char *s = cJSON_PrintUnformatted(v);
    if (s == NULL)
        return NULL;
    char *copy = own(p, strdup(s));
    cJSON_free(s);
    return copy;
}

/* "data:<media>;base64,<data>" split into a base64 part; anything else is
 * an image URL. */
static bool image_part(struct cli_parsed_line *p, const char *url, const char *detail,
                       struct llm_content_part *out)
{
    const char *b64 = strncmp(url, "data:", 5) == 0 ? strstr(url, ";base64,") : NULL;
    out->detail = detail;
    if (b64 == NULL) {
        out->type = LLM_PART_IMAGE_URL;
        out->url = url;
        return true;
    }
    out->type = LLM_PART_IMAGE_BASE64;
    out->media_type = own(p, strndup(url + 5, (size_t)(b64 - url - 5)));
    out->data = b64 + 8;
    return out->media_type != NULL;
}

/* A message's content: a string (m->content), null/absent, or an array of
 * content parts (text, image_url) into m->parts. */
static bool message_content(struct cli_parsed_line *p, const cJSON *content, size_t idx,
                            struct llm_message *m, uint64_t line_no, char *err, size_t err_len)
{
    if (cJSON_IsString(content)) {
        m->content = content->valuestring;
        return true;
    }
    if (cJSON_IsNull(content) || content == NULL)
        return true; /* the library says whether this role may omit it */
    if (!cJSON_IsArray(content))
        return fail(err, err_len, line_no, "messages[%zu].content must be a string or an array "
                    "of content parts", idx);
    size_t n = (size_t)cJSON_GetArraySize(content);
    struct llm_content_part *parts = own_mem(p, n ? n : 1, sizeof(*parts));
    if (parts == NULL)
        return fail(err, err_len, line_no, "out of memory");
    size_t k = 0;
    const cJSON *part;
    cJSON_ArrayForEach(part, content) {
        const char *type = cJSON_IsString(cJSON_GetObjectItemCaseSensitive(part, "type"))
                               ? cJSON_GetObjectItemCaseSensitive(part, "type")->valuestring
                               : "";
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(part, "text");
        const cJSON *iu = cJSON_GetObjectItemCaseSensitive(part, "image_url");
        const cJSON *url = cJSON_IsObject(iu) ? cJSON_GetObjectItemCaseSensitive(iu, "url") : iu;
        const cJSON *detail = cJSON_GetObjectItemCaseSensitive(iu, "detail");
        if (strcmp(type, "text") == 0 && cJSON_IsString(text)) {
            parts[k].type = LLM_PART_TEXT;
            parts[k].text = text->valuestring;
        } else if (strcmp(type, "image_url") == 0 && cJSON_IsString(url)) {
            if (!image_part(p, url->valuestring,
                            cJSON_IsString(detail) ? detail->valuestring : NULL, &parts[k]))
                return fail(err, err_len, line_no, "out of memory");
        } else {
            return fail(err, err_len, line_no, "messages[%zu].content[%zu]: expected a text "
                        "part ({\"type\":\"text\",\"text\":...}) or an image_url part", idx, k);
        }
        k++;
    }
    m->parts = parts;
    m->n_parts = k;
    return true;
}

/* An assistant turn's tool_calls: [{id, type:"function", function{name,
 * arguments}}]; arguments JSON text (or, as Ollama sends, an object). */
static bool message_tool_calls(struct cli_parsed_line *p, const cJSON *calls, size_t idx,
                               struct llm_message *m, uint64_t line_no, char *err, size_t err_len)
{
    if (calls == NULL || cJSON_IsNull(calls))
        return true;
    if (!cJSON_IsArray(calls))
        return fail(err, err_len, line_no, "messages[%zu].tool_calls must be an array", idx);
    size_t n = (size_t)cJSON_GetArraySize(calls);
    struct llm_tool_call *out = own_mem(p, n ? n : 1, sizeof(*out));
    if (out == NULL)
        return fail(err, err_len, line_no, "out of memory");
    size_t k = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, calls) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(c, "id");
        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(c, "function");
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(fn, "name");
        const cJSON *args = cJSON_GetObjectItemCaseSensitive(fn, "arguments");
        if (!cJSON_IsString(id) || !cJSON_IsString(name))
            return fail(err, err_len, line_no, "messages[%zu].tool_calls[%zu] needs a string id "
                        "and function.name", idx, k);
        out[k].id = id->valuestring;
        out[k].name = name->valuestring;
        if (cJSON_IsString(args))
            out[k].arguments = args->valuestring;
        else if (cJSON_IsObject(args) && (out[k].arguments = own_json(p, args)) == NULL)
            return fail(err, err_len, line_no, "out of memory");
        k++;
    }
    m->tool_calls = out;
    m->n_tool_calls = k;
    return true;
}

static bool parse_messages(struct cli_parsed_line *p, const cJSON *item, uint64_t line_no,
                           char *err, size_t err_len)
{
    int n = cJSON_GetArraySize(item);
    if (!cJSON_IsArray(item) || n == 0)
        return fail(err, err_len, line_no, "body.messages must be a non-empty array");
    free(p->messages); /* a repeated key: the last one wins */
    p->messages = calloc((size_t)n, sizeof(*p->messages));
    if (p->messages == NULL)
        return fail(err, err_len, line_no, "out of memory");
    size_t i = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, item) {
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        if (!cJSON_IsObject(m) || !cJSON_IsString(role))
            return fail(err, err_len, line_no, "messages[%zu] must be an object with a string "
                        "\"role\"", i);
        struct llm_message *out = &p->messages[i];
        out->role = role->valuestring;
        const cJSON *tcid = cJSON_GetObjectItemCaseSensitive(m, "tool_call_id");
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(m, "name");
        if (cJSON_IsString(tcid))
            out->tool_call_id = tcid->valuestring;
        /* OpenAI's "name" on user turns is a participant name; only a tool
         * turn's name is the tool's. */
        if (cJSON_IsString(name) && strcmp(out->role, "tool") == 0)
            out->name = name->valuestring;
        if (!message_content(p, cJSON_GetObjectItemCaseSensitive(m, "content"), i, out, line_no,
                             err, err_len) ||
            !message_tool_calls(p, cJSON_GetObjectItemCaseSensitive(m, "tool_calls"), i, out,
                                line_no, err, err_len))
            return false;
        /* An assistant turn may have neither (an empty reply). */
        if (out->content == NULL && out->n_parts == 0 && out->n_tool_calls == 0) {
            if (strcmp(out->role, "assistant") != 0)
                return fail(err, err_len, line_no, "messages[%zu].content is missing", i);
            out->content = "";
        }
        i++;
    }
    p->req.messages = p->messages;
    p->req.n_messages = i;
    return true;
}

/* tools: [{"type":"function","function":{name, description, parameters,
 * strict}}]. */
static bool parse_tools(struct cli_parsed_line *p, const cJSON *item, uint64_t line_no,
                        char *err, size_t err_len)
{
    if (!cJSON_IsArray(item))
        return fail(err, err_len, line_no, "body.tools must be an array");
    size_t n = (size_t)cJSON_GetArraySize(item);
    struct llm_tool *tools = own_mem(p, n ? n : 1, sizeof(*tools));
    if (tools == NULL)
        return fail(err, err_len, line_no, "out of memory");
    size_t k = 0;
    const cJSON *t;
    cJSON_ArrayForEach(t, item) {
        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(t, "function");
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(fn, "name");
        const cJSON *desc = cJSON_GetObjectItemCaseSensitive(fn, "description");
        const cJSON *params = cJSON_GetObjectItemCaseSensitive(fn, "parameters");
        if (!cJSON_IsObject(fn) || !cJSON_IsString(name))
            return fail(err, err_len, line_no, "body.tools[%zu] must be {\"type\":\"function\","
                        "\"function\":{\"name\":...}}", k);
        tools[k].name = name->valuestring;
        tools[k].description = cJSON_IsString(desc) ? desc->valuestring : NULL;
        tools[k].strict = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(fn, "strict"));
        if (params != NULL && !cJSON_IsNull(params)) {
            if (!cJSON_IsObject(params))
                return fail(err, err_len, line_no, "body.tools[%zu].function.parameters must be "
                            "a JSON Schema object", k);
            if ((tools[k].parameters_json = own_json(p, params)) == NULL)
                return fail(err, err_len, line_no, "out of memory");
        }
        k++;
    }
    p->req.tools = tools;
    p->req.n_tools = k;
    return true;
}

static bool parse_tool_choice(struct cli_parsed_line *p, const cJSON *item, uint64_t line_no,
                              char *err, size_t err_len)
{
    struct llm_request *req = &p->req;
    if (cJSON_IsString(item)) {
        const char *v = item->valuestring;
        req->tool_choice = strcmp(v, "auto") == 0       ? LLM_TOOL_CHOICE_AUTO
                           : strcmp(v, "none") == 0     ? LLM_TOOL_CHOICE_NONE
                           : strcmp(v, "required") == 0 ? LLM_TOOL_CHOICE_REQUIRED
                                                        : LLM_TOOL_CHOICE_DEFAULT;
        if (req->tool_choice == LLM_TOOL_CHOICE_DEFAULT)
            return fail(err, err_len, line_no, "body.tool_choice must be \"auto\", \"none\", "
                        "\"required\" or {\"type\":\"function\",\"function\":{\"name\":...}}");
        return true;
    }
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(item, "function"), "name");
    if (!cJSON_IsString(name))
        return fail(err, err_len, line_no, "body.tool_choice must be \"auto\", \"none\", "
                    "\"required\" or {\"type\":\"function\",\"function\":{\"name\":...}}");
    req->tool_choice = LLM_TOOL_CHOICE_NAMED;
    req->tool_choice_name = name->valuestring;
    return true;
}

/* response_format: {"type":"text"|"json_object"} or {"type":"json_schema",
 * "json_schema":{name, schema, strict}}. */
static bool parse_response_format(struct cli_parsed_line *p, const cJSON *item, uint64_t line_no,
                                  char *err, size_t err_len)
{
    struct llm_response_format *f = &p->req.response_format;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(item, "type");
    const char *t = cJSON_IsString(type) ? type->valuestring : "";
    if (strcmp(t, "text") == 0)
        return true;
    if (strcmp(t, "json_object") == 0) {
        f->type = LLM_RESPONSE_JSON_OBJECT;
        return true;
    }
    const cJSON *js = cJSON_GetObjectItemCaseSensitive(item, "json_schema");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(js, "name");
    const cJSON *schema = cJSON_GetObjectItemCaseSensitive(js, "schema");
    if (strcmp(t, "json_schema") != 0 || !cJSON_IsString(name) || !cJSON_IsObject(schema))
        return fail(err, err_len, line_no, "body.response_format must be {\"type\":\"json_object\"} "
                    "or {\"type\":\"json_schema\",\"json_schema\":{\"name\":...,\"schema\":{...}}}");
    f->type = LLM_RESPONSE_JSON_SCHEMA;
    f->name = name->valuestring;
    f->strict = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(js, "strict"));
    if ((f->schema_json = own_json(p, schema)) == NULL)
        return fail(err, err_len, line_no, "out of memory");
    return true;
}

static bool is_int(const cJSON *v, double lo, double hi)
{
    return cJSON_IsNumber(v) && v->valuedouble == floor(v->valuedouble) &&
           v->valuedouble >= lo && v->valuedouble <= hi;
}

/* Fill p->req from a request body. */
static bool parse_body(struct cli_parsed_line *p, cJSON *body, uint64_t line_no,
                       const char *default_model, char *err, size_t err_len)
{
    struct llm_request *req = &p->req;
    cJSON *extra = cJSON_CreateObject();
    if (extra == NULL)
        return fail(err, err_len, line_no, "out of memory");
    bool ok = false;
    bool has_mct = false;
    req->model = default_model;
    cJSON *item;
    cJSON_ArrayForEach(item, body) {
        const char *k = item->string;
        if (strcmp(k, "model") == 0) {
            if (!cJSON_IsString(item) || item->valuestring[0] == '\0') {
                fail(err, err_len, line_no, "body.model must be a non-empty string");
                goto out;
            }
            req->model = item->valuestring;
        } else if (strcmp(k, "messages") == 0) {
            if (!parse_messages(p, item, line_no, err, err_len))
                goto out;
        } else if (strcmp(k, "tools") == 0) {
            if (!parse_tools(p, item, line_no, err, err_len))
                goto out;
        } else if (strcmp(k, "tool_choice") == 0) {
            if (!parse_tool_choice(p, item, line_no, err, err_len))
                goto out;
        } else if (strcmp(k, "parallel_tool_calls") == 0 && cJSON_IsBool(item)) {
            req->has_parallel_tool_calls = true;
            req->parallel_tool_calls = cJSON_IsTrue(item);
        } else if (strcmp(k, "response_format") == 0) {
            if (!parse_response_format(p, item, line_no, err, err_len))
                goto out;
        } else if (strcmp(k, "max_tokens") == 0 || strcmp(k, "max_completion_tokens") == 0) {
            if (!is_int(item, 1, INT_MAX)) {
                fail(err, err_len, line_no, "body.%s must be a whole number >= 1", k);
                goto out;
            }
            /* max_completion_tokens supersedes max_tokens in OpenAI's API
             * (and is sent under its own name). */
            bool mct = strcmp(k, "max_completion_tokens") == 0;
            if (mct) {
                req->max_completion_tokens = (int)item->valuedouble;
                req->max_tokens = 0;
            } else if (!has_mct) {
                req->max_tokens = (int)item->valuedouble;
            }
            has_mct = has_mct || mct;
        } else if (strcmp(k, "temperature") == 0) {
            if (!cJSON_IsNumber(item)) {
                fail(err, err_len, line_no, "body.temperature must be a number");
                goto out;
            }
            req->has_temperature = true;
            req->temperature = item->valuedouble;
        } else if (strcmp(k, "top_p") == 0) {
            if (!cJSON_IsNumber(item)) {
                fail(err, err_len, line_no, "body.top_p must be a number");
                goto out;
            }
            req->has_top_p = true;
            req->top_p = item->valuedouble;
        } else if (strcmp(k, "stop") == 0) {
            if (cJSON_IsNull(item))
                continue;
            int n = cJSON_IsArray(item) ? cJSON_GetArraySize(item) : 1;
            if ((!cJSON_IsString(item) && !cJSON_IsArray(item)) || n > MAX_STOP) {
                fail(err, err_len, line_no, "body.stop must be a string or an array of at most "
                     "%d strings", MAX_STOP);
                goto out;
            }
            free(p->stop);
            p->stop = calloc((size_t)(n ? n : 1), sizeof(*p->stop));
            if (p->stop == NULL) {
                fail(err, err_len, line_no, "out of memory");
                goto out;
            }
            if (cJSON_IsString(item)) {
                p->stop[0] = item->valuestring;
            } else {
                int i = 0;
                const cJSON *s;
                cJSON_ArrayForEach(s, item) {
                    if (!cJSON_IsString(s)) {
                        fail(err, err_len, line_no, "body.stop[%d] must be a string", i);
                        goto out;
                    }
                    p->stop[i++] = s->valuestring;
                }
            }
            req->stop = p->stop;
            req->n_stop = (size_t)n;
        } else if (strcmp(k, "stream") == 0) {
            if (!cJSON_IsBool(item)) {
                fail(err, err_len, line_no, "body.stream must be true or false");
                goto out;
            }
            req->stream = cJSON_IsTrue(item);
        } else if (strcmp(k, "system") == 0 && cJSON_IsString(item)) {
            /* Anthropic-style bodies carry the system prompt here. */
            req->system = item->valuestring;
        } else {
            cJSON *dup = cJSON_Duplicate(item, 1);
            if (dup == NULL || !cJSON_AddItemToObject(extra, k, dup)) {
                cJSON_Delete(dup);
                fail(err, err_len, line_no, "out of memory");
                goto out;
            }
        }
    }
    if (req->messages == NULL) {
        fail(err, err_len, line_no, "body.messages is missing");
        goto out;
    }
    if (cJSON_GetArraySize(extra) > 0) {
        p->extra_json = cJSON_PrintUnformatted(extra);
        if (p->extra_json == NULL) {
            fail(err, err_len, line_no, "out of memory");
            goto out;
        }
        req->extra_json = p->extra_json;
    }
    ok = true;
out:
    cJSON_Delete(extra);
    return ok;
}

/* Accept the Batch API's endpoint for chat requests (and Anthropic's). */
static bool url_ok(const char *url)
{
    size_t n = strlen(url);
    static const char *const ok[] = {"/chat/completions", "/messages"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        size_t l = strlen(ok[i]);
        if (n >= l && strcmp(url + n - l, ok[i]) == 0)
            return true;
    }
    return false;
}

bool cli_parse_input_line(const char *line, size_t len, uint64_t line_no,
                          const char *default_model, struct cli_parsed_line *out, char *err,
                          size_t err_len)
{
    memset(out, 0, sizeof(*out));
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(line, len, &end, 0);
    if (root == NULL) {
        /* On failure cJSON points `end` at the error (its global error
         * pointer is not thread-safe, and the engine thread parses too). */
        const char *at = end;
        size_t pos = at != NULL && at >= line && at <= line + len ? (size_t)(at - line) : 0;
        return fail(err, err_len, line_no, "not valid JSON (error near byte %zu)", pos + 1);
    }
    out->json = root;
    /* Only whitespace may follow the value. */
    for (const char *q = end; q < line + len; q++)
        if (*q != ' ' && *q != '\t' && *q != '\r' && *q != '\n')
            return fail(err, err_len, line_no, "trailing characters after the JSON value");
    if (!cJSON_IsObject(root))
        return fail(err, err_len, line_no, "expected a JSON object");

    cJSON *body = root;
    const cJSON *cid = cJSON_GetObjectItemCaseSensitive(root, "custom_id");
    const cJSON *jbody = cJSON_GetObjectItemCaseSensitive(root, "body");
    if (cid != NULL || jbody != NULL) {
        if (!cJSON_IsString(cid) || cid->valuestring[0] == '\0')
            return fail(err, err_len, line_no, "custom_id must be a non-empty string");
        /* As the output line will spell it (valid UTF-8), so that resume
         * finds it there. */
        out->custom_id = llm__utf8_sanitize(cid->valuestring, strlen(cid->valuestring), NULL);
        if (out->custom_id == NULL)
            return fail(err, err_len, line_no, "out of memory");
        const cJSON *method = cJSON_GetObjectItemCaseSensitive(root, "method");
        const cJSON *url = cJSON_GetObjectItemCaseSensitive(root, "url");
        if (method != NULL && (!cJSON_IsString(method) || strcmp(method->valuestring, "POST") != 0))
            return fail(err, err_len, line_no, "method must be \"POST\"");
        if (url != NULL && (!cJSON_IsString(url) || !url_ok(url->valuestring)))
            return fail(err, err_len, line_no, "url must be /v1/chat/completions (only chat "
                        "requests are supported)");
        if (!cJSON_IsObject(jbody))
            return fail(err, err_len, line_no, "body must be a JSON object");
        body = (cJSON *)jbody;
    } else {
        char id[32];
        snprintf(id, sizeof(id), "line-%llu", (unsigned long long)line_no);
        out->custom_id = strdup(id);
        if (out->custom_id == NULL)
            return fail(err, err_len, line_no, "out of memory");
    }
    if (!parse_body(out, body, line_no, default_model, err, err_len))
        return false;

    cJSON *meta = cJSON_CreateObject();
    if (meta == NULL || !cJSON_AddStringToObject(meta, "custom_id", out->custom_id) ||
        !cJSON_AddNumberToObject(meta, "line", (double)line_no) ||
        (out->metadata_json = cJSON_PrintUnformatted(meta)) == NULL) {
        cJSON_Delete(meta);
        return fail(err, err_len, line_no, "out of memory");
    }
    cJSON_Delete(meta);
    out->req.metadata_json = out->metadata_json;
    return true;
}

void cli_parsed_line_free(struct cli_parsed_line *p)
{
    free(p->custom_id);
    free(p->messages);
    for (size_t i = 0; i < p->n_owned; i++)
        free(p->owned[i]);
    free(p->owned);
    free(p->stop);
    cJSON_free(p->extra_json);
    cJSON_free(p->metadata_json);
    cJSON_Delete(p->json);
    memset(p, 0, sizeof(*p));
}
