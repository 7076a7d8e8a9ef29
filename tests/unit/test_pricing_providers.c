/* Built-in prices of the Gemini and Bedrock models, and the lookup of
 * Bedrock cross-region inference profiles ("us.anthropic...") and ARNs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "llmorch/pricing.h"

static struct llm_price price_of(const struct llm_pricing *p, const char *model)
{
    struct llm_price pr;
    if (llm_pricing_lookup(p, model, &pr) != LLM_OK)
        fail_msg("no price for %s", model);
    return pr;
}

static void gemini_and_bedrock_models_have_built_in_prices(void **state)
{
    (void)state;
    struct llm_pricing *p = NULL;
    assert_int_equal(llm_pricing_new_builtin(&p), LLM_OK);
    struct llm_price g = price_of(p, "gemini-2.5-flash");
    assert_true(g.input_per_mtok == 0.30 && g.output_per_mtok == 2.50);
    assert_true(g.has_cached_input && g.cached_input_per_mtok == 0.03);
    struct llm_price h = price_of(p, "anthropic.claude-3-5-haiku-20241022-v1:0");
    assert_true(h.input_per_mtok == 0.80 && h.output_per_mtok == 4.00);
    assert_true(h.has_cache_write && h.cache_write_per_mtok == 1.00);
    price_of(p, "amazon.nova-pro-v1:0");
    price_of(p, "meta.llama3-3-70b-instruct-v1:0");
    price_of(p, "mistral.mistral-large-2402-v1:0");
    llm_pricing_free(p);
    /* Their rows are dated like the OpenAI and Anthropic ones
     * (LLM_PRICING_DATE), by month: when they were last checked. */
    assert_string_equal(LLM_PRICING_DATE_GEMINI, "2025-12");
    assert_string_equal(LLM_PRICING_DATE_BEDROCK, "2025-12");
}

static void bedrock_inference_profiles_are_priced_as_their_model(void **state)
{
    (void)state;
    struct llm_pricing *p = NULL;
    assert_int_equal(llm_pricing_new_builtin(&p), LLM_OK);
    static const char *const names[] = {
        "us.anthropic.claude-3-5-haiku-20241022-v1:0",
        "eu.anthropic.claude-3-5-haiku-20241022-v1:0",
        "apac.anthropic.claude-3-5-haiku-20241022-v1:0",
        "global.anthropic.claude-3-5-haiku-20241022-v1:0",
        "bedrock/us.anthropic.claude-3-5-haiku-20241022-v1:0",
        /* An inference-profile ARN (one string, split for the line length). */
        ("arn:aws:bedrock:us-east-1:123456789012:inference-profile/"
         "us.anthropic.claude-3-5-haiku-20241022-v1:0"),
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        struct llm_price pr = price_of(p, names[i]);
        assert_true(pr.input_per_mtok == 0.80);
    }
    /* No prefix stripping into a different model, and no fuzzy matches. */
    struct llm_price pr;
    assert_int_equal(llm_pricing_lookup(p, "us.anthropic.claude-9", &pr), LLM_ERR_NOT_FOUND);
    assert_int_equal(llm_pricing_lookup(p, "us.gpt-4o", &pr), LLM_ERR_NOT_FOUND);
    assert_int_equal(llm_pricing_lookup(p, "llama3.2", &pr), LLM_ERR_NOT_FOUND);
    llm_pricing_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(gemini_and_bedrock_models_have_built_in_prices),
        cmocka_unit_test(bedrock_inference_profiles_are_priced_as_their_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
