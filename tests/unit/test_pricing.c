/* Price tables: built-in lookup, name normalisation, cost arithmetic, and
 * LiteLLM files (good, malformed, all-or-nothing, overriding). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "llmorch/pricing.h"

static struct llm_pricing *builtin(void)
{
    struct llm_pricing *p = NULL;
    assert_int_equal(llm_pricing_new_builtin(&p), LLM_OK);
    assert_non_null(p);
    return p;
}

static struct llm_price must_find(const struct llm_pricing *p, const char *model)
{
    struct llm_price pr;
    enum llm_error err = llm_pricing_lookup(p, model, &pr);
    if (err != LLM_OK)
        fail_msg("no price for '%s'", model);
    return pr;
}

static void assert_unknown(const struct llm_pricing *p, const char *model)
{
    struct llm_price pr;
    memset(&pr, 0xAB, sizeof(pr));
    assert_int_equal(llm_pricing_lookup(p, model, &pr), LLM_ERR_NOT_FOUND);
    assert_true(pr.input_per_mtok == 0 && pr.output_per_mtok == 0 && !pr.has_cached_input);
}

/* Write `text` to a fresh temporary file; the caller unlinks it. */
static char *temp_file(const char *text)
{
    char *path = strdup("/tmp/llm_test_pricing_XXXXXX");
    assert_non_null(path);
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    size_t n = strlen(text);
    assert_int_equal(write(fd, text, n), (ssize_t)n);
    close(fd);
    return path;
}

/* ---- built-in table -------------------------------------------------------------------- */

static void builtin_table_prices_current_openai_and_anthropic_models(void **state)
{
    (void)state;
    struct llm_pricing *p = builtin();
    static const char *const models[] = {
        "gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "o1", "o3",
        "o3-mini", "o4-mini", "gpt-5", "gpt-5-mini", "gpt-5-nano", "claude-3-5-haiku",
        "claude-3-7-sonnet", "claude-sonnet-4", "claude-opus-4", "claude-opus-4-1",
        "claude-haiku-4-5", "claude-sonnet-4-5",
    };
    for (size_t i = 0; i < sizeof(models) / sizeof(models[0]); i++) {
        struct llm_price pr = must_find(p, models[i]);
        assert_true(pr.input_per_mtok > 0);
        assert_true(pr.output_per_mtok > pr.input_per_mtok);
        assert_true(pr.has_cached_input);
        assert_true(pr.cached_input_per_mtok < pr.input_per_mtok);
    }
    assert_true(llm_pricing_count(p) >= sizeof(models) / sizeof(models[0]));

    struct llm_price g = must_find(p, "gpt-4o");
    assert_true(g.input_per_mtok == 2.50 && g.output_per_mtok == 10.00 &&
                g.cached_input_per_mtok == 1.25);
    assert_false(g.has_cache_write); /* OpenAI does not bill cache writes */
    struct llm_price c = must_find(p, "claude-sonnet-4-5");
    assert_true(c.input_per_mtok == 3.0 && c.output_per_mtok == 15.0 &&
                c.cached_input_per_mtok == 0.30 && c.cache_write_per_mtok == 3.75);
    assert_true(c.has_cache_write);
    assert_string_equal(LLM_PRICING_DATE, "2026-11-05");
    llm_pricing_free(p);
}

static void lookup_strips_dated_snapshots_and_latest_to_the_base_model(void **state)
{
    (void)state;
    struct llm_pricing *p = builtin();
    struct llm_price base = must_find(p, "gpt-4o");
    struct llm_price dated = must_find(p, "gpt-4o-2024-08-06");
    assert_memory_equal(&base, &dated, sizeof(base));

    struct llm_price mini = must_find(p, "gpt-4o-mini-2024-07-18");
    assert_true(mini.input_per_mtok == 0.15); /* its own base, not gpt-4o's */

    struct llm_price h = must_find(p, "claude-3-5-haiku-20241022");
    assert_true(h.input_per_mtok == 0.80 && h.cache_write_per_mtok == 1.00);
    struct llm_price s45 = must_find(p, "claude-sonnet-4-5-20250929");
    assert_true(s45.input_per_mtok == 3.0);
    struct llm_price s37 = must_find(p, "claude-3-7-sonnet-latest");
    assert_true(s37.output_per_mtok == 15.0);
    struct llm_price vertex = must_find(p, "claude-opus-4-1@20250805");
    assert_true(vertex.input_per_mtok == 15.0);
    /* Case does not matter. */
    struct llm_price upper = must_find(p, "GPT-4o");
    assert_true(upper.input_per_mtok == 2.50);
    llm_pricing_free(p);
}

