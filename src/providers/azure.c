/* Azure OpenAI: the OpenAI wire format (openai.c's body, parsers, error
 * table and rate-limit reader) at Azure's URL with Azure's auth:
 *   {endpoint}/openai/deployments/{deployment}/chat/completions?api-version=V
 *   {endpoint}/openai/v1/chat/completions              (api_version "v1")
 * `api-key: KEY`, or `Authorization: Bearer TOKEN` for Entra ID tokens.
 * Content-filter refusals name the categories that tripped.  No I/O. */
#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "llmorch/ext/provider.h"
#include "providers/openai.h"
#include "providers/wire.h"
#include "transport/headers.h"

#define DEFAULT_KEY_ENV "AZURE_OPENAI_API_KEY"
#define ENDPOINT_ENV "AZURE_OPENAI_ENDPOINT"
/* The GA version the official SDK sends (WIRE-NOTES.md). */
#define DEFAULT_API_VERSION "2024-10-21"

struct azure_impl {
    struct llm__endpoint ep; /* first (llm__http_provider_new); url: the endpoint
                                without a trailing "/openai" */
    char *api_version;       /* NULL: the v1 route */
    char *deployment;        /* NULL: the request's model */
};
_Static_assert(offsetof(struct azure_impl, ep) == 0, "llm__http_provider_new fills the first member");

static enum llm_error azure_build_request(const struct llm_provider *p,
                                          const struct llm_request *req, const char *trace_id,
                                          struct llm_http_request *out)
{
    const struct azure_impl *m = p->impl;
    memset(out, 0, sizeof(*out));
    const char *deployment = m->deployment != NULL ? m->deployment : req->model;
    if (deployment == NULL)
        return LLM_ERR_INVALID_REQUEST;
    /* The SDK puts the deployment in the body's "model" too. */
    enum llm_error err = llm__openai_build_body(req, deployment, out);
    if (err != LLM_OK)
        return err;
    err = llm__endpoint_begin(&m->ep, trace_id, out);
    if (err == LLM_OK) {
        char *seg = llm__url_segment(deployment);
        free(out->url);
        out->url = NULL;
        if (seg != NULL && m->api_version != NULL)
            out->url = llm__asprintf("%s/openai/deployments/%s/chat/completions?api-version=%s",
                                     m->ep.url, seg, m->api_version);
        else if (seg != NULL)
            out->url = llm__asprintf("%s/openai/v1/chat/completions", m->ep.url);
        free(seg);
        if (out->url == NULL)
            err = LLM_ERR_OUT_OF_MEMORY;
    }
    if (err == LLM_OK)
        err = llm__http_request_add_header_lit(out, "Content-Type", "application/json");
    if (err == LLM_OK && m->ep.api_key != NULL) {
        if (strncmp(m->ep.api_key, "Bearer ", 7) == 0)
            err = llm_http_request_add_header(out, "Authorization", m->ep.api_key);
        else
            err = llm_http_request_add_header(out, "api-key", m->ep.api_key);
    }
    return llm__request_built(out, err);
}

/* "hate=high, violence=medium": the categories Azure's content filter
 * flagged, from error.innererror.content_filter_result (or the older
 * content_filter_results). */
static char *filtered_categories(const cJSON *root)
{
    const cJSON *inner = llm__json_object(llm__json_object(root, "error"), "innererror");
    const cJSON *res = llm__json_object(inner, "content_filter_result");
    if (res == NULL)
        res = llm__json_object(inner, "content_filter_results");
    if (res == NULL)
        return NULL;
    struct llm__buf b = {0};
    const cJSON *c;
    cJSON_ArrayForEach(c, res) {
        if (!cJSON_IsObject(c) || c->string == NULL ||
            !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "filtered")))
            continue;
        const char *sev = llm__json_string(c, "severity");
        if (llm__buf_appendf(&b, "%s%.40s%s%.20s", b.len ? ", " : "", c->string,
                             sev ? "=" : "", sev ? sev : "") != LLM_OK)
            break;
    }
    if (b.len == 0) {
        llm__buf_free(&b);
        return NULL;
    }
    return llm__buf_steal(&b);
}

