/* See engine_helpers.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "engine_helpers.h"

struct llm_engine *openai_engine_for(const char *url, const struct llm_engine_options *base)
{
    struct llm_engine_options o = {0};
    if (base)
        o = *base;
    o.provider = "openai";
    o.base_url = url;
    o.api_key = "";
    struct llm_engine *e = NULL;
    char err[256] = "";
    if (llm_engine_new_ex(&o, &e, err, sizeof(err)) != LLM_OK)
        fail_msg("engine: %s", err);
    return e;
}

struct llm_result *submit_then_cancel(struct llm_engine *e, const struct llm_request *req,
                                      int64_t pending_ms)
{
    struct llm_future *f = NULL;
    assert_int_equal(llm_submit(e, req, &f), LLM_OK);
    struct llm_result *res = NULL;
    assert_int_equal(llm_future_wait(f, pending_ms, &res), LLM_ERR_TIMEOUT);
    assert_int_equal(llm_future_cancel(f), LLM_OK);
    assert_int_equal(llm_future_wait(f, -1, &res), LLM_OK);
    assert_int_equal(res->error.type, LLM_ERR_CANCELLED);
    llm_future_free(f);
    return res;
}