static void lookup_prefers_an_exact_snapshot_entry_over_its_base(void **state)
{
    (void)state;
    struct llm_pricing *p = builtin();
    struct llm_price first = must_find(p, "gpt-4o-2024-05-13");
    assert_true(first.input_per_mtok == 5.00 && first.output_per_mtok == 15.00);
    llm_pricing_free(p);
}

static void lookup_strips_provider_prefixes(void **state)
{
    (void)state;
    struct llm_pricing *p = builtin();
    assert_true(must_find(p, "openai/gpt-4o").input_per_mtok == 2.50);
    assert_true(must_find(p, "anthropic/claude-3-5-haiku-20241022").input_per_mtok == 0.80);
    assert_true(must_find(p, "openrouter/openai/gpt-4.1-mini").input_per_mtok == 0.40);
    llm_pricing_free(p);
}

static void lookup_of_an_unknown_model_fails_without_fuzzy_matching(void **state)
{
    (void)state;
    struct llm_pricing *p = builtin();
    assert_unknown(p, "llama-3-70b");
    assert_unknown(p, "gpt-4o-mini-realtime"); /* never borrows gpt-4o-mini's price */
    assert_unknown(p, "gpt-4");
    assert_unknown(p, "");
    assert_unknown(p, "openai/");
    assert_unknown(p, "-latest");
    struct llm_price pr;
    assert_int_equal(llm_pricing_lookup(NULL, "gpt-4o", &pr), LLM_ERR_INVALID_ARGUMENT);
    assert_int_equal(llm_pricing_lookup(p, NULL, &pr), LLM_ERR_INVALID_ARGUMENT);
    assert_int_equal(llm_pricing_lookup(p, "gpt-4o", NULL), LLM_ERR_INVALID_ARGUMENT);
    llm_pricing_free(p);
}

static void an_empty_table_knows_no_model_until_one_is_set(void **state)
{
    (void)state;
    struct llm_pricing *p = NULL;
    assert_int_equal(llm_pricing_new_empty(&p), LLM_OK);
    assert_int_equal(llm_pricing_count(p), 0);
    assert_unknown(p, "gpt-4o");
    struct llm_price mine = {.input_per_mtok = 1, .output_per_mtok = 2};
    assert_int_equal(llm_pricing_set(p, "my-model", &mine), LLM_OK);
    assert_true(must_find(p, "my-model-2026-01-01").output_per_mtok == 2);
    struct llm_price bad = {.input_per_mtok = -1};
    assert_int_equal(llm_pricing_set(p, "x", &bad), LLM_ERR_INVALID_ARGUMENT);
    assert_int_equal(llm_pricing_set(p, "", &mine), LLM_ERR_INVALID_ARGUMENT);
    assert_int_equal(llm_pricing_count(p), 1);
    llm_pricing_free(p);
    llm_pricing_free(NULL);
    assert_int_equal(llm_pricing_new_builtin(NULL), LLM_ERR_INVALID_ARGUMENT);
}

/* ---- cost arithmetic ---------------------------------------------------------------------- */

