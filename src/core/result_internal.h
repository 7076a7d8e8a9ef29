/* Building a struct llm_result inside the library.  Engine thread (or any
 * single thread that owns the result).  Not installed. */
#ifndef LLMORCH_RESULT_INTERNAL_H
#define LLMORCH_RESULT_INTERNAL_H

#include "llmorch/ext/provider.h"
#include "llmorch/result.h"

/* A zeroed result whose `content` is "" (never NULL, as result.h promises),
 * malloc'd: a caller may free it and put its own malloc'd text there.
 * Free with llm_result_free().  NULL if memory ran out.
 *
 * Every result the library makes (this constructor or the next) is a
 * block that llm_result_free() alone knows how to free: never free() a
 * result, and never hand llm_result_free() a struct made elsewhere. */
struct llm_result *llm__result_new(void);

/* A zeroed result in ONE allocation with copies of `provider`, `model` and
 * `metadata_json` (each NULL-able), a `content` of "" and `spare` more
 * bytes for llm__result_keep().  Those strings live in the result's own
 * block: replace them only through llm__result_free_str() (never free()).
 * NULL if memory ran out. */
struct llm_result *llm__result_new_packed(const char *provider, const char *model,
                                          const char *metadata_json, size_t spare);

/* A NUL-terminated copy of `len` bytes of `s`, owned by `r`: in r's spare
 * bytes when it fits, else malloc'd.  Either way llm_result_free() frees
 * it; replace it with llm__result_free_str().  NULL if memory ran out. */
char *llm__result_keep(struct llm_result *r, const char *s, size_t len);

/* Free `s`, a string `r` owns (a field being replaced), unless it lives in
 * r's own block.  NULL-safe. */
void llm__result_free_str(const struct llm_result *r, char *s);

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
