/* Engine extensions: cost and post-processing (filled in as the
 * observability work lands). */
#include "core/engine_internal.h"

enum llm_error llm__engine_ext_init(struct llm_engine *e, const struct llm_engine_options *o)
{
    (void)e;
    (void)o;
    return LLM_OK;
}

void llm__engine_ext_free(struct llm_engine *e) { (void)e; }

void llm__engine_postprocess(struct llm_engine *e, struct llm_result *res)
{
    (void)e;
    (void)res;
}