static void cost_bills_cached_tokens_at_the_cached_rate_exactly(void **state)
{
    (void)state;
    struct llm_pricing *p = builtin();
    struct llm_price g = must_find(p, "gpt-4o"); /* 2.50 / 1.25 cached / 10.00 */
    struct llm_usage u = {.input_tokens = 3000, .cached_input_tokens = 1000,
                          .output_tokens = 500, .reasoning_tokens = 100, .known = true};
    struct llm_cost c;
    llm_cost_compute(&g, &u, &c);
    assert_true(c.known);
    /* 2000 uncached * 2.50 + 1000 cached * 1.25 = 6250 per million. */
    assert_true(c.input_usd == 0.00625);
    assert_true(c.output_usd == 0.005); /* 500 * 10.00 / 1e6; reasoning is inside */
    assert_true(c.total_usd == 0.00625 + 0.005);

    /* Anthropic: cache reads and writes at their own rates. */
    struct llm_price s = must_find(p, "claude-sonnet-4-5"); /* 3 / 0.30 / 3.75 / 15 */
    struct llm_usage a = {.input_tokens = 1000 + 2000 + 4000, .cached_input_tokens = 2000,
                          .cache_write_tokens = 4000, .output_tokens = 200, .known = true};
    llm_cost_compute(&s, &a, &c);
    /* 1000*3 + 2000*0.30 + 4000*3.75 = 3000 + 600 + 15000 = 18600 per million. */
    assert_true(c.input_usd == 0.0186);
    assert_true(c.output_usd == 0.003);
    assert_true(c.known);
    llm_pricing_free(p);
}

static void cost_falls_back_to_the_input_rate_for_unlisted_cache_rates(void **state)
{
    (void)state;
    struct llm_price pr = {.input_per_mtok = 2, .output_per_mtok = 8};
    struct llm_usage u = {.input_tokens = 100, .cached_input_tokens = 40,
                          .cache_write_tokens = 10, .output_tokens = 5, .known = true};
    struct llm_cost c;
    llm_cost_compute(&pr, &u, &c);
    assert_true(c.input_usd == 100 * 2 / 1e6);
    assert_true(c.output_usd == 5 * 8 / 1e6);
}

static void cost_never_bills_negative_uncached_tokens(void **state)
{
    (void)state;
    struct llm_price pr = {.input_per_mtok = 1, .output_per_mtok = 1,
                           .cached_input_per_mtok = 0.5, .has_cached_input = true};
    /* A provider reporting more cached than input tokens. */
    struct llm_usage u = {.input_tokens = 10, .cached_input_tokens = 30, .output_tokens = -4,
                          .known = true};
    struct llm_cost c;
    llm_cost_compute(&pr, &u, &c);
    assert_true(c.input_usd == 30 * 0.5 / 1e6);
    assert_true(c.output_usd == 0);
    assert_true(c.known);
}

static void cost_of_an_unknown_price_or_usage_is_unknown_not_zero(void **state)
{
    (void)state;
    struct llm_usage u = {.input_tokens = 10, .output_tokens = 10, .known = true};
    struct llm_cost c;
    memset(&c, 0xAB, sizeof(c));
    llm_cost_compute(NULL, &u, &c);
    assert_false(c.known);
    assert_true(c.input_usd == 0 && c.output_usd == 0 && c.total_usd == 0);

    struct llm_price pr = {.input_per_mtok = 1, .output_per_mtok = 1};
    struct llm_usage unknown = {.input_tokens = 10, .known = false};
    memset(&c, 0xAB, sizeof(c));
    llm_cost_compute(&pr, &unknown, &c);
    assert_false(c.known);
    assert_true(c.total_usd == 0);
    llm_cost_compute(&pr, NULL, &c);
    assert_false(c.known);
}

/* ---- LiteLLM files ------------------------------------------------------------------------ */

static const char good_litellm[] =
    "{\n"
    "  \"sample_spec\": {\"input_cost_per_token\": \"per token\", \"max_tokens\": \"x\"},\n"
    "  \"acme-large\": {\"input_cost_per_token\": 2.5e-06, \"output_cost_per_token\": 1e-05,\n"
    "      \"cache_read_input_token_cost\": 1.25e-06, \"litellm_provider\": \"acme\",\n"
    "      \"mode\": \"chat\", \"supports_vision\": true, \"max_tokens\": 4096},\n"
    "  \"acme-embed\": {\"input_cost_per_token\": 1.3e-07, \"mode\": \"embedding\"},\n"
    "  \"acme-image\": {\"output_cost_per_image\": 0.04, \"mode\": \"image_generation\"},\n"
    "  \"acme-cached\": {\"input_cost_per_token\": 3e-06, \"output_cost_per_token\": 1.5e-05,\n"
    "      \"cache_read_input_token_cost\": 3e-07, \"cache_creation_input_token_cost\": 3.75e-06,\n"
    "      \"cache_creation_input_token_cost_above_1hr\": 6e-06},\n"
    "  \"acme-nulls\": {\"input_cost_per_token\": 1e-06, \"output_cost_per_token\": null}\n"
    "}\n";

