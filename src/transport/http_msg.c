/* The HTTP message helpers of llmorch/ext/provider.h: building a request's
 * headers, clearing a request, looking up a response header.  They belong
 * to the transport layer (every transport and every provider uses them), so
 * header validation lives in one place below both. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/util.h"
#include "llmorch/ext/provider.h"
#include "transport/headers.h"

/* A CR or LF in a header would let a caller-supplied value (an API key read
 * from the environment, a trace header) inject extra header lines. */
static bool has_crlf(const char *s)
{
    return strpbrk(s, "\r\n") != NULL;
}

enum llm_error llm_http_request_add_header(struct llm_http_request *req, const char *name,
                                           const char *value)
{
    if (req == NULL || name == NULL || value == NULL || name[0] == '\0' || has_crlf(name) ||
        has_crlf(value))
        return LLM_ERR_INVALID_ARGUMENT;
    if (req->n_headers >= SIZE_MAX / sizeof(*req->headers) - 1)
        return LLM_ERR_OUT_OF_MEMORY;

    /* Copy first, grow second: nothing in `req` changes until every
     * allocation has succeeded. */
    char *n = strdup(name);
    char *v = strdup(value);
    if (n == NULL || v == NULL) {
        free(n);
        free(v);
        return LLM_ERR_OUT_OF_MEMORY;
    }
    struct llm_header *h = realloc(req->headers, (req->n_headers + 1) * sizeof(*h));
    if (h == NULL) {
        free(n);
        free(v);
        return LLM_ERR_OUT_OF_MEMORY;
    }
    h[req->n_headers].name = n;
    h[req->n_headers].value = v;
    req->headers = h;
    req->n_headers++;
    return LLM_OK;
}

void llm__http_request_remove_header(struct llm_http_request *req, const char *name,
                                     size_t name_len)
{
    size_t k = 0;
    for (size_t i = 0; i < req->n_headers; i++) {
        struct llm_header *x = &req->headers[i];
        if (strlen(x->name) == name_len && strncasecmp(x->name, name, name_len) == 0) {
            free(x->name);
            free(x->value);
            continue;
        }
        req->headers[k++] = *x;
    }
    req->n_headers = k;
}

void llm_http_request_clear(struct llm_http_request *req)
{
    if (req == NULL)
        return;
    free(req->url);
    for (size_t i = 0; i < req->n_headers; i++) {
        free(req->headers[i].name);
        free(req->headers[i].value);
    }
    free(req->headers);
    free(req->body);
    memset(req, 0, sizeof(*req));
}

const char *llm_http_headers_get(const struct llm_http_headers *h, const char *name)
{
    if (h == NULL || name == NULL || h->items == NULL)
        return NULL;
    for (size_t i = 0; i < h->n; i++) {
        if (h->items[i].name != NULL && llm__strcaseeq(h->items[i].name, name))
            return h->items[i].value;
    }
    return NULL;
}
