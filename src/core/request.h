/* Validating and copying requests on submission (host thread). */
#ifndef LLMORCH_REQUEST_INTERNAL_H
#define LLMORCH_REQUEST_INTERNAL_H

#include <stddef.h>

#include "llmorch/error.h"
#include "llmorch/request.h"

/* Check `in` and describe the first problem in err (naming the field).
 * Returns LLM_OK or LLM_ERR_INVALID_REQUEST. */
enum llm_error llm__request_validate(const struct llm_request *in, char *err, size_t errlen);

/* Deep-copy `in` into *out: every string and array of the copy lives in
 * one allocation, returned in *block (one malloc per request instead of
 * one per string).  Returns LLM_OK or LLM_ERR_OUT_OF_MEMORY (then *out is
 * zeroed and *block NULL). */
enum llm_error llm__request_copy(const struct llm_request *in, struct llm_request *out,
                                 void **block);

/* The same copy after `head` bytes of the caller's own (rounded up to
 * max_align_t) in the same allocation: *block points at those head bytes
 * (uninitialised), which the caller owns along with the copy; one free()
 * of *block frees both.  The engine keeps its per-request state there:
 * one allocation per request instead of two. */
enum llm_error llm__request_copy_after(const struct llm_request *in, struct llm_request *out,
                                       size_t head, void **block);

/* The same copy without the fast path for plain requests (text messages
 * only) that llm__request_copy_after takes: for tests, which compare the
 * two. */
enum llm_error llm__request_copy_general(const struct llm_request *in, struct llm_request *out,
                                         size_t head, void **block);

/* Check one "Name: value" header line (no CR/LF, a token name, a colon,
 * at most 8 KiB); describe the problem in err.  Returns LLM_OK or
 * LLM_ERR_INVALID_ARGUMENT.  Used for request and engine headers. */
enum llm_error llm__header_line_check(const char *line, char *err, size_t errlen);

/* Free a copy's block and zero *r.  NULL-safe. */
void llm__request_free_copy(struct llm_request *r, void *block);

#endif
