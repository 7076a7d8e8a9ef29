/* Request validation and deep copy.  Validation happens on the submitting
 * thread so a bad request is reported with the exact field at fault. */
#include "core/request.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

#define MAX_STOP 16
#define MAX_TOOLS 128
#define MAX_PARTS 256
#define MAX_TOOL_CALLS 128
#define MAX_HEADERS 64
#define MAX_HEADER_BYTES 8192
#define MAX_NAME 64
/* Retries are bounded by the engine's budget too; this only catches
 * garbage (a negative number cast to int). */
#define MAX_ATTEMPTS 100

enum role { ROLE_INVALID, ROLE_SYSTEM, ROLE_DEVELOPER, ROLE_USER, ROLE_ASSISTANT, ROLE_TOOL };

/* The role named by `role`: its first byte picks the one name it can be, so
 * a message costs one compare (it was up to seven strcmp calls, ~125
 * instructions per message on every submission). */
static enum role role_of(const char *role)
{
    const char *name;
    enum role r;
    switch (role[0]) {
    case 's': name = "system", r = ROLE_SYSTEM; break;
    case 'd': name = "developer", r = ROLE_DEVELOPER; break;
    case 'u': name = "user", r = ROLE_USER; break;
    case 'a': name = "assistant", r = ROLE_ASSISTANT; break;
    case 't': name = "tool", r = ROLE_TOOL; break;
    default: return ROLE_INVALID;
    }
    return strcmp(role, name) == 0 ? r : ROLE_INVALID;
}

/* A caller's string shown in an error message: cut short, control bytes
 * replaced, so the message stays one bounded line. */
static void shown(char *dst, size_t n, const char *s)
{
    snprintf(dst, n, "%s", s);
    for (char *p = dst; *p; p++)
        if ((unsigned char)*p < 0x20)
            *p = '?';
}

/* NULL when `s` is one JSON object; else why not ("invalid JSON at byte
 * 12", "not a JSON object"), in `why`. */
static const char *json_object_problem(const char *s, char *why, size_t n)
{
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithOpts(s, &end, true);
    if (j == NULL) {
        size_t at = end != NULL && end >= s ? (size_t)(end - s) : 0;
        snprintf(why, n, "invalid JSON at byte %zu", at);
        return why;
    }
    bool ok = cJSON_IsObject(j);
    cJSON_Delete(j);
    if (!ok) {
        snprintf(why, n, "not a JSON object");
        return why;
    }
    return NULL;
}

static bool is_json_object(const char *s)
{
    char why[64];
    return json_object_problem(s, why, sizeof(why)) == NULL;
}

/* Tool and schema names: what OpenAI accepts ([A-Za-z0-9_-], 1..64), which
 * every other wire format accepts too. */
static bool name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > MAX_NAME)
        return false;
    return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == n;
}

static bool has_ctl(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    return false;
}

static bool base64_ok(const char *s)
{
    size_t n = strlen(s);
    size_t k = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");
    /* At most two '=' of padding, at the end. */
    return n > 0 && k + strspn(s + k, "=") == n && n - k <= 2;
}