static void litellm_file_loads_token_prices_and_ignores_the_rest(void **state)
{
    (void)state;
    char *path = temp_file(good_litellm);
    struct llm_pricing *p = NULL;
    assert_int_equal(llm_pricing_new_empty(&p), LLM_OK);
    char err[256] = "untouched";
    assert_int_equal(llm_pricing_load_litellm_file(p, path, err, sizeof(err)), LLM_OK);
    assert_string_equal(err, "");
    assert_int_equal(llm_pricing_count(p), 4); /* large, embed, cached, nulls */

    struct llm_price l = must_find(p, "acme-large");
    assert_true(l.input_per_mtok == 2.5); /* rounded: no binary noise */
    assert_true(l.output_per_mtok == 10.0);
    assert_true(l.has_cached_input && l.cached_input_per_mtok == 1.25);
    assert_false(l.has_cache_write);
    struct llm_price e = must_find(p, "acme-embed");
    assert_true(e.input_per_mtok == 0.13 && e.output_per_mtok == 0);
    struct llm_price c = must_find(p, "acme-cached-20260101");
    assert_true(c.cache_write_per_mtok == 3.75 && c.has_cache_write);
    assert_true(must_find(p, "acme-nulls").output_per_mtok == 0);
    assert_unknown(p, "acme-image");
    assert_unknown(p, "sample_spec");
    llm_pricing_free(p);
    unlink(path);
    free(path);
}

static void litellm_entries_override_builtin_prices_of_the_same_name(void **state)
{
    (void)state;
    struct llm_pricing *p = builtin();
    size_t before = llm_pricing_count(p);
    static const char doc[] =
        "{\"gpt-4o\": {\"input_cost_per_token\": 1e-06, \"output_cost_per_token\": 2e-06},"
        " \"GPT-4O-MINI\": {\"input_cost_per_token\": 5e-07, \"output_cost_per_token\": 1e-06},"
        " \"brand-new\": {\"input_cost_per_token\": 4e-06, \"output_cost_per_token\": 8e-06},"
        " \"brand-new\": {\"input_cost_per_token\": 5e-06, \"output_cost_per_token\": 9e-06}}";
    char err[256];
    assert_int_equal(llm_pricing_load_litellm_json(p, doc, strlen(doc), err, sizeof(err)),
                     LLM_OK);
    assert_int_equal(llm_pricing_count(p), before + 1);
    struct llm_price g = must_find(p, "gpt-4o-2024-08-06");
    assert_true(g.input_per_mtok == 1.0 && g.output_per_mtok == 2.0);
    assert_false(g.has_cached_input); /* the file's entry replaces the whole price */
    assert_true(must_find(p, "gpt-4o-mini").input_per_mtok == 0.5);
    assert_true(must_find(p, "brand-new").input_per_mtok == 5.0); /* later duplicate wins */
    assert_true(must_find(p, "claude-opus-4").input_per_mtok == 15.0); /* untouched */
    llm_pricing_free(p);
}

/* Loads `doc`, expects `want`, an error message containing `needle`, and
 * the table unchanged (including "gpt-x", named in every bad document). */
static void expect_rejected(const char *doc, enum llm_error want, const char *needle)
{
    struct llm_pricing *p = builtin();
    size_t before = llm_pricing_count(p);
    struct llm_price g_before = must_find(p, "gpt-4o");
    char err[256] = "";
    assert_int_equal(llm_pricing_load_litellm_json(p, doc, strlen(doc), err, sizeof(err)), want);
    if (strstr(err, needle) == NULL)
        fail_msg("error '%s' does not mention '%s'", err, needle);
    assert_int_equal(llm_pricing_count(p), before);
    assert_unknown(p, "gpt-x");
    assert_unknown(p, "good-one");
    struct llm_price g_after = must_find(p, "gpt-4o");
    assert_memory_equal(&g_before, &g_after, sizeof(g_before));
    llm_pricing_free(p);
}

