/* libFuzzer target: the LiteLLM price file loader (src/metrics/pricing.c,
 * llm_pricing_load_litellm_json).
 *
 * Input: [errlen][document...].  The document is loaded into an empty
 * table, with an error buffer of exactly 1 + errlen % 160 bytes (so a
 * message written past it is caught by ASan).
 * Checked: the return is OK, PARSE or OUT_OF_MEMORY; on error the table is
 * unchanged (empty) and the message is a non-empty NUL-terminated string;
 * on success every entry the document prices per token (per cJSON, which
 * the loader uses too) is found under its own name with finite,
 * non-negative rates of at most 1 USD per token, no more models are counted than the document names,
 * and a cost computed with it is finite and non-negative.
 * fuzz-max-len: 4096 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "llmorch/pricing.h"

/* A per-million rate the loader may keep: it refuses more than 1 USD per
 * token (issue 10 #9: 1e305 per token used to load as an infinite rate). */
#define MAX_PER_MTOK 1e6

static bool rate_ok(double v)
{
    return isfinite(v) && v >= 0 && v <= MAX_PER_MTOK;
}

static void check_price(const struct llm_price *pr)
{
    if (!rate_ok(pr->input_per_mtok) || !rate_ok(pr->output_per_mtok) ||
        !rate_ok(pr->cached_input_per_mtok) || !rate_ok(pr->cache_write_per_mtok))
        abort();
    /* A million tokens of each kind costs a finite, non-negative amount. */
    const struct llm_usage u = {.input_tokens = 3000000, .output_tokens = 1000000,
                                .cached_input_tokens = 1000000,
                                .cache_write_tokens = 1000000, .known = true};
    struct llm_cost c;
    llm_cost_compute(pr, &u, &c);
    if (!c.known || !isfinite(c.total_usd) || c.total_usd < 0 || c.input_usd < 0 ||
        c.output_usd < 0)
        abort();
}

static void check_loaded(const struct llm_pricing *p, const char *doc, size_t len)
{
    cJSON *root = cJSON_ParseWithLength(doc, len);
    if (!cJSON_IsObject(root))
        abort(); /* the loader accepted what cJSON does not */
    size_t names = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, root) {
        names++;
        const cJSON *in = cJSON_GetObjectItemCaseSensitive(it, "input_cost_per_token");
        if (strcmp(it->string, "sample_spec") == 0 || !cJSON_IsNumber(in))
            continue;
        struct llm_price pr;
        if (llm_pricing_lookup(p, it->string, &pr) != LLM_OK)
            abort();
        check_price(&pr);
    }
    if (llm_pricing_count(p) > names)
        abort();
    cJSON_Delete(root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 65536)
        return 0;
    size_t errlen = 1 + data[0] % 160;
    size_t len = size - 1;
    char *doc = malloc(len > 0 ? len : 1);
    char *err = malloc(errlen);
    struct llm_pricing *p = NULL;
    if (doc == NULL || err == NULL || llm_pricing_new_empty(&p) != LLM_OK)
        abort();
    memcpy(doc, data + 1, len);
    err[0] = '\0';

    enum llm_error rc = llm_pricing_load_litellm_json(p, doc, len, err, errlen);
    if (rc == LLM_OK) {
        check_loaded(p, doc, len);
    } else if (rc == LLM_ERR_PARSE) {
        if (llm_pricing_count(p) != 0 || memchr(err, '\0', errlen) == NULL ||
            (errlen > 1 && err[0] == '\0'))
            abort();
    } else if (rc != LLM_ERR_OUT_OF_MEMORY) {
        abort();
    }

    llm_pricing_free(p);
    free(err);
    free(doc);
    return 0;
}
