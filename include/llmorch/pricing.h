/* Model prices and the cost of a result.
 *
 * A struct llm_pricing is a table from model name to price.  It starts from
 * the built-in table below or empty, and MAY be extended or overridden from
 * a file in LiteLLM's model_prices_and_context_window.json format.  Prices
 * are in USD per million tokens.
 *
 * Threading: a table is written only while it is being built (new, load,
 * set).  Once built it is read-only: any number of threads MAY call
 * llm_pricing_lookup() on it at once, but no thread may load into or set on
 * a table while another thread reads it. */
#ifndef LLMORCH_PRICING_H
#define LLMORCH_PRICING_H

#include "common.h"
#include "error.h"
#include "result.h"

LLM_BEGIN_DECLS

/* The dates of the built-in price table: its OpenAI and Anthropic rows
 * were checked against those providers' published price lists as of
 * LLM_PRICING_DATE (YYYY-MM-DD); its Gemini (Developer API) and Amazon
 * Bedrock rows were last checked in the month of LLM_PRICING_DATE_GEMINI
 * and LLM_PRICING_DATE_BEDROCK (YYYY-MM: no day was recorded).  Ollama
 * models have no rows (see llm_cost.local).  Providers change prices; load
 * a current LiteLLM file to stay exact. */
#define LLM_PRICING_DATE "2026-11-05"
#define LLM_PRICING_DATE_GEMINI "2025-12"
#define LLM_PRICING_DATE_BEDROCK "2025-12"

/* The price of one model, USD per million tokens.  A rate absent from the
 * provider's list has its has_* flag false; llm_cost_compute() then bills
 * those tokens at the full input rate, so an unknown discount can only
 * over-state a cost, never hide one. */
struct llm_price {
    double input_per_mtok;        /* uncached prompt tokens */
    double output_per_mtok;       /* completion tokens, reasoning included */
    double cached_input_per_mtok; /* prompt tokens read from the cache */
    double cache_write_per_mtok;  /* prompt tokens written to the cache */
    bool has_cached_input;        /* cached_input_per_mtok is set */
    bool has_cache_write;         /* cache_write_per_mtok is set */
};

/* A price table.  Opaque; free with llm_pricing_free(). */
struct llm_pricing;

/* Largest file llm_pricing_load_litellm_file() reads (64 MiB); LiteLLM's
 * own file is under 2 MiB. */
#define LLM_PRICING_MAX_FILE_BYTES ((size_t)64 << 20)

/* A new table holding the built-in prices (OpenAI, Anthropic, Gemini and
 * Bedrock models, dated by the LLM_PRICING_DATE* macros above; sources in
 * src/metrics/pricing.c).  Returns LLM_OK and sets *out, or
 * LLM_ERR_INVALID_ARGUMENT (NULL out) or LLM_ERR_OUT_OF_MEMORY with *out
 * NULL.  Any thread. */
LLM_API enum llm_error llm_pricing_new_builtin(struct llm_pricing **out);

/* A new, empty table: every lookup fails until prices are loaded or set.
 * Returns as llm_pricing_new_builtin(). */
LLM_API enum llm_error llm_pricing_new_empty(struct llm_pricing **out);

/* Merge the prices of a LiteLLM model_prices_and_context_window.json
 * document (`json`, `len` bytes, need not be NUL-terminated) into `p`.
 *
 * The document is a JSON object mapping a model name to an object.  Read
 * from each entry: input_cost_per_token, output_cost_per_token,
 * cache_read_input_token_cost and cache_creation_input_token_cost (USD per
 * token; converted to per million and rounded to 12 significant digits,
 * which removes the binary noise of a decimal such as 2.5e-06).  Every other
 * key is ignored, as is the "sample_spec" entry and any entry without
 * input_cost_per_token (images, audio, rerank: not priced per token).  A
 * missing output_cost_per_token is 0 (embedding models); a missing cache
 * rate leaves the respective has_* flag false.  A key set to null counts as
 * missing.
 *
 * All or nothing: the whole document is checked first and `p` changes only
 * if every entry is valid.  An entry of the same name as one already in `p`
 * (built-in or loaded earlier) replaces it; if the document names a model
 * twice, the later entry wins.
 *
 * Returns LLM_OK; LLM_ERR_PARSE for a malformed document (not JSON, top
 * level not an object, an entry not an object, a cost that is not a
 * number, negative, not finite or absurd (more than 1 USD per token, i.e.
 * 1,000,000 per million: no model costs that; a typo such as 1e305 would
 * make every cost infinite), an empty or over-long (> 256 bytes) model
 * name); LLM_ERR_INVALID_ARGUMENT (NULL p or json); LLM_ERR_OUT_OF_MEMORY.
 * On error `p` is unchanged and, if `err` is non-NULL, a one-line
 * explanation naming the entry and field is written to it (at most errlen
 * bytes including the NUL), e.g.
 *     entry 'gpt-x': input_cost_per_token is not a number
 * Not thread-safe with respect to other calls on `p`. */