static void litellm_document_that_is_not_json_is_rejected_whole(void **state)
{
    (void)state;
    expect_rejected("{\"gpt-x\": {\"input_cost_per_token\": 1e-06,\n oops}", LLM_ERR_PARSE,
                    "not valid JSON at line 2");
    expect_rejected("", LLM_ERR_PARSE, "empty document");
    expect_rejected("{\"gpt-x\": {\"input_cost_per_token\": 1e-06}} trailing", LLM_ERR_PARSE,
                    "unexpected data");
}

static void litellm_document_that_is_not_an_object_is_rejected(void **state)
{
    (void)state;
    expect_rejected("[{\"gpt-x\": {\"input_cost_per_token\": 1e-06}}]", LLM_ERR_PARSE,
                    "top level is not an object");
    expect_rejected("{\"good-one\": {\"input_cost_per_token\": 1e-06}, \"gpt-x\": 42}",
                    LLM_ERR_PARSE, "entry 'gpt-x': not an object");
}

static void litellm_cost_that_is_a_string_names_the_entry_and_field(void **state)
{
    (void)state;
    expect_rejected("{\"good-one\": {\"input_cost_per_token\": 1e-06},"
                    " \"gpt-x\": {\"input_cost_per_token\": \"0.000001\"}}",
                    LLM_ERR_PARSE, "entry 'gpt-x': input_cost_per_token is not a number");
    expect_rejected("{\"gpt-x\": {\"input_cost_per_token\": 1e-06,"
                    " \"cache_read_input_token_cost\": true}}",
                    LLM_ERR_PARSE, "entry 'gpt-x': cache_read_input_token_cost is not a number");
}

static void litellm_negative_or_infinite_cost_is_rejected(void **state)
{
    (void)state;
    expect_rejected("{\"good-one\": {\"input_cost_per_token\": 1e-06},"
                    " \"gpt-x\": {\"input_cost_per_token\": 1e-06, \"output_cost_per_token\": -2e-06}}",
                    LLM_ERR_PARSE, "entry 'gpt-x': output_cost_per_token is negative");
    expect_rejected("{\"gpt-x\": {\"input_cost_per_token\": 1e999}}", LLM_ERR_PARSE,
                    "entry 'gpt-x': input_cost_per_token is not finite");
}

static void litellm_absurd_cost_is_rejected_naming_the_entry(void **state)
{
    (void)state;
    /* 1e305 per token is finite but 1e311 per million is not: before, it
     * loaded and every cost came out infinite (null, with known:true). */
    expect_rejected("{\"good-one\": {\"input_cost_per_token\": 1e-06},"
                    " \"gpt-x\": {\"input_cost_per_token\": 1e305}}",
                    LLM_ERR_PARSE, "entry 'gpt-x': input_cost_per_token is absurd");
    expect_rejected("{\"gpt-x\": {\"input_cost_per_token\": 1e-06,"
                    " \"cache_creation_input_token_cost\": 2.5}}",
                    LLM_ERR_PARSE, "entry 'gpt-x': cache_creation_input_token_cost is absurd");
    /* The limit itself (1 USD per token) still loads, and prices finitely. */
    struct llm_pricing *p = builtin();
    char err[256] = "";
    const char *ok = "{\"dear\": {\"input_cost_per_token\": 1, \"output_cost_per_token\": 1}}";
    assert_int_equal(llm_pricing_load_litellm_json(p, ok, strlen(ok), err, sizeof(err)), LLM_OK);
    struct llm_price pr;
    assert_int_equal(llm_pricing_lookup(p, "dear", &pr), LLM_OK);
    struct llm_usage u = {.known = true, .input_tokens = INT64_MAX, .output_tokens = INT64_MAX};
    struct llm_cost c;
    llm_cost_compute(&pr, &u, &c);
    assert_true(c.known && isfinite(c.total_usd));
    /* The API setter holds the same line. */
    struct llm_price absurd = {.input_per_mtok = 2e6, .output_per_mtok = 1};
    assert_int_equal(llm_pricing_set(p, "x", &absurd), LLM_ERR_INVALID_ARGUMENT);
    llm_pricing_free(p);
}

