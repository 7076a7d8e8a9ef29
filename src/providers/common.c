/* Helpers every provider shares (llmorch/ext/provider.h): the llm_parsed
 * accumulator.  Providers write through these so that growth and overflow
 * checks live in one place.  (The HTTP message helpers are in
 * transport/http_msg.c.) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmorch/ext/provider.h"

#include "base/util.h"
#include "providers/wire.h"

enum llm_error llm__parsed_reserve(struct llm_parsed *p, size_t n)
{
    if (n > SIZE_MAX - 1 - p->content_len)
        return LLM_ERR_OUT_OF_MEMORY;
    return llm__grow(&p->content, &p->content_cap, p->content_len + n + 1, false)
               ? LLM_OK
               : LLM_ERR_OUT_OF_MEMORY;
}

enum llm_error llm__parsed_room(struct llm_parsed *p, size_t n)
{
    if (p->max_bytes == 0)
        return LLM_OK;
    /* Everything kept from the reply (a handful of tool calls at most, so
     * summing is cheap). */
    size_t kept = p->content_len;
    kept = kept > SIZE_MAX - p->refusal_len ? SIZE_MAX : kept + p->refusal_len;
    for (size_t i = 0; i < p->n_tool_calls; i++) {
        size_t a = p->tool_calls[i].arguments_len;
        kept = kept > SIZE_MAX - a ? SIZE_MAX : kept + a;
    }
    if (kept <= p->max_bytes && n <= p->max_bytes - kept)
        return LLM_OK;
    /* Said once: later appends find the error already there. */
    if (p->error != LLM_ERR_RESPONSE_TOO_LARGE) {
        char msg[128];
        snprintf(msg, sizeof(msg),
                 "the reply exceeds the %zu-byte limit (max_response_bytes)", p->max_bytes);
        if (llm_parsed_set_error(p, LLM_ERR_RESPONSE_TOO_LARGE, NULL, msg) != LLM_OK)
            p->error = LLM_ERR_RESPONSE_TOO_LARGE;
    }
    return LLM_ERR_RESPONSE_TOO_LARGE;
}

void llm__parsed_settle_usage(struct llm_parsed *p)
{
    if (p->usage.known && p->usage.output_tokens == 0 &&
        (p->content_len > 0 || p->refusal_len > 0 || p->n_tool_calls > 0))
        p->usage.known = false;
}

enum llm_error llm_parsed_append(struct llm_parsed *p, const char *text, size_t len)
{
    if (p == NULL || (text == NULL && len > 0))
        return LLM_ERR_INVALID_ARGUMENT;
    enum llm_error err = llm__parsed_room(p, len);
    if (err != LLM_OK)
        return err;
    err = llm__parsed_reserve(p, len);
    if (err != LLM_OK)
        return err;
    if (len > 0)
        memcpy(p->content + p->content_len, text, len);
    p->content_len += len;
    p->content[p->content_len] = '\0';
    return LLM_OK;
}

enum llm_error llm_parsed_set(char **slot, const char *s)
{
    if (slot == NULL)
        return LLM_ERR_INVALID_ARGUMENT;
    /* Copy before freeing: `s` may point into the old value. */
    char *copy = NULL;
    if (s != NULL && (copy = strdup(s)) == NULL)
        return LLM_ERR_OUT_OF_MEMORY;
    free(*slot);
    *slot = copy;
    return LLM_OK;
}

enum llm_error llm_parsed_set_error(struct llm_parsed *p, enum llm_error type,
                                    const char *provider_code, const char *message)
{
    if (p == NULL)
        return LLM_ERR_INVALID_ARGUMENT;
    char *code = NULL;
    char *msg = NULL;
    if ((provider_code != NULL && (code = strdup(provider_code)) == NULL) ||
        (message != NULL && (msg = strdup(message)) == NULL)) {
        free(code);
        free(msg);
        return LLM_ERR_OUT_OF_MEMORY;
    }
    free(p->provider_code);
    free(p->error_message);
    p->error = type;
    p->provider_code = code;
    p->error_message = msg;
    return LLM_OK;
}

/* Bounds on what a reply may ask for: a hostile server must not make us
 * allocate without limit. */
