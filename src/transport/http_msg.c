/* The HTTP message helpers of llmorch/ext/provider.h: building a request's
 * headers, clearing a request, looking up a response header.  They belong
 * to the transport layer (every transport and every provider uses them), so
 * header validation lives in one place below both. */
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/util.h"
#include "llmorch/ext/provider.h"
#include "transport/headers.h"

/* A CR or LF in a header would let a caller-supplied value (an API key read
 * from the environment, a trace header) inject extra header lines.  One
 * strcspn both checks `s` and measures it (its length when clean): strpbrk
 * and then strdup's strlen walked each string twice. */
static bool clean_len(const char *s, size_t *len)
{
    *len = strcspn(s, "\r\n");
    return s[*len] == '\0';
}

enum llm_error llm_http_request_add_header(struct llm_http_request *req, const char *name,
                                           const char *value)
{
    size_t nl, vl;
    if (req == NULL || name == NULL || value == NULL || name[0] == '\0' ||
        !clean_len(name, &nl) || !clean_len(value, &vl))
        return LLM_ERR_INVALID_ARGUMENT;
    return llm__http_request_add_header_n(req, name, nl, value, vl);
}

static char *copy_n(const char *s, size_t n)
{
    char *c = malloc(n + 1); /* n + 1: n is the length of a string in memory */
    if (c != NULL) {
        memcpy(c, s, n);
        c[n] = '\0';
    }
    return c;
}

enum llm_error llm__http_request_add_header_n(struct llm_http_request *req, const char *name,
                                              size_t name_len, const char *value,
                                              size_t value_len)
{
    if (req->n_headers >= SIZE_MAX / sizeof(*req->headers) - 1)
        return LLM_ERR_OUT_OF_MEMORY;

    /* Copy first, grow second: nothing in `req` changes until every
     * allocation has succeeded.  Each string is its own malloc'd block, as
     * provider.h promises (a provider may free and replace any of them). */
    char *n = copy_n(name, name_len);
    char *v = copy_n(value, value_len);
    if (n == NULL || v == NULL) {
        free(n);
        free(v);
        return LLM_ERR_OUT_OF_MEMORY;
    }
    /* The array is grown ahead (providers add two to five headers, the
     * engine its own): a realloc per header cost ~200 instructions each.
     * Its capacity is what the allocator says, so an array a provider
     * allocated itself (with malloc: llm_http_request_clear frees it) is
     * grown just as safely.  The first header mallocs room for eight (not
     * realloc(NULL): the longer way to the same block). */
    struct llm_header *h = req->headers;
    size_t need = (req->n_headers + 1) * sizeof(*h);
    if (h == NULL) {
        h = malloc(need < 8 * sizeof(*h) ? 8 * sizeof(*h) : need);
    } else if (malloc_usable_size(h) < need) {
        size_t want = need + need / 2;
        if (want < need) /* wrapped: need is near SIZE_MAX */
            want = need;
        h = realloc(req->headers, want);
    }
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

/* Whether `a` and `b` are equal ignoring ASCII case, for the first `n`
 * bytes or up to a common NUL.  Equal bytes cost a compare each; only a
 * differing pair is folded (a letter in another case), which ends most
 * mismatches at the first byte.  Not strcasecmp: locale-dependent, and a
 * call per header. */
static inline bool name_eqn(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char ca = (unsigned char)a[i], cb = (unsigned char)b[i];
        if (ca != cb) {
            ca |= 0x20;
            if (ca != (cb | 0x20) || ca < 'a' || ca > 'z')
                return false;
        } else if (ca == '\0') {
            return true;
        }
    }
    return true;
}

const char *llm_http_headers_get(const struct llm_http_headers *h, const char *name)
{
    if (h == NULL || name == NULL || h->items == NULL)
        return NULL;
    for (size_t i = 0; i < h->n; i++) {
        const char *n = h->items[i].name;
        if (n != NULL && name_eqn(n, name, SIZE_MAX))
            return h->items[i].value;
    }
    return NULL;
}

void llm__http_headers_get_family(const struct llm_http_headers *h, const char *prefix,
                                  const char *const *suffixes, size_t n, const char **values)
{
    for (size_t j = 0; j < n; j++)
        values[j] = NULL;
    if (h == NULL || h->items == NULL)
        return;
    size_t plen = strlen(prefix);
    size_t left = n;
    for (size_t i = 0; i < h->n && left > 0; i++) {
        const char *name = h->items[i].name;
        if (name == NULL || !name_eqn(name, prefix, plen))
            continue;
        /* A name shorter than the prefix stopped at its NUL above (the
         * prefix has none), so name + plen is within it. */
        for (size_t j = 0; j < n; j++) {
            if (values[j] == NULL && name_eqn(name + plen, suffixes[j], SIZE_MAX)) {
                values[j] = h->items[i].value;
                left--;
                break;
            }
        }
    }
}
