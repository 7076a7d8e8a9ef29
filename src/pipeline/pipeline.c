/* Pipelines: run immutable, ordered steps over a result's content and
 * record what each did. */
#include "llmorch/pipeline.h"

#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/util.h"
#include "core/result_internal.h"

struct llm_pipeline {
    enum llm_pipeline_policy policy;
    llm_clock_us_fn *clock;
    void *clock_user;
    struct llm_step **steps;
    size_t n_steps;
};

enum llm_error llm_pipeline_new(const struct llm_pipeline_options *o,
                                struct llm_step *const *steps, size_t n_steps,
                                struct llm_pipeline **out)
{
    if (out != NULL)
        *out = NULL;
    if (out == NULL || (steps == NULL && n_steps > 0))
        return LLM_ERR_INVALID_ARGUMENT;
    struct llm_pipeline_options def = {0};
    if (o == NULL)
        o = &def;
    if (o->policy != LLM_PIPELINE_DEGRADE && o->policy != LLM_PIPELINE_FAIL_RESULT)
        return LLM_ERR_INVALID_ARGUMENT;
    for (size_t i = 0; i < n_steps; i++) {
        if (steps[i] == NULL)
            return LLM_ERR_INVALID_ARGUMENT;
        /* The pipeline frees its steps: one given twice would be freed
         * twice. */
        for (size_t k = 0; k < i; k++)
            if (steps[k] == steps[i])
                return LLM_ERR_INVALID_ARGUMENT;
    }
    if (n_steps > SIZE_MAX / sizeof(*steps) - 1)
        return LLM_ERR_OUT_OF_MEMORY;
    struct llm_pipeline *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return LLM_ERR_OUT_OF_MEMORY;
    p->steps = malloc((n_steps + 1) * sizeof(*p->steps));
    if (p->steps == NULL) {
        free(p);
        return LLM_ERR_OUT_OF_MEMORY;
    }
    if (n_steps > 0)
        memcpy(p->steps, steps, n_steps * sizeof(*steps));
    p->n_steps = n_steps;
    p->policy = o->policy;
    p->clock = o->clock;
    p->clock_user = o->clock_user;
    *out = p;
    return LLM_OK;
}

void llm_pipeline_free(struct llm_pipeline *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->n_steps; i++)
        llm_step_free(p->steps[i]);
    free(p->steps);
    free(p);
}

size_t llm_pipeline_n_steps(const struct llm_pipeline *p)
{
    return p != NULL ? p->n_steps : 0;
}

static int64_t mono_us(const struct llm_pipeline *p)
{
    return p->clock != NULL ? p->clock(p->clock_user) : llm__now_mono_us();
}

static int64_t wall_us(const struct llm_pipeline *p)
{
    return p->clock != NULL ? p->clock(p->clock_user) : llm__stamp_now();
}

/* Turn the result into a failure caused by step `name`.  The content is
 * left as the caller had it. */
static void fail_result(struct llm_result *r, enum llm_error err, const char *name,
                        const char *msg)
{
    char *m = llm__asprintf("post-processing step '%s' failed: %s", name,
                            msg != NULL ? msg : llm_strerror(err));
    r->success = false;
    r->error.type = err;
    r->error.retryable = false;
    /* Out of memory for the message: the type still says what happened. */
    if (m != NULL) {
        free(r->error.message);
        r->error.message = m;
    }
}

enum llm_error llm_pipeline_run(const struct llm_pipeline *p, struct llm_result *r)
{
    if (p == NULL || r == NULL)
        return LLM_ERR_INVALID_ARGUMENT;
    if (!r->success)
        return LLM_OK;
    r->timestamps[LLM_TS_POSTPROCESS_STARTED] = wall_us(p);

    const char *raw = r->content != NULL ? r->content : "";
    size_t raw_len = r->content != NULL ? r->content_len : 0;
    /* `cur` is the latest good output: the raw content (borrowed from the
     * result) until a step succeeds, then owned here. */
    const char *cur = raw;
    size_t cur_len = raw_len;
    char *owned = NULL;
    enum llm_error rc = LLM_OK;

    for (size_t i = 0; i < p->n_steps; i++) {
        const struct llm_step *step = p->steps[i];
        char *out = NULL, *msg = NULL;
        size_t out_len = 0;
        int64_t t0 = mono_us(p);
        enum llm_error err = llm_step_run(step, cur, cur_len, &out, &out_len, &msg);
        int64_t t1 = mono_us(p);

        struct llm_step_result sr = {
            .name = llm__strdup(llm_step_name(step)),
            .success = err == LLM_OK,
            .error = NULL,
            .duration_us = t1 > t0 ? t1 - t0 : 0,
            .bytes_in = cur_len,
            .bytes_out = err == LLM_OK ? out_len : 0,
        };
        if (err != LLM_OK)
            sr.error = msg != NULL ? msg : llm__strdup(llm_strerror(err));
        else
            free(msg);
        bool name_failed = sr.name == NULL;
        bool error_failed = err != LLM_OK && sr.error == NULL;
        if (name_failed || error_failed) {
            free(sr.name);
            free(sr.error);
            free(out);
            rc = LLM_ERR_OUT_OF_MEMORY;
            break;
        }
        /* Copy what the failure path needs before the record owns it. */
        char *fail_msg = err != LLM_OK ? llm__strdup(sr.error) : NULL;
        if (llm__result_add_step(r, &sr) != LLM_OK) {
            free(fail_msg);
            free(out);
            rc = LLM_ERR_OUT_OF_MEMORY;
            break;
        }
        if (err == LLM_OK) {
            free(owned);
            owned = out;
            cur = out;
            cur_len = out_len;
            continue;
        }
        if (p->policy == LLM_PIPELINE_FAIL_RESULT) {
            fail_result(r, err, llm_step_name(step), fail_msg);
            free(fail_msg);
            free(owned);
            r->timestamps[LLM_TS_POSTPROCESS_ENDED] = wall_us(p);
            return err;
        }
        free(fail_msg);
        /* DEGRADE: keep `cur` and go on. */
    }

    if (owned != NULL) {
        free(r->content);
        r->content = owned;
        r->content_len = cur_len;
    }
    r->timestamps[LLM_TS_POSTPROCESS_ENDED] = wall_us(p);
    return rc;
}
