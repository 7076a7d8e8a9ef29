/* Backoff strategies: how long to wait before the next retry, or stop.
 *
 * A backoff is small and pure: it never sleeps, starts no thread and does no
 * I/O; randomness is injected by the caller (`rand_fn`), so tests script it.
 * The built-in strategies are immutable after creation, so one instance may
 * be shared by every request of an engine and called from any thread; the
 * engine calls it from its event-loop thread.
 *
 * Jitter definitions follow the AWS Architecture Blog, "Exponential Backoff
 * and Jitter" (Marc Brooker, 2015), with retry numbers counted from 1:
 *   ceiling(n)   = min(cap, base * 2^(n-1))
 *   none:          ceiling(n)
 *   full:          random_between(0, ceiling(n))
 *   decorrelated:  min(cap, random_between(base, prev * 3)), prev = base for
 *                  the first retry
 * random_between(lo, hi) is uniform over the integers lo..hi inclusive. */
#ifndef LLMORCH_EXT_BACKOFF_H
#define LLMORCH_EXT_BACKOFF_H

#include "../common.h"
#include "../error.h"

LLM_BEGIN_DECLS

/* A backoff strategy.  Opaque: create with a factory (or llm_backoff_new()
 * for your own), free with llm_backoff_free() unless ownership was
 * transferred to an engine. */
struct llm_backoff;

/* Source of randomness: a uniformly distributed 64-bit value per call.
 * `user` is the pointer passed alongside it.  Called synchronously, zero or
 * more times per llm_backoff_next_delay_ms() call. */
typedef uint64_t llm_rand_fn(void *user);

struct llm_backoff_vtable {
    /* The delay in ms (>= 0) before retry number `attempt` (1 = the first
     * retry), given the delay this strategy chose for the previous retry
     * (`prev_delay_ms`, 0 before the first), or -1 to stop retrying.
     * `rand_fn` MAY be NULL, in which case the strategy MUST be
     * deterministic.  MUST NOT overflow for any `attempt`. */
    int64_t (*next_delay_ms)(const void *impl, unsigned attempt, int64_t prev_delay_ms,
                             llm_rand_fn *rand_fn, void *rand_user);

    /* Optional.  Free `impl`.  Called once, by llm_backoff_free(). */
    void (*destroy)(void *impl);
};

/* Wrap your own strategy.  `vt` is copied; `vt->next_delay_ms` MUST be set.
 * `name` is copied; NULL gives "backoff".  Ownership of `impl` passes on
 * LLM_OK only.  Returns LLM_OK, LLM_ERR_INVALID_ARGUMENT or
 * LLM_ERR_OUT_OF_MEMORY (then *out is NULL).  Any thread. */
LLM_API enum llm_error llm_backoff_new(const struct llm_backoff_vtable *vt, void *impl,
                                       const char *name, struct llm_backoff **out);

/* Jitter mode of the exponential backoff.  Zero is the default, FULL. */
enum llm_jitter {
    LLM_JITTER_FULL = 0,         /* uniform in [0, ceiling(n)] (default) */
    LLM_JITTER_NONE = 1,         /* exactly ceiling(n) */
    LLM_JITTER_DECORRELATED = 2  /* min(cap, uniform in [base, 3 * prev]) */
};

/* Options of the exponential backoff.  Zero means default. */
struct llm_backoff_options {
    int64_t base_ms;             /* first retry's ceiling; default 500 */
    int64_t cap_ms;              /* largest delay; default 30000; >= base_ms */
    enum llm_jitter jitter;      /* default LLM_JITTER_FULL */
    /* Stop (return -1) after this many retries; default 0 = never stop:
     * the retry policy's max_attempts decides how many retries happen. */
    unsigned max_retries;
};

/* Exponential backoff with the chosen jitter (definitions above).  Delays
 * never exceed cap_ms and retry numbers of any size are safe (the ceiling
 * saturates at cap_ms instead of overflowing).  With a NULL `rand_fn`, FULL
 * and DECORRELATED return their upper bound (ceiling(n), resp.
 * min(cap, 3 * prev)): deterministic and never shorter than intended.
 * Random integers are drawn as rand_fn() % (hi - lo + 1) (one call per
 * delay; the modulo bias is below 2^-32 for ranges under 2^32 ms).
 * base_ms and cap_ms above 2^53 ms (285 000 years) count as 2^53.
 * Returns LLM_OK and sets *out, or LLM_ERR_INVALID_ARGUMENT (NULL `out`,
 * negative values, cap_ms < base_ms, unknown jitter) or
 * LLM_ERR_OUT_OF_MEMORY with *out NULL.  `o` may be NULL (all defaults).
 * Any thread. */
LLM_API enum llm_error llm_backoff_new_exponential(const struct llm_backoff_options *o,
                                                   struct llm_backoff **out);

/* Options of the constant backoff.  Zero means default. */
struct llm_backoff_constant_options {
    int64_t delay_ms;            /* every delay; default 500 */
    unsigned max_retries;        /* default 0 = never stop (see above) */
};

/* The same delay before every retry; no randomness.  Returns as
 * llm_backoff_new_exponential(). */
LLM_API enum llm_error llm_backoff_new_constant(const struct llm_backoff_constant_options *o,
                                                struct llm_backoff **out);

/* The delay before retry number `attempt` (1-based; 0 is taken as 1), or -1
 * to stop.  `prev_delay_ms` is the delay returned for the previous retry (0
 * before the first).  `rand_fn`/`rand_user` as in the vtable.  A NULL
 * backoff returns -1.  Thread-safe for the built-in strategies. */
LLM_API int64_t llm_backoff_next_delay_ms(const struct llm_backoff *b, unsigned attempt,
                                          int64_t prev_delay_ms, llm_rand_fn *rand_fn,
                                          void *rand_user);

/* The name given at creation ("exponential", "constant", or the custom
 * name); borrowed, valid until the backoff is freed. */
LLM_API const char *llm_backoff_name(const struct llm_backoff *b);

/* Free a backoff.  NULL-safe. */
LLM_API void llm_backoff_free(struct llm_backoff *b);

LLM_END_DECLS

#endif /* LLMORCH_EXT_BACKOFF_H */
