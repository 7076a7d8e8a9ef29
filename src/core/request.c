/* Request validation and deep copy.  Validation happens on the submitting
 * thread so a bad request is reported with the exact field at fault. */
#include "core/request.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"

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

void llm__request_free_copy(struct llm_request *r)
{
    if (!r)
        return;
    free((char *)r->model);
    if (r->messages) {
        for (size_t i = 0; i < r->n_messages; i++) {
            free((char *)r->messages[i].role);
            free((char *)r->messages[i].content);
        }
        free((struct llm_message *)r->messages);
    }
    if (r->stop) {
        for (size_t i = 0; i < r->n_stop; i++)
            free((char *)r->stop[i]);
        free((char **)r->stop);
    }
    free((char *)r->system);
    free((char *)r->extra_json);
    free((char *)r->metadata_json);
    memset(r, 0, sizeof(*r));
}

static bool dup_into(const char **dst, const char *src)
{
    *dst = NULL;
    if (!src)
        return true;
    *dst = llm__strdup(src);
    return *dst != NULL;
}

enum llm_error llm__request_copy(const struct llm_request *in, struct llm_request *out)
{
    *out = *in;
    out->model = NULL;
    out->messages = NULL;
    out->n_messages = 0;
    out->stop = NULL;
    out->n_stop = 0;
    out->system = out->extra_json = out->metadata_json = NULL;

    if (!dup_into(&out->model, in->model) || !dup_into(&out->system, in->system) ||
        !dup_into(&out->extra_json, in->extra_json) ||
        !dup_into(&out->metadata_json, in->metadata_json))
        goto oom;
    if (in->n_messages) {
        struct llm_message *msgs = calloc(in->n_messages, sizeof(*msgs));
        if (!msgs)
            goto oom;
        out->messages = msgs;
        out->n_messages = in->n_messages;
        for (size_t i = 0; i < in->n_messages; i++)
            if (!dup_into(&msgs[i].role, in->messages[i].role) ||
                !dup_into(&msgs[i].content, in->messages[i].content))
                goto oom;
    }
    if (in->n_stop) {
        const char **stops = calloc(in->n_stop, sizeof(*stops));
        if (!stops)
            goto oom;
        out->stop = stops;
        out->n_stop = in->n_stop;
        for (size_t i = 0; i < in->n_stop; i++)
            if (!dup_into(&stops[i], in->stop[i]))
                goto oom;
    }
    return LLM_OK;
oom:
    llm__request_free_copy(out);
    return LLM_ERR_OUT_OF_MEMORY;
}
