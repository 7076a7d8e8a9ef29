/* libFuzzer target: any bytes as an OpenAI reply and as a stream chunk.
 * The fast reader must either decline without touching the result, or
 * read exactly what the cJSON reader reads; neither may crash, leak or
 * trip a sanitizer.  Built and run by tests/fuzz/run.sh (CI: a short
 * smoke in scripts/test.sh).  Seeds: the reply and chunk tables of
 * tests/unit/test_openai_read.c. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "llmorch/ext/provider.h"
#include "providers/openai_read.h"

static bool same_str(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static bool same(const struct llm_parsed *a, const struct llm_parsed *b)
{
    return a->content_len == b->content_len && (a->content == NULL) == (b->content == NULL) &&
           (a->content == NULL || memcmp(a->content, b->content, a->content_len + 1) == 0) &&
           same_str(a->finish_reason, b->finish_reason) && same_str(a->model, b->model) &&
           same_str(a->response_id, b->response_id) &&
           memcmp(&a->usage, &b->usage, sizeof(a->usage)) == 0 && a->error == b->error &&
           same_str(a->error_message, b->error_message) &&
           same_str(a->provider_code, b->provider_code);
}

static void one(const char *data, size_t size, bool stream)
{
    struct llm_parsed fast, tree, untouched;
    memset(&fast, 0, sizeof(fast));
    memset(&tree, 0, sizeof(tree));
    memset(&untouched, 0, sizeof(untouched));
    int r = llm__openai_read_fast(data, size, stream, &fast);
    if (r != LLM__READ_DECLINED) {
        enum llm_error t = llm__openai_read_tree(data, size, stream, &tree);
        if ((int)t != r || !same(&fast, &tree))
            abort();
    } else if (!same(&fast, &untouched)) {
        abort();
    }
    llm_parsed_clear(&fast);
    llm_parsed_clear(&tree);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A copy of exactly `size` bytes: reading past it is caught by ASan. */
    char *buf = malloc(size > 0 ? size : 1);
    if (buf == NULL)
        return 0;
    memcpy(buf, data, size);
    one(buf, size, false);
    one(buf, size, true);
    free(buf);
    return 0;
}
