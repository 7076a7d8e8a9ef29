/* libFuzzer target: the validate_schema step (src/pipeline/schema.c).
 *
 * Input: a schema and an instance separated by the first NUL byte (no NUL:
 * the whole input is the instance, checked against a fixed schema using
 * every keyword of the subset).
 * Checked: creating the step returns OK or INVALID_ARGUMENT; running it
 * returns OK (output equal to the input) or PARSE with a message that
 * starts with "$" or "not valid JSON", or OUT_OF_MEMORY; nothing leaks.
 * fuzz-max-len: 4096 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "llmorch/pipeline.h"

static const char fixed_schema[] =
    "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":[\"integer\",\"null\"],\"minimum\":0,"
    "\"maximum\":9},\"b\":{\"type\":\"array\",\"items\":{\"enum\":[\"x\",1,null]},\"maxItems\":3},"
    "\"c\":{\"anyOf\":[{\"type\":\"string\",\"minLength\":2,\"maxLength\":4},{\"const\":{\"k\":[1]}}]},"
    "\"d\":{\"oneOf\":[{\"type\":\"number\"},{\"type\":\"integer\"}]}},\"required\":[\"a\"],"
    "\"additionalProperties\":{\"type\":\"boolean\"}}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    char *schema = NULL;
    const uint8_t *inst = data;
    size_t inst_len = size;
    if (nul != NULL) {
        size_t n = (size_t)(nul - data);
        schema = malloc(n + 1);
        if (schema == NULL)
            return 0;
        memcpy(schema, data, n);
        schema[n] = '\0';
        inst = nul + 1;
        inst_len = size - n - 1;
    }
    struct llm_step *step = NULL;
    enum llm_error e = llm_step_new_validate_schema(schema != NULL ? schema : fixed_schema, &step);
    free(schema);
    if (e == LLM_ERR_INVALID_ARGUMENT || e == LLM_ERR_OUT_OF_MEMORY)
        return 0;
    if (e != LLM_OK)
        abort();
    /* The step's contract: input NUL-terminated at its length. */
    char *in = malloc(inst_len + 1);
    if (in == NULL) {
        llm_step_free(step);
        return 0;
    }
    memcpy(in, inst, inst_len);
    in[inst_len] = '\0';
    char *out = NULL, *err = NULL;
    size_t out_len = 0;
    e = llm_step_run(step, in, inst_len, &out, &out_len, &err);
    if (e == LLM_OK) {
        if (out == NULL || out_len != inst_len || memcmp(out, in, inst_len) != 0 || err != NULL)
            abort();
    } else if (e == LLM_ERR_PARSE) {
        if (err == NULL || (err[0] != '$' && strncmp(err, "not valid JSON", 14) != 0))
            abort();
    } else if (e != LLM_ERR_OUT_OF_MEMORY) {
        abort();
    }
    free(out);
    free(err);
    free(in);
    llm_step_free(step);
    return 0;
}
