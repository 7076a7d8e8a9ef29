/* Reading OpenAI Chat Completions replies and stream chunks, two ways:
 * llm__openai_read_fast() with the allocation-free reader (base/jsonr.h)
 * for the common shapes, and llm__openai_read_tree() with cJSON for
 * everything (errors, tool calls, content parts, anything unusual).  The
 * provider tries the first and falls back on the second.  Exposed for the
 * differential tests; not installed. */
#ifndef LLMORCH_PROVIDERS_OPENAI_READ_H
#define LLMORCH_PROVIDERS_OPENAI_READ_H

#include <stdbool.h>
#include <stddef.h>

#include "llmorch/ext/provider.h"

/* llm__openai_read_fast() did not read the body and left `out` as it was. */
#define LLM__READ_DECLINED (-1)

/* Read a whole reply (stream false) or one stream chunk's data (stream
 * true) into `out`, exactly as llm__openai_read_tree() would, if it is
 * valid JSON of the usual success shape: one choice, content a string or
 * null, no error member, no duplicate member among those read.  Returns
 * LLM_OK, LLM_ERR_OUT_OF_MEMORY, or LLM__READ_DECLINED (out untouched). */
int llm__openai_read_fast(const char *body, size_t len, bool stream, struct llm_parsed *out);

/* Read it with cJSON: the reference, and the path for everything the fast
 * reader declines.  Returns LLM_OK, the error recorded in `out`
 * (LLM_ERR_PARSE or a classified in-body error), or LLM_ERR_OUT_OF_MEMORY. */
enum llm_error llm__openai_read_tree(const char *body, size_t len, bool stream,
                                     struct llm_parsed *out);

#endif /* LLMORCH_PROVIDERS_OPENAI_READ_H */
