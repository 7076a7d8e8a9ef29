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
