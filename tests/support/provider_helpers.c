/* See provider_helpers.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "provider_helpers.h"

const char *prov_header(const struct llm_http_request *r, const char *name)
{
    const char *found = NULL;
    int count = 0;
    for (size_t i = 0; i < r->n_headers; i++) {
        if (strcasecmp(r->headers[i].name, name) == 0) {
            found = r->headers[i].value;
            count++;
        }
    }
    assert_true(count <= 1);
    return found;
}

void assert_json_equal(const char *got, const char *want)
{
    cJSON *g = cJSON_Parse(got);
    cJSON *w = cJSON_Parse(want);
    assert_non_null(g);
    assert_non_null(w);
    if (!cJSON_Compare(g, w, 1)) {
        print_error("JSON differs\n got: %s\nwant: %s\n", got, want);
        fail();
    }
    cJSON_Delete(g);
    cJSON_Delete(w);
}

void prov_build(struct llm_provider *p, const struct llm_request *req,
                struct llm_http_request *out)
{
    assert_int_equal(p->vtable->build_request(p, req, TEST_TRACE_ID, out), LLM_OK);
    assert_non_null(out->body);
    assert_int_equal(out->body_len, strlen(out->body));
}

enum llm_error prov_parse(struct llm_provider *p, const char *body, struct llm_parsed *out)
{
    return p->vtable->parse_response(p, body, body != NULL ? strlen(body) : 0, out);
}

enum llm_error prov_feed(struct llm_provider *p, const char *event, const char *data,
                         struct llm_parsed *acc)
{
    return p->vtable->parse_stream_event(p, event, data, strlen(data), acc);
}

void prov_classify(struct llm_provider *p, int status, const struct llm_http_headers *h,
                   const char *body, struct llm_error_info *info)
{
    p->vtable->classify_error(p, status, h, body, body != NULL ? strlen(body) : 0, info);
}

struct llm_provider *prov_new(enum llm_error (*ctor)(const struct llm_provider_options *,
                                                     struct llm_provider **),
                              const struct llm_provider_options *opts)
{
    struct llm_provider *p = NULL;
    assert_int_equal(ctor(opts, &p), LLM_OK);
    assert_non_null(p);
    return p;
}

struct llm_request prov_minimal_request(const char *model)
{
    static const struct llm_message hello_msg[] = {{"user", "Hello"}};
    struct llm_request req = {0};
    req.model = model;
    req.messages = hello_msg;
    req.n_messages = 1;
    return req;
}
