/* Writing a post-processing step: a pure transform from one text to
 * another (strip reasoning, extract JSON, validate, ...), run by a pipeline
 * (llmorch/pipeline.h) on a result's content.
 *
 * A step is small and pure: it never sleeps, starts no thread and does no
 * I/O.  It is immutable once created, and the built-in steps are
 * thread-safe: one step may run on many texts at once.  A custom step MUST
 * be thread-safe too if its pipeline is run from several threads. */
#ifndef LLMORCH_EXT_STEP_H
#define LLMORCH_EXT_STEP_H

#include "../common.h"
#include "../error.h"

LLM_BEGIN_DECLS

/* A post-processing step.  Opaque: create with a factory, free with
 * llm_step_free() unless ownership was transferred to a pipeline. */
struct llm_step;

/* The contract of every step's transform, whether a vtable slot or an
 * llm_step_fn:
 *  - `in` holds `in_len` bytes and is NUL-terminated (in[in_len] == '\0');
 *    it is borrowed for the call and MUST NOT be modified.
 *  - On success return LLM_OK and set *out to a new NUL-terminated string
 *    allocated with malloc() (the caller frees it with free()) and *out_len
 *    to its length excluding the NUL.  An unchanged text is still a copy.
 *  - On failure return the error (LLM_ERR_PARSE for input the step cannot
 *    handle, LLM_ERR_OUT_OF_MEMORY, ...) and leave *out NULL; MAY set
 *    *err_msg to a malloc()'d one-line explanation (the caller frees it).
 *  - *out, *out_len and *err_msg are NULL/0 on entry. */
struct llm_step_vtable {
    /* Required.  `impl` is the pointer given to llm_step_new(). */
    enum llm_error (*run)(const void *impl, const char *in, size_t in_len, char **out,
                          size_t *out_len, char **err_msg);
    /* Optional.  Free `impl`.  Called once, by llm_step_free(). */
    void (*destroy)(void *impl);
};

/* Wrap your own step.  `vt` is copied; `vt->run` MUST be set.  `name` is
 * copied (it names the step in llm_step_result); NULL gives "step".
 * Ownership of `impl` passes to the step on LLM_OK only.  Returns LLM_OK,
 * LLM_ERR_INVALID_ARGUMENT or LLM_ERR_OUT_OF_MEMORY (*out NULL).  Any
 * thread. */
LLM_API enum llm_error llm_step_new(const struct llm_step_vtable *vt, void *impl,
                                    const char *name, struct llm_step **out);

/* A step as a plain function: the contract above, with `user` as given to
 * llm_step_new_custom(). */
typedef enum llm_error llm_step_fn(void *user, const char *in, size_t in_len, char **out,
                                   size_t *out_len, char **err_msg);

/* A step calling `fn(user, ...)`.  `name` is copied (NULL gives "custom");
 * `user` is borrowed: it MUST outlive the step, which never frees it.
 * Returns as llm_step_new(). */
LLM_API enum llm_error llm_step_new_custom(const char *name, llm_step_fn *fn, void *user,
                                           struct llm_step **out);

/* Run a step on `in` (in_len bytes, NUL-terminated) under the contract
 * above.  Also returns LLM_ERR_INVALID_ARGUMENT for NULL arguments, and
 * LLM_ERR_INTERNAL (with a message) if the step broke the contract by
 * returning LLM_OK without output; on every error *out is NULL.  Thread-safe
 * as the step is. */
LLM_API enum llm_error llm_step_run(const struct llm_step *s, const char *in, size_t in_len,
                                    char **out, size_t *out_len, char **err_msg);

/* The step's name (borrowed; valid until the step is freed); "(null)" for
 * NULL. */
LLM_API const char *llm_step_name(const struct llm_step *s);

/* Free a step (calling its destroy slot).  NULL-safe. */
LLM_API void llm_step_free(struct llm_step *s);

LLM_END_DECLS

#endif /* LLMORCH_EXT_STEP_H */
