/* Building a struct llm_result inside the library.  Engine thread (or any
 * single thread that owns the result).  Not installed. */
#ifndef LLMORCH_RESULT_INTERNAL_H
#define LLMORCH_RESULT_INTERNAL_H

#include "llmorch/ext/provider.h"
#include "llmorch/result.h"

/* A zeroed result whose `content` is "" (never NULL, as result.h promises).
 * Free with llm_result_free().  NULL if memory ran out. */
struct llm_result *llm__result_new(void);

/* Append a copy of `*a` to r->attempts.  Ownership of a->error_message is
 * transferred to the result ALWAYS, also when this fails (it is then
 * freed), so the caller never frees it.  Returns LLM_OK,
 * LLM_ERR_INVALID_ARGUMENT (NULL r or a) or LLM_ERR_OUT_OF_MEMORY (r
 * unchanged). */
enum llm_error llm__result_add_attempt(struct llm_result *r, const struct llm_attempt *a);

/* Append a copy of `*s` to r->pipeline, taking ownership of s->name and
 * s->error on the same terms as llm__result_add_attempt(). */
enum llm_error llm__result_add_step(struct llm_result *r, const struct llm_step_result *s);

/* Move p's tool calls and refusal into r (p keeps empty slots; a call
 * without arguments gets "{}", one without id or name "").  Returns LLM_OK
 * or LLM_ERR_OUT_OF_MEMORY (r then has no tool calls; p keeps them). */
enum llm_error llm__result_take_tools(struct llm_result *r, struct llm_parsed *p);

#endif /* LLMORCH_RESULT_INTERNAL_H */