static void litellm_file_that_is_missing_or_too_large_is_reported_with_its_path(void **state)
{
    (void)state;
    struct llm_pricing *p = builtin();
    char err[256];
    assert_int_equal(llm_pricing_load_litellm_file(p, "/nonexistent/prices.json", err,
                                                   sizeof(err)),
                     LLM_ERR_NOT_FOUND);
    assert_non_null(strstr(err, "/nonexistent/prices.json"));
    assert_int_equal(llm_pricing_load_litellm_file(p, "/tmp", err, sizeof(err)),
                     LLM_ERR_NOT_FOUND);

    /* A sparse file one byte over the bound: refused before reading. */
    char *path = temp_file("");
    assert_int_equal(truncate(path, (off_t)LLM_PRICING_MAX_FILE_BYTES + 1), 0);
    assert_int_equal(llm_pricing_load_litellm_file(p, path, err, sizeof(err)),
                     LLM_ERR_RESPONSE_TOO_LARGE);
    assert_non_null(strstr(err, "larger than"));
    unlink(path);
    free(path);

    /* A malformed file: the message names the file and the entry. */
    path = temp_file("{\"gpt-x\": {\"input_cost_per_token\": \"cheap\"}}");
    assert_int_equal(llm_pricing_load_litellm_file(p, path, err, sizeof(err)), LLM_ERR_PARSE);
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "entry 'gpt-x': input_cost_per_token is not a number"));
    assert_unknown(p, "gpt-x");
    unlink(path);
    free(path);

    /* errlen 0 and a NULL buffer are fine. */
    assert_int_equal(llm_pricing_load_litellm_json(p, "[]", 2, NULL, 0), LLM_ERR_PARSE);
    assert_int_equal(llm_pricing_load_litellm_json(NULL, "{}", 2, err, sizeof(err)),
                     LLM_ERR_INVALID_ARGUMENT);
    llm_pricing_free(p);
}

static void litellm_model_names_in_messages_are_made_printable(void **state)
{
    (void)state;
    struct llm_pricing *p = builtin();
    char err[256];
    static const char doc[] = "{\"bad\\u0001\\nname\": {\"input_cost_per_token\": \"x\"}}";
    assert_int_equal(llm_pricing_load_litellm_json(p, doc, strlen(doc), err, sizeof(err)),
                     LLM_ERR_PARSE);
    for (const char *c = err; *c != '\0'; c++)
        assert_true((unsigned char)*c >= 0x20);
    llm_pricing_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(builtin_table_prices_current_openai_and_anthropic_models),
        cmocka_unit_test(lookup_strips_dated_snapshots_and_latest_to_the_base_model),
        cmocka_unit_test(lookup_prefers_an_exact_snapshot_entry_over_its_base),
        cmocka_unit_test(lookup_strips_provider_prefixes),
        cmocka_unit_test(lookup_of_an_unknown_model_fails_without_fuzzy_matching),
        cmocka_unit_test(an_empty_table_knows_no_model_until_one_is_set),
        cmocka_unit_test(cost_bills_cached_tokens_at_the_cached_rate_exactly),
        cmocka_unit_test(cost_falls_back_to_the_input_rate_for_unlisted_cache_rates),
        cmocka_unit_test(cost_never_bills_negative_uncached_tokens),
        cmocka_unit_test(cost_of_an_unknown_price_or_usage_is_unknown_not_zero),
        cmocka_unit_test(litellm_file_loads_token_prices_and_ignores_the_rest),
        cmocka_unit_test(litellm_entries_override_builtin_prices_of_the_same_name),
        cmocka_unit_test(litellm_document_that_is_not_json_is_rejected_whole),
        cmocka_unit_test(litellm_document_that_is_not_an_object_is_rejected),
        cmocka_unit_test(litellm_cost_that_is_a_string_names_the_entry_and_field),
        cmocka_unit_test(litellm_negative_or_infinite_cost_is_rejected),
        cmocka_unit_test(litellm_absurd_cost_is_rejected_naming_the_entry),
        cmocka_unit_test(litellm_file_that_is_missing_or_too_large_is_reported_with_its_path),
        cmocka_unit_test(litellm_model_names_in_messages_are_made_printable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
