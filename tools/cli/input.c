/* Batch input: one JSON line -> one llm_request.
 *
 * Accepted forms, per line:
 *   {"custom_id": "...", "method": "POST", "url": "/v1/chat/completions",
 *    "body": {...}}                                  (OpenAI Batch API)
 *   {...}                                             (a bare request body;
 *                                                      custom_id "line-N")
 * The body is a Chat Completions request; keys the library models are
 * mapped onto struct llm_request, every other key is passed through to the
 * provider with extra_json. */
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

/* Text of a message's content: a string, or the text parts of an array
 * joined with newlines.  NULL with err set when it is neither. */
static const char *content_text(struct cli_parsed_line *p, const cJSON *content, size_t idx,
                                const char *role, uint64_t line_no, char *err, size_t err_len)
{
    if (cJSON_IsString(content))
        return content->valuestring;
    if (cJSON_IsNull(content) || content == NULL) {
        if (role != NULL && strcmp(role, "assistant") == 0)
            return "";
        fail(err, err_len, line_no, "messages[%zu].content is missing", idx);
        return NULL;
    }
    if (!cJSON_IsArray(content)) {
        fail(err, err_len, line_no, "messages[%zu].content must be a string or an array of "
             "content parts", idx);
        return NULL;
    }
    size_t total = 0, n = 0;
    const cJSON *part;
    cJSON_ArrayForEach(part, content) {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(part, "type");
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(part, "text");
        if (!cJSON_IsString(type) || strcmp(type->valuestring, "text") != 0 ||
            !cJSON_IsString(text)) {
            fail(err, err_len, line_no, "messages[%zu].content[%zu]: only text parts "
                 "({\"type\":\"text\",\"text\":...}) are supported", idx, n);
            return NULL;
        }
        total += strlen(text->valuestring) + 1;
        n++;
    }
    char *joined = own(p, malloc(total + 1));
    if (joined == NULL) {
        fail(err, err_len, line_no, "out of memory");
        return NULL;
    }
    size_t off = 0;
    cJSON_ArrayForEach(part, content) {
        const char *t = cJSON_GetObjectItemCaseSensitive(part, "text")->valuestring;
        if (off > 0)
            joined[off++] = '\n';
        size_t l = strlen(t);
        memcpy(joined + off, t, l);
        off += l;
    }
    joined[off] = '\0';
    return joined;
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
            int n = cJSON_GetArraySize(item);
            if (!cJSON_IsArray(item) || n == 0) {
                fail(err, err_len, line_no, "body.messages must be a non-empty array");
                goto out;
            }
            free(p->messages); /* a repeated key: the last one wins */
            p->messages = calloc((size_t)n, sizeof(*p->messages));
            if (p->messages == NULL) {
                fail(err, err_len, line_no, "out of memory");
                goto out;
            }
            size_t i = 0;
            const cJSON *m;
            cJSON_ArrayForEach(m, item) {
                const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
                if (!cJSON_IsObject(m) || !cJSON_IsString(role)) {
                    fail(err, err_len, line_no, "messages[%zu] must be an object with a string "
                         "\"role\"", i);
                    goto out;
                }
                const char *text = content_text(p, cJSON_GetObjectItemCaseSensitive(m, "content"),
                                                i, role->valuestring, line_no, err, err_len);
                if (text == NULL)
                    goto out;
                p->messages[i].role = role->valuestring;
                p->messages[i].content = text;
                i++;
            }
            req->messages = p->messages;
            req->n_messages = i;
        } else if (strcmp(k, "max_tokens") == 0 || strcmp(k, "max_completion_tokens") == 0) {
            if (!is_int(item, 1, INT_MAX)) {
                fail(err, err_len, line_no, "body.%s must be a whole number >= 1", k);
                goto out;
            }
            /* max_completion_tokens supersedes max_tokens in OpenAI's API. */
            bool mct = strcmp(k, "max_completion_tokens") == 0;
            if (mct || !has_mct)
                req->max_tokens = (int)item->valuedouble;
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
