/* JSON Schema checking shared by the validate_schema step and its tests.
 * Not installed. */
#ifndef LLMORCH_PIPELINE_SCHEMA_H
#define LLMORCH_PIPELINE_SCHEMA_H

#include <stddef.h>

#include "llmorch/error.h"

/* Check json[0..len) (NUL-terminated at len) against `schema_tree` (a
 * parsed cJSON schema).  Returns LLM_OK; LLM_ERR_PARSE with *err_msg (malloc'd)
 * "<path>: <why>", e.g. "$.person.age: expected integer, got string", or
 * "not valid JSON ..."; or LLM_ERR_OUT_OF_MEMORY. */
enum llm_error llm__schema_check(const void *schema_tree, const char *json, size_t len,
                                 char **err_msg);

#endif
