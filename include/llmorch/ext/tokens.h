/* Token estimates for admission control.
 *
 * A TPM gate must charge a request before the provider has counted it, so
 * the engine estimates its tokens up front and corrects the gate when the
 * response's usage arrives (llm_gate_adjust()).  The estimator is
 * pluggable: the built-in heuristic needs no tokenizer tables; a host with a
 * real tokenizer can supply its own function. */
#ifndef LLMORCH_EXT_TOKENS_H
#define LLMORCH_EXT_TOKENS_H

#include "../common.h"
#include "../request.h"

LLM_BEGIN_DECLS

/* A token estimator: the number of tokens (>= 0) the provider will count
 * against its token rate limit for `req` (borrowed for the call, already
 * validated).  `user` is the pointer registered with the function.  Called
 * on the engine thread; MUST be pure and fast (no I/O, no blocking). */
typedef int64_t llm_token_estimate_fn(void *user, const struct llm_request *req);

/* Estimate the tokens of `len` bytes of UTF-8 text (not necessarily
 * NUL-terminated; NULL with len 0 gives 0) as OpenAI's cl100k_base /
 * o200k_base tokenizers would count them, without their tables: the text is
 * cut into pieces the way their pre-tokenizer does (words with their leading
 * space, camelCase humps, digit groups of up to 3, punctuation, whitespace
 * runs) and each piece is priced by its class and length: common words
 * one token, long words more, random-looking alphanumerics (base64, keys)
 * one per two characters, CJK characters about one each, Cyrillic or Greek
 * letters about 0.4 each, emoji 2.5.  Invalid UTF-8 costs one token per
 * byte.
 *
 * Accuracy, measured on the 44 hand-written prompts of
 * tests/unit/test_tokens.c (English prose, dialogue, long words, legal text,
 * lists, e-mail, chat slang; C, Python, JavaScript, Rust, Go, SQL, shell,
 * YAML, HTML, a stack trace; JSON compact, pretty and a tool schema; CSV,
 * logs, URLs, base64, hex ids, LaTeX, Markdown; Chinese, Japanese, Korean,
 * Russian, Arabic, German, French, Spanish; emoji; whitespace runs), 30 to
 * 440 bytes each, against exact counts from js-tiktoken 1.0.21:
 *   vs cl100k_base: mean |error| 7.0%, worst -31% (German compounds) and
 *                   +32% (rare long English words), total over the sample
 *                   -2.9%;
 *   vs o200k_base:  mean |error| 11.7%, worst -18% and +82% (o200k needs
 *                   about half the tokens for Cyrillic, Arabic and Korean),
 *                   total +3.2%.
 * The constants were fitted on the first 32 prompts; the last 12 were then
 * measured unseen (cl100k mean |error| 12.0%, worst -51% on Arabic) before
 * the Arabic and punctuation prices were adjusted on all 44.  The unit
 * test holds every sample within -35%..+35% of cl100k_base and
 * -20%..+90% of o200k_base, and the totals within 5% of both.  Anthropic's
 * tokenizer is not public; expect larger errors there.
 * Thread-safe (pure). */
LLM_API int64_t llm_estimate_text_tokens(const char *text, size_t len);

/* The default estimator: what a provider charges against its token limit
 * at admission, i.e. the prompt plus the output reservation.
 *   prompt = 3 (reply priming)
 *          + for the system prompt, if any, and each message:
 *            4 (per-message framing and role) + llm_estimate_text_tokens(content)
 *   total  = prompt + max(req->max_tokens, 0)
 * (OpenAI counts max_tokens against TPM on admission; with max_tokens 0 the
 * output is not reserved and the gate is corrected when usage arrives.)
 * `req` is borrowed; NULL gives 0; NULL contents count as empty.  Never
 * negative; saturates instead of overflowing.  Thread-safe (pure). */
LLM_API int64_t llm_estimate_tokens_default(const struct llm_request *req);

/* llm_estimate_tokens_default() in the shape of llm_token_estimate_fn
 * (`user` is ignored), for registering as an estimator. */
LLM_API int64_t llm_token_estimate_default_fn(void *user, const struct llm_request *req);

LLM_END_DECLS

#endif /* LLMORCH_EXT_TOKENS_H */
