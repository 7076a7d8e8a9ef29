/* Hooks between the engine core (engine.c) and the optional machinery that
 * hangs off it: pricing, stats, pipeline, gates.  Engine thread unless
 * stated otherwise. */
#ifndef LLMORCH_ENGINE_INTERNAL_H
#define LLMORCH_ENGINE_INTERNAL_H

#include "llmorch/engine.h"
#include "llmorch/result.h"

/* Called from llm_engine_new_ex before the thread starts. */
enum llm_error llm__engine_ext_init(struct llm_engine *e, const struct llm_engine_options *o);
/* Called from engine teardown (after the thread was joined).  Must cope
 * with a partially initialised engine. */
void llm__engine_ext_free(struct llm_engine *e);
/* A successful reply was parsed: cost, pipeline. */
void llm__engine_postprocess(struct llm_engine *e, struct llm_result *res);

#endif
