/* Post-processing pipelines: ordered steps applied to a result's content,
 * each recording an llm_step_result, and the built-in steps.
 *
 * A pipeline is immutable once built: llm_pipeline_run() only reads it, so
 * one pipeline MAY be run on many results from many threads at once (given
 * thread-safe steps: every built-in step is).  A result itself is not
 * shared: one thread runs a pipeline on a given result. */
#ifndef LLMORCH_PIPELINE_H
#define LLMORCH_PIPELINE_H

#include "common.h"
#include "error.h"
#include "result.h"
#include "ext/step.h"

LLM_BEGIN_DECLS

/* ---- built-in steps ------------------------------------------------------------------
 * Each factory returns LLM_OK and sets *out, or LLM_ERR_INVALID_ARGUMENT
 * (NULL out) or LLM_ERR_OUT_OF_MEMORY with *out NULL.  Any thread. */

/* "trim": removes ASCII whitespace (space, \t, \n, \v, \f, \r) from both
 * ends.  Never fails except for memory. */
LLM_API enum llm_error llm_step_new_trim(struct llm_step **out);

/* "strip_reasoning": removes reasoning blocks, <think>...</think> and
 * <thinking>...</thinking> (tags matched ASCII case-insensitively; as many
 * blocks as there are; a block ends at the first closing tag of its own
 * name, so blocks do not nest).  Text around the blocks is kept as is:
 * follow with "trim" to drop the blank lines they leave.
 *   - A closing tag with no opening tag before it (some models start their
 *     output inside the reasoning) ends a block that began at the start of
 *     the text.
 *   - An opening tag that is never closed (the output was cut short during
 *     the reasoning) runs to the end of the text; the answer before it, if
 *     any, is kept.
 *   - If removing the blocks leaves nothing but whitespace, the output held
 *     no answer at all: the step fails with LLM_ERR_PARSE ("unterminated
 *     <think> block: no answer after the reasoning", or "nothing but
 *     reasoning: ...") instead of returning an empty text, so that under
 *     LLM_PIPELINE_DEGRADE the raw output is kept.
 * Text without any tag passes through unchanged. */
LLM_API enum llm_error llm_step_new_strip_reasoning(struct llm_step **out);

/* "extract_json": the JSON inside the text.  In order:
 *   1. the content of the first fenced code block whose info string is
 *      "json" or empty (```json ... ``` or ``` ... ```; fences of other
 *      languages are skipped), surrounding whitespace trimmed;
 *   2. otherwise the first balanced top-level {...} or [...] (brackets
 *      inside JSON strings are ignored; a region with mismatched brackets
 *      is skipped);
 * otherwise it fails with LLM_ERR_PARSE.  The extract is not validated:
 * follow with "validate_json" for that. */
LLM_API enum llm_error llm_step_new_extract_json(struct llm_step **out);

/* "validate_json": fails with LLM_ERR_PARSE, and a message giving the
 * byte offset and reason, unless the whole text is exactly one JSON value
 * (RFC 8259: no comments, no trailing commas, valid escapes and UTF-8,
 * nesting at most 512 deep; whitespace around it allowed).  The output is
 * the input unchanged. */
LLM_API enum llm_error llm_step_new_validate_json(struct llm_step **out);

/* "validate_schema": fails with LLM_ERR_PARSE unless the text is one JSON
 * value that fits `schema_json` (a JSON Schema, copied; parsed once here).
 * The message names the first value that does not fit by its path:
 * "$.person.age: expected integer, got string",
 * "$.tags[2]: not one of the enum values",
 * "$: missing required property \"name\"".
 * The keywords checked (a documented subset of JSON Schema 2020-12):
 *   type (a name or a list; "integer" is a number without fraction),
 *   properties, required, additionalProperties (false or a schema),
 *   items (one schema for every element), minItems, maxItems,
 *   enum, const (JSON equality), minimum, maximum, exclusiveMinimum,
 *   exclusiveMaximum (numbers), minLength, maxLength (Unicode code points),
 *   anyOf, oneOf (exactly one branch), allOf, and the schemas true/false.
 * Other keywords ($ref, pattern, format, ...) are ignored: they never fail
 * a value.  Schemas nested deeper than 64 levels fail the value.  The
 * output is the input unchanged.  Returns LLM_ERR_INVALID_ARGUMENT when
 * `schema_json` is not a JSON object (or boolean). */
