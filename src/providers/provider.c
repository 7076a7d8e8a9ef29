/* The provider wrapper: llm_provider_new() like the other plug-ins
 * (llm_gate_new, llm_backoff_new): the library allocates the provider,
 * copies the vtable and fills in default slots, so call sites never test
 * for NULL and extension authors never allocate struct llm_provider. */
#include <stdlib.h>
#include <string.h>

#include "llmorch/ext/provider.h"
#include "providers/hooks.h"

/* What llm_provider_new allocates.  `pub` comes first so that the pointer
 * handed out is also the allocation, which llm_provider_free() frees (as it
 * did when callers allocated struct llm_provider themselves). */
struct provider {
    struct llm_provider pub;
    struct llm_provider_vtable vt;   /* copied, optional slots filled in */
};

static void no_rate_limits(const struct llm_provider *p, const struct llm_http_headers *headers,
                           struct llm_rate_limit_info *out)
{
    (void)p, (void)headers, (void)out;
}

enum llm_error llm_provider_new(const struct llm_provider_vtable *vt, void *impl,
                                struct llm_provider **out)
{
    if (out != NULL)
        *out = NULL;
    if (out == NULL || vt == NULL || vt->build_request == NULL || vt->parse_response == NULL ||
        vt->parse_stream_event == NULL || vt->classify_error == NULL)
        return LLM_ERR_INVALID_ARGUMENT;
    struct provider *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return LLM_ERR_OUT_OF_MEMORY;
    p->vt = *vt;
    if (p->vt.name == NULL)
        p->vt.name = "custom";
    if (p->vt.read_rate_limits == NULL)
        p->vt.read_rate_limits = no_rate_limits;
    p->pub.vtable = &p->vt;
    p->pub.impl = impl;
    *out = &p->pub;
    return LLM_OK;
}

const struct llm_provider_vtable *llm_provider_vtable(const struct llm_provider *p)
{
    return p != NULL ? p->vtable : NULL;
}

void *llm_provider_impl(const struct llm_provider *p)
{
    return p != NULL ? p->impl : NULL;
}

const char *llm_provider_name(const struct llm_provider *p)
{
    return p != NULL && p->vtable != NULL && p->vtable->name != NULL ? p->vtable->name : "custom";
}

void llm_provider_free(struct llm_provider *p)
{
    if (p == NULL)
        return;
    if (p->vtable != NULL && p->vtable->destroy != NULL)
        p->vtable->destroy(p);
    free(p);
}

enum llm_error llm__provider_headers_added(const struct llm_provider *p,
                                           struct llm_http_request *req,
                                           const char *const *engine_lines, size_t n_engine,
                                           const char *const *request_lines, size_t n_request,
                                           char *why, size_t why_cap)
{
    const char *const *const lines[2] = {engine_lines, request_lines};
    const size_t n[2] = {engine_lines != NULL ? n_engine : 0,
                         request_lines != NULL ? n_request : 0};
    return llm__bedrock_headers_added(p, req, lines, n, why, why_cap);
}
