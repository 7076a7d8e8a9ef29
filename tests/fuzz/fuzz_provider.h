/* Shared body of the provider fuzz targets (fuzz_anthropic.c,
 * fuzz_openai.c): any bytes through a provider's vtable, as the engine
 * would feed them.  Header only (static functions), so run.sh's glob of
 * fuzz_*.c does not take it for a target.
 *
 * Input layout: [status_lo][status_hi][stream bytes / body...]
 *   1. the body as a complete non-streamed 2xx reply (parse_response);
 *   2. the body as an SSE stream, parsed by the library's SSE parser, each
 *      event applied with parse_stream_event until one fails (as the engine
 *      stops an attempt on the first error);
 *   3. the body as a non-2xx reply with status 100 + (status % 500)
 *      (classify_error), with a Retry-After-ish header or none.
 * Checked after each: the return is one of the documented codes, an
 * llm_parsed is internally consistent (content, tool-call arguments and
 * refusal NUL-terminated at their lengths, counts non-negative, a PARSE
 * return carries a message), nothing leaks or trips a sanitizer. */
#ifndef FUZZ_PROVIDER_H
#define FUZZ_PROVIDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "llmorch/ext/provider.h"
#include "transport/sse.h"

#define FUZZ_PROVIDER_MAX_INPUT 65536

typedef enum llm_error fuzz_provider_new_fn(const struct llm_provider_options *opts,
                                            struct llm_provider **out);

static void fuzz_check_usage(const struct llm_usage *u)
{
    if (u->input_tokens < 0 || u->output_tokens < 0 || u->cached_input_tokens < 0 ||
        u->cache_write_tokens < 0 || u->reasoning_tokens < 0)
        abort();
}

static void fuzz_check_parsed(const struct llm_parsed *p, enum llm_error rc)
{
    if (rc != LLM_OK && rc != LLM_ERR_PARSE && rc != LLM_ERR_OUT_OF_MEMORY &&
        rc != LLM_ERR_RESPONSE_TOO_LARGE)
        abort();
    if (p->content != NULL && (p->content_len >= p->content_cap || p->content[p->content_len] != '\0'))
        abort();
    if (p->content == NULL && p->content_len != 0)
        abort();
    if (rc == LLM_ERR_PARSE && p->error_message == NULL)
        abort();
    if (p->error == LLM_OK && (p->error_message != NULL || p->provider_code != NULL) &&
        rc == LLM_OK)
        abort();
    fuzz_check_usage(&p->usage);
    if (p->n_tool_calls > p->tool_calls_cap || (p->n_tool_calls > 0 && p->tool_calls == NULL))
        abort();
    for (size_t i = 0; i < p->n_tool_calls; i++) {
        const struct llm_parsed_tool_call *c = &p->tool_calls[i];
        if (c->arguments != NULL ? c->arguments_len >= c->arguments_cap ||
                                       c->arguments[c->arguments_len] != '\0'
                                 : c->arguments_len != 0)
            abort();
        if (c->wire_index < -1)
            abort();
    }
    if (p->refusal != NULL ? p->refusal[p->refusal_len] != '\0' : p->refusal_len != 0)
        abort();
}

struct fuzz_stream {
    const struct llm_provider *prov;
    struct llm_parsed acc;
    enum llm_error rc;
};

static int fuzz_on_event(void *user, const char *event, const char *data, size_t len)
{
    struct fuzz_stream *s = user;
    /* The engine hands the slot a private copy of exactly `len` bytes. */
    char *copy = malloc(len > 0 ? len : 1);
    if (copy == NULL)
        abort();
    memcpy(copy, data, len);
    s->rc = s->prov->vtable->parse_stream_event(s->prov, event, copy, len, &s->acc);
    free(copy);
    fuzz_check_parsed(&s->acc, s->rc);
    return s->rc != LLM_OK ? 1 : 0;
}

/* Built once by fuzz_provider_init (from LLVMFuzzerInitialize): a provider
 * is immutable after creation (provider.h), so sharing it between inputs
 * carries no state from one to the next. */
static struct llm_provider *fuzz_prov;

static void fuzz_provider_init(fuzz_provider_new_fn *make)
{
    const struct llm_provider_options opts = {.base_url = "http://127.0.0.1:1", .api_key = ""};
    if (make(&opts, &fuzz_prov) != LLM_OK)
        abort();
}

static void fuzz_provider_one(const uint8_t *data, size_t size)
{
    if (size < 2 || size > FUZZ_PROVIDER_MAX_INPUT)
        return;
    int status = 100 + (int)(((unsigned)data[0] | (unsigned)data[1] << 8) % 500);
    data += 2;
    size -= 2;
    char *body = malloc(size > 0 ? size : 1);
    if (body == NULL)
        return;
    memcpy(body, data, size);

    const struct llm_provider *prov = fuzz_prov;
    struct llm_parsed out;
    memset(&out, 0, sizeof(out));
    enum llm_error rc = prov->vtable->parse_response(prov, body, size, &out);
    fuzz_check_parsed(&out, rc);
    llm_parsed_clear(&out);

    struct fuzz_stream s = {.prov = prov, .rc = LLM_OK};
    struct llm__sse sse;
    llm__sse_init(&sse, 4096);
    int src = llm__sse_feed(&sse, body, size, fuzz_on_event, &s);
    if (src != 0 && src != 1 && src != LLM__SSE_TOO_LARGE)
        abort();
    llm__sse_free(&sse);
    llm_parsed_clear(&s.acc);

    struct llm_header hdrs[2] = {{"retry-after", "1"}, {"x-should-retry", "true"}};
    struct llm_http_headers h = {hdrs, (status & 1) ? 2 : 0};
    struct llm_error_info info;
    memset(&info, 0, sizeof(info));
    prov->vtable->classify_error(prov, status, &h, body, size, &info);
    if (info.type == LLM_OK || info.retry_after_ms < 0)
        abort();
    llm_error_info_clear(&info);
    free(body);
}

#endif /* FUZZ_PROVIDER_H */
