/* Helpers every provider shares (llmorch/ext/provider.h): the llm_parsed
 * accumulator.  Providers write through these so that growth and overflow
 * checks live in one place.  (The HTTP message helpers are in
 * transport/http_msg.c.) */
#include <stdint.h>
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

enum llm_error llm_parsed_append(struct llm_parsed *p, const char *text, size_t len)
{
    if (p == NULL || (text == NULL && len > 0))
        return LLM_ERR_INVALID_ARGUMENT;
    enum llm_error err = llm__parsed_reserve(p, len);
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

void llm_parsed_clear(struct llm_parsed *p)
{
    if (p == NULL)
        return;
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

void llm_provider_free(struct llm_provider *p)
{
    if (p == NULL)
        return;
    if (p->vtable != NULL && p->vtable->destroy != NULL)
        p->vtable->destroy(p);
    free(p);
}
