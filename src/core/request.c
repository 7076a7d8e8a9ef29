/* Request validation and deep copy.  Validation happens on the submitting
 * thread so a bad request is reported with the exact field at fault. */
#include "core/request.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

#define MAX_STOP 16

static const char *const valid_roles[] = {"system", "developer", "user", "assistant"};

static bool role_ok(const char *role)
{
    for (size_t i = 0; i < sizeof(valid_roles) / sizeof(valid_roles[0]); i++)
        if (strcmp(role, valid_roles[i]) == 0)
            return true;
    return false;
}

static bool is_json_object(const char *s)
{
    cJSON *j = cJSON_Parse(s);
    bool ok = j && cJSON_IsObject(j);
    cJSON_Delete(j);
    return ok;
}

enum llm_error llm__request_validate(const struct llm_request *in, char *err, size_t errlen)
{
#define BAD(...)                                \
    do {                                        \
        snprintf(err, errlen, __VA_ARGS__);     \
        return LLM_ERR_INVALID_REQUEST;         \
    } while (0)
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
        const struct llm_message *m = &in->messages[i];
        if (!m->role)
            BAD("messages[%zu].role: is NULL", i);
        if (!role_ok(m->role)) {
            char shown[40];
            snprintf(shown, sizeof(shown), "%s", m->role);
            for (char *p = shown; *p; p++)
                if ((unsigned char)*p < 0x20)
                    *p = '?';
            BAD("messages[%zu].role: invalid role \"%s\" (expected system, developer, user or "
                "assistant)", i, shown);
        }
        if (!m->content)
            BAD("messages[%zu].content: is NULL", i);
    }
    if (in->max_tokens < 0)
        BAD("max_tokens: %d is negative", in->max_tokens);
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
    return LLM_OK;
#undef BAD
}

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

enum llm_error llm__request_copy(const struct llm_request *in, struct llm_request *out,
                                 void **block)
{
    /* One allocation: the messages array, the stop array, then every
     * string (the arrays first keeps their pointers aligned). */
    *block = NULL;
    *out = *in;
    size_t n_msg = in->messages != NULL ? in->n_messages : 0;
    size_t n_stop = in->stop != NULL ? in->n_stop : 0;
    if (n_msg > SIZE_MAX / sizeof(struct llm_message) / 2 || n_stop > SIZE_MAX / sizeof(char *) / 2)
        return LLM_ERR_OUT_OF_MEMORY;
    size_t total = n_msg * sizeof(struct llm_message) + n_stop * sizeof(char *);
    bool ok = add_str(&total, in->model) && add_str(&total, in->system) &&
              add_str(&total, in->extra_json) && add_str(&total, in->metadata_json);
    for (size_t i = 0; ok && i < n_msg; i++)
        ok = add_str(&total, in->messages[i].role) && add_str(&total, in->messages[i].content);
    for (size_t i = 0; ok && i < n_stop; i++)
        ok = add_str(&total, in->stop[i]);
    char *mem = ok ? malloc(total > 0 ? total : 1) : NULL;
    if (mem == NULL) {
        memset(out, 0, sizeof(*out));
        return LLM_ERR_OUT_OF_MEMORY;
    }
    struct llm_message *msgs = n_msg > 0 ? (struct llm_message *)(void *)mem : NULL;
    const char **stops =
        n_stop > 0 ? (const char **)(void *)(mem + n_msg * sizeof(struct llm_message)) : NULL;
    char *cursor = mem + n_msg * sizeof(struct llm_message) + n_stop * sizeof(char *);
    out->model = put_str(&cursor, in->model);
    out->system = put_str(&cursor, in->system);
    out->extra_json = put_str(&cursor, in->extra_json);
    out->metadata_json = put_str(&cursor, in->metadata_json);
    for (size_t i = 0; i < n_msg; i++) {
        msgs[i].role = put_str(&cursor, in->messages[i].role);
        msgs[i].content = put_str(&cursor, in->messages[i].content);
    }
    for (size_t i = 0; i < n_stop; i++)
        stops[i] = put_str(&cursor, in->stop[i]);
    out->messages = msgs;
    out->n_messages = n_msg;
    out->stop = stops;
    out->n_stop = n_stop;
    *block = mem;
    return LLM_OK;
}