#define MAX_TOOL_CALLS 1024
#define MAX_TOOL_ARGUMENTS (16u * 1024 * 1024)

enum llm_error llm_parsed_tool_call(struct llm_parsed *p, int64_t wire_index,
                                    struct llm_parsed_tool_call **out)
{
    if (p == NULL || out == NULL)
        return LLM_ERR_INVALID_ARGUMENT;
    *out = NULL;
    if (wire_index >= 0) {
        for (size_t i = p->n_tool_calls; i-- > 0;) {
            if (p->tool_calls[i].wire_index == wire_index) {
                *out = &p->tool_calls[i];
                return LLM_OK;
            }
        }
    }
    if (p->n_tool_calls >= MAX_TOOL_CALLS)
        return LLM_ERR_PARSE;
    if (p->n_tool_calls == p->tool_calls_cap) {
        size_t cap = p->tool_calls_cap ? p->tool_calls_cap * 2 : 4;
        struct llm_parsed_tool_call *n = realloc(p->tool_calls, cap * sizeof(*n));
        if (n == NULL)
            return LLM_ERR_OUT_OF_MEMORY;
        p->tool_calls = n;
        p->tool_calls_cap = cap;
    }
    struct llm_parsed_tool_call *c = &p->tool_calls[p->n_tool_calls++];
    memset(c, 0, sizeof(*c));
    c->wire_index = wire_index < 0 ? -1 : wire_index;
    *out = c;
    return LLM_OK;
}

/* Append to a growing NUL-terminated buffer, bounded by `max`. */
static enum llm_error append_bounded(char **buf, size_t *len, size_t *cap, const char *text,
                                     size_t n, size_t max)
{
    if (text == NULL && n > 0)
        return LLM_ERR_INVALID_ARGUMENT;
    if (n > max || *len > max - n)
        return LLM_ERR_RESPONSE_TOO_LARGE;
    if (!llm__grow(buf, cap, *len + n + 1, false))
        return LLM_ERR_OUT_OF_MEMORY;
    if (n > 0)
        memcpy(*buf + *len, text, n);
    *len += n;
    (*buf)[*len] = '\0';
    return LLM_OK;
}

enum llm_error llm_parsed_tool_append(struct llm_parsed_tool_call *call, const char *text,
                                      size_t len)
{
    if (call == NULL)
        return LLM_ERR_INVALID_ARGUMENT;
    return append_bounded(&call->arguments, &call->arguments_len, &call->arguments_cap, text,
                          len, MAX_TOOL_ARGUMENTS);
}

enum llm_error llm__parsed_tool_append(struct llm_parsed *p, struct llm_parsed_tool_call *call,
                                       const char *text, size_t len)
{
    enum llm_error err = llm__parsed_room(p, len);
    return err != LLM_OK ? err : llm_parsed_tool_append(call, text, len);
}

enum llm_error llm_parsed_refusal_append(struct llm_parsed *p, const char *text, size_t len)
{
    if (p == NULL)
        return LLM_ERR_INVALID_ARGUMENT;
    enum llm_error err = llm__parsed_room(p, len);
    if (err != LLM_OK)
        return err;
    /* The refusal has no capacity member of its own: it is grown exactly
     * (refusals are one short sentence). */
    size_t cap = p->refusal != NULL ? p->refusal_len + 1 : 0;
    return append_bounded(&p->refusal, &p->refusal_len, &cap, text, len, MAX_TOOL_ARGUMENTS);
}

void llm_parsed_clear(struct llm_parsed *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->n_tool_calls; i++) {
        free(p->tool_calls[i].id);
        free(p->tool_calls[i].name);
        free(p->tool_calls[i].arguments);
    }
    free(p->tool_calls);
    free(p->refusal);
    free(p->content);
    free(p->finish_reason);
    free(p->model);
    free(p->response_id);
    free(p->error_message);
    free(p->provider_code);
    memset(p, 0, sizeof(*p));
}

void llm_error_info_clear(struct llm_error_info *info)
{
    if (info == NULL)
        return;
    free(info->provider_code);
    free(info->message);
    memset(info, 0, sizeof(*info));
}