enum llm_error llm__header_line_check(const char *line, char *err, size_t errlen)
{
    if (line == NULL) {
        snprintf(err, errlen, "is NULL");
        return LLM_ERR_INVALID_ARGUMENT;
    }
    size_t n = strlen(line);
    if (n > MAX_HEADER_BYTES) {
        snprintf(err, errlen, "is %zu bytes (at most %d)", n, MAX_HEADER_BYTES);
        return LLM_ERR_INVALID_ARGUMENT;
    }
    if (strpbrk(line, "\r\n") != NULL) {
        snprintf(err, errlen, "contains CR or LF");
        return LLM_ERR_INVALID_ARGUMENT;
    }
    const char *colon = strchr(line, ':');
    size_t name_len = colon != NULL ? (size_t)(colon - line) : 0;
    /* RFC 9110 token characters. */
    if (colon == NULL || name_len == 0 ||
        strspn(line, "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz"
                     "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != name_len) {
        snprintf(err, errlen, "is not \"Name: value\" with a valid header name");
        return LLM_ERR_INVALID_ARGUMENT;
    }
    if (has_ctl(colon + 1)) {
        snprintf(err, errlen, "value contains control bytes");
        return LLM_ERR_INVALID_ARGUMENT;
    }
    return LLM_OK;
}

#define BAD(...)                                \
    do {                                        \
        snprintf(err, errlen, __VA_ARGS__);     \
        return LLM_ERR_INVALID_REQUEST;         \
    } while (0)

static enum llm_error check_part(const struct llm_content_part *pt, const char *role, size_t i,
                                 size_t k, char *err, size_t errlen)
{
    switch (pt->type) {
    case LLM_PART_TEXT:
        if (pt->text == NULL)
            BAD("messages[%zu].parts[%zu].text: is NULL", i, k);
        return LLM_OK;
    case LLM_PART_IMAGE_URL:
    case LLM_PART_IMAGE_BASE64:
        if (strcmp(role, "user") != 0)
            BAD("messages[%zu].parts[%zu]: images are accepted in \"user\" turns only", i, k);
        if (pt->detail != NULL && strcmp(pt->detail, "low") != 0 &&
            strcmp(pt->detail, "high") != 0 && strcmp(pt->detail, "auto") != 0)
            BAD("messages[%zu].parts[%zu].detail: expected low, high or auto", i, k);
        if (pt->type == LLM_PART_IMAGE_URL) {
            if (pt->url == NULL || pt->url[0] == '\0' || has_ctl(pt->url))
                BAD("messages[%zu].parts[%zu].url: is %s", i, k,
                    pt->url == NULL ? "NULL" : pt->url[0] ? "not a URL (control bytes)" : "empty");
            return LLM_OK;
        }
        if (pt->data == NULL || !base64_ok(pt->data))
            BAD("messages[%zu].parts[%zu].data: is %s", i, k,
                pt->data == NULL ? "NULL" : "not base64 (A-Z a-z 0-9 + / and = padding)");
        if (pt->media_type == NULL || strchr(pt->media_type, '/') == NULL ||
            has_ctl(pt->media_type) || strpbrk(pt->media_type, " ;,\"") != NULL)
            BAD("messages[%zu].parts[%zu].media_type: is %s", i, k,
                pt->media_type == NULL ? "NULL (required with base64 data)"
                                       : "not a media type like image/png");
        return LLM_OK;
    }
    BAD("messages[%zu].parts[%zu].type: unknown part type %d", i, k, (int)pt->type);
}

static enum llm_error check_message(const struct llm_message *m, size_t i, char *err,
                                    size_t errlen)
{
    char why[64];
    if (!m->role)
        BAD("messages[%zu].role: is NULL", i);
    enum role role = role_of(m->role);
    if (role == ROLE_INVALID) {
        char named[40];
        shown(named, sizeof(named), m->role);
        BAD("messages[%zu].role: invalid role \"%s\" (expected system, developer, user, "
            "assistant or tool)", i, named);
    }
    bool assistant = role == ROLE_ASSISTANT;
    bool tool = role == ROLE_TOOL;
    if (m->n_parts > 0) {
        if (m->parts == NULL)
            BAD("messages[%zu].parts: is NULL but n_parts is %zu", i, m->n_parts);
        if (m->n_parts > MAX_PARTS)
            BAD("messages[%zu].parts: %zu parts, at most %d allowed", i, m->n_parts, MAX_PARTS);
        if (m->content != NULL)
            BAD("messages[%zu]: content and parts are both set (use one)", i);
        for (size_t k = 0; k < m->n_parts; k++) {
            enum llm_error e = check_part(&m->parts[k], m->role, i, k, err, errlen);
            if (e != LLM_OK)
                return e;
        }
    } else if (!m->content && !(assistant && m->n_tool_calls > 0)) {
        BAD("messages[%zu].content: is NULL", i);
    }
    if (m->n_tool_calls > 0) {
        if (!assistant)
            BAD("messages[%zu].tool_calls: only \"assistant\" turns carry tool calls", i);
        if (m->tool_calls == NULL)
            BAD("messages[%zu].tool_calls: is NULL but n_tool_calls is %zu", i, m->n_tool_calls);
        if (m->n_tool_calls > MAX_TOOL_CALLS)
            BAD("messages[%zu].tool_calls: %zu calls, at most %d allowed", i, m->n_tool_calls,
                MAX_TOOL_CALLS);
        for (size_t k = 0; k < m->n_tool_calls; k++) {
            const struct llm_tool_call *c = &m->tool_calls[k];
            if (c->id == NULL || c->id[0] == '\0' || has_ctl(c->id))
                BAD("messages[%zu].tool_calls[%zu].id: is %s", i, k,
                    c->id == NULL ? "NULL" : c->id[0] ? "not printable" : "empty");
            if (c->name == NULL || !name_ok(c->name))
                BAD("messages[%zu].tool_calls[%zu].name: is %s", i, k,
                    c->name == NULL ? "NULL" : "not a tool name ([A-Za-z0-9_-], 1..64 bytes)");
            if (c->arguments != NULL && json_object_problem(c->arguments, why, sizeof(why)))
                BAD("messages[%zu].tool_calls[%zu].arguments: %s", i, k, why);
        }
    }
    if (tool) {
        if (m->tool_call_id == NULL || m->tool_call_id[0] == '\0' || has_ctl(m->tool_call_id))
            BAD("messages[%zu].tool_call_id: is %s (a \"tool\" turn answers one call)", i,
                m->tool_call_id == NULL ? "NULL" : m->tool_call_id[0] ? "not printable" : "empty");
    } else if (m->tool_call_id != NULL) {
        BAD("messages[%zu].tool_call_id: only \"tool\" turns carry one", i);
    }
    if (m->name != NULL && !name_ok(m->name))
        BAD("messages[%zu].name: is not a name ([A-Za-z0-9_-], 1..64 bytes)", i);
    return LLM_OK;
}

static enum llm_error check_tools(const struct llm_request *in, char *err, size_t errlen)
{
    char why[64];
    if (in->n_tools > 0 && in->tools == NULL)
        BAD("tools: is NULL but n_tools is %zu", in->n_tools);
    if (in->n_tools > MAX_TOOLS)
        BAD("tools: %zu tools, at most %d allowed", in->n_tools, MAX_TOOLS);
    for (size_t i = 0; i < in->n_tools; i++) {
        const struct llm_tool *t = &in->tools[i];
        if (t->name == NULL || !name_ok(t->name))
            BAD("tools[%zu].name: is %s", i,
                t->name == NULL ? "NULL" : "not a tool name ([A-Za-z0-9_-], 1..64 bytes)");
        for (size_t k = 0; k < i; k++)
            if (strcmp(in->tools[k].name, t->name) == 0)
                BAD("tools[%zu].name: \"%s\" is also tools[%zu]'s name", i, t->name, k);
        if (t->parameters_json != NULL &&
            json_object_problem(t->parameters_json, why, sizeof(why)))
            BAD("tools[%zu].parameters_json: invalid JSON schema text (%s)", i, why);
    }
    switch (in->tool_choice) {
    case LLM_TOOL_CHOICE_DEFAULT:
    case LLM_TOOL_CHOICE_AUTO:
    case LLM_TOOL_CHOICE_NONE:
        break;
    case LLM_TOOL_CHOICE_REQUIRED:
        if (in->n_tools == 0)
            BAD("tool_choice: \"required\" but the request has no tools");
        break;
    case LLM_TOOL_CHOICE_NAMED: {
        if (in->tool_choice_name == NULL)
            BAD("tool_choice_name: is NULL (LLM_TOOL_CHOICE_NAMED names a tool)");
        bool found = false;
        for (size_t i = 0; i < in->n_tools && !found; i++)
            found = strcmp(in->tools[i].name, in->tool_choice_name) == 0;
        if (!found) {
            char name[72];
            shown(name, sizeof(name), in->tool_choice_name);
            BAD("tool_choice_name: \"%s\" is not one of the request's tools", name);
        }
        break;
    }
    default:
        BAD("tool_choice: unknown value %d", (int)in->tool_choice);
    }
    if (in->tool_choice != LLM_TOOL_CHOICE_NAMED && in->tool_choice_name != NULL)
        BAD("tool_choice_name: set but tool_choice is not LLM_TOOL_CHOICE_NAMED");
    return LLM_OK;
}

static enum llm_error check_format(const struct llm_response_format *f, char *err,
                                   size_t errlen)
{
    char why[64];
    switch (f->type) {
    case LLM_RESPONSE_TEXT:
    case LLM_RESPONSE_JSON_OBJECT:
        return LLM_OK;
    case LLM_RESPONSE_JSON_SCHEMA:
        if (f->name == NULL || !name_ok(f->name))
            BAD("response_format.name: is %s", f->name == NULL
                                                    ? "NULL (json_schema needs a name)"
                                                    : "not a name ([A-Za-z0-9_-], 1..64 bytes)");
        if (f->schema_json == NULL)
            BAD("response_format.schema_json: is NULL (json_schema needs a schema)");
        if (json_object_problem(f->schema_json, why, sizeof(why)))
            BAD("response_format.schema_json: invalid JSON schema text (%s)", why);
        return LLM_OK;
    }
    BAD("response_format.type: unknown value %d", (int)f->type);
}

enum llm_error llm__request_validate(const struct llm_request *in, char *err, size_t errlen)
{
    if (!in)
        BAD("request: is NULL");
    if (!in->model || !in->model[0])
        BAD("model: is %s (a model name is required)", in->model ? "empty" : "NULL");
    if (strpbrk(in->model, "\r\n"))
        BAD("model: contains CR or LF");
    if (!in->messages || in->n_messages == 0)
        BAD("messages: %s (at least one message is required)",
            in->messages ? "is empty" : "is NULL");
    for (size_t i = 0; i < in->n_messages; i++) {
        enum llm_error e = check_message(&in->messages[i], i, err, errlen);
        if (e != LLM_OK)
            return e;
    }
    if (in->max_tokens < 0)
        BAD("max_tokens: %d is negative", in->max_tokens);
    if (in->max_completion_tokens < 0)
        BAD("max_completion_tokens: %d is negative", in->max_completion_tokens);
    if (in->max_tokens > 0 && in->max_completion_tokens > 0)
        BAD("max_completion_tokens: set together with max_tokens (use one)");
    if (in->has_temperature && !(in->temperature >= 0.0 && in->temperature <= 2.0))
        BAD("temperature: must be between 0 and 2");
    if (in->has_top_p && !(in->top_p >= 0.0 && in->top_p <= 1.0))
        BAD("top_p: must be between 0 and 1");
    if (in->n_stop > MAX_STOP)
        BAD("stop: %zu sequences given, at most %d allowed", in->n_stop, MAX_STOP);
    if (in->n_stop && !in->stop)
        BAD("stop: is NULL but n_stop is %zu", in->n_stop);
    for (size_t i = 0; i < in->n_stop; i++)
        if (!in->stop[i] || !in->stop[i][0])
            BAD("stop[%zu]: is NULL or empty", i);
    if (in->extra_json && !is_json_object(in->extra_json))
        BAD("extra_json: is not a JSON object");
    if (in->metadata_json && !is_json_object(in->metadata_json))
        BAD("metadata_json: is not a JSON object");
    if (in->deadline_ms < 0)
        BAD("deadline_ms: is negative");
    enum llm_error e = check_tools(in, err, errlen);
    if (e == LLM_OK)
        e = check_format(&in->response_format, err, errlen);
    if (e != LLM_OK)
        return e;
    if (in->max_attempts < 0 || in->max_attempts > MAX_ATTEMPTS)
        BAD("max_attempts: %d is out of range (0 = engine default, 1..%d)", in->max_attempts,
            MAX_ATTEMPTS);
    if (in->attempt_timeout_ms < 0)
        BAD("attempt_timeout_ms: is negative");
    if (in->n_headers > 0 && in->headers == NULL)
        BAD("headers: is NULL but n_headers is %zu", in->n_headers);
    if (in->n_headers > MAX_HEADERS)
        BAD("headers: %zu headers, at most %d allowed", in->n_headers, MAX_HEADERS);
    for (size_t i = 0; i < in->n_headers; i++) {
        char why[80];
        if (llm__header_line_check(in->headers[i], why, sizeof(why)) != LLM_OK)
            BAD("headers[%zu]: %s", i, why);
    }
    return LLM_OK;
}
#undef BAD

void llm__request_free_copy(struct llm_request *r, void *block)
{
    free(block);
    if (r)
        memset(r, 0, sizeof(*r));
}

/* Bytes for a copy of `s` (with its NUL), 0 for NULL; false on overflow. */
static bool add_str(size_t *total, const char *s)
{
    size_t n = s != NULL ? strlen(s) + 1 : 0;
    if (n > SIZE_MAX - *total)
        return false;
    *total += n;
    return true;
}

/* Bytes for an array of n elements of `size`; false on overflow. */
static bool add_array(size_t *total, size_t n, size_t size)
{
    if (n > SIZE_MAX / size || n * size > SIZE_MAX - *total)
        return false;
    *total += n * size;
    return true;
}

/* Copy `s` to *cursor and advance it; NULL stays NULL. */
static const char *put_str(char **cursor, const char *s)
{
    if (s == NULL)
        return NULL;
    size_t n = strlen(s) + 1;
    char *dst = memcpy(*cursor, s, n);
    *cursor += n;
    return dst;
}

/* Carve an array of n elements of `size` out of *cursor. */
static void *take(char **cursor, size_t n, size_t size)
{
    if (n == 0)
        return NULL;
    void *p = *cursor;
    *cursor += n * size;
    return p;
}

/* Counts as copied: an array whose pointer is NULL is copied as empty. */
static size_t n_parts_of(const struct llm_message *m)
{
    return m->parts != NULL ? m->n_parts : 0;
}

static size_t n_calls_of(const struct llm_message *m)
{
    return m->tool_calls != NULL ? m->n_tool_calls : 0;
}

enum llm_error llm__request_copy(const struct llm_request *in, struct llm_request *out,
                                 void **block)
{
    return llm__request_copy_after(in, out, 0, block);
}

/* The copy's block: the caller's `*head` bytes first, rounded up (into
 * *head) so that the arrays after it stay aligned, then `total` bytes and
 * a spare NUL.  NULL on overflow or out of memory. */
static char *alloc_block(size_t *head, size_t total)
{
    const size_t align = _Alignof(max_align_t);
    if (*head > SIZE_MAX - align)
        return NULL;
    *head = (*head + align - 1) / align * align;
    if (total >= SIZE_MAX - *head)
        return NULL;
    return malloc(*head + total + 1);
}

/* The plain request's copy: text messages only (no parts, tool calls,
 * stop sequences, tools or headers), at most PLAIN_MAX_MSG of them.  The
 * same block as the general copy below, made in one pass over the strings
 * (their lengths kept from the sizing) without the loops over empty arrays:
 * callgrind, one message: ~440 -> ~200 instructions besides malloc.
 * Returns false to let the general copy do it. */
#define PLAIN_MAX_MSG 8
#define PLAIN_TOP_STRINGS 7
#define PLAIN_MSG_STRINGS 4

static bool is_plain(const struct llm_request *in)
{
    if ((in->stop != NULL && in->n_stop > 0) || (in->tools != NULL && in->n_tools > 0) ||
        (in->headers != NULL && in->n_headers > 0) || in->messages == NULL ||
        in->n_messages > PLAIN_MAX_MSG)
        return false;
    for (size_t i = 0; i < in->n_messages; i++)
        if (n_parts_of(&in->messages[i]) > 0 || n_calls_of(&in->messages[i]) > 0)
            return false;
    return true;
}

/* Length with the NUL of each of `n` strings (0 for NULL) into len[],
 * their sum added to *total; false on overflow. */
static bool measure(const char *const *s, size_t n, size_t *len, size_t *total)
{
    for (size_t i = 0; i < n; i++) {
        len[i] = s[i] != NULL ? strlen(s[i]) + 1 : 0;
        if (len[i] > SIZE_MAX - *total)
            return false;
        *total += len[i];
    }
    return true;
}

/* Copy `s` of `len` bytes (with its NUL; 0 = NULL) to *cursor. */
static const char *put_len(char **cursor, const char *s, size_t len)
{
    if (len == 0)
        return NULL;
    char *dst = memcpy(*cursor, s, len);
    *cursor += len;
    return dst;
}

static bool copy_plain(const struct llm_request *in, struct llm_request *out, size_t head,
                       void **block, enum llm_error *rc)
{
    if (!is_plain(in))
        return false;
    size_t n_msg = in->n_messages;
    const char *top[PLAIN_TOP_STRINGS] = {in->model, in->system, in->extra_json,
                                          in->metadata_json, in->tool_choice_name,
                                          in->response_format.name,
                                          in->response_format.schema_json};
    size_t top_len[PLAIN_TOP_STRINGS], msg_len[PLAIN_MAX_MSG][PLAIN_MSG_STRINGS];
    size_t total = n_msg * sizeof(struct llm_message); /* n_msg <= PLAIN_MAX_MSG */
    bool ok = measure(top, PLAIN_TOP_STRINGS, top_len, &total);
    for (size_t i = 0; ok && i < n_msg; i++) {
        const struct llm_message *m = &in->messages[i];
        const char *ms[PLAIN_MSG_STRINGS] = {m->role, m->content, m->tool_call_id, m->name};
        ok = measure(ms, PLAIN_MSG_STRINGS, msg_len[i], &total);
    }
    char *mem = ok ? alloc_block(&head, total) : NULL;
    if (mem == NULL) {
        memset(out, 0, sizeof(*out));
        *rc = LLM_ERR_OUT_OF_MEMORY;
        return true;
    }
    *out = *in;
    char *cursor = mem + head;
    struct llm_message *msgs = (struct llm_message *)(void *)cursor;
    cursor += n_msg * sizeof(*msgs);
    out->model = put_len(&cursor, in->model, top_len[0]);
    out->system = put_len(&cursor, in->system, top_len[1]);
    out->extra_json = put_len(&cursor, in->extra_json, top_len[2]);
    out->metadata_json = put_len(&cursor, in->metadata_json, top_len[3]);
    out->tool_choice_name = put_len(&cursor, in->tool_choice_name, top_len[4]);
    out->response_format.name = put_len(&cursor, in->response_format.name, top_len[5]);
    out->response_format.schema_json =
        put_len(&cursor, in->response_format.schema_json, top_len[6]);
    for (size_t i = 0; i < n_msg; i++) {
        const struct llm_message *m = &in->messages[i];
        msgs[i] = *m;
        msgs[i].parts = NULL;
        msgs[i].n_parts = 0;
        msgs[i].tool_calls = NULL;
        msgs[i].n_tool_calls = 0;
        msgs[i].role = put_len(&cursor, m->role, msg_len[i][0]);
        msgs[i].content = put_len(&cursor, m->content, msg_len[i][1]);
        msgs[i].tool_call_id = put_len(&cursor, m->tool_call_id, msg_len[i][2]);
        msgs[i].name = put_len(&cursor, m->name, msg_len[i][3]);
    }
    out->messages = n_msg > 0 ? msgs : NULL;
    out->n_messages = n_msg;
    out->stop = NULL;
    out->n_stop = 0;
    out->tools = NULL;
    out->n_tools = 0;
    out->headers = NULL;
    out->n_headers = 0;
    *block = mem;
    *rc = LLM_OK;
    return true;
}

enum llm_error llm__request_copy_after(const struct llm_request *in, struct llm_request *out,
                                       size_t head, void **block)
{
    enum llm_error rc;
    *block = NULL;
    if (copy_plain(in, out, head, block, &rc))
        return rc;
    return llm__request_copy_general(in, out, head, block);
}

enum llm_error llm__request_copy_general(const struct llm_request *in, struct llm_request *out,
                                         size_t head, void **block)
{
    /* One allocation: every array first (each element type is a multiple
     * of pointer alignment, so they stay aligned), then every string. */
    _Static_assert(sizeof(struct llm_message) % sizeof(void *) == 0, "aligned arrays");
    _Static_assert(sizeof(struct llm_content_part) % sizeof(void *) == 0, "aligned arrays");
    _Static_assert(sizeof(struct llm_tool_call) % sizeof(void *) == 0, "aligned arrays");
    _Static_assert(sizeof(struct llm_tool) % sizeof(void *) == 0, "aligned arrays");
    *block = NULL;
    *out = *in;
    size_t n_msg = in->messages != NULL ? in->n_messages : 0;
    size_t n_stop = in->stop != NULL ? in->n_stop : 0;
    size_t n_tools = in->tools != NULL ? in->n_tools : 0;
    size_t n_hdr = in->headers != NULL ? in->n_headers : 0;
    size_t total = 0;
    bool ok = add_array(&total, n_msg, sizeof(struct llm_message)) &&
              add_array(&total, n_stop, sizeof(char *)) &&
              add_array(&total, n_tools, sizeof(struct llm_tool)) &&
              add_array(&total, n_hdr, sizeof(char *));
    for (size_t i = 0; ok && i < n_msg; i++)
        ok = add_array(&total, n_parts_of(&in->messages[i]), sizeof(struct llm_content_part)) &&
             add_array(&total, n_calls_of(&in->messages[i]), sizeof(struct llm_tool_call));
    ok = ok && add_str(&total, in->model) && add_str(&total, in->system) &&
         add_str(&total, in->extra_json) && add_str(&total, in->metadata_json) &&
         add_str(&total, in->tool_choice_name) && add_str(&total, in->response_format.name) &&
         add_str(&total, in->response_format.schema_json);
    for (size_t i = 0; ok && i < n_msg; i++) {
        const struct llm_message *m = &in->messages[i];
        ok = add_str(&total, m->role) && add_str(&total, m->content) &&
             add_str(&total, m->tool_call_id) && add_str(&total, m->name);
        for (size_t k = 0; ok && k < n_parts_of(m); k++) {
            const struct llm_content_part *pt = &m->parts[k];
            ok = add_str(&total, pt->text) && add_str(&total, pt->url) &&
                 add_str(&total, pt->data) && add_str(&total, pt->media_type) &&
                 add_str(&total, pt->detail);
        }
        for (size_t k = 0; ok && k < n_calls_of(m); k++) {
            const struct llm_tool_call *c = &m->tool_calls[k];
            ok = add_str(&total, c->id) && add_str(&total, c->name) &&
                 add_str(&total, c->arguments);
        }
    }
    for (size_t i = 0; ok && i < n_stop; i++)
        ok = add_str(&total, in->stop[i]);
    for (size_t i = 0; ok && i < n_tools; i++)
        ok = add_str(&total, in->tools[i].name) && add_str(&total, in->tools[i].description) &&
             add_str(&total, in->tools[i].parameters_json);
    for (size_t i = 0; ok && i < n_hdr; i++)
        ok = add_str(&total, in->headers[i]);
    char *mem = ok ? alloc_block(&head, total) : NULL;
    if (mem == NULL) {
        memset(out, 0, sizeof(*out));
        return LLM_ERR_OUT_OF_MEMORY;
    }
    char *cursor = mem + head;
    struct llm_message *msgs = take(&cursor, n_msg, sizeof(*msgs));
    const char **stops = take(&cursor, n_stop, sizeof(*stops));
    struct llm_tool *tools = take(&cursor, n_tools, sizeof(*tools));
    const char **hdrs = take(&cursor, n_hdr, sizeof(*hdrs));
    for (size_t i = 0; i < n_msg; i++) {
        msgs[i] = in->messages[i];
        msgs[i].n_parts = n_parts_of(&in->messages[i]);
        msgs[i].parts = take(&cursor, msgs[i].n_parts, sizeof(struct llm_content_part));
        msgs[i].n_tool_calls = n_calls_of(&in->messages[i]);
        msgs[i].tool_calls = take(&cursor, msgs[i].n_tool_calls, sizeof(struct llm_tool_call));
    }
    out->model = put_str(&cursor, in->model);
    out->system = put_str(&cursor, in->system);
    out->extra_json = put_str(&cursor, in->extra_json);
    out->metadata_json = put_str(&cursor, in->metadata_json);
    out->tool_choice_name = put_str(&cursor, in->tool_choice_name);
    out->response_format.name = put_str(&cursor, in->response_format.name);
    out->response_format.schema_json = put_str(&cursor, in->response_format.schema_json);
    for (size_t i = 0; i < n_msg; i++) {
        const struct llm_message *m = &in->messages[i];
        msgs[i].role = put_str(&cursor, m->role);
        msgs[i].content = put_str(&cursor, m->content);
        msgs[i].tool_call_id = put_str(&cursor, m->tool_call_id);
        msgs[i].name = put_str(&cursor, m->name);
        struct llm_content_part *parts = (struct llm_content_part *)msgs[i].parts;
        for (size_t k = 0; k < msgs[i].n_parts; k++) {
            const struct llm_content_part *pt = &m->parts[k];
            parts[k] = *pt;
            parts[k].text = put_str(&cursor, pt->text);
            parts[k].url = put_str(&cursor, pt->url);
            parts[k].data = put_str(&cursor, pt->data);
            parts[k].media_type = put_str(&cursor, pt->media_type);
            parts[k].detail = put_str(&cursor, pt->detail);
        }
        struct llm_tool_call *calls = (struct llm_tool_call *)msgs[i].tool_calls;
        for (size_t k = 0; k < msgs[i].n_tool_calls; k++) {
            const struct llm_tool_call *c = &m->tool_calls[k];
            calls[k].id = put_str(&cursor, c->id);
            calls[k].name = put_str(&cursor, c->name);
            calls[k].arguments = put_str(&cursor, c->arguments);
        }
    }
    for (size_t i = 0; i < n_stop; i++)
        stops[i] = put_str(&cursor, in->stop[i]);
    for (size_t i = 0; i < n_tools; i++) {
        tools[i] = in->tools[i];
        tools[i].name = put_str(&cursor, in->tools[i].name);
        tools[i].description = put_str(&cursor, in->tools[i].description);
        tools[i].parameters_json = put_str(&cursor, in->tools[i].parameters_json);
    }
    for (size_t i = 0; i < n_hdr; i++)
        hdrs[i] = put_str(&cursor, in->headers[i]);
    out->messages = msgs;
    out->n_messages = n_msg;
    out->stop = stops;
    out->n_stop = n_stop;
    out->tools = tools;
    out->n_tools = n_tools;
    out->headers = hdrs;
    out->n_headers = n_hdr;
    *block = mem;
    return LLM_OK;
}