LLM_API enum llm_error llm_pricing_load_litellm_json(struct llm_pricing *p, const char *json,
                                                     size_t len, char *err, size_t errlen);

/* As llm_pricing_load_litellm_json(), reading the document from the file at
 * `path`.  Also returns LLM_ERR_NOT_FOUND when the file cannot be opened or
 * read (the message names the path and the system's reason) and
 * LLM_ERR_RESPONSE_TOO_LARGE for a file over LLM_PRICING_MAX_FILE_BYTES.
 * Messages name the path. */
LLM_API enum llm_error llm_pricing_load_litellm_file(struct llm_pricing *p, const char *path,
                                                     char *err, size_t errlen);

/* Add or replace one model's price.  `model` is copied.  Returns LLM_OK,
 * LLM_ERR_INVALID_ARGUMENT (NULL or empty model, NULL price, a negative,
 * non-finite or absurd (> 1,000,000 USD per million tokens) rate) or LLM_ERR_OUT_OF_MEMORY (p unchanged).  Not thread-safe
 * with respect to other calls on `p`. */
LLM_API enum llm_error llm_pricing_set(struct llm_pricing *p, const char *model,
                                       const struct llm_price *price);

/* Find the price of `model` and copy it to *out.  Names compare ASCII
 * case-insensitively.  Tried in order, the first hit wins:
 *   1. the name as given ("gpt-4o-2024-05-13" may have its own price);
 *   2. the name without a trailing "-latest", or without a trailing date
 *      stamp: "-YYYY-MM-DD", "-YYYYMMDD" or "@YYYYMMDD"
 *      ("gpt-4o-2024-08-06" -> "gpt-4o",
 *       "claude-sonnet-4-5-20250929" -> "claude-sonnet-4-5",
 *       "claude-3-7-sonnet-latest" -> "claude-3-7-sonnet");
 *   3. steps 1-2 again on what follows each '/', left to right
 *      ("openai/gpt-4o" -> "gpt-4o", "anthropic/claude-3-5-haiku-20241022"
 *      -> "claude-3-5-haiku").
 * At each candidate, a Bedrock cross-region inference profile's geography
 * ("us.", "eu.", "apac.", "global." ...) is dropped when the name itself
 * has no entry ("us.anthropic.claude-3-5-haiku-20241022-v1:0" ->
 * "anthropic.claude-3-5-haiku-20241022-v1:0"; an inference profile ARN
 * reaches it through step 3).
 * There is deliberately no fuzzy or prefix matching: "gpt-4o-mini" never
 * borrows the price of "gpt-4o".
 * Returns LLM_OK, LLM_ERR_NOT_FOUND (*out zeroed) or
 * LLM_ERR_INVALID_ARGUMENT (NULL argument).  Read-only: thread-safe once the
 * table is built (see above). */
LLM_API enum llm_error llm_pricing_lookup(const struct llm_pricing *p, const char *model,
                                          struct llm_price *out);

/* Number of models in the table; 0 for NULL. */
LLM_API size_t llm_pricing_count(const struct llm_pricing *p);

/* Free a table.  NULL-safe. */
LLM_API void llm_pricing_free(struct llm_pricing *p);

/* The cost of the usage `u` at `price`, into *out:
 *   uncached   = input_tokens - cached_input_tokens - cache_write_tokens
 *                (never below 0)
 *   input_usd  = (uncached * input + cached_input_tokens * cached_input
 *                 + cache_write_tokens * cache_write) / 1e6
 *   output_usd = output_tokens * output / 1e6   (reasoning tokens are part
 *                of output_tokens and billed at the output rate)
 *   total_usd  = input_usd + output_usd
 * where a rate whose has_* flag is false is replaced by the input rate.
 * Negative token counts count as 0.  When the price is unknown (`price`
 * NULL) or the usage is (`u` NULL or u->known false), *out is all zeros with
 * known = false: an unknown cost is never reported as a known $0.
 * `out` MUST NOT be NULL.  Pure; thread-safe. */
LLM_API void llm_cost_compute(const struct llm_price *price, const struct llm_usage *u,
                              struct llm_cost *out);

LLM_END_DECLS

#endif /* LLMORCH_PRICING_H */