static void azure_classify_error(const struct llm_provider *p, int status,
                                 const struct llm_http_headers *headers, const char *body,
                                 size_t len, struct llm_error_info *out)
{
    llm__openai_classify_error(p, status, headers, body, len, out);
    if (out->type != LLM_ERR_CONTENT_FILTERED)
        return;
    cJSON *root = llm__json_parse(body, len);
    char *cats = filtered_categories(root);
    cJSON_Delete(root);
    if (cats == NULL)
        return;
    char *msg = llm__asprintf("%s (content filter: %s)", out->message ? out->message : "filtered",
                              cats);
    free(cats);
    if (msg != NULL) {
        free(out->message);
        out->message = msg;
    }
}

static void azure_destroy(struct llm_provider *p)
{
    struct azure_impl *m = p->impl;
    if (m == NULL)
        return;
    llm__endpoint_clear(&m->ep);
    free(m->api_version);
    free(m->deployment);
    free(m);
    p->impl = NULL;
}

static const struct llm_provider_vtable azure_vtable = {
    .name = "azure",
    .build_request = azure_build_request,
    .parse_response = llm__openai_parse_response,
    .parse_stream_event = llm__openai_parse_stream_event,
    .classify_error = azure_classify_error,
    .read_rate_limits = llm__openai_read_rate_limits,
    .request_id_header = "apim-request-id",
    .execute_local = NULL,
    .destroy = azure_destroy,
    .stream_framing = LLM_STREAM_SSE,
};

enum llm_error llm_provider_new_azure(const struct llm_provider_options *opts,
                                      struct llm_provider **out)
{
    if (out == NULL)
        return LLM_ERR_INVALID_ARGUMENT;
    *out = NULL;
    struct llm_provider_options o = {0};
    if (opts != NULL)
        o = *opts;
    if (o.base_url == NULL)
        o.base_url = getenv(ENDPOINT_ENV);
    if (o.base_url == NULL || o.base_url[0] == '\0')
        return LLM_ERR_INVALID_ARGUMENT; /* Azure has no default endpoint */
    const char *ver = o.api_version != NULL ? o.api_version : DEFAULT_API_VERSION;
    if (!llm__option_value_ok(ver) || strpbrk(ver, " &#?/") != NULL ||
        (o.deployment != NULL && (!llm__option_value_ok(o.deployment) || o.deployment[0] == '\0')))
        return LLM_ERR_INVALID_ARGUMENT;
    /* The SDK's endpoint excludes "/openai"; accept it either way. */
    char *base = NULL;
    size_t n = strlen(o.base_url);
    while (n > 0 && o.base_url[n - 1] == '/')
        n--;
    if (n >= 7 && memcmp(o.base_url + n - 7, "/openai", 7) == 0)
        n -= 7;
    base = llm__strndup(o.base_url, n);
    if (base == NULL)
        return LLM_ERR_OUT_OF_MEMORY;
    o.base_url = base;
    const char *trace = o.trace_header != NULL ? o.trace_header : "x-ms-client-request-id";
    enum llm_error err = llm__http_provider_new(&azure_vtable, sizeof(struct azure_impl), &o,
                                                base, NULL, DEFAULT_KEY_ENV, trace, out);
    free(base);
    if (err != LLM_OK)
        return err;
    struct azure_impl *m = (*out)->impl;
    if (strcmp(ver, "v1") != 0 && (m->api_version = llm__strdup(ver)) == NULL)
        err = LLM_ERR_OUT_OF_MEMORY;
    if (err == LLM_OK && o.deployment != NULL && (m->deployment = llm__strdup(o.deployment)) == NULL)
        err = LLM_ERR_OUT_OF_MEMORY;
    if (err != LLM_OK) {
        llm_provider_free(*out);
        *out = NULL;
    }
    return err;
}