LLM_API enum llm_error llm_step_new_validate_schema(const char *schema_json,
                                                   struct llm_step **out);

/* ---- pipelines ------------------------------------------------------------------------ */

/* What a failing step does to the result. */
enum llm_pipeline_policy {
    /* Default.  The failure is recorded in its llm_step_result, the
     * content keeps the previous step's output, the remaining steps run on
     * it, and the result stays successful (partial success beats total
     * failure). */
    LLM_PIPELINE_DEGRADE = 0,
    /* The first failure fails the result: success = false, error.type = the
     * step's error (LLM_ERR_PARSE for the built-in steps), error.message
     * names the step, retryable = false.  The content is left as it was
     * before the pipeline (the raw output, for inspection).  Later steps do
     * not run. */
    LLM_PIPELINE_FAIL_RESULT = 1
};

/* Source of time for step durations and the post-processing timestamps, in
 * µs.  Called on the thread running the pipeline. */
typedef int64_t llm_clock_us_fn(void *user);

/* Pipeline options.  Zero means default. */
struct llm_pipeline_options {
    enum llm_pipeline_policy policy;  /* default LLM_PIPELINE_DEGRADE */
    /* Default NULL: durations from the monotonic clock and the
     * LLM_TS_POSTPROCESS_* timestamps from the same clock as every other
     * timestamp of the result (wall-clock µs since the epoch, kept in the
     * monotonic order).  A clock given here is used for both (tests). */
    llm_clock_us_fn *clock;
    void *clock_user;
};

/* An ordered, immutable list of steps.  Opaque. */
struct llm_pipeline;

/* Build a pipeline running `steps[0..n_steps-1]` in order (n_steps may be
 * 0: the pipeline then only stamps the timestamps).  Ownership of every
 * step passes to the pipeline on LLM_OK only; on error the caller still
 * owns them all.  A step MUST NOT be given twice, nor to two pipelines.
 * `o` may be NULL (defaults).  Returns LLM_OK, LLM_ERR_INVALID_ARGUMENT
 * (NULL out, NULL steps with n_steps > 0, a NULL step, an unknown policy)
 * or LLM_ERR_OUT_OF_MEMORY, with *out NULL on error.  Any thread. */
LLM_API enum llm_error llm_pipeline_new(const struct llm_pipeline_options *o,
                                        struct llm_step *const *steps, size_t n_steps,
                                        struct llm_pipeline **out);

/* Run the pipeline on r->content.  For a successful result: stamps
 * LLM_TS_POSTPROCESS_STARTED, runs each step on the previous step's output
 * and appends one llm_step_result per step that ran to r->pipeline (name,
 * success, error message, duration_us, bytes_in, bytes_out), replaces
 * r->content/content_len with the final output, applies the policy to
 * failures (see enum llm_pipeline_policy) and stamps
 * LLM_TS_POSTPROCESS_ENDED.  A failed result is left untouched (there is
 * nothing to post-process).
 * Returns LLM_OK when the result is still successful afterwards (also when
 * steps failed under DEGRADE, or the result had already failed); under
 * FAIL_RESULT, the failing step's error; LLM_ERR_OUT_OF_MEMORY if a step
 * result could not be recorded (the content is then consistent: either the
 * previous or the new output); LLM_ERR_INVALID_ARGUMENT for NULL arguments.
 * Thread-safe with respect to the pipeline (see above). */
LLM_API enum llm_error llm_pipeline_run(const struct llm_pipeline *p, struct llm_result *r);

/* Number of steps; 0 for NULL. */
LLM_API size_t llm_pipeline_n_steps(const struct llm_pipeline *p);

/* Free a pipeline and its steps.  NULL-safe. */
LLM_API void llm_pipeline_free(struct llm_pipeline *p);

LLM_END_DECLS

#endif /* LLMORCH_PIPELINE_H */
